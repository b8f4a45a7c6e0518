//! `switchyard demo`: the main job on the embedded default. Starts the whole data plane, three
//! small HTTP backends on 127.0.0.11-13:8080 (the demo's "pods"), applies `examples/demo.yaml`,
//! checks that the NodePort answers, prints what to try, and runs until Ctrl-C.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::parts::Running;
use super::signal;
use crate::cli::{ProxyMode, RunArgs};
use crate::cmd::{apply, manifest};

/// The demo manifest, built into the binary so `demo` works from any directory.
const DEMO_MANIFEST: &str = include_str!("../../examples/demo.yaml");

/// The backends' addresses, matching the pods' `status.podIP` in the manifest.
const BACKENDS: [(&str, [u8; 4]); 3] = [
    ("web-1", [127, 0, 0, 11]),
    ("web-2", [127, 0, 0, 12]),
    ("web-3", [127, 0, 0, 13]),
];

/// The demo service's NodePort.
const NODE_PORT: u16 = 30080;

/// Runs the demo until Ctrl-C.
pub async fn demo(args: RunArgs) -> Result<()> {
    let mut backends = Vec::new();
    for (name, ip) in BACKENDS {
        let addr = SocketAddr::new(IpAddr::from(ip), 8080);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("starting demo backend {name} on {addr}"))?;
        backends.push(tokio::spawn(serve_backend(listener, name)));
    }
    let running = Running::start(&args).await?;
    let client = running.client()?;
    let manifests = manifest::parse("examples/demo.yaml", DEMO_MANIFEST)?;
    apply::apply_all(&client, &manifests, None, crate::cli::Validate::Strict).await?;

    if args.proxy_mode != ProxyMode::None {
        let node_ip = args
            .node
            .node_ip
            .first()
            .copied()
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        match first_answer(SocketAddr::new(node_ip, NODE_PORT)).await {
            Ok(answer) => println!("\nNodePort {node_ip}:{NODE_PORT} answered: {answer}"),
            Err(e) => println!("\nNodePort {node_ip}:{NODE_PORT} did not answer yet: {e:#}"),
        }
    }
    print_hints(&args);
    signal::wait().await;
    running.shutdown().await;
    for backend in backends {
        backend.abort();
    }
    Ok(())
}

fn print_hints(args: &RunArgs) {
    let api = args.api_listen;
    println!("\nswitchyard demo is running. Try:");
    if args.proxy_mode != ProxyMode::None {
        println!(
            "  curl http://127.0.0.1:{NODE_PORT}/                 # NodePort, round-robin over 3 pods"
        );
    }
    if let Some(dns) = args.dns_listen.0 {
        let (host, port) = (dns.ip(), dns.port());
        println!("  dig @{host} -p {port} web.default.svc.cluster.local");
        println!("  dig @{host} -p {port} SRV _http._tcp.web.default.svc.cluster.local");
        println!(
            "  dig @{host} -p {port} web-headless.default.svc.cluster.local   # one A per pod"
        );
        println!("  dig @{host} -p {port} docs.default.svc.cluster.local           # ExternalName");
    }
    let kubeconfig = control::security::kubeconfig::admin_path(&args.data_dir);
    let kubeconfig = kubeconfig.display();
    println!("  switchyard get svc -o wide --kubeconfig {kubeconfig}");
    println!("  kubectl --kubeconfig {kubeconfig} get endpointslices");
    println!("  kubectl --kubeconfig {kubeconfig} describe service web");
    println!("  (the API is https://{api}; the kubeconfig holds its CA and the admin token)");
    println!("Ctrl-C stops everything.");
}

/// Serves `hello from NAME (ADDR)` to every HTTP request.
async fn serve_backend(listener: TcpListener, name: &'static str) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let local = stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let _ = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
            let body = format!("hello from {name} ({local})\n");
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
        });
    }
}

/// One HTTP GET through `addr`, retried briefly while the proxy picks up the service.
async fn first_answer(addr: SocketAddr) -> Result<String> {
    let mut last = None;
    for _ in 0..40 {
        match get_once(addr).await {
            Ok(body) => return Ok(body),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    match last {
        Some(e) => Err(e),
        None => bail!("no answer"),
    }
}

async fn get_once(addr: SocketAddr) -> Result<String> {
    let mut stream =
        tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)).await??;
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: demo\r\nconnection: close\r\n\r\n")
        .await?;
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(2), stream.read_to_string(&mut response)).await??;
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_string();
    if body.is_empty() {
        bail!("empty response");
    }
    Ok(body)
}
