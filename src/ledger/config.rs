//! The `[ledger]` config section: where the ledger lives, how it batches, and
//! the values it refuses.

use std::path::{Path, PathBuf};

use crate::config::{resolve_path, Invalid};

/// The `[ledger]` section of the config.
#[derive(Debug, Clone, serde::Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerConfig {
    /// Directory holding segments, checkpoints and the manifest.
    pub dir: PathBuf,
    /// File holding the 32-byte ledger key as hex text.
    pub key_file: PathBuf,
    /// A segment is closed and a new one started once it reaches this size.
    pub segment_bytes: u64,
    /// How often the chain head is checkpointed while records arrive.
    pub checkpoint_interval_secs: u64,
    /// Most records written under one fsync.
    pub max_batch: usize,
    /// Appends that may wait for the writer before callers are held back.
    pub queue_depth: usize,
    /// Pause between recovery attempts after a write or fsync failure.
    pub recovery_interval_ms: u64,
    /// Under concurrent load, at most one fsync starts per window, so each
    /// covers more appends; an append alone is synced at once. 0 turns it off.
    pub commit_window_us: u64,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            dir: PathBuf::from("ledger"),
            key_file: PathBuf::from("keys/ledger.key"),
            segment_bytes: 64 * 1024 * 1024,
            checkpoint_interval_secs: 60,
            max_batch: 8192,
            queue_depth: 65_536,
            recovery_interval_ms: 2000,
            commit_window_us: 2000,
        }
    }
}

impl LedgerConfig {
    /// Makes relative paths relative to `base` (the config file's directory).
    pub fn resolve_paths(&mut self, base: &Path) {
        self.dir = resolve_path(base, &self.dir);
        self.key_file = resolve_path(base, &self.key_file);
    }

    /// Refuses values the ledger cannot work with.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.dir.as_os_str().is_empty() {
            return Err(Invalid::new("ledger.dir", "must not be empty"));
        }
        if self.key_file.as_os_str().is_empty() {
            return Err(Invalid::new("ledger.key_file", "must not be empty"));
        }
        if self.key_file.starts_with(&self.dir) {
            return Err(Invalid::new(
                "ledger.key_file",
                "must not be inside ledger.dir: the key must not live with the records it protects",
            ));
        }
        check_range("ledger.segment_bytes", self.segment_bytes, 4096, 1 << 40)?;
        check_range(
            "ledger.checkpoint_interval_secs",
            self.checkpoint_interval_secs,
            1,
            86_400,
        )?;
        check_range("ledger.max_batch", self.max_batch as u64, 1, 1_000_000)?;
        check_range("ledger.queue_depth", self.queue_depth as u64, 1, 10_000_000)?;
        check_range(
            "ledger.recovery_interval_ms",
            self.recovery_interval_ms,
            10,
            600_000,
        )?;
        check_range("ledger.commit_window_us", self.commit_window_us, 0, 100_000)
    }
}

fn check_range(key: &str, value: u64, min: u64, max: u64) -> Result<(), Invalid> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(Invalid::new(
            key,
            format!("{value} is outside {min}..={max}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::LedgerConfig;

    type Spoil = fn(&mut LedgerConfig);

    #[test]
    fn validate_names_the_key_it_rejects() {
        let cases: [(&str, Spoil); 5] = [
            ("ledger.dir", |c| c.dir = "".into()),
            ("ledger.key_file", |c| c.key_file = c.dir.join("ledger.key")),
            ("ledger.max_batch", |c| c.max_batch = 0),
            ("ledger.recovery_interval_ms", |c| {
                c.recovery_interval_ms = 1
            }),
            ("ledger.commit_window_us", |c| {
                c.commit_window_us = 1_000_000
            }),
        ];
        for (key, spoil) in cases {
            let mut cfg = LedgerConfig::default();
            spoil(&mut cfg);
            let err = cfg.validate().expect_err(key);
            assert!(format!("{err}").contains(key), "{key}: {err}");
        }
        let off = LedgerConfig {
            commit_window_us: 0,
            ..LedgerConfig::default()
        };
        assert!(off.validate().is_ok(), "0 turns the window off");
    }
}
