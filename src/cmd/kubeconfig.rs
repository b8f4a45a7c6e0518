//! `switchyard kubeconfig --user NAME [--group G]...`: prints a kubeconfig whose client
//! certificate, signed by the data directory's CA, names NAME (CN) in groups G (O), the way
//! kube-apiserver reads identities from client certificates. The certificate is valid for a
//! year; nothing is written to disk.

use anyhow::{Context, Result, bail};
use control::security::kubeconfig::{self, ClientSpec};
use control::security::pki::{self, Ca};

use crate::cli::KubeconfigArgs;

/// Prints the kubeconfig to stdout.
pub fn run(args: KubeconfigArgs) -> Result<()> {
    if args.user.trim().is_empty() {
        bail!("--user: the user name must not be empty");
    }
    let dir = pki::pki_dir(&args.data_dir);
    let ca = Ca::load(&dir.join("ca.crt"), &dir.join("ca.key")).with_context(|| {
        format!(
            "loading the CA from {} (run `switchyard run --data-dir {}` once first)",
            dir.display(),
            args.data_dir.display()
        )
    })?;
    let issued = ca
        .issue_client(&args.user, &args.groups)
        .context("issuing the client certificate")?;
    let yaml = kubeconfig::render(&ClientSpec {
        server: &args.server,
        ca_pem: Some(ca.cert_pem()),
        tls_server_name: None,
        user: &args.user,
        token: None,
        client_cert: Some(&issued),
    })?;
    print!("{yaml}");
    Ok(())
}
