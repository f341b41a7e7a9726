//! Canonical request paths and route matching.
//!
//! Authorization and forwarding must see the same path, so a request path is
//! decoded exactly once into segments, anything that could be read two ways
//! (`..`, `//`, `;`, encoded `/` or `%`, NUL, invalid UTF-8) is refused, and
//! the upstream receives the path re-encoded from those same segments.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

/// One query-string component decoded as an HTML form encodes it: `+` is a
/// space, then percent-escapes. Bytes, so each caller decides what invalid
/// UTF-8 means to it.
pub fn form_decoded(component: &str) -> Vec<u8> {
    percent_decode_str(&component.replace('+', " ")).collect()
}

/// Why a request path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathRejected {
    /// Not an origin-form path starting with `/`.
    #[error("path must start with /")]
    NotAbsolute,
    /// An empty segment (`//`, or a trailing `/`).
    #[error("empty path segment")]
    EmptySegment,
    /// `.` or `..`, literally or encoded.
    #[error("dot segment in path")]
    DotSegment,
    /// A byte that could change meaning between Keyhole and the upstream.
    #[error("forbidden character in path")]
    ForbiddenCharacter,
    /// Percent-decoding did not yield UTF-8 (this includes overlong encodings).
    #[error("path is not valid UTF-8")]
    InvalidUtf8,
    /// Too long to be a real API path.
    #[error("path too long")]
    TooLong,
}

/// Longest request path accepted, in bytes.
const MAX_PATH_BYTES: usize = 2048;

/// A request path decoded once into segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath {
    /// Decoded segments, none empty.
    pub segments: Vec<String>,
}

/// Characters percent-encoded when a segment is forwarded.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b';')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

impl CanonicalPath {
    /// Decodes and checks a raw request path (without the query).
    pub fn parse(raw: &str) -> Result<CanonicalPath, PathRejected> {
        if raw.len() > MAX_PATH_BYTES {
            return Err(PathRejected::TooLong);
        }
        let rest = raw.strip_prefix('/').ok_or(PathRejected::NotAbsolute)?;
        if rest.is_empty() {
            return Ok(CanonicalPath {
                segments: Vec::new(),
            });
        }
        let segments = rest
            .split('/')
            .map(decode_segment)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CanonicalPath { segments })
    }

    /// The path as forwarded: every segment re-encoded.
    pub fn encoded(&self) -> String {
        if self.segments.is_empty() {
            return "/".to_string();
        }
        let mut out = String::with_capacity(64);
        for s in &self.segments {
            out.push('/');
            out.extend(utf8_percent_encode(s, SEGMENT));
        }
        out
    }
}

fn decode_segment(raw: &str) -> Result<String, PathRejected> {
    if raw.is_empty() {
        return Err(PathRejected::EmptySegment);
    }
    if raw.contains(';') {
        return Err(PathRejected::ForbiddenCharacter);
    }
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| PathRejected::InvalidUtf8)?;
    if decoded == "." || decoded == ".." {
        return Err(PathRejected::DotSegment);
    }
    let forbidden = |c: char| c.is_control() || matches!(c, '/' | '\\' | '%' | ';');
    if decoded.chars().any(forbidden) {
        return Err(PathRejected::ForbiddenCharacter);
    }
    Ok(decoded.into_owned())
}

/// One segment of a route template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// A route path such as `/customers/{customer}/notes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    text: String,
    segments: Vec<Segment>,
}

/// Path parameters captured by a match, in template order.
pub type Params = Vec<(String, String)>;

