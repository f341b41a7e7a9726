//! The TOML config: one file that names everything else, with `serde(default)`
//! everywhere and a `validate()` step that names the key and the reason.

use std::path::{Path, PathBuf};

/// A config value that was read but cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct Invalid {
    /// Dotted key of the offending value, e.g. `ledger.segment_bytes`.
    pub key: String,
    /// Why it was refused, in words an operator can act on.
    pub reason: String,
}

impl Invalid {
    /// Builds an `Invalid` for `key` with `reason`.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Resolves `path` against the directory of the config file, leaving absolute paths alone.
pub fn resolve_path(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() || path.as_os_str().is_empty() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}
