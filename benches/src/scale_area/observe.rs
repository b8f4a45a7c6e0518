//! What the scale run watches, each observation stamped with the moment it reached sybench:
//! EndpointSlice watch events from the API, `nft monitor` lines from the node namespace, and
//! A-record sets from the DNS server on the wire.
//!
//! Observers only record; deciding which observation answers a change is [`super::change`]'s.

use std::collections::BTreeSet;
use std::io::BufRead as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use hickory_proto::op::Message;
use hickory_proto::rr::RData;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::dns_area::probe::{QType, encode_query};
use crate::nft_area::netns::Netns;

/// One EndpointSlice event: when it arrived, its Service and its endpoints (address, ready).
#[derive(Debug, Clone)]
pub struct SliceEvent {
    /// Arrival at sybench.
    pub at: Instant,
    /// `kubernetes.io/service-name`.
    pub service: String,
    /// Watch event type (`ADDED`, `MODIFIED`, `DELETED`).
    pub kind: String,
    /// Every endpoint address with its `conditions.ready` (absent counts as ready).
    pub endpoints: Vec<(Ipv4Addr, bool)>,
}

/// Parses one watch line into a [`SliceEvent`]; `None` for bookmarks and foreign lines.
pub fn slice_event(at: Instant, line: &[u8]) -> Option<SliceEvent> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let kind = v.get("type")?.as_str()?.to_string();
    let object = v.get("object")?;
    let service = object
        .pointer("/metadata/labels/kubernetes.io~1service-name")?
        .as_str()?
        .to_string();
    let mut endpoints = Vec::new();
    for ep in object
        .get("endpoints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let ready = ep
            .pointer("/conditions/ready")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        for a in ep
            .get("addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(ip) = a.as_str().and_then(|s| s.parse().ok()) {
                endpoints.push((ip, ready));
            }
        }
    }
    Some(SliceEvent {
        at,
        service,
        kind,
        endpoints,
    })
}

/// Streams EndpointSlice events of `namespace` from `resource_version` on into `tx` until the
/// watch ends, the receiver is gone, or a read error; then returns why.
pub async fn watch_slices(
    http: reqwest::Client,
    base: String,
    namespace: String,
    resource_version: String,
    tx: mpsc::UnboundedSender<SliceEvent>,
) -> anyhow::Result<()> {
    let url = format!(
        "{base}/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices?watch=true&resourceVersion={resource_version}&timeoutSeconds=3600"
    );
    let mut resp = http.get(&url).send().await.context("starting the watch")?;
    anyhow::ensure!(resp.status().is_success(), "watch: HTTP {}", resp.status());
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = resp.chunk().await.context("reading the watch")? {
        let at = Instant::now();
        buf.extend_from_slice(&chunk);
        while let Some(end) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            if let Some(event) = slice_event(at, &line)
                && tx.send(event).is_err()
            {
                return Ok(());
            }
        }
    }
    anyhow::bail!("the EndpointSlice watch ended")
}

/// `nft monitor` running in the node namespace (line-buffered through `stdbuf`), its lines
/// sent with their arrival time; killed on drop.
#[derive(Debug)]
pub struct NftMonitor {
    child: Child,
}

impl NftMonitor {
    /// Starts the monitor; lines go to `tx` until it exits.
    pub fn start(
        ns: &Netns,
        tx: mpsc::UnboundedSender<(Instant, String)>,
    ) -> anyhow::Result<NftMonitor> {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns.name(),
                "stdbuf",
                "-oL",
                "nft",
                "monitor",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting nft monitor")?;
        let stdout = child.stdout.take().context("nft monitor stdout")?;
        std::thread::spawn(move || {
            let reader = std::io::BufReader::new(stdout);
            for line in reader.lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Ok(NftMonitor { child })
    }
}

impl NftMonitor {
    /// Waits until the monitor is idle: `nft monitor` first reads the whole ruleset (tens of
    /// seconds of CPU at 10k services) and reports nothing of what happens meanwhile, so a
    /// change timed before then would be missed. Idle means its CPU time (`/proc/<pid>/stat`;
    /// `ip netns exec` and `stdbuf` exec into nft, so the child's pid is nft's) did not move
    /// over one second; bounded by `limit`. Lines so far are dropped.
    pub async fn wait_until_idle(
        &self,
        lines: &mut mpsc::UnboundedReceiver<(Instant, String)>,
        limit: Duration,
    ) -> anyhow::Result<()> {
        let path = format!("/proc/{}/stat", self.child.id());
        let deadline = tokio::time::Instant::now() + limit;
        let mut last = None;
        let mut still = 0;
        while still < 4 {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "nft monitor still busy after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
            let stat = std::fs::read_to_string(&path).context("nft monitor exited")?;
            let ticks = super::cluster::cpu_ticks(&stat);
            still = if ticks.is_some() && ticks == last {
                still + 1
            } else {
                0
            };
            last = ticks;
        }
        while lines.try_recv().is_ok() {}
        Ok(())
    }
}

impl Drop for NftMonitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `line` names `ip` as a whole address (`10.1.2.3` does not match `10.1.2.30`).
pub fn mentions(line: &str, ip: Ipv4Addr) -> bool {
    let needle = ip.to_string();
    line.match_indices(&needle).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + needle.len()..].chars().next();
        let part = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit() || c == '.');
        !part(before) && !part(after)
    })
}

/// One A query for `name` over UDP; the set of addresses answered (empty for NXDOMAIN or no
/// data).
pub async fn a_set(
    server: SocketAddr,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<BTreeSet<Ipv4Addr>> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let id = (Instant::now().elapsed().subsec_nanos() & 0xffff) as u16 ^ 0x3c3c;
    socket
        .send_to(&encode_query(id, name, QType::A)?, server)
        .await?;
    let mut buf = [0u8; 4096];
    let (n, _) = tokio::time::timeout(timeout, socket.recv_from(&mut buf))
        .await
        .context("no DNS reply")??;
    let msg = Message::from_vec(&buf[..n]).context("decoding the DNS reply")?;
    anyhow::ensure!(msg.metadata.id == id, "reply id does not match");
    Ok(msg
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_matches_whole_addresses_only() {
        let ip = Ipv4Addr::new(10, 128, 1, 2);
        assert!(mentions("delete element ip t m { 10.128.1.2 . 80 }", ip));
        assert!(mentions("10.128.1.2", ip));
        assert!(!mentions("add element ip t m { 10.128.1.23 }", ip));
        assert!(!mentions("add element ip t m { 110.128.1.2 }", ip));
    }

    #[test]
    fn a_watch_line_becomes_an_event_with_readiness() -> anyhow::Result<()> {
        let line = br#"{"type":"MODIFIED","object":{"metadata":{"labels":{"kubernetes.io/service-name":"svc-1"}},"endpoints":[{"addresses":["10.128.0.1"],"conditions":{"ready":false}},{"addresses":["10.128.0.2"]}]}}"#;
        let e = slice_event(Instant::now(), line).context("no event")?;
        assert_eq!(e.service, "svc-1");
        assert_eq!(e.kind, "MODIFIED");
        assert_eq!(
            e.endpoints,
            vec![
                (Ipv4Addr::new(10, 128, 0, 1), false),
                (Ipv4Addr::new(10, 128, 0, 2), true)
            ]
        );
        assert!(slice_event(Instant::now(), b"{\"type\":\"BOOKMARK\"}").is_none());
        Ok(())
    }
}
