//! Bootstrap of the built-in objects every cluster has: the namespaces `default`,
//! `kube-system`, `kube-public`, `kube-node-lease`, and the Service `default/kubernetes`
//! (ClusterIP = the first service IP, port `https` 443 → the API port) with its Endpoints and
//! EndpointSlice `kubernetes` pointing at the API address, and the built-in RBAC ClusterRoles
//! and ClusterRoleBindings ([`crate::authz::defaults`]). Idempotent: existing objects are kept
//! (the endpoints corrected when the API address changed; built-in roles and bindings brought
//! back to their defaults unless their `rbac.authorization.kubernetes.io/autoupdate` annotation
//! is `"false"`). Acts only through the API.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use cluster_watch::status_code;
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort as CorePort, EndpointSubset, Endpoints, Namespace, Service,
    ServicePort, ServiceSpec,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Client;
use kube::api::{Api, PostParams};

use super::ControllerConfig;
use super::endpoint_slices::{SERVICE_NAME_LABEL, address_type};
use super::endpoints_mirror::SKIP_MIRROR_LABEL;

/// The namespaces every cluster has.
pub const BUILTIN_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

fn meta(name: &str, namespace: Option<&str>, labels: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        labels: (!labels.is_empty()).then(|| {
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        }),
        ..ObjectMeta::default()
    }
}

