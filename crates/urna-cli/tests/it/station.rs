//! `urna station` end to end: the real binaries (`urna station` and `urna serve`), a station's
//! board keying its own paper protocol over HTTP, the station's own signature, the
//! store-and-forward queue delivered in the background (or later by `urna submit --queue`),
//! the receipts kept, and `urna verify` accepting the published log; the chair's entry screen
//! in headless Chromium, in Albanian.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use urna_model::note::Note;
use urna_sim::{SimConfig, Simulation};

use crate::desk::{
    Browser, DeskProcess, focus, key_fixing_valid, paper, spawn_listening, type_keys,
};
use crate::server::Server;
use crate::{init, p, run, urna};

const CHAIR_PW: &str = "chair-password-1";
const MEMBER_PW: &str = "member-password-2";

/// A simulated election of three stations, `urna init`-ed, and the key files of its first two
/// stations (`PS-0000001`, `PS-0000002`), as the commission hands them to the stations.
struct Election {
    dir: tempfile::TempDir,
    definition: PathBuf,
    data: PathBuf,
}

impl Election {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (src, data) = (dir.path().join("src"), dir.path().join("data"));
        run(&["sim", "--out", p(&src), "--stations", "3"], 0);
        init(&src, &data);
        let sim = Simulation::new(SimConfig {
            stations: 3,
            ..SimConfig::default()
        });
        for i in 0..2 {
            let st = sim.station(i);
            std::fs::write(
                dir.path().join(format!("{}.key", st.id)),
                st.signer.to_skey(),
            )
            .unwrap();
        }
        Self {
            definition: src.join("election.toml"),
            data,
            dir,
        }
    }

    /// A new election, its `urna serve` running, and the log's verifier key.
    fn served() -> (Self, Server, String) {
        let e = Self::new();
        let server = Server::start(&e.data, &[]);
        let log_key = run(&["log", "key", "--data", p(&e.data)], 0)
            .trim()
            .to_owned();
        (e, server, log_key)
    }

    fn key(&self, station: &str) -> PathBuf {
        self.dir.path().join(format!("{station}.key"))
    }

    /// `urna station init` of `DIR/<name>` with the board `ana` (chair) and `besa`.
    fn station_dir(&self, name: &str) -> PathBuf {
        let data = self.dir.path().join(name);
        let mut child = urna()
            .args(["station", "init", "--data", p(&data)])
            .args(["--chair", "ana", "--member", "besa"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{CHAIR_PW}\n{MEMBER_PW}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "station init");
        data
    }

    fn start(&self, data: &Path, station: &str, to: Option<(&str, &str)>) -> DeskProcess {
        spawn_listening(
            self.command(data, station, to),
            "urna station: listening on http://",
        )
    }

    fn command(&self, data: &Path, station: &str, to: Option<(&str, &str)>) -> Command {
        let mut command = urna();
        command
            .args(["station", "--data", p(data), "--definition"])
            .arg(&self.definition)
            .args(["--station", station, "--key"])
            .arg(self.key(station))
            .args(["--listen", "127.0.0.1:0", "--deliver-ms", "50"]);
        if let Some((url, log_key)) = to {
            command.args(["--to", url, "--log-key", log_key]);
        }
        command
    }

    /// Starts station 1 with the test's crash point: once a signed note is durable in the
    /// queue it writes `marker` and waits, `desk.sqlite` uncommitted, to be killed.
    fn start_holding(&self, data: &Path, marker: &Path) -> DeskProcess {
        let mut command = urna();
        command
            .args(["station", "--data", p(data), "--definition"])
            .arg(&self.definition)
            .args(["--station", "PS-0000001", "--key"])
            .arg(self.key("PS-0000001"))
            .args(["--listen", "127.0.0.1:0"])
            .env(urna_desk::desk::station::HOLD_AFTER_QUEUE_ENV, marker);
        spawn_listening(command, "urna station: listening on http://")
    }
}

