//! urna's entries on PostgreSQL: several intake nodes on one database, one sequencer at a time.
//!
//! The same log as the SQLite store (`urna-store`), for elections whose stations report
//! through many servers. What is shared is called, not copied: intake's admit rule
//! ([`urna_model::intake::admit`]) over the SQLite store's [`MemoryHistory`], the re-derivation
//! of every row at open ([`urna_store::rebuild_rows`]), and the log's tree, tiles and
//! checkpoints ([`urna_store::log::LogTree`]). The design is in `docs/ARCHITECTURE.md` §5.1:
//!
//! - **Intake** ([`PgStore::ingest`]): each node checks a batch on its own cores, then admits it
//!   in one transaction that locks the `intake_head` row, reads the batch's stations' state,
//!   inserts the stored notes with the next indices and commits; outcomes come only after the
//!   commit. [`PgStore::ingest_batches`] checks the next batch while the one before commits.
//! - **Sequencing** ([`PgSequencer`]): one node at a time holds a lease row with a fencing
//!   token; every sequencing transaction checks the token before it writes tiles and the
//!   checkpoint, so two would-be sequencers cannot both append.
//! - **Open** ([`PgStore::open`]): every row is re-derived from its note and admitted again,
//!   the derived tables are compared with the history that gives, and the tree is checked
//!   against the last signed checkpoint and the published one: a database edited outside urna
//!   is refused.
//!
//! - **Nodes** ([`nodes`]): each `urna serve` node's heartbeat row (intake count and rate,
//!   whether it sequences), read by `urna status --store` and `GET /v1/status`.
//! - **Witnesses** ([`witnesses`]): the witness policy (k of n, set at `urna init --store …
//!   --witnesses FILE`), the size each witness last cosigned and the published (cosigned)
//!   checkpoint, in the database so that every node agrees and a new sequencer goes on where
//!   the last stopped; a publication round ([`witnesses::publish_round`]) under the
//!   `published` row's lock, with consistency proofs from table `tiles`. The HTTP side (the
//!   SQLite path's `collect_cosignatures`) is `urna_server::publish::publish_pg`'s. The
//!   policy is changed on a live cluster with [`witnesses::change_policy`] (`urna log
//!   witnesses --store …`): the checkpoint published then is kept and checked against the
//!   policy that cosigned it until a round under the new one replaces it.
//! - **Reads for the bundle** ([`PgReader`]): the entries in order ([`PgReader::notes`]), the
//!   tiles and the published checkpoint ([`PgReader::published_checkpoint`]: the cosigned one
//!   with a witness policy, else the sequencer's), which `urna_server::pg_bundle` hands to the
//!   bundle writer after a [`PgStore::open`] has checked every row: `urna publish --store` once,
//!   and each `urna serve --store … --bundle DIR` node for every new published checkpoint,
//!   reading only the entries after the ones its bundle already covers
//!   (`urna_server::pg_serve`).
//!
//! - **Station key revocations** (`urna/revocation/v1`): a batch is checked against the
//!   station keys as of this node's last read of table `revocations`
//!   ([`urna_store::check_notes`]); under the `intake_head` lock the revocations other nodes
//!   stored since are read, each of the batch's is admitted at its index
//!   ([`MemoryHistory::admit_revocation`]) and stored like a decision with its row in
//!   `revocations`, and a note of a station whose keys changed after the snapshot is checked
//!   again ([`urna_store::recheck`]). [`PgStore::open`] compares `revocations` with what the
//!   entries give; [`station_keys`] reads them for `urna keys revoke --store`.
//!
//! - **Scans of paper protocols** ([`scans`], table `scans`): any node takes the scan a
//!   stored note names (`PUT /v1/scans/<sha256>`, `urna_server::pg_serve`) and stores it before
//!   it answers; every node's bundle and `urna publish --store` publish it; [`PgStore::open`]
//!   refuses a row whose bytes do not hash to its key or that no stored note names.
//!
//! - **The engine interface** ([`PgEngine`]): a [`PgStore`] with the [`PgSequencer`] it
//!   holds, as an [`urna_store::Engine`] (intake, entries read back with their quarantine
//!   derived, a station's current entry, [`Engine::sequence`](urna_store::Engine::sequence) as
//!   one sequencing step, tiles, receipts, a contest's tally re-derived from table `current`
//!   by the SQLite store's code). `cargo test -p urna-pg` runs the store's conformance suite
//!   (`urna_store::conformance`) on it.
//!
//! - **Audits** ([`audit`]): `urna/audit/v1` notes taken with the SQLite store's rule and code
//!   ([`PgStore::append_audit`]), the whole trail replayed at [`PgStore::open`].

