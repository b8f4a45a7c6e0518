//! The single writer: the only code that changes the store. It takes every queued request,
//! applies them one by one to a working copy of the newest snapshot (admission sees the
//! earlier requests of the batch), commits the whole batch in one durable transaction, and only
//! then publishes the new snapshot and events and answers the callers (group commit).
//!
//! It runs on its own thread because redb commits block on fsync. It never answers a caller
//! before the commit returned, and never publishes state that was not committed.
//! After a failed commit the writer hands recovery to [`Disk`]: see [`super::disk`].

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc::{self, error::TryRecvError};

use super::db::Database;
use super::disk::{Disk, IDLE_POLL};
use super::log::{EventType, WatchEvent};
use super::propagation::finalizers_after_delete;
use super::snapshot::{Snapshot, key_of};
use super::{
    Change, Filter, Message, Propagation, Request, Shared, StoreError, Write, meta, resource_name,
    validate,
};
use crate::admission::{Admission, Operation};
use crate::error::FieldCause;
use crate::object::{Kind, Object};

/// Namespaces kube-apiserver refuses to delete.
const PROTECTED_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

/// The wording kube-apiserver uses for a stale resourceVersion.
const MODIFIED: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// Starts the writer thread.
pub(super) fn spawn(
    disk: Disk,
    admission: Admission,
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Message>,
) -> Result<std::thread::JoinHandle<()>, StoreError> {
    std::thread::Builder::new()
        .name("store-writer".to_string())
        .spawn(move || run(disk, admission, shared, rx))
        .map_err(|e| StoreError::db("start writer", e))
}

fn run(mut disk: Disk, admission: Admission, shared: Arc<Shared>, mut rx: mpsc::Receiver<Message>) {
    let max = shared.config.max_batch;
    let mut stopping = false;
    loop {
        let mut batch = Vec::new();
        if !stopping && disk.failure().is_none() {
            match rx.blocking_recv() {
                Some(Message::Write(r)) => batch.push(r),
                Some(Message::Stop) | None => stopping = true,
            }
        } else if !stopping {
            // Writes are failing: look for requests and retry the disk in turn.
            disk.try_recover(&shared);
            match rx.try_recv() {
                Ok(Message::Write(r)) => batch.push(r),
                Ok(Message::Stop) | Err(TryRecvError::Disconnected) => stopping = true,
                Err(TryRecvError::Empty) => {
                    std::thread::sleep(IDLE_POLL);
                    continue;
                }
            }
        }
        while batch.len() < max {
            match rx.try_recv() {
                Ok(Message::Write(r)) => batch.push(r),
                Ok(Message::Stop) => stopping = true,
                Err(_) => break,
            }
        }
        if batch.is_empty() && stopping {
            break;
        }
        process(&mut disk, &admission, &shared, batch);
    }
    rx.close();
    tracing::info!("store writer stopped; database closed");
}

/// A change `old -> new` handed to admission's `committed` / `aborted`.
type Transition = (Option<Arc<Object>>, Option<Arc<Object>>);

/// The working state of one batch.
struct Batch<'a> {
    admission: &'a Admission,
    state: Snapshot,
    events: Vec<Arc<WatchEvent>>,
    /// `(old, new)` of every admitted change, for `committed` / `aborted`.
    changes: Vec<Transition>,
}

