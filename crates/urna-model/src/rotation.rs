//! The body of an `urna/key-rotation/v1` note: the log handing its signing key over to a new
//! one, under the same origin.
//!
//! ```text
//! urna/key-rotation/v1
//! origin: urna/al-2021
//! size: 1204
//! root: sha256:<hex of the RFC 6962 root of the log's first `size` entries>
//! old: urna/al-2021+<key id>+<base64 of 0x01 ‖ Ed25519 public key>
//! new: urna/al-2021+<key id>+<base64 of 0x01 ‖ Ed25519 public key>
//! reason: Scheduled rotation before the count.
//! ```
//!
//! The note is signed by **both** keys: the old one says "my successor is this key", the new
//! one says "I hold it". `size` and `root` name the tree the rotation follows: `size` is the
//! rotation entry's own index (the log's size just before it) and `root` the RFC 6962 root of
//! the entries before it, so the old key's signature fixes the past too: a holder of the new
//! key alone cannot rewrite the history before the rotation and log the same note again. It is an entry of the log: a checkpoint whose size does not reach its
//! index (`size <= index`) is signed by the old key; every checkpoint that includes it
//! (`size > index`) is signed by the new key. A verifier who trusts the old key follows the
//! chain by finding the rotation in the log; one who trusts only the new key can check the
//! checkpoints after the rotation, not those before it.
//!
//! Both keys are named after the origin (a checkpoint's key name is its origin line). The
//! parser is strict like the revocation's: fixed key order, every key once, keys in canonical
//! form, nothing after `reason:`, so each rotation has exactly one text.

use crate::note::{
    KeyId, Note, NoteSigner, NoteVerifier, check_key_name, format_vkey, parse_vkey_parts,
};
use crate::protocol::{MAX_REASON_LEN, hex, parse_sha256};

/// First line of a rotation body.
pub const KEY_ROTATION_V1: &str = "urna/key-rotation/v1";

/// One of the log's Ed25519 keys, as its verifier key names it (the name is the origin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogKey {
    /// The signed-note key ID (of the origin and the public key).
    pub key_id: KeyId,
    /// The raw Ed25519 public key.
    pub public_key: [u8; 32],
}

impl LogKey {
    /// The verifier key string `origin+keyid+base64`.
    pub fn to_vkey(&self, origin: &str) -> String {
        format_vkey(origin, self.key_id, &self.public_key)
    }

    /// The verifier of this key under `origin`.
    ///
    /// # Errors
    /// The key's refusal if the point is not a usable Ed25519 key (the parser checked it).
    pub fn verifier(&self, origin: &str) -> Result<NoteVerifier, crate::note::KeyError> {
        NoteVerifier::from_public_key(origin, &self.public_key)
    }
}

/// A parsed rotation body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationBody {
    /// `origin:` the log's origin line, the name of both keys.
    pub origin: String,
    /// `size:` the log's size before this entry, which is the entry's own index.
    pub size: u64,
    /// `root:` the RFC 6962 root of the log's first `size` entries.
    pub root: [u8; 32],
    /// `old:` the key that signed the log until this entry.
    pub old: LogKey,
    /// `new:` the key that signs every checkpoint that includes this entry.
    pub new: LogKey,
    /// `reason:` why, in words (1 to [`MAX_REASON_LEN`] bytes).
    pub reason: String,
}

/// Why a rotation body, or a rotation note, was refused. `line` counts from 1, the type line
/// being line 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RotationError {
    /// The first line is not `urna/key-rotation/v1`.
    #[error("line 1: unknown note type {0:?}; expected {KEY_ROTATION_V1}")]
    UnknownType(String),
    /// A field is missing where the format requires it.
    #[error("line {line}: expected field `{expected}`")]
    Missing {
        /// Line where it was expected.
        line: usize,
        /// The field.
        expected: &'static str,
    },
    /// A field's value breaks its rule.
    #[error("line {line}: field `{field}`: {rule}")]
    Field {
        /// The line.
        line: usize,
        /// The field.
        field: &'static str,
        /// The rule.
        rule: String,
    },
    /// A line after `reason:`.
    #[error("line {line}: unexpected line {text:?}; a key rotation ends with its `reason:` line")]
    Unexpected {
        /// The line.
        line: usize,
        /// Its text (cut to 80 characters).
        text: String,
    },
    /// The signed-note envelope is malformed.
    #[error("key rotation note: {0}")]
    Envelope(String),
    /// The note lacks a valid signature by one of the two keys it names.
    #[error("key rotation note: must be signed by its {which} key {vkey}: {problem}")]
    Signature {
        /// `old` or `new`.
        which: &'static str,
        /// The key.
        vkey: String,
        /// What is wrong (missing, invalid).
        problem: String,
    },
}

