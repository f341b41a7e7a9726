//! The ledger key: keyed fingerprints of disclosed values and checkpoint MACs.
//!
//! A fingerprint is `hex(HMAC-SHA256(key, normalize(value)))`. Keying it means a
//! stolen ledger does not let anyone confirm a guessed phone number or service tag,
//! yet the security team, holding the key, can ask "who saw this value?".

use std::fmt;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rand::RngCore;
use ring::hmac;

use super::regular::read_regular;

/// A key file is 64 hex digits and whitespace; anything larger is not one.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// Length of the ledger key in bytes.
pub const KEY_LEN: usize = 32;

/// Why a key file could not be used. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read ledger key file {path}: {source}")]
    Read {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file does not hold exactly 32 bytes as hex.
    #[error("ledger key file {path} must hold {KEY_LEN} bytes as hex text")]
    Malformed {
        /// The key file.
        path: PathBuf,
    },
}

/// The secret behind fingerprints and checkpoint MACs.
#[derive(Clone)]
pub struct LedgerKey {
    // Keyed once: ring keeps the states after the two pads, so a value costs
    // only its own blocks.
    mac: hmac::Key,
    id: String,
}

impl fmt::Debug for LedgerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LedgerKey").field("id", &self.id).finish()
    }
}

impl LedgerKey {
    /// Builds a key from raw bytes.
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        let mac = hmac::Key::new(hmac::HMAC_SHA256, bytes);
        // The newline keeps this message apart from every normalized value, which
        // holds only alphanumerics.
        let id = hex::encode(&hmac::sign(&mac, b"keyhole-ledger-key-id\n").as_ref()[..8]);
        LedgerKey { mac, id }
    }

    /// Reads a key file: 64 hex digits, surrounding whitespace ignored.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let read = |source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        };
        let bytes = read_regular(path, MAX_KEY_FILE_BYTES).map_err(read)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| read(io::Error::new(io::ErrorKind::InvalidData, "not UTF-8")))?;
        let mut bytes = [0u8; KEY_LEN];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| KeyError::Malformed {
            path: path.to_path_buf(),
        })?;
        Ok(Self::from_bytes(&bytes))
    }

    /// A short public id for the key (16 hex digits), safe to print and store.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Hex fingerprint of `value` after [`normalize`].
    pub fn fingerprint(&self, value: &str) -> String {
        self.fingerprint_of(value).to_string()
    }

    /// The fingerprint of `value` after [`normalize`], as bytes: a disclosure
    /// keeps it in this form and spells it in hex only when it is written.
    pub fn fingerprint_of(&self, value: &str) -> Fingerprint {
        // Every revealed value passes through here: the normalized text goes
        // into the MAC in stack-sized chunks rather than a String per value.
        // HMAC is streaming, so the chunking does not change the result.
        let mut mac = hmac::Context::with_key(&self.mac);
        let mut buf = [0u8; 128];
        let mut len = 0;
        if value.is_ascii() {
            // Most values: a byte is a char, and its normal form is itself lowercased or nothing.
            for b in value.bytes().filter(u8::is_ascii_alphanumeric) {
                buf[len] = b.to_ascii_lowercase();
                len += 1;
                if len == buf.len() {
                    mac.update(&buf);
                    len = 0;
                }
            }
        } else {
            for c in value.chars() {
                normalized_char(c, |lower| {
                    len += lower.encode_utf8(&mut buf[len..]).len();
                });
                // One char lowercases to at most 3 chars of at most 4 bytes each.
                if len > buf.len() - 12 {
                    mac.update(&buf[..len]);
                    len = 0;
                }
            }
        }
        mac.update(&buf[..len]);
        Fingerprint(tag_bytes(&mac.sign()))
    }

    /// Hex fingerprint of a value that is already normalized.
    pub fn fingerprint_normalized(&self, normalized: &str) -> String {
        Fingerprint(self.mac(normalized.as_bytes())).to_string()
    }

    /// HMAC-SHA256 of `message`. Callers outside fingerprinting must put a
    /// non-alphanumeric byte in `message` so it can never equal a fingerprint.
    pub fn mac(&self, message: &[u8]) -> [u8; 32] {
        tag_bytes(&hmac::sign(&self.mac, message))
    }

    /// Checks `tag` against the HMAC of `message` in constant time.
    pub fn verify_mac(&self, message: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.mac, message, tag).is_ok()
    }
}

