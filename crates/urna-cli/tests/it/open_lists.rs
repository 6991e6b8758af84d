//! Open lists end to end with the real binary: `urna sim --candidates` → `urna init` →
//! `urna ingest --strict` → `urna tally` → `urna publish` → `urna verify`. Preference errors are
//! quarantined (stored, not refused), listed with their rules, and replayed by the verifier.

use crate::{init, p, run, urna};

#[test]
fn open_list_protocols_flow_through_intake_tally_publish_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("sim");
    let data = dir.path().join("data");
    let bundle = dir.path().join("bundle");
    // 1. An open-list election: 5 candidates per list, 2 marks, 6 % of protocols with an
    //    arithmetic error and as many again with a preference error.
    run(
        &[
            "sim",
            "--out",
            p(&src),
            "--stations",
            "200",
            "--candidates",
            "5",
            "--marks",
            "2",
            "--error-rate",
            "600",
        ],
        0,
    );
    let definition = std::fs::read_to_string(src.join("election.toml")).unwrap();
    assert!(definition.contains("preferences = { marks = 2 }"));
    // Seven lists with their own candidates in each of the twelve districts, as many as the
    // district's seats and at least 5: 140 seats, plus 1 in Gjirokastër (4) and 2 in Kukës (3).
    assert_eq!(definition.matches("[[lists.candidates]]").count(), 7 * 143);
    // 2. Intake: nothing is refused (--strict exits 0); the preference errors are quarantined.
    init(&src, &data);
    let out = run(
        &[
            "ingest",
            "--data",
            p(&data),
            "--strict",
            p(&src.join("protocols.notes")),
        ],
        0,
    );
    assert!(out.contains("0 rejected"), "{out}");
    // 3. The tally lists each quarantined protocol with its rule, list, candidate and numbers.
    let tally = run(&["tally", "--data", p(&data)], 0);
    for want in [
        "[preference-within-list-votes] a candidate has more preference votes than the list has votes: preferences(candidate) <= votes(list): preferences ",
        "[preference-candidate-known] preference votes for a number that is no candidate of the list: preferences ",
        "[valid-plus-invalid]",
    ] {
        assert!(tally.contains(want), "missing {want:?} in\n{tally}");
    }
    let quarantined = |t: &str| -> u32 {
        let at = t.find("Quarantined stations (").unwrap() + "Quarantined stations (".len();
        t[at..].split(')').next().unwrap().parse().unwrap()
    };
    let before = quarantined(&tally);
    // 4. The corrections (amendments co-signed by the commission) take half of them out.
    run(
        &[
            "ingest",
            "--data",
            p(&data),
            "--strict",
            p(&src.join("amendments.notes")),
        ],
        0,
    );
    let after = quarantined(&run(&["tally", "--data", p(&data)], 0));
    assert!(0 < after && after < before, "{before} -> {after}");
    // 5. The bundle verifies: the verifier replays intake, preference rules included, and
    //    finds the same quarantine.
    run(&["publish", "--data", p(&data), "--out", p(&bundle)], 0);
    let log_key = run(&["log", "key", "--data", p(&data)], 0)
        .trim()
        .to_owned();
    let v = urna()
        .args(["verify", p(&bundle), "--log-key", &log_key])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&v.stdout);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&v.stderr)
    );
    // 6. Seats from the data directory go to candidates under the albania rule set's
    //    `closed_part` rule: the fixed part of Tiranë's lists first.
    let seats = run(&["seats", "--data", p(&data)], 0);
    assert!(
        seats.contains("Tirane: 1 Alliance for Progress candidate 1 (Tiranë) (m), 2 "),
        "{seats}"
    );
    // 7. The published seat table names them too, and the tally prints preference votes.
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("current/v1/summary.json")).unwrap())
            .unwrap();
    let lists = summary["contests"][0]["seats"]["lists"].as_array().unwrap();
    for l in lists {
        let elected = l["elected"].as_array().unwrap();
        assert_eq!(elected.len() as u64, l["seats"].as_u64().unwrap(), "{l}");
    }
    assert!(
        tally.contains(
            "Preference votes (Simland; share of the list's votes where the candidate stands)"
        ),
        "{tally}"
    );
    // 8. `urna export csv` writes the bundle's preference votes beside the other CSV files.
    let csv = dir.path().join("csv");
    let out = run(&["export", "csv", "--data", p(&data), "--out", p(&csv)], 0);
    assert!(out.contains("csv/preferences.csv"), "{out}");
    assert_eq!(
        std::fs::read(csv.join("preferences.csv")).unwrap(),
        std::fs::read(bundle.join("current/csv/preferences.csv")).unwrap()
    );
}
