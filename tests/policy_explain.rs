//! `keyhole policy explain`: every rule of the route in file order, whether the
//! ticket justifies it (or which check fails), and the result.

#[path = "support/tooling.rs"]
mod tooling;

use tooling::{arg, keyhole, repo, Fixture, CUSTOMER_POLICY, DEVICE_POLICY};

fn explain(ticket: Option<&str>, method: &str, path: &str) -> tooling::Run {
    let fixture = Fixture::new(
        &[
            ("customers.toml", CUSTOMER_POLICY),
            ("devices.toml", DEVICE_POLICY),
        ],
        "",
    );
    let config = fixture.config();
    let mut args = vec![
        "policy",
        "explain",
        "--config",
        arg(&config),
        "--agent",
        "alice",
    ];
    if let Some(ticket) = ticket {
        args.extend(["--ticket", ticket]);
    }
    args.extend([method, path]);
    keyhole(&args)
}

/// The table row of a rule, split on runs of two or more spaces.
fn row(out: &str, field: &str) -> Vec<String> {
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{field} ")))
        .unwrap_or_else(|| panic!("no row for {field} in:\n{out}"));
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn a_live_ticket_justifies_its_category_and_names_the_failed_check_elsewhere() {
    let run = explain(Some("T-1"), "GET", "/customers/C-1");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = &run.stdout;
    assert!(
        out.contains("route:    GET /customers/{customer}  (policy \"customers\""),
        "{out}"
    );
    assert!(
        out.contains("customer: C-1 (from the path; the record's `id` must agree)"),
        "{out}"
    );
    assert!(
        out.contains("ticket:   T-1: live (category \"hardware\", customer C-1)"),
        "{out}"
    );
    assert_eq!(row(out, "id"), ["id", "pass", "-", "clear (not sensitive)"]);
    assert_eq!(
        row(out, "email"),
        [
            "email",
            "mask (keep first 1, last 0)",
            "account",
            "no: wrong-category",
            "mask (keep first 1, last 0)"
        ]
    );
    assert_eq!(
        row(out, "devices[*].service_tag"),
        [
            "devices[*].service_tag",
            "tokenize",
            "hardware",
            "yes",
            "clear (disclosed, ledgered)"
        ]
    );
    // File order, not alphabetical: `phone` is declared before `devices`.
    assert!(out.find("\n  phone").unwrap() < out.find("\n  devices[*]").unwrap());
    assert!(out.contains("phone /"), "the detector is listed: {out}");
}

#[test]
fn another_customer_or_no_ticket_names_the_check() {
    let run = explain(Some("T-1"), "GET", "/customers/C-2");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(row(&run.stdout, "notes")[3], "no: wrong-customer");

    let run = explain(None, "GET", "/customers/C-1");
    assert!(run.stdout.contains("ticket:   none sent"), "{}", run.stdout);
    assert_eq!(row(&run.stdout, "notes")[3], "no: no-ticket");
    assert_eq!(row(&run.stdout, "notes")[4], "redact");
}

#[test]
fn a_closed_or_unknown_ticket_justifies_nothing() {
    let run = explain(Some("T-2"), "GET", "/customers/C-1");
    assert!(
        run.stdout
            .contains("ticket:   T-2: justifies nothing: closed"),
        "{}",
        run.stdout
    );
    assert_eq!(row(&run.stdout, "devices[*].service_tag")[3], "no: closed");

    let run = explain(Some("T-404"), "GET", "/customers/C-1");
    assert_eq!(
        row(&run.stdout, "devices[*].service_tag")[3],
        "no: unknown-ticket"
    );
}

#[test]
fn a_customer_from_the_record_depends_on_the_record() {
    let run = explain(Some("T-1"), "GET", "/devices/7XK2M9Q");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = &run.stdout;
    assert!(
        out.contains("customer: each record's `customer_id`"),
        "{out}"
    );
    assert_eq!(
        row(out, "service_tag"),
        [
            "service_tag",
            "tokenize",
            "hardware",
            "depends on the record's customer",
            "clear in records of C-1 (ledgered), else tokenize"
        ]
    );
    assert!(out.contains("detectors: none"), "{out}");
}

#[test]
fn an_unrouted_request_says_what_happens_and_a_bad_path_is_refused() {
    let run = explain(None, "GET", "/invoices/1");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("route:    none matches; the request is refused (404)"),
        "{}",
        run.stdout
    );

    let run = explain(None, "GET", "/customers/../admin");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("the gateway refuses this path"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_search_route_names_its_query_rules() {
    let config = repo().join("policies/tests/keyhole.toml");
    let run = keyhole(&[
        "policy",
        "explain",
        "--config",
        arg(&config),
        "--agent",
        "bob",
        "GET",
        "/customers",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("query:"))
        .unwrap_or_else(|| panic!("no query line in:\n{}", run.stdout));
    assert!(line.contains("limit forwarded"), "{line}");
    assert!(
        line.contains("q must show in name, email, address.city"),
        "{line}"
    );
    assert!(line.contains("any other parameter refused (400)"), "{line}");
    // A route without a query table forwards any query and says nothing.
    let run = explain(None, "GET", "/customers/C-1");
    assert!(!run.stdout.contains("query:"), "{}", run.stdout);
}
