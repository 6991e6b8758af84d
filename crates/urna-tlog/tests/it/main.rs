//! Integration tests for urna-tlog, in one binary to save link time.

// Test helpers outside `#[test]` functions may fail loudly: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod vectors;
