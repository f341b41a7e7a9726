//! Query rules (`[route.query]`): which query parameters a route forwards, and
//! which of them are search text that every result must visibly contain.
//!
//! Why: an upstream search matches its text against fields the agent may not
//! see. Whether a result comes back for `q=7XK` then says whether some
//! customer's service tag holds `7XK`, masked or not, so an agent without a
//! ticket could read concealed values one character at a time.
//!
//! The rule: a result is kept only when the text the agent sent occurs
//! (ignoring case) in a value of a `matches` field that the agent is shown *in
//! the clear*, or is exactly a token the agent is shown there. Then whether a
//! result is kept depends only on what the agent sees: had the upstream not
//! matched on a concealed value, it would still have returned the record for
//! the shown one (its token stands for a value the upstream finds). That holds
//! when every `matches` field is one the upstream searches, by case-insensitive
//! substring: naming a field it does not search, or searches another way (an
//! id, digits of a phone), brings the oracle back, and only the policy author
//! can know. A search text that holds a token has the token's value searched
//! upstream, which the agent is not shown: only that token, shown whole where
//! the walk put it, explains a result. A hidden result is taken out of its list
//! (so `record` must end in the route's only `[*]`), is not a disclosure,
//! costs no budget and leaves no denial or count behind. At most
//! [`MAX_SEARCH_TEXTS`] distinct texts per request: each is a pass over the page.
//!
//! With a query table, a parameter it does not name is refused (400) instead of
//! being forwarded to an upstream whose use of it nobody has judged.
//!
//! Left open: when more records match upstream than it returns (its limit,
//! paging), hidden matches can push shown ones out, and a missing shown record
//! then says that hidden matches came first.

use std::collections::BTreeMap;

use super::tree::{parse_path, Step};
use super::written::NameOrTable;
use super::{Action, RecordSelector, RuleTree, Unlisted};

/// One parameter of `[route.query]`, as written: `"pass"` or `{ matches = [...] }`.
#[derive(Debug, Clone)]
pub(super) enum QueryRuleSpec {
    /// `"pass"`: forwarded as sent.
    Short(String),
    /// `{ matches = ["name", "devices[*].service_tag"] }`: search text.
    Search(SearchSpec),
}

impl<'de> serde::Deserialize<'de> for QueryRuleSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let expecting = r#""pass" or a table such as { matches = ["name"] }"#;
        Ok(match super::written::name_or_table(d, expecting)? {
            NameOrTable::Name(name) => QueryRuleSpec::Short(name),
            NameOrTable::Table(search) => QueryRuleSpec::Search(search),
        })
    }
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SearchSpec {
    /// The record fields the text must show in.
    pub(super) matches: Vec<String>,
}

/// A route's compiled query rules.
#[derive(Debug, Default)]
pub struct QueryRules {
    /// Each allowed parameter by name.
    params: BTreeMap<String, QueryParam>,
}

/// One allowed query parameter.
#[derive(Debug, Default)]
struct QueryParam {
    /// The fields its text must show in, as written; empty: forwarded as sent.
    written: Vec<String>,
    /// The same fields, compiled.
    fields: Vec<Vec<Step>>,
}

/// Search texts a request may carry: each costs a pass over every result.
pub const MAX_SEARCH_TEXTS: usize = 8;

/// Why a query is refused on a route with query rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QueryRefused {
    /// A parameter the route's `[route.query]` does not name.
    #[error("a query parameter is not allowed on this route")]
    NotAllowed,
    /// More distinct search texts than [`MAX_SEARCH_TEXTS`].
    #[error("too many search texts")]
    TooManySearchTexts,
}

impl QueryRefused {
    /// Stable code for the error body.
    pub fn code(&self) -> &'static str {
        match self {
            QueryRefused::NotAllowed => "query-parameter-not-allowed",
            QueryRefused::TooManySearchTexts => "too-many-search-texts",
        }
    }
}

/// Search text from the request that each result must visibly contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText<'r> {
    /// The record fields whose shown value may contain it.
    pub fields: &'r [Vec<Step>],
    /// The text as the agent sent it, form-decoded: a token the walk shows
    /// must equal it whole.
    pub text: String,
    /// The text lower-cased, which a value shown in the clear must contain;
    /// `None` when the text holds a token. The upstream then searched the
    /// token's value, which the agent is not shown, so no clear text can
    /// explain a result: only the token itself, shown whole.
    pub needle: Option<String>,
}

