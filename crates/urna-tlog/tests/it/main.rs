//! Integration tests for urna-tlog, in one binary to save link time.

// Test helpers outside `#[test]` functions may fail loudly: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod golden;
mod probes;
mod props;
mod tiles;
mod vectors;
mod witness;

use urna_tlog::{MemoryStore, Tree, leaf_hash};

/// The entry at index `i` of the test logs.
pub(crate) fn entry(i: u64) -> Vec<u8> {
    format!("urna/test-entry/v1\nindex: {i}\n").into_bytes()
}

/// A tree of `n` test entries with every node stored.
pub(crate) fn build(n: u64) -> (Tree, MemoryStore) {
    let mut tree = Tree::new();
    let mut store = MemoryStore::new();
    let mut out = Vec::new();
    for i in 0..n {
        out.clear();
        tree.append(leaf_hash(&entry(i)), &mut out).unwrap();
        store.extend(&out).unwrap();
    }
    (tree, store)
}
