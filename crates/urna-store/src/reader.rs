//! A read-only view of a data directory's entries, for readers that run beside intake: the
//! bundle publisher, verifiers of a local copy, exports.
//!
//! It opens `urna.sqlite` with its own read-only connection. The database is in WAL mode, so
//! a reader never blocks the writer and always sees whole committed transactions. Entries
//! are append-only (rows are never updated or deleted), so reading a range in several short
//! transactions gives the same bytes as one long one, without holding a WAL snapshot open for
//! the whole range.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, params};

use crate::{DB_FILE, StoreError};

/// Entries read per query by [`EntryReader::for_each`].
const READ_CHUNK: u64 = 4096;

/// How long a read waits for a lock the writer holds (only WAL recovery takes one).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads the entries of a data directory through a read-only SQLite connection.
#[derive(Debug)]
pub struct EntryReader {
    path: PathBuf,
    conn: Connection,
}

impl EntryReader {
    /// Opens `DIR/urna.sqlite` read-only.
    ///
    /// # Errors
    /// [`StoreError::Setup`] if the directory holds no store; [`StoreError::Sqlite`] if the
    /// database cannot be opened.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(DB_FILE);
        if !path.exists() {
            return Err(StoreError::Setup(format!(
                "{} is not an urna data directory (no {DB_FILE}); run `urna init` first",
                data_dir.display()
            )));
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(Self { path, conn })
    }

    /// The read-only connection.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SHA-256 (hex) of the election definition the store was created with, as
    /// `urna init` recorded it: a reader must interpret the entries with that definition.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`], e.g. if it is not recorded.
    pub fn definition_sha256(&self) -> Result<String, StoreError> {
        Ok(self.conn.query_row(
            "SELECT value FROM meta WHERE key = 'definition_sha256'",
            [],
            |r| r.get(0),
        )?)
    }

    /// Number of entries committed (the highest index plus one).
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn len(&self) -> Result<u64, StoreError> {
        let max: Option<i64> = self
            .conn
            .query_row("SELECT MAX(idx) FROM entries", [], |r| r.get(0))?;
        Ok(max.map_or(0, |m| u64::try_from(m).map_or(0, |m| m + 1)))
    }

