//! Risk-limiting audits on PostgreSQL: intake of `urna/audit/v1` notes, as the SQLite store
//! takes them (`urna_store::audit`), with the same code.
//!
//! An audit note is an entry like a protocol: a row of table `entries` (its `contest`, an
//! empty `station`, revision 0, status 0), given the next index under the `intake_head` lock
//! and sequenced into the same log by the sequencer, so every node's bundle and `urna publish
//! --store` publish it (`v1/audit.json`) and `urna verify` replays it.
//!
//! - **Intake** ([`PgStore::append_audit`]): one transaction holds the `intake_head` row (so
//!   no node stores an entry meanwhile), answers a note already stored as a duplicate, replays
//!   every stored audit note ([`urna_store::audit::replay_trail`]) and admits the new one
//!   after them ([`urna_store::audit::admit_audit`]): the SQLite store's rule, refusals and
//!   messages. The row commits before the caller answers; a refused note stores nothing.
//! - **Checked at open** (`check_trail`, called by [`PgStore::open`]): the whole trail is
//!   replayed as intake admits it, so a note added or edited outside urna that does not follow
//!   refuses the open, naming its entry and the rule, as on SQLite.
//!
//! The log the trail is checked against (`TxView`): the roots of its prefixes from the tree
//! the open rebuilt, or at intake from table `tiles` (what the sequencer signed) and, past the
//! signed size, from the entries themselves; the audited results replayed from table
//! `entries` by `urna_tally`'s replay, as on SQLite.

use std::cell::RefCell;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{GenericClient, Transaction};
use urna_audit::trail::{LogView, Trail};
use urna_model::definition::Election;
use urna_model::intake::sha256;
use urna_store::audit::{AuditRefusal, admit_audit, replay_trail};
use urna_store::log::LogTree;
use urna_tally::public::Replay;
use urna_tlog::{Clock, TileHashReader, TreeSize};

use crate::witnesses::TableTiles;
use crate::{PgError, PgStore, from_sql, to_sql};

/// What became of an audit note sent to [`PgStore::append_audit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditIntake {
    /// Stored (committed) as the entry at `index`, received at `time_ms` (the node's clock).
    Stored {
        /// Its log index.
        index: u64,
        /// When it was stored, Unix milliseconds (`received_ms`, the receipt's time).
        time_ms: u64,
    },
    /// Already stored, with these bytes, as the entry at `index`; nothing new stored.
    Duplicate {
        /// The stored entry's index.
        index: u64,
    },
}

/// Why an audit note was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PgAuditError {
    /// Refused by the audit's intake rule (malformed, not of this election, not signed by an
    /// authority over it, or not following the audit so far), as the SQLite store refuses it.
    #[error("{0}")]
    Refused(AuditRefusal),
    /// The database failed, or a stored row does not check: nothing was stored.
    #[error(transparent)]
    Db(#[from] PgError),
}

impl From<postgres::Error> for PgAuditError {
    fn from(e: postgres::Error) -> Self {
        Self::Db(e.into())
    }
}

/// Where the roots of the log's prefixes come from.
enum Roots<'a> {
    /// The tree an open rebuilt from every entry.
    Tree(&'a LogTree),
    /// Table `tiles` up to the signed size; past it, the entries (hashed on demand).
    Tiles {
        /// Size of the last checkpoint signed.
        signed: u64,
    },
}

/// The log as one transaction sees it: the first `size` entries.
struct TxView<'a, 't> {
    tx: RefCell<&'a mut Transaction<'t>>,
    election: &'a Election,
    roots: Roots<'a>,
    /// Entries the log holds in this view.
    size: u64,
}

impl TxView<'_, '_> {
    fn notes(
        &self,
        size: u64,
        mut each: impl FnMut(u64, &[u8]) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut tx = self.tx.borrow_mut();
        let mut rows = tx
            .query_raw(
                "SELECT idx, note FROM entries WHERE idx < $1 ORDER BY idx",
                [to_sql(size)],
            )
            .map_err(|e| PgError::from(e).to_string())?;
        let mut want = 0u64;
        while let Some(row) = rows.next().map_err(|e| PgError::from(e).to_string())? {
            let (idx, note): (i64, Vec<u8>) = (
                row.try_get(0).map_err(|e| e.to_string())?,
                row.try_get(1).map_err(|e| e.to_string())?,
            );
            if from_sql(idx) != want {
                return Err(format!("table `entries` holds no entry {want}"));
            }
            each(want, &note)?;
            want += 1;
        }
        if want < size {
            return Err(format!("table `entries` holds no entry {want}"));
        }
        Ok(())
    }
}

impl LogView for TxView<'_, '_> {
    fn root(&self, size: u64) -> Option<[u8; 32]> {
        if size > self.size {
            return None;
        }
        match &self.roots {
            Roots::Tree(tree) => tree.root_at(size).ok().map(|h| h.0),
            Roots::Tiles { signed } if size <= *signed => {
                let mut tx = self.tx.borrow_mut();
                let tiles = TableTiles(RefCell::new(&mut **tx));
                let reader = TileHashReader::new(&tiles, TreeSize(*signed));
                urna_tlog::storage::root_at(&reader, TreeSize(size))
                    .ok()
                    .map(|h| h.0)
            }
            Roots::Tiles { .. } => {
                // Entries stored but not sequenced yet: their root, hashed here.
                let mut tree = LogTree::new();
                self.notes(size, |index, note| {
                    tree.append(index, std::iter::once(note.to_vec()))
                        .map_err(|e| e.to_string())
                })
                .ok()?;
                tree.root_at(size).ok().map(|h| h.0)
            }
        }
    }

