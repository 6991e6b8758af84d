//! The desk over real HTTP: a desk served on a loopback port, driven by a raw HTTP/1.1 client
//! that keeps its own cookie, as a browser would.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::panic)]

mod attacks;
mod decisions;
mod flow;
mod forged;
mod pages;
mod reassign;
mod security;
mod stale;
mod station;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use urna_desk::Desk;
use urna_model::definition::STATIONS_HEADER;
use urna_model::note::NoteSigner;

/// The counting centre's authority key (scope: the whole country).
pub fn authority() -> NoteSigner {
    NoteSigner::from_seed("cec", &[200; 32]).unwrap()
}

/// Writes a definition into `dir`: contest `assembly`, open lists A (1, 2) and B (1); stations
/// S0, S1 in municipality MA (the centre), S2 in MB.
pub fn write_definition(dir: &Path) {
    let toml = format!(
        r#"[election]
id = "t"
name = "Test"

[stations]
file = "stations.csv"

[[contests]]
id = "assembly"
name = "Assembly"
lists = ["A", "B"]
preferences = {{ marks = 2 }}

[[lists]]
id = "A"
name = "List A"
candidates = [{{ number = 1, name = "Ana" }}, {{ number = 2, name = "Besa" }}]

[[lists]]
id = "B"
name = "List B"
candidates = [{{ number = 1, name = "Era" }}]

[[units]]
id = "C"
name = "Country"

[[units]]
id = "MA"
name = "Municipality A"
parent = "C"

[[units]]
id = "MB"
name = "Municipality B"
parent = "C"

[[authorities]]
name = "Central commission"
key = "{}"
"#,
        authority().verifier().to_vkey()
    );
    let mut csv = format!("{STATIONS_HEADER}\n");
    for (i, unit) in ["MA", "MA", "MB"].iter().enumerate() {
        let k = NoteSigner::from_seed(&format!("S{i}"), &[i as u8 + 1; 32]).unwrap();
        csv.push_str(&format!("S{i},{unit},1000,{}\n", k.verifier().to_vkey()));
    }
    std::fs::write(dir.join("election.toml"), toml).unwrap();
    std::fs::write(dir.join("stations.csv"), csv).unwrap();
}

/// A desk served on a loopback port for the test's life.
pub struct Served {
    /// `host:port`.
    pub addr: SocketAddr,
    /// The desk itself (for its database in assertions).
    pub desk: Arc<Desk>,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The password every test account starts with.
pub const FIRST: &str = "first-password-1";
/// The password every test account changes to.
pub const SECOND: &str = "second-password-2";

/// Serves a desk for centre MA with accounts `ty1`, `ty2`, `ty3` (typists), `co`
/// (coordinator) and `ad` (administrator), all with password [`FIRST`] still to change.
pub fn serve() -> Served {
    serve_centre("MA")
}

/// [`serve`] for another centre (a unit id of the definition).
pub fn serve_centre(centre: &str) -> Served {
    serve_edited(centre, |_| {})
}

/// [`serve_centre`] with the definition edited by `edit` (given the data directory) first.
pub fn serve_edited(centre: &str, edit: impl FnOnce(&Path)) -> Served {
    let dir = tempfile::tempdir().unwrap();
    write_definition(dir.path());
    edit(dir.path());
    let desk = Arc::new(Desk::open(dir.path(), centre, authority()).unwrap());
    {
        let conn = urna_desk::db::open(dir.path()).unwrap();
        for (n, r) in [
            ("ty1", "typist"),
            ("ty2", "typist"),
            ("ty3", "typist"),
            ("co", "coordinator"),
            ("ad", "administrator"),
        ] {
            urna_desk::db::add_user(
                &conn,
                n,
                urna_desk::db::Role::parse(r).unwrap(),
                FIRST,
                "test",
            )
            .unwrap();
        }
    }
    serve_desk(desk, dir)
}

/// Serves `desk` (over the data directory `dir`) on a loopback port.
pub fn serve_desk(desk: Arc<Desk>, dir: tempfile::TempDir) -> Served {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let d = Arc::clone(&desk);
    let thread = std::thread::spawn(move || {
        urna_desk::run(
            d,
            listener,
            None,
            Duration::from_secs(1),
            None,
            async move {
                let _ = rx.await;
            },
            |_| {},
        )
        .unwrap();
    });
    Served {
        addr,
        desk,
        _dir: dir,
        stop: Some(tx),
        thread: Some(thread),
    }
}

/// An answer: status, headers (lower-case names), JSON body (or `Null`).
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub json: Value,
}

/// A browser-like client: one cookie, the CSRF token it was given.
pub struct Client {
    /// The desk.
    pub addr: SocketAddr,
    /// The session cookie's value.
    pub cookie: Option<String>,
    /// The session's CSRF token.
    pub csrf: String,
    /// The address it connects from (a loopback address other than 127.0.0.1 is another
    /// machine of the centre's network, as far as the desk can tell); the system's if `None`.
    pub from: Option<std::net::IpAddr>,
}

