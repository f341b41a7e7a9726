//! Field rules: what a field becomes, and which ticket categories reveal it.

use serde::Deserialize;

use super::written::NameOrTable;
use crate::token::TokenScope;

/// What a rule does to a value that is not revealed in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Shown as is: the architect declared it not sensitive.
    Pass,
    /// Replaced by a fixed marker.
    Redact,
    /// All characters but the first/last few replaced by `*`.
    Mask {
        /// Characters kept at the start.
        keep_first: usize,
        /// Characters kept at the end.
        keep_last: usize,
    },
    /// Replaced by a per-agent reversible token.
    Tokenize,
    /// Coarsened: a date to its year or month, an address to its city, region or country.
    Generalize(Generalize),
    /// Removed from the response.
    Drop,
}

impl Action {
    /// Whether the action works on one value: masking and tokenizing a list or
    /// an object can only redact it, and a rule written for one value never
    /// discloses whatever else an upstream puts in its place.
    pub fn expects_scalar(&self) -> bool {
        matches!(self, Action::Mask { .. } | Action::Tokenize)
    }
}

/// How far `generalize` coarsens a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Generalize {
    /// `2023-05-14` → `2023`.
    Year,
    /// `2023-05-14` → `2023-05`.
    Month,
    /// An address object reduced to city, region and country.
    City,
    /// An address object reduced to region and country.
    Region,
    /// An address object reduced to its country.
    Country,
}

/// The marker `redact` writes.
pub const REDACTED: &str = "[redacted]";

/// One compiled field rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRule {
    /// The field path as written in the policy, for explain and the ledger.
    pub path: String,
    /// What happens when the value is not revealed.
    pub action: Action,
    /// Ticket categories that reveal the clear value; empty means the action always applies.
    pub justify: Vec<String>,
    /// Field class: groups values across fields for tokens and ledger fingerprints.
    pub class: std::sync::Arc<str>,
    /// Who may use the token this rule issues.
    pub scope: TokenScope,
    /// `file:line` of the rule.
    pub origin: String,
}

/// A rule as written: `"pass"` or `{ action = "mask", keep_last = 2, justify = [...] }`.
#[derive(Debug, Clone)]
pub enum RuleSpec {
    /// Just the action's name.
    Short(String),
    /// The action with its options.
    Full(RuleTable),
}

impl<'de> Deserialize<'de> for RuleSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let expecting = r#"an action name or a table such as { action = "mask", keep_last = 4 }"#;
        Ok(match super::written::name_or_table(d, expecting)? {
            NameOrTable::Name(action) => RuleSpec::Short(action),
            NameOrTable::Table(table) => RuleSpec::Full(table),
        })
    }
}

/// The table form of a rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTable {
    /// The action's name.
    pub action: String,
    /// `mask`: characters kept at the start.
    #[serde(default)]
    pub keep_first: Option<usize>,
    /// `mask`: characters kept at the end.
    #[serde(default)]
    pub keep_last: Option<usize>,
    /// `generalize`: how far.
    #[serde(default)]
    pub to: Option<Generalize>,
    /// Ticket categories that reveal the clear value.
    #[serde(default)]
    pub justify: Vec<String>,
    /// Field class (defaults to the last path segment, `_` as `-`).
    #[serde(default)]
    pub class: Option<String>,
    /// `tokenize`: who may use the token.
    #[serde(default)]
    pub scope: Option<TokenScope>,
}

