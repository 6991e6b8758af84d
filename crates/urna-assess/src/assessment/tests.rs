use std::path::PathBuf;

use urna_sim::{SimConfig, Simulation};
use urna_store::Store;

use super::*;

fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulation::new(SimConfig {
        stations: 4,
        ..SimConfig::default()
    });
    let files = sim.write_files(&dir.path().join("sim"), &|_| {}).unwrap();
    let data = dir.path().join("data");
    drop(Store::init(&data, &files[0]).unwrap());
    (dir, data)
}

#[test]
fn init_answers_the_checkable_controls_and_leaves_the_rest_open() {
    let (_d, data) = data_dir();
    let a = Assessment::init(Inputs::new(&data), "2026-12-06").unwrap();
    assert_eq!(a.answers.len(), catalogue().len());
    for (c, x) in catalogue().iter().zip(&a.answers) {
        assert_eq!(c.id, x.id);
        assert_eq!(c.check.is_some(), x.answer.is_automatic(), "{}", c.id);
        if c.check.is_none() {
            assert_eq!(x.answer, Answer::Open);
        }
    }
    assert_eq!(a.election, "sim-2025-assembly");
    assert_eq!(a.controls, catalogue_sha256());
}

#[test]
fn the_file_round_trips_and_signing_rechecks_urnas_answers() {
    let (_d, data) = data_dir();
    let a = Assessment::init(Inputs::new(&data), "2026-12-06").unwrap();
    let text = a.to_toml();
    let back = Assessment::from_toml(&text).unwrap();
    assert_eq!(back, a);
    let body = back.recheck_into_body().unwrap();
    assert_eq!(
        crate::note::AssessmentBody::parse(&body.to_text()).unwrap(),
        body
    );

    // The operator answers one control with evidence.
    let answered = text.replacen(
        "id = \"asset-inventory\"\nanswer = \"open\"\nevidence = \"\"",
        "id = \"asset-inventory\"\nanswer = \"yes\"\nevidence = \"  Inventory v3 of 2026-11-30  \"",
        1,
    );
    let b = Assessment::from_toml(&answered).unwrap();
    let x = b
        .answers
        .iter()
        .find(|x| x.id == "asset-inventory")
        .unwrap();
    assert_eq!(
        (x.answer, x.evidence.as_deref()),
        (Answer::Yes, Some("Inventory v3 of 2026-11-30"))
    );

    // An edited automatic answer is refused at signing, naming the control.
    let forged = text.replacen(
        "answer = \"fail\"\nevidence = \"no witnesses.toml",
        "answer = \"pass\"\nevidence = \"no witnesses.toml",
        1,
    );
    assert_ne!(forged, text);
    let e = Assessment::from_toml(&forged)
        .unwrap()
        .recheck_into_body()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("answer witness-quorum") && e.contains("now says `fail"),
        "{e}"
    );

    // So is a definition changed since init.
    let def = data.join(urna_store::DEFINITION_FILE);
    let t = std::fs::read_to_string(&def).unwrap();
    std::fs::write(&def, t.replacen("Synthetic", "Other", 1)).unwrap();
    let e = back.recheck_into_body().unwrap_err().to_string();
    assert!(e.contains("assessment.definition"), "{e}");
}

#[test]
fn bad_files_are_refused_naming_the_field_and_rule() {
    let (_d, data) = data_dir();
    let text = Assessment::init(Inputs::new(&data), "2026-12-06")
        .unwrap()
        .to_toml();
    let cases: &[(&str, &str, &str)] = &[
        (
            "answer = \"open\"",
            "answer = \"maybe\"",
            "answer[11].answer (asset-inventory)",
        ),
        (
            "answer = \"open\"",
            "answer = \"yes\"",
            "`yes` needs its evidence",
        ),
        (
            "answer = \"open\"",
            "answer = \"pass\"",
            "urna cannot check this control",
        ),
        (
            "answer = \"pass\"",
            "answer = \"yes\"",
            "urna answers this control itself",
        ),
        (
            "date = \"2026-12-06\"",
            "date = \"2026-02-31\"",
            "assessment.date",
        ),
        (
            "controls = \"sha256:",
            "controls = \"sha256:00",
            "assessment.controls",
        ),
        (
            "id = \"capacity\"",
            "id = \"capacities\"",
            "answer capacity: missing",
        ),
        (
            "id = \"capacity\"",
            "id = \"roles\"",
            "answer roles: answered twice",
        ),
        (
            "[assessment]",
            "[assessment]\nextra = 1",
            "unknown field `extra`",
        ),
        (
            "evidence = \"\"",
            "evidence = \"two\\nlines\"",
            "evidence (asset-inventory): must be one line",
        ),
    ];
    for (from, to, expected) in cases {
        let bad = text.replacen(from, to, 1);
        assert_ne!(&bad, &text, "{from}");
        let e = Assessment::from_toml(&bad).unwrap_err().to_string();
        assert!(e.contains(expected), "{from} → {to}: {e}");
    }
}

#[test]
fn the_date_of_a_unix_time_is_its_utc_day() {
    assert_eq!(date_of_ms(0), "1970-01-01");
    assert_eq!(date_of_ms(1_765_000_000_000), "2025-12-06");
    assert_eq!(date_of_ms(1_764_979_199_999), "2025-12-05");
}
