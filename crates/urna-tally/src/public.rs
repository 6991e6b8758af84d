//! The public results of an election as a pure function of its transparency log.
//!
//! Two parts:
//! - [`Replay`] reads the log's entries in index order from 0 (each entry is the exact bytes of
//!   one signed `urna/protocol/v1` or `urna/amendment/v1` note) and keeps, per contest and
//!   station, the current submission and its history, and the totals of every unit. It checks
//!   that the sequence is one intake could have produced: indices consecutive from 0, a
//!   station's first entry a protocol of revision 1, every later one an amendment of the next
//!   revision naming the current entry in `supersedes:`. Anything else is a [`ReplayError`]
//!   naming the entry, because a verifier replays the same entries and must be told where a log
//!   stops making sense.
//! - The render functions turn a replay and the checkpoint it stops at into the derived files
//!   of the public bundle ([`render`]): `v1/election.json`, the station index
//!   `v1/stations/<xx>.json`, `v1/results.json`, its slices for readers `v1/summary.json` and
//!   `v1/areas/<unit>.json`, `v1/quarantine.json`,
//!   `v1/seats/<contest>.json`, `v1/units/<unit>.json`, `csv/stations.csv`, `csv/units.csv`,
//!   `csv/preferences.csv` (open lists only), `README.txt`, `v1/shapes.json` (when the definition
//!   names unit shapes: [`crate::shapes`]), and the results page ([`WEB_FILES`]: `index.html` and `web/…`, embedded
//!   from the workspace's `web/` directory at build time, so every bundle carries the page of
//!   the build that wrote it and a verifier of the same version checks it byte for byte).
//!
//! Open lists (a contest with `preferences`) add, and only then, so that a closed-list bundle
//! is byte for byte what it would be without them: the contest's `preferences` rule and each
//! list's `candidates` in `v1/election.json`; a `preferences` object (list id → ballot number
//! → votes, lists in ballot order, numbers ascending, only candidates with votes) in every
//! totals object and in each station's current entry and revisions in the unit files; the
//! `elected` of each list in the seat table; and `csv/preferences.csv`. Where a list has
//! different candidates in different districts, a number names the candidate standing in the
//! unit; above the districts the votes of every candidate with that number are summed. A
//! station's entry shows the preference lines of its note that name a candidate (a line that
//! names none breaks a rule, and the violation quotes it).
//!
//! The station index lets a reader (the results page) find a station's unit without fetching
//! every station: the stations are split into 256 shards by the first byte of the SHA-256 of
//! the station id's UTF-8 bytes ([`station_shard`]), and `v1/stations/<xx>.json` (`xx` that
//! byte as two lower-case hex digits) lists the shard's stations sorted by id, each with its
//! unit (`urna/station-index/v2`; the unit's file is the `file` of the unit in
//! `v1/election.json`, not repeated for each station). Every shard is written, even an empty
//! one, so a missing file is never ambiguous. It depends on the definition only.
//!
//! Two derived files grow with the stations and are published only as their gzip
//! (`<file>.gz`, [`gz_only`]): the unit files (`v1/units/<unit>.json.gz`) and
//! `csv/stations.csv.gz`. [`render`] lists them under their plain names with their plain
//! bytes; the bundle writer compresses them, and a verifier compares what they inflate to.
//!
//! Not derived here, because they do not follow from the log and the definition alone: the
//! commission's `v1/keys.json` (its log key and witnesses, from its data directory) and the
//! NIST CDF export `cdf/election-report.json` (its `GeneratedDate` is a witness cosignature's
//! time; see [`crate::cdf`]).
//!
//! Everything is deterministic, byte for byte: JSON objects are written from structs and from
//! lists in definition order (never from hash maps), pretty-printed with two-space indents and
//! a final newline; CSV comes from the `csv` writer with `\n` line ends; percentages come from
//! [`percent`] (integers only). So the commission's publisher and an independent verifier that
//! replays the same entries against the same definition produce identical files.
//!
//! Unit file names: a unit id is used as is when it consists of `A-Z a-z 0-9 . _ -` and does
//! not start with `.`; otherwise every other byte, and a leading `.`, is written `%XX`
//! (upper-case hex), e.g. `AL/01` → `AL%2F01`. The encoding is injective (`%` itself is
//! encoded). The file name then contains a literal `%`, so a URL for it encodes that `%` again
//! (`AL%252F01.json.gz`), as for any file name; `v1/election.json` lists every unit's file path.
//!
//! Out of scope: reading the log (the caller passes entries), signatures of checkpoints and
//! the Merkle tree (`urna-tlog`), writing files (the bundle writer).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Serialize, Serializer};
use urna_model::decision::DecisionKind;
use urna_model::definition::{
    CandidateIdx, ContestIdx, Election, Gender, ListKind, Marks, StationIdx, UnitIdx,
};
use urna_model::genesis::{Genesis, GenesisError};
use urna_model::intake::{
    Rejection, StationKeys, Submission, bind_note_keyed_unverified, bind_note_unverified,
    bind_revocation_unverified, check_keyed, check_revocation, sha256,
};
use urna_model::note::{Note, format_vkey};
use urna_model::protocol::hex;
use urna_model::revocation::RevocationBody;
use urna_model::rotation::RotationBody;
use urna_model::rules::Severity;

use crate::seats::{self, ListId};
use crate::totals::{StationOutcome, Tally, TallyBuilder, TallyError, Totals, percent};

/// Why an entry cannot be replayed. Every variant names the entry's log index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// Entries must be applied in index order from 0.
    #[error("entry {index}: out of order; the next entry to replay is {expected}")]
    OutOfOrder {
        /// The index given.
        index: u64,
        /// The index expected.
        expected: u64,
    },
    /// The entry is not a note of this election (malformed note or body, wrong election,
    /// unknown contest, station, count or list; a bad signature when signatures are checked).
    #[error("entry {index}: {source}")]
    Entry {
        /// The entry.
        index: u64,
        /// What is wrong with it.
        source: Rejection,
    },
    /// A station's first entry in a contest is not a protocol of revision 1.
    #[error("entry {index}: station {station}: first entry has revision {got}; it must be 1")]
    FirstRevision {
        /// The entry.
        index: u64,
        /// The station.
        station: String,
        /// The revision it states.
        got: u32,
    },
    /// An amendment for a station that has no entry yet.
    #[error(
        "entry {index}: station {station}: an amendment, but the station has no entry to amend"
    )]
    NothingToAmend {
        /// The entry.
        index: u64,
        /// The station.
        station: String,
    },
    /// A second protocol (not an amendment) for a station that has one.
    #[error(
        "entry {index}: station {station}: a protocol of revision {got}, but the station already has revision {current}; later revisions must be amendments"
    )]
    NotAnAmendment {
        /// The entry.
        index: u64,
        /// The station.
        station: String,
        /// The revision it states.
        got: u32,
        /// The station's current revision.
        current: u32,
    },
    /// An amendment whose revision is not the current one plus one.
    #[error(
        "entry {index}: station {station}: amendment has revision {got}; the next revision is {expected}"
    )]
    RevisionGap {
        /// The entry.
        index: u64,
        /// The station.
        station: String,
        /// The revision it states.
        got: u32,
        /// The revision expected.
        expected: u32,
    },
    /// An amendment that names another entry than the station's current one.
    #[error(
        "entry {index}: station {station}: amendment supersedes sha256:{got}, but the current entry is sha256:{expected}"
    )]
    SupersedesMismatch {
        /// The entry.
        index: u64,
        /// The station.
        station: String,
        /// The hash it names (hex).
        got: String,
        /// The current entry's hash (hex).
        expected: String,
    },
    /// An amendment without the station's signature that is not the recount a decision
    /// ordered on the station's current entry.
    #[error(
        "entry {index}: station {station}: an amendment without the station's signature, but no decision ordered a recount of the current entry"
    )]
    UnorderedRecount {
        /// The entry.
        index: u64,
        /// The station.
        station: String,
    },
    /// A decision whose signed text an earlier entry of the station already holds: the same
    /// decision under other signature bytes, which intake takes as a duplicate and never logs.
    #[error(
        "entry {index}: station {station}: repeats the decision of entry {first} (the same signed text); intake never logs a decision twice"
    )]
    DecisionRepeated {
        /// The entry.
        index: u64,
        /// The station.
        station: String,
        /// The entry that holds the decision first.
        first: u64,
    },
    /// A decision on a station that has no entry in the contest.
    #[error(
        "entry {index}: station {station}: a decision, but the station has no entry to decide on"
    )]
    NothingToDecide {
        /// The entry.
        index: u64,
        /// The station.
        station: String,
    },
    /// A decision that names another entry than the station's current one.
    #[error(
        "entry {index}: station {station}: decision on sha256:{got}, but the current entry is sha256:{expected}"
    )]
    DecidesMismatch {
        /// The entry.
        index: u64,
        /// The station.
        station: String,
        /// The hash it names (hex).
        got: String,
        /// The current entry's hash (hex).
        expected: String,
    },
    /// An `urna/key-rotation/v1` entry that is malformed, or (checked) not signed by both
    /// keys it names, or that does not hand over the key the previous rotation handed over to.
    #[error("entry {index}: {problem}")]
    Rotation {
        /// The entry.
        index: u64,
        /// What is wrong with it.
        problem: String,
    },
    /// A revocation that repeats one logged before.
    #[error("entry {index}: it repeats the revocation at entry {held}")]
    RepeatedRevocation {
        /// The entry.
        index: u64,
        /// The entry it repeats.
        held: u64,
    },
    /// Entry 0 is not a genesis committing to this election's definition, or a later entry
    /// is a genesis.
    #[error("entry {index}: {problem}")]
    Genesis {
        /// The entry.
        index: u64,
        /// What is wrong.
        problem: String,
    },
    /// A submission whose contest or station index is not of this election.
    #[error("entry {index}: contest or station index is not of this election")]
    NotThisElection {
        /// The entry.
        index: u64,
    },
    /// The totals overflowed (impossible within the protocol's limits). The replay must be
    /// discarded after this error.
    #[error("entry {index}: {source}")]
    Tally {
        /// The entry.
        index: u64,
        /// The tally error.
        source: TallyError,
    },
}

/// Why the public files could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The checkpoint note is not a C2SP checkpoint.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// The checkpoint is of another log than this election's.
    #[error("checkpoint origin {got:?} is not this election's log {expected:?}")]
    WrongOrigin {
        /// Origin in the checkpoint.
        got: String,
        /// `urna/<election id>`.
        expected: String,
    },
    /// The replay did not stop at the checkpoint's size.
    #[error("the checkpoint covers {checkpoint} entries but {replayed} were replayed")]
    NotAtCheckpoint {
        /// Size in the checkpoint.
        checkpoint: u64,
        /// Entries replayed.
        replayed: u64,
    },
    /// The definition files do not hash to the election's digest.
    #[error(
        "definition files: sha256(election.toml ‖ {stations_file}) is {got}, but the election was loaded with {expected}"
    )]
    DefinitionMismatch {
        /// The stations file name.
        stations_file: String,
        /// Digest of the files given.
        got: String,
        /// The election's digest.
        expected: String,
    },
    /// The definition's unit shapes cannot be rendered (`v1/shapes.json`).
    #[error("shapes {file}: {reason}")]
    Shapes {
        /// The shapes file the definition names.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The CSV or JSON writer failed (out of memory, in practice).
    #[error("{file}: {reason}")]
    Write {
        /// The file being rendered.
        file: &'static str,
        /// The writer's error.
        reason: String,
    },
}

/// Whether an entry was counted or quarantined when it was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryStatus {
    /// Every error rule held.
    Accepted,
    /// An error rule failed: stored and logged, not counted.
    Quarantined,
}

impl EntryStatus {
    /// `accepted` or `quarantined`, as written in the public files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Quarantined => "quarantined",
        }
    }
}

/// One entry in a station's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revision {
    /// Log index.
    pub index: u64,
    /// The revision it states.
    pub revision: u32,
    /// Accepted or quarantined.
    pub status: EntryStatus,
    /// SHA-256 of the entry (the note bytes).
    pub entry: [u8; 32],
}

impl Revision {
    /// The entry at log index `index` that states `sub`.
    fn of(index: u64, sub: &Submission) -> Self {
        Self {
            index,
            revision: sub.revision,
            status: if sub.is_quarantined() {
                EntryStatus::Quarantined
            } else {
                EntryStatus::Accepted
            },
            entry: sub.hash,
        }
    }
}

