//! The running parts of a switchyard process and their start/stop order:
//! control plane → node registration → scheduler → watch → DNS → proxy → node agent → metrics;
//! stopped in reverse.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::{Context, Result};
use cluster_watch::{self as watch, WatchConfig, WatchHandle};
use control::admission::AdmissionConfig;
use control::controllers::cluster_dns::{self, NodeDns};
use control::security::{SecurityConfig, TlsSettings, Transport};
use control::serve::ServeLimits;
use control::server::{ControlPlane, ControlPlaneConfig};
use node_agent::{AgentConfig, NodeAgent};
use proxy::model::NodeContext;
use proxy::nft::{NftConfig, NftProxy};
use proxy::userspace::{UserspaceConfig, UserspaceProxy};

use super::metrics::MetricsServer;
use super::node::{self, NodeIdentity};
use crate::cli::{
    AgentOnlyArgs, DnsArgs, DnsOnlyArgs, LbPolicy, ProxyArgs, ProxyMode, ProxyOnlyArgs, RunArgs,
};

/// The interface the userspace proxy owns for ClusterIPs.
const PROXY_INTERFACE: &str = "switchyard0";

/// Everything one process runs.
pub struct Running {
    control: Option<ControlPlane>,
    /// The scheduler (`switchyard run` only): places Pods that name no node.
    scheduler: Option<tokio::task::JoinHandle<()>>,
    watch: Option<WatchHandle>,
    dns: Option<Arc<dns::DnsServer>>,
    proxy: Option<Arc<ProxyPart>>,
    agent: Option<Arc<NodeAgent>>,
    metrics: Option<MetricsServer>,
}

/// The proxy in its chosen mode.
pub enum ProxyPart {
    /// tokio listeners.
    Userspace(UserspaceProxy),
    /// Kernel rules.
    Nft(NftProxy),
}

impl ProxyPart {
    /// Prometheus text of the proxy.
    pub fn metrics_text(&self) -> String {
        match self {
            ProxyPart::Userspace(p) => p.metrics_text(),
            ProxyPart::Nft(p) => p.metrics_text(),
        }
    }

    /// `/healthz` status and body.
    pub fn health(&self) -> (u16, String) {
        let health = match self {
            ProxyPart::Userspace(p) => p.health(),
            ProxyPart::Nft(p) => p.health(),
        };
        let body = health.to_json(std::time::SystemTime::now());
        (health.status_code(), format!("{body}\n"))
    }

    async fn shutdown(self) {
        match self {
            ProxyPart::Userspace(p) => p.shutdown().await,
            ProxyPart::Nft(p) => p.shutdown().await,
        }
    }
}

