//! Label selectors: the `labelSelector=` query syntax (`a=b,c!=d,e in (x,y),!f,g`), a Service's
//! `spec.selector` map, and `metav1.LabelSelector` (`matchLabels` + `matchExpressions` with
//! `In`, `NotIn`, `Exists`, `DoesNotExist`), all compiled to one matcher.
//!
//! OWNER: admission/controllers helper. This file is a placeholder with the agreed interface.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// A parse or validation failure, naming the offending part of the selector.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid label selector {selector:?}: {reason}")]
pub struct SelectorError {
    /// The selector text (or a rendering of the structured selector).
    pub selector: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A compiled label selector. The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
}

impl Selector {
    /// The selector that matches every object.
    pub fn everything() -> Selector {
        Selector::default()
    }

    /// Parses the `labelSelector=` query syntax.
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let _ = text;
        Ok(Selector::default())
    }

    /// A Service's `spec.selector`: every key must equal its value.
    pub fn from_map(map: &BTreeMap<String, String>) -> Selector {
        Selector {
            requirements: map
                .iter()
                .map(|(k, v)| Requirement::Equals(k.clone(), v.clone()))
                .collect(),
        }
    }

    /// A structured `metav1.LabelSelector`.
    pub fn from_label_selector(selector: &LabelSelector) -> Result<Selector, SelectorError> {
        let _ = selector;
        Ok(Selector::default())
    }

    /// Whether the selector has no requirements (matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
        })
    }
}
