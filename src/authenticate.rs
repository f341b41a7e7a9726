//! Agent authentication: a bearer JWT, verified against configured public
//! keys, with verified tokens cached no longer than they are valid.
//!
//! The token's own header only ever *selects* among configured keys (by `kid`,
//! else by algorithm) and each key is pinned to one algorithm, so `alg: none`,
//! HS/RS confusion and `jku`/`x5u`/embedded-`jwk` tricks have nothing to act on.

mod keys;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderMap;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use crate::config::Invalid;
pub use keys::{mint, AuthSetupError, MintError};

/// `[auth]` in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud`.
    pub audience: String,
    /// Clock leeway for `exp`/`nbf`, at most 30 s.
    pub leeway_secs: u64,
    /// HS256 is refused unless this is set: a shared secret is a weaker deployment.
    pub allow_hs256: bool,
    /// Verification keys.
    pub keys: Vec<JwtKeyConfig>,
    /// A JWKS file with further verification keys.
    pub jwks: Option<PathBuf>,
    /// Most verified tokens kept in the cache.
    pub cache_max_entries: u64,
    /// Longest accepted token, in bytes.
    pub max_token_bytes: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            issuer: String::new(),
            audience: String::new(),
            leeway_secs: 30,
            allow_hs256: false,
            keys: Vec::new(),
            jwks: None,
            cache_max_entries: 100_000,
            max_token_bytes: 8 * 1024,
        }
    }
}

/// One `[[auth.keys]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKeyConfig {
    /// Key id; tokens naming a `kid` are checked only against the key with that id.
    #[serde(default)]
    pub kid: Option<String>,
    /// `RS256`, `ES256`, `EdDSA` or (with `allow_hs256`) `HS256`.
    pub algorithm: String,
    /// Public key PEM (SPKI) for verification.
    #[serde(default)]
    pub public_key: Option<PathBuf>,
    /// Private key PEM (PKCS#8), only where Keyhole itself mints agent tokens (demo, tests).
    #[serde(default)]
    pub private_key: Option<PathBuf>,
    /// HS256 shared secret file.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

impl AuthConfig {
    /// Makes key paths relative to the config file.
    pub fn resolve_paths(&mut self, base: &Path) {
        use crate::config::resolve_path;
        for key in &mut self.keys {
            for p in [
                &mut key.public_key,
                &mut key.private_key,
                &mut key.secret_file,
            ]
            .into_iter()
            .flatten()
            {
                *p = resolve_path(base, p);
            }
        }
        if let Some(j) = &mut self.jwks {
            *j = resolve_path(base, j);
        }
    }

    /// Checks what can be checked without reading the key files.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.issuer.is_empty() {
            return Err(Invalid::new("auth.issuer", "is required"));
        }
        if self.audience.is_empty() {
            return Err(Invalid::new("auth.audience", "is required"));
        }
        if self.leeway_secs > 30 {
            return Err(Invalid::new("auth.leeway_secs", "must be at most 30"));
        }
        if self.keys.is_empty() && self.jwks.is_none() {
            return Err(Invalid::new(
                "auth.keys",
                "at least one key or a jwks file is required",
            ));
        }
        for (i, key) in self.keys.iter().enumerate() {
            let at = format!("auth.keys[{i}]");
            let alg = keys::parse_algorithm(&key.algorithm)
                .map_err(|r| Invalid::new(format!("{at}.algorithm"), r))?;
            if alg == Algorithm::HS256 && !self.allow_hs256 {
                return Err(Invalid::new(
                    format!("{at}.algorithm"),
                    "HS256 needs auth.allow_hs256 = true",
                ));
            }
            let has_material = match alg {
                Algorithm::HS256 => key.secret_file.is_some(),
                _ => key.public_key.is_some(),
            };
            if !has_material {
                return Err(Invalid::new(
                    at,
                    "needs public_key (or secret_file for HS256)",
                ));
            }
        }
        if self.max_token_bytes == 0 || self.cache_max_entries == 0 {
            return Err(Invalid::new(
                "auth",
                "max_token_bytes and cache_max_entries must be positive",
            ));
        }
        Ok(())
    }
}

/// An authenticated agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// `sub`: the agent id.
    pub id: String,
    /// `vendor`: the call-center company the agent works for.
    pub vendor: String,
    /// `exp`, Unix seconds.
    pub expires_at: i64,
}

/// Why a request is not authenticated. Shown to the client by code only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unauthenticated {
    /// No `Authorization` header.
    #[error("missing bearer token")]
    Missing,
    /// More than one `Authorization` header.
    #[error("more than one Authorization header")]
    Ambiguous,
    /// Not `Bearer <token>`.
    #[error("Authorization is not a bearer token")]
    NotBearer,
    /// Longer than `max_token_bytes`.
    #[error("token too large")]
    TooLarge,
    /// `kid` names no configured key, or no key has the token's algorithm.
    #[error("no key for this token")]
    UnknownKey,
    /// Signature, algorithm, or a claim failed verification.
    #[error("token is invalid")]
    Invalid,
    /// `exp` has passed.
    #[error("token has expired")]
    Expired,
    /// `nbf` is still in the future.
    #[error("token is not valid yet")]
    NotYetValid,
    /// `sub` or `vendor` is missing or unusable.
    #[error("token lacks a usable agent or vendor")]
    BadIdentity,
}

