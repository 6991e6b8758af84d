//! The submission client a polling station or municipal centre runs against `urna serve`:
//! send one signed note to `POST /v1/protocols`, retry what may succeed later, and accept an
//! answer only with a log receipt that verifies.
//!
//! Implements:
//! - [`SubmitClient`]: one note per request, retried on connection errors, timeouts and the
//!   statuses that promise nothing was stored (408, 429, 500, 502, 503, 504), with capped
//!   exponential backoff and jitter, honouring `Retry-After`. A note the server refuses for
//!   itself (any other 4xx with urna's JSON error body) is returned at once as
//!   [`SubmitError::Refused`]. A success answer is checked against the pinned log key with
//!   [`verify_receipt`]: signed by the log, naming the log, the index the answer gives and the
//!   SHA-256 of the bytes sent. Anything less is [`SubmitError::BadReceipt`], never success.
//! - [`Queue`]: a store-and-forward directory. A note is written durably (temporary file,
//!   fsync, rename, directory fsync) as `<sha256 hex>.note` before it is sent, so nothing is
//!   lost while the connection is down; once stored, the note moves to `sent/` beside its
//!   receipt in `receipts/`; a refused note moves to `refused/` with a `.why` file.
//!
//! Retrying a note is always safe: the server answers a note it already stored with `200`
//! and the same index, so a reply lost on the way back costs one more request, never a
//! second entry.
//!
//! Blocking on purpose, like [`crate::cosign_client`]: `ureq`, no async runtime. An
//! `https://` server is checked against Mozilla's roots or, with
//! [`SubmitOptions::ca_cert`], the commission's own CA (rustls with ring).
//!
//! Out of scope: sending several notes in one request, fetching inclusion proofs for
//! receipts.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::Rng as _;
use serde::Deserialize;
use urna_model::intake::sha256;
use urna_model::note::{Note, NoteError, NoteVerifier, SignatureError};
use urna_model::protocol::{BodyError, hex, parse_sha256};
use urna_model::receipt::Receipt;

/// The largest answer body read from the server.
const MAX_RESPONSE_BYTES: u64 = 256 * 1024;

/// How much of an unexpected answer body is quoted in an error.
const MAX_QUOTE: usize = 200;

/// How to send: timeouts, attempts and the backoff between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitOptions {
    /// Longest time one request may take, connection to last byte of the answer.
    pub timeout: Duration,
    /// Most requests for one note (at least 1); the first is attempt 1.
    pub max_attempts: u32,
    /// Backoff before the second attempt; it doubles for every later one.
    pub initial_backoff: Duration,
    /// Largest backoff between two attempts (before `Retry-After`).
    pub max_backoff: Duration,
    /// Largest wait granted to a server's `Retry-After`: a server cannot stall the client for
    /// longer than this between two attempts.
    pub max_retry_after: Duration,
    /// For an `https://` server: a PEM file of the CA certificates its certificate must chain
    /// to (the commission's own CA). `None`: Mozilla's roots, built in.
    pub ca_cert: Option<PathBuf>,
    /// For an `https://` server: the keys its certificate may have ([`crate::pin`]); with
    /// pins and no `ca_cert` the pin alone is checked (a self-signed certificate serves).
    pub pins: Vec<crate::pin::SpkiPin>,
}

impl Default for SubmitOptions {
    /// 10 s per request, 5 attempts, backoff from 250 ms doubling to at most 8 s, and
    /// `Retry-After` honoured up to 60 s.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            ca_cert: None,
            pins: Vec::new(),
        }
    }
}

/// Why a client could not be made. The message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct ConfigError {
    /// The setting, e.g. `base_url` or `max_attempts`.
    pub field: &'static str,
    /// The rule it breaks.
    pub rule: String,
}

impl From<urna_pin::TrustError> for ConfigError {
    fn from(e: urna_pin::TrustError) -> Self {
        Self {
            field: e.field,
            rule: e.rule,
        }
    }
}

/// What the server did with a stored note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredStatus {
    /// Newly stored, and it passed every rule (201).
    Accepted,
    /// Newly stored, and quarantined for a rule it breaks (201).
    Quarantined,
    /// This exact note was stored before (200).
    Duplicate,
}

impl StoredStatus {
    /// The word the server uses: `accepted`, `quarantined` or `duplicate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Quarantined => "quarantined",
            Self::Duplicate => "duplicate",
        }
    }
}

/// A note the log stored, with its receipt, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// What the server did with it.
    pub status: StoredStatus,
    /// The entry's index in the log.
    pub index: u64,
    /// The station the note is from, as the server reports it.
    pub station: String,
    /// SHA-256 of the entry the receipt names: the note's bytes, or, when the log holds the
    /// note's text under other signatures ([`Stored::same_text`]), that note's bytes.
    pub entry: [u8; 32],
    /// The log held this note's text already, signed otherwise (e.g. by the station and by
    /// the counting centre alike): nothing new was stored, and the receipt is the held
    /// note's, which the answer carried and which was checked to have this note's text.
    pub same_text: bool,
    /// The receipt note's bytes (signed by the log key; keep them as proof).
    pub receipt: Vec<u8>,
    /// The receipt's parsed body.
    pub receipt_body: Receipt,
    /// The request that got this answer (1 = the first).
    pub attempts: u32,
}

