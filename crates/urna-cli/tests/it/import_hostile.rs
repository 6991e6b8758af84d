//! `urna import` given files it must refuse: Georgia's 2024 per-precinct scrape (another
//! country's columns, a byte-order mark, OCR columns, cancelled precincts) and rows of the
//! Albanian CSV edited the ways a messy or hostile file is. Each refusal names the line, the
//! column and the rule; none leaves a data directory, or anything else, behind.

use std::path::Path;

use crate::albania::CSV_2021;
use crate::{p, run, shared_data};

/// Georgia's 2024 scrape, as published (read-only, under `../shared/data`).
const GEORGIA_2024: &str = "georgia_2024_foige/cec_scrape_proportional.csv";

/// `urna import --format albania-2021` of `csv` into `dir/data`, expected to be refused (exit
/// 2); its output. Nothing may be left in `dir` but the CSV files the test wrote.
fn refused(dir: &Path, csv: &Path) -> String {
    let data = dir.join("data");
    let out = run(
        &[
            "import",
            "--format",
            "albania-2021",
            "--csv",
            p(csv),
            "--data",
            p(&data),
        ],
        2,
    );
    assert!(!out.contains("panicked"), "{out}");
    let left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".csv"))
        .collect();
    assert!(left.is_empty(), "a refused import left {left:?}: {out}");
    out
}

#[test]
fn georgia_2024_is_refused_naming_the_column_it_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let out = refused(dir.path(), &shared_data(GEORGIA_2024));
    assert!(out.contains("missing column \"District\""), "{out}");
}

/// The Albanian header and two real rows, each edited into a messy or hostile row.
#[test]
fn a_bad_row_is_refused_by_line_column_and_rule_and_nothing_is_written() {
    let text = std::fs::read_to_string(shared_data(CSV_2021)).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let row = lines.next().unwrap();
    let other = lines.next().unwrap();
    assert!(row.contains(",P-3264,") && row.starts_with("Berat,Bashkia Berat,"));
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "a station id that is no id",
            row.replace(",P-3264,", ",P 3264,"),
            "line 2: column \"PollingStation\": station id \"P 3264\" must be 1 to 64",
        ),
        (
            "an empty station id",
            row.replace(",P-3264,", ",,"),
            "line 2: column \"PollingStation\": station id \"\"",
        ),
        (
            "a station id carrying stations.csv columns",
            row.replace(",P-3264,", ",\"P-1,AL-x,5\","),
            "line 2: column \"PollingStation\": station id \"P-1,AL-x,5\"",
        ),
        (
            "a station twice",
            format!("{row}\n{row}"),
            "line 3: column \"PollingStation\": station id \"P-3264\" is already used on line 2",
        ),
        (
            "a district with no letter or digit",
            row.replacen("Berat,", "\"!!!\",", 1),
            "line 2: column \"District\": \"!!!\" has no letter or digit",
        ),
        (
            "two districts making one id",
            format!("{row}\n{}", other.replacen("Berat,", "Berat!,", 1)),
            "line 3: column \"District\": \"Berat!\" and \"Berat\" (line 2) make the same unit AL-Berat",
        ),
        (
            "a negative count",
            row.replacen(",721,", ",-721,", 1),
            "line 2: column \"EligibleVoters\": must be a whole number",
        ),
        (
            "a count past any station",
            row.replacen(",721,", ",18446744073709551616,", 1),
            "line 2: column \"EligibleVoters\": must be at most",
        ),
        ("no rows", String::new(), "no rows after the header"),
    ];
    for (what, rows, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("edited.csv");
        std::fs::write(&csv, format!("{header}\n{rows}\n")).unwrap();
        let out = refused(dir.path(), &csv);
        assert!(out.contains(expected), "{what}: {out}");
    }
}

