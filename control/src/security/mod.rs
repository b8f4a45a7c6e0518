//! Transport security and identity of the API: the CA and serving certificate, bearer tokens
//! and client certificates, the kubeconfig files handed to clients, and the guard that keeps the
//! plain-HTTP test mode on loopback.
//!
//! [`Credentials::prepare`] runs once at start and yields everything the server and its own
//! in-process clients need; nothing here touches the store.

pub mod authn;
pub mod kubeconfig;
pub mod loopback_guard;
pub mod pki;
pub mod tls;
pub mod tokens;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use authn::{Authenticator, Identity, PeerIdentity};
use pki::{Ca, PkiError, SubjectName};
use tokens::{TokenFileError, TokenTable};

/// Who a request comes from, as kube-apiserver's `user.Info`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct UserInfo {
    /// The user name (`alice`, `system:node:n1`, `system:serviceaccount:ns:sa`).
    pub name: String,
    /// A unique identifier, when the source knows one.
    pub uid: String,
    /// Group names.
    pub groups: Vec<String>,
}

/// The group whose members may do anything (kube-apiserver's superuser group).
pub const MASTERS_GROUP: &str = "system:masters";
/// The admin user written to `admin.kubeconfig`.
pub const ADMIN_USER: &str = "admin";
/// The user of this process's own clients (controllers, proxy, DNS, node registration).
pub const LOOPBACK_USER: &str = "system:apiserver";
/// The TLS server name this process's own clients ask for: always answered with a certificate
/// of the data directory's CA, whatever serving certificate the operator configured.
pub const LOOPBACK_SERVER_NAME: &str = "switchyard-loopback";

/// How the API is reached.
#[derive(Debug, Clone)]
pub enum Transport {
    /// HTTPS with authentication (the default).
    Tls(TlsSettings),
    /// Plain HTTP, loopback only, every request acting as a member of `system:masters`: for
    /// tests and benchmarks (`--insecure-loopback-http`).
    InsecureLoopbackHttp,
}

impl Default for Transport {
    fn default() -> Self {
        Transport::Tls(TlsSettings::default())
    }
}

/// Certificates of the HTTPS API. Unset files are created in `<data-dir>/pki`.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// Serving certificate chain (PEM), kube-apiserver's `--tls-cert-file`.
    pub cert_file: Option<PathBuf>,
    /// Its private key (PEM), `--tls-private-key-file`.
    pub key_file: Option<PathBuf>,
    /// CA bundle that client certificates are verified against, `--client-ca-file`; the data
    /// directory's CA is always trusted too.
    pub client_ca_file: Option<PathBuf>,
    /// Extra names for the generated serving certificate (`--tls-san`).
    pub extra_sans: Vec<String>,
    /// The node's addresses, added to the generated serving certificate.
    pub node_ips: Vec<IpAddr>,
}

/// Security settings of the API server.
#[derive(Debug, Clone, Default)]
pub struct SecurityConfig {
    /// HTTPS (default) or plain loopback HTTP.
    pub transport: Transport,
    /// kube-apiserver's `--token-auth-file`.
    pub token_auth_file: Option<PathBuf>,
}

/// Why the credentials could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// A certificate or key.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// A token file.
    #[error(transparent)]
    Tokens(#[from] TokenFileError),
    /// TLS configuration.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// The plain-HTTP mode was asked for on an address other than loopback.
    #[error(
        "--insecure-loopback-http serves plain HTTP without authentication and refuses any \
         address but loopback; {0} is not a loopback address"
    )]
    NotLoopback(SocketAddr),
    /// `--tls-cert-file` and `--tls-private-key-file` must be given together.
    #[error("--tls-cert-file and --tls-private-key-file must be given together")]
    HalfAPair,
}

/// What the server and this process's own clients need, prepared at start.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The TLS configuration, `None` in the plain-HTTP mode.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Turns request credentials into identities.
    pub authenticator: Arc<Authenticator>,
    /// The admin token (`<data-dir>/admin.token`).
    pub admin_token: String,
    /// The token of this process's own clients (in memory only, new every start).
    pub loopback_token: String,
    /// The data directory's CA certificate, PEM: what the loopback client and generated
    /// kubeconfigs trust. `None` in the plain-HTTP mode.
    pub ca_pem: Option<String>,
    /// Whether the operator gave the serving certificate (`--tls-cert-file`): generated
    /// kubeconfigs then reach the server by [`LOOPBACK_SERVER_NAME`], which the data directory's
    /// CA vouches for.
    pub custom_serving_cert: bool,
}

