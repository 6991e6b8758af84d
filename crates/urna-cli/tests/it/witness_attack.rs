//! `urna witness serve` attacked by the log it witnesses: a commission that wants two
//! histories races them, hangs up mid-request, and sends hostile bodies. The witness must
//! never cosign two different trees of one size, whatever the clients do.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use urna_model::note::NoteSigner;
use urna_server::WitnessKey;
use urna_tlog::proof::consistency_proof;
use urna_tlog::{Checkpoint, Hash, MemoryStore, Tree, TreeSize, leaf_hash};

use crate::urna;

const ORIGIN: &str = "witness.attack/log";

fn log_key() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, &[7; 32]).unwrap()
}

/// A log whose entries from index `fork_at` on carry `variant`: two logs with the same
/// `fork_at` and different variants share their first `fork_at` entries, then fork.
struct Log {
    tree: Tree,
    store: MemoryStore,
    fork_at: u64,
    variant: u8,
}

impl Log {
    fn new(fork_at: u64, variant: u8) -> Self {
        Self {
            tree: Tree::new(),
            store: MemoryStore::new(),
            fork_at,
            variant,
        }
    }

    fn grow_to(mut self, n: u64) -> Self {
        let mut out = Vec::new();
        for i in self.tree.size().0..n {
            let variant = if i < self.fork_at { 0 } else { self.variant };
            let entry = format!("urna/attack-entry/v1\nindex: {i}\nvariant: {variant}\n");
            out.clear();
            self.tree
                .append(leaf_hash(entry.as_bytes()), &mut out)
                .unwrap();
            self.store.extend(&out).unwrap();
        }
        self
    }

    fn root(&self) -> Hash {
        self.tree.root()
    }

    /// An add-checkpoint body for the current tree from `old`.
    fn request(&self, old: u64) -> Vec<u8> {
        let size = self.tree.size();
        let proof = if old == 0 || old == size.0 {
            Vec::new()
        } else {
            consistency_proof(&self.store, TreeSize(old), size).unwrap()
        };
        let mut body = format!("old {old}\n").into_bytes();
        for h in proof {
            body.extend_from_slice(h.to_base64().as_bytes());
            body.push(b'\n');
        }
        body.push(b'\n');
        let note = Checkpoint::new(ORIGIN.to_owned(), size, self.root())
            .sign(&log_key())
            .unwrap();
        body.extend_from_slice(&note.to_bytes());
        body
    }
}

/// A running `urna witness serve`; killed when dropped.
struct Witness {
    child: Child,
    _stdout: std::io::BufReader<ChildStdout>,
    addr: String,
}

impl Witness {
    fn start(dir: &Path, init: bool) -> Self {
        Self::start_with(dir, init, &[])
    }

