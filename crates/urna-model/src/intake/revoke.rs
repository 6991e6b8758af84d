//! Intake of `urna/revocation/v1` notes and the station keys they change, in log order.
//!
//! [`check_revocation`] is stateless like [`super::check`]: the body, its binding to the
//! definition, and a valid signature by an authority whose scope covers the station.
//! [`StationKeys::admit`] then checks it against the revocations logged before it: the key
//! revoked must be the one the station holds (its key in the definition, or the replacement an
//! earlier revocation gave it), a key is revoked once, and a replacement must not be a key the
//! station lost before.
//!
//! [`StationKeys`] is the overlay every reader of the log builds in log order: intake checks
//! each station-signed note against it ([`super::check_keyed`]), and so do the replay of the
//! public results and `urna verify`. From a revocation's index on, a note whose station
//! signature is by the revoked key is refused ([`Rejection::KeyRevoked`], whatever else signs
//! it: whoever holds a lost key must not take the station's revision from its replacement),
//! and a note signed with the replacement key is the station's. Entries logged before it keep their status: each entry is judged by
//! the revocations with a lower index ([`StationKeys::before`]).

use super::{Rejection, Submission, Verdict, note_hashes};
use crate::definition::{Election, StationIdx};
use crate::note::{KeyId, Note};
use crate::revocation::{RevocationBody, StationKey};

/// A revocation checked on its own (body, definition, authority), ready for
/// [`StationKeys::admit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// SHA-256 of the note bytes: the entry hash.
    pub hash: [u8; 32],
    /// SHA-256 of the note text.
    pub text_hash: [u8; 32],
    /// The station whose key is revoked.
    pub station: StationIdx,
    /// The key revoked.
    pub revokes: StationKey,
    /// The station's key from now on, if the authority gave one.
    pub replacement: Option<StationKey>,
    /// Why, in words.
    pub reason: String,
}

/// Parses a revocation note and binds it to the definition, **without checking any
/// signature**: for re-deriving stored entries that were verified at intake. Never use it to
/// accept outside input; use [`check_revocation`].
///
/// # Errors
/// [`Rejection`] for a malformed note or body, or one not of this election.
pub fn bind_revocation_unverified(
    election: &Election,
    bytes: &[u8],
) -> Result<Revocation, Rejection> {
    let note = Note::parse(bytes)?;
    bind(election, bytes, &note)
}

fn bind(election: &Election, bytes: &[u8], note: &Note) -> Result<Revocation, Rejection> {
    let body = RevocationBody::parse(note.text())?;
    if body.election != election.id {
        return Err(Rejection::WrongElection {
            line: 2,
            got: body.election,
            expected: election.id.clone(),
        });
    }
    let station = election
        .station(&body.station)
        .ok_or_else(|| Rejection::UnknownStation {
            line: 3,
            got: body.station.clone(),
        })?;
    let (hash, text_hash) = note_hashes(bytes, note.text().as_bytes());
    Ok(Revocation {
        hash,
        text_hash,
        station,
        revokes: body.revokes,
        replacement: body.replacement,
        reason: body.reason,
    })
}

/// Checks a revocation note on its own: envelope, body, binding to the definition, and a
/// valid signature by an authority whose scope covers the station (every authority line the
/// note carries must verify, as on every other note).
///
/// # Errors
/// [`Rejection`] naming the field and the rule.
pub fn check_revocation(election: &Election, bytes: &[u8]) -> Result<Revocation, Rejection> {
    let note = Note::parse(bytes)?;
    let r = bind(election, bytes, &note)?;
    let st = &election.stations[r.station.0 as usize];
    let mut covered = false;
    for a in &election.authorities {
        if note.signature_by(a.key.name(), a.key.key_id()).is_none() {
            continue;
        }
        a.key
            .verify(&note)
            .map_err(|source| Rejection::AuthoritySignature {
                station: st.id.clone(),
                source,
            })?;
        covered |= election.unit_within(st.unit, a.scope);
    }
    if !covered {
        return Err(Rejection::RevocationAuthority {
            station: st.id.clone(),
        });
    }
    Ok(r)
}

/// The station keys as the revocations in the log change them, in log order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StationKeys {
    /// Every admitted revocation with its log index, in log order.
    revocations: Vec<(u64, Revocation)>,
}

/// How the station signature of a note stands against the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Signer {
    /// By the key the station holds.
    Current(StationKey),
    /// By a key revoked at this log index.
    Revoked(StationKey, u64),
}

impl Signer {
    pub(super) fn key(self) -> StationKey {
        match self {
            Self::Current(k) | Self::Revoked(k, _) => k,
        }
    }
}

impl StationKeys {
    /// No revocation: every station holds its key in the definition.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether no key is revoked.
    pub fn is_empty(&self) -> bool {
        self.revocations.is_empty()
    }

    /// Every admitted revocation with its log index, in log order.
    pub fn revocations(&self) -> impl Iterator<Item = (u64, &Revocation)> {
        self.revocations.iter().map(|(i, r)| (*i, r))
    }

