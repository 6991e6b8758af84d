//! One ordered story with real processes: a log and three witnesses (quorum 2). Witnesses go
//! down and come back after `kill -9`; the published checkpoint lags while the quorum is
//! missing; a restarted witness still refuses a rollback and a fork built from the same entries
//! minus one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Output, Stdio};

use urna_model::note::Note;
use urna_model::pack::{PackReader, write_note};
use urna_tlog::cosignature::CosignatureVerifier;

use crate::{init, p, run, urna};

/// Entry 0 of every log is the genesis `urna init` writes: the log holds one entry more than
/// the protocols ingested.
const GENESIS: u64 = 1;

/// A running `urna witness serve`; killed when dropped.
pub(crate) struct Witness {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    pub(crate) url: String,
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `urna witness serve` with the key `DIR/<name>.key` and state `DIR/<name>.state`
/// for `log` (`ORIGIN=VKEY`), on a free loopback port.
pub(crate) fn start_witness(dir: &Path, name: &str, log: &str, init: bool) -> Witness {
    start_witness_logs(dir, name, &[log], init)
}

/// As [`start_witness`], following several `ORIGIN=VKEY` (e.g. both keys of a rotated log).
pub(crate) fn start_witness_logs(dir: &Path, name: &str, logs: &[&str], init: bool) -> Witness {
    start_witness_on(dir, name, logs, init, "127.0.0.1:0")
}

/// As [`start_witness_logs`], listening on `listen` (e.g. the address it had before a restart).
pub(crate) fn start_witness_on(
    dir: &Path,
    name: &str,
    logs: &[&str],
    init: bool,
    listen: &str,
) -> Witness {
    let mut cmd = urna();
    cmd.args([
        "witness",
        "serve",
        "--key",
        p(&dir.join(format!("{name}.key"))),
    ])
    .args(["--state", p(&dir.join(format!("{name}.state")))])
    .args(["--listen", listen]);
    for log in logs {
        cmd.args(["--log", log]);
    }
    if init {
        cmd.arg("--init-state");
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_owned();
    Witness {
        child,
        _stdout: stdout,
        url,
    }
}

/// `kill -9`.
fn kill(w: Witness) {
    drop(w);
}

/// Runs `urna` and returns its output whatever the exit code.
fn output(args: &[&str]) -> Output {
    urna().args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// Writes notes `range` of a pack to a new pack.
fn subset(src: &Path, out: &Path, keep: impl Fn(usize) -> bool) -> PathBuf {
    let mut w = std::fs::File::create(out).unwrap();
    for (i, n) in PackReader::new(std::fs::File::open(src).unwrap()).enumerate() {
        if keep(i) {
            write_note(&mut w, &n.unwrap()).unwrap();
        }
    }
    out.to_owned()
}

/// Copies a directory tree (of a store no process has open).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn policy(data: &Path, witnesses: &[(&str, &str, &str)]) {
    let mut s = String::from("quorum = 2\n");
    for (name, url, key) in witnesses {
        s.push_str(&format!(
            "\n[[witness]]\nname = \"{name}\"\nurl = \"{url}\"\nkey = \"{key}\"\n"
        ));
    }
    std::fs::write(data.join("witnesses.toml"), s).unwrap();
}

fn published(data: &Path) -> Vec<u8> {
    std::fs::read(data.join("log/checkpoint")).unwrap()
}

fn published_size(data: &Path) -> u64 {
    let n = Note::parse(&published(data)).unwrap();
    n.text().lines().nth(1).unwrap().parse().unwrap()
}

/// POSTs a raw add-checkpoint body and returns the HTTP status.
fn post_add_checkpoint(url: &str, body: &[u8]) -> u16 {
    let addr = url.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /add-checkpoint HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn log_and_three_witnesses_story() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let data = dir.path().join("data");
    run(&["sim", "--out", p(&src), "--stations", "260"], 0);
    init(&src, &data);
    // A copy made now has the same log key and the same genesis: the start of a fork (7.).
    let fork = dir.path().join("fork");
    copy_dir(&data, &fork);
    let status = run(&["status", "--data", p(&data)], 0);
    let log_vkey = status
        .lines()
        .find_map(|l| l.strip_prefix("log key:    "))
        .unwrap()
        .to_owned();
    let origin = "urna/sim-2025-assembly";
    let log_arg = format!("{origin}={log_vkey}");
    let all = src.join("protocols.notes");
    let part = |name: &str, lo: usize, hi: usize| {
        subset(&all, &dir.path().join(name), |i| (lo..hi).contains(&i))
    };

    // 1. Three witnesses, each with its own key and state; quorum 2 of 3.
    let names = ["cyber-agency", "data-protection", "observers"];
    let mut keys = Vec::new();
    for n in names {
        let vkey = run(
            &[
                "witness",
                "keygen",
                "--name",
                n,
                "--out",
                p(&dir.path().join(format!("{n}.key"))),
            ],
            0,
        );
        keys.push(vkey.trim().to_owned());
    }
    let mut w: Vec<Option<Witness>> = names
        .iter()
        .map(|n| Some(start_witness(dir.path(), n, &log_arg, true)))
        .collect();
    let urls: Vec<String> = w.iter().map(|x| x.as_ref().unwrap().url.clone()).collect();
    let table: Vec<(&str, &str, &str)> = (0..3)
        .map(|i| (names[i], urls[i].as_str(), keys[i].as_str()))
        .collect();
    policy(&data, &table);

    // 2. Ingest: the checkpoint is cosigned by all three and published.
    let o = output(&["ingest", "--data", p(&data), p(&part("a.notes", 0, 100))]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "published the checkpoint of {} entries, cosigned by cyber-agency, data-protection, observers",
            GENESIS + 100
        )),
        "{}",
        text(&o)
    );
    let cp100 = published(&data);
    let note = Note::parse(&cp100).unwrap();
    for k in &keys {
        CosignatureVerifier::from_vkey(k)
            .unwrap()
            .verify(&note)
            .unwrap();
    }

