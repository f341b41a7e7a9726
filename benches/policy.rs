//! The policy engine's hot paths: a ~2 KB customer record, a 100-record search
//! page, detector scanning of free text, and the Presidio comparison input.
//!
//! Everything is built through the public API the gateway itself uses: routes
//! parsed from `policies/customer-records.toml`, the demo data set, a
//! `TokenVault` loaded from a key file and the ledger's own fingerprint, so
//! the numbers follow the real vault and ledger once they replace the stubs.
//!
//! `cargo bench --bench policy -- --warm-up-time 1 --measurement-time 3`

// The allocator the gateway's binary runs with (see src/main.rs), so the
// numbers are the deployed ones.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::{json, Value};

use keyhole::demo::data::{Customer, DataSet};
use keyhole::demo::setup::DEMO_SEED;
use keyhole::ledger::{Ledger, LedgerConfig};
use keyhole::policy::Route;
use keyhole::proxy::response;
use keyhole::ticket::{Lookup, Ticket, TicketContext, TicketStatus};
use keyhole::token::{Holder, TokenVault, TokensConfig};
use keyhole::transform::doc::Node;
use keyhole::transform::{self, Judge};

/// Size the single-record case aims for: a typical customer with devices and history.
const RECORD_BYTES: usize = 2048;
/// Records in the search page (the sample API's maximum page).
const PAGE: usize = 100;
/// Records in the Presidio comparison: the demo's default data set.
const PRESIDIO_RECORDS: usize = 1000;
/// Same nesting limit as the gateway's default.
const MAX_DEPTH: usize = 64;

const AGENT: &str = "alice";
const VENDOR: &str = "northwind-support";

/// What every benchmark borrows: keys in a temp dir, the vault, the ledger, the routes.
struct Fixture {
    _dir: tempfile::TempDir,
    /// Keeps whatever the ledger runs in the background alive.
    _runtime: tokio::runtime::Runtime,
    ledger: Ledger,
    vault: TokenVault,
    /// The same key remembering no tokens: every token sealed afresh.
    fresh_vault: TokenVault,
    /// `GET /customers/{customer}`, `GET /customers`, `POST /customers/{customer}/notes`.
    routes: Vec<Route>,
    data: DataSet,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        keyhole::token::generate_key_file(&d.join("token.key")).expect("token key");
        keyhole::ledger::generate_key_file(&d.join("ledger.key")).expect("ledger key");
        let tokens: TokensConfig = toml_config(&format!(
            "active = \"k1\"\n[[keys]]\nid = \"k1\"\nfile = {:?}\n",
            d.join("token.key")
        ));
        let ledger_cfg: LedgerConfig = toml_config(&format!(
            "dir = {:?}\nkey_file = {:?}\n",
            d.join("ledger"),
            d.join("ledger.key")
        ));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let ledger = runtime.block_on(Ledger::open(&ledger_cfg)).expect("ledger");
        let vault = TokenVault::load(&tokens).expect("token vault");
        let fresh_vault = TokenVault::load(&TokensConfig {
            recent_tokens: 0,
            ..tokens
        })
        .expect("token vault");
        let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/customer-records.toml");
        let text = std::fs::read_to_string(&policy).expect("policy file");
        let routes = keyhole::policy::file::parse(&policy, &text).expect("policy parses");
        Fixture {
            _dir: dir,
            _runtime: runtime,
            ledger,
            vault,
            fresh_vault,
            routes,
            data: DataSet::generate(DEMO_SEED, PRESIDIO_RECORDS),
        }
    }

    fn route(&self, template: &str, method: &http::Method) -> &Route {
        self.routes
            .iter()
            .find(|r| r.template.as_str() == template && r.methods.contains(method))
            .expect("route in customer-records.toml")
    }

    /// The customer whose serialized record is closest to [`RECORD_BYTES`].
    fn typical_customer(&self) -> &Customer {
        let size = |c: &Customer| serde_json::to_vec(c).map_or(0, |v| v.len());
        self.data
            .customers
            .iter()
            .min_by_key(|c| size(c).abs_diff(RECORD_BYTES))
            .expect("data set is not empty")
    }
}

fn toml_config<T: serde::de::DeserializeOwned>(text: &str) -> T {
    toml::from_str(text).expect("bench config")
}

