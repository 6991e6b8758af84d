//! Batch-comparison audits with polling stations as batches.
//!
//! **Error bounds (MACRO).** For assertion `α` and station `p`, the most the hand count can
//! lower `α`'s total is `u_αp` (every ballot in the box for the lowest-weighted class). Scaled by
//! the margin and maximised over the assertions, `u_p = max_α u_αp / m_α` is the station's
//! error bound, `U = Σ u_p` (Stark 2008, "A sharper discrepancy measure for post-election
//! audits", Ann. Appl. Stat., the maximum across-contest relative overstatement).
//! If the reported seats are wrong, some assertion fails, so `Σ_p e_αp ≥ m_α` and the
//! station errors `e_p = max_α e_αp / m_α` sum to at least 1. The maximum runs over every
//! assertion, `e_αp` being 0 for a station outside `α`'s district, so `e_p ≥ 0` at a station
//! that some assertion does not concern: its understatements cannot offset another
//! district's overstatements.
//!
//! **Sampling (PPEB).** Stations are drawn with replacement, station `p` with probability
//! `u_p / U`, from the public seed ([`crate::sampler`]). The *taint* of a draw is
//! `t = e_p / u_p ≤ 1`; under a wrong outcome its mean is at least `1/U`.
//!
//! **Risk (Kaplan–Markov).** After `n` draws the risk is `P = Π (1 − 1/U) / (1 − t_j)`
//! (Stark 2009, "Risk-limiting postelection audits: conservative P-values from common
//! probability inequalities", IEEE TIFS). Chosen because it is a closed form anyone can
//! recompute by hand, it is conservative (its reciprocal is a non-negative supermartingale under
//! a wrong outcome, so by Ville's inequality stopping at any round keeps the risk limit), it
//! rewards understatements, and it is what Arlo uses for batch comparison. With no errors the
//! audit stops after `⌈ln α / ln(1 − 1/U)⌉` draws.
//!
//! **Rounds.** Round `r` needs `n₁·2^(r−1)` draws in all, `n₁` being the no-error size; after
//! the last round allowed without meeting the risk limit, the verdict is a full hand count. A
//! round that would need at least as many draws as there are stations is not run: the audit
//! goes to a full hand count instead (so a tiny margin never asks for millions of draws).
//! One pooled sample serves every district: the error bounds already weigh each station by the
//! assertions of its own district and the national ones, so no stratification is needed.

use serde::Serialize;

use crate::sampler;
use crate::{AuditError, AuditInput, Outcome};

/// Error bounds of every station and what they add up to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchAudit {
    /// The risk limit α.
    pub risk_limit: f64,
    /// Error bound `u_p` per station (input order).
    pub bounds: Vec<f64>,
    /// `U = Σ u_p`.
    pub total_bound: f64,
    /// Assertions with no positive margin (ties or a wrong outcome): the audit cannot stop.
    pub unconfirmable: Vec<String>,
    /// Rounds allowed before a full hand count.
    pub max_rounds: u32,
}

/// One draw of the sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Draw {
    /// The draw's number (1-based).
    pub number: u64,
    /// The station drawn (index into the input's batches).
    pub batch: usize,
}

/// The audit's state after the hand counts so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskReport {
    /// The last round whose draws all have hand counts (0: none yet).
    pub round: u32,
    /// Draws evaluated.
    pub draws: u64,
    /// Distinct stations hand counted among them.
    pub stations: usize,
    /// The Kaplan–Markov risk after those draws (1 when nothing is counted).
    pub risk: f64,
    /// What to do next.
    pub verdict: Verdict,
}

/// The audit's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Verdict {
    /// The risk is at most the limit: the reported seats stand.
    RiskLimitMet,
    /// Hand count these stations (the next round's new ones), then measure again.
    CountMore {
        /// The round they belong to.
        round: u32,
        /// Station indexes, in draw order.
        batches: Vec<usize>,
    },
    /// The risk limit was not met: count every ballot by hand.
    FullHandCount {
        /// Why.
        reason: String,
    },
}

