//! Metadata an object may carry in bulk that no in-process reader needs: the server-side-apply
//! `managedFields` (a real API server sets them on every object, often larger than the object
//! itself) and `kubectl apply`'s last-applied copy of the whole object. Caches drop them before
//! they keep an object.

use kube::Resource;

/// The annotation `kubectl apply` keeps a whole copy of the object in.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops `managedFields` and the last-applied annotation; labels and the other annotations
/// stay (an object left with no annotation has none at all).
pub fn bulk_metadata<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
        if annotations.is_empty() {
            meta.annotations = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Service;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_trimmed_service_keeps_its_spec_labels_and_other_annotations() {
        let mut service: Service = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                "annotations": {LAST_APPLIED: "{}", "team": "a"},
                "managedFields": [{"manager": "kubectl"}]},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let spec = service.spec.clone();
        bulk_metadata(&mut service);
        assert_eq!(service.spec, spec);
        assert_eq!(service.metadata.managed_fields, None);
        assert_eq!(
            service.metadata.annotations,
            Some([("team".to_string(), "a".to_string())].into())
        );
        assert!(service.metadata.labels.is_some());
    }
}