/// A decision of the commission in a station's history (an `urna/decision/v1` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionStep {
    /// Log index of the decision.
    pub index: u64,
    /// SHA-256 of the decision's note bytes.
    pub entry: [u8; 32],
    /// SHA-256 of the decision's signed text: the same text is the same decision.
    pub text: [u8; 32],
    /// SHA-256 of the entry it decides on.
    pub decides: [u8; 32],
    /// Accept, recount or annul.
    pub kind: DecisionKind,
    /// Why, in words.
    pub reason: String,
}

/// A station's state in one contest: its current submission and every entry it made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationState {
    current: Submission,
    /// Log index of the current entry, the last of the history (its revision, status and hash
    /// are the current submission's: 8 bytes a station, not a 48-byte copy).
    index: u64,
    /// What only a station with more than one entry, or with a decision, has. Most stations
    /// make one entry and get no decision: they carry one pointer here, not three vectors and
    /// a one-entry history (about 80 bytes a station, 80 MB at a million).
    earlier: Option<Box<Earlier>>,
}

/// The part of a [`StationState`] beyond its current entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Earlier {
    /// Every entry of the station, oldest first, the current one last; empty while the
    /// station has made one entry (then the history is [`StationState::latest`] alone).
    history: Vec<Revision>,
    /// Every decision on the station's entries, oldest first.
    decisions: Vec<DecisionStep>,
    /// The preference votes of each superseded entry (`history` but the last), kept apart so
    /// that the current entry's are held once (in `current`) and closed lists hold nothing.
    superseded_preferences: Vec<Vec<(CandidateIdx, u64)>>,
}

impl StationState {
    /// The current (latest) submission.
    pub fn current(&self) -> &Submission {
        &self.current
    }

    /// Every entry of the station, oldest first; the last one is the current one.
    pub fn history(&self) -> Cow<'_, [Revision]> {
        match &self.earlier {
            Some(more) if !more.history.is_empty() => Cow::Borrowed(&more.history),
            _ => Cow::Owned(vec![self.latest()]),
        }
    }

    /// How many entries the station made (the length of [`StationState::history`]).
    pub fn history_len(&self) -> usize {
        self.earlier
            .as_ref()
            .map_or(1, |more| more.history.len().max(1))
    }

    /// The preference votes of entry `i` of [`StationState::history`], as bound to candidates
    /// (empty for closed lists, and for `i` out of range).
    pub fn preferences_of(&self, i: usize) -> &[(CandidateIdx, u64)] {
        if i + 1 == self.history_len() {
            &self.current.preferences
        } else {
            self.earlier
                .as_ref()
                .and_then(|more| more.superseded_preferences.get(i))
                .map_or(&[][..], Vec::as_slice)
        }
    }

    /// Every decision on the station's entries, oldest first.
    pub fn decisions(&self) -> &[DecisionStep] {
        self.earlier
            .as_ref()
            .map_or(&[][..], |more| more.decisions.as_slice())
    }

    /// The latest decision on the current entry, if any: it says how the entry counts.
    pub fn decision(&self) -> Option<DecisionKind> {
        self.decisions()
            .last()
            .filter(|d| d.decides == self.current.hash)
            .map(|d| d.kind)
    }

    /// The station's outcome in the totals: its current entry under the latest decision on it.
    pub fn outcome(&self) -> StationOutcome<'_> {
        StationOutcome::decided(&self.current, self.decision())
    }

    /// Whether the station counts in the totals.
    pub fn is_counted(&self) -> bool {
        self.outcome().is_counted()
    }

    /// The station's status as the public files write it: `accepted` (counted, also when a
    /// decision accepted a quarantined entry), `quarantined`, `recount` (ordered, pending its
    /// amendment) or `annulled`.
    pub fn status(&self) -> &'static str {
        match self.decision() {
            Some(DecisionKind::Accept) => EntryStatus::Accepted.as_str(),
            Some(DecisionKind::Recount) => "recount",
            Some(DecisionKind::Annul) => "annulled",
            None => self.latest().status.as_str(),
        }
    }

    /// The current entry.
    pub fn latest(&self) -> Revision {
        Revision::of(self.index, &self.current)
    }
}

/// Replays a log's entries and keeps the results current.
#[derive(Debug, Clone)]
pub struct Replay {
    applied: u64,
    /// The station keys as the revocations applied so far changed them, in log order.
    keys: StationKeys,
    /// The log key rotations applied so far, with their indices, in log order.
    rotations: Vec<(u64, RotationBody)>,
    contests: Vec<ContestState>,
    /// Stations of each unit (only leaf units have any), in definition order.
    by_unit: Vec<Vec<StationIdx>>,
}

#[derive(Debug, Clone)]
struct ContestState {
    builder: TallyBuilder,
    stations: Vec<Option<StationState>>,
    /// Warning rule id → (stations whose current submission fails it, message).
    warnings: BTreeMap<String, (u64, String)>,
}

impl Replay {
    /// An empty replay: no entry applied, nothing reported.
    ///
    /// # Errors
    /// [`TallyError::Overflow`] if the registers overflow.
    pub fn new(e: &Election) -> Result<Self, TallyError> {
        let contests = (0..e.contests.len())
            .map(|c| {
                // Definitions hold at most u16::MAX contests (checked at load).
                let c = ContestIdx(u16::try_from(c).unwrap_or(u16::MAX));
                Ok(ContestState {
                    builder: TallyBuilder::new(e, c)?,
                    stations: vec![None; e.stations.len()],
                    warnings: BTreeMap::new(),
                })
            })
            .collect::<Result<_, TallyError>>()?;
        let mut by_unit = vec![Vec::new(); e.units.len()];
        for (i, s) in e.stations.iter().enumerate() {
            // Definitions hold at most u32::MAX stations (checked at load).
            by_unit[s.unit.0 as usize].push(StationIdx(u32::try_from(i).unwrap_or(u32::MAX)));
        }
        Ok(Self {
            applied: 0,
            keys: StationKeys::new(),
            rotations: Vec::new(),
            contests,
            by_unit,
        })
    }

    /// Number of entries applied: the index of the next one.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Applies entry `index` (the note bytes as stored in the log). Signatures are **not**
    /// checked: use it for entries that were verified at intake, or use
    /// [`Replay::apply_verified`].
    ///
    /// # Errors
    /// [`ReplayError`] naming the entry; the replay is unchanged, except after
    /// [`ReplayError::Tally`].
    pub fn apply(&mut self, e: &Election, index: u64, note: &[u8]) -> Result<(), ReplayError> {
        self.expect_index(index)?;
        if index == 0 {
            return self.apply_genesis(e, note).map(|_| ());
        }
        if urna_model::audit::is_audit(note) {
            return self.apply_audit(index);
        }
        if urna_model::rotation::is_rotation(note) {
            return self.apply_rotation(index, note, false);
        }
        if is_revocation(note) {
            return self.apply_revocation(e, index, note, false);
        }
        let sub = bind_note_keyed_unverified(e, &self.keys, note)
            .map_err(|source| ReplayError::Entry { index, source })?;
        self.apply_submission(e, index, sub)
    }

    /// The station keys as the revocations applied so far left them: by these the next entry
    /// is judged.
    pub fn keys(&self) -> &StationKeys {
        &self.keys
    }

    /// Applies entry `index`, an `urna/revocation/v1` note: it must revoke the key the station
    /// holds as the entries before it left the keys ([`StationKeys::admit`]); from here on a
    /// note signed with that key is inadmissible (intake refuses it, `key-revoked`) and one
    /// signed with its replacement is the station's. With `verified`, its authority signature is checked
    /// ([`check_revocation`]), as intake does.
    ///
    /// # Errors
    /// [`ReplayError::Entry`] with the model's refusal (malformed, key not held, revoked
    /// already, replacement revoked before); [`ReplayError::RepeatedRevocation`].
    pub fn apply_revocation(
        &mut self,
        e: &Election,
        index: u64,
        note: &[u8],
        verified: bool,
    ) -> Result<(), ReplayError> {
        self.expect_index(index)?;
        let entry = |source| ReplayError::Entry { index, source };
        let r = if verified {
            check_revocation(e, note)
        } else {
            bind_revocation_unverified(e, note)
        }
        .map_err(entry)?;
        match self.keys.admit(e, index, &r).map_err(entry)? {
            urna_model::intake::Verdict::Duplicate => {
                let held = self.keys.holder(&r).map_or(index, |(i, _)| i);
                Err(ReplayError::RepeatedRevocation { index, held })
            }
            _ => {
                self.applied += 1;
                Ok(())
            }
        }
    }

    /// The log key rotations applied so far (`urna/key-rotation/v1`), with their indices, in
    /// log order.
    pub fn rotations(&self) -> &[(u64, RotationBody)] {
        &self.rotations
    }

    /// Applies entry `index`, an `urna/key-rotation/v1` note: the results do not change; the
    /// rotation is kept ([`Replay::rotations`]). It must hand over the key the previous
    /// rotation handed over to, not to a key an earlier rotation retired, and name its own
    /// index as its `size` (its `root` is the tree holder's check); with `verified`, both keys it names must have signed it.
    /// Whether the first one hands over the key the verifier trusts is the verifier's check.
    ///
    /// # Errors
    /// [`ReplayError::Rotation`].
    pub fn apply_rotation(
        &mut self,
        index: u64,
        note: &[u8],
        verified: bool,
    ) -> Result<(), ReplayError> {
        self.expect_index(index)?;
        let problem = |problem: String| ReplayError::Rotation { index, problem };
        let body = if verified {
            RotationBody::check(note)
        } else {
            RotationBody::parse_note(note)
        }
        .map_err(|e| problem(e.to_string()))?;
        if let Some((at, prev)) = self.rotations.last()
            && (prev.origin != body.origin || prev.new != body.old)
        {
            return Err(problem(format!(
                "key rotation: its old key {} is not the key entry {at} handed over to ({})",
                body.old.to_vkey(&body.origin),
                prev.new.to_vkey(&prev.origin)
            )));
        }
        // The rotation names the tree it follows: its `size` is its own index. Its `root` is
        // checked by whoever holds the tree (`urna verify`, the store), as the replay has none.
        if body.size != index {
            return Err(problem(format!(
                "key rotation: field `size` is {}; it must be the rotation entry's own index \
                 ({index}), the size of the tree it follows",
                body.size
            )));
        }
        if let Some((at, _)) = self.rotations.iter().find(|(_, r)| r.old == body.new) {
            return Err(problem(format!(
                "key rotation: field `new`: {} is retired (entry {at} rotated away from it); a \
                 rotation back to a retired key is refused",
                body.new.to_vkey(&body.origin)
            )));
        }
        self.rotations.push((index, body));
        self.applied += 1;
        Ok(())
    }

    /// Applies entry `index`, an `urna/audit/v1` note: an audit does not change the results,
    /// so only the index advances (the audit is checked by `urna-audit`'s trail).
    ///
    /// # Errors
    /// [`ReplayError::OutOfOrder`].
    pub fn apply_audit(&mut self, index: u64) -> Result<(), ReplayError> {
        self.expect_index(index)?;
        self.applied += 1;
        Ok(())
    }

    /// Applies entry `index` as [`bind_entry`] (or [`bind_parallel`]) bound it: a note that
    /// did not bind because it is an audit note only advances the index
    /// ([`Replay::apply_audit`]); any other binding error is returned.
    ///
    /// # Errors
    /// As [`Replay::apply_submission`], or the binding error.
    pub fn apply_bound(
        &mut self,
        e: &Election,
        index: u64,
        note: &[u8],
        bound: Result<Submission, ReplayError>,
    ) -> Result<(), ReplayError> {
        match bound {
            Err(_) if urna_model::audit::is_audit(note) => self.apply_audit(index),
            Err(_) if is_revocation(note) => self.apply_revocation(e, index, note, false),
            Err(_) if urna_model::rotation::is_rotation(note) => {
                self.apply_rotation(index, note, false)
            }
            // Bound without the keys: a station a revocation touched is bound again against
            // the keys as they stand before this entry.
            Ok(sub) if sub.decision.is_none() && self.keys.touches(sub.station) => {
                let sub = bind_note_keyed_unverified(e, &self.keys, note)
                    .map_err(|source| ReplayError::Entry { index, source })?;
                self.apply_submission(e, index, sub)
            }
            bound => self.apply_submission(e, index, bound?),
        }
    }

