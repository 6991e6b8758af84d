//! The signed assessment: `urna/assessment/v1`, a C2SP signed note whose body is the whole
//! assessment, one line per control, so that every institution that signs it signs the same
//! bytes, and a changed body breaks every signature.
//!
//! ```text
//! urna/assessment/v1
//! election: sim-2025-assembly
//! definition: sha256:<64 hex>      the definition (election.toml ‖ stations file) assessed
//! controls: sha256:<64 hex>        the controls file the answers refer to
//! date: 2026-12-06
//! control: station-keys pass 300 stations, 300 distinct keys, each named after its station
//! control: asset-inventory yes Inventory v3 of 2026-11-30, kept by the IT unit
//! control: capacity open
//! ```
//!
//! Strict, so each assessment has one encoding: the keys in this order, each once; lower-case
//! hex; a real calendar date; control ids of `[a-z0-9-]`, each once; the answer one of
//! [`Answer`]'s words; evidence (the rest of the line) with no control characters and no
//! leading or trailing space, at most [`MAX_EVIDENCE_BYTES`]. urna's own answers (`pass`,
//! `fail`, `unknown`) and the operator's answers other than `open` carry evidence.
//!
//! Out of scope: which institutions must sign (the verifier names the keys it trusts).

use std::fmt;

use urna_model::note::{Note, NoteError, NoteSigner, NoteVerifier, SignatureError};

use crate::controls::valid_id;

/// First line of the body.
pub const HEADER: &str = "urna/assessment/v1";

/// Longest evidence, in bytes: a sentence or two naming a document or a file, not the
/// document itself; 40 controls at this size still fit a note ([`urna_model::note::MAX_NOTE_BYTES`]).
pub const MAX_EVIDENCE_BYTES: usize = 1000;

/// Longest election id, in bytes.
const MAX_ELECTION_BYTES: usize = 128;

/// An answer to one control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// urna checked it: it holds.
    Pass,
    /// urna checked it: it does not hold.
    Fail,
    /// urna had nothing to check it with.
    Unknown,
    /// The operator: it holds (evidence named).
    Yes,
    /// The operator: it holds in part (what is missing named).
    Partly,
    /// The operator: it does not hold.
    No,
    /// The operator: it does not apply to this deployment (why named).
    NotApplicable,
    /// Not answered yet.
    Open,
}

impl Answer {
    /// Every answer.
    pub const ALL: [Self; 8] = [
        Self::Pass,
        Self::Fail,
        Self::Unknown,
        Self::Yes,
        Self::Partly,
        Self::No,
        Self::NotApplicable,
        Self::Open,
    ];

    /// The word in the note and the assessment file.
    #[must_use]
    pub fn word(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Unknown => "unknown",
            Self::Yes => "yes",
            Self::Partly => "partly",
            Self::No => "no",
            Self::NotApplicable => "not-applicable",
            Self::Open => "open",
        }
    }

    /// The answer of this word.
    #[must_use]
    pub fn from_word(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.word() == word)
    }

    /// Whether urna gives this answer (an automatic check), not the operator.
    #[must_use]
    pub fn is_automatic(self) -> bool {
        matches!(self, Self::Pass | Self::Fail | Self::Unknown)
    }

    /// Whether the answer must name its evidence.
    #[must_use]
    pub fn needs_evidence(self) -> bool {
        self != Self::Open
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// One control's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlAnswer {
    /// The control's id.
    pub id: String,
    /// The answer.
    pub answer: Answer,
    /// The evidence, one line; `None` only for [`Answer::Open`].
    pub evidence: Option<String>,
}

/// The body of an `urna/assessment/v1` note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssessmentBody {
    /// The election's id.
    pub election: String,
    /// SHA-256 of the definition assessed, lower-case hex.
    pub definition: String,
    /// SHA-256 of the controls file, lower-case hex.
    pub controls: String,
    /// The date of the assessment, `YYYY-MM-DD`.
    pub date: String,
    /// One answer per control.
    pub answers: Vec<ControlAnswer>,
}

/// Why a body was refused: the line (1-based) and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// A line breaks a rule.
    #[error("urna/assessment/v1 line {line}: {rule}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// The rule broken.
        rule: String,
    },
}

