//! Durable state for urna: one data directory holding the election definition and one SQLite
//! file (WAL mode, `synchronous = FULL`), and the bulk intake pipeline that fills it.
//!
//! Durability rule: a note is acknowledged only after the transaction holding it has committed
//! to disk. Entries are append-only: an amendment adds a row, it never updates or deletes one.
//! After a crash (`kill -9`, power loss) reopening the directory loses nothing acknowledged and
//! counts nothing twice, because the in-memory history is rebuilt from the committed rows and
//! [`urna_model::intake::admit`] treats a resubmitted note as a duplicate.
//!
//! The note bytes are the truth: every other column of a row but the intake time is derived from
//! its note, and an open re-derives and compares them all, so a database edited outside urna is
//! refused with the entry and the column named (the `rebuild` module lists the columns).
//!
//! What every storage engine does for intake and the log is the trait [`Engine`] (module
//! [`engine`]), which [`Store`] implements here and `urna_pg::PgEngine` on PostgreSQL; the
//! conformance suite (`conformance`, this crate's tests and the `conformance` feature) runs
//! the same tests on both.
//!
//! Out of scope: the transparency log's tiles and checkpoints (`urna-tlog`), PostgreSQL
//! (`urna-pg`, calling this crate's history, admit rule and re-derivations), HTTP.

pub mod audit;
pub mod backup;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod engine;
mod ingest;
mod live;
mod lock;
pub mod log;
pub mod reader;
mod rebuild;
mod scans;
pub mod view;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use urna_model::decision::DecisionKind;
use urna_model::definition::{ContestIdx, Election, StationIdx};
use urna_model::genesis::Genesis;
use urna_model::intake::{History, Latest, Revocation, StationKeys, Submission, Verdict};
use urna_model::note::{Note, NoteSigner};
use urna_model::protocol::{ProtocolBody, hex};
use urna_model::rotation::RotationBody;
use urna_tally::totals::TallyError;

pub use crate::engine::Engine;
pub use crate::lock::LOCK_FILE;

pub use ingest::{
    Ack, CheckedNote, Feed, IngestOptions, IngestReport, Outcome, check_notes, recheck,
};
pub use rebuild::{AppendLeaves, StoredRow, rebuild_rows};
pub use urna_tally::totals::Tally;
pub use urna_tlog::{Clock, SystemClock};

/// File name of the SQLite database inside a data directory.
pub const DB_FILE: &str = "urna.sqlite";
/// File name of the election definition inside a data directory.
pub const DEFINITION_FILE: &str = "election.toml";

/// Schema version written in `meta`; bumped by append-only migrations.
const SCHEMA_VERSION: &str = "2";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory is not initialised, or is already.
    #[error("{0}")]
    Setup(String),
    /// The election definition is invalid.
    #[error(transparent)]
    Definition(#[from] urna_model::definition::DefinitionError),
    /// The definition in the directory no longer matches the one the store was created with.
    #[error(
        "the election definition in {dir} changed after `urna init` (sha256 {now}, store has {then} in meta `definition_sha256`); a definition cannot change under accepted protocols"
    )]
    DefinitionChanged {
        /// Where the definition is read: the data directory (SQLite), the directory of the
        /// definition given (PostgreSQL).
        dir: String,
        /// Digest now.
        now: String,
        /// Digest recorded.
        then: String,
    },
    /// Another open store (another `urna` process, or another open in this one) holds the
    /// data directory's writer lock ([`LOCK_FILE`]).
    #[error(
        "data directory {dir} is in use by another urna process ({holder}); stop it, or submit through it (`urna submit` to the running server)"
    )]
    InUse {
        /// Data directory.
        dir: String,
        /// Who holds it: pid and command, as it wrote them into the lock file.
        holder: String,
    },
    /// SQLite failed. The message holds the cause; it is not also a `source`, so an error
    /// chain prints it once.
    #[error("database: {0}")]
    Sqlite(rusqlite::Error),
    /// File system failed. The message holds the cause, printed once.
    #[error("{path}: {error}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        error: std::io::Error,
    },
    /// A stored entry no longer parses: the database was edited outside urna.
    #[error("entry {index}: stored note is corrupt: {reason}")]
    Corrupt {
        /// Entry index.
        index: u64,
        /// What failed.
        reason: String,
    },
    /// A stored column disagrees with the entry's note, from which it is derived: the
    /// database was edited outside urna.
    #[error(
        "entry {index}: column `{column}` holds {stored} but its note gives {derived}: the database was edited outside urna"
    )]
    Column {
        /// Entry index.
        index: u64,
        /// The column of `entries`.
        column: &'static str,
        /// The value stored.
        stored: String,
        /// The value the note gives.
        derived: String,
    },
    /// An entry is not in the database: a row was deleted outside urna, or (for
    /// [`reader::EntryReader`]) the range asked for runs past the last entry.
    #[error(
        "entry {index} is missing from the database (entries are numbered 0, 1, 2, … without gaps)"
    )]
    Missing {
        /// The first index missing.
        index: u64,
    },
    /// A stored note does not follow the entries before it as intake requires (a conflict,
    /// a replay, a repeat, an amendment of nothing): the database was edited outside urna.
    #[error(
        "entry {index}: its note does not follow the entries before it: {reason}: the database was edited outside urna"
    )]
    Inadmissible {
        /// Entry index.
        index: u64,
        /// What intake would have refused.
        reason: String,
    },
    /// The `meta` table disagrees with the definition or with this version of urna.
    #[error("meta `{key}` holds {stored:?} but {expected}")]
    Meta {
        /// The key in `meta`.
        key: &'static str,
        /// The value stored.
        stored: String,
        /// What was expected, in words.
        expected: String,
    },
    /// Tally failed.
    #[error(transparent)]
    Tally(#[from] TallyError),
    /// The transparency log failed or disagrees with the database.
    #[error("log: {0}")]
    Log(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

/// One stored entry, as listed for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
    /// Log index (0-based, in acceptance order).
    pub index: u64,
    /// SHA-256 of the note bytes.
    pub hash: [u8; 32],
    /// Station id.
    pub station: String,
    /// Revision.
    pub revision: u32,
    /// Whether it is quarantined.
    pub quarantined: bool,
    /// The note bytes.
    pub note: Vec<u8>,
}

/// An open data directory.
pub struct Store {
    dir: PathBuf,
    conn: Connection,
    election: Election,
    history: MemoryHistory,
    next_index: u64,
    log: log::Sequencer,
    /// The tally kept current by intake; built on first use after an open.
    live: Option<live::Live>,
    /// Set when an intake failed part-way: memory may be ahead of the database.
    poisoned: bool,
    /// The data directory's writer lock, held while the store is open (dropped last).
    _lock: lock::DirLock,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .field("election", &self.election.id)
            .field("entries", &self.next_index)
            .finish()
    }
}