impl BatchAudit {
    /// Error bounds for `outcome`'s assertions over `input`'s stations.
    ///
    /// # Errors
    /// [`AuditError::Input`] for a risk limit outside (0, 1) or zero rounds.
    pub fn new(
        outcome: &Outcome,
        input: &AuditInput,
        risk_limit: f64,
        max_rounds: u32,
    ) -> Result<Self, AuditError> {
        if !(risk_limit > 0.0 && risk_limit < 1.0) {
            return Err(AuditError::Input {
                field: "risk limit".into(),
                problem: format!("{risk_limit} must be strictly between 0 and 1"),
            });
        }
        if max_rounds == 0 {
            return Err(AuditError::Input {
                field: "rounds".into(),
                problem: "at least one round".into(),
            });
        }
        let unconfirmable = outcome
            .assertions
            .iter()
            .filter(|a| a.margin <= 0)
            .map(crate::Assertion::describe)
            .collect();
        let bounds: Vec<f64> = input
            .batches
            .iter()
            .map(|b| {
                let classes = input.classes(b);
                outcome
                    .assertions
                    .iter()
                    .filter(|a| a.margin > 0)
                    .map(|a| {
                        ratio(
                            a.max_overstatement(b.district, &classes, b.ballots),
                            a.margin,
                        )
                    })
                    .fold(0.0, f64::max)
            })
            .collect();
        let total_bound = bounds.iter().sum();
        Ok(Self {
            risk_limit,
            bounds,
            total_bound,
            unconfirmable,
            max_rounds,
        })
    }

    /// Draws needed when no error turns up: `⌈ln α / ln(1 − 1/U)⌉` (at least 1).
    pub fn first_round_draws(&self) -> u64 {
        if self.total_bound <= 1.0 {
            return 1;
        }
        let n = self.risk_limit.ln() / (-1.0 / self.total_bound).ln_1p();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = n.ceil().max(1.0) as u64;
        n
    }

    /// Draws in all by the end of `round` (1-based): `n₁·2^(round−1)`.
    pub fn draws_by_round(&self, round: u32) -> u64 {
        self.first_round_draws()
            .saturating_mul(1u64 << round.saturating_sub(1).min(40))
    }

    /// Rounds that can run: up to `max_rounds`, each needing fewer draws in all than there are
    /// `stations` (0: go straight to a full hand count).
    pub fn rounds_within(&self, stations: usize) -> u32 {
        let stations = u64::try_from(stations).unwrap_or(u64::MAX);
        let mut rounds = 0;
        while rounds < self.max_rounds && self.draws_by_round(rounds + 1) < stations {
            rounds += 1;
        }
        rounds
    }

    /// Draws `1..=n` from the seed, with probability proportional to error bound.
    pub fn draws(&self, seed: &str, n: u64) -> Vec<Draw> {
        let seed_hash = sampler::sha256_hex(seed);
        let mut cumulative = Vec::with_capacity(self.bounds.len());
        let mut run = 0.0;
        for &u in &self.bounds {
            run += u;
            cumulative.push(run);
        }
        (1..=n)
            .filter_map(|j| {
                let target = sampler::draw_uniform(&seed_hash, j) * self.total_bound;
                let i = cumulative.partition_point(|&c| c <= target);
                // Rounding can put the target at the very top: take the last station with a bound.
                let i = if i < self.bounds.len() {
                    i
                } else {
                    self.bounds.iter().rposition(|&u| u > 0.0)?
                };
                Some(Draw {
                    number: j,
                    batch: i,
                })
            })
            .collect()
    }

    /// The taint of station `batch` given its hand count (`e_p / u_p`; may be negative).
    ///
    /// `e_p` is the maximum of `e_αp / m_α` over every assertion with a margin, an assertion
    /// about another district counting 0 (the station holds none of its ballots): were the
    /// maximum taken over the station's own assertions only, understatements in one district
    /// could offset a wrong seat in another.
    pub fn taint(
        &self,
        outcome: &Outcome,
        input: &AuditInput,
        batch: usize,
        counted: &[u64],
    ) -> f64 {
        let b = &input.batches[batch];
        let reported = input.classes(b);
        let e = outcome
            .assertions
            .iter()
            .filter(|a| a.margin > 0)
            .map(|a| {
                ratio(
                    a.total(b.district, &reported) - a.total(b.district, counted),
                    a.margin,
                )
            })
            .fold(f64::NEG_INFINITY, f64::max);
        let u = self.bounds[batch];
        if u <= 0.0 || !e.is_finite() {
            return 0.0;
        }
        e / u
    }

