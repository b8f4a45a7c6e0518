//! Service admission: defaults, validation messages, ClusterIP/NodePort allocation, updates.

use serde_json::json;

use super::*;

#[test]
fn service_defaults_and_allocates_a_cluster_ip() -> TestResult {
    let adm = admission();
    let obj = create(
        &adm,
        svc(
            "web",
            json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}),
        ),
    )?;
    let v = json_of(&obj);
    let spec = &v["spec"];
    assert_eq!(spec["type"], "ClusterIP");
    assert_eq!(spec["ports"][0]["protocol"], "TCP");
    assert_eq!(spec["ports"][0]["targetPort"], 80);
    assert_eq!(spec["sessionAffinity"], "None");
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
    assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
    assert!(spec.get("externalTrafficPolicy").is_none());
    let ip: std::net::IpAddr = spec["clusterIP"].as_str().unwrap_or_default().parse()?;
    assert!(adm.config().service_cidrs[0].contains(&ip));
    assert_ne!(
        ip.to_string(),
        "10.96.0.1",
        "reserved for default/kubernetes"
    );
    assert_eq!(spec["clusterIPs"], json!([ip.to_string()]));
    Ok(())
}

#[test]
fn client_ip_affinity_defaults_and_bounds() -> TestResult {
    let adm = admission();
    let obj = create(
        &adm,
        svc(
            "a",
            json!({"sessionAffinity": "ClientIP", "ports": [{"port": 80}]}),
        ),
    )?;
    assert_eq!(
        json_of(&obj)["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
        10800
    );
    for bad in [0, 86401] {
        let e = error_of(create(
            &adm,
            svc(
                "b",
                json!({"sessionAffinity": "ClientIP", "ports": [{"port": 80}],
                       "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": bad}}}),
            ),
        ));
        assert_eq!(e.code, 422);
        assert_eq!(
            e.causes[0].field,
            "spec.sessionAffinityConfig.clientIP.timeoutSeconds"
        );
        assert!(
            e.message.contains(&format!("Invalid value: {bad}")),
            "{}",
            e.message
        );
    }
    let e = error_of(create(
        &adm,
        svc(
            "c",
            json!({"sessionAffinity": "None", "ports": [{"port": 80}],
                   "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 5}}}),
        ),
    ));
    assert_eq!(e.causes[0].field, "spec.sessionAffinityConfig");
    Ok(())
}

#[test]
fn port_errors_name_every_field() {
    let adm = admission();
    let e = error_of(create(
        &adm,
        svc(
            "bad",
            json!({"type": "Weird", "ports": [
                {"name": "a", "port": 0},
                {"port": 80, "protocol": "FOO", "targetPort": "Not_A_Name"},
                {"name": "a", "port": 53, "protocol": "UDP", "targetPort": 70000},
                {"name": "d", "port": 53, "protocol": "UDP"}
            ]}),
        ),
    ));
    let fields: Vec<&str> = e.causes.iter().map(|c| c.field.as_str()).collect();
    for want in [
        "spec.type",
        "spec.ports[0].port",
        "spec.ports[1].name",
        "spec.ports[1].protocol",
        "spec.ports[1].targetPort",
        "spec.ports[2].name",
        "spec.ports[2].targetPort",
        "spec.ports[3]",
    ] {
        assert!(fields.contains(&want), "{want} missing from {fields:?}");
    }
    assert!(
        e.message.contains(
            "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"
        ),
        "{}",
        e.message
    );
    let e = error_of(create(&adm, svc("noports", json!({}))));
    assert_eq!(e.causes[0].field, "spec.ports");
    assert_eq!(e.causes[0].reason, "FieldValueRequired");
}

#[test]
fn requested_cluster_ip_must_be_free_and_in_range() -> TestResult {
    let adm = admission();
    create(
        &adm,
        svc(
            "dns",
            json!({"clusterIP": "10.96.0.10", "ports": [{"port": 53}]}),
        ),
    )?;
    let e = error_of(create(
        &adm,
        svc(
            "dns2",
            json!({"clusterIP": "10.96.0.10", "ports": [{"port": 53}]}),
        ),
    ));
    assert_eq!(
        e.message,
        "Service \"dns2\" is invalid: spec.clusterIPs[0]: Invalid value: \"10.96.0.10\": provided IP is already allocated"
    );
    let e = error_of(create(
        &adm,
        svc(
            "far",
            json!({"clusterIP": "192.168.0.1", "ports": [{"port": 53}]}),
        ),
    ));
    assert!(
        e.message.contains(
            "provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12"
        ),
        "{}",
        e.message
    );
    let e = error_of(create(
        &adm,
        svc(
            "k",
            json!({"clusterIP": "10.96.0.1", "ports": [{"port": 53}]}),
        ),
    ));
    assert!(e.message.contains("already allocated"), "{}", e.message);
    let e = error_of(create(
        &adm,
        svc(
            "m",
            json!({"clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.21"], "ports": [{"port": 53}]}),
        ),
    ));
    assert_eq!(e.causes[0].field, "spec.clusterIPs[0]");
    Ok(())
}

