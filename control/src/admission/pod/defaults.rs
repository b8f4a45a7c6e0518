//! The defaults kube-apiserver gives a Pod on create: the API defaults of the v1 types
//! (restart and DNS policy, grace period, scheduler name, container termination messages,
//! image pull policy, port protocols, probe timings), and what its default admission plugins
//! add (service account `default`, priority 0, the `DefaultTolerationSeconds` tolerations).
//! [`default_pod_spec`] works on a bare `PodSpec`, so a pod template is defaulted the same way.
//! It only fills what is unset; it never rejects anything.

use k8s_openapi::api::core::v1::{
    Container, Pod, PodSecurityContext, PodSpec, PodStatus, Probe, Toleration,
};

use super::resources::qos_class;

/// The taint key the node lifecycle controller puts on a node that is not Ready.
pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
/// The taint key the node lifecycle controller puts on a node that stopped reporting.
pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";
/// How long a Pod stays on a not-ready or unreachable node by default, in seconds.
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;
/// The scheduler a Pod names when it names none.
pub const DEFAULT_SCHEDULER: &str = "default-scheduler";

fn fill<T>(slot: &mut Option<T>, value: impl FnOnce() -> T) {
    if slot.is_none() {
        *slot = Some(value());
    }
}

fn fill_str(slot: &mut Option<String>, value: &str) {
    if slot.as_deref().is_none_or(str::is_empty) {
        *slot = Some(value.to_string());
    }
}

/// Fills the unset fields of `spec` as kube-apiserver does for a Pod or a pod template.
pub fn default_pod_spec(spec: &mut PodSpec) {
    fill_str(&mut spec.dns_policy, "ClusterFirst");
    fill_str(&mut spec.restart_policy, "Always");
    fill(&mut spec.termination_grace_period_seconds, || 30);
    fill_str(&mut spec.scheduler_name, DEFAULT_SCHEDULER);
    fill(&mut spec.security_context, PodSecurityContext::default);
    fill(&mut spec.enable_service_links, || true);
    // The ServiceAccount admission plugin: `serviceAccount` is the deprecated alias.
    let account = spec
        .service_account_name
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| spec.service_account.clone().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "default".to_string());
    spec.service_account_name = Some(account.clone());
    spec.service_account = Some(account);
    // The Priority admission plugin, for Pods without a priority class.
    if spec
        .priority_class_name
        .as_deref()
        .is_none_or(str::is_empty)
    {
        fill(&mut spec.priority, || 0);
        fill_str(&mut spec.preemption_policy, "PreemptLowerPriority");
    }
    let host_network = spec.host_network == Some(true);
    for c in spec.containers.iter_mut() {
        default_container(c, host_network);
    }
    for c in spec.init_containers.iter_mut().flatten() {
        default_container(c, host_network);
    }
    default_tolerations(spec.tolerations.get_or_insert_with(Vec::new));
}

/// Defaults a Pod on create: its spec ([`default_pod_spec`]), `status.phase` `Pending` and
/// `status.qosClass`.
pub fn default_pod(pod: &mut Pod) {
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    default_pod_spec(spec);
    let qos = qos_class(spec);
    let status = pod.status.get_or_insert_with(PodStatus::default);
    fill_str(&mut status.phase, "Pending");
    fill_str(&mut status.qos_class, qos);
}

