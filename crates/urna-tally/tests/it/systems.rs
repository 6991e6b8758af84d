//! The built-in rule sets on small elections computed by hand.

use urna_tally::seats::{ContestKind, RuleSet, ThresholdOutcome, VoteInput, allocate};

fn total(a: &urna_tally::seats::Allocation) -> u32 {
    a.seats.values().map(|s| s.0).sum()
}

/// Kosovo: 100 ordinary seats among majority lists over 5 %, 20 set aside for communities, and
/// the fourth Roma/Ashkali/Egyptian seat to the community with most votes.
#[test]
fn kosovo_sets_aside_twenty_community_seats_and_the_bonus_seat() {
    let input = VoteInput::from_toml(
        r#"
[lists.VV]
[lists.PDK]
[lists.LDK]
[lists.AAK]
[lists.SMALL]
[lists.SL]
community = "serb"
[lists.SERB2]
community = "serb"
[lists.ROMA]
community = "roma"
[lists.ASHKALI]
community = "ashkali"
[lists.EGYPT]
community = "egyptian"
[lists.BOS1]
community = "bosniak"
[lists.BOS2]
community = "bosniak"
[lists.TUR]
community = "turkish"
[lists.GOR]
community = "gorani"
[districts.kosovo]
votes = { VV = 500000, PDK = 170000, LDK = 130000, AAK = 70000, SMALL = 20000, SL = 40000, SERB2 = 2000, ROMA = 1500, ASHKALI = 1800, EGYPT = 1200, BOS1 = 5000, BOS2 = 3000, TUR = 4000, GOR = 1000 }
"#,
    )
    .unwrap();
    // The ordinary seats by D'Hondt (Law 08/L-228) and by Sainte-Laguë (Law 03/L-073): VV has
    // 500000 of the 870000 votes of majority lists over 5 %.
    for (rules, vv) in [("kosovo", 58), ("kosovo-2021", 57)] {
        kosovo_community_seats(&RuleSet::builtin(rules).unwrap(), &input, vv);
    }
}

fn kosovo_community_seats(rules: &RuleSet, input: &VoteInput, vv: u32) {
    let a = allocate(rules, input).unwrap();
    assert_eq!(total(&a), 120);
    let majority: u32 = ["VV", "PDK", "LDK", "AAK", "SMALL"]
        .iter()
        .map(|l| a.seats_of(l).0)
        .sum();
    assert_eq!(majority, 100);
    assert_eq!(a.seats_of("SMALL").0, 0, "2.1 % is below 5 %");
    assert_eq!(a.seats_of("SL").0, 10);
    assert_eq!(
        a.seats_of("ASHKALI").0,
        2,
        "most votes of the three takes the bonus seat"
    );
    assert_eq!(a.seats_of("ROMA").0 + a.seats_of("EGYPT").0, 2);
    assert_eq!(a.seats_of("BOS1").0 + a.seats_of("BOS2").0, 3);
    assert_eq!(a.seats_of("TUR").0, 2);
    assert_eq!(a.seats_of("GOR").0, 1);
    assert_eq!(a.seats_of("VV").0, vv, "{}", rules.id);
}

/// Montenegro: two Albanian lists under 3 % but over 0.7 % pool; a third under 0.7 % does not;
/// the Croatian list with 0.53 % takes the guaranteed seat first.
#[test]
fn montenegro_pools_minority_lists_and_assigns_the_croatian_seat_first() {
    let text = r#"
[lists.A]
[lists.B]
[lists.C]
[lists.BS]
community = "bosniak"
[lists.AF]
community = "albanian"
[lists.AA]
community = "albanian"
[lists.AX]
community = "albanian"
[lists.HGI]
community = "croat"
[districts.montenegro]
votes = { A = 150000, B = 100000, C = 60000, BS = 25000, AF = 7000, AA = 4000, AX = 1000, HGI = 2000 }
other = 30000
"#;
    let a = allocate(
        &RuleSet::builtin("montenegro").unwrap(),
        &VoteInput::from_toml(text).unwrap(),
    )
    .unwrap();
    assert_eq!(total(&a), 81);
    assert_eq!(a.seats_of("HGI").0, 1);
    assert_eq!(a.seats_of("AX").0, 0);
    let pooled = a.seats_of("AF").0 + a.seats_of("AA").0;
    assert!((1..=3).contains(&pooled), "{pooled}");
    assert!(a.contests.iter().any(|c| c.kind == ContestKind::PoolSplit));
    let district = a
        .contests
        .iter()
        .find(|c| c.kind == ContestKind::District)
        .unwrap();
    assert_eq!(
        district.seats.0, 80,
        "the Croatian seat is assigned before the other 80"
    );
    let outcome = |l: &str| {
        a.thresholds
            .iter()
            .find(|t| t.list.as_str() == l)
            .unwrap()
            .outcome
            .clone()
    };
    assert!(matches!(outcome("AF"), ThresholdOutcome::Pooled { .. }));
    assert_eq!(outcome("AX"), ThresholdOutcome::Failed);
    assert_eq!(outcome("HGI"), ThresholdOutcome::GuaranteedSeat);
    assert_eq!(outcome("BS"), ThresholdOutcome::Passed);
}

