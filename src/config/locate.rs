//! Turning YAML/serde errors and dotted config paths into `line:column` and helpful text.

use super::ConfigError;

/// Rewrite a YAML/serde error: keep its place, name the field path, add "did you mean".
pub fn yaml_error(file: &str, text: &str, e: &serde_yaml_ng::Error) -> ConfigError {
    let (line, col) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
    let raw = e.to_string();
    // serde_yaml_ng appends " at line L column C"; we print the place up front instead.
    let msg = match raw.rfind(" at line ") {
        Some(i) => raw[..i].to_string(),
        None => raw,
    };
    let msg = did_you_mean(&msg);
    let _ = text;
    ConfigError::at(file, line, col, msg)
}

/// For "unknown field `x`, expected one of `a`, `b`" (or "unknown variant"), append the closest
/// known name when one is close enough to be a typo.
fn did_you_mean(msg: &str) -> String {
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

/// Find the line and column of a dotted path (`output.flexprice.api_host`, list items as
/// numbers) in block-style YAML. Best effort: `None` when the shape is not recognised.
pub fn path(text: &str, dotted: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0usize; // first line to search
    let mut min_indent = 0usize; // children are indented more than their parent
    let mut found: Option<(usize, usize)> = None;
    let mut segments = dotted.split('.').peekable();
    while let Some(seg) = segments.next() {
        // A flow mapping on the parent's line (`batching: {count: 5}`) holds its children.
        if let Some((i, col)) = found {
            let line = lines[i];
            if line[col..].contains('{') && segments.peek().is_none() {
                let key = format!("{seg}:");
                let p = line[col..].find(&key)?;
                return Some((i + 1, col + p + 1));
            }
        }
        let mut hit = None;
        let mut list_index = 0usize;
        for (i, line) in lines.iter().enumerate().skip(from) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            if found.is_some() && indent < min_indent {
                break;
            }
            if let Ok(n) = seg.parse::<usize>() {
                if trimmed.starts_with("- ") {
                    if list_index == n {
                        hit = Some((i, indent + 2));
                        break;
                    }
                    list_index += 1;
                }
                continue;
            }
            let key_text = trimmed.strip_prefix("- ").unwrap_or(trimmed);
            if key_text.starts_with(&format!("{seg}:")) {
                hit = Some((i, indent + (trimmed.len() - key_text.len())));
                break;
            }
        }
        let (i, col) = hit?;
        found = Some((i, col));
        from = i + 1;
        min_indent = col + 1;
    }
    found.map(|(i, c)| (i + 1, c + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "input:\n  kafka:\n    addresses: [a]\npipeline:\n  processors:\n    - mapping: x\n    - mutation: y\noutput:\n  flexprice:\n    api_host: h\n    batching: {count: 5}\n";

    #[test]
    fn finds_nested_keys_and_list_items() {
        assert_eq!(path(YAML, "output.flexprice.api_host"), Some((10, 5)));
        assert_eq!(path(YAML, "input.kafka.addresses"), Some((3, 5)));
        assert_eq!(path(YAML, "pipeline.processors.1"), Some((7, 7)));
        assert_eq!(
            path(YAML, "output.flexprice.batching.count"),
            Some((11, 16))
        );
        assert_eq!(path(YAML, "output.stdout"), None);
    }

    #[test]
    fn suggests_close_names_only() {
        let m = did_you_mean("unknown field `adresses`, expected one of `addresses`, `topics`");
        assert!(m.ends_with("did you mean `addresses`?"), "{m}");
        let m = did_you_mean("unknown field `zzzzzz`, expected one of `addresses`, `topics`");
        assert!(!m.contains("did you mean"), "{m}");
    }
}
