//! `desk.sqlite`: accounts, sessions, entries, protocols and the append-only audit trail.
//!
//! WAL with `synchronous=FULL`: every commit is on disk before the desk answers, so a typist
//! told "saved" or a coordinator told "signed" keeps it through a power cut.

use std::io::Write;
use std::path::Path;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher as _, SaltString};
use argon2::{Argon2, PasswordHash, PasswordVerifier as _};
use rusqlite::{Connection, OptionalExtension as _, params};
use serde::Serialize;

/// The desk's database file, in the data directory beside `urna.sqlite`.
pub const DESK_DB: &str = "desk.sqlite";

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 12;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('typist', 'coordinator', 'administrator')),
    hash TEXT NOT NULL,
    must_change INTEGER NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until_ms INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS login_failures (
    user_id INTEGER NOT NULL,
    address TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    since_ms INTEGER NOT NULL DEFAULT 0,
    locked_until_ms INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, address)
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    user_id INTEGER REFERENCES users(id),
    csrf TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS protocols (
    contest TEXT NOT NULL,
    station TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('entering', 'difference', 'signed', 'delivered', 'refused')),
    round INTEGER NOT NULL,
    note BLOB,
    receipt BLOB,
    log_index INTEGER,
    why TEXT,
    PRIMARY KEY (contest, station)
);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    contest TEXT NOT NULL,
    station TEXT NOT NULL,
    round INTEGER NOT NULL,
    slot INTEGER NOT NULL CHECK (slot IN (1, 2)),
    typist INTEGER NOT NULL REFERENCES users(id),
    vals TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    UNIQUE (contest, station, round, slot)
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    contest TEXT NOT NULL,
    station TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('accept', 'recount', 'annul')),
    reason TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    note BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('signed', 'delivered', 'refused')),
    log_index INTEGER,
    why TEXT
);
CREATE TABLE IF NOT EXISTS recounts (
    contest TEXT NOT NULL,
    station TEXT NOT NULL,
    supersedes BLOB NOT NULL,
    revision INTEGER NOT NULL,
    decision TEXT NOT NULL,
    PRIMARY KEY (contest, station)
);
CREATE TABLE IF NOT EXISTS scans (
    sha256 TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    bytes BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS protocol_scans (
    contest TEXT NOT NULL,
    station TEXT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES scans(sha256),
    PRIMARY KEY (contest, station)
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    chain TEXT
);
CREATE INDEX IF NOT EXISTS audit_by_subject ON audit (subject, action);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
";

/// A database or account error.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite.
    #[error("desk database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A field breaks its rule.
    #[error("field `{field}`: {rule}")]
    Field {
        /// The field.
        field: &'static str,
        /// The rule.
        rule: String,
    },
    /// Writing the export.
    #[error("writing the audit trail: {0}")]
    Io(#[from] std::io::Error),
    /// The audit trail was edited outside the desk.
    #[error(transparent)]
    Trail(#[from] BrokenTrail),
}

/// A role at the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Keys paper protocols.
    Typist,
    /// Resolves differences, watches progress.
    Coordinator,
    /// Manages accounts.
    Administrator,
}

impl Role {
    /// The role's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Typist => "typist",
            Self::Coordinator => "coordinator",
            Self::Administrator => "administrator",
        }
    }

    /// Parses a role name.
    ///
    /// # Errors
    /// [`DbError::Field`] naming the roles.
    pub fn parse(s: &str) -> Result<Self, DbError> {
        match s {
            "typist" => Ok(Self::Typist),
            "coordinator" => Ok(Self::Coordinator),
            "administrator" => Ok(Self::Administrator),
            other => Err(DbError::Field {
                field: "role",
                rule: format!("{other:?} is not typist, coordinator or administrator"),
            }),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    use urna_tlog::Clock as _;
    i64::try_from(urna_tlog::SystemClock.now_ms()).unwrap_or(i64::MAX)
}

/// Opens (creating if needed) `DATA/desk.sqlite`.
///
/// # Errors
/// [`DbError`] if SQLite fails.
pub fn open(data: &Path) -> Result<Connection, DbError> {
    let conn = Connection::open(data.join(DESK_DB))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)?;
    // Databases made before accounts could be disabled.
    let disabled = conn
        .prepare("SELECT 1 FROM pragma_table_info('users') WHERE name = 'disabled'")?
        .exists([])?;
    if !disabled {
        conn.execute_batch("ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0")?;
    }
    // Databases made before the trail was chained: their lines keep no chain value, and the
    // first chained line covers them all.
    let chained = conn
        .prepare("SELECT 1 FROM pragma_table_info('audit') WHERE name = 'chain'")?
        .exists([])?;
    if !chained {
        conn.execute_batch("ALTER TABLE audit ADD COLUMN chain TEXT")?;
    }
    Ok(conn)
}

