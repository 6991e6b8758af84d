//! Station key revocations at intake, at open and in the tally.

use urna_model::note::NoteSigner;
use urna_model::revocation::{RevocationBody, StationKey};

use super::*;

/// A fixture with no injected errors, so every verdict here is the revocations' doing.
fn clean(stations: u32) -> (Fixture, Simulation) {
    let config = SimConfig {
        stations,
        districts: 3,
        error_rate_per_10k: 0,
        ..SimConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulation::new(config);
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("election.toml"), sim.definition_toml()).unwrap();
    let mut csv = format!("{}\n", urna_sim::STATIONS_HEADER);
    let mut protocols = Vec::new();
    for i in 0..stations {
        let s = sim.station(i);
        csv.push_str(&sim.station_row(&s));
        csv.push('\n');
        protocols.push(sim.protocol_note(&s));
    }
    std::fs::write(src.join("stations.csv"), csv).unwrap();
    let f = Fixture {
        data: dir.path().join("data"),
        definition: src.join("election.toml"),
        _dir: dir,
        protocols,
        amendments: Vec::new(),
    };
    (f, sim)
}

fn key(s: &NoteSigner) -> StationKey {
    StationKey {
        key_id: s.key_id(),
        public_key: s.public_key(),
    }
}

/// A new key for station `i` (same name, another seed).
fn new_key(sim: &Simulation, i: u32, n: u8) -> NoteSigner {
    NoteSigner::from_seed(&sim.station(i).id, &[n; 32]).unwrap()
}

/// A revocation by the simulation's authority.
fn revocation(sim: &Simulation, i: u32, revokes: &NoteSigner, new: Option<&NoteSigner>) -> Vec<u8> {
    let body = RevocationBody {
        election: urna_sim::ELECTION_ID.to_owned(),
        station: sim.station(i).id,
        revokes: key(revokes),
        replacement: new.map(key),
        reason: "the board's tablet was stolen".into(),
    };
    sim.authority().sign_text(&body.to_text()).to_bytes()
}

/// Station `i`'s protocol signed with `signer` instead of its own key.
fn protocol_by(sim: &Simulation, i: u32, signer: &NoteSigner) -> Vec<u8> {
    signer.sign_text(&sim.station(i).body.to_text()).to_bytes()
}

fn ingest_chunked(store: &mut Store, notes: &[Vec<u8>], chunk: usize) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    let opts = IngestOptions {
        chunk,
        commit_every: 50,
        ..IngestOptions::default()
    };
    store
        .ingest(notes.iter().cloned().map(Ok), &opts, &SystemClock, |a| {
            outcomes.push(a.outcome.clone());
        })
        .unwrap();
    outcomes
}

fn verdict(o: &Outcome) -> Option<Verdict> {
    match o {
        Outcome::Stored { verdict, .. } => Some(*verdict),
        _ => None,
    }
}

