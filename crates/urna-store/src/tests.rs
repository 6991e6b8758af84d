use proptest::prelude::*;
use urna_sim::{SimConfig, Simulation};

use super::*;
use crate::ingest::{IngestOptions, Outcome};

/// Entry 0 is the genesis `Store::init` writes; the first protocol gets index 1.
const GENESIS: u64 = 1;

/// Whether `e` is the genesis row: no contest or station, revision 0, an `urna/genesis/v1` note.
fn is_genesis(e: &EntryRow) -> bool {
    e.index == 0
        && e.station.is_empty()
        && e.revision == 0
        && e.note.starts_with(b"urna/genesis/v1\n")
}

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
fn a_failing_database_stops_intake_cleanly_and_loses_nothing_acknowledged() {
    let f = fixture(120);
    let mut store = Store::init(&f.data, &f.definition).unwrap();
    // The database starts refusing writes at entry 50, in the middle of the intake.
    let side = rusqlite::Connection::open(f.data.join(DB_FILE)).unwrap();
    side.execute_batch(
        "CREATE TRIGGER boom BEFORE INSERT ON entries WHEN NEW.idx = 50 \
         BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;",
    )
    .unwrap();
    let mut acked = Vec::new();
    let opts = IngestOptions {
        chunk: 7,
        commit_every: 20,
        ..IngestOptions::default()
    };
    let err = store
        .ingest(
            f.protocols.iter().cloned().map(Ok),
            &opts,
            &SystemClock,
            |a| {
                if let Outcome::Stored { index, .. } = a.outcome {
                    acked.push(*index);
                }
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("disk on fire"), "{err}");
    assert!(acked.len() < 50);
    // The store refuses more intake until it is reopened.
    assert!(
        store
            .ingest(std::iter::empty(), &opts, &SystemClock, |_| {})
            .is_err()
    );
    drop(store);
    side.execute_batch("DROP TRIGGER boom").unwrap();
    let mut store = Store::open(&f.data).unwrap();
    for i in &acked {
        assert!(
            store.entry(*i).unwrap().is_some(),
            "acknowledged entry {i} lost"
        );
    }
    let (r, _) = ingest(&mut store, &f.protocols);
    assert_eq!(r.accepted + r.quarantined + r.duplicates, 120);
    assert_eq!(store.len(), GENESIS + 120);
}

/// An edited definition refusing the open is in the conformance suite; `init` over an existing
/// data directory is SQLite's own.
#[test]
fn init_over_an_existing_store_is_refused() {
    let f = fixture(5);
    drop(Store::init(&f.data, &f.definition).unwrap());
    assert!(matches!(
        Store::init(&f.data, &f.definition),
        Err(StoreError::Setup(_))
    ));
}

#[test]
fn a_second_writer_on_an_open_data_directory_is_refused_and_changes_nothing() {
    let f = fixture(5);
    let mut store = Store::init(&f.data, &f.definition).unwrap();
    ingest(&mut store, &f.protocols[..2]);
    let before = log::read_latest(&f.data).unwrap();
    // A second open (its own file description, as another process would have) is refused at
    // once, naming the directory and the holder.
    let err = Store::open(&f.data).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::InUse { .. }), "{text}");
    assert!(
        text.starts_with(&format!(
            "data directory {} is in use by another urna process (pid {}",
            f.data.display(),
            std::process::id()
        )) && text.contains("stop it, or submit through it"),
        "{text}"
    );
    // The first writer goes on as if nothing happened.
    let (report, _) = ingest(&mut store, &f.protocols[2..3]);
    assert_eq!(report.accepted + report.quarantined, 1);
    assert_ne!(log::read_latest(&f.data).unwrap(), before);
    // Readers are not blocked by the writer's lock.
    let reader = crate::reader::EntryReader::open(&f.data).unwrap();
    assert_eq!(reader.read(0, 1).unwrap().len(), 1);
    // Closed, the directory opens again.
    drop(store);
    assert_eq!(Store::open(&f.data).unwrap().len(), 4);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// The tally is the same whatever order the protocols arrive in.
    #[test]
    fn tally_is_independent_of_ingest_order(seed in any::<u64>()) {
        let f = fixture(60);
        let mut store = Store::init(&f.data, &f.definition).unwrap();
        ingest(&mut store, &f.protocols);
        let expected = store.rederive_tally(ContestIdx(0)).unwrap();
        prop_assert_eq!(&store.tally(ContestIdx(0)).unwrap(), &expected);

        let mut shuffled = f.protocols.clone();
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let dir2 = tempfile::tempdir().unwrap();
        let mut other = Store::init(&dir2.path().join("d"), &f.definition).unwrap();
        ingest(&mut other, &shuffled);
        let got = other.rederive_tally(ContestIdx(0)).unwrap();
        prop_assert_eq!(got.tally(), expected.tally());
        prop_assert_eq!(got.quarantined, expected.quarantined);
    }
}

