//! Turns a new [`ServiceTable`] into the smallest transaction that moves the kernel from what
//! was last applied to what is desired, and runs it.
//!
//! - Full sync (at start, after a failed transaction, on demand): lists what the tables hold,
//!   then in one transaction adds every object (adding an existing one is a no-op), flushes and
//!   rewrites every chain and static map, and flushes whatever is left over. Nothing is deleted
//!   or flushed wholesale first, so a restarted proxy adopts its old tables and established
//!   connections (conntrack) never see a gap. Dynamic affinity sets are kept, not flushed.
//! - Partial sync (`partial.rs`): only the service ports whose generated rules changed are
//!   looked at; their changed chains are flushed and rewritten and their map elements moved,
//!   so the work follows the size of the change, not the number of services.
//! - Stale chains and sets are flushed in one sync and deleted in the next, when nothing can
//!   refer to them any more.
//!
//! This module never decides when to sync (that is `proxy.rs`) and never builds rules.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::model::ServiceTable;

mod partial;

use super::ast::{DataType, KeyType, ValueType};
use super::conntrack::{self, StaleFlow};
use super::error::SyncError;
use super::rules::{Claims, RuleBuilder, RuleConfig, TableRules};
use super::runner::{Listing, Runner};
use super::transaction::{Family, Object, SetSpec, TableId, Transaction, Verb};

/// Objects flushed by the previous sync and due for deletion.
#[derive(Debug, Clone, Default)]
struct Stale {
    chains: BTreeSet<String>,
    /// Sets and maps, with the spec needed to name the keyword.
    sets: BTreeMap<String, SetSpec>,
}

/// What one sync did.
#[derive(Debug, Clone, Default)]
pub struct SyncOutcome {
    /// Whether it was a full sync.
    pub full: bool,
    /// Number of operations in the transaction (0: nothing changed, nothing was run).
    pub ops: usize,
    /// UDP flows to endpoints that went away, to delete from conntrack.
    pub stale_flows: Vec<StaleFlow>,
}

/// Keeps what was applied and computes and runs the next transaction.
#[derive(Debug, Clone)]
pub struct Syncer {
    runner: Arc<dyn Runner>,
    builder: RuleBuilder,
    /// Whether the kernel holds what the builder's cache describes (false: next sync is full).
    in_sync: bool,
    /// Who claims which element of the shared sets and maps, per family.
    claims: BTreeMap<Family, Claims>,
    stale: BTreeMap<TableId, Stale>,
    /// The table last applied; `None` before the first success (a restarted proxy does not
    /// know what changed while it was down, and must not drop live UDP flows on a guess).
    last_table: Option<ServiceTable>,
}

impl Syncer {
    /// A syncer whose first sync is a full one.
    pub fn new(config: RuleConfig, runner: Arc<dyn Runner>) -> Syncer {
        Syncer {
            runner,
            builder: RuleBuilder::new(config),
            in_sync: false,
            claims: BTreeMap::new(),
            stale: BTreeMap::new(),
            last_table: None,
        }
    }

    /// Makes the next sync a full one.
    pub fn request_full(&mut self) {
        self.in_sync = false;
    }

    /// Whether the last sync flushed objects that the next sync will delete.
    pub fn has_pending_deletes(&self) -> bool {
        self.stale
            .values()
            .any(|s| !s.chains.is_empty() || !s.sets.is_empty())
    }

    /// Whether the next sync will be a full one.
    pub fn needs_full(&self) -> bool {
        !self.in_sync
    }

    /// Computes the transaction for `table` without running it or changing any state.
    pub fn plan(&self, table: &ServiceTable) -> Result<Transaction, SyncError> {
        Ok(self.clone().plan_inner(table)?.0)
    }

