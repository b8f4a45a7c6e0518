//! Shared helpers of the control-plane integration tests: a control plane on 127.0.0.1:0 over a
//! temporary data directory (HTTPS with authentication, the default), and a small HTTPS client
//! for its API that trusts the plane's CA and sends a bearer token.

#![allow(dead_code)]

pub mod kubectl;

use std::net::SocketAddr;
use std::path::Path;

use control::admission::AdmissionConfig;
use control::security::SecurityConfig;
use control::serve::ServeLimits;
use control::server::{ControlPlane, ControlPlaneConfig};
use serde_json::Value;

/// A boxed error for tests returning `Result`.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Starts a control plane on an ephemeral loopback port over `data_dir`.
pub async fn start(data_dir: &Path, watch_history: usize) -> TestResult<ControlPlane> {
    start_on(
        data_dir,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        watch_history,
    )
    .await
}

/// Starts a control plane on `listen` over `data_dir`.
pub async fn start_on(
    data_dir: &Path,
    listen: SocketAddr,
    watch_history: usize,
) -> TestResult<ControlPlane> {
    start_with(data_dir, listen, watch_history, SecurityConfig::default()).await
}

/// Starts a control plane on `listen` over `data_dir` with `security`.
pub async fn start_with(
    data_dir: &Path,
    listen: SocketAddr,
    watch_history: usize,
    security: SecurityConfig,
) -> TestResult<ControlPlane> {
    let config = ControlPlaneConfig {
        listen,
        security,
        ..config(data_dir, watch_history)
    };
    Ok(ControlPlane::start(config).await?)
}

/// A plane without the workload controllers (`--controllers=*,-replicaset,-deployment`), for
/// tests of the API itself or of objects built by hand, which those controllers would change
/// underneath them (write status, annotations, create or release objects).
pub async fn start_without_workload_controllers(
    data_dir: &Path,
    watch_history: usize,
) -> TestResult<ControlPlane> {
    let controllers =
        control::controllers::enabled::EnabledControllers::parse("*,-replicaset,-deployment")?;
    Ok(ControlPlane::start(ControlPlaneConfig {
        controllers,
        ..config(data_dir, watch_history)
    })
    .await?)
}

/// The defaults every test starts from: 127.0.0.1:0, HTTPS, default admission and limits;
/// a test changes what it needs with `ControlPlaneConfig { .., ..support::config(dir, n) }`.
pub fn config(data_dir: &Path, watch_history: usize) -> ControlPlaneConfig {
    ControlPlaneConfig {
        data_dir: data_dir.to_path_buf(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        admission: AdmissionConfig::default(),
        watch_history,
        security: SecurityConfig::default(),
        limits: ServeLimits::default(),
        cluster_dns: None,
        controllers: Default::default(),
    }
}

/// A kube-rs client of the plane acting as the admin (`system:masters`). The admin token and
/// the CA live in the data directory, so the client keeps working across restarts of a plane
/// on the same directory and address.
pub fn kube_client(plane: &ControlPlane) -> TestResult<kube::Client> {
    let token = plane.credentials().admin_token.clone();
    kube_client_with_token(plane, &token)
}

/// A kube-rs client of the plane that sends `token` (and trusts the plane's CA).
pub fn kube_client_with_token(plane: &ControlPlane, token: &str) -> TestResult<kube::Client> {
    let mut config = plane.loopback_config()?;
    config.auth_info.token = Some(token.to_string().into());
    Ok(kube::Client::try_from(config)?)
}

/// A JSON client for one server.
pub struct Api {
    /// `https://127.0.0.1:PORT`.
    pub base: String,
    http: reqwest::Client,
    token: Option<String>,
}

/// A response: status code, body as JSON (Null when not JSON) and the raw headers.
pub struct Reply {
    /// HTTP status code.
    pub code: u16,
    /// Body as JSON.
    pub body: Value,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
}

impl Api {
    /// A client of `plane` acting as the admin.
    pub fn for_plane(plane: &ControlPlane) -> Api {
        let token = plane.credentials().admin_token.clone();
        Api::with_token(plane, Some(&token))
    }

    /// A client of `plane` that sends `token` (none: anonymous).
    pub fn with_token(plane: &ControlPlane, token: Option<&str>) -> Api {
        let mut builder = reqwest::Client::builder().use_rustls_tls();
        if let Some(ca) = plane.credentials().ca_pem.as_deref()
            && let Ok(cert) = reqwest::Certificate::from_pem(ca.as_bytes())
        {
            builder = builder.add_root_certificate(cert);
        }
        Api {
            base: plane.url(),
            http: builder.build().unwrap_or_default(),
            token: token.map(str::to_string),
        }
    }

    /// A client of `base` over a prepared HTTP client (no token: it proves itself otherwise).
    pub fn from_parts(base: String, http: reqwest::Client) -> Api {
        Api {
            base,
            http,
            token: None,
        }
    }

    /// The underlying HTTP client (CA trusted, no token attached).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A request builder for `method path` with the client's token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends `method path` with an optional body of `content_type`.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: Option<String>,
    ) -> TestResult<Reply> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.header("content-type", content_type).body(body);
        }
        let response = request.send().await?;
        let code = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Reply {
            code,
            body,
            headers,
        })
    }

    /// GET.
    pub async fn get(&self, path: &str) -> TestResult<Reply> {
        self.send(reqwest::Method::GET, path, "", None).await
    }

    /// POST JSON.
    pub async fn post(&self, path: &str, body: &Value) -> TestResult<Reply> {
        self.send(
            reqwest::Method::POST,
            path,
            "application/json",
            Some(body.to_string()),
        )
        .await
    }

    /// PUT JSON.
    pub async fn put(&self, path: &str, body: &Value) -> TestResult<Reply> {
        self.send(
            reqwest::Method::PUT,
            path,
            "application/json",
            Some(body.to_string()),
        )
        .await
    }

    /// PATCH with a patch content type.
    pub async fn patch(&self, path: &str, content_type: &str, body: &Value) -> TestResult<Reply> {
        self.send(
            reqwest::Method::PATCH,
            path,
            content_type,
            Some(body.to_string()),
        )
        .await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> TestResult<Reply> {
        self.send(reqwest::Method::DELETE, path, "", None).await
    }

    /// Creates a namespace and fails the test unless it was created.
    pub async fn namespace(&self, name: &str) -> TestResult {
        let r = self
            .post(
                "/api/v1/namespaces",
                &serde_json::json!({"metadata": {"name": name}}),
            )
            .await?;
        if r.code != 201 && r.code != 409 {
            return Err(format!("creating namespace {name}: {} {}", r.code, r.body).into());
        }
        Ok(())
    }
}

/// Reads a watch stream (newline-delimited JSON) until `count` events arrived or `limit`
/// passed; returns what arrived.
pub async fn read_events(
    response: reqwest::Response,
    count: usize,
    limit: std::time::Duration,
) -> TestResult<Vec<Value>> {
    use futures::StreamExt;
    let mut stream = response.bytes_stream();
    let mut buffer = Vec::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    while events.len() < count {
        let chunk = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(chunk)) => chunk?,
            Ok(None) | Err(_) => break,
        };
        buffer.extend_from_slice(&chunk);
        while let Some(pos) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=pos).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            events.push(serde_json::from_slice(&line)?);
        }
    }
    Ok(events)
}

/// The sorted `metadata.name`s of a list's items.
pub fn item_names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
