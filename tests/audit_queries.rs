//! `audit who-saw` and `audit agent` over a real ledger, through the library
//! functions, through `run_to` (table and JSON), and through the binary over
//! damaged copies of the ledger.

#[path = "support/ledger.rs"]
mod support;
#[path = "support/tooling.rs"]
mod tooling;

use std::path::{Path, PathBuf};

use keyhole::audit::{
    agent_history, load_key, parse_since, run_to, who_saw, AuditCommand, AuditError, Sensitive,
};
use keyhole::ledger::{EntryKind, Ledger, LedgerConfig};

const TAG: &str = "7XK2P9Q";
const PHONE: &str = "+1 (555) 010-2233";

async fn build(root: &std::path::Path) -> LedgerConfig {
    let cfg = support::config(root);
    let ledger = Ledger::open(&cfg).await.unwrap();
    let tag = ledger.fingerprint(TAG);
    let code = u64::from_str_radix("7xk2p9q", 36).unwrap().to_string();
    let code_fp = ledger.fingerprint(&code);
    let phone = ledger.fingerprint(PHONE);
    let other = ledger.fingerprint("ZZZ9999");
    let entries = [
        support::at(
            support::disclosure(
                "alice",
                "acme",
                "T-1",
                "c-1",
                &[("devices[0].service_tag", "service-tag", tag.clone())],
            ),
            "2025-03-01T09:00:00Z",
        ),
        support::at(
            support::disclosure("bob", "globex", "T-2", "c-1", &[("phone", "phone", phone)]),
            "2025-03-02T09:00:00Z",
        ),
        support::at(
            support::disclosure(
                "carol",
                "globex",
                "T-3",
                "c-1",
                &[("devices[0].express_service_code", "express-code", code_fp)],
            ),
            "2025-03-03T09:00:00Z",
        ),
        support::at(
            support::disclosure(
                "alice",
                "acme",
                "T-4",
                "c-2",
                &[("devices[0].service_tag", "service-tag", other)],
            ),
            "2025-03-04T09:00:00Z",
        ),
    ];
    for entry in entries {
        ledger.append(entry).await.unwrap();
    }
    let mut denial = support::at(
        support::disclosure("alice", "acme", "T-9", "c-1", &[]),
        "2025-03-05T09:00:00Z",
    );
    denial.kind = EntryKind::Denial;
    denial.reason = Some("ticket-not-assignee".into());
    ledger.append(denial).await.unwrap();
    ledger.shutdown().await;
    cfg
}

fn run(cmd: AuditCommand) -> String {
    let mut out = Vec::new();
    run_to(cmd, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn who_saw_matches_formatting_variants_and_equivalent_codes() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    let key = load_key(&cfg.dir, None).unwrap();

    let answer = who_saw(&cfg.dir, &key, "7xk-2p9q").unwrap();
    assert!(answer.read.is_complete(), "{:?}", answer.read);
    let seen = answer.found;
    let who: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.agent.as_str(), s.path.as_str()))
        .collect();
    assert_eq!(
        who,
        [
            ("alice", "devices[0].service_tag"),
            ("carol", "devices[0].express_service_code")
        ]
    );
    assert_eq!(seen[0].ticket.as_deref(), Some("T-1"));

    let phone = who_saw(&cfg.dir, &key, "555.010.2233").unwrap().found;
    assert_eq!(
        phone.iter().map(|s| s.agent.as_str()).collect::<Vec<_>>(),
        ["bob"]
    );
    assert!(who_saw(&cfg.dir, &key, "nobody@example.com")
        .unwrap()
        .found
        .is_empty());
}

#[tokio::test]
async fn who_saw_command_prints_a_table_or_json_without_the_value() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    let cmd = |json| AuditCommand::WhoSaw {
        dir: cfg.dir.clone(),
        value: Sensitive(TAG.into()),
        key: None,
        json,
    };
    let table = run(cmd(false));
    assert!(table.starts_with("2 clear disclosure(s)\nSEQ"), "{table}");
    assert!(table.contains("alice") && table.contains("carol") && !table.contains("bob"));
    assert!(!table.contains(TAG), "output must not echo the value");
    let json: serde_json::Value = serde_json::from_str(&run(cmd(true))).unwrap();
    assert_eq!(json[1]["agent"], "carol");
    assert_eq!(json[1]["vendor"], "globex");
}

#[tokio::test]
async fn key_comes_from_the_manifest_or_must_match_it() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    let stray = root.path().join("keys/stray.key");
    keyhole::ledger::generate_key_file(&stray).unwrap();
    let err = load_key(&cfg.dir, Some(&stray)).unwrap_err();
    assert!(matches!(err, AuditError::KeyMismatch { .. }), "{err:?}");
    assert!(load_key(&cfg.dir, Some(&cfg.key_file)).is_ok());

    std::fs::remove_file(cfg.dir.join("manifest.json")).unwrap();
    assert!(matches!(
        load_key(&cfg.dir, None),
        Err(AuditError::NoKey(_))
    ));
    let missing = load_key(&PathBuf::from("/nonexistent/ledger"), None).unwrap_err();
    assert!(matches!(missing, AuditError::NoLedger(_)));
}

