//! Integer percentages (Kobak, Shpilkin and Pshenichnikov 2016): officials who invent results
//! tend to pick round turnouts and shares, so too many stations show a percentage that is a
//! whole number. The expected number of such stations is estimated by a seeded binomial Monte
//! Carlo: each included station's count is redrawn as Binomial(n, k/n) and the whole numbers
//! among the redrawn percentages are counted, repetition after repetition.
//!
//! Inclusion criteria (stated in every report): a station is included when its denominator
//! `n` (registered voters for turnout, ballots cast for a share) is at least
//! [`IntegerConfig::min_denominator`] and its count `k` satisfies `0 < k < n` (0 % and 100 %
//! are whole numbers for reasons of their own). A count `k` of `n` is a *whole percentage*
//! when it is the count nearest to an integer percentage of `n`: with `P = round(100·k/n)`,
//! `k = round(n·P/100)` (what an official who decides on "75 %" writes down). For `n ≥ 100`
//! each integer percentage has exactly one such count, whatever `n`. The test is made in
//! integer arithmetic (halves round up). Redrawn counts are judged the same way, including
//! the `0 < k < n` rule.
//!
//! Draws: only whether a redrawn count is a whole percentage matters, so each repetition draws
//! that event directly, with its exact probability under Binomial(n, k/n): the binomial
//! probabilities of the whole-percentage counts within 8 standard deviations of the mean,
//! summed (from a table of log-factorials; Stirling's series beyond 2^20). This is the same
//! Monte Carlo as redrawing the counts, at one uniform number per station and repetition.
//! Repetition `r` uses ChaCha8 seeded with the seed and stream `r`, so results do not depend
//! on the number of threads.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Monte Carlo settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntegerConfig {
    /// Repetitions.
    pub reps: u32,
    /// Seed (published with the report).
    pub seed: u64,
    /// Smallest denominator of an included station.
    pub min_denominator: u64,
    /// Threads to run the repetitions on.
    pub threads: usize,
}

impl Default for IntegerConfig {
    fn default() -> Self {
        Self {
            reps: 1000,
            seed: 2016,
            min_denominator: 100,
            threads: 2,
        }
    }
}

/// One unit's integer-percentage count against its Monte Carlo expectation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntegerResult {
    /// Stations meeting the inclusion criteria.
    pub included: u64,
    /// Included stations whose percentage is whole.
    pub observed: u64,
    /// Mean over the repetitions.
    pub expected: f64,
    /// Standard deviation over the repetitions.
    pub sd: f64,
    /// One-sided p-value: (1 + repetitions with at least `observed`) / (1 + repetitions).
    pub p_value: f64,
}

/// Whether `k` is the count nearest to an integer percentage of `n`, `0 < k < n`.
pub fn is_whole_percent(k: u64, n: u64) -> bool {
    if k == 0 || k >= n {
        return false;
    }
    if n <= u64::from(u32::MAX) {
        // The common case in 64 bits: 200·k < 2^40 and 2·n·100 < 2^41.
        let percent = (200 * k + n) / (2 * n);
        return (2 * n * percent + 100) / 200 == k;
    }
    let (k, n) = (u128::from(k), u128::from(n));
    let percent = (200 * k + n) / (2 * n);
    (2 * n * percent + 100) / 200 == k
}

/// Log-factorials `ln k!` for `k` below the table's length, Stirling's series above.
struct LnFact(Vec<f64>);

impl LnFact {
    fn new(max: u64) -> Self {
        let len = usize::try_from(max.min(1 << 20)).unwrap_or(1 << 20) + 1;
        let mut t = Vec::with_capacity(len);
        let mut acc = 0.0;
        t.push(0.0);
        for k in 1..len {
            #[allow(clippy::cast_precision_loss)]
            let kf = k as f64;
            acc += kf.ln();
            t.push(acc);
        }
        Self(t)
    }

    fn get(&self, k: u64) -> f64 {
        if let Some(v) = usize::try_from(k).ok().and_then(|i| self.0.get(i)) {
            return *v;
        }
        #[allow(clippy::cast_precision_loss)]
        let x = k as f64;
        x * x.ln() - x + 0.5 * (std::f64::consts::TAU * x).ln() + 1.0 / (12.0 * x)
            - 1.0 / (360.0 * x * x * x)
    }
}

