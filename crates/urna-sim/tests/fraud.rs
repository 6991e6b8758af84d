//! Fraud injection: only the chosen stations change, in the way their kind says, and the
//! honest stations stay those of the fraud-free simulation.

use urna_sim::{Fraud, FraudKind, SimConfig, Simulation};

fn sims(kind: FraudKind, rate_per_10k: u32) -> (Simulation, Simulation) {
    let config = SimConfig {
        stations: 2_000,
        ..SimConfig::default()
    };
    let clean = Simulation::new(config.clone());
    let fraud = Simulation::new(config).with_fraud(Fraud { kind, rate_per_10k });
    (clean, fraud)
}

#[test]
fn stuffing_adds_ballots_for_the_first_list_at_about_the_share_asked() {
    let (clean, fraud) = sims(FraudKind::Stuffing, 2_000);
    let mut manipulated = 0;
    for i in 0..2_000 {
        let (c, f) = (clean.station_counts(i), fraud.station_counts(i));
        assert!(!c.manipulated);
        if f.manipulated {
            manipulated += 1;
            let extra = f.cast - c.cast;
            assert!(extra > 0 && f.cast <= f.registered);
            assert_eq!(f.votes[0], c.votes[0] + extra);
            assert_eq!(f.votes[1..], c.votes[1..]);
            assert_eq!(f.valid + f.invalid, f.cast);
        } else {
            assert_eq!(f, c);
        }
    }
    assert!(
        (340..460).contains(&manipulated),
        "{manipulated} of 2000 at 20 %"
    );
}

#[test]
fn rounding_writes_whole_multiples_of_five_percent() {
    let (clean, fraud) = sims(FraudKind::Rounding, 500);
    let mut manipulated = 0;
    for i in 0..2_000 {
        let (c, f) = (clean.station_counts(i), fraud.station_counts(i));
        if !f.manipulated {
            assert_eq!(f, c);
            continue;
        }
        manipulated += 1;
        let percent = (f.cast * 200 + f.registered) / (2 * f.registered);
        assert_eq!(percent % 5, 0, "{f:?}");
        assert_eq!((f.registered * percent + 50) / 100, f.cast);
        assert_eq!(f.votes.iter().sum::<u64>(), f.valid);
    }
    assert!(
        (60..140).contains(&manipulated),
        "{manipulated} of 2000 at 5 %"
    );
}

#[test]
fn moving_takes_whole_municipalities() {
    let (clean, fraud) = sims(FraudKind::Moving, 2_000);
    let mut by_unit = std::collections::BTreeMap::<String, (u32, u32)>::new();
    for i in 0..2_000 {
        let (c, f) = (clean.station_counts(i), fraud.station_counts(i));
        let e = by_unit.entry(clean.station(i).unit).or_default();
        e.0 += 1;
        e.1 += u32::from(f.manipulated);
        if f.manipulated {
            assert_eq!(f.votes[0] + f.votes[1], c.votes[0] + c.votes[1]);
            assert!(f.votes[0] > c.votes[0]);
            assert_eq!(f.cast, c.cast);
        }
    }
    assert!(by_unit.values().all(|&(n, m)| m == 0 || m == n));
    assert!(by_unit.values().any(|&(_, m)| m > 0));
}
