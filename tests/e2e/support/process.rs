//! A `switchyard run` child process.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::TestResult;

/// Path of the binary under test.
pub fn switchyard_bin() -> &'static str {
    env!("CARGO_BIN_EXE_switchyard")
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Extra flags for a run.
#[derive(Debug, Clone, Default)]
pub struct SwitchyardOptions {
    /// Extra `run` flags.
    pub args: Vec<String>,
    /// Serve DNS on a free port.
    pub dns: bool,
    /// Proxy mode (`none` when unset).
    pub proxy_mode: Option<String>,
}

/// A running `switchyard run`; SIGKILLed on drop.
pub struct Switchyard {
    child: Option<Child>,
    /// The data directory (kept across restarts of the same test).
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    /// API address.
    pub api: SocketAddr,
    /// DNS address, when enabled.
    pub dns: Option<SocketAddr>,
    options: SwitchyardOptions,
    /// HTTP client for the API.
    pub http: reqwest::Client,
}

impl Switchyard {
    /// Starts a fresh instance with its own data directory and waits until `/readyz` is 200.
    pub async fn start(options: SwitchyardOptions) -> TestResult<Switchyard> {
        let tmp = tempfile::tempdir()?;
        let data_dir = tmp.path().join("data");
        let mut s = Switchyard {
            child: None,
            data_dir,
            _tmp: Some(tmp),
            api: SocketAddr::from(([127, 0, 0, 1], free_port())),
            dns: options
                .dns
                .then(|| SocketAddr::from(([127, 0, 0, 1], free_port()))),
            options,
            http: reqwest::Client::new(),
        };
        s.spawn().await?;
        Ok(s)
    }

    /// An HTTPS client that trusts the instance's CA and sends its admin token, built once the
    /// first start wrote them to the data directory.
    async fn admin_client(data_dir: &Path) -> TestResult<reqwest::Client> {
        let ca_path = data_dir.join("pki").join("ca.crt");
        let token_path = data_dir.join("admin.token");
        for _ in 0..400 {
            if ca_path.exists() && token_path.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&ca_path)?)?;
        let token = std::fs::read_to_string(&token_path)?;
        let mut auth = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.trim()))?;
        auth.set_sensitive(true);
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, auth);
        Ok(reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(ca)
            .default_headers(headers)
            .timeout(Duration::from_secs(20))
            .build()?)
    }

    async fn spawn(&mut self) -> TestResult {
        let mut cmd = Command::new(switchyard_bin());
        cmd.arg("run")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--api-listen")
            .arg(self.api.to_string())
            .arg("--dns-listen")
            .arg(
                self.dns
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| "none".into()),
            )
            .arg("--metrics-listen")
            .arg("none")
            .arg("--proxy-mode")
            .arg(self.options.proxy_mode.as_deref().unwrap_or("none"))
            .arg("--node-name")
            .arg("e2e-node")
            .args(&self.options.args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        self.child = Some(cmd.spawn()?);
        self.http = Self::admin_client(&self.data_dir).await?;
        self.wait_ready().await
    }

    /// Waits (bounded) until the API answers `/readyz` with 200.
    pub async fn wait_ready(&mut self) -> TestResult {
        for _ in 0..400 {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                return Err(format!("switchyard exited early: {status}").into());
            }
            let ready = self
                .http
                .get(self.url("/readyz"))
                .timeout(Duration::from_millis(500))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("switchyard did not become ready within 20 s".into())
    }

    /// SIGKILLs the process (no clean shutdown) and waits for it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit; returns whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        for _ in 0..200 {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Starts the process again on the same data directory and ports.
    pub async fn restart(&mut self) -> TestResult {
        self.kill9();
        self.spawn().await
    }

    /// `https://127.0.0.1:PORT`.
    pub fn server(&self) -> String {
        format!("https://{}", self.api)
    }

    /// The admin kubeconfig the instance wrote.
    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir.join("admin.kubeconfig")
    }

    /// The API URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.api)
    }

    /// GET `path` as JSON; returns (status, body).
    pub async fn get(&self, path: &str) -> TestResult<(u16, serde_json::Value)> {
        let r = self.http.get(self.url(path)).send().await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(serde_json::Value::Null)))
    }

    /// POST JSON to `path`; returns (status, body).
    pub async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> TestResult<(u16, serde_json::Value)> {
        let r = self.http.post(self.url(path)).json(body).send().await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(serde_json::Value::Null)))
    }

    /// PUT JSON to `path`; returns (status, body).
    pub async fn put(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> TestResult<(u16, serde_json::Value)> {
        let r = self.http.put(self.url(path)).json(body).send().await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(serde_json::Value::Null)))
    }

    /// DELETE `path`; returns the status.
    pub async fn delete(&self, path: &str) -> TestResult<u16> {
        Ok(self
            .http
            .delete(self.url(path))
            .send()
            .await?
            .status()
            .as_u16())
    }

    /// Runs `switchyard ARGS --kubeconfig <data-dir>/admin.kubeconfig` and returns its output.
    pub fn cli(&self, args: &[&str]) -> TestResult<Output> {
        Ok(Command::new(switchyard_bin())
            .args(args)
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .output()?)
    }

    /// Runs kubectl 1.32 with the admin kubeconfig (never the host's configuration), at most
    /// 60 s; returns stdout, or an error carrying stderr when kubectl fails.
    pub async fn kubectl(&self, args: &[&str]) -> TestResult<String> {
        let output = self.kubectl_output(args).await?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(format!("kubectl {args:?} failed: {stderr}{stdout}").into());
        }
        Ok(stdout)
    }

    /// Runs kubectl as [`Switchyard::kubectl`] does and returns its whole output.
    pub async fn kubectl_output(&self, args: &[&str]) -> TestResult<Output> {
        let mut command = tokio::process::Command::new("kubectl");
        command
            .arg(format!("--kubeconfig={}", self.kubeconfig().display()))
            .args(args)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null());
        Ok(tokio::time::timeout(Duration::from_secs(60), command.output()).await??)
    }

    /// Runs `switchyard apply -f -` with `manifest` on stdin.
    pub fn apply_text(&self, manifest: &str) -> TestResult<Output> {
        use std::io::Write;
        let mut child = Command::new(switchyard_bin())
            .args(["apply", "-f", "-", "--kubeconfig"])
            .arg(self.kubeconfig())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(manifest.as_bytes())?;
        }
        Ok(child.wait_with_output()?)
    }

    /// The data directory path.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

impl Drop for Switchyard {
    fn drop(&mut self) {
        self.kill9();
    }
}
