//! A tile directory on disk, laid out exactly as the tlog-tiles URLs so that any static web
//! server can serve it as-is: `<root>/checkpoint`, `<root>/tile/<L>/<N>[.p/<W>]`,
//! `<root>/tile/entries/<N>[.p/<W>]`.
//!
//! Every file is written atomically: a temporary file in the same directory, `fsync`, rename
//! over the final name, then `fsync` of each directory touched. A reader therefore sees either
//! no file or the whole file. Tiles are immutable: rewriting one with different bytes is
//! refused ([`TileDirError::Conflict`]), because for a given path the bytes are fixed by the
//! log's history, and different bytes mean a forked history.

use std::fs::{self, File};
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::storage::ReadError;
use crate::tile::{Tile, TileSource};

/// Name of the checkpoint file under the root.
pub const CHECKPOINT_FILE: &str = "checkpoint";

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Why the tile directory could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum TileDirError {
    /// An I/O operation on a path failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A tile already exists with different bytes.
    #[error("tile {tile} already exists with different content (a forked history?)")]
    Conflict {
        /// The tile path.
        tile: String,
    },
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> TileDirError {
    move |source| TileDirError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// A tile directory rooted at a path.
#[derive(Debug, Clone)]
pub struct TileDir {
    root: PathBuf,
}

impl TileDir {
    /// Opens (creating if needed) the directory at `root`.
    ///
    /// # Errors
    /// [`TileDirError::Io`] if it cannot be created.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, TileDirError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(io("create directory", &root))?;
        Ok(Self { root })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds `tile`.
    pub fn tile_path(&self, tile: &Tile) -> PathBuf {
        // Tile paths are built from integers only: no `..`, no absolute components.
        let mut p = self.root.clone();
        p.extend(tile.path().split('/'));
        p
    }

    /// Writes tiles atomically, then syncs each directory touched once.
    ///
    /// A tile that already exists with the same bytes is left alone (so a sequencer can
    /// safely redo a batch after a crash).
    ///
    /// # Errors
    /// [`TileDirError::Conflict`] if a tile exists with other bytes; [`TileDirError::Io`].
    pub fn write_tiles(&self, tiles: &[(Tile, Vec<u8>)]) -> Result<(), TileDirError> {
        // Each tile costs an fsync, which waits on the disk rather than the CPU; writing them
        // from several threads lets the file system commit them together.
        let per = tiles.len().div_ceil(WRITE_THREADS).max(1);
        let parts: Vec<Result<Vec<PathBuf>, TileDirError>> = std::thread::scope(|s| {
            let handles: Vec<_> = tiles
                .chunks(per)
                .map(|part| s.spawn(move || self.write_some(part)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(TileDirError::Io {
                            op: "write tiles",
                            path: self.root.clone(),
                            source: std::io::Error::other("tile writer thread panicked"),
                        })
                    })
                })
                .collect()
        });
        let mut dirs: Vec<PathBuf> = Vec::new();
        for part in parts {
            for d in part? {
                if !dirs.contains(&d) {
                    dirs.push(d);
                }
            }
        }
        for d in &dirs {
            sync_dir(d)?;
        }
        Ok(())
    }

    /// Writes some tiles; returns the directories to sync.
    fn write_some(&self, tiles: &[(Tile, Vec<u8>)]) -> Result<Vec<PathBuf>, TileDirError> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for (tile, bytes) in tiles {
            let path = self.tile_path(tile);
            match fs::read(&path) {
                Ok(existing) if existing == *bytes => continue,
                Ok(_) => return Err(TileDirError::Conflict { tile: tile.path() }),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io("read", &path)(e)),
            }
            let dir = write_atomic(&path, bytes, false)?;
            // Sync the parent too: the directory itself may have just been created.
            let parent = dir.parent().map(Path::to_path_buf);
            for d in std::iter::once(dir).chain(parent) {
                if !dirs.contains(&d) {
                    dirs.push(d);
                }
            }
        }
        Ok(dirs)
    }

    /// Reads a tile; `None` if it does not exist.
    ///
    /// # Errors
    /// [`TileDirError::Io`] for errors other than "not found".
    pub fn read(&self, tile: &Tile) -> Result<Option<Vec<u8>>, TileDirError> {
        read_optional(&self.tile_path(tile))
    }

    /// Replaces the checkpoint file atomically (and syncs the root directory).
    ///
    /// # Errors
    /// [`TileDirError::Io`].
    pub fn write_checkpoint(&self, note: &[u8]) -> Result<(), TileDirError> {
        let path = self.root.join(CHECKPOINT_FILE);
        write_atomic(&path, note, true)?;
        Ok(())
    }

    /// Reads the checkpoint file; `None` if there is none yet.
    ///
    /// # Errors
    /// [`TileDirError::Io`].
    pub fn read_checkpoint(&self) -> Result<Option<Vec<u8>>, TileDirError> {
        read_optional(&self.root.join(CHECKPOINT_FILE))
    }
}

impl TileSource for TileDir {
    fn read_tile(&self, tile: &Tile) -> Result<Option<Vec<u8>>, ReadError> {
        self.read(tile).map_err(|e| match e {
            TileDirError::Io { source, .. } => ReadError::Io {
                path: tile.path(),
                source,
            },
            TileDirError::Conflict { tile } => ReadError::Io {
                path: tile,
                source: std::io::Error::other("conflict"),
            },
        })
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, TileDirError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read", path)(e)),
    }
}

/// Writes `bytes` to `path` via a synced temporary file and a rename. Returns the parent
/// directory, synced already if `sync_parent`.
/// Writes a file atomically and durably: a temporary file in the same directory (which must
/// exist), fsync, rename over `path`, fsync of the directory. A reader sees the old contents or the new, never
/// a mix; once this returns, the new contents survive a crash. Used for tiles, checkpoints and
/// any small state that must not be half-written.
///
/// # Errors
/// The I/O error of the step that failed; the temporary file is removed on failure.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = replace_file(path, bytes)?;
    File::open(&dir)?.sync_all()
}

/// The atomic write without the directory sync (the caller syncs directories once per batch).
fn write_atomic(path: &Path, bytes: &[u8], sync_parent: bool) -> Result<PathBuf, TileDirError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io("create directory", dir))?;
    }
    let dir = replace_file(path, bytes).map_err(io("write atomically", path))?;
    if sync_parent {
        sync_dir(&dir)?;
    }
    Ok(dir)
}

/// Temporary file, write, fsync, rename over `path`; returns the directory.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        // Best effort: a leftover temporary file is harmless but untidy.
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| dir)
}

/// Threads that write tiles at once (bounded by the disk, not the CPU).
const WRITE_THREADS: usize = 8;

fn sync_dir(dir: &Path) -> Result<(), TileDirError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync directory", dir))
}
