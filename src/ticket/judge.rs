//! Whether a request's ticket justifies revealing a field of a record.
//!
//! Two levels, because a list response mixes customers: [`TicketContext::resolve`]
//! runs the checks that depend only on the request (the ticket exists, is assigned to
//! the agent, is live), once per request; [`TicketContext::justifies`] runs the checks
//! that depend on the record and the field (its customer, the rule's categories).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use http::{HeaderName, HeaderValue};

use super::{DenyReason, Lookup, Ticket, TicketStatus, Tickets};

/// The response header that says what the ticket did for this response.
pub const TICKET_HEADER: HeaderName = HeaderName::from_static("keyhole-ticket");

/// Longest ticket id looked up; anything longer cannot be a real id.
const MAX_ID_LEN: usize = 128;

/// The request-level view of `X-Ticket-Id` for one agent, computed once per request.
#[derive(Debug, Clone)]
pub struct TicketContext {
    id: Option<String>,
    verdict: Verdict,
}

#[derive(Debug, Clone)]
enum Verdict {
    NoTicket,
    Denied(DenyReason),
    Live(Arc<Ticket>),
}

impl TicketContext {
    /// A request without `X-Ticket-Id`.
    pub fn none() -> TicketContext {
        TicketContext {
            id: None,
            verdict: Verdict::NoTicket,
        }
    }

    /// Looks the ticket up (every request, so revocations reach open connections)
    /// and runs the request-level checks for `agent` at `now`.
    pub async fn resolve(
        tickets: &Tickets,
        ticket_id: Option<&str>,
        agent: &str,
        now: DateTime<Utc>,
        allow_pending: bool,
    ) -> TicketContext {
        let Some(id) = ticket_id.map(str::trim).filter(|id| !id.is_empty()) else {
            return TicketContext::none();
        };
        if !plausible_id(id) {
            return TicketContext::denied(id, DenyReason::UnknownTicket);
        }
        let lookup = tickets.lookup(id).await;
        TicketContext::from_lookup(id, lookup, agent, now, allow_pending)
    }

    /// The request-level checks on an already looked-up ticket.
    pub fn from_lookup(
        id: &str,
        lookup: Lookup,
        agent: &str,
        now: DateTime<Utc>,
        allow_pending: bool,
    ) -> TicketContext {
        let ticket = match lookup {
            Lookup::Found(ticket) => ticket,
            Lookup::NotFound => return TicketContext::denied(id, DenyReason::UnknownTicket),
            Lookup::Unavailable => return TicketContext::denied(id, DenyReason::TicketUnavailable),
        };
        match live_for(&ticket, agent, now, allow_pending) {
            Ok(()) => TicketContext {
                id: Some(id.to_owned()),
                verdict: Verdict::Live(ticket),
            },
            Err(reason) => TicketContext::denied(id, reason),
        }
    }

    fn denied(id: &str, reason: DenyReason) -> TicketContext {
        TicketContext {
            id: Some(id.to_owned()),
            verdict: Verdict::Denied(reason),
        }
    }

    /// The id the request named, whether or not it passed.
    pub fn ticket_id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Whether the id named a ticket the source knows (live or not). An id
    /// nobody knows may be anything an agent typed, a customer's value
    /// included, so it is not written anywhere as it is.
    pub fn names_a_known_ticket(&self) -> bool {
        !matches!(
            self.verdict,
            Verdict::NoTicket
                | Verdict::Denied(DenyReason::UnknownTicket | DenyReason::TicketUnavailable)
        )
    }

    /// The ticket, only when it passed the request-level checks.
    pub fn ticket(&self) -> Option<&Ticket> {
        match &self.verdict {
            Verdict::Live(ticket) => Some(ticket),
            _ => None,
        }
    }

    /// Per record and per field: `Ok` if this ticket justifies revealing a field whose
    /// rule lists `justify` categories, in a record belonging to `customer`.
    pub fn justifies(&self, customer: &str, justify: &[String]) -> Result<(), DenyReason> {
        let ticket = match &self.verdict {
            Verdict::Live(ticket) => ticket,
            Verdict::NoTicket => return Err(DenyReason::NoTicket),
            Verdict::Denied(reason) => return Err(*reason),
        };
        // An unknown owner (empty) never matches, even a ticket with an empty customer.
        if customer.is_empty() || ticket.customer_id != customer {
            return Err(DenyReason::WrongCustomer);
        }
        if !justify.iter().any(|category| *category == ticket.category) {
            return Err(DenyReason::WrongCategory);
        }
        Ok(())
    }