/// A pooled list never takes more than its cap of three seats.
#[test]
fn montenegro_pool_is_capped_at_three_seats() {
    let text = r#"
[lists.A]
[lists.AF]
community = "albanian"
[lists.AA]
community = "albanian"
[districts.montenegro]
votes = { A = 1000000, AF = 29000, AA = 29000 }
"#;
    let a = allocate(
        &RuleSet::builtin("montenegro").unwrap(),
        &VoteInput::from_toml(text).unwrap(),
    )
    .unwrap();
    assert_eq!(a.seats_of("AF").0 + a.seats_of("AA").0, 3);
    assert_eq!(a.seats_of("A").0, 78);
}

/// North Macedonia: six districts of 20, no threshold.
#[test]
fn north_macedonia_fills_six_districts_of_twenty() {
    let mut text = String::from("[lists.X]\n[lists.Y]\n[lists.Z]\n");
    for d in 1..=6 {
        text.push_str(&format!(
            "[districts.{d}]\nvotes = {{ X = {}, Y = {}, Z = 12000 }}\n",
            100_000 + d * 1000,
            80_000 - d * 1000
        ));
    }
    let a = allocate(
        &RuleSet::builtin("north-macedonia").unwrap(),
        &VoteInput::from_toml(&text).unwrap(),
    )
    .unwrap();
    assert_eq!(total(&a), 120);
    for c in &a.contests {
        assert_eq!(c.seats_by_list().values().map(|s| s.0).sum::<u32>(), 20);
    }
    assert!(a.seats_of("Z").0 >= 1, "no threshold: a small list can win");
}

/// Bosnia and Herzegovina: constituency seats plus compensatory seats per entity; each entity's
/// total is fixed, and compensatory quotients are struck for constituency seats already won.
#[test]
fn bosnia_herzegovina_compensatory_seats_complete_each_entity() {
    let mut text = String::from(
        "[lists.P1]\n[lists.P2]\n[lists.P3]\n[lists.P4]\n[lists.Q1]\n[lists.Q2]\n[lists.Q3]\n",
    );
    for (d, v) in [
        ("FBiH-1", "P1 = 50000, P2 = 30000, P3 = 9000, P4 = 2000"),
        ("FBiH-2", "P1 = 20000, P2 = 45000, P3 = 12000, P4 = 2500"),
        ("FBiH-3", "P1 = 60000, P2 = 25000, P3 = 15000, P4 = 2600"),
        ("FBiH-4", "P1 = 90000, P2 = 40000, P3 = 35000, P4 = 3000"),
        ("FBiH-5", "P1 = 70000, P2 = 30000, P3 = 20000, P4 = 2800"),
        ("RS-1", "Q1 = 90000, Q2 = 60000, Q3 = 8000"),
        ("RS-2", "Q1 = 70000, Q2 = 50000, Q3 = 12000"),
        ("RS-3", "Q1 = 40000, Q2 = 45000, Q3 = 20000"),
    ] {
        text.push_str(&format!("[districts.{d}]\nvotes = {{ {v} }}\n"));
    }
    let a = allocate(
        &RuleSet::builtin("bosnia-herzegovina").unwrap(),
        &VoteInput::from_toml(&text).unwrap(),
    )
    .unwrap();
    assert_eq!(total(&a), 42);
    let fbih: u32 = ["P1", "P2", "P3", "P4"]
        .iter()
        .map(|l| a.seats_of(l).0)
        .sum();
    assert_eq!(fbih, 28);
    assert_eq!(a.seats_of("P4").0, 0, "P4 has under 3 % of the entity");
    let comp = a
        .contests
        .iter()
        .find(|c| c.name == "compensatory FBiH")
        .unwrap();
    for e in &comp.entries {
        let direct: u32 = a
            .contests
            .iter()
            .filter(|c| c.kind == ContestKind::District && c.name.starts_with("district FBiH"))
            .map(|c| c.seats_by_list().get(&e.list).map_or(0, |s| s.0))
            .sum();
        if e.status == urna_tally::seats::EntryStatus::Competing {
            assert_eq!(e.struck, direct, "{}", e.list);
        }
    }
}

