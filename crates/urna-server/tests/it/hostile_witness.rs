//! The log's side against a hostile or broken witness: whatever it answers, and however slowly,
//! asking it ends within the timeout (and a little), holds no more than a bounded body, and
//! never counts a cosignature that is not the configured key's on this checkpoint.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use urna_server::{WitnessEndpoint, WitnessPolicy, collect_cosignatures};
use urna_tlog::FixedClock;

use crate::{Log, NOW, witness_key};

const TIMEOUT: Duration = Duration::from_millis(1500);

/// A witness that reads each request whole and then lets `answer` write what it likes.
struct Hostile {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Hostile {
    fn start(answer: impl Fn(&mut TcpStream, &[u8]) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let answer = Arc::new(answer);
        let stopping = Arc::clone(&stop);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(mut s) = stream else { continue };
                let answer = Arc::clone(&answer);
                std::thread::spawn(move || {
                    let body = read_request(&mut s);
                    answer(&mut s, &body);
                });
            }
        });
        Self { addr, stop }
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

/// The body of one request (head read to its blank line, then Content-Length bytes).
fn read_request(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).unwrap_or(0) == 0 {
            return Vec::new();
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    let _ = s.read_exact(&mut body);
    body
}

/// Asks one witness at `addr` (configured with test key 1) to cosign a checkpoint of size 3.
fn ask(addr: SocketAddr) -> (urna_server::CosignReport, Duration) {
    let policy = WitnessPolicy {
        witnesses: vec![WitnessEndpoint {
            name: "w1".into(),
            url: format!("http://{addr}"),
            verifier: witness_key(1).verifier(),
            pins: Vec::new(),
        }],
        quorum: 1,
        ca_cert: None,
    };
    let mut log = Log::new(0);
    log.grow_to(3);
    let mut last = BTreeMap::new();
    let started = Instant::now();
    let r = collect_cosignatures(
        &policy,
        &log.checkpoint(),
        &mut last,
        &|a, b| log.proof(a, b),
        TIMEOUT,
    );
    (r, started.elapsed())
}

fn assert_refused(what: &str, answer: impl Fn(&mut TcpStream, &[u8]) + Send + Sync + 'static) {
    let w = Hostile::start(answer);
    let (r, took) = ask(w.addr);
    assert_eq!(r.cosigned_note, None, "{what}: {r:?}");
    assert!(r.got.is_empty(), "{what}: {r:?}");
    assert_eq!(r.failed.len(), 1, "{what}: {r:?}");
    // Two rounds at most (a 409 is asked again once), each bounded by the timeout.
    assert!(
        took < TIMEOUT * 2 + Duration::from_secs(2),
        "{what}: asking took {took:?}"
    );
    eprintln!("{what}: {took:?}: {}", r.failed[0].1);
}

fn cosignature_line(key: u8, text: &str) -> String {
    let signer = witness_key(key).signer().clone();
    let sig = signer.cosign(text, &FixedClock(NOW)).unwrap();
    urna_tlog::cosignature::signature_line(&sig)
}

#[test]
fn a_hostile_witness_is_bounded_in_time_and_memory_and_never_counted() {
    assert_refused("a body trickled a byte at a time", |s, _| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
        for _ in 0..600 {
            if s.write_all(b"x").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    assert_refused("a head trickled a byte at a time", |s, _| {
        for b in b"HTTP/1.1 200 OK\r\nX-Slow: "
            .iter()
            .chain([b'a'; 600].iter())
        {
            if s.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    assert_refused("an endless chunked body", |s, _| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        let chunk = format!("4000\r\n{}\r\n", "ab".repeat(8192));
        for _ in 0..100_000 {
            if s.write_all(chunk.as_bytes()).is_err() {
                return;
            }
        }
    });
    assert_refused("a body of 1 GiB announced and sent", |s, _| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n");
        let block = vec![b'a'; 1 << 16];
        for _ in 0..(1 << 14) {
            if s.write_all(&block).is_err() {
                return;
            }
        }
    });
    assert_refused("a redirect", |s, _| {
        let _ = s.write_all(
            b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:1/add-checkpoint\r\n\
              Content-Length: 0\r\n\r\n",
        );
    });
    assert_refused("a cosignature by another witness's key", |s, body| {
        let text = checkpoint_text(body);
        let line = cosignature_line(2, &text);
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{line}",
            line.len()
        );
    });
    assert_refused(
        "the right key's cosignature of another checkpoint",
        |s, body| {
            let text = checkpoint_text(body).replacen("\n3\n", "\n4\n", 1);
            let line = cosignature_line(1, &text);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{line}",
                line.len()
            );
        },
    );
    assert_refused("a 409 that never ends", |s, _| {
        let _ = s.write_all(
            b"HTTP/1.1 409 Conflict\r\nContent-Type: text/x.tlog.size\r\nContent-Length: 2\r\n\r\n1\n",
        );
    });
    assert_refused("a 409 with a size beyond the checkpoint", |s, _| {
        let _ = s.write_all(
            b"HTTP/1.1 409 Conflict\r\nContent-Type: text/x.tlog.size\r\nContent-Length: 21\r\n\r\n18446744073709551615\n",
        );
    });
}

/// The checkpoint text of an add-checkpoint body (after the blank line, up to the note's
/// blank line).
fn checkpoint_text(body: &[u8]) -> String {
    let body = String::from_utf8_lossy(body);
    let (_, note) = body.split_once("\n\n").unwrap();
    let (text, _) = note.split_once("\n\n").unwrap();
    format!("{text}\n")
}
