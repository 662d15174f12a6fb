//! A minimal HTTP/1.1 server side: request heads, bodies (Content-Length and chunked) and
//! responses, on blocking sockets.
//!
//! Why not `tiny_http`: the double must know exactly when a request is in flight (to verify the
//! collector's `max_in_flight`), must close idle keep-alive connections on shutdown so clients
//! see a transport error instead of hanging, and must drain oversized bodies deliberately.
//! All of that needs the connection in our hands; the protocol subset the collector speaks is
//! small.

use std::io::{self, BufRead, Read, Write};
use std::time::Duration;

/// Largest request head (request line + headers) accepted, like Go's 1 MiB default but smaller:
/// the collector sends a handful of short headers.
const MAX_HEAD: u64 = 64 * 1024;

/// A body larger than the cap is still read and thrown away up to this many bytes so the client
/// gets the 400 rather than a connection reset; beyond it the connection is closed.
const MAX_DRAIN: u64 = 128 * 1024 * 1024;

/// Bodies are read in chunks of this size (also the unit of the slow-drain delay).
pub const CHUNK: usize = 64 * 1024;

#[derive(Debug, Default)]
pub struct RequestHead {
    pub method: String,
    /// Path without the query string.
    pub path: String,
    pub keep_alive: bool,
    pub content_length: Option<u64>,
    pub chunked: bool,
    pub api_key: Option<String>,
    pub expect_continue: bool,
}

#[derive(Debug)]
pub enum HeadError {
    /// The client closed the connection (or it was shut down) between requests.
    Closed,
    Io,
    /// Not HTTP we understand; answered with 400 and the connection closed.
    Bad(&'static str),
}

/// Read one line (up to `\n`) into `line`, charging its length to `budget`.
fn read_line<R: BufRead>(r: &mut R, line: &mut Vec<u8>, budget: &mut u64) -> io::Result<usize> {
    line.clear();
    let n = r.by_ref().take(*budget).read_until(b'\n', line)?;
    *budget = budget.saturating_sub(n as u64);
    Ok(n)
}

fn trim_crlf(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Read a request line and headers.
pub fn read_head<R: BufRead>(r: &mut R) -> Result<RequestHead, HeadError> {
    let mut budget = MAX_HEAD;
    let mut line = Vec::with_capacity(256);
    // RFC 9112 §2.2: ignore empty lines before the request line.
    loop {
        let n = read_line(r, &mut line, &mut budget).map_err(|_| HeadError::Io)?;
        if n == 0 {
            return if budget == 0 {
                Err(HeadError::Bad("request head too large"))
            } else {
                Err(HeadError::Closed)
            };
        }
        if !trim_crlf(&line).is_empty() {
            break;
        }
    }
    if !line.ends_with(b"\n") {
        return Err(HeadError::Bad("request line too long or truncated"));
    }
    let request_line =
        std::str::from_utf8(trim_crlf(&line)).map_err(|_| HeadError::Bad("request line"))?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Bad("malformed request line"));
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(HeadError::Bad("unsupported HTTP version")),
    };
    let path = target.split('?').next().unwrap_or(target);
    let mut head = RequestHead {
        method: method.to_string(),
        path: path.to_string(),
        keep_alive: http11,
        ..RequestHead::default()
    };
    loop {
        let n = read_line(r, &mut line, &mut budget).map_err(|_| HeadError::Io)?;
        if n == 0 || !line.ends_with(b"\n") {
            return Err(if budget == 0 {
                HeadError::Bad("request head too large")
            } else {
                HeadError::Io
            });
        }
        let h = trim_crlf(&line);
        if h.is_empty() {
            break;
        }
        let Some(colon) = h.iter().position(|&c| c == b':') else {
            return Err(HeadError::Bad("malformed header"));
        };
        let name = &h[..colon];
        let value = std::str::from_utf8(&h[colon + 1..])
            .map_err(|_| HeadError::Bad("header value is not UTF-8"))?
            .trim();
        if name.eq_ignore_ascii_case(b"content-length") {
            let len = value
                .parse::<u64>()
                .map_err(|_| HeadError::Bad("bad content-length"))?;
            if head.content_length.is_some_and(|l| l != len) {
                return Err(HeadError::Bad("conflicting content-length"));
            }
            head.content_length = Some(len);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if value.eq_ignore_ascii_case("chunked") {
                head.chunked = true;
            } else if !value.eq_ignore_ascii_case("identity") {
                return Err(HeadError::Bad("unsupported transfer-encoding"));
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    head.keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    head.keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"x-api-key") {
            head.api_key = Some(value.to_string());
        } else if name.eq_ignore_ascii_case(b"expect") {
            head.expect_continue = value.eq_ignore_ascii_case("100-continue");
        }
    }
    if head.chunked {
        // RFC 9112 §6.3: chunked wins over Content-Length.
        head.content_length = None;
    }
    Ok(head)
}

pub enum Body {
    Complete(Vec<u8>),
    /// Larger than the cap. `drained` says whether the rest was read off the connection (so it
    /// can be kept alive).
    TooLarge {
        drained: bool,
    },
}

/// Reads a request body with a size cap, optionally slowly (`delay` per [`CHUNK`]).
pub struct BodyReader<'a, R> {
    pub r: &'a mut R,
    pub cap: u64,
    pub delay: Option<Duration>,
    /// Every body byte read, for the stats.
    pub bytes: u64,
}

