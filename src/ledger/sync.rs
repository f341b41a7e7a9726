//! The fsync half of group commit. The writer thread writes batches into the
//! page cache and hands them here; two sync threads keep fsyncs going, each
//! covering everything written when it started, and answer a batch's appenders
//! once an fsync that started after the batch was written has succeeded.
//!
//! Two fsyncs in flight is what lifts throughput: records that arrive while one
//! fsync runs are written at once and covered by the next one, which starts
//! without waiting, so an append waits about one fsync instead of two. Each
//! sync thread fsyncs through its own file handle: Linux reports a writeback
//! error once per open file, so with a shared handle one thread could consume
//! the error and the other report success for the same lost bytes.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::mpsc;

use super::faults::Faults;
use super::relay::{Durable, Relay, Reply};
use super::scan::Head;
use super::stats::Stats;
use super::writer::Command;
use super::LedgerError;

/// Sync threads, and so fsyncs that may be in flight at once.
const SYNC_THREADS: usize = 2;

/// A written batch waiting for an fsync.
struct Batch {
    /// Segment length once the batch is in.
    end: u64,
    /// Its last record.
    head: Head,
    /// Its appenders and their seqs.
    replies: Vec<(u64, Reply)>,
}

struct State {
    /// Bytes of the segment written so far.
    written: u64,
    /// Bytes covered by a successful fsync.
    durable: u64,
    /// The last record within `durable`.
    durable_head: Head,
    /// Bytes covered by the latest fsync started.
    requested: u64,
    in_flight: usize,
    batches: VecDeque<Batch>,
    /// Set by a failed write or fsync; cleared by recovery.
    failed: bool,
    /// One handle per sync thread; none while no segment is open.
    files: Vec<Arc<File>>,
    stop: bool,
    /// Sync threads waiting for a write (the only ones a write must wake).
    idle: usize,
    /// Callers of [`Syncers::drain`] waiting (the only ones a finished fsync must wake).
    draining: usize,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    healthy: Arc<AtomicBool>,
    faults: Arc<Faults>,
    /// Wakes the writer to start recovery after a failed fsync.
    wake: mpsc::WeakSender<Command>,
    stats: Arc<Stats>,
    /// Answers durable appenders inside their runtime.
    relay: Relay,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed
            .wait(guard)
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Handle to the sync threads; dropping it stops them.
pub(crate) struct Syncers {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Syncers {
    /// Starts the threads with `head` durable at `len` bytes of the current
    /// segment (no segment yet: call [`Syncers::open_segment`] before submitting).
    pub(crate) fn start(
        healthy: Arc<AtomicBool>,
        faults: Arc<Faults>,
        wake: mpsc::WeakSender<Command>,
        stats: Arc<Stats>,
        relay: Relay,
        head: Head,
        len: u64,
    ) -> io::Result<Syncers> {
        let state = State {
            written: len,
            durable: len,
            durable_head: head,
            requested: len,
            in_flight: 0,
            batches: VecDeque::new(),
            failed: false,
            files: Vec::new(),
            stop: false,
            idle: 0,
            draining: 0,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            changed: Condvar::new(),
            healthy,
            faults,
            wake,
            stats,
            relay,
        });
        let mut syncers = Syncers {
            shared,
            threads: Vec::new(),
        };
        for i in 0..SYNC_THREADS {
            let shared = syncers.shared.clone();
            let thread = std::thread::Builder::new()
                .name("ledger-sync".into())
                .spawn(move || {
                    super::sched::run_as_batch();
                    sync_loop(&shared, i)
                })?;
            syncers.threads.push(thread);
        }
        Ok(syncers)
    }

    /// Points the threads at `path`, whose first `len` bytes are durable. Only
    /// call when drained (see [`Syncers::drain`]).
    pub(crate) fn open_segment(&self, path: &Path, len: u64) -> io::Result<()> {
        let files = (0..SYNC_THREADS)
            .map(|_| File::open(path).map(Arc::new))
            .collect::<io::Result<Vec<_>>>()?;
        let mut state = self.shared.lock();
        state.files = files;
        state.written = len;
        state.durable = len;
        state.requested = len;
        Ok(())
    }

