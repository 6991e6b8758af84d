//! The checkpoint: its form (C2SP tlog-checkpoint), the log key's signature, and the trusted
//! witnesses' cosignatures (C2SP tlog-cosignature, `cosignature/v1`) against the quorum.
//!
//! Signature lines by keys the verifier does not trust are ignored, as C2SP signed-note
//! requires, but each is named in the report; when the quorum is not met the message names
//! them, since a line that claims to be a witness but is not is what a forger leaves.
//!
//! A line by a witness that only the bundle's own `v1/keys.json` names ([`check_listed`]) is
//! checked against the key that file gives and reported as such, never counted toward the
//! quorum: the bundle's publisher writes that file, and could list witnesses it controls.

use urna_model::note::{Note, NoteSignature};
use urna_tlog::Checkpoint;

use crate::published_keys::Listed;
use crate::report::{
    CheckpointReport, Cosigner, Discrepancy, Kind, UnknownSigner, WitnessReport, rfc3339,
};
use crate::trust::Trust;
use urna_tally::public::KEYS_JSON;

/// The bundle path of the checkpoint.
pub(crate) const CHECKPOINT: &str = "checkpoint";

/// A checkpoint whose form is valid (its signatures may not be).
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub(crate) checkpoint: Checkpoint,
    pub(crate) report: CheckpointReport,
    /// The checkpoint note, parsed.
    pub(crate) note: Note,
}

/// Checks the checkpoint note `bytes` against `trust`, adding a discrepancy for everything
/// wrong. `None` if it is not a checkpoint at all (nothing else can then be checked).
pub(crate) fn check(
    bytes: &[u8],
    trust: &Trust,
    witnesses: &mut WitnessReport,
    found: &mut Vec<Discrepancy>,
) -> Option<Checked> {
    witnesses.quorum = trust.quorum;
    witnesses.trusted = trust.witness_names().len();
    let malformed = |reason: String| {
        Discrepancy::new(Kind::CheckpointMalformed, format!("checkpoint: {reason}"))
            .file(CHECKPOINT)
    };
    let note = match Note::parse(bytes) {
        Ok(n) => n,
        Err(e) => {
            found.push(malformed(e.to_string()));
            return None;
        }
    };
    let checkpoint = match Checkpoint::parse_text(note.text()) {
        Ok(c) => c,
        Err(e) => {
            found.push(malformed(e.to_string()));
            return None;
        }
    };
    if checkpoint.origin != trust.origin() {
        found.push(
            Discrepancy::new(
                Kind::CheckpointOrigin,
                format!(
                    "checkpoint: it is of log {:?}, not of the log whose key you trust ({:?})",
                    checkpoint.origin,
                    trust.origin()
                ),
            )
            .file(CHECKPOINT)
            .field("origin")
            .values(trust.origin(), checkpoint.origin.clone()),
        );
    }
    // Signed by another key of the same log: a key rotation may explain it; that is settled
    // once the log's rotation entries are read (`crate::rotation::settle`).
    let rotated = trust.log.verify(&note).is_err()
        && note
            .signatures()
            .iter()
            .any(|s| s.name == trust.log.name() && s.key_id != trust.log.key_id());
    let log_signature = match trust.log.verify(&note) {
        Ok(()) => true,
        Err(_) if rotated => false,
        Err(e) => {
            found.push(
                Discrepancy::new(
                    Kind::CheckpointSignature,
                    format!(
                        "checkpoint: {e}: it is not signed by the log key {}",
                        trust.log.to_vkey()
                    ),
                )
                .file(CHECKPOINT),
            );
            false
        }
    };
    check_cosignatures(&note, trust, witnesses, found);
    let report = CheckpointReport {
        origin: checkpoint.origin.clone(),
        size: checkpoint.size.0,
        root_hash: checkpoint.root.to_base64(),
        log_signature,
        note: String::from_utf8_lossy(bytes).into_owned(),
    };
    Some(Checked {
        checkpoint,
        report,
        note,
    })
}

