//! Whether a request's ticket justifies revealing a field of a record.
//!
//! Two levels, because a list response mixes customers: [`TicketContext::resolve`]
//! runs the checks that depend only on the request (the ticket exists, is assigned to
//! the agent, is live), once per request; [`TicketContext::justifies`] runs the checks
//! that depend on the record and the field (its customer, the rule's categories).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use http::{HeaderName, HeaderValue};

use super::{BudgetExceeded, Lookup, Ticket, TicketStatus, Tickets};

/// The response header that says what the ticket did for this response.
pub const TICKET_HEADER: HeaderName = HeaderName::from_static("keyhole-ticket");

/// Longest ticket id looked up; anything longer cannot be a real id.
const MAX_ID_LEN: usize = 128;

/// Why a field was not revealed in the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// The request carried no `X-Ticket-Id`.
    NoTicket,
    /// No such ticket (or the id is not a plausible ticket id).
    UnknownTicket,
    /// The ticket source could not answer (fail closed).
    TicketUnavailable,
    /// The ticket is closed.
    Closed,
    /// The ticket is pending and pending tickets do not justify disclosure.
    Pending,
    /// The ticket's `expires_at` has passed.
    Expired,
    /// The ticket is assigned to someone else.
    NotAssignee,
    /// The record belongs to another customer than the ticket's.
    WrongCustomer,
    /// The field's rule does not list the ticket's category.
    WrongCategory,
    /// The agent or ticket has used up its disclosure budget.
    BudgetExceeded,
}

impl DenyReason {
    /// The kebab-case name used in headers, the ledger and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            DenyReason::NoTicket => "no-ticket",
            DenyReason::UnknownTicket => "unknown-ticket",
            DenyReason::TicketUnavailable => "ticket-unavailable",
            DenyReason::Closed => "closed",
            DenyReason::Pending => "pending",
            DenyReason::Expired => "expired",
            DenyReason::NotAssignee => "not-assignee",
            DenyReason::WrongCustomer => "wrong-customer",
            DenyReason::WrongCategory => "wrong-category",
            DenyReason::BudgetExceeded => "budget-exceeded",
        }
    }

    /// The [`TICKET_HEADER`] value for a denial: `denied; reason=<as_str>`.
    pub fn header_value(&self) -> HeaderValue {
        HeaderValue::from_static(match self {
            DenyReason::NoTicket => "denied; reason=no-ticket",
            DenyReason::UnknownTicket => "denied; reason=unknown-ticket",
            DenyReason::TicketUnavailable => "denied; reason=ticket-unavailable",
            DenyReason::Closed => "denied; reason=closed",
            DenyReason::Pending => "denied; reason=pending",
            DenyReason::Expired => "denied; reason=expired",
            DenyReason::NotAssignee => "denied; reason=not-assignee",
            DenyReason::WrongCustomer => "denied; reason=wrong-customer",
            DenyReason::WrongCategory => "denied; reason=wrong-category",
            DenyReason::BudgetExceeded => "denied; reason=budget-exceeded",
        })
    }
}

impl std::fmt::Display for DenyReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<BudgetExceeded> for DenyReason {
    fn from(_: BudgetExceeded) -> Self {
        DenyReason::BudgetExceeded
    }
}

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

    /// Why the ticket justifies nothing at all in this request, if it does not.
    pub fn request_denial(&self) -> Option<DenyReason> {
        match &self.verdict {
            Verdict::Live(_) => None,
            Verdict::NoTicket => Some(DenyReason::NoTicket),
            Verdict::Denied(reason) => Some(*reason),
        }
    }

    /// The [`TICKET_HEADER`] value for the request-level outcome: `none`, `accepted`,
    /// or `denied; reason=<reason>`. Per-record denials are for the caller to report.
    pub fn header_value(&self) -> HeaderValue {
        match &self.verdict {
            Verdict::NoTicket => HeaderValue::from_static("none"),
            Verdict::Live(_) => HeaderValue::from_static("accepted"),
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
