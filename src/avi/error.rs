//! Errors of the Avi client, classified by what the caller should do about them.

use std::time::Duration;

/// What kind of failure a controller call ended in; decides retry and reporting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AviErrorKind {
    /// Connection refused, TLS failure, timeout: retry with backoff.
    Transport,
    /// Login refused (`Invalid credentials`): do not retry until the Secret changes.
    InvalidCredentials,
    /// 401/419 that survived one re-login.
    Unauthorized,
    /// 429: wait (the controller's `Retry-After` when it sent one), then retry.
    RateLimited { retry_after: Option<Duration> },
    /// 5xx: retry with backoff.
    Server,
    /// 409: name already taken (re-read, then update) or conflicting domain name.
    Conflict,
    /// 404: the object is gone (re-create on update, done on delete).
    NotFound,
    /// 412: stale `_last_modified`; re-read and retry.
    PreconditionFailed,
    /// 400 `Config Operations can be done ONLY on leader`: pause writes, re-check leadership.
    NotLeader,
    /// 400 `GSLB system is in maintenance mode.`: back off.
    Maintenance,
    /// Any other 4xx: the payload is wrong; no retry, report it.
    Rejected,
    /// The controller answered 2xx with a body that is not what the API promises.
    BadResponse,
}

impl AviErrorKind {
    /// The label of this kind in the `avi_write_errors` metric.
    pub fn class(&self) -> &'static str {
        match self {
            AviErrorKind::Transport => "transport",
            AviErrorKind::InvalidCredentials => "invalid_credentials",
            AviErrorKind::Unauthorized => "unauthorized",
            AviErrorKind::RateLimited { .. } => "rate_limited",
            AviErrorKind::Server => "server",
            AviErrorKind::Conflict => "conflict",
            AviErrorKind::NotFound => "not_found",
            AviErrorKind::PreconditionFailed => "precondition_failed",
            AviErrorKind::NotLeader => "not_leader",
            AviErrorKind::Maintenance => "maintenance",
            AviErrorKind::Rejected => "rejected",
            AviErrorKind::BadResponse => "bad_response",
        }
    }

    /// The controller could not be reached or failed on its side: it is unreachable for now,
    /// whatever was asked of it.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, AviErrorKind::Transport | AviErrorKind::Server)
    }
}

/// A failed controller call: the request, the classification and the controller's message.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{method} {path}: {message}")]
pub struct AviError {
    pub kind: AviErrorKind,
    pub method: String,
    pub path: String,
    pub status: Option<u16>,
    pub message: String,
}

impl AviError {
    pub(crate) fn transport(method: &str, path: &str, err: &reqwest::Error) -> Self {
        // reqwest's Display can include the URL but never credentials (they travel in a body).
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(inner) = source {
            message.push_str(": ");
            message.push_str(&inner.to_string());
            source = inner.source();
        }
        AviError {
            kind: AviErrorKind::Transport,
            method: method.to_owned(),
            path: path.to_owned(),
            status: None,
            message,
        }
    }

    /// Classifies a non-2xx answer from the status and the controller's message.
    pub(crate) fn from_status(
        method: &str,
        path: &str,
        status: u16,
        body: &str,
        retry_after: Option<Duration>,
    ) -> Self {
        let message = error_message(body, status);
        let kind = match status {
            401 | 419 if message.contains("Invalid credentials") => {
                AviErrorKind::InvalidCredentials
            }
            401 | 419 => AviErrorKind::Unauthorized,
            404 => AviErrorKind::NotFound,
            409 => AviErrorKind::Conflict,
            412 => AviErrorKind::PreconditionFailed,
            429 => AviErrorKind::RateLimited { retry_after },
            400 if message.contains("ONLY on leader") => AviErrorKind::NotLeader,
            400 if message.to_ascii_lowercase().contains("maintenance mode") => {
                AviErrorKind::Maintenance
            }
            408 | 500..=599 => AviErrorKind::Server,
            _ => AviErrorKind::Rejected,
        };
        AviError {
            kind,
            method: method.to_owned(),
            path: path.to_owned(),
            status: Some(status),
            message: format!("HTTP {status}: {message}"),
        }
    }

