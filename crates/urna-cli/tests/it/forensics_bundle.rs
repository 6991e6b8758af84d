//! The statistical screens in the public bundle: `urna publish` writes `v1/forensics.json`
//! and its plots, and `urna verify` recomputes them byte for byte, so an altered screen or
//! plot is named.

use std::path::Path;

use crate::{init, p, run, urna};

fn verify(bundle: &Path, key: &str) -> (Option<i32>, String) {
    let o = urna()
        .args(["verify", p(bundle), "--log-key", key])
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

/// A simulation with ballot stuffing at a fifth of its stations: the bundle's screens name the
/// Monte Carlo and its inclusion criteria, flag the stuffing with its numbers, list plots that
/// exist and describe themselves; `urna verify` checks them, and fails on a changed number in
/// the JSON or a changed plot.
#[test]
fn publish_writes_the_screens_and_verify_recomputes_them() {
    let dir = tempfile::tempdir().unwrap();
    let (src, data, bundle) = (
        dir.path().join("src"),
        dir.path().join("data"),
        dir.path().join("bundle"),
    );
    run(
        &[
            "sim",
            "--out",
            p(&src),
            "--stations",
            "600",
            "--stuffing",
            "0.2",
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
        ],
        0,
    );
    run(&["publish", "--data", p(&data), "--out", p(&bundle)], 0);
    let current = bundle.join("current");
    let text = std::fs::read_to_string(current.join("v1/forensics.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["format"], "urna/forensics/v1");
    assert_eq!(doc["screened"], true);
    assert_eq!(doc["level"], "district");
    assert_eq!(doc["monte_carlo"]["repetitions"], 1000);
    assert_eq!(doc["monte_carlo"]["seed"], 2016);
    assert_eq!(doc["monte_carlo"]["min_denominator"], 100);
    assert!(
        doc["warning"]
            .as_str()
            .unwrap()
            .contains("reason to look, not proof")
    );
    // Counted stations agree with the results; the last unit is the whole election.
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(current.join("v1/summary.json")).unwrap()).unwrap();
    let counted = summary["contests"][0]["national"]["stations"]["counted"].clone();
    assert_eq!(doc["counted"], counted);
    let units = doc["units"].as_array().unwrap();
    assert_eq!(units.len(), 13, "12 districts and the whole election");
    assert_eq!(units[12]["id"], "all");
    assert_eq!(units[12]["counted"], counted);
    // The stuffing shows at the national level, with its numbers.
    let flags = doc["flags"].as_array().unwrap();
    let stuffing = flags
        .iter()
        .find(|f| f["screen"] == "stuffing" && f["unit"] == "all")
        .unwrap_or_else(|| panic!("no national stuffing flag: {text}"));
    assert!(
        stuffing["detail"]
            .as_str()
            .unwrap()
            .contains("correlation 0."),
        "{stuffing}"
    );
    assert!(units[12]["stuffing"]["correlation"].as_f64().unwrap() >= 0.5);
    // Every variable has a row per unit; every plot listed exists and carries its description.
    for v in doc["variables"].as_array().unwrap() {
        assert_eq!(v["units"].as_array().unwrap().len(), 13, "{}", v["name"]);
    }
    let plots = doc["plots"].as_array().unwrap();
    assert_eq!(plots[0]["file"], "v1/forensics/fingerprint.svg");
    for plot in plots {
        let svg = std::fs::read_to_string(current.join(plot["file"].as_str().unwrap())).unwrap();
        assert!(svg.starts_with("<svg role=\"img\" "), "{}", plot["file"]);
        assert!(svg.contains("</title><desc>"), "{}", plot["file"]);
    }

    let key = run(&["log", "key", "--data", p(&data)], 0)
        .trim()
        .to_owned();
    let (code, out) = verify(&bundle, &key);
    assert_eq!(code, Some(0), "{out}");

    // One changed number in the JSON is named by its place.
    let json = current.join("v1/forensics.json");
    let changed = text.replacen("\"seed\": 2016", "\"seed\": 2017", 1);
    assert_ne!(changed, text);
    replace(&json, changed.as_bytes());
    let (code, out) = verify(&bundle, &key);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("v1/forensics.json: monte_carlo.seed: recomputed 2016, published 2017"),
        "{out}"
    );
    replace(&json, text.as_bytes());
    assert_eq!(verify(&bundle, &key).0, Some(0));

    // A plot redrawn with other bars, and one that the log does not yield.
    let plot = current.join("v1/forensics/turnout-hist.svg");
    let svg = std::fs::read_to_string(&plot).unwrap();
    replace(
        &plot,
        svg.replacen("fill=\"#4a7ab5\"", "fill=\"#4a7ab6\"", 1)
            .as_bytes(),
    );
    std::fs::write(current.join("v1/forensics/extra.svg"), "<svg/>").unwrap();
    let (code, out) = verify(&bundle, &key);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("[file-mismatch] v1/forensics/turnout-hist.svg"),
        "{out}"
    );
    assert!(
        out.contains(
            "v1/forensics/extra.svg: published, but the log and the definition yield no such file"
        ),
        "{out}"
    );
}

/// Replaces a file of the bundle (a hard link shared with another generation is broken, not
/// written through).
fn replace(path: &Path, bytes: &[u8]) {
    std::fs::remove_file(path).unwrap();
    std::fs::write(path, bytes).unwrap();
}
