//! What the proxy asks the ledger to record: who saw which fields of whom, and
//! under which ticket. Values never appear here, only their keyed fingerprints.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::key::Fingerprint;
use crate::json_text::push_str;

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
// A disclosing response records a dozen of these or more: the customer and the
// class are shared with the record and the rule rather than copied per field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDisclosure {
    /// The customer the value belongs to.
    pub customer: Arc<str>,
    /// Where in the response, e.g. `devices[0].service_tag`.
    pub path: String,
    /// The field's class, e.g. `service-tag`, `phone`.
    pub class: Arc<str>,
    /// HMAC-SHA256 of the normalized value under the ledger key (hex when written).
    pub fingerprint: Fingerprint,
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
    /// The entry as compact JSON, as stored inside a record: exactly what
    /// `serde_json` writes for it, written by hand because every disclosing
    /// response pays for it (a dozen or more fields of about 160 bytes each).
    pub(crate) fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(384 + 192 * self.fields.len());
        out.extend_from_slice(match self.kind {
            EntryKind::Disclosure => b"{\"kind\":\"disclosure\"",
            EntryKind::Denial => b"{\"kind\":\"denial\"",
        });
        if let Some(reason) = &self.reason {
            member(&mut out, "reason", reason);
        }
        out.extend_from_slice(b",\"time\":");
        push_time(&mut out, &self.time);
        member(&mut out, "agent", &self.agent);
        member(&mut out, "vendor", &self.vendor);
        if let Some(ticket) = &self.ticket {
            member(&mut out, "ticket", ticket);
        }
        out.extend_from_slice(b",\"customers\":[");
        for (i, customer) in self.customers.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_str(&mut out, customer);
        }
        out.push(b']');
        member(&mut out, "method", &self.method);
        member(&mut out, "route", &self.route);
        member(&mut out, "request_id", &self.request_id);
        member(&mut out, "client", &self.client);
        out.extend_from_slice(b",\"fields\":[");
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            field.write_json(&mut out);
        }
        out.extend_from_slice(b"]}");
        out
    }
}

impl FieldDisclosure {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"customer\":");
        push_str(out, &self.customer);
        member(out, "path", &self.path);
        member(out, "class", &self.class);
        // Hex digits need no escaping: written as they are.
        out.extend_from_slice(b",\"fingerprint\":\"");
        out.extend_from_slice(self.fingerprint.hex(&mut [0u8; 64]).as_bytes());
        out.extend_from_slice(b"\"}");
    }
}

/// `time` as a JSON string, exactly as its `Serialize` writes it (RFC 3339 in
/// UTC, with 0, 3, 6 or 9 fraction digits as the nanoseconds need), by hand
/// for the four-digit years every real clock reads.
fn push_time(out: &mut Vec<u8>, time: &DateTime<Utc>) {
    let (year, nanos) = (time.year(), time.nanosecond());
    // Leap seconds (nanoseconds past a billion) and years of other widths
    // take the general path.
    let (Ok(year @ 0..=9999), 0..=999_999_999) = (u32::try_from(year), nanos) else {
        // A timestamp always serialises.
        let _ = serde_json::to_writer(&mut *out, time);
        return;
    };
    out.push(b'"');
    push_digits(out, year, 4);
    out.push(b'-');
    push_digits(out, time.month(), 2);
    out.push(b'-');
    push_digits(out, time.day(), 2);
    out.push(b'T');
    push_digits(out, time.hour(), 2);
    out.push(b':');
    push_digits(out, time.minute(), 2);
    out.push(b':');
    push_digits(out, time.second(), 2);
    let (fraction, digits) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    if digits > 0 {
        out.push(b'.');
        push_digits(out, fraction, digits);
    }
    out.extend_from_slice(b"Z\"");
}

/// The last `width` decimal digits of `n`, zero-padded.
fn push_digits(out: &mut Vec<u8>, n: u32, width: u32) {
    for place in (0..width).rev() {
        out.push(b'0' + (n / 10u32.pow(place) % 10) as u8);
    }
}

/// `,"name":"value"` (names are plain, values escaped as needed).
fn member(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    push_str(out, value);
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

    #[test]
    fn times_are_written_as_serde_writes_them() {
        let base = DateTime::from_timestamp(1_764_560_181, 0).unwrap();
        let far = DateTime::from_timestamp(300_000_000_000, 5).unwrap();
        let early = DateTime::from_timestamp(-62_200_000_000, 0).unwrap();
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .unwrap()
            .and_utc();
        let mut times = vec![far, early, leap];
        for nanos in [
            0,
            7,
            120_000_000,
            123_000_000,
            123_456_000,
            123_456_789,
            999_999_999,
        ] {
            times.push(base.with_nanosecond(nanos).unwrap());
        }
        for time in times {
            let mut ours = Vec::new();
            push_time(&mut ours, &time);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(&time).unwrap()
            );
        }
    }

    fn text() -> impl proptest::strategy::Strategy<Value = String> {
        "\\PC{0,16}|[\\x00-\\x7f]{0,16}"
    }

    fn field() -> impl proptest::strategy::Strategy<Value = FieldDisclosure> {
        use proptest::prelude::*;
        (text(), text(), text(), any::<[u8; 32]>()).prop_map(|(c, path, class, fp)| {
            FieldDisclosure {
                customer: c.into(),
                path,
                class: class.into(),
                fingerprint: Fingerprint(fp),
            }
        })
    }

    proptest::proptest! {
        #[test]
        fn written_json_is_what_serde_json_writes(
            disclosure in proptest::bool::ANY,
            reason in proptest::option::of(text()),
            secs in 0i64..4_000_000_000,
            nanos in 0u32..1_000_000_000,
            (agent, vendor, method, route, request_id, client) in (text(), text(), text(), text(), text(), text()),
            ticket in proptest::option::of(text()),
            customers in proptest::collection::vec(text(), 0..3),
            fields in proptest::collection::vec(field(), 0..4),
        ) {
            let entry = Entry {
                kind: if disclosure { EntryKind::Disclosure } else { EntryKind::Denial },
                reason,
                time: DateTime::from_timestamp(secs, nanos).unwrap(),
                agent, vendor, ticket, customers, method, route, request_id, client, fields,
            };
            let theirs = serde_json::to_vec(&entry).unwrap();
            proptest::prop_assert_eq!(String::from_utf8(entry.to_json()).unwrap(), String::from_utf8(theirs).unwrap());
        }
    }
}
