//! The rows of Albania's per-station CSV (`urna import --format albania-2021`), read and
//! checked before anything is written: each refusal names the line, the column and the rule.
//! Pure (the `csv` reader and urna-model's rules), so that the fuzz target `import_albania`
//! reads it as it is.

use std::collections::BTreeMap;

/// Lists as they appear in the CSV, with the names used in the definition. Where the data
/// gives only an abbreviation, the abbreviation is the name.
pub(crate) const LISTS: [(&str, &str); 13] = [
    ("PS", "Partia Socialiste e Shqipërisë"),
    ("PD", "Partia Demokratike e Shqipërisë"),
    ("LSI", "Lëvizja Socialiste për Integrim"),
    ("PSD", "Partia Socialdemokrate e Shqipërisë"),
    ("PBK", "PBK"),
    ("PLDSH", "PLDSH"),
    ("BD", "BD"),
    ("ABEOK", "ABEOK"),
    ("NTH", "NTH"),
    ("LRE", "LRE"),
    ("ADR", "ADR"),
    ("LN", "LN"),
    ("Other", "Other lists and candidates"),
];

/// One station's row.
pub(crate) struct Row {
    /// The station id (checked as the definition checks ids).
    pub(crate) station: String,
    /// Its municipality's unit id.
    pub(crate) unit: String,
    /// Registered, cast, invalid, valid.
    pub(crate) numbers: [u64; 4],
    /// Votes of each of [`LISTS`], in order.
    pub(crate) votes: Vec<u64>,
}

/// Every row, and the units they make.
pub(crate) struct Rows {
    /// The rows, in the file's order.
    pub(crate) rows: Vec<Row>,
    /// District unit id → name.
    pub(crate) districts: BTreeMap<String, String>,
    /// Municipality unit id → (name, district unit id).
    pub(crate) municipalities: BTreeMap<String, (String, String)>,
}

/// Reads and checks the CSV `input` (named `name` in refusals).
///
/// # Errors
/// What is wrong, naming the line, the column and the rule.
pub(crate) fn read(name: &str, input: impl std::io::Read) -> Result<Rows, String> {
    let mut reader = csv::Reader::from_reader(Bounded::new(input));
    let mut headers = reader
        .headers()
        .map_err(|e| refusal(name, "line 1 (the header)", &e))?
        .clone();
    // A spreadsheet's UTF-8 byte-order mark is not part of the first column's name.
    if let Some(first) = headers.get(0)
        && let Some(bare) = first.strip_prefix('\u{feff}')
    {
        let mut fixed: csv::StringRecord = std::iter::once(bare).collect();
        fixed.extend(headers.iter().skip(1));
        headers = fixed;
    }
    // A column named twice is refused: which of the two would be the count?
    let col = |column: &str| -> Result<usize, String> {
        let mut at = headers.iter().enumerate().filter(|(_, h)| *h == column);
        let (first, _) = at
            .next()
            .ok_or_else(|| format!("{name}: missing column {column:?}"))?;
        if let Some((second, _)) = at.next() {
            return Err(format!(
                "{name}: line 1 (the header): column {column:?} appears twice (columns {} and {}); each column must be named once",
                first + 1,
                second + 1
            ));
        }
        Ok(first)
    };
    let (c_district, c_muni, c_station) = (
        col("District")?,
        col("Municipality")?,
        col("PollingStation")?,
    );
    let (c_reg, c_cast, c_valid, c_invalid) = (
        col("EligibleVoters")?,
        col("VotesCast")?,
        col("ValidBallots")?,
        col("InvalidBallots")?,
    );
    let c_lists: Vec<usize> = LISTS
        .iter()
        .map(|(l, _)| col(l))
        .collect::<Result<_, _>>()?;

    let mut districts: BTreeMap<String, String> = BTreeMap::new();
    let mut municipalities: BTreeMap<String, (String, String)> = BTreeMap::new();
    // Where each id was first seen (line), to name both rows of a clash.
    let mut seen: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        // The line the row starts on: a quoted field may hold line breaks.
        let line = |p: Option<&csv::Position>| p.map_or(i as u64 + 2, csv::Position::line);
        let rec = rec.map_err(|e| refusal(name, &format!("line {}", line(e.position())), &e))?;
        let line = line(rec.position());
        let field = |c: usize| rec.get(c).unwrap_or("");
        let refuse = |c: usize, rule: String| {
            format!("{name}: line {line}: column {:?}: {rule}", &headers[c])
        };
        let num = |c: usize| -> Result<u64, String> {
            urna_model::protocol::parse_count(field(c)).map_err(|rule| refuse(c, rule.to_string()))
        };
        let station = field(c_station);
        urna_model::protocol::check_id(station)
            .map_err(|rule| refuse(c_station, format!("station id {station:?} {rule}")))?;
        let district = field(c_district).to_owned();
        let d_id = format!("AL-{}", ascii_id(&district));
        let m_id = format!("{d_id}-{}", ascii_id(field(c_muni)));
        for (c, id, place) in [
            (c_district, &d_id, &district),
            (c_muni, &m_id, &field(c_muni).to_owned()),
        ] {
            // The rule of every name in a definition (`urna init` checks it too).
            if place.chars().any(urna_model::definition::is_hidden_control) {
                return Err(refuse(
                    c,
                    format!(
                        "{place:?} holds a control character or a bidirectional override; a place name is one line of text"
                    ),
                ));
            }
            if ascii_id(place).is_empty() {
                return Err(refuse(
                    c,
                    format!("{place:?} has no letter or digit to make a unit id of"),
                ));
            }
            urna_model::protocol::check_id(id)
                .map_err(|rule| refuse(c, format!("its unit id {id:?} {rule}")))?;
        }
        if let Some((first, _)) = seen.get(&format!("station {station}")) {
            return Err(refuse(
                c_station,
                format!("station id {station:?} is already used on line {first}"),
            ));
        }
        seen.insert(format!("station {station}"), (line, String::new()));
        // One id per place: two names that make the same id would merge two places' stations
        // into one unit.
        for (c, key, place) in [
            (c_district, format!("unit {d_id}"), district.clone()),
            (
                c_muni,
                format!("unit {m_id}"),
                format!("{district}/{}", field(c_muni)),
            ),
        ] {
            match seen.get(&key) {
                Some((first, other)) if *other != place => {
                    return Err(refuse(
                        c,
                        format!(
                            "{place:?} and {other:?} (line {first}) make the same {key}; rename one"
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    seen.insert(key, (line, place));
                }
            }
        }
        districts.entry(d_id.clone()).or_insert(district);
        municipalities
            .entry(m_id.clone())
            .or_insert_with(|| (field(c_muni).to_owned(), d_id.clone()));
        rows.push(Row {
            station: station.to_owned(),
            unit: m_id,
            numbers: [num(c_reg)?, num(c_cast)?, num(c_invalid)?, num(c_valid)?],
            votes: c_lists.iter().map(|&c| num(c)).collect::<Result<_, _>>()?,
        });
    }
    if rows.is_empty() {
        return Err(format!(
            "{name}: no rows after the header: nothing to import"
        ));
    }
    Ok(Rows {
        rows,
        districts,
        municipalities,
    })
}

/// The longest row read, in bytes: a row of this format is a few hundred bytes, and a longer
/// one (a file of one endless line, a field padded to megabytes) is refused before it is held
/// in memory.
pub(crate) const MAX_ROW: usize = 65_536;

/// A row past [`MAX_ROW`], starting on this line.
#[derive(Debug)]
struct RowTooLong {
    line: u64,
}

impl std::fmt::Display for RowTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}: a row longer than {MAX_ROW} bytes: no row of this format is that long",
            self.line
        )
    }
}

