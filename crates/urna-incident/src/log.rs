//! The incident log: a directory holding the incidents config, the log key and a C2SP
//! tlog-tiles log of incident notes, with its own checkpoint origin.
//!
//! ```text
//! DIR/incidents.toml    the institutions and the origin (crate::config)
//! DIR/secrets/log.key   the log's Ed25519 signing key (mode 0600; only the operator's copy)
//! DIR/log/checkpoint    the latest checkpoint, signed by the log key, cosigned by witnesses
//! DIR/log/tile/…        hash tiles and entry bundles holding the exact notes
//! DIR/witnesses.toml    optional: the witnesses that cosign (the results log's format)
//! DIR/incidents.lock    held (flock) while a writer has the log open
//! ```
//!
//! Every open re-reads every entry, re-hashes the tree, checks the checkpoint's signature and
//! root, and re-checks every note against the rules ([`IncidentLog::check`]): a note changed
//! on disk, a note that breaks a rule, or a tree that does not match the signed checkpoint
//! stops the open. Appending checks the same rules first, then writes the new tiles and a new
//! signed checkpoint, both atomically.
//!
//! The rules beyond the note format: the note has exactly one signature, by the key of the
//! institution it names; an update or acknowledgment names a report earlier in the log and is
//! not dated before it; only the reporter updates its incident; every other institution may
//! acknowledge it once, and a sealed incident only by its recipients; recipients are listed
//! institutions other than the reporter; the same note is never logged twice.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use urna_model::note::{Note, NoteSigner, NoteVerifier};
use urna_tlog::checkpoint::CheckpointError;
use urna_tlog::tile::{
    TileKind, decode_entries, encode_entries, hash_tile_bytes, tiles_for_growth,
};
use urna_tlog::{Checkpoint, Hash, MemoryStore, TileDir, Tree, TreeSize, leaf_hash};

use crate::body::{Content, IncidentBody, Kind, Status, Tlp, UtcTime, hex};
use crate::config::{ConfigError, IncidentsConfig};

/// The config file in an incident directory.
pub const CONFIG_FILE: &str = "incidents.toml";
/// The log key file in an incident directory.
pub const LOG_KEY_FILE: &str = "secrets/log.key";
/// The tile directory in an incident directory.
pub const LOG_DIR: &str = "log";
/// The lock file a writer holds.
pub const LOCK_FILE: &str = "incidents.lock";
/// The witness policy file, in the results log's format.
pub const WITNESSES_FILE: &str = "witnesses.toml";

/// One logged note.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its position in the log (from 0).
    pub index: u64,
    /// SHA-256 of its note bytes: how updates and acknowledgments name a report.
    pub hash: [u8; 32],
    /// The exact note bytes, as in the entry bundle.
    pub bytes: Vec<u8>,
    /// The parsed body.
    pub body: IncidentBody,
}

/// Where an incident stands after every entry so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentState {
    /// The report's entry index.
    pub report: u64,
    /// The reporting institution.
    pub reporter: String,
    /// When it was reported.
    pub reported: UtcTime,
    /// The current TLP (of the report or its latest update).
    pub tlp: Tlp,
    /// The current status.
    pub status: Status,
    /// The current recipients (empty at TLP:CLEAR).
    pub recipients: Vec<String>,
    /// Entry indices of the updates, in log order.
    pub updates: Vec<u64>,
    /// Entry indices of the acknowledgments, in log order.
    pub acks: Vec<u64>,
    /// Institutions that acknowledged.
    pub acked_by: BTreeSet<String>,
}

/// Why a note was refused, or the log could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A file could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The config file is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The log key file is wrong.
    #[error("{path}: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Another process has the log open for writing.
    #[error("{0} is held by another process (one writer at a time)")]
    Locked(PathBuf),
    /// `init` into a directory that is not empty.
    #[error("{0} exists and is not empty")]
    NotEmpty(PathBuf),
    /// The tiles or the checkpoint on disk are damaged or do not match.
    #[error("the incident log on disk is damaged: {0}")]
    Damaged(String),
    /// The checkpoint does not verify.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// A note in the log, or one offered, breaks a rule.
    #[error("entry {index}: {error}")]
    Entry {
        /// Its index (the next index for an offered note).
        index: u64,
        /// The rule broken.
        error: EntryError,
    },
    /// The log is read-only (opened without the log key).
    #[error("the incident log was opened without its log key; it cannot be written")]
    ReadOnly,
}

