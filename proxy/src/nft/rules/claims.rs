//! Who claims each element of the shared sets and maps (`service-ips`, `cluster-ips`, ...):
//! two services may name the same address and port (externalIPs are not checked by the API),
//! and the element must not flap between them. The first claimant in id order wins, the same
//! rule [`super::RuleBuilder::assemble`] applies, so partial and full syncs agree.

use std::collections::{BTreeMap, HashMap};

use crate::model::ServicePortId;

/// Claimants of one key: service port → the value it wants.
type Claimants = BTreeMap<ServicePortId, Option<String>>;

/// Element claims of one family: set → key → claimants.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    sets: HashMap<&'static str, HashMap<String, Claimants>>,
}

impl Claims {
    /// The value in effect for `key` of `set` (`None`: no element).
    pub fn effective(&self, set: &str, key: &str) -> Option<Option<String>> {
        let claimants = self.sets.get(set)?.get(key)?;
        claimants.values().next().cloned()
    }

    /// Records that `owner` wants `key` in `set` with `value`.
    pub fn insert(
        &mut self,
        set: &'static str,
        key: &str,
        owner: &ServicePortId,
        value: Option<String>,
    ) {
        let claimants = self
            .sets
            .entry(set)
            .or_default()
            .entry(key.to_owned())
            .or_default();
        if let Some((first, existing)) = claimants.iter().next()
            && first != owner
            && *existing != value
        {
            tracing::warn!(
                service = %owner,
                claimed_by = %first,
                map = set,
                key = %key,
                "address and port claimed by two services; the first in name order wins"
            );
        }
        claimants.insert(owner.clone(), value);
    }

    /// Drops `owner`'s claim on `key` of `set`.
    pub fn remove(&mut self, set: &str, key: &str, owner: &ServicePortId) {
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
