//! Tabulation and seat allocation for urna.
//!
//! Everything here is a pure function of the accepted protocols and the election definition:
//! the commission's server and an independent verifier must compute byte-identical results.
//! Integers only; no floating point anywhere.
//!
//! Out of scope: reading notes or the store (callers pass parsed protocols), output formatting.

pub mod seats;
pub mod totals;
