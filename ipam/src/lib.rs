//! Address and port allocators.
