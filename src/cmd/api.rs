//! Small helpers over `kube::Client` for the CLI: raw requests at Kubernetes paths, with API
//! errors turned into the server's own message.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use http::{Method, Request};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::cli::ServerArgs;

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

/// Like [`send`], and also returns the server's warnings (the text of each `Warning: 299`
/// header), which the caller prints.
pub async fn send_warned(
    client: &Client,
    method: Method,
    path: &str,
    body: Option<(&str, Vec<u8>)>,
) -> Result<(serde_json::Value, Vec<String>), kube::Error> {
    let builder = Request::builder().method(method).uri(path);
    let request = match body {
        Some((content_type, bytes)) => builder
            .header(http::header::CONTENT_TYPE, content_type)
            .body(kube::client::Body::from(bytes)),
        None => builder.body(kube::client::Body::from(Vec::new())),
    }
    .map_err(kube::Error::HttpError)?;
    let response = client.send(request).await?;
    let warnings = warnings(response.headers());
    let code = response.status();
    let bytes = response.into_body().collect_bytes().await?;
    if code.is_client_error() || code.is_server_error() {
        let status = serde_json::from_slice::<kube::core::Status>(&bytes).unwrap_or_else(|_| {
            kube::core::Status::failure(
                String::from_utf8_lossy(&bytes).trim(),
                "Failed to parse error data",
            )
            .with_code(code.as_u16())
        });
        return Err(kube::Error::Api(status.boxed()));
    }
    let value = serde_json::from_slice(&bytes).map_err(kube::Error::SerdeError)?;
    Ok((value, warnings))
}

/// The texts of `Warning` headers (`299 - "text"`), unquoted.
pub fn warnings(headers: &http::HeaderMap) -> Vec<String> {
    headers
        .get_all(http::header::WARNING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            let quoted = v.split_once(" - ").map_or(v, |(_, rest)| rest).trim();
            let inner = quoted.strip_prefix('"')?;
            let mut text = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => text.extend(chars.next()),
                    '"' => return Some(text),
                    c => text.push(c),
                }
            }
            None
        })
        .collect()
}

/// Whether the error is the API's 404.
pub fn is_not_found(error: &kube::Error) -> bool {
    cluster_watch::status_code(error) == Some(404)
}

/// The API's own message for an error (`Service "x" is invalid: spec.ports[0].port: ...`).
pub fn describe(error: kube::Error) -> anyhow::Error {
    match error {
        kube::Error::Api(status) => anyhow!("{} ({})", status.message, status.reason),
        other => anyhow!(other),
    }
}

/// The admin kubeconfig `switchyard run` writes with the default data directory.
const DEFAULT_KUBECONFIG: &str = "switchyard-data/admin.kubeconfig";

/// Builds the client `args` describe (see [`ServerArgs`] for the order credentials are found
/// in).
pub async fn client(args: &ServerArgs) -> Result<Client> {
    let config = client_config(args).await?;
    Client::try_from(config).context("building the API client")
}

/// The client configuration `args` describe.
pub async fn client_config(args: &ServerArgs) -> Result<Config> {
    if let Some(url) = &args.server {
        return explicit_config(url, args);
    }
    let path = args.kubeconfig.clone().or_else(|| {
        let default = PathBuf::from(DEFAULT_KUBECONFIG);
        (std::env::var_os("KUBECONFIG").is_none() && default.exists()).then_some(default)
    });
    match path {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(&path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .with_context(|| format!("using kubeconfig {}", path.display()))
        }
        None => Config::infer().await.context(
            "no API credentials found: pass --kubeconfig FILE or --server URL --token-file F \
             --certificate-authority F (tried $KUBECONFIG, ./switchyard-data/admin.kubeconfig, \
             ~/.kube/config and the in-cluster service account)",
        ),
    }
}

fn explicit_config(url: &str, args: &ServerArgs) -> Result<Config> {
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("--server {url:?} is not a URL"))?;
    if uri.scheme().is_none() || uri.host().is_none() {
        bail!("--server {url:?}: expected scheme://host:port");
    }
    let mut config = Config::new(uri);
    config.default_namespace = "default".to_string();
    if let Some(path) = &args.token_file {
        let token = std::fs::read_to_string(path)
            .with_context(|| format!("reading --token-file {}", path.display()))?;
        let token = token.trim();
        if token.is_empty() {
            bail!("--token-file {}: the file is empty", path.display());
        }
        config.auth_info.token = Some(token.to_string().into());
    }
    if let Some(path) = &args.certificate_authority {
        let certs = control::security::pki::load_certs(path)
            .with_context(|| format!("--certificate-authority {}", path.display()))?;
        config.root_cert = Some(certs.into_iter().map(|c| c.to_vec()).collect());
    }
    if let (Some(cert), Some(key)) = (&args.client_certificate, &args.client_key) {
        config.auth_info.client_certificate = Some(cert.display().to_string());
        config.auth_info.client_key = Some(key.display().to_string());
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};

    use super::*;

    #[test]
    fn warning_headers_are_unquoted() {
        let mut h = HeaderMap::new();
        h.append(
            http::header::WARNING,
            HeaderValue::from_static(r#"299 - "unknown field \"spec.x\"""#),
        );
        h.append(
            http::header::WARNING,
            HeaderValue::from_static(r#"299 - "a \\ b""#),
        );
        h.append(http::header::WARNING, HeaderValue::from_static("garbage"));
        assert_eq!(warnings(&h), vec![r#"unknown field "spec.x""#, r"a \ b"]);
    }
}
