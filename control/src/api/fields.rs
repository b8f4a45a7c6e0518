//! Server-side field validation (`fieldValidation`): the fields of a request body that would be
//! dropped (unknown to the typed object) or that appear twice, found while decoding, with
//! paths written as kube-apiserver writes them (`spec.containers[0].readinessProbe.x`).
//!
//! Unknown fields are reported by `serde_ignored` while the body is deserialized into the
//! typed k8s-openapi object; duplicate keys are noticed while the body's bytes are parsed into
//! JSON (the parsed value keeps the last one, as kube-apiserver does). Pure functions: this
//! module never touches the store.

use std::fmt::Write as _;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::query::FieldValidation;
use crate::error::ApiError;

/// The most problems of each sort (unknown, duplicate) named in one answer; a body with more
/// still fails under Strict, with the first ones named.
pub(crate) const MAX_REPORTED: usize = 100;

/// The fields of one body that would be dropped: unknown ones and repeated ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Problems {
    /// Paths of fields the typed object has no place for.
    pub unknown: Vec<String>,
    /// Paths of keys that appear more than once in one object (the last one is kept).
    pub duplicate: Vec<String>,
}

impl Problems {
    /// One message per problem, as kube-apiserver words them.
    fn messages(&self) -> Vec<String> {
        let unknown = self.unknown.iter().map(|f| format!("unknown field {f:?}"));
        let duplicate = self
            .duplicate
            .iter()
            .map(|f| format!("duplicate field {f:?}"));
        unknown.chain(duplicate).collect()
    }

    /// Applies `validation`: Strict fails with 400 naming every problem (`strict decoding
    /// error: unknown field "spec.x", duplicate field "metadata.name"`); Warn returns one
    /// warning per problem; Ignore returns none.
    pub(crate) fn judge(&self, validation: FieldValidation) -> Result<Vec<String>, ApiError> {
        match validation {
            FieldValidation::Ignore => Ok(Vec::new()),
            FieldValidation::Warn => Ok(self.messages()),
            FieldValidation::Strict if self.unknown.is_empty() && self.duplicate.is_empty() => {
                Ok(Vec::new())
            }
            FieldValidation::Strict => Err(ApiError::bad_request(format!(
                "strict decoding error: {}",
                self.messages().join(", ")
            ))),
        }
    }
}

fn push_bounded(list: &mut Vec<String>, path: String) {
    if list.len() < MAX_REPORTED {
        list.push(path);
    }
}

/// Appends `key` to the field path `parent` (`spec` + `ports` = `spec.ports`).
fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Writes a `serde_ignored` path the way Kubernetes does: `.` between keys, `[i]` for list
/// items.
fn write_path(path: &serde_ignored::Path<'_>, out: &mut String) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            write_path(parent, out);
            let _ = write!(out, "[{index}]");
        }
        Path::Map { parent, key } => {
            write_path(parent, out);
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(key);
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => write_path(parent, out),
    }
}

/// Deserializes `value` into `T`, returning it with the paths of the fields `T` ignored.
/// A type error names its field's path (`spec.ports[0].port: invalid type ...`).
pub(crate) fn typed<T: de::DeserializeOwned>(
    value: &Value,
) -> Result<(T, Vec<String>), serde_path_to_error::Error<serde_json::Error>> {
    let mut unknown = Vec::new();
    let mut note = |path: serde_ignored::Path<'_>| {
        let mut text = String::new();
        write_path(&path, &mut text);
        push_bounded(&mut unknown, text);
    };
    let typed =
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(value, &mut note))?;
    Ok((typed, unknown))
}

/// Parses JSON `body` into a value, with the paths of keys that appear twice in one object.
pub(crate) fn parse_json(body: &[u8]) -> Result<(Value, Vec<String>), serde_json::Error> {
    let mut duplicate = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = Tracked {
        path: String::new(),
        duplicate: &mut duplicate,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok((value, duplicate))
}

/// Parses one YAML document into a JSON value, with the paths of keys that appear twice in one
/// mapping.
pub(crate) fn parse_yaml(body: &[u8]) -> Result<(Value, Vec<String>), serde_yaml::Error> {
    let mut duplicate = Vec::new();
    let value = Tracked {
        path: String::new(),
        duplicate: &mut duplicate,
    }
    .deserialize(serde_yaml::Deserializer::from_slice(body))?;
    Ok((value, duplicate))
}

/// Builds a JSON value from any self-describing format, noting repeated keys by path.
struct Tracked<'a> {
    path: String,
    duplicate: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Tracked<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Tracked<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Tracked {
            path: format!("{}[{}]", self.path, items.len()),
            duplicate: &mut *self.duplicate,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<MapKey>()? {
            let path = child(&self.path, &key.0);
            let value = map.next_value_seed(Tracked {
                path: path.clone(),
                duplicate: &mut *self.duplicate,
            })?;
            if object.insert(key.0, value).is_some() {
                push_bounded(self.duplicate, path);
            }
        }
        Ok(Value::Object(object))
    }
}

/// A mapping key: a string, or (in YAML) a number or boolean written as its text.
struct MapKey(String);

impl<'de> de::Deserialize<'de> for MapKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<MapKey, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = MapKey;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MapKey, E> {
                Ok(MapKey(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<MapKey, E> {
                Ok(MapKey(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<MapKey, E> {
                Ok(MapKey(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MapKey, E> {
                Ok(MapKey(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MapKey, E> {
                Ok(MapKey(v.to_string()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

#[cfg(test)]
mod tests;
