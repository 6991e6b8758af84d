//! A station key revoked on PostgreSQL end to end with the real binary: a commission on
//! PostgreSQL takes a simulated election's protocols through an `urna serve --store` node, but
//! two stations lose their keys first. `urna keys revoke --store` signs the revocations (the
//! key each station holds read from the database), `urna submit` sends them to the node; then
//! one station reports with its replacement key (stored) and the other with its lost key
//! (refused, `key-revoked`), and a revocation sent again is a duplicate of its entry. `urna
//! publish --store` writes the bundle, which lists the revocations, and `urna verify` replays
//! them to the same verdicts: VERIFIED.

use std::path::Path;
use std::sync::{Arc, Mutex};

use urna_model::definition::Election;
use urna_model::intake::check;
use urna_model::note::{Note, NoteSigner};
use urna_model::pack::PackReader;

use crate::pg_cluster::{Cluster, free_addr, init_store, sim, wait_signed};
use crate::{p, run, urna};
use urna_testkit::pg::PgServer;

fn notes(path: &Path) -> Vec<Vec<u8>> {
    PackReader::new(std::fs::File::open(path).unwrap())
        .map(Result::unwrap)
        .collect()
}

/// `urna submit` of `files` to the node: its exit code and output.
fn submit(addr: &str, vkey: &str, queue: &Path, files: &[&Path], code: i32) -> String {
    let mut args = vec![
        "submit",
        "--to",
        addr,
        "--log-key",
        vkey,
        "--queue",
        p(queue),
    ];
    args.extend(files.iter().map(|f| p(f)));
    run(&args, code)
}

