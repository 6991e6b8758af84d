//! The transparency log of a data directory: every stored note, in store order, as leaves of an
//! RFC 6962 Merkle tree, published as C2SP tlog-tiles under `DIR/log/`.
//!
//! Sequencing a batch: append the leaves → write the hash and data tiles (atomically, synced)
//! → sign a checkpoint with the log key → record it in `DIR/log-latest.checkpoint`. A checkpoint
//! never names tiles that are not on disk. Publishing (writing `DIR/log/checkpoint`, the file
//! clients read) happens only once the witness policy is met; with no witnesses configured
//! the signed checkpoint is published at once.
//!
//! The SQLite store is the source of truth: at open the tree is rebuilt from the stored notes
//! and checked against the last checkpoint the log signed, so a database edited behind the
//! log's back is refused.

use std::path::{Path, PathBuf};
use std::time::Instant;

use urna_model::note::{Note, NoteSigner, NoteVerifier};
use urna_tlog::checkpoint::Checkpoint;
use urna_tlog::hash::{Hash, LeafIndex, TreeSize, leaf_hash};
use urna_tlog::storage::MemoryStore;
use urna_tlog::tile::{Tile, TileKind, encode_entries, hash_tile_bytes, tiles_for_growth};
use urna_tlog::tiledir::write_file_atomic;
use urna_tlog::{TileDir, Tree, proof};

use crate::StoreError;

/// Directory of the public tiles and published checkpoint, inside the data directory.
pub const LOG_DIR: &str = "log";
/// The latest checkpoint the log signed, witnessed or not, inside the data directory.
pub const LATEST_CHECKPOINT_FILE: &str = "log-latest.checkpoint";
/// The log's private key, inside the data directory.
pub const LOG_KEY_FILE: &str = "secrets/log.key";
/// The log's next private key while a rotation is being logged (`Store::rotate_log_key`);
/// renamed over [`LOG_KEY_FILE`] once the rotation entry is committed.
pub const NEXT_LOG_KEY_FILE: &str = "secrets/log.next.key";

/// A new log key named `origin`, from the operating system's randomness: what `urna init`
/// makes, and what a rotation hands over to.
///
/// # Errors
/// [`StoreError::Setup`] if `origin` is not a valid key name.
pub fn generate_log_key(origin: &str) -> Result<NoteSigner, StoreError> {
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    NoteSigner::from_seed(origin, &seed)
        .map_err(|e| StoreError::Setup(format!("log origin {origin:?}: {e}")))
}

/// Entries per data tile (C2SP tlog-tiles: tiles are 256 wide).
const TILE_WIDTH: u64 = 256;

/// One signed checkpoint, as sequencing produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequenced {
    /// Tree size it covers.
    pub size: u64,
    /// The signed checkpoint note.
    pub note: Vec<u8>,
    /// When it was signed (for latency figures).
    pub at: Instant,
}

/// The log's tree in memory: every node hash (two per leaf), and the entries of the data tile
/// still being filled, from which the tiles of any growth are computed. Pure: no files, no
/// database. Both engines (this crate's [`crate::Store`] and the PostgreSQL store) sequence
/// through it, so the same entries give the same tiles and checkpoints on either.
#[derive(Default)]
pub struct LogTree {
    tree: Tree,
    hashes: MemoryStore,
    /// Entries from `tail_start` to the tree size, for partial and new data tiles.
    tail: Vec<Vec<u8>>,
    tail_start: u64,
}

impl std::fmt::Debug for LogTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogTree")
            .field("size", &self.tree.size())
            .finish_non_exhaustive()
    }
}