pub mod audit;
mod engine;
mod intake;
pub mod nodes;
pub mod proofs;
pub mod scans;
mod sequencer;
pub mod witnesses;

use std::collections::BTreeMap;
use std::path::Path;

use postgres::{Client, NoTls};
use urna_model::definition::{ContestIdx, Election, StationIdx};
use urna_model::genesis::Genesis;
use urna_model::intake::StationKeys;
use urna_model::note::NoteSigner;
use urna_model::protocol::hex;
use urna_store::log::LogTree;
use urna_store::{MemoryHistory, StoreError, StoredRow};

pub use engine::PgEngine;
pub use intake::PgAcks;
pub use sequencer::PgSequencer;

/// Why a store whose `published` row holds a checkpoint but that has no witness policy is
/// refused: urna sets the policy at init and never removes it, and without it the sequencer's
/// own checkpoint, which no witness cosigned, would be the published one.
const WITHOUT_POLICY: &str = "table `published` holds a cosigned checkpoint but table `witness_policy` is empty: the policy was removed outside urna";

/// Schema version written in `meta`; bumped by append-only migrations.
const SCHEMA_VERSION: &str = "6";

/// The migrations, in order: migration `i` takes schema `i` to schema `i + 1`.
const MIGRATIONS: [&str; 6] = [
    include_str!("../migrations/0001_entries.sql"),
    include_str!("../migrations/0002_nodes.sql"),
    include_str!("../migrations/0003_witnesses.sql"),
    include_str!("../migrations/0004_revocations.sql"),
    include_str!("../migrations/0005_scans.sql"),
    include_str!("../migrations/0006_witness_policy_change.sql"),
];

/// Why an operation on the PostgreSQL store failed.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// PostgreSQL failed (connection, statement, transaction). The message holds the cause,
    /// printed once.
    #[error("postgresql: {}", db_text(.0))]
    Db(postgres::Error),
    /// The database is not initialised, already is, or the arguments do not fit it.
    #[error("{0}")]
    Setup(String),
    /// A stored entry failed the checks the SQLite store makes (the store's error names the
    /// entry and the rule).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A row of a table derived from `entries` disagrees with what the entries give: the
    /// database was edited outside urna.
    #[error(
        "table `{table}`, {key}: holds {stored} but the entries give {derived}: the database was edited outside urna"
    )]
    Derived {
        /// The table.
        table: &'static str,
        /// Which row (contest and station).
        key: String,
        /// What it holds.
        stored: String,
        /// What the entries give.
        derived: String,
    },
    /// This sequencer's lease was taken over: its fencing token is no longer the current one,
    /// so it wrote nothing and must stop.
    #[error(
        "sequencer fenced: it holds epoch {held} but the database is at epoch {current} (another node took over); nothing was written"
    )]
    Fenced {
        /// This sequencer's token.
        held: i64,
        /// The token in the database.
        current: i64,
    },
}

/// A PostgreSQL error with its cause (the server's message, or the I/O error): the client
/// crate's own text is only "db error" or "error communicating with the server".
fn db_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

impl From<postgres::Error> for PgError {
    fn from(e: postgres::Error) -> Self {
        Self::Db(e)
    }
}

/// An open PostgreSQL store: one connection, used for intake and reads.
pub struct PgStore {
    client: Client,
    election: Election,
    signer: NoteSigner,
    /// The station keys as the revocations this node last read left them (table
    /// `revocations`); each batch reads the ones stored since.
    keys: StationKeys,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("election", &self.election.id)
            .finish_non_exhaustive()
    }
}

/// Connects to `url` (a `postgres://…` URL or a `host=… user=…` string), without TLS (a unix
/// socket or a private network; TLS is the database host's to terminate).
///
/// # Errors
/// [`PgError::Db`] if the server cannot be reached or refuses.
pub fn connect(url: &str) -> Result<Client, PgError> {
    Ok(Client::connect(url, NoTls)?)
}

