//! Intake: from the bytes of a submitted note to a verdict, as pure functions.
//!
//! `intake(definition, history, bytes)` is [`check`] (stateless: envelope, body, binding to the
//! definition, signatures, every validation rule) followed by [`admit`] (against the station's
//! history: duplicates, replays, conflicts, amendments). The split lets a bulk intake run
//! [`check_batch`] on many cores (every signature verified strictly, one by one) and keep only
//! [`admit`] on the single writer.
//!
//! Outcomes:
//! - `Err(Rejection)`: the note cannot be accepted (forged, malformed, unknown station, replay,
//!   conflict…); nothing is stored.
//! - [`Verdict::Accepted`]: authentic and every error rule holds (warnings may be attached).
//! - [`Verdict::Quarantined`]: authentic but at least one error rule fails; it is stored and
//!   logged (it is an authentic submission), listed with **every** violated rule, and not counted.
//! - [`Verdict::Duplicate`]: the same note (or the same text) was accepted before; idempotent.
//!
//! Signers: a station's first protocol is signed by the station's own key, or, where a counting
//! centre keys the station's paper protocol, by an authority whose scope covers the station
//! (instead of the station: the station's board signed the paper, the centre's authority
//! vouches for the keyed copy). Either way the note names its signer and the log keeps it.
//!
//! Revisions: a station's first note is `urna/protocol/v1` revision 1. Any later revision is an
//! `urna/amendment/v1` with revision = current + 1, naming the current entry's hash in
//! `supersedes:`, signed by the station and co-signed by an authority whose scope covers the
//! station. The superseded entry stays in the store and the log, never overwritten.
//!
//! Decisions: an `urna/decision/v1` note ([`crate::decision`]) is signed by an authority whose
//! scope covers the station and names the station's current entry in `decides:`; it is stored
//! and logged like any entry (its [`Submission::decision`] says what it decides) and changes no
//! revision.
//!
//! Revocations: an `urna/revocation/v1` note ([`crate::revocation`]) revokes a station's key,
//! with a replacement or none. It is checked by [`check_revocation`] and admitted into the
//! [`StationKeys`] overlay, which [`check_keyed`] then checks every station signature against:
//! a note whose station signature is by a revoked key is refused (`key-revoked`: never stored,
//! so a lost key cannot take the station's revision), a note signed with the replacement is
//! the station's.

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

pub use decide::Decided;
pub use revoke::{Revocation, StationKeys, bind_revocation_unverified, check_revocation};

use crate::decision::{DecisionBody, DecisionError};
use crate::definition::{CandidateIdx, ContestIdx, Election, StationIdx, UnitIdx};
use crate::note::{self, KeyId, Note, NoteError};
use crate::protocol::{BodyError, BodyKind, ProtocolBody, hex};
use crate::revocation::{RevocationError, StationKey};
use crate::rules::{Builtin, ListValues, Scope, Severity, Values, Violation};

/// An authentic submission, bound to the definition and validated; not yet admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// SHA-256 of the note bytes: the entry hash.
    pub hash: [u8; 32],
    /// SHA-256 of the note text (what the signatures cover).
    pub text_hash: [u8; 32],
    /// Contest.
    pub contest: ContestIdx,
    /// Station.
    pub station: StationIdx,
    /// Revision.
    pub revision: u32,
    /// For an amendment, the entry it supersedes.
    pub supersedes: Option<[u8; 32]>,
    /// Named counts, in definition order.
    pub counts: Vec<u64>,
    /// Votes per list, in the contest's list order.
    pub votes: Vec<u64>,
    /// Preference votes of the candidates the protocol names, in its line order (lists by
    /// id, then candidate number). Lines for no candidate standing at the station are not
    /// here: they are violations of an error rule, so the protocol is quarantined.
    pub preferences: Vec<(CandidateIdx, u64)>,
    /// Every failed rule, errors first, then warnings, each in definition order.
    pub violations: Vec<Violation>,
    /// For an `urna/decision/v1` note, what it decides (then `revision` is 0 and the counts,
    /// votes, preferences and violations are empty); `None` for a protocol or amendment. Boxed
    /// so that the million protocols of a bulk intake carry one pointer, not the decision.
    pub decision: Option<Box<Decided>>,
    /// Whether the note carries a signature line by the station's key (verified, when the note
    /// went through [`check`]). An amendment without one is admitted only as the recount the
    /// commission ordered by a decision on the station's current entry.
    pub station_signed: bool,
    /// The `scan:` line of a protocol or amendment: the SHA-256 of the paper protocol's scan.
    pub scan: Option<[u8; 32]>,
}

