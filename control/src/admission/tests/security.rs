//! Traffic-steering rules: externalIPs against the allow list, source ranges, the
//! `status.loadBalancer` split, Pod containers, and the bound on error size.

use serde_json::json;

use super::*;
use crate::error::MAX_CAUSES;

fn allowing(cidrs: &[&str]) -> Admission {
    let config = AdmissionConfig {
        allowed_external_ip_cidrs: cidrs
            .iter()
            .map(|c| c.parse().unwrap_or_else(|e| panic!("{c}: {e}")))
            .collect(),
        ..AdmissionConfig::default()
    };
    Admission::new(config).unwrap_or_else(|e| panic!("{e}"))
}

/// `(field, reason)` of every cause.
fn causes(e: &ApiError) -> Vec<(&str, &str)> {
    e.causes
        .iter()
        .map(|c| (c.field.as_str(), c.reason))
        .collect()
}

fn with_external_ips(name: &str, ips: &[&str]) -> Object {
    svc(
        name,
        json!({"selector": {"app": "web"}, "ports": [{"port": 80}], "externalIPs": ips}),
    )
}

#[test]
fn external_ips_are_refused_without_an_allow_list() {
    let adm = admission();
    let e = error_of(create(
        &adm,
        with_external_ips("steal", &["192.0.2.10", "198.51.100.7"]),
    ));
    assert_eq!(e.code, 422);
    assert_eq!(
        causes(&e),
        [
            ("spec.externalIPs[0]", "FieldValueForbidden"),
            ("spec.externalIPs[1]", "FieldValueForbidden"),
        ]
    );
    assert!(
        e.message
            .contains("spec.externalIPs[1]: Forbidden: externalIPs are refused"),
        "{}",
        e.message
    );
    // Nothing stays allocated: the same ClusterIP space is whole for the next Service.
    assert!(
        create(&adm, with_external_ips("plain", &[])).is_ok(),
        "a Service without externalIPs is still admitted"
    );
}

#[test]
fn external_ips_inside_the_allow_list_are_admitted() -> TestResult {
    let adm = allowing(&["192.0.2.0/24", "2001:db8::/64"]);
    let obj = create(
        &adm,
        with_external_ips("lb", &["192.0.2.10", "2001:db8::5"]),
    )?;
    assert_eq!(
        json_of(&obj)["spec"]["externalIPs"],
        json!(["192.0.2.10", "2001:db8::5"])
    );
    let e = error_of(create(
        &adm,
        with_external_ips("half", &["192.0.2.11", "192.0.3.1"]),
    ));
    assert_eq!(causes(&e), [("spec.externalIPs[1]", "FieldValueForbidden")]);
    assert!(
        e.message.contains("192.0.2.0/24, 2001:db8::/64"),
        "{}",
        e.message
    );
    Ok(())
}

#[test]
fn external_ips_must_be_plain_ordinary_addresses() {
    let adm = allowing(&["0.0.0.0/0", "::/0"]);
    let bad = [
        "10.0.0.0/8",
        "garbage",
        "",
        "0.0.0.0",
        "127.0.0.1",
        "169.254.1.1",
        "fe80::1",
        "224.0.0.5",
        "::1",
    ];
    let e = error_of(create(&adm, with_external_ips("bad", &bad)));
    let fields: Vec<String> = (0..bad.len())
        .map(|i| format!("spec.externalIPs[{i}]"))
        .collect();
    assert_eq!(
        causes(&e),
        fields
            .iter()
            .map(|f| (f.as_str(), "FieldValueInvalid"))
            .collect::<Vec<_>>()
    );
    assert!(e.message.contains("loopback"), "{}", e.message);
}

/// The rule for stored addresses no longer allowed: the object stays updatable for unrelated
/// fields and may drop them, but a write may not add a disallowed one.
#[test]
fn stored_external_ips_stay_but_new_ones_must_be_allowed() -> TestResult {
    let before = allowing(&["192.0.2.0/24"]);
    let old = create(&before, with_external_ips("web", &["192.0.2.10"]))?;
    let adm = admission(); // The operator removed the allow list.
    let mut relabelled = json_of(&old);
    relabelled["metadata"]["labels"] = json!({"tier": "front"});
    let kept = update(&adm, &old, object(Kind::Service, relabelled))?;
    assert_eq!(json_of(&kept)["spec"]["externalIPs"], json!(["192.0.2.10"]));

    let mut added = json_of(&kept);
    added["spec"]["externalIPs"] = json!(["192.0.2.10", "192.0.2.11"]);
    let e = error_of(update(&adm, &kept, object(Kind::Service, added)));
    assert_eq!(causes(&e), [("spec.externalIPs[1]", "FieldValueForbidden")]);

    let mut dropped = json_of(&kept);
    dropped["spec"]["externalIPs"] = json!([]);
    update(&adm, &kept, object(Kind::Service, dropped))?;
    Ok(())
}

