//! The signed webhook through which the ticketing system pushes ticket changes.
//!
//! A delivery is a `POST` on the admin listener whose body is one JSON event:
//!
//! ```json
//! {"event": "upsert", "sent_at": 1767225600, "ticket": {"id": "T-1", "status": "open", "assignee": "alice", "customer_id": "C-1", "category": "hardware", "expires_at": null}}
//! {"event": "close",  "sent_at": 1767225660, "id": "T-1"}
//! {"event": "delete", "sent_at": 1767225720, "id": "T-1"}
//! ```
//!
//! `upsert` carries the full ticket and covers creation, updates and reassignment;
//! `close` and `delete` name the ticket only. `sent_at` is the sender's clock in unix
//! seconds. The header `X-Keyhole-Signature: sha256=<hex>` carries the HMAC-SHA256 of
//! the raw body under the shared secret (see [`sign_webhook`]).
//!
//! A delivery is refused, changing nothing, when its signature is missing or wrong,
//! its `sent_at` is more than `webhook_max_skew_secs` from our clock, or the very same
//! signed body was already accepted within twice that window (a replay). Accepted
//! deliveries older than the last one applied to the same ticket are acknowledged
//! but ignored (see [`super::pushed`]).

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ring::hmac;

use super::pushed::Change;
use super::secret;
use super::{Ticket, TicketSourceError};

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "x-keyhole-signature";

/// Largest delivery accepted; the admin listener should stop reading past it.
pub const WEBHOOK_MAX_BODY: usize = 64 * 1024;

/// Most signatures remembered for replay detection within the window.
const REPLAY_CAPACITY: u64 = 100_000;

/// Why a delivery was refused. Nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRefused {
    /// No webhook secret is configured, so no delivery can be trusted.
    #[error("the ticket webhook is disabled")]
    Disabled,
    /// The body is larger than [`WEBHOOK_MAX_BODY`].
    #[error("webhook body too large")]
    TooLarge,
    /// No `X-Keyhole-Signature` header.
    #[error("webhook signature missing")]
    MissingSignature,
    /// The header is not `sha256=<64 hex digits>`.
    #[error("webhook signature malformed")]
    MalformedSignature,
    /// The signature does not match the body under our secret.
    #[error("webhook signature does not match")]
    BadSignature,
    /// Signed correctly but not a valid event.
    #[error("webhook body is not a valid event")]
    MalformedBody,
    /// `sent_at` is too far from our clock.
    #[error("webhook timestamp outside the allowed skew")]
    StaleTimestamp,
    /// This exact signed body was already accepted.
    #[error("webhook delivery replayed")]
    Replayed,
}

impl WebhookRefused {
    /// A stable machine-readable code for the response body and logs.
    pub fn code(&self) -> &'static str {
        match self {
            WebhookRefused::Disabled => "webhook-disabled",
            WebhookRefused::TooLarge => "body-too-large",
            WebhookRefused::MissingSignature => "missing-signature",
            WebhookRefused::MalformedSignature => "malformed-signature",
            WebhookRefused::BadSignature => "bad-signature",
            WebhookRefused::MalformedBody => "malformed-body",
            WebhookRefused::StaleTimestamp => "stale-timestamp",
            WebhookRefused::Replayed => "replayed",
        }
    }

    /// The HTTP status the admin listener answers with.
    pub fn status(&self) -> http::StatusCode {
        match self {
            WebhookRefused::Disabled => http::StatusCode::NOT_FOUND,
            WebhookRefused::TooLarge => http::StatusCode::PAYLOAD_TOO_LARGE,
            WebhookRefused::MalformedBody => http::StatusCode::BAD_REQUEST,
            _ => http::StatusCode::UNAUTHORIZED,
        }
    }
}

/// Which kind of change a delivery carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookEventKind {
    /// Create, update or reassign.
    Upsert,
    /// Close.
    Close,
    /// Delete.
    Delete,
}

impl WebhookEventKind {
    /// The event name as it appears in the body.
    pub fn as_str(&self) -> &'static str {
        match self {
            WebhookEventKind::Upsert => "upsert",
            WebhookEventKind::Close => "close",
            WebhookEventKind::Delete => "delete",
        }
    }
}

/// A delivery that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAccepted {
    /// What the delivery asked for.
    pub kind: WebhookEventKind,
    /// The ticket it concerned.
    pub ticket_id: String,
    /// `false` when a newer delivery for the ticket had already been applied.
    pub applied: bool,
}

