//! An in-memory [`Runner`] for tests: applies each transaction to a copy of its model and keeps
//! the copy only if every operation succeeds, enforcing the kernel rules that catch real bugs
//! (references to missing chains and sets, deleting non-empty or referenced chains, changing a
//! map element's value with `add`). It records every transaction and dumps its state as a
//! sorted `nft -f` script, which is what the golden files hold. It reads the typed rules and
//! elements of the transaction (never text) and never runs a process.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use super::ast::{DataType, Key, KeyData, KeyType, Part, Rule, SetFlag, Value, ValueType};
use super::error::{Refusal, SyncError};
use super::runner::{Listing, Runner};
use super::transaction::{BaseChain, Family, Object, Op, SetSpec, TableId, Transaction, Verb};

#[derive(Debug, Clone, Default)]
struct FakeChain {
    base: Option<BaseChain>,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct FakeSet {
    spec: SetSpec,
    elements: BTreeMap<Key, Option<Value>>,
}

#[derive(Debug, Clone, Default)]
struct FakeTable {
    chains: BTreeMap<String, FakeChain>,
    sets: BTreeMap<String, FakeSet>,
}

#[derive(Debug, Default)]
struct State {
    tables: BTreeMap<TableId, FakeTable>,
    transactions: Vec<Transaction>,
}

/// The in-memory nftables model. Cloning shares the model.
#[derive(Debug, Clone, Default)]
pub struct FakeRunner {
    state: Arc<Mutex<State>>,
}

fn refuse(kind: Refusal, message: String) -> SyncError {
    SyncError::Refused { kind, message }
}

/// The data type of one part of a key or value.
fn part_type(part: &Part) -> DataType {
    match part {
        Part::Addr(ip) => DataType::addr(Family::of(*ip)),
        Part::Proto(_) => DataType::InetProto,
        Part::Port(_) => DataType::InetService,
    }
}

/// Whether `key` has the shape of `spec`'s keys (the kernel checks their length).
fn key_fits(spec: &SetSpec, key: &Key) -> bool {
    let interval = spec.flags.contains(&SetFlag::Interval);
    match (&spec.key_type, key.data()) {
        (KeyType::Type(types), KeyData::Concat(parts)) => {
            parts.iter().map(part_type).eq(types.iter().copied())
        }
        (KeyType::Type(types), KeyData::Prefix(net)) => {
            interval && types[..] == [DataType::addr(Family::of(net.addr()))]
        }
        (KeyType::NumgenRandom { modulus }, KeyData::Range { end, .. }) => {
            interval && end < modulus
        }
        _ => false,
    }
}

/// Whether `value` is what `spec` maps to (nothing for a set).
fn value_fits(spec: &SetSpec, value: Option<&Value>) -> bool {
    match (spec.value_type, value) {
        (None, None) | (Some(ValueType::Verdict), Some(Value::Verdict(_))) => true,
        (Some(ValueType::DaddrDport { family, .. }), Some(Value::Data(parts))) => {
            matches!(parts[..], [Part::Addr(ip), Part::Port(_)] if Family::of(ip) == family)
        }
        _ => false,
    }
}

/// The text forms of `elements`, for callers that compare what nft would print.
fn element_texts(elements: &BTreeMap<Key, Option<Value>>) -> BTreeMap<String, Option<String>> {
    elements
        .iter()
        .map(|(key, value)| (key.to_string(), value.as_ref().map(Value::to_string)))
        .collect()
}

impl FakeTable {
    /// Fails unless every chain and set in `chains` and `sets` exists.
    fn check_refs<'a>(
        &self,
        chains: impl IntoIterator<Item = &'a str>,
        sets: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), SyncError> {
        for chain in chains {
            if !self.chains.contains_key(chain) {
                return Err(refuse(
                    Refusal::NotFound,
                    format!("chain {chain} not found"),
                ));
            }
        }
        for set in sets {
            if !self.sets.contains_key(set) {
                return Err(refuse(Refusal::NotFound, format!("set {set} not found")));
            }
        }
        Ok(())
    }

