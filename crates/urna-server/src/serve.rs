//! `urna serve`: intake over HTTP, and a public side that is nothing but the static bundle.
//!
//! ```text
//! POST /v1/protocols ─► handler ─► jobs queue ─► store thread: Store::ingest_feed
//!        ▲  (permit of the intake bound)            (check on every core, one writer,
//!        └──── receipt ◄── oneshot ◄── ack ──────── group commit, ack after COMMIT)
//!
//! publisher thread: every --publish-ms: ask witnesses (witnesses.toml) → publish the cosigned
//!                   checkpoint → write a new bundle generation (bundle::BundleWriter)
//!
//! GET /checkpoint, /tile/…, /v1/…, /csv/…, /cdf/…, /blob/…, /web/…, /README.txt
//!     ─► files of BUNDLE/current;  GET / ─► BUNDLE/current/index.html (the results page)
//! ```
//!
//! Writes need no password and no session: every write is a note signed by a key the election
//! definition authorises, and intake checks that signature before anything is stored. An
//! acknowledgment (`201` with the log's signed `urna/receipt/v1`) is sent only after the
//! transaction holding the note has committed; past the intake bound the answer is `503` with
//! `Retry-After`, never a receipt for something not durable.
//!
//! Connections are bounded ([`crate::conn`]): at most [`ServeConfig::max_connections`] are
//! open at once (by default as many as the open-file limit leaves room for, see
//! [`crate::conn::SERVE_FILES`]), more wait in the listen backlog, and a client that has not
//! sent a whole request head within [`ServeConfig::header_timeout`] (or leaves a kept-alive
//! connection idle that long) is disconnected, so slow clients cannot starve intake, the
//! publisher or `/healthz` of files.
//!
//! Every public read is a file of the published bundle, so `urna serve` and any web server or
//! CDN serving the same directory give the same bytes; a DDoS on one server hides nothing.
//! The only computed read is `GET /v1/proof/<index>`, an inclusion proof from the tiles
//! against the published checkpoint, which a reader can equally compute from the tiles.
//!
//! Files are read once per generation into memory; a client that accepts gzip gets a file's
//! precompressed copy (`<file>.gz`, [`crate::gzip`]) with `Content-Encoding: gzip`, as nginx's
//! `gzip_static` does, and bodies of 8 KiB and more leave by `sendfile(2)` from the file they
//! were read from ([`crate::sendfile`]), as nginx's `sendfile on` does.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use urna_model::intake::{Rejection, Verdict, sha256};
use urna_model::protocol::hex;
use urna_store::log::PublicLog;
use urna_store::{Clock, Feed, IngestOptions, Outcome, Store, StoreError, SystemClock};
use urna_tlog::Tile;

use crate::bundle::BundleWriter;
use crate::conn::{BodyError, ConnLimits, read_body};

/// Largest request body: one signed note (C2SP notes are at most 65,535 bytes) with room
/// for a trailing newline.
pub const MAX_NOTE_BODY: usize = 65_536;

/// The OpenAPI 3.1 document of this API (checked in; tested against the running server).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Longest wait for connections to finish after a stop signal.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// Most connections open at once on the metrics listener (scrapers are few).
pub const METRICS_CONNECTIONS: usize = 16;

/// Settings of `urna serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The data directory (`urna init`).
    pub data: PathBuf,
    /// The bundle root the public side serves (`BUNDLE/current`) and the publisher writes.
    pub bundle: PathBuf,
    /// Most notes accepted for intake and not yet answered; past it, `503`.
    pub max_inflight: usize,
    /// Longest time to receive a request body; past it, `408`.
    pub body_timeout: Duration,
    /// Longest time to receive a request head, and longest idle time of a kept-alive
    /// connection; past it the connection is closed (see [`crate::conn`]).
    pub header_timeout: Duration,
    /// Most client connections open at once on the API listener; more wait in the listen
    /// backlog. Keep [`crate::conn::SERVE_FILES`]`.files_needed(max_connections)` within the
    /// process's open-file limit.
    pub max_connections: usize,
    /// How often the publisher looks for a new checkpoint to cosign and publish.
    pub publish_every: Duration,
    /// Tuning of the intake pipeline (checkpoint interval among it).
    pub ingest: IngestOptions,
    /// Most stations for which each bundle generation carries the NIST CDF export
    /// (`None`: always); see [`crate::bundle`].
    pub cdf_max_stations: Option<usize>,
    /// HTTPS on both listeners ([`crate::tls`]); `None`: plain HTTP, for loopback only.
    pub tls: Option<crate::tls::Tls>,
}

impl ServeConfig {
    /// Defaults for a data directory: bundle in `DATA/public`, 4,096 notes in flight, 10 s
    /// header and body timeouts, as many connections as the open-file limit in force allows
    /// ([`crate::conn::SERVE_FILES`]), publishing every second.
    pub fn new(data: &Path) -> Self {
        Self {
            data: data.to_owned(),
            bundle: data.join("public"),
            max_inflight: 4096,
            body_timeout: Duration::from_secs(10),
            header_timeout: crate::conn::DEFAULT_HEADER_TIMEOUT,
            max_connections: crate::conn::SERVE_FILES
                .max_connections(crate::conn::open_file_limit().soft),
            publish_every: Duration::from_secs(1),
            ingest: IngestOptions::default(),
            cdf_max_stations: Some(crate::bundle::DEFAULT_CDF_MAX_STATIONS),
            tls: None,
        }
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data directory could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bundle could not be written.
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    /// A listener or the runtime failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The PostgreSQL store could not be opened ([`crate::pg_serve`]).
    #[error(transparent)]
    Pg(#[from] urna_pg::PgError),
    /// The store thread failed: intake stopped (nothing acknowledged was lost).
    #[error("intake stopped: {0}")]
    Intake(String),
}

/// What a note's intake came to, sent back to the waiting request.
#[derive(Debug)]
pub(crate) enum Answer {
    Stored {
        index: u64,
        quarantined: bool,
        station: String,
        hash: [u8; 32],
        time_ms: u64,
    },
    Duplicate {
        index: u64,
        station: String,
        hash: [u8; 32],
        time_ms: u64,
    },
    Rejected(Rejection),
    /// An `urna/audit/v1` note refused (`urna_store::audit::AuditRefusal`): HTTP status,
    /// stable code, message, field.
    AuditRefused {
        status: StatusCode,
        code: &'static str,
        message: String,
        field: Option<String>,
    },
}

/// A note waiting for intake, with where to send its answer and its place in the intake
/// bound (held until the note is answered, even if the client has gone).
pub(crate) struct Job {
    pub(crate) note: Vec<u8>,
    // Fields drop in order: the permit is freed before a dropped reply wakes the handler.
    pub(crate) permit: OwnedSemaphorePermit,
    pub(crate) reply: oneshot::Sender<Answer>,
}

/// Counters for `/metrics` (Prometheus text format).
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) accepted: AtomicU64,
    pub(crate) quarantined: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) overloaded: AtomicU64,
    pub(crate) public_reads: AtomicU64,
    pub(crate) published_size: AtomicU64,
    pub(crate) bundle_size: AtomicU64,
    pub(crate) publish_failures: AtomicU64,
}

impl Metrics {
    /// The text exposition; `inflight` is the number of notes taken for intake and not yet
    /// answered.
    pub(crate) fn render(&self, inflight: usize) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "# HELP urna_intake_total Notes answered by intake, by outcome.\n\
             # TYPE urna_intake_total counter\n\
             urna_intake_total{{outcome=\"accepted\"}} {}\n\
             urna_intake_total{{outcome=\"quarantined\"}} {}\n\
             urna_intake_total{{outcome=\"duplicate\"}} {}\n\
             urna_intake_total{{outcome=\"rejected\"}} {}\n\
             # HELP urna_intake_overloaded_total Submissions answered 503 because the intake bound was reached.\n\
             # TYPE urna_intake_overloaded_total counter\n\
             urna_intake_overloaded_total {}\n\
             # HELP urna_intake_inflight Notes accepted for intake and not yet answered.\n\
             # TYPE urna_intake_inflight gauge\n\
             urna_intake_inflight {}\n\
             # HELP urna_public_reads_total Public reads served from the bundle.\n\
             # TYPE urna_public_reads_total counter\n\
             urna_public_reads_total {}\n\
             # HELP urna_log_published_size Entries in the published (cosigned) checkpoint.\n\
             # TYPE urna_log_published_size gauge\n\
             urna_log_published_size {}\n\
             # HELP urna_bundle_size Entries covered by the live bundle generation.\n\
             # TYPE urna_bundle_size gauge\n\
             urna_bundle_size {}\n\
             # HELP urna_publish_failures_total Publisher rounds that failed (witnesses unreachable, I/O).\n\
             # TYPE urna_publish_failures_total counter\n\
             urna_publish_failures_total {}\n",
            g(&self.accepted),
            g(&self.quarantined),
            g(&self.duplicates),
            g(&self.rejected),
            g(&self.overloaded),
            inflight,
            g(&self.public_reads),
            g(&self.published_size),
            g(&self.bundle_size),
            g(&self.publish_failures),
        )
    }
}

