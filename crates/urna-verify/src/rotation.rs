//! The log's key rotations (`urna/key-rotation/v1` entries): which key signs a checkpoint.
//!
//! A rotation at index `i`, signed by both keys it names, hands the log over from its `old:`
//! key to its `new:` key: a checkpoint of `size <= i` entries is signed by the old key, one of
//! `size > i` by the new key. The keys form a chain from the key that signed the genesis. The
//! trusted key must be one of them: trusting the first key, every checkpoint is checked by
//! following the chain forwards; trusting a later key, the checkpoints from its rotation on
//! are checked by it, and what came before rests on the rotation it signed (the past is then
//! vouched for by the new key alone, which is what `--log-key NEW` cannot check).

use urna_model::note::{Note, NoteVerifier};
use urna_model::rotation::RotationBody;

use urna_tlog::tile::{TILE_WIDTH, Tile};

use crate::checkpoint::{CHECKPOINT, Checked};
use crate::log::{Counter, decode_lenient, entry_tile_path, fetch_tile};
use crate::report::{Discrepancy, Kind, Report};
use crate::source::{Source, SourceError};
use crate::trust::Trust;

/// Checks the checkpoint's log signature (and the genesis's, if it was left to this) against
/// the key the rotations give for its size; adds a discrepancy for each that does not hold.
///
/// `listed` is what `v1/keys.json` lists (index, old key, new key): a checkpoint signed by the
/// new key of a listed rotation that its tree does not include is named as such
/// ([`Kind::CheckpointKeyRotated`]), not merely as unsigned.
pub(crate) fn settle(
    trust: &Trust,
    cp: &Checked,
    genesis_rotated: Option<&Note>,
    rotations: &[(u64, RotationBody)],
    listed: &[(u64, String, String)],
    report: &mut Report,
    found: &mut Vec<Discrepancy>,
) {
    let size = cp.checkpoint.size.0;
    // A new key that signed a checkpoint before its rotation entry is in the tree.
    let early = |found: &mut Vec<Discrepancy>| -> bool {
        let hit = listed.iter().find(|(index, _, new)| {
            *index >= size
                && NoteVerifier::from_vkey(new)
                    .is_ok_and(|k| k.name() == trust.log.name() && k.verify(&cp.note).is_ok())
        });
        if let Some((index, _, new)) = hit {
            found.push(
                Discrepancy::new(
                    Kind::CheckpointKeyRotated,
                    format!(
                        "checkpoint: signed by log key {new}, whose rotation is entry {index} (as v1/keys.json lists it), which a checkpoint of {size} entries does not include: a new key signs only the checkpoints that include its rotation"
                    ),
                )
                .file(CHECKPOINT),
            );
        }
        hit.is_some()
    };
    let trusted = &trust.log;
    let other_key = |note: &Note| {
        trusted.verify(note).is_err()
            && note
                .signatures()
                .iter()
                .any(|s| s.name == trusted.name() && s.key_id != trusted.key_id())
    };
    let signature_missing = |what: &str| {
        Discrepancy::new(
            Kind::CheckpointSignature,
            format!(
                "{what}: it is signed by another key of log {:?}, not by the trusted log key {}, and no key rotation in the log hands over between them",
                trusted.name(),
                trusted.to_vkey()
            ),
        )
    };
    // Every key of the chain, in order: the first rotation's old key, then each new key.
    let mut chain: Vec<(Option<u64>, NoteVerifier)> = Vec::new();
    for (index, body) in rotations {
        if body.origin != trusted.name() {
            found.push(
                Discrepancy::new(
                    Kind::KeyRotation,
                    format!(
                        "entry {index}: a key rotation of log {:?}, not of the trusted log {:?}",
                        body.origin,
                        trusted.name()
                    ),
                )
                .index(*index),
            );
            return;
        }
        let verifier = |k: &urna_model::rotation::LogKey| k.verifier(&body.origin).ok();
        if chain.is_empty()
            && let Some(old) = verifier(&body.old)
        {
            chain.push((None, old));
        }
        if let Some(new) = verifier(&body.new) {
            chain.push((Some(*index), new));
        }
    }
    if chain.is_empty() {
        if other_key(&cp.note) && !early(found) {
            found.push(signature_missing("checkpoint").file(CHECKPOINT));
        }
        if genesis_rotated.is_some() {
            found.push(
                Discrepancy::new(
                    Kind::Genesis,
                    format!(
                        "entry 0: the genesis is signed by another key of log {:?}, not by the trusted log key {}, and the log has no key rotation",
                        trusted.name(),
                        trusted.to_vkey()
                    ),
                )
                .index(0),
            );
        }
        return;
    }
    let same = |a: &NoteVerifier, b: &NoteVerifier| a.key_id() == b.key_id() && a == b;
    // Any key of the chain may be the trusted one (see the module doc).
    if !chain.iter().any(|(_, k)| same(k, trusted)) {
        found.push(
            Discrepancy::new(
                Kind::KeyRotation,
                format!(
                    "the log's key rotations (entries {}) hand over between keys {}, none of which is the trusted log key {}",
                    rotations
                        .iter()
                        .map(|(i, _)| i.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    chain
                        .iter()
                        .map(|(_, k)| k.to_vkey())
                        .collect::<Vec<_>>()
                        .join(", "),
                    trusted.to_vkey()
                ),
            )
            .values(trusted.to_vkey(), chain[0].1.to_vkey()),
        );
        if other_key(&cp.note) {
            found.push(signature_missing("checkpoint").file(CHECKPOINT));
        }
        return;
    }

    // The genesis: signed by the first key of the chain.
    let first = &chain[0].1;
    match genesis_rotated {
        Some(note) if first.verify(note).is_err() => found.push(
            Discrepancy::new(
                Kind::Genesis,
                format!(
                    "entry 0: the genesis is not signed by {}, the key the first key rotation hands over",
                    first.to_vkey()
                ),
            )
            .index(0),
        ),
        None if !same(first, trusted) => found.push(
            Discrepancy::new(
                Kind::Genesis,
                format!(
                    "entry 0: the genesis is signed by the trusted key {}, but the first key rotation hands over {}",
                    trusted.to_vkey(),
                    first.to_vkey()
                ),
            )
            .index(0),
        ),
        _ => {}
    }

    // The checkpoint: signed by the key of its size.
    let expected = chain
        .iter()
        .rposition(|(from, _)| from.is_none_or(|i| i < size))
        .unwrap_or(0);
    let (expected_from, expected_key) = &chain[expected];
    if expected_key.verify(&cp.note).is_ok() {
        if let Some(c) = report.checkpoint.as_mut() {
            c.log_signature = true;
        }
        return;
    }
    if let Some(c) = report.checkpoint.as_mut() {
        c.log_signature = false;
    }
    let signer = chain.iter().position(|(_, k)| k.verify(&cp.note).is_ok());
    let Some(signer) = signer else {
        if early(found) {
            return;
        }
        found.push(
            Discrepancy::new(
                Kind::CheckpointSignature,
                format!(
                    "checkpoint: it is not signed by {}, the log key for a checkpoint of {size} entries (after the key rotations in the log)",
                    expected_key.to_vkey()
                ),
            )
            .file(CHECKPOINT),
        );
        return;
    };
    let (signer_from, signer_key) = &chain[signer];
    let why = if signer < expected {
        format!(
            "entry {} rotated the log's key to {}, and a checkpoint of {size} entries includes that rotation: the old key may not sign it",
            expected_from.unwrap_or_default(),
            expected_key.to_vkey()
        )
    } else {
        format!(
            "the key's rotation is entry {}, which a checkpoint of {size} entries does not include: a new key signs only the checkpoints that include its rotation",
            signer_from.unwrap_or_default()
        )
    };
    found.push(
        Discrepancy::new(
            Kind::CheckpointKeyRotated,
            format!(
                "checkpoint: signed by log key {}, not by {}: {why}",
                signer_key.to_vkey(),
                expected_key.to_vkey()
            ),
        )
        .file(CHECKPOINT)
        .values(expected_key.to_vkey(), signer_key.to_vkey()),
    );
}

/// Whether the checkpoint, not signed by the trusted log key, is signed by a key the trusted
/// key handed over to: following the rotations `v1/keys.json` lists (`listed`: index, old key,
/// new key) inside the checkpoint's tree, from the trusted key, each rotation's entry fetched
/// and checked to be signed by both keys it names. Until then the checkpoint's size and root
/// are what whoever wrote it claims, and the log is not read for them: a mirror could claim
/// 2^40 entries and answer every entry bundle with made-up ones. A listed rotation from the
/// current key whose entry is not such a rotation is a discrepancy, and ends the walk.
/// Where the rotation sits in the tree (the tree it names) is checked once the log is read.
///
/// # Errors
/// [`SourceError`] if the source fails.
pub(crate) fn vouched(
    source: &dyn Source,
    trust: &Trust,
    cp: &Checked,
    listed: &[(u64, String, String)],
    fetched: &Counter,
    found: &mut Vec<Discrepancy>,
) -> Result<bool, SourceError> {
    let size = cp.checkpoint.size.0;
    let mut listed: Vec<&(u64, String, String)> =
        listed.iter().filter(|(index, ..)| *index < size).collect();
    listed.sort_by_key(|(index, ..)| *index);
    let mut current = trust.log.clone();
    for (index, old, new) in listed {
        if NoteVerifier::from_vkey(old).ok().as_ref() != Some(&current) {
            continue;
        }
        let rotation_error = |problem: String| {
            Discrepancy::new(
                Kind::KeyRotation,
                format!("entry {index}: {problem} (v1/keys.json lists a key rotation there)"),
            )
            .file(entry_tile_path(*index))
            .index(*index)
        };
        let bundle = index / u64::from(TILE_WIDTH);
        let width = u16::try_from((size - bundle * u64::from(TILE_WIDTH)).min(256)).unwrap_or(256);
        let entry = match Tile::entries(bundle, width) {
            Ok(tile) => fetch_tile(source, &tile, fetched)?.and_then(|(bytes, from)| {
                let at = usize::try_from(index % u64::from(TILE_WIDTH)).unwrap_or(usize::MAX);
                decode_lenient(&bytes, usize::from(from))
                    .0
                    .get(at)
                    .map(|e| e.to_vec())
            }),
            Err(_) => None,
        };
        let Some(entry) = entry else {
            found.push(rotation_error("missing or unreadable".to_owned()));
            return Ok(false);
        };
        let body = match RotationBody::check(&entry) {
            Ok(body) => body,
            Err(e) => {
                found.push(rotation_error(format!(
                    "not a key rotation signed by both of its keys: {e}"
                )));
                return Ok(false);
            }
        };
        let next = body.new.verifier(&body.origin).ok();
        if body.origin != trust.log.name()
            || body.old.verifier(&body.origin).ok().as_ref() != Some(&current)
            || next.as_ref().map(NoteVerifier::to_vkey).as_deref() != Some(new.as_str())
        {
            found.push(rotation_error(format!(
                "the rotation there hands over from {} to {}, not from {old} to {new}",
                body.old.to_vkey(&body.origin),
                body.new.to_vkey(&body.origin)
            )));
            return Ok(false);
        }
        let Some(next) = next else {
            return Ok(false);
        };
        current = next;
        if current.verify(&cp.note).is_ok() {
            return Ok(true);
        }
    }
    Ok(false)
}
