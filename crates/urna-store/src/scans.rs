//! Which scans of paper protocols the stored notes name, so that `urna serve` takes a scan
//! (`PUT /v1/scans/<hex>`) only when a signed note in the log vouches for it.

use std::collections::HashSet;

use urna_model::scan::named_scan;

use crate::{Store, StoreError};

impl Store {
    /// The SHA-256 of every scan a stored note names (protocols and amendments, quarantined
    /// ones too), read in one pass over the notes without holding them all.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] if the database fails.
    pub fn named_scans(&self) -> Result<HashSet<[u8; 32]>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT note FROM entries ORDER BY idx")?;
        let mut rows = stmt.query([])?;
        let mut scans = HashSet::new();
        while let Some(row) = rows.next()? {
            // A note column that is not a blob names no scan (`Store::open` refuses such rows).
            if let Ok(note) = row.get_ref(0)?.as_blob()
                && let Some(scan) = named_scan(note)
            {
                scans.insert(scan);
            }
        }
        Ok(scans)
    }
}
