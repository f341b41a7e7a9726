//! Tickets for the tooling: looked up through the config's real ticket source
//! (file or HTTP API), so `policy test` and `policy explain` judge a ticket
//! exactly as the gateway would.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::runtime::Runtime;

use crate::ticket::{Lookup, Ticket, TicketContext, TicketSourceError, Tickets, TicketsConfig};

/// Why the ticket source could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TicketToolError {
    /// The runtime the sources need could not be started.
    #[error("cannot start the ticket lookup runtime: {0}")]
    Runtime(#[from] std::io::Error),
    /// The configured source cannot be opened.
    #[error(transparent)]
    Source(#[from] TicketSourceError),
}

/// The config's ticket source, opened on first use.
pub struct TicketSource {
    config: TicketsConfig,
    runtime: Option<Runtime>,
    tickets: Option<Tickets>,
}

impl TicketSource {
    /// A source for `config`; nothing is opened until a ticket is looked up by id.
    pub fn new(config: &TicketsConfig) -> TicketSource {
        TicketSource {
            config: config.clone(),
            runtime: None,
            tickets: None,
        }
    }

    /// The request-level view of ticket `id` for `agent` at `now`, as the gateway computes it.
    pub fn context(
        &mut self,
        id: Option<&str>,
        agent: &str,
        now: DateTime<Utc>,
    ) -> Result<TicketContext, TicketToolError> {
        let Some(id) = id else {
            return Ok(TicketContext::none());
        };
        let runtime = match self.runtime.take() {
            Some(runtime) => runtime,
            None => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        };
        let runtime = self.runtime.insert(runtime);
        let tickets = match self.tickets.take() {
            Some(tickets) => tickets,
            None => runtime.block_on(Tickets::open(&self.config))?,
        };
        let tickets = self.tickets.insert(tickets);
        let allow_pending = self.config.allow_pending;
        Ok(runtime.block_on(TicketContext::resolve(
            tickets,
            Some(id),
            agent,
            now,
            allow_pending,
        )))
    }

    /// The request-level view of a ticket written out in full (a test case's inline ticket).
    pub fn inline(&self, ticket: &Ticket, agent: &str, now: DateTime<Utc>) -> TicketContext {
        let lookup = Lookup::Found(Arc::new(ticket.clone()));
        TicketContext::from_lookup(&ticket.id, lookup, agent, now, self.config.allow_pending)
    }
}

impl Drop for TicketSource {
    fn drop(&mut self) {
        if let Some(tickets) = &self.tickets {
            tickets.shutdown();
        }
    }
}
