//! The token construction: deterministic authenticated encryption of a
//! [`Payload`] under one key.
//!
//! ```text
//! token = "tok_" key_id "_" base64url_nopad( nonce[12] || ciphertext || tag[16] )
//! nonce = HMAC-SHA256(nonce_subkey, payload)[..12]
//! ciphertext, tag = AES-256-GCM-SIV(encrypt_subkey, nonce, payload, aad = "tok_" key_id "_")
//! ```
//!
//! Why it is built this way:
//!
//! - **Deterministic.** The nonce is a keyed function of the payload, so one
//!   (scope, holder, class, value) always gives one token, across requests and
//!   restarts, which keeps responses consistent and lets an agent search by a
//!   token it saw earlier.
//! - **Safe although deterministic.** Ordinary AES-GCM must never see one
//!   nonce with two plaintexts. Here two different payloads share a nonce only
//!   if their truncated HMACs collide (about 2^-96 per pair), and even then
//!   AES-GCM-SIV is nonce-misuse resistant (RFC 8452): a repeated nonce reveals
//!   only whether the two payloads were equal. The scheme therefore leaks
//!   equality of payloads, which determinism means by definition, and nothing else.
//! - **Nothing unkeyed about the value.** The nonce is an HMAC under a secret
//!   subkey, never a plain hash, so no part of a token can be recomputed from a
//!   guessed value without the key.
//! - **Separate subkeys.** Both subkeys are HMACs of the key file's secret
//!   under distinct labels (see `key.rs`); the nonce key never encrypts and the
//!   encryption key never derives nonces.
//! - **Unforgeable and bound.** The 16-byte tag authenticates the payload, so
//!   holder and class cannot be edited; the key id prefix is associated data,
//!   so a body cannot be replayed under another key id.

use aes_gcm_siv::aead::AeadInPlace;
use aes_gcm_siv::{Nonce, Tag};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::key::TokenKey;
use super::payload::Payload;
use super::recent::DIGEST_LEN;

/// Bytes of synthetic nonce at the front of a token body.
const NONCE_LEN: usize = 12;
/// Bytes of GCM-SIV tag at the end of a token body.
const TAG_LEN: usize = 16;

/// The smallest body a real token can have: nonce, tag and the smallest
/// payload (header byte and three empty length-prefixed fields), in base64.
pub(super) const MIN_BODY_CHARS: usize = ((NONCE_LEN + TAG_LEN + 4) * 4).div_ceil(3);

/// Why a token body could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OpenError {
    /// Not base64url, or too short to hold a nonce and a tag.
    Malformed,
    /// Decoded, but the tag does not verify.
    Tampered,
}

impl TokenKey {
    /// Makes the token for `payload`. `None` only for payloads beyond the
    /// AEAD's 64 GiB limit, which no request body comes near.
    pub(super) fn seal(&self, payload: &Payload<'_>) -> Option<String> {
        let mut buf = Vec::with_capacity(NONCE_LEN + payload.encoded_len() + TAG_LEN);
        buf.resize(NONCE_LEN, 0);
        payload.encode_into(&mut buf);
        let (nonce_bytes, plaintext) = buf.split_at_mut(NONCE_LEN);
        let mut digest = [0u8; DIGEST_LEN];
        digest.copy_from_slice(ring::hmac::sign(&self.nonce_mac, plaintext).as_ref());
        if let Some(token) = self.recent.get(&digest) {
            return Some(token);
        }
        let nonce = Nonce::clone_from_slice(&digest[..NONCE_LEN]);
        nonce_bytes.copy_from_slice(&nonce);
        let tag = self
            .cipher
            .encrypt_in_place_detached(&nonce, self.prefix.as_bytes(), plaintext)
            .ok()?;
        buf.extend_from_slice(&tag);
        let mut token = String::with_capacity(self.prefix.len() + (buf.len() * 4).div_ceil(3));
        token.push_str(&self.prefix);
        URL_SAFE_NO_PAD.encode_string(&buf, &mut token);
        self.recent.put(&digest, &token);
        Some(token)
    }

    /// Decrypts a token body (the part after `tok_<id>_`) into payload bytes.
    pub(super) fn open(&self, body: &str) -> Result<Vec<u8>, OpenError> {
        // The engine refuses non-canonical trailing bits, so every character
        // of the body matters and a flipped one is never silently ignored.
        let mut buf = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| OpenError::Malformed)?;
        let Some(ciphertext_len) = buf.len().checked_sub(NONCE_LEN + TAG_LEN) else {
            return Err(OpenError::Malformed);
        };
        let (nonce, rest) = buf.split_at_mut(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at_mut(ciphertext_len);
        self.cipher
            .decrypt_in_place_detached(
                Nonce::from_slice(nonce),
                self.prefix.as_bytes(),
                ciphertext,
                Tag::from_slice(tag),
            )
            .map_err(|_| OpenError::Tampered)?;
        buf.truncate(NONCE_LEN + ciphertext_len);
        buf.drain(..NONCE_LEN);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::key::TokenCipher;
    use crate::token::{Holder, TokenScope};

    const ALICE: Holder<'static> = Holder {
        agent: "alice",
        vendor: "acme",
    };