    fn referenced(&self, name: &str, as_chain: bool) -> bool {
        let in_rule = |rule: &Rule| {
            if as_chain {
                rule.chains().any(|c| c == name)
            } else {
                rule.sets().any(|s| s == name)
            }
        };
        self.chains.values().any(|c| c.rules.iter().any(in_rule))
            || (as_chain
                && self.sets.values().any(|s| {
                    s.elements
                        .values()
                        .flatten()
                        .any(|v| v.chain() == Some(name))
                }))
    }

    fn apply(&mut self, op: &Op) -> Result<(), SyncError> {
        let verb = op.verb;
        match &op.object {
            Object::Table { .. } => match verb {
                Verb::Flush => {
                    for chain in self.chains.values_mut() {
                        chain.rules.clear();
                    }
                    for set in self.sets.values_mut() {
                        set.elements.clear();
                    }
                    Ok(())
                }
                _ => Ok(()),
            },
            Object::Chain { name, base, .. } => match (verb, self.chains.get_mut(name)) {
                (Verb::Create, Some(_)) => {
                    Err(refuse(Refusal::Exists, format!("chain {name} exists")))
                }
                (Verb::Add, Some(chain)) if base.is_some() && chain.base != *base => Err(refuse(
                    Refusal::Exists,
                    format!("chain {name} exists with another hook"),
                )),
                (Verb::Add, Some(_)) => Ok(()),
                (Verb::Add | Verb::Create, None) => {
                    let chain = FakeChain {
                        base: *base,
                        rules: Vec::new(),
                    };
                    self.chains.insert(name.clone(), chain);
                    Ok(())
                }
                (Verb::Flush, Some(chain)) => {
                    chain.rules.clear();
                    Ok(())
                }
                (Verb::Delete, Some(chain)) => {
                    if !chain.rules.is_empty() {
                        return Err(refuse(Refusal::Busy, format!("chain {name} not empty")));
                    }
                    if self.referenced(name, true) {
                        return Err(refuse(Refusal::Busy, format!("chain {name} in use")));
                    }
                    self.chains.remove(name);
                    Ok(())
                }
                (_, None) => Err(refuse(Refusal::NotFound, format!("chain {name} not found"))),
            },
            Object::Rule { chain, rule, .. } => {
                self.check_refs(rule.chains(), rule.sets())?;
                match self.chains.get_mut(chain) {
                    Some(c) => {
                        c.rules.push(rule.clone());
                        Ok(())
                    }
                    None => Err(refuse(
                        Refusal::NotFound,
                        format!("chain {chain} not found"),
                    )),
                }
            }
            Object::Set { name, spec, .. } => match (verb, self.sets.get_mut(name)) {
                (Verb::Create, Some(_)) => {
                    Err(refuse(Refusal::Exists, format!("set {name} exists")))
                }
                (Verb::Add, Some(set))
                    if set.spec.key_type != spec.key_type
                        || set.spec.value_type != spec.value_type
                        || set.spec.flags != spec.flags
                        || set.spec.timeout != spec.timeout =>
                {
                    Err(refuse(
                        Refusal::Exists,
                        format!("set {name} exists with other properties"),
                    ))
                }
                (Verb::Add, Some(_)) => Ok(()),
                (Verb::Add | Verb::Create, None) => {
                    let set = FakeSet {
                        spec: spec.clone(),
                        elements: BTreeMap::new(),
                    };
                    self.sets.insert(name.clone(), set);
                    Ok(())
                }
                (Verb::Flush, Some(set)) => {
                    set.elements.clear();
                    Ok(())
                }
                (Verb::Delete, Some(_)) => {
                    if self.referenced(name, false) {
                        return Err(refuse(Refusal::Busy, format!("set {name} in use")));
                    }
                    self.sets.remove(name);
                    Ok(())
                }
                (_, None) => Err(refuse(Refusal::NotFound, format!("set {name} not found"))),
            },
            Object::Element {
                set, key, value, ..
            } => {
                if let Some(value) = value {
                    self.check_refs(value.chain(), None)?;
                }
                let Some(target) = self.sets.get_mut(set) else {
                    return Err(refuse(Refusal::NotFound, format!("set {set} not found")));
                };
                let value_fits = verb == Verb::Delete || value_fits(&target.spec, value.as_ref());
                if !key_fits(&target.spec, key) || !value_fits {
                    return Err(refuse(
                        Refusal::Other,
                        format!(
                            "element {key} of {set} does not fit its type {}{}",
                            target.spec.key_type,
                            target
                                .spec
                                .value_type
                                .map(|v| format!(" : {v}"))
                                .unwrap_or_default()
                        ),
                    ));
                }
                match (verb, target.elements.get(key)) {
                    (Verb::Create, Some(_)) => Err(refuse(
                        Refusal::Exists,
                        format!("element {key} of {set} exists"),
                    )),
                    (Verb::Add, Some(existing)) if existing != value => Err(refuse(
                        Refusal::Exists,
                        format!("element {key} of {set} exists with another value"),
                    )),
                    (Verb::Add | Verb::Create, _) => {
                        target.elements.insert(key.clone(), value.clone());
                        Ok(())
                    }
                    (Verb::Delete, Some(_)) => {
                        target.elements.remove(key);
                        Ok(())
                    }
                    (Verb::Delete, None) => Err(refuse(
                        Refusal::NotFound,
                        format!("element {key} of {set} not found"),
                    )),
                    (Verb::Flush, _) => Ok(()),
                }
            }
        }
    }
}

