//! Ticket-scoped disclosure over real TLS: exactly which true values each
//! agent × ticket state sees, per record, and revocation on open connections.

#[path = "support/hostile.rs"]
mod hostile;
mod support;

use serde_json::json;
use support::oracle::leaks;
use support::{bearer, Client, TestEnv};

use keyhole::demo::data::Customer;

/// Values a hardware ticket reveals, and values only other categories reveal.
fn hardware_values(c: &Customer) -> Vec<String> {
    c.devices
        .iter()
        .flat_map(|d| [d.service_tag.clone(), d.express_service_code.clone()])
        .collect()
}

fn dispatch_values(c: &Customer) -> Vec<String> {
    vec![
        c.phone.clone(),
        c.address.street.clone(),
        c.address.postal_code.clone(),
    ]
}

async fn get(
    client: &Client,
    env: &TestEnv,
    token: &str,
    ticket: Option<&str>,
    customer: &str,
) -> support::Reply {
    let url = format!("{}/customers/{customer}", env.base());
    let auth = bearer(token);
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(t) = ticket {
        headers.push(("x-ticket-id", t));
    }
    client.get(&url, &headers).await
}

/// One cell of the matrix: who asks, under which ticket, about whom, and what must (not) show.
struct Case<'a> {
    token: &'a str,
    ticket: Option<&'a str>,
    customer: &'a Customer,
    header: &'a str,
    clear: Vec<String>,
    hidden: Vec<String>,
}

#[tokio::test]
async fn ticket_matrix_reveals_exactly_what_each_ticket_justifies() {
    let env = TestEnv::start().await;
    let a = env.ticket_customer("T-1001").clone();
    let b = env.ticket_customer("T-1002").clone();
    let c = env.ticket_customer("T-1003").clone();
    let (alice, bob) = (env.alice(), env.bob());
    let client = env.h1();
    let hw_and_dispatch = |c: &Customer| [hardware_values(c), dispatch_values(c)].concat();
    let cases = [
        Case {
            token: &alice,
            ticket: Some("T-1001"),
            customer: &a,
            header: "granted",
            clear: hardware_values(&a),
            hidden: dispatch_values(&a),
        },
        Case {
            token: &alice,
            ticket: None,
            customer: &a,
            header: "",
            clear: vec![],
            hidden: hw_and_dispatch(&a),
        },
        Case {
            token: &bob,
            ticket: Some("T-1001"),
            customer: &a,
            header: "denied; reason=not-assignee",
            clear: vec![],
            hidden: hw_and_dispatch(&a),
        },
        Case {
            token: &alice,
            ticket: Some("T-1003"),
            customer: &c,
            header: "denied; reason=closed",
            clear: vec![],
            hidden: hw_and_dispatch(&c),
        },
        Case {
            token: &alice,
            ticket: Some("T-1002"),
            customer: &a,
            header: "denied; reason=wrong-customer",
            clear: vec![],
            hidden: hw_and_dispatch(&a),
        },
        Case {
            token: &alice,
            ticket: Some("T-1002"),
            customer: &b,
            header: "granted",
            clear: dispatch_values(&b),
            hidden: hardware_values(&b),
        },
        Case {
            token: &alice,
            ticket: Some("T-9999"),
            customer: &a,
            header: "denied; reason=unknown-ticket",
            clear: vec![],
            hidden: hw_and_dispatch(&a),
        },
    ];
    for (
        i,
        Case {
            token,
            ticket,
            customer,
            header,
            clear,
            hidden,
        },
    ) in cases.into_iter().enumerate()
    {
        let reply = get(&client, &env, token, ticket, &customer.id).await;
        assert_eq!(reply.status, 200, "case {i}");
        let bytes = reply.all_bytes();
        assert_eq!(
            reply.header("keyhole-ticket").unwrap_or_default(),
            header,
            "case {i}"
        );
        let shown = leaks(&bytes, &clear);
        assert_eq!(
            shown.len(),
            clear.len(),
            "case {i}: expected all of {clear:?} in the clear"
        );
        assert!(
            leaks(&bytes, &hidden).is_empty(),
            "case {i}: leaked {:?}",
            leaks(&bytes, &hidden)
        );
        assert_eq!(
            reply.header("keyhole-disclosure").is_some(),
            !clear.is_empty(),
            "case {i}"
        );
    }
}

