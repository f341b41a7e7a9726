//! Per-agent reversible tokens: the `tokenize` action and its way back.
//!
//! A token such as `tok_k1_Zm9v…` stands for one value of one field class, as
//! issued to one holder. It is deterministic for (holder, class, value): the
//! same agent sees the same token across requests and restarts, another agent
//! sees a different one. Only Keyhole can make or open one; see `seal.rs` for
//! the construction. The key id after `tok_` lets keys rotate: new tokens use
//! the active key, older keys keep detokenizing until they are retired, and
//! retired keys still open tokens for [`TokenVault::inspect`], so a leaked old
//! token still names its holder.
//!
//! On the way upstream, an agent's own tokens in the path, query or JSON body
//! are swapped for clear values; anything else shaped like a token is refused
//! with a [`TokenRefused`].

mod config;
mod key;
mod payload;
mod recent;
mod refused;
mod scan;
mod seal;

use std::fmt;
use std::sync::Arc;

pub use config::{TokenKeyConfig, TokensConfig, MAX_KEY_ID_LEN};
pub use key::{generate_key_file, TokenKeyError, KEY_LEN};
pub use refused::TokenRefused;
pub use scan::find_tokens;

use key::TokenKey;
use payload::Payload;
use seal::OpenError;

/// Every token starts with this.
pub const TOKEN_PREFIX: &str = "tok_";

/// A regex matching tokens in free text, equivalent to [`find_tokens`]: for
/// detectors that must leave tokens alone. The body minimum is the shortest
/// token body Keyhole can produce.
pub const TOKEN_PATTERN: &str = r"(?-u:\b)tok_[a-z0-9]{1,8}_[A-Za-z0-9_-]{43,}";

/// Stands in for a value too large to encrypt (over 64 GiB, beyond any body
/// limit), so that even that impossible case never shows the value.
pub const UNTOKENIZABLE: &str = "[untokenizable]";

/// Who may turn a token back into its value; set per policy rule.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// Only the agent it was issued to (and only within that agent's vendor).
    #[default]
    Agent,
    /// Any agent of the vendor it was issued to.
    Vendor,
    /// Any authenticated agent.
    Global,
}

/// The authenticated agent a token is made for or presented by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder<'a> {
    /// Agent id (the JWT `sub`).
    pub agent: &'a str,
    /// The agent's vendor (the JWT `vendor` claim).
    pub vendor: &'a str,
}

/// A token accepted from its holder.
#[derive(Clone, PartialEq, Eq)]
pub struct Detokenized {
    /// The clear value, to forward upstream.
    pub value: String,
    /// The field class the token was issued for.
    pub class: String,
}

/// Everything a token says, for the security team's `token inspect`.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The agent it was issued to; `None` for vendor and global scope, whose
    /// tokens are shared and so name no single agent.
    pub agent: Option<String>,
    /// The vendor it was issued to; `None` for global scope.
    pub vendor: Option<String>,
    /// Who may detokenize it.
    pub scope: TokenScope,
    /// The field class it was issued for.
    pub class: String,
    /// Id of the key that made it.
    pub key_id: String,
    /// Whether that key is retired (the token is then refused upstream).
    pub key_retired: bool,
    /// The clear value: print it only on an explicit request.
    pub value: String,
}

// Hand-written so that logging one of these never prints the value.
impl fmt::Debug for Detokenized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Detokenized")
            .field("class", &self.class)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for TokenInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenInfo")
            .field("agent", &self.agent)
            .field("vendor", &self.vendor)
            .field("scope", &self.scope)
            .field("class", &self.class)
            .field("key_id", &self.key_id)
            .field("key_retired", &self.key_retired)
            .finish_non_exhaustive()
    }
}

/// The loaded token keys; cheap to clone and share across connections.
#[derive(Clone)]
pub struct TokenVault {
    inner: Arc<Keys>,
}

struct Keys {
    /// Mints every new token; `None` when no `[tokens]` keys are configured,
    /// in which case `tokenize` conceals without issuing a token.
    active: Option<TokenKey>,
    /// Every other configured key, retired or not.
    others: Vec<TokenKey>,
}

impl fmt::Debug for TokenVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let others: Vec<&str> = self.inner.others.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("TokenVault")
            .field("active", &self.inner.active.as_ref().map(|k| k.id.as_str()))
            .field("others", &others)
            .finish()
    }
}

impl TokenVault {
    /// Validates `cfg` and reads every key file it names.
    pub fn load(cfg: &TokensConfig) -> Result<TokenVault, TokenKeyError> {
        cfg.validate()?;
        let mut active = None;
        let mut others = Vec::with_capacity(cfg.keys.len().saturating_sub(1));
        for entry in &cfg.keys {
            let key = TokenKey::load(&entry.id, &entry.file, entry.retired)?;
            if entry.id == cfg.active {
                active = Some(key.remembering(cfg.recent_tokens));
            } else {
                others.push(key);
            }
        }
        // `validate` guarantees the active key is configured whenever any key is.
        if active.is_none() && !cfg.keys.is_empty() {
            return Err(
                crate::config::Invalid::new("tokens.active", "names no configured key").into(),
            );
        }
        Ok(TokenVault {
            inner: Arc::new(Keys { active, others }),
        })
    }

