use crate::{init, p, run};

#[test]
fn demo_runs_a_whole_election_and_refuses_every_attack() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = run(
        &[
            "demo",
            "--data",
            p(&data),
            "--stations",
            "400",
            "--no-serve",
        ],
        0,
    );
    assert!(out.contains("400 notes read"), "{out}");
    assert_eq!(out.matches(": refused (").count(), 3, "{out}");
    assert!(!out.contains("NOT REFUSED"), "{out}");
    // The demo ends by verifying, as anyone would, the bundle it just published.
    assert!(
        out.contains("\nVERIFIED") || out.contains("   VERIFIED: the log"),
        "{out}"
    );
    assert!(out.contains("2 of 2 required cosigned"), "{out}");
    assert!(out.contains("National totals"));
    assert!(
        out.contains("cosigned by cyber-security-agency, observer-mission"),
        "{out}"
    );
    assert_eq!(
        out.matches("   \u{2014} ").count(),
        3,
        "log signature and two cosignatures: {out}"
    );
    assert!(out.contains("Quarantined stations ("));
    assert!(
        out.contains("Seats under rule set `albania`")
            && out
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["total", "140"]),
        "{out}"
    );
    // The public bundle is written, and its results are those of the published checkpoint.
    let results: serde_json::Value = serde_json::from_slice(
        &std::fs::read(data.join("store/public/current/v1/results.json")).unwrap(),
    )
    .unwrap();
    let checkpoint = std::fs::read_to_string(data.join("store/public/current/checkpoint")).unwrap();
    assert_eq!(results["checkpoint"]["note"], checkpoint.as_str());
    assert!(out.contains("9. Public bundle"), "{out}");
    // The bundle carries the results page and what it needs: the station index, the keys,
    // and (two witnesses cosigned, the election has a date) the NIST CDF export.
    let current = data.join("store/public/current");
    for (path, bytes) in urna_tally::public::WEB_FILES {
        assert_eq!(&std::fs::read(current.join(path)).unwrap(), bytes, "{path}");
    }
    let shards = std::fs::read_dir(current.join("v1/stations"))
        .unwrap()
        .count();
    assert_eq!(shards, 256);
    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(current.join("v1/keys.json")).unwrap()).unwrap();
    assert_eq!(keys["format"], "urna/keys/v1");
    assert_eq!(keys["quorum"], 2);
    assert_eq!(keys["witnesses"].as_array().unwrap().len(), 2);
    assert!(keys["witnesses"][0].get("url").is_none(), "{keys}");
    assert!(current.join("cdf/election-report.json").is_file());
    // With --no-serve it says how to serve the page.
    assert!(
        out.contains("Results page: http://127.0.0.1:8080/") && out.contains("urna serve --data"),
        "{out}"
    );
    // Running it again replaces the previous demo.
    run(
        &["demo", "--data", p(&data), "--stations", "50", "--no-serve"],
        0,
    );
    // It refuses to delete a directory it did not make.
    let other = dir.path().join("mine");
    std::fs::create_dir(&other).unwrap();
    let err = run(&["demo", "--data", p(&other), "--no-serve"], 2);
    assert!(err.contains("was not made by `urna demo`"), "{err}");
}

/// Without `--no-serve`, the demo serves its results page (the same service as `urna serve`)
/// until Ctrl-C; a taken `--listen` address is refused before anything is generated.
#[test]
fn demo_serves_the_results_page_until_interrupted() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = run(&["demo", "--data", p(&data), "--listen", &addr], 2);
    assert!(err.contains("--listen") && err.contains(&addr), "{err}");
    assert!(
        !data.exists(),
        "nothing is generated when the address is taken"
    );
    drop(taken);

    let mut child = crate::urna()
        .args(["demo", "--data", p(&data), "--stations", "50"])
        .args(["--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the demo ended before serving"))
            .unwrap();
        if let Some(url) = line.trim().strip_prefix("Results page: http://") {
            break url.trim_end_matches('/').to_owned();
        }
    };
    let index = crate::server::get(&url, "/");
    assert_eq!(index.status, 200);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        index.body,
        std::fs::read(data.join("store/public/current/index.html")).unwrap()
    );
    let app = crate::server::get(&url, "/web/app.js");
    assert_eq!(
        app.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
}

