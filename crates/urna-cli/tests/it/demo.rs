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

/// The rule set of the open-list example in `urna-tally/src/seats/README-cli.md`.
const OPEN_LIST_RULES: &str = r#"id = "open-list"
title = "Open lists: D'Hondt, preference votes, 30 % gender quota"
legal_source = ["example"]
method = "dhondt"
tie_break = { rule = "lot", seed = "example" }

[candidates]
rule = "preference_ranking"
source = "example: by preference votes"

[candidates.gender_quota]
share = "30%"
source = "example: at least 30 % of each gender among a list's elected"
"#;

/// Its vote file: list A's ranking trips the gender quota, B has a tie and a withdrawn
/// candidate, C declares no candidates.
const OPEN_LIST_VOTES: &str = r#"[lists.A]
candidates = [
  { number = 1, name = "Arta", gender = "f" },
  { number = 2, name = "Besnik", gender = "m" },
  { number = 3, name = "Dritan", gender = "m" },
  { number = 4, name = "Elira", gender = "f" },
  { number = 5, name = "Fatos", gender = "m" },
  { number = 6, name = "Gent", gender = "m" },
]
[lists.B]
candidates = [
  { number = 1, name = "Hana", gender = "f", withdrawn = true },
  { number = 2, name = "Ilir", gender = "m" },
  { number = 3, name = "Jeta", gender = "f" },
]
[lists.C]

[districts.d]
seats = 5
votes = { A = 6200, B = 2900, C = 900 }
preferences.A = { 1 = 1200, 2 = 2100, 3 = 1800, 4 = 600, 5 = 1500, 6 = 900 }
preferences.B = { 2 = 700, 3 = 700 }
"#;

/// The exact `--explain` output the README shows.
const OPEN_LIST_EXPLAIN: &str = r#"Open lists: D'Hondt, preference votes, 30 % gender quota (rule set `open-list`)
house: 5 seats; valid votes: 10000; tie-break: Lot with seed "example"

  list   votes   share  seats
  A       6200  62.00%      4
    elected: 2 Besnik (m), 3 Dritan (m), 1 Arta (f), 4 Elira (f)
  B       2900  29.00%      1
    elected: 2 Ilir (m)
  C        900   9.00%      0
  total                     5

== district d: 5 seat(s), dhondt ==
  seat  list  votes  divisor   quotient  status
     1  A      6200        1  6200.0000  won
     2  A      6200        2  3100.0000  won
     3  B      2900        1  2900.0000  won
     4  A      6200        3  2066.6666  won
     5  A      6200        4  1550.0000  won
  ----  cut
        B      2900        2  1450.0000  next
        A      6200        5  1240.0000  next
        C       900        1   900.0000  next
  margins (votes, others fixed):
    A: 4 seat(s); lose 401 -> seat to B; gain 8301 -> seat from B
    B: 1 seat(s); lose 1661 -> seat to A; gain 201 -> seat from A
    C: 0 seat(s); -; gain 651 -> seat from A

== candidates A, district d: 4 seat(s), preference_ranking ==
  rule: example: by preference votes
  by preference votes; equal votes by ballot number
  gender quota: example: at least 30 % of each gender among a list's elected
  at least 30% of each gender among the 4 elected = 2 each; the ranking gave 1 f, 3 m; elected 2 f, 2 m
  rank  no.  name    gender  preferences  by           status            margin
     1    2  Besnik  m              2100  preferences  elected             +600
     2    3  Dritan  m              1800  preferences  elected             +300
     3    5  Fatos   m              1500  preferences  replaced (quota)
     4    1  Arta    f              1200  preferences  elected             -300
     5    6  Gent    m               900  preferences  -
     6    4  Elira   f               600  preferences  elected (quota)     -900
  quota: 4 Elira (f, 600) replaces 5 Fatos (m, 1500): f had 1 of 4 seat(s), below 30% (2 needed)
  margin: preference votes over 5 Fatos (m), the first not elected (1500)

