//! dnsmasq, unbound and knot as the DNS references, each serving IDENTICAL records generated
//! from one list of services: `<svc>.<ns>.svc.<zone>` A, `_<port>._tcp.<svc>...` SRV and the
//! reverse PTR of each ClusterIP, TTL 5, NXDOMAIN for anything else in the zone. Config
//! generation is pure (unit-tested); `start_*` writes it to a temp dir and runs the daemon in the
//! foreground on loopback with one worker.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use anyhow::Context;

use super::{Daemon, find_program, free_port};

/// One ClusterIP service as DNS sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    /// Service name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// ClusterIP.
    pub ip: Ipv4Addr,
    /// Named TCP port (for SRV).
    pub port_name: String,
    /// Port number.
    pub port: u16,
}

/// Record TTL every server uses (switchyard's default `--dns-ttl`).
pub const TTL: u32 = 5;

impl ServiceRecord {
    /// `<name>.<ns>.svc.<zone>` without the trailing dot.
    pub fn fqdn(&self, zone: &str) -> String {
        format!("{}.{}.svc.{zone}", self.name, self.namespace)
    }

    /// `_<port>._tcp.<fqdn>`.
    pub fn srv_name(&self, zone: &str) -> String {
        format!("_{}._tcp.{}", self.port_name, self.fqdn(zone))
    }
}

/// `d.c.b.a.in-addr.arpa` for `a.b.c.d`.
pub fn reverse_name(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("{d}.{c}.{b}.{a}.in-addr.arpa")
}

/// dnsmasq configuration (without the listen options, which go on the command line).
pub fn dnsmasq_config(records: &[ServiceRecord], zone: &str) -> String {
    let mut out = format!("local=/{zone}/\nlocal=/in-addr.arpa/\nlocal-ttl={TTL}\n");
    for r in records {
        // host-record gives the A record and its PTR.
        let _ = writeln!(out, "host-record={},{}", r.fqdn(zone), r.ip);
        let _ = writeln!(
            out,
            "srv-host={},{},{},0,100",
            r.srv_name(zone),
            r.fqdn(zone),
            r.port
        );
    }
    out
}

/// unbound configuration serving the records from `local-data`.
pub fn unbound_config(records: &[ServiceRecord], zone: &str, port: u16, dir: &Path) -> String {
    let mut out = format!(
        "server:\n  interface: 127.0.0.1\n  port: {port}\n  num-threads: 1\n  do-daemonize: no\n  \
         chroot: \"\"\n  username: \"\"\n  use-syslog: no\n  logfile: \"\"\n  pidfile: \"\"\n  \
         directory: \"{}\"\n  access-control: 127.0.0.0/8 allow\n  module-config: \"iterator\"\n  \
         do-ip6: no\n  local-zone: \"{zone}.\" static\n",
        dir.display()
    );
    for r in records {
        let fqdn = r.fqdn(zone);
        let _ = writeln!(out, "  local-data: \"{fqdn}. {TTL} IN A {}\"", r.ip);
        let _ = writeln!(
            out,
            "  local-data: \"{}. {TTL} IN SRV 0 100 {} {fqdn}.\"",
            r.srv_name(zone),
            r.port
        );
        let _ = writeln!(out, "  local-data-ptr: \"{} {TTL} {fqdn}.\"", r.ip);
    }
    out.push_str("remote-control:\n  control-enable: no\n");
    out
}

/// knot zone files: (`<zone>` forward zone, `10.in-addr.arpa` reverse zone).
pub fn knot_zones(records: &[ServiceRecord], zone: &str) -> (String, String) {
    let soa = |origin: &str| {
        format!(
            "$ORIGIN {origin}.\n$TTL {TTL}\n@ {TTL} IN SOA ns.dns.{zone}. hostmaster.{zone}. 1 7200 1800 86400 {TTL}\n@ {TTL} IN NS ns.dns.{zone}.\n"
        )
    };
    let mut fwd = soa(zone);
    let _ = writeln!(fwd, "ns.dns.{zone}. {TTL} IN A 127.0.0.1");
    let mut rev = soa("10.in-addr.arpa");
    for r in records {
        let fqdn = r.fqdn(zone);
        let _ = writeln!(fwd, "{fqdn}. {TTL} IN A {}", r.ip);
        let _ = writeln!(
            fwd,
            "{}. {TTL} IN SRV 0 100 {} {fqdn}.",
            r.srv_name(zone),
            r.port
        );
        let _ = writeln!(rev, "{}. {TTL} IN PTR {fqdn}.", reverse_name(r.ip));
    }
    (fwd, rev)
}

/// knot configuration for the two zones in `dir`.
pub fn knot_config(zone: &str, port: u16, dir: &Path) -> String {
    let d = dir.display();
    format!(
        "server:\n    rundir: \"{d}\"\n    listen: 127.0.0.1@{port}\n    udp-workers: 1\n    \
         tcp-workers: 1\n    background-workers: 1\ndatabase:\n    storage: \"{d}\"\nlog:\n  - \
         target: stderr\n    any: warning\ntemplate:\n  - id: default\n    storage: \"{d}\"\n    \
         journal-content: none\n    zonefile-sync: -1\nzone:\n  - domain: {zone}\n    file: \
         \"forward.zone\"\n  - domain: 10.in-addr.arpa\n    file: \"reverse.zone\"\n"
    )
}

