//! Per-field expectations of a policy test case, and what a value became.
//!
//! A value is classified by comparing the transform's output with the case's
//! input at the same concrete path (`devices[0].service_tag`), so a case says
//! "this was masked" without spelling out the mask.

use std::fmt;

use serde_json::Value;

use crate::policy::REDACTED;
use crate::token::TOKEN_PREFIX;

/// What happened to one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Shown unchanged (passed, or disclosed under the ticket).
    Clear,
    /// Some characters replaced by `*`.
    Masked,
    /// Replaced by the redaction marker.
    Redacted,
    /// Replaced by a `tok_…` token.
    Token,
    /// Coarsened: a date cut to a prefix, an object reduced to some of its members.
    Generalized,
    /// Free text with some matches replaced by detectors.
    Rewritten,
    /// Not in the output.
    Absent,
}

impl Kind {
    /// The name used in case files.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Clear => "clear",
            Kind::Masked => "masked",
            Kind::Redacted => "redacted",
            Kind::Token => "token",
            Kind::Generalized => "generalized",
            Kind::Rewritten => "rewritten",
            Kind::Absent => "absent",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a case expects of one field.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// Exactly this kind.
    Kind(Kind),
    /// Present but not clear: any of masked, redacted, token, generalized, rewritten.
    /// Lets a case hold whatever token implementation is in place.
    Concealed,
    /// Exactly this JSON value.
    Equals(Value),
    /// Present, and its text does not contain this string (for detectors in free text).
    Excludes(String),
}

const KINDS: &str = "clear, masked, redacted, token, generalized, rewritten, absent or concealed";

impl Expected {
    /// Reads `"clear"`, `{ equals = ... }` or `{ excludes = "..." }`.
    pub fn parse(value: &Value) -> Result<Expected, String> {
        if let Some(name) = value.as_str() {
            return Self::parse_kind(name);
        }
        let table = value
            .as_object()
            .filter(|t| t.len() == 1)
            .ok_or_else(|| format!("expected {KINDS}, or a table with `equals` or `excludes`"))?;
        match (table.get("equals"), table.get("excludes")) {
            (Some(v), _) => Ok(Expected::Equals(v.clone())),
            (_, Some(Value::String(s))) if !s.is_empty() => Ok(Expected::Excludes(s.clone())),
            _ => Err("a field expectation table has one key: `equals` (any value) or `excludes` (a non-empty string)".into()),
        }
    }

    fn parse_kind(name: &str) -> Result<Expected, String> {
        let kind = match name {
            "clear" => Kind::Clear,
            "masked" => Kind::Masked,
            "redacted" => Kind::Redacted,
            "token" => Kind::Token,
            "generalized" => Kind::Generalized,
            "rewritten" => Kind::Rewritten,
            "absent" => Kind::Absent,
            "concealed" => return Ok(Expected::Concealed),
            other => return Err(format!("unknown expectation {other:?} (expected {KINDS})")),
        };
        Ok(Expected::Kind(kind))
    }

    /// `None` when `after` (the output at the path) meets the expectation given
    /// `before` (the input there); otherwise what was found instead.
    pub fn check(&self, before: &Value, after: Option<&Value>) -> Option<String> {
        let kind = classify(before, after);
        let shown = || match after {
            Some(v) => format!("{kind} ({v})"),
            None => kind.to_string(),
        };
        let met = match self {
            Expected::Kind(want) => kind == *want,
            Expected::Concealed => !matches!(kind, Kind::Clear | Kind::Absent),
            Expected::Equals(want) => after == Some(want),
            Expected::Excludes(text) => after.is_some_and(|v| !v.to_string().contains(text)),
        };
        (!met).then(shown)
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Kind(kind) => write!(f, "{kind}"),
            Expected::Concealed => f.write_str("concealed"),
            Expected::Equals(v) => write!(f, "equal to {v}"),
            Expected::Excludes(s) => write!(f, "present without {s:?}"),
        }
    }
}

/// What the transform made of `before`.
pub fn classify(before: &Value, after: Option<&Value>) -> Kind {
    let Some(after) = after else {
        return Kind::Absent;
    };
    if after == before {
        return Kind::Clear;
    }
    match (before, after) {
        (_, Value::String(s)) if s.starts_with(TOKEN_PREFIX) => Kind::Token,
        (_, Value::String(s)) if s == REDACTED => Kind::Redacted,
        (Value::String(b), Value::String(a)) if b.starts_with(a.as_str()) => Kind::Generalized,
        (Value::Object(b), Value::Object(a)) if a.iter().all(|(k, v)| b.get(k) == Some(v)) => {
            Kind::Generalized
        }
        (b, Value::String(a)) if is_mask_of(b, a) => Kind::Masked,
        _ => Kind::Rewritten,
    }
}

