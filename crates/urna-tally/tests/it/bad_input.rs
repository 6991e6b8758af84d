//! Bad input must fail with an error that names what to fix.

use urna_tally::seats::{RuleSet, SeatError, VoteInput, allocate};

fn generic() -> RuleSet {
    RuleSet::builtin("generic").unwrap()
}

#[test]
fn negative_vote_count_names_the_field() {
    let err = VoteInput::from_toml("[lists.A]\n[districts.d]\nseats = 3\nvotes = { A = -1 }\n")
        .unwrap_err();
    assert!(err.to_string().contains("districts.d.votes.A"), "{err}");
    assert!(err.to_string().contains("negative"), "{err}");
}

#[test]
fn overflowing_national_sum_is_a_named_overflow() {
    let max = i64::MAX;
    let text = format!(
        "[lists.A]\n[districts.a]\nseats = 1\nvotes = {{ A = {max} }}\n\
         [districts.b]\nseats = 1\nvotes = {{ A = {max} }}\n\
         [districts.c]\nseats = 1\nvotes = {{ A = {max} }}\n"
    );
    let input = VoteInput::from_toml(&text).unwrap();
    let err = allocate(&generic(), &input).unwrap_err();
    assert!(matches!(err, SeatError::Overflow { .. }), "{err}");
    assert!(err.to_string().contains("`A`"), "{err}");
}

#[test]
fn count_too_large_for_toml_is_rejected() {
    let err =
        VoteInput::from_toml("[lists.A]\n[districts.d]\nvotes = { A = 18446744073709551616 }\n")
            .unwrap_err();
    assert!(matches!(err, SeatError::VotesSyntax(_)), "{err}");
}

#[test]
fn votes_for_an_unknown_list_name_it() {
    let err =
        VoteInput::from_toml("[lists.A]\n[districts.d]\nvotes = { A = 1, Q = 2 }\n").unwrap_err();
    assert!(err.to_string().contains("unknown list `Q`"), "{err}");
}

#[test]
fn reserved_seats_beyond_the_house_name_the_field() {
    let text = RuleSet::builtin_text("kosovo")
        .unwrap()
        .replace("reserved_seats = 10", "reserved_seats = 130");
    let err = RuleSet::from_toml(&text).unwrap_err();
    assert!(
        err.to_string().contains("community.serb.reserved_seats"),
        "{err}"
    );
}

#[test]
fn unknown_community_names_the_list_field() {
    let rules = RuleSet::builtin("kosovo").unwrap();
    let input = VoteInput::from_toml(
        "[lists.A]\ncommunity = \"martian\"\n[districts.kosovo]\nvotes = { A = 10 }\n",
    )
    .unwrap();
    let err = allocate(&rules, &input).unwrap_err();
    assert!(err.to_string().contains("lists.A.community"), "{err}");
}

/// The law says "the Bosnian community" (Law 08/L-228 art. 111 para. 2.2); the rule set's id is
/// `bosniak`. The error lists the ids, so a vote file written from the law's words can be fixed.
#[test]
fn unknown_community_lists_the_rule_sets_communities() {
    let rules = RuleSet::builtin("kosovo").unwrap();
    let input = VoteInput::from_toml(
        "[lists.A]\ncommunity = \"bosnian\"\n[districts.kosovo]\nvotes = { A = 10 }\n",
    )
    .unwrap();
    let err = allocate(&rules, &input).unwrap_err().to_string();
    assert!(
        err.contains("its communities: serb, roma, ashkali, egyptian, bosniak, turkish, gorani"),
        "{err}"
    );
    let rules = RuleSet::builtin("north-macedonia").unwrap();
    let mut text = String::from("[lists.A]\ncommunity = \"albanian\"\n");
    for d in 1..=6 {
        text.push_str(&format!("[districts.{d}]\nvotes = {{ A = 10 }}\n"));
    }
    let input = VoteInput::from_toml(&text).unwrap();
    let err = allocate(&rules, &input).unwrap_err().to_string();
    assert!(err.contains("(it has none)"), "{err}");
}

