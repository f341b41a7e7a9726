//! Policy files: which routes carry customer records, where the records are,
//! whose they are, and what each field becomes for an agent.
//!
//! Policies are parsed once at start (and reload) into a [`PolicySet`]: rule
//! trees keyed by path segment and precompiled detector regexes, so the hot
//! path never builds a field path string or compiles a pattern.

pub mod detector;
pub mod file;
pub mod lookup;
pub mod query;
pub mod rule;
pub mod tooling;
pub mod tree;
mod written;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

pub use detector::{Detector, Detectors};
pub use file::PolicyFileError;
pub use lookup::PathLookups;
pub use query::{QueryRefused, QueryRules, SearchText, MAX_SEARCH_TEXTS};
pub use rule::{Action, FieldRule, Generalize, REDACTED};
pub use tree::{RecordSelector, RuleTree};

use crate::route::{Params, PathTemplate, RouteTable};

/// `[policies]` in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoliciesConfig {
    /// Directory whose `*.toml` files are the policies (subdirectories are not read).
    pub dir: PathBuf,
    /// What happens to a request that no policy route names.
    pub unmatched: Unmatched,
}

impl Default for PoliciesConfig {
    fn default() -> Self {
        PoliciesConfig {
            dir: PathBuf::from("policies"),
            unmatched: Unmatched::Deny,
        }
    }
}

impl PoliciesConfig {
    /// Makes `dir` relative to the config file.
    pub fn resolve_paths(&mut self, base: &Path) {
        self.dir = crate::config::resolve_path(base, &self.dir);
    }
}

/// What Keyhole does with a request that matches no policy route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unmatched {
    /// Refuse it (404): nothing reaches the agent that no policy has judged.
    Deny,
    /// Forward it untouched: only for APIs whose other paths carry nothing sensitive.
    Pass,
}

/// What a policy does with fields that no rule names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unlisted {
    /// Remove them (the default: an unknown field is not shown).
    #[default]
    Drop,
    /// Show them, still scanned by the detectors.
    Pass,
}

/// Where a record's customer id comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerSource {
    /// A path parameter of the route, e.g. `{customer}`.
    PathParam(String),
    /// A field of the record, e.g. `id` or `owner.customer_id`.
    Field(Vec<String>),
}

/// One `[[route]]` of a policy file, compiled.
#[derive(Debug)]
pub struct Route {
    /// Name of the policy file's `[policy]` that declared this route.
    pub policy: String,
    /// The file and line it was declared at, for explain and errors.
    pub origin: String,
    /// Methods it applies to (upper case).
    pub methods: Vec<http::Method>,
    /// The path template as written, e.g. `/customers/{customer}`; also the ledger's route name.
    pub template: PathTemplate,
    /// Where the records are in the response.
    pub record: RecordSelector,
    /// Whose record it is: the path, a record field, or (when both are given) the record field checked against the path.
    pub customer: Vec<CustomerSource>,
    /// The field rules, as a tree keyed by path segment.
    pub fields: RuleTree,
    /// Rules for values outside the records (e.g. `$.total`).
    pub envelope: RuleTree,
    /// Free-text detectors of this route's policy file.
    pub detectors: Arc<Detectors>,
    /// What happens to fields no rule names.
    pub unlisted: Unlisted,
    /// `[route.query]`: the query parameters it forwards and its search texts;
    /// `None` forwards any query as sent.
    pub query: Option<QueryRules>,
    /// `[route.params]`: path parameters that must show in the record they find.
    pub lookups: PathLookups,
}

impl Route {
    /// Whether a rule or detector of this route issues tokens (so a token key is needed).
    pub fn tokenizes(&self) -> bool {
        self.fields
            .rules
            .iter()
            .chain(self.envelope.rules.iter())
            .any(|f| f.action == Action::Tokenize)
            || self.detectors.iter().any(|d| d.action == Action::Tokenize)
    }

    /// The request's search texts: its query's under `[route.query]` (none
    /// without one: any query is forwarded as sent), and its looked-up path
    /// parameters under `[route.params]`, from `sent`, the path's parameters
    /// as the agent sent them.
    pub fn search_texts(
        &self,
        query: Option<&str>,
        sent: &Params,
    ) -> Result<Vec<SearchText<'_>>, QueryRefused> {
        let mut texts = match &self.query {
            Some(rules) => rules.admit(query)?,
            None => Vec::new(),
        };
        self.lookups.admit(sent, &mut texts);
        Ok(texts)
    }

    /// Whether the records are the whole body: one record, which a lookup
    /// that does not show in it hides whole.
    pub fn single_record(&self) -> bool {
        self.record.steps.is_empty()
    }
}

/// All loaded policies, routed.
#[derive(Debug)]
pub struct PolicySet {
    /// The routes of every policy file, ready to match.
    pub routes: RouteTable<Arc<Route>>,
    /// What to do with requests no route matches.
    pub unmatched: Unmatched,
    /// The files the set was built from.
    pub files: Vec<PathBuf>,
}

/// Why the policy set could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PolicySetError {
    /// The policy directory cannot be listed.
    #[error("{dir}: cannot read policy directory: {source}")]
    UnreadableDir {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The directory holds no policy file: Keyhole would refuse everything, which is surely a mistake.
    #[error("{dir}: no *.toml policy file found")]
    Empty {
        /// The directory.
        dir: PathBuf,
    },
    /// One file is invalid.
    #[error(transparent)]
    File(#[from] PolicyFileError),
    /// Two routes could both match the same request.
    #[error("{second}: route {template} overlaps {first}")]
    Overlap {
        /// Where the first route was declared.
        first: String,
        /// Where the overlapping one was declared.
        second: String,
        /// The overlapping template.
        template: String,
    },
}

impl PolicySet {
    /// Reads and compiles every `*.toml` file of `cfg.dir`, in name order.
    pub fn load(cfg: &PoliciesConfig) -> Result<PolicySet, PolicySetError> {
        let files = policy_files(&cfg.dir)?;
        let mut routes = Vec::new();
        for path in &files {
            routes.extend(file::load(path)?);
        }
        Self::from_routes(routes, cfg.unmatched, files)
    }

    /// Builds a set from compiled routes, refusing overlaps.
    pub fn from_routes(
        routes: Vec<Route>,
        unmatched: Unmatched,
        files: Vec<PathBuf>,
    ) -> Result<PolicySet, PolicySetError> {
        let mut table: RouteTable<Arc<Route>> = RouteTable::default();
        for route in routes {
            let route = Arc::new(route);
            for method in &route.methods {
                if let Some(first) = table.overlapping(method, &route.template) {
                    return Err(PolicySetError::Overlap {
                        first: first.origin.clone(),
                        second: route.origin.clone(),
                        template: route.template.as_str().to_string(),
                    });
                }
                table.insert(method.clone(), route.template.clone(), route.clone());
            }
        }
        Ok(PolicySet {
            routes: table,
            unmatched,
            files,
        })
    }
}

impl PolicySet {
    /// The first route (by origin) with a `tokenize` rule or detector, if any.
    pub fn first_tokenizing_route(&self) -> Option<&str> {
        self.routes
            .iter()
            .find(|r| r.tokenizes())
            .map(|r| r.origin.as_str())
    }
}

fn policy_files(dir: &Path) -> Result<Vec<PathBuf>, PolicySetError> {
    let unreadable = |source| PolicySetError::UnreadableDir {
        dir: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "toml") {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(PolicySetError::Empty {
            dir: dir.to_path_buf(),
        });
    }
    Ok(files)
}
