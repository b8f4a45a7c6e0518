//! The built-in roles and bindings created at start when missing, as kube-apiserver's
//! bootstrap policy, cut down to the resources this server serves:
//!
//! | ClusterRole | grants | bound to |
//! |---|---|---|
//! | `cluster-admin` | everything | group `system:masters` |
//! | `admin` | `edit`, plus Roles and RoleBindings | - (bind per namespace) |
//! | `edit` | `view`, plus writes of Pods and Services | - |
//! | `view` | reads of Pods, Services, Endpoints, EndpointSlices, Events, Namespaces | - |
//! | `system:discovery` | `GET /api*`, `/apis*`, `/openapi*`, `/version`, health | group `system:authenticated` |
//! | `system:basic-user` | create SelfSubjectAccessReview, SelfSubjectRulesReview, SelfSubjectReview | group `system:authenticated` |
//! | `system:public-info-viewer` | `GET /healthz /livez /readyz /version` | groups `system:authenticated`, `system:unauthenticated` |
//! | `system:monitoring` | `GET /metrics` and health | group `system:monitoring` |
//! | `system:node-proxier` | what kube-proxy reads, events | user `system:kube-proxy` |
//! | `system:switchyard-dns` | list/watch Services, EndpointSlices, Namespaces, Pods | user `system:switchyard-dns` |
//! | `system:node` | what a node agent reads and writes (narrowed by the node restriction) | group `system:nodes` |
//!
//! Every object carries `kubernetes.io/bootstrapping: rbac-defaults` and
//! `rbac.authorization.kubernetes.io/autoupdate: "true"`; an operator who sets the annotation to
//! `"false"` keeps their edited copy.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::object::RBAC_GROUP;

/// The annotation that lets bootstrap keep a built-in role up to date.
pub const AUTOUPDATE_ANNOTATION: &str = "rbac.authorization.kubernetes.io/autoupdate";
/// The group of node identities (`system:node:<name>`).
pub const NODES_GROUP: &str = "system:nodes";
/// The user name prefix of node identities.
pub const NODE_USER_PREFIX: &str = "system:node:";
/// The user kube-proxy acts as.
pub const KUBE_PROXY_USER: &str = "system:kube-proxy";
/// The user the DNS server acts as.
pub const DNS_USER: &str = "system:switchyard-dns";

const READ: [&str; 3] = ["get", "list", "watch"];
const WRITE: [&str; 5] = ["create", "delete", "deletecollection", "patch", "update"];

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    let owned = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    PolicyRule {
        verbs: owned(verbs),
        api_groups: Some(owned(groups)),
        resources: Some(owned(resources)),
        ..PolicyRule::default()
    }
}

fn urls(verbs: &[&str], paths: &[&str]) -> PolicyRule {
    let owned = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    PolicyRule {
        verbs: owned(verbs),
        non_resource_urls: Some(owned(paths)),
        ..PolicyRule::default()
    }
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        labels: Some(BTreeMap::from([(
            "kubernetes.io/bootstrapping".to_string(),
            "rbac-defaults".to_string(),
        )])),
        annotations: Some(BTreeMap::from([(
            AUTOUPDATE_ANNOTATION.to_string(),
            "true".to_string(),
        )])),
        ..ObjectMeta::default()
    }
}

fn role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        metadata: meta(name),
        rules: Some(rules),
        aggregation_rule: None,
    }
}

fn view_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            &READ,
            &[""],
            &[
                "pods",
                "pods/status",
                "services",
                "services/status",
                "endpoints",
                "events",
            ],
        ),
        rule(&READ, &[""], &["namespaces", "namespaces/status"]),
        rule(&READ, &["discovery.k8s.io"], &["endpointslices"]),
        rule(&READ, &["events.k8s.io"], &["events"]),
        // Secrets are not readable by `view`, as upstream.
        rule(
            &READ,
            &[""],
            &[
                "configmaps",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "replicationcontrollers/status",
                "serviceaccounts",
            ],
        ),
        rule(&READ, &["apps"], &WORKLOAD_RESOURCES),
        rule(&READ, &["extensions"], &EXTENSIONS_RESOURCES),
        rule(
            &READ,
            &["batch"],
            &["jobs", "jobs/status", "cronjobs", "cronjobs/status"],
        ),
        rule(
            &READ,
            &["autoscaling"],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
        ),
        rule(
            &READ,
            &["policy"],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
        ),
    ]
}

/// The apps/v1 resources `view` reads and `edit` writes.
const WORKLOAD_RESOURCES: [&str; 12] = [
    "controllerrevisions",
    "daemonsets",
    "daemonsets/status",
    "deployments",
    "deployments/scale",
    "deployments/status",
    "replicasets",
    "replicasets/scale",
    "replicasets/status",
    "statefulsets",
    "statefulsets/scale",
    "statefulsets/status",
];

/// The resources `view` reads in the legacy group `extensions` (served at
/// `extensions/v1beta1`, stored as apps/v1): rules name the group of the request's path, as
/// kube-apiserver's, so upstream's roles grant `extensions` beside `apps`.
const EXTENSIONS_RESOURCES: [&str; 8] = [
    "daemonsets",
    "daemonsets/status",
    "deployments",
    "deployments/scale",
    "deployments/status",
    "replicasets",
    "replicasets/scale",
    "replicasets/status",
];

