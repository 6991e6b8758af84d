//! Bulk intake: a reader, a pool of checkers, and one writer.
//!
//! ```text
//! notes ─► reader ─► chunks ─► checker × N (parse, bind, validate, verify Ed25519 strictly)
//!                                   └─► writer (in input order): admit → INSERT → COMMIT → acks
//! ```
//! Checking is stateless and runs on every core; admitting needs the history and runs on the
//! single writer, which also owns the SQLite connection. The writer commits whenever no checked
//! chunk is waiting (group commit), so a lone note is acknowledged at once and a bulk load
//! commits in large transactions. Results of a chunk are reported only after the commit that
//! holds them, so an acknowledgment is never given for something not yet durable.
//!
//! Revocations (`urna/revocation/v1`): the checkers check one on its own
//! ([`check_revocation`]) and every station signature against the station keys as the intake
//! started; the writer admits the revocation into the keys at its index
//! ([`MemoryHistory::admit_revocation`]) and stores it like a decision (its station, no
//! contest, revision 0). A note of a station that a revocation admitted during this intake
//! touched (and any refused note, once one was admitted) is checked again by the writer against
//! the keys as they stand before the note's index, so its verdict does not depend on how the
//! notes were chunked.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::params;
use urna_model::definition::{Election, StationIdx};
use urna_model::intake::{
    Rejection, Revocation, StationKeys, Submission, Verdict, admit, check_batch_keyed, check_keyed,
    check_revocation,
};

use crate::live::Live;
use crate::log::{Sequenced, Sequencer};
use crate::{Clock, MemoryHistory, Store, StoreError};

/// Tuning of the bulk intake.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Checker threads; defaults to the number of cores.
    pub workers: usize,
    /// Notes per checked chunk (one unit of work for a checker).
    pub chunk: usize,
    /// Most rows in one transaction.
    pub commit_every: usize,
    /// Longest time between checkpoints while entries arrive (C2SP logs sequence about every
    /// second).
    pub sequence_every: Duration,
    /// Most entries in one checkpoint interval.
    pub sequence_max_entries: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(2, usize::from),
            chunk: 512,
            commit_every: 16_384,
            sequence_every: Duration::from_secs(1),
            sequence_max_entries: 1 << 18,
        }
    }
}

/// What happened to one submitted note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored durably at this log index, accepted or quarantined.
    Stored {
        /// Log index.
        index: u64,
        /// Accepted or quarantined.
        verdict: Verdict,
    },
    /// Already held; nothing changed.
    Duplicate {
        /// Log index of the entry that holds it: the identical note, or the station's current
        /// entry when the same protocol text was stored with other signature bytes.
        index: u64,
        /// SHA-256 of that entry's note bytes.
        hash: [u8; 32],
    },
    /// Refused; nothing stored.
    Rejected(Rejection),
}

/// One result, reported in input order once it is durable.
#[derive(Debug)]
pub struct Ack<'a> {
    /// Position of the note in the input (0-based).
    pub position: u64,
    /// The note's submission, when it was authentic.
    pub submission: Option<&'a Submission>,
    /// The station's id, when the note was authentic.
    pub station: Option<&'a str>,
    /// SHA-256 of the note bytes, when the note was authentic (a revocation has no
    /// [`Submission`], but has a hash).
    pub hash: Option<[u8; 32]>,
    /// What happened.
    pub outcome: &'a Outcome,
}

/// Counts of what a bulk intake did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Notes read.
    pub read: u64,
    /// Stored and counted.
    pub accepted: u64,
    /// Stored and quarantined.
    pub quarantined: u64,
    /// Already held.
    pub duplicates: u64,
    /// Refused.
    pub rejected: u64,
    /// Transactions committed.
    pub commits: u64,
    /// Time from the start of the call to the first durable acknowledgment.
    pub first_ack: Option<Duration>,
    /// Time the checker threads spent checking, added over all threads.
    pub check_busy: Duration,
    /// Time the writer spent admitting, inserting and committing.
    pub write_busy: Duration,
    /// The checkpoints signed during this intake, in order.
    pub checkpoints: Vec<Sequenced>,
    /// Time the sequencer spent hashing leaves, writing tiles and signing checkpoints.
    pub sequence_busy: Duration,
}

