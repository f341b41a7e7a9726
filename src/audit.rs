//! The security team's view of the ledger: `keyhole audit verify | who-saw |
//! agent | attribute`.
//!
//! Each command is a library function returning a plain struct ([`verify`],
//! [`who_saw`], [`agent_history`], [`attribute`]); [`run`] only picks one and
//! formats its result as a table or as JSON.
//!
//! The queries answer from the records they can read. A record they cannot
//! read may be the disclosure the security team is looking for, so it is
//! never passed over in silence: the answer carries the count ([`Answer`]),
//! stderr says how many and where the first is, and the command exits with
//! [`EXIT_INCOMPLETE`] rather than 0 (1 stays "could not answer", and for
//! `verify` "the ledger is damaged").

mod agent;
mod attribute;
mod leaked;
mod lean;
mod render;
mod stats;
mod table;
mod tally;
mod verify;
mod who_saw;

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};

use crate::ledger::read::ReadStats;
use crate::ledger::{KeyError, LedgerKey, Manifest, ReadError};

pub use agent::{agent_history, AgentRecord};
pub use attribute::{attribute, Attribution, Evidence, Suspect};
pub use leaked::{candidates, parse_leaked, LeakedRow};
pub use verify::{
    verify, verify_anchored, verify_with_key, Anchor, AnchorInvalid, BadRecord, VerifyReport,
};
pub use who_saw::{who_saw, Sighting};

/// Exit code of a query that answered from part of the ledger: some records
/// could not be read (stderr says how many, and where the first is).
pub const EXIT_INCOMPLETE: u8 = 3;

/// A query's answer from the records that could be read, and the count of
/// those that could not.
#[derive(Debug, Clone)]
pub struct Answer<T> {
    /// What the readable records say.
    pub found: T,
    /// What the pass over the ledger read, and what it could not.
    pub read: ReadStats,
}

/// A command-line value that may be customer data: parsed like a string, but
/// never shown by `Debug`, so logging the parsed command cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive(pub String);

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sensitive(..)")
    }
}

impl FromStr for Sensitive {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Sensitive(s.to_string()))
    }
}

