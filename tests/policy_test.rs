//! `keyhole policy test`: cases pass and fail through the real transform, a
//! failure prints what differs, and the shipped cases for the example policies pass.

#[path = "support/tooling.rs"]
mod tooling;

use tooling::{arg, keyhole, repo, Fixture, CUSTOMER_POLICY, DEVICE_POLICY};

fn fixture() -> Fixture {
    Fixture::new(
        &[
            ("customers.toml", CUSTOMER_POLICY),
            ("devices.toml", DEVICE_POLICY),
        ],
        "",
    )
}

fn run_cases(fixture: &Fixture) -> tooling::Run {
    let config = fixture.config();
    let cases = fixture.path("cases");
    keyhole(&["policy", "test", "--config", arg(&config), arg(&cases)])
}

const RECORD: &str = r#"
[record]
id = "C-1"
email = "dana@example.com"
phone = "+1-555-013-4821"
nickname = "dd"
notes = "Tag 7XK2M9Q, call +1-555-013-4821"
devices = [{ service_tag = "7XK2M9Q" }]
"#;

#[test]
fn a_hardware_ticket_case_passes_with_field_expectations() {
    let fixture = fixture();
    fixture.write(
        "cases/hardware.toml",
        &format!(
            "request = \"GET /customers/C-1\"\nagent = \"alice\"\nticket = \"T-1\"\n{RECORD}\n\
             [expect]\nticket = \"granted\"\n[expect.fields]\n\
             \"id\" = \"clear\"\n\"email\" = \"masked\"\n\"nickname\" = \"absent\"\n\
             \"devices[0].service_tag\" = \"clear\"\n\
             \"notes\" = {{ excludes = \"555-013\" }}\n"
        ),
    );
    let run = run_cases(&fixture);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("PASS hardware.toml"), "{}", run.stdout);
    assert!(
        run.stdout.ends_with("1 passed, 0 failed\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_failing_exact_output_prints_a_path_by_path_diff() {
    let fixture = fixture();
    // The author believes a closed ticket still reveals the tag and the phone.
    let expected =
        r#"{"id": "C-1", "phone": "+1-555-013-4821", "devices": [{"service_tag": "7XK2M9Q"}]}"#;
    fixture.write(
        "cases/closed.json",
        &format!(
            r#"{{"description": "closed ticket", "request": "GET /customers/C-1", "agent": "alice",
                "ticket": "T-2",
                "record": {{"id": "C-1", "phone": "+1-555-013-4821", "devices": [{{"service_tag": "7XK2M9Q"}}]}},
                "expect": {{"ticket": "granted", "output": {expected}}}}}"#
        ),
    );
    let run = run_cases(&fixture);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let out = &run.stdout;
    assert!(out.contains("FAIL closed.json: closed ticket"), "{out}");
    assert!(
        out.contains("ticket: expected \"granted\", got \"denied; reason=closed\""),
        "{out}"
    );
    assert!(
        out.contains("output differs (- expected, + actual)"),
        "{out}"
    );
    assert!(out.contains("- phone: \"+1-555-013-4821\""), "{out}");
    assert!(out.contains("+ phone: \"*************21\""), "{out}");
    assert!(
        out.contains("- devices[0].service_tag: \"7XK2M9Q\""),
        "{out}"
    );
    assert!(
        !out.contains("- id:"),
        "equal fields are not in the diff: {out}"
    );
    assert!(out.ends_with("0 passed, 1 failed\n"), "{out}");
}

#[test]
fn a_failing_field_expectation_says_what_it_got() {
    let fixture = fixture();
    fixture.write(
        "cases/no-ticket.toml",
        &format!(
            "request = \"GET /customers/C-1\"\nagent = \"bob\"\n{RECORD}\n\
             [expect.fields]\n\"phone\" = \"clear\"\n\"id\" = \"clear\"\n\"fax\" = \"masked\"\n"
        ),
    );
    let run = run_cases(&fixture);
    assert_eq!(run.code, 1);
    let out = &run.stdout;
    assert!(
        out.contains("phone: expected clear, got masked (\"*************21\")"),
        "{out}"
    );
    assert!(!out.contains("id: expected"), "{out}");
    assert!(out.contains("fax: not in the case's input"), "{out}");
}

