//! Test upstreams: the real sample API behind a recorder that remembers every
//! request the gateway forwarded, or a raw-socket fake that can misbehave in
//! ways a well-behaved HTTP library would never allow.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use keyhole::demo::data::DataSet;

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

type RawResponder = Arc<dyn Fn(&Seen) -> Vec<u8> + Send + Sync>;

/// What the upstream does with a request.
#[derive(Clone)]
pub enum Behaviour {
    /// Forward to the sample API.
    Forward,
    /// Answer with these raw bytes (a whole HTTP/1.1 response, or a broken one), then close.
    Raw(RawResponder),
    /// Wait this long, then forward.
    Slow(Duration),
}

/// Remembers what the gateway sent upstream.
#[derive(Clone)]
pub struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// The recorder's address (the gateway's upstream).
    pub addr: SocketAddr,
}

impl Recorder {
    /// Starts serving on `listener`.
    pub fn start(listener: TcpListener, behaviour: Behaviour, sample_api: SocketAddr) -> Recorder {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let addr = listener.local_addr().expect("addr");
        let recorder = Recorder {
            seen: seen.clone(),
            addr,
        };
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let seen = seen.clone();
                let behaviour = behaviour.clone();
                tokio::spawn(async move {
                    let _ = serve_one(stream, behaviour, sample_api, seen).await;
                });
            }
        });
        recorder
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// How many requests reached the upstream.
    pub fn count(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 1 << 20 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_string(), first.next()?.to_string());
    let mut headers = HeaderMap::new();
    for line in lines {
        let (k, v) = line.split_once(':')?;
        headers.append(
            http::HeaderName::from_bytes(k.trim().as_bytes()).ok()?,
            http::HeaderValue::from_str(v.trim()).ok()?,
        );
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        method,
        target,
        headers,
        body: Bytes::from(body),
    })
}

async fn serve_one(
    mut stream: TcpStream,
    behaviour: Behaviour,
    sample_api: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> std::io::Result<()> {
    let Some(request) = read_request(&mut stream).await else {
        return Ok(());
    };
    seen.lock().expect("lock").push(request.clone());
    let bytes = match behaviour {
        Behaviour::Raw(respond) => respond(&request),
        Behaviour::Slow(delay) => {
            tokio::time::sleep(delay).await;
            forward(&request, sample_api).await
        }
        Behaviour::Forward => forward(&request, sample_api).await,
    };
    stream.write_all(&bytes).await?;
    stream.shutdown().await
}

async fn forward(req: &Seen, sample_api: SocketAddr) -> Vec<u8> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let mut builder = http::Request::builder()
        .method(req.method.as_str())
        .uri(format!("http://{sample_api}{}", req.target));
    for (k, v) in &req.headers {
        if k != "host" && k != "content-length" {
            builder = builder.header(k, v);
        }
    }
    let request = builder.body(Full::new(req.body.clone())).expect("request");
    let resp = client.request(request).await.expect("sample api");
    let status = resp.status();
    let content_type = resp.headers().get("content-type").cloned();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    let ct = content_type
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    raw(status.as_u16(), &[("content-type", ct)], &body)
}

/// A well-formed HTTP/1.1 response with `Connection: close`.
pub fn raw(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    )
    .into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// Starts the sample API with `data`, requiring `credential`.
pub async fn start_sample_api(data: DataSet, credential: String) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let cfg = keyhole::demo::upstream::SampleApiConfig {
        credential: Some(credential),
    };
    let data = Arc::new(tokio::sync::RwLock::new(data));
    tokio::spawn(keyhole::demo::upstream::serve(
        listener,
        data,
        cfg,
        std::future::pending(),
    ));
    addr
}
