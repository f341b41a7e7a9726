//! Search filtering: a result stays only when every search text of the request
//! shows in it, in the clear or as a whole token (see `policy/query.rs` for why
//! only those count).

use crate::policy::tree::Step;
use crate::policy::SearchText;
use crate::token::TOKEN_PREFIX;
use crate::transform::conceal::scalar_text;
use crate::transform::doc::Node;

/// Each search's fields' values in a record before it is judged, by search
/// and field: a shown value equal to one of them is shown in the clear.
pub(super) struct ClearValues(Vec<Vec<Vec<String>>>);

impl ClearValues {
    /// Takes the values from the record as the upstream sent it.
    pub(super) fn of(record: &Node<'_>, searches: &[SearchText<'_>]) -> ClearValues {
        let per_search = searches.iter().map(|search| {
            let per_field = search.fields.iter().map(|steps| {
                let mut texts = Vec::new();
                visit(record, steps, &mut |text| texts.push(text.to_string()));
                texts
            });
            per_field.collect()
        });
        ClearValues(per_search.collect())
    }
}

/// True when `record`, as judged for the agent, shows every search text.
pub(super) fn shows_every(
    record: &Node<'_>,
    searches: &[SearchText<'_>],
    clear: &ClearValues,
) -> bool {
    searches.iter().zip(&clear.0).all(|(search, clear)| {
        search.fields.iter().zip(clear).any(|(steps, clear)| {
            let mut found = false;
            visit(record, steps, &mut |shown| {
                found = found || shows(shown, search, clear);
            });
            found
        })
    })
}

/// A value shown in the clear holds the text, or the walk shows the text, a
/// token, in place of the upstream's value. Masked, redacted or otherwise
/// rewritten values never count: their shown characters (a token's letters, a
/// mask's stars) say nothing about what the upstream matched. Nor does a token
/// the upstream itself wrote into a passed field: the upstream searched the
/// token's value, not its text.
fn shows(shown: &str, search: &SearchText<'_>, clear: &[String]) -> bool {
    let in_clear = clear.iter().any(|c| c == shown);
    match &search.needle {
        Some(needle) => in_clear && shown.to_lowercase().contains(needle),
        None => !in_clear && shown.starts_with(TOKEN_PREFIX) && shown == search.text,
    }
}

/// Calls `f` with the text of each scalar at `steps` below `value`.
fn visit(value: &Node<'_>, steps: &[Step], f: &mut impl FnMut(&str)) {
    match steps.split_first() {
        None => {
            if let Some(text) = scalar_text(value) {
                f(&text);
            }
        }
        // A member named twice has no one shown value (clients disagree on which wins).
        Some((Step::Key(key), rest)) => {
            if let Some(child) = value.get(key) {
                visit(child, rest, f);
            }
        }
        Some((Step::Each, rest)) => {
            if let Node::Array(items) = value {
                items.iter().for_each(|item| visit(item, rest, f));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tree::parse_path;
    use serde_json::{json, Value};

    /// Whether `shown` keeps a search for `text` in `fields`, the upstream having sent `sent`.
    fn kept(sent: &Value, shown: &Value, paths: &[&str], text: &str) -> bool {
        let fields: Vec<_> = paths.iter().map(|p| parse_path(p).unwrap()).collect();
        let holds_token = text.contains("tok_");
        let search = [SearchText {
            fields: &fields,
            text: text.to_string(),
            needle: (!holds_token).then(|| text.to_lowercase()),
        }];
        let clear = ClearValues::of(&Node::from_value(sent), &search);
        shows_every(&Node::from_value(shown), &search, &clear)
    }

    #[test]
    fn only_clear_values_and_whole_tokens_count() {
        let sent = json!({"name": "Dana Whitfield", "email": "dana@example.net",
            "devices": [{"tag": "7XK2M9Q"}, {"tag": "4HT8Z2P"}]});
        let shown = json!({"name": "Dana Whitfield", "email": "d***************",
            "devices": [{"tag": "tok_k1_AbCnet"}, {"tag": "4HT8Z2P"}]});
        let fields = ["name", "email", "devices[*].tag"];
        assert!(kept(&sent, &shown, &fields, "whit"));
        assert!(
            kept(&sent, &shown, &fields, "4ht8"),
            "a tag shown in the clear"
        );
        assert!(
            kept(&sent, &shown, &fields, "tok_k1_AbCnet"),
            "a whole token"
        );
        assert!(
            !kept(&sent, &shown, &fields, "tok_k1_abcnet"),
            "a token's case matters"
        );
        assert!(
            !kept(&sent, &shown, &fields, "net"),
            "inside a token or a mask"
        );
        assert!(!kept(&sent, &shown, &fields, "d*"), "a mask's stars");
        assert!(!kept(&sent, &shown, &fields, "[redacted]"), "a marker");
        assert!(!kept(&sent, &shown, &["name"], "4ht8"), "a field not named");
        assert!(
            !kept(&sent, &shown, &["devices"], "4ht8"),
            "a list is not text"
        );
        assert!(
            !kept(&sent, &shown, &fields, "x tok_k1_AbCnet"),
            "more than the token"
        );
    }

    #[test]
    fn a_token_the_upstream_wrote_explains_nothing() {
        // The upstream searched the token's value; a passed name that holds the
        // token's text does not say it matched that.
        let token = "tok_k1_AbCnet";
        let sent = json!({"name": token, "devices": [{"tag": "7XK2M9Q"}]});
        assert!(!kept(&sent, &sent, &["name", "devices[*].tag"], token));
    }
}