impl Submission {
    /// Whether an error rule fails (the protocol is quarantined). Never for a decision.
    pub fn is_quarantined(&self) -> bool {
        self.violations
            .iter()
            .any(|v| v.severity == Severity::Error)
    }
}

/// The station's current state, as the history knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latest {
    /// Current revision.
    pub revision: u32,
    /// Entry hash of the current revision.
    pub hash: [u8; 32],
    /// Text hash of the current revision.
    pub text_hash: [u8; 32],
}

/// What intake needs to know of what was accepted before.
pub trait History {
    /// The current revision of a station's protocol in a contest.
    fn latest(&self, contest: ContestIdx, station: StationIdx) -> Option<Latest>;
    /// Whether an entry with this hash was accepted.
    fn contains(&self, hash: &[u8; 32]) -> bool;
    /// Whether a decision with this text hash (SHA-256 of the signed text) was accepted: the
    /// same decision under other signature bytes is the same decision, never a new one.
    fn contains_decision(&self, text_hash: &[u8; 32]) -> bool;
    /// The entry of the station whose latest decision ordered a recount, if any: the recount's
    /// amendment of that entry may then be signed by an authority without the station.
    fn recount_ordered(&self, _contest: ContestIdx, _station: StationIdx) -> Option<[u8; 32]> {
        None
    }
}

/// The outcome of admitting an authentic submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Stored and counted.
    Accepted,
    /// Stored and logged, not counted until an amendment fixes it.
    Quarantined,
    /// Already held; nothing changes.
    Duplicate,
}

