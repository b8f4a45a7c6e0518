//! The cluster DNS as the tutorials' Pods reach it: `switchyard run --service-cidr
//! 10.254.0.0/16` in a node namespace (with an uplink as its default route) makes
//! `kube-system/kube-dns` at 10.254.0.10 with the node's DNS listener as its endpoint; a client
//! namespace routed through the node, with the tutorials' resolv.conf (`nameserver
//! 10.254.0.10`, the namespace search path, `ndots:5`), resolves short and full Service names
//! through the node's proxy with glibc (`getent hosts`) and with `dig` over UDP and TCP, in
//! both proxy modes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use testkit::{Netns, veth};

use crate::support::{
    KillOnDrop, TestResult, free_port, require_root, require_tool, switchyard_bin,
};

/// The cluster DNS address the default `--cluster-dns` gives for 10.254.0.0/16.
const CLUSTER_DNS: &str = "10.254.0.10";

/// `/etc/netns/<ns>/resolv.conf`, which `ip netns exec` mounts over `/etc/resolv.conf`;
/// removed on drop.
struct ResolvConf(PathBuf);

impl ResolvConf {
    fn write(ns: &Netns, text: &str) -> TestResult<ResolvConf> {
        let dir = Path::new("/etc/netns").join(ns.name());
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("resolv.conf"), text)?;
        Ok(ResolvConf(dir))
    }
}