    fn start_with(dir: &Path, init: bool, extra: &[&str]) -> Self {
        let key = dir.join("w.key");
        if !key.exists() {
            WitnessKey::from_seed("witness.attack/w1", [9; 32])
                .unwrap()
                .write_new(&key)
                .unwrap();
        }
        let mut cmd = urna();
        cmd.args(["witness", "serve", "--key"])
            .arg(&key)
            .arg("--state")
            .arg(dir.join("w.state"))
            .args(["--listen", "127.0.0.1:0", "--log"])
            .arg(format!("{ORIGIN}={}", log_key().verifier().to_vkey()));
        if init {
            cmd.arg("--init-state");
        }
        cmd.args(extra);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("first line: {line:?}"))
            .to_owned();
        Self {
            child,
            _stdout: stdout,
            addr,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn request_bytes(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST /add-checkpoint HTTP/1.1\r\nHost: witness\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// Status and body of one add-checkpoint exchange, or `None` if no answer came within
/// `patience`.
fn post(addr: &str, body: &[u8], patience: Duration) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(patience)).unwrap();
    s.write_all(&request_bytes(body)).unwrap();
    let mut answer = Vec::new();
    match s.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            return None;
        }
        Err(e) => panic!("reading the answer: {e}"),
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// A commission sends checkpoint A and hangs up at once, so the witness's handler is dropped
/// while A's state is being written. The write must still finish, and the state in memory
/// follow it, before any other request is checked: otherwise a fork B of the same size is
/// checked against the older state and cosigned while A's write is in flight, and if A's
/// rename lands after B's, the file holds A although B was cosigned, so after a restart the
/// witness cosigns A too.
///
/// The write of A is held open by a FIFO at the name of its temporary file (the witness
/// names them `.<state>.tmp-<pid>-<n>`, `n` counting the writes of the process).
#[test]
fn a_client_that_hangs_up_does_not_let_a_fork_past_its_state_write() {
    let dir = tempfile::tempdir().unwrap();
    let honest = Log::new(5, 0).grow_to(10);
    let fork = Log::new(5, 1).grow_to(10);
    assert_ne!(honest.root(), fork.root());
    let at5 = Log::new(5, 0).grow_to(5);

    let w = Witness::start(dir.path(), true);
    // Write 0: the empty state (--init-state). Write 1: size 5.
    let (status, body) = post(&w.addr, &at5.request(0), Duration::from_secs(10)).unwrap();
    assert_eq!(status, 200, "{body}");

    // Write 2 (A's) will block opening its temporary file until the FIFO is read.
    let fifo = dir.path().join(format!(".w.state.tmp-{}-2", w.pid()));
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());

    // A: sent whole, then the client hangs up.
    let mut a = TcpStream::connect(&w.addr).unwrap();
    a.write_all(&request_bytes(&honest.request(5))).unwrap();
    a.shutdown(Shutdown::Write).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    drop(a);
    std::thread::sleep(Duration::from_millis(300));

    // B, a fork of the same size: must not be answered while A's write is in flight.
    let started = Instant::now();
    let b = post(&w.addr, &fork.request(5), Duration::from_secs(2));
    assert!(
        b.is_none(),
        "the fork was answered {b:?} after {:?} while the state write of A was in flight",
        started.elapsed()
    );

    // Let A's write go on (it fails: fsync of a FIFO; nothing of A is recorded).
    let reader = std::thread::spawn(move || {
        let mut sink = Vec::new();
        std::fs::File::open(&fifo)
            .unwrap()
            .read_to_end(&mut sink)
            .unwrap();
        sink
    });
    let written = reader.join().unwrap();
    assert!(!written.is_empty(), "A's state reached its temporary file");

    // A was never answered nor recorded: the fork may now be cosigned, once, and then the
    // witness holds it, refusing A at the same size.
    let (status, body) = post(&w.addr, &fork.request(5), Duration::from_secs(10)).unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(&w.addr, &honest.request(10), Duration::from_secs(10)).unwrap();
    assert_eq!(status, 409, "{body}");
    drop(w);
    let state = std::fs::read_to_string(dir.path().join("w.state")).unwrap();
    assert!(state.contains(&fork.root().to_base64()), "{state}");
}

/// A tree given by its entries, for histories that fork anywhere.
struct History {
    entries: Vec<String>,
}

impl History {
    fn extended(&self, n: usize, tag: &str) -> Self {
        let mut entries = self.entries.clone();
        let start = entries.len();
        entries.extend((start..start + n).map(|i| format!("entry {i} {tag}\n")));
        Self { entries }
    }

    fn tree(&self, size: usize) -> (Tree, MemoryStore) {
        let mut tree = Tree::new();
        let mut store = MemoryStore::new();
        let mut out = Vec::new();
        for e in &self.entries[..size] {
            out.clear();
            tree.append(leaf_hash(e.as_bytes()), &mut out).unwrap();
            store.extend(&out).unwrap();
        }
        (tree, store)
    }

    fn size(&self) -> u64 {
        self.entries.len() as u64
    }

