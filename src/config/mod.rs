//! Configuration machinery for the Bento-compatible YAML: the file and where its nodes are
//! ([`YamlFile`]), `${VAR}` interpolation ([`env`]), the [`Problems`] found in it and their
//! `file:line:column`, and the value types fields share ([`Duration`], [`Secret`]). Each
//! component's config struct lives next to the component; the file's top level is the
//! runtime's. This layer imports nothing else of the crate.

pub mod duration;
pub mod env;
mod locate;
mod problems;
mod secret;
mod yaml;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use duration::Duration;
pub use locate::did_you_mean;
pub use problems::{Problem, Problems};
pub use secret::{Secret, REDACTED};
pub use yaml::{read_node, YamlFile};

/// A config problem, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when the place is unknown.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl ConfigError {
    pub fn at(file: &str, line: usize, column: usize, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// All the problems found in one config file.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// For fields written as `drop: {}`, `drop:` or `drop: null`: present means `Some`, read as
/// an empty map when empty (so defaults apply and missing required fields are named).
/// Plain `Option` would read `drop:` as absent.
pub fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    match Option::<T>::deserialize(d)? {
        Some(v) => Ok(Some(v)),
        None => {
            let empty = serde::de::value::MapDeserializer::<_, D::Error>::new(std::iter::empty::<(
                String,
                String,
            )>());
            T::deserialize(empty).map(Some)
        }
    }
}

/// A component's YAML key from its Rust field name (`r#try` is `try`).
pub fn field_name(ident: &'static str) -> &'static str {
    ident.strip_prefix("r#").unwrap_or(ident)
}

/// A component that takes no options (`drop: {}`, `noop: {}`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// Declares a component registry the way Bento writes components in YAML: a map with an
/// optional `label`, optional shared fields (an output's `processors`), and exactly one
/// component key (`input: {kafka: {...}}`). Reading goes through a struct of optional
/// fields, so a misspelled component name is an unknown field with a "did you mean" hint, like
/// any other.
///
/// `struct Name of Kind as Spec`: `Name` holds the label, the shared fields and the chosen
/// `Kind`; `Kind::spec()` hands the component's config to the registry's trait `Spec`, so
/// adding a component is its file and one line here.
#[macro_export]
macro_rules! one_of {
    ($(#[$meta:meta])* $vis:vis struct $name:ident of $kind:ident as $spec:path, via $section:ident = $section_name:literal ($what:literal)
        $(with { $($xf:ident : Vec<$xt:ty>),* $(,)? })?
    {
        $($field:ident => $variant:ident($ty:ty)),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
        #[serde(try_from = $section_name, into = $section_name)]
        $vis struct $name {
            /// Bento's `label`: names the component in logs, and a resource.
            pub label: String,
            $($(pub $xf: Vec<$xt>,)*)?
            pub component: $kind,
        }

        /// Which component, with its config.
        // Built once per config: variant size does not matter, and boxing would only add noise.
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Debug)]
        $vis enum $kind {
            $($variant($ty)),+
        }

        impl $kind {
            /// The component's name as written in YAML.
            pub fn name(&self) -> &'static str {
                match self { $($kind::$variant(_) => $crate::config::field_name(stringify!($field))),+ }
            }

            /// The component's config, as the registry's trait.
            pub fn spec(&self) -> &dyn $spec {
                match self { $($kind::$variant(c) => c),+ }
            }
        }

        #[doc(hidden)]
        #[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
        #[serde(deny_unknown_fields)]
        $vis struct $section {
            #[serde(default, skip_serializing_if = "String::is_empty")]
            label: String,
            $($(
                #[serde(default, skip_serializing_if = "Vec::is_empty")]
                $xf: Vec<$xt>,
            )*)?
            $(
                #[serde(default, deserialize_with = "crate::config::present", skip_serializing_if = "Option::is_none")]
                $field: Option<$ty>,
            )+
        }

        impl TryFrom<$section> for $name {
            type Error = String;
            fn try_from(s: $section) -> Result<$name, String> {
                let mut found: Vec<(&'static str, $kind)> = Vec::new();
                $( if let Some(c) = s.$field { found.push(($crate::config::field_name(stringify!($field)), $kind::$variant(c))); } )+
                let names = [$($crate::config::field_name(stringify!($field))),+].map(|n| format!("`{n}`")).join(", ");
                match found.len() {
                    1 => Ok($name {
                        label: s.label,
                        $($($xf: s.$xf,)*)?
                        component: found.pop().map(|(_, c)| c).expect("one"),
                    }),
                    0 => Err(format!("{}: no component given; use one of {}", $what, names)),
                    _ => Err(format!(
                        "{}: only one component may be given, found {}",
                        $what,
                        found.iter().map(|(n, _)| format!("`{n}`")).collect::<Vec<_>>().join(" and ")
                    )),
                }
            }
        }

        impl From<$name> for $section {
            fn from(c: $name) -> $section {
                let mut s = $section { label: c.label, $($($xf: c.$xf,)*)? ..$section::default() };
                match c.component { $($kind::$variant(v) => s.$field = Some(v)),+ }
                s
            }
        }
    };
}