    /// The keys as they stood before entry `index`: by these an entry at `index` is judged.
    pub fn before(&self, index: u64) -> Self {
        Self {
            revocations: self
                .revocations
                .iter()
                .filter(|(i, _)| *i < index)
                .cloned()
                .collect(),
        }
    }

    /// Whether a revocation names this station.
    pub fn touches(&self, station: StationIdx) -> bool {
        self.revocations.iter().any(|(_, r)| r.station == station)
    }

    /// The key the station holds: its key in the definition, unless revoked, then the
    /// replacement the last revocation gave (`None` if it gave none).
    pub fn current(&self, election: &Election, station: StationIdx) -> Option<StationKey> {
        let st = &election.stations[station.0 as usize];
        let mut key = Some(StationKey {
            key_id: st.key_id,
            public_key: st.public_key,
        });
        for (_, r) in self
            .revocations
            .iter()
            .filter(|(_, r)| r.station == station)
        {
            key = r.replacement;
        }
        key
    }

    /// The log index of the revocation of this key of the station, if it was revoked.
    pub fn revoked_at(&self, station: StationIdx, key_id: KeyId) -> Option<u64> {
        self.revocations
            .iter()
            .find(|(_, r)| r.station == station && r.revokes.key_id == key_id)
            .map(|(i, _)| *i)
    }

    /// The logged revocation that `r` repeats, with its index and note hash: the same note, or
    /// its signed text under other signature bytes (the same revocation either way).
    pub fn holder(&self, r: &Revocation) -> Option<(u64, [u8; 32])> {
        self.revocations
            .iter()
            .find(|(_, held)| held.hash == r.hash || held.text_hash == r.text_hash)
            .map(|(index, held)| (*index, held.hash))
    }

    /// Admits a checked revocation as entry `index`: the key it revokes must be the one the
    /// station holds, and its replacement no key the station lost before. The same revocation
    /// again (by its signed text, [`Self::holder`]) is a duplicate and changes nothing.
    ///
    /// # Errors
    /// [`Rejection::KeyNotHeld`], [`Rejection::KeyAlreadyRevoked`] or
    /// [`Rejection::ReplacementRevoked`]; the keys are unchanged.
    pub fn admit(
        &mut self,
        election: &Election,
        index: u64,
        r: &Revocation,
    ) -> Result<Verdict, Rejection> {
        if self.holder(r).is_some() {
            return Ok(Verdict::Duplicate);
        }
        let st = &election.stations[r.station.0 as usize];
        if let Some(at) = self.revoked_at(r.station, r.revokes.key_id) {
            return Err(Rejection::KeyAlreadyRevoked {
                station: st.id.clone(),
                key_id: r.revokes.key_id,
                index: at,
            });
        }
        if self.current(election, r.station) != Some(r.revokes) {
            return Err(Rejection::KeyNotHeld {
                station: st.id.clone(),
                key_id: r.revokes.key_id,
            });
        }
        if let Some(new) = r.replacement
            && let Some(at) = self.revoked_at(r.station, new.key_id)
        {
            return Err(Rejection::ReplacementRevoked {
                station: st.id.clone(),
                key_id: new.key_id,
                index: at,
            });
        }
        self.revocations.push((index, r.clone()));
        Ok(Verdict::Accepted)
    }

    /// The station signature a note carries, against these keys: by the key the station
    /// holds, else by a key revoked before; `None` if by neither (an authority may sign
    /// instead). Only the signature line is found here; it is verified by the caller.
    pub(super) fn signer(
        &self,
        election: &Election,
        station: StationIdx,
        note: &Note,
    ) -> Option<Signer> {
        let st = &election.stations[station.0 as usize];
        if let Some(k) = self.current(election, station)
            && note.signature_by(&st.id, k.key_id).is_some()
        {
            return Some(Signer::Current(k));
        }
        self.revocations
            .iter()
            .filter(|(_, r)| r.station == station)
            .find(|(_, r)| note.signature_by(&st.id, r.revokes.key_id).is_some())
            .map(|(i, r)| Signer::Revoked(r.revokes, *i))
    }

    /// Binds a station's protocol or amendment to these keys: whether the station signed it
    /// with the key it holds. Signatures are not checked here.
    ///
    /// # Errors
    /// [`Rejection::KeyRevoked`] for a note whose station signature is by a key revoked before
    /// it: whoever holds a lost key must not take the station's revision from the key that
    /// replaced it (nor from the authority that keys its paper protocol), so such a note is
    /// refused, never stored.
    pub(super) fn mark(
        &self,
        election: &Election,
        note: &Note,
        sub: &mut Submission,
    ) -> Result<(), Rejection> {
        if self.is_empty() || !self.touches(sub.station) || sub.decision.is_some() {
            return Ok(());
        }
        let signer = self.signer(election, sub.station, note);
        sub.station_signed = signer.is_some();
        match signer {
            Some(Signer::Revoked(key, index)) => Err(Rejection::KeyRevoked {
                station: election.stations[sub.station.0 as usize].id.clone(),
                key_id: key.key_id,
                index,
            }),
            _ => Ok(()),
        }
    }
}
