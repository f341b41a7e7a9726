//! Property: for random records, random (consistent) policies, random agents and
//! tickets, the transformed response never contains a sensitive value the
//! ticket does not justify, always parses, records a disclosure for every clear
//! value it shows, and only records disclosures that
//! the ticket justifies. Exercised at the transform level (`transform::apply`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use keyhole::ledger::{Fingerprint, LedgerKey};
use keyhole::policy::Route;
use keyhole::ticket::{Lookup, Ticket, TicketContext, TicketStatus};
use keyhole::token::{Holder, TokenVault, TokensConfig};
use keyhole::transform::{self, Judge};
use proptest::prelude::*;
use serde_json::{json, Value};

const CATEGORIES: [&str; 5] = ["hardware", "warranty", "dispatch", "account", "billing"];

/// The kinds of sensitive value; fields of one kind share one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Email,
    Phone,
    Street,
    Postal,
    Tag,
    Code,
    Notes,
}

const KINDS: [Kind; 7] = [
    Kind::Email,
    Kind::Phone,
    Kind::Street,
    Kind::Postal,
    Kind::Tag,
    Kind::Code,
    Kind::Notes,
];

#[derive(Debug, Clone)]
struct Rule {
    /// `redact`, `tokenize`, `drop` or `mask` with first/last kept.
    action: (u8, usize, usize),
    justify: Vec<&'static str>,
}

impl Rule {
    fn toml(&self) -> String {
        let justify: Vec<String> = self.justify.iter().map(|c| format!("{c:?}")).collect();
        let action = match self.action.0 {
            0 => "action = \"redact\"".to_string(),
            1 => "action = \"tokenize\"".to_string(),
            2 => "action = \"drop\"".to_string(),
            _ => format!(
                "action = \"mask\", keep_first = {}, keep_last = {}",
                self.action.1, self.action.2
            ),
        };
        format!("{{ {action}, justify = [{}] }}", justify.join(", "))
    }

    /// The same rule as a detector (detectors cannot drop).
    fn detector(&self, name: &str, pattern: &str) -> String {
        let action = match self.action.0 {
            1 => "action = \"tokenize\"".to_string(),
            3 => format!(
                "action = \"mask\"\nkeep_first = {}\nkeep_last = {}",
                self.action.1, self.action.2
            ),
            _ => "action = \"redact\"".to_string(),
        };
        let justify: Vec<String> = self.justify.iter().map(|c| format!("{c:?}")).collect();
        format!(
            "[[detector]]\nname = \"{name}\"\npattern = '{pattern}'\n{action}\njustify = [{}]\n",
            justify.join(", ")
        )
    }
}

#[derive(Debug, Clone)]
struct Record {
    id: String,
    email: String,
    phone: String,
    street: String,
    postal: String,
    tags: Vec<String>,
    notes: Vec<String>,
}

impl Record {
    fn codes(&self) -> Vec<String> {
        self.tags
            .iter()
            .filter_map(|t| keyhole::demo::data::express_service_code(t))
            .collect()
    }

    fn values(&self) -> Vec<(Kind, String)> {
        let mut out = vec![
            (Kind::Email, self.email.clone()),
            (Kind::Phone, self.phone.clone()),
            (Kind::Street, self.street.clone()),
            (Kind::Postal, self.postal.clone()),
        ];
        out.extend(self.tags.iter().map(|t| (Kind::Tag, t.clone())));
        out.extend(self.codes().into_iter().map(|c| (Kind::Code, c)));
        out.extend(self.notes.iter().map(|n| (Kind::Notes, n.clone())));
        out
    }

    fn json(&self) -> Value {
        let devices: Vec<Value> = self
            .tags
            .iter()
            .zip(self.codes())
            .map(|(t, c)| json!({"service_tag": t, "express_service_code": c, "model": "Latitude 7440", "purchase_date": "2023-05-14"}))
            .collect();
        let history: Vec<Value> = self
            .notes
            .iter()
            .zip(self.tags.iter().cycle())
            .map(|(n, t)| json!({"case_id": "case-1", "service_tag": t, "summary": "Battery not charging", "notes": n}))
            .collect();
        json!({
            "id": self.id, "name": "ann smith", "email": self.email, "phone": self.phone,
            "address": {"street": self.street, "postal_code": self.postal, "city": "Austin"},
            "devices": devices, "service_history": history,
        })
    }
}

fn tag() -> impl Strategy<Value = String> {
    "[1-9A-Z][0-9A-Z]{6}".prop_filter("a tag mixes letters and digits", |t| {
        t.bytes().any(|b| b.is_ascii_digit()) && t.bytes().any(|b| b.is_ascii_uppercase())
    })
}