/// Why a note was refused. Nothing of a refused note is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The signed-note envelope is malformed.
    #[error("note: {0}")]
    Note(#[from] NoteError),
    /// The body is malformed.
    #[error("body: {0}")]
    Body(#[from] BodyError),
    /// A decision's body is malformed.
    #[error("body: {0}")]
    DecisionBody(#[from] DecisionError),
    /// A decision without a valid signature by an authority whose scope covers the station.
    #[error(
        "station {station}: a decision needs a valid signature by an authority whose scope covers the station"
    )]
    DecisionAuthority {
        /// Station.
        station: String,
    },
    /// A revocation's body is malformed.
    #[error("body: {0}")]
    RevocationBody(#[from] RevocationError),
    /// A revocation without a valid signature by an authority whose scope covers the station.
    #[error(
        "station {station}: a revocation needs a valid signature by an authority whose scope covers the station"
    )]
    RevocationAuthority {
        /// Station.
        station: String,
    },
    /// A revocation of a key the station does not hold.
    #[error(
        "station {station}: field `revokes`: key {key_id} is not the station's key (neither its key in the definition nor the replacement a revocation gave it)"
    )]
    KeyNotHeld {
        /// Station.
        station: String,
        /// The key named.
        key_id: KeyId,
    },
    /// A second revocation of the same key.
    #[error(
        "station {station}: field `revokes`: key {key_id} was revoked already, at entry {index}"
    )]
    KeyAlreadyRevoked {
        /// Station.
        station: String,
        /// The key named.
        key_id: KeyId,
        /// Log index of the revocation that revoked it.
        index: u64,
    },
    /// A protocol or amendment signed by the station with a key revoked before it.
    #[error(
        "station {station}: signed with its key {key_id}, revoked at entry {index}: a note signed with a revoked key is refused; the station signs with its replacement key, or an authority over it keys the paper protocol"
    )]
    KeyRevoked {
        /// Station.
        station: String,
        /// The revoked key that signed.
        key_id: KeyId,
        /// Log index of the revocation that revoked it.
        index: u64,
    },
    /// A replacement that is a key the station lost before.
    #[error(
        "station {station}: field `replacement`: key {key_id} was revoked at entry {index} and cannot be given back"
    )]
    ReplacementRevoked {
        /// Station.
        station: String,
        /// The key named.
        key_id: KeyId,
        /// Log index of the revocation that revoked it.
        index: u64,
    },
    /// A decision on a station that has no entry in the contest.
    #[error(
        "station {station}: field `decides`: the station has no entry in this contest to decide on"
    )]
    NothingToDecide {
        /// Station.
        station: String,
    },
    /// A decision naming another entry than the station's current one.
    #[error(
        "station {station}: field `decides`: names sha256:{got}, but the station's current entry is sha256:{expected}"
    )]
    DecidesMismatch {
        /// Station.
        station: String,
        /// Named (hex).
        got: String,
        /// Current (hex).
        expected: String,
    },
    /// `election:` names another election.
    #[error("line {line}: field `election`: {got:?} is not this election ({expected:?})")]
    WrongElection {
        /// Line.
        line: usize,
        /// What the note says.
        got: String,
        /// This election.
        expected: String,
    },
    /// `contest:` names no contest of this election.
    #[error("line {line}: field `contest`: {got:?} is not a contest of this election")]
    UnknownContest {
        /// Line.
        line: usize,
        /// What the note says.
        got: String,
    },
    /// `station:` names no station of this election.
    #[error("line {line}: field `station`: {got:?} is not a station of this election")]
    UnknownStation {
        /// Line.
        line: usize,
        /// What the note says.
        got: String,
    },
    /// A count the definition does not name.
    #[error("station {station}: line {line}: field `{name}`: not a count of this election")]
    UnknownCount {
        /// Station.
        station: String,
        /// Line.
        line: usize,
        /// The name.
        name: String,
    },
    /// A count the definition names is missing.
    #[error("station {station}: field `{name}`: missing; every protocol states every count")]
    MissingCount {
        /// Station.
        station: String,
        /// The count.
        name: String,
    },
    /// A `votes:` line for a list not on this contest's ballot.
    #[error("station {station}: line {line}: field `votes {list}`: not a list of this contest")]
    UnknownList {
        /// Station.
        station: String,
        /// Line.
        line: usize,
        /// The list.
        list: String,
    },
    /// A list of the contest has no `votes:` line.
    #[error("station {station}: field `votes {list}`: missing; write `votes: {list} 0` for none")]
    MissingList {
        /// Station.
        station: String,
        /// The list.
        list: String,
    },
    /// The station's signature is missing or wrong (includes a note signed by another station).
    #[error("station {station}: {source}")]
    StationSignature {
        /// Station.
        station: String,
        /// What is wrong.
        source: note::SignatureError,
    },
    /// The station's key in the definition is not a usable Ed25519 key.
    #[error("station {station}: its key in the election definition is not a usable Ed25519 key")]
    StationKey {
        /// Station.
        station: String,
    },
    /// An amendment without a valid co-signature by an authority over the station.
    #[error(
        "station {station}: an amendment needs a valid co-signature by an authority whose scope covers the station"
    )]
    MissingAuthority {
        /// Station.
        station: String,
    },
    /// An authority's signature is present but wrong.
    #[error("station {station}: {source}")]
    AuthoritySignature {
        /// Station.
        station: String,
        /// What is wrong.
        source: note::SignatureError,
    },
    /// A first protocol with a revision other than 1.
    #[error("station {station}: field `revision`: a first protocol has revision 1, got {got}")]
    FirstRevision {
        /// Station.
        station: String,
        /// Its revision.
        got: u32,
    },
    /// An older revision than the one held.
    #[error(
        "station {station}: field `revision`: replay of revision {got}; revision {have} is already accepted"
    )]
    Replay {
        /// Station.
        station: String,
        /// Submitted revision.
        got: u32,
        /// Held revision.
        have: u32,
    },
    /// The same revision with different content.
    #[error(
        "station {station}: field `revision`: revision {revision} is already accepted with different content; a correction needs an amendment"
    )]
    Conflict {
        /// Station.
        station: String,
        /// The revision.
        revision: u32,
    },
    /// A later revision sent as a plain protocol.
    #[error(
        "station {station}: field `revision`: revision {got} supersedes accepted revision {have}; send it as urna/amendment/v1 co-signed by an authority"
    )]
    NeedsAmendment {
        /// Station.
        station: String,
        /// Submitted.
        got: u32,
        /// Held.
        have: u32,
    },
    /// An amendment for a station with nothing to amend.
    #[error("station {station}: no protocol is accepted yet, so there is nothing to amend")]
    NothingToAmend {
        /// Station.
        station: String,
    },
    /// An amendment whose revision is not the current one plus one.
    #[error("station {station}: field `revision`: an amendment of revision {have} must be revision {}, got {got}", have + 1)]
    RevisionGap {
        /// Station.
        station: String,
        /// Submitted.
        got: u32,
        /// Held.
        have: u32,
    },
    /// An amendment naming another entry than the current one.
    #[error(
        "station {station}: field `supersedes`: names sha256:{got}, but the current entry is sha256:{expected}"
    )]
    SupersedesMismatch {
        /// Station.
        station: String,
        /// Named (hex).
        got: String,
        /// Current (hex).
        expected: String,
    },
}

