//! The witness policy of a live PostgreSQL cluster changed with `urna log witnesses --store`,
//! end to end with the real binary: two `urna serve --store` nodes, three real `urna witness
//! serve` processes (quorum 2 of 3) and a client submitting protocols all along, as one
//! ordered story:
//!
//! 1. A policy file with a bad field is refused, naming it; the policy in force is unchanged.
//! 2. Witness `agency` makes a new key; the policy naming it, with the quorum raised to 3 of 3,
//!    is stored while `agency` still runs with its old key: its cosignatures stop counting at
//!    once, so nothing new is published, and the nodes keep serving the checkpoint published
//!    at the change (2 of its cosignatures count under the new policy: it is checked against
//!    the policy that cosigned it); `urna status --store` shows the new policy.
//! 3. `agency` restarts with its new key and state: a checkpoint cosigned by its new key is
//!    published, and every checkpoint published after the change has the new policy's quorum
//!    and no cosignature by the old key.
//! 4. Throughout, every submission got its receipt at the first try and `GET /checkpoint` of
//!    both nodes answered 200; `urna publish --store` writes a bundle that `urna verify` with
//!    the new keys says VERIFIED, its `v1/keys.json` naming the new key, not the old.
//! 5. A `published` row written by hand with a note that has the old policy's quorum (the old
//!    key's cosignature beside a real one) is refused by `urna publish --store` and never
//!    served.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use urna_model::note::Note;
use urna_tlog::cosignature::CosignatureVerifier;

use crate::log_story::start_witness_on;
use crate::pg_cluster::{Cluster, free_addr, http, init_store, notes, sim, submit, wait_signed};
use crate::pg_witness::{output, published};
use crate::{p, run};
use urna_testkit::pg::PgServer;

/// The policy file text: quorum 2, one `[[witness]]` per (name, key, address).
fn policy_toml(quorum: usize, witnesses: &[(&str, &str, &str)]) -> String {
    let mut t = format!("quorum = {quorum}\n");
    for (n, k, a) in witnesses {
        t.push_str(&format!(
            "\n[[witness]]\nname = \"{n}\"\nurl = \"http://{a}\"\nkey = \"{k}\"\n"
        ));
    }
    t
}

/// How many of `keys` have a cosignature on `note` that verifies.
fn cosigned_by(note: &[u8], keys: &[&str]) -> usize {
    let note = Note::parse(note).unwrap();
    keys.iter()
        .filter(|k| {
            CosignatureVerifier::from_vkey(k)
                .unwrap()
                .verify(&note)
                .is_ok()
        })
        .count()
}

