//! Walking a segment's records and checking that each one follows the last.
//! Shared by crash recovery (which walks the final segment) and `audit verify`
//! (which walks them all).

use super::record::{self, Hash, LineFault, Link, GENESIS};

/// The last record of a checked chain prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Its seq (0 before the first record).
    pub seq: u64,
    /// Its hash ([`GENESIS`] before the first record).
    pub hash: Hash,
}

impl Head {
    /// The head of an empty ledger.
    pub const EMPTY: Head = Head {
        seq: 0,
        hash: GENESIS,
    };
}

/// What is wrong at the point a walk stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Not shaped like a record.
    #[error("not a well-formed record")]
    Malformed,
    /// Its bytes were changed after it was written.
    #[error("hash does not match the record's contents")]
    HashMismatch,
    /// A record is missing, inserted or out of order (or a whole segment is gone).
    #[error(
        "expected seq {expected} but found seq {found}: records missing, inserted or reordered"
    )]
    SeqGap {
        /// The seq that should come next.
        expected: u64,
        /// The seq found instead.
        found: u64,
    },
    /// The record does not carry the previous record's hash.
    #[error("does not chain to the previous record's hash")]
    PrevMismatch,
    /// The segment's file name disagrees with its first record.
    #[error("segment name says it starts at seq {named}, but it starts at seq {found}")]
    NameMismatch {
        /// Seq from the file name.
        named: u64,
        /// Seq of the first record.
        found: u64,
    },
    /// The final bytes are an unfinished record (a write cut short by a crash).
    #[error("unfinished final record (a write interrupted by a crash)")]
    Torn,
    /// The record's entry cannot be read.
    #[error("entry is not readable")]
    BadEntry,
    /// A checkpoint vouches for a different hash at this seq.
    #[error("differs from the checkpointed chain head at this seq")]
    CheckpointMismatch,
    /// An anchor given to `audit verify` names a different hash at this seq.
    #[error("differs from the anchored chain head at this seq")]
    AnchorMismatch,
}

/// Where a walk stopped and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// Byte offset of the offending line in its segment.
    pub offset: u64,
    /// 1-based line number in its segment.
    pub line: u64,
    /// The record's seq, when it could be read.
    pub seq: Option<u64>,
    /// What is wrong.
    pub problem: Problem,
}

/// The outcome of walking one segment.
#[derive(Debug, Clone)]
pub struct Walk {
    /// Head after the last good record (the head passed in if there was none).
    pub head: Head,
    /// Good records walked.
    pub records: u64,
    /// Bytes up to and including the last good record's newline.
    pub valid_len: u64,
    /// Why the walk stopped early, if it did.
    pub stop: Option<Break>,
}

/// Walks the records in `bytes`, a segment named for `first_seq`. With
/// `head = Some(..)` the first record must follow that head; with `None` the
/// segment is trusted to start the chain wherever it says (crash recovery looks
/// only at the last segment). `each` may reject a record for reasons of its own.
pub fn walk(
    bytes: &[u8],
    first_seq: u64,
    head: Option<Head>,
    mut each: impl FnMut(&[u8], &Link) -> Result<(), Problem>,
) -> Walk {
    let mut walk = Walk {
        head: head.unwrap_or(Head::EMPTY),
        records: 0,
        valid_len: 0,
        stop: None,
    };
    let mut offset = 0usize;
    let mut line_no = 0u64;
    while offset < bytes.len() {
        line_no += 1;
        let follows = if walk.records == 0 {
            head
        } else {
            Some(walk.head)
        };
        // A record whose bytes cannot be trusted is named by its position.
        let position = follows.map(|h| h.seq + 1);
        let Some(len) = bytes[offset..].iter().position(|&b| b == b'\n') else {
            walk.stop = Some(stop_at(offset, line_no, position, Problem::Torn));
            break;
        };
        let line = &bytes[offset..offset + len];
        let checked = record::check(line)
            .map_err(|fault| (position, fault_problem(fault)))
            .and_then(|link| {
                chains(&link, follows, first_seq, walk.records == 0)
                    .and_then(|()| each(line, &link))
                    .map(|()| link)
                    .map_err(|p| (Some(link.seq), p))
            });
        match checked {
            Ok(link) => {
                walk.head = Head {
                    seq: link.seq,
                    hash: link.hash,
                };
                walk.records += 1;
                offset += len + 1;
                walk.valid_len = offset as u64;
            }
            Err((seq, problem)) => {
                walk.stop = Some(stop_at(offset, line_no, seq, problem));
                break;
            }
        }
    }
    walk
}

