//! The `DeleteOptions` of a DELETE (one object or a collection): read from the body when the
//! request has one, else from the query string (`propagationPolicy`, `orphanDependents`,
//! `gracePeriodSeconds`, `dryRun`), as kube-apiserver reads them, and checked as it checks
//! them: an unknown policy, or a policy together with `orphanDependents`, is a 422 naming
//! `propagationPolicy`.

use std::collections::HashMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions;

use super::body;
use crate::error::{ApiError, FieldCause};
use crate::store::Propagation;

/// The kind and name kube-apiserver puts in an invalid DeleteOptions' message.
const OPTIONS_KIND: &str = "DeleteOptions.meta.k8s.io";

/// What a delete asks for, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DeleteRequest {
    /// The propagation policy (`None`: the request named none).
    pub propagation: Option<Propagation>,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
    /// `dryRun: ["All"]` in the options.
    pub dry_run: bool,
    /// The legacy `orphanDependents: false`, after which kube-apiserver answers 202 when the
    /// object was not deleted at once.
    pub cascade_requested: bool,
}

/// Reads the options from the query string (the raw pairs).
pub(crate) fn from_query(query: &HashMap<String, String>) -> Result<DeleteOptions, ApiError> {
    let text = |key: &str| query.get(key).filter(|v| !v.is_empty()).cloned();
    let orphan_dependents = match text("orphanDependents").as_deref() {
        None => None,
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "orphanDependents: invalid value {other:?}: expected true or false"
            )));
        }
    };
    let grace_period_seconds = match text("gracePeriodSeconds") {
        None => None,
        Some(v) => Some(v.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!(
                "gracePeriodSeconds: invalid value {v:?}: expected an integer"
            ))
        })?),
    };
    Ok(DeleteOptions {
        propagation_policy: text("propagationPolicy"),
        orphan_dependents,
        grace_period_seconds,
        dry_run: text("dryRun").map(|v| vec![v]),
        ..DeleteOptions::default()
    })
}

/// Decodes a DeleteOptions body of `media_type`.
fn from_body(media_type: &str, bytes: &[u8]) -> Result<DeleteOptions, ApiError> {
    let value = body::parse(media_type, bytes)?;
    serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))
}

/// The options of a request: its body's when it has one, else its query string's.
pub(crate) fn read(
    media_type: &str,
    bytes: &[u8],
    query: &DeleteOptions,
) -> Result<DeleteRequest, ApiError> {
    let options = if bytes.iter().all(u8::is_ascii_whitespace) {
        query.clone()
    } else {
        from_body(media_type, bytes)?
    };
    check(options)
}

/// Checks `options` as kube-apiserver does and keeps what the store needs.
pub(crate) fn check(options: DeleteOptions) -> Result<DeleteRequest, ApiError> {
    let mut causes = Vec::new();
    let policy = options.propagation_policy.as_deref();
    if let (Some(_), Some(policy)) = (options.orphan_dependents, policy) {
        causes.push(FieldCause::invalid(
            "propagationPolicy",
            format!(
                "Invalid value: {policy:?}: orphanDependents and deletionPropagation cannot be \
                 both set"
            ),
        ));
    }
    let parsed = policy.map(Propagation::parse);
    if let (Some(text), Some(None)) = (policy, parsed) {
        causes.push(FieldCause::not_supported(
            "propagationPolicy",
            format!(
                "Unsupported value: {text:?}: supported values: \"Foreground\", \"Background\", \
                 \"Orphan\", \"nil\""
            ),
        ));
    }
    let dry_run = options.dry_run.unwrap_or_default();
    if let Some(bad) = dry_run.iter().find(|v| *v != "All") {
        causes.push(FieldCause::not_supported(
            "dryRun",
            format!("Unsupported value: {bad:?}: supported values: \"All\""),
        ));
    }
    if let Some(grace) = options.grace_period_seconds
        && grace < 0
    {
        causes.push(FieldCause::invalid(
            "gracePeriodSeconds",
            format!("Invalid value: {grace}: must be greater than or equal to 0"),
        ));
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid_many(OPTIONS_KIND, "", causes));
    }
    let propagation = match options.orphan_dependents {
        Some(true) => Some(Propagation::Orphan),
        Some(false) => Some(Propagation::Background),
        None => parsed.flatten(),
    };
    let pre = options.preconditions.unwrap_or_default();
    Ok(DeleteRequest {
        propagation,
        uid: pre.uid.filter(|u| !u.is_empty()),
        resource_version: pre.resource_version.filter(|v| !v.is_empty()),
        dry_run: !dry_run.is_empty(),
        cascade_requested: options.orphan_dependents == Some(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_body_wins_over_the_query_string() {
        let from_url = from_query(&query(&[("propagationPolicy", "Orphan")]));
        let from_url = from_url.unwrap_or_default();
        let body = br#"{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground",
                        "preconditions":{"uid":"u-1","resourceVersion":"7"}}"#;
        let read_body = read("application/json", body, &from_url);
        assert_eq!(
            read_body.ok(),
            Some(DeleteRequest {
                propagation: Some(Propagation::Foreground),
                uid: Some("u-1".into()),
                resource_version: Some("7".into()),
                ..DeleteRequest::default()
            })
        );
        let read_url = read("", b"", &from_url);
        assert_eq!(
            read_url.ok().and_then(|r| r.propagation),
            Some(Propagation::Orphan)
        );
    }

    #[test]
    fn orphan_dependents_maps_to_a_policy() {
        let orphan = check(DeleteOptions {
            orphan_dependents: Some(true),
            ..DeleteOptions::default()
        });
        assert_eq!(
            orphan.ok().and_then(|r| r.propagation),
            Some(Propagation::Orphan)
        );
        let cascade = check(DeleteOptions {
            orphan_dependents: Some(false),
            ..DeleteOptions::default()
        })
        .unwrap_or_default();
        assert_eq!(cascade.propagation, Some(Propagation::Background));
        assert!(cascade.cascade_requested);
    }

    #[test]
    fn bad_options_are_invalid_naming_the_field() {
        let unknown = check(DeleteOptions {
            propagation_policy: Some("Sideways".into()),
            ..DeleteOptions::default()
        })
        .err();
        assert!(
            unknown.as_ref().is_some_and(|e| e.code == 422
                && e.message
                    == "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: \
                        Unsupported value: \"Sideways\": supported values: \"Foreground\", \
                        \"Background\", \"Orphan\", \"nil\""),
            "{unknown:?}"
        );
        let both = check(DeleteOptions {
            propagation_policy: Some("Orphan".into()),
            orphan_dependents: Some(true),
            ..DeleteOptions::default()
        })
        .err();
        assert!(
            both.as_ref().is_some_and(|e| e.code == 422
                && e.causes
                    .first()
                    .is_some_and(|c| c.field == "propagationPolicy")),
            "{both:?}"
        );
        let bad_flag = from_query(&query(&[("orphanDependents", "perhaps")])).err();
        assert!(bad_flag.is_some_and(|e| e.code == 400 && e.message.contains("orphanDependents")));
        let bad_body = read(
            "application/json",
            br#"{"propagationPolicy": 3}"#,
            &DeleteOptions::default(),
        )
        .err();
        assert!(bad_body.is_some_and(|e| e.code == 400));
    }
}