/// Why a receipt is not proof that the log stored the note sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// A success answer that is not the JSON of the contract.
    #[error("the {status} answer is not the expected JSON: {reason}")]
    Answer {
        /// HTTP status.
        status: u16,
        /// What is wrong with it.
        reason: String,
    },
    /// The answer's `entry` is not SHA-256 of the bytes sent.
    #[error("answer field entry: {got} is not SHA-256 of the note sent (sha256:{expected})")]
    AnswerEntry {
        /// The hash of the note sent, hex.
        expected: String,
        /// The field as received.
        got: String,
    },
    /// The receipt is not a signed note.
    #[error("receipt: not a signed note: {0}")]
    Note(#[from] NoteError),
    /// The receipt is not signed by the pinned log key.
    #[error("receipt: {0}")]
    Signature(#[from] SignatureError),
    /// The receipt's text is not an `urna/receipt/v1`.
    #[error("receipt body: {0}")]
    Body(#[from] BodyError),
    /// The receipt names another log.
    #[error("receipt field log: {got:?}, but the pinned log key is for {expected:?}")]
    Log {
        /// The log key's name (the log origin).
        expected: String,
        /// The receipt's `log`.
        got: String,
    },
    /// The receipt names another entry.
    #[error("receipt field entry: sha256:{got}, but the note sent has sha256:{expected}")]
    Entry {
        /// The hash of the note sent, hex.
        expected: String,
        /// The receipt's `entry`, hex.
        got: String,
    },
    /// The receipt names another index than the answer.
    #[error("receipt field index: {got}, but the answer says index {expected}")]
    Index {
        /// The answer's `index`.
        expected: u64,
        /// The receipt's `index`.
        got: u64,
    },
}

/// Why a note was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The server refused the note for good (a 4xx other than 408 and 429, with urna's error
    /// body): sending it again will not help.
    #[error("refused ({status} {code}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The stable error code, e.g. `bad-signature`.
        code: String,
        /// The server's explanation.
        message: String,
        /// The field at fault, when the server names one.
        field: Option<String>,
    },
    /// The server said the note is stored but its receipt does not prove it: the server is
    /// misconfigured or lying. Treat as a serious error, never as success.
    #[error("bad receipt: {0}")]
    BadReceipt(#[from] ReceiptError),
    /// Every attempt failed for a reason that may pass (connection, timeout, 408, 429, 5xx);
    /// the note may be sent again later.
    #[error("not stored after {attempts} attempts; last: {last}")]
    Unavailable {
        /// Requests made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// An answer outside the contract (e.g. a 404 with no urna error body: the URL is not an
    /// `urna serve`), or a request that cannot be made. Sending again will not help until
    /// the configuration is fixed; the note was not refused.
    #[error("{0}")]
    Unexpected(String),
}

/// A blocking client for `POST {base}/v1/protocols` with a pinned log key.
#[derive(Debug)]
pub struct SubmitClient {
    url: String,
    log: NoteVerifier,
    options: SubmitOptions,
    agent: ureq::Agent,
}

/// What one request came to.
enum Attempt {
    /// Stored, or a failure that retrying will not change.
    Final(Result<Stored, SubmitError>),
    /// A failure that may pass; `retry_after` is the server's hint.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
}

#[derive(Deserialize)]
struct StoredJson {
    status: String,
    index: u64,
    station: String,
    entry: String,
    receipt: String,
    /// The held note, for a duplicate of this note's text under other signatures.
    #[serde(default)]
    note: Option<String>,
}

#[derive(Deserialize)]
struct ErrorJson {
    error: ErrorFields,
}

#[derive(Deserialize)]
struct ErrorFields {
    code: String,
    message: String,
    #[serde(default)]
    field: Option<String>,
}

impl SubmitClient {
    /// A client for the server at `base_url` (`http://host:port`, optionally with a path
    /// prefix), accepting only receipts signed by `log`.
    ///
    /// # Errors
    /// [`ConfigError`] if the URL is not `http://…`, `max_attempts` is 0 or `timeout` is 0.
    pub fn new(
        base_url: &str,
        log: NoteVerifier,
        options: SubmitOptions,
    ) -> Result<Self, ConfigError> {
        let https = base_url.starts_with("https://");
        let rest = base_url
            .strip_prefix("https://")
            .or_else(|| base_url.strip_prefix("http://"))
            .ok_or_else(|| ConfigError {
                field: "base_url",
                rule: format!("{base_url:?} must start with https:// or http://"),
            })?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(ConfigError {
                field: "base_url",
                rule: format!("{base_url:?} names no host"),
            });
        }
        if options.max_attempts == 0 {
            return Err(ConfigError {
                field: "max_attempts",
                rule: "must be at least 1".into(),
            });
        }
        if options.timeout.is_zero() {
            return Err(ConfigError {
                field: "timeout",
                rule: "must be more than 0".into(),
            });
        }
        if !https {
            if options.ca_cert.is_some() {
                return Err(ConfigError {
                    field: "ca_cert",
                    rule: format!("only for an https:// server, not {base_url:?}"),
                });
            }
            if !options.pins.is_empty() {
                return Err(ConfigError {
                    field: "pin",
                    rule: format!("only for an https:// server, not {base_url:?}"),
                });
            }
            if !urna_pin::is_loopback_authority(rest) {
                return Err(ConfigError {
                    field: "base_url",
                    rule: format!(
                        "{base_url:?}: plain http:// only to a server on loopback \
                         (127.0.0.1, ::1, localhost); use https://"
                    ),
                });
            }
        }
        let config = ureq::Agent::config_builder()
            // Asked for over https://, never sent over plain http:// (no redirects anyway).
            .https_only(https)
            .timeout_global(Some(options.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None);
        let agent = crate::pin::agent(
            config,
            &crate::pin::ServerTrust {
                ca_cert: options.ca_cert.as_deref(),
                pins: &options.pins,
            },
        )?;
        Ok(Self {
            url: format!("{}/v1/protocols", base_url.trim_end_matches('/')),
            log,
            options,
            agent,
        })
    }

    /// The endpoint notes are posted to.
    pub fn endpoint(&self) -> &str {
        &self.url
    }

    /// The pinned log key.
    pub fn log_key(&self) -> &NoteVerifier {
        &self.log
    }

    /// Sends one signed note, retrying transient failures up to `max_attempts` times, and
    /// returns the stored entry with its verified receipt.
    ///
    /// # Errors
    /// [`SubmitError::Refused`] at once for a permanent refusal;
    /// [`SubmitError::BadReceipt`] for a success answer whose receipt does not verify;
    /// [`SubmitError::Unavailable`] when every attempt failed transiently;
    /// [`SubmitError::Unexpected`] for an answer outside the contract.
    pub fn submit(&self, note: &[u8]) -> Result<Stored, SubmitError> {
        let hash = sha256(note);
        let mut last = String::new();
        for attempt in 1..=self.options.max_attempts {
            match self.attempt(note, &hash, attempt) {
                Attempt::Final(result) => return result,
                Attempt::Retry {
                    reason,
                    retry_after,
                } => {
                    last = reason;
                    if attempt < self.options.max_attempts {
                        std::thread::sleep(backoff(&self.options, attempt, retry_after));
                    }
                }
            }
        }
        Err(SubmitError::Unavailable {
            attempts: self.options.max_attempts,
            last,
        })
    }

    fn attempt(&self, note: &[u8], hash: &[u8; 32], attempt: u32) -> Attempt {
        let sent = self
            .agent
            .post(&self.url)
            .header("Content-Type", "text/plain; charset=utf-8")
            .send(note);
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) => return transport_error(&self.url, &e),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = match resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
        {
            Ok(b) => b,
            Err(e) => {
                return Attempt::Retry {
                    reason: format!("{status} from {}, body unreadable: {e}", self.url),
                    retry_after,
                };
            }
        };
        match status {
            200 | 201 => Attempt::Final(
                self.stored(status, &body, note, hash, attempt)
                    .map_err(SubmitError::BadReceipt),
            ),
            408 | 429 | 500 | 502 | 503 | 504 => Attempt::Retry {
                reason: match serde_json::from_slice::<ErrorJson>(&body) {
                    Ok(e) => format!("{status} {}: {}", e.error.code, e.error.message),
                    Err(_) => format!("{status}: {}", quote(&body)),
                },
                retry_after,
            },
            // 501: a write the server does not take (e.g. a PostgreSQL node of an earlier
            // version and an audit note): final like a refusal, its code and message shown.
            400..=499 | 501 => {
                Attempt::Final(Err(match serde_json::from_slice::<ErrorJson>(&body) {
                    Ok(e) => SubmitError::Refused {
                        status,
                        code: e.error.code,
                        message: e.error.message,
                        field: e.error.field,
                    },
                    Err(_) => SubmitError::Unexpected(format!(
                        "{} answered {status} without an urna error body (is it an `urna serve`?): {}",
                        self.url,
                        quote(&body)
                    )),
                }))
            }
            _ => Attempt::Final(Err(SubmitError::Unexpected(format!(
                "{} answered {status}, which the intake never sends: {}",
                self.url,
                quote(&body)
            )))),
        }
    }

    /// Sends the scan of a paper protocol (`PUT {base}/v1/scans/<sha256>`) after the note that
    /// names it is stored, retrying transient failures like [`SubmitClient::submit`]. `true`
    /// if the server stored it now, `false` if it had it already.
    ///
    /// # Errors
    /// [`SubmitError::Refused`] (e.g. `scan-not-named` before its note is stored, `bad-scan`);
    /// [`SubmitError::Unavailable`]; [`SubmitError::Unexpected`].
    pub fn put_scan(&self, scan: &[u8]) -> Result<bool, SubmitError> {
        let base = self.url.trim_end_matches("/v1/protocols");
        let url = format!("{base}/v1/scans/{}", hex(&sha256(scan)));
        let mut last = String::new();
        for attempt in 1..=self.options.max_attempts {
            let (reason, retry_after) = match self
                .agent
                .put(&url)
                .header("Content-Type", "application/octet-stream")
                .send(scan)
            {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    let body = resp
                        .body_mut()
                        .with_config()
                        .limit(MAX_RESPONSE_BYTES)
                        .read_to_vec()
                        .unwrap_or_default();
                    let err = serde_json::from_slice::<ErrorJson>(&body);
                    match (status, err) {
                        (201, _) => return Ok(true),
                        (200, _) => return Ok(false),
                        (408 | 429 | 500 | 502 | 503 | 504, err) => (
                            match err {
                                Ok(e) => format!("{status} {}: {}", e.error.code, e.error.message),
                                Err(_) => format!("{status}: {}", quote(&body)),
                            },
                            retry_after,
                        ),
                        (400..=499, Ok(e)) => {
                            return Err(SubmitError::Refused {
                                status,
                                code: e.error.code,
                                message: e.error.message,
                                field: e.error.field,
                            });
                        }
                        _ => {
                            return Err(SubmitError::Unexpected(format!(
                                "{url} answered {status}, which urna serve never sends for a scan: {}",
                                quote(&body)
                            )));
                        }
                    }
                }
                Err(e) => match transport_error(&url, &e) {
                    Attempt::Retry {
                        reason,
                        retry_after,
                    } => (reason, retry_after),
                    Attempt::Final(Err(e)) => return Err(e),
                    Attempt::Final(Ok(_)) => {
                        return Err(SubmitError::Unexpected(format!(
                            "{url}: a transport error taken for an answer"
                        )));
                    }
                },
            };
            last = reason;
            if attempt < self.options.max_attempts {
                std::thread::sleep(backoff(&self.options, attempt, retry_after));
            }
        }
        Err(SubmitError::Unavailable {
            attempts: self.options.max_attempts,
            last,
        })
    }

    /// Checks a 200/201 answer: the contract's JSON, the entry hash, and the receipt.
    fn stored(
        &self,
        status: u16,
        body: &[u8],
        note: &[u8],
        hash: &[u8; 32],
        attempts: u32,
    ) -> Result<Stored, ReceiptError> {
        let answer = |reason: String| ReceiptError::Answer { status, reason };
        let json: StoredJson = serde_json::from_slice(body).map_err(|e| answer(e.to_string()))?;
        let stored_status = match (status, json.status.as_str()) {
            (201, "accepted") => StoredStatus::Accepted,
            (201, "quarantined") => StoredStatus::Quarantined,
            (200, "duplicate") => StoredStatus::Duplicate,
            (_, other) => {
                return Err(answer(format!(
                    "field status: {other:?} does not go with HTTP {status} (201: accepted or quarantined; 200: duplicate)"
                )));
            }
        };
        let entry = parse_sha256(&json.entry).ok();
        // A duplicate of this note's text under other signatures names the held note, which
        // the answer carries: it must hash to `entry` and have this note's text.
        let held = match (&json.note, stored_status) {
            (Some(held), StoredStatus::Duplicate) if entry.as_ref() != Some(hash) => {
                let held = held.as_bytes();
                let same = match (Note::parse(held), Note::parse(note)) {
                    (Ok(h), Ok(n)) => h.text() == n.text(),
                    _ => false,
                };
                if entry != Some(sha256(held)) || !same {
                    return Err(answer(
                        "field note: not a note with this note's text whose SHA-256 is the answer's entry".into(),
                    ));
                }
                Some(held)
            }
            _ => None,
        };
        if held.is_none() && entry.as_ref() != Some(hash) {
            return Err(ReceiptError::AnswerEntry {
                expected: hex(hash),
                got: json.entry,
            });
        }
        let receipt_body = verify_receipt(
            &self.log,
            held.unwrap_or(note),
            json.index,
            json.receipt.as_bytes(),
        )?;
        Ok(Stored {
            status: stored_status,
            index: json.index,
            station: json.station,
            entry: entry.unwrap_or(*hash),
            same_text: held.is_some(),
            receipt: json.receipt.into_bytes(),
            receipt_body,
            attempts,
        })
    }
}

