//! Helpers shared by the integration tests.

use urna_tally::seats::{DistrictId, ListId, ListInfo, RuleSet, VoteInput, Votes};

/// Path of a file under the shared third-party data directory (never copied into the repo).
pub(crate) fn shared_data(rel: &str) -> String {
    format!("{}/../../../shared/data/{rel}", env!("CARGO_MANIFEST_DIR"))
}

/// A one-district rule set with the given method, seats and national party threshold.
pub(crate) fn single_district(method: &str, seats: u32, threshold: Option<&str>) -> RuleSet {
    let threshold = threshold
        .map(|t| format!("[threshold]\nscope = \"national\"\nparty = \"{t}\"\n"))
        .unwrap_or_default();
    RuleSet::from_toml(&format!(
        r#"id = "test"
title = "test"
legal_source = ["test"]
house_seats = {seats}
method = "{method}"
tie_break = {{ rule = "lot", seed = "test" }}
{threshold}
[[district]]
id = "all"
seats = {seats}
"#
    ))
    .unwrap()
}

/// Votes of unnamed lists `L0`, `L1`, … in the single district `all`.
pub(crate) fn votes(counts: &[u64]) -> VoteInput {
    let mut input = VoteInput::default();
    let all = DistrictId::new("all");
    for (i, &v) in counts.iter().enumerate() {
        let list = ListId::new(format!("L{i}"));
        input.declare_list(list.clone(), ListInfo::default());
        input.add_votes(&all, &list, Votes(v)).unwrap();
    }
    input
}

/// Seats of `L0`, `L1`, … in order.
pub(crate) fn seats_in_order(result: &urna_tally::seats::Allocation, n: usize) -> Vec<u32> {
    (0..n)
        .map(|i| result.seats_of(&format!("L{i}")).0)
        .collect()
}
