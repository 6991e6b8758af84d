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
    let mut reader = csv::Reader::from_reader(input);
    let mut headers = reader
        .headers()
        .map_err(|e| format!("{name}: line 1 (the header): {e}"))?
        .clone();
    // A spreadsheet's UTF-8 byte-order mark is not part of the first column's name.
    if let Some(first) = headers.get(0)
        && let Some(bare) = first.strip_prefix('\u{feff}')
    {
        let mut fixed: csv::StringRecord = std::iter::once(bare).collect();
        fixed.extend(headers.iter().skip(1));
        headers = fixed;
    }
    let col = |column: &str| -> Result<usize, String> {
        headers
            .iter()
            .position(|h| h == column)
            .ok_or_else(|| format!("{name}: missing column {column:?}"))
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
    let mut seen: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| format!("{name}: line {line}: {e}"))?;
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
