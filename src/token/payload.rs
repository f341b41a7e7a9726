//! What a token seals: scope, holder, field class and value, in a compact
//! binary form so tokens stay short.
//!
//! Layout: one header byte (`version << 4 | scope`), then agent, vendor and
//! class each as a LEB128 length and UTF-8 bytes, then the value as the rest.
//! The value goes last and unprefixed because it is usually the longest part.

use super::{Holder, TokenScope};

/// Bumped if the layout ever changes, so old tokens are recognized as old.
const VERSION: u8 = 1;

/// The decoded content of a token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Payload<'a> {
    /// Who may detokenize: one agent, one vendor's agents, or anyone.
    pub scope: TokenScope,
    /// The agent the token was issued to; empty unless the scope is `Agent`.
    pub agent: &'a str,
    /// The agent's vendor; empty when the scope is `Global`.
    pub vendor: &'a str,
    /// Field class, e.g. `service_tag`: part of the determinism key, so one
    /// value in two classes gets two tokens.
    pub class: &'a str,
    /// The clear value.
    pub value: &'a str,
}

/// The bytes do not form a payload this version understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BadPayload;

impl<'a> Payload<'a> {
    /// The payload for `holder` under `scope`: the holder fields the scope
    /// does not bind are left empty, so every holder the scope covers gets the
    /// same bytes and therefore the same token.
    pub fn new(holder: &Holder<'a>, scope: TokenScope, class: &'a str, value: &'a str) -> Self {
        let (agent, vendor) = match scope {
            TokenScope::Agent => (holder.agent, holder.vendor),
            TokenScope::Vendor => ("", holder.vendor),
            TokenScope::Global => ("", ""),
        };
        Payload {
            scope,
            agent,
            vendor,
            class,
            value,
        }
    }

    /// Upper bound of the encoded size, for allocating once.
    pub fn encoded_len(&self) -> usize {
        let prefixed = |s: &str| varint_len(s.len()) + s.len();
        1 + prefixed(self.agent) + prefixed(self.vendor) + prefixed(self.class) + self.value.len()
    }

    /// Appends the encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(VERSION << 4 | scope_code(self.scope));
        for field in [self.agent, self.vendor, self.class] {
            push_varint(out, field.len());
            out.extend_from_slice(field.as_bytes());
        }
        out.extend_from_slice(self.value.as_bytes());
    }

    /// Parses an encoding made by [`Payload::encode_into`].
    pub fn decode(bytes: &'a [u8]) -> Result<Self, BadPayload> {
        let (&header, mut rest) = bytes.split_first().ok_or(BadPayload)?;
        if header >> 4 != VERSION {
            return Err(BadPayload);
        }
        let scope = scope_from_code(header & 0x0f).ok_or(BadPayload)?;
        let agent = take_prefixed(&mut rest)?;
        let vendor = take_prefixed(&mut rest)?;
        let class = take_prefixed(&mut rest)?;
        let value = std::str::from_utf8(rest).map_err(|_| BadPayload)?;
        let payload = Payload {
            scope,
            agent,
            vendor,
            class,
            value,
        };
        // A holder field the scope does not bind would make two tokens for one
        // (scope, class, value); Keyhole never writes that.
        if payload != Payload::new(&payload.holder(), scope, class, value) {
            return Err(BadPayload);
        }
        Ok(payload)
    }

    fn holder(&self) -> Holder<'a> {
        Holder {
            agent: self.agent,
            vendor: self.vendor,
        }
    }
}

fn scope_code(scope: TokenScope) -> u8 {
    match scope {
        TokenScope::Agent => 0,
        TokenScope::Vendor => 1,
        TokenScope::Global => 2,
    }
}

fn scope_from_code(code: u8) -> Option<TokenScope> {
    match code {
        0 => Some(TokenScope::Agent),
        1 => Some(TokenScope::Vendor),
        2 => Some(TokenScope::Global),
        _ => None,
    }
}

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn push_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn take_varint(rest: &mut &[u8]) -> Result<usize, BadPayload> {
    let mut n: usize = 0;
    for shift in (0..usize::BITS).step_by(7) {
        let (&byte, tail) = rest.split_first().ok_or(BadPayload)?;
        *rest = tail;
        n |= usize::from(byte & 0x7f)
            .checked_shl(shift)
            .ok_or(BadPayload)?;
        if byte & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(BadPayload)
}

fn take_prefixed<'a>(rest: &mut &'a [u8]) -> Result<&'a str, BadPayload> {
    let len = take_varint(rest)?;
    if len > rest.len() {
        return Err(BadPayload);
    }
    let (field, tail) = rest.split_at(len);
    *rest = tail;
    std::str::from_utf8(field).map_err(|_| BadPayload)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: Holder<'static> = Holder {
        agent: "alice",
        vendor: "acme",
    };

    fn encode(p: &Payload<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        p.encode_into(&mut out);
        out
    }

    #[test]
    fn round_trips_every_scope() {
        for scope in [TokenScope::Agent, TokenScope::Vendor, TokenScope::Global] {
            let p = Payload::new(&ALICE, scope, "service_tag", "7XK2M9Q");
            let bytes = encode(&p);
            assert_eq!(bytes.len(), p.encoded_len());
            assert!(Payload::decode(&bytes) == Ok(p), "{scope:?}");
        }
    }

    #[test]
    fn scope_drops_the_holder_fields_it_does_not_bind() {
        let p = Payload::new(&ALICE, TokenScope::Vendor, "c", "v");
        assert_eq!((p.agent, p.vendor), ("", "acme"));
        let p = Payload::new(&ALICE, TokenScope::Global, "c", "v");
        assert_eq!((p.agent, p.vendor), ("", ""));
    }

    #[test]
    fn long_fields_use_multi_byte_lengths() {
        let class = "c".repeat(300);
        let value = "é".repeat(100);
        let p = Payload::new(&ALICE, TokenScope::Agent, &class, &value);
        let bytes = encode(&p);
        assert_eq!(bytes.len(), p.encoded_len());
        assert!(Payload::decode(&bytes) == Ok(p));
    }

    #[test]
    fn typical_payload_is_compact() {
        let p = Payload::new(&ALICE, TokenScope::Agent, "service_tag", "7XK2M9Q");
        // header + 3 one-byte lengths + the strings themselves, nothing more.
        assert_eq!(encode(&p).len(), 1 + 3 + 5 + 4 + 11 + 7);
    }

    #[test]
    fn refuses_garbage() {
        let good = encode(&Payload::new(&ALICE, TokenScope::Agent, "class", "value"));
        let mut wrong_version = good.clone();
        wrong_version[0] = 2 << 4;
        let mut wrong_scope = good.clone();
        wrong_scope[0] = VERSION << 4 | 7;
        let mut overlong = good.clone();
        overlong[1] = 200;
        let mut bad_utf8 = good.clone();
        let last = bad_utf8.len() - 1;
        bad_utf8[last] = 0xff;
        let endless_varint = vec![VERSION << 4, 0xff, 0xff, 0xff];
        for bytes in [
            &[][..],
            &wrong_version,
            &wrong_scope,
            &overlong,
            &bad_utf8,
            &endless_varint,
        ] {
            assert!(Payload::decode(bytes).is_err(), "{bytes:?}");
        }
    }

    #[test]
    fn refuses_holder_fields_the_scope_does_not_bind() {
        let bound = Payload {
            scope: TokenScope::Global,
            agent: "",
            vendor: "acme",
            class: "c",
            value: "v",
        };
        assert!(Payload::decode(&encode(&bound)).is_err());
    }
}
