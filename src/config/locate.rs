//! "Did you mean": the closest known name after an unknown field or component.

/// For "unknown field `x`, expected one of `a`, `b`" (or "unknown variant"), append the closest
/// known name when one is close enough to be a typo.
pub fn did_you_mean(msg: &str) -> String {
    let kind = if msg.contains("unknown field `") {
        "unknown field `"
    } else if msg.contains("unknown variant `") {
        "unknown variant `"
    } else {
        return msg.to_string();
    };
    let Some(start) = msg.find(kind).map(|i| i + kind.len()) else {
        return msg.to_string();
    };
    let Some(len) = msg[start..].find('`') else {
        return msg.to_string();
    };
    let wrong = &msg[start..start + len];
    let expected: Vec<&str> = msg[start + len..].split('`').skip(2).step_by(2).collect();
    let best = expected
        .iter()
        .map(|c| (strsim::damerau_levenshtein(wrong, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min();
    match best {
        Some((_, c)) => format!("{msg}; did you mean `{c}`?"),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let m = did_you_mean("unknown field `adresses`, expected one of `addresses`, `topics`");
        assert!(m.ends_with("did you mean `addresses`?"), "{m}");
        let m = did_you_mean("unknown field `zzzzzz`, expected one of `addresses`, `topics`");
        assert!(!m.contains("did you mean"), "{m}");
    }
}
