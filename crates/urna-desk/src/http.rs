//! The desk over HTTP: static pages, and a JSON API where every POST carries the session's
//! CSRF token in its body.
//!
//! ```text
//! GET  /  /desk.js  /desk.css  /i18n.js           the pages (no framework, 4 languages)
//! GET  /api/session                               who am I, my CSRF token (sets the cookie)
//! POST /api/login  /api/logout  /api/password     {csrf, …}
//! POST /api/users                                 {csrf, name, role, password}  administrator
//! POST /api/users/<name>/<action>                 {csrf, password?}  unlock, reset (with the
//!                                                 new first password), disable, enable   administrator
//! POST /api/claim                                 {csrf, contest, station}      typist
//! GET  /api/entries/<id>                          own entry only               typist
//! POST /api/entries/<id>/line                     {csrf, key, value}            typist
//! POST /api/entries/<id>/finish                   {csrf}                        typist
//! GET  /api/differences                                                         coordinator
//! GET  /api/protocols/<contest>/<station>         both entries side by side     coordinator
//! POST /api/protocols/<contest>/<station>/resolve {csrf, round, action, reason} coordinator
//! GET  /api/progress                              counts by state (JSON)
//! POST /api/scans/<contest>/<station>             the file's bytes; CSRF token in the
//!                                                 `X-CSRF-Token` header   typist, coordinator
//! GET  /api/scans/<sha256>                        a kept scan
//! GET  /api/quarantine                            quarantined protocols, decisions  coordinator
//! POST /api/decisions                             {csrf, contest, station, entry, decision,
//!                                                 reason}  coordinator
//! GET|POST /api/audit/…                           audit hand counts ([`crate::desk::audit::route`])
//! ```
//!
//! The session cookie is `Secure; HttpOnly; SameSite=Strict`; its value is random and only
//! its SHA-256 is stored.

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::desk::{Desk, Refusal, Session};
use crate::request::{
    self, Claim, Csrf, DecisionRequest, Login, ManageUser, NewUser, Password, Resolve, SaveLine,
};

/// Name of the session cookie.
pub const COOKIE: &str = "urna_desk";

/// Largest request body.
const MAX_BODY: usize = 64 * 1024;

/// Longest time to receive a request body.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

const INDEX: &str = include_str!("../web/index.html");
const JS: &str = include_str!("../web/desk.js");
const CSS: &str = include_str!("../web/desk.css");
const I18N: &str = include_str!("../web/i18n.js");

/// Scan uploads received at once: each may buffer up to [`crate::desk::MAX_SCAN`] (8 MiB),
/// so these bound the memory uploads take to 32 MiB whatever the number of connections; one
/// more is answered `503` with `Retry-After` at once. A centre's tens of typists upload one
/// scan each now and then, in well under a second on a local network.
pub const MAX_CONCURRENT_UPLOADS: usize = 4;

/// Seconds a client is asked to wait when every upload place is taken.
const UPLOAD_RETRY_AFTER_S: u64 = 2;

/// The router's state: the desk, and the places for scan uploads.
#[derive(Clone)]
struct AppState {
    desk: Arc<Desk>,
    uploads: Arc<tokio::sync::Semaphore>,
}

/// The desk's router.
pub fn router(desk: Arc<Desk>) -> Router {
    Router::new().fallback(handle).with_state(AppState {
        desk,
        uploads: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_UPLOADS)),
    })
}

struct Answer {
    status: u16,
    body: Value,
    cookie: Option<String>,
}

