//! The concealing actions on single values: mask, redact, generalize.

use std::borrow::Cow;

use serde_json::{Map, Value};

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
pub fn scalar_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Null => None,
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// Coarsens a value; anything that does not have the expected shape is redacted.
pub fn generalize(value: &Value, to: Generalize) -> Value {
    match (to, value) {
        (Generalize::Year, Value::String(s)) => date_prefix(s, 4),
        (Generalize::Month, Value::String(s)) => date_prefix(s, 7),
        (Generalize::City, Value::Object(m)) => keep(m, &["city", "region", "country"]),
        (Generalize::Region, Value::Object(m)) => keep(m, &["region", "country"]),
        (Generalize::Country, Value::Object(m)) => keep(m, &["country"]),
        _ => Value::String(REDACTED.to_string()),
    }
}

fn date_prefix(s: &str, len: usize) -> Value {
    let looks_like_date = s.len() >= len
        && s.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && (len == 4 || s.as_bytes().get(4) == Some(&b'-'));
    if looks_like_date && s.is_char_boundary(len) {
        Value::String(s[..len].to_string())
    } else {
        Value::String(REDACTED.to_string())
    }
}

fn keep(m: &Map<String, Value>, keys: &[&str]) -> Value {
    let kept = m
        .iter()
        .filter(|(k, v)| keys.contains(&k.as_str()) && v.is_string())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
