//! Fuzzes the checkpoint parser: signed-note envelope plus checkpoint text. Never panics;
//! whatever parses re-serialises to the same text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use urna_model::note::Note;
use urna_tlog::Checkpoint;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cp) = Checkpoint::parse_text(text) {
            assert_eq!(cp.to_text(), text);
        }
    }
    if let Ok(note) = Note::parse(data) {
        if let Ok(cp) = Checkpoint::parse_text(note.text()) {
            assert_eq!(cp.to_text(), note.text());
        }
    }
});
