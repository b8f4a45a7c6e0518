//! PATCH bodies: JSON Patch (RFC 6902), JSON Merge Patch (RFC 7386) and strategic merge
//! patch, applied to the stored object's JSON. Server-side apply is refused with 415.
//!
//! Pure functions over JSON values; the writer runs them against the newest stored object.

mod strategic;

use serde_json::Value;

use crate::error::ApiError;
use crate::object::Kind;

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

/// Applies `body` (a patch of type `kind_of_patch`) to `doc` and returns the result.
pub(crate) fn apply(
    kind: Kind,
    kind_of_patch: PatchType,
    mut doc: Value,
    body: &[u8],
) -> Result<Value, ApiError> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the patch is not valid JSON: {e}")))?;
    match kind_of_patch {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch).map_err(|e| {
                ApiError::bad_request(format!("the JSON patch is not a list of operations: {e}"))
            })?;
            json_patch::patch(&mut doc, &ops)
                .map_err(|e| ApiError::invalid(kind.name(), "", "patch", e.to_string()))?;
        }
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            json_patch::merge(&mut doc, &patch);
        }
        PatchType::Strategic => strategic::apply(kind, &mut doc, &patch)?,
    }
    Ok(doc)
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
}