impl std::error::Error for RowTooLong {}

/// The CSV input with each row bounded to [`MAX_ROW`] bytes, read as the `csv` reader reads
/// it (RFC 4180: a line break ends a row outside double quotes; a doubled quote inside
/// quotes toggles twice and changes nothing).
struct Bounded<R> {
    inner: R,
    quoted: bool,
    /// Bytes of the row being read.
    row: usize,
    /// The physical line being read, and the line the row being read starts on.
    line: u64,
    start: u64,
}

impl<R> Bounded<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            quoted: false,
            row: 0,
            line: 1,
            start: 1,
        }
    }
}

impl<R: std::io::Read> std::io::Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            match b {
                b'"' => self.quoted = !self.quoted,
                b'\n' => {
                    self.line += 1;
                    if !self.quoted {
                        self.row = 0;
                        self.start = self.line;
                        continue;
                    }
                }
                _ => {}
            }
            self.row += 1;
            if self.row > MAX_ROW {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    RowTooLong { line: self.start },
                ));
            }
        }
        Ok(n)
    }
}

/// A reader's error as a refusal: a row past [`MAX_ROW`] by the line it starts on, any other
/// at `at` (the line) with the reader's rule.
fn refusal(name: &str, at: &str, e: &csv::Error) -> String {
    if let csv::ErrorKind::Io(io) = e.kind()
        && let Some(long) = io.get_ref().and_then(|i| i.downcast_ref::<RowTooLong>())
    {
        return format!("{name}: {long}");
    }
    format!("{name}: {at}: {e}")
}

/// An identifier from a place name: ASCII letters and digits, other characters as `-`.
pub(crate) fn ascii_id(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        let c = match c {
            'ë' => 'e',
            'Ë' => 'E',
            'ç' => 'c',
            'Ç' => 'C',
            c if c.is_ascii_alphanumeric() => c,
            _ => '-',
        };
        if !(c == '-' && s.ends_with('-')) {
            s.push(c);
        }
    }
    s.trim_matches('-').to_owned()
}
