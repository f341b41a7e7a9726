//! Tickets: where they come from, and whether one justifies a disclosure.
//!
//! A ticket is looked up on every request (never per connection), so a close or a
//! reassignment reaches connections that are already open. Three sources feed it:
//!
//! - [`file`](mod@file): a JSON or TOML list, reloaded when it changes (the demo's default);
//! - [`api`]: the ticketing system's API, cached briefly; unreachable means "not
//!   justified", never "allowed";
//! - [`webhook`]: signed pushes from the ticketing system, which win over the other
//!   two and take effect at once.
//!
//! [`judge`] turns a lookup into a per-request [`TicketContext`] and answers, record
//! by record, whether the ticket justifies a field. [`budget`] caps how many distinct
//! customers an agent (and a ticket) may see in the clear. [`DenyReason`] names why
//! something stayed hidden.

pub mod api;
pub mod budget;
pub mod config;
mod deny;
pub mod file;
pub mod judge;
pub mod pushed;
pub mod secret;
pub mod webhook;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

pub use budget::{BudgetConfig, BudgetExceeded, BudgetLimit, Budgets};
pub use config::{HttpSourceConfig, SourceKind, TicketsConfig};
pub use deny::DenyReason;
pub use judge::{TicketContext, TICKET_HEADER};
pub use secret::generate_secret_file;
pub use webhook::{
    sign_webhook, WebhookAccepted, WebhookEventKind, WebhookRefused, SIGNATURE_HEADER,
    WEBHOOK_MAX_BODY,
};

use api::ApiSource;
use file::FileSource;
use pushed::{Pushed, PushedStore};
use webhook::Webhook;

/// A support ticket, as the ticketing system describes it. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Ticket {
    /// The ticketing system's identifier, sent by agents in `X-Ticket-Id`.
    pub id: String,
    /// Where the ticket is in its life; only `open` (and `pending` if allowed) justifies.
    pub status: TicketStatus,
    /// The agent (`sub` of the JWT) the ticket is assigned to.
    pub assignee: String,
    /// The one customer whose records the ticket is about.
    pub customer_id: String,
    /// What kind of work it is; field rules list the categories that justify them.
    pub category: String,
    /// After this instant the ticket justifies nothing, whatever its status.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// The life-cycle states the ticketing system reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketStatus {
    /// Being worked: justifies disclosure.
    Open,
    /// Waiting on someone: justifies only when `tickets.allow_pending` is set.
    Pending,
    /// Done: justifies nothing.
    Closed,
}

/// The answer to "what is ticket X right now?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The ticket as currently known.
    Found(Arc<Ticket>),
    /// No such ticket (or it was deleted).
    NotFound,
    /// The source could not answer; callers must treat this as "not justified".
    Unavailable,
}

