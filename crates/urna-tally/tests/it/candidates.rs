//! Seats to candidates: each country's candidate rule on small vectors computed by hand from the
//! law's text, the edge cases (ties, withdrawn candidates, exhausted lists, missing preference
//! votes), bad input, and properties.
//!
//! The vectors use a one-district rule set carrying the `[candidates]` section of a built-in
//! rule set, so that each checks the built-in's candidate rule on a handful of seats.

use proptest::prelude::*;
use urna_tally::seats::{
    Allocation, Candidate, DistrictId, Gender, ListCandidates, ListId, ListInfo, RankBasis,
    RuleSet, SeatError, VoteInput, Votes, allocate,
};

/// A one-district D'Hondt rule set with district `district` of `seats` seats and the
/// `[candidates]` section of the built-in rule set `from` (none for `generic`).
fn rules_from(from: &str, district: &str, seats: u32) -> RuleSet {
    let mut rules = RuleSet::from_toml(&format!(
        r#"id = "test"
title = "test"
legal_source = ["test"]
house_seats = {seats}
method = "dhondt"
tie_break = {{ rule = "lot", seed = "test" }}
[[district]]
id = "{district}"
seats = {seats}
"#
    ))
    .unwrap();
    rules.candidates = RuleSet::builtin(from).unwrap().candidates;
    if let Some(c) = &mut rules.candidates {
        c.closed_seats.retain(|d, _| d.as_str() == district);
    }
    rules.validate().unwrap();
    rules
}

fn run(rules: &RuleSet, votes: &str) -> Allocation {
    allocate(rules, &VoteInput::from_toml(votes).unwrap()).unwrap()
}

fn only<'a>(a: &'a Allocation, list: &str) -> &'a ListCandidates {
    let per_district = a.candidates.get(&ListId::new(list)).unwrap();
    assert_eq!(per_district.len(), 1, "{list}");
    &per_district[0]
}

/// Candidates of list A: `(number, name, gender)`.
fn list_a(cands: &[(u32, &str, &str)]) -> String {
    let items: Vec<String> = cands
        .iter()
        .map(|(n, name, g)| format!("{{ number = {n}, name = \"{name}\", gender = \"{g}\" }}"))
        .collect();
    format!(
        "[lists.A]\ncandidates = [{}]\n[lists.B]\n",
        items.join(", ")
    )
}

// ---- Kosovo: preference ranking with the 30 % gender quota (Law 08/L-228) ----

/// A wins 4 of 5 seats. Ranking by preference votes: Besnik 2100, Dritan 1800, Fatos 1500,
/// Arta 1200 | Gent 900, Elira 600: one woman among the 4 first, the quota needs
/// ⌈30 % × 4⌉ = 2. The last elected man (Fatos) is replaced by the first woman not elected
/// (Elira).
#[test]
fn kosovo_quota_replaces_the_last_elected_man_by_the_next_woman() {
    let votes = format!(
        "{}[districts.kosovo]\nvotes = {{ A = 6200, B = 2900 }}\n\
         preferences.A = {{ 1 = 1200, 2 = 2100, 3 = 1800, 4 = 600, 5 = 1500, 6 = 900 }}\n",
        list_a(&[
            (1, "Arta", "f"),
            (2, "Besnik", "m"),
            (3, "Dritan", "m"),
            (4, "Elira", "f"),
            (5, "Fatos", "m"),
            (6, "Gent", "m"),
        ])
    );
    let a = run(&rules_from("kosovo", "kosovo", 5), &votes);
    assert_eq!(a.seats_of("A").0, 4);
    let lc = only(&a, "A");
    assert_eq!(lc.elected, vec![2, 3, 1, 4]);
    assert_eq!(lc.replacements.len(), 1);
    assert_eq!((lc.replacements[0].out, lc.replacements[0].into), (5, 4));
    assert_eq!(
        lc.replacements[0].reason,
        "f had 1 of 4 seat(s), below 30% (2 needed)"
    );
    let q = lc.quota.as_ref().unwrap();
    assert_eq!(q.needed, 2);
    assert_eq!(q.after.get(&Gender::Female), Some(&2));
    // Margins over Fatos (1500), the first not elected.
    let margin = |n| lc.candidate(n).unwrap().margin;
    assert_eq!(
        (margin(2), margin(3), margin(1), margin(4)),
        (Some(600), Some(300), Some(-300), Some(-900))
    );
    assert_eq!(a.elected_of("A"), vec!["Besnik", "Dritan", "Arta", "Elira"]);
}

/// The same list where the ranking already elects two women (Elira 1900, Arta 1600): no
/// replacement.
#[test]
fn kosovo_quota_not_needed_when_the_ranking_meets_it() {
    let votes = format!(
        "{}[districts.kosovo]\nvotes = {{ A = 6200, B = 2900 }}\n\
         preferences.A = {{ 1 = 1600, 2 = 2100, 3 = 1800, 4 = 1900, 5 = 1500, 6 = 900 }}\n",
        list_a(&[
            (1, "Arta", "f"),
            (2, "Besnik", "m"),
            (3, "Dritan", "m"),
            (4, "Elira", "f"),
            (5, "Fatos", "m"),
            (6, "Gent", "m"),
        ])
    );
    let lc = only(&run(&rules_from("kosovo", "kosovo", 5), &votes), "A").clone();
    assert_eq!(lc.elected, vec![2, 4, 3, 1]);
    assert!(lc.replacements.is_empty());
}