/// Why one incident note is not admissible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// Not a signed note.
    #[error("not a signed note: {0}")]
    Note(String),
    /// The body does not parse.
    #[error("urna/incident/v1 body: {0}")]
    Body(#[from] crate::body::BodyError),
    /// The institution is not in the incidents config.
    #[error("institution {0:?} is not in the incidents config")]
    UnknownInstitution(String),
    /// Not exactly one signature, or not by the named institution's key.
    #[error("the note must carry exactly one signature, by institution {0:?}'s key")]
    Signature(String),
    /// The report named is not in the log before this note.
    #[error("incident sha256:{0} is not a report earlier in the log")]
    UnknownIncident(String),
    /// An update by someone other than the reporter.
    #[error("only the reporter {reporter:?} may update its incident, not {institution:?}")]
    NotReporter {
        /// Who reported.
        reporter: String,
        /// Who tried.
        institution: String,
    },
    /// The reporter acknowledging its own incident.
    #[error("institution {0:?} reported this incident and cannot acknowledge it")]
    OwnAck(String),
    /// A second acknowledgment by the same institution.
    #[error("institution {0:?} has acknowledged this incident already")]
    DuplicateAck(String),
    /// An acknowledgment of a sealed incident by an institution that cannot read it.
    #[error("institution {0:?} is not a recipient of this sealed incident")]
    NotRecipient(String),
    /// A recipient that is not listed, or is the reporter.
    #[error("recipient {0:?} is not another institution of the incidents config")]
    BadRecipient(String),
    /// Dated before the report it names.
    #[error("time {time} is before the report's time {report}")]
    BeforeReport {
        /// This note's time.
        time: UtcTime,
        /// The report's.
        report: UtcTime,
    },
    /// The same note is in the log already.
    #[error("this note is in the log already (entry {0})")]
    Duplicate(u64),
}

/// An incident log, opened for reading, or for writing with its log key.
#[derive(Debug)]
pub struct IncidentLog {
    config: IncidentsConfig,
    tiles: TileDir,
    log_key: NoteVerifier,
    signer: Option<NoteSigner>,
    store: MemoryStore,
    tree: Tree,
    entries: Vec<Entry>,
    by_hash: BTreeMap<[u8; 32], u64>,
    incidents: BTreeMap<[u8; 32], IncidentState>,
    checkpoint: Vec<u8>,
    /// Held for the writer's lifetime; released when dropped.
    _lock: Option<File>,
}

impl IncidentLog {
    /// Creates an incident directory at `dir` (absent or empty) from a config text: writes
    /// the config, a new log key named after the origin, and the empty log's checkpoint.
    /// Returns the log's verifier key (`ORIGIN=VKEY` is what witnesses follow).
    ///
    /// # Errors
    /// [`LogError`]: a bad config, a non-empty directory, an origin that is no key name, I/O.
    pub fn init(dir: &Path, config_text: &str) -> Result<NoteVerifier, LogError> {
        let config = IncidentsConfig::from_toml(config_text)?;
        match fs::read_dir(dir) {
            Ok(mut d) => {
                if d.next().is_some() {
                    return Err(LogError::NotEmpty(dir.to_owned()));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).map_err(io("create", dir))?;
            }
            Err(e) => return Err(io("read", dir)(e)),
        }
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        let signer = NoteSigner::from_seed(&config.origin, &seed).map_err(|e| LogError::Key {
            path: dir.join(CONFIG_FILE),
            reason: format!("origin {:?} cannot name the log key: {e}", config.origin),
        })?;
        let config_path = dir.join(CONFIG_FILE);
        fs::write(&config_path, config_text).map_err(io("write", &config_path))?;
        write_secret(&dir.join(LOG_KEY_FILE), &signer.to_skey())?;
        let tiles = TileDir::open(dir.join(LOG_DIR)).map_err(damaged)?;
        let note = Checkpoint::new(&config.origin, TreeSize(0), Hash::EMPTY_ROOT).sign(&signer)?;
        tiles.write_checkpoint(&note.to_bytes()).map_err(damaged)?;
        Ok(signer.verifier())
    }

