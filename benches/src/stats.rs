//! Summary statistics for repeated measurements: median, percentiles and spread.
//!
//! Pure functions over `f64` samples; no I/O, no clocks. Every figure in the report is the
//! median of several repetitions with its spread, so this module is the one place that decides
//! how a set of samples becomes a number. Non-finite samples are dropped, never averaged in.

use serde::{Deserialize, Serialize};

/// The summary of one metric over several repetitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// How many finite samples went in.
    pub n: usize,
    /// Median of the samples.
    pub median: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// The samples themselves, in measurement order.
    pub samples: Vec<f64>,
}

impl Summary {
    /// Summarises `samples`; `None` when no sample is finite.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        let finite: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
        let sorted = sorted(&finite);
        let median = percentile_sorted(&sorted, 50.0)?;
        Some(Summary {
            n: sorted.len(),
            median,
            min: *sorted.first()?,
            max: *sorted.last()?,
            samples: finite,
        })
    }

    /// Spread as a fraction of the median: `(max - min) / median` (0 when the median is 0).
    pub fn relative_spread(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            ((self.max - self.min) / self.median).abs()
        }
    }
}

/// A copy of `samples` sorted ascending (non-finite values dropped).
pub fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// The `p`-th percentile (0..=100) of ascending `sorted` samples, linearly interpolated
/// between closest ranks; `None` when empty.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let p = p.clamp(0.0, 100.0);
    let rank = p / 100.0 * last as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let (a, b) = (*sorted.get(lo)?, *sorted.get(hi)?);
    Some(a + (b - a) * (rank - lo as f64))
}

/// The `p`-th percentile of unsorted samples; `None` when no sample is finite.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    percentile_sorted(&sorted(samples), p)
}

/// Arithmetic mean; `None` when empty.
pub fn mean(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    Some(samples.iter().sum::<f64>() / samples.len() as f64)
}

/// Coefficient of variation (population standard deviation / mean); `None` when empty or the
/// mean is 0.
pub fn coefficient_of_variation(samples: &[f64]) -> Option<f64> {
    let m = mean(samples)?;
    if m == 0.0 {
        return None;
    }
    let var = samples.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / samples.len() as f64;
    Some(var.sqrt() / m)
}

/// `max / mean` of the samples: 1.0 is perfectly even load; `None` when empty or mean is 0.
pub fn max_over_mean(samples: &[f64]) -> Option<f64> {
    let m = mean(samples)?;
    if m == 0.0 {
        return None;
    }
    let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(max / m)
}

#[cfg(test)]
mod tests;
