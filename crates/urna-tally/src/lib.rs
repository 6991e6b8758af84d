//! Tabulation and seat allocation for urna.
//!
//! Everything here is a pure function of the accepted protocols and the election definition:
//! the commission's server and an independent verifier must compute byte-identical results.
//! Integers only; no floating point anywhere.
//!
//! [`public`] replays the log's entries in order and renders the public results (JSON, CSV) byte
//! for byte, so anyone holding the entries can recompute what the commission published.
//!
//! Out of scope: the store and the network (callers pass the entries' bytes).

pub mod cdf;
pub mod public;
pub mod seats;
pub mod shapes;
pub mod totals;