#[test]
fn default_kubernetes_gets_the_first_service_ip() -> TestResult {
    let adm = admission();
    let obj = create(
        &adm,
        svc(
            "kubernetes",
            json!({"ports": [{"name": "https", "port": 443, "targetPort": 6443}]}),
        ),
    )?;
    assert_eq!(json_of(&obj)["spec"]["clusterIP"], "10.96.0.1");
    // Deleting and re-creating it (with the IP requested) works: the IP stays reserved for it.
    adm.committed(Some(&obj), None);
    create(
        &adm,
        svc(
            "kubernetes",
            json!({"clusterIP": "10.96.0.1", "ports": [{"port": 443}]}),
        ),
    )?;
    Ok(())
}

#[test]
fn node_ports_are_allocated_and_checked() -> TestResult {
    let adm = admission();
    let a = create(
        &adm,
        svc(
            "a",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30001}, ]}),
        ),
    )?;
    assert_eq!(json_of(&a)["spec"]["externalTrafficPolicy"], "Cluster");
    let e = error_of(create(
        &adm,
        svc(
            "b",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30001}]}),
        ),
    ));
    assert_eq!(
        e.message,
        "Service \"b\" is invalid: spec.ports[0].nodePort: Invalid value: 30001: provided port is already allocated"
    );
    let e = error_of(create(
        &adm,
        svc(
            "c",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 40000}]}),
        ),
    ));
    assert!(
        e.message
            .contains("The range of valid ports is 30000-32767"),
        "{}",
        e.message
    );
    let e = error_of(create(
        &adm,
        svc("d", json!({"ports": [{"port": 80, "nodePort": 30002}]})),
    ));
    assert_eq!(e.causes[0].reason, "FieldValueForbidden");
    let dns = create(
        &adm,
        svc(
            "dns",
            json!({"type": "NodePort", "ports": [
        {"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}),
        ),
    )?;
    let v = json_of(&dns);
    let np = v["spec"]["ports"][0]["nodePort"]
        .as_i64()
        .unwrap_or_default();
    assert!((30000..=32767).contains(&np));
    assert_eq!(
        v["spec"]["ports"][1]["nodePort"], np,
        "same port number shares the NodePort"
    );
    let e = error_of(create(
        &adm,
        svc(
            "z",
            json!({"type": "NodePort", "ports": [
        {"name": "a", "port": 1, "nodePort": 30010}, {"name": "b", "port": 2, "nodePort": 30010}]}),
        ),
    ));
    assert_eq!(e.causes[0].field, "spec.ports[1].nodePort");
    Ok(())
}

#[test]
fn load_balancer_health_check_and_no_node_ports() -> TestResult {
    let adm = admission();
    let lb = create(
        &adm,
        svc(
            "lb",
            json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [{"port": 80}]}),
        ),
    )?;
    let v = json_of(&lb);
    assert!(
        v["spec"]["healthCheckNodePort"]
            .as_i64()
            .is_some_and(|p| p >= 30000)
    );
    assert!(v["spec"]["ports"][0]["nodePort"].as_i64().is_some());
    assert_ne!(
        v["spec"]["healthCheckNodePort"],
        v["spec"]["ports"][0]["nodePort"]
    );
    let bare = create(
        &adm,
        svc(
            "bare",
            json!({"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false, "ports": [{"port": 80}]}),
        ),
    )?;
    assert!(json_of(&bare)["spec"]["ports"][0].get("nodePort").is_none());
    let e = error_of(create(
        &adm,
        svc(
            "etp",
            json!({"externalTrafficPolicy": "Local", "ports": [{"port": 80}]}),
        ),
    ));
    assert_eq!(e.causes[0].field, "spec.externalTrafficPolicy");
    Ok(())
}

#[test]
fn update_keeps_allocations_and_cluster_ip_is_immutable() -> TestResult {
    let adm = admission();
    let old = create(
        &adm,
        svc(
            "a",
            json!({"type": "NodePort", "ports": [{"name": "http", "port": 80}]}),
        ),
    )?;
    let ov = json_of(&old);
    // The client re-applies its manifest without the allocated values.
    let new = update(
        &adm,
        &old,
        svc(
            "a",
            json!({"type": "NodePort", "ports": [{"name": "http", "port": 80}, {"name": "x", "port": 81}]}),
        ),
    )?;
    let nv = json_of(&new);
    assert_eq!(nv["spec"]["clusterIP"], ov["spec"]["clusterIP"]);
    assert_eq!(
        nv["spec"]["ports"][0]["nodePort"],
        ov["spec"]["ports"][0]["nodePort"]
    );
    let e = error_of(update(
        &adm,
        &new,
        svc(
            "a",
            json!({"type": "NodePort", "clusterIP": "10.96.0.99", "ports": [{"port": 80}]}),
        ),
    ));
    assert!(
        e.message
            .contains("spec.clusterIP: Invalid value: \"10.96.0.99\": field is immutable"),
        "{}",
        e.message
    );
    // NodePort -> ClusterIP drops and releases the node ports.
    let mut back = nv.clone();
    back["spec"]["type"] = json!("ClusterIP");
    let plain = update(&adm, &new, object(Kind::Service, back))?;
    assert!(
        json_of(&plain)["spec"]
            .get("externalTrafficPolicy")
            .is_none()
    );
    assert!(
        json_of(&plain)["spec"]["ports"][0]
            .get("nodePort")
            .is_none()
    );
    let port = ov["spec"]["ports"][0]["nodePort"].clone();
    create(
        &adm,
        svc(
            "b",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": port}]}),
        ),
    )?;
    Ok(())
}

#[test]
fn failed_admission_and_abort_release_everything() -> TestResult {
    let adm = admission();
    create(
        &adm,
        svc(
            "a",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30100}]}),
        ),
    )?;
    // The IP is taken first, then the node port fails: the IP must come back.
    let e = error_of(create(
        &adm,
        svc(
            "b",
            json!({"type": "NodePort", "clusterIP": "10.96.5.5", "ports": [{"port": 80, "nodePort": 30100}]}),
        ),
    ));
    assert_eq!(e.code, 422);
    let mut c = svc(
        "c",
        json!({"clusterIP": "10.96.5.5", "ports": [{"port": 80}]}),
    );
    adm.admit(Operation::Create, &mut c, None)?;
    // The store failed to commit: the IP is released again.
    adm.aborted(None, Some(&c));
    create(
        &adm,
        svc(
            "d",
            json!({"clusterIP": "10.96.5.5", "ports": [{"port": 80}]}),
        ),
    )?;
    Ok(())
}

