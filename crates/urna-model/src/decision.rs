//! The body of an `urna/decision/v1` note: what the commission decided about a station's
//! protocol or amendment, most often one in quarantine.
//!
//! ```text
//! urna/decision/v1
//! election: al-2021
//! contest: assembly
//! station: P-3264
//! decides: sha256:<hex of the decided entry's note bytes>
//! decision: recount
//! reason: The paper protocol shows 281 ballots; the keyed copy 218.
//! ```
//!
//! Three decisions, each about the entry named in `decides:`, which must be the station's
//! current entry in the contest when the decision is logged:
//! - `accept`: the entry counts as it stands, although an error rule fails (a quarantined
//!   protocol whose paper really says so, checked by the commission). On an entry that is
//!   counted already it changes nothing in the totals, but stays in the station's history.
//! - `recount`: a recount is ordered; the station stays out of the totals until the recount's
//!   result arrives as an amendment superseding the entry.
//! - `annul`: the station's votes leave the totals.
//!
//! A decision applies to the entry it names while that entry is current; a later decision on
//! the same entry replaces it, and an amendment superseding the entry ends it (the amendment's
//! own verdict counts). The note is signed by an authority of the definition whose scope covers
//! the station ([`crate::intake`] checks it, and every verifier again).
//!
//! The parser is strict like the protocol's: fixed key order, every key once, nothing after
//! `reason:`, so each decision has exactly one text.

use std::fmt;

use crate::protocol::{MAX_REASON_LEN, check_id, hex, parse_sha256};

/// First line of a decision body.
pub const DECISION_V1: &str = "urna/decision/v1";

/// What was decided about an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DecisionKind {
    /// The entry counts as it stands.
    Accept,
    /// A recount is ordered; the station is out of the totals until its amendment.
    Recount,
    /// The station's votes leave the totals.
    Annul,
}

impl DecisionKind {
    /// Every kind, in the order the format lists them.
    pub const ALL: [Self; 3] = [Self::Accept, Self::Recount, Self::Annul];

    /// The word written in the note: `accept`, `recount` or `annul`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Recount => "recount",
            Self::Annul => "annul",
        }
    }

    /// The kind a word names, if any.
    pub fn from_word(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == word)
    }

    /// Whether the decided entry's numbers count in the totals under this decision.
    pub fn counts(self) -> bool {
        self == Self::Accept
    }
}

impl fmt::Display for DecisionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed decision body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionBody {
    /// `election:`
    pub election: String,
    /// `contest:`
    pub contest: String,
    /// `station:`
    pub station: String,
    /// `decides:` SHA-256 of the decided entry's note bytes.
    pub decides: [u8; 32],
    /// `decision:`
    pub decision: DecisionKind,
    /// `reason:` why, in words (1 to [`MAX_REASON_LEN`] bytes).
    pub reason: String,
}

/// Why a decision body could not be parsed. `line` counts from 1, the type line being line 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    /// The first line is not `urna/decision/v1`.
    #[error("line 1: unknown note type {0:?}; expected {DECISION_V1}")]
    UnknownType(String),
    /// A field is missing where the format requires it.
    #[error("line {line}: expected field `{expected}`")]
    Missing {
        /// Line where it was expected.
        line: usize,
        /// The field.
        expected: &'static str,
    },
    /// A field's value breaks its rule.
    #[error("line {line}: field `{field}`: {rule}")]
    Field {
        /// The line.
        line: usize,
        /// The field.
        field: &'static str,
        /// The rule.
        rule: &'static str,
    },
    /// A line after `reason:`.
    #[error("line {line}: unexpected line {text:?}; a decision ends with its `reason:` line")]
    Unexpected {
        /// The line.
        line: usize,
        /// Its text (cut to 80 characters).
        text: String,
    },
}

/// The fields of a decision, in the only order they may come.
const FIELDS: [&str; 6] = [
    "election", "contest", "station", "decides", "decision", "reason",
];

impl From<crate::fields::FieldsError> for DecisionError {
    fn from(e: crate::fields::FieldsError) -> Self {
        use crate::fields::FieldsError as F;
        match e {
            F::UnknownType(t) => Self::UnknownType(t),
            F::Missing { line, expected } => Self::Missing { line, expected },
            F::Blank { line, field } => Self::Field {
                line,
                field,
                rule: crate::fields::BLANK,
            },
            F::Unexpected { line, text } => Self::Unexpected { line, text },
        }
    }
}

impl DecisionBody {
    /// Whether a note text is a decision (its first line is [`DECISION_V1`]), so a caller can
    /// choose the parser before parsing.
    pub fn is_decision(text: &str) -> bool {
        text.split('\n').next() == Some(DECISION_V1)
    }

    /// Parses a decision body (a note's text).
    ///
    /// # Errors
    /// [`DecisionError`] naming the line and the field.
    ///
    /// ```
    /// use urna_model::decision::{DecisionBody, DecisionKind};
    /// let text = format!(
    ///     "urna/decision/v1\nelection: e\ncontest: c\nstation: S-1\ndecides: sha256:{}\ndecision: annul\nreason: ballots lost\n",
    ///     "ab".repeat(32)
    /// );
    /// let d = DecisionBody::parse(&text).unwrap();
    /// assert_eq!(d.decision, DecisionKind::Annul);
    /// assert_eq!(d.to_text(), text);
    /// ```
    pub fn parse(text: &str) -> Result<Self, DecisionError> {
        let values = crate::fields::read(text, DECISION_V1, &FIELDS)?;
        let [election, contest, station, decides, decision, reason] = values;
        for (line, field, v) in [
            (2, "election", election),
            (3, "contest", contest),
            (4, "station", station),
        ] {
            check_id(v).map_err(|rule| DecisionError::Field { line, field, rule })?;
        }
        let decides = parse_sha256(decides).map_err(|rule| DecisionError::Field {
            line: 5,
            field: "decides",
            rule,
        })?;
        let decision = DecisionKind::from_word(decision).ok_or(DecisionError::Field {
            line: 6,
            field: "decision",
            rule: "must be accept, recount or annul",
        })?;
        if reason.len() > MAX_REASON_LEN {
            return Err(DecisionError::Field {
                line: 7,
                field: "reason",
                rule: "longer than 1000 bytes",
            });
        }
        Ok(Self {
            election: election.to_owned(),
            contest: contest.to_owned(),
            station: station.to_owned(),
            decides,
            decision,
            reason: reason.to_owned(),
        })
    }

    /// The canonical text, ending in a newline; [`DecisionBody::parse`] of it gives back an
    /// equal body.
    pub fn to_text(&self) -> String {
        format!(
            "{DECISION_V1}\nelection: {}\ncontest: {}\nstation: {}\ndecides: sha256:{}\ndecision: {}\nreason: {}\n",
            self.election,
            self.contest,
            self.station,
            hex(&self.decides),
            self.decision,
            self.reason
        )
    }
}

#[cfg(test)]
mod tests;