impl Unauthenticated {
    /// Stable code for error bodies and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "token-missing",
            Self::Ambiguous => "token-ambiguous",
            Self::NotBearer => "token-not-bearer",
            Self::TooLarge => "token-too-large",
            Self::UnknownKey => "token-unknown-key",
            Self::Invalid => "token-invalid",
            Self::Expired => "token-expired",
            Self::NotYetValid => "token-not-yet-valid",
            Self::BadIdentity => "token-bad-identity",
        }
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    vendor: String,
    exp: i64,
}

/// Verifies agent tokens.
pub struct Authenticator {
    keys: Vec<keys::VerifyKey>,
    issuer: String,
    audience: String,
    leeway: u64,
    max_token_bytes: usize,
    cache: moka::sync::Cache<String, Arc<Agent>>,
    /// Recently refused tokens: a client replaying a forged token costs a hash lookup,
    /// not a signature verification each time.
    refused: moka::sync::Cache<String, Unauthenticated>,
}

/// How long a refused token is remembered.
const REFUSED_TTL: Duration = Duration::from_secs(60);

/// Longest a verified token stays cached, whatever its `exp`.
const CACHE_CAP: Duration = Duration::from_secs(300);

struct UntilExpiry;

impl moka::Expiry<String, Arc<Agent>> for UntilExpiry {
    fn expire_after_create(&self, _: &String, agent: &Arc<Agent>, _: Instant) -> Option<Duration> {
        let left = agent.expires_at - chrono::Utc::now().timestamp();
        Some(Duration::from_secs(left.max(0) as u64).min(CACHE_CAP))
    }
}

impl Authenticator {
    /// Loads every configured key.
    pub fn from_config(cfg: &AuthConfig) -> Result<Authenticator, AuthSetupError> {
        Ok(Authenticator {
            keys: keys::load(cfg)?,
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            leeway: cfg.leeway_secs.min(30),
            max_token_bytes: cfg.max_token_bytes,
            cache: moka::sync::Cache::builder()
                .max_capacity(cfg.cache_max_entries)
                .expire_after(UntilExpiry)
                .build(),
            refused: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(REFUSED_TTL)
                .build(),
        })
    }

    /// Authenticates a request by its single `Authorization: Bearer` header.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<Agent>, Unauthenticated> {
        let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
        let value = values.next().ok_or(Unauthenticated::Missing)?;
        if values.next().is_some() {
            return Err(Unauthenticated::Ambiguous);
        }
        let text = value.to_str().map_err(|_| Unauthenticated::NotBearer)?;
        let token = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .ok_or(Unauthenticated::NotBearer)?
            .trim();
        self.verify(token)
    }

    /// Verifies a token, using the cache when it was verified before.
    pub fn verify(&self, token: &str) -> Result<Arc<Agent>, Unauthenticated> {
        if token.len() > self.max_token_bytes {
            return Err(Unauthenticated::TooLarge);
        }
        if let Some(agent) = self.cache.get(token) {
            if agent.expires_at > chrono::Utc::now().timestamp() {
                return Ok(agent);
            }
        }
        if let Some(refusal) = self.refused.get(token) {
            return Err(refusal);
        }
        match self.verify_uncached(token) {
            Ok(agent) => {
                let agent = Arc::new(agent);
                self.cache.insert(token.to_string(), agent.clone());
                Ok(agent)
            }
            // Not-yet-valid tokens become valid with time: only final refusals are remembered.
            Err(refusal) => {
                if refusal != Unauthenticated::NotYetValid {
                    self.refused.insert(token.to_string(), refusal);
                }
                Err(refusal)
            }
        }
    }

    fn verify_uncached(&self, token: &str) -> Result<Agent, Unauthenticated> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| Unauthenticated::Invalid)?;
        let key = keys::select(&self.keys, header.kid.as_deref(), header.alg)?;
        let mut validation = Validation::new(key.algorithm);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        let data =
            jsonwebtoken::decode::<Claims>(token, &key.key, &validation).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => Unauthenticated::Expired,
                    jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                        Unauthenticated::NotYetValid
                    }
                    _ => Unauthenticated::Invalid,
                }
            })?;
        let claims = data.claims;
        if !identity_ok(&claims.sub) || !identity_ok(&claims.vendor) {
            return Err(Unauthenticated::BadIdentity);
        }
        Ok(Agent {
            id: claims.sub,
            vendor: claims.vendor,
            expires_at: claims.exp,
        })
    }
}

/// Agent and vendor ids go into headers, logs and the ledger: keep them plain.
fn identity_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
}
