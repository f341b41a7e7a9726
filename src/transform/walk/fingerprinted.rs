//! Fingerprints already taken in this response. A value disclosed twice in
//! one response (a service tag in the device list and again in the service
//! history, or found again inside a note) is fingerprinted once: the
//! fingerprint depends on the value alone, and its HMAC costs several times
//! a lookup.

use foldhash::fast::RandomState;
use hashbrown::HashMap;

use crate::ledger::Fingerprint;

/// Past this many distinct values a response fingerprints every further one
/// afresh, so the memo never holds more than a bounded slice of a huge response.
const MAX_REMEMBERED: usize = 4096;

/// The fingerprints taken so far in one response.
#[derive(Default)]
pub(super) struct Fingerprinted {
    /// Fingerprint by disclosed value (as it appeared, before the ledger's
    /// normalization: two spellings of one value are two entries with the
    /// same fingerprint). Seeded at random per map, as the token memo is,
    /// because the keys come from customer records.
    prints: HashMap<String, Fingerprint, RandomState>,
}

impl Fingerprinted {
    /// The fingerprint of `value`, from the memo or else from `take`.
    pub(super) fn get_or_take(
        &mut self,
        value: &str,
        take: impl FnOnce(&str) -> Fingerprint,
    ) -> Fingerprint {
        if let Some(print) = self.prints.get(value) {
            return *print;
        }
        let print = take(value);
        if self.prints.len() < MAX_REMEMBERED {
            self.prints.insert(value.to_owned(), print);
        }
        print
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print_of(value: &str) -> Fingerprint {
        let mut bytes = [0u8; 32];
        for (b, v) in bytes.iter_mut().zip(value.bytes()) {
            *b = v;
        }
        Fingerprint(bytes)
    }

    #[test]
    fn takes_each_distinct_value_once() {
        let mut memo = Fingerprinted::default();
        let mut taken = Vec::new();
        for value in ["7XK2M9Q", "7XK2M9Q", "7xk2m9q", "", "7XK2M9Q", ""] {
            let print = memo.get_or_take(value, |v| {
                taken.push(v.to_owned());
                print_of(v)
            });
            assert_eq!(print, print_of(value), "{value:?}");
        }
        assert_eq!(taken, ["7XK2M9Q", "7xk2m9q", ""]);
    }

    #[test]
    fn stops_remembering_at_the_bound() {
        let mut memo = Fingerprinted::default();
        for i in 0..MAX_REMEMBERED + 10 {
            memo.get_or_take(&i.to_string(), print_of);
        }
        assert_eq!(memo.prints.len(), MAX_REMEMBERED);
        let mut taken = 0;
        let value = MAX_REMEMBERED.to_string();
        let print = memo.get_or_take(&value, |v| {
            taken += 1;
            print_of(v)
        });
        assert_eq!((print, taken), (print_of(&value), 1));
    }
}