impl LogTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leaves in the tree.
    pub fn size(&self) -> u64 {
        self.tree.size().0
    }

    /// Root hash of the whole tree.
    pub fn root(&self) -> Hash {
        self.tree.root()
    }

    /// Before appending anything: the entries of data tiles that a checkpoint of `size`
    /// already wrote need not be kept in memory, only hashed.
    pub fn skip_written_tiles(&mut self, size: u64) {
        if self.size() == 0 {
            self.tail_start = size / TILE_WIDTH * TILE_WIDTH;
        }
    }

    /// Appends entries (the exact note bytes) held at `first_index…`. Only the entries of the
    /// data tile still being filled are copied.
    ///
    /// # Errors
    /// [`StoreError::Log`] if `first_index` is not the tree's size.
    pub fn append<N: AsRef<[u8]> + Into<Vec<u8>>>(
        &mut self,
        first_index: u64,
        notes: impl IntoIterator<Item = N>,
    ) -> Result<(), StoreError> {
        if first_index != self.size() {
            return Err(StoreError::Log(format!(
                "sequencing out of order: next leaf is {}, got entry {first_index}",
                self.size()
            )));
        }
        let mut finished = Vec::new();
        for note in notes {
            finished.clear();
            self.tree
                .append(leaf_hash(note.as_ref()), &mut finished)
                .map_err(|e| StoreError::Log(e.to_string()))?;
            self.hashes
                .extend(&finished)
                .map_err(|e| StoreError::Log(e.to_string()))?;
            // Entries in data tiles already written are not kept (see `skip_written_tiles`).
            if self.size() > self.tail_start {
                self.tail.push(note.into());
            }
        }
        Ok(())
    }

    /// The hash and data tiles that growing the tree from `old` to its size writes (C2SP
    /// tlog-tiles, partial tiles included), with their bytes.
    ///
    /// # Errors
    /// [`StoreError::Log`] if an entry they need is no longer held (before the tail).
    pub fn growth_tiles(&self, old: u64) -> Result<Vec<(Tile, Vec<u8>)>, StoreError> {
        let mut out: Vec<(Tile, Vec<u8>)> = Vec::new();
        for tile in tiles_for_growth(TreeSize(old), self.tree.size()) {
            let bytes = match tile.kind() {
                TileKind::Hash(_) => hash_tile_bytes(&self.hashes, &tile)
                    .map_err(|e| StoreError::Log(e.to_string()))?,
                TileKind::Entries => {
                    let lo = tile.index() * TILE_WIDTH;
                    let hi = lo + u64::from(tile.width());
                    let range = lo
                        .checked_sub(self.tail_start)
                        .and_then(|from| Some((usize::try_from(from).ok()?, hi - lo)))
                        .and_then(|(from, len)| Some(from..from + usize::try_from(len).ok()?))
                        .filter(|r| r.end <= self.tail.len())
                        .ok_or_else(|| {
                            StoreError::Log(format!(
                                "data tile {} needs entries {lo}..{hi}, the log holds {}..{}",
                                tile.path(),
                                self.tail_start,
                                self.size()
                            ))
                        })?;
                    encode_entries(&self.tail[range]).map_err(|e| StoreError::Log(e.to_string()))?
                }
            };
            out.push((tile, bytes));
        }
        Ok(out)
    }

    /// Signs the checkpoint of the whole tree with the log key.
    ///
    /// # Errors
    /// [`StoreError::Log`] if signing fails.
    pub fn sign_checkpoint(&self, signer: &NoteSigner) -> Result<Vec<u8>, StoreError> {
        Checkpoint::new(signer.name(), self.tree.size(), self.tree.root())
            .sign(signer)
            .map(|n| n.to_bytes())
            .map_err(|e| StoreError::Log(e.to_string()))
    }

    /// After a checkpoint of the whole tree: keep only the entries of the data tile still
    /// being filled.
    pub fn trim_tail(&mut self) {
        let keep_from = self.size() / TILE_WIDTH * TILE_WIDTH;
        // `tail_start <= keep_from` always: both are tile-aligned and `tail_start <= size`.
        let drop = usize::try_from(keep_from.saturating_sub(self.tail_start))
            .unwrap_or(usize::MAX)
            .min(self.tail.len());
        self.tail.drain(..drop);
        self.tail_start = keep_from;
    }

    /// Inclusion proof of leaf `index` in the tree of `size`.
    ///
    /// # Errors
    /// [`StoreError::Log`] if the range is wrong.
    pub fn inclusion(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        proof::inclusion_proof(&self.hashes, LeafIndex(index), TreeSize(size))
            .map_err(|e| StoreError::Log(e.to_string()))
    }

    /// Consistency proof between two sizes.
    ///
    /// # Errors
    /// [`StoreError::Log`] if the sizes are wrong.
    pub fn consistency(&self, old: u64, new: u64) -> Result<Vec<Hash>, StoreError> {
        proof::consistency_proof(&self.hashes, TreeSize(old), TreeSize(new))
            .map_err(|e| StoreError::Log(e.to_string()))
    }

    /// Root hash at `size` leaves.
    ///
    /// # Errors
    /// [`StoreError::Log`] if the tree is smaller.
    pub fn root_at(&self, size: u64) -> Result<Hash, StoreError> {
        if size > self.size() {
            return Err(StoreError::Log(format!(
                "the log has {} entries, not {size}",
                self.size()
            )));
        }
        urna_tlog::storage::root_at(&self.hashes, TreeSize(size))
            .map_err(|e| StoreError::Log(e.to_string()))
    }
}

