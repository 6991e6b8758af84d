//! The bodies of `urna/protocol/v1` and `urna/amendment/v1` notes.
//!
//! A body is line-oriented `key: value` text whose first line names type and version:
//! ```text
//! urna/protocol/v1
//! election: al-2021
//! contest: assembly
//! station: P-3264
//! revision: 1
//! registered: 721
//! ballots-cast: 281
//! invalid: 13
//! valid: 268
//! votes: PS 112
//! votes: PD 95
//! preferences: PD 1:41 4:7
//! preferences: PS 2:60 7:152
//! scan: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//! ```
//! An amendment has the same shape with `urna/amendment/v1`, and after `revision:` two more
//! lines: `supersedes: sha256:<hex of the superseded entry's note bytes>` and `reason: <text>`.
//!
//! The parser is strict, so each result has exactly one encoding: keys come in the order above
//! (named counts, then `votes:` lines, then `preferences:` lines, then the optional `scan:`), no
//! key repeats, numbers are canonical decimals (no sign, no leading zeros) of at most
//! [`MAX_COUNT`], and anything after the last recognised line is an error. Which counts, lists
//! and candidates are allowed depends on the election definition; that check is
//! [`crate::intake`]'s.
//!
//! ## Preference votes (open lists)
//!
//! `preferences: <list> <number>:<votes> <number>:<votes> …` states the preference votes of one
//! open list's candidates (each by its ballot number within the list, as in the definition's
//! `[[lists.candidates]]`), one line per list. The lines are optional and come after every
//! `votes:` line, so v1 stays one format: a body without them is byte for byte what it was
//! before open lists, and every note signed before still parses to the same body. One line per
//! list, not per candidate, because the line is what a station signs and the log stores a
//! million times: a Kosovo-sized protocol (8 lists, 79 marked candidates) is about 900 bytes
//! this way against about 2,000 with a line per candidate, and intake's hashing, storage and
//! tiles grow with the bytes. The encoding is fixed so that the parser alone, without the
//! definition, guarantees one text per body:
//! - lines are sorted by list id (byte order), strictly: a list written twice is a duplicate;
//! - within a line, candidates are sorted by number, strictly, one space between pairs: a
//!   repeated number is a duplicate, one out of order is refused;
//! - a candidate with no preference votes is **not written** (`PS 7:0` is refused), and a list
//!   none of whose candidates has a vote has no line. A paper protocol has a box per candidate,
//!   but an empty box and a zero mean the same; writing only the non-zero ones keeps notes of
//!   100-candidate lists small (a station's voters mark a few dozen candidates, not all of
//!   them) and keeps "every candidate present" from being a question the parser cannot answer;
//! - candidate numbers run from 1 to [`MAX_CANDIDATE_NUMBER`], canonical like every count.
//!
//! `votes:` lines keep their free order (notes signed before open lists rely on it); a list's
//! preference lines need no `votes:` line, so that a preference for a list that is not on the
//! ballot parses and is *quarantined* by intake (the note is signed by the station and must be
//! stored and reviewed) rather than refused.

use std::fmt::Write as _;

/// First line of a protocol body.
pub const PROTOCOL_V1: &str = "urna/protocol/v1";
/// First line of an amendment body.
pub const AMENDMENT_V1: &str = "urna/amendment/v1";

/// Largest count a protocol may state: 10¹² − 1. No polling station or country comes near it,
/// and any sum of a million of them still fits easily in a `u64`.
pub const MAX_COUNT: u64 = 999_999_999_999;

/// Longest identifier (election, contest, station, list, count name), in bytes.
pub const MAX_ID_LEN: usize = 64;

/// Longest amendment reason, in bytes.
pub const MAX_REASON_LEN: usize = 1000;

/// Largest candidate number within a list. Kosovo's lists have at most 110 candidates, Albania's
/// and Bosnia and Herzegovina's fewer; four digits leave room for any ballot.
pub const MAX_CANDIDATE_NUMBER: u32 = 9999;

/// Most lines a body may have: room for 500 lists (a `votes:` and a `preferences:` line each)
/// and every count. A note is at most [`crate::note::MAX_NOTE_BYTES`] long anyway.
pub const MAX_LINES: usize = 4096;

