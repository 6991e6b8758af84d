//! How many votes would move a seat: the marginal-seat margins of a divisor-method contest.
//!
//! # What is computed
//! Everything holds the other lists' votes fixed and the set of competing lists fixed (a
//! threshold that a change of votes would cross is not modelled; compare with the threshold
//! section of the explanation). So a margin is no answer to "could these votes move a seat"
//! on its own: a list just above a national threshold loses every seat when it falls below
//! it, or when others' new votes raise the threshold's base, in any district: that question is
//! [`super::repeat_vote`]'s. "Move" means strictly: at one vote less than the margin the
//! quotients would be equal and the contest's tie-break rule would decide.
//!
//! - **Per seat** (`seats`): for seat `j` of list `a` (its `j`-th quotient `vₐ / dⱼ`), the
//!   seat is held while that quotient beats the `(S − j + 1)`-th highest quotient `o` of the
//!   other lists (then `a` has at least `j` seats). The margin is the smallest `x` with
//!   `(vₐ − x) / dⱼ < o`, that is `x = vₐ − ⌈o × dⱼ⌉ + 1`, and `moves_to` is the owner of `o`.
//!   For a list's last seat this is the classic "last winner against first loser".
//! - **Per list** (`lists`): `lose_one_seat` is the per-seat margin of the list's last seat;
//!   `gain_one_seat` is the smallest `y` with `(v_b + y) / d_next > w`, where `d_next` is the
//!   list's next divisor and `w` the lowest winning quotient of the other lists: `y = ⌊w × d_next⌋
//!   + 1 − v_b`, with `from` the owner of `w`.
//!
//! Contests with struck quotients (compensatory seats) and largest remainder methods have no
//! margins: there the seat count is not a monotone function of one list's votes in one contest.

use std::collections::BTreeMap;

use serde::Serialize;

use super::method::{DIVISOR_SCALE, Row, RowStatus, cmp_desc};
use super::types::{ListId, Seats, Votes};

/// The margins of one contest (see the module docs for the exact definitions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sensitivity {
    /// One entry per competing list.
    pub lists: Vec<ListMargin>,
    /// One entry per seat, in seat order.
    pub seats: Vec<SeatMargin>,
}

/// The margins of one list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListMargin {
    /// The list.
    pub list: ListId,
    /// Seats it won in the contest.
    pub seats: Seats,
    /// Votes it must lose to lose one seat, and who would take it.
    pub lose_one_seat: Option<Margin>,
    /// Votes it must gain to win one more seat, and from whom.
    pub gain_one_seat: Option<Margin>,
}

/// The margin of one seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeatMargin {
    /// 1-based seat number in the contest.
    pub seat: u32,
    /// The list holding it.
    pub list: ListId,
    /// Which of the list's quotients won it (1-based).
    pub index: u32,
    /// Votes the holder must lose for this seat to move, and who would take it.
    pub lose: Option<Margin>,
}

/// A vote margin and the other list involved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Margin {
    /// The number of votes.
    pub votes: Votes,
    /// The list that would take (or give up) the seat.
    pub other: ListId,
}

