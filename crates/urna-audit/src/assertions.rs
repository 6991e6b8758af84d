//! The assertions whose truth implies the reported seats, in the SHANGRLA formulation.
//!
//! Every assertion says that a weighted sum over the ballots of its scope (a district or the
//! whole country) is large enough: `T = Σ w(class of ballot) > 0` or `≥ 0`, where a ballot's
//! class is the list it votes for, a valid vote for no list (`other`), or an invalid or blank
//! ballot (weight 0). Weights are integers, so each assertion fails exactly when the true `T`
//! drops to a known integer; the distance from the reported `T` to it is the assertion's
//! [`margin`](Assertion::margin).
//!
//! For a divisor method with divisors `d(1) < d(2) < …` and reported seats `W_X` per list in a
//! district, the reported allocation is the only one (no draw by lot) exactly when each list
//! `A` with a seat has a last quotient above the first losing quotient of every other
//! competing list `B`: `v_A / d(W_A) > v_B / d(W_B + 1)`, that is
//! `d(W_B + 1)·v_A − d(W_A)·v_B > 0` (Blom, Stuckey, Teague & Vukcevic 2021, "Assertion-based
//! approaches to auditing complex elections, with application to party-list proportional
//! elections", E-Vote-ID 2021; Stark & Teague 2014, "Verifiable European elections:
//! risk-limiting audits for D'Hondt and its relatives", JETS). With one seat these are the
//! plain pairwise margins of a single-winner contest. A threshold adds one assertion per list:
//! `den·v_A − num·V ≥ 0` (the list reached the share `num/den` of the valid votes `V`) or its
//! negation. If every assertion holds on the true votes, the competing lists are the same and
//! every district's allocation is the same: the reported seats are right (checked by a
//! property test against `urna-tally`'s allocation).
//!
//! The *diluted margin* is the margin in votes of the heaviest weight over the ballots in the
//! scope: `margin / (max |w| × ballots)`, the share of ballots that would have to change.

use serde::Serialize;
use urna_tally::seats::{
    self, ContestKind, DistrictId, EntryStatus, ListId, ListInfo, ListKind, RuleSet, Seats,
    ThresholdScope, VoteInput, Votes,
};

use crate::AuditError;

/// A competing list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditList {
    /// Its id.
    pub id: ListId,
    /// Party or coalition (thresholds may differ).
    pub kind: ListKind,
}

/// A district and, when the rule set does not list it, its seats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditDistrict {
    /// Its id, as in the rule set (or the country's id when the rule set names no districts).
    pub id: DistrictId,
    /// Seats to fill, for rule sets that name no districts.
    pub seats: Option<u32>,
}

/// One polling station's reported (or hand-counted) numbers: an audit batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The station's id.
    pub id: String,
    /// Index into [`AuditInput::districts`].
    pub district: usize,
    /// Ballots in its box (valid, invalid and blank): at least the sum of its votes.
    pub ballots: u64,
    /// Votes per list, in [`AuditInput::lists`] order.
    pub votes: Vec<u64>,
    /// Valid votes for no list (independent candidates, lists outside the seat allocation).
    pub other: u64,
}

/// What an audit is about: the lists, the districts and the stations with their numbers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditInput {
    /// The lists.
    pub lists: Vec<AuditList>,
    /// The districts, as the rule set names them.
    pub districts: Vec<AuditDistrict>,
    /// The stations.
    pub batches: Vec<Batch>,
}

impl AuditInput {
    /// Checks the shapes: district indexes, one vote per list, ballots at least the votes.
    ///
    /// # Errors
    /// [`AuditError::Input`] naming the station and field.
    pub fn validate(&self) -> Result<(), AuditError> {
        for b in &self.batches {
            let field = |f: &str| format!("station {}: {f}", b.id);
            if b.district >= self.districts.len() {
                return Err(AuditError::Input {
                    field: field("district"),
                    problem: format!(
                        "index {} but there are {} districts",
                        b.district,
                        self.districts.len()
                    ),
                });
            }
            if b.votes.len() != self.lists.len() {
                return Err(AuditError::Input {
                    field: field("votes"),
                    problem: format!("{} counts for {} lists", b.votes.len(), self.lists.len()),
                });
            }
            let valid = valid_votes(b).ok_or_else(|| AuditError::Input {
                field: field("votes"),
                problem: "sum overflows".into(),
            })?;
            if valid > b.ballots {
                return Err(AuditError::Input {
                    field: field("ballots"),
                    problem: format!(
                        "{} ballots but {valid} valid votes: ballots must be at least the votes",
                        b.ballots
                    ),
                });
            }
        }
        Ok(())
    }

