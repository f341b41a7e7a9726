//! Test hook: make the writer's disk fail on demand.
//!
//! Production code opens the ledger with [`Faults::default`] (no faults) and never
//! touches it. Tests pass their own `Arc<Faults>` to
//! [`Ledger::open_with_faults`](super::Ledger::open_with_faults) and flip the
//! switches to prove that a failing disk stops disclosures and that the ledger
//! recovers once the disk heals.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

/// Switches consulted by the writer before each write and fsync.
#[derive(Debug, Default)]
pub struct Faults {
    fail_writes: AtomicBool,
    fail_syncs: AtomicBool,
}

impl Faults {
    /// While on, each batch write stores only its first half and then fails, the
    /// way a full disk cuts a write short.
    pub fn fail_writes(&self, on: bool) {
        self.fail_writes.store(on, Ordering::SeqCst);
    }

    /// While on, every fsync fails after the data was written.
    pub fn fail_syncs(&self, on: bool) {
        self.fail_syncs.store(on, Ordering::SeqCst);
    }

    pub(crate) fn writes_fail(&self) -> bool {
        self.fail_writes.load(Ordering::SeqCst)
    }

    pub(crate) fn check_sync(&self) -> io::Result<()> {
        if self.fail_syncs.load(Ordering::SeqCst) {
            Err(io::Error::other("injected fsync failure"))
        } else {
            Ok(())
        }
    }
}