/// Which kind of body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyKind {
    /// A station's protocol.
    Protocol,
    /// An amendment superseding an earlier entry.
    Amendment {
        /// SHA-256 of the superseded entry (its full note bytes).
        supersedes: [u8; 32],
        /// Why, in words.
        reason: String,
    },
}

/// A `key: value` field with the line it was on (1-based within the note).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// Count name or list id.
    pub name: String,
    /// The number.
    pub value: u64,
    /// Line in the note.
    pub line: usize,
}

/// One candidate's preference votes (a `<number>:<votes>` pair of a `preferences:` line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CandidateVotes {
    /// The candidate's ballot number within its list (1 to [`MAX_CANDIDATE_NUMBER`]).
    pub number: u32,
    /// Preference votes (at least 1: a candidate without any has no line).
    pub votes: u64,
    /// Line in the note (its list's `preferences:` line).
    pub line: usize,
}

/// The `preferences:` line of one list, in candidate-number order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPreferences {
    /// List id.
    pub list: String,
    /// Its candidates with preference votes, by increasing number (never empty).
    pub candidates: Vec<CandidateVotes>,
}

/// A parsed protocol or amendment body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolBody {
    /// Protocol or amendment.
    pub kind: BodyKind,
    /// `election:`
    pub election: String,
    /// `contest:`
    pub contest: String,
    /// `station:`
    pub station: String,
    /// `revision:` (1 for a first protocol).
    pub revision: u32,
    /// Named counts, in the order written.
    pub counts: Vec<Counted>,
    /// `votes:` lines, in the order written.
    pub votes: Vec<Counted>,
    /// `preferences:` lines, one per list, lists by increasing id (empty for a closed list).
    pub preferences: Vec<ListPreferences>,
    /// `scan:` SHA-256 of the scanned paper protocol, if given.
    pub scan: Option<[u8; 32]>,
}

/// Why a body could not be parsed. `line` counts from 1, the type line being line 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The first line is not a known type and version.
    #[error("line 1: unknown note type {0:?}; expected {PROTOCOL_V1} or {AMENDMENT_V1}")]
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
        field: String,
        /// The rule.
        rule: String,
    },
    /// A key appears twice.
    #[error("line {line}: duplicate field `{field}`")]
    Duplicate {
        /// The second occurrence.
        line: usize,
        /// The field.
        field: String,
    },
    /// A line that is not `key: value`, or comes after the body ended.
    #[error("line {line}: unexpected line {text:?}")]
    Unexpected {
        /// The line.
        line: usize,
        /// Its text (cut to 80 characters).
        text: String,
    },
    /// Too many lines.
    #[error("body has more than {MAX_LINES} lines")]
    TooManyLines,
}

