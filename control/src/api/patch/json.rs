//! JSON Patch (RFC 6902) applied one operation at a time under a size budget: before each
//! operation the growth it can cause (the encoded size of an added, replaced or copied value,
//! plus its key) is checked against what is left of [`MAX_OBJECT_BYTES`], so a patch that
//! copies a field into itself again and again stops at the operation that would cross the
//! bound, before that value is cloned. The running size is an upper bound of the document's
//! encoded size: removals subtract only the removed value, additions add the value and a
//! generous key cost.
//!
//! Pure functions over JSON values; never sees the store.

use json_patch::PatchOperation;
use json_patch::jsonptr::Pointer;
use serde_json::Value;

use super::{MAX_COPIED_BYTES, MAX_OBJECT_BYTES, encoded_len, too_large};
use crate::error::ApiError;
use crate::object::Kind;

/// What one operation may add to the encoded document beyond its value: the key (as a JSON
/// string), the colon and a comma.
fn key_cost(path: &Pointer) -> usize {
    match path.split_back() {
        Some((_, last)) => encoded_len(&Value::String(last.decoded().into_owned())) + 2,
        None => 0,
    }
}

/// The encoded size of the value at `path`, if there is one.
fn size_at(doc: &Value, path: &Pointer) -> Option<usize> {
    doc.pointer(path.as_str()).map(encoded_len)
}

/// Whether `path` names a key of an object (an `add` there replaces what is there), not a
/// position in an array (an `add` there inserts).
fn names_object_key(doc: &Value, path: &Pointer) -> bool {
    path.split_back()
        .and_then(|(parent, _)| doc.pointer(parent.as_str()))
        .is_some_and(Value::is_object)
}

/// The encoded size of what an `add` (or `copy`) to `path` replaces: the value under that key
/// when `path` names an object's key, nothing when it names an array position (an insert).
fn replaced_by_add(doc: &Value, path: &Pointer) -> usize {
    if names_object_key(doc, path) {
        size_at(doc, path).unwrap_or(0)
    } else {
        0
    }
}

/// Applies `ops` to `doc` in order, refusing with 413 the first operation that could make the
/// document's encoded size exceed [`MAX_OBJECT_BYTES`] or the patch copy more than
/// [`MAX_COPIED_BYTES`] in total, and with 422 an operation that fails (bad path, failed
/// `test`). On error `doc` is left partly patched: callers discard it.
pub(super) fn apply(kind: Kind, doc: &mut Value, ops: &[PatchOperation]) -> Result<(), ApiError> {
    apply_counted(kind, doc, ops).map(|_| ())
}

/// [`apply`], returning the running upper bound of the result's encoded size.
fn apply_counted(kind: Kind, doc: &mut Value, ops: &[PatchOperation]) -> Result<usize, ApiError> {
    let mut size = encoded_len(doc);
    let mut copied = 0usize;
    for (index, op) in ops.iter().enumerate() {
        let (grow, shrink) = match op {
            PatchOperation::Add(add) if add.path.is_root() => (encoded_len(&add.value), size),
            PatchOperation::Add(add) => (
                encoded_len(&add.value) + key_cost(&add.path),
                replaced_by_add(doc, &add.path),
            ),
            PatchOperation::Replace(replace) => (
                encoded_len(&replace.value),
                size_at(doc, &replace.path).unwrap_or(0),
            ),
            PatchOperation::Remove(remove) => (0, size_at(doc, &remove.path).unwrap_or(0)),
            PatchOperation::Move(mv) => (key_cost(&mv.path), 0),
            PatchOperation::Copy(copy) => {
                let source = size_at(doc, &copy.from).unwrap_or(0);
                copied = copied.saturating_add(source);
                if copied > MAX_COPIED_BYTES {
                    return Err(too_large(format!(
                        "the JSON patch copies more than {MAX_COPIED_BYTES} bytes in total \
                         (operation {index}, copy from {:?})",
                        copy.from.as_str()
                    )));
                }
                (
                    source + key_cost(&copy.path),
                    replaced_by_add(doc, &copy.path),
                )
            }
            PatchOperation::Test(_) => (0, 0),
        };
        let next = size.saturating_sub(shrink).saturating_add(grow);
        if next > MAX_OBJECT_BYTES {
            return Err(too_large(format!(
                "the patched object would be larger than the limit of {MAX_OBJECT_BYTES} bytes \
                 (operation {index}, {} at {:?})",
                op_name(op),
                op.path().as_str()
            )));
        }
        json_patch::patch_unsafe(doc, std::slice::from_ref(op)).map_err(|e| {
            ApiError::invalid(
                kind.name(),
                "",
                "patch",
                format!("operation {index} ({}): {}", op_name(op), e.kind),
            )
        })?;
        size = next;
    }
    Ok(size)
}

