//! `urna serve` end to end, over real HTTP to the real binary: receipts that verify, every
//! refusal with its status and nothing stored, overload answered 503, a clean drain on
//! SIGTERM, and `kill -9` under load losing no receipt any client holds.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use urna_model::note::{Note, NoteVerifier};
use urna_model::pack::PackReader;
use urna_model::protocol::{BodyKind, hex};
use urna_model::receipt::Receipt;
use urna_sim::{SimConfig, Simulation};
use urna_tlog::checkpoint::Checkpoint;
use urna_tlog::hash::{Hash, LeafIndex, TreeSize, leaf_hash};
use urna_tlog::proof::verify_inclusion;

use crate::server::{Server, get, post_note, raw, read_response};
use crate::{init, p, run};

/// Entry 0 of every log is the genesis `urna init` writes: the first protocol gets index 1,
/// and `urna status` counts it among the entries.
const GENESIS: u64 = 1;

/// `urna sim` of `stations` with the CLI's defaults, and the same simulation in memory (to
/// sign notes the tests need).
fn sim(dir: &Path, stations: u32) -> Simulation {
    run(
        &[
            "sim",
            "--out",
            p(&dir.join("sim")),
            "--stations",
            &stations.to_string(),
        ],
        0,
    );
    init(&dir.join("sim"), &dir.join("data"));
    Simulation::new(SimConfig {
        seed: 2025,
        stations,
        districts: 12,
        error_rate_per_10k: 200,
        ..SimConfig::default()
    })
}

fn notes(pack: &Path) -> Vec<Vec<u8>> {
    PackReader::new(std::fs::File::open(pack).unwrap())
        .map(Result::unwrap)
        .collect()
}

fn log_key(data: &Path) -> NoteVerifier {
    NoteVerifier::from_vkey(run(&["log", "key", "--data", p(data)], 0).trim()).unwrap()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    urna_model::intake::sha256(bytes)
}

/// Checks a 200/201 answer: its receipt is signed by the log and names this index and entry.
fn check_receipt(answer: &serde_json::Value, key: &NoteVerifier, entry: &[u8; 32]) -> u64 {
    let index = answer["index"].as_u64().unwrap();
    assert_eq!(answer["entry"], format!("sha256:{}", hex(entry)));
    let note = Note::parse(answer["receipt"].as_str().unwrap().as_bytes()).unwrap();
    key.verify(&note).unwrap();
    let receipt = Receipt::parse(note.text()).unwrap();
    assert_eq!(receipt.log, key.name());
    assert_eq!(receipt.index, index);
    assert_eq!(&receipt.entry, entry);
    index
}

