use proptest::prelude::*;
use urna_model::audit::{AuditBody, bind};
use urna_model::genesis::Genesis;
use urna_model::note::NoteSigner;
use urna_model::protocol::{BodyKind, Counted, ProtocolBody};

use super::*;

const STATIONS: usize = 200;

/// One contest, lists A and B, `STATIONS` stations of 500 ballots: A about 300, B about 180.
fn election() -> (Election, Replay) {
    election_with(&|i| Some(reported(i)))
}

/// The same election with each station's protocol given by `votes` (`None`: none sent).
fn election_with(votes: &dyn Fn(usize) -> Option<(u64, u64)>) -> (Election, Replay) {
    let toml = "[election]\nid = \"t-1\"\nname = \"T\"\n\n[stations]\nfile = \"stations.csv\"\n\n\
        [[contests]]\nid = \"c\"\nname = \"C\"\nlists = [\"A\", \"B\"]\n\n\
        [[lists]]\nid = \"A\"\nname = \"A\"\n\n[[lists]]\nid = \"B\"\nname = \"B\"\n\n\
        [[units]]\nid = \"X\"\nname = \"X\"\n";
    // Station keys are not checked by a replay: one key for all, named per station.
    let csv = (0..STATIONS).fold(
        format!("{}\n", urna_model::definition::STATIONS_HEADER),
        |mut acc, i| {
            let k = NoteSigner::from_seed(&format!("S{i}"), &[3; 32]).unwrap();
            acc.push_str(&format!("S{i},X,1000,{}\n", k.verifier().to_vkey()));
            acc
        },
    );
    let e = Election::from_texts("election.toml", toml, "stations.csv", &csv).unwrap();
    let log = NoteSigner::from_seed("log", &[1; 32]).unwrap();
    let genesis = Genesis::of(&e, toml.as_bytes(), csv.as_bytes()).unwrap();
    let mut replay = Replay::new(&e).unwrap();
    replay
        .apply(&e, 0, &log.sign_text(&genesis.to_text()).to_bytes())
        .unwrap();
    let mut index = 0;
    for i in 0..STATIONS {
        let Some((a, b)) = votes(i) else {
            continue;
        };
        index += 1;
        let c = |name: &str, value| Counted {
            name: name.into(),
            value,
            line: 0,
        };
        let body = ProtocolBody {
            kind: BodyKind::Protocol,
            election: "t-1".into(),
            contest: "c".into(),
            station: format!("S{i}"),
            revision: 1,
            counts: vec![
                c("registered", 1000),
                c("ballots-cast", 500),
                c("invalid", 500 - a - b),
                c("valid", a + b),
            ],
            votes: vec![c("A", a), c("B", b)],
            preferences: Vec::new(),
            scan: None,
        };
        let signer = NoteSigner::from_seed(&format!("S{i}"), &[3; 32]).unwrap();
        replay
            .apply(&e, index, &signer.sign_text(&body.to_text()).to_bytes())
            .unwrap();
    }
    (e, replay)
}

fn reported(i: usize) -> (u64, u64) {
    (290 + (i as u64 * 7) % 21, 170 + (i as u64 * 11) % 21)
}

struct Log(Replay);

impl LogView for Log {
    fn root(&self, size: u64) -> Option<[u8; 32]> {
        (size <= STATIONS as u64 + 1).then_some([size as u8; 32])
    }

    fn replay(&self, _size: u64) -> Result<Replay, String> {
        Ok(self.0.clone())
    }
}

fn note(e: &Election, step: AuditStep) -> AuditNote {
    let body = AuditBody {
        election: "t-1".into(),
        contest: "c".into(),
        step,
    };
    bind(e, &body.to_text()).unwrap()
}

