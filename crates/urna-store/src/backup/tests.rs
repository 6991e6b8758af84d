use std::path::{Path, PathBuf};

use urna_sim::{SimConfig, Simulation};
use urna_tlog::SystemClock;
use urna_tlog::cosignature::CosignatureSigner;

use super::*;
use crate::IngestOptions;
use urna_model::protocol::ProtocolBody;

struct Fixture {
    dir: tempfile::TempDir,
    data: PathBuf,
    protocols: Vec<Vec<u8>>,
}

impl Fixture {
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

/// A small simulated election, initialised in `data`.
fn fixture(stations: u32) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulation::new(SimConfig {
        stations,
        districts: 3,
        error_rate_per_10k: 1500,
        ..SimConfig::default()
    });
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("election.toml"), sim.definition_toml()).unwrap();
    let mut csv = format!("{}\n", urna_sim::STATIONS_HEADER);
    let mut protocols = Vec::new();
    for i in 0..stations {
        let s = sim.station(i);
        csv.push_str(&sim.station_row(&s));
        csv.push('\n');
        protocols.push(sim.protocol_note(&s));
    }
    std::fs::write(src.join("stations.csv"), csv).unwrap();
    let data = dir.path().join("data");
    Store::init(&data, &src.join("election.toml")).unwrap();
    Fixture {
        data,
        dir,
        protocols,
    }
}

fn ingest(store: &mut Store, notes: &[Vec<u8>]) {
    let opts = IngestOptions {
        chunk: 7,
        commit_every: 20,
        ..IngestOptions::default()
    };
    store
        .ingest(notes.iter().cloned().map(Ok), &opts, &SystemClock, |_| {})
        .unwrap();
}

fn ingest_into(data: &Path, notes: &[Vec<u8>]) {
    let mut store = Store::open(data).unwrap();
    ingest(&mut store, notes);
}

fn latest(data: &Path) -> GivenCheckpoint {
    GivenCheckpoint {
        source: "log-latest.checkpoint".into(),
        note: std::fs::read(data.join(LATEST_CHECKPOINT_FILE)).unwrap(),
    }
}

fn entry_notes(data: &Path) -> Vec<Vec<u8>> {
    Store::open(data)
        .unwrap()
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| e.note)
        .collect()
}