impl Rejection {
    /// The protocol field the refusal is about, when there is one (`station`, `revision`,
    /// `votes <list>`, a count's name…), for machine-readable errors.
    pub fn field(&self) -> Option<String> {
        Some(match self {
            Self::Note(e) => return note_field(e),
            Self::Body(e) => return body_field(e),
            Self::DecisionBody(e) => return decision_field(e),
            Self::RevocationBody(e) => return revocation_field(e),
            Self::RevocationAuthority { .. } => "authority signature".to_owned(),
            Self::KeyNotHeld { .. } | Self::KeyAlreadyRevoked { .. } => "revokes".to_owned(),
            Self::ReplacementRevoked { .. } => "replacement".to_owned(),
            Self::KeyRevoked { .. } => "station signature".to_owned(),
            Self::DecisionAuthority { .. } => "authority signature".to_owned(),
            Self::NothingToDecide { .. } | Self::DecidesMismatch { .. } => "decides".to_owned(),
            Self::WrongElection { .. } => "election".to_owned(),
            Self::UnknownContest { .. } => "contest".to_owned(),
            Self::UnknownStation { .. } | Self::StationKey { .. } => "station".to_owned(),
            Self::UnknownCount { name, .. } | Self::MissingCount { name, .. } => name.clone(),
            Self::UnknownList { list, .. } | Self::MissingList { list, .. } => {
                format!("votes {list}")
            }
            Self::StationSignature { .. } => "signature".to_owned(),
            Self::MissingAuthority { .. } | Self::AuthoritySignature { .. } => {
                "authority signature".to_owned()
            }
            Self::FirstRevision { .. }
            | Self::Replay { .. }
            | Self::Conflict { .. }
            | Self::NeedsAmendment { .. }
            | Self::RevisionGap { .. } => "revision".to_owned(),
            Self::NothingToAmend { .. } | Self::SupersedesMismatch { .. } => {
                "supersedes".to_owned()
            }
        })
    }

    /// A short stable code for machines (logs, HTTP bodies, metrics).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Note(_) => "malformed-note",
            Self::Body(_) | Self::DecisionBody(_) | Self::RevocationBody(_) => "malformed-body",
            Self::DecisionAuthority { .. } | Self::RevocationAuthority { .. } => "bad-authority",
            Self::KeyNotHeld { .. } => "key-not-held",
            Self::KeyRevoked { .. } => crate::revocation::KEY_REVOKED,
            Self::KeyAlreadyRevoked { .. } => "key-already-revoked",
            Self::ReplacementRevoked { .. } => "bad-replacement",
            Self::NothingToDecide { .. } | Self::DecidesMismatch { .. } => "bad-decides",
            Self::WrongElection { .. } => "wrong-election",
            Self::UnknownContest { .. } => "unknown-contest",
            Self::UnknownStation { .. } => "unknown-station",
            Self::UnknownCount { .. } | Self::MissingCount { .. } => "bad-count",
            Self::UnknownList { .. } | Self::MissingList { .. } => "bad-list",
            Self::StationSignature { .. } | Self::StationKey { .. } => "bad-signature",
            Self::MissingAuthority { .. } | Self::AuthoritySignature { .. } => "bad-authority",
            Self::FirstRevision { .. } | Self::RevisionGap { .. } => "bad-revision",
            Self::Replay { .. } => "replay",
            Self::Conflict { .. } => "conflict",
            Self::NeedsAmendment { .. } | Self::NothingToAmend { .. } => "needs-amendment",
            Self::SupersedesMismatch { .. } => "bad-supersedes",
        }
    }
}

/// Checks one note completely except against history, with every station holding its key in
/// the definition: for a log without revocations. A reader of a log that may hold some uses
/// [`check_keyed`].
///
/// # Errors
/// [`Rejection`] saying what is wrong and where.
pub fn check(election: &Election, bytes: &[u8]) -> Result<Submission, Rejection> {
    check_keyed(election, &StationKeys::new(), bytes)
}

/// Checks one note completely except against history, its station signature against the
/// station keys as the revocations logged before it left them: a note signed with a revoked
/// key is refused (`key-revoked`), one signed with a replacement key is the station's.
///
/// # Errors
/// [`Rejection`] saying what is wrong and where.
pub fn check_keyed(
    election: &Election,
    keys: &StationKeys,
    bytes: &[u8],
) -> Result<Submission, Rejection> {
    let p = prepare(election, keys, bytes)?;
    p.verify_each(election)?;
    Ok(p.submission)
}

/// [`check`] for many notes. Results are in input order and equal to what [`check`] gives
/// for each note.
pub fn check_batch(election: &Election, notes: &[&[u8]]) -> Vec<Result<Submission, Rejection>> {
    check_batch_keyed(election, &StationKeys::new(), notes)
}

