//! The review resources, answered and never stored: `SelfSubjectAccessReview` (`kubectl auth
//! can-i`), `SubjectAccessReview` (the same question about another user, for those allowed to
//! create it) and `SelfSubjectReview` (`kubectl auth whoami`). Each is a `create` answered 201
//! with the request echoed and `status` filled in.

use http::{HeaderMap, Method, StatusCode};
use k8s_openapi::api::authentication::v1::{SelfSubjectReview, SelfSubjectReviewStatus};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SelfSubjectAccessReview, SubjectAccessReview,
    SubjectAccessReviewStatus,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::route::Review;
use super::{ApiState, body, response};
use crate::authz::{self, Attributes, Decision};
use crate::error::{ApiError, FieldCause};
use crate::security::UserInfo;

/// Answers a review request.
pub(crate) fn respond(
    state: &ApiState,
    review: Review,
    method: &Method,
    user: &UserInfo,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<axum::response::Response, ApiError> {
    if *method != Method::POST {
        return Err(ApiError::method_not_allowed(format!(
            "{} supports only create",
            review.plural()
        )));
    }
    let value = body::parse(&body::content_type(headers), bytes)?;
    if let Some(kind) = value.get("kind").and_then(Value::as_str)
        && kind != review.kind()
    {
        return Err(ApiError::bad_request(format!(
            "kind: the body is a {kind:?}, but this path serves {}",
            review.kind()
        )));
    }
    let answer = match review {
        Review::SelfSubjectAccess => {
            let mut r: SelfSubjectAccessReview = decode(review, value)?;
            let attrs = attributes(
                review,
                r.spec.resource_attributes.as_ref(),
                r.spec.non_resource_attributes.as_ref(),
            )?;
            r.status = Some(status(state.authorize(user, &attrs, None)));
            to_json(review, &r)
        }
        Review::SubjectAccess => {
            let mut r: SubjectAccessReview = decode(review, value)?;
            let subject = UserInfo {
                name: r.spec.user.clone().unwrap_or_default(),
                uid: r.spec.uid.clone().unwrap_or_default(),
                groups: r.spec.groups.clone().unwrap_or_default(),
            };
            if subject.name.is_empty() && subject.groups.is_empty() {
                return Err(ApiError::invalid(
                    review.kind(),
                    "",
                    "spec.user",
                    "Invalid value: \"\": at least one of user or group must be specified",
                ));
            }
            let attrs = attributes(
                review,
                r.spec.resource_attributes.as_ref(),
                r.spec.non_resource_attributes.as_ref(),
            )?;
            r.status = Some(status(state.authorize(&subject, &attrs, None)));
            to_json(review, &r)
        }
        Review::SelfSubject => {
            let mut r: SelfSubjectReview = decode(review, value)?;
            r.status = Some(SelfSubjectReviewStatus {
                user_info: Some(k8s_openapi::api::authentication::v1::UserInfo {
                    username: Some(user.name.clone()),
                    uid: (!user.uid.is_empty()).then(|| user.uid.clone()),
                    groups: Some(user.groups.clone()),
                    extra: None,
                }),
            });
            to_json(review, &r)
        }
    };
    Ok(response::json(StatusCode::CREATED, &answer, &[]))
}

fn decode<T: DeserializeOwned>(review: Review, value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid {} object: {}: {}",
            review.kind(),
            e.path(),
            e.inner()
        ))
    })
}

fn to_json<T: Serialize>(review: Review, r: &T) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    v["apiVersion"] = format!("{}/v1", review.group()).into();
    v["kind"] = review.kind().into();
    v
}

/// The attributes a review asks about: exactly one of resource or non-resource attributes.
fn attributes(
    review: Review,
    resource: Option<&ResourceAttributes>,
    non_resource: Option<&NonResourceAttributes>,
) -> Result<Attributes, ApiError> {
    match (resource, non_resource) {
        (Some(r), None) => Ok(Attributes::Resource(authz::ResourceAttributes {
            verb: r.verb.clone().unwrap_or_default(),
            group: r.group.clone().unwrap_or_default(),
            resource: r.resource.clone().unwrap_or_default(),
            subresource: r.subresource.clone().unwrap_or_default(),
            namespace: r.namespace.clone().unwrap_or_default(),
            name: r.name.clone().unwrap_or_default(),
        })),
        (None, Some(n)) => Ok(Attributes::NonResource {
            verb: n.verb.clone().unwrap_or_default(),
            path: n.path.clone().unwrap_or_default(),
        }),
        _ => Err(ApiError::invalid_many(
            review.kind(),
            "",
            vec![FieldCause::invalid(
                "spec.resourceAttributes",
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )],
        )),
    }
}

fn status(decision: Decision) -> SubjectAccessReviewStatus {
    match decision {
        Decision::Allow => SubjectAccessReviewStatus {
            allowed: true,
            reason: Some("allowed by RBAC".to_string()),
            ..SubjectAccessReviewStatus::default()
        },
        Decision::Deny { reason } => SubjectAccessReviewStatus {
            allowed: false,
            // RBAC has no deny rules: "not allowed" is no opinion, not an explicit denial.
            denied: (!reason.is_empty()).then_some(true),
            reason: (!reason.is_empty()).then_some(reason),
            ..SubjectAccessReviewStatus::default()
        },
    }
}
