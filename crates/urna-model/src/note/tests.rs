use proptest::prelude::*;

use super::*;

fn signer(name: &str, byte: u8) -> NoteSigner {
    NoteSigner::from_seed(name, &[byte; 32]).unwrap()
}

/// The example from Go's `golang.org/x/mod/sumdb/note` documentation and C2SP signed-note:
/// key `PeterNeumann`, text "If you think cryptography is the answer to your problem,…".
const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\n\
then you don't know what your problem is.\n\
\n\
— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

#[test]
fn note_verifies_the_go_sumdb_example() {
    let v = NoteVerifier::from_vkey(GO_VKEY).unwrap();
    let n = Note::parse(GO_NOTE.as_bytes()).unwrap();
    v.verify(&n).unwrap();
    assert_eq!(n.to_bytes(), GO_NOTE.as_bytes());
    assert_eq!(v.to_vkey(), GO_VKEY);
}

#[test]
fn note_agrees_with_the_signed_note_crate() {
    let s = signer("station-0412-07", 9);
    let ours = s.sign_text("urna/protocol/v1\nelection: x\n").to_bytes();
    // Their parser reads our bytes, their verifier accepts our signature and key format.
    let theirs = signed_note::Note::from_bytes(&ours).unwrap();
    let verifier = signed_note::StandardVerifier::new(&s.verifier().to_vkey()).unwrap();
    let list = signed_note::VerifierList::new(vec![Box::new(verifier)]);
    theirs.verify(&list).unwrap();
    assert_eq!(theirs.to_bytes(), ours);
    // Our parser reads their skey format and their signatures.
    let their_signer = signed_note::StandardSigner::new(&s.to_skey()).unwrap();
    let mut n2 = signed_note::Note::new(b"hello\n", &[]).unwrap();
    n2.add_sigs(&[&their_signer]).unwrap();
    let parsed = Note::parse(&n2.to_bytes()).unwrap();
    s.verifier().verify(&parsed).unwrap();
    assert_eq!(
        signed_note::key_id(s.name(), &[&[1u8][..], &s.public_key()].concat()).to_be_bytes(),
        s.key_id().0
    );
}

#[test]
fn note_rejects_malformed_envelopes_with_the_line() {
    let good = String::from_utf8(signer("a", 1).sign_text("one\ntwo\n").to_bytes()).unwrap();
    let sig_line = good.lines().last().unwrap().to_owned();
    let cases: Vec<(String, NoteError)> = vec![
        ("one\ntwo\n".into(), NoteError::NoSignatures),
        (
            format!("one\ntwo\n\n{sig_line}"),
            NoteError::MissingFinalNewline { line: 4 },
        ),
        (
            format!("one\r\ntwo\n\n{sig_line}\n"),
            NoteError::ControlCharacter { line: 1, code: 13 },
        ),
        ("one\ntwo\n\n\n".into(), NoteError::NoSignatures),
        (format!("\n\n{sig_line}\n"), NoteError::EmptyText),
        (
            "one\n\n- a AAAA\n".to_string(),
            NoteError::BadSignatureLine {
                line: 3,
                reason: "must start with an em dash and a space",
            },
        ),
        (
            "one\n\n\u{2014} a+b AAAAAAAA\n".to_string(),
            NoteError::BadSignatureLine {
                line: 3,
                reason: "key name must be non-empty, without spaces or '+'",
            },
        ),
        (
            "one\n\n\u{2014} a AAAA\n".to_string(),
            NoteError::BadSignatureLine {
                line: 3,
                reason: "signature must hold a 4-byte key ID and at least one byte",
            },
        ),
        (
            "one\n\n\u{2014} a AAAAAA=A\n".to_string(),
            NoteError::BadSignatureLine {
                line: 3,
                reason: "signature is not canonical base64",
            },
        ),
        (
            format!("{good}{sig_line}\n"),
            NoteError::DuplicateSignature {
                line: 5,
                name: "a".into(),
                key_id: signer("a", 1).key_id(),
            },
        ),
    ];
    for (input, want) in cases {
        assert_eq!(
            Note::parse(input.as_bytes()).unwrap_err(),
            want,
            "{input:?}"
        );
    }
    assert_eq!(
        Note::parse(b"a\xff\n\n").unwrap_err(),
        NoteError::NotUtf8 { line: 1 }
    );
    let long = vec![b'a'; MAX_NOTE_BYTES + 1];
    assert!(matches!(
        Note::parse(&long).unwrap_err(),
        NoteError::TooLong { .. }
    ));
    let many: String = (0..=MAX_SIGNATURES)
        .map(|i| format!("\u{2014} k{i} AAAAAAAA\n"))
        .collect();
    assert_eq!(
        Note::parse(format!("t\n\n{many}").as_bytes()).unwrap_err(),
        NoteError::TooManySignatures {
            max: MAX_SIGNATURES
        }
    );
}

