//! Micro-benchmark, no harness: appends 1,000,000 entries to the tree, writes all tiles to a
//! temporary directory in batches (as a sequencer would), then generates proofs at 1M leaves.
//! Reference figures from the same run: raw SHA-256 node hashes per second and fsync latency.
//!
//! `cargo bench -p urna-tlog --bench append` (set `URNA_BENCH_N` for another size). Prints
//! numbers only; it asserts nothing about time.

// A benchmark binary: failing loudly on a setup error is the right behaviour.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::fs::File;
use std::io::Write as _;
use std::time::Instant;

use urna_tlog::proof::{consistency_proof, inclusion_proof};
use urna_tlog::tile::{Tile, TileKind, encode_entries, hash_tile_bytes, tiles_for_growth};
use urna_tlog::{Hash, LeafIndex, MemoryStore, TileDir, Tree, TreeSize, leaf_hash, node_hash};

fn entry(i: u64) -> Vec<u8> {
    // About the size of a signed protocol note.
    let mut s = format!("urna/protocol/v1\nelection: bench\nstation: {i:08}\n");
    while s.len() < 400 {
        s.push_str("votes: PARTY 123\n");
    }
    s.into_bytes()
}

fn rate(n: u64, secs: f64) -> String {
    format!("{:.0}/s", n as f64 / secs)
}

fn main() {
    let n: u64 = std::env::var("URNA_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let batch: u64 = 4096;

    // Reference: SHA-256 interior-node hashes per second.
    let t = Instant::now();
    let mut h = Hash::EMPTY_ROOT;
    let refs = 2_000_000u64;
    for _ in 0..refs {
        h = node_hash(&h, &h);
    }
    let node_secs = t.elapsed().as_secs_f64();
    println!(
        "reference/sha256-node-hash: {} ({})",
        rate(refs, node_secs),
        &h.to_hex()[..8]
    );

    // Reference: fsync latency of a small file in the same file system.
    let tmp = tempfile::tempdir().unwrap();
    let probe = tmp.path().join("fsync-probe");
    let mut f = File::create(&probe).unwrap();
    let t = Instant::now();
    let syncs = 200;
    for i in 0..syncs {
        f.write_all(&[i as u8]).unwrap();
        f.sync_all().unwrap();
    }
    let fsync_ms = t.elapsed().as_secs_f64() * 1e3 / f64::from(syncs);
    println!("reference/fsync: {fsync_ms:.3} ms");

    // 1. Tree appends alone (leaf hashing included).
    let entries: Vec<Vec<u8>> = (0..n).map(entry).collect();
    let mut tree = Tree::new();
    let mut store = MemoryStore::new();
    let mut out = Vec::new();
    let t = Instant::now();
    for e in &entries {
        out.clear();
        tree.append(leaf_hash(e), &mut out).unwrap();
        store.extend(&out).unwrap();
    }
    let append_secs = t.elapsed().as_secs_f64();
    println!(
        "tree/append/{n}: {} ({append_secs:.3} s), root {}",
        rate(n, append_secs),
        &tree.root().to_hex()[..8]
    );

    // 2. Tiles written in sequencer-sized batches (hash tiles + entry bundles, atomic writes).
    let dir = TileDir::open(tmp.path().join("log")).unwrap();
    let t = Instant::now();
    let mut tile_bytes = 0usize;
    let mut files = 0usize;
    let mut size = 0u64;
    while size < n {
        let next = (size + batch).min(n);
        let tiles: Vec<(Tile, Vec<u8>)> = tiles_for_growth(TreeSize(size), TreeSize(next))
            .into_iter()
            .map(|t| {
                let bytes = match t.kind() {
                    TileKind::Hash(_) => hash_tile_bytes(&store, &t).unwrap(),
                    TileKind::Entries => {
                        let start = (t.index() * 256) as usize;
                        encode_entries(&entries[start..start + usize::from(t.width())]).unwrap()
                    }
                };
                (t, bytes)
            })
            .collect();
        tile_bytes += tiles.iter().map(|(_, b)| b.len()).sum::<usize>();
        files += tiles.len();
        dir.write_tiles(&tiles).unwrap();
        size = next;
    }
    let tile_secs = t.elapsed().as_secs_f64();
    println!(
        "tiles/write/{n} (batches of {batch}): {} ({tile_secs:.3} s), {files} files, {:.1} MB written",
        rate(n, tile_secs),
        tile_bytes as f64 / 1e6
    );

    // 3. Proofs at n leaves from memory.
    let size = TreeSize(n);
    let proofs = 100_000u64;
    let t = Instant::now();
    for i in 0..proofs {
        let idx = (i * 7919) % n;
        std::hint::black_box(inclusion_proof(&store, LeafIndex(idx), size).unwrap());
    }
    let s = t.elapsed().as_secs_f64();
    println!("proof/inclusion/{n}: {}", rate(proofs, s));
    let t = Instant::now();
    for i in 0..proofs {
        let old = 1 + (i * 7919) % n;
        std::hint::black_box(consistency_proof(&store, TreeSize(old), size).unwrap());
    }
    let s = t.elapsed().as_secs_f64();
    println!("proof/consistency/{n}: {}", rate(proofs, s));

    // 4. Proofs at n leaves from the tile directory (cold reader per proof: reads tiles).
    let reader = urna_tlog::TileHashReader::new(dir, size);
    let few = 2_000u64;
    let t = Instant::now();
    for i in 0..few {
        let idx = (i * 7919) % n;
        std::hint::black_box(inclusion_proof(&reader, LeafIndex(idx), size).unwrap());
    }
    let s = t.elapsed().as_secs_f64();
    println!("proof/inclusion-from-tiles/{n}: {}", rate(few, s));
}
