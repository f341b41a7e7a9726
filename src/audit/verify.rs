//! `audit verify`: re-checks every record, the chain across segments, the
//! keyed checkpoints and any anchors given, and names the first thing that is
//! wrong.
//!
//! The checkpoints are what make the chain tamper-evident: SHA-256 is unkeyed,
//! so whoever can write the directory can rewrite every record and recompute
//! every hash, but cannot MAC a checkpoint without the ledger key. Records after
//! the newest checkpoint are vouched for by nothing inside the directory, so
//! cutting them off (with any checkpoints after the cut) leaves a consistent
//! ledger; an anchor (a checkpoint the gateway logged elsewhere, or a
//! disclosure seq an agent's response carried) closes that gap.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use serde::Serialize;

use super::{load_key, AuditError};
use crate::ledger::read::RecordView;
use crate::ledger::record::{hash_hex, parse_hash, Hash};
use crate::ledger::{
    list_segments, Break, Checkpoint, Head, LedgerKey, Problem, SegmentFile, CHECKPOINT_FILE,
    MANIFEST_FILE, QUARANTINE_DIR,
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
    /// When the newest checkpoint was written (RFC 3339). A running gateway
    /// writes one every `checkpoint_interval_secs`, so one much older than
    /// the gateway's last activity means its later records and checkpoints
    /// were cut away together, which the chain alone cannot show.
    pub newest_checkpoint_time: Option<String>,
    /// Whether checkpoint MACs were checked (false without the key).
    pub checkpoints_authenticated: bool,
    /// Bytes of an unfinished final record, left by a crash and cut off at the
    /// next start. Never acknowledged, so not an error.
    pub unfinished_tail_bytes: u64,
    /// Torn tails kept in `quarantine/`.
    pub quarantined: usize,
    /// Records after the newest checkpoint and any anchor with a head:
    /// chained, but vouched for by nothing, so whoever can write the directory
    /// can alter or remove them unseen.
    pub after_last_checkpoint: u64,
    /// Anchors given, all of which the ledger reached (unless `first_bad` says otherwise).
    pub anchors: usize,
    /// Why the checkpoints could not be authenticated, when they were not.
    pub key_problem: Option<String>,
    /// The key that authenticated them and where it came from, e.g.
    /// `61bc07347f60bd1a (keys/ledger.key, named by manifest.json)`.
    pub key: Option<String>,
    /// The first problem, if any.
    pub first_bad: Option<BadRecord>,
}

impl VerifyReport {
    /// True when nothing is wrong with the chain as far as it could be checked.
    pub fn ok(&self) -> bool {
        self.first_bad.is_none()
    }

    /// True when nothing is wrong and the checkpoints were authenticated, so
    /// a chain rewritten without the key would have been caught.
    pub fn trusted(&self) -> bool {
        self.ok() && self.checkpoints_authenticated
    }
}

/// A point of the chain known from outside the ledger directory: the ledger
/// must reach `seq`, and with a hash, hold a record there whose hash it is.
/// Written `SEQ` or `SEQ:HEAD` (the head as 64 hex digits, as the gateway logs
/// it with each checkpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    /// The seq the ledger must reach.
    pub seq: u64,
    /// The chain head at `seq`, when known.
    pub head: Option<Hash>,
}

/// Why an `--anchor` could not be read.
#[derive(Debug, thiserror::Error)]
#[error("an anchor is SEQ or SEQ:HEAD (records start at seq 1; the head as 64 hex digits)")]
pub struct AnchorInvalid;

impl FromStr for Anchor {
    type Err = AnchorInvalid;

