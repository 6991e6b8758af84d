//! The public results as a function of the log: replay of a simulated election (protocols,
//! quarantined ones, amendments), byte-identical rendering, the errors a verifier relies on,
//! and independence from the order stations report in.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use proptest::prelude::*;
use urna_model::definition::{ContestIdx, Election, StationIdx};
use urna_model::genesis::Genesis;
use urna_model::intake::{Rejection, Submission, check};
use urna_model::note::{Note, NoteSigner};
use urna_model::protocol::{BodyKind, ProtocolBody};
use urna_sim::{SimConfig, Simulation};
use urna_tally::public::{DefinitionFiles, EntryStatus, RenderError, Replay, ReplayError, render};
use urna_tally::totals::{StationOutcome, tally};

/// A simulated election: definition texts, and per station its notes in revision order.
struct Fixture {
    sim: Simulation,
    toml: String,
    csv: String,
    election: Election,
    /// Per station, its protocol and (for amended stations) its amendment.
    notes: Vec<Vec<Vec<u8>>>,
    /// Entry 0: the genesis, signed by the log key.
    genesis: Vec<u8>,
}

impl Fixture {
    /// Every entry in intake order: the genesis, all protocols, then all amendments.
    fn log(&self) -> Vec<Vec<u8>> {
        let mut log = vec![self.genesis.clone()];
        log.extend(self.notes.iter().map(|n| n[0].clone()));
        log.extend(self.notes.iter().filter_map(|n| n.get(1).cloned()));
        log
    }

    fn files(&self) -> DefinitionFiles {
        DefinitionFiles::new(&self.election, self.toml.as_bytes(), self.csv.as_bytes()).unwrap()
    }
}

const STATIONS: u32 = 60;

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let sim = Simulation::new(SimConfig {
            stations: STATIONS,
            districts: 3,
            error_rate_per_10k: 3000,
            ..SimConfig::default()
        });
        let toml = sim.definition_toml();
        let mut csv = format!("{}\n", urna_sim::STATIONS_HEADER);
        let mut notes = Vec::new();
        for i in 0..STATIONS {
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
        let genesis = log_key(&election)
            .sign_text(
                &Genesis::of(&election, toml.as_bytes(), csv.as_bytes())
                    .unwrap()
                    .to_text(),
            )
            .to_bytes();
        Fixture {
            sim,
            toml,
            csv,
            election,
            notes,
            genesis,
        }
    })
}

fn replay(e: &Election, log: &[Vec<u8>]) -> Replay {
    let mut r = Replay::new(e).unwrap();
    for (i, note) in log.iter().enumerate() {
        r.apply(e, i as u64, note).unwrap();
    }
    r
}

/// The log key of the test election.
fn log_key(e: &Election) -> NoteSigner {
    NoteSigner::from_seed(&e.log_origin(), &[9; 32]).unwrap()
}

