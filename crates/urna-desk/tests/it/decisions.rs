//! The coordinator's decisions on quarantined protocols over real HTTP: who may decide, on
//! what, and a recount keyed twice that becomes an amendment intake admits.

use std::collections::{HashMap, HashSet};

use serde_json::json;
use urna_model::decision::{DecisionBody, DecisionKind};
use urna_model::definition::{ContestIdx, Election, StationIdx};
use urna_model::intake::{History, Latest, Verdict, intake, sha256};
use urna_model::note::Note;
use urna_model::protocol::{BodyKind, ProtocolBody};

use crate::{Client, GOOD, audit_actions, data, serve};

/// What intake knows of the log, as the test feeds it the desk's notes.
#[derive(Default)]
struct Log {
    latest: HashMap<(ContestIdx, StationIdx), Latest>,
    hashes: HashSet<[u8; 32]>,
    recounts: HashMap<(ContestIdx, StationIdx), [u8; 32]>,
}

impl History for Log {
    fn latest(&self, c: ContestIdx, s: StationIdx) -> Option<Latest> {
        self.latest.get(&(c, s)).copied()
    }
    fn contains(&self, h: &[u8; 32]) -> bool {
        self.hashes.contains(h)
    }
    fn contains_decision(&self, text_hash: &[u8; 32]) -> bool {
        self.hashes.contains(text_hash)
    }
    fn recount_ordered(&self, c: ContestIdx, s: StationIdx) -> Option<[u8; 32]> {
        self.recounts.get(&(c, s)).copied()
    }
}

