//! What every storage engine does for intake and the log: the one interface the SQLite store
//! ([`Store`]) and the PostgreSQL store (`urna_pg::PgEngine`) both implement, and that the
//! conformance suite (`conformance`, behind the `conformance` feature) runs against each.
//!
//! The interface is the contract, not a wrapper: each engine keeps its own richer API (bulk
//! intake with streaming acknowledgments on SQLite; several nodes, a lease and witnesses on
//! PostgreSQL). What the contract promises:
//!
//! - [`Engine::ingest_batch`] gives one [`Outcome`] per note, in input order, only after the
//!   notes are durable; the same notes give the same outcomes on every engine.
//! - Entries are numbered `0, 1, 2, …` in acceptance order, entry 0 being the genesis; they are
//!   never changed or removed ([`Engine::entry_count`], [`Engine::entry_at`],
//!   [`Engine::current_entry`]).
//! - [`Engine::sequence`] makes every entry stored so far part of a signed checkpoint and
//!   returns it. On SQLite intake sequences as it stores, so this only returns the checkpoint
//!   intake signed (or signs the rest); on PostgreSQL it is one step of the node holding the
//!   sequencer's lease (`PgSequencer::step`), which may fail if another node took the lease.
//!   Until it is called, a PostgreSQL entry is durable but in no checkpoint; a SQLite entry is
//!   in one as soon as intake returns.
//! - [`Engine::signed_checkpoint`] and [`Engine::tile`] are what the log publishes: the tiles
//!   of every signed checkpoint give its root and hold its entries.
//! - [`Engine::tally`] equals the tally re-derived from the stored notes.
//! - A failed intake loses nothing acknowledged. What follows differs, by design: the SQLite
//!   store refuses more intake until it is reopened (its history in memory may be ahead of the
//!   database), while a PostgreSQL node goes on with the next batch (it reads the stations'
//!   state from the database in every batch's transaction, and the failed one rolled back).

use urna_model::definition::{ContestIdx, Election};
use urna_tlog::tile::Tile;

use crate::audit::{AuditOutcome, AuditRefusal};
use crate::{Clock, EntryRow, IngestOptions, Outcome, Store, StoreError, TallyReport};

/// A storage engine: intake, the stored entries, and the log over them.
pub trait Engine {
    /// Why an operation failed: the engine's own error (it names the entry and the rule as
    /// the SQLite store's [`StoreError`] does).
    type Error: std::error::Error + Send + Sync + 'static;

    /// The election the engine stores.
    fn election(&self) -> &Election;

    /// Ingests `notes` as one batch: one outcome per note, in input order, given only after
    /// every stored note of the batch is durable.
    ///
    /// # Errors
    /// The engine's error if storage fails; then no outcome of the batch was given.
    fn ingest_batch(
        &mut self,
        notes: &[Vec<u8>],
        clock: &dyn Clock,
    ) -> Result<Vec<Outcome>, Self::Error>;

    /// The number of entries stored (the next log index).
    ///
    /// # Errors
    /// The engine's error if storage fails.
    fn entry_count(&mut self) -> Result<u64, Self::Error>;

    /// The entry at `index`, if stored; whether it is quarantined is derived from its note.
    ///
    /// # Errors
    /// The engine's error if storage fails or the row disagrees with its note.
    fn entry_at(&mut self, index: u64) -> Result<Option<EntryRow>, Self::Error>;

    /// The current entry (highest revision) of a station, if it has one.
    ///
    /// # Errors
    /// As [`Engine::entry_at`].
    fn current_entry(&mut self, station: &str) -> Result<Option<EntryRow>, Self::Error>;

    /// Makes every entry stored so far part of a signed checkpoint (appends it to the tree,
    /// writes its tiles, signs) and returns that checkpoint note.
    ///
    /// # Errors
    /// The engine's error if storage fails or the engine may not sequence (another node holds
    /// the sequencer's lease).
    fn sequence(&mut self) -> Result<Vec<u8>, Self::Error>;

