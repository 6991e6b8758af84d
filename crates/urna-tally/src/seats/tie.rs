//! Tie-breaking: an explicit, reproducible rule per rule set, reported whenever it decides a seat.
//!
//! # The draw by lot
//! When the law says "by lot", urna draws with a published seed so that anyone can repeat the
//! draw. For each tied quotient it computes
//!
//! ```text
//! SHA-256("urna-seat-lot/v1\n" ‖ seed ‖ "\n" ‖ contest ‖ "\n" ‖ list ‖ "\n" ‖ quotient index)
//! ```
//!
//! (UTF-8, decimal quotient index starting at 1, no trailing newline) and ranks the tied quotients
//! by ascending digest: the smallest digest wins. The contest name (e.g. `district Berat`) keeps
//! draws in different contests independent. `printf '%s' … | sha256sum` reproduces each digest.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::types::{ListId, Votes};

/// How a rule set breaks ties between equal quotients (or equal remainders).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TieRule {
    /// Draw by lot with the published seed (see the module docs for the exact draw).
    Lot,
    /// The list with more votes in the contest wins; equal votes go to the draw by lot.
    MostVotesThenLot,
}

/// A tie rule together with the seed of its draw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TieBreaker {
    /// The rule.
    pub rule: TieRule,
    /// The published seed of the draw by lot.
    pub seed: String,
}

/// One tied quotient offered to the tie-break.
#[derive(Debug, Clone)]
pub(crate) struct TieCandidate {
    pub(crate) list: ListId,
    pub(crate) index: u32,
    pub(crate) votes: Votes,
}

/// The record of a tie-break that decided at least one seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TieBreakRecord {
    /// The contest in which the tie happened.
    pub contest: String,
    /// The rule applied.
    pub rule: TieRule,
    /// The seed used for the draw by lot.
    pub seed: String,
    /// How many of the tied quotients won a seat.
    pub seats_decided: u32,
    /// The tied quotients in the order the rule ranked them, winners first.
    pub ranking: Vec<TieDraw>,
}

/// One tied quotient and its draw digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TieDraw {
    /// The list.
    pub list: ListId,
    /// 1-based quotient index (0 for a largest-remainder remainder).
    pub index: u32,
    /// Votes of the list in the contest.
    pub votes: Votes,
    /// Hex SHA-256 digest of the draw input (see the module docs).
    pub digest: String,
    /// Whether this quotient won a seat.
    pub won: bool,
}

impl TieBreaker {
    /// Ranks tied candidates, winners first, and returns the record for `seats` winners.
    pub(crate) fn decide(
        &self,
        contest: &str,
        candidates: &[TieCandidate],
        seats: u32,
    ) -> (Vec<usize>, TieBreakRecord) {
        let digests: Vec<[u8; 32]> = candidates
            .iter()
            .map(|c| self.digest(contest, &c.list, c.index))
            .collect();
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by(|&a, &b| {
            let by_votes = match self.rule {
                TieRule::Lot => std::cmp::Ordering::Equal,
                TieRule::MostVotesThenLot => candidates[b].votes.cmp(&candidates[a].votes),
            };
            by_votes.then_with(|| digests[a].cmp(&digests[b]))
        });
        let ranking = order
            .iter()
            .enumerate()
            .map(|(pos, &i)| TieDraw {
                list: candidates[i].list.clone(),
                index: candidates[i].index,
                votes: candidates[i].votes,
                digest: hex(&digests[i]),
                won: pos < seats as usize,
            })
            .collect();
        let record = TieBreakRecord {
            contest: contest.to_owned(),
            rule: self.rule,
            seed: self.seed.clone(),
            seats_decided: seats,
            ranking,
        };
        (order, record)
    }

    fn digest(&self, contest: &str, list: &ListId, index: u32) -> [u8; 32] {
        let text = format!(
            "urna-seat-lot/v1\n{}\n{contest}\n{list}\n{index}",
            self.seed
        );
        Sha256::digest(text.as_bytes()).into()
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(list: &str, votes: u64) -> TieCandidate {
        TieCandidate {
            list: ListId::new(list),
            index: 1,
            votes: Votes(votes),
        }
    }

    #[test]
    fn lot_draw_is_reproducible_with_sha256sum() {
        let tie = TieBreaker {
            rule: TieRule::Lot,
            seed: "seed".into(),
        };
        let (_, record) = tie.decide("district X", &[candidate("A", 1)], 1);
        // printf 'urna-seat-lot/v1\nseed\ndistrict X\nA\n1' | sha256sum
        let expected = hex(&Sha256::digest(b"urna-seat-lot/v1\nseed\ndistrict X\nA\n1"));
        assert_eq!(record.ranking[0].digest, expected);
    }

    #[test]
    fn lot_draw_does_not_depend_on_candidate_order() {
        let tie = TieBreaker {
            rule: TieRule::Lot,
            seed: "2025".into(),
        };
        let forward = [candidate("A", 1), candidate("B", 1), candidate("C", 1)];
        let backward = [candidate("C", 1), candidate("B", 1), candidate("A", 1)];
        let (_, r1) = tie.decide("c", &forward, 1);
        let (_, r2) = tie.decide("c", &backward, 1);
        assert_eq!(r1.ranking, r2.ranking);
    }

    #[test]
    fn most_votes_rule_prefers_the_larger_list_before_the_lot() {
        let tie = TieBreaker {
            rule: TieRule::MostVotesThenLot,
            seed: "any".into(),
        };
        let (_, record) = tie.decide("c", &[candidate("A", 10), candidate("B", 20)], 1);
        assert_eq!(record.ranking[0].list, ListId::new("B"));
        assert!(record.ranking[0].won && !record.ranking[1].won);
    }
}
