//! Attacks on the desk, each reproduced over real HTTP (and with real threads where the attack
//! is a race) against a real desk, and refused.

use serde_json::json;

use crate::{Client, FIRST, SECOND, audit_actions, serve};

/// An administrator who set a first password logs in with it and keeps the session; the
/// owner then changes the password. The kept session must end, not become the owner's.
#[test]
fn a_session_opened_with_the_first_password_ends_when_the_owner_changes_it() {
    let s = serve();
    let mut stale = Client::new(s.addr);
    assert_eq!(stale.login("ty1", FIRST).status, 200);
    let mut owner = Client::new(s.addr);
    assert_eq!(owner.login("ty1", FIRST).status, 200);
    let before = owner.cookie.clone();
    let a = owner.post("/api/password", json!({"old": FIRST, "new": SECOND}));
    assert_eq!(a.status, 200, "{}", a.json);
    assert_ne!(
        owner.cookie, before,
        "the session id changes with the password"
    );
    owner.csrf = a.json["csrf"].as_str().unwrap().to_owned();
    // The kept session is nobody now: no progress, no claim.
    assert_eq!(stale.get("/api/progress").status, 401);
    assert!(stale.get("/api/session").json["user"].is_null());
    let a = stale.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S0"}),
    );
    assert_ne!(a.status, 200, "{}", a.json);
    // The owner's old cookie is dead too; the new one works.
    let mut old = Client::new(s.addr);
    old.cookie = before;
    assert_eq!(old.get("/api/progress").status, 401);
    assert_eq!(owner.get("/api/progress").status, 200);
    let a = owner.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S0"}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    assert!(
        audit_actions(&s)
            .iter()
            .any(|(a, x, _)| a == "ty1" && x == "password-change")
    );
}

/// Wrong passwords checked for `name` (each one a guess the desk let through to Argon2id).
fn guesses_checked(s: &crate::Served, name: &str) -> usize {
    let conn = urna_desk::db::open(crate::data(s)).unwrap();
    urna_desk::db::audit_lines(&conn)
        .unwrap()
        .iter()
        .filter(|l| l.subject == name && l.action == "login-refused")
        .filter(|l| l.detail.starts_with("wrong password"))
        .count()
}

/// Many wrong guesses sent at once, each on its own session and thread: no more than the
/// lock-out allows are checked, and the account ends locked.
#[test]
fn concurrent_guesses_cannot_get_around_the_lock_out() {
    let s = serve();
    let addr = s.addr;
    // Waves of guesses at once (some may be turned away as busy) until the lock holds.
    let mut locked = false;
    for wave in 0..20 {
        let guesses: Vec<_> = (0..8)
            .map(|i| {
                std::thread::spawn(move || {
                    let mut c = Client::new(addr);
                    let a = c.login("ty2", &format!("wrong-guess-{wave}-{i}"));
                    (
                        a.status,
                        a.json["error"].as_str().unwrap_or_default().to_owned(),
                    )
                })
            })
            .collect();
        let answers: Vec<(u16, String)> = guesses.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(
            answers.iter().all(|(st, _)| *st == 401 || *st == 429),
            "{answers:?}"
        );
        if answers.iter().any(|(_, e)| e == "locked") {
            locked = true;
            break;
        }
    }
    assert!(locked, "the account never locked");
    let checked = guesses_checked(&s, "ty2");
    assert!(
        checked <= urna_desk::desk::MAX_FAILURES as usize,
        "{checked} guesses checked"
    );
    // The right password is refused now: the account is locked.
    let a = Client::new(addr).login("ty2", FIRST);
    assert_eq!((a.status, a.json["error"].as_str()), (429, Some("locked")));
}

