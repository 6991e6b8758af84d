//! Golden files for the C2SP formats, built from fixed seeds (Ed25519 signing is
//! deterministic, so the bytes never change). Run with `URNA_BLESS=1` to rewrite them; a
//! golden file changes only in a commit that says why.
//!
//! The tree is the eight RFC 6962 reference leaves (root 5dc9da79…4328).

use std::path::PathBuf;

use urna_model::note::{Note, NoteSigner};
use urna_tlog::checkpoint;
use urna_tlog::cosignature::{CosignatureSigner, CosignatureVerifier};
use urna_tlog::{Checkpoint, Tree, leaf_hash};

const REFERENCE_LEAVES: [&[u8]; 8] = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
];

const ORIGIN: &str = "urna.example/golden";
const TIME: u64 = 1_700_000_000;

fn golden(name: &str, got: &[u8]) {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data")).join(name);
    if std::env::var_os("URNA_BLESS").is_some() {
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        String::from_utf8_lossy(got),
        String::from_utf8_lossy(&want),
        "{name} differs from its golden file"
    );
    assert_eq!(got, want.as_slice());
}

fn keys() -> (NoteSigner, CosignatureSigner, CosignatureSigner) {
    (
        NoteSigner::from_seed(ORIGIN, &[0x11; 32]).unwrap(),
        CosignatureSigner::from_seed("witness.example/w1", &[0x22; 32]).unwrap(),
        CosignatureSigner::from_seed("witness.example/w2", &[0x33; 32]).unwrap(),
    )
}

#[test]
fn checkpoint_and_cosignatures_are_byte_exact() {
    let mut tree = Tree::new();
    let mut out = Vec::new();
    for l in REFERENCE_LEAVES {
        tree.append(leaf_hash(l), &mut out).unwrap();
    }
    assert_eq!(
        tree.root().to_hex(),
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    );
    let (log, w1, w2) = keys();
    let cp = Checkpoint::new(ORIGIN, tree.size(), tree.root());
    let signed = cp.sign(&log).unwrap();
    golden("checkpoint.golden", &signed.to_bytes());

    let mut cosigned = signed;
    cosigned.add_signature(w1.cosign_at(cosigned.text(), TIME).unwrap());
    cosigned.add_signature(w2.cosign_at(cosigned.text(), TIME + 1).unwrap());
    golden("cosigned_checkpoint.golden", &cosigned.to_bytes());

    let vkeys = format!(
        "{}\n{}\n{}\n",
        log.verifier().to_vkey(),
        w1.verifier().to_vkey(),
        w2.verifier().to_vkey()
    );
    golden("verifier_keys.golden", vkeys.as_bytes());

    // Reading the golden files back: the keys parse, everything verifies.
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/cosigned_checkpoint.golden"
    ))
    .unwrap();
    let (opened, note) = checkpoint::open(&bytes, ORIGIN, &log.verifier()).unwrap();
    assert_eq!(opened, cp);
    let mut lines = vkeys.lines().skip(1);
    let v1 = CosignatureVerifier::from_vkey(lines.next().unwrap()).unwrap();
    let v2 = CosignatureVerifier::from_vkey(lines.next().unwrap()).unwrap();
    assert_eq!(v1.verify(&note), Ok(TIME));
    assert_eq!(v2.verify(&note), Ok(TIME + 1));
    assert_eq!(Note::parse(&bytes).unwrap().signatures().len(), 3);
}
