use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;

fn slice(namespace: &str, name: &str, service: Option<&str>) -> Arc<EndpointSlice> {
    Arc::new(EndpointSlice {
        metadata: ObjectMeta {
            namespace: Some(namespace.into()),
            name: Some(name.into()),
            labels: service.map(|s| BTreeMap::from([(SERVICE_NAME_LABEL.into(), s.into())])),
            ..ObjectMeta::default()
        },
        address_type: "IPv4".into(),
        ..EndpointSlice::default()
    })
}

fn names(slices: &EndpointSlices, namespace: &str, service: &str) -> Vec<String> {
    slices
        .for_service(namespace, service)
        .map(|s| s.metadata.name.clone().unwrap_or_default())
        .collect()
}

#[test]
fn a_relabelled_slice_moves_between_services_and_an_unlabelled_one_is_in_none() {
    let mut slices = EndpointSlices::new();
    slices.insert(
        ObjectKey::new("a", "web-2"),
        slice("a", "web-2", Some("web")),
    );
    slices.insert(
        ObjectKey::new("a", "web-1"),
        slice("a", "web-1", Some("web")),
    );
    slices.insert(
        ObjectKey::new("b", "web-3"),
        slice("b", "web-3", Some("web")),
    );
    assert_eq!(names(&slices, "a", "web"), ["web-1", "web-2"]);
    assert_eq!(names(&slices, "b", "web"), ["web-3"]);

    // Relabelled to another Service: it leaves the first.
    let replaced = slices.insert(
        ObjectKey::new("a", "web-2"),
        slice("a", "web-2", Some("db")),
    );
    assert!(replaced.is_some());
    assert_eq!(names(&slices, "a", "web"), ["web-1"]);
    assert_eq!(names(&slices, "a", "db"), ["web-2"]);

    // The label removed: in no Service, still in the map.
    slices.insert(ObjectKey::new("a", "web-2"), slice("a", "web-2", None));
    assert!(names(&slices, "a", "db").is_empty());
    assert!(slices.by_service.get(&ObjectKey::new("a", "db")).is_none());
    assert_eq!(slices.len(), 3);

    assert!(slices.remove(&ObjectKey::new("a", "web-1")).is_some());
    assert!(slices.remove(&ObjectKey::new("a", "web-1")).is_none());
    assert!(names(&slices, "a", "web").is_empty());
    assert_eq!(slices.by_service.len(), 1);
}

#[test]
fn reads_through_the_map_see_what_was_inserted() {
    let slices: EndpointSlices = [
        (ObjectKey::new("a", "x"), slice("a", "x", Some("web"))),
        (ObjectKey::new("a", "y"), slice("a", "y", None)),
    ]
    .into_iter()
    .collect();
    let mut other = slices.clone();
    assert!(slices.ptr_eq(&other));
    other.remove(&ObjectKey::new("a", "y"));
    assert_eq!(slices.diff(&other).count(), 1);
    assert_eq!(slices.as_map().len(), 2);
    assert!(slices.get(&ObjectKey::new("a", "y")).is_some());
    assert_ne!(slices, other);
}
