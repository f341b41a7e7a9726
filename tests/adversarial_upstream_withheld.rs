//! A misbehaving upstream whose answer cannot be judged: wrong or missing
//! content types, compressed, truncated, oversized, deeply nested or invalid
//! bodies, broken exchanges, slow answers, and error, redirect and bodiless
//! statuses full of customer data. All of it is withheld and leaks nothing.

#[path = "support/hostile.rs"]
mod hostile;
#[path = "support/hostile_upstream.rs"]
mod hostile_upstream;
mod support;

use std::time::Duration;

use hostile::Step;
use hostile_upstream::{answer, chunked, Fixture, JSON};
use support::upstream::raw;

#[tokio::test]
async fn bodies_that_cannot_be_judged_are_withheld() {
    let f = Fixture::start().await;
    let body = f.tainted_record();
    let with_ct = |ct: &str| answer(raw(200, &[("content-type", ct)], &body));
    let cases: Vec<(&str, Vec<Step>, &str)> = vec![
        ("text/html", with_ct("text/html"), "response-not-json"),
        ("text/json", with_ct("text/json"), "response-not-json"),
        (
            "application/jsonp",
            with_ct("application/jsonp"),
            "response-not-json",
        ),
        (
            "application/json-seq",
            with_ct("application/json-seq"),
            "response-not-json",
        ),
        (
            "no content type",
            answer(raw(200, &[], &body)),
            "response-not-json",
        ),
        (
            "html first of two types",
            answer(raw(200, &[("content-type", "text/html"), JSON], &body)),
            "response-not-json",
        ),
        (
            "gzip",
            answer(raw(200, &[JSON, ("content-encoding", "gzip")], &body)),
            "response-compressed",
        ),
        (
            "br",
            answer(raw(200, &[JSON, ("content-encoding", "br")], &body)),
            "response-compressed",
        ),
        (
            "deflate",
            answer(raw(200, &[JSON, ("content-encoding", "deflate")], &body)),
            "response-compressed",
        ),
        (
            "GZIP",
            answer(raw(200, &[JSON, ("content-encoding", "GZIP")], &body)),
            "response-compressed",
        ),
        (
            "identity, gzip",
            answer(raw(
                200,
                &[JSON, ("content-encoding", "identity, gzip")],
                &body,
            )),
            "response-compressed",
        ),
        (
            "over the limit",
            answer(chunked(&[JSON], &[&body, &vec![b' '; 70 * 1024]])),
            "response-too-large",
        ),
        (
            "10,000 deep",
            answer(raw(200, &[JSON], deep(10_000).as_bytes())),
            "response-too-deep",
        ),
        (
            "invalid UTF-8",
            answer(raw(200, &[JSON], &splice(&body, b"\"name\":\"\xff\xfe\","))),
            "response-invalid-json",
        ),
        (
            "overlong UTF-8",
            answer(raw(200, &[JSON], &splice(&body, b"\"name\":\"\xc0\xae\","))),
            "response-invalid-json",
        ),
        (
            "lone high surrogate",
            answer(raw(200, &[JSON], &splice(&body, br#""name":"\ud800","#))),
            "response-invalid-json",
        ),
        (
            "lone low surrogate key",
            answer(raw(200, &[JSON], &splice(&body, br#""\udc00":1,"#))),
            "response-invalid-json",
        ),
        (
            "number out of range",
            answer(raw(200, &[JSON], &splice(&body, br#""name":1e400,"#))),
            "response-invalid-json",
        ),
        (
            "NaN",
            answer(raw(200, &[JSON], &splice(&body, br#""name":NaN,"#))),
            "response-invalid-json",
        ),
        (
            "byte order mark",
            answer(raw(
                200,
                &[JSON],
                &[b"\xef\xbb\xbf".as_slice(), &body].concat(),
            )),
            "response-invalid-json",
        ),
        (
            "trailing HTML",
            answer(raw(200, &[JSON], &[body.as_slice(), b"<html>"].concat())),
            "response-invalid-json",
        ),
        (
            "two documents",
            answer(raw(200, &[JSON], &[body.as_slice(), &body].concat())),
            "response-invalid-json",
        ),
        (
            "UTF-16",
            answer(raw(
                200,
                &[("content-type", "application/json; charset=utf-16")],
                &utf16(&body),
            )),
            "response-invalid-json",
        ),
    ];
    for (case, script, code) in cases {
        let reply = f.ask(script).await;
        f.withheld(&reply, case, 502, code);
    }
}

#[tokio::test]
async fn broken_exchanges_and_slow_answers_fail_closed() {
    let f = Fixture::start().await;
    let body = f.tainted_record();
    let full = raw(200, &[JSON], &body);
    let mut cut = full.clone();
    cut.truncate(full.len() - 40);
    let head_only = full[..full.len() - body.len()].to_vec();
    let cases: Vec<(&str, Vec<Step>, u16, &str)> = vec![
        (
            "closed before answering",
            vec![Step::Read],
            502,
            "upstream-unreachable",
        ),
        (
            "closed mid status line",
            answer(b"HTTP/1.1 200 OK\r\ncontent-ty".to_vec()),
            502,
            "upstream-unreachable",
        ),
        ("truncated body", answer(cut), 502, "upstream-truncated"),
        (
            "two content lengths",
            answer(duplicate_length(&body)),
            502,
            "upstream-unreachable",
        ),
        (
            "garbage status line",
            answer(b"HTTP/1.1 2OO OK\r\n\r\n".to_vec()),
            502,
            "upstream-unreachable",
        ),
        (
            "headers then silence",
            vec![
                Step::Read,
                Step::Write(head_only),
                Step::Sleep(Duration::from_secs(3)),
            ],
            504,
            "upstream-timeout",
        ),
        (
            "silence",
            vec![Step::Read, Step::Sleep(Duration::from_secs(3))],
            504,
            "upstream-timeout",
        ),
        ("trickle", trickle(&full), 504, "upstream-timeout"),
    ];
    for (case, script, status, code) in cases {
        let reply = f.ask(script).await;
        f.withheld(&reply, case, status, code);
    }
}

#[tokio::test]
async fn error_redirect_and_bodiless_statuses_show_no_upstream_bytes() {
    let f = Fixture::start().await;
    let body = f.tainted_record();
    let location = format!("/customers/{}?phone={}", f.other.id, f.other.phone);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("500", raw(500, &[JSON], &body), 502),
        ("503", raw(503, &[JSON, ("retry-after", "1")], &body), 502),
        (
            "401",
            raw(401, &[JSON, ("www-authenticate", &f.other.email)], &body),
            401,
        ),
        ("403", raw(403, &[JSON], &body), 403),
        ("404", raw(404, &[JSON], &body), 404),
        ("409", raw(409, &[JSON], &body), 409),
        ("422", raw(422, &[JSON], &body), 422),
        ("429", raw(429, &[JSON], &body), 429),
        (
            "302 to a URL full of data",
            raw(302, &[JSON, ("location", &location)], &body),
            502,
        ),
        ("304 with a body", raw(304, &[JSON], &body), 502),
    ];
    for (case, bytes, status) in cases {
        let reply = f.ask(answer(bytes)).await;
        f.withheld(&reply, case, status, "upstream-status");
    }
    // A 204 has no body by definition: whatever follows it is not a body to show.
    let reply = f.ask(answer(raw(204, &[JSON], &body))).await;
    assert!(
        reply.status == 204 || reply.status == 502,
        "204: {}",
        reply.status
    );
    f.oracle
        .assert_clean(&reply.all_bytes(), None, "204 with a body");
}

fn deep(levels: usize) -> String {
    format!(
        r#"{{"id":"x","a":{}{}}}"#,
        "[".repeat(levels),
        "]".repeat(levels)
    )
}

/// `body` with `member` inserted right after its opening brace.
fn splice(body: &[u8], member: &[u8]) -> Vec<u8> {
    [b"{".as_slice(), member, &body[1..]].concat()
}

fn utf16(body: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(body)
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect()
}

fn duplicate_length(body: &[u8]) -> Vec<u8> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\ncontent-length: {}\r\n\r\n",
        body.len(),
        body.len() + 1
    );
    [head.as_bytes(), body].concat()
}

/// The whole answer, a few bytes at a time, slower than the response timeout.
fn trickle(full: &[u8]) -> Vec<Step> {
    let mut steps = vec![Step::Read];
    for chunk in full.chunks(full.len() / 10 + 1) {
        steps.push(Step::Write(chunk.to_vec()));
        steps.push(Step::Sleep(Duration::from_millis(100)));
    }
    steps
}