impl Drop for ResolvConf {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The three namespaces: uplink — node — client.
struct Topology {
    node: Netns,
    client: Netns,
    _uplink: Netns,
}

fn topology(tag: &str, octet: u8) -> TestResult<Topology> {
    let node = Netns::new(&format!("{tag}n"))?;
    let client = Netns::new(&format!("{tag}c"))?;
    let uplink = Netns::new(&format!("{tag}u"))?;
    let client_net = format!("10.{octet}.1");
    let uplink_net = format!("10.{octet}.2");
    veth(
        &node,
        &format!("sy{tag}nc"),
        &[format!("{client_net}.1/24").parse()?],
        &client,
        &format!("sy{tag}cn"),
        &[format!("{client_net}.2/24").parse()?],
    )?;
    veth(
        &node,
        &format!("sy{tag}nu"),
        &[format!("{uplink_net}.1/24").parse()?],
        &uplink,
        &format!("sy{tag}un"),
        &[format!("{uplink_net}.2/24").parse()?],
    )?;
    node.ip(&["route", "add", "default", "via", &format!("{uplink_net}.2")])?;
    client.ip(&["route", "add", "default", "via", &format!("{client_net}.1")])?;
    node.enable_forwarding()?;
    Ok(Topology {
        node,
        client,
        _uplink: uplink,
    })
}

/// The resolv.conf kubelet writes for a Pod of `default` with the cluster DNS.
fn pod_resolv_conf() -> String {
    format!(
        "nameserver {CLUSTER_DNS}\nsearch default.svc.cluster.local svc.cluster.local \
         cluster.local\noptions ndots:5 timeout:1 attempts:2\n"
    )
}

/// `switchyard run` in the node namespace (API on `port`, DNS on 0.0.0.0:5353, service CIDR
/// 10.254.0.0/16), with `args` added; waits (bounded) for its admin token.
async fn spawn_run(
    node: &Netns,
    data: &Path,
    port: u16,
    node_name: &str,
    node_ip: &str,
    args: &[&str],
) -> TestResult<KillOnDrop> {
    let child = node
        .command(switchyard_bin())
        .args(["run", "--api-listen", &format!("127.0.0.1:{port}")])
        .args([
            "--dns-listen",
            "0.0.0.0:5353",
            "--service-cidr",
            "10.254.0.0/16",
        ])
        .args(["--node-name", node_name, "--node-ip", node_ip])
        .args(["--nodeport-addresses", &format!("{node_ip}/32")])
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let server = KillOnDrop(child);
    for _ in 0..400 {
        if data.join("admin.token").exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(server)
}

/// `curl` in the node namespace against its API with the admin token; returns the body.
fn api(node: &Netns, data: &Path, port: u16, args: &[&str], path: &str) -> TestResult<String> {
    let token = std::fs::read_to_string(data.join("admin.token"))?;
    let out = node
        .command("curl")
        .args(["-s", "--max-time", "10", "--cacert"])
        .arg(data.join("pki/ca.crt"))
        .args(["-H", &format!("Authorization: Bearer {}", token.trim())])
        .args(args)
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `program args` in `ns` until its trimmed stdout satisfies `ok` (at most ~20 s);
/// returns the last output.
async fn until(ns: &Netns, program: &str, args: &[&str], ok: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(out) = ns.command(program).args(args).output() {
            last = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
            if ok(String::from_utf8_lossy(&out.stdout).trim()) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    last
}

async fn pods_resolve_through_the_cluster_dns_service(
    mode: &str,
    tag: &str,
    octet: u8,
) -> TestResult {
    let name = format!("pods_resolve_through_the_cluster_dns_service ({mode})");
    if !require_root(&name, "network namespaces")
        || !require_tool(&name, "curl")
        || !require_tool(&name, "dig")
        || !require_tool(&name, "getent")
        || (mode == "nftables" && !require_tool(&name, "nft"))
    {
        return Ok(());
    }
    let net = topology(tag, octet)?;
    let node_ip = format!("10.{octet}.1.1");
    let _resolv = ResolvConf::write(&net.client, &pod_resolv_conf())?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let port = free_port();
    let _server = spawn_run(
        &net.node,
        &data,
        port,
        &format!("cdns-{tag}"),
        &node_ip,
        &["--metrics-listen", "none", "--proxy-mode", mode],
    )
    .await?;

    // The Service and the node's listener as its endpoints, as kubectl would show them.
    let mut kube_dns = String::new();
    for _ in 0..100 {
        kube_dns = api(
            &net.node,
            &data,
            port,
            &[],
            "/api/v1/namespaces/kube-system/endpoints/kube-dns",
        )?;
        if kube_dns.contains(&node_ip) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let endpoints: serde_json::Value = serde_json::from_str(&kube_dns)?;
    let subset = &endpoints["subsets"][0];
    assert_eq!(subset["addresses"][0]["ip"], node_ip.as_str(), "{kube_dns}");
    let ports: Vec<(String, i64)> = subset["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_string(),
                p["port"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert!(ports.contains(&("dns".to_string(), 5353)), "{ports:?}");
    assert!(ports.contains(&("dns-tcp".to_string(), 5353)), "{ports:?}");
    let service: serde_json::Value = serde_json::from_str(&api(
        &net.node,
        &data,
        port,
        &[],
        "/api/v1/namespaces/kube-system/services/kube-dns",
    )?)?;
    assert_eq!(service["spec"]["clusterIP"], CLUSTER_DNS, "{service}");

    // A tutorial Service; its ClusterIP is what the client must get for `web`.
    let created: serde_json::Value = serde_json::from_str(&api(
        &net.node,
        &data,
        port,
        &[
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "--data",
            r#"{"metadata":{"name":"web"},"spec":{"ports":[{"port":80}]}}"#,
        ],
        "/api/v1/namespaces/default/services",
    )?)?;
    let web_ip = created["spec"]["clusterIP"]
        .as_str()
        .ok_or("no clusterIP in the created Service")?
        .to_string();
    assert!(web_ip.starts_with("10.254."), "{created}");

    // glibc, short name: ndots:5 walks the search path; the first expansion answers.
    let got = until(&net.client, "getent", &["hosts", "web"], |o| {
        o.starts_with(&web_ip)
    })
    .await;
    assert!(got.starts_with(&web_ip), "getent hosts web: {got}");
    assert!(got.contains("web.default.svc.cluster.local"), "{got}");
    let got = until(
        &net.client,
        "getent",
        &["hosts", "kube-dns.kube-system"],
        |o| o.starts_with(CLUSTER_DNS),
    )
    .await;
    assert!(
        got.starts_with(CLUSTER_DNS),
        "getent hosts kube-dns.kube-system: {got}"
    );
    // dig with the search path over UDP, and the full name over TCP (dns-tcp).
    let got = until(
        &net.client,
        "dig",
        &["+search", "+short", "+tries=1", "web"],
        |o| o == web_ip,
    )
    .await;
    assert_eq!(got, web_ip, "dig +search web");
    let server = format!("@{CLUSTER_DNS}");
    let got = until(
        &net.client,
        "dig",
        &[
            &server,
            "+tcp",
            "+short",
            "+tries=1",
            "web.default.svc.cluster.local",
        ],
        |o| o == web_ip,
    )
    .await;
    assert_eq!(got, web_ip, "dig +tcp web.default.svc.cluster.local");
    // A name that does not exist is NXDOMAIN, answered by switchyard (not a timeout).
    let got = until(
        &net.client,
        "dig",
        &[&server, "+tries=1", "nothing.default.svc.cluster.local"],
        |o| o.contains("NXDOMAIN"),
    )
    .await;
    assert!(got.contains("NXDOMAIN"), "{got}");
    Ok(())
}

#[tokio::test]
async fn pods_resolve_through_the_cluster_dns_service_nftables() -> TestResult {
    pods_resolve_through_the_cluster_dns_service("nftables", "cdnf", 233).await
}

#[tokio::test]
async fn pods_resolve_through_the_cluster_dns_service_userspace() -> TestResult {
    pods_resolve_through_the_cluster_dns_service("userspace", "cdus", 234).await
}

/// The sum of every sample of metric `name` in Prometheus text (`name{...} value` lines).
fn metric_sum(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// The questions of one record type counted in `name` (summed over its other labels).
fn questions_of(text: &str, name: &str, qtype: &str) -> u64 {
    let label = format!("qtype=\"{qtype}\"");
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// autopath through the cluster DNS Service: the client namespace is a Pod of `default`, so
/// its `getent hosts web.other` (which `ndots:5` would first try as
/// `web.other.default.svc.cluster.local`, then `web.other.svc.cluster.local`) is answered in
/// one question per address family, where the walk needs two.
#[tokio::test]
async fn autopath_answers_a_pods_search_walk_in_one_question() -> TestResult {
    let name = "autopath_answers_a_pods_search_walk_in_one_question";
    if !require_root(name, "network namespaces")
        || !require_tool(name, "curl")
        || !require_tool(name, "getent")
        || !require_tool(name, "nft")
    {
        return Ok(());
    }
    let octet = 235;
    let net = topology("cdap", octet)?;
    let node_ip = format!("10.{octet}.1.1");
    let client_ip = format!("10.{octet}.1.2");
    let _resolv = ResolvConf::write(&net.client, &pod_resolv_conf())?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let port = free_port();
    let metrics_port = free_port();
    // The client's network is the cluster's Pod network: its questions reach the DNS listener
    // unmasqueraded, from the address its Pod object holds.
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let cluster_cidr = format!("10.{octet}.0.0/16");
    let _server = spawn_run(
        &net.node,
        &data,
        port,
        "cdns-autopath",
        &node_ip,
        &[
            "--metrics-listen",
            &metrics_listen,
            "--proxy-mode",
            "nftables",
            "--cluster-cidr",
            &cluster_cidr,
            "--dns-pods",
            "verified",
            "--dns-autopath",
        ],
    )
    .await?;
    let post = |path: &str, body: &str| -> TestResult<serde_json::Value> {
        let args = [
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "--data",
            body,
        ];
        Ok(serde_json::from_str(&api(
            &net.node, &data, port, &args, path,
        )?)?)
    };
    // The API is up once the namespace can be created.
    let mut created = serde_json::Value::Null;
    for _ in 0..100 {
        created = post("/api/v1/namespaces", r#"{"metadata":{"name":"other"}}"#)
            .unwrap_or(serde_json::Value::Null);
        if created["metadata"]["name"] == "other" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(created["metadata"]["name"], "other", "{created}");
    let web = post(
        "/api/v1/namespaces/other/services",
        r#"{"metadata":{"name":"web"},"spec":{"ports":[{"port":80}]}}"#,
    )?;
    let web_ip = web["spec"]["clusterIP"]
        .as_str()
        .ok_or("no clusterIP in the created Service")?
        .to_string();
    let pod = post(
        "/api/v1/namespaces/default/pods",
        &format!(
            r#"{{"metadata":{{"name":"client"}},"spec":{{"nodeName":"cdns-autopath","containers":[{{"name":"c","image":"busybox"}}]}},"status":{{"podIP":"{client_ip}","podIPs":[{{"ip":"{client_ip}"}}]}}}}"#
        ),
    )?;
    assert_eq!(pod["metadata"]["name"], "client", "{pod}");

    let got = until(&net.client, "getent", &["hosts", "web.other"], |o| {
        o.starts_with(&web_ip)
    })
    .await;
    assert!(got.starts_with(&web_ip), "getent hosts web.other: {got}");
    // One more lookup, counted: the server's questions and its autopath answers.
    let metrics = || -> TestResult<String> {
        let out = net
            .node
            .command("curl")
            .args(["-s", "--max-time", "10"])
            .arg(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .output()?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let before = metrics()?;
    let out = net
        .client
        .command("getent")
        .args(["hosts", "web.other"])
        .output()?;
    let after = metrics()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with(&web_ip), "{text}");
    let autopathed = metric_sum(&after, "switchyard_dns_autopath_success_total")
        - metric_sum(&before, "switchyard_dns_autopath_success_total");
    assert!(autopathed >= 1, "no autopath answer:\n{after}");
    // Per record type glibc asked (A, and AAAA when it asks both): one question, where the
    // walk asks two (`web.other.default.svc…` NXDOMAIN, then `web.other.svc…`).
    for qtype in ["A", "AAAA"] {
        let name = "switchyard_dns_requests_total";
        let asked = questions_of(&after, name, qtype) - questions_of(&before, name, qtype);
        assert!(asked <= 1, "{asked} {qtype} questions for one lookup");
    }
    let total = metric_sum(&after, "switchyard_dns_requests_total")
        - metric_sum(&before, "switchyard_dns_requests_total");
    assert!(total >= 1, "the lookup asked nothing");
    Ok(())
}