/// The probability that a Binomial(n, p) count is a whole percentage of `n` (`0 < k < n`).
fn whole_probability(n: u64, p: f64, lf: &LnFact) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let nf = n as f64;
    let sd = (nf * p * (1.0 - p)).sqrt();
    let (lo, hi) = (
        (nf * p - 8.0 * sd - 1.0).max(1.0),
        (nf * p + 8.0 * sd + 1.0).min(nf - 1.0),
    );
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let ln_n = lf.get(n);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (p_lo, p_hi) = (
        ((100.0 * lo / nf).floor() as u64).saturating_sub(1),
        ((100.0 * hi / nf).ceil() as u64 + 1).min(100),
    );
    let mut q = 0.0;
    let mut last = None;
    for percent in p_lo.max(1)..=p_hi {
        let k = u64::try_from((2 * u128::from(n) * u128::from(percent) + 100) / 200)
            .unwrap_or(u64::MAX);
        if last == Some(k) || !is_whole_percent(k, n) {
            continue;
        }
        last = Some(k);
        #[allow(clippy::cast_precision_loss)]
        let kf = k as f64;
        q += (ln_n - lf.get(k) - lf.get(n - k) + kf * lp + (nf - kf) * lq).exp();
    }
    q.min(1.0)
}

/// Repetitions drawn in one pass over the stations.
const BLOCK: usize = 8;

