//! Numbers nobody keyed: someone with write access to `desk.sqlite` changes a typist's
//! finished entry (the `entries` table has no trigger) to the numbers an accomplice then
//! keys, or to numbers a coordinator will keep. The desk must sign only what a typist
//! finished: the entry it compares or keeps must be the one its `entry-finish` line recorded.
//! And what the trail must show: a scan or an account comes with its trail line or not at all.

use serde_json::json;

use crate::{Client, GOOD, audit_actions, data, serve};

/// `GOOD` with ten votes moved from list B to list A: still a valid protocol.
const MOVED: &[(&str, &str)] = &[
    ("count:registered", "1000"),
    ("count:ballots-cast", "500"),
    ("count:invalid", "10"),
    ("count:valid", "490"),
    ("votes:A", "310"),
    ("votes:B", "180"),
    ("pref:A:1", "120"),
    ("pref:B:1", "40"),
];

/// Rewrites the finished entry of `typist` for station `station` to `values`, as a
/// `sqlite3 desk.sqlite` session would.
fn forge(s: &crate::Served, station: &str, typist: &str, values: &[(&str, &str)]) {
    let vals: std::collections::BTreeMap<&str, u64> = values
        .iter()
        .map(|(k, v)| (*k, v.parse().unwrap()))
        .collect();
    let conn = rusqlite::Connection::open(data(s).join("desk.sqlite")).unwrap();
    let n = conn
        .execute(
            "UPDATE entries SET vals = ?1 WHERE station = ?2 AND done = 1 \
             AND typist = (SELECT id FROM users WHERE name = ?3)",
            rusqlite::params![serde_json::to_string(&vals).unwrap(), station, typist],
        )
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn an_entry_changed_in_desk_sqlite_after_it_was_finished_is_never_signed() {
    let s = serve();
    let mut t1 = Client::first_login(s.addr, "ty1");
    let mut t2 = Client::first_login(s.addr, "ty2");
    let mut co = Client::first_login(s.addr, "co");

    // The accomplice keys MOVED; ty1's finished GOOD is rewritten to MOVED beforehand.
    let a = t1.key_protocol("S0", GOOD);
    assert_eq!(a.json["protocol"], json!("entering"), "{}", a.json);
    forge(&s, "S0", "ty1", MOVED);
    let a = t2.key_protocol("S0", MOVED);
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["protocol"], json!("difference"), "{}", a.json);
    assert!(
        audit_actions(&s)
            .iter()
            .any(|(_, x, subject)| x == "entry-changed" && subject == "assembly/S0"),
        "{:?}",
        audit_actions(&s)
    );
    // The coordinator cannot keep the changed entry either; new entries can be ordered.
    let a = co.post(
        "/api/protocols/assembly/S0/resolve",
        json!({"action": "keep-1", "reason": "the paper says so", "round": 1}),
    );
    assert_eq!(a.status, 409, "{}", a.json);
    assert_eq!(a.json["error"], json!("entry-changed"), "{}", a.json);

    // A difference honestly keyed; entry 2 is then rewritten before the coordinator keeps it.
    let a = t1.key_protocol("S1", GOOD);
    assert_eq!(a.json["protocol"], json!("entering"), "{}", a.json);
    let mut typo: Vec<(&str, &str)> = GOOD.to_vec();
    typo[4] = ("votes:A", "301");
    let a = t2.key_protocol("S1", &typo);
    assert_eq!(a.json["protocol"], json!("difference"), "{}", a.json);
    forge(&s, "S1", "ty2", MOVED);
    let a = co.post(
        "/api/protocols/assembly/S1/resolve",
        json!({"action": "keep-2", "reason": "the paper says so", "round": 1}),
    );
    assert_eq!(a.status, 409, "{}", a.json);
    assert_eq!(a.json["error"], json!("entry-changed"), "{}", a.json);
    // The untouched entry 1 can still be kept.
    let a = co.post(
        "/api/protocols/assembly/S1/resolve",
        json!({"action": "keep-1", "reason": "the paper says so", "round": 1}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["state"], json!("signed"), "{}", a.json);
    let a = co.post(
        "/api/protocols/assembly/S0/resolve",
        json!({"action": "reenter", "reason": "entry 1 was changed in the database", "round": 1}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
}

/// A scan is the photo of one station's paper: the same file attached to another station's
/// protocol would have the centre sign that station's numbers as keyed from a paper they
/// are not on. It is refused, naming the station it shows; another contest of the same
/// station may name it (one file of a station's papers).
#[test]
fn a_scan_of_one_station_is_not_attached_to_another() {
    let s = serve();
    let ty1 = Client::first_login(s.addr, "ty1");
    let co = Client::first_login(s.addr, "co");
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..3000u32).map(|i| (i % 241) as u8));
    let (status, v) = crate::decisions::upload(
        &ty1,
        "/api/scans/assembly/S0",
        Some(&ty1.csrf.clone()),
        &png,
    );
    assert_eq!(status, 200, "{v}");
    // Again for the same station: the same paper.
    let (status, v) = crate::decisions::upload(
        &ty1,
        "/api/scans/assembly/S0",
        Some(&ty1.csrf.clone()),
        &png,
    );
    assert_eq!(status, 200, "{v}");
    for who in [&ty1, &co] {
        let (status, v) =
            crate::decisions::upload(who, "/api/scans/assembly/S1", Some(&who.csrf.clone()), &png);
        assert_eq!(status, 409, "{v}");
        assert_eq!(v["error"], json!("scan-elsewhere"), "{v}");
        assert!(v["message"].as_str().unwrap().contains("S0"), "{v}");
    }
    assert!(
        audit_actions(&s)
            .iter()
            .any(|(_, x, subject)| x == "refused-scan" && subject == "assembly/S1")
    );
}

/// A scan is attached with its trail line or not at all: when the line cannot be written
/// (the disk is full, say; here a trigger refuses it), the protocol names no scan that the
/// trail does not show, which its signed note would otherwise carry.
#[test]
fn a_scan_is_attached_only_with_its_trail_line() {
    let s = serve();
    let ty1 = Client::first_login(s.addr, "ty1");
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..2000u32).map(|i| (i % 239) as u8));
    let conn = rusqlite::Connection::open(data(&s).join("desk.sqlite")).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER no_scan_line BEFORE INSERT ON audit WHEN NEW.action = 'scan' \
         BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
    )
    .unwrap();
    let (status, v) = crate::decisions::upload(
        &ty1,
        "/api/scans/assembly/S0",
        Some(&ty1.csrf.clone()),
        &png,
    );
    assert_ne!(status, 200, "{v}");
    let attached: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM protocol_scans WHERE station = 'S0'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(attached, 0, "a scan attached without its trail line");
    conn.execute_batch("DROP TRIGGER no_scan_line;").unwrap();
    let (status, v) = crate::decisions::upload(
        &ty1,
        "/api/scans/assembly/S0",
        Some(&ty1.csrf.clone()),
        &png,
    );
    assert_eq!(status, 200, "{v}");
}

/// An account is created with its trail line or not at all: an account nobody sees created
/// in the trail could key the second entry of a protocol unseen.
#[test]
fn an_account_is_created_only_with_its_trail_line() {
    let s = serve();
    let mut ad = Client::first_login(s.addr, "ad");
    let conn = rusqlite::Connection::open(data(&s).join("desk.sqlite")).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER no_user_line BEFORE INSERT ON audit WHEN NEW.action = 'user-add' \
         BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
    )
    .unwrap();
    let a = ad.post(
        "/api/users",
        json!({"name": "ghost", "role": "typist", "password": "first-password-1"}),
    );
    assert_ne!(a.status, 200, "{}", a.json);
    let created: i64 = conn
        .query_row("SELECT COUNT(*) FROM users WHERE name = 'ghost'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(created, 0, "an account created without its trail line");
    let mut ghost = Client::new(s.addr);
    assert_ne!(ghost.login("ghost", "first-password-1").status, 200);
}
