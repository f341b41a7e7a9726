//! `audit verify` against real ledgers tampered with in every way the spec
//! names: a flipped bit, a deleted, inserted or reordered record, a truncated
//! tail, a missing segment, a rewritten chain and forged checkpoints.

#[path = "support/ledger.rs"]
mod support;

use std::path::{Path, PathBuf};

use keyhole::audit::{run_to, verify, verify_anchored, Anchor, AuditCommand, BadRecord};
use keyhole::ledger::record::{encode, parse_hash, Hash};
use keyhole::ledger::{Checkpoint, Ledger, LedgerConfig, CHECKPOINT_FILE, MANIFEST_FILE};
use rand::{Rng, SeedableRng};
use tempfile::TempDir;

const RECORDS: u64 = 300;

/// An edit to a segment's lines.
type Edit = dyn Fn(&mut Vec<String>);

/// A change to a ledger directory.
type Tamper = dyn Fn(&Path);

/// A ledger of `RECORDS` records over several small segments.
async fn build(root: &Path) -> LedgerConfig {
    let mut cfg = support::config(root);
    cfg.segment_bytes = 8192;
    let ledger = Ledger::open(&cfg).await.unwrap();
    for i in 0..RECORDS {
        ledger
            .append(support::numbered(&format!("v{i}")))
            .await
            .unwrap();
    }
    ledger.shutdown().await;
    cfg
}

/// A copy of the ledger with `tamper` applied to it.
fn tampered(cfg: &LedgerConfig, tamper: impl FnOnce(&Path)) -> (TempDir, PathBuf) {
    let copy = tempfile::tempdir().unwrap();
    let dir = copy.path().join("ledger");
    support::copy_ledger(&cfg.dir, &dir);
    tamper(&dir);
    (copy, dir)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

fn first_bad(dir: &Path) -> BadRecord {
    let report = verify(dir).unwrap();
    assert!(!report.ok(), "tampering went unnoticed: {report:?}");
    report.first_bad.unwrap()
}

/// (segment path, seq of its first record, its lines).
fn layout(dir: &Path) -> Vec<(PathBuf, u64, Vec<String>)> {
    let mut seq = 1;
    support::segments(dir)
        .into_iter()
        .map(|path| {
            let l = lines(&path);
            let first = seq;
            seq += l.len() as u64;
            (path, first, l)
        })
        .collect()
}

#[tokio::test]
async fn intact_ledger_verifies_and_exits_zero() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    let report = verify(&cfg.dir).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!((report.records, report.last_seq), (RECORDS, RECORDS));
    assert!(report.segments > 3);
    let (code, text) = verify_cli(&cfg.dir, &[], false, false);
    assert_eq!(code, 0);
    assert!(text.contains(": OK"));
}

#[tokio::test]
async fn a_flipped_bit_names_the_record_it_hit() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    let segs = layout(&cfg.dir);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for _ in 0..40 {
        let (path, first, seg_lines) = &segs[rng.random_range(0..segs.len())];
        let line = rng.random_range(0..seg_lines.len());
        let byte = rng.random_range(0..seg_lines[line].len());
        let bit = rng.random_range(0..8);
        let (_keep, dir) = tampered(&cfg, |dir| {
            let target = dir.join(path.file_name().unwrap());
            let mut bytes = std::fs::read(&target).unwrap();
            let offset: usize = seg_lines[..line].iter().map(|l| l.len() + 1).sum::<usize>() + byte;
            bytes[offset] ^= 1 << bit;
            std::fs::write(&target, bytes).unwrap();
        });
        let bad = first_bad(&dir);
        assert_eq!(
            bad.seq,
            Some(first + line as u64),
            "flip at line {line} byte {byte}: {bad:?}"
        );
        assert_eq!(bad.line, line as u64 + 1);
    }
}

#[tokio::test]
async fn deleted_inserted_and_reordered_records_are_caught() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    let (path, first, seg_lines) = layout(&cfg.dir).swap_remove(1);
    let name = path.file_name().unwrap().to_owned();
    // Each bad record is named by the seq it carries, at line 6 of the segment.
    let edits: [(&str, Box<Edit>, u64); 3] = [
        ("delete", Box::new(|l| drop(l.remove(5))), first + 6),
        ("insert", Box::new(|l| l.insert(5, l[2].clone())), first + 2),
        ("reorder", Box::new(|l| l.swap(5, 6)), first + 6),
    ];
    for (what, edit, expected_seq) in edits {
        let (_keep, dir) = tampered(&cfg, |dir| {
            let mut l = seg_lines.clone();
            edit(&mut l);
            write_lines(&dir.join(&name), &l);
        });
        let bad = first_bad(&dir);
        assert_eq!(
            (bad.seq, bad.line),
            (Some(expected_seq), 6),
            "{what}: {bad:?}"
        );
        assert!(
            bad.problem.contains("expected seq"),
            "{what}: {}",
            bad.problem
        );
    }
}

