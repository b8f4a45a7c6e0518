//! What a probe checks, resolved from the container's probe and the Pod's IP.

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::grpc::GrpcTarget;
use super::http::{HttpTarget, Scheme};
use super::tcp::join_host_port;

/// The check one probe performs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// tcpSocket: connect to `host:port`.
    Tcp {
        /// Host name or IP (default: the Pod's IP).
        host: String,
        /// The port.
        port: u16,
    },
    /// httpGet: GET a URL; 200 ≤ code < 400 passes.
    Http(HttpTarget),
    /// grpc: the gRPC health protocol's Check; `SERVING` passes.
    Grpc(GrpcTarget),
    /// A probe this agent cannot run; it never passes.
    Unsupported(Unsupported),
}

/// Why a probe cannot run here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsupported {
    /// `exec`: there is no container runtime to run a command in.
    Exec,
    /// No handler is set (the API should have refused the Pod).
    NoHandler,
}

impl Unsupported {
    /// The message a failing run of such a probe reports.
    pub fn message(&self) -> String {
        match self {
            Unsupported::Exec => "exec probes cannot run on a switchyard node: there is no \
                                  container runtime to run the command in"
                .to_string(),
            Unsupported::NoHandler => "the probe has no handler".to_string(),
        }
    }
}

impl Target {
    /// The target of `probe` in `container` of a Pod with IP `pod_ip`.
    ///
    /// # Errors
    /// The port cannot be resolved: a name the container does not declare (and that is not a
    /// number), or a number outside 1–65535. kubelet treats that run as Unknown.
    pub fn resolve(probe: &Probe, container: &Container, pod_ip: &str) -> Result<Target, String> {
        if probe.exec.is_some() {
            return Ok(Target::Unsupported(Unsupported::Exec));
        }
        if let Some(tcp) = &probe.tcp_socket {
            let port = resolve_port(&tcp.port, container)?;
            return Ok(Target::Tcp {
                host: non_empty(tcp.host.as_deref()).unwrap_or(pod_ip).to_string(),
                port,
            });
        }
        if let Some(get) = &probe.http_get {
            let port = resolve_port(&get.port, container)?;
            let scheme = match get.scheme.as_deref() {
                Some(s) if s.eq_ignore_ascii_case("https") => Scheme::Https,
                _ => Scheme::Http,
            };
            let host = non_empty(get.host.as_deref()).unwrap_or(pod_ip);
            let path = get.path.as_deref().unwrap_or_default();
            let path = if path.starts_with('/') {
                path.to_string()
            } else {
                format!("/{path}")
            };
            let url = format!("{}://{}{path}", scheme.as_str(), join_host_port(host, port));
            let headers = get
                .http_headers
                .iter()
                .flatten()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect();
            return Ok(Target::Http(HttpTarget { url, headers }));
        }
        if let Some(grpc) = &probe.grpc {
            let port = u16::try_from(grpc.port)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("invalid port number: {}", grpc.port))?;
            return Ok(Target::Grpc(GrpcTarget {
                host: pod_ip.to_string(),
                port,
                service: grpc.service.clone().unwrap_or_default(),
            }));
        }
        Ok(Target::Unsupported(Unsupported::NoHandler))
    }
}

fn non_empty(text: Option<&str>) -> Option<&str> {
    text.filter(|t| !t.is_empty())
}

/// A port by number, or by the name of one of the container's ports (falling back to a
/// number written as a string, as kubelet does).
fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    let number = match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => {
            let named = container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .map(|p| p.container_port);
            match named {
                Some(n) => n,
                None => name.parse::<i32>().map_err(|_| {
                    format!(
                        "couldn't find port {name:?} in container {}",
                        container.name
                    )
                })?,
            }
        }
    };
    u16::try_from(number)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("invalid port number: {number}"))
}