fn record(index: usize) -> impl Strategy<Value = Record> {
    (
        "[a-z]{3,8}",
        "[0-9]{3}-[0-9]{4}",
        "[1-9][0-9]{0,2} [A-Z][a-z]{2,8} Street",
        "[A-Z][0-9][A-Z] [0-9][A-Z][0-9]",
        prop::collection::vec(tag(), 1..3),
        prop::collection::vec(0u8..4, 0..3),
    )
        .prop_map(move |(user, phone, street, postal, tags, notes)| {
            let phone = format!("+1-555-{phone}");
            let notes = notes
                .iter()
                .map(|n| match n {
                    0 => format!("Board swapped on {}.", tags[0]),
                    1 => format!("Call back on {phone} after 5 pm."),
                    2 => format!("Tag {} checked; callback {phone}.", tags[tags.len() - 1]),
                    _ => "Walked through a BIOS recovery.".to_string(),
                })
                .collect();
            Record {
                id: format!("cust-{index}"),
                email: format!("{user}{index}@example.org"),
                phone,
                street,
                postal,
                tags,
                notes,
            }
        })
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        (0u8..4, 0usize..3, 0usize..3),
        prop::sample::subsequence(CATEGORIES.to_vec(), 0..3),
    )
        .prop_map(|(action, justify)| Rule { action, justify })
}

#[derive(Debug, Clone)]
struct Scenario {
    records: Vec<Record>,
    rules: Vec<Rule>,
    list: bool,
    unlisted_pass: bool,
    path_record: usize,
    agent: &'static str,
    ticket: Ticket,
    allow_pending: bool,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let records = (1usize..4).prop_flat_map(|n| (0..n).map(record).collect::<Vec<_>>());
    (
        records,
        prop::collection::vec(rule(), KINDS.len()),
        any::<bool>(),
        any::<bool>(),
        0usize..4,
        prop::sample::select(vec!["alice", "bob"]),
        (
            0u8..3,
            prop::sample::select(vec!["alice", "bob"]),
            0usize..4,
            prop::sample::select(CATEGORIES.to_vec()),
            0u8..3,
        ),
        any::<bool>(),
    )
        .prop_map(
            |(records, rules, list, unlisted_pass, path_record, agent, t, allow_pending)| {
                let (status, assignee, customer, category, expiry) = t;
                let now = Utc::now();
                let ticket = Ticket {
                    id: "T-1".into(),
                    status: [
                        TicketStatus::Open,
                        TicketStatus::Pending,
                        TicketStatus::Closed,
                    ][status as usize],
                    assignee: assignee.into(),
                    customer_id: format!("cust-{customer}"),
                    category: category.into(),
                    expires_at: [
                        None,
                        Some(now - Duration::hours(1)),
                        Some(now + Duration::hours(1)),
                    ][expiry as usize],
                };
                Scenario {
                    records,
                    rules,
                    list,
                    unlisted_pass,
                    path_record,
                    agent,
                    ticket,
                    allow_pending,
                }
            },
        )
}

impl Scenario {
    fn rule(&self, kind: Kind) -> &Rule {
        &self.rules[KINDS.iter().position(|k| *k == kind).unwrap_or(0)]
    }

