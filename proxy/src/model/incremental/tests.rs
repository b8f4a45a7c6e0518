use cluster_watch::ObjectKey;
use k8s_openapi::api::core::v1::Service;
use proptest::prelude::*;

use super::*;

const NAMESPACES: [&str; 2] = ["a", "b"];

/// One change to the cluster, over a small universe so changes collide often.
#[derive(Debug, Clone)]
enum Op {
    /// Creates or replaces Service `s{name}`.
    SetService {
        ns: usize,
        name: u8,
        ports: u8,
        headless: bool,
        affinity: bool,
    },
    DeleteService {
        ns: usize,
        name: u8,
    },
    /// Creates or replaces slice `x{name}`, labelled for Service `s{label}` (or unlabelled).
    SetSlice {
        ns: usize,
        name: u8,
        label: Option<u8>,
        ports: u8,
        endpoints: Vec<(u8, bool, u8)>,
    },
    DeleteSlice {
        ns: usize,
        name: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..2usize, 0..4u8, 0..4u8, any::<bool>(), any::<bool>()).prop_map(
            |(ns, name, ports, headless, affinity)| Op::SetService { ns, name, ports, headless, affinity }
        ),
        1 => (0..2usize, 0..4u8).prop_map(|(ns, name)| Op::DeleteService { ns, name }),
        4 => (
            0..2usize,
            0..5u8,
            proptest::option::weighted(0.9, 0..4u8),
            0..3u8,
            proptest::collection::vec((0..4u8, any::<bool>(), 0..2u8), 0..4),
        )
            .prop_map(|(ns, name, label, ports, endpoints)| Op::SetSlice {
                ns,
                name,
                label,
                ports,
                endpoints
            }),
        1 => (0..2usize, 0..5u8).prop_map(|(ns, name)| Op::DeleteSlice { ns, name }),
    ]
}

fn service_json(ns: usize, name: u8, ports: u8, headless: bool, affinity: bool) -> Service {
    let ports = match ports {
        0 => serde_json::json!([{"name": "http", "port": 80}]),
        1 => serde_json::json!([
            {"name": "http", "port": 80},
            {"name": "dns", "port": 53, "protocol": "UDP"}
        ]),
        2 => serde_json::json!([{"port": 81}]),
        // Two ports with one id: the first listed wins.
        _ => serde_json::json!([
            {"name": "http", "port": 80},
            {"name": "http", "port": 8000}
        ]),
    };
    let cluster_ip = if headless {
        "None".to_owned()
    } else {
        format!("10.96.{ns}.{name}")
    };
    let mut spec = serde_json::json!({"clusterIP": cluster_ip, "ports": ports});
    if affinity {
        spec["sessionAffinity"] = "ClientIP".into();
    }
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("s{name}"), "namespace": NAMESPACES[ns]},
        "spec": spec
    }))
    .unwrap_or_default()
}

fn slice_json(
    ns: usize,
    name: u8,
    label: Option<u8>,
    ports: u8,
    endpoints: &[(u8, bool, u8)],
) -> Option<EndpointSlice> {
    let ports = match ports {
        0 => serde_json::json!([{"name": "http", "port": 8080, "protocol": "TCP"}]),
        1 => serde_json::json!([
            {"name": "http", "port": 8080, "protocol": "TCP"},
            {"name": "dns", "port": 5353, "protocol": "UDP"}
        ]),
        _ => serde_json::json!([{"port": 9090, "protocol": "TCP"}]),
    };
    let endpoints: Vec<serde_json::Value> = endpoints
        .iter()
        .map(|(ip, ready, node)| {
            serde_json::json!({
                "addresses": [format!("10.244.0.{ip}")],
                "conditions": {"ready": ready},
                "nodeName": format!("n{node}")
            })
        })
        .collect();
    let mut metadata = serde_json::json!({"name": format!("x{name}"), "namespace": NAMESPACES[ns]});
    if let Some(label) = label {
        metadata["labels"] = serde_json::json!({"kubernetes.io/service-name": format!("s{label}")});
    }
    serde_json::from_value(serde_json::json!({
        "metadata": metadata,
        "addressType": "IPv4",
        "ports": ports,
        "endpoints": endpoints
    }))
    .ok()
}

