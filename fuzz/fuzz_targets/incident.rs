//! Fuzzes the `urna/incident/v1` body parser and its details parser (the plaintext of a
//! sealed note), alone and inside a signed note. Never panics; whatever parses is canonical
//! (re-serialises to the same text).
#![no_main]

use libfuzzer_sys::fuzz_target;
use urna_incident::body::{Details, IncidentBody};
use urna_model::note::Note;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(body) = IncidentBody::parse(text) {
            assert_eq!(body.to_text(), text);
        }
        if let Ok(details) = Details::parse(text) {
            assert_eq!(details.to_text(), text);
        }
    }
    if let Ok(note) = Note::parse(data) {
        if let Ok(body) = IncidentBody::parse(note.text()) {
            assert_eq!(body.to_text(), note.text());
        }
    }
});
