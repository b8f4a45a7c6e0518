//! Validation of container probes as kube-apiserver words it: exactly one handler, no
//! negative timings, `successThreshold` 1 for liveness and startup probes, no
//! `terminationGracePeriodSeconds` on readiness probes. Runs after defaulting, so a zero the
//! client sent has already become the default.

use k8s_openapi::api::core::v1::{Container, Probe};

use super::super::field::Causes;

/// Checks the probes of `container`, found at `path` (`spec.containers[0]`).
pub(super) fn validate(container: &Container, path: &str, c: &mut Causes) {
    let probes = [
        ("livenessProbe", &container.liveness_probe, true),
        ("readinessProbe", &container.readiness_probe, false),
        ("startupProbe", &container.startup_probe, true),
    ];
    for (name, probe, single_success) in probes {
        let Some(probe) = probe else {
            continue;
        };
        let at = format!("{path}.{name}");
        validate_probe(probe, &at, c);
        if single_success && probe.success_threshold.is_some_and(|v| v != 1) {
            c.invalid(
                &format!("{at}.successThreshold"),
                &probe.success_threshold.unwrap_or_default(),
                "must be 1",
            );
        }
        if !single_success && probe.termination_grace_period_seconds.is_some() {
            c.invalid(
                &format!("{at}.terminationGracePeriodSeconds"),
                &probe.termination_grace_period_seconds.unwrap_or_default(),
                "must not be set for readinessProbes",
            );
        }
    }
}

fn validate_probe(p: &Probe, at: &str, c: &mut Causes) {
    let handlers = [
        p.exec.is_some(),
        p.http_get.is_some(),
        p.tcp_socket.is_some(),
        p.grpc.is_some(),
    ]
    .into_iter()
    .filter(|x| *x)
    .count();
    match handlers {
        0 => c.required(at, "must specify a handler type"),
        1 => {}
        _ => c.forbidden(at, "may not specify more than 1 handler type"),
    }
    let fields = [
        ("initialDelaySeconds", p.initial_delay_seconds),
        ("timeoutSeconds", p.timeout_seconds),
        ("periodSeconds", p.period_seconds),
        ("successThreshold", p.success_threshold),
        ("failureThreshold", p.failure_threshold),
    ];
    for (field, value) in fields {
        if let Some(v) = value.filter(|v| *v < 0) {
            c.invalid(
                &format!("{at}.{field}"),
                &v,
                "must be greater than or equal to 0",
            );
        }
    }
    if let Some(v) = p.termination_grace_period_seconds.filter(|v| *v <= 0) {
        c.invalid(
            &format!("{at}.terminationGracePeriodSeconds"),
            &v,
            "must be greater than 0",
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly on a malformed fixture
mod tests {
    use super::*;

    fn causes_of(container: serde_json::Value) -> Vec<String> {
        let container: Container = serde_json::from_value(container).unwrap();
        let mut c = Causes::default();
        validate(&container, "spec.containers[0]", &mut c);
        match c.finish("Pod", "p") {
            Ok(()) => Vec::new(),
            Err(crate::admission::AdmissionError::Invalid { causes, .. }) => causes
                .into_iter()
                .map(|c| format!("{}: {}", c.field, c.message))
                .collect(),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn bad_probe_fields_are_named() {
        let causes = causes_of(serde_json::json!({
            "name": "c",
            "livenessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": -1,
                              "successThreshold": 2},
            "readinessProbe": {"exec": {"command": ["true"]}, "timeoutSeconds": -5},
            "startupProbe": {"periodSeconds": 3},
        }));
        assert_eq!(
            causes,
            vec![
                "spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be \
                 greater than or equal to 0",
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
                "spec.containers[0].readinessProbe.timeoutSeconds: Invalid value: -5: must be \
                 greater than or equal to 0",
                "spec.containers[0].startupProbe: Required value: must specify a handler type",
            ]
        );
    }

    #[test]
    fn a_good_probe_passes() {
        let causes = causes_of(serde_json::json!({
            "name": "c",
            "readinessProbe": {"httpGet": {"port": 80}, "successThreshold": 3},
        }));
        assert!(causes.is_empty(), "{causes:?}");
    }
}
