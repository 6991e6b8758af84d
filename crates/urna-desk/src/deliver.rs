//! Delivery of signed notes to `urna serve`.
//!
//! Why forward rather than write the data directory's store directly: the store has exactly
//! one writer, `urna serve`'s intake thread, which sequences the log; a second process
//! ingesting into the same directory would race it. And a desk need not run on the server's
//! machine. "Acknowledged never lost" holds at each step: the note is committed to
//! `desk.sqlite` (WAL, `synchronous=FULL`) in the transaction that marks the protocol signed,
//! before anyone is told; it stays `signed` until the log's receipt, signed by the pinned log
//! key and naming the note's SHA-256, has been verified; retrying is safe because the server
//! answers a note it already holds with the same index.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use urna_server::submit::{Stored, SubmitClient, SubmitError};

use crate::desk::{Desk, Refusal};

/// What one pass over the undelivered notes did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Stored by the log, receipt verified.
    pub delivered: usize,
    /// Refused by the log (kept at the desk with the reason).
    pub refused: usize,
    /// Not reached this time; tried again on the next pass.
    pub waiting: usize,
}

/// Sends one note and records the log's answer with `stored` or `refused` (the log's code
/// and message), counting it in `pass`. `false` when the server gave no answer (said on
/// stderr, naming `what`): the notes after it would fail alike.
///
/// # Errors
/// What `stored` or `refused` returns.
pub(crate) fn send_one(
    client: &SubmitClient,
    note: &[u8],
    what: &str,
    pass: &mut Pass,
    stored: impl FnOnce(&Stored) -> Result<(), Refusal>,
    refused: impl FnOnce(&str) -> Result<(), Refusal>,
) -> Result<bool, Refusal> {
    match client.submit(note) {
        Ok(s) => {
            stored(&s)?;
            pass.delivered += 1;
        }
        Err(SubmitError::Refused { code, message, .. }) => {
            refused(&format!("{code}: {message}"))?;
            pass.refused += 1;
        }
        Err(e) => {
            eprintln!("{what} not delivered yet: {e}");
            pass.waiting += 1;
            return Ok(false);
        }
    }
    Ok(true)
}

/// Sends every signed, undelivered note once.
///
/// # Errors
/// [`Refusal`] if the desk's database fails.
pub fn deliver_pending(desk: &Desk, client: &SubmitClient) -> Result<Pass, Refusal> {
    let mut pass = Pass::default();
    // Decisions first: a recount's decision reaches the log before its amendment.
    for (id, contest, station, note) in desk.undelivered_decisions()? {
        let answered = send_one(
            client,
            &note,
            &format!("urna desk: decision on {contest}/{station}"),
            &mut pass,
            |s| desk.decision_answered(id, Some(s.index), s.status.as_str()),
            |why| desk.decision_answered(id, None, why),
        )?;
        if !answered {
            return Ok(pass);
        }
    }
    for (contest, station, note) in desk.undelivered()? {
        let what = format!("urna desk: {contest}/{station}");
        // The scan goes once its note is stored (the server takes only scans a stored note
        // names); until the server has it the note counts as waiting, and the next pass sends
        // both again (the note then as a duplicate).
        let mut scan_waiting = false;
        let answered = send_one(
            client,
            &note,
            &what,
            &mut pass,
            |s| {
                if let Err(e) = deliver_scan(desk, client, &note, &format!("{contest}/{station}")) {
                    eprintln!("{what}: its scan not delivered yet: {e}");
                    scan_waiting = true;
                    return Ok(());
                }
                let status = if s.same_text {
                    "duplicate: the log holds this text under other signatures"
                } else {
                    s.status.as_str()
                };
                desk.delivered(&contest, &station, s.index, &s.receipt, status)
            },
            |why| desk.refused(&contest, &station, why),
        )?;
        if scan_waiting {
            pass.delivered -= 1;
            pass.waiting += 1;
        }
        if !answered || scan_waiting {
            // The server is unreachable or misbehaving: the rest would fail alike.
            break;
        }
    }
    Ok(pass)
}

