//! Fuzzes the `urna/keys/v1` manifest body parser (alone and inside a signed note) and the
//! station key list parser, as `urna keys verify` reads them from a provisioning channel.
//! Never panics; whatever parses is canonical: a manifest re-serialises to the same text, a
//! key list to the same bytes, and a list's manifest names its SHA-256.
#![no_main]

use libfuzzer_sys::fuzz_target;
use urna_model::keys::{KeyList, KeyManifest};
use urna_model::note::Note;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        if let Ok(note) = Note::parse(data)
            && let Ok(m) = KeyManifest::parse(note.text())
        {
            assert_eq!(m.to_text(), note.text());
        }
        return;
    };
    if let Ok(m) = KeyManifest::parse(text) {
        let canonical = if text.ends_with('\n') {
            text.to_owned()
        } else {
            format!("{text}\n")
        };
        assert_eq!(m.to_text(), canonical);
        assert_eq!(KeyManifest::parse(&canonical).as_ref(), Ok(&m));
    }
    if let Ok(list) = KeyList::parse(text) {
        assert_eq!(list.to_text(), text);
        let m = list.manifest("fuzz");
        assert!(list.verify_manifest(&m).is_ok());
    }
    if let Ok(note) = Note::parse(data)
        && let Ok(m) = KeyManifest::parse(note.text())
    {
        assert_eq!(m.to_text(), note.text());
    }
});