/// Checks that `receipt` is the log's signed promise to store `note` at `index`: signed by
/// `log`, naming `log`'s name as its log, `index`, and SHA-256 of `note`.
///
/// # Errors
/// [`ReceiptError`] naming the first check that fails.
pub fn verify_receipt(
    log: &NoteVerifier,
    note: &[u8],
    index: u64,
    receipt: &[u8],
) -> Result<Receipt, ReceiptError> {
    let signed = Note::parse(receipt)?;
    log.verify(&signed)?;
    let body = Receipt::parse(signed.text())?;
    if body.log != log.name() {
        return Err(ReceiptError::Log {
            expected: log.name().to_owned(),
            got: body.log,
        });
    }
    let hash = sha256(note);
    if body.entry != hash {
        return Err(ReceiptError::Entry {
            expected: hex(&hash),
            got: hex(&body.entry),
        });
    }
    if body.index != index {
        return Err(ReceiptError::Index {
            expected: index,
            got: body.index,
        });
    }
    Ok(body)
}

fn transport_error(url: &str, e: &ureq::Error) -> Attempt {
    match e {
        ureq::Error::Io(_)
        | ureq::Error::Timeout(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound
        | ureq::Error::Protocol(_) => Attempt::Retry {
            reason: format!("{url}: {e}"),
            retry_after: None,
        },
        _ => Attempt::Final(Err(SubmitError::Unexpected(format!("{url}: {e}")))),
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by urna and is ignored).
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok().map(Duration::from_secs)
}

/// The wait after failed attempt `attempt` (1-based): `initial · 2^(attempt−1)` capped at
/// `max_backoff`, half of it random (jitter, so stations cut off together do not come back
/// together), and at least the server's `Retry-After` up to `max_retry_after`.
fn backoff(options: &SubmitOptions, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    let base = options
        .initial_backoff
        .saturating_mul(factor)
        .min(options.max_backoff);
    let half = base / 2;
    let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    let jittered = half + Duration::from_millis(rand::thread_rng().gen_range(0..=jitter_ms));
    match retry_after {
        Some(hint) => jittered.max(hint.min(options.max_retry_after)),
        None => jittered,
    }
}

fn quote(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim();
    if s.is_empty() {
        return "(empty body)".into();
    }
    match s.char_indices().nth(MAX_QUOTE) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// Why the queue directory could not be used. Every message names the path.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// A file-system operation failed.
    #[error("{}: {op}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The error.
        source: io::Error,
    },
    /// Another process holds the queue.
    #[error("{}: the queue is in use by another process (its lock is held)", path.display())]
    Busy {
        /// The lock file.
        path: PathBuf,
    },
    /// A queued file's bytes do not hash to its name (changed or damaged on disk).
    #[error("{}: its SHA-256 is {actual}, not the one its name says; it is not sent", path.display())]
    Corrupt {
        /// The queued file.
        path: PathBuf,
        /// SHA-256 of its bytes, hex.
        actual: String,
    },
    /// `done` or `refuse` of a note that is not queued.
    #[error("{}: sha256:{hash} is not queued", dir.display())]
    NotQueued {
        /// The queue directory.
        dir: PathBuf,
        /// The note's hash, hex.
        hash: String,
    },
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> QueueError {
    let path = path.to_path_buf();
    move |source| QueueError::Io { path, op, source }
}

/// A store-and-forward queue of notes in a directory:
///
/// ```text
/// DIR/<sha256 hex>.note          queued, not yet stored by the log
/// DIR/order                      the order notes were queued in (one hex hash a line)
/// DIR/sent/<hex>.note            stored; its receipt is beside it in
/// DIR/receipts/<hex>.receipt     the log's signed urna/receipt/v1
/// DIR/refused/<hex>.note         refused by the server, with
/// DIR/refused/<hex>.why          the server's code and message
/// DIR/lock                       held while a process uses the queue
/// ```
///
/// Every write is durable before the call returns. A note is queued under the SHA-256 of its
/// bytes, so queueing it again while it waits is a no-op. Notes are sent in the order they
/// were queued (a protocol before the amendment that supersedes it).
#[derive(Debug)]
pub struct Queue {
    dir: PathBuf,
    /// Holds the exclusive lock for the queue's lifetime.
    _lock: File,
}

/// The log's answer to a note that left the queue ([`Queue::answer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueAnswer {
    /// Stored: the receipt's bytes as kept (verify them before relying on them).
    Stored(Vec<u8>),
    /// Refused, with the log's reason.
    Refused(String),
}