#[test]
fn external_name_and_headless() -> TestResult {
    let adm = admission();
    let ext = create(
        &adm,
        svc(
            "ext",
            json!({"type": "ExternalName", "externalName": "db.example.com."}),
        ),
    )?;
    assert!(json_of(&ext)["spec"].get("clusterIP").is_none());
    let e = error_of(create(
        &adm,
        svc(
            "ext2",
            json!({"type": "ExternalName", "externalName": "Not Valid"}),
        ),
    ));
    assert_eq!(e.causes[0].field, "spec.externalName");
    let e = error_of(create(&adm, svc("ext3", json!({"type": "ExternalName"}))));
    assert_eq!(e.causes[0].reason, "FieldValueRequired");
    let h = create(
        &adm,
        svc("h", json!({"clusterIP": "None", "selector": {"a": "b"}})),
    )?;
    let v = json_of(&h);
    assert_eq!(v["spec"]["clusterIPs"], json!(["None"]));
    assert_eq!(v["spec"]["ipFamilies"], json!(["IPv4"]));
    let e = error_of(create(
        &adm,
        svc(
            "h2",
            json!({"type": "NodePort", "clusterIP": "None", "ports": [{"port": 1}]}),
        ),
    ));
    assert_eq!(e.causes[0].field, "spec.clusterIPs[0]");
    // ClusterIP -> ExternalName drops the ClusterIP (released), and back allocates a new one.
    let web = create(
        &adm,
        svc(
            "web",
            json!({"clusterIP": "10.96.7.7", "ports": [{"port": 80}]}),
        ),
    )?;
    let mut to_ext = json_of(&web);
    to_ext["spec"]["type"] = json!("ExternalName");
    to_ext["spec"]["externalName"] = json!("example.com");
    let ext_web = update(&adm, &web, object(Kind::Service, to_ext))?;
    let ev = json_of(&ext_web);
    for f in ["clusterIP", "clusterIPs", "ipFamilies", "sessionAffinity"] {
        assert!(ev["spec"].get(f).is_none(), "{f} kept: {ev}");
    }
    create(
        &adm,
        svc(
            "reuse",
            json!({"clusterIP": "10.96.7.7", "ports": [{"port": 80}]}),
        ),
    )?;
    Ok(())
}