/// Logins sent at once, for names that do not even exist: each costs an Argon2id check of
/// 19 MiB, so only a few run at a time and the rest are turned away at once, not queued.
#[test]
fn password_checks_are_bounded_and_the_excess_refused_at_once() {
    let s = serve();
    let addr = s.addr;
    let n = 16;
    let ready = std::sync::Arc::new(std::sync::Barrier::new(n));
    let tries: Vec<_> = (0..n)
        .map(|i| {
            let ready = std::sync::Arc::clone(&ready);
            std::thread::spawn(move || {
                let mut c = Client::new(addr);
                ready.wait();
                let a = c.login(&format!("nobody-{i}"), "some-password-123");
                (
                    a.status,
                    a.json["error"].as_str().unwrap_or_default().to_owned(),
                )
            })
        })
        .collect();
    let answers: Vec<(u16, String)> = tries.into_iter().map(|t| t.join().unwrap()).collect();
    let busy = answers
        .iter()
        .filter(|(st, e)| *st == 429 && e == "busy")
        .count();
    let checked = answers
        .iter()
        .filter(|(st, e)| *st == 401 && e == "bad-login")
        .count();
    assert_eq!(busy + checked, n, "{answers:?}");
    assert!(busy > 0, "every check ran at once: {answers:?}");
    assert!(checked > 0, "{answers:?}");
    // Once they are done, a login goes through.
    let mut c = Client::new(addr);
    assert_eq!(c.login("ty1", FIRST).status, 200);
}

/// One protocol keyed by `ty1` and `ty2`, the second entry's "finish" sent by many threads
/// at once (over HTTP and straight into the desk); how many times the protocol was signed.
fn race_finishes() -> usize {
    let s = serve();
    let mut t1 = Client::first_login(s.addr, "ty1");
    let mut t2 = Client::first_login(s.addr, "ty2");
    let a = t1.key_protocol("S0", crate::GOOD);
    assert_eq!(a.status, 200, "{}", a.json);
    let a = t2.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S0"}),
    );
    let id = a.json["entry"].as_i64().unwrap();
    for (k, v) in crate::GOOD {
        let a = t2.post(
            &format!("/api/entries/{id}/line"),
            json!({"key": k, "value": v}),
        );
        assert_eq!(a.status, 200, "{}", a.json);
    }
    let session = s.desk.session(t2.cookie.as_deref(), false).unwrap().0;
    let n = 32;
    let ready = std::sync::Arc::new(std::sync::Barrier::new(n + 1));
    let finishes: Vec<_> = (0..n)
        .map(|_| {
            let desk = std::sync::Arc::clone(&s.desk);
            let session = session.clone();
            let ready = std::sync::Arc::clone(&ready);
            std::thread::spawn(move || {
                ready.wait();
                desk.finish(&session, id).is_ok()
            })
        })
        .collect();
    ready.wait();
    let a = t2.post(&format!("/api/entries/{id}/finish"), json!({}));
    assert_eq!(a.status, 200, "{}", a.json);
    for f in finishes {
        assert!(f.join().unwrap());
    }
    audit_actions(&s)
        .iter()
        .filter(|(_, x, subject)| x == "signed" && subject == "assembly/S0")
        .count()
}

/// The second typist's "finish" sent many times at once: the protocol is signed once.
#[test]
fn concurrent_finishes_sign_a_protocol_once() {
    for _ in 0..5 {
        let signed = race_finishes();
        assert_eq!(signed, 1, "signed {signed} times");
    }
}

