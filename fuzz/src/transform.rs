//! Target `transform`: the JSON transformer under the example policy.
//!
//! Input: two selector bytes (route, then ticket) and a JSON body. Properties:
//! a body that parses nests no deeper than the limit; the output serializes
//! and parses back to itself; and it never contains a service tag, express
//! code, phone or email of the data set that the ticket's category does not
//! justify, wherever the upstream put it.
//!
//! The oracle scans every text the output shows: string leaves, numbers and
//! object keys. Two regressions it found are seeds in the corpus: the name of
//! an unlisted array member (emptied but kept, so its name showed), and an
//! email whose pattern ran into a token an earlier detector had issued (the
//! match was skipped whole, the clear address beside the token with it).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use keyhole::demo::data::DataSet;
use keyhole::policy::Route;
use keyhole::ticket::{Lookup, Ticket, TicketContext, TicketStatus};
use keyhole::token::{Holder, TokenVault, TokensConfig};
use keyhole::transform::{self, Judge};
use serde_json::Value;

use crate::runner::{feature, Target};

/// The target.
pub const TARGET: Target = Target {
    name: "transform",
    dictionary: &[
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"",
        b"\\\"",
        b"\\u0000",
        b"\\ud800",
        b"\\u0070hone",
        b"1e999",
        b"-0",
        b"null",
        b"true",
        b"\"id\":",
        b"\"phone\":",
        b"\"notes\":",
        b"\"address\":{",
        b"\"devices\":[{",
        b"\"service_tag\":",
        b"\"results\":[",
        b"\"total\":",
        b"\"a.b\":",
        b"\"x[*]\":",
        b",",
        b":",
        b"\xc0\xae",
        b"\xff",
        b"+1-555-",
        b"@example.com",
        b" ",
    ],
    check,
};

/// Customers in the fuzzing data set.
const CUSTOMERS: usize = 12;
/// The gateway's default nesting limit.
const MAX_DEPTH: usize = 64;
const CATEGORIES: [&str; 3] = ["hardware", "dispatch", "account"];

struct Fixture {
    routes: Vec<Route>,
    data: DataSet,
    vault: TokenVault,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let (name, text) = keyhole::demo::setup::POLICIES[0];
        let routes = keyhole::policy::file::parse(Path::new(name), text).unwrap_or_default();
        Fixture {
            routes,
            data: DataSet::generate(keyhole::demo::setup::DEMO_SEED, CUSTOMERS),
            vault: scratch_vault(),
        }
    })
}

/// The process's token vault: one fresh key, made in a scratch directory (the
/// fuzz process's own) that is removed once the key is loaded. Every target
/// in the process shares it, so none removes the key file under another.
pub fn scratch_vault() -> TokenVault {
    static VAULT: OnceLock<TokenVault> = OnceLock::new();
    VAULT.get_or_init(make_scratch_vault).clone()
}

fn make_scratch_vault() -> TokenVault {
    let dir = std::env::temp_dir().join(format!("keyhole-fuzz-{}", std::process::id()));
    let key = dir.join("k1.key");
    let _ = std::fs::create_dir_all(&dir);
    if !key.exists() {
        let _ = keyhole::token::generate_key_file(&key);
    }
    let text = format!(
        "active = \"k1\"\n[[keys]]\nid = \"k1\"\nfile = {:?}\n",
        key.display().to_string()
    );
    let cfg: TokensConfig = match toml::from_str(&text) {
        Ok(cfg) => cfg,
        Err(e) => panic!("fuzz setup: tokens config: {e}"),
    };
    let vault = TokenVault::load(&cfg);
    // The vault holds its key once loaded; the scratch files would only pile up.
    let _ = std::fs::remove_dir_all(&dir);
    match vault {
        Ok(vault) => vault,
        Err(e) => panic!("fuzz setup: token vault: {e}"),
    }
}

/// Records and lists of the data set, prefixed with their selector bytes.
pub fn builtin_seeds() -> Vec<Vec<u8>> {
    let f = fixture();
    let mut seeds = Vec::new();
    for (i, c) in f.data.customers.iter().enumerate().take(4) {
        let record = serde_json::to_vec(c).unwrap_or_default();
        for ticket in 0..4u8 {
            seeds.push([&[(i * 3) as u8, ticket + 4 * i as u8][..], &record].concat());
        }
    }
    let list = serde_json::json!({"results": f.data.customers.iter().take(3).collect::<Vec<_>>(), "total": 3});
    seeds.push(
        [
            &[1u8, 5][..],
            &serde_json::to_vec(&list).unwrap_or_default(),
        ]
        .concat(),
    );
    seeds
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Applies `route` to a sample record with no ticket and checks the output parses back.
pub fn sample_round_trip(route: &Route) -> Result<(), String> {
    let f = fixture();
    let record = serde_json::to_value(&f.data.customers[0]).unwrap_or_default();
    let mut doc = serde_json::json!({"results": [record.clone()], "total": 1, "id": record["id"]});
    let ticket = TicketContext::none();
    let params = vec![("customer".to_string(), "CUS-100000".to_string())];
    judge_and_apply(route, &mut doc, &ticket, &params);
    round_trips(&doc)
}

fn judge_and_apply(
    route: &Route,
    doc: &mut Value,
    ticket: &TicketContext,
    params: &[(String, String)],
) -> transform::Outcome {
    let fingerprint = |v: &str| keyhole::ledger::Fingerprint([v.len() as u8; 32]);
    let params = params.to_vec();
    let judge = Judge {
        ticket,
        holder: Holder {
            agent: "fuzz",
            vendor: "fuzzers",
        },
        vault: &fixture().vault,
        fingerprint: &fingerprint,
        budgets: None,
        now: chrono::Utc::now(),
        params: &params,
        search: &[],
    };
    transform::apply(route, doc, &judge)
}

fn round_trips(doc: &Value) -> Result<(), String> {
    let bytes = serde_json::to_vec(doc).map_err(|e| format!("output does not serialize: {e}"))?;
    let again: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("output does not parse: {e}"))?;
    if &again != doc {
        return Err("output does not parse back to itself".into());
    }
    Ok(())
}

