//! C2SP tlog-cosignature, Ed25519 `cosignature/v1` (<https://c2sp.org/tlog-cosignature>,
//! §"Format", §"Ed25519 signed message"): a witness's timestamped signature on a checkpoint.
//!
//! The signed message is `cosignature/v1\ntime <t>\n` followed by the whole checkpoint text;
//! the signature bytes are the 8-byte big-endian timestamp followed by the 64-byte Ed25519
//! signature; the key ID is SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[..4].
//!
//! Out of scope: ML-DSA-44 `subtree/v1` cosignatures.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use urna_model::note::{KeyId, Note, NoteSignature, check_key_name};

/// Signature type byte of Ed25519 `cosignature/v1` keys.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// The largest timestamp allowed (2⁶³ − 1).
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// Seconds since the Unix epoch, as read from a [`Clock`].
pub type UnixSeconds = u64;

/// Where the current time comes from, for all of urna: cosignature timestamps, receipts and
/// intake times. Libraries never read the system clock themselves, so tests and verifiers are
/// deterministic; binaries pass [`SystemClock`] in.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;

    /// The current POSIX time in seconds.
    fn now(&self) -> UnixSeconds {
        self.now_ms() / 1000
    }
}

/// A clock that always says the same time, in seconds (tests, golden files, replays).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedClock(pub UnixSeconds);

impl Clock for FixedClock {
    fn now_ms(&self) -> u64 {
        self.0.saturating_mul(1000)
    }
}

/// The system's wall clock: the one place in urna that reads it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the single sanctioned reader of the wall clock
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// Why a cosigner key was refused or a cosignature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    /// A key name that signed notes do not allow.
    #[error("invalid cosigner name {0:?}")]
    BadName(String),
    /// A verifier key string that is not `name+hex8+base64(0x04 ‖ key)`.
    #[error("malformed cosigner key: {0}")]
    MalformedKey(&'static str),
    /// The key ID in the key string does not match name and key.
    #[error("cosigner key ID {got} does not match the key (expected {expected})")]
    KeyIdMismatch {
        /// ID written in the key.
        got: KeyId,
        /// ID computed.
        expected: KeyId,
    },
    /// The note carries no signature by this cosigner.
    #[error("no cosignature by {name}+{key_id}")]
    Missing {
        /// Cosigner name.
        name: String,
        /// Key ID.
        key_id: KeyId,
    },
    /// The cosignature is not 8 + 64 bytes.
    #[error("cosignature by {name} is {len} bytes; expected 72")]
    Length {
        /// Cosigner name.
        name: String,
        /// Length found.
        len: usize,
    },
    /// The timestamp exceeds 2⁶³ − 1.
    #[error("cosignature timestamp {0} exceeds 2^63-1")]
    Timestamp(u64),
    /// The Ed25519 signature does not verify.
    #[error("cosignature by {name}+{key_id} does not verify")]
    Invalid {
        /// Cosigner name.
        name: String,
        /// Key ID.
        key_id: KeyId,
    },
}

/// The key ID of an Ed25519 `cosignature/v1` key.
pub fn cosigner_key_id(name: &str, public_key: &[u8; 32]) -> KeyId {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_COSIGNATURE_V1]);
    h.update(public_key);
    let d = h.finalize();
    KeyId([d[0], d[1], d[2], d[3]])
}

/// The message a `cosignature/v1` signs: header, time line, then the checkpoint text.
pub fn signed_message(checkpoint_text: &str, timestamp: UnixSeconds) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_text}").into_bytes()
}

/// A witness's signing key. `Debug` never shows the key.
#[derive(Clone)]
pub struct CosignatureSigner {
    name: String,
    key_id: KeyId,
    key: SigningKey,
}

impl fmt::Debug for CosignatureSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CosignatureSigner({}+{}, private key redacted)",
            self.name, self.key_id
        )
    }
}

