//! Swapping tokens back on the way upstream: free text, request targets and
//! JSON bodies, with real key files on disk.

#[path = "support/token.rs"]
mod support;

use keyhole::token::{find_tokens, TokenRefused, TokenScope};
use serde_json::json;
use support::{single_key, ALICE, BOB};

#[test]
fn text_without_tokens_is_left_alone() {
    let (_dir, v) = single_key();
    for text in ["", "plain words", "stock_price tok_ tok_k1_short"] {
        assert_eq!(v.detokenize_text(&ALICE, text), Ok(None), "{text}");
    }
}

#[test]
fn sentence_tokens_are_swapped_and_punctuation_kept() {
    let (_dir, v) = single_key();
    let tag = v.tokenize(&ALICE, TokenScope::Agent, "service_tag", "7XK2M9Q");
    let phone = v.tokenize(&ALICE, TokenScope::Agent, "phone", "555-0100");
    let text = format!("Tag {tag}, call ({phone}). Again: {tag}!");
    let clear = v.detokenize_text(&ALICE, &text).unwrap();
    assert_eq!(
        clear.as_deref(),
        Some("Tag 7XK2M9Q, call (555-0100). Again: 7XK2M9Q!")
    );
}

#[test]
fn one_foreign_token_refuses_the_whole_text() {
    let (_dir, v) = single_key();
    let mine = v.tokenize(&ALICE, TokenScope::Agent, "service_tag", "7XK2M9Q");
    let theirs = v.tokenize(&BOB, TokenScope::Agent, "service_tag", "5HG8N2P");
    let text = format!("{mine} and {theirs}");
    let err = v.detokenize_text(&ALICE, &text).unwrap_err();
    assert_eq!(err.code(), "token-not-yours");
}

#[test]
fn uri_values_are_percent_encoded_in_place() {
    let (_dir, v) = single_key();
    let tag = v.tokenize(&ALICE, TokenScope::Agent, "service_tag", "7XK2M9Q");
    let street = v.tokenize(
        &ALICE,
        TokenScope::Agent,
        "street",
        "1 Main St/../admin&x=1",
    );
    let target = format!("/devices/{tag}?near={street}&page=2");
    let clear = v.detokenize_uri(&ALICE, &target).unwrap().unwrap();
    assert_eq!(
        clear,
        "/devices/7XK2M9Q?near=1%20Main%20St%2F..%2Fadmin%26x%3D1&page=2"
    );
    assert_eq!(v.detokenize_uri(&ALICE, "/devices/ABC?x=1"), Ok(None));
}

#[test]
fn json_strings_and_keys_are_swapped_and_counted() {
    let (_dir, v) = single_key();
    let tag = v.tokenize(&ALICE, TokenScope::Agent, "service_tag", "7XK2M9Q");
    let email = v.tokenize(&ALICE, TokenScope::Agent, "email", "ann@example.com");
    let mut body = json!({
        "note": format!("Customer confirmed {tag}."),
        "contacts": [{"email": email}, {"email": "plain"}],
        "by_tag": { tag.clone(): {"ok": true} },
        "count": 3,
        "flag": null,
    });
    let swapped = v.detokenize_json(&ALICE, &mut body).unwrap();
    assert_eq!(swapped, 3);
    assert_eq!(
        body,
        json!({
            "note": "Customer confirmed 7XK2M9Q.",
            "contacts": [{"email": "ann@example.com"}, {"email": "plain"}],
            "by_tag": { "7XK2M9Q": {"ok": true} },
            "count": 3,
            "flag": null,
        })
    );
}

#[test]
fn json_with_a_deep_foreign_token_is_refused() {
    let (_dir, v) = single_key();
    let mine = v.tokenize(&ALICE, TokenScope::Agent, "service_tag", "7XK2M9Q");
    let theirs = v.tokenize(&BOB, TokenScope::Agent, "service_tag", "5HG8N2P");
    let mut body = json!({"a": mine, "b": [[{"c": theirs}]]});
    let err = v.detokenize_json(&ALICE, &mut body).unwrap_err();
    assert!(matches!(err, TokenRefused::NotYours { .. }));

    let last = if mine.ends_with('A') { 'B' } else { 'A' };
    let tampered = format!("{}{last}", &mine[..mine.len() - 1]);
    let mut body = json!({ "tag": tampered });
    let err = v.detokenize_json(&ALICE, &mut body).unwrap_err();
    assert!(matches!(
        err,
        TokenRefused::Tampered | TokenRefused::Malformed
    ));
}

#[test]
fn field_and_free_text_get_the_same_token() {
    let (_dir, v) = single_key();
    // The field rule and the free-text detector share the class name.
    let in_field = v.tokenize(&ALICE, TokenScope::Agent, "service_tag", "7XK2M9Q");
    let note = format!(
        "Caller quoted {}; verified.",
        v.tokenize(&ALICE, TokenScope::Agent, "service_tag", "7XK2M9Q")
    );
    let found: Vec<&str> = find_tokens(&note).map(|r| &note[r]).collect();
    assert_eq!(found, vec![in_field.as_str()]);
}