mod log_tests {
    use urna_tlog::hash::{LeafIndex, TreeSize, leaf_hash};
    use urna_tlog::proof::{verify_consistency, verify_inclusion};
    use urna_tlog::tile::{Tile, TileHashReader, decode_entries};

    use super::*;

    fn published(store: &Store) -> urna_tlog::Checkpoint {
        let note = log::read_published(store.dir())
            .unwrap()
            .expect("published checkpoint");
        let verifier = NoteVerifier::from_vkey(&store.log_vkey()).unwrap();
        urna_tlog::checkpoint::open(&note, store.log_origin(), &verifier)
            .unwrap()
            .0
    }

    use urna_model::note::NoteVerifier;

    #[test]
    fn every_stored_entry_is_in_the_published_log() {
        let f = fixture(300);
        let mut store = Store::init(&f.data, &f.definition).unwrap();
        let (first, _) = ingest(&mut store, &f.protocols[..100]);
        assert!(!first.checkpoints.is_empty());
        let early = published(&store);
        assert_eq!(early.size, TreeSize(GENESIS + 100));
        ingest(&mut store, &f.protocols[100..]);
        let cp = published(&store);
        assert_eq!(cp.size, TreeSize(GENESIS + 300));
        // Inclusion of every entry (the genesis too), from the proofs the store gives.
        let entries = store.entries().unwrap();
        assert_eq!(entries.len() as u64, cp.size.0);
        for (i, e) in entries.iter().enumerate() {
            let proof = store.inclusion_proof(i as u64, cp.size.0).unwrap();
            verify_inclusion(
                LeafIndex(i as u64),
                cp.size,
                &leaf_hash(&e.note),
                &proof,
                &cp.root,
            )
            .unwrap();
        }
        // The later checkpoint extends the earlier one.
        let proof = store.consistency_proof(early.size.0, cp.size.0).unwrap();
        verify_consistency(early.size, cp.size, &early.root, &cp.root, &proof).unwrap();
        // The tiles on disk give the same root and hold the exact entries.
        let dir = urna_tlog::TileDir::open(f.data.join(log::LOG_DIR)).unwrap();
        let reader = TileHashReader::new(&dir, cp.size);
        assert_eq!(
            urna_tlog::storage::root_at(&reader, cp.size).unwrap(),
            cp.root
        );
        // Entries 256..301 (the second bundle, partial): entry 256 is protocol 255.
        let bundle = dir.read(&Tile::entries(1, 45).unwrap()).unwrap().unwrap();
        let bundled = decode_entries(&bundle, 45).unwrap();
        assert_eq!(bundled[0], f.protocols[256 - GENESIS as usize].as_slice());
        assert_eq!(bundled[44], f.protocols[299].as_slice());
        // The first bundle starts with the genesis.
        let bundle = dir.read(&Tile::entries(0, 256).unwrap()).unwrap().unwrap();
        let bundled = decode_entries(&bundle, 256).unwrap();
        assert_eq!(bundled[0], entries[0].note.as_slice());
        assert!(is_genesis(&entries[0]));
        // A receipt names the entry and verifies with the log key.
        let e = &entries[7];
        let receipt = Note::parse(&store.receipt(7, &e.hash, 1)).unwrap();
        NoteVerifier::from_vkey(&store.log_vkey())
            .unwrap()
            .verify(&receipt)
            .unwrap();
        let body = urna_model::receipt::Receipt::parse(receipt.text()).unwrap();
        assert_eq!((body.index, body.entry), (7, e.hash));
    }

