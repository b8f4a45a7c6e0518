//! `meta.k8s.io/v1 Table` renderings of our kinds with the columns `kubectl get` shows
//! (`-o wide` columns carry priority 1), so `kubectl get` and `switchyard get` print the
//! familiar output. One file per kind or group of kinds; each turns one object into its cells.
//!
//! Rendering only: never reads the store, never fails on odd objects (missing fields print as
//! `<none>`).

mod batch;
mod config;
mod endpoints;
mod endpointslice;
mod namespace;
mod node;
mod pod;
mod policy;
mod rbac;
mod service;
mod workload;

use serde_json::{Value, json};

use crate::object::{Kind, Object};

/// What each row's `object` holds (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    /// No object.
    None,
    /// A `PartialObjectMetadata` (the default).
    Metadata,
    /// The full object.
    Object,
}

impl Include {
    /// Parses the `includeObject` query value (`None`, `Metadata`, `Object`).
    pub fn parse(text: &str) -> Option<Include> {
        match text {
            "None" => Some(Include::None),
            "Metadata" | "" => Some(Include::Metadata),
            "Object" => Some(Include::Object),
            _ => None,
        }
    }
}

/// One column: name, type and priority (0 always shown, 1 with `-o wide`).
#[derive(Debug, Clone, Copy)]
struct Column {
    name: &'static str,
    kind: &'static str,
    priority: u8,
    description: &'static str,
}

/// An integer column shown by default.
const fn int(name: &'static str, description: &'static str) -> Column {
    Column {
        name,
        kind: "integer",
        priority: 0,
        description,
    }
}

const fn col(name: &'static str, priority: u8, description: &'static str) -> Column {
    Column {
        name,
        kind: "string",
        priority,
        description,
    }
}

const NAME: Column = Column {
    name: "Name",
    kind: "string",
    priority: 0,
    description: "Name must be unique within a namespace.",
};
const AGE: Column = col(
    "Age",
    0,
    "CreationTimestamp is the time the object was created, shown as its age.",
);

/// A Table of `objects` (all of `kind`) with rows' `object` as `PartialObjectMetadata`.
/// `now` is used for the AGE column.
pub fn for_objects(kind: Kind, objects: &[Object], now: jiff::Timestamp) -> Value {
    build(kind, objects.iter(), now, Include::Metadata)
}