    // 3. One witness is killed (-9): the other two still make the quorum.
    kill(w[0].take().unwrap());
    let o = output(&["ingest", "--data", p(&data), p(&part("b.notes", 100, 150))]);
    let t = text(&o);
    assert!(
        t.contains(&format!(
            "published the checkpoint of {} entries, cosigned by data-protection, observers",
            GENESIS + 150
        )),
        "{t}"
    );
    assert!(t.contains("witness cyber-agency did not cosign"), "{t}");

    // 4. A second one goes down: no quorum; intake goes on, the published checkpoint lags.
    kill(w[1].take().unwrap());
    let o = output(&["ingest", "--data", p(&data), p(&part("c.notes", 150, 200))]);
    assert!(
        o.status.success(),
        "intake must go on without witnesses: {}",
        text(&o)
    );
    assert!(
        text(&o).contains(&format!(
            "NOT published: the checkpoint of {} entries has 1 of the 2 cosignatures",
            GENESIS + 200
        )),
        "{}",
        text(&o)
    );
    assert_eq!(published_size(&data), GENESIS + 150);
    let status = run(&["status", "--data", p(&data)], 0);
    assert!(status.contains("LAGGING by 50 entries"), "{status}");
    assert_eq!(
        output(&["log", "publish", "--data", p(&data)])
            .status
            .code(),
        Some(1)
    );

    // 5. Both come back with their state from before the kill: the log catches up.
    w[0] = Some(start_witness(dir.path(), names[0], &log_arg, false));
    w[1] = Some(start_witness(dir.path(), names[1], &log_arg, false));
    let restarted: Vec<String> = w.iter().map(|x| x.as_ref().unwrap().url.clone()).collect();
    let table: Vec<(&str, &str, &str)> = (0..3)
        .map(|i| (names[i], restarted[i].as_str(), keys[i].as_str()))
        .collect();
    policy(&data, &table);
    let out = run(&["log", "publish", "--data", p(&data)], 0);
    assert!(
        out.contains(&format!(
            "published the checkpoint of {} entries",
            GENESIS + 200
        )),
        "{out}"
    );
    assert!(run(&["status", "--data", p(&data)], 0).contains("(up to date)"));

    // 6. A rollback to the 100-protocol checkpoint is refused by a restarted witness.
    let mut body = format!("old {}\n\n", GENESIS + 200).into_bytes();
    body.extend_from_slice(&cp100);
    let status = post_add_checkpoint(&restarted[0], &body);
    assert!(status == 400 || status == 409, "rollback answered {status}");

