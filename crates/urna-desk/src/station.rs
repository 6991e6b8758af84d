//! Polling-station mode (`urna station`): the desk's entry screens for one station, offline.
//!
//! The board's chair and a second member each key the station's paper protocol; equal entries
//! that pass every error rule are signed with the **station's own key** (not an authority's)
//! and written to the store-and-forward queue of `urna submit`
//! ([`urna_server::submit::Queue`]). The rules of a round are in [`crate::desk::station`].
//!
//! Delivery: with a client, the queue is sent in the background ([`spawn`]): every pass
//! sends the queued notes in order with [`SubmitClient`] (which retries each with backoff);
//! while the server cannot be reached the pause between passes doubles, up to
//! [`MAX_PAUSE`]. Stored notes move to the queue's `sent/` beside their verified receipts.
//! Without a client the queue waits; `urna submit --queue DIR --to URL` delivers it. The
//! queue is opened only for a moment each time, so both can run at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use urna_model::intake::sha256;
use urna_model::protocol::hex;
use urna_server::submit::{SubmitClient, SubmitError};

use crate::deliver::Pass;
pub use crate::desk::station::init;
use crate::desk::station::open_queue;
use crate::desk::{Desk, Refusal};

/// Longest pause between two delivery passes while the server cannot be reached.
pub const MAX_PAUSE: Duration = Duration::from_secs(60);

/// Sends every queued note once, in the order queued; the first one that gets no answer
/// stops the pass (the rest would fail alike). A note the desk signed is marked delivered
/// (or refused) in `desk.sqlite` too.
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
    let queue = open_queue(dir).map_err(queue_error)?;
    let signed = desk.undelivered()?;
    let mut pass = Pass::default();
    for q in queue.pending().map_err(queue_error)? {
        let note = q.read().map_err(queue_error)?;
        let ours = signed.iter().find(|(_, _, n)| sha256(n) == q.hash);
        match client.submit(&note) {
            Ok(stored) => {
                queue.done(&q.hash, &stored.receipt).map_err(queue_error)?;
                if let Some((contest, station, _)) = ours {
                    desk.delivered(
                        contest,
                        station,
                        stored.index,
                        &stored.receipt,
                        stored.status.as_str(),
                    )?;
                }
                pass.delivered += 1;
            }
            Err(SubmitError::Refused { code, message, .. }) => {
                let why = format!("{code}: {message}");
                queue.refuse(&q.hash, &why).map_err(queue_error)?;
                if let Some((contest, station, _)) = ours {
                    desk.refused(contest, station, &why)?;
                }
                pass.refused += 1;
            }
            Err(e) => {
                eprintln!(
                    "urna station: sha256:{} not delivered yet: {e}",
                    hex(&q.hash)
                );
                pass.waiting += 1;
                break;
            }
        }
    }
    Ok(pass)
}

/// The pause after a pass: `every` when the server answered, doubled after every pass that
/// could not reach it, up to [`MAX_PAUSE`].
pub fn next_pause(every: Duration, previous: Duration, pass: &Pass) -> Duration {
    if pass.waiting == 0 {
        every
    } else {
        (previous.max(every) * 2).min(MAX_PAUSE.max(every))
    }
}

/// Runs [`deliver_queue`] every `every` (backing off while the server is unreachable) until
/// `stop` is set, with a last pass at the stop.
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
        .name("urna-station-deliver".into())
        .spawn(move || {
            let mut pause = every;
            while !stop.load(Ordering::SeqCst) {
                match deliver_queue(&desk, &client) {
                    Ok(pass) => pause = next_pause(every, pause, &pass),
                    Err(e) => eprintln!("urna station: delivery: {}", e.message),
                }
                // Sleep in short steps, so a stop is not kept waiting by a long pause.
                let until = std::time::Instant::now() + pause;
                while !stop.load(Ordering::SeqCst) && std::time::Instant::now() < until {
                    std::thread::sleep(every.min(Duration::from_millis(100)));
                }
            }
            if let Err(e) = deliver_queue(&desk, &client) {
                eprintln!("urna station: delivery: {}", e.message);
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_doubles_while_unreachable_and_resets_when_answered() {
        let every = Duration::from_millis(500);
        let down = Pass {
            waiting: 1,
            ..Pass::default()
        };
        let mut pause = every;
        let mut seen = Vec::new();
        for _ in 0..10 {
            pause = next_pause(every, pause, &down);
            seen.push(pause.as_millis());
        }
        assert_eq!(&seen[..4], &[1000, 2000, 4000, 8000]);
        assert_eq!(*seen.last().unwrap(), MAX_PAUSE.as_millis());
        assert_eq!(next_pause(every, pause, &Pass::default()), every);
    }
}
