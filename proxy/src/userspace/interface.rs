//! The dummy interface (a port-less bridge where the kernel lacks dummy devices) switchyard owns for service addresses (e.g. `switchyard0`): created at
//! start, given each ClusterIP / externalIP as a /32 or /128 so the node accepts traffic for
//! them, and deleted (with every address) at shutdown. Uses the `ip` command. It never touches
//! any other interface.

use std::collections::BTreeSet;
use std::net::IpAddr;

use std::process::Stdio;

use tokio::process::Command;

use super::ProxyError;

/// A dummy interface this proxy created and the addresses it put on it.
#[derive(Debug)]
pub(crate) struct ManagedInterface {
    name: String,
    addrs: BTreeSet<IpAddr>,
}

/// Checks `name` is a usable interface name (1–15 bytes, no `/`, `:`, whitespace).
pub(crate) fn validate_name(name: &str) -> Result<(), ProxyError> {
    let reason = if name.is_empty() {
        Some("must not be empty")
    } else if name.len() > 15 {
        Some("must be at most 15 bytes")
    } else if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        Some("must not contain '/', ':' or whitespace")
    } else if name == "." || name == ".." {
        Some("must not be '.' or '..'")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ProxyError::Config {
            field: "manage_interface",
            reason: format!("{name:?} {reason}"),
        }),
        None => Ok(()),
    }
}

/// Runs `ip -force -batch -` with `script` on stdin (every line is tried, failures reported).
async fn ip_batch(script: &str) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    let mut child = Command::new("ip")
        .args(["-force", "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("running `ip -batch`: {err}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(|err| format!("writing to `ip -batch`: {err}"))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|err| format!("waiting for `ip -batch`: {err}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
}

/// Host addresses in `ip -o addr show` output (`… inet 10.96.0.1/32 …`).
fn parse_host_addrs(text: &str) -> BTreeSet<IpAddr> {
    parse_addrs(text)
        .filter(|(ip, prefix)| *prefix == if ip.is_ipv4() { 32 } else { 128 })
        .map(|(ip, _)| ip)
        .collect()
}

/// Every (address, prefix length) in `ip -o addr show` output.
fn parse_addrs(text: &str) -> impl Iterator<Item = (IpAddr, u8)> + '_ {
    text.lines().filter_map(|line| {
        let mut words = line.split_whitespace();
        words.find(|w| *w == "inet" || *w == "inet6")?;
        let (ip, prefix) = words.next()?.split_once('/')?;
        Some((ip.parse().ok()?, prefix.parse().ok()?))
    })
}

/// The addresses configured on this host (this network namespace), from `ip -o addr show`.
pub(crate) async fn local_addrs() -> Result<BTreeSet<IpAddr>, String> {
    let out = Command::new("ip")
        .args(["-o", "addr", "show"])
        .output()
        .await
        .map_err(|err| format!("running `ip addr show`: {err}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(parse_addrs(&String::from_utf8_lossy(&out.stdout))
        .map(|(ip, _)| ip)
        .collect())
}

async fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .await
        .map_err(|err| format!("running `ip {}`: {err}", args.join(" ")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

impl ManagedInterface {
    /// Creates the dummy interface `name` and brings it up. One left over from an earlier run
    /// (same name: switchyard owns it) is deleted first, so no stale address survives.
    pub(crate) async fn create(name: &str) -> Result<ManagedInterface, ProxyError> {
        validate_name(name)?;
        let fail = |reason: String| ProxyError::Interface {
            name: name.to_string(),
            reason,
        };
        if ip(&["link", "show", "dev", name]).await.is_ok() {
            tracing::info!(interface = name, "deleting leftover interface");
            ip(&["link", "del", "dev", name]).await.map_err(fail)?;
        }
        // A dummy device is the natural holder; kernels built without it still have bridges, and
        // a bridge without ports holds local addresses just as well.
        if let Err(dummy) = ip(&["link", "add", name, "type", "dummy"]).await {
            tracing::info!(interface = name, error = %dummy, "no dummy devices; using a bridge");
            ip(&["link", "add", name, "type", "bridge"])
                .await
                .map_err(|bridge| fail(format!("{dummy}; fallback: {bridge}")))?;
        }
        // No IPv6 link-local address: the interface only ever carries service addresses.
        if let Err(err) = ip(&["link", "set", "dev", name, "addrgenmode", "none"]).await {
            tracing::debug!(interface = name, error = %err, "addrgenmode none not supported");
        }
        ip(&["link", "set", "dev", name, "up"])
            .await
            .map_err(fail)?;
        Ok(ManagedInterface {
            name: name.to_string(),
            addrs: BTreeSet::new(),
        })
    }

    /// Makes the interface carry exactly `want`; returns how many addresses are still wrong
    /// afterwards (each logged). All changes go to one `ip -batch` process, so a large table
    /// costs one spawn, not one per address.
    pub(crate) async fn sync(&mut self, want: &BTreeSet<IpAddr>) -> u64 {
        let mut script = String::new();
        for addr in self.addrs.difference(want) {
            script.push_str(&format!(
                "addr del {} dev {}\n",
                host_cidr(*addr),
                self.name
            ));
        }
        for addr in want.difference(&self.addrs) {
            let nodad = if addr.is_ipv6() { " nodad" } else { "" };
            script.push_str(&format!(
                "addr replace {} dev {}{nodad}\n",
                host_cidr(*addr),
                self.name
            ));
        }
        if script.is_empty() {
            return 0;
        }
        match ip_batch(&script).await {
            Ok(()) => {
                self.addrs = want.clone();
                return 0;
            }
            Err(err) => tracing::warn!(interface = %self.name, error = %err,
                "some address changes failed; re-reading the interface"),
        }
        match self.read_addrs().await {
            Ok(actual) => self.addrs = actual,
            Err(err) => {
                tracing::warn!(interface = %self.name, error = %err, "reading addresses failed");
            }
        }
        self.addrs.symmetric_difference(want).count() as u64
    }

    /// The host addresses (/32, /128) the interface carries now.
    async fn read_addrs(&self) -> Result<BTreeSet<IpAddr>, String> {
        let out = Command::new("ip")
            .args(["-o", "addr", "show", "dev", &self.name])
            .output()
            .await
            .map_err(|err| format!("running `ip addr show`: {err}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(parse_host_addrs(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Deletes the interface and with it every address it carries.
    pub(crate) async fn remove(self) -> Result<(), ProxyError> {
        ip(&["link", "del", "dev", &self.name])
            .await
            .map_err(|reason| ProxyError::Interface {
                name: self.name.clone(),
                reason,
            })
    }
}

fn host_cidr(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => format!("{v4}/32"),
        IpAddr::V6(v6) => format!("{v6}/128"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_host_addresses() {
        let text = "7: sy0    inet 10.96.0.10/32 scope global sy0\\       valid_lft forever\n\
                    7: sy0    inet 10.0.0.1/24 scope global sy0\n\
                    7: sy0    inet6 fd00:96::10/128 scope global nodad \\       valid_lft forever\n";
        let got: Vec<String> = parse_host_addrs(text)
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(got, ["10.96.0.10", "fd00:96::10"]);
    }

    #[test]
    fn rejects_bad_names() {
        for bad in ["", "sixteen-chars-xx", "a b", "a/b", "a:b"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_name("switchyard0").is_ok());
    }
}