    #[test]
    fn a_database_changed_behind_the_log_is_refused() {
        let f = fixture(20);
        let mut store = Store::init(&f.data, &f.definition).unwrap();
        ingest(&mut store, &f.protocols);
        drop(store);
        // An insider edits one stored protocol note directly in SQLite (entry 5 is protocol 4:
        // entry 0 is the genesis).
        let conn = rusqlite::Connection::open(f.data.join(DB_FILE)).unwrap();
        let original = f.protocols[5 - GENESIS as usize].clone();
        let stored: Vec<u8> = conn
            .query_row("SELECT note FROM entries WHERE idx = 5", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, original);
        let mut note = original.clone();
        let at = note.iter().position(|&b| b == b'\n').unwrap() + 3;
        note[at] ^= 1;
        conn.execute(
            "UPDATE entries SET note = ?1 WHERE idx = 5",
            rusqlite::params![note],
        )
        .unwrap();
        drop(conn);
        // The note no longer parses: the entry is named (a consistent edit of whole rows is
        // caught by the log's root, see `tamper_tests::an_edited_index_is_refused`).
        let err = Store::open(&f.data).unwrap_err();
        assert!(
            err.to_string().contains("entry 5: stored note is corrupt"),
            "{err}"
        );
        // Deleting the last entry is caught too.
        let conn = rusqlite::Connection::open(f.data.join(DB_FILE)).unwrap();
        conn.execute(
            "UPDATE entries SET note = ?1 WHERE idx = 5",
            rusqlite::params![original],
        )
        .unwrap();
        drop(conn);
        Store::open(&f.data).unwrap();
        // So is an edit to the genesis entry's text (the definition digest it commits to).
        let conn = rusqlite::Connection::open(f.data.join(DB_FILE)).unwrap();
        let genesis: Vec<u8> = conn
            .query_row("SELECT note FROM entries WHERE idx = 0", [], |r| r.get(0))
            .unwrap();
        let mut edited = genesis.clone();
        let at = edited
            .windows(15)
            .position(|w| w == b"definition: sha")
            .unwrap()
            + 20;
        edited[at] = if edited[at] == b'0' { b'1' } else { b'0' };
        conn.execute(
            "UPDATE entries SET note = ?1 WHERE idx = 0",
            rusqlite::params![edited],
        )
        .unwrap();
        drop(conn);
        let err = Store::open(&f.data).unwrap_err();
        assert!(err.to_string().contains("genesis: definition"), "{err}");
        let conn = rusqlite::Connection::open(f.data.join(DB_FILE)).unwrap();
        conn.execute(
            "UPDATE entries SET note = ?1 WHERE idx = 0",
            rusqlite::params![genesis],
        )
        .unwrap();
        let last = i64::try_from(GENESIS + 20 - 1).unwrap();
        conn.execute("DELETE FROM entries WHERE idx = ?1", [last])
            .unwrap();
        drop(conn);
        let err = Store::open(&f.data).unwrap_err();
        assert!(err.to_string().contains("entries are missing"), "{err}");
    }
}

