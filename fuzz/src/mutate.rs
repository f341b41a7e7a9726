//! Deterministic byte-level mutations: the same seed and corpus always produce
//! the same inputs, so any finding can be replayed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Largest input a mutation may produce.
pub const MAX_INPUT: usize = 32 * 1024;

/// Bytes that change meaning in the parsers under test.
const INTERESTING: &[u8] = b"\0\x7f\x80\xff\"\\/%.{}[];:=,'#?\n\r\t *$";

/// A seeded mutator with a per-target dictionary of meaningful tokens.
pub struct Mutator {
    rng: ChaCha8Rng,
    dictionary: &'static [&'static [u8]],
}

impl Mutator {
    /// A mutator whose choices are fixed by `seed`.
    pub fn new(seed: u64, dictionary: &'static [&'static [u8]]) -> Mutator {
        Mutator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            dictionary,
        }
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n.max(1))
    }

    /// Applies one to four stacked mutations to a copy of `input`; `other` is a
    /// second corpus entry for splicing.
    pub fn mutate(&mut self, input: &[u8], other: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..1 + self.below(4) {
            self.once(&mut out, other);
        }
        out.truncate(MAX_INPUT);
        out
    }

    fn once(&mut self, out: &mut Vec<u8>, other: &[u8]) {
        let at = self.below(out.len() + 1);
        match self.below(12) {
            0 if !out.is_empty() => {
                let i = self.below(out.len());
                out[i] ^= 1 << self.below(8);
            }
            1 if !out.is_empty() => {
                let i = self.below(out.len());
                out[i] = INTERESTING[self.below(INTERESTING.len())];
            }
            2 => {
                let n = 1 + self.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| self.rng.random()).collect();
                out.splice(at..at, bytes);
            }
            3 if !out.is_empty() => {
                let end = (at + 1 + self.below(16)).min(out.len());
                out.drain(at.min(end)..end);
            }
            4 if !out.is_empty() => {
                let start = self.below(out.len());
                let end = (start + 1 + self.below(32)).min(out.len());
                let chunk = out[start..end].to_vec();
                out.splice(at..at, chunk);
            }
            5 | 6 if !self.dictionary.is_empty() => {
                let token = self.dictionary[self.below(self.dictionary.len())];
                out.splice(at..at, token.iter().copied());
            }
            7 if !self.dictionary.is_empty() && !out.is_empty() => {
                let token = self.dictionary[self.below(self.dictionary.len())];
                let end = (at + token.len()).min(out.len());
                out.splice(at.min(end)..end, token.iter().copied());
            }
            8 if !other.is_empty() => {
                let cut = self.below(other.len());
                out.truncate(at);
                out.extend_from_slice(&other[cut..]);
            }
            9 => {
                // Repetition: what depth limits and quadratic paths are made of.
                let byte = INTERESTING[self.below(INTERESTING.len())];
                let n = 1 + self.below(256);
                out.splice(at..at, std::iter::repeat_n(byte, n));
            }
            10 if !out.is_empty() => {
                let i = self.below(out.len());
                if out[i].is_ascii_digit() {
                    out[i] = b'0' + (out[i] - b'0' + 1 + self.below(9) as u8) % 10;
                } else if out[i].is_ascii_alphabetic() {
                    out[i] ^= 0x20;
                }
            }
            _ => out.truncate(at),
        }
    }
}
