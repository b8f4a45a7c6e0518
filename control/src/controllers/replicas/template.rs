//! The Pod an owner creates from its template, as kube-controller-manager makes it: named by
//! the API from `generateName: <owner>-`, in the owner's namespace, with the template's labels,
//! annotations and finalizers, the template's spec, and the owner's controller ownerReference.
//! Pure; the runner POSTs it.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::owner::Owner;

/// The Pod `owner` creates.
pub fn pod_for(owner: &Owner) -> Pod {
    let meta = owner.template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", owner.key.name)),
            namespace: Some(owner.key.namespace.clone()),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![owner.controller_ref()]),
            ..ObjectMeta::default()
        },
        spec: owner.template.spec.clone(),
        status: None,
    }
}
