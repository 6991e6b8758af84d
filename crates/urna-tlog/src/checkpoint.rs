//! C2SP tlog-checkpoint (<https://c2sp.org/tlog-checkpoint>, §"Note text", §"Signatures"):
//! the origin line, the decimal tree size and the base64 root hash, as the text of a signed
//! note carrying the log's Ed25519 signature.
//!
//! urna writes no extension lines, but reads them as the spec allows (non-empty, opaque) so a
//! witness can cosign other logs' checkpoints.

use urna_model::note::{Note, NoteError, NoteSigner, NoteVerifier, SignatureError};

use crate::hash::{Hash, HashError, TreeSize};

/// Why a checkpoint was rejected. Lines are numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The text does not end in a newline.
    #[error("checkpoint text must end with a newline")]
    MissingFinalNewline,
    /// Fewer than three lines.
    #[error("checkpoint has {lines} lines; origin, size and root hash are required")]
    TooFewLines {
        /// Lines found.
        lines: usize,
    },
    /// The origin line is empty.
    #[error("line 1: origin is empty")]
    EmptyOrigin,
    /// The size is not a decimal without leading zeros that fits 64 bits.
    #[error("line 2: tree size {0:?} is not a decimal without leading zeros")]
    BadSize(String),
    /// The root hash is not base64 of 32 bytes.
    #[error("line 3: root hash: {0}")]
    BadRoot(HashError),
    /// An extension line is empty.
    #[error("line {line}: extension lines must not be empty")]
    EmptyExtension {
        /// The line.
        line: usize,
    },
    /// The signed-note envelope is malformed.
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    /// The log's signature is missing or wrong.
    #[error("checkpoint signature: {0}")]
    Signature(#[from] SignatureError),
    /// The origin is not the one expected.
    #[error("checkpoint origin {got:?}, expected {expected:?}")]
    WrongOrigin {
        /// Origin found.
        got: String,
        /// Origin expected.
        expected: String,
    },
}

/// A checkpoint: a log's tree head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity (e.g. `urna.example/al-2025`).
    pub origin: String,
    /// Number of leaves.
    pub size: TreeSize,
    /// Root hash at that size.
    pub root: Hash,
    /// Opaque extension lines (urna writes none).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: impl Into<String>, size: TreeSize, root: Hash) -> Self {
        Self {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text: `origin\nsize\nbase64(root)\n` then any extension lines.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size.0,
            self.root.to_base64()
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses note text (the part above the blank line).
    ///
    /// # Errors
    /// [`CheckpointError`] naming the line and rule broken.
    pub fn parse_text(text: &str) -> Result<Self, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingFinalNewline)?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(CheckpointError::TooFewLines { lines: lines.len() });
        };
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        let size = parse_size(size).ok_or_else(|| CheckpointError::BadSize((*size).to_owned()))?;
        let root = Hash::from_base64(root).map_err(CheckpointError::BadRoot)?;
        if let Some(i) = extensions.iter().position(|e| e.is_empty()) {
            return Err(CheckpointError::EmptyExtension { line: i + 4 });
        }
        Ok(Self {
            origin: (*origin).to_owned(),
            size: TreeSize(size),
            root,
            extensions: extensions.iter().map(|e| (*e).to_owned()).collect(),
        })
    }

    /// Signs the checkpoint with the log key, as a note.
    ///
    /// # Errors
    /// [`CheckpointError::Note`] if the origin or an extension makes invalid note text
    /// (a control character, for instance).
    pub fn sign(&self, log_key: &NoteSigner) -> Result<Note, CheckpointError> {
        let mut note = Note::unsigned(&self.to_text())?;
        note.sign(log_key);
        Ok(note)
    }
}

/// A tree size: ASCII decimal, no leading zeros unless it is `0`.
pub(crate) fn parse_size(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Parses a signed checkpoint note, checks the log's signature and the origin, and returns
/// the checkpoint with the parsed note (for cosignatures to be added to).
///
/// The origin must equal `origin`; signatures by other keys are ignored, as the spec requires.
///
/// # Errors
/// [`CheckpointError`]: envelope, text, origin or signature.
pub fn open(
    bytes: &[u8],
    origin: &str,
    log_key: &NoteVerifier,
) -> Result<(Checkpoint, Note), CheckpointError> {
    let note = Note::parse(bytes)?;
    let checkpoint = Checkpoint::parse_text(note.text())?;
    if checkpoint.origin != origin {
        return Err(CheckpointError::WrongOrigin {
            got: checkpoint.origin,
            expected: origin.to_owned(),
        });
    }
    log_key.verify(&note)?;
    Ok((checkpoint, note))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";

    #[test]
    fn spec_example_text_round_trips() {
        let text = format!("example.com/behind-the-sofa\n20852163\n{ROOT}\n");
        let c = Checkpoint::parse_text(&text).unwrap();
        assert_eq!(c.origin, "example.com/behind-the-sofa");
        assert_eq!(c.size, TreeSize(20_852_163));
        assert_eq!(c.to_text(), text);
    }

    #[test]
    fn malformed_text_is_rejected() {
        let cases: Vec<(String, CheckpointError)> = vec![
            (
                format!("o\n1\n{ROOT}"),
                CheckpointError::MissingFinalNewline,
            ),
            ("o\n1\n".into(), CheckpointError::TooFewLines { lines: 2 }),
            (format!("\n1\n{ROOT}\n"), CheckpointError::EmptyOrigin),
            (
                format!("o\n01\n{ROOT}\n"),
                CheckpointError::BadSize("01".into()),
            ),
            (
                format!("o\n+1\n{ROOT}\n"),
                CheckpointError::BadSize("+1".into()),
            ),
            (
                format!("o\n-0\n{ROOT}\n"),
                CheckpointError::BadSize("-0".into()),
            ),
            (
                format!("o\n \n{ROOT}\n"),
                CheckpointError::BadSize(" ".into()),
            ),
            (
                format!("o\n18446744073709551616\n{ROOT}\n"),
                CheckpointError::BadSize("18446744073709551616".into()),
            ),
            (
                "o\n1\nZG9uJ3QgY2FyZSAy\n".into(),
                CheckpointError::BadRoot(HashError::Length { len: 12 }),
            ),
            (
                format!("o\n1\n{ROOT}\n\nx\n"),
                CheckpointError::EmptyExtension { line: 4 },
            ),
        ];
        for (text, err) in cases {
            assert_eq!(Checkpoint::parse_text(&text), Err(err), "{text:?}");
        }
        let ok = Checkpoint::parse_text(&format!("o\n0\n{ROOT}\next 1\n")).unwrap();
        assert_eq!(ok.extensions, vec!["ext 1".to_owned()]);
    }
}