impl PgStore {
    /// Creates the schema in an empty database and stores entry 0, the genesis signed by
    /// `signer` (the log key, whose name must be the election's log origin), exactly as
    /// `urna_store::Store::init` does.
    ///
    /// # Errors
    /// [`PgError::Setup`] if the definition is invalid or the database already holds a store.
    pub fn init(url: &str, definition: &Path, signer: NoteSigner) -> Result<Self, PgError> {
        Self::init_with_witnesses(url, definition, signer, None)
    }

    /// As [`PgStore::init`], with the witness policy every node cosigns and publishes under
    /// (`urna init --store … --witnesses FILE`; the caller checks it first), stored in the same
    /// transaction as the schema and the genesis.
    ///
    /// # Errors
    /// As [`PgStore::init`].
    pub fn init_with_witnesses(
        url: &str,
        definition: &Path,
        signer: NoteSigner,
        witnesses: Option<&witnesses::StoredPolicy>,
    ) -> Result<Self, PgError> {
        let election = load_definition(definition)?;
        check_signer(&election, &signer)?;
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| PgError::Setup(format!("{}: {e}", p.display())))
        };
        let stations = definition
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join(&election.stations_file);
        let genesis = Genesis::of(&election, &read(definition)?, &read(&stations)?)
            .map_err(|e| PgError::Setup(e.to_string()))?;
        let note = signer.sign_text(&genesis.to_text()).to_bytes();
        let mut client = connect(url)?;
        let exists: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = 'meta')",
                &[],
            )?
            .get(0);
        if exists {
            return Err(PgError::Setup(
                "the database already holds an urna store; use another database".into(),
            ));
        }
        let mut tx = client.transaction()?;
        for m in MIGRATIONS {
            tx.batch_execute(m)?;
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema', $1), ('election', $2), ('definition_sha256', $3)",
            &[&SCHEMA_VERSION, &election.id, &hex(&election.digest)],
        )?;
        let received =
            i64::try_from(urna_tlog::Clock::now_ms(&urna_tlog::SystemClock)).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO entries (idx, hash, text_hash, contest, station, revision, status, received_ms, note) \
             VALUES (0, $1, $2, '', '', 0, 0, $3, $4)",
            &[
                &urna_model::intake::sha256(&note).as_slice(),
                &urna_model::intake::sha256(genesis.to_text().as_bytes()).as_slice(),
                &received,
                &note,
            ],
        )?;
        tx.execute("INSERT INTO intake_head (next_idx) VALUES (1)", &[])?;
        tx.execute(
            "INSERT INTO sequencer (epoch, holder, expires, size) VALUES (0, '', '-infinity', 0)",
            &[],
        )?;
        if let Some(policy) = witnesses {
            witnesses::set_policy(&mut tx, policy)?;
        }
        tx.commit()?;
        Ok(Self {
            client,
            election,
            signer,
            keys: StationKeys::new(),
        })
    }

    /// Opens the store in the database at `url` for the election of `definition`, signing
    /// receipts with `signer` (the log key). Every stored row is checked as the SQLite store
    /// checks it at open: re-derived from its note, admitted again after the entries before it,
    /// the tree checked against the last signed checkpoint; the derived tables (`current`,
    /// `revocations`, `recounts`, `intake_head`) are compared with what the entries give; every
    /// scan's bytes hash to its key and a stored note names it (table `scans`).
    ///
    /// # Errors
    /// [`PgError::Setup`] if the database holds no store; [`PgError::Store`] if it holds one
    /// of another election or schema ([`StoreError::Meta`]) or another definition
    /// ([`StoreError::DefinitionChanged`], as the SQLite store refuses it); [`PgError::Store`]
    /// or [`PgError::Derived`] naming the first row edited outside urna.
    pub fn open(url: &str, definition: &Path, signer: NoteSigner) -> Result<Self, PgError> {
        let election = load_definition(definition)?;
        check_signer(&election, &signer)?;
        let mut client = connect(url)?;
        migrate(&mut client)?;
        let dir = definition.parent().unwrap_or_else(|| Path::new("."));
        check_meta(&mut client, &election, &dir.display().to_string())?;
        let mut store = Self {
            client,
            election,
            signer,
            keys: StationKeys::new(),
        };
        store.check()?;
        Ok(store)
    }

    /// Replaces this store's connection with a new one to `url` (after the database restarted
    /// or the connection broke). The store was checked at open; a new connection to the same
    /// database needs no second check, but the database must still hold this election.
    ///
    /// # Errors
    /// [`PgError::Db`] if the server cannot be reached; [`PgError::Store`] if it now holds
    /// another election or schema.
    pub fn reconnect(&mut self, url: &str) -> Result<(), PgError> {
        let mut client = connect(url)?;
        check_meta(
            &mut client,
            &self.election,
            "the definition this node opened with",
        )?;
        self.client = client;
        Ok(())
    }

    /// Sets the witness policy every node cosigns and publishes under (`urna init --store …
    /// --witnesses FILE`), replacing one set before. The caller checks the policy first.
    ///
    /// # Errors
    /// [`PgError::Db`].
    pub fn set_witness_policy(&mut self, policy: &witnesses::StoredPolicy) -> Result<(), PgError> {
        witnesses::set_policy(&mut self.client, policy)
    }

    /// The election.
    pub fn election(&self) -> &Election {
        &self.election
    }

    /// Entries stored (the next log index).
    ///
    /// # Errors
    /// [`PgError::Db`].
    pub fn entries(&mut self) -> Result<u64, PgError> {
        next_index(&mut self.client)
    }

    /// The note of entry `index`, if stored.
    ///
    /// # Errors
    /// [`PgError::Db`].
    pub fn note(&mut self, index: u64) -> Result<Option<Vec<u8>>, PgError> {
        Ok(self
            .client
            .query_opt("SELECT note FROM entries WHERE idx = $1", &[&to_sql(index)])?
            .map(|r| r.get(0)))
    }

    /// The latest checkpoint the log signed, if any.
    ///
    /// # Errors
    /// [`PgError::Db`].
    pub fn latest_checkpoint(&mut self) -> Result<Option<Vec<u8>>, PgError> {
        Ok(self
            .client
            .query_one("SELECT checkpoint FROM sequencer", &[])?
            .get(0))
    }

    /// A tile by its C2SP tlog-tiles path (`tile/0/000`, `tile/entries/001.p/45`), if written.
    ///
    /// # Errors
    /// [`PgError::Db`].
    pub fn tile(&mut self, path: &str) -> Result<Option<Vec<u8>>, PgError> {
        Ok(self
            .client
            .query_opt("SELECT data FROM tiles WHERE path = $1", &[&path])?
            .map(|r| r.get(0)))
    }

    /// A signed `urna/receipt/v1` for entry `index` with note hash `hash`: the log's promise
    /// that it is stored (give it only after the commit that stored it).
    pub fn receipt(&self, index: u64, hash: &[u8; 32], time_ms: u64) -> Vec<u8> {
        urna_store::log::receipt(&self.signer, index, hash, time_ms)
    }

    /// The checks of [`PgStore::open`], in one read-only snapshot.
    fn check(&mut self) -> Result<(), PgError> {
        let election = &self.election;
        let verifier = self.signer.verifier();
        let origin = self.signer.name().to_owned();
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let row = tx.query_one("SELECT size, checkpoint FROM sequencer", &[])?;
        let (signed, checkpoint): (i64, Option<Vec<u8>>) = (row.get(0), row.get(1));
        let signed = from_sql(signed);
        let mut tree = LogTree::new();
        tree.skip_written_tiles(signed);
        // The scans the entries name, for the check of table `scans`.
        let mut named = std::collections::HashSet::new();
        let (history, count) = {
            let rows = tx.query_raw(
                "SELECT idx, hash, text_hash, contest, station, revision, note \
                 FROM entries ORDER BY idx",
                std::iter::empty::<i64>(),
            )?;
            let rows = postgres::fallible_iterator::FallibleIterator::iterator(rows).map(|r| {
                let r = r?;
                let row = StoredRow {
                    index: r.try_get(0)?,
                    hash: r.try_get(1)?,
                    text_hash: r.try_get(2)?,
                    contest: r.try_get(3)?,
                    station: r.try_get(4)?,
                    revision: r.try_get(5)?,
                    note: r.try_get(6)?,
                };
                if let Some(scan) = urna_model::scan::named_scan(&row.note) {
                    named.insert(scan);
                }
                Ok(row)
            });
            let mut db_error = None;
            let rows = rows.map_while(|r: Result<StoredRow, postgres::Error>| match r {
                Ok(row) => Some(Ok(row)),
                Err(e) => {
                    db_error = Some(e);
                    None
                }
            });
            let rebuilt = urna_store::rebuild_rows(
                election,
                rows,
                &mut |first, notes| tree.append(first, notes.iter().copied()),
                signed,
            );
            if let Some(e) = db_error {
                return Err(e.into());
            }
            rebuilt?
        };
        if let Some(note) = checkpoint {
            let (cp, _) = urna_tlog::checkpoint::open(&note, &origin, &verifier)
                .map_err(|e| PgError::Setup(format!("table `sequencer`, checkpoint: {e}")))?;
            if cp.size.0 != signed || signed > count {
                return Err(StoreError::Log(format!(
                    "the log signed a checkpoint of {} entries (sequencer size {signed}) but the database holds {count}: entries are missing",
                    cp.size.0
                ))
                .into());
            }
            if tree.root_at(signed)? != cp.root {
                return Err(StoreError::Log(format!(
                    "the stored entries do not hash to the root the log signed at size {signed}: the database was changed"
                ))
                .into());
            }
        } else if signed != 0 {
            return Err(PgError::Setup(format!(
                "table `sequencer` says {signed} entries were signed but holds no checkpoint"
            )));
        }
        let published_size: i64 = tx.query_one("SELECT size FROM published", &[])?.get(0);
        if witnesses::published(&mut tx)?.is_none() && published_size != 0 {
            return Err(PgError::Setup(format!(
                "table `published` holds size {published_size} but no checkpoint: the database was edited outside urna"
            )));
        }
        if witnesses::published(&mut tx)?.is_some() && witnesses::policy(&mut tx)?.is_none() {
            return Err(PgError::Setup(WITHOUT_POLICY.into()));
        }
        if let Some(note) = witnesses::published(&mut tx)? {
            let (cp, _) = urna_tlog::checkpoint::open(&note, &origin, &verifier)
                .map_err(|e| PgError::Setup(format!("table `published`, checkpoint: {e}")))?;
            let size = cp.size.0;
            let stored: i64 = tx.query_one("SELECT size FROM published", &[])?.get(0);
            if from_sql(stored) != size || size > signed {
                return Err(PgError::Setup(format!(
                    "table `published` holds size {stored} and a checkpoint of {size} entries, but the log signed {signed}: the database was edited outside urna"
                )));
            }
            if tree.root_at(size)? != cp.root {
                return Err(StoreError::Log(format!(
                    "the stored entries do not hash to the root of the published (cosigned) checkpoint of {size} entries: the database was changed"
                ))
                .into());
            }
        }
        let next: i64 = tx
            .query_one("SELECT next_idx FROM intake_head", &[])?
            .get(0);
        if from_sql(next) != count {
            return Err(PgError::Derived {
                table: "intake_head",
                key: "next_idx".into(),
                stored: next.to_string(),
                derived: count.to_string(),
            });
        }
        check_derived(&mut tx, election, &history)?;
        scans::check_scans(&mut tx, &named)?;
        audit::check_trail(&mut tx, election, &tree)?;
        tx.commit()?;
        Ok(())
    }
}

