//! Values in disguise: text an upstream (or an agent, through an echo) shapes
//! so that a detector would not see a value, values in slots of the wrong
//! shape, odd envelopes, numbers and device records. Every test drives the
//! real gateway over TLS and ends with the oracle's scan of what the agent
//! received.
//!
//! The `#[ignore]`d tests are the known limits of pattern detectors, each
//! still leaking today (`cargo test --test adversarial_disguise -- --ignored`
//! shows them): values spelled out or grouped in ways no pattern describes,
//! values encoded inside passed text, and values no detector describes that
//! an upstream copies into a passed field. `docs/hostile-input.md` says what
//! a policy can do about each.

#[path = "support/hostile.rs"]
mod hostile;
#[path = "support/hostile_upstream.rs"]
mod hostile_upstream;
mod support;

use hostile::{Class, Grant, Oracle};
use hostile_upstream::{answer, Fixture, JSON};
use serde_json::{json, Value};
use support::upstream::raw;
use support::{bearer, Reply, TestEnv};

/// One judged answer: the case, the grant it was asked under, what came back.
type Judged = (String, Option<Grant>, Reply);

/// Prints every leaking case (so one run shows them all), then asserts each is clean.
fn assert_all_clean(oracle: &Oracle, judged: &[Judged]) {
    let leaking: Vec<String> = judged
        .iter()
        .filter(|(_, grant, reply)| !oracle.leaks(&reply.all_bytes(), grant.as_ref()).is_empty())
        .map(|(case, _, _)| case.clone())
        .collect();
    if !leaking.is_empty() {
        eprintln!("leaking cases: {leaking:#?}");
    }
    for (case, grant, reply) in judged {
        oracle.assert_clean(&reply.all_bytes(), grant.as_ref(), case);
    }
}

