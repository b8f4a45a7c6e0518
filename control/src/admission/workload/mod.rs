//! Workload admission: the kinds that run Pods from a template (ReplicationController,
//! ReplicaSet, Deployment, StatefulSet, DaemonSet, Job, CronJob) and the two that point at
//! them (HorizontalPodAutoscaler, PodDisruptionBudget).
//!
//! What is checked is what users meet first with kube-apiserver: `replicas` not negative, a
//! selector that is present, not empty and matches the template's labels (a
//! ReplicationController without one takes the template's labels, as v1 defaulting does), the
//! template's pod spec checked and defaulted as a Pod's ([`super::pod::check_pod_spec`]), the
//! restart policy each kind allows, and the apps/v1 defaults. This module only validates and
//! defaults; it never reads the store and never creates Pods (that is a controller's job).

mod apps;
mod other;
mod template;

use super::AdmissionError;
use super::field::Causes;
use crate::object::Object;

/// Validates and defaults a workload object (`old` on updates). Kinds without checks pass.
pub(super) fn admit(obj: &mut Object, old: Option<&Object>) -> Result<(), AdmissionError> {
    let kind = obj.kind().name();
    let name = obj.name().to_string();
    let mut c = Causes::default();
    match obj {
        Object::ReplicationController(rc) => apps::replication_controller(rc, old, &mut c),
        Object::ReplicaSet(rs) => apps::replica_set(rs, old, &mut c),
        Object::Deployment(d) => apps::deployment(d, old, &mut c),
        Object::StatefulSet(s) => apps::stateful_set(s, old, &mut c),
        Object::DaemonSet(d) => apps::daemon_set(d, old, &mut c),
        Object::Job(j) => other::job(j, old, &mut c),
        Object::CronJob(j) => other::cron_job(j, old, &mut c),
        Object::HorizontalPodAutoscaler(h) => other::autoscaler(h, &mut c),
        Object::PodDisruptionBudget(p) => other::disruption_budget(p, &mut c),
        _ => {}
    }
    c.finish(kind, &name)
}

#[cfg(test)]
mod tests;
