//! The store workloads, identical for both targets: conditional creates and updates from 1 or
//! many concurrent clients, bulk loads, and watch delivery latency to many watchers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::target::Target;
use crate::stats;

/// The JSON of a realistic Pod (about 1.3 KB: labels, owner, one container with ports, env,
/// resources, probes), identical for both targets. `generation` changes one annotation so an
/// update really changes the object; `resource_version` is set for updates.
pub fn pod_json(name: &str, generation: u64, resource_version: Option<u64>) -> String {
    let rv = resource_version.map_or(String::new(), |v| format!(r#","resourceVersion":"{v}""#));
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","namespace":"default"{rv},"labels":{{"app":"bench","tier":"backend","pod-template-hash":"7d9c8f6b5"}},"annotations":{{"bench/generation":"{generation:08}"}},"ownerReferences":[{{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"bench-7d9c8f6b5","uid":"5b0c1a52-3c1e-4a57-9a2c-0e4c6f8d2b11","controller":true,"blockOwnerDeletion":true}}]}},"spec":{{"nodeName":"node-1","restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"default","containers":[{{"name":"app","image":"registry.example/bench/app:1.27.3","imagePullPolicy":"IfNotPresent","ports":[{{"name":"http","containerPort":8080,"protocol":"TCP"}},{{"name":"metrics","containerPort":9090,"protocol":"TCP"}}],"env":[{{"name":"LOG_LEVEL","value":"info"}},{{"name":"POOL_SIZE","value":"32"}}],"resources":{{"requests":{{"cpu":"100m","memory":"128Mi"}},"limits":{{"cpu":"500m","memory":"256Mi"}}}},"readinessProbe":{{"httpGet":{{"path":"/healthz","port":8080,"scheme":"HTTP"}},"periodSeconds":10,"timeoutSeconds":1,"successThreshold":1,"failureThreshold":3}},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}}]}}}}"#
    )
}

/// Which write a throughput run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Create new objects.
    Create,
    /// Update existing objects at their current version.
    Update,
}

/// Creates `names` with `clients` concurrent clients; returns the version of each.
pub async fn load(
    target: &Target,
    names: &[String],
    clients: usize,
) -> anyhow::Result<Vec<(String, u64)>> {
    let chunks = split(names, clients);
    let mut tasks = Vec::new();
    for chunk in chunks {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(chunk.len());
            for name in chunk {
                let v = target.create(&name, &pod_json(&name, 0, None)).await?;
                out.push((name, v));
            }
            anyhow::Ok(out)
        }));
    }
    let mut all = Vec::with_capacity(names.len());
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

/// Writes per second: `clients` concurrent clients, each doing its share sequentially. For
/// `Update`, `objects` are updated round-robin within each client's share (each object is
/// owned by one client, so conditional updates never conflict).
pub async fn throughput(
    target: &Target,
    write: Write,
    clients: usize,
    ops: usize,
    tag: &str,
    objects: &[(String, u64)],
) -> anyhow::Result<f64> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    let owned = split(objects, clients);
    for (c, mut mine) in owned.into_iter().enumerate().take(clients) {
        let (target, tag) = (target.clone(), tag.to_string());
        let share = ops / clients + usize::from(c < ops % clients);
        tasks.push(tokio::spawn(async move {
            for i in 0..share {
                match write {
                    Write::Create => {
                        let name = format!("{tag}-c{c}-{i}");
                        target.create(&name, &pod_json(&name, 0, None)).await?;
                    }
                    Write::Update => {
                        anyhow::ensure!(!mine.is_empty(), "no object to update for client {c}");
                        let slot = i % mine.len();
                        let (name, version) = &mut mine[slot];
                        let body = pod_json(name, i as u64 + 1, Some(*version));
                        *version = target.update(name, &body, *version).await?;
                    }
                }
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(ops as f64 / start.elapsed().as_secs_f64())
}

/// Watch delivery latency: `watchers` watches opened at the current version, then `writes`
/// sequential creates; for every (watcher, write) pair the time from just before the write
/// request to the event's arrival. Returns (p50, p99) in milliseconds.
pub async fn watch_latency(
    target: &Target,
    watchers: usize,
    writes: usize,
    tag: &str,
) -> anyhow::Result<(f64, f64)> {
    let from = target.current_version().await?;
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut streams = Vec::new();
    for _ in 0..watchers {
        streams.push(target.watch(from).await?);
    }
    let mut tasks = Vec::new();
    for stream in streams {
        let sent = Arc::clone(&sent);
        let prefix = format!("{tag}-");
        tasks.push(tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            let mut latencies = Vec::with_capacity(writes);
            while latencies.len() < writes {
                let Some(batch) = stream.next().await else {
                    anyhow::bail!("watch ended after {} events", latencies.len());
                };
                let now = Instant::now();
                for name in batch? {
                    if !name.starts_with(&prefix) {
                        continue;
                    }
                    let at = sent
                        .lock()
                        .map_err(|_| anyhow::anyhow!("lock poisoned"))?
                        .get(&name)
                        .copied();
                    if let Some(at) = at {
                        latencies.push(now.duration_since(at).as_secs_f64() * 1e3);
                    }
                }
            }
            anyhow::Ok(latencies)
        }));
    }
    // Let every watch register before writing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..writes {
        let name = format!("{tag}-{i}");
        sent.lock()
            .map_err(|_| anyhow::anyhow!("lock poisoned"))?
            .insert(name.clone(), Instant::now());
        target.create(&name, &pod_json(&name, 0, None)).await?;
    }
    let mut all = Vec::with_capacity(watchers * writes);
    for t in tasks {
        let got = tokio::time::timeout(Duration::from_secs(60), t).await??;
        all.extend(got?);
    }
    let sorted = stats::sorted(&all);
    let p50 = stats::percentile_sorted(&sorted, 50.0).unwrap_or(f64::NAN);
    let p99 = stats::percentile_sorted(&sorted, 99.0).unwrap_or(f64::NAN);
    Ok((p50, p99))
}

/// Splits `items` into `n` round-robin shares (some may be empty).
fn split<T: Clone>(items: &[T], n: usize) -> Vec<Vec<T>> {
    let n = n.max(1);
    let mut out = vec![Vec::new(); n];
    for (i, item) in items.iter().enumerate() {
        out[i % n].push(item.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_json_is_valid_and_versioned() -> anyhow::Result<()> {
        let v: serde_json::Value = serde_json::from_str(&pod_json("p", 3, Some(9)))?;
        assert_eq!(
            v.pointer("/metadata/resourceVersion"),
            Some(&serde_json::json!("9"))
        );
        assert_eq!(
            v.pointer("/metadata/annotations/bench~1generation"),
            Some(&serde_json::json!("00000003"))
        );
        // Same size whatever the generation, so updates do not grow objects.
        assert_eq!(
            pod_json("p", 1, None).len(),
            pod_json("p", 99_999, None).len()
        );
        Ok(())
    }

    #[test]
    fn split_is_round_robin() {
        assert_eq!(split(&[1, 2, 3], 2), vec![vec![1, 3], vec![2]]);
        assert_eq!(split::<u8>(&[], 0), vec![Vec::<u8>::new()]);
    }
}
