//! Bento string interpolation: `Event: ${! json("event_name") }`, used by the `log` processor.

use super::error::ParseError;
use super::{MessageRef, Query};

#[derive(Clone)]
enum Piece {
    Text(String),
    Query(Query),
}

/// A string with `${! query }` parts, compiled once.
#[derive(Clone)]
pub struct Interpolated {
    pieces: Vec<Piece>,
}

impl Interpolated {
    /// One of its queries reads metadata (see [`super::Mapping::reads_metadata`]).
    pub fn reads_metadata(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Query(q) if q.reads_metadata()))
    }

    pub fn compile(src: &str) -> Result<Interpolated, ParseError> {
        let mut pieces = Vec::new();
        let mut rest = src;
        let mut offset = 0;
        while let Some(i) = rest.find("${!") {
            if i > 0 {
                pieces.push(Piece::Text(rest[..i].to_string()));
            }
            let body_start = i + 3;
            let Some(end) = rest[body_start..].find('}') else {
                return Err(ParseError::at(
                    src,
                    offset + i,
                    "expected `}` to close the interpolation `${!`",
                ));
            };
            // A query may itself contain braces (`${! if x { 1 } else { 2 } }`): extend to the
            // brace that balances.
            let mut depth = 0i32;
            let mut close = None;
            for (k, ch) in rest[body_start..].char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        close = Some(k);
                        break;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            let end = close.unwrap_or(end);
            let body = &rest[body_start..body_start + end];
            let q = Query::compile(body.trim()).map_err(|e| {
                ParseError::at(
                    src,
                    offset + body_start,
                    format!("in interpolation: {}", e.message),
                )
            })?;
            pieces.push(Piece::Query(q));
            let consumed = body_start + end + 1;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Interpolated { pieces })
    }

    pub fn render(&self, m: &MessageRef<'_>) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Query(q) => match q.eval(m) {
                    Ok(Some(v)) => out.push_str(&v.to_text()),
                    Ok(None) => out.push_str("null"),
                    Err(e) => out.push_str(&format!("<error: {e}>")),
                },
            }
        }
        out
    }
}
