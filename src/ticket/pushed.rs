//! Ticket state pushed by the ticketing system, which wins over the pulled sources.
//!
//! Entries are ordered by the delivery's `sent_at`: a delivery older than the one
//! already applied for the same ticket is accepted but ignored, so a late retry of an
//! update cannot reopen a ticket that was closed after it. The store is bounded and
//! evicts the least recently used ticket (LRU, so a new push is always admitted);
//! an evicted ticket falls back to its source.

use std::sync::Arc;

use moka::ops::compute::Op;
use moka::policy::EvictionPolicy;

use super::{Ticket, TicketStatus};

/// What a verified delivery does to one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Creates, updates or reassigns: the full ticket as it now is.
    Upsert(Ticket),
    /// Closes the ticket, keeping whatever else is known about it.
    Close,
    /// The ticket no longer exists.
    Delete,
}

/// The pushed state of one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// The ticket as last pushed.
    Ticket(Arc<Ticket>),
    /// Closed by a push that named only the id; the source supplies the rest.
    Closed,
    /// Deleted: looks like an unknown ticket.
    Deleted,
}

#[derive(Debug, Clone)]
struct Entry {
    state: Pushed,
    sent_at: i64,
}

/// Pushed tickets by id.
pub struct PushedStore {
    entries: moka::sync::Cache<String, Entry>,
}

impl PushedStore {
    /// A store remembering at most `capacity` tickets.
    pub fn new(capacity: u64) -> PushedStore {
        PushedStore {
            entries: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .eviction_policy(EvictionPolicy::lru())
                .build(),
        }
    }

    /// The pushed state of `id`, if any push is remembered for it.
    pub fn get(&self, id: &str) -> Option<Pushed> {
        self.entries.get(id).map(|entry| entry.state)
    }

    /// Applies a change sent at `sent_at` (unix seconds). `false` when a newer
    /// delivery for the same ticket was already applied and this one opens or
    /// changes the ticket.
    ///
    /// A close or delete always applies, however old: senders' clocks may
    /// disagree by the accepted skew, and one running fast would otherwise
    /// pin a ticket open against every later close. Revoking out of order
    /// fails closed; a sender re-opens with a fresh upsert, which is newer
    /// than everything applied.
    pub fn apply(&self, id: &str, sent_at: i64, change: Change) -> bool {
        let revokes = matches!(change, Change::Close | Change::Delete);
        let outcome = self.entries.entry_by_ref(id).and_compute_with(|existing| {
            let existing = existing.map(|entry| entry.into_value());
            let newest = existing
                .as_ref()
                .map_or(sent_at, |e| e.sent_at.max(sent_at));
            if newest > sent_at && !revokes {
                return Op::Nop;
            }
            let previous = existing.map(|e| e.state);
            Op::Put(Entry {
                state: next_state(previous, change),
                sent_at: newest,
            })
        });
        !matches!(
            outcome,
            moka::ops::compute::CompResult::Unchanged(_)
                | moka::ops::compute::CompResult::StillNone(_)
        )
    }
}

fn next_state(previous: Option<Pushed>, change: Change) -> Pushed {
    match (change, previous) {
        (Change::Upsert(ticket), _) => Pushed::Ticket(Arc::new(ticket)),
        (Change::Close, Some(Pushed::Ticket(ticket))) => {
            let mut closed = Ticket::clone(&ticket);
            closed.status = TicketStatus::Closed;
            Pushed::Ticket(Arc::new(closed))
        }
        // Closing a deleted ticket keeps it deleted: nothing to reveal either way.
        (Change::Close, Some(Pushed::Deleted)) => Pushed::Deleted,
        (Change::Close, _) => Pushed::Closed,
        (Change::Delete, _) => Pushed::Deleted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(assignee: &str) -> Ticket {
        Ticket {
            id: "T-1".into(),
            status: TicketStatus::Open,
            assignee: assignee.into(),
            customer_id: "C-1".into(),
            category: "hardware".into(),
            expires_at: None,
        }
    }

    #[test]
    fn close_keeps_the_rest_of_a_pushed_ticket() {
        let store = PushedStore::new(10);
        assert!(store.apply("T-1", 100, Change::Upsert(ticket("alice"))));
        assert!(store.apply("T-1", 101, Change::Close));
        let Some(Pushed::Ticket(closed)) = store.get("T-1") else {
            panic!("expected a ticket");
        };
        assert_eq!(closed.status, TicketStatus::Closed);
        assert_eq!(closed.assignee, "alice");
    }

    #[test]
    fn close_of_an_unpushed_ticket_is_a_marker() {
        let store = PushedStore::new(10);
        assert!(store.apply("T-9", 100, Change::Close));
        assert_eq!(store.get("T-9"), Some(Pushed::Closed));
    }

    #[test]
    fn an_older_delivery_does_not_undo_a_newer_one() {
        let store = PushedStore::new(10);
        assert!(store.apply("T-1", 200, Change::Delete));
        assert!(!store.apply("T-1", 150, Change::Upsert(ticket("alice"))));
        assert_eq!(store.get("T-1"), Some(Pushed::Deleted));
    }

    #[test]
    fn a_close_or_delete_applies_however_old_and_an_older_upsert_never_reopens() {
        for revoke in [Change::Close, Change::Delete] {
            let store = PushedStore::new(10);
            // A sender whose clock runs fast pushed the open.
            assert!(store.apply("T-1", 300, Change::Upsert(ticket("alice"))));
            assert!(store.apply("T-1", 200, revoke.clone()));
            let revoked = store.get("T-1");
            let still_open =
                matches!(&revoked, Some(Pushed::Ticket(t)) if t.status == TicketStatus::Open);
            assert!(!still_open, "{revoke:?} left {revoked:?}");
            // The newest time seen is kept: an upsert older than the open stays refused.
            assert!(!store.apply("T-1", 250, Change::Upsert(ticket("alice"))));
            assert_eq!(store.get("T-1"), revoked);
            assert!(store.apply("T-1", 301, Change::Upsert(ticket("bob"))));
        }
    }

    #[test]
    fn same_second_deliveries_apply_in_arrival_order() {
        let store = PushedStore::new(10);
        assert!(store.apply("T-1", 100, Change::Upsert(ticket("alice"))));
        assert!(store.apply("T-1", 100, Change::Upsert(ticket("bob"))));
        let Some(Pushed::Ticket(latest)) = store.get("T-1") else {
            panic!("expected a ticket");
        };
        assert_eq!(latest.assignee, "bob");
    }
}
