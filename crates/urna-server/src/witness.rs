//! The witness over HTTP: C2SP tlog-witness `POST /add-checkpoint`
//! (<https://c2sp.org/tlog-witness>, §"add-checkpoint") around the pure state machine
//! [`urna_tlog::Witness`], with the state kept durably in a [`StateFile`].
//!
//! Routes: `POST /add-checkpoint` and `GET /healthz`; nothing else. Statuses, as the spec
//! mandates:
//!
//! | status | when | body |
//! |---|---|---|
//! | 200 | cosigned | the cosignature line(s) `— <name> <base64>\n` |
//! | 400 | malformed body, or old size > checkpoint size | reason |
//! | 403 | no signature by a trusted key of the log | reason |
//! | 404 | unknown origin | reason |
//! | 409 | old size ≠ the size last cosigned | `<size>\n`, `Content-Type: text/x.tlog.size` |
//! | 409 | same size, different root (a fork) | reason |
//! | 408 | body not received within the body timeout (10 s unless set) | reason |
//! | 413 | body larger than [`MAX_BODY_BYTES`] | reason |
//! | 422 | the consistency proof does not verify | reason |
//! | 500 | the state could not be persisted (nothing was cosigned) | reason |
//!
//! Check, persist and respond happen under one lock per witness, so two concurrent requests
//! cannot roll the state back (the race the spec describes), and a cosignature is sent only
//! after the state that makes it safe is on disk. The lock is held by the task writing the
//! state until the write has ended, even when the client hangs up and its request is dropped
//! meanwhile: a fork cannot be checked against the state the file is leaving behind.
//!
//! Served with [`crate::conn`]'s bounds: a client that does not finish its request head within
//! the header timeout is disconnected, at most `max_connections` connections are open, and
//! at most `per_address` of them from one client address (`urna witness serve` sets it).
//!
//! Out of scope: the monitoring (read) API, which the spec leaves undefined; logging refused
//! requests as evidence of misbehaviour; TLS (run behind a reverse proxy or a bastion).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use urna_model::note::NoteVerifier;
use urna_tlog::{Clock, Witness, WitnessError, WitnessState};

use crate::conn::{BodyError, ConnLimits, read_body};
use crate::state_file::{StateFile, StateFileError, StateLock};
use crate::witness_key::WitnessKey;

/// The largest add-checkpoint body accepted: the old-size line, 63 proof lines of 45 bytes
/// and the largest note urna parses (64 KiB − 1) fit; anything longer is refused with 413
/// before it is read in full.
pub const MAX_BODY_BYTES: usize = 72 * 1024;

/// The content type of a 409 response that carries the witness's current tree size.
pub const CONTENT_TYPE_TLOG_SIZE: &str = "text/x.tlog.size";

/// Default longest time to receive an add-checkpoint body; past it, `408`.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an add-checkpoint request got no cosignature.
#[derive(Debug, thiserror::Error)]
pub enum AddCheckpointError {
    /// Refused by the tlog-witness rules; [`WitnessError::status`] is the status.
    #[error(transparent)]
    Refused(#[from] WitnessError),
    /// The new state could not be written; nothing was cosigned (500). The message holds the
    /// cause, printed once.
    #[error("cannot persist the witness state: {0}")]
    Persist(StateFileError),
    /// The blocking writer task died (500).
    #[error("the state writer task failed: {0}")]
    Writer(String),
}

impl AddCheckpointError {
    /// The HTTP status of this refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Refused(e) => {
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Self::Persist(_) | Self::Writer(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AddCheckpointError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::Refused(e) = &self
            && let Some(body) = e.conflict_body()
        {
            return (
                status,
                [(header::CONTENT_TYPE, CONTENT_TYPE_TLOG_SIZE)],
                body,
            )
                .into_response();
        }
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{self}\n"),
        )
            .into_response()
    }
}

struct Inner {
    witness: Witness,
    clock: Box<dyn Clock>,
    file: StateFile,
    /// The state as last persisted. A tokio mutex: it is held across the file write, by the
    /// blocking task that writes it.
    state: Arc<Mutex<WitnessState>>,
    /// Held while the witness runs: one witness per state file.
    _lock: StateLock,
}

/// A running witness: the pure [`Witness`], its state in memory, and the file it is persisted
/// to. Cheap to clone (shared).
#[derive(Clone)]
pub struct WitnessService {
    inner: Arc<Inner>,
    body_timeout: Duration,
}

impl std::fmt::Debug for WitnessService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitnessService")
            .field("key", &self.inner.witness.signer())
            .field("state_file", &self.inner.file.path())
            .finish_non_exhaustive()
    }
}

