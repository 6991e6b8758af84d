//! Official results through the public path: every vote file under
//! `crates/urna-tally/tests/data/official/` is given to the real binary as
//! `urna seats --rules <its rule set> --votes <file> --json`, and the seats printed must be the
//! official ones its `#! ` lines state (each file's header names the sources of its votes and
//! seats: Montenegro 2016-2023, Kosovo 2019-2025, Bosnia and Herzegovina 2022).
//!
//! urna-tally's `official.rs` checks the same files through the library; this checks that the
//! command an observer runs prints the same seats, with the built-in rule set named as a word.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::{p, run};

fn official_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../urna-tally/tests/data/official")
}

/// The expected outcome of one vote file: its rule set and the seats per list, official ones
/// except for a list the vector states urna does not reproduce (`[differs.LIST]`), where its
/// stated count is expected.
struct Expected {
    rules: String,
    seats: BTreeMap<String, u64>,
}

fn expected_of(text: &str) -> Expected {
    let block: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("#! "))
        .map(|l| format!("{l}\n"))
        .collect();
    let v: toml::Table = toml::from_str(&block).unwrap();
    let rules = v["rules"].as_str().unwrap().to_owned();
    let mut seats: BTreeMap<String, u64> = v["seats"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(l, s)| (l.clone(), u64::try_from(s.as_integer().unwrap()).unwrap()))
        .collect();
    if let Some(differs) = v.get("differs").and_then(toml::Value::as_table) {
        for (l, d) in differs {
            let urna = d["urna"].as_integer().unwrap();
            seats.insert(l.clone(), u64::try_from(urna).unwrap());
        }
    }
    Expected { rules, seats }
}

/// The seat vectors (not the rule-set files, not the candidate files that extend a base).
fn vectors() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(official_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".toml") && !n.starts_with("rules-") && !n.contains("-candidates"))
        .collect();
    names.sort();
    names
}

#[test]
fn urna_seats_prints_the_official_seats_of_every_official_vector() {
    let names = vectors();
    // Montenegro, Kosovo and Bosnia and Herzegovina at least.
    for country in ["montenegro-", "kosovo-", "bosnia-herzegovina-"] {
        assert!(
            names.iter().any(|n| n.starts_with(country)),
            "no {country} vector in {names:?}"
        );
    }
    let mut mismatches = Vec::new();
    for name in &names {
        let path = official_dir().join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let expected = expected_of(&text);
        let rules = if expected.rules.ends_with(".toml") {
            official_dir()
                .join(&expected.rules)
                .to_str()
                .unwrap()
                .to_owned()
        } else {
            expected.rules.clone()
        };
        let out = run(
            &["seats", "--rules", &rules, "--votes", p(&path), "--json"],
            0,
        );
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        let printed = json["seats"].as_object().unwrap();
        // Every declared list is printed; the ones the vector does not name won no seat.
        for (list, seats) in printed {
            let got = seats.as_u64().unwrap();
            let want = expected.seats.get(list).copied().unwrap_or(0);
            if got != want {
                mismatches.push(format!("{name}: {list} urna {got}, expected {want}"));
            }
        }
        for list in expected.seats.keys() {
            assert!(printed.contains_key(list), "{name}: {list} not printed");
        }
        let house: u64 = printed.values().map(|s| s.as_u64().unwrap()).sum::<u64>()
            + json["unfilled_seats"].as_u64().unwrap();
        assert_eq!(
            Some(house),
            json["house_seats"].as_u64(),
            "{name}: the seats printed fill the house"
        );
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

/// The candidate vectors (`*-candidates.toml`, each extending a base vote file with candidates
/// and preference votes in one district) through the binary: the elected ballot numbers printed
/// are the officially elected, in the rule's order (Bosnia and Herzegovina 2022, FBiH-5: SDP's
/// second seat by list order under the 20 % preference share).
#[test]
fn urna_seats_prints_the_officially_elected_candidates() {
    let names: Vec<String> = std::fs::read_dir(official_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with("-candidates.toml"))
        .collect();
    assert!(!names.is_empty());
    let dir = tempfile::tempdir().unwrap();
    for name in names {
        let text = std::fs::read_to_string(official_dir().join(&name)).unwrap();
        let block: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("#! "))
            .map(|l| format!("{l}\n"))
            .collect();
        let v: toml::Table = toml::from_str(&block).unwrap();
        let base =
            std::fs::read_to_string(official_dir().join(v["base"].as_str().unwrap())).unwrap();
        let votes = dir.path().join(&name);
        std::fs::write(&votes, format!("{base}\n{text}")).unwrap();
        let out = run(
            &[
                "seats",
                "--rules",
                v["rules"].as_str().unwrap(),
                "--votes",
                p(&votes),
                "--json",
            ],
            0,
        );
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        let district = v["district"].as_str().unwrap();
        for (list, official) in v["elected"].as_table().unwrap() {
            let official: Vec<u64> = official
                .as_array()
                .unwrap()
                .iter()
                .map(|n| u64::try_from(n.as_integer().unwrap()).unwrap())
                .collect();
            let printed = json["candidates"][list]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: no candidates printed for {list}"))
                .iter()
                .find(|c| c["district"] == district)
                .unwrap_or_else(|| panic!("{name}: {list} has none in {district}"));
            let elected: Vec<u64> = printed["elected"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap())
                .collect();
            assert_eq!(elected, official, "{name}: {list}'s elected in {district}");
        }
    }
}
