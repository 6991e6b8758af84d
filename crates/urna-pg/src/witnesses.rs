//! Witnesses cosigning the log on PostgreSQL: the policy, each witness's last cosigned size and
//! the published (cosigned) checkpoint live in the database (migration `0003_witnesses.sql`),
//! so that every node agrees on them and a node that takes over the sequencer's lease goes on
//! from where the last one stopped.
//!
//! This crate stores and reads; it does not speak HTTP. A publication round
//! ([`publish_round`]) locks the `published` row, hands the latest signed checkpoint, the
//! witnesses' sizes and a consistency-proof function over the `tiles` table to the caller's
//! `cosign` (in `urna_server`, the SQLite path's `collect_cosignatures`), then stores the sizes
//! and, if the caller returns a cosigned note of the log, publishes it.

use std::cell::RefCell;
use std::collections::BTreeMap;

use postgres::{Client, GenericClient};
use urna_model::note::NoteVerifier;
use urna_tlog::storage::ReadError;
use urna_tlog::tile::{Tile, TileHashReader, TileSource};
use urna_tlog::{Hash, TreeSize};

use crate::{PgError, from_sql, to_sql};

/// The witness policy as stored: the TOML text of the policy file and its `ca_cert` resolved
/// to an absolute path (if it names one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicy {
    /// The policy file's text (`quorum = k`, `[[witness]]` tables).
    pub toml: String,
    /// The CA certificates file, absolute.
    pub ca_cert: Option<String>,
}

/// Sets the witness policy at init (replacing one set before, with no record of it: for a
/// store that has published nothing under it). The caller checks the text first; the database
/// keeps it as given. A live store's policy is changed with [`change_policy`].
///
/// # Errors
/// [`PgError::Db`].
pub fn set_policy(client: &mut impl GenericClient, policy: &StoredPolicy) -> Result<(), PgError> {
    client.execute(
        "INSERT INTO witness_policy (policy, ca_cert) VALUES ($1, $2) \
         ON CONFLICT (one) DO UPDATE SET policy = EXCLUDED.policy, ca_cert = EXCLUDED.ca_cert",
        &[&policy.toml, &policy.ca_cert],
    )?;
    Ok(())
}

/// The witness policy, if one was set.
///
/// # Errors
/// [`PgError::Db`].
pub fn policy(client: &mut impl GenericClient) -> Result<Option<StoredPolicy>, PgError> {
    Ok(client
        .query_opt("SELECT policy, ca_cert FROM witness_policy", &[])?
        .map(|r| StoredPolicy {
            toml: r.get(0),
            ca_cert: r.get(1),
        }))
}

/// Replaces the witness policy of a live store (`urna log witnesses --store …`) with `new`,
/// in one transaction under the `published` row's lock, so that it falls between two
/// publication rounds and none in flight publishes under the policy it replaces; returns the
/// policy it replaced. The checkpoint published at that moment stays published, checked
/// against the policy that cosigned it, which is kept beside the new one
/// ([`published_under`]); the next round under `new` replaces it. A second change before that
/// round keeps the first one's record: the published note is still the one that policy
/// cosigned. The caller checks the text first.
///
/// # Errors
/// [`PgError::Setup`] if the store has no policy (it publishes the sequencer's own
/// checkpoints: a policy is given at init); [`PgError::Db`].
pub fn change_policy(client: &mut Client, new: &StoredPolicy) -> Result<StoredPolicy, PgError> {
    let mut tx = client.transaction()?;
    let published: Option<Vec<u8>> = tx
        .query_one("SELECT checkpoint FROM published FOR UPDATE", &[])?
        .get(0);
    let Some(row) = tx.query_opt(
        "SELECT policy, ca_cert, previous_checkpoint FROM witness_policy FOR UPDATE",
        &[],
    )?
    else {
        return Err(PgError::Setup(
            "table `witness_policy` is empty: this store publishes the sequencer's own checkpoints, and a witness policy is given at init (`urna init --store … --witnesses FILE`)".into(),
        ));
    };
    let old = StoredPolicy {
        toml: row.get(0),
        ca_cert: row.get(1),
    };
    let previous: Option<Vec<u8>> = row.get(2);
    if published.is_some() && published != previous {
        tx.execute(
            "UPDATE witness_policy SET previous_policy = policy, previous_ca_cert = ca_cert, \
             previous_checkpoint = $1",
            &[&published],
        )?;
    }
    tx.execute(
        "UPDATE witness_policy SET policy = $1, ca_cert = $2",
        &[&new.toml, &new.ca_cert],
    )?;
    tx.commit()?;
    Ok(old)
}

/// The published checkpoint with the policy to check it against, read in one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedUnder {
    /// The published note.
    pub checkpoint: Vec<u8>,
    /// The policy that cosigned it: the one in force, or, for the note published when the
    /// policy was last changed and not yet replaced, the one before.
    pub policy: StoredPolicy,
    /// Whether `policy` is the one in force.
    pub current: bool,
}

