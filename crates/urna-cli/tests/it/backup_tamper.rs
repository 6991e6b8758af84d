//! `urna restore` of backups edited the ways an insider or ransomware would hand one back,
//! with the manifest, the size and the root rewritten to match: each refused (exit 1), naming
//! what is wrong, and nothing restored.

use std::path::Path;

use urna_model::pack::PackReader;
use urna_store::backup::{BackupInfo, MANIFEST};
use urna_tlog::Tree;
use urna_tlog::hash::leaf_hash;

use crate::{init, p, run};

/// Rewrites `MANIFEST.sha256` for the files as they are now.
fn reseal(dir: &Path) {
    fn walk(root: &Path, rel: &str, out: &mut Vec<String>) {
        for e in std::fs::read_dir(root.join(rel)).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if e.file_type().unwrap().is_dir() {
                walk(root, &child, out);
            } else if child != MANIFEST {
                out.push(child);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, "", &mut files);
    files.sort();
    let manifest: String = files
        .iter()
        .map(|rel| {
            let digest = urna_model::intake::sha256(&std::fs::read(dir.join(rel)).unwrap());
            format!("{}  {rel}\n", urna_model::protocol::hex(&digest))
        })
        .collect();
    std::fs::write(dir.join(MANIFEST), manifest).unwrap();
}

/// A protocol with a vote moved appended to the backup's database after every entry the log
/// signed (where a backup taken under load holds the entries committed since the last
/// checkpoint), with backup.toml's size and root and the manifest rewritten: refused by
/// entry, with and without the server's checkpoint given; the genuine backup restores.
#[test]
fn a_forged_protocol_past_the_signed_checkpoint_is_refused_by_urna_restore() {
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    run(&["sim", "--out", p(&src), "--stations", "12"], 0);
    init(&src, &data);
    let notes: Vec<Vec<u8>> =
        PackReader::new(std::fs::File::open(src.join("protocols.notes")).unwrap())
            .map(Result::unwrap)
            .collect();
    for (i, note) in notes[..8].iter().enumerate() {
        let file = dir.path().join(format!("n{i}.note"));
        std::fs::write(&file, note).unwrap();
        run(&["ingest", "--data", p(&data), p(&file)], 0);
    }
    let backup = dir.path().join("backup");
    run(
        &[
            "backup",
            "--data",
            p(&data),
            "--out",
            p(&backup),
            "--with-secrets",
        ],
        0,
    );
    let genuine = dir.path().join("genuine");
    run(&["restore", "--from", p(&backup), "--data", p(&genuine)], 0);

    // The ninth station's protocol, one vote moved from one list to another.
    let text = String::from_utf8(notes[9].clone()).unwrap();
    let mut moved = 0;
    let forged: String = text
        .split_inclusive('\n')
        .map(|line| match line.strip_prefix("votes: ") {
            Some(rest) if moved < 2 => {
                let (list, n) = rest.trim_end().rsplit_once(' ').unwrap();
                let n: u64 = n.parse().unwrap();
                moved += 1;
                format!("votes: {list} {}\n", if moved == 1 { n + 1 } else { n - 1 })
            }
            _ => line.to_owned(),
        })
        .collect();
    let field = |key: &str| {
        forged
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap()
            .to_owned()
    };
    let body = &forged[..forged.find("\n\n").unwrap() + 1];
    let db = backup.join("data/urna.sqlite");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "INSERT INTO entries (idx, hash, text_hash, contest, station, revision, status, received_ms, note) \
         VALUES (9, ?1, ?2, ?3, ?4, 1, 0, 1, ?5)",
        rusqlite::params![
            urna_model::intake::sha256(forged.as_bytes()).to_vec(),
            urna_model::intake::sha256(body.as_bytes()).to_vec(),
            field("contest: "),
            field("station: "),
            forged.as_bytes()
        ],
    )
    .unwrap();
    let mut tree = Tree::new();
    let mut stmt = conn
        .prepare("SELECT note FROM entries ORDER BY idx")
        .unwrap();
    let leaves: Vec<Vec<u8>> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for note in &leaves {
        tree.append(leaf_hash(note), &mut Vec::new()).unwrap();
    }
    drop(stmt);
    drop(conn);
    let info_path = backup.join("backup.toml");
    let mut info: BackupInfo =
        toml::from_str(&std::fs::read_to_string(&info_path).unwrap()).unwrap();
    info.log_size = 10;
    info.root_hash = tree.root().to_base64();
    std::fs::write(&info_path, toml::to_string(&info).unwrap()).unwrap();
    reseal(&backup);

    let checkpoint = data.join("log-latest.checkpoint");
    for given in [vec![], vec!["--checkpoint", p(&checkpoint)]] {
        let target = dir.path().join("restored");
        let mut args = vec!["restore", "--from", p(&backup), "--data", p(&target)];
        args.extend(given);
        let out = run(&args, 1);
        assert!(out.contains("entry 9: "), "{out}");
        assert!(out.contains("changed after it was taken"), "{out}");
        assert!(!target.exists());
    }
}
