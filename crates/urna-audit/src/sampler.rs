//! Public, repeatable sampling from a dice-roll seed: Rivest's consistent sampler.
//!
//! Each item gets a *ticket number*, a decimal fraction in (0, 1) computed from the seed and the
//! item's id alone, and items are drawn in increasing ticket order. The construction is the one
//! in Ronald L. Rivest's `consistent_sampler` (github.com/ron-rivest/consistent_sampler, 2018,
//! the Python package Arlo draws its samples with):
//!
//! ```text
//! ticket(id) = "0." + reverse(decimal(SHA-256(hex(SHA-256(seed)) + id)), zero-padded to 64 digits)
//! ```
//!
//! where `hex` is lower-case hexadecimal, strings are UTF-8, and `decimal` writes the 256-bit
//! digest as a decimal integer. The digits are reversed because the leading digits of a decimal
//! conversion are biased and the trailing ones are not. Tickets compare as strings, exactly as
//! the reference code compares them.
//!
//! For sampling with probability proportional to a weight (PPEB, see [`crate::batch`]), draw
//! number `j` (1, 2, 3, …) uses the ticket of the id `j` written in decimal: its first 18 digits
//! give a uniform number `x_j` in [0, 1) and the draw selects the first item whose running
//! weight total exceeds `x_j` times the total weight. Anyone holding the seed and the public
//! weights can recompute every draw.
//!
//! The draws are with replacement: each draw number has its own ticket, so the draws are
//! independent, as the Kaplan–Markov risk requires. This PPEB construction is urna's own.
//! Rivest's sampler with replacement (`next_fraction`, a station's later tickets above its
//! earlier one) draws uniformly, not in proportion to a weight, and Arlo's PPEB draws come
//! from NumPy's PCG64 seeded with the seed's SHA-256, which cannot be recomputed from a
//! published formula. So urna's batch samples are not Arlo's for the same seed. The tickets
//! themselves are Rivest's and match his published examples.

use sha2::{Digest, Sha256};

use crate::AuditError;

/// The shortest seed accepted: twenty decimal digits (about 66 bits), rolled with ten-sided
/// dice in public, as Arlo and the audit guidance of Stark and Lindeman recommend.
pub const MIN_SEED_DIGITS: usize = 20;

/// Checks a seed: only decimal digits, at least [`MIN_SEED_DIGITS`] of them.
///
/// # Errors
/// [`AuditError::Input`] naming `seed` and the rule it breaks.
pub fn check_seed(seed: &str) -> Result<(), AuditError> {
    let bad = |problem: String| AuditError::Input {
        field: "seed".into(),
        problem,
    };
    if !seed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!(
            "`{seed}` must be decimal digits only (the dice rolls, in order)"
        )));
    }
    if seed.len() < MIN_SEED_DIGITS {
        return Err(bad(format!(
            "has {} digits; at least {MIN_SEED_DIGITS} are needed",
            seed.len()
        )));
    }
    Ok(())
}

/// Lower-case hex SHA-256 of a UTF-8 string.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The digits (after `0.`) of an item's ticket number under `seed`.
pub fn ticket(seed: &str, id: &str) -> String {
    ticket_with_seed_hash(&sha256_hex(seed), id)
}

/// As [`ticket`], with the seed's hex digest already computed.
pub fn ticket_with_seed_hash(seed_hash: &str, id: &str) -> String {
    let digest = Sha256::digest(format!("{seed_hash}{id}").as_bytes());
    let mut digits = decimal(&digest.into());
    while digits.len() < 64 {
        digits.insert(0, '0');
    }
    digits.chars().rev().collect()
}

/// The ids in sampling order (increasing ticket; ties, which need a SHA-256 collision, by id).
pub fn consistent_order<'a>(seed: &str, ids: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let seed_hash = sha256_hex(seed);
    let mut tickets: Vec<(String, &str)> = ids
        .into_iter()
        .map(|id| (ticket_with_seed_hash(&seed_hash, id), id))
        .collect();
    tickets.sort();
    tickets.into_iter().map(|(_, id)| id).collect()
}

/// The uniform number in [0, 1) of draw `j` (1-based): the first 18 digits of the ticket of
/// the id `j`, divided by 10¹⁸.
pub fn draw_uniform(seed_hash: &str, j: u64) -> f64 {
    let t = ticket_with_seed_hash(seed_hash, &j.to_string());
    let head: u64 = t[..18]
        .bytes()
        .fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0'));
    // Exact as a ratio of two integers below 2^60; the division rounds once, the same everywhere.
    #[allow(clippy::cast_precision_loss)]
    let x = head as f64 / 1e18;
    x
}

