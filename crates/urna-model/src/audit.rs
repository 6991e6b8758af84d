//! The body of `urna/audit/v1` notes: a risk-limiting audit recorded step by step in the log.
//!
//! Every step of an audit of one contest is one note, signed by an authority whose scope is the
//! election's root unit (the central commission: a contest is held at every station, so only
//! an authority over all of them may audit it). The kinds, in the order the log must hold them:
//!
//! ```text
//! urna/audit/v1                       urna/audit/v1               urna/audit/v1
//! election: al-2021-assembly          election: al-2021-assembly  election: al-2021-assembly
//! contest: assembly                   contest: assembly           contest: assembly
//! kind: start                         kind: seed                  kind: sample
//! checkpoint: 5200 <64 hex: root>     seed: 12345678901234567890  round: 1
//! rules: generic                                                  draws: 1-36
//! seats: 1                                                        stations: P-1 P-7 P-9
//! method: macro-kaplan-markov
//! risk-limit: 0.05
//! rounds: 4
//! assertions: 12 sha256:<64 hex>
//!
//! urna/audit/v1                       urna/audit/v1
//! election: al-2021-assembly          election: al-2021-assembly
//! contest: assembly                   contest: assembly
//! kind: count                         kind: verdict
//! station: P-7                        round: 1
//! votes: PS 112                       draws: 36
//! votes: PD 95                        risk: 0.031234
//! invalid: 13                         assertion-risk: 0.000012 0.031234
//!                                     verdict: risk-limit-met
//! ```
//!
//! - `start`: the audited outcome is the log's first `size` entries, whose Merkle root is
//!   given (so the audit names exactly what it audits); the seat rules (a built-in rule set
//!   of `urna-tally`, and `seats:` for rule sets that name no districts), the method (only
//!   `macro-kaplan-markov`, station batches: see `docs/audit.md`), the risk limit, the rounds
//!   before a full hand count, and how many assertions there are with a digest of them.
//! - `seed`: at least 20 decimal digits from a public dice roll; one per audit.
//! - `sample`: round `k`'s draws (`first-last`) and the stations they add, in draw order.
//! - `count`: one sampled station's hand count: `votes:` for every list of the contest in
//!   ballot order, then `invalid:` (invalid and blank ballots).
//! - `verdict`: after round `k`'s counts: the draws evaluated, the Kaplan–Markov risk that
//!   decides, the risk per assertion (same order as the assertions), and one of
//!   `risk-limit-met`, `escalate`, `full-hand-count`.
//!
//! One encoding per body, as for protocols: keys in the order shown, none repeated, counts
//! canonical decimals (no sign, no leading zeros) of at most [`MAX_COUNT`], the risk limit
//! `0.` and one to six digits without a trailing zero (at most [`MAX_RISK_LIMIT`], 0.1), risks `0.` or `1.` and exactly six
//! digits (rounded up, so a printed risk is never below the computed one), hashes lower-case
//! hex. Whether the numbers follow from the seed and the counts is not this module's question
//! (it has no seat or audit mathematics): `urna-audit`'s `trail` checks that, at intake and in
//! `urna verify`.

use std::fmt::Write as _;

use crate::definition::{ContestIdx, Election, StationIdx, UnitIdx};
use crate::note::{Note, SignatureError};
use crate::protocol::{MAX_COUNT, check_id, hex, parse_count};

/// First line of an audit body.
pub const AUDIT_V1: &str = "urna/audit/v1";

/// The only method v1 knows: MACRO error bounds, PPEB sampling, Kaplan–Markov risk.
pub const METHOD: &str = "macro-kaplan-markov";

/// Most stations one sample note may name (a note is at most 64 KiB).
pub const MAX_SAMPLE_STATIONS: usize = 4000;

/// Most assertions a verdict may give a risk for.
pub const MAX_ASSERTIONS: u32 = 4000;

/// Most rounds an audit may plan.
pub const MAX_ROUNDS: u32 = 20;

/// The highest risk limit an audit may name, in millionths: 10 %. California's law defines a
/// risk-limiting audit by a chance of at most 5 % (Elections Code § 15366(c); 2 CCR § 20112
/// sets 5 % for every audit type), Colorado's Secretary of State has set 3 % to 4 %, and the
/// limits used in practice and in Stark's papers run from 1 % to 10 %. A larger limit would
/// let an audit "confirm" an outcome on next to no evidence (at 0.99 a single draw does).
pub const MAX_RISK_LIMIT: Micros = 100_000;

