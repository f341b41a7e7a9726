//! Policy test case files: one case per file, TOML or JSON (by extension).
//!
//! ```toml
//! description = "a hardware ticket reveals the service tag"
//! request = "GET /customers/C-1001"
//! agent = "alice"
//! vendor = "northwind-support"            # optional
//! ticket = "T-1001"                       # optional: an id from the config's ticket source,
//! # or inline: ticket = { id = "T-1", status = "open", assignee = "alice",
//! #                       customer_id = "C-1001", category = "hardware" }
//! now = "2025-06-01T12:00:00Z"            # optional: the request time (default: now)
//! record = { id = "C-1001", devices = [{ service_tag = "7XK2M9Q" }] }
//! # or response = { ... }: the whole upstream response instead of one record
//!
//! [expect]
//! ticket = "granted"                      # optional: the Keyhole-Ticket header ("none" without one)
//! output = { ... }                        # optional: the exact output
//! [expect.fields]                         # optional: per concrete path
//! "devices[0].service_tag" = "clear"      # clear|masked|redacted|token|generalized|rewritten|absent|concealed
//! "notes" = { excludes = "7XK2M9Q" }      # or { equals = <value> }
//! ```
//!
//! With `record`, paths and `output` are relative to the record (wrapped into a
//! response as the route's `record` selector says); with `response`, to the response.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::expect::Expected;
use crate::config::line_of;
use crate::policy::written::NameOrTable;
use crate::ticket::Ticket;

/// A case file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseSpec {
    #[serde(default)]
    description: Option<String>,
    request: String,
    agent: String,
    #[serde(default)]
    vendor: Option<String>,
    #[serde(default)]
    ticket: Option<CaseTicket>,
    #[serde(default)]
    now: Option<DateTime<Utc>>,
    #[serde(default)]
    record: Option<Value>,
    #[serde(default)]
    response: Option<Value>,
    expect: ExpectSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectSpec {
    #[serde(default)]
    ticket: Option<String>,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    fields: BTreeMap<String, Value>,
}

/// The ticket a case works under.
#[derive(Debug, Clone)]
pub enum CaseTicket {
    /// An id looked up in the config's ticket source, like `X-Ticket-Id`.
    Id(String),
    /// A ticket written out in the case, so the case does not depend on the tickets file.
    Inline(Ticket),
}

impl<'de> Deserialize<'de> for CaseTicket {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let expecting = "a ticket id or a ticket object";
        Ok(match crate::policy::written::name_or_table(d, expecting)? {
            NameOrTable::Name(id) => CaseTicket::Id(id),
            NameOrTable::Table(ticket) => CaseTicket::Inline(ticket),
        })
    }
}

/// What the case feeds the transform.
#[derive(Debug, Clone)]
pub enum Input {
    /// One record, wrapped as the route's record selector says.
    Record(Value),
    /// The whole upstream response.
    Response(Value),
}

/// A parsed, validated case.
#[derive(Debug, Clone)]
pub struct Case {
    /// The case file.
    pub file: PathBuf,
    /// The file name, and the description when given.
    pub name: String,
    /// Request method.
    pub method: http::Method,
    /// Request path (without query).
    pub path: String,
    /// The query string, if the request has one.
    pub query: Option<String>,
    /// The requesting agent.
    pub agent: String,
    /// The agent's vendor (tokens are issued to agent and vendor).
    pub vendor: String,
    /// The ticket, if the request names one.
    pub ticket: Option<CaseTicket>,
    /// The request time.
    pub now: Option<DateTime<Utc>>,
    /// What the upstream returned.
    pub input: Input,
    /// The expected `Keyhole-Ticket` value.
    pub expect_ticket: Option<String>,
    /// The exact expected output.
    pub expect_output: Option<Value>,
    /// Per-field expectations, by concrete path.
    pub expect_fields: Vec<(String, Expected)>,
}

