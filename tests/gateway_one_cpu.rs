//! `keyhole serve` confined to one CPU (a one-core container, `taskset -c 0`)
//! runs on a single-threaded runtime. The real binary, pinned with
//! `sched_setaffinity` before it starts, must still serve concurrent agents:
//! disclose under a ticket into a ledger that verifies, conceal without one,
//! and drain on SIGTERM.
#![cfg(target_os = "linux")]

mod support;

use std::collections::BTreeSet;

use support::process::{first_allowed_cpu, wait_ready, ServedDemo};
use support::{oracle, Client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_cpu_serves_discloses_and_conceals() {
    let demo = ServedDemo::prepare(20).await;
    let customer = demo.data.customer(&demo.ticket_customer).unwrap();
    let alice = demo.bearer("alice", "northwind-support");
    let bob = demo.bearer("bob", "northwind-support");
    let ca = &demo.files.ca_cert;

    let mut serving = demo.spawn(Some(first_allowed_cpu()));
    let url = demo.record_url(serving.port);
    wait_ready(&Client::new(ca, false), &url, &bob).await;

    let mut workers = Vec::new();
    for worker in 0..8 {
        let client = Client::new(ca, worker % 2 == 0);
        let (url, auth) = (
            url.clone(),
            if worker < 4 {
                alice.clone()
            } else {
                bob.clone()
            },
        );
        workers.push(tokio::spawn(async move {
            let mut replies = Vec::new();
            for _ in 0..10 {
                let headers = [("authorization", auth.as_str()), ("x-ticket-id", "T-1001")];
                let headers = if worker < 4 {
                    &headers[..]
                } else {
                    &headers[..1]
                };
                replies.push(client.get(&url, headers).await);
            }
            replies
        }));
    }
    let mut disclosures = BTreeSet::new();
    let forbidden = oracle::forbidden(customer);
    for (worker, handle) in workers.into_iter().enumerate() {
        for reply in handle.await.unwrap() {
            assert_eq!(
                reply.status,
                200,
                "{}",
                String::from_utf8_lossy(&reply.body)
            );
            let bytes = reply.all_bytes();
            if worker < 4 {
                let tag = &customer.devices[0].service_tag;
                assert!(
                    !oracle::leaks(&bytes, std::slice::from_ref(tag)).is_empty(),
                    "the ticket discloses the tag"
                );
                disclosures.insert(reply.header("keyhole-disclosure").expect("disclosure id"));
            } else {
                oracle::assert_no_leak(&bytes, &forbidden);
            }
        }
    }
    assert_eq!(
        disclosures.len(),
        40,
        "one disclosure per ticketed response"
    );

    // SAFETY: the pid is our child's, which has not been waited for.
    unsafe { libc::kill(serving.child.id() as libc::pid_t, libc::SIGTERM) };
    let status = serving.child.wait().unwrap();
    assert!(
        status.success(),
        "drains and exits cleanly on SIGTERM: {status}"
    );
    let report = keyhole::audit::verify(&demo.config.ledger.dir).expect("the chain verifies");
    assert!(report.records >= 40);
    let ledgered: BTreeSet<String> =
        keyhole::audit::agent_history(&demo.config.ledger.dir, "alice", None)
            .unwrap()
            .found
            .iter()
            .map(|r| r.seq.to_string())
            .collect();
    assert!(
        disclosures.is_subset(&ledgered),
        "every acknowledged disclosure is in the ledger"
    );
}