/// A verified event, ready to apply.
pub struct Event {
    /// What kind of change.
    pub kind: WebhookEventKind,
    /// The ticket concerned.
    pub id: String,
    /// The sender's timestamp, orders deliveries for one ticket.
    pub sent_at: i64,
    /// The change itself.
    pub change: Change,
}

#[derive(serde::Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum Body {
    Upsert { sent_at: i64, ticket: Ticket },
    Close { sent_at: i64, id: String },
    Delete { sent_at: i64, id: String },
}

/// Verifies deliveries against the shared secret and remembers recent signatures.
pub struct Webhook {
    mac: hmac::Key,
    max_skew_secs: u64,
    seen: moka::sync::Cache<[u8; 32], ()>,
}

impl Webhook {
    /// A verifier for `secret`, accepting `sent_at` within `max_skew_secs` of now.
    pub fn new(secret: &[u8], max_skew_secs: u64) -> Webhook {
        let mac = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let window = Duration::from_secs(max_skew_secs.saturating_mul(2));
        Webhook {
            mac,
            max_skew_secs,
            seen: moka::sync::Cache::builder()
                .max_capacity(REPLAY_CAPACITY)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .time_to_live(window)
                .build(),
        }
    }

    /// Reads the shared secret (text, surrounding whitespace ignored) from `path`.
    pub fn from_secret_file(path: &Path, max_skew_secs: u64) -> Result<Webhook, TicketSourceError> {
        let refuse = |reason: String| TicketSourceError::WebhookSecret {
            path: path.to_path_buf(),
            reason,
        };
        let secret = secret::read_secret_file(path).map_err(refuse)?;
        Ok(Webhook::new(secret.as_bytes(), max_skew_secs))
    }

    /// Checks signature, body, timestamp and replay, in that order.
    pub fn verify(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Event, WebhookRefused> {
        if body.len() > WEBHOOK_MAX_BODY {
            return Err(WebhookRefused::TooLarge);
        }
        let signature = signature(headers)?;
        hmac::verify(&self.mac, body, &signature).map_err(|_| WebhookRefused::BadSignature)?;
        let event = parse(body)?;
        if now.timestamp().abs_diff(event.sent_at) > self.max_skew_secs {
            return Err(WebhookRefused::StaleTimestamp);
        }
        // Inserting is the check: of two identical deliveries racing, one is fresh.
        if !self.seen.entry(signature).or_insert(()).is_fresh() {
            return Err(WebhookRefused::Replayed);
        }
        Ok(event)
    }
}

fn signature(headers: &http::HeaderMap) -> Result<[u8; 32], WebhookRefused> {
    let value = headers
        .get(SIGNATURE_HEADER)
        .ok_or(WebhookRefused::MissingSignature)?;
    let hex_digits = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().strip_prefix("sha256="))
        .ok_or(WebhookRefused::MalformedSignature)?;
    let mut signature = [0u8; 32];
    hex::decode_to_slice(hex_digits, &mut signature)
        .map_err(|_| WebhookRefused::MalformedSignature)?;
    Ok(signature)
}

fn parse(body: &[u8]) -> Result<Event, WebhookRefused> {
    let body: Body = serde_json::from_slice(body).map_err(|_| WebhookRefused::MalformedBody)?;
    let (kind, id, sent_at, change) = match body {
        Body::Upsert { sent_at, ticket } => (
            WebhookEventKind::Upsert,
            ticket.id.clone(),
            sent_at,
            Change::Upsert(ticket),
        ),
        Body::Close { sent_at, id } => (WebhookEventKind::Close, id, sent_at, Change::Close),
        Body::Delete { sent_at, id } => (WebhookEventKind::Delete, id, sent_at, Change::Delete),
    };
    if id.is_empty() {
        return Err(WebhookRefused::MalformedBody);
    }
    Ok(Event {
        kind,
        id,
        sent_at,
        change,
    })
}

