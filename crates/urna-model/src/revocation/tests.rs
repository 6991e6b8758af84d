use proptest::prelude::*;

use super::*;
use crate::note::{Note, NoteSigner};

/// The station's key before and after: seeds 1 and 2, named after station P-3264.
fn keys() -> (String, String) {
    let old = NoteSigner::from_seed("P-3264", &[1; 32]).unwrap();
    let new = NoteSigner::from_seed("P-3264", &[2; 32]).unwrap();
    (old.verifier().to_vkey(), new.verifier().to_vkey())
}

const GOOD: &str = "urna/revocation/v1
election: al-2021
station: P-3264
revokes: OLD
replacement: NEW
reason: The board's tablet was stolen from the counting room.
";

fn good() -> String {
    let (old, new) = keys();
    GOOD.replace("OLD", &old).replace("NEW", &new)
}

#[test]
fn revocation_parses_the_example_and_round_trips() {
    let text = good();
    let r = RevocationBody::parse(&text).unwrap();
    let (old, new) = keys();
    assert_eq!(r.station, "P-3264");
    assert_eq!(r.revokes.to_vkey("P-3264"), old);
    assert_eq!(r.replacement.map(|k| k.to_vkey("P-3264")), Some(new));
    assert_eq!(r.to_text(), text);
    assert!(RevocationBody::is_revocation(&text));
    assert!(!RevocationBody::is_revocation(
        "urna/decision/v1\nelection: x\n"
    ));
    let none = text.replacen(&r.replacement.unwrap().to_vkey("P-3264"), "none", 1);
    let r = RevocationBody::parse(&none).unwrap();
    assert_eq!(r.replacement, None);
    assert_eq!(r.to_text(), none);
}

/// A fixed authority key and body give fixed bytes: any implementation in another language
/// must produce exactly this note.
#[test]
fn revocation_test_vector() {
    let text = good();
    assert_eq!(text, VECTOR_TEXT);
    let signer = NoteSigner::from_seed("cec-al", &[42; 32]).unwrap();
    let note = signer.sign_text(&text).to_bytes();
    let expected = format!("{text}\n\u{2014} cec-al {VECTOR_SIGNATURE}\n");
    assert_eq!(String::from_utf8(note.clone()).unwrap(), expected);
    let parsed = Note::parse(&note).unwrap();
    signer.verifier().verify(&parsed).unwrap();
    assert_eq!(
        RevocationBody::parse(parsed.text()).unwrap().to_text(),
        text
    );
}

const VECTOR_TEXT: &str = "urna/revocation/v1
election: al-2021
station: P-3264
revokes: P-3264+6099580f+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c
replacement: P-3264+cfd8e6df+AYE5dw6ofRdfVqNUZsNMfszLjYqRtO43ol32D1uPybOU
reason: The board's tablet was stolen from the counting room.
";

const VECTOR_SIGNATURE: &str =
    "CBePAd8zWtmAtCC9UIlcUGYs0wlEcdVrKP2eMdJfPshprJ7IIqtw0zHYUARHYwWq49oUYqVm6dVXNit6w0zjzPElcgg=";

