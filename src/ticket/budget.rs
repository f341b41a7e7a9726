//! Disclosure budgets: how many distinct customers may be revealed in the clear.
//!
//! Two independent limits, both off (0) by default:
//!
//! - per agent, over a sliding hour: the customers the agent was shown in the clear
//!   during the last hour (a customer shown again stays counted, and costs nothing);
//! - per ticket, for as long as the ticket is in use: a ticket is about one customer,
//!   so a budget of 1 catches a ticket whose customer was swapped under it.
//!
//! A refusal records nothing, so a refused customer does not use up budget. State is
//! in memory: a restart starts every budget afresh.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, TimeDelta, Utc};

/// The agent window.
const WINDOW: TimeDelta = TimeDelta::hours(1);

/// A ticket unused this long is forgotten (its budget starts afresh).
const TICKET_IDLE: TimeDelta = TimeDelta::hours(24);

/// Expired state is swept once every this many admissions.
const SWEEP_EVERY: u32 = 4096;

/// `[budget]`: limits on distinct customers revealed in the clear.
#[derive(Debug, Clone, Default, serde::Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetConfig {
    /// Distinct customers one agent may see in the clear per sliding hour; 0 = unlimited.
    pub customers_per_agent_per_hour: u32,
    /// Distinct customers that may be seen in the clear under one ticket; 0 = unlimited.
    pub customers_per_ticket: u32,
}

/// Which limit refused a disclosure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetLimit {
    /// `customers_per_agent_per_hour`.
    AgentPerHour,
    /// `customers_per_ticket`.
    Ticket,
}

impl BudgetLimit {
    /// The config key of the limit, for the ledger and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            BudgetLimit::AgentPerHour => "customers_per_agent_per_hour",
            BudgetLimit::Ticket => "customers_per_ticket",
        }
    }
}

/// A new customer would exceed a disclosure budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("disclosure budget {} of {max} distinct customers exceeded", .limit.as_str())]
pub struct BudgetExceeded {
    /// The limit that refused.
    pub limit: BudgetLimit,
    /// Its configured value.
    pub max: u32,
}

/// Budget state shared by all requests; cheap to clone.
#[derive(Clone)]
pub struct Budgets {
    inner: Arc<Inner>,
}

struct Inner {
    per_agent_hour: u32,
    per_ticket: u32,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Agent → customer → last time shown in the clear.
    agents: HashMap<String, HashMap<String, DateTime<Utc>>>,
    tickets: HashMap<String, TicketUse>,
    admissions: u32,
}

struct TicketUse {
    customers: HashSet<String>,
    last_used: DateTime<Utc>,
}