    fn root(&self) -> Hash {
        self.tree(self.entries.len()).0.root()
    }

    fn request(&self, old: u64) -> Vec<u8> {
        let (tree, store) = self.tree(self.entries.len());
        let proof = if old == 0 || old == self.size() {
            Vec::new()
        } else {
            consistency_proof(&store, TreeSize(old), tree.size()).unwrap()
        };
        let mut body = format!("old {old}\n").into_bytes();
        for h in proof {
            body.extend_from_slice(h.to_base64().as_bytes());
            body.push(b'\n');
        }
        body.push(b'\n');
        let note = Checkpoint::new(ORIGIN.to_owned(), tree.size(), tree.root())
            .sign(&log_key())
            .unwrap();
        body.extend_from_slice(&note.to_bytes());
        body
    }
}

/// The size and root the state file holds for the log (0 and no root if none).
fn recorded(dir: &Path) -> (u64, Option<String>) {
    let text = std::fs::read_to_string(dir.join("w.state")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&text).unwrap();
    match state["logs"].get(ORIGIN) {
        Some(log) => (
            log["size"].as_u64().unwrap(),
            Some(log["root"].as_str().unwrap().to_owned()),
        ),
        None => (0, None),
    }
}

/// A commission races three histories from several connections at once each round: two
/// forks of the same size and a third, larger one, all extending the last tree cosigned;
/// every other round the witness is killed with SIGKILL in the middle of the race and
/// restarted from its state file. At most one history is cosigned per round, and a
/// cosignature once answered is the one the state file holds, also after the kill.
#[test]
fn racing_forks_and_kill_9_never_get_two_histories_cosigned() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Witness::start(dir.path(), true);
    let mut base = History {
        entries: Vec::new(),
    }
    .extended(5, "base");
    let (status, body) = post(&w.addr, &base.request(0), Duration::from_secs(10)).unwrap();
    assert_eq!(status, 200, "{body}");
    let mut kills = 0;
    let mut cosigned_rounds = 0;
    for round in 0..24u32 {
        let old = base.size();
        let candidates = [
            base.extended(5, &format!("r{round}a")),
            base.extended(5, &format!("r{round}b")),
            base.extended(9, &format!("r{round}c")),
        ];
        let requests: Vec<Vec<u8>> = candidates.iter().map(|c| c.request(old)).collect();
        let kill = round % 2 == 1;
        let answers = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..9)
                .map(|i| {
                    let (addr, body) = (w.addr.clone(), &requests[i % 3]);
                    scope.spawn(move || {
                        let answer =
                            std::panic::catch_unwind(|| post(&addr, body, Duration::from_secs(10)));
                        (i % 3, answer.ok().flatten())
                    })
                })
                .collect();
            if kill {
                // Spread over the few milliseconds the race lasts.
                let delay = u64::from(round) * 1_733 % 6_000;
                std::thread::sleep(Duration::from_micros(delay));
                let _ = w.child.kill();
                let _ = w.child.wait();
            }
            threads
                .into_iter()
                .map(|t| t.join().unwrap())
                .collect::<Vec<_>>()
        });
        if kill {
            kills += 1;
            w = Witness::start(dir.path(), false);
        }
        let won: std::collections::BTreeSet<usize> = answers
            .iter()
            .filter(|(_, a)| matches!(a, Some((200, _))))
            .map(|(c, _)| *c)
            .collect();
        assert!(
            won.len() <= 1,
            "round {round}: histories {won:?} were all cosigned: {answers:?}"
        );
        for (_, a) in &answers {
            if let Some((status, body)) = a {
                assert!(
                    [200, 409].contains(status),
                    "round {round}: {status} {body}"
                );
            }
        }
        let (size, root) = recorded(dir.path());
        let holds = candidates
            .iter()
            .position(|c| c.size() == size && Some(c.root().to_base64()) == root);
        if let Some(&c) = won.iter().next() {
            assert_eq!(
                holds,
                Some(c),
                "round {round}: history {c} was cosigned, the state file holds size {size}"
            );
        }
        match holds {
            Some(c) => {
                cosigned_rounds += 1;
                base = History {
                    entries: candidates[c].entries.clone(),
                };
                // The other histories of the round are refused from now on, from any size.
                for (other, candidate) in candidates.iter().enumerate() {
                    if other != c {
                        for from in [old, candidate.size(), base.size()] {
                            if from <= candidate.size() {
                                let (status, body) = post(
                                    &w.addr,
                                    &candidate.request(from),
                                    Duration::from_secs(10),
                                )
                                .unwrap();
                                assert!(
                                    [409, 422].contains(&status),
                                    "round {round}: {other} from {from}: {status} {body}"
                                );
                            }
                        }
                    }
                }
            }
            None => assert_eq!(
                (size, root),
                (old, Some(base.root().to_base64())),
                "round {round}: the state file holds neither the last tree nor a candidate"
            ),
        }
    }
    assert_eq!(kills, 12);
    assert!(
        cosigned_rounds >= 8,
        "only {cosigned_rounds} rounds cosigned"
    );
}

