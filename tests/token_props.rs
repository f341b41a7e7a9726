//! Properties over random values, holders and keys: a token names its holder,
//! opens for them alone, and carries nothing computable from the value
//! without the key.

use std::fs;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use keyhole::token::{Holder, TokenRefused, TokenScope, TokenVault, TokensConfig};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// A vault whose one key has the given id and secret, loaded from a real file.
fn vault_with(dir: &std::path::Path, id: &str, secret: &[u8; 32]) -> TokenVault {
    vault_remembering(dir, id, secret, 16_384)
}

/// The same, remembering `recent` recently sealed tokens.
fn vault_remembering(
    dir: &std::path::Path,
    id: &str,
    secret: &[u8; 32],
    recent: usize,
) -> TokenVault {
    let file = dir.join(format!("{id}.key"));
    fs::write(&file, format!("{}\n", hex::encode(secret))).unwrap();
    let text = format!(
        "active = \"{id}\"\nrecent_tokens = {recent}\n[[keys]]\nid = \"{id}\"\nfile = \"{id}.key\"\n"
    );
    let mut cfg: TokensConfig = toml::from_str(&text).unwrap();
    cfg.resolve_paths(dir);
    TokenVault::load(&cfg).unwrap()
}

/// Strings that could be computed from `value` by anyone, without a key.
fn unkeyed_images(value: &str) -> Vec<String> {
    let bytes = value.as_bytes();
    let digest = Sha256::digest(bytes);
    let mut images = vec![value.to_owned(), hex::encode(bytes), hex::encode(digest)];
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        images.push(engine.encode(bytes));
        images.push(engine.encode(digest));
    }
    images.push(hex::encode_upper(bytes));
    images.push(hex::encode_upper(digest));
    images
}

fn scope() -> impl Strategy<Value = TokenScope> {
    prop_oneof![
        Just(TokenScope::Agent),
        Just(TokenScope::Vendor),
        Just(TokenScope::Global)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn inspect_names_the_holder_and_detokenize_opens_for_them(
        value in any::<String>(),
        agent in "[a-z][a-z0-9-]{0,11}",
        vendor in "[a-z]{1,10}",
        class in "[a-z_.\\[\\]*]{1,24}",
        key_id in "[a-z0-9]{1,8}",
        secret in any::<[u8; 32]>(),
        scope in scope(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let vault = vault_with(dir.path(), &key_id, &secret);
        let holder = Holder { agent: &agent, vendor: &vendor };
        let token = vault.tokenize(&holder, scope, &class, &value);
        prop_assert_eq!(&token, &vault.tokenize(&holder, scope, &class, &value));

        let info = vault.inspect(&token).unwrap();
        let expect_agent = (scope == TokenScope::Agent).then(|| agent.clone());
        let expect_vendor = (scope != TokenScope::Global).then(|| vendor.clone());
        prop_assert_eq!(info.agent, expect_agent);
        prop_assert_eq!(info.vendor, expect_vendor);
        prop_assert_eq!(info.scope, scope);
        prop_assert_eq!(&info.class, &class);
        prop_assert_eq!(&info.key_id, &key_id);
        prop_assert_eq!(&info.value, &value);

        let clear = vault.detokenize(&holder, &token).unwrap();
        prop_assert_eq!(clear.value, value);
        prop_assert_eq!(clear.class, class);
    }

    #[test]
    fn another_agent_gets_another_token_and_is_refused(
        value in ".{1,40}",
        agent in "[a-z]{1,10}",
        other in "[a-z]{1,10}",
        secret in any::<[u8; 32]>(),
    ) {
        prop_assume!(agent != other);
        let dir = tempfile::tempdir().unwrap();
        let vault = vault_with(dir.path(), "k1", &secret);
        let mine = Holder { agent: &agent, vendor: "acme" };
        let theirs = Holder { agent: &other, vendor: "acme" };
        let token = vault.tokenize(&mine, TokenScope::Agent, "c", &value);
        prop_assert_ne!(&token, &vault.tokenize(&theirs, TokenScope::Agent, "c", &value));
        let refused = vault.detokenize(&theirs, &token);
        prop_assert!(
            matches!(refused, Err(TokenRefused::NotYours { .. })),
            "expected NotYours, got {:?}", refused
        );
    }

    #[test]
    fn token_holds_no_unkeyed_image_of_the_value(
        // Long enough that a chance match inside ~100 random base64 characters
        // is below 2^-40 per case.
        value in "[ -~]{8,48}|\\PC{8,24}",
        agent in "[a-z]{1,10}",
        secret in any::<[u8; 32]>(),
        scope in scope(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let vault = vault_with(dir.path(), "k1", &secret);
        let holder = Holder { agent: &agent, vendor: "acme" };
        let token = vault.tokenize(&holder, scope, "service_tag", &value);
        for image in unkeyed_images(&value) {
            // Any 16-character run of an image, so a truncated hash or a
            // partial encoding is caught too (the value itself may be shorter).
            let width = image.len().min(16);
            for window in image.as_bytes().windows(width) {
                let window = std::str::from_utf8(window).unwrap_or_default();
                prop_assert!(
                    window.is_empty() || !token.contains(window),
                    "token {} contains {} from {}", token, window, image
                );
            }
        }
    }

    #[test]
    fn remembered_tokens_are_the_tokens_sealed_afresh(
        // Few agents, classes and values, so the sequence repeats itself and
        // two slots see plenty of hits, misses and replacements.
        views in proptest::collection::vec(
            ("[ab]", "(service_tag|express_service_code)", "[xy]{1,2}", scope()),
            1..40,
        ),
        secret in any::<[u8; 32]>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let remembering = vault_remembering(dir.path(), "k1", &secret, 2);
        let afresh = vault_remembering(dir.path(), "k1", &secret, 0);
        for (agent, class, value, scope) in &views {
            let holder = Holder { agent, vendor: "acme" };
            let token = remembering.tokenize(&holder, *scope, class, value);
            prop_assert_eq!(&token, &afresh.tokenize(&holder, *scope, class, value));
            let opened = remembering.detokenize(&holder, &token).unwrap();
            prop_assert_eq!((opened.value.as_str(), opened.class.as_str()), (value.as_str(), class.as_str()));
        }
    }
}