    /// Applies entry 0, which must be the genesis committing to `e`'s definition, and returns
    /// it. Its signature (the log key's) is **not** checked here: a verifier checks it with the
    /// log key it trusts.
    ///
    /// # Errors
    /// [`ReplayError::Genesis`] if the entry is not this election's genesis;
    /// [`ReplayError::OutOfOrder`] if entries were applied already.
    pub fn apply_genesis(&mut self, e: &Election, note: &[u8]) -> Result<Genesis, ReplayError> {
        self.expect_index(0)?;
        let genesis =
            parse_genesis(note).map_err(|problem| ReplayError::Genesis { index: 0, problem })?;
        genesis.check(e).map_err(|err| ReplayError::Genesis {
            index: 0,
            problem: err.to_string(),
        })?;
        self.applied = 1;
        Ok(genesis)
    }

    /// [`Replay::apply`], also checking the station's signature and, for an amendment, the
    /// authority's co-signature, exactly as intake does.
    ///
    /// # Errors
    /// As [`Replay::apply`]; a bad signature is [`ReplayError::Entry`].
    pub fn apply_verified(
        &mut self,
        e: &Election,
        index: u64,
        note: &[u8],
    ) -> Result<(), ReplayError> {
        self.expect_index(index)?;
        if index == 0 {
            return self.apply_genesis(e, note).map(|_| ());
        }
        if urna_model::audit::is_audit(note) {
            return self.apply_audit(index);
        }
        if urna_model::rotation::is_rotation(note) {
            return self.apply_rotation(index, note, true);
        }
        if is_revocation(note) {
            return self.apply_revocation(e, index, note, true);
        }
        let sub = check_keyed(e, &self.keys, note)
            .map_err(|source| ReplayError::Entry { index, source })?;
        self.apply_submission(e, index, sub)
    }

    /// Applies entry `index` already bound with [`bind_entry`] (so that binding can run on
    /// several threads while entries are applied in order).
    ///
    /// # Errors
    /// As [`Replay::apply`].
    pub fn apply_submission(
        &mut self,
        e: &Election,
        index: u64,
        sub: Submission,
    ) -> Result<(), ReplayError> {
        self.expect_index(index)?;
        if index == 0 {
            return Err(ReplayError::Genesis {
                index,
                problem: "entry 0 must be the genesis, not a protocol".into(),
            });
        }
        let station_id = e
            .stations
            .get(sub.station.0 as usize)
            .map(|s| s.id.clone())
            .ok_or(ReplayError::NotThisElection { index })?;
        let c = self
            .contests
            .get_mut(sub.contest.0 as usize)
            .ok_or(ReplayError::NotThisElection { index })?;
        let slot = &mut c.stations[sub.station.0 as usize];
        if let Some(d) = &sub.decision {
            let Some(state) = slot.as_mut() else {
                return Err(ReplayError::NothingToDecide {
                    index,
                    station: station_id,
                });
            };
            if d.decides != state.current.hash {
                return Err(ReplayError::DecidesMismatch {
                    index,
                    station: station_id,
                    got: hex(&d.decides),
                    expected: hex(&state.current.hash),
                });
            }
            if let Some(first) = state.decisions().iter().find(|d| d.text == sub.text_hash) {
                return Err(ReplayError::DecisionRepeated {
                    index,
                    station: station_id,
                    first: first.index,
                });
            }
            let tally_err = |source| ReplayError::Tally { index, source };
            c.builder.remove(e, &state.outcome()).map_err(tally_err)?;
            let more = state.earlier.get_or_insert_with(Box::default);
            more.decisions.push(DecisionStep {
                index,
                entry: sub.hash,
                text: sub.text_hash,
                decides: d.decides,
                kind: d.kind,
                reason: d.reason.clone(),
            });
            c.builder.add(e, &state.outcome()).map_err(tally_err)?;
            self.applied += 1;
            return Ok(());
        }
        match (slot.as_ref(), sub.supersedes) {
            (None, None) if sub.revision == 1 => {}
            (None, None) => {
                return Err(ReplayError::FirstRevision {
                    index,
                    station: station_id,
                    got: sub.revision,
                });
            }
            (None, Some(_)) => {
                return Err(ReplayError::NothingToAmend {
                    index,
                    station: station_id,
                });
            }
            (Some(cur), None) => {
                return Err(ReplayError::NotAnAmendment {
                    index,
                    station: station_id,
                    got: sub.revision,
                    current: cur.current.revision,
                });
            }
            (Some(cur), Some(supersedes)) => {
                let expected = cur.current.revision.saturating_add(1);
                if sub.revision != expected {
                    return Err(ReplayError::RevisionGap {
                        index,
                        station: station_id,
                        got: sub.revision,
                        expected,
                    });
                }
                if supersedes != cur.current.hash {
                    return Err(ReplayError::SupersedesMismatch {
                        index,
                        station: station_id,
                        got: hex(&supersedes),
                        expected: hex(&cur.current.hash),
                    });
                }
                if !sub.station_signed && cur.decision() != Some(DecisionKind::Recount) {
                    return Err(ReplayError::UnorderedRecount {
                        index,
                        station: station_id,
                    });
                }
            }
        }
        let tally_err = |source| ReplayError::Tally { index, source };
        let latest = Revision::of(index, &sub);
        // A first entry needs nothing beyond `latest`; an amendment moves the station's
        // history, decisions and superseded preferences into `earlier`.
        let mut earlier = None;
        if let Some(old) = slot.take() {
            c.builder.remove(e, &old.outcome()).map_err(tally_err)?;
            count_warnings(&mut c.warnings, &old.current, false);
            let old_latest = old.latest();
            let mut more = old.earlier.unwrap_or_default();
            if more.history.is_empty() {
                more.history.push(old_latest);
            }
            more.history.push(latest);
            more.superseded_preferences.push(old.current.preferences);
            earlier = Some(more);
        }
        c.builder
            .add(e, &StationOutcome::of(&sub))
            .map_err(tally_err)?;
        count_warnings(&mut c.warnings, &sub, true);
        *slot = Some(StationState {
            current: sub,
            index,
            earlier,
        });
        self.applied += 1;
        Ok(())
    }

    /// The totals of a contest.
    ///
    /// # Panics
    /// If `contest` is not a contest of the election the replay was made for.
    pub fn tally(&self, contest: ContestIdx) -> &Tally {
        self.contests[contest.0 as usize].builder.tally()
    }

    /// A station's state in a contest; `None` if it has not reported.
    ///
    /// # Panics
    /// If `contest` or `station` is not of the election the replay was made for.
    pub fn station(&self, contest: ContestIdx, station: StationIdx) -> Option<&StationState> {
        self.contests[contest.0 as usize].stations[station.0 as usize].as_ref()
    }

    /// The stations of a contest whose current submission is quarantined, in definition
    /// order.
    ///
    /// # Panics
    /// If `contest` is not of the election the replay was made for.
    pub fn quarantined(
        &self,
        contest: ContestIdx,
    ) -> impl Iterator<Item = (StationIdx, &StationState)> + '_ {
        self.contests[contest.0 as usize]
            .stations
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let s = s.as_ref().filter(|s| !s.is_counted())?;
                Some((StationIdx(u32::try_from(i).unwrap_or(u32::MAX)), s))
            })
    }

    /// Plausibility warnings of a contest: rule id → (stations whose current submission fails
    /// it, the rule's message).
    ///
    /// # Panics
    /// If `contest` is not of the election the replay was made for.
    pub fn warnings(&self, contest: ContestIdx) -> &BTreeMap<String, (u64, String)> {
        &self.contests[contest.0 as usize].warnings
    }

    /// The stations of a unit, in definition order (empty unless it is a leaf).
    ///
    /// # Panics
    /// If `unit` is not of the election the replay was made for.
    pub fn stations_in(&self, unit: UnitIdx) -> &[StationIdx] {
        &self.by_unit[unit.0 as usize]
    }

    fn expect_index(&self, index: u64) -> Result<(), ReplayError> {
        if index == self.applied {
            Ok(())
        } else {
            Err(ReplayError::OutOfOrder {
                index,
                expected: self.applied,
            })
        }
    }
}

/// Whether a log entry is an `urna/revocation/v1` note (its text's first line).
pub fn is_revocation(note: &[u8]) -> bool {
    note.split(|&b| b == b'\n')
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
        .is_some_and(RevocationBody::is_revocation)
}

/// Parses a genesis entry (an `urna/genesis/v1` signed note), without checking signatures.
///
/// # Errors
/// What is malformed, as text.
pub fn parse_genesis(note: &[u8]) -> Result<Genesis, String> {
    let parsed = Note::parse(note).map_err(|e| format!("genesis: {e}"))?;
    Genesis::parse(parsed.text()).map_err(|e| format!("genesis: {e}"))
}

/// Parses entry `index` and binds it to the definition, evaluating every rule, **without
/// checking signatures** (see [`urna_model::intake::bind_unverified`]).
///
/// # Errors
/// [`ReplayError::Entry`] naming the index and what is wrong.
pub fn bind_entry(e: &Election, index: u64, note: &[u8]) -> Result<Submission, ReplayError> {
    bind_note_unverified(e, note).map_err(|source| ReplayError::Entry { index, source })
}

