//! Log lines are gathered in memory and written to stderr in blocks.
//!
//! A `write(2)` per request line costs more than formatting the line, and the
//! gateway logs one line per request. Lines are appended to a shared buffer
//! that is written out when it passes [`FLUSH_AT`] bytes, by a thread every
//! [`FLUSH_EVERY`] so a quiet gateway's lines still show up promptly, and by
//! [`flush`] at shutdown. Lines are never split or reordered. A crash can lose
//! at most the last interval's operational lines; disclosures are in the
//! ledger, which is durable before a response leaves.

use std::io::{self, Write};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Buffered bytes that trigger a write.
const FLUSH_AT: usize = 32 * 1024;
/// Longest a line waits in the buffer.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

static BUFFER: OnceLock<LogBuffer> = OnceLock::new();

/// The process-wide buffer in front of stderr.
pub struct LogBuffer {
    /// Lines not yet written.
    pending: Mutex<Vec<u8>>,
}

impl LogBuffer {
    /// The shared buffer; the first call starts the flushing thread.
    pub fn global() -> &'static LogBuffer {
        BUFFER.get_or_init(|| {
            let _ = std::thread::Builder::new()
                .name("log-flush".into())
                .spawn(|| loop {
                    std::thread::sleep(FLUSH_EVERY);
                    flush();
                });
            LogBuffer {
                pending: Mutex::new(Vec::with_capacity(FLUSH_AT * 2)),
            }
        })
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds whole lines.
    pub(super) fn append(&self, line: &[u8]) {
        let mut pending = self.lock();
        pending.extend_from_slice(line);
        if pending.len() >= FLUSH_AT {
            write_out(&mut pending);
        }
    }
}

/// Writes out whatever is buffered (at shutdown, and periodically).
pub fn flush() {
    if let Some(buffer) = BUFFER.get() {
        write_out(&mut buffer.lock());
    }
}

/// Written while the lock is held, so blocks reach stderr in order.
fn write_out(pending: &mut Vec<u8>) {
    if !pending.is_empty() {
        // Nowhere left to report a failing stderr; the lines are dropped.
        let _ = io::stderr().lock().write_all(pending);
        pending.clear();
    }
}

/// One event's writer: the formatter writes each line in one call.
pub struct LineWriter(&'static LogBuffer);

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for &'static LogBuffer {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_accumulate_until_the_threshold_then_leave_whole() {
        let buffer = LogBuffer {
            pending: Mutex::new(Vec::new()),
        };
        buffer.append(b"one line\n");
        assert_eq!(&*buffer.lock(), b"one line\n");
        let long = vec![b'x'; FLUSH_AT];
        buffer.append(&long);
        assert!(buffer.lock().is_empty(), "a full buffer is written out");
    }
}
