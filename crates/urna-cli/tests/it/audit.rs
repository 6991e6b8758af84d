use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Output;

use crate::{p, run, shared_data, urna};

const SEED: &str = "12345678901234567890";

/// Source rows of the accepted stations: station → (column → value).
fn source_rows() -> HashMap<String, HashMap<String, u64>> {
    let csv = shared_data(crate::albania::CSV_2021);
    let mut rdr = csv::Reader::from_path(&csv).unwrap();
    let h = rdr.headers().unwrap().clone();
    let mut out = HashMap::new();
    for r in rdr.records() {
        let r = r.unwrap();
        let mut row = HashMap::new();
        for (name, value) in h.iter().zip(r.iter()) {
            if let Ok(v) = value.parse::<u64>() {
                row.insert(name.to_owned(), v);
            }
        }
        if row["ValidBallots"] + row["InvalidBallots"] == row["VotesCast"] {
            out.insert(r[3].to_owned(), row);
        }
    }
    out
}

const LISTS: [&str; 13] = [
    "PS", "PD", "LSI", "PSD", "PBK", "PLDSH", "BD", "ABEOK", "NTH", "LRE", "ADR", "LN", "Other",
];

/// A hand-count file for `stations`, from the source CSV; `edit` may change a row.
fn counts_file(
    path: &Path,
    rows: &HashMap<String, HashMap<String, u64>>,
    stations: &[String],
    edit: impl Fn(&str, &mut HashMap<String, u64>),
) {
    let mut text = format!("station,{},invalid\n", LISTS.join(","));
    for s in stations {
        let mut row = rows[s].clone();
        edit(s, &mut row);
        let votes: Vec<String> = LISTS.iter().map(|l| row[*l].to_string()).collect();
        let _ = writeln!(text, "{s},{},{}", votes.join(","), row["InvalidBallots"]);
    }
    std::fs::write(path, text).unwrap();
}

fn sampled(out: &str) -> Vec<String> {
    out.lines()
        .skip_while(|l| !l.starts_with("station "))
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect()
}

fn urna_output(args: &[&str]) -> (Option<i32>, String) {
    let out: Output = urna().args(args).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

/// Albania 2021: the seat outcome's assertions, the sample it would need, and a whole audit of
/// the single-winner question (which list came first) with hand counts taken from the source.
#[test]
fn albania_2021_assertions_sample_and_risk() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("al");
    crate::albania::import_2021(&data);
    let rows = source_rows();

    // Assertions: 4 lists above 1 %, 8 below, and the seat pairs per district.
    let json: serde_json::Value = serde_json::from_str(&run(
        &[
            "audit",
            "assertions",
            "--data",
            p(&data),
            "--rules",
            "albania",
            "--json",
        ],
        0,
    ))
    .unwrap();
    let all = json["assertions"].as_array().unwrap();
    assert_eq!(all.len(), 99);
    let above = all
        .iter()
        .filter(|a| a["kind"] == "above_threshold")
        .count();
    let below = all
        .iter()
        .filter(|a| a["kind"] == "below_threshold")
        .count();
    assert_eq!((above, below), (4, 8));
    // PS reached 1 %: 100·PS − 1·V + 1, summed over the accepted stations by hand.
    let ps: u64 = rows.values().map(|r| r["PS"]).sum();
    let valid: u64 = rows
        .values()
        .map(|r| LISTS.iter().map(|l| r[*l]).sum::<u64>())
        .sum();
    let ps_assertion = all
        .iter()
        .find(|a| a["kind"] == "above_threshold" && a["list"] == "PS")
        .unwrap();
    assert_eq!(
        ps_assertion["margin"].as_i64().unwrap(),
        i64::try_from(100 * ps).unwrap() - i64::try_from(valid).unwrap() + 1
    );
    // Every seat assertion compares a winner's last seat with a loser's next one.
    assert!(
        all.iter()
            .filter(|a| a["kind"] == "seat")
            .all(|a| a["margin"].as_i64().unwrap() > 0)
    );
    let text = run(
        &[
            "audit",
            "assertions",
            "--data",
            p(&data),
            "--rules",
            "albania",
        ],
        0,
    );
    assert!(text.contains("smallest diluted margin"), "{text}");

    // The 140 seats: the closest seat is too close for a sample of stations.
    let (code, text) = urna_output(&[
        "audit",
        "sample",
        "--data",
        p(&data),
        "--rules",
        "albania",
        "--seed",
        SEED,
    ]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("verdict: full hand count"), "{text}");

    // A seed that is too short is refused before anything is drawn.
    let (code, text) = urna_output(&[
        "audit",
        "sample",
        "--data",
        p(&data),
        "--rules",
        "albania",
        "--seed",
        "123",
    ]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("at least 20"), "{text}");

    // Which list came first (one seat, the whole country): a small sample suffices.
    let one = ["--data", p(&data), "--rules", "generic", "--seats", "1"];
    let sample = run(
        &[&["audit", "sample"][..], &one, &["--seed", SEED]].concat(),
        0,
    );
    let stations = sampled(&sample);
    assert!(!stations.is_empty() && stations.len() < 100, "{sample}");
    // The same seed gives the same sample; another seed another one.
    let again = run(
        &[&["audit", "sample"][..], &one, &["--seed", SEED]].concat(),
        0,
    );
    assert_eq!(sampled(&again), stations);
    let other = run(
        &[
            &["audit", "sample"][..],
            &one,
            &["--seed", "98765432109876543210"],
        ]
        .concat(),
        0,
    );
    assert_ne!(sampled(&other), stations);

    // Hand counts equal to the protocols: the risk limit is met.
    let counts = dir.path().join("counts.csv");
    counts_file(&counts, &rows, &stations, |_, _| {});
    let risk = run(
        &[
            &["audit", "risk"][..],
            &one,
            &["--seed", SEED, "--counts", p(&counts)],
        ]
        .concat(),
        0,
    );
    assert!(risk.contains("verdict: risk limit met"), "{risk}");

    // A sampled box whose paper says every ballot went to the runner-up: the audit escalates.
    counts_file(&counts, &rows, &stations, |s, row| {
        if s == stations[0] {
            let valid: u64 = LISTS.iter().map(|l| row[*l]).sum();
            for l in LISTS {
                row.insert(l.to_owned(), 0);
            }
            row.insert("PD".to_owned(), valid);
        }
    });
    let risk = run(
        &[
            &["audit", "risk"][..],
            &one,
            &["--seed", SEED, "--counts", p(&counts)],
        ]
        .concat(),
        0,
    );
    assert!(risk.contains("verdict: escalate"), "{risk}");

    // A hand-count file without a list's column is refused, naming it.
    std::fs::write(&counts, "station,PS,invalid\n").unwrap();
    let (code, text) = urna_output(
        &[
            &["audit", "risk"][..],
            &one,
            &["--seed", SEED, "--counts", p(&counts)],
        ]
        .concat(),
    );
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("no column `PD`"), "{text}");
}
