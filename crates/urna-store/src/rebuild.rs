//! Opening a data directory: every stored row is read back in log order, its note re-derived,
//! and the store's in-memory state (the log's tree, the intake history) rebuilt from the notes.
//!
//! The note bytes are the only part of a row the log covers. The other columns of `entries`
//! are derived from the note at intake, so they are derived again here and compared:
//!
//! | column        | derived from the note as                                   | checked  |
//! |---------------|------------------------------------------------------------|----------|
//! | `idx`         | its position: entries are numbered 0, 1, 2, … without gaps | at open  |
//! | `hash`        | SHA-256 of the note bytes                                  | at open  |
//! | `text_hash`   | SHA-256 of the note text                                   | at open  |
//! | `contest`     | the body's `contest:` (empty for the genesis, a revocation) | at open |
//! | `station`     | the body's `station:` (empty for the genesis)              | at open  |
//! | `revision`    | the body's `revision:` (0 for the genesis, a revocation)   | at open  |
//! | `status`      | 1 if an error rule of the definition fails, else 0         | on read  |
//! | `received_ms` | not derived: the intake clock, for operators only          | never    |
//!
//! A row whose column disagrees with its note is refused, naming the entry, the column, the
//! stored and the derived value. Each protocol or amendment is then admitted again
//! ([`urna_model::intake::admit`]) against the history of the entries before it, exactly as
//! intake did: its kind, revision and `supersedes:` must follow the station's earlier entries,
//! and no note may repeat another. Each `urna/revocation/v1` is admitted again into the station
//! keys ([`urna_model::intake::StationKeys::admit`]) at its index, in log order, and every note
//! after it is judged by the keys as they stood before the note: a revocation that no longer
//! follows (its key not held, revoked twice) refuses the open. Nothing at open depends on `status`: the tally re-derives
//! every verdict from the notes, and [`crate::Store::entry`] derives it from the note and
//! refuses a row whose `status` disagrees. Signatures are not checked again (intake checked
//! them, and the log's checkpoint covers the note bytes).
//!
//! Cost: the entries the last signed checkpoint covers are read by their header lines only
//! (type, election, contest, station, revision, supersedes) and their two hashes: the log's
//! root, checked against that checkpoint right after, proves their bytes are what intake
//! accepted. Entries after it (committed but not yet sequenced when the process stopped) are
//! parsed and validated in full. The notes of each chunk are read on every core while the
//! calling thread builds the log's tree from the same chunk.

use rusqlite::Connection;
use urna_model::definition::Election;
use urna_model::intake::{
    Revocation, StationKeys, Submission, Verdict, admit, bind_revocation_unverified, sha256,
};
use urna_model::protocol::{AMENDMENT_V1, PROTOCOL_V1, hex, parse_count, parse_sha256};

use urna_model::rotation::{RotationBody, is_rotation};

use crate::log::Sequencer;
use crate::{MemoryHistory, StoreError, check_genesis, is_revocation, resubmit};

/// Rows checked per chunk.
const OPEN_CHUNK: usize = 8192;

/// One stored row of `entries`, as read, before any check (the columns the note derives).
#[derive(Debug, Clone)]
pub struct StoredRow {
    /// `idx`.
    pub index: i64,
    /// `hash`.
    pub hash: Vec<u8>,
    /// `text_hash`.
    pub text_hash: Vec<u8>,
    /// `contest`.
    pub contest: String,
    /// `station`.
    pub station: String,
    /// `revision`.
    pub revision: i64,
    /// `note`.
    pub note: Vec<u8>,
}

/// Where [`rebuild_rows`] hands each chunk's notes: the log's tree (first index, notes).
pub type AppendLeaves<'a> = dyn FnMut(u64, &[&[u8]]) -> Result<(), StoreError> + 'a;

/// One stored row, numbered by its place in log order.
struct Row {
    index: u64,
    hash: Vec<u8>,
    text_hash: Vec<u8>,
    contest: String,
    station: String,
    revision: i64,
    note: Vec<u8>,
}

