//! Open lists in the public bundle: candidates and preference votes in every file that carries
//! totals, computed from the signed notes alone; nothing of it in a closed-list bundle.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};
use urna_model::definition::{Election, StationIdx};
use urna_model::genesis::Genesis;
use urna_model::note::{Note, NoteSigner};
use urna_model::protocol::ProtocolBody;
use urna_sim::{SimConfig, Simulation};
use urna_tally::public::{DefinitionFiles, Replay, render};

/// A simulated election replayed and rendered: the definition, each station's notes in
/// revision order, the replay and the bundle's derived files.
struct Rendered {
    election: Election,
    notes: Vec<Vec<Vec<u8>>>,
    replay: Replay,
    files: BTreeMap<String, Vec<u8>>,
}

fn rendered(config: SimConfig) -> Rendered {
    let sim = Simulation::new(config);
    let toml = sim.definition_toml();
    let mut csv = format!("{}\n", urna_sim::STATIONS_HEADER);
    let mut notes = Vec::new();
    for i in 0..sim.config().stations {
        let s = sim.station(i);
        csv.push_str(&sim.station_row(&s));
        csv.push('\n');
        let protocol = sim.protocol_note(&s);
        let mut mine = vec![protocol.clone()];
        if sim.is_amended(&s) {
            mine.push(sim.amendment_note(&s, &protocol).unwrap());
        }
        notes.push(mine);
    }
    let election = Election::from_texts("election.toml", &toml, "stations.csv", &csv).unwrap();
    let key = NoteSigner::from_seed(&election.log_origin(), &[9; 32]).unwrap();
    let genesis = key
        .sign_text(
            &Genesis::of(&election, toml.as_bytes(), csv.as_bytes())
                .unwrap()
                .to_text(),
        )
        .to_bytes();
    let mut log = vec![genesis];
    log.extend(notes.iter().map(|n| n[0].clone()));
    log.extend(notes.iter().filter_map(|n| n.get(1).cloned()));
    let mut replay = Replay::new(&election).unwrap();
    for (i, note) in log.iter().enumerate() {
        replay.apply(&election, i as u64, note).unwrap();
    }
    let checkpoint = key
        .sign_text(&format!(
            "{}\n{}\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
            election.log_origin(),
            log.len()
        ))
        .to_bytes();
    let files = DefinitionFiles::new(&election, toml.as_bytes(), csv.as_bytes()).unwrap();
    let files = render(&election, &files, &replay, &checkpoint)
        .unwrap()
        .into_iter()
        .collect();
    Rendered {
        election,
        notes,
        replay,
        files,
    }
}

impl Rendered {
    fn json(&self, path: &str) -> Value {
        serde_json::from_slice(
            self.files
                .get(path)
                .unwrap_or_else(|| panic!("{path} is not rendered")),
        )
        .unwrap()
    }

    /// A station's current note's preference lines that name a candidate standing there,
    /// read from the signed note itself, as `{list: {number: votes}}`. (A line naming no
    /// candidate breaks a rule: the violation names it, and it counts nowhere.)
    fn note_preferences(&self, station: usize) -> BTreeMap<String, BTreeMap<u32, u64>> {
        self.revision_preferences(station, self.notes[station].len() - 1)
    }

    /// As [`Rendered::note_preferences`], of the station's `k`-th note (0: its protocol).
    fn revision_preferences(
        &self,
        station: usize,
        k: usize,
    ) -> BTreeMap<String, BTreeMap<u32, u64>> {
        let e = &self.election;
        let note = &self.notes[station][k];
        let parsed = Note::parse(note).unwrap();
        let body = ProtocolBody::parse(parsed.text()).unwrap();
        let unit = e.stations[station].unit;
        let mut out: BTreeMap<String, BTreeMap<u32, u64>> = BTreeMap::new();
        for lp in &body.preferences {
            let list = e.lists.iter().position(|l| l.id == lp.list).unwrap();
            for c in lp
                .candidates
                .iter()
                .filter(|c| e.candidate(list, c.number, unit).is_some())
            {
                *out.entry(lp.list.clone())
                    .or_default()
                    .entry(c.number)
                    .or_default() += c.votes;
            }
        }
        out
    }

    fn counted(&self, station: usize) -> bool {
        let s = StationIdx(u32::try_from(station).unwrap());
        let state = self
            .replay
            .station(urna_model::definition::ContestIdx(0), s)
            .unwrap();
        !state.current().is_quarantined()
    }
}

/// `{list: {number: votes}}` as the bundle writes it (numbers as keys), zeros left out.
fn as_json(sums: &BTreeMap<String, BTreeMap<u32, u64>>) -> Value {
    let mut out = serde_json::Map::new();
    for (list, numbers) in sums {
        let numbers: serde_json::Map<String, Value> = numbers
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(n, v)| (n.to_string(), json!(v)))
            .collect();
        if !numbers.is_empty() {
            out.insert(list.clone(), Value::Object(numbers));
        }
    }
    Value::Object(out)
}

