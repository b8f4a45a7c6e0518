//! Strategic merge patch (`application/strategic-merge-patch+json`) for the lists our kinds
//! have: lists of maps with a merge key are merged element by element (Service `spec.ports` by
//! `port`+`protocol`, containers by `name`, container ports by `containerPort`, env by `name`,
//! conditions by `type`, ...), `metadata.finalizers` and `spec.podCIDRs` are merged as sets,
//! every other list is replaced. Directives: `$patch: replace|delete|merge`, `$retainKeys`,
//! `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>`. Maps merge as JSON merge
//! patch does (`null` deletes a key).
//!
//! Pure functions over JSON values; never sees the store.

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::object::Kind;

/// How a list field is patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListStrategy {
    /// The patch's list replaces the stored one.
    Replace,
    /// Elements are maps merged by these keys (missing `protocol` means TCP).
    Keys(&'static [&'static str]),
    /// Elements are scalars; the patch's are added if missing.
    Set,
}

/// The strategy for the list at `path` (field names joined by `.`, no indices) of `kind`.
fn strategy(kind: Kind, path: &str) -> ListStrategy {
    use ListStrategy::{Keys, Replace, Set};
    match path {
        "metadata.finalizers" => return Set,
        "metadata.ownerReferences" => return Keys(&["uid"]),
        "status.conditions" => return Keys(&["type"]),
        _ => {}
    }
    let last = path.rsplit('.').next().unwrap_or_default();
    match kind {
        Kind::Service => match path {
            "spec.ports" => Keys(&["port", "protocol"]),
            _ => Replace,
        },
        Kind::Pod => match path {
            "spec.containers"
            | "spec.initContainers"
            | "spec.ephemeralContainers"
            | "spec.volumes"
            | "spec.imagePullSecrets"
            | "spec.resourceClaims"
            | "spec.schedulingGates" => Keys(&["name"]),
            "spec.hostAliases" | "status.podIPs" | "status.hostIPs" => Keys(&["ip"]),
            "spec.topologySpreadConstraints" => Keys(&["topologyKey", "whenUnsatisfiable"]),
            _ if path.starts_with("spec.") && last == "ports" => {
                Keys(&["containerPort", "protocol"])
            }
            _ if path.starts_with("spec.") && last == "env" => Keys(&["name"]),
            _ if path.starts_with("spec.") && last == "volumeMounts" => Keys(&["mountPath"]),
            _ if path.starts_with("spec.") && last == "volumeDevices" => Keys(&["devicePath"]),
            _ => Replace,
        },
        // `spec.taints` is atomic in Kubernetes: replaced whole.
        Kind::Node => match path {
            "spec.podCIDRs" => Set,
            "status.addresses" => Keys(&["type"]),
            _ => Replace,
        },
        Kind::Namespace
        | Kind::Endpoints
        | Kind::EndpointSlice
        | Kind::Role
        | Kind::ClusterRole
        | Kind::RoleBinding
        | Kind::ClusterRoleBinding => Replace,
    }
}

/// Applies a strategic merge patch to `doc`.
pub(crate) fn apply(kind: Kind, doc: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let Value::Object(patch) = patch else {
        return Err(ApiError::bad_request(
            "a strategic merge patch must be a JSON object",
        ));
    };
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    if let Value::Object(map) = doc {
        match directive(patch)? {
            Some("replace") => *doc = strip(&Value::Object(patch.clone())),
            Some("delete") => *doc = Value::Object(Map::new()),
            _ => merge_map(kind, "", map, patch)?,
        }
    }
    Ok(())
}

/// The `$patch` directive of a map, if any.
fn directive(map: &Map<String, Value>) -> Result<Option<&str>, ApiError> {
    match map.get("$patch") {
        None => Ok(None),
        Some(Value::String(s)) if matches!(s.as_str(), "replace" | "delete" | "merge") => {
            Ok(Some(s.as_str()))
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "$patch: unknown directive {other}: expected replace, delete or merge"
        ))),
    }
}

