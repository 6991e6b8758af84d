//! Bosnia and Herzegovina, House of Representatives: the Federation's 2022 allocation, and the
//! strict "more than 3 %" constituency threshold of Election Law art. 9.5(3).

use urna_tally::seats::{
    Allocation, ContestKind, DistrictId, ListId, ListInfo, RuleSet, ThresholdOutcome, VoteInput,
    Votes, allocate,
};

/// The Federation's five units.
const FBIH_UNITS: [&str; 5] = ["FBiH-1", "FBiH-2", "FBiH-3", "FBiH-4", "FBiH-5"];

/// The Federation's part of the built-in rule set: its five units and its 7 compensatory seats.
fn federation_rules() -> RuleSet {
    let mut rules = RuleSet::builtin("bosnia-herzegovina").unwrap();
    rules
        .districts
        .retain(|d| d.entity.as_deref() == Some("FBiH"));
    rules.entities.retain(|e| e.id == "FBiH");
    rules.house_seats = Some(28);
    rules
}

/// Votes per list in the Federation's five units, general election of 2 October 2022: the
/// Federation part of `tests/data/official/bosnia-herzegovina-2022.toml`, whose header cites the
/// per-unit sources, the cross-checks with the Central Election Commission's totals and the gaps
/// (the smallest lists of each unit are cut; NES in unit 5 is derived from its national total).
fn federation_2022() -> VoteInput {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/official/bosnia-herzegovina-2022.toml"
    );
    let mut input = VoteInput::from_toml(&std::fs::read_to_string(path).unwrap()).unwrap();
    input
        .districts
        .retain(|d, _| d.as_str().starts_with("FBiH-"));
    input
}

fn seats_in(a: &Allocation, contest: &str, list: &str) -> u32 {
    let c = a.contests.iter().find(|c| c.name == contest).unwrap();
    c.seats_by_list().get(&ListId::new(list)).map_or(0, |s| s.0)
}

/// 2022: 21 constituency + 7 compensatory seats in the Federation, as the CEC certified; the
/// seat of BHI-KF is a constituency seat of unit 4, not a compensatory one (the "29 + 13" of one
/// summary table).
#[test]
fn bosnia_federation_2022_reproduces_21_constituency_and_7_compensatory_seats() {
    let a = allocate(&federation_rules(), &federation_2022()).unwrap();
    let direct: u32 = a
        .contests
        .iter()
        .filter(|c| c.kind == ContestKind::District)
        .map(|c| c.seats.0)
        .sum();
    assert_eq!(direct, 21);
    // Per unit, as the unit tables show them.
    let units: [(&str, &[(&str, u32)]); 5] = [
        ("district FBiH-1", &[("SDA", 1), ("NES", 1), ("SDP", 1)]),
        ("district FBiH-2", &[("HDZ", 2), ("SDA", 1)]),
        (
            "district FBiH-3",
            &[("NIP", 1), ("SDA", 1), ("NS", 1), ("SDP", 1)],
        ),
        (
            "district FBiH-4",
            &[("SDA", 2), ("HDZ", 1), ("SDP", 1), ("DF", 1), ("BHI", 1)],
        ),
        ("district FBiH-5", &[("SDA", 2), ("SDP", 2), ("DF", 1)]),
    ];
    for (unit, expected) in units {
        for &(list, seats) in expected {
            assert_eq!(seats_in(&a, unit, list), seats, "{unit} {list}");
        }
    }
    // Compensatory: NiP 2, DF, HDZ, NS, SDA, NES 1 each (n1info.hr totals less the unit seats).
    for (list, seats) in [
        ("NIP", 2),
        ("DF", 1),
        ("HDZ", 1),
        ("NS", 1),
        ("SDA", 1),
        ("NES", 1),
        ("BHI", 0),
        ("SDP", 0),
    ] {
        assert_eq!(
            seats_in(&a, "compensatory FBiH", list),
            seats,
            "compensatory {list}"
        );
    }
    // Totals from the Federation: SDA 8, SDP 5, HDZ 4, DF 3, NiP 3, NS 2, NES 2, BHI-KF 1.
    for (list, seats) in [
        ("SDA", 8),
        ("SDP", 5),
        ("HDZ", 4),
        ("DF", 3),
        ("NIP", 3),
        ("NS", 2),
        ("NES", 2),
        ("BHI", 1),
        ("HDZ1990", 0),
    ] {
        assert_eq!(a.seats_of(list).0, seats, "{list}");
    }
    assert_eq!(a.house_seats.0, 28);
    let bhi = a
        .thresholds
        .iter()
        .find(|t| t.list.as_str() == "BHI" && t.scope == "entity FBiH")
        .unwrap();
    assert_eq!(bhi.outcome, ThresholdOutcome::Failed);
}

