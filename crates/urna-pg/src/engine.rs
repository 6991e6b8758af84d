//! The PostgreSQL store as an [`Engine`]: a [`PgStore`] for intake and reads, and the
//! [`PgSequencer`] it holds, so that [`Engine::sequence`] is one sequencing step of the node
//! holding the lease. The conformance suite (`urna_store::conformance`) runs on it in
//! `cargo test -p urna-pg`.
//!
//! A node of `urna serve` does not use it: there intake and sequencing run on threads of their
//! own, and a node that does not hold the lease still takes intake. `PgEngine` is the one-node
//! view: the store with the right to sequence.

use std::path::Path;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use urna_model::definition::{ContestIdx, Election};
use urna_model::note::NoteSigner;
use urna_store::audit::{AuditOutcome, AuditRefusal};
use urna_store::{
    Clock, Engine, EntryRow, Outcome, StoreError, TallyReport, check_entry, rederive_tally_from,
};
use urna_tlog::tile::Tile;

use crate::audit::{AuditIntake, PgAuditError};
use crate::intake::read_revocations;
use crate::{PgError, PgSequencer, PgStore, from_sql, to_sql};

/// A PostgreSQL store with the sequencer's lease: the [`Engine`] of one node.
#[derive(Debug)]
pub struct PgEngine {
    store: PgStore,
    sequencer: PgSequencer,
}

impl PgEngine {
    /// An engine of `store` sequencing with `sequencer` (a lease on the same database).
    pub fn new(store: PgStore, sequencer: PgSequencer) -> Self {
        Self { store, sequencer }
    }

    /// Opens the store at `url` ([`PgStore::open`], every row checked) and takes the
    /// sequencer's lease for `holder`.
    ///
    /// # Errors
    /// As [`PgStore::open`] and [`PgSequencer::acquire`]; [`PgError::Setup`] if another node
    /// holds the lease.
    pub fn open(
        url: &str,
        definition: &Path,
        signer: NoteSigner,
        holder: &str,
        lease: Duration,
    ) -> Result<Self, PgError> {
        let store = PgStore::open(url, definition, signer.clone())?;
        let sequencer = PgSequencer::acquire(url, signer, holder, lease)?.ok_or_else(|| {
            PgError::Setup(
                "another node holds the sequencer's lease; this engine cannot sequence".into(),
            )
        })?;
        Ok(Self::new(store, sequencer))
    }

    /// The store, for what only PostgreSQL does.
    pub fn store(&mut self) -> &mut PgStore {
        &mut self.store
    }

    /// Closes the engine, giving the sequencer's lease up so that another node (or the next
    /// open) takes it at once.
    ///
    /// # Errors
    /// [`PgError::Db`].
    pub fn close(self) -> Result<(), PgError> {
        self.sequencer.release()
    }
}

impl Engine for PgEngine {
    type Error = PgError;

    fn election(&self) -> &Election {
        self.store.election()
    }

    fn ingest_batch(
        &mut self,
        notes: &[Vec<u8>],
        clock: &dyn Clock,
    ) -> Result<Vec<Outcome>, PgError> {
        self.store.ingest(notes, clock)
    }

    fn entry_count(&mut self) -> Result<u64, PgError> {
        self.store.entries()
    }

    fn entry_at(&mut self, index: u64) -> Result<Option<EntryRow>, PgError> {
        self.store.entry(index)
    }

    fn current_entry(&mut self, station: &str) -> Result<Option<EntryRow>, PgError> {
        self.store.current_entry_of(station)
    }

    fn sequence(&mut self) -> Result<Vec<u8>, PgError> {
        if let Some(note) = self.sequencer.step()? {
            return Ok(note);
        }
        self.store.latest_checkpoint()?.ok_or_else(|| {
            PgError::Setup("table `sequencer` holds no checkpoint after sequencing".into())
        })
    }

    fn signed_checkpoint(&mut self) -> Result<Option<Vec<u8>>, PgError> {
        self.store.latest_checkpoint()
    }

    fn tile(&mut self, tile: &Tile) -> Result<Option<Vec<u8>>, PgError> {
        self.store.tile(&tile.path())
    }

    fn receipt(&self, index: u64, hash: &[u8; 32], time_ms: u64) -> Vec<u8> {
        self.store.receipt(index, hash, time_ms)
    }

    fn tally(&mut self, contest: ContestIdx) -> Result<TallyReport, PgError> {
        self.store.tally(contest)
    }