impl Store {
    /// Creates a data directory from a definition: copies `election.toml`, its stations file
    /// and its unit shapes file (if it names one) into `dir` and creates the database.
    ///
    /// # Errors
    /// [`StoreError`] if the definition is invalid or `dir` already holds a store.
    pub fn init(dir: &Path, definition: &Path) -> Result<Self, StoreError> {
        let election = Election::load(definition)?;
        urna_tally::seats::check_definition(&election)
            .map_err(|e| StoreError::Setup(format!("{}: {e}", definition.display())))?;
        if dir.join(DB_FILE).exists() {
            return Err(StoreError::Setup(format!(
                "{} already holds a store; use another directory",
                dir.display()
            )));
        }
        // The copies are byte for byte the originals, so they load to the same digest, provided
        // the stations file is named as sitting beside election.toml, as it will in `dir`.
        let stations_name = Path::new(&election.stations_file);
        if stations_name.file_name() != Some(stations_name.as_os_str()) {
            return Err(StoreError::Setup(format!(
                "[stations] file = {:?}: the stations file must sit beside election.toml (a file name, no directories)",
                election.stations_file
            )));
        }
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock = lock::DirLock::acquire(dir)?;
        copy_synced(definition, &dir.join(DEFINITION_FILE))?;
        copy_synced(
            &stations_path(definition, &election),
            &dir.join(stations_name),
        )?;
        if let Some(shapes) = &election.shapes {
            // The map's shapes are rendered at every publication: refuse them now, not then.
            let from = definition
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join(&shapes.file);
            let bytes = std::fs::read(&from).map_err(io_err(&from))?;
            urna_tally::shapes::render_shapes_from(&election, &bytes)
                .map_err(|e| StoreError::Setup(format!("{}: {e}", definition.display())))?;
        }
        if let Some(shapes) = &election.shapes {
            // Checked at load: a file name beside election.toml, with the SHA-256 it names.
            let from = definition
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join(&shapes.file);
            copy_synced(&from, &dir.join(&shapes.file))?;
        }
        let conn = open_db(&dir.join(DB_FILE))?;
        conn.execute_batch(include_str!("../migrations/sqlite/0001_entries.sql"))?;
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema', ?1), ('election', ?2), ('definition_sha256', ?3)",
            params![SCHEMA_VERSION, election.id, hex(&election.digest)],
        )?;
        let signer = log::generate_log_key(&election.log_origin())?;
        write_secret(&dir.join(log::LOG_KEY_FILE), &signer.to_skey())?;
        // Entry 0: the genesis, signed by the log key, committing the log to the definition.
        let read = |p: &Path| std::fs::read(p).map_err(io_err(p));
        let genesis = Genesis::of(
            &election,
            &read(&dir.join(DEFINITION_FILE))?,
            &read(&dir.join(stations_name))?,
        )
        .map_err(|e| StoreError::Setup(e.to_string()))?;
        let note = signer.sign_text(&genesis.to_text()).to_bytes();
        conn.execute(
            "INSERT INTO entries (idx, hash, text_hash, contest, station, revision, status, received_ms, note) \
             VALUES (0, ?1, ?2, '', '', 0, 0, ?3, ?4)",
            params![
                urna_model::intake::sha256(&note),
                urna_model::intake::sha256(genesis.to_text().as_bytes()),
                to_sql(SystemClock.now_ms()),
                note
            ],
        )?;
        let mut log = log::Sequencer::new(dir, signer)?;
        log.append(0, std::iter::once(note))?;
        log.flush()?;
        let live = Some(live::Live::new(&election)?);
        Ok(Self {
            dir: dir.to_owned(),
            conn,
            election,
            history: MemoryHistory::default(),
            next_index: 1,
            log,
            live,
            poisoned: false,
            _lock: lock,
        })
    }

    /// Opens an existing data directory and rebuilds the intake history from committed rows;
    /// every audit note is replayed through the audit trail as intake admits it.
    ///
    /// # Errors
    /// [`StoreError`] if the directory is not a store or the definition changed;
    /// [`StoreError::Inadmissible`] naming the entry and the rule if an audit note does not
    /// follow the ones before it.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, true)
    }

    fn open_with(dir: &Path, replay_audits: bool) -> Result<Self, StoreError> {
        let db = dir.join(DB_FILE);
        if !db.exists() {
            return Err(StoreError::Setup(format!(
                "{} is not an urna data directory (no {DB_FILE}); run `urna init` first",
                dir.display()
            )));
        }
        // Before anything is read or written: a second writer must change nothing.
        let lock = lock::DirLock::acquire(dir)?;
        let election = Election::load(&dir.join(DEFINITION_FILE))?;
        let conn = open_db(&db)?;
        check_definition(&conn, dir, &election)?;
        let key_path = dir.join(log::LOG_KEY_FILE);
        let skey = std::fs::read_to_string(&key_path).map_err(io_err(&key_path))?;
        let signer = NoteSigner::from_skey(skey.trim())
            .map_err(|e| StoreError::Setup(format!("{}: {e}", key_path.display())))?;
        let mut log = log::Sequencer::new(dir, signer)?;
        let latest = log::read_latest(dir)?;
        // The size the log signed; `resume` below checks the signature and the root.
        let signed = latest.as_deref().and_then(log::checkpoint_size);
        if let Some(size) = signed {
            log.skip_written_tiles(size);
        }
        // Every row is checked against its note before anything is written (the log's flush
        // below), so a refused open changes nothing.
        let (history, next_index) =
            rebuild::rebuild(&conn, &election, &mut log, signed.unwrap_or(0))?;
        log_keys(dir, &conn, &history, &mut log)?;
        // Continue from the last checkpoint the log signed, checking the database against it,
        // and sequence whatever was committed after it (a crash between commit and sequencing).
        if let Some(latest) = latest {
            log.resume(&latest)?;
        }
        let mut store = Self {
            dir: dir.to_owned(),
            conn,
            election,
            history,
            next_index,
            log,
            live: None,
            poisoned: false,
            _lock: lock,
        };
        // The whole audit trail is replayed as intake would admit it, still before the
        // flush: an audit note that does not follow (a row added or edited outside urna)
        // refuses the open, naming its entry and the rule, and is never sequenced.
        if replay_audits {
            store.audit_trail()?;
        }
        store.log.flush()?;
        Ok(store)
    }

    /// Opens a data directory **without** replaying its audit trail: audit notes written
    /// into the database outside urna are sequenced into the log even if they do not follow.
    /// Only for exercising verifiers against such a log (`urna verify` must report each
    /// one); never for running an election.
    ///
    /// # Errors
    /// As [`Store::open`], except for the audit trail.
    pub fn danger_open_without_audit_replay(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, false)
    }

    /// The election definition.
    pub fn election(&self) -> &Election {
        &self.election
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of entries stored.
    pub fn len(&self) -> u64 {
        self.next_index
    }

    /// Whether nothing is stored yet.
    pub fn is_empty(&self) -> bool {
        self.next_index == 0
    }

    /// Signs a checkpoint of every entry stored so far, if intake has not already, and
    /// returns the latest checkpoint the log signed ([`engine::Engine::sequence`]). Intake
    /// sequences as it stores, so after it returns this only reads the checkpoint it signed.
    ///
    /// # Errors
    /// [`StoreError::Setup`] if an earlier intake failed part-way; the log's error.
    pub fn sequence_stored(&mut self) -> Result<Vec<u8>, StoreError> {
        if self.poisoned {
            return Err(StoreError::Setup(
                "an earlier intake failed part-way; reopen the data directory".into(),
            ));
        }
        self.log.flush()?;
        log::read_latest(&self.dir)?.ok_or_else(|| {
            StoreError::Log(format!(
                "{} holds no signed checkpoint after sequencing",
                self.dir.display()
            ))
        })
    }

    /// The log's origin (the name of its key).
    pub fn log_origin(&self) -> &str {
        self.log.origin()
    }

    /// Entries in the log's tree, and the size of its last signed checkpoint.
    pub fn log_sizes(&self) -> (u64, u64) {
        (self.log.size(), self.log.signed_size())
    }

    /// The log's verifier key (`name+id+key`), for witnesses and verifiers.
    pub fn log_vkey(&self) -> String {
        self.log.signer().verifier().to_vkey()
    }

    /// Inclusion proof of entry `index` in the tree of `size` entries.
    ///
    /// # Errors
    /// [`StoreError::Log`] if the index or size is out of range.
    pub fn inclusion_proof(
        &self,
        index: u64,
        size: u64,
    ) -> Result<Vec<urna_tlog::Hash>, StoreError> {
        self.log.inclusion(index, size)
    }

    /// Consistency proof from `old` to `new` entries.
    ///
    /// # Errors
    /// [`StoreError::Log`] if the sizes are out of order or range.
    pub fn consistency_proof(
        &self,
        old: u64,
        new: u64,
    ) -> Result<Vec<urna_tlog::Hash>, StoreError> {
        self.log.consistency(old, new)
    }

    /// Publishes a checkpoint note (log-signed, cosigned by the witnesses) as `log/checkpoint`.
    ///
    /// # Errors
    /// [`StoreError::Log`] if it is not a checkpoint of this log signed by its key.
    pub fn publish_checkpoint(&self, note: &[u8]) -> Result<(), StoreError> {
        urna_tlog::checkpoint::open(note, self.log.origin(), &self.log.signer().verifier())
            .map_err(|e| StoreError::Log(format!("refusing to publish: {e}")))?;
        self.log.publish(note)
    }

    /// Rotates the log's signing key to `new` (same name, the log's origin): signs the
    /// checkpoint of everything stored so far with the current key, stores an
    /// `urna/key-rotation/v1` signed by both keys as the next entry, makes `new` the key of
    /// `secrets/log.key`, and signs the checkpoint that includes the rotation with it. Every
    /// later checkpoint and receipt is signed by `new`. Returns the rotation's index.
    ///
    /// # Errors
    /// [`StoreError::Setup`] if `new` is not named after the origin, is the current key, or the
    /// reason breaks the note's rule; [`StoreError::Io`] if a rotation is half done (a next
    /// key file exists); the database's or the log's error.
    pub fn rotate_log_key(&mut self, new: NoteSigner, reason: &str) -> Result<u64, StoreError> {
        if self.poisoned {
            return Err(StoreError::Setup(
                "an earlier intake failed part-way; reopen the data directory".into(),
            ));
        }
        if new.name() != self.log.origin() {
            return Err(StoreError::Setup(format!(
                "the new log key is named {:?}; the log's key is named after its origin {:?}",
                new.name(),
                self.log.origin()
            )));
        }
        if new.public_key() == self.log.signer().public_key() {
            return Err(StoreError::Setup(
                "the new log key is the current one; generate a new key".into(),
            ));
        }
        if let Some((at, _)) = self
            .history
            .rotations()
            .iter()
            .find(|(_, r)| r.old.public_key == new.public_key())
        {
            return Err(StoreError::Setup(format!(
                "the new log key {} is retired (entry {at} rotated away from it); rotating back \
                 to a retired key is refused: generate a new key",
                new.verifier().to_vkey()
            )));
        }
        // Everything before the rotation is signed by the key it replaces.
        self.log.flush()?;
        let index = self.next_index;
        // The rotation names the tree it follows, so the old key's signature fixes the past.
        let root = self.log.root_at(index)?.0;
        let note = RotationBody::sign(self.log.signer(), &new, index, &root, reason)
            .map_err(|e| StoreError::Setup(e.to_string()))?;
        let body = RotationBody::check(&note).map_err(|e| StoreError::Setup(e.to_string()))?;
        let next_path = self.dir.join(log::NEXT_LOG_KEY_FILE);
        write_secret(&next_path, &new.to_skey())?;
        let hash = urna_model::intake::sha256(&note);
        let text_hash = urna_model::intake::sha256(body.to_text().as_bytes());
        self.conn.execute(
            "INSERT INTO entries (idx, hash, text_hash, contest, station, revision, status, received_ms, note) \
             VALUES (?1, ?2, ?3, '', '', 0, 0, ?4, ?5)",
            params![
                to_sql(index),
                hash.as_slice(),
                text_hash.as_slice(),
                to_sql(SystemClock.now_ms()),
                note
            ],
        )?;
        self.next_index += 1;
        if let Err(reason) = self
            .history
            .admit_rotation(&self.election, index, hash, body)
        {
            self.poisoned = true;
            return Err(StoreError::Inadmissible { index, reason });
        }
        // The entry is durable: from here an open finishes the rotation (`log_keys`), so a
        // failure leaves the store poisoned (reopen it) rather than signing with the old key.
        let key_path = self.dir.join(log::LOG_KEY_FILE);
        let moved = std::fs::rename(&next_path, &key_path)
            .and_then(|()| match key_path.parent() {
                Some(secrets) => std::fs::File::open(secrets).and_then(|d| d.sync_all()),
                None => Ok(()),
            })
            .map_err(io_err(&key_path));
        if let Err(err) = moved {
            self.poisoned = true;
            return Err(err);
        }
        self.log.rotate(index, new);
        let sequenced = self
            .log
            .append(index, std::iter::once(note))
            .and_then(|()| self.log.flush().map(|_| ()));
        if let Err(err) = sequenced {
            self.poisoned = true;
            return Err(err);
        }
        Ok(index)
    }

    /// The log's key rotations, in log order: the entry index, the key before it and the key
    /// after it (verifier keys). A checkpoint of `size > index` is signed by the key after.
    pub fn log_key_rotations(&self) -> Vec<(u64, String, String)> {
        let origin = self.log.origin();
        self.history
            .rotations()
            .iter()
            .map(|(i, r)| (*i, r.old.to_vkey(origin), r.new.to_vkey(origin)))
            .collect()
    }

    /// A signed `urna/receipt/v1` for a stored entry: the log's promise to include it.
    pub fn receipt(&self, index: u64, hash: &[u8; 32], time_ms: u64) -> Vec<u8> {
        log::receipt(self.log.signer(), index, hash, time_ms)
    }

    /// The intake history (what [`urna_model::intake::admit`] checks against).
    pub fn history(&self) -> &impl History {
        &self.history
    }

    /// Every entry, in log order.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`]; [`StoreError::Column`] if a row's `status` disagrees with its
    /// note (see [`Store::entry`]).
    pub fn entries(&self) -> Result<Vec<EntryRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {ENTRY_COLUMNS} FROM entries ORDER BY idx"))?;
        let rows = stmt.query_map([], entry_row)?;
        rows.map(|r| self.checked(r?)).collect()
    }

    /// The entry at `index`, if stored. Whether it is quarantined is derived from its note,
    /// not read from the `status` column, which must agree.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`]; [`StoreError::Corrupt`] if the note no longer parses;
    /// [`StoreError::Column`] if `status` disagrees with the note: the database was edited.
    pub fn entry(&self, index: u64) -> Result<Option<EntryRow>, StoreError> {
        self.entry_where("idx = ?1", &to_sql(index))
    }

    /// The current entry of a station: its highest revision (of two contests' entries at
    /// that revision, the earlier one, as on PostgreSQL), if it has one.
    ///
    /// # Errors
    /// As [`Store::entry`].
    pub fn current_entry_of(&self, station: &str) -> Result<Option<EntryRow>, StoreError> {
        self.entry_where("station = ?1 ORDER BY revision DESC, idx LIMIT 1", &station)
    }

    fn entry_where(
        &self,
        clause: &str,
        arg: &dyn rusqlite::ToSql,
    ) -> Result<Option<EntryRow>, StoreError> {
        entry_where(&self.conn, &self.election, &self.history.keys, clause, arg)
    }

    fn checked(&self, row: (EntryRow, i64)) -> Result<EntryRow, StoreError> {
        checked(&self.election, &self.history.keys, row)
    }

    /// The log's root hash at `size` entries.
    ///
    /// # Errors
    /// [`StoreError::Log`] if `size` is larger than the log.
    pub fn log_root(&self, size: u64) -> Result<urna_tlog::Hash, StoreError> {
        self.log.root_at(size)
    }

    /// Totals, quarantine list and warnings of a contest. Kept current by intake; after an
    /// open, the first call re-derives them from the stored notes ([`Store::rederive_tally`]).
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if a stored note no longer parses, [`StoreError::Tally`] on
    /// overflow.
    pub fn tally(&mut self, contest: ContestIdx) -> Result<TallyReport, StoreError> {
        if self.live.is_none() {
            self.live = Some(self.rederive()?);
        }
        match &self.live {
            Some(live) => Ok(live.report(contest)),
            None => Err(StoreError::Setup("tally unavailable".into())),
        }
    }

    /// Totals of a contest re-derived from the stored notes alone: each station's current
    /// revision is parsed and validated again (signatures were checked at intake). What
    /// [`Store::tally`] keeps current must always equal this.
    ///
    /// # Errors
    /// As [`Store::tally`].
    pub fn rederive_tally(&self, contest: ContestIdx) -> Result<TallyReport, StoreError> {
        Ok(self.rederive()?.report(contest))
    }

    /// Streams every station's current note, parsing on every core, so a million stations need
    /// little memory.
    fn rederive(&self) -> Result<live::Live, StoreError> {
        rederive(&self.conn, &self.election, &self.history.keys)
    }
}