/// A checkpoint note of this election's log at `size` (the root is not checked here).
fn checkpoint(e: &Election, size: u64) -> Vec<u8> {
    let origin = e.log_origin();
    log_key(e)
        .sign_text(&format!(
            "{origin}\n{size}\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        ))
        .to_bytes()
}

fn file<'a>(files: &'a [(String, Vec<u8>)], path: &str) -> &'a [u8] {
    &files
        .iter()
        .find(|(p, _)| p == path)
        .unwrap_or_else(|| panic!("{path} is not rendered"))
        .1
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn replay_gives_the_tally_of_each_stations_final_outcome() {
    let f = fixture();
    let e = &f.election;
    let r = replay(e, &f.log());
    assert_eq!(r.applied() as usize, f.log().len());

    // The straightforward way: check each station's final note, tally the outcomes.
    let finals: Vec<Submission> = f
        .notes
        .iter()
        .map(|n| check(e, n.last().unwrap()).unwrap())
        .collect();
    let outcomes = finals.iter().map(|s| {
        if s.is_quarantined() {
            StationOutcome::Quarantined { station: s.station }
        } else {
            StationOutcome::Counted {
                station: s.station,
                counts: &s.counts,
                votes: &s.votes,
                preferences: &s.preferences,
            }
        }
    });
    let direct = tally(e, ContestIdx(0), outcomes).unwrap();
    assert_eq!(r.tally(ContestIdx(0)), &direct);

    let quarantined = finals.iter().filter(|s| s.is_quarantined()).count();
    let amended = f.notes.iter().filter(|n| n.len() == 2).count();
    assert!(quarantined > 0 && amended > 0, "the fixture has both");
    assert_eq!(r.quarantined(ContestIdx(0)).count(), quarantined);
    assert_eq!(direct.units[0].quarantined as usize, quarantined);

    // An amended station keeps its history: the quarantined protocol, then the amendment.
    let (i, _) = f
        .notes
        .iter()
        .enumerate()
        .find(|(_, n)| n.len() == 2)
        .unwrap();
    let state = r.station(ContestIdx(0), StationIdx(i as u32)).unwrap();
    let h = state.history();
    assert_eq!(h.len(), 2);
    assert_eq!(
        (h[0].index, h[0].revision),
        (i as u64 + 1, 1),
        "entry 0 is the genesis"
    );
    assert_eq!(h[0].status, EntryStatus::Quarantined);
    assert_eq!(h[1].revision, 2);
    assert_eq!(h[1].status, EntryStatus::Accepted);
    assert_eq!(state.current().hash, h[1].entry);

    // Checking signatures too changes nothing for authentic entries.
    let mut verified = Replay::new(e).unwrap();
    for (i, note) in f.log().iter().enumerate() {
        verified.apply_verified(e, i as u64, note).unwrap();
    }
    assert_eq!(verified.tally(ContestIdx(0)), &direct);
}

#[test]
fn rendering_is_byte_identical_and_complete() {
    let f = fixture();
    let e = &f.election;
    let log = f.log();
    let cp = checkpoint(e, log.len() as u64);
    let a = render(e, &f.files(), &replay(e, &log), &cp).unwrap();
    let b = render(e, &f.files(), &replay(e, &log), &cp).unwrap();
    assert_eq!(a, b);
    let web: Vec<&str> = urna_tally::public::WEB_FILES
        .iter()
        .map(|(p, _)| *p)
        .collect();
    for (path, bytes) in a.iter().filter(|(p, _)| !web.contains(&p.as_str())) {
        assert!(bytes.ends_with(b"\n"), "{path} ends with a newline");
    }
    // The results page, as embedded, at the end.
    let tail: Vec<(&str, &[u8])> = a[a.len() - web.len()..]
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    assert_eq!(tail, urna_tally::public::WEB_FILES);
    assert_eq!(web[0], "index.html");

    let paths: Vec<&str> = a.iter().map(|(p, _)| p.as_str()).collect();
    for p in [
        "v1/election.json",
        "v1/results.json",
        "v1/quarantine.json",
        "csv/stations.csv",
        "csv/units.csv",
        "README.txt",
    ] {
        assert!(paths.contains(&p), "{p}");
    }
    let leaves: Vec<&str> = e
        .units
        .iter()
        .filter(|u| {
            e.stations
                .iter()
                .any(|s| e.units[s.unit.0 as usize].id == u.id)
        })
        .map(|u| u.id.as_str())
        .collect();
    for id in &leaves {
        assert!(
            paths.contains(&format!("v1/units/{id}.json").as_str()),
            "{id}"
        );
    }

    // results.json quotes the checkpoint and states the replay's totals.
    let results = json(file(&a, "v1/results.json"));

    // The summary is results.json without the units; each area file gives its unit's and its
    // children's totals exactly as results.json does, at the same checkpoint.
    let summary = json(file(&a, "v1/summary.json"));
    assert_eq!(summary["format"], "urna/summary/v1");
    assert_eq!(summary["checkpoint"], results["checkpoint"]);
    let mut without_units = results["contests"].clone();
    for c in without_units.as_array_mut().unwrap() {
        c.as_object_mut().unwrap().remove("units");
    }
    assert_eq!(summary["contests"], without_units);
    let election = json(file(&a, "v1/election.json"));
    let totals = |contest: usize, unit: &str| {
        let mut t = results["contests"][contest]["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["unit"] == unit)
            .unwrap()
            .clone();
        t.as_object_mut().unwrap().remove("unit");
        t
    };
    let mut areas = 0;
    for u in election["units"].as_array().unwrap() {
        let children: Vec<&serde_json::Value> = election["units"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["parent"] == u["id"])
            .collect();
        let Some(path) = u["area"].as_str() else {
            assert!(children.is_empty(), "{u} has children but no area file");
            continue;
        };
        areas += 1;
        let area = json(file(&a, path));
        assert_eq!(area["format"], "urna/area/v1");
        assert_eq!(area["checkpoint"]["size"], results["checkpoint"]["size"]);
        assert_eq!(
            area["checkpoint"]["root_hash"],
            results["checkpoint"]["root_hash"]
        );
        let id = u["id"].as_str().unwrap();
        for (ci, c) in area["contests"].as_array().unwrap().iter().enumerate() {
            assert_eq!(c["totals"], totals(ci, id), "{path}");
            let kids = c["children"].as_array().unwrap();
            assert_eq!(kids.len(), children.len(), "{path}");
            for (k, child) in kids.iter().zip(&children) {
                assert_eq!(k["unit"], child["id"]);
                let mut t = k.clone();
                t.as_object_mut().unwrap().remove("unit");
                assert_eq!(t, totals(ci, child["id"].as_str().unwrap()), "{path}");
            }
        }
    }
    assert!(areas > 0, "the fixture has no unit with children");
    assert_eq!(
        results["checkpoint"]["note"].as_str().unwrap().as_bytes(),
        cp
    );
    assert_eq!(results["checkpoint"]["size"], log.len() as u64);
    let r = replay(e, &log);
    let nat = &r.tally(ContestIdx(0)).units[0];
    let national = &results["contests"][0]["national"];
    assert_eq!(national["stations"]["counted"], nat.counted);
    assert_eq!(national["stations"]["quarantined"], nat.quarantined);
    for (k, name) in e.counts.iter().enumerate() {
        assert_eq!(national["counts"][name], nat.counts[k], "{name}");
    }
    let lists = &e.contests[0].lists;
    for (k, &l) in lists.iter().enumerate() {
        assert_eq!(national["votes"][&e.lists[l].id], nat.votes[k]);
    }
    assert_eq!(
        results["contests"][0]["units"].as_array().unwrap().len(),
        e.units.len()
    );

    // election.json names the definition blobs and every unit's file.
    let election = json(file(&a, "v1/election.json"));
    let files = f.files();
    assert_eq!(
        election["definition"]["files"][0]["path"],
        format!(
            "blob/sha256/{}",
            urna_model::protocol::hex(&files.election_toml)
        )
    );
    assert_eq!(election["stations"], STATIONS);

    assert_eq!(
        election["station_index"]["path"],
        "v1/stations/{shard}.json"
    );
    assert_eq!(
        election["authorities"].as_array().unwrap().len(),
        e.authorities.len()
    );
    for (doc, a) in election["authorities"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&e.authorities)
    {
        assert_eq!(doc["key"], a.key.to_vkey().as_str());
        assert_eq!(doc["name"], a.name.as_str());
    }

    // The station index: all 256 shards, each station once, in the shard its id hashes to,
    // sorted by id, naming its unit (and nothing more: v1/election.json names the unit's file).
    let shards: Vec<&(String, Vec<u8>)> = a
        .iter()
        .filter(|(p, _)| p.starts_with("v1/stations/"))
        .collect();
    assert_eq!(shards.len(), 256);
    let mut seen = 0;
    for (k, (path, bytes)) in shards.iter().enumerate() {
        assert_eq!(path, &format!("v1/stations/{k:02x}.json"));
        let doc = json(bytes);
        assert_eq!(doc["format"], "urna/station-index/v2");
        assert_eq!(doc["election"], e.id.as_str());
        let ids: Vec<&str> = doc["stations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{path} sorted");
        for s in doc["stations"].as_array().unwrap() {
            let id = s["id"].as_str().unwrap();
            assert_eq!(
                usize::from(urna_model::intake::sha256(id.as_bytes())[0]),
                k,
                "{id}"
            );
            let st = e.stations.iter().find(|st| st.id == id).unwrap();
            let unit = &e.units[st.unit.0 as usize].id;
            assert_eq!(s["unit"], unit.as_str());
            assert_eq!(
                s.as_object().unwrap().keys().collect::<Vec<_>>(),
                ["id", "unit"]
            );
            seen += 1;
        }
    }
    assert_eq!(seen, STATIONS as usize);

    // The quarantine list and the unit files agree with the replay.
    let quarantine = json(file(&a, "v1/quarantine.json"));
    let listed = quarantine["contests"][0]["stations"].as_array().unwrap();
    assert_eq!(listed.len() as u64, nat.quarantined);
    for q in listed {
        assert!(!q["violations"].as_array().unwrap().is_empty());
        assert!(q["entry"].as_str().unwrap().starts_with("sha256:"));
    }
    let unit = json(file(&a, &format!("v1/units/{}.json", leaves[0])));
    let stations = unit["contests"][0]["stations"].as_array().unwrap();
    assert!(!stations.is_empty());
    for s in stations {
        let st = e.stations.iter().find(|st| st.id == s["id"]).unwrap();
        let key = urna_model::note::format_vkey(&st.id, st.key_id, &st.public_key);
        assert_eq!(
            s["key"],
            key.as_str(),
            "the station's key, as in the stations file"
        );
        assert!(
            f.csv.contains(&format!(",{key}\n")),
            "{key} in the stations file"
        );
        let status = s["status"].as_str().unwrap();
        assert!(["accepted", "quarantined"].contains(&status), "{status}");
        // One entry and no decision: no history, the current entry is the only one.
        match s.get("history") {
            Some(h) => assert_eq!(
                h.as_array().unwrap().last().unwrap()["entry"],
                s["current"]["entry"]
            ),
            None => assert!(s.get("decisions").is_none(), "{s}"),
        }
    }

    // One CSV row per station per contest, plus the header; quoted where needed.
    let stations_csv = String::from_utf8(file(&a, "csv/stations.csv").to_vec()).unwrap();
    assert_eq!(stations_csv.lines().count(), 1 + STATIONS as usize);
    assert!(stations_csv.starts_with("contest,station,unit,status,index,revision,entry,"));
    let units_csv = String::from_utf8(file(&a, "csv/units.csv").to_vec()).unwrap();
    assert_eq!(units_csv.lines().count(), 1 + e.units.len());
}

#[test]
fn rendering_refuses_a_checkpoint_that_is_not_the_replays() {
    let f = fixture();
    let e = &f.election;
    let log = f.log();
    let r = replay(e, &log);
    let n = log.len() as u64;
    assert!(matches!(
        render(e, &f.files(), &r, &checkpoint(e, n + 1)),
        Err(RenderError::NotAtCheckpoint { checkpoint, replayed }) if checkpoint == n + 1 && replayed == n
    ));
    let other = NoteSigner::from_seed("urna/other", &[3; 32])
        .unwrap()
        .sign_text(&format!(
            "urna/other\n{n}\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        ))
        .to_bytes();
    assert!(matches!(
        render(e, &f.files(), &r, &other),
        Err(RenderError::WrongOrigin { .. })
    ));
    assert!(matches!(
        render(e, &f.files(), &r, b"not a note"),
        Err(RenderError::Checkpoint(_))
    ));
    assert!(matches!(
        DefinitionFiles::new(e, f.toml.as_bytes(), b"id,unit,registered,key\n"),
        Err(RenderError::DefinitionMismatch { .. })
    ));
}

/// Signs a body with the station's key (and the authority's, for amendments).
fn signed(f: &Fixture, station: u32, body: &ProtocolBody) -> Vec<u8> {
    let s = f.sim.station(station);
    let mut note = Note::unsigned(&body.to_text()).unwrap();
    note.sign(&s.signer);
    if matches!(body.kind, BodyKind::Amendment { .. }) {
        note.sign(f.sim.authority());
    }
    note.to_bytes()
}

fn amendment(of: &ProtocolBody, revision: u32, supersedes: [u8; 32]) -> ProtocolBody {
    let mut b = of.clone();
    b.revision = revision;
    b.kind = BodyKind::Amendment {
        supersedes,
        reason: "recount".into(),
    };
    b
}

#[test]
fn impossible_sequences_are_named_with_their_entry() {
    let f = fixture();
    let e = &f.election;
    let s0 = f.sim.station(0);
    let first = f.notes[0][0].clone();
    let first_hash = urna_model::intake::sha256(&first);

    // Out of order.
    let mut r = Replay::new(e).unwrap();
    assert_eq!(
        r.apply(e, 1, &first),
        Err(ReplayError::OutOfOrder {
            index: 1,
            expected: 0
        })
    );

    // Entry 0 must be this election's genesis, and only entry 0 may be one.
    assert!(matches!(
        r.apply(e, 0, &first),
        Err(ReplayError::Genesis { index: 0, .. })
    ));
    let mut other = Genesis::parse(Note::parse(&f.genesis).unwrap().text()).unwrap();
    other.definition = [1; 32];
    let other = log_key(e).sign_text(&other.to_text()).to_bytes();
    assert!(matches!(
        r.apply(e, 0, &other),
        Err(ReplayError::Genesis { index: 0, ref problem }) if problem.starts_with("definition:")
    ));
    r.apply(e, 0, &f.genesis).unwrap();
    assert!(matches!(
        r.apply(e, 1, &f.genesis),
        Err(ReplayError::Entry { index: 1, .. })
    ));

    // Not a note at all.
    assert!(matches!(
        r.apply(e, 1, b"garbage"),
        Err(ReplayError::Entry {
            index: 1,
            source: Rejection::Note(_)
        })
    ));

    // A station the definition does not have.
    let mut stranger = s0.body.clone();
    stranger.station = "PS-9999999".into();
    let note = NoteSigner::from_seed("PS-9999999", &[5; 32])
        .unwrap()
        .sign_text(&stranger.to_text())
        .to_bytes();
    assert!(matches!(
        r.apply(e, 1, &note),
        Err(ReplayError::Entry {
            index: 1,
            source: Rejection::UnknownStation { .. }
        })
    ));

    // A first entry of revision 2, and an amendment of nothing.
    let mut rev2 = s0.body.clone();
    rev2.revision = 2;
    assert!(matches!(
        r.apply(e, 1, &signed(f, 0, &rev2)),
        Err(ReplayError::FirstRevision {
            index: 1,
            got: 2,
            ..
        })
    ));
    assert!(matches!(
        r.apply(e, 1, &signed(f, 0, &amendment(&s0.body, 2, first_hash))),
        Err(ReplayError::NothingToAmend { index: 1, .. })
    ));
    assert_eq!(r.applied(), 1, "a refused entry changes nothing");

    // After the protocol: a second protocol, a gap, and a wrong `supersedes`.
    r.apply(e, 1, &first).unwrap();
    assert!(matches!(
        r.apply(e, 2, &signed(f, 0, &rev2)),
        Err(ReplayError::NotAnAmendment {
            index: 2,
            got: 2,
            current: 1,
            ..
        })
    ));
    assert!(matches!(
        r.apply(e, 2, &signed(f, 0, &amendment(&s0.body, 3, first_hash))),
        Err(ReplayError::RevisionGap {
            index: 2,
            got: 3,
            expected: 2,
            ..
        })
    ));
    assert!(matches!(
        r.apply(e, 2, &signed(f, 0, &amendment(&s0.body, 2, [7; 32]))),
        Err(ReplayError::SupersedesMismatch { index: 2, .. })
    ));
    r.apply(e, 2, &signed(f, 0, &amendment(&s0.body, 2, first_hash)))
        .unwrap();
    assert_eq!(r.applied(), 3);

    // Checked signatures: station 1's body signed with station 0's key is refused.
    let mut v = Replay::new(e).unwrap();
    v.apply_verified(e, 0, &f.genesis).unwrap();
    let forged = signed(f, 0, &f.sim.station(1).body);
    assert!(matches!(
        v.apply_verified(e, 1, &forged),
        Err(ReplayError::Entry {
            index: 1,
            source: Rejection::StationSignature { .. }
        })
    ));
}

#[test]
fn unit_ids_outside_the_plain_set_are_percent_encoded_in_file_names() {
    let key = NoteSigner::from_seed("S1", &[1; 32])
        .unwrap()
        .verifier()
        .to_vkey();
    let toml = "[election]\nid = \"t\"\nname = \"T, with a comma\"\n[stations]\nfile = \"s.csv\"\n\
                [[contests]]\nid = \"c\"\nname = \"C\"\nlists = [\"A\"]\n\
                [[lists]]\nid = \"A\"\nname = \"List A, \\\"quoted\\\"\"\n\
                [[units]]\nid = \"X\"\nname = \"X\"\n\
                [[units]]\nid = \"AL/01\"\nname = \"Tirana, centre\"\nparent = \"X\"\n";
    let csv = format!("id,unit,registered,key\nS1,AL/01,100,{key}\n");
    let e = Election::from_texts("e.toml", toml, "s.csv", &csv).unwrap();
    let files = DefinitionFiles::new(&e, toml.as_bytes(), csv.as_bytes()).unwrap();
    let r = Replay::new(&e).unwrap();
    let out = render(&e, &files, &r, &checkpoint(&e, 0)).unwrap();
    let unit = json(file(&out, "v1/units/AL%2F01.json"));
    assert_eq!(unit["unit"]["id"], "AL/01");
    assert_eq!(unit["contests"][0]["stations"][0]["status"], "not-reported");
    let election = json(file(&out, "v1/election.json"));
    // Published gzip-compressed only, under the name v1/election.json gives.
    assert!(urna_tally::public::gz_only("v1/units/AL%2F01.json"));
    assert_eq!(election["units"][1]["file"], "v1/units/AL%2F01.json.gz");
    assert!(election["units"][0]["file"].is_null());
    // Names with commas and quotes are quoted in CSV.
    let units_csv = String::from_utf8(file(&out, "csv/units.csv").to_vec()).unwrap();
    assert!(units_csv.contains("\"Tirana, centre\""), "{units_csv}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever order the stations report in (each station's revisions in their order), the
    /// replay is valid and the results and per-unit totals are the same bytes.
    #[test]
    fn results_do_not_depend_on_the_order_stations_report_in(
        order in Just((0..fixture().notes.iter().map(Vec::len).sum::<usize>()).collect::<Vec<_>>()).prop_shuffle()
    ) {
        let f = fixture();
        let e = &f.election;
        // Slot k of the shuffled order is the next unsent revision of the k-th token's
        // station, where each station has one token per revision.
        let tokens: Vec<usize> = f.notes.iter().enumerate().flat_map(|(s, n)| std::iter::repeat_n(s, n.len())).collect();
        let mut sent: BTreeMap<usize, usize> = BTreeMap::new();
        let log: Vec<Vec<u8>> = std::iter::once(f.genesis.clone()).chain(order.iter().map(|&k| {
            let s = tokens[k];
            let next = sent.entry(s).or_insert(0);
            *next += 1;
            f.notes[s][*next - 1].clone()
        })).collect();
        let baseline = f.log();
        let cp = checkpoint(e, log.len() as u64);
        let got = render(e, &f.files(), &replay(e, &log), &cp).unwrap();
        let want = render(e, &f.files(), &replay(e, &baseline), &cp).unwrap();
        prop_assert_eq!(file(&got, "v1/results.json"), file(&want, "v1/results.json"));
        prop_assert_eq!(file(&got, "csv/units.csv"), file(&want, "csv/units.csv"));
    }
}

#[test]
fn results_carry_the_seats_of_the_rule_set_the_definition_names() {
    let f = fixture();
    let e = &f.election;
    let log = f.log();
    let files = render(
        e,
        &f.files(),
        &replay(e, &log),
        &checkpoint(e, log.len() as u64),
    )
    .unwrap();
    let results = json(file(&files, "v1/results.json"));
    let seats = &results["contests"][0]["seats"];
    assert_eq!(
        seats["rules"], "generic",
        "the fixture's 3 districts: generic, 100 seats"
    );
    assert_eq!(seats["house_seats"], 100);
    let total: u64 = seats["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["seats"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 100);
    let explanation = json(file(&files, seats["explanation"].as_str().unwrap()));
    for list in seats["lists"].as_array().unwrap() {
        let id = list["list"].as_str().unwrap();
        assert_eq!(explanation["seats"][id], list["seats"], "{id}");
    }

    // Before any station reports, the seats cannot be allocated, and results say why.
    let empty = render(e, &f.files(), &replay(e, &log[..1]), &checkpoint(e, 1)).unwrap();
    let seats = &json(file(&empty, "v1/results.json"))["contests"][0]["seats"];
    assert!(seats["error"].is_string(), "{seats}");
    assert!(!empty.iter().any(|(p, _)| p.starts_with("v1/seats/")));
}

#[test]
fn a_definition_naming_unknown_or_unfitting_seat_rules_is_refused_with_the_field() {
    let f = fixture();
    for (from, to, field) in [
        (
            "rules = \"generic\"",
            "rules = \"atlantis\"",
            "contests.assembly.seats.rules",
        ),
        (", house = 100", "", "contests.assembly.seats.house"),
        (
            "rules = \"generic\", house = 100",
            "rules = \"albania\"",
            "district",
        ),
    ] {
        assert!(f.toml.contains(from), "{from}");
        let toml = f.toml.replacen(from, to, 1);
        let e = Election::from_texts("election.toml", &toml, "stations.csv", &f.csv).unwrap();
        let err = urna_tally::seats::check_definition(&e)
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{err}");
    }
}

/// A stations file's `name:<lang>` and `address:<lang>` columns reach the unit files; left
/// empty, they change no byte of them.
#[test]
fn station_names_by_language_reach_unit_files_only_when_given() {
    let f = fixture();
    let mut lines = f.csv.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    let with = |first: &str| {
        let mut csv = format!("{header},name:mk,address:sr-Latn\n");
        for (i, row) in rows.iter().enumerate() {
            let extra = if i == 0 { first } else { "," };
            csv.push_str(&format!("{row},{extra}\n"));
        }
        Election::from_texts("election.toml", &f.toml, "stations.csv", &csv).unwrap()
    };
    let unit = f.election.stations[0].unit;
    let render = |e: &Election| urna_tally::public::render_unit(e, &Replay::new(e).unwrap(), unit);
    let plain = render(&f.election).unwrap();
    assert_eq!(render(&with(",")).unwrap(), plain, "empty columns");
    let named = with("Училиште 1,\"Ulica 1, Struga\"");
    let doc = json(&render(&named).unwrap());
    let stations = doc["contests"][0]["stations"].as_array().unwrap();
    let first = stations
        .iter()
        .find(|s| s["id"] == f.election.stations[0].id.as_str())
        .unwrap();
    assert_eq!(first["names"], serde_json::json!({ "mk": "Училиште 1" }));
    assert_eq!(
        first["addresses"],
        serde_json::json!({ "sr-Latn": "Ulica 1, Struga" })
    );
    for s in stations.iter().filter(|s| s["id"] != first["id"]) {
        assert!(
            s.get("names").is_none() && s.get("addresses").is_none(),
            "{s}"
        );
    }
}
