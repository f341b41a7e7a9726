//! Hostile agent tokens: algorithm tricks, key confusion, `kid` games, headers
//! that try to bring their own key, odd claim types, malformed and misplaced
//! tokens. Each refused token gets 401, nothing reaches the upstream, and the
//! leak oracle finds nothing in what came back.

#[path = "support/hostile.rs"]
mod hostile;
mod support;

use base64::Engine;
use hostile::Oracle;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};
use support::{bearer, Client, TestEnv};

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

fn demo_key(env: &TestEnv) -> EncodingKey {
    let pem = std::fs::read(env.files.dir.join("keys/agent-signing.pem")).expect("key");
    EncodingKey::from_ed_pem(&pem).expect("ed key")
}

/// Signs exactly the header and payload text given (so duplicate keys survive).
fn forge_raw(header: &str, payload: &str, key: &EncodingKey, alg: Algorithm) -> String {
    let signing_input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = jsonwebtoken::crypto::sign(signing_input.as_bytes(), key, alg).expect("sign");
    format!("{signing_input}.{sig}")
}

fn forge(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    forge_raw(&header.to_string(), &claims.to_string(), key, alg)
}

/// A token signed by the demo key with a custom header.
fn signed_with_header(env: &TestEnv, header: Value) -> String {
    forge(&header, &claims(env), &demo_key(env), Algorithm::EdDSA)
}

/// A token signed by the demo key with one claim replaced (or removed with `Null`… see `without`).
fn with_claim(env: &TestEnv, key: &str, value: Value) -> String {
    let mut c = claims(env);
    c[key] = value;
    let header = json!({"alg": "EdDSA", "kid": "demo-ed25519", "typ": "JWT"});
    forge(&header, &c, &demo_key(env), Algorithm::EdDSA)
}

fn without(env: &TestEnv, key: &str) -> String {
    let mut c = claims(env);
    c.as_object_mut().expect("object").remove(key);
    let header = json!({"alg": "EdDSA", "kid": "demo-ed25519"});
    forge(&header, &c, &demo_key(env), Algorithm::EdDSA)
}

fn attacker_key() -> (EncodingKey, String) {
    let (private, public) = keyhole::demo::pki::ed25519_keypair().expect("keypair");
    (
        EncodingKey::from_ed_pem(private.as_bytes()).expect("key"),
        public,
    )
}

