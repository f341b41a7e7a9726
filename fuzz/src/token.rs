//! Target `token`: token decoding (`TokenVault::detokenize`, `detokenize_text`,
//! `inspect`) on arbitrary text, and the round trip of tokens it issues.
//!
//! Properties: never panics; text with no token prefix is never rewritten;
//! an issued token never contains its value, decodes to it for its holder,
//! is refused to another agent, and any one-character change is refused.
//! (The vault on `main` is a placeholder that issues no tokens, so the round
//! trip only starts to bite once the real vault is merged.)

use keyhole::token::{Holder, TokenScope, TOKEN_PREFIX};

use crate::runner::{feature, Target};

/// The target.
pub const TARGET: Target = Target {
    name: "token",
    dictionary: &[
        b"tok_",
        b"tok_k1_",
        b"tok_k2_",
        b"_",
        b"-",
        b"=",
        b"AAAA",
        b"////",
        b"++++",
        b" ",
        b"\"",
        b"%",
        b"\xff",
        b"tok_tok_",
    ],
    check,
};

const ALICE: Holder<'static> = Holder {
    agent: "alice",
    vendor: "northwind",
};
const MALLORY: Holder<'static> = Holder {
    agent: "mallory",
    vendor: "northwind",
};

fn vault() -> &'static keyhole::token::TokenVault {
    static VAULT: std::sync::OnceLock<keyhole::token::TokenVault> = std::sync::OnceLock::new();
    VAULT.get_or_init(crate::transform::scratch_vault)
}

fn check(data: &[u8]) -> Result<u64, String> {
    let text = String::from_utf8_lossy(data);
    let vault = vault();
    let decoded = vault.detokenize_text(&ALICE, &text);
    if let Ok(Some(_)) = &decoded {
        if !text.contains(TOKEN_PREFIX) {
            return Err(format!("{text:?} rewritten without any token in it"));
        }
    }
    let direct = vault.detokenize(&ALICE, &text).map(|d| d.value);
    let inspected = vault.inspect(&text).map(|i| i.agent);
    round_trip(&text)?;
    let kind = |ok: bool| u8::from(ok);
    Ok(feature(&[&[
        kind(matches!(decoded, Ok(Some(_)))),
        kind(direct.is_ok()),
        kind(inspected.is_ok()),
        kind(text.contains(TOKEN_PREFIX)),
    ]]))
}

fn round_trip(value: &str) -> Result<(), String> {
    let vault = vault();
    let token = vault.tokenize(&ALICE, TokenScope::Agent, "service-tag", value);
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(());
    }
    // The `tok_<key id>_` prefix is public; only the sealed body must not show the value.
    let body = token.splitn(3, '_').nth(2).unwrap_or("");
    if value.chars().count() >= 5 && body.contains(value) {
        return Err(format!("token {token:?} shows its value"));
    }
    match vault.detokenize(&ALICE, &token) {
        Ok(d) if d.value == value => {}
        _ => {
            return Err(format!(
                "token for {value:?} does not decode for its holder"
            ))
        }
    }
    if vault.detokenize(&MALLORY, &token).is_ok() {
        return Err(format!(
            "an agent-scoped token for {value:?} decoded for another agent"
        ));
    }
    let mut tampered: Vec<char> = token.chars().collect();
    // Well inside the body: a trailing base64 character may carry only padding bits.
    let at = tampered.len() * 3 / 4;
    tampered[at] = if tampered[at] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    if tampered != token && vault.detokenize(&ALICE, &tampered).is_ok() {
        return Err(format!("a tampered token {tampered:?} decoded"));
    }
    Ok(())
}
