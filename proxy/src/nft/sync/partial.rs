//! The partial sync: from the service ports whose rules changed (and only those), the
//! operations that move one table from the last applied state to the new one. Work
//! is proportional to the change, not to the number of services.
//!
//! Order in the transaction: delete what the previous sync flushed, add new sets, add new
//! chains, rewrite changed chains, move map elements (per set: deletes, then adds), the same
//! for the ports' own endpoint maps, flush chains nobody wants any more (deleted by the next
//! sync).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::Stale;
use crate::nft::ast::{Key, Value};
use crate::nft::rules::{ChainSpec, Change, Claims, Fragment, Fragments};
use crate::nft::transaction::{SetSpec, TableId, Transaction, Verb};

/// Before and after of one element key in one table.
type ElementMove = (Option<Option<Value>>, Option<Option<Value>>);

/// The shared-set elements that move in one table: set → key → before and after.
pub(super) type ElementMoves = BTreeMap<&'static str, BTreeMap<Key, ElementMove>>;

/// Applies `changes` to one family's `claims` and returns, per table of `tables` (that
/// family's main table and shards), the shared-set elements whose effective value moved.
///
/// A key's winner decides for the whole family, so a change in one shard can move an element
/// into or out of another: when the winner of a shared externalIP:port goes, the runner-up's
/// element appears in the runner-up's shard. Every table is therefore asked about every key
/// the changes touched in any table of the family.
pub(super) fn element_moves(
    tables: &[TableId],
    changes: &[Change],
    claims: &mut Claims,
) -> BTreeMap<TableId, ElementMoves> {
    let fragments = |side| in_tables(side, tables);
    let mut touched: BTreeSet<(&'static str, &Key)> = BTreeSet::new();
    for change in changes {
        for (_, fragment) in fragments(&change.old).chain(fragments(&change.new)) {
            for (set, key, _) in &fragment.elements {
                touched.insert((set, key));
            }
        }
    }
    let before: Vec<Vec<Option<Option<Value>>>> = touched
        .iter()
        .map(|(set, key)| {
            tables
                .iter()
                .map(|t| claims.effective(*t, set, key))
                .collect()
        })
        .collect();
    for change in changes {
        for (_, fragment) in fragments(&change.old) {
            for (set, key, _) in &fragment.elements {
                claims.remove(set, key, &change.id);
            }
        }
        for (id, fragment) in fragments(&change.new) {
            for (set, key, value) in &fragment.elements {
                claims.insert(set, key, &change.id, id, value.clone());
            }
        }
    }
    let mut moves: BTreeMap<TableId, ElementMoves> = BTreeMap::new();
    for ((set, key), before) in touched.iter().zip(before) {
        for (table, before) in tables.iter().zip(before) {
            let after = claims.effective(*table, set, key);
            if before != after {
                moves
                    .entry(*table)
                    .or_default()
                    .entry(set)
                    .or_default()
                    .insert((*key).to_owned(), (before, after));
            }
        }
    }
    moves
}

/// A port's fragments (before or after) for the tables in `tables`.
fn in_tables<'c>(
    side: &'c Option<Fragments>,
    tables: &'c [TableId],
) -> impl Iterator<Item = (TableId, &'c Fragment)> {
    side.as_deref()
        .into_iter()
        .flatten()
        .filter(move |(id, _)| tables.contains(id))
        .map(|(id, fragment)| (*id, fragment))
}

