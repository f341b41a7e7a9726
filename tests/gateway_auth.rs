//! Agent authentication: every malformed, forged or misdirected token gets a
//! 401 with a JSON error, and nothing reaches the upstream.

mod support;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use support::{bearer, TestEnv};

fn b64(v: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

fn claims(env: &TestEnv) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": "alice", "vendor": "northwind-support", "iss": env.config.auth.issuer,
        "aud": env.config.auth.audience, "exp": now + 600, "nbf": now - 5, "iat": now,
    })
}

fn sign(env: &TestEnv, claims: &Value) -> String {
    let pem = std::fs::read(env.files.dir.join("keys/agent-signing.pem")).unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("demo-ed25519".into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_pem(&pem).unwrap()).unwrap()
}

fn with(env: &TestEnv, key: &str, value: Value) -> String {
    let mut c = claims(env);
    c[key] = value;
    sign(env, &c)
}

fn without(env: &TestEnv, key: &str) -> String {
    let mut c = claims(env);
    c.as_object_mut().unwrap().remove(key);
    sign(env, &c)
}

fn forged_tokens(env: &TestEnv) -> Vec<(&'static str, String)> {
    let good = sign(env, &claims(env));
    let (head_payload, sig) = good.rsplit_once('.').unwrap();
    let mut flipped = sig.as_bytes().to_vec();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    let payload = b64(claims(env).to_string().as_bytes());
    let public = std::fs::read(env.files.dir.join("keys/agent-signing.pub.pem")).unwrap();
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("demo-ed25519".into());
    let confused =
        jsonwebtoken::encode(&hs, &claims(env), &EncodingKey::from_secret(&public)).unwrap();
    let now = chrono::Utc::now().timestamp();
    vec![
        (
            "bad signature",
            format!("{head_payload}.{}", String::from_utf8(flipped).unwrap()),
        ),
        ("stripped signature", format!("{head_payload}.")),
        (
            "alg none",
            format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"JWT"}"#)),
        ),
        (
            "alg None",
            format!("{}.{payload}.", b64(br#"{"alg":"None","typ":"JWT"}"#)),
        ),
        ("HS256 signed with the public key", confused),
        ("expired", with(env, "exp", json!(now - 120))),
        ("not yet valid", with(env, "nbf", json!(now + 600))),
        ("wrong audience", with(env, "aud", json!("someone-else"))),
        ("wrong issuer", with(env, "iss", json!("evil"))),
        (
            "exp as string",
            with(env, "exp", json!((now + 600).to_string())),
        ),
        ("missing sub", without(env, "sub")),
        ("missing exp", without(env, "exp")),
        ("missing nbf", without(env, "nbf")),
        ("missing vendor", without(env, "vendor")),
        (
            "sub with a newline",
            with(env, "sub", json!("alice\nadmin")),
        ),
        ("malformed segments", "abc.def".to_string()),
        ("garbage", "not-a-jwt".to_string()),
    ]
}

#[tokio::test]
async fn forged_and_invalid_tokens_get_401_and_nothing_is_forwarded() {
    let env = TestEnv::start().await;
    let url = format!("{}/customers/{}", env.base(), env.hardware_customer().id);
    let client = env.h1();
    for (case, token) in forged_tokens(&env) {
        let reply = client
            .get(
                &url,
                &[
                    ("authorization", &bearer(&token)),
                    ("x-ticket-id", "T-1001"),
                ],
            )
            .await;
        assert_eq!(
            reply.status,
            401,
            "{case}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let code = reply.error_code();
        assert!(code.starts_with("token-"), "{case}: {code}");
        assert!(reply.json()["error"]["request_id"].as_str().is_some());
        assert_eq!(reply.header("www-authenticate").as_deref(), Some("Bearer"));
    }
    assert_eq!(env.recorder.count(), 0);
}

#[tokio::test]
async fn missing_ambiguous_or_misplaced_tokens_get_401() {
    let env = TestEnv::start().await;
    let url = format!("{}/customers/{}", env.base(), env.hardware_customer().id);
    let token = env.alice();
    let client = env.h1();
    let reply = client.get(&url, &[]).await;
    assert_eq!(
        (reply.status.as_u16(), reply.error_code().as_str()),
        (401, "token-missing")
    );
    let reply = client
        .get(&format!("{url}?access_token={token}"), &[])
        .await;
    assert_eq!(
        reply.status, 401,
        "a token in the query string is not a credential"
    );
    let reply = client
        .get(&url, &[("authorization", &format!("Basic {token}"))])
        .await;
    assert_eq!(reply.error_code(), "token-not-bearer");
    let reply = client
        .get(
            &url,
            &[
                ("authorization", &bearer(&token)),
                ("authorization", &bearer(&env.bob())),
            ],
        )
        .await;
    assert_eq!(reply.error_code(), "token-ambiguous");
    let huge = "a".repeat(9000);
    let reply = client.get(&url, &[("authorization", &bearer(&huge))]).await;
    assert_eq!(reply.error_code(), "token-too-large");
    assert_eq!(env.recorder.count(), 0);
}

#[tokio::test]
async fn a_valid_token_is_accepted_again_from_the_cache() {
    let env = TestEnv::start().await;
    let url = format!("{}/customers/{}", env.base(), env.hardware_customer().id);
    let auth = bearer(&env.bob());
    for _ in 0..3 {
        assert_eq!(
            env.h1().get(&url, &[("authorization", &auth)]).await.status,
            200
        );
    }
    assert_eq!(env.recorder.count(), 3);
}

/// `keyhole agent-token` mints what the gateway accepts, and refuses what it
/// would not (ids the gateway refuses, lifetimes past a year or past what
/// an expiry can hold) rather than print a token that cannot work.
#[tokio::test]
async fn agent_token_mints_usable_tokens_and_refuses_unusable_ones() {
    let env = TestEnv::start().await;
    let mint = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_keyhole"))
            .args(["agent-token", "--config"])
            .arg(&env.files.config)
            .args(args)
            .output()
            .unwrap()
    };
    let out = mint(&[
        "--agent",
        "bob",
        "--vendor",
        "contoso-callcenter",
        "--ttl",
        "366d",
    ]);
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap();
    let url = format!("{}/customers/{}", env.base(), env.hardware_customer().id);
    let reply = env
        .h1()
        .get(&url, &[("authorization", &bearer(token.trim()))])
        .await;
    assert_eq!(reply.status, 200);

    for (args, says) in [
        (
            ["--agent", "", "--vendor", "v", "--ttl", "8h"],
            "agent or vendor id",
        ),
        (
            ["--agent", "a", "--vendor", "a b", "--ttl", "8h"],
            "agent or vendor id",
        ),
        (
            ["--agent", "a", "--vendor", "v", "--ttl", "367d"],
            "longer than 366d",
        ),
        (
            ["--agent", "a", "--vendor", "v", "--ttl", "999999999999999d"],
            "longer than 366d",
        ),
        (
            [
                "--agent",
                "a",
                "--vendor",
                "v",
                "--ttl",
                "99999999999999999999",
            ],
            "invalid duration",
        ),
    ] {
        let out = mint(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && out.stdout.is_empty(), "{args:?}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