fn process(disk: &mut Disk, admission: &Admission, shared: &Shared, requests: Vec<Request>) {
    let base = match shared.snapshot.read() {
        Ok(s) => Snapshot::clone(&s),
        Err(poisoned) => Snapshot::clone(&poisoned.into_inner()),
    };
    let mut batch = Batch {
        admission,
        state: base,
        events: Vec::new(),
        changes: Vec::new(),
    };
    let mut outcomes = Vec::with_capacity(requests.len());
    for Request {
        write,
        dry_run,
        reply,
    } in requests
    {
        let mark = (batch.state.clone(), batch.events.len(), batch.changes.len());
        // A bug in admission or a patch must cost one request, not the writer: a panic is
        // caught, rolled back like any failure, and answered with a 500.
        let applied =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| apply(&mut batch, write)));
        let outcome = applied.unwrap_or_else(|_| {
            tracing::error!("a write panicked in the store writer; request rejected");
            Err(StoreError::internal(
                "the store failed while applying this request",
            ))
        });
        if outcome.is_err() || dry_run {
            // Undo whatever this request did before failing (a cascade may fail midway), or
            // everything a dry run did once its answer is known.
            let (state, events, changes) = mark;
            batch.state = state;
            batch.events.truncate(events);
            for (old, new) in batch.changes.drain(changes..).rev() {
                admission.aborted(old.as_deref(), new.as_deref());
            }
        }
        outcomes.push((reply, outcome));
    }
    let Batch {
        mut state,
        events,
        changes,
        ..
    } = batch;
    if !events.is_empty() {
        let revision = events.last().map(|e| e.revision).unwrap_or(state.revision);
        let started = Instant::now();
        let unavailable = |why: &dyn std::fmt::Display| {
            StoreError::unavailable(format!("the store cannot write: {why}"))
        };
        let committed = if !disk.ready_to_try() {
            // The database is closed and the next reopen is not due: nothing is tried.
            let why = disk.failure().unwrap_or_default().to_string();
            Err((unavailable(&why), None))
        } else {
            match disk.open(shared) {
                Err(error) => Err((unavailable(&error), Some(error))),
                Ok(db) => commit(db, shared, &events, revision).map_err(|error| {
                    shared.metrics.observe(outcomes.len(), started.elapsed());
                    (
                        StoreError::internal(format!("committing to the store: {error}")),
                        Some(error),
                    )
                }),
            }
        };
        if let Err((answer, error)) = committed {
            tracing::warn!(%answer, requests = outcomes.len(), "batch rejected: not committed");
            if let Some(error) = &error {
                shared.metrics.commit_failures.inc();
                let bytes = events.iter().map(|e| e.to_record().len() * 2).sum();
                disk.failed(shared, error, bytes);
            }
            for (old, new) in changes.iter().rev() {
                admission.aborted(old.as_deref(), new.as_deref());
            }
            for (reply, outcome) in outcomes {
                let _ = reply.send(outcome.and(Err(answer.clone())));
            }
            return;
        }
        shared.metrics.observe(outcomes.len(), started.elapsed());
        disk.recovered(shared);
        state.revision = revision;
        publish(shared, state, &events);
        for (old, new) in &changes {
            admission.committed(old.as_deref(), new.as_deref());
        }
    }
    for (reply, outcome) in outcomes {
        // A caller that went away does not undo a committed write.
        let _ = reply.send(outcome);
    }
}

fn commit(
    db: &Database,
    shared: &Shared,
    events: &[Arc<WatchEvent>],
    revision: u64,
) -> Result<(), StoreError> {
    #[cfg(test)]
    if shared
        .fail_next_commit
        .swap(false, std::sync::atomic::Ordering::SeqCst)
    {
        return Err(StoreError::db("commit", "injected failure"));
    }
    #[cfg(not(test))]
    let _ = shared;
    db.commit(events, revision)
}

/// Applies one write to the batch's working state.
fn apply(batch: &mut Batch<'_>, write: Write) -> Result<Vec<Arc<Object>>, StoreError> {
    let single = match write {
        Write::Create(obj) => create(batch, *obj),
        Write::Update {
            kind,
            namespace,
            name,
            status,
            change,
        } => update(batch, kind, namespace.as_deref(), &name, status, change),
        Write::DeleteCollection {
            kind,
            namespace,
            filter,
            propagation,
        } => {
            return delete_collection(batch, kind, namespace.as_deref(), &filter, propagation);
        }
        Write::Delete {
            kind,
            namespace,
            name,
            uid,
            resource_version,
            propagation,
        } => delete(
            batch,
            kind,
            namespace.as_deref(),
            &name,
            Preconditions {
                uid: uid.as_deref(),
                resource_version: resource_version.as_deref(),
            },
            propagation,
        ),
    };
    single.map(|obj| vec![obj])
}

