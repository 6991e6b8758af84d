//! The entry form of one paper protocol, derived from the election definition, and what two
//! entries of it decide.
//!
//! A form is a list of lines, in the order of the paper: the named counts, the votes of each
//! list on the contest's ballot, then (for an open-list contest) the preference votes of each
//! candidate standing where the station is. Each line has a stable key:
//! `count:<name>`, `votes:<list>`, `pref:<list>:<number>`.
//!
//! Entries are compared by the protocol text they produce ([`ProtocolBody::to_text`]), which
//! is canonical: two entries that mean the same protocol give the same text, and any
//! difference in any number gives a different one.

use std::collections::BTreeMap;

use serde::Serialize;
use urna_model::definition::{ContestIdx, Election, StationIdx};
use urna_model::intake::bind_unverified;
use urna_model::note::Note;
use urna_model::protocol::{
    BodyKind, CandidateVotes, Counted, ListPreferences, MAX_COUNT, ProtocolBody,
};
use urna_model::rules::{Severity, Violation};

/// One line of the form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// Stable key (`count:valid`, `votes:PS`, `pref:PS:3`).
    pub key: String,
    /// What the paper calls it: the count's name, the list's name, or the candidate's number
    /// and name.
    pub label: String,
    /// `count`, `votes` or `pref`.
    pub kind: &'static str,
    /// Whether the line must be keyed (counts and list votes); an empty preference box is 0.
    pub required: bool,
}

/// Why keyed values do not make a protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// A key that is not a line of this form.
    #[error("line `{0}`: not a line of this protocol's form")]
    UnknownLine(String),
    /// A required line has no value.
    #[error("line `{0}`: missing; every count and every list's votes must be keyed (0 for none)")]
    Missing(String),
    /// A value that is not a count.
    #[error("line `{key}`: {value:?} is not a whole number from 0 to {MAX_COUNT}")]
    NotACount {
        /// The line.
        key: String,
        /// What was keyed.
        value: String,
    },
}

/// The form of a station's protocol in a contest.
pub fn lines(e: &Election, contest: ContestIdx, station: StationIdx) -> Vec<Line> {
    let st = &e.stations[station.0 as usize];
    let c = &e.contests[contest.0 as usize];
    let mut out: Vec<Line> = e
        .counts
        .iter()
        .map(|name| Line {
            key: format!("count:{name}"),
            label: name.clone(),
            kind: "count",
            required: true,
        })
        .collect();
    for &l in &c.lists {
        let list = &e.lists[l];
        out.push(Line {
            key: format!("votes:{}", list.id),
            label: format!("{} ({})", list.name, list.id),
            kind: "votes",
            required: true,
        });
    }
    if c.preferences.is_some() {
        // Lists by id, as the protocol's preference lines are ordered.
        let mut ballot: Vec<usize> = c.lists.clone();
        ballot.sort_by(|a, b| e.lists[*a].id.cmp(&e.lists[*b].id));
        for l in ballot {
            let list = &e.lists[l];
            for &ci in &list.candidates {
                if !e.stands_in(ci, st.unit) {
                    continue;
                }
                let cand = &e.candidates[ci.0 as usize];
                out.push(Line {
                    key: format!("pref:{}:{}", list.id, cand.number),
                    label: format!("{} {}. {}", list.id, cand.number, cand.name),
                    kind: "pref",
                    required: false,
                });
            }
        }
    }
    out
}

/// Parses one keyed value: a canonical count (digits, no sign) up to [`MAX_COUNT`]; leading
/// zeros and surrounding spaces are forgiven (a typist keys `007` as 7).
///
/// # Errors
/// [`FormError::NotACount`].
pub fn parse_value(key: &str, text: &str) -> Result<u64, FormError> {
    let t = text.trim();
    let bad = || FormError::NotACount {
        key: key.to_owned(),
        value: text.chars().take(40).collect(),
    };
    if t.is_empty() || t.len() > 15 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    t.parse::<u64>()
        .ok()
        .filter(|&v| v <= MAX_COUNT)
        .ok_or_else(bad)
}

