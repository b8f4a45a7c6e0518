//! Namespace admission: defaults `status.phase` to `Active`. Names are checked by the store's
//! metadata validation; nothing is allocated.

use k8s_openapi::api::core::v1::{Namespace, NamespaceStatus};

/// Defaults a Namespace.
pub(super) fn admit(ns: &mut Namespace) {
    let status = ns.status.get_or_insert_with(NamespaceStatus::default);
    status.phase.get_or_insert_with(|| "Active".to_string());
}
