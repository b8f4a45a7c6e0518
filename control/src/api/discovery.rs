//! Discovery documents: `/api`, `/api/v1`, `/apis`, `/apis/<group>`, `/apis/<group>/v1` and
//! `/version`, enough for kubectl and kube-rs to find every resource with its verbs, short
//! names and scope. Aggregated discovery is not offered: clients asking for it get the plain
//! documents, which they accept as a fallback. The legacy workload versions
//! (`extensions/v1beta1`, `apps/v1beta1`, `apps/v1beta2`, see [`super::legacy`]) are listed
//! after the stored one, which stays the preferred version.

use serde_json::{Value, json};

use super::legacy::LegacyVersion;
use super::route::{Review, groups as served_groups, version_of, versions_of};
use crate::object::Kind;
use crate::store::has_status;

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// The verbs served on `kind`: namespaces have no `deletecollection` (405), as upstream.
fn verbs(kind: Kind) -> Vec<&'static str> {
    VERBS
        .into_iter()
        .filter(|v| !(kind == Kind::Namespace && *v == "deletecollection"))
        .collect()
}

/// `/api`.
pub(crate) fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_json(group: &str) -> Value {
    let versions: Vec<Value> = versions_of(group)
        .into_iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

/// `/apis`.
pub(crate) fn groups() -> Value {
    let groups: Vec<Value> = served_groups().iter().map(|g| group_json(g)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub(crate) fn group(group: &str) -> Value {
    let mut g = group_json(group);
    g["kind"] = "APIGroup".into();
    g["apiVersion"] = "v1".into();
    g
}

/// `/api/v1` (group `""`) or `/apis/<group>/<version>`.
pub(crate) fn resources(group: &str) -> Value {
    let group_version = crate::object::group_version(group, version_of(group));
    let mut list = Vec::new();
    for kind in Kind::ALL.into_iter().filter(|k| k.group() == group) {
        // `kubectl get all` lists the resources in the "all" category.
        push_kind(&mut list, kind, kind.info().in_all);
    }
    for review in Review::ALL.into_iter().filter(|r| r.group() == group) {
        list.push(json!({
            "name": review.plural(),
            "singularName": review.kind().to_ascii_lowercase(),
            "namespaced": false,
            "kind": review.kind(),
            "verbs": ["create"],
        }));
    }
    if group.is_empty() {
        list.push(json!({
            "name": "componentstatuses",
            "singularName": "componentstatus",
            "namespaced": false,
            "kind": "ComponentStatus",
            "verbs": ["get", "list"],
            "shortNames": ["cs"],
        }));
    }
    if group.is_empty() || group == "events.k8s.io" {
        list.push(json!({
            "name": "events",
            "singularName": "event",
            "namespaced": true,
            "kind": "Event",
            "verbs": ["get", "list"],
            "shortNames": if group.is_empty() { json!(["ev"]) } else { json!([]) },
        }));
    }
    resource_list(&group_version, list)
}

/// `/apis/extensions/v1beta1`, `/apis/apps/v1beta1`, `/apis/apps/v1beta2`: the stored kinds
/// that version served. They are in no category, so `kubectl get all` lists each object once
/// (at its preferred version), not once per version.
pub(crate) fn legacy_resources(legacy: LegacyVersion) -> Value {
    let mut list = Vec::new();
    for kind in legacy.kinds() {
        push_kind(&mut list, *kind, false);
    }
    resource_list(legacy.api_version(), list)
}

fn resource_list(group_version: &str, resources: Vec<Value>) -> Value {
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    })
}

/// The APIResources of `kind` and its subresources.
fn push_kind(list: &mut Vec<Value>, kind: Kind, in_all: bool) {
    let mut resource = json!({
        "name": kind.plural(),
        "singularName": kind.singular(),
        "namespaced": kind.namespaced(),
        "kind": kind.name(),
        "verbs": verbs(kind),
        "shortNames": kind.short_names(),
    });
    if in_all {
        resource["categories"] = json!(["all"]);
    }
    list.push(resource);
    if has_status(kind) {
        list.push(json!({
            "name": format!("{}/status", kind.plural()),
            "singularName": "",
            "namespaced": kind.namespaced(),
            "kind": kind.name(),
            "verbs": ["get", "patch", "update"],
        }));
    }
    if kind.info().scale {
        list.push(json!({
            "name": format!("{}/scale", kind.plural()),
            "singularName": "",
            "namespaced": kind.namespaced(),
            "group": "autoscaling",
            "version": "v1",
            "kind": "Scale",
            "verbs": ["get", "patch", "update"],
        }));
    }
    if kind == Kind::Pod {
        for (sub, kind, verbs) in [
            ("attach", "PodAttachOptions", json!(["create", "get"])),
            ("binding", "Binding", json!(["create"])),
            ("exec", "PodExecOptions", json!(["create", "get"])),
            ("log", "Pod", json!(["get"])),
            (
                "portforward",
                "PodPortForwardOptions",
                json!(["create", "get"]),
            ),
        ] {
            list.push(json!({
                "name": format!("pods/{sub}"),
                "singularName": "",
                "namespaced": true,
                "kind": kind,
                "verbs": verbs,
            }));
        }
    }
}

/// `/version`.
pub(crate) fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": format!("v1.32.0+switchyard-{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
    })
}
