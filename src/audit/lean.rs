//! A fast path for attribution's pass over every record: most records only add
//! one to their agent's and vendor's totals, so instead of running a JSON parser
//! over them, read the record in the exact shape the ledger writer produces.
//!
//! The shape is checked all the way to the last byte, so a line accepted here is
//! JSON that the full parser would read to the same agent and vendor. Anything
//! else (escapes, other key orders, `null` options, whitespace, damage) is
//! answered with [`Quick::Unsure`] and left to the full parser, as is any record
//! carrying a fingerprint the caller asks about.

/// What the fast path learned about a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Quick<'a> {
    /// A well-formed denial; attribution ignores those.
    Denial,
    /// A well-formed disclosure none of whose fingerprints was asked about.
    Disclosure {
        /// Agent id.
        agent: &'a str,
        /// Vendor.
        vendor: &'a str,
    },
    /// Needs the full parser: not in the writer's shape, or a fingerprint matched.
    Unsure,
}

/// Reads `line` if it is in the writer's shape; `wanted` says which
/// fingerprints need the full parser.
pub(super) fn quick<'a>(line: &'a [u8], wanted: impl Fn(&str) -> bool) -> Quick<'a> {
    // Without backslashes or control bytes every string is plain, so its end is
    // its next quote; UTF-8 checked once here holds for every slice below.
    if line
        .iter()
        .fold(false, |bad, &b| bad | (b < 0x20) | (b == b'\\'))
    {
        return Quick::Unsure;
    }
    let Ok(text) = std::str::from_utf8(line) else {
        return Quick::Unsure;
    };
    read_record(&mut Cursor { text, at: 0 }, &wanted).unwrap_or(Quick::Unsure)
}

/// `{"seq":N,"prev":"..","entry":{..},"hash":".."}` and nothing after it.
fn read_record<'a>(c: &mut Cursor<'a>, wanted: &impl Fn(&str) -> bool) -> Option<Quick<'a>> {
    c.token("{\"seq\":")?;
    c.number()?;
    c.token(",\"prev\":")?;
    c.string()?;
    c.token(",\"entry\":{\"kind\":")?;
    let quick = match c.string()? {
        "denial" => return Some(Quick::Denial),
        "disclosure" => read_disclosure(c, wanted)?,
        _ => return None,
    };
    c.token(",\"hash\":")?;
    c.string()?;
    c.token("}")?;
    c.at_end().then_some(quick)
}

/// The rest of a disclosure entry, through its closing brace.
fn read_disclosure<'a>(c: &mut Cursor<'a>, wanted: &impl Fn(&str) -> bool) -> Option<Quick<'a>> {
    if c.token(",\"reason\":").is_some() {
        c.string()?;
    }
    c.token(",\"time\":")?;
    c.string()?;
    c.token(",\"agent\":")?;
    let agent = c.string()?;
    c.token(",\"vendor\":")?;
    let vendor = c.string()?;
    if c.token(",\"ticket\":").is_some() {
        c.string()?;
    }
    c.token(",\"customers\":[")?;
    if c.token("]").is_none() {
        c.list(|c| c.string().map(drop))?;
    }
    for key in ["method", "route", "request_id", "client"] {
        c.token(",\"")?;
        c.token(key)?;
        c.token("\":")?;
        c.string()?;
    }
    c.token(",\"fields\":[")?;
    let mut matched = false;
    if c.token("]").is_none() {
        c.list(|c| {
            matched |= wanted(read_field(c)?);
            Some(())
        })?;
    }
    c.token("}")?;
    Some(if matched {
        Quick::Unsure
    } else {
        Quick::Disclosure { agent, vendor }
    })
}

/// `{"customer":"..","path":"..","class":"..","fingerprint":".."}`; returns the
/// fingerprint.
fn read_field<'a>(c: &mut Cursor<'a>) -> Option<&'a str> {
    c.token("{\"customer\":")?;
    c.string()?;
    c.token(",\"path\":")?;
    c.string()?;
    c.token(",\"class\":")?;
    c.string()?;
    c.token(",\"fingerprint\":")?;
    let fingerprint = c.string()?;
    c.token("}")?;
    Some(fingerprint)
}

