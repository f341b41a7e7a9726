//! The files a config names, loaded as `serve` loads them: the listener's
//! certificate, key and client CA, the upstream's CA bundle, the JWT keys,
//! the token keys, the ledger key and the webhook secret. A config that
//! passes `policy check` then starts, rather than only parsing.
//!
//! Each file is checked on its own, so every bad one is reported in one run.
//! `--policies-only` skips this, for checking policies where the
//! deployment's secrets are not at hand (CI, an architect's laptop).

use std::path::Path;

use super::check::Finding;
use crate::authenticate::Authenticator;
use crate::config::Config;
use crate::gateway::StartError;
use crate::ledger::{LedgerError, LedgerKey};
use crate::policy::Route;
use crate::token::TokenVault;
use crate::upstream::Upstream;

/// Loads every file `config` (read from `config_path`) names; a finding per failure.
pub fn check_files(config: &Config, config_path: &Path, routes: &[Route]) -> Vec<Finding> {
    let text = std::fs::read_to_string(config_path).unwrap_or_default();
    let mut findings = Vec::new();
    let mut found = |section: &str, reason: String| {
        findings.push(Finding {
            file: config_path.to_path_buf(),
            line: section_line(&text, section),
            rule: Some(format!("[{section}]")),
            reason,
        })
    };
    let listen = &config.listen;
    if let Err(e) =
        crate::accept::tls::server_config(&listen.cert, &listen.key, listen.client_ca.as_deref())
    {
        found("listen", e.to_string());
    }
    if let Err(e) = Upstream::new(&config.upstream) {
        found("upstream", e.to_string());
    }
    if let Err(e) = Authenticator::from_config(&config.auth) {
        found("auth", e.to_string());
    }
    match TokenVault::load(&config.tokens) {
        Err(e) => found("tokens", e.to_string()),
        Ok(vault) if !vault.can_tokenize() => {
            if let Some(route) = routes.iter().find(|r| r.tokenizes()) {
                found(
                    "tokens",
                    StartError::TokensRequired(route.origin.clone()).to_string(),
                );
            }
        }
        Ok(_) => {}
    }
    // `serve` also refuses a key other than the one the ledger was written under.
    let ledger_key = LedgerKey::load(&config.ledger.key_file)
        .map_err(LedgerError::from)
        .and_then(|key| crate::ledger::owned_by(&config.ledger.dir, &key));
    if let Err(e) = ledger_key {
        found("ledger", e.to_string());
    }
    if let Some(path) = &config.tickets.webhook_secret_file {
        if let Err(e) = crate::ticket::secret::read_secret_file(path) {
            found(
                "tickets",
                format!("webhook_secret_file {}: {e}", path.display()),
            );
        }
    }
    findings
}

/// The 1-based line of the `[section]` header, or else of the first of its
/// subtables (`[[auth.keys]]`, `[tokens.keys]`), if the file has one.
fn section_line(text: &str, section: &str) -> Option<usize> {
    let header = format!("[{section}]");
    let subtable = |line: &str| {
        let name = line.trim_start_matches('[');
        line.starts_with('[') && name.starts_with(section) && name[section.len()..].starts_with('.')
    };
    let lines = || text.lines().map(str::trim);
    lines()
        .position(|line| line == header)
        .or_else(|| lines().position(subtable))
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_found_by_its_header_line() {
        let text = "# [tokens] in a comment\n[listen]\naddress = \"x\"\n  [tokens]  \n\
                    [[auth.keys]]\nid = \"k\"\n[authority]\n";
        assert_eq!(section_line(text, "listen"), Some(2));
        assert_eq!(section_line(text, "tokens"), Some(4));
        assert_eq!(section_line(text, "auth"), Some(5));
        assert_eq!(section_line(text, "ledger"), None);
    }
}