impl CosignatureSigner {
    /// A signer from a 32-byte Ed25519 seed.
    ///
    /// # Errors
    /// [`CosignatureError::BadName`].
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, CosignatureError> {
        check_key_name(name).map_err(|_| CosignatureError::BadName(name.to_owned()))?;
        let key = SigningKey::from_bytes(seed);
        Ok(Self {
            name: name.to_owned(),
            key_id: cosigner_key_id(name, key.verifying_key().as_bytes()),
            key,
        })
    }

    /// The cosigner name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The matching verifier.
    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Cosigns checkpoint text at `timestamp`, as a note signature line.
    ///
    /// # Errors
    /// [`CosignatureError::Timestamp`] above 2⁶³ − 1.
    pub fn cosign_at(
        &self,
        checkpoint_text: &str,
        timestamp: UnixSeconds,
    ) -> Result<NoteSignature, CosignatureError> {
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::Timestamp(timestamp));
        }
        let sig = self.key.sign(&signed_message(checkpoint_text, timestamp));
        let mut signature = Vec::with_capacity(72);
        signature.extend_from_slice(&timestamp.to_be_bytes());
        signature.extend_from_slice(&sig.to_bytes());
        Ok(NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature,
        })
    }

    /// Cosigns checkpoint text at the clock's current time.
    ///
    /// # Errors
    /// [`CosignatureError::Timestamp`] if the clock reads above 2⁶³ − 1.
    pub fn cosign(
        &self,
        checkpoint_text: &str,
        clock: &dyn Clock,
    ) -> Result<NoteSignature, CosignatureError> {
        self.cosign_at(checkpoint_text, clock.now())
    }
}

/// A witness's public key, as a log or client configures it.
#[derive(Clone, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    key_id: KeyId,
    key: VerifyingKey,
}

impl fmt::Debug for CosignatureVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CosignatureVerifier({})", self.to_vkey())
    }
}

impl CosignatureVerifier {
    /// A verifier from name and raw public key.
    ///
    /// # Errors
    /// [`CosignatureError::BadName`] or [`CosignatureError::MalformedKey`] (not a usable
    /// Ed25519 point, or a weak one).
    pub fn from_public_key(name: &str, public: &[u8; 32]) -> Result<Self, CosignatureError> {
        check_key_name(name).map_err(|_| CosignatureError::BadName(name.to_owned()))?;
        let key = VerifyingKey::from_bytes(public)
            .map_err(|_| CosignatureError::MalformedKey("not an Ed25519 public key"))?;
        if key.is_weak() {
            return Err(CosignatureError::MalformedKey("weak Ed25519 public key"));
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: cosigner_key_id(name, public),
            key,
        })
    }

    /// Reads a verifier key `name+hex8+base64(0x04 ‖ key)`.
    ///
    /// # Errors
    /// [`CosignatureError`] if malformed, of another type, or with a wrong key ID.
    pub fn from_vkey(vkey: &str) -> Result<Self, CosignatureError> {
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CosignatureError::MalformedKey("expected name+keyid+key"));
        };
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CosignatureError::MalformedKey(
                "key ID must be 8 hex digits",
            ));
        }
        let id = u32::from_str_radix(id_hex, 16)
            .map_err(|_| CosignatureError::MalformedKey("key ID must be 8 hex digits"))?;
        let raw = BASE64
            .decode(b64)
            .map_err(|_| CosignatureError::MalformedKey("key is not base64"))?;
        let public: [u8; 32] = match raw.split_first() {
            Some((&ALG_COSIGNATURE_V1, rest)) => rest
                .try_into()
                .map_err(|_| CosignatureError::MalformedKey("Ed25519 key must be 32 bytes"))?,
            _ => {
                return Err(CosignatureError::MalformedKey(
                    "key type is not cosignature/v1 (0x04)",
                ));
            }
        };
        let v = Self::from_public_key(name, &public)?;
        let got = KeyId(id.to_be_bytes());
        if got != v.key_id {
            return Err(CosignatureError::KeyIdMismatch {
                got,
                expected: v.key_id,
            });
        }
        Ok(v)
    }

    /// The verifier key string `name+hex8+base64(0x04 ‖ key)`.
    pub fn to_vkey(&self) -> String {
        let mut raw = vec![ALG_COSIGNATURE_V1];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, self.key_id, BASE64.encode(raw))
    }

    /// The cosigner name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Checks one cosignature over checkpoint text; returns its timestamp.
    ///
    /// # Errors
    /// [`CosignatureError::Length`], [`CosignatureError::Timestamp`] or
    /// [`CosignatureError::Invalid`].
    pub fn verify_signature(
        &self,
        checkpoint_text: &str,
        signature: &NoteSignature,
    ) -> Result<UnixSeconds, CosignatureError> {
        if signature.name != self.name || signature.key_id != self.key_id {
            return Err(CosignatureError::Missing {
                name: self.name.clone(),
                key_id: self.key_id,
            });
        }
        let raw: &[u8; 72] =
            signature
                .signature
                .as_slice()
                .try_into()
                .map_err(|_| CosignatureError::Length {
                    name: self.name.clone(),
                    len: signature.signature.len(),
                })?;
        let (ts, sig) = raw.split_at(8);
        let mut ts_bytes = [0u8; 8];
        ts_bytes.copy_from_slice(ts);
        let timestamp = u64::from_be_bytes(ts_bytes);
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::Timestamp(timestamp));
        }
        let invalid = || CosignatureError::Invalid {
            name: self.name.clone(),
            key_id: self.key_id,
        };
        let sig = Signature::from_slice(sig).map_err(|_| invalid())?;
        self.key
            .verify_strict(&signed_message(checkpoint_text, timestamp), &sig)
            .map_err(|_| invalid())?;
        Ok(timestamp)
    }

    /// Finds this cosigner's signature on a checkpoint note and checks it; returns its
    /// timestamp.
    ///
    /// # Errors
    /// [`CosignatureError::Missing`] if the note has no signature by this key; otherwise as
    /// [`CosignatureVerifier::verify_signature`].
    pub fn verify(&self, note: &Note) -> Result<UnixSeconds, CosignatureError> {
        let sig = note.signature_by(&self.name, self.key_id).ok_or_else(|| {
            CosignatureError::Missing {
                name: self.name.clone(),
                key_id: self.key_id,
            }
        })?;
        self.verify_signature(note.text(), sig)
    }
}

