//! The body of an `urna/incident/v1` note: a report, an update of it, or an acknowledgment.
//!
//! ```text
//! urna/incident/v1
//! kind: report
//! institution: cert.example
//! time: 2026-12-06T05:04:13Z
//! tlp: clear
//! status: open
//! system: results intake server
//! indicator: ipv4 203.0.113.7
//! summary: Repeated malformed protocol submissions from one address.
//! ```
//!
//! Lines, in the only order they may come (every value 1 to [`MAX_VALUE_LEN`] bytes, printable,
//! not starting or ending with a space):
//!
//! | line | report | update | ack |
//! |---|---|---|---|
//! | `kind: report\|update\|ack` | ✓ | ✓ | ✓ |
//! | `incident: sha256:<hex>` (the report's log entry) | — | ✓ | ✓ |
//! | `institution: <id>` (the signer) | ✓ | ✓ | ✓ |
//! | `time: YYYY-MM-DDTHH:MM:SSZ` (UTC) | ✓ | ✓ | ✓ |
//! | `tlp: clear\|green\|amber\|red` | ✓ | ✓ | — |
//! | `status: open\|contained\|resolved\|withdrawn` | ✓ | ✓ | — |
//! | `recipients: <id> <id> …` (sorted, no repeats) | not CLEAR | not CLEAR | — |
//! | [`Details`]: `system:`, `indicator:`, `summary:` | CLEAR | CLEAR | — |
//! | `sealed: <base64 of an age file>` holding the [`Details`] | not CLEAR | not CLEAR | — |
//!
//! Everything above the details is public metadata: who, when, which incident, TLP, status and
//! who may read. The details of a report or update above TLP:CLEAR are sealed (see
//! [`crate::seal`]); the sealed plaintext is the details' own canonical text, parsed by
//! [`Details::parse`].
//!
//! The parser is strict like `urna_model`'s protocol and decision parsers: fixed order, every
//! key where the kind requires it and nowhere else, canonical values, a final newline and
//! nothing after it, so each body has exactly one text.

use std::fmt;

/// First line of an incident note body.
pub const INCIDENT_V1: &str = "urna/incident/v1";

/// The longest value of a free-text line (`system:`, `indicator:`, `summary:`), in bytes.
pub const MAX_VALUE_LEN: usize = 1000;

/// The most `system:` lines in one report or update.
pub const MAX_SYSTEMS: usize = 32;

/// The most `indicator:` lines in one report or update.
pub const MAX_INDICATORS: usize = 64;

/// The longest institution id, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// The most recipients of a sealed report.
pub const MAX_RECIPIENTS: usize = 64;

/// What a note is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A new incident.
    Report,
    /// The reporting institution's update of its incident (status, TLP, new details).
    Update,
    /// A partner institution says it received the incident.
    Ack,
}

impl Kind {
    /// Every kind, in the order the format lists them.
    pub const ALL: [Self; 3] = [Self::Report, Self::Update, Self::Ack];

    /// The word written in the note.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Report => "report",
            Self::Update => "update",
            Self::Ack => "ack",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Traffic Light Protocol 2.0 level (<https://www.first.org/tlp/>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tlp {
    /// Disclosure is not limited: the details are in the clear, and on the public summary.
    Clear,
    /// Limited to the community: sealed to the partner institutions of the incidents config.
    Green,
    /// Limited to the named recipients' organisations: sealed to them.
    Amber,
    /// For the named recipients only: sealed to them.
    Red,
}

impl Tlp {
    /// Every level, from the least to the most restricted.
    pub const ALL: [Self; 4] = [Self::Clear, Self::Green, Self::Amber, Self::Red];

    /// The word written in the note (`clear`, `green`, `amber`, `red`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clear => "clear",
            Self::Green => "green",
            Self::Amber => "amber",
            Self::Red => "red",
        }
    }

    /// The label as TLP 2.0 writes it, e.g. `TLP:AMBER`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Clear => "TLP:CLEAR",
            Self::Green => "TLP:GREEN",
            Self::Amber => "TLP:AMBER",
            Self::Red => "TLP:RED",
        }
    }

    /// Whether details at this level are sealed to recipients (all but CLEAR: the log is
    /// public, and only CLEAR may be disclosed publicly).
    pub fn is_sealed(self) -> bool {
        self != Self::Clear
    }

    /// The level a word names, if any.
    pub fn from_word(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == word)
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Where the handling of an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Reported, being handled.
    Open,
    /// Contained: no longer spreading, not yet resolved.
    Contained,
    /// Resolved.
    Resolved,
    /// Withdrawn by the reporter (a false alarm).
    Withdrawn,
}

impl Status {
    /// Every status, in the order the format lists them.
    pub const ALL: [Self; 4] = [Self::Open, Self::Contained, Self::Resolved, Self::Withdrawn];

