//! Polling-station mode over HTTP: the board's chair and member key the station's protocol;
//! equal entries are signed with the station's own key and queued for `urna submit`, a
//! difference opens a new round, and a protocol breaking a rule is signed only when the next
//! round repeats it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use urna_desk::Desk;
use urna_model::intake::{Verdict, intake};
use urna_model::note::{Note, NoteSigner};
use urna_server::submit::Queue;

use crate::{Client, Empty, GOOD, Served, authority, serve_desk, write_definition};

/// The chair's and the member's password, set at `urna station init`.
const CHAIR_PW: &str = "chair-password-1";
const MEMBER_PW: &str = "member-password-2";

/// Station S0's own key, as in the stations file of [`write_definition`].
fn station_key() -> NoteSigner {
    NoteSigner::from_seed("S0", &[1; 32]).unwrap()
}

fn queue_dir(s: &Served) -> PathBuf {
    crate::data(s).join("queue")
}

/// Station S0 served, its board `chair` and `member` set up.
fn serve_station() -> Served {
    let dir = tempfile::tempdir().unwrap();
    write_definition(dir.path());
    let data = dir.path().join("station");
    urna_desk::station::init(&data, ("chair", CHAIR_PW), ("member", MEMBER_PW)).unwrap();
    let desk = Desk::open_station(
        &data,
        &dir.path().join("election.toml"),
        "S0",
        station_key(),
        dir.path().join("queue"),
    )
    .unwrap();
    serve_desk(Arc::new(desk), dir)
}

fn board(s: &Served) -> (Client, Client) {
    let mut chair = Client::new(s.addr);
    let a = chair.login("chair", CHAIR_PW);
    assert_eq!(a.status, 200, "{}", a.json);
    // Chosen at init: no change forced.
    assert_eq!(a.json["user"]["must_change"], json!(false));
    assert_eq!(a.json["station"]["seat"], json!("chair"));
    let mut member = Client::new(s.addr);
    let a = member.login("member", MEMBER_PW);
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["station"]["seat"], json!("member"));
    (chair, member)
}

fn progress(c: &mut Client) -> Value {
    let a = c.get("/api/progress");
    assert_eq!(a.status, 200, "{}", a.json);
    a.json["contests"][0].clone()
}

fn queued(s: &Served) -> Vec<Vec<u8>> {
    let q = Queue::open(queue_dir(s)).unwrap();
    q.pending()
        .unwrap()
        .iter()
        .map(|n| n.read().unwrap())
        .collect()
}

/// GOOD with `valid` keyed as 489: votes no longer add up to the valid ballots.
fn breaking() -> Vec<(&'static str, &'static str)> {
    let mut v = GOOD.to_vec();
    v[3] = ("count:valid", "489");
    v[2] = ("count:invalid", "11");
    v
}

#[test]
fn equal_entries_are_signed_with_the_station_key_and_queued() {
    let s = serve_station();
    let (mut chair, mut member) = board(&s);
    let a = chair.key_protocol("S0", GOOD);
    assert_eq!(a.json["protocol"], json!("entering"), "{}", a.json);
    assert!(queued(&s).is_empty());
    let a = member.key_protocol("S0", GOOD);
    assert_eq!(a.json["protocol"], json!("signed"), "{}", a.json);

    let notes = queued(&s);
    assert_eq!(notes.len(), 1, "one note in the submit queue");
    let parsed = Note::parse(&notes[0]).unwrap();
    assert_eq!(parsed.signatures().len(), 1);
    assert_eq!(parsed.signatures()[0].name, "S0", "signed by the station");
    assert_eq!(parsed.signatures()[0].key_id, station_key().key_id());
    let (sub, verdict) = intake(s.desk.election(), &Empty, &notes[0]).unwrap();
    assert_eq!(verdict, Verdict::Accepted);
    assert_eq!(sub.votes, [300, 190]);

    let p = progress(&mut chair);
    assert_eq!(p["state"], json!("signed"), "{p}");
    assert_eq!(p["queue"], json!("queued"), "{p}");
    let conn = urna_desk::db::open(&crate::data(&s).join("station")).unwrap();
    let actions: Vec<String> = urna_desk::db::audit_lines(&conn)
        .unwrap()
        .into_iter()
        .map(|l| l.action)
        .collect();
    assert!(
        actions.iter().any(|a| a == "signed") && actions.iter().any(|a| a == "queued"),
        "{actions:?}"
    );
}