/// A 256-bit big-endian number written in decimal, without leading zeros ("0" for zero).
fn decimal(bytes: &[u8; 32]) -> String {
    let mut limbs = [0u64; 4];
    for (i, chunk) in bytes.chunks(8).enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        limbs[i] = u64::from_be_bytes(b);
    }
    const CHUNK: u64 = 10_000_000_000_000_000_000; // 10^19
    let mut parts = Vec::new();
    while limbs.iter().any(|&l| l != 0) {
        let mut rem: u128 = 0;
        for l in &mut limbs {
            let cur = (rem << 64) | u128::from(*l);
            *l = u64::try_from(cur / u128::from(CHUNK)).unwrap_or(u64::MAX);
            rem = cur % u128::from(CHUNK);
        }
        parts.push(u64::try_from(rem).unwrap_or(0));
    }
    let Some((last, rest)) = parts.split_last() else {
        return "0".into();
    };
    let mut s = last.to_string();
    for p in rest.iter().rev() {
        s.push_str(&format!("{p:019}"));
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // Vectors from Rivest's consistent_sampler: the docstring of `first_fraction`
    // (consistent_sampler.py) and USAGE_EXAMPLES.md, Examples 1, 4 and 5
    // (github.com/ron-rivest/consistent_sampler).
    #[test]
    fn ticket_matches_the_reference_docstring() {
        let t = ticket("01382438112797316654", "AB-130");
        assert_eq!(
            t,
            "26299714122838008416507544297546663599715395525154425586041245287750224561854"
        );
    }

    #[test]
    fn shuffle_of_four_letters_with_seed_31() {
        assert_eq!(
            consistent_order("31", ["a", "b", "c", "d"]),
            ["b", "a", "d", "c"]
        );
    }

    #[test]
    fn first_ten_of_a_hundred_with_seed_41() {
        let ids: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        let order = consistent_order("41", ids.iter().map(String::as_str));
        assert_eq!(
            order[..10],
            ["73", "51", "17", "58", "38", "42", "39", "20", "11", "67"]
        );
        // Example 4 prints the first ticket as 0.000508333.
        assert!(ticket("41", "73").starts_with("000508333"));
    }

    // Vectors from the doctests of the packaged reference, the one Arlo installs
    // (pkg/consistent_sampler/consistent_sampler.py in github.com/ron-rivest/consistent_sampler):
    // `sha256_uniform("abc")`, `make_ticket_heap(['dog', 'cat', 'fish', 'goat'],
    // 'xy()134!g2n')` and `sampler(['ab-1', 'ab-2', 'cd-1', 'ef-3'], seed=314159)` (tickets
    // there trimmed to nine digits after the leading nines: `trim(x, 9)`).
    #[test]
    fn sha256_uniform_of_abc() {
        // `sha256_uniform(x)` is the ticket construction applied to `x` itself: an empty seed
        // hash prefix leaves `x` alone.
        assert_eq!(
            ticket_with_seed_hash("", "abc"),
            "56998071861792858926477341561059638840106636224182943832566300809078486324348"
        );
    }

    #[test]
    fn ticket_heap_of_four_animals() {
        let seed = "xy()134!g2n";
        let want = [
            (
                "cat",
                "24866413894129579898796850445568128508290132707747976039848637531569373309555",
            ),
            (
                "dog",
                "33886035615681875183111698317327684455682722683976874746986356932751818935066",
            ),
            (
                "fish",
                "74685932088827950509145941729789143204056041958068799542050396198792954500593",
            ),
            (
                "goat",
                "49599842072022713663423753308080171636735689997237236247068925068573448764387",
            ),
        ];
        for (id, t) in want {
            assert_eq!(ticket(seed, id), t, "{id}");
        }
        assert_eq!(
            consistent_order(seed, ["dog", "cat", "fish", "goat"]),
            ["cat", "dog", "goat", "fish"]
        );
    }

    #[test]
    fn sampler_without_replacement_with_an_integer_seed() {
        // `seed=314159` is used through `str(seed)`.
        let order = consistent_order("314159", ["ab-1", "ab-2", "cd-1", "ef-3"]);
        assert_eq!(order, ["cd-1", "ef-3", "ab-1", "ab-2"]);
        // `trim(x, 9)`: nine significant digits after the leading nines.
        let trimmed = |t: String| {
            let nines = t.bytes().take_while(|&b| b == b'9').count();
            t[..nines + 9].to_owned()
        };
        let got: Vec<String> = order
            .iter()
            .map(|id| trimmed(ticket("314159", id)))
            .collect();
        assert_eq!(got, ["317685817", "832984519", "9098039269", "9231549043"]);
    }

    #[test]
    fn decimal_conversion_of_edge_values() {
        assert_eq!(decimal(&[0; 32]), "0");
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(decimal(&one), "1");
        assert_eq!(
            decimal(&[0xff; 32]),
            "115792089237316195423570985008687907853269984665640564039457584007913129639935"
        );
    }

    #[test]
    fn seeds_need_twenty_digits() {
        assert!(check_seed("12345678901234567890").is_ok());
        let short = check_seed("1234567890123456789").unwrap_err().to_string();
        assert!(short.contains("at least 20"), "{short}");
        assert!(check_seed("1234567890123456789x").is_err());
    }

    #[test]
    fn draws_are_uniform_numbers_below_one() {
        let h = sha256_hex("12345678901234567890");
        let xs: Vec<f64> = (1..=200).map(|j| draw_uniform(&h, j)).collect();
        assert!(xs.iter().all(|&x| (0.0..1.0).contains(&x)));
        let mean = xs.iter().sum::<f64>() / 200.0;
        assert!((0.4..0.6).contains(&mean), "{mean}");
        assert_eq!(draw_uniform(&h, 7), draw_uniform(&h, 7));
    }
}
