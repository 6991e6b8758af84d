//! The conformance suite (`urna_store::conformance`) on PostgreSQL: each store in a database of
//! its own on one server per test, opened as a [`PgEngine`] holding the sequencer's lease.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use urna_model::definition::Election;
use urna_model::note::{NoteSigner, NoteVerifier};
use urna_pg::{PgEngine, PgError, PgSequencer, PgStore};
use urna_store::conformance::Harness;
use urna_testkit::pg::PgServer;

/// The lease is given up at every reopen, so its length never delays a test.
const LEASE: Duration = Duration::from_secs(30);
const HOLDER: &str = "conformance";

struct Pg {
    server: PgServer,
    databases: AtomicU32,
}

impl Pg {
    fn start() -> Option<Self> {
        Some(Self {
            server: PgServer::start()?,
            databases: AtomicU32::new(0),
        })
    }
}

/// A database and the log key its store signs with.
struct Database {
    url: String,
    signer: NoteSigner,
}

impl Harness for Pg {
    type Engine = PgEngine;
    type Place = Database;

    fn proptest_cases(&self) -> u32 {
        3
    }

    fn init(&self, definition: &Path) -> (Database, PgEngine) {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let url = self.server.database(&format!("conformance_{n}"));
        let origin = Election::load(definition).unwrap().log_origin();
        let signer = urna_store::log::generate_log_key(&origin).unwrap();
        let store = PgStore::init(&url, definition, signer.clone()).unwrap();
        let sequencer = PgSequencer::acquire(&url, signer.clone(), HOLDER, LEASE)
            .unwrap()
            .unwrap();
        (Database { url, signer }, PgEngine::new(store, sequencer))
    }

    fn reopen(
        &self,
        db: &Database,
        definition: &Path,
        engine: PgEngine,
    ) -> Result<PgEngine, PgError> {
        engine.close()?;
        PgEngine::open(&db.url, definition, db.signer.clone(), HOLDER, LEASE)
    }

    fn definition_read_at_open(&self, _: &Database, definition: &Path) -> PathBuf {
        definition.to_owned()
    }

    fn log_verifier(&self, db: &Database) -> NoteVerifier {
        db.signer.verifier()
    }

    fn fail_at_entry(&self, db: &Database, index: u64) {
        let mut client = urna_pg::connect(&db.url).unwrap();
        client
            .batch_execute(&format!(
                "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$; \
                 CREATE TRIGGER boom BEFORE INSERT ON entries FOR EACH ROW \
                 WHEN (NEW.idx = {index}) EXECUTE FUNCTION boom();"
            ))
            .unwrap();
    }

    fn heal(&self, db: &Database) {
        let mut client = urna_pg::connect(&db.url).unwrap();
        client
            .batch_execute("DROP TRIGGER boom ON entries; DROP FUNCTION boom();")
            .unwrap();
    }
}

urna_store::conformance_suite!(Pg::start());

/// The same notes of every kind, batched differently on each engine (sizes drawn by a property
/// test, 3 cases), give both engines the same transcript: outcomes, entries, current entries,
/// tallies, checkpoint bytes (the same log key) and entry bundles.
#[test]
fn both_engines_give_the_same_transcript() {
    use proptest::prelude::*;
    let Some(pg) = Pg::start() else { return };
    let f = urna_store::conformance::fixture(150, 1500);
    let notes = urna_store::conformance::mixed_notes(&f);
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 3,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    });
    let sizes = || proptest::collection::vec(1usize..80, 1..6);
    runner
        .run(&(sizes(), sizes()), |(on_sqlite_batches, on_pg_batches)| {
            let dir = tempfile::tempdir().unwrap();
            let data = dir.path().join("data");
            let mut lite = urna_store::Store::init(&data, &f.definition).unwrap();
            let skey = std::fs::read_to_string(data.join(urna_store::log::LOG_KEY_FILE)).unwrap();
            let signer = NoteSigner::from_skey(skey.trim()).unwrap();
            let n = pg.databases.fetch_add(1, Ordering::Relaxed);
            let url = pg.server.database(&format!("transcript_{n}"));
            let store = PgStore::init(&url, &f.definition, signer.clone()).unwrap();
            let sequencer = PgSequencer::acquire(&url, signer, HOLDER, LEASE)
                .unwrap()
                .unwrap();
            let mut engine = PgEngine::new(store, sequencer);
            let on_pg = urna_store::conformance::transcript(&mut engine, &notes, &on_pg_batches);
            let on_sqlite =
                urna_store::conformance::transcript(&mut lite, &notes, &on_sqlite_batches);
            // Every kind of outcome is there.
            let duplicate =
                |o: &urna_store::Outcome| matches!(o, urna_store::Outcome::Duplicate { .. });
            let refused = |o: &urna_store::Outcome| matches!(o, urna_store::Outcome::Rejected(_));
            let quarantined = |o: &urna_store::Outcome| {
                matches!(
                    o,
                    urna_store::Outcome::Stored {
                        verdict: urna_model::intake::Verdict::Quarantined,
                        ..
                    }
                )
            };
            let kinds =
                [duplicate, refused, quarantined].map(|kind| on_sqlite.outcomes.iter().any(kind));
            prop_assert_eq!(kinds, [true; 3]);
            prop_assert_eq!(&on_pg.outcomes, &on_sqlite.outcomes);
            prop_assert_eq!(&on_pg.entries, &on_sqlite.entries);
            prop_assert_eq!(&on_pg.currents, &on_sqlite.currents);
            prop_assert_eq!(&on_pg.tallies, &on_sqlite.tallies);
            prop_assert_eq!(&on_pg.bundles, &on_sqlite.bundles);
            prop_assert_eq!(on_pg, on_sqlite);
            Ok(())
        })
        .unwrap();
}
