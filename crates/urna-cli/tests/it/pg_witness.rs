//! Witnesses cosigning the PostgreSQL log, end to end with the real binary, a real PostgreSQL
//! and two real `urna witness serve` processes (quorum 2 of 2), as one ordered story:
//!
//! 1. `urna init --store … --witnesses FILE` keeps the policy in the database.
//! 2. Two `urna serve --store` nodes; protocols submitted; the sequencing node gets each
//!    checkpoint cosigned and publishes it; `urna publish --store` writes a bundle that
//!    `urna verify --trust` (the log key and both witnesses, quorum 2) says VERIFIED.
//! 3. The sequencing node is killed (-9): the other takes over, continues the same tree, and
//!    both witnesses cosign its checkpoints (a fork would be refused and publication would
//!    stop); their state files hold the new size.
//! 4. One witness is killed: intake goes on, the published checkpoint lags and every place
//!    says so (`urna log publish --store` exit 1, `urna status --store`, the node's log, the
//!    bundle still at the older checkpoint and VERIFIED).
//! 5. The witness comes back on its address with its state: the node catches up by itself.
//! 6. The published row edited to the log's own, uncosigned checkpoint: the node does not
//!    serve it and `urna publish --store` refuses it.
//!
//! Both nodes keep a bundle of their own (`--bundle`): while the quorum is missing the node
//! serves the results of the last cosigned checkpoint, not of the newer one it signed, and
//! `urna verify http://node/ --trust` says VERIFIED on it; after the catch-up, the newer one.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use urna_model::note::Note;
use urna_model::pack::{PackReader, write_note};
use urna_tlog::checkpoint::Checkpoint;
use urna_tlog::cosignature::CosignatureVerifier;
use urna_tlog::hash::{Hash, LeafIndex, TreeSize, leaf_hash};
use urna_tlog::proof::verify_inclusion;

use crate::log_story::start_witness_on;
use crate::pg_cluster::{Cluster, free_addr, init_store, sim, wait_signed};
use crate::{p, run, urna};
use urna_testkit::pg::PgServer;

