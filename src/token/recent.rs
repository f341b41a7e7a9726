//! Tokens sealed recently, so a value seen again costs a lookup, not a seal.
//!
//! Agents work the same customers over and over (a ticket's record reloaded,
//! search pages that overlap), and every view re-issues the same tokens: the
//! construction is deterministic. Sealing is an HMAC (the synthetic nonce)
//! then AES-GCM-SIV, which expands a fresh AES key per message; the HMAC must
//! be computed anyway, and its full 256 bits name the payload, so this cache
//! is keyed by it and skips the rest.
//!
//! - **No clear value is held.** A slot keeps the keyed digest and the token,
//!   and the token is what the agent was shown. Two payloads share a slot's
//!   digest only if HMAC-SHA256 collides.
//! - **Bounded.** Direct-mapped: the digest picks one slot, a newer token
//!   replaces an older one, memory is the slot count times about 150 bytes.
//! - **Never waited on.** A slot another thread holds is passed over: the
//!   token is sealed as if the cache were not there.

use std::sync::Mutex;

/// Bytes of the HMAC-SHA256 digest that keys a slot.
pub(super) const DIGEST_LEN: usize = 32;

/// Recently sealed tokens of one key.
pub(super) struct RecentTokens {
    /// A power of two of slots, or none when the cache is off.
    slots: Box<[Mutex<Option<Slot>>]>,
}

/// One remembered token.
struct Slot {
    /// HMAC-SHA256 of the payload under the key's nonce subkey.
    digest: [u8; DIGEST_LEN],
    /// The token sealed for that payload.
    token: Box<str>,
}

impl RecentTokens {
    /// A cache of `entries` slots, rounded up to a power of two; 0 keeps none.
    pub(super) fn new(entries: usize) -> Self {
        let count = if entries == 0 {
            0
        } else {
            entries.next_power_of_two()
        };
        RecentTokens {
            slots: (0..count).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// The token remembered for `digest`, if its slot holds it.
    pub(super) fn get(&self, digest: &[u8; DIGEST_LEN]) -> Option<String> {
        let slot = self.slot(digest)?.try_lock().ok()?;
        slot.as_ref()
            .filter(|s| s.digest == *digest)
            .map(|s| s.token.to_string())
    }

    /// Remembers `token` for `digest`, replacing whatever its slot held.
    pub(super) fn put(&self, digest: &[u8; DIGEST_LEN], token: &str) {
        let Some(Ok(mut slot)) = self.slot(digest).map(Mutex::try_lock) else {
            return;
        };
        *slot = Some(Slot {
            digest: *digest,
            token: token.into(),
        });
    }

    fn slot(&self, digest: &[u8; DIGEST_LEN]) -> Option<&Mutex<Option<Slot>>> {
        if self.slots.is_empty() {
            return None;
        }
        // The digest is a keyed PRF output: any of its bytes index evenly.
        let mut index = [0u8; 8];
        index.copy_from_slice(&digest[DIGEST_LEN - 8..]);
        let index = u64::from_le_bytes(index) as usize & (self.slots.len() - 1);
        self.slots.get(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(byte: u8) -> [u8; DIGEST_LEN] {
        [byte; DIGEST_LEN]
    }

    #[test]
    fn remembers_by_the_whole_digest() {
        let cache = RecentTokens::new(4);
        assert_eq!(cache.get(&digest(1)), None);
        cache.put(&digest(1), "tok_k1_a");
        assert_eq!(cache.get(&digest(1)).as_deref(), Some("tok_k1_a"));
        // Same slot (same last eight bytes), another digest: not a hit.
        let mut other = digest(1);
        other[0] = 2;
        assert_eq!(cache.get(&other), None);
        cache.put(&other, "tok_k1_b");
        assert_eq!(cache.get(&other).as_deref(), Some("tok_k1_b"));
        assert_eq!(cache.get(&digest(1)), None, "replaced in its slot");
    }

    #[test]
    fn zero_entries_keeps_nothing() {
        let cache = RecentTokens::new(0);
        cache.put(&digest(1), "tok_k1_a");
        assert_eq!(cache.get(&digest(1)), None);
    }

    #[test]
    fn slot_count_is_a_power_of_two() {
        assert_eq!(RecentTokens::new(1).slots.len(), 1);
        assert_eq!(RecentTokens::new(3).slots.len(), 4);
        assert_eq!(RecentTokens::new(16_384).slots.len(), 16_384);
    }

    #[test]
    fn a_held_slot_is_passed_over() {
        let cache = RecentTokens::new(1);
        cache.put(&digest(1), "tok_k1_a");
        let held = cache.slots[0].lock().unwrap();
        assert_eq!(cache.get(&digest(1)), None);
        cache.put(&digest(2), "tok_k1_b");
        drop(held);
        assert_eq!(cache.get(&digest(1)).as_deref(), Some("tok_k1_a"));
    }
}
