//! Backups of a data directory, taken while `urna serve` runs on it, and their restore.
//!
//! A backup is a directory (format `urna/backup/v1`):
//!
//! | path                          | what                                                        |
//! |-------------------------------|-------------------------------------------------------------|
//! | `backup.toml`                 | format, election, log origin and verifier key, log size and root hash, the sizes of the checkpoints copied, time, every file included |
//! | `MANIFEST.sha256`             | `<sha256 hex>  <path>` of every other file, sorted by path  |
//! | `data/urna.sqlite`            | the database, as one transaction saw it (SQLite `VACUUM INTO`) |
//! | `data/election.toml`, stations file, shapes file | the definition, byte for byte          |
//! | `data/log-latest.checkpoint`  | the last checkpoint the log signed before the snapshot      |
//! | `data/log/checkpoint`         | the last published (witness-cosigned) checkpoint, if any    |
//! | `data/log.vkey`               | the log's verifier key (its public part)                     |
//! | `data/witnesses.toml`, `data/witness-sizes.json` | the witness policy and publisher state, if any |
//! | `data/scans/`                 | scans of paper protocols (named by SHA-256), if any         |
//! | `data/secrets/`               | private keys: only when asked for (`with_secrets`)          |
//!
//! Consistency while the server writes: both checkpoints are read first, then the database is
//! copied inside one read transaction. The log writes a checkpoint only after the entries it
//! covers have committed, so the snapshot holds at least every entry either checkpoint covers;
//! the backup recomputes the Merkle root of the snapshot at both sizes and refuses to finish
//! unless they match. Tiles are not copied: they are derived from the entries, and a restore
//! writes them again.
//!
//! Restore checks the manifest (a changed, missing or extra file is refused, named), copies
//! the files into a new directory, opens it as a store (which replays and checks every note
//! and rebuilds the log and its tiles), and compares the log with the backup's own checkpoints
//! and with the newest checkpoint the caller gives (a witness-cosigned checkpoint file, or the
//! checkpoint of a running server or a published bundle): a log smaller than that checkpoint
//! is a rollback and is refused, a log whose root at that size differs is a fork and is
//! refused. The new directory is assembled beside the target and renamed into place only when
//! every check passed, so a refused restore leaves nothing behind, and an existing non-empty
//! directory is never written into.
//!
//! Out of scope: locking the source directory (the store's own open does), fetching remote
//! checkpoints (the CLI does), copying the public bundle (`urna publish` writes it again).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use urna_model::definition::Election;
use urna_model::note::{Note, NoteSigner, NoteVerifier};
use urna_model::protocol::hex;
use urna_tlog::Clock;
use urna_tlog::checkpoint::Checkpoint;
use urna_tlog::cosignature::CosignatureVerifier;
use urna_tlog::hash::{Hash, leaf_hash};
use urna_tlog::{Tree, tiledir::write_file_atomic};

pub use self::manifest::{BackupInfo, FORMAT};
use crate::log::{LATEST_CHECKPOINT_FILE, LOG_DIR, LOG_KEY_FILE};
use crate::{DB_FILE, DEFINITION_FILE, Store, StoreError, WITNESSES_FILE};

/// The description of a backup, at its root.
pub const BACKUP_TOML: &str = "backup.toml";
/// SHA-256 of every other file of a backup, at its root.
pub const MANIFEST: &str = "MANIFEST.sha256";
/// The directory of a backup holding the data directory's files.
pub const DATA: &str = "data";
/// The log's verifier key inside a backup's `data/`.
pub const LOG_VKEY_FILE: &str = "log.vkey";
/// The directory of private keys in a data directory.
pub const SECRETS_DIR: &str = "secrets";
/// The directory of scans in a data directory (written by the desk's delivery).
pub const SCANS_DIR: &str = "scans";
/// The publisher's record of what each witness cosigned (`urna-server`).
const WITNESS_SIZES_FILE: &str = "witness-sizes.json";