impl QueryRules {
    /// Compiles `[route.query]` against the route's record selector and field rules.
    pub(super) fn compile(
        spec: &BTreeMap<String, QueryRuleSpec>,
        record: &RecordSelector,
        fields: &RuleTree,
        envelope: &RuleTree,
        unlisted: Unlisted,
    ) -> Result<QueryRules, String> {
        let mut params = BTreeMap::new();
        for (name, rule) in spec {
            if name.is_empty() {
                return Err("a query parameter name must not be empty".into());
            }
            let param = match rule {
                QueryRuleSpec::Short(s) if s == "pass" => QueryParam::default(),
                QueryRuleSpec::Short(s) => {
                    return Err(format!(
                        "query parameter {name:?}: {s:?} is not a query rule (use \"pass\" or {{ matches = [...] }})"
                    ))
                }
                QueryRuleSpec::Search(s) => QueryParam {
                    written: s.matches.clone(),
                    fields: compile_matches(&format!("query parameter {name:?}"), &s.matches, fields)?,
                },
            };
            params.insert(name.clone(), param);
        }
        let rules = QueryRules { params };
        if rules.searches() {
            check_search_route(record, envelope, unlisted)?;
        }
        Ok(rules)
    }

    /// True when some parameter is search text.
    pub fn searches(&self) -> bool {
        self.params.values().any(|p| !p.fields.is_empty())
    }

    /// One line for `policy explain`: each parameter and what happens to it.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .params
            .iter()
            .map(|(name, p)| match p.written.is_empty() {
                true => format!("{name} forwarded"),
                false => format!("{name} must show in {}", p.written.join(", ")),
            })
            .collect();
        parts.push("any other parameter refused (400)".into());
        parts.join("; ")
    }

    /// Checks the agent's raw query string (before detokenizing) and returns
    /// its search texts. A parameter given twice gives two texts; both must
    /// match. Empty texts match everything and are left out, as are repeats.
    pub fn admit(&self, query: Option<&str>) -> Result<Vec<SearchText<'_>>, QueryRefused> {
        let mut texts: Vec<SearchText<'_>> = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let param = self
                .params
                .get(form_decode(name).as_str())
                .ok_or(QueryRefused::NotAllowed)?;
            let text = form_decode(value);
            let repeated = texts
                .iter()
                .any(|t| std::ptr::eq(t.fields, param.fields.as_slice()) && t.text == text);
            if param.fields.is_empty() || text.is_empty() || repeated {
                continue;
            }
            if texts.len() == MAX_SEARCH_TEXTS {
                return Err(QueryRefused::TooManySearchTexts);
            }
            let holds_token = crate::token::find_tokens(&text).next().is_some();
            texts.push(SearchText {
                fields: &param.fields,
                needle: (!holds_token).then(|| text.to_lowercase()),
                text,
            });
        }
        Ok(texts)
    }
}

pub(super) fn compile_matches(
    what: &str,
    paths: &[String],
    fields: &RuleTree,
) -> Result<Vec<Vec<Step>>, String> {
    if paths.is_empty() {
        return Err(format!("{what}: `matches` must name at least one field"));
    }
    let mut compiled = Vec::with_capacity(paths.len());
    for path in paths {
        let steps = parse_path(path).map_err(|e| format!("{what}: {e}"))?;
        // A field without a rule of its own is never shown under this name, so
        // text could never be found in it: most likely a typo.
        let rule = fields.lookup(&steps).filter(|rule| rule.path == *path);
        let Some(rule) = rule.filter(|_| !steps.is_empty()) else {
            return Err(format!(
                "{what}: `matches` names {path:?}, which no field rule of this route names"
            ));
        };
        if matches!(
            rule.action,
            Action::Redact | Action::Generalize(_) | Action::Drop
        ) {
            return Err(format!(
                "{what}: `matches` names {path:?}, which is never shown as itself (its rule is not pass, mask or tokenize)"
            ));
        }
        compiled.push(steps);
    }
    Ok(compiled)
}