    /// The Kaplan–Markov risk of a sequence of taints, at most 1.
    pub fn risk(&self, taints: &[f64]) -> f64 {
        kaplan_markov(self.total_bound, taints)
    }

    /// Evaluates the audit: `counted(i)` is station `i`'s hand-counted ballot classes (lists,
    /// `other`, invalid), or `None` if not counted yet.
    pub fn evaluate(
        &self,
        outcome: &Outcome,
        input: &AuditInput,
        seed: &str,
        counted: &dyn Fn(usize) -> Option<Vec<u64>>,
    ) -> RiskReport {
        let full = |round, draws, stations, risk, reason: String| RiskReport {
            round,
            draws,
            stations,
            risk,
            verdict: Verdict::FullHandCount { reason },
        };
        if !self.unconfirmable.is_empty() {
            return full(
                0,
                0,
                0,
                1.0,
                format!("no margin to confirm: {}", self.unconfirmable.join("; ")),
            );
        }
        let stations = input.batches.len();
        let rounds = self.rounds_within(stations);
        if rounds == 0 {
            return full(
                0,
                0,
                0,
                1.0,
                format!(
                    "the first round alone needs {} draws, at least the {stations} stations: counting them all is as cheap",
                    self.first_round_draws()
                ),
            );
        }
        let all = self.draws(seed, self.draws_by_round(rounds));
        let mut taints: Vec<f64> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut risk = 1.0;
        for round in 1..=rounds {
            let upto = usize::try_from(self.draws_by_round(round))
                .unwrap_or(usize::MAX)
                .min(all.len());
            let mut missing = Vec::new();
            for d in &all[taints.len().min(upto)..upto] {
                if !seen.contains(&d.batch)
                    && counted(d.batch).is_none()
                    && !missing.contains(&d.batch)
                {
                    missing.push(d.batch);
                }
            }
            if !missing.is_empty() {
                return RiskReport {
                    round: round - 1,
                    draws: taints.len() as u64,
                    stations: seen.len(),
                    risk,
                    verdict: Verdict::CountMore {
                        round,
                        batches: missing,
                    },
                };
            }
            for d in &all[taints.len()..upto] {
                let hand = counted(d.batch).unwrap_or_default();
                taints.push(self.taint(outcome, input, d.batch, &hand));
                seen.insert(d.batch);
            }
            risk = self.risk(&taints);
            if risk <= self.risk_limit {
                return RiskReport {
                    round,
                    draws: taints.len() as u64,
                    stations: seen.len(),
                    risk,
                    verdict: Verdict::RiskLimitMet,
                };
            }
            if seen.len() == input.batches.len() {
                break;
            }
        }
        full(
            rounds,
            taints.len() as u64,
            seen.len(),
            risk,
            format!(
                "risk {risk:.4} is above the limit {} after {rounds} round(s) (a further round would need as many draws as there are stations, or --rounds is reached)",
                self.risk_limit
            ),
        )
    }
}

/// `P = Π (1 − 1/U) / (1 − t_j)`, capped at 1; a taint of 1 or more gives 1 (no evidence).
pub fn kaplan_markov(total_bound: f64, taints: &[f64]) -> f64 {
    if total_bound <= 1.0 {
        return 1.0;
    }
    let mut p = 1.0f64;
    for &t in taints {
        if t >= 1.0 {
            return 1.0;
        }
        p *= (1.0 - 1.0 / total_bound) / (1.0 - t);
    }
    p.min(1.0)
}

