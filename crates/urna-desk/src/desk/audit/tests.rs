//! Audit hand counts at the desk over a real data directory: a simulated election ingested,
//! an audit started, seeded and sampled through the store's own audit intake.

use std::path::Path;

use urna_audit::trail::{ContestAudit, LogView, Plan};
use urna_model::audit::{AuditStep, check};
use urna_model::definition::ContestIdx;
use urna_sim::{SimConfig, Simulation};
use urna_store::{IngestOptions, Store, SystemClock};

use super::*;

const FIRST: &str = "first-password-1";
const SECOND: &str = "second-password-2";

struct StoreView<'a>(&'a Store);

impl LogView for StoreView<'_> {
    fn root(&self, size: u64) -> Option<[u8; 32]> {
        (size <= self.0.len()).then(|| self.0.log_root(size).ok().map(|h| h.0))?
    }

    fn replay(&self, size: u64) -> Result<Replay, String> {
        self.0.replay_upto(size).map_err(|e| e.to_string())
    }
}

/// A data directory holding a simulated election's protocols and an audit of its one seat
/// ("which list came first") with round 1 sampled. Returns the simulation and the sample.
fn audited(dir: &Path) -> (Simulation, Vec<String>) {
    let sim = Simulation::new(SimConfig {
        stations: 200,
        districts: 2,
        error_rate_per_10k: 0,
        ..SimConfig::default()
    });
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("election.toml"), sim.definition_toml()).unwrap();
    let mut csv = format!("{}\n", urna_sim::STATIONS_HEADER);
    let mut notes = Vec::new();
    for i in 0..200 {
        let s = sim.station(i);
        csv.push_str(&sim.station_row(&s));
        csv.push('\n');
        notes.push(sim.protocol_note(&s));
    }
    std::fs::write(src.join("stations.csv"), csv).unwrap();
    let data = dir.join("data");
    let mut store = Store::init(&data, &src.join("election.toml")).unwrap();
    store
        .ingest(
            notes.into_iter().map(Ok),
            &IngestOptions::default(),
            &SystemClock,
            |_| {},
        )
        .unwrap();
    let e = store.election().clone();
    let plan = Plan {
        size: store.len(),
        rules: "generic".into(),
        seats: Some(1),
        risk_limit: 50_000,
        rounds: 4,
    };
    let audit = ContestAudit::plan(&e, ContestIdx(0), &plan, &StoreView(&store)).unwrap();
    let sign = |step: AuditStep| {
        let body = AuditBody {
            election: e.id.clone(),
            contest: e.contests[0].id.clone(),
            step,
        };
        sim.authority().sign_text(&body.to_text()).to_bytes()
    };
    store.append_audit(&sign(audit.start)).unwrap();
    store
        .append_audit(&sign(AuditStep::Seed {
            seed: "12345678901234567890".into(),
        }))
        .unwrap();
    let trail = store.audit_trail().unwrap();
    let step = trail.audits[0].sample_step(1).unwrap();
    let AuditStep::Sample { stations, .. } = &step else {
        panic!("{step:?}")
    };
    let stations = stations.clone();
    assert!(stations.len() >= 2, "{stations:?}");
    store.append_audit(&sign(step)).unwrap();
    (sim, stations)
}

/// A logged-in session of a new account with its password changed.
fn account(desk: &Desk, data: &Path, name: &str, role: Role) -> Session {
    db::add_user(&db::open(data).unwrap(), name, role, FIRST, "test").unwrap();
    let (anon, _) = desk.session(None, true).unwrap();
    let (_, cookie) = desk.login(&anon, name, FIRST, None).unwrap();
    let (s, _) = desk.session(Some(&cookie), false).unwrap();
    let (_, cookie) = desk.change_password(&s, FIRST, SECOND).unwrap();
    desk.session(Some(&cookie), false).unwrap().0
}

struct Centre {
    _dir: tempfile::TempDir,
    data: PathBuf,
    desk: Desk,
    sim: Simulation,
    sampled: Vec<String>,
    ty1: Session,
    ty2: Session,
    co: Session,
}

