//! Whether a repeat vote could change the seats (Albania's Electoral Code art. 161): the
//! answer of `repeat_vote` against the law's own question, asked by brute force over every
//! split of the new votes among the lists standing in the district.

use proptest::prelude::*;
use urna_tally::seats::{
    Allocation, DistrictId, ListId, ListInfo, RuleSet, SeatError, VoteInput, Votes, allocate,
    repeat_vote,
};

/// Albania's rule set and the twelve districts, PS 60,000 and PD 42,800 in each but Tirana,
/// where X has 15,000 of the country's 1,495,800 votes: 1.003 %, 42 votes over the 1 %
/// national threshold, and one Tirana seat.
fn albania() -> (RuleSet, VoteInput) {
    let mut text = String::from("[lists.PS]\n[lists.PD]\n[lists.X]\n");
    for d in [
        "Berat",
        "Diber",
        "Durres",
        "Elbasan",
        "Fier",
        "Gjirokaster",
        "Korce",
        "Kukes",
        "Lezhe",
        "Shkoder",
        "Vlore",
    ] {
        text.push_str(&format!(
            "[districts.{d}]\nvotes = {{ PS = 60000, PD = 42800, X = 0 }}\n"
        ));
    }
    text.push_str("[districts.Tirane]\nvotes = { PS = 200000, PD = 150000, X = 15000 }\n");
    (
        RuleSet::builtin("albania").unwrap(),
        VoteInput::from_toml(&text).unwrap(),
    )
}

/// A repeat vote in Berat moves a seat in Tirana: 4,201 new votes raise the national base
/// past 100 × X's votes, X falls below 1 % and its Tirana seat goes to PD, though Berat's
/// own smallest margin is 6,801 votes. 4,200 cannot (X stays at exactly 1 %).
#[test]
fn a_repeat_vote_in_one_district_can_move_a_seat_in_another_through_the_threshold() {
    let (rules, input) = albania();
    let berat = DistrictId::new("Berat");
    let answer = repeat_vote(&rules, &input, &berat, Votes(4_300)).unwrap();
    let change = answer.change.clone().expect("a change");
    assert_eq!(change.votes, Votes(4_201));
    assert!(
        change
            .moved
            .iter()
            .any(|(c, l, b, a)| c == "district Tirane"
                && l.as_str() == "X"
                && b.0 == 1
                && a.0 == 0),
        "{}",
        answer.text()
    );
    assert!(
        answer.text().contains("could change the seats"),
        "{}",
        answer.text()
    );
    let none = repeat_vote(&rules, &input, &berat, Votes(4_200)).unwrap();
    assert_eq!(none.change, None, "{}", none.text());
    assert!(none.text().contains("cannot change the seats"));
}

#[test]
fn rule_sets_it_cannot_decide_and_unknown_districts_are_refused_by_name() {
    let (rules, input) = albania();
    let e = repeat_vote(&rules, &input, &DistrictId::new("Tirana"), Votes(10)).unwrap_err();
    assert!(
        e.to_string().contains("`Tirana`") && e.to_string().contains("Tirane"),
        "{e}"
    );
    let bih = RuleSet::builtin("bosnia-herzegovina").unwrap();
    let e = repeat_vote(&bih, &input, &DistrictId::new("Berat"), Votes(10)).unwrap_err();
    assert!(matches!(e, SeatError::NotModelled { .. }), "{e}");
    assert!(e.to_string().contains("compensatory seats"), "{e}");
}

/// Vote counts near the top of what a vote file holds: an answer or an error, never a panic
/// (a crossing point past `u64::MAX`).
#[test]
fn huge_vote_counts_do_not_overflow() {
    for method in ["dhondt", "sainte_lague"] {
        let rules = two_districts(method, 3, 1);
        let votes = input(&[u64::MAX / 3, 0, 1], &[1, 0, 0]);
        let _ = repeat_vote(&rules, &votes, &DistrictId::new("a"), Votes(u64::MAX / 2));
    }
}