async fn handle(State(state): State<AppState>, req: Request) -> Response {
    let AppState { desk, uploads } = state;
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    // The client's address, which the connection layer gives every request: failed logins
    // are counted per address.
    let from = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if method == Method::GET {
        let page = match path.as_str() {
            "/" | "/index.html" => Some((INDEX, "text/html; charset=utf-8")),
            "/desk.js" => Some((JS, "text/javascript; charset=utf-8")),
            "/i18n.js" => Some((I18N, "text/javascript; charset=utf-8")),
            "/desk.css" => Some((CSS, "text/css; charset=utf-8")),
            _ => None,
        };
        if let Some((text, kind)) = page {
            return respond(200, kind, Body::from(text), None);
        }
    }
    let cookie = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .map(str::to_owned)
        .next();
    // A scan's body is a file; every other body is a small JSON object.
    let scan_upload = method == Method::POST && path.starts_with("/api/scans/");
    let limit = if scan_upload {
        crate::desk::MAX_SCAN
    } else {
        MAX_BODY
    };
    let header_csrf = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if method == Method::GET
        && let Some(hash) = path.strip_prefix("/api/scans/")
    {
        return scan_response(&desk, cookie.as_deref(), hash);
    }
    // Who asks is checked from the headers before a byte of the body is read: a request that
    // will be refused never gets to make the desk buffer its body. Without a session there
    // is no CSRF token, so every POST is refused; a scan upload also needs the CSRF header,
    // a login and a role that may upload.
    let mut _upload_place = None;
    if method == Method::POST {
        let checked = {
            let (desk, cookie, csrf, path) = (
                Arc::clone(&desk),
                cookie.clone(),
                header_csrf.clone(),
                path.clone(),
            );
            tokio::task::spawn_blocking(move || {
                let (session, _) = desk.session(cookie.as_deref(), false)?;
                if !session.exists() {
                    // Refused (and audited, at most once a minute) as a missing token.
                    return Err(desk
                        .check_csrf(&session, None, &path)
                        .err()
                        .unwrap_or_else(no_session));
                }
                if scan_upload {
                    desk.check_scan_upload(&session, csrf.as_deref(), &path)?;
                }
                Ok(())
            })
            .await
            .unwrap_or_else(|_| Err(internal()))
        };
        if let Err(r) = checked {
            return json_response(refusal(&r, None));
        }
        if scan_upload {
            match Arc::clone(&uploads).try_acquire_owned() {
                Ok(place) => _upload_place = Some(place),
                Err(_) => return busy_uploads(),
            }
        }
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return json_response(too_large(limit));
    }
    // A body that trickles in holds a connection: it gets BODY_TIMEOUT, like urna serve's.
    let body = match tokio::time::timeout(BODY_TIMEOUT, to_bytes(req.into_body(), limit)).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return json_response(too_large(limit)),
        Err(_) => {
            return json_response(Answer {
                status: 408,
                body: json!({"error": "too-slow", "message": format!("request body not received within {} s", BODY_TIMEOUT.as_secs())}),
                cookie: None,
            });
        }
    };
    // Decoded as `route` decodes it: `//api/%6Cogin` is a login too.
    let is_login = segments(&path).is_ok_and(|p| p == ["api", "login"]);
    if method == Method::POST && is_login {
        return json_response(login(desk, path, cookie, body, from).await);
    }
    let answer = tokio::task::spawn_blocking(move || {
        if scan_upload {
            return upload(
                &desk,
                &path,
                cookie.as_deref(),
                header_csrf.as_deref(),
                &body,
            );
        }
        dispatch(&desk, &method, &path, cookie.as_deref(), &body)
    })
    .await
    .unwrap_or_else(|_| refusal(&internal(), None));
    json_response(answer)
}

/// `POST /api/login` in two halves on blocking threads, with the wait for a slowed account's
/// place between them asleep on the runtime ([`Desk::login_place`]): however many logins
/// wait for their places, from however many addresses and for however many accounts, they
/// hold none of the blocking threads every other request needs.
async fn login(
    desk: Arc<Desk>,
    path: String,
    cookie: Option<String>,
    body: axum::body::Bytes,
    from: Option<IpAddr>,
) -> Answer {
    let placed = {
        let desk = Arc::clone(&desk);
        tokio::task::spawn_blocking(move || {
            let (session, _) = desk.session(cookie.as_deref(), false)?;
            let csrf: Csrf = parse(&body)?;
            desk.check_csrf(&session, csrf.csrf.as_deref(), &path)?;
            let l: Login = parse(&body)?;
            let place = desk.login_place(&l.name, from)?;
            Ok::<_, Refusal>((session, l, place))
        })
        .await
        .unwrap_or_else(|_| Err(internal()))
    };
    let (session, l, place) = match placed {
        Ok(p) => p,
        Err(r) => return refusal(&r, None),
    };
    tokio::time::sleep(place.wait).await;
    tokio::task::spawn_blocking(move || {
        match desk.login_at_place(&session, &l.name, &l.password, from, place) {
            Ok((v, cookie)) => Answer {
                status: 200,
                body: v,
                cookie: Some(cookie),
            },
            Err(r) => refusal(&r, None),
        }
    })
    .await
    .unwrap_or_else(|_| refusal(&internal(), None))
}