fn entries(data: &Path) -> u64 {
    let status = run(&["status", "--data", p(data)], 0);
    let line = status
        .lines()
        .find(|l| l.starts_with("entries:"))
        .unwrap()
        .to_owned();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn intake_over_http_answers_receipts_and_refuses_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(dir.path(), 200);
    let data = dir.path().join("data");
    let key = log_key(&data);
    let server = Server::start(&data, &["--body-timeout-ms", "500"]);
    let addr = server.addr.as_str();

    // A protocol: 201 with a receipt the log signed; the same note again: 200 duplicate.
    let s0 = sim.station(0);
    let note0 = sim.protocol_note(&s0);
    let r = post_note(addr, &note0);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let first = r.json();
    assert!(matches!(
        first["status"].as_str(),
        Some("accepted" | "quarantined")
    ));
    assert_eq!(first["station"], s0.id.as_str());
    let index0 = check_receipt(&first, &key, &sha256(&note0));
    assert_eq!(index0, GENESIS, "the first protocol follows the genesis");
    let again = post_note(addr, &note0);
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["status"], "duplicate");
    assert_eq!(check_receipt(&again.json(), &key, &sha256(&note0)), index0);
    let mut stored = 1;

    // An erroneous station: its protocol is quarantined, its amendment co-signed by the
    // commission supersedes it.
    let amended = sim.first_amended().unwrap();
    let protocol = sim.protocol_note(&amended);
    if amended.id != s0.id {
        let r = post_note(addr, &protocol);
        assert_eq!(r.status, 201);
        assert_eq!(r.json()["status"], "quarantined");
        stored += 1;
    }

    let refuse = |note: &[u8], status: u16, code: &str, field: Option<&str>| {
        let r = post_note(addr, note);
        let body = String::from_utf8_lossy(&r.body).into_owned();
        assert_eq!(r.status, status, "{body}");
        let e = &r.json()["error"];
        assert_eq!(e["code"], code, "{body}");
        assert!(!e["message"].as_str().unwrap().is_empty());
        match field {
            Some(f) => assert_eq!(e["field"], f, "{body}"),
            None => assert!(e["field"].is_null() || e["field"].is_string()),
        }
    };

    // An "authority action" signed by a station key: the amendment co-signed by another
    // station instead of the commission.
    let mut body = amended.correct.clone().unwrap();
    body.revision = 2;
    body.kind = BodyKind::Amendment {
        supersedes: sha256(&protocol),
        reason: "corrected".into(),
    };
    let mut fake = Note::unsigned(&body.to_text()).unwrap();
    fake.sign(&amended.signer);
    fake.sign(&sim.station(150).signer);
    refuse(
        &fake.to_bytes(),
        403,
        "bad-authority",
        Some("authority signature"),
    );
    // The real amendment is stored.
    let amendment = sim.amendment_note(&amended, &protocol).unwrap();
    let r = post_note(addr, &amendment);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    check_receipt(&r.json(), &key, &sha256(&amendment));
    stored += 1;

    // The simulation's attacks: a protocol signed by station A for station B, a protocol
    // altered after signing, a replay of a superseded revision.
    let attacks = sim.attacks();
    refuse(&attacks[0].1, 403, "bad-signature", Some("signature"));
    refuse(&attacks[1].1, 403, "bad-signature", Some("signature"));
    refuse(&attacks[2].1, 409, "replay", Some("revision"));

    // Malformed UTF-8, a note of another election, an oversize body.
    refuse(b"\xff\xfe not a note\n", 400, "malformed-note", None);
    let other = sim
        .station(3)
        .signer
        .sign_text(
            &sim.station(3)
                .body
                .to_text()
                .replace("election: ", "election: x-"),
        )
        .to_bytes();
    refuse(&other, 422, "wrong-election", Some("election"));
    // A malformed body names its field, as its message does.
    let st4 = sim.station(4);
    let bad_count = st4
        .signer
        .sign_text(&st4.body.to_text().replace("registered: ", "registered: x"))
        .to_bytes();
    refuse(&bad_count, 400, "malformed-body", Some("registered"));
    let big = vec![b'a'; 70_000];
    let r = post_note(addr, &big);
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"]["code"], "too-large");
    // A declared length over the limit is refused on the header, before any body (the body
    // timeout of 500 ms would answer 408 otherwise).
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /v1/protocols HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"]["code"], "too-large");

    // A slow body: headers promise 200 bytes, 10 arrive, then nothing.
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /v1/protocols HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\nConnection: close\r\n\r\n0123456789"
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status, 408);
    assert_eq!(r.json()["error"]["code"], "body-timeout");

    // Path traversal and hidden files: never a file outside the bundle.
    server.wait_bundle(GENESIS + stored);
    for path in [
        "/../secrets/log.key",
        "/%2e%2e/secrets/log.key",
        "/tile/../../urna.sqlite",
        "/tile/0/../../../secrets/log.key",
        "/v1/..%2f..%2furna.sqlite",
        "/.current",
        "/tile/9/000",
        "/tile/0/x1/000",
    ] {
        let r = raw(
            addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert!(
            r.status == 404 || r.status == 400,
            "{path}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        let text = String::from_utf8_lossy(&r.body);
        assert!(!text.contains("PRIVATE+KEY"), "{path} leaked a key");
        assert!(
            !text.contains("SQLite format"),
            "{path} leaked the database"
        );
    }

    // Nothing refused was stored.
    assert!(server.stop().success());
    assert_eq!(entries(&data), GENESIS + stored);
}

/// A second writer on the data directory of a running `urna serve` (here `urna audit start`,
/// which would append to the log) is refused at once, naming the directory and the server's
/// pid; the server goes on taking protocols. `urna status` still answers, from the files.
#[test]
fn a_second_writer_is_refused_while_the_server_runs_and_intake_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(dir.path(), 20);
    let data = dir.path().join("data");
    let key = log_key(&data);
    let server = Server::start(&data, &[]);
    let addr = server.addr.as_str();
    let note = sim.protocol_note(&sim.station(0));
    assert_eq!(post_note(addr, &note).status, 201);

    let cec = dir.path().join("sim/secrets/central-commission.key");
    let out = crate::urna()
        .args(["audit", "start", "--data", p(&data), "--key", p(&cec)])
        .args(["--rules", "generic", "--seats", "1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains(&format!(
            "data directory {} is in use by another urna process (pid ",
            data.display()
        )) && text.contains(", `urna serve`); stop it, or submit through it"),
        "{text}"
    );

    // Intake is unharmed: the next protocol is stored and its receipt verifies.
    let note = sim.protocol_note(&sim.station(1));
    let r = post_note(addr, &note);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(check_receipt(&r.json(), &key, &sha256(&note)), GENESIS + 1);

    // `urna status` is a reader while the server holds the directory.
    let status = run(&["status", "--data", p(&data)], 0);
    assert!(
        status.contains("is in use by another urna process"),
        "{status}"
    );
    assert!(status.contains("entries:    3 stored"), "{status}");
    assert!(server.stop().success());
    // Stopped (the lock goes with the process), the directory is free again.
    assert_eq!(entries(&data), GENESIS + 2);
}

