//! The conformance suite: the store's and the log's engine-independent tests, written once over
//! [`Engine`] and run on every engine. This crate runs it on SQLite (`cargo test -p
//! urna-store`, module `tests::conformance`); `urna-pg` runs it on PostgreSQL (`cargo test -p
//! urna-pg`, module `conformance`), each through a [`Harness`] that makes, closes and opens
//! its stores, and the [`conformance_suite!`](crate::conformance_suite) macro that turns every
//! test here into a `#[test]`. It is compiled for this crate's tests and, for other crates,
//! behind the `conformance` feature.
//!
//! What the suite checks on every engine (one function each):
//! - intake is durable, idempotent and in order; amendments are appended; the tally after a
//!   reopen equals the one intake kept ([`ingest_is_durable_idempotent_and_in_order`]);
//! - rejected notes store nothing ([`rejected_notes_store_nothing`]);
//! - a definition changed after init is refused ([`definition_changes_after_init_are_refused`]);
//! - the tally does not depend on the order of intake, a property test
//!   ([`tally_is_independent_of_ingest_order`]);
//! - every stored entry is in the signed log: inclusion proofs and a consistency proof from
//!   the engine's own tiles, its entry bundles hold the exact notes, receipts verify
//!   ([`every_stored_entry_is_in_the_signed_log`]);
//! - a reopened engine continues the same log: nothing new gives the same checkpoint, and the
//!   next checkpoint is consistent with the last one before the reopen
//!   ([`a_reopened_engine_continues_the_same_log`]);
//! - duplicates, replays, amendments, conflicts and quarantine are named alike, with the
//!   verdict the pure intake rule gives
//!   ([`duplicates_replays_amendments_and_quarantine_are_named`]);
//! - decisions change how a station counts, before and after a reopen, and a replayed decision
//!   is a duplicate ([`decisions_change_how_a_station_counts`]);
//! - a database that fails in the middle of intake: the error is the database's, nothing
//!   acknowledged is lost, and after a reopen the rest goes in
//!   ([`a_failing_database_stops_intake_and_loses_nothing_acknowledged`]);
//! - a batch gives the outcomes of one-by-one intake
//!   ([`a_batch_gives_the_outcomes_of_one_by_one_intake`]);
//! - revocations: a revoked key is refused, its replacement signs, refusals name the field and
//!   the rule, and the verdicts survive a reopen
//!   ([`a_revoked_key_is_refused_and_its_replacement_signs_for_the_station`]); a revocation in
//!   the middle of a batch gives the verdicts of one-by-one intake
//!   ([`a_revocation_in_the_middle_of_a_batch_gives_the_verdicts_of_one_by_one_intake`]);
//! - the audit trail's intake ([`Engine::audit`]): a start, seed and sample that follow are
//!   stored as the next entries and sequenced; the same note again is a duplicate; a second
//!   seed, a sample the seed does not give, a note of another election or one not signed by
//!   an authority are refused with the field and the rule and store nothing; after a reopen
//!   (which replays the trail) the trail goes on
//!   ([`audit_notes_follow_the_trail_or_are_refused_and_store_nothing`]).
//!
//! Tampering (rows edited with SQL) is engine specific and tested beside each engine. Which
//! rule each engine's tamper tests cover:
//!
//! | rule: an open (or a read) refuses… | SQLite (`urna-store`, `src/tests.rs`) | PostgreSQL (`urna-pg`, `tests/it/main.rs`) |
//! |---|---|---|
//! | a note edited: it no longer parses, or its `hash` disagrees | `a_database_changed_behind_the_log_is_refused` | `a_note_or_derived_row_edited_in_the_database_is_refused_at_open` |
//! | a note edited with its hash recomputed: the signed root disagrees | `tamper_tests::an_edited_index_is_refused` | `a_note_or_derived_row_edited_in_the_database_is_refused_at_open` |
//! | an edited genesis | `tamper_tests::an_edited_genesis_row_is_refused` | `rows_edited_in_the_database_are_refused_as_on_sqlite` |
//! | entries missing (the last deleted) | `a_database_changed_behind_the_log_is_refused` | `rows_edited_in_the_database_are_refused_as_on_sqlite` |
//! | a derived column (station, contest, revision, text hash) | `tamper_tests::an_edited_*_is_refused` | `rows_edited_in_the_database_are_refused_as_on_sqlite` (station, revision) |
//! | `status` disagreeing with the note where an entry is read | `tamper_tests::an_edited_status_is_refused_where_it_is_read` | `rows_edited_in_the_database_are_refused_as_on_sqlite` |
//! | a middle entry deleted | `tamper_tests::a_deleted_entry_is_named_missing` | `rows_edited_in_the_database_are_refused_as_on_sqlite` |
//! | a repeat appended | `tamper_tests::an_appended_repeat_is_refused` | — (`entries.hash` is `UNIQUE`: the database refuses it) |
//! | edited `meta` rows | `tamper_tests::edited_meta_rows_are_refused` | the definition's digest only (`definition_changes_after_init_are_refused`, here) |
//! | derived tables (`current`, `recounts`, `revocations`, `intake_head`) | — (none on SQLite) | `current`: `a_note_or_derived_row_…`; the others: `rows_edited_in_the_database_are_refused_as_on_sqlite` |
//! | a published checkpoint the quorum did not cosign | — (a file, checked by `urna verify`) | `a_publication_round_proves_consistency_…` |
//! | an audit note that does not follow | `open_replays_the_audit_trail_…` | — (`urna-cli`'s `pg_audit`, step 5, end to end) |
//! | a revocation of a key revoked already | `tests::revoke::a_revoked_key_…` | — |

// The suite's helpers unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::panic, clippy::missing_panics_doc)]

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use urna_model::decision::DecisionKind;
use urna_model::definition::{ContestIdx, Election, StationIdx};
use urna_model::intake::{StationKeys, Verdict};
use urna_model::note::{Note, NoteSigner, NoteVerifier};
use urna_model::revocation::{RevocationBody, StationKey};
use urna_sim::{SimConfig, Simulation};
use urna_tlog::hash::{LeafIndex, TreeSize, leaf_hash};
use urna_tlog::proof::{consistency_proof, inclusion_proof, verify_consistency, verify_inclusion};
use urna_tlog::storage::ReadError;
use urna_tlog::tile::{Tile, TileHashReader, TileSource, decode_entries};

use crate::engine::Engine;
use crate::{CheckedNote, Outcome, SystemClock, check_notes};

/// Entry 0 is the genesis; the first note stored gets index 1.
pub const GENESIS: u64 = 1;

/// Makes, closes and opens the stores of one engine for the suite.
pub trait Harness {
    /// The engine under test.
    type Engine: Engine;
    /// Where a store lives (a data directory, a database), to open it again.
    type Place;

    /// Cases of each property test (fewer where each case is slow).
    fn proptest_cases(&self) -> u32;

    /// A new store of the election `definition`, its genesis stored, opened as an engine.
    fn init(&self, definition: &Path) -> (Self::Place, Self::Engine);

