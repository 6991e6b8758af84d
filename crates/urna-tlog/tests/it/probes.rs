//! Corruption probes: every mutation of a valid proof, checkpoint or cosignature is rejected.

use urna_model::note::{Note, NoteSigner};
use urna_tlog::checkpoint::{self, CheckpointError};
use urna_tlog::cosignature::CosignatureSigner;
use urna_tlog::proof::{consistency_proof, inclusion_proof, verify_consistency, verify_inclusion};
use urna_tlog::storage::root_at;
use urna_tlog::{Checkpoint, Hash, LeafIndex, TreeSize, leaf_hash};

use crate::{build, entry};

fn flip_each_bit(proof: &[Hash]) -> Vec<Vec<Hash>> {
    let mut out = Vec::new();
    for i in 0..proof.len() {
        for bit in [0usize, 7, 100, 255] {
            let mut p = proof.to_vec();
            p[i].0[bit / 8] ^= 1 << (bit % 8);
            out.push(p);
        }
    }
    out
}

/// Structural mutations of a proof: truncated, extended, duplicated, reordered, emptied.
fn reshape(proof: &[Hash]) -> Vec<Vec<Hash>> {
    let mut out = vec![Vec::new()];
    if !proof.is_empty() {
        out.push(proof[..proof.len() - 1].to_vec());
        out.push(proof[1..].to_vec());
        let mut dup = proof.to_vec();
        dup.push(proof[proof.len() - 1]);
        out.push(dup);
        let mut rev = proof.to_vec();
        rev.reverse();
        if rev != proof {
            out.push(rev);
        }
    }
    let mut pre = vec![Hash::EMPTY_ROOT];
    pre.extend_from_slice(proof);
    out.push(pre);
    let mut post = proof.to_vec();
    post.push(Hash::EMPTY_ROOT);
    out.push(post);
    out.retain(|p| p != proof);
    out
}

#[test]
fn inclusion_proof_mutations_are_rejected() {
    let (_, store) = build(300);
    for size in [1u64, 2, 7, 8, 255, 256, 257, 300] {
        let root = root_at(&store, TreeSize(size)).unwrap();
        for index in [0, size / 3, size / 2, size - 1] {
            let leaf = leaf_hash(&entry(index));
            let proof = inclusion_proof(&store, LeafIndex(index), TreeSize(size)).unwrap();
            verify_inclusion(LeafIndex(index), TreeSize(size), &leaf, &proof, &root).unwrap();
            let reject = |i: u64, s: u64, l: &Hash, p: &[Hash], r: &Hash, what: &str| {
                assert!(
                    verify_inclusion(LeafIndex(i), TreeSize(s), l, p, r).is_err(),
                    "{what}: index {i} size {s} (from index {index} size {size})"
                );
            };
            for i in [index.wrapping_sub(1), index + 1, index ^ 2, u64::MAX] {
                if i != index {
                    reject(i, size, &leaf, &proof, &root, "index changed");
                }
            }
            // Sizes ×2 and ÷2. (A size off by one can keep the proof's shape, and a Merkle
            // root does not commit to its size: that is why a checkpoint signs both.)
            for s in [size * 2, size / 2, 0] {
                if s != size {
                    reject(index, s, &leaf, &proof, &root, "size changed");
                }
            }
            for p in flip_each_bit(&proof).iter().chain(&reshape(&proof)) {
                reject(index, size, &leaf, p, &root, "proof changed");
            }
            let mut bad_leaf = leaf;
            bad_leaf.0[31] ^= 1;
            reject(index, size, &bad_leaf, &proof, &root, "leaf changed");
            if size > 1 {
                reject(index, size, &root, &proof, &leaf, "leaf and root swapped");
            }
            reject(index, size, &leaf, &proof, &Hash::EMPTY_ROOT, "empty root");
            let mut bad_root = root;
            bad_root.0[0] ^= 0x80;
            reject(index, size, &leaf, &proof, &bad_root, "root changed");
        }
    }
}

