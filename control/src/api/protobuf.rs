//! Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`),
//! for the kinds kubectl's typed clients create that way: `kubectl create namespace` and
//! `kubectl create service ...`. The envelope (`k8s\0` + `runtime.Unknown`) and the messages
//! are decoded into the same JSON a client would have sent, so the rest of the API is
//! unchanged. A field this decoder does not know is refused (415) rather than dropped, unless
//! it holds its zero value (Go's encoder writes those for every non-pointer field).
//!
//! Decoding only; responses are always JSON, which clients accept.

use serde_json::{Map, Value, json};

use crate::error::ApiError;

const MAGIC: &[u8] = b"k8s\0";

/// One protobuf field value.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

/// Splits a message into `(field number, value)` pairs, leaving out zero and empty values:
/// Go's encoder writes every non-pointer field, and a zero value means "unset" here.
fn fields(mut buf: &[u8]) -> Result<Vec<(u64, Wire<'_>)>, ApiError> {
    let bad = || ApiError::bad_request("the protobuf body is malformed");
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf).ok_or_else(bad)?;
        let value = match key & 7 {
            0 => Wire::Varint(varint(&mut buf).ok_or_else(bad)?),
            2 => {
                let len = usize::try_from(varint(&mut buf).ok_or_else(bad)?).map_err(|_| bad())?;
                if len > buf.len() {
                    return Err(bad());
                }
                let (head, rest) = buf.split_at(len);
                buf = rest;
                Wire::Bytes(head)
            }
            _ => return Err(bad()),
        };
        if !matches!(value, Wire::Varint(0) | Wire::Bytes([])) {
            out.push((key >> 3, value));
        }
    }
    Ok(out)
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn unsupported(message: &str, field: u64) -> ApiError {
    ApiError::unsupported_media_type(format!(
        "protobuf field {field} of {message} is not supported by this server: send the object \
         as application/json instead"
    ))
}

fn text(message: &str, field: u64, value: &Wire<'_>) -> Result<Value, ApiError> {
    match value {
        Wire::Bytes(b) => Ok(Value::String(String::from_utf8_lossy(b).into_owned())),
        Wire::Varint(_) => Err(unsupported(message, field)),
    }
}

fn number(message: &str, field: u64, value: &Wire<'_>) -> Result<i64, ApiError> {
    match value {
        // Negative int32/int64 arrive as two's complement in 64 bits.
        Wire::Varint(v) => Ok(*v as i64),
        Wire::Bytes(_) => Err(unsupported(message, field)),
    }
}

fn message<'a>(name: &str, field: u64, value: &Wire<'a>) -> Result<&'a [u8], ApiError> {
    match value {
        Wire::Bytes(b) => Ok(b),
        Wire::Varint(_) => Err(unsupported(name, field)),
    }
}

fn push(map: &mut Map<String, Value>, key: &str, value: Value) {
    if let Value::Array(items) = map.entry(key).or_insert_with(|| json!([])) {
        items.push(value);
    }
}

fn string_map(map: &mut Map<String, Value>, key: &str, entry: &[u8]) -> Result<(), ApiError> {
    let mut k = String::new();
    let mut v = String::new();
    for (n, value) in fields(entry)? {
        match (n, value) {
            (1, Wire::Bytes(b)) => k = String::from_utf8_lossy(b).into_owned(),
            (2, Wire::Bytes(b)) => v = String::from_utf8_lossy(b).into_owned(),
            (n, _) => return Err(unsupported("map entry", n)),
        }
    }
    if let Value::Object(m) = map.entry(key).or_insert_with(|| json!({})) {
        m.insert(k, Value::String(v));
    }
    Ok(())
}

