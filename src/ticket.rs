//! Tickets (interface placeholder until the ticket sources land).
#![allow(missing_docs, dead_code)]
pub mod budget;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use std::sync::Arc;
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Ticket {
    pub id: String,
    pub status: TicketStatus,
    pub assignee: String,
    pub customer_id: String,
    pub category: String,
    pub expires_at: Option<DateTime<Utc>>,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketStatus {
    Open,
    Pending,
    Closed,
}
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct TicketsConfig {
    pub file: PathBuf,
    pub webhook_secret_file: Option<PathBuf>,
    pub allow_pending: bool,
    pub categories: Vec<String>,
}
impl TicketsConfig {
    pub fn resolve_paths(&mut self, base: &Path) {
        self.file = crate::config::resolve_path(base, &self.file);
    }
    pub fn validate(&self) -> Result<(), crate::config::Invalid> {
        Ok(())
    }
}
#[derive(Debug, thiserror::Error)]
#[error("ticket source")]
pub struct TicketSourceError;
#[derive(Debug, thiserror::Error)]
#[error("webhook refused")]
pub struct WebhookRefused;
impl WebhookRefused {
    pub fn code(&self) -> &'static str {
        "webhook-refused"
    }
}
pub struct WebhookAccepted;
pub enum Lookup {
    Found(Arc<Ticket>),
    NotFound,
    Unavailable,
}
#[derive(Clone)]
pub struct Tickets {
    list: Arc<Vec<Ticket>>,
}
impl Tickets {
    pub async fn open(cfg: &TicketsConfig) -> Result<Tickets, TicketSourceError> {
        let t = std::fs::read(&cfg.file).map_err(|_| TicketSourceError)?;
        Ok(Tickets {
            list: Arc::new(serde_json::from_slice(&t).map_err(|_| TicketSourceError)?),
        })
    }
    pub async fn lookup(&self, id: &str) -> Lookup {
        match self.list.iter().find(|t| t.id == id) {
            Some(t) => Lookup::Found(Arc::new(t.clone())),
            None => Lookup::NotFound,
        }
    }
    pub fn webhook(
        &self,
        _h: &http::HeaderMap,
        _b: &[u8],
    ) -> Result<WebhookAccepted, WebhookRefused> {
        Err(WebhookRefused)
    }
    pub fn shutdown(&self) {}
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DenyReason {
    NoTicket,
    UnknownTicket,
    TicketUnavailable,
    Closed,
    Pending,
    Expired,
    NotAssignee,
    WrongCustomer,
    WrongCategory,
    BudgetExceeded,
}
impl DenyReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::NoTicket => "no-ticket",
            Self::UnknownTicket => "unknown-ticket",
            Self::TicketUnavailable => "ticket-unavailable",
            Self::Closed => "closed",
            Self::Pending => "pending",
            Self::Expired => "expired",
            Self::NotAssignee => "not-assignee",
            Self::WrongCustomer => "wrong-customer",
            Self::WrongCategory => "wrong-category",
            Self::BudgetExceeded => "budget-exceeded",
        }
    }
}
pub struct TicketContext {
    id: Option<String>,
    verdict: Result<Arc<Ticket>, DenyReason>,
}
impl TicketContext {
    pub fn none() -> TicketContext {
        TicketContext {
            id: None,
            verdict: Err(DenyReason::NoTicket),
        }
    }
    pub async fn resolve(
        tickets: &Tickets,
        ticket_id: Option<&str>,
        agent: &str,
        now: DateTime<Utc>,
        allow_pending: bool,
    ) -> TicketContext {
        let Some(id) = ticket_id else {
            return Self::none();
        };
        let verdict = match tickets.lookup(id).await {
            Lookup::Found(t) => {
                if t.assignee != agent {
                    Err(DenyReason::NotAssignee)
                } else if t.status == TicketStatus::Closed {
                    Err(DenyReason::Closed)
                } else if t.status == TicketStatus::Pending && !allow_pending {
                    Err(DenyReason::Pending)
                } else if t.expires_at.is_some_and(|e| e <= now) {
                    Err(DenyReason::Expired)
                } else {
                    Ok(t)
                }
            }
            Lookup::NotFound => Err(DenyReason::UnknownTicket),
            Lookup::Unavailable => Err(DenyReason::TicketUnavailable),
        };
        TicketContext {
            id: Some(id.to_string()),
            verdict,
        }
    }
    pub fn ticket_id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    pub fn ticket(&self) -> Option<&Ticket> {
        self.verdict.as_ref().ok().map(|t| t.as_ref())
    }
    pub fn justifies(&self, customer: &str, justify: &[String]) -> Result<(), DenyReason> {
        let t = self.verdict.as_ref().map_err(|r| *r)?;
        if t.customer_id != customer {
            return Err(DenyReason::WrongCustomer);
        }
        if !justify.contains(&t.category) {
            return Err(DenyReason::WrongCategory);
        }
        Ok(())
    }
    pub fn request_denial(&self) -> Option<DenyReason> {
        match (&self.id, &self.verdict) {
            (Some(_), Err(r)) => Some(*r),
            _ => None,
        }
    }
}
pub fn generate_secret_file(path: &Path) -> std::io::Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p)?;
    }
    std::fs::write(path, "00112233")
}
