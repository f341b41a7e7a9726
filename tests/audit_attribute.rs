//! Leak attribution on a realistic simulation: six weeks of call-center work by
//! forty agents at four vendors plus a busy second-line team that handles
//! escalations, then one ordinary agent leaks part of what they saw, mixed
//! with public-looking noise. The leaker must rank first.

#[path = "support/ledger.rs"]
mod support;
#[path = "support/tooling.rs"]
mod tooling;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use chrono::{Duration, TimeZone, Utc};
use keyhole::audit::{agent_history, attribute, load_key, parse_leaked, run_to, AuditCommand};
use keyhole::ledger::{Entry, EntryKind, Ledger, LedgerConfig};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CUSTOMERS: usize = 3000;
const DAYS: i64 = 30;
const LEAKER: &str = "v2-a07";

struct Customer {
    id: String,
    name: String,
    city: String,
    email: String,
    /// Ten digits; shown with a +1 prefix by the API.
    phone: String,
    street: String,
    tags: Vec<String>,
}

struct Agent {
    id: String,
    vendor: String,
    tickets_per_day: u32,
}

fn tag(rng: &mut ChaCha8Rng) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (0..7)
        .map(|_| *ALPHABET.choose(rng).unwrap() as char)
        .collect()
}

fn customers(rng: &mut ChaCha8Rng) -> Vec<Customer> {
    const FIRST: &[&str] = &[
        "Ann", "Bo", "Cy", "Dee", "Eli", "Fay", "Gus", "Hal", "Ida", "Jo",
    ];
    const LAST: &[&str] = &[
        "Lee", "Ray", "Diaz", "Khan", "Moss", "Park", "Ross", "Shaw", "Tran",
    ];
    const CITIES: &[&str] = &["Austin", "Round Rock", "Dallas", "Tulsa", "Reno", "Boise"];
    (0..CUSTOMERS)
        .map(|i| {
            let name = format!(
                "{} {}",
                FIRST.choose(rng).unwrap(),
                LAST.choose(rng).unwrap()
            );
            Customer {
                id: format!("c{i:05}"),
                email: format!("{}.{i}@example.com", name.replace(' ', ".").to_lowercase()),
                phone: format!("555{:07}", rng.random_range(0..10_000_000)),
                street: format!(
                    "{} {} St",
                    rng.random_range(1..9999),
                    LAST.choose(rng).unwrap()
                ),
                city: CITIES.choose(rng).unwrap().to_string(),
                tags: (0..rng.random_range(1..=3)).map(|_| tag(rng)).collect(),
                name,
            }
        })
        .collect()
}

fn agents(rng: &mut ChaCha8Rng) -> (Vec<Agent>, Vec<Agent>) {
    let mut front = Vec::new();
    for v in 1..=4 {
        for a in 1..=10 {
            let id = format!("v{v}-a{a:02}");
            // The leaker is an unremarkable, mid-volume agent.
            let tickets_per_day = if id == LEAKER {
                6
            } else {
                rng.random_range(2..=14)
            };
            front.push(Agent {
                id,
                vendor: format!("vendor-{v}"),
                tickets_per_day,
            });
        }
    }
    let second_line = (1..=3)
        .map(|a| Agent {
            id: format!("esc-a{a}"),
            vendor: "escalations".into(),
            tickets_per_day: 0,
        })
        .collect();
    (front, second_line)
}

/// Popular customers call more often: weight 1 / (rank + 20).
fn pick_customer(rng: &mut ChaCha8Rng, cumulative: &[f64]) -> usize {
    let x = rng.random::<f64>() * cumulative[cumulative.len() - 1];
    cumulative
        .partition_point(|&c| c < x)
        .min(cumulative.len() - 1)
}

