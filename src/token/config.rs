//! The `[tokens]` config section: which key files exist, which one mints new
//! tokens, and which are retired.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{resolve_path, Invalid};

/// Longest key id accepted; key ids travel in every token, so they stay short.
pub const MAX_KEY_ID_LEN: usize = 8;

/// The `[tokens]` section of the config.
///
/// ```toml
/// [tokens]
/// active = "k2"
/// recent_tokens = 16384
///
/// [[tokens.keys]]
/// id = "k1"
/// file = "keys/token-k1.key"
/// retired = false
///
/// [[tokens.keys]]
/// id = "k2"
/// file = "keys/token-k2.key"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokensConfig {
    /// Id of the key that mints new tokens; it must name a key that is not retired.
    pub active: String,
    /// Every key whose tokens Keyhole still recognizes, retired ones included so
    /// that `token inspect` can still name the holder of an old leaked token.
    pub keys: Vec<TokenKeyConfig>,
    /// Tokens the active key remembers, so a value it sealed recently for the
    /// same holder and field is not sealed again: about 150 bytes each, no
    /// clear value kept (see `recent.rs`). 0 seals every token afresh.
    pub recent_tokens: usize,
}

/// Default for [`TokensConfig::recent_tokens`]: a few thousand customers'
/// tags and codes, about 2.5 MB.
pub const DEFAULT_RECENT_TOKENS: usize = 16_384;

/// Most tokens `recent_tokens` may ask to remember (about 150 MB).
pub const MAX_RECENT_TOKENS: usize = 1 << 20;

impl Default for TokensConfig {
    fn default() -> Self {
        TokensConfig {
            active: String::new(),
            keys: Vec::new(),
            recent_tokens: DEFAULT_RECENT_TOKENS,
        }
    }
}

/// One `[[tokens.keys]]` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenKeyConfig {
    /// Short id carried in every token made with this key: 1 to 8 characters `[a-z0-9]`.
    pub id: String,
    /// Key file: 32 bytes as 64 hex digits (see [`super::generate_key_file`]).
    pub file: PathBuf,
    /// A retired key no longer detokenizes anything; its tokens are refused
    /// upstream but can still be inspected.
    pub retired: bool,
}

impl TokensConfig {
    /// Resolves relative key file paths against `base`, the config file's directory.
    pub fn resolve_paths(&mut self, base: &Path) {
        for key in &mut self.keys {
            key.file = resolve_path(base, &key.file);
        }
    }

    /// Checks that key ids are well-formed and unique, that every key names a
    /// file, and that `active` names a key that is not retired.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.recent_tokens > MAX_RECENT_TOKENS {
            return Err(Invalid::new(
                "tokens.recent_tokens",
                format!("at most {MAX_RECENT_TOKENS}"),
            ));
        }
        let mut seen = HashSet::new();
        for (i, key) in self.keys.iter().enumerate() {
            key.validate(i)?;
            if !seen.insert(key.id.as_str()) {
                return Err(Invalid::new(
                    format!("tokens.keys[{i}].id"),
                    format!("duplicate key id `{}`", key.id),
                ));
            }
        }
        self.validate_active()
    }

    fn validate_active(&self) -> Result<(), Invalid> {
        // No keys at all: tokenization is off (the gateway refuses policies that need it).
        if self.active.is_empty() && self.keys.is_empty() {
            return Ok(());
        }
        if self.active.is_empty() {
            return Err(Invalid::new(
                "tokens.active",
                "must name the key that mints new tokens",
            ));
        }
        match self.keys.iter().find(|k| k.id == self.active) {
            None => Err(Invalid::new(
                "tokens.active",
                format!("no [[tokens.keys]] entry has id `{}`", self.active),
            )),
            Some(k) if k.retired => Err(Invalid::new(
                "tokens.active",
                format!("key `{}` is retired and cannot mint new tokens", k.id),
            )),
            Some(_) => Ok(()),
        }
    }
}

impl TokenKeyConfig {
    fn validate(&self, index: usize) -> Result<(), Invalid> {
        if !is_key_id(&self.id) {
            return Err(Invalid::new(
                format!("tokens.keys[{index}].id"),
                format!("must be 1 to {MAX_KEY_ID_LEN} characters from [a-z0-9]"),
            ));
        }
        if self.file.as_os_str().is_empty() {
            return Err(Invalid::new(
                format!("tokens.keys[{index}].file"),
                "must name a key file",
            ));
        }
        Ok(())
    }
}

