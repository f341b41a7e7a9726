//! Reading one policy file: TOML with spans, so every error names file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::detector::{Detector, DetectorSpec, Detectors};
use super::lookup::PathLookups;
use super::query::{QueryRuleSpec, QueryRules, SearchSpec};
use super::rule::RuleSpec;
use super::tree::{parse_path, RecordSelector, RuleTree};
use super::{CustomerSource, Route, Unlisted};
use crate::config::LineIndex;
use crate::route::PathTemplate;

/// A policy file that cannot be used, with where and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}:{line}: {reason}", file.display())]
pub struct PolicyFileError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// What is wrong, naming the rule or key.
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFileSpec {
    policy: PolicyHeader,
    #[serde(default)]
    route: Vec<Spanned<RouteSpec>>,
    #[serde(default)]
    detector: Vec<Spanned<DetectorSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyHeader {
    name: String,
    #[serde(default)]
    unlisted: Unlisted,
}

/// `customer = "id"` or `customer = ["{customer}", "id"]`.
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Chosen by what was written, so a bad list item keeps its own error
        // rather than an untagged enum's "did not match any variant".
        struct Shape;
        impl<'de> serde::de::Visitor<'de> for Shape {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(s.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<OneOrMany, A::Error> {
                Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(OneOrMany::Many)
            }
        }
        d.deserialize_any(Shape)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSpec {
    methods: Vec<String>,
    path: String,
    #[serde(default)]
    record: Option<String>,
    #[serde(default)]
    customer: Option<OneOrMany>,
    #[serde(default)]
    fields: BTreeMap<String, Spanned<RuleSpec>>,
    #[serde(default)]
    query: Option<BTreeMap<String, QueryRuleSpec>>,
    #[serde(default)]
    params: BTreeMap<String, SearchSpec>,
}

/// Reads and compiles the routes of one policy file.
pub fn load(path: &Path) -> Result<Vec<Route>, PolicyFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| PolicyFileError {
        file: path.to_path_buf(),
        line: 1,
        reason: format!("cannot read: {e}"),
    })?;
    parse(path, &text)
}

/// Compiles the routes of a policy file's text; `path` is only used in messages.
pub fn parse(path: &Path, text: &str) -> Result<Vec<Route>, PolicyFileError> {
    // Every rule records its line: count the lines once, not once per rule.
    let lines = LineIndex::new(text);
    let at = |offset: usize, reason: String| PolicyFileError {
        file: path.to_path_buf(),
        line: lines.line_of(offset),
        reason,
    };
    let spec: PolicyFileSpec = toml::from_str(text)
        .map_err(|e| at(e.span().map_or(0, |s| s.start), e.message().to_string()))?;
    if spec.policy.name.trim().is_empty() {
        return Err(at(0, "[policy] name must not be empty".into()));
    }
    let origin = |offset: usize| format!("{}:{}", path.display(), lines.line_of(offset));
    let mut detectors = Vec::new();
    for d in spec.detector {
        let offset = d.span().start;
        let detector: Detector = d
            .into_inner()
            .compile(origin(offset))
            .map_err(|r| at(offset, r))?;
        // The ledger names a match inside a value by its detector
        // (`notes#service-tag`): two of one name could not be told apart.
        if let Some(first) = detectors
            .iter()
            .find(|d: &&Detector| d.name == detector.name)
        {
            let reason = format!(
                "detector name {:?} is already used at {}; detector names must be unique",
                detector.name, first.origin
            );
            return Err(at(offset, reason));
        }
        detectors.push(detector);
    }
    let detectors = Arc::new(Detectors::new(detectors).map_err(|r| at(0, r))?);
    if spec.route.is_empty() {
        return Err(at(0, "policy declares no [[route]]".into()));
    }
    let mut routes = Vec::new();
    for r in spec.route {
        let offset = r.span().start;
        let ctx = RouteContext {
            policy: &spec.policy,
            detectors: &detectors,
            origin: origin(offset),
        };
        let route = compile_route(r.into_inner(), &ctx, &|o, m| at(o, m)).map_err(|e| {
            if e.line == 1 {
                at(offset, e.reason)
            } else {
                e
            }
        })?;
        routes.push(route);
    }
    Ok(routes)
}

struct RouteContext<'a> {
    policy: &'a PolicyHeader,
    detectors: &'a Arc<Detectors>,
    origin: String,
}