/// A case name, the URL and the headers carrying (or misplacing) the credential.
type Placement<'a> = (&'a str, String, Vec<(&'a str, String)>);

async fn expect_refused(env: &TestEnv, client: &Client, case: &str, token: &str) {
    let url = format!("{}/customers/{}", env.base(), env.hardware_customer().id);
    let auth = bearer(token);
    let reply = client
        .get(&url, &[("authorization", &auth), ("x-ticket-id", "T-1001")])
        .await;
    assert_eq!(
        reply.status,
        401,
        "{case}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    assert!(reply.error_code().starts_with("token-"), "{case}");
    Oracle::new(&env.data).assert_clean(&reply.all_bytes(), None, case);
}

fn algorithm_tricks(env: &TestEnv) -> Vec<(&'static str, String)> {
    let payload = b64(claims(env).to_string().as_bytes());
    let none = |alg: &str| {
        format!(
            "{}.{payload}.",
            b64(json!({"alg": alg}).to_string().as_bytes())
        )
    };
    let public = std::fs::read(env.files.dir.join("keys/agent-signing.pub.pem")).expect("pub");
    let hs = |alg, secret: &[u8]| {
        let header = json!({"alg": format!("{alg:?}"), "kid": "demo-ed25519"});
        forge(
            &header,
            &claims(env),
            &EncodingKey::from_secret(secret),
            alg,
        )
    };
    let good = signed_with_header(env, json!({"alg": "EdDSA", "kid": "demo-ed25519"}));
    let (_, rest) = good.split_once('.').expect("dot");
    let relabel = |alg: &str| {
        let header = b64(json!({"alg": alg, "kid": "demo-ed25519"})
            .to_string()
            .as_bytes());
        format!("{header}.{rest}")
    };
    vec![
        ("alg none", none("none")),
        ("alg None", none("None")),
        ("alg NONE", none("NONE")),
        ("alg nOnE", none("nOnE")),
        ("alg none with a signature", format!("{}AAAA", none("none"))),
        (
            "HS256 keyed with the public PEM",
            hs(Algorithm::HS256, &public),
        ),
        (
            "HS256 keyed with the trimmed PEM",
            hs(Algorithm::HS256, public.trim_ascii()),
        ),
        (
            "HS384 keyed with the public PEM",
            hs(Algorithm::HS384, &public),
        ),
        (
            "HS512 keyed with the public PEM",
            hs(Algorithm::HS512, &public),
        ),
        ("EdDSA signature relabelled RS256", relabel("RS256")),
        ("EdDSA signature relabelled ES256", relabel("ES256")),
        ("EdDSA signature relabelled HS256", relabel("HS256")),
        ("EdDSA signature relabelled Ed25519", relabel("Ed25519")),
    ]
}

fn kid_tricks(env: &TestEnv) -> Vec<(&'static str, String)> {
    let kid = |k: Value| signed_with_header(env, json!({"alg": "EdDSA", "kid": k}));
    vec![
        (
            "kid path traversal",
            kid(json!("../keys/agent-signing.pub.pem")),
        ),
        ("kid absolute path", kid(json!("/dev/null"))),
        (
            "kid dot segments",
            kid(json!("demo-ed25519/../demo-ed25519")),
        ),
        ("kid other case", kid(json!("DEMO-ED25519"))),
        ("kid trailing space", kid(json!("demo-ed25519 "))),
        ("kid trailing NUL", kid(json!("demo-ed25519\u{0}"))),
        ("kid empty", kid(json!(""))),
        ("kid unknown", kid(json!("rotated-away"))),
        ("kid as a number", kid(json!(1))),
        ("kid as an array", kid(json!(["demo-ed25519"]))),
        ("kid SQL", kid(json!("x' OR '1'='1"))),
    ]
}

fn key_injection(env: &TestEnv) -> Vec<(&'static str, String)> {
    let (key, public) = attacker_key();
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&[7u8; 32])});
    let own = |header: Value| forge(&header, &claims(env), &key, Algorithm::EdDSA);
    vec![
        (
            "attacker key, embedded jwk",
            own(json!({"alg": "EdDSA", "jwk": jwk})),
        ),
        (
            "attacker key, embedded jwk and the demo kid",
            own(json!({"alg": "EdDSA", "kid": "demo-ed25519", "jwk": jwk})),
        ),
        (
            "attacker key, jku",
            own(json!({"alg": "EdDSA", "jku": "https://127.0.0.1:1/jwks.json"})),
        ),
        (
            "attacker key, x5u",
            own(json!({"alg": "EdDSA", "x5u": "https://127.0.0.1:1/cert.pem"})),
        ),
        (
            "attacker key, x5c",
            own(json!({"alg": "EdDSA", "x5c": [b64(public.as_bytes())]})),
        ),
    ]
}

