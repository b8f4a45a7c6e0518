//! Errors of the control plane as Kubernetes `Status` objects: every failure a client can see
//! carries an HTTP code, a `reason` and a message that names the field and why.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};

use crate::admission::AdmissionError;
use crate::store::{FeedError, StoreError};

/// The most field causes one error carries; further ones are only counted.
pub const MAX_CAUSES: usize = 100;
/// The longest `field` of one cause, in bytes (longer ones end in `...`).
pub const MAX_CAUSE_FIELD_LEN: usize = 256;
/// The longest `message` of one cause, in bytes (longer ones end in `...`).
pub const MAX_CAUSE_MESSAGE_LEN: usize = 512;
/// The longest message of an `Invalid` error before its `and N more errors` tail, in bytes.
pub const MAX_MESSAGE_LEN: usize = 16 * 1024;

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut with `...`.
fn cut(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max.saturating_sub(3);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
}

/// An error that the HTTP API returns as a `Status` object.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status code (400, 404, 409, 410, 422, 500, ...).
    pub code: u16,
    /// Kubernetes `reason`: `BadRequest`, `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`,
    /// `Expired`, `Gone`, `MethodNotAllowed`, `InternalError`, ...
    pub reason: &'static str,
    /// The human-readable message; for field errors it names the field.
    pub message: String,
    /// Field-level causes (`field`, `reason`, `message`) for 422 Invalid.
    pub causes: Vec<FieldCause>,
    /// The kind and name the error is about, when known (`details` in the Status).
    pub details: Option<(String, String)>,
}

/// One field-level cause of an `Invalid` error.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldCause {
    /// JSON path of the field, e.g. `spec.ports[0].nodePort`.
    pub field: String,
    /// Cause type as Kubernetes spells it: `FieldValueInvalid`, `FieldValueRequired`,
    /// `FieldValueDuplicate`, `FieldValueNotSupported`.
    pub reason: &'static str,
    /// What is wrong with the value.
    pub message: String,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            causes: Vec::new(),
            details: None,
        }
    }

    /// 400: the request itself is malformed (bad JSON/YAML, bad query parameter).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 404: `<kind> "<name>" not found`, as kube-apiserver words it.
    pub fn not_found(resource: &str, name: &str) -> Self {
        let mut e = Self::new(404, "NotFound", format!("{resource} \"{name}\" not found"));
        e.details = Some((resource.to_string(), name.to_string()));
        e
    }

    /// 404 for an unknown URL path or resource type.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    /// 405: the verb is not supported on this path.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    /// 409 AlreadyExists on create.
    pub fn already_exists(resource: &str, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "AlreadyExists",
            format!("{resource} \"{name}\" already exists"),
        );
        e.details = Some((resource.to_string(), name.to_string()));
        e
    }

    /// 409 Conflict: optimistic concurrency failed (stale resourceVersion).
    pub fn conflict(resource: &str, name: &str, why: impl Into<String>) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {resource} \"{name}\": {}",
                why.into()
            ),
        );
        e.details = Some((resource.to_string(), name.to_string()));
        e
    }

    /// 403 Forbidden: the request is understood but not allowed, e.g. deleting a protected
    /// namespace or creating in one that is being deleted.
    pub fn forbidden(resource: &str, name: &str, why: impl Into<String>) -> Self {
        let mut e = Self::new(
            403,
            "Forbidden",
            format!("{resource} \"{name}\" is forbidden: {}", why.into()),
        );
        e.details = Some((resource.to_string(), name.to_string()));
        e
    }

    /// 415 UnsupportedMediaType: the request body's content type is not accepted here.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(415, "UnsupportedMediaType", message)
    }

    /// 410 Expired: a watch or list asked for a resourceVersion older than the kept history.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 422 Invalid with one field cause; the message reads
    /// `<Kind> "<name>" is invalid: <field>: <why>`, as kube-apiserver words it.
    pub fn invalid(kind: &str, name: &str, field: &str, why: impl Into<String>) -> Self {
        Self::invalid_many(kind, name, vec![FieldCause::invalid(field, why)])
    }

    /// 422 Invalid with several field causes (at most [`MAX_CAUSES`] are kept; see
    /// [`ApiError::invalid_capped`]).
    pub fn invalid_many(kind: &str, name: &str, causes: Vec<FieldCause>) -> Self {
        Self::invalid_capped(kind, name, causes, 0)
    }

    /// 422 Invalid with the first [`MAX_CAUSES`] of `causes` plus `omitted` more found but not
    /// kept; the message ends `and N more errors` when any were dropped. Each cause's field and
    /// message, and the whole message, are cut to a bounded length, so one bad object cannot
    /// make an error of unbounded size.
    pub fn invalid_capped(
        kind: &str,
        name: &str,
        mut causes: Vec<FieldCause>,
        omitted: usize,
    ) -> Self {
        let omitted = omitted.saturating_add(causes.len().saturating_sub(MAX_CAUSES));
        causes.truncate(MAX_CAUSES);
        for cause in &mut causes {
            cut(&mut cause.field, MAX_CAUSE_FIELD_LEN);
            cut(&mut cause.message, MAX_CAUSE_MESSAGE_LEN);
        }
        let list: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let mut message = if list.len() == 1 && omitted == 0 {
            format!("{kind} \"{name}\" is invalid: {}", list[0])
        } else {
            format!("{kind} \"{name}\" is invalid: [{}]", list.join(", "))
        };
        cut(&mut message, MAX_MESSAGE_LEN);
        if omitted > 0 {
            message.push_str(&format!(" and {omitted} more errors"));
        }
        ApiError {
            code: 422,
            reason: "Invalid",
            message,
            causes,
            details: Some((kind.to_string(), name.to_string())),
        }
    }

    /// 500: something failed inside the server (disk, database).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// 401: no valid credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "Unauthorized", message)
    }

    /// 403 for the request as a whole, not one object (e.g. a refused `Host`).
    pub fn forbidden_request(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    /// 429: too many requests in flight.
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self::new(429, "TooManyRequests", message)
    }

    /// 503: the server is not ready (still starting, shutting down).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }

    /// Whether this is a 409 Conflict from a stale resourceVersion.
    pub fn is_conflict(&self) -> bool {
        self.code == 409 && self.reason == "Conflict"
    }

    /// Whether this is a 404 NotFound.
    pub fn is_not_found(&self) -> bool {
        self.code == 404
    }

    /// Whether this is a 410 Expired/Gone.
    pub fn is_expired(&self) -> bool {
        self.code == 410
    }

    /// The error as a Kubernetes `Status` object (`kind: Status`, `status: Failure`).
    pub fn to_status(&self) -> Status {
        let details = if self.details.is_some() || !self.causes.is_empty() {
            Some(StatusDetails {
                kind: self.details.as_ref().map(|d| d.0.to_lowercase()),
                name: self.details.as_ref().map(|d| d.1.clone()),
                causes: (!self.causes.is_empty()).then(|| {
                    self.causes
                        .iter()
                        .map(|c| StatusCause {
                            field: Some(c.field.clone()),
                            message: Some(c.message.clone()),
                            reason: Some(c.reason.to_string()),
                        })
                        .collect()
                }),
                ..StatusDetails::default()
            })
        } else {
            None
        };
        Status {
            code: Some(i32::from(self.code)),
            message: Some(self.message.clone()),
            reason: Some(self.reason.to_string()),
            status: Some("Failure".to_string()),
            details,
            ..Status::default()
        }
    }

    /// The `Status` as JSON with `kind: Status` and `apiVersion: v1` set.
    pub fn to_status_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self.to_status()).unwrap_or(serde_json::Value::Null);
        if let Some(map) = v.as_object_mut() {
            map.insert("kind".into(), "Status".into());
            map.insert("apiVersion".into(), "v1".into());
            map.insert("metadata".into(), serde_json::json!({}));
        }
        v
    }
}

