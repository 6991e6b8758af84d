//! RFC 6962 hashing (RFC 9162 §2.1.1): SHA-256 with a 0x00 prefix for leaves and 0x01 for
//! interior nodes, and the newtypes that keep hashes, sizes and indexes apart.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

/// Length of every hash in the tree, in bytes.
pub const HASH_SIZE: usize = 32;

/// Why bytes or text could not be read as a [`Hash`](struct@Hash).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// The decoded value is not 32 bytes long.
    #[error("a hash is {HASH_SIZE} bytes; found {len}")]
    Length {
        /// The length found.
        len: usize,
    },
    /// The text is not canonical, padded standard base64 (RFC 4648 §4).
    #[error("hash is not canonical base64")]
    Base64,
}

/// A SHA-256 Merkle tree hash: a leaf hash, an interior node hash or a root.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; HASH_SIZE]);

impl Hash {
    /// The root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1).
    pub const EMPTY_ROOT: Self = Self([
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9,
        0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52,
        0xb8, 0x55,
    ]);

    /// Reads exactly 32 bytes.
    ///
    /// # Errors
    /// [`HashError::Length`] for any other length.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, HashError> {
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| HashError::Length { len: bytes.len() })
    }

    /// Reads standard, padded, canonical base64 of exactly 32 bytes.
    ///
    /// # Errors
    /// [`HashError::Base64`] or [`HashError::Length`].
    pub fn from_base64(text: &str) -> Result<Self, HashError> {
        let raw = BASE64.decode(text).map_err(|_| HashError::Base64)?;
        Self::from_slice(&raw)
    }

    /// Standard padded base64, as in checkpoints and witness requests.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(2 * HASH_SIZE);
        for b in self.0 {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

/// The number of leaves in a tree.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct TreeSize(pub u64);

impl fmt::Display for TreeSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The 0-based position of a leaf in the log.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct LeafIndex(pub u64);

impl fmt::Display for LeafIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The hash of a log entry: SHA-256(0x00 ‖ entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(entry);
    Hash(h.finalize().into())
}

/// The hash of an interior node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(Hash(Sha256::digest(b"").into()), Hash::EMPTY_ROOT);
    }

    #[test]
    fn base64_must_be_canonical_and_32_bytes() {
        let h = leaf_hash(b"x");
        assert_eq!(Hash::from_base64(&h.to_base64()), Ok(h));
        assert_eq!(
            Hash::from_base64("ZG9uJ3QgY2FyZSAy"),
            Err(HashError::Length { len: 12 })
        );
        let unpadded = h.to_base64().trim_end_matches('=').to_owned();
        assert_eq!(Hash::from_base64(&unpadded), Err(HashError::Base64));
        // Zero hash with the last two (unused) bits set: the same bytes, but not canonical.
        let noncanonical = format!("{}B=", "A".repeat(42));
        assert_eq!(Hash::from_base64(&noncanonical), Err(HashError::Base64));
    }
}