/// A database edited outside urna, column by column: every column derived from a note is
/// checked against the note at open, and a refused open changes no file.
mod tamper_tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Every file of a data directory and its bytes (SQLite's `-wal` and `-shm` side files
    /// aside: they come and go with connections).
    fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut todo = vec![dir.to_owned()];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let path = e.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if path.is_dir() {
                    todo.push(path);
                } else if !name.ends_with("-wal") && !name.ends_with("-shm") {
                    let bytes = std::fs::read(&path).unwrap();
                    out.insert(path, bytes);
                }
            }
        }
        out
    }

    /// A closed store of 20 protocols and the amendments of the quarantined ones.
    fn closed_store() -> Fixture {
        let f = fixture(20);
        let mut store = Store::init(&f.data, &f.definition).unwrap();
        ingest(&mut store, &f.protocols);
        let (r, _) = ingest(&mut store, &f.amendments);
        assert!(r.accepted > 0, "the fixture has amendments");
        drop(store);
        f
    }

    /// Runs `sql` on the database of a closed store, then reopens it: the open must be refused
    /// with an error holding every one of `expect`, and must change no file. Returns the error.
    fn refused_after(f: &Fixture, sql: &str, expect: &[&str]) -> StoreError {
        let conn = rusqlite::Connection::open(f.data.join(DB_FILE)).unwrap();
        let changed = conn.execute_batch(sql);
        drop(conn);
        changed.unwrap();
        let before = snapshot(&f.data);
        let err = Store::open(&f.data).unwrap_err();
        let msg = err.to_string();
        for e in expect {
            assert!(msg.contains(e), "{e:?} not in: {msg}");
        }
        assert!(
            snapshot(&f.data) == before,
            "the refused open changed a file"
        );
        err
    }

    /// The value of a column of entry `idx`, as text.
    fn column(f: &Fixture, col: &str, idx: u64) -> String {
        let conn = rusqlite::Connection::open(f.data.join(DB_FILE)).unwrap();
        conn.query_row(
            &format!("SELECT CAST({col} AS TEXT) FROM entries WHERE idx = ?1"),
            [idx as i64],
            |r| r.get(0),
        )
        .unwrap()
    }

    fn hex_column(f: &Fixture, col: &str, idx: u64) -> String {
        let conn = rusqlite::Connection::open(f.data.join(DB_FILE)).unwrap();
        let b: Vec<u8> = conn
            .query_row(
                &format!("SELECT {col} FROM entries WHERE idx = ?1"),
                [idx as i64],
                |r| r.get(0),
            )
            .unwrap();
        hex(&b)
    }

    /// The station of a stored entry, once edited, would put the note's outcome on another
    /// station and let a conflicting note in: refused, naming both stations.
    #[test]
    fn an_edited_station_is_refused() {
        let f = closed_store();
        let (own, other) = (column(&f, "station", 7), column(&f, "station", 8));
        let err = refused_after(
            &f,
            "UPDATE entries SET station = (SELECT station FROM entries WHERE idx = 8) WHERE idx = 7",
            &[
                "entry 7: column `station`",
                &format!("holds {other:?} but its note gives {own:?}"),
            ],
        );
        assert!(
            matches!(
                err,
                StoreError::Column {
                    index: 7,
                    column: "station",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn an_edited_contest_is_refused() {
        let f = closed_store();
        let own = column(&f, "contest", 7);
        refused_after(
            &f,
            "UPDATE entries SET contest = 'senate' WHERE idx = 7",
            &[
                "entry 7: column `contest`",
                &format!("holds \"senate\" but its note gives {own:?}"),
            ],
        );
    }

    #[test]
    fn an_edited_revision_is_refused() {
        let f = closed_store();
        refused_after(
            &f,
            "UPDATE entries SET revision = 2 WHERE idx = 7",
            &["entry 7: column `revision` holds 2 but its note gives 1"],
        );
    }

    /// `status` is not needed to open (the tally re-derives every verdict from the notes), so
    /// it is checked where it is read: an entry is refused, naming the column, both ways (an
    /// entry marked quarantined, and an amendment that fixed a quarantined protocol marked
    /// quarantined too). The tally is unaffected.
    #[test]
    fn an_edited_status_is_refused_where_it_is_read() {
        let f = closed_store();
        let last = GENESIS + 20 + f.amendments.len() as u64 - 1;
        let tally = Store::open(&f.data).unwrap().tally(ContestIdx(0)).unwrap();
        let conn = rusqlite::Connection::open(f.data.join(DB_FILE)).unwrap();
        let status = column(&f, "status", 7);
        conn.execute_batch(&format!(
            "UPDATE entries SET status = 1 - status WHERE idx = 7; \
             UPDATE entries SET status = 1 WHERE idx = {last};"
        ))
        .unwrap();
        drop(conn);
        let mut store = Store::open(&f.data).unwrap();
        let (stored, derived) = if status == "0" {
            ("1 (quarantined)", "0 (accepted)")
        } else {
            ("0 (accepted)", "1 (quarantined)")
        };
        let err = store.entry(7).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "entry 7: column `status` holds {stored} but its note gives {derived}"
            )),
            "{err}"
        );
        let err = store.entry(last).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "entry {last}: column `status` holds 1 (quarantined) but its note gives 0 (accepted)"
            )),
            "{err}"
        );
        let station = column(&f, "station", last);
        assert!(store.current_entry_of(&station).is_err());
        assert!(store.entries().is_err());
        assert!(store.entry(6).unwrap().is_some());
        assert_eq!(store.tally(ContestIdx(0)).unwrap(), tally);
    }

    /// Entries after the last checkpoint the log signed (committed, not yet sequenced) are not
    /// covered by its root: they are parsed in full, so a broken body is refused.
    #[test]
    fn an_unsequenced_entry_is_parsed_in_full() {
        let f = closed_store();
        let next = GENESIS + 20 + f.amendments.len() as u64;
        // Station 3's protocol with a count that is no number, appended with columns that
        // agree with it.
        let mut note = f.protocols[2].clone();
        let at = note.windows(7).position(|w| w == b"\nvalid:").unwrap() + 8;
        note[at] = b'x';
        let text_end = note.windows(2).rposition(|w| w == b"\n\n").unwrap();
        let conn = rusqlite::Connection::open(f.data.join(DB_FILE)).unwrap();
        conn.execute(
            "INSERT INTO entries SELECT ?1, ?2, ?3, contest, station, 2, status, received_ms, ?4 \
             FROM entries WHERE idx = 3",
            rusqlite::params![
                next as i64,
                urna_model::intake::sha256(&note),
                urna_model::intake::sha256(&note[..=text_end]),
                note
            ],
        )
        .unwrap();
        drop(conn);
        refused_after(
            &f,
            "",
            &[
                &format!("entry {next}: stored note is corrupt: line "),
                "valid",
            ],
        );
    }

    #[test]
    fn an_edited_hash_is_refused() {
        let f = closed_store();
        let own = hex_column(&f, "hash", 7);
        refused_after(
            &f,
            "UPDATE entries SET hash = zeroblob(32) WHERE idx = 7",
            &[&format!(
                "entry 7: column `hash` holds {} but its note gives {own}",
                "00".repeat(32)
            )],
        );
    }

    #[test]
    fn an_edited_text_hash_is_refused() {
        let f = closed_store();
        let own = hex_column(&f, "text_hash", 7);
        refused_after(
            &f,
            "UPDATE entries SET text_hash = (SELECT text_hash FROM entries WHERE idx = 8) WHERE idx = 7",
            &[
                "entry 7: column `text_hash`",
                &format!("but its note gives {own}"),
            ],
        );
    }

    /// The genesis row's columns are fixed: no contest, station or revision.
    #[test]
    fn an_edited_genesis_row_is_refused() {
        let f = closed_store();
        refused_after(
            &f,
            "UPDATE entries SET station = 'P-1' WHERE idx = 0",
            &["entry 0: column `station` holds \"P-1\" but its note gives \"\""],
        );
        let f = closed_store();
        refused_after(
            &f,
            "UPDATE entries SET revision = 1 WHERE idx = 0",
            &["entry 0: column `revision` holds 1 but its note gives 0"],
        );
    }

    /// `idx` is the entry's position: a row moved past the end leaves a gap, and two rows that
    /// swap places no longer hash to the root the log signed.
    #[test]
    fn an_edited_index_is_refused() {
        let f = closed_store();
        let err = refused_after(
            &f,
            "UPDATE entries SET idx = 1000 WHERE idx = 7",
            &["entry 7 is missing from the database"],
        );
        assert!(matches!(err, StoreError::Missing { index: 7 }), "{err:?}");
        let f = closed_store();
        refused_after(
            &f,
            "UPDATE entries SET idx = -1 WHERE idx = 7; \
             UPDATE entries SET idx = 7 WHERE idx = 8; \
             UPDATE entries SET idx = 8 WHERE idx = -1;",
            &["do not hash to the root the log signed"],
        );
    }

    /// A row deleted in the middle is named as missing, not blamed on the entry after it.
    #[test]
    fn a_deleted_entry_is_named_missing() {
        let f = closed_store();
        let err = refused_after(
            &f,
            "DELETE FROM entries WHERE idx = 7",
            &["entry 7 is missing from the database"],
        );
        assert!(matches!(err, StoreError::Missing { index: 7 }), "{err:?}");
        assert!(!err.to_string().contains("entry 8"), "{err}");
    }

    /// A row appended after the last checkpoint (which the log's root does not cover yet) must
    /// still be one intake could have stored: a repeat of an entry is refused.
    #[test]
    fn an_appended_repeat_is_refused() {
        let f = closed_store();
        let next = GENESIS + 20 + f.amendments.len() as u64;
        let err = refused_after(
            &f,
            &format!(
                "INSERT INTO entries SELECT {next}, hash, text_hash, contest, station, revision, \
                 status, received_ms, note FROM entries WHERE idx = 5"
            ),
            &[&format!(
                "entry {next}: its note does not follow the entries before it: it repeats entry 5"
            )],
        );
        assert!(matches!(err, StoreError::Inadmissible { .. }), "{err:?}");
    }

    /// `received_ms` is the intake clock, not derived from the note: an edit changes nothing
    /// the store reports.
    #[test]
    fn received_ms_is_not_derived() {
        let f = closed_store();
        let before = Store::open(&f.data).unwrap().tally(ContestIdx(0)).unwrap();
        let conn = rusqlite::Connection::open(f.data.join(DB_FILE)).unwrap();
        conn.execute("UPDATE entries SET received_ms = 0 WHERE idx = 7", [])
            .unwrap();
        drop(conn);
        let mut store = Store::open(&f.data).unwrap();
        assert_eq!(store.tally(ContestIdx(0)).unwrap(), before);
    }

    #[test]
    fn edited_meta_rows_are_refused() {
        let f = closed_store();
        refused_after(
            &f,
            "UPDATE meta SET value = '9' WHERE key = 'schema'",
            &["meta `schema` holds \"9\" but this version of urna reads schema 2"],
        );
        let f = closed_store();
        refused_after(
            &f,
            "UPDATE meta SET value = 'other' WHERE key = 'election'",
            &["meta `election` holds \"other\" but the definition is of election"],
        );
        let f = closed_store();
        refused_after(
            &f,
            "UPDATE meta SET value = 'ab' WHERE key = 'definition_sha256'",
            &["store has ab"],
        );
    }
}

