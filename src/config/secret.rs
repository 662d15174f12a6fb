//! Secrets (`api_key`, SASL passwords): usable by the code, never printed.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string that never shows up in `Debug`, `Display`, logs or `echo` output.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

/// What `echo` prints in place of a secret (Bento prints the same).
pub const REDACTED: &str = "!!!SECRET_SCRUBBED!!!";

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself: only for handing to a client library or an HTTP header.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() {
            s.serialize_str("")
        } else {
            s.serialize_str(REDACTED)
        }
    }
}

/// A secret with a control character in it is a mistake (a line break from a file read into
/// an environment variable, most often): sent as an HTTP header or a SASL credential it would
/// fail every request, or cut the header. Refused when the config is read; the message never
/// quotes the secret.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if let Some(c) = s.chars().find(|c| c.is_control()) {
            let what = match c {
                '\n' => "a line break (\\n)".to_string(),
                '\r' => "a carriage return (\\r)".to_string(),
                '\t' => "a tab".to_string(),
                other => format!("the control character U+{:04X}", other as u32),
            };
            return Err(serde::de::Error::custom(format!(
                "the secret contains {what}; remove it (a trailing newline from a file or `echo` is the usual cause)"
            )));
        }
        Ok(Secret(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_without_quoting_the_secret() {
        for bad in ["key\n", "ke\ry", "a\u{7}b"] {
            let quoted = serde_json::to_string(bad).expect("json");
            let e = serde_yaml_ng::from_str::<Secret>(&quoted).expect_err(bad);
            let msg = e.to_string();
            assert!(msg.contains("the secret contains"), "{msg}");
            assert!(!msg.contains("key") && !msg.contains("ke"), "{msg}");
        }
        assert_eq!(
            serde_yaml_ng::from_str::<Secret>("fp_live_ok")
                .expect("ok")
                .expose(),
            "fp_live_ok"
        );
    }
}