fn check(data: &[u8]) -> Result<u64, String> {
    let f = fixture();
    let ([route_sel, ticket_sel], body) = match data {
        [a, b, rest @ ..] => ([*a, *b], rest),
        _ => return Ok(feature(&[b"short"])),
    };
    let doc = transform::parse_json(body, MAX_DEPTH);
    let mut doc = match doc {
        Err(e) => return Ok(feature(&[b"refused", format!("{e:?}").as_bytes()])),
        Ok(doc) => doc,
    };
    if depth(&doc) > MAX_DEPTH {
        return Err(format!(
            "a body nesting {} deep passed the {MAX_DEPTH} limit",
            depth(&doc)
        ));
    }
    let route = &f.routes[usize::from(route_sel) % 3];
    let customer = &f.data.customers[usize::from(route_sel / 3) % CUSTOMERS];
    let params = vec![("customer".to_string(), customer.id.clone())];
    let category = (ticket_sel % 4 != 0).then(|| CATEGORIES[usize::from(ticket_sel % 4) - 1]);
    let ticket = match category {
        None => TicketContext::none(),
        Some(category) => {
            let holder = &f.data.customers[usize::from(ticket_sel / 4) % CUSTOMERS];
            let ticket = Ticket {
                id: "T-F".into(),
                status: TicketStatus::Open,
                assignee: "fuzz".into(),
                customer_id: holder.id.clone(),
                category: category.into(),
                expires_at: None,
            };
            TicketContext::from_lookup(
                "T-F",
                Lookup::Found(Arc::new(ticket)),
                "fuzz",
                chrono::Utc::now(),
                false,
            )
        }
    };
    let outcome = judge_and_apply(route, &mut doc, &ticket, &params);
    round_trips(&doc)?;
    leaks(&doc, category)?;
    let c = outcome.counts;
    let shape = [
        c.disclosed,
        c.masked,
        c.tokenized,
        c.redacted,
        c.dropped,
        c.passed,
    ]
    .map(|n| n.min(3) as u8);
    Ok(feature(&[&[route_sel % 3, ticket_sel % 4], &shape]))
}

/// The detector-covered values a ticket of `category` may not reveal, anywhere.
fn forbidden(category: Option<&str>) -> Vec<(bool, String)> {
    let f = fixture();
    let allows = |justify: &[&str]| category.is_some_and(|c| justify.contains(&c));
    let mut out = Vec::new();
    for c in &f.data.customers {
        if !allows(&["account"]) {
            out.push((false, c.email.clone()));
        }
        if !allows(&["dispatch"]) {
            out.push((false, c.phone.clone()));
        }
        for d in &c.devices {
            if !allows(&["hardware", "warranty"]) {
                out.push((true, d.service_tag.clone()));
            }
            if !allows(&["hardware"]) {
                out.push((true, d.express_service_code.clone()));
            }
        }
    }
    out
}

/// Bounded as the example detectors see words: no ASCII letter or digit on
/// either side (their `\b` is ASCII, and underscores are also read as spaces).
fn bounded_occurrence(text: &str, value: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric();
    text.match_indices(value).any(|(at, _)| {
        let before = text[..at].chars().next_back().is_none_or(|c| !word(c));
        let after = text[at + value.len()..]
            .chars()
            .next()
            .is_none_or(|c| !word(c));
        before && after
    })
}

fn leaks(doc: &Value, category: Option<&str>) -> Result<(), String> {
    let forbidden = forbidden(category);
    let mut texts = Vec::new();
    collect_texts(doc, &mut texts);
    for s in texts {
        for (bounded, value) in &forbidden {
            let found = if *bounded {
                bounded_occurrence(&s, value)
            } else {
                s.contains(value.as_str())
            };
            if found {
                return Err(format!("{value:?} shown under {category:?} in {s:?}"));
            }
        }
    }
    Ok(())
}

/// Every text the output shows: string leaves, numbers and object keys.
fn collect_texts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|i| collect_texts(i, out)),
        Value::Object(map) => {
            for (k, i) in map {
                out.push(k.clone());
                collect_texts(i, out);
            }
        }
        _ => {}
    }
}
