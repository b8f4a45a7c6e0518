//! batch/v1 Job and CronJob, autoscaling/v2 HorizontalPodAutoscaler and policy/v1
//! PodDisruptionBudget, validated minimally: the fields without which the object means
//! nothing, and the defaults kube-apiserver writes. A Job's selector is not generated here
//! (upstream labels the template with the Job's uid); a Job without one is stored as sent.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job, JobSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;

use super::Causes;
use super::template::{non_negative, pod_template};
use crate::object::Object;

const JOB_RESTART: &[&str] = &["OnFailure", "Never"];

/// A Job's spec at `prefix` (`spec`, or `spec.jobTemplate.spec` in a CronJob).
fn job_spec(spec: &mut JobSpec, old: Option<&PodTemplateSpec>, prefix: &str, c: &mut Causes) {
    if spec.completions.is_none() && spec.parallelism.is_none() {
        spec.completions = Some(1);
        spec.parallelism = Some(1);
    }
    spec.parallelism.get_or_insert(1);
    spec.backoff_limit.get_or_insert(6);
    spec.completion_mode
        .get_or_insert_with(|| "NonIndexed".to_string());
    spec.suspend.get_or_insert(false);
    non_negative(&format!("{prefix}.parallelism"), spec.parallelism, c);
    non_negative(&format!("{prefix}.completions"), spec.completions, c);
    non_negative(&format!("{prefix}.backoffLimit"), spec.backoff_limit, c);
    pod_template(Some(&mut spec.template), old, prefix, JOB_RESTART, c);
    let restart = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref());
    if restart.is_none() {
        c.required(
            &format!("{prefix}.template.spec.restartPolicy"),
            "supported values: \"OnFailure\", \"Never\"",
        );
    }
}

/// batch/v1 Job.
pub(super) fn job(j: &mut Job, old: Option<&Object>, c: &mut Causes) {
    let old = match old {
        Some(Object::Job(o)) => o.spec.as_ref().map(|s| &s.template),
        _ => None,
    };
    match j.spec.as_mut() {
        Some(spec) => job_spec(spec, old, "spec", c),
        None => c.required("spec.template", ""),
    }
}

/// batch/v1 CronJob: a schedule, a job template, and the history defaults.
pub(super) fn cron_job(j: &mut CronJob, old: Option<&Object>, c: &mut Causes) {
    let old = match old {
        Some(Object::CronJob(o)) => o
            .spec
            .as_ref()
            .and_then(|s| s.job_template.spec.as_ref())
            .map(|s| &s.template),
        _ => None,
    };
    let Some(spec) = j.spec.as_mut() else {
        c.required("spec.schedule", "");
        return;
    };
    if spec.schedule.trim().is_empty() {
        c.required("spec.schedule", "");
    }
    let policy = spec
        .concurrency_policy
        .get_or_insert_with(|| "Allow".to_string());
    if !matches!(policy.as_str(), "Allow" | "Forbid" | "Replace") {
        c.not_supported(
            "spec.concurrencyPolicy",
            policy,
            &["Allow", "Forbid", "Replace"],
        );
    }
    spec.suspend.get_or_insert(false);
    spec.successful_jobs_history_limit.get_or_insert(3);
    spec.failed_jobs_history_limit.get_or_insert(1);
    non_negative(
        "spec.successfulJobsHistoryLimit",
        spec.successful_jobs_history_limit,
        c,
    );
    non_negative(
        "spec.failedJobsHistoryLimit",
        spec.failed_jobs_history_limit,
        c,
    );
    match spec.job_template.spec.as_mut() {
        Some(job) => job_spec(job, old, "spec.jobTemplate.spec", c),
        None => c.required("spec.jobTemplate.spec.template", ""),
    }
}

/// autoscaling/v2 HorizontalPodAutoscaler: a target, `minReplicas` (default 1) at least 1 and
/// at most `maxReplicas`.
pub(super) fn autoscaler(h: &mut HorizontalPodAutoscaler, c: &mut Causes) {
    let Some(spec) = h.spec.as_mut() else {
        c.required("spec.scaleTargetRef", "");
        return;
    };
    if spec.scale_target_ref.kind.is_empty() {
        c.required("spec.scaleTargetRef.kind", "");
    }
    if spec.scale_target_ref.name.is_empty() {
        c.required("spec.scaleTargetRef.name", "");
    }
    let min = *spec.min_replicas.get_or_insert(1);
    if min < 1 {
        c.invalid(
            "spec.minReplicas",
            &min,
            "must be greater than or equal to 1",
        );
    }
    if spec.max_replicas < 1 {
        c.invalid(
            "spec.maxReplicas",
            &spec.max_replicas,
            "must be greater than 0",
        );
    } else if spec.max_replicas < min {
        c.invalid(
            "spec.maxReplicas",
            &spec.max_replicas,
            "must be greater than or equal to `minReplicas`",
        );
    }
}

/// policy/v1 PodDisruptionBudget: at most one of `minAvailable` and `maxUnavailable`.
pub(super) fn disruption_budget(p: &mut PodDisruptionBudget, c: &mut Causes) {
    if let Some(spec) = &p.spec
        && spec.min_available.is_some()
        && spec.max_unavailable.is_some()
    {
        c.invalid(
            "spec",
            &"minAvailable and maxUnavailable",
            "minAvailable and maxUnavailable cannot be both set",
        );
    }
}