    /// The controller refused a GslbService because another one holds one of its domain names
    /// (HTTP 400, not 409). It clears up once the other GslbService lets go of the name.
    pub fn is_domain_conflict(&self) -> bool {
        self.kind == AviErrorKind::Rejected
            && self
                .message
                .contains("domain name conflicting with existing domain name")
    }

    /// Worth retrying later without any change on our side.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            AviErrorKind::Transport
                | AviErrorKind::RateLimited { .. }
                | AviErrorKind::Server
                | AviErrorKind::Maintenance
                | AviErrorKind::Unauthorized
        )
    }
}

/// The controller's `{"error": "..."}` message, or the body text (the CSRF failure is plain text).
fn error_message(body: &str, status: u16) -> String {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(body)
        && let Some(text) = map
            .get("error")
            .or_else(|| map.get("detail"))
            .and_then(|v| v.as_str())
    {
        return text.to_owned();
    }
    let trimmed = body.trim();
    if trimmed.is_empty() {
        format!("no message (status {status})")
    } else {
        trimmed.chars().take(500).collect()
    }
}

/// The wait a `Retry-After` header asks for, when it is a number of seconds. Anything else (an
/// HTTP date, a negative or fractional number, a number too large for a `u64`) gives `None`, and
/// the caller waits its default; how long a wait may last at most is the caller's decision.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_nothing_else() {
        let cases = [
            ("7", Some(Duration::from_secs(7))),
            (" 7 ", Some(Duration::from_secs(7))),
            ("0", Some(Duration::ZERO)),
            ("18446744073709551615", Some(Duration::from_secs(u64::MAX))),
            ("18446744073709551616", None),
            ("-1", None),
            ("1.5", None),
            ("1e9", None),
            ("Wed, 21 Oct 2015 07:28:00 GMT", None),
            ("", None),
        ];
        for (header, wait) in cases {
            assert_eq!(parse_retry_after(header), wait, "{header:?}");
        }
    }

    #[test]
    fn classification_table() {
        let cases = [
            (
                401,
                r#"{"error": "Invalid credentials"}"#,
                AviErrorKind::InvalidCredentials,
            ),
            (
                401,
                "CSRF token missing or incorrect.",
                AviErrorKind::Unauthorized,
            ),
            (419, "", AviErrorKind::Unauthorized),
            (
                404,
                r#"{"error": "GslbService object not found!"}"#,
                AviErrorKind::NotFound,
            ),
            (
                409,
                r#"{"error": "already exists"}"#,
                AviErrorKind::Conflict,
            ),
            (
                412,
                r#"{"error": "Need to reload object data GslbService"}"#,
                AviErrorKind::PreconditionFailed,
            ),
            (
                400,
                r#"{"error": "Config Operations can be done ONLY on leader"}"#,
                AviErrorKind::NotLeader,
            ),
            (
                400,
                r#"{"error": "GSLB system is in maintenance mode."}"#,
                AviErrorKind::Maintenance,
            ),
            (
                400,
                r#"{"error": "ratio must be between 1 and 20"}"#,
                AviErrorKind::Rejected,
            ),
            (503, "", AviErrorKind::Server),
            (
                429,
                "",
                AviErrorKind::RateLimited {
                    retry_after: Some(Duration::from_secs(2)),
                },
            ),
        ];
        for (status, body, kind) in cases {
            let err = AviError::from_status(
                "PUT",
                "/api/gslbservice/x",
                status,
                body,
                Some(Duration::from_secs(2)),
            );
            assert_eq!(err.kind, kind, "{status} {body}");
        }
        let err = AviError::from_status(
            "POST",
            "/api/gslbservice",
            400,
            r#"{"error": "bad ttl"}"#,
            None,
        );
        assert_eq!(err.to_string(), "POST /api/gslbservice: HTTP 400: bad ttl");
        assert!(!err.is_retryable());
        assert!(!err.is_domain_conflict());
        let conflict = AviError::from_status(
            "PUT",
            "/api/gslbservice/x",
            400,
            r#"{"error": "domain name conflicting with existing domain name b.example.com in GslbService b.example.com"}"#,
            None,
        );
        assert!(conflict.is_domain_conflict());
    }
}
