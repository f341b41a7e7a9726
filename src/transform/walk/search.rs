//! Search filtering: a result stays only when every search text of the request
//! occurs in what the agent is shown of the fields its query rule names (see
//! `policy/query.rs` for why).

use crate::policy::tree::Step;
use crate::policy::SearchText;
use crate::transform::conceal::scalar_text;
use crate::transform::doc::Node;

/// True when `record`, as judged for the agent, shows every search text.
pub(super) fn shows_every(record: &Node<'_>, searches: &[SearchText<'_>]) -> bool {
    searches.iter().all(|search| {
        // An empty text matches everything and so tells nothing.
        search.needle.is_empty()
            || search
                .fields
                .iter()
                .any(|steps| shows(record, steps, &search.needle))
    })
}

fn shows(value: &Node<'_>, steps: &[Step], needle: &str) -> bool {
    match steps.split_first() {
        None => scalar_text(value).is_some_and(|text| text.to_lowercase().contains(needle)),
        // A member named twice has no one shown value (clients disagree on which wins).
        Some((Step::Key(key), rest)) => value.get(key).is_some_and(|v| shows(v, rest, needle)),
        Some((Step::Each, rest)) => match value {
            Node::Array(items) => items.iter().any(|item| shows(item, rest, needle)),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tree::parse_path;
    use serde_json::json;

    fn search(fields: &[Vec<Step>], needle: &str) -> bool {
        let record = json!({
            "id": "C-1001",
            "name": "Dana Whitfield",
            "devices": [{"service_tag": "tok_k1_AbC"}, {"service_tag": 42}]
        });
        let node = Node::from_value(&record);
        let text = SearchText {
            fields,
            needle: needle.to_string(),
        };
        shows_every(&node, &[text])
    }

    #[test]
    fn text_must_occur_in_a_named_field_ignoring_case() {
        let paths = |ps: &[&str]| {
            ps.iter()
                .map(|p| parse_path(p).unwrap())
                .collect::<Vec<_>>()
        };
        let name = paths(&["name"]);
        let tags = paths(&["devices[*].service_tag", "id"]);
        assert!(search(&name, "whit"));
        assert!(!search(&name, "c-10"), "id is not named");
        assert!(search(&tags, "c-10"));
        assert!(search(&tags, "tok_k1_abc"));
        assert!(search(&tags, "42"));
        assert!(!search(&tags, "dana"));
        assert!(search(&tags, ""), "empty text");
        assert!(
            !search(&paths(&["name.first"]), "dana"),
            "a string has no members"
        );
        assert!(!search(&paths(&["devices"]), "tok"), "a list is not text");
    }
}
