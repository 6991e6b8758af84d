//! Fuzzes the tile path parser. Never panics; only canonical paths parse, and they
//! re-encode to themselves.
#![no_main]

use libfuzzer_sys::fuzz_target;
use urna_tlog::Tile;

fuzz_target!(|data: &[u8]| {
    if let Ok(path) = std::str::from_utf8(data) {
        if let Ok(tile) = Tile::parse_path(path) {
            assert_eq!(tile.path(), path);
            assert!(!path.contains(".."));
        }
    }
});
