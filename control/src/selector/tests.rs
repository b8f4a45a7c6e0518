//! Tests of label selector parsing, rendering and matching, including round-trip and model-agreement properties.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use proptest::prelude::*;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn parses_every_operator() -> Result<(), SelectorError> {
    let s = Selector::parse(
        " app = web , tier==front,env != prod, zone in (a, b),x notin (c),k,!gone",
    )?;
    assert_eq!(s.requirements().len(), 7);
    let ok = labels(&[
        ("app", "web"),
        ("tier", "front"),
        ("env", "dev"),
        ("zone", "b"),
        ("k", ""),
    ]);
    assert!(s.matches(&ok));
    let mut bad = ok.clone();
    bad.insert("gone".into(), "x".into());
    assert!(!s.matches(&bad));
    let mut bad = ok.clone();
    bad.insert("x".into(), "c".into());
    assert!(!s.matches(&bad));
    let mut bad = ok;
    bad.remove("k");
    assert!(!s.matches(&bad));
    Ok(())
}

#[test]
fn empty_selector_matches_everything() -> Result<(), SelectorError> {
    let s = Selector::parse("  ")?;
    assert!(s.is_empty());
    assert!(s.matches(&labels(&[("a", "b")])));
    assert_eq!(s, Selector::everything());
    Ok(())
}

#[test]
fn empty_value_is_allowed_after_equals() -> Result<(), SelectorError> {
    let s = Selector::parse("a=,b!=")?;
    assert!(s.matches(&labels(&[("a", ""), ("b", "x")])));
    assert!(!s.matches(&labels(&[("a", "x")])));
    Ok(())
}

#[test]
fn errors_name_the_bad_part() {
    let cases = [
        ("a b", "expected an operator"),
        ("a in x", "expected '('"),
        ("a in (x,", "missing ')'"),
        ("a in (x", "missing ')'"),
        ("Bad_/x=y", "key \"Bad_/x\""),
        ("a=b c", "expected ',' or the end"),
        ("a=b,", "expected a label key"),
        ("a=-x", "value \"-x\" for key \"a\""),
        ("=x", "expected a label key"),
    ];
    for (text, want) in cases {
        match Selector::parse(text) {
            Ok(s) => panic!("{text:?} parsed as {s:?}"),
            Err(e) => assert!(e.reason.contains(want), "{text:?}: {e}"),
        }
    }
}

#[test]
fn displays_query_syntax_sorted_by_key() -> Result<(), SelectorError> {
    let s = Selector::parse("z notin (b,a),!y,a==1,m")?;
    assert_eq!(s.to_string(), "a=1,m,!y,z notin (a,b)");
    Ok(())
}

#[test]
fn keyword_named_keys_round_trip() -> Result<(), SelectorError> {
    let s = Selector::parse("in in (notin),notin=in")?;
    assert_eq!(Selector::parse(&s.to_string())?, s);
    assert!(s.matches(&labels(&[("in", "notin"), ("notin", "in")])));
    Ok(())
}

#[test]
fn from_map_is_equalities() {
    let s = Selector::from_map(&labels(&[("app", "web")]));
    assert!(s.matches(&labels(&[("app", "web"), ("x", "y")])));
    assert!(!s.matches(&labels(&[("app", "db")])));
    assert!(Selector::from_map(&BTreeMap::new()).matches(&BTreeMap::new()));
}

fn expr(key: &str, op: &str, values: Option<Vec<&str>>) -> LabelSelectorRequirement {
    LabelSelectorRequirement {
        key: key.to_string(),
        operator: op.to_string(),
        values: values.map(|v| v.into_iter().map(String::from).collect()),
    }
}

#[test]
fn label_selector_operators() -> Result<(), SelectorError> {
    let ls = LabelSelector {
        match_labels: Some(labels(&[("app", "web")])),
        match_expressions: Some(vec![
            expr("tier", "In", Some(vec!["a", "b"])),
            expr("env", "NotIn", Some(vec!["prod"])),
            expr("k", "Exists", None),
            expr("gone", "DoesNotExist", Some(vec![])),
        ]),
    };
    let s = Selector::from_label_selector(&ls)?;
    assert!(s.matches(&labels(&[("app", "web"), ("tier", "a"), ("k", "1")])));
    assert!(!s.matches(&labels(&[("app", "web"), ("tier", "c"), ("k", "1")])));
    assert!(!s.matches(&labels(&[("app", "web"), ("tier", "a")])));
    Ok(())
}

