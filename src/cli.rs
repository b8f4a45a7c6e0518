//! Command-line flags of every `switchyard` subcommand.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// switchyard: Kubernetes-style service networking — control store, IPAM, service proxy and
/// cluster DNS in one binary.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about, propagate_version = true)]
pub struct Cli {
    /// Log output format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole data plane: control store + API, DNS, and the proxy for this node.
    Run(Box<RunArgs>),
    /// Run everything on the embedded default, start demo backends, apply examples/demo.yaml and
    /// print what to try.
    Demo(Box<RunArgs>),
    /// Create or update objects from manifest files (multi-document YAML or JSON; `-` = stdin).
    Apply(ApplyArgs),
    /// Show objects, kubectl-style.
    Get(GetArgs),
    /// Delete an object.
    Delete(DeleteArgs),
    /// Run only the cluster DNS server against an API server.
    Dns(DnsOnlyArgs),
    /// Run only the service proxy for one node against an API server.
    Proxy(ProxyOnlyArgs),
    /// Run only the node agent (the readiness prober) for one node against an API server.
    Agent(AgentOnlyArgs),
    /// Remove every kernel rule and interface switchyard created on this host.
    Cleanup(CleanupArgs),
    /// Print a kubeconfig for another identity: a client certificate of the data directory's
    /// CA with CN = user and O = groups (e.g. `--user system:node:n1 --group system:nodes`).
    Kubeconfig(KubeconfigArgs),
}

/// Where the API server is and how to prove who we are to it. Without `--server` the client
/// reads `--kubeconfig`, then `$KUBECONFIG`, then `switchyard-data/admin.kubeconfig`, then
/// `~/.kube/config`, then the in-cluster service account.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// API server URL (`https://host:6443`); with it, `--token-file` and
    /// `--certificate-authority` say how to authenticate and what to trust.
    #[arg(long, env = "SWITCHYARD_SERVER")]
    pub server: Option<String>,
    /// kubeconfig file to use.
    #[arg(long, env = "SWITCHYARD_KUBECONFIG", conflicts_with = "server")]
    pub kubeconfig: Option<PathBuf>,
    /// File holding a bearer token (with `--server`).
    #[arg(long, requires = "server")]
    pub token_file: Option<PathBuf>,
    /// PEM CA bundle the server's certificate is verified against (with `--server`).
    #[arg(long, requires = "server")]
    pub certificate_authority: Option<PathBuf>,
    /// PEM client certificate (with `--server` and `--client-key`).
    #[arg(long, requires_all = ["server", "client_key"])]
    pub client_certificate: Option<PathBuf>,
    /// PEM client key (with `--client-certificate`).
    #[arg(long, requires = "client_certificate")]
    pub client_key: Option<PathBuf>,
}

/// How the API server is secured (`switchyard run`).
#[derive(Debug, Clone, Args)]
pub struct SecurityArgs {
    /// Serve plain HTTP with no authentication, only on a loopback address, only to requests
    /// whose Host is loopback, every request acting as admin. For tests and benchmarks.
    #[arg(long)]
    pub insecure_loopback_http: bool,
    /// Serving certificate (PEM chain); default: generated in `<data-dir>/pki`.
    #[arg(
        long,
        requires = "tls_private_key_file",
        conflicts_with = "insecure_loopback_http"
    )]
    pub tls_cert_file: Option<PathBuf>,
    /// The serving certificate's private key (PEM).
    #[arg(long, requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,
    /// CA bundle that client certificates are verified against (CN = user, O = groups); the
    /// data directory's CA is always trusted too.
    #[arg(long, conflicts_with = "insecure_loopback_http")]
    pub client_ca_file: Option<PathBuf>,
    /// Extra names (DNS or IP) for the generated serving certificate (repeatable).
    #[arg(long, value_delimiter = ',')]
    pub tls_san: Vec<String>,
    /// Static bearer tokens, kube-apiserver's CSV format: `token,user,uid,"group1,group2"`.
    #[arg(long, conflicts_with = "insecure_loopback_http")]
    pub token_auth_file: Option<PathBuf>,
    /// Open API connections at most (clipped to what the open-file limit allows).
    #[arg(long, default_value_t = 8192)]
    pub max_connections: usize,
    /// Non-mutating API requests served at once (watches not counted); more get 429.
    #[arg(long, default_value_t = 400)]
    pub max_requests_inflight: usize,
    /// Mutating API requests served at once; more get 429.
    #[arg(long, default_value_t = 200)]
    pub max_mutating_requests_inflight: usize,
    /// Time a client has to send a request's headers (and how long an idle HTTP/1.1
    /// connection is kept).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub request_header_timeout: Duration,
}

