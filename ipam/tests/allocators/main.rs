//! Properties of every allocator, checked from outside the crate through its public API:
//! model-based random operation sequences, several threads sharing one allocator, and the
//! restart rebuild. One test binary; `subjects` adapts the four allocators to one trait.

mod concurrency;
mod properties;
mod rebuild;
mod subjects;