/// Writes the operations for `changes` in `table`, with the shared-set element `moves`
/// [`element_moves`] computed for it; returns what it flushed, for the next sync to delete.
pub(super) fn table(
    tx: &mut Transaction,
    table: TableId,
    changes: &[Change],
    moves: &ElementMoves,
    due: &Stale,
) -> Stale {
    let empty = Fragment::default();
    let mut chain_writes: BTreeMap<&str, (bool, &Arc<ChainSpec>)> = BTreeMap::new();
    let mut removed_chains: BTreeSet<&str> = BTreeSet::new();
    let mut new_sets: BTreeMap<&str, &SetSpec> = BTreeMap::new();
    let mut removed_sets: BTreeMap<&str, &SetSpec> = BTreeMap::new();

    for change in changes {
        let old = Change::fragment(&change.old, table).unwrap_or(&empty);
        let new = Change::fragment(&change.new, table).unwrap_or(&empty);
        let old_chains: HashMap<&str, &Arc<ChainSpec>> =
            old.chains.iter().map(|(n, c)| (n.as_str(), c)).collect();
        let new_chains: HashMap<&str, &Arc<ChainSpec>> =
            new.chains.iter().map(|(n, c)| (n.as_str(), c)).collect();
        for (name, spec) in &new.chains {
            match old_chains.get(name.as_str()) {
                None => {
                    chain_writes.insert(name, (false, spec));
                }
                Some(before) if Arc::ptr_eq(before, spec) || before == &spec => {}
                Some(_) => {
                    chain_writes.insert(name, (true, spec));
                }
            }
        }
        for (name, _) in &old.chains {
            if !new_chains.contains_key(name.as_str()) {
                removed_chains.insert(name);
            }
        }
        for (name, spec) in &new.sets {
            if !old.sets.iter().any(|(n, s)| n == name && s == spec) {
                new_sets.insert(name, spec);
            }
        }
        for (name, spec) in &old.sets {
            if !new.sets.iter().any(|(n, _)| n == name) {
                removed_sets.insert(name, spec);
            }
        }
    }

    // Delete what the previous sync flushed, unless it is wanted again.
    for name in &due.chains {
        if !chain_writes.contains_key(name.as_str()) {
            tx.chain(Verb::Delete, table, name);
        }
    }
    for (name, spec) in &due.sets {
        if !new_sets.contains_key(name.as_str()) {
            tx.set(Verb::Delete, table, name, spec);
        }
    }
    for (name, spec) in &new_sets {
        tx.set(Verb::Add, table, name, spec);
        // A map wanted again before the sync that would have deleted it still holds its old
        // elements: start it empty.
        if !spec.is_dynamic() && due.sets.contains_key(*name) {
            tx.set(Verb::Flush, table, name, spec);
        }
    }
    for (name, (exists, spec)) in &chain_writes {
        if *exists {
            tx.chain(Verb::Flush, table, name);
        } else {
            // A chain flushed last time may still exist with no rules: adding is a no-op.
            tx.add_chain(table, name, spec.base);
        }
    }
    for (name, (_, spec)) in &chain_writes {
        for rule in &spec.rules {
            tx.add_rule(table, name, rule);
        }
    }
    for (set, keys) in moves {
        for (key, (before, after)) in keys {
            if before.is_some() && before != after {
                tx.element(Verb::Delete, table, set, key, None);
            }
        }
        for (key, (before, after)) in keys {
            if let Some(value) = after
                && before != after
            {
                tx.element(Verb::Add, table, set, key, value.as_ref());
            }
        }
    }
    own_elements(tx, table, changes);
    let mut stale = Stale::default();
    for name in removed_chains {
        tx.chain(Verb::Flush, table, name);
        stale.chains.insert(name.to_owned());
    }
    for (name, spec) in removed_sets {
        stale.sets.insert(name.to_owned(), spec.clone());
    }
    stale
}

/// Moves the elements of the ports' own maps: per change, what the old fragment had and the
/// new one does not is deleted (only while the map stays), then what is new is added. A map
/// that goes away takes its elements with it when a later sync deletes it.
fn own_elements(tx: &mut Transaction, table: TableId, changes: &[Change]) {
    let empty = Fragment::default();
    let mut deletes: BTreeSet<(&str, &Key)> = BTreeSet::new();
    let mut adds: BTreeSet<(&str, &Key, Option<&Value>)> = BTreeSet::new();
    for change in changes {
        let old = Change::fragment(&change.old, table).unwrap_or(&empty);
        let new = Change::fragment(&change.new, table).unwrap_or(&empty);
        let before: BTreeSet<&(String, Key, Option<Value>)> = old.own_elements.iter().collect();
        let after: BTreeSet<&(String, Key, Option<Value>)> = new.own_elements.iter().collect();
        for (map, key, _) in before.difference(&after) {
            if new.sets.iter().any(|(name, _)| name == map) {
                deletes.insert((map, key));
            }
        }
        for (map, key, value) in after.difference(&before) {
            adds.insert((map, key, value.as_ref()));
        }
    }
    for (map, key) in deletes {
        tx.element(Verb::Delete, table, map, key, None);
    }
    for (map, key, value) in adds {
        tx.element(Verb::Add, table, map, key, value);
    }
}
