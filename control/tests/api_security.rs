//! Transport security and authentication of the API, over real TLS with real clients: who may
//! reach what anonymously, bearer tokens (admin, `--token-auth-file`), client certificates of
//! the data directory's CA (and refusal of a foreign CA's), the plain-HTTP loopback mode's
//! guards, and the bounds on slow clients, connections and requests in flight.

mod support;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use control::security::pki::Ca;
use control::security::{SecurityConfig, Transport};
use control::serve::ServeLimits;
use control::server::{ControlPlane, ControlPlaneConfig};
use serde_json::json;
use support::{Api, TestResult};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn start_limited(dir: &Path, limits: ServeLimits) -> TestResult<ControlPlane> {
    Ok(ControlPlane::start(ControlPlaneConfig {
        limits,
        ..support::config(dir, 100)
    })
    .await?)
}

fn mode(path: &Path) -> TestResult<u32> {
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
}

#[tokio::test]
async fn anonymous_clients_reach_only_health_and_version() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 100).await?;
    assert!(cp.url().starts_with("https://"), "{}", cp.url());
    let anonymous = Api::with_token(&cp, None);
    for path in ["/healthz", "/livez", "/readyz", "/version"] {
        assert_eq!(anonymous.get(path).await?.code, 200, "{path}");
    }
    for path in [
        "/api/v1/namespaces",
        "/api/v1/namespaces/default/services",
        "/api",
        "/apis",
        "/metrics",
        "/openapi/v3",
    ] {
        let r = anonymous.get(path).await?;
        assert_eq!(r.code, 401, "{path}: {}", r.body);
        assert_eq!(r.body["reason"], "Unauthorized", "{path}");
    }
    let r = anonymous
        .post("/api/v1/namespaces", &json!({"metadata": {"name": "anon"}}))
        .await?;
    assert_eq!(r.code, 401);
    let r = anonymous.delete("/api/v1/namespaces/default").await?;
    assert_eq!(r.code, 401);

    let wrong = Api::with_token(&cp, Some("not-a-token"));
    assert_eq!(wrong.get("/api/v1/namespaces").await?.code, 401);
    assert_eq!(
        wrong.get("/healthz").await?.code,
        401,
        "a bad token is refused"
    );

    let admin = Api::for_plane(&cp);
    assert_eq!(admin.get("/api/v1/namespaces/default").await?.code, 200);
    assert_eq!(
        admin.get("/api/v1/namespaces/anon").await?.code,
        404,
        "nothing was created anonymously"
    );
    // What the data directory holds is for the owner only.
    assert_eq!(mode(&dir.path().join("admin.token"))?, 0o600);
    assert_eq!(mode(&dir.path().join("admin.kubeconfig"))?, 0o600);
    assert_eq!(mode(&dir.path().join("pki/ca.key"))?, 0o600);
    assert_eq!(mode(&dir.path().join("pki/serving.key"))?, 0o600);
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn plain_http_to_the_tls_port_gets_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 100).await?;
    let url = format!("http://{}/api/v1/namespaces", cp.local_addr());
    let answer = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(
        answer.as_ref().map_or(true, |r| !r.status().is_success()),
        "plain HTTP was served: {answer:?}"
    );
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_ca_and_admin_token_survive_a_restart() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 100).await?;
    let first_ca = cp.credentials().ca_pem.clone();
    let first_token = cp.credentials().admin_token.clone();
    let addr = cp.local_addr();
    cp.shutdown().await;
    let cp = support::start_on(dir.path(), addr, 100).await?;
    assert_eq!(cp.credentials().ca_pem, first_ca);
    assert_eq!(cp.credentials().admin_token, first_token);
    assert_eq!(
        Api::for_plane(&cp)
            .get("/api/v1/namespaces/default")
            .await?
            .code,
        200
    );
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn token_file_users_are_authenticated() -> TestResult {
    let dir = tempfile::tempdir()?;
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(
        &tokens,
        "tok-dave,dave,uid-dave,\"system:masters,ops\"\ntok-erin,erin,uid-erin\n",
    )?;
    let cp = support::start_with(
        &dir.path().join("data"),
        loopback(),
        100,
        SecurityConfig {
            token_auth_file: Some(tokens),
            ..SecurityConfig::default()
        },
    )
    .await?;
    let dave = Api::with_token(&cp, Some("tok-dave"));
    assert_eq!(dave.get("/api/v1/namespaces/default").await?.code, 200);
    let erin = Api::with_token(&cp, Some("tok-erin"));
    let code = erin.get("/api/v1/namespaces/default").await?.code;
    assert_ne!(code, 401, "erin's token is known");
    assert_eq!(
        Api::with_token(&cp, Some("tok-frank"))
            .get("/api/v1/namespaces")
            .await?
            .code,
        401
    );
    cp.shutdown().await;

    // A malformed token file stops the start with a message naming the record.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "tok,only-two\n")?;
    let refused = support::start_with(
        &dir.path().join("data"),
        loopback(),
        100,
        SecurityConfig {
            token_auth_file: Some(bad),
            ..SecurityConfig::default()
        },
    )
    .await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("record 1"), "{message}");
    Ok(())
}