#[test]
fn pg_a_witness_re_keyed_on_a_live_cluster_never_lets_its_old_key_count_and_intake_never_stops() {
    let Some(pg) = PgServer::start() else { return };
    let url = pg.database("policy");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = sim(d, "2000", &[]);
    let definition = src.join("election.toml");
    let key = d.join("log.key");

    let names = ["agency", "observers", "press"];
    let wkeys: Vec<String> = names
        .iter()
        .map(|n| {
            let out = d.join(format!("{n}.key"));
            run(&["witness", "keygen", "--name", n, "--out", p(&out)], 0)
                .trim()
                .to_owned()
        })
        .collect();
    let addrs: Vec<String> = names.iter().map(|_| free_addr().to_string()).collect();
    let entries = |quorum: usize, keys: &[String]| -> String {
        let w: Vec<(&str, &str, &str)> = (0..3)
            .map(|i| (names[i], keys[i].as_str(), addrs[i].as_str()))
            .collect();
        policy_toml(quorum, &w)
    };
    let old_file = d.join("witnesses.toml");
    std::fs::write(&old_file, entries(2, &wkeys)).unwrap();
    let (out, signer) = init_store(&url, &definition, &key, &["--witnesses", p(&old_file)]);
    let vkey = signer.verifier().to_vkey();
    let log_arg = format!("{}={vkey}", signer.name());
    let start = |i: usize, init: bool| start_witness_on(d, names[i], &[&log_arg], init, &addrs[i]);
    assert!(out.contains("witnesses:  2 of 3"), "{out}");
    let mut witnesses: Vec<_> = (0..3).map(|i| Some(start(i, true))).collect();

    let cluster = Cluster {
        url: url.clone(),
        definition: definition.clone(),
        key: key.clone(),
    };
    let log = Arc::new(Mutex::new(String::new()));
    let node_addrs = [free_addr(), free_addr()];
    let mut nodes = [
        cluster.start_with(
            "node-a",
            node_addrs[0],
            Arc::clone(&log),
            &["--publish-ms", "100"],
        ),
        cluster.start_with(
            "node-b",
            node_addrs[1],
            Arc::clone(&log),
            &["--publish-ms", "100"],
        ),
    ];

    // The load: every protocol, one at a time, to both nodes in turn, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let retries = Arc::new(AtomicU64::new(0));
    let taken = Arc::new(AtomicU64::new(0));
    let load = {
        let (stop, retries, taken) = (Arc::clone(&stop), Arc::clone(&retries), Arc::clone(&taken));
        let pack = notes(&src.join("protocols.notes"));
        let verifier = signer.verifier();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(600);
            let mut refused = Vec::new();
            for (i, note) in pack.iter().enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Err(e) = submit(&node_addrs, i, note, &verifier, deadline, &retries) {
                    refused.push(e);
                }
                taken.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(15));
            }
            refused
        })
    };
    let first = wait_signed(&url, &log, "first quorum", |c| {
        c.published.is_some_and(|p| p > 1)
    });
    assert!(first.signed > 1);

    // `GET /checkpoint` of both nodes, all along: every status and each note with when it was
    // first served.
    let served: Arc<Mutex<BTreeMap<Vec<u8>, Instant>>> = Arc::default();
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let polling = Arc::new(AtomicBool::new(true));
    let poller = {
        let (served, failures, polling) = (
            Arc::clone(&served),
            Arc::clone(&failures),
            Arc::clone(&polling),
        );
        std::thread::spawn(move || {
            while polling.load(Ordering::Relaxed) {
                for addr in node_addrs {
                    match http(addr, "GET", "/checkpoint", b"") {
                        Some((200, body)) => {
                            served
                                .lock()
                                .unwrap()
                                .entry(body)
                                .or_insert_with(Instant::now);
                        }
                        Some((status, body)) => failures.lock().unwrap().push(format!(
                            "{addr}: {status} {}",
                            String::from_utf8_lossy(&body)
                        )),
                        None => failures.lock().unwrap().push(format!("{addr}: no answer")),
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    // 1. A bad policy file: refused naming the field, nothing stored.
    let bad = d.join("bad.toml");
    std::fs::write(
        &bad,
        policy_toml(
            2,
            &[
                ("agency", "not-a-key", &addrs[0]),
                ("press", &wkeys[2], &addrs[2]),
            ],
        ),
    )
    .unwrap();
    let witnesses_cmd = |file: &std::path::Path| {
        output(&["log", "witnesses", "--store", &url, "--witnesses", p(file)])
    };
    let (code, out) = witnesses_cmd(&bad);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("witness[1].key"), "{out}");
    let stored = || {
        let mut c = urna_pg::connect(&url).unwrap();
        urna_pg::witnesses::policy(&mut c).unwrap().unwrap().toml
    };
    assert_eq!(stored(), entries(2, &wkeys));
    let (code, out) = witnesses_cmd(&old_file);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("nothing changed"), "{out}");

    // 2. agency's new key, in the policy while agency still cosigns with the old one.
    let old_key_file = d.join("agency-old.key");
    std::fs::rename(d.join("agency.key"), &old_key_file).unwrap();
    let new_key = run(
        &[
            "witness",
            "keygen",
            "--name",
            "agency",
            "--out",
            p(&d.join("agency.key")),
        ],
        0,
    )
    .trim()
    .to_owned();
    let mut new_keys = wkeys.clone();
    new_keys[0] = new_key.clone();
    let new_file = d.join("witnesses-new.toml");
    std::fs::write(&new_file, entries(3, &new_keys)).unwrap();
    let (code, out) = witnesses_cmd(&new_file);
    let changed_at = Instant::now();
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "re-keyed witness agency: {} -> {new_key}",
            wkeys[0]
        )),
        "{out}"
    );
    assert_eq!(stored(), entries(3, &new_keys));
    assert!(out.contains("quorum: 2 -> 3"), "{out}");
    let at_change = published(&url).unwrap().0;
    let new: Vec<&str> = new_keys.iter().map(String::as_str).collect();
    let old_agency = wkeys[0].as_str();
    assert!(cosigned_by(&at_change, &new) < 3);
    // Nothing has the new quorum while agency cosigns with its old key: the checkpoint
    // published at the change stays, and is served.
    let t = Instant::now();
    while !log
        .lock()
        .unwrap()
        .contains("witness agency did not cosign")
    {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "{}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(published(&url).unwrap().0, at_change);
    for addr in node_addrs {
        let (status, body) = http(addr, "GET", "/checkpoint", b"").unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert_eq!((status, text(&body)), (200, text(&at_change)));
        assert_eq!(
            (status, &body),
            (200, &at_change),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    let (_, status) = output(&["status", "--store", &url]);
    assert!(status.contains("witnesses:  3 of 3"), "{status}");
    assert!(
        status.contains(&new_key) && !status.contains(old_agency),
        "{status}"
    );
    assert!(
        status.contains("cosigned under the policy before the last change"),
        "{status}"
    );

    // 3. agency restarts with its new key and its state; its new key cosigns.
    drop(witnesses[0].take());
    witnesses[0] = Some(start(0, false));
    let t = Instant::now();
    while cosigned_by(&published(&url).unwrap().0, &[&new_key]) == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "{}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, status) = output(&["status", "--store", &url]);
    assert!(
        !status.contains("policy before the last change"),
        "{status}"
    );

    // 4. The load ran through the change; then every entry gets published.
    let during = taken.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let refused = load.join().unwrap();
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(
        retries.load(Ordering::Relaxed),
        0,
        "a submission had to be retried"
    );
    let after = taken.load(Ordering::Relaxed);
    assert!(
        after > during && during > first.signed,
        "{} {during} {after}",
        first.signed
    );
    let last = wait_signed(&url, &log, "everything published", |c| {
        c.published == Some(c.signed)
    });
    assert!(cosigned_by(&published(&url).unwrap().0, &[&new_key]) == 1);
    std::thread::sleep(Duration::from_millis(300));
    polling.store(false, Ordering::Relaxed);
    poller.join().unwrap();
    let failures = failures.lock().unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    let served = served.lock().unwrap();
    assert!(served.len() > 2, "{}", served.len());
    // Every note first served after the change, but the one published when it was made, has
    // the new policy's quorum and no cosignature by the old key.
    for (note, seen) in served.iter() {
        if *seen > changed_at && *note != at_change {
            assert_eq!(cosigned_by(note, &[old_agency]), 0);
            assert!(
                cosigned_by(note, &new) >= 2,
                "{}",
                String::from_utf8_lossy(note)
            );
        }
    }
    assert!(served.values().any(|seen| *seen > changed_at));

    let bundle = d.join("bundle");
    let publish = || {
        output(&[
            "publish",
            "--store",
            &url,
            "--definition",
            p(&definition),
            "--log-key",
            p(&key),
            "--out",
            p(&bundle),
        ])
    };
    let (code, out) = publish();
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "published the checkpoint of {} entries",
            last.signed
        )),
        "{out}"
    );
    let trust = d.join("trust.toml");
    std::fs::write(
        &trust,
        format!(
            "log = \"{vkey}\"\nwitnesses = [\"{}\", \"{}\", \"{}\"]\nquorum = 3\n",
            new[0], new[1], new[2]
        ),
    )
    .unwrap();
    let (code, out) = output(&["verify", p(&bundle.join("current")), "--trust", p(&trust)]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("\nVERIFIED"), "{out}");
    let keys = std::fs::read_to_string(bundle.join("current/v1/keys.json")).unwrap();
    assert!(
        keys.contains(&new_key) && !keys.contains(old_agency),
        "{keys}"
    );

    // 5. A row written by hand: the published note with the old key's cosignature beside
    //    observers' and press's real ones (the old policy's quorum, 2 of the new one's 3).
    let (note, size) = published(&url).unwrap();
    let real = Note::parse(&note).unwrap();
    let mut forged = Note::unsigned(real.text()).unwrap();
    for s in real.signatures() {
        let agency = CosignatureVerifier::from_vkey(&new_key).unwrap();
        if s.name != "agency" || s.key_id != agency.key_id() {
            forged.add_signature(s.clone());
        }
    }
    let old = urna_server::WitnessKey::read(&old_key_file).unwrap();
    forged.add_signature(
        old.signer()
            .cosign_at(forged.text(), 1_800_000_000)
            .unwrap(),
    );
    let forged = forged.to_bytes();
    assert_eq!(cosigned_by(&forged, &[&wkeys[0], &wkeys[1], &wkeys[2]]), 3);
    assert_eq!(cosigned_by(&forged, &new), 2);
    signer
        .verifier()
        .verify(&Note::parse(&forged).unwrap())
        .unwrap();
    for node in &mut nodes {
        node.stop();
    }
    urna_pg::connect(&url)
        .unwrap()
        .execute(
            "UPDATE published SET checkpoint = $1 WHERE size = $2",
            &[&forged, &i64::try_from(size).unwrap()],
        )
        .unwrap();
    let (code, out) = publish();
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains("cosigned by 2 of the witness policy's witnesses, but its quorum is 3"),
        "{out}"
    );
    // A node started on it serves the note its own round gets cosigned again, never this one.
    let node = cluster.start_with(
        "node-c",
        node_addrs[0],
        Arc::clone(&log),
        &["--publish-ms", "100"],
    );
    let t = Instant::now();
    loop {
        if let Some((200, body)) = http(node_addrs[0], "GET", "/checkpoint", b"") {
            assert_ne!(body, forged);
            if cosigned_by(&body, &new) == 3 {
                break;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "{}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(node);
    drop(witnesses);
}