impl PathTemplate {
    /// Parses a template; parameters are `{name}` and take a whole segment.
    pub fn parse(text: &str) -> Result<PathTemplate, String> {
        let rest = text
            .strip_prefix('/')
            .ok_or_else(|| format!("path {text:?} must start with /"))?;
        let mut segments = Vec::new();
        for part in rest.split('/').filter(|_| !rest.is_empty()) {
            segments.push(parse_segment(part, text)?);
        }
        let mut names: Vec<&str> = segments
            .iter()
            .filter_map(|s| match s {
                Segment::Param(p) => Some(p.as_str()),
                Segment::Literal(_) => None,
            })
            .collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(format!("path {text:?} names a parameter twice"));
        }
        Ok(PathTemplate {
            text: text.to_string(),
            segments,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parameter names.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(p) => Some(p.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// Matches decoded segments, capturing parameters.
    pub fn matches(&self, path: &CanonicalPath) -> Option<Params> {
        if path.segments.len() != self.segments.len() {
            return None;
        }
        let mut params = Vec::new();
        for (seg, value) in self.segments.iter().zip(&path.segments) {
            match seg {
                Segment::Literal(l) if l == value => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => params.push((name.clone(), value.clone())),
            }
        }
        Some(params)
    }

    /// True when some path could match both templates.
    pub fn overlaps(&self, other: &PathTemplate) -> bool {
        self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|pair| match pair {
                    (Segment::Literal(a), Segment::Literal(b)) => a == b,
                    _ => true,
                })
    }
}

fn parse_segment(part: &str, text: &str) -> Result<Segment, String> {
    if part.is_empty() {
        return Err(format!("path {text:?} has an empty segment"));
    }
    if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
        let valid =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        return if valid {
            Ok(Segment::Param(name.to_string()))
        } else {
            Err(format!("path {text:?}: invalid parameter {part:?}"))
        };
    }
    if part.contains(['{', '}', '%', ';']) || part == "." || part == ".." {
        return Err(format!("path {text:?}: invalid segment {part:?}"));
    }
    Ok(Segment::Literal(part.to_string()))
}

/// Routes by method, then by template, first match wins (overlaps are refused at load).
#[derive(Debug)]
pub struct RouteTable<T> {
    entries: Vec<(http::Method, PathTemplate, T)>,
}

impl<T> Default for RouteTable<T> {
    fn default() -> Self {
        RouteTable {
            entries: Vec::new(),
        }
    }
}

impl<T> RouteTable<T> {
    /// Adds a route.
    pub fn insert(&mut self, method: http::Method, template: PathTemplate, value: T) {
        self.entries.push((method, template, value));
    }

    /// The route already present that overlaps `template` for `method`.
    pub fn overlapping(&self, method: &http::Method, template: &PathTemplate) -> Option<&T> {
        self.entries
            .iter()
            .find(|(m, t, _)| m == method && t.overlaps(template))
            .map(|(_, _, v)| v)
    }

    /// The route for a request, with its parameters.
    pub fn find(&self, method: &http::Method, path: &CanonicalPath) -> Option<(&T, Params)> {
        self.entries
            .iter()
            .filter(|(m, _, _)| m == method)
            .find_map(|(_, t, v)| t.matches(path).map(|p| (v, p)))
    }

    /// True when some method has a route matching `path` (to tell 405 from 404).
    pub fn path_known(&self, path: &CanonicalPath) -> bool {
        self.entries
            .iter()
            .any(|(_, t, _)| t.matches(path).is_some())
    }

    /// Every route.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().map(|(_, _, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_paths_refuse_ambiguity() {
        let ok = CanonicalPath::parse("/customers/C%20100").unwrap();
        assert_eq!(ok.segments, vec!["customers", "C 100"]);
        assert_eq!(ok.encoded(), "/customers/C%20100");
        for bad in [
            "/customers/../admin",
            "/customers/%2e%2e/admin",
            "/customers//C1",
            "/customers/C1/",
            "/customers/C1;x=1",
            "/customers/%252e%252e",
            "/customers/a%2fb",
            "/customers/a%00",
            "/customers/%c0%ae%c0%ae",
            "customers",
        ] {
            assert!(
                CanonicalPath::parse(bad).is_err(),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn templates_match_and_overlap() {
        let t = PathTemplate::parse("/customers/{customer}").unwrap();
        let p = CanonicalPath::parse("/customers/C1").unwrap();
        assert_eq!(
            t.matches(&p).unwrap(),
            vec![("customer".into(), "C1".into())]
        );
        assert!(t
            .matches(&CanonicalPath::parse("/Customers/C1").unwrap())
            .is_none());
        let u = PathTemplate::parse("/customers/search").unwrap();
        assert!(t.overlaps(&u));
        assert!(!t.overlaps(&PathTemplate::parse("/devices/{tag}").unwrap()));
        assert!(PathTemplate::parse("/a/{x}/{x}").is_err());
        assert!(PathTemplate::parse("/a//b").is_err());
    }
}
