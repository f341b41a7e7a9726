//! The concealing actions on single values: mask, redact, generalize.

use std::borrow::Cow;

use super::doc::Node;

use crate::policy::{Generalize, REDACTED};

/// Masks all but the first `keep_first` and last `keep_last` characters with `*`.
/// When that would keep the whole value, everything is masked.
pub fn mask(value: &str, keep_first: usize, keep_last: usize) -> String {
    let n = value.chars().count();
    if keep_first + keep_last >= n {
        return "*".repeat(n.max(1));
    }
    value
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i < keep_first || i >= n - keep_last {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// The text of a scalar, for masking or tokenizing; `None` for objects and arrays.
/// Borrowed for strings, which are most of them.
pub fn scalar_text<'n>(value: &'n Node<'_>) -> Option<Cow<'n, str>> {
    match value {
        Node::String(s) => Some(Cow::Borrowed(s)),
        Node::Number(n) => Some(Cow::Owned(n.to_string())),
        Node::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Node::Null => None,
        Node::Array(_) | Node::Object(_) => None,
    }
}

/// A string value that replaces whatever was there.
pub fn text<'a>(s: impl Into<Cow<'a, str>>) -> Node<'a> {
    Node::String(s.into())
}

/// Coarsens a value; anything that does not have the expected shape is redacted.
pub fn generalize<'a>(value: &Node<'a>, to: Generalize) -> Node<'a> {
    match (to, value) {
        (Generalize::Year, Node::String(s)) => date_prefix(s, 4),
        (Generalize::Month, Node::String(s)) => date_prefix(s, 7),
        (Generalize::City, Node::Object(m)) => keep(m, &["city", "region", "country"]),
        (Generalize::Region, Node::Object(m)) => keep(m, &["region", "country"]),
        (Generalize::Country, Node::Object(m)) => keep(m, &["country"]),
        _ => text(REDACTED),
    }
}

fn date_prefix<'a>(s: &str, len: usize) -> Node<'a> {
    let looks_like_date = s.len() >= len
        && s.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && (len == 4 || s.as_bytes().get(4) == Some(&b'-'));
    if looks_like_date && s.is_char_boundary(len) {
        text(s[..len].to_string())
    } else {
        text(REDACTED)
    }
}

fn keep<'a>(members: &[(Cow<'a, str>, Node<'a>)], keys: &[&str]) -> Node<'a> {
    let kept = members
        .iter()
        .filter(|(k, v)| keys.contains(&k.as_ref()) && matches!(v, Node::String(_)))
        .cloned()
        .collect();
    Node::Object(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn generalize(value: &Value, to: Generalize) -> Value {
        super::generalize(&Node::from_value(value), to).to_value()
    }

    #[test]
    fn mask_keeps_only_what_is_asked() {
        assert_eq!(mask("+1-555-013-4821", 0, 2), "*************21");
        assert_eq!(mask("alice@example.com", 0, 0), "*****************");
        assert_eq!(mask("ab", 1, 1), "**");
        assert_eq!(mask("", 0, 0), "*");
        assert_eq!(mask("ÄÖÜxyz", 1, 1), "Ä****z");
    }

    #[test]
    fn generalize_coarsens_or_redacts() {
        assert_eq!(
            generalize(&json!("2023-05-14"), Generalize::Year),
            json!("2023")
        );
        assert_eq!(
            generalize(&json!("2023-05-14"), Generalize::Month),
            json!("2023-05")
        );
        assert_eq!(
            generalize(&json!("May 2023"), Generalize::Year),
            json!(REDACTED)
        );
        let addr =
            json!({"street": "1 Main St", "city": "Austin", "region": "TX", "country": "US"});
        assert_eq!(
            generalize(&addr, Generalize::City),
            json!({"city": "Austin", "region": "TX", "country": "US"})
        );
        assert_eq!(
            generalize(&json!("1 Main St"), Generalize::City),
            json!(REDACTED)
        );
    }
}