fn load_balancer(name: &str, extra: serde_json::Value) -> Object {
    let mut spec = json!({"type": "LoadBalancer", "selector": {"app": "web"},
                          "ports": [{"port": 80}]});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    svc(name, spec)
}

#[test]
fn source_ranges_must_be_cidrs_and_are_not_rewritten() -> TestResult {
    let adm = admission();
    let e = error_of(create(
        &adm,
        load_balancer(
            "lb",
            json!({"loadBalancerSourceRanges":
                   ["10.0.0.0/8", " 192.168.0.0/16 ", "garbage", "10.1.2.3", "10.0.0.0/33"]}),
        ),
    ));
    assert_eq!(
        causes(&e),
        [
            ("spec.loadBalancerSourceRanges[2]", "FieldValueInvalid"),
            ("spec.loadBalancerSourceRanges[3]", "FieldValueInvalid"),
            ("spec.loadBalancerSourceRanges[4]", "FieldValueInvalid"),
        ]
    );
    let ok = create(
        &adm,
        load_balancer(
            "lb",
            json!({"loadBalancerSourceRanges": ["10.0.0.1/8", " fd00::/64"]}),
        ),
    )?;
    assert_eq!(
        json_of(&ok)["spec"]["loadBalancerSourceRanges"],
        json!(["10.0.0.1/8", " fd00::/64"]),
        "stored as sent"
    );
    let e = error_of(create(
        &adm,
        svc(
            "cip",
            json!({"ports": [{"port": 80}], "loadBalancerSourceRanges": ["10.0.0.0/8"]}),
        ),
    ));
    assert_eq!(
        causes(&e),
        [("spec.loadBalancerSourceRanges", "FieldValueForbidden")]
    );
    Ok(())
}

#[test]
fn source_range_annotation_is_checked_when_the_field_is_empty() -> TestResult {
    let adm = admission();
    let annotated = |name: &str, ty: &str, value: &str, ranges: serde_json::Value| {
        object(
            Kind::Service,
            json!({"metadata": {"name": name, "namespace": "default",
                                "annotations": {"service.beta.kubernetes.io/load-balancer-source-ranges": value}},
                   "spec": {"type": ty, "ports": [{"port": 80}], "loadBalancerSourceRanges": ranges}}),
        )
    };
    let path = "metadata.annotations[service.beta.kubernetes.io/load-balancer-source-ranges]";
    let e = error_of(create(
        &adm,
        annotated("a", "LoadBalancer", "10.0.0.0/8, bogus", json!([])),
    ));
    assert_eq!(causes(&e), [(path, "FieldValueInvalid")]);
    assert!(e.message.contains("\"bogus\""), "{}", e.message);
    create(
        &adm,
        annotated("b", "LoadBalancer", " 10.0.0.0/8 , fd00::/8 ", json!([])),
    )?;
    // The field wins: the annotation is not read when the field is set.
    create(
        &adm,
        annotated("c", "LoadBalancer", "bogus", json!(["10.0.0.0/8"])),
    )?;
    let e = error_of(create(
        &adm,
        annotated("d", "ClusterIP", "10.0.0.0/8", json!([])),
    ));
    assert_eq!(causes(&e), [(path, "FieldValueForbidden")]);
    Ok(())
}

fn ingress(ip: &str) -> serde_json::Value {
    json!({"loadBalancer": {"ingress": [{"ip": ip}]}})
}

#[test]
fn create_drops_the_clients_status() -> TestResult {
    let adm = admission();
    let mut v = json_of(&load_balancer("lb", json!({})));
    v["status"] = ingress("192.0.2.1");
    let obj = create(&adm, object(Kind::Service, v))?;
    assert!(json_of(&obj).get("status").is_none(), "{}", json_of(&obj));
    Ok(())
}