    /// Opens the incident directory `dir` for writing: takes the lock, reads the log key,
    /// and checks everything (see the module doc).
    ///
    /// # Errors
    /// [`LogError`]: locked, missing or bad files, a damaged log, a note that breaks a rule.
    pub fn open(dir: &Path) -> Result<Self, LogError> {
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("open", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(LogError::Locked(lock_path)),
            Err(fs::TryLockError::Error(e)) => return Err(io("lock", &lock_path)(e)),
        }
        let key_path = dir.join(LOG_KEY_FILE);
        let skey = fs::read_to_string(&key_path).map_err(io("read", &key_path))?;
        let signer = NoteSigner::from_skey(skey.trim()).map_err(|e| LogError::Key {
            path: key_path,
            reason: e.to_string(),
        })?;
        let config = read_config(&dir.join(CONFIG_FILE))?;
        let mut log = Self::read(&dir.join(LOG_DIR), config, signer.verifier())?;
        log.signer = Some(signer);
        log._lock = Some(lock);
        Ok(log)
    }

    /// Opens the incident directory `dir` read-only, without the lock: checked against its
    /// config and `log_key`, or, if `None`, the verifier of the directory's own log key file.
    /// A writer writes tiles before the checkpoint, so a reader sees a consistent log.
    ///
    /// # Errors
    /// As [`IncidentLog::read`]; [`LogError::Key`] if no key is given and the directory has
    /// no readable log key.
    pub fn open_read_only(dir: &Path, log_key: Option<NoteVerifier>) -> Result<Self, LogError> {
        let log_key = match log_key {
            Some(k) => k,
            None => {
                let key_path = dir.join(LOG_KEY_FILE);
                let skey = fs::read_to_string(&key_path).map_err(|e| LogError::Key {
                    path: key_path.clone(),
                    reason: format!("{e} (give the log's public key instead)"),
                })?;
                NoteSigner::from_skey(skey.trim())
                    .map_err(|e| LogError::Key {
                        path: key_path,
                        reason: e.to_string(),
                    })?
                    .verifier()
            }
        };
        let config = read_config(&dir.join(CONFIG_FILE))?;
        Self::read(&dir.join(LOG_DIR), config, log_key)
    }

    /// Opens an incident log read-only from its tile directory, checked against `config` and
    /// the log's verifier key (how a partner or the public reads a copy).
    ///
    /// # Errors
    /// [`LogError`]: a damaged log, a checkpoint that does not verify, a note that breaks a rule.
    pub fn read(
        log_dir: &Path,
        config: IncidentsConfig,
        log_key: NoteVerifier,
    ) -> Result<Self, LogError> {
        let tiles = TileDir::open(log_dir).map_err(damaged)?;
        let checkpoint = tiles
            .read_checkpoint()
            .map_err(damaged)?
            .ok_or_else(|| LogError::Damaged(format!("{} has no checkpoint", log_dir.display())))?;
        let (cp, _) = urna_tlog::checkpoint::open(&checkpoint, &config.origin, &log_key)?;
        let mut log = Self {
            config,
            tiles,
            log_key,
            signer: None,
            store: MemoryStore::new(),
            tree: Tree::new(),
            entries: Vec::new(),
            by_hash: BTreeMap::new(),
            incidents: BTreeMap::new(),
            checkpoint,
            _lock: None,
        };
        for tile in urna_tlog::tile::tiles_for_size(cp.size) {
            if tile.kind() != TileKind::Entries {
                continue;
            }
            let bytes = log
                .tiles
                .read(&tile)
                .map_err(damaged)?
                .ok_or_else(|| LogError::Damaged(format!("tile {tile} is missing")))?;
            let notes = decode_entries(&bytes, tile.width())
                .map_err(|e| LogError::Damaged(format!("tile {tile}: {e}")))?;
            for note in notes {
                let index = log.size();
                let (note, body) = log
                    .check(note)
                    .map_err(|error| LogError::Entry { index, error })?;
                log.apply(note, body)?;
            }
        }
        if log.tree.size() != cp.size || log.tree.root() != cp.root {
            return Err(LogError::Damaged(format!(
                "the entries hash to root {} at size {}, but the checkpoint says {} at size {}",
                log.tree.root().to_base64(),
                log.tree.size().0,
                cp.root.to_base64(),
                cp.size.0
            )));
        }
        Ok(log)
    }