fn add(
    into: &mut BTreeMap<String, BTreeMap<u32, u64>>,
    from: &BTreeMap<String, BTreeMap<u32, u64>>,
) {
    for (list, numbers) in from {
        for (n, v) in numbers {
            *into.entry(list.clone()).or_default().entry(*n).or_default() += v;
        }
    }
}

/// Adds up a JSON totals object's numeric fields (`counts`, `votes`, `preferences`) the way
/// a reader checking an area against its children would.
fn sum_totals(children: &[&Value]) -> Value {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut votes: BTreeMap<String, u64> = BTreeMap::new();
    let mut prefs: BTreeMap<String, BTreeMap<u32, u64>> = BTreeMap::new();
    for c in children {
        for (k, v) in c["counts"].as_object().unwrap() {
            *counts.entry(k.clone()).or_default() += v.as_u64().unwrap();
        }
        for (k, v) in c["votes"].as_object().unwrap() {
            *votes.entry(k.clone()).or_default() += v.as_u64().unwrap();
        }
        for (list, numbers) in c["preferences"].as_object().unwrap() {
            for (n, v) in numbers.as_object().unwrap() {
                *prefs
                    .entry(list.clone())
                    .or_default()
                    .entry(n.parse().unwrap())
                    .or_default() += v.as_u64().unwrap();
            }
        }
    }
    json!({"counts": counts, "votes": votes, "preferences": as_json(&prefs)})
}

