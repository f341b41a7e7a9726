//! `manifest.json`: tells the audit tools where the ledger key lives and which
//! key the ledger belongs to, without ever holding the key.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::regular::read_regular;
use super::segment::sync_dir;

/// A manifest is a few lines; anything larger is not one.
const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
use super::{LedgerError, LedgerKey};

/// File name of the manifest inside a ledger directory.
pub const MANIFEST_FILE: &str = "manifest.json";

const FORMAT: u32 = 1;

/// The manifest's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Ledger format version.
    pub format: u32,
    /// Absolute path of the key file last used to open the ledger.
    pub key_file: PathBuf,
    /// Public id of the ledger key (see [`LedgerKey::id`]).
    pub key_id: String,
}

impl Manifest {
    /// Reads the manifest of `dir`, `None` if there is none.
    pub fn read(dir: &Path) -> io::Result<Option<Manifest>> {
        match read_regular(&dir.join(MANIFEST_FILE), MAX_MANIFEST_BYTES) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn write(&self, dir: &Path) -> io::Result<()> {
        let tmp = dir.join(format!("{MANIFEST_FILE}.tmp"));
        let mut file = std::fs::File::create(&tmp)?;
        let json = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        file.write_all(&json)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&tmp, dir.join(MANIFEST_FILE))?;
        sync_dir(dir)
    }
}

/// The manifest of the ledger in `dir` (`None` for a new ledger), refused
/// if the ledger belongs to another key than `key`. Reads only.
pub fn owned_by(dir: &Path, key: &LedgerKey) -> Result<Option<Manifest>, LedgerError> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let existing = Manifest::read(dir).map_err(|e| LedgerError::io("read", &manifest_path, e))?;
    match existing {
        Some(found) if found.key_id != key.id() => Err(LedgerError::KeyMismatch {
            dir: dir.to_path_buf(),
            expected: found.key_id,
            found: key.id().to_string(),
        }),
        existing => Ok(existing),
    }
}

/// Records `key` as the ledger's key, or refuses if the ledger already belongs
/// to another key. A moved key file just updates the recorded path.
pub(crate) fn claim(dir: &Path, key_file: &Path, key: &LedgerKey) -> Result<(), LedgerError> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let existing = owned_by(dir, key)?;
    let key_file =
        std::fs::canonicalize(key_file).map_err(|e| LedgerError::io("resolve", key_file, e))?;
    let wanted = Manifest {
        format: FORMAT,
        key_file,
        key_id: key.id().to_string(),
    };
    if existing.as_ref() != Some(&wanted) {
        wanted
            .write(dir)
            .map_err(|e| LedgerError::io("write", &manifest_path, e))?;
    }
    Ok(())
}