/// Shared state of the request handlers.
struct App {
    jobs: mpsc::Sender<Job>,
    permits: Arc<Semaphore>,
    body_timeout: Duration,
    log: Arc<PublicLog>,
    bundle: PathBuf,
    /// The live generation and its files read so far; the publisher thread moves it on.
    files: Arc<FileCache>,
    metrics: Arc<Metrics>,
    shutting_down: Arc<AtomicBool>,
    intake_failed: Arc<AtomicBool>,
    /// The data directory: scans are written to its `scans/`.
    data: PathBuf,
    /// The scans the stored notes name: only these are taken at `PUT /v1/scans/<hex>`.
    named_scans: Arc<Mutex<HashSet<[u8; 32]>>>,
    /// Bounds the scans being received at once (each up to [`urna_model::scan::MAX_SCAN`] bytes in memory).
    scan_uploads: Arc<Semaphore>,
}

/// A JSON error body: `{"error": {"code", "message", "field"}}`.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorFields<'a>,
}

#[derive(Serialize)]
struct ErrorFields<'a> {
    code: &'a str,
    message: &'a str,
    field: Option<&'a str>,
}

pub(crate) fn error(
    status: StatusCode,
    code: &str,
    message: &str,
    field: Option<&str>,
) -> Response {
    let body = serde_json::to_vec(&ErrorBody {
        error: ErrorFields {
            code,
            message,
            field,
        },
    })
    .unwrap_or_default();
    (status, [(header::CONTENT_TYPE, JSON)], body).into_response()
}

pub(crate) fn unavailable(code: &str, message: &str) -> Response {
    let mut r = error(StatusCode::SERVICE_UNAVAILABLE, code, message, None);
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

pub(crate) const JSON: &str = "application/json";

/// The HTTP status of a refusal: malformed → 400, unauthentic → 403, against the station's
/// history → 409, not of this election → 422.
fn rejection_status(r: &Rejection) -> StatusCode {
    match r.code() {
        "malformed-note" | "malformed-body" => StatusCode::BAD_REQUEST,
        "bad-signature" | "bad-authority" | "key-revoked" => StatusCode::FORBIDDEN,
        "replay" | "conflict" | "needs-amendment" | "bad-revision" | "bad-supersedes"
        | "bad-decides" => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// The body of a stored or duplicate answer.
#[derive(Serialize)]
struct StoredBody<'a> {
    status: &'a str,
    index: u64,
    station: &'a str,
    entry: String,
    receipt: String,
    /// A duplicate of the text of a note stored under other signatures (other bytes): the
    /// stored note, whose SHA-256 `entry` and the receipt name, so that the sender can check
    /// that the log holds its text.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// `503` while the server shuts down or after intake stopped; nothing is taken then.
fn stopping(app: &App) -> Option<Response> {
    if app.shutting_down.load(Ordering::Relaxed) {
        return Some(unavailable(
            "shutting-down",
            "the server is shutting down; nothing was stored, send again",
        ));
    }
    if app.intake_failed.load(Ordering::Relaxed) {
        return Some(unavailable(
            "intake-stopped",
            "intake stopped after a storage failure; nothing was stored, send again later",
        ));
    }
    None
}

/// The largest body a write takes, and how its answers name it.
struct Limit {
    bytes: usize,
    /// `a note`, `a scan`.
    what: &'static str,
    /// `the request body`, `the scan`.
    body: &'static str,
}

impl Limit {
    fn too_large(&self) -> Response {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            &format!(
                "{} is at most {} bytes; nothing was stored",
                self.what, self.bytes
            ),
            Some("body"),
        )
    }

    /// A declared length over the limit, refused on the header without waiting for a body.
    fn declared_too_large(&self, request: &Request) -> Option<Response> {
        request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .is_some_and(|n| n > self.bytes as u64)
            .then(|| self.too_large())
    }

    /// The body, or the answer refusing it (too large, too slow, unreadable).
    async fn read(&self, request: Request, timeout: Duration) -> Result<Bytes, Response> {
        match read_body(request.into_body(), self.bytes, timeout).await {
            Ok(bytes) => Ok(bytes),
            Err(BodyError::Timeout) => Err(error(
                StatusCode::REQUEST_TIMEOUT,
                "body-timeout",
                &format!("{} did not arrive in time; nothing was stored", self.body),
                None,
            )),
            Err(BodyError::TooLarge) => Err(self.too_large()),
            Err(BodyError::Unreadable(message)) => Err(error(
                StatusCode::BAD_REQUEST,
                "bad-body",
                &format!("the request body could not be read: {message}"),
                Some("body"),
            )),
        }
    }
}

/// The note stored at `index` (committed: an answer is given only after its commit), read
/// through a read-only connection off the runtime's threads.
async fn stored_note(data: &Path, index: u64) -> Result<String, String> {
    let data = data.to_owned();
    let read = tokio::task::spawn_blocking(move || {
        let reader = urna_store::reader::EntryReader::open(&data).map_err(|e| e.to_string())?;
        let mut notes = reader.read(index, index + 1).map_err(|e| e.to_string())?;
        let note = notes.pop().ok_or_else(|| format!("no entry {index}"))?;
        String::from_utf8(note).map_err(|_| format!("entry {index} is not UTF-8"))
    });
    read.await.map_err(|e| e.to_string())?
}

async fn post_protocol(State(app): State<Arc<App>>, request: Request) -> Response {
    if let Some(refused) = stopping(&app) {
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
            async |index| stored_note(&app.data, index).await,
            |index, hash, time_ms| app.log.receipt(index, hash, time_ms),
        )
        .await
}

/// The intake queue and bound of an engine's handlers: what `POST /v1/protocols` shares
/// between the SQLite `urna serve` and a PostgreSQL node ([`crate::pg_serve`]).
pub(crate) struct Submission<'a> {
    pub(crate) jobs: &'a mpsc::Sender<Job>,
    pub(crate) permits: &'a Arc<Semaphore>,
    pub(crate) body_timeout: Duration,
    pub(crate) metrics: &'a Metrics,
}

impl Submission<'_> {
    /// `POST /v1/protocols` once the engine's own refusals (stopping, store down) are passed:
    /// the body and a place in the intake bound ([`take_note`]); `screen`, the engine's answer
    /// to a note it does not take (`None`: it takes it); the note through the queue to the
    /// store thread; and the answer ([`answer_response`]), with the engine's read of a held
    /// note (`held`) and its receipt (`receipt`).
    pub(crate) async fn post(
        self,
        request: Request,
        held: impl AsyncFnOnce(u64) -> Result<String, String>,
        receipt: impl FnOnce(u64, &[u8; 32], u64) -> Vec<u8>,
    ) -> Response {
        let (bytes, permit) =
            match take_note(request, self.body_timeout, self.permits, self.metrics).await {
                Ok(taken) => taken,
                Err(refused) => return refused,
            };
        let (reply, answer) = oneshot::channel();
        let sent = self.jobs.send(Job {
            note: bytes.to_vec(),
            reply,
            permit,
        });
        let answer = match sent {
            Ok(()) => answer.await.ok(),
            Err(_) => None,
        };
        answer_response(self.metrics, answer, &bytes, held, receipt).await
    }
}