/// Status and body of a raw request (anything a client may send), or `None` without an
/// answer within `patience`.
fn raw(addr: &str, request: &[u8], patience: Duration) -> Option<(u16, String)> {
    exchange(TcpStream::connect(addr).unwrap(), request, patience)
}

/// Sends `request` on `s` and reads the answer to the end, waiting at most `patience` for
/// each read: the status and the body, `None` without an answer.
fn exchange(mut s: TcpStream, request: &[u8], patience: Duration) -> Option<(u16, String)> {
    s.set_read_timeout(Some(patience)).unwrap();
    let _ = s.write_all(request);
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.get(9..12)?.parse().ok()?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

fn post_raw(addr: &str, body: &[u8]) -> (u16, String) {
    raw(addr, &request_bytes(body), Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no answer to {:?}", String::from_utf8_lossy(body)))
}

/// A checkpoint note signed by `key` for `origin`, `size` and `root`, with `extra` lines.
fn note(key: &NoteSigner, origin: &str, size: u64, root: Hash) -> Vec<u8> {
    Checkpoint::new(origin.to_owned(), TreeSize(size), root)
        .sign(key)
        .unwrap()
        .to_bytes()
}

/// Hostile bodies from a commission holding the log key and from anyone else: each is
/// refused with the status tlog-witness names and a reason naming the rule, nothing is
/// recorded, and an honest request is still answered at once.
#[test]
fn hostile_requests_are_refused_with_their_rule_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let w = Witness::start(dir.path(), true);
    let at5 = Log::new(5, 0).grow_to(5);
    let at10 = Log::new(5, 0).grow_to(10);
    assert_eq!(post_raw(&w.addr, &at5.request(0)).0, 200);
    let before = std::fs::read(dir.path().join("w.state")).unwrap();
    let key = log_key();
    let proof = |n: usize| -> String {
        (0..n)
            .map(|i| format!("{}\n", Hash([i as u8; 32]).to_base64()))
            .collect()
    };
    let body = |head: &str, note: &[u8]| {
        let mut b = head.as_bytes().to_vec();
        b.extend_from_slice(note);
        b
    };
    let good10 = note(&key, ORIGIN, 10, at10.root());
    let real_proof: String = {
        let full = at10.request(5);
        let text = String::from_utf8(full).unwrap();
        let (_, rest) = text.split_once('\n').unwrap();
        rest.split_once("\n\n").unwrap().0.to_owned() + "\n"
    };
    let other = NoteSigner::from_seed(ORIGIN, &[8; 32]).unwrap();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "old size beyond u64",
            body("old 18446744073709551616\n\n", &good10),
            400,
            "old size is not a canonical decimal",
        ),
        (
            "negative old size",
            body("old -5\n\n", &good10),
            400,
            "old size is not a canonical decimal",
        ),
        (
            "old size with a leading zero",
            body("old 05\n\n", &good10),
            400,
            "canonical decimal",
        ),
        (
            "old size above the checkpoint's",
            body("old 11\n\n", &good10),
            400,
            "old size 11 is larger than the checkpoint size 10",
        ),
        (
            "old size not the one cosigned",
            body(&format!("old 4\n{}\n", proof(3)), &good10),
            409,
            "5",
        ),
        (
            "a proof one hash short",
            body(
                &format!(
                    "old 5\n{}\n",
                    real_proof.lines().skip(1).collect::<Vec<_>>().join("\n") + "\n"
                ),
                &good10,
            ),
            422,
            "consistency proof from size 5 does not verify",
        ),
        (
            "a proof one hash long",
            body(&format!("old 5\n{real_proof}{}\n", proof(1)), &good10),
            422,
            "consistency proof from size 5 does not verify",
        ),
        (
            "a proof of garbage hashes",
            body(&format!("old 5\n{}\n", proof(4)), &good10),
            422,
            "consistency proof from size 5 does not verify",
        ),
        (
            "a proof line that is not base64",
            body("old 5\nnot base64 at all\n\n", &good10),
            400,
            "line 2: proof hash",
        ),
        (
            "64 proof lines",
            body(&format!("old 5\n{}\n", proof(64)), &good10),
            400,
            "more than 63 proof lines",
        ),
        (
            "a checkpoint of another origin",
            body(
                "old 0\n\n",
                &note(
                    &NoteSigner::from_seed("other.origin/log", &[7; 32]).unwrap(),
                    "other.origin/log",
                    10,
                    at10.root(),
                ),
            ),
            404,
            "unknown log origin \"other.origin/log\"",
        ),
        (
            "a checkpoint signed by another key of the same name",
            body("old 5\n\n", &note(&other, ORIGIN, 10, at10.root())),
            403,
            "no valid signature by a known key of log",
        ),
        (
            "a NUL byte in the checkpoint",
            body(
                "old 5\n\n",
                &String::from_utf8(good10.clone())
                    .unwrap()
                    .replacen("\n10\n", "\n1\u{0}0\n", 1)
                    .into_bytes(),
            ),
            400,
            "malformed checkpoint",
        ),
        (
            "a body that is not UTF-8",
            body("old 5\n\u{0}\n", b"\xff\xfe\xfd\n"),
            400,
            "malformed request",
        ),
        (
            "ten thousand blank lines",
            body(&format!("old 5\n{}", "\n".repeat(10_000)), b""),
            400,
            "malformed checkpoint",
        ),
        ("nothing", Vec::new(), 400, "line 1"),
    ];
    for (what, b, status, reason) in cases {
        let (got, text) = post_raw(&w.addr, &b);
        assert_eq!(got, status, "{what}: {text}");
        assert!(text.contains(reason), "{what}: {got} {text}");
    }
    // hyper refuses a length of 2⁶⁴ − 1 (its own marker) as a head too large: 431.
    let heads: Vec<(&str, &[u8], u16)> = vec![
        (
            "a body announced at 2⁶⁴ − 1 bytes",
            b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: 18446744073709551615\r\n\r\nold 5\n",
            431,
        ),
        (
            "a body announced beyond u64",
            b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: 18446744073709551616\r\n\r\nold 5\n",
            400,
        ),
        (
            "a negative body length",
            b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: -5\r\n\r\nold 5\n",
            400,
        ),
        (
            "two body lengths",
            b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: 6\r\nContent-Length: 7\r\n\r\nold 5\n\n",
            400,
        ),
    ];
    for (what, request, status) in heads {
        let answer = raw(&w.addr, request, Duration::from_secs(5));
        assert_eq!(
            answer.as_ref().map(|a| a.0),
            Some(status),
            "{what}: {answer:?}"
        );
    }
    // A body over the bound, sent in full: refused without being held.
    let mut big = b"old 5\n\n".to_vec();
    big.resize(10 << 20, b'a');
    let answer = raw(&w.addr, &request_bytes(&big), Duration::from_secs(5));
    assert_eq!(answer.as_ref().map(|a| a.0), Some(413), "{answer:?}");

    // A body announced and never sent holds no lock: an honest request is answered at once.
    let mut hanging = TcpStream::connect(&w.addr).unwrap();
    hanging
        .write_all(
            b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: 500\r\n\r\nold 5\n",
        )
        .unwrap();
    assert_eq!(std::fs::read(dir.path().join("w.state")).unwrap(), before);
    let started = Instant::now();
    let (status, text) = post_raw(&w.addr, &at10.request(5));
    assert_eq!(status, 200, "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(hanging);
}

