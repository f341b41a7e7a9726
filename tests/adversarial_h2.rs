//! Hostile HTTP/2 at the frame level: more streams than advertised, rapid
//! resets, oversized header lists and CONTINUATION floods. The gateway keeps
//! its limits, sheds the abuser, and goes on serving everyone else.
//!
//! The frames are written by hand (HPACK literals without Huffman coding), so
//! the client can do what a well-behaved library never would.

#[path = "support/hostile.rs"]
mod hostile;
mod support;

use hostile::{tls_connect, Oracle, PATIENCE};
use support::{bearer, TestEnv};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 1;
const END_HEADERS: u8 = 4;
const ACK: u8 = 1;
const REFUSED_STREAM: u32 = 7;
const CANCEL: u32 = 8;

struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

struct H2 {
    io: TlsStream<TcpStream>,
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn hpack_int(out: &mut Vec<u8>, first: u8, prefix_bits: u8, mut value: usize) {
    let max = (1usize << prefix_bits) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128 + 128) as u8);
        value /= 128;
    }
    out.push(value as u8);
}

/// A header block of literals "without indexing", names and values in the clear.
fn hpack(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in headers {
        out.push(0);
        hpack_int(&mut out, 0, 7, name.len());
        out.extend_from_slice(name.as_bytes());
        hpack_int(&mut out, 0, 7, value.len());
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// The `:status` of a response header block when it is the first field, as
/// hyper encodes it (static index, or a literal with a Huffman-coded value).
fn status_of(block: &[u8]) -> Option<u16> {
    let indexed = [
        (0x88, 200),
        (0x89, 204),
        (0x8a, 206),
        (0x8b, 304),
        (0x8c, 400),
        (0x8d, 404),
        (0x8e, 500),
    ];
    let first = *block.first()?;
    if let Some((_, s)) = indexed.iter().find(|(b, _)| *b == first) {
        return Some(*s);
    }
    if ![0x48, 0x08, 0x18].contains(block.first()?) {
        return None;
    }
    let len = (block.get(1)? & 0x7f) as usize;
    let value = block.get(2..2 + len)?;
    if block[1] & 0x80 == 0 {
        return std::str::from_utf8(value).ok()?.parse().ok();
    }
    huffman_digits(value)?.parse().ok()
}

/// Decodes a Huffman-coded string of decimal digits (RFC 7541 appendix B).
fn huffman_digits(bytes: &[u8]) -> Option<String> {
    let bits: Vec<u8> = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    let (mut out, mut i) = (String::new(), 0);
    while i + 5 <= bits.len() {
        let five = bits[i..i + 5].iter().fold(0u8, |a, b| a << 1 | b);
        if five <= 2 {
            out.push(char::from(b'0' + five));
            i += 5;
        } else if i + 6 <= bits.len() && bits[i..i + 3] == [0, 1, 1] {
            let six = bits[i..i + 6].iter().fold(0u8, |a, b| a << 1 | b);
            out.push(char::from(b'0' + (six - 0b011001 + 3)));
            i += 6;
        } else {
            break;
        }
    }
    Some(out)
}

impl H2 {
    async fn connect(env: &TestEnv) -> H2 {
        let io = tls_connect(env.running.addr, &env.files.ca_cert, &[b"h2"]).await;
        assert_eq!(io.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let mut h2 = H2 { io };
        h2.io
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .expect("preface");
        h2.send(SETTINGS, 0, 0, &[]).await;
        h2
    }

    async fn send(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) -> bool {
        self.io
            .write_all(&frame(kind, flags, stream, payload))
            .await
            .is_ok()
    }

    async fn request(&mut self, stream: u32, headers: &[(&str, &str)], end_stream: bool) -> bool {
        let flags = END_HEADERS | if end_stream { END_STREAM } else { 0 };
        self.send(HEADERS, flags, stream, &hpack(headers)).await
    }

    /// The next frame, answering SETTINGS and PING on the way; `None` once closed.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            let mut head = [0u8; 9];
            tokio::time::timeout(PATIENCE, self.io.read_exact(&mut head))
                .await
                .ok()?
                .ok()?;
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut payload = vec![0u8; len];
            tokio::time::timeout(PATIENCE, self.io.read_exact(&mut payload))
                .await
                .ok()?
                .ok()?;
            let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
            let frame = Frame {
                kind: head[3],
                flags: head[4],
                stream,
                payload,
            };
            match (frame.kind, frame.flags & ACK) {
                (SETTINGS, 0) => {
                    self.send(SETTINGS, ACK, 0, &[]).await;
                    return Some(frame);
                }
                (PING, 0) => {
                    let data = frame.payload.clone();
                    self.send(PING, ACK, 0, &data).await;
                }
                _ => return Some(frame),
            }
        }
    }
}

fn base_headers<'a>(
    env: &'a TestEnv,
    method: &'a str,
    path: &'a str,
    auth: &'a str,
) -> Vec<(&'a str, &'a str)> {
    let _ = env;
    vec![
        (":method", method),
        (":scheme", "https"),
        (":authority", "127.0.0.1"),
        (":path", path),
        ("authorization", auth),
    ]
}