#[tokio::test]
async fn expired_pending_and_wrong_category_tickets_reveal_nothing() {
    let env = TestEnv::start().await;
    let a = env.ticket_customer("T-1001").clone();
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    env.write_tickets(json!([
        {"id": "T-1001", "status": "open", "assignee": "alice", "customer_id": a.id, "category": "hardware", "expires_at": future},
        {"id": "T-2001", "status": "open", "assignee": "alice", "customer_id": a.id, "category": "hardware", "expires_at": past},
        {"id": "T-2002", "status": "pending", "assignee": "alice", "customer_id": a.id, "category": "hardware", "expires_at": future},
        {"id": "T-2003", "status": "open", "assignee": "alice", "customer_id": a.id, "category": "billing", "expires_at": future},
    ]));
    let client = env.h1();
    let alice = env.alice();
    let all = [hardware_values(&a), dispatch_values(&a)].concat();
    for (ticket, reason) in [
        ("T-2001", "expired"),
        ("T-2002", "pending"),
        ("T-2003", "wrong-category"),
    ] {
        let reply = wait_for_header(&client, &env, &alice, ticket, &a.id, reason).await;
        assert!(leaks(&reply.all_bytes(), &all).is_empty(), "{ticket}");
        assert!(reply.header("keyhole-disclosure").is_none());
    }
    // Each denial the responses reported is in the ledger, naming the customer.
    let history = keyhole::audit::agent_history(&env.ledger_dir(), "alice", None)
        .unwrap()
        .found;
    for (ticket, reason) in [
        ("T-2001", "ticket-expired"),
        ("T-2002", "ticket-pending"),
        ("T-2003", "ticket-wrong-category"),
    ] {
        let denial = history
            .iter()
            .find(|r| r.ticket.as_deref() == Some(ticket) && r.reason.as_deref() == Some(reason))
            .unwrap_or_else(|| panic!("no {reason} denial for {ticket}: {history:?}"));
        assert_eq!(denial.customers, std::slice::from_ref(&a.id), "{ticket}");
        assert_eq!(denial.route, "/customers/{customer}", "{ticket}");
    }
}

