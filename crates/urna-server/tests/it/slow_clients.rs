//! Slow clients against real servers on loopback: `urna serve` ([`serve::run`]) and the
//! witness ([`serve_witness`]) with a small connection bound and a short header timeout.
//! More connections than the bound each send one byte of a request line and then nothing;
//! the server closes every one of them, and meanwhile `/healthz` answers and a real request
//! (a submission, an add-checkpoint) gets its answer. Waits are bounded by generous read
//! timeouts, never measured.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;
use urna_model::note::Note;
use urna_model::receipt::Receipt;
use urna_server::serve::{self, ServeConfig};
use urna_server::{ConnLimits, serve_witness};
use urna_sim::{SimConfig, Simulation};

use crate::{Log, witness_key, witness_service};

/// Connections at once in these tests.
const BOUND: usize = 4;
/// Slow clients: more than the bound, so some wait in the listen backlog.
const SLOW: usize = 3 * BOUND;
/// The header timeout of these tests: short, so that they run quickly.
const HEADER_TIMEOUT: Duration = Duration::from_millis(300);
/// The most any single read waits: far above every timeout the server applies (slow
/// clients are closed in at most SLOW / BOUND rounds of HEADER_TIMEOUT).
const PATIENCE: Duration = Duration::from_secs(60);

/// `n` connections that each sent one byte of a request line.
fn slow_clients(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"G").unwrap();
            s.set_read_timeout(Some(PATIENCE)).unwrap();
            s
        })
        .collect()
}

/// Waits until the server closes `s`: end of stream (after whatever it sent) or a reset.
/// Panics if it is still open after [`PATIENCE`].
fn assert_closed_by_server(mut s: TcpStream, what: &str) {
    let mut sink = Vec::new();
    match s.read_to_end(&mut sink) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("{what}: still open after {PATIENCE:?} ({e})"),
    }
}

/// Sends `request` on a new connection and returns the status and the body.
fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(request).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .unwrap_or_else(|e| panic!("no answer within {PATIENCE:?}: {e}"));
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

fn post(addr: SocketAddr, path: &str, body: &[u8]) -> (u16, String) {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    exchange(addr, &req)
}

/// A kept-alive connection is closed once it has been idle for the header timeout.
fn assert_idle_keep_alive_closed(addr: SocketAddr) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "closed before the response");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap();
    let mut body = vec![0; len];
    s.read_exact(&mut body).unwrap();
    // The response is complete and the connection kept alive; nothing more is sent.
    assert_closed_by_server(s, "an idle kept-alive connection");
}

/// A simulated election of a few stations, initialised in `dir/data`.
fn election(dir: &Path) -> (Simulation, std::path::PathBuf) {
    let sim = Simulation::new(SimConfig {
        stations: 5,
        districts: 1,
        error_rate_per_10k: 0,
        ..SimConfig::default()
    });
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("election.toml"), sim.definition_toml()).unwrap();
    let mut csv = format!("{}\n", urna_sim::STATIONS_HEADER);
    for i in 0..5 {
        csv.push_str(&sim.station_row(&sim.station(i)));
        csv.push('\n');
    }
    std::fs::write(src.join("stations.csv"), csv).unwrap();
    let data = dir.join("data");
    urna_store::Store::init(&data, &src.join("election.toml")).unwrap();
    (sim, data)
}

/// `urna serve` on its own thread; stopped (and joined) when dropped.
struct Serving {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Serving {
    fn start(config: ServeConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let (bound_tx, bound_rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let shutdown = async move {
                let _ = stopped.await;
            };
            serve::run(&config, listener, None, shutdown, |b| {
                bound_tx.send(b.api).unwrap();
            })
            .unwrap();
        });
        let addr = bound_rx.recv_timeout(PATIENCE).unwrap();
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

#[test]
fn serve_closes_slow_clients_and_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, data) = election(dir.path());
    let mut config = ServeConfig::new(&data);
    config.max_connections = BOUND;
    config.header_timeout = HEADER_TIMEOUT;
    config.publish_every = Duration::from_millis(50);
    let server = Serving::start(config);

    // 1. More slow clients than the bound: each holds a connection, or waits for one.
    let slow = slow_clients(server.addr, SLOW);

    // 2. Health still answers: its connection waits at most until the header timeout has
    //    closed the slow ones ahead of it.
    let (status, body) = get(server.addr, "/healthz");
    assert_eq!(status, 200, "{body}");

