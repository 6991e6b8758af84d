use super::*;
use crate::note::{Note, NoteSigner};

const ORIGIN: &str = "urna/al-2021";

/// The log's key before and after: seeds 1 and 2, named after the origin.
fn signers() -> (NoteSigner, NoteSigner) {
    (
        NoteSigner::from_seed(ORIGIN, &[1; 32]).unwrap(),
        NoteSigner::from_seed(ORIGIN, &[2; 32]).unwrap(),
    )
}

/// The tree the example rotation follows: 1204 entries, root 0x11 repeated.
const SIZE: u64 = 1204;
const ROOT: [u8; 32] = [0x11; 32];

fn good() -> String {
    let (old, new) = signers();
    format!(
        "urna/key-rotation/v1\norigin: {ORIGIN}\nsize: {SIZE}\nroot: sha256:{}\nold: {}\nnew: {}\nreason: Scheduled rotation before the count.\n",
        "11".repeat(32),
        old.verifier().to_vkey(),
        new.verifier().to_vkey()
    )
}

#[test]
fn rotation_parses_the_example_and_round_trips() {
    let text = good();
    let r = RotationBody::parse(&text).unwrap();
    let (old, new) = signers();
    assert_eq!(r.origin, ORIGIN);
    assert_eq!((r.size, r.root), (SIZE, ROOT));
    assert_eq!(r.old.to_vkey(ORIGIN), old.verifier().to_vkey());
    assert_eq!(r.new.to_vkey(ORIGIN), new.verifier().to_vkey());
    assert_eq!(r.to_text(), text);
    assert!(RotationBody::is_rotation(&text));
    assert!(is_rotation(text.as_bytes()));
    assert!(!RotationBody::is_rotation("urna/revocation/v1\n"));
    assert!(!is_rotation(b"urna/key-rotation/v10\n"));
}

/// Fixed keys and body give fixed bytes: any implementation in another language must produce
/// exactly this note (signature lines in the order old, new).
#[test]
fn rotation_test_vector() {
    let (old, new) = signers();
    let note = RotationBody::sign(
        &old,
        &new,
        SIZE,
        &ROOT,
        "Scheduled rotation before the count.",
    )
    .unwrap();
    assert_eq!(String::from_utf8(note.clone()).unwrap(), VECTOR);
    let body = RotationBody::check(&note).unwrap();
    assert_eq!(body.to_text(), good());
}

const VECTOR: &str = "urna/key-rotation/v1
origin: urna/al-2021
size: 1204
root: sha256:1111111111111111111111111111111111111111111111111111111111111111
old: urna/al-2021+cd41096e+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c
new: urna/al-2021+830ed392+AYE5dw6ofRdfVqNUZsNMfszLjYqRtO43ol32D1uPybOU
reason: Scheduled rotation before the count.

\u{2014} urna/al-2021 zUEJblB6gzbrXOkuRM+5tRbcYlfafUpjwKaRmiKWmzj3eCRA1OCVyLY9fKVhE/jnrpAGl1G6vdGVI3fPKR7ACfJPqQ4=
\u{2014} urna/al-2021 gw7TktsWAqvhLRjiFhfjcIvQjV9IiP+I4wA8QvDQ6BSx4RekBTLD9N9BH70VAPBSpA/8wFhVHnTQmuTB4MW8dsD2Rgs=
";

#[test]
fn rotation_check_wants_both_signatures() {
    let (old, new) = signers();
    let text = good();
    for (signer, missing) in [(&old, "new"), (&new, "old")] {
        let one = signer.sign_text(&text).to_bytes();
        let err = RotationBody::check(&one).unwrap_err();
        assert!(
            matches!(&err, RotationError::Signature { which, .. } if *which == missing),
            "{err}"
        );
        // Without checking, the body still reads.
        assert_eq!(RotationBody::parse_note(&one).unwrap().to_text(), text);
    }
    // A third key's signature does not stand in for either.
    let other = NoteSigner::from_seed(ORIGIN, &[3; 32]).unwrap();
    let mut note = Note::unsigned(&text).unwrap();
    note.sign(&old);
    note.sign(&other);
    assert!(RotationBody::check(&note.to_bytes()).is_err());
    // A signature over other text is invalid, not missing.
    let mut forged =
        Note::parse(&RotationBody::sign(&old, &new, SIZE, &ROOT, "r").unwrap()).unwrap();
    let good_sig = forged.signatures()[1].clone();
    forged = Note::unsigned(&text).unwrap();
    forged.sign(&old);
    forged.add_signature(good_sig);
    let err = RotationBody::check(&forged.to_bytes()).unwrap_err();
    assert!(err.to_string().contains("new key"), "{err}");
}

