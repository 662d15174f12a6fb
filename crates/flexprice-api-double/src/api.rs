//! What the Flexprice events API accepts and answers (reference §3): request shapes, the
//! validation order, the error bodies and the generated `event_` ids.

use simd_json::{Node, StaticNode};

/// `MaxEventIngestionBodyBytes = 32 << 20` in the real API.
pub const MAX_BODY: u64 = 32 << 20;
/// `validate:"required,min=1,max=1000"` on `BulkIngestEventRequest.Events`.
pub const MAX_BULK: usize = 1000;

/// The fields of one event the double needs, borrowed from the (simd-json unescaped) body.
/// The other fields are only type-checked.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ev<'a> {
    /// `false` for a JSON `null` element in a bulk list (Go binds a nil pointer).
    pub present: bool,
    pub event_id: Option<&'a str>,
    pub event_name: Option<&'a str>,
    pub external_customer_id: Option<&'a str>,
}

/// Not a request the API can bind (wrong JSON type somewhere, bad timestamp).
struct BindError;

/// Index of the node after the value at `j`.
fn skip(nodes: &[Node<'_>], j: usize) -> usize {
    match nodes.get(j) {
        Some(Node::Object { count, .. } | Node::Array { count, .. }) => j + count + 1,
        _ => j + 1,
    }
}

/// Go's `json.Unmarshal` rules for a string field: a string sets it, `null` leaves it alone,
/// anything else is an error.
fn string_field<'a>(v: &Node<'a>, slot: &mut Option<&'a str>) -> Result<(), BindError> {
    match v {
        Node::String(s) => {
            *slot = Some(s);
            Ok(())
        }
        Node::Static(StaticNode::Null) => Ok(()),
        _ => Err(BindError),
    }
}

/// Bind the value at `i` as an `IngestEventRequest`: field names matched case-insensitively
/// and the last duplicate winning, like Go's decoder; unknown fields ignored.
fn read_event<'a>(nodes: &[Node<'a>], i: usize) -> Result<Ev<'a>, BindError> {
    let len = match nodes.get(i) {
        Some(Node::Static(StaticNode::Null)) => return Ok(Ev::default()),
        Some(Node::Object { len, .. }) => *len,
        _ => return Err(BindError),
    };
    let mut ev = Ev {
        present: true,
        ..Ev::default()
    };
    let (mut customer_id, mut source) = (None, None);
    let mut j = i + 1;
    for _ in 0..len {
        let Some(Node::String(key)) = nodes.get(j) else {
            return Err(BindError);
        };
        let v = nodes.get(j + 1).ok_or(BindError)?;
        let is = |name: &str| key.eq_ignore_ascii_case(name);
        if is("event_name") {
            string_field(v, &mut ev.event_name)?;
        } else if is("external_customer_id") {
            string_field(v, &mut ev.external_customer_id)?;
        } else if is("event_id") {
            string_field(v, &mut ev.event_id)?;
        } else if is("customer_id") {
            string_field(v, &mut customer_id)?;
        } else if is("source") {
            string_field(v, &mut source)?;
        } else if is("timestamp") {
            match v {
                Node::String(t) if is_rfc3339(t) => {}
                Node::Static(StaticNode::Null) => {}
                _ => return Err(BindError),
            }
        } else if is("properties") {
            // `map[string]any`: any object, or null.
            match v {
                Node::Object { .. } | Node::Static(StaticNode::Null) => {}
                _ => return Err(BindError),
            }
        }
        j = skip(nodes, j + 1);
    }
    Ok(ev)
}

/// A rejection: status and the exact body the real API sends.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub body: String,
}

fn validation(message: &str, details: Option<(&str, &str)>) -> ApiError {
    let mut body = format!(
        r#"{{"code":"validation_error","message":{},"http_status_code":400"#,
        json_str(message)
    );
    if let Some((k, v)) = details {
        body.push_str(&format!(
            r#","details":{{{}:{}}}}}"#,
            json_str(k),
            json_str(v)
        ));
    } else {
        body.push('}');
    }
    ApiError { status: 400, body }
}

pub fn invalid_payload() -> ApiError {
    validation("Invalid request payload", None)
}

pub fn too_large() -> ApiError {
    validation(
        "Request body exceeds the maximum size; split the batch into smaller requests",
        None,
    )
}

/// go-playground/validator's message text, as the API puts it into `details`.
fn tag_error(strukt: &str, field: &str, tag: &str) -> ApiError {
    let text = format!(
        "Key: '{strukt}.{field}' Error:Field validation for '{field}' failed on the '{tag}' tag"
    );
    validation("Request validation failed", Some((field, &text)))
}

