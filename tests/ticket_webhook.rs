//! Pushed ticket changes: refused deliveries change nothing, accepted ones take
//! effect at once over both the file and the HTTP sources.

#[path = "support/ticket.rs"]
mod support;

use std::path::Path;

use chrono::Utc;
use keyhole::ticket::{
    DenyReason, Lookup, TicketContext, TicketStatus, Tickets, TicketsConfig, WebhookEventKind,
    WebhookRefused, SIGNATURE_HEADER,
};
use support::{id_body, signed_headers, ticket, upsert_body, write_secret, write_tickets, FakeApi};

/// Tickets from a file holding T-1 (open, alice), with the webhook enabled.
async fn file_tickets(dir: &Path) -> Tickets {
    let path = dir.join("tickets.json");
    write_tickets(&path, &[ticket("T-1", TicketStatus::Open, "alice")]);
    let cfg = TicketsConfig {
        file: path,
        webhook_secret_file: Some(write_secret(dir)),
        ..TicketsConfig::default()
    };
    Tickets::open(&cfg).await.unwrap()
}

async fn assignee(tickets: &Tickets, id: &str) -> Option<String> {
    match tickets.lookup(id).await {
        Lookup::Found(ticket) => Some(ticket.assignee.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn bad_signature_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tickets = file_tickets(dir.path()).await;
    let body = upsert_body(
        &ticket("T-1", TicketStatus::Open, "mallory"),
        Utc::now().timestamp(),
    );
    let mut headers = http::HeaderMap::new();
    let forged = keyhole::ticket::sign_webhook(b"guessed-secret-guessed-secret", &body);
    headers.insert(SIGNATURE_HEADER, forged.parse().unwrap());

    let refused = tickets.webhook(&headers, &body).unwrap_err();
    assert_eq!(refused, WebhookRefused::BadSignature);
    assert_eq!(refused.code(), "bad-signature");
    assert_eq!(refused.status(), 401);
    assert_eq!(
        tickets.webhook(&http::HeaderMap::new(), &body).unwrap_err(),
        WebhookRefused::MissingSignature
    );
    assert_eq!(assignee(&tickets, "T-1").await.as_deref(), Some("alice"));
}

#[tokio::test]
async fn stale_timestamp_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tickets = file_tickets(dir.path()).await;
    let body = id_body("close", "T-1", Utc::now().timestamp() - 3600);

    let refused = tickets.webhook(&signed_headers(&body), &body).unwrap_err();
    assert_eq!(refused, WebhookRefused::StaleTimestamp);
    assert_eq!(
        tickets.lookup("T-1").await,
        Lookup::Found(ticket("T-1", TicketStatus::Open, "alice").into())
    );
}

#[tokio::test]
async fn replayed_body_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tickets = file_tickets(dir.path()).await;
    let now = Utc::now().timestamp();
    // Same sent_at for both, so only the replay check can stop the old delivery.
    let reassign = upsert_body(&ticket("T-1", TicketStatus::Open, "bob"), now);
    let back = upsert_body(&ticket("T-1", TicketStatus::Open, "carol"), now);

    tickets
        .webhook(&signed_headers(&reassign), &reassign)
        .unwrap();
    tickets.webhook(&signed_headers(&back), &back).unwrap();
    let refused = tickets
        .webhook(&signed_headers(&reassign), &reassign)
        .unwrap_err();
    assert_eq!(refused, WebhookRefused::Replayed);
    assert_eq!(assignee(&tickets, "T-1").await.as_deref(), Some("carol"));
}

#[tokio::test]
async fn pushed_reassignment_revokes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let tickets = file_tickets(dir.path()).await;
    let hardware = ["hardware".to_string()];
    let before = TicketContext::resolve(&tickets, Some("T-1"), "alice", Utc::now(), false).await;
    assert_eq!(before.justifies("C-1", &hardware), Ok(()));

    let body = upsert_body(
        &ticket("T-1", TicketStatus::Open, "bob"),
        Utc::now().timestamp(),
    );
    let accepted = tickets.webhook(&signed_headers(&body), &body).unwrap();
    assert_eq!(accepted.kind, WebhookEventKind::Upsert);
    assert_eq!(accepted.ticket_id, "T-1");
    assert!(accepted.applied);

    let after = TicketContext::resolve(&tickets, Some("T-1"), "alice", Utc::now(), false).await;
    assert_eq!(
        after.justifies("C-1", &hardware),
        Err(DenyReason::NotAssignee)
    );
}

#[tokio::test]
async fn pushed_close_and_delete_override_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let tickets = file_tickets(dir.path()).await;
    let now = Utc::now().timestamp();

    let close = id_body("close", "T-1", now);
    tickets.webhook(&signed_headers(&close), &close).unwrap();
    let Lookup::Found(closed) = tickets.lookup("T-1").await else {
        panic!("a closed ticket is still known");
    };
    assert_eq!(closed.status, TicketStatus::Closed);
    assert_eq!(closed.assignee, "alice");

    let delete = id_body("delete", "T-1", now + 1);
    tickets.webhook(&signed_headers(&delete), &delete).unwrap();
    assert_eq!(tickets.lookup("T-1").await, Lookup::NotFound);
}

#[tokio::test]
async fn late_delivery_is_acknowledged_but_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let tickets = file_tickets(dir.path()).await;
    let now = Utc::now().timestamp();
    let close = id_body("close", "T-1", now);
    let older = upsert_body(&ticket("T-1", TicketStatus::Open, "alice"), now - 10);

    tickets.webhook(&signed_headers(&close), &close).unwrap();
    let accepted = tickets.webhook(&signed_headers(&older), &older).unwrap();
    assert!(!accepted.applied);
    let Lookup::Found(current) = tickets.lookup("T-1").await else {
        panic!("expected the ticket");
    };
    assert_eq!(current.status, TicketStatus::Closed);
}

#[tokio::test]
async fn pushed_close_beats_a_cached_api_copy() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeApi::default();
    api.serve(&ticket("T-1", TicketStatus::Open, "alice"));
    let text = format!(
        "source = \"http\"\nwebhook_secret_file = \"{}\"\n[http]\nurl = \"{}\"\ncache_ttl_ms = 30000\n",
        write_secret(dir.path()).display(),
        api.start().await
    );
    let tickets = Tickets::open(&toml::from_str(&text).unwrap())
        .await
        .unwrap();
    assert!(matches!(tickets.lookup("T-1").await, Lookup::Found(_)));

    let close = id_body("close", "T-1", Utc::now().timestamp());
    tickets.webhook(&signed_headers(&close), &close).unwrap();
    let Lookup::Found(closed) = tickets.lookup("T-1").await else {
        panic!("expected the ticket");
    };
    assert_eq!(closed.status, TicketStatus::Closed);
}

#[tokio::test]
async fn webhook_without_a_secret_is_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tickets.json");
    write_tickets(&path, &[ticket("T-1", TicketStatus::Open, "alice")]);
    let tickets = Tickets::open(&TicketsConfig {
        file: path,
        ..TicketsConfig::default()
    })
    .await
    .unwrap();
    let body = id_body("close", "T-1", Utc::now().timestamp());

    assert!(!tickets.webhook_enabled());
    let refused = tickets.webhook(&signed_headers(&body), &body).unwrap_err();
    assert_eq!(refused, WebhookRefused::Disabled);
    assert_eq!(refused.status(), 404);
    assert_eq!(assignee(&tickets, "T-1").await.as_deref(), Some("alice"));
}