    /// The word written in the note.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Contained => "contained",
            Self::Resolved => "resolved",
            Self::Withdrawn => "withdrawn",
        }
    }

    /// The status a word names, if any.
    pub fn from_word(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A time in whole UTC seconds since the Unix epoch, written `YYYY-MM-DDTHH:MM:SSZ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTime(pub u64);

impl UtcTime {
    /// Parses `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC, whole seconds, years 1970–9999).
    ///
    /// # Errors
    /// The rule broken, for the caller's error.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        const RULE: &str = "must be a UTC time YYYY-MM-DDTHH:MM:SSZ";
        let b = s.as_bytes();
        if b.len() != 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
            || b[19] != b'Z'
        {
            return Err(RULE);
        }
        let num = |r: std::ops::Range<usize>| -> Result<u64, &'static str> {
            let part = &b[r];
            if !part.iter().all(u8::is_ascii_digit) {
                return Err(RULE);
            }
            Ok(part.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if year < 1970 || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
            return Err("is not a valid date and time (year from 1970, no leap seconds)");
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err("is not a valid date");
        }
        let days = days_from_civil(year, month, day);
        Ok(Self(days * 86_400 + hour * 3600 + minute * 60 + second))
    }
}

impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.0 / 86_400);
        let s = self.0 % 86_400;
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }
}

/// The details of a report or update: the systems affected, the indicators, a summary. In the
/// note itself at TLP:CLEAR; sealed (this same text, encrypted) above it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Details {
    /// `system:` lines: the systems affected, in the reporter's order.
    pub systems: Vec<String>,
    /// `indicator:` lines: indicators of compromise (addresses, hashes, names), in order.
    pub indicators: Vec<String>,
    /// `summary:` what happened (one line).
    pub summary: String,
}

/// The public metadata and content of a report or update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// `tlp:`
    pub tlp: Tlp,
    /// `status:`
    pub status: Status,
    /// `recipients:` the institutions the details are sealed to (besides the reporter);
    /// empty at TLP:CLEAR.
    pub recipients: Vec<String>,
    /// The details: in the clear, or sealed.
    pub content: Content,
}

/// The details of a notice, as written in the note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// TLP:CLEAR: the details themselves.
    Clear(Details),
    /// Above TLP:CLEAR: an age file (binary) whose plaintext is the details' text.
    Sealed(Vec<u8>),
}

/// A parsed `urna/incident/v1` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentBody {
    /// `kind:`
    pub kind: Kind,
    /// `incident:` the SHA-256 of the report's note bytes (the log entry); `None` for a report.
    pub incident: Option<[u8; 32]>,
    /// `institution:` the signing institution's id.
    pub institution: String,
    /// `time:`
    pub time: UtcTime,
    /// TLP, status, recipients and details; `None` for an acknowledgment.
    pub notice: Option<Notice>,
}

/// Why an incident body (or a details text) could not be parsed. `line` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The first line is not `urna/incident/v1`.
    #[error("line 1: unknown note type {0:?}; expected {INCIDENT_V1}")]
    UnknownType(String),
    /// The text does not end in exactly one newline.
    #[error("the body must end with a newline and have no empty line")]
    Layout,
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
        rule: &'static str,
    },
    /// A line the format does not allow there.
    #[error("line {line}: unexpected line {text:?}")]
    Unexpected {
        /// The line.
        line: usize,
        /// Its text (cut to 80 characters).
        text: String,
    },
}

impl IncidentBody {
    /// Whether a note text is an incident note (its first line is [`INCIDENT_V1`]).
    pub fn is_incident(text: &str) -> bool {
        text.split('\n').next() == Some(INCIDENT_V1)
    }

