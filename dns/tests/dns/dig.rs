//! The same records as seen by `dig` (Debian dnsutils), over UDP and TCP.

use std::net::SocketAddr;

use crate::support::{Error, TestResult, config, fixture, start};

/// Runs dig against `addr` with `args`; `None` when dig is not installed.
pub(crate) async fn dig(addr: SocketAddr, args: &[&str]) -> Result<Option<String>, Error> {
    let port = addr.port().to_string();
    let server = format!("@{}", addr.ip());
    let mut command = tokio::process::Command::new("dig");
    command
        .args([server.as_str(), "-p", port.as_str(), "+time=3", "+tries=1"])
        .args(args);
    let output = match command.output().await {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(Some(String::from_utf8(output.stdout)?))
}

#[tokio::test]
async fn dig_sees_the_cluster_records() -> TestResult {
    let running = start(fixture()?, config()).await?;
    let addr = running.addr();
    let Some(a) = dig(addr, &["+short", "web.default.svc.cluster.local", "A"]).await? else {
        if std::env::var_os("CI").is_some() {
            return Err("dig is not installed (apt-get install dnsutils)".into());
        }
        eprintln!("skipping: dig is not installed (apt-get install dnsutils)");
        return Ok(());
    };
    assert_eq!(a.trim(), "10.96.0.10");
    let srv = dig(
        addr,
        &[
            "+tcp",
            "+short",
            "_http._tcp.web.default.svc.cluster.local",
            "SRV",
        ],
    )
    .await?;
    assert_eq!(
        srv.as_deref().map(str::trim),
        Some("0 100 80 web.default.svc.cluster.local.")
    );
    let ptr = dig(addr, &["+short", "-x", "10.0.0.1"]).await?;
    assert_eq!(
        ptr.as_deref().map(str::trim),
        Some("db-0.db.default.svc.cluster.local.")
    );
    let aaaa = dig(addr, &["+short", "dual.default.svc.cluster.local", "AAAA"]).await?;
    assert_eq!(aaaa.as_deref().map(str::trim), Some("fd00::20"));
    let version = dig(addr, &["+short", "dns-version.cluster.local", "TXT"]).await?;
    assert_eq!(version.as_deref().map(str::trim), Some("\"1.1.0\""));
    let nx = dig(addr, &["nope.default.svc.cluster.local", "A"])
        .await?
        .unwrap_or_default();
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");
    assert!(nx.contains("flags: qr aa rd"), "{nx}");
    assert!(nx.contains("AUTHORITY: 1"), "{nx}");
    let nodata = dig(addr, &["+tcp", "web.default.svc.cluster.local", "AAAA"])
        .await?
        .unwrap_or_default();
    assert!(
        nodata.contains("status: NOERROR") && nodata.contains("ANSWER: 0"),
        "{nodata}"
    );
    let axfr = dig(addr, &["cluster.local", "AXFR"])
        .await?
        .unwrap_or_default();
    assert!(axfr.contains("Transfer failed"), "{axfr}");
    running.server.shutdown().await;
    Ok(())
}
