//! Rotating the log's key: the rotation entry, checkpoints by the new key, reopening.

use urna_model::note::{NoteSigner, NoteVerifier};
use urna_model::rotation::RotationBody;

use super::*;

fn open_cp(note: &[u8], origin: &str, key: &NoteVerifier) -> Result<u64, String> {
    urna_tlog::checkpoint::open(note, origin, key)
        .map(|(cp, _)| cp.size.0)
        .map_err(|e| e.to_string())
}

#[test]
fn a_rotated_log_signs_later_checkpoints_with_the_new_key_and_reopens() {
    let f = fixture(60);
    let mut store = Store::init(&f.data, &f.definition).unwrap();
    ingest(&mut store, &f.protocols[..30]);
    let origin = store.log_origin().to_owned();
    let old = NoteVerifier::from_vkey(&store.log_vkey()).unwrap();
    let before = log::read_latest(&f.data).unwrap().unwrap();
    assert_eq!(open_cp(&before, &origin, &old), Ok(GENESIS + 30));

    // A key of another name, or the same key, is refused and stores nothing.
    let stranger = NoteSigner::from_seed("urna/other", &[9; 32]).unwrap();
    assert!(store.rotate_log_key(stranger, "r").is_err());
    let same = NoteSigner::from_skey(
        std::fs::read_to_string(f.data.join(log::LOG_KEY_FILE))
            .unwrap()
            .trim(),
    )
    .unwrap();
    assert!(store.rotate_log_key(same, "r").is_err());
    assert_eq!(store.len(), GENESIS + 30);

    let new_signer = NoteSigner::from_seed(&origin, &[9; 32]).unwrap();
    let new = new_signer.verifier();
    let index = store.rotate_log_key(new_signer, "scheduled").unwrap();
    assert_eq!(index, GENESIS + 30);
    assert_eq!(store.log_vkey(), new.to_vkey());
    assert_eq!(
        store.log_key_rotations(),
        vec![(index, old.to_vkey(), new.to_vkey())]
    );
    // The rotation entry: signed by both keys, naming both.
    let entry = store.entry(index).unwrap().unwrap();
    let body = RotationBody::check(&entry.note).unwrap();
    assert_eq!(body.old.to_vkey(&origin), old.to_vkey());
    assert_eq!(body.new.to_vkey(&origin), new.to_vkey());
    assert!(entry.station.is_empty() && !entry.quarantined);
    // The checkpoint that includes it is signed by the new key only.
    let after = log::read_latest(&f.data).unwrap().unwrap();
    assert_eq!(open_cp(&after, &origin, &new), Ok(index + 1));
    assert!(open_cp(&after, &origin, &old).is_err());

    ingest(&mut store, &f.protocols[30..]);
    let later = log::read_latest(&f.data).unwrap().unwrap();
    assert_eq!(open_cp(&later, &origin, &new), Ok(GENESIS + 61));
    let receipt = store.receipt(3, &[0; 32], 1);
    new.verify(&urna_model::note::Note::parse(&receipt).unwrap())
        .unwrap();
    let tally = store.rederive_tally(ContestIdx(0)).unwrap();
    drop(store);

    // Reopened: the new key is current, the tree and tally are the same.
    let mut store = Store::open(&f.data).unwrap();
    assert_eq!(store.log_vkey(), new.to_vkey());
    assert_eq!(store.log_key_rotations().len(), 1);
    assert_eq!(store.len(), GENESIS + 61);
    assert_eq!(store.tally(ContestIdx(0)).unwrap(), tally);
    assert_eq!(store.replay_upto(store.len()).unwrap().rotations().len(), 1);
    drop(store);

    // The key file replaced by the old key (a restore gone wrong) is refused at open.
    let key_path = f.data.join(log::LOG_KEY_FILE);
    let current = std::fs::read_to_string(&key_path).unwrap();
    std::fs::remove_file(&key_path).unwrap();
    let old_again = NoteSigner::from_seed(&origin, &[7; 32]).unwrap();
    write_secret(&key_path, &old_again.to_skey()).unwrap();
    let err = Store::open(&f.data).unwrap_err().to_string();
    assert!(err.contains("rotated the log's key to"), "{err}");
    std::fs::remove_file(&key_path).unwrap();
    write_secret(&key_path, current.trim()).unwrap();
    Store::open(&f.data).unwrap();
}

#[test]
fn a_rotation_interrupted_after_its_entry_is_finished_at_open() {
    let f = fixture(10);
    let mut store = Store::init(&f.data, &f.definition).unwrap();
    ingest(&mut store, &f.protocols);
    let origin = store.log_origin().to_owned();
    let new_signer = NoteSigner::from_seed(&origin, &[5; 32]).unwrap();
    let new_vkey = new_signer.verifier().to_vkey();
    store.rotate_log_key(new_signer, "r").unwrap();
    drop(store);
    // As if the process died after the commit and before the key file was renamed: the old
    // key in log.key, the new one in log.next.key, the last checkpoint by the old key.
    let key_path = f.data.join(log::LOG_KEY_FILE);
    let next_path = f.data.join(log::NEXT_LOG_KEY_FILE);
    std::fs::rename(&key_path, &next_path).unwrap();
    // Whatever log.key holds then, the logged rotation names the key the open takes.
    write_secret(
        &key_path,
        &NoteSigner::from_seed(&origin, &[6; 32]).unwrap().to_skey(),
    )
    .unwrap();
    let store = Store::open(&f.data).unwrap();
    assert_eq!(store.log_vkey(), new_vkey);
    assert!(!next_path.exists());
}

