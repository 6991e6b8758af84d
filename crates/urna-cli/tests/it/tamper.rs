//! Files damaged outside urna, seen through the binary: a data directory whose database was
//! edited, and a witness whose state file was damaged. Each is refused with exit code 2 and
//! one message naming what is wrong.

use crate::{init, p, urna};

/// Runs `urna` and returns its exit code and its stdout and stderr together.
fn output(args: &[&str]) -> (Option<i32>, String) {
    let o = urna().args(args).output().unwrap();
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    (o.status.code(), text)
}

/// An entry's `station` edited in SQLite is refused by `urna status` and `urna ingest`, with
/// the entry, the column, the stored and the derived value; nothing is ingested.
#[test]
fn an_edited_station_column_is_refused_by_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let data = dir.path().join("data");
    crate::run(&["sim", "--out", p(&src), "--stations", "30"], 0);
    init(&src, &data);
    let pack = src.join("protocols.notes");
    crate::run(&["ingest", "--data", p(&data), p(&pack)], 0);
    let db = data.join(urna_store::DB_FILE);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let station = |idx: i64| -> String {
        conn.query_row("SELECT station FROM entries WHERE idx = ?1", [idx], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let (own, other) = (station(7), station(8));
    conn.execute(
        "UPDATE entries SET station = ?1 WHERE idx = 7",
        [other.as_str()],
    )
    .unwrap();
    drop(conn);
    let expected = format!(
        "entry 7: column `station` holds {other:?} but its note gives {own:?}: the database was edited outside urna"
    );
    for args in [
        vec!["status", "--data", p(&data)],
        vec!["ingest", "--data", p(&data), p(&pack)],
    ] {
        let (code, text) = output(&args);
        assert_eq!(code, Some(2), "urna {args:?}: {text}");
        assert!(text.contains(&expected), "urna {args:?}: {text}");
        assert_eq!(text.matches("entry 7").count(), 1, "{text}");
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM entries", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 31, "the genesis and 30 protocols, nothing more");
}

/// A witness refuses a damaged state file once, naming the file and what is wrong with it.
#[test]
fn a_witness_refuses_a_damaged_state_file_in_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("w.key");
    let (code, vkey) = output(&["witness", "keygen", "--name", "w.example", "--out", p(&key)]);
    assert_eq!(code, Some(0), "{vkey}");
    let state = dir.path().join("w.state");
    std::fs::write(&state, b"{\"logs\": {").unwrap();
    let log_key = urna_model::note::NoteSigner::from_seed("urna/x", &[7; 32]).unwrap();
    let log = format!("urna/x={}", log_key.verifier().to_vkey());
    let (code, text) = output(&[
        "witness",
        "serve",
        "--key",
        p(&key),
        "--state",
        p(&state),
        "--log",
        &log,
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, Some(2), "{text}");
    let what = "EOF while parsing an object at line 1 column 10";
    assert!(
        text.contains(&format!(
            "witness state file {} is not a valid witness state: {what}",
            state.display()
        )),
        "{text}"
    );
    assert_eq!(
        text.matches(what).count(),
        1,
        "the cause is printed once: {text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");
}

/// A damaged database file and a missing log key: the cause is printed once.
#[test]
fn a_damaged_data_directory_is_refused_in_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    crate::run(&["sim", "--out", p(&src), "--stations", "5"], 0);
    let garbage = dir.path().join("garbage");
    init(&src, &garbage);
    std::fs::write(garbage.join(urna_store::DB_FILE), [b'x'; 4096]).unwrap();
    let (code, text) = output(&["status", "--data", p(&garbage)]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("database: file is not a database"), "{text}");
    assert_eq!(text.matches("not a database").count(), 1, "{text}");
    let keyless = dir.path().join("keyless");
    init(&src, &keyless);
    std::fs::remove_file(keyless.join("secrets/log.key")).unwrap();
    let (code, text) = output(&["status", "--data", p(&keyless)]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("secrets/log.key: No such file or directory"),
        "{text}"
    );
    assert_eq!(text.matches("No such file").count(), 1, "{text}");
}