    // 7. A fork (the copy made after init): the same log key and genesis, the same entries
    //    minus one, grown past 200. Every witness refuses it, including the two restarted
    //    after kill -9.
    policy(&fork, &table);
    let o = output(&[
        "ingest",
        "--data",
        p(&fork),
        p(&subset(&all, &dir.path().join("f.notes"), |i| i != 57)),
    ]);
    let t = text(&o);
    assert!(
        t.contains(&format!(
            "NOT published: the checkpoint of {} entries has 0 of the 2 cosignatures",
            GENESIS + 259
        )),
        "{t}"
    );
    assert_eq!(t.matches("did not cosign").count(), 3, "{t}");
    assert!(
        t.contains("422"),
        "a fork must fail its consistency proof: {t}"
    );
    assert_eq!(
        published_size(&fork),
        GENESIS,
        "nothing of the fork is published beyond the genesis"
    );

    // 8. The honest log still grows with the witnesses afterwards.
    let o = output(&["ingest", "--data", p(&data), p(&part("d.notes", 200, 260))]);
    assert!(
        text(&o).contains(&format!(
            "published the checkpoint of {} entries",
            GENESIS + 260
        )),
        "{}",
        text(&o)
    );
    let proof = run(&["log", "prove", "--data", p(&data), "PS-0000258"], 0);
    // PS-0000258 is protocol 257 (from 0), so leaf 258 after the genesis.
    assert!(
        proof.contains(&format!("checked: the entry is leaf {}", GENESIS + 257)),
        "{proof}"
    );
    drop(w);
}