/// The chain value of an audit line: the SHA-256 (hex) of the previous line's chain value
/// and of every field of this line, each field length-prefixed. The first line's previous
/// value is empty.
fn chain_value(prev: &str, l: &AuditLine) -> String {
    let mut text = String::with_capacity(prev.len() + 128);
    for field in [
        prev,
        &l.seq.to_string(),
        &l.at_ms.to_string(),
        &l.actor,
        &l.action,
        &l.subject,
        &l.detail,
    ] {
        text.push_str(&field.len().to_string());
        text.push(':');
        text.push_str(field);
        text.push('\n');
    }
    hex(&urna_model::intake::sha256(text.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Appends one line to the audit trail, chained to the line before it (see
/// [`check_audit_chain`]). Inside a transaction (every one the desk opens holds the write
/// lock) it is part of it; otherwise it takes the write lock for itself, so two connections
/// never chain two lines to the same one.
///
/// # Errors
/// [`DbError`] if SQLite fails.
pub fn audit(
    conn: &Connection,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<(), DbError> {
    if conn.is_autocommit() {
        let tx =
            rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
        append_audit(&tx, actor, action, subject, detail)?;
        tx.commit()?;
        Ok(())
    } else {
        append_audit(conn, actor, action, subject, detail)
    }
}

fn append_audit(
    conn: &Connection,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<(), DbError> {
    let last: Option<(i64, Option<String>)> = conn
        .query_row(
            "SELECT seq, chain FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let prev = match last {
        None => String::new(),
        Some((_, Some(chain))) => chain,
        // The last line is from before the trail was chained: chain over every line.
        Some((_, None)) => audit_lines(conn)?
            .iter()
            .fold(String::new(), |prev, l| chain_value(&prev, l)),
    };
    // The next number AUTOINCREMENT would give (never one a removed line had).
    let used: i64 = conn.query_row(
        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'audit'), 0), \
             COALESCE((SELECT MAX(seq) FROM audit), 0))",
        [],
        |r| r.get(0),
    )?;
    let line = AuditLine {
        seq: used + 1,
        at_ms: now_ms(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        detail: detail.to_owned(),
        chain: None,
    };
    let chain = chain_value(&prev, &line);
    conn.execute(
        "INSERT INTO audit (seq, at_ms, actor, action, subject, detail, chain) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            line.seq,
            line.at_ms,
            line.actor,
            line.action,
            line.subject,
            line.detail,
            chain
        ],
    )?;
    Ok(())
}

/// Where the audit trail is not what the desk wrote: a line changed, removed or inserted, or
/// the last lines cut off.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the audit trail of desk.sqlite was changed after it was written: {0}")]
pub struct BrokenTrail(pub String);

/// Checks the audit trail against its chain: every line's chain value must be the one its
/// fields and the line before it give (so a line changed, removed or slipped in breaks every
/// value after it), and the last line must be the last one ever numbered (so lines cut off
/// the end are noticed too). Lines from before the trail was chained carry no value and are
/// covered by the first line that does; none may follow it.
///
/// Someone who can write `desk.sqlite` can still recompute every value after an edit: the
/// chain makes an edit something to compute, not a single `UPDATE`, and a copy of the trail
/// exported earlier (each line with its chain value) pins every line up to it.
///
/// # Errors
/// [`DbError`] if SQLite fails; `Ok(Err(_))` naming the first line that does not hold.
pub fn check_audit_chain(conn: &Connection) -> Result<Result<(), BrokenTrail>, DbError> {
    let lines = audit_lines(conn)?;
    let mut prev = String::new();
    let mut chained = false;
    let mut last_seq = 0;
    for l in &lines {
        // Numbers never jump: a line removed just before the next was written leaves every
        // chain value whole (the next one chains to the line before the gap), but not this.
        if l.chain.is_some() && l.seq != last_seq + 1 {
            return Ok(Err(BrokenTrail(format!(
                "line {} ({} by {}) follows line {last_seq}: the lines between were removed",
                l.seq, l.action, l.actor
            ))));
        }
        last_seq = l.seq;
        let want = chain_value(&prev, l);
        match &l.chain {
            Some(have) if *have == want => chained = true,
            Some(_) => {
                return Ok(Err(BrokenTrail(format!(
                    "line {} ({} by {}) does not follow from the lines before it \
                     (changed, or a line before it removed or added)",
                    l.seq, l.action, l.actor
                ))));
            }
            None if chained => {
                return Ok(Err(BrokenTrail(format!(
                    "line {} ({} by {}) carries no chain value after chained lines \
                     (added by hand)",
                    l.seq, l.action, l.actor
                ))));
            }
            None => {}
        }
        prev = want;
    }
    let numbered: i64 = conn.query_row(
        "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'audit'), 0)",
        [],
        |r| r.get(0),
    )?;
    let last = lines.last().map_or(0, |l| l.seq);
    if numbered > last {
        return Ok(Err(BrokenTrail(format!(
            "lines {} to {numbered} were removed from its end",
            last + 1
        ))));
    }
    Ok(Ok(()))
}

/// Argon2id hash of a password (PHC string, random salt, the crate's default cost).
///
/// # Errors
/// [`DbError::Field`] if the password is too short or hashing fails.
pub fn hash_password(password: &str) -> Result<String, DbError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(DbError::Field {
            field: "password",
            rule: format!("must be at least {MIN_PASSWORD} characters"),
        });
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DbError::Field {
            field: "password",
            rule: format!("cannot be hashed: {e}"),
        })
}

/// Whether `password` matches a stored hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Creates an account that must change its password at first login.
///
/// # Errors
/// [`DbError::Field`] for a bad name, a taken name or a short password.
pub fn add_user(
    conn: &Connection,
    name: &str,
    role: Role,
    password: &str,
    by: &str,
) -> Result<(), DbError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(DbError::Field {
            field: "name",
            rule: "1 to 64 characters: letters, digits, `.`, `_`, `-`".into(),
        });
    }
    let hash = hash_password(password)?;
    // Created with its trail line, or not at all (inside the caller's transaction if any).
    let own = conn.is_autocommit();
    let tx = own
        .then(|| {
            rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
        })
        .transpose()?;
    let taken: bool = conn
        .query_row("SELECT 1 FROM users WHERE name = ?1", [name], |_| Ok(()))
        .optional()?
        .is_some();
    if taken {
        return Err(DbError::Field {
            field: "name",
            rule: format!("an account named {name:?} exists"),
        });
    }
    conn.execute(
        "INSERT INTO users (name, role, hash, must_change) VALUES (?1, ?2, ?3, 1)",
        params![name, role.as_str(), hash],
    )?;
    audit(conn, by, "user-add", name, role.as_str())?;
    if let Some(tx) = tx {
        tx.commit()?;
    }
    Ok(())
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditLine {
    /// Sequence number (gapless unless the database was tampered with).
    pub seq: i64,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Who (an account name, or `-` before login).
    pub actor: String,
    /// What (`login`, `login-refused`, `entry-claim`, `signed`…).
    pub action: String,
    /// On what (an account, `contest/station`, a path).
    pub subject: String,
    /// Details.
    pub detail: String,
    /// SHA-256 (hex) of the previous line's value and of this line ([`check_audit_chain`]);
    /// none on lines written before the trail was chained.
    pub chain: Option<String>,
}

