//! Fingerprints already taken in this response. A value disclosed twice in
//! one response (a service tag in the device list and again in the service
//! history, or found again inside a note) is fingerprinted once: the
//! fingerprint depends on the value alone, and its HMAC costs several times
//! a lookup.

use super::memo::Memo;
use crate::ledger::Fingerprint;

/// The fingerprints taken so far in one response.
#[derive(Default)]
pub(super) struct Fingerprinted {
    /// Fingerprint by disclosed value (as it appeared, before the ledger's
    /// normalization: two spellings of one value are two entries with the
    /// same fingerprint).
    prints: Memo<String, Fingerprint>,
}

impl Fingerprinted {
    /// The fingerprint of `value`, from the memo or else from `take`.
    pub(super) fn get_or_take(
        &mut self,
        value: &str,
        take: impl FnOnce(&str) -> Fingerprint,
    ) -> Fingerprint {
        self.prints
            .get_or_make(value, || value.to_owned(), || take(value))
    }
}

#[cfg(test)]
mod tests {
    use super::super::memo::MAX_REMEMBERED;
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
