//! Audit hand counts keyed twice: the sampled boxes of a risk-limiting audit
//! (`docs/audit.md` §6-7) counted by hand, each count keyed by two typists who never see each
//! other's entry, compared, resolved by a coordinator where they differ, and signed as an
//! `urna/audit/v1` `kind: count` note with the audit key (an authority over the whole
//! election, `--audit-key`).
//!
//! Which stations are sampled comes from the log itself: the audit notes of the data
//! directory's `urna.sqlite`, read through a read-only connection
//! ([`urna_store::reader::EntryReader`]) and replayed through `urna_audit::trail`, the code
//! intake and `urna verify` run. The desk never writes the store: a signed count waits in
//! `desk.sqlite` until `urna audit count --from-desk` appends it to the log (the store's audit
//! intake, [`urna_store::Store::append_audit`], which checks it again); the desk then sees it
//! in the trail and shows it as logged.
//!
//! A count is keyed by (contest, station) like a protocol but kept apart, in the tables
//! `audit_counts` and `audit_entries`: it is not a protocol, never delivered to `urna serve`,
//! and does not change the centre's progress. Its lines are `votes:<list>` for every list of
//! the contest in ballot order, then `invalid` (invalid and blank ballots), the body's own
//! order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, OptionalExtension as _, TransactionBehavior, params};
use serde_json::{Value, json};
use urna_audit::trail::{LogView, Trail};
use urna_model::audit::{AuditBody, AuditStep, is_audit};
use urna_model::definition::{ContestIdx, Election, StationIdx, UnitIdx};
use urna_model::intake::sha256;
use urna_model::note::NoteSigner;
use urna_model::protocol::hex;
use urna_store::reader::EntryReader;
use urna_tally::public::Replay;
use urna_tlog::{Hash, leaf_hash, node_hash};

use super::{Claimed, Desk, Refusal, Session, SetupError, claim_slot, values_of};
use crate::db::{self, Role};
use crate::form::{self, Line};

/// The audit counts' tables, beside the protocols'.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit_counts (
    contest TEXT NOT NULL,
    station TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('entering', 'difference', 'signed')),
    round INTEGER NOT NULL,
    note BLOB,
    PRIMARY KEY (contest, station)
);
CREATE TABLE IF NOT EXISTS audit_entries (
    id INTEGER PRIMARY KEY,
    contest TEXT NOT NULL,
    station TEXT NOT NULL,
    round INTEGER NOT NULL,
    slot INTEGER NOT NULL CHECK (slot IN (1, 2)),
    typist INTEGER NOT NULL REFERENCES users(id),
    vals TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    UNIQUE (contest, station, round, slot)
);
";

/// The line of invalid and blank ballots.
pub const INVALID_LINE: &str = "invalid";

/// The desk's audit side: the key that signs counts, and the sample as the log last said.
pub struct AuditDesk {
    signer: NoteSigner,
    data: PathBuf,
    /// What the desk has read of the log.
    seen: Mutex<LogCache>,
}

/// A station some logged sample drew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sampled {
    /// The audited contest.
    pub contest: ContestIdx,
    /// The station's id.
    pub station: String,
    /// The round whose sample drew it.
    pub round: u32,
    /// Where its count is in the log, and the SHA-256 of that note.
    pub counted: Option<(u64, [u8; 32])>,
}

/// What the log says of every audit: the stations its samples drew, and which audits ended.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Every sampled station, in the order of the audits and their rounds.
    pub stations: Vec<Sampled>,
    /// Audits that ended (risk limit met or full hand count): contest and log index.
    pub ended: Vec<(ContestIdx, u64)>,
}

/// The log of a data directory, read-only, as the trail needs it.
struct ReadView<'a> {
    election: &'a Election,
    reader: &'a EntryReader,
    leaves: &'a [Hash],
}

/// An error as text, from the store's or the replay's.
struct Text(String);

impl From<urna_store::StoreError> for Text {
    fn from(err: urna_store::StoreError) -> Self {
        Self(err.to_string())
    }
}

/// RFC 6962 Merkle tree hash of `leaves`.
fn merkle_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Hash(sha256(b"")),
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&merkle_root(&leaves[..k]), &merkle_root(&leaves[k..]))
        }
    }
}

impl LogView for ReadView<'_> {
    fn root(&self, size: u64) -> Option<[u8; 32]> {
        let size = usize::try_from(size).ok()?;
        self.leaves.get(..size).map(|l| merkle_root(l).0)
    }

    fn replay(&self, size: u64) -> Result<Replay, String> {
        let e = self.election;
        let mut replay = Replay::new(e).map_err(|err| err.to_string())?;
        self.reader
            .for_each(0, size, |index, note| -> Result<(), Text> {
                replay
                    .apply(e, index, note)
                    .map_err(|err| Text(err.to_string()))
            })
            .map_err(|err| err.0)?;
        Ok(replay)
    }
}

