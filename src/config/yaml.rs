//! A config file as the loader sees it: the text after `${VAR}` interpolation, its YAML tree,
//! and where every node of that tree is in the file.
//!
//! Sections are read one at a time ([`YamlFile::read`]), so a file with mistakes in three
//! sections reports all three; every problem is turned into `file:line:column` by the dotted
//! path of the node it is about ([`YamlFile::locate`]). A problem inside a scalar (a Bloblang
//! error in a `mapping: |` block) is placed at its line and column in the file.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde_yaml_ng::Value as Yaml;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::problems::{Problem, Problems};
use super::{env, ConfigError, ConfigErrors};

/// One parsed config file.
pub struct YamlFile {
    /// The name errors give (the path as the user wrote it).
    pub name: String,
    root: Yaml,
    spans: HashMap<String, Span>,
}

/// Where a node is: its key (or list item) and, for scalars, how its text is laid out.
#[derive(Clone, Copy, Debug)]
struct Span {
    /// 1-based line and column of the key (for a map entry) or of the item (for a list item).
    line: usize,
    column: usize,
    value: Option<ScalarAt>,
}

#[derive(Clone, Copy, Debug)]
struct ScalarAt {
    line: usize,
    column: usize,
    style: TScalarStyle,
}

impl YamlFile {
    /// Read, interpolate and parse a config file.
    pub fn load(path: &std::path::Path) -> Result<YamlFile, ConfigErrors> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError::at(
                &name,
                0,
                0,
                format!("cannot read config: {e}"),
            )])
        })?;
        YamlFile::parse(&name, &text, &|k| std::env::var(k).ok())
    }

    /// Parse config text; `name` names it in errors, `lookup` resolves `${VAR}`.
    pub fn parse(
        name: &str,
        text: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<YamlFile, ConfigErrors> {
        let text = env::interpolate(name, text, lookup).map_err(ConfigErrors)?;
        let root: Yaml = serde_yaml_ng::from_str(&text)
            .map_err(|e| ConfigErrors(vec![syntax_error(name, &e)]))?;
        let root = match root {
            Yaml::Null => Yaml::Mapping(Default::default()),
            Yaml::Mapping(m) => Yaml::Mapping(m),
            other => {
                return Err(ConfigErrors(vec![ConfigError::at(
                    name,
                    1,
                    1,
                    format!(
                        "a config is a map of sections (`input:`, `output:`, …), not {}",
                        kind(&other)
                    ),
                )]))
            }
        };
        let spans = Spans::of(&text);
        Ok(YamlFile {
            name: name.to_string(),
            root,
            spans,
        })
    }

    /// The node at a dotted path (`output.flexprice`, `pipeline.processors.2`), if present.
    pub fn get(&self, path: &str) -> Option<&Yaml> {
        let mut node = &self.root;
        if path.is_empty() {
            return Some(node);
        }
        for seg in path.split('.') {
            node = match node {
                Yaml::Mapping(m) => m.get(seg)?,
                Yaml::Sequence(s) => s.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The keys of the map at `path` (empty if it is not a map), in file order.
    pub fn keys(&self, path: &str) -> Vec<String> {
        match self.get(path) {
            Some(Yaml::Mapping(m)) => m
                .keys()
                .map(|k| match k {
                    Yaml::String(s) => s.clone(),
                    other => serde_yaml_ng::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// How many items the list at `path` has (0 if it is not a list).
    pub fn len(&self, path: &str) -> usize {
        match self.get(path) {
            Some(Yaml::Sequence(s)) => s.len(),
            _ => 0,
        }
    }

    /// Read the node at `path` as a `T`. `None` when it is absent; `Some(None)` when it is
    /// there but wrong (the problem, with its path, is in `problems`).
    pub fn read<T: DeserializeOwned>(
        &self,
        path: &str,
        problems: &mut Problems,
    ) -> Option<Option<T>> {
        let node = self.get(path)?;
        Some(read_node(node, path, problems))
    }

    /// Turn a problem into a located error.
    pub fn locate(&self, p: &Problem) -> ConfigError {
        // "unknown field `x`" at `a.x` names its place already.
        let last = p.path.rsplit('.').next().unwrap_or_default();
        let shown = if p.path.is_empty() || unknown_field(&p.message) == Some(last) {
            p.message.clone()
        } else {
            format!("{}: {}", p.path, p.message)
        };
        let (line, column) = match (self.find(&p.path), p.inner) {
            (Some(span), Some(inner)) => match span.value {
                Some(v) => self.inside(v, inner),
                None => (span.line, span.column),
            },
            (Some(span), None) => (span.line, span.column),
            (None, _) => (0, 0),
        };
        ConfigError::at(&self.name, line, column, shown)
    }

    /// Every problem, located, in file order.
    pub fn errors(&self, problems: Problems) -> ConfigErrors {
        let mut errs: Vec<ConfigError> = problems.into_iter().map(|p| self.locate(&p)).collect();
        // Stable: problems at the same place keep the order they were found in.
        errs.sort_by_key(|e| (e.line == 0, e.line, e.column));
        ConfigErrors(errs)
    }

    /// The span of a path, or of its nearest ancestor that has one.
    fn find(&self, path: &str) -> Option<Span> {
        let mut p = path;
        loop {
            if let Some(s) = self.spans.get(p) {
                return Some(*s);
            }
            p = &p[..p.rfind('.')?];
        }
    }

    /// The file position of (line, column) inside a scalar's text.
    fn inside(&self, v: ScalarAt, (line, column): (usize, usize)) -> (usize, usize) {
        match v.style {
            // The parser places a block scalar at its first line of text, at the indentation.
            // (A folded block's lines are joined; its positions are those of the literal.)
            TScalarStyle::Literal | TScalarStyle::Folded => {
                (v.line + line - 1, v.column + column - 1)
            }
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
                if line == 1 {
                    (v.line, v.column + column)
                } else {
                    (v.line + line - 1, column)
                }
            }
            TScalarStyle::Plain => {
                if line == 1 {
                    (v.line, v.column + column - 1)
                } else {
                    (v.line + line - 1, column)
                }
            }
        }
    }
}

/// Deserialize one node, reporting a failure at the path of the field it is about.
pub fn read_node<T: DeserializeOwned>(
    node: &Yaml,
    path: &str,
    problems: &mut Problems,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(node.clone()) {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = e.path().to_string();
            let mut at = join(path, if inner == "." { "" } else { &inner });
            let message = super::locate::did_you_mean(&e.inner().to_string());
            // An unknown field is about the key itself, one level below where serde was.
            if let Some(field) = unknown_field(&message) {
                if !at.ends_with(&format!(".{field}")) {
                    at = join(&at, field);
                }
            }
            problems.add(at, message);
            None
        }
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (_, true) => a.to_string(),
        (true, false) => b.to_string(),
        (false, false) => format!("{a}.{b}"),
    }
}

fn unknown_field(msg: &str) -> Option<&str> {
    let start = msg.find("unknown field `")? + "unknown field `".len();
    let len = msg[start..].find('`')?;
    Some(&msg[start..start + len])
}

fn kind(v: &Yaml) -> &'static str {
    match v {
        Yaml::Null => "empty",
        Yaml::Bool(_) => "a boolean",
        Yaml::Number(_) => "a number",
        Yaml::String(_) => "a string",
        Yaml::Sequence(_) => "a list",
        Yaml::Mapping(_) => "a map",
        Yaml::Tagged(_) => "a tagged value",
    }
}

/// A YAML syntax error, at its place.
fn syntax_error(file: &str, e: &serde_yaml_ng::Error) -> ConfigError {
    let (line, col) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
    let raw = e.to_string();
    // serde_yaml_ng appends " at line L column C"; we print the place up front instead.
    let msg = match raw.rfind(" at line ") {
        Some(i) => raw[..i].to_string(),
        None => raw,
    };
    ConfigError::at(file, line, col, msg)
}

/// Builds the path → span index from the parser's marked events.
struct Spans {
    spans: HashMap<String, Span>,
    stack: Vec<Frame>,
}

enum Frame {
    /// A map: the path of the map, and the key just read (waiting for its value).
    /// `unplaced`: the map is a list item whose place is its first key's (the parser marks a
    /// block map's start after that key).
    Map {
        path: String,
        key: Option<(String, Marker)>,
        unplaced: bool,
    },
    /// A list: its path and the index of the next item.
    List { path: String, next: usize },
}

impl Spans {
    fn of(text: &str) -> HashMap<String, Span> {
        let mut s = Spans {
            spans: HashMap::new(),
            stack: Vec::new(),
        };
        // The text already parsed as YAML above; a disagreement only costs positions.
        let _ = Parser::new_from_str(text).load(&mut s, false);
        s.spans
    }

    /// The path of the node that starts now, with the mark of its key (map entry) or item.
    fn place(&mut self, mark: Marker) -> Option<(String, Marker)> {
        match self.stack.last_mut()? {
            Frame::Map { path, key, .. } => {
                let (k, at) = key.take()?;
                Some((join(path, &k), at))
            }
            Frame::List { path, next } => {
                let p = join(path, &next.to_string());
                *next += 1;
                Some((p, mark))
            }
        }
    }

    fn record(&mut self, path: &str, at: Marker, value: Option<ScalarAt>) {
        // The parser's columns count from 0.
        self.spans.entry(path.to_string()).or_insert(Span {
            line: at.line(),
            column: at.col() + 1,
            value,
        });
    }
}

impl MarkedEventReceiver for Spans {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(text, style, ..) => {
                // A scalar in key position is the key of the next value.
                if let Some(Frame::Map {
                    key,
                    unplaced,
                    path,
                }) = self.stack.last_mut()
                {
                    if key.is_none() {
                        *key = Some((text, mark));
                        if std::mem::take(unplaced) {
                            let path = path.clone();
                            self.record(&path, mark, None);
                        }
                        return;
                    }
                }
                if let Some((path, at)) = self.place(mark) {
                    let value = ScalarAt {
                        line: mark.line(),
                        column: mark.col() + 1,
                        style,
                    };
                    self.record(&path, at, Some(value));
                }
            }
            Event::Alias(_) => {
                if let Some((path, at)) = self.place(mark) {
                    self.record(&path, at, None);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let map = matches!(ev, Event::MappingStart(..));
                let in_list = matches!(self.stack.last(), Some(Frame::List { .. }));
                let path = match self.place(mark) {
                    Some((path, at)) => {
                        if !(map && in_list) {
                            self.record(&path, at, None);
                        }
                        path
                    }
                    None => String::new(),
                };
                self.stack.push(if map {
                    Frame::Map {
                        path,
                        key: None,
                        unplaced: in_list,
                    }
                } else {
                    Frame::List { path, next: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "input:\n  kafka:\n    addresses: [a]\npipeline:\n  processors:\n    - mapping: x\n    - mutation: |\n        root = 1\n        root.b = this.\noutput:\n  flexprice:\n    api_host: h\n    batching: {count: 5}\n";

    fn file() -> YamlFile {
        YamlFile::parse("t.yaml", YAML, &|_| None).expect("parses")
    }

    fn at(path: &str) -> (usize, usize) {
        let e = file().locate(&Problem::new(path, "x"));
        (e.line, e.column)
    }

    #[test]
    fn finds_keys_list_items_and_flow_maps() {
        assert_eq!(at("output.flexprice.api_host"), (12, 5));
        assert_eq!(at("input.kafka.addresses"), (3, 5));
        assert_eq!(at("pipeline.processors.1"), (7, 7));
        assert_eq!(at("pipeline.processors.1.mutation"), (7, 7));
        assert_eq!(at("output.flexprice.batching.count"), (13, 16));
        // Not in the file: the nearest ancestor that is.
        assert_eq!(at("output.flexprice.timeout"), (11, 3));
    }

    #[test]
    fn places_a_position_inside_a_block_scalar() {
        let p = Problem::new("pipeline.processors.1.mutation", "bad").inside((2, 14));
        let e = file().locate(&p);
        assert_eq!((e.line, e.column), (9, 22), "{e}");
    }

    #[test]
    fn reads_sections_and_reports_their_problems_by_path() {
        let f = YamlFile::parse(
            "t.yaml",
            "a:\n  count: 3\nb:\n  count: x\n  extra: 1\n",
            &|_| None,
        )
        .expect("parses");
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct C {
            #[allow(dead_code)]
            count: u32,
        }
        let mut p = Problems::default();
        assert!(matches!(f.read::<C>("a", &mut p), Some(Some(_))));
        assert!(matches!(f.read::<C>("b", &mut p), Some(None)));
        assert!(f.read::<C>("c", &mut p).is_none());
        let errs = f.errors(p);
        assert_eq!(errs.0.len(), 1, "{errs}");
        assert_eq!((errs.0[0].line, errs.0[0].column), (4, 3), "{errs}");
        assert!(errs.0[0].message.starts_with("b.count:"), "{errs}");
    }
}
