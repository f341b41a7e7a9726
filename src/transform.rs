//! Applies a route's policy to a JSON response, record by record.
//!
//! The document is rewritten in place. Each record is judged on its own: its
//! customer is resolved, and every field rule with `justify` categories asks
//! the ticket whether *this* record's customer is justified. Values revealed
//! in the clear are fingerprinted for the ledger as they are revealed, so the
//! ledger entry and the response can never disagree.
//!
//! - `doc.rs`: the document, borrowed from the body and in the upstream's member order.
//! - `walk.rs` (+ `walk/`): the walk over envelope, records, fields and detectors.
//! - `conceal.rs`: mask, redact, generalize on single values.

pub mod conceal;
pub mod doc;
mod walk;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use self::doc::Node;
use crate::ledger::{FieldDisclosure, Fingerprint};
use crate::policy::{Route, SearchText};
use crate::route::Params;
use crate::ticket::budget::Budgets;
use crate::ticket::{DenyReason, TicketContext};
use crate::token::{Holder, TokenVault};

/// Everything a transform needs to decide, borrowed for one response.
pub struct Judge<'a> {
    /// The request's ticket, as resolved for this agent.
    pub ticket: &'a TicketContext,
    /// Who the response is for (tokens are issued to them).
    pub holder: Holder<'a>,
    /// Token keys.
    pub vault: &'a TokenVault,
    /// Keyed fingerprint of a clear value (the ledger's HMAC).
    pub fingerprint: &'a (dyn Fn(&str) -> Fingerprint + Sync),
    /// Per-agent disclosure budgets, if configured.
    pub budgets: Option<&'a Budgets>,
    /// The request time.
    pub now: DateTime<Utc>,
    /// Path parameters of the matched route.
    pub params: &'a Params,
    /// The request's search texts (`[route.query]`); each result must show them all.
    pub search: &'a [SearchText<'a>],
}

/// How many values each kind of decision produced (for metrics and traces; never values).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ActionCounts {
    /// Revealed in the clear under a ticket.
    pub disclosed: u32,
    /// Shown because the rule passes them (not sensitive).
    pub passed: u32,
    /// Masked.
    pub masked: u32,
    /// Replaced by the redaction marker.
    pub redacted: u32,
    /// Replaced by a token.
    pub tokenized: u32,
    /// Coarsened.
    pub generalized: u32,
    /// Removed.
    pub dropped: u32,
    /// Search results left out because they do not show the search text.
    pub hidden: u32,
}

/// What a transform did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Every clear disclosure of a sensitive value, fingerprinted.
    pub disclosures: Vec<FieldDisclosure>,
    /// Customers whose records had something disclosed, in first-seen order.
    pub customers: Vec<String>,
    /// Why justified rules were not satisfied, if any were not.
    pub denials: BTreeSet<DenyReason>,
    /// Customers whose records had a justified rule denied, with the reason,
    /// in first-seen order, at most [`MAX_DENIED_CUSTOMERS`] pairs: whom a
    /// denial record names.
    pub denied_customers: Vec<(DenyReason, Arc<str>)>,
    /// Counts per decision.
    pub counts: ActionCounts,
}

/// Denial records name at most this many customers, so a search of many
/// records denied under one ticket still makes a small record.
pub const MAX_DENIED_CUSTOMERS: usize = 64;

impl Outcome {
    /// Why the named ticket revealed nothing in this response although it
    /// passed for the request: the reason `Keyhole-Ticket` gives for a
    /// record-level denial (another customer's record, a category the rules
    /// do not list). `None` when anything was disclosed.
    pub fn record_denial(&self, ticket: &TicketContext) -> Option<DenyReason> {
        ticket.ticket_id()?;
        if ticket.request_denial().is_some() {
            return None;
        }
        self.withheld_for(&[DenyReason::WrongCustomer, DenyReason::WrongCategory])
    }

    /// The first of `reasons` that denied a justified rule, when nothing was
    /// disclosed (a response that disclosed anything was granted).
    fn withheld_for(&self, reasons: &[DenyReason]) -> Option<DenyReason> {
        if !self.disclosures.is_empty() {
            return None;
        }
        reasons.iter().copied().find(|r| self.denials.contains(r))
    }

    /// The customers whose records were denied for `reason`, for its denial record.
    pub fn customers_denied(&self, reason: DenyReason) -> Vec<String> {
        self.denied_customers
            .iter()
            .filter(|(r, _)| *r == reason)
            .map(|(_, customer)| customer.to_string())
            .collect()
    }

    /// The `Keyhole-Ticket` header value, when the request named a ticket.
    pub fn ticket_header(&self, ticket: &TicketContext) -> Option<String> {
        ticket.ticket_id()?;
        let reason = ticket.request_denial().or_else(|| {
            self.withheld_for(&[
                DenyReason::BudgetExceeded,
                DenyReason::WrongCustomer,
                DenyReason::WrongCategory,
            ])
        });
        Some(match reason {
            Some(r) => format!("denied; reason={}", r.as_str()),
            None => "granted".to_string(),
        })
    }

    /// True when the budget stopped a disclosure.
    pub fn budget_exceeded(&self) -> bool {
        self.denials.contains(&DenyReason::BudgetExceeded)
    }

    /// Where the outcome stands now, for [`Outcome::rewind`].
    fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            disclosures: self.disclosures.len(),
            customers: self.customers.len(),
            denied_customers: self.denied_customers.len(),
            denials: self.denials.clone(),
            counts: self.counts,
        }
    }

    /// Forgets everything since `at`, as if that part of the walk never ran.
    fn rewind(&mut self, at: Checkpoint) {
        self.disclosures.truncate(at.disclosures);
        self.customers.truncate(at.customers);
        self.denied_customers.truncate(at.denied_customers);
        self.denials = at.denials;
        self.counts = at.counts;
    }
}