fn login(addr: &str, name: &str, password: &str) -> Browser {
    let mut b = Browser::new(addr);
    let v = b.post("/api/login", json!({"name": name, "password": password}));
    assert_eq!(v["user"]["must_change"], json!(false), "{v}");
    b.csrf = v["csrf"].as_str().unwrap().to_owned();
    b
}

/// The one note in `dir` (a queue's `sent/`), and that its receipt is kept.
fn sent_note(queue: &Path) -> Vec<u8> {
    let sent: Vec<PathBuf> = std::fs::read_dir(queue.join("sent"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let name = sent[0].file_stem().unwrap().to_str().unwrap().to_owned();
    assert!(
        queue
            .join("receipts")
            .join(format!("{name}.receipt"))
            .is_file(),
        "the receipt of {name} is kept"
    );
    std::fs::read(&sent[0]).unwrap()
}

/// A PNG-looking scan, distinct per `n`.
fn scan_bytes(n: u8) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..3000u32).map(|i| (i % 251) as u8 ^ n));
    png
}

fn hex_of(bytes: &[u8]) -> String {
    urna_model::protocol::hex(&urna_model::intake::sha256(bytes))
}

fn station_contest(b: &mut Browser) -> Value {
    let (_, v) = b.call("GET", "/api/progress", None);
    v["contests"][0].clone()
}

