//! Lists: selectors, paging with `limit` + `continue` (each page read from the same snapshot
//! revision; 410 once that snapshot has expired), `resourceVersionMatch=Exact`, and Tables.

use std::sync::Arc;

use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::legacy::{self, LegacyVersion};
use super::query::Params;
use super::response;
use super::table::{self, Include};
use crate::error::ApiError;
use crate::object::{Kind, Object};
use crate::store::{ObjectKey, Snapshot, Store};

/// Encodes a continue token: the snapshot revision and the last key returned.
fn encode_token(revision: u64, key: &ObjectKey) -> String {
    format!("{revision}.{}.{}", hex(&key.0), hex(&key.1))
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// Decodes a continue token; 400 naming `continue` when it is malformed.
fn decode_token(token: &str) -> Result<(u64, ObjectKey), ApiError> {
    let bad = || ApiError::bad_request("continue: the continue token is not valid");
    let mut parts = token.split('.');
    let revision = parts.next().and_then(|r| r.parse().ok()).ok_or_else(bad)?;
    let namespace = parts.next().and_then(unhex).ok_or_else(bad)?;
    let name = parts.next().and_then(unhex).ok_or_else(bad)?;
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok((revision, (namespace, name)))
}

/// One page of a list.
pub(crate) struct Page {
    /// The revision the page was read at.
    pub revision: u64,
    /// The objects, in key order.
    pub items: Vec<Arc<Object>>,
    /// The token for the next page.
    pub continue_token: Option<String>,
    /// How many more objects match (only without selectors, as kube-apiserver does).
    pub remaining: Option<usize>,
}

/// Reads one page of `kind` in `namespace` (all when `None`).
pub(crate) fn page(
    store: &Store,
    kind: Kind,
    namespace: Option<&str>,
    params: &Params,
) -> Result<Page, ApiError> {
    let (snapshot, after): (Arc<Snapshot>, Option<ObjectKey>) = match &params.continue_token {
        Some(token) => {
            let (revision, key) = decode_token(token)?;
            if let Some(ns) = namespace
                && key.0 != ns
            {
                return Err(ApiError::bad_request(format!(
                    "continue: the continue token was issued for a list of another namespace \
                     ({:?}), not {ns:?}",
                    key.0
                )));
            }
            let snapshot = store.pinned(revision).ok_or_else(|| {
                ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list \
                     result. You can start a new list without the continue parameter.",
                )
            })?;
            (snapshot, Some(key))
        }
        None => {
            let exact = params.resource_version_match.as_deref() == Some("Exact");
            match (exact, params.resource_version.as_deref()) {
                (true, Some(_)) => {
                    let wanted = params.revision();
                    let snapshot = store.pinned(wanted).ok_or_else(|| {
                        ApiError::expired(format!(
                            "too old resource version: {wanted} ({})",
                            store.revision()
                        ))
                    })?;
                    (snapshot, None)
                }
                _ => (store.snapshot(), None),
            }
        }
    };
    let filtered = params.fields != Default::default() || !params.labels.is_empty();
    let mut matching = snapshot
        .scan(kind, namespace, after.as_ref())
        .filter(|(_, obj)| params.selects(obj));
    let mut items = Vec::new();
    let mut last_key = None;
    for (key, obj) in matching.by_ref() {
        items.push(Arc::clone(obj));
        last_key = Some(key.clone());
        if params.limit > 0 && items.len() >= params.limit {
            break;
        }
    }
    let mut rest = matching.peekable();
    let more = params.limit > 0 && rest.peek().is_some();
    let remaining = (more && !filtered).then(|| rest.count());
    let continue_token = match (more, last_key) {
        (true, Some(key)) => {
            store.pin_for_continue(&snapshot);
            Some(encode_token(snapshot.revision, &key))
        }
        _ => None,
    };
    Ok(Page {
        revision: snapshot.revision,
        items,
        continue_token,
        remaining,
    })
}

/// What a list names: a kind, a namespace (all when `None`) and the version it is answered
/// at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListRequest<'a> {
    /// The kind listed.
    pub kind: Kind,
    /// The namespace (all when `None`).
    pub namespace: Option<&'a str>,
    /// The legacy version the path names, whose shape the items get; `None` for the stored
    /// version.
    pub legacy: Option<LegacyVersion>,
}

/// A list response (JSON list or Table).
pub(crate) fn respond(
    store: &Store,
    request: ListRequest<'_>,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let ListRequest {
        kind,
        namespace,
        legacy,
    } = request;
    let page = page(store, kind, namespace, params)?;
    let mut metadata = json!({"resourceVersion": page.revision.to_string()});
    if let Some(token) = &page.continue_token {
        metadata["continue"] = token.clone().into();
    }
    if let Some(n) = page.remaining {
        metadata["remainingItemCount"] = n.into();
    }
    let body = if response::wants_table(headers) {
        let include = Include::parse(&params.include_object).ok_or_else(|| {
            ApiError::bad_request(format!(
                "includeObject: invalid value {:?}: expected None, Metadata or Object",
                params.include_object
            ))
        })?;
        let mut t = table::build(
            kind,
            page.items.iter().map(|o| o.as_ref()),
            jiff::Timestamp::now(),
            include,
        );
        t["metadata"] = metadata;
        legacy::table_objects(legacy, kind, &mut t);
        t
    } else {
        let items: Vec<Value> = page
            .items
            .iter()
            .map(|o| legacy::render(legacy, o))
            .collect();
        json!({
            "kind": kind.list_name(),
            "apiVersion": legacy::api_version(legacy, kind),
            "metadata": metadata,
            "items": items,
        })
    };
    Ok(response::json(StatusCode::OK, &body, &[]))
}

/// An empty list of events (core `v1` or `events.k8s.io/v1`).
pub(crate) fn empty_events(events_group: bool, revision: u64) -> Value {
    json!({
        "kind": "EventList",
        "apiVersion": if events_group { "events.k8s.io/v1" } else { "v1" },
        "metadata": {"resourceVersion": revision.to_string()},
        "items": [],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let key = ("team-a".to_string(), "web.v1".to_string());
        let token = encode_token(42, &key);
        assert_eq!(decode_token(&token).ok(), Some((42, key)));
        assert!(decode_token("nope").is_err());
        assert!(decode_token("1.zz.00").is_err());
    }
}
