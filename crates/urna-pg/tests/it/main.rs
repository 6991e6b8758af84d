//! urna-pg against a real PostgreSQL server started by the test (`urna_testkit::pg`).

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::panic)]

mod conformance;
mod witness_policy;

use std::path::PathBuf;
use std::time::Duration;

use urna_model::note::NoteSigner;
use urna_pg::{PgError, PgSequencer, PgStore};
use urna_sim::{SimConfig, Simulation};
use urna_store::{IngestOptions, Outcome, Store, StoreError, SystemClock};
use urna_testkit::pg::PgServer;
use urna_tlog::hash::TreeSize;

struct Fixture {
    dir: tempfile::TempDir,
    definition: PathBuf,
    protocols: Vec<Vec<u8>>,
    amendments: Vec<Vec<u8>>,
}

/// A simulated election with quarantined protocols and amendments.
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
    let (mut protocols, mut amendments) = (Vec::new(), Vec::new());
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
        definition: src.join("election.toml"),
        dir,
        protocols,
        amendments,
    }
}

/// A SQLite store of the fixture, and its log key (to give the PostgreSQL store the same).
fn sqlite(f: &Fixture) -> (Store, NoteSigner) {
    let data = f.dir.path().join("data");
    let store = Store::init(&data, &f.definition).unwrap();
    let skey = std::fs::read_to_string(data.join(urna_store::log::LOG_KEY_FILE)).unwrap();
    (store, NoteSigner::from_skey(skey.trim()).unwrap())
}

fn sqlite_ingest(store: &mut Store, notes: &[Vec<u8>]) -> Vec<Outcome> {
    let mut out = Vec::new();
    let opts = IngestOptions {
        chunk: 7,
        commit_every: 50,
        ..IngestOptions::default()
    };
    store
        .ingest(notes.iter().cloned().map(Ok), &opts, &SystemClock, |a| {
            out.push(a.outcome.clone())
        })
        .unwrap();
    out
}

/// Ingests in batches of `batch` notes, as a node would.
fn pg_ingest(store: &mut PgStore, notes: &[Vec<u8>], batch: usize) -> Vec<Outcome> {
    notes
        .chunks(batch)
        .flat_map(|c| store.ingest(c, &SystemClock).unwrap())
        .collect()
}

const LEASE: Duration = Duration::from_secs(30);

