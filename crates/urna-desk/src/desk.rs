//! The desk's rules, independent of HTTP: sessions, roles, double entry, resolution, signing.
//!
//! Every method takes the caller's session and returns either a JSON value or a [`Refusal`]
//! (an HTTP status, a stable code and a message). Refusals of a security rule (CSRF, role,
//! another typist's entry, a station outside the centre, lock-out) are written to the audit
//! trail like every action.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Mutex, MutexGuard};

use rand::RngCore as _;
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};
use serde_json::{Value, json};
use urna_model::definition::{ContestIdx, Election, StationIdx, UnitIdx};
use urna_model::intake::sha256;
use urna_model::note::NoteSigner;
use urna_model::protocol::hex;

use crate::db::{self, DbError, Role};
use crate::form::{self, Decision};

mod accounts;
// Audit hand counts keyed twice (hook: the `audit` field below and `audit: None` in `open`).
pub mod audit;
mod decide;
mod progress;
mod scans;
pub mod station;

pub use decide::PendingDecision;
pub use scans::{MAX_SCAN, scan_kind};

/// Failed logins in a row, for one account from one address, that lock that account for
/// that address (from elsewhere it still logs in: a neighbour on the centre's network who
/// guesses wrong five times locks nobody out but themselves).
pub const MAX_FAILURES: i64 = 5;
/// Failed logins in a row for one account from all addresses together past which the
/// account's password checks are spaced [`ACCOUNT_SPACING_MS`] apart (guessing from many
/// machines at once, each under its own lock-out). Slowed, never locked: anyone on the
/// centre's network can fail logins, and a lock here would let them lock a typist out.
pub const MAX_ACCOUNT_FAILURES: i64 = 50;
/// The least time between two password checks of an account past [`MAX_ACCOUNT_FAILURES`]:
/// guessing it from any number of addresses goes no faster than one guess a second.
pub const ACCOUNT_SPACING_MS: i64 = 1_000;
/// The longest a login waits for its account's next place; a login that would wait longer
/// (a flood of guesses from many addresses) is told to try again shortly (`429 slowed`), not
/// counted as a failure.
pub const MAX_ACCOUNT_WAIT_MS: i64 = 30_000;
/// Failed logins from one address, for any accounts (unknown names too), within
/// [`LOCKOUT_MS`], that lock that address out of every account (guessing one password for
/// many accounts).
pub const MAX_ADDRESS_FAILURES: i64 = 20;
/// How long a lock-out lasts.
pub const LOCKOUT_MS: i64 = 15 * 60 * 1000;
/// How long a session lives after login.
pub const SESSION_MS: i64 = 12 * 60 * 60 * 1000;
/// How long a session before login (for the login form's CSRF token) lives.
const ANON_SESSION_MS: i64 = 60 * 60 * 1000;
/// First characters of an anonymous session's cookie (never of a stored session's, which is
/// 64 hex digits).
const ANON_PREFIX: &str = "anon-";
/// Domain separation of the anonymous sessions' CSRF tokens.
const ANON_CSRF_CONTEXT: &[u8] = b"urna-desk anonymous csrf v1\n";
/// Most password checks or hashes (Argon2id, 19 MiB each) running at once. Anyone can ask
/// for a login, so more are refused at once rather than queued: memory stays bounded
/// (about 80 MiB) whatever the number of requests.
pub const MAX_PASSWORD_CHECKS: usize = 4;

/// Anonymous CSRF refusals are written to the audit trail once in this time, with a count.
pub const ANONYMOUS_REFUSAL_EVERY_MS: i64 = 60 * 1000;

/// A place among the [`MAX_PASSWORD_CHECKS`], given back when dropped.
struct PasswordPermit<'a>(&'a AtomicUsize);

impl Drop for PasswordPermit<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why the desk cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The definition.
    #[error("{0}")]
    Definition(String),
    /// The centre or key does not fit the definition.
    #[error("{field}: {rule}")]
    Field {
        /// The option.
        field: &'static str,
        /// What is wrong.
        rule: String,
    },
    /// The database.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A refused request: HTTP status, stable code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// Stable code for machines.
    pub code: &'static str,
    /// What is wrong, naming the field and rule.
    pub message: String,
}

impl Refusal {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl From<DbError> for Refusal {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Field { .. } => Self::new(400, "bad-field", e.to_string()),
            other => Self::new(500, "storage", other.to_string()),
        }
    }
}

impl From<rusqlite::Error> for Refusal {
    fn from(e: rusqlite::Error) -> Self {
        Self::new(500, "storage", format!("desk database: {e}"))
    }
}

/// A login's place among its account's password checks ([`Desk::login_place`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginPlace {
    /// The account whose place was taken, the attempt counted for its address; `None` when
    /// the account is not slowed.
    counted: Option<i64>,
    /// How long until the place comes.
    pub wait: std::time::Duration,
}

/// The address failures are counted for: `unknown` without one.
fn login_address(from: Option<std::net::IpAddr>) -> String {
    from.map_or_else(|| "unknown".to_owned(), |a| a.to_canonical().to_string())
}

/// The caller, as its session cookie says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 (hex) of the session id; the id itself is only in the cookie.
    id_hash: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// The account, once logged in.
    pub user: Option<User>,
}

/// An entry as its typist sees it: account, protocol, round, slot, finished, values.
type OwnEntry = (
    User,
    ContestIdx,
    StationIdx,
    i64,
    i64,
    bool,
    BTreeMap<String, u64>,
);

/// A logged-in account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Must change the password before anything else.
    pub must_change: bool,
}

impl Session {
    /// Whether the cookie named a session at all (anonymous or logged in); a request without
    /// one holds no CSRF token, so every state-changing request of it is refused.
    pub fn exists(&self) -> bool {
        !self.id_hash.is_empty()
    }

    fn actor(&self) -> &str {
        self.user.as_ref().map_or("-", |u| u.name.as_str())
    }
}

/// A counting centre's desk.
pub struct Desk {
    election: Election,
    centre: UnitIdx,
    signer: NoteSigner,
    conn: Mutex<Connection>,
    /// A hash of no account's password: verified against for unknown names.
    dummy_hash: String,
    /// Connections for reads ([`Self::reader`]).
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    /// Saved lines go to the line writer, which commits them in groups.
    lines: Mutex<SyncSender<LineWrite>>,
    /// `DATA/scans`: scans are written there too, for the public bundle.
    scans_dir: std::path::PathBuf,
    /// Password checks running ([`MAX_PASSWORD_CHECKS`]).
    password_checks: AtomicUsize,
    /// Anonymous CSRF refusals: when one was last written, how many since were not.
    anonymous_refusals: Mutex<(i64, u64)>,
    /// Polling-station mode ([`station`]): one station, signed with its own key.
    station: Option<station::Scope>,
    /// Audit hand counts, with `--audit-key` ([`Desk::with_audit_key`]).
    audit: Option<audit::AuditDesk>,
    /// Key of the anonymous sessions' CSRF tokens ([`Desk::session`]); random per start.
    anonymous_key: [u8; 32],
}

/// One keyed line to save, and where to answer with the entry's values after the commit.
struct LineWrite {
    id: i64,
    key: String,
    value: Option<u64>,
    reply: SyncSender<Result<BTreeMap<String, u64>, Refusal>>,
}

/// Read connections.
const READERS: usize = 8;

/// Most saved lines committed in one transaction.
const LINE_GROUP: usize = 1024;

fn finished() -> Refusal {
    Refusal::new(409, "finished", "this entry is finished; it cannot change")
}

