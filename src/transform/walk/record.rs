//! What is known about one record while it is walked: its customer, its own
//! values (which detectors may reveal) and visits to its leaves.

use std::borrow::Cow;
use std::sync::Arc;

use super::{can_disclose, push_index, Walker};
use crate::policy::tree::RuleNode;
use crate::policy::CustomerSource;
use crate::transform::conceal::scalar_text;
use crate::transform::doc::Node;

/// How a ledger path spells a member name that no rule names.
pub(super) const UNNAMED: &str = "*";

/// What is known about the record being walked, whose text borrows from the body (`'d`).
#[derive(Default)]
pub(super) struct RecordState<'d> {
    /// The record's customer, when it could be determined (shared by its disclosures).
    pub(super) customer: Option<Arc<str>>,
    /// The path and the record named different customers: nothing is justified.
    pub(super) conflict: bool,
    /// The budget's answer for this record, once asked.
    pub(super) budget: Option<bool>,
    /// Whether this record's customer is already listed in the outcome.
    pub(super) listed: bool,
    /// Class and text of every value this record holds under a justified rule:
    /// a detector reveals a match only when it is one of the record's own values.
    /// A record holds a handful, so a scan beats hashing a lowercased copy of each.
    pub(super) own: Vec<(Arc<str>, Cow<'d, str>)>,
}

impl RecordState<'_> {
    /// Whether `value` of `class` is one of the record's own values (case aside).
    pub(super) fn owns(&self, class: &str, value: &str) -> bool {
        self.own
            .iter()
            .any(|(c, own)| **c == *class && same_lowercase(own, value))
    }
}

/// Whether `a` and `b` are equal once lowercased.
fn same_lowercase(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

impl Walker<'_> {
    /// Whose record this is, whether the path agrees, and its own values.
    pub(super) fn record_state<'d>(&self, record: &Node<'d>) -> RecordState<'d> {
        let (mut from_path, mut from_record) = (None, None);
        for source in &self.route.customer {
            match source {
                CustomerSource::PathParam(p) => {
                    from_path = self
                        .judge
                        .params
                        .iter()
                        .find(|(k, _)| k == p)
                        .map(|(_, v)| Arc::from(v.as_str()));
                }
                CustomerSource::Field(keys) => {
                    let found = keys.iter().try_fold(record, |v, k| v.get(k));
                    from_record = found.and_then(scalar_text).map(|t| Arc::from(&*t));
                }
            }
        }
        // A route that names a record field must find it: a record without one
        // cannot show that it agrees with the path, so nothing in it is justified.
        let names_field = self
            .route
            .customer
            .iter()
            .any(|s| matches!(s, CustomerSource::Field(_)));
        let conflict = matches!((&from_path, &from_record), (Some(p), Some(r)) if p != r)
            || (names_field && from_record.is_none());
        RecordState {
            customer: from_record.or(from_path),
            conflict,
            own: self.own_values(record),
            ..RecordState::default()
        }
    }

    /// The record's own values for the classes that revealing detectors look for.
    fn own_values<'d>(&self, record: &Node<'d>) -> Vec<(Arc<str>, Cow<'d, str>)> {
        let mut own = Vec::new();
        // Without a live ticket nothing can be revealed, so there is nothing to collect.
        if self.judge.ticket.ticket().is_none() {
            return own;
        }
        let revealing = self.route.detectors.revealing_classes();
        if !revealing.is_empty() {
            collect_own(record, &self.route.fields.root, revealing, &mut own);
        }
        own
    }
}

fn collect_own<'d>(
    value: &Node<'d>,
    node: &RuleNode,
    classes: &[Arc<str>],
    out: &mut Vec<(Arc<str>, Cow<'d, str>)>,
) {
    if let Some(rule) = &node.rule {
        // What the rule can never disclose is not the record's own.
        if can_disclose(rule, value) && classes.contains(&rule.class) {
            collect_leaves(value, &rule.class, out);
        }
        return;
    }
    match value {
        Node::Object(members) => {
            for (k, v) in members {
                if let Some(child) = node.child(k) {
                    collect_own(v, child, classes, out);
                }
            }
        }
        Node::Array(items) => {
            if let Some(child) = node.element() {
                items
                    .iter()
                    .for_each(|v| collect_own(v, child, classes, out));
            }
        }
        _ => {}
    }
}

/// Adds every scalar in `value` as an own value of `class`.
fn collect_leaves<'d>(value: &Node<'d>, class: &Arc<str>, out: &mut Vec<(Arc<str>, Cow<'d, str>)>) {
    match value {
        Node::Object(members) => members
            .iter()
            .for_each(|(_, v)| collect_leaves(v, class, out)),
        Node::Array(items) => items.iter().for_each(|v| collect_leaves(v, class, out)),
        // Most values are slices of the body: borrowed, not copied.
        Node::String(Cow::Borrowed(text)) => out.push((Arc::clone(class), Cow::Borrowed(*text))),
        other => {
            if let Some(text) = scalar_text(other) {
                out.push((Arc::clone(class), Cow::Owned(text.into_owned())));
            }
        }
    }
}

/// Calls `visit` with the path and text of every scalar in `value`; `path`
/// holds the path of `value` itself and is left as it was found.
///
/// Member names below a rule's own path are the upstream's, not the
/// policy's, and may be values themselves (`{"+1-555-…": …}`): a ledger path
/// names them [`UNNAMED`], so no upstream text reaches the ledger in clear.
pub(super) fn for_each_leaf(
    value: &Node<'_>,
    path: &mut String,
    visit: &mut impl FnMut(&str, &str),
) {
    match value {
        Node::Object(members) => {
            for (_, v) in members {
                let mark = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(UNNAMED);
                for_each_leaf(v, path, visit);
                path.truncate(mark);
            }
        }
        Node::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let mark = path.len();
                push_index(path, i);
                for_each_leaf(v, path, visit);
                path.truncate(mark);
            }
        }
        other => {
            if let Some(text) = scalar_text(other) {
                visit(path, &text);
            }
        }
    }
}
