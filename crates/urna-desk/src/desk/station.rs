//! Polling-station mode: the desk's entry screens for one station, keyed by its board.
//!
//! The board's chair and a second member each key the paper protocol on the station's own
//! laptop; the two entries are compared as at a counting centre ([`form::decide`]), but
//! nobody else resolves a difference:
//! - equal, every error rule holds: signed with the **station's own key** and written to the
//!   store-and-forward queue of `urna submit` ([`Queue`]) before anyone is told;
//! - different: both are told only that the entries differ, and a new round of two entries
//!   opens;
//! - equal but breaking an error rule: a new round opens, naming the rules; when the next
//!   round repeats the same protocol, the board has confirmed the paper and it is signed (the
//!   log will quarantine it, which is the truth about that paper).
//!
//! The accounts are the desk's (Argon2id, sessions, CSRF); the two board members are typists,
//! their seats in the `board` table. The data directory is the station's own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};
use serde_json::{Value, json};
use urna_model::definition::{ContestIdx, Election, StationIdx};
use urna_model::intake::sha256;
use urna_model::note::NoteSigner;
use urna_model::protocol::hex;
use urna_server::submit::{Queue, QueueError};

use super::{Desk, Refusal, Session, SetupError, values_of};
use crate::db::{self, Role};
use crate::form::{self, Decision};

/// The board's seats: each keys one entry of every round.
const BOARD_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS board (
    name TEXT PRIMARY KEY REFERENCES users(name),
    seat TEXT NOT NULL UNIQUE CHECK (seat IN ('chair', 'member'))
);
";

/// How long a signature waits for the queue while `urna submit` holds its lock.
const QUEUE_WAIT: Duration = Duration::from_secs(5);

/// What makes a desk a polling station's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The one station keyed here.
    pub(super) station: StationIdx,
    /// The store-and-forward queue signed protocols go to.
    queue: PathBuf,
    /// Account name → seat (`chair`, `member`).
    board: BTreeMap<String, String>,
}

/// Creates a station's data directory (if missing) with its two accounts, the chair and a
/// member, each with the password given (hashed with Argon2id; no change is forced, since
/// they chose it here).
///
/// # Errors
/// [`SetupError::Field`] for a directory that already has accounts, equal names, a bad name
/// or a short password; [`SetupError::Db`] if SQLite fails.
pub fn init(
    data: &Path,
    (chair, chair_password): (&str, &str),
    (member, member_password): (&str, &str),
) -> Result<(), SetupError> {
    if chair == member {
        return Err(SetupError::Field {
            field: "--member",
            rule: format!("{member:?} is the chair; the second member must be someone else"),
        });
    }
    std::fs::create_dir_all(data).map_err(|e| SetupError::Field {
        field: "--data",
        rule: format!("{}: cannot create it: {e}", data.display()),
    })?;
    let mut conn = db::open(data)?;
    conn.execute_batch(BOARD_SCHEMA)
        .map_err(db::DbError::from)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db::DbError::from)?;
    let accounts: i64 = tx
        .query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
        .map_err(db::DbError::from)?;
    if accounts > 0 {
        return Err(SetupError::Field {
            field: "--data",
            rule: format!(
                "{} already has accounts; a station is set up once",
                data.display()
            ),
        });
    }
    for (seat, name, password) in [
        ("chair", chair, chair_password),
        ("member", member, member_password),
    ] {
        db::add_user(&tx, name, Role::Typist, password, "urna station init").map_err(
            |e| match e {
                db::DbError::Field { field, rule } => SetupError::Field {
                    field: if seat == "chair" {
                        if field == "name" {
                            "--chair"
                        } else {
                            "chair's password"
                        }
                    } else if field == "name" {
                        "--member"
                    } else {
                        "member's password"
                    },
                    rule,
                },
                other => SetupError::Db(other),
            },
        )?;
        tx.execute("UPDATE users SET must_change = 0 WHERE name = ?1", [name])
            .map_err(db::DbError::from)?;
        tx.execute(
            "INSERT INTO board (name, seat) VALUES (?1, ?2)",
            params![name, seat],
        )
        .map_err(db::DbError::from)?;
        db::audit(&tx, "urna station init", "board-seat", name, seat)?;
    }
    tx.commit().map_err(db::DbError::from)?;
    Ok(())
}