/// Hundreds of idle connections beyond the connection bound: an honest request waits at
/// most about the header timeout for a slot, then is cosigned.
#[test]
fn idle_connections_do_not_keep_an_honest_request_out() {
    let dir = tempfile::tempdir().unwrap();
    let w = Witness::start_with(
        dir.path(),
        true,
        &[
            "--max-connections",
            "32",
            "--max-connections-per-address",
            "32",
            "--header-timeout-ms",
            "1000",
        ],
    );
    let idle: Vec<TcpStream> = (0..400)
        .map(|_| {
            let mut s = TcpStream::connect(&w.addr).unwrap();
            let _ = s.write_all(b"POST /add-checkpoint HTTP/1.1\r\nHo");
            s
        })
        .collect();
    let at5 = Log::new(5, 0).grow_to(5);
    let started = Instant::now();
    let (status, text) = post_raw(&w.addr, &at5.request(0));
    assert_eq!(status, 200, "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    drop(idle);
}

/// A connection to `addr` from the loopback address `source` (e.g. `127.0.0.2`: another
/// client than the tests' usual `127.0.0.1`).
fn connect_from(source: &str, addr: &str) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        socket.connect(addr.parse().unwrap()).await.unwrap()
    });
    let stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
}

/// One address opens connections without end, each holding part of a request head for the
/// header timeout (a minute here). It gets its share of the slots (4 of 16) and no more: the
/// next connection from it is answered 503, naming why, and closed at once, and a request
/// from another address (127.0.0.2) is cosigned while all of them are still held. Without
/// the bound the 16 slots are the attacker's and the honest request waits in the backlog for
/// the header timeout, past the 20 seconds it is given here.
#[test]
fn one_address_cannot_hold_every_slot_the_log_needs() {
    let dir = tempfile::tempdir().unwrap();
    let w = Witness::start_with(
        dir.path(),
        true,
        &[
            "--max-connections",
            "16",
            "--max-connections-per-address",
            "4",
            "--header-timeout-ms",
            "60000",
        ],
    );
    let open = || {
        let mut s = TcpStream::connect(&w.addr).unwrap();
        let _ = s.write_all(b"POST /add-checkpoint HTTP/1.1\r\nHo");
        s
    };
    let held: Vec<TcpStream> = (0..4).map(|_| open()).collect();
    // The fifth sends nothing yet: it is answered at once.
    let fifth = TcpStream::connect(&w.addr).unwrap();
    let (status, text) = exchange(fifth, b"", Duration::from_secs(20)).expect("an answer");
    assert_eq!(
        (status, text.as_str()),
        (503, "too many connections from this address\n")
    );
    let more: Vec<TcpStream> = (0..40).map(|_| open()).collect();
    let at5 = Log::new(5, 0).grow_to(5);
    let (status, text) = exchange(
        connect_from("127.0.0.2", &w.addr),
        &request_bytes(&at5.request(0)),
        Duration::from_secs(20),
    )
    .expect("an answer to the request from another address");
    assert_eq!(status, 200, "{text}");
    assert!(text.starts_with("— "), "{text}");
    drop((held, more));
}

