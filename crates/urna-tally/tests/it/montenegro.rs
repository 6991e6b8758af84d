//! Montenegro's Croatian seat (the official results of 2016, 2020 and 2023 are checked in
//! `official.rs`).
use urna_tally::seats::{Allocation, ListId, RuleSet, VoteInput, allocate};

use crate::official::official_dir;

/// The votes of a vector of `tests/data/official/`.
fn official(name: &str) -> VoteInput {
    let text = std::fs::read_to_string(official_dir().join(format!("{name}.toml"))).unwrap();
    VoteInput::from_toml(&text).unwrap()
}

fn allocate_montenegro(input: &VoteInput) -> Allocation {
    allocate(&RuleSet::builtin("montenegro").unwrap(), input).unwrap()
}

/// The Croatian list keeps its seat at every share from 0.35 % up: reaching the 0.7 % of a
/// collective list must not cost it the seat it had with fewer votes.
#[test]
fn croatian_seat_is_kept_when_the_list_reaches_the_pool_share() {
    let input = official("montenegro-2023");
    for hgi in [1_100, 2_000, 2_100, 2_226, 2_500, 3_000, 3_500] {
        let mut more = input.clone();
        more.districts.values_mut().next().unwrap().votes.insert(
            urna_tally::seats::ListId::new("HGI"),
            urna_tally::seats::Votes(hgi),
        );
        let a = allocate_montenegro(&more);
        assert_eq!(
            a.seats_of("HGI").0,
            1,
            "HGI with {hgi} votes\n{}",
            a.explain_text()
        );
        assert_eq!(a.seats.values().map(|s| s.0).sum::<u32>(), 81);
    }
}

/// The seat table lists the most votes first and rounds shares exactly as `urna tally` does
/// (half up): PES has 77,203 of 302,436 votes = 25.5271… %, shown as 25.53 %.
#[test]
fn seat_table_is_sorted_by_votes_and_rounds_shares_half_up() {
    let input = official("montenegro-2023");
    let text = allocate_montenegro(&input).summary_text();
    let lists: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("list"))
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .take_while(|&l| l != "total")
        .collect();
    assert_eq!(
        lists,
        [
            "PES",
            "ZAJEDNO",
            "ZBCG",
            "HRABRO",
            "BS",
            "SNP_DEMOS",
            "SDP",
            "PRAVDA",
            "AF",
            "PREOKRET",
            "AA",
            "NK",
            "HGI",
            "PZP",
            "MOZEMO"
        ],
        "{text}"
    );
    let pes = text
        .lines()
        .find(|l| l.trim_start().starts_with("PES"))
        .unwrap();
    assert!(pes.contains(" 25.53% "), "{pes}");
    assert!(pes.contains(&format!(
        " {}% ",
        urna_tally::totals::percent(77_203, 302_436)
    )));
}

/// The explanation shows only what competed: the Croatian list that took the guaranteed seat is
/// not a collective list in the ordinary contest, and a pool that won no seat shows its next
/// quotient but no "cap" row (its cap of three never stopped it).
#[test]
fn explanation_lists_only_entries_that_could_take_a_seat() {
    let input = official("montenegro-2023");
    let text = allocate_montenegro(&input).explain_text();
    assert!(!text.contains("pool:croat"), "{text}");
    assert!(
        text.contains(
            "note: HGI (as one collective list) competed for the 81 ordinary seats and won none"
        ),
        "{text}"
    );

    let small = VoteInput::from_toml(
        r#"
[lists.A]
[lists.B]
[lists.AF]
community = "albanian"
[districts.montenegro]
votes = { A = 60000, B = 39000, AF = 800 }
"#,
    )
    .unwrap();
    let a = allocate_montenegro(&small);
    assert_eq!(a.seats_of("AF").0, 0);
    let text = a.explain_text();
    let pool_rows: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("pool:albanian  "))
        .collect();
    assert!(pool_rows.iter().any(|l| l.ends_with("next")), "{text}");
    assert!(!text.contains("cap"), "{text}");
}