#[tokio::test]
async fn agent_history_filters_by_agent_and_time_and_keeps_denials() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    let all = agent_history(&cfg.dir, "alice", None).unwrap().found;
    assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 4, 5]);
    assert_eq!(all[2].kind, EntryKind::Denial);
    assert_eq!(all[2].reason.as_deref(), Some("ticket-not-assignee"));
    assert_eq!(all[0].fields, ["devices[0].service_tag"]);

    let since = parse_since("2025-03-04").unwrap();
    let recent = agent_history(&cfg.dir, "alice", Some(since)).unwrap().found;
    assert_eq!(recent.iter().map(|r| r.seq).collect::<Vec<_>>(), [4, 5]);

    let table = run(AuditCommand::Agent {
        dir: cfg.dir.clone(),
        agent: "alice".into(),
        since: Some("2025-03-04T00:00:00Z".into()),
        json: false,
    });
    assert!(table.starts_with("2 record(s)\n"), "{table}");
    assert!(table.contains("denial:ticket-not-assignee"), "{table}");
    let json = run(AuditCommand::Agent {
        dir: cfg.dir.clone(),
        agent: "bob".into(),
        since: None,
        json: true,
    });
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value.as_array().unwrap().len(), 1);
    assert_eq!(value[0]["ticket"], "T-2");
}

/// Questions with nothing to ask are refused, not answered with nothing.
#[tokio::test]
async fn an_empty_value_or_leaked_list_is_an_error() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    for value in ["", " - ", "()"] {
        let cmd = AuditCommand::WhoSaw {
            dir: cfg.dir.clone(),
            value: Sensitive(value.into()),
            key: None,
            json: false,
        };
        let err = run_to(cmd, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, AuditError::EmptyValue), "{value:?}: {err}");
    }
    for text in ["", "\n\n  \n"] {
        let leaked = root.path().join("leaked.txt");
        std::fs::write(&leaked, text).unwrap();
        let cmd = AuditCommand::Attribute {
            dir: cfg.dir.clone(),
            leaked,
            key: None,
            json: false,
            top: 5,
        };
        let err = run_to(cmd, &mut Vec::new()).unwrap_err();
        assert!(
            err.to_string().contains("holds no values"),
            "{text:?}: {err}"
        );
    }
}

/// `keyhole audit ARGS`.
fn audit(args: &[&str]) -> tooling::Run {
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    tooling::keyhole(&all)
}

/// A copy of the ledger at `from`, in `root/copy`, with `damage` applied to
/// the bytes of its first segment.
fn damaged(from: &Path, root: &Path, damage: impl FnOnce(Vec<u8>) -> Vec<u8>) -> PathBuf {
    let dir = root.join("copy");
    support::copy_ledger(from, &dir);
    let segment = &support::segments(&dir)[0];
    let bytes = std::fs::read(segment).unwrap();
    std::fs::write(segment, damage(bytes)).unwrap();
    dir
}

/// `bytes` with the first `from` replaced by `to`.
fn replace_once(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("the text to damage is in the segment");
    [&bytes[..at], to, &bytes[at + from.len()..]].concat()
}

/// A query over the ledger whose carol record (line 3 of the first segment)
/// is broken: alice's disclosure is in the answer, carol's is not, and the
/// warning names the place.
fn assert_carol_unread(run: &tooling::Run, dir: &Path) {
    let answer = &run.stdout;
    assert!(
        answer.contains("alice") && !answer.contains("carol"),
        "{answer}"
    );
    let place = format!("{} line 3", keyhole::ledger::segment_name(1));
    assert_incomplete(run, dir, "1 ledger record(s) could not be read");
    assert!(run.stderr.contains(&place), "{}", run.stderr);
}