/// A protocol the log refused is shown to the coordinator with the log's reason, and the
/// coordinator can order new entries for it; both steps are in the audit trail.
#[test]
fn a_protocol_the_log_refused_can_be_entered_again() {
    let s = serve();
    let mut t1 = Client::first_login(s.addr, "ty1");
    let mut t2 = Client::first_login(s.addr, "ty2");
    let mut co = Client::first_login(s.addr, "co");
    t1.key_protocol("S0", crate::GOOD);
    let a = t2.key_protocol("S0", crate::GOOD);
    assert_eq!(a.json["protocol"], json!("signed"), "{}", a.json);
    // What the deliverer records when `urna serve` refuses the note.
    s.desk
        .refused(
            "assembly",
            "S0",
            "conflict: the station has another protocol",
        )
        .unwrap();
    let d = co.get("/api/differences");
    assert_eq!(d.status, 200, "{}", d.json);
    let refused = d.json["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{}", d.json);
    assert_eq!(refused[0]["station"], json!("S0"));
    assert!(refused[0]["why"].as_str().unwrap().contains("conflict"));
    // Keeping an entry would sign the same refused numbers: only new entries are offered.
    let a = co.post(
        "/api/protocols/assembly/S0/resolve",
        json!({"action": "keep-1", "reason": "try again", "round": 1}),
    );
    assert_eq!(a.status, 409, "{}", a.json);
    let a = co.post(
        "/api/protocols/assembly/S0/resolve",
        json!({"action": "reenter", "reason": "the log refused it; key the paper again", "round": 1}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["state"], json!("entering"));
    assert!(
        co.get("/api/differences").json["refused"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Two new entries, a new signature.
    t1.key_protocol("S0", crate::GOOD);
    let a = t2.key_protocol("S0", crate::GOOD);
    assert_eq!(a.json["protocol"], json!("signed"), "{}", a.json);
    let trail = audit_actions(&s);
    assert!(
        trail
            .iter()
            .any(|(a, x, subj)| a == "-" && x == "refused-by-log" && subj == "assembly/S0")
    );
    assert!(
        trail
            .iter()
            .any(|(a, x, subj)| a == "co" && x == "reenter" && subj == "assembly/S0")
    );
    let signed = trail
        .iter()
        .filter(|(_, x, subj)| x == "signed" && subj == "assembly/S0")
        .count();
    assert_eq!(signed, 2);
}

/// The lock-out message sends the typist to an administrator, who can unlock the account,
/// reset a forgotten password, and disable an account (ending its sessions at once).
#[test]
fn an_administrator_unlocks_resets_and_disables_accounts() {
    let s = serve();
    let mut ad = Client::first_login(s.addr, "ad");
    let mut t1 = Client::first_login(s.addr, "ty1");
    // ty2 locks itself out.
    let mut c = Client::new(s.addr);
    for _ in 0..5 {
        c.login("ty2", "wrong-password-x");
    }
    assert_eq!(c.login("ty2", FIRST).status, 429);
    let a = ad.post("/api/users/ty2/unlock", json!({}));
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(Client::new(s.addr).login("ty2", FIRST).status, 200);
    // A typist may not.
    let a = t1.post("/api/users/ty2/disable", json!({}));
    assert_eq!(a.status, 403, "{}", a.json);
    // Disabled: the open session ends, the right password no longer logs in.
    let a = ad.post("/api/users/ty1/disable", json!({}));
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["sessions_ended"], json!(1));
    assert_eq!(t1.get("/api/progress").status, 401);
    let a = Client::new(s.addr).login("ty1", SECOND);
    assert_eq!(
        (a.status, a.json["error"].as_str()),
        (403, Some("disabled"))
    );
    assert_eq!(ad.post("/api/users/ty1/enable", json!({})).status, 200);
    assert_eq!(Client::new(s.addr).login("ty1", SECOND).status, 200);
    // Reset: a new first password, to be changed at the next login; the old one is gone.
    let a = ad.post("/api/users/ty1/reset", json!({}));
    assert_eq!(a.status, 400, "{}", a.json);
    let a = ad.post(
        "/api/users/ty1/reset",
        json!({"password": "reset-password-3"}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(Client::new(s.addr).login("ty1", SECOND).status, 401);
    let a = Client::new(s.addr).login("ty1", "reset-password-3");
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["user"]["must_change"], json!(true));
    // Unknown account, unknown action, own account.
    assert_eq!(ad.post("/api/users/nobody/unlock", json!({})).status, 400);
    assert_eq!(ad.post("/api/users/ty1/delete", json!({})).status, 404);
    assert_eq!(ad.post("/api/users/ad/disable", json!({})).status, 400);
    let trail = audit_actions(&s);
    for action in ["user-unlock", "user-disable", "user-enable", "user-reset"] {
        assert!(
            trail.iter().any(|(a, x, _)| a == "ad" && x == action),
            "{action}"
        );
    }
}

/// A station id may contain `/`; the page sends it percent-encoded in the path, and the
/// coordinator opens and resolves its difference like any other.
#[test]
fn a_station_id_with_a_slash_can_be_resolved() {
    let s = crate::serve_edited("MA", |dir| {
        let k = urna_model::note::NoteSigner::from_seed("MA/3", &[9; 32]).unwrap();
        let mut csv = std::fs::read_to_string(dir.join("stations.csv")).unwrap();
        csv.push_str(&format!("MA/3,MA,1000,{}\n", k.verifier().to_vkey()));
        std::fs::write(dir.join("stations.csv"), csv).unwrap();
    });
    let mut t1 = Client::first_login(s.addr, "ty1");
    let mut t2 = Client::first_login(s.addr, "ty2");
    let mut co = Client::first_login(s.addr, "co");
    t1.key_protocol("MA/3", crate::GOOD);
    let mut other = crate::GOOD.to_vec();
    other[4] = ("votes:A", "299");
    other[5] = ("votes:B", "191");
    let a = t2.key_protocol("MA/3", &other);
    assert_eq!(a.json["protocol"], json!("difference"), "{}", a.json);
    let a = co.get("/api/protocols/assembly/MA%2F3");
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["station"], json!("MA/3"));
    assert_eq!(a.json["state"], json!("difference"));
    // A reason that would print an escape sequence or a second line in the trail and on the
    // coordinators' screens is refused, as a decision's is.
    for reason in ["the paper\u{1b}[2J shows entry 1", "line one\nline two"] {
        let a = co.post(
            "/api/protocols/assembly/MA%2F3/resolve",
            json!({"action": "keep-1", "reason": reason, "round": 1}),
        );
        assert_eq!(a.status, 400, "{}", a.json);
        assert!(a.json.to_string().contains("field `reason`"), "{}", a.json);
    }
    let a = co.post(
        "/api/protocols/assembly/MA%2F3/resolve",
        json!({"action": "keep-1", "reason": "the paper shows entry 1", "round": 1}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["state"], json!("signed"));
    // A malformed escape is refused, naming the path.
    let a = co.get("/api/protocols/assembly/MA%2");
    assert_eq!(a.status, 400, "{}", a.json);
}

/// Requests refused for want of a CSRF token, without logging in and with long paths, cannot
/// fill the append-only audit trail: anonymous refusals are counted in one line at most a
/// minute, and every path written is cut short.
#[test]
fn anonymous_refusals_cannot_fill_the_audit_trail() {
    let s = serve();
    // Long, yet within the 16 KiB a request head may have (conn::MAX_HEAD_BYTES).
    let long = format!("/api/{}", "x".repeat(12_000));
    for _ in 0..50 {
        let mut c = Client {
            addr: s.addr,
            cookie: None,
            csrf: String::new(),
            from: None,
        };
        let a = c.request("POST", &long, Some(&json!({})));
        assert_eq!(a.status, 403, "{}", a.json);
    }
    let conn = urna_desk::db::open(crate::data(&s)).unwrap();
    let lines = urna_desk::db::audit_lines(&conn).unwrap();
    let refused: Vec<_> = lines
        .iter()
        .filter(|l| l.action == "refused-csrf")
        .collect();
    assert!(
        !refused.is_empty() && refused.len() <= 2,
        "{} lines",
        refused.len()
    );
    let bytes: usize = lines.iter().map(|l| l.subject.len() + l.detail.len()).sum();
    assert!(bytes < 2_000, "{bytes} bytes written");
    // A logged-in account's refusal is written every time, its path cut short too.
    let mut t = Client::first_login(s.addr, "ty1");
    t.csrf = "0".repeat(64);
    assert_eq!(t.post(&long, json!({})).status, 403);
    let lines = urna_desk::db::audit_lines(&conn).unwrap();
    let last = lines.iter().rfind(|l| l.action == "refused-csrf").unwrap();
    assert_eq!(last.actor, "ty1");
    assert!(last.subject.len() <= 200, "{}", last.subject.len());
}

/// A request head that never finishes holds its connection no longer than `urna serve`
/// lets it (10 s), so half-sent heads cannot keep the desk's connections for long.
#[test]
fn a_half_sent_request_head_is_closed_within_the_serve_header_timeout() {
    use std::io::{Read as _, Write as _};
    let s = serve();
    let mut conn = std::net::TcpStream::connect(s.addr).unwrap();
    // Longer than urna serve's header timeout, shorter than the desk's old 30 s.
    let limit = urna_server::conn::DEFAULT_HEADER_TIMEOUT + std::time::Duration::from_secs(8);
    conn.set_read_timeout(Some(limit)).unwrap();
    conn.write_all(b"GET /api/session HTTP/1.1\r\nHost: desk\r\n")
        .unwrap();
    let mut buf = Vec::new();
    match conn.read_to_end(&mut buf) {
        Ok(_) => {}
        Err(e) => assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "still open after {limit:?}"
        ),
    }
}

/// Someone else on the centre's network guesses a typist's password five times: the account
/// is locked for that address only, and the typist still logs in from their own machine.
/// Guessing one password for many accounts from one address locks that address out of all
/// of them; an administrator's unlock lifts an account's lock-outs everywhere.
#[test]
fn wrong_passwords_from_one_address_lock_the_account_for_that_address_only() {
    let s = serve();
    let neighbour: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    for i in 0..urna_desk::desk::MAX_FAILURES {
        let a = Client::new_from(s.addr, Some(neighbour)).login("ty1", &format!("guess-{i}-xxxxx"));
        assert_eq!(a.status, 401, "{}", a.json);
    }
    let a = Client::new_from(s.addr, Some(neighbour)).login("ty1", FIRST);
    assert_eq!(
        (a.status, a.json["error"].as_str()),
        (429, Some("locked")),
        "{}",
        a.json
    );
    // From the typist's own machine the right password still logs in.
    assert_eq!(Client::new(s.addr).login("ty1", FIRST).status, 200);
    // The trail names the address the guesses came from.
    let conn = urna_desk::db::open(crate::data(&s)).unwrap();
    let lines = urna_desk::db::audit_lines(&conn).unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.subject == "ty1" && l.detail.contains("from 127.0.0.2")),
        "{lines:?}"
    );

    // Spraying: one guess each for many names (unknown ones too) from one address.
    let sprayer: std::net::IpAddr = "127.0.0.3".parse().unwrap();
    let mut locked_at = None;
    for i in 0..urna_desk::desk::MAX_ADDRESS_FAILURES + 1 {
        let a =
            Client::new_from(s.addr, Some(sprayer)).login(&format!("name-{i}"), "spray-password-1");
        if a.status == 429 && a.json["error"] == "locked" {
            locked_at = Some(i);
            break;
        }
        assert_eq!(a.status, 401, "{}", a.json);
    }
    assert_eq!(locked_at, Some(urna_desk::desk::MAX_ADDRESS_FAILURES));
    // Locked out of real accounts too, with the right password; others are not affected.
    let a = Client::new_from(s.addr, Some(sprayer)).login("ty2", FIRST);
    assert_eq!(
        (a.status, a.json["error"].as_str()),
        (429, Some("locked")),
        "{}",
        a.json
    );
    assert!(
        a.json["message"]
            .as_str()
            .unwrap()
            .contains("from this address"),
        "{}",
        a.json
    );
    assert_eq!(Client::new(s.addr).login("ty2", FIRST).status, 200);
}