/// Binds entries `first…` to the definition with [`bind_entry`] on `threads` threads,
/// returning the results in input order (then apply them in order with
/// [`Replay::apply_submission`]).
pub fn bind_parallel(
    e: &Election,
    first: u64,
    notes: &[Vec<u8>],
    threads: usize,
) -> Vec<Result<Submission, ReplayError>> {
    let per = notes.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = notes
            .chunks(per)
            .enumerate()
            .map(|(k, part)| {
                let start = first + (k * per) as u64;
                s.spawn(move || {
                    (start..)
                        .zip(part)
                        .map(|(i, n)| bind_entry(e, i, n))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        // Binding never panics on any input (it is fuzzed); if it did, that is a bug, and the
        // panic is passed on as if it had happened on this thread.
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Adds (or, with `add` false, removes) a submission's plausibility warnings to a per-rule
/// count: rule id → (stations flagged, message). The replay and the store's live tally share it.
pub fn count_warnings(warnings: &mut BTreeMap<String, (u64, String)>, sub: &Submission, add: bool) {
    for v in sub
        .violations
        .iter()
        .filter(|v| v.severity == Severity::Warning)
    {
        if add {
            warnings
                .entry(v.rule.clone())
                .or_insert_with(|| (0, v.message.clone()))
                .0 += 1;
        } else if let Some(w) = warnings.get_mut(&v.rule) {
            w.0 = w.0.saturating_sub(1);
            if w.0 == 0 {
                warnings.remove(&v.rule);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering.

/// The SHA-256 of each definition file, published as content-addressed blobs
/// (`blob/sha256/<hex>`). [`Election::digest`] is the SHA-256 of both files concatenated
/// (`election.toml` then the stations file), which is what a genesis entry commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionFiles {
    /// SHA-256 of `election.toml`.
    pub election_toml: [u8; 32],
    /// SHA-256 of the stations file.
    pub stations: [u8; 32],
    /// The bytes of the unit shapes file, when the definition names one
    /// ([`DefinitionFiles::with_shapes`]); `v1/shapes.json` is rendered from them.
    pub shapes: Option<Vec<u8>>,
}

impl DefinitionFiles {
    /// Hashes the two files' bytes and checks that together they are the definition `e` was
    /// loaded from.
    ///
    /// # Errors
    /// [`RenderError::DefinitionMismatch`] if they are not.
    pub fn new(e: &Election, election_toml: &[u8], stations: &[u8]) -> Result<Self, RenderError> {
        // The genesis hashes the same two files the same way: one place for the rule.
        let g = Genesis::of(e, election_toml, stations).map_err(|err| match err {
            GenesisError::FilesDiffer {
                stations_file,
                got,
                expected,
            } => RenderError::DefinitionMismatch {
                stations_file,
                got,
                expected,
            },
            other => RenderError::DefinitionMismatch {
                stations_file: e.stations_file.clone(),
                got: other.to_string(),
                expected: hex(&e.digest),
            },
        })?;
        Ok(Self {
            election_toml: g.election_toml,
            stations: g.stations,
            shapes: None,
        })
    }

    /// Adds the bytes of the shapes file the definition names, checked against its SHA-256.
    ///
    /// # Errors
    /// [`RenderError::Shapes`] if the definition names no shapes or the bytes differ.
    pub fn with_shapes(mut self, e: &Election, bytes: Vec<u8>) -> Result<Self, RenderError> {
        let Some(shapes) = &e.shapes else {
            return Err(RenderError::Shapes {
                file: String::new(),
                reason: "the definition names no shapes file".into(),
            });
        };
        shapes.check(&bytes).map_err(|reason| RenderError::Shapes {
            file: shapes.file.clone(),
            reason,
        })?;
        self.shapes = Some(bytes);
        Ok(self)
    }
}

/// The fields of a C2SP checkpoint note that the results quote, with the note's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// The log's origin line.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The root hash, base64 as written in the checkpoint.
    pub root_hash: String,
    /// The whole signed note (text, blank line, signature and cosignature lines).
    pub note: String,
}

impl CheckpointInfo {
    /// Reads a checkpoint note (C2SP tlog-checkpoint: origin, decimal size, base64 root hash).
    /// Signatures are not checked here; the log's and witnesses' keys are `urna-tlog`'s concern.
    ///
    /// # Errors
    /// [`RenderError::Checkpoint`] naming what is malformed.
    pub fn parse(note: &[u8]) -> Result<Self, RenderError> {
        let bad = |m: String| RenderError::Checkpoint(m);
        let parsed = Note::parse(note).map_err(|e| bad(e.to_string()))?;
        let mut lines = parsed.text().lines();
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(bad("origin, size and root hash lines are required".into()));
        };
        let canonical = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size = size
            .parse::<u64>()
            .ok()
            .filter(|_| canonical)
            .ok_or_else(|| bad(format!("line 2: size {size:?} is not a canonical decimal")))?;
        // Base64 of 32 bytes: 43 characters of the standard alphabet and one `=`.
        let base64 = root.len() == 44
            && root.ends_with('=')
            && root.as_bytes()[..43]
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'));
        if origin.is_empty() || !base64 {
            return Err(bad(
                "line 1 must be the origin, line 3 a base64 SHA-256 root hash".into(),
            ));
        }
        let text = String::from_utf8(note.to_vec()).map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root_hash: root.to_owned(),
            note: text,
        })
    }
}

/// Path of `v1/election.json`.
pub const ELECTION_JSON: &str = "v1/election.json";
/// Path of `v1/results.json`.
pub const RESULTS_JSON: &str = "v1/results.json";
/// Path of `v1/summary.json`.
pub const SUMMARY_JSON: &str = "v1/summary.json";
/// Path of `v1/quarantine.json`.
pub const QUARANTINE_JSON: &str = "v1/quarantine.json";
/// Path of `csv/stations.csv`.
pub const STATIONS_CSV: &str = "csv/stations.csv";
/// Path of `csv/units.csv`.
pub const UNITS_CSV: &str = "csv/units.csv";
/// Path of `csv/preferences.csv`, written when a contest has preferences.
pub const PREFERENCES_CSV: &str = "csv/preferences.csv";
/// Path of `README.txt`.
pub const README_TXT: &str = "README.txt";
/// Path of `v1/keys.json`, the commission's log and witness keys (`urna/keys/v1`). Not
/// rendered here: it comes from the commission's data directory, not from the log.
pub const KEYS_JSON: &str = "v1/keys.json";
/// Path of the results page.
pub const INDEX_HTML: &str = "index.html";
/// The station index's path pattern, as `v1/election.json` names it.
pub const STATION_INDEX_PATTERN: &str = "v1/stations/{shard}.json";
/// How a station's shard is found, as `v1/election.json` says it.
pub const STATION_SHARD_RULE: &str =
    "first byte of SHA-256 of the station id, two lowercase hex digits";
/// Number of station index shards (`v1/stations/00.json` … `ff.json`).
pub const STATION_SHARDS: usize = 256;

/// The results page, as (bundle path, bytes): `index.html` at the bundle root and its
/// scripts and style sheet under `web/`, embedded from the workspace's `web/` directory.
pub const WEB_FILES: &[(&str, &[u8])] = &[
    (
        INDEX_HTML,
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/index.html")),
    ),
    (
        "web/app.js",
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/app.js")),
    ),
    (
        "web/verify.js",
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/verify.js")),
    ),
    (
        "web/decisions.js",
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../web/decisions.js"
        )),
    ),
    (
        "web/audit.js",
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/audit.js")),
    ),
    (
        "web/forensics.js",
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../web/forensics.js"
        )),
    ),
    (
        "web/i18n.js",
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/i18n.js")),
    ),
    (
        "web/map.js",
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/map.js")),
    ),
    (
        "web/names.js",
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/names.js")),
    ),
    (
        "web/style.css",
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/style.css")),
    ),
];

/// The station index shard of a station id: the first byte of the SHA-256 of its UTF-8 bytes.
///
/// ```
/// use urna_tally::public::{station_index_path, station_shard};
/// // SHA-256("PS-0000001") = f529b11c…
/// assert_eq!(station_index_path(station_shard("PS-0000001")), "v1/stations/f5.json");
/// ```
pub fn station_shard(id: &str) -> u8 {
    sha256(id.as_bytes())[0]
}

/// The bundle path of a station index shard: `v1/stations/<xx>.json`.
pub fn station_index_path(shard: u8) -> String {
    format!("v1/stations/{shard:02x}.json")
}

/// The station's verifier key string (`id+hex8+base64`), as in the stations file (canonical
/// form).
pub fn station_vkey(e: &Election, s: StationIdx) -> String {
    let st = &e.stations[s.0 as usize];
    format_vkey(&st.id, st.key_id, &st.public_key)
}

/// Every derived file of the bundle, as (relative path, bytes), in a fixed order: election,
/// the 256 station index shards, results, summary, areas, quarantine, seats, the unit files in definition
/// order, the CSV files (`csv/preferences.csv` only with open lists), the README, the results
/// page ([`WEB_FILES`]).
/// The checkpoint must be the one the replay stopped at (same size, this election's origin).
///
/// # Errors
/// [`RenderError`] if the checkpoint is malformed or does not match the replay.
pub fn render(
    e: &Election,
    files: &DefinitionFiles,
    replay: &Replay,
    checkpoint: &[u8],
) -> Result<Vec<(String, Vec<u8>)>, RenderError> {
    let cp = checked_checkpoint(e, replay, checkpoint)?;
    let mut out = vec![(ELECTION_JSON.to_owned(), render_election(e, files)?)];
    out.extend(render_station_index(e)?);
    out.push((RESULTS_JSON.to_owned(), render_results(e, replay, &cp)?));
    out.push((SUMMARY_JSON.to_owned(), render_summary(e, replay, &cp)?));
    out.extend(render_areas(e, replay, &cp)?);
    out.push((QUARANTINE_JSON.to_owned(), render_quarantine(e, replay)?));
    out.extend(render_seats(e, replay)?);
    for u in units_with_files(e, replay) {
        out.push((
            unit_path(&e.units[u.0 as usize].id),
            render_unit(e, replay, u)?,
        ));
    }
    out.push((STATIONS_CSV.to_owned(), render_stations_csv(e, replay)?));
    out.push((UNITS_CSV.to_owned(), render_units_csv(e, replay)?));
    if let Some(csv) = render_preferences_csv(e, replay)? {
        out.push((PREFERENCES_CSV.to_owned(), csv));
    }
    out.push((README_TXT.to_owned(), render_readme(e, &cp)));
    if let Some(shapes) = crate::shapes::render_shapes(e, files)? {
        out.push((crate::shapes::SHAPES_JSON.to_owned(), shapes));
    }
    out.extend(web_files());
    Ok(out)
}

/// [`WEB_FILES`] as owned (path, bytes) pairs.
pub fn web_files() -> impl Iterator<Item = (String, Vec<u8>)> {
    WEB_FILES
        .iter()
        .map(|(path, bytes)| ((*path).to_owned(), bytes.to_vec()))
}

/// The station index: all [`STATION_SHARDS`] files `v1/stations/<xx>.json`, in shard order,
/// each listing its stations sorted by id with their unit (see the module docs). A pure function of the definition.
///
/// # Errors
/// [`RenderError::Write`] if serialisation fails.
pub fn render_station_index(e: &Election) -> Result<Vec<(String, Vec<u8>)>, RenderError> {
    let mut shards: Vec<Vec<usize>> = vec![Vec::new(); STATION_SHARDS];
    for (i, st) in e.stations.iter().enumerate() {
        shards[usize::from(station_shard(&st.id))].push(i);
    }
    let mut out = Vec::with_capacity(STATION_SHARDS);
    for (shard, mut members) in (0..=u8::MAX).zip(shards) {
        members.sort_unstable_by(|&a, &b| e.stations[a].id.cmp(&e.stations[b].id));
        let doc = StationIndexDoc {
            format: "urna/station-index/v2",
            election: &e.id,
            stations: members
                .iter()
                .map(|&i| {
                    let st = &e.stations[i];
                    let u = st.unit.0 as usize;
                    StationIndexEntryDoc {
                        id: &st.id,
                        unit: &e.units[u].id,
                    }
                })
                .collect(),
        };
        out.push((
            station_index_path(shard),
            to_json_compact("v1/stations/<shard>.json", &doc)?,
        ));
    }
    Ok(out)
}

/// Parses the checkpoint and checks it is this election's log at the replay's size.
///
/// # Errors
/// [`RenderError`] if it is malformed, of another log, or of another size.
pub fn checked_checkpoint(
    e: &Election,
    replay: &Replay,
    checkpoint: &[u8],
) -> Result<CheckpointInfo, RenderError> {
    let cp = CheckpointInfo::parse(checkpoint)?;
    let expected = e.log_origin();
    if cp.origin != expected {
        return Err(RenderError::WrongOrigin {
            got: cp.origin,
            expected,
        });
    }
    if cp.size != replay.applied() {
        return Err(RenderError::NotAtCheckpoint {
            checkpoint: cp.size,
            replayed: replay.applied(),
        });
    }
    Ok(cp)
}

/// The units that get a `v1/units/<id>.json` file: those with stations (the leaves), in
/// definition order.
pub fn units_with_files(e: &Election, replay: &Replay) -> Vec<UnitIdx> {
    (0..e.units.len())
        .filter_map(|u| u32::try_from(u).ok().map(UnitIdx))
        .filter(|&u| !replay.stations_in(u).is_empty())
        .collect()
}

