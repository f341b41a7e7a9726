//! `audit attribute`: which agents and vendors explain a leaked list.
//!
//! Each leaked row (one customer record in the leak) is fingerprinted and
//! matched against every clear disclosure. For each agent (and vendor) we count
//! the rows it saw, how many of those few others saw, and how surprising that
//! count is if the agent had nothing to do with the leak: under that null
//! hypothesis a row disclosed `d` times was seen by an agent holding share `s`
//! of all disclosures with probability `1 - (1 - s)^d`, so the count is roughly
//! binomial, and the score is `-log10` of its upper tail. A leaker sees nearly
//! every leaked row that is in the ledger however small its share; a busy agent
//! who merely shares customers sees about as many as its share predicts.
//!
//! The statistics count distinct rows, because a row counted twice is
//! counted as two independent chances to have seen a leaked record. A row is
//! the set of its values once normalized (so the set of their fingerprints):
//! `L7GRVD2`, `l7grvd2` and `L7G-RVD2` are one value, a value repeated inside
//! a row is there once, and a row whose set equals an earlier row's is a
//! duplicate, reported as such and otherwise ignored. A row that shares only
//! some values with an earlier one (the same service tag with another email)
//! is a row of its own. Rows with no value long enough to match are never
//! duplicates; they match nothing either way.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use serde::Serialize;

use super::leaked::{candidates, LeakedRow, MIN_VALUE_LEN};
use super::stats::LnFactorials;
use super::tally::{Interner, Tally};
use super::{Answer, AuditError};
use crate::ledger::normalize;
use crate::ledger::read::{fold_lines, reader_threads};
use crate::ledger::LedgerKey;

/// Most evidence records listed per suspect.
const EVIDENCE_LIMIT: usize = 10;

/// The result of an attribution.
#[derive(Debug, Clone, Serialize)]
pub struct Attribution {
    /// Rows in the leaked list.
    pub leaked_rows: usize,
    /// Of those, rows whose values are those of an earlier row once
    /// normalized: counted once, with the earlier row.
    pub duplicate_rows: usize,
    /// Distinct rows at least one disclosure matches.
    pub rows_in_ledger: usize,
    /// Disclosure records examined.
    pub disclosures: u64,
    /// Agents that saw any leaked row, best explanation first.
    pub agents: Vec<Suspect>,
    /// Vendors likewise.
    pub vendors: Vec<Suspect>,
}

/// An agent or vendor and how well it explains the leak.
#[derive(Debug, Clone, Serialize)]
pub struct Suspect {
    /// Agent id or vendor name.
    pub name: String,
    /// For agents, their vendor.
    pub vendor: Option<String>,
    /// Its disclosure records.
    pub disclosures: u64,
    /// Its share of all disclosure records.
    pub share: f64,
    /// Leaked rows it saw in the clear.
    pub saw: usize,
    /// Of those, rows no other agent (vendor) saw.
    pub exclusive: usize,
    /// Sum over the rows it saw of 1 / (agents that saw the row).
    pub weighted: f64,
    /// Rows it would be expected to have seen if unrelated to the leak.
    pub expected: f64,
    /// `log10` of the chance of seeing at least `saw` rows if unrelated.
    pub log10_p: f64,
    /// `-log10_p`: higher means a better explanation.
    pub score: f64,
    /// `strong` (p < 1e-6), `moderate` (< 1e-3), `weak` (< 0.05) or `none`.
    pub confidence: &'static str,
    /// Supporting records, rows seen by fewest others first.
    pub evidence: Vec<Evidence>,
}

/// A disclosure that matches a leaked row.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    /// Line of the row in the leaked file (its first, if repeated).
    pub leaked_line: usize,
    /// Record id.
    pub seq: u64,
    /// When.
    pub time: String,
    /// Who.
    pub agent: String,
    /// Ticket worked under.
    pub ticket: Option<String>,
    /// Whose record.
    pub customer: String,
    /// Which field matched.
    pub path: String,
    /// How many others (agents, or vendors) also saw this row.
    pub others: usize,
}

