//! Query parameters of list, watch and write requests, parsed and checked up front so that a
//! bad parameter is a 400 naming it before anything else happens.

use std::collections::HashMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions;

use crate::error::ApiError;
use crate::object::Object;
use crate::selector::Selector;

/// How unknown fields in a body are treated (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldValidation {
    /// Reject the request (400) naming the field.
    Strict,
    /// Accept it and return a `Warning` header (the default).
    Warn,
    /// Accept it silently.
    Ignore,
}

/// One `fieldSelector` term.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldTerm {
    field: FieldName,
    equal: bool,
    value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldName {
    Name,
    Namespace,
}

/// A parsed `fieldSelector` (only `metadata.name` and `metadata.namespace`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector {
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    /// Parses `a=b,c!=d`; unsupported fields are a 400 naming them.
    pub(crate) fn parse(text: &str) -> Result<FieldSelector, ApiError> {
        let mut terms = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "fieldSelector: invalid term {term:?}: expected <field>=<value>, \
                     <field>==<value> or <field>!=<value>"
                )));
            };
            let field = match field.trim() {
                "metadata.name" => FieldName::Name,
                "metadata.namespace" => FieldName::Namespace,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "fieldSelector: field label not supported: {other:?} (supported: \
                         \"metadata.name\", \"metadata.namespace\")"
                    )));
                }
            };
            terms.push(FieldTerm {
                field,
                equal,
                value: value.trim().to_string(),
            });
        }
        Ok(FieldSelector { terms })
    }

    /// Whether `obj` satisfies every term.
    pub(crate) fn matches(&self, obj: &Object) -> bool {
        self.terms.iter().all(|t| {
            let actual = match t.field {
                FieldName::Name => obj.name(),
                FieldName::Namespace => obj.namespace().unwrap_or_default(),
            };
            (actual == t.value) == t.equal
        })
    }
}

/// The query parameters the API understands.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    /// `watch=true|1`.
    pub watch: bool,
    /// `labelSelector`.
    pub labels: Selector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `limit` (0: no limit).
    pub limit: usize,
    /// `continue`.
    pub continue_token: Option<String>,
    /// `resourceVersion` (`None` when unset or empty).
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`.
    pub resource_version_match: Option<String>,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `timeoutSeconds`.
    pub timeout_seconds: Option<u64>,
    /// `fieldValidation`.
    pub field_validation: FieldValidation,
    /// `includeObject` for Tables: `None`, `Metadata` (default) or `Object`.
    pub include_object: String,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `sendInitialEvents=true` (watch-list): the current objects first, then a bookmark
    /// annotated `k8s.io/initial-events-end`.
    pub send_initial_events: bool,
    /// The DeleteOptions of the query string (`propagationPolicy`, `orphanDependents`, ...),
    /// or why they do not parse; only a DELETE looks at them.
    pub delete_options: Result<DeleteOptions, ApiError>,
}

fn flag(name: &str, value: Option<&String>) -> Result<bool, ApiError> {
    match value.map(String::as_str) {
        None | Some("") | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "{name}: invalid value {other:?}: expected true or false"
        ))),
    }
}

impl Params {
    /// Parses the raw query pairs.
    pub(crate) fn parse(query: &HashMap<String, String>) -> Result<Params, ApiError> {
        let labels = match query.get("labelSelector") {
            Some(text) => Selector::parse(text)
                .map_err(|e| ApiError::bad_request(format!("labelSelector: {e}")))?,
            None => Selector::everything(),
        };
        let fields = match query.get("fieldSelector") {
            Some(text) => FieldSelector::parse(text)?,
            None => FieldSelector::default(),
        };
        let limit = match query.get("limit").map(String::as_str) {
            None | Some("") => 0,
            Some(text) => text
                .parse::<i64>()
                .map_err(|_| {
                    ApiError::bad_request(format!(
                        "limit: invalid value {text:?}: expected an integer"
                    ))
                })?
                .max(0) as usize,
        };
        let timeout_seconds = match query.get("timeoutSeconds").map(String::as_str) {
            None | Some("") => None,
            Some(text) => Some(text.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "timeoutSeconds: invalid value {text:?}: expected a non-negative integer"
                ))
            })?),
        };
        let field_validation = match query.get("fieldValidation").map(String::as_str) {
            None | Some("") | Some("Warn") => FieldValidation::Warn,
            Some("Strict") => FieldValidation::Strict,
            Some("Ignore") => FieldValidation::Ignore,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "fieldValidation: invalid value {other:?}: expected Strict, Warn or Ignore"
                )));
            }
        };
        let dry_run = match query.get("dryRun").map(String::as_str) {
            None | Some("") => false,
            Some("All") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "dryRun: invalid value {other:?}: only \"All\" is supported"
                )));
            }
        };
        if let Some(m) = query.get("resourceVersionMatch")
            && !m.is_empty()
            && m != "NotOlderThan"
            && m != "Exact"
        {
            return Err(ApiError::bad_request(format!(
                "resourceVersionMatch: invalid value {m:?}: expected NotOlderThan or Exact"
            )));
        }
        let resource_version = query
            .get("resourceVersion")
            .filter(|v| !v.is_empty())
            .cloned();
        if let Some(rv) = &resource_version
            && rv.parse::<u64>().is_err()
        {
            return Err(ApiError::bad_request(format!(
                "resourceVersion: invalid value {rv:?}: expected a resourceVersion returned by \
                 this server"
            )));
        }
        Ok(Params {
            watch: flag("watch", query.get("watch"))?,
            labels,
            fields,
            limit,
            continue_token: query.get("continue").filter(|c| !c.is_empty()).cloned(),
            resource_version,
            resource_version_match: query
                .get("resourceVersionMatch")
                .filter(|v| !v.is_empty())
                .cloned(),
            bookmarks: flag("allowWatchBookmarks", query.get("allowWatchBookmarks"))?,
            timeout_seconds,
            field_validation,
            include_object: query
                .get("includeObject")
                .cloned()
                .unwrap_or_else(|| "Metadata".to_string()),
            dry_run,
            send_initial_events: flag("sendInitialEvents", query.get("sendInitialEvents"))?,
            delete_options: super::delete_options::from_query(query),
        })
    }

    /// `resourceVersion` as a number (0 when unset).
    pub(crate) fn revision(&self) -> u64 {
        self.resource_version
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Whether `obj` passes both selectors.
    pub(crate) fn selects(&self, obj: &Object) -> bool {
        self.fields.matches(obj)
            && self
                .labels
                .matches(obj.meta().labels.as_ref().unwrap_or(&Default::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_selector_supports_name_and_namespace_only() {
        let sel = FieldSelector::parse("metadata.name=web,metadata.namespace!=kube-system");
        assert!(sel.is_ok());
        let err = FieldSelector::parse("spec.clusterIP=1.2.3.4").err();
        assert!(err.is_some_and(|e| e.code == 400 && e.message.contains("spec.clusterIP")));
        assert!(FieldSelector::parse("nonsense").is_err());
    }

    #[test]
    fn bad_parameters_name_themselves() {
        let mut q = HashMap::new();
        q.insert("limit".to_string(), "ten".to_string());
        let err = Params::parse(&q).err();
        assert!(err.is_some_and(|e| e.message.starts_with("limit:")));
        let mut q = HashMap::new();
        q.insert("watch".to_string(), "maybe".to_string());
        assert!(Params::parse(&q).is_err());
    }
}
