//! Every security rule, refused over real HTTP and written to the audit trail.

use serde_json::json;

use crate::{Client, FIRST, GOOD, SECOND, audit_actions, data, serve};

fn has(served: &crate::Served, actor: &str, action: &str) -> bool {
    audit_actions(served)
        .iter()
        .any(|(a, x, _)| a == actor && x == action)
}

#[test]
fn the_cookie_is_secure_and_every_post_needs_the_csrf_token() {
    let s = serve();
    let mut c = Client::new(s.addr);
    let a = c.get("/api/session");
    assert_eq!(a.status, 200);
    // The first answer set the cookie with every flag.
    let mut fresh = Client {
        addr: s.addr,
        cookie: None,
        csrf: String::new(),
    };
    let a = fresh.get("/api/session");
    let cookie = a
        .headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.clone())
        .unwrap();
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    // The login form without the token, and with another session's token.
    let no_token = c.request(
        "POST",
        "/api/login",
        Some(&json!({"name": "ty1", "password": FIRST})),
    );
    assert_eq!(
        (no_token.status, no_token.json["error"].as_str()),
        (403, Some("csrf"))
    );
    let mut other = Client::new(s.addr);
    other.csrf = c.csrf.clone();
    let a = other.login("ty1", FIRST);
    assert_eq!(a.status, 403);
    assert!(has(&s, "-", "refused-csrf"));
    // Logged in, a POST without the token is refused too, and audited under the account.
    let mut t = Client::first_login(s.addr, "ty1");
    t.csrf = "0".repeat(64);
    let a = t.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S0"}),
    );
    assert_eq!(a.status, 403);
    assert!(has(&s, "ty1", "refused-csrf"));
}

#[test]
fn five_failed_logins_lock_the_account_for_fifteen_minutes() {
    let s = serve();
    let mut c = Client::new(s.addr);
    for _ in 0..5 {
        let a = c.login("ty2", "wrong-password-x");
        assert_eq!(a.status, 401, "{}", a.json);
    }
    // Now even the right password is refused.
    let a = c.login("ty2", FIRST);
    assert_eq!((a.status, a.json["error"].as_str()), (429, Some("locked")));
    assert!(a.json["message"].as_str().unwrap().contains("15 minutes"));
    // Another account is not affected.
    assert_eq!(c.login("ty1", FIRST).status, 200);
    let actions = audit_actions(&s);
    let refused = actions
        .iter()
        .filter(|(a, x, _)| a == "ty2" && x == "login-refused")
        .count();
    assert_eq!(refused, 6);
    // An unknown account is refused like a wrong password, and audited.
    let mut c = Client::new(s.addr);
    assert_eq!(c.login("nobody", FIRST).status, 401);
    assert!(has(&s, "-", "login-refused"));
}

#[test]
fn the_first_login_must_change_the_password_and_sessions_rotate() {
    let s = serve();
    let mut c = Client::new(s.addr);
    let before = c.cookie.clone();
    assert_eq!(c.login("ty1", FIRST).status, 200);
    assert_ne!(c.cookie, before, "the session id changes at login");
    let a = c.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S0"}),
    );
    assert_eq!(a.json["error"], json!("password-change-required"));
    let a = c.post("/api/password", json!({"old": FIRST, "new": "short"}));
    assert_eq!(a.status, 400);
    assert!(a.json["message"].as_str().unwrap().contains("password"));
    let a = c.post("/api/password", json!({"old": FIRST, "new": SECOND}));
    assert_eq!(a.status, 200);
    c.csrf = a.json["csrf"].as_str().unwrap().to_owned();
    let a = c.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S0"}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    // A made-up or stolen-then-logged-out session is nobody.
    let mut forged = Client::new(s.addr);
    forged.cookie = Some("f".repeat(64));
    assert_eq!(forged.get("/api/progress").status, 401);
    let stolen = c.cookie.clone();
    assert_eq!(c.post("/api/logout", json!({})).status, 200);
    let mut thief = Client::new(s.addr);
    thief.cookie = stolen;
    assert_eq!(thief.get("/api/progress").status, 401);
}

