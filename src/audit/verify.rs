//! `audit verify`: re-checks every record, the chain across segments, and the
//! keyed checkpoints, and names the first thing that is wrong.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::{load_key, AuditError};
use crate::ledger::read::RecordView;
use crate::ledger::record::{hash_hex, parse_hash, Hash};
use crate::ledger::{
    list_segments, Break, Checkpoint, Head, LedgerKey, Problem, SegmentFile, CHECKPOINT_FILE,
    QUARANTINE_DIR,
};

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    /// Segment files.
    pub segments: usize,
    /// Records that checked out before the first problem (all of them if none).
    pub records: u64,
    /// Seq of the last good record.
    pub last_seq: u64,
    /// Hex hash of the last good record.
    pub head: String,
    /// Checkpoints in the checkpoint log.
    pub checkpoints: usize,
    /// Highest checkpointed seq.
    pub last_checkpoint: Option<u64>,
    /// Whether checkpoint MACs were checked (false without the key).
    pub checkpoints_authenticated: bool,
    /// Bytes of an unfinished final record, left by a crash and cut off at the
    /// next start. Never acknowledged, so not an error.
    pub unfinished_tail_bytes: u64,
    /// Torn tails kept in `quarantine/`.
    pub quarantined: usize,
    /// The first problem, if any.
    pub first_bad: Option<BadRecord>,
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.first_bad.is_none()
    }
}

/// The first record (or checkpoint) that fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRecord {
    /// Seq of the bad record (or of the first missing one).
    pub seq: Option<u64>,
    /// File it is in.
    pub file: String,
    /// 1-based line in that file.
    pub line: u64,
    /// What is wrong.
    pub problem: String,
}

/// Verifies `dir`, authenticating checkpoints with the manifest's key when it
/// can be loaded.
pub fn verify(dir: &Path) -> Result<VerifyReport, AuditError> {
    let key = load_key(dir, None).ok();
    verify_with_key(dir, key.as_ref())
}

/// Verifies `dir`; `key` authenticates checkpoints (skipped when `None`).
pub fn verify_with_key(dir: &Path, key: Option<&LedgerKey>) -> Result<VerifyReport, AuditError> {
    if !dir.is_dir() {
        return Err(AuditError::NoLedger(dir.to_path_buf()));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AuditError::Io { path, source }
    };
    let segments = list_segments(dir).map_err(io(dir))?;
    let all = Checkpoint::read_all(dir).map_err(io(&dir.join(CHECKPOINT_FILE)))?;
    let mut report = VerifyReport {
        segments: segments.len(),
        records: 0,
        last_seq: 0,
        head: hash_hex(&Head::EMPTY.hash),
        checkpoints: all.len(),
        last_checkpoint: None,
        checkpoints_authenticated: key.is_some(),
        unfinished_tail_bytes: 0,
        quarantined: count_quarantined(dir),
        first_bad: None,
    };
    let checkpoints = match check_checkpoints(&all, key) {
        Ok(map) => map,
        Err(bad) => {
            report.first_bad = Some(bad);
            return Ok(report);
        }
    };
    report.last_checkpoint = checkpoints.keys().next_back().copied();
    let head = walk_all(&segments, &checkpoints, &mut report, io)?;
    report.last_seq = head.seq;
    report.head = hash_hex(&head.hash);
    if report.first_bad.is_none() {
        report.first_bad = truncation(&checkpoints, head, &segments);
    }
    if report.first_bad.is_none() && checkpoints.is_empty() && head.seq > 0 {
        report.first_bad = Some(BadRecord {
            seq: None,
            file: CHECKPOINT_FILE.to_string(),
            line: 0,
            problem: "the checkpoint log is missing or empty, though every open writes one; \
                      a rewritten chain cannot be ruled out"
                .to_string(),
        });
    }
    Ok(report)
}