#[test]
fn backup_restores_every_entry_and_the_log_checks() {
    let f = fixture(40);
    ingest_into(&f.data, &f.protocols);
    let out = f.path("backup");
    let summary = backup(&f.data, &out, true, &SystemClock).unwrap();
    assert_eq!(summary.info.format, FORMAT);
    assert_eq!(summary.info.log_size, 41);
    assert_eq!(summary.info.signed_size, 41);
    assert!(
        summary
            .info
            .files
            .contains(&"data/secrets/log.key".to_owned())
    );
    assert!(summary.info.files.contains(&"data/urna.sqlite".to_owned()));

    let b = Backup::open(&out).unwrap();
    let target = f.path("restored");
    let r = b.restore(&target, None, &[latest(&f.data)], None).unwrap();
    assert_eq!(r.log_size, 41);
    assert_eq!(
        r.checked_against,
        Some(("log-latest.checkpoint".into(), 41))
    );
    assert_eq!(r.published_size, Some(41));
    assert_eq!(entry_notes(&target), entry_notes(&f.data));
    // The tiles were written again: byte for byte those of the original.
    for tile in ["log/tile/0/000.p/41", "log/tile/entries/000.p/41"] {
        assert_eq!(
            std::fs::read(target.join(tile)).unwrap(),
            std::fs::read(f.data.join(tile)).unwrap(),
            "{tile}"
        );
    }
    // The restored directory takes intake where the original stopped.
    let mut store = Store::open(&target).unwrap();
    assert_eq!(store.len(), 41);
    ingest(&mut store, &f.protocols[..3]);
    assert_eq!(store.len(), 41, "the same notes again are duplicates");
    // No staging directory is left beside it.
    let left: Vec<_> = std::fs::read_dir(f.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("restoring"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn backup_taken_while_another_thread_ingests_is_consistent() {
    let f = fixture(300);
    let data = f.data.clone();
    let notes = f.protocols.clone();
    let writer = std::thread::spawn(move || {
        let mut store = Store::open(&data).unwrap();
        for chunk in notes.chunks(10) {
            ingest(&mut store, chunk);
        }
    });
    let mut sizes = Vec::new();
    for i in 0..6 {
        let out = f.path(&format!("backup-{i}"));
        let s = backup(&f.data, &out, true, &SystemClock).unwrap();
        assert!(s.info.signed_size <= s.info.log_size);
        let target = f.path(&format!("restored-{i}"));
        let r = Backup::open(&out)
            .unwrap()
            .restore(&target, None, &[], None)
            .unwrap();
        assert_eq!(r.log_size, s.info.log_size);
        sizes.push(s.info.log_size);
    }
    writer.join().unwrap();
    assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "{sizes:?}");
    // A backup after the last commit holds everything.
    let out = f.path("backup-final");
    let s = backup(&f.data, &out, true, &SystemClock).unwrap();
    assert_eq!(s.info.log_size, 301);
}

#[test]
fn a_changed_missing_or_extra_file_is_refused_by_name() {
    let f = fixture(10);
    ingest_into(&f.data, &f.protocols);
    let out = f.path("backup");
    backup(&f.data, &out, false, &SystemClock).unwrap();
    assert!(Backup::open(&out).is_ok());

    let stations = out.join("data/stations.csv");
    let original = std::fs::read(&stations).unwrap();
    let mut changed = original.clone();
    changed[0] ^= 1;
    std::fs::write(&stations, &changed).unwrap();
    let e = Backup::open(&out).unwrap_err();
    assert!(
        matches!(&e, BackupError::Manifest { file, .. } if file == "data/stations.csv"),
        "{e}"
    );
    assert!(e.is_refusal());
    assert!(e.to_string().contains("data/stations.csv"), "{e}");
    std::fs::write(&stations, &original).unwrap();

    std::fs::write(out.join("data/extra.key"), b"x").unwrap();
    let e = Backup::open(&out).unwrap_err();
    assert!(
        matches!(&e, BackupError::Manifest { file, .. } if file == "data/extra.key"),
        "{e}"
    );
    std::fs::remove_file(out.join("data/extra.key")).unwrap();

    std::fs::remove_file(out.join("data/log.vkey")).unwrap();
    let e = Backup::open(&out).unwrap_err();
    assert!(
        matches!(&e, BackupError::Manifest { file, .. } if file == "data/log.vkey"),
        "{e}"
    );
}

#[test]
fn restoring_a_backup_older_than_a_signed_checkpoint_is_refused_as_rollback() {
    let f = fixture(30);
    ingest_into(&f.data, &f.protocols[..10]);
    let out = f.path("backup");
    backup(&f.data, &out, true, &SystemClock).unwrap();
    ingest_into(&f.data, &f.protocols[10..]);
    let target = f.path("restored");
    let e = Backup::open(&out)
        .unwrap()
        .restore(&target, None, &[latest(&f.data)], None)
        .unwrap_err();
    assert!(
        matches!(
            e,
            BackupError::Rollback {
                backup_size: 11,
                checkpoint_size: 31,
                lost: 20,
                ..
            }
        ),
        "{e}"
    );
    let text = e.to_string();
    assert!(text.contains("11 entries") && text.contains("31"), "{text}");
    assert!(!target.exists(), "a refused restore leaves nothing");
    // The same backup against an older checkpoint, or none, restores.
    let old = f.path("old.checkpoint");
    std::fs::copy(out.join("data/log-latest.checkpoint"), &old).unwrap();
    let given = GivenCheckpoint {
        source: "old.checkpoint".into(),
        note: std::fs::read(&old).unwrap(),
    };
    let r = Backup::open(&out)
        .unwrap()
        .restore(&target, None, &[given, latest(&f.data)][..1], None)
        .unwrap();
    assert_eq!(r.log_size, 11);
}

#[test]
fn restoring_a_backup_of_another_history_is_refused_as_fork() {
    let f = fixture(30);
    ingest_into(&f.data, &f.protocols[..10]);
    // A copy of the directory, same log key, then two different histories.
    let other = f.path("other");
    std::fs::create_dir_all(other.join("log")).unwrap();
    copy_tree(&f.data, &other);
    ingest_into(&f.data, &f.protocols[10..20]);
    ingest_into(&other, &f.protocols[20..25]);
    let out = f.path("backup");
    backup(&f.data, &out, true, &SystemClock).unwrap();
    let e = Backup::open(&out)
        .unwrap()
        .restore(&f.path("restored"), None, &[latest(&other)], None)
        .unwrap_err();
    assert!(matches!(e, BackupError::Fork { size: 16, .. }), "{e}");
    assert!(e.is_refusal());
    assert!(!f.path("restored").exists());
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn restore_needs_the_log_key_of_this_log() {
    let f = fixture(5);
    ingest_into(&f.data, &f.protocols);
    let out = f.path("backup");
    let s = backup(&f.data, &out, false, &SystemClock).unwrap();
    assert!(!s.info.files.iter().any(|p| p.contains("secrets")));
    let b = Backup::open(&out).unwrap();
    let target = f.path("restored");
    let e = b.restore(&target, None, &[], None).unwrap_err();
    assert!(matches!(e, BackupError::LogKey(_)), "{e}");
    assert!(e.to_string().contains("--secrets"), "{e}");
    // Another election's key is refused.
    let g = fixture(5);
    let e = b
        .restore(&target, Some(&g.data.join("secrets")), &[], None)
        .unwrap_err();
    assert!(matches!(e, BackupError::LogKey(_)), "{e}");
    assert!(!target.exists());
    // The right key, kept apart.
    let r = b
        .restore(&target, Some(&f.data.join("secrets")), &[], None)
        .unwrap();
    assert_eq!(r.log_size, 6);
    drop(g);
}

#[test]
fn restore_and_backup_never_write_into_a_non_empty_directory() {
    let f = fixture(5);
    let out = f.path("backup");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep"), b"mine").unwrap();
    let e = backup(&f.data, &out, true, &SystemClock).unwrap_err();
    assert!(matches!(e, BackupError::NotEmpty { .. }), "{e}");
    std::fs::remove_file(out.join("keep")).unwrap();
    // An empty directory is fine.
    backup(&f.data, &out, true, &SystemClock).unwrap();
    let target = f.path("busy");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("keep"), b"mine").unwrap();
    let e = Backup::open(&out)
        .unwrap()
        .restore(&target, None, &[], None)
        .unwrap_err();
    assert!(matches!(e, BackupError::NotEmpty { .. }), "{e}");
    assert_eq!(std::fs::read(target.join("keep")).unwrap(), b"mine");
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 1);
}

#[test]
fn a_given_checkpoint_needs_the_witness_quorum() {
    let f = fixture(8);
    ingest_into(&f.data, &f.protocols);
    let out = f.path("backup");
    backup(&f.data, &out, true, &SystemClock).unwrap();
    let a = CosignatureSigner::from_seed("witness-a", &[1; 32]).unwrap();
    let b = CosignatureSigner::from_seed("witness-b", &[2; 32]).unwrap();
    let mut note = Note::parse(&latest(&f.data).note).unwrap();
    note.add_signature(a.cosign_at(note.text(), 1_700_000_000).unwrap());
    let cosigned = GivenCheckpoint {
        source: "cosigned.checkpoint".into(),
        note: note.to_bytes(),
    };
    let quorum = |q| WitnessQuorum {
        witnesses: vec![
            ("witness-a".into(), a.verifier()),
            ("witness-b".into(), b.verifier()),
        ],
        quorum: q,
    };
    let backup = Backup::open(&out).unwrap();
    let e = backup
        .restore(
            &f.path("r1"),
            None,
            std::slice::from_ref(&cosigned),
            Some(&quorum(2)),
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            BackupError::Witnesses {
                cosigned: 1,
                quorum: 2,
                ..
            }
        ),
        "{e}"
    );
    // A cosignature line by a listed witness that does not verify is named.
    let mut forged = Note::parse(&cosigned.note).unwrap();
    let mut sig = b.cosign_at(forged.text(), 1_700_000_000).unwrap();
    let last = sig.signature.len() - 1;
    sig.signature[last] ^= 1;
    forged.add_signature(sig);
    let forged = GivenCheckpoint {
        source: "forged.checkpoint".into(),
        note: forged.to_bytes(),
    };
    let e = backup
        .restore(&f.path("r2"), None, &[forged], Some(&quorum(1)))
        .unwrap_err();
    assert!(e.to_string().contains("witness-b"), "{e}");
    let r = backup
        .restore(&f.path("r3"), None, &[cosigned], Some(&quorum(1)))
        .unwrap();
    assert_eq!(r.checked_against.map(|c| c.1), Some(9));
}

