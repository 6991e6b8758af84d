//! Stored hashes: the [`HashReader`] trait that proofs and roots are computed from, and an
//! in-memory implementation. The tile directory in [`crate::tiledir`] is the on-disk one.
//!
//! A stored hash is the root of a *complete* subtree: [`NodeId`] `{ level, index }` covers
//! leaves `index·2^level .. (index+1)·2^level`. Every hash a proof needs is either one of
//! these or a fold of a few of them along the right edge of the tree, so a reader that
//! answers complete-subtree hashes answers every proof (the same split as Go's `tlog`).

use std::fmt;

use crate::hash::{Hash, TreeSize, node_hash};

/// The highest level a node of a tree of `u64` leaves can have.
pub const MAX_LEVEL: u8 = 63;

/// A complete subtree: `2^level` leaves starting at leaf `index·2^level`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    /// Height above the leaves (0 is a leaf hash).
    pub level: u8,
    /// Position among the nodes of this level, from the left.
    pub index: u64,
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({}/{})", self.level, self.index)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "level {} index {}", self.level, self.index)
    }
}

/// Why stored hashes could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The store does not hold this node (not yet written, or beyond the tree).
    #[error("no stored hash for node {0}")]
    Missing(NodeId),
    /// A tile file could not be read.
    #[error("reading tile {path}: {source}")]
    Io {
        /// The tile path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A tile file has the wrong length for its width.
    #[error("tile {path} is {len} bytes; expected {expected}")]
    BadTile {
        /// The tile path.
        path: String,
        /// Its length.
        len: usize,
        /// The length its name implies.
        expected: usize,
    },
    /// A subtree range that no tree of this size contains.
    #[error("range {lo}..{hi} is not a subtree of a tree of size {size}")]
    BadRange {
        /// First leaf.
        lo: u64,
        /// One past the last leaf.
        hi: u64,
        /// The tree size asked about.
        size: TreeSize,
    },
}

/// Reads the hashes of complete subtrees.
pub trait HashReader {
    /// Returns the hashes of `nodes`, in the same order.
    ///
    /// # Errors
    /// [`ReadError`] if any node is not stored or the storage fails.
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, ReadError>;
}

impl<R: HashReader + ?Sized> HashReader for &R {
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, ReadError> {
        (**self).read_hashes(nodes)
    }
}

/// Every complete-subtree hash of a tree, in memory (two hashes per leaf).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    levels: Vec<Vec<Hash>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores the nodes that [`crate::tree::Tree::append`] reports, in the order reported.
    ///
    /// # Errors
    /// [`ReadError::Missing`] naming the node if it is not the next one at its level (the
    /// store is append-only and never has holes).
    pub fn extend<'a>(
        &mut self,
        nodes: impl IntoIterator<Item = &'a (NodeId, Hash)>,
    ) -> Result<(), ReadError> {
        for &(id, h) in nodes {
            let level = usize::from(id.level);
            while self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            if row.len() as u64 != id.index {
                return Err(ReadError::Missing(id));
            }
            row.push(h);
        }
        Ok(())
    }

    /// The number of leaves stored.
    pub fn size(&self) -> TreeSize {
        TreeSize(self.levels.first().map_or(0, |r| r.len() as u64))
    }

    /// The hash of one node, if stored.
    pub fn get(&self, id: NodeId) -> Option<Hash> {
        let row = self.levels.get(usize::from(id.level))?;
        row.get(usize::try_from(id.index).ok()?).copied()
    }
}

impl HashReader for MemoryStore {
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, ReadError> {
        nodes
            .iter()
            .map(|&id| self.get(id).ok_or(ReadError::Missing(id)))
            .collect()
    }
}

/// The complete subtrees whose fold is MTH(D[lo..hi]), largest (leftmost) first.
///
/// `lo` must be a multiple of the smallest power of two ≥ `hi − lo` — true of every subtree
/// the RFC 6962 recursion visits.
pub(crate) fn subtree_nodes(lo: u64, hi: u64, out: &mut Vec<NodeId>) {
    let mut cur = lo;
    while cur < hi {
        let fit = 63 - (hi - cur).leading_zeros();
        let align = if cur == 0 { 63 } else { cur.trailing_zeros() };
        let level = fit.min(align);
        out.push(NodeId {
            // level ≤ 63, so the cast is exact.
            level: level as u8,
            index: cur >> level,
        });
        cur += 1u64 << level;
    }
}

/// Whether `lo..hi` is a subtree the RFC 6962 recursion can visit in a tree of any size.
pub(crate) fn is_aligned_range(lo: u64, hi: u64) -> bool {
    if hi <= lo {
        return false;
    }
    let n = hi - lo;
    let span = n.checked_next_power_of_two().unwrap_or(0);
    if span == 0 {
        lo == 0
    } else {
        lo.is_multiple_of(span)
    }
}

/// Folds complete-subtree hashes (largest first) into the MTH of their union.
pub(crate) fn fold_right(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)))
}

/// MTH(D[lo..hi]) from stored hashes.
///
/// # Errors
/// [`ReadError::BadRange`] if the range is empty or not a subtree; otherwise the reader's.
pub fn subtree_hash<R: HashReader + ?Sized>(
    reader: &R,
    lo: u64,
    hi: u64,
) -> Result<Hash, ReadError> {
    if !is_aligned_range(lo, hi) {
        return Err(ReadError::BadRange {
            lo,
            hi,
            size: TreeSize(hi),
        });
    }
    let mut ids = Vec::new();
    subtree_nodes(lo, hi, &mut ids);
    let hashes = reader.read_hashes(&ids)?;
    fold_right(&hashes).ok_or(ReadError::BadRange {
        lo,
        hi,
        size: TreeSize(hi),
    })
}

/// The root hash of the tree of `size` leaves from stored hashes ([`Hash::EMPTY_ROOT`] for 0).
///
/// # Errors
/// The reader's, if a needed hash is not stored.
pub fn root_at<R: HashReader + ?Sized>(reader: &R, size: TreeSize) -> Result<Hash, ReadError> {
    if size.0 == 0 {
        return Ok(Hash::EMPTY_ROOT);
    }
    subtree_hash(reader, 0, size.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtree_nodes_follow_the_binary_digits_of_the_size() {
        let mut v = Vec::new();
        subtree_nodes(0, 13, &mut v);
        let got: Vec<(u8, u64)> = v.iter().map(|n| (n.level, n.index)).collect();
        assert_eq!(got, vec![(3, 0), (2, 2), (0, 12)]);
        v.clear();
        subtree_nodes(8, 13, &mut v);
        let got: Vec<(u8, u64)> = v.iter().map(|n| (n.level, n.index)).collect();
        assert_eq!(got, vec![(2, 2), (0, 12)]);
    }

    #[test]
    fn aligned_ranges() {
        assert!(is_aligned_range(0, 1));
        assert!(is_aligned_range(0, u64::MAX));
        assert!(is_aligned_range(8, 13));
        assert!(!is_aligned_range(4, 13));
        assert!(!is_aligned_range(3, 3));
    }
}
