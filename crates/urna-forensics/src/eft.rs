//! The digit and moment statistics of the Election Forensics Toolkit (Kalinin and Mebane,
//! `BasicElectionForensics`), defined as that toolkit computes them so that its tables
//! reproduce:
//!
//! - `2BL`: the mean of the second digit of each count with at least two characters;
//! - `LastC`: the mean of the last digit of each count;
//! - `C05s`: the share of counts whose last digit is 0 or 5;
//! - `P05s`: the share of percentages (share × 100, rounded half to even to an integer) whose
//!   last digit is 0 or 5;
//! - `Skew`, `Kurt`: the moment skewness and (non-excess) kurtosis of the shares, with the
//!   population denominator `n`.
//!
//! Digits are taken from the number as R writes it (`as.character`): an integer that R writes
//! shorter in scientific notation (100000 as `1e+05`) has no second digit and ends in `5`, as
//! in the toolkit. Shares are capped at 1 and a share with a zero denominator is
//! undefined (left out), as in the toolkit.

/// Benford's law: the expected second digit, Σ d·P(second digit = d) ≈ 4.187.
pub const BENFORD_SECOND_DIGIT_MEAN: f64 = 4.187_389_7;
/// Standard deviation of the second digit under Benford's law.
pub const BENFORD_SECOND_DIGIT_SD: f64 = 2.872_939;
/// Mean of a uniform last digit.
pub const UNIFORM_LAST_DIGIT_MEAN: f64 = 4.5;
/// Standard deviation of a uniform last digit, √8.25.
pub const UNIFORM_LAST_DIGIT_SD: f64 = 2.872_281_3;
/// Share of uniform last digits that are 0 or 5.
pub const UNIFORM_05_SHARE: f64 = 0.2;

/// The toolkit's statistics of one variable (turnout or a list) over a set of stations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EftStats {
    /// Stations in the set (the toolkit's `Obs`).
    pub obs: usize,
    /// Counts below 10 (one digit: their last digit is their value, so last-digit tests
    /// say little about them).
    pub small: usize,
    /// `2BL`: mean second digit of the counts (`None` if no count has two digits).
    pub second_digit_mean: Option<f64>,
    /// `LastC`: mean last digit of the counts.
    pub last_digit_mean: Option<f64>,
    /// `C05s`: share of counts ending in 0 or 5.
    pub c05s: Option<f64>,
    /// `P05s`: share of integer percentages ending in 0 or 5.
    pub p05s: Option<f64>,
    /// `Skew`: moment skewness of the shares.
    pub skew: Option<f64>,
    /// `Kurt`: moment kurtosis of the shares (3 for a normal distribution).
    pub kurt: Option<f64>,
}

/// A number's decimal digits as R's `as.character` writes a whole number of type double:
/// fixed notation unless scientific notation is strictly shorter.
pub fn r_digits(v: u64) -> String {
    let fixed = v.to_string();
    if v == 0 {
        return fixed;
    }
    let trimmed = fixed.trim_end_matches('0');
    let exponent = fixed.len() - 1;
    let mantissa = trimmed.len();
    // `d.ddde+XX`: mantissa digits, a point if more than one, `e+`, at least two exponent digits.
    let sci_len = mantissa + usize::from(mantissa > 1) + 2 + exponent.to_string().len().max(2);
    if sci_len < fixed.len() {
        let mut s = String::with_capacity(sci_len);
        s.push_str(&trimmed[..1]);
        if mantissa > 1 {
            s.push('.');
            s.push_str(&trimmed[1..]);
        }
        s.push_str(&format!("e+{exponent:02}"));
        s
    } else {
        fixed
    }
}

/// The second character of [`r_digits`] as a digit (`None` if it is shorter or not a digit).
pub fn second_digit(v: u64) -> Option<u8> {
    if v < 10 {
        return None;
    }
    if v < 100_000 {
        // Fixed notation for sure: no string needed.
        let mut x = v;
        while x >= 100 {
            x /= 10;
        }
        return u8::try_from(x % 10).ok();
    }
    r_digits(v)
        .as_bytes()
        .get(1)
        .filter(|b| b.is_ascii_digit())
        .map(|b| b - b'0')
}

