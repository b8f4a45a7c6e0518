use std::collections::BTreeMap;

use futures::FutureExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use proptest::prelude::*;

use super::*;
use crate::selector::Selector;

fn pod(ns: &str, name: &str, labels: &[(&str, &str)]) -> Pod {
    Pod {
        metadata: ObjectMeta {
            namespace: Some(ns.into()),
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        },
        ..Pod::default()
    }
}

fn slice(ns: &str, name: &str, service: Option<&str>) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            namespace: Some(ns.into()),
            name: Some(name.into()),
            labels: service.map(|s| BTreeMap::from([(SERVICE_NAME_LABEL.into(), s.into())])),
            ..ObjectMeta::default()
        },
        address_type: "IPv4".into(),
        ..EndpointSlice::default()
    }
}

fn selector(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn relabelled_and_deleted_pods_leave_their_old_postings() {
    let index = PodIndex::default();
    let apply = |p: &Pod| index.observe(Some(p), Change::Applied, pod_terms);
    apply(&pod("a", "p1", &[("app", "web")]));
    apply(&pod("a", "p2", &[("app", "web"), ("track", "canary")]));
    apply(&pod("b", "p3", &[("app", "web")]));
    let web = selector(&[("app", "web")]);
    let canary = selector(&[("app", "web"), ("track", "canary")]);
    assert_eq!(index.candidates("a", &web), ["p1", "p2"]);
    // The smallest posting list of the selector's pairs.
    assert_eq!(index.candidates("a", &canary), ["p2"]);
    assert_eq!(index.candidates("b", &web), ["p3"]);
    assert!(
        index
            .candidates("a", &selector(&[("app", "db")]))
            .is_empty()
    );

    // Relabelled: it leaves web and joins db.
    apply(&pod("a", "p1", &[("app", "db")]));
    assert_eq!(index.candidates("a", &web), ["p2"]);
    assert_eq!(index.candidates("a", &selector(&[("app", "db")])), ["p1"]);

    // A delete whose object shows other labels than the index filed (a stale final state)
    // still removes every posting of the Pod.
    index.observe(
        Some(&pod("a", "p2", &[("other", "x")])),
        Change::Deleted,
        pod_terms,
    );
    assert!(index.candidates("a", &web).is_empty());
    assert!(index.candidates("a", &canary).is_empty());
    assert_eq!(index.candidates("a", &BTreeMap::new()), ["p1"]);
}

#[test]
fn a_relist_replaces_the_index_whole_at_its_end() {
    let index = PodIndex::default();
    let web = selector(&[("app", "web")]);
    index.observe(
        Some(&pod("a", "gone", &[("app", "web")])),
        Change::Applied,
        pod_terms,
    );
    index.observe(None::<&Pod>, Change::ListStart, pod_terms);
    index.observe(
        Some(&pod("a", "kept", &[("app", "web")])),
        Change::Listed,
        pod_terms,
    );
    // Until the relist ends, lookups answer from the previous list.
    assert_eq!(index.candidates("a", &web), ["gone"]);
    assert!(index.wait_until_listed().now_or_never().is_none());
    index.observe(None::<&Pod>, Change::ListDone, pod_terms);
    assert_eq!(index.candidates("a", &web), ["kept"]);
    assert!(index.wait_until_listed().now_or_never().is_some());
}

#[test]
fn slices_are_found_by_their_service_label_and_move_when_it_changes() {
    let index = SliceIndex::default();
    let observe = |s: &EndpointSlice, change| index.observe(Some(s), change, slice_terms);
    observe(&slice("a", "web-1", Some("web")), Change::Applied);
    observe(&slice("a", "web-2", Some("web")), Change::Applied);
    observe(&slice("b", "web-3", Some("web")), Change::Applied);
    observe(&slice("a", "loose", None), Change::Applied);
    assert_eq!(index.names("a", "web"), ["web-1", "web-2"]);
    observe(&slice("a", "web-2", Some("db")), Change::Applied);
    assert_eq!(index.names("a", "web"), ["web-1"]);
    assert_eq!(index.names("a", "db"), ["web-2"]);
    observe(&slice("a", "web-1", Some("web")), Change::Deleted);
    assert!(index.names("a", "web").is_empty());
    assert_eq!(index.names("b", "web"), ["web-3"]);
}

/// Label pairs as indexes into [`KEYS`] and [`VALUES`].
type Labels = Vec<(u8, u8)>;

/// One Pod event of the property below: namespace number, Pod number, labels.
#[derive(Debug, Clone)]
enum Step {
    Apply(u8, u8, Labels),
    /// Deleted; the event's object carries labels the index may never have seen.
    Delete(u8, u8, Labels),
    Relist(Vec<(u8, u8, Labels)>),
}

const KEYS: [&str; 3] = ["app", "tier", "track"];
const VALUES: [&str; 2] = ["x", "y"];

fn labelled(ns: u8, name: u8, labels: &[(u8, u8)]) -> Pod {
    let labels: Vec<(&str, &str)> = labels
        .iter()
        .map(|(k, v)| (KEYS[usize::from(*k)], VALUES[usize::from(*v)]))
        .collect();
    pod(&format!("ns{ns}"), &format!("p{name}"), &labels)
}

fn step() -> impl Strategy<Value = Step> {
    let labels = || proptest::collection::vec((0u8..3, 0u8..2), 0..3);
    prop_oneof![
        6 => (0u8..2, 0u8..6, labels()).prop_map(|(ns, n, l)| Step::Apply(ns, n, l)),
        2 => (0u8..2, 0u8..6, labels()).prop_map(|(ns, n, l)| Step::Delete(ns, n, l)),
        1 => proptest::collection::vec((0u8..2, 0u8..6, labels()), 0..8).prop_map(Step::Relist),
    ]
}

proptest! {
    /// Whatever the sequence of applies, relabels, deletes and relists, every Pod a selector
    /// matches is among the candidates, and every candidate is a Pod of that namespace.
    #[test]
    fn candidates_never_miss_a_matching_pod(steps in proptest::collection::vec(step(), 1..40)) {
        let index = PodIndex::default();
        let mut model: BTreeMap<(String, String), Pod> = BTreeMap::new();
        let name = |p: &Pod| (p.namespace().unwrap_or_default(), p.name_any());
        for step in steps {
            match step {
                Step::Apply(ns, n, labels) => {
                    let p = labelled(ns, n, &labels);
                    index.observe(Some(&p), Change::Applied, pod_terms);
                    model.insert(name(&p), p);
                }
                Step::Delete(ns, n, labels) => {
                    let p = labelled(ns, n, &labels);
                    index.observe(Some(&p), Change::Deleted, pod_terms);
                    model.remove(&name(&p));
                }
                Step::Relist(items) => {
                    index.observe(None::<&Pod>, Change::ListStart, pod_terms);
                    model.clear();
                    for (ns, n, labels) in items {
                        let p = labelled(ns, n, &labels);
                        index.observe(Some(&p), Change::Listed, pod_terms);
                        model.insert(name(&p), p);
                    }
                    index.observe(None::<&Pod>, Change::ListDone, pod_terms);
                }
            }
            let selectors = [
                selector(&[("app", "x")]),
                selector(&[("app", "x"), ("tier", "y")]),
                selector(&[("tier", "y"), ("track", "x")]),
                BTreeMap::new(),
            ];
            for ns in ["ns0", "ns1"] {
                for map in &selectors {
                    let candidates = index.candidates(ns, map);
                    let rule = Selector::from_map(map);
                    for ((pns, pname), p) in &model {
                        let labels = p.metadata.labels.clone().unwrap_or_default();
                        if pns == ns && rule.matches(&labels) {
                            prop_assert!(candidates.contains(pname), "{pname} missing for {map:?}");
                        }
                    }
                    for c in &candidates {
                        prop_assert!(model.contains_key(&(ns.to_string(), c.clone())));
                    }
                }
            }
        }
    }
}