impl Running {
    /// `switchyard run`: everything on this host.
    pub async fn start(args: &RunArgs) -> Result<Running> {
        let config = ControlPlaneConfig {
            data_dir: args.data_dir.clone(),
            listen: args.api_listen,
            admission: AdmissionConfig {
                service_cidrs: args.service_cidr.clone(),
                cluster_cidrs: args.cluster_cidr.clone(),
                node_port_range: args.node_port_range.0..=args.node_port_range.1,
                allowed_external_ip_cidrs: args.allowed_external_ip_cidrs.clone(),
                ..AdmissionConfig::default()
            },
            watch_history: args.watch_history,
            security: security_config(args),
            limits: ServeLimits {
                max_connections: args.security.max_connections,
                max_requests_inflight: args.security.max_requests_inflight,
                max_mutating_requests_inflight: args.security.max_mutating_requests_inflight,
                header_read_timeout: args.security.request_header_timeout,
                ..ServeLimits::default()
            },
            cluster_dns: args.cluster_dns_ip().map_err(anyhow::Error::msg)?,
            controllers: args.controllers.clone(),
        };
        let config_cluster_dns = config.cluster_dns;
        let control = ControlPlane::start(config)
            .await
            .context("starting the control plane")?;
        tracing::info!(
            api = %control.url(),
            data_dir = %args.data_dir.display(),
            kubeconfig = %control::security::kubeconfig::admin_path(&args.data_dir).display(),
            "control plane serving"
        );
        let client = kube::Client::try_from(control.loopback_config()?)
            .context("building the in-process API client")?;
        let identity = NodeIdentity::from_args(&args.node);
        node::register(client.clone(), &identity)
            .await
            .context("registering this node")?;

        let scheduler = control::scheduler::spawn(client.clone());
        control
            .api_state()
            .components()
            .register_task("scheduler", scheduler.abort_handle());
        let mut running = Running {
            control: Some(control),
            scheduler: Some(scheduler),
            watch: None,
            dns: None,
            proxy: None,
            agent: None,
            metrics: None,
        };
        let in_cluster = [&args.cluster_cidr[..], &args.service_cidr[..]].concat();
        let dns_config = args
            .dns_listen
            .0
            .map(|listen| dns_config(listen, &args.dns, &in_cluster));
        let pods = dns_config.as_ref().is_some_and(|c| c.needs_pods()) || args.agent.node_agent;
        let watch = watch::spawn(client.clone(), WatchConfig { pods, nodes: false });
        if let Some(config) = dns_config {
            running.dns = Some(Arc::new(start_dns(config, &watch).await?));
        }
        if let (Some(_), Some(dns)) = (config_cluster_dns, running.dns.as_ref()) {
            let listener = NodeDns::for_listener(
                &identity.name,
                &identity.ips,
                dns.local_addr(),
                args.metrics_listen.0,
            );
            cluster_dns::publish(&client, &listener)
                .await
                .context("publishing this node's DNS listener in kube-system/kube-dns")?;
        }
        let agent_config = AgentConfig {
            node_name: identity.name.clone(),
            max_probes_in_flight: args.agent.max_probes_in_flight,
            max_pods: args.agent.max_probed_pods,
        };
        let proxy_settings = ProxySettings {
            mode: args.proxy_mode,
            identity,
            proxy: args.proxy.clone(),
            cluster_cidrs: args.cluster_cidr.clone(),
            service_cidrs: args.service_cidr.clone(),
        };
        running.proxy = start_proxy(&proxy_settings, &watch).await?.map(Arc::new);
        if args.agent.node_agent {
            running.agent = Some(Arc::new(start_agent(client, &watch, agent_config)?));
        }
        running.watch = Some(watch);
        running.start_metrics(args.metrics_listen.0).await?;
        Ok(running)
    }

    /// A client of this process's own API (the in-process superuser).
    pub fn client(&self) -> Result<kube::Client> {
        let control = self
            .control
            .as_ref()
            .context("no control plane runs in this process")?;
        kube::Client::try_from(control.loopback_config()?).context("building the API client")
    }

    /// `switchyard dns`: only the nameserver, fed by `client`.
    pub async fn start_dns_only(client: kube::Client, args: &DnsOnlyArgs) -> Result<Running> {
        let config = dns_config(args.dns_listen, &args.dns, &[]);
        let watch = watch::spawn(
            client,
            WatchConfig {
                pods: config.needs_pods(),
                nodes: false,
            },
        );
        let dns = start_dns(config, &watch).await?;
        let mut running = Running {
            control: None,
            scheduler: None,
            watch: Some(watch),
            dns: Some(Arc::new(dns)),
            proxy: None,
            agent: None,
            metrics: None,
        };
        running.start_metrics(args.metrics_listen.0).await?;
        Ok(running)
    }

    /// `switchyard proxy`: only the proxy for one node, fed by `client`.
    pub async fn start_proxy_only(client: kube::Client, args: &ProxyOnlyArgs) -> Result<Running> {
        let watch = watch::spawn(client, WatchConfig::default());
        let settings = ProxySettings {
            mode: args.mode,
            identity: NodeIdentity::from_args(&args.node),
            proxy: args.proxy.clone(),
            cluster_cidrs: args.cluster_cidr.clone(),
            service_cidrs: args.service_cidr.clone(),
        };
        let proxy = start_proxy(&settings, &watch).await?.map(Arc::new);
        let mut running = Running {
            control: None,
            scheduler: None,
            watch: Some(watch),
            dns: None,
            proxy,
            agent: None,
            metrics: None,
        };
        running.start_metrics(args.metrics_listen.0).await?;
        Ok(running)
    }

    /// `switchyard agent`: only the node agent for one node, fed by and writing through
    /// `client`.
    pub async fn start_agent_only(client: kube::Client, args: &AgentOnlyArgs) -> Result<Running> {
        let watch = watch::spawn(
            client.clone(),
            WatchConfig {
                pods: true,
                nodes: false,
            },
        );
        let config = AgentConfig {
            node_name: args.node_name.clone().unwrap_or_else(node::host_name),
            max_probes_in_flight: args.max_probes_in_flight,
            max_pods: args.max_probed_pods,
        };
        let agent = start_agent(client, &watch, config)?;
        let mut running = Running {
            control: None,
            watch: Some(watch),
            dns: None,
            proxy: None,
            agent: Some(Arc::new(agent)),
            scheduler: None,
            metrics: None,
        };
        running.start_metrics(args.metrics_listen.0).await?;
        Ok(running)
    }

