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

use urna_server::submit::{SubmitClient, SubmitError};

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

/// Sends every signed, undelivered note once.
///
/// # Errors
/// [`Refusal`] if the desk's database fails.
pub fn deliver_pending(desk: &Desk, client: &SubmitClient) -> Result<Pass, Refusal> {
    let mut pass = Pass::default();
    // Decisions first: a recount's decision reaches the log before its amendment.
    for (id, contest, station, note) in desk.undelivered_decisions()? {
        match client.submit(&note) {
            Ok(stored) => {
                desk.decision_answered(id, Some(stored.index), stored.status.as_str())?;
                pass.delivered += 1;
            }
            Err(SubmitError::Refused { code, message, .. }) => {
                desk.decision_answered(id, None, &format!("{code}: {message}"))?;
                pass.refused += 1;
            }
            Err(e) => {
                eprintln!("urna desk: decision on {contest}/{station} not delivered yet: {e}");
                pass.waiting += 1;
                return Ok(pass);
            }
        }
    }
    for (contest, station, note) in desk.undelivered()? {
        match client.submit(&note) {
            Ok(stored) => {
                // The scan goes once its note is stored (the server takes only scans a stored
                // note names); until it is there the note counts as undelivered, and the next
                // pass sends both again (the note then as a duplicate).
                if let Err(e) = deliver_scan(desk, client, &note) {
                    eprintln!("urna desk: scan of {contest}/{station} not delivered yet: {e}");
                    pass.waiting += 1;
                    break;
                }
                desk.delivered(
                    &contest,
                    &station,
                    stored.index,
                    &stored.receipt,
                    stored.status.as_str(),
                )?;
                pass.delivered += 1;
            }
            Err(SubmitError::Refused { code, message, .. }) => {
                desk.refused(&contest, &station, &format!("{code}: {message}"))?;
                pass.refused += 1;
            }
            Err(e) => {
                eprintln!("urna desk: {contest}/{station} not delivered yet: {e}");
                pass.waiting += 1;
                // The server is unreachable or misbehaving: the rest would fail alike.
                break;
            }
        }
    }
    Ok(pass)
}

/// Sends the scan `note` names, if any, from the desk's store.
fn deliver_scan(desk: &Desk, client: &SubmitClient, note: &[u8]) -> Result<(), String> {
    let Some(scan) = urna_model::scan::named_scan(note) else {
        return Ok(());
    };
    let hash = urna_model::protocol::hex(&scan);
    let Some((_, bytes)) = desk.scan(&hash).map_err(|e| e.message)? else {
        // Signed with a scan the desk no longer holds: nothing to send, and nothing to wait for.
        eprintln!("urna desk: the scan sha256:{hash} a signed note names is not in desk.sqlite");
        return Ok(());
    };
    match client.put_scan(&bytes) {
        Ok(_) => Ok(()),
        Err(SubmitError::Refused { code, message, .. }) => {
            // Sending again will not change a refusal: say so and go on.
            eprintln!("urna desk: the server refused scan sha256:{hash}: {code}: {message}");
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Runs [`deliver_pending`] every `every` until `stop` is set.
///
/// # Errors
/// The thread cannot be started.
pub fn spawn(
    desk: Arc<Desk>,
    client: SubmitClient,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("urna-desk-deliver".into())
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if let Err(e) = deliver_pending(&desk, &client) {
                    eprintln!("urna desk: delivery: {}", e.message);
                }
                std::thread::sleep(every);
            }
            // A last pass, so notes signed just before the stop are not left waiting.
            if let Err(e) = deliver_pending(&desk, &client) {
                eprintln!("urna desk: delivery: {}", e.message);
            }
        })
}
