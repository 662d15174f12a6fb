//! Parse errors a user can act on: where (line and column inside the mapping), the offending
//! line with a caret under the spot, and what was expected there.

use std::fmt;

/// A mapping that does not compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line inside the mapping.
    pub line: usize,
    /// 1-based column (in characters) inside that line.
    pub column: usize,
    pub message: String,
    /// The offending line of the mapping, for the caret display.
    pub source_line: String,
}

impl ParseError {
    pub fn at(src: &str, offset: usize, message: impl Into<String>) -> ParseError {
        let (line, column) = line_col(src, offset);
        let source_line = src.lines().nth(line - 1).unwrap_or("").to_string();
        ParseError {
            line,
            column,
            message: message.into(),
            source_line,
        }
    }

    /// The short form Bento prints: `line L char C: message`.
    pub fn short(&self) -> String {
        format!("line {} char {}: {}", self.line, self.column, self.message)
    }
}

/// 1-based (line, column in chars) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..floor_char(src, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.short())?;
        let gutter = self.line.to_string();
        writeln!(f, "{gutter} | {}", self.source_line)?;
        write!(
            f,
            "{} | {}^",
            " ".repeat(gutter.len()),
            " ".repeat(self.column.saturating_sub(1))
        )
    }
}

impl std::error::Error for ParseError {}
