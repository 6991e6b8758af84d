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

const GOLDEN_PREFERENCES: &str = include_str!("../../tests/data/protocol_preferences_v1.golden");

#[test]
fn golden_protocol_with_preferences() {
    let b = ProtocolBody::parse(GOLDEN_PREFERENCES).unwrap();
    assert_eq!(b.votes.len(), 4);
    let lists: Vec<&str> = b.preferences.iter().map(|l| l.list.as_str()).collect();
    assert_eq!(lists, ["LDK", "LVV", "PDK"]);
    assert_eq!(
        b.preferences[1].candidates[3],
        CandidateVotes {
            number: 110,
            votes: 1,
            line: 15
        }
    );
    let total: u64 = b
        .preferences
        .iter()
        .flat_map(|l| &l.candidates)
        .map(|c| c.votes)
        .sum();
    assert_eq!(total, 477);
    assert_eq!(b.to_text(), GOLDEN_PREFERENCES);
}

#[test]
fn body_without_preference_lines_is_unchanged() {
    let b = ProtocolBody::parse(GOOD).unwrap();
    assert!(b.preferences.is_empty());
    assert_eq!(b.to_text(), GOOD);
}

/// Each case: a replacement applied to the golden body with preferences, and the error
/// expected. Every non-canonical way of writing the same numbers is refused.
#[test]
fn preference_lines_are_strict() {
    let field = |line, f: &str, rule: &str| BodyError::Field {
        line,
        field: f.into(),
        rule: rule.into(),
    };
    let number = |n: &str| {
        format!(
            "candidate number {n:?}: must be a whole number from 1 to 9999 without leading zeros"
        )
    };
    let pair = |p: &str| {
        format!("{p:?} is not `<candidate number>:<votes>` (pairs are separated by one space)")
    };
    let ldk = "preferences: LDK 1:51 3:12 17:2\n";
    let cases: Vec<(&str, String, BodyError)> = vec![
        (
            ldk,
            "preferences: LDK 1:51 3:0 17:2\n".into(),
            field(
                14,
                "preferences LDK 3",
                "a candidate without preference votes is left out; zero is not written",
            ),
        ),
        (
            ldk,
            "preferences: LDK 1:51 3:012 17:2\n".into(),
            field(14, "preferences LDK 3", "must not have leading zeros"),
        ),
        (
            ldk,
            "preferences: LDK 1:51 03:12 17:2\n".into(),
            field(14, "preferences LDK", &number("03")),
        ),
        (
            ldk,
            "preferences: LDK 0:51 3:12 17:2\n".into(),
            field(14, "preferences LDK", &number("0")),
        ),
        (
            ldk,
            "preferences: LDK 1:51 3:12 10000:2\n".into(),
            field(14, "preferences LDK", &number("10000")),
        ),
        (
            ldk,
            "preferences: LDK +1:51 3:12 17:2\n".into(),
            field(14, "preferences LDK", &number("+1")),
        ),
        (
            ldk,
            "preferences: LDK 1:51 1:12 17:2\n".into(),
            BodyError::Duplicate {
                line: 14,
                field: "preferences LDK 1".into(),
            },
        ),
        (
            ldk,
            "preferences: LDK 1:51 17:2 3:12\n".into(),
            field(
                14,
                "preferences LDK 3",
                "candidates are sorted by number within their list's line",
            ),
        ),
        (
            "preferences: LDK 1:51 3:12 17:2\npreferences: LVV 1:198 2:87 9:3 110:1\n",
            "preferences: LVV 1:198 2:87 9:3 110:1\npreferences: LDK 1:51 3:12 17:2\n".into(),
            field(
                15,
                "preferences LDK",
                "`preferences:` lines are sorted by list id",
            ),
        ),
        (
            "preferences: PDK 1:90 4:33\n",
            "preferences: PDK 1:90 4:33\npreferences: PDK 5:1\n".into(),
            BodyError::Duplicate {
                line: 17,
                field: "preferences PDK".into(),
            },
        ),
        (
            ldk,
            "preferences: LDK 1:51 3:12:1 17:2\n".into(),
            field(
                14,
                "preferences LDK 3",
                "must be a whole number written with digits only",
            ),
        ),
        (
            ldk,
            "preferences: LDK\n".into(),
            field(
                14,
                "preferences",
                "must be `preferences: <list> <number>:<votes> …` with at least one candidate",
            ),
        ),
        (
            ldk,
            "preferences: LDK 1:51  3:12 17:2\n".into(),
            field(14, "preferences LDK", &pair("")),
        ),
        (
            ldk,
            "preferences: LDK 1 51 3:12 17:2\n".into(),
            field(14, "preferences LDK", &pair("1")),
        ),
        (
            ldk,
            "preferences: L DK 1:51 3:12 17:2\n".into(),
            field(14, "preferences L", &pair("DK")),
        ),
        (
            ldk,
            "preferences: LDK 1:51 3:12 17:2\nvotes: NIS 4\n".into(),
            field(
                15,
                "votes",
                "`votes:` lines come before the `preferences:` lines",
            ),
        ),
        (
            ldk,
            "preferences: LDK 1:51 3:12 17:2\nvalid: 4\n".into(),
            field(15, "valid", "named counts come before the `votes:` lines"),
        ),
        (
            "0a08\n",
            "0a08\npreferences: PDK 5:1\n".into(),
            BodyError::Unexpected {
                line: 18,
                text: "preferences: PDK 5:1".into(),
            },
        ),
    ];
    for (from, to, want) in cases {
        assert!(GOLDEN_PREFERENCES.contains(from), "{from:?}");
        let input = GOLDEN_PREFERENCES.replacen(from, &to, 1);
        assert_eq!(
            ProtocolBody::parse(&input).unwrap_err(),
            want,
            "{from:?} -> {to:?}"
        );
    }
}