/// The published checkpoint and the policy it must be cosigned under ([`change_policy`]):
/// the policy in force, unless the note is exactly the one published when the policy was last
/// changed, which the policy before it cosigned. `None` if nothing is published.
///
/// # Errors
/// [`PgError::Setup`] if a checkpoint is published but no policy is set (the policy was
/// removed outside urna); [`PgError::Db`].
pub fn published_under(client: &mut impl GenericClient) -> Result<Option<PublishedUnder>, PgError> {
    let row = client.query_one(
        "SELECT p.checkpoint, w.policy, w.ca_cert, w.previous_policy, w.previous_ca_cert, \
         w.previous_checkpoint IS NOT NULL AND w.previous_checkpoint = p.checkpoint \
         FROM published p LEFT JOIN witness_policy w ON true",
        &[],
    )?;
    let Some(checkpoint) = row.get::<_, Option<Vec<u8>>>(0) else {
        return Ok(None);
    };
    let Some(toml) = row.get::<_, Option<String>>(1) else {
        return Err(PgError::Setup(
            "table `published` holds a cosigned checkpoint but table `witness_policy` is empty: the policy was removed outside urna".into(),
        ));
    };
    let previous: Option<bool> = row.get(5);
    let (policy, current) = match (previous == Some(true), row.get::<_, Option<String>>(3)) {
        (true, Some(toml)) => (
            StoredPolicy {
                toml,
                ca_cert: row.get(4),
            },
            false,
        ),
        _ => (
            StoredPolicy {
                toml,
                ca_cert: row.get(2),
            },
            true,
        ),
    };
    Ok(Some(PublishedUnder {
        checkpoint,
        policy,
        current,
    }))
}

/// The published checkpoint (cosigned by a quorum), if one was published.
///
/// # Errors
/// [`PgError::Db`].
pub fn published(client: &mut impl GenericClient) -> Result<Option<Vec<u8>>, PgError> {
    Ok(client
        .query_one("SELECT checkpoint FROM published", &[])?
        .get(0))
}

/// The size each witness last cosigned, by name.
///
/// # Errors
/// [`PgError::Db`].
pub fn sizes(client: &mut impl GenericClient) -> Result<BTreeMap<String, u64>, PgError> {
    Ok(client
        .query("SELECT name, size FROM witness_sizes", &[])?
        .into_iter()
        .map(|r| (r.get::<_, String>(0), from_sql(r.get(1))))
        .collect())
}

/// The `tiles` table as a [`TileSource`], read through one connection or transaction.
pub(crate) struct TableTiles<'a, C: GenericClient>(pub(crate) RefCell<&'a mut C>);

impl<C: GenericClient> TileSource for TableTiles<'_, C> {
    fn read_tile(&self, tile: &Tile) -> Result<Option<Vec<u8>>, ReadError> {
        let path = tile.path();
        self.0
            .borrow_mut()
            .query_opt("SELECT data FROM tiles WHERE path = $1", &[&path])
            .map(|r| r.map(|r| r.get(0)))
            .map_err(|e| ReadError::Io {
                path,
                source: std::io::Error::other(crate::db_text(&e)),
            })
    }
}

/// The consistency proof from `old` to `new` entries, from the hash tiles in table `tiles`.
///
/// # Errors
/// A message naming the missing tile or the bad sizes.
pub fn consistency_proof(
    client: &mut impl GenericClient,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, String> {
    let tiles = TableTiles(RefCell::new(client));
    let reader = TileHashReader::new(&tiles, TreeSize(new));
    urna_tlog::proof::consistency_proof(&reader, TreeSize(old), TreeSize(new))
        .map_err(|e| format!("consistency proof {old} → {new} from table `tiles`: {e}"))
}

/// What a publication round found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Round {
    /// No witness policy is set: the sequencer's checkpoint is the published one.
    NoPolicy,
    /// The log has signed no checkpoint yet.
    NothingSigned,
    /// The latest signed checkpoint (of this size) is already published.
    UpToDate(u64),
    /// The witnesses were asked about the checkpoint of `size`; `published` says whether a
    /// quorum cosigned it and it is now the published checkpoint.
    Asked {
        /// Its tree size.
        size: u64,
        /// Whether it was published.
        published: bool,
    },
    /// The policy in the database is no longer the one the caller read
    /// ([`publish_round_under`]): it was changed in between, and nobody was asked.
    PolicyChanged,
}

/// What the caller's cosigning gets: the latest signed checkpoint, each witness's last size
/// (to update), and consistency proofs from table `tiles`.
pub type Cosign<'f> = dyn FnOnce(
        &[u8],
        &mut BTreeMap<String, u64>,
        &dyn Fn(u64, u64) -> Result<Vec<Hash>, String>,
    ) -> Option<Vec<u8>>
    + 'f;

