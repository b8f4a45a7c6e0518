//! Unit tests of the Table renderings against kubectl's expected cells.

use serde_json::json;

use super::*;

fn obj(kind: Kind, value: Value) -> Object {
    Object::from_json(kind, value).unwrap_or_else(|e| panic!("{e}"))
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_700_000_300).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

const CREATED: &str = "2023-11-14T22:13:20Z"; // 1_700_000_000

fn header(table: &Value) -> Vec<String> {
    table["columnDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["name"].as_str().unwrap_or_default().to_uppercase())
        .collect()
}

#[test]
fn services_show_kubectl_columns() {
    let svc = obj(
        Kind::Service,
        json!({"metadata": {"name": "web", "creationTimestamp": CREATED},
            "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "selector": {"app": "web"},
                "ports": [{"port": 80, "nodePort": 30080}, {"port": 53, "protocol": "UDP"}]}}),
    );
    let table = for_objects(Kind::Service, &[svc], now());
    assert_eq!(
        header(&table),
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
            "SELECTOR"
        ]
    );
    assert_eq!(
        table["rows"][0]["cells"],
        json!([
            "web",
            "NodePort",
            "10.96.0.10",
            "<none>",
            "80:30080/TCP,53/UDP",
            "5m",
            "app=web"
        ])
    );
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(table["columnDefinitions"][6]["priority"], 1);
}

#[test]
fn load_balancer_without_ingress_is_pending() {
    let svc = obj(
        Kind::Service,
        json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer"}}),
    );
    let table = for_objects(Kind::Service, &[svc], now());
    assert_eq!(table["rows"][0]["cells"][3], "<pending>");
}

#[test]
fn pods_nodes_namespaces_endpoints_and_slices_render() {
    let pod = obj(
        Kind::Pod,
        json!({"metadata": {"name": "p", "creationTimestamp": CREATED},
            "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
            "status": {"phase": "Running", "podIP": "10.244.0.5",
                "containerStatuses": [{"name": "c", "ready": true, "restartCount": 2, "image": "i", "imageID": ""}]}}),
    );
    let t = for_objects(Kind::Pod, &[pod], now());
    assert_eq!(
        header(&t),
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES"
        ]
    );
    assert_eq!(
        t["rows"][0]["cells"],
        json!([
            "p",
            "1/1",
            "Running",
            2,
            "5m",
            "10.244.0.5",
            "n1",
            "<none>",
            "<none>"
        ])
    );
    let node = obj(
        Kind::Node,
        json!({"metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                "nodeInfo": {"kubeletVersion": "v1.32.0", "machineID": "", "systemUUID": "",
                    "bootID": "", "kernelVersion": "6.1", "osImage": "Debian",
                    "containerRuntimeVersion": "", "kubeProxyVersion": "",
                    "operatingSystem": "linux", "architecture": "amd64"}}}),
    );
    let t = for_objects(Kind::Node, &[node], now());
    // kubectl's order: AGE before VERSION.
    assert_eq!(
        &header(&t)[..5],
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    );
    assert_eq!(t["rows"][0]["cells"][1], "Ready");
    assert_eq!(t["rows"][0]["cells"][2], "control-plane");
    assert_eq!(t["rows"][0]["cells"][4], "v1.32.0");
    let ns = obj(
        Kind::Namespace,
        json!({"metadata": {"name": "a"}, "status": {"phase": "Active"}}),
    );
    let t = for_objects(Kind::Namespace, &[ns], now());
    assert_eq!(header(&t), ["NAME", "STATUS", "AGE"]);
    let ep = obj(
        Kind::Endpoints,
        json!({"metadata": {"name": "e"}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
            "ports": [{"port": 80}]}]}),
    );
    let t = for_objects(Kind::Endpoints, &[ep], now());
    assert_eq!(t["rows"][0]["cells"][1], "10.0.0.1:80,10.0.0.2:80");
    let slice = obj(
        Kind::EndpointSlice,
        json!({"metadata": {"name": "s"}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}, {"addresses": ["10.0.0.3"]}, {"addresses": ["10.0.0.4"]}],
            "ports": [{"port": 80}]}),
    );
    let t = for_objects(Kind::EndpointSlice, &[slice], now());
    assert_eq!(
        header(&t),
        ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    );
    assert_eq!(
        t["rows"][0]["cells"][3],
        "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more..."
    );
}

#[test]
fn ages_read_like_kubectl() {
    assert_eq!(human_duration(45), "45s");
    assert_eq!(human_duration(200), "3m20s");
    assert_eq!(human_duration(17 * 60), "17m");
    assert_eq!(human_duration(5 * 3600 + 4 * 60), "5h4m");
    assert_eq!(human_duration(30 * 3600), "30h");
    assert_eq!(human_duration(3 * 86400), "3d");
    assert_eq!(human_duration(400 * 86400), "400d");
    assert_eq!(human_duration(-5), "<invalid>");
}
