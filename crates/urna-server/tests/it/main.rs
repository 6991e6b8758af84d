//! urna-server's integration tests, in one binary: the witness router in-process (every
//! status), its durable state across restarts, the cosignature client against real
//! witnesses on loopback, and the bundle from a data directory and from PostgreSQL.

// Test helpers outside `#[test]` functions may fail loudly: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod bundle;
mod durability;
mod hostile_witness;
mod pg_bundle;
mod quorum;
mod router;
mod slow_clients;

use std::path::Path;

use urna_model::note::NoteSigner;
use urna_server::{StateFile, WitnessKey, WitnessService};
use urna_tlog::proof::consistency_proof;
use urna_tlog::{FixedClock, Hash, MemoryStore, Tree, TreeSize, Witness, leaf_hash};

/// The origin of the test log.
pub(crate) const ORIGIN: &str = "urna.test/log";

/// The time every test witness cosigns at.
pub(crate) const NOW: u64 = 1_700_000_000;

/// The test log's key.
pub(crate) fn log_key() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, &[1; 32]).unwrap()
}

/// A log built from fixed entries: `variant` 0 is the honest history, any other value a fork
/// with different entries under the same origin and key.
pub(crate) struct Log {
    origin: String,
    key: NoteSigner,
    variant: u8,
    tree: Tree,
    store: MemoryStore,
}

impl Log {
    pub(crate) fn new(variant: u8) -> Self {
        Self::with(ORIGIN, log_key(), variant)
    }

    pub(crate) fn with(origin: &str, key: NoteSigner, variant: u8) -> Self {
        Self {
            origin: origin.to_owned(),
            key,
            variant,
            tree: Tree::new(),
            store: MemoryStore::new(),
        }
    }

    /// Appends entries until the log has `n`.
    pub(crate) fn grow_to(&mut self, n: u64) -> &mut Self {
        let mut out = Vec::new();
        for i in self.tree.size().0..n {
            out.clear();
            let entry = format!(
                "urna/test-entry/v1\nindex: {i}\nvariant: {}\n",
                self.variant
            );
            self.tree
                .append(leaf_hash(entry.as_bytes()), &mut out)
                .unwrap();
            self.store.extend(&out).unwrap();
        }
        self
    }

    pub(crate) fn size(&self) -> u64 {
        self.tree.size().0
    }

    /// The log-signed checkpoint note of the current tree.
    pub(crate) fn checkpoint(&self) -> Vec<u8> {
        urna_tlog::Checkpoint::new(self.origin.clone(), self.tree.size(), self.tree.root())
            .sign(&self.key)
            .unwrap()
            .to_bytes()
    }

    pub(crate) fn proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, String> {
        consistency_proof(&self.store, TreeSize(old), TreeSize(new)).map_err(|e| e.to_string())
    }

    /// An add-checkpoint body for the current checkpoint from `old`.
    pub(crate) fn request(&self, old: u64) -> Vec<u8> {
        let proof = if old == 0 {
            Vec::new()
        } else {
            self.proof(old, self.size()).unwrap()
        };
        request_with(old, &proof, &self.checkpoint())
    }
}

pub(crate) fn request_with(old: u64, proof: &[Hash], checkpoint: &[u8]) -> Vec<u8> {
    let mut body = format!("old {old}\n").into_bytes();
    for h in proof {
        body.extend_from_slice(h.to_base64().as_bytes());
        body.push(b'\n');
    }
    body.push(b'\n');
    body.extend_from_slice(checkpoint);
    body
}

/// The key of test witness `n`.
pub(crate) fn witness_key(n: u8) -> WitnessKey {
    WitnessKey::from_seed(&format!("witness.test/w{n}"), [0x40 + n; 32]).unwrap()
}

/// Witness `n` following the test log, its state in `dir/w<n>.json` (created if missing).
pub(crate) fn witness_service(dir: &Path, n: u8) -> WitnessService {
    let mut w = Witness::new(witness_key(n).signer().clone());
    w.add_log(ORIGIN, log_key().verifier());
    WitnessService::open(
        w,
        StateFile::new(dir.join(format!("w{n}.json"))),
        true,
        FixedClock(NOW),
    )
    .unwrap()
}
