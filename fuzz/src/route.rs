//! Target `route`: the path canonicalizer and the route matcher.
//!
//! Properties of an accepted path: its segments hold nothing that could be
//! read two ways; re-parsing what is forwarded gives the same segments; a
//! naive upstream that decodes the whole path and splits on `/` sees the same
//! segments; and the route (with its parameters) matched for the request is
//! the route matched for what is forwarded.

use keyhole::route::{CanonicalPath, PathTemplate, RouteTable};

use crate::runner::{feature, Target};

/// The target.
pub const TARGET: Target = Target {
    name: "route",
    dictionary: &[
        b"%2e",
        b"%2E",
        b"%2f",
        b"%2F",
        b"%5c",
        b"%25",
        b"%00",
        b"%c0%ae",
        b"%e0%80%ae",
        b"%c0%af",
        b"..",
        b".",
        b"//",
        b";",
        b"%3b",
        b"/customers/",
        b"/devices/",
        b"/notes",
        b"{customer}",
        b"%ff",
        b"\\",
        b"?",
        b"#",
        b"%20",
        b"\xc3\xa9",
        b"\xe2\x80\xae",
        b"%u002e",
        b"%%",
        b"%0a",
    ],
    check,
};

const TEMPLATES: [&str; 4] = [
    "/customers/{customer}",
    "/customers",
    "/customers/{customer}/notes",
    "/devices/{service_tag}",
];

fn table() -> RouteTable<usize> {
    let mut table = RouteTable::default();
    for (i, t) in TEMPLATES.iter().enumerate() {
        if let Ok(template) = PathTemplate::parse(t) {
            table.insert(http::Method::GET, template, i);
        }
    }
    table
}

fn segment_is_plain(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && !s
            .chars()
            .any(|c| c.is_control() || matches!(c, '/' | '\\' | '%' | ';'))
}

/// What an upstream that decodes first and splits second would see.
fn naive_upstream(encoded: &str) -> Option<Vec<String>> {
    let decoded = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .ok()?;
    Some(decoded.split('/').skip(1).map(str::to_string).collect())
}

fn check(data: &[u8]) -> Result<u64, String> {
    let raw = String::from_utf8_lossy(data);
    check_template(&raw)?;
    let path = match CanonicalPath::parse(&raw) {
        Err(e) => return Ok(feature(&[b"refused", format!("{e:?}").as_bytes()])),
        Ok(p) => p,
    };
    if let Some(bad) = path.segments.iter().find(|s| !segment_is_plain(s)) {
        return Err(format!(
            "accepted an ambiguous segment {bad:?} from {raw:?}"
        ));
    }
    let encoded = path.encoded();
    if encoded
        .bytes()
        .any(|b| !b.is_ascii_graphic() || matches!(b, b';' | b'?' | b'#' | b'\\'))
    {
        return Err(format!("forwarded target {encoded:?} is not plain ASCII"));
    }
    // Re-encoding can grow a path past the raw-length limit; the segments are what must agree.
    let again = match CanonicalPath::parse(&encoded) {
        Err(keyhole::route::PathRejected::TooLong) => path.clone(),
        other => other.map_err(|e| format!("forwarded {encoded:?} does not re-parse: {e}"))?,
    };
    if again != path {
        return Err(format!(
            "{raw:?} forwarded as {encoded:?}, which reads differently"
        ));
    }
    let naive = naive_upstream(&encoded).unwrap_or_default();
    if !path.segments.is_empty() && naive != path.segments {
        return Err(format!(
            "an upstream decoding {encoded:?} sees {naive:?}, not {:?}",
            path.segments
        ));
    }
    let table = table();
    let judged = table.find(&http::Method::GET, &path).map(|(i, p)| (*i, p));
    let forwarded = table.find(&http::Method::GET, &again).map(|(i, p)| (*i, p));
    if judged != forwarded {
        return Err(format!(
            "{raw:?}: route {judged:?} judged, {forwarded:?} forwarded"
        ));
    }
    let route = judged.map_or(9, |(i, _)| i as u8);
    Ok(feature(&[
        b"ok",
        &[route, path.segments.len().min(9) as u8],
    ]))
}

/// A template that parses matches its own shape with every parameter filled.
fn check_template(raw: &str) -> Result<(), String> {
    let Ok(template) = PathTemplate::parse(raw) else {
        return Ok(());
    };
    let filled: Vec<&str> = raw
        .split('/')
        .map(|s| {
            if s.starts_with('{') && s.ends_with('}') {
                "v"
            } else {
                s
            }
        })
        .collect();
    let filled = filled.join("/");
    match CanonicalPath::parse(&filled) {
        Ok(p) if template.matches(&p).is_none() => {
            Err(format!("template {raw:?} misses {filled:?}"))
        }
        _ => Ok(()),
    }
}
