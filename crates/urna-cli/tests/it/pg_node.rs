//! What a user of a `urna serve --store postgres://…` node gets beside intake, end to end with
//! the real binary and a real PostgreSQL, asked of a SQLite node holding the same log (the
//! same notes in the same order under the same log key) as the reference:
//! `GET /v1/proof/<index>` gives the same bytes on the sequencing node and on a node that does
//! not sequence as on the SQLite node (proofs, and each refusal); `/metrics` on the metrics
//! listener carries every SQLite metric with the same intake counts, plus whether the node
//! sequences, whether it reaches the database, and its name; `PUT /v1/scans/<sha256>` gives the
//! SQLite node's answers (before the note naming the scan is stored, after it on a node that did
//! not take the note, again, and each refusal), the scan is in the database before the answer,
//! a node started later and `urna publish --store` publish it with the bytes the SQLite node's
//! bundle holds, `urna verify` says VERIFIED, and a scan row edited in the database is refused
//! at open; a malformed audit note is refused with the SQLite node's answer, nothing stored.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use urna_model::note::NoteSigner;
use urna_model::pack::PackReader;

use urna_model::protocol::hex;
use urna_sim::{SimConfig, Simulation};

use crate::pg_cluster::{Cluster, free_addr, init_store, sim, wait_signed};
use crate::pg_publish::publish_pg;
use crate::server::{Response, Server, get, post_note, raw};
use crate::{p, run, urna};
use urna_testkit::pg::PgServer;

fn notes(path: &Path) -> Vec<Vec<u8>> {
    PackReader::new(std::fs::File::open(path).unwrap())
        .map(Result::unwrap)
        .collect()
}

