//! Helpers for the hostile-input suite: an entitlement-aware leak oracle, a raw
//! TLS client that sends bytes no HTTP library would, and a scripted upstream
//! that misbehaves on cue.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use keyhole::demo::data::{Customer, DataSet};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;

/// What a sensitive value is, which decides the ticket categories that justify it
/// (as the demo's `customer-records` policy says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Email,
    Phone,
    Street,
    PostalCode,
    ServiceTag,
    ExpressCode,
    Notes,
}

impl Class {
    /// Categories whose live ticket reveals this class for the ticket's own customer.
    pub fn justified_by(self) -> &'static [&'static str] {
        match self {
            Class::Email => &["account"],
            Class::Phone | Class::Street | Class::PostalCode => &["dispatch"],
            Class::ServiceTag => &["hardware", "warranty"],
            Class::ExpressCode | Class::Notes => &["hardware"],
        }
    }
}

/// One true sensitive value of the data set.
#[derive(Debug, Clone)]
pub struct Secret {
    /// Whose it is.
    pub customer: String,
    /// What it is.
    pub class: Class,
    /// The value as the upstream holds it.
    pub value: String,
}

/// A live ticket the request was entitled to use: its customer and category.
#[derive(Debug, Clone)]
pub struct Grant {
    pub customer: String,
    pub category: String,
}

impl Grant {
    pub fn new(customer: &str, category: &str) -> Grant {
        Grant {
            customer: customer.to_string(),
            category: category.to_string(),
        }
    }

    fn allows(&self, secret: &Secret) -> bool {
        secret.customer == self.customer && secret.class.justified_by().contains(&&*self.category)
    }
}

/// Knows every sensitive value of a data set and what a grant entitles.
#[derive(Debug, Clone)]
pub struct Oracle {
    pub secrets: Vec<Secret>,
}

impl Oracle {
    /// Every email, phone, street, postal code, tag, express code and note, plus the
    /// tag- and phone-shaped words quoted inside notes.
    pub fn new(data: &DataSet) -> Oracle {
        let mut secrets = Vec::new();
        for c in &data.customers {
            secrets.extend(customer_secrets(c));
        }
        Oracle { secrets }
    }

    /// The secrets of one customer only (for upstream fakes built from one record).
    pub fn of(customer: &Customer) -> Oracle {
        Oracle {
            secrets: customer_secrets(customer),
        }
    }

    /// Adds an extra value that must never be shown (a marker planted by a test).
    pub fn with(mut self, customer: &str, class: Class, value: &str) -> Oracle {
        self.secrets.push(Secret {
            customer: customer.to_string(),
            class,
            value: value.to_string(),
        });
        self
    }

    /// The forbidden strings (with variants) for a request holding `grant`.
    pub fn forbidden(&self, grant: Option<&Grant>) -> Vec<(String, String)> {
        // A value the grant reveals is allowed wherever it appears: templated
        // notes, for one, can be word for word the same in two customers' records.
        let allowed: Vec<&str> = self
            .secrets
            .iter()
            .filter(|s| grant.is_some_and(|g| g.allows(s)))
            .map(|s| s.value.as_str())
            .collect();
        self.secrets
            .iter()
            .filter(|s| !allowed.contains(&s.value.as_str()))
            .filter(|s| s.value.chars().count() >= 5)
            .flat_map(|s| {
                variants(&s.value)
                    .into_iter()
                    .map(move |v| (v, format!("{:?} of {}", s.class, s.customer)))
            })
            .collect()
    }

    /// What leaked in `bytes` for a request holding `grant` (empty when clean).
    pub fn leaks(&self, bytes: &[u8], grant: Option<&Grant>) -> Vec<String> {
        let text = String::from_utf8_lossy(bytes);
        let mut found: Vec<String> = self
            .forbidden(grant)
            .into_iter()
            .filter(|(v, _)| text.contains(v.as_str()))
            .map(|(v, what)| format!("{what}: {v:?}"))
            .collect();
        found.dedup();
        found
    }