/// A note waiting in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedNote {
    /// SHA-256 of the note's bytes (its file name).
    pub hash: [u8; 32],
    /// The queued file.
    pub path: PathBuf,
}

impl QueuedNote {
    /// The note's bytes, checked against its name.
    ///
    /// # Errors
    /// [`QueueError::Io`] if unreadable; [`QueueError::Corrupt`] if the bytes changed.
    pub fn read(&self) -> Result<Vec<u8>, QueueError> {
        let bytes = fs::read(&self.path).map_err(io_err("read", &self.path))?;
        let actual = sha256(&bytes);
        if actual != self.hash {
            return Err(QueueError::Corrupt {
                path: self.path.clone(),
                actual: hex(&actual),
            });
        }
        Ok(bytes)
    }
}

const NOTE_EXT: &str = ".note";
const ORDER_FILE: &str = "order";
const LOCK_FILE: &str = "lock";
const SENT_DIR: &str = "sent";
const RECEIPTS_DIR: &str = "receipts";
const REFUSED_DIR: &str = "refused";
const SCANS_DIR: &str = "scans";

impl Queue {
    /// Opens (creating if needed) the queue in `dir` and takes its lock. Removes temporary
    /// files a crash left behind and forgets the order of notes no longer queued.
    ///
    /// # Errors
    /// [`QueueError::Busy`] if another process holds the queue; [`QueueError::Io`].
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, QueueError> {
        let dir = dir.into();
        for sub in [SENT_DIR, RECEIPTS_DIR, REFUSED_DIR] {
            let d = dir.join(sub);
            fs::create_dir_all(&d).map_err(io_err("create directory", &d))?;
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err("open", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(QueueError::Busy { path: lock_path }),
            Err(fs::TryLockError::Error(e)) => return Err(io_err("lock", &lock_path)(e)),
        }
        let queue = Self { dir, _lock: lock };
        for sub in ["", SENT_DIR, RECEIPTS_DIR, REFUSED_DIR] {
            queue.remove_temporaries(&queue.dir.join(sub))?;
        }
        if queue.dir.join(SCANS_DIR).is_dir() {
            queue.remove_temporaries(&queue.dir.join(SCANS_DIR))?;
        }
        queue.compact_order()?;
        Ok(queue)
    }

    /// The queue directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Queues `note` durably and returns its hash and whether it was newly queued (`false`
    /// if it was already waiting). A note sent or refused before is queued again.
    ///
    /// # Errors
    /// [`QueueError::Io`].
    pub fn push(&self, note: &[u8]) -> Result<([u8; 32], bool), QueueError> {
        let hash = sha256(note);
        let path = self.note_path(&hash);
        if path.is_file() {
            return Ok((hash, false));
        }
        urna_tlog::tiledir::write_file_atomic(&path, note).map_err(io_err("write", &path))?;
        let order = self.dir.join(ORDER_FILE);
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&order)
            .map_err(io_err("open", &order))?;
        f.write_all(format!("{}\n", hex(&hash)).as_bytes())
            .and_then(|()| f.sync_data())
            .map_err(io_err("append", &order))?;
        Ok((hash, true))
    }

    /// Keeps the scan a queued note names beside it (`DIR/scans/<sha256>`), so that whoever
    /// delivers the queue sends it after the note (`urna submit --queue`, a station).
    ///
    /// # Errors
    /// [`QueueError::Io`].
    pub fn push_scan(&self, scan: &[u8]) -> Result<[u8; 32], QueueError> {
        let hash = sha256(scan);
        let dir = self.dir.join(SCANS_DIR);
        let path = dir.join(hex(&hash));
        if std::fs::read(&path).is_ok_and(|b| b == scan) {
            return Ok(hash);
        }
        std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        urna_tlog::tiledir::write_file_atomic(&path, scan).map_err(io_err("write", &path))?;
        Ok(hash)
    }

