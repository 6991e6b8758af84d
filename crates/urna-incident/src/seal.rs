//! Sealing the details of a report above TLP:CLEAR: the age file format
//! (<https://age-encryption.org/v1>) with X25519 recipients, through the `age` crate.
//!
//! The details' canonical text ([`Details::to_text`]) is encrypted once to every recipient
//! institution's age key and to the reporter's own (so the reporter can read its report back).
//! Anyone can see that a sealed blob exists and how large it is; only a holder of one of those
//! identities can read it. Decryption parses the plaintext with the strict details parser, so a
//! blob that decrypts to anything else is refused.
//!
//! Out of scope: passphrase (scrypt) recipients, which `age` would otherwise accept on
//! decryption: [`open`] passes only X25519 identities, and a file sealed to a passphrase does
//! not open with them.

use std::io::{Read as _, Write as _};
use std::str::FromStr as _;

use crate::body::Details;

/// The first bytes of every age file (its version line).
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// The largest plaintext [`open`] reads: the details of one note cannot be longer.
const MAX_PLAINTEXT_BYTES: u64 = 64 * 1024;

/// Why details could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// A recipient key is not an age X25519 recipient (`age1…`).
    #[error("{field}: not an age X25519 recipient (age1…): {reason}")]
    BadRecipient {
        /// Where the key came from (an institution id).
        field: String,
        /// What the parser said.
        reason: String,
    },
    /// An identity is not an age X25519 identity (`AGE-SECRET-KEY-1…`).
    #[error("not an age X25519 identity (AGE-SECRET-KEY-1…): {0}")]
    BadIdentity(String),
    /// No recipient was given.
    #[error("sealed details need at least one recipient")]
    NoRecipients,
    /// Encryption failed.
    #[error("cannot seal the details: {0}")]
    Encrypt(String),
    /// None of the identities is a recipient of the blob (or the blob is damaged).
    #[error("cannot open the sealed details: {0}")]
    Decrypt(String),
    /// The blob decrypted, but not to a details text.
    #[error("the sealed details do not parse: {0}")]
    Plaintext(String),
}

/// An institution's age identity (private key), read from an `AGE-SECRET-KEY-1…` line.
pub struct Identity(age::x25519::Identity);

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Identity").field(&self.recipient()).finish()
    }
}

impl Identity {
    /// A new random identity.
    pub fn generate() -> Self {
        Self(age::x25519::Identity::generate())
    }

    /// Parses an identity file's text: `#` comment lines and blank lines are skipped, and
    /// exactly one `AGE-SECRET-KEY-1…` line must remain.
    ///
    /// # Errors
    /// [`SealError::BadIdentity`].
    pub fn parse(text: &str) -> Result<Self, SealError> {
        let mut keys = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let (Some(key), None) = (keys.next(), keys.next()) else {
            return Err(SealError::BadIdentity(
                "expected exactly one AGE-SECRET-KEY-1 line".into(),
            ));
        };
        age::x25519::Identity::from_str(key)
            .map(Self)
            .map_err(|e| SealError::BadIdentity(e.to_owned()))
    }

    /// The identity file text: a comment with the public key, then the secret key line.
    pub fn to_file_text(&self) -> String {
        use age::secrecy::ExposeSecret as _;
        format!(
            "# public key: {}\n{}\n",
            self.recipient(),
            self.0.to_string().expose_secret()
        )
    }

    /// The public recipient key (`age1…`).
    pub fn recipient(&self) -> String {
        self.0.to_public().to_string()
    }
}

/// Checks an age X25519 recipient key (`age1…`).
///
/// # Errors
/// [`SealError::BadRecipient`] naming `field`.
pub fn check_recipient(field: &str, key: &str) -> Result<(), SealError> {
    parse_recipient(field, key).map(|_| ())
}