    fn from_str(text: &str) -> Result<Anchor, AnchorInvalid> {
        let (seq, head) = match text.split_once(':') {
            Some((seq, head)) => (seq, Some(parse_hash(head).ok_or(AnchorInvalid)?)),
            None => (text, None),
        };
        let seq = seq
            .parse()
            .ok()
            .filter(|&seq| seq > 0)
            .ok_or(AnchorInvalid)?;
        Ok(Anchor { seq, head })
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
    verify_anchored(dir, key, &[])
}

/// [`verify_with_key`], also holding the ledger to `anchors`.
pub fn verify_anchored(
    dir: &Path,
    key: Option<&LedgerKey>,
    anchors: &[Anchor],
) -> Result<VerifyReport, AuditError> {
    if !dir.is_dir() {
        return Err(AuditError::NoLedger(dir.to_path_buf()));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AuditError::Io { path, source }
    };
    let segments = list_segments(dir).map_err(io(dir))?;
    if segments.is_empty()
        && [MANIFEST_FILE, CHECKPOINT_FILE]
            .iter()
            .all(|name| !dir.join(name).exists())
    {
        // Nothing of a ledger at all: a wrong path, or every file deleted.
        return Err(AuditError::NotALedger(dir.to_path_buf()));
    }
    let all = Checkpoint::read_all(dir).map_err(io(&dir.join(CHECKPOINT_FILE)))?;
    let mut report = VerifyReport {
        segments: segments.len(),
        records: 0,
        last_seq: 0,
        head: hash_hex(&Head::EMPTY.hash),
        checkpoints: all.len(),
        last_checkpoint: None,
        newest_checkpoint_time: None,
        checkpoints_authenticated: key.is_some(),
        unfinished_tail_bytes: 0,
        quarantined: count_quarantined(dir),
        after_last_checkpoint: 0,
        anchors: anchors.len(),
        key_problem: None,
        key: None,
        first_bad: None,
    };
    let checkpoints = match check_checkpoints(&all, key) {
        Ok(map) => map,
        Err(bad) => {
            report.first_bad = Some(bad);
            return Ok(report);
        }
    };
    let anchored = match check_anchors(anchors, &checkpoints) {
        Ok(map) => map,
        Err(bad) => {
            report.first_bad = Some(bad);
            return Ok(report);
        }
    };
    report.last_checkpoint = checkpoints.keys().next_back().copied();
    report.newest_checkpoint_time = newest_time(&all);
    let head = walk_all(&segments, &anchored, &mut report, io)?;
    report.last_seq = head.seq;
    report.head = hash_hex(&head.hash);
    let vouched = anchors
        .iter()
        .filter(|a| a.head.is_some())
        .map(|a| a.seq)
        .chain(report.last_checkpoint)
        .max()
        .unwrap_or(0);
    report.after_last_checkpoint = head.seq - vouched.min(head.seq);
    if report.first_bad.is_none() {
        report.first_bad = truncation(&checkpoints, anchors, head, &segments);
    }
    // Every open of a ledger writes a checkpoint, so a ledger without one
    // (even with no records left) had its checkpoint log removed.
    if report.first_bad.is_none() && checkpoints.is_empty() {
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
    expected: &BTreeMap<u64, Expected>,
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
                check_record(line, link.seq, &link.hash, expected)
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
    expected: &BTreeMap<u64, Expected>,
) -> Result<(), Problem> {
    if serde_json::from_slice::<RecordView<'_>>(line).is_err() {
        return Err(Problem::BadEntry);
    }
    match expected.get(&seq) {
        Some(Expected::Checkpoint(head)) if head != hash => Err(Problem::CheckpointMismatch),
        Some(Expected::Anchor(head)) if head != hash => Err(Problem::AnchorMismatch),
        _ => Ok(()),
    }
}

/// The head a record must have, and who says so.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// A checkpoint in the directory.
    Checkpoint(Hash),
    /// An anchor given from outside it.
    Anchor(Hash),
}

/// The checkpoints' heads joined with the anchors that name one, or the first
/// anchor that contradicts a checkpoint.
fn check_anchors(
    anchors: &[Anchor],
    checkpoints: &BTreeMap<u64, Hash>,
) -> Result<BTreeMap<u64, Expected>, BadRecord> {
    let mut expected: BTreeMap<u64, Expected> = checkpoints
        .iter()
        .map(|(&seq, &head)| (seq, Expected::Checkpoint(head)))
        .collect();
    for anchor in anchors {
        let Some(head) = anchor.head else { continue };
        match checkpoints.get(&anchor.seq) {
            Some(checkpointed) if *checkpointed != head => {
                return Err(BadRecord {
                    seq: Some(anchor.seq),
                    file: CHECKPOINT_FILE.to_string(),
                    line: 0,
                    problem: "the anchor's head differs from the checkpoint of the same seq"
                        .to_string(),
                });
            }
            Some(_) => {}
            None => {
                expected.insert(anchor.seq, Expected::Anchor(head));
            }
        }
    }
    Ok(expected)
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

/// A checkpoint or an anchor above the last record means records were cut
/// from the tail (or a final segment is missing).
fn truncation(
    checkpoints: &BTreeMap<u64, Hash>,
    anchors: &[Anchor],
    head: Head,
    segments: &[SegmentFile],
) -> Option<BadRecord> {
    let beyond = |top: u64, says: &str| {
        (top > head.seq).then(|| BadRecord {
            seq: Some(head.seq + 1),
            file: segments.last().map_or_else(|| CHECKPOINT_FILE.to_string(), SegmentFile::name),
            line: 0,
            problem: format!(
                "ledger ends at seq {} but {says} seq {top}: records {}..={top} were truncated or a segment is missing",
                head.seq,
                head.seq + 1
            ),
        })
    };
    let checkpointed = checkpoints.keys().next_back().copied().unwrap_or(0);
    let anchored = anchors.iter().map(|a| a.seq).max().unwrap_or(0);
    beyond(checkpointed, "a checkpoint covers").or_else(|| beyond(anchored, "an anchor names"))
}

fn count_quarantined(dir: &Path) -> usize {
    std::fs::read_dir(dir.join(QUARANTINE_DIR)).map_or(0, |entries| entries.count())
}
/// The time of the newest well-formed checkpoint, as written.
fn newest_time(all: &[Result<Checkpoint, u64>]) -> Option<String> {
    all.iter()
        .filter_map(|c| c.as_ref().ok())
        .filter_map(|c| {
            let at = chrono::DateTime::parse_from_rfc3339(&c.time).ok()?;
            Some((at, &c.time))
        })
        .max_by_key(|(at, _)| *at)
        .map(|(_, time)| time.clone())
}
