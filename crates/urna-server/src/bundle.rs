//! The static, signed public bundle: everything a reader needs to check the results, as
//! plain files that any web server (nginx) or CDN serves as they are.
//!
//! ```text
//! OUT/tile/...                 the log's tiles (C2SP tlog-tiles, https://c2sp.org/tlog-tiles),
//!                              hard-linked (or copied) from DATA/log/tile; append-only,
//!                              shared by every generation
//! OUT/blob/sha256/<hex>        election.toml and the stations file, by SHA-256 of their bytes,
//!                              and the scans of paper protocols a logged note names, found
//!                              in DATA/scans/<hex> (written there by the desk or by serve)
//! OUT/gen/<size:020>.<n>/      one generation: checkpoint, index.html, web/…, v1/…, csv/…,
//!                              cdf/…, README.txt, and the relative symlinks
//!                              tile -> ../../tile, blob -> ../../blob
//! OUT/current -> gen/<…>       the live generation; a web server's document root
//! ```
//!
//! The log, the definition and the keys come from a [`BundleSource`]: a SQLite data directory
//! ([`DataDirSource`], what [`BundleWriter::open`] reads) or a PostgreSQL store
//! ([`crate::pg_bundle::PgSource`]); the writer is the same for both, so is the bundle.
//!
//! A generation is the published (witness-cosigned) checkpoint of the data directory and the
//! files [`urna_tally::public::render`] derives from the entries it covers (the results page
//! among them), so the results and the checkpoint they quote always belong together, and the
//! statistical screens of the results, `v1/forensics.json` and `v1/forensics/*.svg`
//! ([`urna_forensics::bundle`], reused from the live generation when no station reported since
//! it). Two more files come from the data directory, not from the log:
//! - `v1/keys.json` (`urna/keys/v1`): the log's origin and verifier key and the witnesses'
//!   names and keys (never their URLs) with the quorum, from `DATA/witnesses.toml`, read again
//!   for every generation (no file: no witnesses, quorum 0). A reader compares it with the
//!   keys it trusts; `urna verify` does.
//! - `cdf/election-report.json`: the NIST SP 1500-100 export at the checkpoint
//!   ([`urna_tally::cdf::render_bundle_report`]), `GeneratedDate` the newest cosignature by a
//!   witness of `witnesses.toml`. Written when the election has a `date`, the checkpoint
//!   carries such a cosignature, and the election has at most
//!   [`BundleWriter::set_cdf_max_stations`] stations: unlimited for `urna publish`,
//!   [`DEFAULT_CDF_MAX_STATIONS`] for `urna serve` (`--cdf-max-stations`), since at a million
//!   stations it costs seconds and more than a gigabyte per generation.
//!
//! [`BundleWriter::update`] builds a generation only when the published checkpoint changed, in
//! this order:
//! 1. replay the entries the last generation had not seen (read-only from SQLite), checking
//!    that all entries hash to the checkpoint's root (RFC 6962), so the results are of
//!    exactly the log the checkpoint signs;
//! 2. link the tiles the growth adds, and check that the tiles give the same root and that
//!    each tile added agrees with the tile above it (a full hash tile with its parent's hash,
//!    a data tile with its level-0 hashes): the root alone reads only the right edge;
//! 3. write every file of the new generation and `fsync` it and its directories; files
//!    identical to the live generation's are hard-linked from it instead of rewritten (a
//!    unit's file changes only when one of its stations reports). A live generation this
//!    writer made is compared by the SHA-256 it kept of each file; one it found at open (an
//!    earlier `urna publish`) by the bytes of the file at the same path. Unit files are
//!    rendered by the threads that write them, a few at a time, never all in memory;
//! 4. point `current` at it atomically (a symlink `current.tmp`, renamed over `current`);
//! 5. delete every generation but the new one and the one it replaced, which readers may
//!    still be reading.
//!
//! So a reader who opens `current/...` gets a whole file of one generation, never a partial
//! one, and every tile a live checkpoint names exists. Tiles are immutable: if `OUT/tile`
//! already holds a tile with other bytes than the log's, the bundle belongs to another
//! (forked) history and the writer refuses to touch it.
//!
//! Files of a text kind get a precompressed copy `<file>.gz` beside them ([`crate::gzip`]),
//! written (or, for a reused file, linked) with the file, for `urna serve` and nginx's
//! `gzip_static` to answer clients that accept gzip. The files that grow with the stations,
//! the unit files and `csv/stations.csv` ([`public::gz_only`]), are written only as their
//! gzip, `<file>.gz`, which readers fetch by that name (the results page inflates it): kept
//! plain too, they would be most of a million-station bundle (docs/ARCHITECTURE.md).
//! [`BundleInfo::bytes_written`] counts every byte a generation wrote, copies included.
//!
//! Out of scope: cosigning and publishing checkpoints ([`crate::publish`]), serving the files
//! ([`crate::serve`] or any web server), compressing per request.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{ErrorKind, Read as _, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use urna_model::definition::{DefinitionError, Election, UnitIdx};
use urna_model::intake::sha256;
use urna_model::note::Note;
use urna_model::protocol::hex;
use urna_store::reader::EntryReader;
use urna_store::{DEFINITION_FILE, StoreError, log};
use urna_tally::cdf::{self, CdfError};
use urna_tally::public::{self, CheckpointInfo, DefinitionFiles, RenderError, Replay, ReplayError};
use urna_tlog::tile::tiles_for_growth;
use urna_tlog::tiledir::write_file_atomic;
use urna_tlog::{Checkpoint, Tile, TileDir, TileHashReader, Tree, TreeSize, leaf_hash};

/// Name of the live-generation symlink under the bundle root.
pub const CURRENT: &str = "current";
/// Directory of the generations under the bundle root.
pub const GENERATIONS: &str = "gen";
/// Name of the checkpoint file in a generation.
pub const CHECKPOINT: &str = "checkpoint";

/// Path of the keys file in a generation.
pub const KEYS_JSON: &str = public::KEYS_JSON;

/// Most stations for which [`BundleWriter`] writes `cdf/election-report.json` unless told
/// otherwise (`urna serve --cdf-max-stations`): enough for the five Western Balkan countries.
pub const DEFAULT_CDF_MAX_STATIONS: usize = 50_000;

/// Entries read from the database and bound per round of the replay.
const REPLAY_CHUNK: u64 = 4096;

/// Bytes read at a time when a new file is compared with the live generation's.
const COMPARE_BLOCK: usize = 1 << 16;

/// Threads that write a generation's files at once (bounded by the disk, not the CPU).
const WRITE_THREADS: usize = 8;