/// A Table of `objects` with the rows' `object` as `include` asks.
pub fn build<'a>(
    kind: Kind,
    objects: impl Iterator<Item = &'a Object>,
    now: jiff::Timestamp,
    include: Include,
) -> Value {
    let columns = columns(kind);
    let rows: Vec<Value> = objects
        .map(|obj| {
            let mut row = json!({"cells": cells(obj, now)});
            match include {
                Include::None => {}
                Include::Metadata => row["object"] = partial_metadata(obj),
                Include::Object => row["object"] = obj.to_json(),
            }
            row
        })
        .collect();
    let definitions: Vec<Value> = columns
        .iter()
        .map(|c| {
            let format = if c.name == "Name" { "name" } else { "" };
            json!({"name": c.name, "type": c.kind, "format": format,
                   "description": c.description, "priority": c.priority})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

fn columns(kind: Kind) -> Vec<Column> {
    let mut out = vec![NAME];
    out.extend(match kind {
        Kind::Service => service::COLUMNS.to_vec(),
        Kind::Pod => pod::COLUMNS.to_vec(),
        Kind::Node => node::COLUMNS.to_vec(),
        Kind::Namespace => namespace::COLUMNS.to_vec(),
        Kind::Endpoints => endpoints::COLUMNS.to_vec(),
        Kind::EndpointSlice => endpointslice::COLUMNS.to_vec(),
        Kind::Role | Kind::ClusterRole => Vec::new(),
        Kind::RoleBinding | Kind::ClusterRoleBinding => rbac::BINDING_COLUMNS.to_vec(),
        Kind::ReplicationController | Kind::ReplicaSet => workload::REPLICA_COLUMNS.to_vec(),
        Kind::Deployment => workload::DEPLOYMENT_COLUMNS.to_vec(),
        Kind::StatefulSet => workload::STATEFUL_COLUMNS.to_vec(),
        Kind::DaemonSet => workload::DAEMON_COLUMNS.to_vec(),
        Kind::ConfigMap => config::CONFIG_MAP_COLUMNS.to_vec(),
        Kind::Secret => config::SECRET_COLUMNS.to_vec(),
        Kind::ServiceAccount => config::SERVICE_ACCOUNT_COLUMNS.to_vec(),
        Kind::Job => batch::JOB_COLUMNS.to_vec(),
        Kind::CronJob => batch::CRON_JOB_COLUMNS.to_vec(),
        Kind::HorizontalPodAutoscaler => policy::HPA_COLUMNS.to_vec(),
        Kind::PodDisruptionBudget => policy::PDB_COLUMNS.to_vec(),
        Kind::ControllerRevision => policy::REVISION_COLUMNS.to_vec(),
    });
    // AGE follows a kind's own leading columns (Nodes: before VERSION, as kubectl shows
    // them); wide columns (priority 1) come after.
    let wide_at = out.iter().position(|c| c.priority > 0).unwrap_or(out.len());
    out.insert(age_at(kind).unwrap_or(wide_at), AGE);
    out
}

/// Where AGE goes among the NAME and leading columns, when not last of them.
fn age_at(kind: Kind) -> Option<usize> {
    match kind {
        Kind::Node => Some(1 + node::AGE_AT),
        _ => None,
    }
}

fn cells(obj: &Object, now: jiff::Timestamp) -> Vec<Value> {
    let age = Value::String(age(obj, now));
    let (mut main, wide) = match obj {
        Object::Service(s) => service::cells(s),
        Object::Pod(p) => pod::cells(p),
        Object::Node(n) => node::cells(n),
        Object::Namespace(n) => namespace::cells(n),
        Object::Endpoints(e) => endpoints::cells(e),
        Object::EndpointSlice(s) => endpointslice::cells(s),
        Object::Role(_) | Object::ClusterRole(_) => (Vec::new(), Vec::new()),
        Object::RoleBinding(b) => rbac::binding_cells(&b.role_ref, b.subjects.as_deref()),
        Object::ClusterRoleBinding(b) => rbac::binding_cells(&b.role_ref, b.subjects.as_deref()),
        Object::ReplicationController(rc) => workload::rc_cells(rc),
        Object::ReplicaSet(rs) => workload::rs_cells(rs),
        Object::Deployment(d) => workload::deployment_cells(d),
        Object::StatefulSet(s) => workload::stateful_cells(s),
        Object::DaemonSet(d) => workload::daemon_cells(d),
        Object::ConfigMap(cm) => config::config_map_cells(cm),
        Object::Secret(s) => config::secret_cells(s),
        Object::ServiceAccount(sa) => config::service_account_cells(sa),
        Object::Job(j) => batch::job_cells(j, now),
        Object::CronJob(c) => batch::cron_job_cells(c, now),
        Object::HorizontalPodAutoscaler(h) => policy::hpa_cells(h),
        Object::PodDisruptionBudget(p) => policy::pdb_cells(p),
        Object::ControllerRevision(r) => policy::revision_cells(r),
    };
    main.insert(0, Value::String(obj.name().to_string()));
    match age_at(obj.kind()) {
        Some(at) if at <= main.len() => main.insert(at, age),
        _ => main.push(age),
    }
    main.extend(wide);
    main
}

/// The object's metadata as a `PartialObjectMetadata`.
fn partial_metadata(obj: &Object) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": serde_json::to_value(obj.meta()).unwrap_or(Value::Null),
    })
}

fn age(obj: &Object, now: jiff::Timestamp) -> String {
    match &obj.meta().creation_timestamp {
        Some(t) => human_duration(now.as_second() - t.0.as_second()),
        None => "<unknown>".to_string(),
    }
}

/// A duration in seconds as kubectl prints ages: `45s`, `3m20s`, `17m`, `5h4m`, `3d`, ...
pub(crate) fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    let seconds = seconds.max(0);
    let minutes = seconds / 60;
    let hours = minutes / 60;
    let days = hours / 24;
    let years = days / 365;
    let pair = |big: i64, unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big}{unit}")
        } else {
            format!("{big}{unit}{small}{small_unit}")
        }
    };
    if seconds < 120 {
        format!("{seconds}s")
    } else if minutes < 10 {
        pair(minutes, "m", seconds % 60, "s")
    } else if minutes < 180 {
        format!("{minutes}m")
    } else if hours < 8 {
        pair(hours, "h", minutes % 60, "m")
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        pair(days, "d", hours % 24, "h")
    } else if days < 365 * 2 {
        format!("{days}d")
    } else if days < 365 * 8 {
        pair(years, "y", days % 365, "d")
    } else {
        format!("{years}y")
    }
}

/// `items` joined by `,`, showing at most `max` and then ` + N more...`, or `<none>`.
pub(crate) fn join_limited(items: &[String], max: usize) -> String {
    if items.is_empty() {
        return "<none>".to_string();
    }
    let shown = items[..items.len().min(max)].join(",");
    if items.len() > max {
        format!("{shown} + {} more...", items.len() - max)
    } else {
        shown
    }
}

fn none_if_empty(s: &str) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests;
