//! The group-commit writer: one thread owns the segment files. It takes every
//! append queued so far, chains and writes them as one batch, and hands the
//! batch to the sync threads ([`super::sync`]), which answer each appender with
//! its seq once an fsync covers it. The writer never waits for an fsync, so
//! under load the next batch is written while the previous one syncs.
//!
//! An fsync costs about the same for one record as for a hundred, and in a
//! virtual machine it is mostly exits to the hypervisor. So once a batch held
//! two or more appends (there is concurrent load), the writer starts the next
//! batch no sooner than the commit window after the last one; appends queue
//! meanwhile without waking anyone, and one write and one fsync cover them
//! all. A lone append is written at once.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::sync::oneshot;

use super::checkpoint;
use super::faults::Faults;
use super::record;
use super::relay::{Relay, Reply};
use super::scan::Head;
use super::segment::{self, SegmentFile};
use super::stats::Stats;
use super::sync::Syncers;
use super::tail::Tail;
use super::{LedgerError, LedgerKey};

mod recover;

/// What appenders and the ledger handle ask of the writer.
pub(crate) enum Command {
    /// Write this entry; answer with its seq once durable.
    Append { entry_json: Vec<u8>, reply: Reply },
    /// Checkpoint the durable head.
    Checkpoint {
        reply: oneshot::Sender<Result<(), LedgerError>>,
    },
    /// Write what is queued, checkpoint, and stop.
    Shutdown { reply: oneshot::Sender<()> },
    /// Look at the ledger's health now (sent when an fsync fails).
    Wake,
}

/// Tunables from the config.
pub(crate) struct Limits {
    pub segment_bytes: u64,
    pub max_batch: usize,
    pub recovery_interval: Duration,
    pub commit_window: Duration,
}

/// Everything the writer is built from.
pub(crate) struct Parts {
    pub dir: PathBuf,
    pub limits: Limits,
    pub stats: Arc<Stats>,
    pub key: LedgerKey,
    pub faults: Arc<Faults>,
    pub healthy: Arc<AtomicBool>,
    pub rx: mpsc::Receiver<Command>,
    /// Lets the sync threads wake the writer without keeping it running.
    pub wake: mpsc::WeakSender<Command>,
    pub tail: Tail,
    pub checkpoints: checkpoint::Log,
}

/// The segment being appended to.
struct Current {
    segment: SegmentFile,
    // Dropped after a failure: the page cache behind it can no longer be trusted.
    file: Option<File>,
}

pub(crate) struct Writer {
    parts: Parts,
    current: Option<Current>,
    /// Last record staged or written, durable or not.
    staged: Head,
    /// Bytes of the current segment written (durable or not).
    written: u64,
    buf: Vec<u8>,
    replies: Vec<(u64, Reply)>,
    syncers: Syncers,
    /// When the last batch was written, and whether it held two or more appends.
    last_batch: Option<(Instant, bool)>,
}

impl Writer {
    /// Starts the sync threads; `relay` answers appenders once their batch is durable.
    pub(crate) fn new(parts: Parts, relay: Relay) -> io::Result<Self> {
        let head = parts.tail.head;
        let len = parts.tail.segment.as_ref().map_or(0, |(_, len)| *len);
        let syncers = Syncers::start(
            parts.healthy.clone(),
            parts.faults.clone(),
            parts.wake.clone(),
            parts.stats.clone(),
            relay,
            head,
            len,
        )?;
        let current = parts.tail.segment.clone().map(|(segment, _)| Current {
            segment,
            file: None,
        });
        if let Some(current) = &current {
            syncers.open_segment(&current.segment.path, len)?;
        }
        Ok(Writer {
            parts,
            current,
            staged: head,
            written: len,
            buf: Vec::with_capacity(1 << 20),
            replies: Vec::new(),
            syncers,
            last_batch: None,
        })
    }

    /// The writer thread's loop; returns after shutdown or when every handle is gone.
    pub(crate) fn run(mut self) {
        loop {
            if !self.parts.healthy.load(Ordering::Acquire) {
                if self.recover_until_healthy() {
                    continue;
                }
                return;
            }
            let Some(first) = self.parts.rx.blocking_recv() else {
                let _ = self.checkpoint();
                return;
            };
            self.pace();
            let control = self.gather(first);
            self.commit();
            match control {
                None => {}
                Some(Command::Checkpoint { reply }) => {
                    let _ = reply.send(self.checkpoint());
                }
                Some(Command::Shutdown { reply }) => {
                    self.drain_and_finish();
                    let _ = reply.send(());
                    return;
                }
                Some(Command::Append { .. } | Command::Wake) => {}
            }
        }
    }

    /// Under concurrent load, lets the commit window pass since the last batch.
    fn pace(&self) {
        let window = self.parts.limits.commit_window;
        if let Some((at, true)) = self.last_batch {
            let wait = (at + window).saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
        }
    }

    /// Stages `first` and whatever else is already queued, up to the batch limit.
    /// Returns a control command that ends the batch early.
    fn gather(&mut self, first: Command) -> Option<Command> {
        let mut next = Some(first);
        while let Some(cmd) = next {
            match cmd {
                Command::Append { entry_json, reply } => self.stage(&entry_json, reply),
                control => return Some(control),
            }
            if self.replies.len() >= self.parts.limits.max_batch {
                break;
            }
            next = self.parts.rx.try_recv().ok();
        }
        None
    }

