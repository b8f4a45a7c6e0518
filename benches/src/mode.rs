//! How big a run is: `smoke` (seconds; proves the harness end to end, numbers meaningless),
//! `quick` (the default, under ten minutes on two cores) and `full`.
//!
//! Areas read their sizes from here so one flag scales the whole suite consistently.

use serde::{Deserialize, Serialize};

/// Run size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Seconds per area: proves every step works; figures are not meaningful.
    Smoke,
    /// The default: under ten minutes for the whole suite on a 2-core machine.
    Quick,
    /// The sizes the issue asks for (100k objects, 30k services, longer runs).
    Full,
}

impl Mode {
    /// Repetitions per measurement (the median and spread are over these).
    pub fn reps(self) -> usize {
        match self {
            Mode::Smoke => 3,
            Mode::Quick => 5,
            Mode::Full => 7,
        }
    }

    /// Picks the value for this mode.
    pub fn pick<T>(self, smoke: T, quick: T, full: T) -> T {
        match self {
            Mode::Smoke => smoke,
            Mode::Quick => quick,
            Mode::Full => full,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        self.pick("smoke", "quick", "full")
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
