//! Intake of a batch of notes on one node: checked on the node's cores, admitted in one
//! transaction that holds the `intake_head` row, outcomes given only after the commit.

use std::collections::BTreeSet;

use urna_model::definition::Election;
use urna_model::intake::{
    Latest, StationKeys, Submission, Verdict, admit, bind_revocation_unverified,
};
use urna_store::{CheckedNote, MemoryHistory, Outcome, StoreError, check_notes, recheck};
use urna_tlog::Clock;

use crate::{PgError, PgStore, from_sql, hash32, to_sql};

/// What [`PgStore::ingest_acks`] gives for a batch: each note's outcome with its station, and
/// the time stored (the receipts' time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgAcks {
    /// One outcome per note, in input order.
    pub outcomes: Vec<Outcome>,
    /// The station id of each note that parsed (`None` for a note refused before that).
    pub stations: Vec<Option<String>>,
    /// The node's clock when the batch was admitted, Unix milliseconds (`received_ms`).
    pub time_ms: u64,
}

impl PgStore {
    /// Like [`PgStore::ingest`], with each note's station and the time stored, for receipts.
    ///
    /// # Errors
    /// [`PgError::Db`] if the database fails (nothing of the batch is stored then, or, if
    /// the connection broke during the commit, the batch may be stored without an answer:
    /// a resend is answered as a duplicate).
    pub fn ingest_acks(&mut self, notes: &[Vec<u8>], clock: &dyn Clock) -> Result<PgAcks, PgError> {
        let (outcomes, stations, now) = self.admit_batch(notes, clock)?;
        Ok(PgAcks {
            outcomes,
            stations,
            time_ms: from_sql(now),
        })
    }

    /// Ingests a batch of notes: each is checked (signature, parse, every rule) on this node's
    /// cores, then the batch is admitted against the stations' current state in one
    /// transaction, with the same rule and the same verdicts as the SQLite store (accepted,
    /// quarantined, duplicate, refused). Returns one outcome per note, in input order, after
    /// the commit: an outcome is never given for a note not yet durable.
    ///
    /// Several nodes may ingest into one database at once: their transactions take the
    /// `intake_head` row in turn, so indices follow commit order without gaps.
    ///
    /// # Errors
    /// [`PgError::Db`] if the database fails (nothing of the batch is stored then).
    pub fn ingest(
        &mut self,
        notes: &[Vec<u8>],
        clock: &dyn Clock,
    ) -> Result<Vec<Outcome>, PgError> {
        Ok(self.admit_batch(notes, clock)?.0)
    }

    /// Ingests batches one after the other, as [`PgStore::ingest_acks`] does each, giving
    /// each batch's acks to `acks` after its commit; while one batch's transaction runs, the
    /// next batch is checked on this node's cores, so that checking and the database's work
    /// (writing, `fsync` of the commit) overlap.
    ///
    /// The next batch is taken from `batches` before the one before it commits, so a caller
    /// with a live queue gives only batches already waiting, or the outcomes of the one before
    /// wait for the next. It is checked against the station keys as of the last read before the
    /// transaction of the batch before it: a revocation that transaction (or another node)
    /// stores is read under the `intake_head` lock of the next batch's transaction and the
    /// notes it concerns are checked again, as for a revocation another node commits; outcomes
    /// are the same as those of [`PgStore::ingest`] batch by batch.
    ///
    /// # Errors
    /// As [`PgStore::ingest_acks`]: the batches before the one that failed are stored and their
    /// acks given; nothing of the failed one or of those after it is stored.
    pub fn ingest_batches<'n>(
        &mut self,
        batches: impl IntoIterator<Item = &'n [Vec<u8>]>,
        clock: &dyn Clock,
        mut acks: impl FnMut(&'n [Vec<u8>], PgAcks),
    ) -> Result<(), PgError> {
        let mut batches = batches.into_iter();
        let Some(mut batch) = batches.next() else {
            return Ok(());
        };
        read_revocations(&mut self.client, &self.election, &mut self.keys)?;
        let mut checked_with = self.keys.revocations().count();
        let mut checked = check_batch(&self.election, &self.keys, batch)?;
        loop {
            let next = batches.next();
            // The next batch is checked against the keys as of now, a prefix of those its
            // own transaction will read.
            let snapshot = self.keys.clone();
            let (client, election, keys) = (&mut self.client, &self.election, &mut self.keys);
            let (admitted, next_checked) = std::thread::scope(|s| {
                let checker = next.map(|n| s.spawn(|| check_batch(election, &snapshot, n)));
                let admitted =
                    commit_batch(client, election, keys, checked_with, batch, checked, clock);
                let next_checked = checker.map(|h| {
                    h.join()
                        .map_err(|_| PgError::Setup("a checker thread panicked".into()))?
                });
                (admitted, next_checked)
            });
            let (outcomes, stations, now) = admitted?;
            acks(
                batch,
                PgAcks {
                    outcomes,
                    stations,
                    time_ms: from_sql(now),
                },
            );
            match (next, next_checked) {
                (Some(n), Some(c)) => {
                    batch = n;
                    checked = c?;
                    checked_with = snapshot.revocations().count();
                }
                _ => return Ok(()),
            }
        }
    }

