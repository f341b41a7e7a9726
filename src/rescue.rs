//! The one place errors become HTTP responses. Every error body carries a
//! stable code and the request id, and never a value from a request or a record.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde_json::json;

use crate::authenticate::Unauthenticated;
use crate::policy::QueryRefused;
use crate::route::PathRejected;
use crate::token::TokenRefused;
use crate::transform::BodyRejected;
use crate::upstream::UpstreamError;

/// Why a request got no upstream answer.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// No valid agent token.
    #[error(transparent)]
    Unauthenticated(#[from] Unauthenticated),
    /// The client certificate does not belong to the token's vendor.
    #[error("client certificate does not match the token's vendor")]
    VendorMismatch,
    /// The path could be read two ways.
    #[error("request path refused: {0}")]
    BadPath(#[from] PathRejected),
    /// Host and the request target (or `:authority`) disagree.
    #[error("Host and request target disagree")]
    AuthorityMismatch,
    /// No policy route names this path.
    #[error("no route")]
    RouteNotFound,
    /// A route names this path, but not for this method.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// The route's query rules refuse the request's query.
    #[error(transparent)]
    QueryRefused(#[from] QueryRefused),
    /// The agent sent a token it may not use.
    #[error(transparent)]
    TokenRefused(#[from] TokenRefused),
    /// The request body is over the limit.
    #[error("request body too large")]
    RequestTooLarge,
    /// The request body did not arrive in time.
    #[error("request body timed out")]
    RequestTimeout,
    /// The request body could not be read or is not acceptable.
    #[error("request body is not acceptable")]
    RequestBodyInvalid,
    /// The agent's own token in a body that is not JSON: how the upstream
    /// decodes such a body (escapes, percent-encoding, entities) is unknown,
    /// so a value swapped in could be read glued to what follows it.
    #[error("tokens are swapped back only in a JSON body (Content-Type: application/json), a path or a query")]
    TokenOutsideJson,
    /// The agent's own token on a route no policy names: its answer is not
    /// judged, so the value swapped in could come back in clear.
    #[error("tokens are swapped back only on routes a policy names")]
    TokenOnUnjudgedRoute,
    /// `X-Ticket-Id` twice, not text, empty, or not a plain id.
    #[error("X-Ticket-Id must be one plain ticket id (1-128 of A-Z a-z 0-9 - _ .)")]
    TicketIdInvalid,
    /// The upstream did not answer usably.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The upstream answer cannot be judged by policy, so it is not shown.
    #[error("upstream response refused: {0}")]
    UnsafeResponse(#[from] UnsafeResponse),
    /// The upstream answered with an error status; its body is not shown.
    #[error("upstream answered {0}")]
    UpstreamStatus(StatusCode),
    /// The ledger cannot make the disclosure durable, so nothing is disclosed.
    #[error("disclosure ledger unavailable")]
    LedgerUnavailable,
}

/// Why a policy route's upstream response is withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeResponse {
    /// Not `application/json` or `+json`.
    #[error("not JSON")]
    NotJson,
    /// A content encoding other than identity.
    #[error("compressed")]
    Compressed,
    /// Over the response body limit.
    #[error("too large")]
    TooLarge,
    /// Did not parse, or nested too deep.
    #[error("{0}")]
    Body(#[from] BodyRejected),
}

impl ProxyError {
    /// Status and stable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use ProxyError::*;
        match self {
            Unauthenticated(e) => (StatusCode::UNAUTHORIZED, e.code()),
            VendorMismatch => (StatusCode::FORBIDDEN, "client-cert-vendor-mismatch"),
            BadPath(_) => (StatusCode::BAD_REQUEST, "bad-path"),
            AuthorityMismatch => (StatusCode::BAD_REQUEST, "authority-mismatch"),
            RouteNotFound => (StatusCode::NOT_FOUND, "route-not-found"),
            MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed"),
            QueryRefused(e) => (StatusCode::BAD_REQUEST, e.code()),
            TokenRefused(e) => (StatusCode::FORBIDDEN, e.code()),
            RequestTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "request-too-large"),
            RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "request-timeout"),
            RequestBodyInvalid => (StatusCode::BAD_REQUEST, "request-body-invalid"),
            TokenOutsideJson => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "token-outside-json"),
            TokenOnUnjudgedRoute => (StatusCode::FORBIDDEN, "token-on-unjudged-route"),
            TicketIdInvalid => (StatusCode::BAD_REQUEST, "ticket-id-invalid"),
            Upstream(UpstreamError::Timeout) => (StatusCode::GATEWAY_TIMEOUT, "upstream-timeout"),
            Upstream(UpstreamError::Unreachable) => {
                (StatusCode::BAD_GATEWAY, "upstream-unreachable")
            }
            Upstream(UpstreamError::Truncated) => (StatusCode::BAD_GATEWAY, "upstream-truncated"),
            Upstream(UpstreamError::Busy) => (StatusCode::SERVICE_UNAVAILABLE, "upstream-busy"),
            Upstream(UpstreamError::OverBudget) => {
                (StatusCode::SERVICE_UNAVAILABLE, "response-budget-exhausted")
            }
            UnsafeResponse(u) => (StatusCode::BAD_GATEWAY, u.code()),
            UpstreamStatus(s) if s.is_client_error() => (*s, "upstream-status"),
            UpstreamStatus(_) => (StatusCode::BAD_GATEWAY, "upstream-status"),
            LedgerUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "ledger-unavailable"),
        }
    }
}

impl UnsafeResponse {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotJson => "response-not-json",
            Self::Compressed => "response-compressed",
            Self::TooLarge => "response-too-large",
            Self::Body(BodyRejected::TooDeep) => "response-too-deep",
            Self::Body(BodyRejected::Invalid) => "response-invalid-json",
        }
    }
}

/// The error response for `err`.
pub fn respond(err: &ProxyError, request_id: &str) -> Response<Full<Bytes>> {
    let (status, code) = err.status_and_code();
    error_response(status, code, &err.to_string(), request_id)
}

/// A JSON error response with Keyhole's headers.
pub fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
    request_id: &str,
) -> Response<Full<Bytes>> {
    let body = json!({ "error": { "code": code, "message": message, "request_id": request_id } });
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    json_headers(headers, request_id);
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer"),
        );
    }
    resp
}

/// The headers every JSON answer Keyhole writes carries: a JSON type that is not
/// sniffed, no caching of what may be customer data, and the request id.
pub fn json_headers(headers: &mut http::HeaderMap, request_id: &str) {
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("keyhole-request-id", v);
    }
}
