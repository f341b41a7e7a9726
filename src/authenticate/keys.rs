//! Loading verification keys (PEM, JWKS) and minting tokens where a private key is configured.

use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::Serialize;

use super::{AuthConfig, Unauthenticated};

/// A verification key pinned to one algorithm.
pub(super) struct VerifyKey {
    pub(super) kid: Option<String>,
    pub(super) algorithm: Algorithm,
    pub(super) key: DecodingKey,
}

/// A key that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// The file could not be read.
    #[error("{}: cannot read key: {source}", path.display())]
    Unreadable {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a key of the configured kind.
    #[error("{}: not a usable {algorithm} key: {reason}", path.display())]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// The configured algorithm.
        algorithm: String,
        /// What the parser said.
        reason: String,
    },
    /// The configured algorithm is not supported.
    #[error("auth key: {0}")]
    Algorithm(String),
}

/// The algorithms Keyhole accepts.
pub(super) fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    match name {
        "RS256" => Ok(Algorithm::RS256),
        "ES256" => Ok(Algorithm::ES256),
        "EdDSA" => Ok(Algorithm::EdDSA),
        "HS256" => Ok(Algorithm::HS256),
        other => Err(format!(
            "unsupported algorithm {other:?} (RS256, ES256, EdDSA, HS256)"
        )),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, AuthSetupError> {
    std::fs::read(path).map_err(|source| AuthSetupError::Unreadable {
        path: path.to_path_buf(),
        source,
    })
}

/// Loads every configured verification key.
pub(super) fn load(cfg: &AuthConfig) -> Result<Vec<VerifyKey>, AuthSetupError> {
    let mut keys = Vec::new();
    for k in &cfg.keys {
        let algorithm = parse_algorithm(&k.algorithm).map_err(AuthSetupError::Algorithm)?;
        let (path, parsed) = match algorithm {
            Algorithm::HS256 => {
                let path = k.secret_file.clone().unwrap_or_default();
                let secret = read(&path)?;
                (path, Ok(DecodingKey::from_secret(trim(&secret))))
            }
            _ => {
                let path = k.public_key.clone().unwrap_or_default();
                let pem = read(&path)?;
                let parsed = match algorithm {
                    Algorithm::RS256 => DecodingKey::from_rsa_pem(&pem),
                    Algorithm::ES256 => DecodingKey::from_ec_pem(&pem),
                    _ => DecodingKey::from_ed_pem(&pem),
                };
                (path, parsed)
            }
        };
        let key = parsed.map_err(|e| AuthSetupError::BadKey {
            path,
            algorithm: k.algorithm.clone(),
            reason: e.to_string(),
        })?;
        keys.push(VerifyKey {
            kid: k.kid.clone(),
            algorithm,
            key,
        });
    }
    if let Some(jwks) = &cfg.jwks {
        keys.extend(load_jwks(jwks)?);
    }
    Ok(keys)
}

fn load_jwks(path: &Path) -> Result<Vec<VerifyKey>, AuthSetupError> {
    let bad = |reason: String| AuthSetupError::BadKey {
        path: path.to_path_buf(),
        algorithm: "JWKS".into(),
        reason,
    };
    let set: JwkSet = serde_json::from_slice(&read(path)?).map_err(|e| bad(e.to_string()))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
            AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
            // A symmetric key in a JWKS would make any holder of the file a token issuer.
            _ => return Err(bad("symmetric or unknown key types are not accepted".into())),
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| bad(e.to_string()))?;
        keys.push(VerifyKey {
            kid: jwk.common.key_id.clone(),
            algorithm,
            key,
        });
    }
    Ok(keys)
}

fn trim(secret: &[u8]) -> &[u8] {
    let s = secret.trim_ascii();
    if s.is_empty() {
        secret
    } else {
        s
    }
}

/// The key a token must verify against: by `kid` when it names one, else the only key of its algorithm.
pub(super) fn select<'k>(
    keys: &'k [VerifyKey],
    kid: Option<&str>,
    alg: Algorithm,
) -> Result<&'k VerifyKey, Unauthenticated> {
    let key = match kid {
        Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
        None => {
            let mut same = keys.iter().filter(|k| k.algorithm == alg);
            match (same.next(), same.next()) {
                (Some(k), None) => Some(k),
                _ => None,
            }
        }
    };
    let key = key.ok_or(Unauthenticated::UnknownKey)?;
    if key.algorithm != alg {
        return Err(Unauthenticated::Invalid);
    }
    Ok(key)
}

/// Why a token could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// No configured key carries a private key or secret.
    #[error("no [[auth.keys]] entry has a private_key (or secret_file) to sign with")]
    NoSigningKey,
    /// The key could not be read or used.
    #[error(transparent)]
    Setup(#[from] AuthSetupError),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// The agent or vendor id is one the gateway would refuse.
    #[error("{0:?} is not a usable agent or vendor id (1-128 of A-Z a-z 0-9 - _ . @)")]
    Identity(String),
}

#[derive(Serialize)]
struct MintClaims<'a> {
    sub: &'a str,
    vendor: &'a str,
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
}

/// Mints an agent token with the first key that can sign (demo and tests; production agents get theirs from the IdP).
pub fn mint(
    cfg: &AuthConfig,
    agent: &str,
    vendor: &str,
    ttl: std::time::Duration,
) -> Result<String, MintError> {
    if let Some(bad) = [agent, vendor]
        .into_iter()
        .find(|id| !super::identity_ok(id))
    {
        return Err(MintError::Identity(bad.to_string()));
    }
    let entry = cfg
        .keys
        .iter()
        .find(|k| k.private_key.is_some() || k.secret_file.is_some() && k.algorithm == "HS256")
        .ok_or(MintError::NoSigningKey)?;
    let algorithm = parse_algorithm(&entry.algorithm).map_err(AuthSetupError::Algorithm)?;
    let path = entry
        .private_key
        .clone()
        .or(entry.secret_file.clone())
        .unwrap_or_default();
    let material = read(&path)?;
    let key = match algorithm {
        Algorithm::HS256 => Ok(EncodingKey::from_secret(trim(&material))),
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&material),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&material),
        _ => EncodingKey::from_ed_pem(&material),
    }
    .map_err(|e| AuthSetupError::BadKey {
        path,
        algorithm: entry.algorithm.clone(),
        reason: e.to_string(),
    })?;
    let now = chrono::Utc::now().timestamp();
    let claims = MintClaims {
        sub: agent,
        vendor,
        iss: &cfg.issuer,
        aud: &cfg.audience,
        iat: now,
        nbf: now - 1,
        exp: now + ttl.as_secs() as i64,
    };
    let mut header = Header::new(algorithm);
    header.kid = entry.kid.clone();
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| MintError::Sign(e.to_string()))
}
