//! The walk over a response: envelope → records → fields → detectors.

use std::collections::HashSet;
use std::fmt::Write;

use serde_json::{Map, Value};

use super::conceal::{generalize, mask, scalar_text};
use super::{Judge, Outcome};
use crate::ledger::FieldDisclosure;
use crate::policy::tree::{RuleNode, Step};
use crate::policy::{Action, CustomerSource, Detector, FieldRule, Route, Unlisted, REDACTED};
use crate::ticket::DenyReason;
use crate::token::TokenScope;

/// What is known about the record being walked.
#[derive(Default)]
struct RecordState {
    /// The record's customer, when it could be determined.
    customer: Option<String>,
    /// The path and the record named different customers: nothing is justified.
    conflict: bool,
    /// The budget's answer for this record, once asked.
    budget: Option<bool>,
    /// Whether this record's customer is already listed in the outcome.
    listed: bool,
    /// `class\0lowercased value` of every value this record holds under a justified rule:
    /// a detector reveals a match only when it is one of the record's own values.
    own: HashSet<String>,
}

impl RecordState {
    fn owns(&self, class: &str, value: &str) -> bool {
        self.own.contains(&own_key(class, value))
    }
}

fn own_key(class: &str, value: &str) -> String {
    let mut key = String::with_capacity(class.len() + value.len() + 1);
    key.push_str(class);
    key.push('\0');
    key.extend(value.chars().flat_map(char::to_lowercase));
    key
}

pub(super) struct Walker<'a> {
    route: &'a Route,
    judge: &'a Judge<'a>,
    out: Outcome,
    /// The concrete path of the current value (`devices[0].service_tag`), reused across fields.
    path: String,
    /// The value being scanned was itself just disclosed: a detector match spanning all
    /// of it is the same disclosure, not a second one.
    scanning_disclosed: bool,
}

/// Member names that could be confused with path syntax never match a rule.
fn plain_key(key: &str) -> bool {
    !key.contains(['.', '[', ']', '*', '#'])
}

impl<'a> Walker<'a> {
    pub(super) fn new(route: &'a Route, judge: &'a Judge<'a>) -> Self {
        Walker {
            route,
            judge,
            out: Outcome::default(),
            path: String::with_capacity(64),
            scanning_disclosed: false,
        }
    }

    pub(super) fn finish(self) -> Outcome {
        self.out
    }

    pub(super) fn document(&mut self, doc: &mut Value) {
        let route = self.route;
        let selector = &route.record.steps;
        if !self.envelope(doc, selector, Some(&route.envelope.root)) {
            *doc = Value::Object(Map::new());
        }
    }

    /// Walks outside the records toward the selector; returns false when `value` is to be dropped.
    fn envelope(
        &mut self,
        value: &mut Value,
        selector: &[Step],
        node: Option<&'a RuleNode>,
    ) -> bool {
        let Some((step, rest)) = selector.split_first() else {
            self.record(value);
            return true;
        };
        match (step, value) {
            (Step::Key(want), Value::Object(map)) => {
                map.retain(|key, child| {
                    let child_node = node.and_then(|n| n.child(key));
                    if key == want {
                        self.envelope(child, rest, child_node)
                    } else {
                        let mut state = RecordState::default();
                        self.field(child, child_node, &mut state)
                    }
                });
                true
            }
            (Step::Each, Value::Array(items)) => {
                let child_node = node.and_then(RuleNode::element);
                items.retain_mut(|item| self.envelope(item, rest, child_node));
                true
            }
            (_, other) => self.field(other, node, &mut RecordState::default()),
        }
    }

    fn record(&mut self, record: &mut Value) {
        let mut state = self.record_state(record);
        self.path.clear();
        let route = self.route;
        if !self.field(record, Some(&route.fields.root), &mut state) {
            *record = Value::Object(Map::new());
        }
    }

