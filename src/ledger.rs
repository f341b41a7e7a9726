//! Ledger placeholder.
#![allow(missing_docs, dead_code)]
use std::path::{Path, PathBuf};
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct LedgerConfig {
    pub dir: PathBuf,
    pub key_file: PathBuf,
    pub segment_bytes: u64,
    pub checkpoint_interval_secs: u64,
}
impl LedgerConfig {
    pub fn resolve_paths(&mut self, base: &Path) {
        self.dir = crate::config::resolve_path(base, &self.dir);
        self.key_file = crate::config::resolve_path(base, &self.key_file);
    }
    pub fn validate(&self) -> Result<(), crate::config::Invalid> {
        Ok(())
    }
}
pub fn generate_key_file(path: &Path) -> std::io::Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p)?;
    }
    std::fs::write(path, "00")
}
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger unavailable")]
    Unavailable,
}
#[derive(Clone)]
pub struct Ledger;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Disclosure,
    Denial,
}
#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: EntryKind,
    pub reason: Option<String>,
    pub time: chrono::DateTime<chrono::Utc>,
    pub agent: String,
    pub vendor: String,
    pub ticket: Option<String>,
    pub customers: Vec<String>,
    pub method: String,
    pub route: String,
    pub request_id: String,
    pub client: String,
    pub fields: Vec<FieldDisclosure>,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDisclosure {
    pub customer: String,
    pub path: String,
    pub class: String,
    pub fingerprint: String,
}
impl Ledger {
    pub async fn open(_cfg: &LedgerConfig) -> Result<Ledger, LedgerError> {
        Ok(Ledger)
    }
    pub fn fingerprint(&self, value: &str) -> String {
        format!("fp{}", value.len())
    }
    pub async fn append(&self, _e: Entry) -> Result<u64, LedgerError> {
        Ok(1)
    }
    pub fn is_healthy(&self) -> bool {
        true
    }
    pub async fn checkpoint(&self) -> Result<(), LedgerError> {
        Ok(())
    }
    pub async fn shutdown(&self) {}
}
