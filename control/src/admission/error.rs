//! Admission's one error type. It names fields and reasons as kube-apiserver words them and
//! knows nothing of HTTP; the store carries it (`StoreError::Admission`) and the API edge turns
//! it into a `Status`.

use crate::error::FieldCause;

/// Why admission refused an object.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdmissionError {
    /// Fields of the object are invalid (422).
    #[error("{kind} \"{name}\" is invalid: {} field errors", causes.len() + omitted)]
    Invalid {
        /// The object's kind, e.g. `Service`.
        kind: String,
        /// The object's name.
        name: String,
        /// The first causes found (at most `crate::error::MAX_CAUSES`).
        causes: Vec<FieldCause>,
        /// How many more causes were found but not kept.
        omitted: usize,
    },
    /// A pool had nothing left to allocate, e.g. `failed to allocate a serviceIP: ...` (500, as
    /// kube-apiserver answers).
    #[error("{0}")]
    Allocation(String),
    /// Admission met a state it cannot handle (a bug, or an unusable address plan).
    #[error("{0}")]
    Internal(String),
}

impl AdmissionError {
    /// An `Invalid` error with these causes and none omitted.
    pub(crate) fn invalid(kind: &str, name: &str, causes: Vec<FieldCause>) -> Self {
        AdmissionError::Invalid {
            kind: kind.to_string(),
            name: name.to_string(),
            causes,
            omitted: 0,
        }
    }
}
