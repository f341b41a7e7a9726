//! The walk over a response: envelope → records → fields → detectors.
//!
//! - `walk.rs`: the walker, rules and concealing actions.
//! - `walk/record.rs`: what is known about one record (customer, own values) and leaf visits.
//! - `walk/detect.rs`: detectors over text about to leave in the clear.
//! - `walk/search.rs`: whether a judged search result shows the search text.
//! - `walk/issued.rs`: tokens already issued in this response, sealed once.
//! - `walk/fingerprinted.rs`: values already disclosed in this response, fingerprinted once.
//! - `walk/memo.rs`: the bounded per-response memo both of those keep.

mod detect;
mod fingerprinted;
mod issued;
mod memo;
mod record;
mod search;

use std::sync::Arc;

use self::fingerprinted::Fingerprinted;
use self::issued::IssuedTokens;
use self::record::{for_each_leaf, RecordState};
use super::conceal::{generalize, mask, scalar_text, text};
use super::doc::Node;
use super::{Judge, Outcome};
use crate::ledger::FieldDisclosure;
use crate::policy::tree::{RuleNode, Step};
use crate::policy::{Action, FieldRule, Route, Unlisted, REDACTED};
use crate::ticket::DenyReason;
use crate::token::TokenScope;

pub(super) struct Walker<'a> {
    /// The matched route's policy.
    route: &'a Route,
    /// Ticket, holder, keys and time for this response.
    judge: &'a Judge<'a>,
    /// What the walk did so far.
    out: Outcome,
    /// The concrete path of the current value (`devices[0].service_tag`), reused across fields.
    path: String,
    /// The value being scanned was itself just disclosed: a detector match spanning all
    /// of it is the same disclosure, not a second one.
    scanning_disclosed: bool,
    /// Tokens issued so far, so a repeated value is sealed once.
    issued: IssuedTokens<'a>,
    /// Fingerprints taken so far, so a value disclosed again is fingerprinted once.
    fingerprinted: Fingerprinted,
}

/// Member names that could be confused with path syntax never match a rule.
/// Every member name of every response passes here: the syntax is ASCII, so
/// bytes are compared, which in UTF-8 never match inside another character,
/// and no character is decoded.
fn plain_key(key: &str) -> bool {
    !key.bytes()
        .any(|b| matches!(b, b'.' | b'[' | b']' | b'*' | b'#'))
}

/// Whether `value` has the shape the rules below `node` describe: an object
/// where they name members, an array where they name elements.
fn fits(node: &RuleNode, value: &Node<'_>) -> bool {
    match value {
        Node::Object(_) => node.has_members(),
        Node::Array(_) => node.element().is_some(),
        _ => false,
    }
}

impl<'a> Walker<'a> {
    pub(super) fn new(route: &'a Route, judge: &'a Judge<'a>) -> Self {
        Walker {
            route,
            judge,
            out: Outcome::default(),
            path: String::with_capacity(64),
            scanning_disclosed: false,
            issued: IssuedTokens::default(),
            fingerprinted: Fingerprinted::default(),
        }
    }

    pub(super) fn finish(self) -> Outcome {
        self.out
    }

    pub(super) fn document(&mut self, doc: &mut Node<'_>) {
        let route = self.route;
        let selector = &route.record.steps;
        if !self.envelope(doc, selector, Some(&route.envelope.root)) {
            *doc = Node::Object(Vec::new());
        }
    }

    /// Walks outside the records toward the selector; returns false when `value` is to be dropped.
    fn envelope(
        &mut self,
        value: &mut Node<'_>,
        selector: &[Step],
        node: Option<&'a RuleNode>,
    ) -> bool {
        let Some((step, rest)) = selector.split_first() else {
            return self.record(value);
        };
        match (step, value) {
            (Step::Key(want), Node::Object(members)) => {
                members.retain_mut(|(key, child)| {
                    let key: &str = key;
                    let child_node = node.and_then(|n| n.child(key));
                    if key == want {
                        self.envelope(child, rest, child_node)
                    } else if self.name_reveals(key, child_node) {
                        false
                    } else {
                        let mut state = RecordState::default();
                        self.field(child, child_node, &mut state)
                    }
                });
                true
            }
            (Step::Each, Node::Array(items)) => {
                let child_node = node.and_then(RuleNode::element);
                items.retain_mut(|item| self.envelope(item, rest, child_node));
                true
            }
            (_, other) => self.field(other, node, &mut RecordState::default()),
        }
    }

    /// Judges one record; returns false when it is to be left out: a search
    /// result that does not show the search text.
    fn record(&mut self, record: &mut Node<'_>) -> bool {
        let searches = self.judge.search;
        if searches.is_empty() {
            self.judge_record(record);
            return true;
        }
        let clear = search::ClearValues::of(record, searches);
        let before = self.out.checkpoint();
        let state = self.judge_record(record);
        if search::shows_every(record, searches, &clear) && self.spend_budget(&state) {
            return true;
        }
        // Not shown: not disclosed, and nothing about it (a denial, a count) tells it was there.
        self.out.rewind(before);
        self.out.counts.hidden += 1;
        false
    }