#[test]
fn verifier_refuses_wrong_key_and_altered_text() {
    let a = signer("a", 1);
    let note = a.sign_text("numbers: 1\n");
    assert!(matches!(
        signer("a", 2).verifier().verify(&note),
        Err(SignatureError::Missing { .. })
    ));
    let altered = String::from_utf8(note.to_bytes())
        .unwrap()
        .replace("1\n\n", "2\n\n");
    let altered = Note::parse(altered.as_bytes()).unwrap();
    assert!(matches!(
        a.verifier().verify(&altered),
        Err(SignatureError::Invalid { .. })
    ));
}

#[test]
fn keys_round_trip_and_reject_mismatched_ids() {
    let s = signer("cec", 3);
    assert_eq!(
        NoteSigner::from_skey(&s.to_skey()).unwrap().to_skey(),
        s.to_skey()
    );
    let vkey = s.verifier().to_vkey();
    assert_eq!(NoteVerifier::from_vkey(&vkey).unwrap(), s.verifier());
    let wrong_id = vkey.replacen(&s.key_id().to_string(), "00000000", 1);
    assert!(matches!(
        NoteVerifier::from_vkey(&wrong_id),
        Err(KeyError::KeyIdMismatch { .. })
    ));
    assert!(matches!(
        NoteVerifier::from_vkey("x+00000000+AgAA"),
        Err(KeyError::Algorithm(2)) | Err(KeyError::Malformed(_))
    ));
    assert!(matches!(
        NoteVerifier::from_vkey("nokey"),
        Err(KeyError::Malformed(_))
    ));
    assert!(matches!(
        NoteSigner::from_seed("has space", &[0; 32]),
        Err(KeyError::BadName(_))
    ));
    assert!(!format!("{s:?}").contains(&s.to_skey()));
}

#[test]
fn batch_verification_agrees_with_single() {
    let signers: Vec<NoteSigner> = (0..20).map(|i| signer(&format!("s{i}"), i)).collect();
    let texts: Vec<String> = (0..20).map(|i| format!("text {i}\n")).collect();
    let mut sigs: Vec<Vec<u8>> = signers
        .iter()
        .zip(&texts)
        .map(|(s, t)| s.signature(t.as_bytes()).signature)
        .collect();
    let keys: Vec<VerifyingKey> = signers
        .iter()
        .map(|s| *s.verifier().verifying_key())
        .collect();
    let msgs: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
    assert!(
        verify_batch(
            &msgs,
            &sigs.iter().map(Vec::as_slice).collect::<Vec<_>>(),
            &keys
        )
        .is_ok()
    );
    sigs[7][0] ^= 1;
    assert!(
        verify_batch(
            &msgs,
            &sigs.iter().map(Vec::as_slice).collect::<Vec<_>>(),
            &keys
        )
        .is_err()
    );
    assert!(verify_raw(&keys[7], msgs[7], &sigs[7]).is_err());
    assert!(verify_raw(&keys[6], msgs[6], &sigs[6]).is_ok());
}

proptest! {
    /// Any valid text signed by any set of distinct keys parses back to the same note and bytes.
    #[test]
    fn note_round_trips(lines in proptest::collection::vec("[a-z0-9:. -]{1,30}", 1..8), keys in 1u8..5) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let mut note = Note::unsigned(&text).unwrap();
        for k in 0..keys {
            note.sign(&signer(&format!("k{k}"), k));
        }
        let bytes = note.to_bytes();
        let parsed = Note::parse(&bytes).unwrap();
        prop_assert_eq!(&parsed, &note);
        prop_assert_eq!(parsed.to_bytes(), bytes);
    }

    /// Flipping any bit of a signed note either breaks parsing or breaks the signature.
    #[test]
    fn any_flipped_bit_is_caught(pos in 0usize..200, bit in 0u8..8) {
        let s = signer("st", 4);
        let mut bytes = s.sign_text("urna/protocol/v1\nvalid: 10\n").to_bytes();
        let pos = pos % bytes.len();
        bytes[pos] ^= 1 << bit;
        if let Ok(n) = Note::parse(&bytes) {
            prop_assert!(s.verifier().verify(&n).is_err());
        }
    }
}