/// [`check_keyed`] for many notes, each station signature verified on its own and strictly.
/// Results are in input order and equal to what [`check_keyed`] gives for each note.
///
/// Not one batch equation: Ed25519 batch verification (a random linear combination of the
/// signatures' equations) lets through, half the time and always the same way for the same
/// batch, a signature whose `R` carries a small-order component that strict verification
/// refuses (as `urna verify`, OpenSSL and Go refuse it). Admitted once, such a note could never
/// be taken out of the append-only log, and every later check of the log would fail on it; so
/// intake admits only what [`note::verify_raw`] accepts.
pub fn check_batch_keyed(
    election: &Election,
    keys: &StationKeys,
    notes: &[&[u8]],
) -> Vec<Result<Submission, Rejection>> {
    notes
        .iter()
        .map(|b| check_keyed(election, keys, b))
        .collect()
}

/// Admits an authentic submission against the station's history.
///
/// # Errors
/// [`Rejection`] for replays, conflicts and amendments that do not follow the current entry.
pub fn admit(
    election: &Election,
    history: &impl History,
    s: &Submission,
) -> Result<Verdict, Rejection> {
    if history.contains(&s.hash) {
        return Ok(Verdict::Duplicate);
    }
    if let Some(d) = &s.decision {
        if history.contains_decision(&s.text_hash) {
            return Ok(Verdict::Duplicate);
        }
        return decide::admit_decision(election, history, s, d);
    }
    let station = || election.stations[s.station.0 as usize].id.clone();
    match (history.latest(s.contest, s.station), s.supersedes) {
        (None, Some(_)) => return Err(Rejection::NothingToAmend { station: station() }),
        (None, None) if s.revision != 1 => {
            return Err(Rejection::FirstRevision {
                station: station(),
                got: s.revision,
            });
        }
        (None, None) => {}
        (Some(l), _) if s.revision < l.revision => {
            return Err(Rejection::Replay {
                station: station(),
                got: s.revision,
                have: l.revision,
            });
        }
        (Some(l), _) if s.revision == l.revision => {
            if s.text_hash == l.text_hash {
                return Ok(Verdict::Duplicate);
            }
            return Err(Rejection::Conflict {
                station: station(),
                revision: l.revision,
            });
        }
        (Some(l), None) => {
            return Err(Rejection::NeedsAmendment {
                station: station(),
                got: s.revision,
                have: l.revision,
            });
        }
        (Some(l), Some(supersedes)) => {
            if s.revision != l.revision + 1 {
                return Err(Rejection::RevisionGap {
                    station: station(),
                    got: s.revision,
                    have: l.revision,
                });
            }
            if supersedes != l.hash {
                return Err(Rejection::SupersedesMismatch {
                    station: station(),
                    got: hex(&supersedes),
                    expected: hex(&l.hash),
                });
            }
            // Without the station's signature, only as the recount a decision ordered.
            if !s.station_signed && history.recount_ordered(s.contest, s.station) != Some(l.hash) {
                let st = &election.stations[s.station.0 as usize];
                return Err(Rejection::StationSignature {
                    station: station(),
                    source: note::SignatureError::Missing {
                        name: st.id.clone(),
                        key_id: st.key_id,
                    },
                });
            }
        }
    }
    Ok(if s.is_quarantined() {
        Verdict::Quarantined
    } else {
        Verdict::Accepted
    })
}

/// [`check`] then [`admit`]: the whole intake decision for one note.
///
/// # Errors
/// [`Rejection`].
pub fn intake(
    election: &Election,
    history: &impl History,
    bytes: &[u8],
) -> Result<(Submission, Verdict), Rejection> {
    let s = check(election, bytes)?;
    let v = admit(election, history, &s)?;
    Ok((s, v))
}

/// The field a malformed note's refusal names: its signature block, or none for the note as
/// a whole.
fn note_field(e: &NoteError) -> Option<String> {
    match e {
        NoteError::NoSignatures
        | NoteError::BadSignatureLine { .. }
        | NoteError::DuplicateSignature { .. }
        | NoteError::TooManySignatures { .. } => Some("signature".to_owned()),
        _ => None,
    }
}

/// The field a malformed protocol body's refusal names (`type` for the first line).
fn body_field(e: &BodyError) -> Option<String> {
    match e {
        BodyError::UnknownType(_) => Some("type".to_owned()),
        BodyError::Missing { expected, .. } => Some((*expected).to_owned()),
        BodyError::Field { field, .. } | BodyError::Duplicate { field, .. } => Some(field.clone()),
        BodyError::Unexpected { .. } | BodyError::TooManyLines => None,
    }
}

/// The field a malformed decision body's refusal names (`type` for the first line).
fn decision_field(e: &DecisionError) -> Option<String> {
    match e {
        DecisionError::UnknownType(_) => Some("type".to_owned()),
        DecisionError::Missing { expected: f, .. } | DecisionError::Field { field: f, .. } => {
            Some((*f).to_owned())
        }
        DecisionError::Unexpected { .. } => None,
    }
}