impl Budgets {
    /// Budgets with the configured limits.
    pub fn new(cfg: &BudgetConfig) -> Budgets {
        Budgets {
            inner: Arc::new(Inner {
                per_agent_hour: cfg.customers_per_agent_per_hour,
                per_ticket: cfg.customers_per_ticket,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Called when the engine is about to reveal a clear value of `customer` under
    /// `ticket` to `agent`. Revealing more of an already-admitted customer is free; a
    /// new customer beyond either budget is refused and nothing is recorded.
    pub fn admit(
        &self,
        agent: &str,
        ticket: &str,
        customer: &str,
        now: DateTime<Utc>,
    ) -> Result<(), BudgetExceeded> {
        self.decide(agent, ticket, customer, now, true)
    }

    /// What [`Budgets::admit`] would answer now, without recording anything:
    /// for a value that may yet not be shown (a search result that may be hidden).
    pub fn check(
        &self,
        agent: &str,
        ticket: &str,
        customer: &str,
        now: DateTime<Utc>,
    ) -> Result<(), BudgetExceeded> {
        self.decide(agent, ticket, customer, now, false)
    }

    fn decide(
        &self,
        agent: &str,
        ticket: &str,
        customer: &str,
        now: DateTime<Utc>,
        record: bool,
    ) -> Result<(), BudgetExceeded> {
        let inner = &*self.inner;
        if inner.per_agent_hour == 0 && inner.per_ticket == 0 {
            return Ok(());
        }
        let mut state = self.lock();
        state.sweep_now_and_then(now);
        if inner.per_agent_hour > 0 {
            state.check_agent(agent, customer, inner.per_agent_hour, now)?;
        }
        if inner.per_ticket > 0 {
            state.check_ticket(ticket, customer, inner.per_ticket)?;
        }
        if record {
            state.record(inner, agent, ticket, customer, now);
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic elsewhere: every update is a
        // single insert, so recovering the guard is safe.
        match self.inner.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl State {
    fn check_agent(
        &mut self,
        agent: &str,
        customer: &str,
        max: u32,
        now: DateTime<Utc>,
    ) -> Result<(), BudgetExceeded> {
        let Some(seen) = self.agents.get_mut(agent) else {
            return Ok(());
        };
        seen.retain(|_, last| now - *last < WINDOW);
        if seen.contains_key(customer) || seen.len() < max as usize {
            return Ok(());
        }
        Err(BudgetExceeded {
            limit: BudgetLimit::AgentPerHour,
            max,
        })
    }

    fn check_ticket(&self, ticket: &str, customer: &str, max: u32) -> Result<(), BudgetExceeded> {
        let Some(used) = self.tickets.get(ticket) else {
            return Ok(());
        };
        if used.customers.contains(customer) || used.customers.len() < max as usize {
            return Ok(());
        }
        Err(BudgetExceeded {
            limit: BudgetLimit::Ticket,
            max,
        })
    }

    fn record(
        &mut self,
        inner: &Inner,
        agent: &str,
        ticket: &str,
        customer: &str,
        now: DateTime<Utc>,
    ) {
        if inner.per_agent_hour > 0 {
            self.agents
                .entry(agent.to_owned())
                .or_default()
                .insert(customer.to_owned(), now);
        }
        if inner.per_ticket > 0 {
            let used = self
                .tickets
                .entry(ticket.to_owned())
                .or_insert_with(|| TicketUse {
                    customers: HashSet::new(),
                    last_used: now,
                });
            used.customers.insert(customer.to_owned());
            used.last_used = now;
        }
    }

    /// Forgets agents with nothing in the window and tickets long unused, so memory
    /// follows the active population rather than everyone ever seen.
    fn sweep_now_and_then(&mut self, now: DateTime<Utc>) {
        self.admissions = self.admissions.wrapping_add(1);
        if self.admissions % SWEEP_EVERY != 0 {
            return;
        }
        self.agents.retain(|_, seen| {
            seen.retain(|_, last| now - *last < WINDOW);
            !seen.is_empty()
        });
        self.tickets
            .retain(|_, used| now - used.last_used < TICKET_IDLE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budgets(per_agent: u32, per_ticket: u32) -> Budgets {
        Budgets::new(&BudgetConfig {
            customers_per_agent_per_hour: per_agent,
            customers_per_ticket: per_ticket,
        })
    }

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + minutes * 60, 0).unwrap()
    }

    #[test]
    fn zero_means_unlimited() {
        let b = budgets(0, 0);
        for n in 0..1000 {
            b.admit("alice", "T-1", &format!("C-{n}"), at(0)).unwrap();
        }
    }

    #[test]
    fn agent_budget_refuses_a_new_customer_but_not_a_known_one() {
        let b = budgets(2, 0);
        b.admit("alice", "T-1", "C-1", at(0)).unwrap();
        b.admit("alice", "T-2", "C-2", at(1)).unwrap();
        let err = b.admit("alice", "T-3", "C-3", at(2)).unwrap_err();
        assert_eq!(err.limit, BudgetLimit::AgentPerHour);
        assert_eq!(err.max, 2);
        b.admit("alice", "T-1", "C-1", at(3)).unwrap();
        b.admit("bob", "T-3", "C-3", at(3)).unwrap();
    }

    #[test]
    fn agent_window_slides() {
        let b = budgets(1, 0);
        b.admit("alice", "T-1", "C-1", at(0)).unwrap();
        assert!(b.admit("alice", "T-2", "C-2", at(59)).is_err());
        b.admit("alice", "T-2", "C-2", at(60)).unwrap();
    }

    #[test]
    fn showing_a_customer_again_keeps_it_in_the_window() {
        let b = budgets(1, 0);
        b.admit("alice", "T-1", "C-1", at(0)).unwrap();
        b.admit("alice", "T-1", "C-1", at(50)).unwrap();
        assert!(b.admit("alice", "T-2", "C-2", at(70)).is_err());
        b.admit("alice", "T-2", "C-2", at(110)).unwrap();
    }

    #[test]
    fn ticket_budget_spans_agents() {
        let b = budgets(0, 1);
        b.admit("alice", "T-1", "C-1", at(0)).unwrap();
        b.admit("bob", "T-1", "C-1", at(1)).unwrap();
        let err = b.admit("bob", "T-1", "C-2", at(2)).unwrap_err();
        assert_eq!(err.limit, BudgetLimit::Ticket);
        b.admit("bob", "T-2", "C-2", at(2)).unwrap();
    }

    #[test]
    fn a_refusal_uses_no_budget() {
        let b = budgets(2, 1);
        b.admit("alice", "T-1", "C-1", at(0)).unwrap();
        // Refused by the ticket limit: must not count against alice's hour.
        assert!(b.admit("alice", "T-1", "C-2", at(1)).is_err());
        b.admit("alice", "T-2", "C-3", at(2)).unwrap();
        let err = b.admit("alice", "T-3", "C-4", at(3)).unwrap_err();
        assert_eq!(err.limit, BudgetLimit::AgentPerHour);
    }

    #[test]
    fn a_check_answers_as_admit_would_and_records_nothing() {
        let b = budgets(1, 0);
        b.check("alice", "T-1", "C-1", at(0)).unwrap();
        b.check("alice", "T-1", "C-2", at(0)).unwrap();
        b.admit("alice", "T-1", "C-2", at(1)).unwrap();
        assert_eq!(
            b.check("alice", "T-1", "C-1", at(2)).unwrap_err().limit,
            BudgetLimit::AgentPerHour
        );
        b.check("alice", "T-1", "C-2", at(2)).unwrap();
    }

    #[test]
    fn sweeping_forgets_only_expired_state() {
        let b = budgets(1, 1);
        b.admit("alice", "T-1", "C-1", at(0)).unwrap();
        for n in 0..SWEEP_EVERY {
            b.admit(&format!("agent-{n}"), &format!("T-x{n}"), "C-9", at(30))
                .unwrap();
        }
        assert!(b.admit("alice", "T-2", "C-2", at(31)).is_err());
        assert!(b.admit("carol", "T-1", "C-5", at(31)).is_err());
    }
}