impl<R: BufRead> BodyReader<'_, R> {
    pub fn read(&mut self, head: &RequestHead) -> io::Result<Body> {
        if head.chunked {
            return self.read_chunked();
        }
        let len = head.content_length.unwrap_or(0);
        if len > self.cap {
            if len > MAX_DRAIN {
                return Ok(Body::TooLarge { drained: false });
            }
            self.copy(len, None)?;
            return Ok(Body::TooLarge { drained: true });
        }
        // `len` is at most the cap, so this allocation is bounded.
        let mut out = Vec::with_capacity(len as usize);
        self.copy(len, Some(&mut out))?;
        Ok(Body::Complete(out))
    }

    /// Move exactly `n` bytes from the connection into `out` (or nowhere).
    fn copy(&mut self, mut n: u64, mut out: Option<&mut Vec<u8>>) -> io::Result<()> {
        while n > 0 {
            if let Some(d) = self.delay {
                std::thread::sleep(d);
            }
            let avail = self.r.fill_buf()?;
            if avail.is_empty() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let take = avail.len().min(n as usize).min(CHUNK);
            if let Some(o) = out.as_deref_mut() {
                o.extend_from_slice(&avail[..take]);
            }
            self.r.consume(take);
            n -= take as u64;
            self.bytes += take as u64;
        }
        Ok(())
    }

    fn read_chunked(&mut self) -> io::Result<Body> {
        let mut out = Vec::new();
        let mut total = 0u64;
        let mut line = Vec::with_capacity(64);
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad chunk");
        loop {
            let mut budget = 4096;
            read_line(self.r, &mut line, &mut budget)?;
            if !line.ends_with(b"\n") {
                return Err(bad());
            }
            let text = std::str::from_utf8(trim_crlf(&line)).map_err(|_| bad())?;
            let size_hex = text.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size_hex, 16).map_err(|_| bad())?;
            if size == 0 {
                break;
            }
            total = total.saturating_add(size);
            if total > MAX_DRAIN {
                return Ok(Body::TooLarge { drained: false });
            }
            if total > self.cap {
                out = Vec::new();
                self.copy(size, None)?;
            } else {
                self.copy(size, Some(&mut out))?;
            }
            let mut budget = 2;
            read_line(self.r, &mut line, &mut budget)?;
            if trim_crlf(&line) != b"" {
                return Err(bad());
            }
        }
        // Trailers, up to the empty line.
        let mut budget = MAX_HEAD;
        loop {
            let n = read_line(self.r, &mut line, &mut budget)?;
            if n == 0 || !line.ends_with(b"\n") {
                return Err(bad());
            }
            if trim_crlf(&line).is_empty() {
                break;
            }
        }
        if total > self.cap {
            Ok(Body::TooLarge { drained: true })
        } else {
            Ok(Body::Complete(out))
        }
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

pub const JSON: &str = "application/json; charset=utf-8";
pub const TEXT: &str = "text/plain";

/// A response ready to be written.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub retry_after: Option<u64>,
    pub close: bool,
}

impl Response {
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type: JSON,
            body: body.into(),
            retry_after: None,
            close: false,
        }
    }

    /// Write the whole response in one `write_all` (the socket has Nagle disabled).
    pub fn write_to<W: Write>(&self, w: &mut W, keep_alive: bool) -> io::Result<()> {
        let mut out = Vec::with_capacity(160 + self.body.len());
        let _ = write!(
            out,
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        if let Some(s) = self.retry_after {
            let _ = write!(out, "Retry-After: {s}\r\n");
        }
        if self.close || !keep_alive {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        w.write_all(&out)?;
        w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_and_chunked_body() {
        let raw = b"\r\nPOST /v1/events/bulk?x=1 HTTP/1.1\r\nHost: a\r\nX-API-Key:  k \r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n";
        let mut r = io::BufReader::new(&raw[..]);
        let head = read_head(&mut r).expect("head");
        assert_eq!(head.method, "POST");
        assert_eq!(head.path, "/v1/events/bulk");
        assert_eq!(head.api_key.as_deref(), Some("k"));
        assert!(head.keep_alive && head.chunked);
        let mut br = BodyReader {
            r: &mut r,
            cap: 10,
            delay: None,
            bytes: 0,
        };
        match br.read(&head).expect("body") {
            Body::Complete(b) => assert_eq!(b, b"abcde"),
            Body::TooLarge { .. } => panic!("not too large"),
        }
        assert!(matches!(read_head(&mut r), Err(HeadError::Closed)));
    }

    #[test]
    fn oversized_body_is_drained() {
        let raw = b"POST / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhelloGET";
        let mut r = io::BufReader::new(&raw[..]);
        let head = read_head(&mut r).expect("head");
        assert!(!head.keep_alive);
        let mut br = BodyReader {
            r: &mut r,
            cap: 4,
            delay: None,
            bytes: 0,
        };
        assert!(matches!(
            br.read(&head),
            Ok(Body::TooLarge { drained: true })
        ));
        let mut rest = String::new();
        r.read_to_string(&mut rest).expect("rest");
        assert_eq!(rest, "GET");
    }
}