/// Reads and validates one case file; the error names file, line where known, and reason.
pub fn load(path: &Path) -> Result<Case, String> {
    let at = |line: Option<usize>, reason: String| match line {
        Some(line) => format!("{}:{line}: {reason}", path.display()),
        None => format!("{}: {reason}", path.display()),
    };
    let text = std::fs::read_to_string(path).map_err(|e| at(None, format!("cannot read: {e}")))?;
    let spec: CaseSpec = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| at(Some(e.line()), e.to_string()))?
    } else {
        toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| line_of(&text, s.start));
            at(line, e.message().to_string())
        })?
    };
    validate(path, spec).map_err(|reason| at(None, reason))
}

fn validate(path: &Path, spec: CaseSpec) -> Result<Case, String> {
    let (method, target) = spec
        .request
        .trim()
        .split_once(' ')
        .ok_or("`request` must be \"METHOD /path\"")?;
    let method = http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("invalid method {method:?}"))?;
    let target = target.trim();
    let (path_only, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query.to_string())),
        None => (target, None),
    };
    let input = match (spec.record, spec.response) {
        (Some(record), None) => Input::Record(record),
        (None, Some(response)) => Input::Response(response),
        _ => return Err("give exactly one of `record` or `response`".into()),
    };
    let expect = spec.expect;
    if expect.ticket.is_none() && expect.output.is_none() && expect.fields.is_empty() {
        return Err("`[expect]` must say something: `ticket`, `output` or `fields`".into());
    }
    let mut fields = Vec::new();
    for (field, value) in expect.fields {
        let expected =
            Expected::parse(&value).map_err(|e| format!("expect.fields {field:?}: {e}"))?;
        fields.push((field, expected));
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match spec.description {
        Some(d) => format!("{file_name}: {d}"),
        None => file_name,
    };
    Ok(Case {
        file: path.to_path_buf(),
        name,
        method,
        path: path_only.to_string(),
        query,
        agent: spec.agent,
        vendor: spec.vendor.unwrap_or_else(|| "-".into()),
        ticket: spec.ticket,
        now: spec.now,
        input,
        expect_ticket: expect.ticket,
        expect_output: expect.output,
        expect_fields: fields,
    })
}

/// The `*.toml` and `*.json` files of `dir`, in name order.
pub fn list(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_case = path.extension().is_some_and(|e| e == "toml" || e == "json");
        if path.is_file() && is_case {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Case, String> {
        let spec: CaseSpec = toml::from_str(text).map_err(|e| e.to_string())?;
        validate(Path::new("c.toml"), spec)
    }

    #[test]
    fn reads_a_minimal_case() {
        let case = parse(
            "request = \"get /customers/C-1?x=1\"\nagent = \"alice\"\nrecord = { id = \"C-1\" }\n\
             ticket = { id = \"T-1\", status = \"open\", assignee = \"alice\", customer_id = \"C-1\", category = \"hardware\" }\n\
             [expect]\nfields = { id = \"clear\" }\n",
        )
        .unwrap();
        assert_eq!(case.method, http::Method::GET);
        assert_eq!(case.path, "/customers/C-1");
        assert!(matches!(case.ticket, Some(CaseTicket::Inline(_))));
        assert_eq!(case.expect_fields.len(), 1);
    }

    #[test]
    fn refuses_cases_that_assert_nothing_or_are_ambiguous() {
        let base = "request = \"GET /c\"\nagent = \"a\"\n";
        let err = parse(&format!("{base}record = {{}}\n[expect]\n")).unwrap_err();
        assert!(err.contains("must say something"), "{err}");
        let err = parse(&format!(
            "{base}record = {{}}\nresponse = {{}}\n[expect]\nticket = \"none\"\n"
        ))
        .unwrap_err();
        assert!(err.contains("exactly one"), "{err}");
        let err = parse(&format!(
            "{base}record = {{}}\n[expect]\nfields = {{ a = \"shown\" }}\n"
        ))
        .unwrap_err();
        assert!(err.contains("unknown expectation"), "{err}");
    }
}
