use urna_model::note::{Note, NoteSigner};

use super::*;

/// The fixed test vector: a TLP:CLEAR report, its text and the note signed by the key of seed
/// [7; 32] named `cert.example` (Ed25519 is deterministic, so the bytes are fixed).
const VECTOR_TEXT: &str = include_str!("../../tests/data/report-clear.txt");
const VECTOR_NOTE: &[u8] = include_bytes!("../../tests/data/report-clear.note");

fn vector_body() -> IncidentBody {
    IncidentBody {
        kind: Kind::Report,
        incident: None,
        institution: "cert.example".into(),
        time: UtcTime::parse("2026-12-06T05:04:13Z").unwrap(),
        notice: Some(Notice {
            tlp: Tlp::Clear,
            status: Status::Open,
            recipients: vec![],
            content: Content::Clear(Details {
                systems: vec![
                    "results intake server".into(),
                    "counting-centre desk".into(),
                ],
                indicators: vec!["ipv4 203.0.113.7".into(), "user-agent curl/8.5.0".into()],
                summary: "Repeated malformed protocol submissions from one address.".into(),
            }),
        }),
    }
}

#[test]
fn fixed_vector_parses_and_re_serialises_byte_for_byte() {
    let body = IncidentBody::parse(VECTOR_TEXT).unwrap();
    assert_eq!(body, vector_body());
    assert_eq!(body.to_text(), VECTOR_TEXT);
    let signer = NoteSigner::from_seed("cert.example", &[7; 32]).unwrap();
    assert_eq!(signer.sign_text(VECTOR_TEXT).to_bytes(), VECTOR_NOTE);
    let note = Note::parse(VECTOR_NOTE).unwrap();
    signer.verifier().verify(&note).unwrap();
    assert_eq!(note.text(), VECTOR_TEXT);
}

#[test]
fn time_is_utc_rfc3339_whole_seconds() {
    let cases = [
        ("1970-01-01T00:00:00Z", Some(0)),
        ("2026-12-06T05:04:13Z", Some(1_796_533_453)),
        ("2024-02-29T23:59:59Z", Some(1_709_251_199)),
        ("2023-02-29T00:00:00Z", None),
        ("2026-13-01T00:00:00Z", None),
        ("2026-12-06T24:00:00Z", None),
        ("2026-12-06T05:04:60Z", None),
        ("2026-12-06 05:04:13Z", None),
        ("2026-12-06T05:04:13+01:00", None),
        ("2026-12-06T05:04:13.5Z", None),
        ("1969-12-31T23:59:59Z", None),
        ("+026-12-06T05:04:13Z", None),
    ];
    for (text, want) in cases {
        let got = UtcTime::parse(text).ok().map(|t| t.0);
        assert_eq!(got, want, "{text}");
        if let Some(t) = got {
            assert_eq!(UtcTime(t).to_string(), text);
        }
    }
}

#[test]
fn every_deviation_from_the_canonical_text_is_refused_with_its_line_and_field() {
    let v = VECTOR_TEXT;
    let cases: Vec<(String, &str)> = vec![
        (
            v.replace("urna/incident/v1", "urna/incident/v2"),
            "line 1: unknown note type",
        ),
        (v.trim_end().to_owned(), "must end with a newline"),
        (format!("{v}\n"), "must end with a newline"),
        (
            v.replace("kind: report", "kind: notice"),
            "line 2: field `kind`",
        ),
        (
            v.replace("kind: report", "kind:  report"),
            "line 2: field `kind`: must not be empty",
        ),
        (
            v.replace("institution: cert.example", "institution: cert example"),
            "line 3: field `institution`",
        ),
        (
            v.replace("time: 2026-12-06T05:04:13Z", "time: 2026-12-06T05:04:13"),
            "line 4: field `time`",
        ),
        (v.replace("tlp: clear", "tlp: CLEAR"), "line 5: field `tlp`"),
        (v.replace("tlp: clear", "tlp: white"), "line 5: field `tlp`"),
        (
            v.replace("status: open", "status: closed"),
            "line 6: field `status`",
        ),
        (
            v.replace("tlp: clear\nstatus: open\n", "status: open\ntlp: clear\n"),
            "line 5: expected field `tlp`",
        ),
        (
            v.replace("summary: ", "summary:"),
            "expected field `summary`",
        ),
        (
            v.replace("indicator: user-agent", "system: user-agent"),
            "line 10: expected field `summary`",
        ),
        (format!("{v}summary: again\n"), "line 12: unexpected line"),
        (
            v.replace("kind: report\n", "kind: report\nincident: sha256:00\n"),
            "line 3: expected field `institution`",
        ),
        (v.replace("Repeated", "Repeated\u{7}"), "control character"),
        (
            v.replace("Repeated", &"x".repeat(1001)),
            "longer than 1000 bytes",
        ),
        (
            v.replace("tlp: clear", "tlp: amber"),
            "expected field `recipients`",
        ),
    ];
    for (text, want) in cases {
        let err = IncidentBody::parse(&text).unwrap_err().to_string();
        assert!(err.contains(want), "{text:?}\n  got: {err}\n want: {want}");
    }
}

