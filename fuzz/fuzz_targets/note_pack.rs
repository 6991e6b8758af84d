//! Fuzzes the note-pack reader used by bulk intake. Never panics; notes read back re-pack to
//! a prefix of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use urna_model::pack::{PackReader, write_note};

fuzz_target!(|data: &[u8]| {
    let mut repacked = Vec::new();
    for note in PackReader::new(data) {
        let Ok(note) = note else { break };
        write_note(&mut repacked, &note).unwrap();
    }
    assert!(data.starts_with(&repacked));
});