    /// The token for `value` of field `class`, as issued to `holder` under `scope`.
    pub fn tokenize(
        &self,
        holder: &Holder<'_>,
        scope: TokenScope,
        class: &str,
        value: &str,
    ) -> String {
        let payload = Payload::new(holder, scope, class, value);
        self.inner
            .active
            .as_ref()
            .and_then(|key| key.seal(&payload))
            .unwrap_or_else(|| UNTOKENIZABLE.to_owned())
    }

    /// The value behind `token`, if `holder` may have it: the key must be
    /// known and not retired, the token authentic, and issued to this agent
    /// (scope `agent`), this vendor (scope `vendor`) or anyone (scope `global`).
    pub fn detokenize(
        &self,
        holder: &Holder<'_>,
        token: &str,
    ) -> Result<Detokenized, TokenRefused> {
        let (key, bytes) = self.open(token)?;
        let payload = Payload::decode(&bytes).map_err(|_| TokenRefused::Malformed)?;
        if key.retired {
            return Err(TokenRefused::RetiredKey);
        }
        // What this holder would have been issued under the token's scope:
        // equal exactly when the fields that scope binds are this holder's.
        if payload != Payload::new(holder, payload.scope, payload.class, payload.value) {
            return Err(TokenRefused::NotYours {
                issued_to: issued_to(&payload),
            });
        }
        Ok(Detokenized {
            value: payload.value.to_owned(),
            class: payload.class.to_owned(),
        })
    }

    /// Everything `token` says, whoever holds it and even if its key is
    /// retired; refused only if it is not an authentic token of a known key.
    pub fn inspect(&self, token: &str) -> Result<TokenInfo, TokenRefused> {
        let (key, bytes) = self.open(token)?;
        let payload = Payload::decode(&bytes).map_err(|_| TokenRefused::Malformed)?;
        let named = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Ok(TokenInfo {
            agent: named(payload.agent),
            vendor: named(payload.vendor),
            scope: payload.scope,
            class: payload.class.to_owned(),
            key_id: key.id.clone(),
            key_retired: key.retired,
            value: payload.value.to_owned(),
        })
    }

    /// Whether `token` is one this gateway issued: its key is known and it
    /// opens. Text an upstream shapes like a token is not.
    pub fn is_authentic(&self, token: &str) -> bool {
        self.open(token).is_ok()
    }

    /// Splits `token`, finds its key and decrypts it to payload bytes.
    fn open(&self, token: &str) -> Result<(&TokenKey, Vec<u8>), TokenRefused> {
        let rest = token
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(TokenRefused::Malformed)?;
        let (key_id, body) = rest.split_once('_').ok_or(TokenRefused::Malformed)?;
        if !config::is_key_id(key_id) {
            return Err(TokenRefused::Malformed);
        }
        let key = self.key(key_id).ok_or(TokenRefused::UnknownKey)?;
        let bytes = key.open(body).map_err(|e| match e {
            OpenError::Malformed => TokenRefused::Malformed,
            OpenError::Tampered => TokenRefused::Tampered,
        })?;
        Ok((key, bytes))
    }

    /// True when a key is configured to mint tokens.
    pub fn can_tokenize(&self) -> bool {
        self.inner.active.is_some()
    }

    fn key(&self, id: &str) -> Option<&TokenKey> {
        let keys = &*self.inner;
        keys.active.iter().chain(&keys.others).find(|k| k.id == id)
    }
}

/// Whom a token belongs to, for the security team's record of a refusal.
fn issued_to(payload: &Payload<'_>) -> String {
    match payload.scope {
        TokenScope::Agent => format!("agent {} of vendor {}", payload.agent, payload.vendor),
        TokenScope::Vendor => format!("vendor {}", payload.vendor),
        TokenScope::Global => "anyone".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Rule {
        #[serde(default)]
        scope: TokenScope,
    }

    #[test]
    fn scope_reads_lowercase_and_defaults_to_agent() {
        let parse = |text: &str| toml::from_str::<Rule>(text).map(|r| r.scope);
        assert_eq!(parse("").unwrap(), TokenScope::Agent);
        assert_eq!(parse("scope = \"agent\"").unwrap(), TokenScope::Agent);
        assert_eq!(parse("scope = \"vendor\"").unwrap(), TokenScope::Vendor);
        assert_eq!(parse("scope = \"global\"").unwrap(), TokenScope::Global);
        assert!(parse("scope = \"Vendor\"").is_err());
        assert!(parse("scope = \"team\"").is_err());
    }

    #[test]
    fn issued_to_names_what_the_scope_binds() {
        let holder = Holder {
            agent: "alice",
            vendor: "acme",
        };
        let named = |scope| issued_to(&Payload::new(&holder, scope, "c", "v"));
        assert_eq!(named(TokenScope::Agent), "agent alice of vendor acme");
        assert_eq!(named(TokenScope::Vendor), "vendor acme");
        assert_eq!(named(TokenScope::Global), "anyone");
    }
}
