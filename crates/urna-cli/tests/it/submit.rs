//! `urna submit` against the real `urna serve`, as one ordered story: a polling station's
//! protocols stored with verified receipts, sent again as duplicates, a forgery refused, a
//! wrong log key caught, then the server down: amendments kept in the queue and sent once it
//! is back.

use std::collections::BTreeSet;
use std::path::Path;

use urna_model::intake::sha256;
use urna_model::note::{Note, NoteVerifier};
use urna_model::pack::PackReader;
use urna_model::protocol::hex;
use urna_model::receipt::Receipt;
use urna_sim::{SimConfig, Simulation};

use crate::server::Server;
use crate::{init, p, run, urna};

const STATIONS: u32 = 200;

/// Entry 0 of every log is the genesis `urna init` writes; protocols start at index 1.
const GENESIS: u64 = 1;

fn notes(pack: &Path) -> Vec<Vec<u8>> {
    PackReader::new(std::fs::File::open(pack).unwrap())
        .map(Result::unwrap)
        .collect()
}

/// Runs `urna submit ARGS`; returns (exit code, stdout, stderr).
fn submit(args: &[&str]) -> (i32, String, String) {
    let out = urna().arg("submit").args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Checks one `stored`/`duplicate` line per note, in order; returns the indices.
fn check_lines(stdout: &str, notes: &[Vec<u8>], word: &str) -> Vec<u64> {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), notes.len(), "{stdout}");
    lines
        .iter()
        .zip(notes)
        .map(|(line, note)| {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f[0], word, "{line}");
            assert_eq!(
                *f.last().unwrap(),
                format!("sha256:{}", hex(&sha256(note))),
                "{line}"
            );
            if word == "stored" {
                assert!(matches!(f[2], "accepted" | "quarantined"), "{line}");
                assert_eq!(f.len(), 5, "{line}");
            } else {
                assert_eq!(f.len(), 4, "{line}");
            }
            f[1].parse().unwrap()
        })
        .collect()
}

/// Checks a receipt independently of the client: signed by the log, for this entry.
fn check_receipt(key: &NoteVerifier, receipt: &[u8], entry: &[u8; 32]) -> u64 {
    let note = Note::parse(receipt).unwrap();
    key.verify(&note).unwrap();
    let r = Receipt::parse(note.text()).unwrap();
    assert_eq!(r.log, key.name());
    assert_eq!(&r.entry, entry);
    r.index
}

