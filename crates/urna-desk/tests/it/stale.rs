//! A coordinator decides on what the page showed: a difference of one round, a quarantined
//! note of one hash. A decision sent for what is no longer there (a page left open while
//! another coordinator ordered new entries or a recount, a request sent twice) must not act
//! on what took its place, which nobody has compared with the paper.

use serde_json::json;
use urna_model::intake::sha256;
use urna_model::note::Note;
use urna_model::protocol::{BodyKind, ProtocolBody};

use crate::{Client, GOOD, data, serve};

fn signed_note(served: &crate::Served, station: &str) -> Option<Vec<u8>> {
    let conn = urna_desk::db::open(data(served)).unwrap();
    conn.query_row(
        "SELECT note FROM protocols WHERE contest = 'assembly' AND station = ?1",
        [station],
        |r| r.get(0),
    )
    .unwrap()
}

fn votes_a(note: &[u8]) -> u64 {
    let body = ProtocolBody::parse(Note::parse(note).unwrap().text()).unwrap();
    body.votes.iter().find(|v| v.name == "A").unwrap().value
}

#[test]
fn keeping_an_entry_of_one_round_does_not_sign_the_next_round() {
    let s = serve();
    let mut t1 = Client::first_login(s.addr, "ty1");
    let mut t2 = Client::first_login(s.addr, "ty2");
    let mut t3 = Client::first_login(s.addr, "ty3");
    let mut co = Client::first_login(s.addr, "co");
    let path = "/api/protocols/assembly/S0/resolve";
    let mut typo: Vec<(&str, &str)> = GOOD.to_vec();
    typo[4] = ("votes:A", "30");
    t1.key_protocol("S0", GOOD);
    assert_eq!(t2.key_protocol("S0", &typo).json["protocol"], "difference");
    // The coordinator's page: round 1, entry 1 says 300, as the paper does.
    let seen = co.get("/api/protocols/assembly/S0").json;
    assert_eq!(seen["round"], json!(1), "{seen}");
    assert_eq!(seen["entries"][0]["values"]["votes:A"], json!(300));
    // Meanwhile new entries are ordered (another coordinator, or another tab) ...
    let a = co.post(
        path,
        json!({"action": "reenter", "reason": "look again", "round": 1}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    // ... and round 2 differs too, its entry 1 the typo.
    t3.key_protocol("S0", &typo);
    assert_eq!(t1.key_protocol("S0", GOOD).json["protocol"], "difference");
    // The decision made on round 1 arrives: refused, nothing signed.
    let a = co.post(
        path,
        json!({"action": "keep-1", "reason": "the paper says 300", "round": 1}),
    );
    assert_eq!(
        (a.status, a.json["error"].as_str()),
        (409, Some("stale")),
        "{}",
        a.json
    );
    assert!(a.json["message"].as_str().unwrap().contains("round 2"));
    assert!(signed_note(&s, "S0").is_none());
    // A decision that names no round is refused, naming the field.
    let a = co.post(path, json!({"action": "keep-1", "reason": "x"}));
    assert_eq!(a.status, 400, "{}", a.json);
    assert!(
        a.json["message"]
            .as_str()
            .unwrap()
            .contains("field `round`")
    );
    assert!(signed_note(&s, "S0").is_none());
    // Decided on round 2, as seen: entry 2 is the paper's.
    assert_eq!(co.get("/api/protocols/assembly/S0").json["round"], json!(2));
    let a = co.post(
        path,
        json!({"action": "keep-2", "reason": "the paper says 300", "round": 2}),
    );
    assert_eq!(a.json["state"], json!("signed"), "{}", a.json);
    assert_eq!(votes_a(&signed_note(&s, "S0").unwrap()), 300);
}

/// A protocol whose votes do not add up to the valid ballots: the log quarantines it.
const BROKEN: &[(&str, &str)] = &[
    ("count:registered", "1000"),
    ("count:ballots-cast", "500"),
    ("count:invalid", "10"),
    ("count:valid", "490"),
    ("votes:A", "300"),
    ("votes:B", "150"),
    ("pref:A:1", "120"),
    ("pref:B:1", "40"),
];

#[test]
fn a_decision_on_one_quarantined_note_does_not_decide_its_recount() {
    let s = serve();
    let mut ty1 = Client::first_login(s.addr, "ty1");
    let mut ty2 = Client::first_login(s.addr, "ty2");
    let mut co = Client::first_login(s.addr, "co");
    let keep = "/api/protocols/assembly/S0/resolve";
    ty1.key_protocol("S0", BROKEN);
    ty2.key_protocol("S0", BROKEN);
    let a = co.post(
        keep,
        json!({"action": "keep-1", "reason": "the paper says so", "round": 1}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    let first = signed_note(&s, "S0").unwrap();
    s.desk
        .delivered("assembly", "S0", 1, b"receipt", "quarantined")
        .unwrap();
    let q = co.get("/api/quarantine").json;
    let seen = q["quarantined"][0]["entry"].as_str().unwrap().to_owned();
    assert_eq!(
        seen,
        format!("sha256:{}", urna_model::protocol::hex(&sha256(&first)))
    );
    // A decision that names no entry is refused, naming the field.
    let a = co.post(
        "/api/decisions",
        json!({"contest": "assembly", "station": "S0", "decision": "annul", "reason": "x"}),
    );
    assert_eq!(a.status, 400, "{}", a.json);
    assert!(
        a.json["message"]
            .as_str()
            .unwrap()
            .contains("field `entry`")
    );
    // The recount, decided on the note seen.
    let a = co.post(
        "/api/decisions",
        json!({"contest": "assembly", "station": "S0", "decision": "recount",
               "reason": "votes do not add up", "entry": seen}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    let (id, ..) = s.desk.undelivered_decisions().unwrap().remove(0);
    s.desk.decision_answered(id, Some(2), "accepted").unwrap();
    // The recount states the same paper again; kept, it is an amendment, quarantined too.
    ty2.key_protocol("S0", BROKEN);
    ty1.key_protocol("S0", BROKEN);
    let a = co.post(
        keep,
        json!({"action": "keep-1", "reason": "the recount says so", "round": 2}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    let amendment = signed_note(&s, "S0").unwrap();
    assert!(matches!(
        ProtocolBody::parse(Note::parse(&amendment).unwrap().text())
            .unwrap()
            .kind,
        BodyKind::Amendment { .. }
    ));
    s.desk
        .delivered("assembly", "S0", 3, b"receipt", "quarantined")
        .unwrap();
    // The first note's decision sent again (a page left open, a request repeated): refused,
    // and nothing is signed about the amendment nobody has decided on.
    let a = co.post(
        "/api/decisions",
        json!({"contest": "assembly", "station": "S0", "decision": "annul",
               "reason": "votes do not add up", "entry": seen}),
    );
    assert_eq!(
        (a.status, a.json["error"].as_str()),
        (409, Some("stale")),
        "{}",
        a.json
    );
    assert!(s.desk.undelivered_decisions().unwrap().is_empty());
    // Decided on the amendment, by its hash.
    let now = co.get("/api/quarantine").json["quarantined"][0]["entry"].clone();
    assert_eq!(
        now,
        json!(format!(
            "sha256:{}",
            urna_model::protocol::hex(&sha256(&amendment))
        ))
    );
    let a = co.post(
        "/api/decisions",
        json!({"contest": "assembly", "station": "S0", "decision": "accept",
               "reason": "the recount confirms the paper", "entry": now}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
}