/// Why a backup or a restore failed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        error: std::io::Error,
    },
    /// SQLite failed on the database named.
    #[error("{path}: database: {reason}")]
    Sqlite {
        /// The database file.
        path: String,
        /// Cause.
        reason: String,
    },
    /// The target directory exists and is not empty.
    #[error(
        "{path} exists and is not empty; a backup or restore writes only into a new or empty directory"
    )]
    NotEmpty {
        /// The directory.
        path: String,
    },
    /// The source is not what it should be (not a data directory, a bad `backup.toml`).
    #[error("{path}: {reason}")]
    Invalid {
        /// The file or directory.
        path: String,
        /// What is wrong, naming the field and the rule.
        reason: String,
    },
    /// A file of the backup does not match `MANIFEST.sha256`.
    #[error("{file}: {reason}; the backup was changed after it was taken, refusing to restore it")]
    Manifest {
        /// The file, relative to the backup.
        file: String,
        /// What differs.
        reason: String,
    },
    /// The manifest, written last, is missing: not a backup, or one whose taking was stopped.
    #[error(
        "{file} is missing: not a backup, or one whose taking did not finish (the manifest is written last); refusing to restore it"
    )]
    Unfinished {
        /// The manifest's name.
        file: String,
    },
    /// The snapshot disagrees with a checkpoint the log signed.
    #[error("{0}")]
    Inconsistent(String),
    /// No private log key to restore with, or one of another log.
    #[error("{0}")]
    LogKey(String),
    /// A checkpoint given to compare with is not this log's, or is badly signed.
    #[error("checkpoint {source_name}: {reason}")]
    Checkpoint {
        /// Where it came from.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// The checkpoint does not carry the witnesses' quorum.
    #[error(
        "checkpoint {source_name}: cosigned by {cosigned} of the witnesses of the witness policy, whose quorum is {quorum}{bad}"
    )]
    Witnesses {
        /// Where it came from.
        source_name: String,
        /// Witnesses whose cosignature verifies.
        cosigned: usize,
        /// Cosignatures required.
        quorum: usize,
        /// Cosignatures by a listed witness that do not verify, named.
        bad: String,
    },
    /// The backup's log is smaller than a checkpoint the log signed: restoring it would roll
    /// the log back.
    #[error(
        "rollback: the backup's log holds {backup_size} entries but checkpoint {source_name} covers {checkpoint_size}; restoring it would lose {lost} entries the log already signed. Restore a newer backup"
    )]
    Rollback {
        /// Entries in the backup.
        backup_size: u64,
        /// Entries in the checkpoint.
        checkpoint_size: u64,
        /// `checkpoint_size - backup_size`.
        lost: u64,
        /// Where the checkpoint came from.
        source_name: String,
    },
    /// The backup's log has another root at the checkpoint's size: another history.
    #[error(
        "fork: the backup's log at {size} entries has root {backup_root} but checkpoint {source_name} has root {checkpoint_root}; the backup holds another history"
    )]
    Fork {
        /// The checkpoint's size.
        size: u64,
        /// Root of the backup's log at that size.
        backup_root: String,
        /// Root in the checkpoint.
        checkpoint_root: String,
        /// Where the checkpoint came from.
        source_name: String,
    },
    /// An entry past every checkpoint compared (so covered by no signed root) whose own
    /// signatures do not verify, or a genesis the log's key did not sign: written into the
    /// backup, not received.
    #[error("entry {index}: {reason}; the backup was changed after it was taken")]
    Unsigned {
        /// The entry's index.
        index: u64,
        /// Entries the newest checkpoint compared covers.
        anchor: u64,
        /// What does not verify.
        reason: String,
    },
    /// Opening the restored store failed (a note or column does not check).
    #[error("the restored store does not open: {0}")]
    Store(#[from] StoreError),
}

impl BackupError {
    /// Whether the restore was refused because the backup does not check (tampered, a
    /// rollback, a fork, a missing quorum), as opposed to a usage or I/O error.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::Manifest { .. }
                | Self::Unfinished { .. }
                | Self::Inconsistent(_)
                | Self::Witnesses { .. }
                | Self::Rollback { .. }
                | Self::Fork { .. }
                | Self::Unsigned { .. }
                | Self::Store(_)
        )
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> BackupError + '_ {
    move |error| BackupError::Io {
        path: path.display().to_string(),
        error,
    }
}

fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> BackupError + '_ {
    move |e| BackupError::Sqlite {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// What [`backup`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// The description written as `backup.toml`.
    pub info: BackupInfo,
    /// Bytes of the database snapshot.
    pub db_bytes: u64,
}