#[test]
fn entries_that_differ_open_a_new_round_and_the_other_values_stay_hidden() {
    let s = serve_station();
    let (mut chair, mut member) = board(&s);
    chair.key_protocol("S0", GOOD);
    let mut other = GOOD.to_vec();
    other[4] = ("votes:A", "299");
    other[5] = ("votes:B", "191");
    let a = member.key_protocol("S0", &other);
    assert_eq!(a.json["protocol"], json!("differ"), "{}", a.json);
    assert!(a.json.get("values").is_none(), "{}", a.json);
    assert!(queued(&s).is_empty(), "nothing unequal is signed");

    // Both see that they differ, and only that.
    for c in [&mut chair, &mut member] {
        let p = progress(c);
        assert_eq!(p["round"], json!(2), "{p}");
        assert_eq!(p["last"], json!("differ"), "{p}");
        assert_eq!(p["entered"], json!(0), "{p}");
        assert!(!p.to_string().contains("299"), "{p}");
    }
    // The next round starts from an empty form.
    let a = chair.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S0"}),
    );
    assert_eq!(a.json["values"], json!({}), "{}", a.json);
    let a = chair.key_protocol("S0", GOOD);
    assert_eq!(a.json["protocol"], json!("entering"), "{}", a.json);
    let a = member.key_protocol("S0", GOOD);
    assert_eq!(a.json["protocol"], json!("signed"), "{}", a.json);
    assert_eq!(queued(&s).len(), 1);
}

#[test]
fn a_protocol_breaking_a_rule_is_signed_only_when_the_next_round_repeats_it() {
    let s = serve_station();
    let (mut chair, mut member) = board(&s);
    let bad = breaking();
    chair.key_protocol("S0", &bad);
    let a = member.key_protocol("S0", &bad);
    assert_eq!(a.json["protocol"], json!("confirm"), "{}", a.json);
    assert!(queued(&s).is_empty());
    let p = progress(&mut chair);
    assert_eq!(p["last"], json!("confirm"), "{p}");
    let rules = p["rules"].as_str().unwrap();
    assert!(rules.contains("votes-sum-to-valid"), "{p}");

    // Round 2 keys a different protocol, still breaking the rule: not a confirmation.
    let mut bad2 = bad.clone();
    bad2[0] = ("count:registered", "1001");
    chair.key_protocol("S0", &bad2);
    let a = member.key_protocol("S0", &bad2);
    assert_eq!(a.json["protocol"], json!("confirm"), "{}", a.json);
    assert!(queued(&s).is_empty());

    // Round 3 repeats round 2: the board confirms the paper; signed as it stands.
    chair.key_protocol("S0", &bad2);
    let a = member.key_protocol("S0", &bad2);
    assert_eq!(a.json["protocol"], json!("signed"), "{}", a.json);
    let notes = queued(&s);
    assert_eq!(notes.len(), 1);
    let (_, verdict) = intake(s.desk.election(), &Empty, &notes[0]).unwrap();
    assert!(matches!(verdict, Verdict::Quarantined), "{verdict:?}");
    let conn = urna_desk::db::open(&crate::data(&s).join("station")).unwrap();
    let lines = urna_desk::db::audit_lines(&conn).unwrap();
    let signed = lines.iter().find(|l| l.action == "signed").unwrap();
    assert!(
        signed.detail.contains("confirmed in round 3")
            && signed.detail.contains("votes-sum-to-valid"),
        "{}",
        signed.detail
    );
}

#[test]
fn a_station_keys_only_its_own_protocol() {
    let s = serve_station();
    let (mut chair, _) = board(&s);
    let a = chair.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S1"}),
    );
    assert_eq!(a.status, 403, "{}", a.json);
    assert!(
        a.json
            .to_string()
            .contains("S1: only station S0 is keyed here"),
        "{}",
        a.json
    );
    // No coordinator or administrator here.
    assert_eq!(chair.get("/api/differences").status, 403);
}

fn open(dir: &Path, key: NoteSigner) -> String {
    match Desk::open_station(
        &dir.join("station"),
        &dir.join("election.toml"),
        "S0",
        key,
        dir.join("queue"),
    ) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn setup_refuses_a_key_that_is_not_the_station_s_and_a_second_init() {
    let dir = tempfile::tempdir().unwrap();
    write_definition(dir.path());
    let data = dir.path().join("station");
    // Before init: no board.
    assert!(open(dir.path(), station_key()).contains("urna station init"));
    let e = urna_desk::station::init(&data, ("ana", CHAIR_PW), ("ana", MEMBER_PW)).unwrap_err();
    assert!(e.to_string().contains("--member"), "{e}");
    let e = urna_desk::station::init(&data, ("ana", "short"), ("besa", MEMBER_PW)).unwrap_err();
    assert!(e.to_string().contains("chair's password"), "{e}");
    urna_desk::station::init(&data, ("ana", CHAIR_PW), ("besa", MEMBER_PW)).unwrap();
    let e = urna_desk::station::init(&data, ("ana", CHAIR_PW), ("besa", MEMBER_PW)).unwrap_err();
    assert!(e.to_string().contains("already has accounts"), "{e}");
    // An authority's key is not the station's.
    let e = open(dir.path(), authority());
    assert!(e.starts_with("--key") && e.contains("S0"), "{e}");
    // Another station's key neither.
    let e = open(dir.path(), NoteSigner::from_seed("S1", &[2; 32]).unwrap());
    assert!(e.starts_with("--key"), "{e}");
    assert_eq!(open(dir.path(), station_key()), "");
}

#[test]
fn a_signature_waits_while_urna_submit_holds_the_queue() {
    let s = serve_station();
    let (mut chair, mut member) = board(&s);
    chair.key_protocol("S0", GOOD);
    // `urna submit --queue` has the queue for a moment: the signature waits for it.
    let held = Queue::open(queue_dir(&s)).unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(held);
    });
    let a = member.key_protocol("S0", GOOD);
    release.join().unwrap();
    assert_eq!(a.json["protocol"], json!("signed"), "{}", a.json);
    assert_eq!(queued(&s).len(), 1);
}

