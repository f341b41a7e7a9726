//! Agent JWT verification: cold (signature checked, then cached) and cached
//! (the per-request path once an agent's token has been seen).
//!
//! `cargo bench --bench auth -- --warm-up-time 1 --measurement-time 3`

// The allocator the gateway's binary runs with (see src/main.rs), so the
// numbers are the deployed ones.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::{HeaderMap, HeaderValue};

use keyhole::authenticate::{mint, AuthConfig, Authenticator};

/// An EdDSA key pair in `dir` and a config that verifies (and mints) with it.
fn eddsa_config(dir: &Path) -> AuthConfig {
    let (private, public) = keyhole::demo::pki::ed25519_keypair().expect("ed25519 key");
    let (private_path, public_path) = (dir.join("agent.pem"), dir.join("agent.pub.pem"));
    std::fs::write(&private_path, private).expect("write private key");
    std::fs::write(&public_path, public).expect("write public key");
    let text = format!(
        "issuer = \"keyhole-bench\"\naudience = \"keyhole\"\n\
         [[keys]]\nkid = \"bench\"\nalgorithm = \"EdDSA\"\n\
         public_key = {public_path:?}\nprivate_key = {private_path:?}\n"
    );
    let cfg: AuthConfig = toml::from_str(&text).expect("auth config");
    cfg.validate().expect("valid auth config");
    cfg
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_str(&format!("Bearer {token}")).expect("header value");
    headers.insert(http::header::AUTHORIZATION, value);
    headers
}

fn verification(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = eddsa_config(dir.path());
    let ttl = Duration::from_secs(3600);
    let token = mint(&cfg, "alice", "northwind-support", ttl).expect("mint");
    let headers = bearer(&token);
    let mut g = c.benchmark_group("auth/eddsa");
    // A fresh authenticator per sample: every verify misses the cache, checks the
    // signature and claims, then inserts. Building it is outside the timing.
    g.bench_function("cold", |b| {
        b.iter_batched(
            || Authenticator::from_config(&cfg).expect("authenticator"),
            |auth| {
                auth.authenticate(&headers).expect("valid token");
                auth
            },
            BatchSize::SmallInput,
        )
    });
    let warm = Authenticator::from_config(&cfg).expect("authenticator");
    warm.authenticate(&headers).expect("valid token");
    g.bench_function("cached", |b| {
        b.iter(|| warm.authenticate(&headers).expect("valid token"))
    });
    // A token that fails its signature is never cached: each one costs a full check.
    let forged = forge(&token);
    let forged_headers = bearer(&forged);
    g.bench_function("bad-signature", |b| {
        b.iter(|| warm.authenticate(&forged_headers).is_err())
    });
    g.finish();
}

/// The same header and claims with the signature's first character changed.
fn forge(token: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').expect("three-part JWT");
    let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
    format!("{signed}.{flipped}{}", &signature[1..])
}

criterion_group!(benches, verification);
criterion_main!(benches);
