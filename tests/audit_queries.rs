//! `audit who-saw` and `audit agent` over a real ledger, through the library
//! functions and through `run_to` (table and JSON).

#[path = "support/ledger.rs"]
mod support;

use std::path::PathBuf;

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

    let seen = who_saw(&cfg.dir, &key, "7xk-2p9q").unwrap();
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

    let phone = who_saw(&cfg.dir, &key, "555.010.2233").unwrap();
    assert_eq!(
        phone.iter().map(|s| s.agent.as_str()).collect::<Vec<_>>(),
        ["bob"]
    );
    assert!(who_saw(&cfg.dir, &key, "nobody@example.com")
        .unwrap()
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
    let all = agent_history(&cfg.dir, "alice", None).unwrap();
    assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 4, 5]);
    assert_eq!(all[2].kind, EntryKind::Denial);
    assert_eq!(all[2].reason.as_deref(), Some("ticket-not-assignee"));
    assert_eq!(all[0].fields, ["devices[0].service_tag"]);

    let since = parse_since("2025-03-04").unwrap();
    let recent = agent_history(&cfg.dir, "alice", Some(since)).unwrap();
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