/// Takes a backup of the data directory `data` into `out` (new or empty), consistently while
/// another process writes to it. Private keys are included only with `with_secrets`.
///
/// # Errors
/// [`BackupError::NotEmpty`] if `out` holds anything; [`BackupError::Invalid`] if `data` is
/// not a data directory; [`BackupError::Inconsistent`] if the snapshot does not match the
/// checkpoints the log signed; I/O and SQLite errors naming the file.
pub fn backup(
    data: &Path,
    out: &Path,
    with_secrets: bool,
    clock: &dyn Clock,
) -> Result<BackupSummary, BackupError> {
    let db_path = data.join(DB_FILE);
    if !db_path.is_file() {
        return Err(BackupError::Invalid {
            path: data.display().to_string(),
            reason: format!("not an urna data directory (no {DB_FILE})"),
        });
    }
    ensure_new_or_empty(out)?;
    let definition = data.join(DEFINITION_FILE);
    let election = Election::load(&definition).map_err(|e| BackupError::Invalid {
        path: definition.display().to_string(),
        reason: e.to_string(),
    })?;
    let log_key = read_log_key(&data.join(LOG_KEY_FILE))?;
    let verifier = log_key.verifier();
    let keys = LogKeys::read(&db_path, &verifier)?;
    // 1. The checkpoints, before the database: every entry they cover has committed by then.
    let latest_path = data.join(LATEST_CHECKPOINT_FILE);
    let latest = std::fs::read(&latest_path).map_err(io_err(&latest_path))?;
    let published_path = data.join(LOG_DIR).join("checkpoint");
    let published = read_optional(&published_path)?;
    let signed = open_checkpoint(&latest, log_key.name(), &keys, LATEST_CHECKPOINT_FILE)?;
    let published_cp = published
        .as_deref()
        .map(|p| open_checkpoint(p, log_key.name(), &keys, "log/checkpoint"))
        .transpose()?;

    // 2. The database, as one read transaction sees it.
    let out_data = out.join(DATA);
    std::fs::create_dir_all(&out_data).map_err(io_err(&out_data))?;
    let snapshot = out_data.join(DB_FILE);
    snapshot_db(&db_path, &snapshot)?;
    let (log_size, roots) = snapshot_roots(
        &snapshot,
        &[signed.size.0, published_cp.as_ref().map_or(0, |c| c.size.0)],
    )?;
    for (name, cp) in [
        (LATEST_CHECKPOINT_FILE, Some(&signed)),
        ("log/checkpoint", published_cp.as_ref()),
    ] {
        let Some(cp) = cp else { continue };
        match roots.get(&cp.size.0) {
            Some(root) if *root == cp.root => {}
            Some(_) => {
                return Err(BackupError::Inconsistent(format!(
                    "the database's entries do not hash to the root of {name} at {} entries: the database was changed behind the log",
                    cp.size.0
                )));
            }
            None => {
                return Err(BackupError::Inconsistent(format!(
                    "{name} covers {} entries but the database snapshot holds {log_size}",
                    cp.size.0
                )));
            }
        }
    }
    let root = roots.get(&log_size).copied().unwrap_or(Hash::EMPTY_ROOT);

    // 3. The other files, byte for byte.
    let mut files: Vec<(PathBuf, PathBuf)> = vec![
        (definition, out_data.join(DEFINITION_FILE)),
        (
            data.join(&election.stations_file),
            out_data.join(&election.stations_file),
        ),
    ];
    if let Some(shapes) = &election.shapes {
        files.push((data.join(&shapes.file), out_data.join(&shapes.file)));
    }
    for name in [WITNESSES_FILE, WITNESS_SIZES_FILE] {
        if data.join(name).is_file() {
            files.push((data.join(name), out_data.join(name)));
        }
    }
    if let Some(ca) = policy_ca_cert(&data.join(WITNESSES_FILE))? {
        files.push((data.join(&ca), out_data.join(&ca)));
    }
    for (from, to) in &files {
        copy_synced(from, to)?;
    }
    write_synced(&out_data.join(LATEST_CHECKPOINT_FILE), &latest)?;
    if let Some(p) = &published {
        std::fs::create_dir_all(out_data.join(LOG_DIR)).map_err(io_err(&out_data))?;
        write_synced(&out_data.join(LOG_DIR).join("checkpoint"), p)?;
    }
    write_synced(
        &out_data.join(LOG_VKEY_FILE),
        format!("{}\n", verifier.to_vkey()).as_bytes(),
    )?;
    copy_dir_files(&data.join(SCANS_DIR), &out_data.join(SCANS_DIR), false)?;
    if with_secrets {
        copy_dir_files(&data.join(SECRETS_DIR), &out_data.join(SECRETS_DIR), true)?;
    }

    // 4. The description and the manifest.
    let mut listed = list_files(out)?;
    listed.push(BACKUP_TOML.to_owned());
    listed.sort();
    let info = BackupInfo {
        format: FORMAT.to_owned(),
        election: election.id,
        log_origin: log_key.name().to_owned(),
        log_vkey: verifier.to_vkey(),
        log_size,
        root_hash: root.to_base64(),
        signed_size: signed.size.0,
        published_size: published_cp.as_ref().map_or(0, |c| c.size.0),
        created_ms: clock.now_ms(),
        with_secrets,
        files: listed.clone(),
    };
    let toml_text = toml::to_string(&info).map_err(|e| BackupError::Invalid {
        path: BACKUP_TOML.to_owned(),
        reason: e.to_string(),
    })?;
    write_synced(&out.join(BACKUP_TOML), toml_text.as_bytes())?;
    let mut manifest = String::new();
    for rel in &listed {
        let path = out.join(rel);
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        let _ = writeln!(
            manifest,
            "{}  {rel}",
            hex(&urna_model::intake::sha256(&bytes))
        );
    }
    write_synced(&out.join(MANIFEST), manifest.as_bytes())?;
    sync_dir(out)?;
    let db_bytes = std::fs::metadata(&snapshot)
        .map_err(io_err(&snapshot))?
        .len();
    Ok(BackupSummary { info, db_bytes })
}

