//! Where two versions of a derived file first differ, named the way a reader looks for it: a
//! JSON path (`contests[0].national.votes.PS`) with the station or unit it belongs to, a CSV
//! line and column, or a text line.
//!
//! The recomputed file and the published one are byte-identical up to the first difference,
//! so the JSON path is read off the recomputed text at that byte (a small scanner that follows
//! objects and arrays), which gives the first difference in document order; the two values at
//! that path are then taken from both files parsed.

use std::fmt::Write as _;

/// The first difference between two versions of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Where: a JSON path, `line L, column NAME` for CSV, `line L` for text.
    pub field: String,
    /// The recomputed value there.
    pub expected: String,
    /// The published value there.
    pub found: String,
    /// The station the place belongs to, when it names one.
    pub station: Option<String>,
    /// The unit the place belongs to, when it names one.
    pub unit: Option<String>,
}

/// Values quoted in a difference are cut to this many characters.
const MAX_QUOTE: usize = 120;

/// The first difference between two files, by the file's kind (`.json`, `.csv`, text).
/// `None` if they are identical.
pub fn first_difference(path: &str, expected: &[u8], found: &[u8]) -> Option<Difference> {
    if expected == found {
        return None;
    }
    Some(if path.ends_with(".json") {
        json_difference(expected, found)
    } else if path.ends_with(".csv") {
        csv_difference(expected, found)
    } else {
        text_difference(expected, found)
    })
}

/// The first difference of two JSON texts, in the expected text's document order.
pub fn json_difference(expected: &[u8], found: &[u8]) -> Difference {
    let at = common_prefix(expected, found);
    let mut place = json_place(expected, at);
    let exp_value: Option<serde_json::Value> = serde_json::from_slice(expected).ok();
    let found_value = serde_json::from_slice::<serde_json::Value>(found);
    if let (Some(e), Ok(f)) = (&exp_value, &found_value) {
        // The first differing byte may lie just after a value both files agree on (an extra
        // member or element follows it): name the innermost value that differs.
        while !place.path.is_empty() && lookup(e, &place.path) == lookup(f, &place.path) {
            place.path.pop();
        }
        if e == f {
            let (station, unit) = labels(e, &place.path);
            // Same values, other bytes: spacing, key order, escapes, number spelling.
            let (line, col) = line_col(expected, at);
            let tail = |t: &[u8]| {
                let s: String = String::from_utf8_lossy(&t[at.min(t.len())..])
                    .chars()
                    .take(40)
                    .collect();
                quote(&s)
            };
            return Difference {
                field: format!("(formatting at line {line}, column {col})"),
                expected: tail(expected),
                found: tail(found),
                station,
                unit,
            };
        }
    }
    let quote_at = |v: &serde_json::Value| {
        lookup(v, &place.path).map_or_else(|| "(absent)".to_owned(), |x| quote(&x.to_string()))
    };
    let strings = (
        exp_value.as_ref().and_then(|v| lookup(v, &place.path)),
        found_value
            .as_ref()
            .ok()
            .and_then(|v| lookup(v, &place.path)),
    );
    let (expected_text, found_text) = match strings {
        // Long strings (a quoted checkpoint note) are shown where they start to differ.
        (Some(serde_json::Value::String(a)), Some(serde_json::Value::String(b))) => {
            string_window(a, b)
        }
        _ => (
            exp_value
                .as_ref()
                .map_or_else(|| "(not JSON)".to_owned(), quote_at),
            match &found_value {
                Ok(v) => quote_at(v),
                Err(e) => format!("(not valid JSON: {e})"),
            },
        ),
    };
    let (station, unit) = match (&exp_value, &found_value) {
        (Some(v), _) | (None, Ok(v)) => labels(v, &place.path),
        _ => (None, None),
    };
    let mut field = path_string(&place.path);
    if field.is_empty() {
        field.push_str("(the whole document)");
    }
    Difference {
        field,
        expected: expected_text,
        found: found_text,
        station,
        unit,
    }
}

