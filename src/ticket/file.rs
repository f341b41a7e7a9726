//! Tickets from a local file, reloaded when it changes.
//!
//! Formats, chosen by extension:
//!
//! - `.toml`: `[[ticket]]` tables;
//! - anything else: JSON, either a list of tickets or `{"tickets": [...]}`.
//!
//! A background task compares the file's size, modification time and inode every
//! `reload_interval_ms`. A changed file that does not parse (or repeats an id) is
//! refused with one log line and the previous set keeps answering, so a half-written
//! file never empties the ticket set.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;

use super::{Lookup, Ticket};

/// Why a tickets file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be read.
    #[error("tickets file {path}: {source}")]
    Read {
        /// The tickets file.
        path: PathBuf,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// The file is not a valid ticket list.
    #[error("tickets file {path}: {reason}")]
    Parse {
        /// The tickets file.
        path: PathBuf,
        /// The parser's explanation (ticket files hold no personal data).
        reason: String,
    },
    /// Two tickets share an id, so which one applies would be a guess.
    #[error("tickets file {path}: ticket id {id:?} appears more than once")]
    DuplicateId {
        /// The tickets file.
        path: PathBuf,
        /// The repeated id.
        id: String,
    },
}

type TicketSet = HashMap<String, Arc<Ticket>>;

/// The current contents of the tickets file.
pub struct FileSource {
    path: PathBuf,
    set: RwLock<Arc<TicketSet>>,
    seen: RwLock<Option<Fingerprint>>,
}

/// Enough of the file's metadata to notice a change, including an atomic rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Fingerprint {
    /// Stands for "the file could not be examined".
    const MISSING: Fingerprint = Fingerprint {
        modified: None,
        len: 0,
        inode: 0,
    };
}

impl FileSource {
    /// Reads the file once; a missing or bad file is an error (refuse to start).
    pub fn load(path: &Path) -> Result<FileSource, FileError> {
        let seen = fingerprint(path).ok();
        let set = read_tickets(path)?;
        Ok(FileSource {
            path: path.to_path_buf(),
            set: RwLock::new(Arc::new(set)),
            seen: RwLock::new(seen),
        })
    }

    /// The ticket with this id in the current set.
    pub fn lookup(&self, id: &str) -> Lookup {
        match self.current().get(id) {
            Some(ticket) => Lookup::Found(Arc::clone(ticket)),
            None => Lookup::NotFound,
        }
    }

    /// How many tickets the current set holds.
    pub fn len(&self) -> usize {
        self.current().len()
    }

    /// Whether the current set is empty.
    pub fn is_empty(&self) -> bool {
        self.current().is_empty()
    }

    fn current(&self) -> Arc<TicketSet> {
        match self.set.read() {
            Ok(set) => Arc::clone(&set),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reloads if the file changed since the last look. `Ok(None)`: unchanged.
    pub fn reload_if_changed(&self) -> Result<Option<usize>, FileError> {
        let now = match fingerprint(&self.path) {
            Ok(print) => print,
            // A vanished file keeps the old set; report it once, not every tick.
            Err(_) if self.last_seen() == Some(Fingerprint::MISSING) => return Ok(None),
            Err(source) => {
                self.remember(Fingerprint::MISSING);
                let path = self.path.clone();
                return Err(FileError::Read { path, source });
            }
        };
        if self.last_seen() == Some(now) {
            return Ok(None);
        }
        // Remember the attempt even when it fails, so a bad file is reported once
        // rather than every tick; the next write changes the fingerprint again.
        self.remember(now);
        let set = read_tickets(&self.path)?;
        let count = set.len();
        match self.set.write() {
            Ok(mut current) => *current = Arc::new(set),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(set),
        }
        Ok(Some(count))
    }

    fn last_seen(&self) -> Option<Fingerprint> {
        match self.seen.read() {
            Ok(seen) => *seen,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    fn remember(&self, print: Fingerprint) {
        match self.seen.write() {
            Ok(mut seen) => *seen = Some(print),
            Err(poisoned) => *poisoned.into_inner() = Some(print),
        }
    }
}

/// Polls the file every `every` until the source is dropped or the task aborted.
pub fn spawn_watcher(source: Weak<FileSource>, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(source) = source.upgrade() else {
                return;
            };
            let path = source.path.clone();
            // Reading and parsing is blocking file work; keep it off the reactor.
            let outcome = tokio::task::spawn_blocking(move || source.reload_if_changed()).await;
            match outcome {
                Ok(Ok(Some(count))) => {
                    tracing::info!(path = %path.display(), tickets = count, "tickets file reloaded");
                }
                Ok(Ok(None)) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, "tickets file change refused; keeping the previous tickets");
                }
                Err(error) => tracing::error!(%error, "tickets file reload task failed"),
            }
        }
    })
}

