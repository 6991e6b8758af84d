//! `urna publish --store postgres://…` end to end with the real binary and a real PostgreSQL:
//! a commission on PostgreSQL takes a simulated election's protocols and amendments through an
//! `urna serve --store` node, publishes the static bundle from the database, and `urna verify`
//! says VERIFIED on it; the bundle holds the same files as one published from a SQLite data
//! directory given the same notes. Then rows of the database are edited outside urna, and
//! publishing refuses each edit, naming it.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::pg_cluster::{Cluster, free_addr, init_store, sim, wait_signed};
use crate::{p, run, urna};
use urna_testkit::pg::PgServer;

/// Every file of a bundle generation, relative to it (the `tile` and `blob` links not followed).
fn files(generation: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                walk(root, &e.path(), out);
            } else if !t.is_symlink() {
                let rel = e.path().strip_prefix(root).unwrap().to_owned();
                out.insert(rel.to_str().unwrap().to_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(generation, generation, &mut out);
    out
}

/// `urna publish --store URL …`: its exit code and its output.
pub(crate) fn publish_pg(
    url: &str,
    definition: &Path,
    key: &Path,
    out: &Path,
) -> (Option<i32>, String) {
    let o = urna()
        .args(["publish", "--store", url, "--definition"])
        .arg(definition)
        .arg("--log-key")
        .arg(key)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

#[test]
fn pg_publish_writes_a_bundle_urna_verify_accepts_and_refuses_a_database_edited_outside_urna() {
    let Some(pg) = PgServer::start() else { return };
    let url = pg.database("publish");
    let dir = tempfile::tempdir().unwrap();
    let src = sim(dir.path(), "300", &["--error-rate", "500"]);
    let definition = src.join("election.toml");
    let key = dir.path().join("log.key");
    let (_, signer) = init_store(&url, &definition, &key, &[]);
    let vkey = signer.verifier().to_vkey();

    // Nothing signed yet: nothing to publish.
    let bundle = dir.path().join("bundle");
    let (code, out) = publish_pg(&url, &definition, &key, &bundle);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("is up to date"), "{out}");

    // One node takes the protocols, then the amendments, through `urna submit`.
    let cluster = Cluster {
        url: url.clone(),
        definition: definition.clone(),
        key: key.clone(),
    };
    let log = Arc::new(Mutex::new(String::new()));
    let addr = free_addr();
    let mut node = cluster.start("node-a", addr, Arc::clone(&log));
    for pack in ["protocols.notes", "amendments.notes"] {
        let out = run(
            &[
                "submit",
                "--to",
                &format!("http://{addr}"),
                "--log-key",
                &vkey,
                "--queue",
                p(&dir.path().join("queue")),
                p(&src.join(pack)),
            ],
            0,
        );
        assert!(out.contains(", 0 refused"), "{out}");
    }
    // Until the sequencer has signed every entry.
    let entries = wait_signed(&url, &log, "every entry signed", |c| c.entries > 1).entries;
    let mut admin = urna_pg::connect(&url).unwrap();
    node.stop();
    let protocols = 300;
    assert!(entries > protocols && entries < 512, "{entries} entries");

    // Published from the database, verified by the independent verifier.
    let (code, out) = publish_pg(&url, &definition, &key, &bundle);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("published the checkpoint of {entries} entries")),
        "{out}"
    );
    let verify = |location: &Path| {
        let o = urna()
            .args(["verify", p(location), "--log-key", &vkey])
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let (code, out) = verify(&bundle.join("current"));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("\nVERIFIED"), "{out}");
    assert!(out.contains(&format!("{entries} entries")), "{out}");
    // Nothing new: the live generation stays.
    let (code, out) = publish_pg(&url, &definition, &key, &bundle);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("is up to date"), "{out}");

    // The same notes through a SQLite data directory give a bundle of the same files, and the
    // same results for every station (the logs differ: another log key signed them).
    let data = dir.path().join("data");
    run(
        &["init", "--definition", p(&definition), "--data", p(&data)],
        0,
    );
    run(
        &[
            "ingest",
            "--data",
            p(&data),
            p(&src.join("protocols.notes")),
            p(&src.join("amendments.notes")),
        ],
        0,
    );
    let sqlite_bundle = dir.path().join("sqlite-bundle");
    run(
        &["publish", "--data", p(&data), "--out", p(&sqlite_bundle)],
        0,
    );
    let (pg_gen, sqlite_gen) = (bundle.join("current"), sqlite_bundle.join("current"));
    assert_eq!(files(&pg_gen), files(&sqlite_gen));
    for same in ["csv/units.csv", "v1/election.json"] {
        assert_eq!(
            std::fs::read(pg_gen.join(same)).unwrap(),
            std::fs::read(sqlite_gen.join(same)).unwrap(),
            "{same}"
        );
    }

    // A tile edited in the database: the level-0 tile the root is computed from, a full
    // level-0 tile below a hash of level 1 (the root never reads it), and a data tile. Each
    // is refused before a generation goes live.
    let fresh = dir.path().join("fresh");
    for (path, says) in [
        (
            format!("tile/0/001.p/{}", entries - 256),
            "but the checkpoint says".to_owned(),
        ),
        (
            "tile/0/000".to_owned(),
            "tile/0/000 does not hash to its hash in tile/1/000.p/1".to_owned(),
        ),
        (
            "tile/entries/000".to_owned(),
            "entry 0 of tile/entries/000 does not hash to its hash in tile/0/000".to_owned(),
        ),
    ] {
        let tile: Vec<u8> = admin
            .query_one("SELECT data FROM tiles WHERE path = $1", &[&path])
            .unwrap()
            .get(0);
        let mut edited = tile.clone();
        edited[40] ^= 1;
        admin
            .execute(
                "UPDATE tiles SET data = $1 WHERE path = $2",
                &[&edited, &path],
            )
            .unwrap();
        let (code, out) = publish_pg(&url, &definition, &key, &fresh);
        assert_eq!(code, Some(2), "{path}: {out}");
        assert!(
            out.contains("tiles in") && out.contains(&says),
            "{path}: {out}"
        );
        assert!(!fresh.join("current").exists(), "{path}: {out}");
        admin
            .execute(
                "UPDATE tiles SET data = $1 WHERE path = $2",
                &[&tile, &path],
            )
            .unwrap();
        std::fs::remove_dir_all(&fresh).unwrap();
    }

    // A vote count changed in a stored note, its hash recomputed: refused at open, naming
    // the entry, before a file is written.
    let note: Vec<u8> = admin
        .query_one("SELECT note FROM entries WHERE idx = 5", &[])
        .unwrap()
        .get(0);
    let text = String::from_utf8(note.clone()).unwrap();
    let forged = text.replacen("votes: ", "votes: 1", 1);
    assert_ne!(forged, text);
    admin
        .execute(
            "UPDATE entries SET note = $1, hash = sha256($1) WHERE idx = 5",
            &[&forged.as_bytes()],
        )
        .unwrap();
    let (code, out) = publish_pg(&url, &definition, &key, &fresh);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("entry 5") || out.contains("root"), "{out}");
    assert!(!fresh.join("current").exists(), "{out}");

    // Put back, it publishes again and verifies.
    admin
        .execute(
            "UPDATE entries SET note = $1, hash = sha256($1) WHERE idx = 5",
            &[&note],
        )
        .unwrap();
    let (code, out) = publish_pg(&url, &definition, &key, &fresh);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = verify(&fresh.join("current"));
    assert_eq!(code, Some(0), "{out}");
}