#[test]
fn consistency_proof_mutations_are_rejected() {
    let (_, store) = build(300);
    for (old, new) in [
        (1u64, 2u64),
        (1, 8),
        (3, 7),
        (4, 8),
        (7, 300),
        (256, 257),
        (100, 300),
    ] {
        let r1 = root_at(&store, TreeSize(old)).unwrap();
        let r2 = root_at(&store, TreeSize(new)).unwrap();
        let proof = consistency_proof(&store, TreeSize(old), TreeSize(new)).unwrap();
        verify_consistency(TreeSize(old), TreeSize(new), &r1, &r2, &proof).unwrap();
        let reject = |o: u64, n: u64, a: &Hash, b: &Hash, p: &[Hash], what: &str| {
            assert!(
                verify_consistency(TreeSize(o), TreeSize(n), a, b, p).is_err(),
                "{what}: {o} -> {n} (from {old} -> {new})"
            );
        };
        // Sizes ×2 and ÷2 (see the note on sizes in the inclusion probe above).
        for o in [old * 2, old / 2, 0] {
            if o != old {
                reject(o, new, &r1, &r2, &proof, "old size changed");
            }
        }
        for n in [new * 2, new / 2] {
            if n != new {
                reject(old, n, &r1, &r2, &proof, "new size changed");
            }
        }
        for p in flip_each_bit(&proof).iter().chain(&reshape(&proof)) {
            reject(old, new, &r1, &r2, p, "proof changed");
        }
        reject(old, new, &r2, &r1, &proof, "roots swapped");
        reject(old, new, &Hash::EMPTY_ROOT, &r2, &proof, "empty old root");
        reject(old, new, &r1, &Hash::EMPTY_ROOT, &proof, "empty new root");
        let mut b = r1;
        b.0[5] ^= 4;
        reject(old, new, &b, &r2, &proof, "old root changed");
        let mut b = r2;
        b.0[5] ^= 4;
        reject(old, new, &r1, &b, &proof, "new root changed");
    }
}

fn log_key() -> NoteSigner {
    NoteSigner::from_seed("urna.example/log", &[1; 32]).unwrap()
}

fn signed_checkpoint() -> (Checkpoint, Vec<u8>) {
    let (tree, _) = build(1000);
    let cp = Checkpoint::new("urna.example/log", tree.size(), tree.root());
    let note = cp.sign(&log_key()).unwrap();
    (cp, note.to_bytes())
}

/// Every byte-level mutation of a signed checkpoint: flipped bits, truncation, extra bytes.
fn byte_mutations(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in 0..bytes.len() {
        let mut b = bytes.to_vec();
        b[i] ^= 0x01;
        out.push(b);
    }
    for cut in [1, 2, 10, bytes.len() / 2] {
        out.push(bytes[..bytes.len() - cut].to_vec());
    }
    for extra in [&b"\n"[..], b" ", b"x", b"\0"] {
        let mut b = extra.to_vec();
        b.extend_from_slice(bytes);
        out.push(b);
        let mut b = bytes.to_vec();
        b.extend_from_slice(extra);
        out.push(b);
    }
    out
}

