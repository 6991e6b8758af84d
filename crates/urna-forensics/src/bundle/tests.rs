//! The bundle's files from a simulated election: why nothing is screened yet, determinism,
//! every plot listed and described, and numbers of fixed precision.

use proptest::prelude::*;
use urna_model::definition::Election;
use urna_model::genesis::Genesis;
use urna_model::note::NoteSigner;
use urna_sim::{Fraud, FraudKind, SimConfig, Simulation};
use urna_tally::public::Replay;

use super::*;

/// A simulated election of 400 stations in 12 districts with ballot stuffing at a fifth of
/// them: the definition and its entries (the genesis first).
fn election() -> (Election, Vec<Vec<u8>>) {
    let sim = Simulation::new(SimConfig {
        stations: 400,
        ..SimConfig::default()
    })
    .with_fraud(Fraud {
        kind: FraudKind::Stuffing,
        rate_per_10k: 2000,
    });
    let toml = sim.definition_toml();
    let mut csv = format!("{}\n", urna_sim::STATIONS_HEADER);
    let mut entries = Vec::new();
    for i in 0..400 {
        let s = sim.station(i);
        csv.push_str(&sim.station_row(&s));
        csv.push('\n');
        entries.push(sim.protocol_note(&s));
    }
    let e = Election::from_texts("election.toml", &toml, "stations.csv", &csv).unwrap();
    let log = NoteSigner::from_seed(&e.log_origin(), &[9; 32]).unwrap();
    let genesis = log
        .sign_text(
            &Genesis::of(&e, toml.as_bytes(), csv.as_bytes())
                .unwrap()
                .to_text(),
        )
        .to_bytes();
    entries.insert(0, genesis);
    (e, entries)
}

fn replay(e: &Election, entries: &[Vec<u8>]) -> Replay {
    let mut r = Replay::new(e).unwrap();
    for (i, x) in entries.iter().enumerate() {
        r.apply(e, i as u64, x).unwrap();
    }
    r
}

#[test]
fn before_any_protocol_the_json_says_why_and_no_plot_is_written() {
    let (e, entries) = election();
    let files = render(&e, &replay(&e, &entries[..1])).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].0, FORENSICS_JSON);
    let doc: serde_json::Value = serde_json::from_slice(&files[0].1).unwrap();
    assert_eq!(doc["screened"], false);
    assert_eq!(doc["reason"], "no counted station: nothing to screen");
    assert!(doc["plots"].as_array().unwrap().is_empty());
}

#[test]
fn the_files_are_the_same_every_time_and_list_every_plot_with_its_description() {
    let (e, entries) = election();
    let r = replay(&e, &entries);
    let files = render(&e, &r).unwrap();
    assert_eq!(files, render(&e, &r).unwrap(), "deterministic");
    let doc: serde_json::Value = serde_json::from_slice(&files[0].1).unwrap();
    assert_eq!(doc["format"], FORMAT);
    assert_eq!(doc["monte_carlo"]["repetitions"], BUNDLE_REPS);
    let plots = doc["plots"].as_array().unwrap();
    assert_eq!(plots.len() + 1, files.len());
    for (plot, (path, bytes)) in plots.iter().zip(&files[1..]) {
        assert_eq!(plot["file"], path.as_str());
        let svg = std::str::from_utf8(bytes).unwrap();
        let desc = escape(plot["desc"].as_str().unwrap());
        assert!(
            svg.contains(&format!("</title><desc>{desc}</desc>")),
            "{path}"
        );
    }
    // The stuffing shows nationally, and the numbers behind it are in the units' rows.
    let all = doc["units"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(all["id"], "all");
    assert!(
        all["stuffing"]["correlation"].as_f64().unwrap() >= 0.5,
        "{all}"
    );
    assert!(
        doc["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["screen"] == "stuffing" && f["unit"] == "all"),
        "{doc}"
    );
    // Numbers are written with at most DECIMALS decimals.
    let text = std::str::from_utf8(&files[0].1).unwrap();
    for token in text.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-')) {
        if let Some((_, frac)) = token.split_once('.') {
            assert!(frac.len() <= DECIMALS as usize, "{token}");
        }
    }
}

#[test]
fn a_missing_level_or_count_is_named() {
    let (e, entries) = election();
    let r = replay(&e, &entries);
    let err = grouped(&e, &r, Some("county")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--unit county: no unit has that level (levels: country, district, municipality)"
    );
}

#[test]
fn the_input_borrows_ids_and_votes_from_the_definition_and_the_replay() {
    let (e, entries) = election();
    let r = replay(&e, &entries);
    let g = grouped(&e, &r, None).unwrap();
    assert_eq!(g.input.stations.len(), e.stations.len());
    let mut reported = 0;
    for (s, st) in g.input.stations.iter().zip(&e.stations) {
        assert!(matches!(s.id, Cow::Borrowed(id) if std::ptr::eq(id, st.id.as_str())));
        // A station that reported lends its votes; one that did not has its zeros.
        if s.counted || s.quarantined {
            assert!(matches!(s.votes, Cow::Borrowed(_)), "{}", s.id);
            reported += 1;
        } else {
            assert!(s.votes.iter().all(|&v| v == 0), "{}", s.id);
        }
    }
    assert!(reported > 0);
}

proptest! {
    /// Rounding keeps DECIMALS decimals, is idempotent, moves a number by at most half a unit
    /// of the last decimal, and never writes -0.
    #[test]
    fn round_is_fixed_and_signless_at_zero(x in -1.0e6f64..1.0e6) {
        let r = round(x);
        prop_assert_eq!(round(r), r);
        prop_assert!((r - x).abs() <= 0.5e-4 + 1e-9);
        if r == 0.0 {
            prop_assert!(r.is_sign_positive());
        }
    }
}
