//! `urna serve --store postgres://…`: one of several intake nodes on one PostgreSQL database
//! (crate `urna_pg`, docs/ARCHITECTURE.md §5.1).
//!
//! ```text
//! POST /v1/protocols ─► handler ─► jobs queue ─► intake thread: PgStore::ingest_batches
//!        ▲  (permit of the intake bound)            (a batch per transaction, under the
//!        │                                          intake_head row lock; an audit note
//!        │                                          alone: PgStore::append_audit)
//!        └──── receipt ◄── oneshot ◄── answer ───── answer after COMMIT
//!
//! GET /checkpoint, /tile/…  ─► reader threads ─► tables `sequencer`, `tiles`
//! GET /v1/proof/<index>     ─► reader threads ─► tables `published`/`sequencer`, `entries`, `tiles`
//! GET /v1/status            ─► reader threads ─► tables `nodes`, `sequencer`, `intake_head`
//! PUT /v1/scans/<sha256>    ─► reader threads ─► named by a note in `entries`? → INSERT INTO
//!                              `scans`, answered after its commit
//! GET /metrics (own listener) ─► this node's counters and flags (no database read)
//!
//! coordinator thread: every tick: the sequencer (PgSequencer::acquire while another node
//!                     holds the lease; PgSequencer::step while this one does), and once a
//!                     second this node's heartbeat row in `nodes`
//! cosigning thread:   after each checkpoint signed here: witnesses cosign → table `published`
//! bundle thread:      with --bundle DIR, on every node: a new published checkpoint → a new
//!                     generation of DIR (BundleWriter over PgSource, only new entries read)
//! GET /, /checkpoint, /v1/results.json, /tile/…, every file of DIR/current
//!                     ─► serve.rs's file cache (FileCache, cached_file), as `urna serve` on SQLite
//! ```
//!
//! Every node takes intake on its own and answers with the log's signed receipt only after the
//! transaction holding the note committed, exactly as the SQLite `urna serve` does, with the
//! same request, answers and receipts ([`crate::serve`]'s handler parts are called, not
//! copied). Every node runs the sequencer loop; the database's lease row lets one sequence at
//! a time, and the fencing token keeps a node that lost its lease from writing. When the
//! sequencing node dies, its lease expires and another node takes over at its next try.
//!
//! If the database goes away (restart, network), intake answers `503` with `Retry-After`
//! and the node reconnects by itself; a note whose commit was in flight is either stored (a
//! resend is answered as a duplicate, with a receipt) or not (a resend stores it).
//!
//! Witnesses: with a policy in the database (`urna init --store … --witnesses FILE`), the
//! sequencing node's cosigning thread asks the witnesses to cosign each checkpoint it signs
//! ([`crate::publish::publish_pg`], the SQLite path's `collect_cosignatures`, with consistency
//! proofs from table `tiles` and each witness's last size in table `witness_sizes`) and
//! publishes it on quorum (table `published`). A node that takes over continues the same tree
//! from the stored checkpoint and the stored sizes, so a witness sees one history.
//!
//! The public side: with a bundle root ([`PgServeConfig::bundle`], `--bundle DIR`) every node,
//! not only the sequencing one, keeps its own bundle current with the database's published
//! checkpoint (cosigned, with a witness policy; the sequencer's own, without) and serves it as
//! the SQLite `urna serve` does: the results page, `v1/*.json`, the checkpoint and the tiles of
//! `DIR/current`, through [`crate::serve`]'s file cache. What is checked when: at start the
//! node's [`PgStore::open`] re-derives every row, and the writer's source
//! ([`PgSource::after_open`]) relies on that check rather than repeating it; the writer's
//! first update replays the log once to the published checkpoint; each later generation reads
//! only the entries the new checkpoint added and checks them (and the tiles added) against its
//! root ([`crate::bundle`]). Without a bundle root, `GET /checkpoint` and `GET /tile/…` are read
//! from the database; the tiles let any reader prove inclusion and consistency, and `urna
//! publish --store` writes the bundle for any web server ([`crate::pg_bundle`]).
//!
//! Every node, sequencing or not, answers `GET /v1/proof/<index>` from the database: the
//! entry from table `entries` and the path from the hash tiles in table `tiles`
//! ([`urna_pg::proofs`]), checked against the root of the database's published checkpoint,
//! with the SQLite handler's code and answers ([`crate::serve`]'s `proof_against`), so the
//! same log gives the same bytes on both engines. With a metrics listener (`--metrics-listen`)
//! a node serves the SQLite `urna serve`'s metrics for its own intake, and whether it
//! sequences, whether its intake reaches the database, and its name.
//!
//! Scans of paper protocols (`PUT /v1/scans/<sha256>`): any node takes the scan a stored note
//! names (a note any node stored: the node reads table `entries` past the last entry it read
//! when the scan is not among the ones it knows), with the SQLite node's checks, answers and
//! codes ([`crate::serve`]'s `receive_scan`), and answers `201 stored` / `200 duplicate` only
//! after the scan's row in table `scans` committed ([`urna_pg::scans`]). Every node's bundle
//! and `urna publish --store` publish it as `blob/sha256/<hex>` ([`crate::pg_bundle`]).
//!
//! Audit notes (`urna/audit/v1`, the risk-limiting audit's trail, `POST /v1/protocols`): as on
//! the SQLite node, an audit note ends the intake's batch and goes through the audit's intake
//! on its own ([`PgStore::append_audit`]: the SQLite store's rule and refusals, with the same
//! code, under the `intake_head` lock so no node stores an entry meanwhile), answered with the
//! SQLite node's statuses and codes ([`crate::serve`]'s `audit_refused`) after the commit; the
//! sequencer logs it and every bundle publishes it in `v1/audit.json`.
//!
//! Out of scope on this engine for now: changing the witness policy after init.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Serialize;
use tokio::sync::{Semaphore, oneshot};
use urna_model::intake::Verdict;
use urna_model::note::NoteSigner;
use urna_pg::audit::{AuditIntake, PgAuditError};
use urna_pg::nodes::{self, Heartbeat};
use urna_pg::scans::NamedScans;
use urna_pg::{PgAcks, PgError, PgReader, PgSequencer, PgStore};
use urna_store::{Clock, Outcome, SystemClock};