/// Walks every segment in order, chaining each to the one before. Stops at the
/// first problem, recording it in `report`; returns the last good head.
fn walk_all<F, E>(
    segments: &[SegmentFile],
    checkpoints: &BTreeMap<u64, Hash>,
    report: &mut VerifyReport,
    io: F,
) -> Result<Head, AuditError>
where
    F: Fn(&Path) -> E,
    E: FnOnce(std::io::Error) -> AuditError,
{
    let mut head = Head::EMPTY;
    for (i, segment) in segments.iter().enumerate() {
        let bytes = std::fs::read(&segment.path).map_err(io(&segment.path))?;
        let walk =
            crate::ledger::scan_segment(&bytes, segment.first_seq, Some(head), |line, link| {
                check_record(line, link.seq, &link.hash, checkpoints)
            });
        report.records += walk.records;
        head = walk.head;
        let last = i + 1 == segments.len();
        let stop = match walk.stop {
            Some(stop) if stop.problem == Problem::Torn && last => {
                report.unfinished_tail_bytes = bytes.len() as u64 - walk.valid_len;
                None
            }
            Some(stop) => Some(stop),
            None if walk.records == 0 && segment.first_seq != head.seq + 1 => Some(Break {
                offset: 0,
                line: 1,
                seq: Some(head.seq + 1),
                problem: Problem::SeqGap {
                    expected: head.seq + 1,
                    found: segment.first_seq,
                },
            }),
            None => None,
        };
        if let Some(stop) = stop {
            report.first_bad = Some(BadRecord {
                seq: stop.seq,
                file: segment.name(),
                line: stop.line,
                problem: stop.problem.to_string(),
            });
            break;
        }
    }
    Ok(head)
}

fn check_record(
    line: &[u8],
    seq: u64,
    hash: &Hash,
    checkpoints: &BTreeMap<u64, Hash>,
) -> Result<(), Problem> {
    if serde_json::from_slice::<RecordView<'_>>(line).is_err() {
        return Err(Problem::BadEntry);
    }
    match checkpoints.get(&seq) {
        Some(expected) if expected != hash => Err(Problem::CheckpointMismatch),
        _ => Ok(()),
    }
}

/// Checkpoint seq -> head hash, or the first checkpoint line that is malformed,
/// forged, or contradicts another.
fn check_checkpoints(
    all: &[Result<Checkpoint, u64>],
    key: Option<&LedgerKey>,
) -> Result<BTreeMap<u64, Hash>, BadRecord> {
    let bad = |line: u64, seq: Option<u64>, problem: &str| BadRecord {
        seq,
        file: CHECKPOINT_FILE.to_string(),
        line,
        problem: problem.to_string(),
    };
    let mut map = BTreeMap::new();
    for (i, item) in all.iter().enumerate() {
        let line = i as u64 + 1;
        let cp = item
            .as_ref()
            .map_err(|_| bad(line, None, "not a well-formed checkpoint"))?;
        if key.is_some_and(|k| !cp.is_authentic(k)) {
            return Err(bad(
                line,
                Some(cp.seq),
                "checkpoint MAC does not verify under the ledger key",
            ));
        }
        let hash = parse_hash(&cp.head)
            .ok_or_else(|| bad(line, Some(cp.seq), "checkpoint head is not a hash"))?;
        if *map.entry(cp.seq).or_insert(hash) != hash {
            return Err(bad(
                line,
                Some(cp.seq),
                "contradicts an earlier checkpoint of the same seq",
            ));
        }
    }
    Ok(map)
}

/// A checkpoint above the last record means records were cut from the tail
/// (or a final segment is missing).
fn truncation(
    checkpoints: &BTreeMap<u64, Hash>,
    head: Head,
    segments: &[SegmentFile],
) -> Option<BadRecord> {
    let (&top, _) = checkpoints.iter().next_back()?;
    if top <= head.seq {
        return None;
    }
    Some(BadRecord {
        seq: Some(head.seq + 1),
        file: segments.last().map_or_else(|| CHECKPOINT_FILE.to_string(), SegmentFile::name),
        line: 0,
        problem: format!(
            "ledger ends at seq {} but a checkpoint covers seq {top}: records {}..={top} were truncated or a segment is missing",
            head.seq,
            head.seq + 1
        ),
    })
}

fn count_quarantined(dir: &Path) -> usize {
    std::fs::read_dir(dir.join(QUARANTINE_DIR)).map_or(0, |entries| entries.count())
}
