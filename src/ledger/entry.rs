//! What the proxy asks the ledger to record: who saw which fields of whom, and
//! under which ticket. Values never appear here, only their keyed fingerprints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whether the record is a clear disclosure or a refusal worth keeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    /// A response revealed at least one sensitive value in the clear.
    Disclosure,
    /// A request was refused for a reason the security team cares about.
    Denial,
}

/// One field revealed in the clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDisclosure {
    /// The customer the value belongs to.
    pub customer: String,
    /// Where in the response, e.g. `devices[0].service_tag`.
    pub path: String,
    /// The field's class, e.g. `service-tag`, `phone`.
    pub class: String,
    /// Hex HMAC-SHA256 of the normalized value under the ledger key.
    pub fingerprint: String,
}

/// One ledger entry as the proxy hands it over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Disclosure or denial.
    pub kind: EntryKind,
    /// For denials, a stable kebab-case code such as `token-not-yours`,
    /// `ticket-not-assignee` or `budget-exceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the response (or refusal) was decided.
    pub time: DateTime<Utc>,
    /// Agent id (the JWT `sub`).
    pub agent: String,
    /// The agent's vendor (the JWT `vendor`).
    pub vendor: String,
    /// The ticket the agent worked under, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// Customer ids whose records the response concerned.
    pub customers: Vec<String>,
    /// HTTP method.
    pub method: String,
    /// The route template, e.g. `/customers/{customer}`; never the concrete path,
    /// which can hold clear values.
    pub route: String,
    /// The gateway's request id.
    pub request_id: String,
    /// The client's socket address.
    pub client: String,
    /// Every field revealed in the clear.
    pub fields: Vec<FieldDisclosure>,
}

impl Entry {
    /// The entry as compact JSON, as stored inside a record.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        // Plain strings, a timestamp and an enum always serialise; the empty
        // object is an unreachable fallback that keeps this function total.
        // Sized for the entry (a disclosed field takes about 160 bytes) so
        // serialising does not grow the buffer several times over.
        let mut out = Vec::with_capacity(384 + 192 * self.fields.len());
        match serde_json::to_writer(&mut out, self) {
            Ok(()) => out,
            Err(_) => b"{}".to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_and_omits_empty_options() {
        let entry = Entry {
            kind: EntryKind::Denial,
            reason: Some("token-not-yours".into()),
            time: "2025-03-01T10:00:00Z".parse().unwrap(),
            agent: "alice".into(),
            vendor: "acme".into(),
            ticket: None,
            customers: vec!["c1".into()],
            method: "GET".into(),
            route: "/customers/{customer}".into(),
            request_id: "r1".into(),
            client: "127.0.0.1:5000".into(),
            fields: vec![],
        };
        let json = entry.to_json();
        let text = std::str::from_utf8(&json).unwrap();
        assert!(text.contains(r#""kind":"denial""#));
        assert!(!text.contains("ticket"));
        let back: Entry = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, entry);
    }
}