/// The log of a data directory: its tree, the tile directory, the log key, and the size of
/// the last signed checkpoint.
pub(crate) struct Sequencer {
    dir: PathBuf,
    tiles: TileDir,
    signer: NoteSigner,
    tree: LogTree,
    /// Size of the last signed checkpoint.
    flushed: u64,
    /// The log's key rotations: the index of each `urna/key-rotation/v1` entry, the key
    /// before it and the key after it, in log order.
    rotations: Vec<(u64, NoteVerifier, NoteVerifier)>,
}

impl std::fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequencer")
            .field("origin", &self.signer.name())
            .field("size", &self.tree.size())
            .finish_non_exhaustive()
    }
}

impl Sequencer {
    /// An empty log in `data_dir`, signing with `signer` (whose name is the log's origin).
    pub(crate) fn new(data_dir: &Path, signer: NoteSigner) -> Result<Self, StoreError> {
        let tiles = TileDir::open(data_dir.join(LOG_DIR)).map_err(log_err)?;
        Ok(Self {
            dir: data_dir.to_owned(),
            tiles,
            signer,
            tree: LogTree::new(),
            flushed: 0,
            rotations: Vec::new(),
        })
    }

    /// Replaces the signing key (at open, once the rotations stored say which is current).
    pub(crate) fn set_signer(&mut self, signer: NoteSigner) {
        self.signer = signer;
    }

    /// Records the key rotations stored in the log (at open, in log order).
    pub(crate) fn set_rotations(&mut self, rotations: Vec<(u64, NoteVerifier, NoteVerifier)>) {
        self.rotations = rotations;
    }

    /// The key that signs a checkpoint of `size` entries: the key a rotation at index `i`
    /// handed over to signs every checkpoint with `size > i`; before the first rotation, the
    /// key it replaced.
    pub(crate) fn verifier_for(&self, size: u64) -> NoteVerifier {
        match self.rotations.iter().rev().find(|(i, _, _)| *i < size) {
            Some((_, _, new)) => new.clone(),
            None => self
                .rotations
                .first()
                .map_or_else(|| self.signer.verifier(), |(_, old, _)| old.clone()),
        }
    }

    /// After the rotation entry at `index` was stored (not yet appended): every checkpoint
    /// from now on is signed by `signer`.
    pub(crate) fn rotate(&mut self, index: u64, signer: NoteSigner) {
        let old = self.signer.verifier();
        self.rotations.push((index, old, signer.verifier()));
        self.signer = signer;
    }

    /// The origin (the log key's name).
    pub(crate) fn origin(&self) -> &str {
        self.signer.name()
    }

    /// Leaves in the tree.
    pub(crate) fn size(&self) -> u64 {
        self.tree.size()
    }

    /// Size of the last signed checkpoint.
    pub(crate) fn signed_size(&self) -> u64 {
        self.flushed
    }

    /// The log key.
    pub(crate) fn signer(&self) -> &NoteSigner {
        &self.signer
    }

    /// Before rebuilding at open: the entries of data tiles that the checkpoint of `size`
    /// already wrote need not be kept in memory, only hashed.
    pub(crate) fn skip_written_tiles(&mut self, size: u64) {
        self.tree.skip_written_tiles(size);
    }

