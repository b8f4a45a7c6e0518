//! The dummy interface (a port-less bridge where the kernel lacks dummy devices) switchyard owns for service addresses (e.g. `switchyard0`): created at
//! start, given each ClusterIP / externalIP as a /32 or /128 so the node accepts traffic for
//! them, and deleted (with every address) at shutdown. Uses the `ip` command. It never touches
//! any other interface.

use std::collections::BTreeSet;
use std::net::IpAddr;

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
        ip(&["link", "set", "dev", name, "up"])
            .await
            .map_err(fail)?;
        Ok(ManagedInterface {
            name: name.to_string(),
            addrs: BTreeSet::new(),
        })
    }

    /// Makes the interface carry exactly `want`; returns how many changes failed (each logged).
    pub(crate) async fn sync(&mut self, want: &BTreeSet<IpAddr>) -> u64 {
        let mut failures = 0;
        let stale: Vec<IpAddr> = self.addrs.difference(want).copied().collect();
        for addr in stale {
            let cidr = host_cidr(addr);
            match ip(&["addr", "del", &cidr, "dev", &self.name]).await {
                Ok(()) => {
                    self.addrs.remove(&addr);
                }
                Err(err) => {
                    failures += 1;
                    tracing::warn!(interface = %self.name, error = %err, "removing address failed");
                }
            }
        }
        let missing: Vec<IpAddr> = want.difference(&self.addrs).copied().collect();
        for addr in missing {
            let cidr = host_cidr(addr);
            let mut args = vec!["addr", "replace", &cidr, "dev", &self.name];
            if addr.is_ipv6() {
                args.push("nodad");
            }
            match ip(&args).await {
                Ok(()) => {
                    self.addrs.insert(addr);
                }
                Err(err) => {
                    failures += 1;
                    tracing::warn!(interface = %self.name, error = %err, "adding address failed");
                }
            }
        }
        failures
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