/// The upstream answers alice's ticketed request, then bob's unticketed one, with `body`.
async fn both_agents(f: &Fixture, case: &str, body: &[u8], out: &mut Vec<Judged>) {
    let reply = f.ask(answer(raw(200, &[JSON], body))).await;
    assert_eq!(
        reply.status,
        200,
        "{case}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    out.push((format!("{case} (ticketed)"), Some(f.grant()), reply));
    let reply = f.ask_unticketed(answer(raw(200, &[JSON], body))).await;
    assert_eq!(reply.status, 200, "{case}");
    out.push((format!("{case} (no ticket)"), None, reply));
}

/// Alice asks for `url` under her ticket while the upstream answers each body.
async fn ticketed_at(f: &Fixture, url: &str, bodies: Vec<(&str, String)>) -> Vec<Judged> {
    let cases = bodies.into_iter().map(|(case, body)| (case, body, 200));
    ticketed_expecting(f, url, cases.collect()).await
}

/// As `ticketed_at`, with the status each case must get.
async fn ticketed_expecting(
    f: &Fixture,
    url: &str,
    cases: Vec<(&str, String, u16)>,
) -> Vec<Judged> {
    let alice = bearer(&f.env.alice());
    let mut judged = Vec::new();
    for (case, body, status) in cases {
        let headers = [("authorization", alice.as_str()), ("x-ticket-id", "T-1001")];
        f.queue
            .lock()
            .expect("lock")
            .push_back(answer(raw(200, &[JSON], body.as_bytes())));
        let reply = f.env.h1().get(url, &headers).await;
        assert_eq!(
            reply.status,
            status,
            "{case}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        judged.push((case.to_string(), Some(f.grant()), reply));
    }
    judged
}

/// Both agents ask while the upstream puts each case's text in the record's `name`.
async fn named_cases(f: &Fixture, cases: Vec<(&str, String)>) -> Vec<Judged> {
    let mut judged = Vec::new();
    for (case, text) in cases {
        both_agents(f, case, &named(f, &text), &mut judged).await;
    }
    judged
}

/// The ticketed customer's record with `name` set to `text`.
fn named(f: &Fixture, text: &str) -> Vec<u8> {
    let mut record = hostile::record_value(&f.own);
    record["name"] = json!(text);
    record.to_string().into_bytes()
}

/// One character per space, as an agent spells a value out on the phone.
fn spaced(value: &str) -> String {
    let out: String = value.chars().flat_map(|c| [c, ' ']).collect();
    out.trim_end().to_string()
}

/// Detectors skip tokens already in the text, and a token's body runs on
/// through `-` and letters: an upstream that writes token-shaped text with a
/// value glued on (`tok_k1_AAAA…-<tag>`) must not hide the value in it. Only
/// tokens that open under the gateway's keys are skipped.
#[tokio::test]
async fn token_shaped_upstream_text_does_not_shield_a_value() {
    let f = Fixture::start().await;
    let pad = "A".repeat(43);
    let tag = &f.other.devices[0].service_tag;
    let code = &f.other.devices[0].express_service_code;
    let judged = named_cases(
        &f,
        vec![
            ("tag after a fake token", format!("see tok_k1_{pad}-{tag}")),
            ("code after a fake token", format!("tok_zz_{pad}-{code} ok")),
            (
                "lower-case tag after a fake token",
                format!("tok_k1_{pad}-{}", tag.to_lowercase()),
            ),
        ],
    )
    .await;
    assert_all_clean(&f.oracle, &judged);
}

/// A tag or express code glued to `_` (a file name), to a letter such as
/// `é`, to a combining mark or to an invisible zero-width joiner is still
/// found: the example detectors are bounded by ASCII word boundaries, and
/// text with underscores is also read with them as spaces.
#[tokio::test]
async fn tags_and_codes_glued_to_word_characters_are_caught() {
    let f = Fixture::start().await;
    let tag = &f.other.devices[0].service_tag;
    let code = &f.other.devices[0].express_service_code;
    let judged = named_cases(
        &f,
        vec![
            ("tag in a file name", format!("invoice_{tag}.pdf")),
            ("tag before an underscore", format!("{tag}_warranty")),
            ("code after an underscore", format!("esc_{code}")),
            ("tag after a letter", format!("é{tag}")),
            ("tag before a combining mark", format!("{tag}\u{301}")),
            (
                "tag between zero-width joiners",
                format!("\u{200d}{tag}\u{200d}"),
            ),
            ("code before a zero-width joiner", format!("{code}\u{200d}")),
        ],
    )
    .await;
    assert_all_clean(&f.oracle, &judged);
}

/// Values glued to one another: once a detector later in the policy's order
/// conceals one, the other stands alone and must be concealed too (the
/// detectors run again over what is left until nothing more is found). A
/// value glued to the digits a mask keeps (`…**21` + a code) stays in one run
/// of digits with them, which no pattern bounds: a known limit.
#[tokio::test]
async fn a_value_glued_to_a_concealed_one_is_concealed_too() {
    let f = Fixture::start().await;
    let other = f.other.clone();
    let tag = &other.devices[0].service_tag;
    let code = &other.devices[0].express_service_code;
    let judged = named_cases(
        &f,
        vec![
            ("code glued to an email", format!("{}{code}", other.email)),
            ("tag glued to an email", format!("{}{tag}", other.email)),
        ],
    )
    .await;
    assert_all_clean(&f.oracle, &judged);
}

/// Known limit: a value spelled out one character per space (a call-center
/// habit, and one of the oracle's own forms) matches no detector.
#[tokio::test]
#[ignore = "known limit: no detector pattern allows a separator between every character"]
async fn spelled_out_values_are_caught() {
    let f = Fixture::start().await;
    let other = f.other.clone();
    let cases = [
        ("spelled tag", &other.devices[0].service_tag),
        ("spelled code", &other.devices[0].express_service_code),
        ("spelled phone", &other.phone),
        ("spelled email", &other.email),
    ]
    .map(|(case, value)| (case, format!("read back as {}", spaced(value))));
    let judged = named_cases(&f, cases.to_vec()).await;
    assert_all_clean(&f.oracle, &judged);
}

/// National phone formats, non-breaking spaces, typographic dashes, minus
/// signs or slashes, an `@` URL-encoded (once or twice), HTML-encoded or
/// full-width, and a zero-padded express code are all found.
#[tokio::test]
async fn other_everyday_formats_of_phones_emails_and_codes_are_caught() {
    let f = Fixture::start().await;
    let other = f.other.clone();
    let national = other.phone.trim_start_matches("+1-").to_string();
    let parts: Vec<&str> = national.split('-').collect();
    let (area, exchange, line) = (parts[0], parts[1], parts[2]);
    let code = other.devices[0].express_service_code.clone();
    let formats = vec![
        ("national phone", Class::Phone, national.clone()),
        (
            "phone in parentheses",
            Class::Phone,
            format!("({area}) {exchange}-{line}"),
        ),
        (
            "phone with dots",
            Class::Phone,
            format!("{area}.{exchange}.{line}"),
        ),
        (
            "phone with spaces",
            Class::Phone,
            format!("{area} {exchange} {line}"),
        ),
        (
            "phone with non-breaking spaces",
            Class::Phone,
            format!("+1\u{a0}{area}\u{a0}{exchange}\u{a0}{line}"),
        ),
        (
            "phone with en dashes",
            Class::Phone,
            format!("+1\u{2013}{area}\u{2013}{exchange}\u{2013}{line}"),
        ),
        (
            "URL-encoded email",
            Class::Email,
            other.email.replace('@', "%40"),
        ),
        (
            "HTML-escaped email",
            Class::Email,
            other.email.replace('@', "&#64;"),
        ),
        (
            "phone with minus signs",
            Class::Phone,
            format!("+1\u{2212}{area}\u{2212}{exchange}\u{2212}{line}"),
        ),
        (
            "phone with slashes",
            Class::Phone,
            format!("{area}/{exchange}/{line}"),
        ),
        (
            "email with a hex entity",
            Class::Email,
            other.email.replace('@', "&#x40;"),
        ),
        (
            "email encoded twice",
            Class::Email,
            other.email.replace('@', "%2540"),
        ),
        (
            "email with a named entity",
            Class::Email,
            other.email.replace('@', "&commat;"),
        ),
        (
            "email with a full-width at sign",
            Class::Email,
            other.email.replace('@', "\u{ff20}"),
        ),
        (
            "zero-padded code",
            Class::ExpressCode,
            format!("{code:0>16}"),
        ),
    ];
    // These forms are not among the oracle's own variants: name them as values.
    let mut oracle = f.oracle.clone();
    for (_, class, form) in &formats {
        oracle = oracle.with(&other.id, *class, form);
    }
    let cases = formats
        .iter()
        .map(|(case, _, form)| (*case, format!("contact: {form}; ok")))
        .collect();
    let judged = named_cases(&f, cases).await;
    assert_all_clean(&oracle, &judged);
}

/// Known limit: an express code written in dash-separated groups matches
/// neither the code pattern (one run of digits) nor the phone pattern.
#[tokio::test]
#[ignore = "known limit: the express code pattern wants one run of digits"]
async fn an_express_code_in_groups_is_caught() {
    let f = Fixture::start().await;
    let other = f.other.clone();
    let grouped: String = other.devices[0]
        .express_service_code
        .chars()
        .enumerate()
        .flat_map(|(i, c)| {
            let dash = i > 0 && i % 3 == 0;
            dash.then_some('-').into_iter().chain([c])
        })
        .collect();
    let oracle = f
        .oracle
        .clone()
        .with(&other.id, Class::ExpressCode, &grouped);
    let mut judged = Vec::new();
    let text = format!("contact: {grouped}; ok");
    both_agents(&f, "grouped code", &named(&f, &text), &mut judged).await;
    assert_all_clean(&oracle, &judged);
}

/// Known limit: streets, postal codes and case notes have no detector, so an
/// upstream that writes them into a passed field (an address line in `city`,
/// notes copied into `summary`) shows them, even the record's own values that
/// its own rules conceal: a passed field is only scanned by the detectors.
#[tokio::test]
#[ignore = "known limit: values no detector describes are not recognised in passed fields"]
async fn values_no_detector_knows_stay_concealed_in_passed_fields() {
    let f = Fixture::start().await;
    let own = f.own.clone();
    let address_line = format!(
        "{}, {} {}",
        own.address.street, own.address.postal_code, own.address.city
    );
    let mut judged = Vec::new();
    // Under the hardware ticket, the street and postal code are not justified.
    let mut record = hostile::record_value(&own);
    record["address"]["city"] = json!(address_line);
    record["address"]["region"] = json!(own.address.postal_code);
    let reply = f
        .ask(answer(raw(200, &[JSON], record.to_string().as_bytes())))
        .await;
    assert_eq!(reply.status, 200);
    judged.push(("own address line in city".into(), Some(f.grant()), reply));
    // Without a ticket, nothing of the notes is justified.
    // A note no detector changes, so that it would show word for word.
    let plain = |c: &&keyhole::demo::data::Customer| {
        c.service_history
            .iter()
            .map(|case| case.notes.clone())
            .find(|n| !n.contains("+1-") && !c.devices.iter().any(|d| n.contains(&d.service_tag)))
    };
    let notes = std::iter::once(&own)
        .chain(&f.env.data.customers)
        .find_map(|c| plain(&c))
        .expect("a note quoting nothing");
    let mut record = hostile::record_value(&own);
    record["service_history"][0]["summary"] = json!(notes);
    let reply = f
        .ask_unticketed(answer(raw(200, &[JSON], record.to_string().as_bytes())))
        .await;
    assert_eq!(reply.status, 200);
    judged.push(("own notes copied into summary".into(), None, reply));
    // Another customer's street in a passed field.
    let body = named(&f, &format!("moved to {}", f.other.address.street));
    let reply = f.ask(answer(raw(200, &[JSON], &body))).await;
    judged.push(("foreign street in name".into(), Some(f.grant()), reply));
    assert_all_clean(&f.oracle, &judged);
}

/// Every string leaf of `value` that is itself JSON, written out plainly:
/// what an agent's client gets by parsing a passed field's JSON text.
fn nested_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::String(s) => {
            if let Ok(inner) = serde_json::from_str::<Value>(s) {
                if inner.is_object() || inner.is_array() || inner.is_string() {
                    out.extend_from_slice(inner.to_string().as_bytes());
                    out.push(b'\n');
                    nested_json(&inner, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| nested_json(v, out)),
        Value::Object(map) => map.values().for_each(|v| nested_json(v, out)),
        _ => {}
    }
}

/// Known limit: detectors run on a passed string as decoded once. JSON text
/// inside it whose sensitive characters are `\u`-escaped (all of a tag, or
/// just the `@` of an email) matches nothing, and the agent's client decodes
/// it. Base64, hex or percent-encoded values in passed text are alike.
#[tokio::test]
#[ignore = "known limit: values encoded inside passed text are not decoded before scanning"]
async fn escaped_json_inside_a_passed_string_is_scanned_as_decoded() {
    let f = Fixture::start().await;
    let tag = &f.other.devices[0].service_tag;
    let escaped_tag: String = tag
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    let escaped_email = f.other.email.replace('@', "\\u0040");
    let judged = named_cases(
        &f,
        vec![
            (
                "escaped tag in nested JSON",
                format!(r#"{{"tag":"{escaped_tag}"}}"#),
            ),
            (
                "escaped @ in nested JSON",
                format!(r#"{{"email":"{escaped_email}"}}"#),
            ),
        ],
    )
    .await;
    // Scan what was received and what parsing the nested JSON text yields.
    let judged: Vec<Judged> = judged
        .into_iter()
        .map(|(case, grant, mut reply)| {
            let mut body = reply.body.to_vec();
            body.push(b'\n');
            nested_json(&reply.json(), &mut body);
            reply.body = body.into();
            (case, grant, reply)
        })
        .collect();
    assert_all_clean(&f.oracle, &judged);
}

/// An agent without a ticket sends one of its tag tokens back inside a note's
/// summary, glued to a character the token scanner does not count (`é`, a
/// zero-width joiner). Keyhole swaps in the real tag upstream and the sample
/// API echoes the note: the tag detector must find the clear tag beside that
/// character in the 201, or the agent would have unmasked it.
#[tokio::test]
async fn an_echoed_token_beside_a_word_character_is_not_unmasked() {
    let env = TestEnv::start().await;
    let oracle = Oracle::new(&env.data);
    let customer = env.ticket_customer("T-1001").clone();
    let bob = bearer(&env.bob());
    let client = env.h1();
    let record = client
        .get(
            &format!("{}/customers/{}", env.base(), customer.id),
            &[("authorization", &bob)],
        )
        .await;
    assert_eq!(record.status, 200);
    let token = record.json()["devices"][0]["service_tag"]
        .as_str()
        .expect("a tag token")
        .to_string();
    assert!(token.starts_with("tok_"), "bob sees a token: {token}");
    let mut judged = Vec::new();
    for (case, summary) in [
        ("token after a letter", format!("unit é{token}é")),
        (
            "token between joiners",
            format!("unit \u{200d}{token}\u{200d}"),
        ),
        ("token plainly (control)", format!("unit {token}")),
    ] {
        let note = json!({"summary": summary, "notes": "x"}).to_string();
        let created = client
            .send(
                http::Method::POST,
                &format!("{}/customers/{}/notes", env.base(), customer.id),
                &[
                    ("authorization", &bob),
                    ("content-type", "application/json"),
                ],
                &note,
            )
            .await;
        assert_eq!(
            created.status,
            201,
            "{case}: {}",
            String::from_utf8_lossy(&created.body)
        );
        judged.push((case.to_string(), None, created));
    }
    assert_all_clean(&oracle, &judged);
}

/// A rule that masks or tokenizes one value never discloses a list or an
/// object an upstream puts in its slot, even under a justifying ticket, and
/// nothing in it counts as the record's own value: a foreign tag riding along
/// is shown neither in the slot nor where detectors find it elsewhere.
#[tokio::test]
async fn arrays_and_objects_in_scalar_slots_reveal_only_the_records_values() {
    let f = Fixture::start().await;
    let own = f.own.clone();
    let other = f.other.clone();
    let mut judged = Vec::new();
    let mut record = hostile::record_value(&own);
    record["devices"][0]["service_tag"] =
        json!([own.devices[0].service_tag, other.devices[0].service_tag]);
    let reply = f
        .ask(answer(raw(200, &[JSON], record.to_string().as_bytes())))
        .await;
    assert_eq!(reply.status, 200);
    judged.push(("array in a tag slot".into(), Some(f.grant()), reply));
    let mut record = hostile::record_value(&own);
    record["devices"][0]["express_service_code"] = json!({
        "code": own.devices[0].express_service_code,
        "also": other.devices[0].express_service_code,
    });
    record["name"] = json!(format!("swap {}", other.devices[0].express_service_code));
    let reply = f
        .ask(answer(raw(200, &[JSON], record.to_string().as_bytes())))
        .await;
    assert_eq!(reply.status, 200);
    judged.push(("object in a code slot".into(), Some(f.grant()), reply));
    assert_all_clean(&f.oracle, &judged);
}

/// Numbers an upstream writes as floats, exponents, negatives or nested arrays
/// in passed fields, member names holding values deep inside passed values, and
/// unlisted members deep inside listed ones.
#[tokio::test]
async fn numbers_in_odd_notation_and_deep_names_are_scanned() {
    let f = Fixture::start().await;
    let other = f.other.clone();
    let code = &other.devices[0].express_service_code;
    let (head, tail) = code.split_at(1);
    let mut judged = Vec::new();
    for (case, number) in [
        (
            "code as an exponent",
            format!("{head}.{tail}e{}", tail.len()),
        ),
        ("code as a float", format!("{code}.0")),
        ("negative code", format!("-{code}")),
        ("code with a fraction", format!("{code}.25")),
        ("codes in nested arrays", format!("[[{code}],[-{code}.5]]")),
    ] {
        let mut record = hostile::record_value(&f.own);
        record["devices"][0]["model"] = json!("__NUMBER__");
        let body = record
            .to_string()
            .replace("\"__NUMBER__\"", &number)
            .into_bytes();
        both_agents(&f, case, &body, &mut judged).await;
    }
    let mut record = hostile::record_value(&f.own);
    record["devices"][0]["warranty"]["plan"] = json!({
        "a": [[{ other.devices[0].service_tag.to_lowercase(): 1 }], { "b": { other.email.clone(): [other.phone.clone()] } }],
    });
    record["devices"][0]["warranty"]["extra"] =
        json!({"deep": [{"phone": other.phone, "street": other.address.street}]});
    record["address"]["extra"] = json!([[other.address.postal_code]]);
    both_agents(
        &f,
        "names deep in passed values",
        record.to_string().as_bytes(),
        &mut judged,
    )
    .await;
    assert_all_clean(&f.oracle, &judged);
}

/// A search answer whose envelope is odd: results as an object, twice, nested
/// one array deeper, a result without an id, and a `total` that is an object
/// keyed by someone's values.
#[tokio::test]
async fn search_envelopes_of_the_wrong_shape_reveal_nothing_foreign() {
    let f = Fixture::start().await;
    let own = hostile::record_value(&f.own);
    let other = hostile::record_value(&f.other);
    let mut anonymous = other.clone();
    anonymous
        .as_object_mut()
        .expect("object")
        .remove("id")
        .expect("id");
    let mut with_own_id = other.clone();
    with_own_id["id"] = json!([f.own.id]);
    let bodies = vec![
        (
            "results as an object",
            json!({"results": {"a": own, "b": other}, "total": 2}).to_string(),
        ),
        (
            "results twice",
            format!(r#"{{"results":[{own}],"results":[{other}],"total":1}}"#),
        ),
        (
            "results one array deeper",
            json!({"results": [[own, other]], "total": 2}).to_string(),
        ),
        (
            "a result without an id",
            json!({"results": [own, anonymous], "total": 2}).to_string(),
        ),
        (
            "an id as an array",
            json!({"results": [with_own_id], "total": 1}).to_string(),
        ),
        (
            "total keyed by values",
            json!({"results": [own], "total": {
                f.other.phone.clone(): [f.other.email.clone()],
                "n": [f.other.devices[0].express_service_code.parse::<u64>().expect("digits")],
            }, "query": f.other.email})
            .to_string(),
        ),
    ];
    let url = format!("{}/customers?q=x", f.env.base());
    let judged = ticketed_at(&f, &url, bodies).await;
    assert_all_clean(&f.oracle, &judged);
}

/// The device route, with another customer's values in its passed fields and an
/// owner id that is doubled, missing or not a string. The route looks a device
/// up by its tag: a record that does not show the tag asked for in the clear
/// (another customer's device, or one whose owner is unclear) is answered as
/// not found.
#[tokio::test]
async fn device_lookups_scan_passed_fields_and_need_one_owner() {
    let f = Fixture::start().await;
    let own = &f.own;
    let other = &f.other;
    let device = |customer: Value| {
        let mut d = serde_json::to_value(&own.devices[0]).expect("json");
        d["customer_id"] = customer;
        d
    };
    let mut free_text = device(json!(own.id));
    free_text["model"] = json!(format!(
        "{} / {} / {}",
        other.devices[0].service_tag, other.phone, other.email
    ));
    free_text["warranty"]["plan"] = json!({ other.devices[0].express_service_code.clone(): 1 });
    let as_json = |d: &Value| d.to_string();
    let owned_by = |d: &Value, id: &str| {
        let mut d = d.clone();
        d["customer_id"] = json!(id);
        d
    };
    let foreign = owned_by(
        &serde_json::to_value(&other.devices[0]).expect("json"),
        &other.id,
    );
    let mine = owned_by(&device(json!(own.id)), &own.id);
    let doubled = |d: &Value, then: &str| {
        let text = as_json(d);
        format!(r#"{{{},"customer_id":"{then}"}}"#, &text[1..text.len() - 1])
    };
    let without_owner = |d: &Value| {
        let mut d = d.clone();
        d.as_object_mut().expect("object").remove("customer_id");
        as_json(&d)
    };
    let owner_array = |d: &Value, id: &str| {
        let mut d = d.clone();
        d["customer_id"] = json!([id]);
        as_json(&d)
    };
    let cases = vec![
        ("values in passed fields", as_json(&free_text), 200),
        ("another's device", as_json(&foreign), 404),
        (
            "another's device, owner doubled",
            doubled(&foreign, &own.id),
            404,
        ),
        (
            "another's device, owner as an array",
            owner_array(&foreign, &own.id),
            404,
        ),
        (
            "another's device, owner missing",
            without_owner(&foreign),
            404,
        ),
        ("own device, owner doubled", doubled(&mine, &other.id), 404),
        (
            "own device, owner as an array",
            owner_array(&mine, &own.id),
            404,
        ),
        ("own device, owner missing", without_owner(&mine), 404),
    ];
    let url = format!("{}/devices/{}", f.env.base(), own.devices[0].service_tag);
    let judged = ticketed_expecting(&f, &url, cases).await;
    assert_all_clean(&f.oracle, &judged);
}

/// What `generalize` keeps of an address (city, region, country) is the
/// upstream's own text, and leaves in the clear: it is scanned like a passed
/// field, so values an upstream writes into it are concealed for both agents.
#[tokio::test]
async fn what_generalizing_keeps_is_scanned() {
    let policies = tempfile::tempdir().expect("tempdir");
    let f = Fixture::start_with({
        let dir = policies.path().to_path_buf();
        move |c| {
            let shipped = std::fs::read_to_string(c.policies.dir.join("customer-records.toml"))
                .expect("shipped policy");
            let generalized: String = shipped
                .lines()
                .filter(|line| !line.trim_start().starts_with("\"address."))
                .map(|line| {
                    let generalize = r#""address" = { action = "generalize", to = "city", justify = ["dispatch"] }"#;
                    if line.trim_start().starts_with("\"name\"") {
                        format!("{line}\n{generalize}\n")
                    } else {
                        format!("{line}\n")
                    }
                })
                .collect();
            // The search matched the city, which no longer has a rule of its own.
            let generalized = generalized.replace("\"address.city\", ", "");
            std::fs::write(dir.join("customer-records.toml"), generalized).expect("policy");
            let devices = c.policies.dir.join("devices.toml");
            std::fs::copy(devices, dir.join("devices.toml")).expect("devices policy");
            c.policies.dir = dir;
        }
    })
    .await;
    let other = &f.other;
    let mut record = hostile::record_value(&f.own);
    record["address"]["city"] = json!(format!(
        "Utrecht {} {} {}",
        other.devices[0].service_tag, other.phone, other.email
    ));
    record["address"]["region"] = json!(other.devices[0].express_service_code);
    let mut judged = Vec::new();
    both_agents(
        &f,
        "values in a generalized address",
        record.to_string().as_bytes(),
        &mut judged,
    )
    .await;
    for (_, _, reply) in &judged {
        assert!(
            reply.json()["address"]["city"]
                .as_str()
                .is_some_and(|c| c.starts_with("Utrecht ")),
            "the address is generalized, not dropped: {}",
            reply.json()
        );
    }
    assert_all_clean(&f.oracle, &judged);
}

/// The ledger holds fingerprints, never values (no plaintext at rest). Member
/// names below a disclosed value are the upstream's, and an upstream can make
/// them values: the ledger path names them `*`, so none reaches its files.
#[tokio::test]
async fn member_names_an_upstream_writes_never_reach_the_ledger() {
    let f = Fixture::start().await;
    let (own, other) = (&f.own, &f.other);
    let values = [
        other.phone.as_str(),
        other.email.as_str(),
        other.devices[0].service_tag.as_str(),
        own.address.postal_code.as_str(),
        own.phone.as_str(),
    ];
    let mut record = hostile::record_value(own);
    let names: serde_json::Map<String, Value> =
        values.iter().map(|v| (v.to_string(), json!("x"))).collect();
    record["service_history"][0]["notes"] = Value::Object(names);
    let reply = f
        .ask(answer(raw(200, &[JSON], record.to_string().as_bytes())))
        .await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert!(
        reply.header("keyhole-disclosure").is_some(),
        "the notes were disclosed"
    );
    let mut ledger = Vec::new();
    for entry in std::fs::read_dir(f.env.ledger_dir()).expect("ledger dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            ledger.extend(std::fs::read(path).expect("ledger file"));
        }
    }
    let text = String::from_utf8_lossy(&ledger);
    assert!(text.contains("service_history[0].notes.*"), "{text}");
    for value in values {
        for variant in hostile::variants(value) {
            assert!(
                !text.contains(&variant),
                "{variant:?} is in the ledger: {text}"
            );
        }
    }
}

/// A policy that passes unlisted fields, and an upstream that moves ruled
/// fields into another shape (a list where the rules name members, an object
/// where they name elements, text where an object was) or spells a rule's
/// path as one member's name: none of it escapes its rules as unlisted.
#[tokio::test]
async fn ruled_fields_in_another_shape_do_not_pass_as_unlisted() {
    const UNLISTED_PASS: &str = r#"[policy]
name = "unlisted-pass"
unlisted = "pass"

[[route]]
methods = ["GET"]
path = "/customers/{customer}"
record = "$"
customer = ["{customer}", "id"]

[route.fields]
"id"                              = "pass"
"address.street"                  = { action = "redact", justify = ["dispatch"] }
"address.postal_code"             = { action = "redact", justify = ["dispatch"] }
"devices[*].service_tag"          = { action = "tokenize", justify = ["hardware"] }
"devices[*].express_service_code" = { action = "tokenize", justify = ["hardware"] }
"#;
    let policies = tempfile::tempdir().expect("tempdir");
    std::fs::write(policies.path().join("unlisted.toml"), UNLISTED_PASS).expect("policy");
    let dir = policies.path().to_path_buf();
    let f = Fixture::start_with(move |c| c.policies.dir = dir).await;
    let own = &f.own;
    let (street, postal) = (&own.address.street, &own.address.postal_code);
    let device = &own.devices[0];
    let (tag, code) = (&device.service_tag, &device.express_service_code);
    let bodies = [
        (
            "a path as a member name",
            json!({"id": own.id, "address.street": street, "devices[0].service_tag": tag}),
        ),
        (
            "a list where members were named",
            json!({"id": own.id, "address": [{"street": street, "postal_code": postal}]}),
        ),
        (
            "an object where elements were named",
            json!({"id": own.id, "devices": {"service_tag": tag, "express_service_code": code}}),
        ),
        (
            "text where an object was",
            json!({"id": own.id, "address": format!("{street}, {postal}"), "devices": [tag]}),
        ),
    ];
    let mut judged = Vec::new();
    for (case, body) in bodies {
        let reply = f
            .ask_unticketed(answer(raw(200, &[JSON], body.to_string().as_bytes())))
            .await;
        assert_eq!(
            reply.status,
            200,
            "{case}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        judged.push((case.to_string(), None, reply));
    }
    assert_all_clean(&f.oracle, &judged);
}