/// Signed decision notes by the simulation's authority on entries of `f`'s stations.
fn decision_note(
    sim: &Simulation,
    store: &Store,
    station: &str,
    decides: &[u8],
    kind: urna_model::decision::DecisionKind,
) -> Vec<u8> {
    let body = urna_model::decision::DecisionBody {
        election: store.election().id.clone(),
        contest: store.election().contests[0].id.clone(),
        station: station.to_owned(),
        decides: urna_model::intake::sha256(decides),
        decision: kind,
        reason: "checked against the paper protocol".into(),
    };
    sim.authority().sign_text(&body.to_text()).to_bytes()
}

#[test]
fn decisions_change_how_a_station_counts_in_the_live_and_the_rederived_tally() {
    use urna_model::decision::DecisionKind::{Accept, Annul, Recount};
    let f = fixture(60);
    let sim = Simulation::new(SimConfig {
        stations: 60,
        districts: 3,
        error_rate_per_10k: 1500,
        ..SimConfig::default()
    });
    let mut store = Store::init(&f.data, &f.definition).unwrap();
    ingest(&mut store, &f.protocols);
    let before = store.tally(ContestIdx(0)).unwrap();
    let quarantined: Vec<StationIdx> = before.quarantined.iter().map(|(s, _)| *s).collect();
    assert!(quarantined.len() >= 3, "the fixture injects errors");
    let counted = (0..60u32)
        .find(|i| !quarantined.contains(&StationIdx(*i)))
        .unwrap();
    let election = store.election().clone();
    let id = |s: u32| election.stations[s as usize].id.clone();
    let (q0, q1, q2) = (quarantined[0].0, quarantined[1].0, quarantined[2].0);
    let p = |s: u32| &f.protocols[s as usize];
    let notes = vec![
        decision_note(&sim, &store, &id(q0), p(q0), Accept),
        decision_note(&sim, &store, &id(q1), p(q1), Recount),
        decision_note(&sim, &store, &id(q2), p(q2), Recount),
        // A later decision on the same entry replaces the earlier one.
        decision_note(&sim, &store, &id(q2), p(q2), Accept),
        decision_note(&sim, &store, &id(counted), p(counted), Annul),
        // On an entry that is not the station's: refused.
        decision_note(&sim, &store, &id(counted), p(q0), Annul),
    ];
    let (r, outcomes) = ingest(&mut store, &notes);
    assert_eq!((r.accepted, r.rejected), (5, 1), "{outcomes:?}");
    let after = store.tally(ContestIdx(0)).unwrap();
    let (b, a) = (&before.tally().units[0], &after.tally().units[0]);
    // Two quarantined stations accepted, one counted station annulled.
    assert_eq!(a.counted, b.counted + 2 - 1);
    assert_eq!(a.quarantined, b.quarantined - 2 + 1);
    assert_eq!(after.quarantined.len() as u64, a.quarantined);
    assert!(after.quarantined.iter().any(|(s, _)| s.0 == counted));
    assert!(after.quarantined.iter().any(|(s, _)| s.0 == q1));
    assert_eq!(after, store.rederive_tally(ContestIdx(0)).unwrap());
    // Decisions are entries of revision 0; the stations keep their current protocol.
    assert_eq!(
        store.current_entry_of(&id(q1)).unwrap().unwrap().note,
        *p(q1)
    );
    drop(store);
    let mut reopened = Store::open(&f.data).unwrap();
    assert_eq!(after, reopened.tally(ContestIdx(0)).unwrap());
    // Resubmitted after a reopen: duplicates.
    let (r, _) = ingest(&mut reopened, &notes[..5]);
    assert_eq!(r.duplicates, 5);
    // Regression: the recount of q2, replaced by an acceptance, sent again under other
    // signature bytes (a line by a key no one knows) was logged as a new decision and brought
    // the recount back. The same signed text is the same decision: a duplicate naming the
    // entry that holds it, and nothing is stored.
    let len = reopened.len();
    let mut replayed = notes[2].clone();
    replayed.extend_from_slice(
        "\u{2014} x AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
            .as_bytes(),
    );
    let recount_at = reopened
        .entries()
        .unwrap()
        .into_iter()
        .find(|row| row.note == notes[2])
        .unwrap()
        .index;
    let (r, outcomes) = ingest(&mut reopened, &[replayed]);
    assert_eq!(r.duplicates, 1, "{outcomes:?}");
    assert_eq!(
        outcomes,
        [Outcome::Duplicate {
            index: recount_at,
            hash: urna_model::intake::sha256(&notes[2])
        }]
    );
    assert_eq!(reopened.len(), len);
    assert_eq!(after, reopened.tally(ContestIdx(0)).unwrap());
}

