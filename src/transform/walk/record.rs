//! What is known about one record while it is walked: its customer, its own
//! values (which detectors may reveal) and visits to its leaves.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::Write;

use super::Walker;
use crate::policy::tree::RuleNode;
use crate::policy::CustomerSource;
use crate::transform::conceal::scalar_text;
use crate::transform::doc::Node;

/// What is known about the record being walked.
#[derive(Default)]
pub(super) struct RecordState {
    /// The record's customer, when it could be determined.
    pub(super) customer: Option<String>,
    /// The path and the record named different customers: nothing is justified.
    pub(super) conflict: bool,
    /// The budget's answer for this record, once asked.
    pub(super) budget: Option<bool>,
    /// Whether this record's customer is already listed in the outcome.
    pub(super) listed: bool,
    /// `class\0lowercased value` of every value this record holds under a justified rule:
    /// a detector reveals a match only when it is one of the record's own values.
    pub(super) own: HashSet<String>,
}

impl RecordState {
    /// Whether `value` of `class` is one of the record's own values (case aside).
    pub(super) fn owns(&self, class: &str, value: &str) -> bool {
        self.own.contains(&own_key(class, value))
    }
}

/// The `own` set's key for a value of `class`.
fn own_key(class: &str, value: &str) -> String {
    let mut key = String::with_capacity(class.len() + value.len() + 1);
    key.push_str(class);
    key.push('\0');
    key.extend(value.chars().flat_map(char::to_lowercase));
    key
}

impl Walker<'_> {
    /// Whose record this is, whether the path agrees, and its own values.
    pub(super) fn record_state(&self, record: &Node<'_>) -> RecordState {
        let (mut from_path, mut from_record) = (None, None);
        for source in &self.route.customer {
            match source {
                CustomerSource::PathParam(p) => {
                    from_path = self
                        .judge
                        .params
                        .iter()
                        .find(|(k, _)| k == p)
                        .map(|(_, v)| v.clone());
                }
                CustomerSource::Field(keys) => {
                    let found = keys.iter().try_fold(record, |v, k| v.get(k));
                    from_record = found.and_then(scalar_text).map(Cow::into_owned);
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
    fn own_values(&self, record: &Node<'_>) -> HashSet<String> {
        let mut own = HashSet::new();
        // Without a live ticket nothing can be revealed, so there is nothing to collect.
        if self.judge.ticket.ticket().is_none() {
            return own;
        }
        let revealing: Vec<&str> = self
            .route
            .detectors
            .iter()
            .filter(|d| !d.justify.is_empty())
            .map(|d| d.class.as_str())
            .collect();
        if !revealing.is_empty() {
            collect_own(record, &self.route.fields.root, &revealing, &mut own);
        }
        own
    }
}

fn collect_own(value: &Node<'_>, node: &RuleNode, classes: &[&str], out: &mut HashSet<String>) {
    if let Some(rule) = &node.rule {
        if !rule.justify.is_empty() && classes.contains(&rule.class.as_str()) {
            for_each_leaf(value, &mut String::new(), &mut |_, text| {
                out.insert(own_key(&rule.class, text));
            });
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

/// Calls `visit` with the path and text of every scalar in `value`; `path`
/// holds the path of `value` itself and is left as it was found.
pub(super) fn for_each_leaf(
    value: &Node<'_>,
    path: &mut String,
    visit: &mut impl FnMut(&str, &str),
) {
    match value {
        Node::Object(members) => {
            for (k, v) in members {
                let mark = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                for_each_leaf(v, path, visit);
                path.truncate(mark);
            }
        }
        Node::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let mark = path.len();
                let _ = write!(path, "[{i}]");
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