use crate::bundle::BundleWriter;
use crate::conn::ConnLimits;
use crate::pg_bundle::PgSource;
use crate::serve::{
    Answer, Bound, FileCache, JSON, Job, Metrics, ProofBody, ProofRefusal, ReceivedScan,
    ServeError, ServeSummary, Submission, cache_control, cached_file, content_type, error,
    not_found, plain_path, proof_index, proof_response, receive_scan, scan_stored, unavailable,
};

/// Settings of `urna serve --store postgres://…`.
#[derive(Debug, Clone)]
pub struct PgServeConfig {
    /// The database (`postgres://…` or `host=… dbname=…`).
    pub url: String,
    /// The election definition the store was initialised from.
    pub definition: PathBuf,
    /// The log key (signs receipts, and checkpoints while this node sequences).
    pub signer: NoteSigner,
    /// This node's name, unique among the nodes of the database.
    pub node: String,
    /// Most notes accepted for intake and not yet answered; past it, `503`.
    pub max_inflight: usize,
    /// Most notes in one intake transaction.
    pub batch: usize,
    /// Longest time to receive a request body; past it, `408`.
    pub body_timeout: Duration,
    /// Longest time to receive a request head or stay idle.
    pub header_timeout: Duration,
    /// Most client connections open at once.
    pub max_connections: usize,
    /// How often the sequencing node appends, writes tiles and signs a checkpoint.
    pub checkpoint_every: Duration,
    /// The sequencer's lease: a node that stops renewing it for this long is replaced.
    pub lease: Duration,
    /// HTTPS ([`crate::tls`]); `None`: plain HTTP, for loopback only.
    pub tls: Option<crate::tls::Tls>,
    /// The bundle root this node keeps current with the published checkpoint and serves
    /// (`BUNDLE/current`), as the SQLite `urna serve` does; `None`: no public side but the
    /// checkpoint and tiles read from the database.
    pub bundle: Option<PathBuf>,
    /// How often to look for a new published checkpoint and write its bundle generation.
    pub publish_every: Duration,
    /// Most stations for which each bundle generation carries the NIST CDF export
    /// (`None`: always); see [`crate::bundle`].
    pub cdf_max_stations: Option<usize>,
}

impl PgServeConfig {
    /// Defaults: 4,096 notes in flight, 500 notes per transaction, 10 s timeouts, 1,024
    /// connections, a checkpoint every second, a 3-second lease.
    pub fn new(url: &str, definition: PathBuf, signer: NoteSigner, node: &str) -> Self {
        Self {
            url: url.to_owned(),
            definition,
            signer,
            node: node.to_owned(),
            max_inflight: 4096,
            batch: 500,
            body_timeout: Duration::from_secs(10),
            header_timeout: crate::conn::DEFAULT_HEADER_TIMEOUT,
            max_connections: 1024,
            checkpoint_every: Duration::from_secs(1),
            lease: Duration::from_secs(3),
            tls: None,
            bundle: None,
            publish_every: Duration::from_secs(1),
            cdf_max_stations: Some(crate::bundle::DEFAULT_CDF_MAX_STATIONS),
        }
    }
}

/// What this node knows of itself, shared by its threads.
#[derive(Debug, Default)]
struct NodeState {
    /// It holds the sequencer's lease.
    sequencing: AtomicBool,
    /// The database is unreachable for intake (answers `503` meanwhile).
    db_down: AtomicBool,
    /// The server is stopping.
    stopping: AtomicBool,
}

/// A read for the reader threads, and where to send its answer.
enum ReadJob {
    Bytes {
        what: Read,
        reply: oneshot::Sender<Result<Option<Vec<u8>>, String>>,
    },
    /// `GET /v1/proof/<index>`: the inclusion proof against the published checkpoint.
    Proof {
        index: u64,
        reply: oneshot::Sender<Result<ProofBody, ProofRefusal>>,
    },
    /// `PUT /v1/scans/<sha256>`: whether a stored note (stored by any node) names the scan.
    ScanNamed {
        sha: [u8; 32],
        reply: oneshot::Sender<Result<bool, String>>,
    },
    /// `PUT /v1/scans/<sha256>`: the scan stored in table `scans`, committed before the reply
    /// (`true`: it was not there with these bytes).
    StoreScan {
        sha: [u8; 32],
        bytes: axum::body::Bytes,
        reply: oneshot::Sender<Result<bool, String>>,
    },
}

enum Read {
    Checkpoint,
    Tile(String),
    Note(u64),
    Status,
}

/// Reader threads (each its own connection; they also store the scans taken).
const READERS: usize = 2;

/// Shared state of the request handlers.
struct App {
    jobs: mpsc::Sender<Job>,
    reads: mpsc::Sender<ReadJob>,
    permits: Arc<Semaphore>,
    body_timeout: Duration,
    signer: NoteSigner,
    metrics: Arc<Metrics>,
    state: Arc<NodeState>,
    /// The live generation of this node's bundle, with a bundle root.
    files: Option<Arc<FileCache>>,
    /// Bounds the scans being received at once, as on the SQLite node.
    scan_uploads: Arc<Semaphore>,
}

impl App {
    async fn read(&self, what: Read) -> Result<Option<Vec<u8>>, String> {
        self.ask(|reply| ReadJob::Bytes { what, reply }).await
    }

    /// Sends `job` (made with the reply's sender) to the reader threads and waits for it.
    async fn ask<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<T, String>>) -> ReadJob,
    ) -> Result<T, String> {
        let (reply, answer) = oneshot::channel();
        self.reads
            .send(job(reply))
            .map_err(|_| "the reader threads stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the reader thread failed".to_owned())?
    }

    async fn proof(&self, index: u64) -> Result<ProofBody, ProofRefusal> {
        let (reply, answer) = oneshot::channel();
        self.reads
            .send(ReadJob::Proof { index, reply })
            .map_err(|_| ProofRefusal::Failed("the reader threads stopped".to_owned()))?;
        answer
            .await
            .map_err(|_| ProofRefusal::Failed("the reader thread failed".to_owned()))?
    }
}

