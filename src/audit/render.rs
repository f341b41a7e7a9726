//! Formatting audit results: a readable table by default, JSON with `--json`.

use std::fmt::Write;
use std::path::Path;

use serde::Serialize;

use super::table::Table;
use super::{AgentRecord, Attribution, Sighting, Suspect, VerifyReport};
use crate::ledger::read::ReadStats;

fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
    text.push('\n');
    text
}

fn opt(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "-".into())
}

/// `audit verify` output; `passed` is the verdict the exit code gives.
pub fn verify(dir: &Path, report: &VerifyReport, passed: bool, json: bool) -> String {
    if json {
        let mut value = serde_json::to_value(report).unwrap_or_default();
        if let Some(fields) = value.as_object_mut() {
            fields.insert("passed".into(), passed.into());
        }
        return to_json(&value);
    }
    let mut out = String::new();
    let status = match (report.ok(), report.checkpoints_authenticated) {
        (false, _) => "BAD",
        (true, true) => "OK",
        (true, false) => "chain intact, checkpoints NOT authenticated",
    };
    let _ = writeln!(out, "ledger {}: {status}", dir.display());
    if let Some(bad) = &report.first_bad {
        let seq = bad.seq.map_or_else(|| "?".into(), |s| s.to_string());
        // Line 0: the problem is where the file ends, not at one of its lines.
        let place = match bad.line {
            0 => bad.file.clone(),
            line => format!("{} line {line}", bad.file),
        };
        let _ = writeln!(
            out,
            "first bad record: seq {seq} ({place}): {}",
            bad.problem
        );
    }
    let auth = match (&report.key_problem, report.checkpoints_authenticated) {
        (_, true) => "authenticated".to_string(),
        (Some(why), false) => format!("NOT authenticated: {why}"),
        (None, false) => "NOT authenticated: no key".to_string(),
    };
    let last_cp = match (report.last_checkpoint, &report.newest_checkpoint_time) {
        (None, _) => "none".to_string(),
        (Some(seq), None) => format!("seq {seq}"),
        (Some(seq), Some(time)) => format!("seq {seq}, newest written {time}"),
    };
    let _ = writeln!(out, "segments      {}", report.segments);
    let _ = writeln!(
        out,
        "records       {} good (last seq {})",
        report.records, report.last_seq
    );
    let _ = writeln!(out, "head          {}", report.head);
    let _ = writeln!(
        out,
        "checkpoints   {} ({auth}), last at {last_cp}",
        report.checkpoints
    );
    if let Some(key) = &report.key {
        let _ = writeln!(out, "key           {key}");
    }
    if report.after_last_checkpoint > 0 {
        let _ = writeln!(
            out,
            "uncovered     {} record(s) after the last checkpoint: their removal or alteration shows only against an --anchor SEQ:HEAD at or past them",
            report.after_last_checkpoint
        );
    }
    if report.anchors > 0 {
        let _ = writeln!(out, "anchors       {}", report.anchors);
    }
    if !report.checkpoints_authenticated {
        let _ = writeln!(
            out,
            "without the ledger key a rewritten chain cannot be ruled out: pass --key FILE (or --chain-only to accept this)"
        );
    }
    if report.unfinished_tail_bytes > 0 {
        let _ = writeln!(
            out,
            "unfinished    {} bytes of an interrupted write; cut off at the next start",
            report.unfinished_tail_bytes
        );
    }
    let _ = writeln!(out, "quarantined   {} torn tail(s)", report.quarantined);
    out
}

/// The warning of a query that could not read every record: how many, where
/// the first is, and what to run to learn why.
pub fn unreadable(dir: &Path, read: &ReadStats) -> String {
    let mut out = String::new();
    if read.unreadable > 0 {
        let _ = writeln!(
            out,
            "warning: {} ledger record(s) could not be read and are not in this answer",
            read.unreadable
        );
    }
    if read.unreadable_segments > 0 {
        let _ = writeln!(
            out,
            "warning: {} ledger segment file(s) could not be read; none of their records are in this answer",
            read.unreadable_segments
        );
    }
    if let Some(first) = &read.first_unreadable {
        let _ = writeln!(out, "warning: the first is at {first}");
    }
    let _ = writeln!(
        out,
        "warning: run `keyhole audit verify {}` to learn what is wrong with the ledger",
        dir.display()
    );
    out
}

/// `audit who-saw` output.
pub fn sightings(found: &[Sighting], json: bool) -> String {
    if json {
        return to_json(found);
    }
    let mut t = Table::new(&[
        "seq", "time", "agent", "vendor", "ticket", "customer", "field", "route",
    ]);
    for s in found {
        t.row(vec![
            s.seq.to_string(),
            s.time.clone(),
            s.agent.clone(),
            s.vendor.clone(),
            opt(&s.ticket),
            s.customer.clone(),
            s.path.clone(),
            s.route.clone(),
        ]);
    }
    format!("{} clear disclosure(s)\n{}", found.len(), t.render())
}

/// `audit agent` output.
pub fn history(records: &[AgentRecord], json: bool) -> String {
    if json {
        return to_json(records);
    }
    let mut t = Table::new(&[
        "seq",
        "time",
        "kind",
        "ticket",
        "customers",
        "route",
        "fields",
    ]);
    for r in records {
        let kind = match &r.reason {
            Some(reason) => format!("denial:{reason}"),
            None => serde_json::to_value(r.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        };
        t.row(vec![
            r.seq.to_string(),
            r.time.clone(),
            kind,
            opt(&r.ticket),
            r.customers.join(" "),
            format!("{} {}", r.method, r.route),
            r.fields.join(" "),
        ]);
    }
    format!("{} record(s)\n{}", records.len(), t.render())
}

/// `audit attribute` output.
pub fn attribution(result: &Attribution, json: bool) -> String {
    if json {
        return to_json(result);
    }
    let repeats = match result.duplicate_rows {
        0 => String::new(),
        n => format!(" ({n} repeat an earlier row, counted once)"),
    };
    let mut out = format!(
        "leaked rows {}{repeats}, found in the ledger {}, disclosures examined {}\n\nAGENTS\n",
        result.leaked_rows, result.rows_in_ledger, result.disclosures
    );
    out.push_str(&suspects(&result.agents));
    out.push_str("\nVENDORS\n");
    out.push_str(&suspects(&result.vendors));
    for s in result.agents.iter().take(3) {
        let _ = writeln!(out, "\nevidence for agent {}:", s.name);
        for e in &s.evidence {
            let _ = writeln!(
                out,
                "  seq {} {} ticket {} customer {} {} (leaked line {}, {} other agent(s) saw it)",
                e.seq,
                e.time,
                opt(&e.ticket),
                e.customer,
                e.path,
                e.leaked_line,
                e.others
            );
        }
    }
    out
}

fn suspects(list: &[Suspect]) -> String {
    let mut t = Table::new(&[
        "rank",
        "name",
        "vendor",
        "saw",
        "exclusive",
        "expected",
        "share",
        "score",
        "confidence",
    ]);
    for (i, s) in list.iter().enumerate() {
        t.row(vec![
            (i + 1).to_string(),
            s.name.clone(),
            opt(&s.vendor),
            s.saw.to_string(),
            s.exclusive.to_string(),
            format!("{:.1}", s.expected),
            format!("{:.2}%", s.share * 100.0),
            format!("{:.1}", s.score),
            s.confidence.to_string(),
        ]);
    }
    t.render()
}
