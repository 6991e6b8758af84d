//! A read-only view of a data directory that another process may be writing (`urna serve`):
//! the tally, single entries and the log's proofs, for `urna tally`, `urna seats --data` and
//! `urna log …` while the server runs.
//!
//! It takes no lock and writes nothing: the database through a read-only connection (SQLite's
//! WAL lets it read whole committed transactions while the writer commits), the log's tiles
//! and checkpoints from their files ([`PublicLog`]). Unlike [`crate::Store::open`] it does not
//! rebuild the database against the log when it opens; the writer did that when it opened
//! the directory, and holds it since. Every note read is still parsed and checked against its
//! row, as the writer's own reads are, and a tally is computed inside one read transaction, so
//! it is the tally of one committed moment.

use std::path::{Path, PathBuf};

use urna_model::definition::{ContestIdx, Election};

use crate::log::PublicLog;
use crate::reader::EntryReader;
use crate::{DEFINITION_FILE, EntryRow, StoreError, TallyReport, to_sql};

/// A data directory opened read-only.
#[derive(Debug)]
pub struct StoreView {
    dir: PathBuf,
    reader: EntryReader,
    election: Election,
    log: PublicLog,
}

impl StoreView {
    /// Opens `dir` read-only: its definition (which must be the one the store was created
    /// with), its database and its log files.
    ///
    /// # Errors
    /// [`StoreError::Setup`] if `dir` holds no store; [`StoreError::DefinitionChanged`] or
    /// [`StoreError::Meta`] if the definition is not the store's; [`StoreError::Sqlite`].
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let reader = EntryReader::open(dir)?;
        let election = Election::load(&dir.join(DEFINITION_FILE))?;
        crate::check_definition(reader.conn(), dir, &election)?;
        let log = PublicLog::open(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            reader,
            election,
            log,
        })
    }

    /// The election definition.
    pub fn election(&self) -> &Election {
        &self.election
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log's files: its key, origin and proofs from its tiles.
    pub fn log(&self) -> &PublicLog {
        &self.log
    }

    /// The tally of every contest, in definition order, as of one committed moment: each
    /// station's current note parsed and validated again, decisions applied (as
    /// [`crate::Store::rederive_tally`]).
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if a stored note no longer parses, [`StoreError::Tally`] on
    /// overflow, [`StoreError::Sqlite`].
    pub fn tallies(&self) -> Result<Vec<TallyReport>, StoreError> {
        // One read transaction: the passes of the re-derivation see the same rows.
        let tx = self.reader.conn().unchecked_transaction()?;
        let keys = crate::stored_keys(&tx, &self.election)?;
        let live = crate::rederive(&tx, &self.election, &keys)?;
        tx.finish()?;
        Ok((0..self.election.contests.len())
            .map(|c| live.report(ContestIdx(u16::try_from(c).unwrap_or(u16::MAX))))
            .collect())
    }

    /// The entry at `index`, if committed; checked like [`crate::Store::entry`].
    ///
    /// # Errors
    /// As [`crate::Store::entry`].
    pub fn entry(&self, index: u64) -> Result<Option<EntryRow>, StoreError> {
        let keys = crate::stored_keys(self.reader.conn(), &self.election)?;
        crate::entry_where(
            self.reader.conn(),
            &self.election,
            &keys,
            "idx = ?1",
            &to_sql(index),
        )
    }

    /// The current entry (highest revision) of a station, if it has one.
    ///
    /// # Errors
    /// As [`crate::Store::entry`].
    pub fn current_entry_of(&self, station: &str) -> Result<Option<EntryRow>, StoreError> {
        let keys = crate::stored_keys(self.reader.conn(), &self.election)?;
        crate::entry_where(
            self.reader.conn(),
            &self.election,
            &keys,
            "station = ?1 ORDER BY revision DESC, idx LIMIT 1",
            &station,
        )
    }
}

#[cfg(test)]
mod tests {
    use urna_sim::{SimConfig, Simulation};

    use super::*;
    use crate::{IngestOptions, Store, SystemClock};

    /// A store of `stations` simulated stations, every protocol ingested.
    fn store(dir: &Path, stations: u32) -> Store {
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
        let mut store = Store::init(&dir.join("data"), &src.join("election.toml")).unwrap();
        store
            .ingest(
                notes.into_iter().map(Ok),
                &IngestOptions::default(),
                &SystemClock,
                |_| {},
            )
            .unwrap();
        store
    }

    /// Beside an open writer (which holds the directory's lock), the view reads what the
    /// writer reads: the same tally, entries and log roots.
    #[test]
    fn reads_what_the_writer_holds() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path(), 40);
        let view = StoreView::open(store.dir()).unwrap();
        assert_eq!(
            view.tallies().unwrap(),
            vec![store.rederive_tally(ContestIdx(0)).unwrap()]
        );
        for i in [0, 1, 17, 40] {
            assert_eq!(view.entry(i).unwrap(), store.entry(i).unwrap(), "entry {i}");
        }
        assert_eq!(view.entry(41).unwrap(), None);
        let station = &store.election().stations[5].id;
        assert_eq!(
            view.current_entry_of(station).unwrap(),
            store.current_entry_of(station).unwrap()
        );
        let (_, signed) = store.log_sizes();
        assert_eq!(signed, 41);
        for size in [1, 2, 17, 41] {
            assert_eq!(
                view.log().root_at(size, signed).unwrap(),
                store.log_root(size).unwrap(),
                "root at {size}"
            );
        }
        assert!(view.log().root_at(42, signed).is_err());
        assert_eq!(view.log().vkey(), store.log_vkey());
    }

    /// A directory without a store, or whose definition is not the one the store was created
    /// with, is refused.
    #[test]
    fn refuses_a_directory_without_a_store_or_with_another_definition() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            StoreView::open(dir.path()),
            Err(StoreError::Setup(_))
        ));
        let store = store(dir.path(), 3);
        let data = store.dir().to_owned();
        drop(store);
        let definition = data.join(DEFINITION_FILE);
        let text = std::fs::read_to_string(&definition).unwrap();
        std::fs::write(&definition, text.replacen("name = ", "name = \"x\"\n#", 1)).unwrap();
        assert!(matches!(
            StoreView::open(&data),
            Err(StoreError::DefinitionChanged { .. })
        ));
    }
}
