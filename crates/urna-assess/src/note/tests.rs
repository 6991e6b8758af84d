use urna_model::note::{Note, NoteSigner};

use super::*;

/// The fixed test vector: a body and its signature by a key from a fixed seed. Ed25519 is
/// deterministic, so these bytes change only if the format or the codec does.
const VECTOR_BODY: &str = "urna/assessment/v1
election: sim-2025-assembly
definition: sha256:6eecd7e64af1d349a3859490c6d859187758446ab889aabe133f3803e2de0a05
controls: sha256:a377b41e9e493490c22760b9cda2238a4ec3b5acee9d8fefafc7da3b9afc45a3
date: 2026-12-06
control: station-keys pass 5 stations, 5 distinct keys, each named after its station
control: asset-inventory yes Inventory v3 of 2026-11-30, kept by the IT unit
control: capacity open
";

fn commission() -> NoteSigner {
    NoteSigner::from_seed("cec", &[7; 32]).unwrap()
}

fn agency() -> NoteSigner {
    NoteSigner::from_seed("cyber-agency", &[9; 32]).unwrap()
}

#[test]
fn the_test_vector_parses_and_serialises_to_the_same_bytes() {
    let body = AssessmentBody::parse(VECTOR_BODY).unwrap();
    assert_eq!(body.to_text(), VECTOR_BODY);
    assert_eq!(body.answers.len(), 3);
    assert_eq!(body.answers[2].answer, Answer::Open);
    assert_eq!(body.answers[2].evidence, None);
    let note = sign(&body, &commission()).unwrap();
    let bytes = note.to_bytes();
    let expected = include_str!("../../tests/data/assessment-v1.note");
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        expected,
        "tests/data/assessment-v1.note"
    );
}

#[test]
fn sign_cosign_verify_round_trip_names_every_signer() {
    let body = AssessmentBody::parse(VECTOR_BODY).unwrap();
    let one = sign(&body, &commission()).unwrap().to_bytes();
    let two = cosign(&one, &agency()).unwrap().to_bytes();
    let (got, signed, unchecked) =
        verify(&two, &[commission().verifier(), agency().verifier()]).unwrap();
    assert_eq!(got, body);
    assert_eq!(signed, ["cec", "cyber-agency"]);
    assert!(unchecked.is_empty());
    let (_, signed, unchecked) = verify(&two, &[agency().verifier()]).unwrap();
    assert_eq!(signed, ["cyber-agency"]);
    assert_eq!(unchecked, ["cec"]);
    // The same key twice is refused.
    let e = cosign(&two, &agency()).unwrap_err();
    assert!(matches!(e, SignedError::AlreadySigned(_)), "{e}");
}

#[test]
fn a_changed_body_breaks_every_signature() {
    let body = AssessmentBody::parse(VECTOR_BODY).unwrap();
    let one = sign(&body, &commission()).unwrap().to_bytes();
    let two = String::from_utf8(cosign(&one, &agency()).unwrap().to_bytes()).unwrap();
    for (from, to) in [
        ("capacity open", "capacity yes Measured"),
        ("5 stations", "6 stations"),
        ("2026-12-06", "2026-12-07"),
    ] {
        let tampered = two.replacen(from, to, 1);
        for key in [commission(), agency()] {
            let e = verify(tampered.as_bytes(), &[key.verifier()]).unwrap_err();
            assert!(
                matches!(e, SignedError::Signature(SignatureError::Invalid { .. })),
                "{from} → {to}: {e}"
            );
        }
    }
    // A signature from another key does not stand in for a trusted one.
    let other = NoteSigner::from_seed("cec", &[8; 32]).unwrap();
    let e = verify(two.as_bytes(), &[other.verifier()]).unwrap_err();
    assert!(
        matches!(e, SignedError::Signature(SignatureError::Missing { .. })),
        "{e}"
    );
}

#[test]
fn malformed_bodies_are_refused_naming_the_line() {
    let cases: &[(&str, &str, &str)] = &[
        ("urna/assessment/v1", "urna/assessment/v2", "line 1"),
        (
            "election: sim-2025-assembly",
            "election: sim 2025",
            "line 2",
        ),
        (
            "definition: sha256:6eec",
            "definition: sha256:6EEC",
            "line 3",
        ),
        ("controls: sha256:", "controls: sha1:", "line 4"),
        ("date: 2026-12-06", "date: 2026-02-30", "line 5"),
        ("station-keys pass", "station-keys maybe", "line 6"),
        ("station-keys pass 5", "Station-keys pass 5", "line 6"),
        ("capacity open\n", "capacity open \n", "line 8"),
        ("yes Inventory v3", "yes  Inventory v3", "line 7"),
        ("capacity open", "station-keys open", "answered twice"),
        ("capacity open", "capacity yes", "needs its evidence"),
        ("capacity open\n", "capacity open", "end in a newline"),
        ("date: 2026-12-06\n", "date: 2026-12-06\n\n", "line 6"),
        ("election: sim-2025-assembly\n", "", "expected `election"),
    ];
    for (from, to, expected) in cases {
        let bad = VECTOR_BODY.replacen(from, to, 1);
        assert_ne!(bad, VECTOR_BODY, "{from}");
        let e = AssessmentBody::parse(&bad).unwrap_err().to_string();
        assert!(e.contains(expected), "{from} → {to}: {e}");
    }
    let e = AssessmentBody::parse("urna/assessment/v1\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing `election`"), "{e}");
}

#[test]
fn extra_bytes_truncation_and_a_flipped_bit_are_refused() {
    let note = sign(&AssessmentBody::parse(VECTOR_BODY).unwrap(), &commission()).unwrap();
    let bytes = note.to_bytes();
    let v = [commission().verifier()];
    assert!(verify(&bytes, &v).is_ok());
    let mut extra = bytes.clone();
    extra.extend_from_slice(b"x");
    assert!(verify(&extra, &v).is_err());
    assert!(verify(&bytes[..bytes.len() - 2], &v).is_err());
    let mut prefixed = b"\n".to_vec();
    prefixed.extend_from_slice(&bytes);
    assert!(verify(&prefixed, &v).is_err());
    for i in (0..VECTOR_BODY.len()).step_by(17) {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x01;
        assert!(verify(&flipped, &v).is_err(), "bit flipped at {i}");
    }
    // A note that is not an assessment is never co-signed.
    let other = Note::unsigned("urna/protocol/v1\n").map(|mut n| {
        n.sign(&commission());
        n.to_bytes()
    });
    assert!(cosign(&other.unwrap(), &agency()).is_err());
}

#[test]
fn dates_are_real_calendar_days() {
    for (d, ok) in [
        ("2024-02-29", true),
        ("2023-02-29", false),
        ("2000-02-29", true),
        ("1900-02-29", false),
        ("2026-13-01", false),
        ("2026-1-01", false),
        ("0000-01-01", false),
        ("2026-12-31", true),
    ] {
        assert_eq!(valid_date(d), ok, "{d}");
    }
}