/// Streams every station's current note, parsing on every core, so a million stations need
/// little memory.
fn rederive(conn: &Connection, e: &Election, keys: &StationKeys) -> Result<live::Live, StoreError> {
    // Pass 1: the current entry of every station in every contest (highest revision).
    let mut wanted: Vec<i64> = Vec::new();
    for contest in &e.contests {
        let mut current: Vec<(u32, i64)> = vec![(0, -1); e.stations.len()];
        let mut stmt = conn.prepare(
            "SELECT idx, station, revision FROM entries WHERE contest = ?1 AND station != ''",
        )?;
        let mut rows = stmt.query(params![contest.id])?;
        while let Some(r) = rows.next()? {
            let index: i64 = r.get(0)?;
            let station: String = r.get(1)?;
            let revision: u32 = r.get(2)?;
            let s = e.station(&station).ok_or_else(|| StoreError::Corrupt {
                index: sql_u64(index),
                reason: "unknown station".into(),
            })?;
            let slot = &mut current[s.0 as usize];
            if slot.1 < 0 || revision > slot.0 {
                *slot = (revision, index);
            }
        }
        wanted.extend(current.iter().map(|c| c.1).filter(|&i| i >= 0));
    }
    wanted.sort_unstable();
    let decided = decisions(conn, e, keys)?;
    // Pass 2: the current notes, streamed in log order.
    let mut stmt = conn.prepare("SELECT idx, note FROM entries ORDER BY idx")?;
    let mut rows = stmt.query([])?;
    let mut next = 0usize;
    let currents = std::iter::from_fn(|| {
        loop {
            let row = match rows.next() {
                Ok(Some(r)) => r,
                Ok(None) => return None,
                Err(err) => return Some(Err(StoreError::from(err))),
            };
            let index: i64 = match row.get(0) {
                Ok(i) => i,
                Err(err) => return Some(Err(err.into())),
            };
            if wanted.get(next) == Some(&index) {
                next += 1;
                return Some(row.get(1).map(|n| (sql_u64(index), n)).map_err(Into::into));
            }
        }
    });
    tally_currents(e, keys, &decided, currents)
}

