//! [`Problems`]: what is wrong with a config, each problem by the dotted path of what it is
//! about (`output.flexprice.api_host`), found all at once and located afterwards.

/// One thing wrong with a config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Dotted path of the node (`pipeline.processors.0.mapping`); empty for the whole file.
    pub path: String,
    pub message: String,
    /// 1-based (line, column) inside the node's text, for a problem in a scalar (a Bloblang
    /// error inside `mapping: |`).
    pub inner: Option<(usize, usize)>,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            path: path.into(),
            message: message.into(),
            inner: None,
        }
    }

    /// At (line, column) inside the node's text.
    pub fn inside(mut self, at: (usize, usize)) -> Problem {
        self.inner = Some(at);
        self
    }
}

/// Every problem found in one config.
#[derive(Debug, Default)]
pub struct Problems {
    items: Vec<Problem>,
}

impl Problems {
    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.items.push(Problem::new(path, message));
    }

    pub fn push(&mut self, p: Problem) {
        self.items.push(p);
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Problem> {
        self.items.iter()
    }
}

impl IntoIterator for Problems {
    type Item = Problem;
    type IntoIter = std::vec::IntoIter<Problem>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}