fn centre() -> Centre {
    let dir = tempfile::tempdir().unwrap();
    let (sim, sampled) = audited(dir.path());
    let data = dir.path().join("data");
    let root = Election::load(&data.join("election.toml")).unwrap().units[0]
        .id
        .clone();
    let desk = Desk::open(&data, &root, sim.authority().clone())
        .unwrap()
        .with_audit_key(&data, sim.authority().clone())
        .unwrap();
    let ty1 = account(&desk, &data, "ty1", Role::Typist);
    let ty2 = account(&desk, &data, "ty2", Role::Typist);
    let co = account(&desk, &data, "co", Role::Coordinator);
    Centre {
        _dir: dir,
        data,
        desk,
        sim,
        sampled,
        ty1,
        ty2,
        co,
    }
}

/// Keys a hand count: `votes` for the lists in ballot order, then `invalid`.
fn key(desk: &Desk, s: &Session, station: &str, votes: &[u64], invalid: u64) -> Value {
    let e = desk.audit_claim(s, urna_sim::CONTEST_ID, station).unwrap();
    let id = e["entry"].as_i64().unwrap();
    assert_eq!(e["api"], json!(format!("/api/audit/entries/{id}")));
    let lines = e["lines"].as_array().unwrap();
    assert_eq!(lines.len(), votes.len() + 1);
    assert_eq!(lines.last().unwrap()["key"], json!(INVALID_LINE));
    for (line, v) in lines.iter().zip(votes.iter().chain([&invalid])) {
        desk.audit_save_line(s, id, line["key"].as_str().unwrap(), &v.to_string())
            .unwrap();
    }
    desk.audit_finish(s, id).unwrap()
}

fn lists(desk: &Desk) -> usize {
    desk.election().contests[0].lists.len()
}

