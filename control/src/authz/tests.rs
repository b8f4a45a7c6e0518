//! Table-driven tests of the decision: the built-in policy plus a few bindings, and requests
//! that must be allowed or denied.

use std::collections::BTreeMap;

use http::Method;
use k8s_openapi::api::rbac::v1::{
    AggregationRule, ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef,
    Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::policy::{Objects, non_resource_rule_allows, resource_rule_allows};
use super::*;
use crate::object::RBAC_GROUP;

fn user(name: &str, groups: &[&str]) -> UserInfo {
    UserInfo {
        name: name.to_string(),
        uid: String::new(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        ..ObjectMeta::default()
    }
}

fn subject(kind: &str, name: &str, namespace: Option<&str>) -> Subject {
    Subject {
        api_group: (kind != "ServiceAccount").then(|| RBAC_GROUP.to_string()),
        kind: kind.to_string(),
        name: name.to_string(),
        namespace: namespace.map(str::to_string),
    }
}

fn role_binding(
    ns: &str,
    name: &str,
    role_kind: &str,
    role: &str,
    subjects: Vec<Subject>,
) -> RoleBinding {
    RoleBinding {
        metadata: meta(Some(ns), name),
        role_ref: RoleRef {
            api_group: RBAC_GROUP.to_string(),
            kind: role_kind.to_string(),
            name: role.to_string(),
        },
        subjects: Some(subjects),
    }
}

fn owned(l: &[&str]) -> Vec<String> {
    l.iter().map(|s| s.to_string()).collect()
}

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> PolicyRule {
    PolicyRule {
        verbs: owned(verbs),
        api_groups: Some(owned(groups)),
        resources: Some(owned(resources)),
        resource_names: (!names.is_empty()).then(|| owned(names)),
        non_resource_urls: None,
    }
}

/// The built-in policy plus: alice may `view` in `team-a`; bob has a Role in `team-b` that
/// reads one named Service and updates `services/status`; the service account `team-a/robot`
/// is bound with an empty subject namespace (defaults to the binding's); `group-x` gets an
/// aggregated ClusterRole.
fn policy() -> Policy {
    let mut cluster_roles = defaults::cluster_roles();
    let mut labels = BTreeMap::new();
    labels.insert("aggregate-to-x".to_string(), "true".to_string());
    cluster_roles.push(ClusterRole {
        metadata: ObjectMeta {
            labels: Some(labels.clone()),
            ..meta(None, "x-part")
        },
        rules: Some(vec![rule(&["get"], &[""], &["nodes"], &[])]),
        aggregation_rule: None,
    });
    cluster_roles.push(ClusterRole {
        metadata: meta(None, "x"),
        rules: None,
        aggregation_rule: Some(AggregationRule {
            cluster_role_selectors: Some(vec![LabelSelector {
                match_labels: Some(labels),
                match_expressions: None,
            }]),
        }),
    });
    let mut cluster_role_bindings = defaults::cluster_role_bindings();
    cluster_role_bindings.push(ClusterRoleBinding {
        metadata: meta(None, "x"),
        role_ref: RoleRef {
            api_group: RBAC_GROUP.to_string(),
            kind: "ClusterRole".to_string(),
            name: "x".to_string(),
        },
        subjects: Some(vec![subject("Group", "group-x", None)]),
    });
    let roles = [Role {
        metadata: meta(Some("team-b"), "svc-web"),
        rules: Some(vec![
            rule(&["get"], &[""], &["services"], &["web"]),
            rule(&["update"], &[""], &["*/status"], &[]),
        ]),
    }];
    let role_bindings = [
        role_binding(
            "team-a",
            "alice-view",
            "ClusterRole",
            "view",
            vec![subject("User", "alice", None)],
        ),
        role_binding(
            "team-b",
            "bob",
            "Role",
            "svc-web",
            vec![subject("User", "bob", None)],
        ),
        role_binding(
            "team-a",
            "robot",
            "ClusterRole",
            "edit",
            vec![subject("ServiceAccount", "robot", None)],
        ),
        // A binding to a missing role grants nothing.
        role_binding(
            "team-a",
            "ghost",
            "Role",
            "missing",
            vec![subject("User", "carol", None)],
        ),
    ];
    let cr: Vec<&ClusterRole> = cluster_roles.iter().collect();
    let crb: Vec<&ClusterRoleBinding> = cluster_role_bindings.iter().collect();
    let r: Vec<&Role> = roles.iter().collect();
    let rb: Vec<&RoleBinding> = role_bindings.iter().collect();
    Policy::build(Objects {
        roles: &r,
        cluster_roles: &cr,
        role_bindings: &rb,
        cluster_role_bindings: &crb,
    })
}

const AUTHN: &str = "system:authenticated";

/// The fields an admission error names, in order.
fn invalid_fields(error: crate::admission::AdmissionError) -> Vec<String> {
    let causes = crate::error::ApiError::from(error).causes;
    causes.into_iter().map(|c| c.field).collect()
}

#[test]
fn decisions() {
    let policy = policy();
    let alice = user("alice", &[AUTHN]);
    let bob = user("bob", &[AUTHN]);
    let carol = user("carol", &[AUTHN]);
    let robot = user("system:serviceaccount:team-a:robot", &[AUTHN]);
    let proxy = user("system:kube-proxy", &[AUTHN]);
    let dns = user("system:switchyard-dns", &[AUTHN]);
    let anonymous = user("system:anonymous", &["system:unauthenticated"]);
    let admin = user("admin", &["system:masters", AUTHN]);
    let x = user("xavier", &["group-x", AUTHN]);
    let cases: Vec<(&UserInfo, Method, &str, Option<&str>, bool)> = vec![
        (
            &alice,
            Method::GET,
            "/api/v1/namespaces/team-a/services",
            None,
            true,
        ),
        (
            &alice,
            Method::GET,
            "/api/v1/namespaces/team-a/services",
            Some("watch=true"),
            true,
        ),
        (
            &alice,
            Method::GET,
            "/api/v1/namespaces/team-a/pods/p/status",
            None,
            true,
        ),
        (
            &alice,
            Method::GET,
            "/apis/discovery.k8s.io/v1/namespaces/team-a/endpointslices",
            None,
            true,
        ),
        (
            &alice,
            Method::GET,
            "/api/v1/namespaces/team-b/services",
            None,
            false,
        ),
        // Rules name the path's group: `view` grants `extensions` beside `apps`, and reads
        // only.
        (
            &alice,
            Method::GET,
            "/apis/extensions/v1beta1/namespaces/team-a/deployments/web",
            None,
            true,
        ),
        (
            &alice,
            Method::GET,
            "/apis/apps/v1beta1/namespaces/team-a/statefulsets",
            None,
            true,
        ),
        (
            &alice,
            Method::POST,
            "/apis/extensions/v1beta1/namespaces/team-a/deployments",
            None,
            false,
        ),
        (&alice, Method::GET, "/api/v1/services", None, false),
        (
            &alice,
            Method::GET,
            "/api/v1/services",
            Some("watch=1"),
            false,
        ),
        (
            &alice,
            Method::POST,
            "/api/v1/namespaces/team-a/services",
            None,
            false,
        ),
        (
            &alice,
            Method::DELETE,
            "/api/v1/namespaces/team-a/services",
            None,
            false,
        ),
        (
            &alice,
            Method::GET,
            "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/roles",
            None,
            false,
        ),
        (&alice, Method::GET, "/api/v1/namespaces/team-a", None, true),
        (&alice, Method::GET, "/api/v1/namespaces", None, false),
        (&alice, Method::GET, "/api", None, true),
        (&alice, Method::GET, "/apis/discovery.k8s.io/v1", None, true),
        (&alice, Method::GET, "/openapi/v3/api/v1", None, true),
        (&alice, Method::GET, "/metrics", None, false),
        (
            &alice,
            Method::POST,
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            None,
            true,
        ),
        (
            &alice,
            Method::POST,
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            None,
            false,
        ),
        (
            &alice,
            Method::POST,
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            None,
            true,
        ),
        (
            &bob,
            Method::GET,
            "/api/v1/namespaces/team-b/services/web",
            None,
            true,
        ),
        (
            &bob,
            Method::GET,
            "/api/v1/namespaces/team-b/services/other",
            None,
            false,
        ),
        (
            &bob,
            Method::GET,
            "/api/v1/namespaces/team-b/services",
            None,
            false,
        ),
        (
            &bob,
            Method::PUT,
            "/api/v1/namespaces/team-b/services/any/status",
            None,
            true,
        ),
        (
            &bob,
            Method::PUT,
            "/api/v1/namespaces/team-b/services/any",
            None,
            false,
        ),
        (
            &bob,
            Method::PUT,
            "/api/v1/namespaces/team-a/services/any/status",
            None,
            false,
        ),
        (
            &carol,
            Method::GET,
            "/api/v1/namespaces/team-a/services",
            None,
            false,
        ),
        (
            &robot,
            Method::POST,
            "/api/v1/namespaces/team-a/pods",
            None,
            true,
        ),
        (
            &robot,
            Method::POST,
            "/api/v1/namespaces/team-a/endpoints",
            None,
            false,
        ),
        (
            &robot,
            Method::POST,
            "/api/v1/namespaces/team-b/pods",
            None,
            false,
        ),
        (&proxy, Method::GET, "/api/v1/services", None, true),
        (
            &proxy,
            Method::GET,
            "/api/v1/services",
            Some("watch=true"),
            true,
        ),
        (
            &proxy,
            Method::GET,
            "/apis/discovery.k8s.io/v1/endpointslices",
            Some("watch=true"),
            true,
        ),
        (&proxy, Method::GET, "/api/v1/nodes/n1", None, true),
        (
            &proxy,
            Method::GET,
            "/api/v1/namespaces/a/services/web",
            None,
            false,
        ),
        (
            &proxy,
            Method::DELETE,
            "/api/v1/namespaces/a/services/web",
            None,
            false,
        ),
        (&proxy, Method::GET, "/api/v1/pods", None, false),
        (&dns, Method::GET, "/api/v1/pods", Some("watch=true"), true),
        (&dns, Method::GET, "/api/v1/namespaces", None, true),
        (&dns, Method::GET, "/api/v1/nodes", None, false),
        (&anonymous, Method::GET, "/healthz", None, true),
        (&anonymous, Method::GET, "/version", None, true),
        (&anonymous, Method::GET, "/api", None, false),
        (
            &anonymous,
            Method::GET,
            "/api/v1/namespaces/team-a/services",
            None,
            false,
        ),
        (
            &admin,
            Method::DELETE,
            "/api/v1/namespaces/kube-system",
            None,
            true,
        ),
        (&admin, Method::GET, "/metrics", None, true),
        (&x, Method::GET, "/api/v1/nodes/n1", None, true),
        (&x, Method::GET, "/api/v1/nodes", None, false),
    ];
    for (who, method, path, query, want) in cases {
        let attrs = Attributes::from_request(&method, path, query);
        let got = decide(&policy, who, &attrs, None, |_, _| None).allowed();
        assert_eq!(got, want, "{} {method} {path} {query:?}", who.name);
    }
}

#[test]
fn nodes_write_only_their_own_objects() {
    let policy = policy();
    let n1 = user("system:node:n1", &["system:nodes", AUTHN]);
    let pod_node = |_: &str, name: &str| match name {
        "on-n1" => Some("n1".to_string()),
        "on-n2" => Some("n2".to_string()),
        _ => None,
    };
    let cases: Vec<(Method, &str, Option<&str>, bool)> = vec![
        (Method::GET, "/api/v1/nodes", None, true),
        (Method::GET, "/api/v1/pods", None, true),
        (Method::POST, "/api/v1/nodes", Some("n1"), true),
        (Method::POST, "/api/v1/nodes", Some("n2"), false),
        (Method::POST, "/api/v1/nodes", None, false),
        (Method::PUT, "/api/v1/nodes/n1", None, true),
        (Method::PATCH, "/api/v1/nodes/n1/status", None, true),
        (Method::PATCH, "/api/v1/nodes/n2", None, false),
        (Method::PUT, "/api/v1/nodes/n2/status", None, false),
        (Method::DELETE, "/api/v1/nodes/n1", None, false),
        (
            Method::PUT,
            "/api/v1/namespaces/a/pods/on-n1/status",
            None,
            true,
        ),
        (
            Method::PATCH,
            "/api/v1/namespaces/a/pods/on-n2/status",
            None,
            false,
        ),
        (
            Method::PATCH,
            "/api/v1/namespaces/a/pods/unbound/status",
            None,
            false,
        ),
        (Method::PUT, "/api/v1/namespaces/a/pods/on-n1", None, false),
        (Method::POST, "/api/v1/namespaces/a/services", None, false),
        (
            Method::DELETE,
            "/api/v1/namespaces/a/pods/on-n1",
            None,
            false,
        ),
        (
            Method::POST,
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            None,
            true,
        ),
        (
            Method::POST,
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            None,
            false,
        ),
        (Method::POST, "/api/v1/namespaces/a/events", None, true),
    ];
    for (method, path, created, want) in cases {
        let attrs = Attributes::from_request(&method, path, None);
        let decision = decide(&policy, &n1, &attrs, created, pod_node);
        assert_eq!(
            decision.allowed(),
            want,
            "{method} {path} {created:?}: {decision:?}"
        );
    }
    // A user named like a node but outside system:nodes is not a node identity.
    let impostor = user("system:node:n1", &[AUTHN]);
    let attrs = Attributes::from_request(&Method::PUT, "/api/v1/nodes/n1", None);
    assert!(!decide(&policy, &impostor, &attrs, None, pod_node).allowed());
}

#[test]
fn rule_matching() {
    let r = |verb: &str, group: &str, resource: &str, sub: &str, name: &str| ResourceAttributes {
        verb: verb.into(),
        group: group.into(),
        resource: resource.into(),
        subresource: sub.into(),
        namespace: "ns".into(),
        name: name.into(),
    };
    let cases = [
        (
            rule(&["*"], &["*"], &["*"], &[]),
            r("delete", "x.io", "things", "", "a"),
            true,
        ),
        (
            rule(&["get"], &[""], &["pods"], &[]),
            r("list", "", "pods", "", ""),
            false,
        ),
        (
            rule(&["get"], &[""], &["pods"], &[]),
            r("get", "apps", "pods", "", "p"),
            false,
        ),
        (
            rule(&["get"], &["apps"], &["deployments"], &[]),
            r("get", "extensions", "deployments", "", "d"),
            false,
        ),
        (
            rule(&["get"], &["extensions"], &["deployments"], &[]),
            r("get", "extensions", "deployments", "", "d"),
            true,
        ),
        (
            rule(&["get"], &[""], &["pods"], &[]),
            r("get", "", "pods", "status", "p"),
            false,
        ),
        (
            rule(&["get"], &[""], &["pods/status"], &[]),
            r("get", "", "pods", "status", "p"),
            true,
        ),
        (
            rule(&["get"], &[""], &["*/status"], &[]),
            r("get", "", "nodes", "status", "n"),
            true,
        ),
        (
            rule(&["get"], &[""], &["*/status"], &[]),
            r("get", "", "nodes", "", "n"),
            false,
        ),
        (
            rule(&["get"], &[""], &["pods"], &["a"]),
            r("get", "", "pods", "", "a"),
            true,
        ),
        (
            rule(&["get"], &[""], &["pods"], &["a"]),
            r("get", "", "pods", "", "b"),
            false,
        ),
        (
            rule(&["list"], &[""], &["pods"], &["a"]),
            r("list", "", "pods", "", ""),
            false,
        ),
    ];
    for (rule, attrs, want) in cases {
        assert_eq!(
            resource_rule_allows(&rule, &attrs),
            want,
            "{rule:?} {attrs:?}"
        );
    }
    let url = |verbs: &[&str], urls: &[&str]| PolicyRule {
        verbs: owned(verbs),
        non_resource_urls: Some(owned(urls)),
        ..PolicyRule::default()
    };
    assert!(non_resource_rule_allows(
        &url(&["get"], &["/healthz"]),
        "get",
        "/healthz"
    ));
    assert!(!non_resource_rule_allows(
        &url(&["get"], &["/healthz"]),
        "get",
        "/healthz/etcd"
    ));
    assert!(non_resource_rule_allows(
        &url(&["get"], &["/healthz*"]),
        "get",
        "/healthz/etcd"
    ));
    assert!(!non_resource_rule_allows(
        &url(&["get"], &["/healthz"]),
        "post",
        "/healthz"
    ));
    assert!(non_resource_rule_allows(
        &url(&["*"], &["*"]),
        "delete",
        "/anything"
    ));
}

#[test]
fn forbidden_messages_read_like_kube_apiservers() {
    let alice = user("alice", &[AUTHN]);
    let cases = [
        (
            Attributes::from_request(&Method::GET, "/api/v1/namespaces/default/services", None),
            "",
            r#"services is forbidden: User "alice" cannot list resource "services" in API group "" in the namespace "default""#,
        ),
        (
            Attributes::from_request(
                &Method::GET,
                "/apis/discovery.k8s.io/v1/endpointslices",
                None,
            ),
            "",
            r#"endpointslices.discovery.k8s.io is forbidden: User "alice" cannot list resource "endpointslices" in API group "discovery.k8s.io" at the cluster scope"#,
        ),
        (
            Attributes::from_request(&Method::PUT, "/api/v1/nodes/n2/status", None),
            "because",
            r#"nodes "n2" is forbidden: User "alice" cannot update resource "nodes/status" in API group "" at the cluster scope: because"#,
        ),
        (
            Attributes::from_request(&Method::GET, "/metrics", None),
            "",
            r#"forbidden: User "alice" cannot get path "/metrics""#,
        ),
    ];
    for (attrs, reason, want) in cases {
        let e = forbidden(&alice, &attrs, reason);
        assert_eq!((e.code, e.message.as_str()), (403, want));
    }
}

#[test]
fn validation_names_the_field() {
    use crate::object::Object;
    let mut b = role_binding(
        "a",
        "b",
        "Deployment",
        "view",
        vec![subject("Robot", "r", None)],
    );
    b.role_ref.api_group = "apps".to_string();
    let err = validate::admit(&Object::RoleBinding(b.clone()), None).err();
    let fields: Vec<String> = err.map(invalid_fields).unwrap_or_default();
    assert_eq!(
        fields,
        ["roleRef.apiGroup", "roleRef.kind", "subjects[0].kind"]
    );

    let ok = role_binding(
        "a",
        "b",
        "ClusterRole",
        "view",
        vec![subject("User", "u", None)],
    );
    assert!(validate::admit(&Object::RoleBinding(ok.clone()), None).is_ok());
    let mut changed = ok.clone();
    changed.role_ref.name = "edit".to_string();
    let err = validate::admit(
        &Object::RoleBinding(changed),
        Some(&Object::RoleBinding(ok)),
    );
    assert_eq!(
        err.err().map(invalid_fields).unwrap_or_default(),
        ["roleRef"]
    );

    let crb = ClusterRoleBinding {
        metadata: meta(None, "c"),
        role_ref: RoleRef {
            api_group: RBAC_GROUP.to_string(),
            kind: "Role".to_string(),
            name: "r".to_string(),
        },
        subjects: Some(vec![subject("ServiceAccount", "sa", None)]),
    };
    let fields: Vec<String> = validate::admit(&Object::ClusterRoleBinding(crb), None)
        .err()
        .map(invalid_fields)
        .unwrap_or_default();
    assert_eq!(fields, ["roleRef.kind", "subjects[0].namespace"]);

    let role = Role {
        metadata: meta(Some("a"), "r"),
        rules: Some(vec![
            PolicyRule {
                verbs: owned(&["get"]),
                non_resource_urls: Some(owned(&["/x"])),
                ..PolicyRule::default()
            },
            rule(&[], &[], &["pods"], &[]),
        ]),
    };
    let fields: Vec<String> = validate::admit(&Object::Role(role), None)
        .err()
        .map(invalid_fields)
        .unwrap_or_default();
    assert_eq!(
        fields,
        [
            "rules[0].nonResourceURLs",
            "rules[1].verbs",
            "rules[1].apiGroups"
        ]
    );
}

#[test]
fn escalation_is_refused() {
    use super::escalation::{RoleWrite, binding_write, role_write};
    let mut role_bindings = [role_binding(
        "team-a",
        "alice-admin",
        "ClusterRole",
        "admin",
        vec![subject("User", "alice", None)],
    )];
    role_bindings[0].metadata.name = Some("alice-admin".to_string());
    let cluster_roles = defaults::cluster_roles();
    let cr: Vec<&ClusterRole> = cluster_roles.iter().collect();
    let rb: Vec<&RoleBinding> = role_bindings.iter().collect();
    let policy = Policy::build(Objects {
        roles: &[],
        cluster_roles: &cr,
        role_bindings: &rb,
        cluster_role_bindings: &[],
    });
    let alice = user("alice", &[AUTHN]);
    fn write<'a>(ns: &'a str, rules: &'a [PolicyRule]) -> RoleWrite<'a> {
        RoleWrite {
            cluster: ns.is_empty(),
            namespace: ns,
            name: "r",
            rules,
            aggregated: false,
        }
    }
    let pods = [rule(&["get", "delete"], &[""], &["pods"], &[])];
    let nodes = [rule(&["get"], &[""], &["nodes"], &[])];
    let star = [rule(&["*"], &[""], &["pods"], &[])];
    assert_eq!(role_write(&policy, &alice, write("team-a", &pods)), None);
    assert!(role_write(&policy, &alice, write("team-b", &pods)).is_some());
    assert!(role_write(&policy, &alice, write("team-a", &nodes)).is_some());
    let why = role_write(&policy, &alice, write("team-a", &star)).unwrap_or_default();
    assert!(
        why.contains("not currently held") && why.contains("* \"pods\""),
        "{why}"
    );
    let aggregated = RoleWrite {
        aggregated: true,
        ..write("", &[])
    };
    assert!(role_write(&policy, &alice, aggregated).is_some());

    let to = |kind: &str, name: &str| RoleRef {
        api_group: RBAC_GROUP.to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
    };
    assert_eq!(
        binding_write(&policy, &alice, "team-a", &to("ClusterRole", "edit")),
        None
    );
    assert_eq!(
        binding_write(&policy, &alice, "team-a", &to("ClusterRole", "view")),
        None
    );
    assert!(
        binding_write(
            &policy,
            &alice,
            "team-a",
            &to("ClusterRole", "cluster-admin")
        )
        .is_some()
    );
    assert!(binding_write(&policy, &alice, "team-b", &to("ClusterRole", "view")).is_some());
    assert!(binding_write(&policy, &alice, "", &to("ClusterRole", "view")).is_some());
    assert!(binding_write(&policy, &alice, "team-a", &to("Role", "missing")).is_some());
}