pub fn unauthorized() -> ApiError {
    ApiError {
        status: 401,
        body: r#"{"error":"Unauthorized"}"#.into(),
    }
}

/// Body for a status injected by a fault: the API's flat error shape with the code the API
/// maps to that status.
pub fn injected(status: u16) -> ApiError {
    if (200..300).contains(&status) {
        return ApiError {
            status,
            body: r#"{"message":"injected fault (flexprice-api-double): nothing was accepted"}"#
                .into(),
        };
    }
    let code = match status {
        400 => "validation_error",
        403 => "permission_denied",
        404 => "not_found",
        409 => "already_exists",
        429 => "too_many_requests",
        501 => "not_implemented",
        503 => "service_unavailable",
        _ => "internal_error",
    };
    ApiError {
        status,
        body: format!(
            r#"{{"code":"{code}","message":"injected fault (flexprice-api-double)","http_status_code":{status}}}"#
        ),
    }
}

/// Body for an injected status after `stored` events were accepted (`injected_stores`).
pub fn stored_part(status: u16, stored: usize) -> ApiError {
    ApiError {
        status,
        body: format!(
            r#"{{"message":"injected fault (flexprice-api-double): {stored} events stored, then {status}"}}"#
        ),
    }
}

pub fn rejected_name(name: &str) -> ApiError {
    validation(
        "Request validation failed",
        Some((
            "EventName",
            &format!("event_name {name:?} is rejected by the double (reject_event_names fault)"),
        )),
    )
}

pub fn json_str(s: &str) -> String {
    // Serialising a &str cannot fail; fall back to an empty string rather than panic.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Single route (`POST /v1/events`): bind errors and the `binding:"required"` fields are all
/// "Invalid request payload" (gin validates at bind time).
pub fn parse_single<'a>(nodes: &[Node<'a>]) -> Result<Ev<'a>, ApiError> {
    let ev = read_event(nodes, 0).map_err(|_| invalid_payload())?;
    if !nonempty(ev.event_name) || !nonempty(ev.external_customer_id) {
        return Err(invalid_payload());
    }
    Ok(ev)
}

fn nonempty(s: Option<&str>) -> bool {
    s.is_some_and(|s| !s.is_empty())
}

/// Why a bulk request is refused.
#[derive(Debug)]
pub enum BulkError {
    /// Refused before any event is looked at (bind or list validation): nothing is published.
    Whole(ApiError),
    /// The event at this index failed the service's per-event validation; in the real API's
    /// default mode the events before it were already published.
    At(usize, ApiError),
}

/// Bulk route (`POST /v1/events/bulk`), in the API's order: bind every element, then
/// `Validate()` on the list (1..=1000), then the service's per-event required fields. The
/// events are appended to `out` (cleared first) whatever the outcome, so a per-event failure
/// can still publish the events before it (`partial_bulk`).
pub fn parse_bulk<'a>(nodes: &[Node<'a>], out: &mut Vec<Ev<'a>>) -> Result<(), BulkError> {
    out.clear();
    let whole = |tag| BulkError::Whole(tag_error("BulkIngestEventRequest", "Events", tag));
    let bind = |_| BulkError::Whole(invalid_payload());
    let len = match nodes.first() {
        // `null` decodes into the zero request: no events.
        Some(Node::Static(StaticNode::Null)) => return Err(whole("required")),
        Some(Node::Object { len, .. }) => *len,
        _ => return Err(BulkError::Whole(invalid_payload())),
    };
    let mut has_events = false;
    let mut j = 1;
    for _ in 0..len {
        let Some(Node::String(key)) = nodes.get(j) else {
            return Err(BulkError::Whole(invalid_payload()));
        };
        j += 1;
        if key.eq_ignore_ascii_case("events") {
            match nodes.get(j) {
                Some(Node::Static(StaticNode::Null)) => {
                    has_events = false;
                    out.clear();
                }
                Some(Node::Array { len, .. }) => {
                    has_events = true;
                    out.clear();
                    let mut k = j + 1;
                    for _ in 0..*len {
                        out.push(read_event(nodes, k).map_err(bind)?);
                        k = skip(nodes, k);
                    }
                }
                _ => return Err(BulkError::Whole(invalid_payload())),
            }
        }
        j = skip(nodes, j);
    }
    if !has_events {
        return Err(whole("required"));
    }
    if out.is_empty() {
        return Err(whole("min"));
    }
    if out.len() > MAX_BULK {
        return Err(whole("max"));
    }
    for (i, e) in out.iter().enumerate() {
        let field = if !e.present || !nonempty(e.event_name) {
            "EventName"
        } else if !nonempty(e.external_customer_id) {
            "ExternalCustomerID"
        } else {
            continue;
        };
        return Err(BulkError::At(
            i,
            tag_error("IngestEventRequest", field, "required"),
        ));
    }
    Ok(())
}