/// What a row's note says of the row.
enum Derived {
    /// Entry 0: the genesis (no contest, station or revision).
    Genesis { hash: [u8; 32], text_hash: [u8; 32] },
    /// A protocol or an amendment.
    Entry(Submission),
    /// An `urna/revocation/v1` note: its station; no contest, revision 0.
    Revocation(Revocation),
    /// An `urna/key-rotation/v1` note: no contest, station or revision.
    Rotation {
        hash: [u8; 32],
        text_hash: [u8; 32],
        body: RotationBody,
    },
    /// An `urna/audit/v1` note: its contest; no station, revision 0 (`crate::audit`).
    Audit {
        hash: [u8; 32],
        text_hash: [u8; 32],
        contest: String,
    },
}

/// Reads every row in log order, checks it against its note, appends the notes to `log`, and
/// returns the intake history and the number of entries. Entries below `signed` (the size of
/// the last checkpoint the log signed, whose root the caller checks next) are read by their
/// header only.
pub(crate) fn rebuild(
    conn: &Connection,
    election: &Election,
    log: &mut Sequencer,
    signed: u64,
) -> Result<(MemoryHistory, u64), StoreError> {
    let mut stmt = conn.prepare(
        "SELECT idx, hash, text_hash, contest, station, revision, note \
         FROM entries ORDER BY idx",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(StoredRow {
            index: r.get(0)?,
            hash: r.get(1)?,
            text_hash: r.get(2)?,
            contest: r.get(3)?,
            station: r.get(4)?,
            revision: r.get(5)?,
            note: r.get(6)?,
        })
    })?;
    rebuild_rows(
        election,
        rows.map(|r| r.map_err(StoreError::from)),
        &mut |first, notes| log.append(first, notes.iter().copied()),
        signed,
    )
}

/// The SQLite store's open-time check (`rebuild`) for rows from any engine, in log order
/// (`ORDER BY idx`): checks every row against its note and admits it again ([`admit`]) after
/// the entries before it, handing the notes of each chunk to `append` (the log's tree: first
/// index, notes) while they are checked.
/// Returns the intake history and the number of entries.
///
/// # Errors
/// [`StoreError::Missing`], [`StoreError::Corrupt`], [`StoreError::Column`] or
/// [`StoreError::Inadmissible`] naming the first entry that fails; the error of `rows` or
/// `append` as it comes.
pub fn rebuild_rows(
    election: &Election,
    rows: impl Iterator<Item = Result<StoredRow, StoreError>>,
    append: &mut AppendLeaves<'_>,
    signed: u64,
) -> Result<(MemoryHistory, u64), StoreError> {
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let mut history = MemoryHistory::default();
    let mut next = 0u64;
    let mut chunk: Vec<Row> = Vec::with_capacity(OPEN_CHUNK);
    let mut rows = rows;
    loop {
        let row = rows.next().transpose()?;
        let done = row.is_none();
        if let Some(r) = row {
            let idx = r.index;
            let expected = next + chunk.len() as u64;
            if u64::try_from(idx).ok() != Some(expected) {
                // Report whatever is wrong before the gap first.
                check_chunk(election, append, &mut history, &chunk, signed, threads)?;
                return Err(if idx > crate::to_sql(expected) {
                    StoreError::Missing { index: expected }
                } else {
                    StoreError::Corrupt {
                        index: expected,
                        reason: format!(
                            "a row has index {idx}; entries are numbered 0, 1, 2, … without gaps"
                        ),
                    }
                });
            }
            chunk.push(Row {
                index: expected,
                hash: r.hash,
                text_hash: r.text_hash,
                contest: r.contest,
                station: r.station,
                revision: r.revision,
                note: r.note,
            });
        }
        if chunk.len() == OPEN_CHUNK || (done && !chunk.is_empty()) {
            check_chunk(election, append, &mut history, &chunk, signed, threads)?;
            next += chunk.len() as u64;
            chunk.clear();
        }
        if done {
            return Ok((history, next));
        }
    }
}