    /// The batch's outcomes, stations and admission time; see [`PgStore::ingest`].
    #[allow(clippy::type_complexity)] // the three parts of `PgAcks`, before conversion
    fn admit_batch(
        &mut self,
        notes: &[Vec<u8>],
        clock: &dyn Clock,
    ) -> Result<(Vec<Outcome>, Vec<Option<String>>, i64), PgError> {
        read_revocations(&mut self.client, &self.election, &mut self.keys)?;
        let checked_with = self.keys.revocations().count();
        let checked = check_batch(&self.election, &self.keys, notes)?;
        commit_batch(
            &mut self.client,
            &self.election,
            &mut self.keys,
            checked_with,
            notes,
            checked,
            clock,
        )
    }
}

/// Notes a checker thread takes at a time: small enough that a thread slowed by the database
/// server (on the same cores) or by other work does not hold the batch up while the others
/// wait, large enough that taking a part costs nothing beside checking it.
const CHECK_PART: usize = 64;

/// Checks a batch on this node's cores (signature, parse, every rule) against the station keys
/// `snapshot`: one thread per core, each taking the next [`CHECK_PART`] notes until none are
/// left, so that the threads finish together however unevenly the cores are shared.
fn check_batch(
    election: &Election,
    snapshot: &StationKeys,
    notes: &[Vec<u8>],
) -> Result<Vec<CheckedNote>, PgError> {
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let parts: Vec<&[Vec<u8>]> = notes.chunks(CHECK_PART).collect();
    let taken = std::sync::atomic::AtomicUsize::new(0);
    let done = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.min(parts.len()))
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(part) = parts.get(i) else {
                            return done;
                        };
                        let refs: Vec<&[u8]> = part.iter().map(Vec::as_slice).collect();
                        done.push((i, check_notes(election, snapshot, &refs)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| PgError::Setup("a checker thread panicked".into()))
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    let mut done: Vec<(usize, Vec<CheckedNote>)> = done.into_iter().flatten().collect();
    done.sort_unstable_by_key(|(i, _)| *i);
    Ok(done.into_iter().flat_map(|(_, c)| c).collect())
}