/// Rewrites `MANIFEST.sha256` for the files as they are now, as someone editing a backup
/// with care would.
fn reseal(out: &Path) {
    let mut manifest = String::new();
    for rel in list_files(out).unwrap() {
        if rel != MANIFEST {
            let bytes = std::fs::read(out.join(&rel)).unwrap();
            manifest.push_str(&format!(
                "{}  {rel}\n",
                hex(&urna_model::intake::sha256(&bytes))
            ));
        }
    }
    std::fs::write(out.join(MANIFEST), manifest).unwrap();
}

#[test]
fn a_vote_moved_in_the_snapshot_is_refused_even_with_a_resealed_manifest() {
    let f = fixture(12);
    ingest_into(&f.data, &f.protocols);
    let out = f.path("backup");
    backup(&f.data, &out, true, &SystemClock).unwrap();
    let db = out.join("data").join(DB_FILE);
    let conn = Connection::open(&db).unwrap();
    let note: Vec<u8> = conn
        .query_row("SELECT note FROM entries WHERE idx = 5", [], |r| r.get(0))
        .unwrap();
    // One vote moved from the second list to the first: the totals still add up and the note
    // still parses (signatures are checked at intake, not at open); the log's root catches it.
    let text = String::from_utf8(note).unwrap();
    let mut seen = 0;
    let edited: String = text
        .split_inclusive('\n')
        .map(|line| match line.strip_prefix("votes: ") {
            Some(rest) if seen < 2 => {
                let (list, n) = rest.trim_end().rsplit_once(' ').unwrap();
                let n: i64 = n.parse().unwrap();
                seen += 1;
                let moved = if seen == 1 { n + 1 } else { n - 1 };
                format!("votes: {list} {moved}\n")
            }
            _ => line.to_owned(),
        })
        .collect();
    assert_ne!(edited, text);
    // The derived columns rewritten to match, as a careful editor would.
    let sha = |b: &[u8]| urna_model::intake::sha256(b).to_vec();
    let text_hash = sha(Note::parse(edited.as_bytes()).unwrap().text().as_bytes());
    conn.execute(
        "UPDATE entries SET note = ?1, hash = ?2, text_hash = ?3 WHERE idx = 5",
        rusqlite::params![edited.as_bytes(), sha(edited.as_bytes()), text_hash],
    )
    .unwrap();
    drop(conn);
    reseal(&out);
    let e = Backup::open(&out)
        .unwrap()
        .restore(&f.path("restored"), None, &[], None)
        .unwrap_err();
    assert!(matches!(e, BackupError::Inconsistent(_)), "{e}");
    assert!(e.is_refusal());
    assert!(!f.path("restored").exists());

    // backup.toml rewritten to the edited root too: the checkpoint the log signed refuses it.
    let (_, roots) = snapshot_roots(&db, &[]).unwrap();
    let info_path = out.join(BACKUP_TOML);
    let mut info: BackupInfo =
        toml::from_str(&std::fs::read_to_string(&info_path).unwrap()).unwrap();
    info.root_hash = roots[&info.log_size].to_base64();
    std::fs::write(&info_path, toml::to_string(&info).unwrap()).unwrap();
    reseal(&out);
    let e = Backup::open(&out)
        .unwrap()
        .restore(&f.path("restored"), None, &[], None)
        .unwrap_err();
    assert!(matches!(e, BackupError::Fork { size: 13, .. }), "{e}");
    assert!(!f.path("restored").exists());
}

