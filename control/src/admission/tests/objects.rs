//! Node, Pod, EndpointSlice and Endpoints admission, and the repair pass.

use serde_json::{Value, json};

use super::*;

fn node(name: &str, spec: Value) -> Object {
    object(
        Kind::Node,
        json!({"metadata": {"name": name}, "spec": spec}),
    )
}

fn pod(name: &str, node: &str, extra: Value) -> Object {
    let mut v = json!({"metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x",
            "ports": [{"name": "http", "containerPort": 8080}]}]}});
    if let (Some(obj), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        for (k, val) in extra {
            obj.insert(k.clone(), val.clone());
        }
    }
    object(Kind::Pod, v)
}

#[test]
fn nodes_get_pod_cidrs_and_pods_get_ips() -> TestResult {
    let adm = admission();
    let n1 = create(&adm, node("n1", json!({})))?;
    let cidr = json_of(&n1)["spec"]["podCIDR"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let net: IpNet = cidr.parse()?;
    assert_eq!(net.prefix_len(), 24);
    assert_eq!(json_of(&n1)["spec"]["podCIDRs"], json!([cidr]));
    let e = error_of(create(&adm, node("n2", json!({"podCIDR": cidr}))));
    assert!(
        e.message.contains("spec.podCIDRs[0]") && e.message.contains("already allocated"),
        "{}",
        e.message
    );
    let e = error_of(create(
        &adm,
        node("n3", json!({"podCIDR": "192.168.0.0/24"})),
    ));
    assert_eq!(e.causes[0].field, "spec.podCIDRs[0]");
    let p = create(&adm, pod("p1", "n1", json!({})))?;
    let ip: std::net::IpAddr = json_of(&p)["status"]["podIP"]
        .as_str()
        .unwrap_or_default()
        .parse()?;
    assert!(net.contains(&ip));
    // A client-chosen IP inside the node CIDR is recorded; asking for it twice fails.
    let want = if ip.to_string().ends_with(".50") {
        "51"
    } else {
        "50"
    };
    let chosen = format!(
        "{}.{want}",
        cidr.rsplit_once('.').map(|(a, _)| a).unwrap_or_default()
    );
    create(&adm, pod("p2", "n1", json!({"status": {"podIP": chosen}})))?;
    let e = error_of(create(
        &adm,
        pod("p3", "n1", json!({"status": {"podIP": chosen}})),
    ));
    assert_eq!(e.causes[0].field, "status.podIPs[0]");
    // A pod on a node that does not exist is accepted without an IP.
    let p = create(&adm, pod("p4", "ghost", json!({})))?;
    assert!(json_of(&p)["status"].get("podIP").is_none());
    Ok(())
}

#[test]
fn pod_port_and_name_validation() {
    let adm = admission();
    let bad = object(
        Kind::Pod,
        json!({"metadata": {"name": "p", "namespace": "default"},
        "spec": {"hostname": "Bad_Host", "containers": [
            {"name": "a", "image": "x", "ports": [{"name": "http", "containerPort": 0}]},
            {"name": "b", "image": "x", "ports": [{"name": "http", "containerPort": 80},
                                                   {"name": "much-too-long-name", "containerPort": 81}]}]}}),
    );
    let e = error_of(create(&adm, bad));
    let fields: Vec<&str> = e.causes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "spec.hostname",
            "spec.containers[0].ports[0].containerPort",
            "spec.containers[1].ports[0].name",
            "spec.containers[1].ports[1].name",
        ]
    );
}

#[test]
fn rebuild_restores_and_reports() -> TestResult {
    let adm = admission();
    let a = create(
        &adm,
        svc(
            "a",
            json!({"clusterIP": "10.96.1.1", "type": "NodePort", "ports": [{"port": 80, "nodePort": 30500}]}),
        ),
    )?;
    let n = create(&adm, node("n1", json!({})))?;
    let p = create(&adm, pod("p", "n1", json!({})))?;
    let dup = svc(
        "dup",
        json!({"clusterIP": "10.96.1.1", "clusterIPs": ["10.96.1.1"], "ports": [{"port": 80}]}),
    );
    let out = svc(
        "out",
        json!({"clusterIP": "172.16.0.1", "clusterIPs": ["172.16.0.1"], "ports": [{"port": 80}]}),
    );
    let fresh = admission();
    let report = fresh.rebuild([&a, &n, &p, &dup, &out].into_iter());
    assert_eq!(report.restored, 4, "{report:?}");
    assert_eq!(report.problems.len(), 2, "{report:?}");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("Service default/dup"))
    );
    let e = error_of(create(
        &fresh,
        svc(
            "x",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30500}]}),
        ),
    ));
    assert!(e.message.contains("already allocated"));
    Ok(())
}

#[test]
fn endpoint_slices_and_endpoints_are_validated() -> TestResult {
    let adm = admission();
    let endpoints: Vec<Value> = (0..1001)
        .map(|i| json!({"addresses": [format!("10.0.{}.{}", i / 250, i % 250 + 1)]}))
        .collect();
    let big = object(
        Kind::EndpointSlice,
        json!({"metadata": {"name": "s", "namespace": "default"}, "addressType": "IPv4", "endpoints": endpoints}),
    );
    let e = error_of(create(&adm, big));
    assert_eq!(e.causes[0].field, "endpoints");
    assert_eq!(e.causes[0].reason, "FieldValueTooMany");
    let bad = object(
        Kind::EndpointSlice,
        json!({"metadata": {"name": "s", "namespace": "default"}, "addressType": "IPv4",
        "endpoints": [{"addresses": ["fd00::1"]}], "ports": [{"port": 0}]}),
    );
    let e = error_of(create(&adm, bad));
    let fields: Vec<&str> = e.causes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["endpoints[0].addresses[0]", "ports[0].port"]);
    let ok = create(
        &adm,
        object(
            Kind::EndpointSlice,
            json!({"metadata": {"name": "s", "namespace": "default"}, "addressType": "FQDN",
        "endpoints": [{"addresses": ["db.example.com"]}], "ports": [{"port": 5432}]}),
        ),
    )?;
    assert_eq!(json_of(&ok)["ports"][0]["protocol"], "TCP");
    let e = error_of(create(
        &adm,
        object(
            Kind::Endpoints,
            json!({"metadata": {"name": "e", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": "nope"}], "ports": [{"port": 70000}]}]}),
        ),
    ));
    let fields: Vec<&str> = e.causes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        fields,
        ["subsets[0].addresses[0].ip", "subsets[0].ports[0].port"]
    );
    Ok(())
}

#[test]
fn pods_in_the_same_batch_see_a_new_node_and_abort_forgets_it() -> TestResult {
    let adm = admission();
    // The store admits a whole batch before committing any of it.
    let mut n = node("batch", json!({}));
    adm.admit(Operation::Create, &mut n, None)?;
    let mut p = pod("early", "batch", json!({}));
    adm.admit(Operation::Create, &mut p, None)?;
    assert!(
        json_of(&p)["status"]["podIP"].is_string(),
        "{}",
        json_of(&p)
    );
    // The batch failed to commit: everything is undone, the node is unknown again.
    adm.aborted(None, Some(&p));
    adm.aborted(None, Some(&n));
    let late = create(&adm, pod("late", "batch", json!({})))?;
    assert!(json_of(&late)["status"].get("podIP").is_none());
    // Its CIDR is free again.
    let cidr = json_of(&n)["spec"]["podCIDR"].clone();
    create(&adm, node("again", json!({"podCIDR": cidr})))?;
    Ok(())
}