/// Flags of `switchyard kubeconfig`.
#[derive(Debug, Clone, Args)]
pub struct KubeconfigArgs {
    /// The user name (the certificate's CN).
    #[arg(long)]
    pub user: String,
    /// A group (the certificate's O; repeatable).
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// The data directory holding the CA (`pki/ca.crt`, `pki/ca.key`).
    #[arg(long, default_value = "switchyard-data")]
    pub data_dir: PathBuf,
    /// The server URL written into the kubeconfig.
    #[arg(long, default_value = "https://127.0.0.1:6443")]
    pub server: String,
}

/// Flags of `switchyard run` and `switchyard demo`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Directory for the durable store.
    #[arg(long, default_value = "switchyard-data")]
    pub data_dir: PathBuf,
    /// Address of the Kubernetes-style HTTP API.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub api_listen: SocketAddr,
    /// Address of the cluster DNS server (UDP and TCP); `none` disables DNS.
    #[arg(long, default_value = "127.0.0.1:5353", value_parser = parse_optional_addr)]
    pub dns_listen: OptionalAddr,
    /// Address for proxy/DNS `/metrics` and `/healthz`; `none` disables it.
    #[arg(long, default_value = "127.0.0.1:10249", value_parser = parse_optional_addr)]
    pub metrics_listen: OptionalAddr,
    /// ClusterIP of `kube-system/kube-dns`, the address Pods use as their nameserver; its
    /// endpoints are this node's DNS listener. Default: the tenth address of the first service
    /// CIDR (10.96.0.10 for 10.96.0.0/12); `none`: no kube-dns Service.
    #[arg(long, value_parser = parse_cluster_dns)]
    pub cluster_dns: Option<ClusterDns>,
    /// Controllers to run, as kube-controller-manager's `--controllers`: `*` for all, a name
    /// to add one, `-name` to leave one out (endpointslice, replicaset, deployment,
    /// garbagecollector), e.g. `*,-garbagecollector`.
    #[arg(long, default_value = "*", value_parser = parse_controllers)]
    pub controllers: control::controllers::enabled::EnabledControllers,
    /// Proxy data path.
    #[arg(long, value_enum, default_value_t = ProxyMode::Userspace)]
    pub proxy_mode: ProxyMode,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub dns: DnsArgs,
    #[command(flatten)]
    pub proxy: ProxyArgs,
    #[command(flatten)]
    pub agent: AgentArgs,
    /// Service ClusterIP range(s), one per family (`10.96.0.0/12,fd00:10:96::/108`).
    #[arg(long, default_value = "10.96.0.0/12", value_delimiter = ',')]
    pub service_cidr: Vec<ipnet::IpNet>,
    /// Pod network range(s), one per family, split into per-node CIDRs.
    #[arg(long, default_value = "10.244.0.0/16", value_delimiter = ',')]
    pub cluster_cidr: Vec<ipnet::IpNet>,
    /// NodePort range `A-B`.
    #[arg(long, default_value = "30000-32767", value_parser = parse_port_range)]
    pub node_port_range: (u16, u16),
    /// Ranges Services may take `spec.externalIPs` from (`203.0.113.0/24,2001:db8::/64`);
    /// none by default, so every externalIP is refused (see docs/security.md).
    #[arg(long, value_delimiter = ',')]
    pub allowed_external_ip_cidrs: Vec<ipnet::IpNet>,
    /// How many past events the store keeps for watch resumption.
    #[arg(long, default_value_t = 10000)]
    pub watch_history: usize,
    #[command(flatten)]
    pub security: SecurityArgs,
}

/// This node's identity.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// This node's name (default: the host name).
    #[arg(long)]
    pub node_name: Option<String>,
    /// This node's address(es) (default: 127.0.0.1).
    #[arg(long, value_delimiter = ',')]
    pub node_ip: Vec<IpAddr>,
}

