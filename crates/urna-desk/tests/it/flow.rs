//! Double entry over HTTP: equal entries are signed; different ones go to the coordinator.

use serde_json::json;
use urna_model::intake::{Verdict, intake};
use urna_model::note::Note;

use crate::{Client, Empty, GOOD, audit_actions, data, serve};

fn signed_note(served: &crate::Served, station: &str) -> Option<Vec<u8>> {
    let conn = urna_desk::db::open(data(served)).unwrap();
    conn.query_row(
        "SELECT note FROM protocols WHERE contest = 'assembly' AND station = ?1",
        [station],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn equal_entries_are_signed_by_the_centre_and_intake_accepts_them() {
    let s = serve();
    let mut t1 = Client::first_login(s.addr, "ty1");
    let mut t2 = Client::first_login(s.addr, "ty2");
    let a = t1.key_protocol("S0", GOOD);
    assert_eq!(a.json["protocol"], json!("entering"), "{}", a.json);
    assert!(signed_note(&s, "S0").is_none());
    // The second typist keys an empty preference box as 0 and a count with a leading zero.
    let mut second: Vec<(&str, &str)> = GOOD.to_vec();
    second[2] = ("count:invalid", "010");
    second.push(("pref:A:2", "0"));
    let a = t2.key_protocol("S0", &second);
    assert_eq!(a.json["protocol"], json!("signed"), "{}", a.json);
    let note = signed_note(&s, "S0").unwrap();
    let (sub, verdict) = intake(s.desk.election(), &Empty, &note).unwrap();
    assert_eq!(verdict, Verdict::Accepted);
    assert_eq!(sub.votes, [300, 190]);
    let parsed = Note::parse(&note).unwrap();
    assert_eq!(parsed.signatures().len(), 1);
    assert_eq!(parsed.signatures()[0].name, "cec");
    // The two typists are named in the audit trail's signing line.
    let conn = urna_desk::db::open(data(&s)).unwrap();
    let lines = urna_desk::db::audit_lines(&conn).unwrap();
    let signed = lines.iter().find(|l| l.action == "signed").unwrap();
    assert!(
        signed.detail.contains("ty1") && signed.detail.contains("ty2"),
        "{}",
        signed.detail
    );
    // Signed: no more entries.
    let mut t3 = Client::first_login(s.addr, "ty3");
    let a = t3.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S0"}),
    );
    assert_eq!(a.status, 409);
    let mut co = Client::first_login(s.addr, "co");
    let p = co.get("/api/progress").json;
    assert_eq!(
        (p["protocols"].as_i64(), p["signed"].as_i64()),
        (Some(2), Some(1)),
        "{p}"
    );
}

#[test]
fn different_entries_go_to_the_coordinator_who_reorders_or_keeps_one() {
    let s = serve();
    let mut t1 = Client::first_login(s.addr, "ty1");
    let mut t2 = Client::first_login(s.addr, "ty2");
    let mut t3 = Client::first_login(s.addr, "ty3");
    let mut co = Client::first_login(s.addr, "co");
    t1.key_protocol("S0", GOOD);
    let mut typo: Vec<(&str, &str)> = GOOD.to_vec();
    typo[4] = ("votes:A", "30");
    let a = t2.key_protocol("S0", &typo);
    assert_eq!(a.json["protocol"], json!("difference"), "{}", a.json);
    assert!(signed_note(&s, "S0").is_none());
    let d = co.get("/api/differences").json;
    assert_eq!(d["differences"][0]["station"], json!("S0"));
    let p = co.get("/api/protocols/assembly/S0").json;
    assert_eq!(p["differing"], json!(["votes:A"]));
    assert_eq!(p["entries"][0]["values"]["votes:A"], json!(300));
    assert_eq!(p["entries"][1]["values"]["votes:A"], json!(30));
    // The typo breaks a rule, and the coordinator sees which.
    let v = &p["entries"][1]["validation"]["violations"];
    assert!(!v.as_array().unwrap().is_empty(), "{p}");
    // A reason is required.
    let a = co.post(
        "/api/protocols/assembly/S0/resolve",
        json!({"action": "reenter", "reason": " ", "round": 1}),
    );
    assert_eq!(a.status, 400);
    // Order new entries: a new round; the same typists may key it again.
    let a = co.post(
        "/api/protocols/assembly/S0/resolve",
        json!({"action": "reenter", "reason": "entries differ on votes A", "round": 1}),
    );
    assert_eq!(a.json["state"], json!("entering"), "{}", a.json);
    t1.key_protocol("S0", GOOD);
    let a = t3.key_protocol("S0", &typo);
    assert_eq!(a.json["protocol"], json!("difference"));
    // This time the coordinator keeps entry 1 (checked against the paper).
    let a = co.post(
        "/api/protocols/assembly/S0/resolve",
        json!({"action": "keep-1", "reason": "paper says 300", "round": 2}),
    );
    assert_eq!(a.json["state"], json!("signed"), "{}", a.json);
    let note = signed_note(&s, "S0").unwrap();
    let (sub, verdict) = intake(s.desk.election(), &Empty, &note).unwrap();
    assert_eq!(
        (verdict, sub.votes.as_slice()),
        (Verdict::Accepted, &[300u64, 190][..])
    );
    let actions = audit_actions(&s);
    assert!(actions.iter().any(|(a, x, _)| a == "co" && x == "reenter"));
    assert!(actions.iter().any(|(a, x, _)| a == "co" && x == "signed"));
    // Resolved: nothing more to resolve.
    let a = co.post(
        "/api/protocols/assembly/S0/resolve",
        json!({"action": "keep-2", "reason": "again", "round": 2}),
    );
    assert_eq!(a.status, 409);
}

#[test]
fn live_validation_names_the_rule_while_typing() {
    let s = serve();
    let mut t1 = Client::first_login(s.addr, "ty1");
    let a = t1.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S1"}),
    );
    let id = a.json["entry"].as_i64().unwrap();
    let mut last = serde_json::Value::Null;
    for (k, v) in GOOD {
        let v = if *k == "count:valid" { "489" } else { v };
        last = t1
            .post(
                &format!("/api/entries/{id}/line"),
                json!({"key": k, "value": v}),
            )
            .json;
    }
    assert_eq!(last["complete"], json!(true));
    let rules: Vec<&str> = last["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule"].as_str().unwrap())
        .collect();
    assert!(!rules.is_empty(), "{last}");
    // A value that is not a count is refused with the line named.
    let a = t1.post(
        &format!("/api/entries/{id}/line"),
        json!({"key": "votes:B", "value": "12a"}),
    );
    assert_eq!(a.status, 400);
    assert!(a.json["message"].as_str().unwrap().contains("votes:B"));
    // An incomplete entry cannot be finished.
    let a = t1.post(
        &format!("/api/entries/{id}/line"),
        json!({"key": "votes:B", "value": ""}),
    );
    assert_eq!(a.json["complete"], json!(false));
    let a = t1.post(&format!("/api/entries/{id}/finish"), json!({}));
    assert_eq!(
        (a.status, a.json["error"].as_str()),
        (400, Some("incomplete"))
    );
}
