//! A misbehaving upstream: wrong or missing content types, compressed,
//! truncated, oversized, deeply nested or invalid bodies, 1xx and trailers,
//! bodies where none may be, error and redirect answers full of customer
//! data, slow answers, and replies that try to poison the connection pool.
//! Whatever cannot be judged is withheld; whatever is judged leaks nothing.

#[path = "support/hostile.rs"]
mod hostile;
mod support;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hostile::{Grant, Oracle, Scripted, Step};
use keyhole::demo::data::Customer;
use serde_json::{json, Value};
use support::upstream::raw;
use support::{bearer, Behaviour, Reply, TestEnv};

/// Scripts handed out one per upstream connection, in order.
type Queue = Arc<Mutex<VecDeque<Vec<Step>>>>;

struct Fixture {
    env: TestEnv,
    queue: Queue,
    /// The ticketed customer (alice's T-1001, hardware).
    own: Customer,
    /// Someone else, whose data the upstream will try to slip through.
    other: Customer,
    oracle: Oracle,
}

impl Fixture {
    async fn start() -> Fixture {
        let queue: Queue = Arc::default();
        let scripts = queue.clone();
        let upstream = Scripted::start(move |_| {
            let next = scripts.lock().expect("lock").pop_front();
            next.unwrap_or_default()
        })
        .await;
        let url = upstream.url();
        let env = TestEnv::start_with(Behaviour::Forward, move |c| {
            c.upstream.url = url;
            c.upstream.response_timeout_ms = 400;
            c.limits.max_response_bytes = 64 * 1024;
        })
        .await;
        let own = env.hardware_customer().clone();
        let other = env
            .data
            .customers
            .iter()
            .find(|c| c.id != own.id)
            .expect("other")
            .clone();
        let oracle = Oracle::new(&env.data);
        Fixture {
            env,
            queue,
            own,
            other,
            oracle,
        }
    }

    /// Alice asks for her ticketed customer while the upstream plays `script`.
    async fn ask(&self, script: Vec<Step>) -> Reply {
        let auth = bearer(&self.env.alice());
        self.ask_with(
            script,
            &[("authorization", &auth), ("x-ticket-id", "T-1001")],
        )
        .await
    }

    /// Bob, who holds no ticket, asks for the same customer.
    async fn ask_unticketed(&self, script: Vec<Step>) -> Reply {
        let auth = bearer(&self.env.bob());
        self.ask_with(script, &[("authorization", &auth)]).await
    }

    async fn ask_with(&self, script: Vec<Step>, headers: &[(&str, &str)]) -> Reply {
        self.queue.lock().expect("lock").push_back(script);
        let url = format!("{}/customers/{}", self.env.base(), self.own.id);
        self.env.h1().get(&url, headers).await
    }

    fn grant(&self) -> Grant {
        Grant::new(&self.own.id, "hardware")
    }

    /// The ticketed customer's record with another customer's data mixed in.
    fn tainted_record(&self) -> Vec<u8> {
        let mut record: Value =
            serde_json::from_str(&hostile::record_json(&self.own)).expect("json");
        record["other"] = serde_json::from_str(&hostile::record_json(&self.other)).expect("json");
        record.to_string().into_bytes()
    }

