//! Fuzz the seat-allocation inputs: rule-set TOML and vote TOML must never panic, and whatever
//! parses must allocate or fail with an error, with seats summing to the house on success; no
//! error, seat table or explanation may carry a control character or bidirectional override
//! (other than its line breaks) to the terminal that prints it.
//!
//! Input layout: the bytes before the first NUL are a rule set (or, if empty, the built-in
//! `generic`); the rest is a vote file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use urna_tally::seats::{RuleSet, VoteInput, allocate};

fuzz_target!(|data: &[u8]| {
    let (rules_bytes, votes_bytes) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let Ok(votes_text) = std::str::from_utf8(votes_bytes) else {
        return;
    };
    let rules = if rules_bytes.is_empty() {
        RuleSet::builtin("generic")
    } else {
        match std::str::from_utf8(rules_bytes) {
            Ok(text) => RuleSet::from_toml(text),
            Err(_) => return,
        }
    };
    let raw = |text: &str| {
        text.chars()
            .any(|c| c != '\n' && urna_model::definition::is_hidden_control(c))
    };
    let input = VoteInput::from_toml(votes_text);
    for err in [rules.as_ref().err(), input.as_ref().err()].into_iter().flatten() {
        assert!(!raw(&err.to_string()), "{err:?}");
    }
    let (Ok(rules), Ok(input)) = (rules, input) else {
        return;
    };
    // Keep each run short: huge houses are valid but slow, not interesting.
    let house: u64 = rules.house_seats.map_or_else(
        || input.districts.values().filter_map(|d| d.seats).map(|s| u64::from(s.0)).sum(),
        u64::from,
    );
    if house > 2_000 || input.lists.len() > 200 {
        return;
    }
    match allocate(&rules, &input) {
        Ok(allocation) => {
            let total: u64 = allocation.seats.values().map(|s| u64::from(s.0)).sum();
            assert_eq!(total, u64::from(allocation.house_seats.0));
            assert!(!raw(&allocation.explain_text()));
            assert!(!raw(&allocation.summary_text()));
        }
        Err(err) => assert!(!raw(&err.to_string()), "{err:?}"),
    }
});