fn too_large(limit: usize) -> Answer {
    Answer {
        status: 413,
        body: json!({"error": "too-large", "message": format!("request body over {limit} bytes")}),
        cookie: None,
    }
}

fn internal() -> Refusal {
    Refusal {
        status: 500,
        code: "internal",
        message: "the request failed".into(),
    }
}

/// A POST whose cookie names no session: it can carry no valid CSRF token.
fn no_session() -> Refusal {
    Refusal {
        status: 403,
        code: "csrf",
        message: "field `csrf`: no session; reload the page".into(),
    }
}

/// Every upload place is taken ([`MAX_CONCURRENT_UPLOADS`]).
fn busy_uploads() -> Response {
    let mut r = json_response(Answer {
        status: 503,
        body: json!({"error": "busy", "message": format!("{MAX_CONCURRENT_UPLOADS} scans are being uploaded; try again in a moment")}),
        cookie: None,
    });
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(UPLOAD_RETRY_AFTER_S));
    r
}

fn respond(status: u16, kind: &str, body: Body, cookie: Option<String>) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(kind) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Some(c) = cookie
        && let Ok(v) = HeaderValue::from_str(&format!(
            "{COOKIE}={c}; Path=/; Secure; HttpOnly; SameSite=Strict"
        ))
    {
        h.insert(header::SET_COOKIE, v);
    }
    r
}

