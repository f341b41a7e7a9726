//! Log before disclose, through the gateway: every clear disclosure has a
//! durable ledger record before it leaves, the ledger never holds a value,
//! and a failing disk turns disclosures into 503s with nothing sensitive.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use support::oracle::{leaks, variants};
use support::{bearer, TestEnv};

async fn disclose(env: &TestEnv) -> support::Reply {
    let a = env.ticket_customer("T-1001").clone();
    env.h1()
        .get(
            &format!("{}/customers/{}", env.base(), a.id),
            &[
                ("authorization", &bearer(&env.alice())),
                ("x-ticket-id", "T-1001"),
            ],
        )
        .await
}

fn ledger_bytes(env: &TestEnv) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(env.ledger_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    all
}

#[tokio::test]
async fn every_disclosure_is_ledgered_by_fingerprint_never_by_value() {
    let env = TestEnv::start().await;
    let a = env.ticket_customer("T-1001").clone();
    let reply = disclose(&env).await;
    let seq: u64 = reply
        .header("keyhole-disclosure")
        .expect("disclosure id")
        .parse()
        .unwrap();
    // Other agents' masked views and a search add no disclosure records.
    let _ = env
        .h1()
        .get(
            &format!("{}/customers?q=", env.base()),
            &[("authorization", &bearer(&env.bob()))],
        )
        .await;

    let sightings = keyhole::audit::who_saw(
        &env.ledger_dir(),
        &keyhole::audit::load_key(&env.ledger_dir(), None).unwrap(),
        &a.devices[0].service_tag,
    )
    .unwrap()
    .found;
    // The tag and its express code are the same number: both disclosures are sightings.
    let mut paths: Vec<&str> = sightings.iter().map(|s| s.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        ["devices[0].express_service_code", "devices[0].service_tag"],
        "{sightings:?}"
    );
    for s in &sightings {
        assert_eq!(
            (s.seq, s.agent.as_str(), s.ticket.as_deref()),
            (seq, "alice", Some("T-1001"))
        );
        assert_eq!(s.customer, a.id);
    }

    env.running.gateway.ledger.checkpoint().await.unwrap();
    let all_values: Vec<String> = env
        .data
        .customers
        .iter()
        .flat_map(|c| c.sensitive_values())
        .flat_map(|v| variants(&v))
        .filter(|v| v.len() >= 6)
        .collect();
    assert!(
        leaks(&ledger_bytes(&env), &all_values).is_empty(),
        "the ledger holds a clear value"
    );
    assert!(keyhole::audit::verify(&env.ledger_dir()).unwrap().records >= 1);
}

/// A value shown at several places in one response (a device's tag in the
/// device list and again in its service cases) is ledgered at every place,
/// each under the one fingerprint an auditor computes from the value.
#[tokio::test]
async fn a_value_shown_twice_is_ledgered_at_both_places() {
    let env = TestEnv::start().await;
    let a = env.ticket_customer("T-1001").clone();
    assert_eq!(disclose(&env).await.status, 200);
    env.running.gateway.ledger.checkpoint().await.unwrap();
    let key = keyhole::audit::load_key(&env.ledger_dir(), None).unwrap();

    let mut repeated = 0;
    for (i, device) in a.devices.iter().enumerate() {
        let cases: Vec<String> = (a.service_history.iter().enumerate())
            .filter(|(_, case)| case.service_tag == device.service_tag)
            .map(|(j, _)| format!("service_history[{j}].service_tag"))
            .collect();
        if cases.is_empty() {
            continue;
        }
        repeated += 1;
        let sightings = keyhole::audit::who_saw(&env.ledger_dir(), &key, &device.service_tag)
            .unwrap()
            .found;
        let paths: BTreeSet<&str> = sightings.iter().map(|s| s.path.as_str()).collect();
        let device_path = format!("devices[{i}].service_tag");
        for expected in cases.iter().chain([&device_path]) {
            assert!(paths.contains(expected.as_str()), "{expected} in {paths:?}");
        }
    }
    assert!(
        repeated > 0,
        "the ticket's customer has a tag in its service history"
    );
}

