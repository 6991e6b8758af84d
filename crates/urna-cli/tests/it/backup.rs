//! One ordered story: `urna backup` taken while `urna serve` takes protocols under load (a
//! witness cosigning), then `urna restore` into new directories: the backup older than the
//! final cosigned checkpoint is refused as a rollback; the backup taken after the last
//! submission restores every acknowledged note, serves, publishes and verifies.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use urna_model::pack::PackReader;

use crate::log_story::start_witness;
use crate::server::{Server, post_note};
use crate::{init, p, run, urna};

/// Entry 0 of every log is the genesis `urna init` writes.
const GENESIS: u64 = 1;
const STATIONS: usize = 300;
/// The backup is taken once this many notes were acknowledged…
const BACKUP_AFTER: usize = 60;
/// …and the load holds here until it is done, so that later notes are surely not in it.
const HOLD_AT: usize = 200;

fn notes(pack: &Path) -> Vec<Vec<u8>> {
    PackReader::new(std::fs::File::open(pack).unwrap())
        .map(Result::unwrap)
        .collect()
}

fn checkpoint_size(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().nth(1).unwrap().parse().unwrap()
}

#[test]
fn backup_under_load_restores_every_acknowledged_note_and_refuses_a_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let data = dir.path().join("data");
    run(
        &["sim", "--out", p(&src), "--stations", &STATIONS.to_string()],
        0,
    );
    init(&src, &data);

    // 1. A witness (quorum 1) for the log.
    let status = run(&["status", "--data", p(&data)], 0);
    let log_vkey = status
        .lines()
        .find_map(|l| l.strip_prefix("log key:    "))
        .unwrap()
        .to_owned();
    let log_arg = format!("urna/sim-2025-assembly={log_vkey}");
    let witness_key = run(
        &[
            "witness",
            "keygen",
            "--name",
            "observers",
            "--out",
            p(&dir.path().join("observers.key")),
        ],
        0,
    );
    let witness = start_witness(dir.path(), "observers", &log_arg, true);
    std::fs::write(
        data.join("witnesses.toml"),
        format!(
            "quorum = 1\n\n[[witness]]\nname = \"observers\"\nurl = \"{}\"\nkey = \"{}\"\n",
            witness.url,
            witness_key.trim()
        ),
    )
    .unwrap();

    // 2. The server takes every station's protocol from a thread; each acknowledged entry
    // (its hash and index from the receipt) is recorded.
    let server = Server::start(&data, &[]);
    let all = notes(&src.join("protocols.notes"));
    assert_eq!(all.len(), STATIONS);
    let acked: Arc<Mutex<BTreeMap<u64, String>>> = Arc::default();
    let sent = Arc::new(AtomicUsize::new(0));
    let backed_up = Arc::new(AtomicBool::new(false));
    let load = {
        let (addr, acked, sent, backed_up) = (
            server.addr.clone(),
            Arc::clone(&acked),
            Arc::clone(&sent),
            Arc::clone(&backed_up),
        );
        std::thread::spawn(move || {
            for (i, note) in all.iter().enumerate() {
                if i == HOLD_AT {
                    while !backed_up.load(Ordering::Acquire) {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                let answer = loop {
                    let r = post_note(&addr, note);
                    if r.status != 503 {
                        assert!(
                            r.status == 201 || r.status == 200,
                            "{}: {}",
                            r.status,
                            String::from_utf8_lossy(&r.body)
                        );
                        break r.json();
                    }
                    std::thread::sleep(Duration::from_millis(20));
                };
                let index = answer["index"].as_u64().unwrap();
                let entry = answer["entry"].as_str().unwrap().to_owned();
                acked.lock().unwrap().insert(index, entry);
                sent.store(i + 1, Ordering::Release);
            }
        })
    };

    // 3. `urna backup` mid-load.
    while sent.load(Ordering::Acquire) < BACKUP_AFTER {
        std::thread::sleep(Duration::from_millis(5));
    }
    let early = dir.path().join("backup-early");
    let out = run(&["backup", "--data", p(&data), "--out", p(&early)], 0);
    assert!(out.contains("no private keys"), "{out}");
    backed_up.store(true, Ordering::Release);
    load.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), STATIONS);
    let total = GENESIS + STATIONS as u64;
    let early_size: u64 = std::fs::read_to_string(early.join("backup.toml"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("log_size = "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        early_size > GENESIS + BACKUP_AFTER as u64 - 1 && early_size <= GENESIS + HOLD_AT as u64,
        "{early_size}"
    );

    // 4. The final checkpoint, cosigned by the witness; a backup after the last submission,
    // still under the running server, with the keys.
    server.wait_bundle(total);
    let final_cp = dir.path().join("final.checkpoint");
    std::fs::copy(data.join("log/checkpoint"), &final_cp).unwrap();
    assert_eq!(checkpoint_size(&final_cp), total);
    let late = dir.path().join("backup-late");
    let out = run(
        &[
            "backup",
            "--data",
            p(&data),
            "--out",
            p(&late),
            "--with-secrets",
        ],
        0,
    );
    assert!(
        out.contains("WARNING") && out.contains("PRIVATE key"),
        "{out}"
    );
    assert!(out.contains(&format!("{total} entries")), "{out}");
    // The early backup against the running server's checkpoint: a rollback.
    let r1 = dir.path().join("restored-early");
    let out = urna()
        .args(["restore", "--from", p(&early), "--data", p(&r1)])
        .args(["--secrets", p(&data.join("secrets"))])
        .args(["--checkpoint-from", &server.url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("rollback") && text.contains(&server.url),
        "{text}"
    );
    assert_eq!(server.stop().code(), Some(0));

    // 5. The early backup against the final checkpoint file: refused as a rollback, both
    // sizes named, nothing written.
    let out = urna()
        .args(["restore", "--from", p(&early), "--data", p(&r1)])
        .args(["--secrets", p(&data.join("secrets"))])
        .args(["--checkpoint", p(&final_cp)])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("rollback"), "{text}");
    assert!(
        text.contains(&format!("holds {early_size} entries"))
            && text.contains(&format!("covers {total}")),
        "{text}"
    );
    assert!(!r1.exists());
    // Without the key it is not restored either (usage error, not a refusal).
    let out = urna()
        .args(["restore", "--from", p(&early), "--data", p(&r1)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!r1.exists());

    // 6. The late backup, checked against the original directory's published checkpoint.
    //    First under a witness policy the operator keeps apart, naming another key for the
    //    witness: its cosignature does not count, so the quorum is not met and nothing is
    //    written.
    let other_key = run(
        &[
            "witness",
            "keygen",
            "--name",
            "observers",
            "--out",
            p(&dir.path().join("other.key")),
        ],
        0,
    );
    let policy = std::fs::read_to_string(data.join("witnesses.toml")).unwrap();
    let forged = dir.path().join("forged-witnesses.toml");
    std::fs::write(
        &forged,
        policy.replace(witness_key.trim(), other_key.trim()),
    )
    .unwrap();
    let r2 = dir.path().join("restored");
    let out = urna()
        .args(["restore", "--from", p(&late), "--data", p(&r2)])
        .args(["--checkpoint-from", p(&data), "--witnesses", p(&forged)])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("cosigned by 0 of the witnesses of the witness policy, whose quorum is 1"),
        "{text}"
    );
    assert!(!r2.exists());
    let out = run(
        &[
            "restore",
            "--from",
            p(&late),
            "--data",
            p(&r2),
            "--checkpoint-from",
            p(&data),
            "--witnesses",
            p(&data.join("witnesses.toml")),
        ],
        0,
    );
    assert!(
        out.contains(&format!("{total} entries, every note checked")),
        "{out}"
    );
    assert!(out.contains("no rollback, no fork"), "{out}");
    let store = urna_store::Store::open(&r2).unwrap();
    assert_eq!(store.len(), total);
    for (index, entry) in &acked {
        let row = store.entry(*index).unwrap().unwrap();
        assert_eq!(
            format!("sha256:{}", urna_model::protocol::hex(&row.hash)),
            *entry,
            "acknowledged entry {index}"
        );
    }
    drop(store);

    // 7. The restored directory serves (its witness cosigns the same history), publishes and
    // verifies.
    let server = Server::start(&r2, &[]);
    server.wait_bundle(total);
    assert_eq!(server.stop().code(), Some(0));
    let bundle = dir.path().join("bundle");
    run(&["publish", "--data", p(&r2), "--out", p(&bundle)], 0);
    let key = run(&["log", "key", "--data", p(&r2)], 0);
    run(
        &[
            "verify",
            p(&bundle.join("current")),
            "--log-key",
            key.trim(),
            "--trust",
            p(&r2.join("witnesses.toml")),
        ],
        0,
    );
    drop(witness);
}