#[test]
fn the_same_notes_give_the_same_verdicts_checkpoint_and_tiles_as_sqlite() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let f = fixture(300);
    let (mut lite, signer) = sqlite(&f);
    let url = server.database("same_log");
    let mut pg = PgStore::init(&url, &f.definition, signer.clone()).unwrap();
    let sim = Simulation::new(SimConfig {
        stations: 300,
        districts: 3,
        error_rate_per_10k: 1500,
        ..SimConfig::default()
    });
    // Three stations with no amendment send nothing until their keys are revoked (step 1b).
    let held: Vec<u32> = (250..300)
        .filter(|&i| {
            sim.amendment_note(&sim.station(i), &f.protocols[i as usize])
                .is_none()
        })
        .take(3)
        .collect();
    assert_eq!(held.len(), 3);

    // 1. Protocols, their amendments, then everything again (duplicates), on both engines.
    let mut all: Vec<Vec<u8>> = f
        .protocols
        .iter()
        .enumerate()
        .filter(|(i, _)| !held.contains(&(*i as u32)))
        .map(|(_, p)| p.clone())
        .collect();
    all.extend(f.amendments.iter().cloned());
    assert!(!f.amendments.is_empty());
    let lite_out = sqlite_ingest(&mut lite, &all);
    let pg_out = pg_ingest(&mut pg, &all, 64);
    assert_eq!(pg_out, lite_out);
    let quarantined = pg_out
        .iter()
        .filter(|o| {
            matches!(
                o,
                Outcome::Stored {
                    verdict: urna_model::intake::Verdict::Quarantined,
                    ..
                }
            )
        })
        .count();
    assert!(quarantined > 0, "the fixture quarantines some protocols");
    let again = pg_ingest(&mut pg, &all, 100);
    assert!(again.iter().all(|o| matches!(o, Outcome::Duplicate { .. })));
    assert_eq!(again, sqlite_ingest(&mut lite, &all));
    // A protocol replayed after its amendment is refused on both, for the same reason.
    let replay = f.protocols[..3].to_vec();
    assert_eq!(
        pg_ingest(&mut pg, &replay, 3),
        sqlite_ingest(&mut lite, &replay)
    );

    // Decisions: an annulment replaced by an acceptance, then the annulment sent again with
    // an extra signature line. The same signed text is the same decision: a duplicate of its
    // entry on both engines, never a new decision.
    let station = lite.election().stations[5].id.clone();
    let current = lite.current_entry_of(&station).unwrap().unwrap().note;
    let decide = |kind, reason: &str| {
        let body = urna_model::decision::DecisionBody {
            election: lite.election().id.clone(),
            contest: lite.election().contests[0].id.clone(),
            station: station.clone(),
            decides: urna_model::intake::sha256(&current),
            decision: kind,
            reason: reason.into(),
        };
        sim.authority().sign_text(&body.to_text()).to_bytes()
    };
    let annul = decide(
        urna_model::decision::DecisionKind::Annul,
        "ballots found outside",
    );
    let accept = decide(urna_model::decision::DecisionKind::Accept, "appeal upheld");
    let mut replayed = annul.clone();
    replayed.extend_from_slice(
        "\u{2014} x AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
            .as_bytes(),
    );
    let decisions = [annul.clone(), accept];
    let pg_decided = pg_ingest(&mut pg, &decisions, 2);
    assert_eq!(pg_decided, sqlite_ingest(&mut lite, &decisions));
    let pg_replayed = pg_ingest(&mut pg, std::slice::from_ref(&replayed), 1);
    assert_eq!(
        pg_replayed,
        sqlite_ingest(&mut lite, std::slice::from_ref(&replayed))
    );
    let Outcome::Stored { index, .. } = pg_decided[0] else {
        panic!("the annulment is stored: {pg_decided:?}");
    };
    assert!(
        matches!(pg_replayed[0], Outcome::Duplicate { index: held, hash } if held == index && hash == urna_model::intake::sha256(&annul)),
        "{pg_replayed:?}"
    );
    let mut pg_out = pg_out;
    pg_out.extend(pg_decided);

    // 1b. Station key revocations. In one batch: station A's protocol by its own key is
    // stored, then its key is revoked with a replacement; B's key is revoked, after which a
    // note by B's revoked key is refused and one by its replacement (which the batch's
    // checkers did not know) is the station's; B's revocation again, as sent and under other
    // signature bytes, is a duplicate of its entry. In later batches: C's key is revoked, then
    // C's note by the revoked key is refused and the replacement's is stored.
    let [a, b, c] = [held[0], held[1], held[2]];
    let old = |i: u32| sim.station(i).signer;
    let new = |i: u32| NoteSigner::from_seed(&sim.station(i).id, &[i as u8; 32]).unwrap();
    let by = |i: u32, s: &NoteSigner| s.sign_text(&sim.station(i).body.to_text()).to_bytes();
    let revoke_b = revocation(&sim, b, &old(b), Some(&new(b)));
    let mut revoke_b_again = revoke_b.clone();
    revoke_b_again.extend_from_slice(
        "\u{2014} x AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
            .as_bytes(),
    );
    let batch = vec![
        by(a, &old(a)),
        revocation(&sim, a, &old(a), Some(&new(a))),
        revoke_b.clone(),
        by(b, &old(b)),
        by(b, &new(b)),
        revoke_b.clone(),
        revoke_b_again,
    ];
    let pg_revoked = pg_ingest(&mut pg, &batch, batch.len());
    assert_eq!(pg_revoked, sqlite_ingest(&mut lite, &batch));
    let stored = |o: &Outcome| matches!(o, Outcome::Stored { .. });
    assert!(stored(&pg_revoked[0]) && stored(&pg_revoked[1]) && stored(&pg_revoked[2]));
    assert!(
        matches!(&pg_revoked[3], Outcome::Rejected(r) if r.code() == "key-revoked"),
        "{pg_revoked:?}"
    );
    assert!(stored(&pg_revoked[4]), "{pg_revoked:?}");
    let Outcome::Stored {
        index: revoked_at, ..
    } = pg_revoked[2]
    else {
        unreachable!()
    };
    for again in &pg_revoked[5..] {
        assert!(
            matches!(again, Outcome::Duplicate { index, hash } if *index == revoked_at && *hash == urna_model::intake::sha256(&revoke_b)),
            "{again:?}"
        );
    }
    pg_out.extend(pg_revoked);
    let revoke_c = revocation(&sim, c, &old(c), Some(&new(c)));
    for batch in [
        vec![revoke_c.clone()],
        vec![by(c, &old(c)), by(c, &new(c)), revoke_c],
    ] {
        let pg_c = pg_ingest(&mut pg, &batch, batch.len());
        assert_eq!(pg_c, sqlite_ingest(&mut lite, &batch));
        pg_out.extend(pg_c);
    }
    let n = pg_out.len();
    assert!(
        matches!(&pg_out[n - 3], Outcome::Rejected(r) if r.code() == "key-revoked")
            && stored(&pg_out[n - 2])
            && matches!(pg_out[n - 1], Outcome::Duplicate { .. }),
        "{:?}",
        &pg_out[n - 4..]
    );

    // 2. Sequencing gives the SQLite store's checkpoint, byte for byte.
    let mut seq = PgSequencer::acquire(&url, signer.clone(), "node-a", LEASE)
        .unwrap()
        .expect("the lease is free");
    let checkpoint = seq.step().unwrap().expect("entries to sequence");
    drop(lite);
    let data = f.dir.path().join("data");
    let lite_checkpoint = urna_store::log::read_latest(&data).unwrap().unwrap();
    assert_eq!(checkpoint, lite_checkpoint);
    assert_eq!(pg.latest_checkpoint().unwrap(), Some(checkpoint));
    assert_eq!(seq.step().unwrap(), None, "nothing new to sequence");

    // 3. And the same tiles: every tile of the tree at that size.
    let size = pg.entries().unwrap();
    let stored = pg_out
        .iter()
        .filter(|o| matches!(o, Outcome::Stored { .. }))
        .count();
    assert_eq!(size, 1 + stored as u64);
    let dir = urna_tlog::TileDir::open(data.join(urna_store::log::LOG_DIR)).unwrap();
    let tiles = urna_tlog::tile::tiles_for_size(TreeSize(size));
    assert!(tiles.len() > 3);
    for tile in tiles {
        let lite_tile = dir.read(&tile).unwrap().expect("sqlite tile");
        assert_eq!(
            pg.tile(&tile.path()).unwrap(),
            Some(lite_tile),
            "{}",
            tile.path()
        );
    }

    // 4. Reopening checks everything and accepts it; a revocation's row of table
    // `revocations` deleted outside urna is refused.
    drop(pg);
    PgStore::open(&url, &f.definition, signer.clone()).unwrap();
    let mut admin = urna_pg::connect(&url).unwrap();
    admin
        .execute(
            "DELETE FROM revocations WHERE idx = $1",
            &[&i64::try_from(revoked_at).unwrap()],
        )
        .unwrap();
    let err = PgStore::open(&url, &f.definition, signer)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("table `revocations`") && err.contains(&format!("entry {revoked_at}")),
        "{err}"
    );
}

/// A revocation of station `i`'s key `revokes`, naming `new`, by the simulation's authority.
fn revocation(sim: &Simulation, i: u32, revokes: &NoteSigner, new: Option<&NoteSigner>) -> Vec<u8> {
    let key = |s: &NoteSigner| urna_model::revocation::StationKey {
        key_id: s.key_id(),
        public_key: s.public_key(),
    };
    let body = urna_model::revocation::RevocationBody {
        election: urna_sim::ELECTION_ID.to_owned(),
        station: sim.station(i).id,
        revokes: key(revokes),
        replacement: new.map(key),
        reason: "the board's tablet was stolen".into(),
    };
    sim.authority().sign_text(&body.to_text()).to_bytes()
}

