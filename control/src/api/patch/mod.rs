//! PATCH bodies: JSON Patch (RFC 6902), JSON Merge Patch (RFC 7386) and strategic merge
//! patch, applied to the stored object's JSON. Server-side apply is refused with 415.
//!
//! Every patch is bounded: a JSON Patch has at most [`MAX_JSON_PATCH_OPS`] operations, and no
//! patch may make the object's encoded JSON larger than [`MAX_OBJECT_BYTES`] (413
//! RequestEntityTooLarge, as kube-apiserver answers both). A JSON Patch is checked operation by
//! operation, before the operation allocates.
//!
//! Pure functions over JSON values; the API applies them outside the store writer and the
//! writer re-applies them only when the object changed meanwhile.

mod json;
mod strategic;

use serde_json::Value;

use crate::error::ApiError;
use crate::object::Kind;

/// The most operations one JSON Patch may hold (kube-apiserver's limit).
pub(crate) const MAX_JSON_PATCH_OPS: usize = 10_000;

/// The largest encoded JSON a patch may produce: 3 MiB, Kubernetes' request size limit.
pub(crate) const MAX_OBJECT_BYTES: usize = 3 * 1024 * 1024;

/// The most bytes the `copy` operations of one JSON Patch may copy in total: copying is the
/// only way a small patch makes the server do work out of proportion to its size.
pub(crate) const MAX_COPIED_BYTES: usize = MAX_OBJECT_BYTES;

/// 413 RequestEntityTooLarge with `message`.
pub(crate) fn too_large(message: impl Into<String>) -> ApiError {
    ApiError {
        code: 413,
        reason: "RequestEntityTooLarge",
        message: message.into(),
        causes: Vec::new(),
        details: None,
    }
}

/// The length of `value` encoded as compact JSON, counted without building the text.
pub(crate) fn encoded_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        // A `Value` always encodes; should it not, count it as too large rather than small.
        Err(_) => usize::MAX,
    }
}

/// The kinds of PATCH body accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchType {
    /// `application/json-patch+json`.
    Json,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
}

impl PatchType {
    /// The patch type for a `Content-Type`; 415 for anything else.
    pub(crate) fn from_media_type(media: &str) -> Result<PatchType, ApiError> {
        match media {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Err(ApiError::unsupported_media_type(
                    "server-side apply (application/apply-patch+yaml) is not supported by this \
                     server: use client-side `kubectl apply` (without --server-side), or a \
                     strategic-merge or merge patch",
                ))
            }
            other => Err(ApiError::unsupported_media_type(format!(
                "the patch media type {other:?} is not supported: use \
                 application/json-patch+json, application/merge-patch+json or \
                 application/strategic-merge-patch+json"
            ))),
        }
    }
}

/// A decoded and checked PATCH body, ready to apply to any version of the object.
#[derive(Debug, Clone)]
pub(crate) enum Patch {
    /// JSON Patch operations (at most [`MAX_JSON_PATCH_OPS`]).
    Json(Vec<json_patch::PatchOperation>),
    /// A JSON merge patch (an object).
    Merge(Value),
    /// A strategic merge patch (an object).
    Strategic(Value),
}

impl Patch {
    /// Decodes `body` as a patch of type `kind_of_patch`: 400 when it is not valid JSON of the
    /// right shape, 413 when a JSON Patch has more than [`MAX_JSON_PATCH_OPS`] operations.
    /// Returns the patch with the paths of the keys a merge or strategic patch repeats (the
    /// last one is applied), for field validation.
    pub(crate) fn parse(
        kind_of_patch: PatchType,
        body: &[u8],
    ) -> Result<(Patch, Vec<String>), ApiError> {
        let (patch, duplicate) = super::fields::parse_json(body)
            .map_err(|e| ApiError::bad_request(format!("the patch is not valid JSON: {e}")))?;
        let patch = Patch::checked(kind_of_patch, patch)?;
        let duplicate = match patch {
            Patch::Json(_) => Vec::new(),
            Patch::Merge(_) | Patch::Strategic(_) => duplicate,
        };
        Ok((patch, duplicate))
    }