/// `value` without any `$`-directive keys, at any depth.
fn strip(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|v| !is_directive_only(v))
                .map(strip)
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether `value` is a map holding only `$patch` (a list-level marker).
fn is_directive_only(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|m| m.len() == 1 && m.contains_key("$patch"))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn merge_map(
    kind: Kind,
    path: &str,
    doc: &mut Map<String, Value>,
    patch: &Map<String, Value>,
) -> Result<(), ApiError> {
    let mut orders: Vec<(&str, &Vec<Value>)> = Vec::new();
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix("$setElementOrder/") {
            let Value::Array(order) = value else {
                return Err(ApiError::bad_request(format!(
                    "{}: $setElementOrder must be a list",
                    join(path, field)
                )));
            };
            orders.push((field, order));
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            let Value::Array(gone) = value else {
                return Err(ApiError::bad_request(format!(
                    "{}: $deleteFromPrimitiveList must be a list",
                    join(path, field)
                )));
            };
            if let Some(Value::Array(items)) = doc.get_mut(field) {
                items.retain(|v| !gone.contains(v));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        let here = join(path, key);
        match value {
            Value::Null => {
                doc.remove(key);
            }
            Value::Object(sub) => match directive(sub)? {
                Some("delete") => {
                    doc.remove(key);
                }
                Some("replace") => {
                    doc.insert(key.clone(), strip(value));
                }
                _ => match doc.get_mut(key) {
                    Some(Value::Object(existing)) => merge_map(kind, &here, existing, sub)?,
                    _ => {
                        let mut fresh = Map::new();
                        merge_map(kind, &here, &mut fresh, sub)?;
                        doc.insert(key.clone(), Value::Object(fresh));
                    }
                },
            },
            Value::Array(items) => {
                let merged = match doc.get(key) {
                    Some(Value::Array(existing)) => {
                        merge_list(kind, &here, existing.clone(), items)?
                    }
                    _ => merge_list(kind, &here, Vec::new(), items)?,
                };
                doc.insert(key.clone(), Value::Array(merged));
            }
            scalar => {
                doc.insert(key.clone(), scalar.clone());
            }
        }
    }
    if let Some(Value::Array(keep)) = patch.get("$retainKeys") {
        doc.retain(|k, _| keep.iter().any(|v| v.as_str() == Some(k)));
    }
    for (field, order) in orders {
        if let Some(Value::Array(items)) = doc.get_mut(field) {
            reorder(strategy(kind, &join(path, field)), items, order);
        }
    }
    Ok(())
}

/// Whether `a` and `b` agree on every merge key (`protocol` defaults to TCP).
fn same_element(keys: &[&str], a: &Value, b: &Value) -> bool {
    keys.iter().all(|k| {
        let get = |v: &Value| -> Value {
            match v.get(*k) {
                Some(x) => x.clone(),
                None if *k == "protocol" => Value::String("TCP".into()),
                None => Value::Null,
            }
        };
        get(a) == get(b)
    })
}

fn merge_list(
    kind: Kind,
    path: &str,
    mut doc: Vec<Value>,
    patch: &[Value],
) -> Result<Vec<Value>, ApiError> {
    let replace = patch.iter().any(|v| {
        v.get("$patch").and_then(Value::as_str) == Some("replace") && is_directive_only(v)
    });
    if replace {
        return Ok(patch
            .iter()
            .filter(|v| !is_directive_only(v))
            .map(strip)
            .collect());
    }
    match strategy(kind, path) {
        ListStrategy::Replace => Ok(patch.iter().map(strip).collect()),
        ListStrategy::Set => {
            for item in patch {
                if !doc.contains(item) {
                    doc.push(item.clone());
                }
            }
            Ok(doc)
        }
        ListStrategy::Keys(keys) => {
            for item in patch {
                let Value::Object(fields) = item else {
                    return Err(ApiError::bad_request(format!(
                        "{path}: expected a list of objects merged by {}",
                        keys.join("+")
                    )));
                };
                if !fields.contains_key(keys[0]) {
                    return Err(ApiError::bad_request(format!(
                        "{path}: every element must have the merge key {:?}",
                        keys[0]
                    )));
                }
                let position = doc.iter().position(|d| same_element(keys, d, item));
                match (directive(fields)?, position) {
                    (Some("delete"), Some(i)) => {
                        doc.remove(i);
                    }
                    (Some("delete"), None) => {}
                    (Some("replace"), Some(i)) => doc[i] = strip(item),
                    (_, Some(i)) => {
                        if let Value::Object(existing) = &mut doc[i] {
                            merge_map(kind, path, existing, fields)?;
                        }
                    }
                    (_, None) => doc.push(strip(item)),
                }
            }
            Ok(doc)
        }
    }
}

/// Orders `items` as `order` says (elements it does not mention keep their place after).
fn reorder(strategy: ListStrategy, items: &mut [Value], order: &[Value]) {
    let rank = |item: &Value| -> usize {
        order
            .iter()
            .position(|o| match strategy {
                ListStrategy::Keys(keys) => same_element(&keys[..1], o, item),
                _ => o == item,
            })
            .unwrap_or(order.len())
    };
    items.sort_by_key(|item| rank(item));
}

#[cfg(test)]
mod tests;