#[test]
fn a_customer_from_the_record_is_judged_per_record() {
    let fixture = fixture();
    fixture.write(
        "cases/device-other-customer.toml",
        "request = \"GET /devices/7XK2M9Q\"\nagent = \"alice\"\nticket = \"T-1\"\n\
         record = { customer_id = \"C-9\", service_tag = \"7XK2M9Q\" }\n\
         [expect]\nticket = \"denied; reason=wrong-customer\"\n\
         fields = { service_tag = \"concealed\", customer_id = \"clear\" }\n",
    );
    fixture.write(
        "cases/device-own-customer.toml",
        "request = \"GET /devices/7XK2M9Q\"\nagent = \"alice\"\nticket = \"T-1\"\n\
         record = { customer_id = \"C-1\", service_tag = \"7XK2M9Q\" }\n\
         [expect]\nticket = \"granted\"\nfields = { service_tag = \"clear\" }\n",
    );
    let run = run_cases(&fixture);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("2 passed, 0 failed"), "{}", run.stdout);
}

#[test]
fn invalid_cases_unmatched_requests_and_empty_dirs_fail() {
    let fixture = fixture();
    fixture.write(
        "cases/unrouted.toml",
        "request = \"GET /invoices/1\"\nagent = \"a\"\nrecord = {}\n[expect]\nticket = \"none\"\n",
    );
    fixture.write(
        "cases/broken.toml",
        "request = \"GET /customers/C-1\"\nagent = \"a\"\nrecord = {}\n[expect]\nfields = { id = \"visible\" }\n",
    );
    let run = run_cases(&fixture);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .contains("no policy route matches GET /invoices/1: the request would be refused"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("unknown expectation \"visible\""),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("0 passed, 2 failed"), "{}", run.stdout);

    let empty = Fixture::new(&[("customers.toml", CUSTOMER_POLICY)], "");
    std::fs::create_dir(empty.path("cases")).expect("dir");
    let run = run_cases(&empty);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no *.toml or *.json case file"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_shipped_cases_pass() {
    let root = repo().join("policies/tests");
    let run = keyhole(&[
        "policy",
        "test",
        "--config",
        arg(&root.join("keyhole.toml")),
        arg(&root.join("cases")),
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(" passed, 0 failed"), "{}", run.stdout);
    assert!(!run.stdout.contains("FAIL"), "{}", run.stdout);
}

/// An inline ticket with a bad field names the field, in TOML and in JSON.
#[test]
fn a_bad_inline_ticket_names_its_field() {
    let fixture = fixture();
    let ticket = r#"{ id = "W-1", status = "mystery", assignee = "alice", customer_id = "C-1", category = "hardware" }"#;
    fixture.write(
        "cases/inline.toml",
        &format!(
            "request = \"GET /customers/C-1\"\nagent = \"alice\"\nticket = {ticket}\n{RECORD}\n\
             [expect]\nticket = \"granted\"\n"
        ),
    );
    fixture.write(
        "cases/inline.json",
        r#"{"request": "GET /customers/C-1", "agent": "alice", "ticket": {"id": 7},
            "record": {"id": "C-1"}, "expect": {"ticket": "granted"}}"#,
    );
    let run = run_cases(&fixture);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let out = format!("{}{}", run.stdout, run.stderr);
    assert!(
        out.contains("inline.toml:3: unknown variant `mystery`"),
        "{out}"
    );
    assert!(out.contains("inline.json"), "{out}");
    assert!(out.contains("invalid type: integer `7`"), "{out}");
    assert!(!out.contains("did not match any variant"), "{out}");
}
