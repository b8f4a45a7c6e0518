//! switchyard itself, as the benchmarks' subject: the real release binary (`switchyard run`),
//! started with only the parts an area needs, on loopback ports, with a temp data dir.
//!
//! The API is measured as it ships: HTTPS with the instance's own CA (`<data-dir>/pki/ca.crt`)
//! and its admin bearer token (`<data-dir>/admin.token`); [`Switchyard::client`] builds the
//! client that trusts the one and sends the other, and [`Switchyard::kubeconfig`] is what other
//! switchyard processes (`switchyard dns`) are pointed at.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use control::security::{kubeconfig, pki, tokens};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

use super::{Daemon, free_port};

/// How long `start` waits for the admin kubeconfig after the API listens (it is written right
/// after the listener is bound).
const KUBECONFIG_WAIT: Duration = Duration::from_secs(30);

/// How long an idle connection to the API may be reused. The API closes keep-alive connections
/// idle for its header read timeout (10 s by default), and an area's current-thread runtime is
/// not driven between its `block_on` calls, so it would not see that close and would send the
/// next request into a dead connection; staying under the server's limit avoids it.
const POOL_IDLE: Duration = Duration::from_secs(5);

/// A running `switchyard run`.
#[derive(Debug)]
pub struct Switchyard {
    /// The process.
    pub daemon: Daemon,
    /// The Kubernetes-style API address.
    pub api: SocketAddr,
    /// The DNS address, when DNS is on.
    pub dns: Option<SocketAddr>,
    /// The data directory: store, `pki/`, `admin.token`, `admin.kubeconfig`.
    pub data_dir: PathBuf,
}

impl Switchyard {
    /// The API's base URL, `https://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("https://{}", self.api)
    }

    /// The admin kubeconfig the instance wrote (server URL, CA, admin token).
    pub fn kubeconfig(&self) -> PathBuf {
        kubeconfig::admin_path(&self.data_dir)
    }

    /// A client builder for the API: rustls trusting only the instance's CA, the admin token
    /// sent on every request, no system proxy. Areas add their own pool and timeout settings.
    pub fn client_builder(&self) -> anyhow::Result<reqwest::ClientBuilder> {
        admin_client_builder(&self.data_dir)
    }

    /// A ready API client ([`Switchyard::client_builder`] with a 30 s request timeout).
    pub fn client(&self) -> anyhow::Result<reqwest::Client> {
        self.client_builder()?
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the switchyard API client")
    }
}

/// The CA certificate `switchyard run` creates in `data_dir`.
pub fn ca_path(data_dir: &Path) -> PathBuf {
    pki::pki_dir(data_dir).join("ca.crt")
}

/// An HTTPS client builder trusting `data_dir`'s CA and sending its admin token (marked
/// sensitive, so it never shows in debug output).
pub fn admin_client_builder(data_dir: &Path) -> anyhow::Result<reqwest::ClientBuilder> {
    let ca_file = ca_path(data_dir);
    let pem = std::fs::read(&ca_file).with_context(|| format!("reading {}", ca_file.display()))?;
    let ca = reqwest::Certificate::from_pem(&pem)
        .with_context(|| format!("{}: not a PEM certificate", ca_file.display()))?;
    let token_file = tokens::admin_token_path(data_dir);
    let token = std::fs::read_to_string(&token_file)
        .with_context(|| format!("reading {}", token_file.display()))?;
    let token = token.trim();
    anyhow::ensure!(!token.is_empty(), "{} is empty", token_file.display());
    let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
        .with_context(|| format!("{}: not a valid header value", token_file.display()))?;
    auth.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, auth);
    Ok(reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .default_headers(headers)
        .pool_idle_timeout(POOL_IDLE)
        .no_proxy())
}

/// Which parts to run.
#[derive(Debug, Clone, Default)]
pub struct Parts {
    /// Serve DNS on a free loopback port.
    pub dns: bool,
    /// `--proxy-mode` value (`none`, `userspace`, `nftables`).
    pub proxy_mode: Option<String>,
    /// Extra flags, appended last.
    pub extra: Vec<String>,
}