/// An [`Outcome`] as it stood: disclosures and customers are only ever
/// appended, so their lengths suffice.
struct Checkpoint {
    disclosures: usize,
    customers: usize,
    denied_customers: usize,
    denials: BTreeSet<DenyReason>,
    counts: ActionCounts,
}

/// Rewrites `doc` in place under `route` for the request `judge` describes.
pub fn apply_document(route: &Route, doc: &mut Node<'_>, judge: &Judge<'_>) -> Outcome {
    let mut walker = walk::Walker::new(route, judge);
    walker.document(doc);
    walker.finish()
}

/// [`apply_document`] for a `serde_json` value (policy tests and tooling).
pub fn apply(route: &Route, doc: &mut Value, judge: &Judge<'_>) -> Outcome {
    let (outcome, judged) = {
        let mut node = Node::from_value(doc);
        let outcome = apply_document(route, &mut node, judge);
        (outcome, node.to_value())
    };
    *doc = judged;
    outcome
}

/// Why a response body cannot be transformed (and so must not be shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyRejected {
    /// Deeper than the configured limit.
    #[error("JSON nests too deeply")]
    TooDeep,
    /// Not valid JSON (this includes invalid UTF-8 and lone surrogates).
    #[error("body is not valid JSON")]
    Invalid,
}

/// Parses a body as JSON no deeper than `max_depth` (at most 120, see
/// `limits.max_json_depth`).
pub fn parse_json(bytes: &[u8], max_depth: usize) -> Result<Value, BodyRejected> {
    match serde_json::from_slice(bytes) {
        // serde_json refuses to nest past 128 levels, so a parsed tree is
        // shallow enough to measure by recursion, far cheaper than a byte scan.
        Ok(value) if value_depth(&value) <= max_depth => Ok(value),
        Ok(_) => Err(BodyRejected::TooDeep),
        Err(_) => Err(refusal(bytes, max_depth)),
    }
}

/// [`parse_json`] into a document borrowing from the body (responses).
pub fn parse_document(bytes: &[u8], max_depth: usize) -> Result<Node<'_>, BodyRejected> {
    // One UTF-8 check of the whole body costs less than serde_json's check of
    // every string; a body that fails it gets serde_json's own refusal. The
    // parser itself refuses what nests deeper than `max_depth`.
    let parsed = match std::str::from_utf8(bytes) {
        Ok(text) => Node::parse_within(text, max_depth),
        Err(_) => Node::parse_slice_within(bytes, max_depth),
    };
    parsed.map_err(|_| refusal(bytes, max_depth))
}

/// Why a body was refused. Only refused bodies pay for the scan that tells a
/// text too deep from a malformed one.
fn refusal(bytes: &[u8], max_depth: usize) -> BodyRejected {
    if json_depth(bytes) > max_depth {
        BodyRejected::TooDeep
    } else {
        BodyRejected::Invalid
    }
}

/// Nesting depth of a parsed value: the same count as [`json_depth`].
fn value_depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(value_depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(value_depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Maximum bracket nesting of a JSON text, ignoring brackets inside strings.
pub fn json_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod depth_tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn parsed_depth_agrees_with_the_byte_scan() {
        for text in [
            r#"1"#,
            r#"{}"#,
            r#"{"a":[1,{"b":"]]]"}]}"#,
            r#"[[],[[[]]]]"#,
        ] {
            let doc: Value = serde_json::from_str(text).unwrap();
            assert_eq!(value_depth(&doc), json_depth(text.as_bytes()), "{text}");
        }
    }

    #[test]
    fn depth_limit_holds_below_and_beyond_the_parser_limit() {
        assert!(parse_json(nested(64).as_bytes(), 64).is_ok());
        for levels in [65, 127, 129, 10_000] {
            let text = nested(levels);
            assert_eq!(
                parse_json(text.as_bytes(), 64).unwrap_err(),
                BodyRejected::TooDeep,
                "{levels} levels"
            );
        }
        assert_eq!(
            parse_json(b"{\"a\":", 64).unwrap_err(),
            BodyRejected::Invalid
        );
    }

    #[test]
    fn documents_are_refused_exactly_as_values_are() {
        let cases = [
            nested(64),
            nested(65),
            nested(129),
            "{\"a\":".to_string(),
            "\"\\ud800\"".to_string(),
            "[1,2,]".to_string(),
            "{\"a\":1} x".to_string(),
            r#"{"a":[{"b":"c"}],"d":1.5e3}"#.to_string(),
        ];
        for text in cases {
            let as_value = parse_json(text.as_bytes(), 64).map(|v| v.to_string());
            let as_doc = parse_document(text.as_bytes(), 64).map(|d| d.to_value().to_string());
            assert_eq!(as_doc, as_value, "{text}");
        }
    }

    #[test]
    fn documents_count_depth_while_parsing_as_the_byte_scan_counts() {
        let texts: [&[u8]; 7] = [
            b"1",
            b"{}",
            b"[[],[[[]]]]",
            br#"{"a":[1,{"b":"]]]"}],"c":{"d":{}}}"#,
            br#"[{"a":[{"b":[{}]}]}]"#,
            b"[[[\"\xff\"]]]",
            b"[[[1]]] x",
        ];
        for text in texts {
            for max_depth in 0..7 {
                let as_value = parse_json(text, max_depth).map(|v| v.to_string());
                let as_doc = parse_document(text, max_depth).map(|d| d.to_value().to_string());
                assert_eq!(
                    as_doc,
                    as_value,
                    "{} within {max_depth}",
                    text.escape_ascii()
                );
            }
        }
    }
}