/// The rule [`MAX_RISK_LIMIT`] states, as refusals name it.
pub const RISK_LIMIT_RULE: &str = "must be above 0 and at most 0.1 (a risk limit above 10 % is not risk-limiting: California's law sets at most 5 %, practice 1 % to 10 %)";

/// Whether note bytes (or text) are an audit note: the first line is [`AUDIT_V1`].
pub fn is_audit(note: &[u8]) -> bool {
    note.strip_prefix(AUDIT_V1.as_bytes())
        .is_some_and(|rest| rest.first() == Some(&b'\n'))
}

/// A risk or a risk limit in millionths (0 to 1,000,000).
pub type Micros = u32;

/// What an audit verdict says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The risk is at most the limit: the reported outcome stands.
    RiskLimitMet,
    /// Count the next round's sample.
    Escalate,
    /// Count every ballot by hand.
    FullHandCount,
}

impl Decision {
    /// The word in the body.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RiskLimitMet => "risk-limit-met",
            Self::Escalate => "escalate",
            Self::FullHandCount => "full-hand-count",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::RiskLimitMet, Self::Escalate, Self::FullHandCount]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// One step of an audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditStep {
    /// The audit's parameters.
    Start {
        /// Entries of the log that make up the audited outcome.
        size: u64,
        /// The log's Merkle root at `size`.
        root: [u8; 32],
        /// Built-in rule set id.
        rules: String,
        /// Seats, for a rule set that names no districts.
        seats: Option<u32>,
        /// Risk limit in millionths.
        risk_limit: Micros,
        /// Rounds before a full hand count.
        rounds: u32,
        /// Number of assertions.
        assertions: u32,
        /// Their digest.
        digest: [u8; 32],
    },
    /// The public seed.
    Seed {
        /// Decimal digits.
        seed: String,
    },
    /// A round's sample.
    Sample {
        /// Round, from 1.
        round: u32,
        /// First draw number of the round.
        first: u64,
        /// Last draw number of the round.
        last: u64,
        /// Stations the round adds, in draw order.
        stations: Vec<String>,
    },
    /// A station's hand count.
    Count {
        /// Station id.
        station: String,
        /// Votes per list id, in the order written.
        votes: Vec<(String, u64)>,
        /// Invalid and blank ballots.
        invalid: u64,
    },
    /// A round's verdict.
    Verdict {
        /// Round (0: before any sample, when no sample can confirm the outcome).
        round: u32,
        /// Draws evaluated.
        draws: u64,
        /// The deciding risk, millionths, rounded up.
        risk: Micros,
        /// Risk per assertion, millionths, rounded up.
        assertion_risks: Vec<Micros>,
        /// What to do.
        decision: Decision,
    },
}

impl AuditStep {
    /// The `kind:` word.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Start { .. } => "start",
            Self::Seed { .. } => "seed",
            Self::Sample { .. } => "sample",
            Self::Count { .. } => "count",
            Self::Verdict { .. } => "verdict",
        }
    }
}

/// A parsed `urna/audit/v1` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditBody {
    /// Election id.
    pub election: String,
    /// Contest id.
    pub contest: String,
    /// The step.
    pub step: AuditStep,
}

/// Why an audit body is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditBodyError {
    /// The first line is not `urna/audit/v1`.
    #[error("line 1: expected {AUDIT_V1}")]
    NotAudit,
    /// A line is missing or is another field than expected here.
    #[error("line {line}: expected field `{field}`")]
    Expected {
        /// Line.
        line: usize,
        /// Field expected.
        field: &'static str,
    },
    /// A field's value breaks its rule.
    #[error("line {line}: field `{field}`: {rule}")]
    Value {
        /// Line.
        line: usize,
        /// Field.
        field: &'static str,
        /// The rule.
        rule: String,
    },
    /// Text after the last field.
    #[error("line {line}: unexpected line after the last field")]
    Trailing {
        /// Line.
        line: usize,
    },
}