/// Compares `current`, `revocations` and `recounts` with the history the entries give.
fn check_derived(
    tx: &mut postgres::Transaction<'_>,
    e: &Election,
    history: &MemoryHistory,
) -> Result<(), PgError> {
    let name = |(c, s): (ContestIdx, StationIdx)| {
        format!(
            "contest {:?} station {:?}",
            e.contests[c.0 as usize].id, e.stations[s.0 as usize].id
        )
    };
    let mut stored: BTreeMap<String, String> = BTreeMap::new();
    for r in tx.query(
        "SELECT contest, station, revision, hash, text_hash, idx FROM current",
        &[],
    )? {
        let (c, s): (String, String) = (r.get(0), r.get(1));
        let (revision, hash, text_hash, idx): (i64, Vec<u8>, Vec<u8>, i64) =
            (r.get(2), r.get(3), r.get(4), r.get(5));
        stored.insert(
            format!("contest {c:?} station {s:?}"),
            current_text(revision, &hash, &text_hash, idx),
        );
    }
    let mut derived: BTreeMap<String, String> = BTreeMap::new();
    for (key, (l, idx)) in history.currents() {
        derived.insert(
            name(key),
            current_text(i64::from(l.revision), &l.hash, &l.text_hash, to_sql(idx)),
        );
    }
    compare("current", &stored, &derived)?;
    let mut stored = BTreeMap::new();
    for r in tx.query("SELECT idx, hash FROM revocations", &[])? {
        let (idx, hash): (i64, Vec<u8>) = (r.get(0), r.get(1));
        stored.insert(format!("entry {idx}"), hex(&hash));
    }
    let derived = history
        .keys()
        .revocations()
        .map(|(idx, r)| (format!("entry {idx}"), hex(&r.hash)))
        .collect();
    compare("revocations", &stored, &derived)?;
    let mut stored = BTreeMap::new();
    for r in tx.query("SELECT contest, station, decides FROM recounts", &[])? {
        let (c, s, d): (String, String, Vec<u8>) = (r.get(0), r.get(1), r.get(2));
        stored.insert(format!("contest {c:?} station {s:?}"), hex(&d));
    }
    let derived = history
        .recounts()
        .map(|(key, d)| (name(key), hex(&d)))
        .collect();
    compare("recounts", &stored, &derived)
}