/// The front of `POST /v1/protocols`: the body (refused if declared or found too large, or
/// too slow) and then a place in the intake bound (`503` with `Retry-After` past it). The
/// body is read before a permit is taken: the permits bound the notes waiting for intake, and
/// a slow sender holding one would refuse others' submissions.
async fn take_note(
    request: Request,
    body_timeout: Duration,
    permits: &Arc<Semaphore>,
    metrics: &Metrics,
) -> Result<(Bytes, OwnedSemaphorePermit), Response> {
    let note = Limit {
        bytes: MAX_NOTE_BODY,
        what: "a note",
        body: "the request body",
    };
    if let Some(refused) = note.declared_too_large(&request) {
        return Err(refused);
    }
    let bytes = note.read(request, body_timeout).await?;
    let Ok(permit) = Arc::clone(permits).try_acquire_owned() else {
        metrics.overloaded.fetch_add(1, Ordering::Relaxed);
        return Err(unavailable(
            "overloaded",
            "too many submissions in flight; nothing was stored, send again after Retry-After seconds",
        ));
    };
    Ok((bytes, permit))
}

/// The answer to `POST /v1/protocols` once intake answered (`None`: intake failed before the
/// note was committed): a refusal with its status and code, or `201`/`200` with the log's
/// signed receipt, made by `receipt`. A duplicate of the same text under other bytes carries
/// the stored note, read by `held`.
async fn answer_response(
    m: &Metrics,
    answer: Option<Answer>,
    bytes: &[u8],
    held: impl AsyncFnOnce(u64) -> Result<String, String>,
    receipt: impl FnOnce(u64, &[u8; 32], u64) -> Vec<u8>,
) -> Response {
    let Some(answer) = answer else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "intake-failed",
            "intake failed before this note was committed; nothing was acknowledged, send again",
            None,
        );
    };
    let (status, label, index, station, hash, time_ms) = match answer {
        Answer::Rejected(r) => {
            m.rejected.fetch_add(1, Ordering::Relaxed);
            return error(
                rejection_status(&r),
                r.code(),
                &r.to_string(),
                r.field().as_deref(),
            );
        }
        Answer::AuditRefused {
            status,
            code,
            message,
            field,
        } => {
            m.rejected.fetch_add(1, Ordering::Relaxed);
            return error(status, code, &message, field.as_deref());
        }
        Answer::Stored {
            index,
            quarantined,
            station,
            hash,
            time_ms,
        } => {
            let (counter, label) = if quarantined {
                (&m.quarantined, "quarantined")
            } else {
                (&m.accepted, "accepted")
            };
            counter.fetch_add(1, Ordering::Relaxed);
            (StatusCode::CREATED, label, index, station, hash, time_ms)
        }
        Answer::Duplicate {
            index,
            station,
            hash,
            time_ms,
        } => {
            m.duplicates.fetch_add(1, Ordering::Relaxed);
            (StatusCode::OK, "duplicate", index, station, hash, time_ms)
        }
    };
    // The same text under other signatures is a duplicate too (intake is idempotent by
    // text): the answer then carries the note the log holds, which the receipt names.
    let held = if hash == urna_model::intake::sha256(bytes) {
        None
    } else {
        match held(index).await {
            Ok(note) => Some(note),
            Err(e) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "read-failed",
                    &format!("the entry {index} this note duplicates could not be read: {e}"),
                    None,
                );
            }
        }
    };
    let receipt = receipt(index, &hash, time_ms);
    let body = StoredBody {
        status: label,
        index,
        station: &station,
        entry: format!("sha256:{}", hex(&hash)),
        receipt: String::from_utf8_lossy(&receipt).into_owned(),
        note: held,
    };
    (
        status,
        [(header::CONTENT_TYPE, JSON)],
        serde_json::to_vec(&body).unwrap_or_default(),
    )
        .into_response()
}

/// The live bundle generation, and its files held in memory, dropped when the generation
/// changes. The publisher thread of this process is the only writer of `BUNDLE/current` while
/// the server runs (the data directory's lock keeps another `urna serve` or `urna publish`
/// out), so it tells the cache when the generation changes and a read needs no `readlink`.
#[derive(Default)]
pub(crate) struct FileCache {
    inner: Mutex<CacheState>,
    /// The cached bytes of large files and the files they were read from, so that plain-HTTP
    /// connections send them with `sendfile(2)` ([`crate::sendfile`]).
    pub(crate) regions: Arc<crate::sendfile::FileRegions>,
}

#[derive(Default)]
struct CacheState {
    /// `BUNDLE/gen/<name>`; `None` before the first generation.
    generation: Option<PathBuf>,
    files: HashMap<String, CachedFile>,
    bytes: usize,
}

/// A file of the live generation, with everything its answer needs.
#[derive(Clone)]
struct CachedFile {
    bytes: Bytes,
    /// Its precompressed copy `<file>.gz` ([`crate::gzip`]), if the generation has one.
    gz: Option<Bytes>,
    content_type: &'static str,
    cache_control: &'static str,
}

/// Most bytes of bundle files kept in memory.
const CACHE_BYTES: usize = 256 << 20;

/// A public path is plain: segments of `[A-Za-z0-9._%-]`, none empty or starting with a dot.
/// Anything else (traversal, hidden files, odd bytes) is not in the bundle.
pub(crate) fn plain_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 512
        && path.split('/').all(|seg| {
            !seg.is_empty()
                && !seg.starts_with('.')
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'%'))
        })
}

pub(crate) fn content_type(path: &str) -> &'static str {
    if path.starts_with("tile/") || path.starts_with("blob/") {
        return "application/octet-stream";
    }
    let ext = path.rsplit_once('.').map_or("", |(_, ext)| ext);
    match ext {
        "json" => JSON,
        "csv" => "text/csv; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "gz" => "application/gzip",
        _ => "text/plain; charset=utf-8",
    }
}

pub(crate) fn cache_control(path: &str) -> &'static str {
    let immutable = path.starts_with("blob/")
        || (path.starts_with("tile/") && !path.contains(".p/") && Tile::parse_path(path).is_ok());
    if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

pub(crate) fn not_found(path: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not-found",
        &format!("/{path} is not in the published bundle"),
        None,
    )
}

/// Takes the scan of a paper protocol that a stored note names (`scan: sha256:<hex>`), and
/// writes it to `DATA/scans/<hex>`, from which the bundle publishes it. A scan no stored note
/// names is refused: the signature on the note is what lets a file into the bundle.
async fn put_scan(
    State(app): State<Arc<App>>,
    hash: Result<UrlPath<String>, PathRejection>,
    request: Request,
) -> Response {
    if let Some(refused) = stopping(&app) {
        return refused;
    }
    let named = async |sha: &[u8; 32]| {
        Ok(app
            .named_scans
            .lock()
            .map(|n| n.contains(sha))
            .unwrap_or(false))
    };
    let scan = match receive_scan(hash, request, app.body_timeout, &app.scan_uploads, named).await {
        Ok(scan) => scan,
        Err(refused) => return refused,
    };
    let (dir, hash) = (app.data.join("scans"), hex(&scan.sha));
    let ReceivedScan {
        sha,
        bytes,
        _upload,
    } = scan;
    let written = tokio::task::spawn_blocking(move || write_scan(&dir, &hash, &bytes)).await;
    match written {
        Ok(Ok(created)) => scan_stored(created, &sha),
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "write-failed",
            &format!("scans/: {e}; nothing was acknowledged, send again"),
            None,
        ),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "write-failed",
            &e.to_string(),
            None,
        ),
    }
}

/// A scan received at `PUT /v1/scans/<sha256>` that passed every check, with its place among
/// the scans being received (held until it is stored).
pub(crate) struct ReceivedScan {
    /// Its SHA-256, the path's.
    pub(crate) sha: [u8; 32],
    pub(crate) bytes: Bytes,
    pub(crate) _upload: OwnedSemaphorePermit,
}

