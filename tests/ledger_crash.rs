//! Crash safety: every seq an appender got back is in the ledger after SIGKILL,
//! and the chain verifies, before and after the next start.
//!
//! The test binary re-runs itself as the appending child (the ignored test
//! `crash_child`, selected by an environment variable), kills it with SIGKILL at
//! a random point while appends are in flight, then checks what the child had
//! printed after each `append` returned.

#[path = "support/ledger.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use keyhole::audit::verify;
use keyhole::ledger::{Ledger, LedgerConfig};
use rand::Rng;

const CHILD_ENV: &str = "KEYHOLE_LEDGER_CRASH_CHILD";
const ROUND_ENV: &str = "KEYHOLE_LEDGER_CRASH_ROUND";
const APPENDERS: usize = 32;

fn crash_config(root: &Path) -> LedgerConfig {
    let mut cfg = support::config(root);
    // Small segments so kills also land around rotations.
    cfg.segment_bytes = 32 * 1024;
    cfg
}

#[test]
#[ignore = "runs only as the child process of acknowledged_records_survive_sigkill"]
fn crash_child() {
    let (Ok(root), Ok(round)) = (std::env::var(CHILD_ENV), std::env::var(ROUND_ENV)) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let ledger = Ledger::open(&crash_config(Path::new(&root))).await.unwrap();
        let tasks: Vec<_> = (0..APPENDERS)
            .map(|t| {
                let ledger = ledger.clone();
                let round = round.clone();
                tokio::spawn(async move {
                    for i in 0u64.. {
                        let id = format!("r{round}-t{t}-{i}");
                        let seq = ledger.append(support::numbered(&id)).await.unwrap();
                        // stdout is line-buffered: once this returns, the parent can read it.
                        println!("SEQ {seq} {id}");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// Runs one child, kills it after `kill_after` acknowledgements, and returns
/// every (seq, request id) it printed.
fn run_and_kill(root: &Path, round: u32, kill_after: usize) -> Vec<(u64, String)> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--ignored", "--nocapture"])
        .env(CHILD_ENV, root)
        .env(ROUND_ENV, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    while acked.len() < kill_after {
        let line = lines
            .next()
            .expect("child stopped before it was killed")
            .unwrap();
        acked.extend(parse_ack(&line));
    }
    child.kill().unwrap();
    // Lines the child printed before it died are acknowledgements too.
    acked.extend(lines.map_while(Result::ok).filter_map(|l| parse_ack(&l)));
    child.wait().unwrap();
    acked
}

fn parse_ack(line: &str) -> Option<(u64, String)> {
    let rest = line.strip_prefix("SEQ ")?;
    let (seq, id) = rest.split_once(' ')?;
    Some((seq.parse().ok()?, id.to_string()))
}

fn assert_all_present(dir: &Path, acked: &BTreeMap<u64, String>) {
    let on_disk: BTreeMap<u64, String> = support::request_ids(dir).into_iter().collect();
    for (seq, id) in acked {
        assert_eq!(
            on_disk.get(seq),
            Some(id),
            "acknowledged seq {seq} is missing or changed"
        );
    }
}

#[test]
fn acknowledged_records_survive_sigkill() {
    let root = tempfile::tempdir().unwrap();
    let cfg = crash_config(root.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    let mut rng = rand::rng();
    for round in 0..4 {
        let kill_after = rng.random_range(100..4000);
        for (seq, id) in run_and_kill(root.path(), round, kill_after) {
            let previous = acked.insert(seq, id);
            assert!(
                previous.is_none(),
                "seq {seq} acknowledged twice (kill after {kill_after})"
            );
        }
        let crashed = verify(&cfg.dir).unwrap();
        assert!(
            crashed.ok(),
            "round {round}, kill after {kill_after}: {crashed:?}"
        );
        eprintln!(
            "round {round}: killed after {kill_after} acks, {} records, {} torn bytes",
            crashed.records, crashed.unfinished_tail_bytes
        );
        assert_all_present(&cfg.dir, &acked);

        runtime.block_on(async {
            let ledger = Ledger::open(&cfg).await.unwrap();
            ledger.shutdown().await;
        });
        let recovered = verify(&cfg.dir).unwrap();
        assert!(recovered.ok(), "round {round} after restart: {recovered:?}");
        assert_eq!(recovered.unfinished_tail_bytes, 0);
        assert_all_present(&cfg.dir, &acked);
    }
    assert!(
        support::segments(&cfg.dir).len() > 1,
        "kills should span rotations"
    );
}
