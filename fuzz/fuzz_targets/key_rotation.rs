//! Fuzzes the `urna/key-rotation/v1` body parser, alone and inside a signed note, and the
//! note check. Never panics; whatever parses is canonical (re-serialises to the same text).
#![no_main]

use libfuzzer_sys::fuzz_target;
use urna_model::note::Note;
use urna_model::rotation::RotationBody;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(body) = RotationBody::parse(text)
    {
        let canonical = if text.ends_with('\n') {
            text.to_owned()
        } else {
            format!("{text}\n")
        };
        assert_eq!(body.to_text(), canonical);
    }
    if let Ok(note) = Note::parse(data)
        && let Ok(body) = RotationBody::parse(note.text())
    {
        assert_eq!(body.to_text(), note.text());
    }
    let _ = RotationBody::check(data);
});