#[tokio::test]
async fn truncated_tail_and_missing_segments_are_caught() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    let segs = layout(&cfg.dir);
    let (last, _, last_lines) = segs.last().unwrap().clone();
    let last_name = last.file_name().unwrap().to_owned();

    let (_a, dir) = tampered(&cfg, |dir| {
        write_lines(&dir.join(&last_name), &last_lines[..last_lines.len() - 3])
    });
    let bad = first_bad(&dir);
    assert_eq!(bad.seq, Some(RECORDS - 2));
    assert!(bad.problem.contains("truncated"), "{}", bad.problem);

    let (_b, dir) = tampered(&cfg, |dir| {
        std::fs::remove_file(dir.join(&last_name)).unwrap()
    });
    assert!(first_bad(&dir).problem.contains("truncated"));

    let (middle, middle_first, middle_lines) = segs[2].clone();
    let (_c, dir) = tampered(&cfg, |dir| {
        std::fs::remove_file(dir.join(middle.file_name().unwrap())).unwrap()
    });
    let bad = first_bad(&dir);
    assert_eq!(bad.seq, Some(middle_first + middle_lines.len() as u64));
    assert!(
        bad.problem
            .contains(&format!("expected seq {middle_first}")),
        "{}",
        bad.problem
    );

    let (first, _, _) = segs[0].clone();
    let (_d, dir) = tampered(&cfg, |dir| {
        std::fs::remove_file(dir.join(first.file_name().unwrap())).unwrap()
    });
    assert!(first_bad(&dir).problem.contains("expected seq 1"));
}

/// Rewrites every record from `from` on with `agent` changed, recomputing the
/// hashes as someone without the ledger key could; returns the new head.
fn rewrite_chain(dir: &Path, from: u64, agent: &str) -> Hash {
    let mut prev: Option<Hash> = None;
    for (path, first, seg_lines) in layout(dir) {
        let mut out = Vec::new();
        for (i, line) in seg_lines.iter().enumerate() {
            let seq = first + i as u64;
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            if seq < from {
                prev = parse_hash(value["hash"].as_str().unwrap());
                out.extend_from_slice(line.as_bytes());
                out.push(b'\n');
                continue;
            }
            value["entry"]["agent"] = agent.into();
            let entry = serde_json::to_vec(&value["entry"]).unwrap();
            prev = Some(encode(&mut out, seq, &prev.unwrap(), &entry));
        }
        std::fs::write(path, out).unwrap();
    }
    prev.unwrap()
}

#[tokio::test]
async fn a_rewritten_chain_fails_the_keyed_checkpoints() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    let (_a, dir) = tampered(&cfg, |dir| {
        rewrite_chain(dir, 200, "mallory");
    });
    let bad = first_bad(&dir);
    assert_eq!(
        bad.seq,
        Some(RECORDS),
        "the shutdown checkpoint covers the head: {bad:?}"
    );
    assert!(bad.problem.contains("checkpoint"), "{}", bad.problem);

    let (_b, dir) = tampered(&cfg, |dir| {
        rewrite_chain(dir, 200, "mallory");
        std::fs::remove_file(dir.join(CHECKPOINT_FILE)).unwrap();
    });
    assert!(first_bad(&dir)
        .problem
        .contains("checkpoint log is missing"));
}

#[tokio::test]
async fn forged_checkpoints_are_caught() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    let (_a, dir) = tampered(&cfg, |dir| {
        let path = dir.join(CHECKPOINT_FILE);
        let mut l = lines(&path);
        let last = l.len() - 1;
        l[last] = l[last].replace(&format!("\"seq\":{RECORDS}"), "\"seq\":299");
        write_lines(&path, &l);
    });
    let bad = first_bad(&dir);
    assert_eq!(bad.file, CHECKPOINT_FILE);
    assert!(bad.problem.contains("MAC"), "{}", bad.problem);

    // Without the key, MACs cannot be checked, but heads still must match.
    let report = keyhole::audit::verify_with_key(&cfg.dir, None).unwrap();
    assert!(report.ok() && !report.checkpoints_authenticated);
}