/// The file source reloads within about a second: poll until the new set answers.
async fn wait_for_header(
    client: &Client,
    env: &TestEnv,
    token: &str,
    ticket: &str,
    customer: &str,
    reason: &str,
) -> support::Reply {
    let want = format!("denied; reason={reason}");
    for _ in 0..100 {
        let reply = get(client, env, token, Some(ticket), customer).await;
        if reply.header("keyhole-ticket").as_deref() == Some(want.as_str()) {
            return reply;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{ticket} never reported {reason}");
}

#[tokio::test]
async fn a_search_reveals_only_the_ticketed_customer() {
    let env = TestEnv::start().await;
    let a = env.ticket_customer("T-1001").clone();
    let url = format!("{}/customers?q=&limit=100", env.base());
    let reply = env
        .h2()
        .get(
            &url,
            &[
                ("authorization", &bearer(&env.alice())),
                ("x-ticket-id", "T-1001"),
            ],
        )
        .await;
    assert_eq!(reply.status, 200);
    let bytes = reply.all_bytes();
    assert_eq!(
        leaks(&bytes, &hardware_values(&a)).len(),
        hardware_values(&a).len()
    );
    let others: Vec<String> = env
        .data
        .customers
        .iter()
        .filter(|c| c.id != a.id)
        .flat_map(|c| [hardware_values(c), dispatch_values(c)].concat())
        .collect();
    assert!(
        leaks(&bytes, &others).is_empty(),
        "leaked {:?}",
        leaks(&bytes, &others)
    );
    assert_eq!(
        reply.json()["results"].as_array().unwrap().len(),
        env.data.customers.len().min(100)
    );
}

async fn push(env: &TestEnv, body: serde_json::Value) -> u16 {
    let secret = std::fs::read_to_string(env.files.dir.join("keys/webhook.secret")).unwrap();
    let body = body.to_string();
    let signature = keyhole::ticket::sign_webhook(secret.trim().as_bytes(), body.as_bytes());
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let req = http::Request::post(format!("{}/tickets/webhook", env.admin()))
        .header("x-keyhole-signature", signature)
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .unwrap();
    client.request(req).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn closing_or_reassigning_a_ticket_masks_the_next_response_on_open_connections() {
    let env = TestEnv::start().await;
    let a = env.ticket_customer("T-1001").clone();
    let tags = hardware_values(&a);
    let alice = env.alice();
    let now = chrono::Utc::now().timestamp();
    // Deliveries are ordered by `sent_at`: each step is a little later than the last.
    for (step, client, event) in [
        (
            0,
            env.h2(),
            json!({"event": "close", "sent_at": now - 9, "id": "T-1001"}),
        ),
        (
            2,
            env.h1(),
            json!({"event": "upsert", "sent_at": now - 7, "ticket": {"id": "T-1001", "status": "open", "assignee": "bob", "customer_id": a.id, "category": "hardware"}}),
        ),
    ] {
        // Re-open the ticket for alice, and see it in the clear on this connection.
        let reopen = json!({"event": "upsert", "sent_at": now - 10 + step, "ticket": {"id": "T-1001", "status": "open", "assignee": "alice", "customer_id": a.id, "category": "hardware"}});
        assert_eq!(push(&env, reopen).await, 200);
        let before = get(&client, &env, &alice, Some("T-1001"), &a.id).await;
        assert_eq!(leaks(&before.all_bytes(), &tags).len(), tags.len());
        assert_eq!(push(&env, event).await, 200);
        let after = get(&client, &env, &alice, Some("T-1001"), &a.id).await;
        assert!(
            leaks(&after.all_bytes(), &tags).is_empty(),
            "still clear after revocation"
        );
        assert!(after
            .header("keyhole-ticket")
            .unwrap()
            .starts_with("denied"));
    }
}

/// The ticket is judged when the answer is in, not when the request came:
/// an agent who holds a request open (here, a body sent in two halves) while
/// the ticket is closed gets nothing in the clear, and no disclosure is ledgered.
#[tokio::test]
async fn a_request_held_open_across_a_close_reveals_nothing() {
    let env = TestEnv::start().await;
    let a = env.ticket_customer("T-1001").clone();
    let tags = hardware_values(&a);
    let auth = bearer(&env.alice());
    let target = format!("/customers/{}", a.id);
    let headers = [("authorization", auth.as_str()), ("x-ticket-id", "T-1001")];
    let (addr, ca) = (env.running.addr, &env.files.ca_cert);
    let held = hostile::held_get(addr, ca, &target, &headers).await;
    let now = chrono::Utc::now().timestamp();
    let close = json!({"event": "close", "sent_at": now, "id": "T-1001"});
    assert_eq!(push(&env, close).await, 200);
    let bytes = hostile::release(held).await;
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(hostile::statuses(&bytes), vec![200], "{text}");
    assert!(
        leaks(&bytes, &tags).is_empty(),
        "clear after the close: {text}"
    );
    assert!(
        text.contains("keyhole-ticket: denied; reason=closed"),
        "{text}"
    );
    assert!(!text.contains("keyhole-disclosure"), "{text}");
    // A disclosure would have been durable before the answer left.
    let key = keyhole::audit::load_key(&env.ledger_dir(), None).unwrap();
    let tag = &a.devices[0].service_tag;
    let seen = keyhole::audit::who_saw(&env.ledger_dir(), &key, tag).unwrap();
    assert!(seen.found.is_empty(), "a disclosure was ledgered");
}

/// A sender whose clock runs fast (within the accepted skew) pushed the
/// ticket open; a close from a correct clock is older, yet still closes it.
#[tokio::test]
async fn a_close_older_than_the_open_it_follows_still_closes() {
    let env = TestEnv::start().await;
    let a = env.ticket_customer("T-1001").clone();
    let tags = hardware_values(&a);
    let alice = env.alice();
    let now = chrono::Utc::now().timestamp();
    let open = json!({"event": "upsert", "sent_at": now + 120, "ticket": {"id": "T-1001", "status": "open", "assignee": "alice", "customer_id": a.id, "category": "hardware"}});
    assert_eq!(push(&env, open).await, 200);
    let client = env.h1();
    let before = get(&client, &env, &alice, Some("T-1001"), &a.id).await;
    assert_eq!(leaks(&before.all_bytes(), &tags).len(), tags.len());
    let close = json!({"event": "close", "sent_at": now, "id": "T-1001"});
    assert_eq!(push(&env, close).await, 200);
    let after = get(&client, &env, &alice, Some("T-1001"), &a.id).await;
    assert!(
        leaks(&after.all_bytes(), &tags).is_empty(),
        "still clear after the close"
    );
    assert_eq!(
        after.header("keyhole-ticket").as_deref(),
        Some("denied; reason=closed")
    );
}

#[tokio::test]
async fn forged_stale_and_replayed_webhooks_change_nothing() {
    let env = TestEnv::start().await;
    let a = env.ticket_customer("T-1001").clone();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let url = format!("{}/tickets/webhook", env.admin());
    let body = json!({"event": "close", "sent_at": chrono::Utc::now().timestamp(), "id": "T-1001"})
        .to_string();
    let send = |sig: String, body: String| {
        let req = http::Request::post(&url)
            .header("x-keyhole-signature", sig)
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .unwrap();
        client.request(req)
    };
    let forged =
        keyhole::ticket::sign_webhook(b"not-the-secret-not-the-secret-00", body.as_bytes());
    let refused = send(forged, body.clone()).await.unwrap();
    assert_eq!(refused.status(), 401);
    let error = http_body_util::BodyExt::collect(refused.into_body())
        .await
        .unwrap()
        .to_bytes();
    let error: serde_json::Value = serde_json::from_slice(&error).unwrap();
    assert_eq!(error["error"]["code"], "bad-signature");
    assert!(error["error"]["request_id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));
    let secret = std::fs::read_to_string(env.files.dir.join("keys/webhook.secret")).unwrap();
    // Signed by the real secret but not an event: the body is at fault, not the signer.
    let garbage = "{\"event\": \"explode\"}".to_string();
    let sig = keyhole::ticket::sign_webhook(secret.trim().as_bytes(), garbage.as_bytes());
    assert_eq!(send(sig, garbage).await.unwrap().status(), 400);
    let stale =
        json!({"event": "close", "sent_at": chrono::Utc::now().timestamp() - 3600, "id": "T-1001"})
            .to_string();
    let sig = keyhole::ticket::sign_webhook(secret.trim().as_bytes(), stale.as_bytes());
    assert!(send(sig, stale).await.unwrap().status().is_client_error());
    let reply = get(&env.h1(), &env, &env.alice(), Some("T-1001"), &a.id).await;
    assert_eq!(
        reply.header("keyhole-ticket").as_deref(),
        Some("granted"),
        "the ticket is still open"
    );
    // Each refusal is counted under its code, for the security team's dashboards.
    let (_, metrics) = env.admin_get("/metrics").await;
    for line in [
        "keyhole_webhook_total{result=\"bad-signature\"} 1\n",
        "keyhole_webhook_total{result=\"stale-timestamp\"} 1\n",
    ] {
        assert!(metrics.contains(line), "{line:?} missing from\n{metrics}");
    }
    assert!(!metrics.contains("result=\"accepted\""), "{metrics}");
}

#[tokio::test]
async fn an_unreachable_or_slow_ticket_api_means_not_justified() {
    // A port with nothing listening: connection refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // A server that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    for url in [
        format!("http://{closed}/tickets"),
        format!("http://{silent_addr}/tickets"),
    ] {
        let env = TestEnv::start_with(support::Behaviour::Forward, |c| {
            c.tickets.source = keyhole::ticket::SourceKind::Http;
            c.tickets.http.url = url.clone();
            c.tickets.http.timeout_ms = 300;
        })
        .await;
        let a = env.ticket_customer("T-1001").clone();
        let reply = get(&env.h1(), &env, &env.alice(), Some("T-1001"), &a.id).await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.header("keyhole-ticket").as_deref(),
            Some("denied; reason=ticket-unavailable")
        );
        let all = [hardware_values(&a), dispatch_values(&a)].concat();
        assert!(leaks(&reply.all_bytes(), &all).is_empty());
    }
}

#[tokio::test]
async fn past_the_budget_further_customers_are_masked_and_the_event_is_recorded() {
    let env = TestEnv::start_with(support::Behaviour::Forward, |c| {
        c.budget.customers_per_agent_per_hour = 1
    })
    .await;
    let a = env.ticket_customer("T-1001").clone();
    let b = env.ticket_customer("T-1002").clone();
    let alice = env.alice();
    let client = env.h1();
    let first = get(&client, &env, &alice, Some("T-1001"), &a.id).await;
    assert_eq!(first.header("keyhole-ticket").as_deref(), Some("granted"));
    let second = get(&client, &env, &alice, Some("T-1002"), &b.id).await;
    assert_eq!(second.header("keyhole-budget").as_deref(), Some("exceeded"));
    assert_eq!(
        second.header("keyhole-ticket").as_deref(),
        Some("denied; reason=budget-exceeded")
    );
    assert!(leaks(&second.all_bytes(), &dispatch_values(&b)).is_empty());
    let again = get(&client, &env, &alice, Some("T-1001"), &a.id).await;
    assert_eq!(
        again.header("keyhole-ticket").as_deref(),
        Some("granted"),
        "an admitted customer stays admitted"
    );
    let history = keyhole::audit::agent_history(&env.ledger_dir(), "alice", None)
        .unwrap()
        .found;
    assert!(history
        .iter()
        .any(|r| r.reason.as_deref() == Some("budget-exceeded")));
}

/// An agent may type anything into `X-Ticket-Id`, a customer's service tag
/// included. An id no ticket source knows is named in the ledger (and the
/// logs) by a keyed fingerprint, never as typed; a known one as it is.
#[tokio::test]
async fn an_unknown_ticket_id_is_not_stored_as_typed() {
    let env = TestEnv::start().await;
    let a = env.ticket_customer("T-1001").clone();
    let tag = a.devices[0].service_tag.clone();
    let client = env.h1();
    let typed = get(&client, &env, &env.alice(), Some(&tag), &a.id).await;
    assert_eq!(
        typed.header("keyhole-ticket").as_deref(),
        Some("denied; reason=unknown-ticket")
    );
    let known = get(&client, &env, &env.bob(), Some("T-1001"), &a.id).await;
    assert!(known
        .header("keyhole-ticket")
        .unwrap()
        .starts_with("denied"));
    let mut ledger = String::new();
    for entry in std::fs::read_dir(env.ledger_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            ledger.push_str(&std::fs::read_to_string(path).unwrap());
        }
    }
    assert!(
        !ledger.contains(&tag),
        "the typed tag is in the ledger: {ledger}"
    );
    assert!(ledger.contains("\"ticket\":\"unconfirmed-"), "{ledger}");
    assert!(ledger.contains("\"ticket\":\"T-1001\""), "{ledger}");
}