    /// Closes `engine` (as a process stopping would) and opens its store again.
    ///
    /// # Errors
    /// What the engine's open refuses.
    fn reopen(
        &self,
        place: &Self::Place,
        definition: &Path,
        engine: Self::Engine,
    ) -> Result<Self::Engine, <Self::Engine as Engine>::Error>;

    /// The definition file an open of `place` reads (the copy in a data directory, or the
    /// file given to the open).
    fn definition_read_at_open(&self, place: &Self::Place, definition: &Path) -> PathBuf;

    /// The verifier of the log key of the store at `place`.
    fn log_verifier(&self, place: &Self::Place) -> NoteVerifier;

    /// Makes the database at `place` refuse to store entry `index` with the error
    /// `disk on fire` (a trigger), as a failing disk or server would.
    fn fail_at_entry(&self, place: &Self::Place, index: u64);

    /// Undoes [`Harness::fail_at_entry`].
    fn heal(&self, place: &Self::Place);
}

/// Turns every test of the suite into a `#[test]` over the harness `$harness` (an expression
/// giving `Option<impl Harness>`; `None` skips, e.g. where PostgreSQL is not installed).
#[macro_export]
macro_rules! conformance_suite {
    ($harness:expr) => {
        $crate::conformance_suite!(@tests $harness;
            ingest_is_durable_idempotent_and_in_order,
            rejected_notes_store_nothing,
            definition_changes_after_init_are_refused,
            tally_is_independent_of_ingest_order,
            every_stored_entry_is_in_the_signed_log,
            duplicates_replays_amendments_and_quarantine_are_named,
            decisions_change_how_a_station_counts,
            a_revoked_key_is_refused_and_its_replacement_signs_for_the_station,
            a_revocation_in_the_middle_of_a_batch_gives_the_verdicts_of_one_by_one_intake,
            a_batch_gives_the_outcomes_of_one_by_one_intake,
            a_failing_database_stops_intake_and_loses_nothing_acknowledged,
            a_reopened_engine_continues_the_same_log,
            audit_notes_follow_the_trail_or_are_refused_and_store_nothing,
        );
    };
    (@tests $harness:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                if let Some(h) = $harness {
                    $crate::conformance::$name(&h);
                }
            }
        )*
    };
}

/// A simulated election written to a temporary directory, with its notes.
pub struct Fixture {
    _dir: tempfile::TempDir,
    /// The `election.toml` (its stations file beside it).
    pub definition: PathBuf,
    /// The simulation the notes come from.
    pub sim: Simulation,
    /// One protocol per station, in station order.
    pub protocols: Vec<Vec<u8>>,
    /// Amendments of the protocols the simulation corrects.
    pub amendments: Vec<Vec<u8>>,
}

/// A small election of `stations` stations, 15 % of whose protocols break a rule
/// (`error_rate_per_10k`; 0 for a clean one).
pub fn fixture(stations: u32, error_rate_per_10k: u32) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulation::new(SimConfig {
        stations,
        districts: 3,
        error_rate_per_10k,
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
        if error_rate_per_10k > 0
            && let Some(a) = sim.amendment_note(&s, &note)
        {
            amendments.push(a);
        }
        protocols.push(note);
    }
    std::fs::write(src.join("stations.csv"), csv).unwrap();
    Fixture {
        definition: src.join("election.toml"),
        _dir: dir,
        sim,
        protocols,
        amendments,
    }
}

/// Notes per batch: what a node takes from its queue at once.
const BATCH: usize = 50;

/// Ingests `notes` in batches of 50.
pub fn ingest<E: Engine>(engine: &mut E, notes: &[Vec<u8>]) -> Vec<Outcome> {
    ingest_in(engine, notes, BATCH)
}

fn ingest_in<E: Engine>(engine: &mut E, notes: &[Vec<u8>], batch: usize) -> Vec<Outcome> {
    notes
        .chunks(batch.max(1))
        .flat_map(|c| engine.ingest_batch(c, &SystemClock).unwrap())
        .collect()
}

fn verdict(o: &Outcome) -> Option<Verdict> {
    match o {
        Outcome::Stored { verdict, .. } => Some(*verdict),
        _ => None,
    }
}

fn count(outcomes: &[Outcome], f: impl Fn(&Outcome) -> bool) -> usize {
    outcomes.iter().filter(|o| f(o)).count()
}

fn stored(o: &Outcome) -> bool {
    matches!(o, Outcome::Stored { .. })
}

fn duplicate(o: &Outcome) -> bool {
    matches!(o, Outcome::Duplicate { .. })
}

