//! Micro-benchmark: appends and tile writes (written below).
fn main() {}