/// Runs one node until `shutdown` completes: opens the store (every row checked, as at any
/// open), starts the intake, reader and coordinator threads, calls `on_bound` with the API
/// address (and the metrics one, with `metrics_listener`), serves, then drains: stops taking
/// notes (`503`), answers every note in flight after its commit, signs a last checkpoint if it
/// sequences and gives the lease up.
///
/// # Errors
/// [`ServeError`] if the store cannot be opened or a listener fails.
pub fn run_pg(
    config: &PgServeConfig,
    api: std::net::TcpListener,
    metrics_listener: Option<std::net::TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(Bound),
) -> Result<ServeSummary, ServeError> {
    let store = PgStore::open(&config.url, &config.definition, config.signer.clone())?;
    let listen = api.local_addr()?;
    let state = Arc::new(NodeState::default());
    let metrics = Arc::new(Metrics::default());
    let public = match &config.bundle {
        Some(root) => Some(open_bundle(config, root, &metrics)?),
        None => None,
    };
    let files = public.as_ref().map(|(_, files)| Arc::clone(files));
    let publisher = match public {
        Some((mut writer, files)) => {
            let (state, metrics, every) = (
                Arc::clone(&state),
                Arc::clone(&metrics),
                config.publish_every,
            );
            let node = config.node.clone();
            Some(
                std::thread::Builder::new()
                    .name("urna-pg-publisher".into())
                    .spawn(move || {
                        bundle_loop(&mut writer, &files, &metrics, &state, every, &node);
                    })?,
            )
        }
        None => None,
    };
    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
    let intake = {
        let (url, state, batch) = (config.url.clone(), Arc::clone(&state), config.batch.max(1));
        std::thread::Builder::new()
            .name("urna-pg-intake".into())
            .spawn(move || intake_loop(store, &url, &jobs_rx, batch, &state))?
    };
    let (reads_tx, reads_rx) = mpsc::channel::<ReadJob>();
    let reads_rx = Arc::new(Mutex::new(reads_rx));
    let named = Arc::new(Mutex::new(NamedScans::new()));
    let mut readers = Vec::new();
    for i in 0..READERS {
        let (url, rx, state, node, named) = (
            config.url.clone(),
            Arc::clone(&reads_rx),
            Arc::clone(&state),
            config.node.clone(),
            Arc::clone(&named),
        );
        readers.push(
            std::thread::Builder::new()
                .name(format!("urna-pg-read-{i}"))
                .spawn(move || reader_loop(&url, &rx, &state, &node, &named))?,
        );
    }
    let (cosign_tx, cosign_rx) = mpsc::channel::<()>();
    let cosigner = {
        let (config, state) = (config.clone(), Arc::clone(&state));
        std::thread::Builder::new()
            .name("urna-pg-cosign".into())
            .spawn(move || cosign_loop(&config, &cosign_rx, &state))?
    };
    let coordinator = {
        let (config, state, metrics) = (config.clone(), Arc::clone(&state), Arc::clone(&metrics));
        std::thread::Builder::new()
            .name("urna-pg-sequencer".into())
            .spawn(move || {
                coordinator_loop(&config, &listen.to_string(), &state, &metrics, &cosign_tx);
            })?
    };
    let permits = Arc::new(Semaphore::new(config.max_inflight.max(1)));
    let app = Arc::new(App {
        jobs: jobs_tx,
        reads: reads_tx,
        permits: Arc::clone(&permits),
        body_timeout: config.body_timeout,
        signer: config.signer.clone(),
        metrics: Arc::clone(&metrics),
        state: Arc::clone(&state),
        files: files.clone(),
        scan_uploads: Arc::new(Semaphore::new(crate::serve::SCAN_UPLOADS)),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("urna-http")
        .build()?;
    let served: io::Result<()> = runtime.block_on(async {
        api.set_nonblocking(true)?;
        let api = tokio::net::TcpListener::from_std(api)?;
        let mut shutdown = std::pin::pin!(shutdown);
        let stopped_early = tokio::select! {
            biased;
            () = &mut shutdown => true,
            () = std::future::ready(()) => false,
        };
        let metrics_listener = match metrics_listener {
            Some(l) => {
                l.set_nonblocking(true)?;
                Some(tokio::net::TcpListener::from_std(l)?)
            }
            None => None,
        };
        on_bound(Bound {
            api: api.local_addr()?,
            metrics: metrics_listener
                .as_ref()
                .map(tokio::net::TcpListener::local_addr)
                .transpose()?,
        });
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        if let Some(l) = metrics_listener {
            let (metrics, state, permits) = (
                Arc::clone(&metrics),
                Arc::clone(&state),
                Arc::clone(&permits),
            );
            let (node, bound) = (config.node.clone(), config.max_inflight.max(1));
            let router = crate::serve::metrics_router(move || {
                let inflight = bound.saturating_sub(permits.available_permits());
                render_metrics(&metrics, &state, &node, inflight)
            });
            let mut rx = stop_rx.clone();
            let limits = ConnLimits {
                max_connections: crate::serve::METRICS_CONNECTIONS,
                header_timeout: config.header_timeout,
                per_address: None,
            };
            tokio::spawn(crate::conn::serve_with(
                l,
                router,
                limits,
                config.tls.clone(),
                async move {
                    let _ = rx.changed().await;
                },
            ));
        }
        let limits = ConnLimits {
            max_connections: config.max_connections,
            header_timeout: config.header_timeout,
            per_address: None,
        };
        let regions = files.as_ref().map(|f| Arc::clone(&f.regions));
        let mut server = tokio::spawn(crate::conn::serve_files_with(
            api,
            router(app),
            limits,
            config.tls.clone(),
            regions,
            async move {
                let _ = stop_rx.changed().await;
            },
        ));
        if !stopped_early {
            tokio::select! {
                done = &mut server => return done.map_err(io::Error::other)?,
                () = shutdown => {}
            }
        }
        state.stopping.store(true, Ordering::SeqCst);
        let _ = stop_tx.send(true);
        match tokio::time::timeout(Duration::from_secs(10), &mut server).await {
            Ok(done) => done.map_err(io::Error::other)?,
            Err(_) => {
                server.abort();
                Ok(())
            }
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    // The router held the only senders: the intake and reader threads see their queues close.
    let summary = intake
        .join()
        .map_err(|_| ServeError::Intake("the intake thread panicked".into()))?;
    for r in readers {
        let _ = r.join();
    }
    state.stopping.store(true, Ordering::SeqCst);
    coordinator
        .join()
        .map_err(|_| ServeError::Intake("the sequencer thread panicked".into()))?;
    // The coordinator held the only sender: the cosigning thread ends its round and stops.
    cosigner
        .join()
        .map_err(|_| ServeError::Intake("the cosigning thread panicked".into()))?;
    if let Some(publisher) = publisher {
        publisher
            .join()
            .map_err(|_| ServeError::Intake("the bundle thread panicked".into()))?;
    }
    served?;
    let mut summary = summary;
    summary.bundle_size = metrics.bundle_size.load(Ordering::Relaxed);
    Ok(summary)
}

/// Opens this node's bundle at `root` on the store [`run_pg`] has just opened (and checked):
/// the writer reads through a [`PgSource`] that checks nothing more at open, and its first
/// [`BundleWriter::update`] replays the log once up to the published checkpoint (the entries
/// hashed to its root, the tiles checked); later ones read only what is new.
fn open_bundle(
    config: &PgServeConfig,
    root: &std::path::Path,
    metrics: &Metrics,
) -> Result<(BundleWriter, Arc<FileCache>), ServeError> {
    let source = PgSource::after_open(&config.url, &config.definition, &config.signer.verifier())?;
    let mut writer = BundleWriter::with_source(Box::new(source), root)?;
    writer.set_cdf_max_stations(config.cdf_max_stations);
    writer.update()?;
    let files = Arc::new(FileCache::default());
    if let Ok(generation) = std::fs::read_link(root.join(crate::bundle::CURRENT)) {
        files.set_generation(root.join(generation));
    }
    metrics
        .bundle_size
        .store(writer.live_size().unwrap_or(0), Ordering::Relaxed);
    Ok((writer, files))
}

/// The bundle thread of a node with a bundle root: on every node, not only the sequencing
/// one, each round writes a generation when the database's published checkpoint changed
/// (table `published` with a witness policy, `sequencer` without), so every node serves the
/// results of the same checkpoint soon after it is published. A failed round (the database
/// unreachable) leaves the live generation as it was and is said once until it changes.
fn bundle_loop(
    writer: &mut BundleWriter,
    files: &FileCache,
    metrics: &Metrics,
    state: &NodeState,
    every: Duration,
    node: &str,
) {
    let mut last_error = String::new();
    let mut last_cdf_note: Option<String> = None;
    loop {
        let stopping = state.stopping.load(Ordering::SeqCst);
        let started = Instant::now();
        match writer.update() {
            Ok(Some(info)) => {
                files.set_generation(info.generation_dir.clone());
                metrics.bundle_size.store(info.size, Ordering::Relaxed);
                metrics.published_size.store(info.size, Ordering::Relaxed);
                last_error.clear();
                if info.cdf_skipped != last_cdf_note {
                    if let Some(why) = &info.cdf_skipped {
                        eprintln!(
                            "urna serve: node {node}: the bundle carries no {}: {why}",
                            urna_tally::cdf::BUNDLE_PATH
                        );
                    }
                    last_cdf_note = info.cdf_skipped;
                }
            }
            Ok(None) => last_error.clear(),
            Err(e) => {
                metrics.publish_failures.fetch_add(1, Ordering::Relaxed);
                let e = e.to_string();
                if e != last_error {
                    eprintln!("urna serve: node {node}: writing the bundle: {e}");
                    last_error = e;
                }
            }
        }
        if stopping {
            return;
        }
        // A round that took long (a big election's bundle) waits twice its time before the
        // next, so the bundle never takes more than a third of a core from intake.
        let pause = every.max(started.elapsed() * 3);
        while started.elapsed() < pause && !state.stopping.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20).min(every));
        }
    }
}

/// Batches the intake thread hands the store at once, at most: while one commits, the next is
/// checked ([`PgStore::ingest_batches`]); only batches already queued are taken, so a note
/// never waits for others to arrive.
const QUEUED_BATCHES: usize = 8;

/// The intake thread: the notes waiting go into transactions of up to `batch` notes, each
/// note answered after its own transaction's commit; when more than one batch is waiting, the
/// next is checked while the one before commits. An `urna/audit/v1` note ends the batches, as
/// on the SQLite node: the notes before it are committed and answered, then it goes through
/// the audit's intake ([`PgStore::append_audit`], in its own transaction) and is answered
/// after its commit. A database failure answers the notes not yet committed `intake failed …
/// send again` (none of them got a receipt), marks the node down (`503`) and reconnects.
fn intake_loop(
    mut store: PgStore,
    url: &str,
    jobs: &mpsc::Receiver<Job>,
    batch: usize,
    state: &NodeState,
) -> ServeSummary {
    let mut summary = ServeSummary::default();
    let clock = SystemClock;
    let mut next: Option<Job> = None;
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => break,
            },
        };
        if urna_model::audit::is_audit(&first.note) {
            if !audit_intake(&mut store, first, &clock, &mut summary) {
                reconnect(&mut store, url, jobs, state);
            }
            continue;
        }
        let mut taken: Vec<Vec<Job>> = vec![vec![first]];
        while let Ok(job) = jobs.try_recv() {
            if urna_model::audit::is_audit(&job.note) {
                next = Some(job);
                break;
            }
            if taken.last().is_some_and(|b| b.len() >= batch) {
                taken.push(Vec::with_capacity(batch));
            }
            taken.last_mut().unwrap_or_else(|| unreachable!()).push(job);
            if taken.len() == QUEUED_BATCHES && taken[QUEUED_BATCHES - 1].len() >= batch {
                break;
            }
        }
        let notes: Vec<Vec<Vec<u8>>> = taken
            .iter()
            .map(|b| b.iter().map(|j| j.note.clone()).collect())
            .collect();
        let count: usize = notes.iter().map(Vec::len).sum();
        let mut waiting = taken.into_iter();
        let result = store.ingest_batches(notes.iter().map(Vec::as_slice), &clock, |_, acks| {
            if let Some(jobs) = waiting.next() {
                answer_batch(jobs, acks, &mut summary);
            }
        });
        if let Err(e) = result {
            let unanswered: usize = waiting.map(|b| b.len()).sum();
            eprintln!(
                "urna serve: intake of {unanswered} of {count} notes failed, none of them acknowledged: {e}"
            );
            drop(next.take());
            reconnect(&mut store, url, jobs, state);
        }
    }
    summary
}