/// DNS flags.
#[derive(Debug, Clone, Args)]
pub struct DnsArgs {
    /// The cluster domain.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// TTL of cluster-zone answers, in seconds.
    #[arg(long, default_value_t = 5)]
    pub dns_ttl: u32,
    /// Upstream nameserver(s) for names outside the cluster zone (default: /etc/resolv.conf).
    #[arg(long, value_delimiter = ',')]
    pub upstream: Vec<SocketAddr>,
    /// Pod A records `a-b-c-d.<ns>.pod.<zone>`.
    #[arg(long, value_enum, default_value_t = DnsPods::Disabled)]
    pub dns_pods: DnsPods,
    /// Upper bound on cached upstream answers.
    #[arg(long, default_value_t = 10000)]
    pub dns_cache_entries: usize,
    /// Client networks (CIDRs) whose names outside the cluster zone are forwarded; others get
    /// REFUSED for them (cluster names are answered for all). Default: loopback, this host's
    /// addresses, and for `run` the cluster and service CIDRs.
    #[arg(long, value_delimiter = ',')]
    pub dns_allow_recursion: Vec<ipnet::IpNet>,
    /// Upstream queries in flight at once (one socket each); past it, SERVFAIL at once.
    #[arg(long, default_value_t = dns::DEFAULT_MAX_UPSTREAM_INFLIGHT,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub dns_max_upstream_inflight: usize,
    /// UDP responses per second per client /24 (IPv4) or /56 (IPv6); above it responses are
    /// dropped, every second one sent truncated (TC=1). 0 = off.
    #[arg(long, default_value_t = 0)]
    pub dns_rrl_responses_per_second: u32,
    /// autopath, as CoreDNS's `autopath @kubernetes`: a Pod's question for a name in its first
    /// search domain that does not exist is answered for the first search-path expansion that
    /// does, behind a CNAME, in one round trip. Needs `--dns-pods verified`. The node's search
    /// domains (from /etc/resolv.conf) follow the cluster's, as kubelet lists them.
    #[arg(long)]
    pub dns_autopath: bool,
}

/// Proxy flags.
#[derive(Debug, Clone, Args)]
pub struct ProxyArgs {
    /// Load-balancing policy: all three in userspace mode (default round-robin); random
    /// (`numgen random`, the default) or round-robin (`numgen inc`) in nftables mode. Random
    /// keeps endpoints in maps, so an endpoint change is a few map elements; round-robin
    /// rewrites the service's rules, which costs a kernel walk of the whole table.
    #[arg(long, value_enum)]
    pub lb: Option<LbPolicy>,
    /// Node addresses that accept NodePort traffic (CIDRs); empty = every local address.
    #[arg(long, value_delimiter = ',')]
    pub nodeport_addresses: Vec<ipnet::IpNet>,
    /// Shortest interval between two nftables syncs (`0s` = sync at once).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub min_sync_period: Duration,
    /// Period of the nftables proxy's full resync, which repairs changes made to its tables by
    /// hand (`0s` = only at start, after a failure and on request).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub nft_resync_period: Duration,
    /// Service shard tables per family in nftables mode (1-256). The kernel looks sets up by
    /// walking its table's list and re-checks a whole table when a rule is added, so more
    /// shards make syncs of large clusters faster; each shard costs a new connection one more
    /// map lookup. Changing it moves the services at the next start.
    #[arg(long, default_value_t = proxy::nft::rules::DEFAULT_SHARDS,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub nft_shards: u16,
    /// Masquerade with fully random source ports, as kube-proxy does, instead of keeping the
    /// client's port when it is free (the kernel's default). Off by default: keeping ports
    /// measured 1.07-1.13x the connection rate of random ones (docs/benchmarks.md, "Routed").
    /// Turn it on where many clients behind one node open connections to one backend at the
    /// same instant (two kept on one port collide in conntrack).
    #[arg(long)]
    pub masquerade_fully_random: bool,
    /// Interface the userspace proxy creates and owns for ClusterIPs (root only); `none` = leave
    /// addresses alone.
    #[arg(long, default_value = "switchyard0")]
    pub proxy_interface: String,
    /// Idle timeout of a UDP flow in the userspace proxy.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub udp_idle_timeout: Duration,
}

/// Node agent (prober) flags.
#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// Probe the Pods bound to this node (readiness, startup and liveness probes) and write
    /// their Ready condition, as a kubelet does; `false` leaves Pod status to whoever writes it.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub node_agent: bool,
    /// Probes running at once, across every Pod of the node.
    #[arg(long, default_value_t = 128,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65536))]
    pub max_probes_in_flight: usize,
    /// Pods of this node probed at most; more are left alone (logged).
    #[arg(long, default_value_t = 5000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_probed_pods: usize,
}

/// Proxy data path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProxyMode {
    /// tokio listeners, zero-copy splice.
    Userspace,
    /// Kernel rules through nftables verdict maps.
    Nftables,
    /// No proxy.
    None,
}