fn current_text(revision: i64, hash: &[u8], text_hash: &[u8], idx: i64) -> String {
    format!(
        "revision {revision}, entry {idx}, hash {}, text hash {}",
        hex(hash),
        hex(text_hash)
    )
}

fn compare(
    table: &'static str,
    stored: &BTreeMap<String, String>,
    derived: &BTreeMap<String, String>,
) -> Result<(), PgError> {
    let keys: std::collections::BTreeSet<&String> = stored.keys().chain(derived.keys()).collect();
    for key in keys {
        let (s, d) = (stored.get(key), derived.get(key));
        if s != d {
            let or_none = |v: Option<&String>| v.cloned().unwrap_or_else(|| "no row".into());
            return Err(PgError::Derived {
                table,
                key: key.clone(),
                stored: or_none(s),
                derived: or_none(d),
            });
        }
    }
    Ok(())
}

fn load_definition(definition: &Path) -> Result<Election, PgError> {
    Election::load(definition).map_err(|e| PgError::Setup(format!("{}: {e}", definition.display())))
}

/// The log key must be named after the election's log origin (as `urna init` names it).
fn check_signer(e: &Election, signer: &NoteSigner) -> Result<(), PgError> {
    let origin = e.log_origin();
    if signer.name() != origin {
        return Err(PgError::Setup(format!(
            "the log key is named {:?}, but the log of election {:?} has origin {origin:?}",
            signer.name(),
            e.id
        )));
    }
    Ok(())
}

