//! `urna desk` end to end: the real binaries (`urna serve`, `urna desk`), two typists keying
//! one paper protocol over HTTP, the centre's signature, delivery into the log with a
//! verified receipt, and `urna verify` accepting the published log.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::server::Server;
use crate::{init, p, run, urna};

/// A running `urna desk`; killed when dropped.
pub(crate) struct DeskProcess {
    child: Child,
    pub(crate) addr: String,
}

impl Drop for DeskProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_desk(data: &Path, key: &Path, serve_url: &str, log_key: &str) -> DeskProcess {
    let mut command = urna();
    command
        .args([
            "desk",
            "--data",
            p(data),
            "--centre",
            "SIM",
            "--key",
            p(key),
        ])
        .args(["--listen", "127.0.0.1:0", "--submit-to", serve_url])
        .args(["--log-key", log_key, "--deliver-ms", "50"]);
    spawn_listening(command, "urna desk: listening on http://")
}

/// Starts `command`, a desk or station, and reads its address from the first line, which
/// must start with `prefix`.
pub(crate) fn spawn_listening(mut command: std::process::Command, prefix: &str) -> DeskProcess {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = out.read_to_string(&mut sink);
    });
    DeskProcess { child, addr }
}

pub(crate) fn add_user(data: &Path, name: &str, role: &str, password: &str) {
    let mut child = urna()
        .args([
            "desk",
            "user",
            "add",
            "--data",
            p(data),
            "--name",
            name,
            "--role",
            role,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "user add {name}");
}

/// A browser-like client with its own cookie and CSRF token.
pub(crate) struct Browser {
    addr: String,
    cookie: Option<String>,
    pub(crate) csrf: String,
}

impl Browser {
    pub(crate) fn new(addr: &str) -> Self {
        let mut b = Self {
            addr: addr.to_owned(),
            cookie: None,
            csrf: String::new(),
        };
        let (_, v) = b.call("GET", "/api/session", None);
        b.csrf = v["csrf"].as_str().unwrap().to_owned();
        b
    }

    pub(crate) fn call(&mut self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let body = body
            .map(|mut b| {
                b["csrf"] = json!(self.csrf);
                b.to_string()
            })
            .unwrap_or_default();
        let cookie = self
            .cookie
            .as_ref()
            .map(|c| format!("Cookie: urna_desk={c}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: desk\r\nConnection: close\r\n{cookie}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        for l in head.lines() {
            if let Some(c) = l
                .to_ascii_lowercase()
                .strip_prefix("set-cookie: urna_desk=")
                .map(|c| c.split(';').next().unwrap().to_owned())
            {
                self.cookie = Some(c);
            }
        }
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    pub(crate) fn post(&mut self, path: &str, body: Value) -> Value {
        let (status, v) = self.call("POST", path, Some(body));
        assert_eq!(status, 200, "{path}: {v}");
        v
    }

    pub(crate) fn login(addr: &str, name: &str) -> Self {
        let mut b = Self::new(addr);
        let v = b.post(
            "/api/login",
            json!({"name": name, "password": "first-password-1"}),
        );
        b.csrf = v["csrf"].as_str().unwrap().to_owned();
        let v = b.post(
            "/api/password",
            json!({"old": "first-password-1", "new": "second-password-2"}),
        );
        // The session is renewed with the password: a new cookie and token.
        b.csrf = v["csrf"].as_str().unwrap().to_owned();
        b
    }

    /// Keys a whole protocol: every ballot cast valid, all for the first list.
    pub(crate) fn key(&mut self, station: &str) -> Value {
        let e = self.post(
            "/api/claim",
            json!({"contest": urna_sim::CONTEST_ID, "station": station}),
        );
        let id = e["entry"].as_i64().unwrap();
        let registered = e["registered"].as_u64().unwrap();
        let mut first_list = true;
        for line in e["lines"].as_array().unwrap() {
            let key = line["key"].as_str().unwrap();
            let value = match key {
                "count:registered" => registered,
                "count:ballots-cast" | "count:valid" => 10,
                _ if key.starts_with("votes:") && first_list => {
                    first_list = false;
                    10
                }
                _ => 0,
            };
            self.post(
                &format!("/api/entries/{id}/line"),
                json!({"key": key, "value": value.to_string()}),
            );
        }
        self.post(&format!("/api/entries/{id}/finish"), json!({}))
    }
}

/// A simulated election of `stations` stations served by a real `urna serve`, with the desk's
/// accounts `ana` and `besa` (typists) and `cim` (coordinator), first passwords still to change.
struct Centre {
    dir: tempfile::TempDir,
    src: PathBuf,
    data: PathBuf,
    server: Server,
    log_key: String,
}

impl Centre {
    fn new(stations: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (src, data) = (dir.path().join("src"), dir.path().join("data"));
        run(
            &["sim", "--out", p(&src), "--stations", &stations.to_string()],
            0,
        );
        init(&src, &data);
        let server = Server::start(&data, &[]);
        let log_key = run(&["log", "key", "--data", p(&data)], 0)
            .trim()
            .to_owned();
        for (name, role) in [
            ("ana", "typist"),
            ("besa", "typist"),
            ("cim", "coordinator"),
        ] {
            add_user(&data, name, role, "first-password-1");
        }
        Self {
            dir,
            src,
            data,
            server,
            log_key,
        }
    }
}

#[test]
fn a_paper_protocol_keyed_twice_reaches_the_log_signed_by_the_centre() {
    let Centre {
        dir,
        src,
        data,
        server,
        log_key,
    } = Centre::new(3);
    let bundle = dir.path().join("bundle");
    // A short first password is refused, naming the field.
    let mut child = urna()
        .args([
            "desk",
            "user",
            "add",
            "--data",
            p(&data),
            "--name",
            "x",
            "--role",
            "typist",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "short").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("password"));

    let key = src.join("secrets/central-commission.key");
    let desk = start_desk(&data, &key, &server.url, &log_key);
    let station = std::fs::read_to_string(src.join("stations.csv"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    let mut ana = Browser::login(&desk.addr, "ana");
    let mut besa = Browser::login(&desk.addr, "besa");
    assert_eq!(ana.key(&station)["protocol"], json!("entering"));
    assert_eq!(besa.key(&station)["protocol"], json!("signed"));
    // Delivered: the log's receipt came back and was verified.
    let mut cim = Browser::login(&desk.addr, "cim");
    let mut delivered = false;
    for _ in 0..200 {
        let (_, v) = cim.call("GET", "/api/progress", None);
        if v["delivered"] == json!(1) {
            delivered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(delivered, "the signed protocol never reached the log");
    let (_, v) = cim.call(
        "GET",
        &format!("/api/protocols/{}/{station}", urna_sim::CONTEST_ID),
        None,
    );
    assert_eq!(v["state"], json!("delivered"), "{v}");
    assert_eq!(v["why"], json!("accepted"), "{v}");
    drop(desk);
    assert!(server.stop().success());

    // `urna verify` accepts a first protocol signed by the authority instead of the station.
    run(&["publish", "--data", p(&data), "--out", p(&bundle)], 0);
    let out = run(&["verify", p(&bundle), "--log-key", &log_key], 0);
    assert!(
        out.contains("1 entries' signatures checked and replayed (1 protocols")
            && out.contains("1 counted, 0 quarantined")
            && out.contains("VERIFIED"),
        "{out}"
    );
    // The audit trail names both typists on the signing line, and the delivery.
    let audit = run(&["desk", "audit-export", "--data", p(&data)], 0);
    let signed = audit
        .lines()
        .find(|l| l.contains("\"action\":\"signed\""))
        .unwrap();
    assert!(
        signed.contains("ana") && signed.contains("besa"),
        "{signed}"
    );
    assert!(audit.contains("\"action\":\"delivered\""), "{audit}");
}

/// Keys `text` into the focused element, as a typist does (`\u{E007}` is Enter).
pub(crate) fn type_keys(b: &crate::web::Browser, text: &str) {
    let active = b.cmd("GET", "/element/active", None);
    let id = active
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(Value::as_str)
        .unwrap()
        .to_owned();
    b.cmd(
        "POST",
        &format!("/element/{id}/value"),
        Some(&json!({ "text": text })),
    );
}

pub(crate) fn focus(b: &crate::web::Browser, selector: &str) {
    b.wait_for(
        selector,
        "const e = document.querySelector(arguments[0]); if (!e || e.closest('[hidden]')) return null; e.focus(); return document.activeElement === e;",
        &[json!(selector)],
    );
}

/// In the browser: logs in, changes the first password, opens the station's protocol.
fn browser_login_and_open(
    b: &crate::web::Browser,
    url: &str,
    lang: &str,
    name: &str,
    station: &str,
) {
    b.goto(&format!("{url}/?lang={lang}"));
    focus(b, "#login-name");
    type_keys(b, name);
    focus(b, "#login-password");
    type_keys(b, "first-password-1\u{E007}");
    focus(b, "#pw-old");
    type_keys(b, "first-password-1");
    focus(b, "#pw-new");
    type_keys(b, "second-password-2\u{E007}");
    focus(b, "#claim-contest");
    type_keys(b, urna_sim::CONTEST_ID);
    focus(b, "#claim-station");
    type_keys(b, &format!("{station}\u{E007}"));
    b.wait_for(
        "the entry form",
        "return document.querySelector('#entry-lines input') && !document.getElementById('entry').hidden || null;",
        &[],
    );
}

/// The values of the protocol keyed in the browser, in form order: every ballot valid and
/// for the first list.
pub(crate) fn paper(b: &crate::web::Browser, registered: u64) -> Vec<String> {
    let keys = b.js(
        "return [...document.querySelectorAll('#entry-lines input')].map(i => i.dataset.key);",
        &[],
    );
    let mut first_list = true;
    keys.as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let k = k.as_str().unwrap();
            match k {
                "count:registered" => registered.to_string(),
                "count:ballots-cast" | "count:valid" => "10".into(),
                _ if k.starts_with("votes:") && first_list => {
                    first_list = false;
                    "10".into()
                }
                _ => "0".into(),
            }
        })
        .collect()
}

/// Keys `values` into the open entry form with the keyboard only, `valid` (line 4) first as
/// 9, waits for the rule it breaks, fixes it, and finishes the entry. Returns the error shown.
pub(crate) fn key_fixing_valid(b: &crate::web::Browser, values: &[String]) -> String {
    focus(b, "#entry-lines input");
    for (i, v) in values.iter().enumerate() {
        let v = if i == 3 { "9" } else { v.as_str() };
        type_keys(b, &format!("{v}\u{E007}"));
    }
    let error = b.wait_for(
        "a validation error while typing",
        "const e = document.querySelector('#checks .error'); return e ? e.textContent : null;",
        &[],
    );
    focus(b, "#entry-lines input[data-key='count:valid']");
    b.js("document.activeElement.select();", &[]);
    type_keys(b, "10\u{E007}");
    b.wait_for(
        "the error gone",
        "const c = document.getElementById('checks'); return !c.querySelector('.error') && c.textContent.length > 0 || null;",
        &[],
    );
    focus(b, "#finish");
    type_keys(b, "\u{E007}");
    error.as_str().unwrap_or_default().to_owned()
}

#[test]
fn desk_in_the_browser_two_typists_in_two_languages_keyboard_only() {
    let Some(tools) = crate::web::Tools::find("desk_in_the_browser", false) else {
        return;
    };
    let Centre {
        dir: _dir,
        src,
        data,
        server,
        log_key,
    } = Centre::new(2);
    let desk = start_desk(
        &data,
        &src.join("secrets/central-commission.key"),
        &server.url,
        &log_key,
    );
    let row = std::fs::read_to_string(src.join("stations.csv"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    let mut cols = row.split(',');
    let station = cols.next().unwrap().to_owned();
    let registered: u64 = cols.nth(1).unwrap().parse().unwrap();
    let url = format!("http://{}", desk.addr);

    // Typist 1, in Albanian: a wrong `valid` is flagged with its rule while typing, then fixed.
    let b = crate::web::Browser::start(&tools, (1200, 900));
    browser_login_and_open(&b, &url, "sq", "ana", &station);
    assert_eq!(
        b.js("return document.getElementById('finish').textContent;", &[]),
        json!("Përfundo këtë futje")
    );
    let values = paper(&b, registered);
    let error = key_fixing_valid(&b, &values);
    assert!(error.starts_with("gabim "), "{error}");
    b.wait_for(
        "the entry finished",
        "return document.getElementById('status').textContent.startsWith('Futja përfundoi') || null;",
        &[],
    );
    drop(b);

    // Typist 2, in Macedonian, in another browser: an empty form, the same paper.
    let b = crate::web::Browser::start(&tools, (1200, 900));
    browser_login_and_open(&b, &url, "mk", "besa", &station);
    let shown = b.js(
        "return [...document.querySelectorAll('#entry-lines input')].map(i => i.value).join('');",
        &[],
    );
    assert_eq!(
        shown,
        json!(""),
        "the second typist must not see the first entry"
    );
    focus(&b, "#entry-lines input");
    for v in &values {
        type_keys(&b, &format!("{v}\u{E007}"));
    }
    type_keys(&b, "\u{E007}");
    b.wait_for(
        "signed",
        "return document.getElementById('status').textContent.includes('потпишано') || null;",
        &[],
    );
    drop(b);

    // In the log, with a verified receipt.
    let mut cim = Browser::login(&desk.addr, "cim");
    let mut delivered = false;
    for _ in 0..200 {
        let (_, v) = cim.call("GET", "/api/progress", None);
        if v["delivered"] == json!(1) {
            delivered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        delivered,
        "the protocol keyed in the browser never reached the log"
    );

    // On the results page, the station's protocol verifies in the browser: signed by the
    // centre's authority instead of the station, which the page names.
    let addr = server.url.trim_start_matches("http://").to_owned();
    let t = std::time::Instant::now();
    while crate::web::fetch_json(&addr, "/v1/summary.json")["checkpoint"]["size"]
        .as_u64()
        .unwrap_or(0)
        < 2
    {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the entry was never published"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let b = crate::web::Browser::start(&tools, (1200, 900));
    let (state, text, _) = b.verify_station(&format!("{}/", server.url), &station);
    assert_eq!(state, "verified", "{text}");
    assert!(
        text.contains("keyed at a counting centre and is signed by Central Election Commission"),
        "{text}"
    );
}

impl Browser {
    /// Keys a whole protocol as [`Browser::key`] does, but with `first` votes for the first
    /// list (10 makes it add up; anything else breaks `votes-sum-to-valid`).
    pub(crate) fn key_with(&mut self, station: &str, first: u64) -> Value {
        let id = self.fill(station, first);
        self.post(&format!("/api/entries/{id}/finish"), json!({}))
    }

    /// Claims and keys an entry as [`Browser::key_with`] does, without finishing it; returns
    /// the entry's id.
    pub(crate) fn fill(&mut self, station: &str, first: u64) -> i64 {
        let e = self.post(
            "/api/claim",
            json!({"contest": urna_sim::CONTEST_ID, "station": station}),
        );
        let id = e["entry"].as_i64().unwrap();
        let registered = e["registered"].as_u64().unwrap();
        let mut first_list = true;
        for line in e["lines"].as_array().unwrap() {
            let key = line["key"].as_str().unwrap();
            let value = match key {
                "count:registered" => registered,
                "count:ballots-cast" | "count:valid" => 10,
                _ if key.starts_with("votes:") && first_list => {
                    first_list = false;
                    first
                }
                _ => 0,
            };
            self.post(
                &format!("/api/entries/{id}/line"),
                json!({"key": key, "value": value.to_string()}),
            );
        }
        id
    }

    /// The session cookie and CSRF token, for a request sent by hand.
    pub(crate) fn credentials(&self) -> (String, String) {
        (self.cookie.clone().unwrap_or_default(), self.csrf.clone())
    }

    /// Polls `GET path` until `done` holds for its JSON.
    pub(crate) fn wait(&mut self, what: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let t = std::time::Instant::now();
        loop {
            let (_, v) = self.call("GET", path, None);
            if done(&v) {
                return v;
            }
            assert!(t.elapsed() < Duration::from_secs(60), "{what}: {v}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The quarantine decision and the recount's amendment end to end: a paper protocol whose
/// votes do not add up is keyed twice, kept by the coordinator, quarantined by the log; a
/// coordinator orders a recount on the desk's page (in Albanian); the recount is keyed twice
/// and delivered as an amendment signed by the centre alone; the results page (in English and
/// Macedonian) shows protocol, quarantine, decision and amendment, and the station verifies.
#[test]
fn desk_in_the_browser_a_quarantined_protocol_is_recounted() {
    let Some(tools) = crate::web::Tools::find("desk_in_the_browser_recount", false) else {
        return;
    };
    let Centre {
        dir: _dir,
        src,
        data,
        server,
        log_key,
    } = Centre::new(2);
    add_user(&data, "dita", "coordinator", "first-password-1");
    let desk = start_desk(
        &data,
        &src.join("secrets/central-commission.key"),
        &server.url,
        &log_key,
    );
    let station = std::fs::read_to_string(src.join("stations.csv"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    let mut ana = Browser::login(&desk.addr, "ana");
    let mut besa = Browser::login(&desk.addr, "besa");
    let mut cim = Browser::login(&desk.addr, "cim");
    ana.key_with(&station, 9);
    assert_eq!(besa.key_with(&station, 9)["protocol"], json!("difference"));
    let path = format!("/api/protocols/{}/{station}", urna_sim::CONTEST_ID);
    cim.post(
        &format!("{path}/resolve"),
        json!({"action": "keep-1", "reason": "the paper protocol says 9", "round": 1}),
    );
    cim.wait("the log quarantines the protocol", &path, |v| {
        v["why"] == json!("quarantined")
    });

    // The coordinator's page, in Albanian: the quarantined protocol, a reason, "recount".
    let url = format!("http://{}", desk.addr);
    let b = crate::web::Browser::start(&tools, (1200, 900));
    b.goto(&format!("{url}/?lang=sq"));
    focus(&b, "#login-name");
    type_keys(&b, "dita");
    focus(&b, "#login-password");
    type_keys(&b, "first-password-1\u{E007}");
    focus(&b, "#pw-old");
    type_keys(&b, "first-password-1");
    focus(&b, "#pw-new");
    type_keys(&b, "second-password-2\u{E007}");
    let item = format!("#quar-list li[data-station='{station}']");
    focus(&b, &format!("{item} input.quar-reason"));
    type_keys(&b, "Votat nuk përputhen me fletët e vlefshme");
    let button = format!("{item} button[data-decision=recount]");
    assert_eq!(
        b.js(
            "return document.querySelector(arguments[0]).textContent;",
            &[json!(button)]
        ),
        json!("Urdhëro rinumërim")
    );
    b.js(
        "document.querySelector(arguments[0]).click();",
        &[json!(button)],
    );
    b.wait_for(
        "the recount ordered",
        "return document.getElementById('status').textContent.includes('urdhëruar rinumërim') || null;",
        &[],
    );
    b.wait_for(
        "the recount under way in the list",
        "const li = document.querySelector(arguments[0]); return li && li.textContent.includes('Rinumërimi po bëhet') || null;",
        &[json!(item)],
    );
    drop(b);

    // The recount, keyed twice with the recount's scan: equal and valid, signed as an
    // amendment naming the scan, accepted by the log.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..4000u32).map(|i| (i % 97) as u8));
    let (status, v) = ana.upload(
        &format!("/api/scans/{}/{station}", urna_sim::CONTEST_ID),
        &png,
    );
    assert_eq!(status, 200, "{v}");
    let scan = urna_model::protocol::hex(&urna_model::intake::sha256(&png));
    ana.key_with(&station, 10);
    assert_eq!(besa.key_with(&station, 10)["protocol"], json!("signed"));
    let v = cim.wait("the recount's amendment in the log", &path, |v| {
        v["state"] == json!("delivered") && v["why"].is_string()
    });
    assert_eq!(v["why"], json!("accepted"), "{v}");
    let audit = run(&["desk", "audit-export", "--data", p(&data)], 0);
    assert!(
        audit.contains("\"actor\":\"dita\",\"action\":\"decision\"")
            && audit.contains("decision-delivered"),
        "{audit}"
    );

    // The results page: each step, in English and Macedonian; the amendment verifies.
    let addr = server.url.trim_start_matches("http://").to_owned();
    let t = std::time::Instant::now();
    while crate::web::fetch_json(&addr, "/v1/summary.json")["checkpoint"]["size"]
        .as_u64()
        .unwrap_or(0)
        < 4
    {
        assert!(t.elapsed() < Duration::from_secs(60), "never published");
        std::thread::sleep(Duration::from_millis(100));
    }
    let b = crate::web::Browser::start(&tools, (1200, 900));
    for (lang, word) in [
        ("en", "recount ordered"),
        ("mk", "наложено повторно броење"),
    ] {
        b.goto(&format!("{}/?lang={lang}#/station/{station}", server.url));
        let steps = b.wait_for(
            &format!("{lang}: the station's history"),
            "const items = [...document.querySelectorAll('ol.history > li')]; \
             if (items.length < 3) return null; \
             return items.map((li) => [li.dataset.decision || 'revision', li.textContent.trim()]);",
            &[],
        );
        let steps = steps.as_array().unwrap();
        let kinds: Vec<&str> = steps.iter().map(|s| s[0].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["revision", "recount", "revision"],
            "{lang}: {steps:?}"
        );
        assert!(
            steps[1][1].as_str().unwrap().contains(word),
            "{lang}: {steps:?}"
        );
    }
    // The recount's scan, linked from the station's view and served by its SHA-256.
    let href = b.wait_for(
        "the scan's link",
        "const a = document.querySelector('a[data-testid=scan]'); return a ? a.getAttribute('href') : null;",
        &[],
    );
    assert_eq!(href, json!(format!("blob/sha256/{scan}")));
    let blob = crate::server::get(&addr, &format!("/blob/sha256/{scan}"));
    assert_eq!((blob.status, blob.body), (200, png));
    let (state, text, _) = b.verify_station(&format!("{}/", server.url), &station);
    assert_eq!(state, "verified", "{text}");
    drop(b);
    drop(desk);
    assert!(server.stop().success());
}

impl Browser {
    /// Logs in with `first` and changes it, as the first login demands.
    fn login_first(addr: &str, name: &str, first: &str) -> Self {
        let mut b = Self::new(addr);
        let v = b.post("/api/login", json!({"name": name, "password": first}));
        b.csrf = v["csrf"].as_str().unwrap().to_owned();
        let v = b.post(
            "/api/password",
            json!({"old": first, "new": "second-password-2"}),
        );
        b.csrf = v["csrf"].as_str().unwrap().to_owned();
        b
    }
}

/// `urna demo --desk`: a desk for one municipality beside the demo's server, whose protocols
/// the demo left out; its printed accounts log in, and a protocol keyed twice reaches the log.
#[test]
fn demo_starts_a_desk_that_delivers_to_its_server() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let mut child = urna()
        .args(["demo", "--data", p(&data), "--stations", "2100"])
        .args(["--listen", "127.0.0.1:0", "--desk", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut centre, mut desk_addr, mut password, mut left_out) = (None, None, None, None);
    while password.is_none() {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the demo ended before its desk listened"))
            .unwrap();
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Counting-centre desk for ") {
            let (c, url) = rest.split_once(": http://").unwrap();
            centre = Some(c.to_owned());
            desk_addr = Some(url.trim_end_matches('/').to_owned());
        } else if let Some(rest) = line.strip_prefix("Accounts ") {
            let pw = rest.split("first password ").nth(1).unwrap();
            password = Some(pw.split(',').next().unwrap().to_owned());
        } else if line.contains("are left out: its paper protocols are keyed at the desk") {
            left_out = Some(line.to_owned());
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let (centre, desk_addr, password) = (centre.unwrap(), desk_addr.unwrap(), password.unwrap());
    assert!(left_out.unwrap().contains(&centre));
    // A station of the centre: the demo did not ingest it, so the desk keys it.
    let station = std::fs::read_to_string(data.join("source/stations.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .find(|l| l.split(',').nth(1) == Some(centre.as_str()))
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    let mut t1 = Browser::login_first(&desk_addr, "typist1", &password);
    let mut t2 = Browser::login_first(&desk_addr, "typist2", &password);
    let mut co = Browser::login_first(&desk_addr, "coordinator", &password);
    t1.key(&station);
    assert_eq!(t2.key(&station)["protocol"], json!("signed"));
    let path = format!("/api/protocols/{}/{station}", urna_sim::CONTEST_ID);
    let v = co.wait("the protocol in the demo's log", &path, |v| {
        v["state"] == json!("delivered")
    });
    assert!(v["log_index"].as_u64().is_some(), "{v}");
    let p = co.wait("progress", "/api/progress", |v| v["delivered"] == json!(1));
    assert_eq!(p["units"][0]["unit"], json!(centre), "{p}");
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
}

impl Browser {
    /// `POST path` with raw bytes, the CSRF token in its header.
    pub(crate) fn upload(&mut self, path: &str, bytes: &[u8]) -> (u16, Value) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        let cookie = self
            .cookie
            .as_ref()
            .map(|c| format!("Cookie: urna_desk={c}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: desk\r\nConnection: close\r\n{cookie}X-CSRF-Token: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            self.csrf,
            bytes.len()
        )
        .unwrap();
        s.write_all(bytes).unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }
}

/// A scan uploaded at the desk is named in the signed note, published by SHA-256 in the
/// bundle, named in the station's unit file, and the bundle verifies.
#[test]
fn a_scan_keyed_at_the_desk_is_published_with_its_protocol() {
    let Centre {
        dir,
        src,
        data,
        server,
        log_key,
    } = Centre::new(2);
    let desk = start_desk(
        &data,
        &src.join("secrets/central-commission.key"),
        &server.url,
        &log_key,
    );
    let station = std::fs::read_to_string(src.join("stations.csv"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    // An upload declared at 8 MiB without a session is refused from its headers at once,
    // its body never sent (waiting for it would end in the body timeout's 408).
    {
        let mut s = TcpStream::connect(&desk.addr).unwrap();
        write!(
            s,
            "POST /api/scans/{}/{station} HTTP/1.1\r\nHost: desk\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            urna_sim::CONTEST_ID,
            urna_desk::desk::MAX_SCAN
        )
        .unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 403");
    }
    // The login form's session requests store nothing: a thousand leave the table as it was.
    let sessions = || -> i64 {
        let db = rusqlite::Connection::open(data.join(urna_desk::db::DESK_DB)).unwrap();
        db.query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))
            .unwrap()
    };
    let before = sessions();
    for _ in 0..1_000 {
        Browser::new(&desk.addr);
    }
    assert_eq!(sessions(), before);
    let mut ana = Browser::login(&desk.addr, "ana");
    let mut besa = Browser::login(&desk.addr, "besa");
    let mut cim = Browser::login(&desk.addr, "cim");
    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.extend((0..3000u32).map(|i| (i % 200) as u8));
    let (status, v) = ana.upload(
        &format!("/api/scans/{}/{station}", urna_sim::CONTEST_ID),
        &pdf,
    );
    assert_eq!(status, 200, "{v}");
    let hash = urna_model::protocol::hex(&urna_model::intake::sha256(&pdf));
    ana.key(&station);
    besa.key(&station);
    let path = format!("/api/protocols/{}/{station}", urna_sim::CONTEST_ID);
    cim.wait("delivered", &path, |v| v["state"] == json!("delivered"));
    drop(desk);
    assert!(server.stop().success());

    let bundle = dir.path().join("bundle");
    run(&["publish", "--data", p(&data), "--out", p(&bundle)], 0);
    let blob = bundle.join("current/blob/sha256").join(&hash);
    assert_eq!(std::fs::read(&blob).unwrap(), pdf);
    let csv = std::fs::read_to_string(src.join("stations.csv")).unwrap();
    let unit = csv.lines().nth(1).unwrap().split(',').nth(1).unwrap();
    let doc: Value = crate::unit_file(&bundle.join("current"), unit);
    let st = doc["contests"][0]["stations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == json!(station))
        .unwrap()
        .clone();
    assert_eq!(
        st["current"]["scan"],
        json!(format!("sha256:{hash}")),
        "{st}"
    );
    let out = run(&["verify", p(&bundle), "--log-key", &log_key], 0);
    assert!(out.contains("VERIFIED"), "{out}");
    assert!(
        out.contains("1 scans of paper protocols named by signed notes, fetched and hashed"),
        "{out}"
    );

    // The scan deleted, then replaced by other bytes: the signed note names it, so each is
    // caught, naming the file and the entry. (`blob` is shared by the generations: damage a
    // copy, links kept as they are.)
    let copy = dir.path().join("copy");
    let st = std::process::Command::new("cp")
        .args(["-a", p(&bundle), p(&copy)])
        .status()
        .unwrap();
    assert!(st.success());
    let blob = copy.join("blob/sha256").join(&hash);
    std::fs::remove_file(&blob).unwrap();
    let out = run(&["verify", p(&copy), "--log-key", &log_key], 1);
    assert!(
        out.contains(&format!("blob/sha256/{hash}: missing; entry "))
            && out.contains(&format!(
                "(station {station}) names it as the scan of its paper protocol"
            )),
        "{out}"
    );
    std::fs::write(&blob, b"%PDF-1.7\nanother paper\n").unwrap();
    let out = run(&["verify", p(&copy), "--log-key", &log_key], 1);
    assert!(
        out.contains(&format!("blob/sha256/{hash}: its 23 bytes hash to "))
            && out.contains("the scan was replaced"),
        "{out}"
    );
}

/// `PUT /v1/scans/<sha256>` at the running server.
fn put_scan(addr: &str, hash: &str, bytes: &[u8]) -> crate::server::Response {
    let mut req = format!(
        "PUT /v1/scans/{hash} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        bytes.len()
    )
    .into_bytes();
    req.extend_from_slice(bytes);
    crate::server::raw(addr, &req)
}

/// A desk on another machine (its own data directory) delivers the signed note and then its
/// scan to `urna serve` (`PUT /v1/scans/<sha256>`), which publishes the scan; a scan no stored
/// note names, or whose bytes are not its name's, is refused by name.
#[test]
fn a_desk_elsewhere_delivers_its_scans_to_the_server() {
    let Centre {
        dir,
        src,
        data,
        server,
        log_key,
    } = Centre::new(2);
    let desk_data = dir.path().join("desk");
    init(&src, &desk_data);
    for (name, role) in [
        ("ana", "typist"),
        ("besa", "typist"),
        ("cim", "coordinator"),
    ] {
        add_user(&desk_data, name, role, "first-password-1");
    }
    let desk = start_desk(
        &desk_data,
        &src.join("secrets/central-commission.key"),
        &server.url,
        &log_key,
    );
    let station = std::fs::read_to_string(src.join("stations.csv"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();

    // Before any note names it, the server takes no scan.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..5000u32).map(|i| (i % 251) as u8));
    let hash = urna_model::protocol::hex(&urna_model::intake::sha256(&png));
    let r = put_scan(&server.addr, &hash, &png);
    assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"]["code"], json!("scan-not-named"));

    let mut ana = Browser::login(&desk.addr, "ana");
    let mut besa = Browser::login(&desk.addr, "besa");
    let mut cim = Browser::login(&desk.addr, "cim");
    let (status, v) = ana.upload(
        &format!("/api/scans/{}/{station}", urna_sim::CONTEST_ID),
        &png,
    );
    assert_eq!(status, 200, "{v}");
    ana.key(&station);
    besa.key(&station);
    let path = format!("/api/protocols/{}/{station}", urna_sim::CONTEST_ID);
    cim.wait("delivered", &path, |v| v["state"] == json!("delivered"));
    drop(desk);

    // Delivered with its note: the server has it in its own data directory.
    assert_eq!(std::fs::read(data.join("scans").join(&hash)).unwrap(), png);
    // Sending it again is harmless; other bytes under its name, or a bad name, are refused.
    let r = put_scan(&server.addr, &hash, &png);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["status"], json!("duplicate"));
    let mut other = png.clone();
    other.push(0);
    let r = put_scan(&server.addr, &hash, &other);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], json!("scan-hash-mismatch"));
    let r = put_scan(&server.addr, "ABC", &png);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], json!("bad-scan-path"));
    assert!(server.stop().success());

    // A file no note names is not published, even under its own SHA-256.
    let stray = b"%PDF-1.4 not named by any note".to_vec();
    let stray_hash = urna_model::protocol::hex(&urna_model::intake::sha256(&stray));
    std::fs::write(data.join("scans").join(&stray_hash), &stray).unwrap();
    let bundle = dir.path().join("bundle");
    run(&["publish", "--data", p(&data), "--out", p(&bundle)], 0);
    assert_eq!(
        std::fs::read(bundle.join("current/blob/sha256").join(&hash)).unwrap(),
        png
    );
    assert!(
        !bundle
            .join("current/blob/sha256")
            .join(&stray_hash)
            .exists()
    );
    let out = run(&["verify", p(&bundle), "--log-key", &log_key], 0);
    assert!(out.contains("VERIFIED"), "{out}");
}

/// `urna desk user unlock|reset|disable|enable --data DATA --name NAME` (a reset reads the
/// new first password on standard input).
fn manage_user(data: &Path, action: &str, name: &str, stdin: Option<&str>) -> Output {
    let mut child = urna()
        .args(["desk", "user", action, "--data", p(data), "--name", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(line) = stdin {
        writeln!(input, "{line}").unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// The lock-out message says "ask an administrator": `urna desk user` unlocks, resets and
/// disables accounts of a running desk, and each change is in the exported audit trail.
#[test]
fn desk_user_unlocks_resets_and_disables_accounts() {
    let Centre {
        dir: _dir,
        src,
        data,
        server,
        log_key,
    } = Centre::new(2);
    let desk = start_desk(
        &data,
        &src.join("secrets/central-commission.key"),
        &server.url,
        &log_key,
    );
    let mut ana = Browser::login(&desk.addr, "ana");
    assert_eq!(ana.call("GET", "/api/progress", None).0, 200);
    // besa locks itself out.
    let mut b = Browser::new(&desk.addr);
    for _ in 0..5 {
        b.call(
            "POST",
            "/api/login",
            Some(json!({"name": "besa", "password": "wrong-password-x"})),
        );
    }
    let login = |name: &str, password: &str| {
        let mut b = Browser::new(&desk.addr);
        b.call(
            "POST",
            "/api/login",
            Some(json!({"name": name, "password": password})),
        )
    };
    assert_eq!(login("besa", "first-password-1").0, 429);
    let out = manage_user(&data, "unlock", "besa", None);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("besa unlocked"));
    assert_eq!(login("besa", "first-password-1").0, 200);
    // Disabled: ana's open session ends at once, and her password no longer logs in.
    assert!(manage_user(&data, "disable", "ana", None).status.success());
    assert_eq!(ana.call("GET", "/api/progress", None).0, 401);
    let (status, v) = login("ana", "second-password-2");
    assert_eq!((status, v["error"].as_str()), (403, Some("disabled")));
    // Reset while disabled, then enabled: the new first password, to be changed.
    let out = manage_user(&data, "reset", "ana", Some("short"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("password"));
    assert!(
        manage_user(&data, "reset", "ana", Some("reset-password-3"))
            .status
            .success()
    );
    assert!(manage_user(&data, "enable", "ana", None).status.success());
    assert_eq!(login("ana", "second-password-2").0, 401);
    let (status, v) = login("ana", "reset-password-3");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["user"]["must_change"], json!(true));
    // An unknown account is named.
    let out = manage_user(&data, "unlock", "nobody", None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody"));
    let trail = run(&["desk", "audit-export", "--data", p(&data)], 0);
    for action in ["user-unlock", "user-disable", "user-reset", "user-enable"] {
        assert!(
            trail.contains(&format!("\"action\":\"{action}\"")),
            "{action}"
        );
    }
    drop(desk);
    assert!(server.stop().success());
}
