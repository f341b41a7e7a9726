//! The HTTP ticket source against a real ticketing API on a loopback socket.

#[path = "support/ticket.rs"]
mod support;

use std::time::Duration;

use hyper::StatusCode;
use keyhole::ticket::{Lookup, TicketStatus, Tickets, TicketsConfig};
use support::{eventually, ticket, FakeApi, Reply};

fn config(url: &str) -> TicketsConfig {
    let text = format!(
        "source = \"http\"\n[http]\nurl = \"{url}\"\ntimeout_ms = 300\ncache_ttl_ms = 30000\nnegative_ttl_ms = 30000\n"
    );
    let cfg: TicketsConfig = toml::from_str(&text).unwrap();
    cfg.validate().unwrap();
    cfg
}

async fn open(cfg: &TicketsConfig) -> Tickets {
    Tickets::open(cfg).await.unwrap()
}

fn found_status(lookup: &Lookup) -> Option<TicketStatus> {
    match lookup {
        Lookup::Found(ticket) => Some(ticket.status),
        _ => None,
    }
}

#[tokio::test]
async fn found_ticket_is_fetched_once_and_cached() {
    let api = FakeApi::default();
    api.serve(&ticket("T-1", TicketStatus::Open, "alice"));
    let tickets = open(&config(&api.start().await)).await;

    let Lookup::Found(found) = tickets.lookup("T-1").await else {
        panic!("expected the ticket");
    };
    assert_eq!(found.assignee, "alice");
    assert_eq!(found.customer_id, "C-1");
    assert!(matches!(tickets.lookup("T-1").await, Lookup::Found(_)));
    assert_eq!(api.hits(), 1);
    assert_eq!(api.paths(), vec!["/tickets/T-1".to_string()]);
}

#[tokio::test]
async fn unknown_ticket_is_not_found_and_cached_negatively() {
    let api = FakeApi::default();
    let tickets = open(&config(&api.start().await)).await;

    assert_eq!(tickets.lookup("T-404").await, Lookup::NotFound);
    assert_eq!(tickets.lookup("T-404").await, Lookup::NotFound);
    assert_eq!(api.hits(), 1);
}

#[tokio::test]
async fn unreachable_api_is_unavailable() {
    // Bind then drop, so the port is (very likely) closed: connections are refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let tickets = open(&config(&format!("http://{addr}/tickets"))).await;

    assert_eq!(tickets.lookup("T-1").await, Lookup::Unavailable);
}

#[tokio::test]
async fn slow_api_is_unavailable_after_the_timeout() {
    let api = FakeApi::default();
    api.serve(&ticket("T-1", TicketStatus::Open, "alice"));
    api.slow_down(Duration::from_secs(30));
    let tickets = open(&config(&api.start().await)).await;

    assert_eq!(tickets.lookup("T-1").await, Lookup::Unavailable);
}

#[tokio::test]
async fn failures_are_not_cached() {
    let api = FakeApi::default();
    api.reply("T-1", Reply::Status(StatusCode::INTERNAL_SERVER_ERROR));
    let tickets = open(&config(&api.start().await)).await;

    assert_eq!(tickets.lookup("T-1").await, Lookup::Unavailable);
    api.serve(&ticket("T-1", TicketStatus::Open, "alice"));
    assert!(matches!(tickets.lookup("T-1").await, Lookup::Found(_)));
    assert_eq!(api.hits(), 2);
}

#[tokio::test]
async fn answers_that_are_not_the_asked_ticket_are_unavailable() {
    let api = FakeApi::default();
    let other = serde_json::to_string(&ticket("T-2", TicketStatus::Open, "alice")).unwrap();
    api.reply("T-1", Reply::Json(other));
    api.reply("T-3", Reply::Json("<html>maintenance</html>".into()));
    let tickets = open(&config(&api.start().await)).await;

    assert_eq!(tickets.lookup("T-1").await, Lookup::Unavailable);
    assert_eq!(tickets.lookup("T-3").await, Lookup::Unavailable);
}

#[tokio::test]
async fn ttl_expiry_picks_up_a_change() {
    let api = FakeApi::default();
    api.serve(&ticket("T-1", TicketStatus::Open, "alice"));
    let mut cfg = config(&api.start().await);
    cfg.http.cache_ttl_ms = 100;
    let tickets = open(&cfg).await;

    assert_eq!(
        found_status(&tickets.lookup("T-1").await),
        Some(TicketStatus::Open)
    );
    api.serve(&ticket("T-1", TicketStatus::Closed, "alice"));
    eventually("the closed ticket is fetched after the TTL", || async {
        found_status(&tickets.lookup("T-1").await) == Some(TicketStatus::Closed)
    })
    .await;
    assert!(api.hits() >= 2);
}

#[tokio::test]
async fn ids_cannot_escape_the_base_path() {
    let api = FakeApi::default();
    let tickets = open(&config(&api.start().await)).await;

    assert_eq!(tickets.lookup("../admin?x=1").await, Lookup::NotFound);
    assert_eq!(
        api.paths(),
        vec!["/tickets/%2E%2E%2Fadmin%3Fx%3D1".to_string()]
    );
}

#[tokio::test]
async fn bearer_token_is_sent_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("api.token");
    std::fs::write(&token_file, "s3cr3t-token\n").unwrap();
    let api = FakeApi::default();
    let mut cfg = config(&api.start().await);
    cfg.http.token_file = Some(token_file);
    let tickets = open(&cfg).await;

    tickets.lookup("T-1").await;
    assert_eq!(api.auth(), vec![Some("Bearer s3cr3t-token".to_string())]);
}