/// A spreadsheet's UTF-8 byte-order mark before the header is not part of the first column.
#[test]
fn a_byte_order_mark_before_the_header_is_read_past() {
    let text = std::fs::read_to_string(shared_data(CSV_2021)).unwrap();
    let mut lines = text.lines();
    let (header, row) = (lines.next().unwrap(), lines.next().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bom.csv");
    std::fs::write(&csv, format!("\u{feff}{header}\n{row}\n")).unwrap();
    let data = dir.path().join("data");
    let out = run(
        &[
            "import",
            "--format",
            "albania-2021",
            "--csv",
            p(&csv),
            "--data",
            p(&data),
        ],
        0,
    );
    assert!(out.contains("imported 1 stations in 1 districts"), "{out}");
    assert!(data.join("urna.sqlite").is_file());
    // Named where it is, not where it was assembled.
    assert!(
        out.contains(&format!(
            "{}",
            data.join("secrets/central-commission.key").display()
        )),
        "{out}"
    );
}

/// Files a spreadsheet or a hostile hand makes of the same rows: each refused naming the line
/// the row starts on, the column and the rule, with a message of bounded length, and nothing
/// written; Windows line endings are read as they are.
#[test]
fn hostile_layouts_are_refused_by_the_line_a_row_starts_on_and_bounded() {
    let text = std::fs::read_to_string(shared_data(CSV_2021)).unwrap();
    let mut lines = text.lines();
    let (header, row, other) = (
        lines.next().unwrap(),
        lines.next().unwrap(),
        lines.next().unwrap(),
    );
    let bad_id = other.replacen(",P-", ",P ", 1);
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "a quoted name over two lines, then a bad row: the line the bad row starts on",
            format!(
                "{header}\n{}\n{bad_id}\n",
                row.replacen(",Berat,P-", ",\"Ber\nat\",P-", 1)
            )
            .into_bytes(),
            "line 4: column \"PollingStation\": station id \"P ".into(),
        ),
        (
            "a column twice (which count is the list's?)",
            format!("{header},PS\n{row},999999\n").into_bytes(),
            "line 1 (the header): column \"PS\" appears twice (columns 42 and 46)".into(),
        ),
        (
            "a line break inside a place name",
            format!(
                "{header}\n{}\n",
                row.replacen(",Bashkia Berat,", ",\"Bashkia\nBerat\",", 1)
            )
            .into_bytes(),
            "line 2: column \"Municipality\": \"Bashkia\\nBerat\" holds a control character".into(),
        ),
        (
            "a NUL byte inside a place name",
            format!(
                "{header}\n{}\n",
                row.replacen(",Bashkia Berat,", ",Bashkia\0Berat,", 1)
            )
            .into_bytes(),
            "line 2: column \"Municipality\": \"Bashkia\\0Berat\" holds a control character".into(),
        ),
        (
            "a row of 2 MB",
            format!(
                "{header}\n{}\n",
                row.replacen(",Bashkia Berat,", &format!(",{},", "A".repeat(2 << 20)), 1)
            )
            .into_bytes(),
            "line 2: a row longer than 65536 bytes".into(),
        ),
        (
            "a header of 2 MB with no line end",
            "A".repeat(2 << 20).into_bytes(),
            "line 1: a row longer than 65536 bytes".into(),
        ),
    ];
    for (what, bytes, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("hostile.csv");
        std::fs::write(&csv, bytes).unwrap();
        let out = refused(dir.path(), &csv);
        assert!(
            out.contains(&expected),
            "{what}: {}",
            &out[..out.len().min(2000)]
        );
        assert!(out.len() < 4096, "{what}: {} bytes of output", out.len());
    }
    // Windows line endings: the same rows.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("crlf.csv");
    std::fs::write(&csv, format!("{header}\r\n{row}\r\n{other}\r\n")).unwrap();
    let data = dir.path().join("data");
    let out = run(
        &[
            "import",
            "--format",
            "albania-2021",
            "--csv",
            p(&csv),
            "--data",
            p(&data),
        ],
        0,
    );
    assert!(out.contains("imported 2 stations"), "{out}");
}

/// An import killed with SIGKILL leaves no data directory, only its hidden staging directory;
/// the next import into the same place removes it (its process is gone) and succeeds.
#[test]
fn an_import_killed_midway_leaves_no_directory_and_the_next_clears_its_staging() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let csv = shared_data(CSV_2021);
    let staging = || -> Vec<String> {
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".data.importing-"))
            .collect()
    };
    let mut child = crate::urna()
        .args(["import", "--format", "albania-2021", "--csv", p(&csv)])
        .args(["--data", p(&data)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while staging().is_empty() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(30),
            "no staging directory appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!data.exists(), "a killed import left {}", data.display());
    assert_eq!(staging().len(), 1, "the killed import's staging directory");
    let out = run(
        &[
            "import",
            "--format",
            "albania-2021",
            "--csv",
            p(&csv),
            "--data",
            p(&data),
        ],
        0,
    );
    assert!(out.contains("imported 5199 stations"), "{out}");
    assert!(staging().is_empty(), "left behind: {:?}\n{out}", staging());
}
