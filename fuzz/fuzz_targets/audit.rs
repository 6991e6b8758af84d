//! Fuzzes the `urna/audit/v1` body parser, alone and inside a signed note. Never panics;
//! whatever parses is canonical (re-serialises to the same text and parses to the same body).
#![no_main]

use libfuzzer_sys::fuzz_target;
use urna_model::audit::AuditBody;
use urna_model::note::Note;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(body) = AuditBody::parse(text)
    {
        let canonical = if text.ends_with('\n') {
            text.to_owned()
        } else {
            format!("{text}\n")
        };
        assert_eq!(body.to_text(), canonical);
        assert_eq!(AuditBody::parse(&canonical).as_ref(), Ok(&body));
    }
    if let Ok(note) = Note::parse(data)
        && let Ok(body) = AuditBody::parse(note.text())
    {
        assert_eq!(body.to_text(), note.text());
    }
});