#[test]
fn district_unknown_to_the_rule_set_is_rejected() {
    let rules = RuleSet::builtin("north-macedonia").unwrap();
    let input = VoteInput::from_toml("[lists.A]\n[districts.7]\nvotes = { A = 10 }\n").unwrap();
    let err = allocate(&rules, &input).unwrap_err();
    assert!(err.to_string().contains("district `7`"), "{err}");
    assert!(
        err.to_string().contains("its districts: 1, 2, 3, 4, 5, 6"),
        "{err}"
    );
}

#[test]
fn missing_seats_with_a_rule_set_without_districts_names_the_field() {
    let input = VoteInput::from_toml("[lists.A]\n[districts.d]\nvotes = { A = 10 }\n").unwrap();
    let err = allocate(&generic(), &input).unwrap_err();
    assert!(err.to_string().contains("districts.d.seats"), "{err}");
}

#[test]
fn nobody_over_the_threshold_is_an_unfillable_error() {
    let rules = crate::support::single_district("dhondt", 5, Some("60%"));
    let err = allocate(&rules, &crate::support::votes(&[50, 50])).unwrap_err();
    assert!(matches!(err, SeatError::Unfillable { .. }), "{err}");
}

#[test]
fn unknown_rule_set_field_is_named() {
    let text = RuleSet::builtin_text("generic")
        .unwrap()
        .replace("method =", "methd =");
    let err = RuleSet::from_toml(&text).unwrap_err();
    assert!(err.to_string().contains("methd"), "{err}");
}

#[test]
fn district_seats_out_of_range_name_the_field() {
    for seats in [0, 4_000_000_000_i64] {
        let text = format!("[lists.A]\n[districts.d]\nseats = {seats}\nvotes = {{ A = 1 }}\n");
        let err = allocate(&generic(), &VoteInput::from_toml(&text).unwrap()).unwrap_err();
        assert!(
            err.to_string().contains("districts.d.seats"),
            "{seats}: {err}"
        );
    }
}

/// The quotient tables grow with lists × seats: a vote input whose districts together hold more
/// seats than any chamber is refused by name, before any table is built.
#[test]
fn districts_holding_too_many_seats_together_are_refused() {
    let mut text = String::from("[lists.A]\n[lists.B]\n");
    for d in 0..20 {
        text.push_str(&format!(
            "[districts.d{d}]\nseats = 10000\nvotes = {{ A = 5, B = 7 }}\n"
        ));
    }
    let input = VoteInput::from_toml(&text).unwrap();
    let err = allocate(&generic(), &input).unwrap_err().to_string();
    assert!(
        err.contains("votes field `districts`") && err.contains("200000"),
        "{err}"
    );
}

/// The head of a rule set that names no districts: the vote input gives the seats, so no
/// `house_seats` bounds its community seats.
const NO_DISTRICTS: &str = "id = \"t\"\ntitle = \"t\"\nlegal_source = [\"x\"]\n\
    method = \"dhondt\"\ntie_break = { rule = \"lot\", seed = \"s\" }\n";

/// A reserved, bonus, pooled or open-division seat count sizes a quotient table: one beyond any
/// chamber is refused by name when the rule set is read (a count of 2^32 - 1 once ran a contest
/// of that many seats until memory ran out).
#[test]
fn community_seat_counts_beyond_any_chamber_are_refused_by_name() {
    let two = "[[community]]\nid = \"c1\"\nreserved_seats = 1\n\
               [[community]]\nid = \"c2\"\nreserved_seats = 1\n";
    let cases = [
        (
            "[[community]]\nid = \"c1\"\nreserved_seats = 4294967295\n".to_owned(),
            "community.c1.reserved_seats",
        ),
        (
            format!("{two}[[bonus_seat]]\ncommunities = [\"c1\", \"c2\"]\nseats = 4294967295\n"),
            "bonus_seat[0].seats",
        ),
        (
            "minimum_guarantee = { open_seats = 4294967295, source = \"x\" }\n\
             [[community]]\nid = \"c1\"\nreserved_seats = 1\n"
                .to_owned(),
            "minimum_guarantee.open_seats",
        ),
        (
            "[[community]]\nid = \"c1\"\npool = { min_share = \"1%\", max_seats = 4294967295 }\n"
                .to_owned(),
            "community.c1.pool.max_seats",
        ),
    ];
    for (tail, field) in cases {
        let err = RuleSet::from_toml(&format!("{NO_DISTRICTS}{tail}"))
            .expect_err(field)
            .to_string();
        assert!(err.contains(&format!("`{field}`")), "{field}: {err}");
        assert!(err.contains("10000"), "{field}: {err}");
    }
}