impl From<AdmissionError> for ApiError {
    fn from(error: AdmissionError) -> ApiError {
        match error {
            AdmissionError::Invalid {
                kind,
                name,
                causes,
                omitted,
            } => ApiError::invalid_capped(&kind, &name, causes, omitted),
            AdmissionError::Allocation(message) | AdmissionError::Internal(message) => {
                ApiError::internal(message)
            }
        }
    }
}

/// The store's errors as kube-apiserver answers them; the only place a store error becomes an
/// HTTP status.
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::NotFound { resource, name } => ApiError::not_found(&resource, &name),
            StoreError::AlreadyExists { resource, name } => {
                ApiError::already_exists(&resource, &name)
            }
            StoreError::Conflict {
                resource,
                name,
                reason,
            } => ApiError::conflict(&resource, &name, reason),
            StoreError::Forbidden {
                resource,
                name,
                reason,
            } => ApiError::forbidden(&resource, &name, reason),
            StoreError::BadRequest(message) => ApiError::bad_request(message),
            StoreError::MethodNotAllowed(message) => ApiError::method_not_allowed(message),
            StoreError::Expired(message) => ApiError::expired(message),
            StoreError::Unavailable(message) => ApiError::unavailable(message),
            StoreError::Admission(error) => error.into(),
            StoreError::Change(error) => match error.downcast_ref::<ApiError>() {
                Some(api) => api.clone(),
                None => ApiError::internal(error.to_string()),
            },
            other @ (StoreError::Internal(_)
            | StoreError::Database { .. }
            | StoreError::Corrupt { .. }) => ApiError::internal(other.to_string()),
        }
    }
}

impl From<FeedError> for ApiError {
    fn from(error: FeedError) -> ApiError {
        StoreError::from(error).into()
    }
}

impl FieldCause {
    /// A `FieldValueInvalid` cause.
    pub fn invalid(field: &str, why: impl Into<String>) -> Self {
        FieldCause {
            field: field.to_string(),
            reason: "FieldValueInvalid",
            message: why.into(),
        }
    }

    /// A `FieldValueRequired` cause.
    pub fn required(field: &str) -> Self {
        FieldCause {
            field: field.to_string(),
            reason: "FieldValueRequired",
            message: "Required value".to_string(),
        }
    }

    /// A `FieldValueDuplicate` cause.
    pub fn duplicate(field: &str, why: impl Into<String>) -> Self {
        FieldCause {
            field: field.to_string(),
            reason: "FieldValueDuplicate",
            message: why.into(),
        }
    }

    /// A `FieldValueNotSupported` cause.
    pub fn not_supported(field: &str, why: impl Into<String>) -> Self {
        FieldCause {
            field: field.to_string(),
            reason: "FieldValueNotSupported",
            message: why.into(),
        }
    }
}
