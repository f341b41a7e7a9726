//! After a failed write or fsync: appends are turned away until the segment
//! is cut back to its last durable byte and a checkpoint proves the disk takes
//! writes again.

use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::error::TryRecvError;

use super::{open_append, Command, Writer};
use crate::ledger::LedgerError;

/// How often an unhealthy writer looks at its queue to turn appends away.
const UNHEALTHY_POLL: Duration = Duration::from_millis(20);

impl Writer {
    /// Turns appends away until a recovery attempt succeeds. Returns false if
    /// the writer should stop instead.
    pub(super) fn recover_until_healthy(&mut self) -> bool {
        let interval = self.parts.limits.recovery_interval;
        let mut next_attempt = Instant::now() + interval;
        loop {
            loop {
                match self.parts.rx.try_recv() {
                    Ok(Command::Append { reply, .. }) => {
                        reply.send(Err(LedgerError::Unavailable));
                    }
                    Ok(Command::Checkpoint { reply }) => {
                        let _ = reply.send(Err(LedgerError::Unavailable));
                    }
                    Ok(Command::Shutdown { reply }) => {
                        let _ = self.try_recover();
                        let _ = reply.send(());
                        return false;
                    }
                    Ok(Command::Wake) => {}
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return false,
                }
            }
            if Instant::now() >= next_attempt {
                match self.try_recover() {
                    Ok(()) => {
                        self.parts.healthy.store(true, Ordering::Release);
                        tracing::info!(
                            seq = self.staged.seq,
                            "ledger recovered; disclosures resume"
                        );
                        return true;
                    }
                    Err(e) => tracing::warn!(error = %e, "ledger recovery attempt failed"),
                }
                next_attempt = Instant::now() + interval;
            }
            std::thread::sleep(UNHEALTHY_POLL.min(interval));
        }
    }

    /// Cuts the segment back to its last durable byte, fsyncs it through a fresh
    /// handle, and proves the disk takes writes again with a checkpoint.
    pub(super) fn try_recover(&mut self) -> io::Result<()> {
        // Waits for fsyncs still running; their batches were already refused.
        let (head, len) = self.syncers.drain();
        self.staged = head;
        self.written = len;
        if let Some(current) = self.current.as_mut() {
            let file = open_append(&current.segment)?;
            file.set_len(len)?;
            self.parts.faults.check_sync()?;
            file.sync_all()?;
            current.file = Some(file);
        }
        let p = &mut self.parts;
        p.checkpoints.write(&p.key, head, true, &p.faults)?;
        let path = self.current.as_ref().map(|c| c.segment.path.as_path());
        self.syncers.recovered(path)
    }
}
