//! [`Value`]: the document every pipeline stage shares.
//!
//! A message payload is parsed once ([`super::json_read`], simd-json) into a `Value`; Bloblang
//! mappings read and build `Value`s; an output validates and encodes the final `Value` into
//! JSON bytes once ([`super::json_write`]).
//!
//! `Value::{Null, Bool, Int, Float, RawNumber, Str, Bytes, Array, Object}`: [`Value::RawNumber`]
//! is a number from the input kept with its text (`0.10`), printed as written, as Bento keeps
//! input numbers as Go `json.Number`s.

use std::fmt;

pub use super::map::Map;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A number read from JSON input whose text there differs from how this engine prints
    /// its value (`0.10`, `1e3`, `-0.0`, an integer beyond `i64`). It prints as written
    /// (`.string()`, encoded JSON: billing values are never reformatted), as Bento's
    /// `json.Number` does, and is the number `.0` everywhere else (equality, arithmetic,
    /// comparison, `.number()`, `.type()`).
    RawNumber(f64, Box<str>),
    Str(String),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    Object(Map),
}

impl Value {
    /// Bento's type names, as `.type()` reports them.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::Float(_) | Value::RawNumber(..) => "number",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value of a number (`Int`, `Float` or `RawNumber`).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) | Value::RawNumber(f, _) => Some(*f),
            _ => None,
        }
    }

    /// Every [`Value::RawNumber`] inside, as the plain float it stands for.
    pub fn forget_number_text(&mut self) {
        match self {
            Value::RawNumber(f, _) => *self = Value::Float(*f),
            Value::Array(a) => a.iter_mut().for_each(Value::forget_number_text),
            Value::Object(m) => m.values_mut().for_each(Value::forget_number_text),
            _ => {}
        }
    }

    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// How `.string()` and string interpolation print a value (Bento's `IToString`): strings as
    /// they are, numbers as Go prints them, everything else as compact JSON the way Go's
    /// `json.Marshal` writes it (HTML characters escaped).
    pub fn to_text(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            // `itoa`: no formatting machinery, one exact-size allocation (`.string()` of
            // integer properties is on the seed mapping's hot path).
            Value::Int(i) => itoa::Buffer::new().format(*i).to_owned(),
            Value::Float(f) => super::json_write::format_float_g(*f),
            Value::RawNumber(_, text) => text.to_string(),
            Value::Bool(b) => if *b { "true" } else { "false" }.to_owned(),
            Value::Null => "null".to_owned(),
            other => other.to_json_string_escaped(),
        }
    }
}

impl Value {
    /// How Bento turns a metadata value into a string (`meta("k")`, an output's headers): as
    /// [`Value::to_text`], but objects and arrays without HTML escaping (Bento's message
    /// encoder, not `json.Marshal`).
    pub fn to_meta_text(&self) -> String {
        match self {
            Value::Array(_) | Value::Object(_) => {
                super::json_write::escape_html(&self.to_json_string(), false)
            }
            other => other.to_text(),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json_string())
    }
}
