//! switchyard's per-node service proxy.
//!
//! [`model`] turns the watched Services and EndpointSlices into a [`model::ServiceTable`]; the
//! data paths forward traffic for the current table: `userspace` (tokio listeners, splice) and
//! `nft` (kernel rules through verdict maps). Both obey the same Service semantics.

pub mod health;
pub mod metrics;
pub mod model;
pub mod nft;
pub mod reflector;
pub mod userspace;
