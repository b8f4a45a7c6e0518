//! The processes of one scale run, laid out as on separate machines so CPU and memory are per
//! component: `switchyard run` (store, API and controllers; its proxy and DNS off) listening on
//! the host end of a veth pair, `switchyard proxy --mode nftables` inside a node network
//! namespace whose default route leads back over that veth, and `switchyard dns` on loopback.
//! Every process, the namespace and the veth go away on drop, even when the run fails.
//!
//! Nothing here measures; it starts, addresses and reads `/proc` of the parts.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use control::security::kubeconfig;

use crate::nft_area::netns::Netns;
use crate::peers::{Daemon, free_port};

/// The node every Pod runs on and the proxy serves.
pub const NODE: &str = "scale-node";
/// Pod addresses come from this range (`--cluster-cidr` of every part).
pub const CLUSTER_CIDR: &str = "10.128.0.0/12";
/// How long the API may take to listen and write its kubeconfig.
const START_WAIT: Duration = Duration::from_secs(60);

/// One run's processes and the node namespace.
#[derive(Debug)]
pub struct Cluster {
    /// `switchyard run`: store, API, controllers.
    pub control: Daemon,
    /// `switchyard proxy --mode nftables` in the node namespace.
    pub proxy: Daemon,
    /// `switchyard dns` on loopback.
    pub dns: Daemon,
    /// The API address (the host end of the veth).
    pub api: SocketAddr,
    /// The DNS server address.
    pub dns_addr: SocketAddr,
    /// The node's address (the namespace end of the veth).
    pub node_ip: Ipv4Addr,
    /// The data directory of `switchyard run`.
    pub data_dir: PathBuf,
    /// Held last so the processes above die before it is deleted.
    pub uplink: Uplink,
}

impl Cluster {
    /// Starts every part for run number `index` of this sybench process, logs in `dir`.
    pub fn start(ctx: &crate::Ctx, index: u8, dir: &Path) -> anyhow::Result<Cluster> {
        let uplink = Uplink::create("scale", index)?;
        let control = Control::start(ctx, &uplink, dir)?;
        let kc = kubeconfig::admin_path(&control.data_dir);
        let proxy = spawn_proxy(
            ctx,
            &uplink.ns,
            &kc,
            &[
                "--mode",
                "nftables",
                "--node-ip",
                &uplink.node_ip.to_string(),
                "--cluster-cidr",
                CLUSTER_CIDR,
            ],
            "proxy",
            dir,
        )?;
        let kc = kc.display().to_string();
        let dns_addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let dns_args = [
            "dns",
            "--kubeconfig",
            &kc,
            "--dns-listen",
            &dns_addr.to_string(),
            "--upstream",
            "127.0.0.1:9",
            "--metrics-listen",
            "none",
        ]
        .map(String::from);
        let dns = Daemon::spawn("dns", &ctx.server_cpus, &ctx.switchyard, &dns_args, dir)?;
        Ok(Cluster {
            control: control.daemon,
            proxy,
            dns,
            api: control.api,
            dns_addr,
            node_ip: uplink.node_ip,
            data_dir: control.data_dir,
            uplink,
        })
    }

    /// `https://<api>`.
    pub fn base(&self) -> String {
        format!("https://{}", self.api)
    }

    /// Fails with the log tail if any part has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        self.control.check_alive()?;
        self.proxy.check_alive()?;
        self.dns.check_alive()
    }

    /// CPU seconds and RSS bytes of (control, proxy, dns), in that order.
    pub fn usage(&self) -> anyhow::Result<[Usage; 3]> {
        Ok([
            Usage::of(self.control.pid())?,
            Usage::of(self.proxy.pid())?,
            Usage::of(self.dns.pid())?,
        ])
    }
}

/// `switchyard run --proxy-mode none --dns-listen none` (store, API, controllers) listening on
/// the host end of an [`Uplink`], pinned to the server CPUs.
#[derive(Debug)]
pub struct Control {
    /// The process.
    pub daemon: Daemon,
    /// The API address (the host end of the veth).
    pub api: SocketAddr,
    /// Its data directory (the admin kubeconfig, CA and token are in it).
    pub data_dir: PathBuf,
}

