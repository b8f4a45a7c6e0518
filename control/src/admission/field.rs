//! Collects field errors the way kube-apiserver words them (`Invalid value: 0: must be between 1
//! and 65535, inclusive`, `Required value`, `Forbidden: ...`, `Unsupported value: ...`,
//! `Duplicate value: ...`) and turns them into one 422 [`ApiError`].
//!
//! It only formats; it never decides what is valid.

use std::fmt::Debug;

use crate::error::{ApiError, FieldCause};

/// The field causes found so far while validating one object.
#[derive(Debug, Default)]
pub(crate) struct Causes {
    causes: Vec<FieldCause>,
}

impl Causes {
    /// `<path>: Invalid value: <value>: <why>`; strings print quoted, numbers bare.
    pub(crate) fn invalid(&mut self, path: &str, value: &dyn Debug, why: impl AsRef<str>) {
        self.causes.push(invalid(path, value, why));
    }

    /// `<path>: Required value`, optionally with an explanation.
    pub(crate) fn required(&mut self, path: &str, why: &str) {
        let mut cause = FieldCause::required(path);
        if !why.is_empty() {
            cause.message = format!("Required value: {why}");
        }
        self.causes.push(cause);
    }

    /// `<path>: Forbidden: <why>`.
    pub(crate) fn forbidden(&mut self, path: &str, why: impl AsRef<str>) {
        self.causes.push(FieldCause {
            field: path.to_string(),
            reason: "FieldValueForbidden",
            message: format!("Forbidden: {}", why.as_ref()),
        });
    }

    /// `<path>: Unsupported value: "x": supported values: "a", "b"`.
    pub(crate) fn not_supported(&mut self, path: &str, value: &str, supported: &[&str]) {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        self.causes.push(FieldCause::not_supported(
            path,
            format!(
                "Unsupported value: {value:?}: supported values: {}",
                list.join(", ")
            ),
        ));
    }

    /// `<path>: Duplicate value: <value>`.
    pub(crate) fn duplicate(&mut self, path: &str, value: &dyn Debug) {
        self.causes.push(FieldCause::duplicate(
            path,
            format!("Duplicate value: {value:?}"),
        ));
    }

    /// `<path>: Too many: <n>: must have at most <max> items`.
    pub(crate) fn too_many(&mut self, path: &str, n: usize, max: usize) {
        self.causes.push(FieldCause {
            field: path.to_string(),
            reason: "FieldValueTooMany",
            message: format!("Too many: {n}: must have at most {max} items"),
        });
    }

    /// Whether nothing was found.
    pub(crate) fn is_empty(&self) -> bool {
        self.causes.is_empty()
    }

    /// `Ok` when nothing was found, else a 422 naming every cause.
    pub(crate) fn finish(self, kind: &str, name: &str) -> Result<(), ApiError> {
        if self.causes.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid_many(kind, name, self.causes))
        }
    }
}

/// One `Invalid value` cause.
pub(crate) fn invalid(path: &str, value: &dyn Debug, why: impl AsRef<str>) -> FieldCause {
    FieldCause::invalid(path, format!("Invalid value: {value:?}: {}", why.as_ref()))
}

/// A 422 with one `Invalid value` cause.
pub(crate) fn invalid_error(
    kind: &str,
    name: &str,
    path: &str,
    value: &dyn Debug,
    why: impl AsRef<str>,
) -> ApiError {
    ApiError::invalid_many(kind, name, vec![invalid(path, value, why)])
}