fn default_container(c: &mut Container, host_network: bool) {
    fill_str(&mut c.termination_message_path, "/dev/termination-log");
    fill_str(&mut c.termination_message_policy, "File");
    if c.image_pull_policy.as_deref().is_none_or(str::is_empty) {
        c.image_pull_policy = Some(pull_policy(c.image.as_deref().unwrap_or_default()).into());
    }
    for port in c.ports.iter_mut().flatten() {
        fill_str(&mut port.protocol, "TCP");
        if host_network && port.host_port.is_none_or(|p| p == 0) {
            port.host_port = Some(port.container_port);
        }
    }
    if let Some(resources) = c.resources.as_mut()
        && let Some(limits) = resources.limits.as_ref()
    {
        // Requests default to limits, resource by resource.
        let requests = resources.requests.get_or_insert_with(Default::default);
        for (name, value) in limits {
            requests
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
    }
    for probe in [
        &mut c.liveness_probe,
        &mut c.readiness_probe,
        &mut c.startup_probe,
    ]
    .into_iter()
    .flatten()
    {
        default_probe(probe);
    }
}

/// `Always` for an image tagged `latest` or not tagged (and not pinned by digest), else
/// `IfNotPresent`.
fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    // The tag follows the last `:` after the last `/` (a registry port is not a tag).
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

/// Probe timings (a zero counts as unset, as in the v1 API) and the HTTP GET scheme and path.
fn default_probe(p: &mut Probe) {
    let zero_or_unset = |v: &mut Option<i32>, d: i32| {
        if v.is_none_or(|x| x == 0) {
            *v = Some(d);
        }
    };
    zero_or_unset(&mut p.timeout_seconds, 1);
    zero_or_unset(&mut p.period_seconds, 10);
    zero_or_unset(&mut p.success_threshold, 1);
    zero_or_unset(&mut p.failure_threshold, 3);
    if let Some(get) = p.http_get.as_mut() {
        fill_str(&mut get.path, "/");
        fill_str(&mut get.scheme, "HTTP");
    }
}

/// Adds `not-ready` and `unreachable` NoExecute tolerations for 300 s unless the Pod already
/// tolerates them (the `DefaultTolerationSeconds` admission plugin).
fn default_tolerations(tolerations: &mut Vec<Toleration>) {
    for key in [NOT_READY_TAINT, UNREACHABLE_TAINT] {
        let tolerated = tolerations.iter().any(|t| {
            let k = t.key.as_deref().unwrap_or_default();
            let effect = t.effect.as_deref().unwrap_or_default();
            (k == key || k.is_empty()) && (effect == "NoExecute" || effect.is_empty())
        });
        if !tolerated {
            tolerations.push(Toleration {
                key: Some(key.to_string()),
                operator: Some("Exists".to_string()),
                effect: Some("NoExecute".to_string()),
                toleration_seconds: Some(DEFAULT_TOLERATION_SECONDS),
                value: None,
            });
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly on a malformed fixture
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerPort, HTTPGetAction};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn pod(image: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": image}]}
        }))
        .unwrap()
    }

    #[test]
    fn a_bare_pod_gets_every_default() {
        let mut p = pod("nginx");
        default_pod(&mut p);
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
        assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
        assert_eq!(spec.termination_grace_period_seconds, Some(30));
        assert_eq!(spec.scheduler_name.as_deref(), Some("default-scheduler"));
        assert_eq!(spec.security_context, Some(PodSecurityContext::default()));
        assert_eq!(spec.service_account_name.as_deref(), Some("default"));
        assert_eq!(spec.service_account.as_deref(), Some("default"));
        assert_eq!(spec.enable_service_links, Some(true));
        assert_eq!(spec.priority, Some(0));
        let c = &spec.containers[0];
        assert_eq!(
            c.termination_message_path.as_deref(),
            Some("/dev/termination-log")
        );
        assert_eq!(c.termination_message_policy.as_deref(), Some("File"));
        assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
        let tolerations = spec.tolerations.as_ref().unwrap();
        assert_eq!(tolerations.len(), 2);
        assert!(
            tolerations
                .iter()
                .all(|t| t.effect.as_deref() == Some("NoExecute")
                    && t.toleration_seconds == Some(300)
                    && t.operator.as_deref() == Some("Exists"))
        );
        let status = p.status.as_ref().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Pending"));
        assert_eq!(status.qos_class.as_deref(), Some("BestEffort"));
    }

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(pull_policy("nginx"), "Always");
        assert_eq!(pull_policy("nginx:latest"), "Always");
        assert_eq!(pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(pull_policy("registry:5000/nginx"), "Always");
        assert_eq!(pull_policy("registry:5000/nginx:1.0"), "IfNotPresent");
        assert_eq!(pull_policy("nginx@sha256:abcd"), "IfNotPresent");
    }

    #[test]
    fn probes_get_timings_and_http_defaults() {
        let mut spec = PodSpec {
            containers: vec![Container {
                name: "c".into(),
                liveness_probe: Some(Probe {
                    http_get: Some(HTTPGetAction {
                        path: Some("/healthz".into()),
                        port: IntOrString::Int(8080),
                        ..Default::default()
                    }),
                    period_seconds: Some(5),
                    ..Default::default()
                }),
                readiness_probe: Some(Probe {
                    http_get: Some(HTTPGetAction {
                        port: IntOrString::Int(8080),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ports: Some(vec![ContainerPort {
                    container_port: 80,
                    ..Default::default()
                }]),
                ..Default::default()
            }],
            ..Default::default()
        };
        default_pod_spec(&mut spec);
        let c = &spec.containers[0];
        let live = c.liveness_probe.as_ref().unwrap();
        assert_eq!(live.timeout_seconds, Some(1));
        assert_eq!(live.period_seconds, Some(5));
        assert_eq!(live.success_threshold, Some(1));
        assert_eq!(live.failure_threshold, Some(3));
        let get = live.http_get.as_ref().unwrap();
        assert_eq!(get.path.as_deref(), Some("/healthz"));
        assert_eq!(get.scheme.as_deref(), Some("HTTP"));
        let ready = c.readiness_probe.as_ref().unwrap();
        assert_eq!(ready.period_seconds, Some(10));
        assert_eq!(ready.http_get.as_ref().unwrap().path.as_deref(), Some("/"));
        assert_eq!(
            c.ports.as_ref().unwrap()[0].protocol.as_deref(),
            Some("TCP")
        );
    }

    #[test]
    fn existing_tolerations_are_kept_and_not_doubled() {
        let mut spec = PodSpec {
            tolerations: Some(vec![Toleration {
                key: Some(NOT_READY_TAINT.into()),
                operator: Some("Exists".into()),
                effect: Some("NoExecute".into()),
                toleration_seconds: Some(10),
                value: None,
            }]),
            ..Default::default()
        };
        default_pod_spec(&mut spec);
        let t = spec.tolerations.unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].toleration_seconds, Some(10));
        assert_eq!(t[1].key.as_deref(), Some(UNREACHABLE_TAINT));
        // A Pod tolerating everything gets nothing added.
        let mut spec = PodSpec {
            tolerations: Some(vec![Toleration {
                operator: Some("Exists".into()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        default_pod_spec(&mut spec);
        assert_eq!(spec.tolerations.unwrap().len(), 1);
    }

    #[test]
    fn requests_default_to_limits() {
        let mut p: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "x:1",
                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}
        }))
        .unwrap();
        default_pod(&mut p);
        let c = &p.spec.as_ref().unwrap().containers[0];
        let requests = c.resources.as_ref().unwrap().requests.as_ref().unwrap();
        assert_eq!(requests["cpu"].0, "1");
        assert_eq!(
            p.status.as_ref().unwrap().qos_class.as_deref(),
            Some("Guaranteed")
        );
    }
}
