//! Risk-limiting audits in the log: intake of `urna/audit/v1` notes.
//!
//! An audit note is an entry like a protocol: stored in `entries` (its `contest`, an empty
//! `station`, revision 0, status 0) and sequenced into the same transparency log, so the
//! audit's parameters, seed, samples, hand counts and verdicts are as public and as immutable
//! as the results they audit. It does not change the tally.
//!
//! Intake ([`Store::append_audit`]) checks the envelope, the body and the signer
//! (`urna_model::audit::check`: an authority over the whole election), then replays every audit
//! note already stored through `urna_audit::trail` and admits the new one after them: it must
//! follow (start, seed, samples drawn from the seed, counts of sampled stations, verdicts that
//! the counts give). A refused note is not stored.
//!
//! At open the rows of audit notes are checked against their notes like every row (columns
//! re-derived), and the whole trail is replayed as intake admits it (signer included) before
//! anything is sequenced: a note added or edited outside urna that does not follow refuses the
//! open, naming its entry and the rule. `urna verify` replays the same trail from the log.
//!
//! Both engines call the same two functions ([`replay_trail`] at open and before each
//! admission, [`admit_audit`] for the note sent), so the PostgreSQL store (`urna_pg::audit`)
//! takes and refuses exactly the notes this store does; each engine gives its own
//! [`LogView`] (roots of the log's prefixes, results replayed from its entries).

use rusqlite::params;
use urna_audit::trail::{LogView, Trail, TrailError};
use urna_model::audit::{AuditNoteError, bind, check, is_audit};
use urna_model::definition::Election;
use urna_model::intake::sha256;
use urna_model::note::Note;
use urna_tally::public::Replay;
use urna_tlog::Clock as _;

use crate::{Store, StoreError, SystemClock, to_sql};

/// Why an audit note was not stored.
#[derive(Debug, thiserror::Error)]
pub enum AuditRefusal {
    /// Malformed, not of this election, or not signed by an authority over it.
    #[error("{0}")]
    Note(#[from] AuditNoteError),
    /// It does not follow the audit's notes before it.
    #[error("{0}")]
    Trail(#[from] TrailError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Hash, text hash and contest id of a stored audit note (for the columns checked at open).
pub(crate) fn derive(e: &Election, bytes: &[u8]) -> Result<([u8; 32], [u8; 32], String), String> {
    let note = Note::parse(bytes).map_err(|err| err.to_string())?;
    let bound = bind(e, note.text()).map_err(|err| format!("audit note: {err}"))?;
    Ok((
        sha256(bytes),
        sha256(note.text().as_bytes()),
        bound.body.contest,
    ))
}

/// What became of an audit note taken by an engine ([`crate::Engine::audit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    /// Stored as the entry at this index.
    Stored(u64),
    /// Already stored, with these bytes, as the entry at this index; nothing new stored.
    Duplicate(u64),
}

/// The columns of an audit note's row in table `entries`, as intake stores them (station
/// `''`, revision 0, status 0; checked again at open by `derive`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// SHA-256 of the note's bytes.
    pub hash: [u8; 32],
    /// SHA-256 of the note's text.
    pub text_hash: [u8; 32],
    /// The audited contest's id.
    pub contest: String,
}

/// The audit trail replayed from the stored audit entries `stored` (index and note bytes, in
/// log order; notes that are not audit notes are skipped), each admitted as intake admits it:
/// signer checked, then [`Trail::admit`] against `view`.
///
/// # Errors
/// [`StoreError::Inadmissible`] naming the first entry that no longer follows (a row added or
/// edited outside urna), with the rule.
pub fn replay_trail(
    e: &Election,
    stored: impl IntoIterator<Item = (u64, Vec<u8>)>,
    view: &dyn LogView,
) -> Result<Trail, StoreError> {
    let mut trail = Trail::default();
    for (index, bytes) in stored {
        if !is_audit(&bytes) {
            continue;
        }
        let inadmissible = |reason: String| StoreError::Inadmissible { index, reason };
        let bound = check(e, &bytes).map_err(|err| inadmissible(err.to_string()))?;
        trail
            .admit(e, index, &bound, view)
            .map_err(|err| inadmissible(format!("audit {} note: {err}", bound.body.step.kind())))?;
    }
    Ok(trail)
}

/// The intake rule of an audit note, the same on every engine: `bytes` must be a well-formed
/// `urna/audit/v1` note of this election signed by an authority over it, and follow `trail`
/// (the audit notes stored so far, [`replay_trail`]) as the entry at `index` of the log that
/// `view` shows. Returns the columns of the row to store; the caller stores it at `index` and
/// sequences it. A refused note is not stored.
///
/// # Errors
/// [`AuditRefusal::Note`] or [`AuditRefusal::Trail`], naming the field and the rule.
pub fn admit_audit(
    e: &Election,
    trail: &mut Trail,
    index: u64,
    bytes: &[u8],
    view: &dyn LogView,
) -> Result<AuditRow, AuditRefusal> {
    let note = check(e, bytes)?;
    trail.admit(e, index, &note, view)?;
    let text = Note::parse(bytes)
        .map_err(|err| AuditRefusal::Note(AuditNoteError::Malformed(err.to_string())))?;
    Ok(AuditRow {
        hash: sha256(bytes),
        text_hash: sha256(text.text().as_bytes()),
        contest: e.contests[note.contest.0 as usize].id.clone(),
    })
}

pub(crate) struct View<'a>(pub(crate) &'a Store);

