//! The append-only tree: keeps only the right edge (one hash per set bit of the size), so an
//! append costs O(log n) hashes and memory stays O(log n). Each append reports the complete
//! subtrees it finished, for a [`crate::storage::MemoryStore`] or the tile writer to keep.

use crate::hash::{Hash, LeafIndex, TreeSize, node_hash};
use crate::storage::{HashReader, NodeId, ReadError, fold_right, subtree_nodes};

/// Why a tree could not be rebuilt from a stored right edge.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// The edge must hold one hash per set bit of the size.
    #[error("a tree of size {size} has {want} right-edge hashes; got {got}")]
    EdgeLength {
        /// The size.
        size: TreeSize,
        /// Hashes given.
        got: usize,
        /// Hashes needed.
        want: usize,
    },
    /// The tree is full (2⁶⁴ − 1 leaves).
    #[error("the tree is full")]
    Full,
    /// The stored hashes could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// An append-only RFC 6962 Merkle tree that computes its root incrementally.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    size: u64,
    /// Roots of the complete subtrees that make up the tree, largest (leftmost) first.
    edge: Vec<Hash>,
}

impl Tree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree from its size and right edge (the complete subtrees, largest first), as
    /// returned by [`Tree::edge`].
    ///
    /// # Errors
    /// [`TreeError::EdgeLength`] if the edge does not fit the size.
    pub fn from_edge(size: TreeSize, edge: Vec<Hash>) -> Result<Self, TreeError> {
        let want = size.0.count_ones() as usize;
        if edge.len() != want {
            return Err(TreeError::EdgeLength {
                size,
                got: edge.len(),
                want,
            });
        }
        Ok(Self { size: size.0, edge })
    }

    /// Rebuilds the tree of `size` leaves from stored hashes (e.g. tiles after a restart).
    ///
    /// # Errors
    /// [`TreeError::Read`] if the right-edge hashes are not stored.
    pub fn from_reader<R: HashReader + ?Sized>(
        reader: &R,
        size: TreeSize,
    ) -> Result<Self, TreeError> {
        let mut ids = Vec::new();
        subtree_nodes(0, size.0, &mut ids);
        let edge = reader.read_hashes(&ids)?;
        Self::from_edge(size, edge)
    }

    /// The number of leaves.
    pub fn size(&self) -> TreeSize {
        TreeSize(self.size)
    }

    /// The right edge: roots of the complete subtrees, largest first.
    pub fn edge(&self) -> &[Hash] {
        &self.edge
    }

    /// The root hash ([`Hash::EMPTY_ROOT`] for the empty tree).
    pub fn root(&self) -> Hash {
        fold_right(&self.edge).unwrap_or(Hash::EMPTY_ROOT)
    }

    /// Appends a leaf hash and pushes onto `finished` every complete subtree it finishes,
    /// lowest level first: the leaf itself, then each parent it completes.
    ///
    /// # Errors
    /// [`TreeError::Full`] at 2⁶⁴ − 1 leaves.
    pub fn append(
        &mut self,
        leaf: Hash,
        finished: &mut Vec<(NodeId, Hash)>,
    ) -> Result<LeafIndex, TreeError> {
        let index = self.size;
        let next = index.checked_add(1).ok_or(TreeError::Full)?;
        finished.push((NodeId { level: 0, index }, leaf));
        let mut h = leaf;
        let mut level = 0u8;
        let mut n = index;
        while n & 1 == 1 {
            // A set low bit of the old size means a complete subtree sits at the edge's end.
            let Some(left) = self.edge.pop() else { break };
            h = node_hash(&left, &h);
            level += 1;
            n >>= 1;
            finished.push((
                NodeId {
                    level,
                    index: index >> level,
                },
                h,
            ));
        }
        self.edge.push(h);
        self.size = next;
        Ok(LeafIndex(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::storage::{MemoryStore, root_at};

    #[test]
    fn incremental_root_equals_stored_root_and_rebuild() {
        let mut t = Tree::new();
        let mut s = MemoryStore::new();
        let mut out = Vec::new();
        assert_eq!(t.root(), Hash::EMPTY_ROOT);
        for i in 0..300u64 {
            out.clear();
            let idx = t.append(leaf_hash(&i.to_le_bytes()), &mut out).unwrap();
            assert_eq!(idx, LeafIndex(i));
            s.extend(&out).unwrap();
            assert_eq!(t.root(), root_at(&s, t.size()).unwrap());
            let rebuilt = Tree::from_reader(&s, t.size()).unwrap();
            assert_eq!(rebuilt, t);
        }
    }

    #[test]
    fn edge_length_is_checked() {
        assert!(matches!(
            Tree::from_edge(TreeSize(3), vec![Hash::EMPTY_ROOT]),
            Err(TreeError::EdgeLength { want: 2, .. })
        ));
    }
}