    fn audit(&mut self, note: &[u8]) -> Result<Result<AuditOutcome, AuditRefusal>, PgError> {
        match self.store.append_audit(note, &urna_store::SystemClock) {
            Ok(AuditIntake::Stored { index, .. }) => Ok(Ok(AuditOutcome::Stored(index))),
            Ok(AuditIntake::Duplicate { index }) => Ok(Ok(AuditOutcome::Duplicate(index))),
            Err(PgAuditError::Refused(refused)) => Ok(Err(refused)),
            Err(PgAuditError::Db(e)) => Err(e),
        }
    }
}

/// The columns [`PgStore::entry`] reads, in [`entry_row`]'s order.
const ENTRY_COLUMNS: &str = "idx, hash, station, revision, status, note";

fn entry_row(r: &postgres::Row) -> Result<(EntryRow, i64), PgError> {
    let hash: Vec<u8> = r.try_get(1)?;
    let index = from_sql(r.try_get(0)?);
    let revision: i64 = r.try_get(3)?;
    let status: i16 = r.try_get(4)?;
    Ok((
        EntryRow {
            index,
            hash: crate::hash32("entries", &format!("entry {index}"), &hash)?,
            station: r.try_get(2)?,
            revision: u32::try_from(revision).map_err(|_| StoreError::Column {
                index,
                column: "revision",
                stored: revision.to_string(),
                derived: "a revision below 2^32".into(),
            })?,
            quarantined: false,
            note: r.try_get(5)?,
        },
        i64::from(status),
    ))
}

impl PgStore {
    /// The entry at `index`, if stored; whether it is quarantined is derived from its note
    /// (against the stored revocations) and checked against the `status` column, as the
    /// SQLite store's `Store::entry` does.
    ///
    /// # Errors
    /// [`PgError::Db`]; [`PgError::Store`] if the note no longer parses or `status` disagrees
    /// with it.
    pub fn entry(&mut self, index: u64) -> Result<Option<EntryRow>, PgError> {
        let row = self.client.query_opt(
            &format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE idx = $1"),
            &[&to_sql(index)],
        )?;
        self.checked(row)
    }

    /// The current entry (highest revision) of a station, if it has one, checked as
    /// [`PgStore::entry`].
    ///
    /// # Errors
    /// As [`PgStore::entry`].
    pub fn current_entry_of(&mut self, station: &str) -> Result<Option<EntryRow>, PgError> {
        let row = self.client.query_opt(
            &format!(
                "SELECT {ENTRY_COLUMNS} FROM entries WHERE station = $1 \
                 ORDER BY revision DESC, idx LIMIT 1"
            ),
            &[&station],
        )?;
        self.checked(row)
    }

    fn checked(&mut self, row: Option<postgres::Row>) -> Result<Option<EntryRow>, PgError> {
        let Some(row) = row else { return Ok(None) };
        let (row, status) = entry_row(&row)?;
        read_revocations(&mut self.client, &self.election, &mut self.keys)?;
        Ok(Some(check_entry(&self.election, &self.keys, row, status)?))
    }

    /// Totals, quarantine list and warnings of a contest, re-derived from the stored notes in
    /// one snapshot: each station's current note (table `current`) and every decision, parsed
    /// and counted by the same code as the SQLite store's re-derived tally
    /// ([`urna_store::rederive_tally_from`]).
    ///
    /// # Errors
    /// [`PgError::Db`]; [`PgError::Store`] if a stored note no longer parses or a total
    /// overflows.
    pub fn tally(&mut self, contest: ContestIdx) -> Result<TallyReport, PgError> {
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        read_revocations(&mut tx, &self.election, &mut self.keys)?;
        let decisions: Vec<Result<(u64, Vec<u8>), StoreError>> = tx
            .query(
                "SELECT idx, note FROM entries \
                 WHERE revision = 0 AND idx > 0 AND contest <> '' AND station <> '' ORDER BY idx",
                &[],
            )?
            .iter()
            .map(|r| Ok((from_sql(r.get(0)), r.get(1))))
            .collect();
        let mut db_error = None;
        let report = {
            let rows = tx.query_raw(
                "SELECT e.idx, e.note FROM current c JOIN entries e ON e.idx = c.idx ORDER BY e.idx",
                std::iter::empty::<i64>(),
            )?;
            let currents = rows.iterator().map_while(|r| match r {
                Ok(r) => Some(Ok((from_sql(r.get(0)), r.get(1)))),
                Err(e) => {
                    db_error = Some(e);
                    None
                }
            });
            rederive_tally_from(&self.election, &self.keys, decisions, currents, contest)
        };
        if let Some(e) = db_error {
            return Err(e.into());
        }
        let report = report?;
        tx.commit()?;
        Ok(report)
    }
}
