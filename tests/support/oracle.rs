//! The leak oracle: every true sensitive value of the data set, with simple
//! variants, scanned for in everything an agent received.

use base64::Engine;

use keyhole::demo::data::Customer;

/// Variants of a value an encoder or a careless transform might produce.
pub fn variants(value: &str) -> Vec<String> {
    let mut out = vec![value.to_string(), value.to_lowercase()];
    let spaced: String = value.chars().flat_map(|c| [c, ' ']).collect();
    out.push(spaced.trim_end().to_string());
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 7 && digits.len() != value.len() {
        out.push(digits);
    }
    out.push(base64::engine::general_purpose::STANDARD.encode(value));
    out.push(
        serde_json::to_string(value)
            .unwrap_or_default()
            .trim_matches('"')
            .to_string(),
    );
    out
}

/// The sensitive values of `customer` that must not appear, with their variants.
pub fn forbidden(customer: &Customer) -> Vec<String> {
    customer
        .sensitive_values()
        .iter()
        .filter(|v| v.len() >= 5)
        .flat_map(|v| variants(v))
        .collect()
}

/// The forbidden values found in `bytes` (empty when nothing leaked).
pub fn leaks(bytes: &[u8], forbidden: &[String]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    forbidden
        .iter()
        .filter(|v| text.contains(v.as_str()))
        .cloned()
        .collect()
}

/// Panics naming what leaked (the test's own data: synthetic, fine to print).
pub fn assert_no_leak(bytes: &[u8], forbidden: &[String]) {
    let found = leaks(bytes, forbidden);
    assert!(
        found.is_empty(),
        "leaked {found:?} in {}",
        String::from_utf8_lossy(bytes)
    );
}
