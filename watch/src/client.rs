//! Builds a `kube::Client` for a server URL, or from the ambient kubeconfig / in-cluster config.

use kube::{Client, Config};

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The `--server` value is not a URL.
    #[error("invalid server URL {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// No kubeconfig or in-cluster configuration could be loaded.
    #[error("loading kubeconfig: {0}")]
    Config(String),
    /// The client could not be constructed from the configuration.
    #[error("building the API client: {0}")]
    Build(String),
}

/// The HTTP status code of an error the API server answered (`None`: the request never got a
/// `Status` back: a connection, TLS or decoding failure).
pub fn status_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// A client for `server` (e.g. `http://127.0.0.1:6443`), or, when `server` is `None`, for the
/// cluster named by `$KUBECONFIG` / `~/.kube/config` / the in-cluster service account.
pub async fn client_for(server: Option<&str>) -> Result<Client, ClientError> {
    let config = match server {
        Some(url) => {
            let uri: http::Uri =
                url.parse()
                    .map_err(|e: http::uri::InvalidUri| ClientError::BadUrl {
                        url: url.to_string(),
                        reason: e.to_string(),
                    })?;
            if uri.scheme().is_none() || uri.host().is_none() {
                return Err(ClientError::BadUrl {
                    url: url.to_string(),
                    reason: "expected scheme://host:port".to_string(),
                });
            }
            let mut config = Config::new(uri);
            config.default_namespace = "default".to_string();
            config
        }
        None => Config::infer()
            .await
            .map_err(|e| ClientError::Config(e.to_string()))?,
    };
    Client::try_from(config).map_err(|e| ClientError::Build(e.to_string()))
}