    /// Checks a note against the rules and the log so far, without logging it.
    ///
    /// # Errors
    /// [`EntryError`] naming the rule broken.
    pub fn check(&self, bytes: &[u8]) -> Result<(Vec<u8>, IncidentBody), EntryError> {
        let note = Note::parse(bytes).map_err(|e| EntryError::Note(e.to_string()))?;
        let body = IncidentBody::parse(note.text())?;
        let institution = self
            .config
            .institution(&body.institution)
            .ok_or_else(|| EntryError::UnknownInstitution(body.institution.clone()))?;
        if note.signatures().len() != 1 || institution.key.verify(&note).is_err() {
            return Err(EntryError::Signature(body.institution.clone()));
        }
        let hash: [u8; 32] = Sha256::digest(bytes).into();
        if let Some(&i) = self.by_hash.get(&hash) {
            return Err(EntryError::Duplicate(i));
        }
        if let Some(notice) = &body.notice {
            for r in &notice.recipients {
                if *r == body.institution || self.config.institution(r).is_none() {
                    return Err(EntryError::BadRecipient(r.clone()));
                }
            }
        }
        if let Some(incident) = &body.incident {
            let state = self
                .incidents
                .get(incident)
                .ok_or_else(|| EntryError::UnknownIncident(hex(incident)))?;
            if body.time < state.reported {
                return Err(EntryError::BeforeReport {
                    time: body.time,
                    report: state.reported,
                });
            }
            match body.kind {
                Kind::Update if body.institution != state.reporter => {
                    return Err(EntryError::NotReporter {
                        reporter: state.reporter.clone(),
                        institution: body.institution.clone(),
                    });
                }
                Kind::Ack if body.institution == state.reporter => {
                    return Err(EntryError::OwnAck(body.institution.clone()));
                }
                Kind::Ack if state.acked_by.contains(&body.institution) => {
                    return Err(EntryError::DuplicateAck(body.institution.clone()));
                }
                Kind::Ack
                    if state.tlp.is_sealed() && !state.recipients.contains(&body.institution) =>
                {
                    return Err(EntryError::NotRecipient(body.institution.clone()));
                }
                _ => {}
            }
        }
        Ok((bytes.to_vec(), body))
    }

