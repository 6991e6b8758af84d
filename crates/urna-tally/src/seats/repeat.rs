//! Whether a repeat vote could change the seats (Albania's Electoral Code art. 161): the
//! polling stations of one district whose vote was invalidated hold `voters` voters; the
//! seats are allocated without their votes; could those voters, voting again, move a seat?
//!
//! # How it is decided: by re-ranking, not by comparing margins
//! The margins of the explanation ([`super::Sensitivity`]) hold every other list and every
//! threshold fixed, so they cannot answer this: new votes raise a national threshold's base,
//! and a list just above the threshold then loses every seat it holds, in any district.
//! Here every outcome is a full allocation under the rule set.
//!
//! New votes only add (the invalidated votes are already out). It is enough to try the new
//! votes all given to one list standing in the district: in a divisor contest with the
//! competing lists fixed, a list gains a seat when one of its quotients passes another's, and
//! votes given to others only raise those others' quotients; a list passes a threshold with
//! its own votes, and the base grows by the same total however the votes are split; a list
//! falls below one by the base growing, whoever gets the votes. So if some split of at most
//! `voters` votes changes the seats, giving them to one list does too.
//!
//! For one list the seats, as a function of its new votes `y`, change only where one of its
//! quotients meets another list's quotient in the district (the other lists' quotients do
//! not move), or where a list crosses a threshold: those points are computed exactly
//! (the crossings by integer arithmetic, the threshold crossings by bisection over full
//! allocations, each outcome monotone in `y`) and the allocation is made at each, in
//! ascending order, up to `voters`. A point where a quotient only equals another counts: a
//! tie there that was not there before (other quotients tied) is decided by the tie rule,
//! which could give the seat either way.
//!
//! The lists tried are those with a row in the district (write a list on the ballot without
//! votes as `0`): a list not on its ballot cannot take its new votes.
//!
//! Rule sets with compensatory tiers, community rules, bonus seats or largest-remainder
//! methods are refused: there the seats are not monotone in one list's votes in this way.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::types::{DistrictId, ListId, Seats, Votes};
use super::{Allocation, ContestKind, RuleSet, SeatError, ThresholdOutcome, VoteInput, allocate};

/// The answer for one district.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepeatVote {
    /// The district of the invalidated stations.
    pub district: DistrictId,
    /// Their voters: the most votes a repeat vote can add.
    pub voters: Votes,
    /// The fewest new votes (for one list) that change the seats, if at most `voters` can.
    pub change: Option<SeatChange>,
}

/// New votes that change the seats, and what they change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeatChange {
    /// The list given the new votes.
    pub list: ListId,
    /// How many.
    pub votes: Votes,
    /// Seats per contest and list that differ: `(contest, list, before, after)`.
    pub moved: Vec<(String, ListId, Seats, Seats)>,
    /// A tie at the cut that was not there before decides it at this count (drawn by lot, or
    /// by the rule set's tie rule; one vote more may be needed for certain).
    pub by_lot: bool,
}

/// A tie the rule decided: its contest and the tied quotients (list and index), in order.
type Tie = (String, Vec<(ListId, u32)>);

/// Seats per contest and list, and the ties decided: what a change is measured on.
type Outcome = (BTreeMap<(String, ListId), Seats>, BTreeSet<Tie>);

fn outcome(a: &Allocation) -> Outcome {
    let mut seats = BTreeMap::new();
    let mut ties = BTreeSet::new();
    for c in &a.contests {
        for (list, s) in c.seats_by_list() {
            seats.insert((c.name.clone(), list), s);
        }
        for t in &c.tie_breaks {
            let mut tied: Vec<(ListId, u32)> = t
                .ranking
                .iter()
                .map(|d| (d.list.clone(), d.index))
                .collect();
            tied.sort();
            ties.insert((c.name.clone(), tied));
        }
    }
    (seats, ties)
}

fn threshold_outcomes(a: &Allocation) -> BTreeSet<(ListId, String, bool)> {
    a.thresholds
        .iter()
        .map(|t| {
            (
                t.list.clone(),
                t.scope.clone(),
                t.outcome == ThresholdOutcome::Passed,
            )
        })
        .collect()
}

