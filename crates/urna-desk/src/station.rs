//! Polling-station mode (`urna station`): the desk's entry screens for one station, offline.
//!
//! The board's chair and a second member each key the station's paper protocol; equal entries
//! that pass every error rule are signed with the **station's own key** (not an authority's)
//! and written to the store-and-forward queue of `urna submit`
//! ([`urna_server::submit::Queue`]). The rules of a round are in [`crate::desk::station`].
//!
//! Delivery: with a client, the queue is sent in the background ([`crate::run`]): every pass
//! sends the queued notes in order with [`SubmitClient`] (which retries each with backoff);
//! while the server cannot be reached the pause between passes doubles, up to
//! [`MAX_PAUSE`]. Stored notes move to the queue's `sent/` beside their verified receipts.
//! Without a client the queue waits; `urna submit --queue DIR --to URL` delivers it. The
//! queue is opened only for a moment each time, so both can run at once.

use std::time::Duration;

use urna_model::intake::sha256;
use urna_model::protocol::hex;
use urna_server::submit::{QueueAnswer, SubmitClient, verify_receipt};

use crate::deliver::{Pass, send_one};
pub use crate::desk::station::init;
use crate::desk::station::open_queue;
use crate::desk::{Desk, Refusal};

/// Longest pause between two delivery passes while the server cannot be reached.
pub const MAX_PAUSE: Duration = Duration::from_secs(60);

/// Set to a file path, delivery creates that file once the log's receipt is recorded in
/// `desk.sqlite` and then waits, the note still in the queue, for the process to be killed:
/// the crash point between the two writes of a delivery, for the end-to-end test that kills
/// the real process there. Unset, it costs one look-up per delivered note.
pub const HOLD_AFTER_DELIVERED_ENV: &str = "URNA_TEST_STATION_HOLD_AFTER_DELIVERED";

/// A note the desk signed and has not seen delivered: `(contest, station, note)`.
type Signed = (String, String, Vec<u8>);

/// A queued note read for a pass: its hash, its bytes and the scan it names, if queued.
struct Queued {
    hash: [u8; 32],
    note: Vec<u8>,
    scan: Option<Vec<u8>>,
}

/// Sends every queued note once, in the order queued; the first one that gets no answer
/// stops the pass (the rest would fail alike). A note the desk signed is marked delivered
/// (or refused) in `desk.sqlite`, with its audit-trail line, before it leaves the queue; one
/// that left the queue without the desk (`urna submit --queue`) is marked from the receipt or
/// reason kept there.
///
/// # Errors
/// [`Refusal`] if the desk's database or the queue fails.
pub fn deliver_queue(desk: &Desk, client: &SubmitClient) -> Result<Pass, Refusal> {
    let Some(dir) = desk.station_queue() else {
        return Ok(Pass::default());
    };
    let queue_error = |e: urna_server::submit::QueueError| Refusal {
        status: 503,
        code: "queue",
        message: format!("the queue: {e}"),
    };
    // The queue is held only to read it and, after an answer, to move a note out: never while
    // a request waits on the network (a pass may retry for a minute against a server that does
    // not answer), so the board's next signature and `urna submit --queue` can take it meanwhile.
    let pending: Vec<Queued> = {
        let queue = open_queue(dir).map_err(queue_error)?;
        let mut pending = Vec::new();
        for q in queue.pending().map_err(queue_error)? {
            // A file that cannot be read, or is not the note its name says (edited, or copied
            // in by hand under another name), is left where it is and said on every pass, as
            // `urna submit --queue` does: it must not hold up the notes queued beside it.
            match q.read() {
                Ok(note) => {
                    let scan = queue.scan_of(&note);
                    pending.push(Queued {
                        hash: q.hash,
                        note,
                        scan,
                    });
                }
                Err(e) => eprintln!("urna station: delivery: the queue: {e}"),
            }
        }
        pending
    };
    // Read after the queue, and without holding it: a signature writes the queue inside its
    // database transaction, so every note read there is a signed row here by now (holding
    // the queue while waiting for the database could deadlock with a signature).
    let signed = desk.undelivered()?;
    // Notes the desk signed that left the queue without it: `urna submit --queue` delivered
    // them (or a desk before this one stopped between the two).
    let answered: Vec<(&Signed, QueueAnswer)> = {
        let queue = open_queue(dir).map_err(queue_error)?;
        signed
            .iter()
            .filter_map(|s| queue.answer(&sha256(&s.2)).map(|a| (s, a)))
            .collect()
    };
    for ((contest, station, note), answer) in answered {
        match answer {
            QueueAnswer::Stored(receipt) => {
                if let Some(index) = kept_receipt(client, note, &receipt) {
                    desk.delivered(
                        contest,
                        station,
                        index,
                        &receipt,
                        "stored; its receipt found in the queue",
                    )?;
                }
            }
            QueueAnswer::Refused(why) => desk.refused(contest, station, &why)?,
        }
    }
    let mut pass = Pass::default();
    for Queued { hash, note, scan } in pending {
        let ours = signed.iter().find(|(_, _, n)| sha256(n) == hash);
        let what = format!("urna station: sha256:{}", hex(&hash));
        let mut scan_waiting = false;
        let answered = send_one(
            client,
            &note,
            &what,
            &mut pass,
            |stored| {
                // The scan goes once its note is stored; until the server has it the note
                // stays queued, and the next pass sends both again.
                if let Some(scan) = &scan
                    && let Err(e) = crate::deliver::send_scan(client, scan)
                {
                    eprintln!("{what}: its scan not delivered yet: {e}");
                    scan_waiting = true;
                    return Ok(());
                }
                // Recorded in `desk.sqlite` (and its audit trail) before the note leaves the
                // queue, so a desk that shows it delivered has said so in its trail: stopped in
                // between, the note is sent again and the log answers it with the same entry.
                if let Some((contest, station, _)) = ours {
                    desk.delivered(
                        contest,
                        station,
                        stored.index,
                        &stored.receipt,
                        stored.status.as_str(),
                    )?;
                }
                if let Some(marker) = std::env::var_os(HOLD_AFTER_DELIVERED_ENV) {
                    // The test's crash point: delivery recorded, the note still queued.
                    let _ = std::fs::write(marker, hex(&hash));
                    loop {
                        std::thread::sleep(Duration::from_secs(60));
                    }
                }
                // Moved out even if `urna submit --queue` delivered it meanwhile: `done` of a
                // note already sent only rewrites its receipt.
                open_queue(dir)
                    .and_then(|queue| queue.done(&hash, &stored.receipt))
                    .map_err(queue_error)
            },
            |why| {
                if let Some((contest, station, _)) = ours {
                    desk.refused(contest, station, why)?;
                }
                open_queue(dir)
                    .and_then(|queue| queue.refuse(&hash, why))
                    .map_err(queue_error)
            },
        )?;
        if scan_waiting {
            pass.delivered -= 1;
            pass.waiting += 1;
        }
        if !answered || scan_waiting {
            break;
        }
    }
    Ok(pass)
}

/// The entry index of `receipt`, kept in the queue for `note`, if it is the log's signed
/// receipt for exactly this note (a receipt naming another note with the same text, or not
/// signed by the pinned log key, is not taken).
fn kept_receipt(client: &SubmitClient, note: &[u8], receipt: &[u8]) -> Option<u64> {
    let signed = urna_model::note::Note::parse(receipt).ok()?;
    let index = urna_model::receipt::Receipt::parse(signed.text())
        .ok()?
        .index;
    verify_receipt(client.log_key(), note, index, receipt)
        .ok()
        .map(|r| r.index)
}