/// A backup of a rotated log, whose published checkpoint is still the old key's (the
/// witnesses lag): taken, and restored with a checkpoint of each key given to compare.
#[test]
fn a_rotated_log_is_backed_up_and_restored_with_checkpoints_of_both_keys() {
    let f = fixture(20);
    let mut store = Store::init(&f.data, &f.definition).unwrap();
    ingest(&mut store, &f.protocols[..10]);
    let old_cp = log::read_latest(&f.data).unwrap().unwrap();
    let origin = store.log_origin().to_owned();
    store
        .rotate_log_key(NoteSigner::from_seed(&origin, &[4; 32]).unwrap(), "r")
        .unwrap();
    ingest(&mut store, &f.protocols[10..]);
    let new_cp = log::read_latest(&f.data).unwrap().unwrap();
    drop(store);
    // The published checkpoint is still the one the old key signed.
    std::fs::write(f.data.join(log::LOG_DIR).join("checkpoint"), &old_cp).unwrap();
    let out = f.data.parent().unwrap().join("backup");
    crate::backup::backup(&f.data, &out, true, &SystemClock).unwrap();
    let b = crate::backup::Backup::open(&out).unwrap();
    let target = f.data.parent().unwrap().join("restored");
    let given = [
        crate::backup::GivenCheckpoint {
            source: "old".into(),
            note: old_cp,
        },
        crate::backup::GivenCheckpoint {
            source: "new".into(),
            note: new_cp,
        },
    ];
    b.restore(&target, None, &given, None).unwrap();
    let store = Store::open(&target).unwrap();
    assert_eq!(store.len(), GENESIS + 21);
    assert_eq!(store.log_key_rotations().len(), 1);
}

/// A rotation names the tree it follows; a rotation entry whose `size` or `root` is not the
/// tree before it (a history rewritten under the new key, the old note logged again) is
/// refused at open, naming the field.
#[test]
fn a_rotation_naming_another_size_or_root_is_refused_at_open() {
    let f = fixture(10);
    let mut store = Store::init(&f.data, &f.definition).unwrap();
    ingest(&mut store, &f.protocols[..5]);
    let origin = store.log_origin().to_owned();
    let old = NoteSigner::from_skey(
        std::fs::read_to_string(f.data.join(log::LOG_KEY_FILE))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let new = NoteSigner::from_seed(&origin, &[8; 32]).unwrap();
    let index = store.rotate_log_key(new.clone(), "r").unwrap();
    // The logged rotation names its own index and the root before it.
    let body = RotationBody::check(&store.entry(index).unwrap().unwrap().note).unwrap();
    assert_eq!(body.size, index);
    assert_eq!(body.root, store.log.root_at(index).unwrap().0);
    ingest(&mut store, &f.protocols[5..]);
    drop(store);
    let saved = f.data.parent().unwrap().join("saved");
    copy_dir(&f.data, &saved);
    for (size, root, field) in [
        (index - 1, body.root, "field `size`"),
        (index, [0x5a; 32], "field `root`"),
    ] {
        let dir = f.data.parent().unwrap().join(format!("bad-{size}"));
        copy_dir(&saved, &dir);
        let note = RotationBody::sign(&old, &new, size, &root, "r").unwrap();
        let text = RotationBody::check(&note).unwrap().to_text();
        let side = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
        side.execute(
            "UPDATE entries SET note = ?1, hash = ?2, text_hash = ?3 WHERE idx = ?4",
            rusqlite::params![
                note,
                urna_model::intake::sha256(&note).as_slice(),
                urna_model::intake::sha256(text.as_bytes()).as_slice(),
                i64::try_from(index).unwrap()
            ],
        )
        .unwrap();
        drop(side);
        // The log's files go too, as a rewriter would remove them; the database alone speaks.
        std::fs::remove_dir_all(dir.join(log::LOG_DIR)).unwrap();
        std::fs::remove_file(dir.join(log::LATEST_CHECKPOINT_FILE)).unwrap();
        let err = Store::open(&dir).unwrap_err().to_string();
        assert!(err.contains(field), "{field:?} not in {err}");
    }
    // The untouched copy opens.
    Store::open(&saved).unwrap();
}

/// Rotating back to a key the log has retired is refused.
#[test]
fn rotating_back_to_a_retired_key_is_refused() {
    let f = fixture(4);
    let mut store = Store::init(&f.data, &f.definition).unwrap();
    ingest(&mut store, &f.protocols);
    let origin = store.log_origin().to_owned();
    let first = NoteSigner::from_skey(
        std::fs::read_to_string(f.data.join(log::LOG_KEY_FILE))
            .unwrap()
            .trim(),
    )
    .unwrap();
    store
        .rotate_log_key(NoteSigner::from_seed(&origin, &[8; 32]).unwrap(), "r")
        .unwrap();
    let len = store.len();
    let err = store.rotate_log_key(first, "back").unwrap_err().to_string();
    assert!(err.contains("retired"), "{err}");
    assert_eq!(store.len(), len);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}
