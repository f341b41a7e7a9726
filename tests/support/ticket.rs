//! Helpers for the ticket integration tests: a tiny ticketing API on a loopback
//! socket, ticket fixtures, files and signed webhook deliveries.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use keyhole::ticket::{sign_webhook, Ticket, TicketStatus, SIGNATURE_HEADER};
use tokio::net::TcpListener;

/// Shared webhook secret used by the tests.
pub const SECRET: &str = "test-webhook-secret-0123456789abcdef";

/// A ticket for `customer_id` C-1 in category `hardware`, without expiry.
pub fn ticket(id: &str, status: TicketStatus, assignee: &str) -> Ticket {
    Ticket {
        id: id.into(),
        status,
        assignee: assignee.into(),
        customer_id: "C-1".into(),
        category: "hardware".into(),
        expires_at: None,
    }
}

/// Writes `tickets` as a JSON list by writing a sibling file and renaming it over
/// `path`, the way an operator's tooling replaces the file.
pub fn write_tickets(path: &Path, tickets: &[Ticket]) {
    let text = serde_json::to_string_pretty(tickets).unwrap();
    write_atomically(path, &text);
}

/// Replaces `path` with `text` through a rename.
pub fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Writes the shared secret and returns its path.
pub fn write_secret(dir: &Path) -> PathBuf {
    let path = dir.join("webhook.secret");
    std::fs::write(&path, format!("{SECRET}\n")).unwrap();
    path
}

/// Headers carrying a valid signature of `body`.
pub fn signed_headers(body: &[u8]) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    let value = sign_webhook(SECRET.as_bytes(), body);
    headers.insert(SIGNATURE_HEADER, value.parse().unwrap());
    headers
}

/// An `upsert` delivery body.
pub fn upsert_body(ticket: &Ticket, sent_at: i64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "event": "upsert", "sent_at": sent_at, "ticket": ticket,
    }))
    .unwrap()
}

/// A `close` or `delete` delivery body.
pub fn id_body(event: &str, id: &str, sent_at: i64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "event": event, "sent_at": sent_at, "id": id }))
        .unwrap()
}

/// Polls `check` until it returns true, failing the test after a generous deadline
/// (background reloads and cache expiry are asynchronous by design).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How the fake API answers one id.
#[derive(Clone)]
pub enum Reply {
    /// `200` with this JSON body.
    Json(String),
    /// A bare status.
    Status(StatusCode),
}

/// A fake ticketing API: answers `GET /tickets/<id>` from a table it can edit.
#[derive(Clone, Default)]
pub struct FakeApi {
    replies: Arc<Mutex<HashMap<String, Reply>>>,
    paths: Arc<Mutex<Vec<String>>>,
    auth: Arc<Mutex<Vec<Option<String>>>>,
    hits: Arc<AtomicUsize>,
    delay: Arc<Mutex<Option<Duration>>>,
}

impl FakeApi {
    /// Starts serving on 127.0.0.1:0; returns the base URL `http://addr/tickets`.
    pub async fn start(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let api = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let api = api.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| api.clone().answer(req));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        format!("http://{addr}/tickets")
    }

    async fn answer(self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        self.hits.fetch_add(1, Ordering::SeqCst);
        let path = req.uri().path().to_owned();
        self.paths.lock().unwrap().push(path.clone());
        let auth = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_owned());
        self.auth.lock().unwrap().push(auth);
        let delay = *self.delay.lock().unwrap();
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let id = path.strip_prefix("/tickets/").unwrap_or_default();
        let reply = self.replies.lock().unwrap().get(id).cloned();
        let (status, body) = match reply {
            Some(Reply::Json(body)) => (StatusCode::OK, body),
            Some(Reply::Status(status)) => (status, String::new()),
            None => (StatusCode::NOT_FOUND, String::new()),
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        Ok(response)
    }

    /// Serves `ticket` under its own id.
    pub fn serve(&self, ticket: &Ticket) {
        let body = serde_json::to_string(ticket).unwrap();
        self.reply(&ticket.id, Reply::Json(body));
    }

    /// Sets the answer for the raw (still percent-encoded) path segment `id`.
    pub fn reply(&self, id: &str, reply: Reply) {
        self.replies.lock().unwrap().insert(id.into(), reply);
    }

    /// Delays every answer by `delay`.
    pub fn slow_down(&self, delay: Duration) {
        *self.delay.lock().unwrap() = Some(delay);
    }

    /// How many requests reached the API.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The request paths seen, in order.
    pub fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }

    /// The `Authorization` headers seen, in order.
    pub fn auth(&self) -> Vec<Option<String>> {
        self.auth.lock().unwrap().clone()
    }
}