/// The latest decision on each station, with the entry it decides.
type Decided = HashMap<(ContestIdx, StationIdx), ([u8; 32], DecisionKind)>;

/// Parses the current notes in chunks, on every core, and adds them up, applying each
/// station's latest decision on its current entry.
fn tally_currents(
    e: &Election,
    keys: &StationKeys,
    decided: &Decided,
    currents: impl Iterator<Item = Result<(u64, Vec<u8>), StoreError>>,
) -> Result<live::Live, StoreError> {
    let mut live = live::Live::new(e)?;
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let mut chunk: Vec<(i64, Vec<u8>)> = Vec::with_capacity(TALLY_CHUNK);
    let mut currents = currents.peekable();
    loop {
        if let Some(row) = currents.next() {
            let (index, note) = row?;
            chunk.push((to_sql(index), note));
        }
        let done = currents.peek().is_none();
        if chunk.len() == TALLY_CHUNK || (done && !chunk.is_empty()) {
            let parsed = parse_parallel(e, keys, &chunk, threads);
            for ((index, _), sub) in chunk.iter().zip(parsed) {
                let sub = sub.map_err(|reason| StoreError::Corrupt {
                    index: sql_u64(*index),
                    reason,
                })?;
                live.add(e, &sub)?;
                if let Some(&(decides, kind)) = decided.get(&(sub.contest, sub.station))
                    && decides == sub.hash
                {
                    live.decide(e, &sub, kind)?;
                }
            }
            chunk.clear();
        }
        if done {
            break;
        }
    }
    Ok(live)
}

