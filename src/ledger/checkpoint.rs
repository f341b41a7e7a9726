//! Checkpoints: HMAC-keyed statements of the chain head.
//!
//! Anyone can recompute SHA-256, so someone who rewrites the ledger could rebuild
//! a consistent chain. A checkpoint is keyed: it says "the record at seq N had
//! hash H" under the ledger key, so a rebuilt chain or a tail cut below N fails
//! verification. They are written periodically, after recovery and at shutdown.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::faults::Faults;
use super::record::hash_hex;
use super::regular::read_regular;
use super::scan::Head;
use super::{LedgerError, LedgerKey};

/// File name of the checkpoint log inside a ledger directory.
pub const CHECKPOINT_FILE: &str = "checkpoints.jsonl";

/// One checkpoint line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Seq of the chain head (0 for an empty ledger).
    pub seq: u64,
    /// Hex hash of the record at `seq`.
    pub head: String,
    /// When it was written (RFC 3339, UTC).
    pub time: String,
    /// Id of the key that made `mac`.
    pub key_id: String,
    /// Hex HMAC-SHA256 over the seq, head and time.
    pub mac: String,
}

impl Checkpoint {
    /// A checkpoint of `head` at `time`, keyed with `key`.
    pub fn new(key: &LedgerKey, head: Head, time: DateTime<Utc>) -> Self {
        let time = time.to_rfc3339_opts(SecondsFormat::Micros, true);
        let head_hex = hash_hex(&head.hash);
        let mac = hex::encode(key.mac(&message(head.seq, &head_hex, &time)));
        Checkpoint {
            seq: head.seq,
            head: head_hex,
            time,
            key_id: key.id().to_string(),
            mac,
        }
    }

    /// True if `key` made this checkpoint's MAC over its seq, head and time.
    pub fn is_authentic(&self, key: &LedgerKey) -> bool {
        let Ok(tag) = hex::decode(&self.mac) else {
            return false;
        };
        key.verify_mac(&message(self.seq, &self.head, &self.time), &tag)
    }

    /// Every line of `dir`'s checkpoint log: the checkpoint, or the 1-based line
    /// number of a line that is not one. An unfinished final line (a crash
    /// mid-write) is skipped.
    pub fn read_all(dir: &Path) -> io::Result<Vec<Result<Checkpoint, u64>>> {
        let bytes = match read_regular(&dir.join(CHECKPOINT_FILE), u64::MAX) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let complete = complete_len(&bytes);
        Ok(bytes[..complete]
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .enumerate()
            .map(|(i, line)| serde_json::from_slice(line).map_err(|_| i as u64 + 1))
            .collect())
    }
}

/// The newline in the message keeps it apart from fingerprint inputs, which are
/// alphanumerics only.
fn message(seq: u64, head_hex: &str, time: &str) -> Vec<u8> {
    format!("keyhole-ledger-checkpoint-v1\n{seq}\n{head_hex}\n{time}").into_bytes()
}

fn complete_len(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
}

/// The writer's handle on the checkpoint log.
pub(crate) struct Log {
    path: PathBuf,
    file: File,
    // Length known to be durable; after a failed write the file is cut back to it.
    len: u64,
    dirty: bool,
    last_seq: Option<u64>,
}