/// What the store hands admission for a `/status` write: the stored object with a new status.
fn with_status(old: &Object, status: serde_json::Value) -> Object {
    let mut v = json_of(old);
    v["status"] = status;
    object(Kind::Service, v)
}

#[test]
fn status_writes_are_validated_and_ip_mode_defaulted() -> TestResult {
    let adm = admission();
    let lb = create(&adm, load_balancer("lb", json!({})))?;
    let e = error_of(update(&adm, &lb, with_status(&lb, ingress("not-an-ip"))));
    assert_eq!(
        causes(&e),
        [("status.loadBalancer.ingress[0].ip", "FieldValueInvalid")]
    );
    let e = error_of(update(
        &adm,
        &lb,
        with_status(
            &lb,
            json!({"loadBalancer": {"ingress": [
                {"ip": "192.0.2.1", "ipMode": "Tunnel"},
                {"hostname": "lb.example.com", "ipMode": "VIP"},
                {"hostname": "192.0.2.9"}]}}),
        ),
    ));
    assert_eq!(
        causes(&e),
        [
            (
                "status.loadBalancer.ingress[0].ipMode",
                "FieldValueNotSupported"
            ),
            (
                "status.loadBalancer.ingress[1].ipMode",
                "FieldValueForbidden"
            ),
            (
                "status.loadBalancer.ingress[2].hostname",
                "FieldValueInvalid"
            ),
        ]
    );
    let set = update(
        &adm,
        &lb,
        with_status(
            &lb,
            json!({"loadBalancer": {"ingress": [
                {"ip": "192.0.2.1"}, {"ip": "192.0.2.2", "ipMode": "Proxy"},
                {"hostname": "lb.example.com"}]}}),
        ),
    )?;
    let v = json_of(&set);
    assert_eq!(v["status"]["loadBalancer"]["ingress"][0]["ipMode"], "VIP");
    assert_eq!(v["status"]["loadBalancer"]["ingress"][1]["ipMode"], "Proxy");
    assert!(
        v["status"]["loadBalancer"]["ingress"][2]
            .get("ipMode")
            .is_none()
    );
    Ok(())
}

#[test]
fn only_load_balancers_carry_ingress_points() -> TestResult {
    let adm = admission();
    let plain = create(&adm, with_external_ips("plain", &[]))?;
    let e = error_of(update(
        &adm,
        &plain,
        with_status(&plain, ingress("192.0.2.1")),
    ));
    assert_eq!(
        causes(&e),
        [("status.loadBalancer.ingress", "FieldValueForbidden")]
    );

    let lb = create(&adm, load_balancer("lb", json!({})))?;
    let lb = update(&adm, &lb, with_status(&lb, ingress("192.0.2.1")))?;
    // A main-resource write keeps the stored status (the store carries it over)...
    let mut relabel = json_of(&lb);
    relabel["metadata"]["labels"] = json!({"a": "b"});
    let kept = update(&adm, &lb, object(Kind::Service, relabel))?;
    assert_eq!(
        json_of(&kept)["status"]["loadBalancer"]["ingress"][0]["ip"],
        "192.0.2.1"
    );
    // ...until the Service stops being a LoadBalancer: then the stale ingress goes.
    let mut to_cluster_ip = json_of(&kept);
    to_cluster_ip["spec"]["type"] = json!("ClusterIP");
    let demoted = update(&adm, &kept, object(Kind::Service, to_cluster_ip))?;
    assert_eq!(json_of(&demoted)["status"], json!({"loadBalancer": {}}));
    Ok(())
}

fn bare_pod(name: &str, spec: serde_json::Value) -> Object {
    object(
        Kind::Pod,
        json!({"metadata": {"name": name, "namespace": "default"}, "spec": spec}),
    )
}

