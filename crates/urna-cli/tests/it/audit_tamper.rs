//! `urna audit … --store URL --definition FILE --to URL --log-key VKEY` on a database an
//! insider edited behind the log, end to end with the real binary, a real PostgreSQL and a
//! running node (and `--data DIR --to URL` on a data directory a running `urna serve` holds):
//! a step is computed only from the entries the log's signed checkpoint covers, and each edit
//! is refused naming what is wrong, never read as "no audit yet":
//!
//! 1. two entries' notes swapped (each note still validly signed): the entry named;
//! 2. the genesis's definition swapped with its digest in table `meta`: the genesis named;
//! 3. the last entry dropped (and `intake_head` set back): the drop named;
//! 4. entries stored while no node sequences: in no signed checkpoint, so refused.

use std::sync::{Arc, Mutex};

use crate::audit::urna_output;
use crate::p;
use crate::pg_cluster::{Cluster, free_addr, init_store, sim, wait_signed};
use urna_model::pack::PackReader;
use urna_store::SystemClock;
use urna_testkit::pg::PgServer;

#[test]
fn audit_steps_from_a_pg_store_refuse_rows_the_signed_checkpoint_does_not_cover() {
    let Some(pg) = PgServer::start() else { return };
    let url = pg.database("audit_tamper");
    let dir = tempfile::tempdir().unwrap();
    let src = sim(dir.path(), "40", &["--districts", "2", "--error-rate", "0"]);
    let definition = src.join("election.toml");
    let key = dir.path().join("log.key");
    let (_, log_signer) = init_store(&url, &definition, &key, &[]);
    let vkey = log_signer.verifier().to_vkey();
    let cluster = Cluster {
        url: url.clone(),
        definition: definition.clone(),
        key,
    };
    let log = Arc::new(Mutex::new(String::new()));
    let addr = free_addr();
    // The protocols but the last two, through the store's own intake; the node sequences
    // them. The last two come in step 4, while no node runs.
    let protocols: Vec<Vec<u8>> =
        PackReader::new(std::fs::File::open(src.join("protocols.notes")).unwrap())
            .map(Result::unwrap)
            .collect();
    assert_eq!(protocols.len(), 40);
    let mut store = urna_pg::PgStore::open(&url, &definition, log_signer.clone()).unwrap();
    store.ingest(&protocols[..38], &SystemClock).unwrap();
    drop(store);
    let mut node = cluster.start("node-a", addr, Arc::clone(&log));
    let to = format!("http://{addr}");
    wait_signed(&url, &log, "the protocols", |c| c.entries == 39);
    let authority = src.join("secrets/central-commission.key");
    let step = |cmd: &[&str], definition: &std::path::Path| {
        let base = [
            "audit",
            "--store",
            &url,
            "--definition",
            p(definition),
            "--key",
            p(&authority),
            "--to",
            &to,
            "--log-key",
            &vkey,
        ];
        // `audit <cmd> …`: the subcommand right after `audit`.
        let mut args = vec![base[0], cmd[0]];
        args.extend(&base[1..]);
        args.extend(&cmd[1..]);
        urna_output(&args)
    };
    let (code, text) = step(&["start", "--seats", "3"], &definition);
    assert_eq!(code, Some(0), "{text}");
    wait_signed(&url, &log, "the start note", |c| c.entries == 40);

    let mut admin = urna_pg::connect(&url).unwrap();
    let note = |idx: i64| -> Vec<u8> {
        urna_pg::PgReader::connect(&url)
            .unwrap()
            .note(u64::try_from(idx).unwrap())
            .unwrap()
            .unwrap()
    };
    let set = "UPDATE entries SET note = $2 WHERE idx = $1";
    let seed = ["seed", "--seed", "12345678901234567890"];

    // 1. Two protocols swapped: both still signed by their stations, the results the same,
    //    but not the log the checkpoint signed.
    let (five, six) = (note(5), note(6));
    admin.execute(set, &[&5i64, &six]).unwrap();
    admin.execute(set, &[&6i64, &five]).unwrap();
    let (code, text) = step(&seed, &definition);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("do not hash to the root of the checkpoint the log signed at 40 entries (entry 5 is not the one the log signed): the database was edited outside urna"),
        "{text}"
    );
    admin.execute(set, &[&5i64, &five]).unwrap();
    admin.execute(set, &[&6i64, &six]).unwrap();

    // 2. Another definition, its digest written into `meta`: the genesis says which.
    let swapped = dir.path().join("swapped");
    std::fs::create_dir_all(&swapped).unwrap();
    std::fs::copy(src.join("stations.csv"), swapped.join("stations.csv")).unwrap();
    let toml = std::fs::read_to_string(&definition).unwrap();
    let edited = toml.replacen("name = \"", "name = \"Swapped ", 1);
    assert_ne!(toml, edited);
    std::fs::write(swapped.join("election.toml"), edited).unwrap();
    let digest = urna_model::protocol::hex(
        &urna_model::definition::Election::load(&swapped.join("election.toml"))
            .unwrap()
            .digest,
    );
    let old: String = admin
        .query_one(
            "SELECT value FROM meta WHERE key = 'definition_sha256'",
            &[],
        )
        .unwrap()
        .get(0);
    let set_meta = "UPDATE meta SET value = $1 WHERE key = 'definition_sha256'";
    admin.execute(set_meta, &[&digest]).unwrap();
    let (code, text) = step(&seed, &swapped.join("election.toml"));
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains(&format!(
            "entry 0: definition: the genesis entry says sha256:{old}"
        )),
        "{text}"
    );
    admin.execute(set_meta, &[&old]).unwrap();

    // 3. The start note dropped, the head set back: the log signed more than is stored.
    node.stop();
    let start = note(39);
    admin
        .execute("DELETE FROM entries WHERE idx = 39", &[])
        .unwrap();
    admin
        .execute("UPDATE intake_head SET next_idx = 39", &[])
        .unwrap();
    let (code, text) = step(&seed, &definition);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("the log signed a checkpoint of 40 entries but table `intake_head` counts 39: entries were dropped"),
        "{text}"
    );
    admin
        .execute(
            "INSERT INTO entries (idx, hash, text_hash, contest, station, revision, status, received_ms, note) \
             VALUES (39, $1, $2, 'assembly', '', 0, 0, 0, $3)",
            &[
                &urna_model::intake::sha256(&start).as_slice(),
                &urna_model::intake::sha256(
                    urna_model::note::Note::parse(&start).unwrap().text().as_bytes(),
                )
                .as_slice(),
                &start,
            ],
        )
        .unwrap();
    admin
        .execute("UPDATE intake_head SET next_idx = 40", &[])
        .unwrap();

    // 4. Entries stored while no node sequences (the amendments, through the store's own
    //    intake): in no checkpoint, so no step is computed from them.
    let mut store = urna_pg::PgStore::open(&url, &definition, log_signer).unwrap();
    store.ingest(&protocols[38..], &SystemClock).unwrap();
    drop(store);
    let (code, text) = step(&seed, &definition);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("entries 40 to 41 are stored but in no checkpoint the log signed"),
        "{text}"
    );
}