/// A witness rotates its key (docs/operator.md): a new key under the same name, the witness
/// restarted with its state file, the commission's `witnesses.toml` given the new key. The
/// checkpoints cosigned before and after both verify for an observer who trusts both keys of
/// that witness, which counts once toward the quorum; one who trusts only the old key sees
/// the quorum fail on the new checkpoint.
#[test]
fn a_witness_rotating_its_key_keeps_the_past_and_the_present_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let (src, data, bundle) = (
        dir.path().join("src"),
        dir.path().join("data"),
        dir.path().join("bundle"),
    );
    run(&["sim", "--out", p(&src), "--stations", "60"], 0);
    init(&src, &data);
    let log_vkey = run(&["log", "key", "--data", p(&data)], 0)
        .trim()
        .to_owned();
    let log_arg = format!("urna/sim-2025-assembly={log_vkey}");
    let keygen = |name: &str, file: &str| {
        run(
            &[
                "witness",
                "keygen",
                "--name",
                name,
                "--out",
                p(&dir.path().join(file)),
            ],
            0,
        )
        .trim()
        .to_owned()
    };
    let old_key = keygen("agency", "agency.key");
    let observers_key = keygen("observers", "observers.key");
    let agency = start_witness(dir.path(), "agency", &log_arg, true);
    let observers = start_witness(dir.path(), "observers", &log_arg, true);
    policy(
        &data,
        &[
            ("agency", &agency.url, &old_key),
            ("observers", &observers.url, &observers_key),
        ],
    );
    let all = src.join("protocols.notes");
    let first = subset(&all, &dir.path().join("a.notes"), |i| i < 30);
    let rest = subset(&all, &dir.path().join("b.notes"), |i| i >= 30);
    run(&["ingest", "--data", p(&data), p(&first)], 0);
    run(&["publish", "--data", p(&data), "--out", p(&bundle)], 0);
    let older = std::fs::canonicalize(bundle.join("current")).unwrap();

    // The rotation: the new key replaces the old one's file, the state file is kept.
    let new_key = keygen("agency", "agency-new.key");
    assert_ne!(new_key, old_key);
    drop(agency);
    std::fs::rename(
        dir.path().join("agency-new.key"),
        dir.path().join("agency.key"),
    )
    .unwrap();
    let agency = start_witness(dir.path(), "agency", &log_arg, false);
    policy(
        &data,
        &[
            ("agency", &agency.url, &new_key),
            ("observers", &observers.url, &observers_key),
        ],
    );
    let o = output(&["ingest", "--data", p(&data), p(&rest)]);
    assert!(
        text(&o).contains("cosigned by agency, observers"),
        "{}",
        text(&o)
    );
    run(&["publish", "--data", p(&data), "--out", p(&bundle)], 0);
    let newer = bundle.join("current");
    let cp = Note::parse(&std::fs::read(newer.join("checkpoint")).unwrap()).unwrap();
    CosignatureVerifier::from_vkey(&new_key)
        .unwrap()
        .verify(&cp)
        .unwrap();

    let verify = |location: &Path, witnesses: &[&str]| {
        let mut args = vec!["verify", p(location), "--log-key", &log_vkey];
        for w in witnesses {
            args.extend(["--witness", w]);
        }
        output(&args)
    };
    // Both keys of the agency trusted: both generations verify, the agency counted once.
    for location in [&older, &newer] {
        let o = verify(location, &[&old_key, &new_key, &observers_key]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(text(&o).contains("2 of 2"), "{}", text(&o));
    }
    // Only the old key: the new checkpoint lacks the agency's cosignature.
    let o = verify(&newer, &[&old_key, &observers_key]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("[witness-quorum]"), "{t}");
    // Only the new key: the old checkpoint lacks it the same way.
    let o = verify(&older, &[&new_key, &observers_key]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

/// The log rotates its key (docs/operator.md "rotating the log key"): `urna log new-key`,
/// `urna log rotate`, the witnesses restarted with both keys. An observer who trusts the old
/// key verifies both generations by following the rotation in the log; one who trusts only
/// the new key verifies the later one. A checkpoint after the rotation signed by the old key,
/// and a rotation signed by the new key alone, are refused.
#[test]
fn the_log_rotating_its_key_keeps_both_generations_verifiable_by_the_old_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (src, data, bundle) = (d.join("src"), d.join("data"), d.join("bundle"));
    run(&["sim", "--out", p(&src), "--stations", "60"], 0);
    init(&src, &data);
    let origin = "urna/sim-2025-assembly";
    let old_vkey = run(&["log", "key", "--data", p(&data)], 0)
        .trim()
        .to_owned();
    let old_arg = format!("{origin}={old_vkey}");
    let keygen = |name: &str| {
        run(
            &[
                "witness",
                "keygen",
                "--name",
                name,
                "--out",
                p(&d.join(format!("{name}.key"))),
            ],
            0,
        )
        .trim()
        .to_owned()
    };
    let agency_key = keygen("agency");
    let observers_key = keygen("observers");
    let agency = start_witness(d, "agency", &old_arg, true);
    let observers = start_witness(d, "observers", &old_arg, true);
    policy(
        &data,
        &[
            ("agency", &agency.url, &agency_key),
            ("observers", &observers.url, &observers_key),
        ],
    );
    let all = src.join("protocols.notes");
    let first = subset(&all, &d.join("a.notes"), |i| i < 30);
    let rest = subset(&all, &d.join("b.notes"), |i| i >= 30);
    run(&["ingest", "--data", p(&data), p(&first)], 0);
    run(&["publish", "--data", p(&data), "--out", p(&bundle)], 0);
    let older = std::fs::canonicalize(bundle.join("current")).unwrap();
    // Kept only to forge what an attacker holding the old key could sign later.
    let old_skey = std::fs::read_to_string(data.join("secrets/log.key")).unwrap();
    let before_rotation = d.join("data-before");
    copy_dir(&data, &before_rotation);

    // The rotation, with the witnesses still knowing the old key only: the entry is logged,
    // the new key's first checkpoint waits for them.
    let new_vkey = run(
        &[
            "log",
            "new-key",
            "--data",
            p(&data),
            "--out",
            p(&d.join("log-new.key")),
        ],
        0,
    )
    .trim()
    .to_owned();
    assert_ne!(new_vkey, old_vkey);
    let o = output(&[
        "log",
        "rotate",
        "--data",
        p(&data),
        "--new-key",
        p(&d.join("log-new.key")),
        "--reason",
        "scheduled rotation before the count",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let rotation_index = GENESIS + 30;
    assert!(
        text(&o).contains(&format!("rotation: entry {rotation_index}")),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("give each witness the new key"),
        "{}",
        text(&o)
    );
    assert_eq!(run(&["log", "key", "--data", p(&data)], 0).trim(), new_vkey);
    // Until the witnesses cosign the new key's first checkpoint, the old key's stays published
    // and readable.
    let published = run(&["log", "checkpoint", "--data", p(&data)], 0);
    assert!(
        published.contains(&format!("\n{rotation_index}\n")),
        "{published}"
    );

    // The witnesses restarted with both keys, their state kept: they cosign the new key's
    // checkpoints, consistent with what they cosigned under the old one.
    drop((agency, observers));
    let new_arg = format!("{origin}={new_vkey}");
    let agency = start_witness_logs(d, "agency", &[&old_arg, &new_arg], false);
    let observers = start_witness_logs(d, "observers", &[&old_arg, &new_arg], false);
    policy(
        &data,
        &[
            ("agency", &agency.url, &agency_key),
            ("observers", &observers.url, &observers_key),
        ],
    );
    let o = output(&["ingest", "--data", p(&data), p(&rest)]);
    assert!(
        text(&o).contains("cosigned by agency, observers"),
        "{}",
        text(&o)
    );
    run(&["publish", "--data", p(&data), "--out", p(&bundle)], 0);
    let newer = bundle.join("current");
    let cp_bytes = std::fs::read(newer.join("checkpoint")).unwrap();
    let cp = Note::parse(&cp_bytes).unwrap();
    let old_verifier = urna_model::note::NoteVerifier::from_vkey(&old_vkey).unwrap();
    let new_verifier = urna_model::note::NoteVerifier::from_vkey(&new_vkey).unwrap();
    new_verifier.verify(&cp).unwrap();
    assert!(old_verifier.verify(&cp).is_err());
    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(newer.join("v1/keys.json")).unwrap()).unwrap();
    assert_eq!(keys["log"]["key"], new_vkey.as_str());
    assert_eq!(keys["log"]["rotations"][0]["index"], rotation_index);
    assert_eq!(keys["log"]["rotations"][0]["old"], old_vkey.as_str());

    let verify = |location: &Path, log_key: &str| {
        output(&[
            "verify",
            p(location),
            "--log-key",
            log_key,
            "--witness",
            &agency_key,
            "--witness",
            &observers_key,
        ])
    };
    // The old key: both generations, the later one through the rotation entry.
    for location in [&older, &newer] {
        let o = verify(location, &old_vkey);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(text(&o).contains("VERIFIED"), "{}", text(&o));
    }
    // The new key alone: the later generation (the earlier is not its to vouch for).
    let o = verify(&newer, &new_vkey);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = verify(&older, &new_vkey);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("[checkpoint-signature]"), "{}", text(&o));

    // Tampered: the checkpoint after the rotation re-signed by the old key (the witnesses'
    // cosignatures over the same text kept).
    let forged = d.join("forged");
    copy_dir(&newer, &forged);
    let old_signer = urna_model::note::NoteSigner::from_skey(old_skey.trim()).unwrap();
    let mut by_old = Note::unsigned(cp.text()).unwrap();
    by_old.sign(&old_signer);
    for s in cp.signatures().iter().filter(|s| s.name != origin) {
        by_old.add_signature(s.clone());
    }
    std::fs::remove_file(forged.join("checkpoint")).unwrap();
    std::fs::write(forged.join("checkpoint"), by_old.to_bytes()).unwrap();
    let o = verify(&forged, &old_vkey);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("[checkpoint-key-rotated]"),
        "{}",
        text(&o)
    );

    // Tampered: a rotation signed by the new key alone, written into the database of the log
    // as it was before the rotation: the open refuses it, naming the entry.
    let new_signer = urna_model::note::NoteSigner::from_skey(
        std::fs::read_to_string(d.join("log-new.key"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    // The honest rotation's text (naming the tree before it), with another reason.
    let honest: Vec<u8> = rusqlite::Connection::open(data.join("urna.sqlite"))
        .unwrap()
        .query_row(
            "SELECT note FROM entries WHERE idx = ?1",
            [rotation_index as i64],
            |r| r.get(0),
        )
        .unwrap();
    let honest_text = Note::parse(&honest).unwrap().text().to_owned();
    assert!(
        honest_text.contains(&format!("\nsize: {rotation_index}\nroot: sha256:")),
        "{honest_text}"
    );
    let text_only = honest_text.replace(
        "reason: scheduled rotation before the count",
        "reason: forged",
    );
    assert!(
        text_only.contains(&format!("new: {new_vkey}\n")),
        "{text_only}"
    );
    let one_signature = new_signer.sign_text(&text_only).to_bytes();
    let conn = rusqlite::Connection::open(before_rotation.join("urna.sqlite")).unwrap();
    conn.execute(
        "INSERT INTO entries (idx, hash, text_hash, contest, station, revision, status, received_ms, note) \
         VALUES (?1, ?2, ?3, '', '', 0, 0, 0, ?4)",
        rusqlite::params![
            rotation_index as i64,
            urna_model::intake::sha256(&one_signature).as_slice(),
            urna_model::intake::sha256(text_only.as_bytes()).as_slice(),
            one_signature
        ],
    )
    .unwrap();
    drop(conn);
    let o = output(&["status", "--data", p(&before_rotation)]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("entry {rotation_index}")) && text(&o).contains("old key"),
        "{}",
        text(&o)
    );
}
