//! Scans of paper protocols on PostgreSQL (table `scans`, schema 5): what a SQLite node keeps
//! in `DATA/scans/<hex>`, here in the database, so that a scan any node took is published by
//! every node's bundle and by `urna publish --store`.
//!
//! - **Named** ([`NamedScans`]): a node takes a scan only if a stored note names it (`scan:
//!   sha256:<hex>`, quarantined notes too), as the SQLite node does; the set is read from table
//!   `entries` once, then only the entries stored since (by any node) when a scan is not in it.
//! - **Stored** ([`store_scan`]): one statement, committed before the caller answers; the same
//!   bytes again change nothing, and a row whose bytes are not its key's (edited) is replaced.
//! - **Checked at open** (`check_scans`, called by [`crate::PgStore::open`]): every row's
//!   bytes hash to its key and are a scan urna keeps, and a stored note names the key.

use std::collections::HashSet;

use postgres::Client;
use postgres::fallible_iterator::FallibleIterator;
use urna_model::intake::sha256;
use urna_model::protocol::hex;
use urna_model::scan::{MAX_SCAN, named_scan, scan_kind};

use crate::{PgError, from_sql, hash32, to_sql};

/// The scans the stored notes name, read from table `entries` as far as it has been read.
#[derive(Debug, Default)]
pub struct NamedScans {
    /// The next entry to read: every entry before it has been read.
    next: u64,
    named: HashSet<[u8; 32]>,
}

impl NamedScans {
    /// None read yet: the first [`NamedScans::names`] reads every entry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a stored note names the scan `sha`. A scan not named by the entries read so far
    /// is looked for in the entries stored since (by this node or any other), so a note
    /// committed before the call is always seen. Entries become visible in index order (each
    /// intake transaction holds the `intake_head` lock to its commit), so none is skipped.
    ///
    /// # Errors
    /// [`PgError::Db`].
    pub fn names(&mut self, client: &mut Client, sha: &[u8; 32]) -> Result<bool, PgError> {
        if self.named.contains(sha) {
            return Ok(true);
        }
        let mut rows = client.query_raw(
            "SELECT idx, note FROM entries WHERE idx >= $1 ORDER BY idx",
            [to_sql(self.next)],
        )?;
        while let Some(row) = rows.next()? {
            let (idx, note): (i64, Vec<u8>) = (row.try_get(0)?, row.try_get(1)?);
            if let Some(scan) = named_scan(&note) {
                self.named.insert(scan);
            }
            self.next = from_sql(idx) + 1;
        }
        Ok(self.named.contains(sha))
    }
}

/// Stores the scan `bytes` under its SHA-256 `sha` (the caller has checked that a stored note
/// names it and that it is a scan urna keeps), committed when this returns: `true` if it was
/// not stored yet (or its row held other bytes, which are replaced), `false` if it was, with
/// these bytes.
///
/// # Errors
/// [`PgError::Setup`] if `bytes` do not hash to `sha`; [`PgError::Db`].
pub fn store_scan(client: &mut Client, sha: &[u8; 32], bytes: &[u8]) -> Result<bool, PgError> {
    if sha256(bytes) != *sha {
        return Err(PgError::Setup(format!(
            "a scan's bytes hash to sha256:{}, not to the sha256:{} it is stored under",
            hex(&sha256(bytes)),
            hex(sha)
        )));
    }
    let written = client.execute(
        "INSERT INTO scans (sha256, data) VALUES ($1, $2) \
         ON CONFLICT (sha256) DO UPDATE SET data = EXCLUDED.data \
         WHERE scans.data <> EXCLUDED.data",
        &[&sha.as_slice(), &bytes],
    )?;
    Ok(written == 1)
}

/// The bytes of the scan `sha`, if stored.
///
/// # Errors
/// [`PgError::Db`].
pub fn scan(client: &mut Client, sha: &[u8; 32]) -> Result<Option<Vec<u8>>, PgError> {
    Ok(client
        .query_opt(
            "SELECT data FROM scans WHERE sha256 = $1",
            &[&sha.as_slice()],
        )?
        .map(|r| r.get(0)))
}

/// The check of table `scans` at open: every row's bytes hash to its key and are a PDF, JPEG
/// or PNG file of at most [`MAX_SCAN`] bytes, and `named` (the scans the stored notes name)
/// holds its key. The rows are read one at a time.
///
/// # Errors
/// [`PgError::Setup`] naming the first row edited outside urna; [`PgError::Db`].
pub(crate) fn check_scans(
    tx: &mut postgres::Transaction<'_>,
    named: &HashSet<[u8; 32]>,
) -> Result<(), PgError> {
    let mut rows = tx.query_raw(
        "SELECT sha256, data FROM scans ORDER BY sha256",
        std::iter::empty::<i64>(),
    )?;
    while let Some(row) = rows.next()? {
        let (key, data): (Vec<u8>, Vec<u8>) = (row.try_get(0)?, row.try_get(1)?);
        let key = hash32("scans", "column sha256", &key)?;
        let edited = |why: String| {
            PgError::Setup(format!(
                "table `scans`, scan sha256:{}: {why}: the database was edited outside urna",
                hex(&key)
            ))
        };
        let got = sha256(&data);
        if got != key {
            return Err(edited(format!(
                "its bytes hash to sha256:{}, not to their key",
                hex(&got)
            )));
        }
        if data.len() > MAX_SCAN || scan_kind(&data).is_none() {
            return Err(edited(format!(
                "{} bytes that are not a PDF, JPEG or PNG file of at most {MAX_SCAN} bytes",
                data.len()
            )));
        }
        if !named.contains(&key) {
            return Err(edited(
                "no stored note names it, and a node takes only a scan a stored note names"
                    .to_owned(),
            ));
        }
    }
    Ok(())
}
