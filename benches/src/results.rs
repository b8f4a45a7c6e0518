//! The JSON result format every area writes to `target/bench-results/<area>.json` and the
//! report reads back, so areas can be re-run alone and the page regenerated from files.
//!
//! A result is data only: it never measures and never formats Markdown.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::run_info::RunInfo;
use crate::stats::Summary;

/// Which direction of a metric is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Throughput-like: more is better.
    Higher,
    /// Latency/size-like: less is better.
    Lower,
}

/// One system's measurement of one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Who was measured (`switchyard`, `etcd 3.4.23`, `HashSet reference`, ...).
    pub name: String,
    /// The repetitions; `None` when it could not be measured (see `error`).
    pub summary: Option<Summary>,
    /// Why it could not be measured, if it could not.
    pub error: Option<String>,
}

impl Series {
    /// A measured series; an empty or all-NaN sample set becomes an error entry.
    pub fn measured(name: impl Into<String>, samples: &[f64]) -> Series {
        let summary = Summary::of(samples);
        let error = summary.is_none().then(|| "no valid sample".to_string());
        Series {
            name: name.into(),
            summary,
            error,
        }
    }

    /// A series that could not be measured, with the reason (shown in the report).
    pub fn failed(name: impl Into<String>, error: impl std::fmt::Display) -> Series {
        Series {
            name: name.into(),
            summary: None,
            error: Some(error.to_string()),
        }
    }

    /// The median, when measured.
    pub fn median(&self) -> Option<f64> {
        self.summary.as_ref().map(|s| s.median)
    }
}

/// One row of a table: one metric for one workload, switchyard beside its references.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The workload (`64 clients, create`).
    pub case: String,
    /// The metric (`creates/s`).
    pub metric: String,
    /// Which direction is good.
    pub better: Better,
    /// switchyard's measurement.
    pub subject: Series,
    /// The references measured in the same run (each gets a ratio column).
    pub references: Vec<Series>,
}

impl Row {
    /// `subject median / reference median` for reference `i`, when both were measured and the
    /// reference is non-zero.
    pub fn ratio(&self, i: usize) -> Option<f64> {
        let s = self.subject.median()?;
        let r = self.references.get(i)?.median()?;
        (r != 0.0).then(|| s / r)
    }

    /// Whether switchyard loses against reference `i` (`None` when not comparable).
    pub fn loses(&self, i: usize) -> Option<bool> {
        let ratio = self.ratio(i)?;
        Some(match self.better {
            Better::Higher => ratio < 1.0,
            Better::Lower => ratio > 1.0,
        })
    }
}

/// One table of an area, with the method written next to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// Table title.
    pub title: String,
    /// How it was measured: versions, flags, workload, pinning (Markdown).
    pub method: String,
    /// The rows.
    pub rows: Vec<Row>,
    /// Free-form notes (caveats, what was not measured and why).
    pub notes: Vec<String>,
}

/// Everything one area measured in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AreaResult {
    /// Area key (`ipam`, `store`, ...), also the file name.
    pub area: String,
    /// Heading in the report.
    pub title: String,
    /// The run that produced it.
    pub run: RunInfo,
    /// The tables.
    pub sections: Vec<Section>,
}

impl AreaResult {
    /// The result of an area that could not run at all: one section saying why.
    pub fn failed(area: &str, run: RunInfo, error: &str) -> AreaResult {
        AreaResult {
            area: area.to_string(),
            title: format!("{area}: not measured"),
            run,
            sections: vec![Section {
                title: "The area failed".into(),
                method: String::new(),
                rows: vec![],
                notes: vec![format!("Error: {error}")],
            }],
        }
    }

    /// Writes `<dir>/<area>.json` (creating `dir`), returning the path.
    pub fn write(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{}.json", self.area));
        let json = serde_json::to_string_pretty(self)?;
        std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Reads every `*.json` in `dir`, sorted by the canonical area order.
    pub fn read_all(dir: &Path) -> anyhow::Result<Vec<AreaResult>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        };
        for entry in entries {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let area: AreaResult = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", path.display()))?;
            out.push(area);
        }
        out.sort_by_key(|a| area_rank(&a.area));
        Ok(out)
    }
}

/// Areas in the order the report shows them.
pub const AREA_ORDER: [&str; 8] = [
    "ipam", "store", "dns", "proxy", "nft", "lb", "scale", "routed",
];

fn area_rank(area: &str) -> (usize, String) {
    let rank = AREA_ORDER
        .iter()
        .position(|a| *a == area)
        .unwrap_or(AREA_ORDER.len());
    (rank, area.to_string())
}