fn edit_rules() -> Vec<PolicyRule> {
    let mut rules = view_rules();
    // Endpoints and EndpointSlices are not writable by `edit` (as upstream since 1.22: they
    // could point a Service anywhere).
    rules.push(rule(&WRITE, &[""], &["pods", "services"]));
    rules.push(rule(
        &WRITE,
        &[""],
        &[
            "configmaps",
            "replicationcontrollers",
            "replicationcontrollers/scale",
            "secrets",
            "serviceaccounts",
        ],
    ));
    rules.push(rule(&READ, &[""], &["secrets"]));
    rules.push(rule(
        &WRITE,
        &["apps"],
        &[
            "daemonsets",
            "deployments",
            "deployments/scale",
            "replicasets",
            "replicasets/scale",
            "statefulsets",
            "statefulsets/scale",
        ],
    ));
    rules.push(rule(
        &WRITE,
        &["extensions"],
        &[
            "daemonsets",
            "deployments",
            "deployments/scale",
            "replicasets",
            "replicasets/scale",
        ],
    ));
    rules.push(rule(&WRITE, &["batch"], &["jobs", "cronjobs"]));
    rules.push(rule(
        &WRITE,
        &["autoscaling"],
        &["horizontalpodautoscalers"],
    ));
    rules.push(rule(&WRITE, &["policy"], &["poddisruptionbudgets"]));
    rules
}

fn admin_rules() -> Vec<PolicyRule> {
    let mut rules = edit_rules();
    let all: Vec<&str> = READ.iter().chain(WRITE.iter()).copied().collect();
    rules.push(rule(&all, &[RBAC_GROUP], &["roles", "rolebindings"]));
    rules
}

/// The built-in ClusterRoles.
pub fn cluster_roles() -> Vec<ClusterRole> {
    let public = ["/healthz", "/livez", "/readyz", "/version", "/version/"];
    let mut discovery: Vec<&str> = vec![
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
        "/openapi",
        "/openapi/*",
    ];
    discovery.extend(public);
    let mut monitoring = vec!["/metrics"];
    monitoring.extend(public);
    vec![
        role(
            "cluster-admin",
            vec![rule(&["*"], &["*"], &["*"]), urls(&["*"], &["*"])],
        ),
        role("admin", admin_rules()),
        role("edit", edit_rules()),
        role("view", view_rules()),
        role("system:discovery", vec![urls(&["get"], &discovery)]),
        role("system:public-info-viewer", vec![urls(&["get"], &public)]),
        role("system:monitoring", vec![urls(&["get"], &monitoring)]),
        role(
            "system:basic-user",
            vec![
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                rule(
                    &["create"],
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                ),
            ],
        ),
        role(
            "system:node-proxier",
            vec![
                rule(&["list", "watch"], &[""], &["services", "endpoints"]),
                rule(&["get", "list", "watch"], &[""], &["nodes"]),
                rule(
                    &["list", "watch"],
                    &["discovery.k8s.io"],
                    &["endpointslices"],
                ),
                rule(
                    &["create", "patch", "update"],
                    &["", "events.k8s.io"],
                    &["events"],
                ),
            ],
        ),
        role(
            "system:switchyard-dns",
            vec![
                rule(
                    &["list", "watch"],
                    &[""],
                    &["services", "namespaces", "pods"],
                ),
                rule(
                    &["list", "watch"],
                    &["discovery.k8s.io"],
                    &["endpointslices"],
                ),
            ],
        ),
        role(
            "system:node",
            vec![
                rule(
                    &READ,
                    &[""],
                    &["nodes", "pods", "services", "endpoints", "namespaces"],
                ),
                rule(&["create", "update", "patch"], &[""], &["nodes"]),
                rule(
                    &["update", "patch"],
                    &[""],
                    &["nodes/status", "pods/status"],
                ),
                rule(&READ, &["discovery.k8s.io"], &["endpointslices"]),
                rule(
                    &["create", "patch", "update"],
                    &["", "events.k8s.io"],
                    &["events"],
                ),
            ],
        ),
    ]
}

fn binding(name: &str, subjects: &[(&str, &str)]) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(name),
        role_ref: RoleRef {
            api_group: RBAC_GROUP.to_string(),
            kind: "ClusterRole".to_string(),
            name: name.to_string(),
        },
        subjects: Some(
            subjects
                .iter()
                .map(|(kind, name)| Subject {
                    api_group: Some(RBAC_GROUP.to_string()),
                    kind: kind.to_string(),
                    name: name.to_string(),
                    namespace: None,
                })
                .collect(),
        ),
    }
}

/// The built-in ClusterRoleBindings (each named after its ClusterRole).
pub fn cluster_role_bindings() -> Vec<ClusterRoleBinding> {
    use crate::security::MASTERS_GROUP;
    use crate::security::authn::{AUTHENTICATED_GROUP, UNAUTHENTICATED_GROUP};
    vec![
        binding("cluster-admin", &[("Group", MASTERS_GROUP)]),
        binding("system:discovery", &[("Group", AUTHENTICATED_GROUP)]),
        binding("system:basic-user", &[("Group", AUTHENTICATED_GROUP)]),
        binding(
            "system:public-info-viewer",
            &[
                ("Group", AUTHENTICATED_GROUP),
                ("Group", UNAUTHENTICATED_GROUP),
            ],
        ),
        binding("system:monitoring", &[("Group", "system:monitoring")]),
        binding("system:node-proxier", &[("User", KUBE_PROXY_USER)]),
        binding("system:switchyard-dns", &[("User", DNS_USER)]),
        binding("system:node", &[("Group", NODES_GROUP)]),
    ]
}

/// Whether bootstrap may overwrite the stored copy of a built-in object.
pub fn autoupdate(meta: &ObjectMeta) -> bool {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(AUTOUPDATE_ANNOTATION))
        .is_none_or(|v| v == "true")
}