/// Starts `binary run` with its store in `data_dir`, waiting until the API listens and the admin
/// kubeconfig is written.
pub fn start(
    binary: &Path,
    cpus: &str,
    data_dir: &Path,
    log_dir: &Path,
    parts: &Parts,
) -> anyhow::Result<Switchyard> {
    anyhow::ensure!(
        binary.is_file(),
        "{} not found: build it with `cargo build --release -p switchyard` (scripts/bench does)",
        binary.display()
    );
    let api = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let dns = if parts.dns {
        Some(SocketAddr::from(([127, 0, 0, 1], free_port()?)))
    } else {
        None
    };
    let mut args: Vec<String> = vec![
        "run".into(),
        "--proxy-mode".into(),
        parts.proxy_mode.clone().unwrap_or_else(|| "none".into()),
        "--dns-listen".into(),
        dns.map_or_else(|| "none".into(), |a| a.to_string()),
        "--metrics-listen".into(),
        "none".into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--api-listen".into(),
        api.to_string(),
    ];
    args.extend(parts.extra.iter().cloned());
    // A restart on the same data dir listens on a new port: a kubeconfig left by the previous
    // run names the old one, so it goes first and only the new run's file counts.
    let kubeconfig = kubeconfig::admin_path(data_dir);
    match std::fs::remove_file(&kubeconfig) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", kubeconfig.display())),
    }
    let mut daemon = Daemon::spawn("switchyard", cpus, binary, &args, log_dir)?;
    daemon.wait_tcp(api, Duration::from_secs(60))?;
    // The CA and the token exist before the API listens; the kubeconfig follows right after.
    let started = Instant::now();
    while !kubeconfig.is_file() {
        daemon.check_alive()?;
        anyhow::ensure!(
            started.elapsed() < KUBECONFIG_WAIT,
            "switchyard listened on {api} but wrote no {} within {KUBECONFIG_WAIT:?}; log tail: {}",
            kubeconfig.display(),
            daemon.log_tail()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(Switchyard {
        daemon,
        api,
        dns,
        data_dir: data_dir.to_path_buf(),
    })
}

/// Makes sure namespace `name` exists (creating it if the server has not bootstrapped it yet);
/// retries for up to 30 s while the API is still starting. `http` is a client of
/// [`Switchyard::client`] and `base` [`Switchyard::base`].
pub async fn ensure_namespace(
    http: &reqwest::Client,
    base: &str,
    name: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = http
            .get(format!("{base}/api/v1/namespaces/{name}"))
            .send()
            .await;
        if got.as_ref().is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        let body = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        let created = http
            .post(format!("{base}/api/v1/namespaces"))
            .json(&body)
            .send()
            .await;
        match created {
            Ok(r) if r.status().is_success() || r.status() == reqwest::StatusCode::CONFLICT => {
                return Ok(());
            }
            Ok(r) if Instant::now() > deadline => {
                anyhow::bail!("creating namespace {name}: HTTP {}", r.status())
            }
            Err(e) if Instant::now() > deadline => {
                return Err(e).context(format!("creating namespace {name}"));
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use control::admission::AdmissionConfig;
    use control::security::SecurityConfig;
    use control::serve::ServeLimits;
    use control::server::{ControlPlane, ControlPlaneConfig};

    /// A real control plane (HTTPS with authentication, its default) over `data_dir`.
    async fn plane(data_dir: &Path) -> anyhow::Result<ControlPlane> {
        Ok(ControlPlane::start(ControlPlaneConfig {
            data_dir: data_dir.to_path_buf(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            admission: AdmissionConfig::default(),
            watch_history: 1000,
            security: SecurityConfig::default(),
            limits: ServeLimits::default(),
            cluster_dns: None,
            controllers: Default::default(),
        })
        .await?)
    }

    #[tokio::test]
    async fn admin_client_reaches_the_https_api_with_the_token() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        let data = tmp.path().join("data");
        let plane = plane(&data).await?;
        let base = format!("https://{}", plane.local_addr());
        let http = admin_client_builder(&data)?
            .timeout(Duration::from_secs(20))
            .build()?;
        let status = http
            .get(format!("{base}/api/v1/namespaces/default"))
            .send()
            .await?
            .status();
        assert_eq!(status, reqwest::StatusCode::OK);
        ensure_namespace(&http, &base, "bench-ns").await?;
        let status = http
            .get(format!("{base}/api/v1/namespaces/bench-ns"))
            .send()
            .await?
            .status();
        assert_eq!(status, reqwest::StatusCode::OK);
        plane.shutdown().await;
        Ok(())
    }

    #[tokio::test]
    async fn without_the_token_the_api_refuses_and_without_the_ca_tls_fails() -> anyhow::Result<()>
    {
        let tmp = tempfile::tempdir()?;
        let data = tmp.path().join("data");
        let plane = plane(&data).await?;
        let url = format!("https://{}/api/v1/namespaces/default", plane.local_addr());
        let ca = reqwest::Certificate::from_pem(&std::fs::read(ca_path(&data))?)?;
        let anonymous = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(ca)
            .no_proxy()
            .timeout(Duration::from_secs(20))
            .build()?;
        let status = anonymous.get(&url).send().await?.status();
        assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
        let untrusting = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .no_proxy()
            .timeout(Duration::from_secs(20))
            .build()?;
        assert!(untrusting.get(&url).send().await.is_err());
        plane.shutdown().await;
        Ok(())
    }

    #[test]
    fn a_data_dir_without_credentials_is_named_in_the_error() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        let err = admin_client_builder(tmp.path())
            .err()
            .context("a client without a CA file")?;
        assert!(format!("{err:#}").contains("ca.crt"), "{err:#}");
        Ok(())
    }
}
