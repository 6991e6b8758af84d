//! The one error type of seat allocation.

use super::types::{DistrictId, ListId};

/// Everything that can go wrong when loading a rule set or votes, or allocating seats.
///
/// Each variant names the field, list or district a person must look at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeatError {
    /// The rule-set text is not valid TOML for the rule-set schema (the message names the field).
    #[error("rule set: {0}")]
    RulesSyntax(String),
    /// The rule set parses but is inconsistent.
    #[error("rule set field `{field}`: {problem}")]
    Rules {
        /// Dotted path of the offending field, e.g. `community.serb.reserved_seats`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// No built-in rule set has this name.
    #[error("no built-in rule set named `{name}` (known: {known})")]
    UnknownRuleSet {
        /// The name asked for.
        name: String,
        /// Comma-separated names that exist.
        known: String,
    },
    /// The vote text is not valid TOML for the vote-input schema.
    #[error("votes: {0}")]
    VotesSyntax(String),
    /// A field of the vote input holds an unusable value.
    #[error("votes field `{field}`: {problem}")]
    Votes {
        /// Dotted path of the offending field, e.g. `districts.Berat.votes.PS`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Votes were given for a list that the input does not declare under `[lists]`.
    #[error(
        "votes field `districts.{district}.votes.{list}`: unknown list `{list}` (declare it under [lists])"
    )]
    UnknownList {
        /// District in which the votes appear.
        district: DistrictId,
        /// The undeclared list.
        list: ListId,
    },
    /// The input has a district the rule set does not know, or lacks one it requires.
    #[error("district `{district}`: {problem}")]
    District {
        /// The district concerned.
        district: DistrictId,
        /// What is wrong.
        problem: String,
    },
    /// A checked sum did not fit in 64 bits.
    #[error("vote count overflow while summing {what}")]
    Overflow {
        /// Which sum overflowed.
        what: String,
    },
    /// The votes fall in a case the law decides by a procedure the rule set does not model:
    /// refused rather than allocated otherwise than the law does.
    #[error("rule set field `{field}`: {problem}")]
    NotModelled {
        /// Dotted path of the rule that does not reach the case, e.g. `minimum_guarantee`.
        field: String,
        /// The case, with its numbers.
        problem: String,
    },
    /// Seats must be filled but no list can take them (all below threshold, no votes, or out of
    /// candidates).
    #[error("{contest}: {seats} seat(s) cannot be filled: {reason}")]
    Unfillable {
        /// The contest (district, community, entity) where it happened.
        contest: String,
        /// Seats left unfilled.
        seats: u32,
        /// Why.
        reason: String,
    },
}