/// The fields of a rotation, in the only order they may come.
const FIELDS: [&str; 6] = ["origin", "size", "root", "old", "new", "reason"];

impl From<crate::fields::FieldsError> for RotationError {
    fn from(e: crate::fields::FieldsError) -> Self {
        use crate::fields::FieldsError as F;
        match e {
            F::UnknownType(t) => Self::UnknownType(t),
            F::Missing { line, expected } => Self::Missing { line, expected },
            F::Blank { line, field } => Self::Field {
                line,
                field,
                rule: crate::fields::BLANK.to_owned(),
            },
            F::Unexpected { line, text } => Self::Unexpected { line, text },
        }
    }
}

impl RotationBody {
    /// Whether a note text is a key rotation (its first line is [`KEY_ROTATION_V1`]).
    pub fn is_rotation(text: &str) -> bool {
        text.split('\n').next() == Some(KEY_ROTATION_V1)
    }

    /// Parses a rotation body (a note's text).
    ///
    /// # Errors
    /// [`RotationError`] naming the line and the field.
    ///
    /// ```
    /// use urna_model::note::NoteSigner;
    /// use urna_model::rotation::RotationBody;
    /// let old = NoteSigner::from_seed("urna/e", &[1; 32]).unwrap().verifier().to_vkey();
    /// let new = NoteSigner::from_seed("urna/e", &[2; 32]).unwrap().verifier().to_vkey();
    /// let root = format!("sha256:{}", "ab".repeat(32));
    /// let text = format!(
    ///     "urna/key-rotation/v1\norigin: urna/e\nsize: 12\nroot: {root}\nold: {old}\nnew: {new}\nreason: scheduled\n"
    /// );
    /// let r = RotationBody::parse(&text).unwrap();
    /// assert_eq!(r.new.to_vkey("urna/e"), new);
    /// assert_eq!(r.to_text(), text);
    /// ```
    pub fn parse(text: &str) -> Result<Self, RotationError> {
        let values = crate::fields::read(text, KEY_ROTATION_V1, &FIELDS)?;
        let [origin, size, root, old, new, reason] = values;
        let field = |line, field, rule: &str| RotationError::Field {
            line,
            field,
            rule: rule.to_owned(),
        };
        check_key_name(origin).map_err(|e| field(2, "origin", &e.to_string()))?;
        let size = parse_size(size).map_err(|rule| field(3, "size", rule))?;
        let root = parse_sha256(root).map_err(|rule| field(4, "root", rule))?;
        let old = parse_log_key(origin, old).map_err(|rule| field(5, "old", &rule))?;
        let new = parse_log_key(origin, new).map_err(|rule| field(6, "new", &rule))?;
        if new == old {
            return Err(field(6, "new", "must not be the key it replaces"));
        }
        if reason.len() > MAX_REASON_LEN {
            return Err(field(7, "reason", "longer than 1000 bytes"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            old,
            new,
            reason: reason.to_owned(),
        })
    }

    /// The canonical text, ending in a newline; [`RotationBody::parse`] of it gives back an
    /// equal body.
    pub fn to_text(&self) -> String {
        format!(
            "{KEY_ROTATION_V1}\norigin: {}\nsize: {}\nroot: sha256:{}\nold: {}\nnew: {}\nreason: {}\n",
            self.origin,
            self.size,
            hex(&self.root),
            self.old.to_vkey(&self.origin),
            self.new.to_vkey(&self.origin),
            self.reason
        )
    }

    /// The rotation from `old` to `new` (both named after the log's origin), following the
    /// log's first `size` entries whose RFC 6962 root is `root`, signed by both: the note bytes
    /// to log (at index `size`).
    ///
    /// # Errors
    /// [`RotationError::Field`] if the keys have different names, are the same key, or the
    /// reason breaks its rule.
    pub fn sign(
        old: &NoteSigner,
        new: &NoteSigner,
        size: u64,
        root: &[u8; 32],
        reason: &str,
    ) -> Result<Vec<u8>, RotationError> {
        if old.name() != new.name() {
            return Err(RotationError::Field {
                line: 6,
                field: "new",
                rule: format!(
                    "the new key is named {:?}; both keys are named after the log's origin {:?}",
                    new.name(),
                    old.name()
                ),
            });
        }
        let text = format!(
            "{KEY_ROTATION_V1}\norigin: {}\nsize: {size}\nroot: sha256:{}\nold: {}\nnew: {}\nreason: {reason}\n",
            old.name(),
            hex(root),
            old.verifier().to_vkey(),
            new.verifier().to_vkey()
        );
        // Parsed back, so that what is signed follows every rule of the format.
        Self::parse(&text)?;
        let mut note = Note::unsigned(&text).map_err(|e| RotationError::Envelope(e.to_string()))?;
        note.sign(old);
        note.sign(new);
        Ok(note.to_bytes())
    }

    /// Checks that this rotation, logged at `index`, names the tree before it: `size` is
    /// `index` and `root` is `tree_root`, the RFC 6962 root of the log's first `index` entries.
    ///
    /// # Errors
    /// The broken rule, naming the field (`size` or `root`).
    pub fn check_follows(&self, index: u64, tree_root: &[u8; 32]) -> Result<(), String> {
        if self.size != index {
            return Err(format!(
                "key rotation at index {index}: field `size` is {}; it must be the rotation \
                 entry's own index ({index}), the size of the tree it follows",
                self.size
            ));
        }
        if &self.root != tree_root {
            return Err(format!(
                "key rotation at index {index}: field `root` is sha256:{}; it must be the root of \
                 the log's first {index} entries (sha256:{}): the history before the rotation is \
                 not the one its keys signed",
                hex(&self.root),
                hex(tree_root)
            ));
        }
        Ok(())
    }

    /// Parses a rotation note and checks that both keys it names signed it.
    ///
    /// # Errors
    /// [`RotationError`]: the envelope, the body, or a missing or invalid signature.
    pub fn check(bytes: &[u8]) -> Result<Self, RotationError> {
        let note = Note::parse(bytes).map_err(|e| RotationError::Envelope(e.to_string()))?;
        let body = Self::parse(note.text())?;
        for (which, key) in [("old", body.old), ("new", body.new)] {
            let vkey = key.to_vkey(&body.origin);
            let bad = |problem: String| RotationError::Signature {
                which,
                vkey: vkey.clone(),
                problem,
            };
            key.verifier(&body.origin)
                .map_err(|e| bad(e.to_string()))?
                .verify(&note)
                .map_err(|e| bad(e.to_string()))?;
        }
        Ok(body)
    }

    /// Parses a rotation note's body without checking signatures (for entries whose bytes
    /// the log's root already covers).
    ///
    /// # Errors
    /// [`RotationError`]: the envelope or the body.
    pub fn parse_note(bytes: &[u8]) -> Result<Self, RotationError> {
        let note = Note::parse(bytes).map_err(|e| RotationError::Envelope(e.to_string()))?;
        Self::parse(note.text())
    }
}

/// Whether a stored note is an `urna/key-rotation/v1` (its text's first line).
pub fn is_rotation(note: &[u8]) -> bool {
    note.strip_prefix(KEY_ROTATION_V1.as_bytes())
        .is_some_and(|rest| rest.first() == Some(&b'\n'))
}

/// Reads a size: canonical decimal (no sign, no leading zero), at most `u64::MAX`.
fn parse_size(s: &str) -> Result<u64, &'static str> {
    let rule = "must be a decimal number without leading zeros (the rotation entry's index)";
    if !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return Err(rule);
    }
    s.parse().map_err(|_| rule)
}

/// Reads a log verifier key: well formed, named after the origin, canonical, a usable point.
fn parse_log_key(origin: &str, vkey: &str) -> Result<LogKey, String> {
    let (name, key_id, public_key) = parse_vkey_parts(vkey).map_err(|e| e.to_string())?;
    if name != origin {
        return Err(format!(
            "the key is named {name:?}; a log key is named after the log's origin ({origin:?})"
        ));
    }
    if format_vkey(name, key_id, &public_key) != vkey {
        return Err(
            "must be in canonical form (lower-case key ID, canonical base64 with padding)"
                .to_owned(),
        );
    }
    NoteVerifier::from_public_key(name, &public_key).map_err(|e| e.to_string())?;
    Ok(LogKey { key_id, public_key })
}

#[cfg(test)]
mod tests;
