//! Hostile request targets over a raw TLS socket, so nothing normalizes them on
//! the way: dot segments (plain, encoded, double-encoded, overlong), empty
//! segments, `;` parameters, NUL and control bytes, case games, absolute-form
//! targets and Host/`:authority` disagreements. Authorization and forwarding
//! must see the same canonical path, or the request is refused.

#[path = "support/hostile.rs"]
mod hostile;
mod support;

use hostile::{error_code, raw_h1, request, statuses, Grant, Oracle};
use support::{bearer, TestEnv};

struct Case {
    target: String,
    status: u16,
    /// Keyhole's error code, when Keyhole (not the HTTP parser) answers.
    code: Option<&'static str>,
}

fn refused(target: String, status: u16, code: Option<&'static str>) -> Case {
    Case {
        target,
        status,
        code,
    }
}

fn ambiguous_targets(a: &str, b: &str) -> Vec<Case> {
    let bad = |t: String| refused(t, 400, Some("bad-path"));
    let mut cases: Vec<Case> = [
        format!("/customers/{a}/../{b}"),
        format!("/customers/./{a}"),
        format!("/customers/{a}/."),
        format!("/customers/%2e%2e/{b}"),
        format!("/customers/%2E%2E/{b}"),
        format!("/customers/.%2e/{b}"),
        format!("/customers/%2e./{b}"),
        format!("/customers/%252e%252e/{b}"),
        format!("/customers/{a}%2f..%2f{b}"),
        format!("/customers/{a}%2F{b}"),
        format!("/customers/{a}%5c..%5c{b}"),
        format!("/customers/{a}%255c{b}"),
        format!("//customers/{a}"),
        format!("/customers//{a}"),
        format!("/customers/{a}/"),
        format!("/customers/{a};x=1"),
        format!("/customers;x=1/{a}"),
        format!("/customers/{a}%3bx=1"),
        format!("/customers/{a}%00"),
        format!("/customers/{a}%00.json"),
        format!("/customers/{a}%0a"),
        format!("/customers/{a}%0d%0aX-Injected:%201"),
        format!("/customers/{a}%09"),
        format!("/customers/{a}%7f"),
        format!("/customers/%c0%ae%c0%ae/{b}"),
        format!("/customers/%e0%80%ae%e0%80%ae/{b}"),
        format!("/customers/{a}%c0%af{b}"),
        format!("/customers/{a}%ff"),
        format!("/customers/{a}%"),
        format!("/customers/{a}%zz"),
        format!("/customers/%u002e%u002e/{b}"),
        format!("/customers/{}", "x".repeat(3000)),
    ]
    .into_iter()
    .map(bad)
    .collect();
    cases.push(refused(
        format!("/CUSTOMERS/{a}"),
        404,
        Some("route-not-found"),
    ));
    cases.push(refused(
        format!("/Customers/{a}"),
        404,
        Some("route-not-found"),
    ));
    cases.push(refused(
        format!("/customers/{a}/notes/.."),
        400,
        Some("bad-path"),
    ));
    cases.push(refused("*".to_string(), 400, None));
    cases.push(refused(format!("/customers/{a}\\..\\{b}"), 400, None));
    cases.push(refused(format!("/customers/{a} /x"), 400, None));
    cases
}

#[tokio::test]
async fn ambiguous_paths_are_refused_before_the_upstream() {
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
    let headers = [("authorization", auth.as_str()), ("x-ticket-id", "T-1001")];
    let oracle = Oracle::new(&env.data);
    for case in ambiguous_targets(&a, &b) {
        let bytes = raw_h1(
            env.running.addr,
            &env.files.ca_cert,
            &request("GET", &case.target, &host, &headers),
        )
        .await;
        let got = statuses(&bytes);
        assert_eq!(
            got.first().copied(),
            Some(case.status),
            "{}: {}",
            case.target,
            String::from_utf8_lossy(&bytes)
        );
        if let Some(code) = case.code {
            assert_eq!(error_code(&bytes).as_deref(), Some(code), "{}", case.target);
        }
        oracle.assert_clean(&bytes, None, &case.target);
    }
    assert_eq!(
        env.recorder.count(),
        0,
        "nothing ambiguous may reach the upstream"
    );
}

