//! The record line format.
//!
//! One record per line, a JSON object whose keys come in a fixed order:
//!
//! ```text
//! {"seq":42,"prev":"<64 hex>","entry":{...},"hash":"<64 hex>"}
//! ```
//!
//! `hash` is the SHA-256 of the exact bytes before `,"hash":`, so it covers the
//! seq, the previous record's hash and the entry. Hashing bytes rather than a
//! re-serialisation means a verifier needs no canonical JSON, and checking a line
//! costs one SHA-256 and a few byte comparisons.

use ring::digest::{digest, SHA256};

/// A SHA-256 chain hash.
pub type Hash = [u8; 32];

/// The `prev` of the very first record.
pub const GENESIS: Hash = [0; 32];

const SEQ_KEY: &[u8] = b"{\"seq\":";
const PREV_KEY: &[u8] = b",\"prev\":\"";
const ENTRY_KEY: &[u8] = b"\",\"entry\":";
const HASH_KEY: &[u8] = b",\"hash\":\"";
const END: &[u8] = b"\"}";
const SUFFIX_LEN: usize = HASH_KEY.len() + 64 + END.len();

/// What is wrong with a single line, judged on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFault {
    /// Not shaped like a record.
    Malformed,
    /// Shaped like a record, but the hash does not match its bytes.
    HashMismatch,
}

/// The chain fields of a line whose own hash checks out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// The record's sequence number.
    pub seq: u64,
    /// The hash of the record before it.
    pub prev: Hash,
    /// This record's hash.
    pub hash: Hash,
}

/// Appends one record line (with its newline) to `out` and returns its hash.
pub fn encode(out: &mut Vec<u8>, seq: u64, prev: &Hash, entry_json: &[u8]) -> Hash {
    let start = out.len();
    let mut hex_buf = [0u8; 64];
    out.extend_from_slice(SEQ_KEY);
    push_decimal(out, seq);
    out.extend_from_slice(PREV_KEY);
    out.extend_from_slice(to_hex(prev, &mut hex_buf));
    out.extend_from_slice(ENTRY_KEY);
    out.extend_from_slice(entry_json);
    let hash = sha256(&out[start..]);
    out.extend_from_slice(HASH_KEY);
    out.extend_from_slice(to_hex(&hash, &mut hex_buf));
    out.extend_from_slice(END);
    out.push(b'\n');
    hash
}

/// SHA-256 of `bytes`. ring's is assembly that uses the CPU's SHA extensions,
/// or AVX where they are missing: on such a CPU it hashes a record in about
/// half the time of the portable code (benches/README.md, "History").
fn sha256(bytes: &[u8]) -> Hash {
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest(&SHA256, bytes).as_ref());
    hash
}

/// Appends `n` in decimal without allocating.
fn push_decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Checks a line (without its newline) against its own hash and returns its
/// chain fields. Whether it follows its predecessor is the caller's question.
pub fn check(line: &[u8]) -> Result<Link, LineFault> {
    let body_len = line
        .len()
        .checked_sub(SUFFIX_LEN)
        .ok_or(LineFault::Malformed)?;
    let (body, suffix) = line.split_at(body_len);
    if !suffix.starts_with(HASH_KEY) || !suffix.ends_with(END) {
        return Err(LineFault::Malformed);
    }
    let hash = from_hex(&suffix[HASH_KEY.len()..HASH_KEY.len() + 64])?;
    let (seq, prev) = parse_head(body)?;
    let actual = sha256(body);
    if actual != hash {
        return Err(LineFault::HashMismatch);
    }
    Ok(Link { seq, prev, hash })
}

/// Reads `seq` and `prev` from the fixed-order start of a record body.
fn parse_head(body: &[u8]) -> Result<(u64, Hash), LineFault> {
    let rest = body.strip_prefix(SEQ_KEY).ok_or(LineFault::Malformed)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 20 {
        return Err(LineFault::Malformed);
    }
    let seq = std::str::from_utf8(&rest[..digits])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or(LineFault::Malformed)?;
    let rest = rest[digits..]
        .strip_prefix(PREV_KEY)
        .ok_or(LineFault::Malformed)?;
    if rest.len() < 64 || !rest[64..].starts_with(ENTRY_KEY) {
        return Err(LineFault::Malformed);
    }
    Ok((seq, from_hex(&rest[..64])?))
}

/// Decodes lowercase hex only: accepting `A` for `a` would let a flipped case
/// bit in a stored hash go unnoticed.
fn from_hex(hex_digits: &[u8]) -> Result<Hash, LineFault> {
    if !hex_digits
        .iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return Err(LineFault::Malformed);
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digits, &mut out).map_err(|_| LineFault::Malformed)?;
    Ok(out)
}

fn to_hex<'a>(hash: &Hash, buf: &'a mut [u8; 64]) -> &'a [u8] {
    // The buffer is exactly twice the input, which is all the encoder needs.
    base16ct::lower::encode(hash, buf).unwrap_or_default()
}

/// Hex form of a chain hash, as stored.
pub fn hash_hex(hash: &Hash) -> String {
    hex::encode(hash)
}

/// Parses the hex form of a chain hash.
pub fn parse_hash(text: &str) -> Option<Hash> {
    from_hex(text.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64, prev: &Hash, entry: &[u8]) -> (Vec<u8>, Hash) {
        let mut out = Vec::new();
        let hash = encode(&mut out, seq, prev, entry);
        assert_eq!(out.pop(), Some(b'\n'));
        (out, hash)
    }

    #[test]
    fn encoded_line_checks_and_is_json() {
        let (bytes, hash) = line(7, &GENESIS, br#"{"agent":"a"}"#);
        let link = check(&bytes).unwrap();
        assert_eq!(
            link,
            Link {
                seq: 7,
                prev: GENESIS,
                hash
            }
        );
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["seq"], 7);
        assert_eq!(value["hash"], hash_hex(&hash));
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let (bytes, _) = line(12, &[3; 32], br#"{"agent":"bob","fields":[]}"#);
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut bad = bytes.clone();
                bad[i] ^= 1 << bit;
                assert!(check(&bad).is_err(), "flip at byte {i} bit {bit} passed");
            }
        }
    }

    #[test]
    fn the_hash_is_plain_sha256_of_the_bytes_before_it() {
        use sha2::Digest;
        let (bytes, hash) = line(3, &[9; 32], br#"{"agent":"alice"}"#);
        let body_len = bytes.len() - SUFFIX_LEN;
        let independent: Hash = sha2::Sha256::digest(&bytes[..body_len]).into();
        assert_eq!(hash, independent);
        // FIPS 180-2, appendix B.1.
        assert_eq!(
            hash_hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn seq_is_written_in_plain_decimal() {
        for seq in [0, 1, 9, 10, 4_294_967_296, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, seq);
            assert_eq!(out, seq.to_string().as_bytes());
        }
    }

    #[test]
    fn truncated_line_is_malformed() {
        let (bytes, _) = line(1, &GENESIS, b"{}");
        for cut in 0..bytes.len() {
            assert!(check(&bytes[..cut]).is_err());
        }
    }
}