/// Same length as the original, every character either kept in place or `*`.
fn is_mask_of(before: &Value, after: &str) -> bool {
    let text = match before {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return false,
    };
    text.chars().count() == after.chars().count()
        && after.contains('*')
        && text
            .chars()
            .zip(after.chars())
            .all(|(b, a)| a == b || a == '*')
}

/// The value at a concrete path such as `devices[0].service_tag` (a leading `$` or
/// `$.` is allowed; `$` alone is the root). `Err` when the path is malformed.
pub fn lookup<'a>(root: &'a Value, path: &str) -> Result<Option<&'a Value>, String> {
    let rest = match path {
        "$" | "" => return Ok(Some(root)),
        _ => path.strip_prefix("$.").unwrap_or(path),
    };
    let mut current = root;
    for segment in rest.split('.') {
        let (name, mut indices) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if name.is_empty() {
            return Err(format!("invalid path {path:?}: empty segment"));
        }
        let Some(next) = current.get(name) else {
            return Ok(None);
        };
        current = next;
        while !indices.is_empty() {
            let close = indices
                .find(']')
                .ok_or_else(|| format!("invalid path {path:?}: unclosed ["))?;
            let index: usize = indices[1..close]
                .parse()
                .map_err(|_| format!("invalid path {path:?}: indices are numbers, e.g. [0]"))?;
            let Some(next) = current.get(index) else {
                return Ok(None);
            };
            current = next;
            indices = &indices[close + 1..];
        }
    }
    Ok(Some(current))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_what_the_transform_did() {
        let tag = json!("7XK2M9Q");
        assert_eq!(classify(&tag, Some(&tag)), Kind::Clear);
        assert_eq!(classify(&tag, None), Kind::Absent);
        assert_eq!(classify(&tag, Some(&json!("tok_AbC123"))), Kind::Token);
        assert_eq!(classify(&tag, Some(&json!(REDACTED))), Kind::Redacted);
        assert_eq!(classify(&tag, Some(&json!("*****9Q"))), Kind::Masked);
        let date = json!("2021-03-04");
        assert_eq!(classify(&date, Some(&json!("2021"))), Kind::Generalized);
        let addr = json!({"street": "1 Main", "city": "Austin"});
        assert_eq!(
            classify(&addr, Some(&json!({"city": "Austin"}))),
            Kind::Generalized
        );
        let note = json!("called about 7XK2M9Q today");
        assert_eq!(
            classify(&note, Some(&json!("called about [redacted] today"))),
            Kind::Rewritten
        );
    }

    #[test]
    fn expectations_parse_and_judge() {
        let masked = Expected::parse(&json!("masked")).unwrap();
        assert_eq!(masked.check(&json!("abcd"), Some(&json!("***d"))), None);
        let miss = masked.check(&json!("abcd"), Some(&json!("abcd"))).unwrap();
        assert_eq!(miss, "clear (\"abcd\")");
        let concealed = Expected::parse(&json!("concealed")).unwrap();
        assert_eq!(concealed.check(&json!("x"), Some(&json!(REDACTED))), None);
        assert!(concealed.check(&json!("x"), None).is_some());
        let excludes = Expected::parse(&json!({"excludes": "7XK"})).unwrap();
        assert!(excludes
            .check(&json!("a 7XK"), Some(&json!("a 7XK")))
            .is_some());
        assert!(Expected::parse(&json!("shown"))
            .unwrap_err()
            .contains("unknown expectation"));
        assert!(Expected::parse(&json!({"maybe": 1})).is_err());
    }

    #[test]
    fn looks_up_concrete_paths() {
        let doc = json!({"devices": [{"tag": "A"}, {"tag": "B"}], "m": [[1, 2]]});
        assert_eq!(lookup(&doc, "devices[1].tag").unwrap(), Some(&json!("B")));
        assert_eq!(lookup(&doc, "$.m[0][1]").unwrap(), Some(&json!(2)));
        assert_eq!(lookup(&doc, "devices[5].tag").unwrap(), None);
        assert_eq!(lookup(&doc, "$").unwrap(), Some(&doc));
        assert!(lookup(&doc, "devices[*].tag").is_err());
    }
}