/// Brings a store of an older schema to [`SCHEMA_VERSION`], one append-only migration at a
/// time, each in its own transaction (several nodes starting at once take turns on `meta`).
fn migrate(client: &mut Client) -> Result<(), PgError> {
    let exists: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = 'meta')",
            &[],
        )?
        .get(0);
    if !exists {
        return Ok(());
    }
    loop {
        let mut tx = client.transaction()?;
        let schema: Option<String> = tx
            .query_opt(
                "SELECT value FROM meta WHERE key = 'schema' FOR UPDATE",
                &[],
            )?
            .map(|r| r.get(0));
        let Some(n) = schema.as_deref().and_then(|v| v.parse::<usize>().ok()) else {
            return Ok(());
        };
        let Some(m) = MIGRATIONS.get(n).filter(|_| n >= 1) else {
            return Ok(());
        };
        tx.batch_execute(m)?;
        tx.execute(
            "UPDATE meta SET value = $1 WHERE key = 'schema'",
            &[&(n + 1).to_string()],
        )?;
        tx.commit()?;
    }
}

/// Reads of what the sequencer published (checkpoint, tiles) and of stored notes, on a
/// connection of their own: what a node's public side serves. Needs no definition and no key.
pub struct PgReader {
    client: Client,
}

impl std::fmt::Debug for PgReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgReader").finish_non_exhaustive()
    }
}

