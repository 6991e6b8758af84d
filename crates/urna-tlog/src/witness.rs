//! The witness side of C2SP tlog-witness (<https://c2sp.org/tlog-witness>, §"add-checkpoint")
//! as a pure state machine: parse the request body, check it against the witness's recorded
//! state for the log, and either cosign or name the spec's HTTP status.
//!
//! The caller (the HTTP layer, next) owns persistence. The shape is made for an atomic
//! compare-and-swap: [`Witness::add_checkpoint`] reads the state, returns a [`Cosigned`]
//! holding the state it was checked against and the new state, and
//! [`WitnessState::commit`] applies it only if the state is still the one checked against.
//! Persist the new state durably before sending the response body.
//!
//! Out of scope: HTTP, storage of the state, the monitoring (read) API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use urna_model::note::{Note, NoteError, NoteSignature, NoteVerifier};

use crate::checkpoint::{Checkpoint, CheckpointError, parse_size};
use crate::cosignature::{Clock, CosignatureError, CosignatureSigner, signature_line};
use crate::hash::{Hash, HashError, TreeSize};
use crate::proof::{ProofError, verify_consistency};

/// The most consistency proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;

/// Why an add-checkpoint request was refused. [`WitnessError::status`] gives the HTTP status
/// the spec mandates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// 400: the body is not `old <size>\n`, proof lines, a blank line, then a checkpoint.
    #[error("malformed request, line {line}: {reason}")]
    Malformed {
        /// Line of the body (from 1).
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// 400: a proof line is not a base64 32-byte hash.
    #[error("malformed request, line {line}: proof hash: {source}")]
    BadProofHash {
        /// Line of the body.
        line: usize,
        /// Why.
        source: HashError,
    },
    /// 400: the checkpoint note or text is malformed.
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(CheckpointError),
    /// 400: the old size is larger than the checkpoint's size.
    #[error("old size {old} is larger than the checkpoint size {size}")]
    OldSizeTooLarge {
        /// Old size sent.
        old: TreeSize,
        /// Checkpoint size.
        size: TreeSize,
    },
    /// 404: the witness does not know this log.
    #[error("unknown log origin {0:?}")]
    UnknownOrigin(String),
    /// 403: no signature by a trusted key of this log verifies.
    #[error("no valid signature by a known key of log {0:?}")]
    Forbidden(String),
    /// 409: the old size is not the size the witness last cosigned. The response body is
    /// `<current size>\n` with content type `text/x.tlog.size`.
    #[error("old size {old} does not match the last cosigned size {current}")]
    OldSizeMismatch {
        /// Old size sent.
        old: TreeSize,
        /// The witness's recorded size.
        current: TreeSize,
    },
    /// 409: same size as recorded but a different root: a fork.
    #[error("checkpoint of size {size} has root {got}, but the witness cosigned root {recorded}")]
    RootMismatch {
        /// The size.
        size: TreeSize,
        /// The root sent.
        got: Hash,
        /// The root recorded.
        recorded: Hash,
    },
    /// 422: the consistency proof does not verify.
    #[error("consistency proof from size {old} does not verify: {reason}")]
    InconsistentProof {
        /// Old size.
        old: TreeSize,
        /// What failed.
        reason: String,
    },
    /// 500: the witness could not sign (clock beyond 2⁶³ − 1).
    #[error("cannot cosign: {0}")]
    Sign(CosignatureError),
}

impl WitnessError {
    /// The HTTP status tlog-witness prescribes for this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Self::Malformed { .. }
            | Self::BadProofHash { .. }
            | Self::BadCheckpoint(_)
            | Self::OldSizeTooLarge { .. } => 400,
            Self::Forbidden(_) => 403,
            Self::UnknownOrigin(_) => 404,
            Self::OldSizeMismatch { .. } | Self::RootMismatch { .. } => 409,
            Self::InconsistentProof { .. } => 422,
            Self::Sign(_) => 500,
        }
    }

    /// The response body for a 409 old-size conflict (`<size>\n`), if this is one.
    pub fn conflict_body(&self) -> Option<String> {
        match self {
            Self::OldSizeMismatch { current, .. } => Some(format!("{}\n", current.0)),
            _ => None,
        }
    }
}