fn check_cosignatures(
    note: &Note,
    trust: &Trust,
    witnesses: &mut WitnessReport,
    found: &mut Vec<Discrepancy>,
) {
    // Every key of the log is named after its origin (a rotated log has several).
    let is_log = |s: &NoteSignature| s.name == trust.log.name();
    for sig in note.signatures().iter().filter(|s| !is_log(s)) {
        let witness = trust
            .witnesses
            .iter()
            .find(|w| w.name() == sig.name && w.key_id() == sig.key_id);
        let Some(w) = witness else {
            witnesses.unknown.push(UnknownSigner {
                name: sig.name.clone(),
                key_id: sig.key_id.to_string(),
            });
            continue;
        };
        match w.verify_signature(note.text(), sig) {
            // A witness rotating its key counts once, whichever of its keys cosigned.
            Ok(_) if witnesses.cosigned.iter().any(|c| c.name == w.name()) => {}
            Ok(timestamp) => witnesses.cosigned.push(Cosigner {
                name: w.name().to_owned(),
                key_id: w.key_id().to_string(),
                timestamp,
                time: rfc3339(timestamp),
            }),
            Err(e) => found.push(
                Discrepancy::new(
                    Kind::CosignatureInvalid,
                    format!(
                        "checkpoint: {e}: witness `{}` did not sign this checkpoint",
                        w.name()
                    ),
                )
                .file(CHECKPOINT)
                .field(format!("cosignature {}", w.name())),
            ),
        }
    }
    witnesses.missing = trust
        .witness_names()
        .into_iter()
        .filter(|name| !witnesses.cosigned.iter().any(|c| c.name == *name))
        .map(str::to_owned)
        .collect();
    let valid = witnesses.cosigned.len();
    if valid < trust.quorum {
        let mut why: Vec<String> = witnesses
            .unknown
            .iter()
            .map(|u| {
                let same_name = trust.witnesses.iter().find(|w| w.name() == u.name);
                match same_name {
                    Some(w) => format!(
                        "the line from `{}` (key id {}) is not by the trusted key of that witness (key id {})",
                        u.name,
                        u.key_id,
                        w.key_id()
                    ),
                    None => format!(
                        "the line from `{}` (key id {}) is not a trusted witness",
                        u.name, u.key_id
                    ),
                }
            })
            .collect();
        let silent: Vec<String> = witnesses.missing.iter().map(|m| format!("`{m}`")).collect();
        if !silent.is_empty() {
            why.push(format!("no valid cosignature from {}", silent.join(", ")));
        }
        found.push(
            Discrepancy::new(
                Kind::WitnessQuorum,
                format!(
                    "checkpoint: {valid} of {} required witness cosignatures; {}",
                    trust.quorum,
                    why.join("; ")
                ),
            )
            .file(CHECKPOINT)
            .values(trust.quorum.to_string(), valid.to_string()),
        );
    }
}

/// Checks the lines of `bytes` (the checkpoint note) by untrusted keys against the witnesses
/// only `v1/keys.json` names (`listed`): a line verifying under the key the file gives moves
/// from `unknown` to `unpinned`; a line that does not verify under it, or that is by another
/// key under a listed witness's name, is a discrepancy (the file would send the page's
/// readers to a key that did not make the line).
pub(crate) fn check_listed(
    bytes: &[u8],
    listed: &[Listed],
    witnesses: &mut WitnessReport,
    found: &mut Vec<Discrepancy>,
) {
    let Ok(note) = Note::parse(bytes) else {
        return;
    };
    let mut still_unknown = Vec::new();
    for u in std::mem::take(&mut witnesses.unknown) {
        let same_name: Vec<&Listed> = listed.iter().filter(|l| l.key.name() == u.name).collect();
        let Some(first) = same_name.first() else {
            still_unknown.push(u);
            continue;
        };
        let by_key = same_name
            .iter()
            .find(|l| l.key.key_id().to_string() == u.key_id);
        let Some(l) = by_key else {
            found.push(
                Discrepancy::new(
                    Kind::Keys,
                    format!(
                        "{KEYS_JSON}: lists witness `{}` with key id {}, but the checkpoint's cosignature from `{}` is by key id {}: whoever checks against this file finds no valid cosignature from `{}`",
                        u.name,
                        first.key.key_id(),
                        u.name,
                        u.key_id,
                        u.name
                    ),
                )
                .file(KEYS_JSON)
                .field(format!("witnesses[{}].key", first.index))
                .values(format!("a key with id {}", u.key_id), first.key.to_vkey()),
            );
            continue;
        };
        let sig = note
            .signatures()
            .iter()
            .find(|s| s.name == u.name && s.key_id == l.key.key_id());
        let Some(sig) = sig else {
            still_unknown.push(u);
            continue;
        };
        match l.key.verify_signature(note.text(), sig) {
            // The same witness twice counts once.
            Ok(_) if witnesses.unpinned.iter().any(|c| c.name == u.name) => {}
            Ok(timestamp) => witnesses.unpinned.push(Cosigner {
                name: u.name,
                key_id: u.key_id,
                timestamp,
                time: rfc3339(timestamp),
            }),
            Err(e) => found.push(
                Discrepancy::new(
                    Kind::CosignatureInvalid,
                    format!(
                        "checkpoint: {e}: the line from `{}` does not verify under the key {KEYS_JSON} lists for that witness",
                        u.name
                    ),
                )
                .file(CHECKPOINT)
                .field(format!("cosignature {}", u.name)),
            ),
        }
    }
    witnesses.unknown = still_unknown;
}