/// Load-balancing policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LbPolicy {
    /// Round-robin.
    RoundRobin,
    /// Uniform random.
    Random,
    /// Fewest active connections.
    LeastConnections,
}

/// Pod DNS records mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DnsPods {
    /// No pod records.
    Disabled,
    /// Any well-formed pod name answers its IP.
    Insecure,
    /// Only names of existing pods answer.
    Verified,
}

/// Flags of `switchyard apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Manifest file, directory, or `-` for stdin (repeatable).
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<String>,
    /// Namespace for objects that name none.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// How the server treats fields it does not know or that appear twice: `strict` refuses
    /// the object naming them, `warn` applies it and prints the server's warnings, `ignore`
    /// drops them silently (as kubectl's `--validate`).
    #[arg(long, value_enum, default_value_t = Validate::Strict)]
    pub validate: Validate,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Field validation asked of the server (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Validate {
    /// Refuse an object with unknown or repeated fields.
    #[value(alias = "true")]
    Strict,
    /// Apply it and print the server's warnings.
    Warn,
    /// Drop such fields silently.
    #[value(alias = "false")]
    Ignore,
}

impl Validate {
    /// The `fieldValidation` query value.
    pub fn query_value(self) -> &'static str {
        match self {
            Validate::Strict => "Strict",
            Validate::Warn => "Warn",
            Validate::Ignore => "Ignore",
        }
    }
}

/// Flags of `switchyard get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// Kind: services|svc, pods|po, endpoints|ep, endpointslices, nodes|no, namespaces|ns.
    pub kind: String,
    /// One object's name.
    pub name: Option<String>,
    /// Namespace.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// All namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Label selector (`app=web,tier in (a,b)`).
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<OutputFormat>,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// `get` output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// The table with extra columns.
    Wide,
    /// YAML.
    Yaml,
    /// JSON.
    Json,
    /// Names only (`service/web`).
    Name,
}

/// Flags of `switchyard delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kind.
    pub kind: String,
    /// Name(s).
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Namespace.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Succeed when the object does not exist.
    #[arg(long)]
    pub ignore_not_found: bool,
    /// What happens to the objects' dependents, as `kubectl delete --cascade`: `background`
    /// (deleted after the owner), `foreground` (deleted before it) or `orphan` (kept, without
    /// the owner reference).
    #[arg(long, value_enum, default_value_t = Cascade::Background)]
    pub cascade: Cascade,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// `switchyard delete --cascade`: the delete's `propagationPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Cascade {
    /// The owner goes now, the garbage collector deletes its dependents afterwards.
    Background,
    /// The dependents go first, then the owner.
    Foreground,
    /// The dependents stay, without their reference to the owner.
    Orphan,
}

impl Cascade {
    /// The `propagationPolicy` value.
    pub fn policy(self) -> &'static str {
        match self {
            Cascade::Background => "Background",
            Cascade::Foreground => "Foreground",
            Cascade::Orphan => "Orphan",
        }
    }
}

/// Flags of `switchyard dns`.
#[derive(Debug, Args)]
pub struct DnsOnlyArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// DNS listen address.
    #[arg(long, default_value = "127.0.0.1:5353")]
    pub dns_listen: SocketAddr,
    /// Address for `/metrics` and `/healthz`; `none` disables it.
    #[arg(long, default_value = "none", value_parser = parse_optional_addr)]
    pub metrics_listen: OptionalAddr,
    #[command(flatten)]
    pub dns: DnsArgs,
}

/// Flags of `switchyard proxy`.
#[derive(Debug, Args)]
pub struct ProxyOnlyArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Proxy data path.
    #[arg(long, value_enum, default_value_t = ProxyMode::Userspace)]
    pub mode: ProxyMode,
    /// Address for `/metrics` and `/healthz`; `none` disables it.
    #[arg(long, default_value = "127.0.0.1:10249", value_parser = parse_optional_addr)]
    pub metrics_listen: OptionalAddr,
    /// Pod network range(s) (for masquerade decisions in nftables mode).
    #[arg(long, default_value = "10.244.0.0/16", value_delimiter = ',')]
    pub cluster_cidr: Vec<ipnet::IpNet>,
    /// Service ClusterIP range(s) (nftables mode drops traffic to unallocated ClusterIPs).
    #[arg(long, default_value = "10.96.0.0/12", value_delimiter = ',')]
    pub service_cidr: Vec<ipnet::IpNet>,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub proxy: ProxyArgs,
}

