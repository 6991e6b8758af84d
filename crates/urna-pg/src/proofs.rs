//! Inclusion proofs from the hash tiles in table `tiles`, as any reader computes them from the
//! tiles a node serves: what `GET /v1/proof/<index>` answers on every node of the database,
//! not only on the sequencing one (the sequencer writes the tiles; every node reads them).
//!
//! The proof is computed by the same code as the SQLite store's (`urna_tlog::proof` over a
//! [`TileHashReader`]), so the same log gives the same proof on both engines.
//!
//! Out of scope: choosing the checkpoint (the caller passes the published one) and HTTP.

use std::cell::RefCell;

use postgres::GenericClient;
use urna_tlog::Hash;
use urna_tlog::hash::{LeafIndex, TreeSize, leaf_hash};
use urna_tlog::tile::TileHashReader;

use crate::witnesses::TableTiles;

/// The RFC 6962 inclusion path of entry `index` in the tree of `size` entries, from the hash
/// tiles in table `tiles`, checked before it is returned: `entry` (the entry's note bytes)
/// hashed along it must give `root` (the root of the checkpoint of `size` entries), so a
/// tile edited in the database after the node's open is named, never served as a proof.
///
/// # Errors
/// A message naming the missing tile, the bad index or the proof that does not reach `root`.
pub fn inclusion_proof(
    client: &mut impl GenericClient,
    index: u64,
    size: u64,
    entry: &[u8],
    root: &Hash,
) -> Result<Vec<Hash>, String> {
    let tiles = TableTiles(RefCell::new(client));
    let reader = TileHashReader::new(&tiles, TreeSize(size));
    let proof = urna_tlog::proof::inclusion_proof(&reader, LeafIndex(index), TreeSize(size))
        .map_err(|e| {
            format!("inclusion proof of entry {index} in {size} from table `tiles`: {e}")
        })?;
    urna_tlog::proof::verify_inclusion(
        LeafIndex(index),
        TreeSize(size),
        &leaf_hash(entry),
        &proof,
        root,
    )
    .map_err(|e| {
        format!(
            "the inclusion proof of entry {index} from table `tiles` does not reach the checkpoint's root: {e}"
        )
    })?;
    Ok(proof)
}
