//! The one seam between rule generation and the kernel: the [`Runner`] trait. [`NftRunner`]
//! applies a transaction as one atomic kernel transaction: through nf_tables netlink directly
//! when [`super::netlink`] can encode it (every transaction the syncs build), else by piping
//! it to `nft -f -`; optionally inside a network namespace. `FakeRunner` (in `fake.rs`) models
//! it in memory.
//!
//! Runners are blocking (they wait on a child process); async callers use `spawn_blocking`.
//! A runner only ever lists or changes switchyard's own tables.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::error::{Refusal, SyncError};
use super::netlink::{self, NetlinkSocket};
use std::collections::BTreeMap;

use super::transaction::{Family, TableId, Transaction};

/// Names of the objects that exist in one of switchyard's tables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Whether the table exists at all.
    pub table_exists: bool,
    /// Chain names.
    pub chains: Vec<String>,
    /// Set names.
    pub sets: Vec<String>,
    /// Map names.
    pub maps: Vec<String>,
}

/// Applies transactions to switchyard's tables and lists what they hold.
pub trait Runner: Send + Sync + std::fmt::Debug {
    /// Applies `tx` atomically: all of it or, on error, none of it.
    fn run(&self, tx: &Transaction) -> Result<(), SyncError>;
    /// Checks `tx` without applying it (`nft -c`).
    fn check(&self, tx: &Transaction) -> Result<(), SyncError>;
    /// Lists the chains, sets and maps of every switchyard table of `family` that exists (the
    /// main table and any shards, whatever the configured shard count).
    fn list(&self, family: Family) -> Result<BTreeMap<TableId, Listing>, SyncError>;
}

/// Runs transactions through netlink or the real `nft` binary.
#[derive(Debug, Clone, Default)]
pub struct NftRunner {
    netns: Option<String>,
    /// Whether transactions netlink can encode skip `nft`.
    netlink: bool,
    /// Opened on first use; `None` inside when it could not be (then `nft` does everything).
    socket: Arc<OnceLock<Option<NetlinkSocket>>>,
    /// Transactions applied through netlink so far.
    netlink_applied: Arc<AtomicU64>,
}

impl NftRunner {
    /// A runner for the current network namespace, or for the named one (`ip netns exec`).
    pub fn new(netns: Option<String>) -> NftRunner {
        NftRunner {
            netns,
            netlink: true,
            socket: Arc::default(),
            netlink_applied: Arc::default(),
        }
    }

    /// A runner that sends every transaction through `nft -f` (for comparisons).
    pub fn nft_only(netns: Option<String>) -> NftRunner {
        NftRunner {
            netlink: false,
            ..NftRunner::new(netns)
        }
    }

    /// How many transactions went through netlink instead of `nft` so far.
    pub fn netlink_transactions(&self) -> u64 {
        self.netlink_applied.load(Ordering::Relaxed)
    }

    fn socket(&self) -> Option<&NetlinkSocket> {
        self.socket
            .get_or_init(|| match NetlinkSocket::open(self.netns.as_deref()) {
                Ok(socket) => Some(socket),
                Err(err) => {
                    tracing::warn!(error = %err, "no nf_tables netlink socket; using nft for every sync");
                    None
                }
            })
            .as_ref()
    }

    /// Applies `tx` through netlink when it can be encoded; `None` when `nft` must do it.
    fn apply_netlink(&self, tx: &Transaction) -> Option<Result<(), SyncError>> {
        if !self.netlink {
            return None;
        }
        let socket = self.socket()?;
        match netlink::encode(tx, socket.next_seq()) {
            Ok(encoded) => {
                tracing::debug!(
                    ops = tx.len(),
                    messages = encoded.messages(),
                    "transaction goes through netlink"
                );
                let result = netlink::apply(socket, encoded);
                if result.is_ok() {
                    self.netlink_applied.fetch_add(1, Ordering::Relaxed);
                }
                Some(result)
            }
            Err(why) => {
                tracing::debug!(reason = %why, ops = tx.len(), "transaction goes through nft");
                None
            }
        }
    }

