//! A typist taken off the count mid-protocol: the administrator disables her account while
//! she holds an unfinished entry. Her slot must not hold the protocol for the rest of the
//! night, nor may any part of what she keyed reach a signature.

use serde_json::json;

use crate::{Client, GOOD, audit_actions, serve};

#[test]
fn an_unfinished_entry_of_a_disabled_typist_is_given_to_another() {
    let s = serve();
    let mut t1 = Client::first_login(s.addr, "ty1");
    let mut t2 = Client::first_login(s.addr, "ty2");
    let mut t3 = Client::first_login(s.addr, "ty3");
    let mut ad = Client::first_login(s.addr, "ad");
    // ty1 claims entry 1 and keys part of it (a wrong number), ty2 holds entry 2.
    let a = t1.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S0"}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    let id = a.json["entry"].as_i64().unwrap();
    let a = t1.post(
        &format!("/api/entries/{id}/line"),
        json!({"key": "votes:A", "value": "999"}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    let a = t2.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S0"}),
    );
    assert_eq!(a.json["slot"], json!(2), "{}", a.json);
    let a = ad.post("/api/users/ty1/disable", json!({}));
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(
        t2.key_protocol("S0", GOOD).json["protocol"],
        json!("entering")
    );
    // ty3 takes the slot ty1 left unfinished, with an empty form.
    let a = t3.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S0"}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["slot"], json!(1), "{}", a.json);
    assert_eq!(a.json["values"], json!({}), "{}", a.json);
    let a = t3.key_protocol("S0", GOOD);
    assert_eq!(a.json["protocol"], json!("signed"), "{}", a.json);
    assert!(
        audit_actions(&s)
            .iter()
            .any(|(_, x, subject)| x == "entry-released" && subject == "assembly/S0"),
        "{:?}",
        audit_actions(&s)
    );
    // Enabled again, ty1 finds her old entry gone, not signed over.
    let a = ad.post("/api/users/ty1/enable", json!({}));
    assert_eq!(a.status, 200, "{}", a.json);
    let mut t1 = Client::new(s.addr);
    assert_eq!(t1.login("ty1", crate::SECOND).status, 200);
    let a = t1.post(&format!("/api/entries/{id}/finish"), json!({}));
    assert_eq!(a.status, 404, "{}", a.json);
}