impl Log {
    /// Opens the log, drops an unfinished final line, and refuses a ledger whose
    /// chain ends below its highest checkpoint.
    pub(crate) fn open(dir: &Path, head: Head) -> Result<Self, LedgerError> {
        let path = dir.join(CHECKPOINT_FILE);
        let io_err = |e| LedgerError::io("open", &path, e);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_err)?;
        let bytes = read_regular(&path, u64::MAX).map_err(io_err)?;
        let len = complete_len(&bytes) as u64;
        if len != bytes.len() as u64 {
            file.set_len(len).map_err(io_err)?;
            file.sync_data().map_err(io_err)?;
        }
        let last_seq = Checkpoint::read_all(dir)
            .map_err(io_err)?
            .into_iter()
            .filter_map(Result::ok)
            .map(|c| c.seq)
            .max();
        if let Some(checkpoint) = last_seq.filter(|&seq| seq > head.seq) {
            return Err(LedgerError::Truncated {
                last: head.seq,
                checkpoint,
            });
        }
        Ok(Log {
            path,
            file,
            len,
            dirty: false,
            last_seq,
        })
    }

    /// Appends and fsyncs a checkpoint of `head`, unless the last one already
    /// covers it and `force` is off.
    pub(crate) fn write(
        &mut self,
        key: &LedgerKey,
        head: Head,
        force: bool,
        faults: &Faults,
    ) -> io::Result<()> {
        if !force && self.last_seq == Some(head.seq) {
            return Ok(());
        }
        let result = self.try_write(key, head, faults);
        match &result {
            Ok(written) => {
                self.len += written;
                self.dirty = false;
                self.last_seq = Some(head.seq);
                // A copy of the head outside the ledger directory, where the
                // logs go: `audit verify --anchor SEQ:HEAD` holds the ledger to
                // it, which catches records cut from the tail.
                tracing::info!(
                    seq = head.seq,
                    head = %super::record::hash_hex(&head.hash),
                    "ledger checkpoint"
                );
            }
            Err(e) => {
                self.dirty = true;
                tracing::error!(error = %e, path = %self.path.display(), "checkpoint write failed");
            }
        }
        result.map(|_| ())
    }

    fn try_write(&mut self, key: &LedgerKey, head: Head, faults: &Faults) -> io::Result<u64> {
        if self.dirty {
            self.file.set_len(self.len)?;
        }
        if faults.writes_fail() {
            return Err(io::Error::other("injected write failure"));
        }
        let mut line = serde_json::to_vec(&Checkpoint::new(key, head, Utc::now()))
            .map_err(io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        faults.check_sync()?;
        self.file.sync_data()?;
        Ok(line.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_covers_seq_head_and_time() {
        let key = LedgerKey::from_bytes(&[4; 32]);
        let head = Head {
            seq: 9,
            hash: [1; 32],
        };
        let cp = Checkpoint::new(&key, head, Utc::now());
        assert!(cp.is_authentic(&key));
        assert!(!cp.is_authentic(&LedgerKey::from_bytes(&[5; 32])));
        for tamper in [
            Checkpoint {
                seq: 10,
                ..cp.clone()
            },
            Checkpoint {
                head: hash_hex(&[2; 32]),
                ..cp.clone()
            },
            Checkpoint {
                time: "2020-01-01T00:00:00Z".into(),
                ..cp.clone()
            },
        ] {
            assert!(!tamper.is_authentic(&key));
        }
    }

    #[test]
    fn log_refuses_a_chain_below_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let key = LedgerKey::from_bytes(&[4; 32]);
        let faults = Faults::default();
        let head = Head {
            seq: 5,
            hash: [1; 32],
        };
        let mut log = Log::open(dir.path(), head).unwrap();
        log.write(&key, head, false, &faults).unwrap();
        let shorter = Head {
            seq: 4,
            hash: [2; 32],
        };
        let err = Log::open(dir.path(), shorter).err().unwrap();
        assert!(matches!(
            err,
            LedgerError::Truncated {
                last: 4,
                checkpoint: 5
            }
        ));
    }

    #[test]
    fn failed_write_leaves_no_partial_line() {
        let dir = tempfile::tempdir().unwrap();
        let key = LedgerKey::from_bytes(&[4; 32]);
        let faults = Faults::default();
        let mut log = Log::open(dir.path(), Head::EMPTY).unwrap();
        faults.fail_syncs(true);
        let head = Head {
            seq: 0,
            hash: [0; 32],
        };
        assert!(log.write(&key, head, true, &faults).is_err());
        faults.fail_syncs(false);
        log.write(&key, head, true, &faults).unwrap();
        let all = Checkpoint::read_all(dir.path()).unwrap();
        assert_eq!(all.len(), 1);
        assert!(all[0].as_ref().unwrap().is_authentic(&key));
    }
}
