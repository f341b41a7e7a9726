//! The request filter: checks and rewrites on the way in, before anything is sent upstream.

use bytes::Bytes;
use http::request::Parts;

use crate::rescue::ProxyError;
use crate::route::CanonicalPath;
use crate::token::{Holder, TokenVault};

/// Refuses requests whose `Host` and target authority (or `:authority`) disagree, or that carry two `Host`s.
pub fn check_authority(parts: &Parts) -> Result<(), ProxyError> {
    let mut hosts = parts.headers.get_all(http::header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(ProxyError::AuthorityMismatch);
    }
    match (parts.uri.authority(), host) {
        (Some(auth), Some(host))
            if !auth
                .as_str()
                .eq_ignore_ascii_case(host.to_str().unwrap_or("")) =>
        {
            Err(ProxyError::AuthorityMismatch)
        }
        _ => Ok(()),
    }
}

/// The single `X-Ticket-Id`, if any; two are refused rather than guessed between.
pub fn ticket_id(parts: &Parts) -> Result<Option<String>, ProxyError> {
    let mut values = parts.headers.get_all("x-ticket-id").iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(ProxyError::TicketIdInvalid);
    }
    match first {
        None => Ok(None),
        Some(v) => {
            let id = v.to_str().map_err(|_| ProxyError::TicketIdInvalid)?.trim();
            let sane = !id.is_empty()
                && id.len() <= 128
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if sane {
                Ok(Some(id.to_string()))
            } else {
                Err(ProxyError::TicketIdInvalid)
            }
        }
    }
}

/// Swaps the agent's own tokens in path segments for their values.
pub fn detokenize_path(
    vault: &TokenVault,
    holder: &Holder<'_>,
    mut path: CanonicalPath,
) -> Result<CanonicalPath, ProxyError> {
    for segment in &mut path.segments {
        if let Some(clear) = vault.detokenize_text(holder, segment)? {
            *segment = clear;
        }
    }
    Ok(path)
}

/// Swaps tokens in the query string, re-encoding the clear values.
pub fn detokenize_query(
    vault: &TokenVault,
    holder: &Holder<'_>,
    query: Option<&str>,
) -> Result<Option<String>, ProxyError> {
    let Some(query) = query else { return Ok(None) };
    if query.chars().any(|c| c.is_control()) {
        return Err(ProxyError::RequestBodyInvalid);
    }
    let mut out = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        // Decoded as the upstream reads a form (`+` is a space), so a value
        // rewritten around a token keeps its spaces as spaces.
        let decoded = String::from_utf8(crate::route::form_decoded(value))
            .map_err(|_| ProxyError::RequestBodyInvalid)?;
        match vault.detokenize_text(holder, &decoded)? {
            Some(clear) => {
                let encoded: String = percent_encoding::utf8_percent_encode(
                    &clear,
                    percent_encoding::NON_ALPHANUMERIC,
                )
                .collect();
                out.push(format!("{key}={encoded}"));
            }
            None => out.push(pair.to_string()),
        }
    }
    Ok(Some(out.join("&")))
}

/// Swaps the agent's tokens in a JSON request body, inside every string.
///
/// A body of any other type is forwarded as it is, and refused if it holds
/// the agent's own token: the upstream may read it through escapes Keyhole
/// does not know (`tok_…\u0041` is JSON for the token glued to an `A`, which
/// a raw-text swap would leave for the upstream to glue to the clear value,
/// where no detector sees it). Another agent's token is refused either way.
pub fn detokenize_body(
    vault: &TokenVault,
    holder: &Holder<'_>,
    content_type: Option<&str>,
    body: Bytes,
    max_depth: usize,
) -> Result<Bytes, ProxyError> {
    if body.is_empty() {
        return Ok(body);
    }
    if content_type.is_some_and(is_json) {
        // A member named twice: only the copy the parser below keeps would be
        // searched for tokens, while the upstream may read the other.
        let members = crate::transform::parse_document(&body, max_depth)
            .map_err(|_| ProxyError::RequestBodyInvalid)?;
        if members.repeats_a_name() {
            return Err(ProxyError::RequestBodyInvalid);
        }
        let mut doc = crate::transform::parse_json(&body, max_depth)
            .map_err(|_| ProxyError::RequestBodyInvalid)?;
        if vault.detokenize_json(holder, &mut doc)? == 0 {
            return Ok(body);
        }
        let bytes = serde_json::to_vec(&doc).map_err(|_| ProxyError::RequestBodyInvalid)?;
        return Ok(Bytes::from(bytes));
    }
    let text = String::from_utf8_lossy(&body);
    match vault.detokenize_text(holder, &text)? {
        Some(_) => Err(ProxyError::TokenOutsideJson),
        None => Ok(body),
    }
}

/// `application/json` or any `+json` type, parameters ignored.
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}
