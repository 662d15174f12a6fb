//! What an answer means for the events in the request, what to tell the user when it is the
//! pipeline's fault, and how long to wait before the next try.
//!
//! The built-in classes follow what the Flexprice API answers (reference §3.5–3.6): its
//! ingest routes answer 202 and nothing else on success; 400 (with its JSON error) names
//! the events; everything that is about the pipeline rather than the events (a refused key,
//! a wrong host or route, a redirect, TLS) must never dead-letter the stream: Kafka Connect
//! fails the task for these and keeps the backlog in Kafka, and so does this output (the
//! batch is held). `successful_on`, `backoff_on` and `drop_on` (Bento's `http_client`
//! names) move single statuses to another class.

use std::time::Duration;

/// What an answer means for the events in the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// The API took the events: 202, or a status in `successful_on`.
    Accepted,
    /// The API refused these events, and the same bytes would be refused again: 400 and 422
    /// carrying the API's JSON error, 413, or a status in `drop_on`. A bulk batch is
    /// bisected to the offending events, which are dead-lettered without a retry.
    Rejected,
    /// The same request may well succeed later: 408, 429, 5xx, any 2xx that is not a
    /// success (a 207 that stored half: resent whole, duplicates are harmless with the same
    /// `event_id` and timestamp), or a status in `backoff_on`. Retried with backoff; the
    /// retry budget applies while the API accepts other requests (never to a 429 or a 2xx,
    /// which do not say the batch is bad).
    Transient,
    /// The pipeline's fault, not the events': 401, 403, 404, 3xx, a 400 that is not the
    /// API's, any status no list names; TLS, DNS and connection failures. The batch is held
    /// and retried at the backoff's capped interval until it goes through, never
    /// dead-lettered; `/ready` says what to fix.
    Held,
}

/// `successful_on`, `backoff_on`, `drop_on`: statuses moved out of their built-in class.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Statuses {
    pub successful_on: Vec<u16>,
    pub backoff_on: Vec<u16>,
    pub drop_on: Vec<u16>,
}

impl Statuses {
    /// The class of an answer with `status` and `body`.
    pub fn classify(&self, status: u16, body: &str) -> Class {
        if self.successful_on.contains(&status) {
            return Class::Accepted;
        }
        if self.backoff_on.contains(&status) {
            return Class::Transient;
        }
        if self.drop_on.contains(&status) {
            return Class::Rejected;
        }
        match status {
            202 => Class::Accepted,
            400 | 422 if is_api_error(body) => Class::Rejected,
            413 => Class::Rejected,
            200..=299 | 408 | 429 | 500..=599 => Class::Transient,
            _ => Class::Held,
        }
    }
}

/// The class of `status` with the built-in lists only (and a JSON error body).
pub fn classify(status: u16) -> Class {
    Statuses::default().classify(status, "{}")
}

/// Whether a body is an error the Flexprice API wrote (a JSON object): a 400 from a proxy or
/// a server that is not the API (an HTML or text page) says nothing about the events.
fn is_api_error(body: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(body).is_ok_and(|v| v.is_object())
}

/// What to fix when the API answers `status` for a reason that is not the events': for
/// `/ready` and the log. `url` is the request's, `location` a redirect's target.
pub fn remedy(status: u16, url: &str, location: Option<&str>) -> String {
    match status {
        401 => "the API refuses the key (401): check output.flexprice.api_key".into(),
        403 => "the API refuses the key for this request (403 forbidden): check that output.flexprice.api_key belongs to the environment events should go to".into(),
        404 => format!(
            "POST {url} is not found (404): check output.flexprice.api_host and scheme (the collector posts to /v1/events and /v1/events/bulk under them)"
        ),
        300..=399 => format!(
            "the API answered a redirect ({status}{}): the collector never follows one (the key would go along); set output.flexprice.api_host and scheme to where the API is",
            location.map(|l| format!(" to {l}")).unwrap_or_default()
        ),
        400 | 422 => format!(
            "POST {url} answered {status} with a body that is not the Flexprice API's JSON error: check output.flexprice.api_host and scheme (a plain-HTTP request to an HTTPS port gets this)"
        ),
        _ => format!(
            "POST {url} answered {status}, which is neither a success, nor retried, nor an event's rejection: fix what it says, or list it in output.flexprice.successful_on, backoff_on or drop_on"
        ),
    }
}