    /// Nothing of anyone may be in a withheld response.
    fn withheld(&self, reply: &Reply, case: &str, status: u16, code: &str) {
        assert_eq!(
            reply.status,
            status,
            "{case}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.error_code(), code, "{case}");
        self.oracle.assert_clean(&reply.all_bytes(), None, case);
    }
}

fn answer(bytes: Vec<u8>) -> Vec<Step> {
    vec![Step::Read, Step::Write(bytes)]
}

const JSON: (&str, &str) = ("content-type", "application/json");

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

#[tokio::test]
async fn judged_answers_drop_headers_trailers_and_interim_responses() {
    let f = Fixture::start().await;
    let body = f.tainted_record();
    let grant = f.grant();
    let other = &f.other;
    let cookie = format!("sid={}", other.email);
    let link = format!("</x?tag={}>; rel=preload", other.devices[0].service_tag);
    let interim = format!(
        "HTTP/1.1 103 Early Hints\r\nlink: {link}\r\nx-phone: {}\r\n\r\n",
        other.phone
    );
    let continue_first = [
        b"HTTP/1.1 100 Continue\r\n\r\n".as_slice(),
        &raw(200, &[JSON], &body),
    ]
    .concat();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "data in response headers",
            raw(
                200,
                &[
                    JSON,
                    ("set-cookie", &cookie),
                    ("link", &link),
                    ("x-debug-phone", &other.phone),
                    ("location", &other.address.street),
                ],
                &body,
            ),
        ),
        (
            "data in trailers",
            chunked_with_trailer(
                &body,
                &format!(
                    "x-phone: {}\r\nx-tag: {}",
                    other.phone, other.devices[0].service_tag
                ),
            ),
        ),
        (
            "103 before the answer",
            [interim.as_bytes(), &raw(200, &[JSON], &body)].concat(),
        ),
        ("100 before the answer", continue_first),
        (
            "json first of two types",
            raw(200, &[JSON, ("content-type", "text/html")], &body),
        ),
        (
            "identity encoding",
            raw(200, &[JSON, ("content-encoding", "identity")], &body),
        ),
        (
            "problem+json",
            raw(200, &[("content-type", "application/problem+json")], &body),
        ),
    ];
    for (case, bytes) in cases {
        let reply = f.ask(answer(bytes)).await;
        assert_eq!(
            reply.status,
            200,
            "{case}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        f.oracle
            .assert_clean(&reply.all_bytes(), Some(&grant), case);
        let text = String::from_utf8_lossy(&reply.all_bytes()).to_lowercase();
        for header in [
            "set-cookie",
            "link:",
            "x-debug",
            "location",
            "x-phone",
            "x-tag",
        ] {
            assert!(!text.contains(header), "{case}: {header} was passed on");
        }
    }
}