/// A fresh, well-behaved request still gets its answer.
async fn still_serving(env: &TestEnv) {
    let url = format!("{}/customers/{}", env.base(), env.hardware_customer().id);
    let reply = env
        .h2()
        .get(&url, &[("authorization", &bearer(&env.bob()))])
        .await;
    assert_eq!(reply.status, 200, "the gateway must keep serving others");
    Oracle::new(&env.data).assert_clean(&reply.all_bytes(), None, "after abuse");
}

#[tokio::test]
async fn streams_beyond_the_advertised_limit_are_refused() {
    let env = TestEnv::start_with(support::Behaviour::Forward, |c| {
        c.limits.max_concurrent_streams = 4;
        c.limits.body_read_timeout_ms = 500;
    })
    .await;
    let mut h2 = H2::connect(&env).await;
    let first = h2.next().await.expect("server settings");
    assert_eq!(first.kind, SETTINGS);
    let advertised = first
        .payload
        .chunks(6)
        .find(|s| s[..2] == [0, 3])
        .map(|s| u32::from_be_bytes([s[2], s[3], s[4], s[5]]));
    assert_eq!(advertised, Some(4), "SETTINGS_MAX_CONCURRENT_STREAMS");
    let auth = bearer(&env.alice());
    let path = format!("/customers/{}/notes", env.hardware_customer().id);
    // Bodies that never come keep every stream open.
    for i in 0..12u32 {
        h2.request(2 * i + 1, &base_headers(&env, "POST", &path, &auth), false)
            .await;
    }
    let (mut refused, mut answered) = (0, 0);
    while refused + answered < 12 {
        let Some(frame) = h2.next().await else { break };
        match frame.kind {
            RST_STREAM if frame.payload == REFUSED_STREAM.to_be_bytes() => refused += 1,
            HEADERS => answered += 1,
            GOAWAY => break,
            _ => {}
        }
    }
    assert_eq!(
        (refused, answered),
        (8, 4),
        "only 4 streams may be open at once"
    );
    assert_eq!(env.recorder.count(), 0);
    still_serving(&env).await;
}

#[tokio::test]
async fn rapid_resets_are_shed_and_the_gateway_keeps_serving() {
    let env = TestEnv::start().await;
    let mut h2 = H2::connect(&env).await;
    let auth = bearer(&env.bob());
    let path = format!("/customers/{}", env.hardware_customer().id);
    let streams = 400u32;
    // One write, so the gateway reads opens and resets together, as an attacker sends them.
    let block = hpack(&base_headers(&env, "GET", &path, &auth));
    let mut burst = Vec::new();
    for i in 0..streams {
        let id = 2 * i + 1;
        burst.extend(frame(HEADERS, END_HEADERS | END_STREAM, id, &block));
        burst.extend(frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes()));
    }
    // The gateway may hang up before reading it all.
    let _ = h2.io.write_all(&burst).await;
    let mut goaway = None;
    while let Some(frame) = h2.next().await {
        if frame.kind == GOAWAY {
            goaway = Some(u32::from_be_bytes([
                frame.payload[4],
                frame.payload[5],
                frame.payload[6],
                frame.payload[7],
            ]));
            break;
        }
    }
    // ENHANCE_YOUR_CALM (0xb): the connection was cut for resetting too much.
    assert_eq!(goaway, Some(0xb), "rapid resets must end the connection");
    assert!(
        env.recorder.count() < streams as usize,
        "reset streams must not all cost an upstream call"
    );
    still_serving(&env).await;
}