/// A checked chunk: its sequence number, the notes, and one result per note.
type Checked = (u64, CheckedChunk);

/// Notes with the stateless check's result for each.
struct CheckedChunk {
    notes: Vec<Vec<u8>>,
    results: Vec<CheckedNote>,
}

/// The stateless check of one note: a revocation is checked apart from the rest.
#[derive(Debug)]
pub enum CheckedNote {
    /// A protocol, amendment or decision ([`check_batch_keyed`]).
    Note(Result<Submission, Rejection>),
    /// An `urna/revocation/v1` ([`check_revocation`]), admitted by the writer.
    Revocation(Result<Revocation, Rejection>),
}

/// Checks a chunk of notes against `keys` (the station keys as the intake started): every
/// note but the revocations with [`check_batch_keyed`], each revocation on its own. The
/// PostgreSQL store's nodes check their batches with it too.
pub fn check_notes(e: &Election, keys: &StationKeys, notes: &[&[u8]]) -> Vec<CheckedNote> {
    let revocation: Vec<bool> = notes.iter().map(|n| crate::is_revocation(n)).collect();
    let others: Vec<&[u8]> = notes
        .iter()
        .zip(&revocation)
        .filter(|(_, r)| !**r)
        .map(|(n, _)| *n)
        .collect();
    let mut checked = check_batch_keyed(e, keys, &others).into_iter();
    notes
        .iter()
        .zip(&revocation)
        .filter_map(|(n, r)| {
            if *r {
                Some(CheckedNote::Revocation(check_revocation(e, n)))
            } else {
                checked.next().map(CheckedNote::Note)
            }
        })
        .collect()
}

/// One item of a streamed intake ([`Store::ingest_feed`]).
#[derive(Debug)]
pub enum Feed {
    /// A note to ingest.
    Note(Vec<u8>),
    /// Nothing more is coming for now: check and commit what was read so far instead of
    /// waiting for a full chunk (a server sends this when its queue runs empty).
    Flush,
}