/// Runs urna and returns (exit code, stdout, stderr).
fn output(args: &[&str]) -> (Option<i32>, String, String) {
    let out = crate::urna().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `urna tally`, `urna seats --data` and `urna log prove|consistency|checkpoint` read a data
/// directory that `urna serve` holds, read-only, and print what its writer prints once the
/// server has stopped.
#[test]
fn readers_answer_beside_the_server_as_its_writer_does() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(dir.path(), 12);
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let addr = server.addr.as_str();
    for i in 0..8 {
        let note = sim.protocol_note(&sim.station(i));
        assert_eq!(post_note(addr, &note).status, 201);
    }
    server.wait_bundle(GENESIS + 8);
    let station = sim.station(3).id;
    let commands: [&[&str]; 5] = [
        &["tally", "--data", p(&data)],
        &[
            "seats",
            "--data",
            p(&data),
            "--rules",
            "generic",
            "--seats",
            "5",
        ],
        &["log", "prove", "--data", p(&data), &station],
        &["log", "consistency", "--data", p(&data), "2"],
        &["log", "checkpoint", "--data", p(&data)],
    ];
    let beside: Vec<String> = commands
        .iter()
        .map(|args| {
            let (code, stdout, stderr) = output(args);
            assert_eq!(code, Some(0), "urna {args:?}\n{stdout}\n{stderr}");
            assert!(
                stderr.contains("is in use by another urna process")
                    && stderr.contains("reading it read-only"),
                "urna {args:?}: {stderr}"
            );
            stdout
        })
        .collect();
    // Every protocol committed so far; the sim's stations pass every rule but the few with
    // an injected error, which are quarantined: counted + quarantined = 8.
    assert!(
        beside[0].contains(" quarantined, 4 not reported"),
        "{}",
        beside[0]
    );
    assert!(
        beside[2].contains("checked: the entry is leaf"),
        "{}",
        beside[2]
    );
    // Intake went on while they read.
    let note = sim.protocol_note(&sim.station(8));
    assert_eq!(post_note(addr, &note).status, 201);
    server.wait_bundle(GENESIS + 9);
    assert!(server.stop().success());

    // The writer's answers: the same totals and seats (the ninth station's protocol added
    // to the tally), the same proofs against the same published checkpoint size.
    let writer: Vec<String> = commands
        .iter()
        .map(|args| {
            let (code, stdout, stderr) = output(args);
            assert_eq!(code, Some(0), "urna {args:?}\n{stdout}\n{stderr}");
            assert!(!stderr.contains("read-only"), "urna {args:?}: {stderr}");
            stdout
        })
        .collect();
    assert!(
        writer[0].contains(" quarantined, 3 not reported"),
        "{}",
        writer[0]
    );
    // Read-only at 9 stations now equals the writer: compare like with like.
    let server = Server::start(&data, &[]);
    let again: Vec<String> = commands.iter().map(|args| output(args).1).collect();
    assert_eq!(again, writer);
    assert!(server.stop().success());
}