/// A parsed add-checkpoint request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpointRequest {
    /// The size of the checkpoint the client believes the witness last cosigned.
    pub old_size: TreeSize,
    /// Consistency proof from `old_size` to the checkpoint.
    pub proof: Vec<Hash>,
    /// The checkpoint note, parsed as a note (signatures not yet checked).
    pub note: Note,
    /// The checkpoint text, parsed.
    pub checkpoint: Checkpoint,
}

impl AddCheckpointRequest {
    /// Parses a request body.
    ///
    /// # Errors
    /// [`WitnessError`] with status 400.
    pub fn parse(body: &[u8]) -> Result<Self, WitnessError> {
        let malformed = |line, reason| WitnessError::Malformed { line, reason };
        let mut rest = body;
        let mut line = 0;
        let next_line = |rest: &mut &[u8], line: &mut usize| -> Result<String, WitnessError> {
            *line += 1;
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or(malformed(*line, "line does not end in a newline"))?;
            let l = std::str::from_utf8(&rest[..end])
                .map_err(|_| malformed(*line, "not UTF-8"))?
                .to_owned();
            *rest = &rest[end + 1..];
            Ok(l)
        };
        let first = next_line(&mut rest, &mut line)?;
        let old = first
            .strip_prefix("old ")
            .ok_or(malformed(1, "first line must be 'old <size>'"))?;
        let old_size =
            parse_size(old).ok_or(malformed(1, "old size is not a canonical decimal"))?;
        let mut proof = Vec::new();
        loop {
            let l = next_line(&mut rest, &mut line)?;
            if l.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(malformed(line, "more than 63 proof lines"));
            }
            let h = Hash::from_base64(&l)
                .map_err(|source| WitnessError::BadProofHash { line, source })?;
            proof.push(h);
        }
        let note = Note::parse(rest)
            .map_err(|e: NoteError| WitnessError::BadCheckpoint(CheckpointError::Note(e)))?;
        let checkpoint =
            Checkpoint::parse_text(note.text()).map_err(WitnessError::BadCheckpoint)?;
        Ok(Self {
            old_size: TreeSize(old_size),
            proof,
            note,
            checkpoint,
        })
    }

    /// The request body: `old <size>\n`, proof lines, a blank line, the checkpoint note.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("old {}\n", self.old_size.0).into_bytes();
        for h in &self.proof {
            out.extend_from_slice(h.to_base64().as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.note.to_bytes());
        out
    }
}

/// What a witness recorded for one log: the latest checkpoint it cosigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogState {
    /// Tree size.
    pub size: u64,
    /// Root hash, as base64 in serialised form.
    #[serde(with = "hash_base64")]
    pub root: Hash,
}

mod hash_base64 {
    use serde::{Deserialize as _, Deserializer, Serializer};

    use crate::hash::Hash;

    pub(super) fn serialize<S: Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&h.to_base64())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let s = String::deserialize(d)?;
        Hash::from_base64(&s).map_err(serde::de::Error::custom)
    }
}

/// A witness's whole state: origin → latest cosigned checkpoint. Serialise it (e.g. as
/// JSON) and replace the file atomically on every [`WitnessState::commit`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessState {
    /// Per-log state, by origin.
    pub logs: BTreeMap<String, LogState>,
}

/// The state changed between check and commit (a concurrent request won).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("witness state for {origin:?} changed since the request was checked; retry")]
pub struct StaleState {
    /// The log whose state changed.
    pub origin: String,
}

impl WitnessState {
    /// The recorded state for `origin`, if the witness has cosigned it before.
    pub fn get(&self, origin: &str) -> Option<LogState> {
        self.logs.get(origin).copied()
    }

    /// Applies an accepted request, only if the log's state is still the one it was checked
    /// against (compare-and-swap; see tlog-witness on the rollback race).
    ///
    /// # Errors
    /// [`StaleState`] if the state changed meanwhile; nothing is modified then.
    pub fn commit(&mut self, cosigned: &Cosigned) -> Result<(), StaleState> {
        if self.get(&cosigned.origin) != cosigned.previous {
            return Err(StaleState {
                origin: cosigned.origin.clone(),
            });
        }
        self.logs.insert(cosigned.origin.clone(), cosigned.new);
        Ok(())
    }
}

/// An accepted request: the cosignature and the state transition to persist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    /// The log's origin.
    pub origin: String,
    /// The state the request was checked against (`None`: never cosigned).
    pub previous: Option<LogState>,
    /// The state to record.
    pub new: LogState,
    /// The cosignature.
    pub signature: NoteSignature,
}