    async fn start_metrics(&mut self, listen: Option<SocketAddr>) -> Result<()> {
        if let Some(addr) = listen {
            let server = MetricsServer::start(
                addr,
                self.dns.clone(),
                self.proxy.clone(),
                self.agent.clone(),
            )
            .await
            .with_context(|| format!("serving metrics on {addr}"))?;
            tracing::info!(addr = %server.local_addr(), "metrics and health serving");
            self.metrics = Some(server);
        }
        Ok(())
    }

    /// Stops every part in reverse start order.
    pub async fn shutdown(mut self) {
        if let Some(metrics) = self.metrics.take() {
            metrics.shutdown().await;
        }
        if let Some(agent) = self.agent.take().and_then(|a| Arc::try_unwrap(a).ok()) {
            agent.shutdown().await;
        }
        if let Some(proxy) = self.proxy.take().and_then(|p| Arc::try_unwrap(p).ok()) {
            proxy.shutdown().await;
        }
        if let Some(dns) = self.dns.take().and_then(|d| Arc::try_unwrap(d).ok()) {
            dns.shutdown().await;
        }
        self.watch.take();
        if let Some(scheduler) = self.scheduler.take() {
            scheduler.abort();
            let _ = scheduler.await;
        }
        if let Some(control) = self.control.take() {
            control.shutdown().await;
        }
        tracing::info!("stopped");
    }
}

/// The API server's security settings from `switchyard run`'s flags.
fn security_config(args: &RunArgs) -> SecurityConfig {
    let flags = &args.security;
    let transport = if flags.insecure_loopback_http {
        Transport::InsecureLoopbackHttp
    } else {
        Transport::Tls(TlsSettings {
            cert_file: flags.tls_cert_file.clone(),
            key_file: flags.tls_private_key_file.clone(),
            client_ca_file: flags.client_ca_file.clone(),
            extra_sans: flags.tls_san.clone(),
            node_ips: args.node.node_ip.clone(),
        })
    };
    SecurityConfig {
        transport,
        token_auth_file: flags.token_auth_file.clone(),
    }
}

/// The nameserver's configuration from its flags; `in_cluster` (pod and service CIDRs, when
/// known) joins loopback and the host's addresses in the default recursion allow list.
fn dns_config(listen: SocketAddr, args: &DnsArgs, in_cluster: &[ipnet::IpNet]) -> dns::DnsConfig {
    let upstreams = if args.upstream.is_empty() {
        match dns::upstreams_from_resolv_conf(std::path::Path::new("/etc/resolv.conf")) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "no upstream nameserver; names outside the cluster zone will be refused");
                Vec::new()
            }
        }
    } else {
        args.upstream.clone()
    };
    // Never forward to ourselves.
    let upstreams = upstreams.into_iter().filter(|u| *u != listen).collect();
    let recursion_clients = if args.dns_allow_recursion.is_empty() {
        dns::default_recursion_clients(in_cluster).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "recursion allowed for loopback and the cluster only");
            [&dns::LOOPBACK_NETS[..], in_cluster].concat()
        })
    } else {
        args.dns_allow_recursion.clone()
    };
    dns::DnsConfig {
        listen,
        cluster_domain: args.cluster_domain.clone(),
        ttl: args.dns_ttl,
        upstreams,
        pod_records: match args.dns_pods {
            crate::cli::DnsPods::Disabled => dns::PodRecords::Disabled,
            crate::cli::DnsPods::Insecure => dns::PodRecords::Insecure,
            crate::cli::DnsPods::Verified => dns::PodRecords::Verified,
        },
        cache_entries: args.dns_cache_entries,
        recursion_clients,
        max_upstream_inflight: args.dns_max_upstream_inflight,
        rrl_responses_per_second: args.dns_rrl_responses_per_second,
        autopath: args.dns_autopath,
        autopath_search: if args.dns_autopath {
            dns::search_from_resolv_conf(std::path::Path::new("/etc/resolv.conf"))
        } else {
            Vec::new()
        },
    }
}

