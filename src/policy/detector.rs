//! Detectors: patterns that find sensitive values in free text, wherever they appear.

use regex::Regex;
use serde::Deserialize;

use super::rule::{parse_action, valid_name, Action, RuleTable};
use crate::token::TokenScope;

/// A compiled `[[detector]]`.
#[derive(Debug, Clone)]
pub struct Detector {
    /// The detector's name, also its default field class.
    pub name: String,
    /// The compiled pattern.
    pub pattern: Regex,
    /// What a match becomes when not revealed.
    pub action: Action,
    /// Ticket categories that reveal a match in the clear.
    pub justify: Vec<String>,
    /// Field class of what it finds (tokens and fingerprints).
    pub class: std::sync::Arc<str>,
    /// Token scope when `action` is `tokenize`.
    pub scope: TokenScope,
    /// `file:line` it was declared at.
    pub origin: String,
}

/// A `[[detector]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorSpec {
    /// Name (lowercase, `-`).
    pub name: String,
    /// Regular expression (Rust `regex` syntax: linear time, no backtracking).
    pub pattern: String,
    /// Action name: mask, redact or tokenize.
    pub action: String,
    /// `mask`: characters kept at the start.
    #[serde(default)]
    pub keep_first: Option<usize>,
    /// `mask`: characters kept at the end.
    #[serde(default)]
    pub keep_last: Option<usize>,
    /// Categories that reveal a match.
    #[serde(default)]
    pub justify: Vec<String>,
    /// Field class (defaults to `name`).
    #[serde(default)]
    pub class: Option<String>,
    /// Token scope.
    #[serde(default)]
    pub scope: Option<TokenScope>,
}

/// Largest compiled program a detector may have; keeps hostile or careless patterns cheap.
const MAX_PATTERN_SIZE: usize = 1 << 20;

impl DetectorSpec {
    /// Compiles the detector; the error is the reason.
    pub fn compile(self, origin: String) -> Result<Detector, String> {
        if !valid_name(&self.name) {
            return Err(format!("invalid detector name {:?}", self.name));
        }
        let pattern = regex::RegexBuilder::new(&self.pattern)
            .size_limit(MAX_PATTERN_SIZE)
            .build()
            .map_err(|e| format!("detector {:?}: invalid pattern: {e}", self.name))?;
        if pattern.is_match("") {
            return Err(format!(
                "detector {:?}: pattern matches the empty string",
                self.name
            ));
        }
        let table = RuleTable {
            action: self.action,
            keep_first: self.keep_first,
            keep_last: self.keep_last,
            to: None,
            justify: self.justify.clone(),
            class: None,
            scope: self.scope,
        };
        let action = parse_action(&table).map_err(|e| format!("detector {:?}: {e}", self.name))?;
        if matches!(action, Action::Pass | Action::Drop | Action::Generalize(_)) {
            return Err(format!(
                "detector {:?}: action must be mask, redact or tokenize",
                self.name
            ));
        }
        let class = self.class.unwrap_or_else(|| self.name.clone()).into();
        Ok(Detector {
            name: self.name,
            pattern,
            action,
            justify: self.justify,
            class,
            scope: self.scope.unwrap_or_default(),
            origin,
        })
    }
}

/// A policy file's detectors, with one combined automaton so a string that
/// matches none of them (the common case) is scanned once, not once per detector.
#[derive(Debug)]
pub struct Detectors {
    list: Vec<Detector>,
    set: regex::RegexSet,
    /// Classes of the detectors that can reveal (those with `justify`).
    revealing: Vec<std::sync::Arc<str>>,
}

impl Detectors {
    /// Combines compiled detectors.
    pub fn new(list: Vec<Detector>) -> Result<Detectors, String> {
        let set = regex::RegexSetBuilder::new(list.iter().map(|d| d.pattern.as_str()))
            .size_limit(MAX_PATTERN_SIZE * list.len().max(1))
            .build()
            .map_err(|e| format!("detectors cannot be combined: {e}"))?;
        let revealing = list
            .iter()
            .filter(|d| !d.justify.is_empty())
            .map(|d| d.class.clone())
            .collect();
        Ok(Detectors {
            list,
            set,
            revealing,
        })
    }

    /// Indexes (into the list) of the detectors that match `text`, in declaration order.
    pub fn matching(&self, text: &str) -> regex::SetMatches {
        self.set.matches(text)
    }

    /// True when some detector matches `text`.
    pub fn any_match(&self, text: &str) -> bool {
        // Most policies scan most text; one without detectors should not pay for the set.
        !self.list.is_empty() && self.set.is_match(text)
    }

    /// Classes of the detectors that can reveal a match (they name `justify` categories).
    pub fn revealing_classes(&self) -> &[std::sync::Arc<str>] {
        &self.revealing
    }
}

impl std::ops::Deref for Detectors {
    type Target = [Detector];

    fn deref(&self) -> &[Detector] {
        &self.list
    }
}
