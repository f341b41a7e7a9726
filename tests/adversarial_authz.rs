//! Hostile authorization: another customer in the path, lists that mix
//! customers, foreign records nested inside a ticketed one, ids that disagree
//! between path, query, body and record, and methods or routes no policy names.
//! A ticket for customer A reveals nothing of anyone else.

#[path = "support/hostile.rs"]
mod hostile;
mod support;

use std::sync::{Arc, Mutex};

use hostile::{Grant, Oracle, Scripted, Step};
use serde_json::{json, Value};
use support::{bearer, Behaviour, TestEnv};

/// Alice's ticket T-1001: hardware, for the demo's first showcase customer.
fn grant(env: &TestEnv) -> Grant {
    Grant::new(&env.hardware_customer().id, "hardware")
}

fn alice_on_ticket(env: &TestEnv) -> [(&'static str, String); 2] {
    [
        ("authorization", bearer(&env.alice())),
        ("x-ticket-id", "T-1001".to_string()),
    ]
}

/// A case name, the request's headers and the expected status.
type TicketCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16);

fn as_pairs<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    headers.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn another_customer_in_the_path_reveals_nothing_of_them() {
    let env = TestEnv::start().await;
    let oracle = Oracle::new(&env.data);
    let grant = grant(&env);
    let headers = alice_on_ticket(&env);
    let client = env.h1();
    let own = env.hardware_customer().clone();
    let reply = client
        .get(
            &format!("{}/customers/{}", env.base(), own.id),
            &as_pairs(&headers),
        )
        .await;
    assert_eq!(reply.status, 200);
    let tag = &own.devices[0].service_tag;
    assert!(
        String::from_utf8_lossy(&reply.body).contains(tag.as_str()),
        "control: the ticket does reveal its own customer's tags"
    );
    for other in env
        .data
        .customers
        .iter()
        .filter(|c| c.id != own.id)
        .take(12)
    {
        let url = format!("{}/customers/{}", env.base(), other.id);
        let reply = client.get(&url, &as_pairs(&headers)).await;
        assert_eq!(reply.status, 200, "{}", other.id);
        assert_eq!(
            reply.header("keyhole-ticket").as_deref(),
            Some("denied; reason=wrong-customer")
        );
        oracle.assert_clean(&reply.all_bytes(), Some(&grant), &other.id);
    }
}

#[tokio::test]
async fn a_search_mixing_customers_reveals_only_the_ticketed_one() {
    let env = TestEnv::start().await;
    let oracle = Oracle::new(&env.data);
    let grant = grant(&env);
    let headers = alice_on_ticket(&env);
    let own = env.hardware_customer().clone();
    for query in [
        "q=&limit=40",
        "q=a&limit=100",
        &format!("q={}", own.devices[0].service_tag),
    ] {
        for client in [env.h1(), env.h2()] {
            let url = format!("{}/customers?{query}", env.base());
            let reply = client.get(&url, &as_pairs(&headers)).await;
            assert_eq!(reply.status, 200, "{query}");
            oracle.assert_clean(&reply.all_bytes(), Some(&grant), query);
        }
    }
    let reply = env
        .h1()
        .get(
            &format!("{}/customers?q=&limit=40", env.base()),
            &as_pairs(&headers),
        )
        .await;
    let text = String::from_utf8_lossy(&reply.body);
    assert!(
        text.contains(own.devices[0].service_tag.as_str()),
        "control: the ticketed customer's record in the list is revealed"
    );
}

/// What the fake upstream answers with; set once the environment (and so the
/// ticketed customer) is known.
type Slot = Arc<Mutex<String>>;

/// A gateway whose upstream answers every request with the slot's JSON.
async fn fake_upstream() -> (TestEnv, Scripted, Slot) {
    let slot: Slot = Arc::default();
    let body = slot.clone();
    let scripted = Scripted::start(move |_| {
        let body = body.lock().expect("lock").clone();
        vec![
            Step::Read,
            Step::Write(hostile::keep_alive(
                200,
                "application/json",
                body.as_bytes(),
            )),
        ]
    })
    .await;
    let url = scripted.url();
    let env = TestEnv::start_with(Behaviour::Forward, move |c| c.upstream.url = url).await;
    (env, scripted, slot)
}

