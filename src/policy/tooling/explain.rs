//! `keyhole policy explain`: for one request, every rule of the matched route in
//! declaration order, whether the ticket would justify it for the customer the
//! path names (and if not, which check fails), and what the agent gets.
//!
//! Nothing is fetched from the customer API: the answer comes from the
//! policies and the ticket alone, so it never prints a customer's data.

use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;

use chrono::Utc;

use super::check::route_name;
use super::tickets::{TicketSource, TicketToolError};
use crate::config::{Config, ConfigError};
use crate::policy::{Action, CustomerSource, FieldRule, Route, Unlisted, Unmatched};
use crate::route::{CanonicalPath, PathRejected};
use crate::ticket::{DenyReason, TicketContext};
use crate::token::TokenScope;

/// What to explain.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The agent id.
    pub agent: &'a str,
    /// The ticket id the agent would send.
    pub ticket: Option<&'a str>,
    /// The method.
    pub method: &'a str,
    /// The path (a query is ignored, as routing ignores it).
    pub path: &'a str,
}

/// Why there is nothing to explain.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The config or a policy file is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Not an HTTP method.
    #[error("invalid method {0:?}")]
    Method(String),
    /// The gateway would refuse the path before routing it.
    #[error("the gateway refuses this path: {0}")]
    Path(#[from] PathRejected),
    /// The ticket source cannot be used.
    #[error(transparent)]
    Tickets(#[from] TicketToolError),
}

/// The explanation, as printed.
pub fn explain(config_path: &Path, req: &Request<'_>) -> Result<String, ExplainError> {
    let config = Config::load(config_path)?;
    let policies = config.load_policies()?;
    let method = http::Method::from_bytes(req.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| ExplainError::Method(req.method.to_string()))?;
    let raw = req.path.split_once('?').map_or(req.path, |(p, _)| p);
    let path = CanonicalPath::parse(raw)?;
    let mut out = format!("request:  {method} {raw}\n");
    let Some((route, params)) = policies.routes.find(&method, &path) else {
        let fate = match policies.unmatched {
            Unmatched::Deny => "refused (404): policies.unmatched = \"deny\"",
            Unmatched::Pass => "forwarded untouched: policies.unmatched = \"pass\"",
        };
        let _ = writeln!(out, "route:    none matches; the request is {fate}");
        return Ok(out);
    };
    let mut tickets = TicketSource::new(&config.tickets);
    let ticket = tickets.context(req.ticket, req.agent, Utc::now())?;
    let customer = Customer::of(route, &params);
    header(&mut out, route, &customer, req, &ticket);
    rules(&mut out, route, &customer, &ticket);
    detectors(&mut out, route, &customer, &ticket);
    Ok(out)
}

/// Whose record it is, as far as the request alone tells.
struct Customer {
    /// From a path parameter: known now.
    path: Option<String>,
    /// From a record field: known only once the record is read.
    field: Option<String>,
}

impl Customer {
    fn of(route: &Route, params: &[(String, String)]) -> Customer {
        let mut customer = Customer {
            path: None,
            field: None,
        };
        for source in &route.customer {
            match source {
                CustomerSource::PathParam(p) => {
                    customer.path = params.iter().find(|(k, _)| k == p).map(|(_, v)| v.clone());
                }
                CustomerSource::Field(keys) => customer.field = Some(keys.join(".")),
            }
        }
        customer
    }

    fn describe(&self) -> String {
        match (&self.path, &self.field) {
            (Some(p), Some(f)) => format!("{p} (from the path; the record's `{f}` must agree)"),
            (Some(p), None) => format!("{p} (from the path)"),
            (None, Some(f)) => format!("each record's `{f}` (not known before the response)"),
            (None, None) => "not declared (no rule needs it)".into(),
        }
    }
}

fn header(
    out: &mut String,
    route: &Route,
    customer: &Customer,
    req: &Request<'_>,
    ticket: &TicketContext,
) {
    let _ = writeln!(
        out,
        "route:    {}  (policy {:?}, {})",
        route_name(route),
        route.policy,
        route.origin
    );
    let _ = writeln!(out, "records:  {}", route.record.text);
    if let Some(query) = &route.query {
        let _ = writeln!(out, "query:    {}", query.describe());
    }
    if !route.lookups.is_empty() {
        let otherwise = match route.single_record() {
            true => "else answered as not found (404)",
            false => "else the record is left out",
        };
        let _ = writeln!(out, "lookup:   {}; {otherwise}", route.lookups.describe());
    }
    let _ = writeln!(out, "customer: {}", customer.describe());
    let _ = writeln!(out, "agent:    {}", req.agent);
    let state = match (ticket.ticket_id(), ticket.ticket(), ticket.request_denial()) {
        (None, _, _) => "none sent: nothing that needs a ticket is revealed".to_string(),
        (Some(id), Some(t), _) => format!(
            "{id}: live (category {:?}, customer {})",
            t.category, t.customer_id
        ),
        (Some(id), None, reason) => format!(
            "{id}: justifies nothing: {}",
            reason.map_or("denied", |r| r.as_str())
        ),
    };
    let _ = writeln!(out, "ticket:   {state}");
    let unlisted = match route.unlisted {
        Unlisted::Drop => "drop (fields no rule names are removed)",
        Unlisted::Pass => "pass (fields no rule names are shown, scanned by the detectors)",
    };
    let _ = writeln!(out, "unlisted: {unlisted}");
}

/// The ticket's answer for one rule's categories.
enum Verdict {
    /// `pass`: not sensitive, no ticket involved.
    NotSensitive,
    /// No `justify`: the action always applies.
    Always,
    /// Revealed in the clear (and ledgered).
    Yes,
    /// Not revealed, for this reason.
    No(DenyReason),
    /// Revealed only in records of this customer.
    Depends(String),
}

fn verdict(action: &Action, justify: &[String], customer: &Customer, t: &TicketContext) -> Verdict {
    if *action == Action::Pass {
        return Verdict::NotSensitive;
    }
    if justify.is_empty() {
        return Verdict::Always;
    }
    let answer = match (&customer.path, t.ticket()) {
        (Some(c), _) => t.justifies(c, justify).map(|()| Verdict::Yes),
        (None, Some(ticket)) if customer.field.is_some() => t
            .justifies(&ticket.customer_id, justify)
            .map(|()| Verdict::Depends(ticket.customer_id.clone())),
        // No ticket (or no customer at all): the ticket's own failure, else the customer's.
        (None, _) => t.justifies("", justify).map(|()| Verdict::Yes),
    };
    answer.unwrap_or_else(Verdict::No)
}

fn describe_action(action: &Action, scope: TokenScope) -> String {
    match action {
        Action::Pass => "pass".into(),
        Action::Redact => "redact".into(),
        Action::Mask {
            keep_first,
            keep_last,
        } => format!("mask (keep first {keep_first}, last {keep_last})"),
        Action::Tokenize if scope == TokenScope::Agent => "tokenize".into(),
        Action::Tokenize => format!("tokenize (scope {scope:?})").to_lowercase(),
        Action::Generalize(to) => format!("generalize to {to:?}").to_lowercase(),
        Action::Drop => "drop".into(),
    }
}

/// The ticket column and the result column for one rule.
fn outcome(verdict: &Verdict, action: &str) -> (String, String) {
    match verdict {
        Verdict::NotSensitive => ("-".into(), "clear (not sensitive)".into()),
        Verdict::Always => ("- (no justify)".into(), action.into()),
        Verdict::Yes => ("yes".into(), "clear (disclosed, ledgered)".into()),
        Verdict::No(reason) => (format!("no: {reason}"), action.into()),
        Verdict::Depends(customer) => (
            "depends on the record's customer".into(),
            format!("clear in records of {customer} (ledgered), else {action}"),
        ),
    }
}

fn rules(out: &mut String, route: &Route, customer: &Customer, ticket: &TicketContext) {
    let mut all: Vec<&Arc<FieldRule>> = route.envelope.rules.iter().collect();
    all.extend(&route.fields.rules);
    // The trees keep rules by path; the file's order is what the architect reads.
    all.sort_by_key(|r| origin_line(&r.origin));
    let mut rows = vec![row(["field", "action", "justify", "ticket", "result"])];
    for rule in all {
        let action = describe_action(&rule.action, rule.scope);
        let v = verdict(&rule.action, &rule.justify, customer, ticket);
        let (answer, result) = outcome(&v, &action);
        rows.push([
            rule.path.clone(),
            action,
            rule.justify.join(", "),
            answer,
            result,
        ]);
    }
    let _ = writeln!(out, "\nrules, in declaration order:");
    table(out, &rows);
}

fn detectors(out: &mut String, route: &Route, customer: &Customer, ticket: &TicketContext) {
    if route.detectors.is_empty() {
        let _ = writeln!(out, "\ndetectors: none");
        return;
    }
    let mut rows = vec![row(["detector", "action", "justify", "ticket", "result"])];
    for d in route.detectors.iter() {
        let action = describe_action(&d.action, d.scope);
        let v = verdict(&d.action, &d.justify, customer, ticket);
        let (answer, result) = outcome(&v, &action);
        rows.push([
            format!("{} /{}/", d.name, d.pattern.as_str()),
            action,
            d.justify.join(", "),
            answer,
            result,
        ]);
    }
    let _ = writeln!(
        out,
        "\ndetectors (run over every string shown, matches replaced):"
    );
    table(out, &rows);
}

fn origin_line(origin: &str) -> usize {
    origin
        .rsplit_once(':')
        .and_then(|(_, line)| line.parse().ok())
        .unwrap_or(usize::MAX)
}

fn row(cells: [&str; 5]) -> [String; 5] {
    cells.map(str::to_string)
}

/// Left-aligned columns, two spaces apart; the last column is not padded.
fn table(out: &mut String, rows: &[[String; 5]]) {
    let mut widths = [0usize; 5];
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for r in rows {
        let mut line = String::from("  ");
        for (i, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < r.len() {
                let pad = widths[i] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let mut out = String::new();
        table(
            &mut out,
            &[
                row(["a", "bb", "c", "d", "e"]),
                row(["aaa", "b", "", "d", ""]),
            ],
        );
        assert_eq!(out, "  a    bb  c  d  e\n  aaa  b      d\n");
    }

    #[test]
    fn origin_lines_order_rules() {
        assert_eq!(origin_line("p/a.toml:17"), 17);
        assert_eq!(origin_line("nowhere"), usize::MAX);
    }
}
