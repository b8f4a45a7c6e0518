//! `switchyard apply`: create or update objects from manifests, kubectl-style: the last applied
//! configuration is kept in an annotation so that fields removed from the manifest are removed
//! from the object; every object is reported as `created`, `configured` or `unchanged`.

use anyhow::{Result, anyhow, bail};
use cluster_watch::trim::LAST_APPLIED;
use control::Kind;
use control::api::LegacyVersion;
use http::Method;
use serde_json::{Map, Value};

use super::api;
use super::manifest::{self, Manifest};
use crate::cli::{ApplyArgs, Validate};

/// Runs `apply`; every object is tried, and the command fails if any failed.
pub async fn run(args: ApplyArgs) -> Result<()> {
    let manifests = manifest::read_all(&args.files)?;
    if manifests.is_empty() {
        bail!("no objects found in {}", args.files.join(", "));
    }
    let client = api::client(&args.server).await?;
    apply_all(
        &client,
        &manifests,
        args.namespace.as_deref(),
        args.validate,
    )
    .await
}

/// Applies every manifest in order, printing one line per object and the server's warnings
/// (to stderr, as `Warning: ...`); fails if any failed. `validate` is sent as
/// `fieldValidation` with every write.
pub async fn apply_all(
    client: &kube::Client,
    manifests: &[Manifest],
    namespace: Option<&str>,
    validate: Validate,
) -> Result<()> {
    let mut failures = 0;
    for m in manifests {
        match apply_one(client, m, namespace, validate).await {
            Ok(line) => println!("{line}"),
            Err(e) => {
                failures += 1;
                eprintln!("error: {}: {e:#}", m.source);
            }
        }
    }
    if failures > 0 {
        bail!("{failures} object(s) could not be applied");
    }
    Ok(())
}

/// The kind, namespace and name a manifest addresses, checked before anything is sent.
pub struct Target {
    /// The kind.
    pub kind: Kind,
    /// The namespace (None for cluster-scoped kinds).
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
    /// The legacy version the manifest is written in (`extensions/v1beta1`), whose paths it
    /// is sent to (the server stores it as apps/v1); `None` for the stored version.
    pub legacy: Option<LegacyVersion>,
}

impl Target {
    /// The URL path of the collection the object is created in, at the manifest's version.
    pub fn collection_path(&self) -> String {
        let namespace = self.namespace.as_deref();
        match self.legacy {
            Some(version) => version.collection_path(self.kind, namespace),
            None => self.kind.collection_path(namespace),
        }
    }

    /// The URL path of the object, at the manifest's version.
    pub fn object_path(&self) -> String {
        format!("{}/{}", self.collection_path(), self.name)
    }
}

/// Works out where a manifest goes, with errors naming the field.
pub fn target(value: &Value, default_namespace: Option<&str>) -> Result<Target> {
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind_name = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if api_version.is_empty() {
        bail!("apiVersion: Required value");
    }
    if kind_name.is_empty() {
        bail!("kind: Required value");
    }
    let stored = Kind::from_type_meta(api_version, kind_name).map(|k| (k, None));
    let legacy = || {
        let kind = Kind::ALL.into_iter().find(|k| k.name() == kind_name)?;
        LegacyVersion::for_manifest(api_version, kind).map(|v| (kind, Some(v)))
    };
    let (kind, legacy) = stored.or_else(legacy).ok_or_else(|| {
        let known: Vec<String> = Kind::ALL
            .iter()
            .map(|k| format!("{} {}", k.api_version(), k.name()))
            .collect();
        anyhow!(
            "kind: unsupported {kind_name} (apiVersion {api_version}); switchyard serves {}",
            known.join(", ")
        )
    })?;
    let meta = value.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name.is_empty() {
        bail!("metadata.name: Required value (apply needs a name)");
    }
    let namespace = kind.namespaced().then(|| {
        meta.and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .or(default_namespace)
            .unwrap_or("default")
            .to_string()
    });
    if let (Some(flag), Some(written)) = (
        default_namespace,
        meta.and_then(|m| m.get("namespace"))
            .and_then(Value::as_str),
    ) && kind.namespaced()
        && flag != written
    {
        bail!(
            "metadata.namespace: {written:?} does not match the namespace given with -n ({flag:?})"
        );
    }
    Ok(Target {
        kind,
        namespace,
        name: name.to_string(),
        legacy,
    })
}

/// Sends one write with `fieldValidation`, printing the server's warnings to stderr.
async fn write(
    client: &kube::Client,
    method: Method,
    path: &str,
    body: (&str, Vec<u8>),
    validate: Validate,
) -> Result<()> {
    let path = format!("{path}?fieldValidation={}", validate.query_value());
    let (_, warnings) = api::send_warned(client, method, &path, Some(body))
        .await
        .map_err(api::describe)?;
    for warning in warnings {
        eprintln!("Warning: {warning}");
    }
    Ok(())
}

