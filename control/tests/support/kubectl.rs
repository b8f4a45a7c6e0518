//! kubectl 1.32 driven against a test plane with the admin kubeconfig the plane wrote.

use std::path::Path;

use super::TestResult;

/// kubectl with the plane's admin kubeconfig; the host's configuration is never read.
pub struct Kubectl {
    /// The admin kubeconfig the plane wrote.
    pub kubeconfig: std::path::PathBuf,
}

impl Kubectl {
    /// kubectl for the plane whose data directory is `data_dir`.
    pub fn new(data_dir: &Path) -> TestResult<Kubectl> {
        let kubeconfig = control::security::kubeconfig::admin_path(data_dir);
        if !kubeconfig.exists() {
            return Err(format!("{} was not written", kubeconfig.display()).into());
        }
        Ok(Kubectl { kubeconfig })
    }

    /// Runs kubectl; returns stdout, failing with stderr when kubectl fails.
    pub async fn run(&self, args: &[&str]) -> TestResult<String> {
        let mut command = tokio::process::Command::new("kubectl");
        command
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args(args)
            .env_remove("KUBECONFIG");
        let output =
            tokio::time::timeout(std::time::Duration::from_secs(60), command.output()).await??;
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        if !output.status.success() {
            return Err(format!("kubectl {args:?} failed: {stderr}{stdout}").into());
        }
        Ok(stdout)
    }

    /// Runs kubectl expecting it to fail; returns its stderr, failing when kubectl succeeds.
    pub async fn run_failing(&self, args: &[&str]) -> TestResult<String> {
        let mut command = tokio::process::Command::new("kubectl");
        command
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args(args)
            .env_remove("KUBECONFIG");
        let output =
            tokio::time::timeout(std::time::Duration::from_secs(60), command.output()).await??;
        if output.status.success() {
            return Err(format!("kubectl {args:?} succeeded but should have failed").into());
        }
        Ok(String::from_utf8_lossy(&output.stderr).to_string())
    }
}
