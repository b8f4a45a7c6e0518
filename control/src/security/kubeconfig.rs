//! kubeconfig files for clients: `<data-dir>/admin.kubeconfig` (admin token) and the ones
//! `switchyard kubeconfig --user` prints (a client certificate of the data directory's CA).

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::pki::{self, Issued, PkiError};

/// The file the admin kubeconfig is written to.
pub fn admin_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.kubeconfig")
}

/// How a client reaches and proves itself to the API.
#[derive(Debug, Clone, Copy)]
pub struct ClientSpec<'a> {
    /// `https://host:port` (or `http://` in the plain-HTTP mode).
    pub server: &'a str,
    /// The CA certificate (PEM) the client trusts.
    pub ca_pem: Option<&'a str>,
    /// The name to verify the server's certificate against, when not the URL's host.
    pub tls_server_name: Option<&'a str>,
    /// The user entry's name.
    pub user: &'a str,
    /// A bearer token.
    pub token: Option<&'a str>,
    /// A client certificate and key.
    pub client_cert: Option<&'a Issued>,
}

/// The kubeconfig YAML for `spec`: one cluster, one user, one context, made current.
pub fn render(spec: &ClientSpec<'_>) -> Result<String, serde_yaml::Error> {
    let mut cluster = json!({ "server": spec.server });
    if let Some(ca) = spec.ca_pem {
        cluster["certificate-authority-data"] = json!(STANDARD.encode(ca));
    }
    if let Some(name) = spec.tls_server_name {
        cluster["tls-server-name"] = json!(name);
    }
    let mut user = json!({});
    if let Some(token) = spec.token {
        user["token"] = json!(token);
    }
    if let Some(cert) = spec.client_cert {
        user["client-certificate-data"] = json!(STANDARD.encode(&cert.cert_pem));
        user["client-key-data"] = json!(STANDARD.encode(&cert.key_pem));
    }
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": "switchyard", "cluster": cluster }],
        "users": [{ "name": spec.user, "user": user }],
        "contexts": [{
            "name": "switchyard",
            "context": { "cluster": "switchyard", "user": spec.user, "namespace": "default" }
        }],
        "current-context": "switchyard",
        "preferences": {},
    });
    serde_yaml::to_string(&doc)
}

/// Writes a kubeconfig readable by the owner only.
pub fn write(path: &Path, yaml: &str) -> Result<(), PkiError> {
    pki::write_private(path, yaml.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_rs_reads_what_we_write() -> Result<(), Box<dyn std::error::Error>> {
        let yaml = render(&ClientSpec {
            server: "https://127.0.0.1:6443",
            ca_pem: Some("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"),
            tls_server_name: Some("switchyard-loopback"),
            user: "admin",
            token: Some("t0k3n"),
            client_cert: None,
        })?;
        let parsed = kube::config::Kubeconfig::from_yaml(&yaml)?;
        assert_eq!(parsed.current_context.as_deref(), Some("switchyard"));
        let cluster = parsed.clusters[0].cluster.as_ref().ok_or("no cluster")?;
        assert_eq!(cluster.server.as_deref(), Some("https://127.0.0.1:6443"));
        assert_eq!(
            cluster.tls_server_name.as_deref(),
            Some("switchyard-loopback")
        );
        assert!(cluster.certificate_authority_data.is_some());
        let user = parsed.auth_infos[0].auth_info.as_ref().ok_or("no user")?;
        assert!(user.token.is_some());
        Ok(())
    }
}
