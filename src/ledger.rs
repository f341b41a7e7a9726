//! The disclosure ledger: an append-only, hash-chained, fsync'd record of every
//! response that revealed a sensitive value in the clear, and of the denials that
//! matter.
//!
//! # On disk
//!
//! A ledger directory holds:
//!
//! - `seg-<first seq, 20 digits>.jsonl`: segments, one record per line (see
//!   [`record`]). Each record carries the SHA-256 of the previous one, across
//!   segment boundaries too, so removing, inserting or reordering anything breaks
//!   the chain.
//! - `checkpoints.jsonl`: HMAC-keyed statements "the chain head was seq N with hash
//!   H", so a rewritten chain or a truncated tail is caught (see `checkpoint.rs`).
//! - `manifest.json`: where the ledger key lives and its id, never the key itself
//!   (see `manifest.rs`).
//! - `quarantine/`: torn tails cut off after a crash, kept for inspection.
//!
//! # Durability
//!
//! [`Ledger::append`] serialises the entry on the caller's thread and hands it to
//! one writer thread that chains and writes every record queued so far as a
//! single batch (group commit). Two sync threads keep fsyncs in flight, so the
//! next batch is written while the previous one syncs; `append` returns only
//! after an fsync covering its record. A failed write or fsync marks the ledger
//! unhealthy: every append fails fast with [`LedgerError::Unavailable`] until a
//! background recovery has truncated the unacknowledged bytes, fsync'd, and
//! written a checkpoint. The writer and sync threads run as `SCHED_BATCH`
//! (`sched.rs`), so their wake-ups do not preempt request workers.

mod checkpoint;
mod config;
mod entry;
mod faults;
mod key;
mod lines;
mod manifest;
pub mod read;
pub mod record;
mod regular;
mod relay;
mod scan;
mod sched;
mod segment;
mod stats;
mod sync;
mod tail;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

pub use checkpoint::{Checkpoint, CHECKPOINT_FILE};
pub use config::LedgerConfig;
pub use entry::{Entry, EntryKind, FieldDisclosure};
pub use faults::Faults;
pub use key::{
    generate_key_file, normalize, Fingerprint, KeyError, LedgerKey, MalformedFingerprint,
};
pub use manifest::{owned_by, Manifest, MANIFEST_FILE};
pub use read::ReadError;
pub use scan::{walk as scan_segment, Break, Head, Problem, Walk};
pub use segment::{list_segments, segment_name, SegmentFile, QUARANTINE_DIR};
pub use stats::LedgerStats;

use writer::{Command, Writer};

/// Response header that carries the ledger record id (its seq) of a disclosure.
pub const RECORD_ID_HEADER: &str = "keyhole-ledger-record";

/// Why the ledger could not open, append or checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A write or fsync failed and recovery has not succeeded yet: nothing may be
    /// disclosed (maps to 503).
    #[error("ledger unavailable: a write or fsync failed and recovery has not succeeded yet")]
    Unavailable,
    /// The ledger was shut down (maps to 503 too).
    #[error("ledger is shut down")]
    Closed,
    /// The ledger key could not be loaded.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The directory already belongs to a different key, so fingerprints and
    /// checkpoints would not line up.
    #[error(
        "ledger {dir} was created with key id {expected}, but the configured key has id {found}"
    )]
    KeyMismatch {
        /// The ledger directory.
        dir: PathBuf,
        /// Key id recorded in the manifest.
        expected: String,
        /// Key id of the configured key file.
        found: String,
    },
    /// The chain on disk is damaged somewhere other than a torn final record;
    /// appending to it would hide the damage.
    #[error("ledger segment {segment} is damaged at line {}: {}; run `keyhole audit verify`", .at.line, .at.problem)]
    Corrupt {
        /// The damaged segment file.
        segment: PathBuf,
        /// Where and how.
        at: Break,
    },
    /// The chain ends below a checkpoint: records were removed from the tail.
    #[error("ledger ends at seq {last} but a checkpoint covers seq {checkpoint}; run `keyhole audit verify`")]
    Truncated {
        /// Last seq on disk.
        last: u64,
        /// Highest checkpointed seq.
        checkpoint: u64,
    },
    /// A file operation failed while opening.
    #[error("ledger {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl LedgerError {
    /// True for the errors that mean "cannot log right now, so do not disclose".
    pub fn is_unavailable(&self) -> bool {
        matches!(self, LedgerError::Unavailable | LedgerError::Closed)
    }

    pub(crate) fn io(op: &'static str, path: &Path, source: std::io::Error) -> Self {
        LedgerError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Handle to an open ledger; cheap to clone, all clones share one writer.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<Command>,
    /// The runtime whose appenders the relay answers; others are answered
    /// by the sync thread directly.
    relay_runtime: Option<tokio::runtime::Id>,
    stats: Arc<stats::Stats>,
    key: LedgerKey,
    healthy: Arc<AtomicBool>,
    dir: PathBuf,
}