/// Answers each note of a committed batch with its outcome.
fn answer_batch(taken: Vec<Job>, acks: PgAcks, summary: &mut ServeSummary) {
    for ((job, outcome), station) in taken.into_iter().zip(acks.outcomes).zip(acks.stations) {
        let station = station.unwrap_or_default();
        let answer = match outcome {
            Outcome::Stored { index, verdict } => {
                summary.stored += 1;
                Answer::Stored {
                    index,
                    quarantined: verdict == Verdict::Quarantined,
                    station,
                    hash: urna_model::intake::sha256(&job.note),
                    time_ms: acks.time_ms,
                }
            }
            Outcome::Duplicate { index, hash } => {
                summary.duplicates += 1;
                Answer::Duplicate {
                    index,
                    station,
                    hash,
                    time_ms: acks.time_ms,
                }
            }
            Outcome::Rejected(r) => {
                summary.rejected += 1;
                Answer::Rejected(r)
            }
        };
        let Job { permit, reply, .. } = job;
        drop(permit);
        let _ = reply.send(answer);
    }
}

/// One `urna/audit/v1` note through the audit's intake ([`PgStore::append_audit`]): stored,
/// a duplicate of its entry, or refused with the SQLite node's status, code and message
/// ([`crate::serve::audit_refused`]), answered after the commit. `false` if the database
/// failed: the note is answered `intake failed … send again` (dropped unanswered) and the
/// caller reconnects.
fn audit_intake(
    store: &mut PgStore,
    job: Job,
    clock: &SystemClock,
    summary: &mut ServeSummary,
) -> bool {
    let hash = urna_model::intake::sha256(&job.note);
    let answer = match store.append_audit(&job.note, clock) {
        Ok(AuditIntake::Stored { index, time_ms }) => {
            summary.stored += 1;
            Answer::Stored {
                index,
                quarantined: false,
                station: String::new(),
                hash,
                time_ms,
            }
        }
        Ok(AuditIntake::Duplicate { index }) => {
            summary.duplicates += 1;
            Answer::Duplicate {
                index,
                station: String::new(),
                hash,
                time_ms: clock.now_ms(),
            }
        }
        Err(PgAuditError::Refused(refusal)) => {
            summary.rejected += 1;
            crate::serve::audit_refused(refusal)
        }
        Err(PgAuditError::Db(e)) => {
            eprintln!("urna serve: intake of an audit note failed, not acknowledged: {e}");
            return false;
        }
    };
    let Job { permit, reply, .. } = job;
    drop(permit);
    let _ = reply.send(answer);
    true
}

