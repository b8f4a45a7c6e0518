//! `sybench`: switchyard's benchmark driver (placeholder; see scripts/bench).

fn main() {}