    /// Updates the builder and claims for `table` and computes the transaction.
    fn plan_inner(
        &mut self,
        table: &ServiceTable,
    ) -> Result<(Transaction, BTreeMap<TableId, Stale>), SyncError> {
        let changes = self.builder.update(table);
        let mut tx = Transaction::new();
        let mut next_stale = BTreeMap::new();
        if self.in_sync {
            let all = self.builder.config().tables();
            for family in Family::ALL {
                let tables: Vec<TableId> =
                    all.iter().copied().filter(|t| t.family == family).collect();
                let claims = self.claims.entry(family).or_default();
                let mut moves = partial::element_moves(&tables, &changes, claims);
                for id in tables {
                    let due = self.stale.get(&id).cloned().unwrap_or_default();
                    let moves = moves.remove(&id).unwrap_or_default();
                    let stale = partial::table(&mut tx, id, &changes, &moves, &due);
                    next_stale.insert(id, stale);
                }
            }
            return Ok((tx, next_stale));
        }
        let desired = self.builder.assemble(table);
        self.claims = self.builder.claims(table);
        for family in Family::ALL {
            let mut listings = self.runner.list(family)?;
            for (id, want) in desired.tables.iter().filter(|(id, _)| id.family == family) {
                let listing = listings.remove(id).unwrap_or_default();
                let stale = full_table(&mut tx, *id, &listing, want);
                next_stale.insert(*id, stale);
            }
            // Shards of an earlier, larger shard count: their services moved in this same
            // transaction, so the whole table goes at once.
            for id in listings.into_keys() {
                tx.push(Verb::Delete, Object::Table { table: id });
            }
        }
        Ok((tx, next_stale))
    }

    /// Brings the kernel to the state `table` asks for, in one transaction.
    pub fn sync(&mut self, table: &ServiceTable) -> Result<SyncOutcome, SyncError> {
        let full = self.needs_full();
        let planned = self.plan_inner(table);
        let (tx, stale) = match planned {
            Ok(planned) => planned,
            Err(err) => {
                self.in_sync = false;
                return Err(err);
            }
        };
        if !tx.is_empty()
            && let Err(err) = self.runner.run(&tx)
        {
            self.in_sync = false;
            self.stale.clear();
            return Err(err);
        }
        self.in_sync = true;
        self.stale = stale;
        let stale_flows = match &self.last_table {
            Some(last) => conntrack::stale_udp_flows(last, table),
            None => Vec::new(),
        };
        self.last_table = Some(table.clone());
        Ok(SyncOutcome {
            full,
            ops: tx.len(),
            stale_flows,
        })
    }
}

/// Writes everything `want` holds, adopting whatever the table already has (`listing`).
fn full_table(tx: &mut Transaction, table: TableId, listing: &Listing, want: &TableRules) -> Stale {
    let existing: BTreeSet<&str> = listing.chains.iter().map(String::as_str).collect();
    tx.add_table(table);
    let existing_sets: BTreeSet<&str> = listing
        .sets
        .iter()
        .chain(&listing.maps)
        .map(String::as_str)
        .collect();
    for (name, spec) in &want.sets {
        tx.set(Verb::Add, table, name, spec);
        // Only what is there can hold stale elements; flushing the rest costs a set lookup
        // each (the kernel keeps a table's sets in a list).
        if !spec.is_dynamic() && existing_sets.contains(name.as_str()) {
            tx.set(Verb::Flush, table, name, spec);
        }
    }
    for (name, chain) in &want.chains {
        tx.add_chain(table, name, chain.base);
        if existing.contains(name.as_str()) {
            tx.chain(Verb::Flush, table, name);
        }
    }
    let mut stale = Stale::default();
    for name in &listing.chains {
        if !want.chains.contains_key(name) {
            tx.chain(Verb::Flush, table, name);
            stale.chains.insert(name.clone());
        }
    }
    for (names, is_map) in [(&listing.sets, false), (&listing.maps, true)] {
        for name in names {
            if !want.sets.contains_key(name) {
                stale.sets.insert(name.clone(), keyword_spec(is_map));
            }
        }
    }
    for (name, chain) in &want.chains {
        for rule in &chain.rules {
            tx.add_rule(table, name, rule);
        }
    }
    for (set, elements) in &want.elements {
        for (key, value) in elements {
            tx.element(Verb::Add, table, set, key, value.as_ref());
        }
    }
    stale
}

/// A spec good enough to render `delete set` / `delete map` (only the keyword matters).
fn keyword_spec(is_map: bool) -> SetSpec {
    SetSpec {
        key_type: KeyType::of([DataType::Ipv4Addr]),
        value_type: is_map.then_some(ValueType::Verdict),
        flags: Vec::new(),
        timeout: None,
        comment: None,
    }
}

#[cfg(test)]
mod tests;