impl ProtocolBody {
    /// Parses a body (a note's text).
    ///
    /// # Errors
    /// [`BodyError`] naming the line and field.
    pub fn parse(text: &str) -> Result<Self, BodyError> {
        let text = text.strip_suffix('\n').unwrap_or(text);
        // Count first (a whole-vector byte count), so the line table is allocated once.
        let n_lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
        if n_lines > MAX_LINES {
            return Err(BodyError::TooManyLines);
        }
        // Split by a plain byte loop: lines are short, and a searcher per line costs more than
        // the line. `\n` is ASCII, so every cut is at a character boundary.
        let mut lines: Vec<&str> = Vec::with_capacity(n_lines);
        let mut start = 0;
        for (i, &b) in text.as_bytes().iter().enumerate() {
            if b == b'\n' {
                lines.push(&text[start..i]);
                start = i + 1;
            }
        }
        lines.push(&text[start..]);
        let mut cur = Cursor {
            lines: &lines,
            pos: 0,
        };
        let is_amendment = match lines[0] {
            PROTOCOL_V1 => false,
            AMENDMENT_V1 => true,
            other => return Err(BodyError::UnknownType(cut(other))),
        };
        cur.pos = 1;
        let election = cur.expect("election", check_id)?;
        let contest = cur.expect("contest", check_id)?;
        let station = cur.expect("station", check_id)?;
        let (revision_line, revision_text) = cur.expect_raw("revision")?;
        let revision = parse_count(&revision_text)
            .ok()
            .and_then(|v| u32::try_from(v).ok())
            .filter(|&v| v >= 1)
            .ok_or_else(|| {
                field_err(
                    revision_line,
                    "revision",
                    "must be a whole number from 1 to 4294967295 without leading zeros",
                )
            })?;
        let kind = if is_amendment {
            let (l, s) = cur.expect_raw("supersedes")?;
            let supersedes = parse_sha256(&s).map_err(|r| field_err(l, "supersedes", r))?;
            let (l, reason) = cur.expect_raw("reason")?;
            if reason.len() > MAX_REASON_LEN {
                return Err(field_err(l, "reason", "longer than 1000 bytes"));
            }
            BodyKind::Amendment { supersedes, reason }
        } else {
            BodyKind::Protocol
        };

        let mut counts: Vec<Counted> = Vec::new();
        let mut votes: Vec<Counted> = Vec::new();
        let mut preferences: Vec<ListPreferences> = Vec::new();
        let mut scan = None;
        while let Some((line, key, value)) = cur.next_field()? {
            match key {
                "votes" => {
                    if scan.is_some() {
                        return Err(unexpected(line, lines[line - 1]));
                    }
                    if !preferences.is_empty() {
                        return Err(field_err(
                            line,
                            "votes",
                            "`votes:` lines come before the `preferences:` lines",
                        ));
                    }
                    let (list, n) = value.split_once(' ').ok_or_else(|| {
                        field_err(line, "votes", "must be `votes: <list> <number>`")
                    })?;
                    check_id(list).map_err(|r| field_err(line, "votes", r))?;
                    let value =
                        parse_count(n).map_err(|r| field_err(line, &format!("votes {list}"), r))?;
                    if votes.iter().any(|v| v.name == list) {
                        return Err(BodyError::Duplicate {
                            line,
                            field: format!("votes {list}"),
                        });
                    }
                    votes.push(Counted {
                        name: list.to_owned(),
                        value,
                        line,
                    });
                }
                "preferences" => {
                    if scan.is_some() {
                        return Err(unexpected(line, lines[line - 1]));
                    }
                    parse_preferences(line, value, &mut preferences)?;
                }
                "scan" => {
                    if scan.is_some() {
                        return Err(BodyError::Duplicate {
                            line,
                            field: "scan".into(),
                        });
                    }
                    scan = Some(parse_sha256(value).map_err(|r| field_err(line, "scan", r))?);
                }
                "election" | "contest" | "station" | "revision" | "supersedes" | "reason" => {
                    return Err(BodyError::Duplicate {
                        line,
                        field: key.to_owned(),
                    });
                }
                name => {
                    if !votes.is_empty() || !preferences.is_empty() || scan.is_some() {
                        return Err(field_err(
                            line,
                            name,
                            "named counts come before the `votes:` lines",
                        ));
                    }
                    check_count_name(name).map_err(|r| field_err(line, name, r))?;
                    let value = parse_count(value).map_err(|r| field_err(line, name, r))?;
                    if counts.iter().any(|c| c.name == name) {
                        return Err(BodyError::Duplicate {
                            line,
                            field: name.to_owned(),
                        });
                    }
                    counts.push(Counted {
                        name: name.to_owned(),
                        value,
                        line,
                    });
                }
            }
        }
        Ok(Self {
            kind,
            election,
            contest,
            station,
            revision,
            counts,
            votes,
            preferences,
            scan,
        })
    }