/// Why the bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The data directory could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The election definition could not be loaded.
    #[error(transparent)]
    Definition(#[from] DefinitionError),
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The published checkpoint is malformed or of another log.
    #[error("{location}: {reason}")]
    Checkpoint {
        /// Where it is (the checkpoint file, or the database table).
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// The published checkpoint is smaller than the live generation's.
    #[error(
        "the published checkpoint covers {published} entries, fewer than the {live} of the live bundle generation: refusing to publish a log that went back"
    )]
    Shrunk {
        /// Size of the live generation.
        live: u64,
        /// Size of the published checkpoint.
        published: u64,
    },
    /// A tile in the bundle differs from the log's tile at the same path.
    #[error(
        "{path} differs from the log's {tile}: the bundle holds another (forked) history; refusing to mix them"
    )]
    ForkedTile {
        /// The tile path.
        tile: String,
        /// The bundle's file.
        path: PathBuf,
    },
    /// The stored entries do not hash to the checkpoint's root.
    #[error(
        "the first {size} entries in the database hash to root {computed}, but the published checkpoint says {checkpoint}: database and log disagree"
    )]
    EntriesRootMismatch {
        /// Tree size.
        size: u64,
        /// Root of the stored entries (base64).
        computed: String,
        /// Root in the checkpoint (base64).
        checkpoint: String,
    },
    /// The tiles do not give the checkpoint's root.
    #[error("tiles in {dir} at size {size}: {reason}")]
    TilesRootMismatch {
        /// The tile directory.
        dir: PathBuf,
        /// Tree size.
        size: u64,
        /// What is wrong.
        reason: String,
    },
    /// The PostgreSQL store could not be read, or was edited outside urna.
    #[error(transparent)]
    Pg(#[from] urna_pg::PgError),
    /// The Merkle tree or tile directory failed.
    #[error("log: {0}")]
    Log(String),
    /// An entry cannot be replayed.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The public files could not be rendered.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// `witnesses.toml` is unreadable or invalid.
    #[error(transparent)]
    Witnesses(#[from] crate::publish::PublishError),
    /// The NIST CDF export could not be rendered.
    #[error("{path}: {err}", path = cdf::BUNDLE_PATH, err = .0)]
    Cdf(#[from] CdfError),
}

/// What one [`BundleWriter::update`] published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleInfo {
    /// Entries the new generation covers.
    pub size: u64,
    /// The generation's directory.
    pub generation_dir: PathBuf,
    /// Entries replayed for it.
    pub entries_replayed: u64,
    /// Tiles linked or copied into `OUT/tile`.
    pub tiles_linked: usize,
    /// Files written (new content).
    pub files_written: usize,
    /// Bytes written for the generation: its files and their precompressed copies (tiles
    /// and blobs not included).
    pub bytes_written: u64,
    /// Files hard-linked from the previous generation (same content).
    pub files_linked: usize,
    /// Precompressed copies (`<file>.gz`, [`crate::gzip`]) the generation holds, written or
    /// linked; not counted in `files_written` and `files_linked`.
    pub gz_copies: usize,
    /// Old generations deleted.
    pub generations_removed: usize,
    /// Why `cdf/election-report.json` is not in the generation, if it is not.
    pub cdf_skipped: Option<String>,
    /// How long the statistical screens took; `None` when reused from the live generation.
    pub forensics: Option<std::time::Duration>,
}

/// Where a bundle's log comes from: its entries in order, its published checkpoint and tiles,
/// the election definition, the log's key and the witnesses' policy. [`BundleWriter`] checks
/// what it reads (the entries against the checkpoint's root, the tiles against it too), so a
/// source only reads.
pub trait BundleSource: Send {
    /// The election definition file; the stations and shapes files it names are beside it.
    fn definition(&self) -> &Path;
    /// The SHA-256 (hex) of the definition the store was created with.
    ///
    /// # Errors
    /// [`BundleError`] if the store cannot be read.
    fn definition_sha256(&self) -> Result<String, BundleError>;
    /// Where the published checkpoint is, for messages.
    fn checkpoint_location(&self) -> String;
    /// The log's verifier key (`name+id+key`), for `v1/keys.json`.
    ///
    /// # Errors
    /// [`BundleError`] if the key cannot be read.
    fn log_vkey(&self) -> Result<String, BundleError>;
    /// The published checkpoint, if there is one.
    ///
    /// # Errors
    /// [`BundleError`] if the store cannot be read.
    fn published_checkpoint(&self) -> Result<Option<Vec<u8>>, BundleError>;
    /// The notes of entries `[from, to)`, in order; an error if one of them is not stored.
    ///
    /// # Errors
    /// [`BundleError`] if the store cannot be read or an entry is missing.
    fn read(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, BundleError>;
    /// Puts the log's tile `rel` (`tile/0/000`, …) at `dst` in the bundle, or, when `dst`
    /// exists, checks that it holds the log's bytes ([`BundleError::ForkedTile`] if not).
    /// Returns whether it was created.
    ///
    /// # Errors
    /// [`BundleError`] if the log has no such tile or `dst` cannot be written.
    fn place_tile(&self, rel: &str, dst: &Path) -> Result<bool, BundleError>;
    /// The bytes of the scan with this SHA-256, if the store holds them.
    ///
    /// # Errors
    /// [`BundleError`] if the scan cannot be read.
    fn scan(&self, sha: &[u8; 32]) -> Result<Option<Vec<u8>>, BundleError>;
    /// The witnesses and their quorum (`witnesses.toml`), if the store has them.
    ///
    /// # Errors
    /// [`BundleError`] if the policy is unreadable or invalid.
    fn witness_policy(&self) -> Result<Option<crate::WitnessPolicy>, BundleError>;
}

/// A SQLite data directory as a [`BundleSource`]: the entries read-only from `urna.sqlite`, the
/// published checkpoint `DATA/log/checkpoint`, the tiles hard-linked from `DATA/log/tile`,
/// scans from `DATA/scans`, `DATA/witnesses.toml`.
pub struct DataDirSource {
    data: PathBuf,
    definition: PathBuf,
    reader: EntryReader,
}

impl DataDirSource {
    /// Opens the data directory `data_dir` read-only.
    ///
    /// # Errors
    /// [`BundleError`] if its database cannot be opened.
    pub fn open(data_dir: &Path) -> Result<Self, BundleError> {
        Ok(Self {
            data: data_dir.to_owned(),
            definition: data_dir.join(DEFINITION_FILE),
            reader: EntryReader::open(data_dir)?,
        })
    }
}

impl BundleSource for DataDirSource {
    fn definition(&self) -> &Path {
        &self.definition
    }

    fn definition_sha256(&self) -> Result<String, BundleError> {
        Ok(self.reader.definition_sha256()?)
    }

    fn checkpoint_location(&self) -> String {
        self.data
            .join(log::LOG_DIR)
            .join(CHECKPOINT)
            .display()
            .to_string()
    }

    fn log_vkey(&self) -> Result<String, BundleError> {
        Ok(log::PublicLog::open(&self.data)?.vkey())
    }

    fn published_checkpoint(&self) -> Result<Option<Vec<u8>>, BundleError> {
        Ok(log::read_published(&self.data)?)
    }

    fn read(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, BundleError> {
        Ok(self.reader.read(from, to)?)
    }

    fn place_tile(&self, rel: &str, dst: &Path) -> Result<bool, BundleError> {
        link_tile(rel, &self.data.join(log::LOG_DIR).join(rel), dst)
    }

    fn scan(&self, sha: &[u8; 32]) -> Result<Option<Vec<u8>>, BundleError> {
        let path = self.data.join("scans").join(hex(sha));
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read scan", &path)(e)),
        }
    }

    fn witness_policy(&self) -> Result<Option<crate::WitnessPolicy>, BundleError> {
        Ok(crate::publish::read_policy(&self.data)?)
    }
}

/// Keeps a bundle directory in step with a store's published checkpoint.
pub struct BundleWriter {
    out: PathBuf,
    election: Election,
    /// `v1/election.json`, which depends on the definition only.
    election_json: Vec<u8>,
    /// `v1/shapes.json`, when the definition names unit shapes.
    shapes_json: Option<Vec<u8>>,
    /// The log's verifier key, for `v1/keys.json`.
    log_vkey: String,
    /// Most stations for which the CDF export is written (`None`: no limit).
    cdf_max_stations: Option<usize>,
    source: Box<dyn BundleSource>,
    replay: Replay,
    /// The `urna/audit/v1` entries replayed so far, for `v1/audit.json`.
    audits: Vec<(u64, Vec<u8>)>,
    /// Scans the replayed notes name and the bundle does not hold yet (a desk elsewhere may
    /// send one after its note).
    scans_pending: BTreeSet<[u8; 32]>,
    /// The Merkle tree over the entries replayed so far.
    tree: Tree,
    /// `OUT/tile` holds every tile of the tree at this size.
    tiles_size: u64,
    /// Units with a station that reported since the live generation was rendered.
    dirty: BTreeSet<UnitIdx>,
    live: Option<Generation>,
    /// Sequence number of the next generation.
    next_n: u64,
}

/// The live generation.
#[derive(Debug)]
struct Generation {
    name: String,
    size: u64,
    checkpoint: Vec<u8>,
    /// SHA-256 of each file this writer wrote in it (empty for one found at open).
    files: BTreeMap<String, [u8; 32]>,
    /// Found at open (written by an earlier run): a new file is compared byte for byte with
    /// its file at the same path, and linked if equal.
    found_at_open: bool,
}

impl std::fmt::Debug for BundleWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleWriter")
            .field("definition", &self.source.definition())
            .field("out", &self.out)
            .field("election", &self.election.id)
            .field("replayed", &self.replay.applied())
            .field("live_size", &self.live_size())
            .finish_non_exhaustive()
    }
}

