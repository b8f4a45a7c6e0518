//! `switchyard demo`: the main job on the embedded default.

use anyhow::Result;

use crate::cli::RunArgs;

/// Runs the demo until Ctrl-C.
pub async fn demo(args: RunArgs) -> Result<()> {
    super::run(args).await
}
