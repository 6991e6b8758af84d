//! A whole risk-limiting audit through a `urna serve --store postgres://…` node and a SQLite
//! `urna serve` holding the same log (Albania 2021, the same 5,200 entries in the same order
//! under the same log key), end to end with the real binary and a real PostgreSQL, one ordered
//! story:
//!
//! 1. the audit's steps (start, seed, the hand counts) are computed by `urna audit` on a copy
//!    of the data directory and each note sent to both nodes: the same answers (status, index,
//!    entry), receipts that verify; round 1's sample and the verdict are computed from the
//!    database itself (`urna audit sample|verdict --store … --to <node>`), the sample also on
//!    the copy (the same note, byte for byte);
//! 2. notes the trail refuses (a second seed, a count of a station no sample drew, a step
//!    after the verdict, one signed by a key that is no authority) and a step sent again:
//!    the same answers, nothing more stored;
//! 3. both nodes' live bundles serve the same `v1/audit.json`, byte for byte;
//! 4. stopped, `urna publish --store` and `urna publish --data` write the same
//!    `v1/audit.json`, and `urna verify` says VERIFIED of both bundles;
//! 5. an audit row edited in the database (a second seed behind intake's back) is refused by
//!    the open of `urna publish --store`, naming the entry and the rule.

use std::path::Path;
use std::sync::{Arc, Mutex};

use urna_model::audit::{AuditBody, AuditStep};
use urna_model::note::{NoteSigner, NoteVerifier};
use urna_store::reader::EntryReader;

use crate::audit::{SEED, copy_dir, counts_file, logged_sample, source_rows, urna_output};
use crate::pg_cluster::{Cluster, free_addr, init_store, wait_signed};
use crate::pg_publish::publish_pg;
use crate::server::{Response, Server, get, post_note};
use crate::{p, run};
use urna_testkit::pg::PgServer;

/// The notes of entries `[from, ..)` of a data directory.
fn entries_from(data: &Path, from: u64) -> Vec<Vec<u8>> {
    let reader = EntryReader::open(data).unwrap();
    reader.read(from, reader.len().unwrap()).unwrap()
}

