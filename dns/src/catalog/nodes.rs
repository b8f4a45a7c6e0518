//! The owner names of a table: a hash map split into shards that sit behind `Arc`s. A new table
//! shares every shard a change did not touch and copies only the few it did, so an update costs
//! a handful of small copies, while the names are stored as densely as in one hash map (a
//! persistent hash trie costs several times the memory per name).

use std::collections::HashMap;
use std::sync::Arc;

use hickory_proto::rr::Name;

use super::Node;

/// Shards per table: with 10k services (40k names) about 40 names per shard.
const SHARDS: usize = 1024;

/// Every owner name of a table and what it holds.
#[derive(Debug, Clone)]
pub(super) struct Nodes {
    shards: Vec<Arc<HashMap<Name, Arc<Node>>>>,
    len: usize,
}

impl Default for Nodes {
    fn default() -> Self {
        Nodes {
            shards: (0..SHARDS).map(|_| Arc::new(HashMap::new())).collect(),
            len: 0,
        }
    }
}

impl Nodes {
    /// What `name` holds, if it exists.
    pub(super) fn get(&self, name: &Name) -> Option<&Arc<Node>> {
        self.shards.get(shard_of(name))?.get(name)
    }

    /// True when `name` exists.
    pub(super) fn contains_key(&self, name: &Name) -> bool {
        self.get(name).is_some()
    }

    /// How many names exist.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// True when no name exists.
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets what `name` holds, copying its shard first if another table shares it.
    pub(super) fn insert(&mut self, name: Name, node: Arc<Node>) {
        if let Some(shard) = self.shards.get_mut(shard_of(&name))
            && Arc::make_mut(shard).insert(name, node).is_none()
        {
            self.len += 1;
        }
    }

    /// Removes `name`, copying its shard first if another table shares it.
    pub(super) fn remove(&mut self, name: &Name) {
        let index = shard_of(name);
        let present = self.shards.get(index).is_some_and(|s| s.contains_key(name));
        if let Some(shard) = self.shards.get_mut(index)
            && present
            && Arc::make_mut(shard).remove(name).is_some()
        {
            self.len -= 1;
        }
    }

    /// Every name and what it holds, in no particular order.
    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = (&Name, &Arc<Node>)> {
        self.shards.iter().flat_map(|shard| shard.iter())
    }
}

/// The shard of a name: FNV-1a over its lower-cased labels (names compare case-insensitively).
fn shard_of(name: &Name) -> usize {
    let mut hash: u32 = 0x811c_9dc5;
    for label in name.iter() {
        hash = (hash ^ label.len() as u32).wrapping_mul(0x0100_0193);
        for byte in label {
            hash = (hash ^ u32::from(byte.to_ascii_lowercase())).wrapping_mul(0x0100_0193);
        }
    }
    hash as usize % SHARDS
}
