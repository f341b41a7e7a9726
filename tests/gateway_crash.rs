//! Crash safety: SIGKILL the real `keyhole serve` process under concurrent
//! load; every disclosure id a client received must be in the ledger, and
//! the chain must verify, before and after restart.

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use support::process::{wait_ready, ServedDemo};
use support::Client;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_disclosure() {
    let demo = ServedDemo::prepare(20).await;
    let (files, config) = (&demo.files, &demo.config);
    let auth = demo.bearer("alice", "northwind-support");
    let received = Arc::new(Mutex::new(BTreeSet::new()));

    for round in 0..3 {
        let mut serving = demo.spawn(None);
        let url = demo.record_url(serving.port);
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
        serving.child.kill().expect("SIGKILL");
        serving.child.wait().unwrap();
        for w in workers {
            let _ = w.await;
        }
        let report = keyhole::audit::verify(&config.ledger.dir)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(report.records > 0);
        let ledgered: BTreeSet<u64> =
            keyhole::audit::agent_history(&config.ledger.dir, "alice", None)
                .unwrap()
                .found
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
    let mut serving = demo.spawn(None);
    let url = demo.record_url(serving.port);
    wait_ready(&Client::new(&files.ca_cert, false), &url, &auth).await;
    serving.child.kill().unwrap();
    serving.child.wait().unwrap();
    keyhole::audit::verify(&config.ledger.dir).expect("chain verifies after restart");
}
