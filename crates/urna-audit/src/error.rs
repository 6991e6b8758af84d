//! Errors of audit computations.

use urna_tally::seats::SeatError;

/// What went wrong, naming the field, station or rule at fault.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The rule set uses a feature the assertions do not cover.
    #[error(
        "rule set `{rules}`: {feature} cannot be audited yet (assertions cover divisor methods with thresholds per district)"
    )]
    Unsupported {
        /// The rule set's id.
        rules: String,
        /// What it uses.
        feature: String,
    },
    /// An input field breaks a rule.
    #[error("{field}: {problem}")]
    Input {
        /// The field (e.g. `station P-12: ballots`).
        field: String,
        /// The rule it breaks.
        problem: String,
    },
    /// The seat allocation itself failed.
    #[error("seat allocation: {0}")]
    Seats(#[from] SeatError),
}
