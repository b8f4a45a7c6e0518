//! `switchyard run` and friends: start the parts in order (control plane, watch, DNS, proxy,
//! node agent, metrics), wait for SIGINT/SIGTERM, and stop them in reverse order.

mod demo;
mod metrics;
mod node;
mod parts;
mod signal;

use anyhow::{Context, Result};

use crate::cli::{AgentOnlyArgs, CleanupArgs, DnsOnlyArgs, ProxyOnlyArgs, RunArgs};

pub use demo::demo;

/// `switchyard run`: the whole data plane on this host until a signal.
pub async fn run(args: RunArgs) -> Result<()> {
    let running = parts::Running::start(&args).await?;
    signal::wait().await;
    tracing::info!("signal received; shutting down");
    running.shutdown().await;
    Ok(())
}

/// `switchyard dns --server URL`: only the nameserver, fed by a remote API.
pub async fn dns_only(args: DnsOnlyArgs) -> Result<()> {
    let client = crate::cmd::api::client(&args.server).await?;
    let running = parts::Running::start_dns_only(client, &args).await?;
    signal::wait().await;
    running.shutdown().await;
    Ok(())
}

/// `switchyard proxy --server URL --node-name N --mode M`: only the proxy for one node.
pub async fn proxy_only(args: ProxyOnlyArgs) -> Result<()> {
    let client = crate::cmd::api::client(&args.server).await?;
    let running = parts::Running::start_proxy_only(client, &args).await?;
    signal::wait().await;
    running.shutdown().await;
    Ok(())
}

/// `switchyard agent --server URL --node-name N`: only the prober for one node.
pub async fn agent_only(args: AgentOnlyArgs) -> Result<()> {
    let client = crate::cmd::api::client(&args.server).await?;
    let running = parts::Running::start_agent_only(client, &args).await?;
    signal::wait().await;
    running.shutdown().await;
    Ok(())
}

/// `switchyard cleanup`: remove the kernel state switchyard created.
pub async fn cleanup(_args: CleanupArgs) -> Result<()> {
    parts::cleanup().await.context("cleanup")
}
