//! The ledger's promises at library level: seqs come back only for records that
//! are on disk, the chain survives reopening, rotation and torn tails, and a
//! failing disk stops appends until recovery.

#[path = "support/ledger.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use keyhole::audit::verify;
use keyhole::ledger::{
    Checkpoint, Faults, Ledger, LedgerError, Manifest, CHECKPOINT_FILE, QUARANTINE_DIR,
};

async fn append_many(ledger: &Ledger, prefix: &str, n: usize) -> Vec<u64> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let ledger = ledger.clone();
            let id = format!("{prefix}-{i}");
            tokio::spawn(async move { ledger.append(support::numbered(&id)).await })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap().unwrap());
    }
    seqs
}

async fn wait_healthy(ledger: &Ledger) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ledger.is_healthy() {
        assert!(Instant::now() < deadline, "ledger never recovered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_get_distinct_seqs_that_survive_reopen() {
    let root = tempfile::tempdir().unwrap();
    let cfg = support::config(root.path());
    let ledger = Ledger::open(&cfg).await.unwrap();
    let mut seqs = append_many(&ledger, "a", 200).await;
    ledger.shutdown().await;
    seqs.sort();
    assert_eq!(seqs, (1..=200).collect::<Vec<u64>>());

    let reopened = Ledger::open(&cfg).await.unwrap();
    assert_eq!(
        reopened.append(support::numbered("after")).await.unwrap(),
        201
    );
    reopened.shutdown().await;

    let ids = support::request_ids(&cfg.dir);
    assert_eq!(ids.len(), 201);
    assert_eq!(ids[200], (201, "after".to_string()));
    let report = verify(&cfg.dir).unwrap();
    assert!(report.ok(), "{report:?}");
    assert!(report.checkpoints_authenticated);
    assert_eq!(report.last_checkpoint, Some(201));
}

#[tokio::test]
async fn segments_rotate_and_the_chain_spans_them() {
    let root = tempfile::tempdir().unwrap();
    let mut cfg = support::config(root.path());
    cfg.segment_bytes = 4096;
    let ledger = Ledger::open(&cfg).await.unwrap();
    for i in 0..120 {
        ledger
            .append(support::numbered(&format!("r{i}")))
            .await
            .unwrap();
    }
    ledger.shutdown().await;
    let segments = support::segments(&cfg.dir);
    assert!(segments.len() > 3, "only {} segments", segments.len());
    let report = verify(&cfg.dir).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!((report.records, report.segments), (120, segments.len()));
}

#[tokio::test]
async fn torn_tail_is_quarantined_and_the_chain_continues() {
    let root = tempfile::tempdir().unwrap();
    let cfg = support::config(root.path());
    let ledger = Ledger::open(&cfg).await.unwrap();
    append_many(&ledger, "t", 10).await;
    ledger.shutdown().await;

    let last = support::segments(&cfg.dir).pop().unwrap();
    let torn = b"{\"seq\":11,\"prev\":\"00ab";
    let mut bytes = std::fs::read(&last).unwrap();
    bytes.extend_from_slice(torn);
    std::fs::write(&last, &bytes).unwrap();
    let before = verify(&cfg.dir).unwrap();
    assert!(before.ok(), "an unacknowledged torn write is not damage");
    assert_eq!(before.unfinished_tail_bytes, torn.len() as u64);

    let reopened = Ledger::open(&cfg).await.unwrap();
    assert_eq!(
        reopened.append(support::numbered("next")).await.unwrap(),
        11
    );
    reopened.shutdown().await;
    let quarantined: Vec<_> = std::fs::read_dir(cfg.dir.join(QUARANTINE_DIR))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(quarantined, vec![torn.to_vec()]);
    let after = verify(&cfg.dir).unwrap();
    assert!(after.ok(), "{after:?}");
    assert_eq!(
        (
            after.records,
            after.unfinished_tail_bytes,
            after.quarantined
        ),
        (11, 0, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_fsync_stops_appends_until_recovery() {
    let root = tempfile::tempdir().unwrap();
    let mut cfg = support::config(root.path());
    cfg.recovery_interval_ms = 50;
    let faults = Arc::new(Faults::default());
    let ledger = Ledger::open_with_faults(&cfg, faults.clone())
        .await
        .unwrap();
    assert_eq!(ledger.append(support::numbered("ok-1")).await.unwrap(), 1);

    faults.fail_syncs(true);
    let err = ledger.append(support::numbered("lost")).await.unwrap_err();
    assert!(matches!(err, LedgerError::Unavailable), "{err:?}");
    assert!(!ledger.is_healthy());
    let again = ledger
        .append(support::numbered("refused"))
        .await
        .unwrap_err();
    assert!(again.is_unavailable());
    assert!(ledger.checkpoint().await.unwrap_err().is_unavailable());

    faults.fail_syncs(false);
    wait_healthy(&ledger).await;
    // The unacknowledged record was cut off, so its seq is reused.
    assert_eq!(ledger.append(support::numbered("ok-2")).await.unwrap(), 2);
    ledger.shutdown().await;
    let ids: Vec<String> = support::request_ids(&cfg.dir)
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert_eq!(ids, ["ok-1", "ok-2"]);
    assert!(verify(&cfg.dir).unwrap().ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_written_batch_is_cut_off_on_recovery() {
    let root = tempfile::tempdir().unwrap();
    let mut cfg = support::config(root.path());
    cfg.recovery_interval_ms = 50;
    let faults = Arc::new(Faults::default());
    let ledger = Ledger::open_with_faults(&cfg, faults.clone())
        .await
        .unwrap();
    append_many(&ledger, "before", 20).await;

    faults.fail_writes(true);
    let failing: Vec<_> = (0..50)
        .map(|i| {
            let ledger = ledger.clone();
            tokio::spawn(async move { ledger.append(support::numbered(&format!("x{i}"))).await })
        })
        .collect();
    for task in failing {
        assert!(task.await.unwrap().unwrap_err().is_unavailable());
    }
    // Recovery keeps failing while the disk does.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!ledger.is_healthy());

    faults.fail_writes(false);
    wait_healthy(&ledger).await;
    let after = append_many(&ledger, "after", 20).await;
    assert_eq!(after.iter().min(), Some(&21));
    ledger.shutdown().await;
    let report = verify(&cfg.dir).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.records, 40);
}

#[tokio::test]
async fn shutdown_checkpoints_and_later_appends_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let cfg = support::config(root.path());
    let ledger = Ledger::open(&cfg).await.unwrap();
    ledger.append(support::numbered("one")).await.unwrap();
    ledger.checkpoint().await.unwrap();
    ledger.append(support::numbered("two")).await.unwrap();
    ledger.shutdown().await;
    ledger.shutdown().await;
    let err = ledger.append(support::numbered("late")).await.unwrap_err();
    assert!(matches!(err, LedgerError::Closed));

    let key = keyhole::ledger::LedgerKey::load(&cfg.key_file).unwrap();
    let seqs: Vec<u64> = Checkpoint::read_all(&cfg.dir)
        .unwrap()
        .into_iter()
        .map(|c| c.unwrap())
        .inspect(|c| assert!(c.is_authentic(&key)))
        .map(|c| c.seq)
        .collect();
    assert_eq!(seqs, [0, 1, 2], "open, explicit and shutdown checkpoints");
    assert!(cfg.dir.join(CHECKPOINT_FILE).exists());
}

#[tokio::test]
async fn periodic_checkpoints_follow_the_head() {
    let root = tempfile::tempdir().unwrap();
    let mut cfg = support::config(root.path());
    cfg.checkpoint_interval_secs = 1;
    let ledger = Ledger::open(&cfg).await.unwrap();
    ledger.append(support::numbered("one")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seqs: Vec<u64> = Checkpoint::read_all(&cfg.dir)
            .unwrap()
            .into_iter()
            .filter_map(Result::ok)
            .map(|c| c.seq)
            .collect();
        if seqs.contains(&1) {
            break;
        }
        assert!(Instant::now() < deadline, "no periodic checkpoint");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ledger.shutdown().await;
}

#[tokio::test]
async fn manifest_names_the_key_and_other_keys_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let cfg = support::config(root.path());
    let ledger = Ledger::open(&cfg).await.unwrap();
    let manifest = Manifest::read(&cfg.dir).unwrap().unwrap();
    assert!(manifest.key_file.is_absolute());
    assert_eq!(manifest.key_id, ledger.key_id());
    let text = std::fs::read_to_string(cfg.dir.join("manifest.json")).unwrap();
    let key_text = std::fs::read_to_string(&cfg.key_file).unwrap();
    assert!(
        !text.contains(key_text.trim()),
        "manifest must not hold the key"
    );
    ledger.shutdown().await;

    let mut other = cfg.clone();
    other.key_file = root.path().join("keys/other.key");
    keyhole::ledger::generate_key_file(&other.key_file).unwrap();
    let err = Ledger::open(&other).await.err().unwrap();
    assert!(matches!(err, LedgerError::KeyMismatch { .. }), "{err:?}");
}

#[tokio::test]
async fn damaged_middle_refuses_to_open() {
    let root = tempfile::tempdir().unwrap();
    let cfg = support::config(root.path());
    let ledger = Ledger::open(&cfg).await.unwrap();
    append_many(&ledger, "d", 5).await;
    ledger.shutdown().await;
    let last = support::segments(&cfg.dir).pop().unwrap();
    let text = std::fs::read_to_string(&last).unwrap();
    std::fs::write(&last, text.replacen("alice", "alicf", 1)).unwrap();
    let err = Ledger::open(&cfg).await.err().unwrap();
    assert!(matches!(err, LedgerError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[tokio::test]
async fn fingerprints_ignore_formatting() {
    let root = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&support::config(root.path())).await.unwrap();
    let a = ledger.fingerprint("+1 (555) 010-2233");
    assert_eq!(a, ledger.fingerprint("15550102233"));
    assert_ne!(a, ledger.fingerprint("15550102234"));
    ledger.shutdown().await;
}

#[tokio::test]
async fn any_cut_through_the_last_records_recovers() {
    let root = tempfile::tempdir().unwrap();
    let cfg = support::config(root.path());
    let ledger = Ledger::open(&cfg).await.unwrap();
    append_many(&ledger, "c", 6).await;
    ledger.shutdown().await;
    let last = support::segments(&cfg.dir).pop().unwrap();
    let full = std::fs::read(&last).unwrap();
    let line_ends: Vec<usize> = full
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    // Byte offsets inside the last two records, as a crash could leave them.
    let cuts = (line_ends[3]..full.len()).filter(|c| c % 4 == 0 || line_ends.contains(c));
    for cut in cuts {
        let copy = tempfile::tempdir().unwrap();
        let mut cfg = support::config(copy.path());
        cfg.key_file = support::config(root.path()).key_file;
        support::copy_ledger(&support::config(root.path()).dir, &cfg.dir);
        // A checkpoint only ever covers fsync'd records; keep only the one
        // written at open so the cut models a crash rather than a truncation.
        let log = cfg.dir.join(CHECKPOINT_FILE);
        let first = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string();
        std::fs::write(&log, first + "\n").unwrap();
        let seg = cfg.dir.join(last.file_name().unwrap());
        std::fs::write(&seg, &full[..cut]).unwrap();
        let complete = line_ends.iter().filter(|&&end| end <= cut).count() as u64;
        let reopened = Ledger::open(&cfg).await.unwrap();
        let next = reopened.append(support::numbered("next")).await.unwrap();
        reopened.shutdown().await;
        assert_eq!(next, complete + 1, "cut at byte {cut}");
        let report = verify(&cfg.dir).unwrap();
        assert!(report.ok(), "cut at byte {cut}: {report:?}");
    }
}

#[test]
fn appends_from_another_runtime_are_answered() {
    let root = tempfile::tempdir().unwrap();
    let cfg = support::config(root.path());
    // Opened on one runtime that is then never driven again.
    let opener = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ledger = opener.block_on(Ledger::open(&cfg)).unwrap();
    let user = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let seqs = user.block_on(async {
        let appended = append_many(&ledger, "elsewhere", 20);
        tokio::time::timeout(Duration::from_secs(20), appended)
            .await
            .expect("appends from another runtime are answered")
    });
    assert_eq!(seqs.len(), 20);
    user.block_on(ledger.shutdown());
}