/// Derives the chunk's notes on every core while the calling thread appends them to the log,
/// then checks each row and admits it, in order.
fn check_chunk(
    e: &Election,
    append: &mut AppendLeaves<'_>,
    history: &mut MemoryHistory,
    chunk: &[Row],
    signed: u64,
    threads: usize,
) -> Result<(), StoreError> {
    let Some(first) = chunk.first() else {
        return Ok(());
    };
    let per = chunk.len().div_ceil(threads.max(1)).max(1);
    // Derived against the keys as the chunk starts; a note of a station that a revocation in
    // the chunk touched is derived again below, against the keys as they stand before it.
    let keys = history.keys();
    let (appended, derived) = std::thread::scope(|s| {
        let handles: Vec<_> = chunk
            .chunks(per)
            .map(|part| {
                let h = s.spawn(move || {
                    part.iter()
                        .map(|r| derive(e, keys, r, r.index < signed))
                        .collect::<Vec<_>>()
                });
                (part.len(), h)
            })
            .collect();
        let notes: Vec<&[u8]> = chunk.iter().map(|r| r.note.as_slice()).collect();
        let appended = append(first.index, &notes);
        let derived: Vec<Result<Derived, String>> = handles
            .into_iter()
            .flat_map(|(len, h)| {
                h.join()
                    .unwrap_or_else(|_| (0..len).map(|_| Err(panicked())).collect())
            })
            .collect();
        (appended, derived)
    });
    let mut revoked_in_chunk = false;
    for (row, derived) in chunk.iter().zip(derived) {
        let corrupt = |reason| StoreError::Corrupt {
            index: row.index,
            reason,
        };
        let mut derived = derived.map_err(corrupt)?;
        if revoked_in_chunk
            && row.index >= signed
            && let Derived::Entry(sub) = &derived
            && history.keys().touches(sub.station)
        {
            derived =
                Derived::Entry(resubmit(e, history.keys(), row.index, &row.note).map_err(corrupt)?);
        }
        check_columns(e, row, &derived)?;
        if let Derived::Rotation { hash, body, .. } = &derived {
            if let Some(held) = history.holder_of(hash) {
                return Err(StoreError::Inadmissible {
                    index: row.index,
                    reason: format!("it repeats entry {held}"),
                });
            }
            history
                .admit_rotation(e, row.index, *hash, body.clone())
                .map_err(|reason| StoreError::Inadmissible {
                    index: row.index,
                    reason,
                })?;
        }
        if let Derived::Revocation(r) = &derived {
            match history.admit_revocation(e, row.index, r) {
                Ok(Verdict::Duplicate) => {
                    let held = history.keys().holder(r).map_or(row.index, |(i, _)| i);
                    return Err(StoreError::Inadmissible {
                        index: row.index,
                        reason: format!("it repeats entry {held}"),
                    });
                }
                Ok(_) => revoked_in_chunk = true,
                Err(rejection) => {
                    return Err(StoreError::Inadmissible {
                        index: row.index,
                        reason: rejection.to_string(),
                    });
                }
            }
        }
        if let Derived::Entry(sub) = derived {
            match admit(e, &*history, &sub) {
                Ok(verdict @ (Verdict::Accepted | Verdict::Quarantined)) => {
                    history.apply(&sub, verdict, row.index);
                }
                Ok(Verdict::Duplicate) => {
                    let (held, _) = history.holder(&sub).unwrap_or((row.index, sub.hash));
                    return Err(StoreError::Inadmissible {
                        index: row.index,
                        reason: format!("it repeats entry {held}"),
                    });
                }
                Err(rejection) => {
                    return Err(StoreError::Inadmissible {
                        index: row.index,
                        reason: rejection.to_string(),
                    });
                }
            }
        }
    }
    // The log's error (out of order, …) only after every row was checked: a refused row says
    // more.
    appended
}

fn panicked() -> String {
    "the thread re-deriving it panicked".to_owned()
}

/// What `row`'s note says of the row: from its header alone if `covered` (the log's root
/// covers it), else from a full parse and validation.
fn derive(e: &Election, keys: &StationKeys, row: &Row, covered: bool) -> Result<Derived, String> {
    if row.index == 0 {
        let text_hash = check_genesis(e, &row.note)?;
        return Ok(Derived::Genesis {
            hash: sha256(&row.note),
            text_hash,
        });
    }
    if urna_model::audit::is_audit(&row.note) {
        let (hash, text_hash, contest) = crate::audit::derive(e, &row.note)?;
        return Ok(Derived::Audit {
            hash,
            text_hash,
            contest,
        });
    }
    if is_rotation(&row.note) {
        // Both log signatures are checked again (rotations are few): a rotation written into
        // the database outside urna, signed by one key only, refuses the open. The chain of
        // keys is checked at open (`Store::open`).
        let body = RotationBody::check(&row.note).map_err(|err| err.to_string())?;
        let text_hash = urna_model::note::Note::parse(&row.note)
            .map(|n| sha256(n.text().as_bytes()))
            .map_err(|err| err.to_string())?;
        return Ok(Derived::Rotation {
            hash: sha256(&row.note),
            text_hash,
            body,
        });
    }
    if is_revocation(&row.note) {
        // Its authority signature was checked at intake; the log's root covers the bytes.
        return bind_revocation_unverified(e, &row.note)
            .map(Derived::Revocation)
            .map_err(|err| err.to_string());
    }
    if covered && let Some(sub) = header(e, &row.note) {
        return Ok(Derived::Entry(sub));
    }
    resubmit(e, keys, row.index, &row.note).map(Derived::Entry)
}