/// Reconnects the intake's connection, marking the node down meanwhile: notes that arrive are
/// answered `intake failed … send again` (dropped unanswered), none acknowledged.
fn reconnect(store: &mut PgStore, url: &str, jobs: &mpsc::Receiver<Job>, state: &NodeState) {
    state.db_down.store(true, Ordering::SeqCst);
    let mut wait = Duration::from_millis(100);
    loop {
        while let Ok(job) = jobs.try_recv() {
            drop(job);
        }
        match store.reconnect(url) {
            Ok(()) => {
                eprintln!("urna serve: reconnected to the database; intake resumes");
                state.db_down.store(false, Ordering::SeqCst);
                return;
            }
            Err(e) => {
                if state.stopping.load(Ordering::SeqCst) {
                    // Leave the queue to close; its notes are answered as failed.
                    state.db_down.store(false, Ordering::SeqCst);
                    return;
                }
                eprintln!("urna serve: database unreachable ({e}); retrying");
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// A reader thread: answers reads on its own connection, reconnecting after a failure. The
/// scans the stored notes name (`named`) are shared by the reader threads.
fn reader_loop(
    url: &str,
    jobs: &Mutex<mpsc::Receiver<ReadJob>>,
    state: &NodeState,
    node: &str,
    named: &Mutex<NamedScans>,
) {
    let mut reader: Option<PgReader> = None;
    loop {
        let job = {
            let Ok(rx) = jobs.lock() else { return };
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        if reader.is_none() {
            reader = PgReader::connect(url).ok();
        }
        match job {
            ReadJob::Bytes { what, reply } => {
                let answer = match reader.as_mut() {
                    None => Err("the database is unreachable".to_owned()),
                    Some(r) => read(r, what, state, node),
                };
                if answer.is_err() {
                    reader = None;
                }
                let _ = reply.send(answer);
            }
            ReadJob::Proof { index, reply } => {
                let answer = match reader.as_mut() {
                    None => Err(ProofRefusal::Unavailable(
                        "the database is unreachable".to_owned(),
                    )),
                    Some(r) => proof(r, index),
                };
                // A tile read that failed may have broken the connection: a new one next time.
                if matches!(
                    answer,
                    Err(ProofRefusal::Unavailable(_) | ProofRefusal::Failed(_))
                ) {
                    reader = None;
                }
                let _ = reply.send(answer);
            }
            ReadJob::ScanNamed { sha, reply } => {
                let answer = match reader.as_mut() {
                    None => Err("the database is unreachable".to_owned()),
                    Some(r) => named
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .names(r.client(), &sha)
                        .map_err(|e| e.to_string()),
                };
                if answer.is_err() {
                    reader = None;
                }
                let _ = reply.send(answer);
            }
            ReadJob::StoreScan { sha, bytes, reply } => {
                let answer = match reader.as_mut() {
                    None => Err("the database is unreachable".to_owned()),
                    Some(r) => urna_pg::scans::store_scan(r.client(), &sha, &bytes)
                        .map_err(|e| e.to_string()),
                };
                if answer.is_err() {
                    reader = None;
                }
                let _ = reply.send(answer);
            }
        }
    }
}

/// The inclusion proof of entry `index` against the database's published checkpoint (the
/// one `GET /checkpoint` serves without a bundle: with a witness policy, the latest one its
/// quorum cosigned), the entry from table `entries` and the path from table `tiles`
/// ([`urna_pg::proofs`]), checked against the checkpoint's root.
fn proof(r: &mut PgReader, index: u64) -> Result<ProofBody, ProofRefusal> {
    let down = |e: &dyn std::fmt::Display| ProofRefusal::Unavailable(e.to_string());
    let checkpoint = crate::publish::pg_published(r).map_err(|e| match e {
        // A published row the quorum did not cosign (an edited row) is never served.
        crate::publish::PublishError::Uncosigned(why) => ProofRefusal::Failed(why),
        e => down(&e),
    })?;
    crate::serve::proof_against(checkpoint, index, |size, root| {
        let entry = match r.note(index) {
            Ok(Some(note)) => note,
            Ok(None) => {
                return Err(ProofRefusal::Failed(format!(
                    "table `entries` holds no entry {index}, which the published checkpoint covers"
                )));
            }
            Err(e) => return Err(down(&e)),
        };
        let path = urna_pg::proofs::inclusion_proof(r.client(), index, size, &entry, root)
            .map_err(ProofRefusal::Failed)?;
        Ok((entry, path))
    })
}

fn read(
    r: &mut PgReader,
    what: Read,
    state: &NodeState,
    node: &str,
) -> Result<Option<Vec<u8>>, String> {
    let e = |e: PgError| e.to_string();
    match what {
        // Not a note the witness policy's quorum did not cosign (an edited row).
        Read::Checkpoint => crate::publish::pg_published(r).map_err(|e| e.to_string()),
        Read::Tile(path) => r.tile(&path).map_err(e),
        Read::Note(index) => r.note(index).map_err(e),
        Read::Status => {
            let c = nodes::cluster(r.client()).map_err(e)?;
            let body = StatusBody {
                node,
                sequencing: state.sequencing.load(Ordering::Relaxed),
                election: &c.election,
                entries: c.entries,
                signed: c.signed,
                published: c.published,
                sequencer: SequencerBody {
                    holder: &c.holder,
                    epoch: c.epoch,
                    lease_left_s: c.lease_left_s.is_finite().then_some(c.lease_left_s),
                },
                nodes: c
                    .nodes
                    .iter()
                    .map(|n| NodeBody {
                        name: &n.name,
                        listen: &n.listen,
                        seen_ago_s: n.seen_ago_s,
                        up_s: n.up_s,
                        intake: n.intake,
                        rate: n.rate,
                        sequencing: n.sequencing,
                    })
                    .collect(),
            };
            serde_json::to_vec(&body)
                .map(Some)
                .map_err(|e| e.to_string())
        }
    }
}

/// `GET /v1/status`.
#[derive(Serialize)]
struct StatusBody<'a> {
    /// The node answering.
    node: &'a str,
    /// Whether it holds the sequencer's lease.
    sequencing: bool,
    election: &'a str,
    /// Entries stored (the next log index).
    entries: u64,
    /// Size of the last signed checkpoint.
    signed: u64,
    /// Size of the published checkpoint, cosigned by the witnesses' quorum (with a witness
    /// policy; `null` without one, when the signed checkpoint is the published one).
    published: Option<u64>,
    sequencer: SequencerBody<'a>,
    nodes: Vec<NodeBody<'a>>,
}

#[derive(Serialize)]
struct SequencerBody<'a> {
    holder: &'a str,
    epoch: i64,
    /// `null`: released or never taken.
    lease_left_s: Option<f64>,
}

#[derive(Serialize)]
struct NodeBody<'a> {
    name: &'a str,
    listen: &'a str,
    seen_ago_s: f64,
    up_s: f64,
    intake: u64,
    rate: f64,
    sequencing: bool,
}

/// The coordinator thread: the sequencer loop and the heartbeat. Every tick (the checkpoint
/// interval, at most a third of the lease) a node without the lease tries to take it, and the
/// node with it appends, writes tiles, signs a checkpoint and renews the lease; once a second
/// it writes its heartbeat. A fenced or failed sequencer is dropped and the lease tried again.
fn coordinator_loop(
    config: &PgServeConfig,
    listen: &str,
    state: &NodeState,
    metrics: &Metrics,
    cosign: &mpsc::Sender<()>,
) {
    let tick = config
        .checkpoint_every
        .min(config.lease / 3)
        .max(Duration::from_millis(10));
    let started_ms = SystemClock.now_ms();
    let mut sequencer: Option<PgSequencer> = None;
    let mut beat_client: Option<postgres::Client> = None;
    let (mut last_beat, mut last_count) = (Instant::now() - Duration::from_secs(10), 0u64);
    loop {
        let stopping = state.stopping.load(Ordering::SeqCst);
        match sequencer.as_mut() {
            Some(s) => match s.step() {
                Ok(Some(_)) => {
                    let _ = cosign.send(());
                }
                Ok(None) => {}
                Err(e) => {
                    eprintln!("urna serve: node {} stops sequencing: {e}", config.node);
                    sequencer = None;
                }
            },
            None if !stopping => {
                match PgSequencer::acquire(
                    &config.url,
                    config.signer.clone(),
                    &config.node,
                    config.lease,
                ) {
                    Ok(Some(s)) => {
                        eprintln!(
                            "urna serve: node {} sequences (epoch {}, log of {} entries signed)",
                            config.node,
                            s.epoch(),
                            s.signed_size()
                        );
                        sequencer = Some(s);
                        // What the node before signed and did not get cosigned, first.
                        let _ = cosign.send(());
                    }
                    Ok(None) => {}
                    Err(e) => eprintln!("urna serve: node {}: sequencer: {e}", config.node),
                }
            }
            None => {}
        }
        state
            .sequencing
            .store(sequencer.is_some(), Ordering::Relaxed);
        if stopping {
            if let Some(s) = sequencer.take() {
                match s.release() {
                    Ok(()) => eprintln!("urna serve: node {} gave the lease up", config.node),
                    Err(e) => {
                        eprintln!("urna serve: node {}: releasing the lease: {e}", config.node)
                    }
                }
            }
            state.sequencing.store(false, Ordering::Relaxed);
        }
        if stopping || last_beat.elapsed() >= Duration::from_secs(1) {
            let count = metrics.accepted.load(Ordering::Relaxed)
                + metrics.quarantined.load(Ordering::Relaxed);
            let dt = last_beat.elapsed().as_secs_f64();
            let rate = if dt < 5.0 {
                count.saturating_sub(last_count) as f64 / dt.max(1e-3)
            } else {
                0.0
            };
            if beat_client.is_none() {
                beat_client = urna_pg::connect(&config.url).ok();
            }
            if let Some(c) = beat_client.as_mut() {
                let beat = Heartbeat {
                    name: &config.node,
                    listen,
                    started_ms,
                    intake: count,
                    rate,
                    sequencing: state.sequencing.load(Ordering::Relaxed),
                };
                if nodes::beat(c, &beat).is_err() {
                    beat_client = None;
                }
            }
            last_beat = Instant::now();
            last_count = count;
        }
        if stopping {
            return;
        }
        std::thread::sleep(tick);
    }
}

/// How often the sequencing node asks again while the published checkpoint lags (a witness
/// down, or the quorum missing), when no new checkpoint prompts it sooner.
const COSIGN_RETRY: Duration = Duration::from_secs(5);

/// The cosigning thread: after each checkpoint this node signs as the sequencer (a message
/// from the coordinator), and every [`COSIGN_RETRY`] while it sequences, one publication round
/// ([`crate::publish::publish_pg`]): the witnesses of the database's policy are asked to
/// cosign the latest checkpoint, which is published on quorum. Apart from the coordinator, so
/// that a slow witness never delays the lease's renewal; rounds of every node and of `urna log
/// publish --store` take turns on the `published` row. Without a policy a round does nothing.
fn cosign_loop(config: &PgServeConfig, wake: &mpsc::Receiver<()>, state: &NodeState) {
    let verifier = config.signer.verifier();
    let mut last_said = String::new();
    let mut client: Option<postgres::Client> = None;
    loop {
        match wake.recv_timeout(COSIGN_RETRY) {
            Ok(()) => while wake.try_recv().is_ok() {},
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if !state.sequencing.load(Ordering::Relaxed) {
                    continue;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let round = match client.as_mut() {
            Some(c) => crate::publish::publish_pg(c, &verifier),
            None => urna_pg::connect(&config.url)
                .map_err(crate::publish::PublishError::from)
                .and_then(|c| crate::publish::publish_pg(client.insert(c), &verifier)),
        };
        if round.is_err() {
            // Connected again at the next round (the database restarted, or the link broke).
            client = None;
        }
        let said = match round {
            Ok(crate::publish::Published::NoWitnesses | crate::publish::Published::UpToDate(_)) => {
                continue;
            }
            Ok(outcome) => outcome.to_string(),
            Err(e) => format!("publishing: {e}"),
        };
        // A lagging checkpoint retried every few seconds is said once, until it changes.
        if said != last_said {
            eprintln!("urna serve: node {}: {said}", config.node);
            last_said = said;
        }
    }
}

/// The Prometheus text of a node: the SQLite `urna serve`'s metrics (this node's own intake;
/// the published and bundle sizes are those of its bundle, with `--bundle`), then whether it
/// sequences, whether its intake reaches the database, and its name.
fn render_metrics(metrics: &Metrics, state: &NodeState, node: &str, inflight: usize) -> String {
    let flag = |b: &AtomicBool| u8::from(b.load(Ordering::Relaxed));
    let mut text = metrics.render(inflight);
    text.push_str(&format!(
        "# HELP urna_node_sequencing Whether this node holds the sequencer's lease (1) or not (0).\n\
         # TYPE urna_node_sequencing gauge\n\
         urna_node_sequencing {}\n\
         # HELP urna_node_database_up Whether this node's intake reaches the database (1) or answers 503 (0).\n\
         # TYPE urna_node_database_up gauge\n\
         urna_node_database_up {}\n\
         # HELP urna_node_info This node's name (--node), as every node's row in /v1/status names it.\n\
         # TYPE urna_node_info gauge\n\
         urna_node_info{{node=\"{}\"}} 1\n",
        flag(&state.sequencing),
        1 - flag(&state.db_down),
        label_value(node),
    ));
    text
}

/// A Prometheus label value: backslash, double quote and line feed escaped (text format
/// 0.0.4).
fn label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `503` while the node stops or the database is unreachable.
fn refusing(app: &App) -> Option<Response> {
    if app.state.stopping.load(Ordering::Relaxed) {
        return Some(unavailable(
            "shutting-down",
            "the server is shutting down; nothing was stored, send again",
        ));
    }
    if app.state.db_down.load(Ordering::Relaxed) {
        return Some(unavailable(
            "database-unavailable",
            "the database is unreachable; nothing was stored, send again (to this or another node)",
        ));
    }
    None
}

/// `PUT /v1/scans/<sha256>`: the SQLite node's checks and answers ([`receive_scan`]), with
/// "a stored note names it" asked of table `entries` (notes any node stored), and the scan
/// stored in table `scans` and committed before the answer, so every node's bundle and `urna
/// publish --store` publish it. A database that cannot be reached is answered `503`.
async fn put_scan(
    State(app): State<Arc<App>>,
    hash: Result<UrlPath<String>, PathRejection>,
    request: Request,
) -> Response {
    if let Some(refused) = refusing(&app) {
        return refused;
    }
    let down = |e: String| {
        unavailable(
            "database-unavailable",
            &format!(
                "the database could not be reached ({e}); nothing was stored, send again (to this or another node)"
            ),
        )
    };
    let named = async |sha: &[u8; 32]| {
        let sha = *sha;
        app.ask(|reply| ReadJob::ScanNamed { sha, reply })
            .await
            .map_err(down)
    };
    let scan = match receive_scan(hash, request, app.body_timeout, &app.scan_uploads, named).await {
        Ok(scan) => scan,
        Err(refused) => return refused,
    };
    let ReceivedScan {
        sha,
        bytes,
        _upload,
    } = scan;
    match app
        .ask(|reply| ReadJob::StoreScan { sha, bytes, reply })
        .await
    {
        Ok(created) => scan_stored(created, &sha),
        Err(e) => down(e),
    }
}

async fn post_protocol(State(app): State<Arc<App>>, request: Request) -> Response {
    if let Some(refused) = refusing(&app) {
        return refused;
    }
    let submission = Submission {
        jobs: &app.jobs,
        permits: &app.permits,
        body_timeout: app.body_timeout,
        metrics: &app.metrics,
    };
    submission
        .post(
            request,
            async |index| match app.read(Read::Note(index)).await? {
                Some(note) => {
                    String::from_utf8(note).map_err(|_| format!("entry {index} is not UTF-8"))
                }
                None => Err(format!("no entry {index}")),
            },
            |index, hash, time_ms| urna_store::log::receipt(&app.signer, index, hash, time_ms),
        )
        .await
}

/// A published object: its bytes, or `404`, or `503` if the database cannot be read.
fn published(path: &str, read: Result<Option<Vec<u8>>, String>) -> Response {
    match read {
        Ok(Some(bytes)) => {
            let mut r = bytes.into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(path)),
            );
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static(cache_control(path)),
            );
            r
        }
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "not-found",
            &format!("/{path} is not written yet"),
            None,
        ),
        Err(e) => unavailable(
            "database-unavailable",
            &format!("/{path} could not be read from the database: {e}"),
        ),
    }
}