#[tokio::test]
async fn bad_ledger_exits_one_and_prints_the_record() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    let (path, first, seg_lines) = layout(&cfg.dir).swap_remove(0);
    let (_a, dir) = tampered(&cfg, |dir| {
        let mut l = seg_lines.clone();
        l[3] = l[3].replace("alice", "alicf");
        write_lines(&dir.join(path.file_name().unwrap()), &l);
    });
    for json in [false, true] {
        let (code, text) = verify_cli(&dir, &[], false, json);
        assert_eq!(code, 1);
        if json {
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(value["first_bad"]["seq"], first + 3);
        } else {
            assert!(
                text.contains(&format!("first bad record: seq {}", first + 3)),
                "{text}"
            );
            assert!(text.contains("hash does not match"), "{text}");
        }
    }
}

/// `audit verify DIR` as the binary runs it: exit code and output.
fn verify_cli(dir: &Path, anchors: &[&str], chain_only: bool, json: bool) -> (u8, String) {
    let mut out = Vec::new();
    let cmd = AuditCommand::Verify {
        dir: dir.to_path_buf(),
        key: None,
        anchors: anchors.iter().map(|a| a.parse().unwrap()).collect(),
        chain_only,
        json,
    };
    let code = run_to(cmd, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    for n in [0, 1] {
        if format!("{code:?}") == format!("{:?}", std::process::ExitCode::from(n)) {
            return (n, text);
        }
    }
    panic!("unexpected exit code {code:?}");
}

/// Without the manifest that names the key, a chain rewritten by someone
/// without the key cannot be told from the real one: that is not a pass.
#[tokio::test]
async fn a_rewritten_chain_without_its_manifest_does_not_pass() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    for manifest in [None, Some("garbage\n")] {
        let (_a, dir) = tampered(&cfg, |dir| {
            let head = hex::encode(rewrite_chain(dir, 2, "mallory"));
            let checkpoints = dir.join(CHECKPOINT_FILE);
            let mut l = lines(&checkpoints);
            let last = l.len() - 1;
            let cp: serde_json::Value = serde_json::from_str(&l[last]).unwrap();
            l[last] = l[last].replace(cp["head"].as_str().unwrap(), &head);
            write_lines(&checkpoints, &l);
            match manifest {
                None => std::fs::remove_file(dir.join(MANIFEST_FILE)).unwrap(),
                Some(text) => std::fs::write(dir.join(MANIFEST_FILE), text).unwrap(),
            }
        });
        let (code, text) = verify_cli(&dir, &[], false, false);
        assert_eq!(code, 1, "{manifest:?}: {text}");
        assert!(text.contains("NOT authenticated"), "{text}");
        assert!(!text.contains(": OK"), "{text}");
        // Accepting an unkeyed check is a choice the auditor makes out loud.
        let (code, text) = verify_cli(&dir, &[], true, false);
        assert_eq!(code, 0, "{text}");
        assert!(
            text.contains("chain intact, checkpoints NOT authenticated"),
            "{text}"
        );
        // With the key, the forged checkpoint is caught.
        let key = keyhole::audit::load_key(&cfg.dir, None).unwrap();
        let report = verify_anchored(&dir, Some(&key), &[]).unwrap();
        assert!(report.first_bad.unwrap().problem.contains("MAC"));
    }
}

#[tokio::test]
async fn a_directory_with_no_ledger_in_it_is_an_error() {
    let empty = tempfile::tempdir().unwrap();
    let err = verify(empty.path()).unwrap_err();
    assert!(err.to_string().contains("holds no ledger"), "{err}");

    // Every file but the manifest deleted: the checkpoint log every open writes is gone.
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    let (_a, dir) = tampered(&cfg, |dir| {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap() != MANIFEST_FILE {
                std::fs::remove_file(path).unwrap();
            }
        }
    });
    assert!(first_bad(&dir)
        .problem
        .contains("checkpoint log is missing"));
}

