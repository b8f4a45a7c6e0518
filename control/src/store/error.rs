//! The store's one error type: why it could not be opened, and why a read or write request was
//! refused. It knows nothing of HTTP; the API edge turns it into a `Status`
//! (`impl From<StoreError> for ApiError` in `crate::error`).

use std::sync::Arc;

use crate::admission::AdmissionError;
use crate::error::FieldCause;

/// An error a [`super::Change`] returns: the caller's own error (a patch that no longer applies,
/// a body that no longer decodes), carried back through the writer untouched.
pub type ChangeError = Box<dyn std::error::Error + Send + Sync>;

/// Why the store could not be opened, or refused a request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened, read or committed.
    #[error("database {phase}: {reason}")]
    Database {
        /// What the store was doing (`open`, `load objects`, `commit`, ...).
        phase: &'static str,
        /// The underlying error.
        reason: String,
    },
    /// A stored record could not be decoded.
    #[error("corrupt record {key:?}: {reason}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The named object does not exist (in `resource`, e.g. `services`).
    #[error("{resource} \"{name}\" not found")]
    NotFound {
        /// The resource (plural, lower case).
        resource: String,
        /// The object's name.
        name: String,
    },
    /// A create named an object that exists.
    #[error("{resource} \"{name}\" already exists")]
    AlreadyExists {
        /// The resource (plural, lower case).
        resource: String,
        /// The object's name.
        name: String,
    },
    /// Optimistic concurrency failed, or the object changed under the request.
    #[error("Operation cannot be fulfilled on {resource} \"{name}\": {reason}")]
    Conflict {
        /// The resource (plural, lower case).
        resource: String,
        /// The object's name.
        name: String,
        /// Why, e.g. `the object has been modified; ...`.
        reason: String,
    },
    /// The request is understood but not allowed for this object (a protected or terminating
    /// namespace).
    #[error("{resource} \"{name}\" is forbidden: {reason}")]
    Forbidden {
        /// The resource (plural, lower case).
        resource: String,
        /// The object's name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The request contradicts itself (a body naming another object, a bad resourceVersion).
    #[error("{0}")]
    BadRequest(String),
    /// The operation is not supported for this kind.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The requested resourceVersion is no longer (or not yet) in the history: re-list.
    #[error("{0}")]
    Expired(String),
    /// The store cannot take requests now (shutting down, or the disk failing); retry later.
    #[error("{0}")]
    Unavailable(String),
    /// A request failed inside the store (a bug, a panic caught in the writer).
    #[error("{0}")]
    Internal(String),
    /// Admission refused the object.
    #[error(transparent)]
    Admission(#[from] AdmissionError),
    /// The request's own change function refused the stored object.
    #[error("{0}")]
    Change(Arc<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// A database failure during `phase`.
    pub(crate) fn db(phase: &'static str, error: impl std::fmt::Display) -> Self {
        StoreError::Database {
            phase,
            reason: error.to_string(),
        }
    }

    /// A request failed inside the store.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        StoreError::Internal(message.into())
    }

    /// The store cannot take requests now.
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        StoreError::Unavailable(message.into())
    }

    /// The request contradicts itself.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        StoreError::BadRequest(message.into())
    }

    /// The requested resourceVersion is not in the history.
    pub(crate) fn expired(message: impl Into<String>) -> Self {
        StoreError::Expired(message.into())
    }

    /// The operation is not supported for this kind.
    pub(crate) fn method_not_allowed(message: impl Into<String>) -> Self {
        StoreError::MethodNotAllowed(message.into())
    }

    /// A create named an object that exists.
    pub(crate) fn already_exists(resource: impl Into<String>, name: impl Into<String>) -> Self {
        StoreError::AlreadyExists {
            resource: resource.into(),
            name: name.into(),
        }
    }

    /// Fields of `name` (a `kind`) are invalid.
    pub(crate) fn invalid_many(kind: &str, name: &str, causes: Vec<FieldCause>) -> Self {
        StoreError::Admission(AdmissionError::invalid(kind, name, causes))
    }

    /// The object `name` of `resource` does not exist.
    pub(crate) fn not_found(resource: impl Into<String>, name: impl Into<String>) -> Self {
        StoreError::NotFound {
            resource: resource.into(),
            name: name.into(),
        }
    }

    /// The object `name` of `resource` changed under the request.
    pub(crate) fn conflict(
        resource: impl Into<String>,
        name: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        StoreError::Conflict {
            resource: resource.into(),
            name: name.into(),
            reason: reason.into(),
        }
    }

    /// Writing `name` of `resource` is not allowed.
    pub(crate) fn forbidden(
        resource: impl Into<String>,
        name: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        StoreError::Forbidden {
            resource: resource.into(),
            name: name.into(),
            reason: reason.into(),
        }
    }

    /// Wraps the error a request's change function returned.
    pub(crate) fn change(error: ChangeError) -> Self {
        StoreError::Change(Arc::from(error))
    }
}