#[test]
fn a_note_or_derived_row_edited_in_the_database_is_refused_at_open() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let f = fixture(40);
    let (_, signer) = sqlite(&f);
    let url = server.database("edited");
    let mut pg = PgStore::init(&url, &f.definition, signer.clone()).unwrap();
    pg_ingest(&mut pg, &f.protocols, 16);
    let mut seq = PgSequencer::acquire(&url, signer.clone(), "a", LEASE)
        .unwrap()
        .unwrap();
    seq.step().unwrap();
    drop(pg);
    let mut admin = urna_pg::connect(&url).unwrap();
    let open = || PgStore::open(&url, &f.definition, signer.clone());
    open().unwrap();

    // A vote count changed in a stored note (its hash column left alone).
    let note: Vec<u8> = admin
        .query_one("SELECT note FROM entries WHERE idx = 5", &[])
        .unwrap()
        .get(0);
    let text = String::from_utf8(note.clone()).unwrap();
    let edited = text.replacen("votes: ", "votes: 1", 1);
    assert_ne!(edited, text);
    admin
        .execute(
            "UPDATE entries SET note = $1 WHERE idx = 5",
            &[&edited.as_bytes()],
        )
        .unwrap();
    let err = open().unwrap_err();
    assert!(
        matches!(
            err,
            PgError::Store(StoreError::Column {
                index: 5,
                column: "hash",
                ..
            }) | PgError::Store(StoreError::Corrupt { index: 5, .. })
        ),
        "{err}"
    );
    admin
        .execute("UPDATE entries SET note = $1 WHERE idx = 5", &[&note])
        .unwrap();
    open().unwrap();

    // The note re-hashed too: the log's signed root refuses it.
    let edited = edited.into_bytes();
    admin
        .execute(
            "UPDATE entries SET note = $1, hash = sha256($1) WHERE idx = 5",
            &[&edited],
        )
        .unwrap();
    let err = open().unwrap_err().to_string();
    assert!(err.contains("entry 5") || err.contains("root"), "{err}");
    admin
        .execute(
            "UPDATE entries SET note = $1, hash = sha256($1) WHERE idx = 5",
            &[&note],
        )
        .unwrap();
    open().unwrap();

    // A station's current entry pointed elsewhere.
    admin
        .execute("UPDATE current SET idx = 1 WHERE idx = 7", &[])
        .unwrap();
    let err = open().unwrap_err();
    assert!(
        matches!(
            err,
            PgError::Derived {
                table: "current",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_revocation_another_node_commits_while_a_batch_waits_for_the_head_lock_changes_its_verdicts() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let f = fixture(12);
    let (mut lite, signer) = sqlite(&f);
    let url = server.database("revoke_race");
    drop(PgStore::init(&url, &f.definition, signer.clone()).unwrap());
    let mut node_a = PgStore::open(&url, &f.definition, signer.clone()).unwrap();
    let mut node_b = PgStore::open(&url, &f.definition, signer.clone()).unwrap();
    let sim = Simulation::new(SimConfig {
        stations: 12,
        districts: 3,
        error_rate_per_10k: 1500,
        ..SimConfig::default()
    });
    let (s, t) = (3u32, 4u32);
    let old = |i: u32| sim.station(i).signer;
    let new = |i: u32| NoteSigner::from_seed(&sim.station(i).id, &[i as u8; 32]).unwrap();
    let by = |i: u32, k: &NoteSigner| k.sign_text(&sim.station(i).body.to_text()).to_bytes();
    let revocations = [
        revocation(&sim, s, &old(s), Some(&new(s))),
        revocation(&sim, t, &old(t), Some(&new(t))),
    ];
    // Node B's batch: station s by its old key, station t by its replacement. B checks it
    // before A's revocations are committed, so its checkers pass the one and refuse the other.
    let batch = [by(s, &old(s)), by(t, &new(t))];

    // Hold the head row so that A, then B, check their batches and wait for it, in that order.
    let mut admin = urna_pg::connect(&url).unwrap();
    let mut hold = admin.transaction().unwrap();
    hold.query_one("SELECT next_idx FROM intake_head FOR UPDATE", &[])
        .unwrap();
    let mut watch = urna_pg::connect(&url).unwrap();
    let mut waiting = |n: i64| {
        let t0 = std::time::Instant::now();
        loop {
            let w: i64 = watch
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
                    &[],
                )
                .unwrap()
                .get(0);
            if w >= n {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "{w} waiting, not {n}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let (a_out, b_out) = std::thread::scope(|scope| {
        let a = scope.spawn(|| node_a.ingest(&revocations, &SystemClock).unwrap());
        waiting(1);
        let b = scope.spawn(|| node_b.ingest(&batch, &SystemClock).unwrap());
        waiting(2);
        hold.commit().unwrap();
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(
        a_out.iter().all(|o| matches!(o, Outcome::Stored { .. })),
        "{a_out:?}"
    );
    // Under the lock B read A's revocations and judged both notes again by them.
    assert!(
        matches!(&b_out[0], Outcome::Rejected(r) if r.code() == "key-revoked"),
        "{b_out:?}"
    );
    assert!(
        matches!(b_out[1], Outcome::Stored { index: 3, .. }),
        "{b_out:?}"
    );
    // The same notes on SQLite, in the order the log holds them, give the same verdicts.
    let mut all = revocations.to_vec();
    all.extend(batch);
    let mut both = a_out;
    both.extend(b_out);
    assert_eq!(sqlite_ingest(&mut lite, &all), both);
    drop((node_a, node_b));
    PgStore::open(&url, &f.definition, signer).unwrap();
}

/// `ingest_batches` checks each batch while the one before commits, against the station keys
/// as they were before that commit: a revocation in one batch must still decide the verdicts of
/// the next (checked before it was stored), exactly as batch by batch and as on SQLite.
#[test]
fn batches_checked_while_the_one_before_commits_give_the_verdicts_of_one_at_a_time() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let f = fixture(60);
    let (mut lite, signer) = sqlite(&f);
    let url = server.database("pipelined");
    let mut pg = PgStore::init(&url, &f.definition, signer.clone()).unwrap();
    let sim = Simulation::new(SimConfig {
        stations: 60,
        districts: 3,
        error_rate_per_10k: 1500,
        ..SimConfig::default()
    });
    let (a, b) = (7u32, 8u32);
    let old = |i: u32| sim.station(i).signer;
    let new = |i: u32| NoteSigner::from_seed(&sim.station(i).id, &[i as u8; 32]).unwrap();
    let by = |i: u32, k: &NoteSigner| k.sign_text(&sim.station(i).body.to_text()).to_bytes();
    // Every other station's protocol and amendment, in batches of 16 (several checked while
    // another commits), then the revocations and the notes they decide in the batches after.
    let mut notes: Vec<Vec<u8>> = Vec::new();
    for i in (0..60u32).filter(|i| ![a, b].contains(i)) {
        let p = &f.protocols[i as usize];
        notes.push(p.clone());
        notes.extend(sim.amendment_note(&sim.station(i), p));
    }
    let mut batches: Vec<Vec<Vec<u8>>> = notes.chunks(16).map(<[_]>::to_vec).collect();
    batches.extend([
        // Checked while A's revocation commits: the old key passes the checkers and the new
        // one is refused by them; both are judged again under the head lock.
        vec![revocation(&sim, a, &old(a), Some(&new(a)))],
        vec![by(a, &old(a)), by(a, &new(a))],
        vec![revocation(&sim, b, &old(b), Some(&new(b))), by(b, &new(b))],
        vec![by(b, &old(b))],
        // Sent again: duplicates of their entries.
        vec![revocation(&sim, a, &old(a), Some(&new(a))), by(a, &new(a))],
    ]);
    let mut got = Vec::new();
    let mut sizes = Vec::new();
    pg.ingest_batches(
        batches.iter().map(Vec::as_slice),
        &SystemClock,
        |batch, acks| {
            assert_eq!(acks.outcomes.len(), batch.len());
            assert_eq!(acks.stations.len(), batch.len());
            sizes.push(batch.len());
            got.extend(acks.outcomes);
        },
    )
    .unwrap();
    assert_eq!(sizes, batches.iter().map(Vec::len).collect::<Vec<_>>());
    let all: Vec<Vec<u8>> = batches.concat();
    assert_eq!(got, sqlite_ingest(&mut lite, &all));
    let n = got.len();
    let revoked = |o: &Outcome| matches!(o, Outcome::Rejected(r) if r.code() == "key-revoked");
    let stored = |o: &Outcome| matches!(o, Outcome::Stored { .. });
    assert!(
        stored(&got[n - 8])
            && revoked(&got[n - 7])
            && stored(&got[n - 6])
            && stored(&got[n - 5])
            && stored(&got[n - 4])
            && revoked(&got[n - 3])
            && got[n - 2..]
                .iter()
                .all(|o| matches!(o, Outcome::Duplicate { .. })),
        "{:?}",
        &got[n - 8..]
    );
    // No batch at all stores nothing and gives no acks.
    pg.ingest_batches(std::iter::empty(), &SystemClock, |_, _| panic!("no batch"))
        .unwrap();
    drop(pg);
    let mut pg = PgStore::open(&url, &f.definition, signer).unwrap();
    assert_eq!(
        pg.entries().unwrap(),
        1 + got.iter().filter(|o| stored(o)).count() as u64
    );
}

#[test]
fn two_sequencers_forced_to_overlap_cannot_fork_the_log() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let f = fixture(60);
    let (_, signer) = sqlite(&f);
    let url = server.database("race");
    let mut pg = PgStore::init(&url, &f.definition, signer.clone()).unwrap();
    pg_ingest(&mut pg, &f.protocols[..20], 10);

    // 1. A takes a lease that expires at once (a node paused past its lease, or a clock that
    //    ran fast); B takes over while A still believes it sequences.
    let mut a = PgSequencer::acquire(&url, signer.clone(), "a", Duration::ZERO)
        .unwrap()
        .unwrap();
    let a_first = a.step().unwrap().expect("A signs the first 21 entries");
    std::thread::sleep(Duration::from_millis(5));
    let mut b = PgSequencer::acquire(&url, signer.clone(), "b", LEASE)
        .unwrap()
        .expect("A's lease expired");
    assert!(b.epoch() > a.epoch());
    assert!(
        PgSequencer::acquire(&url, signer.clone(), "c", LEASE)
            .unwrap()
            .is_none(),
        "B holds the lease"
    );

    // 2. Both have new entries to sequence: A's transaction is refused, B's goes through.
    pg_ingest(&mut pg, &f.protocols[20..], 10);
    let err = a.step().unwrap_err();
    assert!(matches!(err, PgError::Fenced { .. }), "{err}");
    assert!(a.step().is_err(), "a fenced sequencer stays stopped");
    let b_cp = b.step().unwrap().expect("B signs the rest");

    // 3. One history: B's checkpoint extends A's, and it is the only one at its size.
    let mut admin = urna_pg::connect(&url).unwrap();
    let sizes: Vec<i64> = admin
        .query("SELECT size FROM checkpoints ORDER BY size", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(sizes, vec![21, 61]);
    let note = |size: i64| -> Vec<u8> {
        urna_pg::connect(&url)
            .unwrap()
            .query_one("SELECT note FROM checkpoints WHERE size = $1", &[&size])
            .unwrap()
            .get(0)
    };
    assert_eq!(note(21), a_first);
    assert_eq!(note(61), b_cp);
    drop(pg);
    PgStore::open(&url, &f.definition, signer).unwrap();
}

#[test]
fn two_nodes_ingesting_the_same_notes_at_once_store_each_exactly_once() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let f = fixture(200);
    let (_, signer) = sqlite(&f);
    let url = server.database("two_nodes");
    drop(PgStore::init(&url, &f.definition, signer.clone()).unwrap());
    // Node A sends the notes in order, node B in reverse, in small batches, at the same time.
    let forward = f.protocols.clone();
    let mut backward = f.protocols.clone();
    backward.reverse();
    let outcomes: Vec<Vec<Outcome>> = std::thread::scope(|s| {
        let nodes: Vec<_> = [forward, backward]
            .into_iter()
            .map(|notes| {
                let (url, definition, signer) = (&url, &f.definition, signer.clone());
                s.spawn(move || {
                    let mut node = PgStore::open(url, definition, signer).unwrap();
                    pg_ingest(&mut node, &notes, 8)
                })
            })
            .collect();
        nodes.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Every note stored by exactly one node, the other told it is a duplicate of that entry.
    let mut indices = Vec::new();
    for (i, a) in outcomes[0].iter().enumerate() {
        let b = &outcomes[1][outcomes[1].len() - 1 - i];
        match (a, b) {
            (Outcome::Stored { index, .. }, Outcome::Duplicate { index: held, .. })
            | (Outcome::Duplicate { index: held, .. }, Outcome::Stored { index, .. }) => {
                assert_eq!(index, held);
                indices.push(*index);
            }
            other => panic!("note {i}: {other:?}"),
        }
    }
    indices.sort_unstable();
    assert_eq!(
        indices,
        (1..=200).collect::<Vec<u64>>(),
        "indices without gaps"
    );
    // The database holds one current entry per station and opens clean; the log signs it all.
    let mut pg = PgStore::open(&url, &f.definition, signer.clone()).unwrap();
    assert_eq!(pg.entries().unwrap(), 201);
    let mut seq = PgSequencer::acquire(&url, signer, "a", LEASE)
        .unwrap()
        .unwrap();
    seq.step().unwrap().unwrap();
    assert_eq!(seq.signed_size(), 201);
}

#[test]
fn a_schema_1_store_is_migrated_at_open_and_the_nodes_table_shows_heartbeats() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let f = fixture(12);
    let (_, signer) = sqlite(&f);
    let url = server.database("migrate");
    let mut pg = PgStore::init(&url, &f.definition, signer.clone()).unwrap();
    let acks = pg.ingest_acks(&f.protocols[..3], &SystemClock).unwrap();
    assert_eq!(acks.outcomes.len(), 3);
    assert!(acks.time_ms > 0);
    assert!(acks.stations.iter().all(Option::is_some));
    drop(pg);
    // Back to schema 1, as a store written by the previous version is.
    let mut admin = urna_pg::connect(&url).unwrap();
    admin
        .batch_execute(
            "DROP TABLE nodes, witness_policy, witness_sizes, published; \
             DROP TABLE revocations, scans; UPDATE meta SET value = '1' WHERE key = 'schema'",
        )
        .unwrap();
    let err = urna_pg::nodes::cluster(&mut admin).unwrap_err().to_string();
    assert!(err.contains("no table `nodes`"), "{err}");
    PgStore::open(&url, &f.definition, signer.clone()).unwrap();
    let schema: String = admin
        .query_one("SELECT value FROM meta WHERE key = 'schema'", &[])
        .unwrap()
        .get(0);
    assert_eq!(schema, "6");

    // Heartbeats, and the sequencer as the cluster view shows it.
    let c = urna_pg::nodes::cluster(&mut admin).unwrap();
    assert_eq!((c.entries, c.signed, c.holder.as_str()), (4, 0, ""));
    assert!(c.nodes.is_empty());
    for (name, intake, sequencing) in [("b", 7, false), ("a", 3, true), ("a", 5, true)] {
        urna_pg::nodes::beat(
            &mut admin,
            &urna_pg::nodes::Heartbeat {
                name,
                listen: "127.0.0.1:1",
                started_ms: 1_700_000_000_000,
                intake,
                rate: 2.5,
                sequencing,
            },
        )
        .unwrap();
    }
    let seq = PgSequencer::acquire(&url, signer.clone(), "a", LEASE)
        .unwrap()
        .unwrap();
    let c = urna_pg::nodes::cluster(&mut admin).unwrap();
    let names: Vec<(&str, u64, bool)> = c
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.intake, n.sequencing))
        .collect();
    assert_eq!(names, [("a", 5, true), ("b", 7, false)]);
    assert!(c.nodes.iter().all(|n| n.seen_ago_s < 60.0 && n.rate == 2.5));
    assert_eq!((c.holder.as_str(), c.epoch), ("a", 1));
    assert!(c.lease_left_s > 0.0);

    // A released lease is free at once; a stale sequencer cannot release another's.
    seq.release().unwrap();
    let c = urna_pg::nodes::cluster(&mut admin).unwrap();
    assert!(c.lease_left_s.is_infinite() && c.lease_left_s < 0.0);
    let stale = PgSequencer::acquire(&url, signer.clone(), "b", LEASE)
        .unwrap()
        .unwrap();
    assert!(
        PgSequencer::acquire(&url, signer.clone(), "c", LEASE)
            .unwrap()
            .is_none(),
        "b's lease was taken while it ran"
    );
    admin
        .execute("UPDATE sequencer SET expires = now() - interval '1 s'", &[])
        .unwrap();
    let _current = PgSequencer::acquire(&url, signer, "c", LEASE)
        .unwrap()
        .unwrap();
    stale.release().unwrap();
    let c = urna_pg::nodes::cluster(&mut admin).unwrap();
    assert_eq!((c.holder.as_str(), c.epoch), ("c", 3));
    assert!(c.lease_left_s > 1.0, "b's release freed c's lease: {c:?}");
}

#[test]
fn a_publication_round_proves_consistency_from_the_tiles_table_and_publishes_only_the_log_s_checkpoint()
 {
    use std::collections::BTreeMap;
    use urna_pg::witnesses::{self, Round, StoredPolicy};
    use urna_tlog::checkpoint::Checkpoint;

    let Some(server) = PgServer::start() else {
        return;
    };
    let f = fixture(300);
    let (_, signer) = sqlite(&f);
    let url = server.database("witness_round");
    let mut pg = PgStore::init(&url, &f.definition, signer.clone()).unwrap();
    let (origin, verifier) = (signer.name().to_owned(), signer.verifier());
    let mut client = urna_pg::connect(&url).unwrap();
    // The published note counts as cosigned unless it is `uncosigned`.
    let uncosigned = std::cell::RefCell::new(Vec::new());
    let mut round = |cosign: Box<witnesses::Cosign<'_>>| {
        let quorum_met = |note: &[u8]| *uncosigned.borrow() != note;
        witnesses::publish_round(&mut client, &origin, &verifier, &quorum_met, cosign)
    };
    // Without a policy a round asks nobody.
    assert_eq!(
        round(Box::new(|_, _, _| unreachable!())).unwrap(),
        Round::NoPolicy
    );
    pg.set_witness_policy(&StoredPolicy {
        toml: "quorum = 1".into(),
        ca_cert: None,
    })
    .unwrap();
    assert_eq!(
        round(Box::new(|_, _, _| unreachable!())).unwrap(),
        Round::NothingSigned
    );

    // Two checkpoints: 21 entries, then past the first full tile (300 protocols).
    pg_ingest(&mut pg, &f.protocols[..20], 16);
    let mut seq = PgSequencer::acquire(&url, signer.clone(), "a", LEASE)
        .unwrap()
        .unwrap();
    let first = seq.step().unwrap().unwrap();
    pg_ingest(&mut pg, &f.protocols[20..], 16);
    let latest = seq.step().unwrap().unwrap();
    let cp = |note: &[u8]| {
        Checkpoint::parse_text(urna_model::note::Note::parse(note).unwrap().text()).unwrap()
    };
    let (a, b) = (cp(&first), cp(&latest));
    assert_eq!((a.size.0, b.size.0), (21, 301));

    // The witness is asked about the latest checkpoint, with a proof from the size it holds.
    let asked = round(Box::new(|note, last, proof| {
        assert_eq!(note, latest.as_slice());
        let p = proof(21, 301).unwrap();
        urna_tlog::proof::verify_consistency(a.size, b.size, &a.root, &b.root, &p).unwrap();
        assert!(proof(302, 301).is_err());
        last.insert("w".into(), 301);
        None
    }))
    .unwrap();
    assert_eq!(
        asked,
        Round::Asked {
            size: 301,
            published: false
        }
    );
    let mut admin = urna_pg::connect(&url).unwrap();
    assert_eq!(
        witnesses::sizes(&mut admin).unwrap(),
        BTreeMap::from([("w".to_owned(), 301)])
    );
    assert_eq!(witnesses::published(&mut admin).unwrap(), None);

    // A note that is not the checkpoint asked about is refused, and nothing is written.
    let err = round(Box::new(|_, last, _| {
        last.insert("w".into(), 999);
        Some(first.clone())
    }))
    .unwrap_err()
    .to_string();
    assert!(err.contains("not the one asked about"), "{err}");
    assert_eq!(witnesses::sizes(&mut admin).unwrap()["w"], 301);
    assert_eq!(witnesses::published(&mut admin).unwrap(), None);

    // The log's own checkpoint is published; the next round has nothing to ask.
    let done = round(Box::new(|note, _, _| Some(note.to_vec()))).unwrap();
    assert_eq!(
        done,
        Round::Asked {
            size: 301,
            published: true
        }
    );
    assert_eq!(
        witnesses::published(&mut admin).unwrap(),
        Some(latest.clone())
    );
    assert_eq!(
        round(Box::new(|_, _, _| unreachable!())).unwrap(),
        Round::UpToDate(301)
    );
    // A published note the quorum did not cosign (the row edited to the sequencer's own
    // note) is not up to date: the round asks the witnesses again and publishes their note.
    *uncosigned.borrow_mut() = latest.clone();
    let mut cosigned = urna_model::note::Note::parse(&latest).unwrap();
    cosigned.add_signature(
        urna_tlog::cosignature::CosignatureSigner::from_seed("w", &[3; 32])
            .unwrap()
            .cosign_at(cosigned.text(), 1_700_000_000)
            .unwrap(),
    );
    let again = round(Box::new(|note, _, _| {
        assert_eq!(note, latest.as_slice());
        Some(cosigned.to_bytes())
    }))
    .unwrap();
    assert_eq!(
        again,
        Round::Asked {
            size: 301,
            published: true
        }
    );
    assert_eq!(
        witnesses::published(&mut admin).unwrap(),
        Some(cosigned.to_bytes())
    );
    drop(seq);
    let open = || PgStore::open(&url, &f.definition, signer.clone());
    open().unwrap();

    // The policy deleted once a cosigned checkpoint is published (urna never removes it):
    // the sequencer's own checkpoint would be published, with no witness named. Refused at
    // open and when the published checkpoint is read.
    admin.execute("DELETE FROM witness_policy", &[]).unwrap();
    let err = open().unwrap_err().to_string();
    assert!(err.contains("table `witness_policy`"), "{err}");
    let err = urna_pg::PgReader::connect(&url)
        .unwrap()
        .published_checkpoint()
        .unwrap_err()
        .to_string();
    assert!(err.contains("table `witness_policy`"), "{err}");
    pg.set_witness_policy(&StoredPolicy {
        toml: "quorum = 1".into(),
        ca_cert: None,
    })
    .unwrap();
    open().unwrap();

    // The published row edited: an older checkpoint under the newer size is refused at open.
    admin
        .execute("UPDATE published SET checkpoint = $1", &[&first])
        .unwrap();
    let err = open().unwrap_err().to_string();
    assert!(err.contains("table `published`"), "{err}");
    // A note the log did not sign is refused too.
    let other = NoteSigner::from_seed(signer.name(), &[7; 32]).unwrap();
    let forged = other.sign_text(urna_model::note::Note::parse(&latest).unwrap().text());
    admin
        .execute(
            "UPDATE published SET checkpoint = $1",
            &[&forged.to_bytes()],
        )
        .unwrap();
    let err = open().unwrap_err().to_string();
    assert!(err.contains("table `published`"), "{err}");
    // A size with no checkpoint: every later round would say the log is published up to it
    // and ask nobody, and status would name it. Refused at open and by the round.
    admin
        .execute(
            "UPDATE published SET size = 1000000, checkpoint = NULL",
            &[],
        )
        .unwrap();
    let err = open().unwrap_err().to_string();
    assert!(err.contains("table `published`"), "{err}");
    let err = round(Box::new(|_, _, _| unreachable!()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("table `published`"), "{err}");
}

/// The rules the SQLite store's tamper tests check, on PostgreSQL: an edited genesis, an edited
/// derived column (station, revision), a deleted middle entry, a `status` disagreeing with its
/// note where the entry is read, edited derived tables (`recounts`, `revocations`,
/// `intake_head`) and a deleted last entry are each refused, naming what disagrees; undone, the store opens again.
#[test]
fn rows_edited_in_the_database_are_refused_as_on_sqlite() {
    use urna_store::Engine as _;
    use urna_store::conformance::{decision_note, fixture as sim_fixture, revocation};
    let Some(server) = PgServer::start() else {
        return;
    };
    let f = sim_fixture(40, 1500);
    let e = urna_model::definition::Election::load(&f.definition).unwrap();
    let signer = urna_store::log::generate_log_key(&e.log_origin()).unwrap();
    let url = server.database("tamper");
    let mut pg = PgStore::init(&url, &f.definition, signer.clone()).unwrap();
    let mut out = pg_ingest(&mut pg, &f.protocols, 16);
    let quarantined = out
        .iter()
        .position(|o| {
            matches!(
                o,
                Outcome::Stored {
                    verdict: urna_model::intake::Verdict::Quarantined,
                    ..
                }
            )
        })
        .unwrap();
    let station = e.stations[quarantined].id.clone();
    out = pg_ingest(
        &mut pg,
        &[
            decision_note(
                &f,
                &e,
                &station,
                &f.protocols[quarantined],
                urna_model::decision::DecisionKind::Recount,
            ),
            revocation(&f.sim, 39, &f.sim.station(39).signer, None),
        ],
        2,
    );
    assert!(
        out.iter().all(|o| matches!(o, Outcome::Stored { .. })),
        "{out:?}"
    );
    let mut seq = PgSequencer::acquire(&url, signer.clone(), "a", LEASE)
        .unwrap()
        .unwrap();
    seq.step().unwrap();
    seq.release().unwrap();
    drop(pg);
    let open = || PgStore::open(&url, &f.definition, signer.clone());
    open().unwrap();
    let mut admin = urna_pg::connect(&url).unwrap();
    let mut refused = |edit: &str, undo: &str, expect: &str| {
        admin.batch_execute(edit).unwrap();
        let err = open().unwrap_err().to_string();
        assert!(err.contains(expect), "{edit}: {err}");
        admin.batch_execute(undo).unwrap();
        open().unwrap();
    };
    refused(
        "UPDATE entries SET note = note || '\\x0a'::bytea WHERE idx = 0",
        "UPDATE entries SET note = substring(note from 1 for length(note) - 1) WHERE idx = 0",
        "entry 0",
    );
    refused(
        "UPDATE entries SET station = station || 'x' WHERE idx = 3",
        "UPDATE entries SET station = left(station, -1) WHERE idx = 3",
        "entry 3: column `station`",
    );
    refused(
        "UPDATE entries SET revision = revision + 1 WHERE idx = 3",
        "UPDATE entries SET revision = revision - 1 WHERE idx = 3",
        "entry 3: column `revision`",
    );
    refused(
        "CREATE TABLE saved AS SELECT * FROM recounts; DELETE FROM recounts",
        "INSERT INTO recounts SELECT * FROM saved; DROP TABLE saved",
        "table `recounts`",
    );
    refused(
        "CREATE TABLE saved AS SELECT * FROM revocations; DELETE FROM revocations",
        "INSERT INTO revocations SELECT * FROM saved; DROP TABLE saved",
        "table `revocations`",
    );
    refused(
        "CREATE TABLE saved AS SELECT * FROM entries WHERE idx = 5; DELETE FROM entries WHERE idx = 5",
        "INSERT INTO entries SELECT * FROM saved; DROP TABLE saved",
        "entry 5 is missing",
    );
    refused(
        "UPDATE intake_head SET next_idx = next_idx + 1",
        "UPDATE intake_head SET next_idx = next_idx - 1",
        "table `intake_head`",
    );
    // `status` is read with the entry and checked against its note, as on SQLite.
    let index = 1 + quarantined as u64;
    admin
        .execute(
            "UPDATE entries SET status = 1 - status WHERE idx = $1",
            &[&i64::try_from(index).unwrap()],
        )
        .unwrap();
    let mut engine =
        urna_pg::PgEngine::open(&url, &f.definition, signer.clone(), "b", LEASE).unwrap();
    let err = engine.entry_at(index).unwrap_err().to_string();
    assert!(
        err.contains(&format!("entry {index}: column `status`")),
        "{err}"
    );
    engine.close().unwrap();
    // The last entry (the revocation) deleted, with its row of `revocations` and the head
    // moved back: the signed checkpoint names it.
    admin
        .batch_execute(
            "DELETE FROM revocations WHERE idx = (SELECT max(idx) FROM entries); \
             DELETE FROM entries WHERE idx = (SELECT max(idx) FROM entries); \
             UPDATE intake_head SET next_idx = next_idx - 1",
        )
        .unwrap();
    let err = open().unwrap_err().to_string();
    assert!(err.contains("entries are missing"), "{err}");
}

#[test]
fn a_scan_is_taken_once_a_note_names_it_stored_once_and_an_edited_row_is_refused_at_open() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let f = fixture(6);
    let (_, signer) = sqlite(&f);
    let url = server.database("scans");
    let mut pg = PgStore::init(&url, &f.definition, signer.clone()).unwrap();
    let sim = Simulation::new(SimConfig {
        stations: 6,
        districts: 3,
        error_rate_per_10k: 1500,
        ..SimConfig::default()
    });
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..3000u32).map(|i| (i % 241) as u8));
    let sha = urna_model::intake::sha256(&png);
    let station = sim.station(0);
    let mut body = station.body.clone();
    body.scan = Some(sha);
    let naming = station.signer.sign_text(&body.to_text()).to_bytes();

    // Not named before the note is stored; the entries read once are not read again, and a
    // note stored later (by this or any node) is seen.
    let mut reader = urna_pg::PgReader::connect(&url).unwrap();
    let mut named = urna_pg::scans::NamedScans::new();
    assert!(!named.names(reader.client(), &sha).unwrap());
    pg.ingest_acks(&f.protocols[1..3], &SystemClock).unwrap();
    assert!(!named.names(reader.client(), &sha).unwrap());
    let acks = pg.ingest_acks(&[naming], &SystemClock).unwrap();
    assert!(matches!(acks.outcomes[0], Outcome::Stored { .. }));
    assert!(named.names(reader.client(), &sha).unwrap());

    // Stored once; the same bytes again change nothing; bytes not of the key are refused.
    let client = reader.client();
    assert!(urna_pg::scans::store_scan(client, &sha, &png).unwrap());
    assert!(!urna_pg::scans::store_scan(client, &sha, &png).unwrap());
    let err = urna_pg::scans::store_scan(client, &sha, &png[..100]).unwrap_err();
    assert!(err.to_string().contains("not to the sha256:"), "{err}");
    assert_eq!(reader.scan(&sha).unwrap(), Some(png.clone()));
    assert_eq!(reader.scan(&[0; 32]).unwrap(), None);
    drop(pg);
    PgStore::open(&url, &f.definition, signer.clone()).unwrap();

    // A row edited outside urna (other bytes, or a scan no note names) is refused at open,
    // naming it; the edited row is replaced by the next PUT of the right bytes.
    let mut admin = urna_pg::connect(&url).unwrap();
    let mut edited = png.clone();
    edited[100] ^= 1;
    admin
        .execute(
            "UPDATE scans SET data = $2 WHERE sha256 = $1",
            &[&sha.as_slice(), &edited],
        )
        .unwrap();
    let err = PgStore::open(&url, &f.definition, signer.clone()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "table `scans`, scan sha256:{}: its bytes hash to",
            urna_model::protocol::hex(&sha)
        )) && text.contains("edited outside urna"),
        "{text}"
    );
    assert!(urna_pg::scans::store_scan(reader.client(), &sha, &png).unwrap());
    PgStore::open(&url, &f.definition, signer.clone()).unwrap();
    let stray = b"%PDF-1.7\nno note names this".to_vec();
    let stray_sha = urna_model::intake::sha256(&stray);
    admin
        .execute(
            "INSERT INTO scans (sha256, data) VALUES ($1, $2)",
            &[&stray_sha.as_slice(), &stray],
        )
        .unwrap();
    let text = PgStore::open(&url, &f.definition, signer.clone())
        .unwrap_err()
        .to_string();
    assert!(text.contains("no stored note names it"), "{text}");
    admin
        .execute(
            "DELETE FROM scans WHERE sha256 = $1",
            &[&stray_sha.as_slice()],
        )
        .unwrap();
    let text_scan = b"not a scan".to_vec();
    let text_sha = urna_model::intake::sha256(&text_scan);
    admin
        .execute(
            "INSERT INTO scans (sha256, data) VALUES ($1, $2)",
            &[&text_sha.as_slice(), &text_scan],
        )
        .unwrap();
    let text = PgStore::open(&url, &f.definition, signer.clone())
        .unwrap_err()
        .to_string();
    assert!(text.contains("not a PDF, JPEG or PNG"), "{text}");
    admin
        .execute(
            "DELETE FROM scans WHERE sha256 = $1",
            &[&text_sha.as_slice()],
        )
        .unwrap();
    PgStore::open(&url, &f.definition, signer).unwrap();
}

