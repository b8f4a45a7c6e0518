//! The two HTTP dialects the store benchmark speaks, behind one type so the client cost is the
//! same for both: switchyard's Kubernetes-style API (HTTPS with its admin bearer token, as it
//! ships) and etcd's gRPC-gateway JSON API (plain HTTP, as etcd runs without TLS flags). Each
//! target carries its own client, so the token never goes to etcd. Creates
//! and updates are conditional on both sides, the way kube-apiserver uses etcd (create only if
//! absent, update only at the read revision).

use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures::{Stream, StreamExt};
use serde_json::{Value, json};

/// Where objects go.
#[derive(Debug, Clone)]
pub enum Target {
    /// `switchyard run`'s API at `base` (`https://127.0.0.1:port`).
    Switchyard {
        /// Base URL.
        base: String,
        /// A client trusting the instance's CA and sending its admin token.
        http: reqwest::Client,
    },
    /// etcd's gRPC-gateway at `base` (`http://127.0.0.1:port`), keys under
    /// `/registry/pods/default/`.
    Etcd {
        /// Base URL.
        base: String,
        /// A plain-HTTP client.
        http: reqwest::Client,
    },
}

const ETCD_PREFIX: &str = "/registry/pods/default/";

impl Target {
    /// Short name for errors and tables.
    pub fn name(&self) -> &'static str {
        match self {
            Target::Switchyard { .. } => "switchyard",
            Target::Etcd { .. } => "etcd",
        }
    }

    /// Creates pod `name` with JSON `body` if absent; returns its version (resourceVersion or
    /// etcd revision).
    pub async fn create(&self, name: &str, body: &str) -> anyhow::Result<u64> {
        match self {
            Target::Switchyard { base, http } => {
                let url = format!("{base}/api/v1/namespaces/default/pods");
                let resp = http
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await?;
                object_version(resp, "create").await
            }
            Target::Etcd { base, http } => {
                let key = B64.encode(format!("{ETCD_PREFIX}{name}"));
                let req = json!({
                    "compare": [{"key": key, "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
                    "success": [{"request_put": {"key": key, "value": B64.encode(body)}}],
                });
                etcd_txn(http, base, &req, "create").await
            }
        }
    }

    /// Replaces pod `name` with `body` only if it is still at `version`; returns the new
    /// version. For switchyard `body` must already carry `metadata.resourceVersion`.
    pub async fn update(&self, name: &str, body: &str, version: u64) -> anyhow::Result<u64> {
        match self {
            Target::Switchyard { base, http } => {
                let url = format!("{base}/api/v1/namespaces/default/pods/{name}");
                let resp = http
                    .put(url)
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await?;
                object_version(resp, "update").await
            }
            Target::Etcd { base, http } => {
                let key = B64.encode(format!("{ETCD_PREFIX}{name}"));
                let req = json!({
                    "compare": [{"key": key, "target": "MOD", "result": "EQUAL", "mod_revision": version.to_string()}],
                    "success": [{"request_put": {"key": key, "value": B64.encode(body)}}],
                    // As kube-apiserver does: on conflict, read the current object back.
                    "failure": [{"request_range": {"key": key}}],
                });
                etcd_txn(http, base, &req, &format!("update of {name} at {version}")).await
            }
        }
    }

    /// Whether stored data is being served: a one-item list/range of pods answers with an item.
    pub async fn serves_data(&self) -> bool {
        let result = async {
            let v: Value = match self {
                Target::Switchyard { base, http } => {
                    http.get(format!("{base}/api/v1/namespaces/default/pods?limit=1"))
                        .timeout(Duration::from_secs(2))
                        .send()
                        .await?
                        .error_for_status()?
                        .json()
                        .await?
                }
                Target::Etcd { base, http } => {
                    let req = json!({
                        "key": B64.encode(ETCD_PREFIX),
                        "range_end": B64.encode(prefix_end(ETCD_PREFIX)),
                        "limit": "1",
                    });
                    http.post(format!("{base}/v3/kv/range"))
                        .json(&req)
                        .timeout(Duration::from_secs(2))
                        .send()
                        .await?
                        .error_for_status()?
                        .json()
                        .await?
                }
            };
            let items = v.get("items").or_else(|| v.get("kvs"));
            anyhow::Ok(
                items
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty()),
            )
        };
        result.await.unwrap_or(false)
    }

    /// A stream of the names of pods changed after `version` (switchyard watch or etcd watch
    /// over the pod prefix).
    pub async fn watch(
        &self,
        version: u64,
    ) -> anyhow::Result<impl Stream<Item = anyhow::Result<Vec<String>>> + use<>> {
        let (resp, etcd) = match self {
            Target::Switchyard { base, http } => {
                let url = format!(
                    "{base}/api/v1/namespaces/default/pods?watch=true&resourceVersion={version}"
                );
                (http.get(url).send().await?, false)
            }
            Target::Etcd { base, http } => {
                let req = json!({"create_request": {
                    "key": B64.encode(ETCD_PREFIX),
                    "range_end": B64.encode(prefix_end(ETCD_PREFIX)),
                    "start_revision": (version + 1).to_string(),
                }});
                (
                    http.post(format!("{base}/v3/watch"))
                        .json(&req)
                        .send()
                        .await?,
                    true,
                )
            }
        };
        let resp = resp.error_for_status().context("opening watch")?;
        let mut buf: Vec<u8> = Vec::new();
        let stream = resp.bytes_stream().map(move |chunk| {
            let chunk = chunk.context("reading watch stream")?;
            buf.extend_from_slice(&chunk);
            let mut names = Vec::new();
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let v: Value = serde_json::from_slice(&line).context("watch event JSON")?;
                if etcd {
                    etcd_event_names(&v, &mut names)?;
                } else if v.get("type").and_then(Value::as_str) != Some("BOOKMARK")
                    && let Some(name) = v.pointer("/object/metadata/name").and_then(Value::as_str)
                {
                    names.push(name.to_string());
                }
            }
            Ok(names)
        });
        Ok(stream)
    }

    /// The current version of the store (list resourceVersion or etcd header revision).
    pub async fn current_version(&self) -> anyhow::Result<u64> {
        match self {
            Target::Switchyard { base, http } => {
                let v: Value = http
                    .get(format!("{base}/api/v1/namespaces/default/pods?limit=1"))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                parse_version(v.pointer("/metadata/resourceVersion"))
            }
            Target::Etcd { base, http } => {
                let req = json!({"key": B64.encode(ETCD_PREFIX), "limit": "1"});
                let v: Value = http
                    .post(format!("{base}/v3/kv/range"))
                    .json(&req)
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                parse_version(v.pointer("/header/revision"))
            }
        }
    }
}

