use proptest::prelude::*;
use urna_sim::{SimConfig, Simulation};

use super::*;
use crate::ingest::{IngestOptions, Outcome};

struct Fixture {
    _dir: tempfile::TempDir,
    data: PathBuf,
    definition: PathBuf,
    protocols: Vec<Vec<u8>>,
    amendments: Vec<Vec<u8>>,
}

/// A small simulated election written to a temporary directory.
fn fixture(stations: u32) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulation::new(SimConfig {
        stations,
        districts: 3,
        error_rate_per_10k: 1500,
        ..SimConfig::default()
    });
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("election.toml"), sim.definition_toml()).unwrap();
    let mut csv = format!("{}\n", urna_sim::STATIONS_HEADER);
    let mut protocols = Vec::new();
    let mut amendments = Vec::new();
    for i in 0..stations {
        let s = sim.station(i);
        csv.push_str(&sim.station_row(&s));
        csv.push('\n');
        let note = sim.protocol_note(&s);
        if let Some(a) = sim.amendment_note(&s, &note) {
            amendments.push(a);
        }
        protocols.push(note);
    }
    std::fs::write(src.join("stations.csv"), csv).unwrap();
    Fixture {
        data: dir.path().join("data"),
        definition: src.join("election.toml"),
        _dir: dir,
        protocols,
        amendments,
    }
}

fn ingest(store: &mut Store, notes: &[Vec<u8>]) -> (IngestReport, Vec<Outcome>) {
    let mut outcomes = Vec::new();
    let opts = IngestOptions {
        chunk: 7,
        commit_every: 50,
        ..IngestOptions::default()
    };
    let report = store
        .ingest(notes.iter().cloned().map(Ok), &opts, &SystemClock, |a| {
            outcomes.push(a.outcome.clone())
        })
        .unwrap();
    (report, outcomes)
}

#[test]
fn ingest_is_durable_idempotent_and_in_order() {
    let f = fixture(120);
    let mut store = Store::init(&f.data, &f.definition).unwrap();
    let (r, outcomes) = ingest(&mut store, &f.protocols);
    assert_eq!(r.read, 120);
    assert_eq!(r.accepted + r.quarantined, 120);
    assert!(r.quarantined > 0, "the fixture injects errors");
    for (i, o) in outcomes.iter().enumerate() {
        assert!(
            matches!(o, Outcome::Stored { index, .. } if *index == i as u64),
            "{i}: {o:?}"
        );
    }
    drop(store);

    // Reopened: the history is rebuilt, so everything is a duplicate and nothing is added.
    let mut store = Store::open(&f.data).unwrap();
    assert_eq!(store.len(), 120);
    let (r, _) = ingest(&mut store, &f.protocols);
    assert_eq!(r.duplicates, 120);
    assert_eq!(store.len(), 120);

    // Amendments are appended; the superseded rows stay.
    let (r, _) = ingest(&mut store, &f.amendments);
    assert_eq!(r.accepted, f.amendments.len() as u64);
    let entries = store.entries().unwrap();
    assert_eq!(entries.len(), 120 + f.amendments.len());
    assert_eq!(entries[0].note, f.protocols[0]);
    let report = store.tally(ContestIdx(0)).unwrap();
    let amended = report.quarantined.len() as u64;
    assert_eq!(report.tally().units[0].counted + amended, 120);
}

#[test]
fn rejected_notes_store_nothing() {
    let f = fixture(10);
    let mut store = Store::init(&f.data, &f.definition).unwrap();
    let mut bad = f.protocols[3].clone();
    let pos = bad.iter().position(|&b| b == b'\n').unwrap() + 12;
    bad[pos] ^= 1;
    let (r, outcomes) = ingest(&mut store, &[bad, b"not a note".to_vec()]);
    assert_eq!(r.rejected, 2);
    assert!(matches!(outcomes[0], Outcome::Rejected(_)));
    assert_eq!(store.len(), 0);
    assert!(store.entries().unwrap().is_empty());
}

#[test]
fn definition_changes_after_init_are_refused() {
    let f = fixture(5);
    drop(Store::init(&f.data, &f.definition).unwrap());
    let path = f.data.join(DEFINITION_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("Synthetic Assembly election", "Edited")).unwrap();
    assert!(matches!(
        Store::open(&f.data),
        Err(StoreError::DefinitionChanged { .. })
    ));
    assert!(matches!(
        Store::init(&f.data, &f.definition),
        Err(StoreError::Setup(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// The tally is the same whatever order the protocols arrive in.
    #[test]
    fn tally_is_independent_of_ingest_order(seed in any::<u64>()) {
        let f = fixture(60);
        let mut store = Store::init(&f.data, &f.definition).unwrap();
        ingest(&mut store, &f.protocols);
        let expected = store.tally(ContestIdx(0)).unwrap();

        let mut shuffled = f.protocols.clone();
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let dir2 = tempfile::tempdir().unwrap();
        let mut other = Store::init(&dir2.path().join("d"), &f.definition).unwrap();
        ingest(&mut other, &shuffled);
        let got = other.tally(ContestIdx(0)).unwrap();
        prop_assert_eq!(got.tally(), expected.tally());
        prop_assert_eq!(got.quarantined, expected.quarantined);
    }
}