/// What the desk has read of the log: its leaf hashes and audit notes so far (entries are
/// append-only, so only new ones are read), and the sample they give.
#[derive(Default)]
pub struct LogCache {
    len: u64,
    leaves: Vec<Hash>,
    audits: Vec<(u64, Vec<u8>)>,
    sample: Arc<Sample>,
}

impl LogCache {
    /// Reads the entries the log gained since the last call (read-only) and, when an audit
    /// note is among them, replays every audit again through `urna_audit::trail`. Returns the
    /// sample.
    ///
    /// # Errors
    /// The log cannot be read, as text.
    pub fn refresh(&mut self, e: &Election, reader: &EntryReader) -> Result<Arc<Sample>, String> {
        let len = reader.len().map_err(|err| err.to_string())?;
        if len < self.len {
            // Entries are never removed: another store was put in the directory.
            *self = Self::default();
        }
        let before = self.audits.len();
        let (leaves, audits) = (&mut self.leaves, &mut self.audits);
        reader
            .for_each(
                self.len,
                len,
                |index, note| -> Result<(), urna_store::StoreError> {
                    leaves.push(leaf_hash(note));
                    if index > 0 && is_audit(note) {
                        audits.push((index, note.to_vec()));
                    }
                    Ok(())
                },
            )
            .map_err(|err| err.to_string())?;
        self.len = len;
        if self.audits.len() > before {
            self.sample = Arc::new(replay_audits(e, reader, &self.leaves, &self.audits));
        }
        Ok(Arc::clone(&self.sample))
    }
}

/// Every audit replayed from its notes, as the stations its samples drew.
fn replay_audits(
    e: &Election,
    reader: &EntryReader,
    leaves: &[Hash],
    audits: &[(u64, Vec<u8>)],
) -> Sample {
    let view = ReadView {
        election: e,
        reader,
        leaves,
    };
    let mut trail = Trail::default();
    let mut hashes = BTreeMap::new();
    for (index, bytes) in audits {
        // A note that does not follow is left out, as `urna verify` leaves it out.
        if trail.replay(e, *index, bytes, &view).is_ok() {
            hashes.insert(*index, sha256(bytes));
        }
    }
    let mut sample = Sample::default();
    for a in &trail.audits {
        // A contest's audit superseded by a new one (its results changed) takes no counts.
        if trail.superseded_by(a).is_some() {
            continue;
        }
        for r in &a.samples {
            for &b in &r.batches {
                let counted = a
                    .counts
                    .get(&b)
                    .map(|c| (c.index, hashes.get(&c.index).copied().unwrap_or_default()));
                sample.stations.push(Sampled {
                    contest: a.contest,
                    station: a.reported.input.batches[b].id.clone(),
                    round: r.round,
                    counted,
                });
            }
        }
        if a.finished().is_some() {
            sample
                .ended
                .push((a.contest, a.verdicts.last().map_or(0, |v| v.index)));
        }
    }
    sample
}

