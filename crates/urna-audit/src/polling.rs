//! Ballot polling (BRAVO) and ballot-level comparison, with sample-size estimates.
//!
//! Both work on one [`Assertion`] at a time, over the ballots of its scope, where a ballot
//! manifest lets individual ballots be drawn.
//!
//! **Ballot polling.** An assertion's *assorter* maps a ballot of class `c` to
//! `x = (w_c − w_min) / (w_max − w_min)` in [0, 1]; the assertion fails exactly when the mean of
//! `x` is at most `μ₀` (the value at the failing total `reported − margin`). The test is Wald's
//! sequential probability ratio with a fixed alternative `η`, as in BRAVO (Lindeman, Stark &
//! Yates 2012, "BRAVO: Ballot-polling risk-limiting audits to verify outcomes", EVT/WOTE):
//! each drawn ballot multiplies the evidence by `x·η/μ₀ + (1 − x)(1 − η)/(1 − μ₀)`, and the risk
//! is the reciprocal of the evidence. `η` is the reported mean of `x` over the ballots that move
//! the evidence (`x ≠ μ₀`): for a plain two-list margin this is BRAVO's `s_w = v_w / (v_w + v_l)`
//! with ballots for neither list leaving the evidence unchanged, exactly as in BRAVO.
//!
//! **Ballot-level comparison.** Each drawn ballot's record is compared with its paper; the
//! Kaplan–Markov risk of [`crate::batch::kaplan_markov`] applies with every ballot as a batch
//! of one, error bound `(w_max − w_min) / margin`, sampled uniformly.
//!
//! **Estimates.** Average sample numbers and quantiles come from seeded simulation (ChaCha8):
//! ballots are drawn with replacement from the reported totals (polling) or with a given rate of
//! one-vote overstatements (comparison); a run that reaches the ballots in scope stops there (a
//! full hand count).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::Assertion;
use crate::batch::kaplan_markov;

/// A sample-size estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// Average sample number over the runs.
    pub mean: f64,
    /// Median.
    pub median: u64,
    /// 90th percentile.
    pub q90: u64,
    /// 99th percentile.
    pub q99: u64,
    /// Runs that reached the cap (a full hand count of the scope).
    pub capped: u32,
}

impl Estimate {
    fn of(mut sizes: Vec<u64>, cap: u64) -> Self {
        sizes.sort_unstable();
        let q = |p: usize| {
            sizes
                .get((sizes.len() * p / 100).min(sizes.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        };
        #[allow(clippy::cast_precision_loss)]
        let mean = sizes.iter().sum::<u64>() as f64 / sizes.len().max(1) as f64;
        Self {
            mean,
            median: q(50),
            q90: q(90),
            q99: q(99),
            capped: u32::try_from(sizes.iter().filter(|&&n| n >= cap).count()).unwrap_or(u32::MAX),
        }
    }
}

/// The ballot-polling test of one assertion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bravo {
    /// The assorter value of each ballot class.
    pub x: Vec<f64>,
    /// The largest mean under which the assertion fails.
    pub mu0: f64,
    /// The alternative.
    pub eta: f64,
}

impl Bravo {
    /// The test for `a` given the reported ballot classes of its scope; `None` when the
    /// reported margin is not positive or the scope has no ballots.
    pub fn new(a: &Assertion, classes: &[u64]) -> Option<Self> {
        let (lo, hi) = (a.min_weight(), a.max_weight());
        let total: u64 = classes.iter().sum();
        if a.margin <= 0 || total == 0 || hi == lo {
            return None;
        }
        #[allow(clippy::cast_precision_loss)]
        let (lo_f, span, n) = (lo as f64, (hi - lo) as f64, total as f64);
        #[allow(clippy::cast_precision_loss)]
        let x: Vec<f64> = a
            .weights
            .iter()
            .map(|&w| (w as f64 - lo_f) / span)
            .collect();
        #[allow(clippy::cast_precision_loss)]
        let mu0 = (((a.reported - a.margin) as f64) / n - lo_f) / span;
        let (mut sum, mut count) = (0.0, 0.0);
        for (&xc, &nc) in x.iter().zip(classes) {
            if (xc - mu0).abs() > 1e-12 {
                #[allow(clippy::cast_precision_loss)]
                let nc = nc as f64;
                sum += xc * nc;
                count += nc;
            }
        }
        let eta = if count > 0.0 { sum / count } else { mu0 };
        if !(mu0 > 0.0 && mu0 < 1.0 && eta > mu0) {
            return None;
        }
        Some(Self { x, mu0, eta })
    }