impl BundleWriter {
    /// Opens the data directory (read-only) and the bundle root `out`, creating it if needed,
    /// and publishes the definition files as blobs. An existing bundle is kept: its live
    /// generation stays live until [`BundleWriter::update`] replaces it, and its tiles are
    /// checked against the log's before any generation that needs them goes live.
    ///
    /// # Errors
    /// [`BundleError`] if the definition cannot be loaded or is not the one the store was
    /// created with, the database cannot be opened, or `out` cannot be written.
    pub fn open(data_dir: &Path, out: &Path) -> Result<Self, BundleError> {
        Self::with_source(Box::new(DataDirSource::open(data_dir)?), out)
    }

    /// [`BundleWriter::open`] for any [`BundleSource`]: a data directory, or a PostgreSQL
    /// store ([`crate::pg_bundle::PgSource`]).
    ///
    /// # Errors
    /// As [`BundleWriter::open`].
    pub fn with_source(source: Box<dyn BundleSource>, out: &Path) -> Result<Self, BundleError> {
        let definition = source.definition().to_owned();
        let beside = definition.parent().unwrap_or_else(|| Path::new("."));
        let election = Election::load(&definition)?;
        let toml_bytes = read(&definition)?;
        let stations_bytes = read(&beside.join(&election.stations_file))?;
        let mut files = DefinitionFiles::new(&election, &toml_bytes, &stations_bytes)?;
        if let Some(shapes) = &election.shapes {
            files = files.with_shapes(&election, read(&beside.join(&shapes.file))?)?;
        }
        for dir in [
            out.to_owned(),
            out.join("tile"),
            out.join("blob/sha256"),
            out.join(GENERATIONS),
        ] {
            fs::create_dir_all(&dir).map_err(io("create directory", &dir))?;
        }
        // Make the directories themselves durable: their entries live in their parents.
        for dir in [out.join("blob"), out.to_owned()] {
            sync_dir(&dir)?;
        }
        for (sha, bytes) in [
            (files.election_toml, &toml_bytes),
            (files.stations, &stations_bytes),
        ] {
            write_blob(out, &sha, bytes)?;
        }
        if let (Some(shapes), Some(bytes)) = (&election.shapes, &files.shapes) {
            write_blob(out, &shapes.sha256, bytes)?;
        }
        // Like the station index, `v1/shapes.json` depends on the definition only.
        let shapes_json = urna_tally::shapes::render_shapes(&election, &files)?;
        let recorded = source.definition_sha256()?;
        if recorded != hex(&election.digest) {
            return Err(StoreError::DefinitionChanged {
                dir: beside.display().to_string(),
                now: hex(&election.digest),
                then: recorded,
            }
            .into());
        }
        let election_json = public::render_election(&election, &files)?;
        let log_vkey = source.log_vkey()?;
        let live = live_generation(out)?;
        let next_n = next_generation_number(&out.join(GENERATIONS))?;
        Ok(Self {
            out: out.to_owned(),
            source,
            replay: Replay::new(&election)
                .map_err(|source| ReplayError::Tally { index: 0, source })?,
            audits: Vec::new(),
            scans_pending: BTreeSet::new(),
            election,
            election_json,
            shapes_json,
            log_vkey,
            cdf_max_stations: Some(DEFAULT_CDF_MAX_STATIONS),
            tree: Tree::new(),
            tiles_size: 0,
            dirty: BTreeSet::new(),
            live,
            next_n,
        })
    }

    /// Writes `cdf/election-report.json` only for elections of at most `max` stations
    /// (`None`: always). The default is [`DEFAULT_CDF_MAX_STATIONS`].
    pub fn set_cdf_max_stations(&mut self, max: Option<usize>) {
        self.cdf_max_stations = max;
    }

    /// The bundle root.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Entries covered by the live generation, if there is one.
    pub fn live_size(&self) -> Option<u64> {
        self.live.as_ref().map(|g| g.size)
    }

    /// Publishes a new generation if the data directory's published checkpoint changed since
    /// the live one; `Ok(None)` if there is no published checkpoint or it did not change.
    ///
    /// # Errors
    /// [`BundleError`]; the live generation is then left as it was.
    pub fn update(&mut self) -> Result<Option<BundleInfo>, BundleError> {
        let Some(note) = self.source.published_checkpoint()? else {
            return Ok(None);
        };
        if self.live.as_ref().is_some_and(|g| g.checkpoint == note) {
            return Ok(None);
        }
        let checkpoint = self.parse_checkpoint(&note)?;
        let size = checkpoint.size.0;
        if let Some(live) = self.live.as_ref().filter(|g| g.size > size) {
            return Err(BundleError::Shrunk {
                live: live.size,
                published: size,
            });
        }
        let replayed_from = self.replay.applied();
        self.replay_to(size)?;
        let root = self.tree.root();
        if root != checkpoint.root {
            return Err(BundleError::EntriesRootMismatch {
                size,
                computed: root.to_base64(),
                checkpoint: checkpoint.root.to_base64(),
            });
        }
        let tiles_linked = self.link_tiles(size, &checkpoint)?;
        publish_scans(&*self.source, &self.out, &mut self.scans_pending)?;
        // A number is never used twice, even if writing this generation fails part-way (its
        // directory is deleted with the old generations once a later one goes live).
        let name = format!("{size:020}.{}", self.next_n);
        self.next_n += 1;
        let Rendered {
            files,
            cdf_skipped,
            forensics,
        } = self.render(&note)?;
        let written = self.write_generation(&name, files)?;
        // The rename is the commit point: from it on the new generation is live, whatever
        // happens to the directory sync or the clean-up after it.
        let synced = match swap_current(&self.out, &name) {
            Err(Swap::Rename(e)) => return Err(e),
            Err(Swap::Sync(e)) => Err(e),
            Ok(()) => Ok(()),
        };
        let previous = self.live.replace(Generation {
            name: name.clone(),
            size,
            checkpoint: note,
            files: written.hashes,
            found_at_open: false,
        });
        self.dirty.clear();
        synced?;
        // Old generations are only clean-up: failing to delete one does not undo this round.
        let generations_removed = remove_old_generations(
            &self.out.join(GENERATIONS),
            &name,
            previous.as_ref().map(|g| g.name.as_str()),
        )
        .unwrap_or(0);
        Ok(Some(BundleInfo {
            size,
            generation_dir: self.out.join(GENERATIONS).join(&name),
            entries_replayed: size.saturating_sub(replayed_from),
            tiles_linked,
            files_written: written.written,
            bytes_written: written.bytes_written,
            files_linked: written.linked,
            gz_copies: written.gz_copies,
            generations_removed,
            cdf_skipped,
            forensics,
        }))
    }