/// Signed counts of a desk database not yet in the log's trail, oldest first: `(contest,
/// station, note)`. Opens `desk.sqlite` read-only (`urna audit count --from-desk`).
///
/// # Errors
/// The database cannot be read.
pub fn signed_counts(desk_db: &Path) -> Result<Vec<(String, String, Vec<u8>)>, rusqlite::Error> {
    let conn = Connection::open_with_flags(desk_db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let has: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'audit_counts'",
        [],
        |r| r.get(0),
    )?;
    if has == 0 {
        return Ok(Vec::new());
    }
    let mut q = conn.prepare(
        "SELECT contest, station, note FROM audit_counts WHERE state = 'signed' AND note IS NOT NULL ORDER BY rowid",
    )?;
    let rows = q
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The form of a hand count: every list of the contest in ballot order, then invalid.
pub fn count_lines(e: &Election, contest: ContestIdx) -> Vec<Line> {
    let c = &e.contests[contest.0 as usize];
    let mut out: Vec<Line> = c
        .lists
        .iter()
        .map(|&l| Line {
            key: format!("votes:{}", e.lists[l].id),
            label: e.lists[l].name.clone(),
            kind: "votes",
            required: true,
        })
        .collect();
    out.push(Line {
        key: INVALID_LINE.to_owned(),
        label: "invalid and blank ballots".to_owned(),
        kind: "count",
        required: true,
    });
    out
}

/// The count step keyed values state, or the first line missing.
fn count_step(
    e: &Election,
    contest: ContestIdx,
    station: &str,
    vals: &BTreeMap<String, u64>,
) -> Result<AuditStep, String> {
    let mut votes = Vec::new();
    for line in count_lines(e, contest) {
        let v = vals.get(&line.key).copied().ok_or_else(|| {
            format!(
                "line `{}`: missing; every list's votes and the invalid ballots must be keyed (0 for none)",
                line.key
            )
        })?;
        match line.key.strip_prefix("votes:") {
            Some(list) => votes.push((list.to_owned(), v)),
            None => {
                return Ok(AuditStep::Count {
                    station: station.to_owned(),
                    votes,
                    invalid: v,
                });
            }
        }
    }
    Err(format!("line `{INVALID_LINE}`: missing"))
}

/// An audit entry as its typist holds it: account, contest, station, round, slot, done, values.
type OwnCount = (
    super::User,
    ContestIdx,
    StationIdx,
    i64,
    i64,
    bool,
    BTreeMap<String, u64>,
);

fn not_enabled() -> Refusal {
    Refusal::new(
        404,
        "audit-off",
        "this desk keys no audit counts: start it with --audit-key",
    )
}

impl Desk {
    /// Gives the desk the audit key: counts of sampled stations are keyed twice and signed
    /// with it. `data` holds the log whose audit says which stations are sampled.
    ///
    /// # Errors
    /// [`SetupError::Field`] `--audit-key` if the key is not an authority of the definition
    /// whose scope is the whole election (the root unit).
    pub fn with_audit_key(mut self, data: &Path, signer: NoteSigner) -> Result<Self, SetupError> {
        let e = &self.election;
        let root = e.units.first().map_or("", |u| u.id.as_str());
        let authority = e.authorities.iter().find(|a| {
            a.key.name() == signer.name()
                && a.key.key_id() == signer.key_id()
                && a.key.verifying_key().as_bytes() == &signer.public_key()
        });
        match authority {
            None => {
                return Err(SetupError::Field {
                    field: "--audit-key",
                    rule: format!(
                        "key {:?} is not an authority of the election definition; an audit count is signed by an authority whose scope is {root} (the whole election)",
                        signer.name()
                    ),
                });
            }
            Some(a) if a.scope != UnitIdx(0) => {
                return Err(SetupError::Field {
                    field: "--audit-key",
                    rule: format!(
                        "authority {:?} has scope {}, not {root}: an audit count is signed by an authority whose scope is the whole election",
                        signer.name(),
                        e.units[a.scope.0 as usize].id
                    ),
                });
            }
            Some(_) => {}
        }
        // The sample is read from the commission's log: without one there is nothing to key.
        let reader = EntryReader::open(data).map_err(|err| SetupError::Field {
            field: "--audit-key",
            rule: format!(
                "the desk reads the audit's sample from the log of its data directory: {err}"
            ),
        })?;
        let mut seen = LogCache::default();
        seen.refresh(e, &reader).map_err(|err| SetupError::Field {
            field: "--audit-key",
            rule: format!("the log in {} cannot be read: {err}", data.display()),
        })?;
        self.db()
            .execute_batch(SCHEMA)
            .map_err(|err| SetupError::Definition(format!("desk database: {err}")))?;
        self.audit = Some(AuditDesk {
            signer,
            data: data.to_owned(),
            seen: Mutex::new(seen),
        });
        Ok(self)
    }

    fn audit_desk(&self) -> Result<&AuditDesk, Refusal> {
        self.audit.as_ref().ok_or_else(not_enabled)
    }

    /// The log's samples, brought up to date with the entries it gained.
    fn sample(&self) -> Result<Arc<Sample>, Refusal> {
        let a = self.audit_desk()?;
        let unreadable = |err: String| {
            Refusal::new(
                503,
                "log-unreadable",
                format!("the log in {} cannot be read: {err}", a.data.display()),
            )
        };
        let reader = EntryReader::open(&a.data).map_err(|err| unreadable(err.to_string()))?;
        a.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .refresh(&self.election, &reader)
            .map_err(unreadable)
    }

    /// The sampled stations of the centre, each with the state of its count: `open`,
    /// `entering` (with the entries finished), `difference`, `signed` (waiting for
    /// `urna audit count --from-desk`), `logged` (this desk's count is in the log) or
    /// `counted` (another count is in the log).
    ///
    /// # Errors
    /// [`Refusal`] if not logged in, or the desk keys no audit counts.
    pub fn audit_list(&self, s: &Session) -> Result<Value, Refusal> {
        self.require(
            s,
            &[Role::Typist, Role::Coordinator, Role::Administrator],
            "see audit counts",
        )?;
        if self.audit.is_none() {
            return Ok(json!({"enabled": false, "stations": []}));
        }
        let sample = self.sample()?;
        let e = &self.election;
        let conn = self.reader();
        let mut rows = Vec::new();
        for x in &sample.stations {
            let Some(st) = e.station(&x.station) else {
                continue;
            };
            if !e.unit_within(e.stations[st.0 as usize].unit, self.centre) {
                continue;
            }
            let contest = &e.contests[x.contest.0 as usize].id;
            let desk: Option<(String, i64, Option<Vec<u8>>)> = conn
                .query_row(
                    "SELECT state, round, note FROM audit_counts WHERE contest = ?1 AND station = ?2",
                    params![contest, x.station],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let finished: i64 = match &desk {
                Some((_, round, _)) => conn.query_row(
                    "SELECT COUNT(*) FROM audit_entries WHERE contest = ?1 AND station = ?2 AND round = ?3 AND done = 1",
                    params![contest, x.station, round],
                    |r| r.get(0),
                )?,
                None => 0,
            };
            let ours = desk.as_ref().and_then(|d| d.2.as_ref()).map(|n| sha256(n));
            let state = match (&x.counted, &desk) {
                (Some((_, h)), _) if Some(*h) == ours => "logged",
                (Some(_), _) => "counted",
                (None, None) => "open",
                (None, Some((state, _, _))) => state.as_str(),
            };
            rows.push(json!({
                "contest": contest,
                "station": x.station,
                "round": x.round,
                "state": state,
                "entries_finished": finished,
                "log_index": x.counted.map(|c| c.0),
            }));
        }
        let ended: Vec<Value> = sample
            .ended
            .iter()
            .map(|(c, i)| json!({"contest": e.contests[c.0 as usize].id, "log_index": i}))
            .collect();
        Ok(json!({"enabled": true, "stations": rows, "ended": ended}))
    }

    /// The station as an audited one of the centre: known, in the centre, drawn by a logged
    /// sample of the contest's audit. Returns the contest, the station and the sample entry.
    fn sampled_station(
        &self,
        s: &Session,
        contest: &str,
        station: &str,
    ) -> Result<(ContestIdx, StationIdx, Sampled), Refusal> {
        self.audit_desk()?;
        let (c, st) = self.station_in_centre(s, contest, station)?;
        let sample = self.sample()?;
        let found = sample
            .stations
            .iter()
            .find(|x| x.contest == c && x.station == station)
            .cloned()
            .ok_or_else(|| {
                Refusal::new(
                    409,
                    "not-sampled",
                    format!(
                        "field `station`: {station} is not in any logged sample of the audit of contest {contest}"
                    ),
                )
            })?;
        Ok((c, st, found))
    }

    /// A typist claims a sampled station's hand count: the first entry slot, or the second
    /// if another typist holds the first; claiming again returns the same entry. A station
    /// no logged sample drew, or one already counted (in the log or signed here), is refused
    /// by name.
    ///
    /// # Errors
    /// [`Refusal`] as said, or for a typist who keyed the other entry.
    pub fn audit_claim(&self, s: &Session, contest: &str, station: &str) -> Result<Value, Refusal> {
        let u = self
            .require(s, &[Role::Typist], "key audit counts")?
            .clone();
        let (c, st, sampled) = self.sampled_station(s, contest, station)?;
        if let Some((index, _)) = sampled.counted {
            return Err(Refusal::new(
                409,
                "already-counted",
                format!(
                    "field `station`: {station} is already counted in the log at entry {index}"
                ),
            ));
        }
        if let Some((_, ended)) = self.sample()?.ended.iter().find(|(x, _)| *x == c) {
            return Err(Refusal::new(
                409,
                "audit-ended",
                format!(
                    "field `contest`: the audit of contest {contest} ended at entry {ended}; it takes no more counts"
                ),
            ));
        }
        let subject = format!("audit:{contest}/{station}");
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<(String, i64)> = tx
            .query_row(
                "SELECT state, round FROM audit_counts WHERE contest = ?1 AND station = ?2",
                params![contest, station],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let round = match row {
            None => {
                tx.execute(
                    "INSERT INTO audit_counts (contest, station, state, round) VALUES (?1, ?2, 'entering', 1)",
                    params![contest, station],
                )?;
                1
            }
            Some((state, round)) if state == "entering" => round,
            Some((state, _)) if state == "signed" => {
                return Err(Refusal::new(
                    409,
                    "already-counted",
                    format!(
                        "field `station`: {station} is already counted and signed at this desk; log it with `urna audit count --from-desk`"
                    ),
                ));
            }
            Some((state, _)) => {
                return Err(Refusal::new(
                    409,
                    "not-open",
                    format!("hand count {subject} is {state}, not open for entry"),
                ));
            }
        };
        let (id, slot) = match claim_slot(
            &tx,
            "audit_entries",
            (contest, station),
            round,
            u.id,
            &subject,
        )? {
            Claimed::Held { id, slot, done } => {
                tx.commit()?;
                drop(conn);
                return self.audit_entry_view(id, slot, done, c, st);
            }
            Claimed::New { id, slot } => (id, slot),
        };
        db::audit(
            &tx,
            &u.name,
            "audit-claim",
            &subject,
            &format!("round {round}, entry {slot}"),
        )?;
        tx.commit()?;
        drop(conn);
        self.audit_entry_view(id, slot, false, c, st)
    }

    fn audit_entry_view(
        &self,
        id: i64,
        slot: i64,
        done: bool,
        c: ContestIdx,
        st: StationIdx,
    ) -> Result<Value, Refusal> {
        let vals: String =
            self.reader()
                .query_row("SELECT vals FROM audit_entries WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?;
        let e = &self.election;
        Ok(json!({
            "entry": id,
            "slot": slot,
            "done": done,
            "audit": true,
            "api": format!("/api/audit/entries/{id}"),
            "contest": e.contests[c.0 as usize].id,
            "station": e.stations[st.0 as usize].id,
            "lines": count_lines(e, c),
            "values": values_of(&vals),
        }))
    }

    /// The caller's own audit entry; another typist's is refused (and audited).
    fn own_count(&self, s: &Session, id: i64) -> Result<OwnCount, Refusal> {
        let u = self
            .require(s, &[Role::Typist], "key audit counts")?
            .clone();
        let row: Option<(String, String, i64, i64, i64, bool, String)> = self
            .db()
            .query_row(
                "SELECT contest, station, round, slot, typist, done, vals FROM audit_entries WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )
            .optional()?;
        let Some((contest, station, round, slot, typist, done, vals)) = row else {
            return Err(Refusal::new(
                404,
                "not-found",
                format!("no audit entry {id}"),
            ));
        };
        if typist != u.id {
            db::audit(
                &self.db(),
                &u.name,
                "refused-other-entry",
                &format!("audit:{contest}/{station}"),
                &format!("audit entry {id}"),
            )?;
            return Err(Refusal::new(
                403,
                "forbidden",
                "this entry belongs to another typist",
            ));
        }
        let (c, st) = self.station_in_centre(s, &contest, &station)?;
        Ok((u, c, st, round, slot, done, values_of(&vals)))
    }

    /// Reads the caller's own audit entry.
    ///
    /// # Errors
    /// [`Refusal`] for another typist's entry.
    pub fn audit_entry(&self, s: &Session, id: i64) -> Result<Value, Refusal> {
        let (_, c, st, _, slot, done, _) = self.own_count(s, id)?;
        self.audit_entry_view(id, slot, done, c, st)
    }

    fn count_validation(&self, c: ContestIdx, vals: &BTreeMap<String, u64>) -> Value {
        match count_step(&self.election, c, "-", vals) {
            Err(missing) => json!({"complete": false, "missing": missing, "violations": []}),
            Ok(_) => json!({"complete": true, "violations": []}),
        }
    }

    /// Saves one keyed line of the caller's audit entry (committed before the answer).
    ///
    /// # Errors
    /// [`Refusal`] for a line not on the form, a value that is not a count, a finished entry.
    pub fn audit_save_line(
        &self,
        s: &Session,
        id: i64,
        key: &str,
        value: &str,
    ) -> Result<Value, Refusal> {
        let (_, c, _, _, _, done, _) = self.own_count(s, id)?;
        if done {
            return Err(super::finished());
        }
        if !count_lines(&self.election, c).iter().any(|l| l.key == key) {
            return Err(Refusal::new(
                400,
                "bad-field",
                format!("line `{key}`: not a line of this hand count's form"),
            ));
        }
        let value = if value.trim().is_empty() {
            None
        } else {
            Some(
                form::parse_value(key, value)
                    .map_err(|e| Refusal::new(400, "bad-field", e.to_string()))?,
            )
        };
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (vals, done): (String, bool) = tx.query_row(
            "SELECT vals, done FROM audit_entries WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if done {
            return Err(super::finished());
        }
        let mut vals = values_of(&vals);
        match value {
            Some(v) => vals.insert(key.to_owned(), v),
            None => vals.remove(key),
        };
        let json = serde_json::to_string(&vals)
            .map_err(|e| Refusal::new(500, "storage", e.to_string()))?;
        tx.execute(
            "UPDATE audit_entries SET vals = ?1 WHERE id = ?2",
            params![json, id],
        )?;
        tx.commit()?;
        Ok(self.count_validation(c, &vals))
    }

    /// Finishes the caller's audit entry. When the other entry of the round is finished too,
    /// the two are compared: equal → signed with the audit key as a `kind: count` note;
    /// different → to the coordinator.
    ///
    /// # Errors
    /// [`Refusal`] for an incomplete entry or a count no longer open.
    pub fn audit_finish(&self, s: &Session, id: i64) -> Result<Value, Refusal> {
        let (u, c, st, round, _, done, vals) = self.own_count(s, id)?;
        if done {
            return Ok(json!({"entry": id, "done": true}));
        }
        let e = &self.election;
        let contest = e.contests[c.0 as usize].id.clone();
        let station = e.stations[st.0 as usize].id.clone();
        count_step(e, c, &station, &vals).map_err(|m| Refusal::new(400, "incomplete", m))?;
        let subject = format!("audit:{contest}/{station}");
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if tx.execute(
            "UPDATE audit_entries SET done = 1 WHERE id = ?1 AND done = 0",
            [id],
        )? == 0
        {
            return Ok(json!({"entry": id, "done": true}));
        }
        let open: Option<(String, i64)> = tx
            .query_row(
                "SELECT state, round FROM audit_counts WHERE contest = ?1 AND station = ?2",
                params![contest, station],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if open
            .as_ref()
            .is_none_or(|(state, r)| state != "entering" || *r != round)
        {
            return Err(Refusal::new(
                409,
                "not-open",
                format!("hand count {subject} is no longer open for round {round}"),
            ));
        }
        // What was finished, in the chained trail: compared and kept only as it was.
        let (finished_vals, slot): (String, i64) = tx.query_row(
            "SELECT vals, slot FROM audit_entries WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        db::audit(
            &tx,
            &u.name,
            "audit-entry-finish",
            &subject,
            &super::finish_detail(round, slot, &finished_vals),
        )?;
        let entries: Vec<(String, String, bool)> = {
            let mut q = tx.prepare(
                "SELECT e.vals, u.name, e.done FROM audit_entries e JOIN users u ON u.id = e.typist \
                 WHERE e.contest = ?1 AND e.station = ?2 AND e.round = ?3 ORDER BY e.slot",
            )?;
            q.query_map(params![contest, station, round], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?
        };
        let mut state = "entering";
        if let [(a, ta, true), (b, tb, true)] = entries.as_slice() {
            let changed = super::changed_entries(
                &tx,
                ("audit-entry-finish", "audit-entry-changed"),
                &subject,
                round,
                [(a.as_str(), ta.as_str()), (b.as_str(), tb.as_str())],
            )?;
            let first = count_step(e, c, &station, &values_of(a));
            let second = count_step(e, c, &station, &values_of(b));
            match (first, second) {
                (Ok(x), Ok(y)) if x == y && changed.is_empty() => {
                    self.sign_count(
                        &tx,
                        &subject,
                        c,
                        x,
                        &format!("entered by {ta} and {tb}, equal"),
                        "-",
                    )?;
                    state = "signed";
                }
                _ => {
                    tx.execute(
                        "UPDATE audit_counts SET state = 'difference' WHERE contest = ?1 AND station = ?2",
                        params![contest, station],
                    )?;
                    db::audit(
                        &tx,
                        "-",
                        "audit-difference",
                        &subject,
                        &format!("round {round}: entries by {ta} and {tb} differ"),
                    )?;
                    state = "difference";
                }
            }
        }
        tx.commit()?;
        Ok(json!({"entry": id, "done": true, "protocol": state}))
    }

    fn sign_count(
        &self,
        tx: &Connection,
        subject: &str,
        c: ContestIdx,
        step: AuditStep,
        why: &str,
        actor: &str,
    ) -> Result<(), Refusal> {
        let a = self.audit_desk()?;
        let e = &self.election;
        let AuditStep::Count { station, .. } = &step else {
            return Err(Refusal::new(500, "internal", "a count step is signed here"));
        };
        let station = station.clone();
        let body = AuditBody {
            election: e.id.clone(),
            contest: e.contests[c.0 as usize].id.clone(),
            step,
        };
        let note = a.signer.sign_text(&body.to_text()).to_bytes();
        tx.execute(
            "UPDATE audit_counts SET state = 'signed', note = ?1 WHERE contest = ?2 AND station = ?3",
            params![note, body.contest, station],
        )?;
        db::audit(
            tx,
            actor,
            "audit-signed",
            subject,
            &format!(
                "{why}; signed by {}; sha256:{}",
                a.signer.name(),
                hex(&sha256(&note))
            ),
        )?;
        Ok(())
    }

    /// Both entries of a hand count side by side, with the lines that differ (coordinator).
    ///
    /// # Errors
    /// [`Refusal`] for other roles or a station that is not sampled.
    pub fn audit_count(&self, s: &Session, contest: &str, station: &str) -> Result<Value, Refusal> {
        self.require(s, &[Role::Coordinator], "see audit entries side by side")?;
        let (c, _, _) = self.sampled_station(s, contest, station)?;
        let conn = self.db();
        let row: Option<(String, i64)> = conn
            .query_row(
                "SELECT state, round FROM audit_counts WHERE contest = ?1 AND station = ?2",
                params![contest, station],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let path = format!(
            "/api/audit/counts/{}/{}",
            percent_encode(contest),
            percent_encode(station)
        );
        let Some((state, round)) = row else {
            return Ok(
                json!({"contest": contest, "station": station, "state": "open", "api": path}),
            );
        };
        let entries: Vec<(i64, String, bool, String)> = {
            let mut q = conn.prepare(
                "SELECT e.slot, u.name, e.done, e.vals FROM audit_entries e JOIN users u ON u.id = e.typist \
                 WHERE e.contest = ?1 AND e.station = ?2 AND e.round = ?3 ORDER BY e.slot",
            )?;
            q.query_map(params![contest, station, round], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<Result<_, _>>()?
        };
        drop(conn);
        let lines = count_lines(&self.election, c);
        let maps: Vec<BTreeMap<String, u64>> = entries.iter().map(|e| values_of(&e.3)).collect();
        let differing: Vec<&str> = match maps.as_slice() {
            [a, b] => lines
                .iter()
                .filter(|l| a.get(&l.key) != b.get(&l.key))
                .map(|l| l.key.as_str())
                .collect(),
            _ => Vec::new(),
        };
        Ok(json!({
            "contest": contest,
            "station": station,
            "audit": true,
            "api": path,
            "state": state,
            "round": round,
            "lines": lines,
            "differing": differing,
            "entries": entries.iter().zip(&maps).map(|(e, m)| json!({
                "slot": e.0,
                "typist": e.1,
                "done": e.2,
                "values": m,
                "validation": self.count_validation(c, m),
            })).collect::<Vec<_>>(),
        }))
    }

    /// The coordinator resolves a hand count in difference: `keep-1` or `keep-2` signs that
    /// entry with the audit key; `reenter` discards both and opens a new round. A reason is
    /// required and logged. `seen` is the round whose entries the coordinator was shown: a
    /// decision on another round is refused, as for a protocol ([`Desk::resolve`]).
    ///
    /// # Errors
    /// [`Refusal`] for other roles, a count not in difference, a round other than the
    /// current one (`409 stale`), an empty reason, a kept entry that is not complete.
    pub fn audit_resolve(
        &self,
        s: &Session,
        (contest, station): (&str, &str),
        seen: i64,
        action: &str,
        reason: &str,
    ) -> Result<Value, Refusal> {
        let u = self
            .require(s, &[Role::Coordinator], "resolve audit counts")?
            .clone();
        let (c, _, _) = self.sampled_station(s, contest, station)?;
        let reason = super::one_line_reason(reason)?;
        let subject = format!("audit:{contest}/{station}");
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let round: Option<i64> = tx
            .query_row(
                "SELECT round FROM audit_counts WHERE contest = ?1 AND station = ?2 AND state = 'difference'",
                params![contest, station],
                |r| r.get(0),
            )
            .optional()?;
        let Some(round) = round else {
            return Err(Refusal::new(
                409,
                "not-in-difference",
                format!("hand count {subject} is not in difference"),
            ));
        };
        if seen != round {
            return Err(super::stale_round(&subject, seen, round));
        }
        let state = match action {
            "keep-1" | "keep-2" => {
                let slot: i64 = if action == "keep-1" { 1 } else { 2 };
                let (vals, typist): (String, String) = tx.query_row(
                    "SELECT e.vals, u.name FROM audit_entries e JOIN users u ON u.id = e.typist \
                     WHERE e.contest = ?1 AND e.station = ?2 AND e.round = ?3 AND e.slot = ?4",
                    params![contest, station, round, slot],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                let finish = "audit-entry-finish";
                if let Some(why) =
                    super::entry_changed(&tx, finish, &subject, round, slot, &typist, &vals)?
                {
                    drop(tx);
                    db::audit(&conn, &u.name, "audit-entry-changed", &subject, &why)?;
                    return Err(super::entry_changed_refusal(&why));
                }
                let step = count_step(&self.election, c, station, &values_of(&vals))
                    .map_err(|m| Refusal::new(409, "incomplete", m))?;
                self.sign_count(
                    &tx,
                    &subject,
                    c,
                    step,
                    &format!("coordinator kept entry {slot} by {typist}: {reason}"),
                    &u.name,
                )?;
                "signed"
            }
            "reenter" => {
                tx.execute(
                    "UPDATE audit_counts SET state = 'entering', round = round + 1, note = NULL \
                     WHERE contest = ?1 AND station = ?2",
                    params![contest, station],
                )?;
                db::audit(
                    &tx,
                    &u.name,
                    "audit-reenter",
                    &subject,
                    &format!("round {round} discarded: {reason}"),
                )?;
                "entering"
            }
            other => {
                return Err(Refusal::new(
                    400,
                    "bad-field",
                    format!("field `action`: {other:?} is not keep-1, keep-2 or reenter"),
                ));
            }
        };
        tx.commit()?;
        Ok(json!({"contest": contest, "station": station, "state": state}))
    }
}

/// A path segment with every byte but `[A-Za-z0-9._~-]` percent-encoded (a station id may
/// hold `/`).
fn percent_encode(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"._~-".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[derive(serde::Deserialize)]
struct Csrf {
    csrf: Option<String>,
}

#[derive(serde::Deserialize)]
struct Claim {
    contest: String,
    station: String,
}

#[derive(serde::Deserialize)]
struct SaveLine {
    key: String,
    value: String,
}

#[derive(serde::Deserialize)]
struct Resolve {
    action: String,
    reason: String,
    /// The round whose entries the coordinator saw.
    round: i64,
}

fn parse<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body)
        .map_err(|e| Refusal::new(400, "bad-json", format!("request body: {e}")))
}

fn entry_id(s: &str) -> Result<i64, Refusal> {
    s.parse()
        .map_err(|_| Refusal::new(400, "bad-field", format!("entry id {s:?} is not a number")))
}

/// The audit counts' part of the API, `/api/audit/…` (`rest` is the path after it); every
/// POST carries the session's CSRF token.
///
/// ```text
/// GET  /api/audit                                      sampled stations of the centre, states
/// POST /api/audit/claim                                {csrf, contest, station}   typist
/// GET  /api/audit/entries/<id>                         own entry only             typist
/// POST /api/audit/entries/<id>/line                    {csrf, key, value}         typist
/// POST /api/audit/entries/<id>/finish                  {csrf}                     typist
/// GET  /api/audit/counts/<contest>/<station>           both entries               coordinator
/// POST /api/audit/counts/<contest>/<station>/resolve   {csrf, round, action, reason}  coordinator
/// ```
///
/// # Errors
/// [`Refusal`] as each method says; `404` for another path.
pub fn route(
    desk: &Desk,
    s: &Session,
    method: &axum::http::Method,
    path: &str,
    rest: &[&str],
    body: &[u8],
) -> Result<Value, Refusal> {
    use axum::http::Method;
    let not_found = || Refusal::new(404, "not-found", format!("no such resource: {path}"));
    if *method == Method::GET {
        return match rest {
            [] => desk.audit_list(s),
            ["entries", id] => desk.audit_entry(s, entry_id(id)?),
            ["counts", contest, station] => desk.audit_count(s, contest, station),
            _ => Err(not_found()),
        };
    }
    if *method != Method::POST {
        return Err(Refusal::new(
            405,
            "method",
            format!("{method} is not allowed here"),
        ));
    }
    let csrf: Csrf = parse(body)?;
    desk.check_csrf(s, csrf.csrf.as_deref(), path)?;
    match rest {
        ["claim"] => {
            let c: Claim = parse(body)?;
            desk.audit_claim(s, &c.contest, &c.station)
        }
        ["entries", id, "line"] => {
            let l: SaveLine = parse(body)?;
            desk.audit_save_line(s, entry_id(id)?, &l.key, &l.value)
        }
        ["entries", id, "finish"] => desk.audit_finish(s, entry_id(id)?),
        ["counts", contest, station, "resolve"] => {
            let r: Resolve = parse(body)?;
            desk.audit_resolve(s, (contest, station), r.round, &r.action, &r.reason)
        }
        _ => Err(not_found()),
    }
}

#[cfg(test)]
mod tests;
