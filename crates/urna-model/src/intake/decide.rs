//! Intake of `urna/decision/v1` notes: binding to the definition and admission against the
//! station's history. The authority's signature is checked with every other note's, in
//! `Prepared::verify_authorities`.

use super::{History, Rejection, Submission, Verdict, note_hashes};
use crate::decision::{DecisionBody, DecisionKind};
use crate::definition::Election;
use crate::note::Note;
use crate::protocol::hex;

/// What a decision note decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// SHA-256 of the decided entry's note bytes.
    pub decides: [u8; 32],
    /// Accept, recount or annul.
    pub kind: DecisionKind,
    /// Why, in words.
    pub reason: String,
}

/// Binds a decision note to the definition (election, contest, station), without checking
/// signatures.
pub(super) fn bind_decision(
    election: &Election,
    bytes: &[u8],
    note: &Note,
) -> Result<Submission, Rejection> {
    let body = DecisionBody::parse(note.text())?;
    let (contest, station) =
        super::bind_header(election, &body.election, &body.contest, &body.station)?;
    let (hash, text_hash) = note_hashes(bytes, note.text().as_bytes());
    Ok(Submission {
        hash,
        text_hash,
        contest,
        station,
        revision: 0,
        supersedes: None,
        counts: Vec::new(),
        votes: Vec::new(),
        preferences: Vec::new(),
        violations: Vec::new(),
        station_signed: false,
        scan: None,
        decision: Some(Box::new(Decided {
            decides: body.decides,
            kind: body.decision,
            reason: body.reason,
        })),
    })
}

/// A decision is admitted when it names the station's current entry in its contest.
pub(super) fn admit_decision(
    election: &Election,
    history: &impl History,
    s: &Submission,
    d: &Decided,
) -> Result<Verdict, Rejection> {
    let station = || election.stations[s.station.0 as usize].id.clone();
    let latest = history
        .latest(s.contest, s.station)
        .ok_or_else(|| Rejection::NothingToDecide { station: station() })?;
    if latest.hash != d.decides {
        return Err(Rejection::DecidesMismatch {
            station: station(),
            got: hex(&d.decides),
            expected: hex(&latest.hash),
        });
    }
    Ok(Verdict::Accepted)
}