#[test]
fn operator_verbs_run_step_by_step() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let data = dir.path().join("data");
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
    let acks = run(
        &[
            "ingest",
            "--data",
            p(&data),
            "--print-acks",
            p(&src.join("protocols.notes")),
        ],
        0,
    );
    assert_eq!(
        acks.lines().filter(|l| l.starts_with("ack ")).count(),
        300,
        "{acks}"
    );
    let again = run(
        &[
            "ingest",
            "--data",
            p(&data),
            "--print-acks",
            p(&src.join("protocols.notes")),
        ],
        0,
    );
    assert_eq!(again.lines().filter(|l| l.starts_with("dup ")).count(), 300);
    run(
        &[
            "ingest",
            "--data",
            p(&data),
            p(&src.join("amendments.notes")),
        ],
        0,
    );
    let text = run(&["tally", "--data", p(&data)], 0);
    assert!(text.contains("Reporting: "), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&run(&["tally", "--data", p(&data), "--json"], 0)).unwrap();
    let nat = &json["units"][0];
    assert_eq!(nat["stations"], 300);
    let counted = nat["counted"].as_u64().unwrap();
    let quarantined = nat["quarantined"].as_u64().unwrap();
    assert_eq!(counted + quarantined, 300);
    assert_eq!(
        json["quarantine"].as_array().unwrap().len() as u64,
        quarantined
    );
    // Votes add up to valid ballots in every unit (quarantine excluded).
    for u in json["units"].as_array().unwrap() {
        let votes: u64 = u["votes"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(votes, u["counts"]["valid"].as_u64().unwrap());
    }

    // A forged note file is rejected with a reason, and --strict turns that into exit 1.
    let forged = dir.path().join("forged.note");
    let mut bytes = std::fs::read(src.join("protocols.notes")).unwrap()[2..].to_vec();
    let end = bytes.windows(2).position(|w| w == b"\n\n").unwrap();
    bytes.truncate(bytes.len().min(end + 200));
    let text = String::from_utf8_lossy(&bytes).replace("votes: AP ", "votes: AP 1");
    std::fs::write(&forged, text).unwrap();
    let out = run(
        &[
            "ingest",
            "--data",
            p(&data),
            "--strict",
            "--print-acks",
            p(&forged),
        ],
        1,
    );
    assert!(out.contains("reject 0"), "{out}");

    // Keys: a fresh key file and its verifier key.
    let key = dir.path().join("k.key");
    let vkey = run(&["keys", "generate", "muni-7", "--out", p(&key)], 0);
    assert!(vkey.starts_with("muni-7+"));
    urna_model::note::NoteVerifier::from_vkey(vkey.trim()).unwrap();
    urna_model::note::NoteSigner::from_skey(std::fs::read_to_string(&key).unwrap().trim()).unwrap();
    // Refuses to overwrite a key.
    run(&["keys", "generate", "muni-7", "--out", p(&key)], 2);
}

#[test]
fn bad_definitions_fail_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    run(&["sim", "--out", p(&src), "--stations", "20"], 0);
    let def = src.join("election.toml");
    let text = std::fs::read_to_string(&def).unwrap();
    std::fs::write(&def, text.replace("parent = \"D01\"", "parent = \"D99\"")).unwrap();
    let err = run(
        &[
            "init",
            "--definition",
            p(&def),
            "--data",
            p(&dir.path().join("d")),
        ],
        2,
    );
    assert!(
        err.contains("election.toml:") && err.contains("field `units.parent`: parent \"D99\""),
        "{err}"
    );
}

#[test]
fn seats_from_a_vote_file_with_explanation_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let votes = dir.path().join("votes.toml");
    std::fs::write(
        &votes,
        "[lists.A]\n[lists.B]\n[lists.C]\n[districts.d]\nseats = 3\nvotes = { A = 600, B = 250, C = 150 }\n",
    )
    .unwrap();
    let out = run(
        &[
            "seats",
            "--rules",
            "generic",
            "--votes",
            p(&votes),
            "--explain",
        ],
        0,
    );
    assert!(
        out.contains("     3  B       250        1  250.0000  won"),
        "{out}"
    );
    assert!(run(&["seats", "--list-rules"], 0).contains("montenegro"));
    assert!(run(&["seats", "--show-rules", "kosovo"], 0).contains("house_seats"));
    std::fs::write(
        &votes,
        "[lists.A]\n[districts.d]\nseats = 3\nvotes = { Z = 1 }\n",
    )
    .unwrap();
    let err = run(&["seats", "--rules", "generic", "--votes", p(&votes)], 2);
    assert!(err.contains("Z"), "{err}");
    let err = run(&["seats", "--rules", "atlantis", "--votes", p(&votes)], 2);
    assert!(
        err.contains("--rules") && err.contains("no built-in rule set named `atlantis`"),
        "{err}"
    );
}