    /// The canonical text of this body, ending in a newline; [`ProtocolBody::parse`] of it gives
    /// back an equal body (line numbers aside).
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(256);
        s.push_str(match self.kind {
            BodyKind::Protocol => PROTOCOL_V1,
            BodyKind::Amendment { .. } => AMENDMENT_V1,
        });
        // Writing to a String cannot fail.
        let _ = write!(
            s,
            "\nelection: {}\ncontest: {}\nstation: {}\nrevision: {}\n",
            self.election, self.contest, self.station, self.revision
        );
        if let BodyKind::Amendment { supersedes, reason } = &self.kind {
            let _ = write!(
                s,
                "supersedes: sha256:{}\nreason: {reason}\n",
                hex(supersedes)
            );
        }
        for c in &self.counts {
            let _ = writeln!(s, "{}: {}", c.name, c.value);
        }
        for v in &self.votes {
            let _ = writeln!(s, "votes: {} {}", v.name, v.value);
        }
        for l in &self.preferences {
            let _ = write!(s, "preferences: {}", l.list);
            for c in &l.candidates {
                let _ = write!(s, " {}:{}", c.number, c.votes);
            }
            s.push('\n');
        }
        if let Some(scan) = &self.scan {
            let _ = writeln!(s, "scan: sha256:{}", hex(scan));
        }
        s
    }
}

/// Parses the value of one `preferences:` line (a list and its candidates' `<number>:<votes>`
/// pairs) onto the lists parsed so far, enforcing the canonical order.
fn parse_preferences(
    line: usize,
    value: &str,
    preferences: &mut Vec<ListPreferences>,
) -> Result<(), BodyError> {
    let (list, pairs) = value.split_once(' ').ok_or_else(|| {
        field_err(
            line,
            "preferences",
            "must be `preferences: <list> <number>:<votes> …` with at least one candidate",
        )
    })?;
    check_id(list).map_err(|r| field_err(line, "preferences", r))?;
    match preferences.last() {
        Some(last) if last.list.as_str() == list => {
            return Err(BodyError::Duplicate {
                line,
                field: format!("preferences {list}"),
            });
        }
        Some(last) if last.list.as_str() > list => {
            return Err(field_err(
                line,
                &format!("preferences {list}"),
                "`preferences:` lines are sorted by list id",
            ));
        }
        _ => {}
    }
    // A pair takes at least 4 bytes with its space ("1:1 "), so this bounds the vector. The
    // pairs are cut with byte loops: a `str` pattern searcher per pair costs more than the pair.
    let b = pairs.as_bytes();
    let mut candidates = Vec::with_capacity(b.len() / 4 + 1);
    let mut prev = 0;
    let mut start = 0;
    while start <= b.len() {
        let end = b[start..]
            .iter()
            .position(|&c| c == b' ')
            .map_or(b.len(), |i| start + i);
        // Cuts at ASCII bytes are character boundaries.
        let pair = &pairs[start..end];
        start = end + 1;
        let colon = pair.bytes().position(|c| c == b':').ok_or_else(|| {
            field_err(
                line,
                &format!("preferences {list}"),
                &format!(
                    "{:?} is not `<candidate number>:<votes>` (pairs are separated by one space)",
                    cut(pair)
                ),
            )
        })?;
        let (number, votes) = (&pair[..colon], &pair[colon + 1..]);
        let number = parse_count(number)
            .ok()
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| (1..=MAX_CANDIDATE_NUMBER).contains(v))
            .ok_or_else(|| {
                field_err(
                    line,
                    &format!("preferences {list}"),
                    &format!(
                        "candidate number {:?}: must be a whole number from 1 to 9999 without leading zeros",
                        cut(number)
                    ),
                )
            })?;
        let field = || format!("preferences {list} {number}");
        let votes = parse_count(votes).map_err(|r| field_err(line, &field(), r))?;
        if votes == 0 {
            return Err(field_err(
                line,
                &field(),
                "a candidate without preference votes is left out; zero is not written",
            ));
        }
        if number == prev {
            return Err(BodyError::Duplicate {
                line,
                field: field(),
            });
        }
        if number < prev {
            return Err(field_err(
                line,
                &field(),
                "candidates are sorted by number within their list's line",
            ));
        }
        prev = number;
        candidates.push(CandidateVotes {
            number,
            votes,
            line,
        });
    }
    preferences.push(ListPreferences {
        list: list.to_owned(),
        candidates,
    });
    Ok(())
}

struct Cursor<'a> {
    lines: &'a [&'a str],
    pos: usize,
}