/// The latest decision on each station, with the entry it decides (decisions are the rows
/// of revision 0 after the genesis; there are few).
fn decisions(conn: &Connection, e: &Election, keys: &StationKeys) -> Result<Decided, StoreError> {
    // Audit notes (no station) and revocations (no contest) decide nothing.
    let mut stmt = conn.prepare(
        "SELECT idx, note FROM entries WHERE revision = 0 AND idx > 0 AND contest != '' AND station != '' ORDER BY idx",
    )?;
    let rows = stmt.query_map([], |r| Ok((sql_u64(r.get(0)?), r.get(1)?)))?;
    decided_by(e, keys, rows.map(|r| r.map_err(StoreError::from)))
}

/// The latest decision on each station from the decision notes, in log order.
fn decided_by(
    e: &Election,
    keys: &StationKeys,
    notes: impl Iterator<Item = Result<(u64, Vec<u8>), StoreError>>,
) -> Result<Decided, StoreError> {
    let mut out = HashMap::new();
    for row in notes {
        let (index, note) = row?;
        let sub = resubmit(e, keys, index, &note)
            .map_err(|reason| StoreError::Corrupt { index, reason })?;
        if let Some(d) = sub.decision {
            out.insert((sub.contest, sub.station), (d.decides, d.kind));
        }
    }
    Ok(out)
}

/// A contest's tally re-derived from stored notes, for an engine that keeps its rows
/// elsewhere (the PostgreSQL store): `decisions` are the stored decision notes (rows of
/// revision 0 with a contest and a station after the genesis) and `currents` each station's
/// current note (its highest revision), both with their log index and in log order; `keys`
/// holds every stored revocation. The same code as [`Store::rederive_tally`], so both engines
/// count alike.
///
/// # Errors
/// [`StoreError::Corrupt`] if a note no longer parses, [`StoreError::Tally`] on overflow, or
/// an error of the rows.
pub fn rederive_tally_from(
    e: &Election,
    keys: &StationKeys,
    decisions: impl IntoIterator<Item = Result<(u64, Vec<u8>), StoreError>>,
    currents: impl IntoIterator<Item = Result<(u64, Vec<u8>), StoreError>>,
    contest: ContestIdx,
) -> Result<TallyReport, StoreError> {
    let decided = decided_by(e, keys, decisions.into_iter())?;
    Ok(tally_currents(e, keys, &decided, currents.into_iter())?.report(contest))
}

/// Checks that a stored entry 0 is the genesis of `e` (what the log key signed is checked by
/// the log's own root; here the meaning); returns the SHA-256 of its text.
fn check_genesis(e: &Election, note: &[u8]) -> Result<[u8; 32], String> {
    let note = Note::parse(note).map_err(|err| format!("genesis: {err}"))?;
    let genesis = Genesis::parse(note.text()).map_err(|err| format!("genesis: {err}"))?;
    genesis.check(e).map_err(|err| format!("genesis: {err}"))?;
    Ok(urna_model::intake::sha256(note.text().as_bytes()))
}