/// Seven seats need ⌈2.1⌉ = 3 women; the ranking elects one: the last two elected men are
/// replaced, the last first, by the first two women not elected, in ranking order.
#[test]
fn kosovo_quota_replaces_from_the_bottom_until_it_holds() {
    let cands: Vec<(u32, String, &str)> = (1..=10)
        .map(|n| {
            (
                n,
                format!("C{n}"),
                if [2, 8, 9].contains(&n) { "f" } else { "m" },
            )
        })
        .collect();
    let refs: Vec<(u32, &str, &str)> = cands.iter().map(|(n, s, g)| (*n, s.as_str(), *g)).collect();
    // Preferences fall with the ballot number: ranking = list order 1..10.
    let prefs: Vec<String> = (1..=10)
        .map(|n| format!("{n} = {}", 1000 - n * 10))
        .collect();
    let votes = format!(
        "{}[districts.kosovo]\nvotes = {{ A = 7000, B = 1 }}\npreferences.A = {{ {} }}\n",
        list_a(&refs),
        prefs.join(", ")
    );
    let lc = only(&run(&rules_from("kosovo", "kosovo", 7), &votes), "A").clone();
    // First 7: 1..7 with one woman (2). Replace 7 by 8, then 6 by 9.
    let pairs: Vec<(u32, u32)> = lc.replacements.iter().map(|r| (r.out, r.into)).collect();
    assert_eq!(pairs, vec![(7, 8), (6, 9)]);
    assert_eq!(lc.elected, vec![1, 2, 3, 4, 5, 8, 9]);
}

/// A list without enough women to meet the quota elects the women it has and stops.
#[test]
fn kosovo_quota_stops_when_no_candidate_of_the_gender_is_left() {
    let votes = format!(
        "{}[districts.kosovo]\nvotes = {{ A = 7000, B = 1 }}\n\
         preferences.A = {{ 1 = 50, 2 = 40, 3 = 30, 4 = 20, 5 = 10 }}\n",
        list_a(&[
            (1, "A1", "m"),
            (2, "A2", "m"),
            (3, "A3", "m"),
            (4, "A4", "m"),
            (5, "A5", "f"),
        ])
    );
    let lc = only(&run(&rules_from("kosovo", "kosovo", 4), &votes), "A").clone();
    assert_eq!(lc.elected, vec![1, 2, 3, 5]);
    assert_eq!(lc.replacements.len(), 1);
    assert_eq!(lc.quota.unwrap().after.get(&Gender::Female), Some(&1));
}

/// A list of one seat: 30 % of one seat, rounded up, is the whole seat, so the quota cannot
/// hold for both genders and no replacement is made (`kosovo.toml` gives the reasons and the
/// certified 2021 one-seat lists, which seated men and women alike). The seat goes by
/// preference votes, to a man or to a woman.
#[test]
fn kosovo_quota_leaves_a_one_seat_list_to_the_ranking() {
    let cands = [(1, "Ana", "f"), (2, "Ben", "m"), (3, "Cem", "m")];
    for (prefs, winner) in [("1 = 5, 2 = 9, 3 = 3", 2), ("1 = 9, 2 = 5, 3 = 3", 1)] {
        let votes = format!(
            "{}[districts.kosovo]\nvotes = {{ A = 1000, B = 1000 }}\npreferences.A = {{ {prefs} }}\n",
            list_a(&cands)
        );
        let lc = only(&run(&rules_from("kosovo", "kosovo", 2), &votes), "A").clone();
        assert_eq!(lc.seats.0, 1);
        assert_eq!(lc.elected, vec![winner], "{prefs}");
        assert!(lc.replacements.is_empty(), "{prefs}");
        assert_eq!(lc.quota.unwrap().needed, 0);
    }
}

/// Two seats need ⌈0.6⌉ = 1 of each gender: two men ranked first, the second is replaced by
/// the first woman not elected.
#[test]
fn kosovo_quota_on_two_seats_needs_one_of_each_gender() {
    let votes = format!(
        "{}[districts.kosovo]\nvotes = {{ A = 2000, B = 2000 }}\n\
         preferences.A = {{ 1 = 5, 2 = 9, 3 = 8, 4 = 1 }}\n",
        list_a(&[
            (1, "Ana", "f"),
            (2, "Ben", "m"),
            (3, "Cem", "m"),
            (4, "Dea", "f"),
        ])
    );
    let lc = only(&run(&rules_from("kosovo", "kosovo", 4), &votes), "A").clone();
    assert_eq!(lc.seats.0, 2);
    assert_eq!(lc.elected, vec![2, 1]);
    let pairs: Vec<(u32, u32)> = lc.replacements.iter().map(|r| (r.out, r.into)).collect();
    assert_eq!(pairs, vec![(3, 1)]);
    assert_eq!(lc.quota.unwrap().needed, 1);
}

/// The certified case behind the two-seat rule: KDTP's two seats in Kosovo's December 2025
/// election. In the first count Fikrim Damka ranked first by candidate votes; the recount took
/// 88 votes from him, he fell to second behind Ergul Mazreku (ballot number 4) and lost his
/// seat: the seats went to Mazreku and Fatma Taçi, ranked below both men (sondakika.com, 28 Jan
/// 2026, https://www.sondakika.com/politika/haber-kosova-da-secim-sonuclarina-itiraz-oylar-yeniden-sayiliyor-19511916/:
/// Damka "liste başından ikinci sıraya gerilerken yerine [...] Ergül Mazrek milletvekili oldu";
/// prizrenpress.com, 19 and 31 Jan 2026). A second-ranked man losing a two-seat list's seat to
/// a lower-ranked woman is the quota's ⌈30 % × 2⌉ = 1 seat per gender. The per-candidate counts
/// were not found: the preference votes here are stand-ins that keep the reported order (the
/// rule depends only on the order and the genders); the first count's order below Damka is not
/// reported, so both are tried; the other ballot numbers are not reported and decide nothing, as
/// no two candidates are equal.
#[test]
fn kosovo_2025_kdtp_recount_moves_the_seat_between_the_men_and_the_quota_keeps_the_woman() {
    let cands = [
        (1, "Fikrim Damka", "m"),
        (2, "Fatma Taçi", "f"),
        (4, "Ergul Mazreku", "m"),
    ];
    let lc = |prefs: &str| {
        let votes = format!(
            "{}[districts.kosovo]\nvotes = {{ A = 2000, B = 2000 }}\npreferences.A = {{ {prefs} }}\n",
            list_a(&cands)
        );
        only(&run(&rules_from("kosovo", "kosovo", 4), &votes), "A").clone()
    };
    // First count: Damka first; Damka and Taçi elected whichever of the others is second.
    for prefs in ["1 = 3, 2 = 1, 4 = 2", "1 = 3, 2 = 2, 4 = 1"] {
        let first = lc(prefs);
        assert_eq!(first.seats.0, 2);
        assert_eq!(first.elected, vec![1, 2], "{prefs}");
    }
    // Recount: Mazreku first, Damka second, Taçi below both; the quota gives Taçi Damka's seat.
    let recount = lc("1 = 2, 2 = 1, 4 = 3");
    assert_eq!(recount.elected, vec![4, 2]);
    let pairs: Vec<(u32, u32)> = recount
        .replacements
        .iter()
        .map(|r| (r.out, r.into))
        .collect();
    assert_eq!(pairs, vec![(1, 2)]);
}

