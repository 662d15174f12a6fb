//! Bloblang methods (`.string()`, `.map_each(...)`, ...): the table the parser resolves names
//! against. Implementations live by subject: strings, numbers, collections, time, encoding.

mod collections;
mod encoding;
mod numbers;
mod regex;
mod strings;
mod time;

use super::ast::{Expr, MethodFn};
use super::eval::{kind_with_value, Fail};
use crate::document::Value;

pub struct MethodSpec {
    pub name: &'static str,
    pub params: &'static [&'static str],
    /// How many leading parameters must be given.
    pub required: usize,
    pub f: MethodFn,
}

macro_rules! methods {
    ($($name:literal [$($p:literal),*] $req:literal => $f:path),* $(,)?) => {
        static METHODS: &[MethodSpec] = &[
            $(MethodSpec { name: $name, params: &[$($p),*], required: $req, f: $f }),*
        ];
    };
}

methods! {
    // Conversions
    "string" [] 0 => strings::string,
    "number" ["default"] 0 => numbers::number,
    "int64" [] 0 => numbers::int64,
    "int32" [] 0 => numbers::int64,
    "uint64" [] 0 => numbers::uint64,
    "float64" [] 0 => numbers::float64,
    "float32" [] 0 => numbers::float64,
    "bool" ["default"] 0 => numbers::boolean,
    "type" [] 0 => collections::type_of,
    "not_null" [] 0 => collections::not_null,
    "not_empty" [] 0 => collections::not_empty,
    "bytes" [] 0 => encoding::bytes,
    // Strings
    "uppercase" [] 0 => strings::uppercase,
    "lowercase" [] 0 => strings::lowercase,
    "capitalize" [] 0 => strings::capitalize,
    "trim" ["cutset"] 0 => strings::trim,
    "trim_prefix" ["prefix"] 1 => strings::trim_prefix,
    "trim_suffix" ["suffix"] 1 => strings::trim_suffix,
    "has_prefix" ["value"] 1 => strings::has_prefix,
    "has_suffix" ["value"] 1 => strings::has_suffix,
    "replace_all" ["old", "new"] 2 => strings::replace_all,
    "replace" ["old", "new"] 2 => strings::replace_all,
    "replace_many" ["values"] 1 => strings::replace_many,
    "split" ["delimiter"] 1 => strings::split,
    "quote" [] 0 => strings::quote,
    "unquote" [] 0 => strings::unquote,
    "format" ["..."] 0 => strings::format,
    "index_of" ["value"] 1 => strings::index_of,
    "repeat" ["count"] 1 => strings::repeat,
    "escape_html" [] 0 => strings::escape_html,
    "unescape_html" [] 0 => strings::unescape_html,
    "escape_url_query" [] 0 => strings::escape_url_query,
    // Regular expressions
    "re_match" ["pattern"] 1 => regex::re_match,
    "re_find_all" ["pattern"] 1 => regex::re_find_all,
    "re_find_all_submatch" ["pattern"] 1 => regex::re_find_all_submatch,
    "re_find_object" ["pattern"] 1 => regex::re_find_object,
    "re_find_all_object" ["pattern"] 1 => regex::re_find_all_object,
    "re_replace_all" ["pattern", "value"] 2 => regex::re_replace_all,
    "re_replace" ["pattern", "value"] 2 => regex::re_replace_all,
    // Numbers
    "abs" [] 0 => numbers::abs,
    "ceil" [] 0 => numbers::ceil,
    "floor" [] 0 => numbers::floor,
    "round" [] 0 => numbers::round,
    "max" [] 0 => numbers::max,
    "min" [] 0 => numbers::min,
    "sum" [] 0 => numbers::sum,
    // Collections
    "map_each" ["query"] 1 => collections::map_each,
    "map_each_key" ["query"] 1 => collections::map_each_key,
    "filter" ["test"] 1 => collections::filter,
    "any" ["test"] 1 => collections::any,
    "all" ["test"] 1 => collections::all,
    "fold" ["initial", "query"] 2 => collections::fold,
    "sort" ["compare"] 0 => collections::sort,
    "sort_by" ["query"] 1 => collections::sort_by,
    "keys" [] 0 => collections::keys,
    "values" [] 0 => collections::values,
    "key_values" [] 0 => collections::key_values,
    "length" [] 0 => collections::length,
    "contains" ["value"] 1 => collections::contains,
    "slice" ["low", "high"] 1 => collections::slice,
    "index" ["index"] 1 => collections::index,
    "exists" ["path"] 1 => collections::exists,
    "get" ["path"] 1 => collections::get,
    "join" ["delimiter"] 0 => collections::join,
    "merge" ["with"] 1 => collections::merge,
    "without" ["..."] 0 => collections::without,
    "append" ["..."] 0 => collections::append,
    "concat" ["..."] 0 => collections::concat,
    "unique" ["emit"] 0 => collections::unique,
    "flatten" [] 0 => collections::flatten,
    "reverse" [] 0 => collections::reverse,
    "enumerated" [] 0 => collections::enumerated,
    "from_all" [] 0 => collections::identity,
    "collapse" ["include_empty"] 0 => collections::collapse,
    "explode" ["path"] 1 => collections::explode,
    "assign" ["with"] 1 => collections::assign,
    // Encoding
    "parse_json" ["use_number"] 0 => encoding::parse_json,
    "format_json" ["indent", "no_indent", "escape_html"] 0 => encoding::format_json,
    "encode" ["scheme"] 1 => encoding::encode,
    "decode" ["scheme"] 1 => encoding::decode,
    "hash" ["algorithm", "key", "polynomial"] 1 => encoding::hash,
    // Time (`ts_*`; the `*_timestamp*` names are Bento's deprecated spellings of the same)
    "ts_parse" ["format"] 1 => time::ts_parse,
    "parse_timestamp" ["format"] 1 => time::ts_parse,
    "ts_strptime" ["format"] 1 => time::ts_strptime,
    "parse_timestamp_strptime" ["format"] 1 => time::ts_strptime,
    "ts_format" ["format", "tz"] 0 => time::ts_format,
    "format_timestamp" ["format", "tz"] 0 => time::ts_format,
    "ts_strftime" ["format", "tz"] 1 => time::ts_strftime,
    "format_timestamp_strftime" ["format", "tz"] 1 => time::ts_strftime,
    "ts_tz" ["tz"] 1 => time::ts_tz,
    "ts_round" ["duration"] 1 => time::ts_round,
    "ts_sub" ["t2"] 1 => time::ts_sub,
    "ts_unix" [] 0 => time::ts_unix,
    "ts_unix_milli" [] 0 => time::ts_unix_milli,
    "ts_unix_micro" [] 0 => time::ts_unix_micro,
    "ts_unix_nano" [] 0 => time::ts_unix_nano,
    "format_timestamp_unix" [] 0 => time::ts_unix,
    "format_timestamp_unix_milli" [] 0 => time::ts_unix_milli,
    "format_timestamp_unix_micro" [] 0 => time::ts_unix_micro,
    "format_timestamp_unix_nano" [] 0 => time::ts_unix_nano,
    "ts_add_iso8601" ["duration"] 1 => time::ts_add_iso8601,
    "ts_sub_iso8601" ["duration"] 1 => time::ts_sub_iso8601,
    "parse_duration" [] 0 => time::parse_duration,
    "parse_duration_iso8601" [] 0 => time::parse_duration_iso8601,
}

