//! Finding tokens inside larger text, and swapping them for clear values on
//! the way upstream.
//!
//! A token is `tok_`, a key id of 1 to 8 characters `[a-z0-9]`, `_`, and a
//! body of at least [`MIN_BODY_CHARS`](super::seal) characters from the
//! base64url alphabet `[A-Za-z0-9_-]`, as the regex [`super::TOKEN_PATTERN`]
//! says. The body runs to the first character outside that alphabet, so
//! sentence punctuation (`.,;:!?)]}'"`), whitespace, `/`, `&`, `=` and `#` all
//! end a token; a token glued to a following `-` or `_` is not split off.
//! `tok_` must not follow an ASCII letter, digit or `_`.

use std::ops::Range;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

use super::config::{is_key_id_byte, MAX_KEY_ID_LEN};
use super::seal::MIN_BODY_CHARS;
use super::{Holder, TokenRefused, TokenVault, TOKEN_PREFIX};

/// Everything but RFC 3986 unreserved characters: a clear value put into a
/// path segment or query parameter can neither split it nor add one.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Byte ranges of everything in `text` that has the shape of a token, in order.
pub fn find_tokens(text: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        while let Some(offset) = text.get(pos..)?.find(TOKEN_PREFIX) {
            let start = pos + offset;
            if let Some(end) = token_end(text.as_bytes(), start) {
                pos = end;
                return Some(start..end);
            }
            // `t` is ASCII, so the next byte starts a character.
            pos = start + 1;
        }
        pos = text.len();
        None
    })
}

/// Where the token starting at `start` ends, if one does.
fn token_end(bytes: &[u8], start: usize) -> Option<usize> {
    let glued = start
        .checked_sub(1)
        .and_then(|i| bytes.get(i))
        .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_');
    if glued {
        return None;
    }
    let id_start = start + TOKEN_PREFIX.len();
    let id_len = run_len(bytes.get(id_start..)?, is_key_id_byte);
    if !(1..=MAX_KEY_ID_LEN).contains(&id_len) || bytes.get(id_start + id_len) != Some(&b'_') {
        return None;
    }
    let body_start = id_start + id_len + 1;
    let body_len = run_len(bytes.get(body_start..)?, is_body_byte);
    (body_len >= MIN_BODY_CHARS).then_some(body_start + body_len)
}

fn run_len(bytes: &[u8], pred: fn(u8) -> bool) -> usize {
    bytes.iter().take_while(|&&b| pred(b)).count()
}

fn is_body_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// How a clear value is written where its token stood.
type Splice = fn(&str, &mut String);

fn splice_raw(value: &str, out: &mut String) {
    out.push_str(value);
}

fn splice_uri(value: &str, out: &mut String) {
    out.extend(utf8_percent_encode(value, URI_COMPONENT));
}

impl TokenVault {
    /// Replaces every token found in `text` with its clear value, verbatim.
    /// For JSON strings and other already-decoded text; use
    /// [`TokenVault::detokenize_uri`] for a path or query string.
    /// `Ok(None)` when `text` holds no token. One refused token refuses all.
    pub fn detokenize_text(
        &self,
        holder: &Holder<'_>,
        text: &str,
    ) -> Result<Option<String>, TokenRefused> {
        Ok(self.splice(holder, text, splice_raw)?.map(|(s, _)| s))
    }

    /// Like [`TokenVault::detokenize_text`] for a request target (path and
    /// query), percent-encoding each clear value so that a value holding `/`,
    /// `?`, `&`, `=` or `#` stays inside the segment or parameter its token
    /// occupied.
    pub fn detokenize_uri(
        &self,
        holder: &Holder<'_>,
        path_and_query: &str,
    ) -> Result<Option<String>, TokenRefused> {
        Ok(self
            .splice(holder, path_and_query, splice_uri)?
            .map(|(s, _)| s))
    }

