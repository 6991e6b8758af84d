use proptest::prelude::*;

use super::*;
use crate::note::{Note, NoteSigner};

const GOOD: &str = "urna/decision/v1
election: al-2021
contest: assembly
station: P-3264
decides: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
decision: recount
reason: The paper protocol shows 281 ballots; the keyed copy 218.
";

#[test]
fn decision_parses_the_example_and_round_trips() {
    let d = DecisionBody::parse(GOOD).unwrap();
    assert_eq!(d.station, "P-3264");
    assert_eq!(d.decision, DecisionKind::Recount);
    assert_eq!(d.decides[0], 0x9f);
    assert_eq!(d.to_text(), GOOD);
    assert!(DecisionBody::is_decision(GOOD));
    assert!(!DecisionBody::is_decision(
        "urna/protocol/v1\nelection: x\n"
    ));
}

/// A fixed key and body give fixed bytes: any implementation in another language must produce
/// exactly this note.
#[test]
fn decision_test_vector() {
    let signer = NoteSigner::from_seed("cec-al", &[42; 32]).unwrap();
    let note = signer.sign_text(GOOD).to_bytes();
    let expected = format!("{GOOD}\n\u{2014} cec-al {VECTOR_SIGNATURE}\n");
    assert_eq!(String::from_utf8(note.clone()).unwrap(), expected);
    let parsed = Note::parse(&note).unwrap();
    signer.verifier().verify(&parsed).unwrap();
    assert_eq!(DecisionBody::parse(parsed.text()).unwrap().to_text(), GOOD);
}

const VECTOR_SIGNATURE: &str =
    "CBePAQzXYz2Gx3GK4uHWKjTCfGrOXyTr7+rq7GKUORLjamIacI2jIlATMFMuqMPLTUfSExf8PBhs4/v5vyMLaMbAVQU=";

/// Each case: a replacement applied to the good body, and the error expected.
#[test]
fn decision_parser_is_strict() {
    let field = |line, field, rule| DecisionError::Field { line, field, rule };
    let cases: Vec<(&str, &str, DecisionError)> = vec![
        (
            "urna/decision/v1",
            "urna/decision/v2",
            DecisionError::UnknownType("urna/decision/v2".into()),
        ),
        (
            "decision: recount",
            "decision: Recount",
            field(6, "decision", "must be accept, recount or annul"),
        ),
        (
            "decision: recount",
            "decision: recount ",
            field(
                6,
                "decision",
                "must not be empty, nor start or end with a space",
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
            "decides: sha256:9f86",
            "decides: sha256:9F86",
            field(
                5,
                "decides",
                "must be sha256: followed by 64 lower-case hex digits",
            ),
        ),
        (
            "contest: assembly\nstation: P-3264\n",
            "station: P-3264\ncontest: assembly\n",
            DecisionError::Missing {
                line: 3,
                expected: "contest",
            },
        ),
        (
            "reason: The paper protocol shows 281 ballots; the keyed copy 218.\n",
            "",
            DecisionError::Missing {
                line: 7,
                expected: "reason",
            },
        ),
        (
            "218.\n",
            "218.\nreason: again\n",
            DecisionError::Unexpected {
                line: 8,
                text: "reason: again".into(),
            },
        ),
        (
            "218.\n",
            "218.\n\n",
            DecisionError::Unexpected {
                line: 8,
                text: String::new(),
            },
        ),
        (
            "reason: The paper",
            "reason:  The paper",
            field(
                7,
                "reason",
                "must not be empty, nor start or end with a space",
            ),
        ),
    ];
    for (from, to, want) in cases {
        assert!(GOOD.contains(from), "{from}");
        let text = GOOD.replacen(from, to, 1);
        assert_eq!(DecisionBody::parse(&text), Err(want), "{text}");
    }
    let long = GOOD.replace("The paper", &"x".repeat(1001));
    assert_eq!(
        DecisionBody::parse(&long),
        Err(field(7, "reason", "longer than 1000 bytes"))
    );
}

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9._:/-]{0,20}"
}

fn body() -> impl Strategy<Value = DecisionBody> {
    (
        id(),
        id(),
        id(),
        any::<[u8; 32]>(),
        prop::sample::select(DecisionKind::ALL.to_vec()),
        "[^\\s\\x00-\\x1f\\x7f][^\\x00-\\x1f\\x7f]{0,40}[^\\s\\x00-\\x1f\\x7f]",
    )
        .prop_map(
            |(election, contest, station, decides, decision, reason)| DecisionBody {
                election,
                contest,
                station,
                decides,
                decision,
                reason,
            },
        )
}

proptest! {
    /// Every body has one text, and the text gives back the body.
    #[test]
    fn every_decision_round_trips(b in body()) {
        let text = b.to_text();
        prop_assert_eq!(DecisionBody::parse(&text), Ok(b));
    }

    /// Whatever parses is canonical: it re-serialises to the same text.
    #[test]
    fn whatever_parses_is_canonical(b in body(), cut in 0usize..400, junk in "[ -~\\n]{0,8}") {
        let mut text = b.to_text();
        let at = cut.min(text.len());
        if text.is_char_boundary(at) {
            text.insert_str(at, &junk);
        }
        if let Ok(d) = DecisionBody::parse(&text) {
            let canonical = if text.ends_with('\n') { text.clone() } else { format!("{text}\n") };
            prop_assert_eq!(d.to_text(), canonical);
        }
    }
}