/// Equal preference votes: the lower ballot number ranks first (the tie rule assumed for
/// Kosovo), and the explanation says so.
#[test]
fn equal_preference_votes_rank_by_ballot_number() {
    let votes = format!(
        "{}[districts.kosovo]\nvotes = {{ A = 1000, B = 1000 }}\npreferences.A = {{ 1 = 7, 2 = 9, 3 = 9 }}\n",
        list_a(&[(1, "Ana", "f"), (2, "Ben", "m"), (3, "Cem", "m")])
    );
    let a = run(&rules_from("kosovo", "kosovo", 2), &votes);
    let lc = only(&a, "A");
    assert_eq!(lc.elected, vec![2]);
    assert!(
        a.explain_text().contains(
            "tie: 2 Ben and 3 Cem have 9 preference votes each; decided by ballot number"
        ),
        "{}",
        a.explain_text()
    );
}

// ---- Bosnia and Herzegovina: preference votes over a share of the list's votes first ----

/// A has 1000 votes and 2 seats; 20 % of 1000 = 200. Candidate 3 with exactly 200 reaches the
/// share ("at least") and is elected first; candidate 4 with 199 does not, so the second seat
/// goes by list order to candidate 1.
#[test]
fn bosnia_share_exactly_at_the_boundary_counts() {
    let votes = format!(
        "{}[districts.d]\nvotes = {{ A = 1000, B = 400 }}\npreferences.A = {{ 1 = 10, 2 = 20, 3 = 200, 4 = 199 }}\n",
        list_a(&[
            (1, "A1", "m"),
            (2, "A2", "f"),
            (3, "A3", "m"),
            (4, "A4", "f")
        ])
    );
    let lc = only(&run(&rules_from("bosnia-herzegovina", "d", 3), &votes), "A").clone();
    assert_eq!(lc.seats.0, 2);
    assert_eq!(lc.share_needed, Some(Votes(200)));
    assert_eq!(lc.elected, vec![3, 1]);
    assert_eq!(lc.candidate(3).unwrap().basis, RankBasis::OverShare);
    assert_eq!(lc.candidate(4).unwrap().basis, RankBasis::ListOrder);
}

/// Both candidates over the share are elected, by preference votes.
#[test]
fn bosnia_candidates_over_the_share_rank_by_preference_votes() {
    let votes = format!(
        "{}[districts.d]\nvotes = {{ A = 1000, B = 400 }}\npreferences.A = {{ 1 = 10, 2 = 20, 3 = 200, 4 = 320 }}\n",
        list_a(&[
            (1, "A1", "m"),
            (2, "A2", "f"),
            (3, "A3", "m"),
            (4, "A4", "f")
        ])
    );
    let lc = only(&run(&rules_from("bosnia-herzegovina", "d", 3), &votes), "A").clone();
    assert_eq!(lc.elected, vec![4, 3]);
}

/// The upper bound on the share, from the certified 2018 result: the HDZ BiH coalition's two
/// seats in FBiH-2 went to its ballot numbers 1 (19,407 preference votes, 28.19 % of the list's
/// votes) and 3 (13,795, 20.04 %), not by list order to number 2 (8,145, 11.83 %): number 3 was
/// over the share, so it is at most 20.04 %. Preference votes and percentages: the Central
/// Election Commission's results as transcribed in data/ballots.json of
/// github.com/misabegovic/izbori2026 (race "25-2", area "512"). The list's votes are not in that
/// transcription: 68,845 lies in the range every printed percentage allows (68,838 to 68,855);
/// B's votes are stand-ins giving the list its official two seats of three.
#[test]
fn bosnia_2018_hdz_fbih2_third_candidate_over_twenty_percent_takes_the_second_seat() {
    let cands: Vec<(u32, String, &str)> = (1..=8).map(|n| (n, format!("HDZ {n}"), "m")).collect();
    let refs: Vec<(u32, &str, &str)> = cands.iter().map(|(n, s, g)| (*n, s.as_str(), *g)).collect();
    let votes = format!(
        "{}[districts.d]\nvotes = {{ A = 68845, B = 30000 }}\n\
         preferences.A = {{ 1 = 19407, 2 = 8145, 3 = 13795, 4 = 5719, 5 = 5184, 6 = 7210, 7 = 5752, 8 = 8498 }}\n",
        list_a(&refs)
    );
    let lc = only(&run(&rules_from("bosnia-herzegovina", "d", 3), &votes), "A").clone();
    assert_eq!(lc.seats.0, 2);
    assert_eq!(lc.share_needed, Some(Votes(13_769)));
    assert_eq!(lc.elected, vec![1, 3]);
}

// ---- Albania: closed part by list order, then preference votes ----