    /// The scan `note` names, if the queue keeps it ([`Queue::push_scan`]).
    pub fn scan_of(&self, note: &[u8]) -> Option<Vec<u8>> {
        let hash = urna_model::scan::named_scan(note)?;
        let bytes = std::fs::read(self.dir.join(SCANS_DIR).join(hex(&hash))).ok()?;
        (sha256(&bytes) == hash).then_some(bytes)
    }

    /// The queued notes, in the order they were queued (notes whose order was lost, e.g.
    /// copied in by hand, come last, by name).
    ///
    /// # Errors
    /// [`QueueError::Io`].
    pub fn pending(&self) -> Result<Vec<QueuedNote>, QueueError> {
        let mut found = Vec::new();
        let entries = fs::read_dir(&self.dir).map_err(io_err("list", &self.dir))?;
        for entry in entries {
            let entry = entry.map_err(io_err("list", &self.dir))?;
            let name = entry.file_name();
            let Some(hash) = name.to_str().and_then(note_name_hash) else {
                continue;
            };
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                found.push(QueuedNote {
                    hash,
                    path: entry.path(),
                });
            }
        }
        let order = self.read_order()?;
        found.sort_by_key(|q| (order.get(&q.hash).copied().unwrap_or(usize::MAX), q.hash));
        Ok(found)
    }

    /// What became of note `hash` once it left the queue: the receipt kept beside it in
    /// `sent/`, or the reason kept beside it in `refused/`; `None` while it waits (queued
    /// again too), if the queue never held it, or if what was kept beside it cannot be read.
    pub fn answer(&self, hash: &[u8; 32]) -> Option<QueueAnswer> {
        if self.note_path(hash).is_file() {
            return None;
        }
        let name = hex(hash);
        let sent = self.dir.join(SENT_DIR).join(format!("{name}{NOTE_EXT}"));
        let refused = self.dir.join(REFUSED_DIR).join(format!("{name}{NOTE_EXT}"));
        if sent.is_file() {
            fs::read(self.dir.join(RECEIPTS_DIR).join(format!("{name}.receipt")))
                .ok()
                .map(QueueAnswer::Stored)
        } else if refused.is_file() {
            fs::read_to_string(self.dir.join(REFUSED_DIR).join(format!("{name}.why")))
                .ok()
                .map(|why| QueueAnswer::Refused(why.trim_end().to_owned()))
        } else {
            None
        }
    }

    /// The note `hash` was stored: writes `receipt` to `receipts/<hex>.receipt`, then moves the
    /// note to `sent/<hex>.note`. Calling it again for a note already moved rewrites the
    /// receipt only.
    ///
    /// # Errors
    /// [`QueueError::NotQueued`] if the note is neither queued nor sent; [`QueueError::Io`].
    pub fn done(&self, hash: &[u8; 32], receipt: &[u8]) -> Result<(), QueueError> {
        let name = hex(hash);
        let target = self.dir.join(SENT_DIR).join(format!("{name}{NOTE_EXT}"));
        let receipt_path = self.dir.join(RECEIPTS_DIR).join(format!("{name}.receipt"));
        self.check_queued(hash, &target)?;
        urna_tlog::tiledir::write_file_atomic(&receipt_path, receipt)
            .map_err(io_err("write", &receipt_path))?;
        self.move_out(hash, &target)
    }

    /// The server refused note `hash`: writes `why` to `refused/<hex>.why`, then moves the
    /// note to `refused/<hex>.note`.
    ///
    /// # Errors
    /// [`QueueError::NotQueued`] if the note is neither queued nor refused; [`QueueError::Io`].
    pub fn refuse(&self, hash: &[u8; 32], why: &str) -> Result<(), QueueError> {
        let name = hex(hash);
        let target = self.dir.join(REFUSED_DIR).join(format!("{name}{NOTE_EXT}"));
        let why_path = self.dir.join(REFUSED_DIR).join(format!("{name}.why"));
        self.check_queued(hash, &target)?;
        let mut text = why.trim_end().to_owned();
        text.push('\n');
        urna_tlog::tiledir::write_file_atomic(&why_path, text.as_bytes())
            .map_err(io_err("write", &why_path))?;
        self.move_out(hash, &target)
    }

    fn note_path(&self, hash: &[u8; 32]) -> PathBuf {
        self.dir.join(format!("{}{NOTE_EXT}", hex(hash)))
    }

    fn check_queued(&self, hash: &[u8; 32], target: &Path) -> Result<(), QueueError> {
        if self.note_path(hash).is_file() || target.is_file() {
            Ok(())
        } else {
            Err(QueueError::NotQueued {
                dir: self.dir.clone(),
                hash: hex(hash),
            })
        }
    }

    /// Renames the queued note to `target` (if it is still queued) and syncs both directories.
    fn move_out(&self, hash: &[u8; 32], target: &Path) -> Result<(), QueueError> {
        let from = self.note_path(hash);
        if !from.is_file() {
            return Ok(());
        }
        fs::rename(&from, target).map_err(io_err("move", &from))?;
        if let Some(parent) = target.parent() {
            sync_dir(parent)?;
        }
        sync_dir(&self.dir)
    }

    /// Hash → position of its last line in the order file (later lines win: a note sent and
    /// queued again takes its new place).
    fn read_order(&self) -> Result<BTreeMap<[u8; 32], usize>, QueueError> {
        let path = self.dir.join(ORDER_FILE);
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        // A line torn by a crash is not 64 hex digits and is skipped.
        Ok(String::from_utf8_lossy(&text)
            .lines()
            .enumerate()
            .filter_map(|(i, line)| parse_sha256(&format!("sha256:{line}")).ok().map(|h| (h, i)))
            .collect())
    }

    /// Rewrites the order file with only the notes still queued.
    fn compact_order(&self) -> Result<(), QueueError> {
        let path = self.dir.join(ORDER_FILE);
        let pending = self.pending()?;
        let text: String = pending
            .iter()
            .map(|q| format!("{}\n", hex(&q.hash)))
            .collect();
        if fs::read(&path).ok().as_deref() == Some(text.as_bytes()) {
            return Ok(());
        }
        urna_tlog::tiledir::write_file_atomic(&path, text.as_bytes())
            .map_err(io_err("write", &path))
    }

    /// Removes `.<name>.tmp-…` files a crash left between write and rename.
    fn remove_temporaries(&self, dir: &Path) -> Result<(), QueueError> {
        for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
            let entry = entry.map_err(io_err("list", dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.contains(".tmp-") {
                let p = entry.path();
                fs::remove_file(&p).map_err(io_err("remove temporary file", &p))?;
            }
        }
        Ok(())
    }
}

/// `<64 lower-case hex>.note` → the hash.
fn note_name_hash(name: &str) -> Option<[u8; 32]> {
    let stem = name.strip_suffix(NOTE_EXT)?;
    parse_sha256(&format!("sha256:{stem}")).ok()
}