/// Ranks agents and vendors by how well their clear disclosures explain `rows`,
/// keeping the best `top` of each. Records that cannot be read are counted in
/// the answer, and the ranking is of the rest.
pub fn attribute(
    dir: &Path,
    key: &LedgerKey,
    rows: &[LeakedRow],
    top: usize,
) -> Result<Answer<Attribution>, AuditError> {
    if !dir.is_dir() {
        return Err(AuditError::NoLedger(dir.to_path_buf()));
    }
    let distinct = distinct_rows(key, rows);
    let (partials, read) = fold_lines(
        dir,
        reader_threads(),
        || Tally::new(&distinct.fingerprints, distinct.lines.len()),
        |tally, line| tally.add_line(line, &distinct.lines),
    )?;
    let mut tally = Tally::new(&distinct.fingerprints, distinct.lines.len());
    for partial in partials {
        tally.merge(partial);
    }
    let in_ledger: Vec<u32> = (0..distinct.lines.len() as u32)
        .filter(|&r| tally.row_records[r as usize] > 0)
        .collect();
    let ranker = Ranker {
        lnf: LnFactorials::new(in_ledger.len() as u64),
        in_ledger: &in_ledger,
        row_records: &tally.row_records,
        disclosures: tally.disclosures,
        top,
    };
    let agent_vendor: Vec<Option<String>> = tally
        .agent_vendor
        .iter()
        .map(|&v| tally.vendors.names.get(v as usize).cloned())
        .collect();
    let agents = ranker.rank(&tally.agents, &tally.agent_hits, &agent_vendor);
    let vendors = ranker.rank(&tally.vendors, &tally.vendor_hits, &[]);
    let found = Attribution {
        leaked_rows: rows.len(),
        duplicate_rows: distinct.duplicates,
        rows_in_ledger: in_ledger.len(),
        disclosures: tally.disclosures,
        agents,
        vendors,
    };
    Ok(Answer { found, read })
}

/// The leaked list as the statistics count it: each distinct row once.
struct Distinct {
    /// Fingerprint -> distinct rows holding a value with that fingerprint
    /// (or an equivalent form of one, see [`candidates`]).
    fingerprints: HashMap<String, Vec<u32>>,
    /// Line in the leaked file of each distinct row, by row id.
    lines: Vec<usize>,
    /// Rows left out as duplicates of an earlier row.
    duplicates: usize,
}

/// Numbers the distinct rows of `rows` and fingerprints their values.
fn distinct_rows(key: &LedgerKey, rows: &[LeakedRow]) -> Distinct {
    let mut distinct = Distinct {
        fingerprints: HashMap::new(),
        lines: Vec::new(),
        duplicates: 0,
    };
    let mut seen: HashSet<BTreeSet<String>> = HashSet::new();
    for row in rows {
        let values = row_values(row);
        // A row with no usable value matches nothing, so whether it repeats
        // one changes no count but the duplicates'.
        if !values.is_empty() && seen.contains(&values) {
            distinct.duplicates += 1;
            continue;
        }
        let id = distinct.lines.len() as u32;
        distinct.lines.push(row.line);
        let forms: BTreeSet<String> = values.iter().flat_map(|v| candidates(v)).collect();
        for form in forms.iter().filter(|n| n.len() >= MIN_VALUE_LEN) {
            let holders = distinct
                .fingerprints
                .entry(key.fingerprint_normalized(form))
                .or_default();
            holders.push(id);
        }
        seen.insert(values);
    }
    distinct
}

/// A row's values as the ledger fingerprints them, leaving out those too short
/// to attribute: equal sets mean equal sets of fingerprints.
fn row_values(row: &LeakedRow) -> BTreeSet<String> {
    row.values
        .iter()
        .map(|v| normalize(v))
        .filter(|n| n.len() >= MIN_VALUE_LEN)
        .collect()
}

/// Scores parties (agents or vendors) against the null hypothesis.
struct Ranker<'a> {
    lnf: LnFactorials,
    in_ledger: &'a [u32],
    row_records: &'a [u32],
    disclosures: u64,
    top: usize,
}

