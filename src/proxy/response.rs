//! The response filter and the ledger phase: judge the upstream's answer,
//! make any disclosure durable, then build what the agent receives.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;

use crate::policy::Route;
use crate::rescue::{ProxyError, UnsafeResponse};
use crate::transform::{self, Judge, Outcome};

/// Refuses what the policy engine cannot fully understand, then transforms it.
pub fn filter(
    route: &Route,
    parts: &http::response::Parts,
    body: Option<Bytes>,
    judge: &Judge<'_>,
    max_depth: usize,
) -> Result<(Vec<u8>, Outcome), ProxyError> {
    if !parts.status.is_success() {
        return Err(ProxyError::UpstreamStatus(parts.status));
    }
    if parts.status == http::StatusCode::NO_CONTENT {
        // Nothing to judge; whatever bytes an upstream put after a 204 are not passed on.
        return Ok((Vec::new(), Outcome::default()));
    }
    let body = body.ok_or(UnsafeResponse::TooLarge)?;
    let encoding = parts.headers.get(http::header::CONTENT_ENCODING);
    if encoding.is_some_and(|e| !e.as_bytes().eq_ignore_ascii_case(b"identity")) {
        return Err(UnsafeResponse::Compressed.into());
    }
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !content_type.is_some_and(super::request::is_json) {
        return Err(UnsafeResponse::NotJson.into());
    }
    let mut doc = transform::parse_document(&body, max_depth).map_err(UnsafeResponse::Body)?;
    let outcome = transform::apply_document(route, &mut doc, judge);
    // A lookup found the one record by a value the agent is not shown: the
    // answer is the one a value that finds nothing gets, byte for byte.
    if route.single_record() && outcome.counts.hidden > 0 {
        return Err(ProxyError::UpstreamStatus(StatusCode::NOT_FOUND));
    }
    // Tokens are longer than what they replace, but most values pass or
    // shrink: the upstream's length is a close first guess that rarely regrows.
    let mut bytes = Vec::with_capacity(body.len() + body.len() / 4);
    doc.write_json(&mut bytes);
    Ok((bytes, outcome))
}

/// Headers Keyhole adds to a judged response.
#[derive(Default)]
pub struct Verdict {
    /// `Keyhole-Ticket`.
    pub ticket: Option<String>,
    /// `Keyhole-Disclosure`: the ledger record's sequence number.
    pub disclosure: Option<u64>,
    /// The budget stopped some disclosure.
    pub budget_exceeded: bool,
}

/// The agent's response for a judged body.
pub fn build(
    status: StatusCode,
    body: Vec<u8>,
    request_id: &str,
    verdict: &Verdict,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    crate::rescue::json_headers(h, request_id);
    if let Some(v) = verdict
        .ticket
        .as_deref()
        .and_then(|t| HeaderValue::from_str(t).ok())
    {
        h.insert("keyhole-ticket", v);
    }
    if let Some(seq) = verdict.disclosure {
        h.insert("keyhole-disclosure", HeaderValue::from(seq));
    }
    if verdict.budget_exceeded {
        h.insert("keyhole-budget", HeaderValue::from_static("exceeded"));
    }
    resp
}

/// A response forwarded untouched on a path no policy names (only with `unmatched = "pass"`).
pub fn passthrough(
    parts: http::response::Parts,
    body: Option<Bytes>,
    request_id: &str,
) -> Result<Response<Full<Bytes>>, ProxyError> {
    let body = body.ok_or(UnsafeResponse::TooLarge)?;
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = parts.status;
    for name in [http::header::CONTENT_TYPE, http::header::CONTENT_ENCODING] {
        if let Some(v) = parts.headers.get(&name) {
            resp.headers_mut().insert(name, v.clone());
        }
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("keyhole-request-id", v);
    }
    Ok(resp)
}