fn refusal(o: &Outcome) -> (&'static str, Option<String>) {
    match o {
        Outcome::Rejected(r) => (r.code(), r.field()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Entries are stored in input order with the next indices, durably: reopened, the same notes
/// are duplicates and nothing is added; amendments are appended and the superseded rows stay;
/// the tally intake kept equals the one a reopened store gives.
pub fn ingest_is_durable_idempotent_and_in_order<H: Harness>(h: &H) {
    let f = fixture(120, 1500);
    let (place, mut engine) = h.init(&f.definition);
    let outcomes = ingest(&mut engine, &f.protocols);
    for (i, o) in outcomes.iter().enumerate() {
        assert!(
            matches!(o, Outcome::Stored { index, .. } if *index == GENESIS + i as u64),
            "{i}: {o:?}"
        );
    }
    assert!(
        outcomes
            .iter()
            .any(|o| verdict(o) == Some(Verdict::Quarantined)),
        "the fixture injects errors"
    );
    let mut engine = h.reopen(&place, &f.definition, engine).unwrap();
    assert_eq!(engine.entry_count().unwrap(), GENESIS + 120);
    let again = ingest(&mut engine, &f.protocols);
    assert_eq!(count(&again, duplicate), 120, "{again:?}");
    assert_eq!(engine.entry_count().unwrap(), GENESIS + 120);

    let amended = ingest(&mut engine, &f.amendments);
    assert_eq!(
        count(&amended, |o| verdict(o) == Some(Verdict::Accepted)),
        f.amendments.len(),
        "{amended:?}"
    );
    let len = engine.entry_count().unwrap();
    assert_eq!(len, GENESIS + 120 + f.amendments.len() as u64);
    let genesis = engine.entry_at(0).unwrap().unwrap();
    assert!(
        genesis.station.is_empty()
            && genesis.revision == 0
            && genesis.note.starts_with(b"urna/genesis/v1\n")
    );
    assert_eq!(
        engine.entry_at(GENESIS).unwrap().unwrap().note,
        f.protocols[0]
    );
    assert_eq!(engine.entry_at(len).unwrap(), None);
    let report = engine.tally(ContestIdx(0)).unwrap();
    let quarantined = report.quarantined.len() as u64;
    assert_eq!(report.tally().units[0].counted + quarantined, 120);
    let mut engine = h.reopen(&place, &f.definition, engine).unwrap();
    assert_eq!(report, engine.tally(ContestIdx(0)).unwrap());
}

/// A note that fails its signature or does not parse stores nothing.
pub fn rejected_notes_store_nothing<H: Harness>(h: &H) {
    let f = fixture(10, 1500);
    let (_place, mut engine) = h.init(&f.definition);
    let mut bad = f.protocols[3].clone();
    let pos = bad.iter().position(|&b| b == b'\n').unwrap() + 12;
    bad[pos] ^= 1;
    let outcomes = ingest(&mut engine, &[bad, b"not a note".to_vec()]);
    // The flipped byte is in the election's name.
    assert_eq!(refusal(&outcomes[0]).0, "wrong-election", "{outcomes:?}");
    assert_eq!(refusal(&outcomes[1]).0, "malformed-note", "{outcomes:?}");
    assert_eq!(engine.entry_count().unwrap(), GENESIS);
    assert_eq!(engine.entry_at(GENESIS).unwrap(), None);
}

/// A definition that changed after init (its title) refuses the open with the same error on
/// every engine, naming the digests.
pub fn definition_changes_after_init_are_refused<H: Harness>(h: &H) {
    let f = fixture(5, 1500);
    let (place, mut engine) = h.init(&f.definition);
    ingest(&mut engine, &f.protocols);
    let path = h.definition_read_at_open(&place, &f.definition);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("Synthetic Assembly election", "Edited")).unwrap();
    let Err(err) = h.reopen(&place, &f.definition, engine) else {
        panic!("an open under an edited definition is refused")
    };
    // The same refusal on every engine: what changed, the digests, and why it is refused.
    let err = err.to_string();
    assert!(
        err.contains("changed after `urna init` (sha256 ")
            && err.contains("a definition cannot change under accepted protocols"),
        "{err}"
    );
}

/// The tally is the same whatever order the protocols arrive in (a property test over the
/// shuffle's seed).
pub fn tally_is_independent_of_ingest_order<H: Harness>(h: &H) {
    let f = fixture(60, 1500);
    let (_place, mut engine) = h.init(&f.definition);
    ingest(&mut engine, &f.protocols);
    let expected = engine.tally(ContestIdx(0)).unwrap();
    drop(engine);
    let mut runner = TestRunner::new(Config {
        cases: h.proptest_cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&any::<u64>(), |seed| {
            let mut shuffled = f.protocols.clone();
            let mut x = seed | 1;
            for i in (1..shuffled.len()).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                shuffled.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let (_other_place, mut other) = h.init(&f.definition);
            // Batches of 7: the shuffle also moves notes across batch boundaries.
            ingest_in(&mut other, &shuffled, 7);
            let got = other.tally(ContestIdx(0)).unwrap();
            prop_assert_eq!(got.tally(), expected.tally());
            prop_assert_eq!(&got.quarantined, &expected.quarantined);
            prop_assert_eq!(&got.warnings, &expected.warnings);
            Ok(())
        })
        .unwrap();
}

/// The engine's tiles, read through [`Engine::tile`].
struct EngineTiles<'a, E>(RefCell<&'a mut E>);

impl<E: Engine> TileSource for EngineTiles<'_, E> {
    fn read_tile(&self, tile: &Tile) -> Result<Option<Vec<u8>>, ReadError> {
        self.0.borrow_mut().tile(tile).map_err(|e| ReadError::Io {
            path: tile.path(),
            source: std::io::Error::other(e.to_string()),
        })
    }
}

/// After [`Engine::sequence`], every stored entry (the genesis too) is in the signed
/// checkpoint: its inclusion proof from the engine's own tiles verifies, the tiles give the
/// checkpoint's root, a later checkpoint is consistent with an earlier one, the entry bundles
/// hold the exact notes, and a receipt names its entry and verifies with the log key.
pub fn every_stored_entry_is_in_the_signed_log<H: Harness>(h: &H) {
    let f = fixture(300, 1500);
    let (place, mut engine) = h.init(&f.definition);
    let verifier = h.log_verifier(&place);
    let origin = engine.election().log_origin();
    let open = |note: &[u8]| {
        urna_tlog::checkpoint::open(note, &origin, &verifier)
            .unwrap()
            .0
    };
    ingest(&mut engine, &f.protocols[..100]);
    let early = open(&engine.sequence().unwrap());
    assert_eq!(early.size, TreeSize(GENESIS + 100));
    assert_eq!(
        engine.signed_checkpoint().unwrap().map(|n| open(&n)),
        Some(early.clone())
    );
    ingest(&mut engine, &f.protocols[100..]);
    let cp = open(&engine.sequence().unwrap());
    assert_eq!(cp.size, TreeSize(GENESIS + 300));
    // Sequencing again with nothing new gives the same checkpoint.
    assert_eq!(open(&engine.sequence().unwrap()), cp);
    let notes: Vec<Vec<u8>> = (0..cp.size.0)
        .map(|i| engine.entry_at(i).unwrap().unwrap().note)
        .collect();
    let receipt = {
        let e = engine.entry_at(7).unwrap().unwrap();
        (engine.receipt(7, &e.hash, 1), e.hash)
    };
    let tiles = EngineTiles(RefCell::new(&mut engine));
    let reader = TileHashReader::new(&tiles, cp.size);
    assert_eq!(
        urna_tlog::storage::root_at(&reader, cp.size).unwrap(),
        cp.root
    );
    for (i, note) in notes.iter().enumerate() {
        let proof = inclusion_proof(&reader, LeafIndex(i as u64), cp.size).unwrap();
        verify_inclusion(
            LeafIndex(i as u64),
            cp.size,
            &leaf_hash(note),
            &proof,
            &cp.root,
        )
        .unwrap();
    }
    let proof = consistency_proof(&reader, early.size, cp.size).unwrap();
    verify_consistency(early.size, cp.size, &early.root, &cp.root, &proof).unwrap();
    // Entries 256..301 (the second bundle, partial): entry 256 is protocol 255.
    let bundle = tiles
        .read_tile(&Tile::entries(1, 45).unwrap())
        .unwrap()
        .unwrap();
    let bundled = decode_entries(&bundle, 45).unwrap();
    assert_eq!(bundled[0], f.protocols[256 - GENESIS as usize].as_slice());
    assert_eq!(bundled[44], f.protocols[299].as_slice());
    let bundle = tiles
        .read_tile(&Tile::entries(0, 256).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        decode_entries(&bundle, 256).unwrap()[0],
        notes[0].as_slice()
    );
    // A receipt names the entry and verifies with the log key.
    let note = Note::parse(&receipt.0).unwrap();
    verifier.verify(&note).unwrap();
    let body = urna_model::receipt::Receipt::parse(note.text()).unwrap();
    assert_eq!((body.index, body.entry), (7, receipt.1));
}

/// Each kind of outcome, named the same on every engine: a stored protocol gets the verdict
/// the pure intake rule gives it; the same note again is a duplicate naming its entry; its
/// signed text under other signature bytes too; an amendment is stored and becomes the
/// station's current entry; the superseded protocol sent again is a duplicate of it; a second
/// protocol of the same revision with another text is refused as a conflict.
pub fn duplicates_replays_amendments_and_quarantine_are_named<H: Harness>(h: &H) {
    let f = fixture(40, 1500);
    let (_place, mut engine) = h.init(&f.definition);
    let election = engine.election().clone();
    let refs: Vec<&[u8]> = f.protocols.iter().map(Vec::as_slice).collect();
    let pure = check_notes(&election, &StationKeys::new(), &refs);
    let outcomes = ingest(&mut engine, &f.protocols);
    for (i, (o, checked)) in outcomes.iter().zip(&pure).enumerate() {
        let CheckedNote::Note(Ok(sub)) = checked else {
            panic!("{i}: the fixture's protocols are authentic")
        };
        let want = if sub.is_quarantined() {
            Verdict::Quarantined
        } else {
            Verdict::Accepted
        };
        assert_eq!(
            *o,
            Outcome::Stored {
                index: GENESIS + i as u64,
                verdict: want
            },
            "{i}"
        );
        let entry = engine.entry_at(GENESIS + i as u64).unwrap().unwrap();
        assert_eq!(entry.quarantined, sub.is_quarantined(), "{i}");
        assert_eq!(entry.hash, sub.hash, "{i}");
    }
    // The same note: a duplicate naming its entry and hash.
    let hash0 = urna_model::intake::sha256(&f.protocols[0]);
    assert_eq!(
        ingest(&mut engine, &f.protocols[..1]),
        [Outcome::Duplicate {
            index: GENESIS,
            hash: hash0
        }]
    );
    // The same signed text with another signature line (a key no one knows): the same note.
    let mut replayed = f.protocols[0].clone();
    replayed.extend_from_slice(
        "\u{2014} x AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
            .as_bytes(),
    );
    assert_eq!(
        ingest(&mut engine, &[replayed]),
        [Outcome::Duplicate {
            index: GENESIS,
            hash: hash0
        }]
    );
    // Amendments: stored with the next indices, each the station's current entry.
    let first = engine.entry_count().unwrap();
    let amended = ingest(&mut engine, &f.amendments);
    assert!(!f.amendments.is_empty());
    for (i, (o, note)) in amended.iter().zip(&f.amendments).enumerate() {
        assert_eq!(
            *o,
            Outcome::Stored {
                index: first + i as u64,
                verdict: Verdict::Accepted
            },
            "amendment {i}"
        );
        let entry = engine.entry_at(first + i as u64).unwrap().unwrap();
        let current = engine.current_entry(&entry.station).unwrap().unwrap();
        assert_eq!(current, entry);
        assert_eq!(&current.note, note);
        assert!(current.revision >= 2, "{}", current.revision);
    }
    // The superseded protocol of the first amended station, sent again.
    let amended_station = engine.entry_at(first).unwrap().unwrap().station;
    let s = election.station(&amended_station).unwrap();
    let superseded = &f.protocols[s.0 as usize];
    let again = ingest(&mut engine, std::slice::from_ref(superseded));
    assert_eq!(
        again,
        [Outcome::Duplicate {
            index: GENESIS + u64::from(s.0),
            hash: urna_model::intake::sha256(superseded)
        }]
    );
    // Another text of revision 1 for a station that has one: a conflict, nothing stored.
    let len = engine.entry_count().unwrap();
    let station = f.sim.station(5);
    let mut body = station.body.clone();
    body.scan = Some(match body.scan {
        Some([7, ..]) => [8; 32],
        _ => [7; 32],
    });
    let other = station.signer.sign_text(&body.to_text()).to_bytes();
    let out = ingest(&mut engine, &[other]);
    assert!(matches!(out[0], Outcome::Rejected(_)), "{out:?}");
    let (code, _) = refusal(&out[0]);
    assert_eq!(engine.entry_count().unwrap(), len, "{code}");
    assert_eq!(code, "conflict", "{out:?}");
}

/// A signed decision by the simulation's authority on the entry `decides` of `station`.
pub fn decision_note(
    f: &Fixture,
    e: &Election,
    station: &str,
    decides: &[u8],
    kind: DecisionKind,
) -> Vec<u8> {
    let body = urna_model::decision::DecisionBody {
        election: e.id.clone(),
        contest: e.contests[0].id.clone(),
        station: station.to_owned(),
        decides: urna_model::intake::sha256(decides),
        decision: kind,
        reason: "checked against the paper protocol".into(),
    };
    f.sim.authority().sign_text(&body.to_text()).to_bytes()
}

/// Decisions change how a station counts: two quarantined stations accepted (one after a
/// recount that a later decision replaces), one recounted, one counted station annulled; a
/// decision on another entry than the station's is refused; reopened, the tally is the same
/// and the decisions are duplicates, also under other signature bytes.
pub fn decisions_change_how_a_station_counts<H: Harness>(h: &H) {
    use DecisionKind::{Accept, Annul, Recount};
    let f = fixture(60, 1500);
    let (place, mut engine) = h.init(&f.definition);
    ingest(&mut engine, &f.protocols);
    let before = engine.tally(ContestIdx(0)).unwrap();
    let quarantined: Vec<StationIdx> = before.quarantined.iter().map(|(s, _)| *s).collect();
    assert!(quarantined.len() >= 3, "the fixture injects errors");
    let counted = (0..60u32)
        .find(|i| !quarantined.contains(&StationIdx(*i)))
        .unwrap();
    let election = engine.election().clone();
    let id = |s: u32| election.stations[s as usize].id.clone();
    let (q0, q1, q2) = (quarantined[0].0, quarantined[1].0, quarantined[2].0);
    let p = |s: u32| &f.protocols[s as usize];
    let notes = vec![
        decision_note(&f, &election, &id(q0), p(q0), Accept),
        decision_note(&f, &election, &id(q1), p(q1), Recount),
        decision_note(&f, &election, &id(q2), p(q2), Recount),
        decision_note(&f, &election, &id(q2), p(q2), Accept),
        decision_note(&f, &election, &id(counted), p(counted), Annul),
        decision_note(&f, &election, &id(counted), p(q0), Annul),
    ];
    let out = ingest(&mut engine, &notes);
    assert_eq!(count(&out, stored), 5, "{out:?}");
    assert!(matches!(out[5], Outcome::Rejected(_)), "{out:?}");
    let after = engine.tally(ContestIdx(0)).unwrap();
    let (b, a) = (&before.tally().units[0], &after.tally().units[0]);
    assert_eq!(a.counted, b.counted + 2 - 1);
    assert_eq!(a.quarantined, b.quarantined - 2 + 1);
    assert_eq!(after.quarantined.len() as u64, a.quarantined);
    assert!(after.quarantined.iter().any(|(s, _)| s.0 == counted));
    assert!(after.quarantined.iter().any(|(s, _)| s.0 == q1));
    // Decisions are entries of revision 0; the stations keep their current protocol.
    assert_eq!(engine.current_entry(&id(q1)).unwrap().unwrap().note, *p(q1));
    let mut engine = h.reopen(&place, &f.definition, engine).unwrap();
    assert_eq!(after, engine.tally(ContestIdx(0)).unwrap());
    let again = ingest(&mut engine, &notes[..5]);
    assert_eq!(count(&again, duplicate), 5, "{again:?}");
    // The replaced recount under other signature bytes: the same decision, a duplicate naming
    // the entry that holds it; nothing is stored and the recount does not come back.
    let len = engine.entry_count().unwrap();
    let recount_at = (0..len)
        .find(|&i| engine.entry_at(i).unwrap().unwrap().note == notes[2])
        .unwrap();
    let mut replayed = notes[2].clone();
    replayed.extend_from_slice(
        "\u{2014} x AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
            .as_bytes(),
    );
    assert_eq!(
        ingest(&mut engine, &[replayed]),
        [Outcome::Duplicate {
            index: recount_at,
            hash: urna_model::intake::sha256(&notes[2])
        }]
    );
    assert_eq!(engine.entry_count().unwrap(), len);
    assert_eq!(after, engine.tally(ContestIdx(0)).unwrap());
}

fn station_key(s: &NoteSigner) -> StationKey {
    StationKey {
        key_id: s.key_id(),
        public_key: s.public_key(),
    }
}

/// A new key for station `i` (same name, another seed).
pub fn new_key(sim: &Simulation, i: u32, n: u8) -> NoteSigner {
    NoteSigner::from_seed(&sim.station(i).id, &[n; 32]).unwrap()
}

/// A revocation by the simulation's authority of station `i`'s key `revokes`, with `new` as
/// its replacement.
pub fn revocation(
    sim: &Simulation,
    i: u32,
    revokes: &NoteSigner,
    new: Option<&NoteSigner>,
) -> Vec<u8> {
    let body = RevocationBody {
        election: urna_sim::ELECTION_ID.to_owned(),
        station: sim.station(i).id,
        revokes: station_key(revokes),
        replacement: new.map(station_key),
        reason: "the board's tablet was stolen".into(),
    };
    sim.authority().sign_text(&body.to_text()).to_bytes()
}

/// Station `i`'s protocol signed with `signer` instead of its own key.
fn protocol_by(sim: &Simulation, i: u32, signer: &NoteSigner) -> Vec<u8> {
    signer.sign_text(&sim.station(i).body.to_text()).to_bytes()
}

/// Revocations: stored like decisions (the station, revision 0); the same one again is a
/// duplicate, also under other signature bytes; a key revoked already, one not held and a
/// bad replacement are refused naming the field and the rule; after them a revoked key is
/// refused (`key-revoked`, nothing stored), the replacement signs for its station, and a
/// replacement key where no revocation gave it is refused; an entry stored before its key
/// was revoked keeps counting; reopened, the same entries, tally and duplicates.
pub fn a_revoked_key_is_refused_and_its_replacement_signs_for_the_station<H: Harness>(h: &H) {
    let f = fixture(12, 0);
    let sim = &f.sim;
    let (place, mut engine) = h.init(&f.definition);
    let before = ingest(&mut engine, &f.protocols[..8]);
    assert!(before.iter().all(|o| verdict(o) == Some(Verdict::Accepted)));
    let old = |i: u32| sim.station(i).signer;
    let (new8, new9) = (new_key(sim, 8, 80), new_key(sim, 9, 90));
    let revocations = vec![
        revocation(sim, 8, &old(8), Some(&new8)),
        revocation(sim, 9, &old(9), Some(&new9)),
        revocation(sim, 10, &old(10), None),
        revocation(sim, 0, &old(0), None),
    ];
    let out = ingest(&mut engine, &revocations);
    assert!(
        out.iter().all(|o| verdict(o) == Some(Verdict::Accepted)),
        "{out:?}"
    );
    let first_revocation = GENESIS + 8;
    let again = vec![
        revocations[0].clone(),
        revocation(sim, 8, &old(8), None),
        revocation(sim, 11, &new_key(sim, 11, 111), None),
        revocation(sim, 9, &new9, Some(&old(9))),
    ];
    let out = ingest(&mut engine, &again);
    let dup = Outcome::Duplicate {
        index: first_revocation,
        hash: urna_model::intake::sha256(&revocations[0]),
    };
    assert_eq!(out[0], dup);
    let mut resent = revocations[0].clone();
    resent.extend_from_slice(
        "\u{2014} x AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
            .as_bytes(),
    );
    assert_eq!(ingest(&mut engine, &[resent]), [dup]);
    assert_eq!(
        refusal(&out[1]),
        ("key-already-revoked", Some("revokes".into()))
    );
    assert_eq!(refusal(&out[2]), ("key-not-held", Some("revokes".into())));
    assert_eq!(
        refusal(&out[3]),
        ("bad-replacement", Some("replacement".into()))
    );
    let notes = vec![
        protocol_by(sim, 8, &new8),
        f.protocols[9].clone(),
        f.protocols[10].clone(),
        f.protocols[11].clone(),
    ];
    let out = ingest(&mut engine, &notes);
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
    let out = ingest(&mut engine, &[protocol_by(sim, 11, &new_key(sim, 11, 111))]);
    assert!(matches!(out[0], Outcome::Rejected(_)), "{out:?}");
    let out = ingest(&mut engine, &[protocol_by(sim, 9, &new9)]);
    assert_eq!(verdict(&out[0]), Some(Accepted), "{out:?}");

    let len = engine.entry_count().unwrap();
    let entries: Vec<_> = (0..len)
        .map(|i| engine.entry_at(i).unwrap().unwrap())
        .collect();
    assert!(entries.iter().all(|e| !e.quarantined));
    let row = &entries[first_revocation as usize];
    assert_eq!(
        (row.station.as_str(), row.revision),
        (sim.station(8).id.as_str(), 0)
    );
    let report = engine.tally(ContestIdx(0)).unwrap();
    assert!(report.quarantined.is_empty());
    assert_eq!(report.tally().units[0].counted, 11);

    let mut engine = h.reopen(&place, &f.definition, engine).unwrap();
    let reopened: Vec<_> = (0..len)
        .map(|i| engine.entry_at(i).unwrap().unwrap())
        .collect();
    assert_eq!(reopened, entries);
    assert_eq!(report, engine.tally(ContestIdx(0)).unwrap());
    let out = ingest(&mut engine, &revocations);
    assert!(out.iter().all(duplicate), "{out:?}");
}

/// Revocations in the middle of a batch, with notes under the revoked and the new keys in the
/// same batch: the verdicts are those of one-by-one intake, whatever the batch size, and so is
/// the tally.
pub fn a_revocation_in_the_middle_of_a_batch_gives_the_verdicts_of_one_by_one_intake<H: Harness>(
    h: &H,
) {
    let f = fixture(30, 0);
    let sim = &f.sim;
    let old = |i: u32| sim.station(i).signer;
    let new: Vec<NoteSigner> = (0..30).map(|i| new_key(sim, i, 100 + i as u8)).collect();
    let mut notes: Vec<Vec<u8>> = f.protocols[..10].to_vec();
    for i in 10..20 {
        notes.push(revocation(sim, i, &old(i), Some(&new[i as usize])));
        notes.push(if i % 2 == 0 {
            protocol_by(sim, i, &new[i as usize])
        } else {
            f.protocols[i as usize].clone()
        });
    }
    notes.push(revocation(sim, 10, &old(10), None));
    notes.push(protocol_by(sim, 25, &new[25]));
    notes.extend_from_slice(&f.protocols[20..30]);

    let (single_place, mut single) = h.init(&f.definition);
    let single_out = ingest_in(&mut single, &notes, 1);
    for batch in [3, 512] {
        let (_p, mut bulk) = h.init(&f.definition);
        assert_eq!(ingest_in(&mut bulk, &notes, batch), single_out, "{batch}");
        assert_eq!(
            bulk.tally(ContestIdx(0)).unwrap(),
            single.tally(ContestIdx(0)).unwrap()
        );
    }
    let revoked = count(
        &single_out,
        |o| matches!(o, Outcome::Rejected(r) if r.code() == "key-revoked"),
    );
    assert_eq!(revoked, 5, "{single_out:?}");
    let rejected = count(&single_out, |o| matches!(o, Outcome::Rejected(_)));
    assert_eq!(rejected, 5 + 2, "{single_out:?}");
    let report = single.tally(ContestIdx(0)).unwrap();
    assert_eq!(report.tally().units[0].counted, 30 - 5);
    let mut reopened = h.reopen(&single_place, &f.definition, single).unwrap();
    assert_eq!(report, reopened.tally(ContestIdx(0)).unwrap());
}

/// What one batch holds gives the outcomes of one-by-one intake: a note and the same note
/// again, a note and its signed text under other signature bytes, a protocol and its
/// amendment, a protocol and a decision on it, an empty batch. A batch is what a node takes
/// from its queue, and its composition is chance.
pub fn a_batch_gives_the_outcomes_of_one_by_one_intake<H: Harness>(h: &H) {
    let f = fixture(40, 1500);
    let (_p, probe) = h.init(&f.definition);
    let election = probe.election().clone();
    drop(probe);
    let mut replayed = f.protocols[1].clone();
    replayed.extend_from_slice(
        "\u{2014} x AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
            .as_bytes(),
    );
    let mut notes = vec![
        f.protocols[0].clone(),
        f.protocols[0].clone(),
        f.protocols[1].clone(),
        replayed,
    ];
    // Every protocol, each amendment right after its protocol, a decision accepting the
    // first quarantined protocol right after it.
    for (i, p) in f.protocols.iter().enumerate().skip(2) {
        notes.push(p.clone());
        if let Some(a) = f.sim.amendment_note(&f.sim.station(i as u32), p) {
            notes.push(a);
        }
    }
    let refs: Vec<&[u8]> = f.protocols.iter().map(Vec::as_slice).collect();
    let first_quarantined = check_notes(&election, &StationKeys::new(), &refs)
        .iter()
        .position(|c| matches!(c, CheckedNote::Note(Ok(sub)) if sub.is_quarantined()))
        .unwrap();
    let at = notes
        .iter()
        .position(|n| *n == f.protocols[first_quarantined])
        .unwrap();
    notes.insert(
        at + 1,
        decision_note(
            &f,
            &election,
            &election.stations[first_quarantined].id,
            &f.protocols[first_quarantined],
            DecisionKind::Accept,
        ),
    );
    let (_single_place, mut single) = h.init(&f.definition);
    assert_eq!(single.ingest_batch(&[], &SystemClock).unwrap(), []);
    let single_out = ingest_in(&mut single, &notes, 1);
    assert_eq!(count(&single_out, duplicate), 2, "{single_out:?}");
    assert!(
        single_out
            .iter()
            .all(|o| !matches!(o, Outcome::Rejected(_))),
        "{single_out:?}"
    );
    let (_bulk_place, mut bulk) = h.init(&f.definition);
    let bulk_out = ingest_in(&mut bulk, &notes, notes.len());
    assert_eq!(bulk_out, single_out);
    assert_eq!(
        bulk.tally(ContestIdx(0)).unwrap(),
        single.tally(ContestIdx(0)).unwrap()
    );
}

/// Everything an engine gives back for a set of notes: the outcomes, every entry, each
/// station's current entry, each contest's tally, the signed checkpoint and the entry bundles.
/// Two engines given the same notes and the same log key must give equal transcripts
/// (`urna-pg`'s `both_engines_give_the_same_transcript`).
#[derive(Debug, PartialEq, Eq)]
pub struct Transcript {
    /// One outcome per note, in input order.
    pub outcomes: Vec<Outcome>,
    /// Every entry, in log order.
    pub entries: Vec<crate::EntryRow>,
    /// Each station's current entry, in station order.
    pub currents: Vec<Option<crate::EntryRow>>,
    /// Each contest's tally.
    pub tallies: Vec<crate::TallyReport>,
    /// The checkpoint of everything stored.
    pub checkpoint: Vec<u8>,
    /// The entry bundles of that checkpoint, full and partial.
    pub bundles: Vec<Vec<u8>>,
}

/// Notes of every kind for `f` (made with [`fixture`] with errors): an amendment and a
/// decision before their protocols, the protocols, their amendments, decisions (accept, recount, annul, one on the wrong entry), revocations with
/// and without a replacement and notes under the revoked and the new keys, resent notes,
/// replays under other signature bytes, and junk, in an order that mixes them.
pub fn mixed_notes(f: &Fixture) -> Vec<Vec<u8>> {
    let election = urna_model::definition::Election::load(&f.definition).unwrap();
    let refs: Vec<&[u8]> = f.protocols.iter().map(Vec::as_slice).collect();
    let checked = check_notes(&election, &StationKeys::new(), &refs);
    let quarantined: Vec<usize> = checked
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c, CheckedNote::Note(Ok(sub)) if sub.is_quarantined()))
        .map(|(i, _)| i)
        .collect();
    assert!(quarantined.len() >= 3, "the fixture injects errors");
    let counted = (0..f.protocols.len())
        .find(|i| !quarantined.contains(i))
        .unwrap();
    let id = |i: usize| election.stations[i].id.clone();
    let p = |i: usize| f.protocols[i].as_slice();
    let sim = &f.sim;
    let n = f.protocols.len() as u32;
    let (r1, r2) = (n - 1, n - 2);
    let new1 = new_key(sim, r1, 201);
    let (q0, q1, q2) = (quarantined[0], quarantined[1], quarantined[2]);
    // Before what they follow: an amendment and a decision (each refused, then sent again
    // after its protocol).
    let mut notes: Vec<Vec<u8>> = vec![
        f.amendments[0].clone(),
        decision_note(f, &election, &id(q0), p(q0), DecisionKind::Accept),
    ];
    for (i, protocol) in f.protocols.iter().enumerate() {
        if i as u32 == r2 {
            continue;
        }
        notes.push(protocol.clone());
        if i % 17 == 3 {
            notes.push(protocol.clone());
        }
    }
    notes.extend(f.amendments.iter().cloned());
    notes.extend([
        decision_note(f, &election, &id(q0), p(q0), DecisionKind::Accept),
        decision_note(f, &election, &id(q1), p(q1), DecisionKind::Recount),
        decision_note(f, &election, &id(q2), p(q2), DecisionKind::Recount),
        decision_note(f, &election, &id(q2), p(q2), DecisionKind::Accept),
        decision_note(f, &election, &id(counted), p(counted), DecisionKind::Annul),
        decision_note(f, &election, &id(counted), p(q0), DecisionKind::Annul),
        revocation(sim, r1, &sim.station(r1).signer, Some(&new1)),
        revocation(sim, r2, &sim.station(r2).signer, None),
        f.protocols[r2 as usize].clone(),
        protocol_by(sim, r2, &new1),
        b"not a note".to_vec(),
    ]);
    let mut replayed = notes[notes.len() - 9].clone();
    replayed.extend_from_slice(
        "\u{2014} x AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
            .as_bytes(),
    );
    notes.push(replayed);
    notes.extend(f.protocols[..5].iter().cloned());
    notes
}