/// Berat's closed part is 2 seats (decision of 22 Jan 2025). A wins 4 seats (D'Hondt: 7000,
/// 3500, 2333, B's 2000, 1750): ballot numbers 1
/// and 2 by list order whatever their preference votes, then the two open-part candidates
/// with the most preference votes (5 with 300, 3 with 200), not 4 (100) or 6 (0).
#[test]
fn albania_closed_part_first_then_preference_votes() {
    let votes = format!(
        "{}[districts.Berat]\nvotes = {{ A = 7000, B = 2000 }}\n\
         preferences.A = {{ 1 = 0, 2 = 5, 3 = 200, 4 = 100, 5 = 300 }}\n",
        list_a(&[
            (1, "A1", "m"),
            (2, "A2", "f"),
            (3, "A3", "m"),
            (4, "A4", "f"),
            (5, "A5", "m"),
            (6, "A6", "f"),
        ])
    );
    let a = run(&rules_from("albania", "Berat", 5), &votes);
    assert_eq!(a.seats_of("A").0, 4);
    let lc = only(&a, "A");
    assert_eq!(lc.closed_seats, Some(2));
    assert_eq!(lc.elected, vec![1, 2, 5, 3]);
    assert_eq!(lc.candidate(1).unwrap().basis, RankBasis::ClosedPart);
    assert_eq!(lc.candidate(5).unwrap().basis, RankBasis::Preferences);
}

/// An independent candidate (Albania's Electoral Code, art. 63(2): an electoral subject of one
/// candidate) is declared as a list with one candidate: D'Hondt over Berat's 7 seats gives the
/// quotients A 81000, IND 60000, B 52000, A 40500, IND 30000, A 27000, B 26000, A 20250; IND
/// cannot fill its second seat, which passes to the next quotient (A's 20250): A 4, IND 1, B 2.
#[test]
fn albania_an_independent_candidate_takes_at_most_one_seat() {
    let votes = format!(
        "{}[lists.IND]\nname = \"An independent candidate\"\n\
         candidates = [ {{ number = 1, name = \"Ilir\", gender = \"m\" }} ]\n\
         [districts.Berat]\nvotes = {{ A = 81000, B = 52000, IND = 60000 }}\n\
         preferences.A = {{ 3 = 10, 4 = 5 }}\n\
         candidates.B = [ {{ number = 1, name = \"B1\" }}, {{ number = 2, name = \"B2\" }} ]\n",
        list_a(&[
            (1, "A1", "m"),
            (2, "A2", "f"),
            (3, "A3", "m"),
            (4, "A4", "f"),
        ])
    );
    let a = run(&rules_from("albania", "Berat", 7), &votes);
    assert_eq!(a.seats_of("A").0, 4);
    assert_eq!(a.seats_of("IND").0, 1);
    assert_eq!(a.seats_of("B").0, 2);
    assert_eq!(a.elected_of("IND"), vec!["Ilir"]);
}

/// A list whose seats stay within the closed part needs no preference votes.
#[test]
fn albania_seats_within_the_closed_part_need_no_preference_votes() {
    let votes = format!(
        "{}[districts.Berat]\nvotes = {{ A = 3000, B = 7000 }}\n",
        list_a(&[(1, "A1", "m"), (2, "A2", "f"), (3, "A3", "m")])
    );
    let lc = only(&run(&rules_from("albania", "Berat", 5), &votes), "A").clone();
    assert_eq!(lc.seats.0, 1);
    assert_eq!(lc.elected, vec![1]);
}

/// As applied in May 2025: PD-ASHM won two seats in Dibër, whose closed part is two, and
/// both went to the closed part, while the open part's most voted, Xhemal Gjunkshi (5,693
/// preference votes, "më shumë se çdo kandidat tjetër në listë") and Përparim Spahiu (5,505),
/// stayed out (javanews.al, May 2025, https://javanews.al/moren-mijera-vota-por-mbeten-jashte-kuvendit-kush-jane-kandidatet-e-pd-qe-u-penalizun-nga-skema-e-berishes-me-listat/).
/// The preference votes are the reported ones; the list votes are stand-ins giving PD-ASHM its
/// official two of Dibër's five seats; the closed part's names and the open part's ballot
/// numbers are not reported and decide nothing here.
#[test]
fn albania_2025_pd_diber_two_seats_stay_in_the_closed_part() {
    let votes = format!(
        "{}[districts.Diber]\nvotes = {{ A = 2000, B = 3100 }}\n\
         preferences.A = {{ 3 = 5693, 4 = 5505 }}\n",
        list_a(&[
            (1, "closed part 1", "m"),
            (2, "closed part 2", "m"),
            (3, "Xhemal Gjunkshi", "m"),
            (4, "Përparim Spahiu", "m"),
        ])
    );
    let lc = only(&run(&rules_from("albania", "Diber", 5), &votes), "A").clone();
    assert_eq!(lc.seats.0, 2);
    assert_eq!(lc.closed_seats, Some(2));
    assert_eq!(lc.elected, vec![1, 2]);
    assert!(!lc.candidate(3).unwrap().elected);
}