/// Art. 9.5(3): a list needs *more than* 3 % of the constituency's valid ballots; exactly 3 % is
/// cut, one vote more passes. Synthetic numbers.
#[test]
fn bosnia_constituency_threshold_is_more_than_three_percent() {
    let rules = federation_rules();
    let base_votes = |c_votes: u64| {
        let mut input = VoteInput::default();
        for list in ["A", "B", "C"] {
            input.declare_list(ListId::new(list), ListInfo::default());
        }
        for unit in FBIH_UNITS {
            let d = DistrictId::new(unit);
            input
                .add_votes(&d, &ListId::new("A"), Votes(60_000))
                .unwrap();
            input
                .add_votes(&d, &ListId::new("B"), Votes(37_000))
                .unwrap();
        }
        // Unit 1 has 3 seats; C's 3,000 of 100,000 is exactly 3 %.
        let d1 = DistrictId::new("FBiH-1");
        input
            .add_votes(&d1, &ListId::new("C"), Votes(c_votes))
            .unwrap();
        input
    };
    let cut = allocate(&rules, &base_votes(3_000)).unwrap();
    let check = |a: &Allocation| {
        a.thresholds
            .iter()
            .find(|t| t.list.as_str() == "C" && t.scope == "district FBiH-1")
            .unwrap()
            .clone()
    };
    let at = check(&cut);
    assert_eq!(at.outcome, ThresholdOutcome::Failed);
    assert_eq!(at.threshold, "more than 3%");
    assert_eq!(at.needed, Votes(3_001));
    assert!(cut.explain_text().contains("needs more than 3% of"));
    let mut with_one_more = base_votes(3_000);
    with_one_more
        .add_votes(&DistrictId::new("FBiH-1"), &ListId::new("C"), Votes(1))
        .unwrap();
    // 3,001 of 100,001 is more than 3 %.
    let passed = allocate(&rules, &with_one_more).unwrap();
    assert_eq!(check(&passed).outcome, ThresholdOutcome::Passed);
}

/// An independent candidate (`kind = "independent"`) with the most votes of unit 1 and a
/// seventh of the Federation's votes: one seat, in the unit (one person, whatever the
/// quotients say), and no compensatory seat (art. 9.6 gives those to parties and coalitions);
/// the seven go to the parties, and the explanation says why the independent has none. As a
/// party the same votes take compensatory seats.
#[test]
fn an_independent_candidate_takes_one_seat_and_no_compensatory_seats() {
    let rules = federation_rules();
    let votes = |kind: &str| {
        let mut text = format!("[lists.A]\n[lists.B]\n[lists.IND]\nkind = \"{kind}\"\n");
        for unit in FBIH_UNITS {
            let ind = if unit == "FBiH-1" {
                ", IND = 90000"
            } else {
                ""
            };
            text.push_str(&format!(
                "[districts.\"{unit}\"]\nvotes = {{ A = 60000, B = 37000{ind} }}\n"
            ));
        }
        VoteInput::from_toml(&text).unwrap()
    };
    let a = allocate(&rules, &votes("independent")).unwrap();
    assert_eq!(seats_in(&a, "district FBiH-1", "IND"), 1);
    assert_eq!(seats_in(&a, "compensatory FBiH", "IND"), 0);
    assert_eq!(
        seats_in(&a, "compensatory FBiH", "A") + seats_in(&a, "compensatory FBiH", "B"),
        7
    );
    assert_eq!(a.seats_of("IND").0, 1);
    assert!(
        a.explain_text().contains(
            "not eligible: IND with 90000 votes: an independent candidate: compensatory seats go to parties and coalitions"
        ),
        "{}",
        a.explain_text()
    );
    let as_party = allocate(&rules, &votes("party")).unwrap();
    assert!(as_party.seats_of("IND").0 > 1);
}