#[tokio::test]
async fn foreign_records_nested_in_a_ticketed_record_are_not_revealed() {
    let (env, _up, slot) = fake_upstream().await;
    let own = env.hardware_customer().clone();
    let other = env.customer_other_than(&own.id).clone();
    let mut record = hostile::record_value(&own);
    let foreign = hostile::record_value(&other);
    record["household"] = json!([foreign.clone()]);
    record["devices"][0]["owner"] = foreign.clone();
    record["address"]["previous"] = foreign["address"].clone();
    record["service_history"][0]["contact"] = json!({"email": other.email, "phone": other.phone});
    record["service_history"][0]["summary"] =
        json!(format!("Call {} or {}", other.phone, other.email));
    *slot.lock().expect("lock") = record.to_string();
    let url = format!("{}/customers/{}", env.base(), own.id);
    let headers = alice_on_ticket(&env);
    let reply = env.h1().get(&url, &as_pairs(&headers)).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    Oracle::new(&env.data).assert_clean(
        &reply.all_bytes(),
        Some(&grant(&env)),
        "nested foreign record",
    );
    let household = &reply.json()["household"];
    assert!(
        household.is_null() || household == &json!([]),
        "unlisted records are dropped: {household}"
    );
}

#[tokio::test]
async fn a_record_that_disagrees_with_the_path_reveals_nothing() {
    let (env, _up, slot) = fake_upstream().await;
    let own = env.hardware_customer().clone();
    let other = env.customer_other_than(&own.id).clone();
    let mut record = hostile::record_value(&other);
    let variants = [
        ("the other customer's id", json!(other.id)),
        ("the id in lower case", json!(own.id.to_lowercase())),
        ("the id padded", json!(format!(" {}", own.id))),
    ];
    for (case, id) in variants {
        record["id"] = id;
        *slot.lock().expect("lock") = record.to_string();
        let url = format!("{}/customers/{}", env.base(), own.id);
        let reply = env.h1().get(&url, &as_pairs(&alice_on_ticket(&env))).await;
        assert_eq!(reply.status, 200, "{case}");
        // Whatever the record's id says, these values are the other customer's.
        Oracle::of(&other).assert_clean(&reply.all_bytes(), Some(&grant(&env)), case);
    }
}

#[tokio::test]

async fn a_record_without_the_id_the_route_checks_reveals_nothing() {
    let (env, _up, slot) = fake_upstream().await;
    let own = env.hardware_customer().clone();
    let other = env.customer_other_than(&own.id).clone();
    let mut record = hostile::record_value(&other);
    let variants = [
        ("no id", None),
        ("the id as a list", Some(json!([own.id]))),
        ("the id as an object", Some(json!({"id": own.id}))),
        ("a null id", Some(Value::Null)),
    ];
    for (case, id) in variants {
        match id {
            Some(id) => record["id"] = id,
            None => drop(record.as_object_mut().expect("object").remove("id")),
        }
        *slot.lock().expect("lock") = record.to_string();
        let url = format!("{}/customers/{}", env.base(), own.id);
        let reply = env.h1().get(&url, &as_pairs(&alice_on_ticket(&env))).await;
        assert_eq!(reply.status, 200);
        Oracle::of(&other).assert_clean(&reply.all_bytes(), Some(&grant(&env)), case);
    }
}

