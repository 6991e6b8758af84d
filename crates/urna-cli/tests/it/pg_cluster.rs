//! Three `urna serve --store postgres://…` nodes on one real PostgreSQL, end to end with the
//! real binary: clients submit signed protocols and amendments to all three while the
//! sequencing node is killed with SIGKILL ten times at random moments (and started again) and
//! PostgreSQL itself is crashed and restarted once. Afterwards every receipt any client holds
//! is in the log (inclusion against the final checkpoint, from the tiles the nodes serve), no
//! entry appears twice, every checkpoint the log signed extends every earlier one
//! (consistency proofs), a witness (`urna witness serve`, quorum 1 of 1) cosigned the final
//! checkpoint through every takeover (it refuses a fork, which would stop publication), and
//! `PgStore::open` re-derives every row cleanly.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng as _, SeedableRng as _};
use urna_model::note::{Note, NoteSigner, NoteVerifier};
use urna_model::pack::PackReader;
use urna_model::receipt::Receipt;
use urna_tlog::checkpoint::Checkpoint;
use urna_tlog::hash::{LeafIndex, TreeSize, leaf_hash};
use urna_tlog::proof::{consistency_proof, inclusion_proof, verify_consistency, verify_inclusion};
use urna_tlog::storage::ReadError;
use urna_tlog::tile::{Tile, TileHashReader, TileSource};

use crate::{p, run, urna};
use urna_testkit::pg::PgServer;

/// Kills of the sequencing node.
const KILLS: usize = 10;
/// The kill after which PostgreSQL itself is crashed and restarted.
const PG_RESTART_AT: usize = 4;
/// The sequencer's lease in the test (`--lease-ms`): takeovers within about a second.
const LEASE_MS: &str = "1000";

/// One `urna serve --store` node, on a fixed address so that it comes back where clients send.
pub(crate) struct Node {
    name: String,
    child: Option<Child>,
    log: Arc<Mutex<String>>,
}

/// What every node of one database is started with.
pub(crate) struct Cluster {
    pub(crate) url: String,
    pub(crate) definition: PathBuf,
    pub(crate) key: PathBuf,
}

impl Cluster {
    /// Starts node `name` on `addr` and waits until it listens; its stderr goes to `log`.
    pub(crate) fn start(&self, name: &str, addr: SocketAddr, log: Arc<Mutex<String>>) -> Node {
        self.start_with(name, addr, log, &[])
    }

    /// [`Cluster::start`] with more arguments to `urna serve`.
    pub(crate) fn start_with(
        &self,
        name: &str,
        addr: SocketAddr,
        log: Arc<Mutex<String>>,
        extra: &[&str],
    ) -> Node {
        let mut child = urna()
            .args(["serve", "--store", &self.url, "--definition"])
            .arg(&self.definition)
            .arg("--log-key")
            .arg(&self.key)
            .args(["--node", name, "--listen", &addr.to_string()])
            .args(["--lease-ms", LEASE_MS, "--checkpoint-ms", "100"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        {
            let sink = Arc::clone(&log);
            let mut err = child.stderr.take().unwrap();
            let name = name.to_owned();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let text = String::from_utf8_lossy(&buf[..n]);
                    let mut log = sink.lock().unwrap();
                    for line in text.lines() {
                        log.push_str(&format!("[{name}] {line}\n"));
                    }
                }
            });
        }
        let mut out = child.stdout.take().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&seen).contains("listening on http://") {
            let n = out.read(&mut buf).unwrap();
            assert!(
                n > 0,
                "node {name} exited before listening:\n{}",
                log.lock().unwrap()
            );
            seen.extend_from_slice(&buf[..n]);
        }
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = out.read_to_end(&mut sink);
        });
        Node {
            name: name.to_owned(),
            child: Some(child),
            log,
        }
    }
}

