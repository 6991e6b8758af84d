//! Integration tests of urna-tally's seat allocation: published results, properties, bad input.

// Helpers outside `#[test]` functions load fixtures; a panic there is the test failing, which is
// what clippy.toml's `allow-unwrap-in-tests` already grants to the test functions themselves.
#![allow(clippy::unwrap_used, clippy::panic)]

mod bad_input;
mod bosnia;
mod candidates;
mod decisions;
mod knesset;
mod kosovo;
mod montenegro;
mod official;
mod open_lists;
mod properties;
mod public;
mod repeat;
mod support;
mod systems;
mod vectors;
