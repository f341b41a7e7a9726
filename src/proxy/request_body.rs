//! Reading the agent's request body under the size limit and the body timeout.
//!
//! A body over the limit is refused with 413, and the refusal has to reach
//! the client. Over HTTP/1.1 with `Expect: 100-continue` that means answering
//! before a byte is read, so the client is never invited to send. Otherwise
//! the client is already sending: dropping the body mid-stream makes HTTP/2
//! reset the stream (curl then reports a framing error, not the 413) and
//! HTTP/1.1 close under the client's writes. So the rest is read and thrown
//! away in the background, within the body's own deadline and a byte bound,
//! while the 413 goes out.

use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use tokio::time::Instant;

use crate::config::Limits;
use crate::rescue::ProxyError;

/// Bytes of a refused body read and discarded before it is dropped anyway.
const DISCARD_LIMIT: u64 = 16 * 1024 * 1024;

/// The whole body, at most `limits.max_request_bytes`, within the body timeout.
pub async fn read_body(
    parts: &Parts,
    mut body: Incoming,
    limits: &Limits,
) -> Result<Bytes, ProxyError> {
    let max = limits.max_request_bytes;
    let deadline = Instant::now() + Duration::from_millis(limits.body_read_timeout_ms);
    let declared = body.size_hint().lower();
    if usize::try_from(declared).map_or(true, |n| n > max) {
        // Nothing was read, so a client waiting for `100 Continue` sends nothing.
        if !expects_continue(parts) {
            tokio::spawn(discard(body, deadline));
        }
        return Err(ProxyError::RequestTooLarge);
    }
    let read = match tokio::time::timeout_at(deadline, collect(&mut body, max)).await {
        Ok(read) => read,
        Err(_) => Err(ProxyError::RequestTimeout),
    };
    // Reading has begun (and answered any `Expect`): the client is sending.
    if matches!(read, Err(ProxyError::RequestTooLarge)) {
        tokio::spawn(discard(body, deadline));
    }
    read
}

/// The body's data under `max` bytes. The limit wraps a borrow of the body,
/// so a refused body is still there to be discarded.
async fn collect(body: &mut Incoming, max: usize) -> Result<Bytes, ProxyError> {
    match http_body_util::Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ProxyError::RequestTooLarge),
        Err(_) => Err(ProxyError::RequestBodyInvalid),
    }
}

/// Reads and drops what the client still sends of a refused body, up to
/// [`DISCARD_LIMIT`] bytes or the body's own `deadline`, so its stream ends normally.
async fn discard(mut body: Incoming, deadline: Instant) {
    let drain = async {
        let mut seen = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |d| d.len() as u64);
            if seen > DISCARD_LIMIT {
                break;
            }
        }
    };
    let _ = tokio::time::timeout_at(deadline, drain).await;
}

/// Whether the client waits for `100 Continue` before sending the body.
fn expects_continue(parts: &Parts) -> bool {
    parts
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}