/// The file name (without `.json`) of a unit id; see the module docs for the rule.
///
/// ```
/// use urna_tally::public::unit_file_name;
/// assert_eq!(unit_file_name("D01-M002"), "D01-M002");
/// assert_eq!(unit_file_name("AL/01:x"), "AL%2F01%3Ax");
/// assert_eq!(unit_file_name(".hidden"), "%2Ehidden");
/// ```
pub fn unit_file_name(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for (i, b) in id.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-') || (b == b'.' && i > 0);
        if plain {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The path under which [`render`] lists a unit's file: `v1/units/<file name>.json`. The
/// bundle publishes it only compressed, at [`unit_published_path`] ([`gz_only`]).
pub fn unit_path(id: &str) -> String {
    format!("v1/units/{}.json", unit_file_name(id))
}

/// The bundle path of a unit's file as published: `v1/units/<file name>.json.gz`, the gzip
/// (RFC 1952) of the bytes [`render_unit`] gives, and the `file` `v1/election.json` names.
pub fn unit_published_path(id: &str) -> String {
    published_path(&unit_path(id)).into_owned()
}

/// Suffix of a file published only compressed ([`gz_only`]).
pub const GZ_SUFFIX: &str = ".gz";

/// Whether the derived file `path` (as [`render`] lists it) is published only as its gzip
/// (RFC 1952) `<path>.gz`, with no plain copy: the unit files (`v1/units/…`) and
/// `csv/stations.csv`, which grow with the number of stations (together about two thirds of
/// a million-station bundle if kept plain too, see docs/ARCHITECTURE.md). Every other derived
/// file is published plain (with a precompressed copy beside it when that saves bytes).
///
/// ```
/// use urna_tally::public::{gz_only, published_path};
/// assert!(gz_only("v1/units/D01-M001.json"));
/// assert!(gz_only("csv/stations.csv"));
/// assert!(!gz_only("v1/results.json"));
/// assert_eq!(published_path("csv/stations.csv"), "csv/stations.csv.gz");
/// assert_eq!(published_path("v1/results.json"), "v1/results.json");
/// ```
pub fn gz_only(path: &str) -> bool {
    path == STATIONS_CSV || (path.starts_with("v1/units/") && path.ends_with(".json"))
}

/// Where the derived file `path` is published: `<path>.gz` if it is [`gz_only`], else `path`.
pub fn published_path(path: &str) -> Cow<'_, str> {
    if gz_only(path) {
        Cow::Owned(format!("{path}{GZ_SUFFIX}"))
    } else {
        Cow::Borrowed(path)
    }
}

/// `v1/election.json`: the election, its contests, lists, counts and units, the definition's
/// digest and the blobs holding the definition files, and the log's origin.
///
/// # Errors
/// [`RenderError::Write`] if serialisation fails.
pub fn render_election(e: &Election, files: &DefinitionFiles) -> Result<Vec<u8>, RenderError> {
    let blob = |role, name: &str, sha: &[u8; 32]| BlobDoc {
        role,
        name: name.to_owned(),
        sha256: hex(sha),
        path: format!("blob/sha256/{}", hex(sha)),
    };
    let list = |l: usize, open: bool| {
        let l = &e.lists[l];
        ListDoc {
            id: &l.id,
            name: &l.name,
            kind: match l.kind {
                ListKind::Party => "party",
                ListKind::Coalition => "coalition",
                ListKind::Independent => "independent",
                ListKind::Other => "other",
            },
            community: l.community.as_deref(),
            short: &l.short,
            colour: l.colour.to_string(),
            names: &l.names,
            candidates: open.then(|| {
                l.candidates
                    .iter()
                    .map(|ci| {
                        let c = &e.candidates[ci.0 as usize];
                        CandidateDoc {
                            number: c.number,
                            name: &c.name,
                            gender: c.gender.map(|g| match g {
                                Gender::Female => "f",
                                Gender::Male => "m",
                            }),
                            withdrawn: c.withdrawn,
                            unit: c.unit.map(|u| e.units[u.0 as usize].id.as_str()),
                        }
                    })
                    .collect()
            }),
        }
    };
    let mut stations_below = vec![0u64; e.units.len()];
    let mut has_stations = vec![false; e.units.len()];
    let mut has_children = vec![false; e.units.len()];
    for u in &e.units {
        if let Some(p) = u.parent {
            has_children[p.0 as usize] = true;
        }
    }
    for s in &e.stations {
        has_stations[s.unit.0 as usize] = true;
        for u in e.ancestry(s.unit) {
            stations_below[u.0 as usize] += 1;
        }
    }
    let doc = ElectionDoc {
        format: "urna/election/v1",
        id: &e.id,
        name: &e.name,
        date: e.date.as_deref(),
        provenance: e.provenance.as_deref(),
        definition: DefinitionDoc {
            sha256: hex(&e.digest),
            covers: "SHA-256 of election.toml followed by the stations file, byte for byte",
            files: {
                let mut f = vec![
                    blob("election definition", "election.toml", &files.election_toml),
                    blob("stations", &e.stations_file, &files.stations),
                ];
                if let Some(s) = &e.shapes {
                    f.push(blob("unit shapes", &s.file, &s.sha256));
                }
                f
            },
        },
        shapes: e.shapes.as_ref().map(|_| crate::shapes::SHAPES_JSON),
        log: LogDoc {
            origin: e.log_origin(),
            checkpoint: "checkpoint",
            tiles: "tile/",
            entries: "tile/entries/",
        },
        authorities: e
            .authorities
            .iter()
            .map(|a| AuthorityDoc {
                name: &a.name,
                scope: &e.units[a.scope.0 as usize].id,
                key: a.key.to_vkey(),
            })
            .collect(),
        station_index: StationIndexRefDoc {
            path: STATION_INDEX_PATTERN,
            shard: STATION_SHARD_RULE,
        },
        counts: &e.counts,
        contests: e
            .contests
            .iter()
            .map(|c| ContestDoc {
                id: &c.id,
                name: &c.name,
                lists: c
                    .lists
                    .iter()
                    .map(|&l| list(l, c.preferences.is_some()))
                    .collect(),
                preferences: c.preferences.map(|p| PreferenceRuleDoc {
                    marks: match p.marks {
                        Marks::AtMost(n) => MarksDoc::AtMost(n),
                        Marks::All => MarksDoc::All("all"),
                    },
                }),
            })
            .collect(),
        units: e
            .units
            .iter()
            .enumerate()
            .map(|(i, u)| UnitDoc {
                id: &u.id,
                name: &u.name,
                names: &u.names,
                level: &u.level,
                parent: u.parent.map(|p| e.units[p.0 as usize].id.as_str()),
                depth: u.depth,
                stations: stations_below[i],
                file: has_stations[i].then(|| unit_published_path(&u.id)),
                area: has_children[i].then(|| area_path(&u.id)),
            })
            .collect(),
        stations: e.stations.len(),
    };
    to_json(ELECTION_JSON, &doc)
}

/// `v1/results.json`: the checkpoint the results are of, and per contest the national totals,
/// turnout, reporting progress, warnings and the totals of every unit.
///
/// # Errors
/// [`RenderError::NotAtCheckpoint`] if the replay is not at the checkpoint's size;
/// [`RenderError::Write`] if serialisation fails.
pub fn render_results(
    e: &Election,
    replay: &Replay,
    cp: &CheckpointInfo,
) -> Result<Vec<u8>, RenderError> {
    results_doc(e, replay, cp, true)
}

/// `v1/summary.json` (`urna/summary/v1`): `v1/results.json` without the totals of every unit,
/// so a reader (the results page, on a phone) gets the national totals, seats and warnings and
/// the checkpoint they belong to in a few kilobytes whatever the number of units; the units'
/// totals are in `v1/areas/<unit>.json`.
///
/// # Errors
/// As [`render_results`].
pub fn render_summary(
    e: &Election,
    replay: &Replay,
    cp: &CheckpointInfo,
) -> Result<Vec<u8>, RenderError> {
    results_doc(e, replay, cp, false)
}

fn results_doc(
    e: &Election,
    replay: &Replay,
    cp: &CheckpointInfo,
    with_units: bool,
) -> Result<Vec<u8>, RenderError> {
    if cp.size != replay.applied() {
        return Err(RenderError::NotAtCheckpoint {
            checkpoint: cp.size,
            replayed: replay.applied(),
        });
    }
    let contests = contest_indices(e)
        .map(|c| {
            let t = replay.tally(c);
            let contest = &e.contests[c.0 as usize];
            ContestResultsDoc {
                id: &contest.id,
                name: &contest.name,
                seats: seats_doc(e, c, t),
                national: totals_doc(e, c, &t.units[0]),
                warnings: replay
                    .warnings(c)
                    .iter()
                    .map(|(rule, (stations, message))| WarningDoc {
                        rule,
                        message,
                        stations: *stations,
                    })
                    .collect(),
                units: with_units.then(|| {
                    e.units
                        .iter()
                        .zip(&t.units)
                        .map(|(u, tot)| UnitTotalsDoc {
                            unit: &u.id,
                            totals: totals_doc(e, c, tot),
                        })
                        .collect()
                }),
            }
        })
        .collect();
    let doc = ResultsDoc {
        format: if with_units {
            "urna/results/v1"
        } else {
            "urna/summary/v1"
        },
        election: &e.id,
        checkpoint: CheckpointDoc {
            origin: &cp.origin,
            size: cp.size,
            root_hash: &cp.root_hash,
            note: &cp.note,
        },
        contests,
    };
    to_json(
        if with_units {
            RESULTS_JSON
        } else {
            SUMMARY_JSON
        },
        &doc,
    )
}

/// The units that get a `v1/areas/<id>.json` file: those with child units, in definition
/// order.
pub fn units_with_children(e: &Election) -> Vec<UnitIdx> {
    let mut has = vec![false; e.units.len()];
    for u in &e.units {
        if let Some(p) = u.parent {
            has[p.0 as usize] = true;
        }
    }
    (0..e.units.len())
        .filter(|&u| has[u])
        .filter_map(|u| u32::try_from(u).ok().map(UnitIdx))
        .collect()
}

/// The bundle path of a unit's area file: `v1/areas/<file name>.json`.
pub fn area_path(id: &str) -> String {
    format!("v1/areas/{}.json", unit_file_name(id))
}

/// `v1/areas/<id>.json` (`urna/area/v1`) for every unit with child units: its totals and its
/// children's, per contest, and the checkpoint (size and root) they are of. With
/// `v1/summary.json` they are what the results page reads to drill down, a few kilobytes per
/// level instead of the totals of every unit in `v1/results.json`.
///
/// # Errors
/// [`RenderError::NotAtCheckpoint`] if the replay is not at the checkpoint's size;
/// [`RenderError::Write`] if serialisation fails.
pub fn render_areas(
    e: &Election,
    replay: &Replay,
    cp: &CheckpointInfo,
) -> Result<Vec<(String, Vec<u8>)>, RenderError> {
    if cp.size != replay.applied() {
        return Err(RenderError::NotAtCheckpoint {
            checkpoint: cp.size,
            replayed: replay.applied(),
        });
    }
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); e.units.len()];
    for (i, u) in e.units.iter().enumerate() {
        if let Some(p) = u.parent {
            children[p.0 as usize].push(i);
        }
    }
    units_with_children(e)
        .into_iter()
        .map(|unit| {
            let u = &e.units[unit.0 as usize];
            let mut path: Vec<&str> = e
                .ancestry(unit)
                .map(|a| e.units[a.0 as usize].id.as_str())
                .collect();
            path.reverse();
            let doc = AreaDoc {
                format: "urna/area/v1",
                election: &e.id,
                checkpoint: CheckpointRefDoc {
                    size: cp.size,
                    root_hash: &cp.root_hash,
                },
                unit: UnitRefDoc {
                    id: &u.id,
                    name: &u.name,
                    level: &u.level,
                    path,
                },
                contests: contest_indices(e)
                    .map(|c| {
                        let t = replay.tally(c);
                        AreaContestDoc {
                            id: &e.contests[c.0 as usize].id,
                            totals: totals_doc(e, c, t.unit(unit)),
                            children: children[unit.0 as usize]
                                .iter()
                                .map(|&k| UnitTotalsDoc {
                                    unit: &e.units[k].id,
                                    totals: totals_doc(e, c, &t.units[k]),
                                })
                                .collect(),
                        }
                    })
                    .collect(),
            };
            Ok((area_path(&u.id), to_json("v1/areas/<unit>.json", &doc)?))
        })
        .collect()
}

/// `v1/units/<id>.json` (`urna/unit/v2`, published only as its gzip `….json.gz`,
/// [`gz_only`]): a unit's totals and every station in it with its current entry and, when it made more than one or one was decided on, its history, per
/// contest (a station without `history` has made the one entry `current` shows). Depends only on the unit's own stations, so a publisher may keep the
/// file of a unit none of whose stations changed.
///
/// # Errors
/// [`RenderError::Write`] if serialisation fails.
///
/// # Panics
/// If `unit` is not of the election the replay was made for.
pub fn render_unit(e: &Election, replay: &Replay, unit: UnitIdx) -> Result<Vec<u8>, RenderError> {
    let u = &e.units[unit.0 as usize];
    let mut path: Vec<&str> = e
        .ancestry(unit)
        .map(|a| e.units[a.0 as usize].id.as_str())
        .collect();
    path.reverse();
    let contests = contest_indices(e)
        .map(|c| UnitContestDoc {
            id: &e.contests[c.0 as usize].id,
            totals: totals_doc(e, c, replay.tally(c).unit(unit)),
            stations: replay
                .stations_in(unit)
                .iter()
                .map(|&s| station_doc(e, c, s, replay.station(c, s), replay.keys()))
                .collect(),
        })
        .collect();
    let doc = UnitFileDoc {
        format: "urna/unit/v2",
        election: &e.id,
        unit: UnitRefDoc {
            id: &u.id,
            name: &u.name,
            level: &u.level,
            path,
        },
        contests,
    };
    to_json_compact("v1/units/<unit>.json", &doc)
}

