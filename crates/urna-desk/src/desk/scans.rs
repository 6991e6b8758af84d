//! Scans of paper protocols: a typist or coordinator uploads the scan or photo of a protocol
//! (PDF, JPEG or PNG, at most [`MAX_SCAN`] bytes, recognised by its first bytes, not by its
//! name); the desk keeps it under its SHA-256, and the note it signs for the protocol names
//! it in a `scan: sha256:<hex>` line, so the signature covers which paper the numbers came
//! from.

use rusqlite::{Connection, OptionalExtension as _, params};
use serde_json::{Value, json};
use urna_model::intake::sha256;
use urna_model::protocol::{ProtocolBody, hex};

use super::{Desk, Refusal, Session};
use crate::db::{self, Role};

pub use urna_model::scan::{MAX_SCAN, scan_kind};

impl Desk {
    /// Keeps the scan of a protocol of the centre (a typist: before anyone claims an entry of
    /// its round, or holding one of them; or a coordinator), replacing the protocol's earlier scan if it is not signed yet.
    ///
    /// # Errors
    /// [`Refusal`] for another role, a typist whose protocol others key, a station
    /// outside the centre, a file too large or not a PDF, JPEG or PNG, or a protocol already
    /// signed.
    pub fn upload_scan(
        &self,
        s: &Session,
        contest: &str,
        station: &str,
        bytes: &[u8],
    ) -> Result<Value, Refusal> {
        let u = self
            .require(s, &[Role::Typist, Role::Coordinator], "upload scans")?
            .clone();
        self.station_in_centre(s, contest, station)?;
        if bytes.len() > MAX_SCAN {
            return Err(Refusal::new(
                413,
                "too-large",
                format!("scan: {} bytes; the limit is {MAX_SCAN}", bytes.len()),
            ));
        }
        let kind = scan_kind(bytes).ok_or_else(|| {
            Refusal::new(
                415,
                "bad-scan",
                "scan: not a PDF, JPEG or PNG file (its first bytes say what it is)",
            )
        })?;
        let hash = hex(&sha256(bytes));
        let subject = format!("{contest}/{station}");
        let mut conn = self.db();
        let state: Option<String> = conn
            .query_row(
                "SELECT state FROM protocols WHERE contest = ?1 AND station = ?2",
                params![contest, station],
                |r| r.get(0),
            )
            .optional()?;
        if matches!(state.as_deref(), Some("signed" | "delivered" | "refused")) {
            return Err(Refusal::new(
                409,
                "signed",
                format!("protocol {subject} is signed; its scan cannot change"),
            ));
        }
        // A typist attaches the scan of a paper they key: once an entry of the round is
        // claimed, only a typist who holds one of its two entries may. Any other typist of the
        // centre could otherwise swap the scan the signed note will name, unseen by the two
        // who key it. (Before anyone claims the round, the typist who picks up the paper may
        // attach it first.)
        if u.role == Role::Typist {
            let (mine, claimed): (bool, bool) = conn.query_row(
                "SELECT COALESCE(MAX(e.typist = ?3), 0), COUNT(e.id) > 0 FROM protocols p \
                 JOIN entries e ON e.contest = p.contest AND e.station = p.station \
                 AND e.round = p.round WHERE p.contest = ?1 AND p.station = ?2",
                params![contest, station, u.id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if claimed && !mine {
                db::audit(
                    &conn,
                    &u.name,
                    "refused-scan",
                    &subject,
                    "the round's entries are other typists'",
                )?;
                return Err(Refusal::new(
                    403,
                    "not-your-entry",
                    format!(
                        "scan: protocol {subject} is keyed by other typists; only they, or a \
                         coordinator, may attach its scan"
                    ),
                ));
            }
        }
        // A scan is the photo of one station's paper: attached to another station's
        // protocol, the centre would sign that station's numbers as keyed from a paper they
        // are not on. (Another contest of the same station may name it: one file of the
        // station's papers.)
        let elsewhere: Option<String> = {
            let mut q = conn.prepare(
                "SELECT subject FROM audit WHERE action = 'scan' AND detail LIKE '%sha256:' || ?1",
            )?;
            let subjects: Vec<String> = q
                .query_map([&hash], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let e = self.election();
            subjects.into_iter().find(|other| {
                !e.contests
                    .iter()
                    .any(|c| *other == format!("{}/{station}", c.id))
            })
        };
        if let Some(other) = elsewhere {
            db::audit(
                &conn,
                &u.name,
                "refused-scan",
                &subject,
                &format!("sha256:{hash} is the scan of {other}"),
            )?;
            return Err(Refusal::new(
                409,
                "scan-elsewhere",
                format!(
                    "scan: this file (sha256:{hash}) was attached to {other}; a protocol needs \
                     the scan of its own station's paper"
                ),
            ));
        }
        // Attached with its trail line, or not at all: the signed note will name the scan.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT OR IGNORE INTO scans (sha256, kind, bytes) VALUES (?1, ?2, ?3)",
            params![hash, kind, bytes],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO protocol_scans (contest, station, sha256) VALUES (?1, ?2, ?3)",
            params![contest, station, hash],
        )?;
        db::audit(
            &tx,
            &u.name,
            "scan",
            &subject,
            &format!("{kind}, {} bytes, sha256:{hash}", bytes.len()),
        )?;
        self.write_scan_file(&hash, bytes)?;
        tx.commit()?;
        Ok(
            json!({"contest": contest, "station": station, "scan": format!("sha256:{hash}"), "kind": kind}),
        )
    }

    /// Writes `DATA/scans/<hex>` (through a uniquely named temporary file and a rename, the
    /// directory synced), which the public bundle publishes as `blob/sha256/<hex>`. A file
    /// already there with other bytes (a write cut short) is replaced.
    fn write_scan_file(&self, hash: &str, bytes: &[u8]) -> Result<(), Refusal> {
        let fail = |e: std::io::Error| {
            Refusal::new(500, "storage", format!("{}: {e}", self.scans_dir.display()))
        };
        let path = self.scans_dir.join(hash);
        if std::fs::read(&path).is_ok_and(|b| b == bytes) {
            return Ok(());
        }
        std::fs::create_dir_all(&self.scans_dir).map_err(fail)?;
        urna_tlog::tiledir::write_file_atomic(&path, bytes).map_err(fail)
    }

    /// A kept scan by its SHA-256 (hex), to the session's account: the same gate as every
    /// other route (logged in, first password changed), any role.
    ///
    /// # Errors
    /// [`Refusal`] `401 unauthenticated`, `403 password-change-required`, or the database's.
    pub fn scan_for(
        &self,
        s: &Session,
        sha256_hex: &str,
    ) -> Result<Option<(String, Vec<u8>)>, Refusal> {
        self.require(
            s,
            &[Role::Typist, Role::Coordinator, Role::Administrator],
            "see scans",
        )?;
        self.scan(sha256_hex)
    }

    /// A kept scan by its SHA-256 (hex): its kind and bytes.
    ///
    /// # Errors
    /// [`Refusal`] if the database fails.
    pub fn scan(&self, sha256_hex: &str) -> Result<Option<(String, Vec<u8>)>, Refusal> {
        Ok(self
            .reader()
            .query_row(
                "SELECT kind, bytes FROM scans WHERE sha256 = ?1",
                [sha256_hex],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The protocol text with the protocol's scan named in it, if one was uploaded.
    pub(super) fn with_scan(
        &self,
        tx: &Connection,
        contest: &str,
        station: &str,
        text: String,
    ) -> Result<String, Refusal> {
        let hash: Option<String> = tx
            .query_row(
                "SELECT sha256 FROM protocol_scans WHERE contest = ?1 AND station = ?2",
                params![contest, station],
                |r| r.get(0),
            )
            .optional()?;
        let Some(hash) = hash else {
            return Ok(text);
        };
        let scan = urna_model::protocol::parse_sha256(&format!("sha256:{hash}"))
            .map_err(|r| Refusal::new(500, "storage", format!("a stored scan hash: {r}")))?;
        let mut body = ProtocolBody::parse(&text)
            .map_err(|e| Refusal::new(500, "storage", format!("the agreed protocol: {e}")))?;
        body.scan = Some(scan);
        // The next protocol of the station (a recount) needs its own scan.
        tx.execute(
            "DELETE FROM protocol_scans WHERE contest = ?1 AND station = ?2",
            params![contest, station],
        )?;
        Ok(body.to_text())
    }
}