#[test]
fn a_revoked_key_is_refused_and_its_replacement_signs_for_the_station() {
    let (f, sim) = clean(12);
    let mut store = Store::init(&f.data, &f.definition).unwrap();
    // Stations 0..8 submit; 8, 9 and 10 lose their keys before they submit.
    let before = ingest(&mut store, &f.protocols[..8]).1;
    assert!(before.iter().all(|o| verdict(o) == Some(Verdict::Accepted)));
    let old = |i: u32| sim.station(i).signer;
    let (new8, new9) = (new_key(&sim, 8, 80), new_key(&sim, 9, 90));
    let revocations = vec![
        revocation(&sim, 8, &old(8), Some(&new8)),
        revocation(&sim, 9, &old(9), Some(&new9)),
        revocation(&sim, 10, &old(10), None),
        // Station 0 submitted before its key was revoked: its entry keeps its status.
        revocation(&sim, 0, &old(0), None),
    ];
    let out = ingest(&mut store, &revocations).1;
    assert!(
        out.iter().all(|o| verdict(o) == Some(Verdict::Accepted)),
        "{out:?}"
    );
    let first_revocation = GENESIS + 8;
    // The same revocation again is a duplicate of its entry; a key revoked or not held is
    // refused with the field and the rule.
    let again = vec![
        revocations[0].clone(),
        revocation(&sim, 8, &old(8), None),
        revocation(&sim, 11, &new_key(&sim, 11, 111), None),
        revocation(&sim, 9, &new9, Some(&old(9))),
    ];
    let out = ingest(&mut store, &again).1;
    assert_eq!(
        out[0],
        Outcome::Duplicate {
            index: first_revocation,
            hash: urna_model::intake::sha256(&revocations[0])
        }
    );
    // Its signed text under other signature bytes is the same revocation.
    let mut resent = revocations[0].clone();
    resent.extend_from_slice(
        "\u{2014} x AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
            .as_bytes(),
    );
    assert_eq!(
        ingest(&mut store, &[resent]).1,
        [Outcome::Duplicate {
            index: first_revocation,
            hash: urna_model::intake::sha256(&revocations[0])
        }]
    );
    let refusal = |o: &Outcome| match o {
        Outcome::Rejected(r) => (r.code(), r.field()),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        refusal(&out[1]),
        ("key-already-revoked", Some("revokes".into()))
    );
    assert_eq!(refusal(&out[2]), ("key-not-held", Some("revokes".into())));
    assert_eq!(
        refusal(&out[3]),
        ("bad-replacement", Some("replacement".into()))
    );

    // After the revocations: 8 signs with its replacement (accepted), 9 and 10 with their
    // lost keys (refused, `key-revoked`: nothing stored), 11 as before.
    let notes = vec![
        protocol_by(&sim, 8, &new8),
        f.protocols[9].clone(),
        f.protocols[10].clone(),
        f.protocols[11].clone(),
    ];
    let out = ingest(&mut store, &notes).1;
    let verdicts: Vec<_> = out.iter().map(verdict).collect();
    use Verdict::Accepted;
    assert_eq!(
        verdicts,
        [Some(Accepted), None, None, Some(Accepted)],
        "{out:?}"
    );
    for o in &out[1..3] {
        assert_eq!(
            refusal(o),
            ("key-revoked", Some("station signature".into()))
        );
    }
    // A note signed with the replacement key is refused where the station still holds
    // its own key.
    let out = ingest(
        &mut store,
        &[protocol_by(&sim, 11, &new_key(&sim, 11, 111))],
    )
    .1;
    assert!(matches!(out[0], Outcome::Rejected(_)), "{out:?}");
    // Regression: the thief's note under 9's lost key took the station's revision 1, so the
    // station's own protocol under its replacement key was then refused as a conflict. It is
    // the station's now: the lost key's note was never stored.
    let out = ingest(&mut store, &[protocol_by(&sim, 9, &new9)]).1;
    assert_eq!(verdict(&out[0]), Some(Accepted), "{out:?}");

    let entries = store.entries().unwrap();
    assert!(entries.iter().all(|e| !e.quarantined));
    let after = GENESIS + 12;
    // Revocation rows: the station, revision 0, not quarantined.
    let row = &entries[first_revocation as usize];
    assert_eq!(
        (row.station.as_str(), row.revision),
        (sim.station(8).id.as_str(), 0)
    );
    // Entry 1 (station 0, before its key was revoked) is still accepted.
    assert!(!entries[GENESIS as usize].quarantined);

    let report = store.tally(ContestIdx(0)).unwrap();
    assert!(report.quarantined.is_empty());
    assert_eq!(report.tally().units[0].counted, 11);
    assert_eq!(report, store.rederive_tally(ContestIdx(0)).unwrap());

    // The public replay of the log follows the revocations in log order to the same verdicts
    // (station 0's entry, logged before its key was revoked, stays counted).
    let replay = store.replay_upto(store.len()).unwrap();
    assert_eq!(replay.quarantined(ContestIdx(0)).count(), 0);
    assert_eq!(replay.tally(ContestIdx(0)), report.tally());
    assert_eq!(replay.keys().revocations().count(), 4);
    // Without the revocations before it, the note signed with station 8's replacement key is
    // not the station's.
    let mut moved = urna_tally::public::Replay::new(store.election()).unwrap();
    let rows = store.entries().unwrap();
    for (i, row) in rows.iter().enumerate().take(GENESIS as usize + 8) {
        moved.apply(store.election(), i as u64, &row.note).unwrap();
    }
    let err = moved
        .apply_verified(
            store.election(),
            GENESIS + 8,
            &rows[GENESIS as usize + 12].note,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("signature"), "{err}");

    // Reopened: the revocations are followed in log order again, to the same verdicts.
    drop(store);
    let mut store = Store::open(&f.data).unwrap();
    assert_eq!(store.entries().unwrap(), entries);
    assert_eq!(report, store.tally(ContestIdx(0)).unwrap());
    let out = ingest(&mut store, &revocations).1;
    assert!(out.iter().all(|o| matches!(o, Outcome::Duplicate { .. })));
    // The read-only view follows them too.
    let view = crate::view::StoreView::open(&f.data).unwrap();
    assert_eq!(view.tallies().unwrap()[0], report);
    assert!(!view.entry(after + 1).unwrap().unwrap().quarantined);
    drop(store);

    // A status edited outside urna disagrees with the verdict the revocation gives.
    let side = rusqlite::Connection::open(f.data.join(DB_FILE)).unwrap();
    side.execute(
        "UPDATE entries SET status = 1 WHERE idx = ?1",
        [to_sql(after + 1)],
    )
    .unwrap();
    drop(side);
    let store = Store::open(&f.data).unwrap();
    let err = store.entry(after + 1).unwrap_err().to_string();
    assert!(err.contains("column `status`"), "{err}");
    let len = store.len();
    drop(store);

    // A revocation of a key revoked already, added to the database outside urna: the open
    // follows the revocations in log order and refuses it, naming the entry and the rule.
    let bad = revocation(&sim, 8, &old(8), None);
    let text_len = Note::parse(&bad).unwrap().text().len();
    let side = rusqlite::Connection::open(f.data.join(DB_FILE)).unwrap();
    side.execute(
        "INSERT INTO entries (idx, hash, text_hash, contest, station, revision, status, received_ms, note) \
         VALUES (?1, ?2, ?3, '', ?4, 0, 0, 0, ?5)",
        rusqlite::params![
            to_sql(len),
            urna_model::intake::sha256(&bad).as_slice(),
            urna_model::intake::sha256(&bad[..text_len]).as_slice(),
            sim.station(8).id,
            bad
        ],
    )
    .unwrap();
    drop(side);
    let err = Store::open(&f.data).unwrap_err().to_string();
    assert!(
        err.contains(&format!("entry {len}")) && err.contains("revoked already"),
        "{err}"
    );
}

