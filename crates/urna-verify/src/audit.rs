//! The audit re-check: every `urna/audit/v1` entry of the log, in order, checked exactly as
//! intake checks it (`urna_model::audit::check` for the signer, `urna_audit::trail` for its
//! place in the audit). For each audit the results at its checkpoint are replayed again from
//! the log's entries and the root at that size recomputed from the verified tree, so the
//! assertions, the sample drawn from the seed and the risk from the hand counts are all
//! recomputed from what the log holds. A note that does not follow is a [`Kind::Audit`]
//! discrepancy naming the entry, the field and the rule.

use std::cell::RefCell;

use urna_audit::trail::{LogView, Trail};
use urna_model::definition::Election;
use urna_tally::public::Replay;
use urna_tlog::storage::{MemoryStore, root_at};
use urna_tlog::tile::TILE_WIDTH;

use crate::log::{Counter, read_entries};
use crate::report::{Discrepancy, Kind};
use crate::source::{Source, SourceError};

struct View<'a> {
    source: &'a dyn Source,
    election: &'a Election,
    store: Option<&'a MemoryStore>,
    /// Entries the checkpoint covers: the published entry bundles are of this log's size.
    log_size: u64,
    fetched: &'a Counter,
    /// The last replay computed, by size: an audit asks for one size, several times.
    cache: RefCell<Option<(u64, Replay)>>,
}

impl LogView for View<'_> {
    fn root(&self, size: u64) -> Option<[u8; 32]> {
        let store = self.store?;
        root_at(store, urna_tlog::TreeSize(size)).ok().map(|h| h.0)
    }

    fn replay(&self, size: u64) -> Result<Replay, String> {
        if let Some((n, r)) = self.cache.borrow().as_ref()
            && *n == size
        {
            return Ok(r.clone());
        }
        let e = self.election;
        let mut replay = Replay::new(e).map_err(|err| err.to_string())?;
        let width = u64::from(TILE_WIDTH);
        let mut ignored = Vec::new();
        for n in 0..size.div_ceil(width) {
            let first = n * width;
            let w = (size - first).min(width);
            // The bundle as published (the log may have grown past `size`), cut at `size`.
            let published = (self.log_size.max(size) - first).min(width);
            let entries = read_entries(self.source, n, published, self.fetched, &mut ignored)
                .map_err(|err| err.to_string())?;
            if (entries.len() as u64) < w {
                return Err(format!("entry bundle {n} cannot be read whole"));
            }
            for (index, note) in (first..).zip(entries.iter().take(w as usize)) {
                replay
                    .apply(e, index, note)
                    .map_err(|err| err.to_string())?;
            }
        }
        *self.cache.borrow_mut() = Some((size, replay.clone()));
        Ok(replay)
    }
}

/// Re-checks the audit entries `audits` (index, note) of a log whose verified tree is
/// `store` (`None` if it could not be rebuilt) and size `log_size`. Returns the audits as
/// replayed.
pub(crate) fn check(
    source: &dyn Source,
    election: &Election,
    store: Option<&MemoryStore>,
    log_size: u64,
    audits: &[(u64, Vec<u8>)],
    fetched: &Counter,
    found: &mut Vec<Discrepancy>,
) -> Trail {
    let view = View {
        source,
        election,
        store,
        log_size,
        fetched,
        cache: RefCell::new(None),
    };
    let mut trail = Trail::default();
    for (index, bytes) in audits {
        if let Err(problem) = trail.replay(election, *index, bytes, &view) {
            let field = problem
                .split_once("field `")
                .and_then(|(_, rest)| rest.split_once('`'))
                .map(|(f, _)| f.to_owned());
            let mut d =
                Discrepancy::new(Kind::Audit, format!("entry {index}: {problem}")).index(*index);
            if let Some(f) = field {
                d = d.field(f);
            }
            found.push(d);
        }
    }
    trail
}

/// Compares `v1/audit.json` with the file recomputed from `trail` (`None`: the log holds no
/// audit, so the bundle must not have the file) and from the results of the whole log, `now`
/// (each audit says whether it still covers them; `None`: the log could not be replayed
/// whole, so the file is not recomputed). Returns whether a file was compared, and whether it
/// was identical.
///
/// # Errors
/// [`SourceError`] if the source fails.
pub(crate) fn compare_file(
    source: &dyn Source,
    election: &Election,
    trail: Option<&Trail>,
    now: Option<&Replay>,
    found: &mut Vec<Discrepancy>,
) -> Result<Option<bool>, SourceError> {
    let path = urna_audit::public::AUDIT_JSON;
    let Some(trail) = trail else {
        // Only whether it is there: opened, not read (a mirror's gigabyte is not held).
        if source.reader(path)?.is_some() {
            found.push(
                Discrepancy::new(
                    Kind::FileUnexpected,
                    format!("{path}: published, but the log holds no audit"),
                )
                .file(path),
            );
        }
        return Ok(None);
    };
    let Some(now) = now else {
        found.push(Discrepancy::new(
            Kind::NotRecomputed,
            format!(
                "{path} cannot be recomputed: the log's results cannot be replayed whole, and the file says whether each audit still covers them"
            ),
        ));
        return Ok(Some(false));
    };
    match urna_audit::public::render(election, trail, now) {
        Ok(expected) => match crate::compare_file(source, path, &expected)? {
            Some(d) => {
                found.push(d);
                Ok(Some(false))
            }
            None => Ok(Some(true)),
        },
        Err(err) => {
            found.push(Discrepancy::new(
                Kind::NotRecomputed,
                format!("{path} cannot be recomputed: {err}"),
            ));
            Ok(Some(false))
        }
    }
}