    /// Parses an incident body (a note's text).
    ///
    /// # Errors
    /// [`BodyError`] naming the line, the field and the rule.
    ///
    /// ```
    /// use urna_incident::body::{IncidentBody, Kind};
    /// let text = "urna/incident/v1\nkind: ack\nincident: sha256:".to_owned()
    ///     + &"ab".repeat(32)
    ///     + "\ninstitution: dpa.example\ntime: 2026-12-06T05:04:13Z\n";
    /// let body = IncidentBody::parse(&text).unwrap();
    /// assert_eq!(body.kind, Kind::Ack);
    /// assert_eq!(body.to_text(), text);
    /// ```
    pub fn parse(text: &str) -> Result<Self, BodyError> {
        let mut lines = Lines::new(text)?;
        let first = lines.next_raw().unwrap_or_default();
        if first != INCIDENT_V1 {
            return Err(BodyError::UnknownType(first.chars().take(80).collect()));
        }
        let (line, kind) = lines.field("kind")?;
        let kind = Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == kind)
            .ok_or(BodyError::Field {
                line,
                field: "kind",
                rule: "must be report, update or ack",
            })?;
        let incident = if kind == Kind::Report {
            None
        } else {
            let (line, v) = lines.field("incident")?;
            Some(parse_sha256(v).map_err(|rule| BodyError::Field {
                line,
                field: "incident",
                rule,
            })?)
        };
        let (line, institution) = lines.field("institution")?;
        check_id(institution).map_err(|rule| BodyError::Field {
            line,
            field: "institution",
            rule,
        })?;
        let (line, time) = lines.field("time")?;
        let time = UtcTime::parse(time).map_err(|rule| BodyError::Field {
            line,
            field: "time",
            rule,
        })?;
        let notice = if kind == Kind::Ack {
            None
        } else {
            Some(parse_notice(&mut lines)?)
        };
        lines.end()?;
        Ok(Self {
            kind,
            incident,
            institution: institution.to_owned(),
            time,
            notice,
        })
    }

    /// The canonical text, ending in a newline; [`IncidentBody::parse`] of it gives back an
    /// equal body.
    pub fn to_text(&self) -> String {
        let mut s = format!("{INCIDENT_V1}\nkind: {}\n", self.kind);
        if let Some(h) = &self.incident {
            s.push_str(&format!("incident: sha256:{}\n", hex(h)));
        }
        s.push_str(&format!(
            "institution: {}\ntime: {}\n",
            self.institution, self.time
        ));
        if let Some(n) = &self.notice {
            s.push_str(&format!("tlp: {}\nstatus: {}\n", n.tlp.as_str(), n.status));
            if !n.recipients.is_empty() {
                s.push_str(&format!("recipients: {}\n", n.recipients.join(" ")));
            }
            match &n.content {
                Content::Clear(d) => s.push_str(&d.to_text()),
                Content::Sealed(bytes) => {
                    s.push_str(&format!("sealed: {}\n", base64_encode(bytes)));
                }
            }
        }
        s
    }
}

impl Details {
    /// Parses a details text: `system:` lines, `indicator:` lines, one `summary:` line, each
    /// ending in a newline (the plaintext of a sealed notice).
    ///
    /// # Errors
    /// [`BodyError`] naming the line and field.
    pub fn parse(text: &str) -> Result<Self, BodyError> {
        let mut lines = Lines::new(text)?;
        let details = parse_details(&mut lines)?;
        lines.end()?;
        Ok(details)
    }

    /// The canonical text: one line per system and indicator, then the summary.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for x in &self.systems {
            s.push_str(&format!("system: {x}\n"));
        }
        for x in &self.indicators {
            s.push_str(&format!("indicator: {x}\n"));
        }
        s.push_str(&format!("summary: {}\n", self.summary));
        s
    }

    /// Checks every value against the format's rules, so that a note built from these details
    /// parses back.
    ///
    /// # Errors
    /// [`BodyError::Field`] naming the field (line 0: not yet in a note).
    pub fn validate(&self) -> Result<(), BodyError> {
        Self::parse(&self.to_text()).and_then(|d| {
            if d == *self {
                Ok(())
            } else {
                Err(BodyError::Field {
                    line: 0,
                    field: "details",
                    rule: "a value holds a line break",
                })
            }
        })
    }
}

/// Checks an institution id: 1 to [`MAX_ID_LEN`] bytes of ASCII letters, digits, `.`, `-`,
/// `_` and `/`, so that it is a valid signed-note key name and one word in `recipients:`.
///
/// # Errors
/// The rule broken.
pub fn check_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err("must be 1 to 64 bytes");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/'))
    {
        return Err("may hold only ASCII letters, digits, '.', '-', '_' and '/'");
    }
    Ok(())
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses `sha256:<64 lower-case hex digits>`.
///
/// # Errors
/// The rule broken.
pub fn parse_sha256(v: &str) -> Result<[u8; 32], &'static str> {
    const RULE: &str = "must be sha256: and 64 lower-case hex digits";
    let h = v.strip_prefix("sha256:").ok_or(RULE)?;
    if h.len() != 64 || !h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(RULE);
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).map_err(|_| RULE)?;
    }
    Ok(out)
}