/// The field a malformed revocation body's refusal names (`type` for the first line).
fn revocation_field(e: &RevocationError) -> Option<String> {
    match e {
        RevocationError::UnknownType(_) => Some("type".to_owned()),
        RevocationError::Missing { expected: f, .. } | RevocationError::Field { field: f, .. } => {
            Some((*f).to_owned())
        }
        RevocationError::Unexpected { .. } => None,
    }
}

/// SHA-256 of bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// SHA-256 of a note's bytes and of its text. The text is the start of the bytes (the
/// signatures follow it), so one pass hashes both: the text's state is finished on a copy and
/// the rest of the note continues from it.
fn note_hashes(bytes: &[u8], text: &[u8]) -> ([u8; 32], [u8; 32]) {
    match bytes.strip_prefix(text) {
        Some(rest) => {
            let mut h = Sha256::new();
            h.update(text);
            let text_hash = h.clone().finalize().into();
            h.update(rest);
            (h.finalize().into(), text_hash)
        }
        None => (sha256(bytes), sha256(text)),
    }
}

/// A parsed and validated note whose signatures are still to be checked.
struct Prepared {
    note: Note,
    submission: Submission,
    /// The station's signature and the key it names; `None` for a first protocol signed by an
    /// authority instead.
    station_signature: Option<(Vec<u8>, StationKey)>,
}

impl Prepared {
    fn station_name(&self, election: &Election) -> String {
        election.stations[self.submission.station.0 as usize]
            .id
            .clone()
    }

    fn verify_each(&self, election: &Election) -> Result<(), Rejection> {
        let Some((station_signature, station_key)) = &self.station_signature else {
            return self.verify_authorities(election);
        };
        let key = verifying_key(station_key).ok_or_else(|| Rejection::StationKey {
            station: self.station_name(election),
        })?;
        let st = &election.stations[self.submission.station.0 as usize];
        note::verify_raw(&key, self.note.text().as_bytes(), station_signature).map_err(
            |note::BadSignature| Rejection::StationSignature {
                station: st.id.clone(),
                source: note::SignatureError::Invalid {
                    name: st.id.clone(),
                    key_id: station_key.key_id,
                },
            },
        )?;
        self.verify_authorities(election)
    }

    /// Checks every authority signature the note carries: a line under an authority's name
    /// and key ID must verify even where none is needed, or the log would show that authority
    /// as a signer of a note it never signed. One is needed on an amendment (co-signature) and
    /// on a first protocol without the station's signature (signed by an authority instead);
    /// then at least one must be by an authority whose scope covers the station.
    fn verify_authorities(&self, election: &Election) -> Result<(), Rejection> {
        let amendment = self.submission.supersedes.is_some();
        let needed = amendment || self.station_signature.is_none();
        let decision = self.submission.decision.is_some();
        let unit = election.stations[self.submission.station.0 as usize].unit;
        let mut covered = false;
        for a in &election.authorities {
            if self
                .note
                .signature_by(a.key.name(), a.key.key_id())
                .is_none()
            {
                continue;
            }
            a.key
                .verify(&self.note)
                .map_err(|source| Rejection::AuthoritySignature {
                    station: self.station_name(election),
                    source,
                })?;
            covered |= election.unit_within(unit, a.scope);
        }
        if covered || !needed {
            Ok(())
        } else if decision {
            Err(Rejection::DecisionAuthority {
                station: self.station_name(election),
            })
        } else if amendment && self.station_signature.is_some() {
            Err(Rejection::MissingAuthority {
                station: self.station_name(election),
            })
        } else {
            // Neither the station nor an authority over it signed: the station's signature
            // is what is missing, as before authorities could sign first protocols.
            let st = &election.stations[self.submission.station.0 as usize];
            Err(Rejection::StationSignature {
                station: st.id.clone(),
                source: note::SignatureError::Missing {
                    name: st.id.clone(),
                    key_id: st.key_id,
                },
            })
        }
    }
}

fn verifying_key(key: &StationKey) -> Option<VerifyingKey> {
    VerifyingKey::from_bytes(&key.public_key)
        .ok()
        .filter(|k| !k.is_weak())
}