/// A list with fewer candidates than seats won passes the rest to the next quotients.
#[test]
fn exhausted_list_passes_its_seats_to_the_next_quotients() {
    let text = "[lists.A]\n[lists.B]\n[districts.d]\nseats = 5\nvotes = { A = 9000, B = 1000 }\ncandidates = { A = 2 }\n";
    let a = allocate(
        &RuleSet::builtin("generic").unwrap(),
        &VoteInput::from_toml(text).unwrap(),
    )
    .unwrap();
    assert_eq!(a.seats_of("A").0, 2);
    assert_eq!(a.seats_of("B").0, 3);
    assert!(a.explain_text().contains("no candidates left"));
}

/// A tie at the last seat is decided by the published seed and reported.
#[test]
fn tie_at_the_last_seat_is_drawn_with_the_published_seed_and_reported() {
    let text = |seed: &str| {
        format!(
            "tie_seed = \"{seed}\"\n[lists.A]\n[lists.B]\n[districts.d]\nseats = 1\nvotes = {{ A = 100, B = 100 }}\n"
        )
    };
    let rules = RuleSet::builtin("generic").unwrap();
    let a = allocate(&rules, &VoteInput::from_toml(&text("one")).unwrap()).unwrap();
    assert_eq!(a.tie_breaks().count(), 1);
    assert_eq!(a.tie_breaks().next().unwrap().seed, "one");
    assert!(a.explain_text().contains("tie-break"));
    // Different seeds give independent draws; over a few seeds both lists must win once.
    let winners: std::collections::BTreeSet<String> =
        ["one", "two", "three", "four", "five", "six"]
            .iter()
            .map(|s| {
                let r = allocate(&rules, &VoteInput::from_toml(&text(s)).unwrap()).unwrap();
                if r.seats_of("A").0 == 1 {
                    "A".to_owned()
                } else {
                    "B".to_owned()
                }
            })
            .collect();
    assert_eq!(winners.len(), 2);
}

/// The text explanation of a small case, checked line by line by hand.
#[test]
fn explanation_shows_every_winning_quotient_and_the_next_in_line() {
    let text = "[lists.A]\n[lists.B]\n[lists.C]\n[districts.d]\nseats = 3\nvotes = { A = 600, B = 250, C = 150 }\n";
    let a = allocate(
        &RuleSet::builtin("generic").unwrap(),
        &VoteInput::from_toml(text).unwrap(),
    )
    .unwrap();
    let explain = a.explain_text();
    // D'Hondt: A 600, A 300, B 250 win; next: A 200, C 150.
    assert!(
        explain.contains("1  A       600        1  600.0000  won"),
        "{explain}"
    );
    assert!(
        explain.contains("3  B       250        1  250.0000  won"),
        "{explain}"
    );
    assert!(
        explain.contains("A       600        3  200.0000  next"),
        "{explain}"
    );
    // By hand: B keeps its seat while 250 − x > 200 (A's third quotient).
    assert!(explain.contains("lose 51 -> seat to A"), "{explain}");
}

/// The example in `src/seats/README-cli.md` is the real output, byte for byte.
#[test]
fn cli_readme_example_matches_the_real_output() {
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/seats/README-cli.md"
    ))
    .unwrap();
    let example = readme.split("## Example").nth(1).unwrap();
    let blocks: Vec<&str> = example.split("```").collect();
    let votes = blocks[1].trim_start_matches("toml\n");
    let expected = blocks[3].trim_start_matches('\n');
    let a = allocate(
        &RuleSet::builtin("generic").unwrap(),
        &VoteInput::from_toml(votes).unwrap(),
    )
    .unwrap();
    assert_eq!(a.explain_text(), expected);
}