/// Montenegro 2023 with the Albanian lists AF and AA holding only `af` and `aa` candidates.
fn albanian_candidates(af: u32, aa: u32) -> VoteInput {
    let mut input = official("montenegro-2023");
    let d = input.districts.values_mut().next().unwrap();
    d.candidates.insert(ListId::new("AF"), af);
    d.candidates.insert(ListId::new("AA"), aa);
    input
}

/// Art. 97: a collective list whose lists run out of candidates passes its further seats to the
/// next quotient; the allocation does not fail. In 2023 the Albanian collective list wins 3 seats
/// (2 : 1); with one candidate between AF and AA it keeps one and the other two go on.
#[test]
fn collective_list_out_of_candidates_passes_its_seats_on() {
    let a = allocate_montenegro(&albanian_candidates(1, 0));
    assert_eq!(a.seats_of("AF").0, 1, "{}", a.explain_text());
    assert_eq!(a.seats_of("AA").0, 0);
    assert_eq!(a.seats.values().map(|s| s.0).sum::<u32>(), 81);
    assert_eq!(a.unfilled_seats.0, 0);
    // The two seats went to the next quotients, among the ordinary lists.
    let official = allocate_montenegro(&official("montenegro-2023"));
    let gained: u32 = ["PES", "ZAJEDNO", "ZBCG", "HRABRO", "BS", "SNP_DEMOS"]
        .iter()
        .map(|l| a.seats_of(l).0 - official.seats_of(l).0)
        .sum();
    assert_eq!(gained, 2, "{}", a.explain_text());

    // Enough candidates between them: the 2023 result stands, whoever holds them.
    let a = allocate_montenegro(&albanian_candidates(2, 1));
    assert_eq!((a.seats_of("AF").0, a.seats_of("AA").0), (2, 1));
    let a = allocate_montenegro(&albanian_candidates(1, 5));
    assert_eq!((a.seats_of("AF").0, a.seats_of("AA").0), (1, 2));
}

/// Art. 94 para. 2 item 2 with art. 97: the Croatian seat goes to a list that can fill it. HGI
/// without a candidate takes no seat, and the house keeps its 81 seats.
#[test]
fn croatian_seat_is_not_given_to_a_list_without_candidates() {
    let mut input = official("montenegro-2023");
    let d = input.districts.values_mut().next().unwrap();
    d.candidates.insert(ListId::new("HGI"), 0);
    let a = allocate_montenegro(&input);
    assert_eq!(a.seats_of("HGI").0, 0, "{}", a.explain_text());
    assert_eq!(a.house_seats.0, 81, "{}", a.explain_text());
    assert_eq!(a.seats.values().map(|s| s.0).sum::<u32>(), 81);
    assert_eq!(a.unfilled_seats.0, 0);

    // A second Croatian list over 0.35 % with candidates takes the seat in HGI's place.
    let mut input = official("montenegro-2023");
    input.lists.insert(
        ListId::new("HGI2"),
        input.lists[&ListId::new("HGI")].clone(),
    );
    let d = input.districts.values_mut().next().unwrap();
    d.candidates.insert(ListId::new("HGI"), 0);
    d.votes
        .insert(ListId::new("HGI2"), urna_tally::seats::Votes(1_100));
    let a = allocate_montenegro(&input);
    assert_eq!((a.seats_of("HGI").0, a.seats_of("HGI2").0), (0, 1));
    // Only the list that took it is recorded as taking the guaranteed seat.
    let took: Vec<&str> = a
        .thresholds
        .iter()
        .filter(|t| t.outcome == urna_tally::seats::ThresholdOutcome::GuaranteedSeat)
        .map(|t| t.list.0.as_str())
        .collect();
    assert_eq!(took, ["HGI2"], "{}", a.explain_text());
    assert_eq!(a.house_seats.0, 81, "{}", a.explain_text());
}

/// A list named like the seat rules' own collective list would be counted as it: refused by name.
#[test]
fn list_ids_reserved_for_the_seat_rules_are_refused() {
    for id in ["pool:albanian", "community:serb"] {
        let mut input = official("montenegro-2023");
        input
            .lists
            .insert(ListId::new(id), input.lists[&ListId::new("PES")].clone());
        let err = allocate(&RuleSet::builtin("montenegro").unwrap(), &input).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("lists.{id}")) && text.contains("may not begin"),
            "{text}"
        );
    }
}