impl Store {
    /// Ingests notes in order, reporting each result through `on_result` after it is durable.
    ///
    /// A read error stops the intake after everything read before it is committed and
    /// reported, and is returned.
    ///
    /// # Errors
    /// [`StoreError`] if the database fails or the input cannot be read.
    pub fn ingest<I>(
        &mut self,
        notes: I,
        options: &IngestOptions,
        clock: &dyn Clock,
        on_result: impl FnMut(Ack<'_>),
    ) -> Result<IngestReport, StoreError>
    where
        I: Iterator<Item = std::io::Result<Vec<u8>>> + Send,
    {
        self.ingest_feed(notes.map(|n| n.map(Feed::Note)), options, clock, on_result)
    }

    /// [`Store::ingest`] for a stream that may pause: a [`Feed::Flush`] sends the notes read
    /// so far on through the pipeline at once, so a lone note is acknowledged without waiting
    /// for a chunk to fill. The intake runs until the feed ends.
    ///
    /// # Errors
    /// As [`Store::ingest`].
    pub fn ingest_feed<I>(
        &mut self,
        notes: I,
        options: &IngestOptions,
        clock: &dyn Clock,
        mut on_result: impl FnMut(Ack<'_>),
    ) -> Result<IngestReport, StoreError>
    where
        I: Iterator<Item = std::io::Result<Feed>> + Send,
    {
        if self.poisoned {
            return Err(StoreError::Setup(
                "an earlier intake failed part-way; reopen the data directory (nothing acknowledged was lost)".into(),
            ));
        }
        let start = Instant::now();
        let election = &self.election;
        // The checkers judge station signatures by the keys as the intake starts; the writer
        // judges again any note that a revocation admitted since then may change.
        let snapshot = self.history.keys().clone();
        let snapshot = &snapshot;
        let workers = options.workers.max(1);
        let chunk = options.chunk.max(1);
        let (work_tx, work_rx) = sync_channel::<(u64, Vec<Vec<u8>>)>(workers * 2);
        let (done_tx, done_rx) = sync_channel::<Checked>(workers * 2);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let read_error: Mutex<Option<std::io::Error>> = Mutex::new(None);
        let check_busy: Mutex<Duration> = Mutex::new(Duration::ZERO);
        // Set when the writer stops, so a reader waiting on a slow feed stops too (a feed
        // should yield `Feed::Flush` now and then while idle, so the reader sees it).
        let writer_done = AtomicBool::new(false);
        let mut report = IngestReport::default();

        std::thread::scope(|scope| -> Result<(), StoreError> {
            let read_error = &read_error;
            let check_busy = &check_busy;
            let writer_done = &writer_done;
            scope.spawn(move || {
                let mut seq = 0;
                let mut buf = Vec::with_capacity(chunk);
                for item in notes {
                    if writer_done.load(Ordering::Relaxed) {
                        return;
                    }
                    let flush = match item {
                        Ok(Feed::Note(n)) => {
                            buf.push(n);
                            false
                        }
                        Ok(Feed::Flush) => true,
                        Err(e) => {
                            if let Ok(mut slot) = read_error.lock() {
                                *slot = Some(e);
                            }
                            break;
                        }
                    };
                    if buf.len() == chunk || (flush && !buf.is_empty()) {
                        let full = std::mem::replace(&mut buf, Vec::with_capacity(chunk));
                        if work_tx.send((seq, full)).is_err() {
                            return;
                        }
                        seq += 1;
                    }
                }
                if !buf.is_empty() {
                    let _ = work_tx.send((seq, buf));
                }
            });
            for _ in 0..workers {
                let work_rx = Arc::clone(&work_rx);
                let done_tx = done_tx.clone();
                scope.spawn(move || {
                    loop {
                        let next = match work_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok((seq, notes)) = next else { return };
                        let t = Instant::now();
                        let refs: Vec<&[u8]> = notes.iter().map(Vec::as_slice).collect();
                        let results = check_notes(election, snapshot, &refs);
                        if let Ok(mut busy) = check_busy.lock() {
                            *busy += t.elapsed();
                        }
                        if done_tx
                            .send((seq, CheckedChunk { notes, results }))
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
            drop(done_tx);
            let (seq_tx, seq_rx) = sync_channel::<(u64, Vec<Vec<u8>>)>(8);
            let log = &mut self.log;
            let every = options.sequence_every;
            let max_entries = options.sequence_max_entries.max(1);
            let sequencer = scope.spawn(move || sequence_loop(log, &seq_rx, every, max_entries));
            // Only the workers hold the queue's receiver from here on: if they stop, the reader's
            // sends fail instead of blocking forever.
            drop(work_rx);
            let result = write_loop(
                &mut self.conn,
                &mut self.history,
                &mut self.live,
                &mut self.next_index,
                election,
                &done_rx,
                options.commit_every.max(1),
                clock,
                start,
                &mut report,
                &mut on_result,
                &seq_tx,
                snapshot.revocations().count(),
            );
            // Unblock the pipeline if the writer stopped early, and let the sequencer finish.
            writer_done.store(true, Ordering::Relaxed);
            drop(done_rx);
            drop(seq_tx);
            let sequenced = sequencer
                .join()
                .map_err(|_| StoreError::Log("the sequencer thread panicked".into()))?;
            if result.is_err() {
                // Whatever was not committed is gone from the database but not from the
                // in-memory history and tally: refuse further intake until a reopen.
                let _ = self.conn.execute_batch("ROLLBACK");
                self.poisoned = true;
            }
            // The sequencer's own error says more than the writer's report that it stopped.
            let sequenced = sequenced?;
            result?;
            (report.checkpoints, report.sequence_busy) = sequenced;
            Ok(())
        })?;
        report.check_busy = check_busy.into_inner().unwrap_or_default();
        if let Some(e) = read_error.into_inner().ok().flatten() {
            return Err(StoreError::Io {
                path: "input".into(),
                error: e,
            });
        }
        Ok(report)
    }
}

#[allow(clippy::too_many_arguments)] // the writer's whole state, borrowed apart from `Store`
fn write_loop(
    conn: &mut rusqlite::Connection,
    history: &mut MemoryHistory,
    live: &mut Option<Live>,
    next_index: &mut u64,
    election: &urna_model::definition::Election,
    done_rx: &Receiver<Checked>,
    commit_every: usize,
    clock: &dyn Clock,
    start: Instant,
    report: &mut IngestReport,
    on_result: &mut impl FnMut(Ack<'_>),
    seq_tx: &SyncSender<(u64, Vec<Vec<u8>>)>,
    snapshot_revocations: usize,
) -> Result<(), StoreError> {
    let mut reorder: BTreeMap<u64, CheckedChunk> = BTreeMap::new();
    let mut want = 0u64;
    let mut position = 0u64;
    let mut pending: Vec<Pending> = Vec::new();
    let mut in_tx = false;
    // Notes stored in the open transaction, handed to the sequencer once it commits.
    let mut tx_first = *next_index;
    let mut tx_notes: Vec<Vec<u8>> = Vec::new();
    loop {
        // Block only when nothing awaits a commit; otherwise commit as soon as the pipeline
        // has nothing ready (group commit).
        let (got, closed) = if pending.is_empty() {
            match done_rx.recv() {
                Ok(c) => (Some(c), false),
                Err(_) => (None, true),
            }
        } else {
            match done_rx.try_recv() {
                Ok(c) => (Some(c), false),
                Err(TryRecvError::Empty) => (None, false),
                Err(TryRecvError::Disconnected) => (None, true),
            }
        };
        let idle = got.is_none();
        let busy_from = Instant::now();
        if let Some((seq, chunk)) = got {
            reorder.insert(seq, chunk);
        }
        while let Some(CheckedChunk { notes, results }) = reorder.remove(&want) {
            want += 1;
            if !in_tx {
                conn.execute_batch("BEGIN IMMEDIATE")?;
                in_tx = true;
            }
            let now = clock.now_ms();
            let mut insert = conn.prepare_cached(
                "INSERT INTO entries (idx, hash, text_hash, contest, station, revision, status, received_ms, note) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for (note, result) in notes.into_iter().zip(results) {
                report.read += 1;
                let result = match result {
                    CheckedNote::Revocation(r) => {
                        let (authentic, outcome) = store_revocation(
                            &mut insert,
                            history,
                            next_index,
                            election,
                            now,
                            &note,
                            r,
                        )?;
                        if matches!(outcome, Outcome::Stored { .. }) {
                            tx_notes.push(note);
                        }
                        pending.push(Pending {
                            position,
                            sub: None,
                            authentic,
                            outcome,
                        });
                        position += 1;
                        continue;
                    }
                    CheckedNote::Note(result) => {
                        recheck(election, history, snapshot_revocations, &note, result)
                    }
                };
                let (sub, outcome) = match result {
                    Err(r) => (None, Outcome::Rejected(r)),
                    Ok(sub) => match admit(election, &*history, &sub) {
                        Err(r) => (Some(sub), Outcome::Rejected(r)),
                        Ok(Verdict::Duplicate) => {
                            let (index, hash) = history.holder(&sub).ok_or_else(|| {
                                StoreError::Setup(
                                    "a duplicate with no entry holding it: the intake history is inconsistent".into(),
                                )
                            })?;
                            (Some(sub), Outcome::Duplicate { index, hash })
                        }
                        Ok(verdict) => {
                            let index = *next_index;
                            insert.execute(params![
                                crate::to_sql(index),
                                sub.hash.as_slice(),
                                sub.text_hash.as_slice(),
                                election.contests[sub.contest.0 as usize].id,
                                election.stations[sub.station.0 as usize].id,
                                sub.revision,
                                i64::from(verdict == Verdict::Quarantined),
                                crate::to_sql(now),
                                note,
                            ])?;
                            let superseded = history.current_index(sub.contest, sub.station);
                            history.apply(&sub, verdict, index);
                            if let (Some(live), Some(d), Some(current)) =
                                (live.as_mut(), &sub.decision, superseded)
                            {
                                // A decision supersedes nothing: it changes how the station's
                                // current entry counts.
                                let current =
                                    stored_submission(conn, election, history.keys(), current)?;
                                live.decide(election, &current, d.kind)?;
                            } else if let Some(live) = live.as_mut() {
                                if let Some(old) = superseded {
                                    let note: Vec<u8> = conn.query_row(
                                        "SELECT note FROM entries WHERE idx = ?1",
                                        params![crate::to_sql(old)],
                                        |r| r.get(0),
                                    )?;
                                    let old = crate::resubmit(election, history.keys(), old, &note)
                                        .map_err(|reason| StoreError::Corrupt {
                                            index: old,
                                            reason,
                                        })?;
                                    live.remove(election, &old)?;
                                }
                                live.add(election, &sub)?;
                            }
                            *next_index += 1;
                            tx_notes.push(note);
                            (Some(sub), Outcome::Stored { index, verdict })
                        }
                    },
                };
                pending.push(Pending {
                    position,
                    authentic: sub.as_ref().map(|s| (s.station, s.hash)),
                    sub,
                    outcome,
                });
                position += 1;
            }
        }
        if !pending.is_empty() && (idle || closed || pending.len() >= commit_every) {
            if in_tx {
                conn.execute_batch("COMMIT")?;
                in_tx = false;
                report.commits += 1;
                // If the sequencer has stopped, stop intake before acknowledging: the entries
                // are durable and are sequenced at the next open, and its error is reported
                // when it is joined. Intake that went on would never be checkpointed.
                if !tx_notes.is_empty()
                    && seq_tx
                        .send((tx_first, std::mem::take(&mut tx_notes)))
                        .is_err()
                {
                    return Err(StoreError::Log(
                        "the log's sequencer stopped; intake stops until the data directory is reopened".into(),
                    ));
                }
                tx_first = *next_index;
            }
            for Pending {
                position: pos,
                sub,
                authentic,
                outcome,
            } in pending.drain(..)
            {
                match &outcome {
                    Outcome::Stored {
                        verdict: Verdict::Quarantined,
                        ..
                    } => report.quarantined += 1,
                    Outcome::Stored { .. } => report.accepted += 1,
                    Outcome::Duplicate { .. } => report.duplicates += 1,
                    Outcome::Rejected(_) => report.rejected += 1,
                }
                if report.first_ack.is_none() && matches!(outcome, Outcome::Stored { .. }) {
                    report.first_ack = Some(start.elapsed());
                }
                on_result(Ack {
                    position: pos,
                    station: authentic.map(|(s, _)| election.stations[s.0 as usize].id.as_str()),
                    hash: authentic.map(|(_, h)| h),
                    submission: sub.as_ref(),
                    outcome: &outcome,
                });
            }
        }
        report.write_busy += busy_from.elapsed();
        if closed && pending.is_empty() {
            if in_tx {
                conn.execute_batch("COMMIT")?;
            }
            if !tx_notes.is_empty() {
                let _ = seq_tx.send((tx_first, tx_notes));
            }
            return Ok(());
        }
    }
}

/// The station and the note hash of an authentic note.
type Authentic = (StationIdx, [u8; 32]);

/// One result waiting for the commit that makes it durable.
struct Pending {
    /// Position of the note in the input.
    position: u64,
    /// The note's submission, for a protocol, amendment or decision that was authentic.
    sub: Option<Submission>,
    /// Station and note hash of an authentic note (a revocation too).
    authentic: Option<Authentic>,
    outcome: Outcome,
}

/// The checkers' verdict on a note, or, if a revocation admitted since their snapshot of the
/// keys may change it, the verdict against the keys as they stand now (every revocation
/// stored before the note's index): the verdict never depends on how the notes were chunked.
/// `snapshot_revocations` is how many revocations `history`'s keys held when the note was
/// checked; the PostgreSQL store calls it under its `intake_head` lock.
pub fn recheck(
    e: &Election,
    history: &MemoryHistory,
    snapshot_revocations: usize,
    note: &[u8],
    result: Result<Submission, Rejection>,
) -> Result<Submission, Rejection> {
    let mut since = history.keys().revocations().skip(snapshot_revocations);
    let stale = match &result {
        Ok(sub) => sub.decision.is_none() && since.any(|(_, r)| r.station == sub.station),
        // A refusal may be a signature by a replacement key the snapshot did not know.
        Err(_) => since.next().is_some(),
    };
    if stale {
        check_keyed(e, history.keys(), note)
    } else {
        result
    }
}

/// Admits a checked revocation as the next entry and inserts its row (no contest, its
/// station, revision 0, status 0); returns its station and hash if authentic, and the outcome.
fn store_revocation(
    insert: &mut rusqlite::CachedStatement<'_>,
    history: &mut MemoryHistory,
    next_index: &mut u64,
    e: &Election,
    now: u64,
    note: &[u8],
    checked: Result<Revocation, Rejection>,
) -> Result<(Option<Authentic>, Outcome), StoreError> {
    let r = match checked {
        Ok(r) => r,
        Err(rejection) => return Ok((None, Outcome::Rejected(rejection))),
    };
    let authentic = Some((r.station, r.hash));
    let index = *next_index;
    let outcome = match history.admit_revocation(e, index, &r) {
        Err(rejection) => Outcome::Rejected(rejection),
        Ok(Verdict::Duplicate) => {
            let (index, hash) = history.keys().holder(&r).ok_or_else(|| {
                StoreError::Setup(
                    "a duplicate revocation with no entry holding it: the intake history is inconsistent"
                        .into(),
                )
            })?;
            Outcome::Duplicate { index, hash }
        }
        Ok(verdict) => {
            insert.execute(params![
                crate::to_sql(index),
                r.hash.as_slice(),
                r.text_hash.as_slice(),
                "",
                e.stations[r.station.0 as usize].id,
                0,
                0,
                crate::to_sql(now),
                note,
            ])?;
            *next_index += 1;
            Outcome::Stored { index, verdict }
        }
    };
    Ok((authentic, outcome))
}

/// The submission of stored entry `index`, re-derived from its note.
fn stored_submission(
    conn: &rusqlite::Connection,
    election: &urna_model::definition::Election,
    keys: &StationKeys,
    index: u64,
) -> Result<Submission, StoreError> {
    let note: Vec<u8> = conn.query_row(
        "SELECT note FROM entries WHERE idx = ?1",
        params![crate::to_sql(index)],
        |r| r.get(0),
    )?;
    crate::resubmit(election, keys, index, &note)
        .map_err(|reason| StoreError::Corrupt { index, reason })
}

/// Appends committed entries to the log and signs a checkpoint every `every` or
/// `max_entries` entries, and once more when the writer is done.
fn sequence_loop(
    log: &mut Sequencer,
    rx: &Receiver<(u64, Vec<Vec<u8>>)>,
    every: Duration,
    max_entries: usize,
) -> Result<(Vec<Sequenced>, Duration), StoreError> {
    let mut signed = Vec::new();
    let mut last = Instant::now();
    let mut unsigned = 0usize;
    let mut busy = Duration::ZERO;
    loop {
        // With nothing waiting to be signed, block until entries come (an idle server must
        // not spin); otherwise wake when the checkpoint interval ends.
        let received = if unsigned == 0 {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(every.saturating_sub(last.elapsed()))
        };
        match received {
            Ok((first, notes)) => {
                let t = Instant::now();
                unsigned += notes.len();
                log.append(first, notes)?;
                busy += t.elapsed();
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if unsigned > 0 && (unsigned >= max_entries || last.elapsed() >= every) {
            let t = Instant::now();
            signed.extend(log.flush()?);
            busy += t.elapsed();
            unsigned = 0;
            last = Instant::now();
        }
    }
    let t = Instant::now();
    signed.extend(log.flush()?);
    busy += t.elapsed();
    Ok((signed, busy))
}