fn json_response(a: Answer) -> Response {
    respond(
        a.status,
        "application/json",
        Body::from(a.body.to_string()),
        a.cookie,
    )
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Refusal> {
    request::parse(body).map_err(|message| Refusal {
        status: 400,
        code: "bad-json",
        message,
    })
}

fn dispatch(desk: &Desk, method: &Method, path: &str, cookie: Option<&str>, body: &[u8]) -> Answer {
    // Only the page's own session request starts a session.
    let create = *method == Method::GET && path == "/api/session";
    let (session, new_cookie) = match desk.session(cookie, create) {
        Ok(s) => s,
        Err(r) => return refusal(&r, None),
    };
    match route(desk, &session, method, path, body) {
        Ok((v, rotated)) => Answer {
            status: 200,
            body: v,
            cookie: rotated.or(new_cookie),
        },
        Err(r) => refusal(&r, new_cookie),
    }
}

/// `POST /api/scans/<contest>/<station>`: the body is the file, the CSRF token in a header.
fn upload(
    desk: &Desk,
    path: &str,
    cookie: Option<&str>,
    csrf: Option<&str>,
    body: &[u8],
) -> Answer {
    let run = || -> Result<Value, Refusal> {
        let (session, _) = desk.session(cookie, false)?;
        desk.check_csrf(&session, csrf, path)?;
        let parts = segments(path)?;
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let ["api", "scans", contest, station] = parts.as_slice() else {
            return Err(not_found(path));
        };
        desk.upload_scan(&session, contest, station, body)
    };
    match run() {
        Ok(v) => Answer {
            status: 200,
            body: v,
            cookie: None,
        },
        Err(r) => refusal(&r, None),
    }
}

/// `GET /api/scans/<sha256>`: a kept scan, to any logged-in account whose first password
/// is changed ([`Desk::scan_for`]).
fn scan_response(desk: &Desk, cookie: Option<&str>, hash: &str) -> Response {
    let found = desk
        .session(cookie, false)
        .and_then(|(s, _)| desk.scan_for(&s, hash));
    match found {
        Ok(Some((kind, bytes))) => respond(200, &kind, Body::from(bytes), None),
        Ok(None) => json_response(refusal(&not_found(hash), None)),
        Err(r) => json_response(refusal(&r, None)),
    }
}

fn refusal(r: &Refusal, cookie: Option<String>) -> Answer {
    Answer {
        status: r.status,
        body: json!({"error": r.code, "message": r.message}),
        cookie,
    }
}

fn route(
    desk: &Desk,
    s: &Session,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Result<(Value, Option<String>), Refusal> {
    let parts = segments(path)?;
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let none = |v: Value| Ok((v, None));
    // Audit hand counts: `/api/audit/…` (crate::desk::audit::route).
    if let ["api", "audit", rest @ ..] = parts.as_slice() {
        return none(crate::desk::audit::route(
            desk, s, method, path, rest, body,
        )?);
    }
    if *method == Method::GET {
        return match parts.as_slice() {
            ["api", "session"] => none(desk.whoami(s)),
            ["api", "progress"] => none(desk.progress(s)?),
            ["api", "differences"] => none(desk.differences(s)?),
            ["api", "quarantine"] => none(desk.quarantine(s)?),
            ["api", "entries", id] => none(desk.entry(s, entry_id(id)?)?),
            ["api", "protocols", contest, station] => none(desk.protocol(s, contest, station)?),
            _ => Err(not_found(path)),
        };
    }
    if *method != Method::POST {
        return Err(Refusal {
            status: 405,
            code: "method",
            message: format!("{method} is not allowed here"),
        });
    }
    if parts.first().is_none_or(|p| *p != "api") {
        return Err(not_found(path));
    }
    // Every POST, the login form's too, carries the session's CSRF token.
    let csrf: Csrf = parse(body)?;
    desk.check_csrf(s, csrf.csrf.as_deref(), path)?;
    match parts.as_slice() {
        // `POST /api/login` is answered by `login` before it gets here: its wait for a
        // slowed account's place must hold no blocking thread.
        ["api", "login"] => Err(internal()),
        ["api", "logout"] => none(desk.logout(s)?),
        ["api", "password"] => {
            let p: Password = parse(body)?;
            let (v, cookie) = desk.change_password(s, &p.old, &p.new)?;
            Ok((v, Some(cookie)))
        }
        ["api", "users"] => {
            let u: NewUser = parse(body)?;
            none(desk.add_user(s, &u.name, &u.role, &u.password)?)
        }
        ["api", "users", name, action] => {
            let m: ManageUser = parse(body)?;
            none(desk.manage_user(s, name, action, m.password.as_deref())?)
        }
        ["api", "claim"] => {
            let c: Claim = parse(body)?;
            none(desk.claim(s, &c.contest, &c.station)?)
        }
        ["api", "entries", id, "line"] => {
            let l: SaveLine = parse(body)?;
            none(desk.save_line(s, entry_id(id)?, &l.key, &l.value)?)
        }
        ["api", "entries", id, "finish"] => none(desk.finish(s, entry_id(id)?)?),
        ["api", "decisions"] => {
            let d: DecisionRequest = parse(body)?;
            none(desk.decide(
                s,
                (&d.contest, &d.station),
                &d.entry,
                &d.decision,
                &d.reason,
            )?)
        }
        ["api", "protocols", contest, station, "resolve"] => {
            let r: Resolve = parse(body)?;
            none(desk.resolve(s, (contest, station), r.round, &r.action, &r.reason)?)
        }
        _ => Err(not_found(path)),
    }
}

/// The path's segments, each percent-decoded after the split ([`request::segments`]).
fn segments(path: &str) -> Result<Vec<String>, Refusal> {
    request::segments(path).map_err(|bad| Refusal {
        status: 400,
        code: "bad-path",
        message: format!(
            "path segment {:?}: not a percent-encoded UTF-8 text",
            truncated(&bad)
        ),
    })
}

/// At most 200 bytes of `s` (cut at a character boundary), for messages and the audit trail.
pub(crate) fn truncated(s: &str) -> &str {
    let mut end = s.len().min(200);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn entry_id(s: &str) -> Result<i64, Refusal> {
    s.parse().map_err(|_| Refusal {
        status: 400,
        code: "bad-field",
        message: format!("entry id {s:?} is not a number"),
    })
}

fn not_found(path: &str) -> Refusal {
    Refusal {
        status: 404,
        code: "not-found",
        message: format!("no such resource: {path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::request::percent_decode;

    #[test]
    fn escapes_are_decoded_and_broken_ones_refused() {
        assert_eq!(percent_decode("MA%2F3").as_deref(), Some("MA/3"));
        assert_eq!(percent_decode("%C3%AB").as_deref(), Some("ë"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        for bad in ["%2", "%", "%+1", "%zz", "%FF"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
    }
}