#[test]
fn a_revocation_on_postgresql_refuses_the_lost_key_counts_the_replacement_and_verifies() {
    let Some(pg) = PgServer::start() else { return };
    let url = pg.database("revoke");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = sim(d, "20", &[]);
    let definition = src.join("election.toml");
    let key = d.join("log.key");
    let vkey = init_store(&url, &definition, &key, &[])
        .1
        .verifier()
        .to_vkey();
    let e = Election::load(&definition).unwrap();
    let protocols = notes(&src.join("protocols.notes"));
    let clean: Vec<usize> = (0..protocols.len())
        .filter(|&i| !check(&e, &protocols[i]).unwrap().is_quarantined())
        .collect();
    let (lost, stolen) = (clean[0], clean[1]);
    let id = |i: usize| {
        let s = check(&e, &protocols[i]).unwrap().station;
        e.stations[s.0 as usize].id.clone()
    };

    let log = Arc::new(Mutex::new(String::new()));
    let addr = free_addr();
    let to = format!("http://{addr}");
    let cluster = Cluster {
        url: url.clone(),
        definition: definition.clone(),
        key: key.clone(),
    };
    let mut node = cluster.start("node-a", addr, Arc::clone(&log));
    let queue = d.join("queue");
    // Every station but the two reports with its own key.
    let others: Vec<_> = (0..protocols.len())
        .filter(|i| ![lost, stolen].contains(i))
        .map(|i| {
            let f = d.join(format!("protocol-{i}.note"));
            std::fs::write(&f, &protocols[i]).unwrap();
            f
        })
        .collect();
    let refs: Vec<&Path> = others.iter().map(|f| f.as_path()).collect();
    let out = submit(&to, &vkey, &queue, &refs, 0);
    assert!(out.contains(", 0 refused"), "{out}");

    // The commission revokes both keys, naming a replacement for each.
    let authority = src.join("secrets/central-commission.key");
    let mut revocations = Vec::new();
    let mut replacement = Vec::new();
    for (i, name) in [(lost, "lost"), (stolen, "stolen")] {
        let new = d.join(format!("{name}.key"));
        run(&["keys", "generate", &id(i), "--out", p(&new)], 0);
        let rev = d.join(format!("rev-{name}.note"));
        run(
            &[
                "keys",
                "revoke",
                "--store",
                &url,
                "--definition",
                p(&definition),
                "--station",
                &id(i),
                "--authority-key",
                p(&authority),
                "--replacement-key",
                p(&new),
                "--reason",
                "Lost on the way to the polling station",
                "--out",
                p(&rev),
            ],
            0,
        );
        revocations.push(rev);
        replacement
            .push(NoteSigner::from_skey(std::fs::read_to_string(&new).unwrap().trim()).unwrap());
    }
    let refs: Vec<&Path> = revocations.iter().map(|f| f.as_path()).collect();
    let out = submit(&to, &vkey, &queue, &refs, 0);
    let stored: Vec<&str> = out.lines().filter(|l| l.starts_with("stored ")).collect();
    assert_eq!(stored.len(), 2, "{out}");
    for (line, (rev, i)) in stored.iter().zip(revocations.iter().zip([lost, stolen])) {
        let hash = urna_model::intake::sha256(&std::fs::read(rev).unwrap());
        assert!(
            line.contains(&format!(
                " accepted {} sha256:{}",
                id(i),
                urna_model::protocol::hex(&hash)
            )),
            "{line}"
        );
    }
    // The same revocation again: a duplicate of its entry.
    let out = submit(&to, &vkey, &queue, &refs[..1], 0);
    let first_index = stored[0].split(' ').nth(1).unwrap();
    assert!(
        out.lines()
            .any(|l| l.starts_with(&format!("duplicate {first_index} {} ", id(lost)))),
        "{out}"
    );
    // Now `urna keys revoke --store` knows the station holds its replacement: the lost key is
    // not its to revoke.
    let o = urna()
        .args(["keys", "revoke", "--store", &url, "--definition"])
        .arg(&definition)
        .args(["--station", &id(lost), "--authority-key"])
        .arg(&authority)
        .args(["--no-replacement", "--reason", "again"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{text}");
    let again = urna_model::intake::bind_revocation_unverified(&e, &o.stdout).unwrap();
    assert_eq!(again.revokes.key_id, replacement[0].key_id(), "{text}");

    // `lost` reports with its replacement (stored), `stolen` with its lost key (refused 403).
    let by_new = d.join("lost-new.note");
    let text = Note::parse(&protocols[lost]).unwrap().text().to_owned();
    std::fs::write(&by_new, replacement[0].sign_text(&text).to_bytes()).unwrap();
    let out = submit(&to, &vkey, &queue, &[&by_new], 0);
    assert!(
        out.lines()
            .any(|l| l.starts_with("stored ") && l.contains(&format!(" accepted {} ", id(lost)))),
        "{out}"
    );
    let by_old = d.join("stolen-old.note");
    std::fs::write(&by_old, &protocols[stolen]).unwrap();
    let out = submit(&to, &vkey, &queue, &[&by_old], 1);
    assert!(out.contains("refused key-revoked"), "{out}");

    // Until the sequencer has signed every entry: genesis, 18 protocols, 2 revocations, 1.
    let entries = 1 + 18 + 2 + 1;
    let c = wait_signed(&url, &log, "every entry signed", |c| c.signed == entries);
    assert_eq!(c.entries, entries);
    node.stop();

    // Published from the database and verified: the replay reaches the node's verdicts.
    let bundle = d.join("bundle");
    let o = urna()
        .args(["publish", "--store", &url, "--definition"])
        .arg(&definition)
        .arg("--log-key")
        .arg(&key)
        .arg("--out")
        .arg(&bundle)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{text}");
    let out = run(
        &["verify", p(&bundle.join("current")), "--log-key", &vkey],
        0,
    );
    assert!(
        out.contains("2 station key revocations replayed") && out.contains("\nVERIFIED"),
        "{out}"
    );
    let station = |i: usize| {
        let st = &e.stations[e.station(&id(i)).unwrap().0 as usize];
        let unit = &e.units[st.unit.0 as usize].id;
        let doc = crate::unit_file(&bundle.join("current"), unit);
        doc["contests"][0]["stations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id(i))
            .unwrap()
            .clone()
    };
    let l = station(lost);
    assert_eq!(l["status"], "accepted", "{l}");
    assert_eq!(
        l["revocations"][0]["replacement"].as_str(),
        Some(replacement[0].verifier().to_vkey().as_str()),
        "{l}"
    );
    let s = station(stolen);
    assert!(s["revocations"][0].is_object(), "{s}");
    assert!(s.get("current").is_none_or(|c| c.is_null()), "{s}");
}