#[test]
fn pods_need_named_unique_containers() -> TestResult {
    let adm = admission();
    for spec in [json!({}), json!({"containers": []})] {
        let e = error_of(create(&adm, bare_pod("empty", spec)));
        assert_eq!(causes(&e), [("spec.containers", "FieldValueRequired")]);
        assert!(e.message.contains("spec.containers: Required value"));
    }
    let e = error_of(create(
        &adm,
        object(
            Kind::Pod,
            json!({"metadata": {"name": "nospec", "namespace": "default"}}),
        ),
    ));
    assert_eq!(causes(&e), [("spec.containers", "FieldValueRequired")]);
    let e = error_of(create(
        &adm,
        bare_pod(
            "names",
            json!({"containers": [{"name": "Web_1"}, {"name": "app"}, {"name": ""}],
                   "initContainers": [{"name": "app"}]}),
        ),
    ));
    assert_eq!(
        causes(&e),
        [
            ("spec.containers[0].name", "FieldValueInvalid"),
            ("spec.containers[2].name", "FieldValueRequired"),
            ("spec.initContainers[0].name", "FieldValueDuplicate"),
        ]
    );
    let e = error_of(create(
        &adm,
        bare_pod(
            "ports",
            json!({"containers": [{"name": "a", "ports": [
                {"containerPort": 70000, "name": "http"},
                {"containerPort": 80, "name": "http"}]}]}),
        ),
    ));
    assert_eq!(
        causes(&e),
        [
            (
                "spec.containers[0].ports[0].containerPort",
                "FieldValueInvalid"
            ),
            ("spec.containers[0].ports[1].name", "FieldValueDuplicate"),
        ]
    );
    create(
        &adm,
        bare_pod(
            "ok",
            json!({"containers": [{"name": "web"}], "initContainers": [{"name": "init"}]}),
        ),
    )?;
    Ok(())
}

/// A Pod stored before the container rules stays updatable until its containers change.
#[test]
fn stored_pods_without_containers_stay_updatable() -> TestResult {
    let adm = admission();
    let old = object(
        Kind::Pod,
        json!({"metadata": {"name": "legacy", "namespace": "default"}, "spec": {}}),
    );
    let mut relabel = json_of(&old);
    relabel["metadata"]["labels"] = json!({"a": "b"});
    update(&adm, &old, object(Kind::Pod, relabel))?;
    let mut bad = json_of(&old);
    bad["spec"]["containers"] = json!([{"name": "Bad_Name"}]);
    let e = error_of(update(&adm, &old, object(Kind::Pod, bad)));
    assert_eq!(
        causes(&e),
        [("spec.containers[0].name", "FieldValueInvalid")]
    );
    Ok(())
}

#[test]
fn errors_keep_at_most_the_cap_of_causes() {
    let adm = admission();
    let ports: Vec<serde_json::Value> = (0..150_000)
        .map(|i| json!({"port": i % 65_535 + 1}))
        .collect();
    let e = error_of(create(&adm, svc("huge", json!({"ports": ports}))));
    assert_eq!(e.code, 422);
    assert_eq!(e.causes.len(), MAX_CAUSES);
    // 150k ports: 150k missing names and 84,465 duplicate port/protocol pairs.
    let expected_more = 150_000 + 84_465 - MAX_CAUSES;
    assert!(
        e.message
            .ends_with(&format!(" and {expected_more} more errors")),
        "{}",
        &e.message[e.message.len().saturating_sub(200)..]
    );
    let body = e.to_status_json().to_string();
    assert!(body.len() < 64 * 1024, "{} bytes", body.len());
}

#[test]
fn long_values_are_cut_in_causes_and_message() {
    let adm = admission();
    let long = "x".repeat(100_000);
    let e = error_of(create(
        &adm,
        svc(
            "long",
            json!({"type": "ExternalName", "externalName": long, "ports": [{"port": 80}]}),
        ),
    ));
    assert_eq!(causes(&e), [("spec.externalName", "FieldValueInvalid")]);
    assert!(e.causes[0].message.len() <= crate::error::MAX_CAUSE_MESSAGE_LEN);
    assert!(e.causes[0].message.ends_with("..."));
    assert!(e.message.len() < 2 * crate::error::MAX_CAUSE_MESSAGE_LEN);
    let many: Vec<crate::error::FieldCause> = (0..1000)
        .map(|i| crate::error::FieldCause::invalid(&format!("f{i}"), "y".repeat(400)))
        .collect();
    let wide = vec![crate::error::FieldCause::invalid("f", "é".repeat(1000))];
    let e = ApiError::invalid_many("Pod", "p", wide);
    assert!(e.causes[0].message.len() <= crate::error::MAX_CAUSE_MESSAGE_LEN);
    assert!(
        e.causes[0].message.ends_with("é..."),
        "cut on a character boundary"
    );
    let e = ApiError::invalid_many("Pod", "p", many);
    assert_eq!(e.causes.len(), MAX_CAUSES);
    assert!(e.message.len() <= crate::error::MAX_MESSAGE_LEN + 40);
    assert!(e.message.ends_with(" and 900 more errors"), "{}", e.message);
}
