//! C2SP signed notes with Ed25519 signatures: <https://c2sp.org/signed-note>.
//!
//! A note is UTF-8 text ending in a newline, a blank line, then one or more signature lines
//! `— <key name> <base64(key id ‖ signature)>`. The key ID of an Ed25519 key is the first four
//! bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key) (signed-note §Signatures). Every signed
//! artifact in urna is one of these, so existing transparency-log tools can read them.
//!
//! This codec is written here rather than taken from the `signed_note` crate (Cloudflare's port of
//! Go's `note` package): that crate reports every malformation as one opaque `MalformedNote`, and
//! verifies one signature at a time. urna must tell a clerk which line is wrong, and must verify a
//! million station signatures in batches. `signed_note` is kept as a dev-dependency and the tests
//! check that both codecs agree byte for byte on keys, key IDs, signatures and whole notes.
//!
//! Stricter than the spec, on purpose: a note is at most [`MAX_NOTE_BYTES`] long (every log entry
//! must fit a 2-byte length prefix in a C2SP data tile), carries at most [`MAX_SIGNATURES`]
//! signatures, and may not carry two signatures from the same key (name and key ID), so one
//! note has exactly one byte encoding per set of signatures.
//!
//! Out of scope: deciding which keys a note needs (that is [`crate::intake`]), cosignature
//! algorithms other than Ed25519 (the transparency-log crate handles `cosignature/v1`).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, SigningKey};
use sha2::{Digest, Sha256};

/// The Ed25519 public key [`verify_batch`] takes, decompressed ([`NoteVerifier::verifying_key`]).
pub use ed25519_dalek::VerifyingKey;

/// Signature type byte for Ed25519 in signed-note keys and key IDs (signed-note §Signatures).
pub const ALG_ED25519: u8 = 0x01;

/// The largest note urna accepts, in bytes: C2SP tlog-tiles data tiles prefix each entry with a
/// 2-byte big-endian length, so an entry can be at most 2¹⁶ − 1 bytes.
pub const MAX_NOTE_BYTES: usize = 65_535;

/// The most signature lines one note may carry: a protocol has one, an amendment two or three,
/// a checkpoint one plus a cosignature per witness. 64 leaves room for large witness sets.
pub const MAX_SIGNATURES: usize = 64;

/// The em dash and space that open every signature line (signed-note §Format).
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a note could not be read. Lines are numbered from 1 over the whole note.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note is longer than [`MAX_NOTE_BYTES`].
    #[error("note is {len} bytes; the limit is {max} bytes")]
    TooLong {
        /// Length of the input.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not UTF-8.
    #[error("line {line}: not valid UTF-8")]
    NotUtf8 {
        /// Line of the first invalid byte.
        line: usize,
    },
    /// A control character other than newline (e.g. a carriage return or a tab).
    #[error("line {line}: control character U+{code:04X} is not allowed in a note")]
    ControlCharacter {
        /// Line where it occurs.
        line: usize,
        /// Its code point.
        code: u32,
    },
    /// No blank line separates text from signatures, or nothing follows it.
    #[error("no signature block: a note is text, a blank line, then signature lines")]
    NoSignatures,
    /// The text before the blank line is empty.
    #[error("note text is empty")]
    EmptyText,
    /// The last line does not end with a newline.
    #[error("line {line}: the last line must end with a newline")]
    MissingFinalNewline {
        /// The last line.
        line: usize,
    },
    /// A line in the signature block is not `— name base64`.
    #[error("line {line}: signature line: {reason}")]
    BadSignatureLine {
        /// The line.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two signatures from the same key.
    #[error("line {line}: second signature by key {name}+{key_id}")]
    DuplicateSignature {
        /// The line of the second one.
        line: usize,
        /// Key name.
        name: String,
        /// Key ID.
        key_id: KeyId,
    },
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("more than {max} signature lines")]
    TooManySignatures {
        /// The limit.
        max: usize,
    },
}

/// Why a key string could not be read or a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not of the form `name+hex8+base64` (verifier) or `PRIVATE+KEY+name+hex8+base64` (signer).
    #[error("malformed key: {0}")]
    Malformed(&'static str),
    /// The key name is empty, or contains whitespace or `+`.
    #[error("invalid key name {0:?}: must be non-empty, without spaces or '+'")]
    BadName(String),
    /// The algorithm byte is not Ed25519.
    #[error("unsupported key algorithm 0x{0:02x}; only Ed25519 (0x01) is supported")]
    Algorithm(u8),
    /// The key ID in the string does not match the name and key.
    #[error("key ID {got} does not match the key (expected {expected})")]
    KeyIdMismatch {
        /// The ID written in the key string.
        got: KeyId,
        /// The ID computed from name and key.
        expected: KeyId,
    },
    /// The public key is not a valid Ed25519 point, or is of small order.
    #[error("public key is not a usable Ed25519 key")]
    BadPoint,
}