/// Makes a committed batch visible: history first, then the snapshot, then live events.
fn publish(shared: &Shared, state: Snapshot, events: &[Arc<WatchEvent>]) {
    {
        let mut log = match shared.log.write() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        for event in events {
            log.push(Arc::clone(event));
        }
    }
    {
        let mut snapshot = match shared.snapshot.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        *snapshot = Arc::new(state);
    }
    for event in events {
        // No receivers is fine: nobody is watching.
        let _ = shared.events.send(Arc::clone(event));
    }
}

impl Batch<'_> {
    fn next_revision(&self) -> u64 {
        self.events
            .last()
            .map(|e| e.revision)
            .unwrap_or(self.state.revision)
            + 1
    }

    /// Records a change under the next revision and returns the stored object.
    fn record(
        &mut self,
        change: EventType,
        mut obj: Object,
        previous: Option<Arc<Object>>,
    ) -> Arc<Object> {
        let revision = self.next_revision();
        obj.meta_mut().resource_version = Some(revision.to_string());
        let obj = Arc::new(obj);
        match change {
            EventType::Deleted => {
                self.state.remove(obj.kind(), &key_of(&obj));
            }
            EventType::Added | EventType::Modified => {
                self.state.put(Arc::clone(&obj));
            }
        }
        self.events.push(Arc::new(WatchEvent {
            revision,
            kind_of_change: change,
            object: Arc::clone(&obj),
            previous,
        }));
        obj
    }
}

fn invalid(obj: &Object, causes: Vec<FieldCause>) -> StoreError {
    StoreError::invalid_many(obj.kind().name(), obj.name(), causes)
}

fn create(b: &mut Batch<'_>, mut obj: Object) -> Result<Arc<Object>, StoreError> {
    let kind = obj.kind();
    if !kind.namespaced() {
        obj.meta_mut().namespace = None;
    }
    let namespace = obj.namespace().unwrap_or_default().to_string();
    if kind.namespaced() {
        if namespace.is_empty() {
            return Err(StoreError::bad_request(format!(
                "metadata.namespace: a namespace is required to create a {}",
                kind.name()
            )));
        }
        let ns = b
            .state
            .get(Kind::Namespace, "", &namespace)
            .ok_or_else(|| StoreError::not_found("namespaces", &namespace))?;
        if ns.meta().deletion_timestamp.is_some() {
            return Err(StoreError::forbidden(
                resource_name(kind),
                obj.name(),
                format!(
                    "unable to create new content in namespace {namespace} because it is being \
                     terminated"
                ),
            ));
        }
    }
    if obj.name().is_empty() {
        let prefix = obj.meta().generate_name.clone().unwrap_or_default();
        if prefix.is_empty() {
            return Err(StoreError::invalid_many(
                kind.name(),
                "",
                vec![FieldCause {
                    field: "metadata.name".to_string(),
                    reason: "FieldValueRequired",
                    message: "Required value: name or generateName is required".to_string(),
                }],
            ));
        }
        let mut name = meta::generated_name(&prefix);
        for _ in 0..8 {
            if b.state.get(kind, &namespace, &name).is_none() {
                break;
            }
            name = meta::generated_name(&prefix);
        }
        obj.meta_mut().name = Some(name);
    }
    if let Err(cause) = validate::name(kind, obj.name()) {
        return Err(invalid(&obj, vec![cause]));
    }
    if let Some(rv) = obj.meta().resource_version.as_deref()
        && !rv.is_empty()
    {
        return Err(invalid(
            &obj,
            vec![FieldCause::invalid(
                "metadata.resourceVersion",
                "must not be set on objects to be created",
            )],
        ));
    }
    if b.state.get(kind, &namespace, obj.name()).is_some() {
        return Err(StoreError::already_exists(resource_name(kind), obj.name()));
    }
    meta::fill_on_create(&mut obj);
    let causes = validate::metadata(&obj);
    if !causes.is_empty() {
        return Err(invalid(&obj, causes));
    }
    b.admission.admit(Operation::Create, &mut obj, None)?;
    let stored = b.record(EventType::Added, obj, None);
    b.changes.push((None, Some(Arc::clone(&stored))));
    Ok(stored)
}