#[tokio::test]
async fn tricky_json_cannot_smuggle_a_field_past_its_rule() {
    let f = Fixture::start().await;
    let other = &f.other;
    let own_json = hostile::record_json(&f.own);
    let own_inner = own_json.trim_start_matches('{').trim_end_matches('}');
    let tag = &other.devices[0].service_tag;
    let encoded = json!({"phone": other.phone, "email": other.email}).to_string();
    let bodies: Vec<(&str, String)> = vec![
        (
            "escaped duplicate id",
            format!(r#"{{{own_inner},"\u0069d":"{}"}}"#, other.id),
        ),
        (
            "escaped key",
            format!(
                r#"{{{own_inner},"\u0070hone":"{}","\u0061ddress":{{"city":"X","street":"{}"}}}}"#,
                other.phone, other.address.street
            ),
        ),
        (
            "dotted and bracketed keys",
            format!(
                r#"{{{own_inner},"address.street":"{}","devices[0]":{{"service_tag":"{tag}"}},"phone\u0000":"{}","PHONE":"{}"," phone":"{}"}}"#,
                other.address.street, other.phone, other.phone, other.phone
            ),
        ),
        (
            "string-encoded JSON in a passed field",
            format!(r#"{{{own_inner},"name":{}}}"#, json!(encoded)),
        ),
        (
            "data in free text",
            format!(
                r#"{{{own_inner},"name":"call {} or {}"}}"#,
                other.phone, other.email
            ),
        ),
        (
            "huge integer id",
            format!(r#"{{{own_inner},"id":123456789012345678901234567890}}"#),
        ),
        ("record as an array", format!("[{own_json}]")),
        ("record as a string", json!(own_json).to_string()),
    ];
    for (case, body) in &bodies {
        let reply = f.ask(answer(raw(200, &[JSON], body.as_bytes()))).await;
        assert_eq!(
            reply.status,
            200,
            "{case}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        f.oracle
            .assert_clean(&reply.all_bytes(), Some(&f.grant()), case);
        let reply = f
            .ask_unticketed(answer(raw(200, &[JSON], body.as_bytes())))
            .await;
        assert_eq!(reply.status, 200, "{case}");
        f.oracle.assert_clean(&reply.all_bytes(), None, case);
    }
    // Free text quoting tags is concealed for an agent without a ticket.
    let body = format!(
        r#"{{{own_inner},"name":"about {tag} and {}"}}"#,
        f.own.devices[0].service_tag
    );
    let reply = f
        .ask_unticketed(answer(raw(200, &[JSON], body.as_bytes())))
        .await;
    f.oracle
        .assert_clean(&reply.all_bytes(), None, "tags in free text");
}

#[tokio::test]

async fn another_customers_tag_quoted_in_a_ticketed_record_stays_hidden() {
    let f = Fixture::start().await;
    let own_json = hostile::record_json(&f.own);
    let own_inner = own_json.trim_start_matches('{').trim_end_matches('}');
    let tag = &f.other.devices[0].service_tag;
    let body = format!(r#"{{{own_inner},"name":"swapped with {tag}"}}"#);
    let reply = f.ask(answer(raw(200, &[JSON], body.as_bytes()))).await;
    assert_eq!(reply.status, 200);
    f.oracle.assert_clean(
        &reply.all_bytes(),
        Some(&f.grant()),
        "foreign tag in free text",
    );
}

#[tokio::test]

async fn numbers_and_keys_in_passed_values_are_scanned_too() {
    let f = Fixture::start().await;
    let other = &f.other;
    let own_json = hostile::record_json(&f.own);
    let own_inner = own_json.trim_start_matches('{').trim_end_matches('}');
    let mut record: Value = serde_json::from_str(&format!("{{{own_inner}}}")).expect("json");
    let code: u64 = other.devices[0]
        .express_service_code
        .parse()
        .expect("digits");
    record["service_history"][0]["case_id"] = json!(code);
    record["address"]["city"] = json!({ other.phone.clone(): "x", other.email.clone(): 1 });
    let reply = f
        .ask(answer(raw(200, &[JSON], record.to_string().as_bytes())))
        .await;
    assert_eq!(reply.status, 200);
    f.oracle
        .assert_clean(&reply.all_bytes(), Some(&f.grant()), "numbers and keys");
}

#[tokio::test]

async fn a_lower_case_tag_in_free_text_is_caught() {
    let f = Fixture::start().await;
    let own_json = hostile::record_json(&f.own);
    let own_inner = own_json.trim_start_matches('{').trim_end_matches('}');
    let tag = f.other.devices[0].service_tag.to_lowercase();
    let body = format!(r#"{{{own_inner},"name":"tag {tag}"}}"#);
    let reply = f
        .ask_unticketed(answer(raw(200, &[JSON], body.as_bytes())))
        .await;
    f.oracle
        .assert_clean(&reply.all_bytes(), None, "lower-case tag");
}

#[tokio::test]
async fn extra_bytes_after_an_answer_never_become_the_next_answer() {
    let f = Fixture::start().await;
    let mut poison: Value = serde_json::from_str(&hostile::record_json(&f.other)).expect("json");
    poison["id"] = json!(f.own.id);
    poison["name"] = json!("POISONED");
    let poisoned = hostile::keep_alive(200, "application/json", poison.to_string().as_bytes());
    let first = hostile::keep_alive(
        200,
        "application/json",
        hostile::record_json(&f.own).as_bytes(),
    );
    f.queue.lock().expect("lock").push_back(vec![
        Step::Read,
        Step::Write([first.as_slice(), &poisoned].concat()),
        Step::Read,
        Step::Write(first.clone()),
    ]);
    let first_reply = f.ask(Vec::new()).await;
    assert_eq!(first_reply.status, 200);
    // If the pooled connection were reused, its leftover answer would be read as this one.
    let second = f
        .ask(answer(raw(
            200,
            &[JSON],
            hostile::record_json(&f.own).as_bytes(),
        )))
        .await;
    for reply in [&first_reply, &second] {
        let text = String::from_utf8_lossy(&reply.body);
        assert!(
            !text.contains("POISONED"),
            "a leftover answer was served: {text}"
        );
        f.oracle
            .assert_clean(&reply.all_bytes(), Some(&f.grant()), "pool poisoning");
    }
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

fn chunked(headers: &[(&str, &str)], chunks: &[&[u8]]) -> Vec<u8> {
    let mut out =
        b"HTTP/1.1 200 OK\r\nconnection: close\r\ntransfer-encoding: chunked\r\n".to_vec();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    for chunk in chunks {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn chunked_with_trailer(body: &[u8], trailer: &str) -> Vec<u8> {
    let mut out = chunked(&[JSON, ("trailer", "x-phone, x-tag")], &[body]);
    out.truncate(out.len() - 2);
    out.extend_from_slice(format!("{trailer}\r\n\r\n").as_bytes());
    out
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
