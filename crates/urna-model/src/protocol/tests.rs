use proptest::prelude::*;

use super::*;

const GOOD: &str = "urna/protocol/v1
election: al-2021
contest: assembly
station: P-3264
revision: 1
registered: 721
ballots-cast: 281
invalid: 13
valid: 268
votes: PS 112
votes: PD 95
scan: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
";

#[test]
fn protocol_parses_the_design_example_and_round_trips() {
    let b = ProtocolBody::parse(GOOD).unwrap();
    assert_eq!(b.station, "P-3264");
    assert_eq!(b.revision, 1);
    assert_eq!(b.counts.len(), 4);
    assert_eq!(
        b.votes[1],
        Counted {
            name: "PD".into(),
            value: 95,
            line: 11
        }
    );
    assert_eq!(b.to_text(), GOOD);
}

#[test]
fn amendment_round_trips() {
    let text = GOOD.replace("urna/protocol/v1", AMENDMENT_V1).replace(
        "revision: 1\n",
        &format!(
            "revision: 2\nsupersedes: sha256:{}\nreason: recount\n",
            "ab".repeat(32)
        ),
    );
    let b = ProtocolBody::parse(&text).unwrap();
    assert_eq!(
        b.kind,
        BodyKind::Amendment {
            supersedes: [0xab; 32],
            reason: "recount".into()
        }
    );
    assert_eq!(b.to_text(), text);
}

/// Each case: a replacement applied to the good body, and the error expected.
#[test]
fn protocol_parser_is_strict() {
    let field = |line, f: &str, rule: &str| BodyError::Field {
        line,
        field: f.into(),
        rule: rule.into(),
    };
    let cases: Vec<(&str, &str, BodyError)> = vec![
        (
            "urna/protocol/v1",
            "urna/protocol/v2",
            BodyError::UnknownType("urna/protocol/v2".into()),
        ),
        (
            "registered: 721",
            "registered: 0721",
            field(6, "registered", "must not have leading zeros"),
        ),
        (
            "registered: 721",
            "registered: +721",
            field(
                6,
                "registered",
                "must be a whole number written with digits only",
            ),
        ),
        (
            "registered: 721",
            "registered: 7e2",
            field(
                6,
                "registered",
                "must be a whole number written with digits only",
            ),
        ),
        (
            "registered: 721",
            "registered: 1000000000000",
            field(6, "registered", "must be at most 999999999999"),
        ),
        (
            "valid: 268",
            "valid: 268\nvalid: 268",
            BodyError::Duplicate {
                line: 10,
                field: "valid".into(),
            },
        ),
        (
            "votes: PD 95",
            "votes: PS 95",
            BodyError::Duplicate {
                line: 11,
                field: "votes PS".into(),
            },
        ),
        (
            "votes: PD 95",
            "votes: PD 95\ncolour: 3",
            field(12, "colour", "named counts come before the `votes:` lines"),
        ),
        (
            "revision: 1",
            "revision: 0",
            field(
                5,
                "revision",
                "must be a whole number from 1 to 4294967295 without leading zeros",
            ),
        ),
        (
            "station: P-3264",
            "station: P 3264",
            field(
                4,
                "station",
                "must be 1 to 64 ASCII letters, digits, '.', '_', '-', ':' or '/', starting with a letter or digit",
            ),
        ),
        (
            "contest: assembly\n",
            "",
            BodyError::Missing {
                line: 3,
                expected: "contest",
            },
        ),
        (
            "valid: 268",
            "valid:268",
            BodyError::Unexpected {
                line: 9,
                text: "valid:268".into(),
            },
        ),
        (
            "valid: 268",
            "valid:  268",
            BodyError::Unexpected {
                line: 9,
                text: "valid:  268".into(),
            },
        ),
        (
            "valid: 268",
            "Valid: 268",
            field(
                9,
                "Valid",
                "count names are lower-case letters, digits and '-', starting with a letter",
            ),
        ),
        (
            "votes: PD 95",
            "votes: PD",
            field(11, "votes", "must be `votes: <list> <number>`"),
        ),
        (
            "0a08\n",
            "0a08\nvalid: 1\n",
            field(13, "valid", "named counts come before the `votes:` lines"),
        ),
        (
            "0a08\n",
            "0a08\ntrailing garbage\n",
            BodyError::Unexpected {
                line: 13,
                text: "trailing garbage".into(),
            },
        ),
        (
            "0a08\n",
            "0A08\n",
            field(
                12,
                "scan",
                "must be sha256: followed by 64 lower-case hex digits",
            ),
        ),
        (
            "election: al-2021",
            "election: al-2021\nelection: al-2021",
            BodyError::Missing {
                line: 3,
                expected: "contest",
            },
        ),
        (
            "0a08\n",
            "0a08\nstation: P-1\n",
            BodyError::Duplicate {
                line: 13,
                field: "station".into(),
            },
        ),
    ];
    for (from, to, want) in cases {
        let input = GOOD.replacen(from, to, 1);
        assert_eq!(
            ProtocolBody::parse(&input).unwrap_err(),
            want,
            "{from:?} -> {to:?}"
        );
    }
    let long: String = (0..=MAX_LINES)
        .map(|i| format!("votes: L{i} 1\n"))
        .collect();
    assert_eq!(
        ProtocolBody::parse(&format!("{GOOD}{long}")).unwrap_err(),
        BodyError::TooManyLines
    );
}