    fn parse_checkpoint(&self, note: &[u8]) -> Result<Checkpoint, BundleError> {
        let bad = |reason: String| BundleError::Checkpoint {
            location: self.source.checkpoint_location(),
            reason,
        };
        let parsed = Note::parse(note).map_err(|e| bad(e.to_string()))?;
        let checkpoint = Checkpoint::parse_text(parsed.text()).map_err(|e| bad(e.to_string()))?;
        let origin = self.election.log_origin();
        if checkpoint.origin != origin {
            return Err(bad(format!(
                "origin {:?} is not this election's log {origin:?}",
                checkpoint.origin
            )));
        }
        Ok(checkpoint)
    }

    /// Replays the entries `[applied, size)`: read in chunks, bound to the definition on
    /// every core, applied in order, and hashed into the tree.
    fn replay_to(&mut self, size: u64) -> Result<(), BundleError> {
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        let mut finished = Vec::new();
        if self.replay.applied() == 0 && size > 0 {
            // Entry 0 is the genesis: it commits the log to this definition.
            let genesis = self.source.read(0, 1)?;
            let note = genesis.first().map_or(&[][..], Vec::as_slice);
            self.replay.apply_genesis(&self.election, note)?;
            self.tree
                .append(leaf_hash(note), &mut finished)
                .map_err(|e| BundleError::Log(e.to_string()))?;
        }
        while self.replay.applied() < size {
            let from = self.replay.applied();
            let to = from.saturating_add(REPLAY_CHUNK).min(size);
            let notes = self.source.read(from, to)?;
            let bound = public::bind_parallel(&self.election, from, &notes, threads);
            for ((index, note), sub) in (from..).zip(&notes).zip(bound) {
                if let Ok(sub) = &sub {
                    self.dirty
                        .insert(self.election.stations[sub.station.0 as usize].unit);
                }
                if urna_model::audit::is_audit(note) {
                    self.audits.push((index, note.clone()));
                }
                if let Some(scan) = urna_model::scan::named_scan(note) {
                    self.scans_pending.insert(scan);
                }
                self.replay.apply_bound(&self.election, index, note, sub)?;
                finished.clear();
                self.tree
                    .append(leaf_hash(note), &mut finished)
                    .map_err(|e| BundleError::Log(e.to_string()))?;
            }
        }
        Ok(())
    }

    /// Links the tiles the tree gained since the last generation into `OUT/tile` and checks
    /// that the bundle's tiles give the checkpoint's root. Returns the number of tiles
    /// created.
    fn link_tiles(&mut self, size: u64, checkpoint: &Checkpoint) -> Result<usize, BundleError> {
        let out_tiles = self.out.join("tile");
        let mut created = 0;
        let mut dirs = BTreeSet::new();
        for tile in tiles_for_growth(TreeSize(self.tiles_size), TreeSize(size)) {
            let rel = tile.path();
            let dst = self.out.join(&rel);
            if self.source.place_tile(&rel, &dst)? {
                created += 1;
                let mut dir = dst.parent();
                while let Some(d) = dir.filter(|d| d.starts_with(&out_tiles)) {
                    dirs.insert(d.to_owned());
                    dir = d.parent();
                }
            }
        }
        for d in dirs.iter().rev() {
            sync_dir(d)?;
        }
        let tiles = TileDir::open(&self.out).map_err(|e| BundleError::Log(e.to_string()))?;
        let reader = TileHashReader::new(&tiles, TreeSize(size));
        let root = urna_tlog::storage::root_at(&reader, TreeSize(size)).map_err(|e| {
            BundleError::TilesRootMismatch {
                dir: out_tiles.clone(),
                size,
                reason: e.to_string(),
            }
        })?;
        if root != checkpoint.root {
            return Err(BundleError::TilesRootMismatch {
                dir: out_tiles,
                size,
                reason: format!(
                    "root {} but the checkpoint says {}",
                    root.to_base64(),
                    checkpoint.root.to_base64()
                ),
            });
        }
        check_growth_tiles(&tiles, self.tiles_size, size).map_err(|reason| {
            BundleError::TilesRootMismatch {
                dir: out_tiles,
                size,
                reason,
            }
        })?;
        self.tiles_size = size;
        Ok(created)
    }