/// Guessing from many machines of the centre's network, each staying under its own
/// lock-out, does not lock the typist out: past [`urna_desk::desk::MAX_ACCOUNT_FAILURES`]
/// the account's password checks are spaced apart (a second; at least half of it is
/// asserted), so the guessing slows down, and the right password from the typist's own
/// machine still logs in, after a delay.
#[test]
fn guesses_from_many_addresses_slow_the_account_but_never_lock_its_typist_out() {
    use urna_desk::desk::{MAX_ACCOUNT_FAILURES, MAX_FAILURES};
    const SPACING_MS: u128 = 500;
    let s = serve();
    let addresses = MAX_ACCOUNT_FAILURES / MAX_FAILURES + 1;
    for a in 0..addresses {
        let from: std::net::IpAddr = format!("127.0.1.{}", a + 1).parse().unwrap();
        for i in 0..MAX_FAILURES {
            let answer =
                Client::new_from(s.addr, Some(from)).login("ty1", &format!("guess-{a}-{i}-x"));
            assert_eq!(answer.status, 401, "{a}/{i}: {}", answer.json);
        }
    }
    assert!(guesses_checked(&s, "ty1") >= MAX_ACCOUNT_FAILURES as usize);
    // More guesses, from more machines: each waits for the account's next place.
    let t = std::time::Instant::now();
    for a in 0..3 {
        let from: std::net::IpAddr = format!("127.0.2.{}", a + 1).parse().unwrap();
        let answer = Client::new_from(s.addr, Some(from)).login("ty1", "yet-another-guess");
        assert_eq!(answer.status, 401, "{}", answer.json);
    }
    let spaced = t.elapsed().as_millis();
    assert!(spaced >= 2 * SPACING_MS, "three guesses in {spaced} ms");
    // Many guesses at once from one more machine hold no more places (and get no more
    // password checks) than its own lock-out allows.
    let before = guesses_checked(&s, "ty1");
    let addr = s.addr;
    let t = std::time::Instant::now();
    let at_once: Vec<_> = (0..12)
        .map(|i| {
            std::thread::spawn(move || {
                let from: std::net::IpAddr = "127.0.3.1".parse().unwrap();
                let a = Client::new_from(addr, Some(from)).login("ty1", &format!("burst-{i}-xxxx"));
                (
                    a.status,
                    a.json["error"].as_str().unwrap_or_default().to_owned(),
                )
            })
        })
        .collect();
    let answers: Vec<(u16, String)> = at_once.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        answers.iter().all(|(st, _)| *st == 401 || *st == 429),
        "{answers:?}"
    );
    // Its places, a second apart, all passed: at most MAX_FAILURES of them, not twelve.
    let took = t.elapsed().as_millis();
    assert!(
        took < 2 * SPACING_MS * (MAX_FAILURES as u128 + 4),
        "the burst held places for {took} ms: {answers:?}"
    );
    let burst = guesses_checked(&s, "ty1") - before;
    assert!(
        burst <= MAX_FAILURES as usize,
        "{burst} guesses checked: {answers:?}"
    );
    // The typist, from her own machine, with the right password: in.
    let a = Client::new(s.addr).login("ty1", FIRST);
    assert_eq!(a.status, 200, "{}", a.json);
    // Her success starts the account's count again: the next login is not slowed.
    let t = std::time::Instant::now();
    assert_eq!(Client::new(s.addr).login("ty1", FIRST).status, 200);
    assert!(
        t.elapsed().as_millis() < SPACING_MS * 6,
        "{:?}",
        t.elapsed()
    );
    let lines = urna_desk::db::audit_lines(&urna_desk::db::open(crate::data(&s)).unwrap()).unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.subject == "ty1" && l.detail.contains("slowed")),
        "the trail says the account was slowed"
    );
}