/// One publication round on `client` (a connection of its own: the round is one transaction):
/// under the `published` row's lock
/// (one round at a time across every node and `urna log publish`), reads the latest checkpoint
/// the sequencer signed; if it is newer than the published one, calls `cosign` with it, stores
/// the witnesses' sizes it leaves, and publishes the note it returns, after checking that the
/// note is this log's checkpoint (signed by `verifier` under `origin`) of that size and root.
/// A published note `quorum_met` does not accept (the policy's quorum has not cosigned it: the
/// row was edited outside urna) does not count as published: the round asks again.
///
/// # Errors
/// [`PgError::Db`]; [`PgError::Setup`] if the note returned is not the checkpoint asked about.
pub fn publish_round(
    client: &mut Client,
    origin: &str,
    verifier: &NoteVerifier,
    quorum_met: &dyn Fn(&[u8]) -> bool,
    cosign: Box<Cosign<'_>>,
) -> Result<Round, PgError> {
    publish_round_under(client, origin, verifier, None, quorum_met, cosign)
}

/// [`publish_round`] for a caller that read the policy first (`under`) and cosigns and checks
/// with it: once the `published` row is locked the policy is read again, and if it is no
/// longer `under` ([`change_policy`] committed in between) the round asks nobody and returns
/// [`Round::PolicyChanged`], so no note cosigned under a replaced policy is ever published.
///
/// # Errors
/// As [`publish_round`].
pub fn publish_round_under(
    client: &mut Client,
    origin: &str,
    verifier: &NoteVerifier,
    under: Option<&StoredPolicy>,
    quorum_met: &dyn Fn(&[u8]) -> bool,
    cosign: Box<Cosign<'_>>,
) -> Result<Round, PgError> {
    let mut tx = client.transaction()?;
    // The lock first, then the policy: a change waits for this round, or this round sees it.
    let row = tx.query_one("SELECT size, checkpoint FROM published FOR UPDATE", &[])?;
    let Some(in_force) = policy(&mut tx)? else {
        return Ok(Round::NoPolicy);
    };
    if under.is_some_and(|u| *u != in_force) {
        return Ok(Round::PolicyChanged);
    }
    // The size is the published note's, checked; a size without a note was written outside
    // urna, and trusting it would stop every later round as "up to date".
    let (published_size, cosigned_by_quorum) = match row.get::<_, Option<Vec<u8>>>(1) {
        Some(note) => {
            let (cp, _) = urna_tlog::checkpoint::open(&note, origin, verifier)
                .map_err(|e| PgError::Setup(format!("table `published`, checkpoint: {e}")))?;
            if cp.size.0 != from_sql(row.get(0)) {
                return Err(PgError::Setup(format!(
                    "table `published` holds size {} and a checkpoint of {} entries: the database was edited outside urna",
                    row.get::<_, i64>(0),
                    cp.size.0
                )));
            }
            (cp.size.0, quorum_met(&note))
        }
        None if row.get::<_, i64>(0) == 0 => (0, true),
        None => {
            return Err(PgError::Setup(format!(
                "table `published` holds size {} but no checkpoint: the database was edited outside urna",
                row.get::<_, i64>(0)
            )));
        }
    };
    let latest: Option<Vec<u8>> = tx
        .query_one("SELECT checkpoint FROM sequencer", &[])?
        .get(0);
    let Some(latest) = latest else {
        return Ok(Round::NothingSigned);
    };
    let (cp, _) = urna_tlog::checkpoint::open(&latest, origin, verifier)
        .map_err(|e| PgError::Setup(format!("table `sequencer`, checkpoint: {e}")))?;
    let size = cp.size.0;
    if size < published_size || (size == published_size && cosigned_by_quorum) {
        return Ok(Round::UpToDate(published_size));
    }
    let mut last = sizes(&mut tx)?;
    let cosigned = {
        let tx = RefCell::new(&mut tx);
        let proof = |old: u64, new: u64| consistency_proof(&mut **tx.borrow_mut(), old, new);
        cosign(&latest, &mut last, &proof)
    };
    for (name, s) in &last {
        tx.execute(
            "INSERT INTO witness_sizes (name, size) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET size = EXCLUDED.size",
            &[name, &to_sql(*s)],
        )?;
    }
    let published = match cosigned {
        Some(note) => {
            let (got, _) = urna_tlog::checkpoint::open(&note, origin, verifier).map_err(|e| {
                PgError::Setup(format!("the cosigned checkpoint is not the log's: {e}"))
            })?;
            if got.size != cp.size || got.root != cp.root {
                return Err(PgError::Setup(format!(
                    "the cosigned checkpoint (size {}) is not the one asked about (size {size})",
                    got.size.0
                )));
            }
            tx.execute(
                "UPDATE published SET size = $1, checkpoint = $2",
                &[&to_sql(size), &note],
            )?;
            // The note published under the policy before a change is replaced: nothing is
            // checked against that policy any more.
            tx.execute(
                "UPDATE witness_policy SET previous_policy = NULL, previous_ca_cert = NULL, \
                 previous_checkpoint = NULL",
                &[],
            )?;
            true
        }
        None => false,
    };
    tx.commit()?;
    Ok(Round::Asked { size, published })
}