#[cfg(test)]
mod tests {
    use urna_model::note::NoteSigner;
    use urna_tlog::cosignature::CosignatureSigner;
    use urna_tlog::{Hash, TreeSize};

    use super::*;

    struct Setup {
        log: NoteSigner,
        a: CosignatureSigner,
        b: CosignatureSigner,
    }

    fn setup() -> Setup {
        Setup {
            log: NoteSigner::from_seed("urna/el", &[1; 32]).unwrap(),
            a: CosignatureSigner::from_seed("agency", &[2; 32]).unwrap(),
            b: CosignatureSigner::from_seed("observers", &[3; 32]).unwrap(),
        }
    }

    fn trust(s: &Setup, quorum: Option<usize>) -> Trust {
        Trust::new(
            &s.log.verifier().to_vkey(),
            &[s.a.verifier().to_vkey(), s.b.verifier().to_vkey()],
            quorum,
        )
        .unwrap()
    }

    fn note(s: &Setup, cosigners: &[&CosignatureSigner]) -> Vec<u8> {
        let cp = Checkpoint::new("urna/el", TreeSize(5), Hash([9; 32]));
        let mut n = cp.sign(&s.log).unwrap();
        for c in cosigners {
            n.add_signature(c.cosign_at(n.text(), 1_700_000_000).unwrap());
        }
        n.to_bytes()
    }

    fn run(bytes: &[u8], t: &Trust) -> (Option<Checked>, WitnessReport, Vec<Discrepancy>) {
        let (mut w, mut found) = (WitnessReport::default(), Vec::new());
        let c = check(bytes, t, &mut w, &mut found);
        (c, w, found)
    }

    #[test]
    fn a_checkpoint_cosigned_by_the_quorum_verifies() {
        let s = setup();
        let (c, w, found) = run(&note(&s, &[&s.a, &s.b]), &trust(&s, None));
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(c.unwrap().checkpoint.size, TreeSize(5));
        assert_eq!(w.cosigned.len(), 2);
        assert_eq!(w.cosigned[0].time, "2023-11-14T22:13:20Z");
    }

    /// A witness rotating its key: a trust file listing its old and its new key accepts a
    /// cosignature by either, and counts the witness once even when both keys cosigned, so
    /// one witness cannot meet a quorum of two on its own.
    #[test]
    fn a_witness_with_two_trusted_keys_counts_once_toward_the_quorum() {
        let s = setup();
        let rotated = CosignatureSigner::from_seed("agency", &[7; 32]).unwrap();
        let keys = [
            s.a.verifier().to_vkey(),
            rotated.verifier().to_vkey(),
            s.b.verifier().to_vkey(),
        ];
        let t = Trust::new(&s.log.verifier().to_vkey(), &keys, None).unwrap();
        assert_eq!(t.quorum, 2);
        // The new key and the other witness: the quorum is met.
        let (_, w, found) = run(&note(&s, &[&rotated, &s.b]), &t);
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(w.trusted, 2);
        assert_eq!(w.cosigned.len(), 2);
        assert_eq!(
            w.cosigned[0].key_id,
            rotated.verifier().key_id().to_string()
        );
        // Both keys of one witness: one witness of the two required.
        let (_, w, found) = run(&note(&s, &[&s.a, &rotated]), &t);
        assert_eq!(w.cosigned.len(), 1);
        assert_eq!(w.missing, ["observers"]);
        let [d] = found.as_slice() else {
            panic!("{found:?}")
        };
        assert_eq!(d.kind, Kind::WitnessQuorum);
        assert!(d.message.contains("1 of 2"), "{}", d.message);
        // Trusting only the old key, the new key's line is not the witness's.
        let (_, w, found) = run(&note(&s, &[&rotated, &s.b]), &trust(&s, None));
        assert_eq!(w.unknown.len(), 1);
        assert!(
            found[0]
                .message
                .contains("is not by the trusted key of that witness"),
            "{found:?}"
        );
    }

