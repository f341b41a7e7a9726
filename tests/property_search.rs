//! Property: which search results are kept is a function of what the agent is
//! shown. For random pages of records (names and cities passed, emails masked,
//! tags tokenized unless a hardware ticket for that customer discloses them),
//! random search text taken from any field or made up, and a ticket or none,
//! the kept records are exactly those whose clear-shown values hold the text
//! (ignoring case), whatever their concealed values are. Exercised at the
//! transform level (`transform::apply`), as the gateway runs it.

#[path = "support/token.rs"]
mod token;

use std::path::Path;
use std::sync::Arc;

use chrono::Utc;
use keyhole::ledger::LedgerKey;
use keyhole::policy::Route;
use keyhole::ticket::{Lookup, Ticket, TicketContext, TicketStatus};
use keyhole::token::{Holder, TokenVault};
use keyhole::transform::{self, Judge};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use proptest::prelude::*;
use serde_json::{json, Value};

const POLICY: &str = r#"[policy]
name = "search"

[[route]]
methods = ["GET"]
path = "/customers"
record = "$.results[*]"
customer = "id"

[route.query]
"q" = { matches = ["name", "email", "address.city", "devices[*].service_tag"] }

[route.fields]
"id"                     = "pass"
"name"                   = "pass"
"email"                  = { action = "mask", keep_first = 1, justify = ["account"] }
"address.city"           = "pass"
"devices[*].service_tag" = { action = "tokenize", justify = ["hardware"] }
"#;

#[derive(Debug, Clone)]
struct Record {
    name: String,
    email: String,
    city: String,
    tags: Vec<String>,
}

impl Record {
    fn json(&self, index: usize) -> Value {
        let devices: Vec<Value> = self
            .tags
            .iter()
            .map(|t| json!({"service_tag": t}))
            .collect();
        json!({"id": format!("cust-{index}"), "name": self.name, "email": self.email,
               "address": {"city": self.city}, "devices": devices})
    }

    /// The values a search may find: shown in the clear under `ticketed`.
    fn clear(&self, ticketed: bool) -> Vec<&str> {
        let mut clear = vec![self.name.as_str(), self.city.as_str()];
        if ticketed {
            clear.extend(self.tags.iter().map(String::as_str));
        }
        clear
    }

    fn all(&self) -> Vec<&str> {
        let mut all = vec![self.name.as_str(), self.email.as_str(), self.city.as_str()];
        all.extend(self.tags.iter().map(String::as_str));
        all
    }
}

fn record() -> impl Strategy<Value = Record> {
    (
        "[A-Za-zéİß]{1,6}( [A-Za-z]{1,6})?",
        "[a-z0-9.]{1,8}@[a-z]{1,5}\\.(net|org)",
        "[A-Za-z ]{1,8}",
        prop::collection::vec("[0-9A-Z]{7}", 0..3),
    )
        .prop_map(|(name, email, city, tags)| Record {
            name,
            email,
            city,
            tags,
        })
}

/// A page, the text (a piece of some value of some record, or made up), and
/// which record (if any) Alice's hardware ticket is for.
fn scenario() -> impl Strategy<Value = (Vec<Record>, String, Option<usize>)> {
    prop::collection::vec(record(), 1..6).prop_flat_map(|records| {
        let n = records.len();
        let values: Vec<String> = records
            .iter()
            .flat_map(|r| r.all().into_iter().map(str::to_string))
            .collect();
        let piece = (0..values.len(), any::<prop::sample::Index>(), 1usize..5).prop_map(
            move |(v, start, len)| {
                let chars: Vec<char> = values[v].chars().collect();
                let start = start.index(chars.len());
                chars[start..(start + len).min(chars.len())]
                    .iter()
                    .collect::<String>()
            },
        );
        let text = prop_oneof![3 => piece, 1 => "[a-zA-Z0-9@. ]{1,4}"];
        (Just(records), text, prop::option::of(0..n))
    })
}

fn compile() -> Route {
    let routes = keyhole::policy::file::parse(Path::new("search.toml"), POLICY);
    routes.expect("the policy compiles").remove(0)
}

fn ticket_for(customer: Option<usize>) -> TicketContext {
    let Some(index) = customer else {
        return TicketContext::none();
    };
    let ticket = Ticket {
        id: "T-1".into(),
        status: TicketStatus::Open,
        assignee: "alice".into(),
        customer_id: format!("cust-{index}"),
        category: "hardware".into(),
        expires_at: None,
    };
    TicketContext::from_lookup(
        "T-1",
        Lookup::Found(Arc::new(ticket)),
        "alice",
        Utc::now(),
        false,
    )
}

/// The ids Keyhole keeps for a search for `text` over `records`.
fn kept(
    route: &Route,
    vault: &TokenVault,
    records: &[Record],
    text: &str,
    ticketed: Option<usize>,
) -> Vec<String> {
    let query = format!("q={}", utf8_percent_encode(text, NON_ALPHANUMERIC));
    let search = route
        .query
        .as_ref()
        .expect("query rules")
        .admit(Some(&query))
        .expect("admitted");
    let ticket = ticket_for(ticketed);
    let key = LedgerKey::from_bytes(&[5u8; 32]);
    let fingerprint = |v: &str| key.fingerprint_of(v);
    let results: Vec<Value> = records.iter().enumerate().map(|(i, r)| r.json(i)).collect();
    let mut doc = json!({ "results": results });
    let judge = Judge {
        ticket: &ticket,
        holder: Holder {
            agent: "alice",
            vendor: "northwind",
        },
        vault,
        fingerprint: &fingerprint,
        budgets: None,
        now: Utc::now(),
        params: &Vec::new(),
        search: &search,
    };
    transform::apply(route, &mut doc, &judge);
    let results = doc["results"].as_array().cloned().unwrap_or_default();
    results
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn kept_results_are_those_that_show_the_text_in_the_clear((records, text, ticketed) in scenario()) {
        let (_dir, vault) = token::single_key();
        let route = compile();
        let needle = text.to_lowercase();
        let expected: Vec<String> = records
            .iter()
            .enumerate()
            .filter(|(i, r)| {
                needle.is_empty()
                    || r.clear(ticketed == Some(*i)).iter().any(|v| v.to_lowercase().contains(&needle))
            })
            .map(|(i, _)| format!("cust-{i}"))
            .collect();
        prop_assert_eq!(kept(&route, &vault, &records, &text, ticketed), expected, "q={:?}", text);
    }
}

#[test]
fn control_concealed_values_find_nothing_and_disclosed_ones_do() {
    let (_dir, vault) = token::single_key();
    let route = compile();
    let record = Record {
        name: "Dana Whitfield".into(),
        email: "dana.w@example.net".into(),
        city: "Leeds".into(),
        tags: vec!["7XK2M9Q".into()],
    };
    let page = [record];
    assert_eq!(kept(&route, &vault, &page, "whit", None), ["cust-0"]);
    assert!(
        kept(&route, &vault, &page, "dana.w", None).is_empty(),
        "a masked email"
    );
    assert!(
        kept(&route, &vault, &page, "7xk2", None).is_empty(),
        "a tokenized tag"
    );
    assert_eq!(
        kept(&route, &vault, &page, "7xk2", Some(0)),
        ["cust-0"],
        "disclosed by the ticket"
    );
}
