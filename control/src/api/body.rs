//! Request bodies: JSON or YAML in, a typed object out, with decoding errors that name the
//! field (`spec.ports[0].port: invalid type ...`) and unknown fields reported the way
//! `fieldValidation` asks (400 when Strict, a `Warning` otherwise; see [`super::fields`]).
//!
//! Decoding never touches the store.

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::fields;
use super::query::FieldValidation;
use crate::error::ApiError;
use crate::object::{Kind, KindVisitor, Object, StoredType};

/// The media type of a request body, from `Content-Type`.
pub(crate) fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The media types a request body may have: JSON, YAML, protobuf and the three patch types.
pub(crate) const ALLOWED_BODY_TYPES: [&str; 8] = [
    "application/json",
    "application/yaml",
    "application/x-yaml",
    "text/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

/// Whether a request body of `len` bytes with these headers may be decoded: an empty body
/// always may; a non-empty one only with a `Content-Type` from [`ALLOWED_BODY_TYPES`]
/// (`application/apply-patch+yaml` is also accepted, as server-side apply's type).
/// A browser's "simple request" (a form or `text/plain` body, sent cross-site with no
/// preflight) therefore never creates an object, in any mode.
pub(crate) fn media_type_allowed(headers: &HeaderMap, len: usize) -> bool {
    if len == 0 {
        return true;
    }
    let media = content_type(headers);
    ALLOWED_BODY_TYPES.contains(&media.as_str()) || media == "application/apply-patch+yaml"
}

/// A parsed request body: its JSON value and the paths of the keys it repeats.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parsed {
    /// The body as JSON (of a repeated key, the last value).
    pub value: Value,
    /// Paths of keys that appear more than once in one object.
    pub duplicate: Vec<String>,
}

impl From<Value> for Parsed {
    fn from(value: Value) -> Parsed {
        Parsed {
            value,
            duplicate: Vec::new(),
        }
    }
}

/// Parses a JSON, YAML or protobuf body into a JSON value.
pub(crate) fn parse(media_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    parse_tracked(media_type, body).map(|p| p.value)
}

/// Parses a JSON, YAML or protobuf body into a JSON value, noting repeated keys.
pub(crate) fn parse_tracked(media_type: &str, body: &[u8]) -> Result<Parsed, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    let (value, duplicate) = match media_type {
        "" | "application/json" | "*/*" => fields::parse_json(body).map_err(|e| {
            ApiError::bad_request(format!("the request body is not valid JSON: {e}"))
        })?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => fields::parse_yaml(body)
            .map_err(|e| {
                ApiError::bad_request(format!("the request body is not valid YAML: {e}"))
            })?,
        "application/vnd.kubernetes.protobuf" => (super::protobuf::decode(body)?, Vec::new()),
        other => {
            return Err(ApiError::unsupported_media_type(format!(
                "the body's media type {other:?} is not supported: use application/json or \
                 application/yaml"
            )));
        }
    };
    Ok(Parsed { value, duplicate })
}

fn typed<T: DeserializeOwned>(kind: Kind, value: &Value) -> Result<(T, Vec<String>), ApiError> {
    fields::typed(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            ApiError::bad_request(format!("invalid {} object: {inner}", kind.name()))
        } else {
            ApiError::bad_request(format!("invalid {} object: {path}: {inner}", kind.name()))
        }
    })
}

/// Decodes `body` as an object of `kind`. `apiVersion` and `kind`, when present, must be
/// the expected ones. Unknown and repeated fields are judged as `validation` asks (see
/// [`fields::Problems::judge`]); returns the object and the warnings to send.
pub(crate) fn decode(
    kind: Kind,
    body: Parsed,
    validation: FieldValidation,
) -> Result<(Object, Vec<String>), ApiError> {
    let Parsed { value, duplicate } = body;
    if !value.is_object() {
        return Err(ApiError::bad_request(format!(
            "the request body must be a {} object",
            kind.name()
        )));
    }
    if let Some(k) = value.get("kind").and_then(Value::as_str)
        && k != kind.name()
    {
        return Err(ApiError::bad_request(format!(
            "kind: the body is a {k:?}, but this path serves {}",
            kind.name()
        )));
    }
    if let Some(v) = value.get("apiVersion").and_then(Value::as_str)
        && v != kind.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "apiVersion: {v:?} is not served here: expected {:?}",
            kind.api_version()
        )));
    }
    struct Typed<'a>(&'a Value);
    impl KindVisitor for Typed<'_> {
        type Output = Result<(Object, Vec<String>), ApiError>;
        fn visit<T: StoredType>(self, kind: Kind) -> Self::Output {
            typed::<T>(kind, self.0).map(|(t, unknown)| (t.into_object(), unknown))
        }
    }
    let (obj, unknown) = kind.visit(Typed(&value))?;
    let warnings = fields::Problems { unknown, duplicate }.judge(validation)?;
    Ok((obj, warnings))
}

#[cfg(test)]
mod tests {

    use super::*;
    use http::HeaderValue;
    use serde_json::json;

    #[test]
    fn bodies_need_an_api_media_type() {
        let mut h = HeaderMap::new();
        assert!(media_type_allowed(&h, 0));
        assert!(!media_type_allowed(&h, 10));
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain"),
        );
        assert!(!media_type_allowed(&h, 10));
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        assert!(!media_type_allowed(&h, 10));
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(media_type_allowed(&h, 10));
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/merge-patch+json"),
        );
        assert!(media_type_allowed(&h, 10));
    }

    #[test]
    fn unknown_fields_are_named_and_rejected_when_strict() {
        let body = json!({"metadata": {"name": "a"}, "spec": {"ports": [{"port": 80, "bogus": 1}], "colour": "red"}});
        let err = decode(Kind::Service, body.clone().into(), FieldValidation::Strict).err();
        let msg = err.map(|e| e.message).unwrap_or_default();
        assert!(
            msg.contains("spec.ports[0].bogus") && msg.contains("spec.colour"),
            "{msg}"
        );
        let (_, warnings) = decode(Kind::Service, body.into(), FieldValidation::Warn)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(warnings.len(), 2);
    }

    #[test]
    fn type_errors_name_the_field() {
        let body = json!({"metadata": {"name": "a"}, "spec": {"ports": [{"port": "eighty"}]}});
        let msg = decode(Kind::Service, body.into(), FieldValidation::Strict)
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(msg.contains("spec.ports[0].port"), "{msg}");
    }

    #[test]
    fn yaml_bodies_parse() {
        let v = parse("application/yaml", b"metadata:\n  name: a\n").unwrap_or_default();
        assert_eq!(v["metadata"]["name"], "a");
        assert!(parse("application/vnd.kubernetes.protobuf", b"x").is_err());
        assert!(parse("application/cbor", b"x").is_err());
    }
}
