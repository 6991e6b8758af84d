//! The public bundle of a PostgreSQL store (crate `urna_pg`, docs/ARCHITECTURE.md §5.1):
//! [`PgSource`] is the [`BundleSource`] that [`crate::bundle::BundleWriter`] reads, so
//! `urna publish --store postgres://…` writes the same files as from a data directory and
//! `urna verify` checks them the same way.
//!
//! - **Open** ([`PgSource::open`], `urna publish --store`) first opens the store as every node
//!   does ([`urna_pg::PgStore::open`]): every row re-derived from its note, the tree checked
//!   against the last signed checkpoint, the derived tables compared. A database edited outside
//!   urna is refused before a file is written. A node that keeps its bundle current
//!   (`urna serve --store … --bundle DIR`, [`crate::pg_serve`]) has just done that open itself
//!   and takes [`PgSource::after_open`], which checks nothing more at open; either way the
//!   writer then reads only the entries its bundle does not cover yet, and checks them.
//! - **Checkpoint**: the published one ([`urna_pg::PgReader::published_checkpoint`]), its
//!   signature checked with the log key each time it is read. With a witness policy (`urna init
//!   --store … --witnesses FILE`) that is the latest checkpoint a quorum of the witnesses
//!   cosigned (table `published`, [`crate::publish::publish_pg`]), and `v1/keys.json` names the
//!   policy's witnesses and quorum, so `urna verify` checks the cosignatures (the policy that
//!   cosigned that checkpoint, read with it: after `urna log witnesses --store` changed the
//!   policy, the checkpoint published before keeps its own until the next round replaces
//!   it); without one it is
//!   the sequencer's own (table `sequencer`), with the log's signature alone (quorum 0).
//! - **Entries** and **tiles** are read from tables `entries` and `tiles`; the writer checks
//!   both against the checkpoint's root, as it does for a data directory. Tiles are written into
//!   the bundle (a database has no files to link); one already there must hold the same bytes.
//! - **Scans** of paper protocols a logged note names are read from table `scans` (taken by
//!   any node at `PUT /v1/scans/<sha256>`, [`crate::pg_serve`]) and published as
//!   `blob/sha256/<hex>`, as from a data directory's `scans/`; the writer publishes only bytes
//!   that hash to the name, and a scan not stored yet is published by a later generation.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use urna_model::note::{NoteSigner, NoteVerifier};
use urna_pg::{PgError, PgReader, PgStore};

use crate::bundle::{BundleError, BundleSource, place_tile_bytes};

/// Where the checkpoint is, in messages.
const CHECKPOINT_LOCATION: &str =
    "PostgreSQL table `published` (with a witness policy) or `sequencer`, column `checkpoint`";

/// A PostgreSQL store as a [`BundleSource`].
pub struct PgSource {
    url: String,
    /// `None` after a read failed: the next read connects again.
    reader: Mutex<Option<PgReader>>,
    definition: PathBuf,
    origin: String,
    verifier: NoteVerifier,
    /// The policy that cosigned the checkpoint [`BundleSource::published_checkpoint`] last
    /// returned, read with it: what `v1/keys.json` of that generation names, even if the
    /// policy changed since.
    cosigned_under: Mutex<Option<Option<crate::WitnessPolicy>>>,
}

