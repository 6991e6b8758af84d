//! Serving a router on a listener with bounds that a slow or idle client cannot get around,
//! for `urna serve` and `urna witness serve`.
//!
//! A plain `axum::serve` keeps a connection for as long as the client keeps it open: a client
//! that sends one byte of a request line and then nothing holds a socket, which is an open
//! file, forever. Enough of them use up the process's open-file limit, which the store, the
//! bundle publisher and every other client need too. Here:
//!
//! - **Header timeout.** hyper's HTTP/1.1 `header_read_timeout`, driven by tokio's timer: a
//!   request head that has not fully arrived [`ConnLimits::header_timeout`] after the
//!   connection opened (or after the previous response, on a kept-alive connection) closes
//!   the connection. The same timer closes a kept-alive connection left idle that long.
//!   Request bodies have their own timeouts in the handlers.
//! - **Answer timeout.** A connection whose client reads nothing of an answer for the same
//!   [`ConnLimits::header_timeout`] is closed ([`crate::deadline`]): a client that asks for a
//!   large file and never reads it does not keep its slot.
//! - **Head size.** A request head is at most [`MAX_HEAD_BYTES`] (hyper's read buffer);
//!   a larger one is answered `431`, so a connection's memory does not grow with what a
//!   client sends.
//! - **Connection bound.** At most [`ConnLimits::max_connections`] connections are open at
//!   once. At the bound the accept loop stops accepting: new connections wait in the
//!   kernel's listen backlog, where they cost the process no file, and are taken in order as
//!   soon as a connection closes, which the header timeout guarantees within a bounded time.
//!   Accepting and closing them at once instead would cost an accept and a file each, and
//!   would turn away a client that a free slot would have served a moment later.
//! - **Connections per address.** Where [`ConnLimits::per_address`] is set (the witness),
//!   one address (an IPv6 /64) holds at most that many of them: a connection beyond it is
//!   answered `503` (over plain HTTP; with TLS it is closed before the handshake) and closed
//!   at once, so one client cannot take every slot the log's own
//!   requests need. Not set for `urna serve` or the desk, whose clients may share one address
//!   (a carrier's NAT, a counting centre's router).
//! - **Open files.** [`raise_open_file_limit`] raises the soft `RLIMIT_NOFILE` to the hard
//!   limit at start, and a [`FileBudget`] derives the default bound from the limit in force,
//!   keeping headroom for the files the process opens besides its client sockets.
//!
//! Shutdown is graceful as with `axum::serve`: once the stop signal completes no connection
//! is accepted, idle ones close, requests in flight are answered, and [`serve`] returns when
//! every connection has closed.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// Default [`ConnLimits::header_timeout`]: as long as `urna serve`'s body timeout.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest request head (request line and headers) a connection may buffer. hyper's default
/// lets each connection grow its read buffer to about 400 KiB, which a client fills with one
/// long header and holds for the header timeout: at the connection bound (up to 16,384) that
/// is gigabytes the clients choose. urna's clients send a few hundred bytes (the desk's
/// browsers: a cookie and the usual headers, a few KiB); a head over this is answered `431`.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// How long the accept loop waits after an accept error other than a client's reset (the
/// process or system out of files or memory) before it tries again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The bounds of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Most connections open at once (at least 1); more wait in the listen backlog.
    pub max_connections: usize,
    /// Longest time to receive a request head, counted from the connection's start or the
    /// previous response; the longest a kept-alive connection may sit idle; the longest a
    /// client may leave an answer unread. Then the connection is closed.
    pub header_timeout: Duration,
    /// Most connections open at once from one address (an IPv6 address counted by its /64,
    /// which one client holds whole); a connection beyond it is answered `503` (over plain
    /// HTTP) and closed at once. `None`: no bound but [`Self::max_connections`].
    pub per_address: Option<usize>,
}

/// How many open files a server needs: a fixed reserve for the files it opens besides its
/// client connections, and a number per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileBudget {
    /// Files kept for everything but client connections.
    pub reserve: u64,
    /// Files one client connection can hold at once.
    pub per_connection: u64,
    /// The largest default bound, whatever the limit: each connection also costs memory.
    pub cap: usize,
}

/// `urna serve`: each connection holds its socket and, while its request runs, one bundle
/// file or tile being read; 256 files are kept for standard streams, the two listeners and
/// the metrics connections, the runtime, SQLite (database, `-wal` and `-shm` files of each
/// connection), the log's tiles and the publisher's bundle generation (written by 8 threads
/// at once), with room to spare.
pub const SERVE_FILES: FileBudget = FileBudget {
    reserve: 256,
    per_connection: 2,
    cap: 16_384,
};

