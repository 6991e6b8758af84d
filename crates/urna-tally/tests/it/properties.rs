//! Properties every seat allocation must have (as Abacus fuzzes its apportionment).

use proptest::prelude::*;
use urna_tally::seats::{DistrictId, ListId, ListInfo, VoteInput, Votes, allocate};

use crate::support::{seats_in_order, single_district, votes};

const DIVISOR_METHODS: [&str; 3] = ["dhondt", "sainte_lague", "modified_sainte_lague"];
const ALL_METHODS: [&str; 5] = [
    "dhondt",
    "sainte_lague",
    "modified_sainte_lague",
    "hare",
    "droop",
];

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    }
}

fn vote_vectors() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(1u64..200_000, 2..9)
}

proptest! {
    #![proptest_config(config())]

    /// Seats always add up to the house size, whatever the method and threshold.
    #[test]
    fn seats_sum_to_the_house_size(
        counts in vote_vectors(),
        seats in 1u32..60,
        method in 0usize..5,
        threshold in prop::sample::select(vec![None, Some("3%"), Some("5%")]),
    ) {
        let rules = single_district(ALL_METHODS[method], seats, threshold);
        match allocate(&rules, &votes(&counts)) {
            Ok(result) => {
                let total: u32 = result.seats.values().map(|s| s.0).sum();
                prop_assert_eq!(total, seats);
            }
            // Only acceptable failure: nobody passes the threshold.
            Err(e) => prop_assert!(threshold.is_some(), "{e}"),
        }
    }

    /// Under a divisor method, a list never loses seats when only its own votes rise.
    #[test]
    fn a_list_never_loses_seats_when_only_its_votes_rise(
        counts in vote_vectors(),
        seats in 1u32..60,
        method in 0usize..3,
        pick in any::<prop::sample::Index>(),
        extra in 1u64..100_000,
    ) {
        let rules = single_district(DIVISOR_METHODS[method], seats, Some("3%"));
        let i = pick.index(counts.len());
        let mut more = counts.clone();
        more[i] += extra;
        let (Ok(before), Ok(after)) = (allocate(&rules, &votes(&counts)), allocate(&rules, &votes(&more))) else {
            return Ok(());
        };
        let name = format!("L{i}");
        prop_assert!(after.seats_of(&name) >= before.seats_of(&name));
    }

    /// Renaming (permuting) the lists moves seats with the votes; only a reported tie-break
    /// may decide differently.
    #[test]
    fn permuting_lists_changes_nothing_but_the_tie_break(
        counts in vote_vectors(),
        seats in 1u32..60,
        method in 0usize..5,
        shuffle in any::<u64>(),
    ) {
        let rules = single_district(ALL_METHODS[method], seats, None);
        let n = counts.len();
        let mut perm: Vec<usize> = (0..n).collect();
        let len = perm.len();
        perm.rotate_left(usize::try_from(shuffle % len as u64).unwrap());
        let permuted: Vec<u64> = perm.iter().map(|&j| counts[j]).collect();
        let a = allocate(&rules, &votes(&counts)).unwrap();
        let b = allocate(&rules, &votes(&permuted)).unwrap();
        if a.tie_breaks().count() == 0 && b.tie_breaks().count() == 0 {
            let sa = seats_in_order(&a, n);
            let sb = seats_in_order(&b, n);
            for (pos, &j) in perm.iter().enumerate() {
                prop_assert_eq!(sb[pos], sa[j]);
            }
        }
    }

    /// Lists below the threshold get no seat.
    #[test]
    fn lists_below_the_threshold_get_nothing(
        counts in vote_vectors(),
        seats in 1u32..60,
        method in 0usize..5,
    ) {
        let rules = single_district(ALL_METHODS[method], seats, Some("5%"));
        let total: u64 = counts.iter().sum();
        let Ok(result) = allocate(&rules, &votes(&counts)) else { return Ok(()); };
        for (i, &v) in counts.iter().enumerate() {
            if v * 100 < 5 * total {
                prop_assert_eq!(result.seats_of(&format!("L{i}")).0, 0);
            }
        }
    }

    /// Multiplying every count by the same constant changes nothing (the Droop quota is rounded,
    /// so it is left out).
    #[test]
    fn scaling_all_votes_changes_nothing(
        counts in vote_vectors(),
        seats in 1u32..60,
        method in 0usize..4,
        factor in 2u64..1000,
    ) {
        let rules = single_district(ALL_METHODS[method], seats, Some("3%"));
        let scaled: Vec<u64> = counts.iter().map(|v| v * factor).collect();
        let a = allocate(&rules, &votes(&counts));
        let b = allocate(&rules, &votes(&scaled));
        match (a, b) {
            (Ok(a), Ok(b)) => prop_assert_eq!(seats_in_order(&a, counts.len()), seats_in_order(&b, counts.len())),
            (Err(_), Err(_)) => {}
            (a, b) => prop_assert!(false, "{a:?} vs {b:?}"),
        }
    }

    /// The reported margins are exact: losing `lose_one_seat` votes costs the list a seat
    /// (unless a tie-break saves it at exactly equal quotients), losing one vote fewer does not;
    /// gaining `gain_one_seat` votes wins one.
    #[test]
    fn reported_margins_are_exact(
        counts in vote_vectors(),
        seats in 1u32..40,
        method in 0usize..3,
    ) {
        let rules = single_district(DIVISOR_METHODS[method], seats, None);
        let base = allocate(&rules, &votes(&counts)).unwrap();
        let sens = base.contests[0].sensitivity.clone().unwrap();
        for m in &sens.lists {
            let i: usize = m.list.as_str()[1..].parse().unwrap();
            let name = m.list.as_str();
            if let Some(lose) = &m.lose_one_seat {
                let mut fewer = counts.clone();
                fewer[i] -= lose.votes.0;
                let after = allocate(&rules, &votes(&fewer)).unwrap();
                prop_assert!(after.seats_of(name) < base.seats_of(name), "lose {lose:?}");
                let mut almost = counts.clone();
                almost[i] -= lose.votes.0 - 1;
                let after = allocate(&rules, &votes(&almost)).unwrap();
                prop_assert!(after.seats_of(name) == base.seats_of(name) || after.tie_breaks().count() > 0);
            }
            if let Some(gain) = &m.gain_one_seat {
                let mut more = counts.clone();
                more[i] += gain.votes.0;
                let after = allocate(&rules, &votes(&more)).unwrap();
                prop_assert!(after.seats_of(name) > base.seats_of(name), "gain {gain:?}");
                if gain.votes.0 > 1 {
                    let mut almost = counts.clone();
                    almost[i] += gain.votes.0 - 1;
                    let after = allocate(&rules, &votes(&almost)).unwrap();
                    prop_assert!(after.seats_of(name) == base.seats_of(name) || after.tie_breaks().count() > 0);
                }
            }
        }
    }
}

/// The same allocation over lists declared in a different order is byte-identical.
#[test]
fn declaration_order_does_not_matter() {
    let rules = single_district("sainte_lague", 10, None);
    let mut a = VoteInput::default();
    let mut b = VoteInput::default();
    let all = DistrictId::new("all");
    let lists = [("X", 500), ("Y", 300), ("Z", 200)];
    for (l, v) in lists {
        a.declare_list(ListId::new(l), ListInfo::default());
        a.add_votes(&all, &ListId::new(l), Votes(v)).unwrap();
    }
    for (l, v) in lists.iter().rev() {
        b.declare_list(ListId::new(*l), ListInfo::default());
        b.add_votes(&all, &ListId::new(*l), Votes(*v)).unwrap();
    }
    assert_eq!(
        allocate(&rules, &a).unwrap().explain_text(),
        allocate(&rules, &b).unwrap().explain_text()
    );
}