/// The first difference of two CSV texts: the line, and the first column that differs in it
/// (named from the header line).
pub fn csv_difference(expected: &[u8], found: &[u8]) -> Difference {
    let exp_lines: Vec<&[u8]> = expected.split(|&b| b == b'\n').collect();
    let found_lines: Vec<&[u8]> = found.split(|&b| b == b'\n').collect();
    let header = exp_lines.first().map(|l| record(l)).unwrap_or_default();
    let line = exp_lines
        .iter()
        .zip(&found_lines)
        .position(|(a, b)| a != b)
        .unwrap_or(exp_lines.len().min(found_lines.len()));
    let exp_row = exp_lines
        .get(line)
        .filter(|l| !l.is_empty())
        .map(|l| record(l));
    let found_row = found_lines
        .get(line)
        .filter(|l| !l.is_empty())
        .map(|l| record(l));
    let column_of = |name: &str, row: &Option<Vec<String>>| {
        let k = header.iter().position(|h| h == name)?;
        row.as_ref()?.get(k).cloned()
    };
    let station = column_of("station", &exp_row).or_else(|| column_of("station", &found_row));
    let unit = column_of("unit", &exp_row).or_else(|| column_of("unit", &found_row));
    let (station, unit) = if line == 0 {
        (None, None)
    } else {
        (station, unit)
    };
    let line_no = line + 1;
    match (&exp_row, &found_row) {
        (Some(e), Some(f)) => {
            let width = e.len().max(f.len());
            let k = (0..width).find(|&k| e.get(k) != f.get(k)).unwrap_or(0);
            let name = header
                .get(k)
                .cloned()
                .unwrap_or_else(|| format!("#{}", k + 1));
            let cell =
                |r: &Vec<String>| r.get(k).map_or_else(|| "(absent)".to_owned(), |c| quote(c));
            Difference {
                field: format!("line {line_no}, column {name}"),
                expected: cell(e),
                found: cell(f),
                station,
                unit,
            }
        }
        _ => Difference {
            field: format!("line {line_no}"),
            expected: show_line(exp_lines.get(line)),
            found: show_line(found_lines.get(line)),
            station,
            unit,
        },
    }
}

/// The first differing line of two texts.
pub fn text_difference(expected: &[u8], found: &[u8]) -> Difference {
    let exp_lines: Vec<&[u8]> = expected.split(|&b| b == b'\n').collect();
    let found_lines: Vec<&[u8]> = found.split(|&b| b == b'\n').collect();
    let line = exp_lines
        .iter()
        .zip(&found_lines)
        .position(|(a, b)| a != b)
        .unwrap_or(exp_lines.len().min(found_lines.len()));
    Difference {
        field: format!("line {}", line + 1),
        expected: show_line(exp_lines.get(line)),
        found: show_line(found_lines.get(line)),
        station: None,
        unit: None,
    }
}

/// A line quoted, or `(no such line)` past the end (the empty piece after a final newline
/// counts as none).
fn show_line(line: Option<&&[u8]>) -> String {
    match line {
        Some(l) if !l.is_empty() => quote(&String::from_utf8_lossy(l)),
        _ => "(no such line)".to_owned(),
    }
}

/// One element of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Where in a JSON text a byte lies.
#[derive(Debug, Default)]
struct Place {
    path: Vec<Step>,
}

#[derive(Debug)]
enum Frame {
    Object { key: Option<String>, in_value: bool },
    Array { index: usize },
}