/// Status and body, for comparing two nodes' answers.
fn answer(r: &Response) -> (u16, String) {
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

/// The lines of a metrics text that start with `prefix`.
fn lines(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// `PUT {path}` with `body` to `addr`.
fn put_scan(addr: &str, path: &str, body: &[u8]) -> Response {
    let mut req = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw(addr, &req)
}

/// The same `PUT` to the SQLite node and to a PostgreSQL node: the same status and body.
fn same_scan_answer(lite: &str, node: &str, path: &str, body: &[u8], status: u16) -> Response {
    let (l, g) = (put_scan(lite, path, body), put_scan(node, path, body));
    assert_eq!(answer(&g), answer(&l), "PUT {path} on {node}");
    assert_eq!(g.status, status, "PUT {path}: {:?}", answer(&g));
    assert_eq!(g.header("content-type"), l.header("content-type"));
    g
}

fn metrics(addr: SocketAddr) -> String {
    let r = get(&addr.to_string(), "/metrics");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    String::from_utf8(r.body).unwrap()
}

#[test]
fn pg_nodes_answer_proofs_metrics_scans_and_audit_refusals_as_a_sqlite_node_of_the_same_log() {
    let Some(pg) = PgServer::start() else { return };
    let url = pg.database("node");
    let dir = tempfile::tempdir().unwrap();
    let src = sim(dir.path(), "300", &["--error-rate", "500"]);
    let definition = src.join("election.toml");
    // One log on both engines: the SQLite data directory's log key is the PostgreSQL store's.
    let data = dir.path().join("data");
    run(
        &["init", "--definition", p(&definition), "--data", p(&data)],
        0,
    );
    let key = data.join(urna_store::log::LOG_KEY_FILE);
    let (_, signer) = init_store(&url, &definition, &key, &[]);
    let vkey = signer.verifier().to_vkey();
    let lite = Server::start(
        &data,
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--publish-ms",
            "100",
            "--checkpoint-ms",
            "100",
        ],
    );
    let cluster = Cluster {
        url: url.clone(),
        definition: definition.clone(),
        key: key.clone(),
    };
    let log = Arc::new(Mutex::new(String::new()));
    let (addr_a, addr_b, metrics_a, metrics_b) =
        (free_addr(), free_addr(), free_addr(), free_addr());
    let _node_a = cluster.start_with(
        "node-a",
        addr_a,
        Arc::clone(&log),
        &["--metrics-listen", &metrics_a.to_string()],
    );
    let _node_b = cluster.start_with(
        "node-b",
        addr_b,
        Arc::clone(&log),
        &["--metrics-listen", &metrics_b.to_string()],
    );
    let (a, b) = (addr_a.to_string(), addr_b.to_string());

    // The same notes in the same order to both engines (each answered after its commit, so
    // the order is the log's): the same answers but for the receipt's time.
    let mut sent = notes(&src.join("protocols.notes"));
    sent.extend(notes(&src.join("amendments.notes")));
    let resent = sent[7].clone();
    sent.push(resent);
    sent.push(b"urna/protocol/v1\nnot a note\n".to_vec());
    // The simulation `urna sim` wrote (the same seed and stations): two stations without an
    // injected error; the first one's protocol names the scan of its paper protocol instead,
    // the second one's is sent last, after the scan.
    let simulation = Simulation::new(SimConfig {
        stations: 300,
        error_rate_per_10k: 500,
        ..SimConfig::default()
    });
    let mut plain = (0..300)
        .rev()
        .map(|i| simulation.station(i))
        .filter(|s| s.correct.is_none());
    let (scanned, held) = (plain.next().unwrap(), plain.next().unwrap());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..5000u32).map(|i| (i % 251) as u8));
    let sha = urna_model::intake::sha256(&png);
    let scan_path = format!("/v1/scans/{}", hex(&sha));
    let at = sent
        .iter()
        .position(|n| *n == simulation.protocol_note(&scanned))
        .expect("the simulation is the one `urna sim` wrote");
    let mut body = scanned.body.clone();
    body.scan = Some(sha);
    sent[at] = scanned.signer.sign_text(&body.to_text()).to_bytes();
    let held_note = simulation.protocol_note(&held);
    let at = sent.iter().position(|n| *n == held_note).unwrap();
    sent.remove(at);
    // Before a stored note names it, neither engine takes the scan.
    let r = same_scan_answer(&lite.addr, &a, &scan_path, &png, 404);
    assert_eq!(r.json()["error"]["code"], "scan-not-named");
    let mut stored = 0u64;
    for note in &sent {
        let (l, g) = (post_note(&lite.addr, note), post_note(&a, note));
        assert_eq!(l.status, g.status, "{:?} {:?}", answer(&l), answer(&g));
        if l.status < 300 {
            let (l, g) = (l.json(), g.json());
            for field in ["status", "index", "station", "entry"] {
                assert_eq!(l[field], g[field], "{field}: {l} {g}");
            }
            if l["status"] != "duplicate" {
                stored += 1;
            }
        } else {
            assert_eq!(answer(&l), answer(&g));
        }
    }

    // 0. The scan, once its note is stored (taken by node a; sent to node b, which reads the
    // note from the database): stored, then a duplicate on the other node, and each refusal,
    // with the SQLite node's answers.
    let r = same_scan_answer(&lite.addr, &b, &scan_path, &png, 201);
    assert_eq!(r.json()["status"], "stored");
    assert_eq!(r.json()["scan"], format!("sha256:{}", hex(&sha)));
    let mut admin = urna_pg::connect(&url).unwrap();
    let row: Vec<u8> = admin
        .query_one(
            "SELECT data FROM scans WHERE sha256 = $1",
            &[&sha.as_slice()],
        )
        .unwrap()
        .get(0);
    assert_eq!(row, png, "stored in the database before the answer");
    let r = same_scan_answer(&lite.addr, &a, &scan_path, &png, 200);
    assert_eq!(r.json()["status"], "duplicate");
    let r = same_scan_answer(&lite.addr, &b, &scan_path, &png, 200);
    assert_eq!(r.json()["status"], "duplicate");
    let r = same_scan_answer(&lite.addr, &a, &scan_path, &png[..100], 400);
    assert_eq!(r.json()["error"]["code"], "scan-hash-mismatch");
    let r = same_scan_answer(&lite.addr, &b, "/v1/scans/ABC", &png, 400);
    assert_eq!(r.json()["error"]["code"], "bad-scan-path");
    let other = urna_model::intake::sha256(b"a scan no note names");
    let r = same_scan_answer(
        &lite.addr,
        &a,
        &format!("/v1/scans/{}", hex(&other)),
        &png,
        404,
    );
    assert_eq!(r.json()["error"]["code"], "scan-not-named");
    let too_large = |addr: &str| {
        let req = format!(
            "PUT {scan_path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 9000000\r\nConnection: close\r\n\r\n"
        );
        answer(&raw(addr, req.as_bytes()))
    };
    assert_eq!(too_large(&a), too_large(&lite.addr));
    assert_eq!(too_large(&a).0, 413);
    let count: i64 = admin
        .query_one("SELECT count(*) FROM scans", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 1, "only the named scan's row");
    // The held protocol, so that both engines publish a checkpoint after the scan.
    let (l, g) = (post_note(&lite.addr, &held_note), post_note(&a, &held_note));
    assert_eq!((l.status, g.status), (201, 201), "{:?}", answer(&g));
    stored += 1;

    let entries = 1 + stored;
    assert!(entries > 300 && entries < 512, "{entries} entries");
    lite.wait_bundle(entries);
    let c = wait_signed(&url, &log, "every entry signed", |c| c.entries == entries);
    assert_eq!(c.published, None, "no witness policy");

    // One log: the same checkpoint from the SQLite bundle and from the database.
    let checkpoint = get(&lite.addr, "/checkpoint");
    assert_eq!(checkpoint.status, 200);
    for node in [&a, &b] {
        assert_eq!(
            answer(&get(node, "/checkpoint")),
            answer(&checkpoint),
            "{node}"
        );
    }
    // Exactly one of the two nodes sequences; the proofs come from table `tiles` on both.
    let sequencing = |addr: &str| {
        get(addr, "/healthz").json()["sequencing"]
            .as_bool()
            .unwrap()
    };
    assert_ne!(sequencing(&a), sequencing(&b));

    // 1. Inclusion proofs: the same bytes for the first and last entry of each tile, the
    // last entry of the log, and every refusal (beyond the checkpoint, not an index).
    let size = entries.to_string();
    let last = (entries - 1).to_string();
    let mut proved = 0;
    for index in ["0", "1", "255", "256", &last, &size, "abc", "01", "-1"] {
        let path = format!("/v1/proof/{index}");
        let want = get(&lite.addr, &path);
        for node in [&a, &b] {
            let got = get(node, &path);
            assert_eq!(answer(&got), answer(&want), "{path} on {node}");
            assert_eq!(got.header("content-type"), want.header("content-type"));
            assert_eq!(got.header("cache-control"), want.header("cache-control"));
        }
        if want.status == 200 {
            let doc = want.json();
            assert_eq!(doc["tree_size"].as_u64(), Some(entries), "{doc}");
            assert!(!doc["proof"].as_array().unwrap().is_empty(), "{doc}");
            proved += 1;
        }
    }
    assert_eq!(proved, 5);
    assert_eq!(get(&a, &format!("/v1/proof/{size}")).status, 404);
    assert_eq!(get(&b, "/v1/proof/abc").status, 400);

    // A hash tile or an entry edited in the database after the nodes' open: the proof does
    // not reach the checkpoint's root and is refused (500 proof-failed), never served.
    // Byte 40 of tile/0/000 is in the hash of leaf 1, on entry 0's path; entry 1's own note
    // gives its leaf.
    for (table, key, column, value, proof) in [
        ("tiles", "path", "data", "tile/0/000", "/v1/proof/0"),
        ("entries", "idx", "note", "1", "/v1/proof/1"),
    ] {
        let select = format!("SELECT {column} FROM {table} WHERE {key}::text = $1");
        let update = format!("UPDATE {table} SET {column} = $1 WHERE {key}::text = $2");
        let kept: Vec<u8> = admin.query_one(&select, &[&value]).unwrap().get(0);
        let mut edited = kept.clone();
        edited[40] ^= 1;
        admin.execute(&update, &[&edited, &value]).unwrap();
        for node in [&a, &b] {
            let r = get(node, proof);
            assert_eq!(r.status, 500, "{table} edited: {:?}", answer(&r));
            assert_eq!(
                r.json()["error"]["code"],
                "proof-failed",
                "{:?}",
                answer(&r)
            );
        }
        admin.execute(&update, &[&kept, &value]).unwrap();
        assert_eq!(answer(&get(&a, proof)), answer(&get(&lite.addr, proof)));
    }

    // The same OpenAPI document, and the same refusal of a method a path does not take.
    let post_checkpoint = |addr: &str| {
        let req = format!(
            "POST /checkpoint HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        answer(&raw(addr, req.as_bytes()))
    };
    for node in [&a, &b] {
        assert_eq!(
            answer(&get(node, "/v1/openapi.json")),
            answer(&get(&lite.addr, "/v1/openapi.json"))
        );
        assert_eq!(post_checkpoint(node), post_checkpoint(&lite.addr));
        assert_eq!(post_checkpoint(node).0, 405);
    }

    // 2. Metrics: every SQLite metric is there, with the same intake counts for the node
    // the notes went to, and none for the other; then the node's own.
    let (lite_text, text_a, text_b) = (
        metrics(lite.metrics.as_deref().unwrap().parse().unwrap()),
        metrics(metrics_a),
        metrics(metrics_b),
    );
    for name in lines(&lite_text, "# TYPE ") {
        assert!(text_a.contains(&name), "{name} missing:\n{text_a}");
    }
    assert_eq!(
        lines(&text_a, "urna_intake_total"),
        lines(&lite_text, "urna_intake_total")
    );
    assert!(text_a.contains("urna_intake_total{outcome=\"accepted\"} "));
    assert!(text_b.contains("urna_intake_total{outcome=\"accepted\"} 0\n"));
    let flag = |text: &str, name: &str| lines(text, &format!("{name} "));
    let (seq_a, seq_b) = (
        flag(&text_a, "urna_node_sequencing"),
        flag(&text_b, "urna_node_sequencing"),
    );
    let expect = |on: bool| vec![format!("urna_node_sequencing {}", u8::from(on))];
    assert_eq!(seq_a, expect(sequencing(&a)), "{text_a}");
    assert_eq!(seq_b, expect(sequencing(&b)), "{text_b}");
    assert_eq!(
        flag(&text_a, "urna_node_database_up"),
        vec!["urna_node_database_up 1"]
    );
    assert!(
        text_a.contains("urna_node_info{node=\"node-a\"} 1\n"),
        "{text_a}"
    );
    assert!(
        text_b.contains("urna_node_info{node=\"node-b\"} 1\n"),
        "{text_b}"
    );
    // Never on the API listener.
    assert_eq!(get(&a, "/metrics").status, 404);

    // 3. The scan in every bundle: the SQLite node's, a PostgreSQL node's started now with
    // `--bundle`, and `urna publish --store`'s hold the same bytes, and `urna verify` checks
    // them (every scan a signed note names, fetched and hashed).
    let blob = format!("/blob/sha256/{}", hex(&sha));
    let from_lite = get(&lite.addr, &blob);
    assert_eq!((from_lite.status, &from_lite.body), (200, &png));
    let addr_c = free_addr();
    let bundle_c = dir.path().join("bundle-c");
    let _node_c = cluster.start_with(
        "node-c",
        addr_c,
        Arc::clone(&log),
        &["--bundle", p(&bundle_c), "--publish-ms", "100"],
    );
    let c = addr_c.to_string();
    let t = std::time::Instant::now();
    while get(&c, "/checkpoint").body != checkpoint.body {
        assert!(
            t.elapsed().as_secs() < 30,
            "node c never published:\n{}",
            log.lock().unwrap()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(answer(&get(&c, &blob)), answer(&from_lite));
    assert_eq!(
        std::fs::read(bundle_c.join("blob/sha256").join(hex(&sha))).unwrap(),
        png
    );
    let published = dir.path().join("published");
    let (code, out) = publish_pg(&url, &definition, &key, &published);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        std::fs::read(published.join("blob/sha256").join(hex(&sha))).unwrap(),
        png
    );
    let verify = |location: &Path| {
        let o = urna()
            .args(["verify", p(location), "--log-key", &vkey])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
    };
    for bundle in [&published, &bundle_c, &lite.bundle] {
        let out = verify(&bundle.join("current"));
        assert!(out.contains("\nVERIFIED"), "{out}");
        assert!(
            out.contains("1 scans of paper protocols named by signed notes, fetched and hashed"),
            "{out}"
        );
    }

    // A scan row edited in the database (other bytes), or one no stored note names, is
    // refused at open (`urna publish --store` opens the store as every node does), naming it.
    let mut edited = png.clone();
    edited[20] ^= 1;
    let stray = {
        let mut s = b"%PDF-1.7\n".to_vec();
        s.extend(b"a scan no note names");
        s
    };
    let stray_sha = urna_model::intake::sha256(&stray);
    for (edit, undo, named) in [
        (
            "UPDATE scans SET data = $2 WHERE sha256 = $1",
            "UPDATE scans SET data = $2 WHERE sha256 = $1",
            (sha, edited, png.clone()),
        ),
        (
            "INSERT INTO scans (sha256, data) VALUES ($1, $2)",
            "DELETE FROM scans WHERE sha256 = $1 AND data = $2",
            (stray_sha, stray.clone(), stray),
        ),
    ] {
        let (key_sha, bytes, kept) = named;
        admin.execute(edit, &[&key_sha.as_slice(), &bytes]).unwrap();
        let (code, out) = publish_pg(&url, &definition, &key, &dir.path().join("refused"));
        assert_eq!(code, Some(2), "{out}");
        assert!(
            out.contains(&format!("table `scans`, scan sha256:{}", hex(&key_sha)))
                && out.contains("the database was edited outside urna"),
            "{out}"
        );
        admin.execute(undo, &[&key_sha.as_slice(), &kept]).unwrap();
    }
    let (code, out) = publish_pg(&url, &definition, &key, &dir.path().join("restored"));
    assert_eq!(code, Some(0), "{out}");

    // 4. An audit note the audit's intake refuses (malformed): the SQLite node's answer,
    // nothing stored. (A whole audit through both engines: `pg_audit.rs`.)
    let audit = NoteSigner::from_seed("cec", &[7; 32])
        .unwrap()
        .sign_text("urna/audit/v1\nelection: x\n")
        .to_bytes();
    let (l, r) = (post_note(&lite.addr, &audit), post_note(&b, &audit));
    assert_eq!(answer(&l), answer(&r));
    assert_eq!(r.status, 400, "{:?}", answer(&r));
    assert_eq!(r.json()["error"]["code"], "malformed-note");
    // `urna submit` shows the answer as a refusal and does not retry it.
    let file = dir.path().join("audit.note");
    std::fs::write(&file, &audit).unwrap();
    let to = format!("http://{b}");
    let queue = dir.path().join("queue");
    let out = run(
        &[
            "submit",
            "--to",
            &to,
            "--log-key",
            &vkey,
            "--queue",
            p(&queue),
            p(&file),
        ],
        1,
    );
    assert!(out.contains("malformed-note"), "{out}");
    let after = wait_signed(&url, &log, "nothing more stored", |_| true);
    assert_eq!(after.entries, entries);
}