/// The 4-byte key ID that opens every signature (signed-note §Signatures).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub [u8; 4]);

impl KeyId {
    /// Key ID of an Ed25519 key: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[..4].
    pub fn ed25519(name: &str, public_key: &[u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update([b'\n', ALG_ED25519]);
        h.update(public_key);
        let digest = h.finalize();
        Self([digest[0], digest[1], digest[2], digest[3]])
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name on the line.
    pub name: String,
    /// The key ID (first 4 decoded bytes).
    pub key_id: KeyId,
    /// The signature proper (the decoded bytes after the key ID).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    fn write_line(&self, out: &mut Vec<u8>) {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.0);
        raw.extend_from_slice(&self.signature);
        out.extend_from_slice(SIGNATURE_PREFIX.as_bytes());
        out.extend_from_slice(self.name.as_bytes());
        out.push(b' ');
        out.extend_from_slice(BASE64.encode(raw).as_bytes());
        out.push(b'\n');
    }
}

/// A parsed signed note: its text (ending in a newline) and its signature lines, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note, checking its envelope only (not who signed it).
    ///
    /// # Errors
    /// [`NoteError`] naming the line and the rule broken.
    ///
    /// ```
    /// use urna_model::note::{Note, NoteSigner};
    /// let signer = NoteSigner::from_seed("example.org", &[7; 32]).unwrap();
    /// let bytes = signer.sign_text("hello\n").to_bytes();
    /// let note = Note::parse(&bytes).unwrap();
    /// assert_eq!(note.text(), "hello\n");
    /// signer.verifier().verify(&note).unwrap();
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<Self, NoteError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLong {
                len: bytes.len(),
                max: MAX_NOTE_BYTES,
            });
        }
        let s = std::str::from_utf8(bytes).map_err(|e| NoteError::NotUtf8 {
            line: line_of(bytes, e.valid_up_to()),
        })?;
        // Control characters are ASCII, and UTF-8 never uses ASCII bytes inside a multi-byte
        // character, so a byte scan finds them; lines are counted only to report one. The scan
        // counts without stopping early so that it runs on whole vectors of bytes; only a note
        // that has one looks for where.
        let control = |b: &u8| (*b < b' ' && *b != b'\n') || *b == 0x7f;
        if bytes.iter().filter(|b| control(b)).count() > 0
            && let Some(at) = bytes.iter().position(control)
        {
            return Err(NoteError::ControlCharacter {
                line: line_of(bytes, at),
                code: u32::from(bytes[at]),
            });
        }
        if !s.ends_with('\n') {
            return Err(NoteError::MissingFinalNewline {
                line: s.matches('\n').count() + 1,
            });
        }
        // The signature block follows the last blank line (signed-note §Format).
        let split = s.rfind("\n\n").ok_or(NoteError::NoSignatures)?;
        let text = &s[..=split];
        if text.trim_end_matches('\n').is_empty() {
            return Err(NoteError::EmptyText);
        }
        let block = &s[split + 2..];
        if block.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        let first_line = text.bytes().filter(|&b| b == b'\n').count() + 2;
        let mut signatures: Vec<NoteSignature> = Vec::new();
        for (i, l) in block
            .strip_suffix('\n')
            .unwrap_or(block)
            .split('\n')
            .enumerate()
        {
            let line = first_line + i;
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures {
                    max: MAX_SIGNATURES,
                });
            }
            let sig = parse_signature_line(l, line)?;
            if signatures
                .iter()
                .any(|o| o.name == sig.name && o.key_id == sig.key_id)
            {
                return Err(NoteError::DuplicateSignature {
                    line,
                    name: sig.name,
                    key_id: sig.key_id,
                });
            }
            signatures.push(sig);
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// An unsigned note with this text; add signatures with [`Note::add_signature`].
    ///
    /// # Errors
    /// The text must end in a newline, hold no blank line at its end, no control characters,
    /// and leave room for a signature within [`MAX_NOTE_BYTES`].
    pub fn unsigned(text: &str) -> Result<Self, NoteError> {
        // Reuse the parser's checks by parsing the text with a placeholder signature.
        let probe = format!("{text}\n{SIGNATURE_PREFIX}probe AAAAAAAA\n");
        let parsed = Self::parse(probe.as_bytes())?;
        if parsed.text != text {
            return Err(NoteError::NoSignatures);
        }
        Ok(Self {
            text: text.to_owned(),
            signatures: Vec::new(),
        })
    }

    /// The note's text, ending in a newline: the exact bytes that signatures cover.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in the order they appear.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// The signature by key `name` with ID `key_id`, if the note carries one.
    pub fn signature_by(&self, name: &str, key_id: KeyId) -> Option<&NoteSignature> {
        self.signatures
            .iter()
            .find(|s| s.name == name && s.key_id == key_id)
    }

    /// Appends a signature, replacing an earlier one by the same key.
    pub fn add_signature(&mut self, signature: NoteSignature) {
        self.signatures
            .retain(|s| !(s.name == signature.name && s.key_id == signature.key_id));
        self.signatures.push(signature);
    }

    /// Signs the text with `signer` and appends the signature.
    pub fn sign(&mut self, signer: &NoteSigner) {
        let sig = signer.signature(self.text.as_bytes());
        self.add_signature(sig);
    }

    /// The note's bytes: text, blank line, signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len() + 1 + 100 * self.signatures.len());
        out.extend_from_slice(self.text.as_bytes());
        out.push(b'\n');
        for s in &self.signatures {
            s.write_line(&mut out);
        }
        out
    }
}