    /// The ballot classes of a station: votes per list, then `other`, then invalid and blank.
    pub fn classes(&self, b: &Batch) -> Vec<u64> {
        let mut c = b.votes.clone();
        c.push(b.other);
        c.push(b.ballots.saturating_sub(valid_votes(b).unwrap_or(u64::MAX)));
        c
    }

    /// Ballot classes summed over the stations of a scope (a district index, or the country).
    pub fn scope_classes(&self, scope: Option<usize>) -> Vec<u64> {
        let mut t = vec![0u64; self.lists.len() + 2];
        for b in self
            .batches
            .iter()
            .filter(|b| scope.is_none_or(|d| d == b.district))
        {
            for (a, c) in t.iter_mut().zip(self.classes(b)) {
                *a = a.saturating_add(c);
            }
        }
        t
    }

    /// The seat allocation's vote input: every station's votes summed per district.
    ///
    /// # Errors
    /// [`AuditError::Seats`] on overflow.
    pub fn vote_input(&self) -> Result<VoteInput, AuditError> {
        let mut input = VoteInput::default();
        for l in &self.lists {
            input.declare_list(
                l.id.clone(),
                ListInfo {
                    kind: l.kind,
                    ..ListInfo::default()
                },
            );
        }
        for d in &self.districts {
            input.add_other(&d.id, Votes(0))?;
            if let (Some(seats), Some(dv)) = (d.seats, input.districts.get_mut(&d.id)) {
                dv.seats = Some(Seats(seats));
            }
        }
        for b in &self.batches {
            let d = &self.districts[b.district].id;
            for (l, &v) in self.lists.iter().zip(&b.votes) {
                input.add_votes(d, &l.id, Votes(v))?;
            }
            input.add_other(d, Votes(b.other))?;
        }
        Ok(input)
    }
}

fn valid_votes(b: &Batch) -> Option<u64> {
    b.votes.iter().try_fold(b.other, |a, &v| a.checked_add(v))
}

/// What an assertion says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AssertionKind {
    /// In `district`, the `winner`'s seat number `winner_seat` (its last) beats the `loser`'s
    /// seat number `loser_seat` (its first lost).
    Seat {
        /// The district.
        district: DistrictId,
        /// The list whose last won seat is compared.
        winner: ListId,
        /// That seat's number within the list (its divisor index + 1).
        winner_seat: u32,
        /// The list whose first lost seat is compared.
        loser: ListId,
        /// That seat's number within the list.
        loser_seat: u32,
    },
    /// The list reached the threshold in the scope.
    AboveThreshold {
        /// The list.
        list: ListId,
        /// `national` or `district X`.
        scope: String,
        /// The share, e.g. `1%`.
        share: String,
    },
    /// The list did not reach the threshold in the scope.
    BelowThreshold {
        /// The list.
        list: ListId,
        /// `national` or `district X`.
        scope: String,
        /// The share.
        share: String,
    },
}

/// One assertion with its reported margin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assertion {
    /// What it says.
    #[serde(flatten)]
    pub kind: AssertionKind,
    /// The district it is about (index into [`AuditInput::districts`]); `None`: the country.
    #[serde(skip)]
    pub scope: Option<usize>,
    /// Weight per ballot class (lists, then `other`, then invalid).
    #[serde(skip)]
    pub weights: Vec<i64>,
    /// The reported weighted sum `T`.
    pub reported: i128,
    /// How far `T` may fall before the assertion fails: it fails exactly when the true `T`
    /// is at most `reported − margin`. Zero or less: the reported outcome rests on a tie or is
    /// wrong, and no sample can confirm it.
    pub margin: i128,
    /// Ballots in the scope.
    pub ballots: u64,
    /// `margin / (max |weight| × ballots)`.
    pub diluted_margin: f64,
}

impl Assertion {
    /// `T` over one station's ballot classes (zero outside the scope).
    pub fn total(&self, district: usize, classes: &[u64]) -> i128 {
        if self.scope.is_some_and(|d| d != district) {
            return 0;
        }
        self.weights
            .iter()
            .zip(classes)
            .map(|(&w, &n)| i128::from(w) * i128::from(n))
            .sum()
    }

