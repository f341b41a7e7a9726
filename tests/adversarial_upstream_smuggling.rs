//! A misbehaving upstream whose answer is judged and passed on, yet tries to
//! smuggle another customer's data through it: in response headers,
//! trailers and 1xx interim responses, in tricky JSON (escaped, duplicate,
//! dotted and bracketed keys, string-encoded JSON, free text, numbers and
//! keys), and in leftover bytes that try to poison the connection pool.

#[path = "support/hostile.rs"]
mod hostile;
#[path = "support/hostile_upstream.rs"]
mod hostile_upstream;
mod support;

use hostile::Step;
use hostile_upstream::{answer, chunked, Fixture, JSON};
use serde_json::json;
use support::upstream::raw;

#[tokio::test]
async fn judged_answers_drop_headers_trailers_and_interim_responses() {
    let f = Fixture::start().await;
    let body = f.tainted_record();
    let grant = f.grant();
    let other = &f.other;
    let cookie = format!("sid={}", other.email);
    let link = format!("</x?tag={}>; rel=preload", other.devices[0].service_tag);
    let interim = format!(
        "HTTP/1.1 103 Early Hints\r\nlink: {link}\r\nx-phone: {}\r\n\r\n",
        other.phone
    );
    let continue_first = [
        b"HTTP/1.1 100 Continue\r\n\r\n".as_slice(),
        &raw(200, &[JSON], &body),
    ]
    .concat();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "data in response headers",
            raw(
                200,
                &[
                    JSON,
                    ("set-cookie", &cookie),
                    ("link", &link),
                    ("x-debug-phone", &other.phone),
                    ("location", &other.address.street),
                ],
                &body,
            ),
        ),
        (
            "data in trailers",
            chunked_with_trailer(
                &body,
                &format!(
                    "x-phone: {}\r\nx-tag: {}",
                    other.phone, other.devices[0].service_tag
                ),
            ),
        ),
        (
            "103 before the answer",
            [interim.as_bytes(), &raw(200, &[JSON], &body)].concat(),
        ),
        ("100 before the answer", continue_first),
        (
            "json first of two types",
            raw(200, &[JSON, ("content-type", "text/html")], &body),
        ),
        (
            "identity encoding",
            raw(200, &[JSON, ("content-encoding", "identity")], &body),
        ),
        (
            "problem+json",
            raw(200, &[("content-type", "application/problem+json")], &body),
        ),
    ];
    for (case, bytes) in cases {
        let reply = f.ask(answer(bytes)).await;
        assert_eq!(
            reply.status,
            200,
            "{case}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        f.oracle
            .assert_clean(&reply.all_bytes(), Some(&grant), case);
        let text = String::from_utf8_lossy(&reply.all_bytes()).to_lowercase();
        for header in [
            "set-cookie",
            "link:",
            "x-debug",
            "location",
            "x-phone",
            "x-tag",
        ] {
            assert!(!text.contains(header), "{case}: {header} was passed on");
        }
    }
}

