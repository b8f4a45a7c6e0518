//! The subcommands, one module each.

pub mod api;
pub mod apply;
pub mod delete;
pub mod get;
pub mod kubeconfig;
pub mod manifest;