/// Ingests `notes` in batches of the sizes `batches` gives in turn, sequences, and reads back
/// the [`Transcript`].
pub fn transcript<E: Engine>(engine: &mut E, notes: &[Vec<u8>], batches: &[usize]) -> Transcript {
    let mut outcomes = Vec::new();
    let mut rest = notes;
    for size in batches.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (batch, tail) = rest.split_at((*size).clamp(1, rest.len()));
        outcomes.extend(engine.ingest_batch(batch, &SystemClock).unwrap());
        rest = tail;
    }
    let checkpoint = engine.sequence().unwrap();
    let len = engine.entry_count().unwrap();
    let entries = (0..len)
        .map(|i| engine.entry_at(i).unwrap().unwrap())
        .collect();
    let election = engine.election().clone();
    let currents = election
        .stations
        .iter()
        .map(|s| engine.current_entry(&s.id).unwrap())
        .collect();
    let tallies = (0..election.contests.len())
        .map(|c| engine.tally(ContestIdx(c as u16)).unwrap())
        .collect();
    let bundles = (0..len.div_ceil(256))
        .map(|b| {
            let width = (len - b * 256).min(256);
            let tile = Tile::entries(b, width as u16).unwrap();
            engine.tile(&tile).unwrap().unwrap()
        })
        .collect();
    Transcript {
        outcomes,
        entries,
        currents,
        tallies,
        checkpoint,
        bundles,
    }
}

