//! The Kubernetes-style HTTP API (axum): discovery, CRUD, list+watch, Status errors, Tables.
//!
//! OWNER: store/API helper. This file is a placeholder.
