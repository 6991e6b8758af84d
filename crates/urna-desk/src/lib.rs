//! The counting-centre desk: paper protocols keyed in twice by two typists, compared, resolved
//! by a coordinator where they differ, signed with the centre's authority key and delivered to
//! the log.
//!
//! One job: turn the numbers on a paper protocol into a signed `urna/protocol/v1` note that
//! says what the paper says. Scope:
//! - accounts (typist, coordinator, administrator) with Argon2id passwords, a forced change at
//!   first login, lock-out after [`desk::MAX_FAILURES`] failures for an account from one
//!   address (and per address, [`desk::MAX_ADDRESS_FAILURES`]; an account past
//!   [`desk::MAX_ACCOUNT_FAILURES`] from everywhere is slowed, never locked), sessions in
//!   `Secure; HttpOnly; SameSite=Strict`
//!   cookies, a CSRF token on every POST ([`db`], [`desk`]);
//! - account administration: unlock, reset, disable, enable ([`accounts`]);
//! - the entry form derived from the election definition, live validation with the
//!   definition's own rules through intake's code, and the comparison of two entries
//!   ([`form`]);
//! - the append-only audit trail (SQLite triggers refuse UPDATE and DELETE), exportable as
//!   JSON lines ([`db::export_audit`]);
//! - the HTTP side and its pages in four languages ([`http`]);
//! - delivery: every signed note is committed to `desk.sqlite` before anyone is told it is
//!   signed, then sent to `urna serve` with [`urna_server::submit::SubmitClient`]; it counts as
//!   delivered only with the log's verified receipt ([`deliver`]).
//!
//! - the coordinator's decisions on protocols the log quarantined (accept, recount, annul) as
//!   signed `urna/decision/v1` notes, and a recount keyed twice and signed as the amendment
//!   superseding the quarantined protocol; scans of the paper protocols kept by SHA-256,
//!   written to `DATA/scans/` for the bundle and named in the signed note; progress per
//!   municipality.
//! - audit hand counts of the stations a logged audit sample drew, keyed twice and signed
//!   with an audit key over the whole election as `urna/audit/v1` count notes; the sample is
//!   read from the data directory's log, read-only ([`desk::audit`]).
//!
//! - polling-station mode ([`station`], `urna station`): the same entry screens for one
//!   station, keyed by its board's chair and a second member, signed with the station's own
//!   key into the store-and-forward queue of `urna submit`, delivered in the background.
//!
//! Out of scope: printed forms with QR codes.

pub mod accounts;
pub mod db;
pub mod deliver;
pub mod desk;
pub mod form;
pub mod http;
pub mod request;
pub mod station;

pub use desk::{Desk, Refusal, SetupError};

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use urna_server::conn::{ConnLimits, DEFAULT_HEADER_TIMEOUT, FileBudget, open_file_limit};
use urna_server::submit::SubmitClient;

/// The desk's open files: each connection holds its socket; 128 are kept for standard
/// streams, the listener, the runtime, SQLite (ten connections, each with its database,
/// `-wal` and `-shm` files) and a scan being written. A centre has tens of typists, each with
/// one or two connections; the rest of the bound is room for connections that a slow or
/// idle client holds until the header timeout closes them.
pub const DESK_FILES: FileBudget = FileBudget {
    reserve: 128,
    per_connection: 1,
    cap: 4_096,
};

/// The desk's connection bounds, as `urna serve`'s: a request head within
/// [`DEFAULT_HEADER_TIMEOUT`] (10 s), as many connections as [`DESK_FILES`] allows under the
/// open-file limit in force.
pub fn conn_limits() -> ConnLimits {
    ConnLimits {
        max_connections: DESK_FILES.max_connections(open_file_limit().soft),
        header_timeout: DEFAULT_HEADER_TIMEOUT,
        per_address: None,
    }
}

/// Threads the desk's runtime keeps for blocking work (its SQLite connections, ten, and
/// [`desk::MAX_PASSWORD_CHECKS`] Argon2id checks, scans written), rather than tokio's 512:
/// no request holds one while it waits (a slowed login waits for its account's place asleep
/// on the runtime, [`desk::Desk::login_place`]), so a few dozen are room enough, and a
/// flood of requests queues for them instead of each taking a thread's stack.
pub const MAX_BLOCKING_THREADS: usize = 64;

/// Serves the desk on `listener` (HTTPS with `tls`) until `shutdown` completes; with a client, delivers signed
/// notes every `deliver_every` (and once more at the stop): a counting centre's from
/// `desk.sqlite` ([`deliver`]), a polling station's from its queue ([`station`]).
/// Calls `on_bound` with the address once it listens.
///
/// # Errors
/// The listener or the runtime cannot be set up.
pub fn run(
    desk: Arc<Desk>,
    listener: TcpListener,
    client: Option<SubmitClient>,
    deliver_every: Duration,
    tls: Option<urna_server::tls::Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    // A centre's notes wait in desk.sqlite, a station's in its queue, where the pause
    // backs off while the server cannot be reached.
    let (passes, pass): (_, deliver::PassFn) = if desk.station_queue().is_some() {
        let passes = deliver::Passes {
            thread: "urna-station-deliver",
            who: "urna station",
            every: deliver_every,
            max_pause: station::MAX_PAUSE,
        };
        (passes, station::deliver_queue)
    } else {
        let passes = deliver::Passes {
            thread: "urna-desk-deliver",
            who: "urna desk",
            every: deliver_every,
            max_pause: deliver_every,
        };
        (passes, deliver::deliver_pending)
    };
    let deliverer = client
        .map(|c| passes.spawn(Arc::clone(&desk), c, Arc::clone(&stop), pass))
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("urna-desk-http")
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()?;
    let served = runtime.block_on(async {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        on_bound(listener.local_addr()?);
        urna_server::conn::serve_with(listener, http::router(desk), conn_limits(), tls, shutdown)
            .await
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    stop.store(true, Ordering::SeqCst);
    if let Some(d) = deliverer {
        let _ = d.join();
    }
    served
}