/// An HMAC-SHA256 tag as its 32 bytes.
fn tag_bytes(tag: &hmac::Tag) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(tag.as_ref());
    bytes
}

/// Normalizes a value before fingerprinting: lowercase, alphanumerics only
/// (Unicode-aware), everything else dropped. So `"+1 (555) 010-2233"` and
/// `"15550102233"` match, as do `"ABC1234"` and `"abc-1234"`, and
/// `"Ann.Lee@Example.com"` and `"annlee@example.com"`. No Unicode normalization
/// form is applied.
pub fn normalize(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        normalized_char(c, |lower| out.push(lower));
    }
    out
}

/// The normalization of one char: nothing for punctuation and spaces, the
/// lowercase form (one to three chars) for letters and digits.
fn normalized_char(c: char, mut emit: impl FnMut(char)) {
    if c.is_ascii_alphanumeric() {
        emit(c.to_ascii_lowercase());
    } else if !c.is_ascii() && c.is_alphanumeric() {
        c.to_lowercase().for_each(emit);
    }
}

/// A keyed fingerprint: HMAC-SHA256 of a normalized value. Written and read as
/// 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The lowercase hex spelling, encoded into `buf` (no allocation).
    pub fn hex<'b>(&self, buf: &'b mut [u8; 64]) -> &'b str {
        // 32 bytes always fit 64 digits: the fallback cannot happen.
        base16ct::lower::encode_str(&self.0, buf).unwrap_or_default()
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hex(&mut [0u8; 64]))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Text that is not 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a fingerprint is 64 hex digits")]
pub struct MalformedFingerprint;

impl std::str::FromStr for Fingerprint {
    type Err = MalformedFingerprint;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| MalformedFingerprint)?;
        Ok(Fingerprint(bytes))
    }
}

impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.hex(&mut [0u8; 64]))
    }
}