impl Cursor<'_> {
    /// The next `key: value` line, or `None` at the end.
    fn next_field(&mut self) -> Result<Option<(usize, &str, &str)>, BodyError> {
        let Some(l) = self.lines.get(self.pos) else {
            return Ok(None);
        };
        self.pos += 1;
        let line = self.pos;
        let (k, v) = split_field(l).ok_or_else(|| unexpected(line, l))?;
        if v.is_empty() || v.starts_with(' ') || v.ends_with(' ') || k.is_empty() {
            return Err(unexpected(line, l));
        }
        Ok(Some((line, k, v)))
    }

    fn expect_raw(&mut self, key: &'static str) -> Result<(usize, String), BodyError> {
        let line = self.pos + 1;
        match self.next_field()? {
            Some((l, k, v)) if k == key => Ok((l, v.to_owned())),
            _ => Err(BodyError::Missing {
                line,
                expected: key,
            }),
        }
    }

    fn expect(
        &mut self,
        key: &'static str,
        check: fn(&str) -> Result<(), &'static str>,
    ) -> Result<String, BodyError> {
        let (line, v) = self.expect_raw(key)?;
        check(&v).map_err(|r| field_err(line, key, r))?;
        Ok(v)
    }
}

/// `l.split_once(": ")`, found with a byte search for `:` (a two-byte pattern would set up a
/// substring searcher on every line).
fn split_field(l: &str) -> Option<(&str, &str)> {
    let b = l.as_bytes();
    let mut from = 0;
    while let Some(i) = b[from..].iter().position(|&c| c == b':') {
        let at = from + i;
        if b.get(at + 1) == Some(&b' ') {
            return Some((&l[..at], &l[at + 2..]));
        }
        from = at + 1;
    }
    None
}

/// Checks an identifier (election, contest, station, unit, list): 1–64 bytes of ASCII letters,
/// digits and `.`, `_`, `-`, `:`, `/`, starting with a letter or digit.
///
/// # Errors
/// The rule broken.
pub fn check_id(s: &str) -> Result<(), &'static str> {
    let rule = "must be 1 to 64 ASCII letters, digits, '.', '_', '-', ':' or '/', starting with a letter or digit";
    let ok = !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-:/".contains(&b));
    if ok { Ok(()) } else { Err(rule) }
}

/// Checks a count name: lower-case ASCII letters, digits and `-`, starting with a letter, and
/// not one of the reserved keys.
///
/// # Errors
/// The rule broken.
pub fn check_count_name(s: &str) -> Result<(), &'static str> {
    const RESERVED: [&str; 9] = [
        "election",
        "contest",
        "station",
        "revision",
        "supersedes",
        "reason",
        "votes",
        "preferences",
        "scan",
    ];
    let ok = !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.ends_with('-');
    if !ok {
        return Err("count names are lower-case letters, digits and '-', starting with a letter");
    }
    if RESERVED.contains(&s) {
        return Err("this name is reserved for a protocol field");
    }
    Ok(())
}

/// Parses a canonical count: decimal digits, no sign, no leading zeros, at most [`MAX_COUNT`].
///
/// # Errors
/// The rule broken.
pub fn parse_count(s: &str) -> Result<u64, &'static str> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be a whole number written with digits only");
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err("must not have leading zeros");
    }
    if s.len() > 12 {
        return Err("must be at most 999999999999");
    }
    // At most 12 digits, each checked above: the value fits in a u64 without overflow.
    Ok(s.bytes().fold(0, |n, b| n * 10 + u64::from(b - b'0')))
}

/// Parses `sha256:<64 lower-case hex digits>`.
///
/// # Errors
/// The rule broken.
pub fn parse_sha256(s: &str) -> Result<[u8; 32], &'static str> {
    let rule = "must be sha256: followed by 64 lower-case hex digits";
    let h = s.strip_prefix("sha256:").ok_or(rule)?;
    if h.len() != 64
        || !h
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(rule);
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).map_err(|_| rule)?;
    }
    Ok(out)
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn field_err(line: usize, field: &str, rule: &str) -> BodyError {
    BodyError::Field {
        line,
        field: field.to_owned(),
        rule: rule.to_owned(),
    }
}

fn unexpected(line: usize, text: &str) -> BodyError {
    BodyError::Unexpected {
        line,
        text: cut(text),
    }
}

fn cut(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests;