    /// Fails the test naming each leak with a little context (synthetic data, fine to print).
    pub fn assert_clean(&self, bytes: &[u8], grant: Option<&Grant>, case: &str) {
        let found = self.leaks(bytes, grant);
        if found.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(bytes);
        let context: Vec<String> = self
            .forbidden(grant)
            .into_iter()
            .filter_map(|(v, _)| text.find(v.as_str()))
            .map(|at| {
                let mut start = at.saturating_sub(60);
                while !text.is_char_boundary(start) {
                    start -= 1;
                }
                let mut end = (at + 80).min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                text[start..end].to_string()
            })
            .take(3)
            .collect();
        panic!("{case}: leaked {found:?}; around: {context:#?}");
    }
}

fn customer_secrets(c: &Customer) -> Vec<Secret> {
    let mut out = Vec::new();
    let mut push = |class, value: &str| {
        out.push(Secret {
            customer: c.id.clone(),
            class,
            value: value.to_string(),
        })
    };
    push(Class::Email, &c.email);
    push(Class::Phone, &c.phone);
    push(Class::Street, &c.address.street);
    push(Class::PostalCode, &c.address.postal_code);
    for d in &c.devices {
        push(Class::ServiceTag, &d.service_tag);
        push(Class::ExpressCode, &d.express_service_code);
    }
    for case in &c.service_history {
        push(Class::Notes, &case.notes);
    }
    out
}

/// Forms a value can take on its way out: case, spacing, digits only, base64 (of
/// the value and of its JSON string, at every alignment), percent- and JSON-escaping.
pub fn variants(value: &str) -> Vec<String> {
    let mut out = vec![
        value.to_string(),
        value.to_lowercase(),
        value.to_uppercase(),
    ];
    let spaced: String = value.chars().flat_map(|c| [c, ' ']).collect();
    out.push(spaced.trim_end().to_string());
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 7 && digits.len() != value.len() {
        out.push(digits);
    }
    let json = serde_json::to_string(value).unwrap_or_default();
    for raw in [value.to_string(), json.clone()] {
        out.extend(base64_cores(raw.as_bytes()));
    }
    out.push(json.trim_matches('"').to_string());
    let escaped: String = value
        .encode_utf16()
        .map(|u| format!("\\u{u:04x}"))
        .collect();
    out.push(escaped);
    let pct: String =
        percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).collect();
    out.push(pct);
    out.push(hex::encode(value));
    out.retain(|v| v.len() >= 5);
    out.sort();
    out.dedup();
    out
}

/// The base64 text that encodes `raw` whatever its offset in a larger encoded
/// blob: for each alignment, the characters that depend only on `raw`'s bytes.
fn base64_cores(raw: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for engine in [
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        out.push(engine.encode(raw));
        for pad in 1..3usize {
            let mut shifted = vec![0u8; pad];
            shifted.extend_from_slice(raw);
            let enc = engine.encode(&shifted);
            // The first 4 characters mix in the padding; the last 4 may mix in what follows.
            if enc.len() > 12 {
                out.push(enc[4..enc.len() - 4].to_string());
            }
        }
        if raw.len() > 6 {
            let enc = engine.encode(raw);
            out.push(enc[..enc.len() - 4].to_string());
        }
    }
    out.retain(|v| v.len() >= 8);
    out
}

/// Opens a TLS connection to the gateway trusting the demo CA, offering `alpn`.
pub async fn tls_connect(addr: SocketAddr, ca: &Path, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    let mut config = crate::support::client::tls_config(ca, false, None);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("127.0.0.1").expect("name");
    connector.connect(name, tcp).await.expect("tls handshake")
}