/// Each case: a replacement applied to the good body, and the field and rule expected.
#[test]
fn revocation_parser_is_strict() {
    let (old, new) = keys();
    let other = NoteSigner::from_seed("P-3265", &[2; 32])
        .unwrap()
        .verifier()
        .to_vkey();
    let (_, id_hex_rest) = old.split_once('+').unwrap();
    let (id_hex, b64) = id_hex_rest.split_once('+').unwrap();
    let upper = format!("P-3264+{}+{b64}", id_hex.to_uppercase());
    let field = |line, field, rule: &str| RevocationError::Field {
        line,
        field,
        rule: rule.to_owned(),
    };
    let cases: Vec<(String, String, RevocationError)> = vec![
        (
            "urna/revocation/v1".into(),
            "urna/revocation/v2".into(),
            RevocationError::UnknownType("urna/revocation/v2".into()),
        ),
        (
            "station: P-3264".into(),
            "station: P 3264".into(),
            field(
                3,
                "station",
                "must be 1 to 64 ASCII letters, digits, '.', '_', '-', ':' or '/', starting with a letter or digit",
            ),
        ),
        (
            format!("revokes: {old}"),
            format!("revokes: {other}"),
            field(
                4,
                "revokes",
                "the key is named \"P-3265\"; a station's key is named after the station (\"P-3264\")",
            ),
        ),
        (
            format!("revokes: {old}"),
            format!("revokes: {upper}"),
            field(
                4,
                "revokes",
                "must be in canonical form (lower-case key ID, canonical base64 with padding)",
            ),
        ),
        (
            format!("revokes: {old}"),
            "revokes: P-3264+00000000+AQ==".into(),
            field(4, "revokes", "malformed key: Ed25519 key must be 32 bytes"),
        ),
        (
            format!("replacement: {new}"),
            format!("replacement: {old}"),
            field(5, "replacement", "must not be the key it replaces"),
        ),
        (
            format!("replacement: {new}"),
            "replacement: None".into(),
            field(
                5,
                "replacement",
                "malformed key: expected name+keyid+key, found no '+'",
            ),
        ),
        (
            format!("replacement: {new}\n"),
            String::new(),
            RevocationError::Missing {
                line: 5,
                expected: "replacement",
            },
        ),
        (
            "station: P-3264\n".into(),
            String::new(),
            RevocationError::Missing {
                line: 3,
                expected: "station",
            },
        ),
        (
            "room.\n".into(),
            "room.\nreason: again\n".into(),
            RevocationError::Unexpected {
                line: 7,
                text: "reason: again".into(),
            },
        ),
        (
            "reason: The board".into(),
            "reason:  The board".into(),
            field(
                6,
                "reason",
                "must not be empty, nor start or end with a space",
            ),
        ),
    ];
    let good = good();
    for (from, to, want) in cases {
        assert!(good.contains(&from), "{from}");
        let text = good.replacen(&from, &to, 1);
        assert_eq!(RevocationBody::parse(&text), Err(want), "{text}");
    }
    let long = good.replace("The board", &"x".repeat(1001));
    assert_eq!(
        RevocationBody::parse(&long),
        Err(field(6, "reason", "longer than 1000 bytes"))
    );
}

/// A replacement must be a usable Ed25519 key (a small-order point is not), while `revokes:`
/// only has to name the key as the station held it.
#[test]
fn revocation_refuses_an_unusable_replacement() {
    // The identity point: 0x01 followed by 31 zero bytes, a small-order point.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = format_vkey("P-3264", KeyId::ed25519("P-3264", &identity), &identity);
    let (_, new) = keys();
    let text = good().replacen(&new, &weak, 1);
    assert_eq!(
        RevocationBody::parse(&text),
        Err(RevocationError::Field {
            line: 5,
            field: "replacement",
            rule: "public key is not a usable Ed25519 key".into(),
        })
    );
}

fn body() -> impl Strategy<Value = RevocationBody> {
    (
        "[A-Za-z0-9][A-Za-z0-9._:/-]{0,20}",
        "[A-Za-z0-9][A-Za-z0-9._:/-]{0,20}",
        any::<[u8; 32]>(),
        prop::option::of(any::<[u8; 32]>()),
        "[^\\s\\x00-\\x1f\\x7f][^\\x00-\\x1f\\x7f]{0,40}[^\\s\\x00-\\x1f\\x7f]",
    )
        .prop_filter("two different keys", |(_, _, a, b, _)| Some(*a) != *b)
        .prop_map(|(election, station, old, new, reason)| {
            let key = |seed: [u8; 32]| {
                let s = NoteSigner::from_seed(&station, &seed).unwrap();
                StationKey {
                    key_id: s.key_id(),
                    public_key: s.public_key(),
                }
            };
            RevocationBody {
                revokes: key(old),
                replacement: new.map(key),
                election,
                station,
                reason,
            }
        })
}

proptest! {
    /// Every body has one text, and the text gives back the body.
    #[test]
    fn every_revocation_round_trips(b in body()) {
        let text = b.to_text();
        prop_assert_eq!(RevocationBody::parse(&text), Ok(b));
    }

    /// Whatever parses is canonical: it re-serialises to the same text.
    #[test]
    fn whatever_parses_is_canonical(b in body(), cut in 0usize..500, junk in "[ -~\\n]{0,8}") {
        let mut text = b.to_text();
        let at = cut.min(text.len());
        if text.is_char_boundary(at) {
            text.insert_str(at, &junk);
        }
        if let Ok(r) = RevocationBody::parse(&text) {
            let canonical = if text.ends_with('\n') { text.clone() } else { format!("{text}\n") };
            prop_assert_eq!(r.to_text(), canonical);
        }
    }
}