fn client_with_identity(cp: &ControlPlane, cert_pem: &str, key_pem: &str) -> TestResult<Api> {
    let ca = cp.credentials().ca_pem.clone().ok_or("no CA")?;
    let identity = reqwest::Identity::from_pem(format!("{cert_pem}{key_pem}").as_bytes())?;
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes())?)
        .identity(identity)
        .build()?;
    Ok(Api::from_parts(cp.url(), http))
}

#[tokio::test]
async fn client_certificates_name_the_user_and_a_foreign_ca_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 100).await?;
    let pki = dir.path().join("pki");
    let ca = Ca::load(&pki.join("ca.crt"), &pki.join("ca.key"))?;
    let issued = ca.issue_client("carol", &["system:masters".to_string()])?;
    let carol = client_with_identity(&cp, &issued.cert_pem, &issued.key_pem)?;
    assert_eq!(carol.get("/api/v1/namespaces/default").await?.code, 200);

    // The same identity signed by another CA: the handshake fails, nothing is served.
    let other_dir = tempfile::tempdir()?;
    let other = Ca::load_or_create(other_dir.path())?;
    let forged = other.issue_client("carol", &["system:masters".to_string()])?;
    let mallory = client_with_identity(&cp, &forged.cert_pem, &forged.key_pem)?;
    let answer = mallory.get("/api/v1/namespaces/default").await;
    assert!(
        answer.as_ref().map_or(true, |r| r.code != 200),
        "a foreign CA's certificate was accepted"
    );
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn insecure_loopback_http_guards_host_and_media_type() -> TestResult {
    let dir = tempfile::tempdir()?;
    let insecure = SecurityConfig {
        transport: Transport::InsecureLoopbackHttp,
        ..SecurityConfig::default()
    };
    let refused = support::start_with(
        dir.path(),
        SocketAddr::from(([0, 0, 0, 0], 0)),
        100,
        insecure.clone(),
    )
    .await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("not a loopback address"), "{message}");

    let cp = support::start_with(dir.path(), loopback(), 100, insecure).await?;
    assert!(cp.url().starts_with("http://"));
    let base = cp.url();
    let http = reqwest::Client::new();
    let ok = http
        .get(format!("{base}/api/v1/namespaces/default"))
        .send()
        .await?;
    assert_eq!(ok.status(), 200);
    // DNS rebinding: a page at evil.example resolved to 127.0.0.1.
    let rebound = http
        .get(format!("{base}/api/v1/namespaces/default"))
        .header("host", "evil.example:6443")
        .send()
        .await?;
    assert_eq!(rebound.status(), 403);
    // A browser's simple request: form or text/plain bodies never create objects.
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = http
            .post(format!("{base}/api/v1/namespaces"))
            .body(json!({"metadata": {"name": "csrf"}}).to_string());
        if let Some(t) = content_type {
            request = request.header("content-type", t);
        }
        let answer = request.send().await?;
        assert_eq!(answer.status(), 415, "{content_type:?}");
    }
    let missing = http
        .get(format!("{base}/api/v1/namespaces/csrf"))
        .send()
        .await?;
    assert_eq!(missing.status(), 404, "nothing was created");
    cp.shutdown().await;
    Ok(())
}

/// Opens `count` TCP connections that send half a TLS record and then nothing.
async fn slow_clients(addr: SocketAddr, count: usize) -> TestResult<Vec<tokio::net::TcpStream>> {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        // A TLS handshake record header promising 512 bytes, then silence.
        s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).await?;
        streams.push(s);
    }
    Ok(streams)
}