/// Seats beyond the closed part without preference votes: a clear error, not list order.
#[test]
fn missing_preference_votes_under_a_preference_rule_name_the_field() {
    let votes = format!(
        "{}[districts.Berat]\nvotes = {{ A = 8000, B = 1000 }}\n",
        list_a(&[
            (1, "A1", "m"),
            (2, "A2", "f"),
            (3, "A3", "m"),
            (4, "A4", "f")
        ])
    );
    let err = allocate(
        &rules_from("albania", "Berat", 5),
        &VoteInput::from_toml(&votes).unwrap(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("votes field `districts.Berat.preferences.A`"),
        "{err}"
    );
    // An empty table says no preference votes were cast: then list order decides.
    let votes = format!("{votes}preferences.A = {{}}\n");
    let lc = only(&run(&rules_from("albania", "Berat", 5), &votes), "A").clone();
    assert_eq!(lc.elected, vec![1, 2, 3, 4]);
}

// ---- closed lists and the rest ----

/// Without a `[candidates]` section, seats go by ballot number; preference votes are shown
/// but change nothing.
#[test]
fn closed_list_elects_by_ballot_number() {
    let votes = format!(
        "{}[districts.d]\nseats = 3\nvotes = {{ A = 700, B = 300 }}\npreferences.A = {{ 3 = 999 }}\n",
        list_a(&[(1, "A1", "m"), (2, "A2", "f"), (3, "A3", "m")])
    );
    let a = run(&RuleSet::builtin("generic").unwrap(), &votes);
    assert_eq!(only(&a, "A").elected, vec![1, 2]);
    assert_eq!(only(&a, "A").candidate(1).unwrap().margin, None);
}

/// A withdrawn candidate is skipped, and a list with fewer candidates left than seats passes
/// its seat on exactly as a candidate count does: the count comes from the declared candidates.
#[test]
fn withdrawn_candidates_are_skipped_and_cap_the_list_like_a_count() {
    let declared = "[lists.A]\ncandidates = [ { number = 1, name = \"A1\" }, { number = 2, name = \"A2\", withdrawn = true }, { number = 3, name = \"A3\" } ]\n\
                    [lists.B]\n[districts.d]\nseats = 5\nvotes = { A = 9000, B = 1000 }\n";
    let counted = "[lists.A]\n[lists.B]\n[districts.d]\nseats = 5\nvotes = { A = 9000, B = 1000 }\ncandidates = { A = 2 }\n";
    let rules = RuleSet::builtin("generic").unwrap();
    let a = run(&rules, declared);
    let b = run(&rules, counted);
    assert_eq!(a.seats, b.seats);
    assert_eq!(a.contests, b.contests);
    assert_eq!(a.seats_of("A").0, 2);
    assert_eq!(only(&a, "A").elected, vec![1, 3]);
    assert!(only(&a, "A").candidate(2).unwrap().withdrawn);
}

/// Without declared candidates the allocation and its JSON have no candidate fields at all.
#[test]
fn without_candidates_the_json_is_unchanged() {
    let a = run(
        &RuleSet::builtin("kosovo").unwrap(),
        "[lists.A]\n[lists.B]\n[districts.kosovo]\nvotes = { A = 600, B = 400 }\n",
    );
    let json = serde_json::to_string(&a).unwrap();
    assert!(!json.contains("\"candidates\""), "{json}");
    assert!(!json.contains("candidate_rules"), "{json}");
    assert!(!a.explain_text().contains("== candidates"));
}

/// With candidates, the JSON carries the rule, the ranking and the elected.
#[test]
fn json_carries_the_ranking_and_the_elected() {
    let votes = format!(
        "{}[districts.kosovo]\nvotes = {{ A = 1000, B = 1000 }}\npreferences.A = {{ 1 = 7, 2 = 9 }}\n",
        list_a(&[(1, "Ana", "f"), (2, "Ben", "m")])
    );
    let a = run(&rules_from("kosovo", "kosovo", 2), &votes);
    let json: serde_json::Value = serde_json::to_value(&a).unwrap();
    assert_eq!(json["candidate_rules"]["rule"], "preference_ranking");
    let lc = &json["candidates"]["A"][0];
    assert_eq!(lc["elected"], serde_json::json!([2]));
    assert_eq!(lc["ranking"][0]["name"], "Ben");
    assert_eq!(lc["ranking"][0]["preferences"], 9);
    assert_eq!(lc["ranking"][0]["margin"], 2);
}

/// The built-in Kosovo rule set end to end: the Serb list takes the ten reserved Serb seats;
/// its ranking (preference votes falling with the ballot number) elects ten men, the quota
/// needs ⌈30 % × 10⌉ = 3 women and the list has two (11, 12): they replace 10 and 9, and the
/// quota stays unmet. The other communities' ten seats stay unfilled (no lists).
#[test]
fn kosovo_reserved_seats_go_to_the_community_lists_candidates() {
    let cands: Vec<String> = (1..=12)
        .map(|n| {
            let g = if n > 10 { "f" } else { "m" };
            format!("{{ number = {n}, name = \"S{n}\", gender = \"{g}\" }}")
        })
        .collect();
    let prefs: Vec<String> = (1..=12)
        .map(|n| format!("{n} = {}", 1300 - n * 100))
        .collect();
    let votes = format!(
        "[lists.A]\n[lists.B]\n[lists.S]\ncommunity = \"serb\"\ncandidates = [{}]\n\
         [districts.kosovo]\nvotes = {{ A = 60000, B = 40000, S = 5000 }}\npreferences.S = {{ {} }}\n",
        cands.join(", "),
        prefs.join(", ")
    );
    let a = run(&RuleSet::builtin("kosovo").unwrap(), &votes);
    assert_eq!(a.seats_of("S").0, 10);
    assert_eq!(a.unfilled_seats.0, 10);
    let lc = only(&a, "S");
    let pairs: Vec<(u32, u32)> = lc.replacements.iter().map(|r| (r.out, r.into)).collect();
    assert_eq!(pairs, vec![(10, 11), (9, 12)]);
    assert_eq!(lc.elected, vec![1, 2, 3, 4, 5, 6, 7, 8, 11, 12]);
    assert_eq!(
        lc.quota.as_ref().unwrap().after.get(&Gender::Female),
        Some(&2)
    );
    let text = a.explain_text();
    assert!(
        text.contains("quota not met: 2 f elected of 3 needed, no f candidate left"),
        "{text}"
    );
}

/// A list running in two districts declares its candidates per district; each district's
/// seats go to that district's candidates, and the seat table names them by district.
#[test]
fn candidates_per_district() {
    let votes = "[lists.A]\n[lists.B]\n\
                 [districts.d1]\nseats = 2\nvotes = { A = 900, B = 100 }\n\
                 candidates.A = [ { number = 1, name = \"Ana\" }, { number = 2, name = \"Ben\" } ]\n\
                 [districts.d2]\nseats = 2\nvotes = { A = 500, B = 500 }\n\
                 candidates.A = [ { number = 1, name = \"Cem\" }, { number = 2, name = \"Dea\" } ]\n";
    let a = run(&RuleSet::builtin("generic").unwrap(), votes);
    let per = a.candidates.get(&ListId::new("A")).unwrap();
    assert_eq!(per.len(), 2);
    assert_eq!(a.elected_of("A"), vec!["Ana", "Ben", "Cem"]);
    let text = a.summary_text();
    assert!(
        text.contains("    d1: 1 Ana, 2 Ben\n    d2: 1 Cem\n"),
        "{text}"
    );
}

/// Compensatory seats go to separate compensatory lists (Bosnia and Herzegovina, art. 9.6),
/// not modelled: a list's candidates take its district seats only, and the explanation says so.
#[test]
fn compensatory_seats_are_not_assigned_to_candidates() {
    let mut rules = RuleSet::from_toml(
        r#"id = "t"
title = "t"
legal_source = ["t"]
house_seats = 3
method = "sainte_lague"
tie_break = { rule = "lot", seed = "t" }
[[entity]]
id = "E"
compensatory_seats = 1
threshold = "3%"
[[district]]
id = "d1"
seats = 1
entity = "E"
[[district]]
id = "d2"
seats = 1
entity = "E"
"#,
    )
    .unwrap();
    rules.candidates = RuleSet::builtin("bosnia-herzegovina").unwrap().candidates;
    let votes = "[lists.A]\n[lists.B]\n\
                 [districts.d1]\nvotes = { A = 600, B = 400 }\n\
                 candidates.A = [ { number = 1, name = \"Ana\" }, { number = 2, name = \"Ben\" } ]\n\
                 preferences.A = { 2 = 120 }\n\
                 [districts.d2]\nvotes = { A = 550, B = 450 }\n\
                 candidates.A = [ { number = 1, name = \"Cem\" } ]\npreferences.A = {}\n";
    let a = run(&rules, votes);
    // A: d1 and d2 (Sainte-Laguë, one seat each), B the compensatory seat.
    assert_eq!((a.seats_of("A").0, a.seats_of("B").0), (2, 1));
    // 20 % of 600 = 120: Ben reaches it and takes A's seat in d1 before Ana.
    assert_eq!(a.elected_of("A"), vec!["Ben", "Cem"]);
    // B declares candidates too: its compensatory seat goes to none of them.
    let votes = votes
        .replace("preferences.A = { 2 = 120 }\n", "preferences.A = { 2 = 120 }\ncandidates.B = [ { number = 1, name = \"Dea\" } ]\npreferences.B = {}\n")
        .replace("preferences.A = {}\n", "preferences.A = {}\ncandidates.B = [ { number = 1, name = \"Eli\" } ]\npreferences.B = {}\n");
    let a = run(&rules, &votes);
    assert!(a.elected_of("B").is_empty());
    let text = a.explain_text();
    assert!(
        text.contains("note: B's 1 compensatory seat(s) go to its compensatory list, which is not modelled: not assigned to candidates"),
        "{text}"
    );
}

// ---- bad input: every error names the field ----

#[test]
fn bad_candidate_input_names_the_field() {
    let cases = [
        (
            "[lists.A]\ncandidates = [ { number = 1, name = \"x\" } ]\n[districts.d]\nvotes = { A = 1 }\npreferences.A = { 2 = 5 }\n",
            "districts.d.preferences.A.2",
            "unknown candidate number",
        ),
        (
            "[lists.A]\n[districts.d]\nvotes = { A = 1 }\npreferences.A = { 1 = 5 }\n",
            "districts.d.preferences.A",
            "preferences for a list without candidates",
        ),
        (
            "[lists.A]\n[districts.d]\nvotes = { A = 1 }\npreferences.B = { 1 = 5 }\n",
            "districts.d.preferences.B",
            "preferences for an undeclared list",
        ),
        (
            "[lists.A]\ncandidates = [ { number = 1, name = \"x\" }, { number = 1, name = \"y\" } ]\n[districts.d]\nvotes = { A = 1 }\n",
            "lists.A.candidates[1].number",
            "duplicate number",
        ),
        (
            "[lists.A]\ncandidates = [ { number = 0, name = \"x\" } ]\n[districts.d]\nvotes = { A = 1 }\n",
            "lists.A.candidates[0].number",
            "number zero",
        ),
        (
            "[lists.A]\ncandidates = [ { number = 1, name = \" \" } ]\n[districts.d]\nvotes = { A = 1 }\n",
            "lists.A.candidates[0].name",
            "empty name",
        ),
        (
            "[lists.A]\ncandidates = [ { number = 1, name = \"x\" } ]\n[districts.d]\nvotes = { A = 1 }\npreferences.A = { 1 = -2 }\n",
            "districts.d.preferences.A.1",
            "negative preference votes",
        ),
        (
            "[lists.A]\ncandidates = [ { number = 1, name = \"x\" } ]\n[districts.d]\nvotes = { A = 1 }\npreferences.A = { one = 2 }\n",
            "districts.d.preferences.A.one",
            "a key that is not a number",
        ),
        (
            "[lists.A]\ncandidates = [ { number = 1, name = \"x\" } ]\n[districts.d]\nvotes = { A = 1 }\ncandidates = { A = 3 }\n",
            "districts.d.candidates.A",
            "a count and declared candidates",
        ),
        (
            "[lists.A]\ncandidates = [ { number = 1, name = \"x\" } ]\n[districts.d]\nvotes = { A = 1 }\n[districts.e]\nvotes = { A = 1 }\n",
            "lists.A.candidates",
            "list-level candidates in two districts",
        ),
        (
            "[lists.A]\n[districts.d]\nvotes = { A = 1 }\ncandidates.A = [ { number = 1, name = \"x\", gender = \"x\" } ]\n",
            "districts.d.candidates.A",
            "unknown gender",
        ),
        (
            "[lists.A]\n[districts.d]\nvotes = { A = 1 }\ncandidates.A = \"many\"\n",
            "districts.d.candidates.A",
            "neither a count nor a list",
        ),
        (
            "[lists.A]\n[districts.d]\nvotes = { A = 1 }\ncandidates.B = [ { number = 1, name = \"x\" } ]\n",
            "districts.d.candidates.B",
            "candidates of an undeclared list",
        ),
    ];
    for (text, field, why) in cases {
        let err = VoteInput::from_toml(text).unwrap_err();
        assert!(
            err.to_string().contains(&format!("`{field}`")),
            "{why}: {err}"
        );
    }
}

/// Candidates without gender under a gender quota: the error names the candidate.
#[test]
fn gender_quota_needs_every_gender() {
    let votes = "[lists.A]\ncandidates = [ { number = 1, name = \"x\", gender = \"f\" }, { number = 2, name = \"y\" } ]\n[lists.B]\n[districts.kosovo]\nvotes = { A = 1000, B = 1 }\npreferences.A = {}\n";
    let err = allocate(
        &rules_from("kosovo", "kosovo", 2),
        &VoteInput::from_toml(votes).unwrap(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, SeatError::Votes { field, .. } if field == "lists.A.candidates[1].gender"),
        "{err}"
    );
}

#[test]
fn bad_candidate_rules_name_the_field() {
    let base = "id = \"t\"\ntitle = \"t\"\nlegal_source = [\"x\"]\nmethod = \"dhondt\"\ntie_break = { rule = \"lot\", seed = \"s\" }\n";
    let cases = [
        (
            "[candidates]\nrule = \"preference_share\"\nsource = \"x\"\n",
            "candidates.share",
        ),
        (
            "[candidates]\nrule = \"preference_ranking\"\nsource = \"x\"\nshare = \"5%\"\n",
            "candidates.share",
        ),
        (
            "[candidates]\nrule = \"closed_part\"\nsource = \"x\"\n",
            "candidates.closed_seats",
        ),
        (
            "[candidates]\nrule = \"closed_list\"\nsource = \" \"\n",
            "candidates.source",
        ),
        (
            "[candidates]\nrule = \"closed_list\"\nsource = \"x\"\ngender_quota = { share = \"60%\", source = \"x\" }\n",
            "candidates.gender_quota.share",
        ),
    ];
    for (section, field) in cases {
        let err = RuleSet::from_toml(&format!("{base}{section}")).unwrap_err();
        assert!(err.to_string().contains(&format!("`{field}`")), "{err}");
    }
    let err = RuleSet::from_toml(&format!(
        "{base}[candidates]\nrule = \"open\"\nsource = \"x\"\n"
    ))
    .unwrap_err();
    assert!(err.to_string().contains("rule"), "{err}");
}

/// Every built-in names its candidate rule and cites it; the others default to list order.
#[test]
fn builtin_candidate_rules() {
    let rule = |name: &str| {
        RuleSet::builtin(name)
            .unwrap()
            .candidates
            .map(|c| (c.rule.name(), c.gender_quota.is_some(), c.source.is_empty()))
    };
    assert_eq!(rule("kosovo"), Some(("preference_ranking", true, false)));
    assert_eq!(
        rule("kosovo-2021"),
        Some(("preference_ranking", true, false))
    );
    assert_eq!(
        rule("bosnia-herzegovina"),
        Some(("preference_share", false, false))
    );
    assert_eq!(rule("albania"), Some(("closed_part", false, false)));
    for name in ["montenegro", "north-macedonia", "generic"] {
        assert_eq!(rule(name), None, "{name}");
    }
}

// ---- properties ----

const RULES: [(&str, &str); 4] = [
    ("generic", "Berat"),
    ("kosovo", "Berat"),
    ("bosnia-herzegovina", "Berat"),
    ("albania", "Berat"),
];

/// One list A with random candidates and preference votes against a list B.
#[derive(Debug, Clone)]
struct Case {
    rules: usize,
    seats: u32,
    a_votes: u64,
    b_votes: u64,
    /// (gender, withdrawn, preference votes) by ballot number 1, 2, ….
    cands: Vec<(Gender, bool, u64)>,
}

fn cases() -> impl Strategy<Value = Case> {
    (
        0usize..RULES.len(),
        1u32..9,
        1u64..5000,
        1u64..5000,
        prop::collection::vec(
            (
                prop_oneof![Just(Gender::Female), Just(Gender::Male)],
                prop::bool::weighted(0.15),
                0u64..60,
            ),
            1..10,
        ),
    )
        .prop_map(|(rules, seats, a_votes, b_votes, cands)| Case {
            rules,
            seats,
            a_votes,
            b_votes,
            cands,
        })
}

/// The vote input of a case, with candidates declared in `order` (indices into `cands`).
fn input_of(c: &Case, order: &[usize]) -> VoteInput {
    let (d, a, b) = (DistrictId::new("Berat"), ListId::new("A"), ListId::new("B"));
    let mut input = VoteInput::default();
    input.declare_list(a.clone(), ListInfo::default());
    input.declare_list(b.clone(), ListInfo::default());
    input.add_votes(&d, &a, Votes(c.a_votes)).unwrap();
    input.add_votes(&d, &b, Votes(c.b_votes)).unwrap();
    let cands = order
        .iter()
        .map(|&i| Candidate {
            number: u32::try_from(i + 1).unwrap(),
            name: format!("C{}", i + 1),
            gender: Some(c.cands[i].0),
            withdrawn: c.cands[i].1,
        })
        .collect();
    input.declare_candidates(&d, &a, cands);
    for &i in order.iter().rev() {
        let n = u32::try_from(i + 1).unwrap();
        input
            .add_preferences(&d, &a, n, Votes(c.cands[i].2))
            .unwrap();
    }
    input
}

fn elected(c: &Case, order: &[usize]) -> (u32, Vec<u32>) {
    let (name, district) = RULES[c.rules];
    let a = allocate(&rules_from(name, district, c.seats), &input_of(c, order)).unwrap();
    let lc = only(&a, "A");
    (lc.seats.0, lc.elected.clone())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The elected are the same whatever the order in which candidates and preference votes
    /// are given.
    #[test]
    fn elected_set_is_independent_of_input_order(
        c in cases(),
        perm in Just((0..9usize).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        let n = c.cands.len();
        let natural: Vec<usize> = (0..n).collect();
        let shuffled: Vec<usize> = perm.into_iter().filter(|&i| i < n).collect();
        prop_assert_eq!(elected(&c, &natural), elected(&c, &shuffled));
    }

    /// One more preference vote for an elected candidate never costs them their seat, under
    /// every rule (the quota included; see the argument in the `candidates` module docs).
    #[test]
    fn an_extra_preference_vote_never_costs_a_seat(c in cases(), pick in 0usize..10) {
        let order: Vec<usize> = (0..c.cands.len()).collect();
        let (_, before) = elected(&c, &order);
        prop_assume!(!before.is_empty());
        let number = before[pick % before.len()];
        let mut more = c;
        more.cands[number as usize - 1].2 += 1;
        let (_, after) = elected(&more, &order);
        prop_assert!(after.contains(&number), "{number} lost its seat: {before:?} -> {after:?}");
    }

    /// A list elects as many candidates as it won seats (its candidates left cap its seats),
    /// never a withdrawn one, each once.
    #[test]
    fn elected_count_equals_the_lists_seats(c in cases()) {
        let order: Vec<usize> = (0..c.cands.len()).collect();
        let (seats, elected) = elected(&c, &order);
        let left = c.cands.iter().filter(|x| !x.1).count();
        prop_assert!(seats as usize <= left);
        prop_assert_eq!(elected.len(), seats as usize);
        let mut unique = elected.clone();
        unique.sort_unstable();
        unique.dedup();
        prop_assert_eq!(unique.len(), elected.len());
        for n in elected {
            prop_assert!(!c.cands[n as usize - 1].1, "withdrawn {} elected", n);
        }
    }
}

/// Albania 2021 (Electoral Code art. 163(3) as amended on 5 October 2020): a candidate moves
/// up only with more preference votes than the list's votes per seat won in the district,
/// counted at most as 10,000. Bardh Spahia (PD, Shkodër) with 7,219 preference votes, 470 more
/// than Helidon Bushati, first on the list, and Agron Kapllanaj (PD, Fier) with 9,225 stayed
/// below it (exit.al, 2021; the rule set's notes). The list votes and seats are the real ones
/// from the per-station data (PD Shkodër 47,205 for 5 seats: 9,442 needed; PD Fier 64,680 for
/// 6 seats, capped: 10,001 needed); the other candidates' figures were not found, so they hold
/// none and the lists are cut to the seats plus one.
#[test]
fn albania_2021_preference_votes_move_a_candidate_only_past_the_quotient() {
    let rules = RuleSet::builtin("albania-2021").unwrap();
    let pd = ListId::new("PD");
    let case = |district: &str, seats: usize, at: u32, name: &str, votes: u64, first: u64| {
        let mut input = crate::vectors::albania_2021();
        let d = DistrictId::new(district);
        let cands: Vec<Candidate> = (1..=u32::try_from(seats).unwrap() + 1)
            .map(|n| Candidate {
                number: n,
                name: if n == at {
                    name.into()
                } else {
                    format!("PD {n}")
                },
                gender: None,
                withdrawn: false,
            })
            .collect();
        input.declare_candidates(&d, &pd, cands);
        input.add_preferences(&d, &pd, 1, Votes(first)).unwrap();
        input.add_preferences(&d, &pd, at, Votes(votes)).unwrap();
        let result = allocate(&rules, &input).unwrap();
        let lc = result.candidates[&pd]
            .iter()
            .find(|lc| lc.district == d)
            .unwrap()
            .clone();
        assert_eq!(lc.seats.0 as usize, seats, "{district}");
        lc
    };
    // As certified: below the quotient, the list order stands.
    let shkoder = case("Shkoder", 5, 6, "Bardh Spahia", 7_219, 6_749);
    assert_eq!(shkoder.elected, [1, 2, 3, 4, 5]);
    assert_eq!(shkoder.share_needed, Some(Votes(9_442)));
    let fier = case("Fier", 6, 7, "Agron Kapllanaj", 9_225, 6_225);
    assert_eq!(fier.elected, [1, 2, 3, 4, 5, 6]);
    assert_eq!(fier.share_needed, Some(Votes(10_001)));
    // One vote over the quotient (Shkodër) or the cap (Fier), the candidate takes the first
    // seat and the last of the list order is out.
    let shkoder = case("Shkoder", 5, 6, "Bardh Spahia", 9_442, 6_749);
    assert_eq!(shkoder.elected, [6, 1, 2, 3, 4]);
    let fier = case("Fier", 6, 7, "Agron Kapllanaj", 10_001, 6_225);
    assert_eq!(fier.elected, [7, 1, 2, 3, 4, 5]);
    // Exactly the quotient is not more than it.
    let shkoder = case("Shkoder", 5, 6, "Bardh Spahia", 9_441, 6_749);
    assert_eq!(shkoder.elected, [1, 2, 3, 4, 5]);
}
