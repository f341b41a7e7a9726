//! Path lookups (`[route.params]`): a path parameter that names a concealed
//! value, as in `GET /devices/{service_tag}`.
//!
//! Why: the upstream finds the record by the value the agent typed, whether
//! or not the agent may see it. Whether a device comes back for a guessed
//! tag then confirms the tag and names its owner, so an agent without a
//! ticket could test tags one request at a time, and nothing would be
//! disclosed or ledgered.
//!
//! The rule is the search rule (see `query.rs`): the record is shown only when
//! the parameter, as the agent sent it, shows in one of its `matches` fields
//! as the agent is shown them: in the clear (a ticket that justifies it for
//! the record's customer), or as the very token the agent sent. A record
//! found by a value the agent is not shown is answered exactly as a value
//! that finds nothing: the upstream's 404. Where the records are a list, a
//! hidden one is taken out of it, as search results are.

use std::collections::BTreeMap;

use super::query::{check_search_route, compile_matches, SearchSpec};
use super::tree::Step;
use super::{RecordSelector, RuleTree, Unlisted};
use crate::route::{Params, PathTemplate};
use crate::token::find_tokens;

use super::SearchText;

/// A route's compiled path lookups; empty when the route has none.
#[derive(Debug, Default)]
pub struct PathLookups {
    /// Each looked-up parameter, by name.
    params: BTreeMap<String, Lookup>,
}

/// One looked-up path parameter.
#[derive(Debug)]
struct Lookup {
    /// The fields it must show in, as written.
    written: Vec<String>,
    /// The same fields, compiled.
    fields: Vec<Vec<Step>>,
}

impl PathLookups {
    /// Compiles `[route.params]` against the route's path, records and rules.
    pub(super) fn compile(
        spec: &BTreeMap<String, SearchSpec>,
        template: &PathTemplate,
        route: (&RecordSelector, &RuleTree, &RuleTree, Unlisted),
    ) -> Result<PathLookups, String> {
        let (record, fields, envelope, unlisted) = route;
        let mut params = BTreeMap::new();
        for (name, lookup) in spec {
            if !template.params().any(|p| p == name) {
                return Err(format!(
                    "[route.params] names {name:?}, which is not a parameter of the path"
                ));
            }
            let what = format!("path parameter {name:?}");
            let lookup = Lookup {
                written: lookup.matches.clone(),
                fields: compile_matches(&what, &lookup.matches, fields)?,
            };
            params.insert(name.clone(), lookup);
        }
        // One record: hidden, it is answered as not found. Several: hidden
        // ones leave their list, which must then be a search's list.
        if !params.is_empty() && !record.steps.is_empty() {
            check_search_route(record, envelope, unlisted)?;
        }
        Ok(PathLookups { params })
    }

    /// True when no parameter is looked up.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// One line for `policy explain`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .params
            .iter()
            .map(|(name, p)| format!("{{{name}}} must show in {}", p.written.join(", ")))
            .collect();
        parts.join("; ")
    }

    /// Adds a search text for each looked-up parameter of `sent`: the path's
    /// parameters as the agent sent them (a token still a token).
    pub fn admit<'r>(&'r self, sent: &Params, texts: &mut Vec<SearchText<'r>>) {
        for (name, lookup) in &self.params {
            let Some((_, text)) = sent.iter().find(|(param, _)| param == name) else {
                continue;
            };
            let holds_token = find_tokens(text).next().is_some();
            texts.push(SearchText {
                fields: &lookup.fields,
                needle: (!holds_token).then(|| text.to_lowercase()),
                text: text.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::policy::file;

    /// The device route of a policy file, with `record` and `[route.params]` as given.
    fn compile(record: &str, params: &str) -> Result<PathLookups, String> {
        let text = format!(
            "[policy]\nname = \"t\"\n[[route]]\nmethods = [\"GET\"]\npath = \"/devices/{{service_tag}}\"\n\
             record = {record:?}\n[route.fields]\n\"service_tag\" = \"tokenize\"\n\"notes\" = \"redact\"\n\
             [route.params]\n{params}\n"
        );
        let mut routes = file::parse(Path::new("t.toml"), &text).map_err(|e| e.reason)?;
        Ok(routes.remove(0).lookups)
    }

    #[test]
    fn a_lookup_names_a_path_parameter_and_a_field_shown_as_itself() {
        let ok = r#""service_tag" = { matches = ["service_tag"] }"#;
        assert!(!compile("$", ok).unwrap().is_empty());
        let err = compile("$", r#""tag" = { matches = ["service_tag"] }"#).unwrap_err();
        assert!(err.contains("not a parameter of the path"), "{err}");
        let err = compile("$", r#""service_tag" = { matches = ["notes"] }"#).unwrap_err();
        assert!(err.contains("never shown as itself"), "{err}");
        let err = compile("$", r#""service_tag" = { matches = ["model"] }"#).unwrap_err();
        assert!(err.contains("no field rule"), "{err}");
        let err = compile("$.device", ok).unwrap_err();
        assert!(err.contains("[*]"), "{err}");
        assert!(compile("$.results[*]", ok).is_ok());
    }

    #[test]
    fn the_parameter_is_searched_as_sent() {
        let lookups = compile("$", r#""service_tag" = { matches = ["service_tag"] }"#).unwrap();
        let token = format!("tok_k1_{}", "A".repeat(43));
        for (sent, needle) in [("7XK2M9Q", Some("7xk2m9q")), (token.as_str(), None)] {
            let mut texts = Vec::new();
            lookups.admit(&vec![("service_tag".into(), sent.into())], &mut texts);
            assert_eq!(texts.len(), 1);
            assert_eq!(texts[0].text, sent);
            assert_eq!(texts[0].needle.as_deref(), needle);
        }
    }
}