/// Two districts of `seats` each, by `method`, with a national threshold of `threshold` %.
fn two_districts(method: &str, seats: u32, threshold: u32) -> RuleSet {
    RuleSet::from_toml(&format!(
        r#"id = "test"
title = "test"
legal_source = ["test"]
house_seats = {}
method = "{method}"
tie_break = {{ rule = "lot", seed = "test" }}
[threshold]
scope = "national"
party = "{threshold}%"
[[district]]
id = "a"
seats = {seats}
[[district]]
id = "b"
seats = {seats}
"#,
        2 * seats
    ))
    .unwrap()
}

fn input(a: &[u64], b: &[u64]) -> VoteInput {
    let mut input = VoteInput::default();
    for i in 0..3 {
        input.declare_list(ListId::new(format!("L{i}")), ListInfo::default());
    }
    for (d, counts) in [("a", a), ("b", b)] {
        for (i, &v) in counts.iter().enumerate() {
            input
                .add_votes(&DistrictId::new(d), &ListId::new(format!("L{i}")), Votes(v))
                .unwrap();
        }
    }
    input
}

/// A tie decided: its contest and the tied quotients.
type Tie = (String, Vec<(String, u32)>);

/// Seats per contest and list, and the ties decided.
fn seen(a: &Allocation) -> (Vec<(String, String, u32)>, Vec<Tie>) {
    let mut s = Vec::new();
    let mut ties = Vec::new();
    for c in &a.contests {
        for (l, n) in c.seats_by_list() {
            s.push((c.name.clone(), l.as_str().to_owned(), n.0));
        }
        for t in &c.tie_breaks {
            let mut tied: Vec<(String, u32)> = t
                .ranking
                .iter()
                .map(|d| (d.list.as_str().to_owned(), d.index))
                .collect();
            tied.sort();
            ties.push((c.name.clone(), tied));
        }
    }
    s.sort();
    (s, ties)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Over every split of at most `voters` new votes among the three lists of district `a`:
    /// some split changes the seats (or brings a tie that was not there, which the lot could
    /// decide either way) exactly when `repeat_vote`
    /// says so, and never with fewer votes than it names.
    #[test]
    fn the_answer_is_what_every_split_of_the_new_votes_gives(
        a in prop::collection::vec(0u64..60, 3),
        b in prop::collection::vec(0u64..60, 3),
        seats in 1u32..4,
        threshold in 1u32..30,
        method in prop::sample::select(vec!["dhondt", "sainte_lague", "modified_sainte_lague"]),
        voters in 0u64..25,
    ) {
        let rules = two_districts(method, seats, threshold);
        let base_input = input(&a, &b);
        let Ok(base) = allocate(&rules, &base_input) else {
            return Ok(());
        };
        let before = seen(&base);
        let mut fewest: Option<u64> = None;
        for x in 0..=voters {
            for y in 0..=voters - x {
                for z in 0..=voters - x - y {
                    if x + y + z == 0 {
                        continue;
                    }
                    let mut more = base_input.clone();
                    for (i, v) in [x, y, z].into_iter().enumerate() {
                        more.add_votes(&DistrictId::new("a"), &ListId::new(format!("L{i}")), Votes(v)).unwrap();
                    }
                    let changed = match allocate(&rules, &more) {
                        Ok(after) => {
                            let after = seen(&after);
                            after.0 != before.0 || after.1.iter().any(|c| !before.1.contains(c))
                        }
                        Err(_) => true,
                    };
                    if changed {
                        fewest = Some(fewest.map_or(x + y + z, |f| f.min(x + y + z)));
                    }
                }
            }
        }
        let answer = repeat_vote(&rules, &base_input, &DistrictId::new("a"), Votes(voters));
        match answer {
            Ok(r) => prop_assert_eq!(r.change.map(|c| c.votes.0), fewest),
            Err(_) => prop_assert!(fewest.is_some()),
        }
    }
}