/// A running peer DNS server.
#[derive(Debug)]
pub struct DnsPeer {
    /// The process.
    pub daemon: Daemon,
    /// UDP/TCP address.
    pub addr: SocketAddr,
}

/// Which peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// dnsmasq (`host-record`, `srv-host`).
    Dnsmasq,
    /// unbound (`local-data`).
    Unbound,
    /// knot (authoritative zone files).
    Knot,
}

impl PeerKind {
    /// Every peer.
    pub const ALL: [PeerKind; 3] = [PeerKind::Dnsmasq, PeerKind::Unbound, PeerKind::Knot];

    /// Program name.
    pub fn program(self) -> &'static str {
        match self {
            PeerKind::Dnsmasq => "dnsmasq",
            PeerKind::Unbound => "unbound",
            PeerKind::Knot => "knotd",
        }
    }

    /// Name and version for tables.
    pub fn version(self) -> String {
        let Ok(path) = find_program(self.program()) else {
            return format!("{} (not installed)", self.program());
        };
        let path = path.to_string_lossy();
        let line = match self {
            PeerKind::Dnsmasq => crate::run_info::tool_version(&path, &["--version"]),
            PeerKind::Unbound => crate::run_info::tool_version(&path, &["-V"]),
            PeerKind::Knot => crate::run_info::tool_version(&path, &["--version"]),
        };
        line.split_whitespace()
            .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
            .map_or_else(
                || self.program().to_string(),
                |v| format!("{} {v}", self.program()),
            )
    }
}

/// Starts `kind` serving `records` (config in `dir`), pinned to `cpus`.
pub fn start(
    kind: PeerKind,
    records: &[ServiceRecord],
    zone: &str,
    cpus: &str,
    dir: &Path,
) -> anyhow::Result<DnsPeer> {
    let program = find_program(kind.program())?;
    let port = free_port()?;
    let dir = dir.join(kind.program());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        anyhow::Ok(p)
    };
    let args: Vec<String> = match kind {
        PeerKind::Dnsmasq => {
            let conf = write("dnsmasq.conf", &dnsmasq_config(records, zone))?;
            vec![
                "--keep-in-foreground".into(),
                format!("--conf-file={}", conf.display()),
                format!("--port={port}"),
                "--listen-address=127.0.0.1".into(),
                "--bind-interfaces".into(),
                "--no-resolv".into(),
                "--no-hosts".into(),
                "--pid-file=".into(),
                "--user=root".into(),
            ]
        }
        PeerKind::Unbound => {
            let conf = write("unbound.conf", &unbound_config(records, zone, port, &dir))?;
            vec!["-d".into(), "-c".into(), conf.display().to_string()]
        }
        PeerKind::Knot => {
            let (fwd, rev) = knot_zones(records, zone);
            write("forward.zone", &fwd)?;
            write("reverse.zone", &rev)?;
            let conf = write("knot.conf", &knot_config(zone, port, &dir))?;
            vec!["-c".into(), conf.display().to_string()]
        }
    };
    let daemon = Daemon::spawn(kind.program(), cpus, &program, &args, &dir)?;
    Ok(DnsPeer {
        daemon,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> Vec<ServiceRecord> {
        vec![ServiceRecord {
            name: "web".into(),
            namespace: "default".into(),
            ip: Ipv4Addr::new(10, 96, 3, 7),
            port_name: "http".into(),
            port: 80,
        }]
    }

    #[test]
    fn every_peer_gets_the_same_three_records() {
        let r = records();
        let dnsmasq = dnsmasq_config(&r, "cluster.local");
        assert!(dnsmasq.contains("host-record=web.default.svc.cluster.local,10.96.3.7"));
        assert!(dnsmasq.contains(
            "srv-host=_http._tcp.web.default.svc.cluster.local,web.default.svc.cluster.local,80,0,100"
        ));
        let unbound = unbound_config(&r, "cluster.local", 5300, Path::new("/tmp/x"));
        assert!(unbound.contains("\"web.default.svc.cluster.local. 5 IN A 10.96.3.7\""));
        assert!(unbound.contains("SRV 0 100 80 web.default.svc.cluster.local."));
        assert!(unbound.contains("local-data-ptr: \"10.96.3.7 5 web.default.svc.cluster.local.\""));
        assert!(unbound.contains("port: 5300"));
        let (fwd, rev) = knot_zones(&r, "cluster.local");
        assert!(fwd.contains("web.default.svc.cluster.local. 5 IN A 10.96.3.7"));
        assert!(fwd.contains("IN SOA"));
        assert!(rev.contains("7.3.96.10.in-addr.arpa. 5 IN PTR web.default.svc.cluster.local."));
    }

    #[test]
    fn reverse_names_reverse_octets() {
        assert_eq!(
            reverse_name(Ipv4Addr::new(10, 96, 0, 1)),
            "1.0.96.10.in-addr.arpa"
        );
    }
}
