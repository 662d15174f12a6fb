//! `${VAR}` and `${VAR:default}` interpolation, done on the config text before YAML parsing.
//!
//! `${!…}` is Bento's per-message interpolation syntax and is left alone, as is anything in a
//! YAML comment (so an example in a comment never demands a variable).

use super::ConfigError;

/// Replace every `${NAME}` / `${NAME:default}` with the environment's value (through `lookup`).
/// Every unset variable without default is reported, with its line and column.
pub fn interpolate(
    file: &str,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Vec<ConfigError>> {
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    for (line_no, line) in text.split_inclusive('\n').enumerate() {
        let comment_at = comment_start(line);
        let mut rest = line;
        let mut col = 0usize;
        while let Some(pos) = rest.find("${") {
            let abs = col + pos;
            if comment_at.is_some_and(|c| abs >= c) {
                break;
            }
            let after = &rest[pos + 2..];
            let Some(end) = after.find('}') else { break };
            let inner = &after[..end];
            out.push_str(&rest[..pos]);
            if inner.starts_with('!') {
                out.push_str(&rest[pos..pos + 3 + end]);
            } else {
                let (name, default) = match inner.split_once(':') {
                    Some((n, d)) => (n, Some(d)),
                    None => (inner, None),
                };
                let valid =
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    out.push_str(&rest[pos..pos + 3 + end]);
                } else {
                    match (lookup(name).filter(|v| !v.is_empty()), default) {
                        (Some(v), _) if v.chars().any(char::is_control) => {
                            // Put into the text as it is, a line break would end the value
                            // there (or start a config line of its own); never quote it.
                            errors.push(ConfigError::at(
                                file,
                                line_no + 1,
                                abs + 1,
                                format!(
                                    "environment variable `{name}` contains a line break or another control character; a value substituted into the config must be one line (a trailing newline from a file or `echo` is the usual cause)"
                                ),
                            ));
                        }
                        (Some(v), _) => out.push_str(&v),
                        (None, Some(d)) => out.push_str(d),
                        (None, None) => errors.push(ConfigError::at(
                            file,
                            line_no + 1,
                            abs + 1,
                            format!(
                                "environment variable `{name}` is not set and `${{{name}}}` has no default (set it, or write `${{{name}:default}}`)"
                            ),
                        )),
                    }
                }
            }
            let consumed = pos + 3 + end;
            rest = &rest[consumed..];
            col += consumed;
        }
        out.push_str(rest);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Byte index where a YAML comment starts on this line, if any (a `#` at the start or after
/// white space, outside quotes).
fn comment_start(line: &str) -> Option<usize> {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single && prev != '\\' => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return Some(i),
            _ => {}
        }
        prev = c;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("localhost:8080".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_values_and_defaults() {
        let t = "a: ${HOST}\nb: ${NOPE:fallback}\nc: ${EMPTY:d}\nd: ${NOPE:}\n";
        assert_eq!(
            interpolate("f", t, &env).unwrap(),
            "a: localhost:8080\nb: fallback\nc: d\nd: \n"
        );
    }

    #[test]
    fn leaves_bento_interpolations_and_comments() {
        let t = "a: '${!json(\"x\")}' # ${UNSET}\n# ${ALSO_UNSET}\n";
        assert_eq!(interpolate("f", t, &env).unwrap(), t);
    }

    #[test]
    fn a_value_with_a_line_break_is_refused_without_quoting_it() {
        let env = |_: &str| Some("sk_live_x\r\n".to_string());
        let errs = interpolate("c.yaml", "x: 1\nkey: ${API_KEY}\n", &env).unwrap_err();
        assert_eq!(errs.len(), 1);
        let msg = errs[0].to_string();
        assert!(
            msg.starts_with("c.yaml:2:6:") && msg.contains("API_KEY"),
            "{msg}"
        );
        assert!(!msg.contains("sk_live"), "{msg}");
    }

    #[test]
    fn unset_without_default_names_the_variable_and_place() {
        let errs = interpolate("c.yaml", "x: 1\nkey: ${API_KEY}\n", &env).unwrap_err();
        assert_eq!(errs.len(), 1);
        let msg = errs[0].to_string();
        assert!(msg.starts_with("c.yaml:2:6:"), "{msg}");
        assert!(msg.contains("API_KEY"), "{msg}");
    }
}