/// The protocol (revision 1) that keyed values state.
///
/// # Errors
/// [`FormError`] for a key not on the form or a required line without a value.
pub fn body(
    e: &Election,
    contest: ContestIdx,
    station: StationIdx,
    values: &BTreeMap<String, u64>,
) -> Result<ProtocolBody, FormError> {
    let form = lines(e, contest, station);
    if let Some(k) = values.keys().find(|k| !form.iter().any(|l| &l.key == *k)) {
        return Err(FormError::UnknownLine(k.clone()));
    }
    let get = |key: &str| values.get(key).copied();
    let mut counts = Vec::new();
    let mut votes = Vec::new();
    let mut preferences: Vec<ListPreferences> = Vec::new();
    for line in &form {
        let v = get(&line.key);
        let counted = |name: &str, value| Counted {
            name: name.to_owned(),
            value,
            line: 0,
        };
        match line.kind {
            "count" => {
                let v = v.ok_or_else(|| FormError::Missing(line.key.clone()))?;
                counts.push(counted(&line.key["count:".len()..], v));
            }
            "votes" => {
                let v = v.ok_or_else(|| FormError::Missing(line.key.clone()))?;
                votes.push(counted(&line.key["votes:".len()..], v));
            }
            _ => {
                let Some(v) = v.filter(|&v| v > 0) else {
                    continue;
                };
                let mut parts = line.key.splitn(3, ':').skip(1);
                let (Some(list), Some(number)) = (parts.next(), parts.next()) else {
                    return Err(FormError::UnknownLine(line.key.clone()));
                };
                let number: u32 = number
                    .parse()
                    .map_err(|_| FormError::UnknownLine(line.key.clone()))?;
                let cv = CandidateVotes {
                    number,
                    votes: v,
                    line: 0,
                };
                match preferences.last_mut() {
                    Some(lp) if lp.list == list => lp.candidates.push(cv),
                    _ => preferences.push(ListPreferences {
                        list: list.to_owned(),
                        candidates: vec![cv],
                    }),
                }
            }
        }
    }
    Ok(ProtocolBody {
        kind: BodyKind::Protocol,
        election: e.id.clone(),
        contest: e.contests[contest.0 as usize].id.clone(),
        station: e.stations[station.0 as usize].id.clone(),
        revision: 1,
        counts,
        votes,
        preferences,
        scan: None,
    })
}

/// Every validation rule of the definition that the protocol breaks (errors first), exactly as
/// intake will judge it: the same code, the rules as the definition states them.
pub fn violations(e: &Election, body: &ProtocolBody) -> Vec<Violation> {
    let text = body.to_text();
    let Ok(note) = Note::unsigned(&text) else {
        return Vec::new();
    };
    bind_unverified(e, text.as_bytes(), &note, body)
        .map(|s| s.violations)
        .unwrap_or_default()
}

/// Whether any error rule fails.
pub fn has_error(v: &[Violation]) -> bool {
    v.iter().any(|v| v.severity == Severity::Error)
}

/// What two finished entries of one protocol decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Equal and every error rule holds: sign this protocol text.
    Sign(String),
    /// The entries differ: the coordinator decides.
    Differ,
    /// Equal, but an error rule fails: the coordinator decides (the paper may be wrong).
    Invalid,
}

/// Compares two entries. Nothing is signed unless both state the same protocol and it passes
/// every error rule.
pub fn decide(
    e: &Election,
    contest: ContestIdx,
    station: StationIdx,
    first: &BTreeMap<String, u64>,
    second: &BTreeMap<String, u64>,
) -> Decision {
    let (Ok(a), Ok(b)) = (
        body(e, contest, station, first),
        body(e, contest, station, second),
    ) else {
        return Decision::Differ;
    };
    let text = a.to_text();
    if text != b.to_text() {
        return Decision::Differ;
    }
    if has_error(&violations(e, &a)) {
        return Decision::Invalid;
    }
    Decision::Sign(text)
}

/// The keys whose values differ between two entries (an empty preference box equals 0).
pub fn differing_lines(
    form: &[Line],
    first: &BTreeMap<String, u64>,
    second: &BTreeMap<String, u64>,
) -> Vec<String> {
    form.iter()
        .filter(|l| {
            let get = |m: &BTreeMap<String, u64>| {
                m.get(&l.key)
                    .copied()
                    .or(if l.required { None } else { Some(0) })
            };
            get(first) != get(second)
        })
        .map(|l| l.key.clone())
        .collect()
}

#[cfg(test)]
mod tests;
