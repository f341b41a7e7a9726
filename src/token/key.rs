//! Token key files and the per-key state derived from them once at load.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use aes_gcm_siv::aead::KeyInit;
use aes_gcm_siv::AesGcmSiv;
use rand::TryRngCore;
use ring::hmac;

use super::recent::RecentTokens;
use super::TOKEN_PREFIX;
use crate::config::Invalid;

/// Bytes of secret in a key file.
pub const KEY_LEN: usize = 32;

/// Domain labels for the two subkeys, so the file's secret is never used
/// directly and neither subkey says anything about the other.
const ENCRYPT_LABEL: &[u8] = b"keyhole token v1: aes-256-gcm-siv key";
const NONCE_LABEL: &[u8] = b"keyhole token v1: synthetic nonce key";

/// Why the token keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TokenKeyError {
    /// The `[tokens]` section itself is unusable.
    #[error("invalid token config: {0}")]
    Config(#[from] Invalid),
    /// A key file could not be read.
    #[error("cannot read token key `{id}` from {}: {source}", path.display())]
    Read {
        /// The key's id from the config.
        id: String,
        /// The key file.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// A key file was read but does not hold a key; its content is never quoted.
    #[error("token key `{id}` in {} is not {} hex digits", path.display(), KEY_LEN * 2)]
    NotAKey {
        /// The key's id from the config.
        id: String,
        /// The key file.
        path: PathBuf,
    },
}

/// AES-256-GCM-SIV over the encrypt-only AES. GCM-SIV runs AES forwards
/// whether it seals or opens (key derivation, CTR, the tag), and it expands a
/// fresh key per message; the full `Aes256` would also build the inverse key
/// schedule each time, which nothing uses. Same cipher, same tokens.
pub(super) type TokenCipher = AesGcmSiv<aes::Aes256Enc>;

/// One loaded key, with everything `tokenize` needs precomputed.
pub(super) struct TokenKey {
    /// The id carried in tokens.
    pub id: String,
    /// `tok_<id>_`: written in front of every token and authenticated as
    /// associated data, so a body cannot be moved under another key id.
    pub prefix: String,
    /// Retired keys still open tokens for `inspect`, never for detokenizing.
    pub retired: bool,
    /// AES-256-GCM-SIV keyed with the encryption subkey.
    pub cipher: TokenCipher,
    /// HMAC-SHA256 keyed with the nonce subkey, once: a token costs only its
    /// payload's blocks.
    pub nonce_mac: hmac::Key,
    /// Tokens this key sealed recently, by payload digest (none until
    /// [`TokenKey::remembering`]).
    pub recent: RecentTokens,
}

impl TokenKey {
    /// Derives the subkeys from a key file's secret.
    pub fn new(id: &str, secret: &[u8; KEY_LEN], retired: bool) -> TokenKey {
        let kdf = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let encrypt_key = hmac::sign(&kdf, ENCRYPT_LABEL);
        let nonce_key = hmac::sign(&kdf, NONCE_LABEL);
        TokenKey {
            id: id.to_owned(),
            prefix: format!("{TOKEN_PREFIX}{id}_"),
            retired,
            cipher: TokenCipher::new(encrypt_key.as_ref().into()),
            nonce_mac: hmac::Key::new(hmac::HMAC_SHA256, nonce_key.as_ref()),
            recent: RecentTokens::new(0),
        }
    }

    /// The same key, remembering up to `entries` recently sealed tokens.
    pub fn remembering(self, entries: usize) -> TokenKey {
        TokenKey {
            recent: RecentTokens::new(entries),
            ..self
        }
    }

    /// Reads and derives the key named by one config entry.
    pub fn load(id: &str, path: &Path, retired: bool) -> Result<TokenKey, TokenKeyError> {
        let secret = read_key_file(path).map_err(|e| match e {
            KeyFileError::Io(source) => TokenKeyError::Read {
                id: id.to_owned(),
                path: path.to_owned(),
                source,
            },
            KeyFileError::NotAKey => TokenKeyError::NotAKey {
                id: id.to_owned(),
                path: path.to_owned(),
            },
        })?;
        warn_if_exposed(path);
        Ok(TokenKey::new(id, &secret, retired))
    }
}

enum KeyFileError {
    Io(io::Error),
    NotAKey,
}

fn read_key_file(path: &Path) -> Result<[u8; KEY_LEN], KeyFileError> {
    let text = fs::read_to_string(path).map_err(KeyFileError::Io)?;
    let mut secret = [0u8; KEY_LEN];
    hex::decode_to_slice(text.trim(), &mut secret).map_err(|_| KeyFileError::NotAKey)?;
    Ok(secret)
}

#[cfg(unix)]
fn warn_if_exposed(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "token key file is readable by group or others");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_exposed(_path: &Path) {}

/// Writes a new key file at `path`: 32 bytes from the OS random source as 64
/// hex digits and a newline, mode 0600, parent directories created.
///
/// Refuses (`ErrorKind::AlreadyExists`) to overwrite an existing file, because
/// replacing a key silently orphans every token made with it; rotate by adding
/// a key with a new id instead.
pub fn generate_key_file(path: &Path) -> io::Result<()> {
    let mut secret = [0u8; KEY_LEN];
    rand::rngs::OsRng
        .try_fill_bytes(&mut secret)
        .map_err(io::Error::other)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let mut file = private_new_file(path)?;
    let mut text = hex::encode(secret);
    text.push('\n');
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

fn private_new_file(path: &Path) -> io::Result<fs::File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subkeys_are_hmac_sha256_of_the_labels_as_before() {
        use ::hmac::{Hmac, Mac};
        use aes_gcm_siv::aead::AeadInPlace;
        // Tokens already issued must keep opening: check the derivation
        // against an independent HMAC-SHA256.
        let independent = |key: &[u8], message: &[u8]| -> [u8; 32] {
            let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
            mac.update(message);
            mac.finalize().into_bytes().into()
        };
        let secret = [7u8; KEY_LEN];
        let key = TokenKey::new("k1", &secret, false);
        let nonce_key = independent(&secret, NONCE_LABEL);
        assert_eq!(
            hmac::sign(&key.nonce_mac, b"payload").as_ref(),
            independent(&nonce_key, b"payload")
        );
        let encrypt_key = independent(&secret, ENCRYPT_LABEL);
        let expected = aes_gcm_siv::Aes256GcmSiv::new(&encrypt_key.into());
        let nonce = aes_gcm_siv::Nonce::from([3u8; 12]);
        let (mut ours, mut theirs) = (b"plaintext".to_vec(), b"plaintext".to_vec());
        let tag = key
            .cipher
            .encrypt_in_place_detached(&nonce, b"ad", &mut ours);
        let tag_expected = expected.encrypt_in_place_detached(&nonce, b"ad", &mut theirs);
        assert_eq!((ours, tag.unwrap()), (theirs, tag_expected.unwrap()));
    }

    #[test]
    fn generated_file_is_private_hex_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/nested/token-k1.key");
        generate_key_file(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), KEY_LEN * 2 + 1);
        assert!(text.trim_end().bytes().all(|b| b.is_ascii_hexdigit()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let key = TokenKey::load("k1", &path, false).unwrap();
        assert_eq!(key.prefix, "tok_k1_");
    }

    #[test]
    fn two_generated_keys_differ() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.key"), dir.path().join("b.key"));
        generate_key_file(&a).unwrap();
        generate_key_file(&b).unwrap();
        assert_ne!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
    }

    #[test]
    fn never_overwrites_an_existing_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        generate_key_file(&path).unwrap();
        let before = fs::read(&path).unwrap();
        let err = generate_key_file(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), before);
    }

    #[test]
    fn bad_key_file_error_names_file_not_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        fs::write(&path, "secretsecretsecret").unwrap();
        let err = TokenKey::load("k1", &path, false).err().unwrap();
        let shown = err.to_string();
        assert!(matches!(err, TokenKeyError::NotAKey { .. }));
        assert!(shown.contains("k.key") && shown.contains("`k1`"));
        assert!(!shown.contains("secret"));
    }

    #[test]
    fn missing_key_file_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = TokenKey::load("k1", &dir.path().join("absent.key"), false)
            .err()
            .unwrap();
        assert!(matches!(err, TokenKeyError::Read { .. }));
    }
}