async fn object_version(resp: reqwest::Response, what: &str) -> anyhow::Result<u64> {
    let status = resp.status();
    let text = resp.text().await?;
    anyhow::ensure!(
        status.is_success(),
        "{what}: HTTP {status}: {}",
        truncate(&text)
    );
    let v: Value = serde_json::from_str(&text).with_context(|| format!("{what}: response JSON"))?;
    parse_version(v.pointer("/metadata/resourceVersion"))
}

async fn etcd_txn(
    http: &reqwest::Client,
    base: &str,
    req: &Value,
    what: &str,
) -> anyhow::Result<u64> {
    let resp = http
        .post(format!("{base}/v3/kv/txn"))
        .json(req)
        .send()
        .await?;
    let status = resp.status();
    let text = resp.text().await?;
    anyhow::ensure!(
        status.is_success(),
        "etcd {what}: HTTP {status}: {}",
        truncate(&text)
    );
    let v: Value =
        serde_json::from_str(&text).with_context(|| format!("etcd {what}: response JSON"))?;
    anyhow::ensure!(
        v.get("succeeded").and_then(Value::as_bool) == Some(true),
        "etcd {what}: compare failed: {}",
        truncate(&text.replace(['\n', ' '], ""))
    );
    parse_version(v.pointer("/header/revision"))
}

fn etcd_event_names(v: &Value, names: &mut Vec<String>) -> anyhow::Result<()> {
    if let Some(err) = v.get("error") {
        anyhow::bail!("etcd watch error: {err}");
    }
    let events = v.pointer("/result/events").and_then(Value::as_array);
    for event in events.into_iter().flatten() {
        let Some(key) = event.pointer("/kv/key").and_then(Value::as_str) else {
            continue;
        };
        let key = B64.decode(key).context("etcd watch key base64")?;
        let key = String::from_utf8_lossy(&key);
        if let Some(name) = key.strip_prefix(ETCD_PREFIX) {
            names.push(name.to_string());
        }
    }
    Ok(())
}

/// A version field that may be a JSON string (both APIs send strings) or number.
fn parse_version(v: Option<&Value>) -> anyhow::Result<u64> {
    match v {
        Some(Value::String(s)) => s.parse().with_context(|| format!("version {s:?}")),
        Some(Value::Number(n)) => n.as_u64().context("negative version"),
        other => anyhow::bail!("no version in response ({other:?})"),
    }
}

/// The etcd range end covering every key with `prefix`.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

fn truncate(s: &str) -> String {
    s.chars().take(600).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_watch_events_are_decoded() -> anyhow::Result<()> {
        let key = B64.encode("/registry/pods/default/p-1");
        let v = json!({"result": {"events": [{"kv": {"key": key}}]}});
        let mut names = Vec::new();
        etcd_event_names(&v, &mut names)?;
        assert_eq!(names, vec!["p-1".to_string()]);
        assert!(etcd_event_names(&json!({"error": {"code": 1}}), &mut names).is_err());
        Ok(())
    }

    #[test]
    fn versions_parse_from_strings_and_numbers() -> anyhow::Result<()> {
        assert_eq!(parse_version(Some(&json!("42")))?, 42);
        assert_eq!(parse_version(Some(&json!(7)))?, 7);
        assert!(parse_version(None).is_err());
        assert_eq!(prefix_end("/a/"), b"/a0".to_vec());
        Ok(())
    }
}
