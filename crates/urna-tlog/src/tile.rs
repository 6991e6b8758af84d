//! C2SP tlog-tiles (<https://c2sp.org/tlog-tiles>, §"Merkle Tree", §"Partial Tiles",
//! §"Log entries"): tile coordinates and their paths, hash-tile and entry-bundle encodings,
//! the tiles a tree of a given size publishes, and a [`HashReader`] over any tile source.
//!
//! Tiles have height 8: a full tile holds 256 hashes (8,192 bytes). Hash tile `n` at level `l`
//! holds the nodes at tree level `8·l` with indexes `256·n .. 256·n + 256`.

use std::collections::HashMap;
use std::fmt;

use crate::hash::{HASH_SIZE, Hash, TreeSize, node_hash};
use crate::storage::{HashReader, NodeId, ReadError};

/// Tree levels per tile level.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u16 = 256;
/// The highest tile level the path syntax allows.
pub const MAX_TILE_LEVEL: u8 = 63;
/// The longest entry a bundle can hold (2-byte big-endian length prefix).
pub const MAX_ENTRY_BYTES: usize = 65_535;

/// Why a tile path, tile or entry bundle was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// The path is not `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]` exactly.
    #[error("tile path {path:?}: {reason}")]
    Path {
        /// The path (truncated to 100 bytes).
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A width outside 1..=256.
    #[error("tile width {0} is not in 1..=256")]
    Width(u64),
    /// A level above 63.
    #[error("tile level {0} is above 63")]
    Level(u64),
    /// A hash tile whose length is not 32 × its width.
    #[error("hash tile of width {width} is {len} bytes; expected {}", usize::from(*width) * HASH_SIZE)]
    HashTileLength {
        /// The tile's width.
        width: u16,
        /// Its length.
        len: usize,
    },
    /// An entry longer than 65,535 bytes cannot be length-prefixed.
    #[error("entry {index} is {len} bytes; the limit is {MAX_ENTRY_BYTES}")]
    EntryTooLong {
        /// Position in the bundle.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// An entry bundle that ends inside a length prefix or an entry.
    #[error("entry bundle truncated in entry {index}")]
    BundleTruncated {
        /// Position in the bundle of the entry cut short.
        index: usize,
    },
    /// An entry bundle with bytes after its last entry, or more entries than its width.
    #[error("entry bundle holds more than {width} entries")]
    BundleTrailing {
        /// The expected number of entries.
        width: u16,
    },
}

/// Which kind of tile: hashes at a level, or the entries themselves.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum TileKind {
    /// A Merkle hash tile at this tile level (0 = leaf hashes).
    Hash(u8),
    /// An entry bundle (`tile/entries/...`), parallel to level-0 hash tiles.
    Entries,
}

/// One tile: kind, index within its level, and width (256 = full, 1..=255 = partial).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Tile {
    kind: TileKind,
    index: u64,
    width: u16,
}

impl Tile {
    /// A hash tile.
    ///
    /// # Errors
    /// [`TileError::Level`] above 63, [`TileError::Width`] outside 1..=256.
    pub fn hash(level: u8, index: u64, width: u16) -> Result<Self, TileError> {
        if level > MAX_TILE_LEVEL {
            return Err(TileError::Level(u64::from(level)));
        }
        Self::new(TileKind::Hash(level), index, width)
    }

    /// An entry bundle.
    ///
    /// # Errors
    /// [`TileError::Width`] outside 1..=256.
    pub fn entries(index: u64, width: u16) -> Result<Self, TileError> {
        Self::new(TileKind::Entries, index, width)
    }

    fn new(kind: TileKind, index: u64, width: u16) -> Result<Self, TileError> {
        if width == 0 || width > TILE_WIDTH {
            return Err(TileError::Width(u64::from(width)));
        }
        Ok(Self { kind, index, width })
    }

    /// Hash tile or entry bundle.
    pub fn kind(&self) -> TileKind {
        self.kind
    }

    /// Index within the level.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Width: number of hashes or entries (256 for a full tile).
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Whether this is a partial tile.
    pub fn is_partial(&self) -> bool {
        self.width < TILE_WIDTH
    }

    /// The same tile position at full width.
    pub fn full(&self) -> Self {
        Self {
            width: TILE_WIDTH,
            ..*self
        }
    }