#[test]
fn a_station_signs_its_own_protocol_and_its_queue_reaches_the_log() {
    let (e, server, log_key) = Election::served();
    let one = e.station_dir("ps1");

    // Another key than the station's own is refused, naming the flag; so is plain HTTP to a
    // server off loopback.
    let refused = |key: &str, extra: &[&str]| {
        let out = urna()
            .args(["station", "--data", p(&one), "--definition"])
            .arg(&e.definition)
            .args(["--station", "PS-0000001", "--key"])
            .arg(e.key(key))
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = refused("PS-0000002", &[]);
    assert!(err.contains("--key") && err.contains("PS-0000001"), "{err}");
    let err = refused(
        "PS-0000001",
        &["--to", "http://192.0.2.1:8080", "--log-key", &log_key],
    );
    assert!(err.contains("loopback"), "{err}");

    // Station 1 delivers in the background.
    let st1 = e.start(&one, "PS-0000001", Some((&server.url, &log_key)));
    let mut ana = login(&st1.addr, "ana", CHAIR_PW);
    let mut besa = login(&st1.addr, "besa", MEMBER_PW);
    // A difference: both are told so, and a new round opens.
    assert_eq!(ana.key("PS-0000001")["protocol"], json!("entering"));
    assert_eq!(besa.key_with("PS-0000001", 9)["protocol"], json!("differ"));
    let c = station_contest(&mut ana);
    assert_eq!(
        (c["round"].clone(), c["last"].clone()),
        (json!(2), json!("differ")),
        "{c}"
    );
    // Round 2, with the scan of the paper: equal, signed with the station's key, queued with
    // its scan, both delivered.
    let scan1 = scan_bytes(1);
    let (status, v) = ana.upload(
        &format!("/api/scans/{}/PS-0000001", urna_sim::CONTEST_ID),
        &scan1,
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(ana.key("PS-0000001")["protocol"], json!("entering"));
    assert_eq!(besa.key("PS-0000001")["protocol"], json!("signed"));
    let v = ana.wait("station 1 delivered", "/api/progress", |v| {
        v["delivered"] == json!(1)
    });
    assert_eq!(v["contests"][0]["queue"], json!("delivered"), "{v}");
    let note = sent_note(&one.join("queue"));
    let parsed = Note::parse(&note).unwrap();
    assert_eq!(parsed.signatures().len(), 1);
    assert_eq!(parsed.signatures()[0].name, "PS-0000001");
    assert_eq!(
        urna_model::scan::named_scan(&note),
        Some(urna_model::intake::sha256(&scan1))
    );
    assert_eq!(
        std::fs::read(e.data.join("scans").join(hex_of(&scan1))).unwrap(),
        scan1
    );
    drop(st1);

    // Station 2 has no --to: its queue waits, and `urna submit` delivers it while the
    // station runs.
    let two = e.station_dir("ps2");
    let st2 = e.start(&two, "PS-0000002", None);
    let mut ana = login(&st2.addr, "ana", CHAIR_PW);
    let mut besa = login(&st2.addr, "besa", MEMBER_PW);
    let scan2 = scan_bytes(2);
    let (status, v) = besa.upload(
        &format!("/api/scans/{}/PS-0000002", urna_sim::CONTEST_ID),
        &scan2,
    );
    assert_eq!(status, 200, "{v}");
    ana.key("PS-0000002");
    assert_eq!(besa.key("PS-0000002")["protocol"], json!("signed"));
    assert_eq!(station_contest(&mut ana)["queue"], json!("queued"));
    let queue = two.join("queue");
    let out = run(
        &[
            "submit",
            "--to",
            &server.url,
            "--log-key",
            &log_key,
            "--queue",
            p(&queue),
        ],
        0,
    );
    assert!(out.contains("stored 2 accepted PS-0000002"), "{out}");
    assert_eq!(station_contest(&mut ana)["queue"], json!("delivered"));
    sent_note(&queue);
    // The scan travelled in the queue and went after its note.
    assert_eq!(
        std::fs::read(e.data.join("scans").join(hex_of(&scan2))).unwrap(),
        scan2
    );
    drop(st2);
    assert!(server.stop().success());

    // In the log, each signed by its own station, the scans published; `urna verify` accepts
    // both and hashes both scans.
    let bundle = e.dir.path().join("bundle");
    run(&["publish", "--data", p(&e.data), "--out", p(&bundle)], 0);
    let out = run(&["verify", p(&bundle), "--log-key", &log_key], 0);
    assert!(
        out.contains("2 entries' signatures checked and replayed (2 protocols")
            && out.contains("2 counted, 0 quarantined")
            && out.contains("VERIFIED"),
        "{out}"
    );
    // The audit trail of station 1 names the difference, the signing and the delivery.
    let audit = run(&["desk", "audit-export", "--data", p(&one)], 0);
    for action in ["difference", "signed", "queued", "delivered"] {
        assert!(
            audit.contains(&format!("\"action\":\"{action}\"")),
            "{action}: {audit}"
        );
    }
}

#[test]
fn station_in_the_browser_the_chair_keys_the_protocol_in_albanian() {
    let Some(tools) = crate::web::Tools::find("station_in_the_browser", false) else {
        return;
    };
    let e = Election::new();
    let data = e.station_dir("ps1");
    let station = e.start(&data, "PS-0000001", None);
    let registered: u64 = std::fs::read_to_string(e.definition.with_file_name("stations.csv"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    let url = format!("http://{}", station.addr);

    let b = crate::web::Browser::start(&tools, (1200, 900));
    b.goto(&format!("{url}/?lang=sq"));
    focus(&b, "#login-name");
    type_keys(&b, "ana");
    focus(&b, "#login-password");
    type_keys(&b, &format!("{CHAIR_PW}\u{E007}"));
    // No password change: the chair chose it at init. The screen names the station and the
    // seat; the station is fixed, the one contest filled in.
    b.wait_for(
        "the claim form",
        "return !document.getElementById('typist').hidden || null;",
        &[],
    );
    assert_eq!(
        b.js("return document.getElementById('title').textContent;", &[]),
        json!("Qendra e votimit")
    );
    assert_eq!(
        b.js("return document.getElementById('who').textContent;", &[]),
        json!("ana (Kryetari), qendra e votimit PS-0000001")
    );
    assert_eq!(
        b.js(
            "const s = document.getElementById('claim-station'); return [s.value, s.readOnly, document.getElementById('claim-contest').value];",
            &[]
        ),
        json!(["PS-0000001", true, urna_sim::CONTEST_ID])
    );
    focus(&b, "#claim-contest");
    type_keys(&b, "\u{E007}");
    b.wait_for(
        "the entry form",
        "return document.querySelector('#entry-lines input') && !document.getElementById('entry').hidden || null;",
        &[],
    );
    // Keyed with the keyboard only; a wrong `valid` is flagged with its rule, then fixed.
    let error = key_fixing_valid(&b, &paper(&b, registered));
    assert!(error.starts_with("gabim "), "{error}");
    b.wait_for(
        "the entry finished",
        "return document.getElementById('status').textContent.startsWith('Futja përfundoi') || null;",
        &[],
    );
    let row = b.wait_for(
        "the station's round",
        "const r = document.querySelector('#progress-rows tr td'); return r && r.textContent.includes('raundi 1') ? r.textContent : null;",
        &[],
    );
    assert_eq!(row, json!("raundi 1: 1 nga 2 futje të përfunduara"));
    // The member keys the same numbers: signed. The chair's row says so and shows what the
    // station's key signed.
    let mut besa = login(&station.addr, "besa", MEMBER_PW);
    assert_eq!(besa.key("PS-0000001")["protocol"], json!("signed"));
    let signed = b.wait_for(
        "what was signed, on the chair's page",
        "const s = document.querySelector('#progress-rows tr td details summary'); const p = document.querySelector('#progress-rows tr td details pre'); return s && p ? [s.textContent, p.textContent] : null;",
        &[],
    );
    let (status, v) = besa.call("GET", "/api/progress", None);
    assert_eq!(status, 200, "{v}");
    let hash = v["contests"][0]["sha256"].as_str().unwrap();
    assert_eq!(
        signed,
        json!([
            format!("çfarë u nënshkrua (sha256:{})", &hash[..16]),
            v["contests"][0]["text"]
        ])
    );
    if let Some(dir) = std::env::var_os("URNA_SCREENSHOTS") {
        b.screenshot(&Path::new(&dir).join("station-chair-sq.png"));
    }
}

/// Forwards every connection to `listener` to `to`, both ways, in the background.
fn forward(listener: std::net::TcpListener, to: String) {
    use std::net::{Shutdown, TcpStream};
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut a) = conn else { break };
            let Ok(mut b) = TcpStream::connect(&to) else {
                continue;
            };
            let (mut a2, mut b2) = (a.try_clone().unwrap(), b.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut a2, &mut b2);
                let _ = b2.shutdown(Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut b, &mut a);
                let _ = a.shutdown(Shutdown::Write);
            });
        }
    });
}

