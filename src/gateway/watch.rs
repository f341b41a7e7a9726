//! Reload on file change: the config file and the policy directory are polled
//! (mtime and size), and a change triggers the same reload as SIGHUP.

use std::path::{Path, PathBuf};
use std::sync::Weak;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::Gateway;

/// `[reload]` in the config.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReloadConfig {
    /// Watch the config file and policy directory and reload when they change.
    pub watch: bool,
    /// How often to look.
    pub interval_ms: u64,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        ReloadConfig {
            watch: false,
            interval_ms: 2_000,
        }
    }
}

type Stamp = Vec<(PathBuf, Option<SystemTime>, u64)>;

/// What the watched files look like now.
fn stamp(config: &Path, policy_dir: &Path) -> Stamp {
    let mut paths = vec![config.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(policy_dir) {
        paths.extend(entries.flatten().map(|e| e.path()));
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let modified = meta.as_ref().and_then(|m| m.modified().ok());
            let len = meta.map(|m| m.len()).unwrap_or(0);
            (p, modified, len)
        })
        .collect()
}

/// Starts watching: the files are stamped now, before this returns, so no change made
/// after start can be mistaken for the starting state.
pub fn spawn(gateway: &std::sync::Arc<Gateway>, interval: Duration) {
    let rt = gateway.runtime();
    let first = stamp(&rt.config.path, &rt.config.policies.dir);
    tokio::spawn(run(std::sync::Arc::downgrade(gateway), interval, first));
}

/// Polls until the gateway is gone; a refused reload is logged and the old set keeps serving.
async fn run(gateway: Weak<Gateway>, interval: Duration, first: Stamp) {
    let mut last = Some(first);
    loop {
        tokio::time::sleep(interval).await;
        let Some(gw) = gateway.upgrade() else { return };
        let rt = gw.runtime();
        let now = stamp(&rt.config.path, &rt.config.policies.dir);
        let changed = last.as_ref().is_some_and(|l| *l != now);
        last = Some(now);
        if changed {
            if let Err(e) = gw.reload() {
                tracing::error!(error = %e, "reload on file change refused; the previous configuration keeps serving");
            }
        }
    }
}
