//! Audit hand counts keyed twice at the desk, end to end with the real binary: a simulated
//! election in the log, `urna audit start | seed | sample` on its data directory, `urna desk
//! --audit-key` keying two sampled stations' counts twice over HTTP, `urna audit count
//! --from-desk` putting them in the log, the rest from a CSV, `urna audit verdict` on them, then
//! `urna publish` and `urna verify`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Stdio};

use serde_json::{Value, json};

use crate::desk::{Browser, add_user, focus, type_keys};
use crate::{init, p, run, urna};

/// A running `urna desk` without delivery; killed when dropped.
struct DeskProcess {
    child: Child,
    addr: String,
}

impl Drop for DeskProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_desk(data: &Path, key: &Path) -> DeskProcess {
    let mut child = urna()
        .args([
            "desk",
            "--data",
            p(data),
            "--centre",
            "SIM",
            "--key",
            p(key),
        ])
        .args(["--audit-key", p(key), "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("urna desk: listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = out.read_to_string(&mut sink);
    });
    DeskProcess { child, addr }
}

/// The reported numbers of every station: list id → votes, and `invalid` (ballots cast minus
/// the list votes), from `urna export csv`.
fn reported(data: &Path, out: &Path) -> HashMap<String, Vec<(String, u64)>> {
    run(&["export", "csv", "--data", p(data), "--out", p(out)], 0);
    let mut rdr = csv::Reader::from_path(out.join("stations.csv")).unwrap();
    let header = rdr.headers().unwrap().clone();
    let mut rows = HashMap::new();
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let field = |name: &str| {
            rec.get(header.iter().position(|h| h == name).unwrap())
                .unwrap()
        };
        let mut votes: Vec<(String, u64)> = header
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                let list = h.strip_prefix("votes:")?;
                Some((list.to_owned(), rec.get(i)?.parse().ok()?))
            })
            .collect();
        let cast: u64 = field("count:ballots-cast").parse().unwrap();
        let valid: u64 = votes.iter().map(|v| v.1).sum();
        votes.push(("invalid".into(), cast - valid));
        rows.insert(field("station").to_owned(), votes);
    }
    rows
}

/// In a browser, in Albanian: a typist logs in, opens the station from the page's *Audit
/// counts* list and keys its hand count with the keyboard only.
fn key_count_in_the_browser(
    tools: &crate::web::Tools,
    url: &str,
    station: &str,
    numbers: &[(String, u64)],
) {
    let b = crate::web::Browser::start(tools, (1200, 900));
    b.goto(&format!("{url}/?lang=sq"));
    focus(&b, "#login-name");
    type_keys(&b, "dora");
    focus(&b, "#login-password");
    type_keys(&b, "first-password-1\u{E007}");
    focus(&b, "#pw-old");
    type_keys(&b, "first-password-1");
    focus(&b, "#pw-new");
    type_keys(&b, "second-password-2\u{E007}");
    let button = format!("#audit-list li[data-station='{station}'] button");
    b.wait_for(
        "the station in the audit list",
        "const e = document.querySelector(arguments[0]); return e && !e.closest('[hidden]') || null;",
        &[json!(button)],
    );
    assert_eq!(
        b.js(
            "return document.querySelector('#audit h2').textContent;",
            &[]
        ),
        json!("Numërimet e auditimit")
    );
    focus(&b, &button);
    type_keys(&b, "\u{E007}");
    b.wait_for(
        "the hand count's form",
        "return document.querySelector('#entry-lines input') && !document.getElementById('entry').hidden || null;",
        &[],
    );
    let labels = b.js(
        "return [...document.querySelectorAll('#entry-lines label')].map(l => l.textContent);",
        &[],
    );
    assert_eq!(
        labels.as_array().unwrap().last().unwrap(),
        &json!("Fletë të pavlefshme dhe të bardha")
    );
    // A hand count has no scan of a paper protocol.
    assert_eq!(
        b.js(
            "return document.getElementById('scan').closest('label').hidden;",
            &[]
        ),
        json!(true)
    );
    let keys = b.js(
        "return [...document.querySelectorAll('#entry-lines input')].map(i => i.dataset.key);",
        &[],
    );
    focus(&b, "#entry-lines input");
    for k in keys.as_array().unwrap() {
        let k = k.as_str().unwrap();
        let name = k.strip_prefix("votes:").unwrap_or(k);
        let v = numbers.iter().find(|n| n.0 == name).unwrap().1;
        type_keys(&b, &format!("{v}\u{E007}"));
    }
    type_keys(&b, "\u{E007}");
    b.wait_for(
        "the entry finished",
        "return document.getElementById('status').textContent.startsWith('Futja përfundoi') || null;",
        &[],
    );
}

