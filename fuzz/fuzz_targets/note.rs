//! Fuzzes the signed-note parser. Never panics; whatever parses re-serialises to the same
//! bytes (one encoding per note), and signing the parsed text again gives a note that parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use urna_model::note::Note;

fuzz_target!(|data: &[u8]| {
    if let Ok(note) = Note::parse(data) {
        assert_eq!(note.to_bytes(), data);
        assert!(Note::unsigned(note.text()).is_ok());
    }
});