/// An audit note written into the database outside urna that does not follow the audit before
/// it (a second seed) refuses the open, naming its entry and the rule, and is not sequenced;
/// removed again, the directory opens.
#[test]
fn open_replays_the_audit_trail_and_refuses_a_note_that_does_not_follow() {
    use urna_audit::trail::{ContestAudit, Plan};
    use urna_model::audit::{AuditBody, AuditStep};
    let f = fixture(40);
    let sim = Simulation::new(SimConfig {
        stations: 40,
        districts: 3,
        error_rate_per_10k: 1500,
        ..SimConfig::default()
    });
    let mut store = Store::init(&f.data, &f.definition).unwrap();
    ingest(&mut store, &f.protocols);
    let e = store.election().clone();
    let note = |step: AuditStep| {
        let body = AuditBody {
            election: e.id.clone(),
            contest: e.contests[0].id.clone(),
            step,
        };
        sim.authority().sign_text(&body.to_text()).to_bytes()
    };
    let plan = Plan {
        size: store.len(),
        rules: "generic".into(),
        seats: Some(1),
        risk_limit: 50_000,
        rounds: 4,
    };
    let start = ContestAudit::plan(&e, ContestIdx(0), &plan, &crate::audit::View(&store))
        .unwrap()
        .start;
    store.append_audit(&note(start)).unwrap();
    let seed_index = store
        .append_audit(&note(AuditStep::Seed {
            seed: "12345678901234567890".into(),
        }))
        .unwrap();
    let size = store.len();
    drop(store);
    assert!(Store::open(&f.data).is_ok(), "an honest trail opens");

    // A second seed, committed behind intake's back.
    let forged = note(AuditStep::Seed {
        seed: "98765432109876543210".into(),
    });
    let text = urna_model::note::Note::parse(&forged)
        .unwrap()
        .text()
        .to_owned();
    let conn = rusqlite::Connection::open(f.data.join(DB_FILE)).unwrap();
    conn.execute(
        "INSERT INTO entries (idx, hash, text_hash, contest, station, revision, status, received_ms, note) \
         VALUES (?1, ?2, ?3, ?4, '', 0, 0, 0, ?5)",
        rusqlite::params![
            to_sql(size),
            urna_model::intake::sha256(&forged).as_slice(),
            urna_model::intake::sha256(text.as_bytes()).as_slice(),
            e.contests[0].id,
            forged
        ],
    )
    .unwrap();
    let Err(err) = Store::open(&f.data) else {
        panic!("the open is refused")
    };
    assert!(
        matches!(err, StoreError::Inadmissible { index, .. } if index == size),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "entry {size}: its note does not follow the entries before it: audit seed note: field `kind`: the seed is already logged at entry {seed_index}"
        )),
        "{text}"
    );
    // Refused before anything was sequenced: the log still ends before the forged row.
    let latest = log::read_latest(&f.data).unwrap().unwrap();
    assert_eq!(log::checkpoint_size(&latest), Some(size));

    // Without the forged row the directory opens again.
    conn.execute("DELETE FROM entries WHERE idx = ?1", [to_sql(size)])
        .unwrap();
    drop(conn);
    let store = Store::open(&f.data).unwrap();
    assert_eq!(store.len(), size);
}