/// The path of the innermost value that contains byte `at` of a JSON text (or that starts
/// there).
fn json_place(text: &[u8], at: usize) -> Place {
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < at && i < text.len() {
        match text[i] {
            b'{' => stack.push(Frame::Object {
                key: None,
                in_value: false,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { key, in_value, .. }) => {
                    *key = None;
                    *in_value = false;
                }
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            b':' => {
                if let Some(Frame::Object { in_value, .. }) = stack.last_mut() {
                    *in_value = true;
                }
            }
            b'"' => {
                let end = string_end(text, i);
                if end >= at {
                    // The difference is inside this string: a key names its object, a value
                    // itself.
                    break;
                }
                if let Some(Frame::Object { key, in_value }) = stack.last_mut()
                    && !*in_value
                {
                    *key = serde_json::from_slice(&text[i..=end]).ok();
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    let mut place = Place::default();
    for f in &stack {
        match f {
            Frame::Object {
                key: Some(k),
                in_value: true,
            } => place.path.push(Step::Key(k.clone())),
            Frame::Object { .. } => break,
            Frame::Array { index } => place.path.push(Step::Index(*index)),
        }
    }
    place
}

/// The station and unit of the innermost objects along `path` that name one: a `station` or
/// `unit` member, or the `id` of an element of a `stations` array.
fn labels(v: &serde_json::Value, path: &[Step]) -> (Option<String>, Option<String>) {
    let (mut station, mut unit) = (None, None);
    let mut node = Some(v);
    let (mut parent, mut grandparent): (Option<&Step>, Option<&Step>) = (None, None);
    for step in path.iter().map(Some).chain(std::iter::once(None)) {
        let Some(n) = node else { break };
        let text = |k: &str| n.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        if let Some(s) = text("station") {
            station = Some(s);
        }
        if let Some(u) = text("unit") {
            unit = Some(u);
        }
        if matches!(parent, Some(Step::Index(_)))
            && matches!(grandparent, Some(Step::Key(k)) if k == "stations")
            && let Some(s) = text("id")
        {
            station = Some(s);
        }
        let Some(step) = step else { break };
        node = match step {
            Step::Key(k) => n.get(k),
            Step::Index(i) => n.get(i),
        };
        grandparent = parent;
        parent = Some(step);
    }
    (station, unit)
}

/// The index of the quote closing the string that opens at `start`.
fn string_end(text: &[u8], start: usize) -> usize {
    let mut j = start + 1;
    while j < text.len() {
        match text[j] {
            b'\\' => j += 2,
            b'"' => return j,
            _ => j += 1,
        }
    }
    text.len()
}

fn lookup<'a>(v: &'a serde_json::Value, path: &[Step]) -> Option<&'a serde_json::Value> {
    path.iter().try_fold(v, |v, step| match step {
        Step::Key(k) => v.get(k),
        Step::Index(i) => v.get(i),
    })
}

/// `contests[0].national.votes.PS`; keys that are not plain names are quoted.
fn path_string(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Index(i) => {
                let _ = write!(s, "[{i}]");
            }
            Step::Key(k) => {
                let plain = !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
                if !s.is_empty() && plain {
                    s.push('.');
                }
                if plain {
                    s.push_str(k);
                } else {
                    let _ = write!(s, "[{}]", serde_json::Value::String(k.clone()));
                }
            }
        }
    }
    s
}

fn record(line: &[u8]) -> Vec<String> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line);
    r.records()
        .next()
        .and_then(Result::ok)
        .map(|rec| rec.iter().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn line_col(text: &[u8], at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = at
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (line, col)
}

/// Two differing strings, JSON-quoted, from a little before their first difference.
fn string_window(a: &str, b: &str) -> (String, String) {
    let same = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let start = same.saturating_sub(20);
    let cut = |s: &str| {
        let mut w: String = s.chars().skip(start).take(MAX_QUOTE).collect();
        if start + MAX_QUOTE < s.chars().count() {
            w.push('…');
        }
        if start > 0 {
            w.insert(0, '…');
        }
        serde_json::Value::String(w).to_string()
    };
    (cut(a), cut(b))
}

fn quote(s: &str) -> String {
    if s.chars().count() <= MAX_QUOTE {
        s.to_owned()
    } else {
        let mut q: String = s.chars().take(MAX_QUOTE).collect();
        q.push('…');
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pretty(v: &serde_json::Value) -> Vec<u8> {
        serde_json::to_vec_pretty(v).unwrap()
    }

    #[test]
    fn json_paths_name_the_first_difference_in_document_order() {
        let base = serde_json::json!({
            "format": "urna/results/v1",
            "contests": [{
                "id": "assembly",
                "national": {"counts": {"valid": 10}, "votes": {"PS": 6, "PD": 4}, "percent": {"PS": "60.00"}},
                "units": [
                    {"unit": "D01", "votes": {"PS": 6}},
                    {"unit": "D02", "votes": {"PS": 0}}
                ]
            }]
        });
        type Case<'a> = (
            &'a str,
            serde_json::Value,
            &'a str,
            &'a str,
            &'a str,
            Option<&'a str>,
        );
        let cases: Vec<Case<'_>> = vec![
            (
                "/contests/0/national/votes/PS",
                7.into(),
                "contests[0].national.votes.PS",
                "6",
                "7",
                None,
            ),
            (
                "/contests/0/units/1/votes/PS",
                1.into(),
                "contests[0].units[1].votes.PS",
                "0",
                "1",
                Some("D02"),
            ),
            (
                "/format",
                "x".into(),
                "format",
                "\"urna/results/v1\"",
                "\"x\"",
                None,
            ),
        ];
        for (pointer, value, field, expected, found, unit) in cases {
            let mut changed = base.clone();
            *changed.pointer_mut(pointer).unwrap() = value;
            let d = json_difference(&pretty(&base), &pretty(&changed));
            assert_eq!(d.field, field, "{pointer}");
            assert_eq!(
                (d.expected.as_str(), d.found.as_str()),
                (expected, found),
                "{pointer}"
            );
            assert_eq!(d.unit.as_deref(), unit, "{pointer}");
        }
    }

    #[test]
    fn json_differences_name_the_station_of_a_unit_file_entry() {
        let base = serde_json::json!({"contests": [{"stations": [
            {"id": "PS-1", "current": {"votes": {"A": 1}}},
            {"id": "PS-2", "current": {"votes": {"A": 2}}}
        ]}]});
        let mut changed = base.clone();
        changed["contests"][0]["stations"][1]["current"]["votes"]["A"] = 3.into();
        let d = json_difference(&pretty(&base), &pretty(&changed));
        assert_eq!(d.field, "contests[0].stations[1].current.votes.A");
        assert_eq!(d.station.as_deref(), Some("PS-2"));
        // A renamed key: the object holding it is named, with both versions.
        let renamed = String::from_utf8(pretty(&base))
            .unwrap()
            .replacen("\"A\": 2", "\"B\": 2", 1);
        let d = json_difference(&pretty(&base), renamed.as_bytes());
        assert_eq!(d.field, "contests[0].stations[1].current.votes");
        assert_eq!(
            (d.expected.as_str(), d.found.as_str()),
            ("{\"A\":2}", "{\"B\":2}")
        );
        // An element removed from an array.
        let mut shorter = base.clone();
        shorter["contests"][0]["stations"]
            .as_array_mut()
            .unwrap()
            .pop();
        let d = json_difference(&pretty(&base), &pretty(&shorter));
        assert!(d.field.starts_with("contests[0].stations"), "{}", d.field);
    }

    #[test]
    fn json_formatting_and_garbage_are_told_apart_from_values() {
        let a = b"{\n  \"a\": 1\n}\n";
        let d = json_difference(a, b"{\"a\": 1}\n");
        assert!(
            d.field.contains("formatting at line 1, column 2"),
            "{}",
            d.field
        );
        let long = |tail: &str| format!("{{\"note\": \"{}{tail}\"}}", "x".repeat(300));
        let d = json_difference(long("a").as_bytes(), long("b").as_bytes());
        assert_eq!(d.field, "note");
        assert_eq!(
            (d.expected.as_str(), d.found.as_str()),
            ("\"…xxxxxxxxxxxxxxxxxxxxa\"", "\"…xxxxxxxxxxxxxxxxxxxxb\"")
        );
        let d = json_difference(a, b"{\n  \"a\": 1,,\n");
        assert!(d.found.starts_with("(not valid JSON"), "{}", d.found);
        assert_eq!(d.field, "a");
    }

    #[test]
    fn csv_differences_name_line_column_and_station() {
        let e = b"contest,station,unit,votes:PS\nassembly,PS-1,D01,5\nassembly,PS-2,D01,7\n";
        let f = b"contest,station,unit,votes:PS\nassembly,PS-1,D01,5\nassembly,PS-2,D01,9\n";
        let d = csv_difference(e, f);
        assert_eq!(d.field, "line 3, column votes:PS");
        assert_eq!((d.expected.as_str(), d.found.as_str()), ("7", "9"));
        assert_eq!(
            (d.station.as_deref(), d.unit.as_deref()),
            (Some("PS-2"), Some("D01"))
        );
        let d = csv_difference(e, &e[..e.len() - 20]);
        assert_eq!(
            (d.field.as_str(), d.found.as_str()),
            ("line 3", "(no such line)")
        );
        let d = first_difference("README.txt", b"a\nb\nc\n", b"a\nB\nc\n").unwrap();
        assert_eq!(
            (d.field.as_str(), d.expected.as_str(), d.found.as_str()),
            ("line 2", "b", "B")
        );
        assert_eq!(first_difference("x.json", b"{}", b"{}"), None);
    }
}
