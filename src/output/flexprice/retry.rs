//! Which responses are worth retrying, and how long to wait before the next try.

use std::time::Duration;

/// What a response status means for the events in the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// 202: the API took the events.
    Accepted,
    /// Another 2xx: taken, but not what the API documents; logged as a warning.
    AcceptedUnexpected,
    /// 408, 429, 5xx: the same request may well succeed later.
    Transient,
    /// Every other status (400/401/403/404/413/422 and the rest of 3xx/4xx): resending the
    /// same bytes would fail the same way, so retrying would only be a retry storm.
    Permanent,
}

pub fn classify(status: u16) -> Class {
    match status {
        202 => Class::Accepted,
        200..=299 => Class::AcceptedUnexpected,
        408 | 429 | 500..=599 => Class::Transient,
        _ => Class::Permanent,
    }
}

/// `Retry-After` in its delta-seconds form. The HTTP-date form is ignored (the backoff
/// schedule applies), since APIs that rate-limit send seconds.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify(202), Class::Accepted);
        assert_eq!(classify(200), Class::AcceptedUnexpected);
        assert_eq!(classify(204), Class::AcceptedUnexpected);
        for s in [408, 429, 500, 502, 503, 504] {
            assert_eq!(classify(s), Class::Transient, "{s}");
        }
        for s in [301, 400, 401, 403, 404, 413, 422] {
            assert_eq!(classify(s), Class::Permanent, "{s}");
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }
}