    /// Whether no entry is committed yet.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// The entries `[from, to)`, in index order.
    ///
    /// Meant for bounded ranges: every note is copied into its own `Vec`. For long ranges use
    /// [`EntryReader::for_each`].
    ///
    /// # Errors
    /// [`StoreError::Missing`] naming the first index in the range that is not stored;
    /// [`StoreError::Sqlite`].
    pub fn read(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut out = Vec::with_capacity(usize::try_from(to.saturating_sub(from)).unwrap_or(0));
        self.for_each(from, to, |_, note| -> Result<(), StoreError> {
            out.push(note.to_vec());
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `f(index, note)` for every entry in `[from, to)`, in index order. Notes are
    /// borrowed from SQLite's row buffer and read in chunks of 4,096 rows, so a range
    /// of a million entries holds one note at a time.
    ///
    /// # Errors
    /// [`StoreError::Missing`] naming the first index in the range that is not stored
    /// (after `f` has seen every entry before it); [`StoreError::Sqlite`]; or the first error
    /// `f` returns, which stops the walk.
    pub fn for_each<E: From<StoreError>>(
        &self,
        from: u64,
        to: u64,
        mut f: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT idx, note FROM entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
            )
            .map_err(StoreError::from)?;
        let mut next = from;
        while next < to {
            let end = next.saturating_add(READ_CHUNK).min(to);
            let mut rows = stmt
                .query(params![to_sql(next)?, to_sql(end)?])
                .map_err(StoreError::from)?;
            while let Some(row) = rows.next().map_err(StoreError::from)? {
                let index: i64 = row.get(0).map_err(StoreError::from)?;
                if u64::try_from(index).ok() != Some(next) {
                    return Err(missing(next).into());
                }
                let note = row
                    .get_ref(1)
                    .and_then(|v| v.as_blob().map_err(Into::into))
                    .map_err(StoreError::from)?;
                f(next, note)?;
                next += 1;
            }
            if next < end {
                return Err(missing(next).into());
            }
        }
        Ok(())
    }
}

fn missing(index: u64) -> StoreError {
    StoreError::Missing { index }
}

fn to_sql(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt {
        index: v,
        reason: "index beyond SQLite's integer range".into(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use urna_sim::{SimConfig, Simulation};

    use super::*;
    use crate::{IngestOptions, Store, SystemClock};

    /// Entry 0 is the genesis `Store::init` writes; protocols start at index 1.
    const GENESIS: u64 = 1;

    fn is_genesis(note: &[u8]) -> bool {
        note.starts_with(b"urna/genesis/v1\n")
    }

    fn store(dir: &Path, stations: u32) -> (Store, Vec<Vec<u8>>) {
        let sim = Simulation::new(SimConfig {
            stations,
            districts: 2,
            ..SimConfig::default()
        });
        let src = dir.join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("election.toml"), sim.definition_toml()).unwrap();
        let mut csv = format!("{}\n", urna_sim::STATIONS_HEADER);
        let mut notes = Vec::new();
        for i in 0..stations {
            let s = sim.station(i);
            csv.push_str(&sim.station_row(&s));
            csv.push('\n');
            notes.push(sim.protocol_note(&s));
        }
        std::fs::write(src.join("stations.csv"), csv).unwrap();
        let store = Store::init(&dir.join("data"), &src.join("election.toml")).unwrap();
        (store, notes)
    }

    fn ingest(store: &mut Store, notes: &[Vec<u8>]) {
        let opts = IngestOptions {
            chunk: 16,
            commit_every: 20,
            ..IngestOptions::default()
        };
        store
            .ingest(notes.iter().cloned().map(Ok), &opts, &SystemClock, |_| {})
            .unwrap();
    }

    #[test]
    fn reads_ranges_in_order_and_names_a_missing_index() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, notes) = store(dir.path(), 30);
        let reader = EntryReader::open(&dir.path().join("data")).unwrap();
        assert_eq!(reader.len().unwrap(), GENESIS);
        assert!(is_genesis(&reader.read(0, GENESIS).unwrap()[0]));
        assert_eq!(
            reader.definition_sha256().unwrap(),
            urna_model::protocol::hex(&store.election().digest)
        );
        ingest(&mut store, &notes);
        assert_eq!(reader.len().unwrap(), GENESIS + 30);
        assert_eq!(reader.read(GENESIS, GENESIS + 30).unwrap(), notes);
        assert_eq!(
            reader.read(GENESIS + 7, GENESIS + 9).unwrap(),
            notes[7..9].to_vec()
        );
        assert!(reader.read(5, 5).unwrap().is_empty());
        let mut seen = Vec::new();
        reader
            .for_each(3, 6, |i, _| -> Result<(), StoreError> {
                seen.push(i);
                Ok(())
            })
            .unwrap();
        assert_eq!(seen, vec![3, 4, 5]);
        assert!(matches!(
            reader.read(25, GENESIS + 31),
            Err(StoreError::Missing { index }) if index == GENESIS + 30
        ));
    }

    #[test]
    fn refuses_a_directory_without_a_store() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            EntryReader::open(dir.path()),
            Err(StoreError::Setup(_))
        ));
    }

    /// A reader on another thread sees every committed entry, whole and in order, while the
    /// writer keeps committing.
    #[test]
    fn reads_while_intake_writes() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, notes) = store(dir.path(), 300);
        let data = dir.path().join("data");
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let reader = EntryReader::open(&data).unwrap();
                let mut next = 0u64;
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    let len = reader.len().unwrap();
                    reader
                        .for_each(next, len, |i, note| -> Result<(), StoreError> {
                            if i < GENESIS {
                                assert!(is_genesis(note), "entry {i}");
                            } else {
                                assert_eq!(note, notes[(i - GENESIS) as usize].as_slice());
                            }
                            Ok(())
                        })
                        .unwrap();
                    next = len;
                    if finished {
                        return next;
                    }
                }
            });
            for part in notes.chunks(40) {
                ingest(&mut store, part);
            }
            done.store(true, Ordering::SeqCst);
            assert_eq!(reader.join().unwrap(), GENESIS + 300);
        });
    }

    #[test]
    fn opens_a_closed_database_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, notes) = store(dir.path(), 10);
        ingest(&mut store, &notes);
        drop(store);
        let reader = EntryReader::open(&dir.path().join("data")).unwrap();
        assert!(is_genesis(&reader.read(0, GENESIS).unwrap()[0]));
        assert_eq!(reader.read(GENESIS, GENESIS + 10).unwrap(), notes);
    }
}
