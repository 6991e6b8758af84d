use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Output;

use crate::{p, run, shared_data, urna};

pub(crate) const SEED: &str = "12345678901234567890";

/// Source rows of the accepted stations: station → (column → value).
pub(crate) fn source_rows() -> HashMap<String, HashMap<String, u64>> {
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

pub(crate) const LISTS: [&str; 13] = [
    "PS", "PD", "LSI", "PSD", "PBK", "PLDSH", "BD", "ABEOK", "NTH", "LRE", "ADR", "LN", "Other",
];

/// A hand-count file for `stations`, from the source CSV; `edit` may change a row.
pub(crate) fn counts_file(
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

pub(crate) fn urna_output(args: &[&str]) -> (Option<i32>, String) {
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

/// Stations listed by `urna audit sample --key` (after its first line).
pub(crate) fn logged_sample(out: &str) -> Vec<String> {
    out.lines().skip(1).map(str::to_owned).collect()
}

/// Copies a data directory (the store, its log and its keys).
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .args(["-r", p(from), p(to)])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Appends signed notes to a data directory's database behind intake's back, as a commission
/// that bypassed it would, and sequences them into the log.
fn append_behind_intake(data: &Path, notes: &[Vec<u8>]) {
    let conn = rusqlite::Connection::open(data.join(urna_store::DB_FILE)).unwrap();
    let next: i64 = conn
        .query_row("SELECT COUNT(*) FROM entries", [], |r| r.get(0))
        .unwrap();
    for (k, note) in notes.iter().enumerate() {
        let text = urna_model::note::Note::parse(note)
            .unwrap()
            .text()
            .to_owned();
        conn.execute(
            "INSERT INTO entries (idx, hash, text_hash, contest, station, revision, status, received_ms, note) \
             VALUES (?1, ?2, ?3, 'assembly', '', 0, 0, 0, ?4)",
            rusqlite::params![
                next + k as i64,
                urna_model::intake::sha256(note).as_slice(),
                urna_model::intake::sha256(text.as_bytes()).as_slice(),
                note
            ],
        )
        .unwrap();
    }
    drop(conn);
    // `urna status` (any open) refuses them now, naming the entry and the rule.
    let (code, text) = urna_output(&["status", "--data", p(data)]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("its note does not follow the entries before it: audit"),
        "{text}"
    );
    // Sequenced only through the open that skips the audit replay, so that the verifier
    // meets them in a published log.
    drop(urna_store::Store::danger_open_without_audit_replay(data).unwrap());
}

/// Publishes and verifies a data directory; the exit code and the output.
fn publish_and_verify(data: &Path, bundle: &Path) -> (Option<i32>, String) {
    run(&["publish", "--data", p(data), "--out", p(bundle)], 0);
    let log_key = run(&["log", "key", "--data", p(data)], 0).trim().to_owned();
    urna_output(&["verify", p(&bundle.join("current")), "--log-key", &log_key])
}

/// A count note of the Albania contest, signed by the commission's key.
fn count_note(signer: &NoteSigner, station: &str, row: &HashMap<String, u64>) -> Vec<u8> {
    let body = AuditBody {
        election: "al-2021-assembly".into(),
        contest: "assembly".into(),
        step: AuditStep::Count {
            station: station.to_owned(),
            votes: LISTS.iter().map(|l| ((*l).to_owned(), row[*l])).collect(),
            invalid: row["InvalidBallots"],
        },
    };
    signer.sign_text(&body.to_text()).to_bytes()
}

use urna_model::audit::{AuditBody, AuditStep};
use urna_model::note::NoteSigner;

/// Albania 2021, the audit of which list came first recorded in the log: start, the seed,
/// round 1's sample, the hand counts and the verdict, each refused out of order; then
/// `urna verify` re-checks it, and refuses a sample that does not follow from the seed and a
/// verdict that does not follow from the counts, naming the entry and the field.
#[test]
fn albania_2021_audit_in_the_log_and_its_re_check() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("al");
    let out = crate::albania::import_2021(&data);
    let key = data.join("secrets/central-commission.key");
    assert!(out.contains(p(&key)), "{out}");
    let signer = NoteSigner::from_skey(std::fs::read_to_string(&key).unwrap().trim()).unwrap();
    let rows = source_rows();
    let log = ["--data", p(&data), "--key", p(&key)];
    let step = |cmd: &str, extra: &[&str]| -> (Option<i32>, String) {
        urna_output(&[&["audit", cmd][..], &log, extra].concat())
    };

    // Nothing before the start.
    let (code, text) = step("seed", &["--seed", SEED]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("has no audit yet"), "{text}");
    // A key that is no authority of the election is refused by intake.
    let stranger = dir.path().join("stranger.key");
    std::fs::write(
        &stranger,
        NoteSigner::from_seed("KQZ", &[9; 32]).unwrap().to_skey(),
    )
    .unwrap();
    let (code, text) = urna_output(&[
        "audit",
        "start",
        "--data",
        p(&data),
        "--key",
        p(&stranger),
        "--rules",
        "generic",
        "--seats",
        "1",
    ]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("signature:"), "{text}");

    let (code, text) = step("start", &["--rules", "generic", "--seats", "1"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("entry 5200: audit of contest assembly started over the first 5200 entries"),
        "{text}"
    );
    let (code, text) = step("sample", &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("no seed is logged yet"), "{text}");
    let (code, text) = step("seed", &["--seed", "123"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("at least 20"), "{text}");
    let (code, text) = step("seed", &["--seed", SEED]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = step("seed", &["--seed", "98765432109876543210"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("an audit has one seed"), "{text}");
    let after_seed = dir.path().join("after-seed");
    copy_dir(&data, &after_seed);

    // Round 1: the same stations the seed gives outside the log.
    let (code, text) = step("sample", &[]);
    assert_eq!(code, Some(0), "{text}");
    let stations = logged_sample(&text);
    let one = ["--data", p(&data), "--rules", "generic", "--seats", "1"];
    let outside = run(
        &[&["audit", "sample"][..], &one, &["--seed", SEED]].concat(),
        0,
    );
    assert_eq!(stations, sampled(&outside));
    let (code, text) = step("verdict", &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("not fully counted"), "{text}");
    let after_sample = dir.path().join("after-sample");
    copy_dir(&data, &after_sample);

    // A count of a station no sample drew is refused.
    let counts = dir.path().join("counts.csv");
    let unsampled = rows.keys().find(|s| !stations.contains(s)).unwrap().clone();
    counts_file(&counts, &rows, &[unsampled], |_, _| {});
    let (code, text) = step("count", &["--counts", p(&counts)]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("is not in any logged sample"), "{text}");

    counts_file(&counts, &rows, &stations, |_, _| {});
    let (code, text) = step("count", &["--counts", p(&counts)]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = step("verdict", &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("verdict: risk limit met"), "{text}");
    // The audit is of "which list came first", which confirms no seats of the contest (its
    // definition names no seat rules).
    assert!(
        text.contains("verdict: risk limit met: the outcome audited (rule set generic, 1 seat(s)) stands; the definition names no seat rules for contest assembly, so no seats of it are confirmed"),
        "{text}"
    );
    assert!(!text.contains("the reported seats stand"), "{text}");
    assert!(
        text.contains("are the audited results (5200 entries)"),
        "{text}"
    );
    let (code, text) = step("seed", &["--seed", SEED]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("ended with risk-limit-met"), "{text}");
    let (code, text) = urna_output(&["audit", "status", "--data", p(&data)]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("status: risk limit met at entry"), "{text}");
    assert!(text.contains("are the audited results"), "{text}");

    // Anyone re-checks it from the bundle.
    let (code, text) = publish_and_verify(&data, &dir.path().join("bundle"));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("VERIFIED"), "{text}");
    // The bundle's audit report, recomputed by the verifier byte for byte.
    let bundle = dir.path().join("bundle");
    let report_path = std::fs::canonicalize(bundle.join("current"))
        .unwrap()
        .join("v1/audit.json");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    let audit = &report["audits"][0];
    assert_eq!(audit["status"], "risk-limit-met");
    assert_eq!(audit["seed"]["value"], SEED);
    assert_eq!(
        audit["samples"][0]["stations"].as_array().unwrap().len(),
        stations.len()
    );
    assert_eq!(audit["verdicts"][0]["verdict"], "risk-limit-met");
    assert_eq!(audit["audits_contest_seats"], false, "{audit}");
    assert_eq!(
        audit["definition_rules"],
        serde_json::Value::Null,
        "{audit}"
    );
    assert_eq!(audit["current"]["covers_current_results"], true, "{audit}");
    assert_eq!(audit["current"]["changed_stations"], 0, "{audit}");
    let text = std::fs::read_to_string(&report_path).unwrap();
    std::fs::write(
        &report_path,
        text.replacen(
            "\"status\": \"risk-limit-met\"",
            "\"status\": \"escalate\"",
            1,
        ),
    )
    .unwrap();
    let log_key = run(&["log", "key", "--data", p(&data)], 0)
        .trim()
        .to_owned();
    let (code, text) = urna_output(&["verify", p(&bundle.join("current")), "--log-key", &log_key]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("[file-mismatch] v1/audit.json: audits[0].status: recomputed \"risk-limit-met\", published \"escalate\""),
        "{text}"
    );

    // A sample that is not the seed's: the second station replaced by another.
    let mut forged = stations.clone();
    forged[1] = rows.keys().find(|s| !stations.contains(s)).unwrap().clone();
    let sample = AuditBody {
        election: "al-2021-assembly".into(),
        contest: "assembly".into(),
        step: AuditStep::Sample {
            round: 1,
            first: 1,
            last: 36,
            stations: forged,
        },
    };
    append_behind_intake(
        &after_seed,
        &[signer.sign_text(&sample.to_text()).to_bytes()],
    );
    let (code, text) = publish_and_verify(&after_seed, &dir.path().join("b1"));
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("[audit] entry 5202: audit sample note: field `stations`: this is not the sample the seed gives: station 2 of the round is"),
        "{text}"
    );

    // A verdict that the counts do not give: a sampled box whose paper went all to PD, and
    // the verdict of the honest counts.
    let verdict: Vec<u8> = rusqlite::Connection::open(data.join(urna_store::DB_FILE))
        .unwrap()
        .query_row(
            "SELECT note FROM entries ORDER BY idx DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut notes: Vec<Vec<u8>> = stations
        .iter()
        .map(|s| {
            let mut row = rows[s].clone();
            if s == &stations[0] {
                let valid: u64 = LISTS.iter().map(|l| row[*l]).sum();
                for l in LISTS {
                    row.insert(l.to_owned(), 0);
                }
                row.insert("PD".to_owned(), valid);
            }
            count_note(&signer, s, &row)
        })
        .collect();
    notes.push(verdict);
    append_behind_intake(&after_sample, &notes);
    let (code, text) = publish_and_verify(&after_sample, &dir.path().join("b2"));
    assert_eq!(code, Some(1), "{text}");
    let at = 5203 + stations.len();
    assert!(
        text.contains(&format!("[audit] entry {at}: audit verdict note: field `verdict`: the counts give escalate, not risk-limit-met")),
        "{text}"
    );

    // After the final verdict the commission annuls two counted stations: the audit no longer
    // covers the results, and `urna audit status`, `v1/audit.json` and `urna verify` say so.
    let annulled: Vec<String> = rows
        .keys()
        .filter(|s| !stations.contains(s))
        .take(2)
        .cloned()
        .collect();
    for (i, station) in annulled.iter().enumerate() {
        let note = dir.path().join(format!("annul-{i}.note"));
        run(
            &[
                "decide",
                "--data",
                p(&data),
                "--key",
                p(&key),
                "--station",
                station,
                "--decision",
                "annul",
                "--reason",
                "The box was found opened",
                "--out",
                p(&note),
            ],
            0,
        );
        run(&["ingest", "--data", p(&data), p(&note)], 0);
    }
    let (code, text) = urna_output(&["audit", "status", "--data", p(&data)]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("coverage: NOT COVERED: 2 station(s) changed after the audited checkpoint (5200 entries)"),
        "{text}"
    );
    assert!(text.contains("start a new audit"), "{text}");
    let (code, text) = publish_and_verify(&data, &dir.path().join("b3"));
    assert_eq!(code, Some(0), "{text}");
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            std::fs::canonicalize(dir.path().join("b3/current"))
                .unwrap()
                .join("v1/audit.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let current = &report["audits"][0]["current"];
    assert_eq!(current["covers_current_results"], false, "{current}");
    assert_eq!(current["changed_stations"], 2, "{current}");
    let mut named: Vec<String> = current["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    named.sort();
    let mut want = annulled;
    want.sort();
    assert_eq!(named, want);
    // A new audit of the current results is admitted; a second one of the same results not.
    let (code, text) = step("start", &["--rules", "generic", "--seats", "1"]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = step("start", &["--rules", "generic", "--seats", "1"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("already has an audit of these results"),
        "{text}"
    );
    let (code, text) = urna_output(&["audit", "status", "--data", p(&data)]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("status: awaiting the seed"), "{text}");
}

/// Albania 2021, the audit of which list came first recorded through a running `urna serve`
/// (`urna audit … --to URL --log-key VKEY`, the data directory only read), one ordered story:
///
/// 1. the bundle has no `v1/audit.json` before the start;
/// 2. start, seed, round 1's sample, the hand counts and the verdict, each sent to the server
///    and receipted; a second seed is refused by the server (409 `audit-does-not-follow`);
/// 3. notes sent by hand: a count of a station no sample drew and a step after the final
///    verdict are refused with 409 naming the field, one signed by a key that is no
///    authority with 403, and an audit step sent again is a duplicate with a fresh receipt;
/// 4. the live bundle's `v1/audit.json` says what was logged;
/// 5. stopped, published and verified: clean.
#[test]
fn albania_2021_audit_through_a_running_server() {
    use crate::server::{Server, get, post_note};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("al");
    crate::albania::import_2021(&data);
    let key = data.join("secrets/central-commission.key");
    let signer = NoteSigner::from_skey(std::fs::read_to_string(&key).unwrap().trim()).unwrap();
    let rows = source_rows();
    let log_key = run(&["log", "key", "--data", p(&data)], 0)
        .trim()
        .to_owned();

    // 1. Nothing audited yet.
    let server = Server::start(&data, &["--publish-ms", "100"]);
    server.wait_bundle(5200);
    assert_eq!(get(&server.addr, "/v1/audit.json").status, 404);
    let url = format!("http://{}", server.addr);
    let remote = [
        "--data",
        p(&data),
        "--key",
        p(&key),
        "--to",
        &url,
        "--log-key",
        &log_key,
    ];
    let step = |cmd: &str, extra: &[&str]| -> (Option<i32>, String) {
        urna_output(&[&["audit", cmd][..], &remote, extra].concat())
    };

    // 2. The steps, through the server.
    let (code, text) = step("start", &["--rules", "generic", "--seats", "1"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("entry 5200: audit of contest assembly started over the first 5200 entries"),
        "{text}"
    );
    let (code, text) = step("seed", &["--seed", SEED]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("entry 5201: seed"), "{text}");
    let (code, text) = step("seed", &["--seed", "98765432109876543210"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains(&format!("the seed note was refused by {url}/v1/protocols (409 audit-does-not-follow): audit note: field `kind`: the seed is already logged at entry 5201; an audit has one seed")),
        "{text}"
    );
    let (code, text) = step("sample", &[]);
    assert_eq!(code, Some(0), "{text}");
    let stations = logged_sample(&text);
    let outside = run(
        &[
            "audit",
            "sample",
            "--data",
            p(&data),
            "--rules",
            "generic",
            "--seats",
            "1",
            "--seed",
            SEED,
        ],
        0,
    );
    assert_eq!(stations, sampled(&outside), "the seed's sample");
    let counts = dir.path().join("counts.csv");
    counts_file(&counts, &rows, &stations, |_, _| {});
    let (code, text) = step("count", &["--counts", p(&counts)]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(
        text.matches("hand count of").count(),
        stations.len(),
        "{text}"
    );
    let (code, text) = step("verdict", &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("verdict: risk limit met"), "{text}");
    let last = 5203 + stations.len() as u64;
    assert!(text.contains(&format!("entry {last}: round 1")), "{text}");

    // 3. By hand, over HTTP.
    let unsampled = rows.keys().find(|s| !stations.contains(s)).unwrap().clone();
    let r = post_note(
        &server.addr,
        &count_note(&signer, &unsampled, &rows[&unsampled]),
    );
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    let body = r.json();
    assert_eq!(body["error"]["code"], "audit-does-not-follow", "{body}");
    assert_eq!(body["error"]["field"], "kind", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ended with risk-limit-met"),
        "{body}"
    );
    let seed = AuditBody {
        election: "al-2021-assembly".into(),
        contest: "assembly".into(),
        step: AuditStep::Seed { seed: SEED.into() },
    };
    let stranger = NoteSigner::from_seed("KQZ", &[9; 32]).unwrap();
    let r = post_note(
        &server.addr,
        &stranger.sign_text(&seed.to_text()).to_bytes(),
    );
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"]["code"], "bad-authority");
    // The seed note exactly as logged: a duplicate, receipted again.
    let again = signer.sign_text(&seed.to_text()).to_bytes();
    let r = post_note(&server.addr, &again);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = r.json();
    assert_eq!(body["status"], "duplicate");
    assert_eq!(body["index"], 5201);
    let log = urna_model::note::NoteVerifier::from_vkey(&log_key).unwrap();
    urna_server::submit::verify_receipt(
        &log,
        &again,
        5201,
        body["receipt"].as_str().unwrap().as_bytes(),
    )
    .unwrap();

    // 4. The live bundle.
    server.wait_bundle(last + 1);
    let report = crate::web::fetch_json(&server.addr, "/v1/audit.json");
    let audit = &report["audits"][0];
    assert_eq!(audit["status"], "risk-limit-met", "{audit}");
    assert_eq!(audit["seed"]["entry"], 5201);
    assert_eq!(audit["seed"]["signer"], "KQZ");
    assert_eq!(report["refused"], serde_json::json!([]));
    assert!(server.stop().success());

    // 5. Published and verified from the data directory.
    let (code, text) = publish_and_verify(&data, &dir.path().join("bundle"));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("VERIFIED"), "{text}");
}

/// Albania 2021 under a rule set of one seat per district (D'Hondt, no threshold): Dibër's
/// seat is the closest (PD ahead of PS by 217 votes, diluted margin 0.32 %), the other eleven
/// are safe. On paper, one PD ballot in every Dibër box was a PS ballot (PS wins Dibër), and
/// in every other district the runner-up's ballots (PS or PD) were all the winner's: large
/// understatements. MACRO's station error is the largest over *every* assertion, an assertion
/// about another district counting 0 (Stark 2008; Arlo's `macro.compute_error`), so the other
/// districts' understatements cannot pay for Dibër's wrong seat: the audit must end in a full
/// hand count, never "risk limit met".
#[test]
fn albania_2021_understatements_elsewhere_do_not_confirm_a_wrong_seat_in_diber() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("al");
    crate::albania::import_2021(&data);
    let districts = [
        "Berat",
        "Diber",
        "Durres",
        "Elbasan",
        "Fier",
        "Gjirokaster",
        "Korce",
        "Kukes",
        "Lezhe",
        "Shkoder",
        "Tirane",
        "Vlore",
    ];
    let mut rules = "id = \"one-per-district\"\ntitle = \"one seat per district\"\n\
                     legal_source = [\"test\"]\nhouse_seats = 12\nmethod = \"dhondt\"\n\
                     [tie_break]\nrule = \"lot\"\nseed = \"s\"\n"
        .to_owned();
    for d in districts {
        let _ = write!(rules, "[[district]]\nid = \"{d}\"\nseats = 1\n");
    }
    let rules_file = dir.path().join("one.toml");
    std::fs::write(&rules_file, rules).unwrap();
    let args = ["--data", p(&data), "--rules", p(&rules_file)];

    let json: serde_json::Value = serde_json::from_str(&run(
        &[&["audit", "assertions"][..], &args, &["--json"]].concat(),
        0,
    ))
    .unwrap();
    let diber = json["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["district"] == "Diber" && a["loser"] == "PS")
        .unwrap();
    assert_eq!(
        (diber["winner"].as_str(), diber["margin"].as_i64()),
        (Some("PD"), Some(2170))
    );

    // Each accepted station's district, from the source.
    let mut rdr = csv::Reader::from_path(shared_data(crate::albania::CSV_2021)).unwrap();
    let district_of: HashMap<String, String> = rdr
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[3].to_owned(), r[0].to_owned())
        })
        .collect();
    let rows = source_rows();
    let mut stations: Vec<String> = rows.keys().cloned().collect();
    stations.sort();
    let pd_won = ["Diber", "Kukes", "Lezhe", "Shkoder"];
    let paper = |s: &str, row: &mut HashMap<String, u64>| {
        let d = district_of[s].as_str();
        let (ps, pd) = (row["PS"], row["PD"]);
        let (ps, pd) = if d == "Diber" {
            (ps + pd.min(1), pd - pd.min(1))
        } else if pd_won.contains(&d) {
            (0, pd + ps)
        } else {
            (ps + pd, 0)
        };
        row.insert("PS".to_owned(), ps);
        row.insert("PD".to_owned(), pd);
    };
    // On paper PS won Dibër.
    let (mut ps, mut pd) = (0, 0);
    for s in stations
        .iter()
        .filter(|s| district_of[s.as_str()] == "Diber")
    {
        let mut row = rows[s].clone();
        paper(s, &mut row);
        ps += row["PS"];
        pd += row["PD"];
    }
    assert!(ps > pd, "PS {ps}, PD {pd}");

    let counts = dir.path().join("counts.csv");
    counts_file(&counts, &rows, &stations, paper);
    let (code, text) = urna_output(
        &[
            &["audit", "risk"][..],
            &args,
            &["--seed", SEED, "--counts", p(&counts)],
        ]
        .concat(),
    );
    assert!(
        !text.contains("risk limit met"),
        "a wrong seat was confirmed: {text}"
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("verdict: full hand count"), "{text}");
}
