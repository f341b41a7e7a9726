//! The file ticket source: startup checks, reload on change, refusal of bad files,
//! and request-level resolution against it.

#[path = "support/ticket.rs"]
mod support;

use std::path::Path;

use chrono::Utc;
use keyhole::ticket::file::FileSource;
use keyhole::ticket::{DenyReason, Lookup, TicketContext, TicketStatus, Tickets, TicketsConfig};
use support::{eventually, ticket, write_atomically, write_tickets};

fn config(file: &Path) -> TicketsConfig {
    TicketsConfig {
        file: file.to_path_buf(),
        reload_interval_ms: 20,
        ..TicketsConfig::default()
    }
}

fn status(lookup: &Lookup) -> Option<TicketStatus> {
    match lookup {
        Lookup::Found(ticket) => Some(ticket.status),
        _ => None,
    }
}

#[tokio::test]
async fn missing_or_bad_file_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.json");
    assert!(Tickets::open(&config(&missing)).await.is_err());

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "[{\"id\": \"T-1\"").unwrap();
    let err = Tickets::open(&config(&bad)).await.err().unwrap();
    assert!(err.to_string().contains("bad.json"));
}

#[tokio::test]
async fn reload_picks_up_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tickets.json");
    write_tickets(&path, &[ticket("T-1", TicketStatus::Open, "alice")]);
    let tickets = Tickets::open(&config(&path)).await.unwrap();
    assert_eq!(
        status(&tickets.lookup("T-1").await),
        Some(TicketStatus::Open)
    );
    assert_eq!(tickets.lookup("T-2").await, Lookup::NotFound);

    write_tickets(
        &path,
        &[
            ticket("T-1", TicketStatus::Closed, "alice"),
            ticket("T-2", TicketStatus::Open, "bob"),
        ],
    );
    eventually("the watcher reloads the file", || async {
        status(&tickets.lookup("T-1").await) == Some(TicketStatus::Closed)
    })
    .await;
    assert_eq!(
        status(&tickets.lookup("T-2").await),
        Some(TicketStatus::Open)
    );
    tickets.shutdown();
}

#[test]
fn bad_new_file_keeps_the_old_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tickets.json");
    write_tickets(&path, &[ticket("T-1", TicketStatus::Open, "alice")]);
    let source = FileSource::load(&path).unwrap();

    write_atomically(&path, "[{\"id\": \"T-1\", \"status\": \"op");
    assert!(source.reload_if_changed().is_err());
    assert_eq!(status(&source.lookup("T-1")), Some(TicketStatus::Open));

    let dup = ticket("T-1", TicketStatus::Closed, "alice");
    write_tickets(&path, &[dup.clone(), dup]);
    assert!(source.reload_if_changed().is_err());
    assert_eq!(status(&source.lookup("T-1")), Some(TicketStatus::Open));
}

#[tokio::test]
async fn watcher_survives_a_bad_file_and_takes_the_next_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tickets.toml");
    let toml_ticket = |status: &str| {
        format!(
            "[[ticket]]\nid = \"T-1\"\nstatus = \"{status}\"\nassignee = \"alice\"\ncustomer_id = \"C-1\"\ncategory = \"hardware\"\n"
        )
    };
    write_atomically(&path, &toml_ticket("open"));
    let tickets = Tickets::open(&config(&path)).await.unwrap();

    write_atomically(&path, &toml_ticket("reopened"));
    // Let the watcher see (and refuse) the bad file for a few ticks.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        status(&tickets.lookup("T-1").await),
        Some(TicketStatus::Open)
    );

    write_atomically(&path, &toml_ticket("pending"));
    eventually("the next good file is loaded", || async {
        status(&tickets.lookup("T-1").await) == Some(TicketStatus::Pending)
    })
    .await;
    tickets.shutdown();
}

#[tokio::test]
async fn resolve_applies_the_request_level_checks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tickets.json");
    write_tickets(
        &path,
        &[
            ticket("T-1", TicketStatus::Open, "alice"),
            ticket("T-2", TicketStatus::Pending, "alice"),
        ],
    );
    let tickets = Tickets::open(&config(&path)).await.unwrap();
    let now = Utc::now();
    let hardware = ["hardware".to_string()];

    let live = TicketContext::resolve(&tickets, Some(" T-1 "), "alice", now, false).await;
    assert_eq!(live.justifies("C-1", &hardware), Ok(()));
    assert_eq!(live.ticket_id(), Some("T-1"));

    for id in [None, Some(""), Some("  ")] {
        let ctx = TicketContext::resolve(&tickets, id, "alice", now, false).await;
        assert_eq!(ctx.justifies("C-1", &hardware), Err(DenyReason::NoTicket));
        assert_eq!(
            ctx.request_denial(),
            None,
            "no ticket is not a ticket failure"
        );
    }
    let cases = [
        (Some("T-9"), "alice", false, DenyReason::UnknownTicket),
        (Some("T 1"), "alice", false, DenyReason::UnknownTicket),
        (Some("T-1"), "bob", false, DenyReason::NotAssignee),
        (Some("T-2"), "alice", false, DenyReason::Pending),
    ];
    for (id, agent, allow_pending, reason) in cases {
        let ctx = TicketContext::resolve(&tickets, id, agent, now, allow_pending).await;
        assert_eq!(
            ctx.justifies("C-1", &hardware),
            Err(reason),
            "{id:?}/{agent}"
        );
        assert_eq!(ctx.request_denial(), Some(reason));
    }
    let pending = TicketContext::resolve(&tickets, Some("T-2"), "alice", now, true).await;
    assert_eq!(pending.justifies("C-1", &hardware), Ok(()));
    tickets.shutdown();
}
