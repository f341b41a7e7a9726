//! Hostile HTTP/1.1 framing and headers over a raw TLS socket: Content-Length
//! with Transfer-Encoding, duplicate and signed lengths, `Connection` naming
//! Keyhole's own headers, client-supplied forwarding and internal headers,
//! slow headers and bodies, and oversized header blocks. Nothing smuggled
//! reaches the upstream, and the upstream sees only what Keyhole vouches for.

#[path = "support/hostile.rs"]
mod hostile;
mod support;

use std::time::Duration;

use hostile::{error_code, raw_h1, read_to_close, request, statuses, tls_connect, Oracle};
use support::{bearer, TestEnv};
use tokio::io::AsyncWriteExt;

/// A case name, the framing headers and the body bytes sent after them.
type Framing<'a> = (&'a str, Vec<(&'a str, String)>, String);

async fn env_with_short_timeouts() -> TestEnv {
    TestEnv::start_with(support::Behaviour::Forward, |c| {
        c.limits.header_read_timeout_ms = 300;
        c.limits.body_read_timeout_ms = 300;
    })
    .await
}

fn with_body(mut head: Vec<u8>, body: &str) -> Vec<u8> {
    head.extend_from_slice(body.as_bytes());
    head
}

#[tokio::test]
async fn conflicting_or_malformed_lengths_never_smuggle_a_request() {
    let env = TestEnv::start().await;
    let a = env.hardware_customer().id.clone();
    let b = env
        .data
        .customers
        .iter()
        .find(|c| c.id != a)
        .expect("b")
        .id
        .clone();
    let host = env.running.addr.to_string();
    let auth = bearer(&env.alice());
    let path = format!("/customers/{a}/notes");
    let body = r#"{"summary":"s","notes":"n"}"#;
    // The smuggled request carries no credential, so it could never reach the
    // upstream on its own; it must not ride along inside another request either.
    let smuggled = format!("0\r\n\r\nGET /customers/{b} HTTP/1.1\r\nhost: {host}\r\n\r\n");
    let framings: Vec<Framing> = vec![
        (
            "CL and TE",
            vec![
                ("content-length", "4".into()),
                ("transfer-encoding", "chunked".into()),
            ],
            smuggled.clone(),
        ),
        (
            "TE and CL",
            vec![
                ("transfer-encoding", "chunked".into()),
                ("content-length", "60".into()),
            ],
            smuggled.clone(),
        ),
        (
            "two different CLs",
            vec![
                ("content-length", "27".into()),
                ("content-length", "28".into()),
            ],
            format!("{body}x"),
        ),
        (
            "signed CL",
            vec![("content-length", "+27".into())],
            body.into(),
        ),
        (
            "negative CL",
            vec![("content-length", "-1".into())],
            body.into(),
        ),
        (
            "CL list",
            vec![("content-length", "27, 28".into())],
            format!("{body}x"),
        ),
        (
            "TE not chunked last",
            vec![("transfer-encoding", "chunked, identity".into())],
            smuggled.clone(),
        ),
        (
            "TE unknown coding",
            vec![("transfer-encoding", "xchunked".into())],
            smuggled.clone(),
        ),
        (
            "TE twice",
            vec![
                ("transfer-encoding", "chunked".into()),
                ("transfer-encoding", "identity".into()),
            ],
            smuggled.clone(),
        ),
        (
            "TE with a space",
            vec![
                ("transfer-encoding", " chunked".into()),
                ("content-length", "4".into()),
            ],
            smuggled.clone(),
        ),
    ];
    let oracle = Oracle::new(&env.data);
    for (case, extra, payload) in framings {
        let mut headers = vec![
            ("authorization", auth.clone()),
            ("content-type", "application/json".into()),
        ];
        headers.extend(extra);
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let head = request("POST", &path, &host, &pairs);
        let bytes = raw_h1(
            env.running.addr,
            &env.files.ca_cert,
            &with_body(head, &payload),
        )
        .await;
        let got = statuses(&bytes);
        // One answer (the parser's refusal, or the upstream's to an empty chunked
        // body), then the connection closes: no second request is parsed.
        assert_eq!(got, vec![400], "{case}");
        oracle.assert_clean(&bytes, None, case);
    }
    for seen in env.recorder.seen() {
        // Transfer-Encoding wins (RFC 9112 6.3) and Keyhole re-frames what it forwards.
        assert_eq!(
            seen.target, path,
            "only the outer request may reach the upstream"
        );
        assert!(seen.body.is_empty(), "the chunked body was empty");
        assert!(seen.headers.get("transfer-encoding").is_none());
    }

    // Even without `Connection: close`, a message that carried both lengths ends
    // its connection: the bytes after the empty chunk are never parsed at all.
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: {auth}\r\ncontent-type: application/json\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let tail = format!(
        "0\r\n\r\nGET /customers/{b} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n"
    );
    let before = env.recorder.count();
    let bytes = raw_h1(
        env.running.addr,
        &env.files.ca_cert,
        format!("{head}{tail}").as_bytes(),
    )
    .await;
    assert_eq!(statuses(&bytes), vec![400]);
    oracle.assert_clean(&bytes, None, "pipelined after an empty chunk");
    let seen = env.recorder.seen();
    assert_eq!(seen.len(), before + 1);
    assert!(seen.iter().all(|s| s.target == path));
}

#[tokio::test]
async fn the_upstream_sees_only_headers_keyhole_vouches_for() {
    let env = TestEnv::start().await;
    let a = env.hardware_customer().id.clone();
    let host = env.running.addr.to_string();
    let token = env.alice();
    let auth = bearer(&token);
    let hostile_headers = [
        ("authorization", auth.as_str()),
        (
            "connection",
            "x-keyhole-agent, x-request-id, x-forwarded-for, authorization, close",
        ),
        ("x-keyhole-agent", "root"),
        ("x-keyhole-vendor", "keyhole"),
        ("x-request-id", "attacker-chosen"),
        ("x-forwarded-for", "10.0.0.1"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "http"),
        ("forwarded", "for=10.0.0.1;host=evil.example"),
        ("x-real-ip", "10.0.0.1"),
        ("x-original-url", "/admin"),
        ("x-rewrite-url", "/admin"),
        ("x-http-method-override", "DELETE"),
        ("cookie", "session=abc"),
        ("proxy-authorization", "Basic YWRtaW46YWRtaW4="),
        ("keyhole-ticket", "granted"),
        ("keyhole-disclosure", "1"),
        ("te", "trailers"),
        ("upgrade", "h2c"),
        ("accept", "application/json"),
    ];
    let path = format!("/customers/{a}");
    let bytes = raw_h1(
        env.running.addr,
        &env.files.ca_cert,
        &request("GET", &path, &host, &hostile_headers),
    )
    .await;
    assert_eq!(
        statuses(&bytes).first().copied(),
        Some(200),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    Oracle::new(&env.data).assert_clean(&bytes, None, "hostile headers");
    let seen = env.recorder.seen();
    assert_eq!(seen.len(), 1);
    let h = &seen[0].headers;
    let allowed = [
        "accept",
        "accept-language",
        "content-type",
        "user-agent",
        "host",
        "accept-encoding",
        "x-request-id",
        "x-forwarded-for",
        "x-keyhole-agent",
        "x-keyhole-vendor",
        "x-forwarded-proto",
        "authorization",
        "content-length",
    ];
    for name in h.keys() {
        assert!(
            allowed.contains(&name.as_str()),
            "{name} reached the upstream"
        );
    }
    assert_eq!(h["x-keyhole-agent"], "alice");
    assert_eq!(h["x-keyhole-vendor"], "northwind-support");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "https");
    assert_ne!(h["x-request-id"], "attacker-chosen");
    assert_eq!(h.get_all("x-keyhole-agent").iter().count(), 1);
    assert!(
        !h["authorization"].to_str().unwrap_or("").contains(&token),
        "the agent's JWT"
    );
    let text = String::from_utf8_lossy(&bytes).to_lowercase();
    assert!(!text.contains("attacker-chosen") && !text.contains("keyhole-disclosure: 1"));
}

#[tokio::test]
async fn headers_that_never_finish_are_cut_off() {
    let env = env_with_short_timeouts().await;
    let mut stream = tls_connect(env.running.addr, &env.files.ca_cert, &[b"http/1.1"]).await;
    stream
        .write_all(b"GET /customers/CUS-100000 HTTP/1.1\r\nhost: x\r\n")
        .await
        .expect("write");
    let (bytes, closed) = read_to_close(&mut stream).await;
    assert!(
        closed,
        "a connection whose headers never end must be closed"
    );
    assert!(
        statuses(&bytes).iter().all(|s| *s >= 400),
        "{}",
        String::from_utf8_lossy(&bytes)
    );

    // Dripping one byte at a time does not keep the connection alive either.
    let mut stream = tls_connect(env.running.addr, &env.files.ca_cert, &[b"http/1.1"]).await;
    stream
        .write_all(b"GET /customers/CUS-100000 HTTP/1.1\r\n")
        .await
        .expect("write");
    let drip = async {
        for _ in 0..400 {
            if stream.write_all(b"x").await.is_err() || stream.flush().await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    assert!(
        drip.await,
        "the gateway must stop waiting for a dripping header block"
    );
    assert_eq!(env.recorder.count(), 0);
}

#[tokio::test]
async fn a_body_that_stalls_or_overflows_is_refused() {
    let env = env_with_short_timeouts().await;
    let a = env.hardware_customer().id.clone();
    let host = env.running.addr.to_string();
    let auth = bearer(&env.alice());
    let path = format!("/customers/{a}/notes");
    let mut stream = tls_connect(env.running.addr, &env.files.ca_cert, &[b"http/1.1"]).await;
    let head = request(
        "POST",
        &path,
        &host,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
            ("content-length", "100"),
        ],
    );
    stream
        .write_all(&with_body(head, r#"{"summary":"#))
        .await
        .expect("write");
    let (bytes, closed) = read_to_close(&mut stream).await;
    assert!(closed);
    assert_eq!(
        statuses(&bytes).first().copied(),
        Some(408),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    assert_eq!(error_code(&bytes).as_deref(), Some("request-timeout"));

    let big = "x".repeat(300 * 1024);
    for framing in [
        vec![("content-length", big.len().to_string())],
        vec![("transfer-encoding", "chunked".to_string())],
    ] {
        let mut headers = vec![
            ("authorization", auth.clone()),
            ("content-type", "text/plain".into()),
        ];
        headers.extend(framing.iter().map(|(k, v)| (*k, v.clone())));
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let payload = if framing[0].0 == "transfer-encoding" {
            format!("{:x}\r\n{big}\r\n0\r\n\r\n", big.len())
        } else {
            big.clone()
        };
        let mut stream = tls_connect(env.running.addr, &env.files.ca_cert, &[b"http/1.1"]).await;
        // The gateway may answer and close before the whole body is written.
        let _ = stream
            .write_all(&with_body(request("POST", &path, &host, &pairs), &payload))
            .await;
        let (bytes, _) = read_to_close(&mut stream).await;
        assert_eq!(statuses(&bytes).first().copied(), Some(413), "{framing:?}");
        assert_eq!(error_code(&bytes).as_deref(), Some("request-too-large"));
    }
    assert_eq!(env.recorder.count(), 0);
}

/// Writes the rest of a refused body and then a GET for `customer` on the
/// same connection: the write must finish (the refused body is read to its
/// end) and the connection answer both, 413 then 200. Returns what it read.
async fn finish_then_get(
    stream: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    rest: &str,
    customer: &str,
    host: &str,
    auth: &str,
) -> Vec<u8> {
    let then = format!(
        "GET /customers/{customer} HTTP/1.1\r\nhost: {host}\r\nauthorization: {auth}\r\n\
         connection: close\r\n\r\n"
    );
    let written = tokio::time::timeout(
        Duration::from_secs(10),
        stream.write_all(format!("{rest}{then}").as_bytes()),
    )
    .await;
    assert!(
        matches!(written, Ok(Ok(()))),
        "the refused body is read to its end"
    );
    let (bytes, _) = read_to_close(stream).await;
    assert_eq!(
        statuses(&bytes),
        [413, 200],
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    bytes
}

/// A body over the limit gets its 413 however it is sent: a client waiting
/// for `100 Continue` with a length over the limit is answered instead of
/// invited, a client that sends it all at once (or was invited because the
/// length was unknown) reads the 413 and keeps its connection, and an HTTP/2
/// stream ends with the 413 rather than a reset.
#[tokio::test]
async fn an_oversized_body_gets_its_413_however_it_is_sent() {
    let env = TestEnv::start().await;
    let a = env.hardware_customer().id.clone();
    let host = env.running.addr.to_string();
    let auth = bearer(&env.alice());
    let path = format!("/customers/{a}/notes");
    let big = "x".repeat(2 * 1024 * 1024);
    let length = big.len().to_string();

    let mut stream = tls_connect(env.running.addr, &env.files.ca_cert, &[b"http/1.1"]).await;
    let head = request(
        "POST",
        &path,
        &host,
        &[
            ("authorization", &auth),
            ("content-type", "text/plain"),
            ("content-length", &length),
            ("expect", "100-continue"),
        ],
    );
    stream.write_all(&head).await.expect("write");
    let (bytes, _) = read_to_close(&mut stream).await;
    assert_eq!(
        statuses(&bytes),
        [413],
        "{}",
        String::from_utf8_lossy(&bytes)
    );

    let mut stream = tls_connect(env.running.addr, &env.files.ca_cert, &[b"http/1.1"]).await;
    let pipelined = format!(
        "POST {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: {auth}\r\n\
         content-type: text/plain\r\ncontent-length: {length}\r\n\r\n{big}"
    );
    let bytes = finish_then_get(&mut stream, &pipelined, &a, &host, &auth).await;
    assert_eq!(error_code(&bytes).as_deref(), Some("request-too-large"));

    // Chunked, after `100 Continue`: the length was unknown, so the body was
    // invited, and is read to its end.
    let mut stream = tls_connect(env.running.addr, &env.files.ca_cert, &[b"http/1.1"]).await;
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: {auth}\r\n\
         content-type: text/plain\r\ntransfer-encoding: chunked\r\nexpect: 100-continue\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut interim = [0u8; 64];
    let n = tokio::io::AsyncReadExt::read(&mut stream, &mut interim)
        .await
        .expect("read");
    assert!(
        interim[..n].starts_with(b"HTTP/1.1 100"),
        "{:?}",
        &interim[..n]
    );
    let rest = format!("{:x}\r\n{big}\r\n0\r\n\r\n", big.len());
    finish_then_get(&mut stream, &rest, &a, &host, &auth).await;

    let url = format!("{}{path}", env.base());
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "text/plain"),
    ];
    let reply = env
        .h2()
        .send(http::Method::POST, &url, &headers, &big)
        .await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.json()["error"]["code"], "request-too-large");
    assert_eq!(env.recorder.count(), 2, "only the GETs went upstream");
}

#[tokio::test]
async fn oversized_or_malformed_header_blocks_are_refused() {
    let env = TestEnv::start().await;
    let a = env.hardware_customer().id.clone();
    let host = env.running.addr.to_string();
    let auth = bearer(&env.alice());
    let path = format!("/customers/{a}");
    let many: Vec<(String, String)> = (0..100)
        .map(|i| (format!("x-h{i}"), "v".to_string()))
        .collect();
    let long = "v".repeat(20 * 1024);
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut pairs: Vec<(&str, &str)> = vec![("authorization", &auth)];
    pairs.extend(many.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    cases.push(("too many headers", request("GET", &path, &host, &pairs)));
    cases.push((
        "one huge header",
        request(
            "GET",
            &path,
            &host,
            &[("authorization", &auth), ("x-big", &long)],
        ),
    ));
    let raw = |extra: &str| {
        format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: {auth}\r\n{extra}connection: close\r\n\r\n").into_bytes()
    };
    cases.push(("obs-fold", raw("x-a: b\r\n c\r\n")));
    cases.push(("space before colon", raw("x-a : b\r\n")));
    cases.push(("space in a name", raw("x a: b\r\n")));
    cases.push(("NUL in a value", raw("x-a: b\0c\r\n")));
    cases.push(("bare CR in a value", raw("x-a: b\rc\r\n")));
    cases.push(("line without colon", raw("x-a\r\n")));
    let oracle = Oracle::new(&env.data);
    for (case, bytes_out) in cases {
        let bytes = raw_h1(env.running.addr, &env.files.ca_cert, &bytes_out).await;
        let got = statuses(&bytes);
        assert!(
            got.first().is_some_and(|s| (400..500).contains(s)),
            "{case}: {got:?}"
        );
        oracle.assert_clean(&bytes, None, case);
    }
    assert_eq!(env.recorder.count(), 0);
}
