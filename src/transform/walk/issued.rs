//! Tokens already issued in this response. A value that repeats within one
//! response (a service tag in the device list and again in the service
//! history) is sealed once: the token is deterministic, so the copy is the
//! token a second seal would make, and a seal costs far more than a lookup.

use hashbrown::Equivalent;

use super::memo::Memo;
use crate::token::TokenScope;

/// What makes two tokens of one response the same token (the holder is the
/// response's own).
#[derive(PartialEq, Eq, Hash)]
struct IssuedKey<'a> {
    /// Who may open the token.
    scope: TokenScope,
    /// The field class the token names.
    class: &'a str,
    /// The concealed value.
    value: String,
}

/// An [`IssuedKey`] with a borrowed value, to look up without copying it.
/// Its fields hash as the key's do (a `String` hashes as its `str`).
#[derive(Hash)]
struct Probe<'k> {
    /// Who may open the token.
    scope: TokenScope,
    /// The field class the token names.
    class: &'k str,
    /// The concealed value.
    value: &'k str,
}

impl Equivalent<IssuedKey<'_>> for Probe<'_> {
    fn equivalent(&self, key: &IssuedKey<'_>) -> bool {
        self.scope == key.scope && self.class == key.class && self.value == key.value
    }
}

/// The tokens issued so far in one response.
#[derive(Default)]
pub(super) struct IssuedTokens<'a> {
    /// Token by (scope, class, value).
    tokens: Memo<IssuedKey<'a>, String>,
}

impl<'a> IssuedTokens<'a> {
    /// The token for `value`, from the memo or else from `seal`.
    pub(super) fn get_or_seal(
        &mut self,
        scope: TokenScope,
        class: &'a str,
        value: &str,
        seal: impl FnOnce() -> String,
    ) -> String {
        let probe = Probe {
            scope,
            class,
            value,
        };
        let key = || IssuedKey {
            scope,
            class,
            value: value.to_owned(),
        };
        self.tokens.get_or_make(&probe, key, seal)
    }
}

#[cfg(test)]
mod tests {
    use super::super::memo::MAX_REMEMBERED;
    use super::*;

    #[test]
    fn seals_each_distinct_token_once() {
        let mut issued = IssuedTokens::default();
        let mut seals = 0;
        let mut token = |scope, class, value: &str| {
            issued.get_or_seal(scope, class, value, || {
                seals += 1;
                format!("{scope:?}/{class}/{value}")
            })
        };
        assert_eq!(token(TokenScope::Agent, "tag", "A1"), "Agent/tag/A1");
        assert_eq!(token(TokenScope::Agent, "tag", "A1"), "Agent/tag/A1");
        assert_eq!(token(TokenScope::Agent, "tag", "A2"), "Agent/tag/A2");
        assert_eq!(token(TokenScope::Vendor, "tag", "A1"), "Vendor/tag/A1");
        assert_eq!(token(TokenScope::Agent, "code", "A1"), "Agent/code/A1");
        assert_eq!(seals, 4);
    }

    #[test]
    fn stops_remembering_at_the_bound() {
        let mut issued = IssuedTokens::default();
        for i in 0..MAX_REMEMBERED + 10 {
            issued.get_or_seal(TokenScope::Agent, "tag", &i.to_string(), || i.to_string());
        }
        assert_eq!(issued.tokens.len(), MAX_REMEMBERED);
        let again = issued.get_or_seal(
            TokenScope::Agent,
            "tag",
            &MAX_REMEMBERED.to_string(),
            || "sealed afresh".to_owned(),
        );
        assert_eq!(again, "sealed afresh");
    }
}
