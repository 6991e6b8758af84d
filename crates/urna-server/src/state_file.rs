//! The witness's durable state: one JSON file holding [`WitnessState`] (origin → the size and
//! root of the latest checkpoint cosigned), replaced atomically.
//!
//! A write goes to `<file>.tmp` in the same directory, is fsynced, renamed over the file, and
//! the directory is fsynced, so after a crash (even `kill -9` or power loss) the file holds
//! either the old state or the new one, never a mix. The server writes the new state *before*
//! it answers with a cosignature, so a witness never hands out a cosignature it could forget.
//!
//! Out of scope: locking against two witness processes sharing one file (run one process per
//! state file); keeping a history of cosigned checkpoints (the spec asks only for the latest).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use urna_tlog::WitnessState;

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    /// The file is missing and creating it was not asked for.
    #[error(
        "witness state file {0} does not exist; create it only for a new witness \
         (a witness that lost its state could be tricked into cosigning a fork)"
    )]
    Missing(PathBuf),
    /// Reading or writing failed.
    #[error("witness state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file is not a witness state.
    #[error("witness state file {path} is not valid: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
}

/// The path of a witness state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state file at `path` (nothing is read yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the state. If the file does not exist and `create` is set, writes an empty
    /// state durably first.
    ///
    /// # Errors
    /// [`StateFileError::Missing`] (file absent, `create` unset), [`StateFileError::Io`], or
    /// [`StateFileError::Invalid`].
    pub fn load(&self, create: bool) -> Result<WitnessState, StateFileError> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| StateFileError::Invalid {
                path: self.path.clone(),
                source,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !create {
                    return Err(StateFileError::Missing(self.path.clone()));
                }
                let empty = WitnessState::default();
                self.store(&empty)?;
                Ok(empty)
            }
            Err(source) => Err(StateFileError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Replaces the file with `state` atomically and durably (temp file, fsync, rename,
    /// directory fsync). Blocking: call it from `spawn_blocking` in async code.
    ///
    /// # Errors
    /// [`StateFileError::Io`]; the old file is then left as it was.
    pub fn store(&self, state: &WitnessState) -> Result<(), StateFileError> {
        let io_err = |source| StateFileError::Io {
            path: self.path.clone(),
            source,
        };
        let mut bytes =
            serde_json::to_vec_pretty(state).map_err(|source| StateFileError::Invalid {
                path: self.path.clone(),
                source,
            })?;
        bytes.push(b'\n');
        let tmp = self.tmp_path();
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io_err)?;
        f.write_all(&bytes).map_err(io_err)?;
        f.sync_all().map_err(io_err)?;
        drop(f);
        fs::rename(&tmp, &self.path).map_err(io_err)?;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir).and_then(|d| d.sync_all()).map_err(io_err)?;
        Ok(())
    }

    fn tmp_path(&self) -> PathBuf {
        let mut name = self
            .path
            .file_name()
            .map(std::ffi::OsStr::to_os_string)
            .unwrap_or_default();
        name.push(".tmp");
        self.path.with_file_name(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use urna_tlog::Hash;
    use urna_tlog::witness::LogState;

    #[test]
    fn missing_file_is_an_error_unless_created() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::new(dir.path().join("state.json"));
        assert!(matches!(f.load(false), Err(StateFileError::Missing(_))));
        assert_eq!(f.load(true).unwrap(), WitnessState::default());
        // Now it exists.
        assert_eq!(f.load(false).unwrap(), WitnessState::default());
    }

    #[test]
    fn store_then_load_round_trips_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::new(dir.path().join("state.json"));
        let mut s = WitnessState::default();
        s.logs.insert(
            "log.example".into(),
            LogState {
                size: 5,
                root: Hash([9; 32]),
            },
        );
        f.store(&s).unwrap();
        assert_eq!(f.load(false).unwrap(), s);
        assert!(!f.tmp_path().exists());
    }

    #[test]
    fn invalid_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        fs::write(&path, b"{\"logs\":{},\"extra\":1}").unwrap();
        assert!(matches!(
            StateFile::new(&path).load(true),
            Err(StateFileError::Invalid { .. })
        ));
    }
}