    /// The path below the log prefix: `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`,
    /// with `<N>` in 3-digit groups, all but the last prefixed with `x`.
    ///
    /// ```
    /// use urna_tlog::tile::Tile;
    /// assert_eq!(Tile::hash(0, 1_234_067, 256).unwrap().path(), "tile/0/x001/x234/067");
    /// assert_eq!(Tile::entries(5, 17).unwrap().path(), "tile/entries/005.p/17");
    /// ```
    pub fn path(&self) -> String {
        let mut s = String::from("tile/");
        match self.kind {
            TileKind::Hash(l) => s.push_str(&l.to_string()),
            TileKind::Entries => s.push_str("entries"),
        }
        s.push('/');
        let digits = self.index.to_string();
        let pad = (3 - digits.len() % 3) % 3;
        let padded = format!("{}{digits}", "0".repeat(pad));
        let groups: Vec<&str> = padded
            .as_bytes()
            .chunks(3)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        for (i, g) in groups.iter().enumerate() {
            if i + 1 < groups.len() {
                s.push('x');
                s.push_str(g);
                s.push('/');
            } else {
                s.push_str(g);
            }
        }
        if self.is_partial() {
            s.push_str(&format!(".p/{}", self.width));
        }
        s
    }

    /// Parses a tile path exactly as [`Tile::path`] writes it; anything else (leading zeros,
    /// extra or missing `x`, `..`, empty elements, a width of 0 or 256, overflow) is refused.
    ///
    /// # Errors
    /// [`TileError::Path`] naming the rule broken.
    pub fn parse_path(path: &str) -> Result<Self, TileError> {
        let bad = |reason| TileError::Path {
            path: path.chars().take(100).collect(),
            reason,
        };
        if path.len() > 128 {
            return Err(bad("too long"));
        }
        let rest = path
            .strip_prefix("tile/")
            .ok_or(bad("must start with tile/"))?;
        let (kind_str, rest) = rest.split_once('/').ok_or(bad("missing level and index"))?;
        let kind = if kind_str == "entries" {
            TileKind::Entries
        } else {
            let level = parse_decimal(kind_str).ok_or(bad("level is not a canonical decimal"))?;
            if level > u64::from(MAX_TILE_LEVEL) {
                return Err(bad("level is above 63"));
            }
            // level ≤ 63 was just checked.
            TileKind::Hash(level as u8)
        };
        let (index_str, width) = match rest.split_once(".p/") {
            Some((i, w)) => {
                let w = parse_decimal(w).ok_or(bad("width is not a canonical decimal"))?;
                if w == 0 || w >= u64::from(TILE_WIDTH) {
                    return Err(bad("partial width must be in 1..=255"));
                }
                // w < 256 was just checked.
                (i, w as u16)
            }
            None => (rest, TILE_WIDTH),
        };
        let groups: Vec<&str> = index_str.split('/').collect();
        if groups.len() > 7 {
            return Err(bad("index has too many path elements"));
        }
        let mut index: u64 = 0;
        for (i, g) in groups.iter().enumerate() {
            let last = i + 1 == groups.len();
            let digits = if last {
                *g
            } else {
                g.strip_prefix('x')
                    .ok_or(bad("all index elements but the last start with x"))?
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("index elements are three digits"));
            }
            let v: u64 = digits.parse().map_err(|_| bad("index element"))?;
            index = index
                .checked_mul(1000)
                .and_then(|x| x.checked_add(v))
                .ok_or(bad("index overflows 64 bits"))?;
        }
        let tile = Self::new(kind, index, width).map_err(|_| bad("width"))?;
        // Reject non-canonical spellings such as x000/001 for 1.
        if tile.path() != path {
            return Err(bad("index is not in canonical form"));
        }
        Ok(tile)
    }
}

impl fmt::Display for Tile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// The tiles a tree of `size` leaves publishes: every full tile and the rightmost partial
/// tile of each level, hash tiles and entry bundles. For size 70,000 that is 273 full and one
/// partial (width 112) at level 0, one full and one partial (17) at level 1, one partial (1)
/// at level 2 — and the matching entry bundles.
pub fn tiles_for_size(size: TreeSize) -> Vec<Tile> {
    tiles_for_growth(TreeSize(0), size)
}

