use proptest::prelude::*;

use super::*;
use crate::note::NoteSigner;

fn cec() -> NoteSigner {
    NoteSigner::from_seed("cec", &[201; 32]).unwrap()
}

fn municipal() -> NoteSigner {
    NoteSigner::from_seed("muni-b", &[99; 32]).unwrap()
}

/// Two stations; `cec` over the whole country, `muni-b` over municipality B only.
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
id = "MA"
name = "Municipality A"
parent = "C"

[[units]]
id = "MB"
name = "Municipality B"
parent = "C"

[[authorities]]
name = "Central commission"
key = "{}"

[[authorities]]
name = "Municipal commission B"
scope = "MB"
key = "{}"
"#,
        cec().verifier().to_vkey(),
        municipal().verifier().to_vkey()
    );
    let mut csv = format!("{}\n", crate::definition::STATIONS_HEADER);
    for (i, unit) in ["MA", "MB"].iter().enumerate() {
        let key = NoteSigner::from_seed(&format!("S{i}"), &[i as u8 + 1; 32]).unwrap();
        csv.push_str(&format!("S{i},{unit},1000,{}\n", key.verifier().to_vkey()));
    }
    Election::from_texts("election.toml", &toml, "stations.csv", &csv).unwrap()
}

const START: &str = "urna/audit/v1
election: test-1
contest: assembly
kind: start
checkpoint: 5200 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
rules: generic
seats: 1
method: macro-kaplan-markov
risk-limit: 0.05
rounds: 4
assertions: 12 sha256:ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100
";

const SEED: &str =
    "urna/audit/v1\nelection: test-1\ncontest: assembly\nkind: seed\nseed: 12345678901234567890\n";

const SAMPLE: &str = "urna/audit/v1\nelection: test-1\ncontest: assembly\nkind: sample\nround: 2\ndraws: 37-72\nstations: S0 S1\n";

const COUNT: &str = "urna/audit/v1\nelection: test-1\ncontest: assembly\nkind: count\nstation: S1\nvotes: A 112\nvotes: B 95\ninvalid: 13\n";

const VERDICT: &str = "urna/audit/v1\nelection: test-1\ncontest: assembly\nkind: verdict\nround: 1\ndraws: 36\nrisk: 0.031234\nassertion-risk: 0.000012 1.000000\nverdict: risk-limit-met\n";