#[test]
fn a_revocation_in_the_middle_of_a_batch_gives_the_verdicts_of_one_by_one_intake() {
    let (f, sim) = clean(30);
    let old = |i: u32| sim.station(i).signer;
    let new: Vec<NoteSigner> = (0..30).map(|i| new_key(&sim, i, 100 + i as u8)).collect();
    let mut notes: Vec<Vec<u8>> = f.protocols[..10].to_vec();
    // Revocations come in the middle; after them, some stations sign with the new key and
    // some with the lost one, in the same chunk as the revocation.
    for i in 10..20 {
        notes.push(revocation(&sim, i, &old(i), Some(&new[i as usize])));
        notes.push(if i % 2 == 0 {
            protocol_by(&sim, i, &new[i as usize])
        } else {
            f.protocols[i as usize].clone()
        });
    }
    // A revocation of a key already replaced, and a replacement key used where no
    // revocation gave it.
    notes.push(revocation(&sim, 10, &old(10), None));
    notes.push(protocol_by(&sim, 25, &new[25]));
    notes.extend_from_slice(&f.protocols[20..30]);

    let bulk_dir = tempfile::tempdir().unwrap();
    let mut bulk = Store::init(&bulk_dir.path().join("d"), &f.definition).unwrap();
    let bulk_out = ingest_chunked(&mut bulk, &notes, 512);
    let mut single = Store::init(&f.data, &f.definition).unwrap();
    let mut single_out = Vec::new();
    for n in &notes {
        single_out.extend(ingest_chunked(&mut single, std::slice::from_ref(n), 1));
    }
    assert_eq!(bulk_out, single_out);
    let mut chunked_out = Vec::new();
    let chunked_dir = tempfile::tempdir().unwrap();
    let mut chunked = Store::init(&chunked_dir.path().join("d"), &f.definition).unwrap();
    chunked_out.extend(ingest_chunked(&mut chunked, &notes, 3));
    assert_eq!(chunked_out, single_out);
    let revoked = single_out
        .iter()
        .filter(|o| matches!(o, Outcome::Rejected(r) if r.code() == "key-revoked"))
        .count();
    assert_eq!(revoked, 5, "{single_out:?}");
    let rejected = single_out
        .iter()
        .filter(|o| matches!(o, Outcome::Rejected(_)))
        .count();
    assert_eq!(rejected, 5 + 2, "{single_out:?}");
    let report = single.tally(ContestIdx(0)).unwrap();
    assert_eq!(report, bulk.tally(ContestIdx(0)).unwrap());
    assert_eq!(report.tally().units[0].counted, 30 - 5);
    drop((bulk, single, chunked));
    let mut reopened = Store::open(&f.data).unwrap();
    assert_eq!(report, reopened.tally(ContestIdx(0)).unwrap());
}