impl PgReader {
    /// Connects to `url`.
    ///
    /// # Errors
    /// [`PgError::Db`].
    pub fn connect(url: &str) -> Result<Self, PgError> {
        Ok(Self {
            client: connect(url)?,
        })
    }

    /// The latest checkpoint the sequencer signed, if any.
    ///
    /// # Errors
    /// [`PgError::Db`].
    pub fn checkpoint(&mut self) -> Result<Option<Vec<u8>>, PgError> {
        Ok(self
            .client
            .query_one("SELECT checkpoint FROM sequencer", &[])?
            .get(0))
    }

    /// The checkpoint the log publishes: with a witness policy, the latest one a quorum of
    /// the witnesses cosigned (`None` before the first); without one, the sequencer's.
    ///
    /// # Errors
    /// [`PgError::Db`].
    pub fn published_checkpoint(&mut self) -> Result<Option<Vec<u8>>, PgError> {
        if self.witness_policy()?.is_some() {
            witnesses::published(&mut self.client)
        } else if witnesses::published(&mut self.client)?.is_some() {
            Err(PgError::Setup(WITHOUT_POLICY.into()))
        } else {
            self.checkpoint()
        }
    }

    /// The witness policy, if one was set.
    ///
    /// # Errors
    /// [`PgError::Db`].
    pub fn witness_policy(&mut self) -> Result<Option<witnesses::StoredPolicy>, PgError> {
        witnesses::policy(&mut self.client)
    }

    /// The published checkpoint with the policy that cosigned it ([`witnesses::published_under`]).
    ///
    /// # Errors
    /// [`PgError::Db`]; [`PgError::Setup`] if the policy was removed outside urna.
    pub fn published_under(&mut self) -> Result<Option<witnesses::PublishedUnder>, PgError> {
        witnesses::published_under(&mut self.client)
    }

    /// A tile by its C2SP tlog-tiles path, if written.
    ///
    /// # Errors
    /// [`PgError::Db`].
    pub fn tile(&mut self, path: &str) -> Result<Option<Vec<u8>>, PgError> {
        Ok(self
            .client
            .query_opt("SELECT data FROM tiles WHERE path = $1", &[&path])?
            .map(|r| r.get(0)))
    }

    /// The note of entry `index`, if stored (committed).
    ///
    /// # Errors
    /// [`PgError::Db`].
    pub fn note(&mut self, index: u64) -> Result<Option<Vec<u8>>, PgError> {
        Ok(self
            .client
            .query_opt("SELECT note FROM entries WHERE idx = $1", &[&to_sql(index)])?
            .map(|r| r.get(0)))
    }

    /// Entries committed (the next log index), sequenced or not.
    ///
    /// # Errors
    /// [`PgError::Db`].
    pub fn entries(&mut self) -> Result<u64, PgError> {
        next_index(&mut self.client)
    }