/// A compile-time step for a method's arguments: checks literal arguments (and may replace
/// them with a compiled form). An error names the argument (by parameter index) and why.
pub type PrepareFn = fn(&mut [Option<Expr>]) -> Result<(), (usize, String)>;

pub fn prepare(name: &str) -> Option<PrepareFn> {
    match name {
        "re_match"
        | "re_find_all"
        | "re_find_all_submatch"
        | "re_find_object"
        | "re_find_all_object"
        | "re_replace_all"
        | "re_replace" => Some(regex::prepare),
        "hash" => Some(encoding::prepare_hash),
        "slice" => Some(collections::prepare_slice),
        "encode" | "decode" => Some(encoding::prepare_scheme),
        "ts_format" | "format_timestamp" | "ts_strftime" | "format_timestamp_strftime" => {
            Some(time::prepare_tz_second)
        }
        "ts_tz" => Some(time::prepare_tz_first),
        "ts_add_iso8601" | "ts_sub_iso8601" => Some(time::prepare_period),
        "ts_sub" => Some(time::prepare_t2),
        _ => None,
    }
}

pub fn lookup(name: &str) -> Option<&'static MethodSpec> {
    METHODS.iter().find(|m| m.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    METHODS
        .iter()
        .map(|m| m.name)
        .chain(["or", "catch", "apply"])
}

/// "expected string value, got number (5)".
fn expected(what: &str, got: &Value) -> Fail {
    Fail::msg(format!(
        "expected {what} value, got {}",
        kind_with_value(got)
    ))
}
