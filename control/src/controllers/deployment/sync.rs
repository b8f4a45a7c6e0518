//! One Deployment's reconcile, in kube-controller-manager's order: claim its ReplicaSets,
//! find (or create) the ReplicaSet of the current template and sync the revision annotations,
//! then either scale (paused, or `spec.replicas` changed) or take one rollout step (rolling
//! update or recreate), clean up old history, and write the status when it changed. The
//! decisions come from the pure modules; this file only sequences them and writes through the
//! API. Every write carries the `resourceVersion` it was computed from, so a stale cache ends
//! in a conflict and a retry, never in a write over newer state.

use cluster_watch::status_code;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};

use super::claim::{Claim, adopted, claim, controller_of, owner_reference, released};
use super::hash::{equal_ignoring_hash, pod_template_hash, with_hash};
use super::revision::{
    max_revision, replicas_annotations_need_update, set_deployment_revision,
    set_new_rs_annotations, set_replicas_annotations,
};
use super::rolling::{is_rolling, max_surge, new_rs_replicas, new_rs_target, old_rs_targets};
use super::status::{
    FOUND_NEW_RS, NEW_RS_CREATED, PROGRESSING, calculate, deployment_condition,
    has_progress_deadline, is_complete, new_condition, pause_condition, recheck_at, rollout,
    set_condition,
};
use super::{
    POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION, desired_replicas, history, rs_replicas, scaling,
};
use crate::selector::Selector;

/// Why one sync failed; the runner retries the Deployment.
#[derive(Debug, thiserror::Error)]
pub(super) enum SyncError {
    /// A write through the API failed.
    #[error("{verb} {kind} {namespace}/{name}: {source}")]
    Write {
        verb: &'static str,
        kind: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    /// The new ReplicaSet's name is taken by another template; `collisionCount` was raised.
    #[error("ReplicaSet {name} exists with another pod template; collisionCount raised")]
    HashCollision { name: String },
}

impl SyncError {
    /// Whether the write met newer state (409): the cache catches up and the retry is quick.
    pub(super) fn is_conflict(&self) -> bool {
        match self {
            SyncError::Write { source, .. } => status_code(source) == Some(409),
            SyncError::HashCollision { .. } => true,
        }
    }
}

/// What the runner does with the Deployment after a successful sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Nothing until the next event.
    Done,
    /// Look again at this time: the progress deadline of a rollout in progress.
    RecheckAt(jiff::Timestamp),
}

fn created(rs: &ReplicaSet) -> (Option<jiff::Timestamp>, Option<String>) {
    (
        rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
        rs.metadata.name.clone(),
    )
}

/// One sync of one Deployment: the API handles and the Deployment as last written.
struct Step {
    deployments: Api<Deployment>,
    sets: Api<ReplicaSet>,
    namespace: String,
    d: Deployment,
    now: Time,
}

/// Reconciles `d` against the ReplicaSets of its namespace (`sets`, from the cache).
pub(super) async fn sync(
    client: &Client,
    d: &Deployment,
    sets: Vec<ReplicaSet>,
    now: Time,
) -> Result<Outcome, SyncError> {
    let namespace = d.namespace().unwrap_or_default();
    if d.spec.is_none() {
        return Ok(Outcome::Done);
    }
    let mut step = Step {
        deployments: Api::namespaced(client.clone(), &namespace),
        sets: Api::namespaced(client.clone(), &namespace),
        namespace,
        d: d.clone(),
        now,
    };
    let owned = step.claim_all(sets).await?;
    if step.d.metadata.deletion_timestamp.is_some() {
        let (new, olds) = step.new_and_old(owned, false).await?;
        return step.finish_plain(new.as_ref(), &olds).await;
    }
    if let Some(c) = pause_condition(&step.d, &step.now) {
        let mut status = step.d.status.clone().unwrap_or_default();
        set_condition(&mut status, c);
        step.write_status(status).await?;
    }
    let paused = step.spec_flag(|s| s.paused);
    let refs: Vec<&ReplicaSet> = owned.iter().collect();
    if paused || scaling::is_scaling_event(&step.d, &refs) {
        return step.scale_only(owned, paused).await;
    }
    if is_rolling(&step.d) {
        step.rolling(owned).await
    } else {
        step.recreate(owned).await
    }
}

impl Step {
    fn name(&self) -> String {
        self.d.metadata.name.clone().unwrap_or_default()
    }

    fn spec_flag(
        &self,
        f: impl Fn(&k8s_openapi::api::apps::v1::DeploymentSpec) -> Option<bool>,
    ) -> bool {
        self.d.spec.as_ref().and_then(f).unwrap_or(false)
    }

    fn template(&self) -> PodTemplateSpec {
        self.d
            .spec
            .as_ref()
            .map(|s| s.template.clone())
            .unwrap_or_default()
    }

