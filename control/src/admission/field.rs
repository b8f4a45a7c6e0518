//! Collects field errors the way kube-apiserver words them (`Invalid value: 0: must be between 1
//! and 65535, inclusive`, `Required value`, `Forbidden: ...`, `Unsupported value: ...`,
//! `Duplicate value: ...`) and turns them into one [`AdmissionError::Invalid`].
//!
//! It only formats; it never decides what is valid. It keeps at most [`MAX_CAUSES`] causes per
//! object and only counts the rest, without formatting them, so an object with 150k bad ports
//! costs a counter, not 150k messages.

use std::fmt::Debug;

use super::AdmissionError;
use crate::error::{FieldCause, MAX_CAUSES};

/// The field causes found so far while validating one object.
#[derive(Debug, Default)]
pub(crate) struct Causes {
    causes: Vec<FieldCause>,
    /// Causes found after [`MAX_CAUSES`] were kept.
    omitted: usize,
}

impl Causes {
    /// Keeps the cause `make` builds, or only counts it once [`MAX_CAUSES`] are kept.
    fn push(&mut self, make: impl FnOnce() -> FieldCause) {
        if self.causes.len() < MAX_CAUSES {
            self.causes.push(make());
        } else {
            self.omitted = self.omitted.saturating_add(1);
        }
    }

    /// `<path>: Invalid value: <value>: <why>`; strings print quoted, numbers bare.
    pub(crate) fn invalid(&mut self, path: &str, value: &dyn Debug, why: impl AsRef<str>) {
        self.push(|| invalid(path, value, why));
    }

    /// `<path>: Required value`, optionally with an explanation.
    pub(crate) fn required(&mut self, path: &str, why: &str) {
        self.push(|| {
            let mut cause = FieldCause::required(path);
            if !why.is_empty() {
                cause.message = format!("Required value: {why}");
            }
            cause
        });
    }

    /// `<path>: Forbidden: <why>`.
    pub(crate) fn forbidden(&mut self, path: &str, why: impl AsRef<str>) {
        self.push(|| FieldCause {
            field: path.to_string(),
            reason: "FieldValueForbidden",
            message: format!("Forbidden: {}", why.as_ref()),
        });
    }

    /// `<path>: Unsupported value: "x": supported values: "a", "b"`.
    pub(crate) fn not_supported(&mut self, path: &str, value: &str, supported: &[&str]) {
        self.push(|| {
            let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
            FieldCause::not_supported(
                path,
                format!(
                    "Unsupported value: {value:?}: supported values: {}",
                    list.join(", ")
                ),
            )
        });
    }

    /// `<path>: Duplicate value: <value>`.
    pub(crate) fn duplicate(&mut self, path: &str, value: &dyn Debug) {
        self.push(|| FieldCause::duplicate(path, format!("Duplicate value: {value:?}")));
    }

    /// `<path>: Too many: <n>: must have at most <max> items`.
    pub(crate) fn too_many(&mut self, path: &str, n: usize, max: usize) {
        self.push(|| FieldCause {
            field: path.to_string(),
            reason: "FieldValueTooMany",
            message: format!("Too many: {n}: must have at most {max} items"),
        });
    }

    /// `<path>: Too long: must have at most <max> bytes`.
    pub(crate) fn too_long(&mut self, path: &str, max: usize) {
        self.push(|| FieldCause {
            field: path.to_string(),
            reason: "FieldValueTooLong",
            message: format!("Too long: must have at most {max} bytes"),
        });
    }

    /// Whether nothing was found.
    pub(crate) fn is_empty(&self) -> bool {
        self.causes.is_empty()
    }

    /// `Ok` when nothing was found, else a 422 naming the kept causes and counting the rest.
    pub(crate) fn finish(self, kind: &str, name: &str) -> Result<(), AdmissionError> {
        if self.causes.is_empty() {
            Ok(())
        } else {
            Err(AdmissionError::Invalid {
                kind: kind.to_string(),
                name: name.to_string(),
                causes: self.causes,
                omitted: self.omitted,
            })
        }
    }
}

/// One `Invalid value` cause.
pub(crate) fn invalid(path: &str, value: &dyn Debug, why: impl AsRef<str>) -> FieldCause {
    FieldCause::invalid(path, format!("Invalid value: {value:?}: {}", why.as_ref()))
}

/// An [`AdmissionError::Invalid`] with one `Invalid value` cause.
pub(crate) fn invalid_error(
    kind: &str,
    name: &str,
    path: &str,
    value: &dyn Debug,
    why: impl AsRef<str>,
) -> AdmissionError {
    AdmissionError::invalid(kind, name, vec![invalid(path, value, why)])
}