/// Admits a checked batch in one transaction: under the `intake_head` lock, against the
/// stations' current state, with the same rule and the same verdicts as the SQLite store
/// (accepted, quarantined, duplicate, refused); returns after the commit.
///
/// Revocations (`urna/revocation/v1`) as in the SQLite store's writer: the batch was checked
/// against the station keys as the first `checked_with` revocations left them (the snapshot,
/// a prefix of the revocations `keys` holds); under the `intake_head` lock the revocations
/// stored since (by this node's batch before, or by other nodes) are read into `keys`, each
/// revocation of the batch is admitted at its index, and a note of a station whose keys
/// changed after the snapshot is checked again ([`urna_store::recheck`]) against the keys
/// before its index.
#[allow(clippy::type_complexity)] // the three parts of `PgAcks`, before conversion
fn commit_batch(
    client: &mut postgres::Client,
    election: &Election,
    keys: &mut StationKeys,
    checked_with: usize,
    notes: &[Vec<u8>],
    checked: Vec<CheckedNote>,
    clock: &dyn Clock,
) -> Result<(Vec<Outcome>, Vec<Option<String>>, i64), PgError> {
    let contest_id = |s: &Submission| election.contests[s.contest.0 as usize].id.as_str();
    let station_id = |s: &Submission| election.stations[s.station.0 as usize].id.as_str();

    let mut tx = client.transaction()?;
    let next: i64 = tx
        .query_one("SELECT next_idx FROM intake_head FOR UPDATE", &[])?
        .get(0);
    let mut next = from_sql(next);
    // The station keys as every committed revocation left them (other nodes' since the
    // snapshot too), then the part of the history this batch can touch: its stations'
    // current entries and recounts, and the stored notes it could repeat.
    read_revocations(&mut tx, election, keys)?;
    let mut history = MemoryHistory::default();
    for (index, r) in keys.revocations() {
        history
            .admit_revocation(election, index, r)
            .map_err(|reason| StoreError::Inadmissible {
                index,
                reason: reason.to_string(),
            })?;
    }
    let subs: Vec<&Submission> = checked
        .iter()
        .filter_map(|c| match c {
            CheckedNote::Note(Ok(sub)) => Some(sub),
            _ => None,
        })
        .collect();
    let mut loaded: BTreeSet<(&str, &str)> = BTreeSet::new();
    load_history(&mut tx, election, &mut history, &mut loaded, &subs)?;

    // Admit in input order, exactly as the SQLite store's writer does.
    let now = to_sql(clock.now_ms());
    let mut outcomes = Vec::with_capacity(notes.len());
    let mut stations = Vec::with_capacity(notes.len());
    let mut rows = Rows::default();
    let (mut revoked_idx, mut revoked_hash) = (Vec::new(), Vec::new());
    let mut touched: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (note, checked) in notes.iter().zip(checked) {
        let result = match checked {
            CheckedNote::Revocation(Err(r)) => {
                outcomes.push(Outcome::Rejected(r));
                stations.push(None);
                continue;
            }
            CheckedNote::Revocation(Ok(r)) => {
                let station = election.stations[r.station.0 as usize].id.as_str();
                stations.push(Some(station.to_owned()));
                let index = next;
                let outcome = match history.admit_revocation(election, index, &r) {
                    Err(rejection) => Outcome::Rejected(rejection),
                    Ok(Verdict::Duplicate) => {
                        let (index, hash) = history.keys().holder(&r).ok_or_else(|| {
                                PgError::Setup(
                                    "a duplicate revocation with no entry holding it: the intake history is inconsistent".into(),
                                )
                            })?;
                        Outcome::Duplicate { index, hash }
                    }
                    Ok(verdict) => {
                        next += 1;
                        rows.push_row(index, &r.hash, &r.text_hash, "", station, 0, 0, now, note);
                        revoked_idx.push(to_sql(index));
                        revoked_hash.push(r.hash.to_vec());
                        Outcome::Stored { index, verdict }
                    }
                };
                outcomes.push(outcome);
                continue;
            }
            CheckedNote::Note(result) => {
                let was_refused = result.is_err();
                let result = recheck(election, &history, checked_with, note, result);
                if was_refused && let Ok(sub) = &result {
                    // Signed by a replacement key the snapshot did not know: its station's
                    // state was not read with the batch's.
                    load_history(&mut tx, election, &mut history, &mut loaded, &[sub])?;
                }
                result
            }
        };
        let sub = match result {
            Err(r) => {
                outcomes.push(Outcome::Rejected(r));
                stations.push(None);
                continue;
            }
            Ok(sub) => sub,
        };
        stations.push(Some(station_id(&sub).to_owned()));
        let outcome = match admit(election, &history, &sub) {
            Err(r) => Outcome::Rejected(r),
            Ok(Verdict::Duplicate) => {
                let (index, hash) = history.holder(&sub).ok_or_else(|| {
                    PgError::Setup(
                        "a duplicate with no entry holding it: the intake history is inconsistent"
                            .into(),
                    )
                })?;
                Outcome::Duplicate { index, hash }
            }
            Ok(verdict) => {
                let index = next;
                next += 1;
                history.apply(&sub, verdict, index);
                touched.insert((contest_id(&sub), station_id(&sub)));
                rows.push_row(
                    index,
                    &sub.hash,
                    &sub.text_hash,
                    contest_id(&sub),
                    station_id(&sub),
                    i64::from(sub.revision),
                    i16::from(verdict == Verdict::Quarantined),
                    now,
                    note,
                );
                Outcome::Stored { index, verdict }
            }
        };
        outcomes.push(outcome);
    }
    if !rows.idx.is_empty() {
        tx.execute(
                "INSERT INTO entries (idx, hash, text_hash, contest, station, revision, status, received_ms, note) \
                 SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::text[], $5::text[], \
                 $6::bigint[], $7::smallint[], $8::bigint[], $9::bytea[])",
                &[
                    &rows.idx, &rows.hash, &rows.text_hash, &rows.contest, &rows.station,
                    &rows.revision, &rows.status, &rows.received, &rows.note,
                ],
            )?;
        if !revoked_idx.is_empty() {
            tx.execute(
                    "INSERT INTO revocations (idx, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])",
                    &[&revoked_idx, &revoked_hash],
                )?;
        }
        let mut current = Rows::default();
        let (mut rc, mut rs, mut rd) = (Vec::new(), Vec::new(), Vec::new());
        for &(c, s) in &touched {
            let (Some(ci), Some(si)) = (election.contest(c), election.station(s)) else {
                continue;
            };
            if let Some((l, index)) = history.current(ci, si) {
                current.idx.push(to_sql(index));
                current.hash.push(l.hash.to_vec());
                current.text_hash.push(l.text_hash.to_vec());
                current.contest.push(c);
                current.station.push(s);
                current.revision.push(i64::from(l.revision));
            }
            if let Some(d) = urna_model::intake::History::recount_ordered(&history, ci, si) {
                rc.push(c);
                rs.push(s);
                rd.push(d.to_vec());
            }
        }
        tx.execute(
                "INSERT INTO current (contest, station, revision, hash, text_hash, idx) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bytea[], $5::bytea[], $6::bigint[]) \
                 ON CONFLICT (contest, station) DO UPDATE SET revision = EXCLUDED.revision, \
                 hash = EXCLUDED.hash, text_hash = EXCLUDED.text_hash, idx = EXCLUDED.idx",
                &[&current.contest, &current.station, &current.revision, &current.hash, &current.text_hash, &current.idx],
            )?;
        let (tc, ts): (Vec<&str>, Vec<&str>) = touched.iter().copied().unzip();
        tx.execute(
            "DELETE FROM recounts WHERE (contest, station) IN \
                 (SELECT * FROM unnest($1::text[], $2::text[]))",
            &[&tc, &ts],
        )?;
        tx.execute(
            "INSERT INTO recounts (contest, station, decides) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])",
            &[&rc, &rs, &rd],
        )?;
        tx.execute("UPDATE intake_head SET next_idx = $1", &[&to_sql(next)])?;
    }
    tx.commit()?;
    Ok((outcomes, stations, now))
}