/// An Ed25519 public key with its signed-note name and key ID.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: KeyId,
    key: VerifyingKey,
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteVerifier({})", self.to_vkey())
    }
}

impl NoteVerifier {
    /// Reads a verifier key `name+hex8+base64(0x01 ‖ key)` (signed-note §Verifier keys).
    ///
    /// # Errors
    /// [`KeyError`] if the string is malformed, the ID does not match or the point is unusable.
    pub fn from_vkey(vkey: &str) -> Result<Self, KeyError> {
        let (name, _, public) = parse_vkey_parts(vkey)?;
        Self::from_public_key(name, &public)
    }

    /// A verifier for a raw 32-byte Ed25519 public key under `name`.
    ///
    /// # Errors
    /// [`KeyError::BadName`] or [`KeyError::BadPoint`] (also for weak, small-order keys).
    pub fn from_public_key(name: &str, public: &[u8; 32]) -> Result<Self, KeyError> {
        check_key_name(name)?;
        let key = VerifyingKey::from_bytes(public).map_err(|_| KeyError::BadPoint)?;
        if key.is_weak() {
            return Err(KeyError::BadPoint);
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: KeyId::ed25519(name, public),
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The verifier key string `name+hex8+base64(0x01 ‖ key)`.
    pub fn to_vkey(&self) -> String {
        format_vkey(&self.name, self.key_id, self.key.as_bytes())
    }

    /// Checks that `note` carries a valid signature by this key.
    ///
    /// # Errors
    /// [`SignatureError::Missing`] if no signature line names this key,
    /// [`SignatureError::Invalid`] if the one that does is wrong.
    pub fn verify(&self, note: &Note) -> Result<(), SignatureError> {
        let sig =
            note.signature_by(&self.name, self.key_id)
                .ok_or_else(|| SignatureError::Missing {
                    name: self.name.clone(),
                    key_id: self.key_id,
                })?;
        verify_raw(&self.key, note.text.as_bytes(), &sig.signature).map_err(|BadSignature| {
            SignatureError::Invalid {
                name: self.name.clone(),
                key_id: self.key_id,
            }
        })
    }
}

/// A signature that a note should carry but doesn't, or that doesn't verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature line by this key.
    #[error("no signature by key {name}+{key_id}")]
    Missing {
        /// Key name.
        name: String,
        /// Key ID.
        key_id: KeyId,
    },
    /// The signature by this key does not verify.
    #[error("signature by key {name}+{key_id} does not verify")]
    Invalid {
        /// Key name.
        name: String,
        /// Key ID.
        key_id: KeyId,
    },
}

/// An Ed25519 signature that is malformed or does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Ed25519 signature is malformed or does not verify")]
pub struct BadSignature;

/// Checks one Ed25519 signature over `message`.
///
/// # Errors
/// [`BadSignature`] if the signature is not 64 bytes or does not verify.
///
/// The rule is ed25519-dalek's `verify_strict`: `S` canonical, neither `R` nor the key of
/// small order, and the cofactorless equation `[S]B = R + [k]A` with the computed `R`'s
/// encoding equal to the signature's. It is checked without decoding `R` (a square root,
/// about a sixth of a verification): the equation compares encodings, and a computed point's
/// encoding is always canonical, so an `R` that does not decode, or that encodes a point
/// non-canonically, fails it anyway; what is left of "`R` of small order" is `R` being the
/// canonical encoding of one of the eight points of order dividing 8, refused by name
/// (`small_order_encodings`). Property tests hold the two rules equal on signatures whose
/// `R` and key carry torsion.
pub fn verify_raw(
    key: &VerifyingKey,
    message: &[u8],
    signature: &[u8],
) -> Result<(), BadSignature> {
    let bytes: [u8; 64] = signature.try_into().map_err(|_| BadSignature)?;
    if key.is_weak() || small_order_encodings().iter().any(|e| bytes[..32] == e[..]) {
        return Err(BadSignature);
    }
    let sig = ed25519_dalek::Signature::from_bytes(&bytes);
    ed25519_dalek::Verifier::verify(key, message, &sig).map_err(|_| BadSignature)
}

/// The canonical encodings of the eight points of order dividing 8 (the curve's torsion):
/// an `R` among them is refused ([`verify_raw`]).
fn small_order_encodings() -> &'static [[u8; 32]; 8] {
    static ENCODINGS: std::sync::LazyLock<[[u8; 32]; 8]> = std::sync::LazyLock::new(|| {
        curve25519_dalek::constants::EIGHT_TORSION.map(|p| p.compress().to_bytes())
    });
    &ENCODINGS
}