/// A hardware ticket for `customer`, live and assigned to [`AGENT`].
fn ticket_for(customer: &str) -> TicketContext {
    let ticket = Ticket {
        id: "T-1001".into(),
        status: TicketStatus::Open,
        assignee: AGENT.into(),
        customer_id: customer.into(),
        category: "hardware".into(),
        expires_at: None,
    };
    let now = chrono::Utc::now();
    TicketContext::from_lookup("T-1001", Lookup::Found(Arc::new(ticket)), AGENT, now, false)
}

/// Runs `f` with a [`Judge`] for `ticket`, the way the proxy builds one.
fn with_judge<R>(
    fx: &Fixture,
    ticket: &TicketContext,
    params: &keyhole::route::Params,
    f: impl FnOnce(&Judge<'_>) -> R,
) -> R {
    with_judge_using(fx, &fx.vault, ticket, params, f)
}

fn with_judge_using<R>(
    fx: &Fixture,
    vault: &TokenVault,
    ticket: &TicketContext,
    params: &keyhole::route::Params,
    f: impl FnOnce(&Judge<'_>) -> R,
) -> R {
    let fingerprint = |v: &str| fx.ledger.fingerprint_of(v);
    let judge = Judge {
        ticket,
        holder: Holder {
            agent: AGENT,
            vendor: VENDOR,
        },
        vault,
        fingerprint: &fingerprint,
        budgets: None,
        now: chrono::Utc::now(),
        params,
        search: &[],
    };
    f(&judge)
}

fn json_parts() -> http::response::Parts {
    let resp = http::Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(())
        .expect("static response head");
    resp.into_parts().0
}

/// One case: a document, the route and ticket it is judged under.
struct Case<'a> {
    name: &'a str,
    route: &'a Route,
    doc: Value,
    ticket: TicketContext,
    params: keyhole::route::Params,
}

/// `apply_document` alone (the document is cloned outside the timing), then the whole
/// response filter from upstream bytes to agent bytes (parse, apply, serialize).
fn bench_case(c: &mut Criterion, fx: &Fixture, group: &str, case: &Case<'_>) {
    let bytes = Bytes::from(serde_json::to_vec(&case.doc).expect("serialize"));
    let parts = json_parts();
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    let parsed = transform::parse_document(&bytes, 64).expect("parses");
    with_judge(fx, &case.ticket, &case.params, |judge| {
        // A ticket case that disclosed nothing would measure the wrong path.
        let outcome = transform::apply_document(case.route, &mut parsed.clone(), judge);
        let expect_disclosure = case.ticket.ticket().is_some();
        assert_eq!(
            !outcome.disclosures.is_empty(),
            expect_disclosure,
            "{group}/{}",
            case.name
        );
        g.bench_function(format!("apply/{}", case.name), |b| {
            b.iter_batched(
                || parsed.clone(),
                |mut doc| transform::apply_document(case.route, &mut doc, judge),
                BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("filter/{}", case.name), |b| {
            b.iter(|| {
                response::filter(case.route, &parts, Some(bytes.clone()), judge, MAX_DEPTH)
                    .expect("judged")
            })
        });
    });
    g.finish();
}

fn record_2k(c: &mut Criterion) {
    let fx = Fixture::new();
    let customer = fx.typical_customer();
    let route = fx.route("/customers/{customer}", &http::Method::GET);
    let doc = serde_json::to_value(customer).expect("record");
    let params = vec![("customer".to_string(), customer.id.clone())];
    for (name, ticket) in [
        ("no-ticket", TicketContext::none()),
        ("ticket", ticket_for(&customer.id)),
    ] {
        let case = Case {
            name,
            route,
            doc: doc.clone(),
            ticket,
            params: params.clone(),
        };
        bench_case(c, &fx, "policy/record_2k", &case);
    }
}

fn search_100(c: &mut Criterion) {
    let fx = Fixture::new();
    let route = fx.route("/customers", &http::Method::GET);
    let results = &fx.data.customers[..PAGE];
    let doc = json!({ "results": results, "total": fx.data.customers.len() });
    // The ticket names one customer of the page: the other 99 stay concealed.
    let ticketed = results[PAGE / 2].id.clone();
    for (name, ticket) in [
        ("no-ticket", TicketContext::none()),
        ("ticket-one-customer", ticket_for(&ticketed)),
    ] {
        let case = Case {
            name,
            route,
            doc: doc.clone(),
            ticket,
            params: Vec::new(),
        };
        bench_case(c, &fx, "policy/search_100", &case);
    }
}

/// About 1 KiB of agent prose: the data set's own notes, which quote tags and phones.
fn free_text(fx: &Fixture) -> String {
    let mut text = String::new();
    let notes = fx.data.customers.iter().flat_map(|c| &c.service_history);
    for case in notes {
        if text.len() >= 1024 {
            break;
        }
        text.push_str(&case.notes);
        text.push(' ');
    }
    text.push_str("Reach me at jane.doe@example.com. ");
    text
}

/// Prose of the same length in which no detector finds anything.
fn clean_text(len: usize) -> String {
    "the customer reports the fan is loud after the update and asks for advice "
        .chars()
        .cycle()
        .take(len)
        .collect()
}

fn detectors(c: &mut Criterion) {
    let fx = Fixture::new();
    let route = fx.route("/customers/{customer}/notes", &http::Method::POST);
    let customer = fx.data.customers[0].id.clone();
    let text = free_text(&fx);
    let mut g = c.benchmark_group("detectors");
    g.throughput(Throughput::Bytes(text.len() as u64));
    // The bare regexes: what the walker adds on top of them is the difference.
    g.bench_function("regex_only/matches", |b| {
        b.iter(|| {
            let hits: usize = route
                .detectors
                .iter()
                .map(|d| d.pattern.find_iter(&text).count())
                .sum();
            hits
        })
    });
    g.finish();
    // `summary` passes and is scanned; the record carries nothing else to judge.
    for (name, body) in [("matches", text.clone()), ("clean", clean_text(text.len()))] {
        let case = Case {
            name,
            route,
            doc: json!({ "customer_id": customer, "summary": body }),
            ticket: TicketContext::none(),
            params: vec![("customer".to_string(), customer.clone())],
        };
        bench_case(c, &fx, "detectors/free_text", &case);
    }
}

/// The input `benches/load/presidio_compare.py` masks: the demo's 1,000
/// customers, each judged on its own as `GET /customers/{id}` without a ticket.
fn presidio_same_input(c: &mut Criterion) {
    let fx = Fixture::new();
    let route = fx.route("/customers/{customer}", &http::Method::GET);
    let values: Vec<Value> = fx
        .data
        .customers
        .iter()
        .map(|cust| serde_json::to_value(cust).expect("record"))
        .collect();
    let docs: Vec<(Node<'_>, keyhole::route::Params)> = values
        .iter()
        .zip(&fx.data.customers)
        .map(|(doc, cust)| {
            let params = vec![("customer".to_string(), cust.id.clone())];
            (Node::from_value(doc), params)
        })
        .collect();
    let ticket = TicketContext::none();
    let mut g = c.benchmark_group("presidio_same_input");
    g.throughput(Throughput::Elements(docs.len() as u64));
    // As deployed, the active key remembers recent tokens, and each pass
    // over the records re-issues the last pass's; Presidio encrypts afresh,
    // so the second line is Keyhole doing the same.
    let runs = [
        (format!("keyhole_{PRESIDIO_RECORDS}_records"), &fx.vault),
        (
            format!("keyhole_{PRESIDIO_RECORDS}_records_sealed_afresh"),
            &fx.fresh_vault,
        ),
    ];
    for (name, vault) in runs {
        g.bench_function(name, |b| {
            b.iter_batched(
                || docs.clone(),
                |mut docs| {
                    for (doc, params) in docs.iter_mut() {
                        with_judge_using(&fx, vault, &ticket, params, |judge| {
                            transform::apply_document(route, doc, judge)
                        });
                    }
                    docs
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// Parsing and writing back a record as the response filter does (the
/// borrowed, ordered document and its hand-written JSON), and
/// `serde_json::Value` for reference.
fn document_round_trip(c: &mut Criterion) {
    let fx = Fixture::new();
    let text = serde_json::to_vec(fx.typical_customer()).expect("record");
    let mut g = c.benchmark_group("document/record_2k");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("node", |b| {
        b.iter(|| {
            let doc = transform::parse_document(&text, 64).expect("parses");
            let mut out = Vec::with_capacity(text.len());
            doc.write_json(&mut out);
            out
        })
    });
    g.bench_function("serde_json_value", |b| {
        b.iter(|| {
            let doc: Value = serde_json::from_slice(&text).expect("parses");
            serde_json::to_vec(&doc).expect("writes")
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    document_round_trip,
    record_2k,
    search_100,
    detectors,
    presidio_same_input
);
criterion_main!(benches);