/// At open: which log key is current, by the key rotations stored. A rotation interrupted
/// after its entry was committed is finished (the next key file renamed over the log key); one
/// interrupted before is dropped (its next key file removed: that key never signed). The first
/// rotation must hand over the key that signed the genesis, and the key file must hold the key
/// the last rotation handed over to.
fn log_keys(
    dir: &Path,
    conn: &Connection,
    history: &MemoryHistory,
    log: &mut log::Sequencer,
) -> Result<(), StoreError> {
    let origin = log.origin().to_owned();
    let rotations = history.rotations();
    let next_path = dir.join(log::NEXT_LOG_KEY_FILE);
    if next_path.exists() {
        let next = read_signer(&next_path)?;
        let logged = rotations
            .last()
            .is_some_and(|(_, r)| r.new.public_key == next.public_key());
        if logged {
            let key_path = dir.join(log::LOG_KEY_FILE);
            std::fs::rename(&next_path, &key_path).map_err(io_err(&key_path))?;
            log.set_signer(next);
        } else if log.signer().public_key() != next.public_key() {
            std::fs::remove_file(&next_path).map_err(io_err(&next_path))?;
        }
    }
    let verifier = |k: &urna_model::rotation::LogKey| {
        k.verifier(&origin)
            .map_err(|e| StoreError::Setup(format!("log key rotation: {e}")))
    };
    let mut chain = Vec::with_capacity(rotations.len());
    for (index, r) in rotations {
        // The history before each rotation is the one both its keys signed (`size`, `root`).
        let root = log.root_at(*index)?.0;
        r.check_follows(*index, &root)
            .map_err(|reason| StoreError::Inadmissible {
                index: *index,
                reason,
            })?;
        chain.push((*index, verifier(&r.old)?, verifier(&r.new)?));
    }
    if let Some((index, first, _)) = chain.first() {
        let genesis: Vec<u8> =
            conn.query_row("SELECT note FROM entries WHERE idx = 0", [], |r| r.get(0))?;
        let signed = Note::parse(&genesis)
            .ok()
            .is_some_and(|n| first.verify(&n).is_ok());
        if !signed {
            return Err(StoreError::Inadmissible {
                index: *index,
                reason: format!(
                    "the first key rotation hands over {}, which did not sign the genesis",
                    first.to_vkey()
                ),
            });
        }
    }
    if let Some((index, _, current)) = chain.last()
        && log.signer().public_key() != current.verifying_key().to_bytes()
    {
        return Err(StoreError::Setup(format!(
            "{}: holds key {}, but entry {index} rotated the log's key to {}",
            dir.join(log::LOG_KEY_FILE).display(),
            log.signer().verifier().to_vkey(),
            current.to_vkey()
        )));
    }
    log.set_rotations(chain);
    Ok(())
}

fn read_signer(path: &Path) -> Result<NoteSigner, StoreError> {
    let skey = std::fs::read_to_string(path).map_err(io_err(path))?;
    NoteSigner::from_skey(skey.trim())
        .map_err(|e| StoreError::Setup(format!("{}: {e}", path.display())))
}

/// Refuses a definition other than the one the store in `dir` was created with (its digest
/// recorded by `urna init`), and a schema or election other than this one's ([`check_meta`]).
fn check_definition(conn: &Connection, dir: &Path, e: &Election) -> Result<(), StoreError> {
    let recorded: String = conn.query_row(
        "SELECT value FROM meta WHERE key = 'definition_sha256'",
        [],
        |r| r.get(0),
    )?;
    if recorded != hex(&e.digest) {
        return Err(StoreError::DefinitionChanged {
            dir: dir.display().to_string(),
            now: hex(&e.digest),
            then: recorded,
        });
    }
    check_meta(conn, e)
}

/// Checks the `meta` rows other than the definition digest: the schema this version of urna
/// writes, and the election the definition names.
fn check_meta(conn: &Connection, e: &Election) -> Result<(), StoreError> {
    let get = |key: &str| -> Result<String, StoreError> {
        Ok(conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?
            .unwrap_or_default())
    };
    let schema = get("schema")?;
    if schema != SCHEMA_VERSION {
        return Err(StoreError::Meta {
            key: "schema",
            stored: schema,
            expected: format!("this version of urna reads schema {SCHEMA_VERSION}"),
        });
    }
    let election = get("election")?;
    if election != e.id {
        return Err(StoreError::Meta {
            key: "election",
            stored: election,
            expected: format!("the definition is of election {:?}", e.id),
        });
    }
    Ok(())
}

/// Notes parsed per chunk when re-deriving a tally.
const TALLY_CHUNK: usize = 8192;

/// A contest's tally, with what a person needs to review.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TallyReport {
    tally: Option<Tally>,
    /// Quarantined stations with their current submission (every violated rule), by station.
    pub quarantined: Vec<(StationIdx, Submission)>,
    /// Plausibility warnings: rule id → (stations flagged, message).
    pub warnings: BTreeMap<String, (u64, String)>,
}

impl TallyReport {
    /// The totals.
    pub fn tally(&self) -> &Tally {
        // Set by `Store::tally` before the report is returned.
        self.tally
            .as_ref()
            .unwrap_or_else(|| unreachable!("tally is set on construction"))
    }
}

fn parse_parallel(
    e: &Election,
    keys: &StationKeys,
    chunk: &[(i64, Vec<u8>)],
    threads: usize,
) -> Vec<Result<Submission, String>> {
    let per = chunk.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = chunk
            .chunks(per)
            .map(|part| {
                let h = s.spawn(move || {
                    part.iter()
                        .map(|(i, n)| resubmit(e, keys, sql_u64(*i), n))
                        .collect::<Vec<_>>()
                });
                (part.len(), h)
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(len, h)| {
                h.join()
                    .unwrap_or_else(|_| vec![Err("parser thread panicked".to_owned()); len])
            })
            .collect()
    })
}

/// Re-derives the submission of the note stored at `index` (parse, bind, validate) without
/// checking signatures, against the station keys as the revocations before `index` left them
/// (`keys` holds every revocation admitted so far, in log order).
pub(crate) fn resubmit(
    election: &Election,
    keys: &StationKeys,
    index: u64,
    note: &[u8],
) -> Result<Submission, String> {
    let parsed = Note::parse(note).map_err(|e| e.to_string())?;
    if urna_model::decision::DecisionBody::is_decision(parsed.text()) {
        return urna_model::intake::bind_note_unverified(election, note).map_err(|e| e.to_string());
    }
    let body = ProtocolBody::parse(parsed.text()).map_err(|e| e.to_string())?;
    let sub = urna_model::intake::bind_unverified(election, note, &parsed, &body)
        .map_err(|e| e.to_string())?;
    if !keys.touches(sub.station) {
        return Ok(sub);
    }
    // A station whose key was revoked: bound again against its keys as they stood.
    let at = keys_before(keys, index);
    urna_model::intake::bind_note_keyed_unverified(election, &at, note).map_err(|e| e.to_string())
}

/// The station keys an entry at `index` is judged by: `keys` itself when every revocation it
/// holds is older (the common case, no copy).
pub(crate) fn keys_before(keys: &StationKeys, index: u64) -> std::borrow::Cow<'_, StationKeys> {
    match keys.revocations().last() {
        Some((last, _)) if last >= index => std::borrow::Cow::Owned(keys.before(index)),
        _ => std::borrow::Cow::Borrowed(keys),
    }
}