impl AssessmentBody {
    /// The canonical text (ends in a newline).
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{HEADER}\nelection: {}\ndefinition: sha256:{}\ncontrols: sha256:{}\ndate: {}\n",
            self.election, self.definition, self.controls, self.date
        );
        for a in &self.answers {
            s.push_str("control: ");
            s.push_str(&a.id);
            s.push(' ');
            s.push_str(a.answer.word());
            if let Some(e) = &a.evidence {
                s.push(' ');
                s.push_str(e);
            }
            s.push('\n');
        }
        s
    }

    /// Parses a body strictly (see the module doc); [`Self::to_text`] gives the same bytes back.
    ///
    /// # Errors
    /// [`BodyError::Line`] naming the line and the rule.
    pub fn parse(text: &str) -> Result<Self, BodyError> {
        let err = |line: usize, rule: &str| BodyError::Line {
            line,
            rule: rule.to_owned(),
        };
        let Some(body) = text.strip_suffix('\n') else {
            return Err(err(
                text.lines().count().max(1),
                "the body must end in a newline",
            ));
        };
        let mut lines = body.split('\n').enumerate().map(|(i, l)| (i + 1, l));
        let mut next = |key: &str| -> Result<(usize, &str), BodyError> {
            let (n, line) = lines
                .next()
                .ok_or_else(|| err(0, &format!("missing `{key}` line")))?;
            Ok((n, line))
        };
        let (n, first) = next("header")?;
        if first != HEADER {
            return Err(err(n, &format!("the first line must be `{HEADER}`")));
        }
        let field = |(n, line): (usize, &str), key: &str| -> Result<(usize, String), BodyError> {
            line.strip_prefix(key)
                .and_then(|r| r.strip_prefix(": "))
                .map(|v| (n, v.to_owned()))
                .ok_or_else(|| err(n, &format!("expected `{key}: …`")))
        };
        let (n, election) = field(next("election")?, "election")?;
        if election.is_empty()
            || election.len() > MAX_ELECTION_BYTES
            || election
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(err(n, "field `election`: 1 to 128 bytes without spaces"));
        }
        let (n, definition) = field(next("definition")?, "definition")?;
        let definition = sha256_hex(&definition)
            .ok_or_else(|| err(n, "field `definition`: must be sha256:<64 lower-case hex>"))?;
        let (n, controls) = field(next("controls")?, "controls")?;
        let controls = sha256_hex(&controls)
            .ok_or_else(|| err(n, "field `controls`: must be sha256:<64 lower-case hex>"))?;
        let (n, date) = field(next("date")?, "date")?;
        if !valid_date(&date) {
            return Err(err(n, "field `date`: must be a calendar date YYYY-MM-DD"));
        }
        let mut answers: Vec<ControlAnswer> = Vec::new();
        for (n, line) in lines {
            let rest = line
                .strip_prefix("control: ")
                .ok_or_else(|| err(n, "expected `control: <id> <answer> [evidence]`"))?;
            let (id, rest) = rest
                .split_once(' ')
                .ok_or_else(|| err(n, "expected `control: <id> <answer> [evidence]`"))?;
            if !valid_id(id) {
                return Err(err(n, "control id: must be 1 to 64 of a-z, 0-9 and -"));
            }
            if answers.iter().any(|a| a.id == id) {
                return Err(err(n, &format!("control {id} is answered twice")));
            }
            let (word, evidence) = match rest.split_once(' ') {
                Some((w, e)) => (w, Some(e)),
                None => (rest, None),
            };
            let answer = Answer::from_word(word).ok_or_else(|| {
                err(
                    n,
                    &format!(
                        "control {id}: answer {word:?} is not one of pass, fail, unknown, yes, partly, no, not-applicable, open"
                    ),
                )
            })?;
            if let Some(e) = evidence {
                check_evidence(e)
                    .map_err(|rule| err(n, &format!("control {id}: evidence {rule}")))?;
            } else if answer.needs_evidence() {
                return Err(err(
                    n,
                    &format!("control {id}: `{word}` needs its evidence"),
                ));
            }
            answers.push(ControlAnswer {
                id: id.to_owned(),
                answer,
                evidence: evidence.map(str::to_owned),
            });
        }
        if answers.is_empty() {
            return Err(err(6, "at least one `control:` line"));
        }
        Ok(Self {
            election,
            definition,
            controls,
            date,
            answers,
        })
    }
}