    fn policy(&self) -> String {
        let r = |k| self.rule(k).toml();
        let (path, record, customer) = if self.list {
            ("/customers", "$.results[*]", "\"id\"")
        } else {
            ("/customers/{customer}", "$", "[\"{customer}\", \"id\"]")
        };
        let unlisted = if self.unlisted_pass { "pass" } else { "drop" };
        let mut text = format!(
            "[policy]\nname = \"prop\"\nunlisted = \"{unlisted}\"\n\n[[route]]\nmethods = [\"GET\"]\npath = \"{path}\"\nrecord = \"{record}\"\ncustomer = {customer}\n\n[route.fields]\n\"$.total\" = \"pass\"\n\"id\" = \"pass\"\n\"name\" = \"pass\"\n\"address.city\" = \"pass\"\n\"devices[*].model\" = \"pass\"\n\"devices[*].purchase_date\" = {{ action = \"generalize\", to = \"year\" }}\n\"service_history[*].case_id\" = \"pass\"\n\"service_history[*].summary\" = \"pass\"\n"
        );
        for (field, kind) in [
            ("email", Kind::Email),
            ("phone", Kind::Phone),
            ("address.street", Kind::Street),
            ("address.postal_code", Kind::Postal),
            ("devices[*].service_tag", Kind::Tag),
            ("service_history[*].service_tag", Kind::Tag),
            ("devices[*].express_service_code", Kind::Code),
            ("service_history[*].notes", Kind::Notes),
        ] {
            text.push_str(&format!("{field:?} = {}\n", r(kind)));
        }
        // Detectors reveal exactly what the matching field rule reveals.
        text.push('\n');
        text.push_str(
            &self
                .rule(Kind::Tag)
                .detector("service-tag", r"\b[0-9A-Z]{7}\b"),
        );
        text.push_str(
            &self
                .rule(Kind::Code)
                .detector("express-service-code", r"\b[0-9]{9,12}\b"),
        );
        text.push_str(&self.rule(Kind::Phone).detector(
            "phone",
            r"\+?[0-9]{1,3}[-. ]?\(?[0-9]{3}\)?[-. ][0-9]{3}[-. ][0-9]{4}",
        ));
        text.push_str(
            &self
                .rule(Kind::Email)
                .detector("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
        );
        text
    }

    fn document(&self) -> (Value, Vec<(String, String)>) {
        if self.list {
            let results: Vec<Value> = self.records.iter().map(Record::json).collect();
            (
                json!({"results": results, "total": results.len()}),
                Vec::new(),
            )
        } else {
            let path_id = format!("cust-{}", self.path_record);
            let record = &self.records[self.path_record.min(self.records.len() - 1)];
            (record.json(), vec![("customer".to_string(), path_id)])
        }
    }

    fn live(&self) -> bool {
        let t = &self.ticket;
        let status = t.status == TicketStatus::Open
            || (t.status == TicketStatus::Pending && self.allow_pending);
        t.assignee == self.agent && status && t.expires_at.is_none_or(|e| e > Utc::now())
    }

    /// Values the response may show in the clear, and values it must not.
    fn oracle(&self, params: &[(String, String)]) -> (Vec<String>, Vec<String>) {
        let shown: Vec<&Record> = if self.list {
            self.records.iter().collect()
        } else {
            vec![&self.records[self.path_record.min(self.records.len() - 1)]]
        };
        let (mut allowed, mut forbidden) = (Vec::new(), Vec::new());
        for r in &shown {
            let path_agrees = params.iter().all(|(_, v)| *v == r.id);
            for (kind, value) in r.values() {
                let ok = self.live()
                    && path_agrees
                    && self.ticket.customer_id == r.id
                    && self
                        .rule(kind)
                        .justify
                        .contains(&self.ticket.category.as_str());
                if ok {
                    allowed.push(value)
                } else {
                    forbidden.push(value)
                }
            }
        }
        forbidden.retain(|v| !allowed.contains(v));
        (allowed, forbidden)
    }
}

fn vault() -> (tempfile::TempDir, TokenVault) {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("k1.key");
    keyhole::token::generate_key_file(&key).expect("key");
    let text = format!(
        "active = \"k1\"\n[[keys]]\nid = \"k1\"\nfile = {:?}\n",
        key.display().to_string()
    );
    let cfg: TokensConfig = toml::from_str(&text).expect("tokens config");
    let vault = TokenVault::load(&cfg).expect("vault");
    (dir, vault)
}

fn compile(text: &str) -> Route {
    let mut routes = keyhole::policy::file::parse(Path::new("prop.toml"), text)
        .expect("generated policy compiles");
    routes.remove(0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn responses_never_show_what_the_ticket_does_not_justify(s in scenario()) {
        let (_dir, vault) = vault();
        let route = compile(&s.policy());
        let (mut doc, params) = s.document();
        let lookup = Lookup::Found(Arc::new(s.ticket.clone()));
        let ticket = TicketContext::from_lookup("T-1", lookup, s.agent, Utc::now(), s.allow_pending);
        // A real key, with each fingerprint's value kept so the property can check coverage.
        let key = LedgerKey::from_bytes(&[5u8; 32]);
        let seen: Mutex<HashMap<Fingerprint, String>> = Mutex::default();
        let fingerprint = |v: &str| {
            let fp = key.fingerprint_of(v);
            seen.lock().unwrap().insert(fp, v.to_string());
            fp
        };
        let vendor = if s.agent == "alice" { "northwind" } else { "contoso" };
        let judge = Judge {
            ticket: &ticket,
            holder: Holder { agent: s.agent, vendor },
            vault: &vault,
            fingerprint: &fingerprint,
            budgets: None,
            now: Utc::now(),
            params: &params,
            search: &[],
        };
        let outcome = transform::apply(&route, &mut doc, &judge);
        let bytes = serde_json::to_vec(&doc).expect("serializes");
        let reparsed: Value = serde_json::from_slice(&bytes).expect("output parses");
        prop_assert_eq!(&reparsed, &doc);
        let text = String::from_utf8_lossy(&bytes);
        let (allowed, forbidden) = s.oracle(&params);
        for value in &forbidden {
            prop_assert!(!text.contains(value.as_str()), "leaked {:?} in {}", value, text);
        }
        // Every clear value the response does contain has a disclosure record.
        for value in allowed.iter().filter(|v| text.contains(v.as_str())) {
            prop_assert!(
                outcome.disclosures.iter().any(|d| seen.lock().unwrap()[&d.fingerprint].contains(value.as_str())),
                "{:?} shown without a disclosure record", value
            );
        }
        if !s.live() {
            prop_assert!(outcome.disclosures.is_empty(), "a dead ticket disclosed {:?}", outcome.disclosures);
        }
        for d in &outcome.disclosures {
            prop_assert_eq!(&*d.customer, s.ticket.customer_id.as_str());
        }
    }
}

/// The control for the property: a live ticket for a record's customer does
/// reveal the values its category justifies, so the property is not vacuous.
/// One record, alice under a live hardware ticket for it; phone and email need `account`.
fn control_scenario(unlisted_pass: bool) -> Scenario {
    let rule = |justify: Vec<&'static str>| Rule {
        action: (0, 0, 0),
        justify,
    };
    let record = Record {
        id: "cust-0".into(),
        email: "ann0@example.org".into(),
        phone: "+1-555-123-4567".into(),
        street: "12 Oak Street".into(),
        postal: "A1B 2C3".into(),
        tags: vec!["7XK2M9Q".into()],
        notes: vec!["Board swapped on 7XK2M9Q.".into()],
    };
    let mut rules = vec![rule(vec!["account"]); KINDS.len()];
    rules[4] = rule(vec!["hardware"]);
    Scenario {
        records: vec![record],
        rules,
        list: false,
        unlisted_pass,
        path_record: 0,
        agent: "alice",
        ticket: Ticket {
            id: "T-1".into(),
            status: TicketStatus::Open,
            assignee: "alice".into(),
            customer_id: "cust-0".into(),
            category: "hardware".into(),
            expires_at: None,
        },
        allow_pending: false,
    }
}

/// Applies the scenario's policy to `doc` as alice under the scenario's ticket.
fn apply_as_alice(
    s: &Scenario,
    doc: &mut Value,
    params: &[(String, String)],
) -> transform::Outcome {
    let (_dir, vault) = vault();
    let route = compile(&s.policy());
    let ticket = TicketContext::from_lookup(
        "T-1",
        Lookup::Found(Arc::new(s.ticket.clone())),
        "alice",
        Utc::now(),
        false,
    );
    let key = LedgerKey::from_bytes(&[5u8; 32]);
    let fingerprint = |v: &str| key.fingerprint_of(v);
    let params = params.to_vec();
    let judge = Judge {
        ticket: &ticket,
        holder: Holder {
            agent: "alice",
            vendor: "northwind",
        },
        vault: &vault,
        fingerprint: &fingerprint,
        budgets: None,
        now: Utc::now(),
        params: &params,
        search: &[],
    };
    transform::apply(&route, doc, &judge)
}

#[test]
fn control_a_live_ticket_reveals_what_it_justifies() {
    let s = control_scenario(false);
    let (mut doc, params) = s.document();
    let outcome = apply_as_alice(&s, &mut doc, &params);
    assert_eq!(doc["devices"][0]["service_tag"], "7XK2M9Q");
    assert_eq!(doc["email"], "[redacted]");
    assert!(!outcome.disclosures.is_empty());
    let (allowed, forbidden) = s.oracle(&params);
    assert!(allowed.contains(&"7XK2M9Q".to_string()));
    assert!(forbidden.contains(&"ann0@example.org".to_string()));
}

#[test]
fn member_names_no_rule_covers_are_scanned_when_unlisted_values_pass() {
    for unlisted_pass in [true, false] {
        let s = control_scenario(unlisted_pass);
        let (mut doc, params) = s.document();
        // Names holding the record's phone and email, where no rule covers them:
        // beside the rules, inside a covered object, and inside an unlisted one.
        doc["call back on +1-555-123-4567"] = json!([{ "at": "noon" }]);
        doc["address"]["ann0@example.org"] = json!("x");
        doc["extra"] = json!({ "+1-555-123-4567": 1, "kept": "plain" });
        apply_as_alice(&s, &mut doc, &params);
        let text = doc.to_string();
        for value in ["+1-555-123-4567", "ann0@example.org"] {
            assert!(
                !text.contains(value),
                "{value} shown (unlisted_pass {unlisted_pass}): {text}"
            );
        }
        // Unlisted values that pass keep their plain names.
        assert_eq!(doc["extra"].get("kept").is_some(), unlisted_pass, "{text}");
    }
}
