use super::*;
use serde_json::json;

fn service(ns: &str, name: &str, selector: serde_json::Value) -> Result<Service, String> {
    serde_json::from_value(json!({
        "metadata": {"namespace": ns, "name": name},
        "spec": {"selector": selector, "ports": [{"port": 80}]}
    }))
    .map_err(|e| e.to_string())
}

fn pod(ns: &str, name: &str, labels: serde_json::Value) -> Result<Pod, String> {
    serde_json::from_value(json!({"metadata": {"namespace": ns, "name": name, "labels": labels}}))
        .map_err(|e| e.to_string())
}

fn names(keys: Vec<ServiceKey>) -> Vec<String> {
    let mut names: Vec<String> = keys.into_iter().map(|k| k.name).collect();
    names.sort();
    names
}

#[test]
fn pod_events_enqueue_only_services_matching_old_or_new_labels() -> Result<(), String> {
    let (store, mut writer) = reflector::store::<Service>();
    let index = ServiceIndex::default();
    for svc in [
        service("a", "web", json!({"app": "web"}))?,
        service("a", "db", json!({"app": "db"}))?,
        service("a", "web-canary", json!({"app": "web", "track": "canary"}))?,
        service("a", "manual", json!({}))?,
        service("b", "web", json!({"app": "web"}))?,
    ] {
        index.observe(Some(&svc), Change::Applied, service_terms);
        writer.apply_watcher_event(&Event::Apply(svc));
    }
    let mut affected = PodServices::new(store, index, PodIndex::default());
    let p = pod("a", "p1", json!({"app": "web"}))?;
    assert!(affected.observe(Some(&p), Change::Listed).is_empty());
    assert!(affected.observe(None, Change::ListDone).is_empty());
    // Readiness or other changes with the same labels: only the matching Service.
    assert_eq!(names(affected.observe(Some(&p), Change::Applied)), ["web"]);
    // Relabelled: the Service it left and the one it joined.
    let moved = pod("a", "p1", json!({"app": "db"}))?;
    assert_eq!(
        names(affected.observe(Some(&moved), Change::Applied)),
        ["db", "web"]
    );
    let canary = pod("a", "p1", json!({"app": "web", "track": "canary"}))?;
    assert_eq!(
        names(affected.observe(Some(&canary), Change::Applied)),
        ["db", "web", "web-canary"]
    );
    assert_eq!(
        names(affected.observe(Some(&canary), Change::Deleted)),
        ["web", "web-canary"]
    );
    // Another namespace's Pod never touches namespace a's Services.
    let other = pod("b", "p9", json!({"app": "web"}))?;
    assert_eq!(
        names(affected.observe(Some(&other), Change::Applied)),
        ["web"]
    );
    let unlabelled = pod("a", "p2", json!({}))?;
    assert!(
        affected
            .observe(Some(&unlabelled), Change::Applied)
            .is_empty()
    );
    Ok(())
}

/// A Pod of Service `svc-{service}` with an IP, ready.
fn bench_pod(service: usize, i: usize) -> Result<Pod, String> {
    serde_json::from_value(json!({
        "metadata": {"namespace": "bench", "name": format!("svc-{service}-{i}"),
            "labels": {"app": format!("svc-{service}"), "tier": "web"}},
        "status": {"podIP": format!("10.{}.{}.{}", service / 256, service % 256, i + 1)}
    }))
    .map_err(|e| e.to_string())
}

/// Not a benchmark (no assertion on time): prints what finding one Service's Pods costs with
/// the namespace copy the reconcile used to make and with the Pod index, for 10k Services × 10
/// Pods in one namespace. Run with `cargo test -p control --lib -- --ignored --nocapture
/// pod_lookup_cost`.
#[test]
#[ignore = "prints a cost figure; run by hand"]
fn pod_lookup_cost_with_and_without_the_index() -> Result<(), String> {
    const SERVICES: usize = 10_000;
    const PODS: usize = 10;
    let (services, mut service_writer) = reflector::store::<Service>();
    let (pods, mut pod_writer) = reflector::store::<Pod>();
    let (slices, _) = reflector::store::<EndpointSlice>();
    let (endpoints, _) = reflector::store::<Endpoints>();
    let pod_index = PodIndex::default();
    let mut all = Vec::new();
    for s in 0..SERVICES {
        let svc = service(
            "bench",
            &format!("svc-{s}"),
            json!({"app": format!("svc-{s}")}),
        )?;
        service_writer.apply_watcher_event(&Event::Apply(svc.clone()));
        all.push(svc);
        for i in 0..PODS {
            let pod = bench_pod(s, i)?;
            pod_index.observe(Some(&pod), Change::Applied, super::pod_terms);
            pod_writer.apply_watcher_event(&Event::Apply(pod));
        }
    }
    let caches = Caches {
        services,
        pods,
        slices,
        endpoints,
        pod_index,
        slice_index: SliceIndex::default(),
        tracker: Arc::new(SliceTracker::default()),
    };
    // The old way, on a sample (it is quadratic over all Services).
    let sample = 100;
    let started = std::time::Instant::now();
    let mut endpoints_old = 0;
    for svc in all.iter().take(sample) {
        let mut pods = caches.pods.state();
        pods.retain(|p| p.namespace().as_deref() == Some("bench"));
        endpoints_old += desired_slices(svc, &pods)
            .iter()
            .map(|s| s.endpoints.len())
            .sum::<usize>();
    }
    let old = started.elapsed() / u32::try_from(sample).map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let mut endpoints_new = 0;
    for svc in &all {
        let key = key_of(svc.namespace(), svc.name_any());
        endpoints_new += desired_slices(svc, &candidate_pods(&caches, svc, &key))
            .iter()
            .map(|s| s.endpoints.len())
            .sum::<usize>();
    }
    let new = started.elapsed() / u32::try_from(SERVICES).map_err(|e| e.to_string())?;
    println!(
        "{SERVICES} Services x {PODS} Pods in one namespace, per reconcile: namespace copy \
         {old:?}, Pod index {new:?}"
    );
    assert_eq!(endpoints_old, sample * PODS);
    assert_eq!(endpoints_new, SERVICES * PODS);
    Ok(())
}