/// The audit's intake replays the audited results from table `entries`, while the log's roots
/// come from the tree the open store holds: a row rewritten behind the open store (another
/// process on `urna.sqlite`), even with a note its own station signed (a stolen key moving
/// ten votes between lists), must be refused, not replayed as the results an audit checks
/// against the untouched root.
#[test]
fn an_entry_rewritten_behind_an_open_store_is_not_replayed_as_the_audited_results() {
    use urna_audit::trail::{ContestAudit, Plan};
    let f = fixture(40);
    let sim = Simulation::new(SimConfig {
        stations: 40,
        districts: 3,
        error_rate_per_10k: 1500,
        ..SimConfig::default()
    });
    let mut store = Store::init(&f.data, &f.definition).unwrap();
    ingest(&mut store, &f.protocols);
    let e = store.election().clone();
    let size = store.len();
    store.replay_upto(size).unwrap();
    // Entry 4 is station 3's protocol; the same station moves ten votes between two lists.
    let conn = rusqlite::Connection::open(f.data.join(DB_FILE)).unwrap();
    let note: Vec<u8> = conn
        .query_row("SELECT note FROM entries WHERE idx = 4", [], |r| r.get(0))
        .unwrap();
    let moved = crate::conformance::votes_moved(&sim, 3, &note, 10);
    // It replays: a valid note of its station, only not the one the log holds.
    let mut replay = urna_tally::public::Replay::new(&e).unwrap();
    for i in 0..size {
        let n = if i == 4 {
            moved.clone()
        } else {
            store.entry(i).unwrap().unwrap().note
        };
        replay.apply(&e, i, &n).unwrap();
    }
    conn.execute(
        "UPDATE entries SET note = ?1 WHERE idx = 4",
        rusqlite::params![moved],
    )
    .unwrap();
    let Err(err) = store.replay_upto(size) else {
        panic!("the rewritten entry is replayed as the results")
    };
    assert!(
        err.to_string().contains(&format!(
            "the stored entries do not hash to the log's root at {size} entries"
        )),
        "{err}"
    );
    let plan = Plan {
        size,
        rules: "generic".into(),
        seats: Some(1),
        risk_limit: 50_000,
        rounds: 4,
    };
    let refused = ContestAudit::plan(&e, ContestIdx(0), &plan, &crate::audit::View(&store));
    assert!(
        refused.is_err(),
        "an audit started over the rewritten results"
    );
}

