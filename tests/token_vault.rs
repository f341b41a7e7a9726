//! Tokenize, detokenize, inspect and rotate with real key files on disk.

#[path = "support/token.rs"]
mod support;

use std::fs;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keyhole::token::{Holder, TokenKeyError, TokenRefused, TokenScope, TokenVault, TOKEN_PATTERN};
use support::{config, generate, single_key, vault, ALICE, ALICE_AT_GLOBEX, BOB, CAROL};

const TAG: &str = "7XK2M9Q";

#[test]
fn same_agent_gets_same_token_across_requests_and_restarts() {
    let (dir, first) = single_key();
    let a = first.tokenize(&ALICE, TokenScope::Agent, "service_tag", TAG);
    assert_eq!(
        a,
        first.tokenize(&ALICE, TokenScope::Agent, "service_tag", TAG)
    );
    let restarted = vault(dir.path(), "k1", &[("k1", false)]);
    assert_eq!(
        a,
        restarted.tokenize(&ALICE, TokenScope::Agent, "service_tag", TAG)
    );
    assert!(a.starts_with("tok_k1_"));
    assert!(!a.contains(TAG));
}

#[test]
fn other_agents_vendors_and_classes_get_other_tokens() {
    let (_dir, v) = single_key();
    let tok = |h: &Holder<'_>, class: &str| v.tokenize(h, TokenScope::Agent, class, TAG);
    let alice = tok(&ALICE, "service_tag");
    assert_ne!(alice, tok(&BOB, "service_tag"));
    assert_ne!(alice, tok(&ALICE_AT_GLOBEX, "service_tag"));
    assert_ne!(alice, tok(&ALICE, "express_service_code"));
}

#[test]
fn other_installations_make_other_tokens() {
    let (_a, one) = single_key();
    let (_b, two) = single_key();
    let t1 = one.tokenize(&ALICE, TokenScope::Agent, "service_tag", TAG);
    let t2 = two.tokenize(&ALICE, TokenScope::Agent, "service_tag", TAG);
    assert_ne!(t1, t2);
    assert_eq!(two.detokenize(&ALICE, &t1), Err(TokenRefused::Tampered));
}

#[test]
fn own_token_detokenizes_to_value_and_class() {
    let (_dir, v) = single_key();
    let token = v.tokenize(&ALICE, TokenScope::Agent, "service_tag", TAG);
    let clear = v.detokenize(&ALICE, &token).unwrap();
    assert_eq!(clear.value, TAG);
    assert_eq!(clear.class, "service_tag");
}

#[test]
fn another_agents_token_is_refused_without_saying_whose() {
    let (_dir, v) = single_key();
    let token = v.tokenize(&ALICE, TokenScope::Agent, "service_tag", TAG);
    for thief in [BOB, ALICE_AT_GLOBEX, CAROL] {
        let err = v.detokenize(&thief, &token).unwrap_err();
        assert_eq!(
            err,
            TokenRefused::NotYours {
                issued_to: "agent alice of vendor acme".into()
            }
        );
        assert_eq!(err.code(), "token-not-yours");
        let shown = err.to_string();
        assert!(!shown.contains("alice") && !shown.contains(TAG), "{shown}");
    }
}

#[test]
fn vendor_scope_is_shared_within_the_vendor_only() {
    let (_dir, v) = single_key();
    let token = v.tokenize(&ALICE, TokenScope::Vendor, "service_tag", TAG);
    assert_eq!(
        token,
        v.tokenize(&BOB, TokenScope::Vendor, "service_tag", TAG)
    );
    assert_eq!(v.detokenize(&BOB, &token).unwrap().value, TAG);
    let err = v.detokenize(&CAROL, &token).unwrap_err();
    assert_eq!(
        err,
        TokenRefused::NotYours {
            issued_to: "vendor acme".into()
        }
    );
}

