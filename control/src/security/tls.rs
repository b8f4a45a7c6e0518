//! The rustls server configuration of the API: the serving certificate (or, for clients that
//! ask for [`LOOPBACK_SERVER_NAME`](super::LOOPBACK_SERVER_NAME), one of the data directory's
//! CA), optional client certificates verified against the client CA bundle, and ALPN for
//! HTTP/2 and HTTP/1.1.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

use super::pki::{self, Issued};
use super::{LOOPBACK_SERVER_NAME, SecurityError};

/// The files and certificates a server configuration is made from.
#[derive(Debug)]
pub struct ServerFiles<'a> {
    /// Serving certificate chain (PEM).
    pub cert_file: &'a Path,
    /// Its key (PEM).
    pub key_file: &'a Path,
    /// Extra client CA bundle (PEM).
    pub client_ca_file: Option<&'a Path>,
    /// The data directory's CA (PEM), always trusted for client certificates.
    pub own_ca_pem: &'a str,
    /// The certificate answered to [`LOOPBACK_SERVER_NAME`].
    pub loopback: &'a Issued,
}

/// The one crypto provider switchyard uses (ring), named explicitly so that no process-wide
/// default has to be installed.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(what: &str) -> impl FnOnce(rustls::Error) -> SecurityError + '_ {
    move |e| SecurityError::Tls(format!("{what}: {e}"))
}

/// Builds the server configuration.
pub fn server_config(files: ServerFiles<'_>) -> Result<ServerConfig, SecurityError> {
    let provider = provider();
    let serving = CertifiedKey::from_der(
        pki::load_certs(files.cert_file)?,
        pki::load_key(files.key_file)?,
        &provider,
    )
    .map_err(tls_error("the serving certificate and key"))?;
    let loopback = CertifiedKey::from_der(
        pki::certs_from_pem(
            files.loopback.cert_pem.as_bytes(),
            Path::new("loopback.crt"),
        )?,
        PrivateKeyDer::from_pem_slice(files.loopback.key_pem.as_bytes())
            .map_err(|e| SecurityError::Tls(format!("the loopback key: {e}")))?,
        &provider,
    )
    .map_err(tls_error("the loopback certificate"))?;
    let mut roots = RootCertStore::empty();
    for cert in pki::certs_from_pem(files.own_ca_pem.as_bytes(), Path::new("pki/ca.crt"))? {
        roots
            .add(cert)
            .map_err(tls_error("the data directory's CA"))?;
    }
    if let Some(path) = files.client_ca_file {
        for cert in pki::load_certs(path)? {
            roots
                .add(cert)
                .map_err(|e| SecurityError::Tls(format!("{}: {e}", path.display())))?;
        }
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| SecurityError::Tls(format!("the client certificate verifier: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error("protocol versions"))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(Resolver {
            serving: Arc::new(serving),
            loopback: Arc::new(loopback),
        }));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Answers [`LOOPBACK_SERVER_NAME`] with the loopback certificate, everything else (including
/// clients that send no name, such as those connecting to an IP address) with the serving one.
#[derive(Debug)]
struct Resolver {
    serving: Arc<CertifiedKey>,
    loopback: Arc<CertifiedKey>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if hello.server_name() == Some(LOOPBACK_SERVER_NAME) {
            Some(self.loopback.clone())
        } else {
            Some(self.serving.clone())
        }
    }
}
