//! Newtypes for the quantities and identifiers seat allocation works with.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::SeatError;

/// A number of valid votes. Never negative: inputs are checked when parsed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Votes(pub u64);

/// A number of seats.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Seats(pub u32);

/// The identifier of a competing list (party, coalition, community list or pool).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ListId(pub String);

/// The identifier of a district (constituency, qark, electoral unit).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DistrictId(pub String);

impl Votes {
    /// Adds two counts, naming `what` in the error if the sum does not fit in `u64`.
    ///
    /// # Errors
    /// [`SeatError::Overflow`] when the sum exceeds `u64::MAX`.
    pub fn checked_add(self, other: Self, what: &str) -> Result<Self, SeatError> {
        self.0
            .checked_add(other.0)
            .map(Self)
            .ok_or_else(|| SeatError::Overflow {
                what: what.to_owned(),
            })
    }
}

impl ListId {
    /// Builds a list identifier from any string.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl DistrictId {
    /// Builds a district identifier from any string.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Votes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for Seats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for ListId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for DistrictId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An exact share such as a threshold, written in rule sets as a percentage string (`"0.35%"`).
///
/// Stored as the fraction `numerator / denominator` of the base; a count `v` of a base `b`
/// reaches the share when `v × denominator ≥ numerator × b`, computed in `u128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Share {
    numerator: u64,
    denominator: u64,
}

impl Share {
    /// No threshold at all.
    pub const ZERO: Self = Self {
        numerator: 0,
        denominator: 100,
    };

    /// Parses `"3%"`, `"0.7%"` or `"0.35 %"` exactly (at most six decimal places, at most 100 %).
    ///
    /// # Errors
    /// A message describing what is wrong with the text (the caller adds the field name).
    pub fn parse_percent(text: &str) -> Result<Self, String> {
        let body = text
            .trim()
            .strip_suffix('%')
            .ok_or_else(|| format!("`{text}` is not a percentage such as \"3%\""))?
            .trim();
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !digits_ok(int) || !digits_ok(frac) || frac.len() > 6 {
            return Err(format!(
                "`{text}` is not a percentage with at most six decimals"
            ));
        }
        let scale = 10u64.pow(u32::try_from(frac.len()).unwrap_or(0));
        let int_value: u64 = int
            .parse()
            .map_err(|_| format!("`{text}`: percentage too large"))?;
        let frac_value: u64 = if frac.is_empty() {
            0
        } else {
            frac.parse()
                .map_err(|_| format!("`{text}`: bad decimals"))?
        };
        let numerator = int_value
            .checked_mul(scale)
            .and_then(|n| n.checked_add(frac_value))
            .ok_or_else(|| format!("`{text}`: percentage too large"))?;
        let denominator = 100 * scale;
        if numerator > denominator {
            return Err(format!("`{text}` is more than 100%"));
        }
        Ok(Self {
            numerator,
            denominator,
        })
    }

    /// True when `part` is at least this share of `base` (exact).
    pub fn reached_by(self, part: Votes, base: Votes) -> bool {
        u128::from(part.0) * u128::from(self.denominator)
            >= u128::from(self.numerator) * u128::from(base.0)
    }

    /// True when `part` is strictly more than this share of `base` (exact), for laws that say
    /// "more than".
    pub fn exceeded_by(self, part: Votes, base: Votes) -> bool {
        u128::from(part.0) * u128::from(self.denominator)
            > u128::from(self.numerator) * u128::from(base.0)
    }

    /// The smallest vote count strictly above this share of `base`.
    pub fn minimum_votes_exceeding(self, base: Votes) -> Votes {
        // votes × den > num × base  ⇔  votes ≥ ⌊num × base / den⌋ + 1.
        let need = u128::from(self.numerator) * u128::from(base.0);
        let v = need / u128::from(self.denominator) + 1;
        Votes(u64::try_from(v).unwrap_or(u64::MAX))
    }