/// Records after the newest checkpoint, cut off together with that
/// checkpoint, leave a consistent ledger; an anchor from outside catches it.
#[tokio::test]
async fn an_anchor_catches_records_cut_from_the_tail() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    let intact = verify(&cfg.dir).unwrap();
    let anchor_text = format!("{}:{}", intact.last_seq, intact.head);
    assert_eq!(verify_cli(&cfg.dir, &[&anchor_text], false, false).0, 0);

    let segs = layout(&cfg.dir);
    let (last, last_first, _) = segs.last().unwrap().clone();
    let (_a, dir) = tampered(&cfg, |dir| {
        std::fs::remove_file(dir.join(last.file_name().unwrap())).unwrap();
        let checkpoints = dir.join(CHECKPOINT_FILE);
        let kept: Vec<String> = lines(&checkpoints)
            .into_iter()
            .filter(|l| {
                let cp: serde_json::Value = serde_json::from_str(l).unwrap();
                cp["seq"].as_u64().unwrap() < last_first
            })
            .collect();
        write_lines(&checkpoints, &kept);
    });
    let cut = verify(&dir).unwrap();
    assert!(cut.ok(), "the known gap: {cut:?}");
    assert_eq!(cut.last_seq, last_first - 1);
    assert_eq!(
        cut.after_last_checkpoint,
        cut.last_seq - cut.last_checkpoint.unwrap()
    );
    let (_, text) = verify_cli(&dir, &[], false, false);
    assert!(text.contains("after the last checkpoint"), "{text}");
    // An anchor with the head of the last record vouches for all of them.
    let head = Anchor {
        seq: cut.last_seq,
        head: keyhole::ledger::record::parse_hash(&cut.head),
    };
    let anchored = verify_anchored(&dir, None, &[head]).unwrap();
    assert_eq!(anchored.after_last_checkpoint, 0, "{anchored:?}");

    for anchor in [anchor_text.clone(), intact.last_seq.to_string()] {
        let (code, text) = verify_cli(&dir, &[&anchor], false, false);
        assert_eq!(code, 1, "{anchor}: {text}");
        assert!(
            text.contains(&format!("first bad record: seq {last_first}")),
            "{text}"
        );
        assert!(text.contains("anchor names seq"), "{text}");
    }
}

#[tokio::test]
async fn an_anchor_with_another_head_is_caught_where_it_points() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    let forged = Anchor {
        seq: 150,
        head: Some([7; 32]),
    };
    let key = keyhole::audit::load_key(&cfg.dir, None).unwrap();
    let report = verify_anchored(&cfg.dir, Some(&key), &[forged]).unwrap();
    let bad = report.first_bad.expect("the anchor disagrees");
    assert_eq!(bad.seq, Some(150));
    assert!(
        bad.problem.contains("anchored chain head"),
        "{}",
        bad.problem
    );

    let zero = format!("0:{}", "00".repeat(32));
    for text in ["", "x", "12:abc", "-1", "12:", ":00", "0", zero.as_str()] {
        assert!(text.parse::<Anchor>().is_err(), "{text:?}");
    }
}

/// Whoever can write the directory can rewrite the chain, make a key of their
/// own, re-MAC the checkpoints with it and name it in the manifest. A key kept
/// inside the directory is refused; one kept elsewhere is named in the report
/// (the gateway logs its own key id at start), and `--key` with the real key
/// refuses the forgery.
#[tokio::test]
async fn a_key_swapped_in_through_the_manifest_is_shown_or_refused() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    let real = keyhole::audit::load_key(&cfg.dir, None).unwrap();
    for inside in [true, false] {
        let (keep, dir) = tampered(&cfg, |dir| {
            let head = rewrite_chain(dir, 2, "mallory");
            let forged_key = if inside {
                dir.join("forged.key")
            } else {
                dir.parent().unwrap().join("forged.key")
            };
            keyhole::ledger::generate_key_file(&forged_key).unwrap();
            let key = keyhole::ledger::LedgerKey::load(&forged_key).unwrap();
            let checkpoints = [0, RECORDS].map(|seq| {
                let hash = if seq == 0 { [0; 32] } else { head };
                let head = keyhole::ledger::Head { seq, hash };
                let cp = keyhole::ledger::Checkpoint::new(&key, head, chrono::Utc::now());
                serde_json::to_string(&cp).unwrap()
            });
            write_lines(&dir.join(CHECKPOINT_FILE), &checkpoints);
            let manifest = keyhole::ledger::Manifest {
                format: 1,
                key_file: forged_key.clone(),
                key_id: key.id().to_string(),
            };
            std::fs::write(
                dir.join(MANIFEST_FILE),
                serde_json::to_vec(&manifest).unwrap(),
            )
            .unwrap();
        });
        let (code, text) = verify_cli(&dir, &[], false, false);
        if inside {
            assert_eq!(code, 1, "{text}");
            assert!(text.contains("inside the ledger directory"), "{text}");
        } else {
            // Consistent under the key the manifest names, and the report says which.
            assert!(text.contains("named by manifest.json"), "{text}");
            assert!(!text.contains(real.id()), "{text}");
        }
        let err = keyhole::audit::load_key(&dir, Some(&cfg.key_file)).unwrap_err();
        assert!(
            err.to_string().contains("is not this ledger's key"),
            "{err}"
        );
        drop(keep);
    }
}