impl Control {
    /// Starts it with its data and log in `dir`; returns once the API listens and the admin
    /// kubeconfig is written (bounded).
    pub fn start(ctx: &crate::Ctx, uplink: &Uplink, dir: &Path) -> anyhow::Result<Control> {
        let data_dir = dir.join("data");
        let api = SocketAddr::from((uplink.host_ip, free_port()?));
        let args: Vec<String> = [
            "run",
            "--proxy-mode",
            "none",
            "--dns-listen",
            "none",
            "--metrics-listen",
            "none",
            "--cluster-cidr",
            CLUSTER_CIDR,
            "--node-name",
            NODE,
            // The bench writes the Pods' readiness itself; no prober may overwrite it.
            "--node-agent=false",
        ]
        .iter()
        .map(|s| (*s).to_string())
        .chain([
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--api-listen".into(),
            api.to_string(),
            "--tls-san".into(),
            uplink.host_ip.to_string(),
        ])
        .collect();
        let mut daemon = Daemon::spawn("control", &ctx.server_cpus, &ctx.switchyard, &args, dir)?;
        daemon.wait_tcp(api, START_WAIT)?;
        let kubeconfig = kubeconfig::admin_path(&data_dir);
        let started = Instant::now();
        while !kubeconfig.is_file() {
            daemon.check_alive()?;
            anyhow::ensure!(
                started.elapsed() < START_WAIT,
                "no {} within {START_WAIT:?}",
                kubeconfig.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(Control {
            daemon,
            api,
            data_dir,
        })
    }

    /// The admin kubeconfig other switchyard processes are pointed at.
    pub fn kubeconfig(&self) -> PathBuf {
        kubeconfig::admin_path(&self.data_dir)
    }
}

/// `switchyard proxy --kubeconfig <kubeconfig> --node-name NODE --metrics-listen none <args>`
/// inside `ns`, pinned to the server CPUs, log `<dir>/<name>.log`.
pub fn spawn_proxy(
    ctx: &crate::Ctx,
    ns: &Netns,
    kubeconfig: &Path,
    args: &[&str],
    name: &str,
    dir: &Path,
) -> anyhow::Result<Daemon> {
    let mut all = ns.prefix();
    all.extend(
        [
            ctx.switchyard.display().to_string().as_str(),
            "proxy",
            "--kubeconfig",
            &kubeconfig.display().to_string(),
            "--node-name",
            NODE,
            "--metrics-listen",
            "none",
        ]
        .map(String::from),
    );
    all.extend(args.iter().map(|s| (*s).to_string()));
    Daemon::spawn(name, &ctx.server_cpus, Path::new("ip"), &all, dir)
}

/// The node namespace and a veth pair from the host into it: host end `10.253.<k>.1/30`, node
/// end `.2/30`, default route in the namespace via the host end.
#[derive(Debug)]
pub struct Uplink {
    /// The node namespace.
    pub ns: Netns,
    host_link: String,
    /// The host end's address (the API listens here).
    pub host_ip: Ipv4Addr,
    /// The node end's address.
    pub node_ip: Ipv4Addr,
}

impl Uplink {
    /// Creates namespace `sybench-<tag><index>-<pid>` and its uplink; `index` keeps the
    /// addresses and interface names of the uplinks of one process apart (the scale area uses
    /// 0 and 1, the routed area 3; the addresses repeat every 4).
    pub fn create(tag: &str, index: u8) -> anyhow::Result<Uplink> {
        let ns = Netns::create(&format!("{tag}{index}"))?;
        let pid = std::process::id();
        // Interface names are at most 15 bytes: "sy" + h/n + index + pid (≤ 7 digits).
        let host_link = format!("syh{index}{pid}");
        let node_link = format!("syn{index}{pid}");
        // A /30 per (pid, index): 64 pids × 4 runs fit in 10.253.0.0/16 without colliding.
        let k = (pid % 64) * 4 + u32::from(index % 4);
        let base = u32::from(Ipv4Addr::new(10, 253, 0, 0)) + k * 4;
        let host_ip = Ipv4Addr::from(base + 1);
        let node_ip = Ipv4Addr::from(base + 2);
        host(&[
            "link", "add", &host_link, "type", "veth", "peer", "name", &node_link,
        ])?;
        let uplink = Uplink {
            ns,
            host_link,
            host_ip,
            node_ip,
        };
        let ns_name = uplink.ns.name().to_string();
        host(&["link", "set", &node_link, "netns", &ns_name])?;
        host(&[
            "addr",
            "add",
            &format!("{host_ip}/30"),
            "dev",
            &uplink.host_link,
        ])?;
        host(&["link", "set", &uplink.host_link, "up"])?;
        uplink.ns.exec(
            "ip",
            &["addr", "add", &format!("{node_ip}/30"), "dev", &node_link],
        )?;
        uplink.ns.exec("ip", &["link", "set", &node_link, "up"])?;
        uplink.ns.exec(
            "ip",
            &["route", "add", "default", "via", &host_ip.to_string()],
        )?;
        Ok(uplink)
    }
}

impl Drop for Uplink {
    fn drop(&mut self) {
        // Deleting the namespace takes the node end and with it the pair; this covers a pair
        // whose node end never moved.
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_link])
            .output();
    }
}

fn host(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    anyhow::ensure!(
        out.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// One process's CPU time and resident memory at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// User + system CPU seconds since the process started.
    pub cpu_s: f64,
    /// Resident set size in bytes.
    pub rss: u64,
}

impl Usage {
    /// Reads `/proc/<pid>/stat` (utime + stime) and `/proc/<pid>/status` (VmRSS).
    pub fn of(pid: u32) -> anyhow::Result<Usage> {
        let path = format!("/proc/{pid}/stat");
        let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        Ok(Usage {
            cpu_s: cpu_ticks(&stat).with_context(|| format!("parsing {path}"))? as f64
                / clock_ticks() as f64,
            rss: crate::peers::rss_bytes(pid)?,
        })
    }
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line; the command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its last `)`.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// `getconf CLK_TCK` (100 on Linux unless configured otherwise).
fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_count_fields_after_the_command_name() {
        let stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 \
                    8 0 12345 1000000 500 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(325));
        assert_eq!(cpu_ticks("4242 (x) S 1"), None);
    }

    #[test]
    fn usage_of_this_process_is_positive() -> anyhow::Result<()> {
        let u = Usage::of(std::process::id())?;
        assert!(u.rss > 0);
        assert!(u.cpu_s >= 0.0);
        Ok(())
    }
}