    /// Queues a batch the writer has written up to `end`; hands the replies
    /// back if the ledger has failed meanwhile.
    pub(crate) fn submit(
        &self,
        end: u64,
        head: Head,
        replies: Vec<(u64, Reply)>,
    ) -> Result<(), Vec<(u64, Reply)>> {
        let mut state = self.shared.lock();
        if state.failed {
            return Err(replies);
        }
        state.written = end;
        state.batches.push_back(Batch { end, head, replies });
        // Threads busy syncing look at `written` when done; waking
        // them per write would cost a context switch per append.
        let idle = state.idle > 0;
        drop(state);
        if idle {
            self.shared.changed.notify_all();
        }
        Ok(())
    }

    /// Waits until every submitted batch is durable and handed to be answered
    /// (the relay may still be completing the replies), and no fsync is running;
    /// returns the durable head and length.
    pub(crate) fn drain(&self) -> (Head, u64) {
        let mut state = self.shared.lock();
        state.draining += 1;
        while !state.batches.is_empty() || state.in_flight > 0 {
            state = self.shared.wait(state);
        }
        state.draining -= 1;
        (state.durable_head, state.durable)
    }

    /// A write failed: refuse the queued batches and anything submitted until
    /// [`Syncers::recovered`].
    pub(crate) fn fail(&self) {
        fail(&self.shared, &mut self.shared.lock());
        self.shared.changed.notify_all();
    }

    /// Recovery cut the segment back to its durable length and reopened it.
    pub(crate) fn recovered(&self, path: Option<&Path>) -> io::Result<()> {
        let len = self.shared.lock().durable;
        if let Some(path) = path {
            self.open_segment(path, len)?;
        }
        self.shared.lock().failed = false;
        Ok(())
    }
}

impl Drop for Syncers {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Marks the ledger failed and answers every queued appender with
/// [`LedgerError::Unavailable`]; health goes first so a refused appender sees it.
fn fail(shared: &Shared, state: &mut State) {
    state.failed = true;
    shared.healthy.store(false, Ordering::Release);
    for batch in state.batches.drain(..) {
        for (_, reply) in batch.replies {
            reply.send(Err(LedgerError::Unavailable));
        }
    }
}

/// One sync thread: fsync whatever was written since the last fsync started.
fn sync_loop(shared: &Shared, index: usize) {
    let mut state = shared.lock();
    loop {
        if state.stop {
            return;
        }
        let file = state.files.get(index).cloned();
        let Some(file) = file.filter(|_| !state.failed && state.written > state.requested) else {
            state.idle += 1;
            state = shared.wait(state);
            state.idle -= 1;
            continue;
        };
        let target = state.written;
        state.requested = target;
        state.in_flight += 1;

        drop(state);
        let started = Instant::now();
        let result = shared.faults.check_sync().and_then(|()| file.sync_data());
        shared.stats.fsync(started.elapsed(), result.is_ok());
        state = shared.lock();
        state.in_flight -= 1;
        let failed = result.is_err();
        match result {
            Ok(()) if !state.failed => {
                let durable = acknowledge(&mut state, target);
                if !durable.is_empty() {
                    drop(state);
                    shared.relay.deliver(durable);
                    state = shared.lock();
                }
            }
            Ok(()) => {}
            Err(e) => {
                if !state.failed {
                    tracing::error!(error = %e, "ledger fsync failed; disclosures stop until it recovers");
                    fail(shared, &mut state);
                    wake_writer(&shared.wake);
                }
            }
        }
        // The other sync thread needs no wake-up: the next write wakes it if
        // it is idle. Waking it after every fsync cost a context switch each.
        if failed || state.draining > 0 {
            shared.changed.notify_all();
        }
    }
}

/// Everything written before an fsync that succeeded is durable: returns
/// its appenders, to be answered.
fn acknowledge(state: &mut State, covered: u64) -> Durable {
    state.durable = state.durable.max(covered);
    let mut durable = Vec::new();
    while let Some(batch) = state.batches.front() {
        if batch.end > state.durable {
            break;
        }
        if let Some(batch) = state.batches.pop_front() {
            state.durable_head = batch.head;
            if durable.is_empty() {
                durable = batch.replies;
            } else {
                durable.extend(batch.replies);
            }
        }
    }
    durable
}

/// The writer may be idle waiting for commands; recovery must not wait for one.
fn wake_writer(wake: &mpsc::WeakSender<Command>) {
    if let Some(tx) = wake.upgrade() {
        let _ = tx.try_send(Command::Wake);
    }
}