#[test]
fn global_scope_is_the_same_for_everyone() {
    let (_dir, v) = single_key();
    let token = v.tokenize(&ALICE, TokenScope::Global, "model", "XPS 13");
    assert_eq!(
        token,
        v.tokenize(&CAROL, TokenScope::Global, "model", "XPS 13")
    );
    assert_eq!(v.detokenize(&CAROL, &token).unwrap().value, "XPS 13");
}

#[test]
fn scopes_never_share_tokens() {
    let (_dir, v) = single_key();
    let agent = v.tokenize(&ALICE, TokenScope::Agent, "service_tag", TAG);
    let vendor = v.tokenize(&ALICE, TokenScope::Vendor, "service_tag", TAG);
    let global = v.tokenize(&ALICE, TokenScope::Global, "service_tag", TAG);
    assert!(agent != vendor && vendor != global && agent != global);
}

#[test]
fn bit_flipped_token_is_refused_as_tampered() {
    let (_dir, v) = single_key();
    let token = v.tokenize(&ALICE, TokenScope::Agent, "service_tag", TAG);
    let body = token.strip_prefix("tok_k1_").unwrap();
    let raw = URL_SAFE_NO_PAD.decode(body).unwrap();
    for bit in 0..raw.len() * 8 {
        let mut flipped = raw.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let forged = format!("tok_k1_{}", URL_SAFE_NO_PAD.encode(&flipped));
        assert_eq!(v.detokenize(&ALICE, &forged), Err(TokenRefused::Tampered));
        assert_eq!(v.inspect(&forged), Err(TokenRefused::Tampered));
    }
}

#[test]
fn every_edited_character_is_refused() {
    let (_dir, v) = single_key();
    let token = v.tokenize(&ALICE, TokenScope::Agent, "service_tag", TAG);
    for i in "tok_k1_".len()..token.len() {
        let mut edited = token.clone().into_bytes();
        edited[i] = if edited[i] == b'A' { b'B' } else { b'A' };
        let edited = String::from_utf8(edited).unwrap();
        let err = v.detokenize(&ALICE, &edited).unwrap_err();
        // A changed last character may also break base64's canonical form.
        assert!(
            matches!(err, TokenRefused::Tampered | TokenRefused::Malformed),
            "char {i}: {err:?}"
        );
    }
}

#[test]
fn malformed_tokens_are_refused() {
    let (_dir, v) = single_key();
    let good = v.tokenize(&ALICE, TokenScope::Agent, "service_tag", TAG);
    let body = good.strip_prefix("tok_k1_").unwrap();
    for bad in [
        String::new(),
        "tok_".into(),
        "tok_k1".into(),
        "tok_k1_".into(),
        "tok_k1_AAAA".into(),
        format!("tok_K1_{body}"),
        format!("tok_abcdefghi_{body}"),
        format!("tok_k1_{body}!"),
        format!("tok_k1_{}", &body[..20]),
        body.to_owned(),
    ] {
        assert_eq!(
            v.detokenize(&ALICE, &bad),
            Err(TokenRefused::Malformed),
            "{bad}"
        );
    }
}

#[test]
fn unknown_key_is_refused() {
    let (_dir, v) = single_key();
    let token = v.tokenize(&ALICE, TokenScope::Agent, "service_tag", TAG);
    let moved = token.replacen("tok_k1_", "tok_k7_", 1);
    assert_eq!(v.detokenize(&ALICE, &moved), Err(TokenRefused::UnknownKey));
    assert_eq!(v.inspect(&moved), Err(TokenRefused::UnknownKey));
}