#[tokio::test]
async fn oversized_header_lists_and_continuation_floods_are_refused() {
    let env = TestEnv::start().await;
    let auth = bearer(&env.bob());
    let path = format!("/customers/{}", env.hardware_customer().id);
    let big = "v".repeat(20 * 1024);
    let mut h2 = H2::connect(&env).await;
    let mut headers = base_headers(&env, "GET", &path, &auth);
    headers.push(("x-big", &big));
    let block = hpack(&headers);
    let (head, rest) = block.split_at(16_000);
    h2.send(HEADERS, END_STREAM, 1, head).await;
    h2.send(CONTINUATION, END_HEADERS, 1, rest).await;
    let mut outcome = None;
    while let Some(frame) = h2.next().await {
        match frame.kind {
            HEADERS if frame.stream == 1 => {
                outcome = status_of(&frame.payload).map(|s| format!("status {s}"));
                break;
            }
            RST_STREAM if frame.stream == 1 => {
                outcome = Some("reset".into());
                break;
            }
            GOAWAY => {
                outcome = Some("goaway".into());
                break;
            }
            DATA => {}
            _ => {}
        }
    }
    let outcome = outcome.unwrap_or_else(|| "closed".into());
    assert_eq!(
        outcome, "status 431",
        "a 20 KiB header list is over the limit"
    );

    // Endless CONTINUATION frames: the gateway must give up on the stream.
    let mut h2 = H2::connect(&env).await;
    let block = hpack(&base_headers(&env, "GET", &path, &auth));
    h2.send(HEADERS, 0, 1, &block).await;
    let filler = hpack(&[("x-pad", "0123456789abcdef0123456789abcdef")]);
    let mut sent = 0;
    while sent < 5_000 && h2.send(CONTINUATION, 0, 1, &filler).await {
        sent += 1;
    }
    let mut ended = false;
    while let Some(frame) = h2.next().await {
        if frame.kind == GOAWAY || (frame.kind == RST_STREAM && frame.stream == 1) {
            ended = true;
            break;
        }
    }
    assert!(
        ended,
        "a CONTINUATION flood must be cut off ({sent} frames sent)"
    );
    assert_eq!(env.recorder.count(), 0);
    still_serving(&env).await;
}

/// A HEAD response has no body (RFC 9110 9.3.2). Over HTTP/1.1 hyper leaves
/// it out; over HTTP/2 the gateway must, or a client reads DATA on a HEAD
/// stream as a protocol error and sees no answer at all. Every HEAD gets
/// its status and no DATA.
#[tokio::test]
async fn a_head_request_gets_its_status_and_no_body() {
    let env = TestEnv::start().await;
    let path = format!("/customers/{}", env.hardware_customer().id);
    let auth = bearer(&env.bob());
    let mut h2 = H2::connect(&env).await;
    let cases = [(auth.as_str(), 405u16), ("Bearer not-a-jwt", 401)];
    for (stream, (auth, expected)) in (1u32..).step_by(2).zip(cases) {
        h2.request(stream, &base_headers(&env, "HEAD", &path, auth), true)
            .await;
        let (mut status, mut data, mut ended) = (None, 0usize, false);
        while !ended {
            let frame = h2.next().await.expect("an answer to the HEAD");
            if frame.stream != stream {
                continue;
            }
            assert_ne!(frame.kind, RST_STREAM, "the HEAD stream was reset");
            match frame.kind {
                HEADERS => status = status_of(&frame.payload),
                DATA => data += frame.payload.len(),
                _ => {}
            }
            ended = frame.flags & END_STREAM != 0;
        }
        assert_eq!(status, Some(expected), "{auth}");
        assert_eq!(data, 0, "a HEAD response carries no body");
    }
    still_serving(&env).await;
}