type At<'a> = dyn Fn(usize, String) -> PolicyFileError + 'a;

fn compile_route(
    spec: RouteSpec,
    ctx: &RouteContext<'_>,
    at: &At<'_>,
) -> Result<Route, PolicyFileError> {
    let fail = |reason: String| at(0, format!("route {:?}: {reason}", spec.path));
    let template = PathTemplate::parse(&spec.path).map_err(&fail)?;
    if spec.methods.is_empty() {
        return Err(fail("`methods` must name at least one method".into()));
    }
    let mut methods = Vec::new();
    for m in &spec.methods {
        let upper = m.to_ascii_uppercase();
        let method = http::Method::from_bytes(upper.as_bytes())
            .map_err(|_| fail(format!("invalid method {m:?}")))?;
        if methods.contains(&method) {
            return Err(fail(format!("method {m:?} is listed twice")));
        }
        methods.push(method);
    }
    let record = RecordSelector::parse(spec.record.as_deref().unwrap_or("$")).map_err(&fail)?;
    let customer = customer_sources(spec.customer, &template).map_err(&fail)?;
    let (fields, envelope) = compile_fields(&spec.fields, &spec.path, at)?;
    let query = spec
        .query
        .as_ref()
        .map(|q| QueryRules::compile(q, &record, &fields, &envelope, ctx.policy.unlisted))
        .transpose()
        .map_err(&fail)?;
    let shape = (&record, &fields, &envelope, ctx.policy.unlisted);
    let lookups = PathLookups::compile(&spec.params, &template, shape).map_err(&fail)?;
    let needs_customer = fields.rules.iter().any(|r| !r.justify.is_empty())
        || ctx.detectors.iter().any(|d| !d.justify.is_empty());
    if needs_customer && customer.is_empty() {
        return Err(fail(
            "rules name `justify` categories but `customer` does not say whose record it is".into(),
        ));
    }
    Ok(Route {
        policy: ctx.policy.name.clone(),
        origin: ctx.origin.clone(),
        methods,
        template,
        record,
        customer,
        fields,
        envelope,
        detectors: ctx.detectors.clone(),
        unlisted: ctx.policy.unlisted,
        query,
        lookups,
    })
}

fn customer_sources(
    spec: Option<OneOrMany>,
    template: &PathTemplate,
) -> Result<Vec<CustomerSource>, String> {
    let list = match spec {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) if v.is_empty() => {
            return Err("`customer = []` names no source: name one, or leave `customer` out".into())
        }
        Some(OneOrMany::Many(v)) => v,
    };
    let mut sources = Vec::new();
    for item in list {
        if item.trim().is_empty() {
            return Err("a `customer` source is empty: name a path parameter or a field".into());
        }
        if let Some(param) = item.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if !template.params().any(|p| p == param) {
                return Err(format!("customer {item:?} is not a parameter of the path"));
            }
            sources.push(CustomerSource::PathParam(param.to_string()));
        } else {
            let steps = parse_path(&item)?;
            let mut keys = Vec::new();
            for step in steps {
                match step {
                    super::tree::Step::Key(k) => keys.push(k),
                    super::tree::Step::Each => {
                        return Err(format!("customer field {item:?} cannot contain [*]"))
                    }
                }
            }
            sources.push(CustomerSource::Field(keys));
        }
    }
    Ok(sources)
}

fn compile_fields(
    fields: &BTreeMap<String, Spanned<RuleSpec>>,
    route_path: &str,
    at: &At<'_>,
) -> Result<(RuleTree, RuleTree), PolicyFileError> {
    let mut record = RuleTree::default();
    let mut envelope = RuleTree::default();
    for (path, spec) in fields {
        let offset = spec.span().start;
        let fail = |reason: String| {
            at(
                offset,
                format!("route {route_path:?}, field {path:?}: {reason}"),
            )
        };
        let (tree, relative) = match path.strip_prefix("$.") {
            Some(rest) => (&mut envelope, rest),
            None => (&mut record, path.as_str()),
        };
        let steps = parse_path(relative).map_err(&fail)?;
        let loc = at(offset, String::new());
        let rule = spec
            .get_ref()
            .compile(path, format!("{}:{}", loc.file.display(), loc.line))
            .map_err(&fail)?;
        tree.insert(&steps, rule).map_err(&fail)?;
    }
    Ok((record, envelope))
}
