//! An agent without a ticket gets a masked record over HTTP/1.1 and HTTP/2,
//! and the upstream sees Keyhole's credentials, never the agent's.

mod support;

use support::oracle::{assert_no_leak, forbidden};
use support::{bearer, TestEnv};

#[tokio::test]
async fn unticketed_agent_sees_masked_record_over_http1_and_http2() {
    let env = TestEnv::start().await;
    let customer = env.hardware_customer().clone();
    let url = format!("{}/customers/{}", env.base(), customer.id);
    let auth = bearer(&env.bob());
    for client in [env.h1(), env.h2()] {
        let reply = client.get(&url, &[("authorization", &auth)]).await;
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let body = reply.json();
        assert_eq!(body["id"], customer.id.as_str());
        assert_eq!(body["name"], customer.name.as_str());
        assert_eq!(body["address"]["city"], customer.address.city.as_str());
        assert_eq!(body["address"]["street"], "[redacted]");
        let phone = body["phone"].as_str().unwrap();
        assert!(
            phone.starts_with('*') && phone.ends_with(&customer.phone[customer.phone.len() - 2..])
        );
        assert!(reply.header("keyhole-disclosure").is_none());
        assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
        assert_no_leak(&reply.all_bytes(), &forbidden(&customer));
    }
    let versions: Vec<_> = [env.h1(), env.h2()].into_iter().collect();
    assert_eq!(versions.len(), 2);
}

#[tokio::test]
async fn http2_is_negotiated_by_alpn() {
    let env = TestEnv::start().await;
    let url = format!("{}/customers/{}", env.base(), env.hardware_customer().id);
    let reply = env
        .h2()
        .get(&url, &[("authorization", &bearer(&env.bob()))])
        .await;
    assert_eq!(reply.version, http::Version::HTTP_2);
    let reply = env
        .h1()
        .get(&url, &[("authorization", &bearer(&env.bob()))])
        .await;
    assert_eq!(reply.version, http::Version::HTTP_11);
}

#[tokio::test]
async fn search_results_are_each_masked() {
    let env = TestEnv::start().await;
    let url = format!("{}/customers?q=&limit=30", env.base());
    let reply = env
        .h1()
        .get(&url, &[("authorization", &bearer(&env.bob()))])
        .await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), 30);
    // The upstream's count is of unfiltered matches, so the policy drops it.
    assert!(body.get("total").is_none());
    let all: Vec<String> = env.data.customers.iter().flat_map(forbidden).collect();
    assert_no_leak(&reply.all_bytes(), &all);
}

#[tokio::test]
async fn upstream_sees_service_credentials_and_vouched_headers_only() {
    let env = TestEnv::start().await;
    let token = env.bob();
    let url = format!("{}/customers/{}", env.base(), env.hardware_customer().id);
    let reply = env
        .h1()
        .get(
            &url,
            &[
                ("authorization", &bearer(&token)),
                ("x-forwarded-for", "6.6.6.6"),
                ("x-request-id", "attacker-chosen"),
                ("x-keyhole-agent", "alice"),
                ("cookie", "session=abc"),
                ("connection", "x-keyhole-agent"),
            ],
        )
        .await;
    assert_eq!(reply.status, 200);
    let seen = env.recorder.seen();
    assert_eq!(seen.len(), 1);
    let h = &seen[0].headers;
    let credential = std::fs::read_to_string(&env.files.upstream_credential).unwrap();
    assert_eq!(
        h["authorization"],
        format!("Bearer {}", credential.trim()).as_str()
    );
    assert!(!String::from_utf8_lossy(&format!("{h:?}").into_bytes()).contains(&token));
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-keyhole-agent"], "bob");
    assert_ne!(h["x-request-id"], "attacker-chosen");
    assert_eq!(
        h["x-request-id"].to_str().unwrap(),
        reply.header("keyhole-request-id").unwrap()
    );
    assert_eq!(h["accept-encoding"], "identity");
    assert!(h.get("cookie").is_none());
}

#[tokio::test]
async fn unknown_routes_and_ambiguous_paths_are_refused_before_upstream() {
    let env = TestEnv::start().await;
    let auth = bearer(&env.bob());
    let client = env.h1();
    let cases = [
        ("/admin", 404, "route-not-found"),
        ("/Customers/CUS-100000", 404, "route-not-found"),
        ("/customers/CUS-100000/../CUS-100001", 400, "bad-path"),
        ("/customers/%2e%2e/CUS-100001", 400, "bad-path"),
        ("/customers//CUS-100000", 400, "bad-path"),
        ("/customers/CUS-100000;x=1", 400, "bad-path"),
        ("/customers/CUS-100000%00", 400, "bad-path"),
        ("/customers/%252e%252e", 400, "bad-path"),
    ];
    for (path, status, code) in cases {
        let reply = client
            .get(
                &format!("{}{path}", env.base()),
                &[("authorization", &auth)],
            )
            .await;
        assert_eq!(reply.status, status, "{path}");
        assert_eq!(reply.error_code(), code, "{path}");
        assert!(reply.json()["error"]["request_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()));
    }
    let reply = client
        .send(
            http::Method::DELETE,
            &format!("{}/customers/CUS-100000", env.base()),
            &[("authorization", &auth)],
            "",
        )
        .await;
    assert_eq!(reply.status, 405);
    assert_eq!(env.recorder.count(), 0, "nothing may reach the upstream");
}
