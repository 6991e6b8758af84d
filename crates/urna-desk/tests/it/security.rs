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
        from: None,
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
        json!({"action": "keep-1", "reason": "mine", "round": 1}),
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
    // With the login form's session: a POST without one is refused before its body is read.
    let c = Client::new(s.addr);
    let cookie = c.cookie.unwrap();
    let mut t = std::net::TcpStream::connect(s.addr).unwrap();
    t.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        t,
        "POST /api/login HTTP/1.1\r\nHost: desk\r\nCookie: urna_desk={cookie}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
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

/// Sends a request head with `Content-Length: length` and no body, and reads the answer's
/// status line and head. An answer (rather than the body timeout's 408) shows the request was
/// judged from its headers, without waiting for the body.
fn head_only(
    addr: std::net::SocketAddr,
    path: &str,
    cookie: Option<&str>,
    csrf: Option<&str>,
    length: usize,
) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut t = std::net::TcpStream::connect(addr).unwrap();
    t.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let cookie = cookie
        .map(|c| format!("Cookie: urna_desk={c}\r\n"))
        .unwrap_or_default();
    let csrf = csrf
        .map(|c| format!("X-CSRF-Token: {c}\r\n"))
        .unwrap_or_default();
    write!(
        t,
        "POST {path} HTTP/1.1\r\nHost: desk\r\n{cookie}{csrf}Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = t.read(&mut buf).unwrap();
        assert!(n > 0, "closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&answer).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head)
}

/// An 8 MiB upload is judged from its headers: without a session, with the wrong token,
/// without a login or with a role that may not upload, it is refused at once, its body never
/// read; a JSON body declared larger than the small limit is refused at once too.
#[test]
fn an_upload_is_refused_from_its_headers_before_its_body_is_read() {
    let s = serve();
    let path = "/api/scans/assembly/S0";
    let eight_mib = urna_desk::desk::MAX_SCAN;
    let mut ad = Client::first_login(s.addr, "ad");
    let ty1 = Client::first_login(s.addr, "ty1");
    let anonymous = Client::new(s.addr);
    let cases = [
        (None, None, 403, "no cookie"),
        (
            ty1.cookie.as_deref(),
            Some("0".repeat(64)),
            403,
            "wrong token",
        ),
        (
            anonymous.cookie.as_deref(),
            Some(anonymous.csrf.clone()),
            401,
            "not logged in",
        ),
        (
            ad.cookie.as_deref(),
            Some(ad.csrf.clone()),
            403,
            "an administrator",
        ),
    ];
    for (cookie, csrf, status, what) in cases {
        let (got, head) = head_only(s.addr, path, cookie, csrf.as_deref(), eight_mib);
        assert_eq!(got, status, "{what}: {head}");
    }
    // A JSON request declared over the small limit, from a live session: 413 at once.
    let (got, head) = head_only(
        s.addr,
        "/api/login",
        anonymous.cookie.as_deref(),
        None,
        eight_mib,
    );
    assert_eq!(got, 413, "{head}");
    // The administrator's refusal is in the trail, as any role refusal.
    assert!(has(&s, "ad", "refused-role"));
    assert_eq!(ad.get("/api/session").status, 200);
}

/// Scan uploads received at once are bounded: with every place taken by a body still on its
/// way, one more is answered 503 with Retry-After at once; when they end, uploads go on.
#[test]
fn concurrent_uploads_are_bounded_and_the_excess_told_to_retry() {
    use std::io::{Read as _, Write as _};
    let s = serve();
    let ty1 = Client::first_login(s.addr, "ty1");
    let path = "/api/scans/assembly/S0";
    let cookie = ty1.cookie.clone().unwrap();
    // Two more uploads than places, each body trickling: whichever come last find every
    // place taken and are answered at once; the others wait for their bodies.
    let extra = 2;
    let mut held = Vec::new();
    for _ in 0..urna_desk::http::MAX_CONCURRENT_UPLOADS + extra {
        let mut t = std::net::TcpStream::connect(s.addr).unwrap();
        write!(
            t,
            "POST {path} HTTP/1.1\r\nHost: desk\r\nCookie: urna_desk={cookie}\r\nX-CSRF-Token: {}\r\nContent-Length: 1000\r\n\r\n%PDF-",
            ty1.csrf
        )
        .unwrap();
        t.set_nonblocking(true).unwrap();
        held.push((t, Vec::new()));
    }
    // Poll every connection until `extra` have an answer (well within the body timeout).
    let answered = |held: &mut Vec<(std::net::TcpStream, Vec<u8>)>| {
        let mut buf = [0u8; 4096];
        for (t, got) in held.iter_mut() {
            if let Ok(n) = t.read(&mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
        }
        held.iter().filter(|(_, got)| !got.is_empty()).count()
    };
    let mut rounds = 0;
    while answered(&mut held) < extra && rounds < 200 {
        std::thread::sleep(std::time::Duration::from_millis(25));
        rounds += 1;
    }
    let answers: Vec<String> = held
        .iter()
        .filter(|(_, got)| !got.is_empty())
        .map(|(_, got)| String::from_utf8_lossy(got).to_ascii_lowercase())
        .collect();
    assert_eq!(answers.len(), extra, "{answers:?}");
    for a in &answers {
        assert!(
            a.starts_with("http/1.1 503") && a.contains("retry-after: 2"),
            "{a}"
        );
    }
    // The held uploads end (their connections closed): the places come back.
    drop(held);
    let mut status = 503;
    for _ in 0..200 {
        status = head_only(s.addr, path, Some(&cookie), Some(&ty1.csrf), 0).0;
        if status != 503 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    // An empty body is not a scan: refused for what it is, no longer for want of a place.
    assert_eq!(status, 415);
}

/// A cookieless `GET /api/session` (the login form's) stores nothing: a thousand of them
/// leave the sessions table as it was, and the anonymous session still logs in.
#[test]
fn cookieless_session_requests_do_not_grow_the_sessions_table() {
    let s = serve();
    let count = || -> i64 {
        let conn = urna_desk::db::open(data(&s)).unwrap();
        conn.query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))
            .unwrap()
    };
    let before = count();
    for _ in 0..1_000 {
        let c = Client::new(s.addr);
        assert!(c.cookie.is_some() && c.csrf.len() == 64);
    }
    assert_eq!(count(), before);
    // The anonymous session is a real one: its token logs in, another's does not.
    let mut a = Client::new(s.addr);
    let b = Client::new(s.addr);
    a.csrf = b.csrf;
    assert_eq!(a.login("ty1", FIRST).status, 403);
    let mut a = Client::new(s.addr);
    assert_eq!(a.login("ty1", FIRST).status, 200);
    assert_eq!(count(), before + 1);
}

/// `GET path` as `c`, the answer's status and body as bytes (a scan is not text).
fn get_bytes(c: &Client, path: &str) -> (u16, Vec<u8>) {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(c.addr).unwrap();
    let cookie = c
        .cookie
        .as_ref()
        .map(|c| format!("Cookie: urna_desk={c}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: desk\r\nConnection: close\r\n{cookie}\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, raw[end + 4..].to_vec())
}

/// A kept scan is refused to an account that has not changed its first password, as every
/// other route refuses it; once changed, the scan is served.
#[test]
fn a_scan_is_refused_until_the_first_password_is_changed() {
    let s = serve();
    let ty1 = Client::first_login(s.addr, "ty1");
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..4000u32).map(|i| (i % 241) as u8));
    let (status, v) =
        crate::decisions::upload(&ty1, "/api/scans/assembly/S0", Some(&ty1.csrf), &png);
    assert_eq!(status, 200, "{v}");
    let path = format!(
        "/api/scans/{}",
        urna_model::protocol::hex(&urna_model::intake::sha256(&png))
    );
    let mut ty2 = Client::new(s.addr);
    assert_eq!(ty2.login("ty2", FIRST).status, 200);
    let (status, body) = get_bytes(&ty2, &path);
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("password-change-required")),
        "{body}"
    );
    let a = ty2.post("/api/password", json!({"old": FIRST, "new": SECOND}));
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(get_bytes(&ty2, &path), (200, png.clone()));
    // Nobody logged in is refused as before.
    assert_eq!(get_bytes(&Client::new(s.addr), &path).0, 401);
}