    /// The files of the new generation, and why the CDF export is not among them if it is
    /// not. A unit file none of whose stations reported since the live generation is not
    /// rendered again but reused from it.
    fn render(&self, note: &[u8]) -> Result<Rendered<'_>, BundleError> {
        let e = &self.election;
        let r = &self.replay;
        let cp: CheckpointInfo = public::checked_checkpoint(e, r, note)?;
        let policy = self.source.witness_policy()?;
        let reusable = |path: &str| self.live.as_ref().and_then(|g| g.files.get(path)).copied();
        // The screens first: their working memory is freed before the large files are made.
        let started = std::time::Instant::now();
        let (screens, computed) = self.render_forensics()?;
        let forensics = computed.then(|| started.elapsed());
        let mut files = vec![
            (CHECKPOINT.to_owned(), Content::New(note.to_vec())),
            (
                public::ELECTION_JSON.to_owned(),
                Content::Kept(&self.election_json),
            ),
        ];
        // The station index depends on the definition only: once a generation of this writer
        // holds it, later ones link it, and it is not kept in memory in between (tens of
        // megabytes at a million stations).
        let index: Option<Vec<_>> = (0..=u8::MAX)
            .map(|shard| {
                let path = public::station_index_path(shard);
                reusable(&path).map(|sha| (path, Content::Same(sha)))
            })
            .collect();
        match index {
            Some(index) => files.extend(index),
            None => files.extend(
                public::render_station_index(e)?
                    .into_iter()
                    .map(|(path, bytes)| (path, Content::New(bytes))),
            ),
        }
        files.push((
            public::RESULTS_JSON.to_owned(),
            Content::New(public::render_results(e, r, &cp)?),
        ));
        files.push((
            public::SUMMARY_JSON.to_owned(),
            Content::New(public::render_summary(e, r, &cp)?),
        ));
        files.extend(
            public::render_areas(e, r, &cp)?
                .into_iter()
                .map(|(path, bytes)| (path, Content::New(bytes))),
        );
        files.push((
            public::QUARANTINE_JSON.to_owned(),
            Content::New(public::render_quarantine(e, r)?),
        ));
        files.extend(
            public::render_seats(e, r)?
                .into_iter()
                .map(|(path, bytes)| (path, Content::New(bytes))),
        );
        for u in public::units_with_files(e, r) {
            let path = public::unit_path(&e.units[u.0 as usize].id);
            let content = match reusable(&path) {
                Some(sha) if !self.dirty.contains(&u) => Content::Same(sha),
                _ => Content::Unit(u),
            };
            files.push((path, content));
        }
        files.push((
            public::STATIONS_CSV.to_owned(),
            Content::New(public::render_stations_csv(e, r)?),
        ));
        files.push((
            public::UNITS_CSV.to_owned(),
            Content::New(public::render_units_csv(e, r)?),
        ));
        if let Some(csv) = public::render_preferences_csv(e, r)? {
            files.push((public::PREFERENCES_CSV.to_owned(), Content::New(csv)));
        }
        if let Some(audit) =
            crate::audit_bundle::render(&self.out, r.applied(), e, &*self.source, &self.audits, r)?
        {
            files.push((
                urna_audit::public::AUDIT_JSON.to_owned(),
                Content::New(audit),
            ));
        }
        files.push((
            public::README_TXT.to_owned(),
            Content::New(public::render_readme(e, &cp)),
        ));
        files.extend(screens);
        if let Some(json) = &self.shapes_json {
            files.push((
                urna_tally::shapes::SHAPES_JSON.to_owned(),
                Content::Kept(json),
            ));
        }
        files.extend(public::web_files().map(|(path, bytes)| (path, Content::New(bytes))));
        files.push((
            KEYS_JSON.to_owned(),
            Content::New(render_keys(
                e.log_origin(),
                &self.log_vkey,
                r.rotations(),
                policy.as_ref(),
            )?),
        ));
        let cdf_skipped = match self.cdf_plan(note, policy.as_ref()) {
            CdfPlan::Write { generated } => {
                match cdf::render_bundle_report(e, r, &cp, &generated) {
                    Ok(report) => {
                        files.push((cdf::BUNDLE_PATH.to_owned(), Content::New(report)));
                        None
                    }
                    // A definition whose date is not a calendar date publishes without the export.
                    Err(err @ CdfError::BadDate(_)) => Some(err.to_string()),
                    Err(err) => return Err(err.into()),
                }
            }
            CdfPlan::Skip(reason) => Some(reason),
        };
        Ok(Rendered {
            files,
            cdf_skipped,
            forensics,
        })
    }

    /// `v1/forensics.json` and its plots ([`urna_forensics::bundle`]): reused from the live
    /// generation when no station reported since it (the screens read nothing else), else
    /// computed again, which at a million stations takes seconds (docs/forensics.md).
    /// Also returns whether they were computed.
    fn render_forensics(&self) -> Result<(Vec<(String, Content<'_>)>, bool), BundleError> {
        if let Some(live) = self.live.as_ref().filter(|g| {
            self.dirty.is_empty() && g.files.contains_key(urna_forensics::bundle::FORENSICS_JSON)
        }) {
            let dir = format!("{}/", urna_forensics::bundle::FORENSICS_DIR);
            let reused = live
                .files
                .iter()
                .filter(|(path, _)| {
                    path.as_str() == urna_forensics::bundle::FORENSICS_JSON
                        || path.starts_with(&dir)
                })
                .map(|(path, sha)| (path.clone(), Content::Same(*sha)))
                .collect();
            return Ok((reused, false));
        }
        let files = urna_forensics::bundle::render(&self.election, &self.replay)?
            .into_iter()
            .map(|(path, bytes)| (path, Content::New(bytes)))
            .collect();
        Ok((files, true))
    }

    /// Whether the CDF export is written for this checkpoint, and with which `GeneratedDate`.
    fn cdf_plan(&self, note: &[u8], policy: Option<&crate::WitnessPolicy>) -> CdfPlan {
        let stations = self.election.stations.len();
        if let Some(max) = self.cdf_max_stations.filter(|&max| stations > max) {
            return CdfPlan::Skip(format!(
                "the election has {stations} stations, more than --cdf-max-stations {max} (make it with `urna export cdf`)"
            ));
        }
        if self.election.date.is_none() {
            return CdfPlan::Skip(
                "the election definition names no date, which NIST SP 1500-100 requires".into(),
            );
        }
        let Some((time, _)) = crate::publish::newest_cosignature(policy, note) else {
            return CdfPlan::Skip(
                "the checkpoint carries no cosignature by a witness of witnesses.toml, so nothing fixes its GeneratedDate".into(),
            );
        };
        match cdf::rfc3339_utc(time) {
            Some(generated) => CdfPlan::Write { generated },
            None => CdfPlan::Skip(format!("cosignature time {time} is after the year 9999")),
        }
    }

    /// Writes a generation directory: every file synced, files with the bytes of the live
    /// generation's hard-linked from it, the `tile` and `blob` symlinks, every directory
    /// synced. Returns the files written and linked, and the SHA-256 of every file.
    ///
    /// A file of a compressible kind gets its precompressed copy `<file>.gz` beside it
    /// ([`crate::gzip`]): a linked file's copy is linked with it (the copy is a function of
    /// the file's bytes, so it is the same), a new file's is compressed on the writing threads.
    fn write_generation(
        &self,
        name: &str,
        files: Vec<(String, Content<'_>)>,
    ) -> Result<Written, BundleError> {
        let gens = self.out.join(GENERATIONS);
        let dir = gens.join(name);
        fs::create_dir(&dir).map_err(io("create directory", &dir))?;
        let live = self.live.as_ref();
        let mut linked = 0;
        let mut gz_copies = 0;
        let mut bytes_written = 0;
        let mut written = 0;
        let mut to_write: Vec<(String, PathBuf, Content<'_>)> = Vec::new();
        let mut hashes = BTreeMap::new();
        let mut dirs = BTreeSet::from([dir.clone()]);
        for (rel, content) in files {
            let path = dir.join(&rel);
            if let Some(parent) = path.parent().filter(|p| !dirs.contains(*p)) {
                fs::create_dir_all(parent).map_err(io("create directory", parent))?;
                // Sync every directory created, up to the generation's own.
                let mut d = Some(parent);
                while let Some(p) = d.filter(|p| p.starts_with(&dir)) {
                    dirs.insert(p.to_owned());
                    d = p.parent();
                }
            }
            let Content::Same(sha) = content else {
                to_write.push((rel, path, content));
                continue;
            };
            let Some(from) = live
                .filter(|g| g.files.get(&rel) == Some(&sha))
                .map(|g| gens.join(&g.name).join(&rel))
            else {
                return Err(BundleError::Io {
                    op: "reuse",
                    path,
                    source: std::io::Error::other("no earlier copy of an unchanged file"),
                });
            };
            if public::gz_only(&rel) {
                // Published only compressed: the `.gz` is the file.
                let (from, path) = (gz_path(&from), gz_path(&path));
                if fs::hard_link(&from, &path).is_ok() {
                    linked += 1;
                } else {
                    let gz = read(&from)?;
                    write_synced(&path, &gz)?;
                    written += 1;
                    bytes_written += gz.len() as u64;
                }
            } else if fs::hard_link(&from, &path).is_ok() {
                linked += 1;
                if link_gz(&rel, &from, &path, None)? {
                    gz_copies += 1;
                }
            } else {
                // Hard links unavailable: copy the live generation's file.
                to_write.push((rel.clone(), path, Content::New(read(&from)?)));
            }
            hashes.insert(rel, sha);
        }
        let maker = Maker {
            election: &self.election,
            replay: &self.replay,
            gens: &gens,
            live,
        };
        for (rel, sha, done, gz) in maker.write_all_synced(to_write)? {
            gz_copies += usize::from(gz);
            match done {
                Done::Linked => linked += 1,
                Done::Written(bytes) => {
                    written += 1;
                    bytes_written += bytes;
                }
            }
            hashes.insert(rel, sha);
        }
        for (link, target) in [("tile", "../../tile"), ("blob", "../../blob")] {
            let path = dir.join(link);
            std::os::unix::fs::symlink(target, &path).map_err(io("create symlink", &path))?;
        }
        for d in dirs.iter().rev() {
            sync_dir(d)?;
        }
        sync_dir(&gens)?;
        Ok(Written {
            written,
            bytes_written,
            linked,
            gz_copies,
            hashes,
        })
    }
}

/// What the threads writing a generation share (the store's reader stays behind).
struct Maker<'a> {
    election: &'a Election,
    replay: &'a Replay,
    /// `OUT/gen`.
    gens: &'a Path,
    live: Option<&'a Generation>,
}

impl Maker<'_> {
    /// Makes, then writes and syncs (or links) files from several threads: an `fsync` waits
    /// on the disk, not the CPU, and the file system commits concurrent ones together (about
    /// twice as fast here). A unit file is rendered by the thread that writes it, so only a
    /// few are in memory at once.
    fn write_all_synced(
        &self,
        files: Vec<(String, PathBuf, Content<'_>)>,
    ) -> Result<Vec<Placed>, BundleError> {
        let per = files.len().div_ceil(WRITE_THREADS).max(1);
        let mut parts = Vec::new();
        let mut rest = files.into_iter();
        loop {
            let part: Vec<_> = rest.by_ref().take(per).collect();
            if part.is_empty() {
                break;
            }
            parts.push(part);
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = parts
                .into_iter()
                .map(|part| {
                    s.spawn(move || {
                        part.into_iter()
                            .map(|(rel, path, content)| {
                                let (sha, done, gz) = self.write_one(&rel, &path, &content)?;
                                Ok((rel, sha, done, gz))
                            })
                            .collect::<Result<Vec<_>, BundleError>>()
                    })
                })
                .collect();
            let mut out = Vec::new();
            for h in handles {
                out.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))?);
            }
            Ok(out)
        })
    }

    /// Makes one file and links it from the live generation if that has the same bytes at the
    /// same path, else writes and syncs it; then its precompressed copy, linked or written
    /// likewise. The last value: whether the file has a copy.
    fn write_one(
        &self,
        rel: &str,
        path: &Path,
        content: &Content<'_>,
    ) -> Result<([u8; 32], Done, bool), BundleError> {
        let rendered;
        let bytes: &[u8] = match content {
            Content::New(bytes) => bytes,
            Content::Kept(bytes) => bytes,
            Content::Unit(u) => {
                rendered = public::render_unit(self.election, self.replay, *u)?;
                &rendered
            }
            Content::Same(_) => {
                return Err(BundleError::Io {
                    op: "write",
                    path: path.to_owned(),
                    source: std::io::Error::other("an unchanged file is linked, never written"),
                });
            }
        };
        let sha = sha256(bytes);
        if public::gz_only(rel) {
            return self.write_gz_only(rel, path, bytes, sha);
        }
        if let Some(live) = self.live {
            let from = self.gens.join(&live.name).join(rel);
            let same = match live.files.get(rel) {
                Some(old) => *old == sha,
                // A generation found at open (an earlier run): compare the bytes themselves.
                None if live.found_at_open => same_bytes(&from, bytes),
                None => false,
            };
            if same && fs::hard_link(&from, path).is_ok() {
                let gz = link_gz(rel, &from, path, Some(bytes))?;
                return Ok((sha, Done::Linked, gz));
            }
        }
        write_synced(path, bytes)?;
        let gz = write_gz(rel, path, bytes)?;
        Ok((
            sha,
            Done::Written(bytes.len() as u64 + gz.unwrap_or(0)),
            gz.is_some(),
        ))
    }

    /// A file published only as its gzip ([`public::gz_only`]): `<path>.gz`, linked from the
    /// live generation if that has the same file (by the SHA-256 of the plain bytes it kept,
    /// or, for a generation found at open, by the compressed bytes, which are deterministic),
    /// else written. Never counted as a precompressed copy: there is no plain file.
    fn write_gz_only(
        &self,
        rel: &str,
        path: &Path,
        bytes: &[u8],
        sha: [u8; 32],
    ) -> Result<([u8; 32], Done, bool), BundleError> {
        let path = gz_path(path);
        let mut gz = None;
        if let Some(live) = self.live {
            let from = gz_path(&self.gens.join(&live.name).join(rel));
            let same = match live.files.get(rel) {
                Some(old) => *old == sha,
                None if live.found_at_open => {
                    same_bytes(&from, gz.insert(crate::gzip::gzip(bytes)))
                }
                None => false,
            };
            if same && fs::hard_link(&from, &path).is_ok() {
                return Ok((sha, Done::Linked, false));
            }
        }
        let gz = gz.unwrap_or_else(|| crate::gzip::gzip(bytes));
        write_synced(&path, &gz)?;
        Ok((sha, Done::Written(gz.len() as u64), false))
    }
}