    /// Why the named ticket justifies nothing at all in this request (unknown,
    /// unavailable, not the agent's, closed, pending, expired). `None` when it passed,
    /// and when no ticket was named: working without a ticket is not a ticket failure.
    pub fn request_denial(&self) -> Option<DenyReason> {
        match &self.verdict {
            Verdict::Live(_) | Verdict::NoTicket => None,
            Verdict::Denied(reason) => Some(*reason),
        }
    }

    /// The [`TICKET_HEADER`] value for the request-level outcome: `none`, `granted`,
    /// or `denied; reason=<reason>`. Per-record denials are for the caller to report.
    pub fn header_value(&self) -> HeaderValue {
        match &self.verdict {
            Verdict::NoTicket => HeaderValue::from_static("none"),
            Verdict::Live(_) => HeaderValue::from_static("granted"),
            Verdict::Denied(reason) => reason.header_value(),
        }
    }
}

/// Assignment is checked first so an agent probing someone else's ticket learns
/// nothing about its status or expiry.
fn live_for(
    ticket: &Ticket,
    agent: &str,
    now: DateTime<Utc>,
    allow_pending: bool,
) -> Result<(), DenyReason> {
    if agent.is_empty() || ticket.assignee != agent {
        return Err(DenyReason::NotAssignee);
    }
    match ticket.status {
        TicketStatus::Open => {}
        TicketStatus::Pending if allow_pending => {}
        TicketStatus::Pending => return Err(DenyReason::Pending),
        TicketStatus::Closed => return Err(DenyReason::Closed),
    }
    if ticket.expires_at.is_some_and(|expires| expires <= now) {
        return Err(DenyReason::Expired);
    }
    Ok(())
}