impl Log {
    fn submit(&mut self, e: &Election, note: &[u8]) -> Verdict {
        let (s, v) = intake(e, self, note).unwrap();
        self.hashes.insert(s.hash);
        if s.decision.is_some() {
            // A decision's text hash stands for the decision (its signature bytes may vary).
            self.hashes.insert(s.text_hash);
        }
        match &s.decision {
            Some(d) if d.kind == DecisionKind::Recount => {
                self.recounts.insert((s.contest, s.station), d.decides);
            }
            Some(_) => {
                self.recounts.remove(&(s.contest, s.station));
            }
            None => {
                self.latest.insert(
                    (s.contest, s.station),
                    Latest {
                        revision: s.revision,
                        hash: s.hash,
                        text_hash: s.text_hash,
                    },
                );
            }
        }
        v
    }
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
fn a_quarantined_protocol_is_recounted_twice_and_amended_by_the_centre_alone() {
    let s = serve();
    let e = s.desk.election().clone();
    let mut ty1 = Client::first_login(s.addr, "ty1");
    let mut ty2 = Client::first_login(s.addr, "ty2");
    let mut ty3 = Client::first_login(s.addr, "ty3");
    let mut co = Client::first_login(s.addr, "co");
    ty1.key_protocol("S0", BROKEN);
    let a = ty2.key_protocol("S0", BROKEN);
    assert_eq!(a.json["protocol"], json!("difference"), "{}", a.json);
    // The paper itself is wrong: the coordinator keeps it, and the log quarantines it.
    let a = co.post(
        "/api/protocols/assembly/S0/resolve",
        json!({"action": "keep-1", "reason": "the paper says so", "round": 1}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    let (_, _, first) = s.desk.undelivered().unwrap().remove(0);
    let entry = format!("sha256:{}", urna_model::protocol::hex(&sha256(&first)));
    let mut log = Log::default();
    assert_eq!(log.submit(&e, &first), Verdict::Quarantined);
    // Before the log's answer, there is nothing to decide on.
    let early = co.post(
        "/api/decisions",
        json!({"contest": "assembly", "station": "S0", "entry": entry, "decision": "recount", "reason": "votes do not add up"}),
    );
    assert_eq!(
        (early.status, early.json["error"].as_str()),
        (409, Some("not-quarantined"))
    );
    s.desk
        .delivered("assembly", "S0", 1, b"receipt", "quarantined")
        .unwrap();

    // A typist cannot decide; a coordinator cannot decide on a station of another centre, nor
    // without the CSRF token; each refusal is in the audit trail.
    let a = ty1.post(
        "/api/decisions",
        json!({"contest": "assembly", "station": "S0", "entry": entry, "decision": "accept", "reason": "x"}),
    );
    assert_eq!(
        (a.status, a.json["error"].as_str()),
        (403, Some("forbidden"))
    );
    let a = co.post(
        "/api/decisions",
        json!({"contest": "assembly", "station": "S2", "entry": entry, "decision": "annul", "reason": "x"}),
    );
    assert_eq!(
        (a.status, a.json["error"].as_str()),
        (403, Some("outside-centre"))
    );
    let no_token = co.request(
        "POST",
        "/api/decisions",
        Some(&json!({"contest": "assembly", "station": "S0", "entry": entry, "decision": "annul", "reason": "x"})),
    );
    assert_eq!(no_token.status, 403);
    let a = co.post(
        "/api/decisions",
        json!({"contest": "assembly", "station": "S0", "entry": entry, "decision": "void", "reason": "x"}),
    );
    assert_eq!(a.status, 400);
    assert!(
        a.json["message"]
            .as_str()
            .unwrap()
            .contains("field `decision`")
    );
    let trail = audit_actions(&s);
    for (actor, action, subject) in [
        ("ty1", "refused-role", "decide on quarantined protocols"),
        ("co", "refused-outside-centre", "assembly/S2"),
        ("co", "refused-csrf", "/api/decisions"),
    ] {
        assert!(
            trail
                .iter()
                .any(|(a, x, s)| a == actor && x == action && s == subject),
            "{actor} {action} {subject} not in {trail:?}"
        );
    }
    assert_eq!(ty1.get("/api/quarantine").status, 403);
    let q = co.get("/api/quarantine");
    assert_eq!(
        q.json["quarantined"][0]["station"],
        json!("S0"),
        "{}",
        q.json
    );
    assert!(
        q.json["quarantined"][0]["violations"]
            .as_array()
            .is_some_and(|v| !v.is_empty())
    );

    // The recount: a signed decision, and the protocol open again for two entries.
    let a = co.post(
        "/api/decisions",
        json!({"contest": "assembly", "station": "S0", "entry": entry, "decision": "recount", "reason": "votes do not add up"}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["protocol"], json!("entering"));
    let decisions = s.desk.undelivered_decisions().unwrap();
    assert_eq!(decisions.len(), 1);
    let decision = &decisions[0].3;
    let body = DecisionBody::parse(Note::parse(decision).unwrap().text()).unwrap();
    assert_eq!(
        (body.decision, body.decides),
        (DecisionKind::Recount, sha256(&first))
    );
    assert_eq!(log.submit(&e, decision), Verdict::Accepted);
    s.desk
        .decision_answered(decisions[0].0, Some(2), "accepted")
        .unwrap();
    // A second decision waits for the recount.
    let a = co.post(
        "/api/decisions",
        json!({"contest": "assembly", "station": "S0", "entry": entry, "decision": "annul", "reason": "x"}),
    );
    assert_eq!(a.status, 409);

    ty3.key_protocol("S0", GOOD);
    let a = ty1.key_protocol("S0", GOOD);
    assert_eq!(a.json["protocol"], json!("signed"), "{}", a.json);
    let (_, _, amendment) = s.desk.undelivered().unwrap().remove(0);
    let note = Note::parse(&amendment).unwrap();
    let body = ProtocolBody::parse(note.text()).unwrap();
    assert_eq!(body.revision, 2);
    assert!(
        matches!(body.kind, BodyKind::Amendment { supersedes, .. } if supersedes == sha256(&first))
    );
    assert_eq!(note.signatures().len(), 1, "signed by the centre alone");
    // Intake admits it: the decision ordered the recount.
    assert_eq!(log.submit(&e, &amendment), Verdict::Accepted);
    let trail = audit_actions(&s);
    assert!(trail.iter().any(|(a, x, _)| a == "co" && x == "decision"));
    assert!(data(&s).join("desk.sqlite").exists());
}

#[test]
fn progress_counts_each_municipality_of_the_centre() {
    let s = crate::serve_centre("C");
    let mut ty1 = Client::first_login(s.addr, "ty1");
    let mut ty2 = Client::first_login(s.addr, "ty2");
    let mut co = Client::first_login(s.addr, "co");
    ty1.key_protocol("S0", GOOD);
    ty2.key_protocol("S0", GOOD);
    ty1.key_protocol("S1", GOOD);
    let mut typo: Vec<(&str, &str)> = GOOD.to_vec();
    typo[4] = ("votes:A", "30");
    ty2.key_protocol("S1", &typo);
    let a = co.post(
        "/api/protocols/assembly/S1/resolve",
        json!({"action": "reenter", "reason": "neither matches the paper", "round": 1}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    ty1.key_protocol("S2", GOOD);
    let p = ty1.get("/api/progress").json;
    let units = p["units"].as_array().unwrap();
    let row = |u: &str| {
        units
            .iter()
            .find(|x| x["unit"] == json!(u))
            .unwrap()
            .clone()
    };
    let figures = |u: &str| {
        let r = row(u);
        [
            "protocols",
            "entered_once",
            "entered_twice",
            "differences",
            "resolved",
            "signed",
            "delivered",
        ]
        .map(|k| r[k].as_u64().unwrap())
    };
    assert_eq!(figures("MA"), [2, 0, 2, 0, 1, 1, 0], "{p}");
    assert_eq!(figures("MB"), [1, 1, 0, 0, 0, 0, 0], "{p}");
    assert_eq!(row("MA")["name"], json!("Municipality A"));
    // The centre's totals agree with its municipalities.
    assert_eq!(p["protocols"].as_u64(), Some(3));
    assert_eq!(p["signed"].as_u64(), Some(1));
}

/// `POST /api/scans/<contest>/<station>` with raw bytes and the CSRF token in its header.
pub(crate) fn upload(
    c: &Client,
    path: &str,
    csrf: Option<&str>,
    bytes: &[u8],
) -> (u16, serde_json::Value) {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(c.addr).unwrap();
    let cookie = c
        .cookie
        .as_ref()
        .map(|c| format!("Cookie: urna_desk={c}\r\n"))
        .unwrap_or_default();
    let token = csrf
        .map(|t| format!("X-CSRF-Token: {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: desk\r\nConnection: close\r\n{cookie}{token}Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        bytes.len()
    )
    .unwrap();
    // A refusal may close the connection before a large body is sent: the answer counts.
    let _ = s.write_all(bytes);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or_default())
}

#[test]
fn a_scan_is_checked_kept_by_its_hash_and_named_in_the_signed_note() {
    let s = serve();
    let e = s.desk.election().clone();
    let mut ty1 = Client::first_login(s.addr, "ty1");
    let mut ty2 = Client::first_login(s.addr, "ty2");
    let path = "/api/scans/assembly/S0";
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..5000u32).map(|i| (i % 251) as u8));
    // Without the token, not a PNG/JPEG/PDF, too large, outside the centre: refused.
    assert_eq!(upload(&ty1, path, None, &png).0, 403);
    let (status, v) = upload(
        &ty1,
        path,
        Some(&ty1.csrf.clone()),
        b"GIF89a not a protocol",
    );
    assert_eq!((status, v["error"].as_str()), (415, Some("bad-scan")));
    let big = [b"%PDF-".as_slice(), &vec![b'x'; urna_desk::desk::MAX_SCAN]].concat();
    assert_eq!(upload(&ty1, path, Some(&ty1.csrf.clone()), &big).0, 413);
    let (status, v) = upload(
        &ty1,
        "/api/scans/assembly/S2",
        Some(&ty1.csrf.clone()),
        &png,
    );
    assert_eq!((status, v["error"].as_str()), (403, Some("outside-centre")));
    // Before anyone keys it, the typist who picks up the paper attaches its scan. Once the
    // round's entries are claimed, only their typists (ty1 here) may replace it: a third
    // typist, holding no entry of it, may not swap it. A coordinator may.
    let (status, v) = upload(&ty1, path, Some(&ty1.csrf.clone()), &png);
    assert_eq!(status, 200, "{v}");
    let a = ty1.post(
        "/api/claim",
        json!({"contest": "assembly", "station": "S0"}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    let (status, v) = upload(&ty1, path, Some(&ty1.csrf.clone()), &png);
    assert_eq!(status, 200, "{v}");
    let ty3 = Client::first_login(s.addr, "ty3");
    let mut other = png.clone();
    other.push(0);
    let (status, v) = upload(&ty3, path, Some(&ty3.csrf.clone()), &other);
    assert_eq!((status, v["error"].as_str()), (403, Some("not-your-entry")));
    let co = Client::first_login(s.addr, "co");
    let (status, v) = upload(&co, path, Some(&co.csrf.clone()), &other);
    assert_eq!(status, 200, "{v}");
    // The coordinator's scan was the last; ty1 attaches the paper again.
    let (status, v) = upload(&ty1, path, Some(&ty1.csrf.clone()), &png);
    assert_eq!(status, 200, "{v}");
    let hash = urna_model::protocol::hex(&sha256(&png));
    assert_eq!(v["scan"], json!(format!("sha256:{hash}")));
    assert_eq!(v["kind"], json!("image/png"));
    assert_eq!(
        urna_desk::desk::scan_kind(b"\xFF\xD8\xFF\xE0"),
        Some("image/jpeg")
    );

    ty1.key_protocol("S0", GOOD);
    assert_eq!(
        ty2.key_protocol("S0", GOOD).json["protocol"],
        json!("signed")
    );
    let (_, _, note) = s.desk.undelivered().unwrap().remove(0);
    let body = ProtocolBody::parse(Note::parse(&note).unwrap().text()).unwrap();
    assert_eq!(body.scan, Some(sha256(&png)));
    assert_eq!(Log::default().submit(&e, &note), Verdict::Accepted);
    // Signed: the scan cannot change; the kept scan is served to the desk's accounts.
    let (status, _) = upload(&ty1, path, Some(&ty1.csrf.clone()), &png);
    assert_eq!(status, 409);
    let (kept, _) = s.desk.scan(&hash).unwrap().unwrap();
    assert_eq!(kept, "image/png");
    let trail = audit_actions(&s);
    assert!(trail.iter().any(|(a, x, _)| a == "ty1" && x == "scan"));
    assert!(
        trail
            .iter()
            .any(|(a, x, _)| a == "ty3" && x == "refused-scan")
    );
    assert!(
        trail
            .iter()
            .any(|(a, x, _)| a == "ty1" && x == "refused-csrf")
    );
}

/// The recount's amendment refused by the log (say it was sent before the decision was
/// logged): the coordinator orders new entries, and what they sign is still the amendment the
/// recount calls for, never a first protocol of a station the log already holds one of.
#[test]
fn a_recount_entered_again_after_the_log_refused_it_is_still_an_amendment() {
    let s = serve();
    let mut ty1 = Client::first_login(s.addr, "ty1");
    let mut ty2 = Client::first_login(s.addr, "ty2");
    let mut co = Client::first_login(s.addr, "co");
    ty1.key_protocol("S0", BROKEN);
    ty2.key_protocol("S0", BROKEN);
    let a = co.post(
        "/api/protocols/assembly/S0/resolve",
        json!({"action": "keep-1", "reason": "the paper says so", "round": 1}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    let (_, _, first) = s.desk.undelivered().unwrap().remove(0);
    let entry = format!("sha256:{}", urna_model::protocol::hex(&sha256(&first)));
    s.desk
        .delivered("assembly", "S0", 1, b"receipt", "quarantined")
        .unwrap();
    let a = co.post(
        "/api/decisions",
        json!({"contest": "assembly", "station": "S0", "entry": entry, "decision": "recount", "reason": "votes do not add up"}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    ty1.key_protocol("S0", GOOD);
    let a = ty2.key_protocol("S0", GOOD);
    assert_eq!(a.json["protocol"], json!("signed"), "{}", a.json);
    s.desk
        .refused("assembly", "S0", "forbidden: no recount ordered yet")
        .unwrap();
    let a = co.post(
        "/api/protocols/assembly/S0/resolve",
        json!({"action": "reenter", "reason": "send it again after the decision", "round": 2}),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    ty1.key_protocol("S0", GOOD);
    let a = ty2.key_protocol("S0", GOOD);
    assert_eq!(a.json["protocol"], json!("signed"), "{}", a.json);
    let (_, _, again) = s.desk.undelivered().unwrap().remove(0);
    let body = ProtocolBody::parse(Note::parse(&again).unwrap().text()).unwrap();
    assert_eq!(body.revision, 2);
    assert!(
        matches!(body.kind, BodyKind::Amendment { supersedes, .. } if supersedes == sha256(&first)),
        "{:?}",
        body.kind
    );
}
