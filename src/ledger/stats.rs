//! Counters an operator reads to tune group commit: how many appends each
//! batch and each fsync covers, and how long fsyncs take.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Live counters, shared by the writer and the sync threads.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    records: AtomicU64,
    batches: AtomicU64,
    fsyncs: AtomicU64,
    fsync_micros: AtomicU64,
    fsync_failures: AtomicU64,
}

impl Stats {
    /// A batch of `records` appends was written.
    pub(crate) fn batch(&self, records: usize) {
        self.records.fetch_add(records as u64, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
    }

    /// An fsync finished after `took`.
    pub(crate) fn fsync(&self, took: Duration, ok: bool) {
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.fsync_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        if !ok {
            self.fsync_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> LedgerStats {
        LedgerStats {
            records: self.records.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
            fsync_micros: self.fsync_micros.load(Ordering::Relaxed),
            fsync_failures: self.fsync_failures.load(Ordering::Relaxed),
        }
    }
}

/// The ledger's counters since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerStats {
    /// Appends written (acknowledged or still waiting for their fsync).
    pub records: u64,
    /// Batches written, one write each.
    pub batches: u64,
    /// Fsyncs attempted.
    pub fsyncs: u64,
    /// Time spent in them, microseconds.
    pub fsync_micros: u64,
    /// Fsyncs that failed.
    pub fsync_failures: u64,
}

impl LedgerStats {
    /// Prometheus text exposition.
    pub fn render(&self, out: &mut String) {
        let rows = [
            ("keyhole_ledger_records_total", self.records),
            ("keyhole_ledger_batches_total", self.batches),
            ("keyhole_ledger_fsyncs_total", self.fsyncs),
            ("keyhole_ledger_fsync_failures_total", self.fsync_failures),
        ];
        for (name, value) in rows {
            let _ = writeln!(out, "# TYPE {name} counter\n{name} {value}");
        }
        let secs = self.fsync_micros as f64 / 1e6;
        let _ = writeln!(
            out,
            "# TYPE keyhole_ledger_fsync_seconds_total counter\nkeyhole_ledger_fsync_seconds_total {secs}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_renders() {
        let stats = Stats::default();
        stats.batch(3);
        stats.batch(5);
        stats.fsync(Duration::from_micros(1500), true);
        stats.fsync(Duration::from_micros(500), false);
        let snap = stats.snapshot();
        assert_eq!((snap.records, snap.batches, snap.fsyncs), (8, 2, 2));
        assert_eq!((snap.fsync_micros, snap.fsync_failures), (2000, 1));
        let mut text = String::new();
        snap.render(&mut text);
        assert!(text.contains("keyhole_ledger_records_total 8\n"), "{text}");
        assert!(
            text.contains("keyhole_ledger_fsync_seconds_total 0.002\n"),
            "{text}"
        );
    }
}
