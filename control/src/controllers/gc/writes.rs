//! The collector's API calls through `kube`'s dynamic client: a live GET of an object or an
//! owner, a delete with preconditions, dropping owner references, removing a finalizer. A
//! 404 on a write means the work is already done and is not an error.

use cluster_watch::status_code;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions, PropagationPolicy};
use kube::core::{ApiResource, DynamicObject};

use super::GcError;
use super::decide::drop_owner_patch;
use super::graph::Identity;
use crate::object::Kind;
use crate::store::Propagation;

/// The dynamic-client description of one of our kinds.
pub(super) fn resource_of(kind: Kind) -> ApiResource {
    ApiResource {
        group: kind.group().to_string(),
        version: kind.version().to_string(),
        api_version: kind.api_version(),
        kind: kind.name().to_string(),
        plural: kind.plural().to_string(),
    }
}

/// The API of `kind` in `namespace` (ignored for cluster-scoped kinds).
pub(super) fn api_of(client: &Client, kind: Kind, namespace: Option<&str>) -> Api<DynamicObject> {
    let resource = resource_of(kind);
    match namespace {
        Some(ns) if kind.namespaced() => Api::namespaced_with(client.clone(), ns, &resource),
        _ => Api::all_with(client.clone(), &resource),
    }
}

fn failed(verb: &'static str, what: impl std::fmt::Display, source: kube::Error) -> GcError {
    GcError::Api {
        verb,
        what: what.to_string(),
        source,
    }
}

/// The object `kind` `namespace/name` as stored now, or `None` when there is none.
pub(super) async fn get(
    client: &Client,
    kind: Kind,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<DynamicObject>, GcError> {
    api_of(client, kind, namespace)
        .get_opt(name)
        .await
        .map_err(|e| failed("get", format!("{kind} {name}"), e))
}

/// Deletes `item` with `policy`, only if it still has `resource_version` (and its uid).
pub(super) async fn delete(
    client: &Client,
    item: &Identity,
    resource_version: Option<String>,
    policy: Propagation,
) -> Result<(), GcError> {
    let params = DeleteParams {
        propagation_policy: Some(match policy {
            Propagation::Orphan => PropagationPolicy::Orphan,
            Propagation::Background => PropagationPolicy::Background,
            Propagation::Foreground => PropagationPolicy::Foreground,
        }),
        preconditions: Some(Preconditions {
            uid: Some(item.uid.clone()),
            resource_version,
        }),
        ..DeleteParams::default()
    };
    match api_of(client, item.kind, item.namespace.as_deref())
        .delete(&item.name, &params)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if status_code(&e) == Some(404) => Ok(()),
        Err(e) => Err(failed("delete", item, e)),
    }
}

/// Removes the references to `owner_uids` from `dependent`.
pub(super) async fn drop_owners(
    client: &Client,
    dependent: &Identity,
    owner_uids: &[String],
) -> Result<(), GcError> {
    let patch = drop_owner_patch(&dependent.uid, owner_uids);
    match api_of(client, dependent.kind, dependent.namespace.as_deref())
        .patch(
            &dependent.name,
            &PatchParams::default(),
            &Patch::Strategic(patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if status_code(&e) == Some(404) => Ok(()),
        Err(e) => Err(failed("patch", dependent, e)),
    }
}

/// Removes `finalizer` from `owner` (read live; the patch carries its resourceVersion, so a
/// concurrent change makes it fail and the job is retried). Done when the object is gone, is
/// another object now, or no longer has the finalizer.
pub(super) async fn remove_finalizer(
    client: &Client,
    owner: &Identity,
    finalizer: &str,
) -> Result<(), GcError> {
    let Some(latest) = get(client, owner.kind, owner.namespace.as_deref(), &owner.name).await?
    else {
        return Ok(());
    };
    let meta = &latest.metadata;
    let has = meta.finalizers.iter().flatten().any(|f| f == finalizer);
    if meta.uid.as_deref() != Some(owner.uid.as_str()) || !has {
        return Ok(());
    }
    let rest: Vec<&String> = meta
        .finalizers
        .iter()
        .flatten()
        .filter(|f| *f != finalizer)
        .collect();
    let patch = serde_json::json!({
        "metadata": {"finalizers": rest, "resourceVersion": meta.resource_version}
    });
    match api_of(client, owner.kind, owner.namespace.as_deref())
        .patch(&owner.name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if status_code(&e) == Some(404) => Ok(()),
        Err(e) => Err(failed("patch", owner, e)),
    }
}