/// Whether `id` is a usable key id. The alphabet excludes `_` so the first `_`
/// after the prefix always ends the key id.
pub(crate) fn is_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID_LEN).contains(&id.len()) && id.bytes().all(is_key_id_byte)
}

pub(crate) fn is_key_id_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> TokensConfig {
        toml::from_str(text).expect("valid toml")
    }

    const TWO_KEYS: &str = r#"
        active = "k2"
        [[keys]]
        id = "k1"
        file = "keys/token-k1.key"
        retired = true
        [[keys]]
        id = "k2"
        file = "/abs/token-k2.key"
    "#;

    #[test]
    fn parses_and_validates_two_keys() {
        let cfg = parse(TWO_KEYS);
        assert_eq!(cfg.keys.len(), 2);
        assert!(cfg.keys[0].retired);
        assert!(!cfg.keys[1].retired);
        assert_eq!(cfg.validate(), Ok(()));
    }

    #[test]
    fn resolves_relative_paths_only() {
        let mut cfg = parse(TWO_KEYS);
        cfg.resolve_paths(Path::new("/etc/keyhole"));
        assert_eq!(
            cfg.keys[0].file,
            PathBuf::from("/etc/keyhole/keys/token-k1.key")
        );
        assert_eq!(cfg.keys[1].file, PathBuf::from("/abs/token-k2.key"));
    }

    #[test]
    fn refuses_unknown_fields() {
        let err = toml::from_str::<TokensConfig>("active = \"k1\"\nkeyz = []").unwrap_err();
        assert!(err.to_string().contains("keyz"));
    }

    #[test]
    fn no_keys_means_tokenization_is_off_but_a_dangling_active_is_refused() {
        assert!(TokensConfig::default().validate().is_ok());
        let vault = crate::token::TokenVault::load(&TokensConfig::default()).unwrap();
        assert!(!vault.can_tokenize());
        let holder = crate::token::Holder {
            agent: "a",
            vendor: "v",
        };
        let concealed = vault.tokenize(&holder, Default::default(), "phone", "+1-555-013-4821");
        assert_eq!(concealed, crate::token::UNTOKENIZABLE);
        let err = parse("active = \"k1\"").validate().unwrap_err();
        assert_eq!(err.key, "tokens.active");
    }

    #[test]
    fn active_must_exist_and_not_be_retired() {
        let mut cfg = parse(TWO_KEYS);
        cfg.active = "k9".into();
        assert_eq!(cfg.validate().unwrap_err().key, "tokens.active");
        cfg.active = "k1".into();
        let err = cfg.validate().unwrap_err();
        assert_eq!(err.key, "tokens.active");
        assert!(err.reason.contains("retired"));
    }

    #[test]
    fn key_ids_must_be_short_lowercase_and_unique() {
        for bad in ["", "K1", "k_1", "k-1", "abcdefghi", "ké"] {
            let mut cfg = parse(TWO_KEYS);
            cfg.keys[0].id = bad.into();
            assert_eq!(
                cfg.validate().unwrap_err().key,
                "tokens.keys[0].id",
                "{bad:?}"
            );
        }
        let mut cfg = parse(TWO_KEYS);
        cfg.keys[0].id = "k2".into();
        let err = cfg.validate().unwrap_err();
        assert_eq!(err.key, "tokens.keys[1].id");
        assert!(err.reason.contains("duplicate"));
    }

    #[test]
    fn recent_tokens_defaults_and_is_bounded() {
        assert_eq!(parse(TWO_KEYS).recent_tokens, DEFAULT_RECENT_TOKENS);
        let mut cfg = parse(&format!("recent_tokens = 0\n{TWO_KEYS}"));
        assert_eq!(cfg.recent_tokens, 0);
        assert_eq!(cfg.validate(), Ok(()));
        cfg.recent_tokens = MAX_RECENT_TOKENS + 1;
        assert_eq!(cfg.validate().unwrap_err().key, "tokens.recent_tokens");
    }

    #[test]
    fn key_file_is_required() {
        let mut cfg = parse(TWO_KEYS);
        cfg.keys[1].file = PathBuf::new();
        assert_eq!(cfg.validate().unwrap_err().key, "tokens.keys[1].file");
    }
}
