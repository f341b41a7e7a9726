//! Target `policy_file`: the policy-file parser (`keyhole::policy::file::parse`).
//!
//! Properties: never panics; an error names a line inside the file; a policy
//! that compiles builds a routable set (or a named overlap error), and its
//! routes transform a sample record into JSON that parses again.

use std::path::Path;

use keyhole::policy::{PolicySet, Unmatched};

use crate::runner::{feature, Target};

/// The target.
pub const TARGET: Target = Target {
    name: "policy_file",
    dictionary: &[
        b"[policy]\n",
        b"[[route]]\n",
        b"[route.fields]\n",
        b"[[detector]]\n",
        b"name = \"x\"\n",
        b"unlisted = \"pass\"\n",
        b"methods = [\"GET\"]\n",
        b"path = \"/a/{b}\"\n",
        b"record = \"$.results[*]\"\n",
        b"customer = \"{b}\"\n",
        b"customer = [\"{b}\", \"id\"]\n",
        b"\"x\" = \"pass\"\n",
        b"{ action = \"mask\", keep_last = 2 }",
        b"justify = [\"hardware\"]",
        b"pattern = '[0-9]{7}'\n",
        b"action = \"tokenize\"\n",
        b"to = \"year\"",
        b"'''",
        b"\"\"\"",
        b"[*]",
        b"$.",
        b"{",
        b"}",
        b"\\u0000",
        b"=",
        b"\n",
        b"scope = \"vendor\"",
        b"a.b[*].c",
        b"keep_first = 18446744073709551615",
        b"(?i)",
        b"\\b",
        b"x{1000}{1000}",
    ],
    check,
};

fn check(data: &[u8]) -> Result<u64, String> {
    let text = String::from_utf8_lossy(data);
    let routes = match keyhole::policy::file::parse(Path::new("fuzz.toml"), &text) {
        Err(e) => {
            let lines = text.lines().count() + 1;
            if e.line == 0 || e.line > lines {
                return Err(format!(
                    "error at line {} of a {lines}-line file: {e}",
                    e.line
                ));
            }
            let shape: String = e
                .reason
                .chars()
                .take_while(|c| *c != '"' && *c != '`')
                .take(24)
                .collect();
            return Ok(feature(&[b"refused", shape.as_bytes()]));
        }
        Ok(routes) => routes,
    };
    let counts: Vec<u8> = routes
        .iter()
        .map(|r| (r.fields.rules.len() + r.envelope.rules.len()).min(255) as u8)
        .collect();
    let detectors = routes
        .first()
        .map_or(0, |r| r.detectors.len().min(255) as u8);
    for route in &routes {
        keyhole::route::PathTemplate::parse(route.template.as_str())
            .map_err(|e| format!("compiled template does not re-parse: {e}"))?;
        crate::transform::sample_round_trip(route)?;
    }
    let set = PolicySet::from_routes(routes, Unmatched::Deny, Vec::new());
    Ok(feature(&[
        b"compiled",
        &counts,
        &[detectors, u8::from(set.is_ok())],
    ]))
}
