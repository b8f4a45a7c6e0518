//! autopath (issue #16): what a Pod's resolver pays per lookup with `ndots:5`, with and without
//! `--dns-autopath`, in questions sent and milliseconds.
//!
//! The client walks its search path as glibc does: a name with fewer than 5 dots is tried with
//! `default.svc.<zone>`, `svc.<zone>`, `<zone>` appended, then as written, stopping at the
//! first answer that has records (A questions only). The nameserver is `switchyard dns`
//! against the same `switchyard run` as the rest of the area, with `--dns-pods verified` and
//! an upstream, once with and once without `--dns-autopath`; the client is a Pod of `default`
//! because a Pod object there holds its address (127.0.0.1). The upstream is dnsmasq, answering
//! `example.org` names itself (nothing leaves the machine).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use super::probe::{self, QType};
use super::{NAMESPACE, ZONE, daemon};
use crate::Ctx;
use crate::peers::{Daemon, find_program, free_port};
use crate::results::{Better, Row, Section, Series};

/// The names looked up: same namespace, another namespace, outside the cluster.
const LOOKUPS: [(&str, &str); 3] = [
    ("web", "a Service of the Pod's namespace (`web`)"),
    ("web.other", "a Service of another namespace (`web.other`)"),
    (
        "www.example.org",
        "a name outside the cluster (`www.example.org`)",
    ),
];

/// What one lookup cost.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cost {
    questions: u32,
    found: bool,
}

/// The names a glibc resolver with `ndots:5` and a Pod's search path of `default` asks for
/// `name`, in order.
fn walk(name: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let dots = name.matches('.').count();
    if dots >= 5 {
        names.push(name.to_string());
    }
    for domain in [
        format!("{NAMESPACE}.svc.{ZONE}"),
        format!("svc.{ZONE}"),
        ZONE.to_string(),
    ] {
        names.push(format!("{name}.{domain}"));
    }
    if dots < 5 {
        names.push(name.to_string());
    }
    names
}

/// One lookup of `name` against `server`, walking the search path.
fn lookup(server: SocketAddr, name: &str) -> anyhow::Result<Cost> {
    let mut questions = 0;
    for candidate in walk(name) {
        questions += 1;
        let reply = probe::query(server, &candidate, QType::A, Duration::from_secs(2))?;
        if reply.rcode == 0 && reply.answers > 0 {
            return Ok(Cost {
                questions,
                found: true,
            });
        }
    }
    Ok(Cost {
        questions,
        found: false,
    })
}

/// The objects the lookups need: `web` in `default` and in `other`, and the Pod that makes
/// 127.0.0.1 a Pod of `default` (bound to a node that runs nothing, so nothing probes or moves
/// it).
async fn objects(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let post = |path: String, body: serde_json::Value| {
        let http = http.clone();
        async move {
            let resp = http.post(path).json(&body).send().await?;
            let status = resp.status();
            anyhow::ensure!(
                status.is_success() || status.as_u16() == 409,
                "HTTP {status}: {}",
                resp.text().await.unwrap_or_default()
            );
            anyhow::Ok(())
        }
    };
    post(
        format!("{base}/api/v1/namespaces"),
        json!({"metadata": {"name": "other"}}),
    )
    .await?;
    for ns in [NAMESPACE, "other"] {
        post(
            format!("{base}/api/v1/namespaces/{ns}/services"),
            json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}),
        )
        .await?;
    }
    post(
        format!("{base}/api/v1/namespaces/{NAMESPACE}/pods"),
        json!({
            "metadata": {"name": "autopath-client"},
            "spec": {"nodeName": "autopath-bench-node",
                     "containers": [{"name": "c", "image": "client"}]},
            "status": {"podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]},
        }),
    )
    .await
}

/// dnsmasq on a free loopback port answering every `example.org` name with 192.0.2.80.
fn upstream(ctx: &Ctx, dir: &Path) -> anyhow::Result<(Daemon, SocketAddr)> {
    let program = find_program("dnsmasq")?;
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let args: Vec<String> = [
        "-k",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        "--listen-address=127.0.0.1",
        "--address=/example.org/192.0.2.80",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .chain([format!("--port={}", addr.port())])
    .collect();
    let daemon = Daemon::spawn("autopath-upstream", &ctx.server_cpus, &program, &args, dir)?;
    probe::wait_for_answer(addr, "www.example.org", QType::A, Duration::from_secs(10))
        .context("the dnsmasq upstream never answered")?;
    Ok((daemon, addr))
}

/// Per lookup kind: (questions per lookup, ms per lookup) samples, one per repetition.
type Figures = Vec<(Vec<f64>, Vec<f64>)>;

fn measure(server: SocketAddr, lookups: usize, reps: usize) -> anyhow::Result<Figures> {
    let mut out = Vec::new();
    for (name, _) in LOOKUPS {
        let cost = lookup(server, name)?;
        anyhow::ensure!(cost.found, "{name} was not found through {server}");
        let (mut questions, mut ms) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            let started = Instant::now();
            let mut asked = 0u64;
            for _ in 0..lookups {
                let cost = lookup(server, name)?;
                anyhow::ensure!(cost.found, "{name} was not found through {server}");
                asked += u64::from(cost.questions);
            }
            let elapsed = started.elapsed().as_secs_f64() * 1e3;
            questions.push(asked as f64 / lookups as f64);
            ms.push(elapsed / lookups as f64);
        }
        out.push((questions, ms));
    }
    Ok(out)
}