/// `ingest_batches` on node A checks its next batch while the one before commits; node B
/// commits revocations, a protocol and an amendment in between (forced: in A's acks of the
/// batch before, after that batch's checkers ran). A's next batch then holds notes of those
/// stations by their old and their new keys, the same protocol and amendment again, and a
/// revocation with a note of its station in one batch: under A's next head lock every verdict
/// must be the one SQLite gives, one note at a time, in the order the log holds them.
#[test]
fn another_nodes_commit_between_a_checked_batch_and_its_commit_gives_the_verdicts_of_one_at_a_time()
{
    let Some(server) = PgServer::start() else {
        return;
    };
    let f = fixture(30);
    let (mut lite, signer) = sqlite(&f);
    let url = server.database("pipelined_race");
    drop(PgStore::init(&url, &f.definition, signer.clone()).unwrap());
    let mut node_a = PgStore::open(&url, &f.definition, signer.clone()).unwrap();
    let mut node_b = PgStore::open(&url, &f.definition, signer.clone()).unwrap();
    let sim = Simulation::new(SimConfig {
        stations: 30,
        districts: 3,
        error_rate_per_10k: 1500,
        ..SimConfig::default()
    });
    let old = |i: u32| sim.station(i).signer;
    let new = |i: u32| NoteSigner::from_seed(&sim.station(i).id, &[i as u8; 32]).unwrap();
    let by = |i: u32, k: &NoteSigner| k.sign_text(&sim.station(i).body.to_text()).to_bytes();
    // s and t: revoked by B while A's batch holding their notes is checked; u: its protocol
    // stored by B first; w: a station with an amendment, stored by B; r: revoked in A's own
    // batch before a note by its old key and one by its new key.
    let amended: Vec<u32> = (0..30u32)
        .filter(|&i| {
            sim.amendment_note(&sim.station(i), &f.protocols[i as usize])
                .is_some()
        })
        .collect();
    let w = amended[0];
    let (s, t, u, r) = {
        let mut free = (0..30u32).filter(|i| !amended.contains(i));
        (
            free.next().unwrap(),
            free.next().unwrap(),
            free.next().unwrap(),
            free.next().unwrap(),
        )
    };
    let amendment = sim
        .amendment_note(&sim.station(w), &f.protocols[w as usize])
        .unwrap();
    let first: Vec<Vec<u8>> = (0..30u32)
        .filter(|i| ![s, t, u, r].contains(i))
        .map(|i| f.protocols[i as usize].clone())
        .collect();
    let from_b = vec![
        revocation(&sim, s, &old(s), Some(&new(s))),
        revocation(&sim, t, &old(t), None),
        f.protocols[u as usize].clone(),
        amendment.clone(),
    ];
    let next = vec![
        by(s, &old(s)),
        by(s, &new(s)),
        by(t, &old(t)),
        f.protocols[u as usize].clone(),
        amendment,
        f.protocols[w as usize].clone(),
        revocation(&sim, r, &old(r), Some(&new(r))),
        by(r, &old(r)),
        by(r, &new(r)),
        // B's revocation of s sent again: a duplicate of B's entry.
        revocation(&sim, s, &old(s), Some(&new(s))),
    ];
    let last = vec![by(t, &old(t)), by(s, &new(s))];
    let batches = [first.clone(), next.clone(), last.clone()];
    let mut got: Vec<Vec<Outcome>> = Vec::new();
    let mut b_out = Vec::new();
    node_a
        .ingest_batches(
            batches.iter().map(Vec::as_slice),
            &SystemClock,
            |_, acks| {
                if got.is_empty() {
                    // A's second batch is checked by now; B commits before its head lock.
                    b_out = node_b.ingest(&from_b, &SystemClock).unwrap();
                }
                got.push(acks.outcomes);
            },
        )
        .unwrap();
    let mut in_log_order = first;
    in_log_order.extend(from_b);
    in_log_order.extend(next);
    in_log_order.extend(last);
    let mut all = got[0].clone();
    all.extend(b_out.clone());
    all.extend(got[1].clone());
    all.extend(got[2].clone());
    assert_eq!(all, sqlite_ingest(&mut lite, &in_log_order));
    let code = |o: &Outcome| match o {
        Outcome::Stored { .. } => "stored".to_owned(),
        Outcome::Duplicate { .. } => "duplicate".to_owned(),
        Outcome::Rejected(r) => r.code().to_owned(),
    };
    assert!(
        b_out.iter().all(|o| matches!(o, Outcome::Stored { .. })),
        "{b_out:?}"
    );
    let second: Vec<String> = got[1].iter().map(code).collect();
    assert_eq!(
        second,
        [
            "key-revoked",
            "stored",
            "key-revoked",
            "duplicate",
            "duplicate",
            "duplicate",
            "stored",
            "key-revoked",
            "stored",
            "duplicate",
        ],
        "{:?}",
        got[1]
    );
    drop((node_a, node_b));
    PgStore::open(&url, &f.definition, signer).unwrap();
}

