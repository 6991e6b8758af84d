//! The coordinator's decisions on the centre's quarantined protocols: `accept`, `recount`,
//! `annul`, each signed with the centre's authority key as an `urna/decision/v1` note and
//! delivered to the log like the protocols. A recount reopens the protocol for two new
//! entries; when they agree (or the coordinator keeps one), the result is signed as an
//! `urna/amendment/v1` superseding the quarantined protocol, by the authority alone, which
//! intake admits because the decision ordered the recount.

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};
use serde_json::{Value, json};
use urna_model::decision::{DecisionBody, DecisionKind};
use urna_model::intake::sha256;
use urna_model::note::Note;
use urna_model::protocol::{BodyKind, ProtocolBody, hex};

use super::{Desk, Refusal, Session};
use crate::db::{self, Role};

/// A protocol row: contest, station, state, log index, note.
type QuarantineRow = (String, String, String, Option<i64>, Option<Vec<u8>>);

/// A decision waiting for the log: `(id, contest, station, note)`.
pub type PendingDecision = (i64, String, String, Vec<u8>);

impl Desk {
    /// The centre's protocols the log quarantined (and those under a recount), each with the
    /// decisions taken on it (coordinator).
    ///
    /// # Errors
    /// [`Refusal`] for other roles.
    pub fn quarantine(&self, s: &Session) -> Result<Value, Refusal> {
        self.require(s, &[Role::Coordinator], "see the quarantine")?;
        let conn = self.db();
        let mut q = conn.prepare(
            "SELECT contest, station, state, log_index, note FROM protocols \
             WHERE why = 'quarantined' OR (contest, station) IN (SELECT contest, station FROM recounts) \
             ORDER BY contest, station",
        )?;
        let rows: Vec<QuarantineRow> = q
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for (contest, station, state, log_index, note) in rows {
            let mut d = conn.prepare(
                "SELECT decision, reason, decided_by, state, log_index FROM decisions \
                 WHERE contest = ?1 AND station = ?2 ORDER BY id",
            )?;
            let decisions: Vec<Value> = d
                .query_map(params![contest, station], |r| {
                    Ok(json!({
                        "decision": r.get::<_, String>(0)?,
                        "reason": r.get::<_, String>(1)?,
                        "by": r.get::<_, String>(2)?,
                        "state": r.get::<_, String>(3)?,
                        "log_index": r.get::<_, Option<i64>>(4)?,
                    }))
                })?
                .collect::<Result<_, _>>()?;
            let violations = note
                .as_deref()
                .and_then(|n| self.note_violations(n))
                .unwrap_or_default();
            out.push(json!({
                "contest": contest,
                "station": station,
                "state": state,
                "log_index": log_index,
                "entry": note.as_deref().map(|n| format!("sha256:{}", hex(&sha256(n)))),
                "violations": violations,
                "decisions": decisions,
            }));
        }
        Ok(json!({"quarantined": out}))
    }

    fn note_violations(&self, note: &[u8]) -> Option<Vec<Value>> {
        let sub = urna_model::intake::bind_note_unverified(&self.election, note).ok()?;
        Some(
            sub.violations
                .iter()
                .map(|v| {
                    json!({
                        "rule": v.rule,
                        "severity": v.severity.to_string(),
                        "message": v.message,
                        "detail": v.detail,
                    })
                })
                .collect(),
        )
    }