/// Reads the revocations stored after the last one `keys` holds (table `revocations`, their
/// notes from `entries`) and admits them into `keys`, in log order. Revocations are committed
/// in index order (each under the `intake_head` lock), so none is missed.
///
/// # Errors
/// [`PgError::Store`] naming the entry if a stored revocation no longer binds or does not
/// follow the ones before it.
pub(crate) fn read_revocations(
    client: &mut impl postgres::GenericClient,
    e: &Election,
    keys: &mut StationKeys,
) -> Result<(), PgError> {
    let after = keys.revocations().last().map_or(0, |(i, _)| i);
    for r in client.query(
        "SELECT r.idx, e.note FROM revocations r JOIN entries e USING (idx) \
         WHERE r.idx > $1 ORDER BY r.idx",
        &[&to_sql(after)],
    )? {
        let index = from_sql(r.get(0));
        let note: Vec<u8> = r.get(1);
        let revocation =
            bind_revocation_unverified(e, &note).map_err(|err| StoreError::Corrupt {
                index,
                reason: err.to_string(),
            })?;
        keys.admit(e, index, &revocation)
            .map_err(|err| StoreError::Inadmissible {
                index,
                reason: err.to_string(),
            })?;
    }
    Ok(())
}

/// Reads into `history` what admitting `subs` needs: their stations' current entries and
/// recounts (each station once: `loaded`), the stored notes with their hashes, and the stored
/// decisions with their texts (a decision sent again under other signature bytes is the same
/// decision).
fn load_history<'e>(
    tx: &mut postgres::Transaction<'_>,
    election: &'e Election,
    history: &mut MemoryHistory,
    loaded: &mut BTreeSet<(&'e str, &'e str)>,
    subs: &[&Submission],
) -> Result<(), PgError> {
    let keys: BTreeSet<(&str, &str)> = subs
        .iter()
        .map(|s| {
            (
                election.contests[s.contest.0 as usize].id.as_str(),
                election.stations[s.station.0 as usize].id.as_str(),
            )
        })
        .filter(|k| !loaded.contains(k))
        .collect();
    loaded.extend(keys.iter().copied());
    let (cs, ss): (Vec<&str>, Vec<&str>) = keys.iter().copied().unzip();
    let key_name = |c: &str, s: &str| format!("contest {c:?} station {s:?}");
    if !cs.is_empty() {
        for r in tx.query(
            "SELECT c.contest, c.station, c.revision, c.hash, c.text_hash, c.idx FROM current c \
             JOIN unnest($1::text[], $2::text[]) AS k(contest, station) USING (contest, station)",
            &[&cs, &ss],
        )? {
            let (c, s): (String, String) = (r.get(0), r.get(1));
            let key = key_name(&c, &s);
            let (Some(ci), Some(si)) = (election.contest(&c), election.station(&s)) else {
                return Err(PgError::Derived {
                    table: "current",
                    key,
                    stored: "a row".into(),
                    derived: "no such contest or station in the definition".into(),
                });
            };
            let revision: i64 = r.get(2);
            let latest = Latest {
                revision: u32::try_from(revision).unwrap_or(u32::MAX),
                hash: hash32("current", &key, &r.get::<_, Vec<u8>>(3))?,
                text_hash: hash32("current", &key, &r.get::<_, Vec<u8>>(4))?,
            };
            history.record(ci, si, latest, from_sql(r.get(5)));
        }
        for r in tx.query(
            "SELECT r.contest, r.station, r.decides FROM recounts r \
             JOIN unnest($1::text[], $2::text[]) AS k(contest, station) USING (contest, station)",
            &[&cs, &ss],
        )? {
            let (c, s): (String, String) = (r.get(0), r.get(1));
            let key = key_name(&c, &s);
            if let (Some(ci), Some(si)) = (election.contest(&c), election.station(&s)) {
                history.record_recount(ci, si, hash32("recounts", &key, &r.get::<_, Vec<u8>>(2))?);
            }
        }
    }
    let hashes: Vec<&[u8]> = subs.iter().map(|s| s.hash.as_slice()).collect();
    for r in tx.query(
        "SELECT hash, idx FROM entries WHERE hash = ANY($1::bytea[])",
        &[&hashes],
    )? {
        let idx: i64 = r.get(1);
        history.record_hash(
            hash32("entries", &format!("entry {idx}"), &r.get::<_, Vec<u8>>(0))?,
            from_sql(idx),
        );
    }
    let decided: Vec<&[u8]> = subs
        .iter()
        .filter(|s| s.decision.is_some())
        .map(|s| s.text_hash.as_slice())
        .collect();
    if !decided.is_empty() {
        for r in tx.query(
            "SELECT text_hash, idx, hash FROM entries \
             WHERE revision = 0 AND idx > 0 AND text_hash = ANY($1::bytea[])",
            &[&decided],
        )? {
            let idx: i64 = r.get(1);
            let entry = format!("entry {idx}");
            history.record_decision(
                hash32("entries", &entry, &r.get::<_, Vec<u8>>(0))?,
                from_sql(idx),
                hash32("entries", &entry, &r.get::<_, Vec<u8>>(2))?,
            );
        }
    }
    Ok(())
}

/// Columns of the rows a batch inserts, one array per column (`unnest`).
#[derive(Default)]
struct Rows<'a> {
    idx: Vec<i64>,
    hash: Vec<Vec<u8>>,
    text_hash: Vec<Vec<u8>>,
    contest: Vec<&'a str>,
    station: Vec<&'a str>,
    revision: Vec<i64>,
    status: Vec<i16>,
    received: Vec<i64>,
    note: Vec<&'a [u8]>,
}

impl<'a> Rows<'a> {
    #[allow(clippy::too_many_arguments)] // one row's columns
    fn push_row(
        &mut self,
        index: u64,
        hash: &[u8; 32],
        text_hash: &[u8; 32],
        contest: &'a str,
        station: &'a str,
        revision: i64,
        status: i16,
        received: i64,
        note: &'a [u8],
    ) {
        self.idx.push(to_sql(index));
        self.hash.push(hash.to_vec());
        self.text_hash.push(text_hash.to_vec());
        self.contest.push(contest);
        self.station.push(station);
        self.revision.push(revision);
        self.status.push(status);
        self.received.push(received);
        self.note.push(note);
    }
}
