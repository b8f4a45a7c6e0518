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

/// A child process (a server, an agent) killed and reaped on drop, even when the test fails.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (at most 20 s, polling every 50 ms) for `path` to exist, e.g. the kubeconfig a
/// starting server writes; whether it appeared.
pub fn wait_for_file(path: &std::path::Path) -> bool {
    for _ in 0..400 {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