    /// The results replayed from the first `size` entries as table `entries` holds them now,
    /// which must hash to the root the log signed over the part of them a checkpoint covers:
    /// a row rewritten behind the open node (even with a note its own station signed) is
    /// refused, not replayed as the results an audit step is checked against. (An open's
    /// view rebuilt its tree from these very rows in the same transaction.)
    fn replay(&self, size: u64) -> Result<Replay, String> {
        let e = self.election;
        let mut replay = Replay::new(e).map_err(|err| format!("replay: {err}"))?;
        let signed = match self.roots {
            Roots::Tree(_) => 0,
            Roots::Tiles { signed } => signed.min(size),
        };
        let mut tree = LogTree::new();
        self.notes(size, |index, note| {
            if index < signed {
                tree.append(index, std::iter::once(note.to_vec()))
                    .map_err(|err| err.to_string())?;
            }
            replay
                .apply(e, index, note)
                .map_err(|err| format!("entry {index}: {err}"))
        })?;
        if signed > 0 && tree.root_at(signed).ok().map(|h| h.0) != self.root(signed) {
            return Err(format!(
                "table `entries` does not hash to the root the log signed at {signed} entries: the database was edited outside urna"
            ));
        }
        Ok(replay)
    }
}

/// The stored audit notes (index, bytes), in log order.
fn stored_audits(client: &mut impl GenericClient) -> Result<Vec<(u64, Vec<u8>)>, PgError> {
    Ok(client
        .query(
            "SELECT idx, note FROM entries WHERE idx > 0 AND station = '' \
             AND substring(note FROM 1 FOR 14) = $1 ORDER BY idx",
            &[&b"urna/audit/v1\n".as_slice()],
        )?
        .into_iter()
        .map(|r| (from_sql(r.get(0)), r.get(1)))
        .collect())
}

/// The check of the audit trail at open: every stored audit note replayed as intake admits it
/// ([`replay_trail`]), against `tree` (the tree the open rebuilt from all `count` entries).
///
/// # Errors
/// [`PgError::Store`] ([`urna_store::StoreError::Inadmissible`]) naming the first entry that
/// does not follow, with the rule; [`PgError::Db`].
pub(crate) fn check_trail(
    tx: &mut Transaction<'_>,
    election: &Election,
    tree: &LogTree,
) -> Result<(), PgError> {
    let audits = stored_audits(tx)?;
    if audits.is_empty() {
        return Ok(());
    }
    let view = TxView {
        size: tree.size(),
        tx: RefCell::new(tx),
        election,
        roots: Roots::Tree(tree),
    };
    replay_trail(election, audits, &view)?;
    Ok(())
}

impl PgStore {
    /// Takes an `urna/audit/v1` note as the SQLite store's intake does
    /// (`urna_store::Store::append_audit`, the same rule and refusals): in one transaction
    /// that holds the `intake_head` row, a note already stored is a duplicate; otherwise it
    /// must follow every audit note stored before it ([`admit_audit`]), and it is stored as
    /// the next entry, committed before this returns. The sequencer (of any node) puts it in
    /// the log with the entries around it.
    ///
    /// # Errors
    /// [`PgAuditError::Refused`] naming the field and the rule (nothing stored);
    /// [`PgAuditError::Db`] if the database fails (nothing stored, or, if the connection broke
    /// during the commit, stored without an answer: a resend is answered as a duplicate).
    pub fn append_audit(
        &mut self,
        bytes: &[u8],
        clock: &dyn Clock,
    ) -> Result<AuditIntake, PgAuditError> {
        let election = &self.election;
        let mut tx = self.client.transaction()?;
        let next: i64 = tx
            .query_one("SELECT next_idx FROM intake_head FOR UPDATE", &[])?
            .get(0);
        let index = from_sql(next);
        if let Some(row) = tx.query_opt(
            "SELECT idx FROM entries WHERE hash = $1",
            &[&sha256(bytes).as_slice()],
        )? {
            return Ok(AuditIntake::Duplicate {
                index: from_sql(row.get(0)),
            });
        }
        // The envelope, body and signer first: a malformed note is refused as such.
        urna_model::audit::check(election, bytes)
            .map_err(|e| PgAuditError::Refused(AuditRefusal::Note(e)))?;
        let signed: i64 = tx.query_one("SELECT size FROM sequencer", &[])?.get(0);
        let audits = stored_audits(&mut tx)?;
        let row = {
            let view = TxView {
                tx: RefCell::new(&mut tx),
                election,
                roots: Roots::Tiles {
                    signed: from_sql(signed),
                },
                size: index,
            };
            let mut trail: Trail = replay_trail(election, audits, &view).map_err(PgError::from)?;
            admit_audit(election, &mut trail, index, bytes, &view).map_err(|r| match r {
                AuditRefusal::Store(e) => PgAuditError::Db(e.into()),
                r => PgAuditError::Refused(r),
            })?
        };
        let now = clock.now_ms();
        tx.execute(
            "INSERT INTO entries (idx, hash, text_hash, contest, station, revision, status, received_ms, note) \
             VALUES ($1, $2, $3, $4, '', 0, 0, $5, $6)",
            &[
                &to_sql(index),
                &row.hash.as_slice(),
                &row.text_hash.as_slice(),
                &row.contest,
                &to_sql(now),
                &bytes,
            ],
        )?;
        tx.execute(
            "UPDATE intake_head SET next_idx = $1",
            &[&to_sql(index + 1)],
        )?;
        tx.commit()?;
        Ok(AuditIntake::Stored {
            index,
            time_ms: now,
        })
    }
}