/// A database that refuses to store entry 50 in the middle of intake: the batch holding it
/// fails with the database's error, every outcome given before is durable (a reopen finds each
/// acknowledged entry), and once the database works again everything goes in exactly once.
pub fn a_failing_database_stops_intake_and_loses_nothing_acknowledged<H: Harness>(h: &H) {
    let f = fixture(120, 1500);
    let (place, mut engine) = h.init(&f.definition);
    h.fail_at_entry(&place, 50);
    let mut acked = Vec::new();
    let mut failed = None;
    for batch in f.protocols.chunks(20) {
        match engine.ingest_batch(batch, &SystemClock) {
            Ok(out) => acked.extend(out.into_iter().filter_map(|o| match o {
                Outcome::Stored { index, .. } => Some(index),
                _ => None,
            })),
            Err(e) => {
                failed = Some(e.to_string());
                break;
            }
        }
    }
    let failed = failed.expect("intake fails at entry 50");
    assert!(failed.contains("disk on fire"), "{failed}");
    assert!(!acked.is_empty() && acked.len() < 50, "{acked:?}");
    h.heal(&place);
    let mut engine = h.reopen(&place, &f.definition, engine).unwrap();
    for &i in &acked {
        let entry = engine.entry_at(i).unwrap();
        assert_eq!(
            entry.map(|e| e.note),
            Some(f.protocols[(i - GENESIS) as usize].clone()),
            "acknowledged entry {i} lost"
        );
    }
    let out = ingest(&mut engine, &f.protocols);
    assert_eq!(count(&out, duplicate), acked.len(), "{out:?}");
    assert_eq!(count(&out, stored), 120 - acked.len(), "{out:?}");
    assert_eq!(engine.entry_count().unwrap(), GENESIS + 120);
}