/// The CA certificate file a witness policy names (`ca_cert`), when it is a plain file name
/// beside the policy, which is then part of the data directory; `None` without a policy, without
/// `ca_cert`, or with a path elsewhere (which is not the data directory's to copy).
fn policy_ca_cert(policy: &Path) -> Result<Option<String>, BackupError> {
    let Some(bytes) = read_optional(policy)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    let value: toml::Table = toml::from_str(&text).map_err(|e| BackupError::Invalid {
        path: policy.display().to_string(),
        reason: e.to_string(),
    })?;
    let Some(ca) = value.get("ca_cert").and_then(toml::Value::as_str) else {
        return Ok(None);
    };
    let beside = Path::new(ca).file_name() == Some(std::ffi::OsStr::new(ca));
    let file = policy.with_file_name(ca);
    Ok((beside && file.is_file()).then(|| ca.to_owned()))
}

/// Copies the database as one read transaction sees it, then syncs the copy.
fn snapshot_db(db: &Path, to: &Path) -> Result<(), BackupError> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql_err(db))?;
    // The server may hold the write lock for a commit; wait for it rather than fail.
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(sql_err(db))?;
    let target = to.to_str().ok_or_else(|| BackupError::Invalid {
        path: to.display().to_string(),
        reason: "the backup path must be valid UTF-8".into(),
    })?;
    conn.execute("VACUUM INTO ?1", [target])
        .map_err(sql_err(db))?;
    drop(conn);
    std::fs::File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(io_err(to))
}

/// Reads every entry of a database in index order and returns the number of entries and the
/// Merkle root at each size in `at` (sizes above the count are left out) and at the count.
fn snapshot_roots(db: &Path, at: &[u64]) -> Result<(u64, BTreeMap<u64, Hash>), BackupError> {
    let conn =
        Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sql_err(db))?;
    let mut stmt = conn
        .prepare("SELECT idx, note FROM entries ORDER BY idx")
        .map_err(sql_err(db))?;
    let mut rows = stmt.query([]).map_err(sql_err(db))?;
    let mut tree = Tree::new();
    let mut finished = Vec::new();
    let mut roots = BTreeMap::new();
    let wanted: BTreeSet<u64> = at.iter().copied().collect();
    if wanted.contains(&0) {
        roots.insert(0, tree.root());
    }
    while let Some(r) = rows.next().map_err(sql_err(db))? {
        let index: i64 = r.get(0).map_err(sql_err(db))?;
        let note: Vec<u8> = r.get(1).map_err(sql_err(db))?;
        if u64::try_from(index).ok() != Some(tree.size().0) {
            return Err(BackupError::Inconsistent(format!(
                "{}: entry {} is missing (the next row is {index})",
                db.display(),
                tree.size().0
            )));
        }
        finished.clear();
        tree.append(leaf_hash(&note), &mut finished)
            .map_err(|e| BackupError::Inconsistent(e.to_string()))?;
        if wanted.contains(&tree.size().0) {
            roots.insert(tree.size().0, tree.root());
        }
    }
    let size = tree.size().0;
    roots.insert(size, tree.root());
    Ok((size, roots))
}

/// A checkpoint to compare a restored log with, and where it came from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenCheckpoint {
    /// A file name or URL.
    pub source: String,
    /// The signed checkpoint note.
    pub note: Vec<u8>,
}

/// The witnesses whose cosignatures a checkpoint must carry, and how many.
#[derive(Debug, Clone)]
pub struct WitnessQuorum {
    /// Each witness's name (for messages) and cosignature key.
    pub witnesses: Vec<(String, CosignatureVerifier)>,
    /// Cosignatures required.
    pub quorum: usize,
}

/// A backup directory whose manifest checked.
#[derive(Debug)]
pub struct Backup {
    dir: PathBuf,
    info: BackupInfo,
}

/// What a restore checked and wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// Entries in the restored log.
    pub log_size: u64,
    /// The restored log's root hash, base64.
    pub root_hash: String,
    /// The newest checkpoint compared with (its source and size), if any was given.
    pub checked_against: Option<(String, u64)>,
    /// Size of the checkpoint published in the restored directory (`log/checkpoint`).
    pub published_size: Option<u64>,
}