/// The tiles to write when the tree grows from `old` to `new` leaves: every tile whose
/// content at `new` did not exist at `old` (new full tiles and the new rightmost partials).
/// Empty if `new ≤ old`.
pub fn tiles_for_growth(old: TreeSize, new: TreeSize) -> Vec<Tile> {
    let mut out = Vec::new();
    if new <= old {
        return out;
    }
    let mut level: u8 = 0;
    loop {
        let shift = u32::from(level) * u32::from(TILE_HEIGHT);
        let (c_old, c_new) = (shr(old.0, shift), shr(new.0, shift));
        if c_new == 0 {
            break;
        }
        if c_new > c_old {
            let first = c_old / u64::from(TILE_WIDTH);
            let last = (c_new - 1) / u64::from(TILE_WIDTH);
            for n in first..=last {
                let end = (n + 1) * u64::from(TILE_WIDTH);
                // The width is at most 256, so the cast is exact.
                let width = (c_new.min(end) - n * u64::from(TILE_WIDTH)) as u16;
                let kinds: &[TileKind] = if level == 0 {
                    &[TileKind::Hash(0), TileKind::Entries]
                } else {
                    &[TileKind::Hash(level)]
                };
                for &kind in kinds {
                    out.push(Tile {
                        kind,
                        index: n,
                        width,
                    });
                }
            }
        }
        level += 1;
    }
    out
}

fn shr(x: u64, by: u32) -> u64 {
    x.checked_shr(by).unwrap_or(0)
}

/// The hash-tile bytes for `tile` (a [`TileKind::Hash`] tile), read from stored hashes.
///
/// # Errors
/// [`ReadError`] if a hash is not stored; [`ReadError::BadRange`] for an entry bundle.
pub fn hash_tile_bytes<R: HashReader + ?Sized>(
    reader: &R,
    tile: &Tile,
) -> Result<Vec<u8>, ReadError> {
    let TileKind::Hash(level) = tile.kind else {
        return Err(ReadError::BadRange {
            lo: tile.index,
            hi: tile.index,
            size: TreeSize(0),
        });
    };
    let ids: Vec<NodeId> = (0..u64::from(tile.width))
        .map(|i| NodeId {
            level: level.saturating_mul(TILE_HEIGHT),
            index: tile.index * u64::from(TILE_WIDTH) + i,
        })
        .collect();
    let hashes = reader.read_hashes(&ids)?;
    Ok(hashes.iter().flat_map(|h| h.0).collect())
}

/// Splits hash-tile bytes into hashes.
///
/// # Errors
/// [`TileError::HashTileLength`] unless the length is exactly 32 × `width`.
pub fn decode_hash_tile(bytes: &[u8], width: u16) -> Result<Vec<Hash>, TileError> {
    if bytes.len() != usize::from(width) * HASH_SIZE {
        return Err(TileError::HashTileLength {
            width,
            len: bytes.len(),
        });
    }
    Ok(bytes
        .chunks_exact(HASH_SIZE)
        .filter_map(|c| Hash::from_slice(c).ok())
        .collect())
}