    /// The notes of entries `[from, to)`, in order (committed ones).
    ///
    /// # Errors
    /// [`PgError::Db`]; [`PgError::Setup`] naming the first entry of the range that is not
    /// stored.
    pub fn notes(&mut self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, PgError> {
        let rows = self.client.query(
            "SELECT idx, note FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
            &[&to_sql(from), &to_sql(to)],
        )?;
        let mut notes = Vec::with_capacity(rows.len());
        for (want, r) in (from..).zip(&rows) {
            let idx: i64 = r.get(0);
            if from_sql(idx) != want {
                return Err(PgError::Setup(format!(
                    "table `entries` holds no entry {want} (the next is {idx}): the database was edited outside urna"
                )));
            }
            notes.push(r.get(1));
        }
        let got = from + notes.len() as u64;
        if got < to {
            return Err(PgError::Setup(format!(
                "table `entries` holds no entry {got} (entries {from} to {} were asked for)",
                to.saturating_sub(1)
            )));
        }
        Ok(notes)
    }

    /// The bytes of the scan with SHA-256 `sha`, if stored (table `scans`).
    ///
    /// # Errors
    /// [`PgError::Db`].
    pub fn scan(&mut self, sha: &[u8; 32]) -> Result<Option<Vec<u8>>, PgError> {
        scans::scan(&mut self.client, sha)
    }

    /// A value of table `meta` (`election`, `definition_sha256`, `schema`), if set.
    ///
    /// # Errors
    /// [`PgError::Db`].
    pub fn meta(&mut self, key: &str) -> Result<Option<String>, PgError> {
        Ok(self
            .client
            .query_opt("SELECT value FROM meta WHERE key = $1", &[&key])?
            .map(|r| r.get(0)))
    }

    /// Every checkpoint the log signed, oldest first.
    ///
    /// # Errors
    /// [`PgError::Db`].
    pub fn checkpoints(&mut self) -> Result<Vec<Vec<u8>>, PgError> {
        Ok(self
            .client
            .query("SELECT note FROM checkpoints ORDER BY size", &[])?
            .into_iter()
            .map(|r| r.get(0))
            .collect())
    }

    /// The connection, for [`nodes`].
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// The station keys as the revocations stored in the database at `client` left them, in log
/// order (what `urna keys revoke --store` revokes from). The rows were checked by the node that
/// stored them and are checked again by every [`PgStore::open`].
///
/// # Errors
/// [`PgError::Db`]; [`PgError::Store`] naming the entry if a stored revocation no longer binds
/// to `e` or does not follow the ones before it.
pub fn station_keys(client: &mut Client, e: &Election) -> Result<StationKeys, PgError> {
    check_meta(client, e, "the definition given")?;
    let mut keys = StationKeys::new();
    intake::read_revocations(client, e, &mut keys)?;
    Ok(keys)
}

/// Refuses a database of another schema, election or definition.
/// `definition_dir` says where the definition was read, for the error of one that changed.
fn check_meta(client: &mut Client, e: &Election, definition_dir: &str) -> Result<(), PgError> {
    let exists: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = 'meta')",
            &[],
        )?
        .get(0);
    if !exists {
        return Err(PgError::Setup(
            "the database holds no urna store (no table `meta`); initialise it first".into(),
        ));
    }
    let mut get = |key: &str| -> Result<String, PgError> {
        Ok(client
            .query_opt("SELECT value FROM meta WHERE key = $1", &[&key])?
            .map(|r| r.get(0))
            .unwrap_or_default())
    };
    let expect = [
        (
            "schema",
            SCHEMA_VERSION.to_owned(),
            format!("this version of urna reads schema {SCHEMA_VERSION}"),
        ),
        (
            "election",
            e.id.clone(),
            format!("the definition is of election {:?}", e.id),
        ),
        (
            "definition_sha256",
            hex(&e.digest),
            format!("the definition given has sha256 {}", hex(&e.digest)),
        ),
    ];
    for (key, want, expected) in expect {
        let stored = get(key)?;
        if stored != want && key == "definition_sha256" {
            // The same refusal as the SQLite store's, whose definition sits in its directory.
            return Err(StoreError::DefinitionChanged {
                dir: definition_dir.to_owned(),
                now: want,
                then: stored,
            }
            .into());
        }
        if stored != want {
            return Err(StoreError::Meta {
                key,
                stored,
                expected,
            }
            .into());
        }
    }
    Ok(())
}

/// Log indices are written from `u64` counters; PostgreSQL's `bigint` is `i64`, which no real
/// log size reaches.
fn to_sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Indices and sizes are never negative (`CHECK (idx >= 0)`; counters start at 0).
fn from_sql(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_default()
}

/// A 32-byte hash read from a `bytea` column.
fn hash32(table: &'static str, key: &str, bytes: &[u8]) -> Result<[u8; 32], PgError> {
    bytes.try_into().map_err(|_| PgError::Derived {
        table,
        key: key.to_owned(),
        stored: format!("a hash of {} bytes", bytes.len()),
        derived: "32 bytes".into(),
    })
}

/// Entries committed to the store (the next log index, row `intake_head`), sequenced or not.
///
/// # Errors
/// [`PgError::Db`].
pub(crate) fn next_index(client: &mut impl postgres::GenericClient) -> Result<u64, PgError> {
    let next: i64 = client
        .query_one("SELECT next_idx FROM intake_head", &[])?
        .get(0);
    Ok(from_sql(next))
}