/// The last character of [`r_digits`] as a digit.
pub fn last_digit(v: u64) -> u8 {
    if v < 100_000 {
        return u8::try_from(v % 10).unwrap_or(0);
    }
    r_digits(v)
        .as_bytes()
        .last()
        .map_or(0, |b| b.saturating_sub(b'0'))
}

/// `part / whole` capped at 1, `None` when undefined (0/0); `x/0` with `x > 0` is 1, as
/// R's `Inf` capped at 1 in the toolkit.
pub fn capped_share(part: u64, whole: u64) -> Option<f64> {
    if whole == 0 {
        return (part > 0).then_some(1.0);
    }
    #[allow(clippy::cast_precision_loss)] // counts of voters are far below 2^53
    let s = part as f64 / whole as f64;
    Some(s.min(1.0))
}

/// The statistics of `counts` (one per station) and `shares` (the same stations' shares,
/// `None` where undefined).
pub fn eft_stats(counts: &[u64], shares: &[Option<f64>]) -> EftStats {
    let mut second = (0u64, 0u64);
    let (mut last_sum, mut c05) = (0u64, 0u64);
    for &c in counts {
        if let Some(d) = second_digit(c) {
            second.0 += u64::from(d);
            second.1 += 1;
        }
        let l = last_digit(c);
        last_sum += u64::from(l);
        c05 += u64::from(l == 0 || l == 5);
    }
    let defined: Vec<f64> = shares.iter().flatten().copied().collect();
    let p05 = defined
        .iter()
        .filter(|&&s| {
            let pct = (s * 100.0).round_ties_even();
            // 0 ≤ pct ≤ 100: its last digit is its value modulo 10.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let d = (pct as u64) % 10;
            d == 0 || d == 5
        })
        .count();
    let n = counts.len();
    let small = counts.iter().filter(|&&c| c < 10).count();
    let ratio = |a: u64, b: u64| {
        #[allow(clippy::cast_precision_loss)]
        let r = a as f64 / b as f64;
        (b > 0).then_some(r)
    };
    let (skew, kurt) = moments(&defined);
    EftStats {
        obs: n,
        small,
        second_digit_mean: ratio(second.0, second.1),
        last_digit_mean: ratio(last_sum, n as u64),
        c05s: ratio(c05, n as u64),
        p05s: ratio(p05 as u64, defined.len() as u64),
        skew,
        kurt,
    }
}

/// Moment skewness and kurtosis (population denominators), `None` for fewer than two values
/// or no spread.
pub fn moments(xs: &[f64]) -> (Option<f64>, Option<f64>) {
    if xs.len() < 2 {
        return (None, None);
    }
    #[allow(clippy::cast_precision_loss)]
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let (mut m2, mut m3, mut m4) = (0.0, 0.0, 0.0);
    for &x in xs {
        let d = x - mean;
        let d2 = d * d;
        m2 += d2;
        m3 += d2 * d;
        m4 += d2 * d2;
    }
    if m2 <= 0.0 {
        return (None, None);
    }
    let (m2, m3, m4) = (m2 / n, m3 / n, m4 / n);
    (Some(m3 / m2.powf(1.5)), Some(m4 / (m2 * m2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_writes_round_numbers_in_scientific_notation_when_shorter() {
        assert_eq!(r_digits(0), "0");
        assert_eq!(r_digits(99_999), "99999");
        assert_eq!(r_digits(100_000), "1e+05");
        assert_eq!(r_digits(120_000), "120000");
        assert_eq!(r_digits(1_000_000), "1e+06");
        assert_eq!(r_digits(1_200_000), "1200000");
        assert_eq!(r_digits(12_000_000), "1.2e+07");
        assert_eq!(second_digit(100_000), None);
        assert_eq!(last_digit(100_000), 5);
        assert_eq!(second_digit(120_000), Some(2));
        assert_eq!(second_digit(9), None);
        assert_eq!(second_digit(47), Some(7));
        assert_eq!(second_digit(4_712), Some(7));
    }

    #[test]
    fn capped_share_follows_the_toolkit() {
        assert_eq!(capped_share(0, 0), None);
        assert_eq!(capped_share(3, 0), Some(1.0));
        assert_eq!(capped_share(12, 10), Some(1.0));
        assert_eq!(capped_share(1, 4), Some(0.25));
    }
}