/// Encrypts `details` to each of `recipients` (pairs of a label for errors and an `age1…`
/// key).
///
/// # Errors
/// [`SealError`]: a bad key, no recipient, or an encryption failure.
pub fn seal(details: &Details, recipients: &[(&str, &str)]) -> Result<Vec<u8>, SealError> {
    let keys = recipients
        .iter()
        .map(|(field, key)| parse_recipient(field, key))
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err(SealError::NoRecipients);
    }
    let encryptor = age::Encryptor::with_recipients(keys.iter().map(|k| k as &dyn age::Recipient))
        .map_err(|e| SealError::Encrypt(e.to_string()))?;
    let mut out = Vec::new();
    let encrypt = |out: &mut Vec<u8>| -> std::io::Result<()> {
        let mut w = encryptor.wrap_output(out)?;
        w.write_all(details.to_text().as_bytes())?;
        w.finish()?;
        Ok(())
    };
    encrypt(&mut out).map_err(|e| SealError::Encrypt(e.to_string()))?;
    Ok(out)
}

/// Decrypts a sealed blob with `identity` and parses the details.
///
/// # Errors
/// [`SealError::Decrypt`] if the identity is not a recipient or the blob is damaged;
/// [`SealError::Plaintext`] if it decrypts to something other than a details text.
pub fn open(sealed: &[u8], identity: &Identity) -> Result<Details, SealError> {
    let decryptor =
        age::Decryptor::new_buffered(sealed).map_err(|e| SealError::Decrypt(e.to_string()))?;
    if decryptor.is_scrypt() {
        return Err(SealError::Decrypt(
            "sealed to a passphrase, not to institutions' keys".into(),
        ));
    }
    let reader = decryptor
        .decrypt(std::iter::once(&identity.0 as &dyn age::Identity))
        .map_err(|e| SealError::Decrypt(e.to_string()))?;
    let mut plain = Vec::new();
    reader
        .take(MAX_PLAINTEXT_BYTES)
        .read_to_end(&mut plain)
        .map_err(|e| SealError::Decrypt(e.to_string()))?;
    let text =
        String::from_utf8(plain).map_err(|_| SealError::Plaintext("not UTF-8 text".into()))?;
    Details::parse(&text).map_err(|e| SealError::Plaintext(e.to_string()))
}

fn parse_recipient(field: &str, key: &str) -> Result<age::x25519::Recipient, SealError> {
    age::x25519::Recipient::from_str(key).map_err(|e| SealError::BadRecipient {
        field: field.to_owned(),
        reason: e.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details() -> Details {
        Details {
            systems: vec!["results intake".into()],
            indicators: vec!["ipv4 203.0.113.7".into()],
            summary: "Credential stuffing against the desk.".into(),
        }
    }

    #[test]
    fn sealed_details_open_only_with_a_recipient_identity() {
        let alice = Identity::generate();
        let bob = Identity::generate();
        let eve = Identity::generate();
        let blob = seal(
            &details(),
            &[("alice", &alice.recipient()), ("bob", &bob.recipient())],
        )
        .unwrap();
        assert!(blob.starts_with(AGE_MAGIC));
        assert_eq!(open(&blob, &alice).unwrap(), details());
        assert_eq!(open(&blob, &bob).unwrap(), details());
        assert!(matches!(open(&blob, &eve), Err(SealError::Decrypt(_))));
        let text = String::from_utf8_lossy(&blob);
        assert!(!text.contains("Credential"), "the plaintext leaks");
    }

    #[test]
    fn a_flipped_byte_in_the_payload_is_refused() {
        let alice = Identity::generate();
        let mut blob = seal(&details(), &[("alice", &alice.recipient())]).unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        assert!(matches!(open(&blob, &alice), Err(SealError::Decrypt(_))));
    }

    #[test]
    fn identity_file_round_trips_and_bad_keys_name_the_field() {
        let id = Identity::generate();
        let again = Identity::parse(&id.to_file_text()).unwrap();
        assert_eq!(again.recipient(), id.recipient());
        assert!(matches!(
            Identity::parse("# nothing\n"),
            Err(SealError::BadIdentity(_))
        ));
        let e = check_recipient("institution[2].age", "age1nope").unwrap_err();
        assert!(e.to_string().starts_with("institution[2].age: "), "{e}");
        assert!(matches!(
            seal(&details(), &[]),
            Err(SealError::NoRecipients)
        ));
    }
}