#[test]
fn senders_of_slow_bodies_hold_no_intake_permit() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(dir.path(), 5);
    let data = dir.path().join("data");
    let server = Server::start(
        &data,
        &["--max-inflight", "1", "--body-timeout-ms", "30000"],
    );
    let addr = server.addr.as_str();
    // Two senders promise 200 bytes, send 10 and stop.
    let slow: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            write!(
                s,
                "POST /v1/protocols HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\nConnection: close\r\n\r\n0123456789"
            )
            .unwrap();
            s
        })
        .collect();
    // Let the server start reading both bodies.
    std::thread::sleep(Duration::from_millis(500));
    // A whole note is still taken in (with the permit taken before the body, 503).
    let s0 = sim.station(0);
    let r = post_note(addr, &sim.protocol_note(&s0));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    drop(slow);
    assert!(server.stop().success());
}

#[test]
fn overload_is_503_with_retry_after_and_sigterm_drains() {
    let dir = tempfile::tempdir().unwrap();
    sim(dir.path(), 600);
    let data = dir.path().join("data");
    let key = log_key(&data);
    let all = notes(&dir.path().join("sim/protocols.notes"));
    let server = Server::start(&data, &["--max-inflight", "2"]);
    let addr = server.addr.clone();

    // 16 clients at once against a bound of 2: some are told to come back later, none is
    // acknowledged without being stored, and retrying stores every note exactly once.
    let queue = Arc::new(Mutex::new((0..all.len()).collect::<Vec<_>>()));
    let receipts = Arc::new(Mutex::new(BTreeMap::new()));
    let busy = Arc::new(Mutex::new(0u32));
    std::thread::scope(|scope| {
        for _ in 0..16 {
            let (queue, receipts, busy, all, addr, key) =
                (&queue, &receipts, &busy, &all, &addr, &key);
            scope.spawn(move || {
                loop {
                    let Some(i) = queue.lock().unwrap().pop() else {
                        return;
                    };
                    let r = post_note(addr, &all[i]);
                    match r.status {
                        201 => {
                            let index = check_receipt(&r.json(), key, &sha256(&all[i]));
                            receipts.lock().unwrap().insert(i, index);
                        }
                        503 => {
                            assert_eq!(r.header("retry-after"), Some("1"));
                            assert_eq!(r.json()["error"]["code"], "overloaded");
                            *busy.lock().unwrap() += 1;
                            queue.lock().unwrap().insert(0, i);
                        }
                        s => panic!("status {s}: {}", String::from_utf8_lossy(&r.body)),
                    }
                }
            });
        }
    });
    assert!(
        *busy.lock().unwrap() > 0,
        "16 clients against a bound of 2 were never told 503"
    );
    let receipts = receipts.lock().unwrap().clone();
    assert_eq!(receipts.len(), all.len());
    let mut indices: Vec<u64> = receipts.values().copied().collect();
    indices.sort_unstable();
    assert_eq!(
        indices,
        (GENESIS..GENESIS + all.len() as u64).collect::<Vec<_>>()
    );

    // Metrics count what happened.
    drop(server);
    let server = Server::start(
        &data,
        &["--metrics-listen", "127.0.0.1:0", "--max-inflight", "64"],
    );
    let r = post_note(&server.addr, &all[0]);
    assert_eq!(r.status, 200);
    let m = get(server.metrics.as_deref().unwrap(), "/metrics");
    let text = String::from_utf8_lossy(&m.body);
    assert!(
        text.contains("urna_intake_total{outcome=\"duplicate\"} 1"),
        "{text}"
    );

    // SIGTERM while clients are sending: the server exits 0, and every note it acknowledged
    // is stored (sent again after a restart, each is a duplicate at its receipt's index).
    let extra = notes(&dir.path().join("sim/amendments.notes"));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let addr = server.addr.clone();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let (acked, extra, addr) = (&acked, &extra, &addr);
            scope.spawn(move || {
                for note in extra.iter().skip(t).step_by(4) {
                    let Ok(mut s) = TcpStream::connect(addr) else {
                        return;
                    };
                    let mut req = format!(
                        "POST /v1/protocols HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        note.len()
                    )
                    .into_bytes();
                    req.extend_from_slice(note);
                    if s.write_all(&req).is_err() {
                        return;
                    }
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        read_response(&mut s)
                    }));
                    match r {
                        Ok(r) if r.status == 201 => {
                            acked.lock().unwrap().push((note.clone(), r.json()));
                        }
                        Ok(r) => assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body)),
                        Err(_) => return,
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(30));
        assert!(server.stop().success());
    });
    let server = Server::start(&data, &[]);
    for (note, answer) in acked.lock().unwrap().iter() {
        let r = post_note(&server.addr, note);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["index"], answer["index"]);
    }
}

