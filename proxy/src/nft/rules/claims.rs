//! Who claims each element of the shared sets and maps (`service-ips`, `cluster-ips`, ...):
//! two services may name the same address and port (externalIPs are not checked by the API),
//! and the element must not flap between them. The first claimant in id order wins, for the
//! whole family: its element goes to the table that holds its rules (its shard, or the main
//! table for the node-wide sets) and no other table gets one, so a packet never meets two
//! shards that both answer for its address. [`super::RuleBuilder::assemble`] places elements
//! from these claims, so partial and full syncs agree.

use std::collections::{BTreeMap, HashMap};

use crate::model::ServicePortId;
use crate::nft::ast::{Key, Value};
use crate::nft::transaction::TableId;

/// One claimant's wish: the table its element belongs in and the value (`None` for sets).
type Wish = (TableId, Option<Value>);

/// Claimants of one key: service port → what it wants.
type Claimants = BTreeMap<ServicePortId, Wish>;

/// Element claims of one family, over its main table and all its shards: set → key →
/// claimants.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    sets: HashMap<&'static str, HashMap<Key, Claimants>>,
}

impl Claims {
    /// The value in effect for `key` of `set` in `table` (`None`: no element there, either
    /// because nobody claims the key or because the winner's element lives in another table).
    pub fn effective(&self, table: TableId, set: &str, key: &Key) -> Option<Option<Value>> {
        let (winner_table, value) = self.winner(set, key)?;
        (*winner_table == table).then(|| value.clone())
    }

    /// The first claimant's wish for `key` of `set`.
    fn winner(&self, set: &str, key: &Key) -> Option<&Wish> {
        self.sets.get(set)?.get(key)?.values().next()
    }

    /// Every element in effect: (table, set, key, value).
    pub fn winners(&self) -> impl Iterator<Item = (TableId, &'static str, &Key, &Option<Value>)> {
        self.sets.iter().flat_map(|(set, keys)| {
            keys.iter().filter_map(|(key, claimants)| {
                let (table, value) = claimants.values().next()?;
                Some((*table, *set, key, value))
            })
        })
    }

    /// Records that `owner` wants `key` in `set` of `table` with `value`.
    pub fn insert(
        &mut self,
        set: &'static str,
        key: &Key,
        owner: &ServicePortId,
        table: TableId,
        value: Option<Value>,
    ) {
        let claimants = self
            .sets
            .entry(set)
            .or_default()
            .entry(key.clone())
            .or_default();
        if let Some((first, existing)) = claimants.iter().next()
            && first != owner
            && *existing != (table, value.clone())
        {
            tracing::warn!(
                service = %owner,
                claimed_by = %first,
                map = set,
                key = %key,
                "address and port claimed by two services; the first in name order wins"
            );
        }
        claimants.insert(owner.clone(), (table, value));
    }

    /// Drops `owner`'s claim on `key` of `set`.
    pub fn remove(&mut self, set: &str, key: &Key, owner: &ServicePortId) {
        let Some(keys) = self.sets.get_mut(set) else {
            return;
        };
        if let Some(claimants) = keys.get_mut(key) {
            claimants.remove(owner);
            if claimants.is_empty() {
                keys.remove(key);
            }
        }
    }
}