    /// True for a zero share (no threshold).
    pub fn is_zero(self) -> bool {
        self.numerator == 0
    }

    /// The smallest vote count that reaches this share of `base`.
    pub fn minimum_votes(self, base: Votes) -> Votes {
        let need = u128::from(self.numerator) * u128::from(base.0);
        let den = u128::from(self.denominator);
        let v = need.div_ceil(den);
        Votes(u64::try_from(v).unwrap_or(u64::MAX))
    }
}

impl TryFrom<String> for Share {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse_percent(&value)
    }
}

impl From<Share> for String {
    fn from(share: Share) -> Self {
        share.to_string()
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // denominator is 100 × 10^k, so the share in percent has exactly k decimals.
        let scale = self.denominator / 100;
        let int = self.numerator / scale;
        let frac = self.numerator % scale;
        if frac == 0 {
            write!(f, "{int}%")
        } else {
            let width = scale.ilog10() as usize;
            let frac = format!("{frac:0width$}");
            write!(f, "{int}.{}%", frac.trim_end_matches('0'))
        }
    }
}

/// Formats `numerator / denominator` as a decimal with `places` digits, rounded down, exactly.
pub(crate) fn format_fraction(numerator: u128, denominator: u128, places: u32) -> String {
    if denominator == 0 {
        return "∞".to_owned();
    }
    let int = numerator / denominator;
    let scale = 10u128.pow(places);
    let frac = (numerator % denominator) * scale / denominator;
    if places == 0 {
        int.to_string()
    } else {
        format!("{int}.{frac:0width$}", width = places as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_parses_whole_and_decimal_percentages() {
        let cases = [
            ("3%", 3, 100, "whole percent"),
            ("0.7%", 7, 1000, "one decimal"),
            ("0.35 %", 35, 10000, "space before the sign"),
            ("100%", 100, 100, "upper bound"),
        ];
        for (text, num, den, why) in cases {
            let share = Share::parse_percent(text).unwrap();
            assert_eq!((share.numerator, share.denominator), (num, den), "{why}");
        }
    }

    #[test]
    fn share_rejects_text_that_is_not_a_percentage() {
        for text in ["3", "-1%", "101%", "1.2.3%", "abc%", "%", "0.1234567%"] {
            assert!(Share::parse_percent(text).is_err(), "{text}");
        }
    }

    #[test]
    fn share_round_trips_through_display() {
        for text in ["3%", "0.7%", "0.35%", "12.5%"] {
            assert_eq!(Share::parse_percent(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn share_threshold_is_inclusive_and_exact() {
        let five = Share::parse_percent("5%").unwrap();
        assert!(five.reached_by(Votes(5), Votes(100)));
        assert!(!five.reached_by(Votes(4), Votes(100)));
        assert_eq!(five.minimum_votes(Votes(101)), Votes(6));
        assert_eq!(five.minimum_votes(Votes(100)), Votes(5));
    }

    #[test]
    fn share_exceeded_is_strict() {
        let three = Share::parse_percent("3%").unwrap();
        assert!(!three.exceeded_by(Votes(3), Votes(100)));
        assert!(three.exceeded_by(Votes(4), Votes(100)));
        assert_eq!(three.minimum_votes_exceeding(Votes(100)), Votes(4));
        assert_eq!(three.minimum_votes_exceeding(Votes(101)), Votes(4));
        assert_eq!(three.minimum_votes_exceeding(Votes(99)), Votes(3));
    }

    #[test]
    fn votes_checked_add_names_the_overflowing_sum() {
        let err = Votes(u64::MAX)
            .checked_add(Votes(1), "national total")
            .unwrap_err();
        assert!(err.to_string().contains("national total"), "{err}");
    }

    #[test]
    fn format_fraction_rounds_down() {
        assert_eq!(format_fraction(10, 3, 3), "3.333");
        assert_eq!(format_fraction(2, 3, 2), "0.66");
        assert_eq!(format_fraction(7, 1, 0), "7");
    }
}