/// The line writer: takes every saved line waiting, applies them in one transaction, commits
/// (one fsync for the group), then answers each. With many typists keying at once a commit
/// costs one disk flush for all of them instead of one each; nobody is answered before the
/// commit that holds their line.
fn line_writer(mut conn: Connection, rx: &Receiver<LineWrite>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < LINE_GROUP {
            match rx.try_recv() {
                Ok(w) => group.push(w),
                Err(_) => break,
            }
        }
        let mut results: Vec<Result<BTreeMap<String, u64>, Refusal>> = Vec::new();
        let committed = (|| -> Result<(), Refusal> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for w in &group {
                results.push(apply_line(&tx, w));
            }
            tx.commit()?;
            Ok(())
        })();
        match committed {
            Ok(()) => {
                for (w, r) in group.into_iter().zip(results) {
                    let _ = w.reply.send(r);
                }
            }
            Err(e) => {
                for w in group {
                    let _ = w.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

fn apply_line(tx: &Connection, w: &LineWrite) -> Result<BTreeMap<String, u64>, Refusal> {
    let (vals, done): (String, bool) = tx.query_row(
        "SELECT vals, done FROM entries WHERE id = ?1",
        [w.id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if done {
        return Err(finished());
    }
    let mut vals = values_of(&vals);
    match w.value {
        Some(v) => vals.insert(w.key.clone(), v),
        None => vals.remove(&w.key),
    };
    let json =
        serde_json::to_string(&vals).map_err(|e| Refusal::new(500, "storage", e.to_string()))?;
    tx.execute(
        "UPDATE entries SET vals = ?1 WHERE id = ?2",
        params![json, w.id],
    )?;
    Ok(vals)
}

/// The refusal of a keep whose entry changed after it was finished (`why`, from
/// [`entry_changed`]): nothing is signed.
fn entry_changed_refusal(why: &str) -> Refusal {
    Refusal::new(
        409,
        "entry-changed",
        format!("field `action`: {why}; nothing was signed: order new entries (reenter)"),
    )
}

/// A coordinator's reason (a decision, a difference resolved, audit counts resolved), trimmed:
/// one line of 1 to 1000 bytes without control characters, since it goes into the trail and
/// onto every coordinator's screen.
fn one_line_reason(reason: &str) -> Result<&str, Refusal> {
    let reason = reason.trim();
    if reason.is_empty() || reason.len() > 1000 || reason.chars().any(char::is_control) {
        return Err(Refusal::new(
            400,
            "bad-field",
            "field `reason`: say why, in one line of 1 to 1000 bytes (no control characters)",
        ));
    }
    Ok(reason)
}

fn random_hex() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex(&b)
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn values_of(json: &str) -> BTreeMap<String, u64> {
    serde_json::from_str(json).unwrap_or_default()
}

impl Desk {
    /// Opens the desk of centre `centre` (a unit id of the definition) over data directory
    /// `data`, signing with `signer`, which must be an authority whose scope covers the centre.
    ///
    /// # Errors
    /// [`SetupError`] if the definition cannot be read, the centre is unknown, or the key is
    /// not such an authority.
    pub fn open(data: &Path, centre: &str, signer: NoteSigner) -> Result<Self, SetupError> {
        let definition = data.join("election.toml");
        let election = Election::load(&definition)
            .map_err(|e| SetupError::Definition(format!("{}: {e}", definition.display())))?;
        let unit = election
            .units
            .iter()
            .position(|u| u.id == centre)
            .ok_or_else(|| SetupError::Field {
                field: "--centre",
                rule: format!("{centre:?} is not a unit of the election definition"),
            })?;
        let unit = UnitIdx(u32::try_from(unit).map_err(|_| SetupError::Field {
            field: "--centre",
            rule: "too many units".into(),
        })?);
        let authority = election.authorities.iter().find(|a| {
            a.key.name() == signer.name()
                && a.key.key_id() == signer.key_id()
                && a.key.verifying_key().as_bytes() == &signer.public_key()
        });
        match authority {
            None => {
                return Err(SetupError::Field {
                    field: "--key",
                    rule: format!(
                        "key {:?} is not an authority of the election definition",
                        signer.name()
                    ),
                });
            }
            Some(a) if !election.unit_within(unit, a.scope) => {
                return Err(SetupError::Field {
                    field: "--key",
                    rule: format!(
                        "authority {:?} has scope {:?}, which does not cover centre {centre:?}",
                        signer.name(),
                        election.units[a.scope.0 as usize].id
                    ),
                });
            }
            Some(_) => {}
        }
        Self::build(data, election, unit, signer, None)
    }

    /// The desk over `data` for `centre`, its key already checked.
    fn build(
        data: &Path,
        election: Election,
        centre: UnitIdx,
        signer: NoteSigner,
        station: Option<station::Scope>,
    ) -> Result<Self, SetupError> {
        let conn = db::open(data)?;
        // A trail edited while the desk was stopped is noticed before anyone works on it.
        db::check_audit_chain(&conn)?.map_err(DbError::Trail)?;
        let (lines, rx) = sync_channel::<LineWrite>(4 * LINE_GROUP);
        let writer = db::open(data)?;
        std::thread::Builder::new()
            .name("urna-desk-lines".into())
            .spawn(move || line_writer(writer, &rx))
            .map_err(|e| SetupError::Definition(format!("starting the line writer: {e}")))?;
        Ok(Self {
            election,
            centre,
            signer,
            conn: Mutex::new(conn),
            dummy_hash: db::hash_password(&random_hex())?,
            lines: Mutex::new(lines),
            readers: (0..READERS)
                .map(|_| db::open(data).map(Mutex::new))
                .collect::<Result<_, _>>()?,
            next_reader: AtomicUsize::new(0),
            scans_dir: data.join("scans"),
            password_checks: AtomicUsize::new(0),
            anonymous_refusals: Mutex::new((i64::MIN, 0)),
            station,
            audit: None,
            anonymous_key: {
                let mut key = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut key);
                key
            },
        })
    }

    /// The election definition.
    pub fn election(&self) -> &Election {
        &self.election
    }

    /// A connection for reads that need no write: WAL lets them run beside the writer, so a
    /// session check does not wait for another request's commit.
    fn reader(&self) -> MutexGuard<'_, Connection> {
        let n = self.readers.len();
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for k in 0..n {
            if let Ok(c) = self.readers[(start + k) % n].try_lock() {
                return c;
            }
        }
        self.readers[start % n]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A place to check or hash a password, or `429 busy` at once when
    /// [`MAX_PASSWORD_CHECKS`] are running.
    fn password_permit(&self) -> Result<PasswordPermit<'_>, Refusal> {
        let taken = self
            .password_checks
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_PASSWORD_CHECKS).then_some(n + 1)
            });
        match taken {
            Ok(_) => Ok(PasswordPermit(&self.password_checks)),
            Err(_) => Err(Refusal::new(
                429,
                "busy",
                "too many logins at once; try again in a moment",
            )),
        }
    }

    /// Counts an anonymous refusal; `Some(count not written since the last line)` when this
    /// one is to be written (the first of each [`ANONYMOUS_REFUSAL_EVERY_MS`]).
    fn anonymous_refusal(&self) -> Option<u64> {
        let now = db::now_ms();
        let mut r = self
            .anonymous_refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now.saturating_sub(r.0) >= ANONYMOUS_REFUSAL_EVERY_MS {
            let unwritten = r.1;
            *r = (now, 0);
            Some(unwritten)
        } else {
            r.1 += 1;
            None
        }
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The session of a cookie value. When the cookie is missing, unknown or expired: with
    /// `create`, a new anonymous session (and its cookie value), for the login form; without,
    /// nobody (so a stray request, say for an icon, never replaces the page's session).
    ///
    /// Anonymous sessions are not stored. Anyone can ask for one without limit, so a stored
    /// one would cost a database row and an fsync per request, and a flood of them would
    /// fill the disk. Its only purpose is a CSRF token for the login form, bound to the
    /// cookie that carries it, and that needs no state: the cookie is
    /// `anon-<expiry ms>-<64 random hex>` and its token the SHA-256 of a key drawn at start,
    /// kept only in memory, and the cookie (the strict format leaves no room for a length
    /// extension). A cross-site page cannot read the cookie (`HttpOnly`, `SameSite=Strict`)
    /// and so cannot compute the token; a restart draws a new key, and the login form then
    /// asks for a new session, as after the hour an anonymous session lives.
    ///
    /// # Errors
    /// [`Refusal`] if the database fails.
    pub fn session(
        &self,
        cookie: Option<&str>,
        create: bool,
    ) -> Result<(Session, Option<String>), Refusal> {
        if let Some(session) = cookie.and_then(|c| self.anonymous_session(c)) {
            return Ok((session, None));
        }
        if let Some(id) = cookie.filter(|c| !c.starts_with(ANON_PREFIX)) {
            let id_hash = hex(&sha256(id.as_bytes()));
            let row = self
                .reader()
                .query_row(
                    "SELECT s.csrf, s.expires_ms, u.id, u.name, u.role, u.must_change \
                     FROM sessions s LEFT JOIN users u ON u.id = s.user_id AND u.disabled = 0 \
                     WHERE s.id_hash = ?1",
                    [&id_hash],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, Option<i64>>(2)?,
                            r.get::<_, Option<String>>(3)?,
                            r.get::<_, Option<String>>(4)?,
                            r.get::<_, Option<bool>>(5)?,
                        ))
                    },
                )
                .optional()?;
            if let Some((csrf, expires, uid, name, role, must_change)) = row {
                if expires > db::now_ms() {
                    let user = match (uid, name, role) {
                        (Some(id), Some(name), Some(role)) => Some(User {
                            id,
                            name,
                            role: Role::parse(&role)?,
                            must_change: must_change.unwrap_or(true),
                        }),
                        _ => None,
                    };
                    return Ok((
                        Session {
                            id_hash,
                            csrf,
                            user,
                        },
                        None,
                    ));
                }
                let conn = self.db();
                conn.execute("DELETE FROM sessions WHERE id_hash = ?1", [&id_hash])?;
                if uid.is_some() {
                    db::audit(
                        &conn,
                        name.as_deref().unwrap_or("-"),
                        "session-expired",
                        "",
                        "",
                    )?;
                }
            }
        }
        if !create {
            // Nobody, with a token that was never handed out: every POST is refused.
            return Ok((
                Session {
                    id_hash: String::new(),
                    csrf: random_hex(),
                    user: None,
                },
                None,
            ));
        }
        let cookie = format!(
            "{ANON_PREFIX}{}-{}",
            db::now_ms().saturating_add(ANON_SESSION_MS),
            random_hex()
        );
        let session = self
            .anonymous_session(&cookie)
            .ok_or_else(|| Refusal::new(500, "internal", "a new anonymous session is invalid"))?;
        Ok((session, Some(cookie)))
    }

    /// The anonymous session of a cookie `anon-<expiry ms>-<64 hex>` not yet expired, with
    /// its CSRF token; `None` for any other cookie.
    fn anonymous_session(&self, cookie: &str) -> Option<Session> {
        let (expires, nonce) = cookie.strip_prefix(ANON_PREFIX)?.split_once('-')?;
        let well_formed = !expires.is_empty()
            && expires.len() <= 19
            && expires.bytes().all(|b| b.is_ascii_digit())
            && nonce.len() == 64
            && nonce
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !well_formed || expires.parse::<i64>().ok()? <= db::now_ms() {
            return None;
        }
        let mut keyed = Vec::with_capacity(ANON_CSRF_CONTEXT.len() + 32 + cookie.len());
        keyed.extend_from_slice(ANON_CSRF_CONTEXT);
        keyed.extend_from_slice(&self.anonymous_key);
        keyed.extend_from_slice(cookie.as_bytes());
        Some(Session {
            id_hash: hex(&sha256(cookie.as_bytes())),
            csrf: hex(&sha256(&keyed)),
            user: None,
        })
    }

    /// Refuses a state-changing request whose CSRF token is not the session's, and audits it.
    ///
    /// # Errors
    /// [`Refusal`] `403 csrf`.
    pub fn check_csrf(&self, s: &Session, token: Option<&str>, what: &str) -> Result<(), Refusal> {
        if token.is_some_and(|t| same(t, &s.csrf)) {
            return Ok(());
        }
        let what = crate::http::truncated(what);
        if s.user.is_some() {
            db::audit(&self.db(), s.actor(), "refused-csrf", what, "")?;
        } else if let Some(unwritten) = self.anonymous_refusal() {
            // Anyone can send these: one line a minute at most, with the count in between.
            db::audit(
                &self.db(),
                "-",
                "refused-csrf",
                what,
                &format!("{unwritten} earlier anonymous refusal(s) not written one by one"),
            )?;
        }
        Err(Refusal::new(
            403,
            "csrf",
            "field `csrf`: missing or not this session's token; reload the page",
        ))
    }

    /// Refuses, before its body is read, a scan upload that [`Desk::upload_scan`] would
    /// refuse for who sends it: a wrong CSRF token, no login, or a role that may not upload.
    ///
    /// # Errors
    /// [`Refusal`] `403 csrf`, `401 unauthenticated`, `403 forbidden` or
    /// `403 password-change-required`.
    pub fn check_scan_upload(
        &self,
        s: &Session,
        token: Option<&str>,
        what: &str,
    ) -> Result<(), Refusal> {
        self.check_csrf(s, token, what)?;
        self.require(s, &[Role::Typist, Role::Coordinator], "upload scans")?;
        Ok(())
    }

    /// The logged-in account with one of `roles`, its password changed.
    fn require<'s>(&self, s: &'s Session, roles: &[Role], what: &str) -> Result<&'s User, Refusal> {
        let Some(u) = &s.user else {
            return Err(Refusal::new(
                401,
                "unauthenticated",
                "log in first (or the session expired)",
            ));
        };
        if u.must_change {
            return Err(Refusal::new(
                403,
                "password-change-required",
                "change your password first",
            ));
        }
        if !roles.contains(&u.role) {
            db::audit(&self.db(), &u.name, "refused-role", what, u.role.as_str())?;
            return Err(Refusal::new(
                403,
                "forbidden",
                format!("a {} may not {what}", u.role.as_str()),
            ));
        }
        Ok(u)
    }

    /// Who the session is.
    pub fn whoami(&self, s: &Session) -> Value {
        json!({
            "csrf": s.csrf,
            "user": s.user.as_ref().map(|u| json!({
                "name": u.name, "role": u.role, "must_change": u.must_change
            })),
            "centre": self.election.units[self.centre.0 as usize].id,
            "election": self.election.name,
            "station": self.station_view(s),
        })
    }

    /// Logs in from `from` (the client's address, if known): checks the lock-outs, the
    /// password (Argon2id), counts failures; on success a new session (id rotated) replaces
    /// the anonymous one. Returns the new cookie value.
    ///
    /// Failures are counted three ways ([`db::Failures`]): for the account from this address
    /// ([`MAX_FAILURES`] lock the account for this address only), for the address over
    /// every account ([`MAX_ADDRESS_FAILURES`] within [`LOCKOUT_MS`] lock the address out),
    /// and for the account from everywhere (past [`MAX_ACCOUNT_FAILURES`] its password
    /// checks are spaced [`ACCOUNT_SPACING_MS`] apart: each login waits for its place,
    /// `Desk::account_place`, so guessing slows down while the typist still gets in).
    /// Each attempt is counted as a failure in one transaction before its password is
    /// checked, and forgiven only if the password was right: attempts sent at once cannot
    /// all read the same counts, so no more than [`MAX_FAILURES`] guesses from one address
    /// are checked before the lock-out.
    ///
    /// This blocking form waits for a slowed account's place on the calling thread; the HTTP
    /// side takes the place with [`Desk::login_place`], waits for it without holding a
    /// thread, and logs in with [`Desk::login_at_place`].
    ///
    /// # Errors
    /// [`Refusal`] `401 bad-login`, `429 locked`, `429 slowed` or `429 busy`.
    pub fn login(
        &self,
        s: &Session,
        name: &str,
        password: &str,
        from: Option<std::net::IpAddr>,
    ) -> Result<(Value, String), Refusal> {
        let place = self.login_place(name, from)?;
        std::thread::sleep(place.wait);
        self.login_at_place(s, name, password, from, place)
    }

    /// The first half of a login of `name` from `from`: past [`MAX_ACCOUNT_FAILURES`] the
    /// account's next place for a password check (`Desk::account_place`), with the attempt
    /// already counted for its address; nothing to wait for otherwise. Whoever waits for the
    /// place should hold no thread meanwhile (the HTTP side sleeps asynchronously), so logins
    /// slowed for any number of accounts and addresses keep nothing else waiting. A place
    /// waited for by a login that is then abandoned (its client gone) stays counted as a
    /// failure for its address, as an unchecked guess should.
    ///
    /// # Errors
    /// [`Refusal`] `429 slowed`; the database's.
    pub fn login_place(
        &self,
        name: &str,
        from: Option<std::net::IpAddr>,
    ) -> Result<LoginPlace, Refusal> {
        let address = login_address(from);
        Ok(match self.account_place(name, &address)? {
            Some((id, wait)) => LoginPlace {
                counted: Some(id),
                wait: std::time::Duration::from_millis(u64::try_from(wait).unwrap_or(0)),
            },
            None => LoginPlace {
                counted: None,
                wait: std::time::Duration::ZERO,
            },
        })
    }

    /// The second half of a login ([`Desk::login`]), once `place` (from
    /// [`Desk::login_place`] for the same name and address) has come.
    ///
    /// # Errors
    /// As [`Desk::login`].
    pub fn login_at_place(
        &self,
        s: &Session,
        name: &str,
        password: &str,
        from: Option<std::net::IpAddr>,
        place: LoginPlace,
    ) -> Result<(Value, String), Refusal> {
        let bad = || Refusal::new(401, "bad-login", "wrong name or password");
        let address = login_address(from);
        let locked_refusal = |why: &str, until: i64, now: i64| {
            Refusal::new(
                429,
                "locked",
                format!(
                    "{why}; try again in {} minutes or ask an administrator",
                    (until - now + 59_999) / 60_000
                ),
            )
        };
        // The account's place, past its failures from everywhere, was waited for before
        // taking a place among the password checks, so a slowed account holds none of them
        // meanwhile. A place is taken with the attempt already counted for its address.
        let counted = place.counted;
        // Before the attempt is counted: a login turned away as busy costs no failure.
        let _permit = match self.password_permit() {
            Ok(p) => p,
            Err(busy) => {
                if let Some(id) = counted {
                    db::Failures::uncount(&self.db(), id, &address)?;
                }
                return Err(busy);
            }
        };
        let reserved = {
            let now = db::now_ms();
            let mut conn = self.db();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut from_here = db::Failures::read(&tx, db::EVERY_ACCOUNT, &address, now)?;
            if from_here.locked_until > now {
                db::audit(
                    &tx,
                    name,
                    "login-refused",
                    name,
                    &format!("address {address} locked"),
                )?;
                tx.commit()?;
                return Err(locked_refusal(
                    &format!("too many failed logins from this address ({MAX_ADDRESS_FAILURES})"),
                    from_here.locked_until,
                    now,
                ));
            }
            if from_here.failures >= MAX_ADDRESS_FAILURES {
                let until = from_here.lock(&tx, now)?;
                db::audit(
                    &tx,
                    name,
                    "login-refused",
                    name,
                    &format!(
                        "{MAX_ADDRESS_FAILURES} attempts from {address} failed or under way: address locked for 15 minutes"
                    ),
                )?;
                tx.commit()?;
                return Err(locked_refusal(
                    &format!("too many failed logins from this address ({MAX_ADDRESS_FAILURES})"),
                    until,
                    now,
                ));
            }
            let row = tx
                .query_row(
                    "SELECT id, hash, disabled FROM users WHERE name = ?1",
                    [name],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, bool>(2)?,
                        ))
                    },
                )
                .optional()?;
            let account_locked =
                |failures: i64| format!("account locked after {failures} failed logins");
            let reserved = match row {
                None => None,
                Some((id, hash, disabled)) => {
                    let mut pair = db::Failures::read(&tx, id, &address, now)?;
                    if pair.locked_until > now {
                        db::audit(
                            &tx,
                            name,
                            "login-refused",
                            name,
                            &format!("account locked for {address}"),
                        )?;
                        tx.commit()?;
                        return Err(locked_refusal(
                            &account_locked(MAX_FAILURES),
                            pair.locked_until,
                            now,
                        ));
                    }
                    if pair.failures >= MAX_FAILURES + i64::from(counted == Some(id)) {
                        // As many attempts as allowed are failed or still being checked.
                        let until = pair.lock(&tx, now)?;
                        db::audit(
                            &tx,
                            name,
                            "login-refused",
                            name,
                            &format!(
                                "{MAX_FAILURES} attempts from {address} failed or under way: locked for 15 minutes for that address"
                            ),
                        )?;
                        tx.commit()?;
                        return Err(locked_refusal(&account_locked(MAX_FAILURES), until, now));
                    }
                    if counted != Some(id) {
                        pair.count(&tx)?;
                    }
                    tx.execute(
                        "UPDATE users SET failures = failures + 1 WHERE id = ?1",
                        [id],
                    )?;
                    Some((id, hash, disabled))
                }
            };
            from_here.count(&tx)?;
            tx.commit()?;
            reserved
        };
        let Some((id, hash, disabled)) = reserved else {
            // Hash anyway, so an unknown name takes as long as a wrong password.
            let _ = db::verify_password(password, &self.dummy_hash);
            let shown = crate::http::truncated(name);
            db::audit(
                &self.db(),
                "-",
                "login-refused",
                shown,
                &format!("unknown account, from {address}"),
            )?;
            return Err(bad());
        };
        // Argon2 outside the database lock: other requests go on meanwhile.
        let ok = db::verify_password(password, &hash);
        let now = db::now_ms();
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if !ok {
            let mut pair = db::Failures::read(&tx, id, &address, now)?;
            let failures: i64 =
                tx.query_row("SELECT failures FROM users WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?;
            let mut locked = String::new();
            if pair.failures >= MAX_FAILURES {
                pair.lock(&tx, now)?;
                locked = format!(": locked for 15 minutes for {address}");
            }
            if failures >= MAX_ACCOUNT_FAILURES {
                locked.push_str(&format!(
                    "; {failures} in a row from all addresses: the account's logins slowed to one a second"
                ));
            }
            db::audit(
                &tx,
                name,
                "login-refused",
                name,
                &format!(
                    "wrong password ({} in a row from {address}){locked}",
                    pair.failures
                ),
            )?;
            tx.commit()?;
            return Err(bad());
        }
        tx.execute(
            "UPDATE users SET failures = 0, locked_until_ms = 0 WHERE id = ?1",
            [id],
        )?;
        db::Failures::forgive(&tx, id, &address)?;
        // This attempt was counted for the address as well: only failures count there.
        db::Failures::uncount(&tx, db::EVERY_ACCOUNT, &address)?;
        if disabled {
            // Told only to whoever knows the password.
            db::audit(&tx, name, "login-refused", name, "account disabled")?;
            tx.commit()?;
            return Err(Refusal::new(
                403,
                "disabled",
                "this account is disabled; ask an administrator",
            ));
        }
        tx.execute("DELETE FROM sessions WHERE id_hash = ?1", [&s.id_hash])?;
        let (_, cookie) = new_session(&tx, Some(id), SESSION_MS)?;
        db::audit(&tx, name, "login", name, "")?;
        tx.commit()?;
        drop(conn);
        let (session, _) = self.session(Some(&cookie), false)?;
        Ok((self.whoami(&session), cookie))
    }

    /// Past [`MAX_ACCOUNT_FAILURES`] failures of account `name` in a row, from every address
    /// together, takes the account's next place for a password check (places are
    /// [`ACCOUNT_SPACING_MS`] apart; `users.locked_until_ms` holds the next free one) and
    /// returns the account's id and how long to wait for it. The attempt is counted for its
    /// address when it takes the place (as under way, forgiven if the password is right), so
    /// one address holds no more places than [`MAX_FAILURES`] before its lock-out. `None`
    /// when the login is not slowed, or will be refused by a lock-out of its address, which
    /// then costs no place: a locked-out address cannot fill the account's places for free.
    ///
    /// # Errors
    /// [`Refusal`] `429 slowed` when the next place is more than [`MAX_ACCOUNT_WAIT_MS`]
    /// away; the database's.
    fn account_place(&self, name: &str, address: &str) -> Result<Option<(i64, i64)>, Refusal> {
        let now = db::now_ms();
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let from_here = db::Failures::read(&tx, db::EVERY_ACCOUNT, address, now)?;
        if from_here.locked_until > now || from_here.failures >= MAX_ADDRESS_FAILURES {
            return Ok(None);
        }
        let Some((id, failures, next)) = tx
            .query_row(
                "SELECT id, failures, locked_until_ms FROM users WHERE name = ?1",
                [name],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )
            .optional()?
        else {
            return Ok(None);
        };
        if failures < MAX_ACCOUNT_FAILURES {
            return Ok(None);
        }
        let mut pair = db::Failures::read(&tx, id, address, now)?;
        if pair.locked_until > now || pair.failures >= MAX_FAILURES {
            return Ok(None);
        }
        let place = next.max(now);
        if place - now > MAX_ACCOUNT_WAIT_MS {
            return Err(Refusal::new(
                429,
                "slowed",
                format!(
                    "this account failed {failures} logins in a row from many addresses, so its logins are slowed; try again in {} seconds",
                    (place - now - MAX_ACCOUNT_WAIT_MS + 999) / 1000
                ),
            ));
        }
        tx.execute(
            "UPDATE users SET locked_until_ms = ?1 WHERE id = ?2",
            params![place + ACCOUNT_SPACING_MS, id],
        )?;
        pair.count(&tx)?;
        tx.commit()?;
        Ok(Some((id, place - now)))
    }

    /// Logs out (deletes the session).
    ///
    /// # Errors
    /// [`Refusal`] if the database fails.
    pub fn logout(&self, s: &Session) -> Result<Value, Refusal> {
        let conn = self.db();
        conn.execute("DELETE FROM sessions WHERE id_hash = ?1", [&s.id_hash])?;
        db::audit(&conn, s.actor(), "logout", "", "")?;
        Ok(json!({"ok": true}))
    }

    /// Changes the caller's password (required at first login). Every session of the
    /// account ends, this one included, and a new session replaces it: a session opened with
    /// the old password (say by whoever set the first one) does not outlive it. Returns the
    /// new cookie value.
    ///
    /// # Errors
    /// [`Refusal`] for a wrong old password, a short or unchanged new one, or a password
    /// changed by another session meanwhile.
    pub fn change_password(
        &self,
        s: &Session,
        old: &str,
        new: &str,
    ) -> Result<(Value, String), Refusal> {
        let Some(u) = &s.user else {
            return Err(Refusal::new(401, "unauthenticated", "log in first"));
        };
        let _permit = self.password_permit()?;
        let stored: String =
            self.db()
                .query_row("SELECT hash FROM users WHERE id = ?1", [u.id], |r| r.get(0))?;
        if !db::verify_password(old, &stored) {
            db::audit(
                &self.db(),
                &u.name,
                "password-refused",
                &u.name,
                "wrong old password",
            )?;
            return Err(Refusal::new(
                400,
                "bad-field",
                "field `old`: not your current password",
            ));
        }
        if old == new {
            return Err(Refusal::new(
                400,
                "bad-field",
                "field `new`: must differ from the old password",
            ));
        }
        let hash = db::hash_password(new)?;
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Only over the hash the old password was checked against: two changes at once
        // cannot both win.
        let changed = tx.execute(
            "UPDATE users SET hash = ?1, must_change = 0 WHERE id = ?2 AND hash = ?3",
            params![hash, u.id, stored],
        )?;
        if changed == 0 {
            return Err(Refusal::new(
                409,
                "password-changed",
                "the password was changed meanwhile; log in again",
            ));
        }
        let ended = tx.execute("DELETE FROM sessions WHERE user_id = ?1", [u.id])?;
        let (_, cookie) = new_session(&tx, Some(u.id), SESSION_MS)?;
        db::audit(
            &tx,
            &u.name,
            "password-change",
            &u.name,
            &format!("{ended} session(s) ended, this one renewed"),
        )?;
        tx.commit()?;
        drop(conn);
        let (session, _) = self.session(Some(&cookie), false)?;
        Ok((self.whoami(&session), cookie))
    }

    /// An administrator creates an account (which must change its password at first login).
    ///
    /// # Errors
    /// [`Refusal`] for a role other than administrator, or a bad field.
    pub fn add_user(
        &self,
        s: &Session,
        name: &str,
        role: &str,
        password: &str,
    ) -> Result<Value, Refusal> {
        let admin = self.require(s, &[Role::Administrator], "add accounts")?;
        let role = Role::parse(role)?;
        let _permit = self.password_permit()?;
        db::add_user(&self.db(), name, role, password, &admin.name)?;
        Ok(json!({"ok": true}))
    }

    fn station_in_centre(
        &self,
        s: &Session,
        contest: &str,
        station: &str,
    ) -> Result<(ContestIdx, StationIdx), Refusal> {
        let e = &self.election;
        let c = e.contest(contest).ok_or_else(|| {
            Refusal::new(
                404,
                "unknown-contest",
                format!("field `contest`: {contest:?} is not a contest of this election"),
            )
        })?;
        let st = e.station(station).ok_or_else(|| {
            Refusal::new(
                404,
                "unknown-station",
                format!("field `station`: {station:?} is not a station of this election"),
            )
        })?;
        if !e.unit_within(e.stations[st.0 as usize].unit, self.centre) || !self.keys_station(st) {
            db::audit(
                &self.db(),
                s.actor(),
                "refused-outside-centre",
                &format!("{contest}/{station}"),
                "",
            )?;
            let here = match &self.station {
                Some(scope) => format!(
                    "only station {} is keyed here",
                    e.stations[scope.station.0 as usize].id
                ),
                None => format!(
                    "it is not counted at centre {}",
                    e.units[self.centre.0 as usize].id
                ),
            };
            return Err(Refusal::new(
                403,
                "outside-centre",
                format!("field `station`: {station}: {here}"),
            ));
        }
        Ok((c, st))
    }

    /// A typist claims a protocol: gets the first entry slot, or the second if another typist
    /// holds the first. Claiming again returns the same entry. Never shows the other entry.
    ///
    /// # Errors
    /// [`Refusal`] for a station outside the centre, a protocol already decided, or a typist
    /// who already keyed the other entry of it.
    pub fn claim(&self, s: &Session, contest: &str, station: &str) -> Result<Value, Refusal> {
        let u = self.require(s, &[Role::Typist], "key protocols")?.clone();
        let (c, st) = self.station_in_centre(s, contest, station)?;
        let subject = format!("{contest}/{station}");
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<(String, i64)> = tx
            .query_row(
                "SELECT state, round FROM protocols WHERE contest = ?1 AND station = ?2",
                params![contest, station],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let round = match row {
            None => {
                tx.execute(
                    "INSERT INTO protocols (contest, station, state, round) VALUES (?1, ?2, 'entering', 1)",
                    params![contest, station],
                )?;
                1
            }
            Some((state, round)) if state == "entering" => round,
            Some((state, _)) => {
                return Err(Refusal::new(
                    409,
                    "not-open",
                    format!("protocol {subject} is {state}, not open for entry"),
                ));
            }
        };
        let (id, slot) =
            match claim_slot(&tx, "entries", (contest, station), round, u.id, &subject)? {
                Claimed::Held { id, slot, done } => {
                    tx.commit()?;
                    drop(conn);
                    return self.entry_view(id, slot, done, c, st);
                }
                Claimed::New { id, slot } => (id, slot),
            };
        db::audit(
            &tx,
            &u.name,
            "entry-claim",
            &subject,
            &format!("round {round}, entry {slot}"),
        )?;
        tx.commit()?;
        drop(conn);
        self.entry_view(id, slot, false, c, st)
    }

    fn entry_view(
        &self,
        id: i64,
        slot: i64,
        done: bool,
        c: ContestIdx,
        st: StationIdx,
    ) -> Result<Value, Refusal> {
        let vals: String =
            self.reader()
                .query_row("SELECT vals FROM entries WHERE id = ?1", [id], |r| r.get(0))?;
        let e = &self.election;
        Ok(json!({
            "entry": id,
            "slot": slot,
            "done": done,
            "contest": e.contests[c.0 as usize].id,
            "station": e.stations[st.0 as usize].id,
            "registered": e.stations[st.0 as usize].registered,
            "lines": form::lines(e, c, st),
            "values": values_of(&vals),
        }))
    }

    /// The caller's own entry, loaded with the form; another typist's entry is refused.
    fn own_entry(&self, s: &Session, id: i64) -> Result<OwnEntry, Refusal> {
        let u = self.require(s, &[Role::Typist], "key protocols")?.clone();
        let row: Option<(String, String, i64, i64, i64, bool, String)> = self
            .db()
            .query_row(
                "SELECT contest, station, round, slot, typist, done, vals FROM entries WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )
            .optional()?;
        let Some((contest, station, round, slot, typist, done, vals)) = row else {
            return Err(Refusal::new(404, "not-found", format!("no entry {id}")));
        };
        if typist != u.id {
            db::audit(
                &self.reader(),
                &u.name,
                "refused-other-entry",
                &format!("{contest}/{station}"),
                &format!("entry {id}"),
            )?;
            return Err(Refusal::new(
                403,
                "forbidden",
                "this entry belongs to another typist",
            ));
        }
        let (c, st) = self.station_in_centre(s, &contest, &station)?;
        Ok((u, c, st, round, slot, done, values_of(&vals)))
    }

    /// Reads the caller's own entry.
    ///
    /// # Errors
    /// [`Refusal`] for another typist's entry.
    pub fn entry(&self, s: &Session, id: i64) -> Result<Value, Refusal> {
        let (_, c, st, _, slot, done, _) = self.own_entry(s, id)?;
        self.entry_view(id, slot, done, c, st)
    }

    /// Saves one keyed line (committed before the answer) and answers the live validation:
    /// every rule the entry breaks so far, once every required line has a value.
    ///
    /// # Errors
    /// [`Refusal`] for a line not on the form, a value that is not a count, a finished entry.
    pub fn save_line(
        &self,
        s: &Session,
        id: i64,
        key: &str,
        value: &str,
    ) -> Result<Value, Refusal> {
        let (_, c, st, _, _, done, _) = self.own_entry(s, id)?;
        if done {
            return Err(finished());
        }
        let form = form::lines(&self.election, c, st);
        if !form.iter().any(|l| l.key == key) {
            return Err(Refusal::new(
                400,
                "bad-field",
                form::FormError::UnknownLine(key.to_owned()).to_string(),
            ));
        }
        let value = if value.trim().is_empty() {
            None
        } else {
            Some(
                form::parse_value(key, value)
                    .map_err(|e| Refusal::new(400, "bad-field", e.to_string()))?,
            )
        };
        let (reply, answer) = sync_channel(1);
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .send(LineWrite {
                id,
                key: key.to_owned(),
                value,
                reply,
            })
            .map_err(|_| Refusal::new(503, "stopping", "the desk is stopping"))?;
        let vals = answer
            .recv()
            .map_err(|_| Refusal::new(503, "stopping", "the desk is stopping"))??;
        Ok(self.validation(c, st, &vals))
    }

    fn validation(&self, c: ContestIdx, st: StationIdx, vals: &BTreeMap<String, u64>) -> Value {
        match form::body(&self.election, c, st, vals) {
            Err(e) => json!({"complete": false, "missing": e.to_string(), "violations": []}),
            Ok(b) => {
                let v = form::violations(&self.election, &b);
                json!({
                    "complete": true,
                    "violations": v.iter().map(|v| json!({
                        "rule": v.rule,
                        "severity": v.severity.to_string(),
                        "message": v.message,
                        "detail": v.detail,
                    })).collect::<Vec<_>>(),
                })
            }
        }
    }

    /// Finishes the caller's entry. When the other entry of the round is finished too, the two
    /// are compared: equal and valid → signed by the centre's key and queued for the log;
    /// otherwise → to the coordinator.
    ///
    /// # Errors
    /// [`Refusal`] for an incomplete entry.
    pub fn finish(&self, s: &Session, id: i64) -> Result<Value, Refusal> {
        let (u, c, st, round, _, done, vals) = self.own_entry(s, id)?;
        if done {
            return Ok(json!({"entry": id, "done": true}));
        }
        form::body(&self.election, c, st, &vals)
            .map_err(|e| Refusal::new(400, "incomplete", e.to_string()))?;
        let contest = self.election.contests[c.0 as usize].id.clone();
        let station = self.election.stations[st.0 as usize].id.clone();
        let subject = format!("{contest}/{station}");
        // At a station, a note of its own the queue holds and `desk.sqlite` does not record
        // (a crash between the two writes of a signature) is recorded first: the finish then
        // finds the protocol signed and signs nothing over it.
        self.reconcile_station()?;
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // `done` read again under the write lock: of finishes sent at once, one finishes the
        // entry and compares; the others find it finished and sign nothing.
        if tx.execute(
            "UPDATE entries SET done = 1 WHERE id = ?1 AND done = 0",
            [id],
        )? == 0
        {
            return Ok(json!({"entry": id, "done": true}));
        }
        let open: Option<(String, i64)> = tx
            .query_row(
                "SELECT state, round FROM protocols WHERE contest = ?1 AND station = ?2",
                params![contest, station],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((state, _)) = &open
            && self.station.is_some()
            && state == "signed"
        {
            return Err(Refusal::new(
                409,
                "already-signed",
                format!(
                    "protocol {subject} is already signed (see the station's protocols); nothing new was signed"
                ),
            ));
        }
        if open
            .as_ref()
            .is_none_or(|(state, r)| state != "entering" || *r != round)
        {
            return Err(Refusal::new(
                409,
                "not-open",
                format!("protocol {subject} is no longer open for round {round}"),
            ));
        }
        // What was finished, in the chained trail: the comparison and a coordinator's keep
        // take the entry only as it was finished (`entry_changed`).
        let (finished_vals, slot): (String, i64) =
            tx.query_row("SELECT vals, slot FROM entries WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        db::audit(
            &tx,
            &u.name,
            "entry-finish",
            &subject,
            &finish_detail(round, slot, &finished_vals),
        )?;
        let entries: Vec<(String, String, bool)> = {
            let mut q = tx.prepare(
                "SELECT e.vals, u.name, e.done FROM entries e JOIN users u ON u.id = e.typist \
                 WHERE e.contest = ?1 AND e.station = ?2 AND e.round = ?3 ORDER BY e.slot",
            )?;
            q.query_map(params![contest, station, round], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?
        };
        let mut state = "entering";
        if self.station.is_some()
            && let [(a, ta, true), (b, tb, true)] = entries.as_slice()
        {
            state = self.station_round(
                &tx,
                (c, st),
                round,
                (a.as_str(), ta.as_str()),
                (b.as_str(), tb.as_str()),
            )?;
        } else if let [(a, ta, true), (b, tb, true)] = entries.as_slice() {
            let changed = changed_entries(
                &tx,
                ("entry-finish", "entry-changed"),
                &subject,
                round,
                [(a.as_str(), ta.as_str()), (b.as_str(), tb.as_str())],
            )?;
            let decision = if changed.is_empty() {
                form::decide(&self.election, c, st, &values_of(a), &values_of(b))
            } else {
                Decision::Differ
            };
            match decision {
                Decision::Sign(text) => {
                    self.sign(
                        &tx,
                        &subject,
                        &contest,
                        &station,
                        &text,
                        &format!("entered by {ta} and {tb}, equal"),
                        "-",
                    )?;
                    state = "signed";
                }
                Decision::Differ | Decision::Invalid => {
                    tx.execute(
                        "UPDATE protocols SET state = 'difference' WHERE contest = ?1 AND station = ?2",
                        params![contest, station],
                    )?;
                    db::audit(
                        &tx,
                        "-",
                        "difference",
                        &subject,
                        &format!(
                            "round {round}: entries by {ta} and {tb} differ or break an error rule"
                        ),
                    )?;
                    state = "difference";
                }
            }
        }
        tx.commit()?;
        Ok(json!({"entry": id, "done": true, "protocol": state}))
    }

    #[allow(clippy::too_many_arguments)]
    fn sign(
        &self,
        tx: &Connection,
        subject: &str,
        contest: &str,
        station: &str,
        text: &str,
        why: &str,
        actor: &str,
    ) -> Result<(), Refusal> {
        // A recount's result supersedes the quarantined protocol as an amendment.
        let text = self.recount_text(tx, contest, station, text)?;
        let text = self.with_scan(tx, contest, station, text)?;
        let note = self.signer.sign_text(&text).to_bytes();
        tx.execute(
            "UPDATE protocols SET state = 'signed', note = ?1 WHERE contest = ?2 AND station = ?3",
            params![note, contest, station],
        )?;
        db::audit(
            tx,
            actor,
            "signed",
            subject,
            &format!(
                "{why}; signed by {}; sha256:{}",
                self.signer.name(),
                hex(&sha256(&note))
            ),
        )?;
        Ok(())
    }

    /// Protocols in difference, and protocols the log refused with the log's reason
    /// (coordinator).
    ///
    /// # Errors
    /// [`Refusal`] for other roles.
    pub fn differences(&self, s: &Session) -> Result<Value, Refusal> {
        self.require(s, &[Role::Coordinator], "see differences")?;
        let conn = self.db();
        let mut q = conn.prepare(
            "SELECT contest, station, round FROM protocols WHERE state = 'difference' ORDER BY contest, station",
        )?;
        let rows: Vec<Value> = q
            .query_map([], |r| {
                Ok(json!({"contest": r.get::<_, String>(0)?, "station": r.get::<_, String>(1)?, "round": r.get::<_, i64>(2)?}))
            })?
            .collect::<Result<_, _>>()?;
        let mut q = conn.prepare(
            "SELECT contest, station, round, why FROM protocols WHERE state = 'refused' ORDER BY contest, station",
        )?;
        let refused: Vec<Value> = q
            .query_map([], |r| {
                Ok(json!({
                    "contest": r.get::<_, String>(0)?,
                    "station": r.get::<_, String>(1)?,
                    "round": r.get::<_, i64>(2)?,
                    "why": r.get::<_, Option<String>>(3)?,
                }))
            })?
            .collect::<Result<_, _>>()?;
        Ok(json!({"differences": rows, "refused": refused}))
    }

    /// Both entries of a protocol side by side, with their violations and the lines that
    /// differ (coordinator).
    ///
    /// # Errors
    /// [`Refusal`] for other roles or a station outside the centre.
    pub fn protocol(&self, s: &Session, contest: &str, station: &str) -> Result<Value, Refusal> {
        self.require(s, &[Role::Coordinator], "see entries side by side")?;
        let (c, st) = self.station_in_centre(s, contest, station)?;
        let conn = self.db();
        let row: Option<(String, i64, Option<i64>, Option<String>)> = conn
            .query_row(
                "SELECT state, round, log_index, why FROM protocols WHERE contest = ?1 AND station = ?2",
                params![contest, station],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((state, round, log_index, why)) = row else {
            return Ok(json!({"contest": contest, "station": station, "state": "open"}));
        };
        let entries: Vec<(i64, String, bool, String)> = {
            let mut q = conn.prepare(
                "SELECT e.slot, u.name, e.done, e.vals FROM entries e JOIN users u ON u.id = e.typist \
                 WHERE e.contest = ?1 AND e.station = ?2 AND e.round = ?3 ORDER BY e.slot",
            )?;
            q.query_map(params![contest, station, round], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<Result<_, _>>()?
        };
        drop(conn);
        let lines = form::lines(&self.election, c, st);
        let maps: Vec<BTreeMap<String, u64>> = entries.iter().map(|e| values_of(&e.3)).collect();
        let differing = match maps.as_slice() {
            [a, b] => form::differing_lines(&lines, a, b),
            _ => Vec::new(),
        };
        Ok(json!({
            "contest": contest,
            "station": station,
            "state": state,
            "round": round,
            "log_index": log_index,
            "why": why,
            "lines": lines,
            "differing": differing,
            "entries": entries.iter().zip(&maps).map(|(e, m)| json!({
                "slot": e.0,
                "typist": e.1,
                "done": e.2,
                "values": m,
                "validation": self.validation(c, st, m),
            })).collect::<Vec<_>>(),
        }))
    }

    /// The coordinator resolves a protocol in difference: `keep-1` or `keep-2` signs that
    /// entry; `reenter` discards both and opens a new round of two entries. A protocol the
    /// log refused can only be entered again (`reenter`): keeping an entry would sign the
    /// numbers the log refused. A reason is required and logged, with the log's.
    ///
    /// `seen` is the round whose entries the coordinator was shown ([`Desk::protocol`]): a
    /// decision on a round that is no longer the protocol's (new entries ordered meanwhile,
    /// the request sent again) is refused, so it never signs entries nobody compared with
    /// the paper.
    ///
    /// # Errors
    /// [`Refusal`] for other roles, a protocol neither in difference nor refused, a round
    /// other than the current one (`409 stale`), an empty reason.
    pub fn resolve(
        &self,
        s: &Session,
        (contest, station): (&str, &str),
        seen: i64,
        action: &str,
        reason: &str,
    ) -> Result<Value, Refusal> {
        let u = self
            .require(s, &[Role::Coordinator], "resolve differences")?
            .clone();
        let (c, st) = self.station_in_centre(s, contest, station)?;
        let reason = one_line_reason(reason)?;
        let subject = format!("{contest}/{station}");
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<(String, i64, Option<String>)> = tx
            .query_row(
                "SELECT state, round, why FROM protocols WHERE contest = ?1 AND station = ?2",
                params![contest, station],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (round, refused_why) = match row {
            Some((state, round, _)) if state == "difference" => (round, None),
            Some((state, round, why)) if state == "refused" && action == "reenter" => {
                (round, Some(why.unwrap_or_default()))
            }
            Some((state, _, _)) if state == "refused" => {
                return Err(Refusal::new(
                    409,
                    "refused-by-log",
                    format!(
                        "field `action`: protocol {subject} was refused by the log; only reenter (new entries) is possible"
                    ),
                ));
            }
            _ => {
                return Err(Refusal::new(
                    409,
                    "not-in-difference",
                    format!("protocol {subject} is not in difference"),
                ));
            }
        };
        if seen != round {
            return Err(stale_round(&subject, seen, round));
        }
        let state = match action {
            "keep-1" | "keep-2" => {
                let slot: i64 = if action == "keep-1" { 1 } else { 2 };
                let (vals, typist): (String, String) = tx.query_row(
                    "SELECT e.vals, u.name FROM entries e JOIN users u ON u.id = e.typist \
                     WHERE e.contest = ?1 AND e.station = ?2 AND e.round = ?3 AND e.slot = ?4",
                    params![contest, station, round, slot],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                if let Some(why) =
                    entry_changed(&tx, "entry-finish", &subject, round, slot, &typist, &vals)?
                {
                    drop(tx);
                    db::audit(&conn, &u.name, "entry-changed", &subject, &why)?;
                    return Err(entry_changed_refusal(&why));
                }
                let body = form::body(&self.election, c, st, &values_of(&vals))
                    .map_err(|e| Refusal::new(409, "incomplete", e.to_string()))?;
                self.sign(
                    &tx,
                    &subject,
                    contest,
                    station,
                    &body.to_text(),
                    &format!("coordinator kept entry {slot} by {typist}: {reason}"),
                    &u.name,
                )?;
                "signed"
            }
            "reenter" => {
                tx.execute(
                    "UPDATE protocols SET state = 'entering', round = round + 1, note = NULL, \
                     receipt = NULL, log_index = NULL, why = NULL WHERE contest = ?1 AND station = ?2",
                    params![contest, station],
                )?;
                let detail = match &refused_why {
                    Some(why) => {
                        format!("round {round} (refused by the log: {why}) discarded: {reason}")
                    }
                    None => format!("round {round} discarded: {reason}"),
                };
                db::audit(&tx, &u.name, "reenter", &subject, &detail)?;
                "entering"
            }
            other => {
                return Err(Refusal::new(
                    400,
                    "bad-field",
                    format!("field `action`: {other:?} is not keep-1, keep-2 or reenter"),
                ));
            }
        };
        tx.commit()?;
        Ok(json!({"contest": contest, "station": station, "state": state}))
    }

    /// Progress of the centre: protocols (station × contest) by state.
    ///
    /// # Errors
    /// [`Refusal`] if not logged in.
    pub fn progress(&self, s: &Session) -> Result<Value, Refusal> {
        if self.station.is_some() {
            return self.station_progress(s);
        }
        self.require(
            s,
            &[Role::Typist, Role::Coordinator, Role::Administrator],
            "see progress",
        )?;
        let e = &self.election;
        let stations = e
            .stations
            .iter()
            .filter(|st| e.unit_within(st.unit, self.centre))
            .count();
        let total = stations * e.contests.len();
        let conn = self.db();
        let mut by_state: BTreeMap<String, i64> = BTreeMap::new();
        {
            let mut q = conn.prepare("SELECT state, COUNT(*) FROM protocols GROUP BY state")?;
            for r in q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
                let (k, v) = r?;
                by_state.insert(k, v);
            }
        }
        let finished_entries: Vec<i64> = {
            let mut q = conn.prepare(
                "SELECT COUNT(*) FROM entries e JOIN protocols p ON p.contest = e.contest AND p.station = e.station AND p.round = e.round \
                 WHERE p.state = 'entering' AND e.done = 1 GROUP BY e.contest, e.station",
            )?;
            q.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
        };
        let units = self.progress_units(&conn)?;
        let get = |k: &str| by_state.get(k).copied().unwrap_or(0);
        let once = finished_entries.iter().filter(|&&n| n == 1).count();
        let started = usize::try_from(
            get("entering") + get("difference") + get("signed") + get("delivered") + get("refused"),
        )
        .unwrap_or(0);
        Ok(json!({
            "centre": e.units[self.centre.0 as usize].id,
            "protocols": total,
            "not_started": total.saturating_sub(started),
            "entering": get("entering"),
            "entered_once": once,
            "differences": get("difference"),
            "signed": get("signed") + get("delivered") + get("refused"),
            "delivered": get("delivered"),
            "refused": get("refused"),
            "units": units,
        }))
    }

    /// Signed notes not yet in the log, oldest first: `(contest, station, note)`.
    ///
    /// # Errors
    /// [`Refusal`] if the database fails.
    pub fn undelivered(&self) -> Result<Vec<(String, String, Vec<u8>)>, Refusal> {
        let conn = self.db();
        let mut q = conn.prepare(
            "SELECT contest, station, note FROM protocols WHERE state = 'signed' AND note IS NOT NULL ORDER BY rowid",
        )?;
        let rows = q
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Records the log's verified receipt for a delivered note.
    ///
    /// # Errors
    /// [`Refusal`] if the database fails.
    pub fn delivered(
        &self,
        contest: &str,
        station: &str,
        index: u64,
        receipt: &[u8],
        status: &str,
    ) -> Result<(), Refusal> {
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE protocols SET state = 'delivered', receipt = ?1, log_index = ?2, why = ?3 WHERE contest = ?4 AND station = ?5",
            params![receipt, i64::try_from(index).unwrap_or(i64::MAX), status, contest, station],
        )?;
        // A recount's amendment is in the log: the recount is over.
        tx.execute(
            "DELETE FROM recounts WHERE contest = ?1 AND station = ?2",
            params![contest, station],
        )?;
        db::audit(
            &tx,
            "-",
            "delivered",
            &format!("{contest}/{station}"),
            &format!("log entry {index} ({status})"),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records in the audit trail that the server refused the scan `hash` of `subject`
    /// (`contest/station`) for `why`: its note is in the log, the scan is not.
    ///
    /// # Errors
    /// [`Refusal`] if the database fails.
    pub fn scan_refused(&self, subject: &str, hash: &str, why: &str) -> Result<(), Refusal> {
        db::audit(
            &self.db(),
            "-",
            "scan-refused",
            subject,
            &format!("sha256:{hash}: {why}"),
        )?;
        Ok(())
    }

    /// Records that the log refused a note (it stays here, with why).
    ///
    /// # Errors
    /// [`Refusal`] if the database fails.
    pub fn refused(&self, contest: &str, station: &str, why: &str) -> Result<(), Refusal> {
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE protocols SET state = 'refused', why = ?1 WHERE contest = ?2 AND station = ?3",
            params![why, contest, station],
        )?;
        db::audit(
            &tx,
            "-",
            "refused-by-log",
            &format!("{contest}/{station}"),
            why,
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// The `entry-finish` (or `audit-entry-finish`) line's detail: the round, the entry, and the
/// SHA-256 of its values as finished.
pub(super) fn finish_detail(round: i64, slot: i64, vals: &str) -> String {
    format!(
        "round {round}, entry {slot}; sha256:{}",
        hex(&sha256(vals.as_bytes()))
    )
}

/// Whether entry `slot` of `round` of `subject` by `typist` is still what its `finish` line
/// (`entry-finish`, or `audit-entry-finish` for a hand count) in the (chained) trail recorded: `None` if it is; otherwise why not. The `entries`
/// table can be written behind the desk's back, the trail cannot without breaking its chain,
/// so an entry rewritten after it was finished is never compared or kept as if a typist had
/// keyed it. An entry finished before finish lines named their values (`round N` alone) is
/// taken as it is.
pub(super) fn entry_changed(
    tx: &Connection,
    finish: &str,
    subject: &str,
    round: i64,
    slot: i64,
    typist: &str,
    vals: &str,
) -> Result<Option<String>, Refusal> {
    let details: Vec<String> = {
        let mut q = tx.prepare_cached(
            "SELECT detail FROM audit WHERE subject = ?1 AND action = ?2 AND actor = ?3",
        )?;
        q.query_map(params![subject, finish, typist], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    let want = finish_detail(round, slot, vals);
    let prefix = format!("round {round}, entry {slot}; ");
    let legacy = format!("round {round}");
    if details.contains(&want) {
        return Ok(None);
    }
    if let Some(recorded) = details.iter().find(|d| d.starts_with(&prefix)) {
        return Ok(Some(format!(
            "entry {slot} of {subject} (round {round}, by {typist}) is not what was finished \
             ({}); it is sha256:{} now",
            &recorded[prefix.len()..],
            hex(&sha256(vals.as_bytes()))
        )));
    }
    if details.contains(&legacy) {
        return Ok(None);
    }
    Ok(Some(format!(
        "entry {slot} of {subject} (round {round}, by {typist}) has no finish line in the audit trail"
    )))
}

/// [`entry_changed`] for both finished entries of `round` (`(vals, typist)` of entries 1 and
/// 2), each one changed since its finish line audited as `changed` (`entry-changed`, or
/// `audit-entry-changed` for a hand count); returns why, empty if both are as finished.
pub(super) fn changed_entries(
    tx: &Connection,
    (finish, changed): (&str, &str),
    subject: &str,
    round: i64,
    entries: [(&str, &str); 2],
) -> Result<Vec<String>, Refusal> {
    let mut whys = Vec::new();
    for (slot, (vals, typist)) in (1..).zip(entries) {
        if let Some(why) = entry_changed(tx, finish, subject, round, slot, typist, vals)? {
            db::audit(tx, "-", changed, subject, &why)?;
            whys.push(why);
        }
    }
    Ok(whys)
}

/// A coordinator's decision made on round `seen` of `subject`, which is at round `now`.
pub(super) fn stale_round(subject: &str, seen: i64, now: i64) -> Refusal {
    Refusal::new(
        409,
        "stale",
        format!(
            "field `round`: the decision was made on round {seen}, but {subject} is at round {now} now; look at its entries again"
        ),
    )
}

/// A typist's entry in one round of a protocol or of a hand count.
pub(super) enum Claimed {
    /// The entry the typist already holds.
    Held { id: i64, slot: i64, done: bool },
    /// The free slot, claimed now.
    New { id: i64, slot: i64 },
}

/// Claims for `typist` an entry of `round` of `contest`/`station` in `table` (`entries` for
/// protocols, `audit_entries` for hand counts: the same columns): the one the typist holds
/// already, or the free slot, inserted empty; `409 taken` when another typist holds each.
pub(super) fn claim_slot(
    tx: &Connection,
    table: &str,
    (contest, station): (&str, &str),
    round: i64,
    typist: i64,
    subject: &str,
) -> Result<Claimed, Refusal> {
    let held: Vec<(i64, i64, i64, bool, bool, String)> = {
        let mut q = tx.prepare(&format!(
            "SELECT e.id, e.slot, e.typist, e.done, u.disabled, u.name FROM {table} e \
             JOIN users u ON u.id = e.typist \
             WHERE e.contest = ?1 AND e.station = ?2 AND e.round = ?3"
        ))?;
        q.query_map(params![contest, station, round], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<Result<_, _>>()?
    };
    if let Some(&(id, slot, _, done, _, _)) = held.iter().find(|x| x.2 == typist) {
        return Ok(Claimed::Held { id, slot, done });
    }
    // An unfinished entry of a disabled account (a typist taken off the count) would hold
    // its slot for the rest of the night: it is released, what was keyed in it discarded,
    // and the slot given to the typist claiming now, with an empty form.
    let mut slots = Vec::with_capacity(held.len());
    for (id, slot, owner, done, disabled, name) in held {
        if disabled && !done {
            tx.execute(&format!("DELETE FROM {table} WHERE id = ?1"), [id])?;
            db::audit(
                tx,
                "-",
                if table == "entries" {
                    "entry-released"
                } else {
                    "audit-entry-released"
                },
                subject,
                &format!(
                    "round {round}, entry {slot}: unfinished entry of disabled account {name} \
                     discarded, the slot given to another typist"
                ),
            )?;
        } else {
            slots.push((id, slot, owner, done));
        }
    }
    let slot = match slots.len() {
        0 => 1,
        1 => 3 - slots[0].1,
        _ => {
            return Err(Refusal::new(
                409,
                "taken",
                format!("both entries of {subject} are claimed by other typists"),
            ));
        }
    };
    tx.execute(
        &format!(
            "INSERT INTO {table} (contest, station, round, slot, typist, vals) VALUES (?1, ?2, ?3, ?4, ?5, '{{}}')"
        ),
        params![contest, station, round, slot, typist],
    )?;
    Ok(Claimed::New {
        id: tx.last_insert_rowid(),
        slot,
    })
}

fn new_session(
    conn: &Connection,
    user: Option<i64>,
    lifetime_ms: i64,
) -> Result<(Session, String), Refusal> {
    let id = random_hex();
    let id_hash = hex(&sha256(id.as_bytes()));
    let csrf = random_hex();
    conn.execute(
        "INSERT INTO sessions (id_hash, user_id, csrf, expires_ms) VALUES (?1, ?2, ?3, ?4)",
        params![id_hash, user, csrf, db::now_ms() + lifetime_ms],
    )?;
    // Expired sessions go on the way.
    conn.execute("DELETE FROM sessions WHERE expires_ms < ?1", [db::now_ms()])?;
    Ok((
        Session {
            id_hash,
            csrf,
            user: None,
        },
        id,
    ))
}
