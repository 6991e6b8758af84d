//! Montenegro: the official results of 2016, 2020 and 2023, and the Croatian seat.

use std::collections::BTreeMap;

use urna_tally::seats::{Allocation, RuleSet, VoteInput, allocate};

/// A vote file of `tests/data/official/` and the seats its `# official-seats = {…}` line states.
fn official(name: &str) -> (VoteInput, BTreeMap<String, u32>) {
    let path = format!(
        "{}/tests/data/official/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("# official-seats = "))
        .unwrap_or_else(|| panic!("{path}: no `# official-seats = {{...}}` line"));
    let seats: BTreeMap<String, u32> = toml::from_str(&format!("s = {line}"))
        .map(|t: BTreeMap<String, BTreeMap<String, u32>>| t["s"].clone())
        .unwrap();
    (VoteInput::from_toml(&text).unwrap(), seats)
}

fn allocate_montenegro(input: &VoteInput) -> Allocation {
    allocate(&RuleSet::builtin("montenegro").unwrap(), input).unwrap()
}

fn assert_official(name: &str) {
    let (input, expected) = official(name);
    let a = allocate_montenegro(&input);
    let got: BTreeMap<String, u32> = a.seats.iter().map(|(l, s)| (l.0.clone(), s.0)).collect();
    assert_eq!(got, expected, "{name}\n{}", a.explain_text());
    assert_eq!(expected.values().sum::<u32>(), 81, "{name}");
}

#[test]
fn montenegro_2016_reproduces_the_official_seats() {
    assert_official("montenegro-2016");
}

#[test]
fn montenegro_2020_reproduces_the_official_seats() {
    assert_official("montenegro-2020");
}

/// 2023: the Croatian list had 0.74 %, over the 0.7 % of a collective list, won no seat as one,
/// and took the Croatian seat.
#[test]
fn montenegro_2023_reproduces_the_official_seats() {
    assert_official("montenegro-2023");
}

/// The Croatian list keeps its seat at every share from 0.35 % up: reaching the 0.7 % of a
/// collective list must not cost it the seat it had with fewer votes.
#[test]
fn croatian_seat_is_kept_when_the_list_reaches_the_pool_share() {
    let (input, _) = official("montenegro-2023");
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
    let (input, _) = official("montenegro-2023");
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
    let (input, _) = official("montenegro-2023");
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
