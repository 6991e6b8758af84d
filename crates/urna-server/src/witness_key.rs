//! A witness's configuration inputs: its private cosignature key file and the logs it follows
//! (`ORIGIN=VKEY`).
//!
//! **Key file format.** [`urna_tlog::CosignatureSigner`] is built from a 32-byte seed and has
//! no text form of its own, so the witness key file uses the signed-note private key form
//! with the cosignature type byte:
//!
//! ```text
//! PRIVATE+KEY+<name>+<key ID, 8 hex digits>+base64(0x04 ‖ 32-byte Ed25519 seed)
//! ```
//!
//! followed by one newline. The key ID is the `cosignature/v1` one
//! (SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[..4]), so it matches the verifier key
//! `name+keyid+base64(0x04 ‖ public key)` that logs configure. The type byte keeps a witness
//! key from being loaded as a log or station key (type 0x01) and the other way round.
//!
//! Out of scope: key rotation, keys in hardware, ML-DSA witness keys.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, Write as _};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::RngCore as _;
use urna_model::note::{KeyId, NoteVerifier};
use urna_tlog::cosignature::ALG_COSIGNATURE_V1;
use urna_tlog::{CosignatureSigner, CosignatureVerifier};

/// Why a witness key file or a `--log` argument was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    /// Not `PRIVATE+KEY+name+keyid+base64`.
    #[error("malformed witness key: {0}")]
    Malformed(&'static str),
    /// The name is not a valid signed-note key name.
    #[error("invalid witness key name {0:?} (non-empty, no '+', no whitespace)")]
    BadName(String),
    /// The key ID written in the file is not the one of the name and key.
    #[error("witness key ID {got} does not match the key (expected {expected})")]
    KeyIdMismatch {
        /// ID in the file.
        got: KeyId,
        /// ID computed from name and key.
        expected: KeyId,
    },
    /// The key file could not be read.
    #[error("cannot read witness key file {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// A `--log` argument is not `ORIGIN=VKEY`, or its key is not a log (note) key.
    #[error("log {arg:?}: {reason}")]
    BadLog {
        /// The argument as given.
        arg: String,
        /// Why it was refused.
        reason: String,
    },
}

/// A witness's private key: the seed (kept so the key file can be written) and the signer.
/// `Debug` never shows the seed.
#[derive(Clone)]
pub struct WitnessKey {
    seed: [u8; 32],
    signer: CosignatureSigner,
}

impl fmt::Debug for WitnessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WitnessKey({})", self.signer.verifier().to_vkey())
    }
}

impl WitnessKey {
    /// A fresh key for `name` from the operating system's random source.
    ///
    /// # Errors
    /// [`KeyFileError::BadName`].
    pub fn generate(name: &str) -> Result<Self, KeyFileError> {
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        Self::from_seed(name, seed)
    }

    /// The key of `name` from a 32-byte seed (tests use fixed seeds).
    ///
    /// # Errors
    /// [`KeyFileError::BadName`].
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, KeyFileError> {
        let signer = CosignatureSigner::from_seed(name, &seed)
            .map_err(|_| KeyFileError::BadName(name.to_owned()))?;
        Ok(Self { seed, signer })
    }

    /// Reads the key file text (one trailing newline or whitespace allowed).
    ///
    /// # Errors
    /// [`KeyFileError`] if it is not `PRIVATE+KEY+name+keyid+base64(0x04 ‖ seed)` or the key
    /// ID does not match.
    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let rest = text
            .trim_end()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(KeyFileError::Malformed("must start with PRIVATE+KEY+"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(KeyFileError::Malformed(
                "expected PRIVATE+KEY+name+keyid+key",
            ));
        };
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(KeyFileError::Malformed("key ID must be 8 hex digits"));
        }
        let id = u32::from_str_radix(id_hex, 16)
            .map_err(|_| KeyFileError::Malformed("key ID must be 8 hex digits"))?;
        let raw = BASE64
            .decode(b64)
            .map_err(|_| KeyFileError::Malformed("key is not base64"))?;
        let seed: [u8; 32] = match raw.split_first() {
            Some((&ALG_COSIGNATURE_V1, rest)) => rest
                .try_into()
                .map_err(|_| KeyFileError::Malformed("the seed must be 32 bytes"))?,
            _ => {
                return Err(KeyFileError::Malformed(
                    "key type is not cosignature/v1 (0x04); is this a log or station key?",
                ));
            }
        };
        let key = Self::from_seed(name, seed)?;
        let got = KeyId(id.to_be_bytes());
        if got != key.signer.key_id() {
            return Err(KeyFileError::KeyIdMismatch {
                got,
                expected: key.signer.key_id(),
            });
        }
        Ok(key)
    }

    /// The key file text, ending in a newline. Handle it as a secret.
    pub fn to_file_text(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(ALG_COSIGNATURE_V1);
        raw.extend_from_slice(&self.seed);
        format!(
            "PRIVATE+KEY+{}+{}+{}\n",
            self.signer.name(),
            self.signer.key_id(),
            BASE64.encode(raw)
        )
    }

    /// Writes the key file at `path`: created new (never overwriting an existing key),
    /// readable by its owner only, and fsynced.
    ///
    /// # Errors
    /// The I/O error; `AlreadyExists` if a file is at `path`.
    pub fn write_new(&self, path: &Path) -> io::Result<()> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut f = options.open(path)?;
        f.write_all(self.to_file_text().as_bytes())?;
        f.sync_all()
    }

    /// Reads a key file written by [`WitnessKey::write_new`].
    ///
    /// # Errors
    /// [`KeyFileError::Read`] or a format error from [`WitnessKey::parse`].
    pub fn read(path: &Path) -> Result<Self, KeyFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| KeyFileError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text)
    }

    /// The signer.
    pub fn signer(&self) -> &CosignatureSigner {
        &self.signer
    }

    /// The verifier key logs configure for this witness.
    pub fn verifier(&self) -> CosignatureVerifier {
        self.signer.verifier()
    }
}

