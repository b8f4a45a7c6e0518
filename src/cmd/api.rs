//! Small helpers over `kube::Client` for the CLI: raw requests at Kubernetes paths, with API
//! errors turned into the server's own message.

use anyhow::{Result, anyhow};
use http::{Method, Request};
use kube::Client;

/// Sends `method path` with an optional JSON body and content type; returns the JSON answer.
pub async fn send(
    client: &Client,
    method: Method,
    path: &str,
    body: Option<(&str, Vec<u8>)>,
    accept: Option<&str>,
) -> Result<serde_json::Value, kube::Error> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(accept) = accept {
        builder = builder.header(http::header::ACCEPT, accept);
    }
    let request = match body {
        Some((content_type, bytes)) => builder
            .header(http::header::CONTENT_TYPE, content_type)
            .body(bytes),
        None => builder.body(Vec::new()),
    }
    .map_err(kube::Error::HttpError)?;
    client.request::<serde_json::Value>(request).await
}

/// Whether the error is the API's 404.
pub fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

/// The API's own message for an error (`Service "x" is invalid: spec.ports[0].port: ...`).
pub fn describe(error: kube::Error) -> anyhow::Error {
    match error {
        kube::Error::Api(status) => anyhow!("{} ({})", status.message, status.reason),
        other => anyhow!(other),
    }
}

/// Builds the client for `--server`, or from kubeconfig, else the local default API.
pub async fn client(server: Option<&str>) -> Result<Client> {
    let explicit = server.map(str::to_string).or_else(|| {
        let has_kubeconfig = std::env::var_os("KUBECONFIG").is_some()
            || std::env::var_os("HOME")
                .is_some_and(|h| std::path::Path::new(&h).join(".kube/config").exists());
        (!has_kubeconfig).then(|| "http://127.0.0.1:6443".to_string())
    });
    Ok(control::watch::client_for(explicit.as_deref()).await?)
}