/// `PUT /v1/scans/<sha256>` once the engine's own refusals (stopping, store down) are passed,
/// the same on both engines (a PostgreSQL node, [`crate::pg_serve`], calls it): the path is a
/// SHA-256 (`400 bad-scan-path`), `named` says a stored note names it (`404 scan-not-named`;
/// `named`'s own answer if it cannot tell), the declared length is within
/// [`urna_model::scan::MAX_SCAN`] (`413`), a place among the scans being received (`503
/// overloaded`), the body within the limit and in time, its SHA-256 the path's (`400
/// scan-hash-mismatch`), and a PDF, JPEG or PNG file (`415 bad-scan`).
pub(crate) async fn receive_scan(
    hash: Result<UrlPath<String>, PathRejection>,
    request: Request,
    body_timeout: Duration,
    uploads: &Arc<Semaphore>,
    named: impl AsyncFnOnce(&[u8; 32]) -> Result<bool, Response>,
) -> Result<ReceivedScan, Response> {
    use urna_model::scan::{MAX_SCAN, scan_kind};
    let hash = hash.map(|UrlPath(h)| h).unwrap_or_default();
    let Some(expected) = urna_model::protocol::parse_sha256(&format!("sha256:{hash}"))
        .ok()
        .filter(|h| hex(h) == hash)
    else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad-scan-path",
            &format!("{hash:?} is not a SHA-256 (64 lower-case hex digits)"),
            Some("sha256"),
        ));
    };
    if !named(&expected).await? {
        return Err(error(
            StatusCode::NOT_FOUND,
            "scan-not-named",
            &format!(
                "no stored note names scan sha256:{hash}; submit the signed protocol that names \
                 it first; nothing was stored"
            ),
            Some("sha256"),
        ));
    }
    let scan = Limit {
        bytes: MAX_SCAN,
        what: "a scan",
        body: "the scan",
    };
    if let Some(refused) = scan.declared_too_large(&request) {
        return Err(refused);
    }
    let Ok(upload) = Arc::clone(uploads).try_acquire_owned() else {
        return Err(unavailable(
            "overloaded",
            "too many scans being received; nothing was stored, send again after Retry-After seconds",
        ));
    };
    let bytes = scan.read(request, body_timeout).await?;
    if sha256(&bytes) != expected {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "scan-hash-mismatch",
            &format!(
                "the body's SHA-256 is {}, not the {hash} of the path; nothing was stored",
                hex(&sha256(&bytes))
            ),
            Some("body"),
        ));
    }
    if scan_kind(&bytes).is_none() {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "bad-scan",
            "a scan is a PDF, JPEG or PNG file (its first bytes say which); nothing was stored",
            Some("body"),
        ));
    }
    Ok(ReceivedScan {
        sha: expected,
        bytes,
        _upload: upload,
    })
}

/// The answer to a scan stored durably: `201 stored`, or `200 duplicate` if it was there
/// already with these bytes.
pub(crate) fn scan_stored(created: bool, sha: &[u8; 32]) -> Response {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (
        status,
        [(header::CONTENT_TYPE, JSON)],
        format!(
            "{{\"status\":\"{}\",\"scan\":\"sha256:{}\"}}",
            if created { "stored" } else { "duplicate" },
            hex(sha)
        ),
    )
        .into_response()
}

/// Scans received at once on either engine; more are answered 503 with `Retry-After`.
pub(crate) const SCAN_UPLOADS: usize = 4;

/// Writes `dir/<hash>` through a synced temporary file and a rename (a unique temporary
/// name, removed if the write fails; the directory synced); `false` if it was there already
/// with these bytes (a damaged copy is replaced).
fn write_scan(dir: &Path, hash: &str, bytes: &[u8]) -> io::Result<bool> {
    let path = dir.join(hash);
    if std::fs::read(&path).is_ok_and(|b| b == bytes) {
        return Ok(false);
    }
    std::fs::create_dir_all(dir)?;
    urna_tlog::tiledir::write_file_atomic(&path, bytes)?;
    Ok(true)
}

async fn get_public(
    State(app): State<Arc<App>>,
    path: Result<UrlPath<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    match path {
        Ok(UrlPath(path)) => public_file(&app, &path, &headers),
        // Not UTF-8 once percent-decoded: no file of the bundle has such a name.
        Err(_) => not_found("(undecodable path)"),
    }
}

async fn get_checkpoint(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    public_file(&app, "checkpoint", &headers)
}

async fn get_index(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    public_file(&app, urna_tally::public::INDEX_HTML, &headers)
}

/// A file of the live generation: from memory once read (a lock and a map lookup, nothing
/// else), its `.gz` copy to a client that accepts gzip (`Content-Encoding: gzip`), with
/// `Vary: Accept-Encoding` on both answers of a file that has a copy. `HEAD` gets the same
/// head (axum answers it from the `GET` route without the body).
fn public_file(app: &App, path: &str, headers: &HeaderMap) -> Response {
    let response = cached_file(&app.files, path, headers);
    if response.status() == StatusCode::OK {
        app.metrics.public_reads.fetch_add(1, Ordering::Relaxed);
    }
    response
}

/// [`public_file`] without the metrics: the answer for `path` from the live generation.
pub(crate) fn cached_file(files: &FileCache, path: &str, headers: &HeaderMap) -> Response {
    let file = match files.get(path) {
        Lookup::Hit(file) => file,
        Lookup::Unpublished => {
            return unavailable(
                "not-published",
                "nothing is published yet: no checkpoint has been cosigned",
            );
        }
        Lookup::Miss(generation) => match read_public(&generation, path) {
            Ok(read) => files.put(&generation, path, read),
            Err(refused) => return *refused,
        },
    };
    let has_gz = file.gz.is_some();
    let (body, encoded) = match file.gz {
        Some(gz) if accepts_gzip(headers) => (gz, true),
        _ => (file.bytes, false),
    };
    let mut response = Response::new(Body::from(body));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(file.cache_control),
    );
    if has_gz {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if encoded {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// A file read from the live generation, with the descriptors its bytes (and its copy's)
/// were read from.
struct ReadFile {
    file: CachedFile,
    fd: Arc<std::fs::File>,
    gz_fd: Option<Arc<std::fs::File>>,
}

/// The whole of a file, and its open descriptor.
fn read_whole(path: &Path) -> io::Result<(Bytes, Arc<std::fs::File>)> {
    use std::io::Read as _;
    let mut f = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    Ok((Bytes::from(bytes), Arc::new(f)))
}

/// Reads a file of the generation at `generation` (and its `.gz` copy if it is of a
/// compressible kind), or the answer refusing the path.
fn read_public(generation: &Path, path: &str) -> Result<ReadFile, Box<Response>> {
    if !plain_path(path) {
        return Err(Box::new(not_found(path)));
    }
    if path.starts_with("tile/") && Tile::parse_path(path).is_err() {
        return Err(Box::new(error(
            StatusCode::NOT_FOUND,
            "bad-tile-path",
            &format!("/{path} is not a C2SP tlog-tiles path"),
            Some("path"),
        )));
    }
    let full = generation.join(path);
    let (bytes, fd) = match read_whole(&full) {
        Ok(read) => read,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Box::new(not_found(path))),
        // A directory, or a path below a file: not a file of the bundle.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::IsADirectory | io::ErrorKind::NotADirectory
            ) =>
        {
            return Err(Box::new(not_found(path)));
        }
        Err(e) => {
            return Err(Box::new(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "read-failed",
                &format!("/{path}: {e}"),
                None,
            )));
        }
    };
    // The copy belongs to this generation's file: both were written before the generation
    // went live and neither changes after. One that cannot be read is not offered.
    let gz = crate::gzip::compressible(path)
        .then(|| {
            let mut p = full.into_os_string();
            p.push(crate::gzip::GZ_SUFFIX);
            read_whole(Path::new(&p)).ok()
        })
        .flatten();
    let (gz, gz_fd) = gz.unzip();
    Ok(ReadFile {
        file: CachedFile {
            bytes,
            gz,
            content_type: content_type(path),
            cache_control: cache_control(path),
        },
        fd,
        gz_fd,
    })
}

/// Whether a request's `Accept-Encoding` (RFC 9110 §12.5.3) takes gzip: `gzip` or `x-gzip`,
/// or `*` when gzip is not named, with a weight above zero. No header: identity only.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut star = None;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let weight = parts
                .find_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    k.trim().eq_ignore_ascii_case("q").then(|| v.trim())
                })
                .is_none_or(|q| q.parse::<f32>().is_ok_and(|q| q > 0.0));
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                return weight;
            }
            if coding == "*" {
                star = Some(weight);
            }
        }
    }
    star.unwrap_or(false)
}

/// What the cache knows of a path.
enum Lookup {
    Hit(CachedFile),
    /// Not in memory: read it from this generation's directory.
    Miss(PathBuf),
    /// No generation is live yet.
    Unpublished,
}