/// `urna witness serve`: each connection holds its socket; 64 files are kept for standard
/// streams, the listener, the runtime and the state file being rewritten.
pub const WITNESS_FILES: FileBudget = FileBudget {
    reserve: 64,
    per_connection: 1,
    cap: 4_096,
};

impl FileBudget {
    /// The default connection bound under an open-file limit of `open_files`: what is left
    /// after the reserve, divided by the files per connection, between 1 and [`Self::cap`].
    pub fn max_connections(&self, open_files: u64) -> usize {
        let n = open_files.saturating_sub(self.reserve) / self.per_connection.max(1);
        usize::try_from(n)
            .unwrap_or(usize::MAX)
            .clamp(1, self.cap.max(1))
    }

    /// The open files `connections` connections need, with the reserve.
    pub fn files_needed(&self, connections: usize) -> u64 {
        let n = u64::try_from(connections).unwrap_or(u64::MAX);
        self.reserve
            .saturating_add(n.saturating_mul(self.per_connection))
    }
}

/// The process's open-file limit (`RLIMIT_NOFILE`); `u64::MAX` stands for unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLimit {
    /// The soft limit, the one in force.
    pub soft: u64,
    /// The hard limit, the most the soft limit can be raised to.
    pub hard: u64,
    /// The soft limit before [`raise_open_file_limit`] raised it, if it did.
    pub raised_from: Option<u64>,
}

impl std::fmt::Display for FileLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = |v: u64| {
            if v == u64::MAX {
                "unlimited".to_owned()
            } else {
                v.to_string()
            }
        };
        write!(f, "{}", n(self.soft))?;
        match self.raised_from {
            Some(from) => write!(f, " (raised from {}, the hard limit)", n(from)),
            None if self.soft < self.hard => write!(f, " (hard limit {})", n(self.hard)),
            None => write!(f, " (the hard limit)"),
        }
    }
}

/// The process's open-file limit now.
pub fn open_file_limit() -> FileLimit {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    FileLimit {
        soft: current.unwrap_or(u64::MAX),
        hard: maximum.unwrap_or(u64::MAX),
        raised_from: None,
    }
}

/// Raises the soft open-file limit to the hard limit (an unprivileged process may) and
/// returns the limit now in force.
///
/// # Errors
/// The `setrlimit` error; the limit is then unchanged.
pub fn raise_open_file_limit() -> io::Result<FileLimit> {
    let before = getrlimit(Resource::Nofile);
    let now = open_file_limit();
    if now.soft >= now.hard {
        return Ok(now);
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: before.maximum,
            maximum: before.maximum,
        },
    )?;
    Ok(FileLimit {
        raised_from: Some(now.soft),
        ..open_file_limit()
    })
}

/// Serves `router` on `listener` under `limits` until `shutdown` completes, then stops
/// accepting, lets every open connection finish its request in flight, and returns once all
/// have closed.
///
/// # Errors
/// None so far: accept errors are retried (a client's reset at once, running out of files
/// after 100 ms); the `Result` leaves room for listener failures.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with(listener, router, limits, None, shutdown).await
}

/// [`serve`], with TLS when `tls` is given: each connection's handshake must finish within
/// [`ConnLimits::header_timeout`] of its accept, or the connection is closed.
///
/// # Errors
/// As [`serve`].
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    tls: Option<crate::tls::Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_files_with(listener, router, limits, tls, None, shutdown).await
}

