//! `keyhole policy check`: every problem at once, not just the first, so an
//! architect fixes a policy in one round trip.
//!
//! Each file is compiled on its own (one error per file: the parser stops at
//! the first), then the checks that need the whole picture run over every route
//! that compiled: justify categories against `[tickets] categories`, field paths
//! against response schemas, and overlapping routes across files.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use super::schema;
use crate::config::{Config, ConfigError};
use crate::policy::{file, Route};
use crate::ticket::file::read_tickets;
use crate::ticket::SourceKind;

/// One problem, located as precisely as the format allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file at fault (config, policy, schema or tickets file).
    pub file: PathBuf,
    /// 1-based line, where the format gives one.
    pub line: Option<usize>,
    /// The rule, route, detector or config key concerned, when not already in the reason.
    pub rule: Option<String>,
    /// What is wrong, in words an architect can act on.
    pub reason: String,
}

impl Finding {
    /// A finding at a compiled rule's `file:line` origin.
    pub fn at_origin(origin: &str, rule: String, reason: String) -> Finding {
        let (file, line) = split_origin(origin);
        Finding {
            file,
            line,
            rule: Some(rule),
            reason,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(rule) = &self.rule {
            write!(f, ": {rule}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// `path/to/file.toml:12` → (`path/to/file.toml`, 12).
fn split_origin(origin: &str) -> (PathBuf, Option<usize>) {
    match origin.rsplit_once(':') {
        Some((file, line)) => match line.parse() {
            Ok(n) => (PathBuf::from(file), Some(n)),
            Err(_) => (PathBuf::from(origin), None),
        },
        None => (PathBuf::from(origin), None),
    }
}

/// What `check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Every problem, in file order.
    pub findings: Vec<Finding>,
    /// Policy files read.
    pub files: usize,
    /// Routes compiled.
    pub routes: usize,
    /// Schemas the field paths were checked against.
    pub schemas: usize,
}

impl CheckReport {
    /// The one-line success message.
    pub fn summary(&self) -> String {
        format!(
            "ok: {} policy file(s), {} route(s), {} schema(s)",
            self.files, self.routes, self.schemas
        )
    }

    fn push(&mut self, finding: Finding) {
        self.findings.push(finding);
    }
}

/// Whether `check` loads the certificates, keys and secrets the config names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    /// Load each as `serve` would (see [`super::files`]).
    Load,
    /// Config and policies only.
    Skip,
}

/// Checks the config at `config_path` and everything it names; `schemas`
/// overrides the schema directory (default `<policies.dir>/schemas`).
pub fn check(config_path: &Path, schemas: Option<&Path>, files: Files) -> CheckReport {
    let mut report = CheckReport::default();
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(e) => {
            report.push(config_finding(config_path, e));
            return report;
        }
    };
    check_tickets_file(&config, &mut report);
    let routes = compile_all(&config, &mut report);
    report.routes = routes.len();
    check_categories(&config.tickets.categories, &routes, &mut report);
    let dir = schemas
        .map(Path::to_path_buf)
        .unwrap_or_else(|| config.policies.dir.join("schemas"));
    report.schemas = schema::check_dir(&dir, schemas.is_some(), &routes, &mut report.findings);
    check_overlaps(&routes, &mut report);
    if files == Files::Load {
        let findings = super::files::check_files(&config, config_path, &routes);
        report.findings.extend(findings);
    }
    report
}

fn config_finding(path: &Path, e: ConfigError) -> Finding {
    let bare = |reason: String| Finding {
        file: path.to_path_buf(),
        line: None,
        rule: None,
        reason,
    };
    match e {
        ConfigError::Syntax { file, line, reason } => Finding {
            file,
            line: Some(line),
            rule: None,
            reason,
        },
        ConfigError::Invalid { file, invalid } => Finding {
            file,
            line: None,
            rule: Some(invalid.key),
            reason: invalid.reason,
        },
        ConfigError::Unreadable { source, .. } => bare(format!("cannot read: {source}")),
        ConfigError::Policy(p) => bare(p.to_string()),
    }
}

/// The gateway refuses to start on a missing or bad tickets file, so check does too.
fn check_tickets_file(config: &Config, report: &mut CheckReport) {
    if config.tickets.source != SourceKind::File {
        return;
    }
    if let Err(e) = read_tickets(&config.tickets.file) {
        report.push(Finding {
            file: config.tickets.file.clone(),
            line: None,
            rule: Some("tickets.file".into()),
            reason: e.to_string(),
        });
    }
}

/// Compiles every policy file on its own, so one bad file hides nothing in the others.
fn compile_all(config: &Config, report: &mut CheckReport) -> Vec<Route> {
    let dir = &config.policies.dir;
    let files = match list_policy_files(dir) {
        Ok(files) => files,
        Err(reason) => {
            report.push(Finding {
                file: dir.clone(),
                line: None,
                rule: Some("policies.dir".into()),
                reason,
            });
            return Vec::new();
        }
    };
    report.files = files.len();
    let mut routes = Vec::new();
    for path in files {
        match file::load(&path) {
            Ok(compiled) => routes.extend(compiled),
            Err(e) => report.push(Finding {
                file: e.file,
                line: Some(e.line),
                rule: None,
                reason: e.reason,
            }),
        }
    }
    routes
}

/// The `*.toml` files of the policy directory, in name order (as the gateway reads them).
pub fn list_policy_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read directory: {e}"))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read directory: {e}"))?
            .path();
        if path.is_file() && path.extension().is_some_and(|e| e == "toml") {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err("no *.toml policy file found".into());
    }
    Ok(files)
}