async fn get_checkpoint(State(app): State<Arc<App>>) -> Response {
    published("checkpoint", app.read(Read::Checkpoint).await)
}

async fn get_tile(
    State(app): State<Arc<App>>,
    path: Result<UrlPath<String>, PathRejection>,
) -> Response {
    let Ok(UrlPath(rest)) = path else {
        return not_found("(undecodable path)");
    };
    let path = format!("tile/{rest}");
    if !plain_path(&path) {
        return not_found(&path);
    }
    published(&path, app.read(Read::Tile(path.clone())).await)
}

async fn get_proof(
    State(app): State<Arc<App>>,
    index: Result<UrlPath<String>, PathRejection>,
) -> Response {
    match proof_index(index) {
        Ok(index) => proof_response(app.proof(index).await),
        Err(refused) => proof_response(Err(refused)),
    }
}

async fn get_status(State(app): State<Arc<App>>) -> Response {
    match app.read(Read::Status).await {
        Ok(Some(body)) => ([(header::CONTENT_TYPE, JSON)], body).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "not-found", "no status", None),
        Err(e) => unavailable(
            "database-unavailable",
            &format!("the status could not be read from the database: {e}"),
        ),
    }
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    if let Some(refused) = refusing(&app) {
        return refused;
    }
    (
        [(header::CONTENT_TYPE, JSON)],
        format!(
            "{{\"status\":\"ok\",\"sequencing\":{}}}",
            app.state.sequencing.load(Ordering::Relaxed)
        ),
    )
        .into_response()
}

