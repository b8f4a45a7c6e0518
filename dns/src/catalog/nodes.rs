//! The owner names of a table: a hash map split into shards that sit behind `Arc`s. A new table
//! shares every shard a change did not touch and copies only the few it did, so an update costs
//! a handful of small copies, while the names are stored as densely as in one hash map (a
//! persistent hash trie costs several times the memory per name).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, OnceLock};

use hickory_proto::rr::Name;

use super::Node;

/// Shards per table: with 10k services (40k names) about 40 names per shard.
const SHARDS: usize = 1024;

/// One shard: names hashed with [`Fnv`].
type Shard = HashMap<Name, Arc<Node>, Fnv>;

/// Every owner name of a table and what it holds.
#[derive(Debug, Clone)]
pub(super) struct Nodes {
    shards: Vec<Arc<Shard>>,
    len: usize,
}

impl Default for Nodes {
    fn default() -> Self {
        Nodes {
            shards: (0..SHARDS)
                .map(|_| Arc::new(HashMap::with_hasher(Fnv::default())))
                .collect(),
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

/// FNV-1a, seeded once per process. `Name` hashes byte by byte (lower-casing each), which is
/// where SipHash spends most of a lookup; FNV does a multiply per byte. Only names of cluster
/// objects are ever inserted, and the seed is random, so crafted collisions need API write
/// access and a guess of the seed.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fnv {
    seed: u64,
}

impl Default for Fnv {
    fn default() -> Self {
        static SEED: OnceLock<u64> = OnceLock::new();
        let seed =
            *SEED.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0u8));
        Fnv { seed }
    }
}

impl BuildHasher for Fnv {
    type Hasher = FnvHasher;

    fn build_hasher(&self) -> FnvHasher {
        FnvHasher(0xcbf2_9ce4_8422_2325 ^ self.seed)
    }
}

/// The running state of one [`Fnv`] hash.
#[derive(Debug)]
pub(super) struct FnvHasher(u64);

impl Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        // A final mix so that the low bits the table uses depend on every byte.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u8(*byte);
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
}