    /// Adopts the size of the checkpoint signed before a restart: the leaves up to it were
    /// already sequenced. Checks that the rebuilt tree has the same root at that size.
    pub(crate) fn resume(&mut self, checkpoint_note: &[u8]) -> Result<(), StoreError> {
        let size = checkpoint_size(checkpoint_note).unwrap_or(0);
        let (cp, _) = urna_tlog::checkpoint::open(
            checkpoint_note,
            self.signer.name(),
            &self.verifier_for(size),
        )
        .map_err(|e| StoreError::Log(format!("{LATEST_CHECKPOINT_FILE}: {e}")))?;
        if cp.size.0 > self.size() {
            return Err(StoreError::Log(format!(
                "the log signed a checkpoint of {} entries but the store holds {}: entries are missing from the database",
                cp.size.0,
                self.size()
            )));
        }
        let root = self.tree.root_at(cp.size.0)?;
        if root != cp.root {
            return Err(StoreError::Log(format!(
                "the stored entries do not hash to the root the log signed at size {}: the database was changed",
                cp.size.0
            )));
        }
        self.flushed = cp.size.0;
        Ok(())
    }

    /// Appends entries (the exact note bytes) that the store holds at `first_index…`.
    pub(crate) fn append<N: AsRef<[u8]> + Into<Vec<u8>>>(
        &mut self,
        first_index: u64,
        notes: impl IntoIterator<Item = N>,
    ) -> Result<(), StoreError> {
        self.tree.append(first_index, notes)
    }

    /// Writes the tiles of everything appended since the last checkpoint and signs a new
    /// checkpoint; `None` if nothing was appended.
    pub(crate) fn flush(&mut self) -> Result<Option<Sequenced>, StoreError> {
        let new = self.size();
        if new == self.flushed {
            return Ok(None);
        }
        let out = self.tree.growth_tiles(self.flushed)?;
        self.tiles.write_tiles(&out).map_err(log_err)?;
        let note = self.tree.sign_checkpoint(&self.signer)?;
        let latest = self.dir.join(LATEST_CHECKPOINT_FILE);
        write_file_atomic(&latest, &note).map_err(|error| StoreError::Io {
            path: latest.display().to_string(),
            error,
        })?;
        // Without a witness policy there is nobody to wait for: publish at once. The policy is
        // looked up at each checkpoint, so witnesses configured while the log runs take effect.
        if !self.dir.join(crate::WITNESSES_FILE).exists() {
            self.tiles.write_checkpoint(&note).map_err(log_err)?;
        }
        self.flushed = new;
        self.tree.trim_tail();
        Ok(Some(Sequenced {
            size: new,
            note,
            at: Instant::now(),
        }))
    }

    /// Inclusion proof of leaf `index` in the tree of `size`.
    pub(crate) fn inclusion(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.tree.inclusion(index, size)
    }

    /// Consistency proof between two sizes.
    pub(crate) fn consistency(&self, old: u64, new: u64) -> Result<Vec<Hash>, StoreError> {
        self.tree.consistency(old, new)
    }

    /// Root hash at `size` leaves.
    pub(crate) fn root_at(&self, size: u64) -> Result<Hash, StoreError> {
        self.tree.root_at(size)
    }

    /// Publishes a checkpoint note (cosigned) as `DIR/log/checkpoint`.
    pub(crate) fn publish(&self, note: &[u8]) -> Result<(), StoreError> {
        self.tiles.write_checkpoint(note).map_err(log_err)
    }
}

/// Reads the published (witnessed) checkpoint, if any.
///
/// # Errors
/// [`StoreError::Io`].
pub fn read_published(data_dir: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    read_optional(&data_dir.join(LOG_DIR).join("checkpoint"))
}

/// Reads the latest checkpoint the log signed, if any.
///
/// # Errors
/// [`StoreError::Io`].
pub fn read_latest(data_dir: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    read_optional(&data_dir.join(LATEST_CHECKPOINT_FILE))
}

/// The size stated in a checkpoint note, without checking signatures (for status displays).
pub fn checkpoint_size(note: &[u8]) -> Option<u64> {
    let n = Note::parse(note).ok()?;
    Checkpoint::parse_text(n.text()).ok().map(|c| c.size.0)
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(StoreError::Io {
            path: path.display().to_string(),
            error,
        }),
    }
}

#[allow(clippy::needless_pass_by_value)] // shaped for `map_err`
fn log_err(e: urna_tlog::tiledir::TileDirError) -> StoreError {
    StoreError::Log(e.to_string())
}

/// The log as its files on disk show it: the published checkpoint, the tiles, the log's
/// verifier key. Threads that must not wait for intake (the publisher, the public API) use
/// this instead of [`crate::Store`]; proofs come from the tiles, exactly as a mirror would
/// compute them.
#[derive(Debug)]
pub struct PublicLog {
    dir: PathBuf,
    tiles: TileDir,
    signer: NoteSigner,
}