/// Go's strict RFC 3339 parse (`time.Time.UnmarshalJSON`): `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`,
/// fields in range, the offset required.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let num = |i: usize, n: usize| -> Option<u32> {
        let d = b.get(i..i + n)?;
        d.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let (Some(year), Some(month), Some(day), Some(h), Some(m), Some(sec)) = (
        num(0, 4),
        num(5, 2),
        num(8, 2),
        num(11, 2),
        num(14, 2),
        num(17, 2),
    ) else {
        return false;
    };
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return false;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if day == 0 || day > days || h > 23 || m > 59 || sec > 59 {
        return false;
    }
    let mut i = 19;
    if at(i, b'.') || at(i, b',') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start || i - start > 9 {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+') | Some(b'-') => {
            i + 6 == b.len()
                && at(i + 3, b':')
                && num(i + 1, 2).is_some_and(|oh| oh < 24)
                && num(i + 4, 2).is_some_and(|om| om < 60)
        }
        _ => false,
    }
}

/// Crockford base32, as ULIDs use.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `event_` + a ULID (48-bit ms timestamp, 80 random bits), like the API's `types.GenerateUUIDWithPrefix`.
pub fn generate_event_id(rand: u128) -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let v = ((ms & ((1 << 48) - 1)) << 80) | (rand & ((1 << 80) - 1));
    let mut s = String::with_capacity(32);
    s.push_str("event_");
    for i in 0..26 {
        let shift = 125 - 5 * i;
        s.push(CROCKFORD[((v >> shift) & 31) as usize] as char);
    }
    s
}

/// Append each event of a (valid JSON) body to `out` as one compact line: the single body
/// itself, or every element of the bulk body's top-level `events` array. Whitespace outside
/// strings is dropped so pretty-printed input still gives one line per event. Returns `false` if
/// the layout was not understood (nothing useful appended).
pub fn record_lines(raw: &[u8], bulk: bool, out: &mut Vec<u8>) -> bool {
    if !bulk {
        compact(raw, out);
        out.push(b'\n');
        return true;
    }
    scan_bulk(raw, out).is_some()
}

fn scan_bulk(b: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let start = out.len();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(b, i);
        match b.get(i)? {
            b'}' => return Some(()),
            b',' => {
                i += 1;
                continue;
            }
            b'"' => {}
            _ => return None,
        }
        let key_end = value_end(b, i)?;
        let key = b.get(i + 1..key_end - 1)?;
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        // Like the parser: the key matched case-insensitively, the last one wins.
        if key.eq_ignore_ascii_case(b"events") {
            out.truncate(start);
        }
        if key.eq_ignore_ascii_case(b"events") && b.get(i) == Some(&b'[') {
            let mut j = i + 1;
            loop {
                j = skip_ws(b, j);
                match b.get(j)? {
                    b']' => break,
                    b',' => j += 1,
                    _ => {
                        let end = value_end(b, j)?;
                        compact(b.get(j..end)?, out);
                        out.push(b'\n');
                        j = end;
                    }
                }
            }
        }
        i = value_end(b, i)?;
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b
        .get(i)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
    {
        i += 1;
    }
    i
}

/// Index just past the JSON value starting at `i`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => {
            let mut j = i + 1;
            loop {
                match b.get(j)? {
                    b'\\' => j += 2,
                    b'"' => return Some(j + 1),
                    _ => j += 1,
                }
            }
        }
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b.get(j)? {
                    b'"' => {
                        j = value_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while b
                .get(j)
                .is_some_and(|c| !matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n'))
            {
                j += 1;
            }
            Some(j)
        }
    }
}

