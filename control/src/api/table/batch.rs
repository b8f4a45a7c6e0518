//! Batch rows, with kube-apiserver's columns: Job `NAME STATUS COMPLETIONS DURATION AGE`
//! (`-o wide`: `CONTAINERS IMAGES SELECTOR`), CronJob `NAME SCHEDULE TIMEZONE SUSPEND ACTIVE
//! LAST SCHEDULE AGE` (`-o wide`: `CONTAINERS IMAGES SELECTOR`).

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};

use super::workload::{CONTAINERS, IMAGES, SELECTOR, label_selector, template_cells};
use super::{Column, col, human_duration, int};

/// Job columns.
pub(super) const JOB_COLUMNS: [Column; 6] = [
    col("Status", 0, "Status of the job."),
    col(
        "Completions",
        0,
        "The number of succeeded pods of the desired completions.",
    ),
    col(
        "Duration",
        0,
        "Time the job took (or has been running) to complete.",
    ),
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

/// CronJob columns.
pub(super) const CRON_JOB_COLUMNS: [Column; 8] = [
    col("Schedule", 0, "The schedule in Cron format."),
    col("Timezone", 0, "The time zone of the schedule."),
    col("Suspend", 0, "Whether later executions are suspended."),
    int("Active", "The number of running jobs."),
    col("Last Schedule", 0, "When the job was last scheduled."),
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

fn seconds_between(from: &Time, to: jiff::Timestamp) -> i64 {
    to.as_second() - from.0.as_second()
}

/// A Job's status word, first match wins, as kubectl shows it.
fn job_status(job: &Job) -> &'static str {
    let has = |kind: &str| {
        job.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == kind && c.status == "True"))
    };
    if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if job.metadata.deletion_timestamp.is_some() {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else if has("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

/// A Job's cells.
pub(super) fn job_cells(job: &Job, now: jiff::Timestamp) -> (Vec<Value>, Vec<Value>) {
    let spec = job.spec.as_ref();
    let status = job.status.as_ref();
    let succeeded = status.and_then(|s| s.succeeded).unwrap_or(0);
    let completions = match spec.and_then(|s| s.completions) {
        Some(n) => format!("{succeeded}/{n}"),
        None => match spec.and_then(|s| s.parallelism).unwrap_or(0) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (
        status.and_then(|s| s.start_time.as_ref()),
        status.and_then(|s| s.completion_time.as_ref()),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(seconds_between(start, now)),
        (Some(start), Some(done)) => human_duration(seconds_between(start, done.0)),
    };
    let main = vec![
        Value::String(job_status(job).to_string()),
        Value::String(completions),
        Value::String(duration),
    ];
    let mut wide = template_cells(spec.map(|s| &s.template));
    wide.push(Value::String(label_selector(
        spec.and_then(|s| s.selector.as_ref()),
    )));
    (main, wide)
}

/// A CronJob's cells.
pub(super) fn cron_job_cells(cron: &CronJob, now: jiff::Timestamp) -> (Vec<Value>, Vec<Value>) {
    let spec = cron.spec.as_ref();
    let status = cron.status.as_ref();
    let last = status
        .and_then(|s| s.last_schedule_time.as_ref())
        .map_or_else(
            || "<none>".to_string(),
            |t| human_duration(seconds_between(t, now)),
        );
    let main = vec![
        Value::String(spec.map(|s| s.schedule.clone()).unwrap_or_default()),
        Value::String(
            spec.and_then(|s| s.time_zone.clone())
                .unwrap_or_else(|| "<none>".to_string()),
        ),
        Value::String(
            if spec.and_then(|s| s.suspend).unwrap_or(false) {
                "True"
            } else {
                "False"
            }
            .to_string(),
        ),
        json!(status.and_then(|s| s.active.as_ref()).map_or(0, Vec::len)),
        Value::String(last),
    ];
    let template = spec
        .and_then(|s| s.job_template.spec.as_ref())
        .map(|s| &s.template);
    let mut wide = template_cells(template);
    wide.push(Value::String(label_selector(
        spec.and_then(|s| s.job_template.spec.as_ref())
            .and_then(|s| s.selector.as_ref()),
    )));
    (main, wide)
}