/// Generous bound for waits that must end on their own; never a timing assertion.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Reads until the peer closes (or `PATIENCE` runs out, reported as not closed).
pub async fn read_to_close(stream: &mut TlsStream<TcpStream>) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout(PATIENCE, stream.read(&mut buf)).await {
            Err(_) => return (out, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends raw bytes on a fresh HTTP/1.1 TLS connection and reads until it closes.
pub async fn raw_h1(addr: SocketAddr, ca: &Path, request: &[u8]) -> Vec<u8> {
    let mut stream = tls_connect(addr, ca, &[b"http/1.1"]).await;
    stream.write_all(request).await.expect("write");
    let (bytes, closed) = read_to_close(&mut stream).await;
    assert!(closed, "the gateway must end the exchange");
    bytes
}

/// Status codes of every HTTP/1.1 response in `bytes`, in order.
pub fn statuses(bytes: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(bytes);
    text.match_indices("HTTP/1.1 ")
        .filter(|(i, _)| *i == 0 || text[..*i].ends_with('\n') || text[..*i].ends_with('}'))
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

/// The Keyhole error code in the first response body, if any.
pub fn error_code(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let start = text.find("{\"error\"")?;
    let body: serde_json::Value = serde_json::Deserializer::from_str(&text[start..])
        .into_iter()
        .next()?
        .ok()?;
    body["error"]["code"].as_str().map(str::to_string)
}

/// A GET of `target` that announces a two-byte JSON body and sends its first
/// byte only: the gateway has the request and waits for the rest, which
/// [`release`] sends. Holds a request open across a change, as a slow client can.
pub async fn held_get(
    addr: SocketAddr,
    ca: &Path,
    target: &str,
    headers: &[(&str, &str)],
) -> TlsStream<TcpStream> {
    let mut headers = headers.to_vec();
    headers.extend([
        ("content-type", "application/json"),
        ("content-length", "2"),
    ]);
    let head = request("GET", target, &addr.to_string(), &headers);
    let mut stream = tls_connect(addr, ca, &[b"http/1.1"]).await;
    stream.write_all(&head).await.expect("head");
    stream.write_all(b"{").await.expect("first byte");
    stream.flush().await.expect("flush");
    stream
}

/// Sends the rest of a [`held_get`]'s body and reads the answer to the end.
pub async fn release(mut stream: TlsStream<TcpStream>) -> Vec<u8> {
    stream.write_all(b"}").await.expect("last byte");
    read_to_close(&mut stream).await.0
}

/// An HTTP/1.1 request head with `Connection: close`, for raw sockets.
pub fn request(method: &str, target: &str, host: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// One step of a scripted upstream connection.
#[derive(Clone)]
pub enum Step {
    /// Read one request (head and `content-length` body) and record its head.
    Read,
    /// Write these bytes.
    Write(Vec<u8>),
    /// Wait.
    Sleep(Duration),
    /// Wait until the test says go.
    Until(Arc<tokio::sync::Notify>),
}

/// An upstream that plays a script per connection; connection `n` gets `script(n)`,
/// and the connection is closed when the script ends.
#[derive(Clone)]
pub struct Scripted {
    /// Where it listens.
    pub addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Scripted {
    pub async fn start(script: impl Fn(usize) -> Vec<Step> + Send + Sync + 'static) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let heads = Arc::new(Mutex::new(Vec::new()));
        let recorded = heads.clone();
        let script = Arc::new(script);
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((stream, _)) = listener.accept().await {
                let steps = script(n);
                n += 1;
                tokio::spawn(play(stream, steps, recorded.clone()));
            }
        });
        Scripted { addr, heads }
    }

    /// `http://addr`, for `upstream.url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Request heads received, in order.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("lock").clone()
    }
}

async fn play(mut stream: TcpStream, steps: Vec<Step>, heads: Arc<Mutex<Vec<String>>>) {
    let mut pending = Vec::new();
    for step in steps {
        match step {
            Step::Read => match read_head(&mut stream, &mut pending).await {
                Some(head) => heads.lock().expect("lock").push(head),
                None => return,
            },
            Step::Write(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Step::Sleep(d) => tokio::time::sleep(d).await,
            Step::Until(go) => go.notified().await,
        }
    }
    let _ = stream.shutdown().await;
}

async fn read_head(stream: &mut TcpStream, pending: &mut Vec<u8>) -> Option<String> {
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        pending.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&pending[..end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while pending.len() < end + len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        pending.extend_from_slice(&chunk[..n]);
    }
    pending.drain(..end + len);
    Some(head)
}

/// A raw HTTP/1.1 response that keeps the connection open (`content-length` framed).
pub fn keep_alive(status: u16, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// The upstream's JSON for one customer, as the sample API would serve it.
pub fn record_json(customer: &Customer) -> String {
    serde_json::to_string(customer).expect("json")
}

/// The same record as a JSON value, to edit before an upstream serves it.
pub fn record_value(customer: &Customer) -> serde_json::Value {
    serde_json::from_str(&record_json(customer)).expect("json")
}
