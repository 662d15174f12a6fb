//! Tokens of the Bloblang language, each with its byte offset in the mapping (for errors).

use super::error::ParseError;

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Ident(String),
    /// `$name`
    Var(String),
    /// `@name`, or `@` alone (all metadata).
    Meta(Option<String>),
    Int(i64),
    Float(f64),
    Str(String),
    Dot,
    Comma,
    Colon,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Assign,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Bang,
    And,
    Or,
    Pipe,
    Arrow,
    FatArrow,
    Newline,
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Var(s) => format!("`${s}`"),
            Tok::Meta(Some(s)) => format!("`@{s}`"),
            Tok::Meta(None) => "`@`".into(),
            Tok::Int(i) => format!("`{i}`"),
            Tok::Float(f) => format!("`{f}`"),
            Tok::Str(_) => "a string".into(),
            Tok::Newline => "end of line".into(),
            Tok::Eof => "end of mapping".into(),
            other => format!("`{}`", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Tok::Dot => ".",
            Tok::Comma => ",",
            Tok::Colon => ":",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::Assign => "=",
            Tok::Eq => "==",
            Tok::Ne => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Percent => "%",
            Tok::Bang => "!",
            Tok::And => "&&",
            Tok::Or => "||",
            Tok::Pipe => "|",
            Tok::Arrow => "->",
            Tok::FatArrow => "=>",
            _ => "?",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    /// Byte offset of the token's first character.
    pub at: usize,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Split a mapping into tokens. Comments (`#` to end of line) are skipped; line breaks are
/// kept as tokens because they end statements.
pub fn lex(src: &str) -> Result<Vec<Token>, ParseError> {
    let b = src.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let tok = match c {
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\n' => {
                i += 1;
                Tok::Newline
            }
            b'"' => {
                if src[i..].starts_with("\"\"\"") {
                    let body_start = i + 3;
                    let Some(end) = src[body_start..].find("\"\"\"") else {
                        return Err(ParseError::at(
                            src,
                            start,
                            "unterminated triple-quoted string: expected `\"\"\"`",
                        ));
                    };
                    i = body_start + end + 3;
                    Tok::Str(src[body_start..body_start + end].to_string())
                } else {
                    let (s, next) = lex_string(src, i)?;
                    i = next;
                    Tok::Str(s)
                }
            }
            b'$' => {
                i += 1;
                let s = i;
                while i < b.len() && is_ident_char(b[i]) {
                    i += 1;
                }
                if s == i {
                    return Err(ParseError::at(
                        src,
                        start,
                        "expected a variable name after `$`",
                    ));
                }
                Tok::Var(src[s..i].to_string())
            }
            // `@"key with spaces"`: a quoted metadata key, as Bento allows.
            b'@' if b.get(i + 1) == Some(&b'"') => {
                let (key, next) = lex_string(src, i + 1)?;
                i = next;
                Tok::Meta(Some(key))
            }
            b'@' => {
                i += 1;
                let s = i;
                while i < b.len() && is_ident_char(b[i]) {
                    i += 1;
                }
                if s == i {
                    Tok::Meta(None)
                } else {
                    Tok::Meta(Some(src[s..i].to_string()))
                }
            }
            b'0'..=b'9' => {
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                // After a `.` a number is a path segment (`this.items.0`), never a float.
                let after_dot = matches!(out.last(), Some(Token { tok: Tok::Dot, .. }));
                let mut float = false;
                if !after_dot && i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
                    float = true;
                    i += 1;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                if !after_dot && i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                    let mut j = i + 1;
                    if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                        j += 1;
                    }
                    if j < b.len() && b[j].is_ascii_digit() {
                        float = true;
                        i = j;
                        while i < b.len() && b[i].is_ascii_digit() {
                            i += 1;
                        }
                    }
                }
                let text = &src[start..i];
                if float {
                    Tok::Float(text.parse().map_err(|_| {
                        ParseError::at(src, start, format!("invalid number `{text}`"))
                    })?)
                } else {
                    match text.parse::<i64>() {
                        Ok(n) => Tok::Int(n),
                        Err(_) => Tok::Float(text.parse().map_err(|_| {
                            ParseError::at(src, start, format!("invalid number `{text}`"))
                        })?),
                    }
                }
            }
            c if is_ident_start(c) => {
                while i < b.len() && is_ident_char(b[i]) {
                    i += 1;
                }
                Tok::Ident(src[start..i].to_string())
            }
            _ => {
                let two = src.get(i..i + 2).unwrap_or("");
                let (t, n) = match two {
                    "==" => (Tok::Eq, 2),
                    "!=" => (Tok::Ne, 2),
                    "<=" => (Tok::Le, 2),
                    ">=" => (Tok::Ge, 2),
                    "&&" => (Tok::And, 2),
                    "||" => (Tok::Or, 2),
                    "->" => (Tok::Arrow, 2),
                    "=>" => (Tok::FatArrow, 2),
                    _ => match c {
                        b'.' => (Tok::Dot, 1),
                        b',' => (Tok::Comma, 1),
                        b':' => (Tok::Colon, 1),
                        b';' => (Tok::Newline, 1),
                        b'(' => (Tok::LParen, 1),
                        b')' => (Tok::RParen, 1),
                        b'[' => (Tok::LBracket, 1),
                        b']' => (Tok::RBracket, 1),
                        b'{' => (Tok::LBrace, 1),
                        b'}' => (Tok::RBrace, 1),
                        b'=' => (Tok::Assign, 1),
                        b'<' => (Tok::Lt, 1),
                        b'>' => (Tok::Gt, 1),
                        b'+' => (Tok::Plus, 1),
                        b'-' => (Tok::Minus, 1),
                        b'*' => (Tok::Star, 1),
                        b'/' => (Tok::Slash, 1),
                        b'%' => (Tok::Percent, 1),
                        b'!' => (Tok::Bang, 1),
                        b'|' => (Tok::Pipe, 1),
                        _ => {
                            let ch = src[i..].chars().next().unwrap_or('?');
                            return Err(ParseError::at(
                                src,
                                start,
                                format!("unexpected character `{ch}`"),
                            ));
                        }
                    },
                };
                i += n;
                t
            }
        };
        out.push(Token { tok, at: start });
    }
    out.push(Token {
        tok: Tok::Eof,
        at: src.len(),
    });
    Ok(out)
}