#[test]
fn a_symbolic_link_in_a_backup_is_refused() {
    let f = fixture(3);
    let out = f.path("backup");
    backup(&f.data, &out, false, &SystemClock).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", out.join("data/link")).unwrap();
    let e = Backup::open(&out).unwrap_err();
    assert!(
        matches!(&e, BackupError::Manifest { file, .. } if file == "data/link"),
        "{e}"
    );
}

/// `backup.toml` names the files restore copies: a path that leaves the new directory is
/// refused when the backup is opened, even with the manifest resealed, and nothing is written.
#[test]
fn a_file_path_outside_the_backup_is_refused() {
    let f = fixture(5);
    ingest_into(&f.data, &f.protocols);
    let out = f.path("backup");
    backup(&f.data, &out, false, &SystemClock).unwrap();
    let toml_path = out.join(BACKUP_TOML);
    let original = std::fs::read_to_string(&toml_path).unwrap();
    for evil in ["data//tmp/urna-restore-escape", "data/../escape"] {
        let text = original.replacen("files = [", &format!("files = [\n    {evil:?},"), 1);
        assert_ne!(text, original);
        std::fs::write(&toml_path, &text).unwrap();
        reseal(&out);
        let e = Backup::open(&out).unwrap_err();
        assert!(e.to_string().contains(evil), "{e}");
        assert!(e.to_string().contains("files"), "{e}");
    }
    assert!(!Path::new("/tmp/urna-restore-escape").exists());
}

