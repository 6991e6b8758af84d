//! Incident sharing, one ordered story with the real binary and two real witnesses that
//! cosign both the results log and the incident log: an AMBER report readable only by its
//! recipient, an altered note refused, acknowledgments and updates, the public summary, and a
//! missed witness quorum caught up with `urna incident cosign`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Output, Stdio};

use urna_model::note::Note;
use urna_tlog::cosignature::CosignatureVerifier;

use crate::{init, p, run, urna};

const INCIDENTS: &str = "cec.example/incidents";
const RESULTS: &str = "urna/sim-2025-assembly";
const SECRET: &str = "Phishing mails to the typists of the Tirana counting centre";

/// A running `urna witness serve` following several logs; killed when dropped.
struct Witness {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    url: String,
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_witness(dir: &Path, name: &str, logs: &[&str], init: bool) -> Witness {
    let mut cmd = urna();
    cmd.args(["witness", "serve", "--key"])
        .arg(dir.join(format!("{name}.key")))
        .arg("--state")
        .arg(dir.join(format!("{name}.state")))
        .args(["--listen", "127.0.0.1:0"]);
    for log in logs {
        cmd.args(["--log", log]);
    }
    if init {
        cmd.arg("--init-state");
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    Witness {
        child,
        _stdout: stdout,
        url,
    }
}

fn output(args: &[&str]) -> Output {
    urna().args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn expect(o: &Output, code: i32) -> String {
    let t = text(o);
    assert_eq!(o.status.code(), Some(code), "{t}");
    t
}

fn witnesses_toml(dir: &Path, witnesses: &[(&str, &str, &str)]) {
    let mut s = String::from("quorum = 2\n");
    for (name, url, key) in witnesses {
        s.push_str(&format!(
            "\n[[witness]]\nname = \"{name}\"\nurl = \"{url}\"\nkey = \"{key}\"\n"
        ));
    }
    std::fs::write(dir.join("witnesses.toml"), s).unwrap();
}

#[test]
fn incident_sharing_story() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let keys = d.join("keys");
    let inc = d.join("incidents");

    // 1. A results log, as every election has one.
    run(&["sim", "--out", p(&d.join("sim")), "--stations", "40"], 0);
    init(&d.join("sim"), &d.join("data"));
    let status = run(&["status", "--data", p(&d.join("data"))], 0);
    let results_vkey = status
        .lines()
        .find_map(|l| l.strip_prefix("log key:    "))
        .unwrap()
        .to_owned();

    // 2. Three institutions make their keys; the commission creates the incident log.
    let mut config = format!("origin = \"{INCIDENTS}\"\n");
    for (id, name) in [
        ("cert.example", "National CERT"),
        ("cec.example", "Central Election Commission"),
        ("dpa.example", "Data Protection Authority"),
    ] {
        let o = output(&[
            "incident",
            "keygen",
            "--id",
            id,
            "--name",
            name,
            "--out-dir",
            p(&keys),
        ]);
        expect(&o, 0);
        config += &String::from_utf8(o.stdout).unwrap();
    }
    std::fs::write(d.join("incidents.toml"), &config).unwrap();
    let o = run(
        &[
            "incident",
            "init",
            "--dir",
            p(&inc),
            "--config",
            p(&d.join("incidents.toml")),
        ],
        0,
    );
    let incidents_vkey = o
        .lines()
        .find_map(|l| l.strip_prefix("log key: "))
        .unwrap()
        .to_owned();
    let incidents_log = format!("{INCIDENTS}={incidents_vkey}");
    assert!(o.contains(&format!("--log {incidents_log}")), "{o}");
    let results_log = format!("{RESULTS}={results_vkey}");

    // 3. Two witnesses, each following both logs; both logs want 2 of 2.
    let names = ["cyber-agency", "observers"];
    let wkeys: Vec<String> = names
        .iter()
        .map(|n| {
            let k = d.join(format!("{n}.key"));
            run(&["witness", "keygen", "--name", n, "--out", p(&k)], 0)
                .trim()
                .to_owned()
        })
        .collect();
    let logs = [results_log.as_str(), incidents_log.as_str()];
    let mut w: Vec<Option<Witness>> = names
        .iter()
        .map(|n| Some(start_witness(d, n, &logs, true)))
        .collect();
    let urls: Vec<String> = w.iter().map(|x| x.as_ref().unwrap().url.clone()).collect();
    let table = [
        (names[0], urls[0].as_str(), wkeys[0].as_str()),
        (names[1], urls[1].as_str(), wkeys[1].as_str()),
    ];
    witnesses_toml(&d.join("data"), &table);
    witnesses_toml(&inc, &table);

    // 4. The results log is cosigned by both witnesses...
    let o = output(&[
        "ingest",
        "--data",
        p(&d.join("data")),
        p(&d.join("sim/protocols.notes")),
    ]);
    let t = expect(&o, 0);
    assert!(t.contains("cosigned by cyber-agency, observers"), "{t}");

    // 5. ...and so is the incident log: the CERT reports at TLP:AMBER to the commission.
    let o = output(&[
        "incident",
        "report",
        "--dir",
        p(&inc),
        "--key",
        p(&keys.join("cert.example.key")),
        "--tlp",
        "amber",
        "--to",
        "cec.example",
        "--system",
        "counting-centre desk",
        "--indicator",
        "ipv4 198.51.100.23",
        "--summary",
        SECRET,
    ]);
    let t = expect(&o, 0);
    assert!(t.contains("logged entry 0: report by cert.example"), "{t}");
    assert!(
        t.contains("cosigned by cyber-agency, observers (2 of 2, quorum 2)"),
        "{t}"
    );
    let incident = t
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap()
        .to_owned();
    let checkpoint = Note::parse(&std::fs::read(inc.join("log/checkpoint")).unwrap()).unwrap();
    assert!(checkpoint.text().starts_with(&format!("{INCIDENTS}\n1\n")));
    for k in &wkeys {
        CosignatureVerifier::from_vkey(k)
            .unwrap()
            .verify(&checkpoint)
            .unwrap();
    }
    for n in names {
        let state = std::fs::read_to_string(d.join(format!("{n}.state"))).unwrap();
        assert!(
            state.contains(INCIDENTS) && state.contains(RESULTS),
            "{state}"
        );
    }

    // 6. The AMBER details: nowhere in the clear; readable with the recipient's identity,
    //    not with another institution's.
    let t = run(&["incident", "log", "--dir", p(&inc)], 0);
    assert!(!t.contains(SECRET), "{t}");
    assert!(
        t.contains("cosigned by 2 of 2 witnesses (cyber-agency, observers), quorum reached"),
        "{t}"
    );
    let t = run(
        &[
            "incident",
            "decrypt",
            "--dir",
            p(&inc),
            "--identity",
            p(&keys.join("cec.example.age")),
            "--entry",
            "0",
        ],
        0,
    );
    assert!(t.contains(&format!("summary: {SECRET}")), "{t}");
    assert!(t.contains("indicator: ipv4 198.51.100.23"), "{t}");
    let o = output(&[
        "incident",
        "decrypt",
        "--dir",
        p(&inc),
        "--identity",
        p(&keys.join("dpa.example.age")),
        "--entry",
        "0",
    ]);
    let t = expect(&o, 1);
    assert!(t.contains("entry 0: cannot open the sealed details"), "{t}");
    assert!(!t.contains(SECRET), "{t}");

    // 7. A note altered after signing is refused; so is a key that is not the institution's.
    let note = d.join("ack.note");
    run(
        &[
            "incident",
            "ack",
            "--config",
            p(&d.join("incidents.toml")),
            "--out",
            p(&note),
            "--key",
            p(&keys.join("cec.example.key")),
            "--incident",
            &incident,
        ],
        0,
    );
    let good = std::fs::read_to_string(&note).unwrap();
    let altered = d.join("altered.note");
    std::fs::write(
        &altered,
        good.replacen("institution: cec.example", "institution: dpa.example", 1),
    )
    .unwrap();
    let t = expect(
        &output(&["incident", "append", "--dir", p(&inc), p(&altered)]),
        2,
    );
    assert!(
        t.contains("exactly one signature, by institution \"dpa.example\"'s key"),
        "{t}"
    );
    run(
        &[
            "keys",
            "generate",
            "cert.example",
            "--out",
            p(&d.join("impostor.key")),
        ],
        0,
    );
    let t = expect(
        &output(&[
            "incident",
            "report",
            "--dir",
            p(&inc),
            "--key",
            p(&d.join("impostor.key")),
            "--tlp",
            "clear",
            "--summary",
            "fake",
        ]),
        2,
    );
    assert!(t.contains("is not the key of an institution"), "{t}");
    // The good note goes in.
    let t = expect(
        &output(&["incident", "append", "--dir", p(&inc), p(&note)]),
        0,
    );
    assert!(t.contains("logged entry 1: ack by cec.example"), "{t}");

    // 8. The data-protection authority is no recipient and cannot acknowledge; the CERT
    //    updates its incident to resolved and public.
    let t = expect(
        &output(&[
            "incident",
            "ack",
            "--dir",
            p(&inc),
            "--key",
            p(&keys.join("dpa.example.key")),
            "--incident",
            &incident,
        ]),
        2,
    );
    assert!(t.contains("not a recipient of this sealed incident"), "{t}");
    run(
        &[
            "incident",
            "update",
            "--dir",
            p(&inc),
            "--key",
            p(&keys.join("cert.example.key")),
            "--incident",
            &incident,
            "--tlp",
            "clear",
            "--status",
            "resolved",
            "--summary",
            "Accounts reset; no protocol was changed.",
        ],
        0,
    );
    let json: serde_json::Value =
        serde_json::from_str(&run(&["incident", "log", "--dir", p(&inc), "--json"], 0)).unwrap();
    let i = &json["incidents"][0];
    assert_eq!(i["status"], "resolved");
    assert_eq!(i["tlp"], "clear");
    assert_eq!(i["acknowledged_by"], serde_json::json!(["cec.example"]));
    assert_eq!(i["notes"][0]["sealed"], true);
    assert_eq!(
        i["notes"][2]["details"]["summary"],
        "Accounts reset; no protocol was changed."
    );

    // 9. The public summary: metadata of the AMBER report, the CLEAR update in full, and a
    //    copy of the log that reads back against the log key alone.
    let public = d.join("public");
    run(
        &["incident", "publish", "--dir", p(&inc), "--out", p(&public)],
        0,
    );
    let html = std::fs::read_to_string(public.join("index.html")).unwrap();
    let summary = std::fs::read_to_string(public.join("incidents.json")).unwrap();
    for page in [&html, &summary] {
        assert!(!page.contains(SECRET) && !page.contains("198.51.100.23"));
        assert!(page.contains("Accounts reset; no protocol was changed."));
    }
    assert!(html.contains("TLP:AMBER") && html.contains("<html lang=\"en\">"));
    let log_copy = |witnesses: &Path| {
        output(&[
            "incident",
            "log",
            "--dir",
            p(&public),
            "--log-key",
            &incidents_vkey,
            "--witnesses",
            p(witnesses),
        ])
    };
    let t = expect(&log_copy(&inc.join("witnesses.toml")), 0);
    assert!(
        t.contains("3 entries") && t.contains("quorum reached"),
        "{t}"
    );
    // Against a policy that also wants a witness that never cosigned, the quorum is missing.
    let other = d.join("other.key");
    run(
        &["witness", "keygen", "--name", "other", "--out", p(&other)],
        0,
    );
    let other_vkey = run(&["witness", "vkey", "--key", p(&other)], 0);
    let strict = d.join("strict");
    std::fs::create_dir_all(&strict).unwrap();
    witnesses_toml(
        &strict,
        &[table[0], ("other", "http://127.0.0.1:9", other_vkey.trim())],
    );
    let t = expect(&log_copy(&strict.join("witnesses.toml")), 1);
    assert!(
        t.contains("1 of 2 witnesses (cyber-agency), QUORUM MISSING"),
        "{t}"
    );
    std::fs::write(public.join("log/checkpoint"), b"tampered").unwrap();
    expect(
        &output(&[
            "incident",
            "log",
            "--dir",
            p(&public),
            "--log-key",
            &incidents_vkey,
        ]),
        2,
    );

    // 10. One witness down: the note is logged, the quorum is missed (exit 1); back up, the
    //     witness is asked again and cosigns from its recorded size.
    w[1].take();
    let o = output(&[
        "incident",
        "report",
        "--dir",
        p(&inc),
        "--key",
        p(&keys.join("dpa.example.key")),
        "--tlp",
        "green",
        "--summary",
        "Unusual reads of the voter-list mirror.",
    ]);
    let t = expect(&o, 1);
    assert!(
        t.contains("logged entry 3") && t.contains("has 1 of the 2 cosignatures"),
        "{t}"
    );
    let again = start_witness(d, names[1], &logs, false);
    witnesses_toml(
        &inc,
        &[
            (names[0], urls[0].as_str(), wkeys[0].as_str()),
            (names[1], again.url.as_str(), wkeys[1].as_str()),
        ],
    );
    let t = expect(&output(&["incident", "cosign", "--dir", p(&inc)]), 0);
    assert!(
        t.contains("checkpoint: size 4, cosigned by cyber-agency, observers"),
        "{t}"
    );
    drop(w);
}

/// The public summary page passes axe-core (no serious or critical violation) in Chromium,
/// with a CLEAR report (indicators listed), a sealed AMBER one and an acknowledgment, and fits
/// a phone's width.
#[test]
fn incident_summary_page_is_accessible() {
    use crate::web::{Browser, Tools};
    let Some(tools) = Tools::find("incident_summary_page_is_accessible", false) else {
        return;
    };
    let Some(axe_source) = crate::web_map::axe_js().map(|p| std::fs::read_to_string(p).unwrap())
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let keys = d.join("keys");
    let mut config = format!("origin = \"{INCIDENTS}\"\n");
    for (id, name) in [
        ("cert.example", "National CERT"),
        ("cec.example", "Commission"),
    ] {
        let o = output(&[
            "incident",
            "keygen",
            "--id",
            id,
            "--name",
            name,
            "--out-dir",
            p(&keys),
        ]);
        expect(&o, 0);
        config += &String::from_utf8(o.stdout).unwrap();
    }
    std::fs::write(d.join("incidents.toml"), &config).unwrap();
    let inc = d.join("inc");
    run(
        &[
            "incident",
            "init",
            "--dir",
            p(&inc),
            "--config",
            p(&d.join("incidents.toml")),
        ],
        0,
    );
    let cert = keys.join("cert.example.key");
    let o = run(
        &[
            "incident",
            "report",
            "--dir",
            p(&inc),
            "--key",
            p(&cert),
            "--tlp",
            "amber",
            "--to",
            "cec.example",
            "--summary",
            SECRET,
        ],
        0,
    );
    let incident = o
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap()
        .to_owned();
    run(
        &[
            "incident",
            "report",
            "--dir",
            p(&inc),
            "--key",
            p(&cert),
            "--tlp",
            "clear",
            "--system",
            "public results mirror",
            "--indicator",
            "ipv4 203.0.113.7",
            "--indicator",
            "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "--summary",
            "A denial-of-service attempt <script>alert(1)</script> on the mirror.",
        ],
        0,
    );
    run(
        &[
            "incident",
            "ack",
            "--dir",
            p(&inc),
            "--key",
            p(&keys.join("cec.example.key")),
            "--incident",
            &incident,
        ],
        0,
    );
    let public = d.join("public");
    run(
        &["incident", "publish", "--dir", p(&inc), "--out", p(&public)],
        0,
    );
    let html = std::fs::read_to_string(public.join("index.html")).unwrap();
    assert!(
        html.contains("&lt;script&gt;") && !html.contains("<script>"),
        "{html}"
    );

    let b = Browser::phone(&tools, (390, 844));
    b.goto(&format!("file://{}", p(&public.join("index.html"))));
    let found = crate::web_map::axe(&b, &axe_source);
    assert!(found.is_empty(), "axe-core: {}", found.join("\n"));
    let v = b.js(
        "return [document.documentElement.scrollWidth, window.innerWidth];",
        &[],
    );
    assert!(v[0].as_u64() <= v[1].as_u64(), "wider than the phone: {v}");
}