#[test]
fn dual_stack_families() -> TestResult {
    let adm = dual_stack();
    let s = create(
        &adm,
        svc(
            "ds",
            json!({"ipFamilyPolicy": "PreferDualStack", "ports": [{"port": 80}]}),
        ),
    )?;
    let v = json_of(&s);
    assert_eq!(v["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
    assert_eq!(v["spec"]["clusterIPs"].as_array().map(Vec::len), Some(2));
    let s = create(
        &adm,
        svc(
            "v6",
            json!({"ipFamilies": ["IPv6"], "ports": [{"port": 80}]}),
        ),
    )?;
    assert!(
        json_of(&s)["spec"]["clusterIP"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("fd00:96::"))
    );
    let e = error_of(create(
        &adm,
        svc(
            "bad",
            json!({"ipFamilies": ["IPv4", "IPv6"], "ports": [{"port": 80}]}),
        ),
    ));
    assert_eq!(e.causes[0].field, "spec.ipFamilyPolicy");
    let e = error_of(create(
        &admission(),
        svc(
            "req",
            json!({"ipFamilyPolicy": "RequireDualStack", "ports": [{"port": 80}]}),
        ),
    ));
    assert!(
        e.message.contains("not configured for dual-stack"),
        "{}",
        e.message
    );
    let e = error_of(create(
        &adm,
        svc(
            "mix",
            json!({"ipFamilies": ["IPv6"], "clusterIP": "10.96.0.50", "ports": [{"port": 80}]}),
        ),
    ));
    assert_eq!(e.causes[0].field, "spec.clusterIPs[0]");
    Ok(())
}

#[test]
fn dual_stack_upgrade_and_downgrade_on_update() -> TestResult {
    let adm = dual_stack();
    let single = create(&adm, svc("s", json!({"ports": [{"port": 80}]})))?;
    let first = json_of(&single)["spec"]["clusterIP"].clone();
    // Upgrade: the primary IP stays, a secondary IPv6 one is added.
    let up = update(
        &adm,
        &single,
        svc(
            "s",
            json!({"ipFamilyPolicy": "PreferDualStack", "ports": [{"port": 80}]}),
        ),
    )?;
    let v = json_of(&up);
    assert_eq!(v["spec"]["clusterIPs"][0], first);
    let second = v["spec"]["clusterIPs"][1]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(second.starts_with("fd00:96::"), "{v}");
    assert_eq!(v["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
    // Downgrade: the secondary IP goes and is released.
    let down = update(
        &adm,
        &up,
        svc(
            "s",
            json!({"ipFamilyPolicy": "SingleStack", "ports": [{"port": 80}]}),
        ),
    )?;
    let v = json_of(&down);
    assert_eq!(v["spec"]["clusterIPs"], json!([first]));
    assert_eq!(v["spec"]["ipFamilies"], json!(["IPv4"]));
    create(
        &adm,
        svc(
            "t",
            json!({"ipFamilies": ["IPv6"], "clusterIP": second, "ports": [{"port": 80}]}),
        ),
    )?;
    Ok(())
}