impl State {
    fn apply(&self, tx: &Transaction) -> Result<BTreeMap<TableId, FakeTable>, SyncError> {
        if let Some(err) = tx.error() {
            return Err(err.clone().into());
        }
        let mut tables = self.tables.clone();
        for (i, op) in tx.ops().iter().enumerate() {
            let table = op.object.table();
            let fail = |err: SyncError| match err {
                SyncError::Refused { kind, message } => refuse(
                    kind,
                    format!("operation {} ({:?} {table}): {message}", i + 1, op.verb),
                ),
                other => other,
            };
            match (&op.object, op.verb) {
                (Object::Table { .. }, Verb::Add | Verb::Create) => {
                    tables.entry(table).or_default();
                }
                (Object::Table { .. }, Verb::Delete) => {
                    if tables.remove(&table).is_none() {
                        return Err(fail(refuse(Refusal::NotFound, "table not found".into())));
                    }
                }
                _ => match tables.get_mut(&table) {
                    Some(content) => content.apply(op).map_err(fail)?,
                    None => return Err(fail(refuse(Refusal::NotFound, "table not found".into()))),
                },
            }
        }
        Ok(tables)
    }
}

impl FakeRunner {
    /// An empty model (no tables).
    pub fn new() -> FakeRunner {
        FakeRunner::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves a consistent model (changes are committed by
        // one assignment), so a poisoned lock is safe to reuse.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every transaction applied so far (failed ones are not recorded).
    pub fn transactions(&self) -> Vec<Transaction> {
        self.lock().transactions.clone()
    }

    /// The most recent successful transaction.
    pub fn last_transaction(&self) -> Option<Transaction> {
        self.lock().transactions.last().cloned()
    }

    /// The rules of `chain` in `table`, if it exists, as nft prints them.
    pub fn chain_rules(&self, table: TableId, chain: &str) -> Option<Vec<String>> {
        let state = self.lock();
        let rules = &state.tables.get(&table)?.chains.get(chain)?.rules;
        Some(rules.iter().map(Rule::to_string).collect())
    }

    /// The elements of `set` in `table`, if it exists, as nft prints them.
    pub fn elements(&self, table: TableId, set: &str) -> Option<BTreeMap<String, Option<String>>> {
        let state = self.lock();
        Some(element_texts(
            &state.tables.get(&table)?.sets.get(set)?.elements,
        ))
    }

    /// The elements of `set` in every table of `family` that has one, merged (for the sets
    /// each shard has its own part of, like `service-ips`).
    pub fn all_elements(&self, family: Family, set: &str) -> BTreeMap<String, Option<String>> {
        let state = self.lock();
        state
            .tables
            .iter()
            .filter(|(id, _)| id.family == family)
            .filter_map(|(_, table)| table.sets.get(set))
            .flat_map(|set| element_texts(&set.elements))
            .collect()
    }

    /// The names of every chain, set and map in the tables of `family`, merged and sorted.
    pub fn family_listing(&self, family: Family) -> Listing {
        let mut merged = Listing::default();
        if let Ok(tables) = self.list(family) {
            for listing in tables.into_values() {
                merged.table_exists = true;
                merged.chains.extend(listing.chains);
                merged.sets.extend(listing.sets);
                merged.maps.extend(listing.maps);
            }
        }
        for names in [&mut merged.chains, &mut merged.sets, &mut merged.maps] {
            names.sort();
        }
        merged
    }

    /// The rules of `chain` in whichever table of `family` has it.
    pub fn find_chain_rules(&self, family: Family, chain: &str) -> Option<Vec<String>> {
        self.chain_rules(self.table_of_chain(family, chain)?, chain)
    }

    /// The table of `family` holding a chain named `chain` (the first, in table order).
    pub fn table_of_chain(&self, family: Family, chain: &str) -> Option<TableId> {
        let state = self.lock();
        state
            .tables
            .iter()
            .find(|(id, table)| id.family == family && table.chains.contains_key(chain))
            .map(|(id, _)| *id)
    }

    /// The whole model as a sorted `nft -f` script: tables, sets and maps, chain declarations,
    /// rules, elements. Loading it into an empty ruleset recreates the model.
    pub fn dump(&self) -> String {
        let state = self.lock();
        let mut tx = Transaction::new();
        for (id, table) in &state.tables {
            let id = *id;
            tx.add_table(id);
            for (name, set) in &table.sets {
                tx.set(Verb::Add, id, name, &set.spec);
            }
            for (name, chain) in &table.chains {
                tx.add_chain(id, name, chain.base);
            }
            for (name, chain) in &table.chains {
                for rule in &chain.rules {
                    tx.add_rule(id, name, rule);
                }
            }
            for (name, set) in &table.sets {
                for (key, value) in &set.elements {
                    tx.element(Verb::Add, id, name, key, value.as_ref());
                }
            }
        }
        let mut out = String::new();
        let _ = write!(out, "{tx}");
        out
    }
}

impl Runner for FakeRunner {
    fn run(&self, tx: &Transaction) -> Result<(), SyncError> {
        let mut state = self.lock();
        let tables = state.apply(tx)?;
        state.tables = tables;
        state.transactions.push(tx.clone());
        Ok(())
    }

    fn check(&self, tx: &Transaction) -> Result<(), SyncError> {
        self.lock().apply(tx).map(drop)
    }

    fn list(&self, family: Family) -> Result<BTreeMap<TableId, Listing>, SyncError> {
        let state = self.lock();
        let listings = state
            .tables
            .iter()
            .filter(|(id, _)| id.family == family)
            .map(|(id, table)| {
                let (maps, sets): (Vec<_>, Vec<_>) =
                    table.sets.iter().partition(|(_, s)| s.spec.is_map());
                let listing = Listing {
                    table_exists: true,
                    chains: table.chains.keys().cloned().collect(),
                    sets: sets.into_iter().map(|(n, _)| n.clone()).collect(),
                    maps: maps.into_iter().map(|(n, _)| n.clone()).collect(),
                };
                (*id, listing)
            })
            .collect();
        Ok(listings)
    }
}

#[cfg(test)]
mod tests;