/// Without `house_seats`, seats set aside for communities are checked against the one
/// district's seats before any contest runs, and the error names the rule set's field, not a
/// `house_seats` the rule set does not have.
#[test]
fn set_aside_seats_beyond_the_vote_inputs_district_name_the_community() {
    let rules = RuleSet::from_toml(&format!(
        "{NO_DISTRICTS}[[community]]\nid = \"c1\"\nreserved_seats = 10\n"
    ))
    .unwrap();
    let input = VoteInput::from_toml(
        "[lists.A]\ncommunity = \"c1\"\n[lists.B]\n[districts.d]\nseats = 10\n\
         votes = { A = 5, B = 7 }\n",
    )
    .unwrap();
    let err = allocate(&rules, &input).unwrap_err().to_string();
    assert!(
        err.contains("`community.c1.reserved_seats`") && err.contains("districts.d.seats"),
        "{err}"
    );
}

/// Names and ids in a vote file or a rule set are printed in seat tables, explanations and
/// errors: a line break, control character or escape sequence anywhere in them (a value or a
/// key) is refused, naming the field with the character escaped, before anything is read.
#[test]
fn control_characters_in_vote_files_and_rule_sets_are_refused_by_field() {
    let votes = [
        (
            "tie_seed = \"s\\u001b[2J\"\n[lists.A]\n[districts.d]\nseats = 1\nvotes = { A = 1 }\n",
            "tie_seed",
        ),
        (
            "[lists.\"A\\u001b[31m\"]\n[districts.d]\nseats = 1\nvotes = { \"A\\u001b[31m\" = 1 }\n",
            "districts.d.votes.\"A\\u{1b}[31m\"",
        ),
        (
            "[lists.A]\nname = \"x\\ny\"\n[districts.d]\nseats = 1\nvotes = { A = 1 }\n",
            "lists.A.name",
        ),
        (
            "[lists.A]\ncandidates = [ { number = 1, name = \"Ar\\rta\" } ]\n[districts.d]\nseats = 1\nvotes = { A = 1 }\n",
            "lists.A.candidates[0].name",
        ),
        (
            "[lists.A]\n[districts.\"d\\nFORGED\"]\nseats = 1\nvotes = { A = 1 }\n",
            "districts.\"d\\nFORGED\"",
        ),
        (
            "[lists.A]\n[districts.d]\nseats = 1\nvotes = { A = 1, \"Q\\u0007\" = 2 }\n",
            "districts.d.votes.\"Q\\u{7}\"",
        ),
        (
            "[lists.A]\n[districts.d]\nseats = 1\nvotes = { A = 1 }\nvots = { \"\\u009b2J\" = 1 }\n",
            "districts.d.vots.\"\\u{9b}2J\"",
        ),
    ];
    for (text, field) in votes {
        let err = VoteInput::from_toml(text).expect_err(field).to_string();
        assert!(
            err.contains(&format!("votes field `{field}`")),
            "{field}: {err}"
        );
        assert!(err.contains("control characters"), "{field}: {err}");
        assert!(
            !err.chars().any(|c| c.is_control()),
            "{field}: printed raw: {err:?}"
        );
    }
    let generic = RuleSet::builtin_text("generic").unwrap();
    let rules = [
        (
            generic.replacen("title = \"", "title = \"\\u001b[2J", 1),
            "title",
        ),
        (
            generic.replacen("notes = [\n", "notes = [\n  \"two\\nlines\",\n", 1),
            "notes[0]",
        ),
        (
            format!("{generic}[[community]]\nid = \"c\\u001b\"\n"),
            "community[0].id",
        ),
    ];
    for (text, field) in rules {
        let err = RuleSet::from_toml(&text).expect_err(field).to_string();
        assert!(
            err.contains(&format!("rule set field `{field}`")),
            "{field}: {err}"
        );
        assert!(
            !err.chars().any(|c| c.is_control()),
            "{field}: printed raw: {err:?}"
        );
    }
}