#[test]
fn submit_stores_with_receipts_and_queues_while_the_server_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("sim");
    let data = dir.path().join("data");
    run(
        &["sim", "--out", p(&src), "--stations", &STATIONS.to_string()],
        0,
    );
    init(&src, &data);
    let vkey = run(&["log", "key", "--data", p(&data)], 0)
        .trim()
        .to_owned();
    let key = NoteVerifier::from_vkey(&vkey).unwrap();
    let protocols_pack = src.join("protocols.notes");
    let protocols = notes(&protocols_pack);
    let amendments_pack = src.join("amendments.notes");
    let amendments = notes(&amendments_pack);
    assert_eq!(protocols.len(), STATIONS as usize);
    assert!(!amendments.is_empty());

    // 1. Every protocol stored, one line each, receipts verified (by the client, and here
    //    again from the --receipts pack).
    let server = Server::start(&data, &[]);
    let receipts = dir.path().join("receipts.notes");
    let (code, stdout, stderr) = submit(&[
        "--to",
        &server.url,
        "--log-key",
        &vkey,
        "--receipts",
        p(&receipts),
        p(&protocols_pack),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let indices = check_lines(&stdout, &protocols, "stored");
    assert_eq!(
        indices.iter().copied().collect::<BTreeSet<_>>(),
        (GENESIS..GENESIS + u64::from(STATIONS)).collect()
    );
    assert!(stdout.contains(" quarantined "), "{stdout}");
    let got = notes(&receipts);
    assert_eq!(got.len(), protocols.len());
    for ((r, note), index) in got.iter().zip(&protocols).zip(&indices) {
        assert_eq!(check_receipt(&key, r, &sha256(note)), *index);
    }

    // 2. The same notes again, from a directory: duplicates at the same indices, exit 0.
    let again_dir = dir.path().join("again");
    std::fs::create_dir(&again_dir).unwrap();
    std::fs::copy(&protocols_pack, again_dir.join("protocols.notes")).unwrap();
    let (code, stdout, stderr) = submit(&["--to", &server.url, "--log-key", &vkey, p(&again_dir)]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(check_lines(&stdout, &protocols, "duplicate"), indices);

    // 3. A forgery is refused with its code, and the run exits 1.
    let sim = Simulation::new(SimConfig {
        seed: 2025,
        stations: STATIONS,
        districts: 12,
        error_rate_per_10k: 200,
        ..SimConfig::default()
    });
    let forged = dir.path().join("forged.note");
    std::fs::write(&forged, &sim.attacks()[0].1).unwrap();
    let (code, stdout, stderr) = submit(&["--to", &server.url, "--log-key", &vkey, p(&forged)]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with(&format!(
            "refused bad-signature sha256:{} ",
            hex(&sha256(&sim.attacks()[0].1))
        )),
        "{stdout}"
    );

    // 4. A server whose receipts are not signed by the pinned key: a bad receipt, exit 2.
    let keyfile = dir.path().join("other.key");
    let other = run(&["keys", "generate", key.name(), "--out", p(&keyfile)], 0);
    let (code, stdout, stderr) = submit(&[
        "--to",
        &server.url,
        "--log-key",
        other.trim(),
        p(&protocols_pack),
    ]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stderr.contains("bad receipt"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let old_url = server.url.clone();
    assert!(server.stop().success());

    // 5. The server is down: the amendments are queued durably, exit 1, with the command
    //    to resend.
    let queue = dir.path().join("queue");
    let (code, stdout, stderr) = submit(&[
        "--to",
        &old_url,
        "--log-key",
        &vkey,
        "--queue",
        p(&queue),
        "--attempts",
        "2",
        "--timeout-ms",
        "2000",
        p(&amendments_pack),
    ]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    // Said once, not once per note: the URL and the OS error, how many notes the queue keeps,
    // and the command that sends them.
    assert!(stdout.is_empty(), "{stdout}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(
        lines[0].starts_with(&format!(
            "urna submit: cannot reach {old_url}/v1/protocols: "
        )) && lines[0].contains("(os error ")
            && lines[0].ends_with("(2 attempts)"),
        "{stderr}"
    );
    assert_eq!(
        lines[1],
        format!(
            "urna submit: {} notes kept in the queue {}; send them once the server answers: urna submit --to {old_url} --log-key {vkey} --queue {}",
            amendments.len(),
            queue.display(),
            queue.display()
        )
    );
    for note in &amendments {
        let queued = queue.join(format!("{}.note", hex(&sha256(note))));
        assert_eq!(&std::fs::read(&queued).unwrap(), note);
    }

    // 6. The server is back (on another port): sending the queue stores every note, in the
    //    order queued, and keeps the proof.
    let server = Server::start(&data, &[]);
    let (code, stdout, stderr) = submit(&[
        "--to",
        &server.url,
        "--log-key",
        &vkey,
        "--queue",
        p(&queue),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let amendment_indices = check_lines(&stdout, &amendments, "stored");
    for (note, index) in amendments.iter().zip(&amendment_indices) {
        let h = hex(&sha256(note));
        assert!(!queue.join(format!("{h}.note")).exists());
        assert_eq!(
            &std::fs::read(queue.join(format!("sent/{h}.note"))).unwrap(),
            note
        );
        let receipt = std::fs::read(queue.join(format!("receipts/{h}.receipt"))).unwrap();
        assert_eq!(check_receipt(&key, &receipt, &sha256(note)), *index);
    }

    // 7. An empty queue: nothing to do, exit 0.
    let (code, stdout, stderr) = submit(&[
        "--to",
        &server.url,
        "--log-key",
        &vkey,
        "--queue",
        p(&queue),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(server.stop().success());
}

/// A protocol whose text the log already holds under other signatures (here the station's
/// note with an observer's signature added, sent first; a counting centre's keyed copy of the
/// same paper is another case) is a duplicate: the answer carries the held note, the client
/// checks it has this text and that the receipt names it, and delivery goes on with the next
/// notes instead of stopping at a receipt it cannot match.
#[test]
fn a_text_held_under_other_signatures_is_a_duplicate_and_delivery_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("sim");
    let data = dir.path().join("data");
    run(&["sim", "--out", p(&src), "--stations", "5"], 0);
    init(&src, &data);
    let vkey = run(&["log", "key", "--data", p(&data)], 0)
        .trim()
        .to_owned();
    let key = NoteVerifier::from_vkey(&vkey).unwrap();
    let protocols = notes(&src.join("protocols.notes"));
    let mut other = Note::parse(&protocols[0]).unwrap();
    other.sign(&urna_model::note::NoteSigner::from_seed("observer", &[5; 32]).unwrap());
    let other = other.to_bytes();
    assert_ne!(other, protocols[0]);
    let server = Server::start(&data, &[]);
    let first = dir.path().join("other.note");
    std::fs::write(&first, &other).unwrap();
    let (code, stdout, stderr) = submit(&["--to", &server.url, "--log-key", &vkey, p(&first)]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with(&format!("stored {GENESIS} ")),
        "{stdout}"
    );

    // The station's own notes, queued: the first is held as `other`, the rest are stored.
    let queue = dir.path().join("queue");
    let (code, stdout, stderr) = submit(&[
        "--to",
        &server.url,
        "--log-key",
        &vkey,
        "--queue",
        p(&queue),
        "--receipts",
        p(&dir.path().join("receipts.notes")),
        p(&src.join("protocols.notes")),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), protocols.len(), "{stdout}");
    assert_eq!(
        lines[0],
        format!(
            "duplicate {GENESIS} {} sha256:{} same-text",
            lines[0].split(' ').nth(2).unwrap(),
            hex(&sha256(&other))
        ),
        "{stdout}"
    );
    assert!(
        lines[1..].iter().all(|l| l.starts_with("stored ")),
        "{stdout}"
    );
    // The receipt kept for the first note is the log's promise for the held note.
    let receipts = notes(&dir.path().join("receipts.notes"));
    assert_eq!(check_receipt(&key, &receipts[0], &sha256(&other)), GENESIS);
    assert!(server.stop().success());
}