    fn judge_record<'d>(&mut self, record: &mut Node<'d>) -> RecordState<'d> {
        // The record's own values borrow from the body, not from `record`, so
        // the walk may rewrite the record while they are held.
        let mut state = self.record_state(record);
        self.path.clear();
        let route = self.route;
        if !self.field(record, Some(&route.fields.root), &mut state) {
            *record = Node::Object(Vec::new());
        }
        state
    }

    /// A search result's disclosures were only checked against the budget
    /// while it might yet be hidden; it is kept, so they count now. Another
    /// request may have spent the budget meanwhile: then it is hidden after all.
    fn spend_budget(&self, state: &RecordState<'_>) -> bool {
        let (Some(budgets), Some(ticket), Some(customer), Some(true)) = (
            self.judge.budgets,
            self.judge.ticket.ticket_id(),
            &state.customer,
            state.budget,
        ) else {
            return true;
        };
        budgets
            .admit(self.judge.holder.agent, ticket, customer, self.judge.now)
            .is_ok()
    }

    /// Decides one value; returns false when it is to be dropped.
    fn field<'d>(
        &mut self,
        value: &mut Node<'d>,
        node: Option<&'a RuleNode>,
        rec: &mut RecordState<'d>,
    ) -> bool {
        if let Some(rule) = node.and_then(|n| n.rule.as_ref()) {
            return self.apply_rule(value, rule, rec);
        }
        // No rule at or below this value: it goes whole, an array or object
        // included (emptied, its name would still show).
        if node.is_none() && self.route.unlisted == Unlisted::Drop {
            self.out.counts.dropped += 1;
            return false;
        }
        // Rules lie below this value, so the policy knows its shape: a value of
        // another shape (a list where members were named, text where an object
        // was) would slip past them as unlisted, and goes whatever `unlisted` says.
        if node.is_some_and(|n| !fits(n, value)) {
            self.out.counts.dropped += 1;
            return false;
        }
        match value {
            Node::Object(members) => {
                let mark = self.path.len();
                members.retain_mut(|(key, child)| {
                    let key: &str = key;
                    // A name in path syntax (`"address.street"`) reads as the
                    // path of a rule it escapes, so it goes. Only a name some
                    // rule lies under, or one that would pass unlisted, needs
                    // the check: any other goes as unlisted anyway.
                    let child_node = node.and_then(|n| n.child(key));
                    let checked = child_node.is_some() || self.route.unlisted == Unlisted::Pass;
                    if checked && !plain_key(key) {
                        self.out.counts.dropped += 1;
                        return false;
                    }
                    if !self.path.is_empty() {
                        self.path.push('.');
                    }
                    // A name no rule names is the upstream's, and may be a value:
                    // the ledger path does not spell it.
                    self.path.push_str(if child_node.is_some() {
                        key
                    } else {
                        record::UNNAMED
                    });
                    let keep =
                        !self.name_reveals(key, child_node) && self.field(child, child_node, rec);
                    self.path.truncate(mark);
                    keep
                });
                true
            }
            Node::Array(items) => {
                let child_node = node.and_then(RuleNode::element);
                let mark = self.path.len();
                let mut index = 0usize;
                items.retain_mut(|item| {
                    push_index(&mut self.path, index);
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

    fn unlisted_leaf<'d>(&mut self, leaf: &mut Node<'d>, rec: &mut RecordState<'d>) -> bool {
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

    fn apply_rule<'d>(
        &mut self,
        value: &mut Node<'d>,
        rule: &'a FieldRule,
        rec: &mut RecordState<'d>,
    ) -> bool {
        if rule.action == Action::Pass {
            self.out.counts.passed += 1;
            self.scan(value, rec);
            return true;
        }
        if can_disclose(rule, value) && self.justified(&rule.justify, rec) {
            self.disclose(value, &rule.class, rec);
            self.scanning_disclosed = true;
            self.scan(value, rec);
            self.scanning_disclosed = false;
            return true;
        }
        let kept = self.conceal(value, &rule.action, &rule.class, rule.scope);
        // Generalizing and masking keep some of the upstream's own text, which
        // then leaves in the clear and is read like any passed text.
        if kept && matches!(rule.action, Action::Generalize(_) | Action::Mask { .. }) {
            self.scan(value, rec);
        }
        kept
    }

    /// Asks the ticket (and the budget) whether this record's customer is justified for `justify`.
    fn justified(&mut self, justify: &[String], rec: &mut RecordState<'_>) -> bool {
        let verdict = match (&rec.customer, rec.conflict) {
            (Some(customer), false) => self.judge.ticket.justifies(customer, justify),
            _ => Err(DenyReason::WrongCustomer),
        };
        if let Err(reason) = verdict {
            self.deny(reason, rec);
            return false;
        }
        if !self.admitted(rec) {
            self.deny(DenyReason::BudgetExceeded, rec);
            return false;
        }
        true
    }

    /// Notes a justified rule denied for `reason`, and whose record it was.
    /// Without a ticket there is no denial to record, so no one is named.
    fn deny(&mut self, reason: DenyReason, rec: &RecordState<'_>) {
        self.out.denials.insert(reason);
        let named = &mut self.out.denied_customers;
        let Some(customer) = rec.customer.as_ref().filter(|c| !c.is_empty()) else {
            return;
        };
        if reason != DenyReason::NoTicket
            && named.len() < super::MAX_DENIED_CUSTOMERS
            && !named
                .iter()
                .rev()
                .any(|(r, n)| *r == reason && n == customer)
        {
            named.push((reason, Arc::clone(customer)));
        }
    }

    fn admitted(&self, rec: &mut RecordState<'_>) -> bool {
        if let Some(answer) = rec.budget {
            return answer;
        }
        let answer = match (
            self.judge.budgets,
            self.judge.ticket.ticket_id(),
            &rec.customer,
        ) {
            // A search result may yet be hidden: it is charged once kept (`spend_budget`).
            (Some(budgets), Some(ticket), Some(customer)) if !self.judge.search.is_empty() => {
                budgets
                    .check(self.judge.holder.agent, ticket, customer, self.judge.now)
                    .is_ok()
            }
            (Some(budgets), Some(ticket), Some(customer)) => budgets
                .admit(self.judge.holder.agent, ticket, customer, self.judge.now)
                .is_ok(),
            _ => true,
        };
        rec.budget = Some(answer);
        answer
    }

    /// Records a clear disclosure of every scalar in `value`.
    fn disclose(&mut self, value: &Node<'_>, class: &Arc<str>, rec: &mut RecordState<'_>) {
        let customer = rec.customer.get_or_insert_with(|| Arc::from(""));
        if !rec.listed {
            rec.listed = true;
            if !self.out.customers.iter().any(|c| **c == **customer) {
                self.out.customers.push(customer.to_string());
            }
        }
        let (out, memo, fingerprint) = (
            &mut self.out,
            &mut self.fingerprinted,
            self.judge.fingerprint,
        );
        for_each_leaf(value, &mut self.path, &mut |path, text| {
            out.counts.disclosed += 1;
            out.disclosures.push(FieldDisclosure {
                customer: Arc::clone(customer),
                path: path.to_string(),
                class: Arc::clone(class),
                fingerprint: memo.get_or_take(text, fingerprint),
            });
        });
    }

    /// Applies a concealing action; returns false when the value is dropped.
    fn conceal<'n>(
        &mut self,
        value: &mut Node<'n>,
        action: &Action,
        class: &'a str,
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
                text(REDACTED)
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
                    Some(value) => text(mask(&value, *keep_first, *keep_last)),
                    None => text(REDACTED),
                }
            }
            Action::Tokenize => {
                counts.tokenized += 1;
                match scalar_text(value) {
                    Some(value) => text(self.tokenize(scope, class, &value)),
                    None => text(REDACTED),
                }
            }
        };
        *value = replacement;
        true
    }

    fn tokenize(&mut self, scope: TokenScope, class: &'a str, text: &str) -> String {
        let judge = self.judge;
        self.issued.get_or_seal(scope, class, text, || {
            judge.vault.tokenize(&judge.holder, scope, class, text)
        })
    }
}

/// Appends `[index]` to a path: every array element on the way to a
/// disclosure pays for it, so without the formatting machinery.
pub(super) fn push_index(path: &mut String, index: usize) {
    path.push('[');
    path.push_str(itoa::Buffer::new().format(index));
    path.push(']');
}

/// Whether `rule` may disclose `value` under a justifying ticket: it names
/// categories, and a rule that masks or tokenizes one value never discloses a
/// list or an object an upstream puts in its place.
pub(super) fn can_disclose(rule: &FieldRule, value: &Node<'_>) -> bool {
    !rule.justify.is_empty() && (!rule.action.expects_scalar() || value.is_scalar())
}

#[cfg(test)]
mod tests {
    use super::plain_key;

    #[test]
    fn names_holding_path_syntax_are_not_plain() {
        for key in ["service_tag", "", "naïve", "日本", "tag-2"] {
            assert!(plain_key(key), "{key:?}");
        }
        for key in ["a.b", "[0]", "devices]", "*", "x#y", "é.", "日本[*]"] {
            assert!(!plain_key(key), "{key:?}");
        }
    }
}
