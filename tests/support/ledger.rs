//! Helpers shared by the ledger and audit integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use keyhole::ledger::{generate_key_file, Entry, EntryKind, FieldDisclosure, LedgerConfig};

/// A ledger config under `root`: a fresh key in `root/keys`, the ledger in `root/ledger`.
pub fn config(root: &Path) -> LedgerConfig {
    let key_file = root.join("keys/ledger.key");
    if !key_file.exists() {
        generate_key_file(&key_file).unwrap();
    }
    LedgerConfig {
        dir: root.join("ledger"),
        key_file,
        ..LedgerConfig::default()
    }
}

/// A denial-free disclosure of `fields` (path, class, fingerprint) of `customer`.
pub fn disclosure(
    agent: &str,
    vendor: &str,
    ticket: &str,
    customer: &str,
    fields: &[(&str, &str, String)],
) -> Entry {
    Entry {
        kind: EntryKind::Disclosure,
        reason: None,
        time: Utc::now(),
        agent: agent.into(),
        vendor: vendor.into(),
        ticket: Some(ticket.into()),
        customers: vec![customer.into()],
        method: "GET".into(),
        route: "/customers/{customer}".into(),
        request_id: format!("req-{agent}-{customer}"),
        client: "127.0.0.1:40000".into(),
        fields: fields
            .iter()
            .map(|(path, class, fingerprint)| FieldDisclosure {
                customer: customer.into(),
                path: (*path).into(),
                class: (*class).into(),
                fingerprint: fingerprint.parse().expect("64 hex digits"),
            })
            .collect(),
    }
}

/// A small disclosure entry whose request id is `request_id`.
pub fn numbered(request_id: &str) -> Entry {
    let mut e = disclosure(
        "alice",
        "acme",
        "T-1",
        "c-1",
        &[("email", "email", "0".repeat(64))],
    );
    e.request_id = request_id.into();
    e
}

/// An entry at a fixed time.
pub fn at(mut entry: Entry, time: &str) -> Entry {
    entry.time = time.parse::<DateTime<Utc>>().unwrap();
    entry
}

/// Every (seq, request id) in the ledger, in order.
pub fn request_ids(dir: &Path) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    keyhole::ledger::read::for_each_record(dir, |r| {
        out.push((r.seq, r.entry.request_id.to_string()));
    })
    .unwrap();
    out
}

/// Segment files of a ledger, in order.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    keyhole::ledger::list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect()
}

/// Copies a ledger directory (not recursively into quarantine) for tampering.
pub fn copy_ledger(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        if item.file_type().unwrap().is_file() {
            std::fs::copy(item.path(), to.join(item.file_name())).unwrap();
        }
    }
}
