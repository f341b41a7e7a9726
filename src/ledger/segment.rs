//! Segment files: naming, listing, and the directory fsyncs that make a new file
//! survive a crash.

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

const PREFIX: &str = "seg-";
const SUFFIX: &str = ".jsonl";

/// Subdirectory for torn tails cut off after a crash.
pub const QUARANTINE_DIR: &str = "quarantine";

/// A segment file and the seq its name says it starts at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    /// Full path of the file.
    pub path: PathBuf,
    /// Seq of its first record, from the file name.
    pub first_seq: u64,
}

impl SegmentFile {
    /// The segment for records starting at `first_seq` in `dir`.
    pub fn new(dir: &Path, first_seq: u64) -> Self {
        SegmentFile {
            path: dir.join(segment_name(first_seq)),
            first_seq,
        }
    }

    /// The file name, for messages.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// File name of the segment whose first record is `first_seq`; zero-padded so
/// names sort in seq order.
pub fn segment_name(first_seq: u64) -> String {
    format!("{PREFIX}{first_seq:020}{SUFFIX}")
}

fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Segments in `dir`, in seq order. Other files are ignored.
pub fn list_segments(dir: &Path) -> io::Result<Vec<SegmentFile>> {
    list_segments_and_strays(dir).map(|(segments, _)| segments)
}

/// Segments in `dir`, in seq order, and the entries named like segments that
/// are not regular files (a directory or a symbolic link in a segment's
/// place), which no reader opens.
pub fn list_segments_and_strays(dir: &Path) -> io::Result<(Vec<SegmentFile>, Vec<SegmentFile>)> {
    let mut segments = Vec::new();
    let mut strays = Vec::new();
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let name = item.file_name();
        let Some(first_seq) = name.to_str().and_then(parse_name) else {
            continue;
        };
        let found = SegmentFile {
            path: item.path(),
            first_seq,
        };
        if item.file_type()?.is_file() {
            segments.push(found);
        } else {
            strays.push(found);
        }
    }
    segments.sort_by_key(|s| s.first_seq);
    strays.sort_by_key(|s| s.first_seq);
    Ok((segments, strays))
}

/// Creates the ledger directory (owner-only) if needed.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Fsyncs a directory so entries created or renamed in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort() {
        assert_eq!(segment_name(1), "seg-00000000000000000001.jsonl");
        assert_eq!(parse_name(&segment_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_name("seg-1.jsonl"), None);
        assert_eq!(parse_name("checkpoints.jsonl"), None);
        let dir = tempfile::tempdir().unwrap();
        for seq in [1001, 1, 20] {
            std::fs::write(dir.path().join(segment_name(seq)), b"").unwrap();
        }
        std::fs::write(dir.path().join("manifest.json"), b"{}").unwrap();
        let seqs: Vec<u64> = list_segments(dir.path())
            .unwrap()
            .iter()
            .map(|s| s.first_seq)
            .collect();
        assert_eq!(seqs, [1, 20, 1001]);
    }
}