fn current(
    b: &Batch<'_>,
    kind: Kind,
    namespace: Option<&str>,
    name: &str,
) -> Result<Arc<Object>, StoreError> {
    b.state
        .get(kind, namespace.unwrap_or_default(), name)
        .ok_or_else(|| StoreError::not_found(resource_name(kind), name))
}

/// Checks a client's `resourceVersion` precondition against the stored object.
fn check_resource_version(old: &Object, wanted: Option<&str>) -> Result<(), StoreError> {
    let Some(wanted) = wanted.filter(|w| !w.is_empty()) else {
        return Ok(());
    };
    let wanted: u64 = wanted.parse().map_err(|_| {
        StoreError::bad_request(format!(
            "metadata.resourceVersion: invalid value {wanted:?}: must be a resourceVersion \
             returned by this server"
        ))
    })?;
    if Some(wanted) != old.resource_version() {
        return Err(StoreError::conflict(
            resource_name(old.kind()),
            old.name(),
            MODIFIED,
        ));
    }
    Ok(())
}

fn update(
    b: &mut Batch<'_>,
    kind: Kind,
    namespace: Option<&str>,
    name: &str,
    status: bool,
    change: Change,
) -> Result<Arc<Object>, StoreError> {
    let old = current(b, kind, namespace, name)?;
    let mut proposed = change(&old).map_err(StoreError::change)?;
    if proposed.kind() != kind {
        return Err(StoreError::bad_request(format!(
            "kind: the object is a {}, not a {}",
            proposed.kind(),
            kind
        )));
    }
    if proposed.name().is_empty() {
        proposed.meta_mut().name = Some(name.to_string());
    }
    if proposed.name() != name {
        return Err(StoreError::bad_request(format!(
            "metadata.name: the name of the object ({}) does not match the name on the URL \
             ({name})",
            proposed.name()
        )));
    }
    if let Some(ns) = proposed.namespace()
        && !ns.is_empty()
        && Some(ns) != namespace
    {
        return Err(StoreError::bad_request(format!(
            "metadata.namespace: the namespace of the object ({ns}) does not match the \
             namespace on the request ({})",
            namespace.unwrap_or_default()
        )));
    }
    if let Some(uid) = proposed.meta().uid.as_deref()
        && !uid.is_empty()
        && old.meta().uid.as_deref() != Some(uid)
    {
        return Err(StoreError::conflict(
            resource_name(kind),
            name,
            format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                old.meta().uid.as_deref().unwrap_or_default()
            ),
        ));
    }
    check_resource_version(&old, proposed.meta().resource_version.as_deref())?;
    let mut new = meta::carry_over(&old, proposed, status)?;
    if old.meta().deletion_timestamp.is_some() {
        let before = old.meta().finalizers.clone().unwrap_or_default();
        if let Some(added) = new
            .meta()
            .finalizers
            .iter()
            .flatten()
            .find(|f| !before.contains(f))
        {
            return Err(invalid(
                &new,
                vec![FieldCause::invalid(
                    "metadata.finalizers",
                    format!(
                        "Forbidden: no new finalizers can be added if the object is being \
                         deleted, found new finalizers [{added}]"
                    ),
                )],
            ));
        }
    }
    let causes = validate::metadata(&new);
    if !causes.is_empty() {
        return Err(invalid(&new, causes));
    }
    let finalized = new.meta().deletion_timestamp.is_some()
        && new.meta().finalizers.as_ref().is_none_or(|f| f.is_empty());
    if finalized {
        return remove(b, old, new);
    }
    b.admission.admit(Operation::Update, &mut new, Some(&old))?;
    meta::bump_generation(&old, &mut new);
    if meta::same_content(&new, &old) {
        // Nothing changed: no new revision, no event (as kube-apiserver does).
        b.admission.aborted(Some(&old), Some(&new));
        return Ok(old);
    }
    let stored = b.record(EventType::Modified, new, Some(Arc::clone(&old)));
    b.changes.push((Some(old), Some(Arc::clone(&stored))));
    Ok(stored)
}

/// The `preconditions` of a delete.
struct Preconditions<'a> {
    uid: Option<&'a str>,
    resource_version: Option<&'a str>,
}