fn fingerprint(path: &Path) -> std::io::Result<Fingerprint> {
    let meta = std::fs::metadata(path)?;
    Ok(Fingerprint {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode: inode(&meta),
    })
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_meta: &std::fs::Metadata) -> u64 {
    0
}

/// Reads and parses a tickets file into a set keyed by id.
pub fn read_tickets(path: &Path) -> Result<TicketSet, FileError> {
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let parse_error = |reason: String| FileError::Parse {
        path: path.to_path_buf(),
        reason,
    };
    let tickets = if is_toml(path) {
        parse_toml(&text).map_err(parse_error)?
    } else {
        parse_json(&text).map_err(parse_error)?
    };
    index(path, tickets)
}

fn is_toml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("toml"))
}

fn parse_json(text: &str) -> Result<Vec<Ticket>, String> {
    #[derive(serde::Deserialize)]
    struct Wrapped {
        tickets: Vec<Ticket>,
    }
    // Pick the shape first so the error names the real problem rather than an
    // untagged enum's "did not match any variant".
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let tickets = if value.is_array() {
        serde_json::from_value(value)
    } else {
        serde_json::from_value::<Wrapped>(value).map(|wrapped| wrapped.tickets)
    };
    tickets.map_err(|e| e.to_string())
}

fn parse_toml(text: &str) -> Result<Vec<Ticket>, String> {
    #[derive(serde::Deserialize)]
    struct Tables {
        #[serde(default)]
        ticket: Vec<Ticket>,
    }
    toml::from_str::<Tables>(text)
        .map(|tables| tables.ticket)
        .map_err(|e| e.to_string())
}

fn index(path: &Path, tickets: Vec<Ticket>) -> Result<TicketSet, FileError> {
    let mut set = HashMap::with_capacity(tickets.len());
    for ticket in tickets {
        if ticket.id.is_empty() {
            return Err(FileError::Parse {
                path: path.to_path_buf(),
                reason: "a ticket has an empty id".into(),
            });
        }
        let id = ticket.id.clone();
        if set.insert(id.clone(), Arc::new(ticket)).is_some() {
            return Err(FileError::DuplicateId {
                path: path.to_path_buf(),
                id,
            });
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticket::TicketStatus;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    const ONE: &str = r#"{"id":"T-1","status":"open","assignee":"alice","customer_id":"C-1","category":"hardware","note":"ignored"}"#;

    #[test]
    fn json_list_and_wrapped_forms_both_load() {
        let dir = tempfile::tempdir().unwrap();
        let list = write(dir.path(), "a.json", &format!("[{ONE}]"));
        let wrapped = write(dir.path(), "b.json", &format!(r#"{{"tickets":[{ONE}]}}"#));
        for path in [list, wrapped] {
            let set = read_tickets(&path).unwrap();
            assert_eq!(set["T-1"].status, TicketStatus::Open);
            assert_eq!(set["T-1"].expires_at, None);
        }
    }

    #[test]
    fn toml_tables_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "t.toml",
            r#"
[[ticket]]
id = "T-1"
status = "pending"
assignee = "alice"
customer_id = "C-1"
category = "warranty"
expires_at = "2030-01-01T00:00:00Z"
"#,
        );
        let set = read_tickets(&path).unwrap();
        assert_eq!(set["T-1"].status, TicketStatus::Pending);
        assert!(set["T-1"].expires_at.is_some());
    }

    #[test]
    fn duplicate_ids_and_unknown_statuses_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let dup = write(dir.path(), "d.json", &format!("[{ONE},{ONE}]"));
        assert!(matches!(
            read_tickets(&dup),
            Err(FileError::DuplicateId { .. })
        ));
        let odd = write(dir.path(), "o.json", &ONE.replace("open", "resolved"));
        assert!(matches!(read_tickets(&odd), Err(FileError::Parse { .. })));
    }

    #[test]
    fn a_vanished_file_is_reported_once_and_keeps_the_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "t.json", &format!("[{ONE}]"));
        let source = FileSource::load(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            source.reload_if_changed(),
            Err(FileError::Read { .. })
        ));
        assert_eq!(source.reload_if_changed().unwrap(), None);
        assert!(matches!(source.lookup("T-1"), Lookup::Found(_)));
        write(dir.path(), "t.json", "[]");
        assert_eq!(source.reload_if_changed().unwrap(), Some(0));
    }

    #[test]
    fn unchanged_file_is_not_reread() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "t.json", &format!("[{ONE}]"));
        let source = FileSource::load(&path).unwrap();
        assert_eq!(source.reload_if_changed().unwrap(), None);
        assert_eq!(source.len(), 1);
    }
}