/// Opens the queue, waiting up to [`QUEUE_WAIT`] while another process (`urna submit`)
/// holds it.
pub(crate) fn open_queue(dir: &Path) -> Result<Queue, QueueError> {
    let start = std::time::Instant::now();
    loop {
        match Queue::open(dir) {
            Err(QueueError::Busy { .. }) if start.elapsed() < QUEUE_WAIT => {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// A protocol note signed with this station's key, found in its queue.
struct OwnNote {
    contest: String,
    hash: [u8; 32],
    note: Vec<u8>,
    /// `delivered`, `refused` or `queued`.
    place: &'static str,
}

/// Set to a file path, the station creates that file once a signed note is durable in the
/// queue and then waits, without committing `desk.sqlite`, for the process to be killed: the
/// crash point between the two writes of a signature, for the end-to-end test that kills the
/// real process there. Unset, it costs one look-up per signature.
pub const HOLD_AFTER_QUEUE_ENV: &str = "URNA_TEST_STATION_HOLD_AFTER_QUEUE";

impl Scope {
    /// The protocol notes in the queue signed with `verifier` (the station's key) for
    /// `station`: those sent and refused first (the log has seen them), then those waiting,
    /// in the order queued. A file that cannot be read, is not the note its name says, or is
    /// not this station's protocol is passed over (delivery names it on every pass).
    fn own_notes(
        &self,
        election: &Election,
        verifier: &urna_model::note::NoteVerifier,
        station: &str,
    ) -> Vec<OwnNote> {
        // Read without the queue's lock, which `urna submit --queue` may hold for a while:
        // every file is written whole and renamed into place, and a temporary one (named
        // `.<name>.tmp-…`) is not a `<sha256>.note`.
        let list = |dir: &Path| -> Vec<PathBuf> {
            let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "note"))
                .collect();
            found.sort();
            found
        };
        let mut files: Vec<(PathBuf, &'static str)> = Vec::new();
        for (sub, place) in [("sent", "delivered"), ("refused", "refused")] {
            files.extend(list(&self.queue.join(sub)).into_iter().map(|p| (p, place)));
        }
        // Waiting notes in the order queued (the `order` file, one hash a line; later lines
        // win), those it does not name last.
        let order: BTreeMap<String, usize> = std::fs::read_to_string(self.queue.join("order"))
            .unwrap_or_default()
            .lines()
            .enumerate()
            .map(|(i, l)| (l.trim().to_owned(), i))
            .collect();
        let mut waiting = list(&self.queue);
        waiting.sort_by_key(|p| {
            let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            order.get(stem).copied().unwrap_or(usize::MAX)
        });
        files.extend(waiting.into_iter().map(|p| (p, "queued")));
        let mut own = Vec::new();
        for (path, place) in files {
            let Ok(note) = std::fs::read(&path) else {
                continue;
            };
            let hash = sha256(&note);
            if path.file_stem().and_then(|s| s.to_str()) != Some(hex(&hash).as_str()) {
                continue;
            }
            let Ok(parsed) = urna_model::note::Note::parse(&note) else {
                continue;
            };
            if verifier.verify(&parsed).is_err() {
                continue;
            }
            let Ok(body) = urna_model::protocol::ProtocolBody::parse(parsed.text()) else {
                continue;
            };
            if body.station != station || election.contest(&body.contest).is_none() {
                continue;
            }
            own.push(OwnNote {
                contest: body.contest,
                hash,
                note,
                place,
            });
        }
        own
    }

    /// Where a signed note with SHA-256 `hash` is: `delivered` (its receipt kept beside it),
    /// `refused`, or `queued`.
    fn queue_state(&self, hash: &[u8; 32]) -> &'static str {
        let name = hex(hash);
        if self
            .queue
            .join("sent")
            .join(format!("{name}.note"))
            .is_file()
        {
            "delivered"
        } else if self
            .queue
            .join("refused")
            .join(format!("{name}.note"))
            .is_file()
        {
            "refused"
        } else {
            "queued"
        }
    }
}

impl Desk {
    /// Opens polling-station mode over the station's data directory `data` (made by
    /// [`init`]): station `station` of the definition at `definition`, signing with
    /// `signer`, which must be that station's own key as the stations file states it;
    /// signed protocols are queued in `queue`.
    ///
    /// # Errors
    /// [`SetupError`] if the definition cannot be read, the station is unknown, the key is not
    /// its key, the directory has no board, or the queue cannot be opened.
    pub fn open_station(
        data: &Path,
        definition: &Path,
        station: &str,
        signer: NoteSigner,
        queue: PathBuf,
    ) -> Result<Self, SetupError> {
        let election = Election::load(definition)
            .map_err(|e| SetupError::Definition(format!("{}: {e}", definition.display())))?;
        let idx = election.station(station).ok_or_else(|| SetupError::Field {
            field: "--station",
            rule: format!("{station:?} is not a station of the election definition"),
        })?;
        let st = &election.stations[idx.0 as usize];
        if signer.name() != st.id
            || signer.key_id() != st.key_id
            || signer.public_key() != st.public_key
        {
            return Err(SetupError::Field {
                field: "--key",
                rule: format!(
                    "key {:?} is not station {station}'s key in the stations file",
                    signer.name()
                ),
            });
        }
        if !data.join(db::DESK_DB).is_file() {
            return Err(SetupError::Field {
                field: "--data",
                rule: format!(
                    "{}: no station there; run `urna station init` first",
                    data.display()
                ),
            });
        }
        let board = read_board(&db::open(data)?)?;
        if board.len() != 2 {
            return Err(SetupError::Field {
                field: "--data",
                rule: format!(
                    "{}: the board has no chair and member; run `urna station init` first",
                    data.display()
                ),
            });
        }
        open_queue(&queue).map_err(|e| SetupError::Field {
            field: "--queue",
            rule: e.to_string(),
        })?;
        let unit = st.unit;
        let desk = Self::build(
            data,
            election,
            unit,
            signer,
            Some(Scope {
                station: idx,
                queue,
                board,
            }),
        )?;
        for contest in desk.reconcile_station().map_err(|e| SetupError::Field {
            field: "--queue",
            rule: e.message,
        })? {
            eprintln!(
                "urna station: {contest}/{station}: a note signed before the station stopped was found in the queue and is taken as signed"
            );
        }
        Ok(desk)
    }

    /// Makes the station's state what is durable: a protocol note of its own in the queue
    /// (waiting, sent or refused) for a contest `desk.sqlite` records no signed note for is
    /// taken as signed, with that note. A signature writes the note to the queue before its
    /// transaction commits; a crash between the two leaves a note nobody was told of, which
    /// may already be on its way to the log, so the contest must not be keyed and signed
    /// again over it. Run when the station opens and before every signature. Returns the
    /// contests so recorded (each also in the audit trail, `recovered`).
    ///
    /// # Errors
    /// [`Refusal`] if the database fails.
    pub fn reconcile_station(&self) -> Result<Vec<String>, Refusal> {
        let Some(scope) = &self.station else {
            return Ok(Vec::new());
        };
        let station = self.election.stations[scope.station.0 as usize].id.clone();
        let own = scope.own_notes(&self.election, &self.signer.verifier(), &station);
        if own.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut recovered = Vec::new();
        for contest in &self.election.contests {
            let recorded: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT note FROM protocols WHERE contest = ?1 AND station = ?2",
                    params![contest.id, station],
                    |r| r.get(0),
                )
                .optional()?
                .flatten();
            if recorded.is_some() {
                continue;
            }
            let Some(found) = own.iter().find(|o| o.contest == contest.id) else {
                continue;
            };
            tx.execute(
                "INSERT INTO protocols (contest, station, state, round, note) VALUES (?1, ?2, 'signed', 1, ?3)
                 ON CONFLICT (contest, station) DO UPDATE SET state = 'signed', note = ?3",
                params![contest.id, station, found.note],
            )?;
            db::audit(
                &tx,
                "-",
                "recovered",
                &format!("{}/{station}", contest.id),
                &format!(
                    "sha256:{} {} in {}: signed with the station's key but not recorded \
                     (the station stopped between queueing and recording it); taken as signed",
                    hex(&found.hash),
                    found.place,
                    scope.queue.display()
                ),
            )?;
            recovered.push(contest.id.clone());
        }
        tx.commit()?;
        Ok(recovered)
    }

    /// The queue of a polling station (`None` at a counting centre).
    pub fn station_queue(&self) -> Option<&Path> {
        self.station.as_ref().map(|s| s.queue.as_path())
    }

    /// Whether the desk keys station `st`: every station of the centre at a counting
    /// centre, only its own in polling-station mode.
    pub(super) fn keys_station(&self, st: StationIdx) -> bool {
        self.station.as_ref().is_none_or(|s| s.station == st)
    }

    /// The station and the caller's seat, for the page (`null` at a counting centre).
    pub(super) fn station_view(&self, s: &Session) -> Value {
        let Some(scope) = &self.station else {
            return Value::Null;
        };
        let st = &self.election.stations[scope.station.0 as usize];
        json!({
            "id": st.id,
            "name": st.name(),
            "seat": s.user.as_ref().and_then(|u| scope.board.get(&u.name)),
            "contests": self.election.contests.iter().map(|c| &c.id).collect::<Vec<_>>(),
        })
    }

    /// What two finished entries of a round decide at a polling station (inside `finish`'s
    /// transaction): `signed` (signed with the station's key and queued), `differ` or
    /// `confirm` (a new round opened).
    pub(super) fn station_round(
        &self,
        tx: &Connection,
        (c, st): (ContestIdx, StationIdx),
        round: i64,
        (a, ta): (&str, &str),
        (b, tb): (&str, &str),
    ) -> Result<&'static str, Refusal> {
        let contest = self.election.contests[c.0 as usize].id.as_str();
        let station = self.election.stations[st.0 as usize].id.as_str();
        let subject = format!("{contest}/{station}");
        // Only entries as they were finished are compared (`entry_changed`): one rewritten
        // in `desk.sqlite` since opens a new round, as a difference does.
        let changed = super::changed_entries(
            tx,
            ("entry-finish", "entry-changed"),
            &subject,
            round,
            [(a, ta), (b, tb)],
        )?;
        if !changed.is_empty() {
            next_round(tx, contest, station)?;
            db::audit(
                tx,
                "-",
                "difference",
                &subject,
                &format!(
                    "round {round}: an entry was changed after it was finished; round {} opened",
                    round + 1
                ),
            )?;
            return Ok("differ");
        }
        let (first, second) = (values_of(a), values_of(b));
        match form::decide(&self.election, c, st, &first, &second) {
            Decision::Sign(text) => {
                let why = format!("entered by {ta} and {tb}, equal");
                self.sign_and_queue(tx, &subject, (contest, station), &text, &why)?;
                Ok("signed")
            }
            Decision::Differ => {
                next_round(tx, contest, station)?;
                db::audit(
                    tx,
                    "-",
                    "difference",
                    &subject,
                    &format!(
                        "round {round}: entries by {ta} and {tb} differ; round {} opened",
                        round + 1
                    ),
                )?;
                Ok("differ")
            }
            Decision::Invalid => {
                let (text, rules) = self.invalid(c, st, &first);
                if round > 1 && self.unconfirmed(tx, (c, st), round - 1)? == Some(text.clone()) {
                    let why = format!(
                        "entered by {ta} and {tb}, equal; confirmed in round {round} although it breaks {rules}"
                    );
                    self.sign_and_queue(tx, &subject, (contest, station), &text, &why)?;
                    return Ok("signed");
                }
                next_round(tx, contest, station)?;
                db::audit(
                    tx,
                    "-",
                    "confirm",
                    &subject,
                    &format!(
                        "round {round}: entries by {ta} and {tb} equal but break {rules}; round {} opened to confirm",
                        round + 1
                    ),
                )?;
                Ok("confirm")
            }
        }
    }

    /// The protocol text of an entry and the ids of the error rules it breaks.
    fn invalid(
        &self,
        c: ContestIdx,
        st: StationIdx,
        values: &BTreeMap<String, u64>,
    ) -> (String, String) {
        match form::body(&self.election, c, st, values) {
            Ok(body) => {
                let rules: Vec<String> = form::violations(&self.election, &body)
                    .into_iter()
                    .filter(|v| v.severity == urna_model::rules::Severity::Error)
                    .map(|v| v.rule)
                    .collect();
                (body.to_text(), rules.join(", "))
            }
            Err(e) => (String::new(), e.to_string()),
        }
    }

    /// The entries of `round`, finished, in slot order.
    fn round_entries(
        tx: &Connection,
        contest: &str,
        station: &str,
        round: i64,
    ) -> Result<Vec<BTreeMap<String, u64>>, Refusal> {
        let mut q = tx.prepare(
            "SELECT vals FROM entries WHERE contest = ?1 AND station = ?2 AND round = ?3 AND done = 1 ORDER BY slot",
        )?;
        let rows: Vec<String> = q
            .query_map(params![contest, station, round], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(rows.iter().map(|v| values_of(v)).collect())
    }

    /// What round `round` decided, if it opened a new round: `differ`, or `confirm` with the
    /// protocol text both entries stated and the rules it breaks.
    fn round_outcome(
        &self,
        tx: &Connection,
        (c, st): (ContestIdx, StationIdx),
        round: i64,
    ) -> Result<Option<(&'static str, String, String)>, Refusal> {
        let contest = &self.election.contests[c.0 as usize].id;
        let station = &self.election.stations[st.0 as usize].id;
        let entries = Self::round_entries(tx, contest, station, round)?;
        let [first, second] = entries.as_slice() else {
            return Ok(None);
        };
        Ok(match form::decide(&self.election, c, st, first, second) {
            Decision::Sign(_) => None,
            Decision::Differ => Some(("differ", String::new(), String::new())),
            Decision::Invalid => {
                let (text, rules) = self.invalid(c, st, first);
                Some(("confirm", text, rules))
            }
        })
    }

    /// The protocol text round `round` stated while breaking an error rule, if it did.
    fn unconfirmed(
        &self,
        tx: &Connection,
        at: (ContestIdx, StationIdx),
        round: i64,
    ) -> Result<Option<String>, Refusal> {
        Ok(self
            .round_outcome(tx, at, round)?
            .filter(|o| o.0 == "confirm")
            .map(|o| o.1))
    }

    /// Signs `text` with the station's key ([`Desk::sign`]) and writes the note to the queue
    /// before the transaction commits: nobody is told "signed" before the note is on disk
    /// where `urna submit` finds it.
    fn sign_and_queue(
        &self,
        tx: &Connection,
        subject: &str,
        (contest, station): (&str, &str),
        text: &str,
        why: &str,
    ) -> Result<(), Refusal> {
        self.sign(tx, subject, contest, station, text, why, "-")?;
        let note: Vec<u8> = tx.query_row(
            "SELECT note FROM protocols WHERE contest = ?1 AND station = ?2",
            params![contest, station],
            |r| r.get(0),
        )?;
        let Some(scope) = &self.station else {
            return Ok(());
        };
        let queue_error = |e: QueueError| Refusal::new(503, "queue", format!("the queue: {e}"));
        let queue = open_queue(&scope.queue).map_err(queue_error)?;
        // The scan the note names travels in the queue with it, so whoever delivers the queue
        // (this station, or `urna submit --queue` elsewhere) sends it after the note.
        if let Some(scan) = urna_model::scan::named_scan(&note) {
            let (_, bytes) = self.scan(&hex(&scan))?.ok_or_else(|| {
                Refusal::new(
                    500,
                    "storage",
                    format!("the scan sha256:{} the note names is not kept", hex(&scan)),
                )
            })?;
            queue.push_scan(&bytes).map_err(queue_error)?;
        }
        let (hash, _) = queue.push(&note).map_err(queue_error)?;
        if let Some(marker) = std::env::var_os(HOLD_AFTER_QUEUE_ENV) {
            // The test's crash point: the note is durable in the queue, `desk.sqlite` not
            // yet committed.
            let _ = std::fs::write(marker, hex(&hash));
            loop {
                std::thread::sleep(Duration::from_secs(60));
            }
        }
        db::audit(
            tx,
            "-",
            "queued",
            subject,
            &format!("sha256:{} in {}", hex(&hash), scope.queue.display()),
        )?;
        Ok(())
    }

    /// The station's protocols, one per contest: state, round, entries finished in the round,
    /// what the last round decided (`differ`, or `confirm` with the rules), and for a signed
    /// protocol where its note is (`queued`, `delivered`, `refused`).
    pub(super) fn station_progress(&self, s: &Session) -> Result<Value, Refusal> {
        self.require(s, &[Role::Typist], "see the station's protocols")?;
        let Some(scope) = &self.station else {
            return Ok(Value::Null);
        };
        let st = scope.station;
        let station = &self.election.stations[st.0 as usize].id;
        let conn = self.db();
        let mut rows = Vec::new();
        let (mut signed, mut delivered) = (0, 0);
        for (i, contest) in self.election.contests.iter().enumerate() {
            let c = ContestIdx(u16::try_from(i).unwrap_or(u16::MAX));
            let row: Option<(String, i64, Option<Vec<u8>>)> = conn
                .query_row(
                    "SELECT state, round, note FROM protocols WHERE contest = ?1 AND station = ?2",
                    params![contest.id, station],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((state, round, note)) = row else {
                rows.push(
                    json!({"contest": contest.id, "state": "open", "round": 1, "entered": 0}),
                );
                continue;
            };
            let entered = Self::round_entries(&conn, &contest.id, station, round)?.len();
            let last = if round > 1 {
                self.round_outcome(&conn, (c, st), round - 1)?
            } else {
                None
            };
            let signed_text = note.as_deref().and_then(|n| {
                urna_model::note::Note::parse(n)
                    .ok()
                    .map(|p| (hex(&sha256(n)), p.text().to_owned()))
            });
            let sent = note.map(|n| scope.queue_state(&sha256(&n)));
            if sent.is_some() {
                signed += 1;
            }
            if sent == Some("delivered") {
                delivered += 1;
            }
            rows.push(json!({
                "contest": contest.id,
                "state": state,
                "round": round,
                "entered": entered,
                "last": last.as_ref().map(|l| l.0),
                "rules": last.map(|l| l.2),
                "queue": sent,
                "sha256": signed_text.as_ref().map(|t| &t.0),
                "text": signed_text.as_ref().map(|t| &t.1),
            }));
        }
        Ok(json!({
            "station": station,
            "protocols": rows.len(),
            "signed": signed,
            "delivered": delivered,
            "contests": rows,
        }))
    }
}

/// Opens the next round of two entries.
fn next_round(tx: &Connection, contest: &str, station: &str) -> Result<(), Refusal> {
    tx.execute(
        "UPDATE protocols SET round = round + 1 WHERE contest = ?1 AND station = ?2",
        params![contest, station],
    )?;
    Ok(())
}

/// The board's seats, by account name.
fn read_board(conn: &Connection) -> Result<BTreeMap<String, String>, SetupError> {
    conn.execute_batch(BOARD_SCHEMA)
        .map_err(db::DbError::from)?;
    let mut q = conn
        .prepare("SELECT name, seat FROM board")
        .map_err(db::DbError::from)?;
    let rows = q
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(db::DbError::from)?
        .collect::<Result<_, _>>()
        .map_err(db::DbError::from)?;
    Ok(rows)
}