impl Ledger {
    /// Opens (or creates) the ledger: loads the key, checks the manifest,
    /// quarantines a torn tail left by a crash, and starts the writer.
    pub async fn open(cfg: &LedgerConfig) -> Result<Ledger, LedgerError> {
        Self::open_with_faults(cfg, Arc::new(Faults::default())).await
    }

    /// Test hook: like [`Ledger::open`], but the writer consults `faults` before
    /// every write and fsync, so tests can make the disk fail and heal on demand.
    pub async fn open_with_faults(
        cfg: &LedgerConfig,
        faults: Arc<Faults>,
    ) -> Result<Ledger, LedgerError> {
        let cfg = cfg.clone();
        let relay = relay::Relay::start();
        let relay_runtime = relay.runtime();
        let task = tokio::task::spawn_blocking(move || prepare(&cfg, faults, relay));
        let (writer, tx, key, healthy, dir, interval, stats) = task
            .await
            .map_err(|e| LedgerError::io("open", Path::new("."), std::io::Error::other(e)))??;
        std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || {
                sched::run_as_batch();
                writer.run()
            })
            .map_err(|e| LedgerError::io("start writer for", &dir, e))?;
        spawn_checkpoint_ticker(tx.downgrade(), interval);
        let inner = Inner {
            tx,
            relay_runtime,
            stats,
            key,
            healthy,
            dir,
        };
        Ok(Ledger {
            inner: Arc::new(inner),
        })
    }

    /// Batches, fsyncs and their time since the ledger was opened.
    pub fn stats(&self) -> LedgerStats {
        self.inner.stats.snapshot()
    }

    /// Hex HMAC-SHA256 of [`normalize`]d `value` under the ledger key.
    pub fn fingerprint(&self, value: &str) -> String {
        self.inner.key.fingerprint(value)
    }

    /// The fingerprint of `value` as bytes (see [`LedgerKey::fingerprint_of`]).
    pub fn fingerprint_of(&self, value: &str) -> Fingerprint {
        self.inner.key.fingerprint_of(value)
    }

    /// The ledger key's public id (as recorded in the manifest).
    pub fn key_id(&self) -> &str {
        self.inner.key.id()
    }

    /// The ledger directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Appends `entry` and returns its seq once the record is fsync'd.
    pub async fn append(&self, entry: Entry) -> Result<u64, LedgerError> {
        if !self.is_healthy() {
            return Err(LedgerError::Unavailable);
        }
        // Serialising here spreads the work over the runtime's threads; the
        // writer only frames, hashes and writes.
        let entry_json = entry.to_json();
        let (reply, answer) = oneshot::channel();
        let reply = relay::Reply::new(reply, self.inner.relay_runtime);
        let cmd = Command::Append { entry_json, reply };
        self.inner
            .tx
            .send(cmd)
            .await
            .map_err(|_| LedgerError::Closed)?;
        answer.await.map_err(|_| LedgerError::Closed)?
    }

    /// False from a write or fsync failure until recovery has succeeded.
    pub fn is_healthy(&self) -> bool {
        self.inner.healthy.load(Ordering::Acquire)
    }

    /// Writes an HMAC-keyed checkpoint of the durable chain head now.
    pub async fn checkpoint(&self) -> Result<(), LedgerError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .tx
            .send(Command::Checkpoint { reply })
            .await
            .map_err(|_| LedgerError::Closed)?;
        answer.await.map_err(|_| LedgerError::Closed)?
    }

    /// Writes what is queued, fsyncs, checkpoints and stops the writer. Later
    /// appends fail with [`LedgerError::Closed`]. Calling it twice is harmless.
    pub async fn shutdown(&self) {
        let (reply, answer) = oneshot::channel();
        if self
            .inner
            .tx
            .send(Command::Shutdown { reply })
            .await
            .is_ok()
        {
            let _ = answer.await;
        }
    }
}