/// Checks many Ed25519 signatures at once (one multi-scalar multiplication for the batch): the
/// reference rate the benchmarks measure against, never an admission check.
///
/// Batch verification accepts a superset of what [`verify_raw`] accepts: a signature whose
/// `R` carries a small-order component passes the batch equation whenever its random weight
/// kills that component (half the time for an order-2 component, and deterministically for a
/// given batch), while strict verification refuses it. Anything that decides whether a note
/// is authentic uses [`verify_raw`].
///
/// # Errors
/// [`BadSignature`] if any signature is malformed or invalid, or the slices differ in length.
pub fn verify_batch(
    messages: &[&[u8]],
    signatures: &[&[u8]],
    keys: &[VerifyingKey],
) -> Result<(), BadSignature> {
    if messages.len() != signatures.len() || messages.len() != keys.len() {
        return Err(BadSignature);
    }
    let mut sigs = Vec::with_capacity(signatures.len());
    for s in signatures {
        let bytes: [u8; 64] = (*s).try_into().map_err(|_| BadSignature)?;
        sigs.push(ed25519_dalek::Signature::from_bytes(&bytes));
    }
    ed25519_dalek::verify_batch(messages, &sigs, keys).map_err(|_| BadSignature)
}

/// An Ed25519 private key with its signed-note name. `Debug` never shows the key.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key_id: KeyId,
    key: SigningKey,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NoteSigner({}+{}, private key redacted)",
            self.name, self.key_id
        )
    }
}

impl NoteSigner {
    /// A signer from a 32-byte Ed25519 seed.
    ///
    /// # Errors
    /// [`KeyError::BadName`] if the name is not a valid key name.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, KeyError> {
        check_key_name(name)?;
        let key = SigningKey::from_bytes(seed);
        Ok(Self {
            name: name.to_owned(),
            key_id: KeyId::ed25519(name, key.verifying_key().as_bytes()),
            key,
        })
    }

    /// Reads a signer key `PRIVATE+KEY+name+hex8+base64(0x01 ‖ seed)`.
    ///
    /// # Errors
    /// [`KeyError`] if malformed or if the key ID does not match the derived public key.
    pub fn from_skey(skey: &str) -> Result<Self, KeyError> {
        let rest = skey
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(KeyError::Malformed(
                "signer key must start with PRIVATE+KEY+",
            ))?;
        let (name, rest) = rest
            .split_once('+')
            .ok_or(KeyError::Malformed("expected PRIVATE+KEY+name+keyid+key"))?;
        let (id_hex, b64) = rest
            .split_once('+')
            .ok_or(KeyError::Malformed("expected PRIVATE+KEY+name+keyid+key"))?;
        let key_id = parse_key_id(id_hex)?;
        let raw = BASE64
            .decode(b64.trim_end())
            .map_err(|_| KeyError::Malformed("key is not valid base64"))?;
        let seed = ed25519_bytes(&raw)?;
        let signer = Self::from_seed(name, &seed)?;
        if signer.key_id != key_id {
            return Err(KeyError::KeyIdMismatch {
                got: key_id,
                expected: signer.key_id,
            });
        }
        Ok(signer)
    }

    /// The signer key string. Handle it as a secret.
    pub fn to_skey(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            self.key_id,
            BASE64.encode(raw)
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// A signature line over `text` (the note text, ending in a newline).
    pub fn signature(&self, text: &[u8]) -> NoteSignature {
        NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: self.key.sign(text).to_bytes().to_vec(),
        }
    }

    /// A note of `text` signed by this key alone.
    ///
    /// `text` must be a valid note text (ending in a newline, no control characters); urna's
    /// body serialisers only produce such text.
    pub fn sign_text(&self, text: &str) -> Note {
        Note {
            text: text.to_owned(),
            signatures: vec![self.signature(text.as_bytes())],
        }
    }
}