/// The same on a data directory a running `urna serve` holds (`--data DIR --to URL --log-key
/// VKEY`, the directory only read): two notes swapped in `urna.sqlite` behind the server are
/// refused as not the log its latest checkpoint signed, not read as "no audit yet".
#[test]
fn audit_steps_from_a_data_directory_refuse_entries_its_signed_checkpoint_does_not_cover() {
    use crate::server::Server;
    let dir = tempfile::tempdir().unwrap();
    let src = sim(dir.path(), "40", &["--districts", "2", "--error-rate", "0"]);
    let data = dir.path().join("data");
    crate::init(&src, &data);
    crate::run(
        &[
            "ingest",
            "--data",
            p(&data),
            p(&src.join("protocols.notes")),
        ],
        0,
    );
    let vkey = crate::run(&["log", "key", "--data", p(&data)], 0)
        .trim()
        .to_owned();
    let server = Server::start(&data, &["--checkpoint-ms", "100"]);
    let to = format!("http://{}", server.addr);
    let authority = src.join("secrets/central-commission.key");
    let step = |cmd: &str, extra: &[&str]| {
        let base = [
            "--data",
            p(&data),
            "--key",
            p(&authority),
            "--to",
            &to,
            "--log-key",
            &vkey,
        ];
        urna_output(&[&["audit", cmd][..], &base, extra].concat())
    };
    let (code, text) = step("start", &["--seats", "3"]);
    assert_eq!(code, Some(0), "{text}");
    let db = rusqlite::Connection::open(data.join(urna_store::DB_FILE)).unwrap();
    let note = |idx: i64| -> Vec<u8> {
        db.query_row("SELECT note FROM entries WHERE idx = ?1", [idx], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let (five, six) = (note(5), note(6));
    let set = |idx: i64, note: &[u8]| {
        db.execute(
            "UPDATE entries SET note = ?2 WHERE idx = ?1",
            rusqlite::params![idx, note],
        )
        .unwrap();
    };
    set(5, &six);
    set(6, &five);
    let (code, text) = step("seed", &["--seed", "12345678901234567890"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("stored entries do not hash to the root of the checkpoint the log signed at 42 entries: the database was edited outside urna"),
        "{text}"
    );
    set(5, &five);
    set(6, &six);
    let (code, text) = step("seed", &["--seed", "12345678901234567890"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(server.stop().success());
}
