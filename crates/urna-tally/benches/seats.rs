//! Micro-benchmarks of seat allocation, named `seats/<method>/<lists>x<seats>`.
//!
//! A plain `harness = false` timer (criterion is not a workspace dependency yet). `cargo test
//! --all-targets` runs each case once as a smoke test; `cargo bench -p urna-tally` times them.

// A benchmark reports timings: printing is its purpose, and a failed setup should abort it.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

use urna_tally::seats::{DistrictId, ListId, ListInfo, RuleSet, VoteInput, Votes, allocate};

fn rules(method: &str, seats: u32) -> RuleSet {
    RuleSet::from_toml(&format!(
        "id = \"bench\"\ntitle = \"bench\"\nlegal_source = [\"bench\"]\nhouse_seats = {seats}\n\
         method = \"{method}\"\ntie_break = {{ rule = \"lot\", seed = \"bench\" }}\n\
         [[district]]\nid = \"all\"\nseats = {seats}\n"
    ))
    .unwrap()
}

fn input(lists: u64) -> VoteInput {
    let mut input = VoteInput::default();
    let all = DistrictId::new("all");
    for i in 0..lists {
        let list = ListId::new(format!("L{i}"));
        input.declare_list(list.clone(), ListInfo::default());
        // Deterministic, uneven votes.
        let votes = 1_000_000 / (i + 1) + (i * 7919) % 1000;
        input.add_votes(&all, &list, Votes(votes)).unwrap();
    }
    input
}

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let iterations = if bench_mode { 50 } else { 1 };
    for method in ["dhondt", "sainte_lague", "hare"] {
        for (lists, seats) in [(5, 20), (15, 183), (40, 600)] {
            let r = rules(method, seats);
            let v = input(lists);
            let start = Instant::now();
            for _ in 0..iterations {
                black_box(allocate(black_box(&r), black_box(&v)).unwrap());
            }
            let per = start.elapsed() / iterations;
            println!("seats/{method}/{lists}x{seats}: {per:?} per allocation ({iterations} runs)");
        }
    }
}
