//! Response schemas: where an architect has the API's shape, `policy check`
//! proves every field path of a route can actually match it, so a typo such as
//! `devices[*].servce_tag` (which would silently never apply) is caught.
//!
//! A schema file is JSON: `{"route": "GET /customers/{customer}", "response": {...}}`,
//! where `response` is a JSON Schema of the whole response body. The subset
//! understood: `type`, `properties`, `items`, `additionalProperties`. A schema that
//! lists `properties` is taken as the complete shape unless `additionalProperties`
//! says otherwise; one using `$ref`, `anyOf`, `oneOf` or `allOf` is not looked into.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::check::{route_name, Finding};
use crate::policy::tree::{parse_path, Step};
use crate::policy::{CustomerSource, Route};

/// One schema file, read.
struct SchemaFile {
    path: PathBuf,
    method: http::Method,
    template: String,
    response: Value,
}

/// Checks every route that has a schema in `dir`; returns how many schemas were used.
/// A missing directory is fine unless it was asked for explicitly.
pub fn check_dir(
    dir: &Path,
    explicit: bool,
    routes: &[Route],
    findings: &mut Vec<Finding>,
) -> usize {
    if !explicit && !dir.is_dir() {
        return 0;
    }
    let mut used = 0;
    for schema in read_dir(dir, findings) {
        let route = routes
            .iter()
            .find(|r| r.template.as_str() == schema.template && r.methods.contains(&schema.method));
        match route {
            Some(route) => {
                used += 1;
                findings.extend(check_route(route, &schema.response));
            }
            None => findings.push(Finding {
                file: schema.path,
                line: None,
                rule: Some("route".into()),
                reason: format!(
                    "no policy route is {} {}: the schema checks nothing",
                    schema.method, schema.template
                ),
            }),
        }
    }
    used
}

fn read_dir(dir: &Path, findings: &mut Vec<Finding>) -> Vec<SchemaFile> {
    let fail = |reason: String| Finding {
        file: dir.to_path_buf(),
        line: None,
        rule: None,
        reason,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            findings.push(fail(format!("cannot read schema directory: {e}")));
            return Vec::new();
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let mut schemas = Vec::new();
    for path in paths {
        match read_file(&path) {
            Ok(schema) => schemas.push(schema),
            Err(finding) => findings.push(finding),
        }
    }
    schemas
}

fn read_file(path: &Path) -> Result<SchemaFile, Finding> {
    let fail = |line: Option<usize>, reason: String| Finding {
        file: path.to_path_buf(),
        line,
        rule: None,
        reason,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| fail(None, format!("cannot read: {e}")))?;
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| fail(Some(e.line()), e.to_string()))?;
    let route = doc.get("route").and_then(Value::as_str).unwrap_or_default();
    let (method, template) = route
        .split_once(' ')
        .ok_or_else(|| fail(None, "`route` must be \"METHOD /path/{param}\"".into()))?;
    let method = http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| fail(None, format!("invalid method in route {route:?}")))?;
    let response = doc
        .get("response")
        .filter(|r| r.is_object())
        .cloned()
        .ok_or_else(|| fail(None, "`response` must be a JSON Schema object".into()))?;
    Ok(SchemaFile {
        path: path.to_path_buf(),
        method,
        template: template.trim().to_string(),
        response,
    })
}

/// Every path of `route` (record selector, customer field, field rules) that cannot match.
pub fn check_route(route: &Route, response: &Value) -> Vec<Finding> {
    let name = route_name(route);
    let mut findings = Vec::new();
    let record = match resolve(response, &route.record.steps, "$") {
        Ok(record) => record,
        Err(reason) => {
            findings.push(Finding::at_origin(
                &route.origin,
                format!("route {name:?} record {:?}", route.record.text),
                format!("the record selector cannot match the response schema: {reason}"),
            ));
            return findings;
        }
    };
    for source in &route.customer {
        if let CustomerSource::Field(keys) = source {
            let steps: Vec<Step> = keys.iter().cloned().map(Step::Key).collect();
            if let Err(reason) = resolve_opt(record, &steps, "") {
                findings.push(Finding::at_origin(
                    &route.origin,
                    format!("route {name:?} customer {:?}", keys.join(".")),
                    format!("the customer field cannot match the record schema: {reason}"),
                ));
            }
        }
    }
    for rule in route.envelope.rules.iter().chain(&route.fields.rules) {
        let (root, relative, prefix) = match rule.path.strip_prefix("$.") {
            Some(rest) => (Some(response), rest, "$"),
            None => (record, rule.path.as_str(), ""),
        };
        let result = parse_path(relative).and_then(|steps| resolve_opt(root, &steps, prefix));
        if let Err(reason) = result {
            findings.push(Finding::at_origin(
                &rule.origin,
                format!("route {name:?} field {:?}", rule.path),
                format!("the field path cannot match the record schema: {reason}"),
            ));
        }
    }
    findings
}

