//! The tile directory: written in batches as a sequencer would, read back for proofs, and
//! refusing to overwrite history.

use urna_tlog::proof::{consistency_proof, inclusion_proof};
use urna_tlog::storage::root_at;
use urna_tlog::tile::{
    Tile, TileHashReader, TileKind, decode_entries, encode_entries, hash_tile_bytes,
    tiles_for_growth, tiles_for_size,
};
use urna_tlog::tiledir::TileDirError;
use urna_tlog::{LeafIndex, MemoryStore, TileDir, Tree, TreeSize, leaf_hash};

use crate::entry;

/// Appends entries `from..to` and writes the tiles that changed, like one sequencer batch.
fn batch(tree: &mut Tree, store: &mut MemoryStore, dir: &TileDir, to: u64) {
    let old = tree.size();
    let mut out = Vec::new();
    for i in old.0..to {
        out.clear();
        tree.append(leaf_hash(&entry(i)), &mut out).unwrap();
        store.extend(&out).unwrap();
    }
    let tiles: Vec<(Tile, Vec<u8>)> = tiles_for_growth(old, tree.size())
        .into_iter()
        .map(|t| {
            let bytes = match t.kind() {
                TileKind::Hash(_) => hash_tile_bytes(store, &t).unwrap(),
                TileKind::Entries => {
                    let start = t.index() * 256;
                    let es: Vec<Vec<u8>> =
                        (start..start + u64::from(t.width())).map(entry).collect();
                    encode_entries(&es).unwrap()
                }
            };
            (t, bytes)
        })
        .collect();
    dir.write_tiles(&tiles).unwrap();
}

#[test]
fn batches_of_tiles_serve_every_proof() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = TileDir::open(tmp.path().join("log")).unwrap();
    let mut tree = Tree::new();
    let mut store = MemoryStore::new();
    let mut sizes = Vec::new();
    for to in [1u64, 3, 255, 256, 257, 600, 65_536 + 300] {
        batch(&mut tree, &mut store, &dir, to);
        sizes.push(tree.size());
        let reader = TileHashReader::new(dir.clone(), tree.size());
        assert_eq!(root_at(&reader, tree.size()).unwrap(), tree.root());
        assert_eq!(Tree::from_reader(&reader, tree.size()).unwrap(), tree);
    }
    // Every tile of the final size is on disk, at the path the spec names.
    for t in tiles_for_size(tree.size()) {
        let p = tmp.path().join("log").join(t.path());
        assert!(p.is_file(), "{} missing", t.path());
    }
    assert!(tmp.path().join("log/tile/0/257.p/44").is_file());
    assert!(tmp.path().join("log/tile/entries/257.p/44").is_file());
    assert!(tmp.path().join("log/tile/2/000.p/1").is_file());
    // Proofs from old checkpoints' sizes are still answerable from the directory.
    let last = tree.size();
    let reader = TileHashReader::new(dir.clone(), last);
    for &s in &sizes {
        assert_eq!(
            consistency_proof(&reader, s, last).unwrap(),
            consistency_proof(&store, s, last).unwrap()
        );
        let old_reader = TileHashReader::new(dir.clone(), s);
        assert_eq!(
            root_at(&old_reader, s).unwrap(),
            root_at(&store, s).unwrap()
        );
    }
    for i in [0u64, 255, 256, 40_000, last.0 - 1] {
        assert_eq!(
            inclusion_proof(&reader, LeafIndex(i), last).unwrap(),
            inclusion_proof(&store, LeafIndex(i), last).unwrap()
        );
    }
    // Entries read back from their bundle.
    let t = Tile::entries(1, 256).unwrap();
    let bytes = dir.read(&t).unwrap().unwrap();
    let es = decode_entries(&bytes, 256).unwrap();
    assert_eq!(es[3], entry(256 + 3).as_slice());
    // No temporary files are left behind.
    let mut stack = vec![tmp.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            assert!(!e.file_name().to_string_lossy().starts_with('.'));
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
}

#[test]
fn tiles_are_immutable_and_rewrites_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = TileDir::open(tmp.path()).unwrap();
    let t = Tile::hash(0, 0, 1).unwrap();
    let a = leaf_hash(b"a").0.to_vec();
    dir.write_tiles(&[(t, a.clone())]).unwrap();
    dir.write_tiles(&[(t, a.clone())]).unwrap();
    let b = leaf_hash(b"b").0.to_vec();
    assert!(matches!(
        dir.write_tiles(&[(t, b)]),
        Err(TileDirError::Conflict { .. })
    ));
    assert_eq!(dir.read(&t).unwrap(), Some(a));
    assert_eq!(dir.read(&Tile::hash(0, 1, 1).unwrap()).unwrap(), None);
    dir.write_checkpoint(b"one\n").unwrap();
    dir.write_checkpoint(b"two\n").unwrap();
    assert_eq!(dir.read_checkpoint().unwrap(), Some(b"two\n".to_vec()));
}

#[test]
fn a_corrupt_tile_is_reported_not_used() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = TileDir::open(tmp.path()).unwrap();
    let t = Tile::hash(0, 0, 3).unwrap();
    dir.write_tiles(&[(t, vec![0u8; 95])]).unwrap();
    let reader = TileHashReader::new(dir, TreeSize(3));
    assert!(root_at(&reader, TreeSize(3)).is_err());
}
