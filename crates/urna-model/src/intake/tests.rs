use std::collections::{HashMap, HashSet};

use proptest::prelude::*;

use super::*;
use crate::note::NoteSigner;
use crate::protocol::Counted;

pub(crate) fn station_signer(i: u32) -> NoteSigner {
    NoteSigner::from_seed(&format!("S{i}"), &[i as u8 + 1; 32]).unwrap()
}

fn authority(seed: u8) -> NoteSigner {
    NoteSigner::from_seed("cec", &[200 + seed; 32]).unwrap()
}

/// Three stations in two municipalities; authority `cec` over the whole country, `muni-b`
/// over municipality B only.
fn election() -> Election {
    let toml = format!(
        r#"[election]
id = "test-1"
name = "Test"

[stations]
file = "stations.csv"

[[contests]]
id = "assembly"
name = "Assembly"
lists = ["A", "B"]

[[lists]]
id = "A"
name = "List A"

[[lists]]
id = "B"
name = "List B"

[[units]]
id = "C"
name = "Country"

[[units]]
id = "D"
name = "District"
parent = "C"

[[units]]
id = "MA"
name = "Municipality A"
parent = "D"

[[units]]
id = "MB"
name = "Municipality B"
parent = "D"

[[authorities]]
name = "Central commission"
key = "{}"

[[authorities]]
name = "Municipal commission B"
scope = "MB"
key = "{}"
"#,
        authority(0).verifier().to_vkey(),
        NoteSigner::from_seed("muni-b", &[99; 32])
            .unwrap()
            .verifier()
            .to_vkey()
    );
    let mut csv = format!("{}\n", crate::definition::STATIONS_HEADER);
    for i in 0..3 {
        let unit = if i == 2 { "MB" } else { "MA" };
        csv.push_str(&format!(
            "S{i},{unit},1000,{}\n",
            station_signer(i).verifier().to_vkey()
        ));
    }
    Election::from_texts("election.toml", &toml, "stations.csv", &csv).unwrap()
}

fn body(station: u32, counts: [u64; 4], votes: [u64; 2]) -> ProtocolBody {
    let c = |name: &str, value| Counted {
        name: name.into(),
        value,
        line: 0,
    };
    ProtocolBody {
        kind: BodyKind::Protocol,
        election: "test-1".into(),
        contest: "assembly".into(),
        station: format!("S{station}"),
        revision: 1,
        counts: vec![
            c("registered", counts[0]),
            c("ballots-cast", counts[1]),
            c("invalid", counts[2]),
            c("valid", counts[3]),
        ],
        votes: vec![c("A", votes[0]), c("B", votes[1])],
        scan: None,
    }
}

fn good(station: u32) -> ProtocolBody {
    body(station, [1000, 500, 10, 490], [300, 190])
}

fn signed(b: &ProtocolBody, signers: &[&NoteSigner]) -> Vec<u8> {
    let mut n = Note::unsigned(&b.to_text()).unwrap();
    for s in signers {
        n.sign(s);
    }
    n.to_bytes()
}

fn amendment(of: &[u8], b: &ProtocolBody, revision: u32) -> ProtocolBody {
    let mut a = b.clone();
    a.revision = revision;
    a.kind = BodyKind::Amendment {
        supersedes: sha256(of),
        reason: "recount".into(),
    };
    a
}

#[derive(Default)]
struct Hist {
    latest: HashMap<(ContestIdx, StationIdx), Latest>,
    hashes: HashSet<[u8; 32]>,
}

impl History for Hist {
    fn latest(&self, c: ContestIdx, s: StationIdx) -> Option<Latest> {
        self.latest.get(&(c, s)).copied()
    }
    fn contains(&self, h: &[u8; 32]) -> bool {
        self.hashes.contains(h)
    }
}

impl Hist {
    fn submit(&mut self, e: &Election, bytes: &[u8]) -> Result<Verdict, Rejection> {
        let (s, v) = intake(e, self, bytes)?;
        if v != Verdict::Duplicate {
            self.hashes.insert(s.hash);
            self.latest.insert(
                (s.contest, s.station),
                Latest {
                    revision: s.revision,
                    hash: s.hash,
                    text_hash: s.text_hash,
                },
            );
        }
        Ok(v)
    }
}