    /// The lowest weight (never above zero: invalid ballots weigh zero).
    pub fn min_weight(&self) -> i64 {
        self.weights.iter().copied().min().unwrap_or(0).min(0)
    }

    /// The highest weight (never below zero).
    pub fn max_weight(&self) -> i64 {
        self.weights.iter().copied().max().unwrap_or(0).max(0)
    }

    /// The most a station's hand count can lower `T` below its reported value: every ballot
    /// in its box for the lowest-weighted class.
    pub fn max_overstatement(&self, district: usize, reported: &[u64], ballots: u64) -> i128 {
        if self.scope.is_some_and(|d| d != district) {
            return 0;
        }
        self.total(district, reported) - i128::from(self.min_weight()) * i128::from(ballots)
    }

    /// One line for people: what is asserted and the margin.
    pub fn describe(&self) -> String {
        match &self.kind {
            AssertionKind::Seat {
                district,
                winner,
                winner_seat,
                loser,
                loser_seat,
            } => format!("{district}: {winner} seat {winner_seat} beats {loser} seat {loser_seat}"),
            AssertionKind::AboveThreshold { list, scope, share } => {
                format!("{list} reached {share} ({scope})")
            }
            AssertionKind::BelowThreshold { list, scope, share } => {
                format!("{list} stayed below {share} ({scope})")
            }
        }
    }
}

/// The reported outcome and the assertions that imply it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// The rule set's id.
    pub rule_set: String,
    /// Seats per district, per list (in input order).
    pub seats: Vec<Vec<u32>>,
    /// The assertions, thresholds first, then seats district by district.
    pub assertions: Vec<Assertion>,
}

/// The reported seats per district per list, from `urna-tally`'s allocation.
///
/// # Errors
/// As [`assertions`].
pub fn district_seats(rules: &RuleSet, input: &AuditInput) -> Result<Vec<Vec<u32>>, AuditError> {
    Ok(allocate(rules, input)?.0)
}

/// One value per district, per list.
type PerDistrict<T> = Vec<Vec<T>>;

fn allocate(
    rules: &RuleSet,
    input: &AuditInput,
) -> Result<(PerDistrict<u32>, PerDistrict<bool>), AuditError> {
    let unsupported = |feature: &str| AuditError::Unsupported {
        rules: rules.id.clone(),
        feature: feature.to_owned(),
    };
    if !rules.method.is_divisor() {
        return Err(unsupported(&format!(
            "the largest-remainder method `{}`",
            rules.method.name()
        )));
    }
    if !rules.communities.is_empty() {
        return Err(unsupported(
            "community rules (reserved seats, pools, guaranteed seats)",
        ));
    }
    if !rules.bonus_seats.is_empty() {
        return Err(unsupported("bonus seats"));
    }
    if !rules.entities.is_empty() {
        return Err(unsupported("compensatory seats"));
    }
    if input.lists.iter().any(|l| l.kind == ListKind::Independent) {
        // Capped at one seat, which the quotient comparisons here do not model.
        return Err(unsupported("independent candidates (one seat at most)"));
    }
    input.validate()?;
    let allocation = seats::allocate(rules, &input.vote_input()?)?;
    let mut seats = Vec::with_capacity(input.districts.len());
    let mut competing = Vec::with_capacity(input.districts.len());
    for d in &input.districts {
        let name = format!("district {}", d.id);
        let contest = allocation
            .contests
            .iter()
            .find(|c| c.kind == ContestKind::District && c.name == name)
            .ok_or_else(|| AuditError::Input {
                field: format!("district {}", d.id),
                problem: "the seat allocation has no contest for it".into(),
            })?;
        let mut row = vec![0u32; input.lists.len()];
        let mut comp = vec![true; input.lists.len()];
        for e in &contest.entries {
            if let Some(i) = input.lists.iter().position(|l| l.id == e.list) {
                row[i] = e.seats.0;
                comp[i] = !matches!(e.status, EntryStatus::BelowThreshold { .. });
            }
        }
        seats.push(row);
        competing.push(comp);
    }
    Ok((seats, competing))
}

