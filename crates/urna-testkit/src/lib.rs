//! Test support shared by urna's crates; a dev-dependency only, never linked into a binary.
//!
//! - [`pg`]: a real PostgreSQL server for one test, started from the Debian package's binaries
//!   (used by `urna-pg`'s and `urna-server`'s tests and `urna-cli`'s end-to-end tests of the
//!   PostgreSQL engine).
//!
//! Out of scope: anything a test of one crate alone needs (it stays next to that test), mocks.

// A helper that cannot set up what a test needs fails that test, with the reason.
#![allow(clippy::panic)]

pub mod pg;
