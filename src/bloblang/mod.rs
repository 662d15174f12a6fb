//! The Bloblang mapping language: parser, compiler and evaluator (issue: Bloblang engine).

pub mod value;

pub use value::{Map, Value};
