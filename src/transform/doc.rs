//! The JSON document a response is judged in: borrowed from the body, in the
//! upstream's member order.
//!
//! Strings without escapes (nearly all of them) point into the body instead
//! of being copied, and an object is a vector of members rather than a tree
//! map, so parsing a record allocates a few vectors instead of a `String` per
//! key and value. Members keep the order the upstream sent them in, so a
//! judged response differs from the upstream's only where the policy changed
//! something. A member name that occurs twice is kept twice and each
//! occurrence is judged on its own.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

use crate::json_text;

/// Members an object is parsed into before its vector first grows.
const OBJECT_CAPACITY: usize = 8;

/// A JSON value whose strings may borrow from the text it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as serde_json reads and writes it.
    Number(Number),
    /// A string.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Node<'a>>),
    /// An object's members, in document order.
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    /// The value of the member `key` when this is an object holding it exactly
    /// once. A repeated name has no single value (parsers disagree on which one
    /// wins), so a record that repeats it cannot show whose it is.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        let Node::Object(members) = self else {
            return None;
        };
        let mut found = members.iter().filter(|(k, _)| k == key);
        match (found.next(), found.next()) {
            (Some((_, value)), None) => Some(value),
            _ => None,
        }
    }

    /// Whether some object in this value names a member twice: parsers
    /// disagree on which one wins, so such a document has no one meaning.
    pub fn repeats_a_name(&self) -> bool {
        match self {
            Node::Object(members) => {
                let mut names: Vec<&str> = members.iter().map(|(k, _)| &**k).collect();
                names.sort_unstable();
                names.windows(2).any(|pair| pair[0] == pair[1])
                    || members.iter().any(|(_, v)| v.repeats_a_name())
            }
            Node::Array(items) => items.iter().any(Node::repeats_a_name),
            _ => false,
        }
    }

    /// Whether this is one value rather than a list or an object.
    pub fn is_scalar(&self) -> bool {
        !matches!(self, Node::Array(_) | Node::Object(_))
    }

    /// Nesting depth, counted as `json_depth` counts brackets.
    pub fn depth(&self) -> usize {
        match self {
            Node::Array(items) => 1 + items.iter().map(Node::depth).max().unwrap_or(0),
            Node::Object(members) => 1 + members.iter().map(|(_, v)| v.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// A document borrowing the strings of a `serde_json` value.
    pub fn from_value(value: &'a Value) -> Node<'a> {
        match value {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => Node::Number(n.clone()),
            Value::String(s) => Node::String(Cow::Borrowed(s)),
            Value::Array(items) => Node::Array(items.iter().map(Node::from_value).collect()),
            Value::Object(map) => Node::Object(
                map.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Node::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// The document as an owned `serde_json` value (a repeated name keeps its last value).
    pub fn to_value(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Number(n) => Value::Number(n.clone()),
            Node::String(s) => Value::String(s.to_string()),
            Node::Array(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            Node::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

impl Node<'_> {
    /// Appends the node as compact JSON, exactly as `serde_json::to_writer` writes it.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Node::Null => out.extend_from_slice(b"null"),
            Node::Bool(true) => out.extend_from_slice(b"true"),
            Node::Bool(false) => out.extend_from_slice(b"false"),
            // A `Number` always serialises; numbers are rare in customer records.
            Node::Number(n) => {
                let _ = serde_json::to_writer(&mut *out, n);
            }
            Node::String(s) => json_text::push_str(out, s),
            Node::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write_json(out);
                }
                out.push(b']');
            }
            Node::Object(members) => {
                out.push(b'{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    json_text::push_str(out, key);
                    out.push(b':');
                    value.write_json(out);
                }
                out.push(b'}');
            }
        }
    }
}

impl Serialize for Node<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => serializer.serialize_unit(),
            Node::Bool(b) => serializer.serialize_bool(*b),
            Node::Number(n) => n.serialize(serializer),
            Node::String(s) => serializer.serialize_str(s),
            Node::Array(items) => serializer.collect_seq(items),
            Node::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (k, v) in members {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // serde_json's own limit (128 levels) is the only one here.
        deserializer.deserialize_any(NodeVisitor { levels: usize::MAX })
    }
}

impl<'a> Node<'a> {
    /// Parses `text`, refusing it once arrays and objects nest deeper than
    /// `max_depth` (counted as [`Node::depth`] counts). The count is kept while
    /// parsing, so an accepted document is never walked again to measure it.
    pub fn parse_within(text: &'a str, max_depth: usize) -> serde_json::Result<Node<'a>> {
        parse_from(serde_json::Deserializer::from_str(text), max_depth)
    }

    /// [`Node::parse_within`] for bytes that may not be UTF-8 (serde_json refuses them).
    pub fn parse_slice_within(bytes: &'a [u8], max_depth: usize) -> serde_json::Result<Node<'a>> {
        parse_from(serde_json::Deserializer::from_slice(bytes), max_depth)
    }
}

/// One whole document from `de`, nothing after it but whitespace.
fn parse_from<'a, R: serde_json::de::Read<'a>>(
    mut de: serde_json::Deserializer<R>,
    max_depth: usize,
) -> serde_json::Result<Node<'a>> {
    let doc = NodeVisitor { levels: max_depth }.deserialize(&mut de)?;
    de.end()?;
    Ok(doc)
}

/// Builds a node; `levels` is how many more arrays or objects may open.
#[derive(Clone, Copy)]
struct NodeVisitor {
    levels: usize,
}

impl NodeVisitor {
    /// The visitor for the values inside a container this one opens.
    fn inner<E: de::Error>(self) -> Result<NodeVisitor, E> {
        match self.levels.checked_sub(1) {
            Some(levels) => Ok(NodeVisitor { levels }),
            None => Err(E::custom("JSON nests too deeply")),
        }
    }
}

impl<'de> DeserializeSeed<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Node<'de>, E> {
        Ok(Node::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Node<'de>, E> {
        Ok(Node::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Node<'de>, E> {
        // JSON text has no NaN or infinity; serde_json never hands one over.
        Number::from_f64(n)
            .map(Node::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let inner = self.inner()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        // serde_json gives no size hint. A record's objects mostly have five
        // to eight members, and growing from four would reallocate each of
        // them once, so the first member makes room for eight. An empty
        // object allocates nothing: a body of `{}`s costs no more than before.
        let inner = self.inner()?;
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if members.capacity() == 0 {
                members.reserve(OBJECT_CAPACITY);
            }
            members.push((key, map.next_value_seed(inner)?));
        }
        Ok(Node::Object(members))
    }
}

/// A member name, borrowed from the text when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Node<'_> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn empty_objects_allocate_nothing_and_others_start_at_eight() {
        let doc = parse(r#"[{},{"a":1},{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9}]"#);
        let Node::Array(items) = &doc else {
            panic!("array")
        };
        let capacities: Vec<usize> = items
            .iter()
            .map(|item| match item {
                Node::Object(members) => members.capacity(),
                _ => panic!("object"),
            })
            .collect();
        assert_eq!(capacities[0], 0);
        assert_eq!(capacities[1], OBJECT_CAPACITY);
        assert!(capacities[2] >= 9);
    }

    #[test]
    fn keeps_member_order_and_borrows_plain_strings() {
        let text = r#"{"z":"plain","a":"esc\"aped","m":[1,-2,3.5,true,null]}"#;
        let doc = parse(text);
        let Node::Object(members) = &doc else {
            panic!("object")
        };
        let names: Vec<&str> = members.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(names, ["z", "a", "m"]);
        assert!(matches!(
            &members[0].1,
            Node::String(Cow::Borrowed("plain"))
        ));
        assert!(matches!(&members[1].1, Node::String(Cow::Owned(s)) if s == "esc\"aped"));
        assert_eq!(serde_json::to_string(&doc).unwrap(), text);
    }

    #[test]
    fn a_repeated_name_has_no_single_value() {
        let doc = parse(r#"{"id":"a","id":"b","x":1}"#);
        assert_eq!(doc.get("id"), None);
        assert_eq!(doc.get("x"), Some(&Node::Number(1.into())));
        assert_eq!(
            serde_json::to_string(&doc).unwrap(),
            r#"{"id":"a","id":"b","x":1}"#
        );
    }

    #[test]
    fn converts_to_and_from_serde_json_values() {
        let value: Value = serde_json::from_str(r#"{"b":[1,{"c":"d"}],"a":null,"n":1e3}"#).unwrap();
        let doc = Node::from_value(&value);
        assert_eq!(doc.to_value(), value);
        assert_eq!(doc.depth(), 3);
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,12}|[\\x00-\\x7f]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec(("\\PC{0,8}|[\\x00-\\x7f]{0,8}", inner), 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn written_json_is_what_serde_json_writes(value in arb_json()) {
            let text = serde_json::to_string(&value).unwrap();
            // Parsed from text (borrowed and escaped strings alike) and built from a value.
            for doc in [parse(&text), Node::from_value(&value)] {
                let mut ours = Vec::new();
                doc.write_json(&mut ours);
                let theirs = serde_json::to_string(&doc).unwrap();
                proptest::prop_assert_eq!(String::from_utf8(ours).unwrap(), theirs);
            }
        }
    }
}