/// An open-list simulation where a quarter of the protocols carry an error (quarantined, and
/// half of them amended).
fn open_config(seed: u64, stations: u32, districts: u32, candidates: u32, marks: u32) -> SimConfig {
    let errors = SimConfig {
        error_rate_per_10k: 2500,
        ..SimConfig::default()
    };
    SimConfig {
        seed,
        stations,
        districts,
        candidates,
        marks,
        ..errors
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// The preference votes of every unit, in `v1/results.json`, are the sums of the
    /// preference lines of the signed notes of its counted stations (their current entry),
    /// whatever the election: districts with their own candidates (twelve) or candidates for
    /// the whole country, errors quarantined or amended; `v1/summary.json`'s national totals
    /// and each unit file's totals say the same, and each station's entry in its unit file
    /// carries its note's lines.
    #[test]
    fn preference_totals_are_the_sums_of_the_counted_notes(
        seed in 0u64..1_000,
        stations in 12u32..40,
        districts in prop::sample::select(vec![1u32, 3, 12]),
        candidates in 1u32..7,
        marks in 1u32..4,
    ) {
        let r = rendered(open_config(seed, stations, districts, candidates, marks));
        let e = &r.election;
        let mut per_unit: Vec<BTreeMap<String, BTreeMap<u32, u64>>> =
            vec![BTreeMap::new(); e.units.len()];
        for (i, st) in e.stations.iter().enumerate() {
            if !r.counted(i) {
                continue;
            }
            let lines = r.note_preferences(i);
            for u in e.ancestry(st.unit) {
                add(&mut per_unit[u.0 as usize], &lines);
            }
        }
        let results = r.json("v1/results.json");
        let units = results["contests"][0]["units"].as_array().unwrap();
        prop_assert_eq!(units.len(), e.units.len());
        for (u, doc) in units.iter().enumerate() {
            prop_assert_eq!(&doc["preferences"], &as_json(&per_unit[u]), "unit {}", e.units[u].id);
        }
        prop_assert_eq!(
            &r.json("v1/summary.json")["contests"][0]["national"]["preferences"],
            &as_json(&per_unit[0])
        );
        for (u, unit) in e.units.iter().enumerate() {
            let path = urna_tally::public::unit_path(&unit.id);
            if !r.files.contains_key(&path) {
                continue;
            }
            let doc = r.json(&path);
            let c = &doc["contests"][0];
            prop_assert_eq!(&c["totals"]["preferences"], &as_json(&per_unit[u]));
            for s in c["stations"].as_array().unwrap() {
                let i = e.stations.iter().position(|st| st.id == s["id"]).unwrap();
                prop_assert_eq!(&s["current"]["preferences"], &as_json(&r.note_preferences(i)));
                // Each revision, the superseded protocol included, shows its own note's.
                // One entry (and no decision): no history, the current entry shows them.
                match s["history"].as_array() {
                    Some(history) => {
                        prop_assert_eq!(history.len(), r.notes[i].len());
                        for (k, h) in history.iter().enumerate() {
                            prop_assert_eq!(&h["preferences"], &as_json(&r.revision_preferences(i, k)));
                        }
                    }
                    None => prop_assert_eq!(r.notes[i].len(), 1),
                }
            }
        }
        // csv/preferences.csv adds up to the national totals.
        let csv = std::str::from_utf8(&r.files["csv/preferences.csv"]).unwrap();
        let mut from_csv: BTreeMap<String, BTreeMap<u32, u64>> = BTreeMap::new();
        for row in csv.lines().skip(1) {
            let f: Vec<&str> = row.split(',').collect();
            *from_csv
                .entry(f[3].to_owned())
                .or_default()
                .entry(f[4].parse().unwrap())
                .or_default() += f[5].parse::<u64>().unwrap();
        }
        prop_assert_eq!(as_json(&from_csv), as_json(&per_unit[0]));
    }
}

/// What the results page reads is consistent: each area file's totals are the sums of its
/// children's (counts, list votes and preference votes), its children's totals are those of
/// `v1/results.json`, and the national totals of `v1/summary.json` are `v1/results.json`'s.
#[test]
fn page_files_add_up_from_children_to_the_country() {
    let r = rendered(open_config(7, 36, 12, 4, 2));
    let e = &r.election;
    let results = r.json("v1/results.json");
    let by_unit: BTreeMap<&str, &Value> = results["contests"][0]["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["unit"].as_str().unwrap(), u))
        .collect();
    assert_eq!(
        r.json("v1/summary.json")["contests"][0]["national"],
        results["contests"][0]["national"]
    );
    let mut areas = 0;
    for unit in &e.units {
        let path = urna_tally::public::area_path(&unit.id);
        let Some(_) = r.files.get(&path) else {
            continue;
        };
        areas += 1;
        let doc = r.json(&path);
        let c = &doc["contests"][0];
        let children: Vec<&Value> = c["children"].as_array().unwrap().iter().collect();
        assert!(!children.is_empty(), "{path}");
        let sum = sum_totals(&children);
        for field in ["counts", "votes", "preferences"] {
            assert_eq!(sum[field], c["totals"][field], "{path}: {field}");
        }
        for child in &children {
            let id = child["unit"].as_str().unwrap();
            assert_eq!(
                child["preferences"], by_unit[id]["preferences"],
                "{path}: {id}"
            );
            assert_eq!(child["votes"], by_unit[id]["votes"], "{path}: {id}");
        }
    }
    assert_eq!(areas, 13, "the country and its twelve districts");
    // The country's preference votes are not empty: the sim gives every list some.
    assert!(
        !results["contests"][0]["national"]["preferences"]
            .as_object()
            .unwrap()
            .is_empty()
    );
    // Per-district candidates: election.json lists each with its unit, and the seats name
    // the elected, as many as each list's seats.
    let election = r.json("v1/election.json");
    let contest = &election["contests"][0];
    assert_eq!(contest["preferences"], json!({"marks": 2}));
    let first = &contest["lists"][0]["candidates"][0];
    assert_eq!(first["number"], 1);
    assert_eq!(first["unit"], "D01");
    for l in results["contests"][0]["seats"]["lists"].as_array().unwrap() {
        assert_eq!(
            l["elected"].as_array().unwrap().len() as u64,
            l["seats"].as_u64().unwrap(),
            "{l}"
        );
    }
    let seats = r.json("v1/seats/assembly.json");
    assert_eq!(seats["candidate_rules"]["rule"], "closed_part");
    assert!(seats["candidates"].is_object());
}

/// Every file that carries totals, the unit files and the seats say nothing of candidates for
/// a closed-list election: no `preferences`, `candidates` or `elected` key anywhere, and no
/// `csv/preferences.csv`.
#[test]
fn a_closed_list_bundle_has_no_preferences_anywhere() {
    let r = rendered(SimConfig {
        stations: 36,
        districts: 12,
        error_rate_per_10k: 2500,
        ..SimConfig::default()
    });
    assert!(!r.files.contains_key("csv/preferences.csv"));
    fn keys(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    out.push(k.clone());
                    keys(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
            _ => {}
        }
    }
    let mut checked = 0;
    for (path, bytes) in &r.files {
        if path.starts_with("v1/") && path.ends_with(".json") {
            let mut found = Vec::new();
            keys(&serde_json::from_slice(bytes).unwrap(), &mut found);
            for bad in ["preferences", "candidates", "elected", "candidate_rules"] {
                assert!(!found.iter().any(|k| k == bad), "{path} has `{bad}`");
            }
            checked += 1;
        }
        if path.starts_with("csv/") || path == "README.txt" {
            let text = std::str::from_utf8(bytes).unwrap();
            assert!(!text.contains("preferences"), "{path}");
        }
    }
    assert!(checked > 256 + 5, "{checked} JSON files checked");
    // The same election with candidates has them in every one of those places.
    let open = rendered(open_config(2025, 36, 12, 4, 2));
    let results = open.json("v1/results.json");
    assert!(results["contests"][0]["national"]["preferences"].is_object());
    assert!(open.files.contains_key("csv/preferences.csv"));
}