/// A file of this node's live bundle generation ([`crate::serve`]'s file cache and answers).
fn bundle_file(app: &App, files: &FileCache, path: &str, headers: &HeaderMap) -> Response {
    let response = cached_file(files, path, headers);
    if response.status() == StatusCode::OK {
        app.metrics.public_reads.fetch_add(1, Ordering::Relaxed);
    }
    response
}

async fn get_bundle_file(
    State(app): State<Arc<App>>,
    path: Result<UrlPath<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let Some(files) = &app.files else {
        return not_found("(no bundle)");
    };
    match path {
        Ok(UrlPath(path)) => bundle_file(&app, files, &path, &headers),
        // Not UTF-8 once percent-decoded: no file of the bundle has such a name.
        Err(_) => not_found("(undecodable path)"),
    }
}

async fn get_bundle_checkpoint(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    match &app.files {
        Some(files) => bundle_file(&app, files, "checkpoint", &headers),
        None => not_found("checkpoint"),
    }
}

async fn get_bundle_index(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    match &app.files {
        Some(files) => bundle_file(&app, files, urna_tally::public::INDEX_HTML, &headers),
        None => not_found(""),
    }
}

/// The node's router: intake, status and health, and the public side: with a bundle root,
/// every file of the live generation (results page, `v1/*.json`, checkpoint, tiles), as the
/// SQLite `urna serve` serves them; without one, the checkpoint and tiles read from the
/// database.
fn router(app: Arc<App>) -> Router {
    let routes = Router::new()
        .route("/v1/protocols", post(post_protocol))
        .route("/v1/proof/{index}", get(get_proof))
        .route("/v1/scans/{sha256}", put(put_scan))
        .route("/v1/status", get(get_status))
        .route("/v1/openapi.json", get(crate::serve::get_openapi))
        .route("/healthz", get(healthz));
    // `method_not_allowed_fallback` comes last: it applies to the routes added before it.
    let refuse_method = crate::serve::method_not_allowed;
    if app.files.is_some() {
        return routes
            .route("/checkpoint", get(get_bundle_checkpoint))
            .route("/", get(get_bundle_index))
            .route("/{*path}", get(get_bundle_file))
            .method_not_allowed_fallback(refuse_method)
            .with_state(app);
    }
    routes
        .route("/checkpoint", get(get_checkpoint))
        .route("/tile/{*path}", get(get_tile))
        .fallback(|request: Request| async move {
            let path = request.uri().path().trim_start_matches('/').to_owned();
            error(
                StatusCode::NOT_FOUND,
                "not-found",
                &format!(
                    "/{path} is not served by this PostgreSQL node: it serves POST /v1/protocols, PUT /v1/scans/<sha256>, GET /checkpoint, /tile/…, /v1/proof/…, /v1/status, /v1/openapi.json and /healthz (start it with --bundle DIR to serve the results, or write the bundle with `urna publish --store`)"
                ),
                None,
            )
        })
        .method_not_allowed_fallback(refuse_method)
        .with_state(app)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_name_is_escaped_as_a_prometheus_label_value() {
        assert_eq!(label_value("node-a"), "node-a");
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let state = NodeState::default();
        state.sequencing.store(true, Ordering::Relaxed);
        let text = render_metrics(&Metrics::default(), &state, "x\"y", 3);
        assert!(text.contains("urna_intake_inflight 3\n"), "{text}");
        assert!(text.contains("urna_node_sequencing 1\n"), "{text}");
        assert!(text.contains("urna_node_database_up 1\n"), "{text}");
        assert!(
            text.contains("urna_node_info{node=\"x\\\"y\"} 1\n"),
            "{text}"
        );
        state.db_down.store(true, Ordering::Relaxed);
        let text = render_metrics(&Metrics::default(), &state, "x", 0);
        assert!(text.contains("urna_node_database_up 0\n"), "{text}");
    }
}
