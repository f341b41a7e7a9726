//! Policy values that may be written as a bare name or as a table
//! (`"pass"` or `{ action = "mask", keep_last = 4 }`).
//!
//! serde's untagged enums try each shape and, when none fits, say only "data
//! did not match any variant", which hides the real mistake (an unknown key,
//! a negative count) from the architect. Choosing the shape by what was
//! written, then reading the table strictly, keeps the table's own error.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, value::MapAccessDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A value written as a name or as a table of `T`.
pub(crate) enum NameOrTable<T> {
    /// A bare string.
    Name(String),
    /// An inline table, read as `T`.
    Table(T),
}

/// Reads a [`NameOrTable`]; `expecting` describes both shapes for the error
/// given when the value is neither.
pub(crate) fn name_or_table<'de, D, T>(
    deserializer: D,
    expecting: &'static str,
) -> Result<NameOrTable<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_any(NameOrTableVisitor {
        expecting,
        table: PhantomData,
    })
}

struct NameOrTableVisitor<T> {
    expecting: &'static str,
    table: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for NameOrTableVisitor<T> {
    type Value = NameOrTable<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(NameOrTable::Name(name.to_owned()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(NameOrTable::Table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Table {
        count: u8,
    }

    #[derive(Debug)]
    struct Spec(Result<String, u8>);

    impl<'de> Deserialize<'de> for Spec {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            Ok(Spec(
                match name_or_table::<_, Table>(d, "a name or { count = N }")? {
                    NameOrTable::Name(n) => Ok(n),
                    NameOrTable::Table(t) => Err(t.count),
                },
            ))
        }
    }

    fn read(toml_value: &str) -> Result<Spec, String> {
        #[derive(Deserialize)]
        struct Doc {
            v: Spec,
        }
        toml::from_str::<Doc>(&format!("v = {toml_value}"))
            .map(|d| d.v)
            .map_err(|e| e.message().to_string())
    }

    #[test]
    fn each_shape_is_read_and_a_bad_table_keeps_its_own_error() {
        assert_eq!(read(r#""pass""#).unwrap().0, Ok("pass".into()));
        assert_eq!(read("{ count = 3 }").unwrap().0, Err(3));
        let unknown = read("{ count = 3, bogus = 1 }").unwrap_err();
        assert!(unknown.contains("unknown field `bogus`"), "{unknown}");
        let negative = read("{ count = -3 }").unwrap_err();
        assert!(negative.contains("-3"), "{negative}");
        let neither = read("7").unwrap_err();
        assert!(neither.contains("a name or { count = N }"), "{neither}");
    }
}
