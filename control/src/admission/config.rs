//! ConfigMap, Secret and ServiceAccount admission: data keys must be valid config keys
//! (`[-._a-zA-Z0-9]+`, at most 253 characters, not `.` or `..`), and a ConfigMap's or Secret's
//! data together at most 1 MiB, as kube-apiserver requires; a Secret's `stringData` is folded
//! into `data` (it is write-only upstream and never stored) and its `type` defaults to
//! `Opaque`. An `immutable` ConfigMap or Secret keeps its data and stays immutable.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;

use super::AdmissionError;
use super::field::Causes;
use crate::object::Object;

/// The most bytes of data a ConfigMap or Secret may hold.
pub(crate) const MAX_DATA_BYTES: usize = 1024 * 1024;

/// Validates and defaults a ConfigMap, Secret or ServiceAccount (`old` on updates).
pub(super) fn admit(obj: &mut Object, old: Option<&Object>) -> Result<(), AdmissionError> {
    let kind = obj.kind().name();
    let name = obj.name().to_string();
    let mut c = Causes::default();
    match obj {
        Object::ConfigMap(cm) => {
            let mut size = 0;
            for key in cm.data.iter().flat_map(|d| d.keys()) {
                check_key("data", key, &mut c);
            }
            for key in cm.binary_data.iter().flat_map(|d| d.keys()) {
                check_key("binaryData", key, &mut c);
                if cm.data.as_ref().is_some_and(|d| d.contains_key(key)) {
                    c.invalid("data", &key, "duplicate of key present in binaryData");
                }
            }
            size += cm
                .data
                .iter()
                .flatten()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
            size += cm
                .binary_data
                .iter()
                .flatten()
                .map(|(k, v)| k.len() + v.0.len())
                .sum::<usize>();
            check_size(size, &mut c);
            if let Some(Object::ConfigMap(old)) = old
                && old.immutable == Some(true)
            {
                if cm.data != old.data || cm.binary_data != old.binary_data {
                    c.forbidden("data", "field is immutable when `immutable` is set");
                }
                if cm.immutable != Some(true) {
                    c.forbidden("immutable", "field is immutable when `immutable` is set");
                }
            }
        }
        Object::Secret(secret) => {
            if let Some(strings) = secret.string_data.take() {
                let data = secret.data.get_or_insert_with(BTreeMap::new);
                for (k, v) in strings {
                    data.insert(k, ByteString(v.into_bytes()));
                }
            }
            secret.type_.get_or_insert_with(|| "Opaque".to_string());
            for key in secret.data.iter().flat_map(|d| d.keys()) {
                check_key("data", key, &mut c);
            }
            let size = secret
                .data
                .iter()
                .flatten()
                .map(|(k, v)| k.len() + v.0.len())
                .sum::<usize>();
            check_size(size, &mut c);
            if let Some(Object::Secret(old)) = old {
                if old.type_ != secret.type_ {
                    c.invalid("type", &secret.type_, "field is immutable");
                }
                if old.immutable == Some(true) {
                    if secret.data != old.data {
                        c.forbidden("data", "field is immutable when `immutable` is set");
                    }
                    if secret.immutable != Some(true) {
                        c.forbidden("immutable", "field is immutable when `immutable` is set");
                    }
                }
            }
        }
        // ServiceAccounts carry only references; nothing to check.
        _ => {}
    }
    c.finish(kind, &name)
}

/// A config key: `[-._a-zA-Z0-9]+`, at most 253 characters, not `.` or `..`.
fn check_key(field: &str, key: &str, c: &mut Causes) {
    let path = format!("{field}[{key}]");
    if key.is_empty() || key.len() > 253 {
        c.invalid(
            &path,
            &key,
            "must be no more than 253 characters and not empty",
        );
    } else if key == "." || key == ".." {
        c.invalid(&path, &key, "must not be '.' or '..'");
    } else if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        c.invalid(
            &path,
            &key,
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' \
             (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is \
             '[-._a-zA-Z0-9]+')",
        );
    }
}

fn check_size(size: usize, c: &mut Causes) {
    if size > MAX_DATA_BYTES {
        c.too_long("data", MAX_DATA_BYTES);
    }
}