/// Runs `urna` and returns its exit code and its output.
pub(crate) fn output(args: &[&str]) -> (Option<i32>, String) {
    let o = urna().args(args).output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

/// Notes `lo..hi` of a pack, into a new pack.
fn part(src: &Path, out: &Path, lo: usize, hi: usize) -> String {
    let mut w = std::fs::File::create(out).unwrap();
    for (i, n) in PackReader::new(std::fs::File::open(src).unwrap()).enumerate() {
        if (lo..hi).contains(&i) {
            write_note(&mut w, &n.unwrap()).unwrap();
        }
    }
    p(out).to_owned()
}

/// The published checkpoint in the database, and its size.
pub(crate) fn published(url: &str) -> Option<(Vec<u8>, u64)> {
    let mut c = urna_pg::connect(url).unwrap();
    let note = urna_pg::witnesses::published(&mut c).unwrap()?;
    let size = urna_store::log::checkpoint_size(&note).unwrap();
    Some((note, size))
}

/// Waits until every stored entry is signed and `until(signed, published)` holds.
fn wait(url: &str, log: &Mutex<String>, what: &str, until: impl Fn(u64, u64) -> bool) -> u64 {
    wait_signed(url, log, what, |c| {
        until(c.signed, published(url).map_or(0, |(_, s)| s))
    })
    .signed
}

#[test]
fn pg_witnesses_cosign_the_log_through_a_failover_and_publication_lags_while_one_is_down() {
    let Some(pg) = PgServer::start() else { return };
    let url = pg.database("witnesses");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = sim(d, "200", &["--error-rate", "500"]);
    let definition = src.join("election.toml");
    let key = d.join("log.key");
    let protocols = src.join("protocols.notes");

    // Two witnesses, each with its own key, state and fixed address (so a restart keeps it).
    let names = ["agency", "observers"];
    let wkeys: Vec<String> = names
        .iter()
        .map(|n| {
            let out = d.join(format!("{n}.key"));
            let args = ["witness", "keygen", "--name", n, "--out", p(&out)];
            run(&args, 0).trim().to_owned()
        })
        .collect();
    let addrs: Vec<String> = names.iter().map(|_| free_addr().to_string()).collect();
    let mut policy = String::from("quorum = 2\n");
    for ((n, k), a) in names.iter().zip(&wkeys).zip(&addrs) {
        policy.push_str(&format!(
            "\n[[witness]]\nname = \"{n}\"\nurl = \"http://{a}\"\nkey = \"{k}\"\n"
        ));
    }
    let policy_file = d.join("witnesses.toml");
    std::fs::write(&policy_file, policy).unwrap();

    // A bad policy is refused before the database is touched.
    let bad = d.join("bad.toml");
    std::fs::write(&bad, "quorum = 3\n").unwrap();
    let (code, out) = output(&[
        "init",
        "--definition",
        p(&definition),
        "--store",
        &url,
        "--log-key",
        p(&key),
        "--witnesses",
        p(&bad),
    ]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("quorum: 3 is more than the 0 witnesses"),
        "{out}"
    );

    // 1. The store, with the policy in the database.
    let (out, _) = init_store(&url, &definition, &key, &["--witnesses", p(&policy_file)]);
    assert!(
        out.contains("witnesses:  2 of 2 (agency, observers)"),
        "{out}"
    );
    let vkey = out
        .lines()
        .find_map(|l| l.strip_prefix("log key:    "))
        .unwrap()
        .to_owned();
    let log_arg = format!("{}={vkey}", vkey.split('+').next().unwrap());
    let start = |i: usize, init: bool| start_witness_on(d, names[i], &[&log_arg], init, &addrs[i]);
    let mut witnesses = [Some(start(0, true)), Some(start(1, true))];

    // 2. Two nodes; protocols 0..100 through node a.
    let cluster = Cluster {
        url: url.clone(),
        definition: definition.clone(),
        key: key.clone(),
    };
    let log = Arc::new(Mutex::new(String::new()));
    let node_addrs = [free_addr(), free_addr()];
    let live = [d.join("live-a"), d.join("live-b")];
    let mut nodes = [
        cluster.start_with(
            "node-a",
            node_addrs[0],
            Arc::clone(&log),
            &["--bundle", p(&live[0]), "--publish-ms", "100"],
        ),
        cluster.start_with(
            "node-b",
            node_addrs[1],
            Arc::clone(&log),
            &["--bundle", p(&live[1]), "--publish-ms", "100"],
        ),
    ];
    let submit = |to: usize, pack: &str| {
        let queue = d.join(format!("queue-{to}"));
        let to = format!("http://{}", node_addrs[to]);
        let args = ["submit", "--to", &to, "--log-key", &vkey, "--queue"];
        let out = run(&[&args[..], &[p(&queue), pack]].concat(), 0);
        assert!(out.contains(", 0 refused"), "{out}");
    };
    submit(0, &part(&protocols, &d.join("a.notes"), 0, 100));
    let size = wait(&url, &log, "first quorum", |s, pb| s > 1 && pb == s);
    assert_eq!(size, 101);
    let (note, _) = published(&url).unwrap();
    let note = Note::parse(&note).unwrap();
    for k in &wkeys {
        CosignatureVerifier::from_vkey(k)
            .unwrap()
            .verify(&note)
            .unwrap();
    }
    // The nodes serve the cosigned checkpoint (from their bundle, once its generation is
    // written).
    let t = Instant::now();
    loop {
        let served = http_get(node_addrs[1], "/checkpoint");
        if urna_store::log::checkpoint_size(&served) == Some(size) {
            assert_eq!(served, published(&url).unwrap().0);
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{}\n{}",
            String::from_utf8_lossy(&served),
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let bundle = d.join("bundle");
    let publish = || {
        let args = ["publish", "--store", &url, "--definition"];
        run(
            &[
                &args[..],
                &[p(&definition), "--log-key", p(&key), "--out", p(&bundle)],
            ]
            .concat(),
            0,
        )
    };
    let trust = d.join("trust.toml");
    std::fs::write(
        &trust,
        format!(
            "log = \"{vkey}\"\nwitnesses = [\"{}\", \"{}\"]\nquorum = 2\n",
            wkeys[0], wkeys[1]
        ),
    )
    .unwrap();
    let verify = || output(&["verify", p(&bundle.join("current")), "--trust", p(&trust)]);
    let out = publish();
    assert!(
        out.contains(&format!("published the checkpoint of {size} entries")),
        "{out}"
    );
    let (code, out) = verify();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("\nVERIFIED"), "{out}");
    assert!(out.contains("2 of 2"), "{out}");
    // The bundle names the witnesses and the quorum, and has the NIST report (dated by the
    // newest cosignature).
    let keys = std::fs::read_to_string(bundle.join("current/v1/keys.json")).unwrap();
    assert!(
        keys.contains(&wkeys[0]) && keys.contains(&wkeys[1]),
        "{keys}"
    );
    assert!(bundle.join("current/cdf/election-report.json").is_file());

    // 3. The sequencing node is killed; the other continues the tree; both witnesses cosign.
    let mut admin = urna_pg::connect(&url).unwrap();
    let holder = urna_pg::nodes::cluster(&mut admin).unwrap().holder;
    let (dead, alive) = if holder == "node-a" { (0, 1) } else { (1, 0) };
    nodes[dead].kill9();
    submit(alive, &part(&protocols, &d.join("b.notes"), 100, 200));
    let size = wait(&url, &log, "quorum after the failover", |s, pb| {
        s == 201 && pb == s
    });
    assert!(
        log.lock().unwrap().contains(&format!(
            "published the checkpoint of {size} entries, cosigned by agency, observers"
        )),
        "{}",
        log.lock().unwrap()
    );
    // Each witness's state file holds the published checkpoint: it went on cosigning the new
    // sequencer's tree, which extends what it cosigned before.
    let (note, _) = published(&url).unwrap();
    let root = urna_tlog::checkpoint::Checkpoint::parse_text(Note::parse(&note).unwrap().text())
        .unwrap()
        .root;
    let origin = vkey.split('+').next().unwrap();
    for n in names {
        let state: urna_tlog::witness::WitnessState =
            serde_json::from_slice(&std::fs::read(d.join(format!("{n}.state"))).unwrap()).unwrap();
        assert_eq!(
            (state.logs[origin].size, state.logs[origin].root),
            (size, root),
            "{n}"
        );
    }

    let out = publish();
    assert!(
        out.contains(&format!("published the checkpoint of {size} entries")),
        "{out}"
    );
    let (code, out) = verify();
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("\nVERIFIED") && out.contains("2 of 2"),
        "{out}"
    );

    // 4. One witness down: intake goes on, the published checkpoint lags, and says so.
    drop(witnesses[1].take());
    submit(alive, p(&src.join("amendments.notes")));
    let signed = wait(&url, &log, "amendments signed", |s, _| s > 201);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(published(&url).unwrap().1, 201);
    let (code, out) = output(&["log", "publish", "--store", &url, "--log-key", p(&key)]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "NOT published: the checkpoint of {signed} entries has 1 of the 2 cosignatures"
        )),
        "{out}"
    );
    assert!(out.contains("witness observers did not cosign"), "{out}");
    let (_, status) = output(&["status", "--store", &url]);
    assert!(
        status.contains(&format!("LAGGING by {} entries", signed - 201)),
        "{status}"
    );
    let json = http_get(node_addrs[alive], "/v1/status");
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        (json["published"].as_u64(), json["signed"].as_u64()),
        (Some(201), Some(signed)),
        "{json}"
    );
    assert!(
        log.lock().unwrap().contains("NOT published"),
        "{}",
        log.lock().unwrap()
    );
    // The bundle stays at the cosigned checkpoint, and verifies.
    let out = publish();
    assert!(out.contains("is up to date"), "{out}");
    let (code, out) = verify();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("201 entries"), "{out}");
    // The node's own bundle too: its results are of the cosigned checkpoint, not the newer one
    // it signed, and they verify with the quorum over HTTP.
    let alive_url = format!("http://{}/", node_addrs[alive]);
    let verify_node = || output(&["verify", &alive_url, "--trust", p(&trust)]);
    assert_eq!(
        served_results(node_addrs[alive], &log, |size| size == 201),
        201
    );
    let (code, out) = verify_node();
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("\nVERIFIED") && out.contains("2 of 2") && out.contains("201 entries"),
        "{out}"
    );
    // Inclusion proofs are against the published checkpoint too, from the tiles of its size
    // (kept beside the newer ones): an entry it covers is proved to its root; a newer entry
    // is not in it yet.
    let (note, _) = published(&url).unwrap();
    let body = http_get(node_addrs[alive], "/v1/proof/200");
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["tree_size"].as_u64(), Some(201), "{doc}");
    assert_eq!(
        doc["checkpoint"].as_str().map(str::as_bytes),
        Some(&note[..])
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let path: Vec<Hash> = doc["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| Hash(b64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap()))
        .collect();
    let checkpoint = Checkpoint::parse_text(Note::parse(&note).unwrap().text()).unwrap();
    verify_inclusion(
        LeafIndex(200),
        TreeSize(201),
        &leaf_hash(doc["entry"].as_str().unwrap().as_bytes()),
        &path,
        &checkpoint.root,
    )
    .unwrap();
    let body = http_get(node_addrs[alive], &format!("/v1/proof/{}", signed - 1));
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("not-in-checkpoint") && text.contains("checkpoint of 201 entries"),
        "{text}"
    );

    // 5. The witness comes back with its state: the node publishes again by itself.
    witnesses[1] = Some(start(1, false));
    wait(&url, &log, "catching up", |s, pb| pb == s && s == signed);
    let out = publish();
    assert!(
        out.contains(&format!("published the checkpoint of {signed} entries")),
        "{out}"
    );
    let (code, out) = verify();
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("\nVERIFIED") && out.contains("2 of 2"),
        "{out}"
    );
    let (_, status) = output(&["status", "--store", &url]);
    assert!(status.contains("(up to date)"), "{status}");
    assert_eq!(
        served_results(node_addrs[alive], &log, |size| size == signed),
        signed
    );
    let (code, out) = verify_node();
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("\nVERIFIED") && out.contains(&format!("{signed} entries")),
        "{out}"
    );

    // 6. The published row set to the sequencer's own checkpoint of that size, signed by the
    //    log but by no witness: neither the node nor `urna publish --store` gives it out.
    let mut admin = urna_pg::connect(&url).unwrap();
    let edited = admin
        .execute(
            "UPDATE published SET checkpoint = s.checkpoint FROM sequencer s \
             WHERE published.size = s.size",
            &[],
        )
        .unwrap();
    assert_eq!(edited, 1);
    // The node serves its bundle's checkpoint, the last one the quorum cosigned, never the
    // sequencer's own.
    let uncosigned: Vec<u8> = admin
        .query_one("SELECT checkpoint FROM sequencer", &[])
        .unwrap()
        .get(0);
    let served = http_get(node_addrs[alive], "/checkpoint");
    assert_ne!(served, uncosigned, "{}", String::from_utf8_lossy(&served));
    let args = ["publish", "--store", &url, "--definition"];
    let (code, out) = output(
        &[
            &args[..],
            &[p(&definition), "--log-key", p(&key), "--out", p(&bundle)],
        ]
        .concat(),
    );
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("cosigned by 0 of"), "{out}");
    nodes[alive].stop();
}

/// Waits until the checkpoint size of a node's `v1/results.json` satisfies `until`, and
/// returns it.
fn served_results(
    addr: std::net::SocketAddr,
    log: &Mutex<String>,
    until: impl Fn(u64) -> bool,
) -> u64 {
    let t = Instant::now();
    loop {
        let body = http_get(addr, "/v1/results.json");
        let size = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|doc| doc["checkpoint"]["size"].as_u64());
        if let Some(size) = size.filter(|s| until(*s)) {
            return size;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{addr} serves results of {size:?}: {}\n{}",
            String::from_utf8_lossy(&body),
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET path` of a node, the body.
fn http_get(addr: std::net::SocketAddr, path: &str) -> Vec<u8> {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let at = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    resp.split_off(at + 4)
}