/// A reopened engine continues the same log: with nothing new, sequencing gives the checkpoint
/// signed before the reopen; after more intake, the new checkpoint is consistent with it (a
/// consistency proof from the engine's tiles) and every new entry is included.
pub fn a_reopened_engine_continues_the_same_log<H: Harness>(h: &H) {
    let f = fixture(150, 1500);
    let (place, mut engine) = h.init(&f.definition);
    let verifier = h.log_verifier(&place);
    let origin = engine.election().log_origin();
    let open = |note: &[u8]| {
        urna_tlog::checkpoint::open(note, &origin, &verifier)
            .unwrap()
            .0
    };
    ingest(&mut engine, &f.protocols[..100]);
    let before = open(&engine.sequence().unwrap());
    let mut engine = h.reopen(&place, &f.definition, engine).unwrap();
    assert_eq!(open(&engine.sequence().unwrap()), before);
    ingest(&mut engine, &f.protocols[100..]);
    let mut engine = h.reopen(&place, &f.definition, engine).unwrap();
    let after = open(&engine.sequence().unwrap());
    assert_eq!(after.size, TreeSize(GENESIS + 150));
    let notes: Vec<Vec<u8>> = (before.size.0..after.size.0)
        .map(|i| engine.entry_at(i).unwrap().unwrap().note)
        .collect();
    let tiles = EngineTiles(RefCell::new(&mut engine));
    let reader = TileHashReader::new(&tiles, after.size);
    let proof = consistency_proof(&reader, before.size, after.size).unwrap();
    verify_consistency(before.size, after.size, &before.root, &after.root, &proof).unwrap();
    for (i, note) in (before.size.0..).zip(&notes) {
        let proof = inclusion_proof(&reader, LeafIndex(i), after.size).unwrap();
        verify_inclusion(
            LeafIndex(i),
            after.size,
            &leaf_hash(note),
            &proof,
            &after.root,
        )
        .unwrap();
    }
}