impl FileCache {
    /// The live generation is `dir` from now on (the files of the previous one are dropped).
    pub(crate) fn set_generation(&self, dir: PathBuf) {
        if let Ok(mut state) = self.inner.lock()
            && state.generation.as_ref() != Some(&dir)
        {
            *state = CacheState {
                generation: Some(dir),
                ..CacheState::default()
            };
            self.regions.clear();
        }
    }

    fn get(&self, path: &str) -> Lookup {
        let Ok(state) = self.inner.lock() else {
            return Lookup::Unpublished;
        };
        match (&state.generation, state.files.get(path)) {
            (None, _) => Lookup::Unpublished,
            (Some(_), Some(file)) => Lookup::Hit(file.clone()),
            (Some(dir), None) => Lookup::Miss(dir.clone()),
        }
    }

    /// Keeps a file read from `generation` if that is still the live one and the cache has
    /// room (registering its bytes for `sendfile(2)`); returns it either way.
    fn put(&self, generation: &Path, path: &str, read: ReadFile) -> CachedFile {
        let ReadFile { file, fd, gz_fd } = read;
        if let Ok(mut state) = self.inner.lock()
            && state.generation.as_deref() == Some(generation)
        {
            let size = file.bytes.len() + file.gz.as_ref().map_or(0, Bytes::len);
            if state.bytes + size <= CACHE_BYTES {
                state.bytes += size;
                self.regions.insert(&file.bytes, fd);
                if let (Some(gz), Some(gz_fd)) = (&file.gz, gz_fd) {
                    self.regions.insert(gz, gz_fd);
                }
                state.files.insert(path.to_owned(), file.clone());
            }
        }
        file
    }
}

/// An inclusion proof of entry `index` against the published checkpoint: the body of
/// `GET /v1/proof/<index>` on both engines ([`crate::pg_serve`] answers it from table `tiles`).
#[derive(Serialize)]
pub(crate) struct ProofBody {
    index: u64,
    tree_size: u64,
    /// The published checkpoint the proof is against (signed note text).
    checkpoint: String,
    /// The entry's note bytes as text.
    entry: String,
    /// SHA-256 of the entry (what receipts name), hex.
    entry_sha256: String,
    /// The RFC 6962 inclusion path, base64 hashes from the leaf up.
    proof: Vec<String>,
}

/// Why `GET /v1/proof/<index>` gives no proof.
#[derive(Debug)]
pub(crate) enum ProofRefusal {
    /// Not an entry index (the path segment as sent): `400`.
    BadIndex(String),
    /// No checkpoint is published yet: `503`.
    NotPublished,
    /// The entry is beyond the published checkpoint of `size` entries: `404`.
    NotInCheckpoint { index: u64, size: u64 },
    /// The store cannot be read now (the database unreachable): `503`.
    Unavailable(String),
    /// A tile or an entry is missing or wrong: `500`.
    Failed(String),
}

impl ProofRefusal {
    fn response(self) -> Response {
        match self {
            Self::BadIndex(index) => error(
                StatusCode::BAD_REQUEST,
                "bad-index",
                &format!(
                    "{index:?} is not an entry index (a decimal number without leading zeros)"
                ),
                Some("index"),
            ),
            Self::NotPublished => unavailable(
                "not-published",
                "nothing is published yet: no checkpoint has been cosigned",
            ),
            Self::NotInCheckpoint { index, size } => error(
                StatusCode::NOT_FOUND,
                "not-in-checkpoint",
                &format!("entry {index} is not in the published checkpoint of {size} entries"),
                Some("index"),
            ),
            Self::Unavailable(why) => unavailable(
                "database-unavailable",
                &format!("the proof could not be read from the database: {why}"),
            ),
            Self::Failed(why) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "proof-failed",
                &why,
                None,
            ),
        }
    }
}

/// The index of `GET /v1/proof/<index>`: a decimal number without leading zeros.
pub(crate) fn proof_index(
    index: Result<UrlPath<String>, PathRejection>,
) -> Result<u64, ProofRefusal> {
    let index = index.map(|UrlPath(i)| i).unwrap_or_default();
    match index.parse::<u64>() {
        Ok(i) if index == i.to_string() => Ok(i),
        _ => Err(ProofRefusal::BadIndex(index)),
    }
}

/// The answer to `GET /v1/proof/<index>` once computed.
pub(crate) fn proof_response(answer: Result<ProofBody, ProofRefusal>) -> Response {
    match answer {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, JSON),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            serde_json::to_vec(&body).unwrap_or_default(),
        )
            .into_response(),
        Err(refusal) => refusal.response(),
    }
}

/// The proof of entry `index` against the published `checkpoint` (`None`: nothing published),
/// whichever engine stores the log: `read` gives the entry's note bytes and its inclusion path,
/// given the checkpoint's size and root.
pub(crate) fn proof_against(
    checkpoint: Option<Vec<u8>>,
    index: u64,
    read: impl FnOnce(u64, &urna_tlog::Hash) -> Result<(Vec<u8>, Vec<urna_tlog::Hash>), ProofRefusal>,
) -> Result<ProofBody, ProofRefusal> {
    use base64::Engine as _;
    let checkpoint = checkpoint.ok_or(ProofRefusal::NotPublished)?;
    let parsed = urna_model::note::Note::parse(&checkpoint)
        .ok()
        .and_then(|n| urna_tlog::Checkpoint::parse_text(n.text()).ok());
    let size = parsed.as_ref().map_or(0, |c| c.size.0);
    if index >= size {
        return Err(ProofRefusal::NotInCheckpoint { index, size });
    }
    let root = parsed.map(|c| c.root).unwrap_or_default();
    let (entry, proof) = read(size, &root)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(ProofBody {
        index,
        tree_size: size,
        checkpoint: String::from_utf8_lossy(&checkpoint).into_owned(),
        entry: String::from_utf8_lossy(&entry).into_owned(),
        entry_sha256: hex(&sha256(&entry)),
        proof: proof.iter().map(|h| b64.encode(h.0)).collect(),
    })
}

async fn get_proof(
    State(app): State<Arc<App>>,
    index: Result<UrlPath<String>, PathRejection>,
) -> Response {
    let index = match proof_index(index) {
        Ok(index) => index,
        Err(refused) => return refused.response(),
    };
    let log = Arc::clone(&app.log);
    let current = app.bundle.join("current");
    let answer = tokio::task::spawn_blocking(move || proof_of(&log, &current, index)).await;
    match answer {
        Ok(answer) => proof_response(answer),
        Err(e) => ProofRefusal::Failed(e.to_string()).response(),
    }
}

/// The proof from the live bundle generation's checkpoint and entry tile, and the data
/// directory's tiles.
fn proof_of(log: &PublicLog, current: &Path, index: u64) -> Result<ProofBody, ProofRefusal> {
    let checkpoint = std::fs::read(current.join("checkpoint")).ok();
    let failed = ProofRefusal::Failed;
    proof_against(checkpoint, index, |size, _| {
        let entry = {
            let width = u16::try_from((size - index / 256 * 256).min(256)).unwrap_or(256);
            let tile = Tile::entries(index / 256, width).map_err(|e| failed(e.to_string()))?;
            let bundle = std::fs::read(current.join(tile.path()))
                .map_err(|e| failed(format!("{}: {e}", tile.path())))?;
            let entries = urna_tlog::tile::decode_entries(&bundle, width)
                .map_err(|e| failed(format!("{}: {e}", tile.path())))?;
            entries
                .get(usize::try_from(index % 256).unwrap_or(usize::MAX))
                .map(|e| e.to_vec())
                .ok_or_else(|| failed(format!("{}: entry {index} missing", tile.path())))?
        };
        let proof = log
            .inclusion_proof(index, size)
            .map_err(|e| failed(e.to_string()))?;
        Ok((entry, proof))
    })
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    if app.intake_failed.load(Ordering::Relaxed) {
        return unavailable("intake-stopped", "intake stopped after a storage failure");
    }
    (
        [(header::CONTENT_TYPE, JSON)],
        format!(
            "{{\"status\":\"ok\",\"published_size\":{},\"bundle_size\":{}}}",
            app.metrics.published_size.load(Ordering::Relaxed),
            app.metrics.bundle_size.load(Ordering::Relaxed)
        ),
    )
        .into_response()
}

