//! End-to-end tests: the real `switchyard` binary, driven over HTTP, the CLI, `kubectl` and `dig`.
//!
//! One test binary (`cargo test --test e2e`); each module covers one area.

mod support;

mod apply_get;
mod cluster_dns;
mod dns_live;
mod durability;
mod endpoints;
mod ipam_limits;
mod prober;
mod proxy_userspace;
mod remote_access;
mod remote_parts;
mod scheduling;
mod tutorials;