impl Backup {
    /// Opens a backup: parses `backup.toml` and checks every file against the manifest.
    ///
    /// # Errors
    /// [`BackupError::Manifest`] naming a file that changed, is missing or is not listed;
    /// [`BackupError::Invalid`] for a bad `backup.toml` or manifest line.
    pub fn open(dir: &Path) -> Result<Self, BackupError> {
        // Every file is a regular one (no link, no FIFO) before any is read.
        let present = list_files(dir)?;
        let manifest_path = dir.join(MANIFEST);
        let manifest = match std::fs::read_to_string(&manifest_path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Written last: a backup whose taking was stopped (killed, out of space) has
                // none, whatever else it holds.
                return Err(BackupError::Unfinished {
                    file: MANIFEST.to_owned(),
                });
            }
            Err(e) => return Err(io_err(&manifest_path)(e)),
        };
        let listed =
            manifest::parse_manifest(&manifest).map_err(|reason| BackupError::Invalid {
                path: manifest_path.display().to_string(),
                reason,
            })?;
        for rel in &present {
            if rel != MANIFEST && !listed.contains_key(rel) {
                return Err(BackupError::Manifest {
                    file: rel.clone(),
                    reason: format!("not listed in {MANIFEST}"),
                });
            }
        }
        for (rel, digest) in &listed {
            let path = dir.join(rel);
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(BackupError::Manifest {
                        file: rel.clone(),
                        reason: format!("listed in {MANIFEST} but missing"),
                    });
                }
                Err(e) => return Err(io_err(&path)(e)),
            };
            let got = hex(&urna_model::intake::sha256(&bytes));
            if got != *digest {
                return Err(BackupError::Manifest {
                    file: rel.clone(),
                    reason: format!("sha256 is {got}, the manifest says {digest}"),
                });
            }
        }
        let info_path = dir.join(BACKUP_TOML);
        let text = std::fs::read_to_string(&info_path).map_err(io_err(&info_path))?;
        let info = manifest::parse_info(&text, &listed).map_err(|reason| BackupError::Invalid {
            path: info_path.display().to_string(),
            reason,
        })?;
        Ok(Self {
            dir: dir.to_owned(),
            info,
        })
    }

    /// `backup.toml`.
    pub fn info(&self) -> &BackupInfo {
        &self.info
    }

    /// The backup's copy of the data directory (`BACKUP/data`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join(DATA)
    }

    /// Restores into `target` (new or empty): copies the files, takes the private keys from
    /// `secrets` (a directory holding `log.key`) or else from the backup, opens the store
    /// (every note replayed and checked, the log and its tiles rebuilt), and compares the log
    /// with the backup's checkpoints and the newest of `checkpoints`, whose cosignatures must
    /// meet `witnesses` when given.
    ///
    /// # Errors
    /// [`BackupError::Rollback`], [`BackupError::Fork`], [`BackupError::Witnesses`],
    /// [`BackupError::Checkpoint`], [`BackupError::LogKey`], [`BackupError::NotEmpty`],
    /// [`BackupError::Store`]; nothing is left in `target` when refused.
    pub fn restore(
        &self,
        target: &Path,
        secrets: Option<&Path>,
        checkpoints: &[GivenCheckpoint],
        witnesses: Option<&WitnessQuorum>,
    ) -> Result<Restored, BackupError> {
        ensure_new_or_empty(target)?;
        let verifier =
            NoteVerifier::from_vkey(&self.info.log_vkey).map_err(|e| BackupError::Invalid {
                path: self.dir.join(BACKUP_TOML).display().to_string(),
                reason: format!("log_vkey: {e}"),
            })?;
        let origin = self.info.log_origin.as_str();
        let snapshot = self.dir.join(DATA).join(DB_FILE);
        // The manifest matched, so a snapshot SQLite cannot read was written that way: refused
        // as a damaged backup (exit 1), not reported as an I/O error of this machine.
        let verifier = LogKeys::read(&snapshot, &verifier).map_err(|e| match e {
            BackupError::Sqlite { path, reason } => BackupError::Inconsistent(format!(
                "{path}: the database snapshot does not read ({reason}): the backup is damaged or was changed after it was taken"
            )),
            other => other,
        })?;
        // Every given checkpoint is this log's and signed by its key, before anything is written.
        let mut given = Vec::new();
        for g in checkpoints {
            let cp = open_checkpoint(&g.note, origin, &verifier, &g.source)?;
            if let Some(q) = witnesses {
                check_quorum(&g.note, q, &g.source)?;
            }
            given.push((cp, g));
        }
        let newest = given.iter().max_by_key(|(cp, _)| cp.size.0);
        // Refuse a rollback before copying a byte: the backup says its size.
        if let Some((cp, g)) = newest
            && cp.size.0 > self.info.log_size
        {
            return Err(BackupError::Rollback {
                backup_size: self.info.log_size,
                checkpoint_size: cp.size.0,
                lost: cp.size.0 - self.info.log_size,
                source_name: g.source.clone(),
            });
        }

        let staging = staging_dir(target)?;
        let result =
            self.restore_into(&staging, secrets, newest.map(|(cp, g)| (cp, *g)), &verifier);
        match result {
            Ok(restored) => {
                if target.exists() {
                    // Empty (checked above): rename(2) replaces an empty directory.
                    std::fs::remove_dir(target).map_err(io_err(target))?;
                }
                std::fs::rename(&staging, target).map_err(io_err(target))?;
                sync_dir(&parent_dir(target))?;
                Ok(restored)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                Err(e)
            }
        }
    }

    fn restore_into(
        &self,
        staging: &Path,
        secrets: Option<&Path>,
        newest: Option<(&Checkpoint, &GivenCheckpoint)>,
        verifier: &LogKeys,
    ) -> Result<Restored, BackupError> {
        let src = self.data_dir();
        let origin = self.info.log_origin.as_str();
        // The private keys: given, else from the backup.
        let key_dir = match secrets {
            Some(s) => s.to_owned(),
            None if self.info.with_secrets => src.join(SECRETS_DIR),
            None => {
                return Err(BackupError::LogKey(format!(
                    "the backup holds no private keys (taken without --with-secrets): give the directory holding the log's key, {}, with --secrets",
                    Path::new(LOG_KEY_FILE)
                        .file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                )));
            }
        };
        let key_file = key_dir.join("log.key");
        let key = read_log_key(&key_file)?;
        if key.verifier().to_vkey() != self.info.log_vkey {
            return Err(BackupError::LogKey(format!(
                "{}: this is the key {}, but the backup's log is signed by {}",
                key_file.display(),
                key.verifier().to_vkey(),
                self.info.log_vkey
            )));
        }
        copy_dir_files(&key_dir, &staging.join(SECRETS_DIR), true)?;
        // The data files; not the checkpoints: the store is opened without them so that it
        // checks every note in full and writes every tile again, then compared below.
        for rel in &self.info.files {
            let Some(inner) = rel.strip_prefix("data/") else {
                continue;
            };
            let skip = inner == LATEST_CHECKPOINT_FILE
                || inner == "log/checkpoint"
                || inner == LOG_VKEY_FILE
                || inner.starts_with("secrets/");
            if skip {
                continue;
            }
            let to = staging.join(inner);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            copy_synced(&self.dir.join(rel), &to)?;
        }
        let store = Store::open(staging)?;
        let (log_size, _) = store.log_sizes();
        if log_size != self.info.log_size {
            return Err(BackupError::Inconsistent(format!(
                "the restored log holds {log_size} entries but backup.toml says {}",
                self.info.log_size
            )));
        }
        let root = store.log_root(log_size)?;
        if root.to_base64() != self.info.root_hash {
            return Err(BackupError::Inconsistent(format!(
                "the restored log's root is {} but backup.toml says {}",
                root.to_base64(),
                self.info.root_hash
            )));
        }
        // The backup's own checkpoints, and the newest given one.
        let mut to_publish: Option<(u64, Vec<u8>)> = None;
        // Entries covered by a checkpoint compared: their signatures were checked at intake
        // and the log's signed root covers their bytes.
        let mut anchor = 0;
        let own = [(LATEST_CHECKPOINT_FILE, false), ("log/checkpoint", true)];
        for (rel, publishable) in own {
            let path = src.join(rel);
            let name = format!("{DATA}/{rel}");
            let Some(note) = read_optional(&path)? else {
                if publishable {
                    continue;
                }
                // Every backup holds it: without it nothing the log signed anchors the
                // snapshot, and a shortened or edited database would restore unnoticed.
                return Err(BackupError::Manifest {
                    file: name,
                    reason: "missing: every backup holds the last checkpoint the log signed before the snapshot".into(),
                });
            };
            let cp = open_checkpoint(&note, origin, verifier, &name)?;
            compare(&store, &cp, &name)?;
            anchor = anchor.max(cp.size.0);
            if publishable {
                to_publish = Some((cp.size.0, note));
            }
        }
        let mut checked_against = None;
        if let Some((cp, g)) = newest {
            compare(&store, cp, &g.source)?;
            anchor = anchor.max(cp.size.0);
            checked_against = Some((g.source.clone(), cp.size.0));
            if to_publish.as_ref().is_none_or(|(s, _)| *s < cp.size.0) {
                to_publish = Some((cp.size.0, g.note.clone()));
            }
        }
        check_unanchored(staging, anchor, verifier)?;
        // With a witness policy the publisher waits for cosignatures, so the newest cosigned
        // checkpoint known is published; without one, the store published its own at open.
        if staging.join(WITNESSES_FILE).exists()
            && let Some((_, note)) = &to_publish
        {
            store.publish_checkpoint(note)?;
        }
        let published_size = crate::log::read_published(staging)?
            .as_deref()
            .and_then(crate::log::checkpoint_size);
        drop(store);
        sync_dir(staging)?;
        Ok(Restored {
            log_size,
            root_hash: root.to_base64(),
            checked_against,
            published_size,
        })
    }
}