    fn stage(&mut self, entry_json: &[u8], reply: Reply) {
        let seq = self.staged.seq + 1;
        let hash = record::encode(&mut self.buf, seq, &self.staged.hash, entry_json);
        self.staged = Head { seq, hash };
        self.replies.push((seq, reply));
    }

    /// Writes the staged batch and hands it to the sync threads, which answer
    /// its appenders once it is durable.
    fn commit(&mut self) {
        if self.replies.is_empty() {
            return;
        }
        let replies = std::mem::take(&mut self.replies);
        self.last_batch = Some((Instant::now(), replies.len() >= 2));
        // After a failed fsync nothing more is written until recovery.
        let result = if self.parts.healthy.load(Ordering::Acquire) {
            self.write_batch()
        } else {
            Err(io::Error::other("ledger is failed"))
        };
        self.buf.clear();
        let refused = match result {
            Ok(()) => {
                self.parts.stats.batch(replies.len());
                self.syncers.submit(self.written, self.staged, replies)
            }
            Err(e) => {
                if self.parts.healthy.load(Ordering::Acquire) {
                    self.fail(&e);
                }
                Err(replies)
            }
        };
        if let Err(replies) = refused {
            for (_, reply) in replies {
                reply.send(Err(LedgerError::Unavailable));
            }
        }
    }

    fn write_batch(&mut self) -> io::Result<()> {
        let faults = self.parts.faults.clone();
        let buf = std::mem::take(&mut self.buf);
        let result = self
            .segment_for_batch()
            .and_then(|current| write_out(current, &buf, &faults));
        self.buf = buf;
        if result.is_ok() {
            self.written += self.buf.len() as u64;
        }
        result
    }

    /// The open segment for the next batch, rotating to a new file when full.
    fn segment_for_batch(&mut self) -> io::Result<&mut Current> {
        let full = match &self.current {
            None => true,
            Some(_) => self.written > 0 && self.written >= self.parts.limits.segment_bytes,
        };
        if full {
            // The old segment's batches must be durable before the new one
            // starts, so its first seq follows the durable head.
            let (head, _) = self.syncers.drain();
            if !self.parts.healthy.load(Ordering::Acquire) {
                return Err(io::Error::other(
                    "an fsync failed before the segment rotated",
                ));
            }
            let segment = SegmentFile::new(&self.parts.dir, head.seq + 1);
            let file = create_segment(&segment)?;
            segment::sync_dir(&self.parts.dir)?;
            self.syncers.open_segment(&segment.path, 0)?;
            self.written = 0;
            self.current = Some(Current {
                segment,
                file: Some(file),
            });
        }
        let current = self
            .current
            .as_mut()
            .ok_or_else(|| io::Error::other("no segment"))?;
        if current.file.is_none() {
            current.file = Some(open_append(&current.segment)?);
        }
        Ok(current)
    }

    fn fail(&mut self, e: &io::Error) {
        tracing::error!(error = %e, "ledger write failed; disclosures stop until it recovers");
        self.syncers.fail();
        if let Some(current) = self.current.as_mut() {
            current.file = None;
        }
    }

    fn checkpoint(&mut self) -> Result<(), LedgerError> {
        if !self.parts.healthy.load(Ordering::Acquire) {
            return Err(LedgerError::Unavailable);
        }
        let (head, _) = self.syncers.drain();
        if !self.parts.healthy.load(Ordering::Acquire) {
            return Err(LedgerError::Unavailable);
        }
        let p = &mut self.parts;
        let result = p.checkpoints.write(&p.key, head, false, &p.faults);
        result.map_err(|e| {
            self.fail(&e);
            LedgerError::Unavailable
        })
    }

    /// Shutdown: no new commands, write everything queued, checkpoint.
    fn drain_and_finish(&mut self) {
        self.parts.rx.close();
        let mut waiting = Vec::new();
        while let Ok(cmd) = self.parts.rx.try_recv() {
            match cmd {
                Command::Append { entry_json, reply } => {
                    self.stage(&entry_json, reply);
                    if self.replies.len() >= self.parts.limits.max_batch {
                        self.commit();
                    }
                }
                other => waiting.push(other),
            }
        }
        self.commit();
        let done = self.checkpoint();
        if let Err(e) = &done {
            tracing::error!(error = %e, "final ledger checkpoint failed");
        }
        for cmd in waiting {
            match cmd {
                Command::Checkpoint { reply } => {
                    let _ =
                        reply.send(done.as_ref().map_err(|_| LedgerError::Unavailable).copied());
                }
                Command::Shutdown { reply } => {
                    let _ = reply.send(());
                }
                Command::Append { .. } | Command::Wake => {}
            }
        }
    }
}

fn write_out(current: &mut Current, buf: &[u8], faults: &Faults) -> io::Result<()> {
    let file = current
        .file
        .as_mut()
        .ok_or_else(|| io::Error::other("segment is not open"))?;
    if faults.writes_fail() {
        file.write_all(&buf[..buf.len() / 2])?;
        return Err(io::Error::other("injected write failure"));
    }
    file.write_all(buf)
}

fn create_segment(segment: &SegmentFile) -> io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&segment.path)?;
    // A leftover empty file from a failed attempt is fine; records are not.
    if file.metadata()?.len() != 0 {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("segment {} already holds records", segment.name()),
        ));
    }
    Ok(file)
}

fn open_append(segment: &SegmentFile) -> io::Result<File> {
    std::fs::OpenOptions::new().append(true).open(&segment.path)
}
