//! `urna export`: the NIST SP 1500-100 v2 report and the CSV files of a real data directory,
//! against `urna tally --json` and the published bundle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::{init, p, run, urna};

/// The `total` VoteCounts of every selection of the first contest: list id → GpUnit → count.
fn vote_counts(report: &Value) -> BTreeMap<String, BTreeMap<String, u64>> {
    report["Election"][0]["Contest"][0]["ContestSelection"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let party = s["PartyIds"][0].as_str().unwrap();
            let counts = s["VoteCounts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|v| v["Type"] == "total")
                .map(|v| {
                    (
                        v["GpUnitId"].as_str().unwrap().to_owned(),
                        v["Count"].as_u64().unwrap(),
                    )
                })
                .collect();
            (party.strip_prefix("par-").unwrap().to_owned(), counts)
        })
        .collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The report without its GeneratedDate (the current time when there are no witnesses).
fn undated(mut report: Value) -> Value {
    report["GeneratedDate"] = Value::Null;
    report
}

#[test]
fn export_matches_the_tally_and_the_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let (src, data, bundle) = (
        dir.path().join("src"),
        dir.path().join("data"),
        dir.path().join("bundle"),
    );
    // 1. A simulated election with 10 % arithmetic errors, half of them amended.
    run(
        &[
            "sim",
            "--out",
            p(&src),
            "--stations",
            "300",
            "--error-rate",
            "1000",
        ],
        0,
    );
    init(&src, &data);
    run(
        &[
            "ingest",
            "--data",
            p(&data),
            p(&src.join("protocols.notes")),
            p(&src.join("amendments.notes")),
        ],
        0,
    );

    // 2. The report's national votes are the tally's, and every station is a GpUnit.
    let file = dir.path().join("report.json");
    let out = run(&["export", "cdf", "--data", p(&data), "--out", p(&file)], 0);
    assert!(
        out.contains("GeneratedDate") && out.contains("current time"),
        "{out}"
    );
    let report = read_json(&file);
    assert_eq!(report["@type"], "ElectionResults.ElectionReport");
    assert_eq!(report["Format"], "precinct-level");
    let tally: Value =
        serde_json::from_str(&run(&["tally", "--data", p(&data), "--json"], 0)).unwrap();
    let national = &tally["units"][0];
    let root = format!("ru-{}", national["id"].as_str().unwrap());
    let votes = vote_counts(&report);
    let tally_votes = national["votes"].as_object().unwrap();
    assert_eq!(votes.len(), tally_votes.len());
    for (list, v) in tally_votes {
        assert_eq!(votes[list][&root], v.as_u64().unwrap(), "list {list}");
    }
    let gp_units: BTreeMap<&str, &Value> = report["GpUnit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["@id"].as_str().unwrap(), g))
        .collect();
    let stations_csv = std::fs::read_to_string(src.join("stations.csv")).unwrap();
    let stations: Vec<&str> = stations_csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(stations.len(), 300);
    for s in &stations {
        assert_eq!(gp_units[format!("ps-{s}").as_str()]["Type"], "precinct");
    }
    // Quarantined stations are reported, not counted.
    let quarantined: BTreeSet<String> = tally["quarantine"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| format!("ps-{}", q["station"].as_str().unwrap()))
        .collect();
    assert!(!quarantined.is_empty());
    for q in &quarantined {
        assert_eq!(
            gp_units[q.as_str()]["CountStatus"][0]["Status"],
            "in-process"
        );
        assert!(votes.values().all(|counts| !counts.contains_key(q)));
    }
    assert_eq!(report["Status"], "unofficial-partial");
    // The log's checkpoint is quoted.
    let checkpoint = std::fs::read_to_string(data.join("log/checkpoint")).unwrap();
    let size = checkpoint.lines().nth(1).unwrap();
    assert!(
        report["ExternalIdentifier"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["OtherType"] == "urna-log-size" && x["Value"] == size)
    );

    // 3. Standard output gives the same report.
    let stdout = urna()
        .args(["export", "cdf", "--data", p(&data)])
        .output()
        .unwrap();
    assert!(stdout.status.success());
    let piped: Value = serde_json::from_slice(&stdout.stdout).unwrap();
    assert_eq!(undated(piped), undated(report));

    // 4. The CSV export is the bundle's CSV, byte for byte.
    run(&["publish", "--data", p(&data), "--out", p(&bundle)], 0);
    let csv = dir.path().join("csv");
    run(&["export", "csv", "--data", p(&data), "--out", p(&csv)], 0);
    for name in ["stations.csv", "units.csv"] {
        let ours = std::fs::read(csv.join(name)).unwrap();
        // csv/stations.csv is published only as its gzip.
        let published = match std::fs::read(bundle.join("current/csv").join(format!("{name}.gz"))) {
            Ok(gz) if name == "stations.csv" => crate::gunzip(&gz),
            _ => std::fs::read(bundle.join("current/csv").join(name)).unwrap(),
        };
        assert!(ours == published, "{name} differs from the bundle's");
    }

    // 5. Errors name the problem.
    let not_data = run(&["export", "cdf", "--data", p(&src), "--out", p(&file)], 2);
    assert!(
        not_data.contains("is not an urna data directory"),
        "{not_data}"
    );
    let nowhere = dir.path().join("missing/report.json");
    let unwritable = run(
        &["export", "cdf", "--data", p(&data), "--out", p(&nowhere)],
        2,
    );
    assert!(
        unwritable.contains("cannot write") && unwritable.contains("is not a directory"),
        "{unwritable}"
    );
    std::fs::remove_file(data.join("log/checkpoint")).unwrap();
    let unpublished = run(&["export", "csv", "--data", p(&data), "--out", p(&csv)], 2);
    assert!(
        unpublished.contains("nothing published yet"),
        "{unpublished}"
    );
}

#[test]
fn export_of_a_witnessed_checkpoint_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    run(
        &[
            "demo",
            "--data",
            p(&demo),
            "--stations",
            "200",
            "--no-serve",
        ],
        0,
    );
    let data = demo.join("store");
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    let out = run(&["export", "cdf", "--data", p(&data), "--out", p(&a)], 0);
    assert!(out.contains("the newest witness cosignature"), "{out}");
    run(&["export", "cdf", "--data", p(&data), "--out", p(&b)], 0);
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap());
    // GeneratedDate is the newest cosignature's timestamp (8 bytes, big-endian, after the
    // key ID in the signature line).
    let checkpoint = std::fs::read_to_string(data.join("log/checkpoint")).unwrap();
    let newest = checkpoint
        .lines()
        .filter_map(|l| l.strip_prefix("\u{2014} "))
        .filter_map(|l| {
            use base64::Engine as _;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(l.split(' ').nth(1)?)
                .ok()?;
            (raw.len() == 4 + 72).then(|| u64::from_be_bytes(raw[4..12].try_into().unwrap()))
        })
        .max()
        .unwrap();
    let report = read_json(&a);
    assert_eq!(
        report["GeneratedDate"].as_str(),
        urna_tally::cdf::rfc3339_utc(newest).as_deref()
    );
    // The bundle carries the same bytes, at the same checkpoint.
    assert!(
        std::fs::read(data.join("public/current/cdf/election-report.json")).unwrap()
            == std::fs::read(&a).unwrap(),
        "the bundle's cdf/election-report.json differs from `urna export cdf`"
    );
    // `urna publish` always writes it, whatever the election's size.
    let out_dir = dir.path().join("published");
    let out = run(&["publish", "--data", p(&data), "--out", p(&out_dir)], 0);
    assert!(!out.contains("no cdf/"), "{out}");
    assert!(
        std::fs::read(out_dir.join("current/cdf/election-report.json")).unwrap()
            == std::fs::read(&a).unwrap()
    );
}