impl std::fmt::Debug for PgSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSource")
            .field("definition", &self.definition)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl PgSource {
    /// Opens the store at `url` for the election of `definition` with the log key `signer`,
    /// checking every row as [`PgStore::open`] does, then reads it on a connection of its own.
    ///
    /// # Errors
    /// [`PgError`] if the database cannot be reached, holds another election, or was edited
    /// outside urna (naming the first row that disagrees).
    pub fn open(url: &str, definition: &Path, signer: NoteSigner) -> Result<Self, PgError> {
        let verifier = signer.verifier();
        drop(PgStore::open(url, definition, signer)?);
        Self::after_open(url, definition, &verifier)
    }

    /// The source of a node that has just opened the store itself ([`PgStore::open`] checked
    /// every row then): it connects a reader and checks nothing more at open. Each generation
    /// then reads only the entries the last one had not covered, and
    /// [`crate::bundle::BundleWriter::update`] checks them (every entry hashed into the tree
    /// that must give the published checkpoint's root, every tile added against it), so a
    /// node keeps its bundle current at the cost of what is new, not of the whole log.
    ///
    /// A read that fails (the database restarted, the network) drops the connection; the
    /// next read connects again.
    ///
    /// # Errors
    /// [`PgError`] if the database cannot be reached.
    pub fn after_open(
        url: &str,
        definition: &Path,
        verifier: &NoteVerifier,
    ) -> Result<Self, PgError> {
        Ok(Self {
            url: url.to_owned(),
            reader: Mutex::new(Some(PgReader::connect(url)?)),
            definition: definition.to_owned(),
            origin: verifier.name().to_owned(),
            verifier: verifier.clone(),
            cosigned_under: Mutex::new(None),
        })
    }

    /// Runs `f` on the reader, connecting first if the last read failed; a failure drops
    /// the connection.
    fn with_reader<T, E: From<PgError>>(
        &self,
        f: impl FnOnce(&mut PgReader) -> Result<T, E>,
    ) -> Result<T, E> {
        // A panic while reading leaves nothing half-done in the reader: keep using it.
        let mut slot = self
            .reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(PgReader::connect(&self.url)?);
        }
        let Some(reader) = slot.as_mut() else {
            unreachable!("connected just above")
        };
        let read = f(reader);
        if read.is_err() {
            *slot = None;
        }
        read
    }
}

impl BundleSource for PgSource {
    fn definition(&self) -> &Path {
        &self.definition
    }

    fn definition_sha256(&self) -> Result<String, BundleError> {
        Ok(self
            .with_reader(|r| r.meta("definition_sha256"))?
            .unwrap_or_default())
    }

    fn checkpoint_location(&self) -> String {
        CHECKPOINT_LOCATION.to_owned()
    }

    fn log_vkey(&self) -> Result<String, BundleError> {
        Ok(self.verifier.to_vkey())
    }

    fn published_checkpoint(&self) -> Result<Option<Vec<u8>>, BundleError> {
        // With a witness policy, cosigned by its quorum ([`crate::publish::pg_published`]),
        // and that policy kept for `witness_policy`.
        let Some((note, policy)) = self
            .with_reader(crate::publish::pg_published_under)
            .map_err(|e| BundleError::Checkpoint {
                location: CHECKPOINT_LOCATION.to_owned(),
                reason: e.to_string(),
            })?
        else {
            return Ok(None);
        };
        *self
            .cosigned_under
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(policy);
        urna_tlog::checkpoint::open(&note, &self.origin, &self.verifier).map_err(|e| {
            BundleError::Checkpoint {
                location: CHECKPOINT_LOCATION.to_owned(),
                reason: format!("not signed by the log key: {e}"),
            }
        })?;
        Ok(Some(note))
    }

    fn read(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, BundleError> {
        Ok(self.with_reader(|r| r.notes(from, to))?)
    }

    fn place_tile(&self, rel: &str, dst: &Path) -> Result<bool, BundleError> {
        let Some(bytes) = self.with_reader(|r| r.tile(rel))? else {
            return Err(BundleError::Log(format!(
                "PostgreSQL table `tiles` holds no {rel}, which the checkpoint needs"
            )));
        };
        place_tile_bytes(rel, &bytes, dst)
    }

    fn scan(&self, sha: &[u8; 32]) -> Result<Option<Vec<u8>>, BundleError> {
        Ok(self.with_reader(|r| r.scan(sha))?)
    }

    fn witness_policy(&self) -> Result<Option<crate::WitnessPolicy>, BundleError> {
        // The policy of the checkpoint last read; the one in force before any was read.
        let read = self
            .cosigned_under
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match read {
            Some(policy) => Ok(policy),
            None => Ok(self.with_reader(crate::publish::pg_policy)?),
        }
    }
}
