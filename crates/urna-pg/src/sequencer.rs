//! The one sequencer: a lease row with a fencing token. A node takes the lease when it has
//! expired (on the database's clock), raising the epoch; every sequencing transaction locks the
//! row and goes on only if the epoch is still its own, so a node that lost its lease without
//! knowing writes nothing.

use std::time::Duration;

use postgres::Client;
use postgres::fallible_iterator::FallibleIterator;
use urna_model::note::NoteSigner;
use urna_store::StoreError;
use urna_store::log::LogTree;

use crate::{PgError, connect, from_sql, to_sql};

/// A node holding the sequencer's lease: it appends committed entries to the tree, writes the
/// tiles and signs checkpoints, all in the database.
pub struct PgSequencer {
    client: Client,
    signer: NoteSigner,
    tree: LogTree,
    /// Size of the last checkpoint signed (by this node or before it).
    signed: u64,
    /// This node's fencing token.
    epoch: i64,
    lease: Duration,
    /// Set once a sequencing transaction was refused: the tree may be ahead of the database.
    fenced: bool,
}

impl std::fmt::Debug for PgSequencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSequencer")
            .field("epoch", &self.epoch)
            .field("signed", &self.signed)
            .finish_non_exhaustive()
    }
}

impl PgSequencer {
    /// Takes the sequencer's lease for `holder` (a node name) if it is free or expired, on its
    /// own connection; `None` if another node holds it. The tree is rebuilt from the entries
    /// and checked against the last signed checkpoint before anything is written.
    ///
    /// # Errors
    /// [`PgError::Db`]; [`PgError::Store`] if the entries do not give the signed root.
    pub fn acquire(
        url: &str,
        signer: NoteSigner,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<Self>, PgError> {
        let mut client = connect(url)?;
        let row = client.query_opt(
            "UPDATE sequencer SET epoch = epoch + 1, holder = $1, \
             expires = clock_timestamp() + make_interval(secs => $2) \
             WHERE expires < clock_timestamp() RETURNING epoch, size, checkpoint",
            &[&holder, &lease.as_secs_f64()],
        )?;
        let Some(row) = row else { return Ok(None) };
        let (epoch, signed, checkpoint): (i64, i64, Option<Vec<u8>>) =
            (row.get(0), row.get(1), row.get(2));
        let signed = from_sql(signed);
        let mut tree = LogTree::new();
        tree.skip_written_tiles(signed);
        let mut rows = client.query_raw(
            "SELECT idx, note FROM entries WHERE idx < $1 ORDER BY idx",
            [to_sql(signed)],
        )?;
        while let Some(r) = rows.next()? {
            let (idx, note): (i64, Vec<u8>) = (r.try_get(0)?, r.try_get(1)?);
            tree.append(from_sql(idx), std::iter::once(note))?;
        }
        drop(rows);
        if let Some(note) = checkpoint {
            let (cp, _) = urna_tlog::checkpoint::open(&note, signer.name(), &signer.verifier())
                .map_err(|e| PgError::Setup(format!("table `sequencer`, checkpoint: {e}")))?;
            if cp.size.0 != tree.size() || tree.root_at(cp.size.0)? != cp.root {
                return Err(StoreError::Log(format!(
                    "the stored entries do not give the root the log signed at size {}: the database was changed",
                    cp.size.0
                ))
                .into());
            }
        }
        Ok(Some(Self {
            client,
            signer,
            tree,
            signed,
            epoch,
            lease,
            fenced: false,
        }))
    }

    /// This sequencer's fencing token.
    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    /// Size of the last checkpoint signed.
    pub fn signed_size(&self) -> u64 {
        self.signed
    }

    /// Gives the lease up (a node stopping cleanly), so that another node takes over at its
    /// next try instead of after the lease expires. Only this sequencer's own lease is
    /// released: if its epoch is no longer the current one, nothing changes.
    ///
    /// # Errors
    /// [`PgError::Db`].
    pub fn release(mut self) -> Result<(), PgError> {
        self.client.execute(
            "UPDATE sequencer SET expires = '-infinity' WHERE epoch = $1",
            &[&self.epoch],
        )?;
        Ok(())
    }

    /// Appends the entries committed since the last step, writes their tiles, signs a
    /// checkpoint and renews the lease, in one transaction that first checks the fencing
    /// token. Returns the new checkpoint, or `None` if nothing was committed since (the lease
    /// is renewed all the same).
    ///
    /// # Errors
    /// [`PgError::Fenced`] if another node took the lease (nothing is written, and this
    /// sequencer refuses every later step); [`PgError::Db`], [`PgError::Store`].
    pub fn step(&mut self) -> Result<Option<Vec<u8>>, PgError> {
        if self.fenced {
            return Err(PgError::Setup(
                "this sequencer was fenced; acquire the lease again".into(),
            ));
        }
        let mut rows = self.client.query_raw(
            "SELECT idx, note FROM entries WHERE idx >= $1 ORDER BY idx",
            [to_sql(self.tree.size())],
        )?;
        while let Some(r) = rows.next()? {
            let (idx, note): (i64, Vec<u8>) = (r.try_get(0)?, r.try_get(1)?);
            self.tree.append(from_sql(idx), std::iter::once(note))?;
        }
        drop(rows);
        let grew = self.tree.size() > self.signed;
        let (tiles, note) = if grew {
            (
                self.tree.growth_tiles(self.signed)?,
                Some(self.tree.sign_checkpoint(&self.signer)?),
            )
        } else {
            (Vec::new(), None)
        };
        let mut tx = self.client.transaction()?;
        let row = tx.query_one("SELECT epoch, size FROM sequencer FOR UPDATE", &[])?;
        let (current, size): (i64, i64) = (row.get(0), row.get(1));
        if current != self.epoch {
            self.fenced = true;
            return Err(PgError::Fenced {
                held: self.epoch,
                current,
            });
        }
        if from_sql(size) != self.signed {
            self.fenced = true;
            return Err(PgError::Setup(format!(
                "table `sequencer` holds size {size} but this sequencer signed {}: the row was changed outside urna",
                self.signed
            )));
        }
        let lease = self.lease.as_secs_f64();
        if let Some(note) = &note {
            let (paths, data): (Vec<String>, Vec<&[u8]>) =
                tiles.iter().map(|(t, b)| (t.path(), b.as_slice())).unzip();
            tx.execute(
                "INSERT INTO tiles (path, data) SELECT * FROM unnest($1::text[], $2::bytea[])",
                &[&paths, &data],
            )?;
            let new = to_sql(self.tree.size());
            tx.execute(
                "INSERT INTO checkpoints (size, note) VALUES ($1, $2)",
                &[&new, note],
            )?;
            tx.execute(
                "UPDATE sequencer SET size = $1, checkpoint = $2, \
                 expires = clock_timestamp() + make_interval(secs => $3)",
                &[&new, note, &lease],
            )?;
        } else {
            tx.execute(
                "UPDATE sequencer SET expires = clock_timestamp() + make_interval(secs => $1)",
                &[&lease],
            )?;
        }
        tx.commit()?;
        if grew {
            self.signed = self.tree.size();
            self.tree.trim_tail();
        }
        Ok(note)
    }
}