/// TOML refuses a raw escape byte in a file; its error quotes the line, which must not carry
/// the escape sequence raw to the terminal.
#[test]
fn a_raw_escape_in_a_vote_file_or_rule_set_is_quoted_escaped() {
    let err = VoteInput::from_toml("[lists.A] # \u{1b}[31mRED\n[districts.d]\nvotes = { A = 1 }\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 1") && err.contains("\\u{1b}[31mRED"),
        "{err}"
    );
    assert!(!err.contains('\u{1b}'), "{err:?}");
    let err = RuleSet::from_toml("id = \"t\"\n\u{1b}[2J\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2") && !err.contains('\u{1b}'), "{err:?}");
}

/// A vote file of `lists` lists, each with votes, in one district of `seats` seats.
fn many_lists(lists: usize, seats: u32) -> VoteInput {
    let mut text = String::new();
    for i in 0..lists {
        text.push_str(&format!("[lists.L{i}]\n"));
    }
    text.push_str(&format!("[districts.d]\nseats = {seats}\nvotes = {{ "));
    for i in 0..lists {
        text.push_str(&format!("L{i} = {}, ", 1_000_000 + i * 7));
    }
    text.push_str("}\n");
    VoteInput::from_toml(&text).unwrap()
}

/// The quotient table holds a row per list with votes and seat: thousands of lists in a
/// district of thousands of seats would take gigabytes; the table is bounded and the contest
/// refused by name before it is built.
#[test]
fn a_quotient_table_beyond_the_bound_is_refused_before_it_is_built() {
    let start = std::time::Instant::now();
    let err = allocate(&generic(), &many_lists(2_000, 1_000))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("votes field `districts.d.votes`") && err.contains("2000000 quotients"),
        "{err}"
    );
    assert!(start.elapsed().as_secs() < 20, "{:?}", start.elapsed());
}

/// Ranking and margins take time linear in the quotient table, not in lists × table: twenty
/// thousand lists for ten seats allocate in seconds (the seat counts and margins once scanned the
/// whole table for every list, some 8 × 10^9 steps).
#[test]
fn twenty_thousand_lists_allocate_without_a_scan_per_list() {
    let start = std::time::Instant::now();
    let a = allocate(&generic(), &many_lists(20_000, 10)).unwrap();
    assert!(start.elapsed().as_secs() < 30, "{:?}", start.elapsed());
    // The ten largest lists (the last ones) take one seat each.
    for i in 19_990..20_000 {
        assert_eq!(a.seats_of(&format!("L{i}")).0, 1, "L{i}");
    }
    let margins = a.contests[0].sensitivity.as_ref().unwrap();
    assert_eq!(margins.lists.len(), 20_000);
    assert_eq!(margins.seats.len(), 10);
}

/// Unicode's bidirectional overrides and isolates (U+202A to U+202E, U+2066 to U+2069) reorder
/// what a terminal shows after them: a list named with one can pass for another list, or turn
/// the numbers of its row around. They are refused as control characters are.
#[test]
fn bidirectional_overrides_in_a_vote_file_or_rule_set_are_refused_by_field() {
    for c in ['\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}'] {
        let text = format!(
            "[lists.A]\nname = \"PS{c}DP\"\n[districts.d]\nseats = 1\nvotes = {{ A = 1 }}\n"
        );
        let err = VoteInput::from_toml(&text)
            .expect_err("refused")
            .to_string();
        assert!(err.contains("votes field `lists.A.name`"), "{err}");
        assert!(!err.contains(c), "printed raw: {err:?}");
    }
    let text =
        RuleSet::builtin_text("generic")
            .unwrap()
            .replacen("title = \"", "title = \"\u{202E}", 1);
    let err = RuleSet::from_toml(&text).expect_err("refused").to_string();
    assert!(
        err.contains("rule set field `title`") && !err.contains('\u{202E}'),
        "{err:?}"
    );
}