/// Could `voters` new votes in `district` change the seats `input` gives under `rules`?
///
/// # Errors
/// [`SeatError`] for a rule set this cannot decide (named), a district the vote input does
/// not hold, or what [`allocate`] returns.
pub fn repeat_vote(
    rules: &RuleSet,
    input: &VoteInput,
    district: &DistrictId,
    voters: Votes,
) -> Result<RepeatVote, SeatError> {
    let unsupported = |field: &str, what: &str| SeatError::NotModelled {
        field: field.to_owned(),
        problem: format!(
            "{what}: whether a repeat vote can move a seat is decided only under divisor methods by district, with thresholds (rule set `{}`)",
            rules.id
        ),
    };
    if !rules.method.is_divisor() {
        return Err(unsupported("method", "a largest-remainder method"));
    }
    if !rules.entities.is_empty() {
        return Err(unsupported("entity", "compensatory seats"));
    }
    if !rules.communities.is_empty() || rules.minimum_guarantee.is_some() {
        return Err(unsupported("community", "community rules"));
    }
    if !rules.bonus_seats.is_empty() {
        return Err(unsupported("bonus_seats", "bonus seats"));
    }
    if input.lists.values().any(|l| l.alliance.is_some()) {
        return Err(unsupported("alliances", "alliances"));
    }
    let Some(here) = input.districts.get(district) else {
        return Err(SeatError::District {
            district: district.clone(),
            problem: format!(
                "not in the vote input, whose districts are {}",
                input
                    .districts
                    .keys()
                    .map(DistrictId::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    };
    let base = allocate(rules, input)?;
    let before = outcome(&base);
    let name = format!("district {district}");
    let contest = base
        .contests
        .iter()
        .find(|c| c.kind == ContestKind::District && c.name == name);
    let (method, seats) = contest.map_or((rules.method, 0), |c| (c.method, c.seats.0));
    let with = |list: &ListId, y: u64| -> Result<Allocation, SeatError> {
        let mut more = input.clone();
        more.add_votes(district, list, Votes(y))?;
        allocate(rules, &more)
    };
    let mut best: Option<SeatChange> = None;
    for (list, &Votes(own)) in &here.votes {
        let limit = best
            .as_ref()
            .map_or(voters.0, |b| b.votes.0.saturating_sub(1));
        if limit == 0 {
            break;
        }
        let mut points = BTreeSet::new();
        // Its k-th quotient meets another list's m-th: (own + y) / d_k = v / d_m.
        for (other, &Votes(v)) in &here.votes {
            if other == list || v == 0 {
                continue;
            }
            for k in 0..=seats {
                let Some(dk) = method.scaled_divisor(k) else {
                    continue;
                };
                for m in 0..seats.max(1) {
                    let Some(dm) = method.scaled_divisor(m) else {
                        continue;
                    };
                    let num = u128::from(v) * u128::from(dk);
                    let need = num.div_ceil(u128::from(dm));
                    let Ok(need) = u64::try_from(need) else {
                        continue;
                    };
                    // Equal at `need` (a draw by lot), past it one vote later; a quotient
                    // already equal is passed by the first new vote.
                    if need >= own && need - own <= limit {
                        let y = need - own;
                        points.insert(y);
                        points.insert(y.saturating_add(1));
                    }
                }
            }
        }
        // Threshold crossings: bisection on the set of outcomes, each monotone in y.
        let mut from = 0u64;
        let mut at_from = threshold_outcomes(&base);
        while from < limit {
            let at_limit = threshold_outcomes(&with(list, limit)?);
            if at_limit == at_from {
                break;
            }
            let (mut lo, mut hi) = (from, limit);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if threshold_outcomes(&with(list, mid)?) == at_from {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            points.insert(hi);
            from = hi;
            at_from = threshold_outcomes(&with(list, hi)?);
        }
        for y in points.into_iter().filter(|&y| y >= 1 && y <= limit) {
            let after = with(list, y)?;
            let (seats_after, lots_after) = outcome(&after);
            let moved: Vec<(String, ListId, Seats, Seats)> = before
                .0
                .keys()
                .chain(seats_after.keys())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .filter_map(|key| {
                    let b = before.0.get(key).copied().unwrap_or(Seats(0));
                    let a = seats_after.get(key).copied().unwrap_or(Seats(0));
                    (a != b).then(|| (key.0.clone(), key.1.clone(), b, a))
                })
                .collect();
            let by_lot = lots_after.difference(&before.1).next().is_some();
            if !moved.is_empty() || by_lot {
                best = Some(SeatChange {
                    list: list.clone(),
                    votes: Votes(y),
                    moved,
                    by_lot,
                });
                break;
            }
        }
    }
    Ok(RepeatVote {
        district: district.clone(),
        voters,
        change: best,
    })
}

impl RepeatVote {
    /// The answer in words, one line, then the seats that move.
    pub fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        match &self.change {
            None => {
                let _ = writeln!(
                    out,
                    "repeat vote in {}: {} voters cannot change the seats (no split of {} new votes among the lists standing there moves one, thresholds included)",
                    self.district, self.voters, self.voters
                );
            }
            Some(c) => {
                let _ = writeln!(
                    out,
                    "repeat vote in {}: {} voters could change the seats: {} new votes for {} {}",
                    self.district,
                    self.voters,
                    c.votes,
                    c.list,
                    if c.by_lot && c.moved.is_empty() {
                        "tie at the cut (decided by the tie rule)"
                    } else {
                        "move them"
                    }
                );
                for (contest, list, before, after) in &c.moved {
                    let _ = writeln!(out, "  {contest}: {list} {before} -> {after} seat(s)");
                }
            }
        }
        out
    }
}
