//! One task per probed Pod, and one timer per probe of its containers.
//!
//! Each probe has its own `tokio::time::interval` (first tick after a random jitter within one
//! period, so Pods added together do not probe together; missed ticks are skipped, so the
//! schedule never drifts or bunches), owns its [`ThresholdState`], and reports only published
//! changes to the Pod's task. The Pod's task folds them into a [`DesiredStatus`] and hands it
//! to the status writer. Readiness and liveness probes wait until the container has started
//! (its startup probe passed); a startup probe stops once it passed. A probe waits for a permit
//! of the agent-wide semaphore before it runs, so at most that many probes are in flight.
//!
//! Nothing can restart a container here: a failing liveness or startup probe is reported and
//! probing goes on, as it would on the restarted container.

use std::sync::Arc;
use std::time::Duration;

use cluster_watch::ObjectKey;
use k8s_openapi::api::core::v1::{Container, Pod};
use rand::Rng;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use crate::events::{EventSink, ProbeFailure};
use crate::metrics::Metrics;
use crate::probe::{Outcome, ProbeKind, Prober, Target, Timing};
use crate::status::{ContainerView, DesiredStatus};
use crate::threshold::{Published, ThresholdState};
use crate::writer::StatusSink;

/// What every worker shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub prober: Prober,
    pub permits: Arc<Semaphore>,
    pub metrics: Arc<Metrics>,
    pub events: EventSink,
    pub statuses: StatusSink,
}

