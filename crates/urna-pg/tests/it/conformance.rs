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
}

urna_store::conformance_suite!(Pg::start());