/// The fixed vector: each kind parses to these values and writes back byte for byte.
#[test]
fn fixed_vector_of_every_kind() {
    let start = AuditBody::parse(START).unwrap();
    let mut root = [0u8; 32];
    for (i, b) in root.iter_mut().enumerate() {
        *b = ((i % 16) as u8) * 0x11;
    }
    assert_eq!(start.contest, "assembly");
    match &start.step {
        AuditStep::Start {
            size,
            root: r,
            rules,
            seats,
            risk_limit,
            rounds,
            assertions,
            ..
        } => {
            assert_eq!(
                (
                    *size,
                    rules.as_str(),
                    *seats,
                    *risk_limit,
                    *rounds,
                    *assertions
                ),
                (5200, "generic", Some(1), 50_000, 4, 12)
            );
            assert_eq!(*r, root);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        AuditBody::parse(SEED).unwrap().step,
        AuditStep::Seed {
            seed: "12345678901234567890".into()
        }
    );
    assert_eq!(
        AuditBody::parse(SAMPLE).unwrap().step,
        AuditStep::Sample {
            round: 2,
            first: 37,
            last: 72,
            stations: vec!["S0".into(), "S1".into()]
        }
    );
    assert_eq!(
        AuditBody::parse(COUNT).unwrap().step,
        AuditStep::Count {
            station: "S1".into(),
            votes: vec![("A".into(), 112), ("B".into(), 95)],
            invalid: 13
        }
    );
    assert_eq!(
        AuditBody::parse(VERDICT).unwrap().step,
        AuditStep::Verdict {
            round: 1,
            draws: 36,
            risk: 31_234,
            assertion_risks: vec![12, 1_000_000],
            decision: Decision::RiskLimitMet
        }
    );
    for text in [START, SEED, SAMPLE, COUNT, VERDICT] {
        assert_eq!(AuditBody::parse(text).unwrap().to_text(), text);
        assert!(is_audit(text.as_bytes()));
    }
    assert!(!is_audit(b"urna/audit/v10\n"));
    assert!(!is_audit(b"urna/protocol/v1\n"));
}

/// Every other spelling of the same values is refused, naming the line and the field.
#[test]
fn non_canonical_and_malformed_bodies_are_refused() {
    let cases: [(&str, &str, &str); 14] = [
        (START, "risk-limit: 0.05", "risk-limit: 0.050"),
        (START, "risk-limit: 0.05", "risk-limit: .05"),
        (START, "risk-limit: 0.05", "risk-limit: 0.0"),
        (START, "rounds: 4", "rounds: 04"),
        (START, "rounds: 4", "rounds: 0"),
        (START, "method: macro-kaplan-markov", "method: alpha"),
        (START, "seats: 1\n", ""),
        (SEED, "12345678901234567890", "1234567890123456789"),
        (SAMPLE, "draws: 37-72", "draws: 72-37"),
        (SAMPLE, "S0 S1", "S0 S0"),
        (COUNT, "invalid: 13\n", ""),
        (VERDICT, "risk: 0.031234", "risk: 0.03123"),
        (VERDICT, "risk: 0.031234", "risk: 1.000001"),
        (VERDICT, "risk-limit-met", "met"),
    ];
    for (base, from, to) in cases {
        let text = base.replacen(from, to, 1);
        let parsed = AuditBody::parse(&text);
        // Dropping `seats:` is a valid body of its own; everything else is refused.
        if from == "seats: 1\n" {
            assert_ne!(parsed.unwrap(), AuditBody::parse(base).unwrap());
            continue;
        }
        let err = parsed.expect_err(&text).to_string();
        assert!(err.starts_with("line "), "{err}");
    }
    let err = AuditBody::parse(&COUNT.replace("invalid", "spoilt")).unwrap_err();
    assert_eq!(err.to_string(), "line 8: expected field `invalid`");
}

/// A risk limit above 10 % is refused, naming the field and the rule; 0.1 itself is taken.
#[test]
fn a_risk_limit_above_ten_percent_is_refused() {
    for limit in ["0.99", "0.5", "0.100001", "0.2"] {
        let text = START.replacen("risk-limit: 0.05", &format!("risk-limit: {limit}"), 1);
        let err = AuditBody::parse(&text).expect_err(limit).to_string();
        assert!(
            err.contains("field `risk-limit`") && err.contains("at most 0.1"),
            "{limit}: {err}"
        );
    }
    for limit in ["0.1", "0.05", "0.000001"] {
        let text = START.replacen("risk-limit: 0.05", &format!("risk-limit: {limit}"), 1);
        AuditBody::parse(&text).expect(limit);
    }
}

#[test]
fn a_misnamed_field_is_named() {
    let err = AuditBody::parse(&COUNT.replace("invalid", "spoilt")).unwrap_err();
    assert_eq!(err.to_string(), "line 8: expected field `invalid`");
    let err = AuditBody::parse(&format!("{SEED}extra: 1\n")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 6: unexpected line after the last field"
    );
    let err = AuditBody::parse(&START.replace("kind: start", "kind: stop")).unwrap_err();
    assert!(err.to_string().contains("field `kind`"), "{err}");
    let empty = AuditBody::parse(&SAMPLE.replace("stations: S0 S1", "stations:")).unwrap();
    assert_eq!(
        empty.to_text(),
        SAMPLE.replace("stations: S0 S1", "stations:")
    );
    assert!(AuditBody::parse(&SAMPLE.replace("stations: S0 S1", "stations: ")).is_err());
}

#[test]
fn only_an_authority_over_the_whole_election_may_sign() {
    let e = election();
    let ok = check(&e, &cec().sign_text(COUNT).to_bytes()).unwrap();
    assert_eq!(ok.signer, "cec");
    assert_eq!(ok.count, Some((StationIdx(1), vec![112, 95, 13])));
    let err = check(&e, &municipal().sign_text(COUNT).to_bytes()).unwrap_err();
    assert!(
        err.to_string()
            .contains("signature: an audit note must be signed by an authority whose scope is C"),
        "{err}"
    );
    let stranger = NoteSigner::from_seed("cec", &[7; 32]).unwrap();
    assert!(check(&e, &stranger.sign_text(COUNT).to_bytes()).is_err());
    // A signature by the right key name over other text does not verify.
    let mut forged = cec().sign_text(COUNT).to_bytes();
    let at = forged.windows(3).position(|w| w == b"112").unwrap();
    forged[at] = b'9';
    assert!(
        check(&e, &forged)
            .unwrap_err()
            .to_string()
            .contains("does not verify")
    );
    // Lists must be the contest's, in ballot order.
    let swapped = COUNT.replace("votes: A 112\nvotes: B 95", "votes: B 95\nvotes: A 112");
    let err = check(&e, &cec().sign_text(&swapped).to_bytes()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("field `votes`: a hand count gives every list"),
        "{err}"
    );
    let err = check(&e, &cec().sign_text(&COUNT.replace("S1", "S9")).to_bytes()).unwrap_err();
    assert!(err.to_string().starts_with("field `station`"), "{err}");
    let err = check(
        &e,
        &cec().sign_text(&SEED.replace("test-1", "other")).to_bytes(),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("field `election`"), "{err}");
}

#[test]
fn risks_are_rounded_up() {
    assert_eq!(risk_micros(0.031_233_000_1), 31_234);
    assert_eq!(risk_micros(2.0), 1_000_000);
    assert_eq!(risk_micros(f64::NAN), 1_000_000);
    assert_eq!(risk_micros(0.0), 0);
    assert_eq!(format_limit(50_000), "0.05");
    assert_eq!(format_limit(1), "0.000001");
    assert_eq!(parse_limit("0.000001"), Some(1));
}

fn arb_step() -> impl Strategy<Value = AuditStep> {
    let id = "[A-Z][A-Za-z0-9-]{0,8}";
    prop_oneof![
        (
            any::<u64>(),
            any::<[u8; 32]>(),
            proptest::option::of(1u32..500),
            1u32..=MAX_RISK_LIMIT,
            1u32..=MAX_ROUNDS,
            0u32..500,
            any::<[u8; 32]>()
        )
            .prop_map(
                |(size, root, seats, risk_limit, rounds, assertions, digest)| AuditStep::Start {
                    size: size % MAX_COUNT,
                    root,
                    rules: "generic".into(),
                    seats,
                    risk_limit,
                    rounds,
                    assertions,
                    digest,
                }
            ),
        "[0-9]{20,40}".prop_map(|seed| AuditStep::Seed { seed }),
        (
            1u32..=MAX_ROUNDS,
            1u64..1000,
            0u64..1000,
            proptest::collection::btree_set(id, 0..5)
        )
            .prop_map(|(round, first, n, s)| AuditStep::Sample {
                round,
                first,
                last: first + n,
                stations: s.into_iter().collect(),
            }),
        (
            id,
            proptest::collection::btree_map(id, 0..=MAX_COUNT, 1..5),
            0..=MAX_COUNT
        )
            .prop_map(|(station, v, invalid)| AuditStep::Count {
                station,
                votes: v.into_iter().collect(),
                invalid,
            }),
        (
            0u32..=MAX_ROUNDS,
            0u64..10_000,
            0u32..=1_000_000,
            proptest::collection::vec(0u32..=1_000_000, 0..6),
            0usize..3
        )
            .prop_map(
                |(round, draws, risk, assertion_risks, d)| AuditStep::Verdict {
                    round,
                    draws,
                    risk,
                    assertion_risks,
                    decision: [
                        Decision::RiskLimitMet,
                        Decision::Escalate,
                        Decision::FullHandCount
                    ][d],
                }
            ),
    ]
}

proptest! {
    /// Every body writes to text that parses back to it: one encoding per body.
    #[test]
    fn bodies_round_trip(step in arb_step()) {
        let body = AuditBody { election: "e-1".into(), contest: "c".into(), step };
        let text = body.to_text();
        prop_assert_eq!(AuditBody::parse(&text).unwrap(), body);
    }

    /// Whatever parses writes back to the same text (so no two texts give one body).
    #[test]
    fn parsed_text_is_canonical(step in arb_step(), cut in 0usize..400, byte in any::<u8>()) {
        let text = AuditBody { election: "e-1".into(), contest: "c".into(), step }.to_text();
        let mut bytes = text.into_bytes();
        let at = cut % bytes.len();
        bytes[at] = byte;
        if let Ok(t) = std::str::from_utf8(&bytes)
            && let Ok(b) = AuditBody::parse(t)
        {
            prop_assert_eq!(b.to_text(), t.strip_suffix('\n').unwrap_or(t).to_owned() + "\n");
        }
    }
}