/// A position in a line known to hold no escapes or control bytes.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a [u8] {
        self.text.as_bytes().get(self.at..).unwrap_or_default()
    }

    /// Steps over `expected` if it comes next.
    fn token(&mut self, expected: &str) -> Option<()> {
        self.rest().starts_with(expected.as_bytes()).then(|| {
            self.at += expected.len();
        })
    }

    /// A JSON string without escapes; returns its contents.
    fn string(&mut self) -> Option<&'a str> {
        self.token("\"")?;
        let len = crate::ledger::read::find_byte(self.rest(), b'"')?;
        let value = self.text.get(self.at..self.at + len)?;
        self.at += len + 1;
        Some(value)
    }

    /// An unsigned JSON integer that fits in a u64 (no sign, fraction,
    /// exponent or leading zero).
    fn number(&mut self) -> Option<u64> {
        let digits = self
            .rest()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let text = self.text.get(self.at..self.at + digits)?;
        if digits == 0 || (digits > 1 && text.starts_with('0')) {
            return None;
        }
        self.at += digits;
        text.parse().ok()
    }

    /// One or more comma-separated items, then `]`.
    fn list(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        loop {
            item(self)?;
            if self.token(",").is_none() {
                return self.token("]");
            }
        }
    }

    fn at_end(&self) -> bool {
        self.at == self.text.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::record::{encode, GENESIS};
    use crate::ledger::{Entry, EntryKind, FieldDisclosure};

    fn entry(kind: EntryKind, agent: &str, fields: usize) -> Entry {
        Entry {
            kind,
            reason: (kind == EntryKind::Denial).then(|| "token-not-yours".into()),
            time: "2025-03-01T10:00:00Z".parse().unwrap(),
            agent: agent.into(),
            vendor: "acme".into(),
            ticket: Some("T-1".into()),
            customers: vec!["c1".into(), "c2".into()],
            method: "GET".into(),
            route: "/customers/{customer}".into(),
            request_id: "r1".into(),
            client: "127.0.0.1:5000".into(),
            fields: (0..fields)
                .map(|i| FieldDisclosure {
                    customer: "c1".into(),
                    path: format!("devices[{i}].service_tag"),
                    class: "service-tag".into(),
                    fingerprint: format!("{i:064x}").parse().unwrap(),
                })
                .collect(),
        }
    }

    fn line(entry: &Entry) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&mut out, 41, &GENESIS, &entry.to_json());
        out.pop();
        out
    }

    #[test]
    fn written_disclosures_are_read_without_the_parser() {
        for fields in [0, 1, 3] {
            let bytes = line(&entry(EntryKind::Disclosure, "alice", fields));
            let got = quick(&bytes, |_| false);
            let expected = Quick::Disclosure {
                agent: "alice",
                vendor: "acme",
            };
            assert_eq!(got, expected, "{fields} fields");
        }
        let denial = line(&entry(EntryKind::Denial, "alice", 0));
        assert_eq!(quick(&denial, |_| false), Quick::Denial);
    }

    #[test]
    fn a_wanted_fingerprint_goes_to_the_parser() {
        let bytes = line(&entry(EntryKind::Disclosure, "alice", 3));
        let wanted = format!("{:064x}", 2);
        assert_eq!(quick(&bytes, |f| f == wanted), Quick::Unsure);
    }

    #[test]
    fn escapes_and_unusual_layouts_go_to_the_parser() {
        let escaped = line(&entry(EntryKind::Disclosure, "al\"ice", 1));
        assert_eq!(quick(&escaped, |_| false), Quick::Unsure);
        let plain = String::from_utf8(line(&entry(EntryKind::Disclosure, "a", 1))).unwrap();
        let variants = [
            plain.replace("\"seq\":41", "\"seq\": 41"),
            plain.replace("\"seq\":41", "\"seq\":041"),
            plain.replace("\"seq\":41", "\"seq\":41.0"),
            plain.replace("\"ticket\":\"T-1\"", "\"ticket\":null"),
            plain.replace("\"disclosure\"", "\"Disclosure\""),
            format!("{plain} "),
            plain.replace("\"}]}", "\"},]}"),
        ];
        for variant in variants {
            assert_ne!(variant, plain);
            assert_eq!(
                quick(variant.as_bytes(), |_| false),
                Quick::Unsure,
                "{variant}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn accepted_lines_read_as_the_parser_reads_them(
            agent in ".{0,12}",
            vendor in "[a-z\\\\\"é\\u{1}-]{0,8}",
            ticket in proptest::option::of(".{0,6}"),
            fields in 0usize..4,
        ) {
            let mut e = entry(EntryKind::Disclosure, &agent, fields);
            e.vendor = vendor;
            e.ticket = ticket;
            let bytes = line(&e);
            let parsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            match quick(&bytes, |_| false) {
                Quick::Disclosure { agent, vendor } => {
                    proptest::prop_assert_eq!(agent, parsed["entry"]["agent"].as_str().unwrap());
                    proptest::prop_assert_eq!(vendor, parsed["entry"]["vendor"].as_str().unwrap());
                }
                Quick::Unsure => {
                    let raw = String::from_utf8_lossy(&bytes);
                    proptest::prop_assert!(raw.contains('\\'), "{}", raw);
                }
                Quick::Denial => proptest::prop_assert!(false, "not a denial"),
            }
        }
    }

    #[test]
    fn every_cut_of_a_disclosure_goes_to_the_parser() {
        let bytes = line(&entry(EntryKind::Disclosure, "alice", 2));
        for cut in 0..bytes.len() {
            assert_eq!(quick(&bytes[..cut], |_| false), Quick::Unsure, "cut {cut}");
        }
    }
}
