//! One pass of attribution over (part of) the ledger: per-agent and per-vendor
//! disclosure counts, and the disclosures that match leaked rows. Each reader
//! thread fills its own tally; they are merged afterwards.

use std::collections::HashMap;

use serde::Deserialize;

use super::attribute::Evidence;
use super::lean::{quick, Quick};
use crate::ledger::read::Text;
use crate::ledger::EntryKind;

/// Names to dense ids, so the per-record work is integer arithmetic, with
/// each name's disclosure count: a name and its count are made together, so
/// no name is ever without one.
#[derive(Default)]
pub(super) struct Interner {
    ids: HashMap<String, u32>,
    pub(super) names: Vec<String>,
    /// Disclosure records per name, by id.
    pub(super) totals: Vec<u64>,
}

impl Interner {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.totals.push(0);
        self.ids.insert(name.to_string(), id);
        id
    }

    /// Adds `n` disclosures to `name`; returns its id.
    fn add(&mut self, name: &str, n: u64) -> u32 {
        let id = self.id(name);
        if let Some(total) = self.totals.get_mut(id as usize) {
            *total += n;
        }
        id
    }
}

/// Only what attribution reads of a record; the rest is skipped unparsed.
#[derive(Deserialize)]
struct LeanRecord<'a> {
    seq: u64,
    #[serde(borrow)]
    entry: LeanEntry<'a>,
}

#[derive(Deserialize)]
struct LeanEntry<'a> {
    kind: EntryKind,
    #[serde(borrow)]
    time: Text<'a>,
    #[serde(borrow)]
    agent: Text<'a>,
    #[serde(borrow)]
    vendor: Text<'a>,
    #[serde(borrow, default)]
    ticket: Option<Text<'a>>,
    #[serde(borrow)]
    fields: Vec<LeanField<'a>>,
}

#[derive(Deserialize)]
struct LeanField<'a> {
    #[serde(borrow)]
    customer: Text<'a>,
    #[serde(borrow)]
    path: Text<'a>,
    #[serde(borrow)]
    fingerprint: Text<'a>,
}

/// Everything a pass over (part of) the ledger learns.
pub(super) struct Tally<'f> {
    fingerprints: &'f HashMap<String, Vec<u32>>,
    pub(super) agents: Interner,
    pub(super) vendors: Interner,
    pub(super) agent_vendor: Vec<u32>,
    pub(super) disclosures: u64,
    /// Disclosure records matching each leaked row.
    pub(super) row_records: Vec<u32>,
    /// Earliest matching disclosure per (agent, row) and per (vendor, row).
    pub(super) agent_hits: HashMap<(u32, u32), Evidence>,
    pub(super) vendor_hits: HashMap<(u32, u32), Evidence>,
}

impl<'f> Tally<'f> {
    pub(super) fn new(fingerprints: &'f HashMap<String, Vec<u32>>, rows: usize) -> Self {
        Tally {
            fingerprints,
            agents: Interner::default(),
            vendors: Interner::default(),
            agent_vendor: Vec::new(),
            disclosures: 0,
            row_records: vec![0; rows],
            agent_hits: HashMap::new(),
            vendor_hits: HashMap::new(),
        }
    }

