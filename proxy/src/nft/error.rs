//! The nftables proxy's error type: what failed (building, running or checking a transaction,
//! or a start-up precondition), classified so callers never match on message text.

use super::transaction::InvalidOp;

/// How `nft` (or the fake) refused an operation, classified from its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// An object the operation needs does not exist (ENOENT).
    NotFound,
    /// `create` of an object that exists, or an element with a different value (EEXIST).
    Exists,
    /// A chain or set still in use or not empty (EBUSY).
    Busy,
    /// Anything else (syntax, unsupported expression, ...).
    Other,
}

impl Refusal {
    /// Classifies an `nft` error message.
    pub fn classify(stderr: &str) -> Refusal {
        if stderr.contains("No such file or directory") {
            Refusal::NotFound
        } else if stderr.contains("File exists") {
            Refusal::Exists
        } else if stderr.contains("Device or resource busy") {
            Refusal::Busy
        } else {
            Refusal::Other
        }
    }
}

/// Errors of the nftables proxy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// Rule generation produced an invalid operation (a bug, or unusable input names).
    #[error("invalid nftables operation: {0}")]
    Invalid(#[from] InvalidOp),
    /// The `nft` (or `ip`, `conntrack`) process could not be started or fed.
    #[error("running {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `nft` refused the transaction; nothing of it was applied.
    #[error("nft refused the transaction ({kind:?}): {message}")]
    Refused {
        /// The class of refusal.
        kind: Refusal,
        /// nft's message.
        message: String,
    },
    /// `nft -j list` printed something we could not read.
    #[error("reading `nft -j list {what}` output: {reason}")]
    Listing {
        /// What was listed.
        what: String,
        /// Why it could not be read.
        reason: String,
    },
    /// A start-up precondition does not hold (not root, no nft, kernel too old, no netns).
    #[error("nftables mode unavailable: {0}")]
    Unavailable(String),
    /// The sync task is gone (it panicked or was shut down).
    #[error("the nftables sync task stopped")]
    Stopped,
}

impl SyncError {
    /// Whether `nft` said an object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            SyncError::Refused {
                kind: Refusal::NotFound,
                ..
            }
        )
    }

    /// Whether `nft` said an object already exists.
    pub fn is_exists(&self) -> bool {
        matches!(
            self,
            SyncError::Refused {
                kind: Refusal::Exists,
                ..
            }
        )
    }

    /// Whether `nft` said an object is in use.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            SyncError::Refused {
                kind: Refusal::Busy,
                ..
            }
        )
    }
}