/// `v1/quarantine.json`: every station whose current entry is quarantined, with each error
/// rule it breaks, the rule's message and the numbers.
///
/// # Errors
/// [`RenderError::Write`] if serialisation fails.
pub fn render_quarantine(e: &Election, replay: &Replay) -> Result<Vec<u8>, RenderError> {
    let contests = contest_indices(e)
        .map(|c| QuarantineContestDoc {
            id: &e.contests[c.0 as usize].id,
            stations: replay
                .quarantined(c)
                .map(|(s, state)| {
                    let st = &e.stations[s.0 as usize];
                    let latest = state.latest();
                    QuarantinedDoc {
                        station: &st.id,
                        unit: &e.units[st.unit.0 as usize].id,
                        index: latest.index,
                        revision: latest.revision,
                        entry: entry_ref(&latest.entry),
                        violations: state
                            .current
                            .violations
                            .iter()
                            .filter(|v| v.severity == Severity::Error)
                            .map(|v| RuleDoc {
                                rule: &v.rule,
                                message: &v.message,
                                detail: &v.detail,
                            })
                            .collect(),
                        decision: state.decision().map(DecisionKind::as_str),
                    }
                })
                .collect(),
        })
        .collect();
    let doc = QuarantineDoc {
        format: "urna/quarantine/v1",
        election: &e.id,
        contests,
    };
    to_json(QUARANTINE_JSON, &doc)
}

/// `csv/stations.csv`: one row per station per contest: `contest, station, unit, status,
/// index, revision, entry, station_registered`, then `count:<name>` for every named count and
/// `votes:<list>` for every list of the election (empty when the list is not on that
/// contest's ballot, or the station has not reported).
///
/// # Errors
/// [`RenderError::Write`] if the CSV writer fails.
pub fn render_stations_csv(e: &Election, replay: &Replay) -> Result<Vec<u8>, RenderError> {
    write_stations_csv(e, replay, Vec::new())
}

/// [`render_stations_csv`] into `out`, a piece at a time (a million stations' file is a hundred
/// megabytes and more: a verifier compares it with the published one as it is written).
/// Returns `out`.
///
/// # Errors
/// [`RenderError::Write`] if the CSV writer or `out` fails.
pub fn write_stations_csv<W: std::io::Write>(
    e: &Election,
    replay: &Replay,
    out: W,
) -> Result<W, RenderError> {
    let fail = |err: &dyn std::fmt::Display| RenderError::Write {
        file: STATIONS_CSV,
        reason: err.to_string(),
    };
    let mut w = csv::Writer::from_writer(out);
    let mut header: Vec<String> = [
        "contest",
        "station",
        "unit",
        "status",
        "index",
        "revision",
        "entry",
        "station_registered",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    header.extend(e.counts.iter().map(|c| format!("count:{c}")));
    header.extend(e.lists.iter().map(|l| format!("votes:{}", l.id)));
    w.write_record(&header).map_err(|x| fail(&x))?;
    // A million rows: fields are written straight into the writer, without a String each.
    let mut buf = String::new();
    for c in contest_indices(e) {
        let contest = &e.contests[c.0 as usize];
        let on_ballot = ballot_positions(e, c);
        for (i, st) in e.stations.iter().enumerate() {
            let s = StationIdx(u32::try_from(i).unwrap_or(u32::MAX));
            let state = replay.station(c, s);
            let mut put = |field: &str| w.write_field(field).map_err(|x| fail(&x));
            put(&contest.id)?;
            put(&st.id)?;
            put(&e.units[st.unit.0 as usize].id)?;
            put(station_status(state))?;
            let sub = state.map(StationState::current);
            match state {
                Some(state) => {
                    let latest = state.latest();
                    put(decimal(&mut buf, latest.index))?;
                    put(decimal(&mut buf, u64::from(latest.revision)))?;
                    buf.clear();
                    push_entry_ref(&mut buf, &latest.entry);
                    put(&buf)?;
                }
                None => (0..3).try_for_each(|_| put(""))?,
            }
            put(decimal(&mut buf, st.registered))?;
            for k in 0..e.counts.len() {
                match sub {
                    Some(sub) => put(decimal(&mut buf, sub.counts[k]))?,
                    None => put("")?,
                }
            }
            for p in &on_ballot {
                match (sub, p) {
                    (Some(sub), Some(p)) => put(decimal(&mut buf, sub.votes[*p]))?,
                    _ => put("")?,
                }
            }
            w.write_record(None::<&[u8]>).map_err(|x| fail(&x))?;
        }
    }
    w.into_inner().map_err(|x| fail(&x))
}

/// `csv/preferences.csv`, `None` when no contest has preferences: `contest, station, unit,
/// list, candidate, votes`, one row per counted station and candidate with votes; contests,
/// then stations in definition order, then lists in the contest's order, then ballot number.
///
/// # Errors
/// [`RenderError::Write`] if the CSV writer fails.
pub fn render_preferences_csv(
    e: &Election,
    replay: &Replay,
) -> Result<Option<Vec<u8>>, RenderError> {
    if e.contests.iter().all(|c| c.preferences.is_none()) {
        return Ok(None);
    }
    let fail = |err: &dyn std::fmt::Display| RenderError::Write {
        file: PREFERENCES_CSV,
        reason: err.to_string(),
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["contest", "station", "unit", "list", "candidate", "votes"])
        .map_err(|x| fail(&x))?;
    let mut buf = String::new();
    for c in contest_indices(e) {
        let contest = &e.contests[c.0 as usize];
        for (i, st) in e.stations.iter().enumerate() {
            let s = StationIdx(u32::try_from(i).unwrap_or(u32::MAX));
            let Some(state) = replay.station(c, s) else {
                continue;
            };
            if !state.is_counted() {
                continue;
            }
            let Some(PreferencesDoc(lists)) = note_preferences(e, c, &state.current.preferences)
            else {
                continue;
            };
            for (list, numbers) in lists {
                for (n, v) in numbers.into_iter().filter(|&(_, v)| v > 0) {
                    let mut put = |field: &str| w.write_field(field).map_err(|x| fail(&x));
                    put(&contest.id)?;
                    put(&st.id)?;
                    put(&e.units[st.unit.0 as usize].id)?;
                    put(list)?;
                    put(decimal(&mut buf, u64::from(n)))?;
                    put(decimal(&mut buf, v))?;
                    w.write_record(None::<&[u8]>).map_err(|x| fail(&x))?;
                }
            }
        }
    }
    w.into_inner().map(Some).map_err(|x| fail(&x))
}

/// `csv/units.csv`: one row per unit per contest with its totals: `contest, unit, name,
/// level, parent, depth, stations, reported, counted, quarantined, registered,
/// registered_counted`, then `count:<name>` for every named count and `votes:<list>` for every
/// list of the election (empty when not on that contest's ballot).
///
/// # Errors
/// [`RenderError::Write`] if the CSV writer fails.
pub fn render_units_csv(e: &Election, replay: &Replay) -> Result<Vec<u8>, RenderError> {
    let fail = |err: &dyn std::fmt::Display| RenderError::Write {
        file: UNITS_CSV,
        reason: err.to_string(),
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = [
        "contest",
        "unit",
        "name",
        "level",
        "parent",
        "depth",
        "stations",
        "reported",
        "counted",
        "quarantined",
        "registered",
        "registered_counted",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    header.extend(e.counts.iter().map(|c| format!("count:{c}")));
    header.extend(e.lists.iter().map(|l| format!("votes:{}", l.id)));
    w.write_record(&header).map_err(|x| fail(&x))?;
    let mut row: Vec<String> = Vec::with_capacity(header.len());
    for c in contest_indices(e) {
        let contest = &e.contests[c.0 as usize];
        let on_ballot = ballot_positions(e, c);
        for (u, t) in e.units.iter().zip(&replay.tally(c).units) {
            row.clear();
            row.push(contest.id.clone());
            row.push(u.id.clone());
            row.push(u.name.clone());
            row.push(u.level.clone());
            row.push(
                u.parent
                    .map(|p| e.units[p.0 as usize].id.clone())
                    .unwrap_or_default(),
            );
            row.push(u.depth.to_string());
            row.push(t.stations.to_string());
            row.push((t.counted + t.quarantined).to_string());
            row.push(t.counted.to_string());
            row.push(t.quarantined.to_string());
            row.push(t.registered.to_string());
            row.push(t.registered_counted.to_string());
            row.extend(t.counts.iter().map(u64::to_string));
            for p in &on_ballot {
                row.push(p.map(|p| t.votes[p].to_string()).unwrap_or_default());
            }
            w.write_record(&row).map_err(|x| fail(&x))?;
        }
    }
    w.into_inner().map_err(|x| fail(&x))
}

/// `README.txt`: what the bundle holds and how to verify it.
pub fn render_readme(e: &Election, cp: &CheckpointInfo) -> Vec<u8> {
    format!(
        "{name} ({id})
Published results, as of log checkpoint {origin} size {size}.

This directory is a static, signed bundle: every file can be served by any web server or
mirror, and everything in it can be checked without trusting whoever serves it.

  checkpoint               The log's checkpoint: a C2SP signed note
                           (https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint)
                           signed by the log key of {origin}, with the cosignatures of
                           the witnesses (https://c2sp.org/tlog-cosignature). It names the
                           number of entries and the root of the RFC 6962 Merkle tree over
                           them.
  tile/<L>/<N>[.p/<W>]     Hash tiles of the tree, laid out as C2SP tlog-tiles
                           (https://c2sp.org/tlog-tiles).
  tile/entries/<N>[.p/<W>] The entries themselves, 256 per bundle, each one the exact bytes
                           of a signed urna/protocol/v1 or urna/amendment/v1 note.
  blob/sha256/<hex>        Content-addressed files: the election definition (election.toml)
                           and its stations file (ids, units, registers, station keys).
                           v1/election.json names both and the definition's SHA-256.
  v1/election.json         The election: contests, lists, counts, units, stations.
  v1/results.json          Totals per contest: national and per unit, turnout, reporting
                           progress, warnings; it quotes the checkpoint it was computed at.
  v1/units/<unit>.json.gz  Each lowest-level unit, gzip-compressed (gunzip it, or zcat):
                           its totals and every station with its current entry (index,
                           revision, sha256, numbers, violated rules) and its history. Unit
                           ids outside [A-Za-z0-9._-] are percent-encoded in file names
                           (AL/01 -> AL%2F01.json.gz).
  v1/quarantine.json       Stations whose current protocol breaks an arithmetic rule: stored
                           and logged, not counted, with every broken rule and its numbers.
  v1/summary.json          v1/results.json without the units' totals: national totals,
                           seats, warnings, and the checkpoint.
  v1/areas/<unit>.json     Each unit with child units: its totals and its children's, and
                           the checkpoint (size, root hash) they are of.
  v1/seats/<contest>.json  A contest's seat allocation: every quotient, threshold and
                           tie-break.
  v1/stations/<xx>.json    The station index: xx is the first byte of SHA-256 of a station
                           id (two lower-case hex digits); each lists its stations with
                           their unit (v1/election.json names each unit's file).
  csv/stations.csv.gz      One row per station per contest, gzip-compressed.
  csv/units.csv            One row per unit per contest.
{preferences}  index.html, web/         The results page: open index.html in a browser.
  v1/keys.json             The log key and the witnesses' keys, as the commission
                           announces them (compare them with what it published elsewhere).
  cdf/election-report.json When present: the results as a NIST SP 1500-100 v2
                           ElectionReport; its GeneratedDate is a witness cosignature's time.

How to verify:
  1. Check the checkpoint's signature against the log's public key (obtained from the
     commission, e.g. `urna log key`), and the witnesses' cosignatures against theirs.
  2. Check that the tiles hash to the checkpoint's root hash, and that each entry bundle
     holds the entries whose leaf hashes the level-0 tiles list.
  3. Check that the definition blobs hash to the SHA-256 in v1/election.json, and every
     entry's signature against its station's key in the stations file.
  4. Replay the entries in index order: the results files are a deterministic function of
     the entries and the definition, so recomputing them must give these files byte for
     byte.

`urna verify <URL or directory>` does all of this.
",
        name = e.name,
        id = e.id,
        origin = cp.origin,
        size = cp.size,
        preferences = if e.contests.iter().any(|c| c.preferences.is_some()) {
            "  csv/preferences.csv      Open lists: one row per counted station and candidate \
             with\n                           preference votes.\n"
        } else {
            ""
        },
    )
    .into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Document shapes. Field order here is the order in the files.

fn seats_doc(e: &Election, c: ContestIdx, tally: &Tally) -> Option<SeatsDoc> {
    let contest = &e.contests[c.0 as usize];
    let config = contest.seats.as_ref()?;
    let mut doc = SeatsDoc {
        rules: config.rules.clone(),
        title: String::new(),
        legal_source: Vec::new(),
        lists: Vec::new(),
        house_seats: 0,
        tie_seed: config.tie_seed.clone(),
        tie_breaks: 0,
        explanation: None,
        error: None,
    };
    match seats::contest_seats(e, tally)? {
        Ok((rules, a)) => {
            doc.title = rules.title;
            doc.legal_source = rules.legal_source;
            doc.house_seats = a.house_seats.0;
            doc.tie_seed = Some(a.tie_break.seed.clone());
            doc.tie_breaks = a.tie_breaks().count();
            doc.explanation = Some(seats_path(&contest.id));
            let has_candidates = contest
                .lists
                .iter()
                .any(|&l| !e.lists[l].candidates.is_empty());
            doc.lists = contest
                .lists
                .iter()
                .filter(|&&l| e.lists[l].kind != ListKind::Other)
                .map(|&l| {
                    let id = &e.lists[l].id;
                    ListSeatsDoc {
                        list: id.clone(),
                        votes: a.votes.get(&ListId::new(id.clone())).map_or(0, |v| v.0),
                        seats: a.seats_of(id).0,
                        elected: has_candidates.then(|| {
                            a.candidates
                                .get(&ListId::new(id.clone()))
                                .into_iter()
                                .flatten()
                                .flat_map(|lc| {
                                    lc.elected.iter().map(|&n| ElectedDoc {
                                        number: n,
                                        name: lc
                                            .candidate(n)
                                            .map(|c| c.name.clone())
                                            .unwrap_or_default(),
                                    })
                                })
                                .collect()
                        }),
                    }
                })
                .collect();
        }
        Err(err) => doc.error = Some(err.to_string()),
    }
    Some(doc)
}

/// The bundle path of a contest's seat explanation: `v1/seats/<file name>.json`.
pub fn seats_path(contest: &str) -> String {
    format!("v1/seats/{}.json", unit_file_name(contest))
}

/// `v1/seats/<contest>.json` for every contest whose seats can be allocated: the whole
/// [`Allocation`](seats::Allocation), every quotient, threshold decision and tie-break.
///
/// # Errors
/// [`RenderError::Write`] if serialisation fails.
pub fn render_seats(e: &Election, replay: &Replay) -> Result<Vec<(String, Vec<u8>)>, RenderError> {
    let mut out = Vec::new();
    for c in contest_indices(e) {
        if let Some(Ok((_, allocation))) = seats::contest_seats(e, replay.tally(c)) {
            out.push((
                seats_path(&e.contests[c.0 as usize].id),
                to_json("v1/seats/<contest>.json", &allocation)?,
            ));
        }
    }
    Ok(out)
}

fn contest_indices(e: &Election) -> impl Iterator<Item = ContestIdx> + '_ {
    (0..e.contests.len()).filter_map(|c| u16::try_from(c).ok().map(ContestIdx))
}

/// One line of JSON without indentation, for the files that grow with the stations (unit files
/// and the station index): indentation was about half their bytes, and every reader parses
/// them.
fn to_json_compact(file: &'static str, doc: &impl Serialize) -> Result<Vec<u8>, RenderError> {
    let mut out = serde_json::to_vec(doc).map_err(|err| RenderError::Write {
        file,
        reason: err.to_string(),
    })?;
    out.push(b'\n');
    Ok(out)
}

fn to_json(file: &'static str, doc: &impl Serialize) -> Result<Vec<u8>, RenderError> {
    let mut out = serde_json::to_vec_pretty(doc).map_err(|err| RenderError::Write {
        file,
        reason: err.to_string(),
    })?;
    out.push(b'\n');
    Ok(out)
}

fn entry_ref(hash: &[u8; 32]) -> String {
    let mut s = String::with_capacity(71);
    push_entry_ref(&mut s, hash);
    s
}

/// Appends `sha256:<hex>`.
fn push_entry_ref(out: &mut String, hash: &[u8; 32]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push_str("sha256:");
    for b in hash {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
}

/// `v` in decimal, in `buf`.
fn decimal(buf: &mut String, v: u64) -> &str {
    buf.clear();
    let _ = write!(buf, "{v}");
    buf
}

/// For every list of the election, its position on the contest's ballot, if it is on it.
fn ballot_positions(e: &Election, c: ContestIdx) -> Vec<Option<usize>> {
    let ballot = &e.contests[c.0 as usize].lists;
    (0..e.lists.len())
        .map(|l| ballot.iter().position(|&x| x == l))
        .collect()
}

fn station_status(state: Option<&StationState>) -> &'static str {
    match state {
        None => "not-reported",
        Some(s) => s.status(),
    }
}

/// A JSON object whose keys come in the order given (definition order), whatever features
/// `serde_json` is built with.
struct Named<'a, T>(Vec<(&'a str, T)>);

impl<T: Serialize> Serialize for Named<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

fn counts_named<'a>(e: &'a Election, values: &[u64]) -> Named<'a, u64> {
    Named(
        e.counts
            .iter()
            .map(String::as_str)
            .zip(values.iter().copied())
            .collect(),
    )
}

fn votes_named<'a>(e: &'a Election, c: ContestIdx, values: &[u64]) -> Named<'a, u64> {
    let lists = &e.contests[c.0 as usize].lists;
    Named(
        lists
            .iter()
            .map(|&l| e.lists[l].id.as_str())
            .zip(values.iter().copied())
            .collect(),
    )
}