impl LogView for View<'_> {
    fn root(&self, size: u64) -> Option<[u8; 32]> {
        if size > self.0.len() {
            return None;
        }
        self.0.log_root(size).ok().map(|h| h.0)
    }

    fn replay(&self, size: u64) -> Result<Replay, String> {
        self.0.replay_upto(size).map_err(|e| e.to_string())
    }
}

impl Store {
    /// The results replayed from the first `size` entries (genesis, protocols, amendments;
    /// audit notes change nothing), which must hash to the log's root at `size`: table
    /// `entries` is read again here, and a row rewritten behind the open store (by another
    /// process) is refused rather than replayed as results that the log's root, kept in
    /// memory since the open, does not cover.
    ///
    /// # Errors
    /// [`StoreError`] if an entry does not replay, or [`StoreError::Log`] if the entries do
    /// not hash to the log's root.
    pub fn replay_upto(&self, size: u64) -> Result<Replay, StoreError> {
        let e = &self.election;
        let mut replay =
            Replay::new(e).map_err(|err| StoreError::Setup(format!("replay: {err}")))?;
        let mut tree = urna_tlog::tree::Tree::new();
        let mut finished = Vec::new();
        let mut stmt = self
            .conn
            .prepare("SELECT idx, note FROM entries WHERE idx < ?1 ORDER BY idx")?;
        let mut rows = stmt.query(params![to_sql(size)])?;
        while let Some(r) = rows.next()? {
            let index: i64 = r.get(0)?;
            let note: Vec<u8> = r.get(1)?;
            finished.clear();
            tree.append(urna_tlog::hash::leaf_hash(&note), &mut finished)
                .map_err(|err| StoreError::Log(err.to_string()))?;
            replay
                .apply(e, crate::sql_u64(index), &note)
                .map_err(|err| StoreError::Corrupt {
                    index: crate::sql_u64(index),
                    reason: err.to_string(),
                })?;
        }
        if tree.size().0 != size || tree.root() != self.log_root(size)? {
            return Err(StoreError::Log(format!(
                "the stored entries do not hash to the log's root at {size} entries: table `entries` was changed behind the open store"
            )));
        }
        Ok(replay)
    }

    /// Every audit in the log, replayed from its stored notes.
    ///
    /// # Errors
    /// [`StoreError::Inadmissible`] if a stored audit note no longer follows the ones before
    /// it (the database was edited outside urna).
    pub fn audit_trail(&self) -> Result<Trail, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT idx, note FROM entries WHERE idx > 0 AND station = '' ORDER BY idx")?;
        let rows: Vec<(i64, Vec<u8>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        replay_trail(
            &self.election,
            rows.into_iter()
                .map(|(index, bytes)| (crate::sql_u64(index), bytes)),
            &View(self),
        )
    }

    /// The index of an audit entry whose note is exactly `bytes`, if one is stored (a note
    /// sent again, e.g. by a client retrying after a lost answer).
    ///
    /// # Errors
    /// [`StoreError`] if the database cannot be read.
    pub fn audit_entry_of(&self, bytes: &[u8]) -> Result<Option<u64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT idx FROM entries WHERE idx > 0 AND station = '' AND hash = ?1")?;
        let mut rows = stmt.query(params![sha256(bytes).as_slice()])?;
        Ok(match rows.next()? {
            Some(r) => Some(crate::sql_u64(r.get(0)?)),
            None => None,
        })
    }

    /// Checks an `urna/audit/v1` note and, if it follows the audit so far, stores it as the
    /// next entry and sequences it into the log (a new checkpoint is signed). Returns its index.
    ///
    /// # Errors
    /// [`AuditRefusal`] naming the field and the rule; nothing is stored.
    pub fn append_audit(&mut self, bytes: &[u8]) -> Result<u64, AuditRefusal> {
        if self.poisoned {
            return Err(StoreError::Setup(
                "an earlier intake failed part-way; reopen the data directory".into(),
            )
            .into());
        }
        // The envelope, body and signer first: a malformed note is refused as such, whatever
        // the trail holds.
        check(&self.election, bytes)?;
        let index = self.next_index;
        let mut trail = self.audit_trail()?;
        let row = admit_audit(&self.election, &mut trail, index, bytes, &View(self))?;
        self.conn.execute(
            "INSERT INTO entries (idx, hash, text_hash, contest, station, revision, status, received_ms, note) \
             VALUES (?1, ?2, ?3, ?4, '', 0, 0, ?5, ?6)",
            params![
                to_sql(index),
                row.hash.as_slice(),
                row.text_hash.as_slice(),
                row.contest,
                to_sql(SystemClock.now_ms()),
                bytes
            ],
        )
        .map_err(StoreError::from)?;
        self.next_index += 1;
        // The row is durable; if sequencing fails it is sequenced at the next open.
        let sequenced = self
            .log
            .append(index, std::iter::once(bytes))
            .and_then(|()| self.log.flush().map(|_| ()));
        if let Err(err) = sequenced {
            self.poisoned = true;
            return Err(err.into());
        }
        Ok(index)
    }
}
