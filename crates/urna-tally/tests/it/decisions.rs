//! The commission's decisions (`urna/decision/v1`) in the replay: how a decided station
//! counts, its history in the public files, and the entries a replay refuses.

use urna_model::decision::{DecisionBody, DecisionKind};
use urna_model::definition::{ContestIdx, Election, StationIdx};
use urna_model::genesis::Genesis;
use urna_model::intake::sha256;
use urna_model::note::NoteSigner;
use urna_sim::{SimConfig, Simulation};
use urna_tally::public::{Replay, ReplayError, render_quarantine, render_unit};
use urna_tally::totals::tally;

const C: ContestIdx = ContestIdx(0);

struct Setup {
    sim: Simulation,
    election: Election,
    protocols: Vec<Vec<u8>>,
    log: Vec<Vec<u8>>,
}

fn setup() -> Setup {
    let sim = Simulation::new(SimConfig {
        stations: 40,
        districts: 2,
        error_rate_per_10k: 3000,
        ..SimConfig::default()
    });
    let toml = sim.definition_toml();
    let mut csv = format!("{}\n", urna_sim::STATIONS_HEADER);
    let mut protocols = Vec::new();
    for i in 0..40 {
        let s = sim.station(i);
        csv.push_str(&sim.station_row(&s));
        csv.push('\n');
        protocols.push(sim.protocol_note(&s));
    }
    let election = Election::from_texts("election.toml", &toml, "stations.csv", &csv).unwrap();
    let genesis = NoteSigner::from_seed(&election.log_origin(), &[9; 32])
        .unwrap()
        .sign_text(
            &Genesis::of(&election, toml.as_bytes(), csv.as_bytes())
                .unwrap()
                .to_text(),
        )
        .to_bytes();
    let mut log = vec![genesis];
    log.extend(protocols.iter().cloned());
    Setup {
        sim,
        election,
        protocols,
        log,
    }
}

fn decision(s: &Setup, station: u32, decides: &[u8], kind: DecisionKind) -> Vec<u8> {
    let body = DecisionBody {
        election: s.election.id.clone(),
        contest: s.election.contests[0].id.clone(),
        station: s.election.stations[station as usize].id.clone(),
        decides: sha256(decides),
        decision: kind,
        reason: "the commission compared the paper protocol".into(),
    };
    s.sim.authority().sign_text(&body.to_text()).to_bytes()
}

fn apply_all(e: &Election, r: &mut Replay, notes: &[Vec<u8>]) {
    for n in notes {
        r.apply_verified(e, r.applied(), n).unwrap();
    }
}

/// The totals computed the plain way: every reported station's outcome, added up.
fn plain_tally(e: &Election, r: &Replay) -> urna_tally::totals::Tally {
    let states: Vec<_> = (0..e.stations.len() as u32)
        .filter_map(|i| r.station(C, StationIdx(i)))
        .collect();
    tally(e, C, states.iter().map(|s| s.outcome())).unwrap()
}