/// Counts whole percentages of `(k, n, group)` items per group (and over all items, as the
/// last entry) and compares them with the Monte Carlo expectation. `groups` is the number of
/// groups; items with a group out of range count only towards the total.
pub fn integer_percentages(
    items: &[(u64, u64, usize)],
    groups: usize,
    cfg: &IntegerConfig,
) -> Vec<IntegerResult> {
    let all = groups;
    let mut included = vec![0u64; groups + 1];
    let mut observed = vec![0u64; groups + 1];
    let lf = LnFact::new(items.iter().map(|i| i.1).max().unwrap_or(0));
    // (threshold on a uniform u32, group) per included station.
    let mut draws: Vec<(u64, usize)> = Vec::with_capacity(items.len());
    for &(k, n, g) in items {
        if n < cfg.min_denominator || k == 0 || k >= n {
            continue;
        }
        let g = g.min(all);
        included[g] += 1;
        included[all] += u64::from(g != all);
        let whole = u64::from(is_whole_percent(k, n));
        observed[g] += whole;
        observed[all] += whole * u64::from(g != all);
        #[allow(clippy::cast_precision_loss)]
        let q = whole_probability(n, k as f64 / n as f64, &lf);
        // P(u < t) = t / 2^32 for a uniform u32 u.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let t = (q * 4_294_967_296.0).round() as u64;
        draws.push((t, g));
    }
    let reps = cfg.reps as usize;
    // counts[r * (groups + 1) + g]
    let width = groups + 1;
    let mut counts = vec![0u64; reps * width];
    let threads = cfg.threads.max(1).min(reps.max(1));
    let per = reps.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        for (t, chunk) in counts.chunks_mut(per * width).enumerate() {
            let draws = &draws;
            s.spawn(move || {
                // Eight repetitions per pass over the stations: each station is read from
                // memory once for eight draws (one generator per repetition, as before).
                for (b, block) in chunk.chunks_mut(width * BLOCK).enumerate() {
                    let mut rngs: Vec<(ChaCha8Rng, &mut [u64])> = block
                        .chunks_mut(width)
                        .enumerate()
                        .map(|(i, row)| {
                            let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
                            rng.set_stream((t * per + b * BLOCK + i) as u64);
                            (rng, row)
                        })
                        .collect();
                    for &(t, g) in draws {
                        for (rng, row) in &mut rngs {
                            let hit = u64::from(u64::from(rng.next_u32()) < t);
                            row[g] += hit;
                            row[all] += hit * u64::from(g != all);
                        }
                    }
                }
            });
        }
    });
    (0..width)
        .map(|g| {
            let col = || counts.iter().skip(g).step_by(width).copied();
            #[allow(clippy::cast_precision_loss)]
            let r = reps.max(1) as f64;
            #[allow(clippy::cast_precision_loss)]
            let mean = col().map(|c| c as f64).sum::<f64>() / r;
            #[allow(clippy::cast_precision_loss)]
            let var = col().map(|c| (c as f64 - mean).powi(2)).sum::<f64>() / r;
            let at_least = col().filter(|&c| c >= observed[g]).count();
            #[allow(clippy::cast_precision_loss)]
            let p_value = (1 + at_least) as f64 / (1.0 + reps as f64);
            IntegerResult {
                included: included[g],
                observed: observed[g],
                expected: mean,
                sd: var.sqrt(),
                p_value,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_percentages_are_judged_in_integer_arithmetic() {
        assert!(is_whole_percent(50, 100));
        assert!(is_whole_percent(285, 380)); // 75 % of 380 is exactly 285
        assert!(!is_whole_percent(286, 380)); // 75.26 %: 285 is nearer to 75 %
        assert!(is_whole_percent(2000, 4000));
        assert!(!is_whole_percent(2001, 4000)); // 50.025 %
        assert!(!is_whole_percent(293, 587)); // 50 % of 587 is 293.5, which rounds up to 294
        assert!(is_whole_percent(294, 587));
        assert!(is_whole_percent(733, 977)); // 75 % of 977 = 732.75 → 733
        assert!(!is_whole_percent(0, 100));
        assert!(!is_whole_percent(100, 100));
        // Beyond 32 bits the same rule in 128 bits.
        let n = 10_000_000_000u64;
        assert!(is_whole_percent(n / 4, n));
        assert!(!is_whole_percent(n / 4 + 1, n));
    }

    #[test]
    fn the_expectation_matches_the_exact_probability_and_is_reproducible() {
        // 2000 stations of 1000 voters at p = 0.4123: a draw is whole when k ∈ {…, 412, 413,
        // …}: 100k/1000 whole iff k is a multiple of 10, so P ≈ 1/10 for a wide binomial.
        let items: Vec<(u64, u64, usize)> = (0..2000).map(|i| (412, 1000, i % 2)).collect();
        let cfg = IntegerConfig {
            reps: 200,
            seed: 7,
            min_denominator: 100,
            threads: 2,
        };
        let a = integer_percentages(&items, 2, &cfg);
        assert_eq!(a.len(), 3);
        assert_eq!(a[2].included, 2000);
        assert_eq!(a[2].observed, 0);
        assert!((a[2].expected - 200.0).abs() < 5.0, "{:?}", a[2]);
        assert!((a[0].expected + a[1].expected - a[2].expected).abs() < 1e-9);
        let b = integer_percentages(&items, 2, &IntegerConfig { threads: 1, ..cfg });
        assert_eq!(
            a, b,
            "the same seed gives the same result on any number of threads"
        );
        assert!(a[2].p_value > 0.99, "{:?}", a[2]);
    }

    #[test]
    fn whole_probabilities_equal_the_binomial_sums() {
        // Against every count's probability summed directly over 0 ≤ k < n.
        for (n, p) in [
            (120u64, 0.05f64),
            (380, 0.4),
            (1000, 0.412),
            (2000, 0.93),
            (150, 0.5),
        ] {
            // ln C(n, k) built up term by term, in log space so nothing underflows.
            let mut ln_c = 0.0f64;
            let mut direct = 0.0;
            for k in 0..n {
                if is_whole_percent(k, n) {
                    direct += (ln_c + k as f64 * p.ln() + (n - k) as f64 * (1.0 - p).ln()).exp();
                }
                ln_c += ((n - k) as f64).ln() - ((k + 1) as f64).ln();
            }
            let q = whole_probability(n, p, &LnFact::new(n));
            assert!(
                (q - direct).abs() < 1e-9,
                "n {n} p {p}: {q} against {direct}"
            );
        }
        // Stirling's series beyond the table agrees with the table.
        let small = LnFact::new(10);
        let big = LnFact::new(5000);
        assert!((small.get(5000) - big.get(5000)).abs() < 1e-9);
    }
}