fn state_of(desk: &Desk, s: &Session, station: &str) -> String {
    let v = desk.audit_list(s).unwrap();
    v["stations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["station"] == json!(station))
        .map(|x| x["state"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[test]
fn two_equal_entries_make_one_count_note_signed_by_the_audit_key() {
    let c = centre();
    let station = c.sampled[0].clone();
    assert_eq!(state_of(&c.desk, &c.co, &station), "open");
    let votes: Vec<u64> = (0..lists(&c.desk)).map(|i| 10 + i as u64).collect();
    let first = key(&c.desk, &c.ty1, &station, &votes, 3);
    assert_eq!(first["protocol"], json!("entering"));
    // The second typist gets an empty form: the first entry is never shown.
    let second = c
        .desk
        .audit_claim(&c.ty2, urna_sim::CONTEST_ID, &station)
        .unwrap();
    assert_eq!(second["values"], json!({}));
    assert_eq!(second["slot"], json!(2));
    let second = key(&c.desk, &c.ty2, &station, &votes, 3);
    assert_eq!(second["protocol"], json!("signed"));
    assert_eq!(state_of(&c.desk, &c.co, &station), "signed");

    let signed = signed_counts(&c.data.join(db::DESK_DB)).unwrap();
    assert_eq!(signed.len(), 1);
    let (contest, st, note) = &signed[0];
    assert_eq!(
        (contest.as_str(), st.as_str()),
        (urna_sim::CONTEST_ID, station.as_str())
    );
    let e = c.desk.election();
    let bound = check(e, note).unwrap();
    assert_eq!(bound.signer, c.sim.authority().name());
    let AuditStep::Count {
        station: counted,
        votes: keyed,
        invalid,
    } = &bound.body.step
    else {
        panic!("{:?}", bound.body.step)
    };
    assert_eq!(counted, &station);
    assert_eq!(keyed.iter().map(|v| v.1).collect::<Vec<_>>(), votes);
    assert_eq!(*invalid, 3);

    // The store's audit intake takes it; the desk sees it in the log and refuses it again.
    let mut store = Store::open(&c.data).unwrap();
    let index = store.append_audit(note).unwrap();
    drop(store);
    assert_eq!(state_of(&c.desk, &c.co, &station), "logged");
    let again = c
        .desk
        .audit_claim(&c.ty1, urna_sim::CONTEST_ID, &station)
        .unwrap_err();
    assert_eq!(again.code, "already-counted");
    assert!(
        again.message.contains(&station) && again.message.contains(&index.to_string()),
        "{again:?}"
    );
}

#[test]
fn different_entries_go_to_the_coordinator_who_keeps_one_or_orders_new_ones() {
    let c = centre();
    let n = lists(&c.desk);
    let station = c.sampled[1].clone();
    let a: Vec<u64> = vec![20; n];
    let mut b = a.clone();
    b[0] = 21;
    key(&c.desk, &c.ty1, &station, &a, 1);
    assert_eq!(
        key(&c.desk, &c.ty2, &station, &b, 1)["protocol"],
        json!("difference")
    );
    assert!(signed_counts(&c.data.join(db::DESK_DB)).unwrap().is_empty());
    // A typist may not see the entries side by side.
    assert_eq!(
        c.desk
            .audit_count(&c.ty1, urna_sim::CONTEST_ID, &station)
            .unwrap_err()
            .code,
        "forbidden"
    );
    let view = c
        .desk
        .audit_count(&c.co, urna_sim::CONTEST_ID, &station)
        .unwrap();
    assert_eq!(view["state"], json!("difference"));
    let first_list = view["lines"][0]["key"].clone();
    assert_eq!(view["differing"], json!([first_list]));
    // A reason is required.
    let err = c
        .desk
        .audit_resolve(&c.co, (urna_sim::CONTEST_ID, &station), 1, "keep-2", " ")
        .unwrap_err();
    assert!(err.message.contains("reason"), "{err:?}");
    // New entries first: both typists key again, this time alike.
    let r = c
        .desk
        .audit_resolve(
            &c.co,
            (urna_sim::CONTEST_ID, &station),
            1,
            "reenter",
            "misread",
        )
        .unwrap();
    assert_eq!(r["state"], json!("entering"));
    key(&c.desk, &c.ty2, &station, &a, 1);
    assert_eq!(
        key(&c.desk, &c.ty1, &station, &b, 1)["protocol"],
        json!("difference")
    );
    // A decision made on round 1's entries signs nothing of round 2's.
    let err = c
        .desk
        .audit_resolve(
            &c.co,
            (urna_sim::CONTEST_ID, &station),
            1,
            "keep-2",
            "the tally sheet says 21",
        )
        .unwrap_err();
    assert_eq!((err.status, err.code), (409, "stale"), "{err:?}");
    let r = c
        .desk
        .audit_resolve(
            &c.co,
            (urna_sim::CONTEST_ID, &station),
            2,
            "keep-2",
            "the tally sheet says 21",
        )
        .unwrap();
    assert_eq!(r["state"], json!("signed"));
    let signed = signed_counts(&c.data.join(db::DESK_DB)).unwrap();
    let bound = check(c.desk.election(), &signed[0].2).unwrap();
    let AuditStep::Count { votes, .. } = &bound.body.step else {
        panic!()
    };
    assert_eq!(votes[0].1, 21, "entry 2 of round 2 (ty1's) was kept");
    // The decision and its reason are in the desk's audit trail.
    let trail: Vec<String> = c
        .desk
        .db()
        .prepare("SELECT action || ' ' || detail FROM audit")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        trail
            .iter()
            .any(|l| l.starts_with("audit-reenter") && l.contains("misread")),
        "{trail:?}"
    );
    assert!(
        trail.iter().any(|l| l.starts_with("audit-signed")
            && l.contains("coordinator kept entry 2")
            && l.contains("the tally sheet says 21")),
        "{trail:?}"
    );
}

#[test]
fn a_station_no_sample_drew_is_refused_by_name() {
    let c = centre();
    let e = c.desk.election();
    let unsampled = e
        .stations
        .iter()
        .map(|s| s.id.clone())
        .find(|id| !c.sampled.contains(id))
        .unwrap();
    let err = c
        .desk
        .audit_claim(&c.ty1, urna_sim::CONTEST_ID, &unsampled)
        .unwrap_err();
    assert_eq!(err.code, "not-sampled");
    assert!(err.message.contains(&unsampled), "{err:?}");
    let err = c
        .desk
        .audit_claim(&c.ty1, "no-such-contest", &c.sampled[0])
        .unwrap_err();
    assert_eq!(err.code, "unknown-contest");
    // The list shows only sampled stations.
    let list = c.desk.audit_list(&c.ty1).unwrap();
    let listed: Vec<&str> = list["stations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["station"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        c.sampled.iter().map(String::as_str).collect::<Vec<_>>()
    );
}

#[test]
fn an_audit_key_that_is_not_an_authority_over_the_whole_election_is_refused_at_start() {
    let c = centre();
    let root = c.desk.election().units[0].id.clone();
    let stranger = NoteSigner::from_seed("stranger", &[9; 32]).unwrap();
    let err = Desk::open(&c.data, &root, c.sim.authority().clone())
        .unwrap()
        .with_audit_key(&c.data, stranger)
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        text.starts_with("--audit-key: ") && text.contains("not an authority"),
        "{text}"
    );
    // A data directory without a log has no sample to key.
    let bare = tempfile::tempdir().unwrap();
    for f in ["election.toml", "stations.csv"] {
        std::fs::copy(c.data.join(f), bare.path().join(f)).unwrap();
    }
    let err = Desk::open(bare.path(), &root, c.sim.authority().clone())
        .unwrap()
        .with_audit_key(bare.path(), c.sim.authority().clone())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("--audit-key: ") && err.contains("urna.sqlite"),
        "{err}"
    );
    // Without --audit-key the list says so and claims are refused.
    let plain = Desk::open(&c.data, &root, c.sim.authority().clone()).unwrap();
    assert_eq!(plain.audit_list(&c.ty1).unwrap()["enabled"], json!(false));
    assert_eq!(
        plain
            .audit_claim(&c.ty1, urna_sim::CONTEST_ID, &c.sampled[0])
            .unwrap_err()
            .code,
        "audit-off"
    );
}

/// A hand count's finished entry rewritten in `desk.sqlite` (the `audit_entries` table has no
/// trigger) to the numbers an accomplice then keys: never compared as equal, never kept.
#[test]
fn a_count_entry_changed_in_desk_sqlite_after_it_was_finished_is_never_signed() {
    let c = centre();
    let station = c.sampled[0].clone();
    let votes: Vec<u64> = (0..lists(&c.desk)).map(|i| 10 + i as u64).collect();
    let mut moved = votes.clone();
    moved[0] += 5;
    assert_eq!(
        key(&c.desk, &c.ty1, &station, &votes, 3)["protocol"],
        json!("entering")
    );
    {
        let conn = rusqlite::Connection::open(c.data.join(db::DESK_DB)).unwrap();
        let vals: String = conn
            .query_row("SELECT vals FROM audit_entries WHERE done = 1", [], |r| {
                r.get(0)
            })
            .unwrap();
        let mut vals: std::collections::BTreeMap<String, u64> =
            serde_json::from_str(&vals).unwrap();
        let first = vals
            .iter_mut()
            .find(|(_, v)| **v == votes[0])
            .map(|(_, v)| v)
            .unwrap();
        *first += 5;
        conn.execute(
            "UPDATE audit_entries SET vals = ?1 WHERE done = 1",
            [serde_json::to_string(&vals).unwrap()],
        )
        .unwrap();
    }
    let second = key(&c.desk, &c.ty2, &station, &moved, 3);
    assert_eq!(second["protocol"], json!("difference"), "{second}");
    let refused = c
        .desk
        .audit_resolve(
            &c.co,
            (urna_sim::CONTEST_ID, &station),
            1,
            "keep-1",
            "the paper says so",
        )
        .unwrap_err();
    assert_eq!(refused.code, "entry-changed", "{refused:?}");
}