/// Writes a note signature line: `— <name> base64(key ID ‖ signature)\n` — the format of a
/// witness's add-checkpoint response body.
pub fn signature_line(sig: &NoteSignature) -> String {
    let mut raw = Vec::with_capacity(4 + sig.signature.len());
    raw.extend_from_slice(&sig.key_id.0);
    raw.extend_from_slice(&sig.signature);
    format!("\u{2014} {} {}\n", sig.name, BASE64.encode(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_message_layout() {
        let text =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        assert_eq!(
            String::from_utf8(signed_message(text, 1_679_315_147)).unwrap(),
            format!("cosignature/v1\ntime 1679315147\n{text}")
        );
    }

    #[test]
    fn vkey_round_trip_and_type_byte() {
        let s = CosignatureSigner::from_seed("witness.example/w1", &[9; 32]).unwrap();
        let v = s.verifier();
        let vkey = v.to_vkey();
        assert_eq!(CosignatureVerifier::from_vkey(&vkey), Ok(v.clone()));
        // The same key as a plain Ed25519 (0x01) note key is a different key type.
        let mut raw = vec![0x01];
        raw.extend_from_slice(s.key.verifying_key().as_bytes());
        let as_note_key = format!("witness.example/w1+{}+{}", v.key_id(), BASE64.encode(raw));
        assert!(CosignatureVerifier::from_vkey(&as_note_key).is_err());
        assert_ne!(
            v.key_id(),
            KeyId::ed25519("witness.example/w1", s.key.verifying_key().as_bytes())
        );
    }

    #[test]
    fn timestamp_limit() {
        let s = CosignatureSigner::from_seed("w", &[1; 32]).unwrap();
        assert!(s.cosign_at("o\n0\nx\n", MAX_TIMESTAMP).is_ok());
        assert_eq!(
            s.cosign_at("o\n0\nx\n", MAX_TIMESTAMP + 1),
            Err(CosignatureError::Timestamp(MAX_TIMESTAMP + 1))
        );
    }
}