fn op_name(op: &PatchOperation) -> &'static str {
    match op {
        PatchOperation::Add(_) => "add",
        PatchOperation::Remove(_) => "remove",
        PatchOperation::Replace(_) => "replace",
        PatchOperation::Move(_) => "move",
        PatchOperation::Copy(_) => "copy",
        PatchOperation::Test(_) => "test",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ops(value: Value) -> Vec<PatchOperation> {
        match serde_json::from_value::<json_patch::Patch>(value) {
            Ok(p) => p.0,
            Err(e) => panic!("test patch does not parse: {e}"),
        }
    }

    #[test]
    fn self_copy_bomb_stops_before_the_limit() {
        let mut doc = json!({"a": {"s": "x".repeat(100_000)}});
        // Each copy of `/a` into a new key of itself doubles it.
        let bomb: Vec<Value> = (0..25)
            .map(|i| json!({"op": "copy", "from": "/a", "path": format!("/a/c{i}")}))
            .collect();
        let err = apply(Kind::Service, &mut doc, &ops(Value::Array(bomb))).err();
        assert_eq!(err.as_ref().map(|e| e.code), Some(413), "{err:?}");
        assert!(encoded_len(&doc) <= MAX_OBJECT_BYTES);
    }

    #[test]
    fn the_running_size_never_undercounts() {
        let mut doc = json!({"a": {"b": [1, 2, 3]}, "c": "yy"});
        let patch = ops(json!([
            {"op": "add", "path": "/a/b/-", "value": "zz"},
            {"op": "copy", "from": "/a", "path": "/d"},
            {"op": "move", "from": "/c", "path": "/a/e"},
            {"op": "replace", "path": "/d/b", "value": {"k": "v"}},
            {"op": "remove", "path": "/a/b/0"},
            {"op": "add", "path": "/a/b/0", "value": null},
            {"op": "test", "path": "/a/e", "value": "yy"},
        ]));
        for n in 1..=patch.len() {
            let mut partial = doc.clone();
            let bound = apply_counted(Kind::Service, &mut partial, &patch[..n]);
            let size = encoded_len(&partial);
            assert!(
                bound.as_ref().is_ok_and(|b| *b >= size),
                "{n}: {bound:?} < {size}"
            );
        }
        assert!(apply(Kind::Service, &mut doc, &patch).is_ok());
        assert_eq!(doc["d"]["b"], json!({"k": "v"}));
        assert_eq!(doc["a"]["b"], json!([null, 2, 3, "zz"]));
    }

    #[test]
    fn copies_add_up_to_a_bounded_total() {
        let mut doc = json!({"a": "x".repeat(1_000_000)});
        // Each copy is replaced by the next: the document stays small, the work does not.
        let patch: Vec<Value> = (0..4)
            .map(|_| json!({"op": "copy", "from": "/a", "path": "/b"}))
            .collect();
        let err = apply(Kind::Service, &mut doc, &ops(Value::Array(patch))).err();
        assert!(
            err.as_ref()
                .is_some_and(|e| e.code == 413 && e.message.contains("copies")),
            "{err:?}"
        );
    }

    #[test]
    fn a_failing_operation_names_its_index() {
        let mut doc = json!({"a": 1});
        let patch = ops(json!([
            {"op": "test", "path": "/a", "value": 1},
            {"op": "remove", "path": "/nope"},
        ]));
        let err = apply(Kind::Service, &mut doc, &patch).err();
        assert!(
            err.as_ref()
                .is_some_and(|e| e.code == 422 && e.message.contains("operation 1")),
            "{err:?}"
        );
    }
}