    /// Counts one line; returns false when it is not a readable record, which
    /// the reader counts (why is `verify`'s business). `rows` holds the
    /// leaked file's line of each row, by row id.
    pub(super) fn add_line(&mut self, line: &[u8], rows: &[usize]) -> bool {
        let fingerprints = self.fingerprints;
        match quick(line, |f| fingerprints.contains_key(f)) {
            Quick::Denial => true,
            Quick::Disclosure { agent, vendor } => {
                self.count(agent, vendor, 1);
                true
            }
            Quick::Unsure => match serde_json::from_slice::<LeanRecord<'_>>(line) {
                Ok(record) => {
                    self.add(&record, rows);
                    true
                }
                Err(_) => false,
            },
        }
    }

    fn add(&mut self, record: &LeanRecord<'_>, rows: &[usize]) {
        let entry = &record.entry;
        if entry.kind != EntryKind::Disclosure {
            return;
        }
        let (agent, vendor) = self.count(entry.agent.as_str(), entry.vendor.as_str(), 1);
        let mut matched: Vec<(u32, &LeanField<'_>)> = Vec::new();
        for field in &entry.fields {
            if let Some(holders) = self.fingerprints.get(field.fingerprint.as_str()) {
                matched.extend(holders.iter().map(|&r| (r, field)));
            }
        }
        matched.sort_by_key(|(r, _)| *r);
        matched.dedup_by_key(|(r, _)| *r);
        for (row, field) in matched {
            self.row_records[row as usize] += 1;
            let evidence = Evidence {
                leaked_line: rows[row as usize],
                seq: record.seq,
                time: entry.time.to_string(),
                agent: entry.agent.to_string(),
                ticket: entry.ticket.as_ref().map(ToString::to_string),
                customer: field.customer.to_string(),
                path: field.path.to_string(),
                others: 0,
            };
            self.hit(agent, vendor, row, evidence);
        }
    }

    /// Adds `n` disclosures by `agent` of `vendor`; returns their ids.
    fn count(&mut self, agent: &str, vendor: &str, n: u64) -> (u32, u32) {
        let agent = self.agents.add(agent, n);
        let vendor = self.vendors.add(vendor, n);
        self.disclosures += n;
        self.first_vendor(agent, vendor);
        (agent, vendor)
    }

    /// Keeps `vendor` as the agent's vendor when `agent` was just interned.
    fn first_vendor(&mut self, agent: u32, vendor: u32) {
        if self.agent_vendor.len() <= agent as usize {
            self.agent_vendor.push(vendor);
        }
    }

    /// Keeps the earliest evidence per (agent, row) and (vendor, row).
    fn hit(&mut self, agent: u32, vendor: u32, row: u32, evidence: Evidence) {
        self.hit_one(false, vendor, row, evidence.clone());
        self.hit_one(true, agent, row, evidence);
    }

    /// Folds another thread's tally (over other segments) into this one.
    ///
    /// Agents and vendors are summed each from their own totals: an agent id
    /// may have disclosed under more than one vendor, and `agent_vendor`
    /// keeps only the first.
    pub(super) fn merge(&mut self, other: Tally<'_>) {
        for (name, &n) in other.vendors.names.iter().zip(&other.vendors.totals) {
            self.vendors.add(name, n);
        }
        let agents = other.agents.names.iter().zip(&other.agents.totals);
        for ((name, &n), &first) in agents.zip(&other.agent_vendor) {
            let agent = self.agents.add(name, n);
            // Every vendor of `other` was added above: this only looks it up.
            let first = other.vendors.names.get(first as usize);
            let vendor = self.vendors.id(first.map_or("", String::as_str));
            self.first_vendor(agent, vendor);
        }
        self.disclosures += other.disclosures;
        for (mine, theirs) in self.row_records.iter_mut().zip(&other.row_records) {
            *mine += theirs;
        }
        for ((agent, row), evidence) in other.agent_hits {
            let id = self.agents.id(&other.agents.names[agent as usize]);
            self.hit_one(true, id, row, evidence);
        }
        for ((vendor, row), evidence) in other.vendor_hits {
            let id = self.vendors.id(&other.vendors.names[vendor as usize]);
            self.hit_one(false, id, row, evidence);
        }
    }

    fn hit_one(&mut self, agent: bool, party: u32, row: u32, evidence: Evidence) {
        let map = if agent {
            &mut self.agent_hits
        } else {
            &mut self.vendor_hits
        };
        match map.get(&(party, row)) {
            Some(kept) if kept.seq <= evidence.seq => {}
            _ => {
                map.insert((party, row), evidence);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ledger line: one disclosure by `agent` of `vendor`, of a value with `fingerprint`.
    fn line(seq: u64, agent: &str, vendor: &str, fingerprint: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "seq": seq,
            "prev": "0".repeat(64),
            "entry": {
                "kind": "disclosure",
                "time": "2026-01-01T00:00:00Z",
                "agent": agent,
                "vendor": vendor,
                "ticket": "T-1",
                "customers": ["c1"],
                "method": "GET",
                "route": "/customers/{customer}",
                "request_id": format!("r{seq}"),
                "client": "127.0.0.1:1",
                "fields": [{"customer": "c1", "path": "email", "class": "email", "fingerprint": fingerprint}]
            }
        }))
        .unwrap()
    }

    /// (name, total) of every party, sorted.
    fn totals(parties: &Interner) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = parties
            .names
            .iter()
            .cloned()
            .zip(parties.totals.iter().copied())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn merging_keeps_each_vendor_its_own_disclosures_in_either_order() {
        let fingerprints: HashMap<String, Vec<u32>> = [("leaked".to_string(), vec![0])].into();
        let rows = [1];
        // One reader saw the mover at vendor-1 and then at vendor-2, where
        // the leaked value was disclosed; another saw the mover at vendor-2 only.
        let first = || {
            let mut t = Tally::new(&fingerprints, 1);
            assert!(t.add_line(&line(1, "stayer", "vendor-1", "other"), &rows));
            assert!(t.add_line(&line(2, "mover", "vendor-1", "other"), &rows));
            assert!(t.add_line(&line(3, "mover", "vendor-2", "leaked"), &rows));
            t
        };
        let second = || {
            let mut t = Tally::new(&fingerprints, 1);
            assert!(t.add_line(&line(4, "mover", "vendor-2", "other"), &rows));
            t
        };
        for order in [[first(), second()], [second(), first()]] {
            let mut merged = Tally::new(&fingerprints, 1);
            for partial in order {
                merged.merge(partial);
            }
            assert_eq!(merged.disclosures, 4);
            assert_eq!(
                totals(&merged.vendors),
                [("vendor-1".to_string(), 2), ("vendor-2".to_string(), 2)]
            );
            assert_eq!(
                totals(&merged.agents),
                [("mover".to_string(), 3), ("stayer".to_string(), 1)]
            );
            assert_eq!(merged.agent_vendor.len(), merged.agents.names.len());
            assert_eq!(merged.row_records, [1]);
            let vendor_hits: Vec<&str> = merged
                .vendor_hits
                .keys()
                .map(|&(v, _)| merged.vendors.names[v as usize].as_str())
                .collect();
            assert_eq!(vendor_hits, ["vendor-2"]);
        }
    }

    #[test]
    fn a_line_that_is_not_a_record_is_reported_and_not_counted() {
        let fingerprints: HashMap<String, Vec<u32>> = [("leaked".to_string(), vec![0])].into();
        let mut t = Tally::new(&fingerprints, 1);
        let good = line(1, "alice", "acme", "leaked");
        let mut broken = good.clone();
        broken.insert(good.len() - 1, b',');
        let mut not_utf8 = good.clone();
        let at = good.windows(5).position(|w| w == b"alice").unwrap();
        not_utf8[at + 1] = 0xff;
        for bad in [&broken[..], &not_utf8, b"", b"{\"seq\":2}"] {
            assert!(!t.add_line(bad, &[1]), "{}", String::from_utf8_lossy(bad));
        }
        assert!(t.add_line(&good, &[1]));
        assert_eq!((t.disclosures, t.row_records[0]), (1, 1));
    }
}