fn prepare(election: &Election, keys: &StationKeys, bytes: &[u8]) -> Result<Prepared, Rejection> {
    let note = Note::parse(bytes)?;
    if DecisionBody::is_decision(note.text()) {
        // Signed by an authority alone: `verify_authorities` checks it.
        let submission = decide::bind_decision(election, bytes, &note)?;
        return Ok(Prepared {
            note,
            submission,
            station_signature: None,
        });
    }
    let body = ProtocolBody::parse(note.text())?;
    let mut submission = bind_unverified(election, bytes, &note, &body)?;
    keys.mark(election, &note, &mut submission)?;
    let st = &election.stations[submission.station.0 as usize];
    // A first protocol may be signed by an authority over the station instead, and so may a
    // recount's amendment (which `admit` allows only after a decision ordered the recount).
    let key = if keys.touches(submission.station) {
        keys.signer(election, submission.station, &note)
            .map(revoke::Signer::key)
    } else {
        Some(StationKey {
            key_id: st.key_id,
            public_key: st.public_key,
        })
    };
    let station_signature = key.and_then(|k| {
        note.signature_by(&st.id, k.key_id)
            .map(|sig| (sig.signature.clone(), k))
    });
    Ok(Prepared {
        note,
        submission,
        station_signature,
    })
}

/// The election, contest and station a note's first lines name (lines 2, 3 and 4 of every
/// station-level body), bound to the definition.
pub(crate) fn bind_header(
    election: &Election,
    election_id: &str,
    contest: &str,
    station: &str,
) -> Result<(ContestIdx, StationIdx), Rejection> {
    if election_id != election.id {
        return Err(Rejection::WrongElection {
            line: 2,
            got: election_id.to_owned(),
            expected: election.id.clone(),
        });
    }
    let contest = election
        .contest(contest)
        .ok_or_else(|| Rejection::UnknownContest {
            line: 3,
            got: contest.to_owned(),
        })?;
    let station = election
        .station(station)
        .ok_or_else(|| Rejection::UnknownStation {
            line: 4,
            got: station.to_owned(),
        })?;
    Ok((contest, station))
}