impl Node {
    pub(crate) fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM; the node drains and exits 0.
    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let ok = std::process::Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status()
                .unwrap();
            assert!(ok.success());
            let status = c.wait().unwrap();
            assert!(
                status.success(),
                "node {} did not stop cleanly: {status}\n{}",
                self.name,
                self.log.lock().unwrap()
            );
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A free loopback address (bound, then released for the node to bind).
pub(crate) fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// `urna sim` of `stations` stations into `DIR/sim` (`args` beside, e.g. an error rate): the
/// directory with `election.toml`, `stations.csv` and `protocols.notes`.
pub(crate) fn sim(dir: &Path, stations: &str, args: &[&str]) -> PathBuf {
    let src = dir.join("sim");
    let base = ["sim", "--out", p(&src), "--stations", stations];
    run(&[&base[..], args].concat(), 0);
    src
}

/// `urna init --store URL` of `definition` with the log key file `key` (created) and `args`
/// beside (e.g. `--witnesses FILE`): what it printed, and the log key.
pub(crate) fn init_store(
    url: &str,
    definition: &Path,
    key: &Path,
    args: &[&str],
) -> (String, NoteSigner) {
    let base = [
        "init",
        "--definition",
        p(definition),
        "--store",
        url,
        "--log-key",
        p(key),
    ];
    let out = run(&[&base[..], args].concat(), 0);
    assert!(out.contains("initialised the PostgreSQL store"), "{out}");
    let signer = NoteSigner::from_skey(std::fs::read_to_string(key).unwrap().trim()).unwrap();
    (out, signer)
}

/// Waits until the sequencer has signed every stored entry and `until` holds of the database's
/// view of the cluster (e.g. a published size), and returns that view; fails after 90 s naming
/// `what`, the sizes and the nodes' `log`.
pub(crate) fn wait_signed(
    url: &str,
    log: &Mutex<String>,
    what: &str,
    until: impl Fn(&urna_pg::nodes::Cluster) -> bool,
) -> urna_pg::nodes::Cluster {
    let mut admin = urna_pg::connect(url).unwrap();
    let t = Instant::now();
    loop {
        let c = urna_pg::nodes::cluster(&mut admin).unwrap();
        if c.signed == c.entries && until(&c) {
            return c;
        }
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "{what}: {} entries, {} signed, {:?} published after 90 s:\n{}",
            c.entries,
            c.signed,
            c.published,
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One HTTP/1.1 request on a new connection; `None` if the node is unreachable or the
/// connection breaks (a killed node), so the caller tries again.
pub(crate) fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut all = Vec::new();
    s.read_to_end(&mut all).ok()?;
    let split = all.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&all[..split]);
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, all[split + 4..].to_vec()))
}

/// A receipt a client holds: the note it sent and the index and entry hash the log signed.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    note: Vec<u8>,
    index: u64,
    entry: [u8; 32],
}