impl Ranker<'_> {
    fn rank(
        &self,
        parties: &Interner,
        hits: &HashMap<(u32, u32), Evidence>,
        vendor_of: &[Option<String>],
    ) -> Vec<Suspect> {
        let mut row_parties: HashMap<u32, usize> = HashMap::new();
        let mut seen: Vec<Vec<(u32, &Evidence)>> = vec![Vec::new(); parties.names.len()];
        for (&(party, row), evidence) in hits {
            *row_parties.entry(row).or_default() += 1;
            if let Some(rows) = seen.get_mut(party as usize) {
                rows.push((row, evidence));
            }
        }
        // Every interned name has its total (see `Interner`).
        let named = parties.names.iter().zip(&parties.totals).zip(seen);
        let mut out: Vec<Suspect> = named
            .enumerate()
            .filter(|(_, (_, rows))| !rows.is_empty())
            .map(|(party, ((name, &total), rows))| {
                let vendor = vendor_of.get(party).cloned().flatten();
                self.suspect(name.clone(), vendor, total, rows, &row_parties)
            })
            .collect();
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(b.saw.cmp(&a.saw))
                .then(a.name.cmp(&b.name))
        });
        out.truncate(self.top);
        out
    }

    fn suspect(
        &self,
        name: String,
        vendor: Option<String>,
        total: u64,
        rows: Vec<(u32, &Evidence)>,
        row_parties: &HashMap<u32, usize>,
    ) -> Suspect {
        let share = total as f64 / self.disclosures.max(1) as f64;
        let p = self.null_probability(share);
        let m = self.in_ledger.len() as u64;
        let saw = rows.len();
        let log10_p = self.lnf.log10_tail(m, saw as u64, p);
        let mut evidence: Vec<Evidence> = rows
            .iter()
            .map(|&(row, e)| Evidence {
                others: row_parties.get(&row).map_or(0, |n| n.saturating_sub(1)),
                ..e.clone()
            })
            .collect();
        let exclusive = evidence.iter().filter(|e| e.others == 0).count();
        let weighted = evidence.iter().map(|e| 1.0 / (e.others + 1) as f64).sum();
        evidence.sort_by_key(|e| (e.others, e.seq));
        evidence.truncate(EVIDENCE_LIMIT);
        Suspect {
            name,
            vendor,
            disclosures: total,
            share,
            saw,
            exclusive,
            weighted,
            expected: p * m as f64,
            log10_p,
            score: -log10_p,
            confidence: confidence(log10_p),
            evidence,
        }
    }

    /// Mean over the leaked rows in the ledger of `1 - (1 - share)^d`.
    fn null_probability(&self, share: f64) -> f64 {
        if self.in_ledger.is_empty() {
            return 0.0;
        }
        let ln_miss = (-share).ln_1p();
        let sum: f64 = self
            .in_ledger
            .iter()
            .map(|&r| -(self.row_records[r as usize] as f64 * ln_miss).exp_m1())
            .sum();
        sum / self.in_ledger.len() as f64
    }
}

fn confidence(log10_p: f64) -> &'static str {
    if log10_p < -6.0 {
        "strong"
    } else if log10_p < -3.0 {
        "moderate"
    } else if log10_p < -1.3 {
        "weak"
    } else {
        "none"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::parse_leaked;

    #[test]
    fn rows_equal_once_normalized_are_counted_once() {
        let key = LedgerKey::from_bytes(&[9u8; 32]);
        let rows = parse_leaked(
            "tag,email\n\
             L7GRVD2,ann@example.com\n\
             l7g-rvd2,ANN@EXAMPLE.COM\n\
             L7GRVD2,bo@example.com\n\
             \" L7G RVD2\",\"L7GRVD2\"\n\
             L7GRVD2,L7GRVD2\n\
             US,\n\
             US,\n",
        );
        let distinct = distinct_rows(&key, &rows);
        // Line 3 repeats line 2; line 6 repeats line 5 (a value twice in a
        // row is there once); the rows with nothing long enough are kept.
        assert_eq!(distinct.lines, [2, 4, 5, 7, 8]);
        assert_eq!(distinct.duplicates, 2);
        let tag = key.fingerprint_normalized("l7grvd2");
        assert_eq!(distinct.fingerprints[&tag], [0, 1, 2]);
    }
}