fn sync_dir(dir: &Path) -> Result<(), QueueError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead as _, BufReader, Read as _};
    use std::net::TcpListener;
    use std::time::Instant;
    use urna_model::note::NoteSigner;

    fn log_key() -> NoteSigner {
        NoteSigner::from_seed("urna/test-log", &[3; 32]).unwrap()
    }

    /// A receipt as the log signs it (urna-store's `PublicLog::receipt`).
    fn receipt(signer: &NoteSigner, log: &str, index: u64, entry: [u8; 32]) -> Vec<u8> {
        let body = Receipt {
            log: log.to_owned(),
            index,
            entry,
            time_ms: 1_745_600_000_123,
        };
        signer.sign_text(&body.to_text()).to_bytes()
    }

    const NOTE: &[u8] = b"urna/protocol/v1\nstation: 0101\n\n\xe2\x80\x94 0101 AAAA\n";

    #[test]
    fn a_good_receipt_verifies() {
        let log = log_key();
        let r = receipt(&log, log.name(), 7, sha256(NOTE));
        let body = verify_receipt(&log.verifier(), NOTE, 7, &r).unwrap();
        assert_eq!(body.index, 7);
        assert_eq!(body.entry, sha256(NOTE));
    }

    /// A duplicate of the note's text under other signatures: taken only with the held note,
    /// which must hash to the answer's entry and have this note's text.
    #[test]
    fn a_duplicate_of_the_text_is_taken_only_with_the_held_note() {
        let log = log_key();
        let client = SubmitClient::new(
            "http://127.0.0.1:1/",
            log.verifier(),
            SubmitOptions::default(),
        )
        .unwrap();
        let station = NoteSigner::from_seed("0101", &[7; 32]).unwrap();
        let observer = NoteSigner::from_seed("observer", &[8; 32]).unwrap();
        let text = "urna/protocol/v1\nstation: 0101\n";
        let mine = station.sign_text(text).to_bytes();
        let mut held = station.sign_text(text);
        held.sign(&observer);
        let held = held.to_bytes();
        let other = station
            .sign_text("urna/protocol/v1\nstation: 0102\n")
            .to_bytes();
        let answer = |note: &[u8], entry: [u8; 32]| {
            serde_json::json!({
                "status": "duplicate",
                "index": 7,
                "station": "0101",
                "entry": format!("sha256:{}", hex(&entry)),
                "receipt": String::from_utf8(receipt(&log, log.name(), 7, entry)).unwrap(),
                "note": String::from_utf8(note.to_vec()).unwrap(),
            })
            .to_string()
        };
        let hash = sha256(&mine);
        let s = client
            .stored(
                200,
                answer(&held, sha256(&held)).as_bytes(),
                &mine,
                &hash,
                1,
            )
            .unwrap();
        assert!(s.same_text);
        assert_eq!((s.index, s.entry), (7, sha256(&held)));
        // Another text, or a note that is not the entry named: refused.
        for (note, entry) in [(&other, sha256(&other)), (&held, sha256(&other))] {
            let e = client
                .stored(200, answer(note, entry).as_bytes(), &mine, &hash, 1)
                .unwrap_err();
            assert!(matches!(e, ReceiptError::Answer { .. }), "{e}");
        }
        // Without the held note, an entry other than this note's is refused as before.
        let bare = serde_json::json!({
            "status": "duplicate", "index": 7, "station": "0101",
            "entry": format!("sha256:{}", hex(&sha256(&held))),
            "receipt": String::from_utf8(receipt(&log, log.name(), 7, sha256(&held))).unwrap(),
        })
        .to_string();
        let e = client
            .stored(200, bare.as_bytes(), &mine, &hash, 1)
            .unwrap_err();
        assert!(matches!(e, ReceiptError::AnswerEntry { .. }), "{e}");
    }

    #[test]
    fn receipts_by_another_key_or_for_another_entry_or_index_are_refused() {
        let log = log_key();
        let v = log.verifier();
        let entry = sha256(NOTE);
        // Another key, even one with the log's name.
        let impostor = NoteSigner::from_seed(log.name(), &[4; 32]).unwrap();
        let e = verify_receipt(&v, NOTE, 7, &receipt(&impostor, log.name(), 7, entry));
        assert!(
            matches!(
                e,
                Err(ReceiptError::Signature(SignatureError::Missing { .. }))
            ),
            "{e:?}"
        );
        // The log's key, naming another log.
        let e = verify_receipt(&v, NOTE, 7, &receipt(&log, "urna/other", 7, entry));
        assert!(matches!(e, Err(ReceiptError::Log { .. })), "{e:?}");
        // Another entry.
        let e = verify_receipt(&v, NOTE, 7, &receipt(&log, log.name(), 7, [9; 32]));
        assert!(matches!(e, Err(ReceiptError::Entry { .. })), "{e:?}");
        assert!(e.unwrap_err().to_string().contains("entry"));
        // Another index.
        let e = verify_receipt(&v, NOTE, 8, &receipt(&log, log.name(), 7, entry));
        assert!(
            matches!(
                e,
                Err(ReceiptError::Index {
                    expected: 8,
                    got: 7
                })
            ),
            "{e:?}"
        );
        // A signature over other text, pasted under this receipt.
        let good = String::from_utf8(receipt(&log, log.name(), 7, entry)).unwrap();
        let other = String::from_utf8(receipt(&log, log.name(), 6, entry)).unwrap();
        let sig = other.rsplit_once("\n\n").unwrap().1;
        let forged = format!("{}\n\n{sig}", good.rsplit_once("\n\n").unwrap().0);
        let e = verify_receipt(&v, NOTE, 7, forged.as_bytes());
        assert!(
            matches!(
                e,
                Err(ReceiptError::Signature(SignatureError::Invalid { .. }))
            ),
            "{e:?}"
        );
        // Not a note; not a receipt.
        assert!(matches!(
            verify_receipt(&v, NOTE, 7, b"hello"),
            Err(ReceiptError::Note(_))
        ));
        let not_receipt = log.sign_text("urna/other/v1\n").to_bytes();
        assert!(matches!(
            verify_receipt(&v, NOTE, 7, &not_receipt),
            Err(ReceiptError::Body(_))
        ));
    }

    #[test]
    fn queue_push_is_idempotent_and_keeps_order() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path()).unwrap();
        let notes: Vec<Vec<u8>> = (0..5).map(|i| format!("note {i}\n").into_bytes()).collect();
        // Pushed in an order unrelated to the hashes.
        let mut hashes = Vec::new();
        for n in notes.iter().rev() {
            let (h, new) = q.push(n).unwrap();
            assert!(new);
            hashes.push(h);
        }
        let (h, new) = q.push(&notes[2]).unwrap();
        assert_eq!((h, new), (sha256(&notes[2]), false));
        let pending = q.pending().unwrap();
        assert_eq!(pending.iter().map(|p| p.hash).collect::<Vec<_>>(), hashes);
        assert_eq!(pending[0].read().unwrap(), notes[4]);
        assert!(
            pending[0]
                .path
                .ends_with(format!("{}.note", hex(&hashes[0])))
        );
        // No temporary files are left.
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }

    #[test]
    fn done_and_refuse_move_notes_out_with_their_proof() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path()).unwrap();
        let (a, _) = q.push(b"a\n").unwrap();
        let (b, _) = q.push(b"b\n").unwrap();
        let (c, _) = q.push(b"c\n").unwrap();
        q.done(&a, b"the receipt\n").unwrap();
        q.refuse(&b, "403 bad-signature: no signature by key 0101")
            .unwrap();
        assert_eq!(
            q.pending()
                .unwrap()
                .iter()
                .map(|p| p.hash)
                .collect::<Vec<_>>(),
            [c]
        );
        let d = dir.path();
        assert_eq!(
            fs::read(d.join(format!("sent/{}.note", hex(&a)))).unwrap(),
            b"a\n"
        );
        assert_eq!(
            fs::read(d.join(format!("receipts/{}.receipt", hex(&a)))).unwrap(),
            b"the receipt\n"
        );
        assert_eq!(
            fs::read(d.join(format!("refused/{}.note", hex(&b)))).unwrap(),
            b"b\n"
        );
        assert_eq!(
            fs::read_to_string(d.join(format!("refused/{}.why", hex(&b)))).unwrap(),
            "403 bad-signature: no signature by key 0101\n"
        );
        assert_eq!(
            q.answer(&a),
            Some(QueueAnswer::Stored(b"the receipt\n".to_vec()))
        );
        assert_eq!(
            q.answer(&b),
            Some(QueueAnswer::Refused(
                "403 bad-signature: no signature by key 0101".into()
            ))
        );
        assert_eq!((q.answer(&c), q.answer(&[0; 32])), (None, None));
        // Done twice is harmless; done of something never queued is an error.
        q.done(&a, b"the receipt\n").unwrap();
        let e = q.done(&[0; 32], b"r").unwrap_err();
        assert!(matches!(e, QueueError::NotQueued { .. }), "{e}");
        // A note sent before can be queued again, and goes to the end.
        let (a2, new) = q.push(b"a\n").unwrap();
        assert_eq!((a2, new), (a, true));
        assert_eq!(
            q.pending()
                .unwrap()
                .iter()
                .map(|p| p.hash)
                .collect::<Vec<_>>(),
            [c, a]
        );
        // Queued again, it waits: no answer yet.
        assert_eq!(q.answer(&a), None);
    }

    #[test]
    fn the_queue_survives_reopening_and_is_locked_while_open() {
        let dir = tempfile::tempdir().unwrap();
        let hashes: Vec<[u8; 32]> = {
            let q = Queue::open(dir.path()).unwrap();
            let e = Queue::open(dir.path()).unwrap_err();
            assert!(matches!(e, QueueError::Busy { .. }), "{e}");
            let hs: Vec<_> = ["z\n", "y\n", "x\n"]
                .iter()
                .map(|n| q.push(n.as_bytes()).unwrap().0)
                .collect();
            q.done(&hs[1], b"r\n").unwrap();
            hs
        };
        // A crash left a temporary file and a torn order line.
        fs::write(dir.path().join(".abc.note.tmp-1-1"), b"half").unwrap();
        let mut order = OpenOptions::new()
            .append(true)
            .open(dir.path().join(ORDER_FILE))
            .unwrap();
        order.write_all(b"0123").unwrap();
        drop(order);
        let q = Queue::open(dir.path()).unwrap();
        assert!(!dir.path().join(".abc.note.tmp-1-1").exists());
        let pending: Vec<_> = q.pending().unwrap().iter().map(|p| p.hash).collect();
        assert_eq!(pending, [hashes[0], hashes[2]]);
        // The order file now lists only what is queued.
        let order = fs::read_to_string(dir.path().join(ORDER_FILE)).unwrap();
        assert_eq!(order, format!("{}\n{}\n", hex(&hashes[0]), hex(&hashes[2])));
        // A damaged queued file is reported, not sent; stray files are ignored.
        fs::write(&q.pending().unwrap()[0].path, b"changed\n").unwrap();
        fs::write(dir.path().join("README.txt"), b"hi").unwrap();
        let e = q.pending().unwrap()[0].read().unwrap_err();
        assert!(matches!(e, QueueError::Corrupt { .. }), "{e}");
        assert_eq!(q.pending().unwrap().len(), 2);
    }

    /// Status, extra headers, body.
    type Canned = (u16, Vec<(&'static str, String)>, String);

    /// A one-thread HTTP server answering each connection with the next canned response;
    /// returns its base URL and the bodies it received.
    fn fake_server(responses: Vec<Canned>) -> (String, std::thread::JoinHandle<Vec<Vec<u8>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut bodies = Vec::new();
            for (status, headers, body) in responses {
                let (stream, _) = listener.accept().unwrap();
                let mut r = BufReader::new(stream);
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    r.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                    if let Some((n, v)) = line.split_once(':')
                        && n.eq_ignore_ascii_case("content-length")
                    {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut got = vec![0; len];
                r.read_exact(&mut got).unwrap();
                bodies.push(got);
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (n, v) in headers {
                    head.push_str(&format!("{n}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let mut s = r.into_inner();
                s.write_all(head.as_bytes()).unwrap();
                s.write_all(body.as_bytes()).unwrap();
            }
            bodies
        });
        (url, handle)
    }

    fn fast() -> SubmitOptions {
        SubmitOptions {
            timeout: Duration::from_secs(5),
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            max_retry_after: Duration::from_secs(60),
            ca_cert: None,
            pins: Vec::new(),
        }
    }

    fn stored_json(status: &str, index: u64, entry: [u8; 32], receipt: &[u8]) -> String {
        serde_json::json!({
            "status": status,
            "index": index,
            "station": "0101",
            "entry": format!("sha256:{}", hex(&entry)),
            "receipt": String::from_utf8_lossy(receipt),
        })
        .to_string()
    }

    fn refusal(code: &str) -> String {
        serde_json::json!({"error": {"code": code, "message": "no", "field": "station"}})
            .to_string()
    }

    #[test]
    fn transient_failures_are_retried_and_retry_after_is_honoured() {
        let log = log_key();
        let entry = sha256(NOTE);
        let ok = stored_json("accepted", 4, entry, &receipt(&log, log.name(), 4, entry));
        let (url, server) = fake_server(vec![
            (
                503,
                vec![("Retry-After", "1".into())],
                refusal("overloaded"),
            ),
            (502, vec![], "<html>bad gateway</html>".into()),
            (201, vec![], ok),
        ]);
        let client = SubmitClient::new(&url, log.verifier(), fast()).unwrap();
        let started = Instant::now();
        let stored = client.submit(NOTE).unwrap();
        assert!(started.elapsed() >= Duration::from_secs(1));
        assert_eq!(stored.status, StoredStatus::Accepted);
        assert_eq!((stored.index, stored.attempts), (4, 3));
        assert_eq!(stored.station, "0101");
        let bodies = server.join().unwrap();
        assert!(bodies.iter().all(|b| b == NOTE));
    }

    #[test]
    fn refusals_are_final_and_exhausted_retries_are_unavailable() {
        let log = log_key();
        let (url, server) = fake_server(vec![(403, vec![], refusal("bad-signature"))]);
        let client = SubmitClient::new(&url, log.verifier(), fast()).unwrap();
        let e = client.submit(NOTE).unwrap_err();
        assert_eq!(
            e,
            SubmitError::Refused {
                status: 403,
                code: "bad-signature".into(),
                message: "no".into(),
                field: Some("station".into()),
            }
        );
        assert_eq!(server.join().unwrap().len(), 1);

        // A 404 that is not urna's is not a refusal of the note.
        let (url, server) = fake_server(vec![(404, vec![], "not found".into())]);
        let client = SubmitClient::new(&url, log.verifier(), fast()).unwrap();
        let e = client.submit(NOTE).unwrap_err();
        assert!(matches!(e, SubmitError::Unexpected(_)), "{e}");
        server.join().unwrap();

        let (url, server) = fake_server(vec![
            (500, vec![], refusal("intake-failed")),
            (408, vec![], refusal("body-timeout")),
            (504, vec![], String::new()),
        ]);
        let client = SubmitClient::new(&url, log.verifier(), fast()).unwrap();
        let e = client.submit(NOTE).unwrap_err();
        assert!(
            matches!(&e, SubmitError::Unavailable { attempts: 3, last } if last.starts_with("504")),
            "{e}"
        );
        server.join().unwrap();

        // Nobody listening: connection errors, retried, then unavailable.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client =
            SubmitClient::new(&format!("http://127.0.0.1:{port}/"), log.verifier(), fast())
                .unwrap();
        let e = client.submit(NOTE).unwrap_err();
        assert!(
            matches!(e, SubmitError::Unavailable { attempts: 3, .. }),
            "{e}"
        );
    }

    #[test]
    fn a_success_with_a_bad_receipt_is_never_success() {
        let log = log_key();
        let entry = sha256(NOTE);
        let impostor = NoteSigner::from_seed(log.name(), &[4; 32]).unwrap();
        let cases = vec![
            // Signed by another key.
            stored_json(
                "accepted",
                4,
                entry,
                &receipt(&impostor, log.name(), 4, entry),
            ),
            // A receipt for another note.
            stored_json("accepted", 4, entry, &receipt(&log, log.name(), 4, [1; 32])),
            // A receipt for another index than the answer's.
            stored_json("accepted", 5, entry, &receipt(&log, log.name(), 4, entry)),
            // The answer names another entry.
            stored_json("accepted", 4, [1; 32], &receipt(&log, log.name(), 4, entry)),
            // A 201 that claims a duplicate.
            stored_json("duplicate", 4, entry, &receipt(&log, log.name(), 4, entry)),
            // Not JSON.
            "stored, trust me".into(),
        ];
        let n = cases.len();
        let (url, server) = fake_server(cases.into_iter().map(|c| (201, vec![], c)).collect());
        let client = SubmitClient::new(&url, log.verifier(), fast()).unwrap();
        for _ in 0..n {
            let e = client.submit(NOTE).unwrap_err();
            assert!(matches!(e, SubmitError::BadReceipt(_)), "{e}");
        }
        server.join().unwrap();
    }

    #[test]
    fn bad_settings_name_the_field() {
        let v = log_key().verifier();
        for (url, field) in [
            ("ftp://x", "base_url"),
            ("http://", "base_url"),
            ("https://", "base_url"),
        ] {
            let e = SubmitClient::new(url, v.clone(), SubmitOptions::default()).unwrap_err();
            assert_eq!(e.field, field);
        }
        assert!(SubmitClient::new("https://x", v.clone(), SubmitOptions::default()).is_ok());
        // A CA file: only for https://, and it must hold a certificate.
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("ca.pem");
        std::fs::write(
            &pem,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let with_ca = || SubmitOptions {
            ca_cert: Some(pem.clone()),
            ..SubmitOptions::default()
        };
        let e = SubmitClient::new("http://x", v.clone(), with_ca()).unwrap_err();
        assert_eq!(e.field, "ca_cert");
        let e = SubmitClient::new("https://x", v.clone(), with_ca()).unwrap_err();
        assert!(
            e.to_string()
                .contains("no -----BEGIN CERTIFICATE----- block"),
            "{e}"
        );
        let e = SubmitClient::new(
            "http://x",
            v.clone(),
            SubmitOptions {
                max_attempts: 0,
                ..SubmitOptions::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.field, "max_attempts");
        let c = SubmitClient::new("http://127.0.0.1:1/pre/", v, SubmitOptions::default()).unwrap();
        assert_eq!(c.endpoint(), "http://127.0.0.1:1/pre/v1/protocols");
    }

    /// Plain http:// goes to loopback only; a pin is only for https://.
    #[test]
    fn plain_http_is_refused_outside_loopback_and_pins_need_https() {
        let v = NoteSigner::from_seed("log", &[7; 32]).unwrap().verifier();
        for url in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://[::1]:8080/x",
            "http://localhost:1",
        ] {
            assert!(
                SubmitClient::new(url, v.clone(), SubmitOptions::default()).is_ok(),
                "{url}"
            );
        }
        for url in [
            "http://results.example",
            "http://10.0.0.1:8080",
            "http://[2001:db8::1]:80",
            "http://localhost.example",
        ] {
            let e = SubmitClient::new(url, v.clone(), SubmitOptions::default()).unwrap_err();
            assert_eq!(e.field, "base_url", "{url}");
            assert!(e.rule.contains("loopback"), "{e}");
        }
        let pinned = SubmitOptions {
            pins: vec![
                crate::pin::SpkiPin::parse(&format!("sha256/{}", "A".repeat(43) + "=")).unwrap(),
            ],
            ..SubmitOptions::default()
        };
        let e = SubmitClient::new("http://127.0.0.1:1", v.clone(), pinned.clone()).unwrap_err();
        assert_eq!(e.field, "pin");
        assert!(SubmitClient::new("https://results.example", v, pinned).is_ok());
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let o = SubmitOptions {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(5),
            ..SubmitOptions::default()
        };
        for _ in 0..50 {
            let d1 = backoff(&o, 1, None);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = backoff(&o, 3, None);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            let d40 = backoff(&o, 40, None);
            assert!(d40 >= Duration::from_millis(500) && d40 <= Duration::from_millis(1000));
            assert!(backoff(&o, 1, Some(Duration::from_secs(2))) >= Duration::from_secs(2));
            assert_eq!(
                backoff(&o, 1, Some(Duration::from_secs(3600))),
                Duration::from_secs(5)
            );
        }
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }
}