/// Appends to a backup's database, after every entry the log signed, `note` with one vote
/// moved (its station signature no longer verifies), the columns derived from it as a careful
/// editor would, `backup.toml` rewritten to the new size and root, and the manifest resealed.
fn append_forged(out: &Path, note: &[u8]) -> u64 {
    let text = String::from_utf8(note.to_vec()).unwrap();
    let mut seen = 0;
    let forged: String = text
        .split_inclusive('\n')
        .map(|line| match line.strip_prefix("votes: ") {
            Some(rest) if seen < 2 => {
                let (list, n) = rest.trim_end().rsplit_once(' ').unwrap();
                let n: i64 = n.parse().unwrap();
                seen += 1;
                let moved = if seen == 1 { n + 1 } else { n - 1 };
                format!("votes: {list} {moved}\n")
            }
            _ => line.to_owned(),
        })
        .collect();
    assert_ne!(forged, text);
    let parsed = Note::parse(forged.as_bytes()).unwrap();
    let body = ProtocolBody::parse(parsed.text()).unwrap();
    let sha = |b: &[u8]| urna_model::intake::sha256(b).to_vec();
    let db = out.join("data").join(DB_FILE);
    let conn = Connection::open(&db).unwrap();
    let index: i64 = conn
        .query_row("SELECT max(idx) + 1 FROM entries", [], |r| r.get(0))
        .unwrap();
    conn.execute(
        "INSERT INTO entries (idx, hash, text_hash, contest, station, revision, status, received_ms, note) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 1, ?7)",
        rusqlite::params![
            index,
            sha(forged.as_bytes()),
            sha(parsed.text().as_bytes()),
            body.contest,
            body.station,
            body.revision,
            forged.as_bytes()
        ],
    )
    .unwrap();
    drop(conn);
    let (size, roots) = snapshot_roots(&db, &[]).unwrap();
    let info_path = out.join(BACKUP_TOML);
    let mut info: BackupInfo =
        toml::from_str(&std::fs::read_to_string(&info_path).unwrap()).unwrap();
    info.log_size = size;
    info.root_hash = roots[&size].to_base64();
    std::fs::write(&info_path, toml::to_string(&info).unwrap()).unwrap();
    reseal(out);
    u64::try_from(index).unwrap()
}