    /// The latest checkpoint the log signed, if any (not necessarily cosigned by witnesses).
    ///
    /// # Errors
    /// The engine's error if storage fails.
    fn signed_checkpoint(&mut self) -> Result<Option<Vec<u8>>, Self::Error>;

    /// A tile of the log, if written.
    ///
    /// # Errors
    /// The engine's error if storage fails.
    fn tile(&mut self, tile: &Tile) -> Result<Option<Vec<u8>>, Self::Error>;

    /// A signed `urna/receipt/v1` for entry `index` with note hash `hash`.
    fn receipt(&self, index: u64, hash: &[u8; 32], time_ms: u64) -> Vec<u8>;

    /// Totals, quarantine list and warnings of a contest, as the stored notes give them.
    ///
    /// # Errors
    /// The engine's error if storage fails, a stored note no longer parses, or a total
    /// overflows.
    fn tally(&mut self, contest: ContestIdx) -> Result<TallyReport, Self::Error>;

    /// Takes an `urna/audit/v1` note through the audit's intake rule, the same on every
    /// engine ([`crate::audit::admit_audit`]): a note already stored is a duplicate; one that
    /// follows the audit so far is stored as the next entry, durable when this returns; any
    /// other is refused (the inner `Err`, naming the field and the rule), nothing stored.
    ///
    /// # Errors
    /// The engine's error if storage fails.
    fn audit(&mut self, note: &[u8]) -> Result<Result<AuditOutcome, AuditRefusal>, Self::Error>;
}

impl Engine for Store {
    type Error = StoreError;

    fn election(&self) -> &Election {
        Self::election(self)
    }

    fn ingest_batch(
        &mut self,
        notes: &[Vec<u8>],
        clock: &dyn Clock,
    ) -> Result<Vec<Outcome>, StoreError> {
        let mut outcomes = Vec::with_capacity(notes.len());
        self.ingest(
            notes.iter().cloned().map(Ok),
            &IngestOptions::default(),
            clock,
            |ack| outcomes.push(ack.outcome.clone()),
        )?;
        Ok(outcomes)
    }

    fn entry_count(&mut self) -> Result<u64, StoreError> {
        Ok(self.len())
    }

    fn entry_at(&mut self, index: u64) -> Result<Option<EntryRow>, StoreError> {
        self.entry(index)
    }

    fn current_entry(&mut self, station: &str) -> Result<Option<EntryRow>, StoreError> {
        self.current_entry_of(station)
    }

    fn sequence(&mut self) -> Result<Vec<u8>, StoreError> {
        self.sequence_stored()
    }

    fn signed_checkpoint(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        crate::log::read_latest(self.dir())
    }

    fn tile(&mut self, tile: &Tile) -> Result<Option<Vec<u8>>, StoreError> {
        let dir = self.dir().join(crate::log::LOG_DIR);
        urna_tlog::TileDir::open(&dir)
            .and_then(|tiles| tiles.read(tile))
            .map_err(|e| StoreError::Log(e.to_string()))
    }

    fn receipt(&self, index: u64, hash: &[u8; 32], time_ms: u64) -> Vec<u8> {
        Self::receipt(self, index, hash, time_ms)
    }

    fn tally(&mut self, contest: ContestIdx) -> Result<TallyReport, StoreError> {
        Self::tally(self, contest)
    }

    fn audit(&mut self, note: &[u8]) -> Result<Result<AuditOutcome, AuditRefusal>, StoreError> {
        if let Some(index) = self.audit_entry_of(note)? {
            return Ok(Ok(AuditOutcome::Duplicate(index)));
        }
        match self.append_audit(note) {
            Ok(index) => Ok(Ok(AuditOutcome::Stored(index))),
            Err(AuditRefusal::Store(e)) => Err(e),
            Err(refused) => Ok(Err(refused)),
        }
    }
}