/// The exact fraction `num/den` of a share, read from its exact decimal text (`"1%"`).
fn share_fraction(text: &str) -> Option<(i64, i64)> {
    let body = text.strip_suffix('%')?;
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let scale = 10i64.checked_pow(u32::try_from(frac.len()).ok()?)?;
    let num = int.parse::<i64>().ok()?.checked_mul(scale)?
        + if frac.is_empty() {
            0
        } else {
            frac.parse::<i64>().ok()?
        };
    Some((num, 100 * scale))
}

/// The assertions for `input`'s reported votes under `rules`.
///
/// # Errors
/// [`AuditError::Unsupported`] for rule sets the assertions do not cover,
/// [`AuditError::Input`] for malformed input, [`AuditError::Seats`] if allocation fails.
pub fn assertions(rules: &RuleSet, input: &AuditInput) -> Result<Outcome, AuditError> {
    let (seats, competing) = allocate(rules, input)?;
    let nl = input.lists.len();
    let classes = nl + 2;
    // Class totals per district.
    let mut totals = vec![vec![0u64; classes]; input.districts.len()];
    let mut ballots = vec![0u64; input.districts.len()];
    for b in &input.batches {
        for (t, c) in totals[b.district].iter_mut().zip(input.classes(b)) {
            *t = t.saturating_add(c);
        }
        ballots[b.district] = ballots[b.district].saturating_add(b.ballots);
    }
    let all_ballots: u64 = ballots.iter().sum();
    let mut out = Vec::new();
    if let Some(th) = &rules.threshold {
        let scopes: Vec<Option<usize>> = match th.scope {
            ThresholdScope::National => vec![None],
            ThresholdScope::District => (0..input.districts.len()).map(Some).collect(),
        };
        for scope in scopes {
            let (scope_totals, scope_ballots, scope_name) = match scope {
                None => {
                    let mut t = vec![0u64; classes];
                    for d in &totals {
                        for (a, b) in t.iter_mut().zip(d) {
                            *a = a.saturating_add(*b);
                        }
                    }
                    (t, all_ballots, "national".to_owned())
                }
                Some(d) => (
                    totals[d].clone(),
                    ballots[d],
                    format!("district {}", input.districts[d].id),
                ),
            };
            for (i, l) in input.lists.iter().enumerate() {
                let share = match l.kind {
                    ListKind::Coalition => th.coalition.unwrap_or(th.party),
                    ListKind::Party | ListKind::Independent => th.party,
                };
                if share.is_zero() {
                    continue;
                }
                let text = share.to_string();
                let (num, den) = share_fraction(&text).ok_or_else(|| AuditError::Input {
                    field: format!("rule set {} threshold", rules.id),
                    problem: format!("share `{text}` is not an exact percentage"),
                })?;
                let mut weights = vec![-num; classes];
                weights[i] = den - num;
                weights[nl + 1] = 0;
                let t = weighted(&weights, &scope_totals);
                let valid: u64 = scope_totals[..=nl].iter().sum();
                let passed = th.passes(share, Votes(scope_totals[i]), Votes(valid));
                // Cross-check with the allocation: a list that passed competes everywhere.
                let competes = match scope {
                    None => competing.iter().any(|c| c[i]),
                    Some(d) => competing[d][i],
                };
                if passed != competes {
                    return Err(AuditError::Unsupported {
                        rules: rules.id.clone(),
                        feature: format!(
                            "a threshold reading that differs from the allocation for list {}",
                            l.id
                        ),
                    });
                }
                let (kind, weights, reported, margin) = if passed {
                    // Holds while T ≥ 0 ("at least") or T > 0 ("more than").
                    let margin = if th.strict { t } else { t + 1 };
                    let kind = AssertionKind::AboveThreshold {
                        list: l.id.clone(),
                        scope: scope_name.clone(),
                        share: th.describe(share),
                    };
                    (kind, weights, t, margin)
                } else {
                    let neg: Vec<i64> = weights.iter().map(|w| -w).collect();
                    let margin = if th.strict { -t + 1 } else { -t };
                    let kind = AssertionKind::BelowThreshold {
                        list: l.id.clone(),
                        scope: scope_name.clone(),
                        share: th.describe(share),
                    };
                    (kind, neg, -t, margin)
                };
                out.push(finish(
                    kind,
                    scope,
                    weights,
                    reported,
                    margin,
                    scope_ballots,
                ));
            }
        }
    }
    for (d, district) in input.districts.iter().enumerate() {
        for a in 0..nl {
            let wa = seats[d][a];
            if wa == 0 || !competing[d][a] {
                continue;
            }
            for b in 0..nl {
                if b == a || !competing[d][b] {
                    continue;
                }
                let wb = seats[d][b];
                let (Some(da), Some(db)) = (
                    rules.method.scaled_divisor(wa - 1),
                    rules.method.scaled_divisor(wb),
                ) else {
                    continue;
                };
                let (da, db) = (
                    i64::try_from(da).unwrap_or(i64::MAX),
                    i64::try_from(db).unwrap_or(i64::MAX),
                );
                let mut weights = vec![0i64; classes];
                weights[a] = db;
                weights[b] = -da;
                let t = weighted(&weights, &totals[d]);
                let kind = AssertionKind::Seat {
                    district: district.id.clone(),
                    winner: input.lists[a].id.clone(),
                    winner_seat: wa,
                    loser: input.lists[b].id.clone(),
                    loser_seat: wb + 1,
                };
                out.push(finish(kind, Some(d), weights, t, t, ballots[d]));
            }
        }
    }
    Ok(Outcome {
        rule_set: rules.id.clone(),
        seats,
        assertions: out,
    })
}

