//! Ledger benchmarks: durable appends through group commit with many concurrent
//! appenders, and leak attribution over a million-record ledger.
//!
//! `cargo bench --bench ledger -- --warm-up-time 1 --measurement-time 3`

// The allocator the gateway's binary runs with (see src/main.rs), so the
// numbers are the deployed ones.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keyhole::audit::{attribute, parse_leaked};
use keyhole::ledger::{
    generate_key_file, Entry, EntryKind, FieldDisclosure, Ledger, LedgerConfig, LedgerKey,
};

const APPENDERS: usize = 1024;
/// Records per measured iteration: as close to 50,000 as splits evenly over
/// the appenders, so the reported throughput counts what was really written.
const PER_ITER: usize = 50_000 / APPENDERS * APPENDERS;
const ATTRIBUTION_RECORDS: u64 = 1_000_000;

fn config(root: &Path) -> LedgerConfig {
    let key_file = root.join("ledger.key");
    if !key_file.exists() {
        generate_key_file(&key_file).unwrap();
    }
    LedgerConfig {
        dir: root.join("ledger"),
        key_file,
        ..LedgerConfig::default()
    }
}

/// A typical hardware-ticket disclosure: two service tags and an email.
fn entry(key: &LedgerKey, i: u64) -> Entry {
    let customer = format!("c{:06}", i % 200_000);
    let field = |path: &str, class: &str, value: String| FieldDisclosure {
        customer: customer.as_str().into(),
        path: path.into(),
        class: class.into(),
        fingerprint: key.fingerprint_of(&value),
    };
    Entry {
        kind: EntryKind::Disclosure,
        reason: None,
        time: Utc::now(),
        agent: format!("agent-{:03}", i % 300),
        vendor: format!("vendor-{}", i % 7),
        ticket: Some(format!("T-{}", i / 3)),
        customers: vec![customer.clone()],
        method: "GET".into(),
        route: "/customers/{customer}".into(),
        request_id: format!("req-{i:010}"),
        client: "10.1.2.3:50123".into(),
        fields: vec![
            field(
                "devices[0].service_tag",
                "service-tag",
                format!("T{:06}", i % 200_000),
            ),
            field(
                "devices[1].service_tag",
                "service-tag",
                format!("U{:06}", i % 200_000),
            ),
            field("email", "email", format!("{customer}@example.com")),
        ],
    }
}

/// Appends `total` entries from `APPENDERS` concurrent tasks; returns elapsed time.
async fn append_all(ledger: &Ledger, key: &LedgerKey, start: u64, total: usize) -> Duration {
    let per_task = total / APPENDERS;
    let entries: Vec<Vec<Entry>> = (0..APPENDERS)
        .map(|t| {
            (0..per_task)
                .map(|i| entry(key, start + (t * per_task + i) as u64))
                .collect()
        })
        .collect();
    let began = Instant::now();
    let tasks: Vec<_> = entries
        .into_iter()
        .map(|batch| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                for e in batch {
                    ledger.append(e).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    began.elapsed()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn bench_append(c: &mut Criterion) {
    let rt = runtime();
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path());
    let key = LedgerKey::load(&cfg.key_file).unwrap();
    let ledger = rt.block_on(Ledger::open(&cfg)).unwrap();
    let mut group = c.benchmark_group("ledger");
    group.throughput(Throughput::Elements(PER_ITER as u64));
    group.sample_size(10);
    let mut next = 0u64;
    group.bench_function("append_group_commit_1024_appenders", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += rt.block_on(append_all(&ledger, &key, next, PER_ITER));
                next += PER_ITER as u64;
            }
            total
        })
    });
    group.finish();
    rt.block_on(ledger.shutdown());
}

/// A leaked list: 500 values that were disclosed and 500 that were not.
fn leaked_list() -> String {
    let mut text = String::new();
    for i in 0..500u64 {
        text.push_str(&format!("T{:06}\n", i * 397 % 200_000));
        text.push_str(&format!("nobody{i}@mail.test\n"));
    }
    text
}

fn bench_attribution(c: &mut Criterion) {
    let rt = runtime();
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path());
    let key = LedgerKey::load(&cfg.key_file).unwrap();
    let ledger = rt.block_on(Ledger::open(&cfg)).unwrap();
    let mut written = 0;
    while written < ATTRIBUTION_RECORDS {
        rt.block_on(append_all(&ledger, &key, written, 100_352));
        written += 100_352;
    }
    rt.block_on(ledger.shutdown());
    let rows = parse_leaked(&leaked_list());
    let mut group = c.benchmark_group("ledger");
    group.throughput(Throughput::Elements(written));
    group.sample_size(10);
    group.bench_function("attribute_1m_records", |b| {
        b.iter(|| attribute(&cfg.dir, &key, &rows, 10).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench_append, bench_attribution);
criterion_main!(benches);