#[test]
fn export_reports_open_list_candidates_and_their_preference_votes() {
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    // 1. An open-list election, every protocol counted: three districts, so the sim's lists
    //    stand for the whole country (the generic rule set's house: 100 candidates a list, 5
    //    of whom draw preference votes).
    run(
        &[
            "sim",
            "--out",
            p(&src),
            "--stations",
            "120",
            "--districts",
            "3",
            "--candidates",
            "5",
            "--error-rate",
            "0",
        ],
        0,
    );
    init(&src, &data);
    let protocols = src.join("protocols.notes");
    run(
        &["ingest", "--strict", "--data", p(&data), p(&protocols)],
        0,
    );
    let file = dir.path().join("report.json");
    run(&["export", "cdf", "--data", p(&data), "--out", p(&file)], 0);
    let report = read_json(&file);

    // 2. The signed notes' preference lines: station → "list~number" → votes.
    let notes = String::from_utf8_lossy(&std::fs::read(&protocols).unwrap()).into_owned();
    let mut stated: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut station = String::new();
    for line in notes.lines() {
        if let Some(s) = line.strip_prefix("station: ") {
            station = s.to_owned();
            stated.entry(station.clone()).or_default();
        } else if let Some(pref) = line.strip_prefix("preferences: ") {
            let (list, pairs) = pref.split_once(' ').unwrap();
            for pair in pairs.split(' ') {
                let (number, votes) = pair.split_once(':').unwrap();
                let key = format!("{list}~{number}");
                let votes = votes.parse().unwrap();
                assert!(
                    stated
                        .get_mut(&station)
                        .unwrap()
                        .insert(key, votes)
                        .is_none()
                );
            }
        }
    }
    assert_eq!(stated.len(), 120);
    let mut national: BTreeMap<&str, u64> = BTreeMap::new();
    for prefs in stated.values() {
        for (k, v) in prefs {
            *national.entry(k).or_default() += v;
        }
    }

    // 3. Every candidate, with its list and a gender.
    let election = &report["Election"][0];
    let candidates = election["Candidate"].as_array().unwrap();
    assert_eq!(candidates.len(), 7 * 100);
    let persons: BTreeMap<&str, &str> = report["Person"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["@id"].as_str().unwrap(), p["Gender"].as_str().unwrap()))
        .collect();
    for c in candidates {
        let id = c["@id"].as_str().unwrap().strip_prefix("can-").unwrap();
        let (list, number) = id.split_once('~').unwrap();
        assert_eq!(c["PartyId"], format!("par-{list}"));
        let name = c["BallotName"]["Text"][0]["Content"].as_str().unwrap();
        assert!(name.ends_with(&format!(" candidate {number}")), "{name}");
        let gender = persons[c["PersonId"].as_str().unwrap()];
        assert!(gender == "female" || gender == "male", "{gender}");
    }

    // 4. Each candidate's preference votes: the notes' sum nationally, each station's own
    //    line at the station, and no count where the note has no line.
    let root = election["ElectionScopeId"].as_str().unwrap();
    let selections: Vec<&Value> = election["Contest"][0]["ContestSelection"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["@type"] == "ElectionResults.CandidateSelection")
        .collect();
    assert_eq!(selections.len(), 7 * 100);
    for s in selections {
        let key = s["CandidateIds"][0]
            .as_str()
            .unwrap()
            .strip_prefix("can-")
            .unwrap();
        let counts: BTreeMap<&str, u64> = s["VoteCounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                assert_eq!(v["Type"], "total");
                (
                    v["GpUnitId"].as_str().unwrap(),
                    v["Count"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            counts[root],
            national.get(key).copied().unwrap_or(0),
            "{key}"
        );
        for (station, prefs) in &stated {
            assert_eq!(
                counts.get(format!("ps-{station}").as_str()).copied(),
                prefs.get(key).copied(),
                "{key} at {station}"
            );
        }
    }
}
