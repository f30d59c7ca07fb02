//! The reference workloads, for `../shared/bench/compare.py`.
fn main() {}
