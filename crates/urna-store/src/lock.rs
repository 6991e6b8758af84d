//! The writer's lock on a data directory: `DATA/urna.lock`, held with an exclusive advisory
//! lock (`flock(2)`) for as long as a [`crate::Store`] is open.
//!
//! Two writers on one data directory would each sequence entries, write tiles and sign
//! checkpoints of their own: the second one's open already rebuilds and flushes the log, and
//! the first one then finds the log moved under it and stops taking protocols. So a second
//! writer is refused at once, naming the directory and the process that holds it, instead of
//! waiting or breaking the first.
//!
//! The kernel releases an advisory lock when its file description is closed, so the lock goes
//! with the process however it ends (exit, panic, `kill -9`): there is never a stale lock to
//! clear by hand. The file's content (the holder's pid and command) is only for the message;
//! the lock is what counts, and the file is never deleted (deleting it would let a second
//! writer lock a new file while the first still holds the old one).
//!
//! Readers ([`crate::reader::EntryReader`], the bundle writer of `urna publish`) take no lock:
//! SQLite's WAL lets them read while the writer writes, and they change nothing.
//!
//! Out of scope: locks over NFS and other network file systems, where `flock` may be local to
//! one machine; keep a data directory on a local disk.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::Path;

use rustix::fs::{FlockOperation, flock};

use crate::StoreError;

/// Name of the lock file in a data directory.
pub const LOCK_FILE: &str = "urna.lock";

/// An exclusive lock on a data directory, released when dropped (or when the process ends).
#[derive(Debug)]
pub(crate) struct DirLock {
    /// Holds the lock: it is released when this file description is closed.
    _file: File,
}

impl DirLock {
    /// Locks `dir` for writing, or fails at once if another open store holds it.
    ///
    /// # Errors
    /// [`StoreError::InUse`] if another process (or another open store in this one) holds the
    /// lock; [`StoreError::Io`] if the lock file cannot be opened, locked or written.
    pub(crate) fn acquire(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(LOCK_FILE);
        let io = |error: std::io::Error| StoreError::Io {
            path: path.display().to_string(),
            error,
        };
        // Not truncated on open: the holder's pid stays readable for the refusal message.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                let mut holder = String::new();
                // Best effort: the holder may not have written its line yet.
                let _ = file.read_to_string(&mut holder);
                return Err(StoreError::InUse {
                    dir: dir.display().to_string(),
                    holder: describe_holder(&holder),
                });
            }
            Err(e) => return Err(io(std::io::Error::from(e))),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "pid {}\ncommand {}", std::process::id(), command()).map_err(io)?;
        Ok(Self { _file: file })
    }
}

/// "pid N, `urna serve`" from the lock file's content, or a plain phrase if it holds none.
fn describe_holder(content: &str) -> String {
    let field = |key: &str| {
        content
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    match (field("pid "), field("command ")) {
        (Some(pid), Some(cmd)) => format!("pid {pid}, `{cmd}`"),
        (Some(pid), None) => format!("pid {pid}"),
        _ => "pid unknown".to_owned(),
    }
}

/// This process's program name and subcommand words (`urna audit start`): what kind of
/// process holds the lock, without paths or flag values.
fn command() -> String {
    let mut args = std::env::args();
    let program = args
        .next()
        .and_then(|p| {
            Path::new(&p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "urna".to_owned());
    let words: Vec<String> = args
        .take_while(|a| !a.starts_with('-'))
        .take(3)
        .filter(|a| a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .collect();
    std::iter::once(program)
        .chain(words)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        // Another open file description, as another process would have.
        let err = DirLock::acquire(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::InUse { .. }), "{text}");
        assert!(
            text.contains(&format!(
                "data directory {} is in use by another urna process (pid {}, `",
                dir.path().display(),
                std::process::id()
            )),
            "{text}"
        );
        drop(first);
        let again = DirLock::acquire(dir.path()).unwrap();
        drop(again);
    }

    #[test]
    fn the_holder_is_described_from_the_lock_file() {
        let cases = [
            ("pid 42\ncommand urna serve\n", "pid 42, `urna serve`"),
            ("pid 42\n", "pid 42"),
            ("", "pid unknown"),
            ("garbage", "pid unknown"),
        ];
        for (content, want) in cases {
            assert_eq!(describe_holder(content), want, "{content:?}");
        }
    }
}
