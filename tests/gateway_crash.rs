//! Crash safety: SIGKILL the real `keyhole serve` process under concurrent
//! load; every disclosure id a client received must be in the ledger, and
//! the chain must verify, before and after restart.

mod support;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use support::{bearer, Behaviour, Client, Recorder};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn keyhole serve")
}

async fn wait_ready(client: &Client, url: &str, auth: &str) {
    for _ in 0..200 {
        if client
            .try_send(http::Method::GET, url, &[("authorization", auth)], "")
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("keyhole serve did not come up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_disclosure() {
    let dir = tempfile::tempdir().unwrap();
    let recorder_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = free_port();
    let files = keyhole::demo::setup::prepare(
        dir.path(),
        20,
        port,
        recorder_listener.local_addr().unwrap().port(),
    )
    .unwrap();
    let data = keyhole::demo::setup::load_data(&files.data).unwrap();
    let credential = std::fs::read_to_string(&files.upstream_credential).unwrap();
    let api = support::upstream::start_sample_api(data, credential.trim().to_string()).await;
    let _recorder = Recorder::start(recorder_listener, Behaviour::Forward, api);
    let config = keyhole::config::Config::load(&files.config).unwrap();
    let tickets: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.tickets).unwrap()).unwrap();
    let customer = tickets[0]["customer_id"].as_str().unwrap().to_string();
    let token = keyhole::authenticate::mint(
        &config.auth,
        "alice",
        "northwind-support",
        Duration::from_secs(600),
    )
    .unwrap();
    let auth = bearer(&token);
    let url = format!("https://127.0.0.1:{port}/customers/{customer}");
    let received = Arc::new(Mutex::new(BTreeSet::new()));

    for round in 0..3 {
        let mut child = spawn(&files.config);
        let probe = Client::new(&files.ca_cert, false);
        wait_ready(&probe, &url, &auth).await;
        let mut workers = Vec::new();
        for _ in 0..8 {
            let (client, url, auth, received) = (
                Client::new(&files.ca_cert, false),
                url.clone(),
                auth.clone(),
                received.clone(),
            );
            workers.push(tokio::spawn(async move {
                loop {
                    let headers = [("authorization", auth.as_str()), ("x-ticket-id", "T-1001")];
                    match client.try_send(http::Method::GET, &url, &headers, "").await {
                        Ok(reply) => {
                            if let Some(seq) = reply.header("keyhole-disclosure") {
                                received.lock().unwrap().insert(seq.parse::<u64>().unwrap());
                            }
                        }
                        Err(_) => return,
                    }
                }
            }));
        }
        let delay = rand::rng().random_range(200..700);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        for w in workers {
            let _ = w.await;
        }
        let report = keyhole::audit::verify(&config.ledger.dir)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(report.records > 0);
        let ledgered: BTreeSet<u64> =
            keyhole::audit::agent_history(&config.ledger.dir, "alice", None)
                .unwrap()
                .iter()
                .map(|r| r.seq)
                .collect();
        let missing: Vec<u64> = received
            .lock()
            .unwrap()
            .difference(&ledgered)
            .copied()
            .collect();
        assert!(
            missing.is_empty(),
            "round {round}: acknowledged but not in the ledger: {missing:?}"
        );
    }
    assert!(
        received.lock().unwrap().len() > 3,
        "the load produced disclosures"
    );
    // After the last kill the gateway restarts on the same ledger and the chain continues.
    let mut child = spawn(&files.config);
    wait_ready(&Client::new(&files.ca_cert, false), &url, &auth).await;
    child.kill().unwrap();
    child.wait().unwrap();
    keyhole::audit::verify(&config.ledger.dir).expect("chain verifies after restart");
}