/// A started and seeded audit of the one seat, with round 1 sampled; the next index.
fn sampled(e: &Election, log: &dyn LogView, seed: &str) -> (Trail, u64) {
    let plan = Plan {
        size: STATIONS as u64 + 1,
        rules: "generic".into(),
        seats: Some(1),
        risk_limit: 50_000,
        rounds: 4,
    };
    let start = ContestAudit::plan(e, ContestIdx(0), &plan, log)
        .unwrap()
        .start;
    let mut trail = Trail::default();
    let mut i = STATIONS as u64 + 1;
    for step in [start, AuditStep::Seed { seed: seed.into() }] {
        trail.admit(e, i, &note(e, step), log).unwrap();
        i += 1;
    }
    let sample = trail.audits[0].sample_step(1).unwrap();
    trail.admit(e, i, &note(e, sample), log).unwrap();
    (trail, i + 1)
}

fn count_step(station: usize, a: u64, b: u64) -> AuditStep {
    AuditStep::Count {
        station: format!("S{station}"),
        votes: vec![("A".into(), a), ("B".into(), b)],
        invalid: 500 - a - b,
    }
}

#[test]
fn an_audit_whose_counts_match_meets_the_risk_limit_and_then_ends() {
    let (e, replay) = election();
    let log = Log(replay);
    let (mut trail, mut i) = sampled(&e, &log, "12345678901234567890");
    let err = trail
        .admit(
            &e,
            i,
            &note(
                &e,
                AuditStep::Seed {
                    seed: "11111111111111111111".into(),
                },
            ),
            &log,
        )
        .unwrap_err();
    assert_eq!(err.field, "kind");
    assert!(err.rule.contains("an audit has one seed"), "{err}");
    let drawn = trail.audits[0].samples[0].batches.clone();
    assert!(!drawn.is_empty());
    for &b in &drawn {
        let (a, bv) = reported(b);
        trail
            .admit(&e, i, &note(&e, count_step(b, a, bv)), &log)
            .unwrap();
        i += 1;
    }
    let again = trail
        .admit(&e, i, &note(&e, count_step(drawn[0], 1, 1)), &log)
        .unwrap_err();
    assert!(again.rule.contains("already counted"), "{again}");
    let verdict = trail.audits[0].verdict_step(1).unwrap();
    let AuditStep::Verdict { decision, .. } = &verdict else {
        panic!("{verdict:?}")
    };
    assert_eq!(*decision, Decision::RiskLimitMet);
    trail.admit(&e, i, &note(&e, verdict), &log).unwrap();
    let over = trail
        .admit(&e, i + 1, &note(&e, trail.audits[0].start.clone()), &log)
        .unwrap_err();
    assert!(
        over.rule.contains("already has an audit of these results"),
        "{over}"
    );
    let over = trail
        .admit(&e, i + 1, &note(&e, count_step(drawn[0], 1, 1)), &log)
        .unwrap_err();
    assert!(over.rule.contains("ended with risk-limit-met"), "{over}");
}

#[test]
fn a_start_whose_assertions_or_root_differ_is_refused() {
    let (e, replay) = election();
    let log = Log(replay);
    let plan = Plan {
        size: STATIONS as u64 + 1,
        rules: "generic".into(),
        seats: Some(1),
        risk_limit: 50_000,
        rounds: 4,
    };
    let start = ContestAudit::plan(&e, ContestIdx(0), &plan, &log)
        .unwrap()
        .start;
    let AuditStep::Start {
        size,
        root,
        rules,
        seats,
        risk_limit,
        rounds,
        assertions,
        digest,
    } = start
    else {
        panic!()
    };
    let at = size;
    let with = |root: [u8; 32], digest: [u8; 32]| AuditStep::Start {
        size,
        root,
        rules: rules.clone(),
        seats,
        risk_limit,
        rounds,
        assertions,
        digest,
    };
    let err = Trail::default()
        .admit(&e, at, &note(&e, with([0; 32], digest)), &log)
        .unwrap_err();
    assert_eq!(err.field, "checkpoint");
    let err = Trail::default()
        .admit(&e, at, &note(&e, with(root, [0; 32])), &log)
        .unwrap_err();
    assert_eq!(err.field, "assertions");
    let err = Trail::default()
        .admit(&e, size - 1, &note(&e, with(root, digest)), &log)
        .unwrap_err();
    assert!(err.rule.contains("must precede this note"), "{err}");
}