/// Verifies the signatures of every entry of the restored database from `anchor` on, as
/// intake verified them when they came. The store's open checks each row against its note but
/// not the note's signatures (the log's signed root covers the bytes); the entries past every
/// checkpoint compared (committed after the last one the log signed, or written into the
/// backup) are covered by no signed root, and the restored log would sign them. Key rotations
/// and audit notes are verified by the open itself. The genesis is verified whatever the
/// checkpoints: they are signed with the key `backup.toml` names, and the genesis, signed by
/// the log's first key, is what ties that key to the log (a backup whose key was swapped and
/// whose checkpoints were signed again with it is refused here).
fn check_unanchored(dir: &Path, anchor: u64, log_keys: &LogKeys) -> Result<(), BackupError> {
    let db = dir.join(DB_FILE);
    let conn =
        Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sql_err(&db))?;
    let definition = dir.join(DEFINITION_FILE);
    let election = Election::load(&definition).map_err(|e| BackupError::Invalid {
        path: definition.display().to_string(),
        reason: e.to_string(),
    })?;
    let keys = crate::stored_keys(&conn, &election)?;
    let mut stmt = conn
        .prepare("SELECT idx, note FROM entries WHERE idx = 0 OR idx >= ?1 ORDER BY idx")
        .map_err(sql_err(&db))?;
    let mut rows = stmt.query([crate::to_sql(anchor)]).map_err(sql_err(&db))?;
    while let Some(r) = rows.next().map_err(sql_err(&db))? {
        let index = crate::sql_u64(r.get(0).map_err(sql_err(&db))?);
        let note: Vec<u8> = r.get(1).map_err(sql_err(&db))?;
        let checked: Result<(), String> = if index == 0 {
            let key = log_keys.for_size(1);
            Note::parse(&note)
                .map_err(|e| e.to_string())
                .and_then(|n| key.verify(&n).map_err(|e| e.to_string()))
                .map_err(|e| {
                    format!(
                        "the genesis is not signed by {}, the log key backup.toml names and the backup's checkpoints are signed with ({e})",
                        key.to_vkey()
                    )
                })
        } else if urna_model::rotation::is_rotation(&note) {
            Ok(())
        } else if urna_model::audit::is_audit(&note) {
            urna_model::audit::check(&election, &note)
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else if crate::is_revocation(&note) {
            urna_model::intake::check_revocation(&election, &note)
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else {
            urna_model::intake::check_keyed(&election, &crate::keys_before(&keys, index), &note)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        checked.map_err(|e| BackupError::Unsigned {
            index,
            anchor,
            reason: if index == 0 {
                e
            } else {
                format!(
                    "{e}: past the newest checkpoint compared ({anchor} entries), no signed root covers it, so its own signatures must verify"
                )
            },
        })?;
    }
    Ok(())
}

/// Refuses a rollback (the log smaller than the checkpoint) and a fork (another root at the
/// checkpoint's size).
fn compare(store: &Store, cp: &Checkpoint, source: &str) -> Result<(), BackupError> {
    let (size, _) = store.log_sizes();
    if cp.size.0 > size {
        return Err(BackupError::Rollback {
            backup_size: size,
            checkpoint_size: cp.size.0,
            lost: cp.size.0 - size,
            source_name: source.to_owned(),
        });
    }
    let root = store.log_root(cp.size.0)?;
    if root != cp.root {
        return Err(BackupError::Fork {
            size: cp.size.0,
            backup_root: root.to_base64(),
            checkpoint_root: cp.root.to_base64(),
            source_name: source.to_owned(),
        });
    }
    Ok(())
}

/// Counts the listed witnesses whose cosignature on `note` verifies; refuses below the quorum
/// or when a listed witness's cosignature is present but does not verify.
fn check_quorum(note: &[u8], q: &WitnessQuorum, source: &str) -> Result<(), BackupError> {
    let parsed = Note::parse(note).map_err(|e| BackupError::Checkpoint {
        source_name: source.to_owned(),
        reason: e.to_string(),
    })?;
    let mut cosigned = 0;
    let mut bad = Vec::new();
    for (name, v) in &q.witnesses {
        match v.verify(&parsed) {
            Ok(_) => cosigned += 1,
            Err(urna_tlog::cosignature::CosignatureError::Missing { .. }) => {}
            Err(e) => bad.push(format!("{name}: {e}")),
        }
    }
    if cosigned < q.quorum || !bad.is_empty() {
        return Err(BackupError::Witnesses {
            source_name: source.to_owned(),
            cosigned,
            quorum: q.quorum,
            bad: if bad.is_empty() {
                String::new()
            } else {
                format!("; bad cosignatures: {}", bad.join(", "))
            },
        });
    }
    Ok(())
}

/// The log's keys over time: the current key, and the key rotations a database holds (index,
/// key before, key after), so that a checkpoint is checked against the key of its size.
struct LogKeys {
    current: NoteVerifier,
    rotations: Vec<(u64, NoteVerifier, NoteVerifier)>,
}

impl LogKeys {
    /// The rotations stored in `db` (read only), with `current` the key after the last.
    fn read(db: &Path, current: &NoteVerifier) -> Result<Self, BackupError> {
        let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(sql_err(db))?;
        let mut stmt = conn
            .prepare(
                "SELECT idx, note FROM entries WHERE idx > 0 AND contest = '' AND station = '' ORDER BY idx",
            )
            .map_err(sql_err(db))?;
        let mut rows = stmt.query([]).map_err(sql_err(db))?;
        let mut rotations = Vec::new();
        while let Some(r) = rows.next().map_err(sql_err(db))? {
            let note: Vec<u8> = r.get(1).map_err(sql_err(db))?;
            if !urna_model::rotation::is_rotation(&note) {
                continue;
            }
            let index: i64 = r.get(0).map_err(sql_err(db))?;
            let invalid = |reason: String| BackupError::Invalid {
                path: db.display().to_string(),
                reason: format!("entry {index}: {reason}"),
            };
            let body = urna_model::rotation::RotationBody::check(&note)
                .map_err(|e| invalid(e.to_string()))?;
            let key = |k: &urna_model::rotation::LogKey| {
                k.verifier(&body.origin).map_err(|e| invalid(e.to_string()))
            };
            rotations.push((crate::sql_u64(index), key(&body.old)?, key(&body.new)?));
        }
        Ok(Self {
            current: current.clone(),
            rotations,
        })
    }

    /// The key that signs a checkpoint of `size` entries (as `log::Sequencer` signs them).
    fn for_size(&self, size: u64) -> &NoteVerifier {
        match self.rotations.iter().rev().find(|(i, _, _)| *i < size) {
            Some((_, _, new)) => new,
            None => self
                .rotations
                .first()
                .map_or(&self.current, |(_, old, _)| old),
        }
    }
}

fn open_checkpoint(
    note: &[u8],
    origin: &str,
    keys: &LogKeys,
    source: &str,
) -> Result<Checkpoint, BackupError> {
    let size = crate::log::checkpoint_size(note).unwrap_or(0);
    urna_tlog::checkpoint::open(note, origin, keys.for_size(size))
        .map(|(cp, _)| cp)
        .map_err(|e| BackupError::Checkpoint {
            source_name: source.to_owned(),
            reason: format!("{e} (it must be a checkpoint of log {origin}, signed by its key)"),
        })
}

fn read_log_key(path: &Path) -> Result<NoteSigner, BackupError> {
    let skey = std::fs::read_to_string(path).map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            BackupError::LogKey(format!(
                "{}: no log key there; the log's private key is needed to sign its checkpoints",
                path.display()
            ))
        } else {
            io_err(path)(error)
        }
    })?;
    NoteSigner::from_skey(skey.trim())
        .map_err(|e| BackupError::LogKey(format!("{}: {e}", path.display())))
}

