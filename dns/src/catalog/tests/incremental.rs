//! Property test: a table kept up to date change by change holds exactly what a table built
//! from scratch for the same snapshot holds, whatever the sequence of changes.

use std::collections::BTreeMap;
use std::sync::Arc;

use cluster_watch::{ClusterState, ObjectKey, SERVICE_NAME_LABEL};
use k8s_openapi::api::core::v1::{Pod, PodIP, PodStatus, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use proptest::prelude::*;

use super::super::{NameTable, TableOptions, TableWriter};
use crate::{DnsConfig, PodRecords};

const NAMESPACES: [&str; 2] = ["a", "b"];

/// Few addresses, so that PTR names are shared by several services now and then.
fn ip(i: u8) -> String {
    if i % 5 == 4 {
        format!("fd00::{i}")
    } else {
        format!("10.0.0.{}", i % 6)
    }
}

fn meta(ns: usize, name: String, labels: Option<(&str, String)>) -> ObjectMeta {
    ObjectMeta {
        namespace: Some(NAMESPACES[ns % 2].to_owned()),
        name: Some(name),
        labels: labels.map(|(k, v)| [(k.to_owned(), v)].into_iter().collect()),
        ..ObjectMeta::default()
    }
}

#[derive(Debug, Clone)]
enum Kind {
    ClusterIp(Vec<u8>),
    Headless(bool),
    External(u8),
    Pending,
}

#[derive(Debug, Clone)]
enum Op {
    Service {
        ns: usize,
        name: u8,
        kind: Kind,
        ports: Vec<(u8, bool)>,
    },
    RemoveService {
        ns: usize,
        name: u8,
    },
    Slice {
        ns: usize,
        name: u8,
        service: u8,
        endpoints: Vec<(u8, Option<u8>, bool)>,
        port: u8,
    },
    RemoveSlice {
        ns: usize,
        name: u8,
    },
    Pod {
        ns: usize,
        name: u8,
        ips: Vec<u8>,
    },
    RemovePod {
        ns: usize,
        name: u8,
    },
    /// Publish a snapshot now (otherwise changes pile up into one).
    Publish,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        prop::collection::vec(0u8..10, 0..3).prop_map(Kind::ClusterIp),
        any::<bool>().prop_map(Kind::Headless),
        (0u8..3).prop_map(Kind::External),
        Just(Kind::Pending),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let ports = prop::collection::vec((0u8..3, any::<bool>()), 0..3);
    let endpoints = prop::collection::vec((0u8..10, prop::option::of(0u8..3), any::<bool>()), 0..4);
    prop_oneof![
        3 => (0usize..2, 0u8..4, kind(), ports)
            .prop_map(|(ns, name, kind, ports)| Op::Service { ns, name, kind, ports }),
        1 => (0usize..2, 0u8..4).prop_map(|(ns, name)| Op::RemoveService { ns, name }),
        3 => (0usize..2, 0u8..4, 0u8..4, endpoints, 0u8..3).prop_map(
            |(ns, name, service, endpoints, port)| Op::Slice { ns, name, service, endpoints, port }
        ),
        1 => (0usize..2, 0u8..4).prop_map(|(ns, name)| Op::RemoveSlice { ns, name }),
        1 => (0usize..2, 0u8..3, prop::collection::vec(0u8..10, 0..3))
            .prop_map(|(ns, name, ips)| Op::Pod { ns, name, ips }),
        1 => (0usize..2, 0u8..3).prop_map(|(ns, name)| Op::RemovePod { ns, name }),
        2 => Just(Op::Publish),
    ]
}

fn key(ns: usize, name: String) -> ObjectKey {
    ObjectKey::new(NAMESPACES[ns % 2], name)
}

fn service(ns: usize, name: u8, kind: &Kind, ports: &[(u8, bool)]) -> Service {
    let ports = ports
        .iter()
        .map(|(p, udp)| ServicePort {
            name: Some(format!("p{p}")),
            port: 80 + i32::from(*p),
            protocol: Some(if *udp { "UDP" } else { "TCP" }.to_owned()),
            ..ServicePort::default()
        })
        .collect();
    let mut spec = ServiceSpec {
        ports: Some(ports),
        ..ServiceSpec::default()
    };
    match kind {
        Kind::ClusterIp(ips) => {
            let ips: Vec<String> = ips.iter().map(|i| ip(*i)).collect();
            spec.cluster_ip = ips.first().cloned();
            spec.cluster_ips = Some(ips);
        }
        Kind::Headless(not_ready) => {
            spec.cluster_ip = Some("None".to_owned());
            spec.publish_not_ready_addresses = Some(*not_ready);
        }
        Kind::External(target) => {
            spec.type_ = Some("ExternalName".to_owned());
            spec.external_name = Some(if *target == 0 {
                "s1.a.svc.cluster.local".to_owned()
            } else {
                format!("www{target}.Example.org")
            });
        }
        Kind::Pending => {}
    }
    Service {
        metadata: meta(ns, format!("s{name}"), None),
        spec: Some(spec),
        ..Service::default()
    }
}

fn slice(
    ns: usize,
    name: u8,
    svc: u8,
    endpoints: &[(u8, Option<u8>, bool)],
    port: u8,
) -> EndpointSlice {
    let v6 = endpoints.first().is_some_and(|(i, _, _)| i % 5 == 4);
    EndpointSlice {
        metadata: meta(
            ns,
            format!("e{name}"),
            Some((SERVICE_NAME_LABEL, format!("s{svc}"))),
        ),
        address_type: if v6 { "IPv6" } else { "IPv4" }.to_owned(),
        endpoints: endpoints
            .iter()
            .filter(|(i, _, _)| (i % 5 == 4) == v6)
            .map(|(i, host, ready)| Endpoint {
                addresses: vec![ip(*i)],
                hostname: host.map(|h| format!("h{h}")),
                conditions: Some(EndpointConditions {
                    ready: Some(*ready),
                    ..EndpointConditions::default()
                }),
                ..Endpoint::default()
            })
            .collect(),
        ports: Some(vec![EndpointPort {
            name: Some(format!("p{port}")),
            port: Some(8000 + i32::from(port)),
            protocol: Some("TCP".to_owned()),
            ..EndpointPort::default()
        }]),
    }
}

fn pod(ns: usize, name: u8, ips: &[u8]) -> Pod {
    let ips: Vec<String> = ips.iter().map(|i| ip(*i)).collect();
    Pod {
        metadata: meta(ns, format!("p{name}"), None),
        status: Some(PodStatus {
            pod_ip: ips.first().cloned(),
            pod_ips: Some(ips.into_iter().map(|ip| PodIP { ip }).collect()),
            ..PodStatus::default()
        }),
        ..Pod::default()
    }
}

/// Applies one change; returns true when a snapshot should be published.
fn apply(state: &mut ClusterState, op: &Op) -> bool {
    match op {
        Op::Service {
            ns,
            name,
            kind,
            ports,
        } => {
            let object = service(*ns, *name, kind, ports);
            state
                .services
                .insert(key(*ns, format!("s{name}")), Arc::new(object));
        }
        Op::RemoveService { ns, name } => {
            state.services.remove(&key(*ns, format!("s{name}")));
        }
        Op::Slice {
            ns,
            name,
            service,
            endpoints,
            port,
        } => {
            let object = slice(*ns, *name, *service, endpoints, *port);
            state
                .endpoint_slices
                .insert(key(*ns, format!("e{name}")), Arc::new(object));
        }
        Op::RemoveSlice { ns, name } => {
            state.endpoint_slices.remove(&key(*ns, format!("e{name}")));
        }
        Op::Pod { ns, name, ips } => {
            state
                .pods
                .insert(key(*ns, format!("p{name}")), Arc::new(pod(*ns, *name, ips)));
        }
        Op::RemovePod { ns, name } => {
            state.pods.remove(&key(*ns, format!("p{name}")));
        }
        Op::Publish => return true,
    }
    false
}

fn render(records: &[std::borrow::Cow<'_, hickory_proto::rr::Record>]) -> Vec<String> {
    records
        .iter()
        .map(|r| format!("{} {}", r.name, r.data))
        .collect()
}

/// Everything a table holds, rendered: per name its reference count, sources and record sets.
fn contents(table: &NameTable) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = table
        .nodes
        .iter()
        .map(|(name, node)| {
            let sets: Vec<String> = node
                .sets
                .iter()
                .map(|set| {
                    let (mut records, mut additional) = (Vec::new(), Vec::new());
                    let decoded = set.append_to(&owner(&name), &mut records, &mut additional);
                    format!(
                        "{}: {:?} + {:?} as {:?} ({decoded:?})",
                        set.rtype,
                        render(&records),
                        render(&additional),
                        set.data
                    )
                })
                .collect();
            let text = format!(
                "refs {} sources {:?} sets {sets:?}",
                node.refs, node.sources
            );
            (name, text)
        })
        .collect();
    out.insert(
        "(table)".to_owned(),
        format!(
            "synced {} revision {} soa {} pod zone {:?} encoded {:?}",
            table.synced, table.revision, table.soa, table.pod_zone, table.encoded
        ),
    );
    out
}

fn options(mode: u8) -> Result<TableOptions, crate::DnsError> {
    let pod_records = match mode {
        0 => PodRecords::Disabled,
        1 => PodRecords::Insecure,
        _ => PodRecords::Verified,
    };
    TableOptions::from_config(&DnsConfig {
        pod_records,
        ..DnsConfig::default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// After every published snapshot, the incrementally kept table equals a fresh build.
    #[test]
    fn incremental_updates_equal_a_fresh_build(
        mode in 0u8..3,
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let options = options(mode).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut writer = TableWriter::new(options.clone());
        let mut state = ClusterState { synced: true, ..ClusterState::default() };
        let mut last = state.clone();
        for op in ops.iter().chain(std::iter::once(&Op::Publish)) {
            if !apply(&mut state, op) {
                continue;
            }
            state.revision += 1;
            // The server skips snapshots that change nothing it serves; do the same.
            if state.revision > 1 && !options.affected_by(&last, &state) {
                continue;
            }
            last = state.clone();
            let kept = writer.update(&state);
            let fresh = NameTable::build(&state, options.clone());
            prop_assert_eq!(contents(&kept), contents(&fresh));
        }
    }
}

/// The name a rendered key (`a.b.c.`, `.` for the root) stands for.
fn owner(key: &str) -> hickory_proto::rr::Name {
    hickory_proto::rr::Name::from_ascii(key).unwrap_or_else(|_| hickory_proto::rr::Name::root())
}