/// The `n`-th (0-based) row of `ranked` not at one of `own` (ascending positions of one list).
///
/// With `m` of the list's rows before it, that row stands at `n + m`; `own[i] - i` is
/// non-decreasing, so `m` is the number of `i` with `own[i] - i <= n`.
fn nth_of_others<'a>(ranked: &'a [Row], own: &[usize], n: usize) -> Option<&'a Row> {
    let (mut lo, mut hi) = (0, own.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if own[mid] - mid <= n {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    ranked.get(n + lo)
}

/// Margins from the ranked (competing) rows of a divisor contest whose first `seats` rows won.
pub(crate) fn divisor_margins(
    ranked: &[Row],
    seats: u32,
    votes_of: &BTreeMap<&ListId, Votes>,
) -> Sensitivity {
    let s = seats as usize;
    // Where each list's rows stand in `ranked`, so that the n-th row of the other lists is
    // found by a binary search rather than a scan (a scan per seat is quadratic in the seats).
    let mut positions: BTreeMap<&ListId, Vec<usize>> = BTreeMap::new();
    for (i, r) in ranked.iter().enumerate() {
        positions.entry(&r.list).or_default().push(i);
    }
    let mut seat_margins = Vec::with_capacity(s);
    for row in ranked.iter().take(s) {
        let RowStatus::Won { seat } = row.status else {
            continue;
        };
        let j = row.index as usize;
        // The (S − j + 1)-th highest quotient of the other lists.
        let other = nth_of_others(ranked, &positions[&row.list], s.saturating_sub(j));
        let lose = other.map(|o| {
            let votes = votes_of.get(&row.list).copied().unwrap_or_default();
            // (v − x) × DIVISOR_SCALE / d_j < o.num / o.den  ⇔  v − x < o.num × d_j / (o.den × 10)
            let limit_num = o.numerator * row.denominator;
            let limit_den = o.denominator * u128::from(DIVISOR_SCALE);
            let ceil = limit_num.div_ceil(limit_den);
            let x = u128::from(votes.0).saturating_sub(ceil) + 1;
            Margin {
                votes: Votes(u64::try_from(x).unwrap_or(u64::MAX)),
                other: o.list.clone(),
            }
        });
        seat_margins.push(SeatMargin {
            seat,
            list: row.list.clone(),
            index: row.index,
            lose,
        });
    }
    // Per list, from one pass each (a scan of the table per list is quadratic in lists): its
    // seats and last seat's margin, and its first quotient not elected.
    let mut won_by: BTreeMap<&ListId, (u32, &SeatMargin)> = BTreeMap::new();
    for m in &seat_margins {
        let e = won_by.entry(&m.list).or_insert((0, m));
        e.0 += 1;
        if m.index >= e.1.index {
            e.1 = m;
        }
    }
    let mut first_lost: BTreeMap<&ListId, &Row> = BTreeMap::new();
    for r in ranked.iter().filter(|r| r.status == RowStatus::Lost) {
        first_lost.entry(&r.list).or_insert(r);
    }
    // The elected quotients run from highest to lowest, so the lowest of the other lists is
    // their last one; the first of its equals is the one a scan for the minimum would find.
    let top = &ranked[..s.min(ranked.len())];
    let mut block_start = vec![0; top.len()];
    for i in 1..top.len() {
        block_start[i] = if cmp_desc(&top[i - 1], &top[i]) == std::cmp::Ordering::Equal {
            block_start[i - 1]
        } else {
            i
        };
    }
    let mut lists = Vec::new();
    for (&list, &votes) in votes_of {
        let (won, last) = won_by.get(list).map_or((0, None), |&(n, m)| (n, Some(m)));
        let lose_one_seat = last.and_then(|m| m.lose.clone());
        let next = first_lost.get(list).copied();
        let lowest_other_winner = top.iter().rposition(|r| &r.list != list).and_then(|last| {
            top[block_start[last]..=last]
                .iter()
                .find(|r| &r.list != list)
        });
        let gain_one_seat = match (next, lowest_other_winner) {
            (Some(n), Some(w)) => {
                // (v + y) × 10 / d_next > w.num / w.den  ⇔  v + y > w.num × d_next / (w.den × 10)
                let floor =
                    (w.numerator * n.denominator) / (w.denominator * u128::from(DIVISOR_SCALE));
                let y = (floor + 1).saturating_sub(u128::from(votes.0)).max(1);
                Some(Margin {
                    votes: Votes(u64::try_from(y).unwrap_or(u64::MAX)),
                    other: w.list.clone(),
                })
            }
            _ => None,
        };
        lists.push(ListMargin {
            list: list.clone(),
            seats: Seats(won),
            lose_one_seat,
            gain_one_seat,
        });
    }
    Sensitivity {
        lists,
        seats: seat_margins,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn row(list: &str) -> Row {
        Row {
            list: ListId::new(list),
            index: 1,
            divisor: String::new(),
            dividend: 0,
            quotient: String::new(),
            status: RowStatus::Lost,
            tie_break: false,
            numerator: 0,
            denominator: 1,
        }
    }

    proptest! {
        /// The binary search finds the row the plain scan finds.
        #[test]
        fn nth_of_others_is_the_scan(lists in prop::collection::vec(0u8..4, 0..60), n in 0usize..70) {
            let ranked: Vec<Row> = lists.iter().map(|l| row(&l.to_string())).collect();
            for l in 0u8..4 {
                let list = ListId::new(l.to_string());
                let own: Vec<usize> = ranked
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.list == list)
                    .map(|(i, _)| i)
                    .collect();
                let scan = ranked.iter().filter(|r| r.list != list).nth(n);
                let found = nth_of_others(&ranked, &own, n);
                prop_assert_eq!(scan.map(|r| r as *const Row), found.map(|r| r as *const Row));
            }
        }
    }
}