/// Binds a parsed note to the definition and evaluates every rule, **without checking any
/// signature**: for re-deriving stored entries that were verified at intake, and for tools
/// that explain a note. Never use it to accept outside input; use [`check`].
///
/// # Errors
/// [`Rejection`] for a wrong election, unknown contest, station, count or list.
pub fn bind_unverified(
    election: &Election,
    bytes: &[u8],
    note: &Note,
    body: &ProtocolBody,
) -> Result<Submission, Rejection> {
    let (contest, station) = bind_header(election, &body.election, &body.contest, &body.station)?;
    let st = &election.stations[station.0 as usize];
    // Bind counts and votes to the definition's order.
    let mut counts = vec![None; election.counts.len()];
    for c in &body.counts {
        let k = election
            .count_position(&c.name)
            .ok_or_else(|| Rejection::UnknownCount {
                station: st.id.clone(),
                line: c.line,
                name: c.name.clone(),
            })?;
        counts[k] = Some(c.value);
    }
    let counts: Vec<u64> = counts
        .iter()
        .zip(&election.counts)
        .map(|(v, name)| {
            v.ok_or_else(|| Rejection::MissingCount {
                station: st.id.clone(),
                name: name.clone(),
            })
        })
        .collect::<Result<_, _>>()?;
    let ballot = &election.contests[contest.0 as usize].lists;
    let mut votes = vec![None; ballot.len()];
    for v in &body.votes {
        let k = ballot
            .iter()
            .position(|&l| election.lists[l].id == v.name)
            .ok_or_else(|| Rejection::UnknownList {
                station: st.id.clone(),
                line: v.line,
                list: v.name.clone(),
            })?;
        votes[k] = Some(v.value);
    }
    let votes: Vec<u64> = votes
        .iter()
        .zip(ballot)
        .map(|(v, &l)| {
            v.ok_or_else(|| Rejection::MissingList {
                station: st.id.clone(),
                list: election.lists[l].id.clone(),
            })
        })
        .collect::<Result<_, _>>()?;

    // Preference lines: bind each to its list's place on the ballot and to a candidate.
    let builtin = |b: Builtin| &election.builtin_rules[b as usize];
    let mut builtin_violations = Vec::new();
    let mut preferences = Vec::new();
    let mut sum_preferences = vec![0u64; ballot.len()];
    let mut positions = Vec::with_capacity(body.preferences.len());
    let ancestry: Vec<UnitIdx> = if body.preferences.is_empty() {
        Vec::new()
    } else {
        election.ancestry(st.unit).collect()
    };
    for lp in &body.preferences {
        let pos = ballot.iter().position(|&l| election.lists[l].id == lp.list);
        positions.push(pos);
        let mut hint = 0;
        for c in &lp.candidates {
            let line = || {
                format!(
                    "preferences {} {}:{} (line {})",
                    lp.list, c.number, c.votes, c.line
                )
            };
            let Some(k) = pos else {
                builtin_violations.push(builtin(Builtin::ListOnBallot).violation(format!(
                    "{}: list {} is not on the ballot of contest {}",
                    line(),
                    lp.list,
                    body.contest
                )));
                continue;
            };
            // At most 4096 lines of at most MAX_COUNT each: no overflow.
            sum_preferences[k] += c.votes;
            let list = ballot[k];
            match election.candidate_at(list, c.number, &ancestry, &mut hint) {
                Some(ci) => {
                    let cand = &election.candidates[ci.0 as usize];
                    if cand.withdrawn {
                        builtin_violations.push(builtin(Builtin::Withdrawn).violation(format!(
                            "{}: candidate {} {} ({}) has withdrawn",
                            line(),
                            lp.list,
                            c.number,
                            cand.name
                        )));
                    }
                    preferences.push((ci, c.votes));
                }
                None => {
                    let elsewhere = election.lists[list]
                        .candidates
                        .iter()
                        .any(|ci| election.candidates[ci.0 as usize].number == c.number);
                    let why = if elsewhere {
                        format!(
                            "candidate {} {} does not stand where station {} is",
                            lp.list, c.number, st.id
                        )
                    } else {
                        format!("list {} has no candidate {}", lp.list, c.number)
                    };
                    builtin_violations.push(
                        builtin(Builtin::CandidateKnown).violation(format!("{}: {why}", line())),
                    );
                }
            }
        }
    }

    // Every rule, per station, per list or per candidate; errors first.
    let values = Values {
        counts: &counts,
        sum_votes: votes.iter().sum(),
        station_registered: st.registered,
        list: None,
        candidate: None,
    };
    let list_values = |k: usize| ListValues {
        id: &election.lists[ballot[k]].id,
        votes: votes[k],
        sum_preferences: sum_preferences[k],
        marks: election.marks(contest, ballot[k], st.unit),
    };
    let mut violations: Vec<Violation> = Vec::new();
    for r in &election.rules {
        match r.scope {
            Scope::Station => violations.extend(r.evaluate(values, &election.counts)),
            Scope::List => {
                for k in 0..ballot.len() {
                    let v = Values {
                        list: Some(list_values(k)),
                        ..values
                    };
                    violations.extend(r.evaluate(v, &election.counts));
                }
            }
            Scope::Candidate => {
                for (lp, pos) in body.preferences.iter().zip(&positions) {
                    let Some(k) = *pos else { continue };
                    let list = list_values(k);
                    for c in &lp.candidates {
                        let v = Values {
                            list: Some(list),
                            candidate: Some((c.number, c.votes)),
                            ..values
                        };
                        violations.extend(r.evaluate(v, &election.counts));
                    }
                }
            }
        }
    }
    violations.extend(builtin_violations);
    violations.sort_by_key(|v| v.severity);
    // Held for as long as the submission is (a verifier's replay holds a million): room for
    // exactly the violations, not the four a first push reserves (240 bytes more a station).
    violations.shrink_to_fit();

    let supersedes = match &body.kind {
        BodyKind::Protocol => None,
        BodyKind::Amendment { supersedes, .. } => Some(*supersedes),
    };
    let (hash, text_hash) = note_hashes(bytes, note.text().as_bytes());
    let submission = Submission {
        hash,
        text_hash,
        contest,
        station,
        revision: body.revision,
        supersedes,
        counts,
        votes,
        preferences,
        violations,
        decision: None,
        station_signed: note.signature_by(&st.id, st.key_id).is_some(),
        scan: body.scan,
    };
    Ok(submission)
}

/// Parses a stored note and binds it with [`bind_unverified`], or, for a decision, binds it
/// to its station, **without checking any signature** (same caveat).
///
/// # Errors
/// [`Rejection`] for a malformed note or body, or one not of this election.
pub fn bind_note_unverified(election: &Election, bytes: &[u8]) -> Result<Submission, Rejection> {
    bind_note_keyed_unverified(election, &StationKeys::new(), bytes)
}

/// [`bind_note_unverified`] against the station keys as the revocations logged before the
/// note left them (whether the station signed it; refused for a revoked key), still
/// **without checking any signature** (same caveat).
///
/// # Errors
/// As [`bind_note_unverified`].
pub fn bind_note_keyed_unverified(
    election: &Election,
    keys: &StationKeys,
    bytes: &[u8],
) -> Result<Submission, Rejection> {
    let note = Note::parse(bytes)?;
    if DecisionBody::is_decision(note.text()) {
        return decide::bind_decision(election, bytes, &note);
    }
    let body = ProtocolBody::parse(note.text())?;
    let mut sub = bind_unverified(election, bytes, &note, &body)?;
    keys.mark(election, &note, &mut sub)?;
    Ok(sub)
}

mod decide;
mod revoke;

#[cfg(test)]
mod tests;
