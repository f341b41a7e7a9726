//! A bounded per-response memo: what one response already computed for a
//! value (its token, its fingerprint), so a value that repeats is worked out
//! once.
//!
//! The keys come from customer records, so the hasher is seeded at random per
//! map. It is foldhash rather than SipHash because a memo never holds more
//! than [`MAX_REMEMBERED`] keys, which bounds what keys made to collide could
//! cost, while SipHash's rounds were 3% of the masking path's instructions.
//! Equality is checked in full; the hash only places keys.

use std::hash::Hash;

use foldhash::fast::RandomState;
use hashbrown::{Equivalent, HashMap};

/// Past this many distinct keys a response computes every further one
/// afresh, so a memo never holds more than a bounded slice of a huge response.
pub(super) const MAX_REMEMBERED: usize = 4096;

/// Values by key, at most [`MAX_REMEMBERED`] of them.
pub(super) struct Memo<K, V> {
    /// Empty until the first value.
    map: HashMap<K, V, RandomState>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Memo {
            map: HashMap::default(),
        }
    }
}

impl<K: Hash + Eq, V: Clone> Memo<K, V> {
    /// The value for `probe`, remembered or else made by `make` and
    /// remembered under `key()` while there is room.
    pub(super) fn get_or_make<Q>(
        &mut self,
        probe: &Q,
        key: impl FnOnce() -> K,
        make: impl FnOnce() -> V,
    ) -> V
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        if let Some(value) = self.map.get(probe) {
            return value.clone();
        }
        let value = make();
        if self.map.len() < MAX_REMEMBERED {
            self.map.insert(key(), value.clone());
        }
        value
    }

    /// How many values are remembered.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }
}
