//! Operating the gateway: admin endpoints, reload without reconnecting, and
//! vendor-site client certificates.

#[path = "support/hostile.rs"]
mod hostile;
mod support;

use support::client::tls_config;
use support::{bearer, Client, TestEnv};

#[tokio::test]
async fn health_readiness_and_metrics() {
    let env = TestEnv::start().await;
    assert_eq!(env.admin_get("/healthz").await.0, 200);
    let (status, body) = env.admin_get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    let reply = env.alice_under_her_ticket().await;
    assert!(reply.header("keyhole-disclosure").is_some());
    let (_, metrics) = env.admin_get("/metrics").await;
    assert!(metrics.contains("keyhole_disclosures_total 1"), "{metrics}");
    assert!(metrics.contains("keyhole_requests_total{status=\"200\"} 1"));
    // The disclosure's ledger record was written and synced before the response.
    assert!(
        metrics.contains("keyhole_ledger_records_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("keyhole_ledger_fsyncs_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("keyhole_ledger_fsync_failures_total 0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("keyhole_disclosures_by_class_total{class=\"service-tag\"}"),
        "{metrics}"
    );
    assert!(
        !metrics.contains(&env.ticket_customer("T-1001").devices[0].service_tag),
        "metrics carry no values"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let down = TestEnv::start_with(support::Behaviour::Forward, |c| {
        c.upstream.url = format!("http://{closed}")
    })
    .await;
    let (status, body) = down.admin_get("/readyz").await;
    assert_eq!(status, 503);
    assert!(body.contains("\"upstream\":false"), "{body}");
}

/// A request still out when a stricter policy is loaded is answered by the
/// stricter policy: alice holds her request open (a body sent in two halves)
/// while the tags stop being revealable at all, and gets none in clear.
#[tokio::test]
async fn a_policy_reloaded_while_a_request_is_out_judges_its_answer() {
    let env = TestEnv::start().await;
    let a = env.ticket_customer("T-1001").clone();
    let auth = bearer(&env.alice());
    let target = format!("/customers/{}", a.id);
    let headers = [("authorization", auth.as_str()), ("x-ticket-id", "T-1001")];
    let (addr, ca) = (env.running.addr, &env.files.ca_cert);
    let held = hostile::held_get(addr, ca, &target, &headers).await;
    // A whole request on another connection: the held one, written first,
    // is in the gateway's hands by the time this one is answered.
    let url = format!("{}/customers/{}", env.base(), a.id);
    let before = env
        .h1()
        .get(&url, &[("authorization", &bearer(&env.bob()))])
        .await;
    assert!(before.json()["devices"][0]["service_tag"].is_string());
    let policy = env.files.dir.join("policies/customer-records.toml");
    let text = std::fs::read_to_string(&policy).unwrap();
    // The tag rules of the record route (the search route's come later).
    let stricter = text.replacen(
        r#"{ action = "tokenize", justify = ["hardware", "warranty"] }"#,
        r#""drop""#,
        2,
    );
    assert_ne!(stricter, text);
    std::fs::write(&policy, stricter).unwrap();
    env.running.gateway.reload().expect("valid policy reloads");
    let bytes = hostile::release(held).await;
    let answer = String::from_utf8_lossy(&bytes);
    assert_eq!(hostile::statuses(&bytes), vec![200], "{answer}");
    for device in &a.devices {
        assert!(!answer.contains(&device.service_tag), "{answer}");
    }
    assert!(
        !answer.contains("service_tag"),
        "the tags are dropped: {answer}"
    );
}

#[tokio::test]
async fn reload_applies_a_valid_policy_and_refuses_an_invalid_one_without_reconnecting() {
    let env = TestEnv::start().await;
    let a = env.ticket_customer("T-1001").clone();
    let url = format!("{}/customers/{}", env.base(), a.id);
    let auth = bearer(&env.bob());
    let client = env.h2();
    let before = client.get(&url, &[("authorization", &auth)]).await.json();
    assert_eq!(before["name"], a.name.as_str());

    let policy = env.files.dir.join("policies/customer-records.toml");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(
        &policy,
        text.replacen(
            "\"name\"                            = \"pass\"",
            "\"name\" = \"redact\"",
            1,
        ),
    )
    .unwrap();
    env.running.gateway.reload().expect("valid policy reloads");
    let after = client.get(&url, &[("authorization", &auth)]).await.json();
    assert_eq!(
        after["name"], "[redacted]",
        "the new policy applies on the same connection"
    );

    std::fs::write(
        &policy,
        "[policy]\nname = \"broken\"\n[[route]]\nmethods = [\"GET\"]\npath = \"no-slash\"\n",
    )
    .unwrap();
    let err = env
        .running
        .gateway
        .reload()
        .expect_err("invalid policy is refused");
    assert!(err.to_string().contains("customer-records.toml"), "{err}");
    let still = client.get(&url, &[("authorization", &auth)]).await.json();
    assert_eq!(
        still["name"], "[redacted]",
        "the previous set keeps serving"
    );
}

#[tokio::test]
async fn reload_names_the_settings_that_need_a_restart_and_keeps_the_running_ledger() {
    let env = TestEnv::start().await;
    let gw = &env.running.gateway;
    assert!(gw
        .reload()
        .expect("unchanged config reloads")
        .needs_restart
        .is_empty());

    // Move the ledger and change the ticket source: the running process keeps
    // both, and every reload says so until a restart.
    let moved = env.dir.path().join("moved-ledger");
    let text = std::fs::read_to_string(&env.files.config).unwrap();
    let edited = text
        .replacen(
            "[ledger]\n",
            &format!("[ledger]\ndir = {:?}\n", moved.display().to_string()),
            1,
        )
        .replacen("dir = \"ledger\"\n", "", 1)
        .replacen(
            "[tickets]\n",
            "[tickets]\nreload_interval_ms = 1234\nallow_pending = true\n",
            1,
        );
    assert_ne!(text, edited, "the demo config has the sections edited here");
    std::fs::write(&env.files.config, edited).unwrap();
    for _ in 0..2 {
        let reloaded = gw.reload().expect("a valid config reloads");
        assert_eq!(reloaded.needs_restart, ["tickets", "ledger"]);
    }

    let reply = env.alice_under_her_ticket().await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("keyhole-disclosure").is_some());
    assert!(
        !moved.exists(),
        "the disclosure went to the ledger the gateway started with"
    );
    let (_, metrics) = env.admin_get("/metrics").await;
    assert!(
        metrics.contains("keyhole_ledger_records_total 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn client_certificates_must_match_the_tokens_vendor() {
    let ca = keyhole::demo::pki::DevCa::new("vendor sites").unwrap();
    let sites = tempfile::tempdir().unwrap();
    let ca_path = sites.path().join("sites-ca.pem");
    std::fs::write(&ca_path, &ca.cert_pem).unwrap();
    let env = TestEnv::start_with(support::Behaviour::Forward, |c| {
        c.listen.client_ca = Some(ca_path.clone());
        c.listen.require_vendor_match = true;
    })
    .await;
    let site = ca.client("northwind-support").unwrap();
    let with_cert = Client::with_tls(
        tls_config(
            &env.files.ca_cert,
            false,
            Some((&site.cert_pem, &site.key_pem)),
        ),
        false,
    );
    let url = format!(
        "{}/customers/{}",
        env.base(),
        env.ticket_customer("T-1001").id
    );

    let ok = with_cert
        .get(&url, &[("authorization", &bearer(&env.alice()))])
        .await;
    assert_eq!(ok.status, 200);
    let mismatch = with_cert
        .get(&url, &[("authorization", &bearer(&env.bob()))])
        .await;
    assert_eq!(
        (mismatch.status.as_u16(), mismatch.error_code().as_str()),
        (403, "client-cert-vendor-mismatch")
    );
    let without = env
        .h1()
        .try_send(
            http::Method::GET,
            &url,
            &[("authorization", &bearer(&env.alice()))],
            "",
        )
        .await;
    assert!(without.is_err(), "no client certificate, no TLS session");
}

#[tokio::test]
async fn a_watched_policy_directory_reloads_on_change() {
    let env = TestEnv::start_with(support::Behaviour::Forward, |c| {
        c.reload.watch = true;
        c.reload.interval_ms = 100;
    })
    .await;
    let a = env.ticket_customer("T-1001").clone();
    let url = format!("{}/customers/{}", env.base(), a.id);
    let auth = bearer(&env.bob());
    let client = env.h1();
    let policy = env.files.dir.join("policies/customer-records.toml");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(
        &policy,
        text.replacen(
            "\"name\"                            = \"pass\"",
            "\"name\" = \"drop\"",
            1,
        ),
    )
    .unwrap();
    for _ in 0..100 {
        let body = client.get(&url, &[("authorization", &auth)]).await.json();
        if body.get("name").is_none() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the changed policy was never picked up");
}
