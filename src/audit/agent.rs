//! `audit agent`: one agent's records, optionally since a time.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Answer, AuditError};
use crate::ledger::read::for_each_record;
use crate::ledger::EntryKind;

/// One record of the agent's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentRecord {
    /// Record id.
    pub seq: u64,
    /// When (RFC 3339).
    pub time: String,
    /// Disclosure or denial.
    pub kind: EntryKind,
    /// Denial code.
    pub reason: Option<String>,
    /// The agent's vendor.
    pub vendor: String,
    /// Ticket worked under.
    pub ticket: Option<String>,
    /// Customers concerned.
    pub customers: Vec<String>,
    /// HTTP method.
    pub method: String,
    /// Route template.
    pub route: String,
    /// Gateway request id.
    pub request_id: String,
    /// Paths of the fields revealed in the clear.
    pub fields: Vec<String>,
}

/// Every record of `agent` at or after `since`, in seq order. Records whose
/// time cannot be read are kept when no `since` is given and dropped otherwise;
/// records that cannot be read at all are counted in the answer.
pub fn agent_history(
    dir: &Path,
    agent: &str,
    since: Option<DateTime<Utc>>,
) -> Result<Answer<Vec<AgentRecord>>, AuditError> {
    if !dir.is_dir() {
        return Err(AuditError::NoLedger(dir.to_path_buf()));
    }
    let mut out = Vec::new();
    let read = for_each_record(dir, |record| {
        let entry = &record.entry;
        if entry.agent.as_str() != agent {
            return;
        }
        if let Some(since) = since {
            let time = DateTime::parse_from_rfc3339(entry.time.as_str());
            if !time.is_ok_and(|t| t >= since) {
                return;
            }
        }
        out.push(AgentRecord {
            seq: record.seq,
            time: entry.time.to_string(),
            kind: entry.kind,
            reason: entry.reason.as_ref().map(ToString::to_string),
            vendor: entry.vendor.to_string(),
            ticket: entry.ticket.as_ref().map(ToString::to_string),
            customers: entry.customers.iter().map(ToString::to_string).collect(),
            method: entry.method.to_string(),
            route: entry.route.to_string(),
            request_id: entry.request_id.to_string(),
            fields: entry.fields.iter().map(|f| f.path.to_string()).collect(),
        });
    })?;
    Ok(Answer { found: out, read })
}