/// The `default/kubernetes` Service for an API on `api_port`.
pub fn kubernetes_service(api_port: u16) -> Service {
    Service {
        metadata: meta(
            "kubernetes",
            Some("default"),
            &[("component", "apiserver"), ("provider", "kubernetes")],
        ),
        spec: Some(ServiceSpec {
            ports: Some(vec![ServicePort {
                name: Some("https".to_string()),
                port: 443,
                protocol: Some("TCP".to_string()),
                target_port: Some(IntOrString::Int(i32::from(api_port))),
                ..ServicePort::default()
            }]),
            session_affinity: Some("None".to_string()),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// The `default/kubernetes` Endpoints pointing at `api`.
pub fn kubernetes_endpoints(api: SocketAddr) -> Endpoints {
    Endpoints {
        metadata: meta(
            "kubernetes",
            Some("default"),
            &[(SKIP_MIRROR_LABEL, "true")],
        ),
        subsets: Some(vec![EndpointSubset {
            addresses: Some(vec![EndpointAddress {
                ip: api.ip().to_string(),
                ..EndpointAddress::default()
            }]),
            not_ready_addresses: None,
            ports: Some(vec![CorePort {
                name: Some("https".to_string()),
                port: i32::from(api.port()),
                protocol: Some("TCP".to_string()),
                app_protocol: None,
            }]),
        }]),
    }
}

/// The `default/kubernetes` EndpointSlice pointing at `api`.
pub fn kubernetes_slice(api: SocketAddr) -> EndpointSlice {
    EndpointSlice {
        metadata: meta(
            "kubernetes",
            Some("default"),
            &[(SERVICE_NAME_LABEL, "kubernetes")],
        ),
        address_type: address_type(api.ip()).to_string(),
        endpoints: vec![Endpoint {
            addresses: vec![api.ip().to_string()],
            conditions: Some(EndpointConditions {
                ready: Some(true),
                serving: Some(true),
                terminating: Some(false),
            }),
            ..Endpoint::default()
        }],
        ports: Some(vec![EndpointPort {
            name: Some("https".to_string()),
            port: Some(i32::from(api.port())),
            protocol: Some("TCP".to_string()),
            app_protocol: None,
        }]),
    }
}

/// The address to advertise: the listen address, or loopback when it is unspecified.
fn advertised(api: SocketAddr) -> SocketAddr {
    let ip = match api.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    SocketAddr::new(ip, api.port())
}

/// Creates `obj`; when it exists, calls `fix` on the stored one and replaces it when `fix`
/// returns a changed object.
pub(super) async fn ensure<K>(
    api: &Api<K>,
    obj: &K,
    fix: impl Fn(&K) -> Option<K>,
) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => {
            tracing::info!(kind = %std::any::type_name::<K>(), %name, "bootstrap: created");
            Ok(())
        }
        Err(e) if status_code(&e) == Some(409) => {
            let stored = api.get(&name).await?;
            if let Some(next) = fix(&stored) {
                api.replace(&name, &PostParams::default(), &next).await?;
                tracing::info!(%name, "bootstrap: updated");
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Runs the bootstrap once.
pub async fn ensure_builtins(
    client: &Client,
    config: &ControllerConfig,
) -> Result<(), kube::Error> {
    let api_addr = advertised(config.api_address);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for ns in BUILTIN_NAMESPACES {
        let obj = Namespace {
            metadata: meta(ns, None, &[]),
            ..Namespace::default()
        };
        ensure(&namespaces, &obj, |_| None).await?;
    }
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let want = kubernetes_service(api_addr.port());
    ensure(&services, &want, |stored| {
        let mut next = stored.clone();
        let spec = next.spec.get_or_insert_with(ServiceSpec::default);
        let ports = want.spec.as_ref().and_then(|s| s.ports.clone());
        if spec.ports == ports {
            return None;
        }
        spec.ports = ports;
        Some(next)
    })
    .await?;
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    let want = kubernetes_endpoints(api_addr);
    ensure(&endpoints, &want, |stored| {
        (stored.subsets != want.subsets).then(|| {
            let mut next = stored.clone();
            next.subsets = want.subsets.clone();
            next
        })
    })
    .await?;
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let want = kubernetes_slice(api_addr);
    ensure(&slices, &want, |stored| {
        (stored.endpoints != want.endpoints
            || stored.ports != want.ports
            || stored.address_type != want.address_type)
            .then(|| {
                let mut next = want.clone();
                next.metadata = stored.metadata.clone();
                next
            })
    })
    .await?;
    ensure_rbac(client).await?;
    if let Some(ip) = config.cluster_dns {
        match super::cluster_dns::ensure_service(client, ip).await {
            // The address is taken by another Service: retrying cannot help, the rest stands.
            Err(e) if status_code(&e) == Some(422) => {
                tracing::error!(error = %e, cluster_dns = %ip, "cannot create kube-system/kube-dns");
            }
            other => other?,
        }
    }
    Ok(())
}

/// Creates the built-in ClusterRoles and ClusterRoleBindings, or restores their rules and
/// subjects when they drifted and may be updated.
async fn ensure_rbac(client: &Client) -> Result<(), kube::Error> {
    use crate::authz::defaults::{autoupdate, cluster_role_bindings, cluster_roles};
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    let roles: Api<ClusterRole> = Api::all(client.clone());
    for want in cluster_roles() {
        ensure(&roles, &want, |stored| {
            (autoupdate(&stored.metadata) && stored.rules != want.rules).then(|| {
                let mut next = stored.clone();
                next.rules = want.rules.clone();
                next
            })
        })
        .await?;
    }
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    for want in cluster_role_bindings() {
        // roleRef is immutable; a stored binding to another role is left as the operator made it.
        ensure(&bindings, &want, |stored| {
            (autoupdate(&stored.metadata)
                && stored.role_ref == want.role_ref
                && stored.subjects != want.subjects)
                .then(|| {
                    let mut next = stored.clone();
                    next.subjects = want.subjects.clone();
                    next
                })
        })
        .await?;
    }
    Ok(())
}

/// Runs the bootstrap until it succeeds, retrying with a capped backoff (the API may still be
/// starting).
pub async fn run(client: Client, config: ControllerConfig) {
    let mut delay = Duration::from_millis(100);
    loop {
        match ensure_builtins(&client, &config).await {
            Ok(()) => {
                tracing::info!("bootstrap: built-in objects present");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, ?delay, "bootstrap failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
