//! Fuzzes the rows of `urna import --format albania-2021` (the per-station CSV), read by the
//! import's own module. Never panics; a refusal names the line or the header and is bounded
//! (a row is at most `MAX_ROW` bytes); what is read has at least one row, a valid and
//! distinct id per station, every list's votes, and units for every row.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/urna-cli/src/albania_rows.rs"]
mod albania_rows;

fuzz_target!(|data: &[u8]| {
    match albania_rows::read("fuzz.csv", data) {
        Ok(read) => {
            assert!(!read.rows.is_empty());
            let mut ids = std::collections::BTreeSet::new();
            for row in &read.rows {
                assert!(urna_model::protocol::check_id(&row.station).is_ok());
                assert!(ids.insert(row.station.clone()), "{} twice", row.station);
                assert_eq!(row.votes.len(), albania_rows::LISTS.len());
                let (_, district) = &read.municipalities[&row.unit];
                assert!(read.districts.contains_key(district));
            }
        }
        Err(e) => {
            assert!(e.starts_with("fuzz.csv: "), "{e}");
            // A refusal quotes at most one row's field: its length is bounded by the row's.
            assert!(e.len() < 2 * albania_rows::MAX_ROW, "{} bytes", e.len());
        }
    }
});
