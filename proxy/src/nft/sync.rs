//! Turns a new [`ServiceTable`] into the smallest transaction that moves the kernel from what
//! was last applied to what is desired, and runs it.
//!
//! - Full sync (at start, after a failed transaction, on demand): lists what the tables hold,
//!   then in one transaction adds every object (adding an existing one is a no-op), flushes and
//!   rewrites every chain and static map, and flushes whatever is left over. Nothing is deleted
//!   or flushed wholesale first, so a restarted proxy adopts its old tables and established
//!   connections (conntrack) never see a gap. Dynamic affinity sets are kept, not flushed.
//! - Partial sync: only chains whose rules changed are flushed and rewritten, only changed map
//!   elements are deleted or added.
//! - Stale chains and sets are flushed in one sync and deleted in the next, when nothing can
//!   refer to them any more.
//!
//! This module never decides when to sync (that is `proxy.rs`) and never builds rules.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::model::ServiceTable;

use super::conntrack::{self, StaleFlow};
use super::error::SyncError;
use super::rules::{FamilyRules, RuleBuilder, RuleConfig, Ruleset};
use super::runner::Runner;
use super::transaction::{Family, SetSpec, Transaction, Verb};

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
#[derive(Debug)]
pub struct Syncer {
    runner: Arc<dyn Runner>,
    builder: RuleBuilder,
    applied: Option<Ruleset>,
    stale: BTreeMap<Family, Stale>,
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
            applied: None,
            stale: BTreeMap::new(),
            last_table: None,
        }
    }

    /// Makes the next sync a full one.
    pub fn request_full(&mut self) {
        self.applied = None;
    }

    /// Whether the last sync flushed objects that the next sync will delete.
    pub fn has_pending_deletes(&self) -> bool {
        self.stale
            .values()
            .any(|s| !s.chains.is_empty() || !s.sets.is_empty())
    }

    /// Whether the next sync will be a full one.
    pub fn needs_full(&self) -> bool {
        self.applied.is_none()
    }

    /// Computes the transaction for `table` without running it.
    pub fn plan(&mut self, table: &ServiceTable) -> Result<Transaction, SyncError> {
        Ok(self.plan_inner(table)?.0)
    }

    fn plan_inner(
        &mut self,
        table: &ServiceTable,
    ) -> Result<(Transaction, Ruleset, BTreeMap<Family, Stale>), SyncError> {
        let desired = self.builder.build(table);
        let mut tx = Transaction::new();
        let mut next_stale = BTreeMap::new();
        let empty = FamilyRules::default();
        for family in Family::ALL {
            let want = desired.family(family).unwrap_or(&empty);
            let stale = match &self.applied {
                None => full_family(&mut tx, self.runner.as_ref(), family, want)?,
                Some(applied) => {
                    let have = applied.family(family).unwrap_or(&empty);
                    let due = self.stale.get(&family).cloned().unwrap_or_default();
                    partial_family(&mut tx, family, have, want, &due)
                }
            };
            next_stale.insert(family, stale);
        }
        Ok((tx, desired, next_stale))
    }

    /// Brings the kernel to the state `table` asks for, in one transaction.
    pub fn sync(&mut self, table: &ServiceTable) -> Result<SyncOutcome, SyncError> {
        let full = self.needs_full();
        let planned = self.plan_inner(table);
        let (tx, desired, stale) = match planned {
            Ok(planned) => planned,
            Err(err) => {
                self.applied = None;
                return Err(err);
            }
        };
        if !tx.is_empty()
            && let Err(err) = self.runner.run(&tx)
        {
            self.applied = None;
            self.stale.clear();
            return Err(err);
        }
        self.applied = Some(desired);
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

/// Writes everything `want` holds, adopting whatever the table already has.
fn full_family(
    tx: &mut Transaction,
    runner: &dyn Runner,
    family: Family,
    want: &FamilyRules,
) -> Result<Stale, SyncError> {
    let listing = runner.list(family)?;
    let existing: BTreeSet<&str> = listing.chains.iter().map(String::as_str).collect();
    tx.add_table(family);
    for (name, spec) in &want.sets {
        tx.set(Verb::Add, family, name, spec);
        if !spec.is_dynamic() {
            tx.set(Verb::Flush, family, name, spec);
        }
    }
    for (name, chain) in &want.chains {
        tx.add_chain(family, name, chain.base);
        if existing.contains(name.as_str()) {
            tx.chain(Verb::Flush, family, name);
        }
    }
    let mut stale = Stale::default();
    for name in &listing.chains {
        if !want.chains.contains_key(name) {
            tx.chain(Verb::Flush, family, name);
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
            tx.add_rule(family, name, rule);
        }
    }
    for (set, elements) in &want.elements {
        for (key, value) in elements {
            tx.element(Verb::Add, family, set, key, value.as_deref());
        }
    }
    Ok(stale)
}

/// A spec good enough to render `delete set` / `delete map` (only the keyword matters).
fn keyword_spec(is_map: bool) -> SetSpec {
    SetSpec {
        key_type: "ipv4_addr".into(),
        value_type: is_map.then(|| "verdict".into()),
        flags: Vec::new(),
        timeout: None,
        comment: None,
    }
}

/// Writes the difference between `have` (last applied) and `want`.
fn partial_family(
    tx: &mut Transaction,
    family: Family,
    have: &FamilyRules,
    want: &FamilyRules,
    due: &Stale,
) -> Stale {
    // Delete what the previous sync flushed, unless it is wanted again.
    for name in &due.chains {
        if !want.chains.contains_key(name) {
            tx.chain(Verb::Delete, family, name);
        }
    }
    for (name, spec) in &due.sets {
        if !want.sets.contains_key(name) {
            tx.set(Verb::Delete, family, name, spec);
        }
    }
    for (name, spec) in &want.sets {
        if have.sets.get(name) != Some(spec) {
            tx.set(Verb::Add, family, name, spec);
        }
    }
    let mut rewrite = Vec::new();
    for (name, chain) in &want.chains {
        match have.chains.get(name) {
            Some(old) if Arc::ptr_eq(old, chain) || old == chain => {}
            Some(_) => {
                tx.chain(Verb::Flush, family, name);
                rewrite.push((name, chain));
            }
            None => {
                tx.add_chain(family, name, chain.base);
                // A chain flushed last time may still exist with no rules: adding is a no-op.
                rewrite.push((name, chain));
            }
        }
    }
    for (name, chain) in rewrite {
        for rule in &chain.rules {
            tx.add_rule(family, name, rule);
        }
    }
    let no_elements = BTreeMap::new();
    for (set, elements) in &want.elements {
        let old = have.elements.get(set).unwrap_or(&no_elements);
        for (key, value) in old {
            if elements.get(key) != Some(value) {
                tx.element(Verb::Delete, family, set, key, None);
            }
        }
        for (key, value) in elements {
            if old.get(key) != Some(value) {
                tx.element(Verb::Add, family, set, key, value.as_deref());
            }
        }
    }
    let mut stale = Stale::default();
    for name in have.chains.keys() {
        if !want.chains.contains_key(name) {
            tx.chain(Verb::Flush, family, name);
            stale.chains.insert(name.clone());
        }
    }
    for (name, spec) in &have.sets {
        if !want.sets.contains_key(name) {
            stale.sets.insert(name.clone(), spec.clone());
        }
    }
    stale
}

#[cfg(test)]
mod tests;