fn object_meta(buf: &[u8]) -> Result<Value, ApiError> {
    const M: &str = "ObjectMeta";
    let mut out = Map::new();
    for (n, v) in fields(buf)? {
        match n {
            1 => out.insert("name".into(), text(M, n, &v)?),
            2 => out.insert("generateName".into(), text(M, n, &v)?),
            3 => out.insert("namespace".into(), text(M, n, &v)?),
            5 => out.insert("uid".into(), text(M, n, &v)?),
            6 => out.insert("resourceVersion".into(), text(M, n, &v)?),
            7 => out.insert("generation".into(), number(M, n, &v)?.into()),
            // Server-owned timestamps are replaced anyway.
            8 | 9 | 10 | 17 => None,
            11 => {
                string_map(&mut out, "labels", message(M, n, &v)?)?;
                None
            }
            12 => {
                string_map(&mut out, "annotations", message(M, n, &v)?)?;
                None
            }
            14 => {
                push(&mut out, "finalizers", text(M, n, &v)?);
                None
            }
            _ => return Err(unsupported(M, n)),
        };
    }
    Ok(Value::Object(out))
}

fn namespace(buf: &[u8]) -> Result<Value, ApiError> {
    let mut out = Map::new();
    for (n, v) in fields(buf)? {
        match n {
            1 => {
                out.insert(
                    "metadata".into(),
                    object_meta(message("Namespace", n, &v)?)?,
                );
            }
            2 => {
                let mut spec = Map::new();
                for (f, fv) in fields(message("Namespace", n, &v)?)? {
                    match f {
                        1 => push(&mut spec, "finalizers", text("NamespaceSpec", f, &fv)?),
                        _ => return Err(unsupported("NamespaceSpec", f)),
                    }
                }
                out.insert("spec".into(), Value::Object(spec));
            }
            // Status is server-owned.
            3 => {}
            _ => return Err(unsupported("Namespace", n)),
        }
    }
    Ok(Value::Object(out))
}

fn int_or_string(buf: &[u8]) -> Result<Value, ApiError> {
    let (mut kind, mut int, mut text_value) = (0, 0, String::new());
    for (n, v) in fields(buf)? {
        match (n, v) {
            (1, Wire::Varint(t)) => kind = t,
            (2, Wire::Varint(i)) => int = i as i64 as i32,
            (3, Wire::Bytes(b)) => text_value = String::from_utf8_lossy(b).into_owned(),
            (n, _) => return Err(unsupported("IntOrString", n)),
        }
    }
    Ok(if kind == 1 {
        json!(text_value)
    } else {
        json!(int)
    })
}

fn service_port(buf: &[u8]) -> Result<Value, ApiError> {
    const M: &str = "ServicePort";
    let mut out = Map::new();
    for (n, v) in fields(buf)? {
        match n {
            1 => out.insert("name".into(), text(M, n, &v)?),
            2 => out.insert("protocol".into(), text(M, n, &v)?),
            3 => out.insert("port".into(), number(M, n, &v)?.into()),
            4 => out.insert("targetPort".into(), int_or_string(message(M, n, &v)?)?),
            5 => out.insert("nodePort".into(), number(M, n, &v)?.into()),
            6 => out.insert("appProtocol".into(), text(M, n, &v)?),
            _ => return Err(unsupported(M, n)),
        };
    }
    Ok(Value::Object(out))
}

fn service_spec(buf: &[u8]) -> Result<Value, ApiError> {
    const M: &str = "ServiceSpec";
    let mut out = Map::new();
    for (n, v) in fields(buf)? {
        match n {
            1 => push(&mut out, "ports", service_port(message(M, n, &v)?)?),
            2 => string_map(&mut out, "selector", message(M, n, &v)?)?,
            3 => {
                out.insert("clusterIP".into(), text(M, n, &v)?);
            }
            4 => {
                out.insert("type".into(), text(M, n, &v)?);
            }
            5 => push(&mut out, "externalIPs", text(M, n, &v)?),
            7 => {
                out.insert("sessionAffinity".into(), text(M, n, &v)?);
            }
            10 => {
                out.insert("externalName".into(), text(M, n, &v)?);
            }
            11 => {
                out.insert("externalTrafficPolicy".into(), text(M, n, &v)?);
            }
            17 => {
                out.insert("ipFamilyPolicy".into(), text(M, n, &v)?);
            }
            18 => push(&mut out, "clusterIPs", text(M, n, &v)?),
            19 => push(&mut out, "ipFamilies", text(M, n, &v)?),
            22 => {
                out.insert("internalTrafficPolicy".into(), text(M, n, &v)?);
            }
            _ => return Err(unsupported(M, n)),
        }
    }
    Ok(Value::Object(out))
}