/// Two witness processes on one state file (a second started by mistake, on another port
/// or behind another proxy entry) each hold the state in memory and would cosign a
/// different fork of the same size. The second must refuse to start, naming the file.
#[test]
fn a_second_witness_on_the_same_state_file_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let first = Witness::start(dir.path(), true);
    let at5 = Log::new(5, 0).grow_to(5);
    assert_eq!(post_raw(&first.addr, &at5.request(0)).0, 200);

    let out = urna()
        .args(["witness", "serve", "--key"])
        .arg(dir.path().join("w.key"))
        .arg("--state")
        .arg(dir.path().join("w.state"))
        .args(["--listen", "127.0.0.1:0", "--log"])
        .arg(format!("{ORIGIN}={}", log_key().verifier().to_vkey()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A second witness that started would serve until killed: give it a moment, then look.
    let started = Instant::now();
    let mut out = out;
    let status = loop {
        if let Some(status) = out.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(5) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if status.is_none() {
        // It is serving: show what that costs, then stop it.
        let mut line = String::new();
        let mut stdout = std::io::BufReader::new(out.stdout.take().unwrap());
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        let second = line.trim().strip_prefix("listening on http://").unwrap();
        let a = post_raw(&first.addr, &Log::new(5, 0).grow_to(10).request(5));
        let b = post_raw(second, &Log::new(5, 1).grow_to(10).request(5));
        let _ = out.kill();
        let _ = out.wait();
        panic!(
            "a second witness started on the same state file; two forks of size 10 got {} and {}",
            a.0, b.0
        );
    }
    let output = out.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("w.state"), "{stderr}");
    assert!(stderr.contains("another"), "{stderr}");
    // The first one is unaffected.
    assert_eq!(
        post_raw(&first.addr, &Log::new(5, 0).grow_to(10).request(5)).0,
        200
    );
}

/// A state file edited to name the log twice, the larger size first: JSON readers disagree
/// on which entry counts (the witness took the last, a rollback to size 1). Refused at start,
/// naming the log, as any state file that is not exactly one state.
#[test]
fn a_state_file_naming_a_log_twice_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let root = Log::new(5, 0).grow_to(5).root().to_base64();
    let one = Log::new(5, 0).grow_to(1).root().to_base64();
    std::fs::write(
        dir.path().join("w.state"),
        format!(
            "{{\"logs\": {{\"{ORIGIN}\": {{\"size\": 5, \"root\": \"{root}\"}}, \
             \"{ORIGIN}\": {{\"size\": 1, \"root\": \"{one}\"}}}}}}\n"
        ),
    )
    .unwrap();
    WitnessKey::from_seed("witness.attack/w1", [9; 32])
        .unwrap()
        .write_new(&dir.path().join("w.key"))
        .unwrap();
    let mut child = urna()
        .args(["witness", "serve", "--key"])
        .arg(dir.path().join("w.key"))
        .arg("--state")
        .arg(dir.path().join("w.state"))
        .args(["--listen", "127.0.0.1:0", "--log"])
        .arg(format!("{ORIGIN}={}", log_key().verifier().to_vkey()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    if child.try_wait().unwrap().is_none() {
        let mut line = String::new();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        let addr = line.trim().strip_prefix("listening on http://").unwrap();
        // It serves: from which size?
        let answer = post_raw(addr, &Log::new(5, 1).grow_to(3).request(1));
        let _ = child.kill();
        let _ = child.wait();
        panic!("the witness started; a fork of size 3 from size 1 got {answer:?}");
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("w.state"), "{stderr}");
    assert!(
        stderr.contains(&format!("{ORIGIN:?} is listed twice")),
        "{stderr}"
    );
}