/// Runs the autopath section against the `switchyard run` at `base` (admin `kubeconfig`).
pub fn section(
    ctx: &Ctx,
    rt: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    base: &str,
    kubeconfig: &Path,
    dir: &Path,
) -> Section {
    let lookups = ctx.mode.pick(100, 1000, 3000);
    let reps = ctx.mode.reps();
    let method = format!(
        "A client on 127.0.0.1 resolves each name {lookups} times per repetition ({reps} \
         repetitions), walking its search path as glibc does with `options ndots:5` and \
         `search {NAMESPACE}.svc.{ZONE} svc.{ZONE} {ZONE}`: each expansion in turn, then the \
         name as written, stopping at the first answer with records (A questions over UDP, \
         one at a time). A Pod object in `{NAMESPACE}` holds 127.0.0.1, so the client is that \
         Pod. Nameserver: `switchyard dns --dns-pods verified --upstream <dnsmasq> \
         --dns-allow-recursion 127.0.0.0/8`, with `--dns-autopath` (subject) and without \
         (reference), each its own process against the same `switchyard run`; upstream: \
         dnsmasq on loopback answering `example.org` names itself. Questions per lookup are \
         counted by the client; ms per lookup is wall time over the repetition, upstream \
         answers served from switchyard's cache after the first."
    );
    let result = (|| -> anyhow::Result<(Figures, Figures)> {
        rt.block_on(objects(http, base))?;
        let (_upstream, upstream_addr) = upstream(ctx, dir)?;
        let common = vec![
            "--dns-pods".to_string(),
            "verified".into(),
            "--upstream".into(),
            upstream_addr.to_string(),
            "--dns-allow-recursion".into(),
            "127.0.0.0/8".into(),
        ];
        let mut with = common.clone();
        with.push("--dns-autopath".into());
        let plain = daemon::start_with(ctx, kubeconfig, dir, "switchyard-dns-plain", &common)?;
        let auto = daemon::start_with(ctx, kubeconfig, dir, "switchyard-dns-autopath", &with)?;
        let subject = measure(auto.addr, lookups, reps)?;
        let reference = measure(plain.addr, lookups, reps)?;
        Ok((subject, reference))
    })();
    let mut rows = Vec::new();
    match result {
        Ok((subject, reference)) => {
            for (i, (_, case)) in LOOKUPS.iter().enumerate() {
                let (Some(s), Some(r)) = (subject.get(i), reference.get(i)) else {
                    continue;
                };
                rows.push(Row {
                    case: (*case).to_string(),
                    metric: "questions per lookup".into(),
                    better: Better::Lower,
                    subject: Series::measured("switchyard --dns-autopath", &s.0),
                    references: vec![Series::measured("switchyard, no autopath", &r.0)],
                });
                rows.push(Row {
                    case: (*case).to_string(),
                    metric: "ms per lookup".into(),
                    better: Better::Lower,
                    subject: Series::measured("switchyard --dns-autopath", &s.1),
                    references: vec![Series::measured("switchyard, no autopath", &r.1)],
                });
            }
        }
        Err(e) => {
            for (_, case) in LOOKUPS {
                rows.push(Row {
                    case: case.to_string(),
                    metric: "questions per lookup".into(),
                    better: Better::Lower,
                    subject: Series::failed("switchyard --dns-autopath", format!("{e:#}")),
                    references: vec![],
                });
            }
        }
    }
    Section {
        title: "autopath: a Pod's search-path walk (ndots:5)".into(),
        method,
        rows,
        notes: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_walk_the_search_path_before_standing_alone() {
        assert_eq!(
            walk("web.other"),
            [
                "web.other.default.svc.cluster.local",
                "web.other.svc.cluster.local",
                "web.other.cluster.local",
                "web.other",
            ]
        );
        assert_eq!(walk("a.b.c.d.e.f")[0], "a.b.c.d.e.f");
    }
}