impl AuditBody {
    /// Parses a body (a note's text).
    ///
    /// # Errors
    /// [`AuditBodyError`] naming the line, the field and the rule.
    pub fn parse(text: &str) -> Result<Self, AuditBodyError> {
        let text = text.strip_suffix('\n').unwrap_or(text);
        let mut p = Lines {
            lines: text.split('\n').collect(),
            at: 0,
        };
        if p.lines.first() != Some(&AUDIT_V1) {
            return Err(AuditBodyError::NotAudit);
        }
        p.at = 1;
        let election = p.id("election")?;
        let contest = p.id("contest")?;
        let kind = p.field("kind")?;
        let kind_line = p.at;
        let step = match kind {
            "start" => {
                let (line, cp) = (p.at + 1, p.field("checkpoint")?);
                let (size, root) = cp.split_once(' ').ok_or_else(|| {
                    value(
                        line,
                        "checkpoint",
                        "must be `<size> <root as 64 hex digits>`",
                    )
                })?;
                let size = count(line, "checkpoint", size)?;
                let root = hex32(root).ok_or_else(|| {
                    value(line, "checkpoint", "root must be 64 lower-case hex digits")
                })?;
                let rules = p.id("rules")?;
                let seats = match p.peek("seats") {
                    Some(s) => {
                        let line = p.at;
                        Some(small(line, "seats", s, 1, 100_000)?)
                    }
                    None => None,
                };
                let (line, method) = (p.at + 1, p.field("method")?);
                if method != METHOD {
                    return Err(value(line, "method", &format!("must be {METHOD}")));
                }
                let (line, rl) = (p.at + 1, p.field("risk-limit")?);
                let risk_limit = parse_limit(rl).ok_or_else(|| {
                    value(
                        line,
                        "risk-limit",
                        "must be 0. and 1 to 6 digits, no trailing zero, above 0",
                    )
                })?;
                if risk_limit > MAX_RISK_LIMIT {
                    return Err(value(line, "risk-limit", RISK_LIMIT_RULE));
                }
                let (line, r) = (p.at + 1, p.field("rounds")?);
                let rounds = small(line, "rounds", r, 1, MAX_ROUNDS)?;
                let (line, a) = (p.at + 1, p.field("assertions")?);
                let (n, d) = a.split_once(' ').ok_or_else(|| {
                    value(line, "assertions", "must be `<number> sha256:<64 hex>`")
                })?;
                let assertions = small(line, "assertions", n, 0, MAX_ASSERTIONS)?;
                let digest = d.strip_prefix("sha256:").and_then(hex32).ok_or_else(|| {
                    value(
                        line,
                        "assertions",
                        "digest must be sha256:<64 lower-case hex>",
                    )
                })?;
                AuditStep::Start {
                    size,
                    root,
                    rules,
                    seats,
                    risk_limit,
                    rounds,
                    assertions,
                    digest,
                }
            }
            "seed" => {
                let (line, seed) = (p.at + 1, p.field("seed")?);
                if seed.len() < 20 || seed.len() > 200 || !seed.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(value(line, "seed", "must be 20 to 200 decimal digits"));
                }
                AuditStep::Seed {
                    seed: seed.to_owned(),
                }
            }
            "sample" => {
                let (line, r) = (p.at + 1, p.field("round")?);
                let round = small(line, "round", r, 1, MAX_ROUNDS)?;
                let (line, d) = (p.at + 1, p.field("draws")?);
                let (a, b) = d
                    .split_once('-')
                    .ok_or_else(|| value(line, "draws", "must be `<first>-<last>`"))?;
                let (first, last) = (count(line, "draws", a)?, count(line, "draws", b)?);
                if first == 0 || last < first {
                    return Err(value(line, "draws", "must satisfy 1 <= first <= last"));
                }
                let (line, s) = (p.at + 1, p.field("stations")?);
                let mut stations: Vec<String> = Vec::new();
                if !s.is_empty() {
                    for id in s.split(' ') {
                        check_id(id).map_err(|rule| value(line, "stations", rule))?;
                        if stations.iter().any(|x| x == id) {
                            return Err(value(line, "stations", &format!("{id} is named twice")));
                        }
                        stations.push(id.to_owned());
                    }
                }
                if stations.len() > MAX_SAMPLE_STATIONS {
                    return Err(value(
                        line,
                        "stations",
                        &format!("at most {MAX_SAMPLE_STATIONS} per note"),
                    ));
                }
                AuditStep::Sample {
                    round,
                    first,
                    last,
                    stations,
                }
            }
            "count" => {
                let station = p.id("station")?;
                let mut votes: Vec<(String, u64)> = Vec::new();
                while let Some(v) = p.peek("votes") {
                    let line = p.at;
                    let (list, n) = v
                        .split_once(' ')
                        .ok_or_else(|| value(line, "votes", "must be `<list> <votes>`"))?;
                    check_id(list).map_err(|rule| value(line, "votes", rule))?;
                    if votes.iter().any(|(l, _)| l == list) {
                        return Err(value(line, "votes", &format!("list {list} is named twice")));
                    }
                    votes.push((list.to_owned(), count(line, "votes", n)?));
                }
                if votes.is_empty() {
                    return Err(AuditBodyError::Expected {
                        line: p.at + 1,
                        field: "votes",
                    });
                }
                let (line, i) = (p.at + 1, p.field("invalid")?);
                AuditStep::Count {
                    station,
                    votes,
                    invalid: count(line, "invalid", i)?,
                }
            }
            "verdict" => {
                let (line, r) = (p.at + 1, p.field("round")?);
                let round = small(line, "round", r, 0, MAX_ROUNDS)?;
                let (line, d) = (p.at + 1, p.field("draws")?);
                let draws = count(line, "draws", d)?;
                let (line, r) = (p.at + 1, p.field("risk")?);
                let risk = parse_risk(r).ok_or_else(|| value(line, "risk", RISK_RULE))?;
                let (line, a) = (p.at + 1, p.field("assertion-risk")?);
                let mut assertion_risks = Vec::new();
                if !a.is_empty() {
                    for r in a.split(' ') {
                        assertion_risks.push(
                            parse_risk(r)
                                .ok_or_else(|| value(line, "assertion-risk", RISK_RULE))?,
                        );
                    }
                }
                if assertion_risks.len() > MAX_ASSERTIONS as usize {
                    return Err(value(
                        line,
                        "assertion-risk",
                        &format!("at most {MAX_ASSERTIONS}"),
                    ));
                }
                let (line, v) = (p.at + 1, p.field("verdict")?);
                let decision = Decision::parse(v).ok_or_else(|| {
                    value(
                        line,
                        "verdict",
                        "must be risk-limit-met, escalate or full-hand-count",
                    )
                })?;
                AuditStep::Verdict {
                    round,
                    draws,
                    risk,
                    assertion_risks,
                    decision,
                }
            }
            _ => {
                return Err(value(
                    kind_line,
                    "kind",
                    "must be start, seed, sample, count or verdict",
                ));
            }
        };
        if p.at < p.lines.len() {
            return Err(AuditBodyError::Trailing { line: p.at + 1 });
        }
        let body = Self {
            election,
            contest,
            step,
        };
        Ok(body)
    }

    /// The body's text (ending in a newline): what [`AuditBody::parse`] reads back.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{AUDIT_V1}\nelection: {}\ncontest: {}\nkind: {}\n",
            self.election,
            self.contest,
            self.step.kind()
        );
        match &self.step {
            AuditStep::Start {
                size,
                root,
                rules,
                seats,
                risk_limit,
                rounds,
                assertions,
                digest,
            } => {
                let _ = writeln!(s, "checkpoint: {size} {}", hex(root));
                let _ = writeln!(s, "rules: {rules}");
                if let Some(n) = seats {
                    let _ = writeln!(s, "seats: {n}");
                }
                let _ = writeln!(s, "method: {METHOD}");
                let _ = writeln!(s, "risk-limit: {}", format_limit(*risk_limit));
                let _ = writeln!(s, "rounds: {rounds}");
                let _ = writeln!(s, "assertions: {assertions} sha256:{}", hex(digest));
            }
            AuditStep::Seed { seed } => {
                let _ = writeln!(s, "seed: {seed}");
            }
            AuditStep::Sample {
                round,
                first,
                last,
                stations,
            } => {
                let _ = writeln!(s, "round: {round}\ndraws: {first}-{last}");
                s.push_str(&field_line("stations", &stations.join(" ")));
            }
            AuditStep::Count {
                station,
                votes,
                invalid,
            } => {
                let _ = writeln!(s, "station: {station}");
                for (l, v) in votes {
                    let _ = writeln!(s, "votes: {l} {v}");
                }
                let _ = writeln!(s, "invalid: {invalid}");
            }
            AuditStep::Verdict {
                round,
                draws,
                risk,
                assertion_risks,
                decision,
            } => {
                let _ = writeln!(s, "round: {round}\ndraws: {draws}");
                let _ = writeln!(s, "risk: {}", format_risk(*risk));
                let risks: Vec<String> = assertion_risks.iter().map(|&r| format_risk(r)).collect();
                s.push_str(&field_line("assertion-risk", &risks.join(" ")));
                let _ = writeln!(s, "verdict: {}", decision.as_str());
            }
        }
        s
    }
}