#[test]
fn kill9_under_load_loses_no_receipt() {
    let dir = tempfile::tempdir().unwrap();
    sim(dir.path(), 3000);
    let data = dir.path().join("data");
    let key = log_key(&data);
    let all = notes(&dir.path().join("sim/protocols.notes"));
    let server = Server::start(&data, &[]);
    let addr = server.addr.clone();
    let acked = Arc::new(Mutex::new(Vec::<(usize, u64)>::new()));
    std::thread::scope(|scope| {
        for t in 0..8 {
            let (acked, all, addr, key) = (&acked, &all, &addr, &key);
            scope.spawn(move || {
                for i in (t..all.len()).step_by(8) {
                    let mut req = format!(
                        "POST /v1/protocols HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        all[i].len()
                    )
                    .into_bytes();
                    req.extend_from_slice(&all[i]);
                    let Ok(mut s) = TcpStream::connect(addr) else {
                        return;
                    };
                    if s.write_all(&req).is_err() {
                        return;
                    }
                    let Ok(r) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        read_response(&mut s)
                    })) else {
                        return;
                    };
                    assert_eq!(r.status, 201);
                    let index = check_receipt(&r.json(), key, &sha256(&all[i]));
                    acked.lock().unwrap().push((i, index));
                }
            });
        }
        // Kill once a few hundred are acknowledged, while the rest are in flight.
        while acked.lock().unwrap().len() < 300 {
            std::thread::sleep(Duration::from_millis(5));
        }
        server.kill9();
    });
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 300 && acked.len() < all.len());

    // After a restart every acknowledged note is in the log at its receipt's index, and the
    // published checkpoint proves it.
    let server = Server::start(&data, &[]);
    for &(i, index) in &acked {
        let r = post_note(&server.addr, &all[i]);
        assert_eq!(
            r.status,
            200,
            "note {i}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.json()["index"], index);
    }
    let size = entries(&data).max(1);
    server.wait_bundle(size);
    for &(i, index) in acked.iter().step_by(37) {
        let r = get(&server.addr, &format!("/v1/proof/{index}"));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let proof = r.json();
        assert_eq!(proof["entry"].as_str().unwrap().as_bytes(), &all[i][..]);
        let note = Note::parse(proof["checkpoint"].as_str().unwrap().as_bytes()).unwrap();
        key.verify(&note).unwrap();
        let cp = Checkpoint::parse_text(note.text()).unwrap();
        use base64::Engine as _;
        let path: Vec<Hash> = proof["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                Hash::from_slice(
                    &base64::engine::general_purpose::STANDARD
                        .decode(h.as_str().unwrap())
                        .unwrap(),
                )
                .unwrap()
            })
            .collect();
        verify_inclusion(
            LeafIndex(index),
            TreeSize(cp.size.0),
            &leaf_hash(&all[i]),
            &path,
            &cp.root,
        )
        .unwrap();
    }
    assert!(server.stop().success());
}

