//! The cosignature client against real witnesses served on loopback (`serve_witness` on
//! 127.0.0.1:0), as one ordered story: quorum with one witness down, the 409 retry, a fork
//! refused, a wrong key not counted, and no quorum with two down.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;
use urna_model::note::Note;
use urna_server::{WitnessEndpoint, WitnessPolicy, collect_cosignatures, serve_witness};

use crate::{Log, NOW, log_key, witness_key, witness_service};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A witness served on its own thread and runtime; stops when dropped.
struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    fn start(dir: &std::path::Path, n: u8) -> Self {
        // Bound before the server thread starts, so requests can be sent at once.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let service = witness_service(dir, n);
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let limits = urna_server::ConnLimits {
                    max_connections: 64,
                    header_timeout: TIMEOUT,
                    per_address: None,
                };
                serve_witness(listener, service, limits, async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An address nothing listens on: bind a port, then close it.
fn closed_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn endpoint(n: u8, addr: SocketAddr) -> WitnessEndpoint {
    WitnessEndpoint {
        name: format!("w{n}"),
        url: format!("http://{addr}"),
        verifier: witness_key(n).verifier(),
        pins: Vec::new(),
    }
}

fn collect(
    policy: &WitnessPolicy,
    log: &Log,
    last: &mut BTreeMap<String, u64>,
) -> urna_server::CosignReport {
    collect_cosignatures(
        policy,
        &log.checkpoint(),
        last,
        &|a, b| log.proof(a, b),
        TIMEOUT,
    )
}

#[test]
fn quorum_story() {
    let dir = tempfile::tempdir().unwrap();
    let mut w1 = Running::start(dir.path(), 1);
    let mut w2 = Running::start(dir.path(), 2);
    let down = closed_addr();
    let policy = WitnessPolicy {
        witnesses: vec![
            endpoint(1, w1.addr),
            endpoint(2, w2.addr),
            endpoint(3, down),
        ],
        quorum: 2,
        ca_cert: None,
    };
    let mut last = BTreeMap::new();
    let mut log = Log::new(0);

    // 1. One witness down: two of three still make the quorum.
    log.grow_to(5);
    let r = collect(&policy, &log, &mut last);
    assert_eq!(r.got, ["w1", "w2"]);
    assert_eq!(r.failed.len(), 1);
    assert_eq!(r.failed[0].0, "w3");
    assert!(r.failed[0].1.contains("failed"), "{}", r.failed[0].1);
    let note = Note::parse(&r.cosigned_note.unwrap()).unwrap();
    log_key().verifier().verify(&note).unwrap();
    assert_eq!(witness_key(1).verifier().verify(&note), Ok(NOW));
    assert_eq!(witness_key(2).verifier().verify(&note), Ok(NOW));
    assert_eq!(note.signatures().len(), 3);
    assert_eq!(last, BTreeMap::from([("w1".into(), 5), ("w2".into(), 5)]));

    // 2. The log grows: the client sends proofs from the sizes each witness holds.
    log.grow_to(11);
    let r = collect(&policy, &log, &mut last);
    assert_eq!(r.got, ["w1", "w2"]);
    assert!(r.cosigned_note.is_some());

    // 3. The client forgot what w1 holds: w1 answers 409 with 11, the client retries once
    //    with a proof from 11 and gets the cosignature.
    log.grow_to(16);
    last.remove("w1");
    let r = collect(&policy, &log, &mut last);
    assert_eq!(r.got, ["w1", "w2"], "{:?}", r.failed);
    assert_eq!(last["w1"], 16);

    // 3b. The size recorded for w1 is beyond the checkpoint (the sizes file or table edited):
    //     w1 is asked all the same, answers 409 with what it holds, and cosigns; refusing
    //     without asking would stop its cosignatures until the log outgrew the bogus size.
    log.grow_to(17);
    last.insert("w1".into(), 1_000_000);
    let r = collect(&policy, &log, &mut last);
    assert_eq!(r.got, ["w1", "w2"], "{:?}", r.failed);
    assert_eq!(last["w1"], 17);

    // 4. A fork under the same key is refused by both (422: no proof from their root).
    let mut fork = Log::new(1);
    fork.grow_to(20);
    let r = collect(&policy, &fork, &mut last);
    assert_eq!(r.cosigned_note, None);
    assert!(r.got.is_empty());
    for (name, reason) in &r.failed[..2] {
        assert!(reason.starts_with("422"), "{name}: {reason}");
    }

    // 5. A cosignature by a key other than the configured one does not count.
    log.grow_to(18);
    let wrong_key = WitnessPolicy {
        witnesses: vec![WitnessEndpoint {
            verifier: witness_key(9).verifier(),
            ..endpoint(1, w1.addr)
        }],
        quorum: 1,
        ca_cert: None,
    };
    let r = collect(&wrong_key, &log, &mut last);
    assert_eq!(r.cosigned_note, None);
    assert!(
        r.failed[0].1.contains("no valid cosignature"),
        "{:?}",
        r.failed
    );

    // 6. Two witnesses down: no quorum, nothing to publish.
    w2.stop();
    log.grow_to(20);
    let r = collect(&policy, &log, &mut last);
    assert_eq!(r.got, ["w1"]);
    assert_eq!(r.cosigned_note, None);
    assert_eq!(
        r.failed.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
        ["w2", "w3"]
    );
    w1.stop();
}

#[test]
fn a_silent_witness_counts_as_failed_after_the_timeout() {
    // The kernel accepts the connection into the backlog, but nobody ever answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let policy = WitnessPolicy {
        witnesses: vec![endpoint(1, silent.local_addr().unwrap())],
        quorum: 1,
        ca_cert: None,
    };
    let mut log = Log::new(0);
    log.grow_to(3);
    let mut last = BTreeMap::new();
    let started = std::time::Instant::now();
    let r = collect_cosignatures(
        &policy,
        &log.checkpoint(),
        &mut last,
        &|a, b| log.proof(a, b),
        Duration::from_millis(300),
    );
    // Generous bound: only shows the request did not wait for an answer that never comes.
    assert!(started.elapsed() < TIMEOUT, "{:?}", started.elapsed());
    assert_eq!(r.cosigned_note, None);
    assert_eq!(r.failed.len(), 1);
    assert!(last.is_empty());
    assert!(r.failed[0].1.contains("timeout"), "{}", r.failed[0].1);
}