    /// The evidence factor of one ballot of class `c`.
    pub fn factor(&self, c: usize) -> f64 {
        let x = self.x[c];
        x * self.eta / self.mu0 + (1.0 - x) * (1.0 - self.eta) / (1.0 - self.mu0)
    }

    /// The risk after the drawn ballots' classes: `1 / Π factors`, at most 1.
    pub fn risk(&self, drawn: &[usize]) -> f64 {
        (1.0 / drawn.iter().map(|&c| self.factor(c)).product::<f64>()).min(1.0)
    }

    /// Wald's approximation of the average sample number when the reported totals are right:
    /// `ln(1/α) / E[ln factor]`.
    pub fn wald_asn(&self, classes: &[u64], alpha: f64) -> f64 {
        let total: u64 = classes.iter().sum();
        #[allow(clippy::cast_precision_loss)]
        let drift: f64 = classes
            .iter()
            .enumerate()
            .map(|(c, &n)| n as f64 / total as f64 * self.factor(c).ln())
            .sum();
        if drift <= 0.0 {
            f64::INFINITY
        } else {
            (1.0 / alpha).ln() / drift
        }
    }

    /// Simulated sample sizes: ballots drawn with replacement from `classes` until the risk is
    /// at most `alpha`, or the ballots in scope are reached.
    pub fn estimate(&self, classes: &[u64], alpha: f64, runs: u32, seed: u64) -> Estimate {
        let total: u64 = classes.iter().sum();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let target = (1.0 / alpha).ln();
        let log_factors: Vec<f64> = (0..classes.len()).map(|c| self.factor(c).ln()).collect();
        let sizes = (0..runs)
            .map(|_| {
                let mut evidence = 0.0;
                let mut n = 0u64;
                while n < total && evidence < target {
                    let mut r = rng.gen_range(0..total);
                    let c = classes
                        .iter()
                        .position(|&k| {
                            if r < k {
                                true
                            } else {
                                r -= k;
                                false
                            }
                        })
                        .unwrap_or(0);
                    evidence += log_factors[c];
                    n += 1;
                }
                n
            })
            .collect();
        Estimate::of(sizes, total)
    }
}

/// BRAVO's closed-form average sample number for a two-list contest (Lindeman, Stark & Yates
/// 2012, equation 5, scaled by the share of ballots for either list):
/// `(ln(1/α) + z_w/2) / (p·(s_w·z_w + s_l·z_l))` with `s_w = v_w/(v_w + v_l)`,
/// `z_w = ln(2 s_w)`, `z_l = ln(2 s_l)`, `p = (v_w + v_l)/ballots`.
pub fn bravo_asn(winner: u64, loser: u64, ballots: u64, alpha: f64) -> Option<f64> {
    if winner <= loser || ballots == 0 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let (w, l, b) = (winner as f64, loser as f64, ballots as f64);
    let sw = w / (w + l);
    let sl = 1.0 - sw;
    let zw = (2.0 * sw).ln();
    let zl = if sl > 0.0 { (2.0 * sl).ln() } else { 0.0 };
    let p = (w + l) / b;
    Some(((1.0 / alpha).ln() + zw / 2.0) / (p * (sw * zw + sl * zl)))
}

/// Ballot-level comparison with no discrepancy: `⌈ln α / ln(1 − 1/U)⌉` ballots, where
/// `U = ballots · (w_max − w_min) / margin`; `None` without a positive margin.
pub fn comparison_draws(a: &Assertion, alpha: f64) -> Option<u64> {
    let u = comparison_bound(a)?;
    if u <= 1.0 {
        return Some(1);
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = (alpha.ln() / (-1.0 / u).ln_1p()).ceil().max(1.0) as u64;
    Some(n)
}

fn comparison_bound(a: &Assertion) -> Option<f64> {
    if a.margin <= 0 || a.ballots == 0 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let u = a.ballots as f64 * (a.max_weight() - a.min_weight()) as f64 / a.margin as f64;
    Some(u)
}

/// Simulated ballot-level comparison sample sizes when each drawn ballot independently has, with
/// probability `error_rate`, a one-vote overstatement (recorded for the top-weighted class, blank
/// on paper: taint `w_max / (w_max − w_min)`). `None` without a positive margin.
pub fn comparison_estimate(
    a: &Assertion,
    alpha: f64,
    error_rate: f64,
    runs: u32,
    seed: u64,
) -> Option<Estimate> {
    let u = comparison_bound(a)?;
    #[allow(clippy::cast_precision_loss)]
    let taint = a.max_weight() as f64 / (a.max_weight() - a.min_weight()) as f64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let sizes = (0..runs)
        .map(|_| {
            let mut taints = Vec::new();
            while (taints.len() as u64) < a.ballots {
                taints.push(if rng.gen_bool(error_rate.clamp(0.0, 1.0)) {
                    taint
                } else {
                    0.0
                });
                if kaplan_markov(u, &taints) <= alpha {
                    break;
                }
            }
            taints.len() as u64
        })
        .collect();
    Some(Estimate::of(sizes, a.ballots))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::AssertionKind;
    use urna_tally::seats::{DistrictId, ListId};

    /// A two-list, one-seat assertion: `w` votes against `l`, `other` ballots for neither.
    fn pairwise(w: u64, l: u64, other: u64) -> (Assertion, Vec<u64>) {
        let reported = i128::from(w) - i128::from(l);
        let a = Assertion {
            kind: AssertionKind::Seat {
                district: DistrictId::new("d"),
                winner: ListId::new("W"),
                winner_seat: 1,
                loser: ListId::new("L"),
                loser_seat: 1,
            },
            scope: Some(0),
            weights: vec![1, -1, 0],
            reported,
            margin: reported,
            ballots: w + l + other,
            diluted_margin: 0.0,
        };
        (a, vec![w, l, other])
    }

    #[test]
    fn bravo_factors_are_the_classic_ones() {
        // s_w = 0.6: a winner ballot multiplies the evidence by 1.2, a loser one by 0.8,
        // a ballot for neither by 1.
        let (a, classes) = pairwise(600, 400, 250);
        let b = Bravo::new(&a, &classes).unwrap();
        assert!((b.factor(0) - 1.2).abs() < 1e-12);
        assert!((b.factor(1) - 0.8).abs() < 1e-12);
        assert!((b.factor(2) - 1.0).abs() < 1e-12);
        // 17 winner ballots in a row: 1.2^17 = 22.19 ≥ 20, 1.2^16 = 18.49 < 20.
        assert!(b.risk(&[0; 17]) <= 0.05 && b.risk(&[0; 16]) > 0.05);
    }

    /// Arlo's `bravo.get_test_statistics` and `compute_risk`: each sampled winner ballot
    /// multiplies `T` by `s_wℓ/0.5`, each loser ballot by `(1 − s_wℓ)/0.5`, other ballots leave
    /// it alone, and the risk is `min(1/T, 1)`. W 600, L 400, 250 for neither (1250 ballots):
    /// `s = 0.6`; a sample of 30 W, 20 L and 5 neither gives `T = 1.2³⁰ · 0.8²⁰`, risk
    /// `0.365395`. Arlo's `get_expected_sample_sizes` with no sample:
    /// `⌈(ln(1/α) + z_w/2) / (p_w z_w + p_ℓ z_ℓ)⌉` with `p_w = 0.48`, `p_ℓ = 0.32`,
    /// `z_w = ln 1.2`, `z_ℓ = ln 0.8`; at α = 10 %: `2.393746 / 0.016109 = 148.6`, so 149.
    #[test]
    fn bravo_risk_and_sample_size_as_arlo_computes_them() {
        let (a, classes) = pairwise(600, 400, 250);
        let b = Bravo::new(&a, &classes).unwrap();
        assert!((b.mu0 - 0.5).abs() < 1e-15 && (b.eta - 0.6).abs() < 1e-15);
        let mut drawn = vec![0; 30];
        drawn.extend([1; 20]);
        drawn.extend([2; 5]);
        let risk = b.risk(&drawn);
        let by_hand = 1.0 / (1.2f64.powi(30) * 0.8f64.powi(20));
        assert!((risk - by_hand).abs() < 1e-12, "{risk}");
        assert!((risk - 0.365_395).abs() < 1e-6, "{risk}");
        // Order does not matter, and a losing sample is capped at 1.
        drawn.reverse();
        assert!((b.risk(&drawn) - by_hand).abs() < 1e-12);
        assert_eq!(b.risk(&[1; 10]), 1.0);
        let asn = bravo_asn(600, 400, 1250, 0.1).unwrap();
        assert!((asn - 148.602_236).abs() < 1e-5, "{asn}");
        assert_eq!(asn.ceil(), 149.0);
    }

    /// A tie or a reported loss has no test: Arlo sends a tie to a full count.
    #[test]
    fn bravo_has_no_test_without_a_margin() {
        let (a, classes) = pairwise(500, 500, 10);
        assert!(Bravo::new(&a, &classes).is_none());
        assert!(bravo_asn(500, 500, 1010, 0.05).is_none());
    }

    #[test]
    fn bravo_asn_closed_form_by_hand() {
        // Margin 10 %, no other ballots, α = 10 %: s_w = 0.55,
        // (ln 10 + ln(1.1)/2) / (0.55 ln 1.1 + 0.45 ln 0.9) = 2.350240 / 0.0050087 = 469.2.
        let asn = bravo_asn(550, 450, 1000, 0.1).unwrap();
        assert!((asn - 469.2).abs() < 0.5, "{asn}");
        assert!(bravo_asn(450, 550, 1000, 0.1).is_none());
    }

    #[test]
    fn simulated_average_agrees_with_wald() {
        let (a, classes) = pairwise(55_000, 45_000, 0);
        let b = Bravo::new(&a, &classes).unwrap();
        let est = b.estimate(&classes, 0.1, 2000, 7);
        let wald = b.wald_asn(&classes, 0.1);
        // Wald ignores the overshoot: BRAVO's formula adds z_w/2 to the numerator.
        let bravo = bravo_asn(55_000, 45_000, 100_000, 0.1).unwrap();
        assert!(
            est.mean > wald * 0.9 && est.mean < bravo * 1.15,
            "{} {wald} {bravo}",
            est.mean
        );
        assert!(est.median <= est.q90 && est.q90 <= est.q99);
    }

    #[test]
    fn comparison_without_errors_by_hand() {
        // Margin 10 % of 1000 ballots, weights ±1: U = 1000 × 2 / 100 = 20;
        // ln 0.05 / ln 0.95 = 58.4, so 59 ballots.
        let (a, _) = pairwise(550, 450, 0);
        assert_eq!(comparison_draws(&a, 0.05), Some(59));
        let est = comparison_estimate(&a, 0.05, 0.0, 10, 1).unwrap();
        assert_eq!((est.median, est.q99), (59, 59));
        // Overstatements make the audit longer.
        let noisy = comparison_estimate(&a, 0.05, 0.02, 200, 1).unwrap();
        assert!(noisy.mean > 59.0);
    }
}