/// `field: value`, or `field:` alone for an empty value, and a newline.
fn field_line(field: &str, value: &str) -> String {
    if value.is_empty() {
        format!("{field}:\n")
    } else {
        format!("{field}: {value}\n")
    }
}

const RISK_RULE: &str = "must be 0. or 1. and exactly six digits, at most 1.000000";

/// A risk (a probability) in millionths, rounded up and capped at 1 000 000.
pub fn risk_micros(p: f64) -> Micros {
    if p.is_nan() || p >= 1.0 {
        return 1_000_000;
    }
    if p <= 0.0 {
        return 0;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let m = (p * 1e6).ceil() as Micros;
    m.min(1_000_000)
}

/// `0.123456` or `1.000000`.
pub fn format_risk(m: Micros) -> String {
    format!("{}.{:06}", m / 1_000_000, m % 1_000_000)
}

fn parse_risk(s: &str) -> Option<Micros> {
    let (int, frac) = s.split_once('.')?;
    if frac.len() != 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let f: Micros = frac.parse().ok()?;
    match int {
        "0" => Some(f),
        "1" if f == 0 => Some(1_000_000),
        _ => None,
    }
}

/// A risk limit: `0.05` for 50 000 millionths.
pub fn format_limit(m: Micros) -> String {
    let digits = format!("{:06}", m % 1_000_000);
    format!("0.{}", digits.trim_end_matches('0'))
}

/// Reads a risk limit in its one canonical form (`0.05`, never `0.050` or `.05`).
pub fn parse_limit(s: &str) -> Option<Micros> {
    let frac = s.strip_prefix("0.")?;
    if frac.is_empty()
        || frac.len() > 6
        || frac.ends_with('0')
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let padded = format!("{frac:0<6}");
    padded.parse().ok()
}

fn value(line: usize, field: &'static str, rule: &str) -> AuditBodyError {
    AuditBodyError::Value {
        line,
        field,
        rule: rule.to_owned(),
    }
}

fn count(line: usize, field: &'static str, s: &str) -> Result<u64, AuditBodyError> {
    parse_count(s).map_err(|rule| value(line, field, rule))
}

fn small(
    line: usize,
    field: &'static str,
    s: &str,
    lo: u32,
    hi: u32,
) -> Result<u32, AuditBodyError> {
    let n = count(line, field, s)?;
    u32::try_from(n)
        .ok()
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| value(line, field, &format!("must be from {lo} to {hi}")))
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

struct Lines<'a> {
    lines: Vec<&'a str>,
    at: usize,
}

