//! Strategic merge patch (`application/strategic-merge-patch+json`) for the lists our kinds
//! have: lists of maps with a merge key are merged element by element (Service `spec.ports` by
//! `port`+`protocol`, containers by `name`, container ports by `containerPort`, env by `name`,
//! conditions by `type`, ...), `metadata.finalizers` and `spec.podCIDRs` are merged as sets,
//! every other list is replaced. Directives: `$patch: replace|delete|merge`, `$retainKeys`,
//! `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>`. Maps merge as JSON merge
//! patch does (`null` deletes a key).
//!
//! Lists are merged through hash indexes (merge key or element → position), so a patch costs
//! time in proportion to the sizes of the lists, not their product.
//!
//! Pure functions over JSON values; never sees the store.

use std::collections::{HashMap, HashSet, VecDeque};

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
    if let Some(prefix) = kind.info().pod_spec
        && let Some(rest) = path.strip_prefix(prefix).and_then(|r| r.strip_prefix('.'))
    {
        return pod_spec_strategy(rest);
    }
    match kind {
        Kind::Service => match path {
            "spec.ports" => Keys(&["port", "protocol"]),
            _ => Replace,
        },
        Kind::Pod => match path {
            "status.podIPs" | "status.hostIPs" => Keys(&["ip"]),
            _ => Replace,
        },
        // `spec.taints` is atomic in Kubernetes: replaced whole.
        Kind::Node => match path {
            "spec.podCIDRs" => Set,
            "status.addresses" => Keys(&["type"]),
            _ => Replace,
        },
        _ => Replace,
    }
}

/// The strategy for the list at `path` inside a pod spec (`containers`,
/// `containers.ports`, ...), the same in a Pod and in every pod template.
fn pod_spec_strategy(path: &str) -> ListStrategy {
    use ListStrategy::{Keys, Replace};
    let last = path.rsplit('.').next().unwrap_or_default();
    match path {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates" => Keys(&["name"]),
        "hostAliases" => Keys(&["ip"]),
        "topologySpreadConstraints" => Keys(&["topologyKey", "whenUnsatisfiable"]),
        _ if last == "ports" => Keys(&["containerPort", "protocol"]),
        _ if last == "env" => Keys(&["name"]),
        _ if last == "volumeMounts" => Keys(&["mountPath"]),
        _ if last == "volumeDevices" => Keys(&["devicePath"]),
        _ => Replace,
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
                let gone: HashSet<String> = gone.iter().map(Value::to_string).collect();
                items.retain(|v| !gone.contains(&v.to_string()));
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

/// The values of an element's merge keys (`protocol` defaults to TCP), encoded: two elements
/// are the same element when their identities are equal.
fn identity(keys: &[&str], element: &Value) -> String {
    let values: Vec<Value> = keys
        .iter()
        .map(|k| match element.get(*k) {
            Some(x) => x.clone(),
            None if *k == "protocol" => Value::String("TCP".into()),
            None => Value::Null,
        })
        .collect();
    Value::Array(values).to_string()
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
            let mut present: HashSet<String> = doc.iter().map(Value::to_string).collect();
            for item in patch {
                if present.insert(item.to_string()) {
                    doc.push(item.clone());
                }
            }
            Ok(doc)
        }
        ListStrategy::Keys(keys) => {
            // Positions of the elements by identity, oldest first (a deleted element leaves a
            // hole, so that positions stay valid; holes are dropped at the end).
            let mut slots: Vec<Option<Value>> = doc.into_iter().map(Some).collect();
            let mut positions: HashMap<String, VecDeque<usize>> = HashMap::new();
            for (i, element) in slots.iter().enumerate() {
                if let Some(element) = element {
                    positions
                        .entry(identity(keys, element))
                        .or_default()
                        .push_back(i);
                }
            }
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
                let id = identity(keys, item);
                let position = positions.get(&id).and_then(|p| p.front().copied());
                match (directive(fields)?, position) {
                    (Some("delete"), Some(i)) => {
                        slots[i] = None;
                        if let Some(p) = positions.get_mut(&id) {
                            p.pop_front();
                        }
                    }
                    (Some("delete"), None) => {}
                    (Some("replace"), Some(i)) => slots[i] = Some(strip(item)),
                    (_, Some(i)) => {
                        if let Some(Value::Object(existing)) = &mut slots[i] {
                            merge_map(kind, path, existing, fields)?;
                        }
                    }
                    (_, None) => {
                        slots.push(Some(strip(item)));
                        positions.entry(id).or_default().push_back(slots.len() - 1);
                    }
                }
            }
            Ok(slots.into_iter().flatten().collect())
        }
    }
}

/// Orders `items` as `order` says (elements it does not mention keep their place after).
fn reorder(strategy: ListStrategy, items: &mut [Value], order: &[Value]) {
    let id = |item: &Value| match strategy {
        ListStrategy::Keys(keys) => identity(&keys[..1], item),
        _ => item.to_string(),
    };
    let mut ranks: HashMap<String, usize> = HashMap::with_capacity(order.len());
    for (i, o) in order.iter().enumerate() {
        ranks.entry(id(o)).or_insert(i);
    }
    items.sort_by_cached_key(|item| ranks.get(&id(item)).copied().unwrap_or(order.len()));
}

#[cfg(test)]
mod tests;