type Prepared = (
    Writer,
    mpsc::Sender<Command>,
    LedgerKey,
    Arc<AtomicBool>,
    PathBuf,
    Duration,
    Arc<stats::Stats>,
);

/// The blocking part of opening: key, directory, manifest, tail recovery.
fn prepare(
    cfg: &LedgerConfig,
    faults: Arc<Faults>,
    relay: relay::Relay,
) -> Result<Prepared, LedgerError> {
    let key = LedgerKey::load(&cfg.key_file)?;
    segment::create_dir(&cfg.dir).map_err(|e| LedgerError::io("create", &cfg.dir, e))?;
    manifest::claim(&cfg.dir, &cfg.key_file, &key)?;
    let tail = tail::recover(&cfg.dir)?;
    let mut checkpoints = checkpoint::Log::open(&cfg.dir, tail.head)?;
    // Checkpointing at every open means a used ledger always has a checkpoint
    // log, so `verify` can treat a missing one as tampering.
    checkpoints
        .write(&key, tail.head, false, &faults)
        .map_err(|e| LedgerError::io("checkpoint", &cfg.dir.join(CHECKPOINT_FILE), e))?;
    let healthy = Arc::new(AtomicBool::new(true));
    let (tx, rx) = mpsc::channel(cfg.queue_depth);
    let wake = tx.downgrade();
    let limits = writer::Limits {
        segment_bytes: cfg.segment_bytes,
        max_batch: cfg.max_batch,
        recovery_interval: Duration::from_millis(cfg.recovery_interval_ms),
        commit_window: Duration::from_micros(cfg.commit_window_us),
    };
    let stats = Arc::new(stats::Stats::default());
    let parts = writer::Parts {
        dir: cfg.dir.clone(),
        limits,
        stats: stats.clone(),
        key: key.clone(),
        faults,
        healthy: healthy.clone(),
        rx,
        wake,
        tail,
        checkpoints,
    };
    let interval = Duration::from_secs(cfg.checkpoint_interval_secs);
    let writer = Writer::new(parts, relay)
        .map_err(|e| LedgerError::io("start sync threads for", &cfg.dir, e))?;
    Ok((writer, tx, key, healthy, cfg.dir.clone(), interval, stats))
}

/// Asks the writer for a checkpoint every `interval` for as long as any `Ledger`
/// handle is alive (the weak sender does not keep the writer running).
fn spawn_checkpoint_ticker(weak: mpsc::WeakSender<Command>, interval: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(tx) = weak.upgrade() else { break };
            let (reply, answer) = oneshot::channel();
            if tx.send(Command::Checkpoint { reply }).await.is_err() {
                break;
            }
            drop(tx);
            if let Ok(Err(e)) = answer.await {
                tracing::warn!(error = %e, "periodic ledger checkpoint failed");
            }
        }
    });
}