/// Checks a key name: non-empty, no Unicode whitespace, no `+` (signed-note §Format).
///
/// # Errors
/// [`KeyError::BadName`].
pub fn check_key_name(name: &str) -> Result<(), KeyError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(KeyError::BadName(name.to_owned()));
    }
    Ok(())
}

/// The verifier key string `name+hex8+base64(0x01 ‖ key)` of an Ed25519 key, in canonical
/// form (lower-case key ID): what [`parse_vkey_parts`] reads, without checking the key.
///
/// ```
/// use urna_model::note::{NoteSigner, format_vkey, parse_vkey_parts};
/// let v = NoteSigner::from_seed("PS-1", &[7; 32]).unwrap().verifier().to_vkey();
/// let (name, id, key) = parse_vkey_parts(&v).unwrap();
/// assert_eq!(format_vkey(name, id, &key), v);
/// ```
pub fn format_vkey(name: &str, key_id: KeyId, public_key: &[u8; 32]) -> String {
    let mut raw = Vec::with_capacity(33);
    raw.push(ALG_ED25519);
    raw.extend_from_slice(public_key);
    format!("{name}+{key_id}+{}", BASE64.encode(raw))
}

/// Splits a verifier key `name+hex8+base64(0x01 ‖ key)` into name, key ID and raw public key,
/// checking the key ID but not decompressing the point (cheap enough for a million stations;
/// the point is checked when a signature is first verified against it).
///
/// # Errors
/// [`KeyError`] if malformed or if the key ID does not match.
pub fn parse_vkey_parts(vkey: &str) -> Result<(&str, KeyId, [u8; 32]), KeyError> {
    let (name, rest) = vkey
        .split_once('+')
        .ok_or(KeyError::Malformed("expected name+keyid+key, found no '+'"))?;
    let (id_hex, b64) = rest.split_once('+').ok_or(KeyError::Malformed(
        "expected name+keyid+key, found one '+'",
    ))?;
    check_key_name(name)?;
    let key_id = parse_key_id(id_hex)?;
    let raw = BASE64
        .decode(b64)
        .map_err(|_| KeyError::Malformed("key is not valid base64"))?;
    let public = ed25519_bytes(&raw)?;
    let expected = KeyId::ed25519(name, &public);
    if key_id != expected {
        return Err(KeyError::KeyIdMismatch {
            got: key_id,
            expected,
        });
    }
    Ok((name, key_id, public))
}

fn parse_key_id(hex: &str) -> Result<KeyId, KeyError> {
    if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeyError::Malformed("key ID must be 8 hex digits"));
    }
    let v = u32::from_str_radix(hex, 16)
        .map_err(|_| KeyError::Malformed("key ID must be 8 hex digits"))?;
    Ok(KeyId(v.to_be_bytes()))
}

fn ed25519_bytes(raw: &[u8]) -> Result<[u8; 32], KeyError> {
    match raw.split_first() {
        Some((&ALG_ED25519, rest)) => rest
            .try_into()
            .map_err(|_| KeyError::Malformed("Ed25519 key must be 32 bytes")),
        Some((&alg, _)) => Err(KeyError::Algorithm(alg)),
        None => Err(KeyError::Malformed("empty key")),
    }
}

fn parse_signature_line(l: &str, line: usize) -> Result<NoteSignature, NoteError> {
    let bad = |reason| NoteError::BadSignatureLine { line, reason };
    let rest = l
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(bad("must start with an em dash and a space"))?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or(bad("must be '— <key name> <base64>'"))?;
    if check_key_name(name).is_err() {
        return Err(bad("key name must be non-empty, without spaces or '+'"));
    }
    let raw = BASE64
        .decode(b64)
        .map_err(|_| bad("signature is not canonical base64"))?;
    if raw.len() < 5 {
        return Err(bad(
            "signature must hold a 4-byte key ID and at least one byte",
        ));
    }
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: KeyId([raw[0], raw[1], raw[2], raw[3]]),
        signature: raw[4..].to_vec(),
    })
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests;