/// Whether the file at `path` holds exactly `bytes` (false if it cannot be read). Read in
/// blocks, so that a large file (the stations CSV) is not held twice.
fn same_bytes(path: &Path, bytes: &[u8]) -> bool {
    let Ok(mut file) = fs::File::open(path) else {
        return false;
    };
    if !file.metadata().is_ok_and(|m| m.len() == bytes.len() as u64) {
        return false;
    }
    let mut block = vec![0; COMPARE_BLOCK];
    let mut rest = bytes;
    loop {
        match file.read(&mut block) {
            Ok(0) => return rest.is_empty(),
            Ok(n) => match (rest.get(..n), block.get(..n)) {
                (Some(want), Some(got)) if want == got => rest = &rest[n..],
                _ => return false,
            },
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// A file [`Maker::write_all_synced`] placed: its path in the generation, its SHA-256, how it
/// was placed, and whether it has a precompressed copy.
type Placed = (String, [u8; 32], Done, bool);

/// How [`Maker::write_one`] placed a file.
enum Done {
    /// Hard-linked from the live generation.
    Linked,
    /// Written, this many bytes.
    Written(u64),
}

/// What [`BundleWriter::write_generation`] did.
struct Written {
    written: usize,
    /// Bytes of the files written, with their precompressed copies.
    bytes_written: u64,
    linked: usize,
    /// Precompressed copies written or linked.
    gz_copies: usize,
    /// SHA-256 of every file, by path.
    hashes: BTreeMap<String, [u8; 32]>,
}

/// What [`BundleWriter::render`] made: the generation's files, and why the CDF export is not
/// among them if it is not.
struct Rendered<'a> {
    files: Vec<(String, Content<'a>)>,
    cdf_skipped: Option<String>,
    forensics: Option<std::time::Duration>,
}

/// Whether a generation gets `cdf/election-report.json`.
enum CdfPlan {
    /// Written, with this `GeneratedDate`.
    Write { generated: String },
    /// Not written, for this reason.
    Skip(String),
}

/// A file of a new generation.
enum Content<'a> {
    /// New bytes.
    New(Vec<u8>),
    /// Bytes the writer keeps from one generation to the next.
    Kept(&'a [u8]),
    /// The same bytes as the live generation's file, which has this SHA-256.
    Same([u8; 32]),
    /// A unit file, rendered only when it is written.
    Unit(UnitIdx),
}

/// `v1/keys.json`: the log's key (the current one), its key rotations (index, old key, new
/// key; left out when there are none), and the witnesses' names and keys with the quorum.
fn render_keys(
    origin: String,
    log_vkey: &str,
    rotations: &[(u64, urna_model::rotation::RotationBody)],
    policy: Option<&crate::WitnessPolicy>,
) -> Result<Vec<u8>, BundleError> {
    let rotations = rotations
        .iter()
        .map(|(index, r)| KeysRotationDoc {
            index: *index,
            old: r.old.to_vkey(&r.origin),
            new: r.new.to_vkey(&r.origin),
        })
        .collect();
    let doc = KeysDoc {
        format: "urna/keys/v1",
        log: KeysLogDoc {
            origin,
            key: log_vkey,
            rotations,
        },
        witnesses: policy
            .iter()
            .flat_map(|p| &p.witnesses)
            .map(|w| KeysWitnessDoc {
                name: &w.name,
                key: w.verifier.to_vkey(),
            })
            .collect(),
        quorum: policy.map_or(0, |p| p.quorum),
    };
    let mut out = serde_json::to_vec_pretty(&doc).map_err(|e| {
        BundleError::Render(RenderError::Write {
            file: KEYS_JSON,
            reason: e.to_string(),
        })
    })?;
    out.push(b'\n');
    Ok(out)
}

#[derive(Serialize)]
struct KeysDoc<'a> {
    format: &'static str,
    log: KeysLogDoc<'a>,
    witnesses: Vec<KeysWitnessDoc<'a>>,
    quorum: usize,
}

#[derive(Serialize)]
struct KeysLogDoc<'a> {
    origin: String,
    key: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rotations: Vec<KeysRotationDoc>,
}

#[derive(Serialize)]
struct KeysRotationDoc {
    index: u64,
    old: String,
    new: String,
}

#[derive(Serialize)]
struct KeysWitnessDoc<'a> {
    name: &'a str,
    key: String,
}