/// Checks one line of evidence: 1 to [`MAX_EVIDENCE_BYTES`] bytes, no control characters,
/// no leading or trailing white space.
///
/// # Errors
/// The rule broken, as words.
pub fn check_evidence(e: &str) -> Result<(), &'static str> {
    if e.is_empty() {
        return Err("must not be empty");
    }
    if e.len() > MAX_EVIDENCE_BYTES {
        return Err("is longer than 1000 bytes");
    }
    if e.chars().any(char::is_control) {
        return Err("must be one line without control characters");
    }
    if e.trim() != e {
        return Err("must not start or end with white space");
    }
    Ok(())
}

/// Why signing, co-signing or verifying failed.
#[derive(Debug, thiserror::Error)]
pub enum SignedError {
    /// Not a signed note.
    #[error("signed note: {0}")]
    Note(#[from] NoteError),
    /// The body is not an assessment.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// A signature is missing or wrong.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The key has signed this note already.
    #[error("key {0} has signed this assessment already")]
    AlreadySigned(String),
}

/// Signs a body: the first signature, by the commission.
///
/// # Errors
/// [`SignedError::Note`] if the text cannot be a note (too long).
pub fn sign(body: &AssessmentBody, signer: &NoteSigner) -> Result<Note, SignedError> {
    let mut note = Note::unsigned(&body.to_text())?;
    note.sign(signer);
    Ok(note)
}

/// Parses a signed assessment: the note's envelope and its body (strict). Signatures are
/// not checked here (see [`verify`]).
///
/// # Errors
/// [`SignedError::Note`] or [`SignedError::Body`].
pub fn open(bytes: &[u8]) -> Result<(Note, AssessmentBody), SignedError> {
    let note = Note::parse(bytes)?;
    let body = AssessmentBody::parse(note.text())?;
    Ok((note, body))
}

/// Adds a partner's signature to a signed assessment. The body is parsed first, so a key
/// never signs something that is not an assessment; a key that signed already is refused.
///
/// # Errors
/// [`SignedError`].
pub fn cosign(bytes: &[u8], signer: &NoteSigner) -> Result<Note, SignedError> {
    let (mut note, _) = open(bytes)?;
    if note.signature_by(signer.name(), signer.key_id()).is_some() {
        return Err(SignedError::AlreadySigned(signer.name().to_owned()));
    }
    note.sign(signer);
    Ok(note)
}

/// Checks that every key in `trusted` signed the note, and returns their names in the
/// order given, with the names on signature lines that no trusted key accounts for.
///
/// # Errors
/// [`SignedError::Signature`] for the first trusted key whose signature is missing or does
/// not verify (a changed body breaks them all); [`SignedError::Note`]/[`SignedError::Body`].
pub fn verify(
    bytes: &[u8],
    trusted: &[NoteVerifier],
) -> Result<(AssessmentBody, Vec<String>, Vec<String>), SignedError> {
    let (note, body) = open(bytes)?;
    let mut signed = Vec::with_capacity(trusted.len());
    for v in trusted {
        v.verify(&note)?;
        signed.push(v.name().to_owned());
    }
    let unchecked = note
        .signatures()
        .iter()
        .filter(|s| {
            !trusted
                .iter()
                .any(|v| v.name() == s.name && v.key_id() == s.key_id)
        })
        .map(|s| s.name.clone())
        .collect();
    Ok((body, signed, unchecked))
}

fn sha256_hex(v: &str) -> Option<String> {
    let h = v.strip_prefix("sha256:")?;
    (h.len() == 64
        && h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then(|| h.to_owned())
}

/// `YYYY-MM-DD`, a real day of the Gregorian calendar.
pub(crate) fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        s.get(r)
            .filter(|p| p.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|p| p.parse().ok())
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    y >= 1 && (1..=days).contains(&d)
}

#[cfg(test)]
mod tests;
