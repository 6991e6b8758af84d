//! Fuzzes the `urna/assessment/v1` body parser, alone and inside a signed note, and the report
//! made from whatever parses. Never panics; whatever parses is canonical (re-serialises to the
//! same text).
#![no_main]

use libfuzzer_sys::fuzz_target;
use urna_assess::note::AssessmentBody;
use urna_assess::report::{Signers, html};
use urna_assess::Lang;
use urna_model::note::Note;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(body) = AssessmentBody::parse(text) {
            assert_eq!(body.to_text(), text);
            let _ = html(&body, &Signers::default(), Lang::Mk);
        }
    }
    if let Ok(note) = Note::parse(data) {
        if let Ok(body) = AssessmentBody::parse(note.text()) {
            assert_eq!(body.to_text(), note.text());
        }
    }
});