    /// The coordinator decides on a protocol of the centre that the log quarantined: the
    /// decision is signed with the centre's key and queued for the log; a recount reopens the
    /// protocol for two new entries, whose result becomes an amendment.
    ///
    /// `seen` is the quarantined note the coordinator was shown, `sha256:<hex>` as
    /// [`Desk::quarantine`] names it: a decision on a note that is no longer the station's
    /// (a recount's amendment took its place, the request was sent again) is refused, so it
    /// never decides on a note nobody looked at.
    ///
    /// # Errors
    /// [`Refusal`] for other roles, a station outside the centre, a protocol that is not in
    /// quarantine in the log, another note than `seen` (`409 stale`), a recount under way, an
    /// unknown decision or an empty reason.
    pub fn decide(
        &self,
        s: &Session,
        (contest, station): (&str, &str),
        seen: &str,
        decision: &str,
        reason: &str,
    ) -> Result<Value, Refusal> {
        let u = self
            .require(s, &[Role::Coordinator], "decide on quarantined protocols")?
            .clone();
        self.station_in_centre(s, contest, station)?;
        let kind = DecisionKind::from_word(decision).ok_or_else(|| {
            Refusal::new(
                400,
                "bad-field",
                format!("field `decision`: {decision:?} is not accept, recount or annul"),
            )
        })?;
        let reason = super::one_line_reason(reason)?;
        let subject = format!("{contest}/{station}");
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<(String, Option<String>, Option<Vec<u8>>)> = tx
            .query_row(
                "SELECT state, why, note FROM protocols WHERE contest = ?1 AND station = ?2",
                params![contest, station],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((state, why, Some(note))) = row else {
            return Err(not_quarantined(&subject));
        };
        if state != "delivered" || why.as_deref() != Some("quarantined") {
            return Err(not_quarantined(&subject));
        }
        let decides = sha256(&note);
        let now = format!("sha256:{}", hex(&decides));
        if seen != now {
            return Err(Refusal::new(
                409,
                "stale",
                format!(
                    "field `entry`: the decision was made on {}, but the quarantined protocol of {subject} is {now} now; look at it again",
                    seen.chars().take(71).collect::<String>()
                ),
            ));
        }
        let body = DecisionBody {
            election: self.election.id.clone(),
            contest: contest.to_owned(),
            station: station.to_owned(),
            decides,
            decision: kind,
            reason: reason.to_owned(),
        };
        let signed = self.signer.sign_text(&body.to_text()).to_bytes();
        let hash = hex(&sha256(&signed));
        tx.execute(
            "INSERT INTO decisions (contest, station, decision, reason, decided_by, note, state) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'signed')",
            params![contest, station, kind.as_str(), reason, u.name, signed],
        )?;
        if kind == DecisionKind::Recount {
            let revision = Note::parse(&note)
                .ok()
                .and_then(|n| ProtocolBody::parse(n.text()).ok())
                .map_or(1, |b| b.revision);
            tx.execute(
                "INSERT OR REPLACE INTO recounts (contest, station, supersedes, revision, decision) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    contest,
                    station,
                    decides.as_slice(),
                    revision.saturating_add(1),
                    hash
                ],
            )?;
            tx.execute(
                "UPDATE protocols SET state = 'entering', round = round + 1, why = NULL, log_index = NULL \
                 WHERE contest = ?1 AND station = ?2",
                params![contest, station],
            )?;
        }
        db::audit(
            &tx,
            &u.name,
            "decision",
            &subject,
            &format!(
                "{kind} of entry sha256:{}: {reason}; signed by {}; sha256:{hash}",
                hex(&decides),
                self.signer.name()
            ),
        )?;
        tx.commit()?;
        Ok(json!({
            "contest": contest,
            "station": station,
            "decision": kind.as_str(),
            "note": format!("sha256:{hash}"),
            "protocol": if kind == DecisionKind::Recount { "entering" } else { "delivered" },
        }))
    }

    /// Where a recount was ordered for this protocol, turns the agreed protocol text into the
    /// amendment superseding the quarantined entry; otherwise returns the text as it is. The
    /// recount stays open until the log stores its amendment ([`Desk::delivered`]): an
    /// amendment the log refuses and the coordinator has entered again is the amendment
    /// again, not a first protocol of a station the log already holds one of.
    pub(super) fn recount_text(
        &self,
        tx: &Connection,
        contest: &str,
        station: &str,
        text: &str,
    ) -> Result<String, Refusal> {
        let row: Option<(Vec<u8>, u32, String)> = tx
            .query_row(
                "SELECT supersedes, revision, decision FROM recounts WHERE contest = ?1 AND station = ?2",
                params![contest, station],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((supersedes, revision, decision)) = row else {
            return Ok(text.to_owned());
        };
        let supersedes: [u8; 32] = supersedes
            .try_into()
            .map_err(|_| Refusal::new(500, "storage", "a recount names no entry hash"))?;
        let mut body = ProtocolBody::parse(text)
            .map_err(|e| Refusal::new(500, "storage", format!("the agreed protocol: {e}")))?;
        body.revision = revision;
        body.kind = BodyKind::Amendment {
            supersedes,
            reason: format!("recount ordered by decision sha256:{decision}"),
        };
        Ok(body.to_text())
    }

    /// Signed decisions not yet in the log, oldest first.
    ///
    /// # Errors
    /// [`Refusal`] if the database fails.
    pub fn undelivered_decisions(&self) -> Result<Vec<PendingDecision>, Refusal> {
        let conn = self.db();
        let mut q = conn.prepare(
            "SELECT id, contest, station, note FROM decisions WHERE state = 'signed' ORDER BY id",
        )?;
        let rows = q
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Records the log's verified receipt for a decision, or (with `index` `None`) why the log
    /// refused it.
    ///
    /// # Errors
    /// [`Refusal`] if the database fails.
    pub fn decision_answered(&self, id: i64, index: Option<u64>, why: &str) -> Result<(), Refusal> {
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (contest, station): (String, String) = tx.query_row(
            "SELECT contest, station FROM decisions WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let subject = format!("{contest}/{station}");
        match index {
            Some(i) => {
                tx.execute(
                    "UPDATE decisions SET state = 'delivered', log_index = ?1, why = ?2 WHERE id = ?3",
                    params![i64::try_from(i).unwrap_or(i64::MAX), why, id],
                )?;
                db::audit(
                    &tx,
                    "-",
                    "decision-delivered",
                    &subject,
                    &format!("log entry {i}"),
                )?;
            }
            None => {
                tx.execute(
                    "UPDATE decisions SET state = 'refused', why = ?1 WHERE id = ?2",
                    params![why, id],
                )?;
                db::audit(&tx, "-", "decision-refused-by-log", &subject, why)?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

fn not_quarantined(subject: &str) -> Refusal {
    Refusal::new(
        409,
        "not-quarantined",
        format!("protocol {subject} is not in quarantine in the log (or a recount is under way)"),
    )
}
