//! JSON text written by hand on the hot paths (judged responses, ledger
//! entries, request log lines), byte for byte what `serde_json` writes.
//!
//! `serde_json` checks every byte of every string against an escape table and
//! goes through the `Serializer` machinery for every member; a judged response
//! and its ledger entry are almost all short strings that need no escaping, so
//! those are copied as they are.

/// Appends `s` as a JSON string.
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        // Writing a `str` into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// [`push_str`] for text being built as a `String` (log lines).
pub fn push_string(out: &mut String, s: &str) {
    if needs_escape(s.as_bytes()) {
        // Serialising a `str` cannot fail; an empty string keeps the text valid JSON.
        out.push_str(serde_json::to_string(s).as_deref().unwrap_or("\"\""));
    } else {
        out.reserve(s.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

/// Whether JSON needs any byte of `bytes` escaped: the quote, the backslash
/// and control characters, exactly the bytes `serde_json` escapes.
///
/// Eight bytes at a time, and no byte-by-byte tail: most strings in a judged
/// response are keys and short values, so the last word is read overlapping
/// the one before it (a byte checked twice is still one answer), and a string
/// of four to seven bytes is read as two overlapping halves.
fn needs_escape(bytes: &[u8]) -> bool {
    let len = bytes.len();
    if len >= 8 {
        let mut at = 0;
        while at + 8 <= len {
            if word_needs_escape(word_at(bytes, at)) {
                return true;
            }
            at += 8;
        }
        at != len && word_needs_escape(word_at(bytes, len - 8))
    } else if len >= 4 {
        word_needs_escape(half_at(bytes, 0) | half_at(bytes, len - 4) << 32)
    } else {
        bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\')
    }
}

/// Whether any byte of `w` is below a space, a quote or a backslash: each
/// such byte sets its high bit in the flags (the usual has-zero-byte tricks).
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    let quote = has_zero(w ^ (ONES * u64::from(b'"')));
    let backslash = has_zero(w ^ (ONES * u64::from(b'\\')));
    below_space | quote | backslash != 0
}

/// The eight bytes at `at` as one word; `at + 8 <= bytes.len()`.
fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w)
}

/// The four bytes at `at` in the low half of a word; `at + 4 <= bytes.len()`.
fn half_at(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&bytes[at..at + 4]);
    u64::from(u32::from_le_bytes(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(s: &str) -> Vec<u8> {
        let mut out = b"x".to_vec();
        push_str(&mut out, s);
        let mut text = String::from("x");
        push_string(&mut text, s);
        assert_eq!(text.as_bytes(), out, "the two writers agree on {s:?}");
        out
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        for s in [
            "",
            "plain",
            "quote \" inside",
            "back\\slash",
            "tab\tnewline\nnul\0esc\u{1b}",
            "del \u{7f} stays",
            "ünïcødé ✓ 𝄞",
            "</script>",
        ] {
            let mut theirs = b"x".to_vec();
            theirs.extend(serde_json::to_vec(s).unwrap());
            assert_eq!(ours(s), theirs, "{s:?}");
        }
    }

    #[test]
    fn every_byte_at_every_position_is_judged_alone() {
        for b in 0u8..=255 {
            for len in 1..=25 {
                for at in 0..len {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    let expected = b < 0x20 || b == b'"' || b == b'\\';
                    assert_eq!(needs_escape(&bytes), expected, "{b:#x} at {at} of {len}");
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_string_is_written_as_serde_json_writes_it(s in "\\PC*|[\\x00-\\x7f]{0,40}") {
            let mut theirs = b"x".to_vec();
            theirs.extend(serde_json::to_vec(&s).unwrap());
            proptest::prop_assert_eq!(ours(&s), theirs);
        }
    }
}