    fn error(
        &self,
        verb: &'static str,
        kind: &'static str,
        name: &str,
        source: kube::Error,
    ) -> SyncError {
        SyncError::Write {
            verb,
            kind,
            namespace: self.namespace.clone(),
            name: name.to_string(),
            source,
        }
    }

    /// Sorts the namespace's ReplicaSets into the Deployment's (oldest first), adopting and
    /// releasing as the selector says.
    async fn claim_all(&mut self, sets: Vec<ReplicaSet>) -> Result<Vec<ReplicaSet>, SyncError> {
        let selector = self
            .d
            .spec
            .as_ref()
            .map(|s| Selector::from_label_selector(&s.selector));
        let selector = match selector {
            Some(Ok(s)) => s,
            Some(Err(error)) => {
                tracing::warn!(deployment = %self.name(), %error, "invalid selector; no ReplicaSets claimed");
                return Ok(Vec::new());
            }
            None => return Ok(Vec::new()),
        };
        let mut owned = Vec::new();
        for rs in sets {
            match claim(&self.d, &selector, &rs) {
                Claim::Owned => owned.push(rs),
                Claim::Adopt => {
                    let rs = self.replace_rs(&adopted(&self.d, &rs)).await?;
                    tracing::info!(deployment = %self.name(), replicaset = %rs.name_any(), "adopted");
                    owned.push(rs);
                }
                Claim::Release => {
                    self.replace_rs(&released(&self.d, &rs)).await?;
                    tracing::info!(deployment = %self.name(), replicaset = %rs.name_any(), "released");
                }
                Claim::Ignore => {}
            }
        }
        owned.sort_by_key(created);
        Ok(owned)
    }

    async fn replace_rs(&self, rs: &ReplicaSet) -> Result<ReplicaSet, SyncError> {
        let name = rs.name_any();
        self.sets
            .replace(&name, &PostParams::default(), rs)
            .await
            .map_err(|e| self.error("update", "ReplicaSet", &name, e))
    }

    /// Writes `status` when it differs from the stored one.
    async fn write_status(&mut self, status: DeploymentStatus) -> Result<(), SyncError> {
        if self.d.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let mut next = self.d.clone();
        next.status = Some(status);
        let name = self.name();
        self.d = self
            .deployments
            .replace_status(&name, &PostParams::default(), &next)
            .await
            .map_err(|e| self.error("update status of", "Deployment", &name, e))?;
        Ok(())
    }