/// A body of 40 candidates × 20 lists, every one with votes, is one line per list and fits a
/// note with room to spare.
#[test]
fn forty_candidates_on_twenty_lists_fit_a_note() {
    let mut b = ProtocolBody::parse(GOOD).unwrap();
    b.preferences = (0..20)
        .map(|l| ListPreferences {
            list: format!("L{l:02}"),
            candidates: (1..=40)
                .map(|n| CandidateVotes {
                    number: n,
                    votes: 1,
                    line: 0,
                })
                .collect(),
        })
        .collect();
    let text = b.to_text();
    assert_eq!(text.lines().count(), 12 + 20);
    assert!(
        text.len() < crate::note::MAX_NOTE_BYTES / 8,
        "{}",
        text.len()
    );
    assert_eq!(ProtocolBody::parse(&text).unwrap().to_text(), text);
}

fn arb_preferences() -> impl Strategy<Value = Vec<ListPreferences>> {
    proptest::collection::btree_map(
        "[A-Z][A-Z0-9]{0,5}",
        proptest::collection::btree_map(1..=MAX_CANDIDATE_NUMBER, 1..=MAX_COUNT, 1..6),
        0..5,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(list, cands)| ListPreferences {
                list,
                candidates: cands
                    .into_iter()
                    .map(|(number, votes)| CandidateVotes {
                        number,
                        votes,
                        line: 0,
                    })
                    .collect(),
            })
            .collect()
    })
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
        arb_preferences(),
    )
        .prop_filter("reserved names", |(_, _, _, counts, _, _, _, _)| {
            counts.keys().all(|k| check_count_name(k).is_ok())
        })
        .prop_map(
            |(election, station, revision, counts, votes, scan, amend, preferences)| ProtocolBody {
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
                preferences,
                scan,
            },
        )
}

fn without_lines(mut b: ProtocolBody) -> ProtocolBody {
    for c in b.counts.iter_mut().chain(b.votes.iter_mut()) {
        c.line = 0;
    }
    for c in b
        .preferences
        .iter_mut()
        .flat_map(|l| l.candidates.iter_mut())
    {
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

    /// Any change to a body's preference lines (a digit, a space, a line swapped, dropped or
    /// repeated) either is refused or parses to a body whose canonical text is exactly the
    /// changed text: there is never a second text for the same body.
    #[test]
    fn preference_lines_have_one_encoding(
        b in arb_body(),
        edit in 0usize..6,
        at in any::<proptest::sample::Index>(),
        byte in prop::sample::select(b" 0123456789AZ+-\n".to_vec()),
    ) {
        let text = b.to_text();
        let lines: Vec<&str> = text.lines().collect();
        let prefs: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].starts_with("preferences: ")).collect();
        prop_assume!(!prefs.is_empty());
        let i = prefs[at.index(prefs.len())];
        let mut new: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        match edit {
            0 => { let l = &mut new[i]; let p = at.index(l.len()); l.insert(p, byte as char); }
            1 => { let l = &mut new[i]; let p = at.index(l.len()); l.remove(p); }
            2 => { new.insert(i, lines[i].to_owned()); }
            3 => { new.remove(i); }
            4 if i + 1 < new.len() => { new.swap(i, i + 1); }
            _ => { new[i] = lines[i].replacen(' ', " 0", 2); }
        }
        let changed = new.join("\n") + "\n";
        if let Ok(p) = ProtocolBody::parse(&changed) {
            prop_assert_eq!(p.to_text(), changed);
        }
    }
}

/// Counts read digit by digit give the decimal value, and every non-canonical text is refused.
#[test]
fn parse_count_reads_canonical_decimals_only() {
    for v in [0u64, 1, 9, 10, 99, 100, 4_294_967_296, MAX_COUNT] {
        assert_eq!(parse_count(&v.to_string()), Ok(v), "{v}");
    }
    for bad in [
        "",
        "01",
        "00",
        "-1",
        "+1",
        "1 ",
        " 1",
        "1e3",
        "1000000000000",
        "١٢",
    ] {
        assert!(parse_count(bad).is_err(), "{bad:?}");
    }
}

/// Line numbers count every line, blank ones and the last one included, when bodies are split
/// by the byte loop.
#[test]
fn errors_name_the_line_after_blank_and_long_runs() {
    let text = "urna/protocol/v1\nelection: e\ncontest: c\nstation: s\nrevision: 1\n\nvalid: 1\n";
    assert_eq!(
        ProtocolBody::parse(text),
        Err(BodyError::Unexpected {
            line: 6,
            text: String::new()
        })
    );
    let last =
        "urna/protocol/v1\nelection: e\ncontest: c\nstation: s\nrevision: 1\nvalid: 1\nno colon";
    assert_eq!(
        ProtocolBody::parse(last),
        Err(BodyError::Unexpected {
            line: 7,
            text: "no colon".into()
        })
    );
}
