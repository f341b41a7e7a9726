//! Search as an oracle. The sample API matches `q` against concealed fields
//! (service tags, emails, phone digits), so whether a result comes back says
//! whether some customer's hidden value holds the text. Through Keyhole a result
//! is shown only when the text occurs in what the agent is shown of it; every
//! probe below really matches upstream, and must find nothing an agent could not
//! read anyway. Controls show that names, own tokens and values a ticket
//! discloses still find their record.

#[path = "support/hostile.rs"]
mod hostile;
mod support;

use hostile::Oracle;
use serde_json::Value;
use support::{bearer, Client, TestEnv};

/// Bob has no ticket; his search results conceal every sensitive field.
async fn bob_searches(env: &TestEnv, client: &Client, q: &str) -> (Vec<u8>, Vec<Value>) {
    let url = format!("{}/customers?q={q}&limit=100", env.base());
    let bob = bearer(&env.bob());
    let reply = client.get(&url, &[("authorization", &bob)]).await;
    assert_eq!(reply.status, 200, "{q}");
    let body = reply.json();
    assert!(
        body.get("total").is_none(),
        "{q}: the unfiltered count is not shown"
    );
    let results = body["results"].as_array().cloned().unwrap_or_default();
    (reply.all_bytes(), results)
}

/// Every string and number of a shown result, lower-cased.
fn shown_texts(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.to_lowercase()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|v| shown_texts(v, out)),
        Value::Object(members) => members.values().for_each(|v| shown_texts(v, out)),
        _ => {}
    }
}

fn shows(result: &Value, probe: &str) -> bool {
    let mut texts = Vec::new();
    shown_texts(result, &mut texts);
    texts.iter().any(|t| t.contains(&probe.to_lowercase()))
}

#[tokio::test]
async fn text_found_only_in_concealed_fields_finds_nothing() {
    let env = TestEnv::start().await;
    let oracle = Oracle::new(&env.data);
    let target = env.hardware_customer().clone();
    let tag = target.devices[0].service_tag.clone();
    let local_part = target
        .email
        .split('@')
        .next()
        .unwrap_or_default()
        .to_string();
    let phone_digits: String = target.phone.chars().filter(char::is_ascii_digit).collect();
    let probes = [
        tag.clone(),
        tag[..4].to_string(),
        tag[3..].to_string(),
        local_part,
        phone_digits[phone_digits.len() - 6..].to_string(),
    ];
    for probe in &probes {
        // The probe is a real oracle: the upstream answers it with the target.
        let upstream = env.data.search(probe, 100);
        assert!(upstream.iter().any(|c| c.id == target.id), "{probe}");
        for client in [env.h1(), env.h2()] {
            let (bytes, results) = bob_searches(&env, &client, probe).await;
            oracle.assert_clean(&bytes, None, probe);
            for result in &results {
                assert!(
                    shows(result, probe),
                    "{probe}: result {} is shown without showing the text",
                    result["id"]
                );
            }
        }
    }
}

#[tokio::test]
async fn names_own_tokens_and_disclosed_values_still_find_their_record() {
    let env = TestEnv::start().await;
    let target = env.hardware_customer().clone();
    let client = env.h1();
    let found = |results: &[Value]| results.iter().any(|r| r["id"] == target.id.as_str());

    let surname = target.name.split(' ').next_back().unwrap_or_default();
    let (_, results) = bob_searches(&env, &client, &surname.replace(' ', "+")).await;
    assert!(found(&results), "a name Bob is shown finds the record");

    // Bob's token for the target's tag, as his own view of the record shows it.
    let url = format!("{}/customers/{}", env.base(), target.id);
    let bob = bearer(&env.bob());
    let record = client.get(&url, &[("authorization", &bob)]).await.json();
    let token = record["devices"][0]["service_tag"]
        .as_str()
        .expect("a tokenized tag")
        .to_string();
    assert!(token.starts_with("tok_"), "{token}");
    let (_, results) = bob_searches(&env, &client, &token).await;
    assert!(
        found(&results),
        "Bob's own token finds the record it came from"
    );

    // Alice's hardware ticket discloses the target's tags: searching one finds it.
    let search = format!(
        "{}/customers?q={}",
        env.base(),
        target.devices[0].service_tag
    );
    let alice = bearer(&env.alice());
    let reply = client
        .get(
            &search,
            &[("authorization", &alice), ("x-ticket-id", "T-1001")],
        )
        .await;
    assert_eq!(reply.status, 200);
    let results = reply.json()["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        found(&results),
        "a value the ticket discloses finds its record"
    );
}

#[tokio::test]
async fn a_query_parameter_no_rule_names_is_refused_before_the_upstream() {
    let env = TestEnv::start().await;
    let bob = bearer(&env.bob());
    let target = env.hardware_customer().clone();
    for query in [
        format!("q=a&email={}", target.email),
        "q=a&Q=b".to_string(),
        "q=a&%65mail=x".to_string(),
        format!("phone={}", target.phone.replace('+', "%2B")),
    ] {
        let url = format!("{}/customers?{query}", env.base());
        let reply = env.h1().get(&url, &[("authorization", &bob)]).await;
        assert_eq!(reply.status, 400, "{query}");
        assert_eq!(reply.error_code(), "query-parameter-not-allowed", "{query}");
        let body = String::from_utf8_lossy(&reply.all_bytes()).to_lowercase();
        assert!(!body.contains(&target.email.to_lowercase()), "{query}");
    }
    assert_eq!(env.recorder.count(), 0, "nothing reached the upstream");
}

#[tokio::test]
async fn a_hidden_result_is_not_recorded_as_a_disclosure() {
    let env = TestEnv::start().await;
    let target = env.hardware_customer().clone();
    let alice = bearer(&env.alice());
    let headers = [("authorization", alice.as_str()), ("x-ticket-id", "T-1001")];
    let url = |q: &str| format!("{}/customers?q={q}", env.base());
    // The hardware ticket discloses the tags but not the email: a search by the
    // email's local part reaches the target upstream and is hidden here.
    let local_part = target.email.split('@').next().unwrap_or_default();
    assert!(!target
        .name
        .to_lowercase()
        .contains(&local_part.to_lowercase()));
    let hidden = env.h1().get(&url(local_part), &headers).await;
    assert_eq!(hidden.status, 200);
    let results = hidden.json()["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(results.iter().all(|r| r["id"] != target.id.as_str()));
    assert_eq!(hidden.header("keyhole-disclosure"), None);
    // Control: the same ticket, the record shown, and the disclosure recorded.
    let shown = env
        .h1()
        .get(&url(&target.devices[0].service_tag), &headers)
        .await;
    assert!(shown.header("keyhole-disclosure").is_some());
}