/// Entries committed after the last checkpoint the log signed are in a backup taken under
/// load, and no signed root covers them: a protocol written there with a vote moved (its
/// station signature broken) must be refused, not restored and signed into the log, even
/// with the manifest, the size and the root rewritten and the server's checkpoint given.
#[test]
fn a_forged_entry_past_the_signed_checkpoint_is_refused() {
    let f = fixture(12);
    ingest_into(&f.data, &f.protocols[..8]);
    let out = f.path("backup");
    backup(&f.data, &out, true, &SystemClock).unwrap();
    let index = append_forged(&out, &f.protocols[9]);
    assert_eq!(index, 9);
    let b = Backup::open(&out).unwrap();
    for given in [vec![], vec![latest(&f.data)]] {
        let target = f.path("restored");
        let e = b.restore(&target, None, &given, None).unwrap_err();
        assert!(
            matches!(
                e,
                BackupError::Unsigned {
                    index: 9,
                    anchor: 9,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.is_refusal());
        assert!(e.to_string().contains("entry 9"), "{e}");
        assert!(!target.exists());
    }
    // The same note unedited is a genuine one (signed by its station): it restores.
    let out = f.path("backup2");
    backup(&f.data, &out, true, &SystemClock).unwrap();
    let genuine = f.protocols[9].clone();
    let conn = Connection::open(out.join("data").join(DB_FILE)).unwrap();
    let parsed = Note::parse(&genuine).unwrap();
    let body = ProtocolBody::parse(parsed.text()).unwrap();
    let sha = |b: &[u8]| urna_model::intake::sha256(b).to_vec();
    conn.execute(
        "INSERT INTO entries (idx, hash, text_hash, contest, station, revision, status, received_ms, note) \
         VALUES (9, ?1, ?2, ?3, ?4, ?5, 0, 1, ?6)",
        rusqlite::params![
            sha(&genuine),
            sha(parsed.text().as_bytes()),
            body.contest,
            body.station,
            body.revision,
            genuine
        ],
    )
    .unwrap();
    drop(conn);
    let (size, roots) = snapshot_roots(&out.join("data").join(DB_FILE), &[]).unwrap();
    let info_path = out.join(BACKUP_TOML);
    let mut info: BackupInfo =
        toml::from_str(&std::fs::read_to_string(&info_path).unwrap()).unwrap();
    info.log_size = size;
    info.root_hash = roots[&size].to_base64();
    std::fs::write(&info_path, toml::to_string(&info).unwrap()).unwrap();
    reseal(&out);
    let r = Backup::open(&out)
        .unwrap()
        .restore(&f.path("restored2"), None, &[], None)
        .unwrap();
    assert_eq!(r.log_size, 10);
}

/// A backup always holds the last checkpoint the log signed. Without it (and without the
/// published one) nothing the log signed anchors the snapshot: entries dropped from its end
/// would restore as a shorter log, so its absence is refused by name.
#[test]
fn a_backup_without_its_signed_checkpoint_is_refused() {
    let f = fixture(10);
    ingest_into(&f.data, &f.protocols);
    let out = f.path("backup");
    backup(&f.data, &out, true, &SystemClock).unwrap();
    // The last four entries dropped, both checkpoints removed, backup.toml and manifest made
    // to match.
    let db = out.join("data").join(DB_FILE);
    let conn = Connection::open(&db).unwrap();
    conn.execute("DELETE FROM entries WHERE idx >= 7", [])
        .unwrap();
    drop(conn);
    for rel in ["data/log-latest.checkpoint", "data/log/checkpoint"] {
        std::fs::remove_file(out.join(rel)).unwrap();
    }
    let (size, roots) = snapshot_roots(&db, &[]).unwrap();
    let info_path = out.join(BACKUP_TOML);
    let mut info: BackupInfo =
        toml::from_str(&std::fs::read_to_string(&info_path).unwrap()).unwrap();
    info.log_size = size;
    info.root_hash = roots[&size].to_base64();
    info.files.retain(|f| !f.ends_with("checkpoint"));
    std::fs::write(&info_path, toml::to_string(&info).unwrap()).unwrap();
    reseal(&out);
    let target = f.path("restored");
    let e = Backup::open(&out)
        .unwrap()
        .restore(&target, None, &[], None)
        .unwrap_err();
    assert!(
        matches!(&e, BackupError::Manifest { file, .. } if file == "data/log-latest.checkpoint"),
        "{e}"
    );
    assert!(e.is_refusal());
    assert!(!target.exists());
}

/// A FIFO in a backup, listed in the manifest or standing for it, would hold the restore
/// forever on its first read: refused by name before anything is read.
#[test]
fn a_fifo_in_a_backup_is_refused_without_reading_it() {
    let f = fixture(3);
    let out = f.path("backup");
    backup(&f.data, &out, false, &SystemClock).unwrap();
    // mknod(2) in this process: a `mkfifo` child would be forked with every other test's
    // open lock file and hold its flock(2) until it execs, so that a test reopening its store
    // just then would find it in use.
    let fifo = |path: &Path| {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
    };
    fifo(&out.join("data/stations.csv.fifo"));
    let mut manifest = std::fs::read_to_string(out.join(MANIFEST)).unwrap();
    manifest.push_str(&format!("{}  data/stations.csv.fifo\n", "0".repeat(64)));
    std::fs::write(out.join(MANIFEST), &manifest).unwrap();
    let e = Backup::open(&out).unwrap_err();
    assert!(
        matches!(&e, BackupError::Manifest { file, .. } if file == "data/stations.csv.fifo"),
        "{e}"
    );
    assert!(e.is_refusal());
    std::fs::remove_file(out.join("data/stations.csv.fifo")).unwrap();
    std::fs::remove_file(out.join(MANIFEST)).unwrap();
    fifo(&out.join(MANIFEST));
    let e = Backup::open(&out).unwrap_err();
    assert!(
        matches!(&e, BackupError::Manifest { file, .. } if file == MANIFEST),
        "{e}"
    );
}

/// A backup whose taking was stopped (killed) before its manifest was written is refused as
/// such, by name, whatever else it holds.
#[test]
fn a_backup_without_its_manifest_is_refused_as_unfinished() {
    let f = fixture(3);
    let out = f.path("backup");
    backup(&f.data, &out, true, &SystemClock).unwrap();
    std::fs::remove_file(out.join(MANIFEST)).unwrap();
    let e = Backup::open(&out).unwrap_err();
    assert!(
        matches!(&e, BackupError::Unfinished { file } if file == MANIFEST),
        "{e}"
    );
    assert!(e.to_string().contains("did not finish"), "{e}");
    assert!(e.is_refusal());
}

/// The log's key swapped in a backup taken with its keys (the private key, `log.vkey`,
/// `backup.toml`'s `log_vkey`) and both checkpoints signed again with the new key: the
/// genesis, which the log's first key signed, no longer verifies, and the restore is refused
/// rather than continuing the log under a key the witnesses never saw.
#[test]
fn a_log_key_swapped_in_a_backup_is_refused_at_the_genesis() {
    let f = fixture(5);
    ingest_into(&f.data, &f.protocols);
    let out = f.path("backup");
    let summary = backup(&f.data, &out, true, &SystemClock).unwrap();
    let origin = summary.info.log_origin.clone();
    let swapped = NoteSigner::from_seed(&origin, &[9; 32]).unwrap();
    let vkey = swapped.verifier().to_vkey();
    assert_ne!(vkey, summary.info.log_vkey);
    std::fs::write(out.join("data/secrets/log.key"), swapped.to_skey()).unwrap();
    std::fs::write(out.join("data").join(LOG_VKEY_FILE), format!("{vkey}\n")).unwrap();
    for rel in ["data/log-latest.checkpoint", "data/log/checkpoint"] {
        let note = std::fs::read(out.join(rel)).unwrap();
        let text = Note::parse(&note).unwrap().text().to_owned();
        std::fs::write(out.join(rel), swapped.sign_text(&text).to_bytes()).unwrap();
    }
    let info_path = out.join(BACKUP_TOML);
    let mut info: BackupInfo =
        toml::from_str(&std::fs::read_to_string(&info_path).unwrap()).unwrap();
    info.log_vkey = vkey;
    std::fs::write(&info_path, toml::to_string(&info).unwrap()).unwrap();
    reseal(&out);
    let target = f.path("restored");
    let e = Backup::open(&out)
        .unwrap()
        .restore(&target, None, &[], None)
        .unwrap_err();
    assert!(matches!(e, BackupError::Unsigned { index: 0, .. }), "{e}");
    assert!(e.to_string().contains("genesis"), "{e}");
    assert!(!target.exists());
}

/// A truncated database snapshot, its manifest resealed, is refused as a damaged backup
/// naming the file, before anything is written.
#[test]
fn a_truncated_snapshot_is_refused_naming_the_file() {
    let f = fixture(20);
    ingest_into(&f.data, &f.protocols);
    let out = f.path("backup");
    backup(&f.data, &out, true, &SystemClock).unwrap();
    let db = out.join("data").join(DB_FILE);
    let len = std::fs::metadata(&db).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    reseal(&out);
    let target = f.path("restored");
    let e = Backup::open(&out)
        .unwrap()
        .restore(&target, None, &[], None)
        .unwrap_err();
    assert!(e.is_refusal(), "{e}");
    assert!(e.to_string().contains("urna.sqlite"), "{e}");
    assert!(!target.exists());
}

/// A manifest line whose path ends in a carriage return (found by the fuzz target
/// `backup_manifest`: the name reads back as another one once the manifest is written again)
/// is refused, naming the line.
#[test]
fn a_manifest_path_with_a_control_character_is_refused() {
    let digest = "0".repeat(64);
    for path in ["data/u\r", "data/a\tb", "data/\u{7f}x"] {
        let e = manifest::parse_manifest(&format!("{digest}  backup.toml\n{digest}  {path}"))
            .unwrap_err();
        assert!(e.starts_with("line 2: "), "{path:?}: {e}");
        assert!(e.contains("control characters"), "{e}");
    }
    assert!(manifest::parse_manifest(&format!("{digest}  data/ünïcode ok.csv")).is_ok());
}
