//! `audit who-saw`: every clear disclosure of one value.

use std::collections::HashSet;
use std::path::Path;

use serde::Serialize;

use super::leaked::candidates;
use super::{Answer, AuditError};
use crate::ledger::read::for_each_record;
use crate::ledger::{EntryKind, LedgerKey};

/// One clear disclosure of the value looked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sighting {
    /// Record id.
    pub seq: u64,
    /// When (RFC 3339).
    pub time: String,
    /// Who saw it.
    pub agent: String,
    /// The agent's vendor.
    pub vendor: String,
    /// Ticket worked under.
    pub ticket: Option<String>,
    /// Whose value it was.
    pub customer: String,
    /// Where in the response.
    pub path: String,
    /// Field class.
    pub class: String,
    /// Route template.
    pub route: String,
    /// Gateway request id.
    pub request_id: String,
}

/// Finds every disclosure of `value`. The value is fingerprinted with `key`
/// after normalization, along with its obvious equivalents (a service tag and
/// its express service code, a phone with or without the leading 1). Records
/// that cannot be read are counted in the answer, not searched.
pub fn who_saw(
    dir: &Path,
    key: &LedgerKey,
    value: &str,
) -> Result<Answer<Vec<Sighting>>, AuditError> {
    if !dir.is_dir() {
        return Err(AuditError::NoLedger(dir.to_path_buf()));
    }
    let wanted: HashSet<String> = candidates(value)
        .iter()
        .map(|n| key.fingerprint_normalized(n))
        .collect();
    let mut found = Vec::new();
    let read = for_each_record(dir, |record| {
        let entry = &record.entry;
        if entry.kind != EntryKind::Disclosure {
            return;
        }
        for field in &entry.fields {
            if !wanted.contains(field.fingerprint.as_str()) {
                continue;
            }
            found.push(Sighting {
                seq: record.seq,
                time: entry.time.to_string(),
                agent: entry.agent.to_string(),
                vendor: entry.vendor.to_string(),
                ticket: entry.ticket.as_ref().map(ToString::to_string),
                customer: field.customer.to_string(),
                path: field.path.to_string(),
                class: field.class.to_string(),
                route: entry.route.to_string(),
                request_id: entry.request_id.to_string(),
            });
        }
    })?;
    Ok(Answer { found, read })
}
