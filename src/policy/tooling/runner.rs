//! `keyhole policy test`: runs every case of a directory through the real
//! route table, ticket checks and transform, and reports per case.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::cases::{self, Case, CaseTicket, Input};
use super::diff::diff;
use super::expect::lookup;
use super::tickets::TicketSource;
use crate::config::{Config, ConfigError};
use crate::policy::tree::Step;
use crate::policy::{PolicySet, Route, SearchText, Unmatched};
use crate::route::{CanonicalPath, Params};
use crate::ticket::TicketContext;
use crate::token::{Holder, TokenVault, TokensConfig};
use crate::transform::{self, Judge};

/// Why the cases could not be run at all (as opposed to a case failing).
#[derive(Debug, thiserror::Error)]
pub enum TestSetupError {
    /// The config or a policy file is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The cases directory cannot be listed.
    #[error("{}: cannot read cases directory: {source}", dir.display())]
    CasesDir {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No case file: a test run that tests nothing must not pass.
    #[error("{}: no *.toml or *.json case file", dir.display())]
    NoCases {
        /// The directory.
        dir: PathBuf,
    },
    /// The token keys cannot be loaded.
    #[error("token keys: {0}")]
    Vault(String),
}

/// The outcome of one case.
#[derive(Debug)]
pub struct CaseResult {
    /// The case's name (file name and description).
    pub name: String,
    /// Why it failed; empty when it passed.
    pub failures: Vec<String>,
}

/// Every case's outcome, in file order; `Display` is the command's output.
#[derive(Debug, Default)]
pub struct TestReport {
    /// One per case file.
    pub results: Vec<CaseResult>,
}

impl TestReport {
    /// True when every case passed.
    pub fn all_passed(&self) -> bool {
        self.results.iter().all(|r| r.failures.is_empty())
    }
}

impl fmt::Display for TestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut failed = 0;
        for result in &self.results {
            if result.failures.is_empty() {
                writeln!(f, "PASS {}", result.name)?;
                continue;
            }
            failed += 1;
            writeln!(f, "FAIL {}", result.name)?;
            for failure in &result.failures {
                writeln!(f, "    {}", failure.replace('\n', "\n    "))?;
            }
        }
        let passed = self.results.len() - failed;
        writeln!(f, "{passed} passed, {failed} failed")
    }
}