fn claim_tricks(env: &TestEnv) -> Vec<(&'static str, String)> {
    let now = chrono::Utc::now().timestamp();
    let header = r#"{"alg":"EdDSA","kid":"demo-ed25519"}"#;
    let c = claims(env).to_string();
    let dup_sub = c.replacen('{', r#"{"sub":"mallory","#, 1);
    let dup_alg = r#"{"alg":"EdDSA","kid":"demo-ed25519","alg":"none"}"#;
    vec![
        (
            "exp as a string",
            with_claim(env, "exp", json!((now + 600).to_string())),
        ),
        (
            "nbf as a string",
            with_claim(env, "nbf", json!((now - 5).to_string())),
        ),
        (
            "exp as a float",
            with_claim(env, "exp", json!(now as f64 + 600.5)),
        ),
        ("exp huge float", with_claim(env, "exp", json!(1e300))),
        ("exp beyond i64", with_claim(env, "exp", json!(u64::MAX))),
        ("exp negative", with_claim(env, "exp", json!(-1))),
        ("exp zero", with_claim(env, "exp", json!(0))),
        ("exp null", with_claim(env, "exp", Value::Null)),
        ("exp true", with_claim(env, "exp", json!(true))),
        ("nbf far future", with_claim(env, "nbf", json!(i64::MAX))),
        (
            "nbf as a float in the future",
            with_claim(env, "nbf", json!(now as f64 + 3600.0)),
        ),
        (
            "audience array without ours",
            with_claim(env, "aud", json!(["someone-else"])),
        ),
        ("audience empty array", with_claim(env, "aud", json!([]))),
        ("audience as a number", with_claim(env, "aud", json!(7))),
        (
            "audience as an object",
            with_claim(env, "aud", json!({"keyhole": true})),
        ),
        ("sub as a number", with_claim(env, "sub", json!(42))),
        ("sub empty", with_claim(env, "sub", json!(""))),
        (
            "sub too long",
            with_claim(env, "sub", json!("a".repeat(200))),
        ),
        (
            "sub with CRLF",
            with_claim(env, "sub", json!("alice\r\nx-keyhole-agent: root")),
        ),
        (
            "vendor with a space",
            with_claim(env, "vendor", json!("north wind")),
        ),
        ("missing iss", without(env, "iss")),
        ("missing aud", without(env, "aud")),
        ("missing exp", without(env, "exp")),
        ("missing nbf", without(env, "nbf")),
        ("missing sub", without(env, "sub")),
        ("missing vendor", without(env, "vendor")),
        (
            "duplicate sub claim",
            forge_raw(header, &dup_sub, &demo_key(env), Algorithm::EdDSA),
        ),
        (
            "duplicate alg header",
            forge_raw(dup_alg, &c, &demo_key(env), Algorithm::EdDSA),
        ),
    ]
}

fn malformed(env: &TestEnv) -> Vec<(&'static str, String)> {
    let good = signed_with_header(env, json!({"alg": "EdDSA", "kid": "demo-ed25519"}));
    let parts: Vec<&str> = good.split('.').collect();
    let std_b64 = good.replace('-', "+").replace('_', "/");
    vec![
        ("stripped signature", format!("{}.{}.", parts[0], parts[1])),
        ("no signature segment", format!("{}.{}", parts[0], parts[1])),
        ("four segments", format!("{good}.{}", parts[2])),
        ("empty segments", "..".to_string()),
        ("empty header", format!(".{}.{}", parts[1], parts[2])),
        (
            "padded segments",
            format!("{}=.{}=.{}", parts[0], parts[1], parts[2]),
        ),
        ("standard base64 alphabet", std_b64),
        (
            "header not JSON",
            format!("{}.{}.{}", b64(b"alg=EdDSA"), parts[1], parts[2]),
        ),
        (
            "header a JSON array",
            format!("{}.{}.{}", b64(b"[\"EdDSA\"]"), parts[1], parts[2]),
        ),
        (
            "payload not JSON",
            format!("{}.{}.{}", parts[0], b64(b"sub=alice"), parts[2]),
        ),
        ("signature truncated", good[..good.len() - 4].to_string()),
        ("space inside", format!("{} {}", &good[..10], &good[10..])),
        (
            "oversized",
            format!("{}.{}.{}", parts[0], "A".repeat(9000), parts[2]),
        ),
        ("empty", String::new()),
    ]
    .into_iter()
    // A token whose segments happen to hold no `-` or `_` is the same in both alphabets.
    .filter(|(case, token)| *case != "standard base64 alphabet" || *token != good)
    .collect()
}

#[tokio::test]
async fn forged_tokens_are_refused_over_http1_and_http2() {
    let env = TestEnv::start().await;
    let mut cases = algorithm_tricks(&env);
    cases.extend(kid_tricks(&env));
    cases.extend(key_injection(&env));
    for client in [env.h1(), env.h2()] {
        for (case, token) in &cases {
            expect_refused(&env, &client, case, token).await;
        }
    }
    assert_eq!(env.recorder.count(), 0, "nothing may reach the upstream");
}

#[tokio::test]
async fn odd_claims_and_malformed_tokens_are_refused() {
    let env = TestEnv::start().await;
    let client = env.h1();
    let mut cases = claim_tricks(&env);
    cases.extend(malformed(&env));
    for (case, token) in &cases {
        expect_refused(&env, &client, case, token).await;
    }
    assert_eq!(env.recorder.count(), 0, "nothing may reach the upstream");
}

#[tokio::test]
async fn headers_naming_other_keys_are_ignored_not_obeyed() {
    let env = TestEnv::start().await;
    let (_, public) = attacker_key();
    let url = format!("{}/customers/{}", env.base(), env.hardware_customer().id);
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&[7u8; 32])});
    // Signed by the configured key: the extra headers must neither help nor hurt.
    let genuine = signed_with_header(
        &env,
        json!({"alg": "EdDSA", "kid": "demo-ed25519", "jku": "https://127.0.0.1:1/k",
               "x5u": "https://127.0.0.1:1/c", "jwk": jwk, "x5c": [b64(public.as_bytes())]}),
    );
    let mut aud_list = claims(&env);
    aud_list["aud"] = json!(["someone-else", env.config.auth.audience]);
    let header = json!({"alg": "EdDSA", "kid": "demo-ed25519"});
    let listed = forge(&header, &aud_list, &demo_key(&env), Algorithm::EdDSA);
    let oracle = Oracle::new(&env.data);
    for (case, token) in [
        ("genuine with key headers", genuine),
        ("audience list with ours", listed),
    ] {
        let reply = env
            .h1()
            .get(&url, &[("authorization", &bearer(&token))])
            .await;
        assert_eq!(
            reply.status,
            200,
            "{case}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        oracle.assert_clean(&reply.all_bytes(), None, case);
    }
    assert_eq!(env.recorder.count(), 2);
}