async fn start_dns(config: dns::DnsConfig, watch: &WatchHandle) -> Result<dns::DnsServer> {
    let listen = config.listen;
    let server = dns::DnsServer::start(config, watch.subscribe())
        .await
        .with_context(|| format!("starting DNS on {listen}"))?;
    tracing::info!(addr = %server.local_addr(), "DNS serving");
    Ok(server)
}

fn start_agent(
    client: kube::Client,
    watch: &WatchHandle,
    config: AgentConfig,
) -> Result<NodeAgent> {
    let node = config.node_name.clone();
    let agent =
        NodeAgent::start(client, watch.subscribe(), config).context("starting the node agent")?;
    tracing::info!(%node, "node agent probing this node's Pods");
    Ok(agent)
}

/// What the proxy needs, from either `run` or `proxy`.
struct ProxySettings {
    mode: ProxyMode,
    identity: NodeIdentity,
    proxy: ProxyArgs,
    cluster_cidrs: Vec<ipnet::IpNet>,
    service_cidrs: Vec<ipnet::IpNet>,
}

async fn start_proxy(settings: &ProxySettings, watch: &WatchHandle) -> Result<Option<ProxyPart>> {
    if settings.mode == ProxyMode::None {
        return Ok(None);
    }
    let node = NodeContext {
        node_name: settings.identity.name.clone(),
    };
    let tables = proxy::reflector::spawn_table(watch.subscribe(), node);
    let args = &settings.proxy;
    let part = match settings.mode {
        ProxyMode::None => return Ok(None),
        ProxyMode::Userspace => {
            let manage_interface = match args.proxy_interface.as_str() {
                "none" => None,
                name if is_root() => Some(name.to_string()),
                _ => {
                    tracing::warn!(
                        "not root: ClusterIPs are not added to an interface; NodePorts still work"
                    );
                    None
                }
            };
            let config = UserspaceConfig {
                node_ips: settings.identity.ips.clone(),
                nodeport_addresses: args.nodeport_addresses.clone(),
                lb: match args.lb.unwrap_or(LbPolicy::RoundRobin) {
                    LbPolicy::RoundRobin => proxy::userspace::LbPolicy::RoundRobin,
                    LbPolicy::Random => proxy::userspace::LbPolicy::Random,
                    LbPolicy::LeastConnections => proxy::userspace::LbPolicy::LeastConnections,
                },
                manage_interface,
                udp_idle_timeout: args.udp_idle_timeout,
                ..UserspaceConfig::default()
            };
            let proxy = UserspaceProxy::start(config, tables)
                .await
                .context("starting the userspace proxy")?;
            ProxyPart::Userspace(proxy)
        }
        ProxyMode::Nftables => {
            let node_ips: Vec<IpAddr> = args.nodeport_addresses.iter().map(|n| n.addr()).collect();
            let pick = match args.lb.unwrap_or(LbPolicy::Random) {
                LbPolicy::RoundRobin => proxy::nft::rules::Pick::RoundRobin,
                LbPolicy::Random => proxy::nft::rules::Pick::Random,
                LbPolicy::LeastConnections => anyhow::bail!(
                    "--lb least-connections needs --proxy-mode userspace: nftables rules keep no \
                     per-endpoint connection count (use round-robin or random)"
                ),
            };
            let config = NftConfig {
                pick,
                cluster_cidrs: settings.cluster_cidrs.clone(),
                service_cidrs: settings.service_cidrs.clone(),
                node_ips,
                min_sync_period: args.min_sync_period,
                full_resync_period: (!args.nft_resync_period.is_zero())
                    .then_some(args.nft_resync_period),
                shards: args.nft_shards,
                masquerade_fully_random: args.masquerade_fully_random,
                ..NftConfig::default()
            };
            let proxy = NftProxy::start(config, tables)
                .await
                .context("starting the nftables proxy")?;
            ProxyPart::Nft(proxy)
        }
    };
    tracing::info!(mode = ?settings.mode, node = %settings.identity.name, "proxy running");
    Ok(Some(part))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Removes the nftables tables and the proxy interface switchyard created on this host.
pub async fn cleanup() -> Result<()> {
    proxy::nft::cleanup(None)
        .await
        .context("removing the nftables tables")?;
    let link = tokio::process::Command::new("ip")
        .args(["link", "del", PROXY_INTERFACE])
        .output()
        .await;
    match link {
        Ok(out) if out.status.success() => println!("removed interface {PROXY_INTERFACE}"),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "cannot run `ip`; interface {PROXY_INTERFACE} not checked")
        }
    }
    println!("removed switchyard's nftables tables");
    Ok(())
}
