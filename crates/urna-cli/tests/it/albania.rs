use std::path::{Path, PathBuf};

use crate::{p, run, shared_data, urna};

/// The published per-station results of 2021, under `../shared/data`.
pub(crate) const CSV_2021: &str = "albania_2021_borici/party_votes_raw_polling_station.csv";

/// `urna import --format albania-2021` of the published per-station CSV into `data`; its output.
pub(crate) fn import_2021(data: &Path) -> String {
    let csv = shared_data(CSV_2021);
    run(
        &[
            "import",
            "--format",
            "albania-2021",
            "--csv",
            p(&csv),
            "--data",
            p(data),
        ],
        0,
    )
}

/// Albania 2021 through the same intake: 106 published protocols break
/// valid + invalid = ballots cast, and each is listed with its numbers.
#[test]
fn albania_2021_import_quarantines_the_106_inconsistent_protocols() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("al");
    let out = import_2021(&data);
    assert!(
        out.contains("imported 5199 stations in 12 districts"),
        "{out}"
    );
    assert!(
        out.contains("5199 notes read: 5093 accepted, 106 quarantined, 0 duplicates, 0 rejected"),
        "{out}"
    );
    assert!(out.contains("Quarantined stations (106)"), "{out}");
    let listed: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("[valid-plus-invalid]"))
        .collect();
    assert_eq!(listed.len(), 106);
    // One row checked against the CSV by hand: P-3268 in Berat, 253 + 23 = 276 ≠ 277.
    assert!(
        listed.iter().any(|l| l.contains("P-3268")
            && l.contains("valid 253 + invalid 23 = 276 ≠ ballots-cast 277")),
        "{listed:#?}"
    );
    assert!(
        out.contains("never signed at source"),
        "the definition says the keys were generated"
    );
    // Totals equal the CSV's sums over the accepted stations.
    let json: serde_json::Value =
        serde_json::from_str(&run(&["tally", "--data", p(&data), "--json"], 0)).unwrap();
    let csv = shared_data(CSV_2021);
    let mut rdr = csv::Reader::from_path(&csv).unwrap();
    let h = rdr.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (mut ps, mut registered) = (0u64, 0u64);
    for r in rdr.records() {
        let r = r.unwrap();
        let num = |n: &str| r[col(n)].parse::<u64>().unwrap();
        registered += num("EligibleVoters");
        if num("ValidBallots") + num("InvalidBallots") == num("VotesCast") {
            ps += num("PS");
        }
    }
    assert_eq!(json["units"][0]["votes"]["PS"].as_u64().unwrap(), ps);
    assert_eq!(json["units"][0]["registered"].as_u64().unwrap(), registered);

    // Seats from the intake's own tally (quarantine excluded) reproduce the official result.
    let seats: serde_json::Value = serde_json::from_str(&run(
        &["seats", "--rules", "albania", "--data", p(&data), "--json"],
        0,
    ))
    .unwrap();
    let text = run(&["seats", "--rules", "albania", "--data", p(&data)], 0);
    for (list, want) in [("PS", 74), ("PD", 59), ("LSI", 4), ("PSD", 3)] {
        let row = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(list))
            .unwrap();
        assert_eq!(
            row.split_whitespace().last(),
            Some(want.to_string().as_str()),
            "{text}"
        );
    }
    assert!(seats.is_object());
}

/// Albania 2021's CSV with the municipality Bashkia Berat renamed `name`, written into `dir`.
fn berat_renamed(dir: &Path, name: &str) -> PathBuf {
    let mut rdr = csv::Reader::from_path(shared_data(CSV_2021)).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let muni = headers.iter().position(|h| h == "Municipality").unwrap();
    let csv_path = dir.join("renamed.csv");
    let mut out = csv::Writer::from_path(&csv_path).unwrap();
    out.write_record(&headers).unwrap();
    let mut renamed = 0;
    for r in rdr.records() {
        let r = r.unwrap();
        let row: Vec<&str> = r
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if i == muni && f == "Bashkia Berat" {
                    renamed += 1;
                    name
                } else {
                    f
                }
            })
            .collect();
        out.write_record(&row).unwrap();
    }
    out.flush().unwrap();
    assert!(renamed > 0);
    csv_path
}

/// Regression: the import wrote the CSV's place names between plain quotes into the
/// definition, so a municipality name could end its string and go on as TOML. A name that
/// breaks the line to add keys and a unit (imported so, it moved Berat's stations into the
/// district of Tirana: PS 73 and LSI 5 instead of the official 74 and 4) is refused, naming
/// the line, the column and the rule, and nothing is written; a name with quotes, brackets and
/// a backslash on one line is written as one TOML string, the stations stay in Berat and the
/// seats are the official ones.
#[test]
fn a_place_name_in_the_csv_is_a_name_not_toml() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("al");
    let injected = "Bashkia Berat\"\nparent = \"AL-Tirane\"\n[[units]]\nid = \"AL-q\"\nname = \"Q";
    let csv_path = berat_renamed(dir.path(), injected);
    let out = urna()
        .args(["import", "--format", "albania-2021", "--csv"])
        .arg(&csv_path)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("column \"Municipality\"")
            && err.contains("holds a control character or a bidirectional override; a place name is one line of text"),
        "{err}"
    );
    assert!(!data.exists(), "a refused import wrote {}", data.display());

    let name = "Bashkia \"Berat\" [[units]] id = \"AL-q\" \\ name = 'Q'";
    let csv_path = berat_renamed(dir.path(), name);
    run(
        &[
            "import",
            "--format",
            "albania-2021",
            "--csv",
            p(&csv_path),
            "--data",
            p(&data),
        ],
        0,
    );
    let definition: toml::Value =
        toml::from_str(&std::fs::read_to_string(data.join("election.toml")).unwrap()).unwrap();
    let units = definition["units"].as_array().unwrap();
    let unit = units
        .iter()
        .find(|u| u["name"].as_str() == Some(name))
        .expect("the municipality keeps its name, whole");
    assert_eq!(unit["parent"].as_str(), Some("AL-Berat"));
    assert!(!units.iter().any(|u| u["id"].as_str() == Some("AL-q")));
    let text = run(&["seats", "--rules", "albania", "--data", p(&data)], 0);
    for (list, want) in [("PS", 74), ("PD", 59), ("LSI", 4), ("PSD", 3)] {
        let row = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(list))
            .unwrap();
        assert_eq!(
            row.split_whitespace().last(),
            Some(want.to_string().as_str()),
            "{text}"
        );
    }
}
