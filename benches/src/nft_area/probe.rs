//! Connection set-up latency probe: `sybench nft-probe --target ADDR --count K` runs inside
//! the namespace (`ip netns exec`), connects K times in sequence and prints p50/p99 in ms as
//! JSON; the area spawns it and reads that line.
//!
//! Every path is probed from the same source address (`--source`), and every connection is
//! closed with a reset (`SO_LINGER` 0), leaving no TIME_WAIT behind: thousands of sequential
//! connects to one address otherwise fill the ephemeral port range with TIME_WAIT sockets,
//! and from roughly 8000 of them on, `connect` spends milliseconds searching for a free port.
//! That once made whichever path was probed later look slower (first "direct", then the
//! rules).

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::netns::Netns;
use crate::Ctx;

/// One connect from `source` (any address when `None`) to `target`.
fn connect(source: Option<IpAddr>, target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(target),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    if let Some(ip) = source {
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    socket.connect_timeout(&target.into(), Duration::from_secs(2))?;
    Ok(socket.into())
}

/// The probe itself (inside the namespace): K connects, returns the JSON line.
pub fn probe_main(
    target: SocketAddr,
    count: usize,
    source: Option<IpAddr>,
) -> anyhow::Result<String> {
    let mut lat = Vec::with_capacity(count);
    let mut errors = 0u64;
    for _ in 0..count {
        let t = Instant::now();
        match connect(source, target) {
            Ok(s) => {
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                // Reset instead of FIN: no TIME_WAIT. A failure only costs a TIME_WAIT.
                let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
                drop(s);
            }
            Err(_) => errors += 1,
        }
    }
    let s = crate::stats::sorted(&lat);
    let p = |q| crate::stats::percentile_sorted(&s, q).unwrap_or(f64::NAN);
    Ok(
        serde_json::json!({"p50": p(50.0), "p99": p(99.0), "errors": errors, "ok": lat.len()})
            .to_string(),
    )
}

/// Runs the probe in `ns` pinned to the client CPUs, connecting from `source`; returns
/// (p50, p99) ms.
pub fn run(
    ctx: &Ctx,
    ns: &Netns,
    source: IpAddr,
    target: SocketAddr,
    count: usize,
) -> anyhow::Result<(f64, f64)> {
    let exe = std::env::current_exe()?;
    let out = Command::new("taskset")
        .args(["-c", &ctx.client_cpus, "ip", "netns", "exec", ns.name()])
        .arg(exe)
        .args([
            "nft-probe",
            "--target",
            &target.to_string(),
            "--count",
            &count.to_string(),
            "--source",
            &source.to_string(),
        ])
        .output()
        .context("running the probe")?;
    anyhow::ensure!(
        out.status.success(),
        "probe failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("probe JSON")?;
    let errors = v
        .get("errors")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    anyhow::ensure!(
        errors == 0,
        "{errors} of {count} connects to {target} failed"
    );
    let f = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_f64)
            .context("probe JSON field")
    };
    Ok((f("p50")?, f("p99")?))
}

/// Waits until `target` accepts connections from inside `ns` (bounded).
pub fn wait_listening(
    ctx: &Ctx,
    ns: &Netns,
    source: IpAddr,
    target: SocketAddr,
) -> anyhow::Result<()> {
    let mut last = None;
    for _ in 0..50 {
        match run(ctx, ns, source, target, 1) {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no attempt")))
        .context(format!("{target} never accepted inside the namespace"))
}
