//! The `pod-template-hash` of a Deployment's pod template, and template equality that ignores
//! it. As upstream: FNV-32a over the serialized template, then the collision count (4 bytes,
//! little endian) when the Deployment has one, the decimal number rendered with the
//! safe-encoding alphabet (no vowels, no look-alike digits). Equal templates give equal hashes,
//! so equal templates share one ReplicaSet.

use k8s_openapi::api::core::v1::PodTemplateSpec;

use super::POD_TEMPLATE_HASH_LABEL;

/// The alphabet that names are rendered in (no vowels, no `0`, `1`, `3`).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

fn fnv32a(state: u32, bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(state, |h, b| (h ^ u32::from(*b)).wrapping_mul(FNV_PRIME))
}

/// Renders `text` with the safe-encoding alphabet, one letter per byte.
fn safe_encode(text: &str) -> String {
    text.bytes()
        .map(|b| char::from(SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()]))
        .collect()
}

/// The `pod-template-hash` of `template` under `collision_count`.
pub fn pod_template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    // Serializing a typed template cannot fail (string keys, no custom serializers).
    let bytes = serde_json::to_vec(template).unwrap_or_default();
    let mut hash = fnv32a(FNV_OFFSET, &bytes);
    if let Some(count) = collision_count {
        hash = fnv32a(hash, &count.to_le_bytes());
    }
    safe_encode(&hash.to_string())
}

/// Removes nulls, empty objects and empty arrays, innermost first: a client that decoded the
/// template into typed structs and sent it back (kubectl's `rollout undo`) writes
/// `resources: {}` where the stored form has nothing, which means the same.
fn prune_empty(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for v in map.values_mut() {
                prune_empty(v);
            }
            map.retain(|_, v| !is_empty(v));
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(prune_empty),
        _ => {}
    }
}

fn is_empty(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Null => true,
        serde_json::Value::Object(map) => map.is_empty(),
        serde_json::Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// `template` as compared: without the `pod-template-hash` label and without empty values.
fn comparable(template: &PodTemplateSpec) -> serde_json::Value {
    let mut t = template.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    let mut value = serde_json::to_value(&t).unwrap_or_default();
    prune_empty(&mut value);
    value
}

/// Whether two templates are equal apart from the `pod-template-hash` label (empty values
/// equal absent ones).
pub fn equal_ignoring_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    comparable(a) == comparable(b)
}

/// `template` with the `pod-template-hash` label set to `hash`.
pub fn with_hash(template: &PodTemplateSpec, hash: &str) -> PodTemplateSpec {
    let mut t = template.clone();
    t.metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(Default::default)
        .insert(POD_TEMPLATE_HASH_LABEL.to_string(), hash.to_string());
    t
}
