//! Fuzzes the tlog-witness add-checkpoint request parser and the witness decision on top of
//! it. Never panics; whatever parses re-serialises to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use urna_model::note::NoteSigner;
use urna_tlog::witness::AddCheckpointRequest;
use urna_tlog::{CosignatureSigner, FixedClock, Witness, WitnessState};

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = AddCheckpointRequest::parse(data) {
        assert_eq!(req.to_bytes(), data);
    }
    // The seed corpus is signed by this log key, so fuzzing reaches the proof checks.
    if let (Ok(signer), Ok(log)) = (
        CosignatureSigner::from_seed("fuzz.example/w", &[1; 32]),
        NoteSigner::from_seed("fuzz.example/log", &[2; 32]),
    ) {
        let mut witness = Witness::new(signer);
        witness.add_log("fuzz.example/log", log.verifier());
        let _ = witness.add_checkpoint(&WitnessState::default(), data, &FixedClock(0));
    }
});