fn service(buf: &[u8]) -> Result<Value, ApiError> {
    let mut out = Map::new();
    for (n, v) in fields(buf)? {
        match n {
            1 => {
                out.insert("metadata".into(), object_meta(message("Service", n, &v)?)?);
            }
            2 => {
                out.insert("spec".into(), service_spec(message("Service", n, &v)?)?);
            }
            3 => {}
            _ => return Err(unsupported("Service", n)),
        }
    }
    Ok(Value::Object(out))
}

fn resource_attributes(buf: &[u8]) -> Result<Value, ApiError> {
    const M: &str = "ResourceAttributes";
    let mut out = Map::new();
    for (n, v) in fields(buf)? {
        let key = match n {
            1 => "namespace",
            2 => "verb",
            3 => "group",
            4 => "version",
            5 => "resource",
            6 => "subresource",
            7 => "name",
            _ => return Err(unsupported(M, n)),
        };
        out.insert(key.into(), text(M, n, &v)?);
    }
    Ok(Value::Object(out))
}

fn non_resource_attributes(buf: &[u8]) -> Result<Value, ApiError> {
    const M: &str = "NonResourceAttributes";
    let mut out = Map::new();
    for (n, v) in fields(buf)? {
        let key = match n {
            1 => "path",
            2 => "verb",
            _ => return Err(unsupported(M, n)),
        };
        out.insert(key.into(), text(M, n, &v)?);
    }
    Ok(Value::Object(out))
}

/// A `SelfSubjectAccessReview` (`self_subject`) or `SubjectAccessReview`: metadata, spec
/// (resource or non-resource attributes; user, groups and uid for the latter); status ignored.
fn access_review(buf: &[u8], self_subject: bool) -> Result<Value, ApiError> {
    let m = if self_subject {
        "SelfSubjectAccessReview"
    } else {
        "SubjectAccessReview"
    };
    let mut out = Map::new();
    for (n, v) in fields(buf)? {
        match n {
            1 => {
                out.insert("metadata".into(), object_meta(message(m, n, &v)?)?);
            }
            2 => {
                let mut spec = Map::new();
                for (f, fv) in fields(message(m, n, &v)?)? {
                    match f {
                        1 => {
                            let attrs = resource_attributes(message("spec", f, &fv)?)?;
                            spec.insert("resourceAttributes".into(), attrs);
                        }
                        2 => {
                            let attrs = non_resource_attributes(message("spec", f, &fv)?)?;
                            spec.insert("nonResourceAttributes".into(), attrs);
                        }
                        3 if !self_subject => {
                            spec.insert("user".into(), text("spec", f, &fv)?);
                        }
                        4 if !self_subject => push(&mut spec, "groups", text("spec", f, &fv)?),
                        6 if !self_subject => {
                            spec.insert("uid".into(), text("spec", f, &fv)?);
                        }
                        _ => return Err(unsupported("spec", f)),
                    }
                }
                out.insert("spec".into(), Value::Object(spec));
            }
            3 => {}
            _ => return Err(unsupported(m, n)),
        }
    }
    Ok(Value::Object(out))
}

/// A `SelfSubjectReview`: metadata only (status is the answer).
fn self_subject_review(buf: &[u8]) -> Result<Value, ApiError> {
    let mut out = Map::new();
    for (n, v) in fields(buf)? {
        match n {
            1 => {
                let meta = object_meta(message("SelfSubjectReview", n, &v)?)?;
                out.insert("metadata".into(), meta);
            }
            2 => {}
            _ => return Err(unsupported("SelfSubjectReview", n)),
        }
    }
    Ok(Value::Object(out))
}