/// The fields a ticket's category justifies, as (path, class, value).
fn revealed<'a>(c: &'a Customer, category: &str) -> Vec<(String, &'static str, &'a str)> {
    match category {
        "hardware" => c
            .tags
            .iter()
            .enumerate()
            .map(|(i, t)| {
                (
                    format!("devices[{i}].service_tag"),
                    "service-tag",
                    t.as_str(),
                )
            })
            .collect(),
        "dispatch" => vec![
            ("phone".into(), "phone", c.phone.as_str()),
            ("address.street".into(), "street", c.street.as_str()),
        ],
        _ => vec![("email".into(), "email", c.email.as_str())],
    }
}

struct Sim {
    ledger: Ledger,
    rng: ChaCha8Rng,
    seen_by_leaker: BTreeSet<usize>,
    entries: Vec<Entry>,
}

impl Sim {
    fn disclose(
        &mut self,
        agent: &Agent,
        ticket: &str,
        c: &Customer,
        idx: usize,
        category: &str,
        time: chrono::DateTime<Utc>,
    ) {
        let fields: Vec<_> = revealed(c, category)
            .into_iter()
            .map(|(path, class, value)| (path, class, self.ledger.fingerprint(value)))
            .collect();
        let borrowed: Vec<(&str, &str, String)> = fields
            .iter()
            .map(|(p, cl, f)| (p.as_str(), *cl, f.clone()))
            .collect();
        let mut entry = support::disclosure(&agent.id, &agent.vendor, ticket, &c.id, &borrowed);
        entry.time = time;
        if self.rng.random_bool(0.03) {
            entry.kind = EntryKind::Denial;
            entry.reason = Some("budget-exceeded".into());
            entry.fields.clear();
        } else if agent.id == LEAKER {
            self.seen_by_leaker.insert(idx);
        }
        self.entries.push(entry);
    }