/// The files verify reads by name (checkpoint log, manifest, the key file the
/// manifest names) are the directory's to choose: a FIFO would block the
/// reader and a device never end. Each is refused, and verify returns.
#[cfg(unix)]
#[tokio::test]
async fn files_that_are_not_regular_are_refused_not_read() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    let fifo = root.path().join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let manifest_naming = |key_file: &Path| {
        let mut m = keyhole::ledger::Manifest::read(&cfg.dir).unwrap().unwrap();
        m.key_file = key_file.to_path_buf();
        serde_json::to_vec(&m).unwrap()
    };
    let zero = Path::new("/dev/zero");
    let cases: Vec<(&str, Box<Tamper>)> = vec![
        ("checkpoint log -> fifo", link(CHECKPOINT_FILE, &fifo)),
        ("checkpoint log -> /dev/zero", link(CHECKPOINT_FILE, zero)),
        ("manifest -> fifo", link(MANIFEST_FILE, &fifo)),
        ("manifest -> /dev/zero", link(MANIFEST_FILE, zero)),
        ("key file is a fifo", {
            let m = manifest_naming(&fifo);
            Box::new(move |dir: &Path| std::fs::write(dir.join(MANIFEST_FILE), &m).unwrap())
        }),
        ("key file is /dev/zero", {
            let m = manifest_naming(zero);
            Box::new(move |dir: &Path| std::fs::write(dir.join(MANIFEST_FILE), &m).unwrap())
        }),
    ];
    for (case, tamper) in cases {
        let (_keep, dir) = tampered(&cfg, |dir| tamper(dir));
        // Run where a hang would be seen as one, not as a test that never ends.
        let (tx, rx) = std::sync::mpsc::channel();
        let probe = dir.clone();
        std::thread::spawn(move || {
            let _ = tx.send(verify_cli_result(&probe));
        });
        let outcome = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("{case}: verify did not return"));
        match outcome {
            Err(err) => assert!(err.contains("not a regular file"), "{case}: {err}"),
            Ok((code, text)) => {
                assert_eq!(code, 1, "{case}: {text}");
                assert!(text.contains("not a regular file"), "{case}: {text}");
            }
        }
    }
}

/// Replaces `name` in a ledger directory with a symbolic link to `target`.
fn link(name: &'static str, target: &Path) -> Box<Tamper> {
    let target = target.to_path_buf();
    Box::new(move |dir: &Path| {
        std::fs::remove_file(dir.join(name)).unwrap();
        std::os::unix::fs::symlink(&target, dir.join(name)).unwrap();
    })
}

/// `audit verify DIR` as the command line runs it: its exit code and report,
/// or the error it stops with.
fn verify_cli_result(dir: &Path) -> Result<(u8, String), String> {
    let mut out = Vec::new();
    let cmd = AuditCommand::Verify {
        dir: dir.to_path_buf(),
        key: None,
        anchors: Vec::new(),
        chain_only: false,
        json: false,
    };
    let code = run_to(cmd, &mut out).map_err(|e| e.to_string())?;
    let code = if format!("{code:?}") == format!("{:?}", std::process::ExitCode::SUCCESS) {
        0
    } else {
        1
    };
    Ok((code, String::from_utf8(out).unwrap()))
}

/// Cutting the newest checkpoint away with the records after it leaves a
/// consistent ledger; the report's time of the newest checkpoint is what
/// shows the gap to a reader who knows the gateway ran on.
#[tokio::test]
async fn the_report_gives_the_time_of_the_newest_checkpoint() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    let newest = Checkpoint::read_all(&cfg.dir)
        .unwrap()
        .into_iter()
        .filter_map(Result::ok)
        .map(|c| c.time)
        .max()
        .unwrap();
    let (code, text) = verify_cli(&cfg.dir, &[], false, false);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&format!("newest written {newest}")), "{text}");
}