#[allow(clippy::cast_precision_loss)]
fn ratio(num: i128, den: i128) -> f64 {
    num as f64 / den as f64
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;
    use urna_tally::seats::{DistrictId, ListId, ListKind, RuleSet};

    use super::*;
    use crate::{AuditDistrict, AuditList, Batch, assertions};

    const SEED: &str = "12345678901234567890";

    /// One seat, `n` stations of 500 ballots with votes `a` and `b`.
    fn election(n: usize, a: u64, b: u64) -> AuditInput {
        let list = |id: &str| AuditList {
            id: ListId::new(id),
            kind: ListKind::Party,
        };
        AuditInput {
            lists: vec![list("A"), list("B")],
            districts: vec![AuditDistrict {
                id: DistrictId::new("all"),
                seats: Some(1),
            }],
            batches: (0..n)
                .map(|i| Batch {
                    id: format!("P{i}"),
                    district: 0,
                    ballots: 500,
                    votes: vec![a, b],
                    other: 0,
                })
                .collect(),
        }
    }

    /// [`audit`] under a name that a test's `audit` binding does not shadow.
    fn audit_of(input: &AuditInput) -> (Outcome, BatchAudit) {
        audit(input)
    }

    fn audit(input: &AuditInput) -> (Outcome, BatchAudit) {
        let rules = RuleSet::builtin("generic").unwrap();
        let outcome = assertions::assertions(&rules, input).unwrap();
        let audit = BatchAudit::new(&outcome, input, 0.05, 4).unwrap();
        (outcome, audit)
    }

    #[test]
    fn error_bounds_by_hand() {
        // 200 stations of A 300, B 150, 50 invalid; one seat, divisors scaled by ten:
        // margin 10 × (60000 − 30000) = 300000.
        let input = election(200, 300, 150);
        let (outcome, audit) = audit(&input);
        let a = &outcome.assertions[0];
        assert_eq!(a.margin, 10 * 200 * (300 - 150));
        // u_p = (10·150 + 10·500) / 300000 = 6500 / 300000.
        assert!((audit.bounds[0] - 6500.0 / 300_000.0).abs() < 1e-15);
        assert!((audit.total_bound - 200.0 * 6500.0 / 300_000.0).abs() < 1e-9);
    }

    #[test]
    fn the_first_round_is_asked_for_before_any_count() {
        let input = election(300, 300, 180);
        let (outcome, audit) = audit(&input);
        let report = audit.evaluate(&outcome, &input, SEED, &|_| None);
        let Verdict::CountMore { round, batches } = report.verdict else {
            panic!("{report:?}");
        };
        assert_eq!(round, 1);
        let want: std::collections::BTreeSet<usize> = audit
            .draws(SEED, audit.first_round_draws())
            .iter()
            .map(|d| d.batch)
            .collect();
        assert_eq!(batches.len(), want.len());
        assert!(batches.iter().all(|b| want.contains(b)));
    }

    #[test]
    fn a_wrong_outcome_goes_to_a_full_hand_count() {
        // Reported: A wins everywhere; on paper B won every box.
        let input = election(300, 300, 180);
        let (outcome, audit) = audit(&input);
        let report = audit.evaluate(&outcome, &input, SEED, &|_| Some(vec![180, 300, 0, 20]));
        assert!(
            matches!(report.verdict, Verdict::FullHandCount { .. }),
            "{report:?}"
        );
        // Paper equal to the protocols: the risk limit is met in round 1.
        let report = audit.evaluate(&outcome, &input, SEED, &|i| {
            Some(input.classes(&input.batches[i]))
        });
        assert_eq!((report.verdict, report.round), (Verdict::RiskLimitMet, 1));
    }

    #[test]
    fn stations_without_error_bound_are_never_drawn() {
        let mut input = election(50, 300, 180);
        for b in &mut input.batches[..25] {
            b.ballots = 0;
            b.votes = vec![0, 0];
        }
        let (_, audit) = audit(&input);
        let draws = audit.draws(SEED, 500);
        assert!(draws.iter().all(|d| d.batch >= 25));
        assert_eq!(draws, audit.draws(SEED, 500));
    }

    /// Two one-seat districts of 100 stations each, every station reported A 300, B 200 of
    /// 500 ballots.
    fn two_districts() -> AuditInput {
        let mut input = election(200, 300, 200);
        input.districts.push(AuditDistrict {
            id: DistrictId::new("east"),
            seats: Some(1),
        });
        for b in &mut input.batches[100..] {
            b.district = 1;
        }
        input
    }

    /// MACRO's station error is the maximum over *every* assertion of its relative
    /// overstatement, and a station outside an assertion's district has overstatement 0 for it
    /// (Stark 2008, "A sharper discrepancy measure for post-election audits", Ann. Appl.
    /// Stat. 2(3): `e_p = max_c max_{w,ℓ} (…)/V_wℓ`, the batches that do not contain contest
    /// `c` contributing 0; Arlo's `macro.compute_error` returns no error for a contest not in
    /// the batch). Only then does a failing assertion `α` give `Σ_p e_p ≥ Σ_p e_αp / m_α ≥ 1`.
    ///
    /// Here the west's seat is wrong (each station overstates A's lead by 102 votes: the truth
    /// is A 24 900, B 25 100), while the east's stations *understate* A (truth A 500, B 0).
    /// By hand, with divisors scaled by ten: `m = 10·100·100 = 100 000`, every
    /// `u_p = (3000 − 2000 + 5000)/m = 0.06`, `U = 12`. A west draw has taint
    /// `(1020/m)/0.06 = 0.17`, factor `(1 − 1/12)/0.83 = 1.1044`. An east draw's only
    /// in-scope assertion is the east's, with `e = (1000 − 5000)/m = −0.04`; but the west's
    /// assertion gives it 0, so `e_p = 0`, factor `11/12`. A west and an east draw together
    /// multiply the risk by `1.012 > 1`: the risk never falls and the audit must go to a full
    /// hand count. Taking the maximum over the in-scope assertions only (taint −2/3, factor
    /// 0.55) lets the east's understatements pay for the west's wrong seat.
    #[test]
    fn understatements_in_one_district_do_not_hide_a_wrong_seat_in_another() {
        let input = two_districts();
        let (outcome, audit) = audit(&input);
        assert_eq!(outcome.seats, [[1, 0], [1, 0]]);
        let mut truth = input.clone();
        for b in &mut truth.batches[..100] {
            b.votes = vec![249, 251];
        }
        for b in &mut truth.batches[100..] {
            b.votes = vec![500, 0];
        }
        let rules = RuleSet::builtin("generic").unwrap();
        let true_seats = assertions::district_seats(&rules, &truth).unwrap();
        assert_eq!(true_seats, [[0, 1], [1, 0]], "the west's seat is wrong");
        assert!((audit.total_bound - 12.0).abs() < 1e-9);
        let hand = |i: usize| truth.classes(&truth.batches[i]);
        assert!((audit.taint(&outcome, &input, 0, &hand(0)) - 0.17).abs() < 1e-12);
        assert_eq!(audit.taint(&outcome, &input, 150, &hand(150)), 0.0);
        // The sum of the station errors of a wrong outcome is at least 1.
        let sum: f64 = (0..200)
            .map(|i| audit.taint(&outcome, &input, i, &hand(i)) * audit.bounds[i])
            .sum();
        assert!(sum >= 1.0, "Σ e_p = {sum}");
        let report = audit.evaluate(&outcome, &input, SEED, &|i| Some(hand(i)));
        assert!(
            matches!(report.verdict, Verdict::FullHandCount { .. }),
            "a wrong seat was confirmed: {report:?}"
        );
    }

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

    /// Lists, seats per district, stations (district, counts per class: lists, other, invalid).
    type Election = (usize, Vec<u32>, Vec<(usize, Vec<u64>)>);

    fn election_strategy() -> impl Strategy<Value = Election> {
        (2usize..5, prop::collection::vec(1u32..6, 1..4)).prop_flat_map(|(lists, seats)| {
            let station = (0..seats.len(), prop::collection::vec(0u64..300, lists + 2));
            (
                Just(lists),
                Just(seats),
                prop::collection::vec(station, 1..12),
            )
        })
    }

    fn build(lists: usize, seats: &[u32], stations: &[(usize, Vec<u64>)]) -> AuditInput {
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        /// MACRO's premise (Stark 2008): with a correct ballot manifest (every box holds the
        /// reported number of ballots; the hand count may only move ballots between classes),
        /// each taint is at most 1, and if the true seats differ from the reported seats the
        /// station errors `e_p = t_p·u_p` sum to at least 1. Without it, the Kaplan–Markov
        /// risk is not a risk.
        #[test]
        fn a_wrong_seat_outcome_has_station_errors_summing_to_one(
            (lists, seats, stations) in election_strategy(),
            method in prop::sample::select(vec!["dhondt", "sainte_lague", "modified_sainte_lague"]),
            threshold in prop::sample::select(vec![None, Some(("national", "5%")), Some(("district", "12.5%"))]),
            moves in prop::collection::vec((0usize..6, 0usize..6, 0u64..=100), 0..40),
        ) {
            let r = rules(method, threshold);
            let reported = build(lists, &seats, &stations);
            let Ok(outcome) = assertions::assertions(&r, &reported) else { return Ok(()) };
            prop_assume!(outcome.assertions.iter().all(|a| a.margin > 0));
            let audit = BatchAudit::new(&outcome, &reported, 0.05, 4).unwrap();
            // Move a share of one class's ballots to another, station by station.
            let mut truth_rows = stations.clone();
            for (k, &(from, to, pct)) in moves.iter().enumerate() {
                let row = &mut truth_rows[k % stations.len()].1;
                let (from, to) = (from % row.len(), to % row.len());
                let n = row[from] * pct / 100;
                row[from] -= n;
                row[to] += n;
            }
            let truth = build(lists, &seats, &truth_rows);
            let Ok(true_seats) = assertions::district_seats(&r, &truth) else { return Ok(()) };
            let mut sum = 0.0;
            for (i, b) in truth.batches.iter().enumerate() {
                let t = audit.taint(&outcome, &reported, i, &truth.classes(b));
                prop_assert!(t <= 1.0 + 1e-12, "station {i}: taint {t}");
                sum += t * audit.bounds[i];
            }
            if true_seats != outcome.seats {
                prop_assert!(sum >= 1.0 - 1e-9, "wrong seats {true_seats:?} but Σ e_p = {sum}");
            }
        }
    }

    /// One seat, four stations given as (A, B, invalid).
    fn four_stations() -> AuditInput {
        let mut input = election(4, 0, 0);
        for (b, (a, v, invalid)) in
            input
                .batches
                .iter_mut()
                .zip([(100, 50, 10), (80, 70, 0), (120, 40, 10), (60, 90, 0)])
        {
            b.votes = vec![a, v];
            b.ballots = a + v + invalid;
        }
        input
    }

    /// Arlo's `macro.compute_max_error`: `u_p = (v_wp − v_ℓp + b_p) / V_wℓ`, and
    /// `compute_U = Σ u_p`; `get_sample_sizes = ⌈ln α / ln(1 − 1/U)⌉`. By hand, A 360, B 250,
    /// `V = 110`: `u = 210/110, 160/110, 250/110, 120/110`, `U = 740/110 = 6.727`,
    /// `ln 0.05 / ln(630/740) = 18.6`, so 19 draws.
    #[test]
    fn error_bounds_and_first_round_as_arlo_computes_them() {
        let input = four_stations();
        let (outcome, audit) = audit(&input);
        assert_eq!(outcome.seats, [[1, 0]]);
        for (got, want) in audit.bounds.iter().zip([210.0, 160.0, 250.0, 120.0]) {
            assert!((got - want / 110.0).abs() < 1e-12, "{got}");
        }
        assert!((audit.total_bound - 740.0 / 110.0).abs() < 1e-12);
        assert_eq!(audit.first_round_draws(), 19);
        // 19 draws are at least the 4 stations: straight to a full hand count.
        assert_eq!(audit.rounds_within(4), 0);
    }

    /// Arlo's `macro.compute_risk`: for each draw in ticket order (a station drawn twice
    /// counts twice), `P ← P·(1 − 1/U)/(1 − t)` with `t = e_p / u_p` and
    /// `e_p = ((v_wp − v_ℓp) − (a_wp − a_ℓp)) / V_wℓ`. Draws: station 0 once (hand A 90, B 60:
    /// `e = 20/110`, `t = 20/210`), station 2 twice (hand A 125, B 35: `e = −10/110`,
    /// `t = −10/250`), station 3 once (as reported, `t = 0`). By hand:
    /// `P = (630/740)⁴ · (210/190) · (250/260)² = 0.536827`. Arlo counts an understatement as
    /// 0 ("to be conservative") and gets `(630/740)⁴ · 210/190 = 0.580632`; crediting it is
    /// what Stark's MACRO and Kaplan–Markov allow (the taint only has to be at most 1).
    #[test]
    fn risk_of_a_sample_as_arlo_computes_it_with_understatements_credited() {
        let input = four_stations();
        let (outcome, audit) = audit(&input);
        let t0 = audit.taint(&outcome, &input, 0, &[90, 60, 0, 10]);
        let t2 = audit.taint(&outcome, &input, 2, &[125, 35, 0, 10]);
        let t3 = audit.taint(&outcome, &input, 3, &input.classes(&input.batches[3]));
        assert!((t0 - 20.0 / 210.0).abs() < 1e-12, "{t0}");
        assert!((t2 + 10.0 / 250.0).abs() < 1e-12, "{t2}");
        assert_eq!(t3, 0.0);
        let p = audit.risk(&[t0, t2, t2, t3]);
        let by_hand = (630.0f64 / 740.0).powi(4) * (210.0 / 190.0) * (250.0f64 / 260.0).powi(2);
        assert!(
            (p - by_hand).abs() < 1e-12 && (p - 0.536_827).abs() < 1e-6,
            "{p}"
        );
        let arlo = (630.0f64 / 740.0).powi(4) * (210.0 / 190.0);
        assert!(p < arlo && (arlo - 0.580_632).abs() < 1e-6);
    }

    /// A box holding more ballots than its protocol says can overstate beyond its bound:
    /// station 3 (bound 120/110) counted as 200 ballots for B gives
    /// `e = ((60 − 90) − (0 − 200))/110 = 170/110`, taint `170/120 > 1`. Arlo's
    /// `compute_risk` would multiply by `(1 − 1/U)/(1 − 17/12) < 0`, a negative "risk" that
    /// passes `p <= alpha`; here a taint of 1 or more ends all evidence (risk 1).
    #[test]
    fn an_overstatement_beyond_the_bound_gives_no_evidence() {
        let input = four_stations();
        let (outcome, audit) = audit(&input);
        let t = audit.taint(&outcome, &input, 3, &[0, 200, 0, 0]);
        assert!((t - 170.0 / 120.0).abs() < 1e-12, "{t}");
        assert_eq!(audit.risk(&[0.0, 0.0, t, 0.0, 0.0]), 1.0);
        // Through a whole audit: one drawn box with extra ballots, the rest as reported.
        let input = election(300, 300, 180);
        let (outcome, audit) = audit_of(&input);
        let first = audit.draws(SEED, 1)[0].batch;
        let report = audit.evaluate(&outcome, &input, SEED, &|i| {
            Some(if i == first {
                vec![0, 600, 0, 0]
            } else {
                input.classes(&input.batches[i])
            })
        });
        assert!(
            matches!(report.verdict, Verdict::FullHandCount { .. }) && report.risk == 1.0,
            "{report:?}"
        );
    }

    /// A station drawn twice counts twice (sampling with replacement, as Arlo's
    /// `compute_risk` iterates over tickets, not stations).
    #[test]
    fn a_station_drawn_twice_counts_twice() {
        let input = election(300, 300, 180);
        let (outcome, audit) = audit_of(&input);
        let n = audit.first_round_draws();
        let draws = audit.draws(SEED, n);
        let distinct: std::collections::BTreeSet<usize> = draws.iter().map(|d| d.batch).collect();
        assert!(
            distinct.len() < draws.len(),
            "no station drawn twice in {n} draws"
        );
        // Every box overstates A's lead by 10 votes: taint (100/m)/u_p per draw.
        let hand = |i: usize| {
            let b = &input.batches[i];
            Some(vec![b.votes[0] - 5, b.votes[1] + 5, 0, 20])
        };
        let report = audit.evaluate(&outcome, &input, SEED, &hand);
        let t = audit.taint(&outcome, &input, 0, &hand(0).unwrap());
        let by_draw = kaplan_markov(audit.total_bound, &vec![t; report.draws as usize]);
        assert_eq!(report.risk, by_draw);
        let evaluated: std::collections::BTreeSet<usize> = audit
            .draws(SEED, report.draws)
            .iter()
            .map(|d| d.batch)
            .collect();
        assert_eq!(report.stations, evaluated.len());
        assert!(report.draws > report.stations as u64);
    }

    /// A tie decides no seat: with no margin the verdict is a full hand count at once (Arlo:
    /// `V_wℓ = 0` gives an infinite bound and a full hand tally).
    #[test]
    fn tied_outcomes_go_to_a_full_hand_count() {
        // One seat, A and B level.
        let input = election(200, 250, 250);
        let (outcome, audit) = audit_of(&input);
        assert!(outcome.assertions.iter().any(|a| a.margin == 0));
        let report = audit.evaluate(&outcome, &input, SEED, &|i| {
            Some(input.classes(&input.batches[i]))
        });
        assert!(
            matches!(&report.verdict, Verdict::FullHandCount { reason } if reason.contains("no margin")),
            "{report:?}"
        );
        // Two seats, D'Hondt: A 300 per box twice over B 150 per box: A's second quotient
        // (300/2) ties B's first (150): the second seat was drawn by lot.
        let mut input = election(200, 300, 150);
        input.districts[0].seats = Some(2);
        let (outcome, audit) = audit_of(&input);
        assert!(
            outcome.assertions.iter().any(|a| a.margin == 0),
            "{outcome:?}"
        );
        let report = audit.evaluate(&outcome, &input, SEED, &|i| {
            Some(input.classes(&input.batches[i]))
        });
        assert!(
            matches!(report.verdict, Verdict::FullHandCount { .. }),
            "{report:?}"
        );
    }

    /// A list reported below a 5 % threshold that the paper lifts above it, winning a seat:
    /// 20 seats, 3000 boxes of 1000 ballots, reported A 600, B 352, C 48 (4.8 %); on paper
    /// A 593, B 352, C 55 (5.5 %). C's "stayed below" assertion has margin
    /// `−(100·48 − 5·1000)·3000 = 600 000` and each box overstates it by
    /// `(5·952 − 95·48) − (5·945 − 95·55) = 700`: 2.1 million in all, so it fails, and the
    /// audit must not confirm.
    #[test]
    fn a_list_the_hand_count_lifts_above_the_threshold_is_not_confirmed_out() {
        let list = |id: &str| AuditList {
            id: ListId::new(id),
            kind: ListKind::Party,
        };
        let mk = |a: u64, c: u64| AuditInput {
            lists: vec![list("A"), list("B"), list("C")],
            districts: vec![AuditDistrict {
                id: DistrictId::new("all"),
                seats: Some(20),
            }],
            batches: (0..3000)
                .map(|i| Batch {
                    id: format!("P{i}"),
                    district: 0,
                    ballots: 1000,
                    votes: vec![a, 352, c],
                    other: 0,
                })
                .collect(),
        };
        let (input, truth) = (mk(600, 48), mk(593, 55));
        let rules = RuleSet::from_toml(
            "id = \"t\"\ntitle = \"t\"\nlegal_source = [\"test\"]\nmethod = \"dhondt\"\n\
             [tie_break]\nrule = \"lot\"\nseed = \"s\"\n\
             [threshold]\nscope = \"national\"\nparty = \"5%\"\n",
        )
        .unwrap();
        let outcome = assertions::assertions(&rules, &input).unwrap();
        assert_eq!(outcome.seats[0][2], 0);
        let true_seats = assertions::district_seats(&rules, &truth).unwrap();
        assert_eq!(true_seats[0][2], 1, "on paper C passes and wins a seat");
        let below = outcome
            .assertions
            .iter()
            .find(|a| a.describe() == "C stayed below 5% (national)")
            .unwrap();
        assert_eq!(below.margin, 600_000);
        let audit = BatchAudit::new(&outcome, &input, 0.05, 4).unwrap();
        assert!(audit.rounds_within(3000) >= 1);
        let report = audit.evaluate(&outcome, &input, SEED, &|i| {
            Some(truth.classes(&truth.batches[i]))
        });
        assert!(
            matches!(report.verdict, Verdict::FullHandCount { .. }),
            "{report:?}"
        );
    }

    #[test]
    fn kaplan_markov_matches_hand_computed_values() {
        // U = 100, no errors: 0.99^n; 299 draws are the first below 0.05
        // (ln 0.05 / ln 0.99 = 298.07).
        let zero = vec![0.0; 299];
        let p = kaplan_markov(100.0, &zero);
        assert!((p - 0.99f64.powi(299)).abs() < 1e-12);
        assert!(p <= 0.05 && kaplan_markov(100.0, &zero[..298]) > 0.05);
        // One taint of 1/2 among three draws: 0.99³ / 0.5 = 1.940598, capped at 1.
        assert_eq!(kaplan_markov(100.0, &[0.0, 0.5, 0.0]), 1.0);
        // U = 10, taints 0, −0.5: 0.9 × 0.9 / 1.5 = 0.54.
        assert!((kaplan_markov(10.0, &[0.0, -0.5]) - 0.54).abs() < 1e-12);
        // A maximal taint gives no evidence.
        assert_eq!(kaplan_markov(10.0, &[1.0]), 1.0);
    }
}