/// An entry the sequencer signed, rewritten behind an open node with a note its own station
/// signed (ten votes moved between lists): the node's audit intake must not replay it as the
/// results an audit step is checked against, but refuse, naming the edit. Before, the node
/// checked audit steps against the rewritten rows: the honest start was refused with a
/// misleading digest mismatch, and one computed over the rewritten results would have been
/// taken.
#[test]
fn an_entry_rewritten_behind_an_open_node_is_not_replayed_as_the_audited_results() {
    use urna_audit::trail::{ContestAudit, Plan};
    use urna_model::audit::AuditBody;
    use urna_store::Engine as _;
    use urna_store::conformance::{entries, fixture as sim_fixture, votes_moved};
    let Some(server) = PgServer::start() else {
        return;
    };
    let f = sim_fixture(40, 1500);
    let e = urna_model::definition::Election::load(&f.definition).unwrap();
    let signer = urna_store::log::generate_log_key(&e.log_origin()).unwrap();
    let url = server.database("audit_rewrite");
    let mut pg = PgStore::init(&url, &f.definition, signer.clone()).unwrap();
    pg_ingest(&mut pg, &f.protocols, 16);
    let mut seq = PgSequencer::acquire(&url, signer, "a", LEASE)
        .unwrap()
        .unwrap();
    seq.step().unwrap();
    let mut engine = urna_pg::PgEngine::new(pg, seq);
    let size = engine.entry_count().unwrap();
    let plan = Plan {
        size,
        rules: "generic".into(),
        seats: Some(1),
        risk_limit: 50_000,
        rounds: 4,
    };
    let start = ContestAudit::plan(
        &e,
        urna_model::definition::ContestIdx(0),
        &plan,
        &entries(&mut engine, &e),
    )
    .unwrap()
    .start;
    let start = f
        .sim
        .authority()
        .sign_text(
            &AuditBody {
                election: e.id.clone(),
                contest: e.contests[0].id.clone(),
                step: start,
            }
            .to_text(),
        )
        .to_bytes();
    // Entry 4 is station 3's protocol.
    let mut admin = urna_pg::connect(&url).unwrap();
    let note: Vec<u8> = admin
        .query_one("SELECT note FROM entries WHERE idx = 4", &[])
        .unwrap()
        .get(0);
    let moved = votes_moved(&f.sim, 3, &note, 10);
    admin
        .execute("UPDATE entries SET note = $1 WHERE idx = 4", &[&moved])
        .unwrap();
    let answer = engine.store().append_audit(&start, &SystemClock);
    let Err(err) = answer else {
        panic!("an audit started over a rewritten entry: {answer:?}")
    };
    assert!(
        err.to_string().contains(&format!(
            "table `entries` does not hash to the root the log signed at {size} entries"
        )),
        "{err}"
    );
    // Nothing was stored.
    assert_eq!(engine.entry_count().unwrap(), size);
}
