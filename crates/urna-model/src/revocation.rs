//! The body of an `urna/revocation/v1` note: an authority's decision that a polling station's
//! key is lost or stolen, with the key the authority gives the station instead.
//!
//! ```text
//! urna/revocation/v1
//! election: al-2021
//! station: P-3264
//! revokes: P-3264+<key id>+<base64 of 0x01 ‖ Ed25519 public key>
//! replacement: P-3264+<key id>+<base64 of 0x01 ‖ Ed25519 public key>
//! reason: The board's tablet was stolen from the counting room.
//! ```
//!
//! `revokes:` is the station's key being revoked, as a signed-note verifier key (the stations
//! file's `key` column, or an earlier revocation's `replacement:`). `replacement:` is the key
//! that signs for the station from now on, or `none` when the authority gives none yet (a later
//! revocation cannot add one to a revoked key: a station holds one key at a time). Both keys
//! are named after the station.
//!
//! A revocation is about a station, not one of its entries (a key is often lost before its
//! station submits anything), so it names no contest and no entry. It is signed by an authority
//! of the definition whose scope covers the station, and it is an entry of the log: from its
//! index on, a note signed with the revoked key is refused ([`KEY_REVOKED`]), and a note
//! signed with the replacement key is the station's. What was
//! logged before it keeps its status ([`crate::intake::StationKeys`] keeps the keys in log
//! order).
//!
//! The parser is strict like the decision's: fixed key order, every key once, keys in their
//! canonical form, nothing after `reason:`, so each revocation has exactly one text.

use crate::note::{KeyId, NoteVerifier, format_vkey, parse_vkey_parts};
use crate::protocol::{MAX_REASON_LEN, check_id};

/// First line of a revocation body.
pub const REVOCATION_V1: &str = "urna/revocation/v1";

/// The refusal of a note signed with a key revoked before it (its code).
pub const KEY_REVOKED: &str = "key-revoked";

/// A station's Ed25519 key, as its verifier key names it (the name is the station id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StationKey {
    /// The signed-note key ID (of the station id and the public key).
    pub key_id: KeyId,
    /// The raw Ed25519 public key.
    pub public_key: [u8; 32],
}

impl StationKey {
    /// The verifier key string `station+keyid+base64`.
    pub fn to_vkey(&self, station: &str) -> String {
        format_vkey(station, self.key_id, &self.public_key)
    }
}

/// A parsed revocation body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationBody {
    /// `election:`
    pub election: String,
    /// `station:`
    pub station: String,
    /// `revokes:` the key revoked.
    pub revokes: StationKey,
    /// `replacement:` the station's key from now on; `None` for `none`.
    pub replacement: Option<StationKey>,
    /// `reason:` why, in words (1 to [`MAX_REASON_LEN`] bytes).
    pub reason: String,
}

/// Why a revocation body could not be parsed. `line` counts from 1, the type line being
/// line 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevocationError {
    /// The first line is not `urna/revocation/v1`.
    #[error("line 1: unknown note type {0:?}; expected {REVOCATION_V1}")]
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
    #[error("line {line}: unexpected line {text:?}; a revocation ends with its `reason:` line")]
    Unexpected {
        /// The line.
        line: usize,
        /// Its text (cut to 80 characters).
        text: String,
    },
}

/// The fields of a revocation, in the only order they may come.
const FIELDS: [&str; 5] = ["election", "station", "revokes", "replacement", "reason"];

impl From<crate::fields::FieldsError> for RevocationError {
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

impl RevocationBody {
    /// Whether a note text is a revocation (its first line is [`REVOCATION_V1`]), so a caller
    /// can choose the parser before parsing.
    pub fn is_revocation(text: &str) -> bool {
        text.split('\n').next() == Some(REVOCATION_V1)
    }

    /// Parses a revocation body (a note's text).
    ///
    /// # Errors
    /// [`RevocationError`] naming the line and the field.
    ///
    /// ```
    /// use urna_model::note::NoteSigner;
    /// use urna_model::revocation::RevocationBody;
    /// let old = NoteSigner::from_seed("S-1", &[1; 32]).unwrap().verifier().to_vkey();
    /// let text = format!(
    ///     "urna/revocation/v1\nelection: e\nstation: S-1\nrevokes: {old}\nreplacement: none\nreason: tablet stolen\n"
    /// );
    /// let r = RevocationBody::parse(&text).unwrap();
    /// assert_eq!(r.replacement, None);
    /// assert_eq!(r.to_text(), text);
    /// ```
    pub fn parse(text: &str) -> Result<Self, RevocationError> {
        let values = crate::fields::read(text, REVOCATION_V1, &FIELDS)?;
        let [election, station, revokes, replacement, reason] = values;
        let field = |line, field, rule: &str| RevocationError::Field {
            line,
            field,
            rule: rule.to_owned(),
        };
        check_id(election).map_err(|rule| field(2, "election", rule))?;
        check_id(station).map_err(|rule| field(3, "station", rule))?;
        let revokes = parse_station_key(station, revokes, false)
            .map_err(|rule| field(4, "revokes", &rule))?;
        let replacement = if replacement == "none" {
            None
        } else {
            let key = parse_station_key(station, replacement, true)
                .map_err(|rule| field(5, "replacement", &rule))?;
            if key == revokes {
                return Err(field(5, "replacement", "must not be the key it replaces"));
            }
            Some(key)
        };
        if reason.len() > MAX_REASON_LEN {
            return Err(field(6, "reason", "longer than 1000 bytes"));
        }
        Ok(Self {
            election: election.to_owned(),
            station: station.to_owned(),
            revokes,
            replacement,
            reason: reason.to_owned(),
        })
    }

    /// The canonical text, ending in a newline; [`RevocationBody::parse`] of it gives back an
    /// equal body.
    pub fn to_text(&self) -> String {
        let replacement = self
            .replacement
            .map_or_else(|| "none".to_owned(), |k| k.to_vkey(&self.station));
        format!(
            "{REVOCATION_V1}\nelection: {}\nstation: {}\nrevokes: {}\nreplacement: {replacement}\nreason: {}\n",
            self.election,
            self.station,
            self.revokes.to_vkey(&self.station),
            self.reason
        )
    }
}

/// Reads a station's verifier key: well formed, named after the station, in canonical form
/// (lower-case key ID, canonical base64), and, where `usable`, a usable Ed25519 point.
fn parse_station_key(station: &str, vkey: &str, usable: bool) -> Result<StationKey, String> {
    let (name, key_id, public_key) = parse_vkey_parts(vkey).map_err(|e| e.to_string())?;
    if name != station {
        return Err(format!(
            "the key is named {name:?}; a station's key is named after the station ({station:?})"
        ));
    }
    if format_vkey(name, key_id, &public_key) != vkey {
        return Err(
            "must be in canonical form (lower-case key ID, canonical base64 with padding)"
                .to_owned(),
        );
    }
    if usable {
        NoteVerifier::from_public_key(name, &public_key).map_err(|e| e.to_string())?;
    }
    Ok(StationKey { key_id, public_key })
}

#[cfg(test)]
mod tests;