#[tokio::test]
async fn equivalent_spellings_are_forwarded_as_the_one_path_that_was_authorized() {
    let env = TestEnv::start().await;
    let a = env.hardware_customer().clone();
    let port = env.running.addr.port();
    let host = env.running.addr.to_string();
    let auth = bearer(&env.alice());
    let headers = [("authorization", auth.as_str()), ("x-ticket-id", "T-1001")];
    let encoded: String = a.id.bytes().map(|b| format!("%{b:02X}")).collect();
    let targets = [
        format!("/customers/{}", a.id),
        format!("/customers/{encoded}"),
        format!("/%63ustomers/{}", a.id),
        format!("https://127.0.0.1:{port}/customers/{}", a.id),
        format!("/customers/{}?", a.id),
        // The parser drops a fragment; what is left is the one path judged and sent.
        format!("/customers/{}#../../admin", a.id),
    ];
    let grant = Grant::new(&a.id, "hardware");
    let oracle = Oracle::new(&env.data);
    for target in &targets {
        let bytes = raw_h1(
            env.running.addr,
            &env.files.ca_cert,
            &request("GET", target, &host, &headers),
        )
        .await;
        assert_eq!(
            statuses(&bytes).first().copied(),
            Some(200),
            "{target}: {}",
            String::from_utf8_lossy(&bytes)
        );
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains(a.devices[0].service_tag.as_str()),
            "{target}: the ticket applied to the canonical path"
        );
        oracle.assert_clean(&bytes, Some(&grant), target);
    }
    let seen = env.recorder.seen();
    assert_eq!(seen.len(), targets.len());
    for s in &seen {
        assert_eq!(
            s.target.split('?').next(),
            Some(format!("/customers/{}", a.id).as_str())
        );
        assert_eq!(s.headers["host"], env.recorder.addr.to_string().as_str());
    }
}

#[tokio::test]
async fn a_foreign_authority_is_refused_or_never_becomes_the_upstream() {
    let env = TestEnv::start().await;
    let a = env.hardware_customer().id.clone();
    let port = env.running.addr.port();
    let host = env.running.addr.to_string();
    let auth = bearer(&env.bob());
    let oracle = Oracle::new(&env.data);
    let headers = [("authorization", auth.as_str())];
    let mismatched = [
        (format!("https://evil.example/customers/{a}"), host.clone()),
        (
            format!("https://127.0.0.1:{port}/customers/{a}"),
            "evil.example".to_string(),
        ),
        (format!("https://127.0.0.1:1/customers/{a}"), host.clone()),
    ];
    for (target, host) in &mismatched {
        let bytes = raw_h1(
            env.running.addr,
            &env.files.ca_cert,
            &request("GET", target, host, &headers),
        )
        .await;
        assert_eq!(
            statuses(&bytes).first().copied(),
            Some(400),
            "{target} / {host}"
        );
        assert_eq!(error_code(&bytes).as_deref(), Some("authority-mismatch"));
        oracle.assert_clean(&bytes, None, target);
    }
    let two_hosts = [("authorization", auth.as_str()), ("host", "evil.example")];
    let path = format!("/customers/{a}");
    let bytes = raw_h1(
        env.running.addr,
        &env.files.ca_cert,
        &request("GET", &path, &host, &two_hosts),
    )
    .await;
    assert_eq!(
        statuses(&bytes).first().copied(),
        Some(400),
        "two Host headers"
    );
    assert_eq!(env.recorder.count(), 0);

    // Host and target agree on a foreign name: the request is served, but only
    // ever by the configured upstream, under its own Host.
    let target = format!("https://evil.example/customers/{a}");
    let bytes = raw_h1(
        env.running.addr,
        &env.files.ca_cert,
        &request("GET", &target, "evil.example", &headers),
    )
    .await;
    assert_eq!(statuses(&bytes).first().copied(), Some(200));
    oracle.assert_clean(&bytes, None, &target);
    let seen = env.recorder.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, path);
    assert_eq!(
        seen[0].headers["host"],
        env.recorder.addr.to_string().as_str()
    );
}

#[tokio::test]
async fn host_and_authority_must_agree_over_http2() {
    let env = TestEnv::start().await;
    let a = env.hardware_customer().id.clone();
    let url = format!("{}/customers/{a}", env.base());
    let auth = bearer(&env.bob());
    let reply = env
        .h2()
        .get(&url, &[("authorization", &auth), ("host", "evil.example")])
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error_code(), "authority-mismatch");
    Oracle::new(&env.data).assert_clean(&reply.all_bytes(), None, "h2 host mismatch");
    assert_eq!(env.recorder.count(), 0);
}