fn apply(state: &mut ClusterState, op: &Op) {
    state.revision += 1;
    match op {
        Op::SetService {
            ns,
            name,
            ports,
            headless,
            affinity,
        } => {
            state.services.insert(
                ObjectKey::new(NAMESPACES[*ns], format!("s{name}")),
                Arc::new(service_json(*ns, *name, *ports, *headless, *affinity)),
            );
        }
        Op::DeleteService { ns, name } => {
            state
                .services
                .remove(&ObjectKey::new(NAMESPACES[*ns], format!("s{name}")));
        }
        Op::SetSlice {
            ns,
            name,
            label,
            ports,
            endpoints,
        } => {
            if let Some(slice) = slice_json(*ns, *name, *label, *ports, endpoints) {
                state.endpoint_slices.insert(
                    ObjectKey::new(NAMESPACES[*ns], format!("x{name}")),
                    Arc::new(slice),
                );
            }
        }
        Op::DeleteSlice { ns, name } => {
            state
                .endpoint_slices
                .remove(&ObjectKey::new(NAMESPACES[*ns], format!("x{name}")));
        }
    }
}

fn node() -> NodeContext {
    NodeContext {
        node_name: "n1".into(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn incremental_table_equals_a_fresh_build(
        first in proptest::collection::vec(op(), 0..12),
        steps in proptest::collection::vec(proptest::collection::vec(op(), 1..3), 1..16),
    ) {
        let mut state = ClusterState::default();
        for op in &first {
            apply(&mut state, op);
        }
        let mut builder = TableBuilder::new(node());
        let update = builder.update(Arc::new(state.clone()));
        prop_assert_eq!(update.rebuild, Rebuild::Full);
        prop_assert_eq!(&*update.table, &ServiceTable::build(&state, &node()));
        let mut previous = update.table;
        for ops in &steps {
            for op in ops {
                apply(&mut state, op);
            }
            let update = builder.update(Arc::new(state.clone()));
            let fresh = ServiceTable::build(&state, &node());
            prop_assert_eq!(&*update.table, &fresh);
            prop_assert_eq!(update.changed, *previous != fresh);
            prop_assert!(
                matches!(update.rebuild, Rebuild::Services(n) if n <= 2 * ops.len()),
                "{:?}", update.rebuild
            );
            // An unchanged port keeps its Arc, so consumers compare pointers, not contents.
            for port in &update.table.ports {
                if let Some(old) = previous.get(&port.id) {
                    prop_assert_eq!(**old == **port, Arc::ptr_eq(old, port), "{}", port.id);
                }
            }
            previous = update.table;
        }
    }
}

#[test]
fn a_node_change_rebuilds_everything_and_keeps_unchanged_ports() {
    let mut state = ClusterState::default();
    for op in [
        Op::SetService {
            ns: 0,
            name: 0,
            ports: 0,
            headless: false,
            affinity: false,
        },
        Op::SetService {
            ns: 0,
            name: 1,
            ports: 0,
            headless: false,
            affinity: false,
        },
        Op::SetSlice {
            ns: 0,
            name: 0,
            label: Some(0),
            ports: 0,
            endpoints: vec![(1, true, 1)],
        },
    ] {
        apply(&mut state, &op);
    }
    let state = Arc::new(state);
    let mut builder = TableBuilder::new(node());
    let before = builder.update(state.clone()).table;
    builder.set_node(NodeContext {
        node_name: "n0".into(),
    });
    let update = builder.update(state.clone());
    assert_eq!(update.rebuild, Rebuild::Full);
    assert!(update.changed, "s0's endpoint is no longer local");
    let fresh = ServiceTable::build(
        &state,
        &NodeContext {
            node_name: "n0".into(),
        },
    );
    assert_eq!(*update.table, fresh);
    assert!(!update.table.ports[0].endpoints[0].is_local);
    assert!(
        Arc::ptr_eq(&before.ports[1], &update.table.ports[1]),
        "s1 has no endpoints; its port is the same Arc"
    );
    let again = builder.update(state);
    assert_eq!(again.rebuild, Rebuild::Services(0));
    assert!(!again.changed);
    assert!(Arc::ptr_eq(&again.table, &update.table));
}
