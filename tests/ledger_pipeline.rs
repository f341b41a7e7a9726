//! Group commit with fsyncs in flight while the next batches are written: under
//! many concurrent appenders, with the disk failing part-way and small segments
//! forcing rotations, every seq handed out is on disk exactly once, in order,
//! and the chain verifies.

#[path = "support/ledger.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyhole::audit::verify;
use keyhole::ledger::{Faults, Ledger};

const APPENDERS: usize = 64;
const PER_APPENDER: usize = 40;

/// Runs `APPENDERS` tasks appending in a loop; returns (request id, seq) for
/// every acknowledged append. Refused appends are retried after a pause.
async fn hammer(ledger: &Ledger, round: &str) -> Vec<(String, u64)> {
    let tasks: Vec<_> = (0..APPENDERS)
        .map(|t| {
            let ledger = ledger.clone();
            let round = round.to_string();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..PER_APPENDER {
                    let id = format!("{round}-{t}-{i}");
                    if let Ok(seq) = ledger.append(support::numbered(&id)).await {
                        acked.push((id, seq));
                    } else {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                acked
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all
}

async fn wait_healthy(ledger: &Ledger) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ledger.is_healthy() {
        assert!(Instant::now() < deadline, "ledger never recovered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_seqs_survive_failing_fsyncs_and_rotation_under_load() {
    let root = tempfile::tempdir().unwrap();
    let mut cfg = support::config(root.path());
    cfg.recovery_interval_ms = 20;
    cfg.segment_bytes = 16 * 1024;
    let faults = Arc::new(Faults::default());
    let ledger = Ledger::open_with_faults(&cfg, faults.clone())
        .await
        .unwrap();

    let mut acked = hammer(&ledger, "calm").await;
    assert_eq!(acked.len(), APPENDERS * PER_APPENDER);
    let flipper = {
        let faults = faults.clone();
        tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(15)).await;
                faults.fail_syncs(true);
                tokio::time::sleep(Duration::from_millis(30)).await;
                faults.fail_syncs(false);
            }
        })
    };
    acked.extend(hammer(&ledger, "stormy").await);
    flipper.await.unwrap();
    wait_healthy(&ledger).await;
    acked.extend(hammer(&ledger, "after").await);
    ledger.shutdown().await;

    let on_disk: BTreeMap<u64, String> = support::request_ids(&cfg.dir).into_iter().collect();
    for (id, seq) in &acked {
        assert_eq!(on_disk.get(seq), Some(id), "acknowledged seq {seq} lost");
    }
    assert_eq!(on_disk.len(), acked.len(), "nothing unacknowledged is kept");
    let seqs: Vec<u64> = on_disk.keys().copied().collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "seqs on disk are dense and ordered");
    assert!(support::segments(&cfg.dir).len() > 2, "segments rotated");
    let report = verify(&cfg.dir).unwrap();
    assert!(report.ok(), "{report:?}");
}

/// Under concurrent load one fsync covers many appends: appenders that trickle
/// in (each pausing between appends, so few arrive together by chance) share
/// one fsync per commit window, and every append is still acknowledged, on
/// disk once and chained.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_appends_share_an_fsync_per_commit_window() {
    const APPENDERS: usize = 8;
    const ROUNDS: usize = 25;
    let root = tempfile::tempdir().unwrap();
    let mut cfg = support::config(root.path());
    cfg.commit_window_us = 50_000;
    let ledger = Ledger::open(&cfg).await.unwrap();

    let tasks: Vec<_> = (0..APPENDERS)
        .map(|t| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..ROUNDS {
                    let entry = support::numbered(&format!("t-{t}-{i}"));
                    seqs.push(ledger.append(entry).await.unwrap());
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                seqs
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.extend(task.await.unwrap());
    }
    let stats = ledger.stats();
    let syncs = stats.fsyncs;
    assert_eq!(stats.records, (APPENDERS * ROUNDS) as u64);
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(
        seqs.len(),
        APPENDERS * ROUNDS,
        "every append got its own seq"
    );
    // One fsync per round of appenders, plus slack for the first batches.
    assert!(
        syncs <= (ROUNDS + 15) as u64,
        "{} appends took {syncs} fsyncs; the commit window should group them",
        APPENDERS * ROUNDS
    );

    ledger.shutdown().await;
    assert_eq!(support::request_ids(&cfg.dir).len(), APPENDERS * ROUNDS);
    let report = verify(&cfg.dir).unwrap();
    assert!(report.ok(), "{report:?}");
}