fn ensure_new_or_empty(dir: &Path) -> Result<(), BackupError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BackupError::NotEmpty {
                    path: dir.display().to_string(),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(dir)(e)),
    }
}

/// A new directory beside `target` to assemble a restore in.
fn staging_dir(target: &Path) -> Result<PathBuf, BackupError> {
    let name = target
        .file_name()
        .ok_or_else(|| BackupError::Invalid {
            path: target.display().to_string(),
            reason: "the data directory must have a name".into(),
        })?
        .to_string_lossy()
        .into_owned();
    let parent = parent_dir(target);
    std::fs::create_dir_all(&parent).map_err(io_err(&parent))?;
    let staging = parent.join(format!(".{name}.restoring-{}", std::process::id()));
    std::fs::create_dir(&staging).map_err(io_err(&staging))?;
    Ok(staging)
}

/// The directory holding `path` (`.` for a bare name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, BackupError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Every regular file under `dir`, relative, with `/` separators, sorted.
fn list_files(dir: &Path) -> Result<Vec<String>, BackupError> {
    fn walk(root: &Path, rel: &str, out: &mut Vec<String>) -> Result<(), BackupError> {
        let here = if rel.is_empty() {
            root.to_owned()
        } else {
            root.join(rel)
        };
        for entry in std::fs::read_dir(&here).map_err(io_err(&here))? {
            let entry = entry.map_err(io_err(&here))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let kind = entry.file_type().map_err(io_err(&entry.path()))?;
            if kind.is_dir() {
                walk(root, &child, out)?;
            } else if kind.is_symlink() {
                return Err(BackupError::Manifest {
                    file: child,
                    reason: "a symbolic link; a backup holds regular files only".into(),
                });
            } else if kind.is_file() {
                out.push(child);
            } else {
                // A FIFO would hold the restore forever on its first read.
                return Err(BackupError::Manifest {
                    file: child,
                    reason: "not a regular file (a FIFO, socket or device); a backup holds regular files only".into(),
                });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out)?;
    out.sort();
    Ok(out)
}

/// Copies the regular files directly in `from` (if it exists) into `to`; `secret` files get
/// mode 0600 and `to` mode 0700.
fn copy_dir_files(from: &Path, to: &Path, secret: bool) -> Result<(), BackupError> {
    use std::os::unix::fs::PermissionsExt as _;
    let entries = match std::fs::read_dir(from) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(from)(e)),
    };
    std::fs::create_dir_all(to).map_err(io_err(to))?;
    if secret {
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).map_err(io_err(to))?;
    }
    for entry in entries {
        let entry = entry.map_err(io_err(from))?;
        if !entry.file_type().map_err(io_err(&entry.path()))?.is_file() {
            continue;
        }
        // A dot-file is a write in flight (a scan's temporary file): not part of the copy.
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let dest = to.join(entry.file_name());
        copy_synced(&entry.path(), &dest)?;
        if secret {
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600))
                .map_err(io_err(&dest))?;
        }
    }
    sync_dir(to)
}

fn copy_synced(from: &Path, to: &Path) -> Result<(), BackupError> {
    std::fs::copy(from, to).map_err(io_err(from))?;
    std::fs::File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(io_err(to))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    write_file_atomic(path, bytes).map_err(io_err(path))
}

fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_err(dir))
}

pub mod manifest;
#[cfg(test)]
mod tests;