    /// Detokenizes, in place, every string in `value` and every object key;
    /// returns how many tokens were swapped. Keys count because a client may
    /// key a map by a value it only knows as a token. If a swapped key equals
    /// a key already present, the swapped entry wins, as the later duplicate
    /// does when JSON is parsed. One refused token refuses the whole body.
    pub fn detokenize_json(
        &self,
        holder: &Holder<'_>,
        value: &mut Value,
    ) -> Result<usize, TokenRefused> {
        match value {
            Value::String(s) => Ok(self.swap_string(holder, s)?),
            Value::Array(items) => items
                .iter_mut()
                .try_fold(0, |n, item| Ok(n + self.detokenize_json(holder, item)?)),
            Value::Object(map) => {
                let mut swapped = 0;
                let mut renamed = Vec::new();
                for (key, item) in map.iter_mut() {
                    swapped += self.detokenize_json(holder, item)?;
                    if let Some((clear, n)) = self.splice(holder, key, splice_raw)? {
                        renamed.push((key.clone(), clear));
                        swapped += n;
                    }
                }
                for (old, new) in renamed {
                    if let Some(item) = map.remove(&old) {
                        map.insert(new, item);
                    }
                }
                Ok(swapped)
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => Ok(0),
        }
    }

    fn swap_string(&self, holder: &Holder<'_>, s: &mut String) -> Result<usize, TokenRefused> {
        match self.splice(holder, s, splice_raw)? {
            Some((clear, n)) => {
                *s = clear;
                Ok(n)
            }
            None => Ok(0),
        }
    }

    /// The text with every token replaced through `splice`, and how many.
    fn splice(
        &self,
        holder: &Holder<'_>,
        text: &str,
        splice: Splice,
    ) -> Result<Option<(String, usize)>, TokenRefused> {
        let mut out: Option<String> = None;
        let mut copied = 0;
        let mut count = 0;
        for range in find_tokens(text) {
            let clear = self.detokenize(holder, &text[range.clone()])?;
            let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[copied..range.start]);
            splice(&clear.value, out);
            copied = range.end;
            count += 1;
        }
        Ok(out.map(|mut out| {
            out.push_str(&text[copied..]);
            (out, count)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(len: usize) -> String {
        "Ab9-_".chars().cycle().take(len).collect()
    }

    fn found(text: &str) -> Vec<&str> {
        find_tokens(text).map(|r| &text[r]).collect()
    }

    #[test]
    fn finds_tokens_ended_by_punctuation() {
        let token = format!("tok_k1_{}", body(60));
        for (before, after) in [
            ("Tag ", "."),
            ("(", ")"),
            ("\"", "\","),
            ("/devices/", "?x=1"),
            ("q=", "&r=2"),
            ("", ""),
            ("see ", "; then"),
            ("é", "…"),
        ] {
            let text = format!("{before}{token}{after}");
            assert_eq!(found(&text), vec![token.as_str()], "{text}");
        }
    }

    #[test]
    fn finds_several_in_order() {
        let a = format!("tok_k1_{}", body(50));
        let b = format!("tok_k22_{}", body(70));
        let text = format!("{a}, {b} and {a}.");
        assert_eq!(found(&text), vec![a.as_str(), b.as_str(), a.as_str()]);
    }

    #[test]
    fn ignores_lookalikes() {
        let b = body(60);
        for text in [
            format!("xtok_k1_{b}"),
            format!("_tok_k1_{b}"),
            format!("tok_K1_{b}"),
            format!("tok__{b}"),
            format!("tok_abcdefghi_{b}"),
            format!("tok_k1_{}", body(MIN_BODY_CHARS - 1)),
            "tok_".into(),
            "tok_k1_".into(),
            "stock_price".into(),
        ] {
            assert!(found(&text).is_empty(), "{text}");
        }
    }

    #[test]
    fn a_prefix_inside_a_body_is_not_a_second_token() {
        let token = format!("tok_k1_{}tok_k1_{}", body(20), body(50));
        assert_eq!(found(&token), vec![token.as_str()]);
    }

    #[test]
    fn agrees_with_the_documented_pattern() {
        let re = regex::Regex::new(super::super::TOKEN_PATTERN).unwrap();
        let b = body(60);
        let text = format!(
            "a tok_k1_{b}. b (tok_z9_{b}) xtok_k1_{b} tok_k1_{} é tok_k1_{b}-x _tok_k1_{b}",
            body(10)
        );
        let by_regex: Vec<&str> = re.find_iter(&text).map(|m| m.as_str()).collect();
        assert_eq!(found(&text), by_regex);
        assert_eq!(by_regex.len(), 3, "{by_regex:?}");
    }

    #[test]
    fn uri_splice_keeps_values_inside_their_component() {
        let mut out = String::new();
        splice_uri("a b/../c?d=e&f#g", &mut out);
        assert_eq!(out, "a%20b%2F..%2Fc%3Fd%3De%26f%23g");
    }
}
