//! Token costs on the hot paths: `tokenize` per sensitive field of a
//! response (a token the active key remembers, and one sealed afresh),
//! `detokenize` per token an agent sends back, and scanning request text that
//! holds tokens or none.

// The allocator the gateway's binary runs with (see src/main.rs), so the
// numbers are the deployed ones.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use keyhole::token::{generate_key_file, Holder, TokenScope, TokenVault, TokensConfig};

const AGENT: Holder<'static> = Holder {
    agent: "agent-0042",
    vendor: "acme",
};

/// The vault over `dir`'s key (generated on first use), remembering
/// `recent_tokens` tokens.
fn vault(dir: &std::path::Path, recent_tokens: usize) -> TokenVault {
    let key = dir.join("token-k1.key");
    if !key.exists() {
        generate_key_file(&key).expect("key file");
    }
    let text = format!(
        "active = \"k1\"\nrecent_tokens = {recent_tokens}\n[[keys]]\nid = \"k1\"\nfile = \"token-k1.key\"\n"
    );
    let mut cfg: TokensConfig = toml::from_str(&text).expect("config");
    cfg.resolve_paths(dir);
    TokenVault::load(&cfg).expect("vault")
}

fn bench_tokens(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let v = vault(dir.path(), 1024);
    let fresh = vault(dir.path(), 0);
    let token = v.tokenize(&AGENT, TokenScope::Agent, "service_tag", "7XK2M9Q");
    let sentence = format!("Customer read out {token} on the call; verified.");
    let plain = "Customer read out the tag on the call; verified, no token here.";

    for (name, vault) in [("recent", &v), ("sealed afresh", &fresh)] {
        c.bench_function(&format!("tokenize service_tag, {name}"), |b| {
            b.iter(|| {
                vault.tokenize(
                    black_box(&AGENT),
                    TokenScope::Agent,
                    "service_tag",
                    black_box("7XK2M9Q"),
                )
            })
        });
    }
    c.bench_function("detokenize service_tag", |b| {
        b.iter(|| v.detokenize(black_box(&AGENT), black_box(&token)))
    });
    c.bench_function("detokenize_text one token", |b| {
        b.iter(|| v.detokenize_text(black_box(&AGENT), black_box(&sentence)))
    });
    c.bench_function("detokenize_text no token", |b| {
        b.iter(|| v.detokenize_text(black_box(&AGENT), black_box(plain)))
    });
}

criterion_group!(benches, bench_tokens);
criterion_main!(benches);