#[test]
fn decisions_change_how_a_station_counts_and_stay_in_its_history() {
    let s = setup();
    let e = &s.election;
    let mut r = Replay::new(e).unwrap();
    r.apply(e, 0, &s.log[0]).unwrap();
    apply_all(e, &mut r, &s.log[1..]);
    let quarantined: Vec<u32> = r.quarantined(C).map(|(i, _)| i.0).collect();
    assert!(quarantined.len() >= 2, "the simulation injects errors");
    let (q0, q1) = (quarantined[0], quarantined[1]);
    let k = (0..40u32).find(|i| !quarantined.contains(i)).unwrap();
    let before = r.tally(C).units[0].clone();
    let p = |i: u32| &s.protocols[i as usize];

    apply_all(
        e,
        &mut r,
        &[
            decision(&s, q0, p(q0), DecisionKind::Accept),
            decision(&s, q1, p(q1), DecisionKind::Recount),
            decision(&s, k, p(k), DecisionKind::Annul),
        ],
    );
    let after = r.tally(C).units[0].clone();
    assert_eq!(after.counted, before.counted);
    assert_eq!(after.quarantined, before.quarantined);
    assert_eq!(*r.tally(C), plain_tally(e, &r));
    let state = |r: &Replay, i: u32| r.station(C, StationIdx(i)).unwrap().clone();
    assert_eq!(
        (
            state(&r, q0).status(),
            state(&r, q1).status(),
            state(&r, k).status()
        ),
        ("accepted", "recount", "annulled")
    );
    assert!(
        state(&r, q0).is_counted() && !state(&r, q1).is_counted() && !state(&r, k).is_counted()
    );
    // The annulled station's votes left the totals; the accepted one's came in.
    let votes = |t: &urna_tally::totals::Totals| t.votes.iter().sum::<u64>();
    let sub = |i: u32| state(&r, i).current().votes.iter().sum::<u64>();
    let moved = (sub(q0), sub(k));
    assert_eq!(votes(&after), votes(&before) + moved.0 - moved.1);

    // The recount's amendment supersedes the protocol: its own verdict counts again, and the
    // decision stays in the station's history.
    let st = s.sim.station(q1);
    let amendment = s.sim.amendment_note(&st, p(q1)).unwrap();
    apply_all(e, &mut r, std::slice::from_ref(&amendment));
    assert_eq!(state(&r, q1).status(), "accepted");
    assert_eq!(state(&r, q1).decision(), None);
    assert_eq!(state(&r, q1).decisions().len(), 1);
    assert_eq!(*r.tally(C), plain_tally(e, &r));

    // The unit file shows each step; a station without decisions has no `decisions` key.
    let unit = e.stations[q1 as usize].unit;
    let doc: serde_json::Value =
        serde_json::from_slice(&render_unit(e, &r, unit).unwrap()).unwrap();
    let stations = doc["contests"][0]["stations"].as_array().unwrap();
    let mine = stations
        .iter()
        .find(|d| d["id"] == e.stations[q1 as usize].id.as_str())
        .unwrap();
    assert_eq!(mine["history"].as_array().unwrap().len(), 2);
    assert_eq!(mine["history"][0]["status"], "quarantined");
    assert_eq!(mine["decisions"][0]["decision"], "recount");
    assert_eq!(
        mine["decisions"][0]["decides"], mine["history"][0]["entry"],
        "the decision names the quarantined protocol"
    );
    assert_eq!(mine["decisions"][0]["index"], 42);
    assert!(
        stations
            .iter()
            .filter(|d| [q0, q1, k]
                .iter()
                .all(|&i| d["id"] != e.stations[i as usize].id.as_str()))
            .all(|d| d.get("decisions").is_none())
    );
    // The quarantine list holds the stations out of the totals, naming a decision that did.
    let q: serde_json::Value = serde_json::from_slice(&render_quarantine(e, &r).unwrap()).unwrap();
    let listed = q["contests"][0]["stations"].as_array().unwrap();
    assert_eq!(listed.len() as u64, r.tally(C).units[0].quarantined);
    let annulled = listed
        .iter()
        .find(|d| d["station"] == e.stations[k as usize].id.as_str())
        .unwrap();
    assert_eq!(annulled["decision"], "annul");
    assert!(
        listed
            .iter()
            .all(|d| d["station"] != e.stations[q0 as usize].id.as_str())
    );

    // A decision on the superseded protocol, or on a station that has not reported, is refused.
    let stale = decision(&s, q1, p(q1), DecisionKind::Annul);
    assert!(matches!(
        r.apply_verified(e, r.applied(), &stale),
        Err(ReplayError::DecidesMismatch { .. })
    ));
    // The annulment again under other signature bytes (an extra line by a key no one
    // knows): a log that holds it was not written by intake.
    let annulled_at = s.log.len() as u64 + 2;
    let mut repeated = decision(&s, k, p(k), DecisionKind::Annul);
    repeated.extend_from_slice(
        "\u{2014} x AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
            .as_bytes(),
    );
    assert!(matches!(
        r.apply_verified(e, r.applied(), &repeated),
        Err(ReplayError::DecisionRepeated { first, .. }) if first == annulled_at
    ));
    let mut fresh = Replay::new(e).unwrap();
    fresh.apply(e, 0, &s.log[0]).unwrap();
    assert!(matches!(
        fresh.apply(e, 1, &decision(&s, q0, p(q0), DecisionKind::Accept)),
        Err(ReplayError::NothingToDecide { index: 1, .. })
    ));
    // Signed by a station instead of an authority: the verified replay refuses it.
    let by_station = st
        .signer
        .sign_text(
            &DecisionBody {
                election: e.id.clone(),
                contest: e.contests[0].id.clone(),
                station: st.id.clone(),
                decides: sha256(&amendment),
                decision: DecisionKind::Annul,
                reason: "no".into(),
            }
            .to_text(),
        )
        .to_bytes();
    let err = r.apply_verified(e, r.applied(), &by_station).unwrap_err();
    assert!(
        err.to_string()
            .contains("a decision needs a valid signature"),
        "{err}"
    );
}

#[test]
fn an_amendment_signed_by_the_authority_alone_replays_only_after_a_recount_order() {
    let s = setup();
    let e = &s.election;
    let mut r = Replay::new(e).unwrap();
    r.apply(e, 0, &s.log[0]).unwrap();
    apply_all(e, &mut r, &s.log[1..]);
    let q = r.quarantined(C).next().unwrap().0.0;
    let st = s.sim.station(q);
    // The simulation's amendment with the station's signature taken off.
    let full = urna_model::note::Note::parse(
        &s.sim.amendment_note(&st, &s.protocols[q as usize]).unwrap(),
    )
    .unwrap();
    let alone = s.sim.authority().sign_text(full.text()).to_bytes();
    let before = r.clone();
    assert!(matches!(
        r.apply_verified(e, r.applied(), &alone),
        Err(ReplayError::UnorderedRecount { .. })
    ));
    assert_eq!(r.applied(), before.applied());
    let order = decision(&s, q, &s.protocols[q as usize], DecisionKind::Recount);
    apply_all(e, &mut r, &[order, alone]);
    let state = r.station(C, StationIdx(q)).unwrap();
    assert_eq!(state.history().len(), 2);
    assert_eq!(state.status(), "accepted");
    assert_eq!(*r.tally(C), plain_tally(e, &r));
}