#[tokio::test]
async fn tricky_json_cannot_smuggle_a_field_past_its_rule() {
    let f = Fixture::start().await;
    let other = &f.other;
    let own_json = hostile::record_json(&f.own);
    let own_inner = own_json.trim_start_matches('{').trim_end_matches('}');
    let tag = &other.devices[0].service_tag;
    let encoded = json!({"phone": other.phone, "email": other.email}).to_string();
    let bodies: Vec<(&str, String)> = vec![
        (
            "escaped duplicate id",
            format!(r#"{{{own_inner},"\u0069d":"{}"}}"#, other.id),
        ),
        (
            "escaped key",
            format!(
                r#"{{{own_inner},"\u0070hone":"{}","\u0061ddress":{{"city":"X","street":"{}"}}}}"#,
                other.phone, other.address.street
            ),
        ),
        (
            "dotted and bracketed keys",
            format!(
                r#"{{{own_inner},"address.street":"{}","devices[0]":{{"service_tag":"{tag}"}},"phone\u0000":"{}","PHONE":"{}"," phone":"{}"}}"#,
                other.address.street, other.phone, other.phone, other.phone
            ),
        ),
        (
            "string-encoded JSON in a passed field",
            format!(r#"{{{own_inner},"name":{}}}"#, json!(encoded)),
        ),
        (
            "data in free text",
            format!(
                r#"{{{own_inner},"name":"call {} or {}"}}"#,
                other.phone, other.email
            ),
        ),
        (
            "huge integer id",
            format!(r#"{{{own_inner},"id":123456789012345678901234567890}}"#),
        ),
        ("record as an array", format!("[{own_json}]")),
        ("record as a string", json!(own_json).to_string()),
    ];
    for (case, body) in &bodies {
        f.judged(body.as_bytes(), case).await;
        f.judged_unticketed(body.as_bytes(), case).await;
    }
    // Free text quoting tags is concealed for an agent without a ticket.
    let body = format!(
        r#"{{{own_inner},"name":"about {tag} and {}"}}"#,
        f.own.devices[0].service_tag
    );
    f.judged_unticketed(body.as_bytes(), "tags in free text")
        .await;
}

#[tokio::test]
async fn another_customers_tag_quoted_in_a_ticketed_record_stays_hidden() {
    let f = Fixture::start().await;
    let own_json = hostile::record_json(&f.own);
    let own_inner = own_json.trim_start_matches('{').trim_end_matches('}');
    let tag = &f.other.devices[0].service_tag;
    let body = format!(r#"{{{own_inner},"name":"swapped with {tag}"}}"#);
    f.judged(body.as_bytes(), "foreign tag in free text").await;
}

#[tokio::test]
async fn numbers_and_keys_in_passed_values_are_scanned_too() {
    let f = Fixture::start().await;
    let other = &f.other;
    let mut record = hostile::record_value(&f.own);
    let code: u64 = other.devices[0]
        .express_service_code
        .parse()
        .expect("digits");
    record["service_history"][0]["case_id"] = json!(code);
    record["address"]["city"] = json!({ other.phone.clone(): "x", other.email.clone(): 1 });
    f.judged(record.to_string().as_bytes(), "numbers and keys")
        .await;
}

#[tokio::test]
async fn unlisted_names_and_text_beside_tokens_show_nothing() {
    let f = Fixture::start().await;
    let other = &f.other;
    // A member no rule names, holding an array: emptying it would still show its name.
    let mut record = hostile::record_value(&f.own);
    record[format!("call back on {}", other.phone)] = json!([{ "x": 1 }]);
    f.judged(record.to_string().as_bytes(), "unlisted array name")
        .await;
    // A tag-shaped stretch becomes a token first; the email pattern then runs
    // from the token into the clear address beside it.
    let mut record = hostile::record_value(&f.own);
    record["name"] = json!(format!("CUS-ab12cd3.{}", other.email));
    let reply = f
        .judged_unticketed(record.to_string().as_bytes(), "text beside a token")
        .await;
    let name = reply.json()["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        name.starts_with("CUS-tok_"),
        "the tag-shaped stretch was tokenized: {name}"
    );
}

#[tokio::test]
async fn a_lower_case_tag_in_free_text_is_caught() {
    let f = Fixture::start().await;
    let own_json = hostile::record_json(&f.own);
    let own_inner = own_json.trim_start_matches('{').trim_end_matches('}');
    let tag = f.other.devices[0].service_tag.to_lowercase();
    let body = format!(r#"{{{own_inner},"name":"tag {tag}"}}"#);
    f.judged_unticketed(body.as_bytes(), "lower-case tag").await;
}

#[tokio::test]
async fn extra_bytes_after_an_answer_never_become_the_next_answer() {
    let f = Fixture::start().await;
    let mut poison = hostile::record_value(&f.other);
    poison["id"] = json!(f.own.id);
    poison["name"] = json!("POISONED");
    let poisoned = hostile::keep_alive(200, "application/json", poison.to_string().as_bytes());
    let first = hostile::keep_alive(
        200,
        "application/json",
        hostile::record_json(&f.own).as_bytes(),
    );
    f.queue.lock().expect("lock").push_back(vec![
        Step::Read,
        Step::Write([first.as_slice(), &poisoned].concat()),
        Step::Read,
        Step::Write(first.clone()),
    ]);
    let first_reply = f.ask(Vec::new()).await;
    assert_eq!(first_reply.status, 200);
    // If the pooled connection were reused, its leftover answer would be read as this one.
    let second = f
        .ask(answer(raw(
            200,
            &[JSON],
            hostile::record_json(&f.own).as_bytes(),
        )))
        .await;
    for reply in [&first_reply, &second] {
        let text = String::from_utf8_lossy(&reply.body);
        assert!(
            !text.contains("POISONED"),
            "a leftover answer was served: {text}"
        );
        f.oracle
            .assert_clean(&reply.all_bytes(), Some(&f.grant()), "pool poisoning");
    }
}

fn chunked_with_trailer(body: &[u8], trailer: &str) -> Vec<u8> {
    let mut out = chunked(&[JSON, ("trailer", "x-phone, x-tag")], &[body]);
    out.truncate(out.len() - 2);
    out.extend_from_slice(format!("{trailer}\r\n\r\n").as_bytes());
    out
}