/// Encodes entries as a bundle: each one prefixed with its length as a big-endian `u16`.
///
/// # Errors
/// [`TileError::EntryTooLong`] for an entry over 65,535 bytes.
pub fn encode_entries<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TileError> {
    let total: usize = entries.iter().map(|e| e.as_ref().len() + 2).sum();
    let mut out = Vec::with_capacity(total);
    for (index, e) in entries.iter().enumerate() {
        let e = e.as_ref();
        let len = u16::try_from(e.len()).map_err(|_| TileError::EntryTooLong {
            index,
            len: e.len(),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Splits an entry bundle of `width` entries.
///
/// # Errors
/// [`TileError::BundleTruncated`] or [`TileError::BundleTrailing`].
pub fn decode_entries(bytes: &[u8], width: u16) -> Result<Vec<&[u8]>, TileError> {
    let mut out = Vec::with_capacity(usize::from(width));
    let mut rest = bytes;
    for index in 0..usize::from(width) {
        let (len, tail) = rest
            .split_first_chunk::<2>()
            .ok_or(TileError::BundleTruncated { index })?;
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return Err(TileError::BundleTruncated { index });
        }
        let (entry, tail) = tail.split_at(len);
        out.push(entry);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(TileError::BundleTrailing { width });
    }
    Ok(out)
}

/// Somewhere tiles can be read from: a directory, an HTTP mirror, a map in memory.
pub trait TileSource {
    /// The bytes of `tile`, or `None` if it does not exist.
    ///
    /// # Errors
    /// [`ReadError::Io`] if the source fails.
    fn read_tile(&self, tile: &Tile) -> Result<Option<Vec<u8>>, ReadError>;
}

impl<T: TileSource + ?Sized> TileSource for &T {
    fn read_tile(&self, tile: &Tile) -> Result<Option<Vec<u8>>, ReadError> {
        (**self).read_tile(tile)
    }
}

impl TileSource for HashMap<Tile, Vec<u8>> {
    fn read_tile(&self, tile: &Tile) -> Result<Option<Vec<u8>>, ReadError> {
        Ok(self.get(tile).cloned())
    }
}

/// Answers [`HashReader`] queries for the tree of a given size from its hash tiles.
///
/// Nodes at tree level `8·L + r` are hashed up from `2^r` hashes of the tile at level `L`.
/// Partial tiles are read at the width the tree size implies; if a partial tile is gone
/// (logs may delete it once the full tile exists), the full tile is used instead.
#[derive(Debug)]
pub struct TileHashReader<S> {
    source: S,
    size: TreeSize,
}

impl<S: TileSource> TileHashReader<S> {
    /// A reader for the tree of `size` leaves.
    pub fn new(source: S, size: TreeSize) -> Self {
        Self { source, size }
    }

    /// The tree size this reader answers for.
    pub fn size(&self) -> TreeSize {
        self.size
    }

    fn load(
        &self,
        level: u8,
        n: u64,
        cache: &mut HashMap<(u8, u64), Vec<Hash>>,
    ) -> Result<(), ReadError> {
        if cache.contains_key(&(level, n)) {
            return Ok(());
        }
        let count = shr(self.size.0, u32::from(level) * u32::from(TILE_HEIGHT));
        let start = n.saturating_mul(u64::from(TILE_WIDTH));
        let avail = count.saturating_sub(start).min(u64::from(TILE_WIDTH));
        if avail == 0 {
            return Err(ReadError::Missing(NodeId {
                level: level.saturating_mul(TILE_HEIGHT),
                index: start,
            }));
        }
        // avail ≤ 256.
        let tile = Tile::hash(level, n, avail as u16).map_err(|_| ReadError::BadRange {
            lo: start,
            hi: start + avail,
            size: self.size,
        })?;
        let mut bytes = self.source.read_tile(&tile)?;
        let mut width = tile.width;
        if bytes.is_none() && tile.is_partial() {
            bytes = self.source.read_tile(&tile.full())?;
            width = TILE_WIDTH;
        }
        let bytes = bytes.ok_or(ReadError::Missing(NodeId {
            level: level.saturating_mul(TILE_HEIGHT),
            index: start,
        }))?;
        let expected = usize::from(width) * HASH_SIZE;
        if bytes.len() != expected {
            return Err(ReadError::BadTile {
                path: tile.path(),
                len: bytes.len(),
                expected,
            });
        }
        let mut hashes = decode_hash_tile(&bytes, width).map_err(|_| ReadError::BadTile {
            path: tile.path(),
            len: bytes.len(),
            expected,
        })?;
        hashes.truncate(usize::from(tile.width));
        cache.insert((level, n), hashes);
        Ok(())
    }
}

impl<S: TileSource> HashReader for TileHashReader<S> {
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, ReadError> {
        let mut cache = HashMap::new();
        let mut out = Vec::with_capacity(nodes.len());
        for &id in nodes {
            let tile_level = id.level / TILE_HEIGHT;
            let r = u32::from(id.level % TILE_HEIGHT);
            let first = id.index.checked_shl(r).ok_or(ReadError::Missing(id))?;
            let n = first / u64::from(TILE_WIDTH);
            self.load(tile_level, n, &mut cache)?;
            let hashes = cache.get(&(tile_level, n)).ok_or(ReadError::Missing(id))?;
            // first % 256 + 2^r ≤ 256 since the node lies inside one tile.
            let off = (first % u64::from(TILE_WIDTH)) as usize;
            let span = hashes
                .get(off..off + (1usize << r))
                .ok_or(ReadError::Missing(id))?;
            out.push(complete_subtree(span));
        }
        Ok(out)
    }
}

/// MTH of a power-of-two run of sibling hashes.
fn complete_subtree(hashes: &[Hash]) -> Hash {
    let mut row = hashes.to_vec();
    while row.len() > 1 {
        row = row
            .chunks(2)
            .map(|p| node_hash(&p[0], &p[p.len() - 1]))
            .collect();
    }
    row.first().copied().unwrap_or(Hash::EMPTY_ROOT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(l: u8, n: u64, w: u16) -> Tile {
        Tile::hash(l, n, w).unwrap()
    }

    #[test]
    fn spec_path_examples() {
        assert_eq!(t(0, 1_234_067, 256).path(), "tile/0/x001/x234/067");
        assert_eq!(t(0, 0, 256).path(), "tile/0/000");
        assert_eq!(t(1, 1000, 17).path(), "tile/1/x001/000.p/17");
        assert_eq!(
            Tile::entries(999, 1).unwrap().path(),
            "tile/entries/999.p/1"
        );
    }

    #[test]
    fn spec_size_70000_example() {
        let tiles = tiles_for_size(TreeSize(70_000));
        let hash: Vec<&Tile> = tiles
            .iter()
            .filter(|t| matches!(t.kind(), TileKind::Hash(_)))
            .collect();
        let count = |l: u8, full: bool| {
            hash.iter()
                .filter(|t| t.kind() == TileKind::Hash(l) && t.is_partial() != full)
                .count()
        };
        assert_eq!(count(0, true), 273);
        assert_eq!(count(0, false), 1);
        assert_eq!(count(1, true), 1);
        assert_eq!(count(1, false), 1);
        assert_eq!(count(2, false), 1);
        assert_eq!(hash.len(), 277);
        assert!(tiles.contains(&t(0, 273, 112)));
        assert!(tiles.contains(&t(1, 1, 17)));
        assert!(tiles.contains(&t(2, 0, 1)));
        assert!(tiles.contains(&Tile::entries(273, 112).unwrap()));
        // "a tree of size 256 will be represented by a full level 0 tile and a partial
        // level 1 tile of width 1"
        let hash256: Vec<Tile> = tiles_for_size(TreeSize(256))
            .into_iter()
            .filter(|t| matches!(t.kind(), TileKind::Hash(_)))
            .collect();
        assert_eq!(hash256, vec![t(0, 0, 256), t(1, 0, 1)]);
    }

    #[test]
    fn parser_rejects_off_spec_paths() {
        for p in [
            "tile/0/x001/x234/067",
            "tile/63/000",
            "tile/entries/x001/000.p/255",
            "tile/0/001.p/1",
        ] {
            assert_eq!(Tile::parse_path(p).unwrap().path(), p);
        }
        for p in [
            "",
            "tile/",
            "tile/0",
            "tile/0/",
            "tile/00/000",
            "tile/01/000",
            "tile/64/000",
            "tile/-1/000",
            "tile/+1/000",
            "tile/0/1",
            "tile/0/01",
            "tile/0/0001",
            "tile/0/x000/001",
            "tile/0/001/234",
            "tile/0/x001/x234",
            "tile/0/x001/x234/x067",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/01",
            "tile/0/000.p/",
            "tile/0/000.p",
            "tile/0/000/",
            "tile/0//000",
            "/tile/0/000",
            "tile/0/../000",
            "tile/../../etc/passwd",
            "tile/entries/../0/000",
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            "tile/data/000",
            "tile/0/００0",
            "tile/0/000\0",
            "tile\\0\\000",
            "TILE/0/000",
        ] {
            assert!(Tile::parse_path(p).is_err(), "{p:?} accepted");
        }
        // u64::MAX itself is fine.
        let max = Tile::hash(0, u64::MAX, 256).unwrap();
        assert_eq!(Tile::parse_path(&max.path()), Ok(max));
    }

    #[test]
    fn entry_bundles_are_exact() {
        let b = encode_entries(&[&b"ab"[..], b"", b"c"]).unwrap();
        assert_eq!(b, vec![0, 2, b'a', b'b', 0, 0, 0, 1, b'c']);
        assert_eq!(decode_entries(&b, 3).unwrap(), vec![&b"ab"[..], b"", b"c"]);
        assert_eq!(
            decode_entries(&b, 4),
            Err(TileError::BundleTruncated { index: 3 })
        );
        assert_eq!(
            decode_entries(&b, 2),
            Err(TileError::BundleTrailing { width: 2 })
        );
        assert_eq!(
            decode_entries(&b[..8], 3),
            Err(TileError::BundleTruncated { index: 2 })
        );
        let long = vec![0u8; 65_536];
        assert_eq!(
            encode_entries(&[&long[..]]),
            Err(TileError::EntryTooLong {
                index: 0,
                len: 65_536
            })
        );
    }
}