/// Why the ticket sources could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum TicketSourceError {
    /// The tickets file is missing or invalid at startup.
    #[error(transparent)]
    File(#[from] file::FileError),
    /// The HTTP client for the ticketing API could not be built.
    #[error(transparent)]
    Api(#[from] api::ApiSetupError),
    /// The webhook secret file is unreadable or too weak.
    #[error("tickets.webhook_secret_file {path}: {reason}")]
    WebhookSecret {
        /// The secret file (its path only, never its content).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// The ticket sources behind one handle; cheap to clone, shared by all requests.
#[derive(Clone)]
pub struct Tickets {
    inner: Arc<Inner>,
}

struct Inner {
    source: Source,
    pushed: PushedStore,
    webhook: Option<Webhook>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

enum Source {
    File(Arc<FileSource>),
    Api(Box<ApiSource>),
}

impl Tickets {
    /// Opens the configured source (refusing to start on a missing or bad tickets
    /// file) and, for a file source, starts watching it for changes.
    pub async fn open(cfg: &TicketsConfig) -> Result<Tickets, TicketSourceError> {
        let mut tasks = Vec::new();
        let source = match cfg.source {
            SourceKind::File => {
                let file = Arc::new(FileSource::load(&cfg.file)?);
                // Clamped as `validate` does: a zero interval would make tokio panic.
                let every = std::time::Duration::from_millis(cfg.reload_interval_ms.max(10));
                tasks.push(file::spawn_watcher(Arc::downgrade(&file), every));
                Source::File(file)
            }
            SourceKind::Http => Source::Api(Box::new(ApiSource::new(&cfg.http)?)),
        };
        let webhook = match &cfg.webhook_secret_file {
            Some(path) => Some(Webhook::from_secret_file(path, cfg.webhook_max_skew_secs)?),
            None => None,
        };
        Ok(Tickets {
            inner: Arc::new(Inner {
                source,
                pushed: PushedStore::new(cfg.webhook_max_tickets.max(1)),
                webhook,
                tasks: Mutex::new(tasks),
            }),
        })
    }

    /// The ticket as known right now: pushed (webhook) state wins over the source.
    pub async fn lookup(&self, id: &str) -> Lookup {
        match self.inner.pushed.get(id) {
            Some(Pushed::Ticket(ticket)) => return Lookup::Found(ticket),
            Some(Pushed::Deleted) => return Lookup::NotFound,
            Some(Pushed::Closed) => return self.closed_view(id).await,
            None => {}
        }
        self.source_lookup(id).await
    }

    /// A ticket closed by a push that carried only its id: the source supplies the
    /// rest, the push supplies the status.
    async fn closed_view(&self, id: &str) -> Lookup {
        match self.source_lookup(id).await {
            Lookup::Found(ticket) => {
                let mut closed = Ticket::clone(&ticket);
                closed.status = TicketStatus::Closed;
                Lookup::Found(Arc::new(closed))
            }
            other => other,
        }
    }

    async fn source_lookup(&self, id: &str) -> Lookup {
        match &self.inner.source {
            Source::File(file) => file.lookup(id),
            // Boxed: the API's cached fetch is a large future, and every
            // request's future would otherwise carry room for it.
            Source::Api(api) => Box::pin(api.lookup(id)).await,
        }
    }

    /// Handles one webhook delivery (the admin listener's `POST`), using the clock.
    pub fn webhook(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<WebhookAccepted, WebhookRefused> {
        self.webhook_at(headers, body, Utc::now())
    }

    /// [`Tickets::webhook`] with an explicit clock, for replaying deliveries in tests.
    pub fn webhook_at(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<WebhookAccepted, WebhookRefused> {
        let webhook = self
            .inner
            .webhook
            .as_ref()
            .ok_or(WebhookRefused::Disabled)?;
        let event = webhook.verify(headers, body, now)?;
        let applied = self
            .inner
            .pushed
            .apply(&event.id, event.sent_at, event.change);
        if applied {
            self.forget_cached(&event.id);
        }
        tracing::info!(ticket = %event.id, event = event.kind.as_str(), applied, "ticket change pushed");
        Ok(WebhookAccepted {
            kind: event.kind,
            ticket_id: event.id,
            applied,
        })
    }

    /// Drops a pulled copy of a ticket a push just changed. The pushed state already
    /// wins over it; dropping it keeps a later eviction from resurfacing old data.
    fn forget_cached(&self, id: &str) {
        if let Source::Api(api) = &self.inner.source {
            api.forget(id);
        }
    }

    /// Whether deliveries to the webhook can be accepted (a secret is configured).
    pub fn webhook_enabled(&self) -> bool {
        self.inner.webhook.is_some()
    }

    /// Stops the background tasks (the file watcher). Lookups keep answering from
    /// the last state.
    pub fn shutdown(&self) {
        let tasks = match self.inner.tasks.lock() {
            Ok(mut tasks) => std::mem::take(&mut *tasks),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for task in tasks {
            task.abort();
        }
    }
}