/// Runs every case file of `dir` against the config at `config_path`.
pub fn run(config_path: &Path, dir: &Path) -> Result<TestReport, TestSetupError> {
    let config = Config::load(config_path)?;
    let policies = config.load_policies()?;
    let files = cases::list(dir).map_err(|source| TestSetupError::CasesDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    if files.is_empty() {
        return Err(TestSetupError::NoCases {
            dir: dir.to_path_buf(),
        });
    }
    let vault = load_vault(&config.tokens).map_err(TestSetupError::Vault)?;
    let mut runner = Runner {
        policies: &policies,
        vault: &vault,
        tickets: TicketSource::new(&config.tickets),
    };
    let results = files.iter().map(|file| runner.run_file(file)).collect();
    Ok(TestReport { results })
}

/// The configured token keys, or, when none are configured, a throwaway key:
/// cases only need tokens that look like the gateway's, never ones that reverse later.
fn load_vault(tokens: &TokensConfig) -> Result<TokenVault, String> {
    if !tokens.keys.is_empty() {
        return TokenVault::load(tokens).map_err(|e| e.to_string());
    }
    let dir = std::env::temp_dir().join(format!(
        "keyhole-policy-test-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let file = dir.join("ephemeral.key");
    let loaded = crate::token::generate_key_file(&file)
        .map_err(|e| format!("cannot create a throwaway key: {e}"))
        .and_then(|()| ephemeral_config(&file))
        .and_then(|cfg| TokenVault::load(&cfg).map_err(|e| e.to_string()));
    let _ = std::fs::remove_dir_all(&dir);
    loaded
}

/// Built through serde so it keeps compiling whatever optional keys the section grows.
fn ephemeral_config(file: &Path) -> Result<TokensConfig, String> {
    let mut key = toml::Table::new();
    key.insert("id".into(), "tmp".into());
    key.insert("file".into(), file.to_string_lossy().into_owned().into());
    let mut table = toml::Table::new();
    table.insert("active".into(), "tmp".into());
    table.insert("keys".into(), toml::Value::Array(vec![key.into()]));
    table.try_into().map_err(|e: toml::de::Error| e.to_string())
}

struct Runner<'a> {
    policies: &'a PolicySet,
    vault: &'a TokenVault,
    tickets: TicketSource,
}

impl Runner<'_> {
    fn run_file(&mut self, file: &Path) -> CaseResult {
        match cases::load(file) {
            Ok(case) => CaseResult {
                name: case.name.clone(),
                failures: self.run_case(&case),
            },
            Err(reason) => CaseResult {
                name: file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                failures: vec![reason],
            },
        }
    }

    fn run_case(&mut self, case: &Case) -> Vec<String> {
        let path = match CanonicalPath::parse(&case.path) {
            Ok(path) => path,
            Err(e) => return vec![format!("request path refused: {e}")],
        };
        let Some((route, params)) = self.policies.routes.find(&case.method, &path) else {
            let outcome = match self.policies.unmatched {
                Unmatched::Deny => "refused",
                Unmatched::Pass => "forwarded untouched",
            };
            return vec![format!(
                "no policy route matches {} {}: the request would be {outcome}",
                case.method, case.path
            )];
        };
        let now = case.now.unwrap_or_else(Utc::now);
        let ticket = match self.ticket(case, now) {
            Ok(ticket) => ticket,
            Err(e) => return vec![e],
        };
        let search = match route.search_texts(case.query.as_deref(), &params) {
            Ok(search) => search,
            Err(e) => return vec![format!("{e}: the request would be refused (400)")],
        };
        let transformed = self.transform(case, route, &params, &search, &ticket, now);
        compare(case, &transformed)
    }

    /// Runs the case's input through the route as the gateway would, without budgets or ledger.
    fn transform(
        &self,
        case: &Case,
        route: &Route,
        params: &Params,
        search: &[SearchText<'_>],
        ticket: &TicketContext,
        now: DateTime<Utc>,
    ) -> Transformed {
        let mut doc = match &case.input {
            Input::Record(record) => wrap(&route.record.steps, record.clone()),
            Input::Response(response) => response.clone(),
        };
        let before = doc.clone();
        let fingerprint = |_: &str| crate::ledger::Fingerprint::default();
        let judge = Judge {
            ticket,
            holder: Holder {
                agent: &case.agent,
                vendor: &case.vendor,
            },
            vault: self.vault,
            fingerprint: &fingerprint,
            budgets: None,
            now,
            params,
            search,
        };
        let outcome = transform::apply(route, &mut doc, &judge);
        let header = outcome
            .ticket_header(ticket)
            .unwrap_or_else(|| "none".into());
        let (before, after) = match &case.input {
            Input::Record(_) => (
                unwrap(&route.record.steps, &before).clone(),
                unwrap(&route.record.steps, &doc).clone(),
            ),
            Input::Response(_) => (before, doc),
        };
        Transformed {
            header,
            before,
            after,
        }
    }

    fn ticket(&mut self, case: &Case, now: DateTime<Utc>) -> Result<TicketContext, String> {
        match &case.ticket {
            None => Ok(TicketContext::none()),
            Some(CaseTicket::Inline(ticket)) => Ok(self.tickets.inline(ticket, &case.agent, now)),
            Some(CaseTicket::Id(id)) => self
                .tickets
                .context(Some(id), &case.agent, now)
                .map_err(|e| format!("ticket {id:?}: {e}")),
        }
    }
}

/// What a case's input became: the views its expectations are checked against.
struct Transformed {
    /// The `Keyhole-Ticket` header value (`none` without a ticket).
    header: String,
    /// The input (the record, for record cases).
    before: Value,
    /// The output (the record, for record cases).
    after: Value,
}

/// Checks the output against every expectation of the case.
fn compare(case: &Case, t: &Transformed) -> Vec<String> {
    let (header, before, after) = (t.header.as_str(), &t.before, &t.after);
    let mut failures = Vec::new();
    if let Some(want) = &case.expect_ticket {
        if want.trim() != header {
            failures.push(format!("ticket: expected {want:?}, got {header:?}"));
        }
    }
    if let Some(want) = &case.expect_output {
        let lines = diff(want, after);
        if !lines.is_empty() {
            failures.push(format!(
                "output differs (- expected, + actual):\n  {}",
                lines.join("\n  ")
            ));
        }
    }
    for (path, expected) in &case.expect_fields {
        let found = lookup(before, path).and_then(|b| Ok((b, lookup(after, path)?)));
        match found {
            Err(e) => failures.push(format!("{path}: {e}")),
            Ok((None, _)) => failures.push(format!(
                "{path}: not in the case's input, so nothing can be expected of it"
            )),
            Ok((Some(b), a)) => {
                if let Some(got) = expected.check(b, a) {
                    failures.push(format!("{path}: expected {expected}, got {got}"));
                }
            }
        }
    }
    failures
}

/// Places a record where the route's record selector looks for it (`$.results[*]` → `{"results": [record]}`).
fn wrap(steps: &[Step], record: Value) -> Value {
    steps.iter().rev().fold(record, |inner, step| match step {
        Step::Key(key) => {
            let mut map = serde_json::Map::new();
            map.insert(key.clone(), inner);
            Value::Object(map)
        }
        Step::Each => Value::Array(vec![inner]),
    })
}

/// The record [`wrap`] placed, after the transform.
fn unwrap<'v>(steps: &[Step], doc: &'v Value) -> &'v Value {
    const MISSING: &Value = &Value::Null;
    steps
        .iter()
        .try_fold(doc, |v, step| match step {
            Step::Key(key) => v.get(key),
            Step::Each => v.get(0),
        })
        .unwrap_or(MISSING)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RecordSelector;
    use serde_json::json;

    #[test]
    fn records_wrap_and_unwrap_by_selector() {
        let steps = RecordSelector::parse("$.results[*]").unwrap().steps;
        let doc = wrap(&steps, json!({"id": "C-1"}));
        assert_eq!(doc, json!({"results": [{"id": "C-1"}]}));
        assert_eq!(unwrap(&steps, &doc), &json!({"id": "C-1"}));
        assert_eq!(wrap(&[], json!(1)), json!(1));
    }

    #[test]
    fn reports_count_passes_and_failures() {
        let report = TestReport {
            results: vec![
                CaseResult {
                    name: "a.toml".into(),
                    failures: vec![],
                },
                CaseResult {
                    name: "b.toml".into(),
                    failures: vec!["x: expected clear, got masked".into()],
                },
            ],
        };
        assert!(!report.all_passed());
        let text = report.to_string();
        assert!(text.contains("PASS a.toml\nFAIL b.toml\n    x: expected clear"));
        assert!(text.ends_with("1 passed, 1 failed\n"));
    }
}