    // 3. A real submission still gets its receipt.
    let more = slow_clients(server.addr, SLOW);
    let note = sim.protocol_note(&sim.station(0));
    let (status, body) = post(server.addr, "/v1/protocols", &note);
    assert_eq!(status, 201, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let receipt = Note::parse(answer["receipt"].as_str().unwrap().as_bytes()).unwrap();
    let receipt = Receipt::parse(receipt.text()).unwrap();
    assert_eq!(receipt.index, 1, "the first protocol follows the genesis");
    assert_eq!(receipt.entry, urna_model::intake::sha256(&note));

    // 4. Every slow client was disconnected by the server.
    for (i, s) in slow.into_iter().chain(more).enumerate() {
        assert_closed_by_server(s, &format!("slow client {i}"));
    }

    // 5. A kept-alive connection left idle is closed too.
    assert_idle_keep_alive_closed(server.addr);
    drop(server);
}

/// Clients that ask for answers and never read them: many pipelined requests for the
/// results page, far more bytes than the sockets' buffers hold. Each is closed once its answer
/// has waited the header timeout without a byte read, and meanwhile `/healthz` answers and a
/// submission gets its receipt.
#[test]
fn serve_closes_clients_that_never_read_their_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, data) = election(dir.path());
    let mut config = ServeConfig::new(&data);
    config.max_connections = BOUND;
    config.header_timeout = HEADER_TIMEOUT;
    config.publish_every = Duration::from_millis(50);
    let server = Serving::start(config);
    let (status, _) = get(server.addr, "/index.html");
    assert_eq!(status, 200);
    let requests = "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n".repeat(2000);
    let readers: Vec<TcpStream> = (0..SLOW)
        .map(|_| {
            let s = TcpStream::connect(server.addr).unwrap();
            s.set_nonblocking(true).unwrap();
            // As much of the requests as the socket takes; the rest never goes.
            let _ = (&s).write(requests.as_bytes());
            s
        })
        .collect();
    let (status, body) = get(server.addr, "/healthz");
    assert_eq!(status, 200, "{body}");
    let note = sim.protocol_note(&sim.station(0));
    let (status, body) = post(server.addr, "/v1/protocols", &note);
    assert_eq!(status, 201, "{body}");
    for (i, s) in readers.into_iter().enumerate() {
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        assert_closed_by_server(s, &format!("non-reading client {i}"));
    }
    drop(server);
}

#[test]
fn the_witness_closes_slow_clients_and_keeps_cosigning() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let service = witness_service(dir.path(), 1).with_body_timeout(HEADER_TIMEOUT);
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let limits = ConnLimits {
                max_connections: BOUND,
                header_timeout: HEADER_TIMEOUT,
                per_address: None,
            };
            serve_witness(listener, service, limits, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
    });

    // 1. Slow clients beyond the bound; health still answers.
    let slow = slow_clients(addr, SLOW);
    let (status, body) = get(addr, "/healthz");
    assert_eq!(status, 200, "{body}");

    // 2. A checkpoint is still cosigned.
    let more = slow_clients(addr, SLOW);
    let mut log = Log::new(0);
    log.grow_to(5);
    let (status, body) = post(addr, "/add-checkpoint", &log.request(0));
    assert_eq!(status, 200, "{body}");
    let name = witness_key(1).verifier().name().to_owned();
    assert!(body.starts_with(&format!("— {name} ")), "{body}");

    // 3. A body that never arrives is answered 408 rather than held.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nold 0\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // 4. Every slow client was disconnected, and an idle kept-alive connection is closed.
    for (i, s) in slow.into_iter().chain(more).enumerate() {
        assert_closed_by_server(s, &format!("slow client {i}"));
    }
    assert_idle_keep_alive_closed(addr);

    stop.send(()).unwrap();
    thread.join().unwrap();
}

/// A request head is at most `conn::MAX_HEAD_BYTES` (16 KiB): a client cannot make each of its connections
/// buffer hundreds of KiB of headers (hyper's default) for the header timeout. A head of a
/// usual size is served; a larger one is answered 431.
#[test]
fn a_request_head_over_the_bound_is_refused_not_buffered() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let router = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
            let limits = ConnLimits {
                max_connections: BOUND,
                header_timeout: PATIENCE,
                per_address: None,
            };
            urna_server::conn::serve_with(listener, router, limits, None, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
    });
    let head = |header: usize| {
        format!(
            "GET / HTTP/1.1\r\nHost: x\r\nCookie: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(header)
        )
    };
    let (status, body) = exchange(addr, head(4 * 1024).as_bytes());
    assert_eq!((status, body.as_str()), (200, "ok"));
    // MAX_HEAD_BYTES is 16 KiB.
    let (status, _) = exchange(addr, head(20 * 1024).as_bytes());
    assert_eq!(status, 431, "a head of 20 KiB");
    let (status, _) = exchange(addr, head(200 * 1024).as_bytes());
    assert_eq!(status, 431, "a head of 200 KiB");
    stop.send(()).unwrap();
    thread.join().unwrap();
}