/// Whether the server closed `stream` within `wait`.
async fn closed_within(stream: &mut tokio::net::TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(wait, stream.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

fn raise_own_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_do_not_stop_the_api_and_are_dropped() -> TestResult {
    raise_own_fd_limit();
    let dir = tempfile::tempdir()?;
    let cp = start_limited(
        dir.path(),
        ServeLimits {
            handshake_timeout: Duration::from_secs(2),
            ..ServeLimits::default()
        },
    )
    .await?;
    let mut slow = slow_clients(cp.local_addr(), 1100).await?;
    // With 1,100 stalled handshakes open, other clients are served.
    let admin = Api::for_plane(&cp);
    for _ in 0..5 {
        assert_eq!(admin.get("/api/v1/namespaces/default").await?.code, 200);
    }
    // The stalled ones are dropped once their handshake time is up (bounded wait).
    let mut closed = 0;
    for stream in slow.iter_mut() {
        if closed_within(stream, Duration::from_secs(20)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, slow.len(), "every stalled client was dropped");
    cp.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_closed_at_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = start_limited(
        dir.path(),
        ServeLimits {
            max_connections: 64,
            handshake_timeout: Duration::from_secs(60),
            ..ServeLimits::default()
        },
    )
    .await?;
    // As many stalled clients as the cap: with the in-process controllers' watches (one
    // connection each) the cap is reached, and the first ones are within it.
    let mut held = slow_clients(cp.local_addr(), 64).await?;
    let mut extra = slow_clients(cp.local_addr(), 10).await?;
    for stream in extra.iter_mut() {
        assert!(
            closed_within(stream, Duration::from_secs(10)).await,
            "a connection past the cap stayed open"
        );
    }
    // The first ones, within the cap, are still waiting for their handshake.
    for stream in held.iter_mut().take(3) {
        assert!(!closed_within(stream, Duration::from_millis(200)).await);
    }
    drop(held);
    // Once they are gone, clients are served again (bounded retries while the server notices).
    let admin = Api::for_plane(&cp);
    let mut served = false;
    for _ in 0..100 {
        if admin
            .get("/api/v1/namespaces/default")
            .await
            .is_ok_and(|r| r.code == 200)
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        served,
        "the API did not serve again after the connections closed"
    );
    cp.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutating_requests_past_the_cap_get_429() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = start_limited(
        dir.path(),
        ServeLimits {
            max_mutating_requests_inflight: 1,
            ..ServeLimits::default()
        },
    )
    .await?;
    let admin = Api::for_plane(&cp);
    // A create whose body never finishes holds the one mutating slot. The in-process
    // controllers write too, so a holder that lost the race (and got 429 itself) is sent again.
    let mut senders = Vec::new();
    let mut holder = None;
    for _ in 0..50 {
        let (keep, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
        senders.push(keep);
        let first = futures::stream::once(async { Ok::<_, std::io::Error>(b"{".to_vec()) });
        let stalled =
            futures::StreamExt::chain(first, tokio_stream::wrappers::ReceiverStream::new(rx));
        let hold = admin
            .request(reqwest::Method::POST, "/api/v1/namespaces")
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(stalled))
            .send();
        let task = tokio::spawn(hold);
        tokio::time::sleep(Duration::from_millis(200)).await;
        if !task.is_finished() {
            holder = Some(task);
            break;
        }
    }
    let holder = holder.ok_or("no request could hold the mutating slot")?;
    let mut limited = None;
    let mut seen = Vec::new();
    for _ in 0..200 {
        let r = admin
            .post(
                "/api/v1/namespaces",
                &json!({"metadata": {"name": "second"}}),
            )
            .await?;
        if r.code == 429 {
            limited = Some(r);
            break;
        }
        seen.push(r.code);
        if holder.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let limited = limited.ok_or_else(|| {
        format!(
            "no 429 while the slot was held (saw {seen:?}; holder finished: {})",
            holder.is_finished()
        )
    })?;
    assert_eq!(limited.body["reason"], "TooManyRequests");
    assert!(limited.headers.contains_key("retry-after"));
    // Reads have their own pool.
    assert_eq!(admin.get("/api/v1/namespaces/default").await?.code, 200);
    holder.abort();
    cp.shutdown().await;
    Ok(())
}