impl PublicLog {
    /// Opens the log files of a data directory (reads the log key to sign receipts).
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::Setup`] if the key file is missing or invalid.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let key_path = data_dir.join(LOG_KEY_FILE);
        let skey = std::fs::read_to_string(&key_path).map_err(|error| StoreError::Io {
            path: key_path.display().to_string(),
            error,
        })?;
        let signer = NoteSigner::from_skey(skey.trim())
            .map_err(|e| StoreError::Setup(format!("{}: {e}", key_path.display())))?;
        Ok(Self {
            dir: data_dir.to_owned(),
            tiles: TileDir::open(data_dir.join(LOG_DIR)).map_err(log_err)?,
            signer,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log's origin line (`urna/<election id>`).
    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// The log's verifier key (`name+id+key`).
    pub fn vkey(&self) -> String {
        self.signer.verifier().to_vkey()
    }

    /// A signed `urna/receipt/v1`: the log's promise that entry `index`, whose note has SHA-256
    /// `hash`, is stored and will be in every checkpoint of more than `index` entries.
    pub fn receipt(&self, index: u64, hash: &[u8; 32], time_ms: u64) -> Vec<u8> {
        receipt(&self.signer, index, hash, time_ms)
    }

    /// Inclusion proof of entry `index` in the tree of `size` entries, from the tiles.
    ///
    /// # Errors
    /// [`StoreError::Log`] if a tile is missing or the range is wrong.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        let reader = urna_tlog::TileHashReader::new(&self.tiles, TreeSize(size));
        proof::inclusion_proof(&reader, LeafIndex(index), TreeSize(size))
            .map_err(|e| StoreError::Log(e.to_string()))
    }

    /// Consistency proof from `old` to `new` entries, from the tiles.
    ///
    /// # Errors
    /// [`StoreError::Log`] if a tile is missing or the sizes are wrong.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, StoreError> {
        let reader = urna_tlog::TileHashReader::new(&self.tiles, TreeSize(new));
        proof::consistency_proof(&reader, TreeSize(old), TreeSize(new))
            .map_err(|e| StoreError::Log(e.to_string()))
    }

    /// The root hash of the tree's first `size` entries, from the tiles of the tree of `tree`
    /// entries (`size <= tree`; e.g. the published checkpoint's size).
    ///
    /// # Errors
    /// [`StoreError::Log`] if a tile is missing or the sizes are wrong.
    pub fn root_at(&self, size: u64, tree: u64) -> Result<Hash, StoreError> {
        if size > tree {
            return Err(StoreError::Log(format!(
                "size {size} is beyond the tree of {tree} entries"
            )));
        }
        let reader = urna_tlog::TileHashReader::new(&self.tiles, TreeSize(tree));
        urna_tlog::storage::root_at(&reader, TreeSize(size))
            .map_err(|e| StoreError::Log(e.to_string()))
    }

    /// Publishes a checkpoint note (cosigned) as `DIR/log/checkpoint`, after checking it is
    /// this log's, signed by its key.
    ///
    /// # Errors
    /// [`StoreError::Log`] if it is not.
    pub fn publish(&self, note: &[u8]) -> Result<(), StoreError> {
        let (checkpoint, _) =
            urna_tlog::checkpoint::open(note, self.origin(), &self.signer.verifier())
                .map_err(|e| StoreError::Log(format!("refusing to publish: {e}")))?;
        // Never publish an older checkpoint over a newer one (the sequencer may have published
        // a later one while witnesses were being asked).
        if let Some(published) = read_published(&self.dir)?
            .as_deref()
            .and_then(checkpoint_size)
            && published > checkpoint.size.0
        {
            return Ok(());
        }
        self.tiles.write_checkpoint(note).map_err(log_err)
    }
}

/// Signs an `urna/receipt/v1` with the log key.
pub fn receipt(signer: &NoteSigner, index: u64, hash: &[u8; 32], time_ms: u64) -> Vec<u8> {
    let body = urna_model::receipt::Receipt {
        log: signer.name().to_owned(),
        index,
        entry: *hash,
        time_ms,
    };
    signer.sign_text(&body.to_text()).to_bytes()
}