/// Visible ASCII only, bounded: anything else is refused before reaching a source.
fn plausible_id(id: &str) -> bool {
    id.len() <= MAX_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGENT: &str = "alice";
    const CUSTOMER: &str = "C-1";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600, 0).unwrap()
    }

    fn ticket(status: TicketStatus) -> Ticket {
        Ticket {
            id: "T-1".into(),
            status,
            assignee: AGENT.into(),
            customer_id: CUSTOMER.into(),
            category: "hardware".into(),
            expires_at: Some(now() + chrono::TimeDelta::hours(1)),
        }
    }

    fn judge(ticket: Ticket, allow_pending: bool) -> TicketContext {
        let lookup = Lookup::Found(Arc::new(ticket));
        TicketContext::from_lookup("T-1", lookup, AGENT, now(), allow_pending)
    }

    fn verdict(ctx: &TicketContext) -> Result<(), DenyReason> {
        ctx.justifies(CUSTOMER, &["warranty".into(), "hardware".into()])
    }

    #[test]
    fn open_ticket_justifies_its_customer_and_category() {
        let ctx = judge(ticket(TicketStatus::Open), false);
        assert_eq!(verdict(&ctx), Ok(()));
        assert_eq!(ctx.request_denial(), None);
        assert_eq!(ctx.ticket().map(|t| t.id.as_str()), Some("T-1"));
        assert_eq!(ctx.header_value(), "granted");
    }

    #[test]
    fn pending_ticket_depends_on_config() {
        let refused = judge(ticket(TicketStatus::Pending), false);
        assert_eq!(verdict(&refused), Err(DenyReason::Pending));
        assert!(refused.ticket().is_none());
        let allowed = judge(ticket(TicketStatus::Pending), true);
        assert_eq!(verdict(&allowed), Ok(()));
    }

    #[test]
    fn closed_ticket_justifies_nothing() {
        let ctx = judge(ticket(TicketStatus::Closed), true);
        assert_eq!(verdict(&ctx), Err(DenyReason::Closed));
        assert_eq!(ctx.request_denial(), Some(DenyReason::Closed));
        assert_eq!(ctx.header_value(), "denied; reason=closed");
    }

    #[test]
    fn expired_ticket_justifies_nothing_even_at_the_instant() {
        let mut t = ticket(TicketStatus::Open);
        t.expires_at = Some(now());
        assert_eq!(verdict(&judge(t, false)), Err(DenyReason::Expired));
    }

    #[test]
    fn ticket_without_expiry_does_not_expire() {
        let mut t = ticket(TicketStatus::Open);
        t.expires_at = None;
        assert_eq!(verdict(&judge(t, false)), Ok(()));
    }

    #[test]
    fn reassigned_ticket_is_not_the_agents() {
        let mut t = ticket(TicketStatus::Open);
        t.assignee = "bob".into();
        let ctx = judge(t, false);
        assert_eq!(verdict(&ctx), Err(DenyReason::NotAssignee));
        assert_eq!(ctx.header_value(), "denied; reason=not-assignee");
    }

    #[test]
    fn someone_elses_closed_ticket_says_only_not_assignee() {
        let mut t = ticket(TicketStatus::Closed);
        t.assignee = "bob".into();
        assert_eq!(verdict(&judge(t, false)), Err(DenyReason::NotAssignee));
    }

    #[test]
    fn empty_agent_never_matches() {
        let mut t = ticket(TicketStatus::Open);
        t.assignee = String::new();
        let lookup = Lookup::Found(Arc::new(t));
        let ctx = TicketContext::from_lookup("T-1", lookup, "", now(), false);
        assert_eq!(verdict(&ctx), Err(DenyReason::NotAssignee));
    }

    #[test]
    fn other_customers_records_are_not_justified() {
        let ctx = judge(ticket(TicketStatus::Open), false);
        let justify = ["hardware".to_string()];
        assert_eq!(
            ctx.justifies("C-2", &justify),
            Err(DenyReason::WrongCustomer)
        );
        assert_eq!(ctx.justifies("", &justify), Err(DenyReason::WrongCustomer));
        assert_eq!(ctx.request_denial(), None);
    }

    #[test]
    fn fields_of_other_categories_are_not_justified() {
        let ctx = judge(ticket(TicketStatus::Open), false);
        let justify = ["account".to_string()];
        assert_eq!(
            ctx.justifies(CUSTOMER, &justify),
            Err(DenyReason::WrongCategory)
        );
        assert_eq!(ctx.justifies(CUSTOMER, &[]), Err(DenyReason::WrongCategory));
    }

    #[test]
    fn unknown_id_is_denied() {
        let ctx = TicketContext::from_lookup("T-9", Lookup::NotFound, AGENT, now(), false);
        assert_eq!(verdict(&ctx), Err(DenyReason::UnknownTicket));
        assert_eq!(ctx.ticket_id(), Some("T-9"));
        assert!(ctx.ticket().is_none());
    }

    #[test]
    fn unavailable_source_fails_closed() {
        let ctx = TicketContext::from_lookup("T-1", Lookup::Unavailable, AGENT, now(), true);
        assert_eq!(verdict(&ctx), Err(DenyReason::TicketUnavailable));
        assert_eq!(ctx.header_value(), "denied; reason=ticket-unavailable");
    }

    #[test]
    fn no_ticket_is_denied() {
        let ctx = TicketContext::none();
        assert_eq!(verdict(&ctx), Err(DenyReason::NoTicket));
        assert_eq!(ctx.request_denial(), None);
        assert_eq!(ctx.ticket_id(), None);
        assert_eq!(ctx.header_value(), "none");
    }

    #[test]
    fn header_values_spell_the_reason() {
        let all = [
            DenyReason::NoTicket,
            DenyReason::UnknownTicket,
            DenyReason::TicketUnavailable,
            DenyReason::Closed,
            DenyReason::Pending,
            DenyReason::Expired,
            DenyReason::NotAssignee,
            DenyReason::WrongCustomer,
            DenyReason::WrongCategory,
            DenyReason::BudgetExceeded,
        ];
        for reason in all {
            let expected = format!("denied; reason={}", reason.as_str());
            assert_eq!(reason.header_value(), expected.as_str());
        }
    }

    #[test]
    fn implausible_ids_are_refused_before_lookup() {
        assert!(plausible_id("INC-0012345"));
        assert!(!plausible_id("T 1"));
        assert!(!plausible_id("T\u{e9}"));
        assert!(!plausible_id(&"x".repeat(MAX_ID_LEN + 1)));
    }
}