/// `note` (a protocol of station `i` of `sim`) with `by` votes moved from its second list to
/// its first, signed again with the station's own key: what an insider holding a stolen
/// station key writes into the database to change a result without breaking a signature.
///
/// # Panics
/// If `note` is not a protocol with two vote lines (a test's failure).
pub fn votes_moved(sim: &Simulation, i: u32, note: &[u8], by: i64) -> Vec<u8> {
    let text = urna_model::note::Note::parse(note)
        .unwrap()
        .text()
        .to_owned();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let votes: Vec<usize> = (0..lines.len())
        .filter(|&l| lines[l].starts_with("votes: "))
        .take(2)
        .collect();
    let shift = |line: &str, by: i64| {
        let (head, n) = line.rsplit_once(' ').unwrap();
        format!("{head} {}", n.parse::<i64>().unwrap() + by)
    };
    lines[votes[0]] = shift(&lines[votes[0]], by);
    lines[votes[1]] = shift(&lines[votes[1]], -by);
    sim.station(i)
        .signer
        .sign_text(&format!("{}\n", lines.join("\n")))
        .to_bytes()
}

/// The log of an engine's stored entries as the audit trail sees it (roots of its prefixes,
/// results replayed), computed here from the notes so that the test does not trust the
/// engine's own view ([`entries`]).
pub struct Entries<'a> {
    election: &'a Election,
    notes: Vec<Vec<u8>>,
}