fn compact(b: &[u8], out: &mut Vec<u8>) {
    let mut in_str = false;
    let mut esc = false;
    for &c in b {
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
            out.push(c);
        } else if !matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse `json` as the double does and hand the tape to `f`.
    fn with_tape<R>(json: &str, f: impl FnOnce(&[Node<'_>]) -> R) -> R {
        let mut body = json.as_bytes().to_vec();
        let mut buffers = simd_json::Buffers::default();
        let mut tape = simd_json::Tape(Vec::new());
        match simd_json::fill_tape(&mut body, &mut buffers, &mut tape) {
            Ok(()) => f(&tape.0),
            Err(e) => panic!("{json}: {e}"),
        }
    }

    #[test]
    fn single_binds_like_go() {
        // Escapes are unescaped; keys match case-insensitively; the last duplicate wins;
        // `null` leaves a string field alone; unknown fields and any property values pass.
        let json = r#"{"Event_Name":"a\"b\u00e9","external_customer_id":"x","EXTERNAL_CUSTOMER_ID":"c",
            "event_id":"id","event_id":null,"other":[1,{"k":[]}],"properties":{"n":1,"o":{"p":[null]}},
            "timestamp":"2026-01-01T00:00:00Z","source":null}"#;
        with_tape(json, |n| {
            let ev = parse_single(n).expect("valid");
            assert_eq!(ev.event_name, Some("a\"b\u{e9}"));
            assert_eq!(ev.external_customer_id, Some("c"));
            assert_eq!(ev.event_id, Some("id"));
        });
        for bad in [
            r#"{"event_name":"e","external_customer_id":"c","source":1}"#,
            r#"{"event_name":"e","external_customer_id":"c","properties":[]}"#,
            r#"{"event_name":"e","external_customer_id":"c","timestamp":1}"#,
            r#"{"event_name":"e","external_customer_id":""}"#,
            r#"null"#,
            r#""x""#,
        ] {
            with_tape(bad, |n| {
                assert_eq!(parse_single(n).err(), Some(invalid_payload()), "{bad}")
            });
        }
    }

    #[test]
    fn bulk_validation_order() {
        // A bind error anywhere beats a per-event required error earlier in the list.
        let json = r#"{"events":[{"event_name":"e"},{"event_name":"e","external_customer_id":"c","timestamp":"x"}]}"#;
        with_tape(json, |n| {
            assert!(
                matches!(parse_bulk(n, &mut Vec::new()), Err(BulkError::Whole(e)) if e == invalid_payload())
            );
        });
        let json =
            r#"{"Events":[{"event_name":"e","external_customer_id":"c","event_id":"1"},null]}"#;
        with_tape(json, |n| {
            let mut out = Vec::new();
            assert!(matches!(parse_bulk(n, &mut out), Err(BulkError::At(1, _))));
            assert_eq!(out[0].event_id, Some("1"));
        });
        with_tape(r#"{"events":5}"#, |n| {
            assert!(
                matches!(parse_bulk(n, &mut Vec::new()), Err(BulkError::Whole(e)) if e == invalid_payload())
            );
        });
    }

    #[test]
    fn rfc3339() {
        for ok in [
            "2024-01-02T03:04:05Z",
            "2024-02-29T23:59:59.123456789+05:30",
            "2024-01-02T03:04:05.1-00:00",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "",
            "2024-01-02",
            "2024-01-02T03:04:05",
            "2024-01-02 03:04:05Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-02T24:00:00Z",
            "2024-01-02T03:04:05.Z",
            "2024-01-02T03:04:05+0530",
            "2024-01-02T03:04:05Zx",
            "1714000000",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn generated_ids_look_like_ulids() {
        let id = generate_event_id(u128::MAX);
        assert_eq!(id.len(), 32);
        assert!(id.starts_with("event_0") || id.starts_with("event_1"));
        assert!(id[6..].bytes().all(|c| CROCKFORD.contains(&c)));
    }

    #[test]
    fn record_lines_split_bulk_events() {
        let raw = br#"{ "x": {"events": [1]}, "Events": [{"first": 1}], "events" : [ {"a" : "b c\"]}", "n": [1, 2]} ,
            {"event_name":"e"} ], "y": "z" }"#;
        let mut out = Vec::new();
        assert!(record_lines(raw, true, &mut out));
        assert_eq!(
            String::from_utf8_lossy(&out),
            "{\"a\":\"b c\\\"]}\",\"n\":[1,2]}\n{\"event_name\":\"e\"}\n"
        );
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            invalid_payload().body,
            r#"{"code":"validation_error","message":"Invalid request payload","http_status_code":400}"#
        );
        assert_eq!(
            tag_error("BulkIngestEventRequest", "Events", "max").body,
            r#"{"code":"validation_error","message":"Request validation failed","http_status_code":400,"details":{"Events":"Key: 'BulkIngestEventRequest.Events' Error:Field validation for 'Events' failed on the 'max' tag"}}"#
        );
    }
}
