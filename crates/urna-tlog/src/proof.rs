//! Inclusion and consistency proofs: generation from stored hashes (RFC 9162 §2.1.3.1,
//! §2.1.4.1) and verification (RFC 9162 §2.1.3.2, §2.1.4.2).
//!
//! Verification is strict: a proof with one hash too many or too few is rejected, a
//! consistency proof from the empty tree is rejected (it proves nothing; the witness protocol
//! handles old size 0 itself), and equal sizes require an empty proof and equal roots.

use crate::hash::{Hash, LeafIndex, TreeSize, node_hash};
use crate::storage::{HashReader, ReadError, fold_right, subtree_nodes};

/// Why a proof could not be made or did not verify.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// The index.
        index: LeafIndex,
        /// The tree size.
        size: TreeSize,
    },
    /// The old size is larger than the new size.
    #[error("old size {old} is larger than new size {new}")]
    SizeOrder {
        /// Old tree size.
        old: TreeSize,
        /// New tree size.
        new: TreeSize,
    },
    /// A consistency proof from the empty tree proves nothing.
    #[error("no consistency proof from the empty tree to size {new}")]
    FromEmpty {
        /// New tree size.
        new: TreeSize,
    },
    /// The proof has the wrong number of hashes for these sizes.
    #[error("proof has {got} hashes; sizes {size} and index or old size {at} need {want}")]
    Length {
        /// Hashes given.
        got: usize,
        /// Hashes the shape of the tree requires.
        want: usize,
        /// The leaf index (inclusion) or old size (consistency).
        at: u64,
        /// The tree size (inclusion) or new size (consistency).
        size: TreeSize,
    },
    /// The proof does not lead to the expected root.
    #[error("proof leads to root {computed}, not {expected}")]
    RootMismatch {
        /// The root the proof computes.
        computed: Hash,
        /// The root it should have reached.
        expected: Hash,
    },
    /// For equal sizes, the two roots differ.
    #[error("equal tree sizes {size} with different roots")]
    EqualSizeRootsDiffer {
        /// The size.
        size: TreeSize,
    },
    /// The consistency proof does not reproduce the old root.
    #[error("proof does not reproduce the old root {expected} (got {computed})")]
    OldRootMismatch {
        /// The root the proof computes.
        computed: Hash,
        /// The old root.
        expected: Hash,
    },
    /// Stored hashes were missing or unreadable while making a proof.
    #[error(transparent)]
    Read(#[from] ReadError),
}