fn chains(link: &Link, follows: Option<Head>, first_seq: u64, first: bool) -> Result<(), Problem> {
    if let Some(head) = follows {
        if link.seq != head.seq + 1 {
            return Err(Problem::SeqGap {
                expected: head.seq + 1,
                found: link.seq,
            });
        }
        if link.prev != head.hash {
            return Err(Problem::PrevMismatch);
        }
    }
    if first && link.seq != first_seq {
        return Err(Problem::NameMismatch {
            named: first_seq,
            found: link.seq,
        });
    }
    Ok(())
}

fn fault_problem(fault: LineFault) -> Problem {
    match fault {
        LineFault::Malformed => Problem::Malformed,
        LineFault::HashMismatch => Problem::HashMismatch,
    }
}

fn stop_at(offset: usize, line: u64, seq: Option<u64>, problem: Problem) -> Break {
    Break {
        offset: offset as u64,
        line,
        seq,
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(first: u64, count: u64, head: Head) -> (Vec<u8>, Head) {
        let mut out = Vec::new();
        let mut head = head;
        for seq in first..first + count {
            let hash = record::encode(&mut out, seq, &head.hash, b"{}");
            head = Head { seq, hash };
        }
        (out, head)
    }

    #[test]
    fn good_chain_walks_to_the_end() {
        let (bytes, head) = chain(1, 5, Head::EMPTY);
        let walk = walk(&bytes, 1, Some(Head::EMPTY), |_, _| Ok(()));
        assert!(walk.stop.is_none());
        assert_eq!((walk.records, walk.head), (5, head));
        assert_eq!(walk.valid_len, bytes.len() as u64);
    }

    #[test]
    fn torn_tail_stops_at_the_unfinished_line() {
        let (mut bytes, _) = chain(1, 3, Head::EMPTY);
        let good = bytes.len();
        bytes.extend_from_slice(b"{\"seq\":4,\"prev\":\"00");
        let walk = walk(&bytes, 1, None, |_, _| Ok(()));
        assert_eq!(walk.valid_len, good as u64);
        let stop = walk.stop.unwrap();
        assert_eq!((stop.line, stop.problem), (4, Problem::Torn));
    }

    #[test]
    fn a_deleted_record_is_a_seq_gap() {
        let (bytes, _) = chain(1, 4, Head::EMPTY);
        let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
        let without_second: Vec<u8> = [lines[0], lines[2], lines[3]].concat();
        let stop = walk(&without_second, 1, None, |_, _| Ok(())).stop.unwrap();
        assert_eq!(stop.seq, Some(3));
        assert_eq!(
            stop.problem,
            Problem::SeqGap {
                expected: 2,
                found: 3
            }
        );
    }

    #[test]
    fn wrong_name_or_predecessor_is_caught() {
        let (bytes, _) = chain(
            10,
            2,
            Head {
                seq: 9,
                hash: [5; 32],
            },
        );
        let named_wrong = walk(&bytes, 11, None, |_, _| Ok(())).stop.unwrap();
        assert_eq!(
            named_wrong.problem,
            Problem::NameMismatch {
                named: 11,
                found: 10
            }
        );
        let other_head = Head {
            seq: 9,
            hash: [6; 32],
        };
        let broken = walk(&bytes, 10, Some(other_head), |_, _| Ok(()))
            .stop
            .unwrap();
        assert_eq!(broken.problem, Problem::PrevMismatch);
    }
}
