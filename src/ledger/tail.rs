//! Crash recovery at open: find the chain head, and cut off a torn final record.
//!
//! A crash can interrupt the writer mid-batch, leaving an unfinished last line.
//! Its appender never got an answer (answers follow the fsync), so no response
//! carries its seq: it is moved to `quarantine/` for inspection and the chain
//! continues from the last complete record. Anything worse than an unfinished
//! last line is damage, and the ledger refuses to open on top of it.

use std::io::Write;
use std::path::Path;

use super::scan::{self, Break, Head, Problem};
use super::segment::{self, list_segments, SegmentFile, QUARANTINE_DIR};
use super::LedgerError;

/// Where appending resumes.
#[derive(Debug)]
pub(crate) struct Tail {
    /// The last complete record.
    pub head: Head,
    /// The last segment and its length after recovery, if there is one.
    pub segment: Option<(SegmentFile, u64)>,
}

/// Finds the head and quarantines a torn tail.
pub(crate) fn recover(dir: &Path) -> Result<Tail, LedgerError> {
    let segments = list_segments(dir).map_err(|e| LedgerError::io("list", dir, e))?;
    let Some(last) = segments.last() else {
        return Ok(Tail {
            head: Head::EMPTY,
            segment: None,
        });
    };
    let bytes = std::fs::read(&last.path).map_err(|e| LedgerError::io("read", &last.path, e))?;
    let walk = scan::walk(&bytes, last.first_seq, None, |_, _| Ok(()));
    if let Some(stop) = walk.stop {
        if stop.problem != Problem::Torn {
            return Err(corrupt(last, stop));
        }
        quarantine(dir, last, &bytes[walk.valid_len as usize..])?;
        truncate(last, walk.valid_len)?;
    }
    let head = if walk.records > 0 {
        walk.head
    } else {
        head_before(&segments[..segments.len() - 1], last)?
    };
    Ok(Tail {
        head,
        segment: Some((last.clone(), walk.valid_len)),
    })
}

/// The head an empty final segment must continue from: the end of the one before.
fn head_before(earlier: &[SegmentFile], last: &SegmentFile) -> Result<Head, LedgerError> {
    let head = match earlier.last() {
        None => Head::EMPTY,
        Some(prev) => {
            let bytes =
                std::fs::read(&prev.path).map_err(|e| LedgerError::io("read", &prev.path, e))?;
            let walk = scan::walk(&bytes, prev.first_seq, None, |_, _| Ok(()));
            if let Some(stop) = walk.stop {
                return Err(corrupt(prev, stop));
            }
            walk.head
        }
    };
    if head.seq + 1 != last.first_seq {
        let gap = Problem::SeqGap {
            expected: head.seq + 1,
            found: last.first_seq,
        };
        let at = Break {
            offset: 0,
            line: 1,
            seq: None,
            problem: gap,
        };
        return Err(corrupt(last, at));
    }
    Ok(head)
}

fn corrupt(segment: &SegmentFile, at: Break) -> LedgerError {
    LedgerError::Corrupt {
        segment: segment.path.clone(),
        at,
    }
}

/// Saves the torn bytes under `quarantine/` before they are cut off.
fn quarantine(dir: &Path, segment: &SegmentFile, torn: &[u8]) -> Result<(), LedgerError> {
    let qdir = dir.join(QUARANTINE_DIR);
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.9fZ");
    let path = qdir.join(format!("{}.{stamp}.torn", segment.name()));
    let save = || -> std::io::Result<()> {
        segment::create_dir(&qdir)?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.write_all(torn)?;
        file.sync_all()?;
        segment::sync_dir(&qdir)?;
        segment::sync_dir(dir)
    };
    save().map_err(|e| LedgerError::io("quarantine into", &path, e))?;
    tracing::warn!(
        segment = %segment.name(),
        bytes = torn.len(),
        quarantined = %path.display(),
        "cut off an unfinished final record left by a crash"
    );
    Ok(())
}

fn truncate(segment: &SegmentFile, len: u64) -> Result<(), LedgerError> {
    let cut = || -> std::io::Result<()> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&segment.path)?;
        file.set_len(len)?;
        file.sync_all()
    };
    cut().map_err(|e| LedgerError::io("truncate", &segment.path, e))
}