/// Decodes a protobuf request body into the equivalent JSON object.
pub(crate) fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| ApiError::bad_request("the protobuf body lacks the k8s envelope"))?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, v) in fields(envelope)? {
        match (n, v) {
            (1, Wire::Bytes(type_meta)) => {
                for (f, fv) in fields(type_meta)? {
                    match (f, fv) {
                        (1, Wire::Bytes(b)) => {
                            api_version = String::from_utf8_lossy(b).into_owned()
                        }
                        (2, Wire::Bytes(b)) => kind = String::from_utf8_lossy(b).into_owned(),
                        (f, _) => return Err(unsupported("TypeMeta", f)),
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = b,
            (3 | 4, _) => {}
            (n, _) => return Err(unsupported("Unknown", n)),
        }
    }
    let mut object = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => namespace(raw)?,
        ("v1", "Service") => service(raw)?,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => access_review(raw, true)?,
        ("authorization.k8s.io/v1", "SubjectAccessReview") => access_review(raw, false)?,
        ("authentication.k8s.io/v1", "SelfSubjectReview") => self_subject_review(raw)?,
        _ => {
            return Err(ApiError::unsupported_media_type(format!(
                "protobuf bodies are accepted for v1 Namespace and Service and the review \
                 kinds only, not {api_version} {kind}: send application/json"
            )));
        }
    };
    object["apiVersion"] = api_version.into();
    object["kind"] = kind.into();
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![((n << 3) | 2) as u8, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    fn varint_field(n: u64, v: u8) -> Vec<u8> {
        vec![(n << 3) as u8, v]
    }

    #[test]
    fn decodes_a_namespace_like_kubectl_create_namespace_sends() {
        let meta = field(1, b"team-a");
        let ns = field(1, &meta);
        let mut envelope = MAGIC.to_vec();
        envelope.extend(field(
            1,
            &[field(1, b"v1"), field(2, b"Namespace")].concat(),
        ));
        envelope.extend(field(2, &ns));
        let value = decode(&envelope).unwrap_or_default();
        assert_eq!(value["metadata"]["name"], "team-a");
        assert_eq!(value["kind"], "Namespace");
    }

    #[test]
    fn decodes_service_ports_and_selector() {
        let target = [varint_field(2, 80)].concat();
        let port = [
            field(1, b"80-8080"),
            field(2, b"TCP"),
            varint_field(3, 80),
            field(4, &target),
        ]
        .concat();
        let selector = [field(1, b"app"), field(2, b"web")].concat();
        let spec = [field(1, &port), field(2, &selector), field(4, b"ClusterIP")].concat();
        let svc = [field(1, &field(1, b"web")), field(2, &spec)].concat();
        let mut envelope = MAGIC.to_vec();
        envelope.extend(field(1, &[field(1, b"v1"), field(2, b"Service")].concat()));
        envelope.extend(field(2, &svc));
        let value = decode(&envelope).unwrap_or_default();
        assert_eq!(value["spec"]["ports"][0]["port"], 80);
        assert_eq!(value["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(value["spec"]["selector"]["app"], "web");
    }

    #[test]
    fn decodes_a_self_subject_access_review_like_kubectl_auth_can_i_sends() {
        let attrs = [
            field(1, b"team-a"),
            field(2, b"list"),
            field(5, b"services"),
        ]
        .concat();
        let review = field(2, &field(1, &attrs));
        let mut envelope = MAGIC.to_vec();
        envelope.extend(field(
            1,
            &[
                field(1, b"authorization.k8s.io/v1"),
                field(2, b"SelfSubjectAccessReview"),
            ]
            .concat(),
        ));
        envelope.extend(field(2, &review));
        let value = decode(&envelope).unwrap_or_default();
        let attrs = &value["spec"]["resourceAttributes"];
        assert_eq!(attrs["namespace"], "team-a");
        assert_eq!(attrs["verb"], "list");
        assert_eq!(attrs["resource"], "services");
    }

    #[test]
    fn refuses_unknown_kinds_fields_and_garbage() {
        assert!(decode(b"nope").is_err());
        let mut envelope = MAGIC.to_vec();
        envelope.extend(field(1, &[field(1, b"v1"), field(2, b"Pod")].concat()));
        assert_eq!(decode(&envelope).err().map(|e| e.code), Some(415));
        let mut envelope = MAGIC.to_vec();
        envelope.extend(field(
            1,
            &[field(1, b"v1"), field(2, b"Namespace")].concat(),
        ));
        envelope.extend(field(2, &field(9, b"x")));
        assert_eq!(decode(&envelope).err().map(|e| e.code), Some(415));
        let mut envelope = MAGIC.to_vec();
        envelope.extend([0x0a, 0x7f]);
        assert_eq!(decode(&envelope).err().map(|e| e.code), Some(400));
    }
}