/// [`serve_with`], plain-HTTP connections sending the bodies of files registered in
/// `regions` with `sendfile(2)` ([`crate::sendfile`]).
///
/// # Errors
/// As [`serve`].
pub async fn serve_files_with(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    tls: Option<crate::tls::Tls>,
    regions: Option<Arc<crate::sendfile::FileRegions>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    // `acquire_many` below takes a u32.
    let max = limits
        .max_connections
        .clamp(1, usize::try_from(u32::MAX).unwrap_or(usize::MAX))
        .min(Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let per_address = limits.per_address.map(|max| {
        Arc::new(PerAddress {
            max: max.max(1),
            open: std::sync::Mutex::default(),
        })
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut last_error: Option<String> = None;
    loop {
        // A slot first, then a connection: at the bound, new connections wait in the backlog.
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e, &mut last_error).await;
                    continue;
                }
            },
        };
        last_error = None;
        let address_slot = match &per_address {
            Some(table) => match PerAddress::take(table, peer.ip()) {
                Some(held) => Some(held),
                None => {
                    // Over its address's bound: told so if the socket takes it now (never
                    // waited on), and closed; the slot is free again. What the client sent
                    // so far is read off first (as much as has arrived, never waited for):
                    // closed with unread bytes, the socket would send a reset, which can
                    // discard the answer before the client reads it.
                    if tls.is_none() {
                        let mut sink = [0u8; 4096];
                        for _ in 0..16 {
                            if !matches!(stream.try_read(&mut sink), Ok(n) if n > 0) {
                                break;
                            }
                        }
                        let _ = stream.try_write(TOO_MANY_FROM_ADDRESS);
                    }
                    continue;
                }
            },
            None => None,
        };
        let mut stop = stop_rx.clone();
        let (builder, tls) = (builder.clone(), tls.clone());
        // Every request carries the address it came from (axum's `ConnectInfo`): the desk
        // counts failed logins per address.
        let service = TowerToHyperService::new(WithPeer {
            router: router.clone(),
            peer,
        });
        let regions = regions.clone();
        tokio::spawn(async move {
            // The slots are freed when the connection is closed.
            let _slot = (slot, address_slot);
            match (tls, regions) {
                (None, Some(regions)) => {
                    // As nginx's `tcp_nodelay on`: the last short segment of a body sent by
                    // sendfile(2) must not wait for the reader's delayed ACK (a 40 ms stall
                    // measured without it). The head still waits for its body (`MSG_MORE`).
                    let _ = stream.set_nodelay(true);
                    let stream = crate::sendfile::SendfileStream::new(stream, regions);
                    serve_one(&builder, stream, limits.header_timeout, service, &mut stop).await;
                }
                (None, None) => {
                    serve_one(&builder, stream, limits.header_timeout, service, &mut stop).await
                }
                (Some(tls), _) => {
                    // A client that never finishes its handshake is closed like one that
                    // never finishes its request head.
                    let handshake = tls.acceptor.accept(stream);
                    if let Ok(Ok(stream)) =
                        tokio::time::timeout(limits.header_timeout, handshake).await
                    {
                        serve_one(&builder, stream, limits.header_timeout, service, &mut stop)
                            .await;
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Each connection holds a slot until it has closed: every slot back means all closed.
    let _ = slots
        .acquire_many(u32::try_from(max).unwrap_or(u32::MAX))
        .await;
    Ok(())
}

/// The answer to a connection over [`ConnLimits::per_address`].
const TOO_MANY_FROM_ADDRESS: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 39\r\nRetry-After: 1\r\nConnection: close\r\n\r\ntoo many connections from this address\n";

/// The connections open per address, for [`ConnLimits::per_address`].
struct PerAddress {
    max: usize,
    open: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One connection counted against its address; uncounted when dropped.
struct AddressSlot {
    table: Arc<PerAddress>,
    key: std::net::IpAddr,
}

impl PerAddress {
    /// A slot for a connection from `ip`, or `None` if its address holds the most already.
    fn take(table: &Arc<Self>, ip: std::net::IpAddr) -> Option<AddressSlot> {
        let key = address_key(ip);
        let mut open = table
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = open.entry(key).or_insert(0);
        if *n >= table.max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            table: Arc::clone(table),
            key,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self
            .table
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// What one client is counted by: an IPv4 address (also written as IPv6), or the /64 of an
/// IPv6 address, the least a network hands one client.
fn address_key(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip.to_canonical() {
        std::net::IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            std::net::IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// The router, each request given its peer's address as axum's [`ConnectInfo`].
#[derive(Clone)]
struct WithPeer {
    router: Router,
    peer: std::net::SocketAddr,
}

impl tower::Service<axum::extract::Request<hyper::body::Incoming>> for WithPeer {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = <Router as tower::Service<axum::extract::Request<hyper::body::Incoming>>>::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        tower::Service::<axum::extract::Request<hyper::body::Incoming>>::poll_ready(
            &mut self.router,
            cx,
        )
    }

    fn call(&mut self, mut req: axum::extract::Request<hyper::body::Incoming>) -> Self::Future {
        req.extensions_mut().insert(ConnectInfo(self.peer));
        self.router.call(req)
    }
}

/// Serves one connection until it closes, or gracefully once `stop` turns true: idle, it is
/// closed at once; a request in flight is answered first.
async fn serve_one<S>(
    builder: &http1::Builder,
    stream: S,
    write_timeout: Duration,
    service: TowerToHyperService<WithPeer>,
    stop: &mut watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let stream = crate::deadline::WriteDeadline::new(stream, write_timeout);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stop.wait_for(|stop| *stop) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// After an accept error: nothing for a client that reset before it was accepted; otherwise
/// (out of files or memory) say so once and wait a little rather than spin.
async fn accept_failed(e: &io::Error, last: &mut Option<String>) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    ) {
        return;
    }
    let message = e.to_string();
    if last.as_deref() != Some(&message) {
        eprintln!(
            "accepting a connection failed: {message}; retrying every {} ms",
            ACCEPT_BACKOFF.as_millis()
        );
        *last = Some(message);
    }
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}

/// Why a request body could not be read: [`read_body`]'s error, which each server turns into
/// its own answer (`408`, `413`, `400`).
#[derive(Debug)]
pub enum BodyError {
    /// The whole body did not arrive within the timeout.
    Timeout,
    /// The body is longer than the limit.
    TooLarge,
    /// The body could not be read (the connection broke, a malformed chunk): the reason.
    Unreadable(String),
}

/// Reads a whole request body of at most `limit` bytes within `timeout`, so that a body that
/// never arrives cannot hold its connection (and its slot of the connection bound) forever.
///
/// # Errors
/// [`BodyError`]: too slow, too long, or unreadable.
pub async fn read_body(
    body: axum::body::Body,
    limit: usize,
    timeout: Duration,
) -> Result<axum::body::Bytes, BodyError> {
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(BodyError::Timeout),
        Ok(Err(e)) => {
            let message = e.to_string();
            let too_large = e
                .into_inner()
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            Err(if too_large {
                BodyError::TooLarge
            } else {
                BodyError::Unreadable(message)
            })
        }
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IPv4 as it is (also when written IPv6-mapped); IPv6 by its /64.
    #[test]
    fn one_client_is_one_ipv4_address_or_one_ipv6_64() {
        use std::net::IpAddr;
        let key = |s: &str| address_key(s.parse::<IpAddr>().unwrap());
        assert_eq!(key("192.0.2.7"), key("::ffff:192.0.2.7"));
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
        assert_eq!(
            key("2001:db8:1:2::1"),
            key("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_eq!(
            key("2001:db8:1:2::1"),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }

    #[test]
    fn the_default_bound_follows_the_open_file_limit() {
        let cases = [
            (
                SERVE_FILES,
                1024,
                384,
                "a 1,024-file limit: (1024 − 256) / 2",
            ),
            (
                SERVE_FILES,
                256,
                1,
                "nothing left over: still one connection",
            ),
            (SERVE_FILES, 0, 1, "a zero limit: still one connection"),
            (SERVE_FILES, 1 << 20, 16_384, "a large limit: the cap"),
            (SERVE_FILES, u64::MAX, 16_384, "unlimited: the cap"),
            (WITNESS_FILES, 1024, 960, "the witness: 1024 − 64"),
            (WITNESS_FILES, 1 << 20, 4_096, "the witness: its cap"),
        ];
        for (budget, files, want, what) in cases {
            assert_eq!(budget.max_connections(files), want, "{what}");
        }
        assert_eq!(SERVE_FILES.files_needed(384), 1024);
        assert_eq!(WITNESS_FILES.files_needed(usize::MAX), u64::MAX);
    }

    /// Raising is what an unprivileged process may do: the soft limit becomes the hard one.
    #[test]
    fn the_soft_limit_is_raised_to_the_hard_limit() {
        let raised = raise_open_file_limit().unwrap();
        let now = open_file_limit();
        assert_eq!((raised.soft, raised.hard), (now.soft, now.hard));
        assert_eq!(now.soft, now.hard);
        assert_eq!(
            raise_open_file_limit().unwrap().raised_from,
            None,
            "nothing left to raise"
        );
    }

    #[test]
    fn limits_print_what_happened() {
        let cases = [
            (
                FileLimit {
                    soft: 4096,
                    hard: 4096,
                    raised_from: Some(1024),
                },
                "4096 (raised from 1024, the hard limit)",
            ),
            (
                FileLimit {
                    soft: 1024,
                    hard: 4096,
                    raised_from: None,
                },
                "1024 (hard limit 4096)",
            ),
            (
                FileLimit {
                    soft: u64::MAX,
                    hard: u64::MAX,
                    raised_from: None,
                },
                "unlimited (the hard limit)",
            ),
        ];
        for (limit, want) in cases {
            assert_eq!(limit.to_string(), want);
        }
    }
}