/// Logins slowed for several accounts at once, from many addresses each under its own
/// lock-out, more of them than the desk keeps blocking threads: each waits for its
/// account's place asleep, holding no thread, so a logged-in typist's other requests are
/// answered at once while the guesses still wait.
#[test]
fn slowed_logins_hold_no_thread_a_typist_needs() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use urna_desk::desk::MAX_ACCOUNT_FAILURES;
    let s = serve();
    let mut typist = Client::first_login(s.addr, "ty3");
    // Four other accounts guessed past MAX_ACCOUNT_FAILURES from everywhere (how they got
    // there is `guesses_from_many_addresses_slow_the_account_but_never_lock_its_typist_out`).
    let slowed = ["ty1", "ty2", "co", "ad"];
    {
        let conn = urna_desk::db::open(crate::data(&s)).unwrap();
        for name in slowed {
            conn.execute(
                "UPDATE users SET failures = ?1 WHERE name = ?2",
                rusqlite::params![MAX_ACCOUNT_FAILURES, name],
            )
            .unwrap();
        }
    }
    // Each account's places are a second apart: 25 per account wait up to 24 s, and
    // 4 × 25 is more than the desk's blocking threads. One guess per account from each
    // address keeps every address under its lock-outs.
    let per_account = 25;
    assert!(slowed.len() * per_account > urna_desk::MAX_BLOCKING_THREADS);
    let done = std::sync::Arc::new(AtomicUsize::new(0));
    let addr = s.addr;
    let guesses: Vec<_> = (0..per_account)
        .flat_map(|a| slowed.map(|name| (a, name)))
        .map(|(a, name)| {
            let done = std::sync::Arc::clone(&done);
            std::thread::spawn(move || {
                let from: std::net::IpAddr = format!("127.0.4.{}", a + 1).parse().unwrap();
                let answer =
                    Client::new_from(addr, Some(from)).login(name, &format!("guess-{a}-{name}"));
                done.fetch_add(1, Ordering::SeqCst);
                (answer.status, answer.json)
            })
        })
        .collect();
    // The guesses have taken their places (or queued for a thread to take them on).
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    let t = std::time::Instant::now();
    let a = typist.get("/api/progress");
    assert_eq!(a.status, 200, "{}", a.json);
    let a = typist.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S0"}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    let took = t.elapsed();
    let waiting = slowed.len() * per_account - done.load(Ordering::SeqCst);
    assert!(
        took < std::time::Duration::from_secs(2),
        "the typist waited {took:?} behind {waiting} slowed logins"
    );
    assert!(
        waiting > urna_desk::MAX_BLOCKING_THREADS / 2,
        "only {waiting} slowed logins still waited when the typist was answered"
    );
    for g in guesses {
        let (status, body) = g.join().unwrap();
        assert!(status == 401 || status == 429, "{status}: {body}");
    }
}