#[test]
fn a_station_keeps_retrying_until_the_server_answers() {
    let (e, server, log_key) = Election::served();
    // The station is told an address where nothing listens yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let to = format!("http://127.0.0.1:{port}");
    let data = e.station_dir("ps1");
    let station = e.start(&data, "PS-0000001", Some((&to, &log_key)));
    let mut ana = login(&station.addr, "ana", CHAIR_PW);
    let mut besa = login(&station.addr, "besa", MEMBER_PW);
    ana.key("PS-0000001");
    assert_eq!(besa.key("PS-0000001")["protocol"], json!("signed"));
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(station_contest(&mut ana)["queue"], json!("queued"));
    // The connection comes back: the next pass delivers, the receipt is kept.
    forward(
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap(),
        server.addr.clone(),
    );
    ana.wait("delivered once the server answers", "/api/progress", |v| {
        v["delivered"] == json!(1)
    });
    let note = sent_note(&data.join("queue"));
    assert_eq!(
        Note::parse(&note).unwrap().signatures()[0].name,
        "PS-0000001"
    );
    drop(station);
    assert!(server.stop().success());
}

/// The notes waiting in a queue directory (not sent, not refused).
fn waiting_notes(queue: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(queue)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "note"))
        .collect()
}

/// `kill -9` of the real station between the two writes of a signature: the note durable in
/// the queue, `desk.sqlite` not yet committed. After the restart the station takes the queued
/// note as signed (the board sees it signed, with what was signed and where its note is),
/// and numbers keyed afterwards are not signed over it: one note in the queue, the first.
#[test]
fn a_station_killed_between_queue_and_database_keeps_the_queued_note() {
    killed_between_queue_and_database(false);
}