#[test]
fn a_delivery_waiting_on_the_network_leaves_the_queue_free() {
    let s = serve_station();
    let (mut chair, mut member) = board(&s);
    chair.key_protocol("S0", GOOD);
    assert_eq!(
        member.key_protocol("S0", GOOD).json["protocol"],
        json!("signed")
    );
    // A server that takes the connection and never answers, as behind a dead uplink.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let client = urna_server::submit::SubmitClient::new(
        &url,
        NoteSigner::from_seed("log", &[9; 32]).unwrap().verifier(),
        urna_server::submit::SubmitOptions {
            timeout: std::time::Duration::from_secs(3),
            max_attempts: 1,
            ..urna_server::submit::SubmitOptions::default()
        },
    )
    .unwrap();
    let desk = Arc::clone(&s.desk);
    let pass = std::thread::spawn(move || urna_desk::station::deliver_queue(&desk, &client));
    // The pass's request is waiting for an answer: the queue is free meanwhile (the board's
    // next signature, `urna submit --queue`), not held for the pass's whole minute of retries.
    let (conn, _) = silent.accept().unwrap();
    let queue = Queue::open(queue_dir(&s));
    assert!(
        queue.is_ok(),
        "the queue is held during the request: {queue:?}"
    );
    drop(queue);
    let pass = pass.join().unwrap().unwrap();
    drop(conn);
    assert_eq!(pass.delivered, 0);
    assert_eq!(queued(&s).len(), 1, "an unanswered note stays queued");
}

/// A file in the queue that is not the note its name says (edited by hand, or copied in
/// under another name) is left where it is: the station's own protocol, queued beside it,
/// still goes to the server.
#[test]
fn a_corrupt_file_in_the_queue_does_not_hold_up_the_station_s_protocol() {
    let s = serve_station();
    let (mut chair, mut member) = board(&s);
    let bogus = queue_dir(&s).join(format!("{}.note", "ab".repeat(32)));
    std::fs::create_dir_all(queue_dir(&s)).unwrap();
    std::fs::write(&bogus, b"not the note its name promises\n").unwrap();
    chair.key_protocol("S0", GOOD);
    assert_eq!(
        member.key_protocol("S0", GOOD).json["protocol"],
        json!("signed")
    );
    // A server that takes the connection and closes it: the note is sent, and waits.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", server.local_addr().unwrap());
    let reached = std::thread::spawn(move || {
        let (conn, _) = server.accept().unwrap();
        drop(conn);
    });
    let client = urna_server::submit::SubmitClient::new(
        &url,
        NoteSigner::from_seed("log", &[9; 32]).unwrap().verifier(),
        urna_server::submit::SubmitOptions {
            timeout: std::time::Duration::from_secs(3),
            max_attempts: 1,
            ..urna_server::submit::SubmitOptions::default()
        },
    )
    .unwrap();
    let pass = urna_desk::station::deliver_queue(&s.desk, &client);
    let pass = pass.unwrap_or_else(|e| panic!("the pass failed: {}", e.message));
    assert_eq!((pass.delivered, pass.waiting), (0, 1), "{pass:?}");
    reached.join().unwrap();
    assert!(
        bogus.is_file(),
        "the corrupt file is left for a person to see"
    );
}

/// One board member rewrites the chair's finished entry in the station's `desk.sqlite` to
/// the numbers the member then keys: the station's key must not sign them as "equal".
#[test]
fn an_entry_changed_in_the_station_database_after_it_was_finished_is_never_signed() {
    let s = serve_station();
    let (mut chair, mut member) = board(&s);
    let a = chair.key_protocol("S0", GOOD);
    assert_eq!(a.json["protocol"], json!("entering"), "{}", a.json);
    let mut moved: Vec<(&str, &str)> = GOOD.to_vec();
    moved[4] = ("votes:A", "310");
    moved[5] = ("votes:B", "180");
    {
        let vals: std::collections::BTreeMap<&str, u64> = moved
            .iter()
            .map(|(k, v)| (*k, v.parse().unwrap()))
            .collect();
        let conn = rusqlite::Connection::open(crate::data(&s).join("station/desk.sqlite")).unwrap();
        let n = conn
            .execute(
                "UPDATE entries SET vals = ?1 WHERE done = 1",
                [serde_json::to_string(&vals).unwrap()],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let a = member.key_protocol("S0", &moved);
    assert_eq!(a.status, 200, "{}", a.json);
    assert_ne!(a.json["protocol"], json!("signed"), "{}", a.json);
    assert!(queued(&s).is_empty(), "nothing signed");
}