/// The station keys as the stored revocations (rows with a station and no contest) change
/// them, in log order; for readers that did not rebuild the history ([`view::StoreView`]).
///
/// # Errors
/// [`StoreError::Corrupt`] if a revocation no longer parses, [`StoreError::Inadmissible`] if
/// one does not follow the ones before it.
pub(crate) fn stored_keys(conn: &Connection, e: &Election) -> Result<StationKeys, StoreError> {
    let mut keys = StationKeys::new();
    let mut stmt = conn.prepare(
        "SELECT idx, note FROM entries WHERE idx > 0 AND contest = '' AND station != '' ORDER BY idx",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let index = sql_u64(r.get(0)?);
        let note: Vec<u8> = r.get(1)?;
        let revocation =
            urna_model::intake::bind_revocation_unverified(e, &note).map_err(|err| {
                StoreError::Corrupt {
                    index,
                    reason: err.to_string(),
                }
            })?;
        keys.admit(e, index, &revocation)
            .map_err(|err| StoreError::Inadmissible {
                index,
                reason: err.to_string(),
            })?;
    }
    Ok(keys)
}

/// Whether a stored note is an `urna/revocation/v1` (its text starts with that line).
pub fn is_revocation(note: &[u8]) -> bool {
    note.strip_prefix(urna_model::revocation::REVOCATION_V1.as_bytes())
        .is_some_and(|rest| rest.first() == Some(&b'\n'))
}

/// The intake history kept in memory: current revision per (contest, station) and every hash.
/// The SQLite store holds all of it; the PostgreSQL store loads the part a batch touches.
#[derive(Debug, Default)]
pub struct MemoryHistory {
    latest: HashMap<(ContestIdx, StationIdx), (Latest, u64)>,
    /// Every stored note's SHA-256, with its log index.
    hashes: HashMap<[u8; 32], u64>,
    /// Every stored decision's text hash, with its log index and note hash.
    decisions: HashMap<[u8; 32], (u64, [u8; 32])>,
    /// The entry whose latest decision ordered a recount, per station.
    recounts: HashMap<(ContestIdx, StationIdx), [u8; 32]>,
    /// The station keys, as every revocation stored so far changed them, in log order.
    keys: StationKeys,
    /// Every `urna/key-rotation/v1` stored so far, with its log index, in log order.
    rotations: Vec<(u64, RotationBody)>,
}

impl MemoryHistory {
    /// Records a stored protocol or amendment (entry `index`); it becomes the station's current
    /// entry unless a higher revision is.
    pub fn record(&mut self, c: ContestIdx, s: StationIdx, l: Latest, index: u64) {
        self.hashes.insert(l.hash, index);
        let e = self.latest.entry((c, s)).or_insert((l, index));
        if l.revision >= e.0.revision {
            *e = (l, index);
        }
    }

    /// Records a note as stored at `index` with `verdict` (what [`urna_model::intake::admit`]
    /// gave), exactly as intake does: a decision holds its hash and the recount it orders.
    pub fn apply(&mut self, sub: &Submission, verdict: Verdict, index: u64) {
        if let Some(d) = &sub.decision {
            // A decision changes no revision: its hash is held, for duplicates, and a recount
            // it orders, for the recount's amendment.
            if verdict != Verdict::Duplicate {
                self.hashes.insert(sub.hash, index);
                self.decisions.insert(sub.text_hash, (index, sub.hash));
                if d.kind == DecisionKind::Recount {
                    self.recounts.insert((sub.contest, sub.station), d.decides);
                } else {
                    self.recounts.remove(&(sub.contest, sub.station));
                }
            }
        } else if verdict != Verdict::Duplicate {
            self.record(
                sub.contest,
                sub.station,
                Latest {
                    revision: sub.revision,
                    hash: sub.hash,
                    text_hash: sub.text_hash,
                },
                index,
            );
        }
    }

    /// The entry that makes `sub` a duplicate: the identical note, else the decision with the
    /// same text, else the station's current entry (same revision and text, other signature
    /// bytes). Its index and note hash.
    pub fn holder(&self, sub: &Submission) -> Option<(u64, [u8; 32])> {
        if let Some(&index) = self.hashes.get(&sub.hash) {
            return Some((index, sub.hash));
        }
        if sub.decision.is_some() {
            return self.decisions.get(&sub.text_hash).copied();
        }
        self.latest
            .get(&(sub.contest, sub.station))
            .map(|(l, index)| (*index, l.hash))
    }

    /// The log index of the stored note with this hash, if one is.
    pub fn holder_of(&self, hash: &[u8; 32]) -> Option<u64> {
        self.hashes.get(hash).copied()
    }

    /// Log index of a station's current entry.
    fn current_index(&self, c: ContestIdx, s: StationIdx) -> Option<u64> {
        self.latest.get(&(c, s)).map(|l| l.1)
    }

    /// A station's current entry and its log index.
    pub fn current(&self, c: ContestIdx, s: StationIdx) -> Option<(Latest, u64)> {
        self.latest.get(&(c, s)).copied()
    }

    /// Records that a stored note (any kind) has this hash, at `index`.
    pub fn record_hash(&mut self, hash: [u8; 32], index: u64) {
        self.hashes.insert(hash, index);
    }

    /// Records a stored decision: its text hash, log index and note hash.
    pub fn record_decision(&mut self, text_hash: [u8; 32], index: u64, hash: [u8; 32]) {
        self.hashes.insert(hash, index);
        self.decisions.insert(text_hash, (index, hash));
    }

    /// Records that the station's latest decision ordered a recount of entry `decides`.
    pub fn record_recount(&mut self, c: ContestIdx, s: StationIdx, decides: [u8; 32]) {
        self.recounts.insert((c, s), decides);
    }

