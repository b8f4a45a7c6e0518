use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

fn container(probe: serde_json::Value) -> (Container, Probe) {
    let c: Container = serde_json::from_value(json!({
        "name": "web", "image": "img",
        "ports": [{"name": "http", "containerPort": 8080}, {"name": "admin", "containerPort": 9090}],
        "readinessProbe": probe,
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let p = c.readiness_probe.clone().unwrap_or_default();
    (c, p)
}

#[test]
fn timing_defaults_are_kubelets() {
    let t = Timing::of(&Probe::default());
    assert_eq!(t.initial_delay, Duration::ZERO);
    assert_eq!(t.period, Duration::from_secs(10));
    assert_eq!(t.timeout, Duration::from_secs(1));
    assert_eq!((t.success_threshold, t.failure_threshold), (1, 3));
    let (_, p) = container(json!({"tcpSocket": {"port": 1}, "periodSeconds": 0,
        "timeoutSeconds": -4, "initialDelaySeconds": 7, "failureThreshold": 5, "successThreshold": 2}));
    let t = Timing::of(&p);
    assert_eq!(t.period, Duration::from_secs(10));
    assert_eq!(t.timeout, Duration::from_secs(1));
    assert_eq!(t.initial_delay, Duration::from_secs(7));
    assert_eq!((t.success_threshold, t.failure_threshold), (2, 5));
}

#[test]
fn ports_resolve_by_number_name_and_numeric_string() {
    let (c, p) = container(json!({"tcpSocket": {"port": "admin"}}));
    assert_eq!(
        Target::resolve(&p, &c, "10.1.2.3"),
        Ok(Target::Tcp {
            host: "10.1.2.3".into(),
            port: 9090
        })
    );
    let (c, p) = container(json!({"tcpSocket": {"port": "81", "host": "10.9.9.9"}}));
    assert_eq!(
        Target::resolve(&p, &c, "10.1.2.3"),
        Ok(Target::Tcp {
            host: "10.9.9.9".into(),
            port: 81
        })
    );
    let (c, p) = container(json!({"tcpSocket": {"port": "nope"}}));
    let err = Target::resolve(&p, &c, "10.1.2.3")
        .err()
        .unwrap_or_default();
    assert!(err.contains("\"nope\""), "{err}");
    let (c, p) = container(json!({"tcpSocket": {"port": 70000}}));
    assert_eq!(
        Target::resolve(&p, &c, "10.1.2.3"),
        Err("invalid port number: 70000".into())
    );
}

#[test]
fn http_targets_build_kubelets_url() {
    let (c, p) = container(json!({"httpGet": {"port": "http", "path": "healthz?full=1",
        "scheme": "HTTPS", "httpHeaders": [{"name": "X-A", "value": "b"}]}}));
    assert_eq!(
        Target::resolve(&p, &c, "fd00::5"),
        Ok(Target::Http(HttpTarget {
            url: "https://[fd00::5]:8080/healthz?full=1".into(),
            headers: vec![("X-A".into(), "b".into())],
        }))
    );
}

#[test]
fn exec_is_unsupported_and_grpc_targets_the_pod() {
    let (c, p) = container(json!({"exec": {"command": ["true"]}}));
    assert_eq!(
        Target::resolve(&p, &c, "10.0.0.1"),
        Ok(Target::Unsupported(Unsupported::Exec))
    );
    let (c, p) = container(json!({"grpc": {"port": 9090, "service": "db"}}));
    assert_eq!(
        Target::resolve(&p, &c, "10.0.0.1"),
        Ok(Target::Grpc(GrpcTarget {
            host: "10.0.0.1".into(),
            port: 9090,
            service: "db".into()
        }))
    );
}

/// An HTTP server on loopback answering each request with the status `route` picks for its
/// request head; returns its port.
async fn http_server(route: fn(&str, u16) -> String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let answer = route(&head, port);
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}

fn answer(code: &str, extra: &str) -> String {
    format!("HTTP/1.1 {code}\r\ncontent-length: 0\r\nconnection: close\r\n{extra}\r\n")
}

#[tokio::test]
async fn http_probes_judge_status_codes_headers_and_redirects() {
    let port = http_server(|head, port| {
        let path = head.split_whitespace().nth(1).unwrap_or_default();
        match path {
            "/ok" if head.contains("user-agent: kube-probe/") && head.contains("x-a: b") => {
                answer("200 OK", "")
            }
            "/fail" => answer("500 Internal Server Error", ""),
            "/here" => answer(
                "302 Found",
                &format!("location: http://127.0.0.1:{port}/fail\r\n"),
            ),
            "/away" => answer("302 Found", "location: http://elsewhere.invalid/\r\n"),
            "/loop" => answer("302 Found", "location: /loop\r\n"),
            _ => answer("404 Not Found", ""),
        }
    })
    .await;
    let prober = Prober::new().unwrap_or_else(|e| panic!("{e}"));
    let url = |path: &str| {
        Target::Http(HttpTarget {
            url: format!("http://127.0.0.1:{port}{path}"),
            headers: vec![("X-A".into(), "b".into())],
        })
    };
    let second = Duration::from_secs(2);
    assert_eq!(prober.run(&url("/ok"), second).await, Outcome::Success);
    assert_eq!(
        prober.run(&url("/fail"), second).await,
        Outcome::Failure("HTTP probe failed with statuscode: 500".into())
    );
    // Same host: followed, and the target's answer counts.
    assert_eq!(
        prober.run(&url("/here"), second).await,
        Outcome::Failure("HTTP probe failed with statuscode: 500".into())
    );
    // Another host: not followed, the 302 itself passes.
    assert_eq!(prober.run(&url("/away"), second).await, Outcome::Success);
    assert!(matches!(
        prober.run(&url("/loop"), second).await,
        Outcome::Failure(_)
    ));
}

#[tokio::test]
async fn tcp_probes_pass_on_an_open_port_and_fail_on_a_closed_one() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let open = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let prober = Prober::new().unwrap_or_else(|e| panic!("{e}"));
    let target = |port| Target::Tcp {
        host: "127.0.0.1".into(),
        port,
    };
    let second = Duration::from_secs(2);
    assert_eq!(prober.run(&target(open), second).await, Outcome::Success);
    drop(listener);
    assert_eq!(
        prober.run(&target(open), second).await,
        Outcome::Failure(format!(
            "dial tcp 127.0.0.1:{open}: connect: connection refused"
        ))
    );
}

#[tokio::test]
async fn an_unsupported_probe_never_passes() {
    let prober = Prober::new().unwrap_or_else(|e| panic!("{e}"));
    let outcome = prober
        .run(
            &Target::Unsupported(Unsupported::Exec),
            Duration::from_secs(1),
        )
        .await;
    assert!(matches!(outcome, Outcome::Failure(m) if m.contains("exec probes cannot run")));
}

/// A gRPC health server on loopback (plaintext HTTP/2): answers `status` for the service
/// "up", NOT_SERVING for any other, with grpc-status 0 in the trailers; returns its port.
async fn grpc_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut connection) = h2::server::handshake(stream).await else {
                    return;
                };
                while let Some(Ok((request, mut respond))) = connection.accept().await {
                    let path = request.uri().path().to_string();
                    let mut body = request.into_body();
                    let mut frame = Vec::new();
                    while let Some(Ok(chunk)) = body.data().await {
                        frame.extend_from_slice(&chunk);
                    }
                    let asked_up = frame.ends_with(b"up");
                    let response = ::http::Response::builder()
                        .header("content-type", "application/grpc")
                        .body(())
                        .unwrap_or_else(|e| panic!("{e}"));
                    let Ok(mut send) = respond.send_response(response, false) else {
                        return;
                    };
                    let status: u8 = if path != "/grpc.health.v1.Health/Check" {
                        0
                    } else if asked_up {
                        1
                    } else {
                        2
                    };
                    let answer = bytes::Bytes::from(vec![0, 0, 0, 0, 2, 0x08, status]);
                    let _ = send.send_data(answer, false);
                    let mut trailers = ::http::HeaderMap::new();
                    trailers.insert("grpc-status", ::http::HeaderValue::from_static("0"));
                    let _ = send.send_trailers(trailers);
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn grpc_probes_pass_only_on_serving() {
    let port = grpc_server().await;
    let prober = Prober::new().unwrap_or_else(|e| panic!("{e}"));
    let target = |service: &str| {
        Target::Grpc(GrpcTarget {
            host: "127.0.0.1".into(),
            port,
            service: service.into(),
        })
    };
    let second = Duration::from_secs(2);
    assert_eq!(prober.run(&target("up"), second).await, Outcome::Success);
    assert_eq!(
        prober.run(&target("down"), second).await,
        Outcome::Failure("service unhealthy (responded with \"NOT_SERVING\")".into())
    );
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let closed_port = closed.local_addr().map(|a| a.port()).unwrap_or_default();
    drop(closed);
    let refused = Target::Grpc(GrpcTarget {
        host: "127.0.0.1".into(),
        port: closed_port,
        service: String::new(),
    });
    assert!(matches!(
        prober.run(&refused, second).await,
        Outcome::Failure(m) if m.contains("connection refused")
    ));
}

#[test]
fn health_answers_decode() {
    assert_eq!(
        super::grpc::response_status(&[0, 0, 0, 0, 2, 0x08, 1]),
        Some(1)
    );
    assert_eq!(super::grpc::response_status(&[0, 0, 0, 0, 0]), Some(0));
    assert_eq!(super::grpc::response_status(&[0, 0]), None);
}
