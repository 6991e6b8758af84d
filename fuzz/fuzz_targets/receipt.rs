//! Fuzzes the `urna/receipt/v1` body parser, alone and inside a signed note, as a station
//! reads the receipt `POST /v1/protocols` answered. Never panics; whatever parses is canonical
//! (re-serialises to the same text), and a receipt whose only signature verifies under the
//! fuzzing key is exactly the note that key signs for the parsed receipt (Ed25519 signatures
//! are deterministic), so nothing outside the signed text survives a round trip.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use urna_model::note::{Note, NoteSigner};
use urna_model::receipt::Receipt;

/// The log key the committed `signed` and `cosigned` seeds are signed with.
static LOG_KEY: LazyLock<NoteSigner> =
    LazyLock::new(|| NoteSigner::from_seed("urna/fuzz", &[7; 32]).expect("a valid key name"));

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(receipt) = Receipt::parse(text)
    {
        let canonical = if text.ends_with('\n') {
            text.to_owned()
        } else {
            format!("{text}\n")
        };
        assert_eq!(receipt.to_text(), canonical);
        assert_eq!(Receipt::parse(&canonical).as_ref(), Ok(&receipt));
    }
    if let Ok(note) = Note::parse(data)
        && let Ok(receipt) = Receipt::parse(note.text())
    {
        assert_eq!(receipt.to_text(), note.text());
        if note.signatures().len() == 1 && LOG_KEY.verifier().verify(&note).is_ok() {
            assert_eq!(LOG_KEY.sign_text(&receipt.to_text()).to_bytes(), data);
        }
    }
});