/// `keyhole audit <command>`.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check the whole chain and its checkpoints; exit 1 naming the first bad record.
    ///
    /// Without the ledger key the checkpoints cannot be authenticated, and a
    /// chain rewritten by someone who could write the directory would pass:
    /// that is exit 1 too, unless `--chain-only` accepts it.
    Verify {
        /// Ledger directory.
        dir: PathBuf,
        /// Ledger key file (default: the one named in the ledger's manifest).
        #[arg(long)]
        key: Option<PathBuf>,
        /// A point the ledger must reach, known from outside it: `SEQ` (a
        /// `Keyhole-Disclosure` an agent received) or `SEQ:HEAD` (a checkpoint
        /// from the gateway's log). Catches records cut from the tail. Repeatable.
        #[arg(long = "anchor", value_name = "SEQ[:HEAD]")]
        anchors: Vec<Anchor>,
        /// Accept checkpoints that cannot be authenticated (no key at hand):
        /// checks the chain's integrity only.
        #[arg(long)]
        chain_only: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Every clear disclosure of a value: agent, vendor, ticket, time.
    ///
    /// Exit 3 when some ledger records could not be read: the answer lists
    /// what could be, and stderr says how many could not and where the first
    /// is (`audit verify` says why).
    WhoSaw {
        /// Ledger directory.
        dir: PathBuf,
        /// The value to look for; `-` reads it from stdin (keeps it out of `ps`).
        #[arg(long)]
        value: Sensitive,
        /// Ledger key file (default: the one named in the ledger's manifest).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One agent's disclosures and denials.
    ///
    /// Exit 3 when some ledger records could not be read: the answer lists
    /// what could be, and stderr says how many could not and where the first
    /// is (`audit verify` says why).
    Agent {
        /// Ledger directory.
        dir: PathBuf,
        /// Agent id.
        #[arg(long)]
        agent: String,
        /// Only records at or after this time (RFC 3339, or YYYY-MM-DD for midnight UTC).
        #[arg(long)]
        since: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Rank agents and vendors by how well their disclosures explain a leaked list.
    ///
    /// Exit 3 when some ledger records could not be read: the ranking is of
    /// what could be, and stderr says how many could not and where the first
    /// is (`audit verify` says why).
    Attribute {
        /// Ledger directory.
        dir: PathBuf,
        /// The leaked list: CSV (service tag, express service code, phone, email,
        /// name, address...) or one value a line.
        #[arg(long)]
        leaked: PathBuf,
        /// Ledger key file (default: the one named in the ledger's manifest).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// How many agents and vendors to show.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
}

/// Why an audit command could not run. Never carries a looked-up value.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The ledger directory does not exist.
    #[error("ledger directory {0} does not exist or is not a directory")]
    NoLedger(PathBuf),
    /// The directory holds no manifest, checkpoint log or segment.
    #[error("{0} holds no ledger (no manifest.json, checkpoints.jsonl or segments)")]
    NotALedger(PathBuf),
    /// Reading segments failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The key file could not be used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The manifest names a key inside the ledger directory.
    #[error("the manifest names a key inside the ledger directory ({}); pass --key FILE", .0.display())]
    KeyInsideLedger(PathBuf),
    /// No `--key` and no manifest naming one.
    #[error("{0} has no manifest naming its key; pass --key FILE")]
    NoKey(PathBuf),
    /// The manifest or checkpoint log could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The key given is not the ledger's key.
    #[error("key {found} is not this ledger's key ({expected}, as its manifest says); fingerprints would not match, or the manifest was changed")]
    KeyMismatch {
        /// Key id in the manifest.
        expected: String,
        /// Key id of the key given.
        found: String,
    },
    /// The value to look for has nothing a fingerprint covers.
    #[error("the value to look for is empty once normalized (fingerprints keep only letters and digits)")]
    EmptyValue,
    /// The leaked list holds no value to attribute.
    #[error("{0} holds no values (CSV, or one value a line)")]
    NothingLeaked(PathBuf),
    /// The leaked list is larger than attribution reads.
    #[error("{path} is larger than {limit} bytes")]
    LeakedTooLarge {
        /// The file.
        path: PathBuf,
        /// [`MAX_LEAKED_BYTES`].
        limit: u64,
    },
    /// `--since` could not be parsed.
    #[error("--since {0:?} is neither RFC 3339 nor YYYY-MM-DD")]
    BadSince(String),
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Output(io::Error),
}

/// Runs one audit command, printing its result to stdout. `Verify` returns exit
/// code 1 when the ledger is damaged; the queries return [`EXIT_INCOMPLETE`]
/// when they answered without some records, which stderr describes.
pub fn run(cmd: AuditCommand) -> Result<ExitCode, AuditError> {
    let mut out = io::stdout().lock();
    run_to(cmd, &mut out)
}

/// [`run`], writing to `out` (what could not be read goes to stderr).
pub fn run_to(cmd: AuditCommand, out: &mut dyn Write) -> Result<ExitCode, AuditError> {
    let (text, dir, read) = match cmd {
        AuditCommand::Verify {
            dir,
            key,
            anchors,
            chain_only,
            json,
        } => {
            let (key, source) = match &key {
                Some(path) => (Ok(load_key(&dir, Some(path))?), path.display().to_string()),
                None => (load_key(&dir, None), key_file_named(&dir)),
            };
            let (key, key_problem) = match key {
                Ok(key) => (Some(key), None),
                Err(e) => (None, Some(e.to_string())),
            };
            let mut report = verify_anchored(&dir, key.as_ref(), &anchors)?;
            report.key_problem = key_problem;
            report.key = key.map(|k| format!("{} ({source})", k.id()));
            let passed = report.trusted() || (chain_only && report.ok());
            let text = render::verify(&dir, &report, passed, json);
            write_out(out, &text)?;
            return Ok(ExitCode::from(if passed { 0 } else { 1 }));
        }
        AuditCommand::WhoSaw {
            dir,
            value,
            key,
            json,
        } => {
            let key = load_key(&dir, key.as_deref())?;
            let value = read_value(value)?;
            if crate::ledger::normalize(&value).is_empty() {
                return Err(AuditError::EmptyValue);
            }
            let answer = who_saw(&dir, &key, &value)?;
            (render::sightings(&answer.found, json), dir, answer.read)
        }
        AuditCommand::Agent {
            dir,
            agent,
            since,
            json,
        } => {
            let since = since.as_deref().map(parse_since).transpose()?;
            let answer = agent_history(&dir, &agent, since)?;
            (render::history(&answer.found, json), dir, answer.read)
        }
        AuditCommand::Attribute {
            dir,
            leaked,
            key,
            json,
            top,
        } => {
            let key = load_key(&dir, key.as_deref())?;
            let rows = parse_leaked(&read_leaked(&leaked)?);
            if rows.is_empty() {
                return Err(AuditError::NothingLeaked(leaked));
            }
            let answer = attribute(&dir, &key, &rows, top)?;
            (render::attribution(&answer.found, json), dir, answer.read)
        }
    };
    write_out(out, &text)?;
    if read.is_complete() {
        return Ok(ExitCode::SUCCESS);
    }
    // The answer is out already; a warning that cannot be written changes
    // nothing the exit code does not say.
    let _ = io::stderr().write_all(render::unreadable(&dir, &read).as_bytes());
    Ok(ExitCode::from(EXIT_INCOMPLETE))
}

fn write_out(out: &mut dyn Write, text: &str) -> Result<(), AuditError> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(AuditError::Output)
}

/// The largest leaked list `attribute` reads: far more than any list of
/// customer records, and a bound for a path that never ends (`/dev/zero`).
pub const MAX_LEAKED_BYTES: u64 = 1 << 30;

fn read_leaked(path: &Path) -> Result<String, AuditError> {
    use std::io::Read;
    let io = |source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_LEAKED_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_LEAKED_BYTES {
        return Err(AuditError::LeakedTooLarge {
            path: path.to_path_buf(),
            limit: MAX_LEAKED_BYTES,
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            e.utf8_error(),
        ))
    })
}