    /// Every station with a current entry, with it and its log index.
    pub fn currents(&self) -> impl Iterator<Item = ((ContestIdx, StationIdx), (Latest, u64))> + '_ {
        self.latest.iter().map(|(k, v)| (*k, *v))
    }

    /// The station keys as the revocations stored so far left them.
    pub fn keys(&self) -> &StationKeys {
        &self.keys
    }

    /// Admits a checked revocation as entry `index` ([`StationKeys::admit`]): on
    /// [`Verdict::Accepted`] it is recorded, its hash held.
    ///
    /// # Errors
    /// The model's refusal (key not held, revoked already, replacement revoked before).
    pub fn admit_revocation(
        &mut self,
        e: &Election,
        index: u64,
        r: &Revocation,
    ) -> Result<Verdict, urna_model::intake::Rejection> {
        let verdict = self.keys.admit(e, index, r)?;
        if verdict == Verdict::Accepted {
            self.hashes.insert(r.hash, index);
        }
        Ok(verdict)
    }

    /// Admits a log key rotation (its signatures checked, or its bytes covered by the log) as
    /// entry `index`: of this election's log, and handing over the key the previous rotation
    /// gave (the first one's `old:` is checked against the genesis at open).
    ///
    /// # Errors
    /// The rule broken, in words.
    pub fn admit_rotation(
        &mut self,
        e: &Election,
        index: u64,
        hash: [u8; 32],
        body: RotationBody,
    ) -> Result<(), String> {
        let origin = e.log_origin();
        if body.origin != origin {
            return Err(format!(
                "key rotation of log {:?}; this log is {origin:?}",
                body.origin
            ));
        }
        if let Some((at, prev)) = self.rotations.last()
            && prev.new != body.old
        {
            return Err(format!(
                "key rotation: its old key {} is not the key entry {at} handed over to ({})",
                body.old.to_vkey(&origin),
                prev.new.to_vkey(&origin)
            ));
        }
        if let Some((at, _)) = self.rotations.iter().find(|(_, r)| r.old == body.new) {
            return Err(format!(
                "key rotation: field `new`: {} is retired (entry {at} rotated away from it); \
                 a rotation back to a retired key is refused",
                body.new.to_vkey(&origin)
            ));
        }
        self.hashes.insert(hash, index);
        self.rotations.push((index, body));
        Ok(())
    }

    /// The log key rotations stored so far, with their log indices, in log order.
    pub fn rotations(&self) -> &[(u64, RotationBody)] {
        &self.rotations
    }

    /// Every station whose latest decision ordered a recount, with the entry it decides.
    pub fn recounts(&self) -> impl Iterator<Item = ((ContestIdx, StationIdx), [u8; 32])> + '_ {
        self.recounts.iter().map(|(k, v)| (*k, *v))
    }
}

impl History for MemoryHistory {
    fn latest(&self, contest: ContestIdx, station: StationIdx) -> Option<Latest> {
        self.latest.get(&(contest, station)).map(|l| l.0)
    }

    fn contains(&self, hash: &[u8; 32]) -> bool {
        self.hashes.contains_key(hash)
    }

    fn contains_decision(&self, text_hash: &[u8; 32]) -> bool {
        self.decisions.contains_key(text_hash)
    }

    fn recount_ordered(&self, contest: ContestIdx, station: StationIdx) -> Option<[u8; 32]> {
        self.recounts.get(&(contest, station)).copied()
    }
}

fn open_db(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    // WAL with FULL sync: every commit is on disk before it returns, so an acknowledgment
    // given after a commit survives power loss, not only a process crash.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

fn stations_path(definition: &Path, election: &Election) -> PathBuf {
    definition
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(&election.stations_file)
}

fn copy_synced(from: &Path, to: &Path) -> Result<(), StoreError> {
    if from.canonicalize().ok() == to.canonicalize().ok() && to.exists() {
        return Ok(());
    }
    std::fs::copy(from, to).map_err(io_err(from))?;
    std::fs::File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(io_err(to))
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |error| StoreError::Io {
        path: path.display().to_string(),
        error,
    }
}

/// Optional witness policy inside a data directory (the log publishes only cosigned
/// checkpoints when it exists).
pub const WITNESSES_FILE: &str = "witnesses.toml";

/// Writes a secret (a private key) to a new file readable by its owner only (mode 0600),
/// creating its directory; refuses to overwrite an existing file.
///
/// # Errors
/// [`StoreError::Io`] naming the path, e.g. when it already exists.
pub fn write_secret(path: &Path, secret: &str) -> Result<(), StoreError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    writeln!(f, "{secret}").map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

/// Row indices are written from `u64` counters and are never negative.
fn sql_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_default()
}

/// The entry of the first row matching `clause`, checked like [`checked`].
fn entry_where(
    conn: &Connection,
    e: &Election,
    keys: &StationKeys,
    clause: &str,
    arg: &dyn rusqlite::ToSql,
) -> Result<Option<EntryRow>, StoreError> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE {clause}");
    conn.query_row(&sql, [arg], entry_row)
        .optional()?
        .map(|r| checked(e, keys, r))
        .transpose()
}

/// An entry as another engine read it (the PostgreSQL store), with `quarantined` derived from
/// its note against `keys` (every stored revocation) and checked against the stored `status`,
/// as [`Store::entry`] does.
///
/// # Errors
/// [`StoreError::Corrupt`] if the note no longer parses; [`StoreError::Column`] if `status`
/// disagrees with the note.
pub fn check_entry(
    e: &Election,
    keys: &StationKeys,
    row: EntryRow,
    status: i64,
) -> Result<EntryRow, StoreError> {
    checked(e, keys, (row, status))
}

/// An entry as read, with its verdict derived from its note and checked against `status`.
fn checked(
    e: &Election,
    keys: &StationKeys,
    (mut row, status): (EntryRow, i64),
) -> Result<EntryRow, StoreError> {
    if row.index > 0
        && !urna_model::audit::is_audit(&row.note)
        && !is_revocation(&row.note)
        && !urna_model::rotation::is_rotation(&row.note)
    {
        row.quarantined = resubmit(e, keys, row.index, &row.note)
            .map_err(|reason| StoreError::Corrupt {
                index: row.index,
                reason,
            })?
            .is_quarantined();
    }
    let derived = i64::from(row.quarantined);
    if status != derived {
        return Err(StoreError::Column {
            index: row.index,
            column: "status",
            stored: rebuild::status_text(status),
            derived: rebuild::status_text(derived),
        });
    }
    Ok(row)
}

/// The columns [`entry_row`] reads, in its order.
const ENTRY_COLUMNS: &str = "idx, hash, station, revision, status, note";

/// A row as stored, with its `status` apart ([`checked`] derives `quarantined`).
fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(EntryRow, i64)> {
    Ok((
        EntryRow {
            index: sql_u64(r.get(0)?),
            hash: r.get(1)?,
            station: r.get(2)?,
            revision: r.get(3)?,
            quarantined: false,
            note: r.get(5)?,
        },
        r.get(4)?,
    ))
}

/// Rows are counted in `u64`; SQLite integers are `i64`, which no real log size reaches.
fn to_sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