#[test]
fn rotation_keeps_old_tokens_valid_until_retired() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "k1");
    let before = vault(dir.path(), "k1", &[("k1", false)]);
    let old = before.tokenize(&ALICE, TokenScope::Agent, "service_tag", TAG);

    generate(dir.path(), "k2");
    let rotated = vault(dir.path(), "k2", &[("k1", false), ("k2", false)]);
    let new = rotated.tokenize(&ALICE, TokenScope::Agent, "service_tag", TAG);
    assert!(new.starts_with("tok_k2_"));
    assert_ne!(old, new);
    assert_eq!(rotated.detokenize(&ALICE, &old).unwrap().value, TAG);
    assert_eq!(rotated.detokenize(&ALICE, &new).unwrap().value, TAG);
    assert!(matches!(
        rotated.detokenize(&BOB, &old),
        Err(TokenRefused::NotYours { .. })
    ));

    let retired = vault(dir.path(), "k2", &[("k1", true), ("k2", false)]);
    let err = retired.detokenize(&ALICE, &old).unwrap_err();
    assert_eq!(err, TokenRefused::RetiredKey);
    assert_eq!(err.code(), "token-retired-key");
    assert_eq!(retired.detokenize(&ALICE, &new).unwrap().value, TAG);

    let dropped = vault(dir.path(), "k2", &[("k2", false)]);
    assert_eq!(
        dropped.detokenize(&ALICE, &old),
        Err(TokenRefused::UnknownKey)
    );
}

#[test]
fn inspect_names_holder_class_and_key_even_when_retired() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "k1");
    generate(dir.path(), "k2");
    let v = vault(dir.path(), "k1", &[("k1", false), ("k2", false)]);
    let token = v.tokenize(&BOB, TokenScope::Agent, "phone", "+1 512 555 0100");
    let later = vault(dir.path(), "k2", &[("k1", true), ("k2", false)]);
    let info = later.inspect(&token).unwrap();
    assert_eq!(info.agent.as_deref(), Some("bob"));
    assert_eq!(info.vendor.as_deref(), Some("acme"));
    assert_eq!(info.scope, TokenScope::Agent);
    assert_eq!(info.class, "phone");
    assert_eq!(info.key_id, "k1");
    assert!(info.key_retired);
    assert_eq!(info.value, "+1 512 555 0100");

    let shared = later.tokenize(&BOB, TokenScope::Vendor, "phone", "x");
    let info = later.inspect(&shared).unwrap();
    assert_eq!((info.agent, info.vendor.as_deref()), (None, Some("acme")));
    assert_eq!(info.key_id, "k2");
    assert!(!info.key_retired);
}

#[test]
fn debug_output_never_shows_values_or_keys() {
    let (dir, v) = single_key();
    let token = v.tokenize(&ALICE, TokenScope::Agent, "service_tag", TAG);
    let key_hex = fs::read_to_string(support::key_path(dir.path(), "k1")).unwrap();
    let shown = format!(
        "{:?} {:?} {:?}",
        v,
        v.detokenize(&ALICE, &token).unwrap(),
        v.inspect(&token).unwrap()
    );
    assert!(
        shown.contains("service_tag") && shown.contains("k1"),
        "{shown}"
    );
    assert!(!shown.contains(TAG), "{shown}");
    assert!(!shown.contains(key_hex.trim()), "{shown}");
}

#[test]
fn typical_token_is_short_and_matches_the_pattern() {
    let (_dir, v) = single_key();
    let agent = Holder {
        agent: "agent-0042",
        vendor: "acme",
    };
    let token = v.tokenize(&agent, TokenScope::Agent, "service_tag", TAG);
    assert!(token.len() < 100, "{} chars: {token}", token.len());
    let re = regex::Regex::new(TOKEN_PATTERN).unwrap();
    let sentence = format!("Customer read out {token}.");
    assert_eq!(re.find(&sentence).map(|m| m.as_str()), Some(token.as_str()));
}

#[test]
fn load_reports_missing_and_bad_key_files() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "k1", &[("k1", false)]);
    assert!(matches!(
        TokenVault::load(&cfg),
        Err(TokenKeyError::Read { .. })
    ));
    fs::create_dir_all(dir.path().join("keys")).unwrap();
    fs::write(support::key_path(dir.path(), "k1"), "0011").unwrap();
    assert!(matches!(
        TokenVault::load(&cfg),
        Err(TokenKeyError::NotAKey { .. })
    ));
    let retired_active = config(dir.path(), "k1", &[("k1", true)]);
    let err = TokenVault::load(&retired_active).unwrap_err();
    assert!(matches!(err, TokenKeyError::Config(ref e) if e.key == "tokens.active"));
}
