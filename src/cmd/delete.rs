//! `switchyard delete KIND NAME... [--cascade background|foreground|orphan]`.

use anyhow::{Result, anyhow, bail};
use control::Kind;
use http::Method;

use super::api;
use crate::cli::DeleteArgs;

/// Runs `delete`; every name is tried, and the command fails if any failed.
pub async fn run(args: DeleteArgs) -> Result<()> {
    let kind = Kind::parse(&args.kind)
        .ok_or_else(|| anyhow!("the server doesn't have a resource type {:?}", args.kind))?;
    let namespace = kind.namespaced().then(|| {
        args.namespace
            .clone()
            .unwrap_or_else(|| "default".to_string())
    });
    let client = api::client(&args.server).await?;
    let mut failures = 0;
    for name in &args.names {
        let path = format!(
            "{}?propagationPolicy={}",
            kind.object_path(namespace.as_deref(), name),
            args.cascade.policy()
        );
        match api::send(&client, Method::DELETE, &path, None, None).await {
            Ok(_) => println!("{} \"{name}\" deleted", kind.singular()),
            Err(e) if api::is_not_found(&e) && args.ignore_not_found => {}
            Err(e) => {
                failures += 1;
                eprintln!("error: {:#}", api::describe(e));
            }
        }
    }
    if failures > 0 {
        bail!("{failures} object(s) could not be deleted");
    }
    Ok(())
}