    #[test]
    fn an_unknown_cosigner_is_named_when_the_quorum_fails() {
        let s = setup();
        let evil = CosignatureSigner::from_seed("evil-witness", &[6; 32]).unwrap();
        let (_, w, found) = run(&note(&s, &[&s.a, &evil]), &trust(&s, None));
        assert_eq!(w.unknown.len(), 1);
        let [d] = found.as_slice() else {
            panic!("{found:?}")
        };
        assert_eq!(d.kind, Kind::WitnessQuorum);
        assert!(
            d.message.contains(
                "1 of 2 required witness cosignatures; the line from `evil-witness` (key id "
            ) && d
                .message
                .contains("is not a trusted witness; no valid cosignature from `observers`"),
            "{}",
            d.message
        );
        // The same line under a trusted witness's name, with another key.
        let impostor = CosignatureSigner::from_seed("observers", &[7; 32]).unwrap();
        let (_, _, found) = run(&note(&s, &[&s.a, &impostor]), &trust(&s, None));
        assert!(
            found[0]
                .message
                .contains("is not by the trusted key of that witness"),
            "{found:?}"
        );
        // With a quorum of 1 the unknown line is only reported, not a discrepancy.
        let (_, w, found) = run(&note(&s, &[&s.a, &evil]), &trust(&s, Some(1)));
        assert!(found.is_empty() && w.unknown.len() == 1, "{found:?}");
    }

    #[test]
    fn bad_signatures_and_wrong_logs_are_discrepancies() {
        let s = setup();
        let good = note(&s, &[&s.a, &s.b]);
        // A cosignature of another checkpoint text pasted under this one.
        let other = {
            let cp = Checkpoint::new("urna/el", TreeSize(6), Hash([9; 32]));
            let mut n = cp.sign(&s.log).unwrap();
            n.add_signature(s.b.cosign_at(n.text(), 1).unwrap());
            n.to_bytes()
        };
        let pasted_line = String::from_utf8(other)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .to_owned();
        let good_text = String::from_utf8(good.clone()).unwrap();
        let b_line = good_text.lines().last().unwrap();
        let forged = good_text.replace(b_line, &pasted_line);
        let (_, _, found) = run(forged.as_bytes(), &trust(&s, None));
        let kinds: Vec<Kind> = found.iter().map(|d| d.kind).collect();
        assert_eq!(kinds, [Kind::CosignatureInvalid, Kind::WitnessQuorum]);

        let other_log = NoteSigner::from_seed("urna/el", &[8; 32]).unwrap();
        let t = Trust::new(&other_log.verifier().to_vkey(), &[], None).unwrap();
        let (c, _, found) = run(&good, &t);
        assert!(c.is_some_and(|c| !c.report.log_signature));
        // Another key of the same log: left to the log's key rotations (`rotation::settle`
        // reports it as checkpoint-signature when none hands over between the two keys).
        assert!(found.is_empty(), "{found:?}");
        let stranger = NoteSigner::from_seed("urna/other", &[8; 32]).unwrap();
        let t = Trust::new(&stranger.verifier().to_vkey(), &[], None).unwrap();
        let (_, _, found) = run(&good, &t);
        assert!(found.iter().any(|d| d.kind == Kind::CheckpointSignature));

        let (c, _, found) = run(b"not a note", &trust(&s, None));
        assert!(c.is_none());
        assert_eq!(found[0].kind, Kind::CheckpointMalformed);
    }
}