fn weighted(weights: &[i64], counts: &[u64]) -> i128 {
    weights
        .iter()
        .zip(counts)
        .map(|(&w, &n)| i128::from(w) * i128::from(n))
        .sum()
}

fn finish(
    kind: AssertionKind,
    scope: Option<usize>,
    weights: Vec<i64>,
    reported: i128,
    margin: i128,
    ballots: u64,
) -> Assertion {
    let heaviest = weights
        .iter()
        .map(|w| w.unsigned_abs())
        .max()
        .unwrap_or(1)
        .max(1);
    #[allow(clippy::cast_precision_loss)]
    let diluted_margin = if ballots == 0 {
        0.0
    } else {
        margin as f64 / (heaviest as f64 * ballots as f64)
    };
    Assertion {
        kind,
        scope,
        weights,
        reported,
        margin,
        ballots,
        diluted_margin,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use proptest::prelude::*;

    use super::*;

    fn rules(method: &str, threshold: Option<(&str, &str)>) -> RuleSet {
        let mut text = format!(
            "id = \"t\"\ntitle = \"t\"\nlegal_source = [\"test\"]\nmethod = \"{method}\"\n\
             [tie_break]\nrule = \"lot\"\nseed = \"s\"\n"
        );
        if let Some((scope, share)) = threshold {
            text.push_str(&format!(
                "[threshold]\nscope = \"{scope}\"\nparty = \"{share}\"\n"
            ));
        }
        RuleSet::from_toml(&text).unwrap()
    }

    /// `lists` lists, one station per row of `stations` (district, votes…, other, invalid).
    fn input(lists: usize, seats: &[u32], stations: &[(usize, Vec<u64>)]) -> AuditInput {
        AuditInput {
            lists: (0..lists)
                .map(|i| AuditList {
                    id: ListId::new(format!("L{i}")),
                    kind: ListKind::Party,
                })
                .collect(),
            districts: seats
                .iter()
                .enumerate()
                .map(|(i, &s)| AuditDistrict {
                    id: DistrictId::new(format!("D{i}")),
                    seats: Some(s),
                })
                .collect(),
            batches: stations
                .iter()
                .enumerate()
                .map(|(i, (d, c))| Batch {
                    id: format!("S{i}"),
                    district: *d,
                    ballots: c.iter().sum(),
                    votes: c[..lists].to_vec(),
                    other: c[lists],
                })
                .collect(),
        }
    }

    #[test]
    fn single_seat_gives_the_plain_pairwise_margins() {
        let i = input(
            3,
            &[1],
            &[(0, vec![50, 30, 20, 0, 5]), (0, vec![10, 15, 5, 0, 0])],
        );
        let o = assertions(&rules("dhondt", None), &i).unwrap();
        assert_eq!(o.seats, [[1, 0, 0]]);
        let margins: Vec<i128> = o.assertions.iter().map(|a| a.margin).collect();
        // L0 has 60, L1 45, L2 25 (divisors scaled by ten): 10 × (60 − 45), 10 × (60 − 25).
        assert_eq!(margins, [150, 350]);
        // Diluted: 15 votes of 135 ballots.
        assert!((o.assertions[0].diluted_margin - 15.0 / 135.0).abs() < 1e-12);
    }

    #[test]
    fn dhondt_pairs_compare_last_won_with_first_lost_seat() {
        // 5 seats, A 600, B 400: A 3 (600/3 = 200), B 2 (400/2 = 200? no: 400/3 = 133 lost).
        let i = input(2, &[5], &[(0, vec![600, 400, 0, 0])]);
        let o = assertions(&rules("dhondt", None), &i).unwrap();
        assert_eq!(o.seats, [[3, 2]]);
        let a = &o.assertions[0];
        assert_eq!(a.describe(), "D0: L0 seat 3 beats L1 seat 3");
        // d(3)·600 − d(3)·400 with divisors scaled by ten.
        assert_eq!(a.margin, 30 * 600 - 30 * 400);
        assert_eq!(o.assertions[1].describe(), "D0: L1 seat 2 beats L0 seat 4");
        assert_eq!(o.assertions[1].margin, 40 * 400 - 20 * 600);
    }

    #[test]
    fn thresholds_give_above_and_below_assertions() {
        let i = input(3, &[4], &[(0, vec![500, 460, 40, 0, 0])]);
        let o = assertions(&rules("dhondt", Some(("national", "5%"))), &i).unwrap();
        let text: Vec<String> = o.assertions.iter().map(Assertion::describe).collect();
        assert_eq!(
            text[..3],
            [
                "L0 reached 5% (national)",
                "L1 reached 5% (national)",
                "L2 stayed below 5% (national)"
            ]
        );
        // L2: 5% of 1000 is 50; 40 votes: 100·40 − 5·1000 = −1000, so the margin is 1000.
        assert_eq!(o.assertions[2].margin, 1000);
        // L0: 100·500 − 5000 = 45000, plus one ("at least").
        assert_eq!(o.assertions[0].margin, 45001);
    }

    #[test]
    fn largest_remainder_is_refused_with_the_reason() {
        let i = input(2, &[3], &[(0, vec![10, 5, 0, 0])]);
        let err = assertions(&rules("hare", None), &i)
            .unwrap_err()
            .to_string();
        assert!(err.contains("largest-remainder"), "{err}");
    }

    #[test]
    fn bad_station_numbers_are_named() {
        let mut i = input(2, &[3], &[(0, vec![10, 5, 0, 0])]);
        i.batches[0].ballots = 3;
        let err = assertions(&rules("dhondt", None), &i)
            .unwrap_err()
            .to_string();
        assert!(err.contains("station S0: ballots"), "{err}");
    }

    /// Lists, seats per district, stations (district, counts).
    type Election = (usize, Vec<u32>, Vec<(usize, Vec<u64>)>);

    fn election() -> impl Strategy<Value = Election> {
        (2usize..5, prop::collection::vec(1u32..7, 1..3)).prop_flat_map(|(lists, seats)| {
            let d = seats.len();
            let station = (0..d, prop::collection::vec(0u64..400, lists + 2));
            (
                Just(lists),
                Just(seats),
                prop::collection::vec(station, 1..8),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        /// If every assertion holds on the true counts, the true seats are the reported seats.
        #[test]
        fn assertions_imply_the_reported_seats(
            (lists, seats, stations) in election(),
            method in prop::sample::select(vec!["dhondt", "sainte_lague", "modified_sainte_lague"]),
            threshold in prop::sample::select(vec![None, Some(("national", "5%")), Some(("district", "12.5%"))]),
            noise in prop::collection::vec(prop_oneof![3 => Just(0i64), 1 => -60i64..60], 64),
        ) {
            let r = rules(method, threshold);
            let reported = input(lists, &seats, &stations);
            let Ok(outcome) = assertions(&r, &reported) else { return Ok(()) };
            let mut k = 0;
            let truth_rows: Vec<(usize, Vec<u64>)> = stations.iter().map(|(d, c)| {
                (*d, c.iter().map(|&v| { k += 1; v.saturating_add_signed(noise[k % noise.len()]) }).collect())
            }).collect();
            let truth = input(lists, &seats, &truth_rows);
            let holds = outcome.assertions.iter().all(|a| {
                let t: i128 = truth.batches.iter().map(|b| a.total(b.district, &truth.classes(b))).sum();
                t > a.reported - a.margin
            });
            if holds {
                let true_seats = district_seats(&r, &truth);
                prop_assert_eq!(true_seats.ok(), Some(outcome.seats.clone()));
            }
            // The reported counts satisfy their own assertions unless a tie decided a seat.
            for a in &outcome.assertions {
                let t: i128 = reported.batches.iter().map(|b| a.total(b.district, &reported.classes(b))).sum();
                prop_assert_eq!(t, a.reported);
            }
        }
    }

    /// A threshold section: scope, party share, coalition share, strict.
    fn threshold_rules(
        method: &str,
        scope: &str,
        party: &str,
        coalition: &str,
        strict: bool,
    ) -> RuleSet {
        let text = format!(
            "id = \"t\"\ntitle = \"t\"\nlegal_source = [\"test\"]\nmethod = \"{method}\"\n\
             [tie_break]\nrule = \"lot\"\nseed = \"s\"\n\
             [threshold]\nscope = \"{scope}\"\nparty = \"{party}\"\ncoalition = \"{coalition}\"\nstrict = {strict}\n"
        );
        RuleSet::from_toml(&text).unwrap()
    }

    #[test]
    fn a_list_exactly_at_the_threshold() {
        // L2 has 50 of 1000 valid votes: exactly 5 %.
        let i = input(3, &[4], &[(0, vec![500, 450, 50, 0, 0])]);
        let at_least = assertions(
            &threshold_rules("dhondt", "national", "5%", "5%", false),
            &i,
        )
        .unwrap();
        let a = &at_least.assertions[2];
        assert_eq!(a.describe(), "L2 reached 5% (national)");
        // T = 100·50 − 5·1000 = 0 ≥ 0 holds; one vote fewer (T = −95 − 5·… < 0) fails:
        // margin 1.
        assert_eq!((a.reported, a.margin), (0, 1));
        let more_than =
            assertions(&threshold_rules("dhondt", "national", "5%", "5%", true), &i).unwrap();
        let a = &more_than.assertions[2];
        assert_eq!(a.describe(), "L2 stayed below more than 5% (national)");
        // "More than 5 %" fails at T = 0; one vote more for L2 (T = 95 > 0) passes: margin 1.
        assert_eq!((a.reported, a.margin), (0, 1));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        /// As [`assertions_imply_the_reported_seats`], with coalitions under their own share,
        /// "more than" thresholds, and the truth shifting ballots between classes of a station
        /// (so lists cross the threshold in both directions).
        #[test]
        fn assertions_imply_the_reported_seats_with_coalitions(
            (lists, seats, stations) in election(),
            coalitions in prop::collection::vec(any::<bool>(), 5),
            method in prop::sample::select(vec!["dhondt", "sainte_lague", "modified_sainte_lague"]),
            scope in prop::sample::select(vec!["national", "district"]),
            shares in prop::sample::select(vec![("5%", "8%"), ("12.5%", "20%"), ("3%", "3%")]),
            strict in any::<bool>(),
            moves in prop::collection::vec((0usize..7, 0usize..7, 0u64..=100), 0..30),
        ) {
            let r = threshold_rules(method, scope, shares.0, shares.1, strict);
            let mut reported = input(lists, &seats, &stations);
            for (l, &c) in reported.lists.iter_mut().zip(&coalitions) {
                if c {
                    l.kind = ListKind::Coalition;
                }
            }
            let Ok(outcome) = assertions(&r, &reported) else { return Ok(()) };
            let mut rows = stations.clone();
            for (k, &(from, to, pct)) in moves.iter().enumerate() {
                let row = &mut rows[k % stations.len()].1;
                let (from, to) = (from % row.len(), to % row.len());
                let n = row[from] * pct / 100;
                row[from] -= n;
                row[to] += n;
            }
            let mut truth = input(lists, &seats, &rows);
            truth.lists.clone_from(&reported.lists);
            let holds = outcome.assertions.iter().all(|a| {
                let t: i128 = truth.batches.iter().map(|b| a.total(b.district, &truth.classes(b))).sum();
                t > a.reported - a.margin
            });
            if holds {
                prop_assert_eq!(district_seats(&r, &truth).ok(), Some(outcome.seats));
            }
        }
    }
}
