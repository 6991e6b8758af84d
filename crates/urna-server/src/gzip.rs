//! Precompressed copies of the bundle's text files: `<file>.gz` beside `<file>` (RFC 1952
//! gzip), written once at publish time so that `urna serve`, and nginx with `gzip_static on`,
//! answer a client that sends `Accept-Encoding: gzip` with fewer bytes and no compression per
//! request.
//!
//! Which files get a copy: the text formats of a generation (JSON, CSV, HTML, JavaScript, CSS,
//! XML, SVG) of at least [`MIN_BYTES`], when gzip saves at least a tenth of their size. Tiles
//! and blobs (the log's binary tiles, definition files and scans) never do: they are shared by
//! every generation, and scans are compressed images already.
//!
//! The bytes are deterministic: no file name, modification time 0, operating system "unknown"
//! (255), one fixed compression level, so publishing the same file twice gives the same copy
//! and a generation that reuses a file reuses its copy with it. `urna verify` does not compare
//! these bytes: it checks that a copy decompresses to exactly its file.
//!
//! Out of scope: Brotli (no pure-Rust encoder as well kept as flate2's), compressing per
//! request.

use std::io::Write as _;

use flate2::{Compression, GzBuilder};

/// Suffix of a precompressed copy.
pub const GZ_SUFFIX: &str = ".gz";

/// Smallest file given a copy: below about one TCP segment, gzip saves no round trip and its
/// 18-byte frame eats much of what it saves.
pub const MIN_BYTES: usize = 1024;

/// Whether `path` (relative to a generation) is of a kind that gets a precompressed copy, by
/// its extension: JSON, CSV, HTML, JavaScript, CSS, XML, SVG; never a tile or a blob.
pub fn compressible(path: &str) -> bool {
    if path.starts_with("tile/") || path.starts_with("blob/") {
        return false;
    }
    let ext = path.rsplit_once('.').map_or("", |(_, ext)| ext);
    matches!(ext, "json" | "csv" | "html" | "js" | "css" | "xml" | "svg")
}

/// The gzip copy of `bytes`, deterministic (see the module documentation).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = GzBuilder::new()
        .mtime(0)
        .operating_system(UNKNOWN_OS)
        .write(
            Vec::with_capacity(bytes.len() / 4 + 64),
            Compression::new(LEVEL),
        );
    // Writing into a `Vec` cannot fail.
    let _ = out.write_all(bytes);
    out.finish().unwrap_or_default()
}

/// The copy to write beside the file at `path` with these bytes: `None` if the file is not of
/// a compressible kind ([`compressible`]), smaller than [`MIN_BYTES`], or gzip would save less
/// than a tenth of it.
pub fn gzip_copy(path: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    if !compressible(path) || bytes.len() < MIN_BYTES {
        return None;
    }
    let gz = gzip(bytes);
    (gz.len() <= bytes.len() - bytes.len() / 10).then_some(gz)
}

/// zlib's default level: within a few per cent of level 9's size on the bundle's JSON at
/// about a third of its time, which matters when every generation rewrites the unit files
/// whose stations reported.
const LEVEL: u32 = 6;

/// RFC 1952 §2.3.1: OS 255 = unknown, so the bytes do not depend on where they were written.
const UNKNOWN_OS: u8 = 255;

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn json(n: usize) -> Vec<u8> {
        let mut s = String::from("[");
        for i in 0..n {
            s.push_str(&format!(
                "{{\"station\":\"S{i:05}\",\"votes\":{}}},",
                i * 7 % 1000
            ));
        }
        s.push(']');
        s.into_bytes()
    }

    #[test]
    fn copies_are_deterministic_and_decompress_to_the_file() {
        let bytes = json(500);
        let a = gzip_copy("v1/results.json", &bytes).unwrap();
        let b = gzip_copy("v1/results.json", &bytes).unwrap();
        assert_eq!(a, b, "the same file gives the same copy");
        assert_eq!(gunzip(&a), bytes);
        // RFC 1952 header: magic, deflate, no flags (no name), mtime 0, OS unknown.
        assert_eq!(&a[..4], &[0x1f, 0x8b, 8, 0]);
        assert_eq!(&a[4..8], &[0, 0, 0, 0], "modification time 0");
        assert_eq!(a[9], 255, "operating system unknown");
        assert!(a.len() < bytes.len() / 4, "{} of {}", a.len(), bytes.len());
    }

    #[test]
    fn small_binary_and_incompressible_files_get_no_copy() {
        let big = json(500);
        let cases: [(&str, Vec<u8>, bool, &str); 10] = [
            ("v1/results.json", big.clone(), true, "JSON"),
            ("csv/units.csv", big.clone(), true, "CSV"),
            ("index.html", big.clone(), true, "HTML"),
            ("web/app.js", big.clone(), true, "JavaScript"),
            ("v1/forensics/digits.svg", big.clone(), true, "SVG"),
            ("v1/tiny.json", json(5), false, "under 1 KiB"),
            ("tile/entries/000", big.clone(), false, "a tile"),
            (
                "blob/sha256/ab.json",
                big.clone(),
                false,
                "a blob, whatever its name",
            ),
            ("checkpoint", big, false, "no compressible extension"),
            (
                "v1/random.json",
                // A xorshift stream: gzip cannot save a tenth of it.
                (0..4096u32)
                    .scan(0x9e37_79b9_u32, |x, _| {
                        *x ^= *x << 13;
                        *x ^= *x >> 17;
                        *x ^= *x << 5;
                        Some(x.to_le_bytes()[0])
                    })
                    .collect(),
                false,
                "saves less than a tenth",
            ),
        ];
        for (path, bytes, want, what) in cases {
            assert_eq!(gzip_copy(path, &bytes).is_some(), want, "{what}: {path}");
        }
    }
}
