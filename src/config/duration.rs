//! Go-style durations (`100ms`, `1s`, `1m30s`, `1.5h`), as Bento configs write them.

use std::fmt;
use std::time::Duration as StdDuration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Serialize, Serializer};

/// A duration read from config. An empty string or `0` is zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub StdDuration);

impl Duration {
    pub const fn from_millis(ms: u64) -> Duration {
        Duration(StdDuration::from_millis(ms))
    }
    pub const fn from_secs(s: u64) -> Duration {
        Duration(StdDuration::from_secs(s))
    }
    pub fn get(self) -> StdDuration {
        self.0
    }
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

/// Parse `1h2m3.5s`, `250ms`, `10us`, `0`. Units: ns, us, µs, ms, s, m, h.
pub fn parse(text: &str) -> Result<StdDuration, String> {
    let s = text.trim();
    if s.is_empty() || s == "0" {
        return Ok(StdDuration::ZERO);
    }
    if s.starts_with('-') {
        return Err(format!("invalid duration `{text}`: must not be negative"));
    }
    let bad = || {
        format!("invalid duration `{text}`: expected a number and a unit, e.g. `500ms`, `5s`, `1m30s` (units: ns, us, ms, s, m, h)")
    };
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        rest = &rest[unit_end..];
        total += n * nanos_per;
    }
    Ok(StdDuration::from_nanos(total.round() as u64))
}

/// Render as Go would (`1m30s`, `100ms`, `0s`).
pub fn format(d: StdDuration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        return if ns % 1_000_000 == 0 {
            format!("{}ms", ns / 1_000_000)
        } else if ns % 1_000 == 0 {
            format!("{}us", ns / 1_000)
        } else {
            format!("{ns}ns")
        };
    }
    let mut out = String::new();
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        out += &format!("{h}h");
    }
    if h > 0 || m > 0 {
        out += &format!("{m}m");
    }
    let frac = d.subsec_nanos();
    if frac == 0 {
        out += &format!("{s}s");
    } else {
        let f = format!("{:09}", frac);
        out += &format!("{s}.{}s", f.trim_end_matches('0'));
    }
    out
}

impl<'de> serde::Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as `500ms`, `5s` or `1m30s`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                parse(v).map(Duration).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                if v == 0 {
                    Ok(Duration::default())
                } else {
                    Err(E::custom(format!(
                        "invalid duration `{v}`: a duration needs a unit, e.g. `{v}s` or `{v}ms`"
                    )))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                if v < 0 {
                    return Err(E::custom(format!(
                        "invalid duration `{v}`: must not be negative"
                    )));
                }
                self.visit_u64(v as u64)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Duration, E> {
                Ok(Duration::default())
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(self.0))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        let ms = |m| StdDuration::from_millis(m);
        assert_eq!(parse("100ms"), Ok(ms(100)));
        assert_eq!(parse("1s"), Ok(ms(1000)));
        assert_eq!(parse("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse("1.5h"), Ok(ms(5_400_000)));
        assert_eq!(parse("2h45m"), Ok(ms(9_900_000)));
        assert_eq!(parse("10us"), Ok(StdDuration::from_micros(10)));
        assert_eq!(parse(""), Ok(StdDuration::ZERO));
        assert_eq!(parse("0"), Ok(StdDuration::ZERO));
    }

    #[test]
    fn rejects_bad_durations_with_a_hint() {
        for bad in ["5x", "s", "10", "-1s", "1m30", "fast"] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(StdDuration::from_millis(90_000)), "1m30s");
        assert_eq!(format(StdDuration::from_millis(100)), "100ms");
        assert_eq!(format(StdDuration::from_millis(1500)), "1.5s");
        assert_eq!(format(StdDuration::ZERO), "0s");
        assert_eq!(format(StdDuration::from_secs(3600)), "1h0m0s");
    }
}
