//! Property tests. Case counts are capped: each case builds a tree.

use std::collections::HashMap;

use proptest::prelude::*;
use urna_tlog::checkpoint::Checkpoint;
use urna_tlog::proof::{consistency_proof, inclusion_proof, verify_consistency, verify_inclusion};
use urna_tlog::storage::root_at;
use urna_tlog::tile::{
    Tile, TileHashReader, TileKind, decode_entries, decode_hash_tile, encode_entries,
    hash_tile_bytes, tiles_for_size,
};
use urna_tlog::witness::AddCheckpointRequest;
use urna_tlog::{Hash, LeafIndex, Tree, TreeSize, leaf_hash};

use crate::{build, entry};

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Every leaf of a random tree has an inclusion proof that verifies, and flipping any
    /// byte of the proof breaks it.
    #[test]
    fn every_leaf_proves_inclusion(n in 1u64..600, flip in any::<(usize, u8)>()) {
        let (tree, store) = build(n);
        let root = tree.root();
        for i in 0..n {
            let proof = inclusion_proof(&store, LeafIndex(i), TreeSize(n)).unwrap();
            let leaf = leaf_hash(&entry(i));
            prop_assert!(verify_inclusion(LeafIndex(i), TreeSize(n), &leaf, &proof, &root).is_ok());
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let k = flip.0 % bad.len();
                bad[k].0[usize::from(flip.1) % 32] ^= 1 << (flip.1 % 8);
                prop_assert!(verify_inclusion(LeafIndex(i), TreeSize(n), &leaf, &bad, &root).is_err());
            }
        }
    }

    /// For every 1 ≤ m ≤ n the consistency proof verifies; a flipped byte breaks it.
    #[test]
    fn every_prefix_is_consistent(n in 1u64..300, flip in any::<(usize, u8)>()) {
        let (tree, store) = build(n);
        let root = tree.root();
        for m in 1..=n {
            let old_root = root_at(&store, TreeSize(m)).unwrap();
            let proof = consistency_proof(&store, TreeSize(m), TreeSize(n)).unwrap();
            prop_assert!(verify_consistency(TreeSize(m), TreeSize(n), &old_root, &root, &proof).is_ok());
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let k = flip.0 % bad.len();
                bad[k].0[usize::from(flip.1) % 32] ^= 1 << (flip.1 % 8);
                prop_assert!(verify_consistency(TreeSize(m), TreeSize(n), &old_root, &root, &bad).is_err());
            }
        }
    }

    /// The incrementally kept root equals the root recomputed from stored hashes, at every size.
    #[test]
    fn incremental_root_equals_recomputed(leaves in proptest::collection::vec(any::<Vec<u8>>(), 0..200)) {
        let mut tree = Tree::new();
        let mut store = urna_tlog::MemoryStore::new();
        let mut out = Vec::new();
        for l in &leaves {
            out.clear();
            tree.append(leaf_hash(l), &mut out).unwrap();
            store.extend(&out).unwrap();
            prop_assert_eq!(tree.root(), root_at(&store, tree.size()).unwrap());
            prop_assert_eq!(tree.root(), naive_root(&leaves[..tree.size().0 as usize]));
        }
    }

    /// Tiles written from a tree answer the same proofs as the tree itself, and hash tiles and
    /// entry bundles decode to what was encoded.
    #[test]
    fn tiles_round_trip(n in 1u64..1500, probe in any::<u64>()) {
        let (tree, store) = build(n);
        let mut tiles: HashMap<Tile, Vec<u8>> = HashMap::new();
        for t in tiles_for_size(tree.size()) {
            let bytes = match t.kind() {
                TileKind::Hash(_) => {
                    let b = hash_tile_bytes(&store, &t).unwrap();
                    prop_assert_eq!(decode_hash_tile(&b, t.width()).unwrap().len(), usize::from(t.width()));
                    b
                }
                TileKind::Entries => {
                    let start = t.index() * 256;
                    let es: Vec<Vec<u8>> = (start..start + u64::from(t.width())).map(entry).collect();
                    let b = encode_entries(&es).unwrap();
                    let back = decode_entries(&b, t.width()).unwrap();
                    prop_assert_eq!(back, es.iter().map(Vec::as_slice).collect::<Vec<_>>());
                    b
                }
            };
            prop_assert_eq!(Tile::parse_path(&t.path()).unwrap(), t);
            tiles.insert(t, bytes);
        }
        let reader = TileHashReader::new(&tiles, tree.size());
        prop_assert_eq!(root_at(&reader, tree.size()).unwrap(), tree.root());
        let i = probe % n;
        prop_assert_eq!(
            inclusion_proof(&reader, LeafIndex(i), tree.size()).unwrap(),
            inclusion_proof(&store, LeafIndex(i), tree.size()).unwrap()
        );
        let m = 1 + probe % n;
        prop_assert_eq!(
            consistency_proof(&reader, TreeSize(m), tree.size()).unwrap(),
            consistency_proof(&store, TreeSize(m), tree.size()).unwrap()
        );
        prop_assert_eq!(Tree::from_reader(&reader, tree.size()).unwrap(), tree);
    }

    /// Any tile the encoder can name parses back to itself.
    #[test]
    fn tile_paths_round_trip(level in 0u8..=63, index in any::<u64>(), width in 1u16..=256) {
        let t = Tile::hash(level, index, width).unwrap();
        prop_assert_eq!(Tile::parse_path(&t.path()).unwrap(), t);
        let e = Tile::entries(index, width).unwrap();
        prop_assert_eq!(Tile::parse_path(&e.path()).unwrap(), e);
    }

    /// The tile path parser never panics and accepts only canonical paths.
    #[test]
    fn tile_path_parser_is_canonical(s in "tile/[0-9a-z./x]{0,40}") {
        if let Ok(t) = Tile::parse_path(&s) {
            prop_assert_eq!(t.path(), s);
        }
    }

    /// Checkpoint text and add-checkpoint bodies round-trip.
    #[test]
    fn checkpoint_and_request_round_trip(
        origin in "[a-z0-9./-]{1,40}",
        size in any::<u64>(),
        root in any::<[u8; 32]>(),
        old in any::<u64>(),
        proof in proptest::collection::vec(any::<[u8; 32]>(), 0..63),
    ) {
        let cp = Checkpoint::new(origin, TreeSize(size), Hash(root));
        prop_assert_eq!(&Checkpoint::parse_text(&cp.to_text()).unwrap(), &cp);
        let signer = urna_model::note::NoteSigner::from_seed("log", &[5; 32]).unwrap();
        let req = AddCheckpointRequest {
            old_size: TreeSize(old),
            proof: proof.into_iter().map(Hash).collect(),
            note: cp.sign(&signer).unwrap(),
            checkpoint: cp,
        };
        let bytes = req.to_bytes();
        let back = AddCheckpointRequest::parse(&bytes).unwrap();
        prop_assert_eq!(&back, &req);
        prop_assert_eq!(back.to_bytes(), bytes);
    }
}

/// MTH by the RFC 6962 §2.1 recursion, straight from the definition.
fn naive_root(leaves: &[Vec<u8>]) -> Hash {
    fn mth(d: &[Vec<u8>]) -> Hash {
        match d.len() {
            0 => Hash::EMPTY_ROOT,
            1 => leaf_hash(&d[0]),
            n => {
                // The largest power of two smaller than n.
                let k = if n.is_power_of_two() {
                    n / 2
                } else {
                    n.next_power_of_two() / 2
                };
                urna_tlog::node_hash(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }
    mth(leaves)
}