    /// `nft ARGS`, wrapped in `ip netns exec NAME` when a namespace is set.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns.as_str(), "nft"]);
                cmd
            }
            None => Command::new("nft"),
        };
        cmd.args(args);
        cmd
    }

    fn program(&self) -> String {
        match &self.netns {
            Some(ns) => format!("ip netns exec {ns} nft"),
            None => "nft".into(),
        }
    }

    /// Runs `nft ARGS` with `stdin` and returns stdout.
    fn exec(&self, args: &[&str], stdin: Option<&str>) -> Result<String, SyncError> {
        let spawn_error = |source| SyncError::Spawn {
            program: self.program(),
            source,
        };
        let mut child = self
            .command(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        // Feed stdin from another thread while this one drains stdout and stderr: a large
        // script that makes nft print a lot must not deadlock on full pipes.
        let writer = match (stdin, child.stdin.take()) {
            (Some(text), Some(mut pipe)) => {
                let text = text.to_owned();
                // Dropping the pipe at the end of the thread closes it: nft sees the end.
                Some(std::thread::spawn(move || pipe.write_all(text.as_bytes())))
            }
            _ => None,
        };
        let output = child.wait_with_output().map_err(spawn_error)?;
        if let Some(writer) = writer {
            let written = writer
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("stdin writer panicked")));
            // nft exiting early (it reads everything first, so only on a crash) closes the
            // pipe; its exit status below says more than the write error.
            if let Err(err) = written
                && output.status.success()
            {
                return Err(spawn_error(err));
            }
        }
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let message = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        Err(SyncError::Refused {
            kind: Refusal::classify(&message),
            message: if message.is_empty() {
                format!("{} exited with {}", self.program(), output.status)
            } else {
                message
            },
        })
    }

    fn apply(&self, tx: &Transaction, check_only: bool) -> Result<(), SyncError> {
        if let Some(err) = tx.error() {
            return Err(err.clone().into());
        }
        if tx.is_empty() {
            return Ok(());
        }
        let mut netlink_refused = None;
        if !check_only && let Some(result) = self.apply_netlink(tx) {
            match result {
                Ok(()) => return Ok(()),
                // The batch was all-or-nothing, so nothing was applied: nft, the reference
                // encoder, gets the same transaction and has the last word.
                Err(err) => {
                    tracing::warn!(error = %err, ops = tx.len(), "netlink batch failed; trying the same transaction with nft");
                    netlink_refused = Some(err);
                }
            }
        }
        let args: &[&str] = if check_only {
            &["-c", "-f", "-"]
        } else {
            &["-f", "-"]
        };
        let result = self.exec(args, Some(&tx.render())).map(drop);
        if let (Ok(()), Some(err)) = (&result, netlink_refused) {
            tracing::error!(error = %err, ops = tx.len(), "nft applied a transaction the netlink encoder got wrong; please report");
        }
        result
    }

    fn list_kind(&self, family: Family, kind: &str) -> Result<Vec<(TableId, String)>, SyncError> {
        let what = format!("{kind}s {family}");
        let out = self.exec(&["-j", "list", &format!("{kind}s"), family.as_str()], None)?;
        names_in_listing(&out, family, kind).map_err(|reason| SyncError::Listing { what, reason })
    }
}

/// The `kind` objects (`table`, `chain`, `set`, `map`) of switchyard's tables in `nft -j`
/// output, with the table each belongs to (tables: the table itself), sorted.
fn names_in_listing(
    json: &str,
    family: Family,
    kind: &str,
) -> Result<Vec<(TableId, String)>, String> {
    let doc: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let items = doc
        .get("nftables")
        .and_then(|v| v.as_array())
        .ok_or("no \"nftables\" array")?;
    // Tables name themselves; everything else names the table it lives in.
    let owner = if kind == "table" { "name" } else { "table" };
    let mut names: Vec<(TableId, String)> = items
        .iter()
        .filter_map(|item| item.get(kind))
        .filter_map(|obj| {
            let table = TableId::parse(family, obj.get(owner)?.as_str()?)?;
            Some((table, obj.get("name")?.as_str()?.to_owned()))
        })
        .collect();
    names.sort();
    Ok(names)
}

impl Runner for NftRunner {
    fn run(&self, tx: &Transaction) -> Result<(), SyncError> {
        self.apply(tx, false)
    }

    fn check(&self, tx: &Transaction) -> Result<(), SyncError> {
        self.apply(tx, true)
    }

    fn list(&self, family: Family) -> Result<BTreeMap<TableId, Listing>, SyncError> {
        let tables = self.exec(&["-j", "list", "tables", family.as_str()], None)?;
        let tables =
            names_in_listing(&tables, family, "table").map_err(|reason| SyncError::Listing {
                what: format!("tables {family}"),
                reason,
            })?;
        let mut listings: BTreeMap<TableId, Listing> = tables
            .into_iter()
            .map(|(table, _)| {
                let listing = Listing {
                    table_exists: true,
                    ..Listing::default()
                };
                (table, listing)
            })
            .collect();
        if listings.is_empty() {
            return Ok(listings);
        }
        for kind in ["chain", "set", "map"] {
            for (table, name) in self.list_kind(family, kind)? {
                let Some(listing) = listings.get_mut(&table) else {
                    continue;
                };
                match kind {
                    "chain" => listing.chains.push(name),
                    "set" => listing.sets.push(name),
                    _ => listing.maps.push(name),
                }
            }
        }
        Ok(listings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_keeps_only_our_tables() -> Result<(), String> {
        let json = r#"{"nftables":[{"metainfo":{"version":"1.0.6"}},
            {"chain":{"family":"ip","table":"switchyard-1","name":"services","handle":1}},
            {"chain":{"family":"ip","table":"filter","name":"INPUT","handle":2}},
            {"chain":{"family":"ip","table":"switchyard-01","name":"x","handle":4}},
            {"chain":{"family":"ip","table":"switchyardx","name":"y","handle":5}},
            {"chain":{"family":"ip","table":"switchyard","name":"masquerading","handle":3}}]}"#;
        let main = TableId::main(Family::Ip);
        let shard = TableId::shard(Family::Ip, 1);
        assert_eq!(
            names_in_listing(json, Family::Ip, "chain")?,
            [(main, "masquerading".into()), (shard, "services".into())]
        );
        assert!(names_in_listing("{}", Family::Ip, "chain").is_err());
        Ok(())
    }
}