    async fn flush(&mut self) {
        let tasks: Vec<_> = self
            .entries
            .drain(..)
            .map(|e| {
                let ledger = self.ledger.clone();
                tokio::spawn(async move { ledger.append(e).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
    }
}

/// Simulates the six weeks and returns the customers the leaker saw in the clear.
async fn simulate(cfg: &LedgerConfig, people: &[Customer], rng: ChaCha8Rng) -> BTreeSet<usize> {
    let mut sim = Sim {
        ledger: Ledger::open(cfg).await.unwrap(),
        rng,
        seen_by_leaker: BTreeSet::new(),
        entries: Vec::new(),
    };
    let (front, second_line) = agents(&mut sim.rng);
    let cumulative: Vec<f64> = (0..people.len())
        .scan(0.0, |acc, i| {
            *acc += 1.0 / (i as f64 + 20.0);
            Some(*acc)
        })
        .collect();
    let start = Utc.with_ymd_and_hms(2025, 2, 3, 8, 0, 0).unwrap();
    let mut ticket_no = 0;
    for day in 0..DAYS {
        for agent in &front {
            for _ in 0..agent.tickets_per_day {
                ticket_no += 1;
                let ticket = format!("T-{ticket_no}");
                let idx = pick_customer(&mut sim.rng, &cumulative);
                let category = *["hardware", "hardware", "hardware", "dispatch", "account"]
                    .choose(&mut sim.rng)
                    .unwrap();
                let time =
                    start + Duration::days(day) + Duration::minutes(sim.rng.random_range(0..600));
                for _ in 0..sim.rng.random_range(1..=3) {
                    sim.disclose(agent, &ticket, &people[idx], idx, category, time);
                }
                if sim.rng.random_bool(0.3) {
                    let esc = second_line.choose(&mut sim.rng).unwrap();
                    sim.disclose(
                        esc,
                        &ticket,
                        &people[idx],
                        idx,
                        category,
                        time + Duration::hours(2),
                    );
                }
            }
        }
        sim.flush().await;
    }
    sim.ledger.shutdown().await;
    sim.seen_by_leaker
}

/// The leak: 70% of what the leaker saw, as full customer rows in a format
/// unlike the API's, plus 40% noise: invented people and real names with
/// nothing sensitive.
fn leaked_csv(
    people: &[Customer],
    seen: &BTreeSet<usize>,
    rng: &mut ChaCha8Rng,
) -> (String, usize) {
    let mut rows = Vec::new();
    for &idx in seen {
        if rng.random_bool(0.7) {
            let c = &people[idx];
            let code = u64::from_str_radix(&c.tags[0], 36).unwrap();
            let phone = format!("({}) {}-{}", &c.phone[..3], &c.phone[3..6], &c.phone[6..]);
            rows.push(format!(
                "{},{phone},{},{},{code},\"{}, {}\"",
                c.name,
                c.email.to_uppercase(),
                c.tags[0].to_lowercase(),
                c.street,
                c.city
            ));
        }
    }
    let real = rows.len();
    for i in 0..real * 4 / 10 {
        if i % 2 == 0 {
            let c = people.choose(rng).unwrap();
            rows.push(format!("{},,,,,\"{}\"", c.name, c.city));
        } else {
            let phone = format!(
                "(555) {:03}-{:04}",
                rng.random_range(0..1000),
                rng.random_range(0..10000)
            );
            rows.push(format!(
                "Pat Doe {i},{phone},pat{i}@mail.test,{},,\"1 Main St, Reno\"",
                tag(rng)
            ));
        }
    }
    let mut text = String::from("name,phone,email,service_tag,express_service_code,address\n");
    for row in rows {
        text.push_str(&row);
        text.push('\n');
    }
    (text, real)
}

fn totals(dir: &Path) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    keyhole::ledger::read::for_each_record(dir, |r| {
        if r.entry.kind == EntryKind::Disclosure {
            *out.entry(r.entry.agent.to_string()).or_insert(0) += 1;
        }
    })
    .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leaker_ranks_first_in_a_realistic_simulation() {
    let root = tempfile::tempdir().unwrap();
    let cfg = support::config(root.path());
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let people = customers(&mut rng);
    let seen = simulate(&cfg, &people, ChaCha8Rng::seed_from_u64(99)).await;
    let (csv, real_rows) = leaked_csv(&people, &seen, &mut rng);
    let rows = parse_leaked(&csv);

    let key = load_key(&cfg.dir, None).unwrap();
    let answer = attribute(&cfg.dir, &key, &rows, 10).unwrap();
    assert!(answer.read.is_complete(), "{:?}", answer.read);
    let result = answer.found;
    let top = &result.agents[0];
    assert_eq!(top.name, LEAKER, "ranking: {:#?}", &result.agents[..3]);
    assert_eq!(
        top.saw, real_rows,
        "every real leaked row was seen by the leaker"
    );
    assert_eq!(top.confidence, "strong");
    assert!(
        top.score > 2.0 * result.agents[1].score,
        "{:#?}",
        &result.agents[..2]
    );
    assert_eq!(result.vendors[0].name, "vendor-2");

    // Not simply the busiest agent, nor the second line who saw many of the same customers.
    let counts = totals(&cfg.dir);
    let busiest = counts.iter().max_by_key(|(_, n)| **n).unwrap().0;
    assert_ne!(busiest, LEAKER);
    let esc_saw = result
        .agents
        .iter()
        .filter(|s| s.name.starts_with("esc-"))
        .map(|s| s.saw)
        .max();
    assert!(
        esc_saw.unwrap_or(0) > real_rows / 10,
        "the trap should be real"
    );

    // The evidence names the leaker's own disclosures.
    let own: BTreeSet<u64> = agent_history(&cfg.dir, LEAKER, None)
        .unwrap()
        .found
        .iter()
        .map(|r| r.seq)
        .collect();
    assert!(!top.evidence.is_empty());
    assert!(top
        .evidence
        .iter()
        .all(|e| e.agent == LEAKER && own.contains(&e.seq)));

    let leaked_file = root.path().join("leaked.csv");
    std::fs::write(&leaked_file, &csv).unwrap();
    let mut out = Vec::new();
    let cmd = AuditCommand::Attribute {
        dir: cfg.dir.clone(),
        leaked: leaked_file,
        key: None,
        json: false,
        top: 5,
    };
    run_to(cmd, &mut out).unwrap();
    let table = String::from_utf8(out).unwrap();
    let first_agent = table.lines().skip_while(|l| *l != "AGENTS").nth(2).unwrap();
    assert!(
        first_agent.starts_with(&format!("1     {LEAKER}")),
        "{table}"
    );
    assert!(table.contains(&format!("evidence for agent {LEAKER}:")));
}

/// `agent` of `vendor` saw `c`'s first service tag in the clear, under T-1.
fn tag_disclosure(ledger: &Ledger, agent: &str, vendor: &str, c: &Customer) -> Entry {
    let fp = ledger.fingerprint(&c.tags[0]);
    support::disclosure(
        agent,
        vendor,
        "T-1",
        &c.id,
        &[("devices[0].service_tag", "service-tag", fp)],
    )
}

#[tokio::test]
async fn a_list_with_nothing_from_the_ledger_accuses_nobody() {
    let root = tempfile::tempdir().unwrap();
    let cfg = support::config(root.path());
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let people = customers(&mut rng);
    let ledger = Ledger::open(&cfg).await.unwrap();
    for c in people.iter().take(50) {
        let e = tag_disclosure(&ledger, "v1-a01", "vendor-1", c);
        ledger.append(e).await.unwrap();
    }
    ledger.shutdown().await;
    let rows = parse_leaked("UNKNOWN1\nnobody@mail.test\n555 123 4567\n");
    let key = load_key(&cfg.dir, None).unwrap();
    let result = attribute(&cfg.dir, &key, &rows, 10).unwrap().found;
    assert_eq!((result.leaked_rows, result.rows_in_ledger), (3, 0));
    assert!(result.agents.is_empty() && result.vendors.is_empty());
    assert_eq!(result.disclosures, 50);
}

/// An agent id that moved from one vendor to another: the vendor it worked
/// for last has no disclosures of its own agents, only the mover's. Each
/// vendor is charged with what was disclosed under it, whatever the agent's
/// first vendor was, and attribution answers rather than failing.
#[tokio::test]
async fn an_agent_who_moved_between_vendors_charges_each_vendor_its_own_disclosures() {
    let root = tempfile::tempdir().unwrap();
    let cfg = support::config(root.path());
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let people = customers(&mut rng);
    let ledger = Ledger::open(&cfg).await.unwrap();
    let work = [
        ("v1-a01", "vendor-1", &people[..30]),
        ("mover", "vendor-1", &people[30..40]),
        ("mover", "vendor-2", &people[40..60]),
    ];
    for (agent, vendor, seen) in work {
        for c in seen {
            let e = tag_disclosure(&ledger, agent, vendor, c);
            ledger.append(e).await.unwrap();
        }
    }
    ledger.shutdown().await;

    // The leak: what the mover disclosed at the second vendor, and one value
    // the mover disclosed at the first.
    let leaked: String = people[39..60]
        .iter()
        .map(|c| format!("{}\n", c.tags[0]))
        .collect();
    let rows = parse_leaked(&leaked);
    let key = load_key(&cfg.dir, None).unwrap();
    let result = attribute(&cfg.dir, &key, &rows, 10).unwrap().found;

    assert_eq!(result.disclosures, 60);
    let vendor = |name: &str| result.vendors.iter().find(|v| v.name == name).cloned();
    let first = vendor("vendor-1").expect("vendor-1 saw one leaked row");
    assert_eq!((first.disclosures, first.saw), (40, 1), "{first:#?}");
    let second = vendor("vendor-2").expect("vendor-2 saw the leaked rows");
    assert_eq!((second.disclosures, second.saw), (20, 20), "{second:#?}");
    assert_eq!(result.vendors[0].name, "vendor-2");
    let mover = &result.agents[0];
    assert_eq!(
        (mover.name.as_str(), mover.disclosures, mover.saw),
        ("mover", 30, 21)
    );
    assert_eq!(
        mover.vendor.as_deref(),
        Some("vendor-1"),
        "its first vendor"
    );
}

/// `keyhole audit attribute DIR --leaked FILE --json`, as JSON.
fn attribute_cli(dir: &Path, leaked: &Path) -> serde_json::Value {
    let run = tooling::keyhole(&[
        "audit",
        "attribute",
        tooling::arg(dir),
        "--leaked",
        tooling::arg(leaked),
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

/// One value leaked fifty times over, or written in forms the ledger
/// normalizes to the same fingerprint (case, spaces, dashes), is one leaked
/// row: repeating it is not more evidence against the agent who saw it.
#[tokio::test]
async fn a_value_repeated_in_the_leaked_list_counts_once() {
    let root = tempfile::tempdir().unwrap();
    let cfg = support::config(root.path());
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let people = customers(&mut rng);
    let ledger = Ledger::open(&cfg).await.unwrap();
    for (i, c) in people.iter().take(40).enumerate() {
        let agent = format!("v1-a{:02}", i % 4 + 1);
        let e = tag_disclosure(&ledger, &agent, "vendor-1", c);
        ledger.append(e).await.unwrap();
    }
    ledger.shutdown().await;

    let tag = people[0].tags[0].clone();
    let once = root.path().join("one.txt");
    std::fs::write(&once, format!("{tag}\n")).unwrap();
    let mut repeated = format!("{tag}\n").repeat(50);
    let (head, tail) = tag.split_at(3);
    for form in [
        tag.to_lowercase(),
        format!(" {head} {tail}"),
        format!("{head}-{tail}"),
    ] {
        repeated.push_str(&form);
        repeated.push('\n');
    }
    let dup = root.path().join("dup.txt");
    std::fs::write(&dup, repeated).unwrap();

    let single = attribute_cli(&cfg.dir, &once);
    let many = attribute_cli(&cfg.dir, &dup);
    assert_eq!(single["agents"][0]["name"], "v1-a01");
    assert_eq!(single["agents"][0]["saw"], 1);
    assert_eq!(
        many["agents"], single["agents"],
        "the repeats add no evidence"
    );
    assert_eq!(many["vendors"], single["vendors"]);
    assert_eq!(many["rows_in_ledger"], 1);
    assert_eq!(single["duplicate_rows"], 0);
    assert_eq!(
        (&many["leaked_rows"], &many["duplicate_rows"]),
        (&53.into(), &52.into())
    );

    let table = tooling::keyhole(&[
        "audit",
        "attribute",
        tooling::arg(&cfg.dir),
        "--leaked",
        tooling::arg(&dup),
    ]);
    assert!(
        table
            .stdout
            .starts_with("leaked rows 53 (52 repeat an earlier row, counted once)"),
        "{}",
        table.stdout
    );
}

/// A CSV row is a duplicate when its values are those of an earlier row once
/// normalized, whatever their spelling; a row sharing only some values with
/// an earlier one is a row of its own.
#[tokio::test]
async fn a_csv_row_repeating_an_earlier_row_counts_once() {
    let root = tempfile::tempdir().unwrap();
    let cfg = support::config(root.path());
    let mut rng = ChaCha8Rng::seed_from_u64(29);
    let people = customers(&mut rng);
    let ledger = Ledger::open(&cfg).await.unwrap();
    for c in people.iter().take(10) {
        let e = tag_disclosure(&ledger, "v1-a01", "vendor-1", c);
        ledger.append(e).await.unwrap();
    }
    ledger.shutdown().await;

    let (a, b) = (&people[0], &people[1]);
    let csv = format!(
        "service_tag,email\n\
         {},{}\n\
         \"{}\",\" {} \"\n\
         {},other@mail.test\n\
         {},{}\n",
        a.tags[0],
        a.email,
        a.tags[0].to_lowercase(),
        a.email.to_uppercase(),
        a.tags[0],
        b.tags[0],
        b.email,
    );
    let leaked = root.path().join("leaked.csv");
    std::fs::write(&leaked, csv).unwrap();
    let result = attribute_cli(&cfg.dir, &leaked);
    assert_eq!(result["agents"][0]["saw"], 3);
    assert_eq!(result["rows_in_ledger"], 3);
    assert_eq!(
        (&result["leaked_rows"], &result["duplicate_rows"]),
        (&4.into(), &1.into())
    );
}
