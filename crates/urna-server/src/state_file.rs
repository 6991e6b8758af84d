//! The witness's durable state: one JSON file holding [`WitnessState`] (origin → the size and
//! root of the latest checkpoint cosigned), replaced atomically.
//!
//! A write goes through [`urna_tlog::tiledir::write_file_atomic`] (a temporary file in the same
//! directory, fsynced, renamed over the file, then the directory fsynced), so after a crash (even `kill -9` or power loss) the file holds
//! either the old state or the new one, never a mix. The server writes the new state *before*
//! it answers with a cosignature, so a witness never hands out a cosignature it could forget.
//!
//! One process per state file: a witness holds an exclusive lock ([`StateFile::lock`], on
//! `<state>.lock` beside it) for as long as it serves, so a second witness started on the
//! same file by mistake is refused at start. Two would each keep the state in memory and
//! could each cosign a different fork of the same size.
//!
//! Out of scope: keeping a history of cosigned checkpoints (the spec asks only for the latest).

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
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
    /// Reading or writing failed. The message holds the cause; it is not also a `source`,
    /// so an error chain prints it once.
    #[error("witness state file {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: io::Error,
    },
    /// Another process (or another witness in this one) holds the state file's lock.
    #[error(
        "witness state file {path} is in use by another witness process (it holds {lock}); \
         run one witness per state file: two could each cosign a different fork"
    )]
    InUse {
        /// The state file.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The file is not a witness state. The message holds the cause, printed once.
    #[error("witness state file {path} is not a valid witness state: {error}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The JSON error (line and column).
        error: serde_json::Error,
    },
}

/// The path of a witness state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateFile {
    path: PathBuf,
}

/// The exclusive lock on a state file ([`StateFile::lock`]); released when dropped, or when
/// the process ends however it ends.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
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

    /// The lock file beside the state file: `<state>.lock`.
    pub fn lock_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        self.path.with_file_name(name)
    }

    /// Takes the exclusive lock on the state file, without waiting. Take it before
    /// [`StateFile::load`] and hold it while serving: a process that wrote the file before
    /// the lock was taken has ended.
    ///
    /// # Errors
    /// [`StateFileError::InUse`] if another holder has it, [`StateFileError::Io`] if the lock
    /// file cannot be opened or locked.
    pub fn lock(&self) -> Result<StateLock, StateFileError> {
        let lock = self.lock_path();
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .map_err(|error| StateFileError::Io {
                path: lock.clone(),
                error,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(StateLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(StateFileError::InUse {
                path: self.path.clone(),
                lock,
            }),
            Err(TryLockError::Error(error)) => Err(StateFileError::Io { path: lock, error }),
        }
    }

    /// Reads the state. If the file does not exist and `create` is set, writes an empty
    /// state durably first.
    ///
    /// # Errors
    /// [`StateFileError::Missing`] (file absent, `create` unset), [`StateFileError::Io`], or
    /// [`StateFileError::Invalid`].
    pub fn load(&self, create: bool) -> Result<WitnessState, StateFileError> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice::<OneEntryPerLog>(&bytes)
                .and_then(|_| serde_json::from_slice(&bytes))
                .map_err(|error| StateFileError::Invalid {
                    path: self.path.clone(),
                    error,
                }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !create {
                    return Err(StateFileError::Missing(self.path.clone()));
                }
                let empty = WitnessState::default();
                self.store(&empty)?;
                Ok(empty)
            }
            Err(error) => Err(StateFileError::Io {
                path: self.path.clone(),
                error,
            }),
        }
    }

    /// Replaces the file with `state` atomically and durably (temp file, fsync, rename,
    /// directory fsync). Blocking: call it from `spawn_blocking` in async code.
    ///
    /// # Errors
    /// [`StateFileError::Io`]; the old file is then left as it was.
    pub fn store(&self, state: &WitnessState) -> Result<(), StateFileError> {
        let io_err = |error| StateFileError::Io {
            path: self.path.clone(),
            error,
        };
        let mut bytes =
            serde_json::to_vec_pretty(state).map_err(|error| StateFileError::Invalid {
                path: self.path.clone(),
                error,
            })?;
        bytes.push(b'\n');
        urna_tlog::tiledir::write_file_atomic(&self.path, &bytes).map_err(io_err)?;
        Ok(())
    }
}

/// The shape of a state file checked before it is read as a [`WitnessState`]: each log named
/// once. JSON readers disagree on a name given twice (`serde_json` keeps the last), so a file
/// edited to hold two entries for one log, the smaller last, would be read as a rollback.
struct OneEntryPerLog;

impl<'de> serde::Deserialize<'de> for OneEntryPerLog {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct File {
            logs: Logs,
        }
        struct Logs;
        impl<'de> serde::Deserialize<'de> for Logs {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_map(Self)
            }
        }
        impl<'de> serde::de::Visitor<'de> for Logs {
            type Value = Self;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of log origins to states")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
                let mut seen = std::collections::BTreeSet::new();
                while let Some(origin) = map.next_key::<String>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    if !seen.insert(origin.clone()) {
                        return Err(serde::de::Error::custom(format!(
                            "logs: {origin:?} is listed twice (one entry per log)"
                        )));
                    }
                }
                Ok(Self)
            }
        }
        File::deserialize(d).map(|File { logs: Logs }| Self)
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
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
    }

    #[test]
    fn a_log_named_twice_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let root = Hash([9; 32]).to_base64();
        fs::write(
            &path,
            format!(
                "{{\"logs\":{{\"a\":{{\"size\":5,\"root\":\"{root}\"}},\
                 \"a\":{{\"size\":1,\"root\":\"{root}\"}}}}}}"
            ),
        )
        .unwrap();
        let err = StateFile::new(&path).load(false).unwrap_err();
        assert!(err.to_string().contains("\"a\" is listed twice"), "{err}");
        // Two different logs are one state.
        fs::write(
            &path,
            format!(
                "{{\"logs\":{{\"a\":{{\"size\":5,\"root\":\"{root}\"}},\
                 \"b\":{{\"size\":1,\"root\":\"{root}\"}}}}}}"
            ),
        )
        .unwrap();
        assert_eq!(StateFile::new(&path).load(false).unwrap().logs.len(), 2);
    }

    #[test]
    fn the_lock_is_held_once_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::new(dir.path().join("state.json"));
        assert_eq!(f.lock_path(), dir.path().join("state.json.lock"));
        let held = f.lock().unwrap();
        let err = f.lock().unwrap_err();
        assert!(matches!(err, StateFileError::InUse { .. }), "{err:?}");
        assert!(err.to_string().contains("state.json.lock"), "{err}");
        drop(held);
        f.lock().unwrap();
    }

    #[test]
    fn invalid_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        fs::write(&path, b"{\"logs\":{},\"extra\":1}").unwrap();
        let err = StateFile::new(&path).load(true).unwrap_err();
        assert!(matches!(err, StateFileError::Invalid { .. }), "{err:?}");
        // The cause is in the message, not also a source: a printed chain names it once.
        assert!(err.to_string().contains("unknown field `extra`"), "{err}");
        assert!(std::error::Error::source(&err).is_none());
    }
}