#[test]
fn intake_accepts_a_good_protocol_and_is_idempotent() {
    let e = election();
    let mut h = Hist::default();
    let note = signed(&good(0), &[&station_signer(0)]);
    assert_eq!(h.submit(&e, &note), Ok(Verdict::Accepted));
    assert_eq!(h.submit(&e, &note), Ok(Verdict::Duplicate));
    // Same text with an extra (unknown) signature: still the same protocol.
    let extra = signed(
        &good(0),
        &[
            &station_signer(0),
            &NoteSigner::from_seed("observer", &[5; 32]).unwrap(),
        ],
    );
    assert_eq!(h.submit(&e, &extra), Ok(Verdict::Duplicate));
}

#[test]
fn intake_quarantines_with_every_violated_rule() {
    let e = election();
    // valid + invalid ≠ cast, sum(votes) ≠ valid, cast > registered, registered ≠ register.
    let b = body(1, [900, 950, 10, 900], [300, 100]);
    let s = check(&e, &signed(&b, &[&station_signer(1)])).unwrap();
    let rules: Vec<&str> = s.violations.iter().map(|v| v.rule.as_str()).collect();
    assert_eq!(
        rules,
        [
            "valid-plus-invalid",
            "votes-sum-to-valid",
            "cast-within-registered",
            "registered-matches-register",
            "turnout-high"
        ]
    );
    assert!(s.is_quarantined());
    assert_eq!(admit(&e, &Hist::default(), &s), Ok(Verdict::Quarantined));
}

#[test]
fn intake_rejects_forgeries_and_wrong_targets() {
    let e = election();
    let h = Hist::default();
    // Station 0 signs station 1's protocol.
    let forged = signed(&good(1), &[&station_signer(0)]);
    assert_eq!(intake(&e, &h, &forged).unwrap_err().code(), "bad-signature");
    // Altered after signing.
    let genuine = String::from_utf8(signed(&good(0), &[&station_signer(0)])).unwrap();
    let altered = genuine.replace("votes: A 300", "votes: A 301");
    assert_eq!(
        intake(&e, &h, altered.as_bytes()).unwrap_err().code(),
        "bad-signature"
    );
    // Wrong election, unknown station, unknown list, missing count.
    let mut b = good(0);
    b.election = "other".into();
    assert!(matches!(
        intake(&e, &h, &signed(&b, &[&station_signer(0)])),
        Err(Rejection::WrongElection { .. })
    ));
    let mut b = good(0);
    b.station = "S9".into();
    assert!(matches!(
        intake(&e, &h, &signed(&b, &[&station_signer(0)])),
        Err(Rejection::UnknownStation { .. })
    ));
    let mut b = good(0);
    b.votes[1].name = "Z".into();
    assert!(matches!(
        intake(&e, &h, &signed(&b, &[&station_signer(0)])),
        Err(Rejection::UnknownList { line: 11, .. })
    ));
    let mut b = good(0);
    b.counts.remove(2);
    assert!(matches!(
        intake(&e, &h, &signed(&b, &[&station_signer(0)])),
        Err(Rejection::MissingCount { .. })
    ));
    let mut b = good(0);
    b.contest = "senate".into();
    assert!(matches!(
        intake(&e, &h, &signed(&b, &[&station_signer(0)])),
        Err(Rejection::UnknownContest { .. })
    ));
}

