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

#[test]
fn batch_rows_show_status_completions_duration_and_schedule() {
    let job = obj(
        Kind::Job,
        json!({"metadata": {"name": "pi", "creationTimestamp": CREATED},
            "spec": {"completions": 3, "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}], "restartPolicy": "Never"}}},
            "status": {"succeeded": 1, "startTime": CREATED}}),
    );
    let t = for_objects(Kind::Job, &[job], now());
    assert_eq!(
        header(&t),
        [
            "NAME",
            "STATUS",
            "COMPLETIONS",
            "DURATION",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert_eq!(
        t["rows"][0]["cells"],
        json!(["pi", "Running", "1/3", "5m", "5m", "pi", "perl", "<none>"])
    );
    let done = obj(
        Kind::Job,
        json!({"metadata": {"name": "once"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}], "restartPolicy": "Never"}}},
            "status": {"succeeded": 1, "startTime": CREATED, "completionTime": "2023-11-14T22:13:45Z",
                "conditions": [{"type": "Complete", "status": "True"}]}}),
    );
    let t = for_objects(Kind::Job, &[done], now());
    assert_eq!(t["rows"][0]["cells"][1], "Complete");
    assert_eq!(t["rows"][0]["cells"][2], "1/1");
    assert_eq!(t["rows"][0]["cells"][3], "25s");
    let cron = obj(
        Kind::CronJob,
        json!({"metadata": {"name": "hello", "creationTimestamp": CREATED},
            "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "OnFailure"}}}}},
            "status": {"lastScheduleTime": "2023-11-14T22:17:20Z"}}),
    );
    let t = for_objects(Kind::CronJob, &[cron], now());
    assert_eq!(
        &header(&t)[..7],
        [
            "NAME",
            "SCHEDULE",
            "TIMEZONE",
            "SUSPEND",
            "ACTIVE",
            "LAST SCHEDULE",
            "AGE"
        ]
    );
    assert_eq!(
        &t["rows"][0]["cells"]
            .as_array()
            .map(|c| c[..7].to_vec())
            .unwrap_or_default(),
        &[
            json!("hello"),
            json!("*/1 * * * *"),
            json!("<none>"),
            json!("False"),
            json!(0),
            json!("60s"),
            json!("5m")
        ]
    );
}

#[test]
fn autoscaler_budget_and_revision_rows() {
    let hpa = obj(
        Kind::HorizontalPodAutoscaler,
        json!({"metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                "minReplicas": 1, "maxReplicas": 10,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]},
            "status": {"currentReplicas": 2, "desiredReplicas": 2}}),
    );
    let t = for_objects(Kind::HorizontalPodAutoscaler, &[hpa], now());
    assert_eq!(
        header(&t),
        [
            "NAME",
            "REFERENCE",
            "TARGETS",
            "MINPODS",
            "MAXPODS",
            "REPLICAS",
            "AGE"
        ]
    );
    assert_eq!(
        &t["rows"][0]["cells"]
            .as_array()
            .map(|c| c[..6].to_vec())
            .unwrap_or_default(),
        &[
            json!("web"),
            json!("Deployment/web"),
            json!("cpu: <unknown>/80%"),
            json!("1"),
            json!(10),
            json!(2)
        ]
    );
    let pdb = obj(
        Kind::PodDisruptionBudget,
        json!({"metadata": {"name": "zk"}, "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "zk"}}},
            "status": {"disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3}}),
    );
    let t = for_objects(Kind::PodDisruptionBudget, &[pdb], now());
    assert_eq!(
        header(&t),
        [
            "NAME",
            "MIN AVAILABLE",
            "MAX UNAVAILABLE",
            "ALLOWED DISRUPTIONS",
            "AGE"
        ]
    );
    assert_eq!(t["rows"][0]["cells"][1], "2");
    assert_eq!(t["rows"][0]["cells"][2], "N/A");
    assert_eq!(t["rows"][0]["cells"][3], 1);
    let revision = obj(
        Kind::ControllerRevision,
        json!({"metadata": {"name": "web-7d9f", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
            "name": "web", "uid": "u1", "controller": true}]}, "revision": 3}),
    );
    let t = for_objects(Kind::ControllerRevision, &[revision], now());
    assert_eq!(header(&t), ["NAME", "CONTROLLER", "REVISION", "AGE"]);
    assert_eq!(t["rows"][0]["cells"][1], "statefulset.apps/web");
    assert_eq!(t["rows"][0]["cells"][2], 3);
}