/// Keys a sampled station's hand count through the desk's audit API.
fn key_count(b: &mut Browser, station: &str, numbers: &[(String, u64)]) -> Value {
    let e = b.post(
        "/api/audit/claim",
        json!({"contest": urna_sim::CONTEST_ID, "station": station}),
    );
    let api = e["api"].as_str().unwrap().to_owned();
    for line in e["lines"].as_array().unwrap() {
        let key = line["key"].as_str().unwrap();
        let name = key.strip_prefix("votes:").unwrap_or(key);
        let value = numbers.iter().find(|n| n.0 == name).unwrap().1;
        b.post(
            &format!("{api}/line"),
            json!({"key": key, "value": value.to_string()}),
        );
    }
    b.post(&format!("{api}/finish"), json!({}))
}

#[test]
fn audit_counts_keyed_twice_at_the_desk_reach_the_log_and_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    run(
        &[
            "sim",
            "--out",
            p(&src),
            "--stations",
            "200",
            "--districts",
            "2",
            "--error-rate",
            "0",
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
    let key = src.join("secrets/central-commission.key");
    let log = ["--data", p(&data), "--key", p(&key)];
    let step = |args: &[&str], code: i32| run(&[&["audit"], args, &log[..]].concat(), code);
    step(&["start", "--rules", "generic", "--seats", "1"], 0);
    step(&["seed", "--seed", "12345678901234567890"], 0);
    let out = step(&["sample"], 0);
    let sampled: Vec<String> = out
        .lines()
        .skip_while(|l| !l.contains("to hand count"))
        .skip(1)
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    assert!(sampled.len() >= 3, "{out}");
    let reported = reported(&data, &dir.path().join("csv"));

    for (name, role) in [
        ("ana", "typist"),
        ("besa", "typist"),
        ("cim", "coordinator"),
        ("dora", "typist"),
    ] {
        add_user(&data, name, role, "first-password-1");
    }
    let desk = start_desk(&data, &key);
    let mut ana = Browser::login(&desk.addr, "ana");
    let mut besa = Browser::login(&desk.addr, "besa");
    let mut cim = Browser::login(&desk.addr, "cim");
    // The page's list: every sampled station of the centre, open.
    let (status, list) = cim.call("GET", "/api/audit", None);
    assert_eq!(status, 200, "{list}");
    let listed: Vec<&str> = list["stations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["station"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        sampled.iter().map(String::as_str).collect::<Vec<_>>()
    );
    // A station no sample drew is refused by name.
    let unsampled = reported
        .keys()
        .find(|s| !sampled.contains(s))
        .unwrap()
        .clone();
    let (status, err) = ana.call(
        "POST",
        "/api/audit/claim",
        Some(json!({"contest": urna_sim::CONTEST_ID, "station": unsampled})),
    );
    assert_eq!(status, 409, "{err}");
    assert!(
        err["message"].as_str().unwrap().contains(&unsampled),
        "{err}"
    );

    // Station 1: equal entries. Station 2: a difference the coordinator resolves.
    let (one, two) = (&sampled[0], &sampled[1]);
    assert_eq!(
        key_count(&mut ana, one, &reported[one])["protocol"],
        json!("entering")
    );
    assert_eq!(
        key_count(&mut besa, one, &reported[one])["protocol"],
        json!("signed")
    );
    let mut misread = reported[two].clone();
    misread[0].1 += 1;
    key_count(&mut ana, two, &misread);
    assert_eq!(
        key_count(&mut besa, two, &reported[two])["protocol"],
        json!("difference")
    );
    let (_, view) = cim.call(
        "GET",
        &format!("/api/audit/counts/{}/{two}", urna_sim::CONTEST_ID),
        None,
    );
    assert_eq!(view["differing"].as_array().unwrap().len(), 1, "{view}");
    let r = cim.post(
        &format!("/api/audit/counts/{}/{two}/resolve", urna_sim::CONTEST_ID),
        json!({"action": "keep-2", "reason": "the tally sheet agrees with entry 2", "round": 1}),
    );
    assert_eq!(r["state"], json!("signed"));

    // A third station in a browser (where one is installed), the other entry over the API.
    let mut at_desk = 2;
    if sampled.len() >= 4
        && let Some(tools) = crate::web::Tools::find("desk_audit_in_the_browser", false)
    {
        let three = &sampled[2];
        key_count_in_the_browser(
            &tools,
            &format!("http://{}", desk.addr),
            three,
            &reported[three],
        );
        assert_eq!(
            key_count(&mut ana, three, &reported[three])["protocol"],
            json!("signed")
        );
        at_desk = 3;
    }

    // Into the log, as the desk signed them, through the running server that holds the data
    // directory; the desk then shows them as logged.
    let server = crate::server::Server::start(&data, &[]);
    let log_key = run(&["log", "key", "--data", p(&data)], 0)
        .trim()
        .to_owned();
    let out = step(
        &[
            "count",
            "--from-desk",
            p(&data.join("desk.sqlite")),
            "--to",
            &server.url,
            "--log-key",
            &log_key,
        ],
        0,
    );
    assert!(
        out.contains(&format!("{at_desk} count(s) from the desk logged")),
        "{out}"
    );
    let (_, list) = cim.call("GET", "/api/audit", None);
    for (i, x) in list["stations"].as_array().unwrap().iter().enumerate() {
        assert_eq!(x["state"] == json!("logged"), i < at_desk, "{x}");
    }
    let (status, err) = ana.call(
        "POST",
        "/api/audit/claim",
        Some(json!({"contest": urna_sim::CONTEST_ID, "station": one})),
    );
    assert_eq!(
        (status, err["error"].clone()),
        (409, json!("already-counted"))
    );
    drop(desk);
    assert!(server.stop().success());

    // The verdict is refused until the round is counted, naming what is missing.
    let out = step(&["verdict"], 2);
    assert!(out.contains(&sampled[at_desk]), "{out}");
    let lists: Vec<String> = reported[one].iter().map(|v| v.0.clone()).collect();
    let mut counts = format!("station,{}\n", lists.join(","));
    for s in &sampled[at_desk..] {
        let row: Vec<String> = reported[s].iter().map(|v| v.1.to_string()).collect();
        counts.push_str(&format!("{s},{}\n", row.join(",")));
    }
    let file = dir.path().join("counts.csv");
    std::fs::write(&file, counts).unwrap();
    step(&["count", "--counts", p(&file)], 0);
    let out = step(&["verdict"], 0);
    assert!(out.contains("risk limit met"), "{out}");

    let bundle = dir.path().join("bundle");
    run(&["publish", "--data", p(&data), "--out", p(&bundle)], 0);
    let out = run(&["verify", p(&bundle), "--log-key", &log_key], 0);
    assert!(out.contains("VERIFIED"), "{out}");
    let audit: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("current/v1/audit.json")).unwrap())
            .unwrap();
    let text = audit.to_string();
    assert!(
        text.contains(one.as_str()) && text.contains(two.as_str()),
        "{text}"
    );
}