#[test]
fn label_selector_errors() {
    let bad = [
        (expr("a", "In", None), "must be specified"),
        (expr("a", "Exists", Some(vec!["x"])), "may not be specified"),
        (
            expr("a", "Gt", Some(vec!["1"])),
            "not a valid selector operator",
        ),
        (expr("a b", "Exists", None), "key \"a b\""),
    ];
    for (e, want) in bad {
        let ls = LabelSelector {
            match_expressions: Some(vec![e]),
            ..Default::default()
        };
        match Selector::from_label_selector(&ls) {
            Ok(s) => panic!("accepted {s:?}"),
            Err(err) => assert!(err.reason.contains(want), "{err}"),
        }
    }
}

fn key_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c]{1,2}",
        "(in|notin)",
        "[a-z]{1,3}\\.io/[A-Za-z0-9]([-A-Za-z0-9_.]{0,3}[A-Za-z0-9])?",
    ]
}

fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof!["", "[a-c]", "[A-Za-z0-9]([-A-Za-z0-9_.]{0,3}[A-Za-z0-9])?"]
}

fn requirement_strategy() -> impl Strategy<Value = Requirement> {
    let set = || proptest::collection::btree_set(value_strategy(), 1..4);
    prop_oneof![
        (key_strategy(), value_strategy()).prop_map(|(k, v)| Requirement::Equals(k, v)),
        (key_strategy(), value_strategy()).prop_map(|(k, v)| Requirement::NotEquals(k, v)),
        (key_strategy(), set()).prop_map(|(k, v)| Requirement::In(k, v)),
        (key_strategy(), set()).prop_map(|(k, v)| Requirement::NotIn(k, v)),
        key_strategy().prop_map(Requirement::Exists),
        key_strategy().prop_map(Requirement::DoesNotExist),
    ]
}

/// The straightforward model: a label set satisfies the selector when every requirement, read
/// literally from its definition, holds.
fn model(reqs: &[Requirement], labels: &BTreeMap<String, String>) -> bool {
    for r in reqs {
        let ok = match r {
            Requirement::Equals(k, v) => labels.iter().any(|(lk, lv)| lk == k && lv == v),
            Requirement::NotEquals(k, v) => !labels.iter().any(|(lk, lv)| lk == k && lv == v),
            Requirement::In(k, vs) => labels
                .iter()
                .any(|(lk, lv)| lk == k && vs.iter().any(|x| x == lv)),
            Requirement::NotIn(k, vs) => !labels
                .iter()
                .any(|(lk, lv)| lk == k && vs.iter().any(|x| x == lv)),
            Requirement::Exists(k) => labels.keys().any(|lk| lk == k),
            Requirement::DoesNotExist(k) => !labels.keys().any(|lk| lk == k),
        };
        if !ok {
            return false;
        }
    }
    true
}

proptest! {
    #[test]
    fn display_then_parse_round_trips(reqs in proptest::collection::vec(requirement_strategy(), 0..5)) {
        let s = Selector::from_requirements(reqs).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let text = s.to_string();
        let back = Selector::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(back, s);
    }

    #[test]
    fn matching_agrees_with_model(
        reqs in proptest::collection::vec(requirement_strategy(), 0..4),
        labels in proptest::collection::btree_map(key_strategy(), value_strategy(), 0..4),
    ) {
        let s = Selector::from_requirements(reqs.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(s.matches(&labels), model(&reqs, &labels));
    }
}

#[test]
fn empty_parens_hold_the_empty_value() -> Result<(), SelectorError> {
    let s = Selector::parse("a in ()")?;
    assert!(s.matches(&labels(&[("a", "")])));
    assert!(!s.matches(&labels(&[("a", "x")])));
    let empty = Selector::from_requirements(vec![Requirement::In("a".into(), BTreeSet::new())]);
    assert!(empty.is_err_and(|e| e.reason.contains("can't be empty")));
    Ok(())
}

#[test]
fn set_values_are_deduplicated() -> Result<(), SelectorError> {
    let s = Selector::parse("a in (x,x,y)")?;
    let expected: BTreeSet<String> = ["x", "y"].iter().map(|s| s.to_string()).collect();
    assert_eq!(s.requirements(), &[Requirement::In("a".into(), expected)]);
    Ok(())
}
