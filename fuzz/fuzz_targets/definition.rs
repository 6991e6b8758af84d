//! Fuzzes the election definition loader: TOML before the first NUL byte, the stations CSV
//! after it. Never panics; every failure is an error naming file and line; a loaded definition's
//! candidates are where their lists say, by ballot number.
#![no_main]

use libfuzzer_sys::fuzz_target;
use urna_model::definition::Election;

fuzz_target!(|data: &[u8]| {
    let (toml, csv) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let (Ok(toml), Ok(csv)) = (std::str::from_utf8(toml), std::str::from_utf8(csv)) else {
        return;
    };
    if let Ok(e) = Election::from_texts("election.toml", toml, "stations.csv", csv) {
        assert!(!e.units.is_empty() && !e.contests.is_empty());
        for (li, l) in e.lists.iter().enumerate() {
            let numbers: Vec<u32> = l
                .candidates
                .iter()
                .map(|c| e.candidates[c.0 as usize].number)
                .collect();
            assert!(numbers.windows(2).all(|w| w[0] <= w[1]));
            assert!(
                l.candidates
                    .iter()
                    .all(|c| e.candidates[c.0 as usize].list == li)
            );
        }
    }
});