fn arb_body() -> impl Strategy<Value = ProtocolBody> {
    (
        "[a-z][a-z0-9-]{0,10}",
        "[A-Z0-9][A-Za-z0-9._-]{0,10}",
        1u32..5,
        proptest::collection::btree_map("[a-z][a-z0-9]{0,8}", 0..=MAX_COUNT, 0..6),
        proptest::collection::btree_map("[A-Z][A-Z0-9]{0,5}", 0..=MAX_COUNT, 0..8),
        proptest::option::of(any::<[u8; 32]>()),
        proptest::option::of((any::<[u8; 32]>(), "[a-zA-Z0-9 ,.]{1,40}")),
    )
        .prop_filter("reserved names", |(_, _, _, counts, _, _, _)| {
            counts.keys().all(|k| check_count_name(k).is_ok())
        })
        .prop_map(
            |(election, station, revision, counts, votes, scan, amend)| ProtocolBody {
                kind: match amend {
                    None => BodyKind::Protocol,
                    Some((h, r)) => BodyKind::Amendment {
                        supersedes: h,
                        reason: r.trim().to_owned() + "x",
                    },
                },
                election,
                contest: "assembly".into(),
                station,
                revision,
                counts: counts
                    .into_iter()
                    .map(|(name, value)| Counted {
                        name,
                        value,
                        line: 0,
                    })
                    .collect(),
                votes: votes
                    .into_iter()
                    .map(|(name, value)| Counted {
                        name,
                        value,
                        line: 0,
                    })
                    .collect(),
                scan,
            },
        )
}

fn without_lines(mut b: ProtocolBody) -> ProtocolBody {
    for c in b.counts.iter_mut().chain(b.votes.iter_mut()) {
        c.line = 0;
    }
    b
}

proptest! {
    /// parse(serialize(x)) == x, and serialize(parse(b)) == b for canonical bytes.
    #[test]
    fn body_round_trips(b in arb_body()) {
        let text = b.to_text();
        let parsed = ProtocolBody::parse(&text).unwrap();
        prop_assert_eq!(parsed.to_text(), text);
        prop_assert_eq!(without_lines(parsed), b);
    }

    /// The parser never panics on arbitrary text, and whatever it accepts is canonical.
    #[test]
    fn parser_accepts_only_canonical_text(s in "(urna/protocol/v1\n)?[a-z0-9:. \n-]{0,200}") {
        if let Ok(b) = ProtocolBody::parse(&s) {
            prop_assert_eq!(b.to_text(), if s.ends_with('\n') { s.clone() } else { format!("{s}\n") });
        }
    }
}