impl Cosigned {
    /// The 200 response body: the cosignature as a note signature line.
    pub fn response_body(&self) -> String {
        signature_line(&self.signature)
    }
}

/// A witness: its cosigning key and the logs it follows (origin → trusted log keys).
#[derive(Debug, Clone)]
pub struct Witness {
    signer: CosignatureSigner,
    logs: BTreeMap<String, Vec<NoteVerifier>>,
}

impl Witness {
    /// A witness with no logs configured.
    pub fn new(signer: CosignatureSigner) -> Self {
        Self {
            signer,
            logs: BTreeMap::new(),
        }
    }

    /// Trusts `key` for checkpoints of `origin` (several keys per log allow rotation).
    pub fn add_log(&mut self, origin: impl Into<String>, key: NoteVerifier) {
        self.logs.entry(origin.into()).or_default().push(key);
    }

    /// The cosigning key.
    pub fn signer(&self) -> &CosignatureSigner {
        &self.signer
    }

    /// Handles an add-checkpoint request body against the current `state`.
    ///
    /// Checks, in order: the body parses (400); the origin is known (404); a trusted log key
    /// signed it (403); old size ≤ checkpoint size (400); old size equals the recorded size,
    /// or 0 if none (409, with the current size); the consistency proof from the recorded
    /// root verifies, and is empty from size 0 (422); at equal sizes the root equals the
    /// recorded one (409). Then cosigns at the clock's time.
    ///
    /// # Errors
    /// [`WitnessError`]; see [`WitnessError::status`].
    pub fn add_checkpoint(
        &self,
        state: &WitnessState,
        body: &[u8],
        clock: &dyn Clock,
    ) -> Result<Cosigned, WitnessError> {
        let req = AddCheckpointRequest::parse(body)?;
        self.check(state, &req, clock)
    }

    /// As [`Witness::add_checkpoint`], for a request already parsed.
    ///
    /// # Errors
    /// [`WitnessError`]; see [`WitnessError::status`].
    pub fn check(
        &self,
        state: &WitnessState,
        req: &AddCheckpointRequest,
        clock: &dyn Clock,
    ) -> Result<Cosigned, WitnessError> {
        let cp = &req.checkpoint;
        let keys = self
            .logs
            .get(&cp.origin)
            .ok_or_else(|| WitnessError::UnknownOrigin(cp.origin.clone()))?;
        if !keys.iter().any(|k| k.verify(&req.note).is_ok()) {
            return Err(WitnessError::Forbidden(cp.origin.clone()));
        }
        if req.old_size > cp.size {
            return Err(WitnessError::OldSizeTooLarge {
                old: req.old_size,
                size: cp.size,
            });
        }
        let previous = state.get(&cp.origin);
        let recorded_size = TreeSize(previous.map_or(0, |s| s.size));
        if req.old_size != recorded_size {
            return Err(WitnessError::OldSizeMismatch {
                old: req.old_size,
                current: recorded_size,
            });
        }
        let inconsistent = |reason: String| WitnessError::InconsistentProof {
            old: req.old_size,
            reason,
        };
        match previous {
            // Never cosigned, or cosigned the empty tree: nothing to be consistent with,
            // and the spec requires an empty proof.
            None
            | Some(LogState {
                size: 0,
                root: Hash::EMPTY_ROOT,
            }) if cp.size.0 > 0 => {
                if !req.proof.is_empty() {
                    return Err(inconsistent("the proof from size 0 must be empty".into()));
                }
            }
            _ => {
                let recorded_root = previous.map_or(Hash::EMPTY_ROOT, |s| s.root);
                if req.old_size == cp.size {
                    if !req.proof.is_empty() {
                        return Err(inconsistent(
                            "the proof for equal sizes must be empty".into(),
                        ));
                    }
                    if cp.root != recorded_root {
                        return Err(WitnessError::RootMismatch {
                            size: cp.size,
                            got: cp.root,
                            recorded: recorded_root,
                        });
                    }
                } else {
                    verify_consistency(req.old_size, cp.size, &recorded_root, &cp.root, &req.proof)
                        .map_err(|e: ProofError| inconsistent(e.to_string()))?;
                }
            }
        }
        let signature = self
            .signer
            .cosign(req.note.text(), clock)
            .map_err(WitnessError::Sign)?;
        Ok(Cosigned {
            origin: cp.origin.clone(),
            previous,
            new: LogState {
                size: cp.size.0,
                root: cp.root,
            },
            signature,
        })
    }
}