impl WitnessService {
    /// A witness serving `witness`, with its state loaded from `file` (created empty if
    /// missing and `create` is set), cosigning at the `clock`'s time. Holds the file's lock
    /// ([`StateFile::lock`]) until the last clone is dropped.
    ///
    /// # Errors
    /// [`StateFileError`] from [`StateFile::lock`] (another witness holds it) and
    /// [`StateFile::load`].
    pub fn open(
        witness: Witness,
        file: StateFile,
        create: bool,
        clock: impl Clock + 'static,
    ) -> Result<Self, StateFileError> {
        if !create && !file.path().exists() {
            // Refused before a lock file is made beside a state that is not there.
            return Err(StateFileError::Missing(file.path().to_path_buf()));
        }
        let lock = file.lock()?;
        let state = file.load(create)?;
        Ok(Self {
            inner: Arc::new(Inner {
                witness,
                clock: Box::new(clock),
                file,
                state: Arc::new(Mutex::new(state)),
                _lock: lock,
            }),
            body_timeout: DEFAULT_BODY_TIMEOUT,
        })
    }

    /// The same witness with another longest time to receive a request body (then `408`).
    #[must_use]
    pub fn with_body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// The witness as `urna witness serve` runs it: cosigning with `key`, following `logs`
    /// (origin and log key), at the wall clock's time, with its state in `file`.
    ///
    /// # Errors
    /// [`StateFileError`] from [`StateFile::load`].
    pub fn open_with_wall_clock(
        key: &WitnessKey,
        logs: impl IntoIterator<Item = (String, NoteVerifier)>,
        file: StateFile,
        create: bool,
    ) -> Result<Self, StateFileError> {
        let mut witness = Witness::new(key.signer().clone());
        for (origin, log_key) in logs {
            witness.add_log(origin, log_key);
        }
        Self::open(witness, file, create, urna_tlog::SystemClock)
    }

    /// A snapshot of the current state.
    pub async fn state(&self) -> WitnessState {
        self.inner.state.lock().await.clone()
    }

    /// Handles one add-checkpoint body: check against the state, persist the new state, and
    /// return the 200 body (the cosignature line). Requests are serialised.
    ///
    /// # Errors
    /// [`AddCheckpointError`]; its [`AddCheckpointError::status`] is the HTTP status.
    ///
    /// The future may be dropped at any await (the client hung up): once the new state is
    /// being written, the write, and the state in memory following it, finish on a blocking
    /// thread that holds the lock, so no other request is checked against a state the file
    /// has already left.
    pub async fn add_checkpoint(&self, body: &[u8]) -> Result<String, AddCheckpointError> {
        let mut state = Arc::clone(&self.inner.state).lock_owned().await;
        let cosigned =
            self.inner
                .witness
                .add_checkpoint(&state, body, self.inner.clock.as_ref())?;
        let mut next = state.clone();
        // Cannot fail: the state was checked under the same lock.
        next.commit(&cosigned)
            .map_err(|e| AddCheckpointError::Writer(e.to_string()))?;
        if next != *state {
            let file = self.inner.file.clone();
            // The guard moves into the task: dropping this future does not release the lock
            // before the file is written and the state in memory is the file's.
            tokio::task::spawn_blocking(move || {
                file.store(&next)?;
                *state = next;
                Ok(())
            })
            .await
            .map_err(|e| AddCheckpointError::Writer(e.to_string()))?
            .map_err(AddCheckpointError::Persist)?;
        }
        Ok(cosigned.response_body())
    }
}

fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

async fn add_checkpoint(State(service): State<WitnessService>, request: Request) -> Response {
    let body = match read_body(request.into_body(), MAX_BODY_BYTES, service.body_timeout).await {
        Ok(body) => body,
        Err(BodyError::Timeout) => {
            return text(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
            );
        }
        Err(BodyError::TooLarge) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("an add-checkpoint body is at most {MAX_BODY_BYTES} bytes"),
            );
        }
        Err(BodyError::Unreadable(message)) => {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("the request body could not be read: {message}"),
            );
        }
    };
    match service.add_checkpoint(&body).await {
        Ok(lines) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            lines,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// The witness's router: `POST /add-checkpoint` (bodies up to [`MAX_BODY_BYTES`]) and
/// `GET /healthz`.
pub fn witness_router(service: WitnessService) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(service)
}

/// Serves the witness on an already bound listener under `limits` until `shutdown`
/// completes, then lets requests in flight finish.
///
/// # Errors
/// The listener's I/O error.
pub async fn serve_witness(
    listener: TcpListener,
    service: WitnessService,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    crate::conn::serve(listener, witness_router(service), limits, shutdown).await
}

/// A future that completes on the first SIGINT or SIGTERM. The handlers are installed when
/// this is called, so a signal that arrives before the future is polled is not lost.
///
/// # Errors
/// If a signal handler cannot be installed. Must be called inside a tokio runtime.
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Runs a witness from synchronous code (the `urna witness serve` command): starts a
/// single-threaded runtime, binds `listen`, calls `on_bound` with the bound address (port 0
/// picks a free port), and serves under `limits` until SIGINT or SIGTERM.
///
/// # Errors
/// Runtime, bind, signal-handler or listener I/O errors.
pub fn run_witness_until_signal(
    listen: SocketAddr,
    service: WitnessService,
    limits: ConnLimits,
    tls: Option<crate::tls::Tls>,
    on_bound: impl FnOnce(SocketAddr),
) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let shutdown = shutdown_signal()?;
        let listener = TcpListener::bind(listen).await?;
        on_bound(listener.local_addr()?);
        crate::conn::serve_with(listener, witness_router(service), limits, tls, shutdown).await
    })
}