/// Every audit line, in order.
///
/// # Errors
/// [`DbError`] if SQLite fails.
pub fn audit_lines(conn: &Connection) -> Result<Vec<AuditLine>, DbError> {
    let mut st = conn.prepare(
        "SELECT seq, at_ms, actor, action, subject, detail, chain FROM audit ORDER BY seq",
    )?;
    let rows = st.query_map([], |r| {
        Ok(AuditLine {
            seq: r.get(0)?,
            at_ms: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            subject: r.get(4)?,
            detail: r.get(5)?,
            chain: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Writes the audit trail as JSON lines, one object per action, in order, each with its
/// chain value; then checks the chain ([`check_audit_chain`]). An edited trail is written
/// all the same (it is the evidence) and then refused, naming the first line that does not
/// hold, so it is never published as whole.
///
/// # Errors
/// [`DbError`] if SQLite or the writer fails, [`DbError::Trail`] if the chain does not hold.
pub fn export_audit(conn: &Connection, out: &mut impl Write) -> Result<usize, DbError> {
    let lines = audit_lines(conn)?;
    for l in &lines {
        let json = serde_json::to_string(l).map_err(std::io::Error::other)?;
        writeln!(out, "{json}")?;
    }
    out.flush()?;
    check_audit_chain(conn)?.map_err(DbError::Trail)?;
    Ok(lines.len())
}

/// `login_failures.user_id` of the row that counts an address's failed logins over every
/// account (unknown names too); account ids start at 1.
pub const EVERY_ACCOUNT: i64 = 0;

/// Most `login_failures` rows kept. Every new address that fails a login adds a row (two for
/// a known account), and addresses are not scarce (an IPv6 network has more than anyone can
/// store): past this bound the rows of the oldest counts are forgotten to make room, those
/// without a lock-out in force first. Forgetting may lift a lock-out early; what then still
/// bounds guessing is the account's spacing past [`crate::desk::MAX_ACCOUNT_FAILURES`],
/// counted in `users`, which no flood of addresses can reset.
pub const MAX_FAILURE_ROWS: i64 = 10_000;

/// Failed logins counted for one account from one address, or for one address over every
/// account ([`EVERY_ACCOUNT`]): the `login_failures` row. An address's count over every account
/// starts again [`crate::desk::LOCKOUT_MS`] after its first failure; an account's from one
/// address counts failures in a row until a right password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failures {
    user_id: i64,
    address: String,
    /// Whether the row is in the table (a new one may first have to make room).
    stored: bool,
    /// Failures counted.
    pub failures: i64,
    /// When the count started (ms since the Unix epoch).
    since: i64,
    /// Locked until then (ms since the Unix epoch); 0 if not locked.
    pub locked_until: i64,
}

impl Failures {
    /// The row for `user_id` and `address` as of `now` (zero if there is none).
    ///
    /// # Errors
    /// SQLite's.
    pub fn read(
        conn: &Connection,
        user_id: i64,
        address: &str,
        now: i64,
    ) -> rusqlite::Result<Self> {
        let row = conn
            .query_row(
                "SELECT failures, since_ms, locked_until_ms FROM login_failures
                 WHERE user_id = ?1 AND address = ?2",
                params![user_id, address],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let stored = row.is_some();
        let (failures, since, locked_until) = row.unwrap_or((0, now, 0));
        let expired = user_id == EVERY_ACCOUNT && now - since >= crate::desk::LOCKOUT_MS;
        Ok(Self {
            user_id,
            address: address.to_owned(),
            stored,
            failures: if expired { 0 } else { failures },
            since: if expired { now } else { since },
            locked_until,
        })
    }

    /// Counts one more failure (or attempt under way).
    ///
    /// # Errors
    /// SQLite's.
    pub fn count(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        self.failures += 1;
        self.write(conn)
    }

    /// Locks for [`crate::desk::LOCKOUT_MS`] from `now` and starts the count again; returns
    /// until when.
    ///
    /// # Errors
    /// SQLite's.
    pub fn lock(&mut self, conn: &Connection, now: i64) -> rusqlite::Result<i64> {
        self.failures = 0;
        self.since = now;
        self.locked_until = now + crate::desk::LOCKOUT_MS;
        self.write(conn)?;
        Ok(self.locked_until)
    }

    fn write(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        if !self.stored {
            make_room(conn, self.since)?;
            self.stored = true;
        }
        conn.execute(
            "INSERT INTO login_failures (user_id, address, failures, since_ms, locked_until_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (user_id, address) DO UPDATE SET failures = ?3, since_ms = ?4,
                 locked_until_ms = ?5",
            params![
                self.user_id,
                self.address,
                self.failures,
                self.since,
                self.locked_until
            ],
        )?;
        Ok(())
    }

    /// Takes back one attempt counted for `user_id` from `address` (one that turned out right).
    ///
    /// # Errors
    /// SQLite's.
    pub fn uncount(conn: &Connection, user_id: i64, address: &str) -> rusqlite::Result<()> {
        conn.execute(
            "UPDATE login_failures SET failures = max(failures - 1, 0)
             WHERE user_id = ?1 AND address = ?2",
            params![user_id, address],
        )?;
        Ok(())
    }

    /// Forgets the failures of `user_id` from `address` (a right password from there).
    ///
    /// # Errors
    /// SQLite's.
    pub fn forgive(conn: &Connection, user_id: i64, address: &str) -> rusqlite::Result<()> {
        conn.execute(
            "DELETE FROM login_failures WHERE user_id = ?1 AND address = ?2",
            params![user_id, address],
        )?;
        Ok(())
    }

    /// Forgets every failure and lock-out of `user_id`, from every address (an administrator's
    /// unlock, reset or enable).
    ///
    /// # Errors
    /// SQLite's.
    pub fn forgive_everywhere(conn: &Connection, user_id: i64) -> rusqlite::Result<()> {
        conn.execute("DELETE FROM login_failures WHERE user_id = ?1", [user_id])?;
        Ok(())
    }
}

/// Makes room for one more `login_failures` row within [`MAX_FAILURE_ROWS`], as of `now`:
/// forgets the oldest counts, those without a lock-out in force first.
fn make_room(conn: &Connection, now: i64) -> rusqlite::Result<()> {
    let rows: i64 = conn.query_row("SELECT COUNT(*) FROM login_failures", [], |r| r.get(0))?;
    if rows < MAX_FAILURE_ROWS {
        return Ok(());
    }
    conn.execute(
        "DELETE FROM login_failures WHERE rowid IN (
             SELECT rowid FROM login_failures ORDER BY locked_until_ms > ?1, since_ms LIMIT ?2)",
        params![now, rows - MAX_FAILURE_ROWS + 1],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines written at once from several connections (the desk's writer and readers each
    /// have one) chain one after another, never two to the same line.
    #[test]
    fn lines_from_many_connections_at_once_keep_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        drop(open(dir.path()).unwrap());
        std::thread::scope(|s| {
            for t in 0..4 {
                let path = dir.path();
                s.spawn(move || {
                    let conn = open(path).unwrap();
                    for i in 0..50 {
                        audit(&conn, &format!("t{t}"), "login", "", &i.to_string()).unwrap();
                    }
                });
            }
        });
        let conn = open(dir.path()).unwrap();
        assert_eq!(audit_lines(&conn).unwrap().len(), 200);
        assert_eq!(check_audit_chain(&conn).unwrap(), Ok(()));
    }

    /// The last line removed while the desk runs: the next line chains to the one before
    /// the gap, so every value holds, but the numbers jump over the removed line.
    #[test]
    fn a_last_line_removed_before_the_next_one_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(dir.path()).unwrap();
        for action in ["login", "entry-finish", "signed"] {
            audit(&conn, "ana", action, "assembly/S0", "").unwrap();
        }
        conn.execute_batch("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 3;")
            .unwrap();
        audit(&conn, "ana", "logout", "", "").unwrap();
        let broken = check_audit_chain(&conn).unwrap().unwrap_err();
        assert!(broken.0.contains("line 4 "), "{broken}");
    }

    /// A trail begun before lines were chained: the old lines are covered by the first
    /// chained line, so changing one of them, or adding an unchained line after the chain
    /// began, is noticed; the untouched trail holds.
    #[test]
    fn a_trail_from_before_the_chain_is_covered_by_it() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(dir.path()).unwrap();
        for who in ["ana", "besa"] {
            conn.execute(
                "INSERT INTO audit (at_ms, actor, action, subject, detail) VALUES (1, ?1, 'login', ?1, '')",
                [who],
            )
            .unwrap();
        }
        audit(&conn, "cim", "login", "cim", "").unwrap();
        audit(&conn, "cim", "logout", "", "").unwrap();
        assert_eq!(check_audit_chain(&conn).unwrap(), Ok(()));
        let lines = audit_lines(&conn).unwrap();
        assert_eq!(
            lines.iter().map(|l| l.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert!(lines[0].chain.is_none() && lines[2].chain.is_some());

        let edited = tempfile::tempdir().unwrap();
        conn.execute_batch(&format!(
            "VACUUM INTO '{}'",
            edited.path().join(DESK_DB).display()
        ))
        .unwrap();
        let other = open(edited.path()).unwrap();
        other
            .execute_batch(
                "DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'dea' WHERE seq = 1;",
            )
            .unwrap();
        let broken = check_audit_chain(&other).unwrap().unwrap_err();
        assert!(broken.0.contains("line 3 "), "{broken}");

        conn.execute(
            "INSERT INTO audit (at_ms, actor, action, subject, detail) VALUES (1, 'dea', 'login', 'dea', '')",
            [],
        )
        .unwrap();
        let broken = check_audit_chain(&conn).unwrap().unwrap_err();
        assert!(broken.0.contains("line 5 "), "{broken}");
    }

    /// Failures from more addresses than the table keeps: it stays within its bound, and a
    /// lock-out in force outlives counts without one.
    #[test]
    fn the_failure_table_is_bounded_and_keeps_lock_outs_longest() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(dir.path()).unwrap();
        let tx = conn.transaction().unwrap();
        let mut locked = Failures::read(&tx, EVERY_ACCOUNT, "10.0.0.1", 1).unwrap();
        locked.lock(&tx, 1).unwrap();
        for i in 0..MAX_FAILURE_ROWS + 50 {
            let address = format!("fd00::{i:x}");
            Failures::read(&tx, EVERY_ACCOUNT, &address, 2 + i)
                .unwrap()
                .count(&tx)
                .unwrap();
        }
        let rows: i64 = tx
            .query_row("SELECT COUNT(*) FROM login_failures", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, MAX_FAILURE_ROWS);
        let kept = Failures::read(&tx, EVERY_ACCOUNT, "10.0.0.1", 3).unwrap();
        assert!(kept.locked_until > 3, "{kept:?}");
        // The oldest counts were forgotten, the newest kept.
        assert_eq!(
            Failures::read(&tx, EVERY_ACCOUNT, "fd00::0", 3)
                .unwrap()
                .failures,
            0
        );
        let last = format!("fd00::{:x}", MAX_FAILURE_ROWS + 49);
        assert_eq!(
            Failures::read(&tx, EVERY_ACCOUNT, &last, 3)
                .unwrap()
                .failures,
            1
        );
    }
}