== candidates B, district d: 1 seat(s), preference_ranking ==
  rule: example: by preference votes
  by preference votes; equal votes by ballot number
  gender quota: example: at least 30 % of each gender among a list's elected
  not applied: 30% of 1 seat(s) cannot hold for both genders
  rank  no.  name  gender  preferences  by           status     margin
     1    2  Ilir  m               700  preferences  elected         0
     2    3  Jeta  f               700  preferences  -
          1  Hana  f                 0               withdrawn
  tie: 2 Ilir and 3 Jeta have 700 preference votes each; decided by ballot number
  margin: preference votes over 3 Jeta (f), the first not elected (700)
"#;

#[test]
fn seats_of_open_lists_go_to_candidates_with_explanation() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("open-list.toml");
    let votes = dir.path().join("votes.toml");
    std::fs::write(&rules, OPEN_LIST_RULES).unwrap();
    std::fs::write(&votes, OPEN_LIST_VOTES).unwrap();
    let out = run(
        &[
            "seats",
            "--rules",
            p(&rules),
            "--votes",
            p(&votes),
            "--explain",
        ],
        0,
    );
    assert_eq!(out, OPEN_LIST_EXPLAIN);
    let table = run(&["seats", "--rules", p(&rules), "--votes", p(&votes)], 0);
    assert!(
        table.contains("  A       6200  62.00%      4\n    elected: 2 Besnik (m), 3 Dritan (m), 1 Arta (f), 4 Elira (f)\n"),
        "{table}"
    );
    let json: serde_json::Value = serde_json::from_str(&run(
        &[
            "seats",
            "--rules",
            p(&rules),
            "--votes",
            p(&votes),
            "--json",
        ],
        0,
    ))
    .unwrap();
    assert_eq!(
        json["candidates"]["A"][0]["elected"],
        serde_json::json!([2, 3, 1, 4])
    );
    assert_eq!(json["candidates"]["A"][0]["replacements"][0]["out"], 5);
    // Seats that preference votes must decide, without them: exit 2, the field named.
    std::fs::write(
        &votes,
        OPEN_LIST_VOTES.replace(
            "preferences.A = { 1 = 1200, 2 = 2100, 3 = 1800, 4 = 600, 5 = 1500, 6 = 900 }\n",
            "",
        ),
    )
    .unwrap();
    let err = run(&["seats", "--rules", p(&rules), "--votes", p(&votes)], 2);
    assert!(err.contains("`districts.d.preferences.A`"), "{err}");
}

/// `--open-lists`: the same election with candidates and preference votes on every protocol;
/// protocols with preference errors are quarantined by rule, and the whole demo still verifies.
#[test]
fn demo_with_open_lists_quarantines_preference_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = run(
        &[
            "demo",
            "--data",
            p(&data),
            "--stations",
            "400",
            "--open-lists",
            "--no-serve",
        ],
        0,
    );
    assert!(
        out.contains("Open lists: 40 candidates per list, each voter marking up to 10"),
        "{out}"
    );
    let line = out
        .lines()
        .find(|l| l.contains("Preference errors written into"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains("quarantined by the preference rules ("),
        "{line}"
    );
    assert!(!line.contains("(none)"), "{line}");
    assert!(out.contains("400 notes read"), "{out}");
    assert_eq!(out.matches(": refused (").count(), 3, "{out}");
    assert!(!out.contains("NOT REFUSED"), "{out}");
    assert!(
        out.contains("\nVERIFIED") || out.contains("   VERIFIED: the log"),
        "{out}"
    );
    // The definition names the candidates, and the stored protocols carry preference lines.
    let def = std::fs::read_to_string(data.join("source/election.toml")).unwrap();
    assert!(def.contains("preferences = { marks = 10 }"), "{def}");
    let notes = std::fs::read(data.join("source/protocols.notes")).unwrap();
    assert!(notes.windows(13).any(|w| w == b"preferences: "));
}
