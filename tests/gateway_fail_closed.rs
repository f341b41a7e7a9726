//! Fail closed: whatever the policy engine cannot fully understand yields an
//! error with none of the upstream's bytes.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::upstream::raw;
use support::{bearer, Behaviour, TestEnv};

const MARKER: &str = "Q7ZK4M2";

fn record(extra: &str) -> String {
    format!(
        r#"{{"id":"CUS-100000","name":"Ann","phone":"+1-555-013-4821","notes":"{MARKER}"{extra}}}"#
    )
}

async fn refused(behaviour: Behaviour, expect_status: u16, expect_code: &str) {
    let env = TestEnv::start_with(behaviour, |c| {
        c.limits.max_response_bytes = 16 * 1024;
        c.upstream.response_timeout_ms = 400;
    })
    .await;
    let url = format!("{}/customers/CUS-100000", env.base());
    let reply = env
        .h1()
        .get(
            &url,
            &[
                ("authorization", &bearer(&env.alice())),
                ("x-ticket-id", "T-1001"),
            ],
        )
        .await;
    assert_eq!(
        reply.status,
        expect_status,
        "{expect_code}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.error_code(), expect_code);
    let bytes = String::from_utf8_lossy(&reply.all_bytes()).to_string();
    for secret in [MARKER, "555-013-4821", "Ann"] {
        assert!(
            !bytes.contains(secret),
            "{expect_code}: upstream bytes leaked: {bytes}"
        );
    }
    assert_eq!(
        env.recorder.count(),
        1,
        "the request itself was forwarded once"
    );
}

fn respond(bytes: Vec<u8>) -> Behaviour {
    Behaviour::Raw(Arc::new(move |_| bytes.clone()))
}

#[tokio::test]
async fn non_json_content_types_are_withheld() {
    refused(
        respond(raw(
            200,
            &[("content-type", "text/html")],
            record("").as_bytes(),
        )),
        502,
        "response-not-json",
    )
    .await;
    refused(
        respond(raw(200, &[], record("").as_bytes())),
        502,
        "response-not-json",
    )
    .await;
}

#[tokio::test]
async fn compressed_bodies_are_withheld() {
    for encoding in ["gzip", "br", "deflate"] {
        let headers = [
            ("content-type", "application/json"),
            ("content-encoding", encoding),
        ];
        refused(
            respond(raw(200, &headers, record("").as_bytes())),
            502,
            "response-compressed",
        )
        .await;
    }
}

#[tokio::test]
async fn oversized_truncated_deep_and_invalid_bodies_are_withheld() {
    let json = [("content-type", "application/json")];
    let big = record(&format!(r#","pad":"{}""#, "x".repeat(32 * 1024)));
    refused(
        respond(raw(200, &json, big.as_bytes())),
        502,
        "response-too-large",
    )
    .await;

    let mut truncated = raw(200, &json, record("").as_bytes());
    let cut = truncated.len() - 10;
    truncated.truncate(cut);
    refused(respond(truncated), 502, "upstream-truncated").await;

    let deep = format!(
        r#"{{"id":"CUS-100000","notes":"{MARKER}","x":{}{}}}"#,
        "[".repeat(500),
        "]".repeat(500)
    );
    refused(
        respond(raw(200, &json, deep.as_bytes())),
        502,
        "response-too-deep",
    )
    .await;

    let invalid = format!(r#"{{"id":"CUS-100000","notes":"{MARKER}","#);
    refused(
        respond(raw(200, &json, invalid.as_bytes())),
        502,
        "response-invalid-json",
    )
    .await;

    let mut bad_utf8 = record("").into_bytes();
    bad_utf8.extend_from_slice(b"\xff\xfe");
    refused(
        respond(raw(200, &json, &bad_utf8)),
        502,
        "response-invalid-json",
    )
    .await;
}

#[tokio::test]
async fn upstream_error_bodies_and_timeouts_are_not_shown() {
    let json = [("content-type", "application/json")];
    refused(
        respond(raw(500, &json, record("").as_bytes())),
        502,
        "upstream-status",
    )
    .await;
    refused(
        respond(raw(404, &json, record("").as_bytes())),
        404,
        "upstream-status",
    )
    .await;
    refused(
        Behaviour::Slow(Duration::from_secs(3)),
        504,
        "upstream-timeout",
    )
    .await;
}

#[tokio::test]
async fn duplicate_and_escaped_keys_cannot_smuggle_a_field_past_its_rule() {
    let body = r#"{"id":"CUS-100000","name":"Ann","phone":"+1-555-013-4821","\u0070hone":"+1-555-013-9999","address":{"city":"X","street":"1 Secret Way","street":"2 Secret Way"}}"#;
    let env = TestEnv::start_with(
        respond(raw(
            200,
            &[("content-type", "application/json")],
            body.as_bytes(),
        )),
        |_| {},
    )
    .await;
    let reply = env
        .h1()
        .get(
            &format!("{}/customers/CUS-100000", env.base()),
            &[("authorization", &bearer(&env.bob()))],
        )
        .await;
    assert_eq!(reply.status, 200);
    let text = String::from_utf8_lossy(&reply.body).to_string();
    for secret in ["555-013-4821", "555-013-9999", "Secret Way"] {
        assert!(!text.contains(secret), "{text}");
    }
}

/// Answers `GET /customers/<id>` with `body(id)` as JSON.
fn per_customer(body: impl Fn(&str) -> String + Send + Sync + 'static) -> Behaviour {
    Behaviour::Raw(Arc::new(move |seen| {
        let id = seen.target.trim_start_matches("/customers/");
        raw(
            200,
            &[("content-type", "application/json")],
            body(id).as_bytes(),
        )
    }))
}

#[tokio::test]
async fn a_record_naming_its_customer_twice_reveals_nothing_under_a_live_ticket() {
    // Even twice the same id: parsers disagree on which repeated member wins,
    // so the record cannot show whose it is.
    let env = TestEnv::start_with(
        per_customer(|id| {
            format!(r#"{{"id":"{id}","phone":"+1-555-013-4821","id":"{id}","name":"Ann"}}"#)
        }),
        |_| {},
    )
    .await;
    let reply = env.alice_under_her_ticket().await;
    assert_eq!(reply.status, 200);
    let text = String::from_utf8_lossy(&reply.body).to_string();
    assert!(!text.contains("555-013-4821"), "{text}");
    assert!(reply.header("keyhole-disclosure").is_none(), "{text}");
    assert_eq!(
        reply.header("keyhole-ticket").as_deref(),
        Some("denied; reason=wrong-customer")
    );
}

#[tokio::test]
async fn a_judged_record_keeps_the_upstreams_member_order() {
    let env = TestEnv::start_with(
        per_customer(|id| {
            format!(r#"{{"phone":"+1-555-013-4821","name":"Ann","id":"{id}","email":"ann@example.com"}}"#)
        }),
        |_| {},
    )
    .await;
    let reply = env.alice_under_her_ticket().await;
    assert_eq!(reply.status, 200);
    let text = String::from_utf8_lossy(&reply.body).to_string();
    let at = |name: &str| text.find(&format!("\"{name}\":")).expect(name);
    assert!(
        at("phone") < at("name") && at("name") < at("id") && at("id") < at("email"),
        "{text}"
    );
}