fn parse_notice(lines: &mut Lines<'_>) -> Result<Notice, BodyError> {
    let (line, tlp) = lines.field("tlp")?;
    let tlp = Tlp::from_word(tlp).ok_or(BodyError::Field {
        line,
        field: "tlp",
        rule: "must be clear, green, amber or red",
    })?;
    let (line, status) = lines.field("status")?;
    let status = Status::from_word(status).ok_or(BodyError::Field {
        line,
        field: "status",
        rule: "must be open, contained, resolved or withdrawn",
    })?;
    if !tlp.is_sealed() {
        let details = parse_details(lines)?;
        return Ok(Notice {
            tlp,
            status,
            recipients: Vec::new(),
            content: Content::Clear(details),
        });
    }
    let (line, recipients) = lines.field("recipients")?;
    let recipients: Vec<String> = recipients.split(' ').map(str::to_owned).collect();
    let field = |rule| BodyError::Field {
        line,
        field: "recipients",
        rule,
    };
    for r in &recipients {
        check_id(r)
            .map_err(|_| field("each recipient must be an institution id, one space apart"))?;
    }
    if recipients.len() > MAX_RECIPIENTS {
        return Err(field("at most 64 recipients"));
    }
    if recipients.windows(2).any(|w| w[0] >= w[1]) {
        return Err(field("must be sorted, each once"));
    }
    let (line, sealed) = lines.field("sealed")?;
    let bytes = base64_decode(sealed).ok_or(BodyError::Field {
        line,
        field: "sealed",
        rule: "must be canonical padded base64",
    })?;
    if !bytes.starts_with(crate::seal::AGE_MAGIC) {
        return Err(BodyError::Field {
            line,
            field: "sealed",
            rule: "must be an age file (age-encryption.org/v1)",
        });
    }
    Ok(Notice {
        tlp,
        status,
        recipients,
        content: Content::Sealed(bytes),
    })
}

fn parse_details(lines: &mut Lines<'_>) -> Result<Details, BodyError> {
    let mut systems = Vec::new();
    while let Some((line, v)) = lines.optional("system")? {
        if systems.len() == MAX_SYSTEMS {
            return Err(BodyError::Field {
                line,
                field: "system",
                rule: "at most 32 system lines",
            });
        }
        systems.push(v.to_owned());
    }
    let mut indicators = Vec::new();
    while let Some((line, v)) = lines.optional("indicator")? {
        if indicators.len() == MAX_INDICATORS {
            return Err(BodyError::Field {
                line,
                field: "indicator",
                rule: "at most 64 indicator lines",
            });
        }
        indicators.push(v.to_owned());
    }
    let (_, summary) = lines.field("summary")?;
    Ok(Details {
        systems,
        indicators,
        summary: summary.to_owned(),
    })
}

/// The lines of a body, with the number of the next one.
struct Lines<'a> {
    lines: std::iter::Peekable<std::str::Split<'a, char>>,
    /// Number of the next line (from 1).
    next: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Result<Self, BodyError> {
        let body = text.strip_suffix('\n').ok_or(BodyError::Layout)?;
        if body.is_empty() || body.split('\n').any(str::is_empty) {
            return Err(BodyError::Layout);
        }
        Ok(Self {
            lines: body.split('\n').peekable(),
            next: 1,
        })
    }

    fn next_raw(&mut self) -> Option<&'a str> {
        let l = self.lines.next()?;
        self.next += 1;
        Some(l)
    }

    /// The value of the next line if it is `field: …`, checked; `None` if another line (or
    /// none) comes next.
    fn optional(&mut self, field: &'static str) -> Result<Option<(usize, &'a str)>, BodyError> {
        let Some(l) = self.lines.peek() else {
            return Ok(None);
        };
        let Some(value) = l.strip_prefix(field).and_then(|r| r.strip_prefix(": ")) else {
            return Ok(None);
        };
        let line = self.next;
        self.next_raw();
        check_value(value, field == "sealed").map_err(|rule| BodyError::Field {
            line,
            field,
            rule,
        })?;
        Ok(Some((line, value)))
    }

    fn field(&mut self, field: &'static str) -> Result<(usize, &'a str), BodyError> {
        let line = self.next;
        self.optional(field)?.ok_or(BodyError::Missing {
            line,
            expected: field,
        })
    }

    fn end(&mut self) -> Result<(), BodyError> {
        match self.lines.next() {
            None => Ok(()),
            Some(l) => Err(BodyError::Unexpected {
                line: self.next,
                text: l.chars().take(80).collect(),
            }),
        }
    }
}

/// A value: not empty, no space at either end, no control character, at most
/// [`MAX_VALUE_LEN`] bytes (a sealed blob is bounded by the note size only).
fn check_value(v: &str, long: bool) -> Result<(), &'static str> {
    if v.is_empty() || v.starts_with(' ') || v.ends_with(' ') {
        return Err("must not be empty, nor start or end with a space");
    }
    if v.chars().any(char::is_control) {
        return Err("must not hold a control character");
    }
    if !long && v.len() > MAX_VALUE_LEN {
        return Err("longer than 1000 bytes");
    }
    Ok(())
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes padded standard base64, refusing any non-canonical encoding (so each blob has
/// exactly one text).
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    (base64_encode(&bytes) == s).then_some(bytes)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date from 1970 on (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    // 719_468 days from 0000-03-01 to 1970-01-01; dates before 1970 are refused by the parser.
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests;
