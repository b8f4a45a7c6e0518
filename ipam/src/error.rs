//! The one error type of this crate: why an allocator could not be built or could not hand out a
//! value. It carries display strings, never references into an allocator, so it can cross threads
//! and outlive the lock the caller held.

/// Why an allocation (or building an allocator) failed.
///
/// The `range` strings describe the usable part of the range (for example
/// `10.96.0.0/28 (usable 10.96.0.1-10.96.0.14, 14 addresses)`), so an operator reading the message
/// sees why a value was refused without knowing this crate's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AllocError {
    /// No free value is left in the range.
    #[error("range {range} is full: every usable value is allocated")]
    Full {
        /// The exhausted range.
        range: String,
    },
    /// The requested value is outside the range (or of the other IP family).
    #[error("{value} is not in the range {range}")]
    OutOfRange {
        /// The requested value.
        value: String,
        /// The range it had to be in.
        range: String,
    },
    /// The requested value is already allocated.
    #[error("{value} is already allocated")]
    AlreadyAllocated {
        /// The requested value.
        value: String,
    },
    /// The range itself cannot be used (too small, wrong family, bad prefix).
    #[error("invalid range {range}: {reason}")]
    InvalidRange {
        /// The range.
        range: String,
        /// Why it cannot be used.
        reason: String,
    },
}

impl AllocError {
    /// Whether the range has no free value left.
    pub fn is_full(&self) -> bool {
        matches!(self, AllocError::Full { .. })
    }

    /// Whether the requested value lies outside the range (or is of the other family).
    pub fn is_out_of_range(&self) -> bool {
        matches!(self, AllocError::OutOfRange { .. })
    }

    /// Whether the requested value is already taken.
    pub fn is_already_allocated(&self) -> bool {
        matches!(self, AllocError::AlreadyAllocated { .. })
    }

    /// Whether the range given to a constructor cannot be used.
    pub fn is_invalid_range(&self) -> bool {
        matches!(self, AllocError::InvalidRange { .. })
    }

    pub(crate) fn full(range: &str) -> Self {
        AllocError::Full {
            range: range.to_owned(),
        }
    }

    pub(crate) fn out_of_range(value: impl ToString, range: &str) -> Self {
        AllocError::OutOfRange {
            value: value.to_string(),
            range: range.to_owned(),
        }
    }

    pub(crate) fn already_allocated(value: impl ToString) -> Self {
        AllocError::AlreadyAllocated {
            value: value.to_string(),
        }
    }

    pub(crate) fn invalid_range(range: impl ToString, reason: impl Into<String>) -> Self {
        AllocError::InvalidRange {
            range: range.to_string(),
            reason: reason.into(),
        }
    }
}