/// The submission of a stored protocol or amendment as far as its header lines say (no counts,
/// votes or verdict): what the history and the columns need. `None` if the note does not have
/// the shape intake gives every stored note; the full parse then says what is wrong.
fn header(e: &Election, note: &[u8]) -> Option<Submission> {
    // The text ends at the last blank line (signed-note format), as `Note::parse` splits it;
    // the signature lines after it are short, so the search from the end is too.
    let end = (0..note.len().saturating_sub(1))
        .rev()
        .find(|&i| note[i] == b'\n' && note[i + 1] == b'\n')?;
    let text = &note[..=end];
    let mut lines = text
        .split(|&b| b == b'\n')
        .map(|l| std::str::from_utf8(l).ok());
    let mut field = |key: &str| -> Option<&str> { lines.next()??.strip_prefix(key) };
    let amendment = match field("")? {
        PROTOCOL_V1 => false,
        AMENDMENT_V1 => true,
        _ => return None,
    };
    if field("election: ")? != e.id {
        return None;
    }
    let contest = e.contest(field("contest: ")?)?;
    let station = e.station(field("station: ")?)?;
    let revision = parse_count(field("revision: ")?)
        .ok()
        .and_then(|r| u32::try_from(r).ok())
        .filter(|&r| r >= 1)?;
    let supersedes = if amendment {
        Some(parse_sha256(field("supersedes: ")?).ok()?)
    } else {
        None
    };
    Some(Submission {
        hash: sha256(note),
        text_hash: sha256(text),
        contest,
        station,
        revision,
        supersedes,
        counts: Vec::new(),
        votes: Vec::new(),
        preferences: Vec::new(),
        violations: Vec::new(),
        decision: None,
        // The log's root covers the entry: intake checked its signatures when it came.
        station_signed: true,
        scan: None,
    })
}

/// Compares every column of `row` checked at open with what its note gives.
fn check_columns(e: &Election, row: &Row, derived: &Derived) -> Result<(), StoreError> {
    let (hash, text_hash, contest, station, revision) = match derived {
        Derived::Genesis { hash, text_hash }
        | Derived::Rotation {
            hash, text_hash, ..
        } => (hash, text_hash, "", "", 0),
        Derived::Audit {
            hash,
            text_hash,
            contest,
        } => (hash, text_hash, contest.as_str(), "", 0),
        Derived::Revocation(r) => (
            &r.hash,
            &r.text_hash,
            "",
            e.stations[r.station.0 as usize].id.as_str(),
            0,
        ),
        Derived::Entry(sub) => (
            &sub.hash,
            &sub.text_hash,
            e.contests[sub.contest.0 as usize].id.as_str(),
            e.stations[sub.station.0 as usize].id.as_str(),
            i64::from(sub.revision),
        ),
    };
    let mismatch = |column: &'static str, stored: String, derived: String| {
        Err(StoreError::Column {
            index: row.index,
            column,
            stored,
            derived,
        })
    };
    if row.hash != hash {
        return mismatch("hash", hex(&row.hash), hex(hash));
    }
    if row.text_hash != text_hash {
        return mismatch("text_hash", hex(&row.text_hash), hex(text_hash));
    }
    if row.contest != contest {
        return mismatch(
            "contest",
            format!("{:?}", row.contest),
            format!("{contest:?}"),
        );
    }
    if row.station != station {
        return mismatch(
            "station",
            format!("{:?}", row.station),
            format!("{station:?}"),
        );
    }
    if row.revision != revision {
        return mismatch("revision", row.revision.to_string(), revision.to_string());
    }
    Ok(())
}

/// The `status` column as a person reads it.
pub(crate) fn status_text(status: i64) -> String {
    match status {
        0 => "0 (accepted)".to_owned(),
        1 => "1 (quarantined)".to_owned(),
        other => other.to_string(),
    }
}