impl<'a> Lines<'a> {
    /// The value of the next line, which must be `field: value`.
    fn field(&mut self, field: &'static str) -> Result<&'a str, AuditBodyError> {
        let line = self.at + 1;
        let v = self
            .lines
            .get(self.at)
            .and_then(|l| l.strip_prefix(field))
            .and_then(|l| {
                l.strip_prefix(": ")
                    .filter(|v| !v.is_empty())
                    .or_else(|| (l == ":").then_some(""))
            })
            .ok_or(AuditBodyError::Expected { line, field })?;
        self.at += 1;
        Ok(v)
    }

    /// The next line's value if it is `field`; advances past it. Lines are numbered from 1,
    /// so after a hit `self.at` is the line just read.
    fn peek(&mut self, field: &'static str) -> Option<&'a str> {
        let v = self
            .lines
            .get(self.at)?
            .strip_prefix(field)?
            .strip_prefix(": ")?;
        self.at += 1;
        Some(v)
    }

    fn id(&mut self, field: &'static str) -> Result<String, AuditBodyError> {
        let line = self.at + 1;
        let v = self.field(field)?;
        check_id(v).map_err(|rule| value(line, field, rule))?;
        Ok(v.to_owned())
    }
}

/// An audit note bound to the definition: its contest (and station, for a count) resolved,
/// its signer checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditNote {
    /// The body.
    pub body: AuditBody,
    /// The contest.
    pub contest: ContestIdx,
    /// For a count: the station and its hand count per ballot class of the contest (lists in
    /// ballot order, then invalid).
    pub count: Option<(StationIdx, Vec<u64>)>,
    /// Name of the authority key that signed it.
    pub signer: String,
}

/// Why an audit note is refused before its place in the audit is looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditNoteError {
    /// The envelope or the body is malformed.
    #[error("{0}")]
    Malformed(String),
    /// A field names something the definition does not have.
    #[error("field `{field}`: {problem}")]
    Binding {
        /// Field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// No valid signature by an authority whose scope is the whole election.
    #[error("signature: {0}")]
    Signer(String),
}

/// Parses an audit note, binds it to `election`, and checks that an authority whose scope is
/// the election's root unit signed it (every authority signature present must verify).
///
/// # Errors
/// [`AuditNoteError`] naming the field and the rule.
pub fn check(election: &Election, bytes: &[u8]) -> Result<AuditNote, AuditNoteError> {
    let note = Note::parse(bytes).map_err(|e| AuditNoteError::Malformed(e.to_string()))?;
    let mut bound = bind(election, note.text())?;
    let root = UnitIdx(0);
    let mut signer = None;
    for a in &election.authorities {
        if note.signature_by(a.key.name(), a.key.key_id()).is_none() {
            continue;
        }
        a.key
            .verify(&note)
            .map_err(|e: SignatureError| AuditNoteError::Signer(e.to_string()))?;
        if a.scope == root && signer.is_none() {
            signer = Some(a.key.name().to_owned());
        }
    }
    bound.signer = signer.ok_or_else(|| {
        AuditNoteError::Signer(format!(
            "an audit note must be signed by an authority whose scope is {} (the whole election, where contest {} is held)",
            election.units.first().map_or("", |u| u.id.as_str()),
            bound.body.contest
        ))
    })?;
    Ok(bound)
}

/// Parses and binds an audit note's text without checking any signature (for entries the log
/// already holds; outside input goes through [`check`]).
///
/// # Errors
/// [`AuditNoteError`].
pub fn bind(election: &Election, text: &str) -> Result<AuditNote, AuditNoteError> {
    let body = AuditBody::parse(text).map_err(|e| AuditNoteError::Malformed(e.to_string()))?;
    if body.election != election.id {
        return Err(AuditNoteError::Binding {
            field: "election",
            problem: format!(
                "{:?} is not this election ({:?})",
                body.election, election.id
            ),
        });
    }
    let contest = election
        .contest(&body.contest)
        .ok_or_else(|| AuditNoteError::Binding {
            field: "contest",
            problem: format!("{:?} is not a contest of this election", body.contest),
        })?;
    let count = match &body.step {
        AuditStep::Count {
            station,
            votes,
            invalid,
        } => {
            let s = election
                .station(station)
                .ok_or_else(|| AuditNoteError::Binding {
                    field: "station",
                    problem: format!("{station:?} is not a station of this election"),
                })?;
            let ballot = &election.contests[contest.0 as usize].lists;
            let ids: Vec<&str> = ballot
                .iter()
                .map(|&l| election.lists[l].id.as_str())
                .collect();
            let written: Vec<&str> = votes.iter().map(|(l, _)| l.as_str()).collect();
            if written != ids {
                return Err(AuditNoteError::Binding {
                    field: "votes",
                    problem: format!(
                        "a hand count gives every list of contest {} in ballot order ({}); got {}",
                        body.contest,
                        ids.join(", "),
                        written.join(", ")
                    ),
                });
            }
            let mut classes: Vec<u64> = votes.iter().map(|(_, v)| *v).collect();
            classes.push(*invalid);
            if classes.iter().any(|&v| v > MAX_COUNT) {
                return Err(AuditNoteError::Binding {
                    field: "votes",
                    problem: format!("a count is above {MAX_COUNT}"),
                });
            }
            Some((s, classes))
        }
        _ => None,
    };
    Ok(AuditNote {
        body,
        contest,
        count,
        signer: String::new(),
    })
}

#[cfg(test)]
mod tests;
