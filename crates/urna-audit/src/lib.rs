//! Risk-limiting audits of the seat outcome that urna publishes.
//!
//! One job: given the reported votes per polling station and the seat rules, say which facts
//! (assertions) make the reported seats right, which stations to hand count (from a public
//! seed), and how strong the evidence from the hand counts is (the measured risk).
//!
//! - [`assertions`]: SHANGRLA assertions for divisor-method seat allocations (D'Hondt,
//!   Sainte-Laguë, modified Sainte-Laguë) per district with thresholds, after Blom, Stuckey,
//!   Teague & Vukcevic (2021); a single-winner contest is the one-seat case (plain pairwise
//!   margins).
//! - [`sampler`]: Rivest's consistent sampler (SHA-256 tickets), which Arlo also uses.
//! - [`batch`]: batch-comparison audits with polling stations as batches: MACRO error bounds,
//!   sampling with probability proportional to error bound (PPEB), the Kaplan–Markov risk,
//!   rounds with escalation to a full hand count.
//! - [`polling`]: ballot polling (BRAVO) and ballot-level comparison, with sample-size
//!   estimates (average and quantiles) by seeded simulation.
//!
//! Pure functions: no I/O, no clock, no global randomness (simulations take a seed). Counts
//! are integers; risks, error bounds and margins are IEEE doubles (the same on every platform
//! for the same inputs, so anyone can recompute a sample and a risk).
//!
//! Out of scope: reading the store or hand-count files (the command line does that), largest
//! remainder methods, reserved community seats, pools and compensatory seats (rejected with
//! [`AuditError::Unsupported`]), and recording the audit in the log.

pub mod assertions;
pub mod batch;
pub mod polling;
pub mod sampler;

mod error;

pub use assertions::{
    Assertion, AssertionKind, AuditDistrict, AuditInput, AuditList, Batch, Outcome,
};
pub use batch::{BatchAudit, Draw, RiskReport, Verdict};
pub use error::AuditError;