/// As above, but `urna submit --queue` delivered the note before the station started again:
/// the station takes the delivered note as signed, and shows it in the log.
#[test]
fn a_station_killed_between_queue_and_database_keeps_a_note_delivered_meanwhile() {
    killed_between_queue_and_database(true);
}

fn killed_between_queue_and_database(deliver_meanwhile: bool) {
    let (e, server) = if deliver_meanwhile {
        let (e, server, log_key) = Election::served();
        (e, Some((server, log_key)))
    } else {
        (Election::new(), None)
    };
    let data = e.station_dir("ps1");
    let marker = e.dir.path().join("held");
    let st = e.start_holding(&data, &marker);
    let mut ana = login(&st.addr, "ana", CHAIR_PW);
    let mut besa = login(&st.addr, "besa", MEMBER_PW);
    assert_eq!(ana.key("PS-0000001")["protocol"], json!("entering"));
    let id = besa.fill("PS-0000001", 10);
    // The finish that signs, sent by hand: its answer never comes.
    let (cookie, csrf) = besa.credentials();
    let body = json!({ "csrf": csrf }).to_string();
    let mut conn = std::net::TcpStream::connect(&st.addr).unwrap();
    write!(
        conn,
        "POST /api/entries/{id}/finish HTTP/1.1\r\nHost: desk\r\nConnection: close\r\nCookie: urna_desk={cookie}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    wait_for(&marker);
    drop(st); // SIGKILL
    drop(conn);
    let queue = data.join("queue");
    let queued = waiting_notes(&queue);
    assert_eq!(queued.len(), 1, "{queued:?}");
    let first = std::fs::read(&queued[0]).unwrap();
    let mut place = "queued";
    if let Some((server, log_key)) = &server {
        let out = run(
            &[
                "submit",
                "--to",
                &server.url,
                "--log-key",
                log_key,
                "--queue",
                p(&queue),
            ],
            0,
        );
        assert!(out.contains("stored"), "{out}");
        assert_eq!(sent_note(&queue), first);
        place = "delivered";
    }

    // Restarted (delivering, when there is a server): the protocol is signed with the queued
    // note, and the board is shown so.
    let to = server.as_ref().map(|(s, k)| (s.url.as_str(), k.as_str()));
    let st = e.start(&data, "PS-0000001", to);
    let mut ana = login(&st.addr, "ana", CHAIR_PW);
    let mut besa = login(&st.addr, "besa", MEMBER_PW);
    let c = station_contest(&mut ana);
    // Delivered as soon as the station's first pass finds the receipt in the queue.
    let states = if deliver_meanwhile {
        &["signed", "delivered"][..]
    } else {
        &["signed"][..]
    };
    assert!(states.iter().any(|s| c["state"] == json!(s)), "{c}");
    assert_eq!(c["queue"], json!(place), "{c}");
    assert_eq!(c["sha256"], json!(hex_of(&first)), "{c}");
    let text = Note::parse(&first).unwrap().text().to_owned();
    assert_eq!(c["text"], json!(text), "{c}");
    // Other numbers keyed now are not signed: the claim is refused.
    let (status, v) = ana.call(
        "POST",
        "/api/claim",
        Some(json!({"contest": urna_sim::CONTEST_ID, "station": "PS-0000001"})),
    );
    assert_ne!(status, 200, "{v}");
    // Nor is the entry whose finish was cut off: nothing new is signed over the first note
    // (once delivered, the round is closed).
    let (status, v) = besa.call(
        "POST",
        &format!("/api/entries/{id}/finish"),
        Some(json!({})),
    );
    assert_eq!(status, 409, "{v}");
    assert!(
        v["error"] == json!("already-signed")
            || deliver_meanwhile && v["error"] == json!("not-open"),
        "{v}"
    );
    let expect_waiting = if deliver_meanwhile {
        Vec::new()
    } else {
        queued
    };
    assert_eq!(waiting_notes(&queue), expect_waiting);
    let audit = run(&["desk", "audit-export", "--data", p(&data)], 0);
    assert!(
        audit.contains("\"action\":\"recovered\"") && audit.contains(&hex_of(&first)),
        "{audit}"
    );
    if deliver_meanwhile {
        // The station's delivery finds the note answered in the queue and records the
        // receipt kept there: its trail says delivered, naming the log entry, without sending
        // the note again.
        let t = std::time::Instant::now();
        let audit = loop {
            let audit = run(&["desk", "audit-export", "--data", p(&data)], 0);
            if audit.contains("\"action\":\"delivered\"") {
                break audit;
            }
            assert!(t.elapsed() < std::time::Duration::from_secs(60), "{audit}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert!(
            audit.contains("log entry 1 (stored; its receipt found in the queue)"),
            "{audit}"
        );
    }
    drop(st);
    if let Some((server, _)) = server {
        assert!(server.stop().success());
    }
}

/// Waits up to a minute for the test's crash point to write `marker`.
fn wait_for(marker: &Path) {
    let t = std::time::Instant::now();
    while !marker.is_file() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(60),
            "the station never reached the crash point"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `kill -9` of the real station between the two writes of a delivery: the log's receipt
/// recorded in `desk.sqlite` with its trail line, the note not yet out of the queue. The
/// trail says delivered before the queue does (the board is never shown a delivery its trail
/// lacks); after the restart the note is sent again, the log answers with the same entry, the
/// note leaves the queue, and the trail says delivered once.
#[test]
fn a_station_killed_between_database_and_queue_on_delivery_sends_again_and_says_so_once() {
    let (e, server, log_key) = Election::served();
    let data = e.station_dir("ps1");
    let queue = data.join("queue");
    let marker = e.dir.path().join("held");
    let mut command = e.command(&data, "PS-0000001", Some((&server.url, &log_key)));
    command.env(urna_desk::station::HOLD_AFTER_DELIVERED_ENV, &marker);
    let st = spawn_listening(command, "urna station: listening on http://");
    let mut ana = login(&st.addr, "ana", CHAIR_PW);
    let mut besa = login(&st.addr, "besa", MEMBER_PW);
    assert_eq!(ana.key("PS-0000001")["protocol"], json!("entering"));
    assert_eq!(besa.key("PS-0000001")["protocol"], json!("signed"));
    wait_for(&marker);
    drop(st); // SIGKILL
    let queued = waiting_notes(&queue);
    assert_eq!(queued.len(), 1, "{queued:?}");
    let note = std::fs::read(&queued[0]).unwrap();
    let delivered_lines = |audit: &str| audit.matches("\"action\":\"delivered\"").count();
    let audit = run(&["desk", "audit-export", "--data", p(&data)], 0);
    assert_eq!(delivered_lines(&audit), 1, "{audit}");

    let st = e.start(&data, "PS-0000001", Some((&server.url, &log_key)));
    let mut ana = login(&st.addr, "ana", CHAIR_PW);
    let v = ana.wait("the note sent again", "/api/progress", |v| {
        v["delivered"] == json!(1)
    });
    assert_eq!(v["contests"][0]["queue"], json!("delivered"), "{v}");
    assert_eq!(sent_note(&queue), note);
    drop(st);
    let audit = run(&["desk", "audit-export", "--data", p(&data)], 0);
    assert_eq!(delivered_lines(&audit), 1, "{audit}");
    assert!(server.stop().success());
    // One entry in the log, the note's.
    let bundle = e.dir.path().join("bundle");
    run(&["publish", "--data", p(&e.data), "--out", p(&bundle)], 0);
    let out = run(&["verify", p(&bundle), "--log-key", &log_key], 0);
    assert!(
        out.contains("1 entries' signatures checked") && out.contains("VERIFIED"),
        "{out}"
    );
}
