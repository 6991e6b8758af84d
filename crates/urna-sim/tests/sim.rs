//! The simulation's outputs: closed lists unchanged by the open-list option, open lists
//! deterministic and passing intake except where an error was injected.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use sha2::{Digest, Sha256};
use urna_model::definition::{Election, STATIONS_HEADER};
use urna_model::intake::check;
use urna_model::protocol::hex;
use urna_model::rules::Severity;
use urna_sim::{PreferenceError, SimConfig, Simulation};

/// SHA-256 over the definition, every station row and every signed protocol and amendment.
fn digest(sim: &Simulation) -> String {
    let mut h = Sha256::new();
    h.update(sim.definition_toml());
    for i in 0..sim.config().stations {
        let s = sim.station(i);
        h.update(sim.station_row(&s));
        let note = sim.protocol_note(&s);
        h.update(&note);
        if sim.is_amended(&s) {
            h.update(sim.amendment_note(&s, &note).unwrap_or_default());
        }
    }
    hex(&h.finalize())
}

fn small(candidates: u32) -> SimConfig {
    SimConfig {
        stations: 400,
        error_rate_per_10k: 800,
        candidates,
        marks: 3,
        ..SimConfig::default()
    }
}

fn election(sim: &Simulation) -> Election {
    let mut csv = format!("{STATIONS_HEADER}\n");
    for i in 0..sim.config().stations {
        csv.push_str(&sim.station_row(&sim.station(i)));
        csv.push('\n');
    }
    Election::from_texts(
        "election.toml",
        &sim.definition_toml(),
        "stations.csv",
        &csv,
    )
    .unwrap()
}

/// Closed lists (the default, 0 candidates) give byte for byte what the simulation gave
/// before open lists existed: the digest was taken with that version of the simulation.
#[test]
fn closed_list_simulation_is_unchanged() {
    let sim = Simulation::new(SimConfig {
        stations: 400,
        error_rate_per_10k: 800,
        ..SimConfig::default()
    });
    assert_eq!(
        digest(&sim),
        "c9ebb2a97046060405fe9a798ca87340a82a6a902a5498fe2263057b46086f0a"
    );
}

#[test]
fn open_list_simulation_is_deterministic_and_keeps_the_list_votes() {
    let a = Simulation::new(small(12));
    assert_eq!(digest(&a), digest(&Simulation::new(small(12))));
    let closed = Simulation::new(small(0));
    assert_ne!(digest(&a), digest(&closed));
    for i in 0..a.config().stations {
        let (o, c) = (a.station(i), closed.station(i));
        // Stations without a preference error have the closed-list numbers.
        if o.preference_error.is_none() {
            assert_eq!(
                (&o.body.counts, &o.body.votes),
                (&c.body.counts, &c.body.votes)
            );
        }
        assert_eq!(o.signer.verifier().to_vkey(), c.signer.verifier().to_vkey());
    }
}

/// Every protocol without an injected error passes intake with no violated error rule; each
/// injected preference error is quarantined by the rule of its kind, except a moved vote,
/// which no rule can see; each correction passes; voters' marks stay within the allowed
/// number.
#[test]
fn open_list_protocols_pass_intake_unless_an_error_was_injected() {
    let sim = Simulation::new(small(12));
    let e = election(&sim);
    // Seven lists with their own candidates in each of the twelve districts: as many as the
    // district's seats, at least 12: 12 in eight districts, 14, 14, 16 and 37 in four (177).
    assert_eq!(e.candidates.len(), 7 * 177);
    let mut kinds = [0u32; 3];
    for i in 0..sim.config().stations {
        let s = sim.station(i);
        let sub = check(&e, &sim.protocol_note(&s)).unwrap();
        let rules: Vec<&str> = sub
            .violations
            .iter()
            .filter(|v| v.severity == Severity::Error)
            .map(|v| v.rule.as_str())
            .collect();
        match s.preference_error {
            None if !s.erroneous => {
                assert!(rules.is_empty(), "{}: {rules:?}", s.id);
                assert!(!s.body.preferences.is_empty());
                let marks: u64 = sub.preferences.iter().map(|p| p.1).sum();
                assert!(marks <= 3 * sub.votes.iter().sum::<u64>());
            }
            None => assert!(!rules.is_empty(), "{}", s.id),
            Some(PreferenceError::Moved) => {
                kinds[0] += 1;
                assert!(
                    rules.is_empty() || rules == ["preference-within-list-votes"],
                    "{}: {rules:?}",
                    s.id
                );
            }
            Some(PreferenceError::AboveList) => {
                kinds[1] += 1;
                assert!(
                    rules.contains(&"preference-within-list-votes"),
                    "{}: {rules:?}",
                    s.id
                );
            }
            Some(PreferenceError::UnknownCandidate) => {
                kinds[2] += 1;
                assert!(
                    rules.contains(&"preference-candidate-known"),
                    "{}: {rules:?}",
                    s.id
                );
            }
        }
        if let Some(correct) = &s.correct {
            let note = s.signer.sign_text(&correct.to_text()).to_bytes();
            assert!(!check(&e, &note).unwrap().is_quarantined(), "{}", s.id);
        }
    }
    assert!(kinds.iter().all(|&k| k > 0), "{kinds:?}");
}
