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

/// One shard: keys hashed with [`Fnv`].
type Shard = HashMap<Box<[u8]>, Arc<Node>, Fnv>;

/// The longest key: a name is at most 255 bytes on the wire.
const MAX_KEY: usize = 255;

/// Every owner name of a table and what it holds. Names are keyed by their lower-cased wire
/// labels (length byte, then the bytes, for every label but the root): one pass over the
/// question name makes the key, and hashing and comparing it are plain byte loops, where
/// `Name`'s own case-insensitive `Hash` and `Eq` walk it label by label several times.
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

/// The key of a name, written into a buffer on the stack.
struct Key {
    bytes: [u8; MAX_KEY],
    len: usize,
}

impl Key {
    fn of(name: &Name) -> Key {
        let mut key = Key {
            bytes: [0; MAX_KEY],
            len: 0,
        };
        for label in name.iter() {
            let end = key.len + 1 + label.len();
            let Some(out) = key.bytes.get_mut(key.len..end) else {
                // Longer than any name can be; never stored, so it is found nowhere.
                key.len = MAX_KEY;
                return key;
            };
            if let Some((length, rest)) = out.split_first_mut() {
                *length = u8::try_from(label.len()).unwrap_or(u8::MAX);
                for (o, b) in rest.iter_mut().zip(label) {
                    *o = b.to_ascii_lowercase();
                }
            }
            key.len = end;
        }
        key
    }

    fn bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    fn shard(&self) -> usize {
        shard_of(self.bytes())
    }
}

/// The key of `name` as an owned byte string (for keys kept outside the map, like the zone's).
pub(super) fn key_of(name: &Name) -> Box<[u8]> {
    Key::of(name).bytes().into()
}

/// The shard of a key: FNV-1a over its bytes, unseeded (the shard map hashes again with its own
/// seed).
fn shard_of(key: &[u8]) -> usize {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in key {
        hash = (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193);
    }
    hash as usize % SHARDS
}

impl Nodes {
    /// What `name` holds, if it exists.
    pub(super) fn get(&self, name: &Name) -> Option<&Arc<Node>> {
        self.get_key(Key::of(name).bytes())
    }

    /// What the name with `key` (lower-cased wire labels, no root) holds, if it exists.
    pub(super) fn get_key(&self, key: &[u8]) -> Option<&Arc<Node>> {
        self.shards.get(shard_of(key))?.get(key)
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
    pub(super) fn insert(&mut self, name: &Name, node: Arc<Node>) {
        let key = Key::of(name);
        if let Some(shard) = self.shards.get_mut(key.shard())
            && Arc::make_mut(shard)
                .insert(key.bytes().into(), node)
                .is_none()
        {
            self.len += 1;
        }
    }

    /// Removes `name`, copying its shard first if another table shares it.
    pub(super) fn remove(&mut self, name: &Name) {
        let key = Key::of(name);
        let index = key.shard();
        let present = self
            .shards
            .get(index)
            .is_some_and(|s| s.contains_key(key.bytes()));
        if let Some(shard) = self.shards.get_mut(index)
            && present
            && Arc::make_mut(shard).remove(key.bytes()).is_some()
        {
            self.len -= 1;
        }
    }

    /// Every name (as `a.b.c.`) and what it holds, in no particular order.
    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = (String, &Arc<Node>)> {
        self.shards
            .iter()
            .flat_map(|shard| shard.iter())
            .map(|(key, node)| (key_text(key), node))
    }
}

/// The text of a key, for tests.
#[cfg(test)]
fn key_text(mut key: &[u8]) -> String {
    let mut out = String::new();
    while let Some((length, rest)) = key.split_first() {
        let (label, tail) = rest.split_at(usize::from(*length).min(rest.len()));
        out.push_str(&String::from_utf8_lossy(label));
        out.push('.');
        key = tail;
    }
    if out.is_empty() {
        out.push('.');
    }
    out
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