/// The class of a request that got no answer, and for a held one what to fix. Failing to
/// connect (refused, no such host, TLS) happens before the API saw anything, so it can never
/// be about the events; a timeout or a reset after sending may be (a batch the API chokes
/// on) and is transient.
pub fn transport(e: &ureq::Error, host: &str) -> (Class, Option<String>) {
    use std::io::ErrorKind;
    let held = |why: String| (Class::Held, Some(why));
    match e {
        ureq::Error::HostNotFound => held(format!(
            "cannot resolve `{host}`: check output.flexprice.api_host"
        )),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => held(tls(host, e)),
        ureq::Error::ConnectionFailed => held(refused(host)),
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => held(format!(
            "cannot connect to `{host}` within the timeout: is the API up there? check output.flexprice.api_host"
        )),
        ureq::Error::Io(io) if io.kind() == ErrorKind::ConnectionRefused => held(refused(host)),
        ureq::Error::Io(io) if is_tls(io) => held(tls(host, e)),
        _ => (Class::Transient, None),
    }
}

fn refused(host: &str) -> String {
    format!(
        "`{host}` refuses connections: the API is down, or output.flexprice.api_host or scheme is wrong"
    )
}

fn tls(host: &str, e: &ureq::Error) -> String {
    format!(
        "TLS with `{host}` failed ({e}): check output.flexprice.tls (root_cas_file for a private CA) and api_host"
    )
}

/// rustls reports a refused certificate through the I/O error of the handshake.
fn is_tls(io: &std::io::Error) -> bool {
    io.get_ref()
        .is_some_and(|inner| inner.is::<rustls::Error>())
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

    const API_ERROR: &str =
        r#"{"code":"validation_error","message":"Invalid request payload","http_status_code":400}"#;

    #[test]
    fn statuses_are_classified() {
        let s = Statuses::default();
        assert_eq!(s.classify(202, ""), Class::Accepted);
        // Only 202 is the API's success: any other 2xx is resent whole.
        for st in [200, 201, 204, 207, 299] {
            assert_eq!(s.classify(st, "{}"), Class::Transient, "{st}");
        }
        for st in [408, 429, 500, 502, 503, 504] {
            assert_eq!(s.classify(st, ""), Class::Transient, "{st}");
        }
        for st in [400, 422] {
            assert_eq!(s.classify(st, API_ERROR), Class::Rejected, "{st}");
        }
        assert_eq!(s.classify(413, "<html>too large</html>"), Class::Rejected);
        // The pipeline's fault: never the events'.
        for st in [301, 302, 307, 308, 401, 403, 404, 405, 409, 415, 451] {
            assert_eq!(s.classify(st, API_ERROR), Class::Held, "{st}");
        }
        assert_eq!(
            s.classify(
                400,
                "<html>The plain HTTP request was sent to HTTPS port</html>"
            ),
            Class::Held,
            "a 400 that is not the API's"
        );
        assert_eq!(classify(401), Class::Held);
    }

    #[test]
    fn the_lists_move_single_statuses() {
        let s = Statuses {
            successful_on: vec![200],
            backoff_on: vec![404],
            drop_on: vec![409],
        };
        assert_eq!(s.classify(200, ""), Class::Accepted);
        assert_eq!(s.classify(202, ""), Class::Accepted, "202 stays a success");
        assert_eq!(s.classify(404, ""), Class::Transient);
        assert_eq!(s.classify(409, "not json"), Class::Rejected);
        assert_eq!(s.classify(201, ""), Class::Transient);
    }

    #[test]
    fn remedies_name_the_field_to_fix() {
        let url = "https://api.example/v1/events/bulk";
        assert!(remedy(401, url, None).contains("output.flexprice.api_key"));
        assert!(remedy(404, url, None).contains(url));
        assert!(remedy(404, url, None).contains("api_host"));
        let r = remedy(301, url, Some("https://elsewhere/v1/events/bulk"));
        assert!(r.contains("301 to https://elsewhere/"), "{r}");
        assert!(remedy(418, url, None).contains("drop_on"));
    }

    #[test]
    fn failing_to_connect_is_held() {
        let refused = ureq::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let (class, why) = transport(&refused, "api.example:443");
        assert_eq!(class, Class::Held);
        assert!(why.is_some_and(|w| w.contains("api.example:443")));
        assert_eq!(transport(&ureq::Error::HostNotFound, "x").0, Class::Held);
        let reset = ureq::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(transport(&reset, "x").0, Class::Transient);
        assert_eq!(
            transport(&ureq::Error::Timeout(ureq::Timeout::Global), "x").0,
            Class::Transient
        );
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }
}