fn resolve_opt<'a>(
    schema: Option<&'a Value>,
    steps: &[Step],
    prefix: &str,
) -> Result<Option<&'a Value>, String> {
    match schema {
        Some(schema) => resolve(schema, steps, prefix),
        None => Ok(None),
    }
}

/// Follows `steps` through `schema`; `Ok(None)` once the schema stops saying anything.
fn resolve<'a>(
    schema: &'a Value,
    steps: &[Step],
    prefix: &str,
) -> Result<Option<&'a Value>, String> {
    let mut current = schema;
    let mut at = prefix.to_string();
    for step in steps {
        let next = match step {
            Step::Key(key) => member(current, key, &at)?,
            Step::Each => element(current, &at)?,
        };
        match step {
            Step::Key(key) if at.is_empty() => at = key.clone(),
            Step::Key(key) => at = format!("{at}.{key}"),
            Step::Each => at.push_str("[*]"),
        }
        match next {
            Some(next) => current = next,
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

fn where_(at: &str) -> &str {
    if at.is_empty() {
        "the record"
    } else {
        at
    }
}

/// The schema of member `key` of an object schema.
fn member<'a>(schema: &'a Value, key: &str, at: &str) -> Result<Option<&'a Value>, String> {
    if opaque(schema) {
        return Ok(None);
    }
    if let Some(types) = types(schema).filter(|t| !t.contains(&"object")) {
        return Err(format!(
            "{} is {} in the schema, not an object",
            where_(at),
            types.join(" or ")
        ));
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    if let Some(sub) = properties.and_then(|p| p.get(key)) {
        return Ok(Some(sub));
    }
    match (schema.get("additionalProperties"), properties) {
        (Some(Value::Object(_)), _) => Ok(schema.get("additionalProperties")),
        (Some(Value::Bool(true)), _) | (None, None) => Ok(None),
        (_, props) => {
            let known: Vec<&str> = props
                .map(|p| p.keys().map(String::as_str).collect())
                .unwrap_or_default();
            Err(format!(
                "{} has no property {key:?} (it has: {})",
                where_(at),
                known.join(", ")
            ))
        }
    }
}

/// The schema of the elements of an array schema.
fn element<'a>(schema: &'a Value, at: &str) -> Result<Option<&'a Value>, String> {
    if opaque(schema) {
        return Ok(None);
    }
    if let Some(types) = types(schema).filter(|t| !t.contains(&"array")) {
        return Err(format!(
            "{} is {} in the schema: [*] needs an array",
            where_(at),
            types.join(" or ")
        ));
    }
    Ok(schema.get("items").filter(|i| i.is_object()))
}

fn opaque(schema: &Value) -> bool {
    ["$ref", "anyOf", "oneOf", "allOf"]
        .iter()
        .any(|k| schema.get(k).is_some())
}

fn types(schema: &Value) -> Option<Vec<&str>> {
    match schema.get("type")? {
        Value::String(t) => Some(vec![t.as_str()]),
        Value::Array(list) => Some(list.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> Value {
        json!({"type": "object", "properties": {
            "id": {"type": "string"},
            "devices": {"type": "array", "items": {"type": "object", "properties": {
                "service_tag": {"type": "string"}}}},
            "extra": {"type": "object"}
        }})
    }

    fn walk(path: &str) -> Result<Option<&'static Value>, String> {
        let schema: &'static Value = Box::leak(Box::new(record()));
        resolve(schema, &parse_path(path).unwrap(), "")
    }

    #[test]
    fn paths_that_exist_resolve() {
        assert!(walk("devices[*].service_tag").unwrap().is_some());
        // An object without listed properties says nothing about its members.
        assert!(walk("extra.anything").unwrap().is_none());
    }

    #[test]
    fn paths_that_cannot_match_name_the_step() {
        let err = walk("devices[*].servce_tag").unwrap_err();
        assert!(
            err.contains("devices[*] has no property \"servce_tag\""),
            "{err}"
        );
        assert!(err.contains("service_tag"), "{err}");
        let err = walk("id.first").unwrap_err();
        assert!(err.contains("id is string"), "{err}");
        let err = walk("id[*]").unwrap_err();
        assert!(err.contains("[*] needs an array"), "{err}");
        let err = walk("nope").unwrap_err();
        assert!(err.contains("the record has no property"), "{err}");
    }
}
