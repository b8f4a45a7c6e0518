//! One probe of one container as data, and running it once.
//!
//! [`Target::resolve`] turns a k8s-openapi `Probe` of a container into what to check (a TCP
//! connect or an HTTP GET, with the host defaulting to the Pod's IP and a named port looked up
//! in the container's ports, as kubelet does; or a gRPC health check); [`Timing`] is its schedule and thresholds with
//! kubelet's defaults; [`Prober::run`] performs one check within the probe's timeout. Running a
//! probe never touches the API.

mod grpc;
mod http;
mod target;
mod tcp;

use std::time::Duration;

use k8s_openapi::api::core::v1::Probe;

pub use self::grpc::GrpcTarget;
pub use self::http::HttpTarget;
pub use self::target::{Target, Unsupported};

/// Which of a container's probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProbeKind {
    /// `readinessProbe`: whether the container may receive traffic.
    Readiness,
    /// `livenessProbe`: whether the container is healthy (kubelet would restart it).
    Liveness,
    /// `startupProbe`: whether the container has started; gates the other two.
    Startup,
}

impl ProbeKind {
    /// Every kind, in a fixed order.
    pub const ALL: [ProbeKind; 3] = [
        ProbeKind::Readiness,
        ProbeKind::Liveness,
        ProbeKind::Startup,
    ];

    /// The name kubelet uses in metrics and Event messages (`Readiness`, ...).
    pub fn label(self) -> &'static str {
        match self {
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Startup => "Startup",
        }
    }

    /// The container field that holds the probe (`readinessProbe`, ...).
    pub fn field(self) -> &'static str {
        match self {
            ProbeKind::Readiness => "readinessProbe",
            ProbeKind::Liveness => "livenessProbe",
            ProbeKind::Startup => "startupProbe",
        }
    }

    /// The container's probe of this kind.
    pub fn of(self, container: &k8s_openapi::api::core::v1::Container) -> Option<&Probe> {
        match self {
            ProbeKind::Readiness => container.readiness_probe.as_ref(),
            ProbeKind::Liveness => container.liveness_probe.as_ref(),
            ProbeKind::Startup => container.startup_probe.as_ref(),
        }
    }
}

/// What one run of a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The check passed.
    Success,
    /// The check failed; the text says why, in kubelet's words where it has them.
    Failure(String),
    /// The check could not be run (e.g. a named port the container does not have); kubelet
    /// leaves the probe's state unchanged on such a result.
    Unknown(String),
}

impl Outcome {
    /// The `result` label of `prober_probe_total`, as kubelet names it.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Success => "successful",
            Outcome::Failure(_) => "failed",
            Outcome::Unknown(_) => "unknown",
        }
    }
}

/// A probe's schedule and thresholds, with kubelet's defaults for unset (or non-positive)
/// fields: no initial delay, every 10 s, 1 s timeout, 1 success, 3 failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Time after the container started before the first probe.
    pub initial_delay: Duration,
    /// Time between two probes.
    pub period: Duration,
    /// Time one probe may take before it counts as failed.
    pub timeout: Duration,
    /// Consecutive successes that make the result Success.
    pub success_threshold: u32,
    /// Consecutive failures that make the result Failure.
    pub failure_threshold: u32,
}

impl Timing {
    /// Longest period, timeout or initial delay honoured (one day): larger values are clipped
    /// so a timer is never set past what a `Duration` addition can hold.
    pub const MAX_SECONDS: u64 = 86_400;

    /// The timing of `probe`, defaulted as kube-apiserver defaults it.
    pub fn of(probe: &Probe) -> Timing {
        let seconds = |value: Option<i32>, default: u64, min: u64| {
            let value = value
                .and_then(|v| u64::try_from(v).ok())
                .filter(|v| *v >= min)
                .unwrap_or(default);
            Duration::from_secs(value.min(Self::MAX_SECONDS))
        };
        let count = |value: Option<i32>, default: u32| {
            value
                .and_then(|v| u32::try_from(v).ok())
                .filter(|v| *v >= 1)
                .unwrap_or(default)
        };
        Timing {
            initial_delay: seconds(probe.initial_delay_seconds, 0, 0),
            period: seconds(probe.period_seconds, 10, 1),
            timeout: seconds(probe.timeout_seconds, 1, 1),
            success_threshold: count(probe.success_threshold, 1),
            failure_threshold: count(probe.failure_threshold, 3),
        }
    }
}

/// Runs probes: holds the one HTTP client every httpGet probe shares.
#[derive(Debug, Clone)]
pub struct Prober {
    http: reqwest::Client,
}

impl Prober {
    /// A prober; fails only when the TLS backend cannot be initialised.
    pub fn new() -> Result<Prober, reqwest::Error> {
        Ok(Prober {
            http: http::client()?,
        })
    }

    /// Runs `target` once; the whole check (connect, request, headers) ends by `timeout`.
    pub async fn run(&self, target: &Target, timeout: Duration) -> Outcome {
        match target {
            Target::Tcp { host, port } => tcp::check(host, *port, timeout).await,
            Target::Http(http) => http::check(&self.http, http, timeout).await,
            Target::Grpc(grpc) => grpc::check(grpc, timeout).await,
            Target::Unsupported(why) => Outcome::Failure(why.message()),
        }
    }
}

#[cfg(test)]
mod tests;