fn totals_doc<'a>(e: &'a Election, c: ContestIdx, t: &Totals) -> TotalsDoc<'a> {
    let votes_total: u64 = t.votes.iter().sum();
    let ballots_cast = e.count_position("ballots-cast").map(|k| t.counts[k]);
    let lists = &e.contests[c.0 as usize].lists;
    TotalsDoc {
        stations: ProgressDoc {
            total: t.stations,
            reported: t.counted + t.quarantined,
            counted: t.counted,
            quarantined: t.quarantined,
            not_reported: t.stations.saturating_sub(t.counted + t.quarantined),
            percent_counted: percent(t.counted, t.stations),
        },
        registered: t.registered,
        registered_counted: t.registered_counted,
        turnout: TurnoutDoc {
            ballots_cast,
            registered_counted: t.registered_counted,
            percent: ballots_cast.map_or_else(
                || "-".to_owned(),
                |cast| percent(cast, t.registered_counted),
            ),
        },
        counts: counts_named(e, &t.counts),
        votes: votes_named(e, c, &t.votes),
        votes_total,
        percent: Named(
            lists
                .iter()
                .map(|&l| e.lists[l].id.as_str())
                .zip(t.votes.iter().map(|&v| percent(v, votes_total)))
                .collect(),
        ),
        preferences: totals_preferences(e, c, &t.preferences),
    }
}

/// The preference votes of a totals object: per list in contest order, per ballot number
/// ascending, only numbers with votes. Where a list has different candidates in different
/// districts, one number names several candidates: above the districts their votes are
/// summed under that number. `None` for a contest without preferences.
fn totals_preferences<'a>(
    e: &'a Election,
    c: ContestIdx,
    per_candidate: &[u64],
) -> Option<PreferencesDoc<'a>> {
    let contest = &e.contests[c.0 as usize];
    contest.preferences?;
    let mut out = Vec::new();
    for &l in &contest.lists {
        let list = &e.lists[l];
        let mut numbers: Vec<(u32, u64)> = Vec::new();
        // A list's candidates come by increasing ballot number.
        for ci in &list.candidates {
            let v = per_candidate.get(ci.0 as usize).copied().unwrap_or(0);
            if v == 0 {
                continue;
            }
            let n = e.candidates[ci.0 as usize].number;
            match numbers.last_mut() {
                Some((last, sum)) if *last == n => *sum = sum.saturating_add(v),
                _ => numbers.push((n, v)),
            }
        }
        if !numbers.is_empty() {
            out.push((list.id.as_str(), numbers));
        }
    }
    Some(PreferencesDoc(out))
}

/// The preference votes of one protocol, as its note gives them (bound to candidates): per
/// list in contest order, per ballot number ascending. `None` for a contest without
/// preferences.
fn note_preferences<'a>(
    e: &'a Election,
    c: ContestIdx,
    lines: &[(CandidateIdx, u64)],
) -> Option<PreferencesDoc<'a>> {
    let contest = &e.contests[c.0 as usize];
    contest.preferences?;
    let mut out = Vec::new();
    for &l in &contest.lists {
        let mut numbers: Vec<(u32, u64)> = lines
            .iter()
            .filter_map(|(ci, v)| {
                let cand = e.candidates.get(ci.0 as usize)?;
                (cand.list == l).then_some((cand.number, *v))
            })
            .collect();
        if numbers.is_empty() {
            continue;
        }
        numbers.sort_unstable_by_key(|&(n, _)| n);
        // A number written twice (a violation of its own) is shown once, summed.
        numbers.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 = kept.1.saturating_add(later.1);
            }
            same
        });
        out.push((e.lists[l].id.as_str(), numbers));
    }
    Some(PreferencesDoc(out))
}

fn station_doc<'a>(
    e: &'a Election,
    c: ContestIdx,
    s: StationIdx,
    state: Option<&'a StationState>,
    keys: &'a StationKeys,
) -> StationDoc<'a> {
    let st = &e.stations[s.0 as usize];
    StationDoc {
        id: &st.id,
        name: st.name(),
        address: st.address(),
        names: st.names(),
        addresses: st.addresses(),
        registered: st.registered,
        key: format_vkey(&st.id, st.key_id, &st.public_key),
        status: station_status(state),
        current: state.map(|state| {
            let latest = state.latest();
            let sub = &state.current;
            CurrentDoc {
                index: latest.index,
                revision: latest.revision,
                entry: entry_ref(&latest.entry),
                counts: counts_named(e, &sub.counts),
                votes: votes_named(e, c, &sub.votes),
                preferences: note_preferences(e, c, &sub.preferences),
                scan: sub.scan.as_ref().map(entry_ref),
                violations: sub
                    .violations
                    .iter()
                    .map(|v| ViolationDoc {
                        rule: &v.rule,
                        severity: match v.severity {
                            Severity::Error => "error",
                            Severity::Warning => "warning",
                        },
                        message: &v.message,
                        detail: &v.detail,
                    })
                    .collect(),
            }
        }),
        // A station's only entry, undecided, is its `current` entry under its `status`: the
        // history would repeat it (about 120 bytes a station, 120 MB at a million).
        history: state
            .filter(|state| state.history_len() > 1 || !state.decisions().is_empty())
            .map(|state| {
                state
                    .history()
                    .iter()
                    .enumerate()
                    .map(|(i, r)| HistoryDoc {
                        index: r.index,
                        revision: r.revision,
                        status: r.status.as_str(),
                        entry: entry_ref(&r.entry),
                        preferences: note_preferences(e, c, state.preferences_of(i)),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        decisions: decision_docs(state),
        revocations: keys
            .revocations()
            .filter(|(_, r)| r.station == s)
            .map(|(index, r)| RevocationDoc {
                index,
                entry: entry_ref(&r.hash),
                revokes: r.revokes.to_vkey(&st.id),
                replacement: r.replacement.map(|k| k.to_vkey(&st.id)),
                reason: &r.reason,
            })
            .collect(),
    }
}

#[derive(Serialize)]
struct ElectionDoc<'a> {
    format: &'static str,
    id: &'a str,
    name: &'a str,
    date: Option<&'a str>,
    provenance: Option<&'a str>,
    definition: DefinitionDoc,
    /// `v1/shapes.json`, when the definition names unit shapes.
    #[serde(skip_serializing_if = "Option::is_none")]
    shapes: Option<&'static str>,
    log: LogDoc,
    authorities: Vec<AuthorityDoc<'a>>,
    station_index: StationIndexRefDoc,
    counts: &'a [String],
    contests: Vec<ContestDoc<'a>>,
    units: Vec<UnitDoc<'a>>,
    stations: usize,
}

#[derive(Serialize)]
struct DefinitionDoc {
    sha256: String,
    covers: &'static str,
    files: Vec<BlobDoc>,
}

#[derive(Serialize)]
struct BlobDoc {
    role: &'static str,
    name: String,
    sha256: String,
    path: String,
}

#[derive(Serialize)]
struct LogDoc {
    origin: String,
    checkpoint: &'static str,
    tiles: &'static str,
    entries: &'static str,
}

#[derive(Serialize)]
struct AuthorityDoc<'a> {
    name: &'a str,
    /// The unit it has authority over.
    scope: &'a str,
    key: String,
}

#[derive(Serialize)]
struct StationIndexRefDoc {
    path: &'static str,
    shard: &'static str,
}

#[derive(Serialize)]
struct StationIndexDoc<'a> {
    format: &'static str,
    election: &'a str,
    stations: Vec<StationIndexEntryDoc<'a>>,
}

