//! The last verified checkpoint (`urna verify --since STATE`), so that the next run can tell
//! a log that grew from one that was rolled back or forked.
//!
//! ```json
//! {
//!   "format": "urna/verify-state/v1",
//!   "origin": "urna/al-2025-assembly",
//!   "size": 5201,
//!   "root_hash": "2yEWslkTQjheBJz2mIl9AO/3VJysnO88/o5Dkl7TRyM=",
//!   "checkpoint": "urna/al-2025-assembly\n5201\n2yEW…=\n\n— urna/al-2025-assembly …\n"
//! }
//! ```
//! Written atomically (temporary file, fsync, rename) and only after a verification found no
//! discrepancy.

use std::io::ErrorKind;
use std::path::Path;

use serde::{Deserialize, Serialize};
use urna_tlog::Hash;

/// The `format` of a state file.
pub const STATE_FORMAT: &str = "urna/verify-state/v1";

/// A verified checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Always [`STATE_FORMAT`].
    pub format: String,
    /// The log's origin.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The root hash, base64 as in the checkpoint.
    pub root_hash: String,
    /// The whole checkpoint note (with its cosignatures), for the record.
    pub checkpoint: String,
}

/// Why a state file cannot be used (a usage or I/O error: exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// It could not be read or written.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// It is not a state file.
    #[error("state file {path}: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl State {
    /// A state for a checkpoint.
    pub fn new(origin: &str, size: u64, root: &Hash, checkpoint: &str) -> Self {
        Self {
            format: STATE_FORMAT.to_owned(),
            origin: origin.to_owned(),
            size,
            root_hash: root.to_base64(),
            checkpoint: checkpoint.to_owned(),
        }
    }

    /// The root hash.
    ///
    /// # Errors
    /// The reason, if `root_hash` is not base64 of 32 bytes (checked by [`State::load`]).
    pub fn root(&self) -> Result<Hash, String> {
        Hash::from_base64(&self.root_hash).map_err(|e| format!("root_hash: {e}"))
    }

    /// Reads a state file; `Ok(None)` if it does not exist (the first run).
    ///
    /// # Errors
    /// [`StateError`] if it cannot be read or is not a state file.
    pub fn load(path: &Path) -> Result<Option<Self>, StateError> {
        let name = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Io { path: name, source }),
        };
        let malformed = |reason: String| StateError::Malformed {
            path: name.clone(),
            reason,
        };
        let state: Self = serde_json::from_slice(&bytes).map_err(|e| malformed(e.to_string()))?;
        if state.format != STATE_FORMAT {
            return Err(malformed(format!(
                "format {:?}, expected {STATE_FORMAT:?}",
                state.format
            )));
        }
        state.root().map_err(malformed)?;
        Ok(Some(state))
    }

    /// Writes the state file atomically and durably.
    ///
    /// # Errors
    /// [`StateError::Io`].
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let io = |source| StateError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| io(e.into()))?;
        bytes.push(b'\n');
        urna_tlog::tiledir::write_file_atomic(path, &bytes).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_a_missing_file_is_the_first_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert_eq!(State::load(&path).unwrap(), None);
        let s = State::new("urna/x", 7, &Hash([3; 32]), "urna/x\n7\n…\n");
        s.save(&path).unwrap();
        assert_eq!(State::load(&path).unwrap(), Some(s.clone()));
        assert_eq!(s.root().unwrap(), Hash([3; 32]));
    }

    #[test]
    fn malformed_state_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let good = State::new("urna/x", 7, &Hash([3; 32]), "cp");
        let cases = [
            ("not json".to_owned(), "expected"),
            (
                serde_json::to_string(&State {
                    format: "other".into(),
                    ..good.clone()
                })
                .unwrap(),
                "format",
            ),
            (
                serde_json::to_string(&State {
                    root_hash: "AAAA".into(),
                    ..good.clone()
                })
                .unwrap(),
                "root_hash",
            ),
            (
                serde_json::to_string(&good)
                    .unwrap()
                    .replace("\"size\"", "\"extra\":1,\"size\""),
                "unknown field",
            ),
        ];
        for (text, want) in cases {
            std::fs::write(&path, &text).unwrap();
            let err = State::load(&path).err().unwrap().to_string();
            assert!(err.contains(want), "{err:?} should say {want:?}");
        }
    }
}
