//! `topics:` parsing. Bento accepts `name` (balanced by the consumer group), `name:3` and
//! `name:0-3` (explicit partitions, consumed without group balancing), and several of them
//! comma-separated in one item.

use std::fmt;

/// What to consume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Topics {
    /// Subscribe as a consumer-group member: the group splits the partitions.
    Balanced(Vec<String>),
    /// Assign exactly these partitions (no group membership; offsets are still committed to
    /// `consumer_group` when one is set).
    Explicit(Vec<(String, i32)>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicsError(pub String);

impl fmt::Display for TopicsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TopicsError {}

/// Upper bound on partitions one range may name: a typo like `t:0-99999999` must not
/// allocate an enormous assignment.
const MAX_RANGE: i32 = 100_000;

/// Parse the `topics` list. Mixing balanced and explicit topics is an error, as in Bento: a
/// consumer is either a group member or it assigns its partitions itself.
pub fn parse(items: &[String]) -> Result<Topics, TopicsError> {
    let mut balanced = Vec::new();
    let mut explicit = Vec::new();
    for item in items {
        for raw in item.split(',') {
            let t = raw.trim();
            if t.is_empty() {
                continue;
            }
            match t.split_once(':') {
                None => balanced.push(t.to_string()),
                Some((name, parts)) => {
                    let name = name.trim();
                    if name.is_empty() {
                        return Err(TopicsError(format!("`{t}`: topic name is empty")));
                    }
                    for p in partitions(t, parts.trim())? {
                        explicit.push((name.to_string(), p));
                    }
                }
            }
        }
    }
    match (balanced.is_empty(), explicit.is_empty()) {
        (true, true) => Err(TopicsError("at least one topic is required".into())),
        (false, true) => {
            balanced.dedup();
            Ok(Topics::Balanced(balanced))
        }
        (true, false) => {
            explicit.sort();
            explicit.dedup();
            Ok(Topics::Explicit(explicit))
        }
        (false, false) => Err(TopicsError(
            "topics with explicit partitions (`name:0`, `name:0-3`) cannot be mixed with balanced topics (`name`)".into(),
        )),
    }
}

fn partitions(item: &str, spec: &str) -> Result<std::ops::RangeInclusive<i32>, TopicsError> {
    let num = |s: &str| {
        s.trim()
            .parse::<i32>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                TopicsError(format!(
                    "`{item}`: `{s}` is not a partition number (expected `name:3` or `name:0-3`)"
                ))
            })
    };
    let (lo, hi) = match spec.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let n = num(spec)?;
            (n, n)
        }
    };
    if lo > hi {
        return Err(TopicsError(format!(
            "`{item}`: range start {lo} is after its end {hi}"
        )));
    }
    if hi - lo >= MAX_RANGE {
        return Err(TopicsError(format!(
            "`{item}`: a range may name at most {MAX_RANGE} partitions"
        )));
    }
    Ok(lo..=hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(items: &[&str]) -> Result<Topics, TopicsError> {
        parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn names_and_comma_separated_items_are_balanced() {
        assert_eq!(
            p(&["a", "b, c", " d "]),
            Ok(Topics::Balanced(vec![
                "a".into(),
                "b".into(),
                "c".into(),
                "d".into()
            ]))
        );
    }

    #[test]
    fn explicit_partitions_and_ranges() {
        assert_eq!(
            p(&["a:2", "b:0-2,a:0"]),
            Ok(Topics::Explicit(vec![
                ("a".into(), 0),
                ("a".into(), 2),
                ("b".into(), 0),
                ("b".into(), 1),
                ("b".into(), 2),
            ]))
        );
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (items, needle) in [
            (&["a:x"][..], "not a partition number"),
            (&["a:-1"][..], "not a partition number"),
            (&["a:3-1"][..], "after its end"),
            (&[":1"][..], "topic name is empty"),
            (&["a", "b:1"][..], "cannot be mixed"),
            (&[" , "][..], "at least one topic"),
            (&["a:0-200000"][..], "at most"),
        ] {
            let e = p(items).expect_err("must be rejected");
            assert!(e.0.contains(needle), "{items:?}: {e}");
        }
    }
}