/// Links one tile from the log into the bundle, or checks the bundle's copy. Returns whether
/// it was created.
fn link_tile(rel: &str, src: &Path, dst: &Path) -> Result<bool, BundleError> {
    match fs::symlink_metadata(dst) {
        Ok(_) => {
            verify_same_tile(rel, src, dst)?;
            Ok(false)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if let Some(parent) = dst.parent() {
                fs::create_dir_all(parent).map_err(io("create directory", parent))?;
            }
            match fs::hard_link(src, dst) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    verify_same_tile(rel, src, dst)?;
                    Ok(false)
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    Err(io("link tile (missing in the log)", src)(e))
                }
                Err(_) => {
                    // Another file system, or no hard links: copy, atomically.
                    let bytes = read(src)?;
                    write_file_atomic(dst, &bytes).map_err(io("copy tile", dst))?;
                    Ok(true)
                }
            }
        }
        Err(e) => Err(io("stat", dst)(e)),
    }
}

/// Checks the tiles that growing the tree from `old` to `size` placed, beyond the root: the
/// root is computed from the tiles on the tree's right edge only, so a full tile below a
/// hash of the level above is checked against that hash (the Merkle root of its 256 hashes),
/// and every data tile against the level-0 hashes of its entries. With the root, this ties
/// every tile to the entries the checkpoint signs, as `urna verify` checks them.
fn check_growth_tiles(tiles: &TileDir, old: u64, size: u64) -> Result<(), String> {
    use urna_tlog::tile::{
        TILE_HEIGHT, TILE_WIDTH, TileKind, TileSource as _, decode_entries, decode_hash_tile,
    };
    let read = |tile: &Tile| -> Result<Vec<u8>, String> {
        match tiles.read_tile(tile) {
            Ok(Some(bytes)) => Ok(bytes),
            Ok(None) => Err(format!("{} is missing", tile.path())),
            Err(e) => Err(format!("{}: {e}", tile.path())),
        }
    };
    let hashes = |tile: &Tile| -> Result<Vec<urna_tlog::Hash>, String> {
        decode_hash_tile(&read(tile)?, tile.width()).map_err(|e| format!("{}: {e}", tile.path()))
    };
    let width = u64::from(TILE_WIDTH);
    for tile in tiles_for_growth(TreeSize(old), TreeSize(size)) {
        match tile.kind() {
            TileKind::Entries => {
                let bytes = read(&tile)?;
                let entries = decode_entries(&bytes, tile.width())
                    .map_err(|e| format!("{}: {e}", tile.path()))?;
                let level0 =
                    Tile::hash(0, tile.index(), tile.width()).map_err(|e| e.to_string())?;
                let want = hashes(&level0)?;
                for (i, (entry, want)) in entries.iter().zip(&want).enumerate() {
                    if leaf_hash(entry) != *want {
                        return Err(format!(
                            "entry {} of {} does not hash to its hash in {}",
                            i,
                            tile.path(),
                            level0.path()
                        ));
                    }
                }
            }
            TileKind::Hash(level) if !tile.is_partial() => {
                // A full tile holds 256 hashes: a perfect subtree of height 8.
                let mut nodes = hashes(&tile)?;
                while nodes.len() > 1 {
                    nodes = nodes
                        .chunks(2)
                        .filter_map(|p| {
                            p.iter()
                                .copied()
                                .reduce(|l, r| urna_tlog::node_hash(&l, &r))
                        })
                        .collect();
                }
                let up = u32::from(TILE_HEIGHT) * (u32::from(level) + 1);
                let above = size.checked_shr(up).unwrap_or(0);
                let parent_index = tile.index() / width;
                let parent_width = above.saturating_sub(parent_index * width).min(width);
                let parent = Tile::hash(
                    level + 1,
                    parent_index,
                    u16::try_from(parent_width).unwrap_or(TILE_WIDTH),
                )
                .map_err(|e| format!("the tile above {}: {e}", tile.path()))?;
                let position = usize::try_from(tile.index() % width).unwrap_or(usize::MAX);
                if hashes(&parent)?.get(position) != nodes.first() {
                    return Err(format!(
                        "{} does not hash to its hash in {}",
                        tile.path(),
                        parent.path()
                    ));
                }
            }
            // A partial tile is on the tree's right edge: the root is computed from it.
            TileKind::Hash(_) => {}
        }
    }
    Ok(())
}