#[derive(Serialize)]
struct StationIndexEntryDoc<'a> {
    id: &'a str,
    unit: &'a str,
}

#[derive(Serialize)]
struct ContestDoc<'a> {
    id: &'a str,
    name: &'a str,
    lists: Vec<ListDoc<'a>>,
    /// Open lists only.
    #[serde(skip_serializing_if = "Option::is_none")]
    preferences: Option<PreferenceRuleDoc>,
}

#[derive(Serialize)]
struct PreferenceRuleDoc {
    marks: MarksDoc,
}

#[derive(Serialize)]
#[serde(untagged)]
enum MarksDoc {
    AtMost(u32),
    All(&'static str),
}

#[derive(Serialize)]
struct ListDoc<'a> {
    id: &'a str,
    name: &'a str,
    kind: &'static str,
    community: Option<&'a str>,
    /// Short name for charts (the id when the definition gives none).
    short: &'a str,
    /// `#rrggbb`, declared or from the fallback palette (`urna_model::colour`).
    colour: String,
    /// Its name by language tag, when the definition gives any.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    names: &'a BTreeMap<String, String>,
    /// In a contest with preferences only: the list's candidates by ballot number.
    #[serde(skip_serializing_if = "Option::is_none")]
    candidates: Option<Vec<CandidateDoc<'a>>>,
}

#[derive(Serialize)]
struct CandidateDoc<'a> {
    number: u32,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    gender: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    withdrawn: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'a str>,
}

/// Preference votes: list id → candidate ballot number → votes, lists in the contest's list
/// order and numbers ascending; a list with no entry is left out.
struct PreferencesDoc<'a>(Vec<(&'a str, Vec<(u32, u64)>)>);

impl Serialize for PreferencesDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Numbers<'b>(&'b [(u32, u64)]);
        impl Serialize for Numbers<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                // serde_json writes integer keys as strings: {"1": 420}.
                s.collect_map(self.0.iter().map(|(n, v)| (n, v)))
            }
        }
        s.collect_map(self.0.iter().map(|(l, ns)| (l, Numbers(ns))))
    }
}

#[derive(Serialize)]
struct UnitDoc<'a> {
    id: &'a str,
    name: &'a str,
    /// Its name by language tag, when the definition gives any.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    names: &'a BTreeMap<String, String>,
    level: &'a str,
    parent: Option<&'a str>,
    depth: u32,
    stations: u64,
    file: Option<String>,
    area: Option<String>,
}

#[derive(Serialize)]
struct ResultsDoc<'a> {
    format: &'static str,
    election: &'a str,
    checkpoint: CheckpointDoc<'a>,
    contests: Vec<ContestResultsDoc<'a>>,
}

#[derive(Serialize)]
struct CheckpointDoc<'a> {
    origin: &'a str,
    size: u64,
    root_hash: &'a str,
    note: &'a str,
}

#[derive(Serialize)]
struct ContestResultsDoc<'a> {
    id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    seats: Option<SeatsDoc>,
    national: TotalsDoc<'a>,
    warnings: Vec<WarningDoc<'a>>,
    /// Absent from `v1/summary.json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    units: Option<Vec<UnitTotalsDoc<'a>>>,
}

#[derive(Serialize)]
struct AreaDoc<'a> {
    format: &'static str,
    election: &'a str,
    checkpoint: CheckpointRefDoc<'a>,
    unit: UnitRefDoc<'a>,
    contests: Vec<AreaContestDoc<'a>>,
}

/// The checkpoint a file's numbers are of: enough to match it with the checkpoint note.
#[derive(Serialize)]
struct CheckpointRefDoc<'a> {
    size: u64,
    root_hash: &'a str,
}

#[derive(Serialize)]
struct AreaContestDoc<'a> {
    id: &'a str,
    totals: TotalsDoc<'a>,
    children: Vec<UnitTotalsDoc<'a>>,
}

/// A contest's seats in `results.json`: the table, and where the full explanation is.
#[derive(Serialize)]
struct SeatsDoc {
    rules: String,
    title: String,
    legal_source: Vec<String>,
    /// Seats per list, in ballot order; empty when they cannot be allocated yet.
    lists: Vec<ListSeatsDoc>,
    house_seats: u32,
    tie_seed: Option<String>,
    tie_breaks: usize,
    /// `v1/seats/<contest>.json`: every quotient, threshold and tie-break.
    explanation: Option<String>,
    /// Why seats cannot be allocated (e.g. no list has passed the threshold yet).
    error: Option<String>,
}

#[derive(Serialize)]
struct ListSeatsDoc {
    list: String,
    votes: u64,
    seats: u32,
    /// Contests with candidates only: who takes the seats, in the order the rule elected them.
    #[serde(skip_serializing_if = "Option::is_none")]
    elected: Option<Vec<ElectedDoc>>,
}

#[derive(Serialize)]
struct ElectedDoc {
    number: u32,
    name: String,
}

#[derive(Serialize)]
struct WarningDoc<'a> {
    rule: &'a str,
    message: &'a str,
    stations: u64,
}

#[derive(Serialize)]
struct UnitTotalsDoc<'a> {
    unit: &'a str,
    #[serde(flatten)]
    totals: TotalsDoc<'a>,
}

#[derive(Serialize)]
struct TotalsDoc<'a> {
    stations: ProgressDoc,
    registered: u64,
    registered_counted: u64,
    turnout: TurnoutDoc,
    counts: Named<'a, u64>,
    votes: Named<'a, u64>,
    votes_total: u64,
    percent: Named<'a, String>,
    /// Contests with preferences only: candidates with at least one preference vote.
    #[serde(skip_serializing_if = "Option::is_none")]
    preferences: Option<PreferencesDoc<'a>>,
}

#[derive(Serialize)]
struct ProgressDoc {
    total: u64,
    reported: u64,
    counted: u64,
    quarantined: u64,
    not_reported: u64,
    percent_counted: String,
}

#[derive(Serialize)]
struct TurnoutDoc {
    ballots_cast: Option<u64>,
    registered_counted: u64,
    percent: String,
}

#[derive(Serialize)]
struct UnitFileDoc<'a> {
    format: &'static str,
    election: &'a str,
    unit: UnitRefDoc<'a>,
    contests: Vec<UnitContestDoc<'a>>,
}

#[derive(Serialize)]
struct UnitRefDoc<'a> {
    id: &'a str,
    name: &'a str,
    level: &'a str,
    /// Unit ids from the root down to this unit.
    path: Vec<&'a str>,
}

#[derive(Serialize)]
struct UnitContestDoc<'a> {
    id: &'a str,
    totals: TotalsDoc<'a>,
    stations: Vec<StationDoc<'a>>,
}

#[derive(Serialize)]
struct StationDoc<'a> {
    id: &'a str,
    /// Its name and address, when the stations file gives them.
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<&'a str>,
    /// Its name and address by language tag, when the stations file gives any.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    names: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    addresses: &'a BTreeMap<String, String>,
    registered: u64,
    /// The station's verifier key (`id+hex8+base64`).
    key: String,
    status: &'static str,
    current: Option<CurrentDoc<'a>>,
    /// Every entry, oldest first; left out when it would be the current entry alone (one
    /// entry, no decision on it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    history: Vec<HistoryDoc<'a>>,
    /// The commission's decisions on the station's entries (only when it has any).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    decisions: Vec<DecisionDoc<'a>>,
    /// The revocations of the station's keys (only when it has any), in log order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    revocations: Vec<RevocationDoc<'a>>,
}

/// One `urna/revocation/v1` entry of a station: the key it revoked and the one it gave
/// (`null` for none).
#[derive(Serialize)]
struct RevocationDoc<'a> {
    index: u64,
    entry: String,
    revokes: String,
    replacement: Option<String>,
    reason: &'a str,
}

/// One `urna/decision/v1` entry in a station's history.
#[derive(Serialize)]
struct DecisionDoc<'a> {
    index: u64,
    entry: String,
    decides: String,
    decision: &'static str,
    reason: &'a str,
}

fn decision_docs(state: Option<&StationState>) -> Vec<DecisionDoc<'_>> {
    state
        .map(|s| {
            s.decisions()
                .iter()
                .map(|d| DecisionDoc {
                    index: d.index,
                    entry: entry_ref(&d.entry),
                    decides: entry_ref(&d.decides),
                    decision: d.kind.as_str(),
                    reason: &d.reason,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Serialize)]
struct CurrentDoc<'a> {
    index: u64,
    revision: u32,
    entry: String,
    counts: Named<'a, u64>,
    votes: Named<'a, u64>,
    /// Contests with preferences only.
    #[serde(skip_serializing_if = "Option::is_none")]
    preferences: Option<PreferencesDoc<'a>>,
    violations: Vec<ViolationDoc<'a>>,
    /// The scan of the paper protocol the note names (`sha256:<hex>`; published as
    /// `blob/sha256/<hex>` when the commission has the file); only when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    scan: Option<String>,
}

#[derive(Serialize)]
struct ViolationDoc<'a> {
    rule: &'a str,
    severity: &'static str,
    message: &'a str,
    detail: &'a str,
}

#[derive(Serialize)]
struct HistoryDoc<'a> {
    index: u64,
    revision: u32,
    status: &'static str,
    entry: String,
    /// Contests with preferences only.
    #[serde(skip_serializing_if = "Option::is_none")]
    preferences: Option<PreferencesDoc<'a>>,
}

#[derive(Serialize)]
struct QuarantineDoc<'a> {
    format: &'static str,
    election: &'a str,
    contests: Vec<QuarantineContestDoc<'a>>,
}

#[derive(Serialize)]
struct QuarantineContestDoc<'a> {
    id: &'a str,
    stations: Vec<QuarantinedDoc<'a>>,
}

#[derive(Serialize)]
struct QuarantinedDoc<'a> {
    station: &'a str,
    unit: &'a str,
    index: u64,
    revision: u32,
    entry: String,
    violations: Vec<RuleDoc<'a>>,
    /// The latest decision on the entry, when it is a recount or an annulment.
    #[serde(skip_serializing_if = "Option::is_none")]
    decision: Option<&'static str>,
}

#[derive(Serialize)]
struct RuleDoc<'a> {
    rule: &'a str,
    message: &'a str,
    detail: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_file_names_are_plain_and_injective() {
        let cases = [
            ("D01-M002", "D01-M002", "plain id kept"),
            ("a.b_c", "a.b_c", "inner dot kept"),
            (".x", "%2Ex", "leading dot encoded"),
            ("AL/01", "AL%2F01", "slash encoded"),
            ("a:b", "a%3Ab", "colon encoded"),
            (
                "a%2Fb",
                "a%252Fb",
                "percent encoded, so encodings never collide",
            ),
        ];
        for (id, want, what) in cases {
            assert_eq!(unit_file_name(id), want, "{what}");
        }
    }

    #[test]
    fn checkpoint_fields_are_read_and_checked() {
        let signer = urna_model::note::NoteSigner::from_seed("urna/x", &[7; 32]).unwrap();
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let note = signer
            .sign_text(&format!("urna/x\n12\n{root}\n"))
            .to_bytes();
        let cp = CheckpointInfo::parse(&note).unwrap();
        assert_eq!((cp.origin.as_str(), cp.size), ("urna/x", 12));
        assert_eq!(cp.root_hash, root);
        assert_eq!(cp.note.as_bytes(), note.as_slice());
        for bad in [
            format!("urna/x\n012\n{root}\n"),
            format!("urna/x\n12\n{}\n", &root[1..]),
            "urna/x\n12\n".to_owned(),
        ] {
            let note = signer.sign_text(&bad).to_bytes();
            assert!(
                matches!(
                    CheckpointInfo::parse(&note),
                    Err(RenderError::Checkpoint(_))
                ),
                "{bad:?}"
            );
        }
    }
}