/// Search results are filtered, so the route must select a list of records,
/// and nothing outside the records may describe the upstream's unfiltered answer.
pub(super) fn check_search_route(
    record: &RecordSelector,
    envelope: &RuleTree,
    unlisted: Unlisted,
) -> Result<(), String> {
    if unlisted == Unlisted::Pass {
        return Err(
            "search rules need `unlisted = \"drop\"`: an unnamed member beside the records (a count) would describe the unfiltered answer"
                .into(),
        );
    }
    // A hidden record is taken out of the list that holds it. Below a list
    // entry (`$.results[*].customer`) or in nested lists (`$.groups[*].results[*]`)
    // an emptied entry or group would stay and be counted.
    let lists = record.steps.iter().filter(|s| **s == Step::Each).count();
    if lists != 1 || record.steps.last() != Some(&Step::Each) {
        return Err(format!(
            "search rules filter the entries of one list, so `record` must end in its only `[*]` (e.g. \"$.results[*]\"), not {:?}",
            record.text
        ));
    }
    for rule in &envelope.rules {
        if !matches!(rule.action, Action::Drop | Action::Redact) || !rule.justify.is_empty() {
            return Err(format!(
                "field {:?} describes the upstream's unfiltered answer (a count tells how many results were hidden): with search rules it may only be \"drop\" or \"redact\"",
                rule.path
            ));
        }
    }
    Ok(())
}

/// A query component as the upstream reads it; bytes that are not UTF-8
/// become U+FFFD and so match nothing real.
fn form_decode(component: &str) -> String {
    String::from_utf8_lossy(&crate::route::form_decoded(component)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(pairs: &[(&str, &[&str])]) -> QueryRules {
        let params = pairs
            .iter()
            .map(|(name, paths)| {
                let param = QueryParam {
                    written: paths.iter().map(|p| p.to_string()).collect(),
                    fields: paths.iter().map(|p| parse_path(p).unwrap()).collect(),
                };
                (name.to_string(), param)
            })
            .collect();
        QueryRules { params }
    }

    #[test]
    fn search_text_is_form_decoded_and_lower_cased() {
        let r = rules(&[("q", &["name"]), ("limit", &[])]);
        let texts = r.admit(Some("q=De+Vries%C3%89&limit=5")).unwrap();
        assert_eq!(texts.len(), 1);
        assert_eq!(texts[0].needle.as_deref(), Some("de vriesé"));
        assert!(r.admit(None).unwrap().is_empty());
        assert!(r.admit(Some("limit=5&&")).unwrap().is_empty());
    }

    #[test]
    fn every_occurrence_of_a_search_parameter_must_match() {
        let r = rules(&[("q", &["name"])]);
        let needles = |query| -> Vec<Option<String>> {
            let texts = r.admit(Some(query)).unwrap();
            texts.into_iter().map(|t| t.needle).collect()
        };
        assert_eq!(needles("q=a&q=B"), [Some("a".into()), Some("b".into())]);
        assert_eq!(
            needles("q=a&q=&q=a&q=a"),
            [Some("a".into())],
            "repeats and empties"
        );
        let many: Vec<String> = (0..=MAX_SEARCH_TEXTS).map(|n| format!("q={n}")).collect();
        let too_many = many.join("&");
        assert_eq!(
            r.admit(Some(&too_many)),
            Err(QueryRefused::TooManySearchTexts)
        );
        let enough = many[1..].join("&");
        assert_eq!(r.admit(Some(&enough)).unwrap().len(), MAX_SEARCH_TEXTS);
    }

    #[test]
    fn text_holding_a_token_has_no_needle() {
        let r = rules(&[("q", &["name"])]);
        let token = format!("tok_k1_{}", "A".repeat(43));
        for text in [token.clone(), format!("x+{token}")] {
            let texts = r.admit(Some(&format!("q={text}"))).unwrap();
            assert_eq!(texts[0].needle, None, "{text}");
        }
    }

    #[test]
    fn unnamed_parameters_are_refused_however_spelled() {
        let r = rules(&[("q", &["name"])]);
        for query in ["email=x", "q=a&Q=b", "%71%3D=a", "q[]=a", "=a"] {
            assert_eq!(
                r.admit(Some(query)),
                Err(QueryRefused::NotAllowed),
                "{query}"
            );
        }
        // The name is decoded as the upstream decodes it: `%71` is `q`.
        assert_eq!(r.admit(Some("%71=a")).unwrap()[0].text, "a");
    }
}
