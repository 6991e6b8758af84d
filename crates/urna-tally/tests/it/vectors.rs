//! Published allocations that urna must reproduce exactly.

use std::collections::BTreeMap;

use urna_tally::seats::{DistrictId, ListId, ListInfo, RuleSet, VoteInput, Votes, allocate};

use crate::support::{seats_in_order, shared_data, single_district, votes};

/// Balinski & Young's classic example: Hare, D'Hondt and Sainte-Laguë differ on it.
#[test]
fn balinski_young_vector_matches_every_method() {
    let text =
        std::fs::read_to_string(shared_data("apportionment_lackner/balinski_young.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let counts: Vec<u64> = doc["votes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let seats = u32::try_from(doc["seats"].as_u64().unwrap()).unwrap();
    for (key, method) in [
        ("hare_largest_remainder", "hare"),
        ("dhondt", "dhondt"),
        ("sainte_lague", "sainte_lague"),
    ] {
        let expected: Vec<u32> = doc["expected"][key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| u32::try_from(v.as_u64().unwrap()).unwrap())
            .collect();
        let result = allocate(&single_district(method, seats, None), &votes(&counts)).unwrap();
        assert_eq!(seats_in_order(&result, counts.len()), expected, "{method}");
    }
}

/// One line of `nr_wahlen.txt`: (year, parties, votes, official seats).
struct Election {
    year: u32,
    parties: Vec<String>,
    votes: Vec<u64>,
    seats: Vec<u32>,
}

fn austrian_elections() -> Vec<Election> {
    let text = std::fs::read_to_string(shared_data("apportionment_lackner/nr_wahlen.txt")).unwrap();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.trim_start().starts_with('(')) {
        let body = line.split('#').next().unwrap();
        let year: u32 = body
            .trim_start()
            .trim_start_matches('(')
            .split(',')
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let groups: Vec<&str> = body
            .split('[')
            .skip(1)
            .map(|g| g.split(']').next().unwrap())
            .collect();
        assert_eq!(groups.len(), 3, "{line}");
        let mut seen = BTreeMap::new();
        // 2008 lists two different parties as "LINKE": keep them apart.
        let parties = groups[0]
            .split(',')
            .map(|p| {
                let name = p.trim().trim_matches('"').to_owned();
                let n = seen.entry(name.clone()).or_insert(0);
                *n += 1;
                if *n > 1 { format!("{name}-{n}") } else { name }
            })
            .collect();
        let numbers =
            |g: &str| -> Vec<u64> { g.split(',').map(|n| n.trim().parse().unwrap()).collect() };
        out.push(Election {
            year,
            parties,
            votes: numbers(groups[1]),
            seats: numbers(groups[2])
                .into_iter()
                .map(|s| u32::try_from(s).unwrap())
                .collect(),
        });
    }
    out
}

/// All nine Nationalrat elections 1994–2019: one national D'Hondt over 183 seats with a 4 %
/// threshold reproduces the official party totals.
#[test]
fn austrian_nationalrat_1994_to_2019_reproduce_official_seats() {
    let elections = austrian_elections();
    assert_eq!(elections.len(), 9);
    let rules = single_district("dhondt", 183, Some("4%"));
    for e in elections {
        let mut input = VoteInput::default();
        let all = DistrictId::new("all");
        for (p, &v) in e.parties.iter().zip(&e.votes) {
            let list = ListId::new(p.clone());
            input.declare_list(list.clone(), ListInfo::default());
            input.add_votes(&all, &list, Votes(v)).unwrap();
        }
        let result = allocate(&rules, &input).unwrap();
        for (p, &official) in e.parties.iter().zip(&e.seats) {
            assert_eq!(result.seats_of(p).0, official, "{} {p}", e.year);
        }
        assert_eq!(result.tie_breaks().count(), 0, "{}", e.year);
    }
}

const ALBANIA_PARTIES: [&str; 12] = [
    "PSD", "PBK", "PLDSH", "BD", "ABEOK", "LSI", "NTH", "LRE", "PD", "ADR", "LN", "PS",
];

/// Sums the per-station CSV into per-district votes. `Other` is not a list (votes for
/// independent candidates, aggregated): it counts as valid votes for the 1 % base only.
pub(crate) fn albania_2021() -> VoteInput {
    let mut reader = csv::Reader::from_path(shared_data(
        "albania_2021_borici/party_votes_raw_polling_station.csv",
    ))
    .unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let district_col = col("District");
    let valid_col = col("ValidBallots");
    let other_col = col("Other");
    let party_cols: Vec<(ListId, usize)> = ALBANIA_PARTIES
        .iter()
        .map(|p| (ListId::new(*p), col(p)))
        .collect();
    let mut input = VoteInput::default();
    for (list, _) in &party_cols {
        input.declare_list(list.clone(), ListInfo::default());
    }
    let mut stations = 0;
    for record in reader.records() {
        let record = record.unwrap();
        let district = DistrictId::new(&record[district_col]);
        let mut sum = 0;
        for (list, i) in &party_cols {
            let v: u64 = record[*i].parse().unwrap();
            sum += v;
            input.add_votes(&district, list, Votes(v)).unwrap();
        }
        let other: u64 = record[other_col].parse().unwrap();
        input.add_other(&district, Votes(other)).unwrap();
        // Party columns plus Other are exactly the station's valid ballots.
        assert_eq!(sum + other, record[valid_col].parse::<u64>().unwrap());
        stations += 1;
    }
    assert_eq!(stations, 5199);
    input
}

/// Albania 2021: D'Hondt in each of the 12 districts among parties over 1 % nationally gives
/// the official PS 74, PD 59, LSI 4, PSD 3.
#[test]
fn albania_2021_per_station_data_gives_the_official_seats() {
    let rules = RuleSet::builtin("albania").unwrap();
    let result = allocate(&rules, &albania_2021()).unwrap();
    let expected = [("PS", 74), ("PD", 59), ("LSI", 4), ("PSD", 3)];
    for (p, s) in expected {
        assert_eq!(result.seats_of(p).0, s, "{p}");
    }
    let total: u32 = result.seats.values().map(|s| s.0).sum();
    assert_eq!(total, 140);
    // Exactly four parties pass 1 % of valid votes (PSD with 2.25 %; NTH 0.65 % is cut).
    let passed: Vec<&str> = result
        .thresholds
        .iter()
        .filter(|t| t.outcome == urna_tally::seats::ThresholdOutcome::Passed)
        .map(|t| t.list.as_str())
        .collect();
    assert_eq!(passed, ["LSI", "PD", "PS", "PSD"]);
}

/// Removing `Other` from the base must not change 2021's result, but the base must include it:
/// the explanation states the base as all valid votes.
#[test]
fn albania_2021_threshold_base_includes_votes_for_independents() {
    let input = albania_2021();
    let rules = RuleSet::builtin("albania").unwrap();
    let result = allocate(&rules, &input).unwrap();
    let listed: u64 = result.votes.values().map(|v| v.0).sum();
    assert_eq!(result.valid_votes.0, 1_578_284);
    assert_eq!(result.valid_votes.0 - listed, 4_247);
}

/// The explanation of a real election is deterministic, names every district and serialises.
#[test]
fn albania_2021_explanation_is_deterministic_text_and_json() {
    let rules = RuleSet::builtin("albania").unwrap();
    let a = allocate(&rules, &albania_2021()).unwrap();
    let b = allocate(&rules, &albania_2021()).unwrap();
    assert_eq!(a.explain_text(), b.explain_text());
    let json = serde_json::to_string(&a).unwrap();
    assert_eq!(json, serde_json::to_string(&b).unwrap());
    for d in &rules.districts {
        assert!(a.explain_text().contains(&format!("district {}", d.id)));
    }
    assert!(json.contains("\"sensitivity\""));
}