impl urna_audit::trail::LogView for Entries<'_> {
    fn root(&self, size: u64) -> Option<[u8; 32]> {
        if size > self.notes.len() as u64 {
            return None;
        }
        let mut tree = crate::log::LogTree::new();
        tree.append(0, self.notes.iter().take(size as usize).cloned())
            .ok()?;
        tree.root_at(size).ok().map(|h| h.0)
    }

    fn replay(&self, size: u64) -> Result<urna_tally::public::Replay, String> {
        let mut replay =
            urna_tally::public::Replay::new(self.election).map_err(|e| e.to_string())?;
        for (index, note) in (0..size).zip(&self.notes) {
            replay
                .apply(self.election, index, note)
                .map_err(|e| e.to_string())?;
        }
        Ok(replay)
    }
}

/// The entries `engine` holds now, as an audit trail's view of its log ([`Entries`]).
///
/// # Panics
/// If the engine cannot be read (a test's failure).
pub fn entries<'e, E: Engine>(engine: &mut E, election: &'e Election) -> Entries<'e> {
    let n = engine.entry_count().unwrap();
    Entries {
        election,
        notes: (0..n)
            .map(|i| engine.entry_at(i).unwrap().unwrap().note)
            .collect(),
    }
}

/// The audit trail's intake, the same on every engine: notes that follow are stored as the
/// next entries (and sequenced with the rest), the same bytes again are a duplicate of their
/// entry, and notes that do not follow, of another election, or not signed by an authority
/// are refused naming the field and the rule, storing nothing. A reopened engine replays the
/// trail and goes on from it.
pub fn audit_notes_follow_the_trail_or_are_refused_and_store_nothing<H: Harness>(h: &H) {
    use crate::audit::{AuditOutcome, AuditRefusal};
    use urna_audit::trail::{ContestAudit, Plan, Trail};
    use urna_model::audit::{AuditBody, AuditNoteError, AuditStep};

    let f = fixture(40, 1500);
    let (place, mut engine) = h.init(&f.definition);
    // Not sequenced yet: on PostgreSQL the start's root is hashed from the stored entries
    // (the end-to-end test `pg_audit` covers the root read from the signed tiles).
    ingest(&mut engine, &f.protocols);
    let e = engine.election().clone();
    let signed = |signer: &NoteSigner, election: &str, step: AuditStep| {
        let body = AuditBody {
            election: election.to_owned(),
            contest: e.contests[0].id.clone(),
            step,
        };
        signer.sign_text(&body.to_text()).to_bytes()
    };
    let note = |step: AuditStep| signed(f.sim.authority(), &e.id, step);
    let refused = |r: Result<AuditOutcome, AuditRefusal>| match r {
        Err(AuditRefusal::Trail(t)) => (t.field.to_owned(), t.rule),
        other => panic!("expected a trail refusal, got {other:?}"),
    };

    let size = engine.entry_count().unwrap();
    let plan = Plan {
        size,
        rules: "generic".into(),
        seats: Some(1),
        risk_limit: 50_000,
        rounds: 4,
    };
    let start = ContestAudit::plan(&e, ContestIdx(0), &plan, &entries(&mut engine, &e))
        .unwrap()
        .start;
    let start = note(start);
    assert_eq!(
        engine.audit(&start).unwrap().unwrap(),
        AuditOutcome::Stored(size)
    );
    assert_eq!(
        engine.audit(&start).unwrap().unwrap(),
        AuditOutcome::Duplicate(size),
        "the same note again is a duplicate of its entry"
    );
    let seed = note(AuditStep::Seed {
        seed: "12345678901234567890".into(),
    });
    assert_eq!(
        engine.audit(&seed).unwrap().unwrap(),
        AuditOutcome::Stored(size + 1)
    );
    let stored = engine.entry_count().unwrap();
    assert_eq!(stored, size + 2);

    // Refusals: named, and nothing stored.
    let second_seed = note(AuditStep::Seed {
        seed: "98765432109876543210".into(),
    });
    assert_eq!(
        refused(engine.audit(&second_seed).unwrap()),
        (
            "kind".to_owned(),
            format!(
                "the seed is already logged at entry {}; an audit has one seed",
                size + 1
            )
        )
    );
    match engine
        .audit(&signed(
            f.sim.authority(),
            "another-election",
            AuditStep::Seed {
                seed: "11111111111111111111".into(),
            },
        ))
        .unwrap()
    {
        Err(AuditRefusal::Note(AuditNoteError::Binding { field, .. })) => {
            assert_eq!(field, "election");
        }
        other => panic!("expected the election refused, got {other:?}"),
    }
    let station_key = new_key(&f.sim, 0, 9);
    match engine
        .audit(&signed(
            &station_key,
            &e.id,
            AuditStep::Seed {
                seed: "11111111111111111111".into(),
            },
        ))
        .unwrap()
    {
        Err(AuditRefusal::Note(AuditNoteError::Signer(_))) => {}
        other => panic!("expected the signer refused, got {other:?}"),
    }
    match engine.audit(b"urna/audit/v1\nnot a body\n").unwrap() {
        Err(AuditRefusal::Note(AuditNoteError::Malformed(_))) => {}
        other => panic!("expected a malformed note refused, got {other:?}"),
    }
    // The first sample, as the seed gives it; a second round before a verdict is refused.
    let view = entries(&mut engine, &e);
    let mut trail = Trail::default();
    for index in size..stored {
        trail
            .replay(&e, index, &view.notes[index as usize], &view)
            .unwrap();
    }
    let audit = trail.audit(ContestIdx(0)).unwrap();
    let step = audit.sample_step(1).unwrap();
    let AuditStep::Sample {
        round,
        first,
        last,
        mut stations,
    } = step.clone()
    else {
        panic!("a sample step, got {step:?}")
    };
    // Not the stations the seed draws: refused with what the trail itself says.
    let other = e
        .stations
        .iter()
        .find(|s| !stations.contains(&s.id))
        .unwrap()
        .id
        .clone();
    *stations.last_mut().unwrap() = other;
    let wrong = note(AuditStep::Sample {
        round,
        first,
        last,
        stations,
    });
    let expected = trail
        .admit(
            &e,
            stored,
            &urna_model::audit::check(&e, &wrong).unwrap(),
            &view,
        )
        .unwrap_err();
    assert_eq!(
        refused(engine.audit(&wrong).unwrap()),
        (expected.field.to_owned(), expected.rule)
    );
    assert_eq!(
        engine.entry_count().unwrap(),
        stored,
        "refusals stored nothing"
    );
    assert_eq!(
        engine.audit(&note(step)).unwrap().unwrap(),
        AuditOutcome::Stored(stored)
    );
    assert_eq!(engine.entry_count().unwrap(), stored + 1);

    // Sequenced with the rest: the checkpoint covers the audit's entries.
    let cp = engine.sequence().unwrap();
    let verifier = h.log_verifier(&place);
    let (cp, _) = urna_tlog::checkpoint::open(&cp, verifier.name(), &verifier).unwrap();
    assert_eq!(cp.size.0, stored + 1);

    // Reopened (the trail replayed at open), the notes are duplicates and the trail goes on.
    let mut engine = h.reopen(&place, &f.definition, engine).unwrap();
    assert_eq!(
        engine.audit(&seed).unwrap().unwrap(),
        AuditOutcome::Duplicate(size + 1)
    );
    assert_eq!(
        refused(engine.audit(&second_seed).unwrap()).0,
        "kind",
        "the reopened engine knows the seed"
    );
}