/// A double-quoted string with Go-style escapes. Returns the text and the offset after it.
fn lex_string(src: &str, start: usize) -> Result<(String, usize), ParseError> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((k, ch)) = chars.next() {
        let at = start + 1 + k;
        match ch {
            '"' => return Ok((out, at + 1)),
            '\n' => {
                return Err(ParseError::at(
                    src,
                    start,
                    "unterminated string: expected `\"` before the end of the line",
                ))
            }
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    '/' => out.push('/'),
                    '0' => out.push('\0'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    // `\uXXXX`, `\UXXXXXXXX` and `\xXX` as Go's strconv.Unquote reads them (Bento).
                    'u' | 'U' | 'x' => {
                        let n = match e {
                            'u' => 4,
                            'U' => 8,
                            _ => 2,
                        };
                        let hex: String =
                            (0..n).filter_map(|_| chars.next().map(|c| c.1)).collect();
                        let code = (hex.len() == n)
                            .then(|| u32::from_str_radix(&hex, 16).ok())
                            .flatten()
                            // A `\x` above 7f is one byte of UTF-8 in Go, not a character.
                            .filter(|c| e != 'x' || *c < 0x80)
                            .and_then(char::from_u32)
                            .ok_or_else(|| {
                                ParseError::at(src, at, format!("invalid escape `\\{e}{hex}`"))
                            })?;
                        out.push(code);
                    }
                    other => {
                        return Err(ParseError::at(
                            src,
                            at,
                            format!("invalid escape `\\{other}` in string"),
                        ))
                    }
                }
            }
            c => out.push(c),
        }
    }
    Err(ParseError::at(
        src,
        start,
        "unterminated string: expected a closing `\"`",
    ))
}