#[tokio::test]
async fn ids_in_query_body_and_ticket_headers_do_not_change_whose_record_it_is() {
    let env = TestEnv::start().await;
    let oracle = Oracle::new(&env.data);
    let grant = grant(&env);
    let own = env.hardware_customer().id.clone();
    let other = env.customer_other_than(&own).id.clone();
    let headers = alice_on_ticket(&env);
    let client = env.h1();
    let query = format!(
        "{}/customers/{other}?id={own}&customer={own}&customer_id={own}",
        env.base()
    );
    let reply = client.get(&query, &as_pairs(&headers)).await;
    assert_eq!(reply.status, 200);
    oracle.assert_clean(&reply.all_bytes(), Some(&grant), "query ids");
    let body =
        json!({"customer_id": own, "id": own, "summary": "Call back", "notes": "n"}).to_string();
    let mut post = as_pairs(&headers);
    post.push(("content-type", "application/json"));
    let url = format!("{}/customers/{other}/notes", env.base());
    let reply = client.send(http::Method::POST, &url, &post, &body).await;
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json()["customer_id"], other.as_str());
    oracle.assert_clean(&reply.all_bytes(), Some(&grant), "body ids");

    let own_url = format!("{}/customers/{own}", env.base());
    let alice = bearer(&env.alice());
    let bob = bearer(&env.bob());
    let cases: [TicketCase; 6] = [
        (
            "another agent's ticket",
            vec![("authorization", &bob), ("x-ticket-id", "T-1001")],
            200,
        ),
        (
            "a closed ticket",
            vec![("authorization", &alice), ("x-ticket-id", "T-1003")],
            200,
        ),
        (
            "another customer's ticket",
            vec![("authorization", &alice), ("x-ticket-id", "T-1002")],
            200,
        ),
        (
            "two ticket headers",
            vec![
                ("authorization", &alice),
                ("x-ticket-id", "T-1002"),
                ("x-ticket-id", "T-1001"),
            ],
            400,
        ),
        (
            "a ticket list",
            vec![("authorization", &alice), ("x-ticket-id", "T-1002,T-1001")],
            400,
        ),
        (
            "a ticket with a space",
            vec![("authorization", &alice), ("x-ticket-id", "T-1001 T-1002")],
            400,
        ),
    ];
    for (case, headers, status) in cases {
        let reply = client.get(&own_url, &headers).await;
        assert_eq!(reply.status, status, "{case}");
        if status == 400 {
            assert_eq!(reply.json()["error"]["code"], "ticket-id-invalid", "{case}");
        }
        // None of these requests holds a usable grant for this record.
        oracle.assert_clean(&reply.all_bytes(), None, case);
    }
}

#[tokio::test]
async fn methods_and_routes_outside_the_policy_never_reach_the_upstream() {
    let env = TestEnv::start().await;
    let oracle = Oracle::new(&env.data);
    let own = env.hardware_customer().id.clone();
    let headers = alice_on_ticket(&env);
    let client = env.h1();
    let methods = [
        "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE", "PROPFIND", "get", "Get",
    ];
    for method in methods {
        let m = http::Method::from_bytes(method.as_bytes()).expect("method");
        let url = format!("{}/customers/{own}", env.base());
        let reply = client.send(m, &url, &as_pairs(&headers), "").await;
        assert_eq!(reply.status, 405, "{method}");
        oracle.assert_clean(&reply.all_bytes(), None, method);
    }
    let routes = [
        ("GET", format!("/customers/{own}/notes"), 405),
        ("POST", format!("/customers/{own}"), 405),
        ("GET", format!("/customers/{own}/notes/1"), 404),
        ("GET", "/devices".to_string(), 404),
        ("GET", "/healthz".to_string(), 404),
        ("GET", "/".to_string(), 404),
        ("GET", format!("/customers/{own}/devices"), 404),
    ];
    for (method, path, status) in routes {
        let m = http::Method::from_bytes(method.as_bytes()).expect("method");
        let url = format!("{}{path}", env.base());
        let reply = client.send(m, &url, &as_pairs(&headers), "").await;
        assert_eq!(reply.status, status, "{method} {path}");
        oracle.assert_clean(&reply.all_bytes(), None, &path);
    }
    assert_eq!(env.recorder.count(), 0, "nothing may reach the upstream");
}