    /// Checks and appends notes, writes the new tiles and a new checkpoint signed by the log
    /// key. Either every note is logged or none (nothing is written if one is refused).
    /// Returns the new entries' indices.
    ///
    /// # Errors
    /// [`LogError::Entry`] for the first note that breaks a rule; [`LogError::ReadOnly`];
    /// I/O errors.
    pub fn append(&mut self, notes: &[Vec<u8>]) -> Result<std::ops::Range<u64>, LogError> {
        let signer = self.signer.clone().ok_or(LogError::ReadOnly)?;
        let old = self.tree.size();
        // Checked on a copy of the state, so that a refusal leaves the log as it was.
        let mut staged = Self {
            config: self.config.clone(),
            tiles: self.tiles.clone(),
            log_key: self.log_key.clone(),
            signer: None,
            store: self.store.clone(),
            tree: self.tree.clone(),
            entries: self.entries.clone(),
            by_hash: self.by_hash.clone(),
            incidents: self.incidents.clone(),
            checkpoint: self.checkpoint.clone(),
            _lock: None,
        };
        for note in notes {
            let index = staged.size();
            let (bytes, body) = staged
                .check(note)
                .map_err(|error| LogError::Entry { index, error })?;
            staged.apply(bytes, body)?;
        }
        let new = staged.tree.size();
        let mut tiles = Vec::new();
        for tile in tiles_for_growth(old, new) {
            let bytes = match tile.kind() {
                TileKind::Entries => {
                    let first = tile.index() * 256;
                    let notes: Vec<&[u8]> = (first..first + u64::from(tile.width()))
                        .map(|i| staged.entries[to_usize(i)].bytes.as_slice())
                        .collect();
                    encode_entries(&notes).map_err(|e| LogError::Damaged(e.to_string()))?
                }
                TileKind::Hash(_) => hash_tile_bytes(&staged.store, &tile)
                    .map_err(|e| LogError::Damaged(e.to_string()))?,
            };
            tiles.push((tile, bytes));
        }
        // Every tile of the growth holds content no signed checkpoint covers yet; one already
        // on disk with other bytes is the leftover of an append that crashed before its
        // checkpoint, and is replaced.
        for (tile, bytes) in &tiles {
            if let Some(existing) = self.tiles.read(tile).map_err(damaged)?
                && existing != *bytes
            {
                let path = self.tiles.tile_path(tile);
                fs::remove_file(&path).map_err(io("remove", &path))?;
            }
        }
        self.tiles.write_tiles(&tiles).map_err(damaged)?;
        let checkpoint = Checkpoint::new(&self.config.origin, new, staged.tree.root())
            .sign(&signer)?
            .to_bytes();
        self.tiles.write_checkpoint(&checkpoint).map_err(damaged)?;
        staged.checkpoint = checkpoint;
        staged.signer = self.signer.take();
        staged._lock = self._lock.take();
        *self = staged;
        Ok(old.0..new.0)
    }

    /// Replaces the checkpoint file by `cosigned`: the current checkpoint with witness
    /// cosignatures added. Refused unless it is a note with the same text and a valid log
    /// signature.
    ///
    /// # Errors
    /// [`LogError::Checkpoint`], [`LogError::Damaged`] if the text differs, I/O errors.
    pub fn install_cosigned(&mut self, cosigned: &[u8]) -> Result<(), LogError> {
        let (cp, note) = urna_tlog::checkpoint::open(cosigned, &self.config.origin, &self.log_key)?;
        if cp.size != self.tree.size() || cp.root != self.tree.root() {
            return Err(LogError::Damaged(
                "the cosigned checkpoint is not the log's current one".into(),
            ));
        }
        let bytes = note.to_bytes();
        self.tiles.write_checkpoint(&bytes).map_err(damaged)?;
        self.checkpoint = bytes;
        Ok(())
    }

    /// The consistency proof from the tree of `old` leaves to the tree of `new` leaves.
    ///
    /// # Errors
    /// The proof error as text (sizes out of order or beyond the log).
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, String> {
        if new > self.tree.size().0 {
            return Err(format!(
                "size {new} is beyond the log's {}",
                self.tree.size().0
            ));
        }
        urna_tlog::proof::consistency_proof(&self.store, TreeSize(old), TreeSize(new))
            .map_err(|e| e.to_string())
    }

    /// The current checkpoint with the log's signature only (what witnesses are asked to
    /// cosign, without the cosignatures it may carry already).
    pub fn log_signed_checkpoint(&self) -> Vec<u8> {
        let Ok(note) = Note::parse(&self.checkpoint) else {
            return self.checkpoint.clone();
        };
        let Ok(mut only) = Note::unsigned(note.text()) else {
            return self.checkpoint.clone();
        };
        if let Some(sig) = note.signature_by(self.log_key.name(), self.log_key.key_id()) {
            only.add_signature(sig.clone());
        }
        only.to_bytes()
    }