    /// Sets the Deployment's revision annotation to the new ReplicaSet's.
    async fn record_revision(&mut self, rs: &ReplicaSet) -> Result<(), SyncError> {
        let Some(revision) = rs
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION_ANNOTATION))
            .cloned()
        else {
            return Ok(());
        };
        let mut probe = self.d.clone();
        if !set_deployment_revision(&mut probe, &revision) {
            return Ok(());
        }
        let patch = serde_json::json!({"metadata": {
            "annotations": {REVISION_ANNOTATION: revision},
            "resourceVersion": self.d.metadata.resource_version,
        }});
        let name = self.name();
        self.d = self
            .deployments
            .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map_err(|e| self.error("annotate", "Deployment", &name, e))?;
        Ok(())
    }

    async fn set_progressing(&mut self, reason: &str, message: String) -> Result<(), SyncError> {
        let mut status = self.d.status.clone().unwrap_or_default();
        set_condition(
            &mut status,
            new_condition(PROGRESSING, "True", reason, message, &self.now),
        );
        self.write_status(status).await
    }

    /// Splits the owned ReplicaSets into the one of the current template (created when asked
    /// and missing) and the old ones, syncing the revision annotations.
    async fn new_and_old(
        &mut self,
        mut owned: Vec<ReplicaSet>,
        create: bool,
    ) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>), SyncError> {
        let template = self.template();
        let found = owned.iter().position(|rs| {
            rs.spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .is_some_and(|t| equal_ignoring_hash(t, &template))
        });
        let existing = found.map(|i| owned.remove(i));
        let olds = owned;
        let new_revision = max_revision(&olds) + 1;
        let new = match existing {
            Some(rs) => Some(self.sync_existing(rs, new_revision).await?),
            None if create => Some(self.create_new(&olds, new_revision).await?),
            None => None,
        };
        Ok((new, olds))
    }

    async fn sync_existing(
        &mut self,
        rs: ReplicaSet,
        new_revision: i64,
    ) -> Result<ReplicaSet, SyncError> {
        let mut copy = rs.clone();
        let mut changed =
            set_new_rs_annotations(&self.d, &mut copy, new_revision, true, max_surge(&self.d));
        let min_ready = self.d.spec.as_ref().and_then(|s| s.min_ready_seconds);
        if let Some(spec) = copy.spec.as_mut()
            && spec.min_ready_seconds.unwrap_or(0) != min_ready.unwrap_or(0)
        {
            spec.min_ready_seconds = min_ready;
            changed = true;
        }
        let rs = if changed {
            self.replace_rs(&copy).await?
        } else {
            rs
        };
        self.record_revision(&rs).await?;
        if has_progress_deadline(&self.d) && deployment_condition(&self.d, PROGRESSING).is_none() {
            let message = format!("Found new replica set {:?}", rs.name_any());
            self.set_progressing(FOUND_NEW_RS, message).await?;
        }
        Ok(rs)
    }

    async fn create_new(
        &mut self,
        olds: &[ReplicaSet],
        new_revision: i64,
    ) -> Result<ReplicaSet, SyncError> {
        let spec = self.d.spec.clone().unwrap_or_default();
        let collisions = self.d.status.as_ref().and_then(|s| s.collision_count);
        let hash = pod_template_hash(&spec.template, collisions);
        let template = with_hash(&spec.template, &hash);
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH_LABEL.to_string(), hash.clone());
        let name = format!("{}-{hash}", self.name());
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                owner_references: Some(vec![owner_reference(&self.d)]),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: spec.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let all: Vec<&ReplicaSet> = olds.iter().chain(std::iter::once(&rs)).collect();
        let replicas = new_rs_replicas(&self.d, &all, &rs);
        if let Some(s) = rs.spec.as_mut() {
            s.replicas = Some(replicas);
        }
        set_new_rs_annotations(&self.d, &mut rs, new_revision, false, max_surge(&self.d));
        let (created, existed) = match self.sets.create(&PostParams::default(), &rs).await {
            Ok(created) => (created, false),
            Err(e) if status_code(&e) == Some(409) => {
                let existing = self
                    .sets
                    .get(&name)
                    .await
                    .map_err(|e| self.error("get", "ReplicaSet", &name, e))?;
                let ours = controller_of(&existing)
                    .is_some_and(|r| Some(&r.uid) == self.d.metadata.uid.as_ref());
                let same = existing
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .is_some_and(|t| equal_ignoring_hash(t, &spec.template));
                if !(ours && same) {
                    let mut status = self.d.status.clone().unwrap_or_default();
                    status.collision_count = Some(collisions.unwrap_or(0).saturating_add(1));
                    self.write_status(status).await?;
                    return Err(SyncError::HashCollision { name });
                }
                (existing, true)
            }
            Err(e) => return Err(self.error("create", "ReplicaSet", &name, e)),
        };
        if !existed {
            tracing::info!(deployment = %self.name(), replicaset = %name, replicas, "created new replica set");
        }
        self.record_revision(&created).await?;
        if !existed && has_progress_deadline(&self.d) {
            let message = format!("Created new replica set {name:?}");
            self.set_progressing(NEW_RS_CREATED, message).await?;
        }
        Ok(created)
    }

    /// Scales `rs` to `size`, also when only its replicas annotations are out of date; whether
    /// the size changed, and the ReplicaSet as written.
    async fn scale(&self, rs: &ReplicaSet, size: i32) -> Result<(bool, ReplicaSet), SyncError> {
        let desired = desired_replicas(&self.d);
        let max = desired.saturating_add(max_surge(&self.d));
        let resize = rs_replicas(rs) != size;
        if !resize && !replicas_annotations_need_update(rs, desired, max) {
            return Ok((false, rs.clone()));
        }
        let mut copy = rs.clone();
        copy.spec.get_or_insert_with(Default::default).replicas = Some(size);
        set_replicas_annotations(&mut copy, desired, max);
        let written = self.replace_rs(&copy).await?;
        if resize {
            tracing::info!(
                deployment = %self.name(),
                replicaset = %rs.name_any(),
                from = rs_replicas(rs),
                to = size,
                "scaled replica set"
            );
        }
        Ok((resize, written))
    }

    /// [`Step::scale`] only when the size changes (a rollout step leaves annotations alone).
    async fn resize(&self, rs: &ReplicaSet, size: i32) -> Result<(bool, ReplicaSet), SyncError> {
        if rs_replicas(rs) == size {
            return Ok((false, rs.clone()));
        }
        self.scale(rs, size).await
    }

    /// Deletes the old ReplicaSets beyond `revisionHistoryLimit`.
    async fn cleanup(&self, olds: &[ReplicaSet]) -> Result<(), SyncError> {
        let refs: Vec<&ReplicaSet> = olds.iter().collect();
        for name in history::to_delete(&self.d, &refs) {
            match self.sets.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {
                    tracing::info!(deployment = %self.name(), replicaset = %name, "deleted old replica set")
                }
                Err(e) if status_code(&e) == Some(404) => {}
                Err(e) => return Err(self.error("delete", "ReplicaSet", &name, e)),
            }
        }
        Ok(())
    }

    /// Paused, or `spec.replicas` changed: sizes only, no rollout step.
    async fn scale_only(
        &mut self,
        owned: Vec<ReplicaSet>,
        paused: bool,
    ) -> Result<Outcome, SyncError> {
        let (mut new, mut olds) = self.new_and_old(owned, false).await?;
        let old_refs: Vec<&ReplicaSet> = olds.iter().collect();
        let sizes = scaling::scaled_sizes(&self.d, new.as_ref(), &old_refs);
        for rs in new.iter_mut().chain(olds.iter_mut()) {
            if let Some(size) = sizes.get(&rs.name_any()) {
                *rs = self.scale(rs, *size).await?.1;
            }
        }
        if paused {
            self.cleanup(&olds).await?;
        }
        self.finish_plain(new.as_ref(), &olds).await
    }

    /// Writes the counts and the Available condition (no Progressing change).
    async fn finish_plain(
        &mut self,
        new: Option<&ReplicaSet>,
        olds: &[ReplicaSet],
    ) -> Result<Outcome, SyncError> {
        let all: Vec<&ReplicaSet> = olds.iter().chain(new).collect();
        let status = calculate(&self.d, &all, new, &self.now);
        self.write_status(status).await?;
        Ok(Outcome::Done)
    }

    /// Writes the status of a rollout step, Progressing included.
    async fn finish_rollout(
        &mut self,
        new: Option<&ReplicaSet>,
        olds: &[ReplicaSet],
    ) -> Result<Outcome, SyncError> {
        let all: Vec<&ReplicaSet> = olds.iter().chain(new).collect();
        let status = rollout(&self.d, &all, new, &self.now);
        self.write_status(status.clone()).await?;
        Ok(match recheck_at(&self.d, &status) {
            Some(at) => Outcome::RecheckAt(at),
            None => Outcome::Done,
        })
    }

    /// One step of a rolling update: grow the new ReplicaSet, else shrink old ones, else
    /// clean up history once complete.
    async fn rolling(&mut self, owned: Vec<ReplicaSet>) -> Result<Outcome, SyncError> {
        let (new, mut olds) = self.new_and_old(owned, true).await?;
        let Some(mut new) = new else {
            return Ok(Outcome::Done);
        };
        let all: Vec<&ReplicaSet> = olds.iter().chain(std::iter::once(&new)).collect();
        if let Some(target) = new_rs_target(&self.d, &all, &new) {
            let (grown, written) = self.resize(&new, target).await?;
            new = written;
            if grown {
                return self.finish_rollout(Some(&new), &olds).await;
            }
        }
        let old_refs: Vec<&ReplicaSet> = olds.iter().collect();
        let targets = old_rs_targets(&self.d, Some(&new), &old_refs);
        let mut shrunk = false;
        for (rs, target) in olds.iter_mut().zip(targets) {
            let (changed, written) = self.resize(rs, target).await?;
            *rs = written;
            shrunk |= changed;
        }
        if shrunk {
            return self.finish_rollout(Some(&new), &olds).await;
        }
        let stored = self.d.status.clone().unwrap_or_default();
        if is_complete(&self.d, &stored) {
            self.cleanup(&olds).await?;
        }
        self.finish_rollout(Some(&new), &olds).await
    }

    /// One step of a Recreate rollout: old ReplicaSets to 0, wait for their Pods to go, then
    /// the new ReplicaSet at full size.
    async fn recreate(&mut self, owned: Vec<ReplicaSet>) -> Result<Outcome, SyncError> {
        let (new, mut olds) = self.new_and_old(owned, false).await?;
        let mut shrunk = false;
        for rs in olds.iter_mut() {
            let (changed, written) = self.resize(rs, 0).await?;
            *rs = written;
            shrunk |= changed;
        }
        if shrunk || olds.iter().any(old_pods_may_run) {
            return self.finish_rollout(new.as_ref(), &olds).await;
        }
        let new = match new {
            Some(rs) => rs,
            None => {
                let revision = max_revision(&olds) + 1;
                self.create_new(&olds, revision).await?
            }
        };
        let (_, new) = self.resize(&new, desired_replicas(&self.d)).await?;
        let stored = self.d.status.clone().unwrap_or_default();
        if is_complete(&self.d, &stored) {
            self.cleanup(&olds).await?;
        }
        self.finish_rollout(Some(&new), &olds).await
    }
}

/// Whether an old ReplicaSet may still have Pods: it reports some, or its status has not
/// caught up with its spec yet.
fn old_pods_may_run(rs: &ReplicaSet) -> bool {
    let status = rs.status.as_ref();
    let reported = status.map(|s| s.replicas).unwrap_or(0);
    let observed = status.and_then(|s| s.observed_generation).unwrap_or(0);
    reported > 0 || rs.metadata.generation.unwrap_or(0) > observed
}
