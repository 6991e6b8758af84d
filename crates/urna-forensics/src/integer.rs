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
//! Draws: exact inversion when n·p·(1−p) < 10, otherwise the normal approximation rounded to
//! the nearest count and clamped to `[0, n]`. Repetition `r` uses ChaCha8 seeded with the
//! seed and stream `r`, so results do not depend on the number of threads.

use rand::{Rng, SeedableRng};
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

/// A station prepared for drawing.
#[derive(Debug, Clone, Copy)]
struct Draw {
    n: u64,
    p: f64,
    mean: f64,
    sd: f64,
    group: usize,
}

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
    let mut draws = Vec::with_capacity(items.len());
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
        let (nf, p) = (n as f64, k as f64 / n as f64);
        draws.push(Draw {
            n,
            p,
            mean: nf * p,
            sd: (nf * p * (1.0 - p)).sqrt(),
            group: g,
        });
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
                for (i, row) in chunk.chunks_mut(width).enumerate() {
                    let rep = (t * per + i) as u64;
                    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
                    rng.set_stream(rep);
                    let mut normal = Normal::default();
                    for d in draws {
                        let k = draw(d, &mut rng, &mut normal);
                        if is_whole_percent(k, d.n) {
                            row[d.group] += 1;
                            if d.group != all {
                                row[all] += 1;
                            }
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

/// Standard normal draws by Marsaglia's polar method, one pair at a time.
#[derive(Debug, Default)]
struct Normal {
    spare: Option<f64>,
}

impl Normal {
    fn next(&mut self, rng: &mut ChaCha8Rng) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        loop {
            let u: f64 = rng.r#gen::<f64>() * 2.0 - 1.0;
            let v: f64 = rng.r#gen::<f64>() * 2.0 - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let m = (-2.0 * s.ln() / s).sqrt();
                self.spare = Some(v * m);
                return u * m;
            }
        }
    }
}

/// One Binomial(n, p) draw.
fn draw(d: &Draw, rng: &mut ChaCha8Rng, normal: &mut Normal) -> u64 {
    if d.sd * d.sd < 10.0 {
        // Inversion on the smaller tail probability.
        let flip = d.p > 0.5;
        let q = if flip { 1.0 - d.p } else { d.p };
        let u: f64 = rng.r#gen();
        let ratio = q / (1.0 - q);
        #[allow(clippy::cast_precision_loss)]
        let nf = d.n as f64;
        let mut pmf = (1.0 - q).powf(nf);
        let mut cdf = pmf;
        let mut k = 0u64;
        while u > cdf && k < d.n {
            #[allow(clippy::cast_precision_loss)]
            let kf = k as f64;
            pmf *= ratio * (nf - kf) / (kf + 1.0);
            cdf += pmf;
            k += 1;
            if pmf <= 0.0 && cdf < u && kf > nf * q {
                break;
            }
        }
        if flip { d.n - k } else { k }
    } else {
        let x = (d.mean + d.sd * normal.next(rng)).round();
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let k = x.clamp(0.0, d.n as f64) as u64;
        k
    }
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
    fn small_binomials_are_drawn_exactly() {
        // n = 120, p = 0.05: variance 5.7 < 10, inversion; the mean must be 6.
        let d = Draw {
            n: 120,
            p: 0.05,
            mean: 6.0,
            sd: 5.7f64.sqrt(),
            group: 0,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut normal = Normal::default();
        let sum: u64 = (0..20_000).map(|_| draw(&d, &mut rng, &mut normal)).sum();
        let mean = sum as f64 / 20_000.0;
        assert!((mean - 6.0).abs() < 0.1, "{mean}");
        let d = Draw {
            p: 0.95,
            mean: 114.0,
            ..d
        };
        let sum: u64 = (0..20_000).map(|_| draw(&d, &mut rng, &mut normal)).sum();
        assert!((sum as f64 / 20_000.0 - 114.0).abs() < 0.1);
    }
}