    fn key(id: &str, byte: u8) -> TokenKey {
        TokenKey::new(id, &[byte; 32], false)
    }

    fn payload(value: &str) -> Payload<'_> {
        Payload::new(&ALICE, TokenScope::Agent, "service_tag", value)
    }

    fn body<'t>(k: &TokenKey, token: &'t str) -> &'t str {
        token.strip_prefix(k.prefix.as_str()).unwrap()
    }

    #[test]
    fn seal_is_deterministic_and_opens() {
        let k = key("k1", 1);
        let a = k.seal(&payload("7XK2M9Q")).unwrap();
        assert_eq!(a, k.seal(&payload("7XK2M9Q")).unwrap());
        assert_ne!(a, k.seal(&payload("7XK2M9R")).unwrap());
        let opened = k.open(body(&k, &a)).unwrap();
        assert!(Payload::decode(&opened) == Ok(payload("7XK2M9Q")));
    }

    #[test]
    fn a_remembered_token_is_the_one_sealed_afresh() {
        let cold = key("k1", 1);
        let warm = key("k1", 1).remembering(64);
        for value in ["7XK2M9Q", "7XK2M9R", "7XK2M9Q", "", "7XK2M9R"] {
            let p = payload(value);
            assert_eq!(warm.seal(&p), cold.seal(&p), "{value:?}");
        }
        // Another holder or class with the same value is another token.
        let bob = Holder {
            agent: "bob",
            vendor: "acme",
        };
        let other = Payload::new(&bob, TokenScope::Agent, "service_tag", "7XK2M9Q");
        assert_ne!(warm.seal(&other), warm.seal(&payload("7XK2M9Q")));
        assert_eq!(warm.seal(&other), cold.seal(&other));
    }

    #[test]
    fn smallest_payload_gives_the_smallest_body() {
        let k = key("k1", 1);
        let empty = Holder {
            agent: "",
            vendor: "",
        };
        let token = k
            .seal(&Payload::new(&empty, TokenScope::Global, "", ""))
            .unwrap();
        assert_eq!(body(&k, &token).len(), MIN_BODY_CHARS);
    }

    #[test]
    fn other_key_material_or_id_cannot_open() {
        let k1 = key("k1", 1);
        let token = k1.seal(&payload("7XK2M9Q")).unwrap();
        let body = body(&k1, &token);
        assert_eq!(key("k1", 2).open(body), Err(OpenError::Tampered));
        // Same secret under another id: the prefix is associated data.
        assert_eq!(key("k2", 1).open(body), Err(OpenError::Tampered));
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let k = key("k1", 1);
        let token = k.seal(&payload("7XK2M9Q")).unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(body(&k, &token)).unwrap();
        for bit in 0..raw.len() * 8 {
            raw[bit / 8] ^= 1 << (bit % 8);
            let flipped = URL_SAFE_NO_PAD.encode(&raw);
            assert_eq!(k.open(&flipped), Err(OpenError::Tampered), "bit {bit}");
            raw[bit / 8] ^= 1 << (bit % 8);
        }
    }

    #[test]
    fn the_encrypt_only_cipher_seals_exactly_as_the_full_one() {
        use aes_gcm_siv::aead::KeyInit;
        use aes_gcm_siv::Aes256GcmSiv;
        // Tokens issued before the cipher type changed must keep opening.
        let key = [7u8; 32].into();
        let (ours, full) = (TokenCipher::new(&key), Aes256GcmSiv::new(&key));
        for len in [0, 1, 15, 16, 17, 64, 300] {
            let nonce = Nonce::from([len as u8; NONCE_LEN]);
            let mut a: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut b = a.clone();
            let tag_a = ours.encrypt_in_place_detached(&nonce, b"tok_k1_", &mut a);
            let tag_b = full.encrypt_in_place_detached(&nonce, b"tok_k1_", &mut b);
            assert_eq!((a, tag_a.unwrap()), (b, tag_b.unwrap()), "length {len}");
        }
    }

    #[test]
    fn garbage_bodies_are_malformed() {
        let k = key("k1", 1);
        for body in ["", "not base64!", "AAAA", &"A".repeat(37)] {
            assert_eq!(k.open(body), Err(OpenError::Malformed), "{body:?}");
        }
    }
}
