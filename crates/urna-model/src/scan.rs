//! Scans of paper protocols: what kinds of file are kept, how large, and which scan a note names.
//!
//! A protocol or amendment names the scan of its paper in a `scan: sha256:<hex>` line, so the
//! signature covers which paper the numbers were keyed from; the scan itself travels beside
//! the note (the desk's upload, `PUT /v1/scans/<hex>` at `urna serve`) and is published as
//! `blob/sha256/<hex>`.

use crate::protocol::parse_sha256;

/// Largest scan accepted, in bytes: a phone photo of an A4 protocol, or a few scanned pages.
pub const MAX_SCAN: usize = 8 * 1024 * 1024;

/// The kind (media type) of a scan from its first bytes, if it is one urna keeps: PDF, JPEG or
/// PNG. The name of the file and a browser's word for it are not trusted.
#[must_use]
pub fn scan_kind(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else {
        None
    }
}

/// The scan a signed note names in its `scan: sha256:<hex>` line, if any. The note's text
/// ends at its first blank line (the signatures follow); a line elsewhere is not looked at.
#[must_use]
pub fn named_scan(note: &[u8]) -> Option<[u8; 32]> {
    let text = note.split(|&b| b == b'\n').take_while(|l| !l.is_empty());
    text.filter_map(|line| line.strip_prefix(b"scan: "))
        .find_map(|v| parse_sha256(std::str::from_utf8(v).ok()?).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_told_by_their_first_bytes() {
        assert_eq!(scan_kind(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(scan_kind(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(scan_kind(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(scan_kind(b"GIF89a"), None);
        assert_eq!(scan_kind(b""), None);
    }

    #[test]
    fn the_scan_line_of_the_text_is_found_and_nothing_after_it() {
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let note = format!("urna/protocol/v1\nelection: e\nscan: sha256:{hex}\n\n— k sig\n");
        let found = named_scan(note.as_bytes()).unwrap();
        assert_eq!(crate::protocol::hex(&found), hex);
        let after = format!("urna/protocol/v1\nelection: e\n\nscan: sha256:{hex}\n");
        assert_eq!(named_scan(after.as_bytes()), None);
        assert_eq!(named_scan(b"urna/protocol/v1\nscan: sha256:zz\n\n"), None);
    }
}