impl<'de> serde::Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Creates a new random ledger key at `path` (hex text, mode 0600), creating
/// parent directories. Refuses to overwrite an existing file: replacing a ledger
/// key would orphan every fingerprint written under it.
pub fn generate_key_file(path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut bytes = [0u8; KEY_LEN];
    rand::rng().fill_bytes(&mut bytes);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(format!("{}\n", hex::encode(bytes)).as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_the_lowercase_hex_of_the_mac() {
        let key = LedgerKey::from_bytes(&[7u8; 32]);
        let fp = key.fingerprint_normalized("abc1234");
        assert_eq!(fp, hex::encode(key.mac(b"abc1234")));
        assert_eq!(fp.len(), 64);
    }

    #[test]
    fn a_fingerprint_is_written_and_read_as_lowercase_hex() {
        let key = LedgerKey::from_bytes(&[3u8; 32]);
        let fp = key.fingerprint_of("ABC-1234");
        let hex = hex::encode(key.mac(b"abc1234"));
        assert_eq!(fp.to_string(), hex);
        assert_eq!(key.fingerprint("ABC-1234"), hex);
        let json = serde_json::to_string(&fp).unwrap();
        assert_eq!(json, format!("\"{hex}\""));
        assert_eq!(serde_json::from_str::<Fingerprint>(&json).unwrap(), fp);
        assert_eq!(hex.parse::<Fingerprint>(), Ok(fp));
        for bad in [
            "",
            "abc",
            &hex[..63],
            &format!("{hex}0"),
            &hex.replace('a', "g"),
        ] {
            assert_eq!(
                bad.parse::<Fingerprint>(),
                Err(MalformedFingerprint),
                "{bad:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn streamed_fingerprint_equals_fingerprint_of_normalized(value in "\\PC{0,300}") {
            let key = LedgerKey::from_bytes(&[9u8; 32]);
            proptest::prop_assert_eq!(
                key.fingerprint(&value),
                key.fingerprint_normalized(&normalize(&value))
            );
        }

        #[test]
        fn ascii_fingerprint_equals_fingerprint_of_normalized(value in "[\\x00-\\x7f]{0,400}") {
            let key = LedgerKey::from_bytes(&[9u8; 32]);
            proptest::prop_assert_eq!(
                key.fingerprint(&value),
                key.fingerprint_normalized(&normalize(&value))
            );
        }
    }

    #[test]
    fn long_values_that_grow_when_lowercased_fingerprint_as_normalized() {
        let key = LedgerKey::from_bytes(&[9u8; 32]);
        // U+0130 lowercases to two chars (three bytes); 200 of them cross
        // several chunk boundaries.
        for value in ["\u{130}".repeat(200), "Ab-9 ".repeat(100), "x".repeat(116)] {
            assert_eq!(
                key.fingerprint(&value),
                key.fingerprint_normalized(&normalize(&value))
            );
        }
    }

    #[test]
    fn normalize_matches_formatting_variants() {
        assert_eq!(normalize("+1 (555) 010-2233"), "15550102233");
        assert_eq!(normalize("ABC-1234"), normalize("abc1234"));
        assert_eq!(normalize("Ann.Lee@Example.com"), "annleeexamplecom");
        assert_eq!(normalize("Žofia Ñúñez"), "žofiañúñez");
        assert_eq!(normalize(" -- "), "");
    }

    #[test]
    fn fingerprint_is_keyed_and_normalized() {
        let a = LedgerKey::from_bytes(&[1; KEY_LEN]);
        let b = LedgerKey::from_bytes(&[2; KEY_LEN]);
        assert_eq!(a.fingerprint("555-010-2233"), a.fingerprint("5550102233"));
        assert_ne!(a.fingerprint("5550102233"), b.fingerprint("5550102233"));
        assert_eq!(a.fingerprint("x").len(), 64);
        assert_ne!(a.id(), b.id());
    }

    #[test]
    fn fingerprint_equals_an_independent_hmac_sha256() {
        use ::hmac::Mac;
        let bytes = [9u8; KEY_LEN];
        let key = LedgerKey::from_bytes(&bytes);
        let independent = |message: &[u8]| {
            let mut mac = ::hmac::Hmac::<sha2::Sha256>::new_from_slice(&bytes).unwrap();
            mac.update(message);
            <[u8; 32]>::from(mac.finalize().into_bytes())
        };
        assert_eq!(
            key.fingerprint("ABC-1234"),
            hex::encode(independent(b"abc1234"))
        );
        let long = "x".repeat(300);
        assert_eq!(key.mac(long.as_bytes()), independent(long.as_bytes()));
    }

    #[test]
    fn checkpoint_macs_verify_only_their_own_message() {
        let key = LedgerKey::from_bytes(&[4; KEY_LEN]);
        let tag = key.mac(b"seq=1\n");
        assert!(key.verify_mac(b"seq=1\n", &tag));
        assert!(!key.verify_mac(b"seq=2\n", &tag));
        assert!(!key.verify_mac(b"seq=1\n", &tag[..31]));
        assert!(!LedgerKey::from_bytes(&[5; KEY_LEN]).verify_mac(b"seq=1\n", &tag));
    }

    #[test]
    fn debug_shows_only_the_id() {
        let key = LedgerKey::from_bytes(&[7; KEY_LEN]);
        let shown = format!("{key:?}");
        assert!(shown.contains(key.id()));
        assert!(!shown.contains(&hex::encode([7u8; KEY_LEN])));
    }

    #[test]
    fn generated_key_file_loads_and_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/nested/ledger.key");
        generate_key_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let key = LedgerKey::load(&path).unwrap();
        assert_eq!(key.id().len(), 16);
        let again = generate_key_file(&path).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
    }

    #[test]
    fn malformed_key_file_is_refused_without_echoing_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.key");
        std::fs::write(&path, "secretsecret").unwrap();
        let err = LedgerKey::load(&path).unwrap_err();
        assert!(matches!(err, KeyError::Malformed { .. }));
        assert!(!err.to_string().contains("secretsecret"));
    }
}