/// Flags of `switchyard agent`.
#[derive(Debug, Args)]
pub struct AgentOnlyArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// This node's name: Pods with this `spec.nodeName` are probed (default: the host name).
    #[arg(long)]
    pub node_name: Option<String>,
    /// Address for `/metrics` and `/healthz`; `none` disables it.
    #[arg(long, default_value = "none", value_parser = parse_optional_addr)]
    pub metrics_listen: OptionalAddr,
    /// Probes running at once, across every Pod of the node.
    #[arg(long, default_value_t = 128,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65536))]
    pub max_probes_in_flight: usize,
    /// Pods of this node probed at most; more are left alone (logged).
    #[arg(long, default_value_t = 5000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_probed_pods: usize,
}

/// Flags of `switchyard cleanup`.
#[derive(Debug, Args)]
pub struct CleanupArgs {}

/// `--cluster-dns`: an address, or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterDns(pub Option<IpAddr>);

fn parse_controllers(
    text: &str,
) -> Result<control::controllers::enabled::EnabledControllers, String> {
    control::controllers::enabled::EnabledControllers::parse(text)
}

fn parse_cluster_dns(text: &str) -> Result<ClusterDns, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(ClusterDns(None));
    }
    text.parse()
        .map(|ip| ClusterDns(Some(ip)))
        .map_err(|e| format!("{text:?} is not an IP address like 10.96.0.10 or none: {e}"))
}

impl RunArgs {
    /// The kube-dns ClusterIP: `--cluster-dns`, or the tenth address of the first service
    /// CIDR; an address outside every service CIDR is an error naming the flag.
    pub fn cluster_dns_ip(&self) -> Result<Option<IpAddr>, String> {
        let ip = match self.cluster_dns {
            Some(ClusterDns(None)) => return Ok(None),
            Some(ClusterDns(Some(ip))) => ip,
            None => match self.service_cidr.first() {
                Some(cidr) => tenth(cidr).ok_or_else(|| {
                    format!("--service-cidr {cidr} has no tenth address for the cluster DNS; pass --cluster-dns")
                })?,
                None => return Ok(None),
            },
        };
        if !self.service_cidr.iter().any(|c| c.contains(&ip)) {
            return Err(format!(
                "--cluster-dns {ip}: not inside any --service-cidr ({})",
                self.service_cidr
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(Some(ip))
    }
}

/// The network address of `cidr` plus 10, when the CIDR has it.
fn tenth(cidr: &ipnet::IpNet) -> Option<IpAddr> {
    let ip = match cidr.network() {
        IpAddr::V4(v4) => IpAddr::from(u32::from(v4).checked_add(10)?.to_be_bytes()),
        IpAddr::V6(v6) => IpAddr::from(u128::from(v6).checked_add(10)?.to_be_bytes()),
    };
    cidr.contains(&ip).then_some(ip)
}

/// A socket address, or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalAddr(pub Option<SocketAddr>);

fn parse_optional_addr(text: &str) -> Result<OptionalAddr, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(OptionalAddr(None));
    }
    text.parse()
        .map(|a| OptionalAddr(Some(a)))
        .map_err(|e| format!("{text:?} is not an address like 127.0.0.1:5353 or none: {e}"))
}

fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let (a, b) = text
        .split_once('-')
        .ok_or_else(|| format!("{text:?} is not a range like 30000-32767"))?;
    let low: u16 = a.trim().parse().map_err(|e| format!("start {a:?}: {e}"))?;
    let high: u16 = b.trim().parse().map_err(|e| format!("end {b:?}: {e}"))?;
    if low == 0 || low > high {
        return Err(format!("{text:?}: start must be 1..=end"));
    }
    Ok((low, high))
}

/// Parses `500ms`, `1s`, `2m`, `1h` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|e| format!("duration {text:?}: {e}"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "duration {text:?}: unknown unit {other:?} (ms, s, m, h)"
            ));
        }
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("duration {text:?} must be zero or positive"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn port_ranges() {
        assert_eq!(parse_port_range("30000-32767"), Ok((30000, 32767)));
        assert!(parse_port_range("5-1").is_err());
        assert!(parse_port_range("0-10").is_err());
    }

    #[test]
    fn flags_parse() {
        Cli::command_debug_assert();
    }

    impl Cli {
        fn command_debug_assert() {
            use clap::CommandFactory;
            Cli::command().debug_assert();
        }
    }
}
