//! A data directory opened for reading: as its writer when no other process holds it (the
//! open rebuilds and checks the database against the log), or read-only beside the process
//! that does (`urna serve`), for `urna tally`, `urna seats --data` and `urna log …`.

use std::path::Path;

use anyhow::{Context, Result};
use urna_model::definition::{ContestIdx, Election};
use urna_store::view::StoreView;
use urna_store::{EntryRow, Store, StoreError, TallyReport};
use urna_tlog::hash::Hash;

/// A data directory opened by its writer, or read-only beside it.
pub(crate) enum Reading {
    /// Nobody else holds the directory: opened as its writer.
    Writer(Box<Store>),
    /// Another process holds it: read-only, from its committed rows and its log files.
    View(Box<StoreView>),
}

impl Reading {
    /// Opens `data` as its writer, or, when another process holds it, read-only, saying so
    /// on standard error.
    pub(crate) fn open(data: &Path) -> Result<Self> {
        match Store::open(data) {
            Ok(store) => Ok(Self::Writer(Box::new(store))),
            Err(err @ StoreError::InUse { .. }) => {
                eprintln!("urna: note: {err}; reading it read-only: the entries committed so far");
                let view = StoreView::open(data)
                    .with_context(|| format!("opening {} read-only", data.display()))?;
                Ok(Self::View(Box::new(view)))
            }
            Err(err) => Err(err).with_context(|| format!("opening {}", data.display())),
        }
    }

    /// The election definition.
    pub(crate) fn election(&self) -> &Election {
        match self {
            Self::Writer(s) => s.election(),
            Self::View(v) => v.election(),
        }
    }

    /// The data directory.
    pub(crate) fn dir(&self) -> &Path {
        match self {
            Self::Writer(s) => s.dir(),
            Self::View(v) => v.dir(),
        }
    }

    /// The log's origin line.
    pub(crate) fn log_origin(&self) -> &str {
        match self {
            Self::Writer(s) => s.log_origin(),
            Self::View(v) => v.log().origin(),
        }
    }

    /// The log's verifier key.
    pub(crate) fn log_vkey(&self) -> String {
        match self {
            Self::Writer(s) => s.log_vkey(),
            Self::View(v) => v.log().vkey(),
        }
    }

    /// The tally of every contest, in definition order.
    pub(crate) fn tallies(&mut self) -> Result<Vec<TallyReport>> {
        match self {
            Self::Writer(s) => (0..s.election().contests.len())
                .map(|c| Ok(s.tally(ContestIdx(u16::try_from(c)?))?))
                .collect(),
            Self::View(v) => Ok(v.tallies()?),
        }
    }

    /// The entry at `index`, if stored.
    pub(crate) fn entry(&self, index: u64) -> Result<Option<EntryRow>> {
        Ok(match self {
            Self::Writer(s) => s.entry(index)?,
            Self::View(v) => v.entry(index)?,
        })
    }

    /// The current entry of a station, if it has one.
    pub(crate) fn current_entry_of(&self, station: &str) -> Result<Option<EntryRow>> {
        Ok(match self {
            Self::Writer(s) => s.current_entry_of(station)?,
            Self::View(v) => v.current_entry_of(station)?,
        })
    }

    /// Inclusion proof of entry `index` in the tree of `size` entries.
    pub(crate) fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>> {
        Ok(match self {
            Self::Writer(s) => s.inclusion_proof(index, size)?,
            Self::View(v) => v.log().inclusion_proof(index, size)?,
        })
    }

    /// Consistency proof from `old` to `new` entries.
    pub(crate) fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>> {
        Ok(match self {
            Self::Writer(s) => s.consistency_proof(old, new)?,
            Self::View(v) => v.log().consistency_proof(old, new)?,
        })
    }

    /// The root of the log's first `size` entries, within the tree of `tree` entries.
    pub(crate) fn log_root(&self, size: u64, tree: u64) -> Result<Hash> {
        Ok(match self {
            Self::Writer(s) => s.log_root(size)?,
            Self::View(v) => v.log().root_at(size, tree)?,
        })
    }
}