impl RuleSpec {
    /// Compiles the rule for `path`; the error is the reason, without location.
    pub fn compile(&self, path: &str, origin: String) -> Result<FieldRule, String> {
        let table = match self {
            RuleSpec::Short(action) => RuleTable {
                action: action.clone(),
                keep_first: None,
                keep_last: None,
                to: None,
                justify: Vec::new(),
                class: None,
                scope: None,
            },
            RuleSpec::Full(table) => table.clone(),
        };
        let action = parse_action(&table)?;
        if action == Action::Pass && !table.justify.is_empty() {
            return Err(
                "a `pass` rule shows the value to everyone: `justify` makes no sense".into(),
            );
        }
        if table.scope.is_some() && action != Action::Tokenize {
            return Err("`scope` only applies to `tokenize`".into());
        }
        if let Some(category) = table.justify.iter().find(|c| !valid_name(c)) {
            return Err(format!("invalid justify category {category:?}"));
        }
        let class = table.class.unwrap_or_else(|| default_class(path));
        if !valid_name(&class) {
            return Err(format!("invalid class {class:?}"));
        }
        Ok(FieldRule {
            path: path.to_string(),
            action,
            justify: table.justify,
            class: class.into(),
            scope: table.scope.unwrap_or_default(),
            origin,
        })
    }
}

/// Parses the action name and its options, refusing options that belong to another action.
pub fn parse_action(table: &RuleTable) -> Result<Action, String> {
    let mask_opts = table.keep_first.is_some() || table.keep_last.is_some();
    let action = match table.action.as_str() {
        "pass" => Action::Pass,
        "redact" => Action::Redact,
        "drop" => Action::Drop,
        "tokenize" => Action::Tokenize,
        "mask" => Action::Mask {
            keep_first: table.keep_first.unwrap_or(0),
            keep_last: table.keep_last.unwrap_or(0),
        },
        "generalize" => Action::Generalize(
            table
                .to
                .ok_or("`generalize` needs `to` (year, month, city, region or country)")?,
        ),
        other => {
            return Err(format!(
            "unknown action {other:?} (expected pass, redact, mask, tokenize, generalize or drop)"
        ))
        }
    };
    if mask_opts && !matches!(action, Action::Mask { .. }) {
        return Err("`keep_first`/`keep_last` only apply to `mask`".into());
    }
    if table.to.is_some() && !matches!(action, Action::Generalize(_)) {
        return Err("`to` only applies to `generalize`".into());
    }
    Ok(action)
}

/// `devices[*].service_tag` → `service-tag`.
pub fn default_class(path: &str) -> String {
    let last = path.rsplit('.').next().unwrap_or(path);
    last.trim_end_matches("[*]").replace('_', "-")
}

/// Categories and classes: short lowercase words, so they are safe in headers and logs.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(toml_rule: &str) -> Result<FieldRule, String> {
        let spec: RuleSpec = toml::from_str::<toml::Table>(&format!("r = {toml_rule}"))
            .map(|t| t["r"].clone().try_into().unwrap())
            .unwrap();
        spec.compile("devices[*].service_tag", "t:1".into())
    }

    #[test]
    fn short_and_full_forms_compile() {
        assert_eq!(full("\"redact\"").unwrap().action, Action::Redact);
        let rule = full("{ action = \"mask\", keep_last = 2, justify = [\"dispatch\"] }").unwrap();
        assert_eq!(
            rule.action,
            Action::Mask {
                keep_first: 0,
                keep_last: 2
            }
        );
        assert_eq!(rule.justify, vec!["dispatch".to_string()]);
        assert_eq!(&*rule.class, "service-tag");
    }

    #[test]
    fn rejections_name_the_reason() {
        assert!(full("\"shuffle\"").unwrap_err().contains("unknown action"));
        assert!(full("{ action = \"generalize\" }")
            .unwrap_err()
            .contains("needs `to`"));
        assert!(full("{ action = \"redact\", keep_last = 1 }")
            .unwrap_err()
            .contains("only apply to `mask`"));
        assert!(full("{ action = \"pass\", justify = [\"x\"] }")
            .unwrap_err()
            .contains("justify"));
        assert!(full("{ action = \"mask\", justify = [\"Bad Category\"] }")
            .unwrap_err()
            .contains("invalid justify"));
        assert!(full("{ action = \"redact\", scope = \"vendor\" }")
            .unwrap_err()
            .contains("scope"));
    }
}