/// Sends `note` to the nodes in turn until one answers with a receipt (checked against the
/// log key) or a refusal; transport failures and `5xx` are retried.
pub(crate) fn submit(
    addrs: &[SocketAddr],
    start: usize,
    note: &[u8],
    key: &NoteVerifier,
    deadline: Instant,
    retries: &AtomicU64,
) -> Result<Held, String> {
    let mut i = start;
    loop {
        assert!(Instant::now() < deadline, "no node took a note for minutes");
        let addr = addrs[i % addrs.len()];
        match http(addr, "POST", "/v1/protocols", note) {
            Some((200 | 201, body)) => {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let index = v["index"].as_u64().unwrap();
                let receipt = Note::parse(v["receipt"].as_str().unwrap().as_bytes()).unwrap();
                key.verify(&receipt).unwrap();
                let r = Receipt::parse(receipt.text()).unwrap();
                assert_eq!(r.index, index);
                assert_eq!(r.log, key.name());
                assert_eq!(
                    v["entry"].as_str().unwrap(),
                    format!("sha256:{}", urna_model::protocol::hex(&r.entry))
                );
                return Ok(Held {
                    note: note.to_vec(),
                    index,
                    entry: r.entry,
                });
            }
            Some((status, body)) if status < 500 => {
                return Err(format!("{status} {}", String::from_utf8_lossy(&body)));
            }
            _ => {
                retries.fetch_add(1, Ordering::Relaxed);
                i += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// The JSON of `GET /v1/status` from the first node that answers.
fn status(addrs: &[SocketAddr]) -> Option<serde_json::Value> {
    addrs
        .iter()
        .find_map(|&a| match http(a, "GET", "/v1/status", b"") {
            Some((200, body)) => serde_json::from_slice(&body).ok(),
            _ => None,
        })
}

/// Tiles read over HTTP from the nodes (what any reader of the log would fetch), cached.
struct HttpTiles {
    addrs: Vec<SocketAddr>,
    cache: RefCell<HashMap<String, Option<Vec<u8>>>>,
}

impl TileSource for HttpTiles {
    fn read_tile(&self, tile: &Tile) -> Result<Option<Vec<u8>>, ReadError> {
        let path = tile.path();
        if let Some(hit) = self.cache.borrow().get(&path) {
            return Ok(hit.clone());
        }
        let got = self
            .addrs
            .iter()
            .find_map(|&a| match http(a, "GET", &format!("/{path}"), b"") {
                Some((200, body)) => Some(Some(body)),
                Some((404, _)) => Some(None),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no node served /{path}"));
        self.cache.borrow_mut().insert(path, got.clone());
        Ok(got)
    }
}

pub(crate) fn notes(pack: &Path) -> Vec<Vec<u8>> {
    PackReader::new(std::fs::File::open(pack).unwrap())
        .map(Result::unwrap)
        .collect()
}

#[test]
fn three_nodes_survive_sequencer_kills_and_a_database_restart_losing_no_receipt() {
    let Some(pg) = PgServer::start() else { return };
    let url = pg.database("cluster");
    let dir = tempfile::tempdir().unwrap();
    let src = sim(dir.path(), "4000", &[]);
    let key = dir.path().join("log.key");
    // One witness on a fixed address, in the policy the database keeps.
    let witness_key = run(
        &[
            "witness",
            "keygen",
            "--name",
            "observers",
            "--out",
            p(&dir.path().join("observers.key")),
        ],
        0,
    )
    .trim()
    .to_owned();
    let witness_addr = free_addr().to_string();
    let policy = dir.path().join("witnesses.toml");
    std::fs::write(
        &policy,
        format!(
            "quorum = 1\n\n[[witness]]\nname = \"observers\"\nurl = \"http://{witness_addr}\"\nkey = \"{witness_key}\"\n"
        ),
    )
    .unwrap();
    let (_, signer) = init_store(
        &url,
        &src.join("election.toml"),
        &key,
        &["--witnesses", p(&policy)],
    );
    let verifier = signer.verifier();
    let origin = verifier.name().to_owned();
    let _witness = crate::log_story::start_witness_on(
        dir.path(),
        "observers",
        &[&format!("{origin}={}", verifier.to_vkey())],
        true,
        &witness_addr,
    );
    let protocols = notes(&src.join("protocols.notes"));
    let amendments = notes(&src.join("amendments.notes"));
    assert!(!amendments.is_empty(), "the simulation made no amendments");

    let cluster = Cluster {
        url: url.clone(),
        definition: src.join("election.toml"),
        key,
    };
    let log = Arc::new(Mutex::new(String::new()));
    let names = ["node-a", "node-b", "node-c"];
    let addrs: Vec<SocketAddr> = names.iter().map(|_| free_addr()).collect();
    let mut nodes: Vec<Node> = names
        .iter()
        .zip(&addrs)
        .map(|(n, &a)| cluster.start(n, a, Arc::clone(&log)))
        .collect();

    // Three clients, each with a third of the stations: its protocols, then their amendments
    // (after the protocol's receipt), then resends of what it sent (duplicates) until the
    // chaos is over. Each client starts at another node and moves on when one fails.
    let seed: u64 = rand::random();
    eprintln!("pg_cluster: seed {seed}");
    let stop = Arc::new(AtomicBool::new(false));
    let retries = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut clients = Vec::new();
    // A station's amendment goes with its protocol, to the same client, so that it is sent only
    // after that protocol's receipt (another client could be further along its list).
    let station = |note: &[u8]| {
        let n = Note::parse(note).unwrap();
        n.text()
            .lines()
            .find_map(|l| l.strip_prefix("station: "))
            .unwrap()
            .to_owned()
    };
    let client_of: HashMap<String, usize> = protocols
        .iter()
        .enumerate()
        .map(|(i, n)| (station(n), i % 3))
        .collect();
    for c in 0..3usize {
        let mut mine: Vec<Vec<u8>> = protocols.iter().skip(c).step_by(3).cloned().collect();
        mine.extend(
            amendments
                .iter()
                .filter(|a| client_of[&station(a)] == c)
                .cloned(),
        );
        let (addrs, verifier, stop, retries) = (
            addrs.clone(),
            verifier.clone(),
            Arc::clone(&stop),
            Arc::clone(&retries),
        );
        clients.push(std::thread::spawn(move || {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ c as u64);
            let mut held = Vec::new();
            let mut refused = Vec::new();
            for (i, note) in mine.iter().enumerate() {
                match submit(&addrs, c + i, note, &verifier, deadline, &retries) {
                    Ok(h) => held.push(h),
                    Err(e) => refused.push(e),
                }
            }
            while !stop.load(Ordering::Relaxed) {
                let note = &mine[rng.gen_range(0..mine.len())];
                match submit(
                    &addrs,
                    rng.gen_range(0..3),
                    note,
                    &verifier,
                    deadline,
                    &retries,
                ) {
                    Ok(h) => held.push(h),
                    Err(e) => refused.push(e),
                }
            }
            (held, refused)
        }));
    }

    // The chaos: find the sequencing node, kill it at a random moment, start it again.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut epochs: Vec<i64> = Vec::new();
    // From each kill to the next lease seen taken (the status polled every 50 ms).
    let mut takeovers: Vec<Duration> = Vec::new();
    let mut killed_at: Option<Instant> = None;
    // The last round only waits for the takeover after the last kill.
    for k in 0..=KILLS {
        let t = Instant::now();
        let holder = loop {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "no node took the sequencer's lease within 30 s (kill {k}):\n{}",
                log.lock().unwrap()
            );
            // A lease taken after the last kill (the killed node's own runs out first).
            if let Some(s) = status(&addrs)
                && s["sequencer"]["lease_left_s"]
                    .as_f64()
                    .is_some_and(|l| l > 0.0)
                && s["sequencer"]["epoch"]
                    .as_i64()
                    .is_some_and(|e| epochs.last().is_none_or(|&last| e > last))
                && let Some(i) = names
                    .iter()
                    .position(|n| *n == s["sequencer"]["holder"].as_str().unwrap_or(""))
                && nodes[i].child.is_some()
            {
                epochs.push(s["sequencer"]["epoch"].as_i64().unwrap());
                takeovers.extend(killed_at.map(|t| t.elapsed()));
                break i;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if k == KILLS {
            break;
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..600)));
        nodes[holder].kill9();
        killed_at = Some(Instant::now());
        eprintln!("pg_cluster: kill {k}: {} killed", names[holder]);
        if k == PG_RESTART_AT {
            pg.restart(Duration::from_millis(rng.gen_range(200..1000)));
            eprintln!("pg_cluster: PostgreSQL crashed and restarted");
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..400)));
        nodes[holder] = cluster.start(names[holder], addrs[holder], Arc::clone(&log));
    }
    stop.store(true, Ordering::Relaxed);
    let mut held: Vec<Held> = Vec::new();
    for c in clients {
        let (h, refused) = c.join().unwrap();
        assert!(refused.is_empty(), "notes refused: {refused:?}");
        held.extend(h);
    }
    eprintln!(
        "pg_cluster: {} receipts held, {} retries, epochs seen {epochs:?}",
        held.len(),
        retries.load(Ordering::Relaxed)
    );

    // A node takes over from the last one killed, the sequencer catches up with everything
    // committed, and the witness cosigns it.
    let killed = epochs[KILLS - 1];
    let t = Instant::now();
    let (entries, epoch) = loop {
        let s = status(&addrs);
        if let Some(s) = &s
            && s["entries"] == s["signed"]
            && s["published"] == s["signed"]
            && s["sequencer"]["lease_left_s"]
                .as_f64()
                .is_some_and(|l| l > 0.0)
            && s["sequencer"]["epoch"].as_i64().is_some_and(|e| e > killed)
        {
            break (
                s["entries"].as_u64().unwrap(),
                s["sequencer"]["epoch"].as_i64().unwrap(),
            );
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the log was not sequenced and cosigned to its end: {s:?}\n{}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        epoch > KILLS as i64,
        "epoch {epoch} after {KILLS} takeovers: {epochs:?}"
    );
    eprintln!("pg_cluster: kill to new sequencer, in order: {takeovers:?}");
    // Within seconds: a lease and a tick, with room for a loaded 2-core machine.
    assert!(
        takeovers.iter().all(|t| *t < Duration::from_secs(15)),
        "a takeover took longer than 15 s: {takeovers:?}"
    );
    takeovers.sort();
    eprintln!(
        "pg_cluster: kill to new sequencer: median {:?}, longest {:?} over {} takeovers (lease {LEASE_MS} ms)",
        takeovers[takeovers.len() / 2],
        takeovers.last().unwrap(),
        takeovers.len()
    );
    let shown = run(&["status", "--store", &url], 0);
    for n in names {
        assert!(shown.contains(n), "{shown}");
    }
    assert!(
        shown.contains(&format!("entries:    {entries} stored")),
        "{shown}"
    );
    assert!(shown.contains("sequencer:  node-"), "{shown}");

    // The final checkpoint, as every node serves it: cosigned by the witness, whose state
    // file holds it (it cosigned across every takeover, never refusing a fork).
    let (code, cp_bytes) = http(addrs[0], "GET", "/checkpoint", b"").unwrap();
    assert_eq!(code, 200);
    let (cp, _) = urna_tlog::checkpoint::open(&cp_bytes, verifier.name(), &verifier).unwrap();
    assert_eq!(cp.size, TreeSize(entries));
    urna_tlog::cosignature::CosignatureVerifier::from_vkey(&witness_key)
        .unwrap()
        .verify(&Note::parse(&cp_bytes).unwrap())
        .unwrap();
    let state: urna_tlog::witness::WitnessState =
        serde_json::from_slice(&std::fs::read(dir.path().join("observers.state")).unwrap())
            .unwrap();
    assert_eq!(
        (state.logs[&origin].size, state.logs[&origin].root),
        (entries, cp.root)
    );
    let tiles = HttpTiles {
        addrs,
        cache: RefCell::new(HashMap::new()),
    };
    let reader = TileHashReader::new(&tiles, cp.size);

    // Every receipt any client holds is in the log: the same index for the same note, and
    // an inclusion proof from the served tiles against the final checkpoint.
    let mut by_note: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    for h in &held {
        assert_eq!(h.entry, urna_model::intake::sha256(&h.note));
        let prior = by_note.insert(h.note.clone(), h.index);
        assert!(
            prior.is_none_or(|i| i == h.index),
            "one note under two indices: {prior:?} and {}",
            h.index
        );
    }
    for (note, &index) in &by_note {
        let proof = inclusion_proof(&reader, LeafIndex(index), cp.size).unwrap();
        verify_inclusion(
            LeafIndex(index),
            cp.size,
            &leaf_hash(note),
            &proof,
            &cp.root,
        )
        .unwrap_or_else(|e| panic!("receipt for entry {index} not in the log: {e}"));
    }
    assert_eq!(
        by_note.len(),
        protocols.len() + amendments.len(),
        "every note sent got a receipt"
    );

    // No entry twice, no gap; every note sent is there exactly once, and nothing else but
    // the genesis.
    let mut db = urna_pg::connect(&url).unwrap();
    let row = db
        .query_one(
            "SELECT count(*), count(DISTINCT hash), count(DISTINCT text_hash), \
             coalesce(max(idx), -1) FROM entries",
            &[],
        )
        .unwrap();
    let (n, hashes, texts, max): (i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(
        (n, hashes, texts, max + 1),
        (n, n, n, n),
        "entries repeat or have gaps"
    );
    assert_eq!(n as u64, entries);
    assert_eq!(
        entries,
        1 + by_note.len() as u64,
        "entries beyond the notes sent"
    );

    // Every checkpoint the log signed extends every earlier one: each against the next and
    // against the final one, by consistency proofs from the served tiles.
    let signed: Vec<Checkpoint> = urna_pg::PgReader::connect(&url)
        .unwrap()
        .checkpoints()
        .unwrap()
        .iter()
        .map(|b| {
            urna_tlog::checkpoint::open(b, verifier.name(), &verifier)
                .unwrap()
                .0
        })
        .collect();
    eprintln!(
        "pg_cluster: {entries} entries, {} checkpoints, final epoch {epoch}",
        signed.len()
    );
    assert!(signed.len() > KILLS, "only {} checkpoints", signed.len());
    assert_eq!(signed.last().unwrap(), &cp);
    for pair in signed.windows(2) {
        let (old, new) = (&pair[0], &pair[1]);
        assert!(old.size < new.size);
        for to in [new, &cp] {
            let proof = consistency_proof(&reader, old.size, to.size).unwrap();
            verify_consistency(old.size, to.size, &old.root, &to.root, &proof).unwrap_or_else(
                |e| {
                    panic!(
                        "checkpoint {} does not extend {}: {e}",
                        to.size.0, old.size.0
                    )
                },
            );
        }
    }

    // Every node stops cleanly; the store re-derives every row at open.
    for n in &mut nodes {
        n.stop();
    }
    urna_pg::PgStore::open(&url, &src.join("election.toml"), signer)
        .unwrap_or_else(|e| panic!("the store does not re-derive cleanly: {e}"));
}

/// One node taking notes in batches of 3 (`--batch 3`) from 12 clients at once, so that
/// several batches wait in its queue and each is checked while the one before commits
/// (`PgStore::ingest_batches`): every note gets a receipt that verifies, at an index of its
/// own, and the database holds exactly that note at that index; nothing failed.
#[test]
fn one_node_taking_queued_batches_answers_every_note_at_its_own_index() {
    let Some(pg) = PgServer::start() else { return };
    let url = pg.database("batches");
    let dir = tempfile::tempdir().unwrap();
    let src = sim(dir.path(), "600", &[]);
    let key = dir.path().join("log.key");
    let (_, signer) = init_store(&url, &src.join("election.toml"), &key, &[]);
    let verifier = signer.verifier();
    let cluster = Cluster {
        url: url.clone(),
        definition: src.join("election.toml"),
        key,
    };
    let log = Arc::new(Mutex::new(String::new()));
    let addr = free_addr();
    let _node = cluster.start_with("node-a", addr, Arc::clone(&log), &["--batch", "3"]);
    let protocols = notes(&src.join("protocols.notes"));
    let retries = AtomicU64::new(0);
    let deadline = Instant::now() + Duration::from_secs(300);
    let held: Vec<Held> = std::thread::scope(|s| {
        let handles: Vec<_> = protocols
            .chunks(protocols.len().div_ceil(12))
            .map(|part| {
                let (verifier, retries) = (&verifier, &retries);
                s.spawn(move || {
                    part.iter()
                        .map(|n| submit(&[addr], 0, n, verifier, deadline, retries).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(held.len(), protocols.len());
    let size = 1 + protocols.len() as u64;
    let c = wait_signed(&url, &log, "every note", |c| c.entries == size);
    assert_eq!(c.entries, size, "nothing stored twice or lost");
    let stored = urna_pg::PgReader::connect(&url)
        .unwrap()
        .notes(1, size)
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    for h in &held {
        assert!(seen.insert(h.index), "index {} given twice", h.index);
        assert_eq!(stored[usize::try_from(h.index - 1).unwrap()], h.note);
        assert_eq!(leaf_entry(&h.note), h.entry);
    }
    let text = log.lock().unwrap().clone();
    assert!(!text.contains("failed"), "{text}");
}

/// The entry hash a receipt names: SHA-256 of the note.
fn leaf_entry(note: &[u8]) -> [u8; 32] {
    urna_model::intake::sha256(note)
}

#[test]
fn the_postgres_commands_name_what_is_missing_or_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("sim");
    run(&["sim", "--out", p(&src), "--stations", "20"], 0);
    let def = src.join("election.toml");
    let url = "host=/nonexistent user=urna dbname=none";
    let out = run(&["init", "--definition", p(&def), "--store", url], 2);
    assert!(
        out.contains("--log-key: required with a PostgreSQL --store"),
        "{out}"
    );
    let out = run(
        &[
            "init",
            "--definition",
            p(&def),
            "--data",
            p(&dir.path().join("d")),
            "--log-key",
            "k",
        ],
        2,
    );
    assert!(
        out.contains("--log-key: only with a PostgreSQL --store"),
        "{out}"
    );
    let out = run(
        &[
            "init",
            "--definition",
            p(&def),
            "--data",
            p(&dir.path().join("d")),
            "--witnesses",
            "w.toml",
        ],
        2,
    );
    assert!(
        out.contains("--witnesses: only with a PostgreSQL --store"),
        "{out}"
    );
    let out = run(
        &[
            "init",
            "--definition",
            p(&def),
            "--store",
            url,
            "--log-key",
            p(&dir.path().join("k")),
            "--witnesses",
            p(&dir.path().join("missing.toml")),
        ],
        2,
    );
    assert!(
        out.contains("--witnesses") && out.contains("missing.toml"),
        "{out}"
    );
    assert!(
        !dir.path().join("k").exists(),
        "a bad policy must stop init first"
    );
    let out = run(&["log", "publish", "--store", url], 2);
    assert!(out.contains("--log-key"), "{out}");
    let out = run(&["serve", "--store", url, "--listen", "127.0.0.1:0"], 2);
    assert!(
        out.contains("--definition and --log-key: required"),
        "{out}"
    );
    let bundle = dir.path().join("bundle");
    let out = run(&["publish", "--store", url, "--out", p(&bundle)], 2);
    assert!(
        out.contains("--definition and --log-key: required"),
        "{out}"
    );
    // A --store that is no PostgreSQL address is a data directory, as --data.
    let data = dir.path().join("data");
    run(&["init", "--definition", p(&def), "--store", p(&data)], 0);
    let out = run(&["status", "--store", p(&data)], 0);
    assert!(out.contains("entries:    1 stored"), "{out}");
    let out = run(&["publish", "--store", p(&data), "--out", p(&bundle)], 0);
    assert!(
        out.contains("published the checkpoint of 1 entries"),
        "{out}"
    );
    let out = run(
        &[
            "publish",
            "--data",
            p(&data),
            "--log-key",
            "k",
            "--out",
            p(&bundle),
        ],
        2,
    );
    assert!(
        out.contains("--definition and --log-key: only with a PostgreSQL --store"),
        "{out}"
    );

    let Some(pg) = PgServer::start() else { return };
    let url = pg.database("commands");
    let out = run(&["status", "--store", &url], 2);
    assert!(out.contains("holds no urna store"), "{out}");
    let key = dir.path().join("log.key");
    let init = [
        "init",
        "--definition",
        p(&def),
        "--store",
        &url,
        "--log-key",
        p(&key),
    ];
    run(&init, 0);
    let out = run(&init, 2);
    assert!(out.contains("already holds an urna store"), "{out}");
    // A node given another election's definition is refused at open.
    let other = dir.path().join("other");
    run(&["sim", "--out", p(&other), "--stations", "21"], 0);
    let out = run(
        &[
            "serve",
            "--store",
            &url,
            "--definition",
            p(&other.join("election.toml")),
            "--log-key",
            p(&key),
            "--listen",
            "127.0.0.1:0",
        ],
        2,
    );
    assert!(out.contains("definition_sha256"), "{out}");
    let out = run(&["status", "--store", &url], 0);
    assert!(out.contains("sequencer:  none yet"), "{out}");
}
