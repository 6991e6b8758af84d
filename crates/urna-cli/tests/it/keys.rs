//! `urna keys stations` and `urna keys verify`: station keys made in bulk for provisioning,
//! their public list signed by an authority, and the definition checked against it.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::{p, run};

/// The central commission's verifier key from a simulation's `election.toml`.
fn authority_key(definition: &Path) -> String {
    let text = std::fs::read_to_string(definition).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("key = \"central-commission+"))
        .unwrap();
    line.trim_start_matches("key = \"")
        .trim_end_matches('"')
        .to_owned()
}

/// One ordered story: a definition whose stations have no keys (two keep theirs) gets a key
/// per station, private keys 0600, the stations file filled in and a signed manifest; a
/// second run overwrites nothing; the definition with the new stations file loads, initialises
/// and verifies against the manifest; a changed list or station key, a manifest from another
/// signer and a signer that is no authority are refused, each naming what is wrong.
#[test]
fn station_keys_in_bulk_with_a_signed_manifest_never_overwrite_and_verify_the_definition() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("sim");
    run(&["sim", "--out", p(&src), "--stations", "12"], 0);
    let definition = src.join("election.toml");
    let cec = authority_key(&definition);
    let cec_key = src.join("secrets/central-commission.key");

    // 1. Blank every key but the first two stations'.
    let stations = std::fs::read_to_string(src.join("stations.csv")).unwrap();
    let kept: Vec<String> = stations
        .lines()
        .skip(1)
        .take(2)
        .map(str::to_owned)
        .collect();
    let blank: String = stations
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i < 3 {
                format!("{l}\n")
            } else {
                let (front, _) = l.rsplit_once(',').unwrap();
                format!("{front},\n")
            }
        })
        .collect();
    std::fs::write(src.join("stations.csv"), &blank).unwrap();

    // 2. Keys in bulk.
    let out = dir.path().join("keys");
    let said = run(
        &[
            "keys",
            "stations",
            "--definition",
            p(&definition),
            "--out",
            p(&out),
            "--sign-with",
            p(&cec_key),
        ],
        0,
    );
    assert!(
        said.contains("10 new station keys") && said.contains("2 kept"),
        "{said}"
    );
    let mut files: Vec<String> = std::fs::read_dir(out.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files.len(), 10);
    assert_eq!(files[0], "PS-0000003.key");
    for f in &files {
        let mode = std::fs::metadata(out.join("keys").join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    let filled = std::fs::read_to_string(out.join("stations.csv")).unwrap();
    assert_eq!(filled.lines().count(), 13);
    for k in &kept {
        assert!(filled.contains(k.as_str()), "a kept key changed: {k}");
    }
    // The private key of PS-0000003 signs for the key its row now has.
    let skey = std::fs::read_to_string(out.join("keys/PS-0000003.key")).unwrap();
    let row = filled
        .lines()
        .find(|l| l.starts_with("PS-0000003,"))
        .unwrap();
    let vkey = row.rsplit(',').next().unwrap();
    let signer = urna_model::note::NoteSigner::from_skey(skey.trim()).unwrap();
    assert_eq!(signer.verifier().to_vkey(), vkey);
    let list = std::fs::read_to_string(out.join("station-keys.txt")).unwrap();
    assert_eq!(list.lines().count(), 12);
    assert!(list.contains(vkey));

    // 3. A second run into the same directory overwrites nothing and writes nothing.
    let before = std::fs::read(out.join("keys/PS-0000003.key")).unwrap();
    let said = run(
        &[
            "keys",
            "stations",
            "--definition",
            p(&definition),
            "--out",
            p(&out),
            "--sign-with",
            p(&cec_key),
        ],
        2,
    );
    assert!(
        said.contains("exists already") && said.contains("never overwritten"),
        "{said}"
    );
    assert_eq!(
        std::fs::read(out.join("keys/PS-0000003.key")).unwrap(),
        before
    );

    // 4. The filled stations file enters the definition; it loads and matches the manifest.
    std::fs::copy(out.join("stations.csv"), src.join("stations.csv")).unwrap();
    let verify = |list: &Path, authority: &str, code: i32| {
        run(
            &[
                "keys",
                "verify",
                "--manifest",
                p(&out.join("station-keys.note")),
                "--list",
                p(list),
                "--authority",
                authority,
                "--definition",
                p(&definition),
            ],
            code,
        )
    };
    let said = verify(&out.join("station-keys.txt"), &cec, 0);
    assert!(
        said.contains("12 keys for sim-2025-assembly signed by central-commission"),
        "{said}"
    );
    run(
        &[
            "init",
            "--definition",
            p(&definition),
            "--data",
            p(&dir.path().join("data")),
        ],
        0,
    );

    // 5. Refusals.
    let other = dir.path().join("other.key");
    let other_vkey = run(
        &["keys", "generate", "central-commission", "--out", p(&other)],
        0,
    );
    let said = verify(&out.join("station-keys.txt"), other_vkey.trim(), 1);
    assert!(said.contains("not signed by central-commission"), "{said}");
    // A list with a station left out.
    let changed = dir.path().join("changed.txt");
    let lines: Vec<&str> = list.lines().collect();
    std::fs::write(&changed, list.replace(&format!("{}\n", lines[5]), "")).unwrap();
    let said = verify(&changed, &cec, 1);
    assert!(
        said.contains("changed.txt: key list: 11 keys, the manifest names 12"),
        "{said}"
    );
    // A station whose key is not the listed one.
    let fresh = run(
        &[
            "keys",
            "generate",
            "PS-0000003",
            "--out",
            p(&dir.path().join("fresh.key")),
        ],
        0,
    );
    std::fs::write(src.join("stations.csv"), filled.replace(vkey, fresh.trim())).unwrap();
    let said = verify(&out.join("station-keys.txt"), &cec, 1);
    assert!(
        said.contains(&format!(
            "station PS-0000003: key {} is not the listed {vkey}",
            fresh.trim()
        )),
        "{said}"
    );
    let said = run(
        &[
            "keys",
            "stations",
            "--definition",
            p(&definition),
            "--out",
            p(&dir.path().join("keys2")),
            "--sign-with",
            p(&other),
        ],
        2,
    );
    assert!(
        said.contains("is not the key of an [[authorities]] entry"),
        "{said}"
    );
}
