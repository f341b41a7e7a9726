//! `keyhole policy check`: each kind of error is reported with its file, line,
//! rule and reason, all of them in one run, and exit 1; a clean setup exits 0.

#[path = "support/tooling.rs"]
mod tooling;

use tooling::{arg, keyhole, line_of, repo, Fixture, CUSTOMER_POLICY, DEVICE_POLICY};

/// Checks a fixture's config and policies (its key paths are placeholders).
fn check(fixture: &Fixture, extra: &[&str]) -> tooling::Run {
    let config = fixture.config();
    let mut args = vec![
        "policy",
        "check",
        "--policies-only",
        "--config",
        arg(&config),
    ];
    args.extend_from_slice(extra);
    keyhole(&args)
}

/// The error line mentioning `file:line`.
fn error_at<'a>(run: &'a tooling::Run, file: &str, line: usize) -> &'a str {
    let at = format!("{file}:{line}: ");
    run.stderr
        .lines()
        .find(|l| l.contains(&at))
        .unwrap_or_else(|| panic!("no error at {at} in:\n{}", run.stderr))
}

#[test]
fn a_clean_setup_passes() {
    let fixture = Fixture::new(&[("customers.toml", CUSTOMER_POLICY)], "");
    let run = check(&fixture, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("ok: 1 policy file(s), 1 route(s)"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_unknown_action_names_file_line_field_and_reason() {
    let policy = CUSTOMER_POLICY.replace(
        "{ action = \"redact\", justify = [\"hardware\"] }",
        "{ action = \"shred\", justify = [\"hardware\"] }",
    );
    let fixture = Fixture::new(&[("customers.toml", &policy)], "");
    let run = check(&fixture, &[]);
    assert_eq!(run.code, 1);
    let line = error_at(&run, "customers.toml", line_of(&policy, "shred"));
    assert!(line.contains("field \"notes\""), "{line}");
    assert!(line.contains("unknown action \"shred\""), "{line}");
}

/// A rule table with a wrong option says which option and why, not that the
/// rule matched no shape a rule can take; likewise a bad `customer` source.
#[test]
fn a_bad_rule_option_names_the_option() {
    // (text replaced, its replacement, what the error says, where: a rule's
    // error is at its own line, a route's at its `[[route]]`).
    let cases = [
        (
            "keep_first = 1,",
            "keep_first = 1, bogus = 1,",
            "unknown field `bogus`",
            None,
        ),
        (
            "keep_last = 2,",
            "keep_last = -3,",
            "invalid value: integer `-3`",
            None,
        ),
        (
            "{ action = \"tokenize\", justify",
            "{ action = \"tokenize\", scope = \"planet\", justify",
            "unknown variant `planet`",
            None,
        ),
        (
            "\"id\"                     = \"pass\"",
            "\"id\"                     = 7",
            "an action name or a table",
            None,
        ),
        (
            "customer = [\"{customer}\", \"id\"]",
            "customer = [\"{customer}\", 5]",
            "invalid type: integer `5`, expected a string",
            None,
        ),
        (
            "customer = [\"{customer}\", \"id\"]",
            "customer = [\"{customer}\", \"  \"]",
            "a `customer` source is empty",
            Some("[[route]]"),
        ),
        (
            "customer = [\"{customer}\", \"id\"]",
            "customer = []",
            "names no source",
            Some("[[route]]"),
        ),
        (
            "methods = [\"GET\"]",
            "methods = [\"GET\", \"get\"]",
            "listed twice",
            Some("[[route]]"),
        ),
    ];
    for (from, to, says, at) in cases {
        let policy = CUSTOMER_POLICY.replacen(from, to, 1);
        assert_ne!(policy, CUSTOMER_POLICY, "{from}");
        let fixture = Fixture::new(&[("customers.toml", &policy)], "");
        let run = check(&fixture, &[]);
        assert_eq!(run.code, 1, "{to}");
        let line = error_at(&run, "customers.toml", line_of(&policy, at.unwrap_or(to)));
        assert!(line.contains(says), "{to}: {line}");
        assert!(!line.contains("did not match any variant"), "{line}");
    }
}

#[test]
fn an_invalid_detector_regex_names_the_detector() {
    let policy = CUSTOMER_POLICY.replace("'\\+?[0-9]{1,3}", "'\\+?[0-9{1,3}");
    let fixture = Fixture::new(&[("customers.toml", &policy)], "");
    let run = check(&fixture, &[]);
    assert_eq!(run.code, 1);
    let line = error_at(&run, "customers.toml", line_of(&policy, "[[detector]]"));
    assert!(
        line.contains("detector \"phone\": invalid pattern"),
        "{line}"
    );
}

#[test]
fn an_undeclared_justify_category_is_a_typo() {
    let policy = CUSTOMER_POLICY.replace("justify = [\"account\"]", "justify = [\"acount\"]");
    let fixture = Fixture::new(
        &[("customers.toml", &policy)],
        "categories = [\"account\", \"dispatch\", \"hardware\"]",
    );
    let run = check(&fixture, &[]);
    assert_eq!(run.code, 1);
    let line = error_at(&run, "customers.toml", line_of(&policy, "acount"));
    assert!(
        line.contains("route \"GET /customers/{customer}\" field \"email\""),
        "{line}"
    );
    assert!(line.contains("justify category \"acount\""), "{line}");
    assert!(line.contains("account, dispatch, hardware"), "{line}");
    assert!(run.stderr.contains("1 error(s)"), "{}", run.stderr);
}

#[test]
fn undeclared_detector_categories_are_reported_once() {
    let policy = CUSTOMER_POLICY.replace(
        "keep_last = 2\njustify = [\"dispatch\"]",
        "keep_last = 2\njustify = [\"dispach\"]",
    );
    let fixture = Fixture::new(
        &[("customers.toml", &policy)],
        "categories = [\"account\", \"dispatch\", \"hardware\"]",
    );
    let run = check(&fixture, &[]);
    assert_eq!(run.code, 1);
    let line = error_at(&run, "customers.toml", line_of(&policy, "[[detector]]"));
    assert!(line.contains("detector \"phone\""), "{line}");
    assert_eq!(
        run.stderr.matches("\"dispach\"").count(),
        1,
        "{}",
        run.stderr
    );
}

const CUSTOMER_SCHEMA: &str = r#"{
  "route": "GET /customers/{customer}",
  "response": {"type": "object", "properties": {
    "id": {"type": "string"}, "email": {"type": "string"}, "phone": {"type": "string"},
    "notes": {"type": "string"},
    "devices": {"type": "array", "items": {"type": "object", "properties": {"service_tag": {"type": "string"}}}}
  }}
}"#;

#[test]
fn a_field_path_the_schema_cannot_match_is_reported() {
    let policy = CUSTOMER_POLICY.replace("devices[*].service_tag", "devices[*].servicetag");
    let fixture = Fixture::new(&[("customers.toml", &policy)], "");
    fixture.write("policies/schemas/customer.json", CUSTOMER_SCHEMA);
    let run = check(&fixture, &[]);
    assert_eq!(run.code, 1);
    let line = error_at(&run, "customers.toml", line_of(&policy, "servicetag"));
    assert!(line.contains("field \"devices[*].servicetag\""), "{line}");
    assert!(
        line.contains("devices[*] has no property \"servicetag\" (it has: service_tag)"),
        "{line}"
    );
}

#[test]
fn a_schema_for_no_route_and_a_missing_schema_dir_are_reported() {
    let fixture = Fixture::new(&[("customers.toml", CUSTOMER_POLICY)], "");
    let stale = CUSTOMER_SCHEMA.replace("GET /customers/{customer}", "GET /clients/{id}");
    let file = fixture.write("schemas/stale.json", &stale);
    let run = check(&fixture, &["--schemas", arg(&file.with_file_name(""))]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("stale.json: route: no policy route is GET /clients/{id}"),
        "{}",
        run.stderr
    );
    let missing = fixture.path("nowhere");
    let run = check(&fixture, &["--schemas", arg(&missing)]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("cannot read schema directory"),
        "{}",
        run.stderr
    );
}

#[test]
fn overlapping_routes_across_files_name_both() {
    let other = DEVICE_POLICY.replace("/devices/{tag}", "/customers/search");
    let fixture = Fixture::new(
        &[
            ("a-customers.toml", CUSTOMER_POLICY),
            ("b-search.toml", &other),
        ],
        "",
    );
    let run = check(&fixture, &[]);
    assert_eq!(run.code, 1);
    let line = error_at(&run, "b-search.toml", line_of(&other, "[[route]]"));
    assert!(
        line.contains("route \"GET /customers/search\": overlaps route \"GET /customers/{customer}\" declared at"),
        "{line}"
    );
    assert!(line.contains("a-customers.toml:"), "{line}");
}

#[test]
fn every_error_is_reported_in_one_run() {
    let broken = CUSTOMER_POLICY.replace("\"pass\"", "\"show\"");
    let typo = DEVICE_POLICY.replace("[\"hardware\"]", "[\"hardwear\"]");
    let fixture = Fixture::new(
        &[("a.toml", &broken), ("b.toml", &typo)],
        "categories = [\"account\", \"dispatch\", \"hardware\"]",
    );
    let run = check(&fixture, &[]);
    assert_eq!(run.code, 1);
    error_at(&run, "a.toml", line_of(&broken, "\"show\""));
    error_at(&run, "b.toml", line_of(&typo, "hardwear"));
    assert!(run.stderr.contains("2 error(s)"), "{}", run.stderr);
}

#[test]
fn config_errors_name_the_line_or_the_key() {
    let fixture = Fixture::new(&[("customers.toml", CUSTOMER_POLICY)], "colour = \"blue\"");
    let run = check(&fixture, &[]);
    assert_eq!(run.code, 1);
    let config = std::fs::read_to_string(fixture.config()).expect("config");
    let line = error_at(&run, "keyhole.toml", line_of(&config, "colour"));
    assert!(line.contains("unknown field `colour`"), "{line}");

    let fixture = Fixture::new(
        &[("customers.toml", CUSTOMER_POLICY)],
        "categories = [\"\"]",
    );
    let run = check(&fixture, &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("keyhole.toml: tickets.categories: empty category name"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_bad_tickets_file_is_reported() {
    let fixture = Fixture::new(&[("customers.toml", CUSTOMER_POLICY)], "");
    fixture.write("tickets.json", "[{\"id\": \"T-1\"}]");
    let run = check(&fixture, &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("tickets.json: tickets.file: tickets file"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_shipped_policies_pass_against_the_sample_api_schemas() {
    let root = repo().join("policies/tests");
    let run = keyhole(&[
        "policy",
        "check",
        "--policies-only",
        "--config",
        arg(&root.join("keyhole.toml")),
        "--schemas",
        arg(&root.join("schemas")),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("2 policy file(s), 4 route(s), 4 schema(s)"),
        "{}",
        run.stdout
    );
}

/// A search route whose `q` must show in the name or a (tokenized) tag.
const SEARCH_POLICY: &str = r#"[policy]
name = "search"

[[route]]
methods = ["GET"]
path = "/customers"
record = "$.results[*]"
customer = "id"

[route.query]
"q"     = { matches = ["name", "devices[*].service_tag"] }
"limit" = "pass"

[route.fields]
"$.total"                = "drop"
"id"                     = "pass"
"name"                   = "pass"
"devices[*].service_tag" = { action = "tokenize", justify = ["hardware"] }
"#;

#[test]
fn search_rules_are_checked_against_the_route() {
    let fixture = Fixture::new(&[("search.toml", SEARCH_POLICY)], "");
    assert_eq!(check(&fixture, &[]).code, 0, "the policy itself is clean");
    let cases = [
        (
            "a field no rule names",
            SEARCH_POLICY.replace("\"devices[*].service_tag\"] }", "\"devices[*].tag\"] }"),
            "`matches` names \"devices[*].tag\", which no field rule of this route names",
        ),
        (
            "a count of the unfiltered answer",
            SEARCH_POLICY.replace(
                "\"$.total\"                = \"drop\"",
                "\"$.total\" = \"pass\"",
            ),
            "field \"$.total\" describes the upstream's unfiltered answer",
        ),
        (
            "one record, nothing to filter",
            SEARCH_POLICY.replace("record = \"$.results[*]\"", "record = \"$.results\""),
            "`record` must end in its only `[*]`",
        ),
        (
            "a record below a list entry, which would stay behind emptied",
            SEARCH_POLICY.replace(
                "record = \"$.results[*]\"",
                "record = \"$.results[*].customer\"",
            ),
            "`record` must end in its only `[*]`",
        ),
        (
            "nested lists, whose emptied groups would stay behind",
            SEARCH_POLICY.replace(
                "record = \"$.results[*]\"",
                "record = \"$.groups[*].results[*]\"",
            ),
            "`record` must end in its only `[*]`",
        ),
        (
            "an unknown rule",
            SEARCH_POLICY.replace("\"limit\" = \"pass\"", "\"limit\" = \"forward\""),
            "query parameter \"limit\": \"forward\" is not a query rule",
        ),
        (
            "a field never shown as itself",
            SEARCH_POLICY
                .replace(
                    "[\"name\", \"devices[*].service_tag\"]",
                    "[\"name\", \"notes\"]",
                )
                .replace(
                    "\"name\"                   = \"pass\"",
                    "\"name\" = \"pass\"\n\"notes\" = \"redact\"",
                ),
            "`matches` names \"notes\", which is never shown as itself",
        ),
        (
            "unnamed members passed",
            SEARCH_POLICY.replace(
                "name = \"search\"",
                "name = \"search\"\nunlisted = \"pass\"",
            ),
            "search rules need `unlisted = \"drop\"`",
        ),
        (
            "an empty list",
            SEARCH_POLICY.replace("[\"name\", \"devices[*].service_tag\"]", "[]"),
            "`matches` must name at least one field",
        ),
    ];
    for (case, policy, reason) in cases {
        assert_ne!(policy, SEARCH_POLICY, "{case}: the replacement applied");
        let fixture = Fixture::new(&[("search.toml", &policy)], "");
        let run = check(&fixture, &[]);
        assert_eq!(run.code, 1, "{case}");
        let line = error_at(&run, "search.toml", line_of(&policy, "[[route]]"));
        assert!(line.contains(reason), "{case}: {line}");
    }
}

/// Without `--policies-only`, every certificate, key and secret the config
/// names is loaded as `serve` loads it, and each bad one is reported.
#[test]
fn the_files_a_config_names_are_loaded_as_serve_loads_them() {
    let dir = tempfile::tempdir().unwrap();
    let demo = keyhole::demo::setup::prepare(dir.path(), 5, 0, 9).unwrap();
    let config = arg(&demo.config).to_string();
    let full = keyhole(&["policy", "check", "--config", &config]);
    assert_eq!(full.code, 0, "{}", full.stderr);

    // A ledger written under another key, which `serve` would refuse.
    let ledger = demo.dir.join("ledger");
    std::fs::create_dir_all(&ledger).unwrap();
    let manifest =
        r#"{"format": 1, "key_file": "/elsewhere/ledger.key", "key_id": "0123456789abcdef"}"#;
    std::fs::write(ledger.join("manifest.json"), manifest).unwrap();
    let other = keyhole(&["policy", "check", "--config", &config]);
    assert_eq!(other.code, 1, "{}", other.stderr);
    assert!(
        other
            .stderr
            .contains("was created with key id 0123456789abcdef"),
        "{}",
        other.stderr
    );
    std::fs::remove_file(ledger.join("manifest.json")).unwrap();

    let root = &demo.dir;
    std::fs::write(root.join("certs/server.pem"), "not a certificate").unwrap();
    std::fs::write(root.join("keys/token-k1.key"), "short").unwrap();
    std::fs::remove_file(root.join("keys/ledger.key")).unwrap();
    std::fs::write(root.join("keys/webhook.secret"), "").unwrap();
    let run = keyhole(&["policy", "check", "--config", &config]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let text = std::fs::read_to_string(&demo.config).unwrap();
    for section in ["listen", "tokens", "ledger", "tickets"] {
        let header = format!("[{section}]");
        let at = text.lines().position(|l| l.trim() == header).unwrap() + 1;
        let line = error_at(&run, "keyhole.toml", at);
        assert!(line.contains(&header), "{section}: {line}");
    }
    assert!(run.stderr.contains("4 error(s)"), "{}", run.stderr);

    let policies_only = keyhole(&["policy", "check", "--policies-only", "--config", &config]);
    assert_eq!(policies_only.code, 0, "{}", policies_only.stderr);
}

/// A rule decides everything beneath its path, so a rule nested under another
/// would never apply: `address = "pass"` would show the street a rule of its
/// own redacts. Such a pair is refused whichever comes first in the file,
/// under objects and under arrays alike.
#[test]
fn a_rule_nested_under_another_rule_is_refused() {
    let cases = [
        (
            r#""address" = "pass""#,
            r#""address.street" = { action = "redact", justify = ["dispatch"] }"#,
        ),
        (
            r#""devices[*]" = "pass""#,
            r#""devices[*].express_code" = { action = "tokenize", justify = ["hardware"] }"#,
        ),
        (r#""devices" = "drop""#, r#""devices[*].model" = "pass""#),
    ];
    for (outer, inner) in cases {
        let (outer_path, inner_path) = (
            outer.split('"').nth(1).unwrap(),
            inner.split('"').nth(1).unwrap(),
        );
        for (first, second) in [(outer, inner), (inner, outer)] {
            let policy = CUSTOMER_POLICY.replace(
                "\"id\"                     = \"pass\"",
                &format!("\"id\" = \"pass\"\n{first}\n{second}"),
            );
            let fixture = Fixture::new(&[("customers.toml", &policy)], "");
            let run = check(&fixture, &[]);
            assert_eq!(run.code, 1, "{first} / {second} passed:\n{}", run.stdout);
            // Fields are compiled in path order, so the inner one is refused.
            let line = error_at(&run, "customers.toml", line_of(&policy, inner));
            let names_both = line.contains(&format!(
                "field {inner_path:?} lies under field {outer_path:?}"
            ));
            assert!(names_both, "{line}");
        }
    }
    // Siblings and cousins are not nested.
    let policy = CUSTOMER_POLICY.replace(
        "\"id\"                     = \"pass\"",
        "\"id\" = \"pass\"\n\"address.street\" = \"drop\"\n\"address.city\" = \"pass\"\n\"devices[*].model\" = \"pass\"",
    );
    let fixture = Fixture::new(&[("customers.toml", &policy)], "");
    let run = check(&fixture, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// Values `serve` would trip over (a port taken twice, a log format it would
/// replace, limits past what they configure) are named by `check` first.
#[test]
fn config_values_serve_would_trip_over_are_reported() {
    let cases = [
        (
            "[admin]\naddress = \"127.0.0.1:8443\"",
            "admin.address: 127.0.0.1:8443 would take the port of listen.address",
        ),
        (
            "[admin]\naddress = \"0.0.0.0:8443\"",
            "admin.address: 0.0.0.0:8443 would take the port",
        ),
        (
            "[telemetry]\nlog_format = \"xml\"",
            "telemetry.log_format: must be \"json\" or \"text\", not \"xml\"",
        ),
        (
            "[limits]\nmax_connections = 9223372036854775807",
            "limits.max_connections: must be at most 1000000",
        ),
        (
            "[limits]\nmax_header_bytes = 4294967296",
            "limits.max_header_bytes: must be at most 1048576",
        ),
    ];
    for (extra, expected) in cases {
        let fixture = Fixture::new(
            &[("customers.toml", CUSTOMER_POLICY)],
            &format!("\n{extra}"),
        );
        let run = check(&fixture, &[]);
        assert_eq!(run.code, 1, "{extra} passed:\n{}", run.stdout);
        assert!(run.stderr.contains(expected), "{extra}:\n{}", run.stderr);
    }
    let fixture = Fixture::new(
        &[("customers.toml", CUSTOMER_POLICY)],
        "\n[admin]\naddress = \"127.0.0.1:8444\"\n[telemetry]\nlog_format = \"text\"",
    );
    let run = check(&fixture, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// The ledger names a match inside a value by its detector, so one policy
/// file cannot give two detectors one name.
#[test]
fn a_detector_name_used_twice_is_refused() {
    let second = "\n[[detector]]\nname = \"phone\"\npattern = '[0-9]{10}'\naction = \"redact\"\n";
    let policy = format!("{CUSTOMER_POLICY}{second}");
    let fixture = Fixture::new(&[("customers.toml", &policy)], "");
    let run = check(&fixture, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let first_line = line_of(&policy, "[[detector]]");
    let again = policy.rfind("[[detector]]").expect("second detector");
    let line = error_at(&run, "customers.toml", policy[..again].lines().count() + 1);
    assert!(
        line.contains("detector name \"phone\" is already used at "),
        "{line}"
    );
    assert!(
        line.contains(&format!("customers.toml:{first_line};")),
        "{line}"
    );
}