    /// The number of entries.
    pub fn size(&self) -> u64 {
        self.tree.size().0
    }

    /// The current checkpoint note bytes (with any cosignatures).
    pub fn checkpoint(&self) -> &[u8] {
        &self.checkpoint
    }

    /// The log's verifier key.
    pub fn log_key(&self) -> &NoteVerifier {
        &self.log_key
    }

    /// The config the log is checked against.
    pub fn config(&self) -> &IncidentsConfig {
        &self.config
    }

    /// The tile directory.
    pub fn tile_dir(&self) -> &Path {
        self.tiles.root()
    }

    /// Every entry, in log order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Every incident, by its report's hash.
    pub fn incidents(&self) -> &BTreeMap<[u8; 32], IncidentState> {
        &self.incidents
    }

    /// The entry with this note hash, if logged.
    pub fn entry_by_hash(&self, hash: &[u8; 32]) -> Option<&Entry> {
        self.by_hash.get(hash).map(|&i| &self.entries[to_usize(i)])
    }

    /// Logs a checked note: tree, entries, incident state.
    fn apply(&mut self, bytes: Vec<u8>, body: IncidentBody) -> Result<(), LogError> {
        let hash: [u8; 32] = Sha256::digest(&bytes).into();
        let mut finished = Vec::new();
        let index = self
            .tree
            .append(leaf_hash(&bytes), &mut finished)
            .map_err(|e| LogError::Damaged(e.to_string()))?
            .0;
        self.store
            .extend(&finished)
            .map_err(|e| LogError::Damaged(e.to_string()))?;
        match (&body.incident, &body.notice) {
            (None, Some(n)) => {
                self.incidents.insert(
                    hash,
                    IncidentState {
                        report: index,
                        reporter: body.institution.clone(),
                        reported: body.time,
                        tlp: n.tlp,
                        status: n.status,
                        recipients: n.recipients.clone(),
                        updates: Vec::new(),
                        acks: Vec::new(),
                        acked_by: BTreeSet::new(),
                    },
                );
            }
            (Some(incident), notice) => {
                if let Some(state) = self.incidents.get_mut(incident) {
                    if let Some(n) = notice {
                        state.tlp = n.tlp;
                        state.status = n.status;
                        state.recipients.clone_from(&n.recipients);
                        state.updates.push(index);
                    } else {
                        state.acks.push(index);
                        state.acked_by.insert(body.institution.clone());
                    }
                }
            }
            // A report always has a notice: the parser requires it.
            (None, None) => {}
        }
        self.by_hash.insert(hash, index);
        self.entries.push(Entry {
            index,
            hash,
            bytes,
            body,
        });
        Ok(())
    }
}

impl Entry {
    /// Whether the details of this entry are sealed.
    pub fn is_sealed(&self) -> bool {
        matches!(
            self.body.notice.as_ref().map(|n| &n.content),
            Some(Content::Sealed(_))
        )
    }
}

/// Reads and checks an incidents config file.
///
/// # Errors
/// [`LogError::Io`] or [`LogError::Config`].
pub fn read_config(path: &Path) -> Result<IncidentsConfig, LogError> {
    let text = fs::read_to_string(path).map_err(io("read", path))?;
    Ok(IncidentsConfig::from_toml(&text)?)
}

/// Writes a secret file readable by its owner only; refuses to overwrite.
///
/// # Errors
/// [`LogError::Io`].
pub fn write_secret(path: &Path, secret: &str) -> Result<(), LogError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io("create", parent))?;
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io("create", path))?;
    f.write_all(secret.as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all())
        .map_err(io("write", path))
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LogError {
    move |source| LogError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(damaged)`
fn damaged(e: urna_tlog::tiledir::TileDirError) -> LogError {
    LogError::Damaged(e.to_string())
}

/// An entry index as a `Vec` index: the entries are in memory, so every index fits.
fn to_usize(i: u64) -> usize {
    usize::try_from(i).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests;