#[test]
fn sealed_bodies_need_sorted_known_recipients_and_a_canonical_age_blob() {
    let blob = base64_encode(b"age-encryption.org/v1\n-> X25519 x\n");
    let head = "urna/incident/v1\nkind: update\nincident: sha256:".to_owned()
        + &"ab".repeat(32)
        + "\ninstitution: cert.example\ntime: 2026-12-06T05:04:13Z\ntlp: red\nstatus: contained\n";
    let ok = format!("{head}recipients: cec dpa\nsealed: {blob}\n");
    let body = IncidentBody::parse(&ok).unwrap();
    assert_eq!(body.to_text(), ok);
    let cases = [
        (
            format!("{head}recipients: dpa cec\nsealed: {blob}\n"),
            "must be sorted",
        ),
        (
            format!("{head}recipients: cec cec\nsealed: {blob}\n"),
            "must be sorted",
        ),
        (
            format!("{head}recipients: cec  dpa\nsealed: {blob}\n"),
            "one space apart",
        ),
        (
            format!(
                "{head}recipients: cec\nsealed: {}\n",
                blob.trim_end_matches('=')
            ),
            "canonical padded base64",
        ),
        (
            format!(
                "{head}recipients: cec\nsealed: {}\n",
                base64_encode(b"hello")
            ),
            "must be an age file",
        ),
        (
            format!("{head}recipients: cec\nsummary: leak\n"),
            "expected field `sealed`",
        ),
        (
            format!("{head}recipients: cec\nsealed: {blob}\nsummary: leak\n"),
            "unexpected line",
        ),
    ];
    for (text, want) in cases {
        let err = IncidentBody::parse(&text).unwrap_err().to_string();
        assert!(err.contains(want), "{text:?}\n  got: {err}\n want: {want}");
    }
}

#[test]
fn details_text_round_trips_and_rejects_line_breaks_in_values() {
    let d = Details {
        systems: vec![],
        indicators: vec!["sha256 e3b0c442".into()],
        summary: "Only a summary and one indicator.".into(),
    };
    assert_eq!(Details::parse(&d.to_text()).unwrap(), d);
    d.validate().unwrap();
    let bad = Details {
        summary: "two\nlines".into(),
        ..d
    };
    assert!(bad.validate().is_err());
}

mod props {
    use proptest::prelude::*;

    use super::*;

    /// A value the format allows: printable, no space at either end.
    fn value() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9äß€.:/_-]([a-zA-Z0-9 äß€.:/_-]{0,40}[a-zA-Z0-9äß€.:/_-])?"
    }

    fn id() -> impl Strategy<Value = String> {
        "[a-z0-9][a-z0-9./_-]{0,20}"
    }

    fn body() -> impl Strategy<Value = IncidentBody> {
        let details = (
            proptest::collection::vec(value(), 0..4),
            proptest::collection::vec(value(), 0..4),
            value(),
        )
            .prop_map(|(systems, indicators, summary)| Details {
                systems,
                indicators,
                summary,
            });
        let sealed = proptest::collection::vec(any::<u8>(), 0..64).prop_map(|tail| {
            let mut b = crate::seal::AGE_MAGIC.to_vec();
            b.extend(tail);
            b
        });
        let recipients = proptest::collection::btree_set(id(), 1..4)
            .prop_map(|s| s.into_iter().collect::<Vec<_>>());
        (
            0usize..3,
            any::<[u8; 32]>(),
            id(),
            0u64..253_402_300_800,
            0usize..4,
            0usize..4,
            details,
            sealed,
            recipients,
        )
            .prop_map(
                |(k, hash, institution, time, t, s, details, sealed, recipients)| {
                    let kind = Kind::ALL[k];
                    let tlp = Tlp::ALL[t];
                    let notice = (kind != Kind::Ack).then(|| Notice {
                        tlp,
                        status: Status::ALL[s],
                        recipients: if tlp.is_sealed() { recipients } else { vec![] },
                        content: if tlp.is_sealed() {
                            Content::Sealed(sealed)
                        } else {
                            Content::Clear(details)
                        },
                    });
                    IncidentBody {
                        kind,
                        incident: (kind != Kind::Report).then_some(hash),
                        institution,
                        time: UtcTime(time),
                        notice,
                    }
                },
            )
    }

    proptest! {
        /// Every body the format can hold survives `to_text` then `parse` unchanged, and its
        /// text is canonical: parsing it and writing it again gives the same bytes.
        #[test]
        fn body_text_round_trips(b in body()) {
            let text = b.to_text();
            let back = IncidentBody::parse(&text).unwrap();
            prop_assert_eq!(&back, &b);
            prop_assert_eq!(back.to_text(), text);
        }

        /// Any time from 1970 to 9999 writes as RFC 3339 and parses back to the same second.
        #[test]
        fn time_round_trips(t in 0u64..253_402_300_800) {
            prop_assert_eq!(UtcTime::parse(&UtcTime(t).to_string()), Ok(UtcTime(t)));
        }
    }
}