#[test]
fn roles_are_enforced_and_a_typist_never_sees_the_other_entry() {
    let s = serve();
    let mut t1 = Client::first_login(s.addr, "ty1");
    let mut t2 = Client::first_login(s.addr, "ty2");
    let mut co = Client::first_login(s.addr, "co");
    let mut ad = Client::first_login(s.addr, "ad");

    // Typist 1 keys entry 1 of S0.
    let a = t1.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S0"}),
    );
    let id1 = a.json["entry"].as_i64().unwrap();
    let a = t1.post(
        &format!("/api/entries/{id1}/line"),
        json!({"key": "votes:A", "value": "300"}),
    );
    assert_eq!(a.status, 200);
    // Typist 2 gets entry 2, empty: nothing of entry 1 shows.
    let a = t2.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S0"}),
    );
    assert_eq!(a.json["slot"], json!(2));
    assert_eq!(a.json["values"], json!({}));
    let id2 = a.json["entry"].as_i64().unwrap();
    // Neither reading nor writing the other entry.
    assert_eq!(t2.get(&format!("/api/entries/{id1}")).status, 403);
    let a = t2.post(
        &format!("/api/entries/{id1}/line"),
        json!({"key": "votes:A", "value": "1"}),
    );
    assert_eq!(a.status, 403);
    assert!(has(&s, "ty2", "refused-other-entry"));
    // A typist cannot key both entries: claiming again gives back the own entry.
    let a = t1.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S0"}),
    );
    assert_eq!(a.json["entry"].as_i64(), Some(id1));
    // A third typist finds both entries taken.
    let mut t3 = Client::first_login(s.addr, "ty3");
    let a = t3.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S0"}),
    );
    assert_eq!((a.status, a.json["error"].as_str()), (409, Some("taken")));
    // A typist may not see entries side by side, resolve, or add accounts.
    assert_eq!(t1.get("/api/protocols/assembly/S0").status, 403);
    assert_eq!(t1.get("/api/differences").status, 403);
    let a = t1.post(
        "/api/protocols/assembly/S0/resolve",
        json!({"action": "keep-1", "reason": "mine"}),
    );
    assert_eq!(a.status, 403);
    assert!(has(&s, "ty1", "refused-role"));
    let a = t1.post(
        "/api/users",
        json!({"name": "x", "role": "administrator", "password": FIRST}),
    );
    assert_eq!(a.status, 403);
    // A coordinator does not key; an administrator does not resolve.
    let a = co.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S1"}),
    );
    assert_eq!(a.status, 403);
    assert_eq!(ad.get("/api/protocols/assembly/S0").status, 403);
    // The administrator adds an account, which must change its password.
    let a = ad.post(
        "/api/users",
        json!({"name": "ty4", "role": "typist", "password": FIRST}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    let mut t4 = Client::new(s.addr);
    assert_eq!(
        t4.login("ty4", FIRST).json["user"]["must_change"],
        json!(true)
    );
    // A station outside the centre is refused to everyone, and audited.
    let a = t3.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S2"}),
    );
    assert_eq!(
        (a.status, a.json["error"].as_str()),
        (403, Some("outside-centre"))
    );
    assert_eq!(co.get("/api/protocols/assembly/S2").status, 403);
    assert!(has(&s, "co", "refused-outside-centre"));
    let _ = id2;
}

#[test]
fn the_audit_trail_refuses_update_and_delete() {
    let s = serve();
    let mut c = Client::new(s.addr);
    assert_eq!(c.login("ty1", "wrong-password-x").status, 401);
    let conn = urna_desk::db::open(data(&s)).unwrap();
    let n = urna_desk::db::audit_lines(&conn).unwrap().len();
    assert!(n > 0);
    let e = conn
        .execute("UPDATE audit SET detail = 'nothing'", [])
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    let e = conn.execute("DELETE FROM audit", []).unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    assert_eq!(urna_desk::db::audit_lines(&conn).unwrap().len(), n);
    let mut out = Vec::new();
    assert_eq!(urna_desk::db::export_audit(&conn, &mut out).unwrap(), n);
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8(out).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(first["seq"], json!(1));
    let _ = GOOD;
}

/// A body that never arrives does not hold a connection forever: `408` after the body timeout.
#[test]
fn a_body_that_never_arrives_gets_408() {
    use std::io::{Read as _, Write as _};
    let s = serve();
    let mut t = std::net::TcpStream::connect(s.addr).unwrap();
    t.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        t,
        "POST /api/login HTTP/1.1\r\nHost: desk\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    )
    .unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = t.read(&mut buf).unwrap();
        assert!(n > 0, "closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&answer);
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(9));
}