    fn record_state(&self, record: &Value) -> RecordState {
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
                    from_record = found.and_then(scalar_text);
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
    fn own_values(&self, record: &Value) -> HashSet<String> {
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

    /// Decides one value; returns false when it is to be dropped.
    fn field(
        &mut self,
        value: &mut Value,
        node: Option<&'a RuleNode>,
        rec: &mut RecordState,
    ) -> bool {
        if let Some(rule) = node.and_then(|n| n.rule.as_ref()) {
            return self.apply_rule(value, rule, rec);
        }
        match value {
            Value::Object(map) => {
                if node.is_none() && self.route.unlisted == Unlisted::Drop {
                    self.out.counts.dropped += 1;
                    return false;
                }
                let mark = self.path.len();
                map.retain(|key, child| {
                    if !self.path.is_empty() {
                        self.path.push('.');
                    }
                    self.path.push_str(key);
                    let child_node = if plain_key(key) {
                        node.and_then(|n| n.child(key))
                    } else {
                        None
                    };
                    let keep = self.field(child, child_node, rec);
                    self.path.truncate(mark);
                    keep
                });
                true
            }
            Value::Array(items) => {
                let child_node = node.and_then(RuleNode::element);
                let mark = self.path.len();
                let mut index = 0usize;
                items.retain_mut(|item| {
                    let _ = write!(self.path, "[{index}]");
                    index += 1;
                    let keep = self.field(item, child_node, rec);
                    self.path.truncate(mark);
                    keep
                });
                true
            }
            leaf => self.unlisted_leaf(leaf, rec),
        }
    }

    fn unlisted_leaf(&mut self, leaf: &mut Value, rec: &mut RecordState) -> bool {
        match self.route.unlisted {
            Unlisted::Drop => {
                self.out.counts.dropped += 1;
                false
            }
            Unlisted::Pass => {
                self.out.counts.passed += 1;
                self.scan(leaf, rec);
                true
            }
        }
    }

    fn apply_rule(
        &mut self,
        value: &mut Value,
        rule: &'a FieldRule,
        rec: &mut RecordState,
    ) -> bool {
        if rule.action == Action::Pass {
            self.out.counts.passed += 1;
            self.scan(value, rec);
            return true;
        }
        if !rule.justify.is_empty() && self.justified(&rule.justify, rec) {
            self.disclose(value, &rule.class, rec);
            self.scanning_disclosed = true;
            self.scan(value, rec);
            self.scanning_disclosed = false;
            return true;
        }
        self.conceal(value, &rule.action, &rule.class, rule.scope)
    }

    /// Asks the ticket (and the budget) whether this record's customer is justified for `justify`.
    fn justified(&mut self, justify: &[String], rec: &mut RecordState) -> bool {
        let verdict = match (&rec.customer, rec.conflict) {
            (Some(customer), false) => self.judge.ticket.justifies(customer, justify),
            _ => Err(DenyReason::WrongCustomer),
        };
        if let Err(reason) = verdict {
            self.out.denials.insert(reason);
            return false;
        }
        if !self.admitted(rec) {
            self.out.denials.insert(DenyReason::BudgetExceeded);
            return false;
        }
        true
    }

    fn admitted(&self, rec: &mut RecordState) -> bool {
        if let Some(answer) = rec.budget {
            return answer;
        }
        let answer = match (
            self.judge.budgets,
            self.judge.ticket.ticket_id(),
            &rec.customer,
        ) {
            (Some(budgets), Some(ticket), Some(customer)) => budgets
                .admit(self.judge.holder.agent, ticket, customer, self.judge.now)
                .is_ok(),
            _ => true,
        };
        rec.budget = Some(answer);
        answer
    }

    /// Records a clear disclosure of every scalar in `value`.
    fn disclose(&mut self, value: &Value, class: &str, rec: &mut RecordState) {
        let customer = rec.customer.clone().unwrap_or_default();
        if !rec.listed {
            rec.listed = true;
            if !self.out.customers.contains(&customer) {
                self.out.customers.push(customer.clone());
            }
        }
        let mut leaves = Vec::new();
        collect_leaves(value, &mut String::from(self.path.as_str()), &mut leaves);
        for (path, text) in leaves {
            self.out.counts.disclosed += 1;
            self.out.disclosures.push(FieldDisclosure {
                customer: customer.clone(),
                path,
                class: class.to_string(),
                fingerprint: (self.judge.fingerprint)(&text),
            });
        }
    }

    /// Applies a concealing action; returns false when the value is dropped.
    fn conceal(
        &mut self,
        value: &mut Value,
        action: &Action,
        class: &str,
        scope: TokenScope,
    ) -> bool {
        let counts = &mut self.out.counts;
        let replacement = match action {
            Action::Drop => {
                counts.dropped += 1;
                return false;
            }
            Action::Pass => return true,
            Action::Redact => {
                counts.redacted += 1;
                Value::String(REDACTED.to_string())
            }
            Action::Generalize(to) => {
                counts.generalized += 1;
                generalize(value, *to)
            }
            Action::Mask {
                keep_first,
                keep_last,
            } => {
                counts.masked += 1;
                match scalar_text(value) {
                    Some(text) => Value::String(mask(&text, *keep_first, *keep_last)),
                    None => Value::String(REDACTED.to_string()),
                }
            }
            Action::Tokenize => {
                counts.tokenized += 1;
                match scalar_text(value) {
                    Some(text) => Value::String(self.tokenize(scope, class, &text)),
                    None => Value::String(REDACTED.to_string()),
                }
            }
        };
        *value = replacement;
        true
    }

    fn tokenize(&self, scope: TokenScope, class: &str, text: &str) -> String {
        self.judge
            .vault
            .tokenize(&self.judge.holder, scope, class, text)
    }

    /// Runs the detectors over every string in `value` that is about to leave in the clear.
    fn scan(&mut self, value: &mut Value, rec: &mut RecordState) {
        match value {
            Value::String(s) => {
                if let Some(replaced) = self.scan_text(s, rec) {
                    *s = replaced;
                }
            }
            Value::Number(n) => {
                let text = n.to_string();
                if let Some(replaced) = self.scan_text(&text, rec) {
                    *value = Value::String(replaced);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.scan(v, rec)),
            Value::Object(map) => {
                // A key cannot be masked in place: a member whose name a detector matches goes.
                let detectors = &self.route.detectors;
                let before = map.len();
                map.retain(|key, _| detectors.is_empty() || !detectors.any_match(key));
                self.out.counts.dropped += (before - map.len()) as u32;
                map.values_mut().for_each(|v| self.scan(v, rec));
            }
            _ => {}
        }
    }

    fn scan_text(&mut self, text: &str, rec: &mut RecordState) -> Option<String> {
        let detectors = &self.route.detectors;
        if detectors.is_empty() || !detectors.any_match(text) {
            return None;
        }
        let mut current: Option<String> = None;
        for index in detectors.matching(text).iter() {
            let detector = &detectors[index];
            let input = current.as_deref().unwrap_or(text);
            // An earlier detector may have replaced what this one matched.
            if current.is_some() && !detector.pattern.is_match(input) {
                continue;
            }
            current = Some(self.apply_detector(detector, input, rec));
        }
        current
    }

    fn apply_detector(
        &mut self,
        detector: &'a Detector,
        input: &str,
        rec: &mut RecordState,
    ) -> String {
        let justified = !detector.justify.is_empty() && self.justified(&detector.justify, rec);
        // Tokens already in the text (issued by an earlier detector) are not re-scanned:
        // a pattern could match a stretch of a token's alphabet and corrupt it.
        let tokens: Vec<std::ops::Range<usize>> = if input.contains(crate::token::TOKEN_PREFIX) {
            crate::token::find_tokens(input).collect()
        } else {
            Vec::new()
        };
        let mut out = String::with_capacity(input.len());
        let mut last = 0;
        for m in detector.pattern.find_iter(input) {
            if tokens
                .iter()
                .any(|t| t.start < m.end() && m.start() < t.end)
            {
                continue;
            }
            out.push_str(&input[last..m.start()]);
            last = m.end();
            let reveal = justified && rec.owns(&detector.class, m.as_str());
            let whole = m.start() == 0 && m.end() == input.len();
            if reveal && whole && self.scanning_disclosed {
                out.push_str(m.as_str());
                continue;
            }
            if reveal {
                let mark = self.path.len();
                self.path.push('#');
                self.path.push_str(&detector.name);
                self.disclose(&Value::String(m.as_str().to_string()), &detector.class, rec);
                self.path.truncate(mark);
                out.push_str(m.as_str());
                continue;
            }
            let mut v = Value::String(m.as_str().to_string());
            self.conceal(&mut v, &detector.action, &detector.class, detector.scope);
            if let Value::String(s) = v {
                out.push_str(&s);
            }
        }
        out.push_str(&input[last..]);
        out
    }
}

fn collect_own(value: &Value, node: &RuleNode, classes: &[&str], out: &mut HashSet<String>) {
    if let Some(rule) = &node.rule {
        if !rule.justify.is_empty() && classes.contains(&rule.class.as_str()) {
            let mut leaves = Vec::new();
            collect_leaves(value, &mut String::new(), &mut leaves);
            out.extend(leaves.iter().map(|(_, text)| own_key(&rule.class, text)));
        }
        return;
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if let Some(child) = node.child(k) {
                    collect_own(v, child, classes, out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(child) = node.element() {
                items
                    .iter()
                    .for_each(|v| collect_own(v, child, classes, out));
            }
        }
        _ => {}
    }
}

fn collect_leaves(value: &Value, path: &mut String, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let mark = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                collect_leaves(v, path, out);
                path.truncate(mark);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let mark = path.len();
                let _ = write!(path, "[{i}]");
                collect_leaves(v, path, out);
                path.truncate(mark);
            }
        }
        other => {
            if let Some(text) = scalar_text(other) {
                out.push((path.clone(), text));
            }
        }
    }
}
