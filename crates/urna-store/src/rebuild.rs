//! Opening a data directory: every stored row is read back in log order, its note re-derived,
//! and the store's in-memory state (the log's tree, the intake history) rebuilt from the notes.
//!
//! The note bytes are the only part of a row the log covers. Every other column of `entries`
//! is derived from the note at intake, so it is derived again here and compared:
//!
//! | column        | derived from the note as                                   |
//! |---------------|------------------------------------------------------------|
//! | `idx`         | its position: entries are numbered 0, 1, 2, … without gaps |
//! | `hash`        | SHA-256 of the note bytes                                  |
//! | `text_hash`   | SHA-256 of the note text                                   |
//! | `contest`     | the body's `contest:` (empty for the genesis)              |
//! | `station`     | the body's `station:` (empty for the genesis)              |
//! | `revision`    | the body's `revision:` (0 for the genesis)                 |
//! | `status`      | 1 if an error rule of the definition fails, else 0         |
//! | `received_ms` | not derived: the intake clock, kept for operators only     |
//!
//! A row whose column disagrees with its note is refused, naming the entry, the column, the
//! stored and the derived value. Each protocol or amendment is then admitted again
//! ([`urna_model::intake::admit`]) against the history of the entries before it, exactly as
//! intake did: what the note says of its kind, revision and `supersedes:` must follow the
//! station's earlier entries, and no note may repeat another. Signatures are not checked again
//! (they were checked at intake, and the log's checkpoint covers the note bytes).
//!
//! Cost: each note is parsed and validated once, on every core, while the log's tree is built
//! from the same chunk on the calling thread.

use rusqlite::Connection;
use urna_model::definition::Election;
use urna_model::intake::{Submission, Verdict, admit, sha256};
use urna_model::protocol::hex;

use crate::log::Sequencer;
use crate::{MemoryHistory, StoreError, check_genesis, resubmit};

/// Rows checked per chunk.
const OPEN_CHUNK: usize = 8192;

/// One stored row, as read, before any check.
struct Row {
    index: u64,
    hash: Vec<u8>,
    text_hash: Vec<u8>,
    contest: String,
    station: String,
    revision: i64,
    status: i64,
    note: Vec<u8>,
}

/// What a row's note says of the row.
enum Derived {
    /// Entry 0: the genesis (no contest, station or revision).
    Genesis { hash: [u8; 32], text_hash: [u8; 32] },
    /// A protocol or an amendment.
    Entry(Submission),
}

/// Reads every row in log order, checks it against its note, appends the notes to `log`, and
/// returns the intake history and the number of entries.
pub(crate) fn rebuild(
    conn: &Connection,
    election: &Election,
    log: &mut Sequencer,
) -> Result<(MemoryHistory, u64), StoreError> {
    let mut stmt = conn.prepare(
        "SELECT idx, hash, text_hash, contest, station, revision, status, note \
         FROM entries ORDER BY idx",
    )?;
    let mut rows = stmt.query([])?;
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let mut history = MemoryHistory::default();
    let mut next = 0u64;
    let mut chunk: Vec<Row> = Vec::with_capacity(OPEN_CHUNK);
    loop {
        let row = rows.next()?;
        let done = row.is_none();
        if let Some(r) = row {
            let idx: i64 = r.get(0)?;
            let expected = next + chunk.len() as u64;
            if u64::try_from(idx).ok() != Some(expected) {
                // Report whatever is wrong before the gap first.
                check_chunk(election, log, &mut history, &chunk, threads)?;
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
                hash: r.get(1)?,
                text_hash: r.get(2)?,
                contest: r.get(3)?,
                station: r.get(4)?,
                revision: r.get(5)?,
                status: r.get(6)?,
                note: r.get(7)?,
            });
        }
        if chunk.len() == OPEN_CHUNK || (done && !chunk.is_empty()) {
            check_chunk(election, log, &mut history, &chunk, threads)?;
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
    log: &mut Sequencer,
    history: &mut MemoryHistory,
    chunk: &[Row],
    threads: usize,
) -> Result<(), StoreError> {
    let Some(first) = chunk.first() else {
        return Ok(());
    };
    let per = chunk.len().div_ceil(threads.max(1)).max(1);
    let (appended, derived) = std::thread::scope(|s| {
        let handles: Vec<_> = chunk
            .chunks(per)
            .map(|part| {
                let h = s.spawn(move || part.iter().map(|r| derive(e, r)).collect::<Vec<_>>());
                (part.len(), h)
            })
            .collect();
        let appended = log.append(first.index, chunk.iter().map(|r| r.note.as_slice()));
        let derived: Vec<Result<Derived, String>> = handles
            .into_iter()
            .flat_map(|(len, h)| {
                h.join()
                    .unwrap_or_else(|_| (0..len).map(|_| Err(panicked())).collect())
            })
            .collect();
        (appended, derived)
    });
    for (row, derived) in chunk.iter().zip(derived) {
        let derived = derived.map_err(|reason| StoreError::Corrupt {
            index: row.index,
            reason,
        })?;
        check_columns(e, row, &derived)?;
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

fn derive(e: &Election, row: &Row) -> Result<Derived, String> {
    if row.index == 0 {
        let text_hash = check_genesis(e, &row.note)?;
        Ok(Derived::Genesis {
            hash: sha256(&row.note),
            text_hash,
        })
    } else {
        resubmit(e, &row.note).map(Derived::Entry)
    }
}

/// Compares every derived column of `row` with what its note gives.
fn check_columns(e: &Election, row: &Row, derived: &Derived) -> Result<(), StoreError> {
    let (hash, text_hash, contest, station, revision, status) = match derived {
        Derived::Genesis { hash, text_hash } => (hash, text_hash, "", "", 0, 0),
        Derived::Entry(sub) => (
            &sub.hash,
            &sub.text_hash,
            e.contests[sub.contest.0 as usize].id.as_str(),
            e.stations[sub.station.0 as usize].id.as_str(),
            i64::from(sub.revision),
            i64::from(sub.is_quarantined()),
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
    if row.status != status {
        return mismatch("status", status_text(row.status), status_text(status));
    }
    Ok(())
}

fn status_text(status: i64) -> String {
    match status {
        0 => "0 (accepted)".to_owned(),
        1 => "1 (quarantined)".to_owned(),
        other => other.to_string(),
    }
}