/// The public and intake router.
fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/protocols", post(post_protocol))
        .route("/v1/proof/{index}", get(get_proof))
        .route("/v1/scans/{sha256}", put(put_scan))
        .route("/healthz", get(healthz))
        .route("/v1/openapi.json", get(get_openapi))
        .route("/checkpoint", get(get_checkpoint))
        .route("/", get(get_index))
        .route("/{*path}", get(get_public))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

/// `GET /v1/openapi.json`: [`OPENAPI`].
pub(crate) async fn get_openapi() -> Response {
    ([(header::CONTENT_TYPE, JSON)], OPENAPI).into_response()
}

/// `405` for a method a path does not take.
pub(crate) async fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "only POST /v1/protocols and PUT /v1/scans/<sha256> write; everything else is read with GET or HEAD",
        None,
    )
}

/// The metrics router (served on its own listener, so it can stay private): `render` gives
/// the text at each scrape.
pub(crate) fn metrics_router(
    render: impl Fn() -> String + Clone + Send + Sync + 'static,
) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let text = render();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    text,
                )
            }
        }),
    )
}

/// What a server run did.
#[derive(Debug, Default)]
pub struct ServeSummary {
    /// Notes stored (accepted or quarantined).
    pub stored: u64,
    /// Duplicates answered.
    pub duplicates: u64,
    /// Refusals answered.
    pub rejected: u64,
    /// Size of the last bundle generation published.
    pub bundle_size: u64,
}

/// The addresses a started server listens on.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// Intake and public API.
    pub api: SocketAddr,
    /// Prometheus metrics, if enabled.
    pub metrics: Option<SocketAddr>,
}