impl Client {
    /// A new client that has loaded the session (cookie and CSRF token).
    pub fn new(addr: SocketAddr) -> Self {
        Self::new_from(addr, None)
    }

    /// [`Client::new`], connecting from `from`.
    pub fn new_from(addr: SocketAddr, from: Option<std::net::IpAddr>) -> Self {
        let mut c = Self {
            addr,
            cookie: None,
            csrf: String::new(),
            from,
        };
        let a = c.get("/api/session");
        c.csrf = a.json["csrf"].as_str().unwrap().to_owned();
        c
    }

    /// Sends a request; keeps a cookie the server sets.
    pub fn request(&mut self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let mut s = match self.from {
            None => TcpStream::connect(self.addr).unwrap(),
            Some(from) => connect_from(from, self.addr),
        };
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let body = body.map(Value::to_string).unwrap_or_default();
        let cookie = self
            .cookie
            .as_ref()
            .map(|c| format!("Cookie: urna_desk={c}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: desk\r\nConnection: close\r\n{cookie}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
            .collect();
        for (k, v) in &headers {
            if k == "set-cookie" {
                let c = v
                    .strip_prefix("urna_desk=")
                    .unwrap()
                    .split(';')
                    .next()
                    .unwrap();
                self.cookie = Some(c.to_owned());
            }
        }
        let json = serde_json::from_str(body).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            json,
        }
    }

    /// GET.
    pub fn get(&mut self, path: &str) -> Answer {
        self.request("GET", path, None)
    }

    /// POST with the session's CSRF token added to the JSON body.
    pub fn post(&mut self, path: &str, mut body: Value) -> Answer {
        body["csrf"] = json!(self.csrf);
        self.request("POST", path, Some(&body))
    }

    /// Logs in; returns the answer.
    pub fn login(&mut self, name: &str, password: &str) -> Answer {
        let a = self.post("/api/login", json!({"name": name, "password": password}));
        if a.status == 200 {
            self.csrf = a.json["csrf"].as_str().unwrap().to_owned();
        }
        a
    }

    /// Logs in with [`FIRST`] and changes it to [`SECOND`], as the first login demands.
    pub fn first_login(addr: SocketAddr, name: &str) -> Self {
        let mut c = Self::new(addr);
        let a = c.login(name, FIRST);
        assert_eq!(a.status, 200, "{}", a.json);
        assert_eq!(a.json["user"]["must_change"], json!(true));
        let a = c.post("/api/password", json!({"old": FIRST, "new": SECOND}));
        assert_eq!(a.status, 200, "{}", a.json);
        // The session is rotated with the password: a new cookie and a new token.
        c.csrf = a.json["csrf"].as_str().unwrap().to_owned();
        c
    }

    /// Claims a protocol and keys every line of `values`, then finishes the entry.
    pub fn key_protocol(&mut self, station: &str, values: &[(&str, &str)]) -> Answer {
        let a = self.post(
            "/api/claim",
            json!({"contest": "assembly", "station": station}),
        );
        assert_eq!(a.status, 200, "{}", a.json);
        let id = a.json["entry"].as_i64().unwrap();
        for (k, v) in values {
            let a = self.post(
                &format!("/api/entries/{id}/line"),
                json!({"key": k, "value": v}),
            );
            assert_eq!(a.status, 200, "{k}={v}: {}", a.json);
        }
        self.post(&format!("/api/entries/{id}/finish"), json!({}))
    }
}

/// A log holding nothing, for intake.
pub struct Empty;

impl urna_model::intake::History for Empty {
    fn latest(
        &self,
        _: urna_model::definition::ContestIdx,
        _: urna_model::definition::StationIdx,
    ) -> Option<urna_model::intake::Latest> {
        None
    }
    fn contains(&self, _: &[u8; 32]) -> bool {
        false
    }
    fn contains_decision(&self, _: &[u8; 32]) -> bool {
        false
    }
}

/// The lines of a protocol that passes every rule.
pub const GOOD: &[(&str, &str)] = &[
    ("count:registered", "1000"),
    ("count:ballots-cast", "500"),
    ("count:invalid", "10"),
    ("count:valid", "490"),
    ("votes:A", "300"),
    ("votes:B", "190"),
    ("pref:A:1", "120"),
    ("pref:B:1", "40"),
];

/// The audit trail's actions, in order.
pub fn audit_actions(served: &Served) -> Vec<(String, String, String)> {
    let conn = urna_desk::db::open(served._dir.path()).unwrap();
    urna_desk::db::audit_lines(&conn)
        .unwrap()
        .into_iter()
        .map(|l| (l.actor, l.action, l.subject))
        .collect()
}

/// The data directory.
pub fn data(served: &Served) -> &Path {
    served._dir.path()
}

/// A connection to `to` from the local address `from` (std cannot bind before connecting).
fn connect_from(from: std::net::IpAddr, to: SocketAddr) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let stream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(from, 0)).unwrap();
        socket.connect(to).await.unwrap().into_std().unwrap()
    });
    stream.set_nonblocking(false).unwrap();
    stream
}