/// A rule set without districts that still fixes `house_seats` must get that many seats from
/// the vote input: a vote file of 10 seats under a house of 5 was allocated 10 without a word.
#[test]
fn a_house_fixed_by_a_rule_set_without_districts_must_match_the_votes() {
    let rules = RuleSet::from_toml(&format!("{NO_DISTRICTS}house_seats = 5\n")).unwrap();
    let input = VoteInput::from_toml(
        "[lists.A]\n[lists.B]\n[districts.d]\nseats = 10\nvotes = { A = 60, B = 40 }\n",
    )
    .unwrap();
    let err = allocate(&rules, &input).unwrap_err().to_string();
    assert!(
        err.contains("`districts`") && err.contains("house_seats") && err.contains("10"),
        "{err}"
    );
    let input = VoteInput::from_toml(
        "[lists.A]\n[lists.B]\n[districts.d]\nseats = 5\nvotes = { A = 60, B = 40 }\n",
    )
    .unwrap();
    assert_eq!(allocate(&rules, &input).unwrap().house_seats.0, 5);
}

/// A store initialised before `urna init` refused it may hold a unit below the country with
/// stations that is no district of the contest's rule set (a thirteenth Albanian district):
/// the seats published for it left that unit's votes out of every seat and of the national
/// threshold's base without a word. The seats of such a contest are not allocated, and the
/// reason names the unit and its stations, whoever asks (the publisher, `urna seats --data`,
/// the verifier).
#[test]
fn seats_are_not_allocated_when_a_unit_with_stations_is_no_district() {
    use urna_model::definition::{ContestIdx, Election};
    use urna_sim::{SimConfig, Simulation};
    let sim = Simulation::new(SimConfig {
        stations: 60,
        districts: 12,
        ..SimConfig::default()
    });
    let toml = sim.definition_toml().replacen(
        "[[units]]\nid = \"D01\"\n",
        "[[units]]\nid = \"D13\"\nname = \"Elsewhere\"\nparent = \"SIM\"\n\n\
         [[units]]\nid = \"D13-M001\"\nname = \"Elsewhere 1\"\nparent = \"D13\"\n\n\
         [[units]]\nid = \"D01\"\n",
        1,
    );
    assert!(toml.contains("D13-M001"), "the sim's units changed shape");
    let mut csv = format!("{}\n", urna_sim::STATIONS_HEADER);
    let mut replay_notes = Vec::new();
    for i in 0..60 {
        let s = sim.station(i);
        csv.push_str(&sim.station_row(&s));
        csv.push('\n');
        replay_notes.push(sim.protocol_note(&s));
    }
    let csv = csv
        .replacen("PS-0000001,D01-M001", "PS-0000001,D13-M001", 1)
        .replacen("PS-0000002,D01-M001", "PS-0000002,D13-M001", 1);
    assert!(csv.contains("D13-M001"), "the sim's stations changed shape");
    let e = Election::from_texts("election.toml", &toml, "stations.csv", &csv).unwrap();
    assert!(urna_tally::seats::check_definition(&e).is_err());
    let genesis = urna_model::note::NoteSigner::from_seed(&e.log_origin(), &[9; 32])
        .unwrap()
        .sign_text(
            &urna_model::genesis::Genesis::of(&e, toml.as_bytes(), csv.as_bytes())
                .unwrap()
                .to_text(),
        )
        .to_bytes();
    let mut r = urna_tally::public::Replay::new(&e).unwrap();
    r.apply(&e, 0, &genesis).unwrap();
    for n in &replay_notes {
        r.apply_verified(&e, r.applied(), n).unwrap();
    }
    let seats = urna_tally::seats::contest_seats(&e, r.tally(ContestIdx(0)));
    let Some(Err(err)) = seats else {
        panic!("seats were allocated with D13's votes counting for none");
    };
    let msg = err.to_string();
    assert!(msg.contains("`D13`") && msg.contains("2 station"), "{msg}");
}
