//! The library behind `sybench` (switchyard's benchmark driver) and the Criterion benches:
//! one module per measured area, the peers they start, statistics, the JSON results and the
//! report generator.
//!
//! Nothing here is used by switchyard itself; peers only ever listen on loopback or inside
//! network namespaces the bench creates, and are killed when dropped.

pub mod backend;
pub mod dns_area;
pub mod ipam_area;
pub mod lb_area;
pub mod mode;
pub mod nft_area;
pub mod peers;
pub mod plot;
pub mod proxy_area;
pub mod report;
pub mod results;
pub mod routed_area;
pub mod run_info;
pub mod scale_area;
pub mod stats;
pub mod store_area;
pub mod sy_service;

use std::path::PathBuf;

use mode::Mode;
use run_info::RunInfo;

/// What every area needs to know about the run.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Run size.
    pub mode: Mode,
    /// The switchyard binary.
    pub switchyard: PathBuf,
    /// taskset CPU list for servers (switchyard and every peer).
    pub server_cpus: String,
    /// taskset CPU list for load generators.
    pub client_cpus: String,
}

impl Ctx {
    /// The facts of this run, taken now.
    pub fn run_info(&self) -> RunInfo {
        RunInfo::collect(self.mode)
    }
}