/// Asserts the run answered, exited 3 and said on stderr what it could not read.
fn assert_incomplete(run: &tooling::Run, dir: &Path, what: &str) {
    assert_eq!(
        run.code, 3,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(run.stderr.contains(what), "{}", run.stderr);
    let verify = format!("keyhole audit verify {}", dir.display());
    assert!(run.stderr.contains(&verify), "{}", run.stderr);
}

/// A record whose JSON is broken is not a record nobody saw: who-saw lists the
/// disclosures it could read and says it could not read one, and where.
#[tokio::test]
async fn who_saw_says_how_many_records_it_could_not_read() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    let intact = audit(&["who-saw", tooling::arg(&cfg.dir), "--value", TAG]);
    assert_eq!((intact.code, intact.stderr.as_str()), (0, ""));
    assert!(
        intact.stdout.starts_with("2 clear disclosure(s)"),
        "{}",
        intact.stdout
    );

    let dir = damaged(&cfg.dir, root.path(), |bytes| {
        replace_once(&bytes, br#""agent":"carol""#, br#""agent":"carol",,"#)
    });
    let run = audit(&["who-saw", tooling::arg(&dir), "--value", TAG]);
    assert!(
        run.stdout.starts_with("1 clear disclosure(s)"),
        "{}",
        run.stdout
    );
    assert_carol_unread(&run, &dir);
}

/// A byte that is not UTF-8 makes a record unreadable too; the agent's
/// history keeps the rest, in JSON as well.
#[tokio::test]
async fn agent_history_says_how_many_records_it_could_not_read() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    let dir = damaged(&cfg.dir, root.path(), |bytes| {
        replace_once(&bytes, br#""agent":"alice""#, b"\"agent\":\"al\xffce\"")
    });
    let run = audit(&["agent", tooling::arg(&dir), "--agent", "alice", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let seqs: Vec<u64> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [4, 5]);
    let place = format!("{} line 1", keyhole::ledger::segment_name(1));
    assert_incomplete(&run, &dir, "1 ledger record(s) could not be read");
    assert!(run.stderr.contains(&place), "{}", run.stderr);
}

/// Disclosures of `TAG` by alice and bob in turn, over several segments.
async fn build_segmented(root: &Path) -> LedgerConfig {
    let mut cfg = support::config(root);
    cfg.segment_bytes = 4096;
    let ledger = Ledger::open(&cfg).await.unwrap();
    let tag = ledger.fingerprint(TAG);
    for i in 0..30 {
        let agent = if i % 2 == 0 { "alice" } else { "bob" };
        let fields = [("devices[0].service_tag", "service-tag", tag.clone())];
        let entry = support::disclosure(agent, "acme", &format!("T-{i}"), "c-1", &fields);
        ledger.append(entry).await.unwrap();
    }
    ledger.shutdown().await;
    cfg
}

/// A segment that cannot be read at all (a directory in its place) leaves out
/// however many records it held: every query says so.
#[tokio::test]
async fn a_segment_that_cannot_be_read_is_reported_by_every_query() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build_segmented(root.path()).await;
    let dir = root.path().join("copy");
    support::copy_ledger(&cfg.dir, &dir);
    let segments = support::segments(&dir);
    assert!(segments.len() >= 3, "{segments:?}");
    let lost = std::fs::read_to_string(&segments[1])
        .unwrap()
        .lines()
        .count();
    std::fs::remove_file(&segments[1]).unwrap();
    std::fs::create_dir(&segments[1]).unwrap();
    let name = segments[1].file_name().unwrap().to_str().unwrap();
    let what = "1 ledger segment file(s) could not be read";

    let run = audit(&["who-saw", tooling::arg(&dir), "--value", TAG]);
    let expected = format!("{} clear disclosure(s)", 30 - lost);
    assert!(run.stdout.starts_with(&expected), "{}", run.stdout);
    assert_incomplete(&run, &dir, what);
    assert!(run.stderr.contains(name), "{}", run.stderr);

    let run = audit(&["agent", tooling::arg(&dir), "--agent", "bob"]);
    assert!(run.stdout.contains("record(s)"), "{}", run.stdout);
    assert_incomplete(&run, &dir, what);

    let leaked = root.path().join("leaked.txt");
    std::fs::write(&leaked, format!("{TAG}\n")).unwrap();
    let run = audit(&[
        "attribute",
        tooling::arg(&dir),
        "--leaked",
        tooling::arg(&leaked),
    ]);
    let examined = format!("disclosures examined {}", 30 - lost);
    assert!(run.stdout.contains(&examined), "{}", run.stdout);
    assert_incomplete(&run, &dir, what);
    assert!(run.stderr.contains(name), "{}", run.stderr);
}

/// Attribution over a ledger with a broken record ranks from the rest, and
/// says what it left out.
#[tokio::test]
async fn attribution_says_how_many_records_it_could_not_read() {
    let root = tempfile::tempdir().unwrap();
    let cfg = build(root.path()).await;
    let leaked = root.path().join("leaked.txt");
    std::fs::write(&leaked, format!("{TAG}\n")).unwrap();
    let intact = audit(&[
        "attribute",
        tooling::arg(&cfg.dir),
        "--leaked",
        tooling::arg(&leaked),
    ]);
    assert_eq!((intact.code, intact.stderr.as_str()), (0, ""));

    let dir = damaged(&cfg.dir, root.path(), |bytes| {
        replace_once(&bytes, br#""agent":"carol""#, br#""agent":"carol",,"#)
    });
    let run = audit(&[
        "attribute",
        tooling::arg(&dir),
        "--leaked",
        tooling::arg(&leaked),
    ]);
    assert!(
        run.stdout.contains("disclosures examined 3"),
        "{}",
        run.stdout
    );
    assert_carol_unread(&run, &dir);
}