/// The running worker of one Pod; dropping it stops the Pod's probes.
#[derive(Debug)]
pub(crate) struct PodWorker {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PodWorker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One probe of one container, ready to schedule.
#[derive(Debug, Clone)]
struct ProbePlan {
    container: usize,
    kind: ProbeKind,
    target: Result<Target, String>,
    timing: Timing,
}

/// A published change of one probe.
type Change = (usize, ProbeKind, Published);

/// The probe facts of a Pod that need a new worker when they change: uid, IP and, per
/// container, its name, ports and probes.
pub(crate) fn fingerprint(pod: &Pod) -> String {
    let containers: Vec<_> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .map(|c| {
            (
                &c.name,
                &c.ports,
                &c.readiness_probe,
                &c.liveness_probe,
                &c.startup_probe,
            )
        })
        .collect();
    let value = serde_json::json!([pod.metadata.uid, pod_ip(pod), containers]);
    value.to_string()
}

/// The Pod's IP (`status.podIP`).
pub(crate) fn pod_ip(pod: &Pod) -> Option<&str> {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .filter(|ip| !ip.is_empty())
}

/// Starts probing `pod` (which has an IP).
pub(crate) fn spawn(shared: Arc<Shared>, key: ObjectKey, pod: &Pod) -> PodWorker {
    let containers: Vec<Container> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    let ip = pod_ip(pod).unwrap_or_default().to_string();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let mut plans = Vec::new();
    let mut unsupported = Vec::new();
    for (index, container) in containers.iter().enumerate() {
        for kind in ProbeKind::ALL {
            let Some(probe) = kind.of(container) else {
                continue;
            };
            let target = Target::resolve(probe, container, &ip);
            if let Ok(Target::Unsupported(why)) = &target {
                unsupported.push(format!(
                    "container {}: {}: {}",
                    container.name,
                    kind.field(),
                    why.message()
                ));
            }
            plans.push(ProbePlan {
                container: index,
                kind,
                target,
                timing: Timing::of(probe),
            });
        }
    }
    let view = PodView::new(uid.clone(), &containers, unsupported);
    let started_at = started_at(pod);
    let task = tokio::spawn(run(shared, key, uid, view, plans, started_at));
    PodWorker { task }
}

/// When the Pod's containers started, as an `Instant` (the Pod's `startTime`, else now).
fn started_at(pod: &Pod) -> Instant {
    let now = Instant::now();
    let Some(start) = pod.status.as_ref().and_then(|s| s.start_time.as_ref()) else {
        return now;
    };
    let elapsed = jiff::Timestamp::now().duration_since(start.0);
    match Duration::try_from(elapsed) {
        Ok(elapsed) => now.checked_sub(elapsed).unwrap_or(now),
        Err(_) => now,
    }
}

async fn run(
    shared: Arc<Shared>,
    key: ObjectKey,
    uid: String,
    mut view: PodView,
    plans: Vec<ProbePlan>,
    started_at: Instant,
) {
    let (changes_tx, mut changes) = mpsc::channel::<Change>(plans.len().max(1) * 2);
    let (started_tx, started) = watch::channel(view.started());
    let mut probes = JoinSet::new();
    for plan in plans {
        let context = ProbeContext {
            shared: shared.clone(),
            key: key.clone(),
            uid: uid.clone(),
            container_name: view.containers[plan.container].name.clone(),
            started_at,
        };
        probes.spawn(probe_loop(
            context,
            plan,
            started.clone(),
            changes_tx.clone(),
        ));
    }
    drop(changes_tx);
    shared.statuses.submit(key.clone(), view.desired());
    while let Some((container, kind, value)) = changes.recv().await {
        view.apply(container, kind, value);
        started_tx.send_if_modified(|s| {
            let now = view.started();
            let changed = *s != now;
            *s = now;
            changed
        });
        shared.statuses.submit(key.clone(), view.desired());
    }
}

struct ProbeContext {
    shared: Arc<Shared>,
    key: ObjectKey,
    uid: String,
    container_name: String,
    started_at: Instant,
}

async fn probe_loop(
    context: ProbeContext,
    plan: ProbePlan,
    started: watch::Receiver<Vec<bool>>,
    changes: mpsc::Sender<Change>,
) {
    let timing = plan.timing;
    let jitter = timing.period.mul_f64(rand::rng().random::<f64>());
    let mut ticker = tokio::time::interval_at(Instant::now() + jitter, timing.period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut state = ThresholdState::new(
        plan.kind,
        timing.success_threshold,
        timing.failure_threshold,
    );
    let shared = &context.shared;
    loop {
        ticker.tick().await;
        let has_started = started
            .borrow()
            .get(plan.container)
            .copied()
            .unwrap_or(false);
        if plan.kind != ProbeKind::Startup && !has_started {
            continue;
        }
        if Instant::now() < context.started_at + timing.initial_delay {
            continue;
        }
        let outcome = match &plan.target {
            Ok(target) => {
                let Ok(_permit) = shared.permits.acquire().await else {
                    return;
                };
                let begun = Instant::now();
                let outcome = shared.prober.run(target, timing.timeout).await;
                shared.metrics.probed(plan.kind, &outcome, begun.elapsed());
                outcome
            }
            Err(reason) => {
                let outcome = Outcome::Unknown(reason.clone());
                shared.metrics.probed(plan.kind, &outcome, Duration::ZERO);
                outcome
            }
        };
        match &outcome {
            Outcome::Failure(message) => shared.events.failed(ProbeFailure {
                namespace: context.key.namespace.clone(),
                pod: context.key.name.clone(),
                uid: context.uid.clone(),
                container: context.container_name.clone(),
                kind: plan.kind,
                message: message.clone(),
            }),
            Outcome::Unknown(reason) => {
                tracing::debug!(pod = %context.key, container = %context.container_name,
                    probe = plan.kind.label(), %reason, "probe could not run");
            }
            Outcome::Success => {}
        }
        if let Some(value) = state.observe(&outcome)
            && changes
                .send((plan.container, plan.kind, value))
                .await
                .is_err()
        {
            return;
        }
        if plan.kind == ProbeKind::Startup && state.published() == Published::Success {
            return;
        }
    }
}

/// What the Pod's task knows of its containers' probes. Pure.
#[derive(Debug, Clone)]
pub(crate) struct PodView {
    uid: String,
    containers: Vec<ContainerState>,
    unsupported: Vec<String>,
}

#[derive(Debug, Clone)]
struct ContainerState {
    name: String,
    /// `None`: no startup probe.
    startup: Option<Published>,
    /// `None`: no readiness probe.
    readiness: Option<Published>,
}

impl PodView {
    /// The view before any probe ran: kubelet's initial results.
    pub(crate) fn new(uid: String, containers: &[Container], unsupported: Vec<String>) -> PodView {
        PodView {
            uid,
            containers: containers
                .iter()
                .map(|c| ContainerState {
                    name: c.name.clone(),
                    startup: c.startup_probe.as_ref().map(|_| Published::Unknown),
                    readiness: c.readiness_probe.as_ref().map(|_| Published::Failure),
                })
                .collect(),
            unsupported,
        }
    }

    /// Records a probe's newly published result.
    pub(crate) fn apply(&mut self, container: usize, kind: ProbeKind, value: Published) {
        let Some(state) = self.containers.get_mut(container) else {
            return;
        };
        match kind {
            ProbeKind::Startup => state.startup = Some(value),
            ProbeKind::Readiness => state.readiness = Some(value),
            ProbeKind::Liveness => {}
        }
    }

    /// Per container: started (no startup probe, or it passed).
    pub(crate) fn started(&self) -> Vec<bool> {
        self.containers
            .iter()
            .map(|c| matches!(c.startup, None | Some(Published::Success)))
            .collect()
    }

    /// The status these results call for.
    pub(crate) fn desired(&self) -> DesiredStatus {
        DesiredStatus {
            uid: self.uid.clone(),
            containers: self
                .containers
                .iter()
                .map(|c| {
                    let started = matches!(c.startup, None | Some(Published::Success));
                    let passing = matches!(c.readiness, None | Some(Published::Success));
                    ContainerView {
                        name: c.name.clone(),
                        started,
                        ready: started && passing,
                    }
                })
                .collect(),
            unsupported: self.unsupported.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