impl Credentials {
    /// Loads or creates every certificate, key and token, and checks the listen address.
    pub fn prepare(
        config: &SecurityConfig,
        data_dir: &Path,
        listen: SocketAddr,
    ) -> Result<Credentials, SecurityError> {
        let admin_token = tokens::load_or_create_admin(data_dir)?;
        let loopback_token = tokens::generate();
        let mut table = TokenTable::default();
        if let Some(path) = &config.token_auth_file {
            let count = table.load_csv(path)?;
            tracing::info!(path = %path.display(), tokens = count, "static tokens loaded");
        }
        table.insert(
            &admin_token,
            UserInfo {
                name: ADMIN_USER.to_string(),
                uid: String::new(),
                groups: vec![MASTERS_GROUP.to_string()],
            },
        );
        table.insert(
            &loopback_token,
            UserInfo {
                name: LOOPBACK_USER.to_string(),
                uid: uuid::Uuid::new_v4().to_string(),
                groups: vec![MASTERS_GROUP.to_string()],
            },
        );
        let authenticator = Arc::new(Authenticator::new(table));
        let settings = match &config.transport {
            Transport::InsecureLoopbackHttp => {
                if !listen.ip().is_loopback() {
                    return Err(SecurityError::NotLoopback(listen));
                }
                return Ok(Credentials {
                    tls: None,
                    authenticator,
                    admin_token,
                    loopback_token,
                    ca_pem: None,
                    custom_serving_cert: false,
                });
            }
            Transport::Tls(settings) => settings,
        };
        let ca = Ca::load_or_create(data_dir)?;
        let (cert_file, key_file, custom_serving_cert) =
            match (&settings.cert_file, &settings.key_file) {
                (Some(cert), Some(key)) => (cert.clone(), key.clone(), true),
                (None, None) => {
                    let names = serving_names(settings, listen);
                    let (cert, key) = pki::ensure_serving(data_dir, &ca, &names)?;
                    (cert, key, false)
                }
                _ => return Err(SecurityError::HalfAPair),
            };
        let loopback = ca.issue_serving(&[SubjectName::Dns(LOOPBACK_SERVER_NAME.to_string())])?;
        let tls = tls::server_config(tls::ServerFiles {
            cert_file: &cert_file,
            key_file: &key_file,
            client_ca_file: settings.client_ca_file.as_deref(),
            own_ca_pem: ca.cert_pem(),
            loopback: &loopback,
        })?;
        Ok(Credentials {
            tls: Some(Arc::new(tls)),
            authenticator,
            admin_token,
            loopback_token,
            ca_pem: Some(ca.cert_pem().to_string()),
            custom_serving_cert,
        })
    }

    /// The URL scheme of the API.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The URL a local client reaches the API on (`https://127.0.0.1:PORT` for a server
    /// listening on `0.0.0.0:PORT`).
    pub fn url(&self, addr: SocketAddr) -> String {
        format!("{}://{}", self.scheme(), reachable(addr))
    }

    /// A `kube::Config` for this process's own clients: the loopback token, the data
    /// directory's CA and [`LOOPBACK_SERVER_NAME`].
    pub fn loopback_config(&self, addr: SocketAddr) -> Result<kube::Config, SecurityError> {
        let uri: http::Uri = self
            .url(addr)
            .parse()
            .map_err(|e: http::uri::InvalidUri| SecurityError::Tls(e.to_string()))?;
        let mut config = kube::Config::new(uri);
        config.default_namespace = "default".to_string();
        config.auth_info.token = Some(self.loopback_token.clone().into());
        if let Some(ca) = &self.ca_pem {
            let certs = pki::certs_from_pem(ca.as_bytes(), Path::new("pki/ca.crt"))?;
            config.root_cert = Some(certs.into_iter().map(|c| c.to_vec()).collect());
            config.tls_server_name = Some(LOOPBACK_SERVER_NAME.to_string());
        }
        Ok(config)
    }
}

/// An address a local client can connect to: the unspecified address becomes loopback.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

/// The names of a generated serving certificate: loopback, `localhost`, the host name, the
/// listen address when specific, the node addresses and `--tls-san`.
fn serving_names(settings: &TlsSettings, listen: SocketAddr) -> Vec<SubjectName> {
    let mut names = vec![
        SubjectName::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        SubjectName::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        SubjectName::Dns("localhost".to_string()),
        SubjectName::Dns("kubernetes".to_string()),
        SubjectName::Dns("kubernetes.default".to_string()),
        SubjectName::Dns("kubernetes.default.svc".to_string()),
    ];
    if let Ok(host) = nix::unistd::gethostname()
        && let Some(host) = host.to_str()
        && !host.is_empty()
    {
        names.push(SubjectName::parse(host));
    }
    if !listen.ip().is_unspecified() {
        names.push(SubjectName::Ip(listen.ip()));
    }
    names.extend(settings.node_ips.iter().copied().map(SubjectName::Ip));
    names.extend(settings.extra_sans.iter().map(|s| SubjectName::parse(s)));
    let mut unique = Vec::with_capacity(names.len());
    for name in names {
        if !unique.contains(&name) {
            unique.push(name);
        }
    }
    unique
}
