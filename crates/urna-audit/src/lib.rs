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
//! - [`reported`] and [`trail`]: the audit as `urna/audit/v1` notes in the log: the reported
//!   results at the audited checkpoint, and the rules each note must follow (the sample from the
//!   seed, the verdict from the counts), checked at intake and by every verifier.
//! - [`polling`]: ballot polling (BRAVO) and ballot-level comparison, with sample-size
//!   estimates (average and quantiles) by seeded simulation.
//!
//! Pure functions: no I/O, no clock, no global randomness (simulations take a seed). Counts
//! are integers; risks, error bounds and margins are IEEE doubles (the same on every platform
//! for the same inputs, so anyone can recompute a sample and a risk).
//!
//! ```
//! use urna_audit::{AuditDistrict, AuditInput, AuditList, Batch, BatchAudit, Verdict, assertions};
//! use urna_tally::seats::{DistrictId, ListId, ListKind, RuleSet};
//!
//! let rules = RuleSet::builtin("generic").unwrap(); // D'Hondt, no threshold
//! let list = |id: &str| AuditList { id: ListId::new(id), kind: ListKind::Party };
//! let input = AuditInput {
//!     lists: vec![list("A"), list("B")],
//!     districts: vec![AuditDistrict { id: DistrictId::new("all"), seats: Some(3) }],
//!     batches: (0..200)
//!         .map(|i| Batch {
//!             id: format!("P-{i:03}"),
//!             district: 0,
//!             ballots: 500,
//!             votes: vec![300, 180],
//!             other: 0,
//!         })
//!         .collect(),
//! };
//! let outcome = assertions::assertions(&rules, &input).unwrap();
//! assert_eq!(outcome.seats, [[2, 1]]);
//! let audit = BatchAudit::new(&outcome, &input, 0.05, 4).unwrap();
//! let seed = "12345678901234567890"; // from a public dice roll
//! let round_one = audit.draws(seed, audit.first_round_draws());
//! assert!(!round_one.is_empty());
//! // Hand counts that match the protocols confirm the outcome.
//! let report = audit.evaluate(&outcome, &input, seed, &|i| Some(input.classes(&input.batches[i])));
//! assert_eq!(report.verdict, Verdict::RiskLimitMet);
//! ```
//!
//! Out of scope: reading the store or hand-count files (the command line does that), largest
//! remainder methods, reserved community seats, pools and compensatory seats (rejected with
//! [`AuditError::Unsupported`]), candidates within a list, and storing the audit's notes (the
//! store and the verifier hand the trail what the log holds).
//! The method, its choices and how a commission runs an audit: `docs/audit.md`.

pub mod assertions;
pub mod batch;
pub mod polling;
pub mod public;
pub mod reported;
pub mod sampler;
pub mod trail;

mod error;

pub use assertions::{
    Assertion, AssertionKind, AuditDistrict, AuditInput, AuditList, Batch, Outcome,
};
pub use batch::{BatchAudit, Draw, RiskReport, Verdict};
pub use error::AuditError;