#[test]
fn amendments_supersede_and_replays_conflicts_are_refused() {
    let e = election();
    let mut h = Hist::default();
    let st = station_signer(2);
    let bad = body(2, [1000, 500, 10, 480], [300, 180]);
    let first = signed(&bad, &[&st]);
    assert_eq!(h.submit(&e, &first), Ok(Verdict::Quarantined));

    // Conflicting revision 1, and a revision 2 sent as a plain protocol.
    assert_eq!(
        h.submit(&e, &signed(&good(2), &[&st])).unwrap_err().code(),
        "conflict"
    );
    let mut r2 = good(2);
    r2.revision = 2;
    assert_eq!(
        h.submit(&e, &signed(&r2, &[&st])).unwrap_err().code(),
        "needs-amendment"
    );

    // Amendment without authority, with the wrong authority scope, with a gap, wrong target.
    let fixed = amendment(&first, &good(2), 2);
    assert_eq!(
        h.submit(&e, &signed(&fixed, &[&st])).unwrap_err().code(),
        "bad-authority"
    );
    let stranger = NoteSigner::from_seed("cec", &[7; 32]).unwrap();
    assert_eq!(
        h.submit(&e, &signed(&fixed, &[&st, &stranger]))
            .unwrap_err()
            .code(),
        "bad-authority"
    );
    assert_eq!(
        h.submit(&e, &signed(&fixed, &[&authority(0)]))
            .unwrap_err()
            .code(),
        "bad-signature"
    );
    assert_eq!(
        h.submit(
            &e,
            &signed(&amendment(&first, &good(2), 3), &[&st, &authority(0)])
        )
        .unwrap_err()
        .code(),
        "bad-revision"
    );
    assert_eq!(
        h.submit(
            &e,
            &signed(&amendment(b"other", &good(2), 2), &[&st, &authority(0)])
        )
        .unwrap_err()
        .code(),
        "bad-supersedes"
    );

    // The municipal authority of B covers station 2.
    let muni_b = NoteSigner::from_seed("muni-b", &[99; 32]).unwrap();
    let amended = signed(&fixed, &[&st, &muni_b]);
    assert_eq!(h.submit(&e, &amended), Ok(Verdict::Accepted));
    assert_eq!(h.latest(ContestIdx(0), StationIdx(2)).unwrap().revision, 2);
    // Replaying revision 1 (re-signed so its bytes differ) is refused.
    let replay = signed(&bad, &[&st, &authority(0)]);
    assert_eq!(h.submit(&e, &replay).unwrap_err().code(), "replay");
    // The original revision 1 bytes are a duplicate, not an error: it is still in the log.
    assert_eq!(h.submit(&e, &first), Ok(Verdict::Duplicate));

    // muni-b does not cover station 0 (municipality A).
    let s0 = signed(&bad.tap(|b| b.station = "S0".into()), &[&station_signer(0)]);
    assert_eq!(h.submit(&e, &s0), Ok(Verdict::Quarantined));
    let fix0 = amendment(&s0, &good(0), 2);
    assert_eq!(
        h.submit(&e, &signed(&fix0, &[&station_signer(0), &muni_b]))
            .unwrap_err()
            .code(),
        "bad-authority"
    );
    assert_eq!(
        h.submit(&e, &signed(&fix0, &[&station_signer(0), &authority(0)])),
        Ok(Verdict::Accepted)
    );
    // An amendment with nothing to amend.
    let fresh = amendment(b"x", &good(1), 2);
    assert_eq!(
        h.submit(&e, &signed(&fresh, &[&station_signer(1), &authority(0)]))
            .unwrap_err()
            .code(),
        "needs-amendment"
    );
}

trait Tap: Sized {
    fn tap(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}
impl<T> Tap for T {}

#[test]
fn batch_check_equals_single_check() {
    let e = election();
    let notes: Vec<Vec<u8>> = vec![
        signed(&good(0), &[&station_signer(0)]),
        signed(&good(1), &[&station_signer(0)]),
        b"garbage".to_vec(),
        signed(&body(2, [1000, 5, 1, 1], [1, 0]), &[&station_signer(2)]),
    ];
    let refs: Vec<&[u8]> = notes.iter().map(Vec::as_slice).collect();
    let batch = check_batch(&e, &refs);
    let single: Vec<_> = refs.iter().map(|n| check(&e, n)).collect();
    assert_eq!(batch, single);
    assert!(batch[0].is_ok() && batch[1].is_err() && batch[2].is_err() && batch[3].is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Every single-field change that breaks an identity is caught: starting from a protocol
    /// that satisfies every error rule, changing any one count or vote by any non-zero amount
    /// quarantines it.
    #[test]
    fn every_single_field_mutation_breaking_an_identity_is_caught(field in 0usize..6, delta in 1u64..500, up in any::<bool>()) {
        let e = election();
        let mut b = body(0, [1000, 500, 10, 490], [300, 190]);
        let slot = if field < 4 { &mut b.counts[field].value } else { &mut b.votes[field - 4].value };
        if up { *slot += delta } else { *slot = slot.saturating_sub(delta) }
        prop_assume!(!(field == 0 && up)); // more registered on the protocol than on the register:
        let s = check(&e, &signed(&b, &[&station_signer(0)])).unwrap();
        prop_assert!(s.is_quarantined(), "{:?}", s.violations);
    }
}
