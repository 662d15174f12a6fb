//! The lists divergences are checked against:
//! - `tests/bloblang/known-differences.md`, the accepted ones: where Benthos v4.60 (what the
//!   check runs against) and Bento 1.12 (what the Flexprice collector pins, and what this
//!   engine follows) disagree, each with where that is documented and why Bento is followed;
//! - `tests/bloblang/open-divergences.md`: where this engine differs from Bento and is not
//!   fixed yet (a bug, or an extension to decide on), so the suite stays green while they are
//!   open; the check prints them every run, and an entry that no longer matches must go.
//!
//! An entry is a `## title` followed by `- key: value` lines:
//! - `case:` a case id, `*` matching any run of characters (`conf/02_core.txt/env*`);
//! - `mapping:` a regular expression (between backticks) found in the mapping's text;
//! - `detail:` a regular expression found in the report (both answers and what differs);
//! - `category:` the divergence categories it covers (default: any);
//! - `source:` a Bento/Benthos source file, docs page or changelog entry (required);
//! - `why:` why (required; may continue on further lines).
//!
//! A divergence is covered by an entry when one of its `case`s or `mapping`s matches (if it
//! has any), its `detail` matches (if it has one), and its category is one of the entry's.

use regex::Regex;

pub struct Entry {
    pub title: String,
    cases: Vec<String>,
    mappings: Vec<Regex>,
    details: Vec<Regex>,
    categories: Vec<String>,
}

impl Entry {
    pub fn covers(&self, id: &str, mapping: &str, category: &str, report: &str) -> bool {
        let located = (self.cases.is_empty() && self.mappings.is_empty())
            || self.cases.iter().any(|g| glob(g, id))
            || self.mappings.iter().any(|r| r.is_match(mapping));
        let detailed = self.details.is_empty() || self.details.iter().any(|r| r.is_match(report));
        located
            && detailed
            && (self.categories.is_empty() || self.categories.iter().any(|c| c == category))
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, s: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = s.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for p in middle {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Parse the file `name`; a malformed entry is an error naming its line.
pub fn parse(name: &str, text: &str, categories: &[&str]) -> Result<Vec<Entry>, String> {
    struct Draft {
        line: usize,
        title: String,
        cases: Vec<String>,
        mappings: Vec<Regex>,
        details: Vec<Regex>,
        categories: Vec<String>,
        sources: usize,
        why: bool,
    }
    let finish = |d: Draft| -> Result<Entry, String> {
        let at = format!("{name} line {} (`{}`)", d.line, d.title);
        if d.cases.is_empty() && d.mappings.is_empty() && d.details.is_empty() {
            return Err(format!(
                "{at}: needs a `- case:`, `- mapping:` or `- detail:` line"
            ));
        }
        if d.sources == 0 || !d.why {
            return Err(format!("{at}: needs `- source:` and `- why:` lines"));
        }
        Ok(Entry {
            title: d.title,
            cases: d.cases,
            mappings: d.mappings,
            details: d.details,
            categories: d.categories,
        })
    };
    let mut entries = Vec::new();
    let mut cur: Option<Draft> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(title) = line.strip_prefix("## ") {
            if let Some(d) = cur.take() {
                entries.push(finish(d)?);
            }
            cur = Some(Draft {
                line: i + 1,
                title: title.trim().to_string(),
                cases: Vec::new(),
                mappings: Vec::new(),
                details: Vec::new(),
                categories: Vec::new(),
                sources: 0,
                why: false,
            });
            continue;
        }
        let Some(d) = cur.as_mut() else { continue };
        let Some((key, value)) = line
            .strip_prefix("- ")
            .and_then(|l| l.split_once(':'))
            .filter(|(k, _)| {
                ["case", "mapping", "detail", "category", "source", "why"].contains(&k.trim())
            })
        else {
            continue;
        };
        let value = value.trim();
        let unticked = value
            .strip_prefix('`')
            .and_then(|v| v.strip_suffix('`'))
            .unwrap_or(value);
        match key.trim() {
            "case" => d.cases.push(unticked.to_string()),
            "mapping" | "detail" => {
                let r = Regex::new(unticked)
                    .map_err(|e| format!("{name} line {}: bad regex: {e}", i + 1))?;
                if key.trim() == "mapping" {
                    d.mappings.push(r);
                } else {
                    d.details.push(r);
                }
            }
            "category" => {
                for c in value.split(',').map(str::trim) {
                    if !categories.contains(&c) {
                        return Err(format!(
                            "{name} line {}: unknown category `{c}` (known: {})",
                            i + 1,
                            categories.join(", ")
                        ));
                    }
                    d.categories.push(c.to_string());
                }
            }
            "source" => d.sources += 1,
            _ => d.why = !value.is_empty(),
        }
    }
    if let Some(d) = cur.take() {
        entries.push(finish(d)?);
    }
    Ok(entries)
}

#[test]
fn globs_match_whole_ids() {
    assert!(glob(
        "conf/02_core.txt/env*",
        "conf/02_core.txt/env() reads"
    ));
    assert!(glob("a*c*e", "abcde"));
    assert!(!glob("a*c*e", "abcdef"));
    assert!(glob("exact", "exact"));
    assert!(!glob("exact", "exactly"));
    assert!(glob("*", ""));
}