/// Sends the scan `note` names, if any, from the desk's store. A refusal, which sending again
/// will not change, is written to the desk's audit trail (`scan-refused`, naming `subject`,
/// the scan and the server's reason), where the coordinator sees it.
fn deliver_scan(
    desk: &Desk,
    client: &SubmitClient,
    note: &[u8],
    subject: &str,
) -> Result<(), String> {
    let Some(scan) = urna_model::scan::named_scan(note) else {
        return Ok(());
    };
    let hash = urna_model::protocol::hex(&scan);
    let Some((_, bytes)) = desk.scan(&hash).map_err(|e| e.message)? else {
        // Signed with a scan the desk no longer holds: nothing to send, and nothing to wait for.
        eprintln!("urna desk: the scan sha256:{hash} a signed note names is not in desk.sqlite");
        return Ok(());
    };
    if let Some(why) = send_scan(client, &bytes)? {
        desk.scan_refused(subject, &hash, &why)
            .map_err(|e| e.message)?;
    }
    Ok(())
}

/// Sends a scan whose note is stored. `Err` when the server gave no answer (send it again
/// later); `Ok(Some(reason))` when it refused the scan, which sending again will not change
/// (also said on stderr).
pub(crate) fn send_scan(client: &SubmitClient, scan: &[u8]) -> Result<Option<String>, String> {
    match client.put_scan(scan) {
        Ok(_) => Ok(None),
        Err(SubmitError::Refused { code, message, .. }) => {
            let hash = urna_model::protocol::hex(&urna_model::intake::sha256(scan));
            eprintln!("the server refused scan sha256:{hash}: {code}: {message}");
            Ok(Some(format!("{code}: {message}")))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// One delivery pass: [`deliver_pending`], or a station's [`crate::station::deliver_queue`].
pub type PassFn = fn(&Desk, &SubmitClient) -> Result<Pass, Refusal>;

/// A delivery thread: one pass every `every`; while a pass leaves notes waiting (the server
/// cannot be reached), the pause doubles, up to `max_pause`.
#[derive(Debug, Clone, Copy)]
pub struct Passes {
    /// The thread's name.
    pub thread: &'static str,
    /// Who says so on stderr when a pass fails.
    pub who: &'static str,
    /// The pause after a pass that reached the server.
    pub every: Duration,
    /// The longest pause.
    pub max_pause: Duration,
}

impl Passes {
    /// The pause after `pass`, `previous` the one before it.
    pub fn next_pause(&self, previous: Duration, pass: &Pass) -> Duration {
        if pass.waiting == 0 {
            self.every
        } else {
            (previous.max(self.every) * 2).min(self.max_pause.max(self.every))
        }
    }

    /// Runs `pass` until `stop` is set, with a last pass at the stop, so notes signed just
    /// before it are not left waiting.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn spawn(
        self,
        desk: Arc<Desk>,
        client: SubmitClient,
        stop: Arc<AtomicBool>,
        pass: PassFn,
    ) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name(self.thread.into())
            .spawn(move || {
                let mut pause = self.every;
                while !stop.load(Ordering::SeqCst) {
                    match pass(&desk, &client) {
                        Ok(p) => pause = self.next_pause(pause, &p),
                        Err(e) => eprintln!("{}: delivery: {}", self.who, e.message),
                    }
                    // In short steps, so a stop is not kept waiting by a long pause.
                    let until = std::time::Instant::now() + pause;
                    while !stop.load(Ordering::SeqCst) && std::time::Instant::now() < until {
                        std::thread::sleep(self.every.min(Duration::from_millis(100)));
                    }
                }
                if let Err(e) = pass(&desk, &client) {
                    eprintln!("{}: delivery: {}", self.who, e.message);
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_doubles_while_unreachable_and_resets_when_answered() {
        let passes = Passes {
            thread: "t",
            who: "t",
            every: Duration::from_millis(500),
            max_pause: Duration::from_secs(60),
        };
        let down = Pass {
            waiting: 1,
            ..Pass::default()
        };
        let mut pause = passes.every;
        let mut seen = Vec::new();
        for _ in 0..10 {
            pause = passes.next_pause(pause, &down);
            seen.push(pause.as_millis());
        }
        assert_eq!(&seen[..4], &[1000, 2000, 4000, 8000]);
        assert_eq!(*seen.last().unwrap(), 60_000);
        assert_eq!(passes.next_pause(pause, &Pass::default()), passes.every);
        // A desk's passes (max_pause = every) never back off.
        let flat = Passes {
            max_pause: passes.every,
            ..passes
        };
        assert_eq!(flat.next_pause(flat.every, &down), flat.every);
    }
}
