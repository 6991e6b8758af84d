//! The transparency log of urna: the Merkle tree over every accepted note, its proofs, its
//! checkpoints and cosignatures, and its static tile layout.
//!
//! Implements:
//! - RFC 6962 / RFC 9162 Merkle tree hashing, §2.1.1 ([`hash`]); inclusion and consistency
//!   proofs, generation §2.1.3.1 / §2.1.4.1 and verification §2.1.3.2 / §2.1.4.2 ([`proof`]);
//!   <https://www.rfc-editor.org/rfc/rfc9162#section-2.1>.
//! - An append-only tree with an O(log n) right edge ([`tree`]) and proofs answered from stored
//!   complete-subtree hashes through [`storage::HashReader`], in memory or from tiles.
//! - C2SP tlog-checkpoint, <https://c2sp.org/tlog-checkpoint> ([`checkpoint`]), signed as a
//!   C2SP signed note by the log key ([`urna_model::note`]).
//! - C2SP tlog-cosignature, Ed25519 `cosignature/v1`, <https://c2sp.org/tlog-cosignature>
//!   ([`cosignature`]); time comes from a [`cosignature::Clock`] passed in.
//! - C2SP tlog-tiles, <https://c2sp.org/tlog-tiles>: tile paths, hash tiles of height 8,
//!   partial tiles, entry bundles ([`tile`]) and an atomic tile directory ([`tiledir`]).
//! - C2SP tlog-witness `add-checkpoint`, <https://c2sp.org/tlog-witness>, as a pure state
//!   machine with the spec's statuses ([`witness`]).
//!
//! Out of scope: HTTP (the server crate serves [`tiledir`] and wraps [`witness`]); sequencing,
//! batching and receipts (intake/store); persistence of witness state (the caller writes
//! [`witness::WitnessState`] atomically); ML-DSA cosignatures; pruning.
//!
//! The proof math is written here rather than taken from `ct-merkle` 0.3: that crate computes
//! proofs only from its own in-memory tree (every leaf and node in one `Vec`), with no way to
//! answer them from tiles on disk, and it is built on `digest`/`sha2` 0.11 while the workspace
//! uses `sha2` 0.10, so it would add a second SHA-256 stack. The code here is checked against
//! the transparency-dev vectors (including all adversarial ones) in `tests/it/vectors.rs`.

pub mod checkpoint;
pub mod cosignature;
pub mod hash;
pub mod proof;
pub mod storage;
pub mod tile;
pub mod tiledir;
pub mod tree;
pub mod witness;

pub use checkpoint::Checkpoint;
pub use cosignature::{Clock, CosignatureSigner, CosignatureVerifier, FixedClock, SystemClock};
pub use hash::{Hash, LeafIndex, TreeSize, leaf_hash, node_hash};
pub use storage::{HashReader, MemoryStore, NodeId};
pub use tile::{Tile, TileHashReader};
pub use tiledir::TileDir;
pub use tree::Tree;
pub use witness::{Witness, WitnessError, WitnessState};