/// The `X-Keyhole-Signature` value for `body` under `secret`: `sha256=<hex>`.
pub fn sign_webhook(secret: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    format!("sha256={}", hex::encode(hmac::sign(&key, body)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticket::TicketStatus;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600, 0).unwrap()
    }

    fn signed(body: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        let value = sign_webhook(SECRET, body.as_bytes());
        headers.insert(SIGNATURE_HEADER, value.parse().unwrap());
        headers
    }

    fn close_body(sent_at: i64) -> String {
        format!(r#"{{"event":"close","sent_at":{sent_at},"id":"T-1"}}"#)
    }

    fn hook() -> Webhook {
        Webhook::new(SECRET, 300)
    }

    #[test]
    fn a_signed_fresh_event_is_accepted() {
        let body = format!(
            r#"{{"event":"upsert","sent_at":{},"ticket":{{"id":"T-1","status":"open","assignee":"alice","customer_id":"C-1","category":"hardware","extra":1}}}}"#,
            now().timestamp()
        );
        let event = hook()
            .verify(&signed(&body), body.as_bytes(), now())
            .unwrap();
        assert_eq!(event.kind, WebhookEventKind::Upsert);
        assert_eq!(event.id, "T-1");
        let Change::Upsert(ticket) = event.change else {
            panic!("expected an upsert");
        };
        assert_eq!(ticket.status, TicketStatus::Open);
    }

    #[test]
    fn signature_problems_are_told_apart() {
        let body = close_body(now().timestamp());
        let hook = hook();
        let empty = http::HeaderMap::new();
        assert_eq!(
            hook.verify(&empty, body.as_bytes(), now()).err(),
            Some(WebhookRefused::MissingSignature)
        );
        let mut bad = http::HeaderMap::new();
        bad.insert(SIGNATURE_HEADER, "md5=abcd".parse().unwrap());
        assert_eq!(
            hook.verify(&bad, body.as_bytes(), now()).err(),
            Some(WebhookRefused::MalformedSignature)
        );
        let other = sign_webhook(b"another secret of enough length", body.as_bytes());
        bad.insert(SIGNATURE_HEADER, other.parse().unwrap());
        assert_eq!(
            hook.verify(&bad, body.as_bytes(), now()).err(),
            Some(WebhookRefused::BadSignature)
        );
    }

    #[test]
    fn a_tampered_body_fails_the_signature() {
        let body = close_body(now().timestamp());
        let headers = signed(&body);
        let tampered = body.replace("T-1", "T-2");
        assert_eq!(
            hook().verify(&headers, tampered.as_bytes(), now()).err(),
            Some(WebhookRefused::BadSignature)
        );
    }

    #[test]
    fn timestamps_outside_the_skew_are_stale_both_ways() {
        let hook = hook();
        for sent_at in [now().timestamp() - 301, now().timestamp() + 301] {
            let body = close_body(sent_at);
            assert_eq!(
                hook.verify(&signed(&body), body.as_bytes(), now()).err(),
                Some(WebhookRefused::StaleTimestamp)
            );
        }
        let edge = close_body(now().timestamp() - 300);
        assert!(hook.verify(&signed(&edge), edge.as_bytes(), now()).is_ok());
    }

    #[test]
    fn a_replay_is_refused() {
        let hook = hook();
        let body = close_body(now().timestamp());
        let headers = signed(&body);
        assert!(hook.verify(&headers, body.as_bytes(), now()).is_ok());
        assert_eq!(
            hook.verify(&headers, body.as_bytes(), now()).err(),
            Some(WebhookRefused::Replayed)
        );
    }

    #[test]
    fn signed_garbage_is_a_bad_request() {
        let hook = hook();
        for body in ["not json", r#"{"event":"reopen","sent_at":1,"id":"T-1"}"#] {
            let refused = hook.verify(&signed(body), body.as_bytes(), now()).err();
            assert_eq!(refused, Some(WebhookRefused::MalformedBody));
            assert_eq!(WebhookRefused::MalformedBody.status(), 400);
        }
        let empty_id = format!(
            r#"{{"event":"delete","sent_at":{},"id":""}}"#,
            now().timestamp()
        );
        assert_eq!(
            hook.verify(&signed(&empty_id), empty_id.as_bytes(), now())
                .err(),
            Some(WebhookRefused::MalformedBody)
        );
    }

    #[test]
    fn oversized_bodies_are_refused_before_hashing() {
        let body = vec![b' '; WEBHOOK_MAX_BODY + 1];
        let refused = hook().verify(&http::HeaderMap::new(), &body, now()).err();
        assert_eq!(refused, Some(WebhookRefused::TooLarge));
    }
}