fn read_value(value: Sensitive) -> Result<String, AuditError> {
    if value.0 != "-" {
        return Ok(value.0);
    }
    let mut line = String::new();
    io::stdin()
        .read_line(&mut line)
        .map_err(|source| AuditError::Io {
            path: PathBuf::from("<stdin>"),
            source,
        })?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Where the key `load_key(dir, None)` uses comes from, for the report.
fn key_file_named(dir: &Path) -> String {
    match Manifest::read(dir) {
        Ok(Some(m)) => format!("{}, named by manifest.json", m.key_file.display()),
        _ => "no manifest".to_string(),
    }
}

/// The ledger key: `key` if given, else the file the manifest names. Refuses a
/// key whose id differs from the manifest's, and a manifest naming a key
/// inside the ledger directory (a key kept with the records it protects
/// protects nothing from whoever can write them).
pub fn load_key(dir: &Path, key: Option<&Path>) -> Result<LedgerKey, AuditError> {
    if !dir.is_dir() {
        return Err(AuditError::NoLedger(dir.to_path_buf()));
    }
    let manifest = Manifest::read(dir).map_err(|source| AuditError::Io {
        path: dir.join(crate::ledger::MANIFEST_FILE),
        source,
    })?;
    let loaded = match (key, &manifest) {
        (Some(path), _) => LedgerKey::load(path)?,
        (None, Some(m)) if is_inside(&m.key_file, dir) => {
            return Err(AuditError::KeyInsideLedger(m.key_file.clone()))
        }
        (None, Some(m)) => LedgerKey::load(&m.key_file)?,
        (None, None) => return Err(AuditError::NoKey(dir.to_path_buf())),
    };
    if let Some(m) = manifest.filter(|m| m.key_id != loaded.id()) {
        return Err(AuditError::KeyMismatch {
            expected: m.key_id,
            found: loaded.id().to_string(),
        });
    }
    Ok(loaded)
}

/// Whether `path` is inside `dir`, symbolic links resolved where they exist.
fn is_inside(path: &Path, dir: &Path) -> bool {
    let real = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    real(path).starts_with(real(dir))
}

/// Parses `--since`: RFC 3339, or a bare date meaning midnight UTC.
pub fn parse_since(text: &str) -> Result<DateTime<Utc>, AuditError> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| AuditError::BadSince(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_rfc3339_and_dates() {
        let t = parse_since("2025-03-01T12:00:00+02:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-03-01T10:00:00+00:00");
        let d = parse_since("2025-03-01").unwrap();
        assert_eq!(d.to_rfc3339(), "2025-03-01T00:00:00+00:00");
        assert!(matches!(
            parse_since("last week"),
            Err(AuditError::BadSince(_))
        ));
    }

    #[test]
    fn sensitive_values_do_not_show_in_debug() {
        let cmd = AuditCommand::WhoSaw {
            dir: PathBuf::from("ledger"),
            value: Sensitive("555-010-2233".into()),
            key: None,
            json: false,
        };
        assert!(!format!("{cmd:?}").contains("555"));
    }

    #[test]
    fn commands_parse_from_the_command_line() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(subcommand)]
            cmd: AuditCommand,
        }
        let cli = Cli::try_parse_from(["audit", "who-saw", "d", "--value", "x", "--json"]).unwrap();
        assert!(matches!(cli.cmd, AuditCommand::WhoSaw { json: true, .. }));
        let cli = Cli::try_parse_from(["audit", "attribute", "d", "--leaked", "f"]).unwrap();
        assert!(matches!(cli.cmd, AuditCommand::Attribute { top: 10, .. }));
    }
}