#[test]
fn checkpoint_mutations_are_rejected() {
    let (cp, bytes) = signed_checkpoint();
    let key = log_key().verifier();
    let (opened, _) = checkpoint::open(&bytes, "urna.example/log", &key).unwrap();
    assert_eq!(opened, cp);
    for (i, m) in byte_mutations(&bytes).iter().enumerate() {
        // A mutation may still parse (e.g. a bit flip inside the signature's base64 that
        // yields other valid base64), but it must never open as a valid checkpoint equal to
        // or different from the original.
        assert!(
            checkpoint::open(m, "urna.example/log", &key).is_err(),
            "mutation {i} accepted: {:?}",
            String::from_utf8_lossy(m)
        );
    }
    // Wrong key, same name; another name; wrong origin expected.
    let other = NoteSigner::from_seed("urna.example/log", &[2; 32]).unwrap();
    assert!(matches!(
        checkpoint::open(&bytes, "urna.example/log", &other.verifier()),
        Err(CheckpointError::Signature(_))
    ));
    assert!(matches!(
        checkpoint::open(&bytes, "urna.example/other", &key),
        Err(CheckpointError::WrongOrigin { .. })
    ));
    // Duplicated signature line.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let sig_line = text.lines().last().unwrap();
    let dup = format!("{text}{sig_line}\n");
    assert!(matches!(
        checkpoint::open(dup.as_bytes(), "urna.example/log", &key),
        Err(CheckpointError::Note(_))
    ));
    // Sizes ×2 and ÷2, re-signed by the wrong key or not re-signed at all.
    for size in [cp.size.0 * 2, cp.size.0 / 2] {
        let forged = Checkpoint::new(cp.origin.clone(), TreeSize(size), cp.root);
        let mut note = Note::unsigned(&forged.to_text()).unwrap();
        note.add_signature(Note::parse(&bytes).unwrap().signatures()[0].clone());
        assert!(checkpoint::open(&note.to_bytes(), "urna.example/log", &key).is_err());
    }
    // A non-32-byte root, correctly signed, is still not a checkpoint.
    let short = "urna.example/log\n1000\nZG9uJ3QgY2FyZSAy\n";
    let note = log_key().sign_text(short);
    assert!(matches!(
        checkpoint::open(&note.to_bytes(), "urna.example/log", &key),
        Err(CheckpointError::BadRoot(_))
    ));
}

#[test]
fn cosignature_mutations_are_rejected() {
    let (_, bytes) = signed_checkpoint();
    let witness = CosignatureSigner::from_seed("witness.example/w1", &[3; 32]).unwrap();
    let v = witness.verifier();
    let mut note = Note::parse(&bytes).unwrap();
    let sig = witness.cosign_at(note.text(), 1_700_000_000).unwrap();
    note.add_signature(sig.clone());
    assert_eq!(v.verify(&note), Ok(1_700_000_000));
    let cosigned = note.to_bytes();
    // Mutate the checkpoint text and the witness's own line; the log's signature line is
    // not covered by a cosignature, so changing it cannot (and must not) matter here.
    let text_len = note.text().len();
    let witness_line = 1 + cosigned[..cosigned.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap();
    for (i, m) in byte_mutations(&cosigned)
        .iter()
        .enumerate()
        .filter(|(i, _)| *i < text_len || *i >= witness_line)
    {
        let ok = Note::parse(m).ok().and_then(|n| v.verify(&n).ok());
        assert!(ok.is_none(), "mutation {i} accepted");
    }
    // Each bit of the timestamp and of the signature.
    for bit in 0..(72 * 8) {
        let mut s = sig.clone();
        s.signature[bit / 8] ^= 1 << (bit % 8);
        assert!(v.verify_signature(note.text(), &s).is_err(), "bit {bit}");
    }
    // Truncated / extended signature bytes.
    for len in [0, 8, 64, 71, 73] {
        let mut s = sig.clone();
        s.signature.resize(len, 0);
        assert!(v.verify_signature(note.text(), &s).is_err(), "len {len}");
    }
    // Another witness key under the same name, and a same-key different-name verifier.
    let other = CosignatureSigner::from_seed("witness.example/w1", &[4; 32]).unwrap();
    assert!(other.verifier().verify(&note).is_err());
    let renamed = CosignatureSigner::from_seed("witness.example/w2", &[3; 32]).unwrap();
    assert!(renamed.verifier().verify(&note).is_err());
    // The cosignature does not carry over to another checkpoint.
    let (tree, _) = build(1001);
    let next = Checkpoint::new("urna.example/log", tree.size(), tree.root());
    assert!(v.verify_signature(&next.to_text(), &sig).is_err());
    // Nor is a plain Ed25519 note signature by the same key a cosignature.
    let plain = NoteSigner::from_seed("witness.example/w1", &[3; 32]).unwrap();
    let mut n2 = Note::parse(&bytes).unwrap();
    n2.sign(&plain);
    assert!(v.verify(&n2).is_err());
}
