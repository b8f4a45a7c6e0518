//! kubelet's per-probe result state machine, pure: fed one [`Outcome`] per run, it publishes
//! a result only once the run of equal outcomes reaches the threshold.
//!
//! Rules (kubelet's prober worker):
//! - Before any threshold is reached the published result is the kind's initial one:
//!   readiness Failure (a container is not ready until a probe passed), liveness Success,
//!   startup Unknown (not started yet).
//! - An Unknown outcome (the probe could not run) changes nothing, not even the run count.
//! - A run of `success_threshold` consecutive successes publishes Success; a run of
//!   `failure_threshold` consecutive failures publishes Failure. Each further outcome of the
//!   same run publishes again (the value stays).
//! - When liveness or startup publishes Failure, kubelet would restart the container and
//!   count from zero: the run count is reset, so the next Failure needs a whole new run.

use crate::probe::{Outcome, ProbeKind};

/// A published probe result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// The probe passes.
    Success,
    /// The probe fails.
    Failure,
    /// No result yet (startup before its first threshold).
    Unknown,
}

/// The state of one probe of one container.
#[derive(Debug, Clone)]
pub struct ThresholdState {
    kind: ProbeKind,
    success_threshold: u32,
    failure_threshold: u32,
    published: Published,
    /// The last conclusive outcome (true = success) and how many in a row.
    last: Option<bool>,
    run: u32,
}

impl ThresholdState {
    /// A fresh state for a probe of `kind` with these thresholds (each at least 1).
    pub fn new(kind: ProbeKind, success_threshold: u32, failure_threshold: u32) -> ThresholdState {
        let published = match kind {
            ProbeKind::Readiness => Published::Failure,
            ProbeKind::Liveness => Published::Success,
            ProbeKind::Startup => Published::Unknown,
        };
        ThresholdState {
            kind,
            success_threshold: success_threshold.max(1),
            failure_threshold: failure_threshold.max(1),
            published,
            last: None,
            run: 0,
        }
    }

    /// The published result.
    pub fn published(&self) -> Published {
        self.published
    }

    /// Folds one outcome in; returns the published result when this outcome changed it.
    pub fn observe(&mut self, outcome: &Outcome) -> Option<Published> {
        let success = match outcome {
            Outcome::Success => true,
            Outcome::Failure(_) => false,
            Outcome::Unknown(_) => return None,
        };
        if self.last == Some(success) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(success);
            self.run = 1;
        }
        let threshold = if success {
            self.success_threshold
        } else {
            self.failure_threshold
        };
        if self.run < threshold {
            return None;
        }
        let value = if success {
            Published::Success
        } else {
            Published::Failure
        };
        if !success && matches!(self.kind, ProbeKind::Liveness | ProbeKind::Startup) {
            self.run = 0;
        }
        let changed = self.published != value;
        self.published = value;
        changed.then_some(value)
    }
}

#[cfg(test)]
mod tests;