fn answer(r: &Response) -> (u16, String) {
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

/// Sends `note` to the SQLite node and to the PostgreSQL node: the same answer (but for the
/// receipt's time, on a stored note or a duplicate, whose receipt must verify); the status.
fn same_answer(lite: &str, pg: &str, note: &[u8], log_key: &NoteVerifier) -> Response {
    let (l, g) = (post_note(lite, note), post_note(pg, note));
    assert_eq!(l.status, g.status, "{:?} {:?}", answer(&l), answer(&g));
    if l.status < 300 {
        let (lj, gj) = (l.json(), g.json());
        for field in ["status", "index", "station", "entry"] {
            assert_eq!(lj[field], gj[field], "{field}: {lj} {gj}");
        }
        let index = gj["index"].as_u64().unwrap();
        urna_server::submit::verify_receipt(
            log_key,
            note,
            index,
            gj["receipt"].as_str().unwrap().as_bytes(),
        )
        .unwrap();
    } else {
        assert_eq!(answer(&l), answer(&g));
    }
    g
}

#[test]
fn a_whole_audit_through_a_pg_node_answers_and_publishes_as_through_a_sqlite_node() {
    let Some(pg) = PgServer::start() else { return };
    let url = pg.database("audit");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("al");
    crate::albania::import_2021(&data);
    // The audit's steps are computed on a copy (written by `urna audit` itself); each note
    // then goes to both nodes.
    let scratch = dir.path().join("scratch");
    copy_dir(&data, &scratch);
    let definition = data.join(urna_store::DEFINITION_FILE);
    let key = data.join(urna_store::log::LOG_KEY_FILE);
    let authority = data.join("secrets/central-commission.key");
    let signer =
        NoteSigner::from_skey(std::fs::read_to_string(&authority).unwrap().trim()).unwrap();
    let (_, log_signer) = init_store(&url, &definition, &key, &[]);
    let log_key = log_signer.verifier();
    let vkey = log_key.to_vkey();

    // The same log on PostgreSQL: the SQLite directory's entries, in order, through the
    // store's intake (in batches, as a node takes them).
    let imported = entries_from(&data, 1);
    {
        let mut store = urna_pg::PgStore::open(&url, &definition, log_signer).unwrap();
        let mut index = 1u64;
        for batch in imported.chunks(500) {
            for outcome in store.ingest(batch, &urna_store::SystemClock).unwrap() {
                let urna_store::Outcome::Stored { index: got, .. } = outcome else {
                    panic!("{outcome:?}")
                };
                assert_eq!(got, index);
                index += 1;
            }
        }
    }
    let lite = Server::start(&data, &["--publish-ms", "100", "--checkpoint-ms", "100"]);
    let cluster = Cluster {
        url: url.clone(),
        definition: definition.clone(),
        key: key.clone(),
    };
    let log = Arc::new(Mutex::new(String::new()));
    let bundle = dir.path().join("pg-bundle");
    let addr = free_addr();
    let mut node = cluster.start_with(
        "node-a",
        addr,
        Arc::clone(&log),
        &["--bundle", p(&bundle), "--publish-ms", "100"],
    );
    let node_addr = addr.to_string();
    let size = 1 + imported.len() as u64;
    assert_eq!(size, 5200);
    wait_signed(&url, &log, "the imported entries", |c| c.entries == size);
    lite.wait_bundle(size);
    assert_eq!(
        get(&lite.addr, "/v1/audit.json").status,
        404,
        "nothing audited yet"
    );

    // 1. The steps, computed on the copy and sent to both nodes.
    let local = ["--data", p(&scratch), "--key", p(&authority)];
    let mut next = size;
    let step = |cmd: &str, extra: &[&str], next: &mut u64| -> String {
        let (code, text) = urna_output(&[&["audit", cmd][..], &local, extra].concat());
        assert_eq!(code, Some(0), "{text}");
        let added = entries_from(&scratch, *next);
        assert!(!added.is_empty(), "{cmd}: {text}");
        for note in &added {
            let r = same_answer(&lite.addr, &node_addr, note, &log_key);
            assert_eq!(r.status, 201, "{:?}", answer(&r));
            assert_eq!(r.json()["index"], *next);
            *next += 1;
        }
        text
    };
    step("start", &["--rules", "generic", "--seats", "1"], &mut next);
    step("seed", &["--seed", SEED], &mut next);
    // Round 1's sample drawn from the database itself (`--store`, no data directory) and sent
    // to the PostgreSQL node; the copy draws the same note, byte for byte, which the SQLite
    // node takes at the same index.
    let node_url = format!("http://{node_addr}");
    let from_db = [
        "--store",
        &url,
        "--definition",
        p(&definition),
        "--key",
        p(&authority),
    ];
    let to_node = ["--to", &node_url, "--log-key", &vkey];
    let stored = |index: u64| {
        urna_pg::PgReader::connect(&url)
            .unwrap()
            .note(index)
            .unwrap()
    };
    let (code, text) = urna_output(&[&["audit", "sample"][..], &from_db, &to_node].concat());
    assert_eq!(code, Some(0), "{text}");
    let stations = logged_sample(&text);
    assert!(!stations.is_empty(), "{text}");
    let sample = stored(next).expect("the sample is stored");
    let (code, copy_text) = urna_output(&[&["audit", "sample"][..], &local].concat());
    assert_eq!(code, Some(0), "{copy_text}");
    assert_eq!(logged_sample(&copy_text), stations);
    assert_eq!(entries_from(&scratch, next), std::slice::from_ref(&sample));
    let r = post_note(&lite.addr, &sample);
    assert_eq!(r.status, 201, "{:?}", answer(&r));
    assert_eq!(r.json()["index"], next);
    next += 1;
    let rows = source_rows();
    let counts = dir.path().join("counts.csv");
    counts_file(&counts, &rows, &stations, |_, _| {});
    step("count", &["--counts", p(&counts)], &mut next);
    // The verdict computed from the database itself too, and sent to the PostgreSQL node; the
    // SQLite node then takes the same note at the same index.
    let (code, text) = urna_output(&[&["audit", "verdict"][..], &from_db].concat());
    assert_eq!(
        code,
        Some(2),
        "a step from --store needs a node to go to: {text}"
    );
    assert!(text.contains("--to"), "{text}");
    let (code, text) = urna_output(&[&["audit", "verdict"][..], &from_db, &to_node].concat());
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("verdict: risk limit met"), "{text}");
    let verdict = stored(next).expect("the verdict is stored");
    let r = post_note(&lite.addr, &verdict);
    assert_eq!(r.status, 201, "{:?}", answer(&r));
    assert_eq!(r.json()["index"], next);
    next += 1;
    let end = next;
    assert_eq!(end, 5204 + stations.len() as u64);

    // 2. Refusals and a duplicate: the same answers, nothing stored.
    let body = |step: AuditStep| AuditBody {
        election: "al-2021-assembly".into(),
        contest: "assembly".into(),
        step,
    };
    let second_seed = signer
        .sign_text(
            &body(AuditStep::Seed {
                seed: "98765432109876543210".into(),
            })
            .to_text(),
        )
        .to_bytes();
    let r = same_answer(&lite.addr, &node_addr, &second_seed, &log_key);
    assert_eq!(r.status, 409, "{:?}", answer(&r));
    assert_eq!(r.json()["error"]["code"], "audit-does-not-follow");
    let unsampled = rows.keys().find(|s| !stations.contains(s)).unwrap();
    let row = &rows[unsampled];
    let count = signer
        .sign_text(
            &body(AuditStep::Count {
                station: unsampled.clone(),
                votes: crate::audit::LISTS
                    .iter()
                    .map(|l| ((*l).to_owned(), row[*l]))
                    .collect(),
                invalid: row["InvalidBallots"],
            })
            .to_text(),
        )
        .to_bytes();
    let r = same_answer(&lite.addr, &node_addr, &count, &log_key);
    assert_eq!(r.status, 409, "{:?}", answer(&r));
    assert_eq!(r.json()["error"]["field"], "kind");
    let stranger = NoteSigner::from_seed("KQZ", &[9; 32]).unwrap();
    let forged = stranger
        .sign_text(&body(AuditStep::Seed { seed: SEED.into() }).to_text())
        .to_bytes();
    let r = same_answer(&lite.addr, &node_addr, &forged, &log_key);
    assert_eq!(r.status, 403, "{:?}", answer(&r));
    assert_eq!(r.json()["error"]["code"], "bad-authority");
    let seed_note = entries_from(&scratch, size + 1).remove(0);
    let r = same_answer(&lite.addr, &node_addr, &seed_note, &log_key);
    assert_eq!(r.status, 200, "{:?}", answer(&r));
    assert_eq!(r.json()["status"], "duplicate");
    assert_eq!(r.json()["index"], size + 1);
    let c = wait_signed(&url, &log, "the audit's entries", |c| c.entries == end);
    assert_eq!(c.entries, end, "the refusals stored nothing");

    // 3. The live bundles: the same `v1/audit.json`.
    lite.wait_bundle(end);
    let t = std::time::Instant::now();
    let pg_audit = loop {
        let r = get(&node_addr, "/v1/audit.json");
        let json: Option<serde_json::Value> = (r.status == 200)
            .then(|| serde_json::from_slice(&r.body).ok())
            .flatten();
        if json
            .as_ref()
            .is_some_and(|j| j["audits"][0]["status"] == "risk-limit-met")
        {
            break r.body;
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(60),
            "the node's bundle has no finished audit: {:?}\n{}",
            answer(&r),
            log.lock().unwrap()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let lite_audit = get(&lite.addr, "/v1/audit.json").body;
    assert_eq!(lite_audit, pg_audit, "the nodes' v1/audit.json differ");
    let report: serde_json::Value = serde_json::from_slice(&pg_audit).unwrap();
    assert_eq!(report["audits"][0]["seed"]["entry"], size + 1);
    assert_eq!(report["refused"], serde_json::json!([]));

    // 4. Stopped, published by both engines and verified.
    node.stop();
    assert!(lite.stop().success());
    let (lite_bundle, pg_bundle) = (dir.path().join("lite-out"), dir.path().join("pg-out"));
    run(
        &["publish", "--data", p(&data), "--out", p(&lite_bundle)],
        0,
    );
    let (code, out) = publish_pg(&url, &definition, &key, &pg_bundle);
    assert_eq!(code, Some(0), "{out}");
    let file = |b: &Path| std::fs::read(b.join("current").join(urna_audit::public::AUDIT_JSON));
    assert_eq!(
        file(&lite_bundle).unwrap(),
        file(&pg_bundle).unwrap(),
        "the published v1/audit.json differ"
    );
    for b in [&lite_bundle, &pg_bundle] {
        let (code, text) = urna_output(&["verify", p(&b.join("current")), "--log-key", &vkey]);
        assert_eq!(code, Some(0), "{text}");
        assert!(text.contains("VERIFIED"), "{text}");
    }

    // 5. A second seed written into the database behind intake's back: the open refuses it.
    let mut admin = urna_pg::connect(&url).unwrap();
    let text = urna_model::note::Note::parse(&second_seed)
        .unwrap()
        .text()
        .to_owned();
    admin
        .execute(
            "INSERT INTO entries (idx, hash, text_hash, contest, station, revision, status, received_ms, note) \
             VALUES ($1, $2, $3, 'assembly', '', 0, 0, 0, $4)",
            &[
                &i64::try_from(end).unwrap(),
                &urna_model::intake::sha256(&second_seed).as_slice(),
                &urna_model::intake::sha256(text.as_bytes()).as_slice(),
                &second_seed,
            ],
        )
        .unwrap();
    admin
        .execute(
            "UPDATE intake_head SET next_idx = $1",
            &[&i64::try_from(end + 1).unwrap()],
        )
        .unwrap();
    let (code, out) = publish_pg(&url, &definition, &key, &dir.path().join("refused"));
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(&format!(
            "entry {end}: its note does not follow the entries before it: audit seed note: field `kind`: the audit of contest assembly ended with risk-limit-met at entry {}",
            end - 1
        )),
        "{out}"
    );
}