fn largest_power_of_two_below(n: u64) -> u64 {
    // n ≥ 2 here, so the shift amount is in 0..=63.
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The subtrees (as leaf ranges) whose hashes form PATH(m, D[lo..hi]), bottom first.
fn path_ranges(m: u64, lo: u64, hi: u64, out: &mut Vec<(u64, u64)>) {
    let n = hi - lo;
    if n <= 1 {
        return;
    }
    let k = largest_power_of_two_below(n);
    if m < k {
        path_ranges(m, lo, lo + k, out);
        out.push((lo + k, hi));
    } else {
        path_ranges(m - k, lo + k, hi, out);
        out.push((lo, lo + k));
    }
}

/// The subtrees whose hashes form SUBPROOF(m, D[lo..hi], b), bottom first.
fn subproof_ranges(m: u64, lo: u64, hi: u64, b: bool, out: &mut Vec<(u64, u64)>) {
    let n = hi - lo;
    if m == n {
        if !b {
            out.push((lo, hi));
        }
        return;
    }
    let k = largest_power_of_two_below(n);
    if m <= k {
        subproof_ranges(m, lo, lo + k, b, out);
        out.push((lo + k, hi));
    } else {
        subproof_ranges(m - k, lo + k, hi, false, out);
        out.push((lo, lo + k));
    }
}

/// Reads the hashes of many subtree ranges with one call to the reader.
fn range_hashes<R: HashReader + ?Sized>(
    reader: &R,
    ranges: &[(u64, u64)],
) -> Result<Vec<Hash>, ReadError> {
    let mut ids = Vec::new();
    let mut bounds = Vec::with_capacity(ranges.len());
    for &(lo, hi) in ranges {
        let start = ids.len();
        subtree_nodes(lo, hi, &mut ids);
        bounds.push(start..ids.len());
    }
    let hashes = reader.read_hashes(&ids)?;
    bounds
        .into_iter()
        .zip(ranges)
        .map(|(b, &(lo, hi))| {
            hashes
                .get(b)
                .and_then(fold_right)
                .ok_or(ReadError::BadRange {
                    lo,
                    hi,
                    size: TreeSize(hi),
                })
        })
        .collect()
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1).
///
/// # Errors
/// [`ProofError::IndexOutOfRange`], or [`ProofError::Read`] if a stored hash is missing.
pub fn inclusion_proof<R: HashReader + ?Sized>(
    reader: &R,
    index: LeafIndex,
    size: TreeSize,
) -> Result<Vec<Hash>, ProofError> {
    if index.0 >= size.0 {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut ranges = Vec::new();
    path_ranges(index.0, 0, size.0, &mut ranges);
    Ok(range_hashes(reader, &ranges)?)
}

/// The consistency proof from the tree of `old` leaves to the tree of `new` leaves
/// (RFC 9162 §2.1.4.1). Empty when the sizes are equal.
///
/// # Errors
/// [`ProofError::SizeOrder`], [`ProofError::FromEmpty`] (old size 0 with a non-empty new
/// tree), or [`ProofError::Read`].
pub fn consistency_proof<R: HashReader + ?Sized>(
    reader: &R,
    old: TreeSize,
    new: TreeSize,
) -> Result<Vec<Hash>, ProofError> {
    if old > new {
        return Err(ProofError::SizeOrder { old, new });
    }
    if old == new {
        return Ok(Vec::new());
    }
    if old.0 == 0 {
        return Err(ProofError::FromEmpty { new });
    }
    let mut ranges = Vec::new();
    subproof_ranges(old.0, 0, new.0, true, &mut ranges);
    Ok(range_hashes(reader, &ranges)?)
}

/// Checks that `leaf` is at `index` in the tree of `size` leaves with root `root`
/// (RFC 9162 §2.1.3.2).
///
/// # Errors
/// [`ProofError::IndexOutOfRange`], [`ProofError::Length`] or [`ProofError::RootMismatch`].
pub fn verify_inclusion(
    index: LeafIndex,
    size: TreeSize,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index.0 >= size.0 {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let want = inclusion_proof_len(index.0, size.0);
    if proof.len() != want {
        return Err(ProofError::Length {
            got: proof.len(),
            want,
            at: index.0,
            size,
        });
    }
    let mut fn_ = index.0;
    let mut sn = size.0 - 1;
    let mut r = *leaf;
    for p in proof {
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // The length check above makes sn reach 0 exactly here.
    if sn != 0 {
        return Err(ProofError::Length {
            got: proof.len(),
            want,
            at: index.0,
            size,
        });
    }
    if r != *root {
        return Err(ProofError::RootMismatch {
            computed: r,
            expected: *root,
        });
    }
    Ok(())
}

/// Checks that the tree of `new` leaves with root `new_root` extends the tree of `old` leaves
/// with root `old_root` (RFC 9162 §2.1.4.2).
///
/// # Errors
/// [`ProofError::SizeOrder`], [`ProofError::FromEmpty`], [`ProofError::Length`],
/// [`ProofError::EqualSizeRootsDiffer`], [`ProofError::OldRootMismatch`] or
/// [`ProofError::RootMismatch`].
pub fn verify_consistency(
    old: TreeSize,
    new: TreeSize,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::SizeOrder { old, new });
    }
    if old.0 == 0 {
        return Err(ProofError::FromEmpty { new });
    }
    let want = consistency_proof_len(old.0, new.0);
    if proof.len() != want {
        return Err(ProofError::Length {
            got: proof.len(),
            want,
            at: old.0,
            size: new,
        });
    }
    if old == new {
        if old_root != new_root {
            return Err(ProofError::EqualSizeRootsDiffer { size: new });
        }
        return Ok(());
    }
    let length_error = || ProofError::Length {
        got: proof.len(),
        want,
        at: old.0,
        size: new,
    };
    // A power-of-two old tree is itself a node of the new tree: its root seeds the walk.
    let (first, rest): (Hash, &[Hash]) = if old.0.is_power_of_two() {
        (*old_root, proof)
    } else {
        let (f, r) = proof.split_first().ok_or_else(length_error)?;
        (*f, r)
    };
    let mut fn_ = old.0 - 1;
    let mut sn = new.0 - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut fr = first;
    let mut sr = first;
    for c in rest {
        if sn == 0 {
            return Err(length_error());
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(length_error());
    }
    if fr != *old_root {
        return Err(ProofError::OldRootMismatch {
            computed: fr,
            expected: *old_root,
        });
    }
    if sr != *new_root {
        return Err(ProofError::RootMismatch {
            computed: sr,
            expected: *new_root,
        });
    }
    Ok(())
}

/// The number of hashes in the inclusion proof of leaf `index` in a tree of `size` leaves.
fn inclusion_proof_len(index: u64, size: u64) -> usize {
    // Inner part: levels below the point where index and size − 1 diverge; border part: the
    // set bits of the index above it (RFC 9162 §2.1.3.2 consumes one hash per step of each).
    let last = size - 1;
    let inner = 64 - (index ^ last).leading_zeros();
    // `inner` is 64 when the two differ in the top bit: nothing is left above it.
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// The number of hashes in the consistency proof from `old` to `new` leaves (0 < old ≤ new).
fn consistency_proof_len(old: u64, new: u64) -> usize {
    if old == new {
        return 0;
    }
    let shift = old.trailing_zeros();
    let (o, n) = ((old >> shift) - 1, (new - 1) >> shift);
    let inner = 64 - (o ^ n).leading_zeros();
    let border = o.checked_shr(inner).unwrap_or(0).count_ones();
    let seed = usize::from(!old.is_power_of_two());
    (inner + border) as usize + seed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: sizes whose top bit differs from the old size's or the index's shifted a
    /// `u64` by 64, a panic in a debug build and a wrong expected length in a release build,
    /// reachable by anyone who holds a log key through a witness's `add-checkpoint`.
    #[test]
    fn proof_lengths_hold_at_the_largest_sizes() {
        for (old, new) in [
            (157, u64::MAX),
            (157, u64::MAX - 1),
            (1, u64::MAX),
            (3, 1 << 63),
        ] {
            let want = consistency_proof_len(old, new);
            assert!((1..=2 * 64).contains(&want), "{old} {new}: {want}");
            let short = vec![Hash([0; 32]); 5];
            assert!(matches!(
                verify_consistency(
                    TreeSize(old),
                    TreeSize(new),
                    &Hash([1; 32]),
                    &Hash([2; 32]),
                    &short
                ),
                Err(ProofError::Length { .. } | ProofError::OldRootMismatch { .. })
            ));
        }
        for (index, size) in [(0, u64::MAX), (u64::MAX - 1, u64::MAX), (5, 1 << 63)] {
            let want = inclusion_proof_len(index, size);
            assert!((1..=64).contains(&want), "{index} {size}: {want}");
            assert!(
                verify_inclusion(
                    LeafIndex(index),
                    TreeSize(size),
                    &Hash([0; 32]),
                    &[],
                    &Hash([1; 32])
                )
                .is_err()
            );
        }
    }
    use crate::hash::leaf_hash;
    use crate::storage::{MemoryStore, root_at};
    use crate::tree::Tree;

    fn store(n: u64) -> MemoryStore {
        let mut t = Tree::new();
        let mut s = MemoryStore::new();
        let mut out = Vec::new();
        for i in 0..n {
            out.clear();
            t.append(leaf_hash(&i.to_be_bytes()), &mut out).unwrap();
            s.extend(&out).unwrap();
        }
        s
    }

    #[test]
    fn lengths_match_generated_proofs() {
        let s = store(70);
        for n in 1..=70u64 {
            for i in 0..n {
                let p = inclusion_proof(&s, LeafIndex(i), TreeSize(n)).unwrap();
                assert_eq!(p.len(), inclusion_proof_len(i, n), "inclusion {i} of {n}");
            }
            for m in 1..=n {
                let p = consistency_proof(&s, TreeSize(m), TreeSize(n)).unwrap();
                assert_eq!(
                    p.len(),
                    consistency_proof_len(m, n),
                    "consistency {m} to {n}"
                );
            }
        }
    }

    #[test]
    fn small_trees_round_trip() {
        let s = store(33);
        for n in 1..=33u64 {
            let root = root_at(&s, TreeSize(n)).unwrap();
            for i in 0..n {
                let p = inclusion_proof(&s, LeafIndex(i), TreeSize(n)).unwrap();
                let leaf = leaf_hash(&i.to_be_bytes());
                verify_inclusion(LeafIndex(i), TreeSize(n), &leaf, &p, &root).unwrap();
            }
            for m in 1..=n {
                let old_root = root_at(&s, TreeSize(m)).unwrap();
                let p = consistency_proof(&s, TreeSize(m), TreeSize(n)).unwrap();
                verify_consistency(TreeSize(m), TreeSize(n), &old_root, &root, &p).unwrap();
            }
        }
    }
}
