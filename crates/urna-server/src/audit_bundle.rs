//! `v1/audit.json` of a bundle generation: the log's `urna/audit/v1` entries replayed through
//! `urna-audit`'s trail (the same code intake and `urna verify` run) and rendered with
//! `urna_audit::public::render`. The roots of the audited checkpoints come from the bundle's
//! own tiles and the audited results from the store's entries, so the file says
//! only what the published log says.

use std::path::Path;

use urna_audit::trail::{LogView, Trail};
use urna_model::definition::Election;
use urna_tally::public::Replay;
use urna_tlog::{TileDir, TileHashReader, TreeSize};

use crate::bundle::{BundleError, BundleSource};

struct View<'a> {
    out: &'a Path,
    size: u64,
    election: &'a Election,
    source: &'a dyn BundleSource,
}

impl LogView for View<'_> {
    fn root(&self, size: u64) -> Option<[u8; 32]> {
        if size > self.size {
            return None;
        }
        let tiles = TileDir::open(self.out).ok()?;
        let reader = TileHashReader::new(&tiles, TreeSize(self.size));
        urna_tlog::storage::root_at(&reader, TreeSize(size))
            .ok()
            .map(|h| h.0)
    }

    fn replay(&self, size: u64) -> Result<Replay, String> {
        let e = self.election;
        let mut replay = Replay::new(e).map_err(|err| err.to_string())?;
        let notes = self.source.read(0, size).map_err(|err| err.to_string())?;
        for (index, note) in (0..).zip(&notes) {
            replay
                .apply(e, index, note)
                .map_err(|err| err.to_string())?;
        }
        Ok(replay)
    }
}

/// The file's bytes for a generation of `size` entries whose audit entries are `audits` and
/// whose results are `now` (each audit says whether it still covers them); `None` when the
/// log holds no audit.
///
/// An audit entry that does not follow (intake refuses such a note, so only a data directory
/// edited outside urna holds one) is listed among the file's refused entries.
///
/// # Errors
/// [`BundleError::Log`] if the file cannot be rendered.
pub(crate) fn render(
    out: &Path,
    size: u64,
    election: &Election,
    source: &dyn BundleSource,
    audits: &[(u64, Vec<u8>)],
    now: &Replay,
) -> Result<Option<Vec<u8>>, BundleError> {
    let audits: Vec<&(u64, Vec<u8>)> = audits.iter().filter(|(i, _)| *i < size).collect();
    if audits.is_empty() {
        return Ok(None);
    }
    let view = View {
        out,
        size,
        election,
        source,
    };
    let mut trail = Trail::default();
    for (index, bytes) in audits {
        // A refused entry is listed in the file, as `urna verify` lists it: the log is
        // published as it is.
        let _ = trail.replay(election, *index, bytes, &view);
    }
    urna_audit::public::render(election, &trail, now)
        .map(Some)
        .map_err(|err| BundleError::Log(format!("{}: {err}", urna_audit::public::AUDIT_JSON)))
}