/// Parses a `--log ORIGIN=VKEY` argument: the log's origin line, then the log's signed-note
/// verifier key (`name+keyid+base64(0x01 ‖ key)`). The origin is everything before the first
/// `=`, so an origin must not contain `=`.
///
/// # Errors
/// [`KeyFileError::BadLog`].
pub fn parse_log_arg(arg: &str) -> Result<(String, NoteVerifier), KeyFileError> {
    let bad = |reason: String| KeyFileError::BadLog {
        arg: arg.to_owned(),
        reason,
    };
    let (origin, vkey) = arg
        .split_once('=')
        .ok_or_else(|| bad("expected ORIGIN=VKEY".into()))?;
    if origin.is_empty() {
        return Err(bad("the origin is empty".into()));
    }
    let key = NoteVerifier::from_vkey(vkey).map_err(|e| bad(e.to_string()))?;
    Ok((origin.to_owned(), key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use urna_model::note::NoteSigner;

    #[test]
    fn key_file_round_trips_and_matches_the_verifier() {
        let k = WitnessKey::from_seed("cert.example/w1", [7; 32]).unwrap();
        let text = k.to_file_text();
        assert!(text.starts_with("PRIVATE+KEY+cert.example/w1+"));
        assert!(text.ends_with('\n'));
        let back = WitnessKey::parse(&text).unwrap();
        assert_eq!(back.verifier(), k.verifier());
        let id = k.verifier().key_id().to_string();
        assert!(text.contains(&format!("+{id}+")));
    }

    #[test]
    fn key_file_refuses_wrong_type_id_and_shape() {
        let k = WitnessKey::from_seed("w", [7; 32]).unwrap();
        let text = k.to_file_text();
        // A note (0x01) private key of the same seed is not a witness key.
        let note_key = NoteSigner::from_seed("w", &[7; 32]).unwrap().to_skey();
        assert!(matches!(
            WitnessKey::parse(&note_key),
            Err(KeyFileError::Malformed(_))
        ));
        // Wrong key ID.
        let id = k.verifier().key_id().to_string();
        let wrong = text.replace(&id, "00000000");
        assert!(matches!(
            WitnessKey::parse(&wrong),
            Err(KeyFileError::KeyIdMismatch { .. })
        ));
        for bad in [
            "",
            "w+00000000+AA==",
            "PRIVATE+KEY+w",
            "PRIVATE+KEY+w+xyz+AA==",
        ] {
            assert!(WitnessKey::parse(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            WitnessKey::from_seed("a b", [0; 32]),
            Err(KeyFileError::BadName(_))
        ));
    }

    #[test]
    fn key_files_are_new_private_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.key");
        let k = WitnessKey::generate("w").unwrap();
        k.write_new(&path).unwrap();
        assert_eq!(WitnessKey::read(&path).unwrap().verifier(), k.verifier());
        let other = WitnessKey::generate("w").unwrap();
        assert_eq!(
            other.write_new(&path).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(WitnessKey::read(&path).unwrap().verifier(), k.verifier());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            WitnessKey::read(&dir.path().join("none")),
            Err(KeyFileError::Read { .. })
        ));
    }

    #[test]
    fn generated_keys_differ() {
        let a = WitnessKey::generate("w").unwrap();
        let b = WitnessKey::generate("w").unwrap();
        assert_ne!(a.verifier(), b.verifier());
    }

    #[test]
    fn log_args() {
        let log = NoteSigner::from_seed("log.example", &[3; 32]).unwrap();
        let vkey = log.verifier().to_vkey();
        let (origin, key) = parse_log_arg(&format!("log.example/e1={vkey}")).unwrap();
        assert_eq!(origin, "log.example/e1");
        assert_eq!(key.to_vkey(), vkey);
        for bad in [
            "no-equals".to_owned(),
            format!("={vkey}"),
            "o=notakey".to_owned(),
            // A witness (0x04) key is not a log key.
            format!(
                "o={}",
                WitnessKey::from_seed("w", [1; 32])
                    .unwrap()
                    .verifier()
                    .to_vkey()
            ),
        ] {
            assert!(
                matches!(parse_log_arg(&bad), Err(KeyFileError::BadLog { .. })),
                "{bad}"
            );
        }
    }
}
