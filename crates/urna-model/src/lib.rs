//! The election model of urna: the election definition, C2SP signed notes, the `urna/*/v1`
//! note bodies, and the validation rules that turn a submitted note into a verdict.
//!
//! Everything here is pure: no I/O beyond reading the definition files a caller names, no
//! clock, no network. The same code runs in the commission's intake and in every verifier.
//!
//! Out of scope: the transparency log (`urna-tlog`), storage (`urna-store`), tallies and seats
//! (`urna-tally`).

pub mod audit;
pub mod colour;
pub mod decision;
pub mod definition;
mod fields;
pub mod genesis;
pub mod intake;
pub mod keys;
pub mod note;
pub mod pack;
pub mod protocol;
pub mod receipt;
pub mod revocation;
pub mod rotation;
pub mod rules;
pub mod scan;