mod revoke;
mod rotate;

/// The conformance suite (`crate::conformance`) on SQLite: each store in a data directory of
/// its own.
mod conformance {
    use std::path::{Path, PathBuf};

    use urna_model::note::{NoteSigner, NoteVerifier};

    use crate::conformance::Harness;
    use crate::{DEFINITION_FILE, Store, StoreError, log};

    struct Sqlite;

    /// A data directory, removed with it.
    struct DataDir {
        _dir: tempfile::TempDir,
        data: PathBuf,
    }

    impl Harness for Sqlite {
        type Engine = Store;
        type Place = DataDir;

        fn proptest_cases(&self) -> u32 {
            6
        }

        fn init(&self, definition: &Path) -> (DataDir, Store) {
            let dir = tempfile::tempdir().unwrap();
            let data = dir.path().join("data");
            let store = Store::init(&data, definition).unwrap();
            (DataDir { _dir: dir, data }, store)
        }

        fn reopen(&self, place: &DataDir, _: &Path, engine: Store) -> Result<Store, StoreError> {
            drop(engine);
            Store::open(&place.data)
        }

        fn definition_read_at_open(&self, place: &DataDir, _: &Path) -> PathBuf {
            place.data.join(DEFINITION_FILE)
        }

        fn log_verifier(&self, place: &DataDir) -> NoteVerifier {
            let skey = std::fs::read_to_string(place.data.join(log::LOG_KEY_FILE)).unwrap();
            NoteSigner::from_skey(skey.trim()).unwrap().verifier()
        }

        fn fail_at_entry(&self, place: &DataDir, index: u64) {
            Self::db(place)
                .execute_batch(&format!(
                    "CREATE TRIGGER boom BEFORE INSERT ON entries WHEN NEW.idx = {index} \
                     BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;"
                ))
                .unwrap();
        }

        fn heal(&self, place: &DataDir) {
            Self::db(place).execute_batch("DROP TRIGGER boom").unwrap();
        }
    }

    impl Sqlite {
        fn db(place: &DataDir) -> rusqlite::Connection {
            rusqlite::Connection::open(place.data.join(crate::DB_FILE)).unwrap()
        }
    }

    crate::conformance_suite!(Some(Sqlite));
}