#[tokio::test]
async fn a_failing_disk_withholds_disclosures_with_503_until_the_ledger_recovers() {
    let faults = Arc::new(keyhole::ledger::Faults::default());
    let env = TestEnv::start_with_faults(faults.clone()).await;
    let a = env.ticket_customer("T-1001").clone();
    let secrets: Vec<String> = a.devices.iter().map(|d| d.service_tag.clone()).collect();
    assert_eq!(disclose(&env).await.status, 200);

    for fail_writes in [false, true] {
        if fail_writes {
            faults.fail_writes(true)
        } else {
            faults.fail_syncs(true)
        }
        let reply = disclose(&env).await;
        assert_eq!(
            reply.status,
            503,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.error_code(), "ledger-unavailable");
        assert!(leaks(&reply.all_bytes(), &secrets).is_empty());
        // Masked views need no ledger record and keep working.
        let masked = env
            .h1()
            .get(
                &format!("{}/customers/{}", env.base(), a.id),
                &[("authorization", &bearer(&env.bob()))],
            )
            .await;
        assert_eq!(masked.status, 200);
        faults.fail_writes(false);
        faults.fail_syncs(false);
        let mut recovered = false;
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if env.running.gateway.ledger.is_healthy() {
                recovered = true;
                break;
            }
        }
        assert!(recovered, "the ledger recovers once the disk does");
        assert_eq!(disclose(&env).await.status, 200);
    }
    let report = keyhole::audit::verify(&env.ledger_dir()).unwrap();
    assert!(report.records >= 3);
}

#[tokio::test]
async fn refused_tokens_and_denied_tickets_are_recorded_for_the_security_team() {
    let env = TestEnv::start().await;
    let a = env.ticket_customer("T-1001").clone();
    let client = env.h1();
    let bob_view = client
        .get(
            &format!("{}/customers/{}", env.base(), a.id),
            &[("authorization", &bearer(&env.bob()))],
        )
        .await;
    let token = bob_view.json()["devices"][0]["service_tag"]
        .as_str()
        .unwrap()
        .to_string();
    let stolen = client
        .get(
            &format!("{}/devices/{token}", env.base()),
            &[("authorization", &bearer(&env.alice()))],
        )
        .await;
    assert_eq!(stolen.status, 403);
    let probe = client
        .get(
            &format!("{}/customers/{}", env.base(), a.id),
            &[
                ("authorization", &bearer(&env.bob())),
                ("x-ticket-id", "T-1001"),
            ],
        )
        .await;
    assert_eq!(
        probe.header("keyhole-ticket").as_deref(),
        Some("denied; reason=not-assignee")
    );
    // Alice's live ticket, used on a customer it is not about.
    let other = env
        .data
        .customers
        .iter()
        .find(|c| c.id != a.id)
        .unwrap()
        .id
        .clone();
    let elsewhere = client
        .get(
            &format!("{}/customers/{other}", env.base()),
            &[
                ("authorization", &bearer(&env.alice())),
                ("x-ticket-id", "T-1001"),
            ],
        )
        .await;
    assert_eq!(
        elsewhere.header("keyhole-ticket").as_deref(),
        Some("denied; reason=wrong-customer")
    );

    let alice = keyhole::audit::agent_history(&env.ledger_dir(), "alice", None)
        .unwrap()
        .found;
    let refused = alice
        .iter()
        .find(|r| r.reason.as_deref() == Some("token-not-yours"))
        .unwrap_or_else(|| panic!("{alice:?}"));
    assert_eq!(
        refused.route, "/devices/{service_tag}",
        "the route it was tried on"
    );
    let wrong = alice
        .iter()
        .find(|r| r.reason.as_deref() == Some("ticket-wrong-customer"))
        .unwrap_or_else(|| panic!("{alice:?}"));
    assert_eq!(
        (wrong.ticket.as_deref(), &wrong.customers[..]),
        (Some("T-1001"), &[other][..])
    );
    let bob = keyhole::audit::agent_history(&env.ledger_dir(), "bob", None)
        .unwrap()
        .found;
    let probed = bob
        .iter()
        .find(|r| r.reason.as_deref() == Some("ticket-not-assignee"))
        .unwrap_or_else(|| panic!("{bob:?}"));
    assert_eq!(probed.customers, std::slice::from_ref(&a.id));
}

#[tokio::test]
async fn audit_commands_answer_from_the_binary() {
    let env = TestEnv::start().await;
    let a = env.ticket_customer("T-1001").clone();
    assert_eq!(disclose(&env).await.status, 200);
    env.running.gateway.ledger.checkpoint().await.unwrap();
    let keyhole = env!("CARGO_BIN_EXE_keyhole");
    let dir = env.ledger_dir();
    let verify = std::process::Command::new(keyhole)
        .arg("audit")
        .arg("verify")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let who = std::process::Command::new(keyhole)
        .args(["audit", "who-saw"])
        .arg(&dir)
        .args(["--value", &a.devices[0].service_tag])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&who.stdout);
    assert!(
        who.status.success() && text.contains("alice") && text.contains("T-1001"),
        "{text}"
    );
    assert!(
        !text.contains(&a.devices[0].service_tag),
        "the answer does not echo the value"
    );
}