/// A signature over `message` by the secret scalar `a`, with nonce `r`, where the key and the
/// nonce point carry the torsion points `key_torsion` and `r_torsion` (indices into the
/// curve's eight): what a signer holding its own secret can make, to probe [`verify_raw`]
/// where ed25519 verifiers are known to differ.
fn torsioned_signature(
    a: u64,
    r: u64,
    key_torsion: usize,
    r_torsion: usize,
    message: &[u8],
) -> (VerifyingKey, [u8; 64]) {
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT as B, EIGHT_TORSION};
    use curve25519_dalek::scalar::Scalar;
    let (a, r) = (Scalar::from(a), Scalar::from(r));
    let key = (a * B + EIGHT_TORSION[key_torsion]).compress();
    let big_r = (r * B + EIGHT_TORSION[r_torsion]).compress();
    let mut h = sha2::Sha512::new();
    h.update(big_r.as_bytes());
    h.update(key.as_bytes());
    h.update(message);
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(big_r.as_bytes());
    sig[32..].copy_from_slice((r + k * a).as_bytes());
    (VerifyingKey::from_bytes(key.as_bytes()).unwrap(), sig)
}

fn strict(key: &VerifyingKey, message: &[u8], sig: &[u8; 64]) -> bool {
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(sig))
        .is_ok()
}

#[test]
fn verify_raw_decides_every_torsion_of_key_and_r_as_strict_verification_does() {
    let message = b"urna/protocol/v1\nstation: 01-001\n";
    let mut accepted = 0;
    for key_torsion in 0..8 {
        for r_torsion in 0..8 {
            let (key, sig) = torsioned_signature(7, 11, key_torsion, r_torsion, message);
            let want = strict(&key, message, &sig);
            assert_eq!(
                verify_raw(&key, message, &sig).is_ok(),
                want,
                "key torsion {key_torsion}, R torsion {r_torsion}"
            );
            accepted += usize::from(want);
            if key_torsion == 0 {
                // A prime-order key: valid only with a clean R.
                assert_eq!(want, r_torsion == 0, "R torsion {r_torsion}");
            }
        }
    }
    // A key of mixed order is not refused as such: its signature is valid when the torsion
    // of R cancels [k] times the key's, which both rules accept alike.
    assert!(accepted > 1 && accepted < 64, "{accepted}");
}

#[test]
fn an_r_of_small_order_is_refused_even_where_the_equation_holds() {
    let message = b"urna/protocol/v1\nstation: 01-001\n";
    // Nonce 0: R is the torsion point itself. With a prime-order key and R the identity,
    // S = k·a satisfies the cofactorless equation: plain verification accepts it, the strict
    // rule (and so urna) must not.
    let (key, sig) = torsioned_signature(7, 0, 0, 0, message);
    let plain =
        ed25519_dalek::Verifier::verify(&key, message, &ed25519_dalek::Signature::from_bytes(&sig));
    assert!(plain.is_ok());
    assert!(verify_raw(&key, message, &sig).is_err());
    for key_torsion in 0..8 {
        for r_torsion in 0..8 {
            let (key, sig) = torsioned_signature(7, 0, key_torsion, r_torsion, message);
            assert!(!strict(&key, message, &sig));
            assert!(
                verify_raw(&key, message, &sig).is_err(),
                "{key_torsion} {r_torsion}"
            );
        }
    }
    // Non-canonical encodings of small-order points (x's sign on x = 0, y = p + 1) as R.
    let (key, _) = torsioned_signature(5, 3, 0, 0, message);
    let mut one_negative_zero = [0u8; 32];
    one_negative_zero[0] = 1;
    one_negative_zero[31] = 0x80;
    let mut p_plus_one = [0xffu8; 32];
    p_plus_one[0] = 0xee;
    p_plus_one[31] = 0x7f;
    for r in [one_negative_zero, p_plus_one] {
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r);
        assert!(verify_raw(&key, message, &sig).is_err(), "{r:02x?}");
        assert!(!strict(&key, message, &sig));
    }
}

proptest! {
    #[test]
    fn verify_raw_decides_as_ed25519_dalek_verify_strict(
        a in 1u64.., r in 0u64..8, key_torsion in 0usize..8, r_torsion in 0usize..8,
        message in proptest::collection::vec(any::<u8>(), 0..64),
        flip in proptest::option::of((0usize..64, 0u8..8)),
    ) {
        let (key, mut sig) = torsioned_signature(a, r, key_torsion, r_torsion, &message);
        if let Some((byte, bit)) = flip {
            sig[byte] ^= 1 << bit;
        }
        prop_assert_eq!(verify_raw(&key, &message, &sig).is_ok(), strict(&key, &message, &sig));
    }
}