/// Writes the log's tile `rel`, whose bytes are `bytes`, at `dst` in the bundle (atomically),
/// or checks the bundle's copy: for a source that holds its tiles as bytes, not files (a
/// database). Returns whether it was created.
///
/// # Errors
/// [`BundleError::ForkedTile`] if `dst` holds other bytes; [`BundleError::Io`].
pub fn place_tile_bytes(rel: &str, bytes: &[u8], dst: &Path) -> Result<bool, BundleError> {
    match fs::read(dst) {
        Ok(existing) if existing == bytes => Ok(false),
        Ok(_) => Err(BundleError::ForkedTile {
            tile: rel.to_owned(),
            path: dst.to_owned(),
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if let Some(parent) = dst.parent() {
                fs::create_dir_all(parent).map_err(io("create directory", parent))?;
            }
            write_file_atomic(dst, bytes).map_err(io("write tile", dst))?;
            Ok(true)
        }
        Err(e) => Err(io("read", dst)(e)),
    }
}

fn verify_same_tile(rel: &str, src: &Path, dst: &Path) -> Result<(), BundleError> {
    let a = fs::metadata(src).map_err(io("stat", src))?;
    let b = fs::metadata(dst).map_err(io("stat", dst))?;
    if a.dev() == b.dev() && a.ino() == b.ino() {
        return Ok(());
    }
    if read(src)? != read(dst)? {
        return Err(BundleError::ForkedTile {
            tile: rel.to_owned(),
            path: dst.to_owned(),
        });
    }
    Ok(())
}

/// Publishes each scan a logged note names, found in the source (`DATA/scans/<hex>`: the desk
/// writes it there, or `urna serve` when a desk elsewhere sends it), as
/// `OUT/blob/sha256/<hex>`, and takes it off `pending`. A scan not there yet, or whose bytes
/// are not its name's, stays pending; a file no note names is never published.
fn publish_scans(
    source: &dyn BundleSource,
    out: &Path,
    pending: &mut BTreeSet<[u8; 32]>,
) -> Result<(), BundleError> {
    let mut done = Vec::new();
    for sha in pending.iter() {
        let name = hex(sha);
        if out.join("blob/sha256").join(&name).exists() {
            done.push(*sha);
            continue;
        }
        let Some(bytes) = source.scan(sha)? else {
            continue;
        };
        if sha256(&bytes) == *sha {
            write_blob(out, sha, &bytes)?;
            done.push(*sha);
        }
    }
    for sha in done {
        pending.remove(&sha);
    }
    Ok(())
}

/// Writes `OUT/blob/sha256/<hex>` unless it exists with the same bytes.
fn write_blob(out: &Path, sha: &[u8; 32], bytes: &[u8]) -> Result<(), BundleError> {
    let path = out.join("blob/sha256").join(hex(sha));
    match fs::read(&path) {
        Ok(existing) if existing == bytes => Ok(()),
        // Missing, or damaged (the name is the SHA-256 of the bytes): write it.
        _ => write_file_atomic(&path, bytes).map_err(io("write blob", &path)),
    }
}

/// The generation `OUT/current` points to, if any.
fn live_generation(out: &Path) -> Result<Option<Generation>, BundleError> {
    let current = out.join(CURRENT);
    let target = match fs::read_link(&current) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("read symlink", &current)(e)),
    };
    let Some(name) = target
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
    else {
        return Ok(None);
    };
    // A generation without a readable checkpoint is still kept live until it is replaced.
    let path = current.join(CHECKPOINT);
    let checkpoint = match fs::read(&path) {
        Ok(c) => c,
        Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io("read", &path)(e)),
    };
    let size = log::checkpoint_size(&checkpoint).unwrap_or(0);
    Ok(Some(Generation {
        name,
        size,
        checkpoint,
        files: BTreeMap::new(),
        found_at_open: true,
    }))
}

/// One more than the highest `<n>` of the `<size>.<n>` directories in `gens`.
fn next_generation_number(gens: &Path) -> Result<u64, BundleError> {
    let mut next = 1;
    for entry in fs::read_dir(gens).map_err(io("list", gens))? {
        let entry = entry.map_err(io("list", gens))?;
        let name = entry.file_name();
        let n = name
            .to_str()
            .and_then(|n| n.split_once('.'))
            .and_then(|(_, n)| n.parse::<u64>().ok());
        if let Some(n) = n {
            next = next.max(n.saturating_add(1));
        }
    }
    Ok(next)
}

/// Points `OUT/current` at `gen/<name>` atomically: a new symlink renamed over the old.
/// How swapping `current` failed: before the rename (the old generation is still live) or
/// after it (the new one is live, its directory entry not yet synced).
enum Swap {
    Rename(BundleError),
    Sync(BundleError),
}

fn swap_current(out: &Path, name: &str) -> Result<(), Swap> {
    let tmp = out.join(format!("{CURRENT}.tmp"));
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(Swap::Rename(io("remove", &tmp)(e))),
    }
    let target = Path::new(GENERATIONS).join(name);
    std::os::unix::fs::symlink(&target, &tmp)
        .map_err(|e| Swap::Rename(io("create symlink", &tmp)(e)))?;
    let current = out.join(CURRENT);
    fs::rename(&tmp, &current).map_err(|e| Swap::Rename(io("rename", &current)(e)))?;
    sync_dir(out).map_err(Swap::Sync)
}

/// Deletes every generation but `keep` and `previous`. Returns how many it deleted.
fn remove_old_generations(
    gens: &Path,
    keep: &str,
    previous: Option<&str>,
) -> Result<usize, BundleError> {
    let mut removed = 0;
    for entry in fs::read_dir(gens).map_err(io("list", gens))? {
        let entry = entry.map_err(io("list", gens))?;
        let name = entry.file_name();
        if name == keep || previous.is_some_and(|p| name == p) {
            continue;
        }
        let path = entry.path();
        fs::remove_dir_all(&path).map_err(io("remove", &path))?;
        removed += 1;
    }
    Ok(removed)
}

/// `<path>.gz`.
fn gz_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(crate::gzip::GZ_SUFFIX);
    PathBuf::from(p)
}

/// Gives the file `path` of a new generation, just hard-linked from `from`, its precompressed
/// copy: linked from `from`'s copy, or, where `from` has none (a generation an earlier version
/// wrote, or a file that was not worth a copy), compressed from its bytes (`bytes`, or read
/// from `path`) if it is worth one. Whether `path` has a copy now.
fn link_gz(rel: &str, from: &Path, path: &Path, bytes: Option<&[u8]>) -> Result<bool, BundleError> {
    if !crate::gzip::compressible(rel) {
        return Ok(false);
    }
    if fs::hard_link(gz_path(from), gz_path(path)).is_ok() {
        return Ok(true);
    }
    let written = match bytes {
        Some(bytes) => write_gz(rel, path, bytes)?,
        None => write_gz(rel, path, &read(path)?)?,
    };
    Ok(written.is_some())
}

/// Writes `<path>.gz` for the file `path` holding `bytes`, if [`crate::gzip::gzip_copy`] finds
/// it worth it. The bytes of the copy written, if it wrote one.
fn write_gz(rel: &str, path: &Path, bytes: &[u8]) -> Result<Option<u64>, BundleError> {
    match crate::gzip::gzip_copy(rel, bytes) {
        Some(gz) => write_synced(&gz_path(path), &gz).map(|()| Some(gz.len() as u64)),
        None => Ok(None),
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), BundleError> {
    let mut f = fs::File::create(path).map_err(io("create", path))?;
    f.write_all(bytes).map_err(io("write", path))?;
    f.sync_all().map_err(io("sync", path))
}

fn sync_dir(dir: &Path) -> Result<(), BundleError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync directory", dir))
}

fn read(path: &Path) -> Result<Vec<u8>, BundleError> {
    fs::read(path).map_err(io("read", path))
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> BundleError + 'a {
    move |source| BundleError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_is_true_only_for_exactly_the_bytes_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        // Over two blocks, so that the comparison crosses a block boundary.
        let bytes: Vec<u8> = (0..COMPARE_BLOCK * 2 + 7)
            .map(|i| (i % 251) as u8)
            .collect();
        fs::write(&path, &bytes).unwrap();
        let mut last_changed = bytes.clone();
        *last_changed.last_mut().unwrap() ^= 1;
        let mut first_block_changed = bytes.clone();
        first_block_changed[COMPARE_BLOCK - 1] ^= 1;
        let cases: [(&[u8], bool, &str); 6] = [
            (&bytes, true, "the same bytes"),
            (&bytes[..bytes.len() - 1], false, "one byte shorter"),
            (&[bytes.as_slice(), b"x"].concat(), false, "one byte longer"),
            (&last_changed, false, "the last byte differs"),
            (
                &first_block_changed,
                false,
                "a byte of the first block differs",
            ),
            (b"", false, "empty"),
        ];
        for (candidate, want, what) in cases {
            assert_eq!(same_bytes(&path, candidate), want, "{what}");
        }
        assert!(!same_bytes(&dir.path().join("missing"), b""), "no file");
    }
}
