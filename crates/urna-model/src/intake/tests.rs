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
        preferences: Vec::new(),
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
    decisions: HashSet<[u8; 32]>,
    recounts: HashMap<(ContestIdx, StationIdx), [u8; 32]>,
}

impl History for Hist {
    fn latest(&self, c: ContestIdx, s: StationIdx) -> Option<Latest> {
        self.latest.get(&(c, s)).copied()
    }
    fn contains(&self, h: &[u8; 32]) -> bool {
        self.hashes.contains(h)
    }
    fn contains_decision(&self, text_hash: &[u8; 32]) -> bool {
        self.decisions.contains(text_hash)
    }
    fn recount_ordered(&self, c: ContestIdx, s: StationIdx) -> Option<[u8; 32]> {
        self.recounts.get(&(c, s)).copied()
    }
}

impl Hist {
    fn submit(&mut self, e: &Election, bytes: &[u8]) -> Result<Verdict, Rejection> {
        let (s, v) = intake(e, self, bytes)?;
        if let Some(d) = &s.decision {
            if v == Verdict::Duplicate {
                return Ok(v);
            }
            self.hashes.insert(s.hash);
            self.decisions.insert(s.text_hash);
            if d.kind == crate::decision::DecisionKind::Recount {
                self.recounts.insert((s.contest, s.station), d.decides);
            } else {
                self.recounts.remove(&(s.contest, s.station));
            }
        } else if v != Verdict::Duplicate {
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

/// `signed(b, [station_signer(i)])` with the station's signature made over `R + T`, `T` the
/// point of order 2: a valid signature for the batch equation whenever its random weight is
/// even, never for strict verification (`R` is not the nonce point the signature equation
/// gives).
fn torsion_signed(b: &ProtocolBody, i: u32) -> Vec<u8> {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use curve25519_dalek::scalar::Scalar;
    use curve25519_dalek::traits::IsIdentity;
    use sha2::Sha512;

    let honest = signed(b, &[&station_signer(i)]);
    let note = Note::parse(&honest).unwrap();
    let text = note.text().as_bytes();
    let key = ed25519_dalek::SigningKey::from_bytes(&[i as u8 + 1; 32]);
    let a = key.to_scalar();
    // (0, -1): y = p - 1, x = 0.
    let mut y = [0xff; 32];
    y[0] = 0xec;
    y[31] = 0x7f;
    let t = CompressedEdwardsY(y).decompress().unwrap();
    assert!(!t.is_identity() && (t + t).is_identity());
    let r = Scalar::from_hash(Sha512::new().chain_update(b"nonce").chain_update(text));
    let big_r = (r * ED25519_BASEPOINT_POINT + t).compress();
    let k = Scalar::from_hash(
        Sha512::new()
            .chain_update(big_r.as_bytes())
            .chain_update(key.verifying_key().as_bytes())
            .chain_update(text),
    );
    let s = r + k * a;
    let line_start = honest[..honest.len() - 1]
        .iter()
        .rposition(|&c| c == b'\n')
        .unwrap()
        + 1;
    let line = std::str::from_utf8(&honest[line_start..honest.len() - 1]).unwrap();
    let (head, payload) = line.rsplit_once(' ').unwrap();
    let mut raw = STANDARD.decode(payload).unwrap();
    raw.truncate(4);
    raw.extend_from_slice(big_r.as_bytes());
    raw.extend_from_slice(s.as_bytes());
    let mut out = honest[..line_start].to_vec();
    out.extend_from_slice(format!("{head} {}\n", STANDARD.encode(raw)).as_bytes());
    out
}

/// Regression: intake verified a batch's station signatures with one batch equation and took
/// a pass for every signature in it, so a station key holder could slip into the log a note
/// that strict verification (`urna verify`, OpenSSL, Go) refuses, and no later check of the
/// log would ever pass again.
#[test]
fn a_signature_only_a_batch_equation_accepts_is_refused_in_a_batch_too() {
    let e = election();
    let mut batch_accepted = 0;
    for v in 0..16 {
        let bad = torsion_signed(&body(0, [1000, 500, 10, 490], [300 - v, 190 + v]), 0);
        let n = Note::parse(&bad).unwrap();
        let sig = &n.signatures()[0];
        let key = *station_signer(0).verifier().verifying_key();
        assert_eq!(
            note::verify_raw(&key, n.text().as_bytes(), &sig.signature),
            Err(note::BadSignature),
            "strict verification refuses R + T"
        );
        let good = signed(&good(1), &[&station_signer(1)]);
        let good_n = Note::parse(&good).unwrap();
        let good_key = *station_signer(1).verifier().verifying_key();
        if note::verify_batch(
            &[n.text().as_bytes(), good_n.text().as_bytes()],
            &[&sig.signature, &good_n.signatures()[0].signature],
            &[key, good_key],
        )
        .is_ok()
        {
            batch_accepted += 1;
        }
        let out = check_batch(&e, &[&bad, &good]);
        assert!(
            matches!(out[0], Err(Rejection::StationSignature { .. })),
            "{:?}",
            out[0]
        );
        assert!(out[1].is_ok());
        assert_eq!(out[0], check(&e, &bad));
    }
    assert!(
        batch_accepted > 0,
        "the batch equation lets some of these through: the case this test guards"
    );
}

fn muni_b() -> NoteSigner {
    NoteSigner::from_seed("muni-b", &[99; 32]).unwrap()
}

#[test]
fn an_authority_over_the_station_may_sign_its_first_protocol() {
    let e = election();
    // The central commission covers every station; municipality B's covers station 2 only.
    let mut h = Hist::default();
    let by_cec = signed(&good(0), &[&authority(0)]);
    assert_eq!(h.submit(&e, &by_cec), Ok(Verdict::Accepted));
    assert_eq!(h.submit(&e, &by_cec), Ok(Verdict::Duplicate));
    let by_muni = signed(&good(2), &[&muni_b()]);
    assert_eq!(h.submit(&e, &by_muni), Ok(Verdict::Accepted));
    // Outside its scope the municipal authority's signature counts for nothing.
    let outside = signed(&good(1), &[&muni_b()]);
    assert!(matches!(
        intake(&e, &Hist::default(), &outside),
        Err(Rejection::StationSignature {
            source: note::SignatureError::Missing { .. },
            ..
        })
    ));
    // Altered after the authority signed it.
    let text = String::from_utf8(by_cec.clone()).unwrap();
    let altered = text.replace("votes: A 300", "votes: A 301");
    assert_eq!(
        intake(&e, &Hist::default(), altered.as_bytes())
            .unwrap_err()
            .code(),
        "bad-authority"
    );
    // Signed under the authority's name by a key that is not the authority's.
    let unsigned = signed(&good(0), &[&authority(5)]);
    assert_eq!(
        intake(&e, &Hist::default(), &unsigned).unwrap_err().code(),
        "bad-signature"
    );
    // An amendment still needs the station and an authority: the authority alone is not
    // enough, since a correction is the station's word co-signed.
    let fix = amendment(&by_cec, &good(0), 2);
    assert_eq!(
        h.submit(&e, &signed(&fix, &[&authority(0)]))
            .unwrap_err()
            .code(),
        "bad-signature"
    );
    // The batch check agrees with the single check on each of these.
    let notes = [by_cec, by_muni, outside, altered.into_bytes(), unsigned];
    let refs: Vec<&[u8]> = notes.iter().map(Vec::as_slice).collect();
    let single: Vec<_> = refs.iter().map(|n| check(&e, n)).collect();
    assert_eq!(check_batch(&e, &refs), single);
    // Mixed with station-signed notes in one batch, too.
    let mixed = [signed(&good(1), &[&station_signer(1)]), notes[0].clone()];
    let refs: Vec<&[u8]> = mixed.iter().map(Vec::as_slice).collect();
    assert!(check_batch(&e, &refs).iter().all(Result::is_ok));
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

/// An open-list election: contest `assembly` (lists A and B, two marks per voter) with
/// candidates A 1–3 (3 withdrawn), B 1, B 2 and B 5 (standing in municipality B only); contest
/// `council` (list X, closed). Stations S0, S1 in municipality A, S2 in B.
fn open_election(extra: &str) -> Election {
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
preferences = {{ marks = 2 }}

[[contests]]
id = "council"
name = "Council"
lists = ["X"]

[[lists]]
id = "A"
name = "List A"
candidates = [
  {{ number = 1, name = "Ana A", gender = "f" }},
  {{ number = 2, name = "Besnik B", gender = "m" }},
  {{ number = 3, name = "Drita D", withdrawn = true }},
]

[[lists]]
id = "B"
name = "List B"
[[lists.candidates]]
number = 1
name = "Era E"
[[lists.candidates]]
number = 2
name = "Fatos F"
[[lists.candidates]]
number = 5
name = "Gent G"
unit = "MB"

[[lists]]
id = "X"
name = "List X"

[[units]]
id = "C"
name = "Country"

[[units]]
id = "MA"
name = "Municipality A"
parent = "C"

[[units]]
id = "MB"
name = "Municipality B"
parent = "C"
{extra}"#
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

/// `good(station)` (A 300, B 190) with these preference lines.
fn with_preferences(station: u32, prefs: &[(&str, u32, u64)]) -> ProtocolBody {
    let mut b = good(station);
    let mut lists: Vec<crate::protocol::ListPreferences> = Vec::new();
    for &(list, number, votes) in prefs {
        let c = crate::protocol::CandidateVotes {
            number,
            votes,
            line: 0,
        };
        match lists.last_mut() {
            Some(l) if l.list == list => l.candidates.push(c),
            _ => lists.push(crate::protocol::ListPreferences {
                list: list.into(),
                candidates: vec![c],
            }),
        }
    }
    b.preferences = lists;
    b
}

/// The (rule, severity, detail) of every violation of a station's protocol, and its verdict.
fn verdict_of(e: &Election, b: &ProtocolBody) -> (Vec<(String, Severity, String)>, Verdict) {
    let st = b.station[1..].parse::<u32>().unwrap();
    let (sub, v) = intake(e, &Hist::default(), &signed(b, &[&station_signer(st)])).unwrap();
    (
        sub.violations
            .iter()
            .map(|v| (v.rule.clone(), v.severity, v.detail.clone()))
            .collect(),
        v,
    )
}

#[test]
fn good_preferences_are_accepted_and_bound_to_candidates() {
    let e = open_election("");
    let b = with_preferences(0, &[("A", 1, 200), ("A", 2, 150), ("B", 1, 100)]);
    let (sub, v) = intake(&e, &Hist::default(), &signed(&b, &[&station_signer(0)])).unwrap();
    assert_eq!(v, Verdict::Accepted);
    assert!(sub.violations.is_empty(), "{:?}", sub.violations);
    let named: Vec<(String, u32, u64)> = sub
        .preferences
        .iter()
        .map(|&(c, n)| {
            let c = &e.candidates[c.0 as usize];
            (e.lists[c.list].id.clone(), c.number, n)
        })
        .collect();
    assert_eq!(
        named,
        [
            ("A".into(), 1, 200),
            ("A".into(), 2, 150),
            ("B".into(), 1, 100)
        ]
    );
    // A candidate standing in municipality B only is known at S2.
    let b = with_preferences(2, &[("B", 5, 40)]);
    assert_eq!(verdict_of(&e, &b), (vec![], Verdict::Accepted));
}

/// Each case: preference lines on S0's protocol (A 300, B 190, marks 2), and every violation
/// with its exact detail; the verdict follows from the severities.
#[test]
fn preference_rules_quarantine_with_list_candidate_and_numbers() {
    let e = open_election("");
    let err = Severity::Error;
    let warn = Severity::Warning;
    type Case<'a> = (&'a [(&'a str, u32, u64)], Vec<(&'a str, Severity, &'a str)>);
    let cases: Vec<Case<'_>> = vec![
        (
            &[("A", 1, 301)],
            vec![(
                "preference-within-list-votes",
                err,
                "preferences(candidate) <= votes(list): preferences A 1 301 > votes A 300",
            )],
        ),
        (
            &[("A", 1, 300), ("A", 2, 300), ("A", 3, 1)],
            vec![
                (
                    "preferences-within-marks",
                    err,
                    "sum(preferences(list)) <= marks * votes(list): sum(preferences A) 601 > marks 2 × votes A 300 = 600",
                ),
                (
                    "preference-withdrawn",
                    warn,
                    "preferences A 3:1 (line 12): candidate A 3 (Drita D) has withdrawn",
                ),
            ],
        ),
        (
            &[("B", 9, 1)],
            vec![(
                "preference-candidate-known",
                err,
                "preferences B 9:1 (line 12): list B has no candidate 9",
            )],
        ),
        (
            &[("B", 5, 1)],
            vec![(
                "preference-candidate-known",
                err,
                "preferences B 5:1 (line 12): candidate B 5 does not stand where station S0 is",
            )],
        ),
        (
            &[("X", 1, 7)],
            vec![(
                "preference-list-on-ballot",
                err,
                "preferences X 1:7 (line 12): list X is not on the ballot of contest assembly",
            )],
        ),
        (
            &[("ZZ", 4, 7)],
            vec![(
                "preference-list-on-ballot",
                err,
                "preferences ZZ 4:7 (line 12): list ZZ is not on the ballot of contest assembly",
            )],
        ),
        (
            &[("A", 3, 5)],
            vec![(
                "preference-withdrawn",
                warn,
                "preferences A 3:5 (line 12): candidate A 3 (Drita D) has withdrawn",
            )],
        ),
        (
            // A vote moved from B 1 to B 2: the identities still hold, nothing can see it.
            &[("B", 1, 99), ("B", 2, 1)],
            vec![],
        ),
    ];
    for (prefs, want) in cases {
        let (got, verdict) = verdict_of(&e, &with_preferences(0, prefs));
        let want: Vec<(String, Severity, String)> = want
            .into_iter()
            .map(|(r, s, d)| (r.to_owned(), s, d.to_owned()))
            .collect();
        assert_eq!(got, want, "{prefs:?}");
        let expected = if want.iter().any(|w| w.1 == err) {
            Verdict::Quarantined
        } else {
            Verdict::Accepted
        };
        assert_eq!(verdict, expected, "{prefs:?}");
    }
}

#[test]
fn preferences_on_a_closed_list_contest_quarantine() {
    let e = open_election("");
    let mut b = with_preferences(0, &[("X", 1, 7)]);
    b.contest = "council".into();
    b.votes = vec![Counted {
        name: "X".into(),
        value: 490,
        line: 0,
    }];
    let (got, verdict) = verdict_of(&e, &b);
    assert_eq!(verdict, Verdict::Quarantined);
    assert_eq!(
        got,
        [
            (
                "preferences-within-marks".to_owned(),
                Severity::Error,
                "sum(preferences(list)) <= marks * votes(list): sum(preferences X) 7 > marks 0 × votes X 490 = 0".to_owned()
            ),
            (
                "preference-candidate-known".to_owned(),
                Severity::Error,
                "preferences X 1:7 (line 11): list X has no candidate 1".to_owned()
            )
        ]
    );
}

#[test]
fn a_definition_regrades_the_withdrawn_check_and_states_list_rules() {
    let e = open_election(
        r#"
[[rules]]
id = "votes-sum-to-valid"
severity = "error"
check = "sum(votes) == valid"
message = "sum"

[[rules]]
id = "list-share"
severity = "warning"
check = "2 * votes(list) <= valid"
message = "a list has more than half the valid votes"

[[rules]]
id = "preference-withdrawn"
severity = "error"
message = "marks for a withdrawn candidate void the ballot here"
"#,
    );
    let (got, verdict) = verdict_of(&e, &with_preferences(0, &[("A", 3, 5)]));
    assert_eq!(verdict, Verdict::Quarantined);
    assert_eq!(
        got,
        [
            (
                "preference-withdrawn".to_owned(),
                Severity::Error,
                "preferences A 3:5 (line 12): candidate A 3 (Drita D) has withdrawn".to_owned()
            ),
            (
                "list-share".to_owned(),
                Severity::Warning,
                "2 * votes(list) <= valid: 2 × votes A 300 = 600 > valid 490".to_owned()
            ),
        ]
    );
    // The definition's own rules replace the defaults: no marks rule here.
    let (got, _) = verdict_of(&e, &with_preferences(0, &[("A", 1, 300), ("A", 2, 300)]));
    assert_eq!(got.len(), 1, "{got:?}");
}

/// The one-pass hashes equal SHA-256 of the note's bytes and of its text, also for a text that
/// is not the start of the bytes (hashed apart).
#[test]
fn note_hashes_equal_the_hashes_of_bytes_and_text() {
    let bytes = b"urna/protocol/v1\nelection: e\n\n\xe2\x80\x94 S1 AAAA\n";
    let text = &bytes[..30];
    assert_eq!(note_hashes(bytes, text), (sha256(bytes), sha256(text)));
    assert_eq!(
        note_hashes(bytes, b"other text\n"),
        (sha256(bytes), sha256(b"other text\n"))
    );
    assert_eq!(note_hashes(b"", b""), (sha256(b""), sha256(b"")));
}

fn decision(station: u32, decides: &[u8], kind: crate::decision::DecisionKind) -> String {
    crate::decision::DecisionBody {
        election: "test-1".into(),
        contest: "assembly".into(),
        station: format!("S{station}"),
        decides: sha256(decides),
        decision: kind,
        reason: "checked against the paper protocol".into(),
    }
    .to_text()
}

fn signed_text(text: &str, signers: &[&NoteSigner]) -> Vec<u8> {
    let mut n = Note::unsigned(text).unwrap();
    for s in signers {
        n.sign(s);
    }
    n.to_bytes()
}

#[test]
fn a_decision_names_the_current_entry_and_is_signed_by_an_authority_over_the_station() {
    use crate::decision::DecisionKind::{Accept, Annul, Recount};
    let e = election();
    let mut h = Hist::default();
    let code = |r: Result<Verdict, Rejection>| r.map_err(|r| r.code());
    let quarantined = signed(
        &body(2, [1000, 500, 10, 400], [300, 100]),
        &[&station_signer(2)],
    );
    // Nothing to decide on yet.
    let early = signed_text(&decision(2, &quarantined, Recount), &[&authority(0)]);
    assert_eq!(code(h.submit(&e, &early)), Err("bad-decides"));
    assert_eq!(h.submit(&e, &quarantined), Ok(Verdict::Quarantined));
    // The station cannot decide on its own protocol; the municipal authority of A is none.
    let by_station = signed_text(&decision(2, &quarantined, Accept), &[&station_signer(2)]);
    assert_eq!(code(h.submit(&e, &by_station)), Err("bad-authority"));
    // A forged authority signature (another key under the name `cec`).
    let forged = signed_text(&decision(2, &quarantined, Accept), &[&authority(5)]);
    assert_eq!(code(h.submit(&e, &forged)), Err("bad-authority"));
    // Naming another entry than the current one.
    let stale = signed_text(&decision(2, b"another note", Accept), &[&authority(0)]);
    assert_eq!(code(h.submit(&e, &stale)), Err("bad-decides"));
    // Municipality B's authority covers station 2; the decision is logged once.
    let recount = signed_text(&decision(2, &quarantined, Recount), &[&muni_b()]);
    let (sub, _) = intake(&e, &h, &recount).unwrap();
    assert_eq!(sub.revision, 0);
    assert!(!sub.is_quarantined());
    assert_eq!(
        sub.decision.as_ref().map(|d| (d.kind, d.decides)),
        Some((Recount, sha256(&quarantined)))
    );
    assert_eq!(h.submit(&e, &recount), Ok(Verdict::Accepted));
    assert_eq!(h.submit(&e, &recount), Ok(Verdict::Duplicate));
    // A decision does not change the station's revision: the recount's amendment follows
    // revision 1, and a decision on the superseded entry is refused afterwards.
    let fixed = signed(
        &amendment(&quarantined, &good(2), 2),
        &[&station_signer(2), &authority(0)],
    );
    assert_eq!(h.submit(&e, &fixed), Ok(Verdict::Accepted));
    let late = signed_text(&decision(2, &quarantined, Annul), &[&authority(0)]);
    assert_eq!(code(h.submit(&e, &late)), Err("bad-decides"));
    let annul = signed_text(&decision(2, &fixed, Annul), &[&authority(0)]);
    assert_eq!(h.submit(&e, &annul), Ok(Verdict::Accepted));
    // Outside the municipal authority's scope (station 0 is in municipality A).
    let first = signed(&good(0), &[&station_signer(0)]);
    assert_eq!(h.submit(&e, &first), Ok(Verdict::Accepted));
    let outside = signed_text(&decision(0, &first, Annul), &[&muni_b()]);
    let r = intake(&e, &h, &outside).unwrap_err();
    assert_eq!(r.field().as_deref(), Some("authority signature"));
    assert!(
        r.to_string().contains("a decision needs a valid signature"),
        "{r}"
    );
    // Another election's decision.
    let other = decision(0, &first, Annul).replace("election: test-1", "election: test-2");
    let r = intake(&e, &h, &signed_text(&other, &[&authority(0)])).unwrap_err();
    assert_eq!(r.code(), "wrong-election");
    // A malformed decision names its line.
    let bad = decision(0, &first, Annul).replace("decision: annul", "decision: void");
    let r = intake(&e, &h, &signed_text(&bad, &[&authority(0)])).unwrap_err();
    assert_eq!(
        r.to_string(),
        "body: line 6: field `decision`: must be accept, recount or annul"
    );
    // The batch check agrees with the single one on decisions too.
    let notes = [&recount, &by_station, &outside, &annul, &forged];
    let refs: Vec<&[u8]> = notes.iter().map(|n| n.as_slice()).collect();
    let single: Vec<_> = refs.iter().map(|n| check(&e, n)).collect();
    assert_eq!(check_batch(&e, &refs), single);
    // Bound without signatures, a stored decision gives the same submission.
    assert_eq!(bind_note_unverified(&e, &recount), check(&e, &recount));
}

/// Regression: a superseded decision sent again under other signature bytes (a junk extra
/// signature line; the signed text unchanged) was admitted as a new decision, so anyone could
/// bring back an annulment the commission had replaced by an acceptance.
#[test]
fn a_decision_sent_again_under_other_signature_bytes_is_a_duplicate() {
    use crate::decision::DecisionKind::{Accept, Annul};
    let e = election();
    let mut h = Hist::default();
    let first = signed(&good(0), &[&station_signer(0)]);
    assert_eq!(h.submit(&e, &first), Ok(Verdict::Accepted));
    let annul = signed_text(&decision(0, &first, Annul), &[&authority(0)]);
    assert_eq!(h.submit(&e, &annul), Ok(Verdict::Accepted));
    let accept = signed_text(
        &decision(0, &first, Accept).replace("checked against", "appeal upheld, checked against"),
        &[&authority(0)],
    );
    assert_eq!(h.submit(&e, &accept), Ok(Verdict::Accepted));
    // The annulment's signed text with a second signature line by a key no one knows: the
    // note's bytes differ, its text does not.
    let mut replayed = annul.clone();
    replayed.extend_from_slice("\u{2014} x AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n".as_bytes());
    let (sub, _) = intake(&e, &h, &replayed).unwrap();
    assert_ne!(sub.hash, sha256(&annul));
    assert_eq!(h.submit(&e, &replayed), Ok(Verdict::Duplicate));
    // Re-signed by the same authority (Ed25519 signatures are deterministic, so the same
    // bytes) or by another one in scope: the same decision either way.
    let by_other = signed_text(&decision(0, &first, Annul), &[&authority(0), &muni_b()]);
    assert_eq!(h.submit(&e, &by_other), Ok(Verdict::Duplicate));
}

proptest! {
    /// Whatever decision is sent, it is admitted exactly when it names the station's current
    /// entry and an authority whose scope covers the station signed it; and then it changes
    /// nothing of the station's revision.
    #[test]
    fn a_decision_is_admitted_only_on_the_current_entry_by_an_authority_in_scope(
        station in 0u32..3,
        target in 0usize..3,
        signer in 0usize..4,
        kind in prop::sample::select(crate::decision::DecisionKind::ALL.to_vec()),
    ) {
        let e = election();
        let mut h = Hist::default();
        let first = signed(&good(station), &[&station_signer(station)]);
        h.submit(&e, &first).unwrap();
        let second = signed(
            &amendment(&first, &good(station), 2),
            &[&station_signer(station), &authority(0)],
        );
        h.submit(&e, &second).unwrap();
        let targets: [&[u8]; 3] = [&first, &second, b"nothing"];
        let signers = [authority(0), muni_b(), station_signer(station), authority(9)];
        let note = signed_text(&decision(station, targets[target], kind), &[&signers[signer]]);
        let in_scope = signer == 0 || (signer == 1 && station == 2);
        let result = h.submit(&e, &note);
        prop_assert_eq!(result.is_ok(), in_scope && target == 1, "{:?}", result);
        prop_assert_eq!(h.latest(ContestIdx(0), StationIdx(station)).map(|l| l.revision), Some(2));
    }
}

#[test]
fn an_authority_alone_amends_only_the_recount_a_decision_ordered() {
    use crate::decision::DecisionKind::{Annul, Recount};
    let e = election();
    let mut h = Hist::default();
    let code = |r: Result<Verdict, Rejection>| r.map_err(|r| r.code());
    let first = signed(&body(0, [1000, 500, 10, 400], [300, 100]), &[&authority(0)]);
    assert_eq!(h.submit(&e, &first), Ok(Verdict::Quarantined));
    let recounted = signed(&amendment(&first, &good(0), 2), &[&authority(0)]);
    // No decision yet: the authority alone cannot amend.
    assert_eq!(code(h.submit(&e, &recounted)), Err("bad-signature"));
    // A recount ordered, then an annulment of the same entry: the later decision holds.
    let order = signed_text(&decision(0, &first, Recount), &[&authority(0)]);
    assert_eq!(h.submit(&e, &order), Ok(Verdict::Accepted));
    let annul = signed_text(&decision(0, &first, Annul), &[&authority(0)]);
    assert_eq!(h.submit(&e, &annul), Ok(Verdict::Accepted));
    assert_eq!(code(h.submit(&e, &recounted)), Err("bad-signature"));
    let again = signed_text(
        &decision(0, &first, Recount).replace("checked against", "checked again against"),
        &[&authority(0)],
    );
    assert_eq!(h.submit(&e, &again), Ok(Verdict::Accepted));
    // The municipal authority of B does not cover station 0.
    let outside = signed(&amendment(&first, &good(0), 2), &[&muni_b()]);
    assert_eq!(code(h.submit(&e, &outside)), Err("bad-signature"));
    let s = check(&e, &recounted).unwrap();
    assert!(!s.station_signed);
    assert_eq!(h.submit(&e, &recounted), Ok(Verdict::Accepted));
    // The recount's own amendment needs the station again for any later revision.
    let later = signed(&amendment(&recounted, &good(0), 3), &[&authority(0)]);
    assert_eq!(code(h.submit(&e, &later)), Err("bad-signature"));
}

#[test]
fn every_authority_line_on_a_station_signed_protocol_must_verify() {
    // A station-signed first protocol needs no authority, but a line under an authority's
    // name and key ID that does not verify would show that authority as a signer in the log.
    let e = election();
    let cec = authority(0);
    let key_id = cec.verifier().key_id();
    let mut n = Note::unsigned(&good(0).to_text()).unwrap();
    n.sign(&station_signer(0));
    n.add_signature(note::NoteSignature {
        name: "cec".into(),
        key_id,
        signature: vec![7; 64],
    });
    let bogus = n.to_bytes();
    let r = intake(&e, &Hist::default(), &bogus).unwrap_err();
    assert_eq!(r.code(), "bad-authority");
    assert!(r.to_string().contains("cec"), "{r}");
    // The batch check (the verifier's path) refuses it too.
    assert_eq!(check_batch(&e, &[bogus.as_slice()]), vec![Err(r)]);
    // A real co-signature on a station-signed first protocol is still fine.
    let both = signed(&good(0), &[&station_signer(0), &cec]);
    assert_eq!(
        intake(&e, &Hist::default(), &both).map(|x| x.1),
        Ok(Verdict::Accepted)
    );
}

#[test]
fn a_malformed_note_is_refused_naming_its_field() {
    let e = election();
    let text = good(0).to_text();
    let with = |from: &str, to: &str| {
        assert!(text.contains(from), "{from}");
        let mut n = Note::unsigned(&text.replacen(from, to, 1)).unwrap();
        n.sign(&station_signer(0));
        n.to_bytes()
    };
    let cases = [
        (with("registered: 1000", "registered: x"), "registered"),
        (with("revision: 1", "revision: 0"), "revision"),
        (with("urna/protocol/v1", "urna/protocol/v9"), "type"),
        (with("votes: A 300", "votes: A"), "votes"),
    ];
    for (bytes, field) in cases {
        let r = check(&e, &bytes).unwrap_err();
        assert_eq!(r.field().as_deref(), Some(field), "{r}");
        assert!(r.to_string().contains(field), "{r}");
    }
    let unsigned = format!("{text}\n— S0 garbage\n");
    let r = check(&e, unsigned.as_bytes()).unwrap_err();
    assert_eq!(r.field().as_deref(), Some("signature"), "{r}");
}

/// The key a revocation gives station `i` in place of its own (another seed, same name).
fn replacement_signer(i: u32) -> NoteSigner {
    NoteSigner::from_seed(&format!("S{i}"), &[i as u8 + 100; 32]).unwrap()
}

fn revocation(station: u32, revokes: &NoteSigner, replacement: Option<&NoteSigner>) -> String {
    let key = |s: &NoteSigner| crate::revocation::StationKey {
        key_id: s.key_id(),
        public_key: s.public_key(),
    };
    crate::revocation::RevocationBody {
        election: "test-1".into(),
        station: format!("S{station}"),
        revokes: key(revokes),
        replacement: replacement.map(key),
        reason: "the board's tablet was stolen".into(),
    }
    .to_text()
}

/// Checks and admits a revocation as entry `index` into `keys`.
fn revoke(
    e: &Election,
    keys: &mut StationKeys,
    index: u64,
    bytes: &[u8],
) -> Result<Verdict, &'static str> {
    let r = check_revocation(e, bytes).map_err(|r| r.code())?;
    keys.admit(e, index, &r).map_err(|r| r.code())
}

#[test]
fn a_revocation_is_signed_by_an_authority_over_the_station_and_revokes_a_held_key_once() {
    let e = election();
    let mut keys = StationKeys::new();
    let (old, new) = (station_signer(2), replacement_signer(2));
    let text = revocation(2, &old, Some(&new));
    // The station itself, an authority without scope (municipality B's over station 0), a
    // forged authority key: refused, naming the authority signature.
    for bad in [
        signed_text(&text, &[&old]),
        signed_text(&revocation(0, &station_signer(0), None), &[&muni_b()]),
        signed_text(&text, &[&authority(5)]),
    ] {
        let r = check_revocation(&e, &bad).unwrap_err();
        assert_eq!(r.code(), "bad-authority", "{r}");
        assert_eq!(r.field().as_deref(), Some("authority signature"));
    }
    // Municipality B's authority covers station 2.
    let good = signed_text(&text, &[&muni_b()]);
    assert_eq!(revoke(&e, &mut keys, 5, &good), Ok(Verdict::Accepted));
    assert_eq!(revoke(&e, &mut keys, 6, &good), Ok(Verdict::Duplicate));
    // The same key again, under another reason: a second revocation.
    let again = signed_text(
        &text.replace("tablet was stolen", "tablet was lost"),
        &[&authority(0)],
    );
    let r = check_revocation(&e, &again).unwrap();
    let err = keys.admit(&e, 7, &r).unwrap_err();
    assert_eq!(err.code(), "key-already-revoked");
    assert_eq!(err.field().as_deref(), Some("revokes"));
    assert!(
        err.to_string().contains("revoked already, at entry 5"),
        "{err}"
    );
    // A key the station never held.
    let stranger = NoteSigner::from_seed("S2", &[77; 32]).unwrap();
    let r = check_revocation(
        &e,
        &signed_text(&revocation(2, &stranger, None), &[&authority(0)]),
    )
    .unwrap();
    assert_eq!(keys.admit(&e, 7, &r).unwrap_err().code(), "key-not-held");
    // The replacement can be revoked in turn, but the lost key cannot be given back.
    let back = signed_text(&revocation(2, &new, Some(&old)), &[&authority(0)]);
    let r = check_revocation(&e, &back).unwrap();
    let err = keys.admit(&e, 7, &r).unwrap_err();
    assert_eq!(
        (err.code(), err.field().as_deref()),
        ("bad-replacement", Some("replacement"))
    );
    let none = signed_text(&revocation(2, &new, None), &[&authority(0)]);
    assert_eq!(revoke(&e, &mut keys, 7, &none), Ok(Verdict::Accepted));
    assert_eq!(keys.current(&e, StationIdx(2)), None);
    // Nothing was changed by the refusals.
    assert_eq!(
        keys.revocations().map(|(i, _)| i).collect::<Vec<_>>(),
        [5, 7]
    );
    // Not of this election, or of no station of it.
    let wrong = signed_text(
        &revocation(2, &old, None).replace("test-1", "test-2"),
        &[&authority(0)],
    );
    assert_eq!(
        check_revocation(&e, &wrong).unwrap_err().code(),
        "wrong-election"
    );
}

#[test]
fn after_a_revocation_the_old_key_is_refused_and_the_replacement_is_the_stations() {
    let e = election();
    let (old, new) = (station_signer(0), replacement_signer(0));
    let before = signed(&good(0), &[&old]);
    let mut keys = StationKeys::new();
    // Before the revocation the old key is the station's and the new one unknown.
    assert!(!check_keyed(&e, &keys, &before).unwrap().is_quarantined());
    let by_new = signed(&good(0), &[&new]);
    assert_eq!(
        check_keyed(&e, &keys, &by_new).unwrap_err().code(),
        "bad-signature"
    );
    let text = revocation(0, &old, Some(&new));
    assert_eq!(
        revoke(&e, &mut keys, 3, &signed_text(&text, &[&authority(0)])),
        Ok(Verdict::Accepted)
    );
    // From then on the old key's note is refused, naming the key and the revocation: a thief
    // holding the lost key must not take the station's revision 1 from its replacement.
    let r = check_keyed(&e, &keys, &before).unwrap_err();
    assert_eq!(r.code(), "key-revoked");
    assert_eq!(r.field().as_deref(), Some("station signature"));
    assert!(r.to_string().contains("revoked at entry 3"), "{r}");
    // Even when an authority signs with it: the station's signature is by a lost key.
    let r = check_keyed(&e, &keys, &signed(&good(0), &[&old, &authority(0)])).unwrap_err();
    assert_eq!(r.code(), "key-revoked");
    // Bound without signatures (a stored entry re-derived), the same refusal.
    assert_eq!(
        bind_note_keyed_unverified(&e, &keys, &before)
            .unwrap_err()
            .code(),
        "key-revoked"
    );
    // The replacement's note is the station's and counts.
    let s = check_keyed(&e, &keys, &by_new).unwrap();
    assert!(
        !s.is_quarantined() && s.station_signed,
        "{:?}",
        s.violations
    );
    // A forged signature under the replacement's key ID is still refused.
    let forged = signed(&good(0), &[&NoteSigner::from_seed("S0", &[9; 32]).unwrap()])
        .replace_sig_key_id(&new);
    assert_eq!(
        check_keyed(&e, &keys, &forged).unwrap_err().code(),
        "bad-signature"
    );
    // Other stations are untouched.
    assert!(
        !check_keyed(&e, &keys, &signed(&good(1), &[&station_signer(1)]))
            .unwrap()
            .is_quarantined()
    );
    // An entry before the revocation is judged by the keys before it.
    let at2 = keys.before(3);
    assert!(!check_keyed(&e, &at2, &before).unwrap().is_quarantined());
    assert!(
        !bind_note_keyed_unverified(&e, &at2, &before)
            .unwrap()
            .is_quarantined()
    );
    assert_eq!(
        bind_note_keyed_unverified(&e, &keys.before(4), &before)
            .unwrap_err()
            .code(),
        "key-revoked"
    );
    // The batch check agrees with the single one, note by note.
    let notes = [before, by_new, forged];
    let refs: Vec<&[u8]> = notes.iter().map(Vec::as_slice).collect();
    let batch = check_batch_keyed(&e, &keys, &refs);
    for (n, b) in notes.iter().zip(batch) {
        assert_eq!(b, check_keyed(&e, &keys, n));
    }
}

/// Puts `signer`'s key ID on every signature line of a note, keeping the signature bytes: a
/// signature that claims a key it was not made with.
trait ReplaceSigKeyId {
    fn replace_sig_key_id(self, signer: &NoteSigner) -> Vec<u8>;
}

impl ReplaceSigKeyId for Vec<u8> {
    fn replace_sig_key_id(self, signer: &NoteSigner) -> Vec<u8> {
        let note = Note::parse(&self).unwrap();
        let mut out = Note::unsigned(note.text()).unwrap();
        for s in note.signatures() {
            let mut s = s.clone();
            s.key_id = signer.key_id();
            out.add_signature(s);
        }
        out.to_bytes()
    }
}
