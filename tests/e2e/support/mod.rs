//! Test support: a `switchyard run` child process on free loopback ports with its own data
//! directory, killed (SIGKILL) when dropped, plus small HTTP helpers.

#![allow(dead_code)]

mod process;

pub use process::{Switchyard, SwitchyardOptions, free_port, switchyard_bin};

use std::time::Duration;

/// Result type of the tests.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Polls `check` every 50 ms until it returns `Some`, at most `attempts` times.
pub async fn eventually<T, F, Fut>(attempts: usize, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..attempts {
        if let Some(value) = check().await {
            return Some(value);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

pub use testkit::{require_root, require_tool};
