//! Tokens placeholder.
#![allow(missing_docs, dead_code)]
use std::path::{Path, PathBuf};
pub const TOKEN_PREFIX: &str = "tok_";
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct TokensConfig {
    pub active: String,
    pub keys: Vec<TokenKeyConfig>,
}
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TokenKeyConfig {
    pub id: String,
    pub file: PathBuf,
    #[serde(default)]
    pub retired: bool,
}
impl TokensConfig {
    pub fn resolve_paths(&mut self, base: &Path) {
        for k in &mut self.keys {
            k.file = crate::config::resolve_path(base, &k.file);
        }
    }
    pub fn validate(&self) -> Result<(), crate::config::Invalid> {
        Ok(())
    }
}
pub fn generate_key_file(path: &Path) -> std::io::Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p)?;
    }
    std::fs::write(path, "00")
}
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    #[default]
    Agent,
    Vendor,
    Global,
}
pub struct Holder<'a> {
    pub agent: &'a str,
    pub vendor: &'a str,
}
#[derive(Clone)]
pub struct TokenVault;
pub struct Detokenized {
    pub value: String,
    pub class: String,
}
pub struct TokenInfo {
    pub agent: String,
    pub vendor: String,
    pub scope: TokenScope,
    pub class: String,
    pub key_id: String,
    pub value: String,
}
#[derive(Debug, thiserror::Error)]
#[error("token key")]
pub struct TokenKeyError;
#[derive(Debug, thiserror::Error)]
pub enum TokenRefused {
    #[error("malformed token")]
    Malformed,
    #[error("unknown key")]
    UnknownKey,
    #[error("retired key")]
    RetiredKey,
    #[error("tampered token")]
    Tampered,
    #[error("token not issued to you")]
    NotYours { issued_to: String },
}
impl TokenRefused {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "token-malformed",
            Self::UnknownKey => "token-unknown-key",
            Self::RetiredKey => "token-retired-key",
            Self::Tampered => "token-tampered",
            Self::NotYours { .. } => "token-not-yours",
        }
    }
}
impl TokenVault {
    pub fn load(_cfg: &TokensConfig) -> Result<TokenVault, TokenKeyError> {
        Ok(TokenVault)
    }
    pub fn tokenize(&self, _h: &Holder<'_>, _s: TokenScope, _c: &str, _v: &str) -> String {
        "[redacted]".into()
    }
    pub fn detokenize(&self, _h: &Holder<'_>, _t: &str) -> Result<Detokenized, TokenRefused> {
        Err(TokenRefused::Malformed)
    }
    pub fn inspect(&self, _t: &str) -> Result<TokenInfo, TokenRefused> {
        Err(TokenRefused::Malformed)
    }
    pub fn detokenize_text(
        &self,
        _h: &Holder<'_>,
        t: &str,
    ) -> Result<Option<String>, TokenRefused> {
        if t.contains(TOKEN_PREFIX) {
            Err(TokenRefused::Malformed)
        } else {
            Ok(None)
        }
    }
    pub fn detokenize_json(
        &self,
        _h: &Holder<'_>,
        _v: &mut serde_json::Value,
    ) -> Result<usize, TokenRefused> {
        Ok(0)
    }
}