#[test]
fn a_storage_failure_answers_500_then_503_and_the_server_still_stops() {
    let dir = tempfile::tempdir().unwrap();
    sim(dir.path(), 50);
    let data = dir.path().join("data");
    let all = notes(&dir.path().join("sim/protocols.notes"));
    let server = Server::start(&data, &[]);
    assert_eq!(post_note(&server.addr, &all[0]).status, 201);

    // The disk "fails": every insert from now on aborts.
    let side = rusqlite::Connection::open(data.join("urna.sqlite")).unwrap();
    side.execute_batch(
        "CREATE TRIGGER boom BEFORE INSERT ON entries BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;",
    )
    .unwrap();
    let r = post_note(&server.addr, &all[1]);
    assert_eq!(r.status, 500, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"]["code"], "intake-failed");
    // Intake stops: later notes are told to come back, health says so, nothing hangs.
    let mut stopped = false;
    for _ in 0..100 {
        let r = post_note(&server.addr, &all[2]);
        if r.status == 503 {
            assert_eq!(r.json()["error"]["code"], "intake-stopped");
            stopped = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(stopped, "intake never reported that it stopped");
    assert_eq!(get(&server.addr, "/healthz").status, 503);
    let status = server.stop();
    assert_eq!(status.code(), Some(2), "a failed intake is an error exit");

    // Once the disk is back, nothing acknowledged was lost and nothing refused was stored.
    side.execute_batch("DROP TRIGGER boom").unwrap();
    drop(side);
    let server = Server::start(&data, &[]);
    assert_eq!(post_note(&server.addr, &all[0]).status, 200);
    assert_eq!(post_note(&server.addr, &all[1]).status, 201);
    assert!(server.stop().success());
}

#[test]
fn under_a_low_open_file_limit_slow_clients_leave_intake_and_the_publisher_working() {
    // The server's open-file limit is 300, soft and hard, so it cannot raise it: the default
    // connection bound is (300 − 256) / 2 = 22. 320 slow clients, more than the limit, each
    // send one byte of a request line and then nothing.
    const LIMIT: &str = "300";
    const SLOW: usize = 320;
    const NOTES: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    sim(dir.path(), 50);
    let data = dir.path().join("data");
    let key = log_key(&data);
    let all = notes(&dir.path().join("sim/protocols.notes"));
    let mut prlimit = std::process::Command::new("prlimit");
    prlimit.args([
        &format!("--nofile={LIMIT}:{LIMIT}"),
        "--",
        env!("CARGO_BIN_EXE_urna"),
    ]);
    let server = Server::start_with(
        prlimit,
        &data,
        &[
            "--header-timeout-ms",
            "500",
            "--publish-ms",
            "50",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    assert_eq!(
        server.limits,
        format!("open-file limit {LIMIT} (the hard limit); at most 22 connections at once")
    );
    let addr = server.addr.clone();
    let slow = std::thread::scope(|scope| {
        let loader = scope.spawn(|| {
            let mut slow = Vec::new();
            let target: std::net::SocketAddr = addr.parse().unwrap();
            for _ in 0..SLOW {
                // A full listen backlog delays a connection; it does not refuse it.
                let Ok(mut s) = TcpStream::connect_timeout(&target, Duration::from_secs(30)) else {
                    continue;
                };
                if s.write_all(b"G").is_ok() {
                    slow.push(s);
                }
            }
            slow
        });
        // Under that load, every note still gets its receipt and the publisher still writes
        // bundle generations that cover them.
        for note in &all[..NOTES] {
            let r = post_note(&addr, note);
            assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
            check_receipt(&r.json(), &key, &sha256(note));
        }
        server.wait_bundle(GENESIS + NOTES as u64);
        loader.join().unwrap()
    });
    assert!(
        slow.len() > SLOW / 2,
        "only {} slow clients connected",
        slow.len()
    );
    // The server closed every slow client (the header timeout), and never ran out of files.
    for (i, mut s) in slow.into_iter().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut sink = Vec::new();
        if let Err(e) = std::io::Read::read_to_end(&mut s, &mut sink) {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset,
                "slow client {i} still open: {e}"
            );
        }
    }
    let m = get(server.metrics.as_deref().unwrap(), "/metrics");
    let text = String::from_utf8_lossy(&m.body);
    assert!(text.contains("urna_publish_failures_total 0"), "{text}");
    let stderr = server.stderr();
    assert!(!stderr.contains("open files"), "{stderr}");
    assert!(server.stop().success());
}