/// Deletes an object, or marks it (`deletionTimestamp`) when finalizers remain after the
/// propagation policy put its own (`orphan`, `foregroundDeletion`) in place. A repeated delete
/// of a marked object may switch the policy; one that leaves no finalizer removes it.
fn delete(
    b: &mut Batch<'_>,
    kind: Kind,
    namespace: Option<&str>,
    name: &str,
    pre: Preconditions<'_>,
    propagation: Option<Propagation>,
) -> Result<Arc<Object>, StoreError> {
    let old = current(b, kind, namespace, name)?;
    if let Some(uid) = pre.uid
        && old.meta().uid.as_deref() != Some(uid)
    {
        return Err(StoreError::conflict(
            resource_name(kind),
            name,
            format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                old.meta().uid.as_deref().unwrap_or_default()
            ),
        ));
    }
    check_resource_version(&old, pre.resource_version)?;
    if kind == Kind::Namespace && PROTECTED_NAMESPACES.contains(&name) {
        return Err(StoreError::forbidden(
            "namespaces",
            name,
            "this namespace may not be deleted",
        ));
    }
    let before = old.meta().finalizers.as_deref().unwrap_or_default();
    let finalizers = finalizers_after_delete(before, propagation);
    if !finalizers.is_empty() {
        if old.meta().deletion_timestamp.is_some() && finalizers == before {
            return Ok(old);
        }
        let mut marked = Object::clone(&old);
        let meta = marked.meta_mut();
        meta.finalizers = Some(finalizers);
        if meta.deletion_timestamp.is_none() {
            meta.deletion_timestamp = Some(meta::now());
            meta.deletion_grace_period_seconds = Some(0);
        }
        if let Object::Namespace(ns) = &mut marked {
            ns.status.get_or_insert_with(Default::default).phase = Some("Terminating".to_string());
        }
        let stored = b.record(EventType::Modified, marked, Some(Arc::clone(&old)));
        b.changes.push((Some(old), Some(Arc::clone(&stored))));
        return Ok(stored);
    }
    let gone = Object::clone(&old);
    remove(b, old, gone)
}

/// Deletes (or marks, with finalizers) every object of `kind` in `namespace` that `filter`
/// picks. Any failure fails the whole request, which the caller rolls back: a collection
/// delete never answers an error after deleting part of the collection.
fn delete_collection(
    b: &mut Batch<'_>,
    kind: Kind,
    namespace: Option<&str>,
    filter: &Filter,
    propagation: Option<Propagation>,
) -> Result<Vec<Arc<Object>>, StoreError> {
    if kind == Kind::Namespace {
        return Err(StoreError::method_not_allowed(
            "namespaces cannot be deleted as a collection: delete them one by one",
        ));
    }
    let picked: Vec<(String, String)> = b
        .state
        .scan(kind, namespace, None)
        .filter(|(_, obj)| filter(obj))
        .map(|(key, _)| key.clone())
        .collect();
    let mut deleted = Vec::with_capacity(picked.len());
    for (ns, name) in picked {
        let ns = (!ns.is_empty()).then_some(ns.as_str());
        let none = Preconditions {
            uid: None,
            resource_version: None,
        };
        deleted.push(delete(b, kind, ns, &name, none, propagation)?);
    }
    Ok(deleted)
}

/// Removes `old` (recorded in its final form `gone`); a Namespace takes everything in it along,
/// in the same transaction.
fn remove(
    b: &mut Batch<'_>,
    old: Arc<Object>,
    mut gone: Object,
) -> Result<Arc<Object>, StoreError> {
    if old.kind() == Kind::Namespace {
        let namespace = old.name().to_string();
        for kind in Kind::ALL.into_iter().filter(|k| k.namespaced()) {
            let inside: Vec<Arc<Object>> = b
                .state
                .scan(kind, Some(&namespace), None)
                .map(|(_, o)| Arc::clone(o))
                .collect();
            for child in inside {
                let child_gone = Object::clone(&child);
                remove(b, child, child_gone)?;
            }
        }
    }
    b.admission
        .admit(Operation::Delete, &mut gone, Some(&old))?;
    let stored = b.record(EventType::Deleted, gone, Some(Arc::clone(&old)));
    b.changes.push((Some(old), None));
    Ok(stored)
}
