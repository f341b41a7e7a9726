//! Why a field was not revealed in the clear: the stable codes that headers,
//! the ledger, logs and metrics spell.

use http::HeaderValue;

use super::BudgetExceeded;

/// Why a field was not revealed in the clear. Ordered so callers can collect them in sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

    /// The [`TICKET_HEADER`](super::TICKET_HEADER) value for a denial: `denied; reason=<as_str>`.
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