/// Runs `urna serve` until `shutdown` completes: opens the data directory, starts the store
/// and publisher threads, calls `on_bound`, serves, then drains: stops taking new notes
/// (`503`), answers every note in flight after its commit, signs a last checkpoint and
/// publishes it.
///
/// # Errors
/// [`ServeError`] if the store cannot be opened, a listener fails or intake stopped.
pub fn run(
    config: &ServeConfig,
    api: std::net::TcpListener,
    metrics_listener: Option<std::net::TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(Bound),
) -> Result<ServeSummary, ServeError> {
    let mut store = Store::open(&config.data)?;
    let log = Arc::new(PublicLog::open(&config.data)?);
    let mut bundle = BundleWriter::open(&config.data, &config.bundle)?;
    bundle.set_cdf_max_stations(config.cdf_max_stations);
    let metrics = Arc::new(Metrics::default());
    bundle.update()?;
    let files = Arc::new(FileCache::default());
    if let Ok(generation) = std::fs::read_link(config.bundle.join(crate::bundle::CURRENT)) {
        files.set_generation(config.bundle.join(generation));
    }
    metrics
        .bundle_size
        .store(bundle.live_size().unwrap_or(0), Ordering::Relaxed);
    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
    let shutting_down = Arc::new(AtomicBool::new(false));
    let intake_failed = Arc::new(AtomicBool::new(false));
    let ingest_options = config.ingest.clone();
    let failed = Arc::clone(&intake_failed);
    let named_scans = Arc::new(Mutex::new(store.named_scans()?));
    let named = Arc::clone(&named_scans);
    let store_thread = std::thread::Builder::new()
        .name("urna-intake".into())
        .spawn(move || intake_loop(&mut store, jobs_rx, &ingest_options, &failed, &named))?;
    let stop_publisher = Arc::new(AtomicBool::new(false));
    let publisher = {
        let stop = Arc::clone(&stop_publisher);
        let metrics = Arc::clone(&metrics);
        let log = Arc::clone(&log);
        let every = config.publish_every;
        let files = Arc::clone(&files);
        std::thread::Builder::new()
            .name("urna-publisher".into())
            .spawn(move || publish_loop(&log, &mut bundle, &metrics, &files, &stop, every))?
    };
    let regions = Arc::clone(&files.regions);
    let bound = config.max_inflight.max(1);
    let permits = Arc::new(Semaphore::new(bound));
    let app = Arc::new(App {
        jobs: jobs_tx,
        permits: Arc::clone(&permits),
        body_timeout: config.body_timeout,
        log,
        bundle: config.bundle.clone(),
        files,
        metrics: Arc::clone(&metrics),
        shutting_down: Arc::clone(&shutting_down),
        intake_failed: Arc::clone(&intake_failed),
        data: config.data.clone(),
        named_scans,
        scan_uploads: Arc::new(Semaphore::new(SCAN_UPLOADS)),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("urna-http")
        .build()?;
    let served: io::Result<()> = runtime.block_on(async {
        api.set_nonblocking(true)?;
        let api = tokio::net::TcpListener::from_std(api)?;
        let metrics_listener = match metrics_listener {
            Some(l) => {
                l.set_nonblocking(true)?;
                Some(tokio::net::TcpListener::from_std(l)?)
            }
            None => None,
        };
        // Poll the stop signal once before announcing the address: a handler installed on
        // first poll (as `urna serve`'s is) then catches a signal sent as soon as the address
        // is known.
        let mut shutdown = std::pin::pin!(shutdown);
        let stopped_early = tokio::select! {
            biased;
            () = &mut shutdown => true,
            () = std::future::ready(()) => false,
        };
        on_bound(Bound {
            api: api.local_addr()?,
            metrics: metrics_listener
                .as_ref()
                .map(tokio::net::TcpListener::local_addr)
                .transpose()?,
        });
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let header_timeout = config.header_timeout;
        if let Some(l) = metrics_listener {
            let (metrics, permits) = (Arc::clone(&metrics), Arc::clone(&permits));
            let router = metrics_router(move || {
                metrics.render(bound.saturating_sub(permits.available_permits()))
            });
            let mut rx = stop_rx.clone();
            let limits = ConnLimits {
                max_connections: METRICS_CONNECTIONS,
                header_timeout,
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
        let mut stopped = stop_rx.clone();
        let limits = ConnLimits {
            max_connections: config.max_connections,
            header_timeout,
            per_address: None,
        };
        let mut server = tokio::spawn(crate::conn::serve_files_with(
            api,
            router(app),
            limits,
            config.tls.clone(),
            Some(regions),
            async move {
                let _ = stopped.changed().await;
            },
        ));
        if !stopped_early {
            tokio::select! {
                done = &mut server => return done.map_err(io::Error::other)?,
                () = shutdown => {}
            }
        }
        shutting_down.store(true, Ordering::SeqCst);
        let _ = stop_tx.send(true);
        // Drain: answers in flight come after their commit. A client that holds its
        // connection open without finishing a request must not keep the server up forever.
        match tokio::time::timeout(DRAIN_GRACE, &mut server).await {
            Ok(done) => done.map_err(io::Error::other)?,
            Err(_) => {
                eprintln!(
                    "urna serve: connections still open {}s after the stop signal; closing them",
                    DRAIN_GRACE.as_secs()
                );
                server.abort();
                Ok(())
            }
        }
    });
    // Drop whatever tasks are left (and with them the job queue's last senders).
    runtime.shutdown_timeout(Duration::from_secs(1));
    // Every request has been answered and the router (holding the only job sender) dropped:
    // the store thread sees the queue close, commits, signs a last checkpoint and returns.
    let summary = store_thread
        .join()
        .map_err(|_| ServeError::Intake("the intake thread panicked".into()))?;
    stop_publisher.store(true, Ordering::SeqCst);
    publisher
        .join()
        .map_err(|_| ServeError::Intake("the publisher thread panicked".into()))?;
    served?;
    let mut summary = summary?;
    summary.bundle_size = metrics.bundle_size.load(Ordering::Relaxed);
    Ok(summary)
}

/// The store thread: one long intake fed by the jobs queue. A note is answered once the
/// transaction holding it has committed. An `urna/audit/v1` note ends the feed: everything fed
/// before it is committed and answered, then the audit note goes through the store's audit
/// intake (`Store::append_audit`, which replays the audit trail) and the intake resumes.
fn intake_loop(
    store: &mut Store,
    jobs: mpsc::Receiver<Job>,
    options: &IngestOptions,
    failed: &AtomicBool,
    named_scans: &Mutex<HashSet<[u8; 32]>>,
) -> Result<ServeSummary, ServeError> {
    let (replies_tx, replies_rx) = mpsc::channel::<Reply>();
    // The feed runs on intake's reader thread: it hands each note on and queues its reply
    // channel in the same order, and flushes whenever the queue runs empty, so a lone note
    // is checked and committed at once.
    let mut feed = Feeder {
        jobs,
        replies: replies_tx,
        unflushed: false,
        audit: None,
    };
    let clock = SystemClock;
    let mut summary = ServeSummary::default();
    loop {
        let result = store.ingest_feed(&mut feed, options, &clock, |ack| {
            let Ok((permit, reply, scan)) = replies_rx.recv() else {
                return;
            };
            // A stored note (or one stored before) vouches for the scan it names.
            if let (Some(scan), Outcome::Stored { .. } | Outcome::Duplicate { .. }) =
                (scan, &ack.outcome)
                && let Ok(mut named) = named_scans.lock()
            {
                named.insert(scan);
            }
            let station = ack.station.unwrap_or_default().to_owned();
            let time_ms = clock.now_ms();
            let answer = match ack.outcome {
                Outcome::Stored { index, verdict } => {
                    summary.stored += 1;
                    Answer::Stored {
                        index: *index,
                        quarantined: *verdict == Verdict::Quarantined,
                        station,
                        hash: ack.hash.unwrap_or_default(),
                        time_ms,
                    }
                }
                Outcome::Duplicate { index, hash } => {
                    summary.duplicates += 1;
                    Answer::Duplicate {
                        index: *index,
                        station,
                        hash: *hash,
                        time_ms,
                    }
                }
                Outcome::Rejected(r) => {
                    summary.rejected += 1;
                    Answer::Rejected(r.clone())
                }
            };
            // Free the intake slot before answering: a client that sends its next note the
            // moment it reads this answer must find the slot free.
            drop(permit);
            let _ = reply.send(answer);
        });
        if let Err(e) = result {
            failed.store(true, Ordering::SeqCst);
            return Err(ServeError::Intake(e.to_string()));
        }
        let Some(job) = feed.audit.take() else {
            return Ok(summary);
        };
        let answer = audit_intake(store, &job.note, &clock, &mut summary);
        let stopped = answer.is_err();
        let answer = answer.unwrap_or_else(|message| Answer::AuditRefused {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "intake-failed",
            message,
            field: None,
        });
        drop(job.permit);
        let _ = job.reply.send(answer);
        if stopped {
            failed.store(true, Ordering::SeqCst);
            return Err(ServeError::Intake(
                "the store failed while storing an audit note".into(),
            ));
        }
    }
}

/// One `urna/audit/v1` note through the store's audit intake: stored, a duplicate of an
/// audit entry, or refused with a status and code naming the field and the rule. `Err` (the
/// store failed) carries the message for the client; intake stops then.
fn audit_intake(
    store: &mut Store,
    note: &[u8],
    clock: &SystemClock,
    summary: &mut ServeSummary,
) -> Result<Answer, String> {
    use urna_store::audit::AuditRefusal;
    let hash = urna_model::intake::sha256(note);
    let failed = |e: &dyn std::fmt::Display| {
        eprintln!("urna serve: audit intake: {e}");
        "intake failed before this note was committed; nothing was acknowledged, send again"
            .to_owned()
    };
    if let Some(index) = store.audit_entry_of(note).map_err(|e| failed(&e))? {
        summary.duplicates += 1;
        return Ok(Answer::Duplicate {
            index,
            station: String::new(),
            hash,
            time_ms: clock.now_ms(),
        });
    }
    Ok(match store.append_audit(note) {
        Ok(index) => {
            summary.stored += 1;
            Answer::Stored {
                index,
                quarantined: false,
                station: String::new(),
                hash,
                time_ms: clock.now_ms(),
            }
        }
        Err(AuditRefusal::Store(e)) => return Err(failed(&e)),
        Err(refusal) => {
            summary.rejected += 1;
            audit_refused(refusal)
        }
    })
}

/// The answer to an audit note the audit's intake refused (on either engine): the status and
/// code of the refusal, the message naming the field and the rule. A store failure
/// ([`AuditRefusal::Store`](urna_store::audit::AuditRefusal::Store)) is not a refusal; the
/// caller answers it as a failed intake before this is called.
pub(crate) fn audit_refused(refusal: urna_store::audit::AuditRefusal) -> Answer {
    use urna_model::audit::AuditNoteError;
    use urna_store::audit::AuditRefusal;
    let refused = |status, code, message: String, field: Option<&str>| Answer::AuditRefused {
        status,
        code,
        message,
        field: field.map(str::to_owned),
    };
    match refusal {
        AuditRefusal::Store(e) => refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "intake-failed",
            format!("audit note: {e}"),
            None,
        ),
        AuditRefusal::Note(e @ AuditNoteError::Malformed(_)) => refused(
            StatusCode::BAD_REQUEST,
            "malformed-note",
            format!("audit note: {e}"),
            None,
        ),
        AuditRefusal::Note(e @ AuditNoteError::Signer(_)) => refused(
            StatusCode::FORBIDDEN,
            "bad-authority",
            format!("audit note: {e}"),
            Some("signature"),
        ),
        AuditRefusal::Note(AuditNoteError::Binding { field, problem }) => refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            match field {
                "election" => "wrong-election",
                "contest" => "unknown-contest",
                "station" => "unknown-station",
                _ => "bad-list",
            },
            format!("audit note: field `{field}`: {problem}"),
            Some(field),
        ),
        AuditRefusal::Trail(e) => refused(
            StatusCode::CONFLICT,
            "audit-does-not-follow",
            format!("audit note: {e}"),
            Some(e.field),
        ),
    }
}

/// How long an idle feed waits before handing control back to intake.
const IDLE_TICK: Duration = Duration::from_millis(100);

/// Where a fed note's answer goes, and the scan it names. The permit comes first so that, if
/// intake fails, it is dropped before the reply channel wakes the handler.
type Reply = (
    OwnedSemaphorePermit,
    oneshot::Sender<Answer>,
    Option<[u8; 32]>,
);

/// The intake's feed: jobs from the HTTP handlers, a flush whenever none is waiting.
struct Feeder {
    jobs: mpsc::Receiver<Job>,
    replies: mpsc::Sender<Reply>,
    unflushed: bool,
    /// An `urna/audit/v1` note taken from the queue: the feed ends on it, and the store
    /// thread takes it through the audit intake before feeding again.
    audit: Option<Job>,
}

impl Iterator for &mut Feeder {
    type Item = io::Result<Feed>;

    fn next(&mut self) -> Option<Self::Item> {
        let job = match self.jobs.try_recv() {
            Ok(job) => job,
            Err(mpsc::TryRecvError::Empty) if self.unflushed => {
                self.unflushed = false;
                return Some(Ok(Feed::Flush));
            }
            // Idle: wait, but hand control back now and then (an empty flush is a no-op) so
            // intake notices when its writer has stopped.
            Err(mpsc::TryRecvError::Empty) => match self.jobs.recv_timeout(IDLE_TICK) {
                Ok(job) => job,
                Err(mpsc::RecvTimeoutError::Timeout) => return Some(Ok(Feed::Flush)),
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            },
            Err(mpsc::TryRecvError::Disconnected) => return None,
        };
        if urna_model::audit::is_audit(&job.note) {
            self.audit = Some(job);
            return None;
        }
        self.unflushed = true;
        // The writer takes replies in the order notes were fed; it is alive while we run.
        let scan = urna_model::scan::named_scan(&job.note);
        let _ = self.replies.send((job.permit, job.reply, scan));
        Some(Ok(Feed::Note(job.note)))
    }
}

/// How much less CPU priority the publisher thread takes than the server (its nice value
/// above the process's): a station waiting for its receipt comes before the public pages'
/// freshness. Against a busy intake the publisher gets about a tenth of a core's share (the
/// scheduler's weights for nice +10 against 0: 110 to 1024); with intake quiet it has every
/// core it can use.
const PUBLISHER_NICE: i32 = 10;

/// Lowers the calling thread's CPU priority by [`PUBLISHER_NICE`] (on Linux the nice value
/// is a thread's own). Best effort: where it cannot, the publisher still waits twice its
/// round's time between rounds.
fn yield_to_intake() {
    use rustix::process::{getpriority_process, setpriority_process};
    if let Ok(nice) = getpriority_process(None) {
        let _ = setpriority_process(None, (nice + PUBLISHER_NICE).min(19));
    }
}

/// The publisher thread: cosign and publish new checkpoints, then write a bundle generation.
fn publish_loop(
    log: &PublicLog,
    bundle: &mut BundleWriter,
    metrics: &Metrics,
    files: &FileCache,
    stop: &AtomicBool,
    every: Duration,
) {
    yield_to_intake();
    let mut last_error = String::new();
    let mut last_cdf_note: Option<String> = None;
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        let started = Instant::now();
        let round = crate::publish::publish(log)
            .map_err(|e| e.to_string())
            .and_then(|_| bundle.update().map_err(|e| e.to_string()));
        match round {
            Ok(Some(info)) => {
                files.set_generation(info.generation_dir.clone());
                metrics.bundle_size.store(info.size, Ordering::Relaxed);
                last_error.clear();
                if info.cdf_skipped != last_cdf_note {
                    if let Some(why) = &info.cdf_skipped {
                        eprintln!(
                            "urna serve: the bundle carries no {}: {why}",
                            urna_tally::cdf::BUNDLE_PATH
                        );
                    }
                    last_cdf_note = info.cdf_skipped;
                }
            }
            Ok(None) => last_error.clear(),
            Err(e) => {
                metrics.publish_failures.fetch_add(1, Ordering::Relaxed);
                if e != last_error {
                    eprintln!("urna serve: publishing: {e}");
                    last_error = e;
                }
            }
        }
        if let Ok(Some(p)) = urna_store::log::read_published(log.dir())
            && let Some(size) = urna_store::log::checkpoint_size(&p)
        {
            metrics.published_size.store(size, Ordering::Relaxed);
        }
        if stopping {
            return;
        }
        // A round that took long (a big election's bundle) waits twice its time before the
        // next, so publishing never takes more than a third of a core from intake.
        let pause = every.max(started.elapsed() * 3);
        while started.elapsed() < pause && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20).min(every));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_publisher_thread_alone_yields_the_cores_to_intake() {
        use rustix::process::getpriority_process;
        let server = getpriority_process(None).unwrap();
        let publisher = std::thread::spawn(|| {
            yield_to_intake();
            getpriority_process(None).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(publisher, (server + PUBLISHER_NICE).min(19));
        assert_eq!(getpriority_process(None).unwrap(), server);
    }

    #[test]
    fn public_paths_are_plain() {
        for ok in [
            "checkpoint",
            "tile/0/000",
            "tile/entries/x001/234.p/17",
            "v1/results.json",
            "v1/units/AL%2F01.json",
            "index.html",
            "web/app.js",
        ] {
            assert!(plain_path(ok), "{ok}");
        }
        for bad in [
            "",
            "../secrets/log.key",
            "v1/../../urna.sqlite",
            ".hidden",
            "v1//results.json",
            "v1/results.json/",
            "a\\b",
            "café",
        ] {
            assert!(!plain_path(bad), "{bad}");
        }
    }

    #[test]
    fn content_types_follow_the_extension() {
        let cases = [
            ("index.html", "text/html; charset=utf-8", "the results page"),
            ("web/app.js", "text/javascript; charset=utf-8", "a script"),
            ("web/style.css", "text/css; charset=utf-8", "a style sheet"),
            ("web/logo.svg", "image/svg+xml", "an SVG image"),
            ("web/logo.png", "image/png", "a PNG image"),
            ("v1/keys.json", JSON, "JSON"),
            ("cdf/election-report.json", JSON, "the CDF export"),
            ("csv/units.csv", "text/csv; charset=utf-8", "CSV"),
            ("README.txt", "text/plain; charset=utf-8", "text"),
            ("checkpoint", "text/plain; charset=utf-8", "the checkpoint"),
            ("tile/0/000", "application/octet-stream", "a tile"),
            (
                "blob/sha256/00",
                "application/octet-stream",
                "a blob, whatever its name",
            ),
        ];
        for (path, want, what) in cases {
            assert_eq!(content_type(path), want, "{what}");
        }
    }

    #[test]
    fn accept_encoding_takes_gzip_only_when_the_client_says_so() {
        let cases: [(&[&str], bool, &str); 11] = [
            (&[], false, "no header: identity"),
            (&["gzip"], true, "gzip"),
            (&["gzip, deflate, br"], true, "a browser's list"),
            (&["br;q=1.0, GZip;q=0.5"], true, "case and a weight"),
            (&["x-gzip"], true, "the old name"),
            (&["gzip;q=0"], false, "refused by weight 0"),
            (&["gzip; q=0.000"], false, "weight 0 written long"),
            (&["identity"], false, "identity only"),
            (&["*"], true, "anything"),
            (&["*, gzip;q=0"], false, "anything but gzip"),
            (&["br", "gzip"], true, "two header lines"),
        ];
        for (values, want, what) in cases {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(header::ACCEPT_ENCODING, HeaderValue::from_static(v));
            }
            assert_eq!(accepts_gzip(&h), want, "{what}: {values:?}");
        }
    }

    #[test]
    fn a_file_with_a_gz_copy_is_sent_gzip_to_clients_that_accept_it() {
        let dir = tempfile::tempdir().unwrap();
        let generation = dir.path().join("gen/00000000000000000001.0");
        std::fs::create_dir_all(generation.join("v1")).unwrap();
        let json = b"{\"votes\": [1, 2, 3]}".repeat(100);
        let gz = crate::gzip::gzip(&json);
        std::fs::write(generation.join("v1/results.json"), &json).unwrap();
        std::fs::write(generation.join("v1/results.json.gz"), &gz).unwrap();
        std::fs::write(generation.join("v1/plain.json"), &json).unwrap();
        std::fs::write(generation.join("checkpoint"), b"cp\n").unwrap();
        let files = FileCache::default();
        let none = HeaderMap::new();
        assert_eq!(
            cached_file(&files, "checkpoint", &none).status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "nothing is live yet"
        );
        files.set_generation(generation);
        let mut gzip = HeaderMap::new();
        gzip.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, br"),
        );
        let body = |r: Response| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(axum::body::to_bytes(r.into_body(), usize::MAX))
                .unwrap()
                .to_vec()
        };
        let h = |r: &Response, name| {
            r.headers()
                .get(name)
                .map(|v: &HeaderValue| v.to_str().unwrap().to_owned())
        };
        // Twice each: the first read fills the cache, the second answers from it.
        for round in ["from disk", "from memory"] {
            let r = cached_file(&files, "v1/results.json", &gzip);
            assert_eq!(r.status(), StatusCode::OK, "{round}");
            assert_eq!(h(&r, header::CONTENT_ENCODING).as_deref(), Some("gzip"));
            assert_eq!(h(&r, header::VARY).as_deref(), Some("Accept-Encoding"));
            assert_eq!(h(&r, header::CONTENT_TYPE).as_deref(), Some(JSON));
            assert_eq!(body(r), gz, "{round}: the .gz bytes");

            let r = cached_file(&files, "v1/results.json", &none);
            assert_eq!(h(&r, header::CONTENT_ENCODING), None, "{round}: identity");
            assert_eq!(h(&r, header::VARY).as_deref(), Some("Accept-Encoding"));
            assert_eq!(body(r), json, "{round}: the file's bytes");

            let r = cached_file(&files, "v1/plain.json", &gzip);
            assert_eq!(h(&r, header::CONTENT_ENCODING), None, "{round}: no copy");
            assert_eq!(h(&r, header::VARY), None, "{round}: nothing varies");
            assert_eq!(body(r), json);

            let r = cached_file(&files, "checkpoint", &gzip);
            assert_eq!(body(r), b"cp\n");
        }
        let r = cached_file(&files, "v1/results.json.gz", &none);
        assert_eq!(
            h(&r, header::CONTENT_TYPE).as_deref(),
            Some("application/gzip")
        );
        assert_eq!(body(r), gz, "the copy itself is a file of the bundle");
        assert_eq!(
            cached_file(&files, "v1/nope.json", &gzip).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn refusals_map_to_statuses() {
        let r = Rejection::Replay {
            station: "S".into(),
            got: 1,
            have: 2,
        };
        assert_eq!(rejection_status(&r), StatusCode::CONFLICT);
        let r = Rejection::UnknownStation {
            line: 3,
            got: "X".into(),
        };
        assert_eq!(rejection_status(&r), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.field().as_deref(), Some("station"));
    }
}