#[tokio::test]
async fn misplaced_duplicated_or_smuggled_credentials_are_refused() {
    let env = TestEnv::start().await;
    let token = env.alice();
    let url = format!("{}/customers/{}", env.base(), env.hardware_customer().id);
    let oracle = Oracle::new(&env.data);
    let both = format!("Bearer {token}, Bearer {}", env.bob());
    let cases: Vec<Placement> = vec![
        (
            "query access_token",
            format!("{url}?access_token={token}"),
            vec![],
        ),
        ("query token", format!("{url}?token={token}&x=1"), vec![]),
        (
            "cookie",
            url.clone(),
            vec![("cookie", format!("access_token={token}"))],
        ),
        (
            "x-access-token",
            url.clone(),
            vec![("x-access-token", token.clone())],
        ),
        (
            "proxy-authorization",
            url.clone(),
            vec![("proxy-authorization", bearer(&token))],
        ),
        (
            "two headers, good first",
            url.clone(),
            vec![
                ("authorization", bearer(&token)),
                ("authorization", "Bearer x".into()),
            ],
        ),
        (
            "two headers, good last",
            url.clone(),
            vec![
                ("authorization", "Bearer x".into()),
                ("authorization", bearer(&token)),
            ],
        ),
        (
            "two tokens in one header",
            url.clone(),
            vec![("authorization", both)],
        ),
        (
            "basic scheme",
            url.clone(),
            vec![("authorization", format!("Basic {token}"))],
        ),
        (
            "no scheme",
            url.clone(),
            vec![("authorization", token.clone())],
        ),
    ];
    for client in [env.h1(), env.h2()] {
        for (case, target, headers) in &cases {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let reply = client.get(target, &headers).await;
            assert_eq!(reply.status, 401, "{case}");
            oracle.assert_clean(&reply.all_bytes(), None, case);
        }
    }
    assert_eq!(env.recorder.count(), 0);
}
