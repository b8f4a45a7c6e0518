//! The checks every workload shares: replica counts, selectors against template labels, and
//! the pod template itself.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::Causes;
use crate::admission::pod::check_pod_spec;
use crate::selector::Selector;

/// `<path>` must not be negative.
pub(super) fn non_negative(path: &str, value: Option<i32>, c: &mut Causes) {
    if let Some(v) = value
        && v < 0
    {
        c.invalid(path, &v, "must be greater than or equal to 0");
    }
}

/// An apps/v1 `spec.selector`: present, not empty, valid, and matching the template's labels.
pub(super) fn label_selector(
    selector: Option<&LabelSelector>,
    template: Option<&PodTemplateSpec>,
    prefix: &str,
    c: &mut Causes,
) {
    let path = format!("{prefix}.selector");
    let Some(selector) = selector else {
        c.required(&path, "");
        return;
    };
    let empty = selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty);
    if empty {
        // kube-apiserver words it this way for every apps/v1 kind.
        c.invalid(&path, selector, "empty selector is invalid for deployment");
        return;
    }
    match Selector::from_label_selector(selector) {
        Err(e) => c.invalid(
            &path,
            selector,
            format!("invalid label selector: {}", e.reason),
        ),
        Ok(compiled) => matches_template(&compiled, template, prefix, c),
    }
}

/// A v1 ReplicationController's map selector: not empty, matching the template's labels.
pub(super) fn map_selector(
    selector: Option<&BTreeMap<String, String>>,
    template: Option<&PodTemplateSpec>,
    prefix: &str,
    c: &mut Causes,
) {
    let path = format!("{prefix}.selector");
    match selector.filter(|s| !s.is_empty()) {
        None => c.required(&path, ""),
        Some(map) => matches_template(&Selector::from_map(map), template, prefix, c),
    }
}

fn matches_template(
    selector: &Selector,
    template: Option<&PodTemplateSpec>,
    prefix: &str,
    c: &mut Causes,
) {
    let Some(template) = template else {
        return;
    };
    let labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    if !selector.matches(&labels) {
        c.invalid(
            &format!("{prefix}.template.metadata.labels"),
            &labels,
            "`selector` does not match template `labels`",
        );
    }
}

/// The pod template at `<prefix>.template`: present, its pod spec checked and defaulted as a
/// Pod's, its restart policy one of `allowed` (when set).
pub(super) fn pod_template(
    template: Option<&mut PodTemplateSpec>,
    old: Option<&PodTemplateSpec>,
    prefix: &str,
    allowed: &[&str],
    c: &mut Causes,
) {
    let path = format!("{prefix}.template");
    let Some(template) = template else {
        c.required(&path, "");
        return;
    };
    let spec_path = format!("{path}.spec");
    let Some(spec) = template.spec.as_mut() else {
        c.required(&format!("{spec_path}.containers"), "");
        return;
    };
    check_pod_spec(spec, old.and_then(|o| o.spec.as_ref()), &spec_path, c);
    if let Some(policy) = spec.restart_policy.as_deref()
        && !allowed.contains(&policy)
    {
        c.not_supported(&format!("{spec_path}.restartPolicy"), policy, allowed);
    }
}
