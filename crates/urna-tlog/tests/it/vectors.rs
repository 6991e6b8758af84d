//! The transparency-dev/merkle proof vectors (98 inclusion, 98 consistency, many adversarial)
//! and the RFC 6962 reference tree, read from the shared data directory at test time.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;
use urna_tlog::hash::{Hash, LeafIndex, TreeSize, leaf_hash};
use urna_tlog::proof::{verify_consistency, verify_inclusion};
use urna_tlog::storage::{MemoryStore, root_at};
use urna_tlog::tree::Tree;

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/rfc6962_transparency_dev"
);

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
}

fn load(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Decodes a base64 field; `None` if it is not a 32-byte hash (our types refuse those).
fn hash(v: &Value) -> Option<Hash> {
    let raw = BASE64.decode(v.as_str().unwrap()).unwrap();
    Hash::from_slice(&raw).ok()
}

/// A proof array; JSON `null` (Go's nil slice) is the empty proof.
fn hashes(v: &Value) -> Option<Vec<Hash>> {
    match v {
        Value::Null => Some(Vec::new()),
        _ => v.as_array().unwrap().iter().map(hash).collect(),
    }
}

/// Vectors that expect success although a hash in them is not 32 bytes. urna's `Hash` type
/// refuses such input at the boundary (a non-32-byte hash is one of the corruptions that must
/// be rejected), so for these the expected verdict is reversed — and only for these.
const NON_32_BYTE_SUCCESSES: &[&str] =
    &["consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"];

fn rel(p: &Path) -> String {
    p.strip_prefix(format!("{DATA}/testdata/"))
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn inclusion_vectors() {
    let mut files = Vec::new();
    json_files(Path::new(&format!("{DATA}/testdata/inclusion")), &mut files);
    assert_eq!(files.len(), 98, "vector count changed");
    let (mut ok, mut err) = (0, 0);
    for f in &files {
        let v = load(f);
        let want_err = v["wantErr"].as_bool().unwrap();
        let got = (|| {
            let root = hash(&v["root"])?;
            let leaf = hash(&v["leafHash"])?;
            let proof = hashes(&v["proof"])?;
            Some(verify_inclusion(
                LeafIndex(v["leafIdx"].as_u64().unwrap()),
                TreeSize(v["treeSize"].as_u64().unwrap()),
                &leaf,
                &proof,
                &root,
            ))
        })();
        let failed = !matches!(got, Some(Ok(())));
        assert_eq!(failed, want_err, "{}: {got:?}", rel(f));
        if failed { err += 1 } else { ok += 1 }
    }
    assert_eq!((ok, err), (INCLUSION_OK, 98 - INCLUSION_OK));
}

/// Happy-path inclusion vectors in the set; every other one is adversarial.
const INCLUSION_OK: usize = 6;

#[test]
fn consistency_vectors() {
    let mut files = Vec::new();
    json_files(
        Path::new(&format!("{DATA}/testdata/consistency")),
        &mut files,
    );
    assert_eq!(files.len(), 98, "vector count changed");
    let (mut ok, mut err) = (0, 0);
    for f in &files {
        let v = load(f);
        let name = rel(f);
        let mut want_err = v["wantErr"].as_bool().unwrap();
        if NON_32_BYTE_SUCCESSES.contains(&name.as_str()) {
            want_err = true;
        }
        let got = (|| {
            let root1 = hash(&v["root1"])?;
            let root2 = hash(&v["root2"])?;
            let proof = hashes(&v["proof"])?;
            Some(verify_consistency(
                TreeSize(v["size1"].as_u64().unwrap()),
                TreeSize(v["size2"].as_u64().unwrap()),
                &root1,
                &root2,
                &proof,
            ))
        })();
        let failed = !matches!(got, Some(Ok(())));
        assert_eq!(failed, want_err, "{name}: {got:?}");
        if failed { err += 1 } else { ok += 1 }
    }
    // Five happy paths verify; the sixth success vector is the 12-byte-root one above.
    assert_eq!((ok, err), (5, 93));
}

#[test]
fn reference_tree_roots_of_every_prefix() {
    let v = load(Path::new(&format!("{DATA}/reference_tree.json")));
    let leaves: Vec<Vec<u8>> = v["leaf_inputs_hex"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hex(h.as_str().unwrap()))
        .collect();
    let roots: Vec<String> = v["root_by_tree_size_hex"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(roots.len(), leaves.len() + 1);
    let mut tree = Tree::new();
    let mut store = MemoryStore::new();
    let mut out = Vec::new();
    assert_eq!(tree.root().to_hex(), roots[0]);
    for (i, leaf) in leaves.iter().enumerate() {
        out.clear();
        tree.append(leaf_hash(leaf), &mut out).unwrap();
        store.extend(&out).unwrap();
        assert_eq!(
            tree.root().to_hex(),
            roots[i + 1],
            "incremental root at size {}",
            i + 1
        );
        assert_eq!(
            root_at(&store, tree.size()).unwrap().to_hex(),
            roots[i + 1],
            "stored root at size {}",
            i + 1
        );
    }
    assert!(roots[8].starts_with("5dc9da79") && roots[8].ends_with("4328"));
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
