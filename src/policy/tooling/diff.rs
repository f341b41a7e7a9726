//! A path-by-path diff of two JSON documents, for failed exact-output cases.
//!
//! Documents are flattened into `path → leaf` so the diff names the field that
//! differs (`devices[0].service_tag`) rather than a line of pretty-printed JSON.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

/// Lines of `- path: expected` / `+ path: actual`, empty when the documents are equal.
pub fn diff(expected: &Value, actual: &Value) -> Vec<String> {
    let (want, got) = (flatten(expected), flatten(actual));
    let mut lines = Vec::new();
    let paths: std::collections::BTreeSet<&String> = want.keys().chain(got.keys()).collect();
    for path in paths {
        match (want.get(path), got.get(path)) {
            (Some(w), Some(g)) if w == g => {}
            (w, g) => {
                if let Some(w) = w {
                    lines.push(format!("- {path}: {w}"));
                }
                if let Some(g) = g {
                    lines.push(format!("+ {path}: {g}"));
                }
            }
        }
    }
    lines
}

/// Every leaf (scalar, empty object or empty array) by its concrete path; `$` for the root.
pub fn flatten(value: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    walk(value, &mut String::new(), &mut out);
    out
}

fn walk(value: &Value, path: &mut String, out: &mut BTreeMap<String, Value>) {
    let mark = path.len();
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                walk(child, path, out);
                path.truncate(mark);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, child) in items.iter().enumerate() {
                let _ = write!(path, "[{i}]");
                walk(child, path, out);
                path.truncate(mark);
            }
        }
        leaf => {
            let key = if path.is_empty() { "$" } else { path.as_str() };
            out.insert(key.to_string(), leaf.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_each_differing_path() {
        let want = json!({"id": "C-1", "devices": [{"tag": "A"}], "gone": 1});
        let got = json!({"id": "C-1", "devices": [{"tag": "*"}], "extra": []});
        assert_eq!(
            diff(&want, &got),
            vec![
                "- devices[0].tag: \"A\"",
                "+ devices[0].tag: \"*\"",
                "+ extra: []",
                "- gone: 1",
            ]
        );
        assert!(diff(&want, &want).is_empty());
        assert_eq!(diff(&json!(1), &json!(2)), vec!["- $: 1", "+ $: 2"]);
    }
}