async fn apply_one(
    client: &kube::Client,
    m: &Manifest,
    namespace: Option<&str>,
    validate: Validate,
) -> Result<String> {
    let target = target(&m.value, namespace)?;
    let label = format!("{}/{}", target.kind.singular(), target.name);
    let path = target.object_path();
    let mut desired = m.value.clone();
    if let Some(ns) = &target.namespace {
        set_path(
            &mut desired,
            &["metadata", "namespace"],
            Value::String(ns.clone()),
        );
    }
    let recorded = serde_json::to_string(&without_last_applied(&desired))?;
    set_path(
        &mut desired,
        &["metadata", "annotations", LAST_APPLIED],
        Value::String(recorded),
    );

    let live = match api::send(client, Method::GET, &path, None, None).await {
        Ok(live) => Some(live),
        Err(e) if api::is_not_found(&e) => None,
        Err(e) => return Err(api::describe(e)),
    };
    let Some(live) = live else {
        let body = serde_json::to_vec(&desired)?;
        let collection = target.collection_path();
        write(
            client,
            Method::POST,
            &collection,
            ("application/json", body),
            validate,
        )
        .await?;
        return Ok(format!("{label} created"));
    };
    let previous: Option<Value> = live
        .pointer(&format!(
            "/metadata/annotations/{}",
            LAST_APPLIED.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok());
    let mut patch = desired.clone();
    if let Some(previous) = &previous {
        add_removals(&mut patch, previous);
    }
    if previous.is_some() && is_subset(&desired, &live) && !has_null(&patch) {
        return Ok(format!("{label} unchanged"));
    }
    let body = serde_json::to_vec(&patch)?;
    write(
        client,
        Method::PATCH,
        &path,
        ("application/merge-patch+json", body),
        validate,
    )
    .await?;
    Ok(format!("{label} configured"))
}

fn without_last_applied(value: &Value) -> Value {
    let mut copy = value.clone();
    if let Some(annotations) = copy
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.remove(LAST_APPLIED);
        if annotations.is_empty()
            && let Some(meta) = copy.pointer_mut("/metadata").and_then(Value::as_object_mut)
        {
            meta.remove("annotations");
        }
    }
    copy
}

fn set_path(value: &mut Value, path: &[&str], leaf: Value) {
    let mut cursor = value;
    for (i, key) in path.iter().enumerate() {
        if !cursor.is_object() {
            *cursor = Value::Object(Map::new());
        }
        let Some(map) = cursor.as_object_mut() else {
            return;
        };
        if i + 1 == path.len() {
            map.insert((*key).to_string(), leaf);
            return;
        }
        cursor = map
            .entry((*key).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Adds `null` to the merge patch for every field the previous apply set and this one does not,
/// so the server removes it (three-way apply).
pub fn add_removals(patch: &mut Value, previous: &Value) {
    let (Some(patch_map), Some(previous_map)) = (patch.as_object_mut(), previous.as_object())
    else {
        return;
    };
    for (key, old) in previous_map {
        match patch_map.get_mut(key) {
            None => {
                patch_map.insert(key.clone(), Value::Null);
            }
            Some(new) if new.is_object() && old.is_object() => add_removals(new, old),
            Some(_) => {}
        }
    }
}

/// Whether every field of `desired` has the same value in `live` (lists element-wise).
pub fn is_subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d
            .iter()
            .all(|(k, v)| l.get(k).is_some_and(|lv| is_subset(v, lv))),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(a, b)| is_subset(a, b))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

fn has_null(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.values().any(has_null),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn removals_become_nulls() {
        let mut patch = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"ports": [1]}});
        let previous = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"selector": {"x": "y"}, "ports": [1]}});
        add_removals(&mut patch, &previous);
        assert_eq!(patch["metadata"]["labels"]["b"], Value::Null);
        assert_eq!(patch["spec"]["selector"], Value::Null);
        assert_eq!(patch["spec"]["ports"], json!([1]));
    }

    #[test]
    fn subset_ignores_server_filled_fields() {
        let desired = json!({"spec": {"ports": [{"port": 80}]}});
        let live =
            json!({"spec": {"clusterIP": "10.96.0.5", "ports": [{"port": 80, "protocol": "TCP"}]}});
        assert!(is_subset(&desired, &live));
        assert!(!is_subset(
            &json!({"spec": {"ports": [{"port": 81}]}}),
            &live
        ));
    }

    #[test]
    fn target_errors_name_the_field() {
        let e = |v: Value| {
            target(&v, None)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(e(json!({"kind": "Service"})).starts_with("apiVersion"));
        assert!(
            e(json!({"apiVersion": "batch/v1beta1", "kind": "CronJob", "metadata": {"name": "x"}}))
                .contains("unsupported CronJob (apiVersion batch/v1beta1)")
        );
        assert!(
            e(json!({"apiVersion": "v1", "kind": "Service", "metadata": {}}))
                .starts_with("metadata.name")
        );
        let t = target(
            &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}),
            Some("x"),
        );
        assert!(t.is_ok_and(|t| t.namespace.is_none()));
        assert!(
            e(json!({"apiVersion": "extensions/v1beta1", "kind": "StatefulSet", "metadata": {"name": "x"}}))
                .contains("unsupported StatefulSet (apiVersion extensions/v1beta1)")
        );
    }

    #[test]
    fn legacy_manifests_go_to_their_versions_paths() {
        let t = target(
            &json!({"apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": {"name": "web"}}),
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.kind, Kind::Deployment);
        assert_eq!(
            t.object_path(),
            "/apis/extensions/v1beta1/namespaces/default/deployments/web"
        );
        let t = target(
            &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}),
            Some("a"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            t.collection_path(),
            "/apis/apps/v1/namespaces/a/deployments"
        );
    }
}