/// A start whose risk limit is above 10 % is refused by the plan (what intake and the replay
/// run) and by the note parser, naming the field `risk-limit` and the rule.
#[test]
fn a_start_with_a_risk_limit_above_ten_percent_is_refused() {
    let (e, replay) = election();
    let log = Log(replay);
    let mut plan = Plan {
        size: STATIONS as u64 + 1,
        rules: "generic".into(),
        seats: Some(1),
        risk_limit: 100_000,
        rounds: 4,
    };
    let start = ContestAudit::plan(&e, ContestIdx(0), &plan, &log)
        .unwrap()
        .start;
    plan.risk_limit = 990_000;
    let err = ContestAudit::plan(&e, ContestIdx(0), &plan, &log).unwrap_err();
    assert_eq!(err.field, "risk-limit", "{err}");
    assert!(err.rule.contains("at most 0.1"), "{err}");
    // A note carrying 0.99, bound without the parser (as a log edited outside urna could
    // hand it over), is refused when admitted.
    let AuditStep::Start {
        size,
        root,
        rules,
        seats,
        rounds,
        assertions,
        digest,
        ..
    } = start
    else {
        panic!()
    };
    let step = AuditStep::Start {
        size,
        root,
        rules,
        seats,
        risk_limit: 990_000,
        rounds,
        assertions,
        digest,
    };
    let body = AuditBody {
        election: "t-1".into(),
        contest: "c".into(),
        step,
    };
    let bound = AuditNote {
        body: body.clone(),
        contest: ContestIdx(0),
        count: None,
        signer: "central".into(),
    };
    let err = Trail::default().admit(&e, size, &bound, &log).unwrap_err();
    assert_eq!(err.field, "risk-limit", "{err}");
    let err = bind(&e, &body.to_text()).unwrap_err().to_string();
    assert!(err.contains("field `risk-limit`"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// A sample note that is not what the seed gives is refused: one station replaced, the
    /// order changed, or the draws shifted.
    #[test]
    fn a_sample_not_drawn_from_the_seed_is_refused(
        seed in "[0-9]{20,30}",
        how in 0usize..3,
        pick in any::<prop::sample::Index>(),
    ) {
        let (e, replay) = election();
        let log = Log(replay);
        let (mut trail, i) = sampled(&e, &log, &seed);
        // Round 1 is already logged: build the forgeries from it, on a trail without it.
        let honest = trail.audits[0].sample_step(1).unwrap();
        trail.audits[0].samples.clear();
        let AuditStep::Sample { round, first, last, mut stations } = honest.clone() else {
            panic!()
        };
        let field = match how {
            0 => {
                let k = pick.index(stations.len());
                let other = (0..STATIONS)
                    .map(|s| format!("S{s}"))
                    .find(|s| !stations.contains(s))
                    .unwrap();
                stations[k] = other;
                "stations"
            }
            1 if stations.len() > 1 => {
                stations.reverse();
                "stations"
            }
            _ => {
                let forged = AuditStep::Sample { round, first, last: last + 1, stations };
                let err = trail.admit(&e, i, &note(&e, forged), &log).unwrap_err();
                prop_assert_eq!(err.field, "draws");
                return Ok(());
            }
        };
        let forged = AuditStep::Sample { round, first, last, stations };
        let err = trail.admit(&e, i, &note(&e, forged), &log).unwrap_err();
        prop_assert_eq!(err.field, field);
        prop_assert!(err.rule.starts_with("this is not the sample the seed gives"), "{}", err);
        trail.admit(&e, i, &note(&e, honest), &log).unwrap();
    }

    /// The verdict is what the counts give: with some sampled boxes' votes moved from A to B,
    /// only the verdict `verdict_step` computes is admitted, and it agrees with the batch
    /// audit's own evaluation.
    #[test]
    fn the_verdict_follows_the_counts(
        seed in "[0-9]{20,30}",
        moved in proptest::collection::vec(0u64..300, 1..4),
    ) {
        let (e, replay) = election();
        let log = Log(replay);
        let (mut trail, mut i) = sampled(&e, &log, &seed);
        let drawn = trail.audits[0].samples[0].batches.clone();
        for (k, &b) in drawn.iter().enumerate() {
            let (a, bv) = reported(b);
            let m = moved.get(k).copied().unwrap_or(0).min(a);
            trail.admit(&e, i, &note(&e, count_step(b, a - m, bv + m)), &log).unwrap();
            i += 1;
        }
        let verdict = trail.audits[0].verdict_step(1).unwrap();
        let AuditStep::Verdict { round, draws, risk, assertion_risks, decision } = verdict.clone() else {
            panic!()
        };
        let ev = trail.audits[0].evaluate();
        let expected = match ev.report.verdict {
            Verdict::RiskLimitMet => Decision::RiskLimitMet,
            Verdict::CountMore { .. } => Decision::Escalate,
            Verdict::FullHandCount { .. } => Decision::FullHandCount,
        };
        prop_assert_eq!(decision, expected);
        prop_assert_eq!(risk, risk_micros(ev.report.risk));
        for other in [Decision::RiskLimitMet, Decision::Escalate, Decision::FullHandCount] {
            if other == decision {
                continue;
            }
            let forged = AuditStep::Verdict {
                round, draws, risk, assertion_risks: assertion_risks.clone(), decision: other,
            };
            let err = trail.admit(&e, i, &note(&e, forged), &log).unwrap_err();
            prop_assert_eq!(err.field, "verdict");
        }
        let lower = AuditStep::Verdict {
            round, draws, risk: risk.saturating_sub(1), assertion_risks, decision,
        };
        if risk > 0 {
            let err = trail.admit(&e, i, &note(&e, lower), &log).unwrap_err();
            prop_assert_eq!(err.field, "risk");
        }
        trail.admit(&e, i, &note(&e, verdict), &log).unwrap();
    }
}

/// A log whose results at `audited` entries are `then` and later `now`.
struct Later {
    audited: u64,
    then: Replay,
    now: Replay,
}

impl LogView for Later {
    fn root(&self, size: u64) -> Option<[u8; 32]> {
        (size <= self.audited + 100).then_some([size as u8; 32])
    }

    fn replay(&self, size: u64) -> Result<Replay, String> {
        Ok(if size <= self.audited {
            self.then.clone()
        } else {
            self.now.clone()
        })
    }
}

/// A finished audit whose results change afterwards (a station amended, one annulled) no
/// longer covers them, and `v1/audit.json` says so: how many stations changed, which, and
/// whether the seats are still the audited ones. A new audit of the same results is refused;
/// one of the changed results is admitted and takes the contest's next steps.
#[test]
fn an_audit_whose_results_change_afterwards_no_longer_covers_them() {
    let (e, then) = election();
    // Station 3 amended (B ahead there), station 7 no longer counted.
    let (_, now) = election_with(&|i| match i {
        3 => Some((100, 390)),
        7 => None,
        _ => Some(reported(i)),
    });
    let audited = STATIONS as u64 + 1;
    let log = Later {
        audited,
        then,
        now: now.clone(),
    };
    let (mut trail, mut i) = sampled(&e, &log, "12345678901234567890");
    for &b in &trail.audits[0].samples[0].batches.clone() {
        let (a, bv) = reported(b);
        trail
            .admit(&e, i, &note(&e, count_step(b, a, bv)), &log)
            .unwrap();
        i += 1;
    }
    let verdict = trail.audits[0].verdict_step(1).unwrap();
    trail.admit(&e, i, &note(&e, verdict), &log).unwrap();
    i += 1;
    assert_eq!(trail.audits[0].finished(), Some(Decision::RiskLimitMet));

    let audit = &trail.audits[0];
    let same = audit.coverage(&e, &log.then);
    assert!(same.covers() && same.seats_as_audited, "{same:?}");
    let cov = audit.coverage(&e, &now);
    assert_eq!(cov.changed, [StationIdx(3), StationIdx(7)]);
    assert!(!cov.covers());
    assert!(cov.seats_as_audited, "A still takes the one seat");
    // Every station for B: the seat changes hands.
    let (_, flipped) = election_with(&|i| Some((reported(i).1, reported(i).0)));
    let cov = audit.coverage(&e, &flipped);
    assert_eq!(cov.changed.len(), STATIONS);
    assert!(!cov.seats_as_audited);

    let doc: serde_json::Value =
        serde_json::from_slice(&crate::public::render(&e, &trail, &now).unwrap()).unwrap();
    let current = &doc["audits"][0]["current"];
    assert_eq!(current["covers_current_results"], false, "{current}");
    assert_eq!(current["changed_stations"], 2, "{current}");
    assert_eq!(current["changed"], serde_json::json!(["S3", "S7"]));
    assert_eq!(current["seats_as_audited"], true);
    assert_eq!(doc["audits"][0]["superseded_by"], serde_json::Value::Null);
    // The definition names no seat rules: the audit does not speak of the contest's seats.
    assert_eq!(doc["audits"][0]["audits_contest_seats"], false);

    // The same results again: refused. The changed results: a new audit.
    let again = trail
        .admit(&e, i, &note(&e, trail.audits[0].start.clone()), &log)
        .unwrap_err();
    assert!(
        again.rule.contains("already has an audit of these results"),
        "{again}"
    );
    let plan = Plan {
        size: audited + 5,
        rules: "generic".into(),
        seats: Some(1),
        risk_limit: 50_000,
        rounds: 4,
    };
    let start = ContestAudit::plan(&e, ContestIdx(0), &plan, &log)
        .unwrap()
        .start;
    trail.admit(&e, i, &note(&e, start), &log).unwrap();
    trail
        .admit(
            &e,
            i + 1,
            &note(
                &e,
                AuditStep::Seed {
                    seed: "22222222222222222222".into(),
                },
            ),
            &log,
        )
        .unwrap();
    assert_eq!(trail.audits.len(), 2);
    assert_eq!(trail.audit(ContestIdx(0)).unwrap().start_index, i);
    assert!(trail.audits[1].seed.is_some() && trail.audits[0].seed.is_some());
    assert!(trail.audits[1].coverage(&e, &now).covers());
    let doc: serde_json::Value =
        serde_json::from_slice(&crate::public::render(&e, &trail, &now).unwrap()).unwrap();
    assert_eq!(doc["audits"][0]["superseded_by"], i);
    assert_eq!(doc["audits"][1]["current"]["covers_current_results"], true);
}

/// `v1/audit.json` names the contest's lists, each note's signer, each assertion's parts and,
/// for every sampled station, every draw number that picked it (its multiplicity in the risk).
#[test]
fn the_public_report_names_lists_signers_assertion_parts_and_draws() {
    let (e, replay) = election();
    let log = Log(replay);
    let (mut trail, i) = sampled(&e, &log, "12345678901234567890");
    let drawn = trail.audits[0].samples[0].batches.clone();
    let (a, b) = reported(drawn[0]);
    let mut count = note(&e, count_step(drawn[0], a, b));
    count.signer = "central-commission".into();
    trail.admit(&e, i, &count, &log).unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&crate::public::render(&e, &trail, &log.0).unwrap()).unwrap();
    let audit = &doc["audits"][0];
    assert_eq!(audit["lists"], serde_json::json!(["A", "B"]));
    assert_eq!(audit["assertions"][0]["kind"], "seat", "{audit}");
    assert_eq!(audit["assertions"][0]["winner"], "A", "{audit}");
    let sample = &audit["samples"][0];
    let stations = sample["stations"].as_array().unwrap();
    assert_eq!(stations.len(), drawn.len());
    assert_eq!(stations[0]["count_signer"], "central-commission");
    assert_eq!(stations[1]["count_signer"], serde_json::Value::Null);
    // The draw numbers: all of round 1's, each once, ascending within a station.
    let mut numbers: Vec<u64> = stations
        .iter()
        .flat_map(|s| {
            let d: Vec<u64> = s["draws"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .collect();
            assert!(d.windows(2).all(|w| w[0] < w[1]), "{s}");
            d
        })
        .collect();
    numbers.sort_unstable();
    let last = sample["draws"][1].as_u64().unwrap();
    assert_eq!(numbers, (1..=last).collect::<Vec<_>>());
    assert!(audit["seed"]["signer"].is_string());
}