/// `GET /customers/{customer}` (methods joined with `|`).
pub fn route_name(route: &Route) -> String {
    let methods: Vec<&str> = route.methods.iter().map(http::Method::as_str).collect();
    format!("{} {}", methods.join("|"), route.template.as_str())
}

/// With categories declared, a `justify` naming any other one can never be satisfied: a typo.
fn check_categories(declared: &[String], routes: &[Route], report: &mut CheckReport) {
    if declared.is_empty() {
        return;
    }
    let known = |c: &String| declared.contains(c);
    let list = declared.join(", ");
    let reason = |c: &str| {
        format!("justify category {c:?} is not one the ticket source produces (tickets.categories: {list})")
    };
    let mut detectors_seen = BTreeSet::new();
    for route in routes {
        for rule in route.envelope.rules.iter().chain(&route.fields.rules) {
            for category in rule.justify.iter().filter(|c| !known(c)) {
                let name = format!("route {:?} field {:?}", route_name(route), rule.path);
                report.push(Finding::at_origin(&rule.origin, name, reason(category)));
            }
        }
        for detector in route.detectors.iter() {
            // Detectors are shared by every route of their file: report each once.
            if !detectors_seen.insert(detector.origin.clone()) {
                continue;
            }
            for category in detector.justify.iter().filter(|c| !known(c)) {
                let name = format!("detector {:?}", detector.name);
                report.push(Finding::at_origin(&detector.origin, name, reason(category)));
            }
        }
    }
}

/// Every pair of routes some request could match both of, across files.
fn check_overlaps(routes: &[Route], report: &mut CheckReport) {
    for (i, later) in routes.iter().enumerate() {
        for earlier in &routes[..i] {
            let shared = later.methods.iter().any(|m| earlier.methods.contains(m));
            if shared && earlier.template.overlaps(&later.template) {
                report.push(Finding::at_origin(
                    &later.origin,
                    format!("route {:?}", route_name(later)),
                    format!(
                        "overlaps route {:?} declared at {}: a request could match both",
                        route_name(earlier),
                        earlier.origin
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_split_into_file_and_line() {
        assert_eq!(
            split_origin("policies/a.toml:12"),
            (PathBuf::from("policies/a.toml"), Some(12))
        );
        assert_eq!(split_origin("odd"), (PathBuf::from("odd"), None));
    }

    #[test]
    fn findings_print_file_line_rule_and_reason() {
        let f = Finding::at_origin("p.toml:3", "detector \"x\"".into(), "bad".into());
        assert_eq!(f.to_string(), "p.toml:3: detector \"x\": bad");
        let bare = Finding {
            file: PathBuf::from("k.toml"),
            line: None,
            rule: None,
            reason: "cannot read".into(),
        };
        assert_eq!(bare.to_string(), "k.toml: cannot read");
    }
}