#[test]
fn rotation_refuses_each_broken_rule_naming_the_line_and_field() {
    let text = good();
    let (old, new) = signers();
    let ov = old.verifier().to_vkey();
    let nv = new.verifier().to_vkey();
    let other = NoteSigner::from_seed("urna/other", &[2; 32])
        .unwrap()
        .verifier()
        .to_vkey();
    let cases: Vec<(String, &str)> = vec![
        (
            text.replace("urna/key-rotation/v1", "urna/key-rotation/v2"),
            "line 1",
        ),
        (
            text.replace("origin: ", "origin:  "),
            "line 2: field `origin`",
        ),
        (
            text.replace("old: ", "olde: "),
            "line 5: expected field `old`",
        ),
        (
            text.replace(&nv, &ov),
            "line 6: field `new`: must not be the key it replaces",
        ),
        (
            text.replace(&nv, &other),
            "line 6: field `new`: the key is named",
        ),
        (text.replace(&ov, &ov.to_uppercase()), "line 5: field `old`"),
        (
            text.replace("size: 1204", "size: 01204"),
            "line 3: field `size`",
        ),
        (
            text.replace("size: 1204", "size: -1"),
            "line 3: field `size`",
        ),
        (
            text.replace("size: 1204", "size: 99999999999999999999"),
            "line 3: field `size`",
        ),
        (
            text.replace("size: 1204\n", ""),
            "line 3: expected field `size`",
        ),
        (
            text.replace("root: sha256:", "root: "),
            "line 4: field `root`",
        ),
        (
            text.replace(&"11".repeat(32), &"1A".repeat(32)),
            "line 4: field `root`",
        ),
        (
            text.replace(&"11".repeat(32), &"11".repeat(31)),
            "line 4: field `root`",
        ),
        (format!("{text}extra: 1\n"), "line 8: unexpected line"),
        (
            text.replace("Scheduled rotation before the count.", &"x".repeat(1001)),
            "line 7: field `reason`",
        ),
        (
            text.replace("reason: Scheduled rotation before the count.\n", ""),
            "line 7: expected field `reason`",
        ),
    ];
    for (bad, want) in cases {
        let err = RotationBody::parse(&bad).unwrap_err().to_string();
        assert!(err.contains(want), "{want:?} not in {err:?}");
    }
    // Keys of another origin cannot sign a rotation of this one.
    let stranger = NoteSigner::from_seed("urna/other", &[2; 32]).unwrap();
    assert!(RotationBody::sign(&old, &stranger, SIZE, &ROOT, "r").is_err());
    assert!(RotationBody::sign(&old, &old, SIZE, &ROOT, "r").is_err());
    assert!(RotationBody::sign(&old, &new, SIZE, &ROOT, " r").is_err());
}

#[test]
fn rotation_check_follows_names_the_field_that_does_not_match_the_tree() {
    let body = RotationBody::parse(&good()).unwrap();
    body.check_follows(SIZE, &ROOT).unwrap();
    let err = body.check_follows(SIZE - 1, &ROOT).unwrap_err();
    assert!(
        err.contains("field `size`") && err.contains("own index"),
        "{err}"
    );
    let err = body.check_follows(SIZE, &[0x22; 32]).unwrap_err();
    assert!(
        err.contains("field `root`") && err.contains("first 1204 entries"),
        "{err}"
    );
}
