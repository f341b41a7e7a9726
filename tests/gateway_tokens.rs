//! Per-agent tokens through the live gateway: deterministic per agent, usable
//! in paths and JSON bodies, refused for anyone else, and inspectable.

mod support;

use serde_json::json;
use support::{bearer, TestEnv};

fn tag_token(reply: &support::Reply) -> String {
    reply.json()["devices"][0]["service_tag"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The customer record `id` as the agent behind `auth` is shown it.
async fn read_as(client: &support::Client, env: &TestEnv, auth: &str, id: &str) -> support::Reply {
    let url = format!("{}/customers/{id}", env.base());
    client.get(&url, &[("authorization", auth)]).await
}

#[tokio::test]
async fn tokens_are_stable_per_agent_and_differ_across_agents() {
    let env = TestEnv::start().await;
    let a = env.ticket_customer("T-1001").clone();
    let url = format!("{}/customers/{}", env.base(), a.id);
    let client = env.h1();
    let bob1 = client
        .get(&url, &[("authorization", &bearer(&env.bob()))])
        .await;
    let bob2 = client
        .get(&url, &[("authorization", &bearer(&env.bob()))])
        .await;
    let carol = client
        .get(
            &url,
            &[(
                "authorization",
                &bearer(&env.token("carol", "contoso-callcenter")),
            )],
        )
        .await;
    let (t1, t2, t3) = (tag_token(&bob1), tag_token(&bob2), tag_token(&carol));
    assert!(t1.starts_with("tok_"), "{t1}");
    assert_eq!(t1, t2);
    assert_ne!(t1, t3);
    assert!(!t1.contains(&a.devices[0].service_tag));
}

const NOTES_PASS_POLICY: &str = r#"
[policy]
name = "notes-visible"

[[route]]
methods = ["GET"]
path = "/customers/{customer}"
customer = "id"

[route.fields]
"id" = "pass"
"devices[*].service_tag" = { action = "tokenize", justify = ["hardware"] }
"service_history[*].notes" = "pass"

[[detector]]
name = "service-tag"
pattern = '\b[0-9A-Z]{7}\b'
action = "tokenize"
justify = ["hardware"]
"#;

#[tokio::test]
async fn a_note_quoting_a_tag_gets_the_same_token_as_the_field() {
    let policies = tempfile::tempdir().unwrap();
    std::fs::write(policies.path().join("notes.toml"), NOTES_PASS_POLICY).unwrap();
    let dir = policies.path().to_path_buf();
    let env = TestEnv::start_with(support::Behaviour::Forward, move |c| c.policies.dir = dir).await;
    let a = env.ticket_customer("T-1001").clone();
    let (case, device) = a
        .service_history
        .iter()
        .enumerate()
        .find_map(|(i, case)| {
            a.devices
                .iter()
                .position(|d| case.notes.contains(&d.service_tag))
                .map(|d| (i, d))
        })
        .expect("demo picks a customer whose notes quote a tag");
    let reply = env
        .h1()
        .get(
            &format!("{}/customers/{}", env.base(), a.id),
            &[("authorization", &bearer(&env.bob()))],
        )
        .await;
    let body = reply.json();
    let token = body["devices"][device]["service_tag"].as_str().unwrap();
    let notes = body["service_history"][case]["notes"].as_str().unwrap();
    assert!(token.starts_with("tok_"));
    assert!(
        notes.contains(token),
        "the quote carries the field's token: {notes}"
    );
    assert!(!notes.contains(&a.devices[device].service_tag));
}

#[tokio::test]
async fn an_agent_can_use_its_own_token_in_a_path_and_a_json_body() {
    let env = TestEnv::start().await;
    let a = env.ticket_customer("T-1001").clone();
    let client = env.h1();
    let auth = bearer(&env.bob());
    let reply = read_as(&client, &env, &auth, &a.id).await;
    let token = tag_token(&reply);
    let real = a.devices[0].service_tag.clone();

    let device = client
        .get(
            &format!("{}/devices/{token}", env.base()),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(
        device.status,
        200,
        "{}",
        String::from_utf8_lossy(&device.body)
    );
    assert_eq!(
        device.json()["service_tag"],
        token.as_str(),
        "the response is tokenized again"
    );
    let seen = env.recorder.seen();
    assert_eq!(
        seen.last().unwrap().target,
        format!("/devices/{real}"),
        "upstream got the real tag"
    );

    let note = json!({"summary": "Follow-up call", "notes": format!("Customer confirmed unit {token}."), "service_tag": token});
    let url = format!("{}/customers/{}/notes", env.base(), a.id);
    let created = client
        .send(
            http::Method::POST,
            &url,
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            &note.to_string(),
        )
        .await;
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let upstream_body: serde_json::Value =
        serde_json::from_slice(&env.recorder.seen().last().unwrap().body).unwrap();
    assert_eq!(upstream_body["service_tag"], real.as_str());
    assert_eq!(
        upstream_body["notes"],
        format!("Customer confirmed unit {real}.").as_str()
    );
    assert!(!String::from_utf8_lossy(&created.all_bytes()).contains(&real));
}

/// How the upstream decodes a body that is not JSON (escapes, percent-encoding,
/// entities) is unknown to Keyhole: `\u0041` right after a token is JSON for
/// an `A` glued to it, so a raw-text swap would have the upstream store the
/// clear tag glued to an `A`, where no detector finds it, and show it to
/// anyone reading the record. Such a body holding the agent's own token is
/// refused, whatever its type says; in a JSON body the glued text is no token.
#[tokio::test]
async fn a_token_is_never_swapped_into_a_body_the_upstream_reads_otherwise() {
    let env = TestEnv::start().await;
    let a = env.ticket_customer("T-1001").clone();
    let client = env.h1();
    let auth = bearer(&env.bob());
    let reply = read_as(&client, &env, &auth, &a.id).await;
    let device = &reply.json()["devices"][0];
    let (tag, code) = (
        device["service_tag"].as_str().unwrap(),
        device["express_service_code"].as_str().unwrap(),
    );
    assert!(
        tag.starts_with("tok_") && code.starts_with("tok_"),
        "{device}"
    );
    let truth = [
        a.devices[0].service_tag.as_str(),
        a.devices[0].express_service_code.as_str(),
    ];
    let glued = format!(r#"{{"summary":"{tag}\u0041 {code}\u0041","notes":"n"}}"#);
    let url = format!("{}/customers/{}/notes", env.base(), a.id);
    let forwarded = env.recorder.count();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut headers = vec![("authorization", auth.as_str())];
        headers.extend(content_type.map(|t| ("content-type", t)));
        let refused = client
            .send(http::Method::POST, &url, &headers, &glued)
            .await;
        assert_eq!(
            (refused.status.as_u16(), refused.error_code().as_str()),
            (415, "token-outside-json"),
            "{content_type:?}"
        );
        let bytes = String::from_utf8_lossy(&refused.all_bytes()).into_owned();
        assert!(truth.iter().all(|t| !bytes.contains(t)), "{bytes}");
    }
    assert_eq!(
        env.recorder.count(),
        forwarded,
        "nothing reached the upstream"
    );

    let json = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let reply = client.send(http::Method::POST, &url, &json, &glued).await;
    let upstream = env.recorder.seen();
    let sent = upstream
        .iter()
        .skip(forwarded)
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect::<String>();
    let answered = String::from_utf8_lossy(&reply.all_bytes()).into_owned();
    for t in truth {
        assert!(!sent.contains(t), "the upstream got {t}: {sent}");
        assert!(!answered.contains(t), "the agent got {t}: {answered}");
    }
}

/// With `unmatched = "pass"`, a route no policy names is forwarded and its
/// answer passed on unjudged: a token swapped for its value there could come
/// straight back in clear from an upstream that echoes its path. So a token is
/// refused on such a route, in the path or the query, and nothing goes up.
#[tokio::test]
async fn a_token_on_a_route_no_policy_names_is_refused() {
    let env = TestEnv::start_with(support::Behaviour::Forward, |c| {
        c.policies.unmatched = keyhole::policy::Unmatched::Pass
    })
    .await;
    let a = env.ticket_customer("T-1001").clone();
    let client = env.h1();
    let auth = bearer(&env.bob());
    let token = tag_token(&read_as(&client, &env, &auth, &a.id).await);
    let forwarded = env.recorder.count();
    for target in [format!("/orders/{token}"), format!("/orders?tag={token}")] {
        let url = format!("{}{target}", env.base());
        let reply = client.get(&url, &[("authorization", &auth)]).await;
        assert_eq!(
            (reply.status.as_u16(), reply.error_code().as_str()),
            (403, "token-on-unjudged-route"),
            "{target}"
        );
        let bytes = String::from_utf8_lossy(&reply.all_bytes()).into_owned();
        assert!(!bytes.contains(&a.devices[0].service_tag), "{bytes}");
    }
    assert_eq!(
        env.recorder.count(),
        forwarded,
        "nothing reached the upstream"
    );
    let plain = format!("{}/orders/{}", env.base(), a.id);
    client.get(&plain, &[("authorization", &auth)]).await;
    assert_eq!(
        env.recorder.count(),
        forwarded + 1,
        "an unnamed route without tokens is forwarded"
    );
}

/// A JSON body naming a member twice has no one meaning (parsers disagree on
/// which copy wins), and only one copy would be searched for tokens: another
/// agent's token hidden in the other went up unrefused and unledgered. Such
/// a body is refused, and nothing is forwarded.
#[tokio::test]
async fn a_json_body_naming_a_member_twice_is_refused() {
    let env = TestEnv::start().await;
    let a = env.ticket_customer("T-1001").clone();
    let client = env.h1();
    let alices = tag_token(&read_as(&client, &env, &bearer(&env.alice()), &a.id).await);
    let bob = bearer(&env.bob());
    let url = format!("{}/customers/{}/notes", env.base(), a.id);
    let headers = [
        ("authorization", bob.as_str()),
        ("content-type", "application/json"),
    ];
    let forwarded = env.recorder.count();
    for body in [
        format!(r#"{{"notes":"{alices}","notes":"y","summary":"s"}}"#),
        format!(r#"{{"summary":"s","a":{{"x":"{alices}","x":"y"}}}}"#),
        format!(r#"{{"summary":"s","n\u006ftes":"{alices}","notes":"y"}}"#),
    ] {
        let reply = client.send(http::Method::POST, &url, &headers, &body).await;
        assert_eq!(
            (reply.status.as_u16(), reply.error_code().as_str()),
            (400, "request-body-invalid"),
            "{body}"
        );
    }
    assert_eq!(
        env.recorder.count(),
        forwarded,
        "nothing reached the upstream"
    );
    let once = r#"{"notes":"n","summary":"s"}"#;
    let reply = client.send(http::Method::POST, &url, &headers, once).await;
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
}

#[tokio::test]
async fn another_agents_or_a_tampered_token_is_refused_and_nothing_is_forwarded() {
    let env = TestEnv::start().await;
    let a = env.ticket_customer("T-1001").clone();
    let client = env.h1();
    let reply = client
        .get(
            &format!("{}/customers/{}", env.base(), a.id),
            &[("authorization", &bearer(&env.bob()))],
        )
        .await;
    let token = tag_token(&reply);
    let forwarded = env.recorder.count();
    let alice = bearer(&env.alice());
    let stolen = client
        .get(
            &format!("{}/devices/{token}", env.base()),
            &[("authorization", &alice)],
        )
        .await;
    assert_eq!(stolen.status, 403);
    assert_eq!(stolen.error_code(), "token-not-yours");
    assert!(
        !String::from_utf8_lossy(&stolen.all_bytes()).contains("bob"),
        "the error does not name the holder"
    );

    let mut bytes = token.clone().into_bytes();
    let last = bytes.len() - 3;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let bob = bearer(&env.bob());
    let reply = client
        .get(
            &format!("{}/devices/{tampered}", env.base()),
            &[("authorization", &bob)],
        )
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.error_code().as_str()),
        (403, "token-tampered")
    );
    let body = json!({"summary": "x", "notes": format!("see {token}")}).to_string();
    let reply = client
        .send(
            http::Method::POST,
            &format!("{}/customers/{}/notes", env.base(), a.id),
            &[
                ("authorization", &alice),
                ("content-type", "application/json"),
            ],
            &body,
        )
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        env.recorder.count(),
        forwarded,
        "refused requests never reach the upstream"
    );
}

#[tokio::test]
async fn token_inspect_names_the_agent_it_was_issued_to() {
    let env = TestEnv::start().await;
    let a = env.ticket_customer("T-1001").clone();
    let reply = env
        .h1()
        .get(
            &format!("{}/customers/{}", env.base(), a.id),
            &[("authorization", &bearer(&env.bob()))],
        )
        .await;
    let token = tag_token(&reply);
    let run = |reveal: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_keyhole"));
        cmd.args(["token", "inspect", "--config"])
            .arg(&env.files.config)
            .arg(&token);
        if reveal {
            cmd.arg("--reveal");
        }
        cmd.output().unwrap()
    };
    let out = run(false);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("agent:  bob")
            && text.contains("contoso-callcenter")
            && text.contains("service-tag")
            && text.contains("issued: while key"),
        "{text}"
    );
    assert!(!text.contains(&a.devices[0].service_tag));
    let revealed = String::from_utf8_lossy(&run(true).stdout).to_string();
    assert!(revealed.contains(&a.devices[0].service_tag));
}