    fn checked(kind_of_patch: PatchType, patch: Value) -> Result<Patch, ApiError> {
        match kind_of_patch {
            PatchType::Json => {
                if let Some(ops) = patch.as_array()
                    && ops.len() > MAX_JSON_PATCH_OPS
                {
                    return Err(too_large(format!(
                        "The allowed maximum operations in a JSON patch is \
                         {MAX_JSON_PATCH_OPS}, got {}",
                        ops.len()
                    )));
                }
                let ops: json_patch::Patch = serde_json::from_value(patch).map_err(|e| {
                    ApiError::bad_request(format!(
                        "the JSON patch is not a list of operations: {e}"
                    ))
                })?;
                Ok(Patch::Json(ops.0))
            }
            PatchType::Merge if !patch.is_object() => {
                Err(ApiError::bad_request("a merge patch must be a JSON object"))
            }
            PatchType::Merge => Ok(Patch::Merge(patch)),
            PatchType::Strategic => Ok(Patch::Strategic(patch)),
        }
    }

    /// Applies the patch to `doc` (a `kind` object's JSON) and returns the result; 413 when
    /// the result would be larger than [`MAX_OBJECT_BYTES`] encoded.
    pub(crate) fn apply(&self, kind: Kind, mut doc: Value) -> Result<Value, ApiError> {
        match self {
            Patch::Json(ops) => json::apply(kind, &mut doc, ops)?,
            Patch::Merge(patch) => {
                json_patch::merge(&mut doc, patch);
                check_size(&doc)?;
            }
            Patch::Strategic(patch) => {
                strategic::apply(kind, &mut doc, patch)?;
                check_size(&doc)?;
            }
        }
        Ok(doc)
    }
}

/// 413 when `doc` encodes to more than [`MAX_OBJECT_BYTES`]. A merge result is at most the
/// stored object plus the patch body, so it is checked once, after merging.
fn check_size(doc: &Value) -> Result<(), ApiError> {
    let size = encoded_len(doc);
    if size > MAX_OBJECT_BYTES {
        return Err(too_large(format!(
            "the patched object would be {size} bytes, larger than the limit of \
             {MAX_OBJECT_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Applies `body` (a patch of type `kind_of_patch`) to `doc` and returns the result.
#[cfg(test)]
pub(crate) fn apply(
    kind: Kind,
    kind_of_patch: PatchType,
    doc: Value,
    body: &[u8],
) -> Result<Value, ApiError> {
    Patch::parse(kind_of_patch, body)?.0.apply(kind, doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_and_merge_patch_apply() {
        let doc = json!({"metadata": {"name": "a", "labels": {"x": "1"}}});
        let out = apply(
            Kind::Service,
            PatchType::Json,
            doc.clone(),
            br#"[{"op": "add", "path": "/metadata/labels/y", "value": "2"}]"#,
        )
        .unwrap_or_default();
        assert_eq!(out["metadata"]["labels"]["y"], "2");
        let out = apply(
            Kind::Service,
            PatchType::Merge,
            doc,
            br#"{"metadata": {"labels": {"x": null}}}"#,
        )
        .unwrap_or_default();
        assert_eq!(out["metadata"]["labels"], json!({}));
    }

    #[test]
    fn failing_json_patch_test_op_is_rejected() {
        let doc = json!({"a": 1});
        let err = apply(
            Kind::Service,
            PatchType::Json,
            doc,
            br#"[{"op": "test", "path": "/a", "value": 2}]"#,
        );
        assert!(err.is_err());
        assert!(PatchType::from_media_type("application/apply-patch+yaml").is_err());
    }

    #[test]
    fn too_many_operations_are_refused_before_applying() {
        let ops: Vec<Value> = (0..=MAX_JSON_PATCH_OPS)
            .map(|_| json!({"op": "test", "path": "/a", "value": 1}))
            .collect();
        let body = serde_json::to_vec(&ops).unwrap_or_default();
        let err = Patch::parse(PatchType::Json, &body).err();
        assert_eq!(err.as_ref().map(|e| e.code), Some(413), "{err:?}");
        assert!(err.is_some_and(|e| e.message.contains("10000")));
    }

    #[test]
    fn merge_results_over_the_limit_are_refused() {
        let doc = json!({"metadata": {"name": "a"}});
        let big = "x".repeat(MAX_OBJECT_BYTES);
        let body = serde_json::to_vec(&json!({"metadata": {"annotations": {"a": big}}}))
            .unwrap_or_default();
        for kind_of_patch in [PatchType::Merge, PatchType::Strategic] {
            let err = apply(Kind::Service, kind_of_patch, doc.clone(), &body).err();
            assert_eq!(err.map(|e| e.reason), Some("RequestEntityTooLarge"));
        }
    }

    #[test]
    fn encoded_len_matches_serialization() {
        let v = json!({"a": [1, "two", null, {"b": "\u{1}é"}]});
        assert_eq!(
            encoded_len(&v),
            serde_json::to_vec(&v).map(|b| b.len()).unwrap_or(0)
        );
    }
}
