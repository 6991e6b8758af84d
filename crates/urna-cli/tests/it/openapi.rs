//! The OpenAPI document (`crates/urna-server/openapi.json`, served at `/v1/openapi.json`)
//! against the real server: the document is OpenAPI 3.1 and names every route of the router,
//! and every operation in it, sent real requests (valid ones and each refusal that can be
//! provoked), answers with a status the document lists for it, the documented media type and
//! headers, and JSON bodies carrying every property the schema requires.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use urna_model::note::Note;
use urna_model::pack::write_note;
use urna_model::protocol::{BodyKind, hex};
use urna_sim::{SimConfig, SimStation, Simulation};

use crate::log_story::{Witness, start_witness};
use crate::server::{Response, Server, get, post_note, raw, read_response};
use crate::{init, p, run};

/// The document, exactly as the server embeds it.
const DOC: &str = include_str!("../../../urna-server/openapi.json");

/// The server's source, whose router the document must cover.
const SERVE_RS: &str = include_str!("../../../urna-server/src/serve.rs");

/// Stations of the simulation: more than 256 entries, so that full tiles exist.
const STATIONS: u32 = 300;
/// Open lists, so that every optional field of the results (candidates, preference votes,
/// the elected) and `csv/preferences.csv` are served and checked.
const CANDIDATES: u32 = 5;

/// Entry 0 of every log is the genesis `urna init` writes.
const GENESIS: u64 = 1;

fn doc() -> Value {
    serde_json::from_str(DOC).unwrap_or_else(|e| panic!("openapi.json is not JSON: {e}"))
}

/// The value a local `$ref` (`#/a/b`) points to.
fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let pointer = reference
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("{reference}: only local references are used"));
    doc.pointer(pointer)
        .unwrap_or_else(|| panic!("{reference} does not resolve"))
}

/// Follows `$ref`s until a value that is not one.
fn deref<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        v = resolve(doc, r);
    }
    v
}

/// Every `$ref` anywhere in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

fn type_matches(ty: &str, value: &Value) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_u64() || value.is_i64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        other => panic!("unknown JSON schema type {other}"),
    }
}

/// A small structural check of `value` against `schema`: `$ref`, `allOf`, `oneOf`/`anyOf`,
/// `type`, `const`, `enum`, `required`, `properties`, `additionalProperties` and `items`.
/// Returns what is wrong, with the JSON path, or `None`.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Option<String> {
    let schema = deref(doc, schema);
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            if let Some(e) = conforms(doc, s, value, at) {
                return Some(e);
            }
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(any) = schema.get(key).and_then(Value::as_array) {
            let errors: Vec<String> = any
                .iter()
                .filter_map(|s| conforms(doc, s, value, at))
                .collect();
            if errors.len() == any.len() {
                return Some(format!("{at}: matches no branch of {key}: {errors:?}"));
            }
        }
    }
    match schema.get("type") {
        Some(Value::String(t)) if !type_matches(t, value) => {
            return Some(format!("{at}: expected {t}, got {value}"));
        }
        Some(Value::Array(ts)) if !ts.iter().any(|t| type_matches(t.as_str().unwrap(), value)) => {
            return Some(format!("{at}: expected one of {ts:?}, got {value}"));
        }
        _ => {}
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        return Some(format!("{at}: expected {c}, got {value}"));
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.contains(value)
    {
        return Some(format!("{at}: {value} is not one of {e:?}"));
    }
    if let Some(obj) = value.as_object() {
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                return Some(format!("{at}: required property `{r}` is missing"));
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for (k, v) in obj {
            let sub = match props.and_then(|p| p.get(k)) {
                Some(s) => s,
                None => match schema.get("additionalProperties") {
                    Some(s) if s.is_object() => s,
                    _ => continue,
                },
            };
            if let Some(e) = conforms(doc, sub, v, &format!("{at}.{k}")) {
                return Some(e);
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            if let Some(e) = conforms(doc, items, v, &format!("{at}[{i}]")) {
                return Some(e);
            }
        }
    }
    None
}

/// Checks a response against the document's response object: documented media type (or no
/// body when none is documented), documented headers present, JSON conforming to the schema.
fn check_response(doc: &Value, documented: &Value, r: &Response, what: &str) {
    let documented = deref(doc, documented);
    let body = String::from_utf8_lossy(&r.body);
    let content = documented.get("content").and_then(Value::as_object);
    match content {
        None => assert!(r.body.is_empty(), "{what}: no body documented, got {body}"),
        Some(media) => {
            let ct = r
                .header("content-type")
                .unwrap_or_else(|| panic!("{what}: no Content-Type"));
            let (_, m) = media.iter().find(|(k, _)| *k == ct).unwrap_or_else(|| {
                panic!(
                    "{what}: Content-Type {ct:?} is not documented ({:?})",
                    media.keys().collect::<Vec<_>>()
                )
            });
            if ct == "application/json" {
                let value: Value = serde_json::from_slice(&r.body)
                    .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body}"));
                if let Some(e) = conforms(doc, &m["schema"], &value, "$") {
                    panic!("{what}: {e}\n{body}");
                }
            }
        }
    }
    for (name, _) in documented
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        assert!(
            r.header(&name.to_ascii_lowercase()).is_some(),
            "{what}: documented header {name} missing"
        );
    }
}

/// The routes of `router()` and `metrics_router()`: `(path, method)` from each
/// `.route("PATH", METHOD(` in serve.rs.
fn routes() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for chunk in SERVE_RS.split(".route(").skip(1) {
        let chunk = chunk.trim_start();
        let rest = chunk.strip_prefix('"').unwrap();
        let (path, rest) = rest.split_once('"').unwrap();
        let rest = rest.trim_start().strip_prefix(',').unwrap().trim_start();
        let method: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        out.push((path.to_owned(), method));
    }
    out
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if item.get(m).is_some() {
                out.push((path.clone(), m.to_owned()));
            }
        }
    }
    out
}

#[test]
fn document_is_openapi_3_1_and_covers_every_route() {
    let doc = doc();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "openapi: {}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        resolve(&doc, r);
    }

    // Every operation: a unique id, a tag, described responses, each status a real one.
    let mut ids = BTreeSet::new();
    for (path, method) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        let id = op["operationId"].as_str().unwrap();
        assert!(ids.insert(id.to_owned()), "operationId {id} twice");
        assert!(op["tags"][0].is_string(), "{method} {path}: no tag");
        let responses = op["responses"].as_object().unwrap();
        assert!(!responses.is_empty(), "{method} {path}: no responses");
        for (status, r) in responses {
            let code: u16 = status.parse().unwrap();
            assert!((100..600).contains(&code), "{method} {path}: {status}");
            assert!(
                deref(&doc, r)["description"].is_string(),
                "{method} {path} {status}: no description"
            );
        }
        for param in op["parameters"].as_array().into_iter().flatten() {
            let name = deref(&doc, param)["name"].as_str().unwrap();
            assert!(
                path.contains(&format!("{{{name}}}")),
                "{method} {path}: parameter {name} is not in the path"
            );
        }
    }

    // Every route of the router is in the document with its method; the catch-all
    // `/{*path}` serves the bundle's files, which must be documented, each a GET.
    let routes = routes();
    assert!(
        routes.len() >= 7,
        "router routes not found in serve.rs: {routes:?}"
    );
    let explicit: BTreeSet<&str> = routes.iter().map(|(p, _)| p.as_str()).collect();
    for (path, method) in &routes {
        if path.contains("{*") {
            assert_eq!(method, "get", "{path}");
            continue;
        }
        assert!(
            doc["paths"][path].get(method.as_str()).is_some(),
            "route {method} {path} of serve.rs is not in openapi.json"
        );
    }
    assert!(
        routes.iter().any(|(p, _)| p == "/{*path}"),
        "serve.rs no longer has its /{{*path}} catch-all: update this test"
    );
    for (path, method) in operations(&doc) {
        if !explicit.contains(path.as_str()) {
            assert_eq!(method, "get", "{path}: only GETs reach the bundle's files");
        }
    }
    for file in [
        "/checkpoint",
        "/tile/{L}/{N}",
        "/tile/{L}/{N}.p/{W}",
        "/tile/entries/{N}",
        "/tile/entries/{N}.p/{W}",
        "/v1/election.json",
        "/v1/results.json",
        "/v1/summary.json",
        "/v1/units/{unit}.json.gz",
        "/v1/areas/{unit}.json",
        "/v1/quarantine.json",
        "/csv/stations.csv.gz",
        "/csv/units.csv",
        "/csv/preferences.csv",
        "/blob/sha256/{hex}",
        "/README.txt",
        "/",
        "/web/{file}",
        "/v1/stations/{shard}.json",
        "/v1/keys.json",
        "/cdf/election-report.json",
    ] {
        assert!(
            doc["paths"][file]["get"].is_object(),
            "{file} is not documented"
        );
    }
    // /metrics is on its own listener: its own server and tag.
    let metrics = &doc["paths"]["/metrics"];
    assert!(metrics["servers"][0]["url"].is_string());
    assert_eq!(metrics["get"]["tags"][0], "metrics");
}

/// A data directory from `urna sim`, with one witness (so that the bundle carries the CDF
/// export, whose GeneratedDate is a cosignature's time) and all protocols but those of `held`
/// ingested. Returns the running witness.
fn data_dir(dir: &Path, sim: &Simulation, held: &[&SimStation]) -> Witness {
    let src = dir.join("sim");
    run(
        &[
            "sim",
            "--out",
            p(&src),
            "--stations",
            &STATIONS.to_string(),
            "--candidates",
            &CANDIDATES.to_string(),
            "--marks",
            "2",
        ],
        0,
    );
    let data = dir.join("data");
    init(&src, &data);
    let witness_dir = dir.join("witness");
    std::fs::create_dir_all(&witness_dir).unwrap();
    let witness_key = run(
        &[
            "witness",
            "keygen",
            "--name",
            "agency",
            "--out",
            p(&witness_dir.join("agency.key")),
        ],
        0,
    );
    let log_key = run(&["log", "key", "--data", p(&data)], 0);
    let log_key = log_key.trim();
    let origin = log_key.split('+').next().unwrap();
    let witness = start_witness(&witness_dir, "agency", &format!("{origin}={log_key}"), true);
    std::fs::write(
        data.join("witnesses.toml"),
        format!(
            "quorum = 1\n\n[[witness]]\nname = \"agency\"\nurl = \"{}\"\nkey = \"{}\"\n",
            witness.url,
            witness_key.trim()
        ),
    )
    .unwrap();
    let pack = dir.join("first.notes");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&pack).unwrap());
    for i in 0..STATIONS {
        let s = sim.station(i);
        if held.iter().all(|h| h.id != s.id) {
            write_note(&mut f, &sim.protocol_note(&s)).unwrap();
        }
    }
    f.into_inner().unwrap().sync_all().unwrap();
    run(&["ingest", "--data", p(&data), p(&pack)], 0);
    witness
}

/// Sends requests and checks each answer against the document.
struct Prober<'a> {
    doc: &'a Value,
    addr: String,
    /// Statuses seen per operation.
    seen: BTreeMap<(String, String), BTreeSet<u16>>,
}

impl Prober<'_> {
    /// `GET path` as operation `template`, expecting `want`.
    fn get(&mut self, template: &str, path: &str, want: u16) -> Response {
        let r = get(&self.addr, path);
        self.check("get", template, path, &r, want);
        r
    }

    /// `POST /v1/protocols`, expecting `want` (and, for an error, `code`).
    fn post(&mut self, note: &[u8], want: u16, code: Option<&str>) -> Response {
        let r = post_note(&self.addr, note);
        self.check("post", "/v1/protocols", "/v1/protocols", &r, want);
        if let Some(code) = code {
            assert_eq!(
                r.json()["error"]["code"],
                code,
                "{}",
                String::from_utf8_lossy(&r.body)
            );
        }
        r
    }

    /// `PUT` a scan at `path`, expecting `want` (and, for an error, `code`).
    fn put_scan(&mut self, path: &str, bytes: &[u8], want: u16, code: Option<&str>) -> Response {
        let mut req = format!(
            "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            bytes.len()
        )
        .into_bytes();
        req.extend_from_slice(bytes);
        let r = raw(&self.addr, &req);
        self.check("put", "/v1/scans/{sha256}", path, &r, want);
        if let Some(code) = code {
            assert_eq!(error_code(&r), code, "{}", String::from_utf8_lossy(&r.body));
        }
        r
    }

    fn check(&mut self, method: &str, template: &str, path: &str, r: &Response, want: u16) {
        let what = format!("{} {path} ({template})", method.to_uppercase());
        let body = String::from_utf8_lossy(&r.body);
        assert_eq!(r.status, want, "{what}: {body}");
        let op = &self.doc["paths"][template][method];
        assert!(op.is_object(), "{what}: not in the document");
        let documented = op["responses"]
            .get(r.status.to_string())
            .unwrap_or_else(|| panic!("{what}: status {} is not documented", r.status));
        check_response(self.doc, documented, r, &what);
        self.seen
            .entry((template.to_owned(), method.to_owned()))
            .or_default()
            .insert(r.status);
    }

    /// An answer outside any documented operation (the catch-all) against a named component
    /// response.
    fn component(&self, path: &str, r: &Response, want: u16, response: &str) {
        assert_eq!(
            r.status,
            want,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let documented = &self.doc["components"]["responses"][response];
        assert!(documented.is_object(), "no component response {response}");
        check_response(self.doc, documented, r, path);
    }
}

/// A unit file's answer (`application/gzip`), inflated and checked against the `UnitFile`
/// schema it must inflate to.
fn unit_json(doc: &Value, r: &Response) -> Value {
    let value: Value = serde_json::from_slice(&crate::gunzip(&r.body)).unwrap();
    let schema = serde_json::json!({"$ref": "#/components/schemas/UnitFile"});
    if let Some(e) = conforms(doc, &schema, &value, "$") {
        panic!("unit file: {e}");
    }
    value
}

fn signed(s: &SimStation, text: &str) -> Vec<u8> {
    s.signer.sign_text(text).to_bytes()
}

fn error_code(r: &Response) -> String {
    r.json()["error"]["code"].as_str().unwrap().to_owned()
}

#[test]
fn every_operation_answers_as_documented() {
    let doc = doc();
    let dir = tempfile::tempdir().unwrap();
    // The seed is the default one, as `urna sim` uses.
    let sim = Simulation::new(SimConfig {
        stations: STATIONS,
        districts: 12,
        error_rate_per_10k: 200,
        candidates: CANDIDATES,
        marks: 2,
        ..SimConfig::default()
    });
    let amended = sim.first_amended().unwrap();
    let last = sim.station(STATIONS - 1);
    let _witness = data_dir(dir.path(), &sim, &[&amended, &last]);
    let data = dir.path().join("data");
    let server = Server::start(
        &data,
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--max-inflight",
            "1",
            "--body-timeout-ms",
            "2000",
        ],
    );
    let mut pr = Prober {
        doc: &doc,
        addr: server.addr.clone(),
        seen: BTreeMap::new(),
    };

    // 1. Intake: stored (quarantined, accepted), duplicate, and every refusal we can sign.
    let protocol = sim.protocol_note(&amended);
    let r = pr.post(&protocol, 201, None);
    assert_eq!(r.json()["status"], "quarantined");
    let amendment = sim.amendment_note(&amended, &protocol).unwrap();
    let r = pr.post(&amendment, 201, None);
    assert_eq!(r.json()["status"], "accepted");
    let amendment_index = r.json()["index"].as_u64().unwrap();
    let r = pr.post(&amendment, 200, None);
    assert_eq!(r.json()["status"], "duplicate");
    // The last station's protocol names the scan of its paper, which is sent after it.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..2000u32).map(|i| (i % 251) as u8));
    let scan = hex(&urna_model::intake::sha256(&png));
    let scan_path = format!("/v1/scans/{scan}");
    pr.put_scan(&scan_path, &png, 404, Some("scan-not-named"));
    let mut body = last.body.clone();
    body.scan = Some(urna_model::intake::sha256(&png));
    let r = pr.post(&signed(&last, &body.to_text()), 201, None);
    assert!(matches!(
        r.json()["status"].as_str(),
        Some("accepted" | "quarantined")
    ));
    pr.put_scan(&scan_path, &png[..100], 400, Some("scan-hash-mismatch"));
    pr.put_scan("/v1/scans/xyz", &png, 400, Some("bad-scan-path"));
    let r = pr.put_scan(&scan_path, &png, 201, None);
    assert_eq!(r.json()["status"], "stored");
    let r = pr.put_scan(&scan_path, &png, 200, None);
    assert_eq!(r.json()["status"], "duplicate");
    let r = raw(
        &server.addr,
        format!(
            "PUT {scan_path} HTTP/1.1\r\nHost: x\r\nContent-Length: 9000000\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    pr.check("put", "/v1/scans/{sha256}", &scan_path, &r, 413);
    // The genesis, every station's protocol and one amendment.
    let size = GENESIS + u64::from(STATIONS) + 1;

    pr.post(b"not a note", 400, Some("malformed-note"));
    pr.post(b"", 400, Some("malformed-note"));
    let s0 = sim.station(0);
    pr.post(&signed(&s0, "hello\n"), 400, Some("malformed-body"));
    let attacks = sim.attacks();
    pr.post(&attacks[0].1, 403, Some("bad-signature"));
    pr.post(&attacks[1].1, 403, Some("bad-signature"));
    pr.post(&attacks[2].1, 409, Some("replay"));
    let mut amend_by_station = Note::unsigned(&{
        let mut b = amended.correct.clone().unwrap();
        b.revision = 3;
        b.kind = BodyKind::Amendment {
            supersedes: urna_model::intake::sha256(&amendment),
            reason: "no authority".into(),
        };
        b.to_text()
    })
    .unwrap();
    amend_by_station.sign(&amended.signer);
    pr.post(&amend_by_station.to_bytes(), 403, Some("bad-authority"));
    let mut other = s0.body.clone();
    other.votes[0].value += 1;
    other.counts[3].value += 1;
    pr.post(&signed(&s0, &other.to_text()), 409, Some("conflict"));
    let mut later = s0.body.clone();
    later.revision = 2;
    pr.post(&signed(&s0, &later.to_text()), 409, Some("needs-amendment"));
    let amend = |revision: u32, supersedes: [u8; 32]| {
        let mut b = amended.correct.clone().unwrap();
        b.revision = revision;
        b.kind = BodyKind::Amendment {
            supersedes,
            reason: "test".into(),
        };
        let mut n = Note::unsigned(&b.to_text()).unwrap();
        n.sign(&amended.signer);
        n.sign(sim.authority());
        n.to_bytes()
    };
    let current = urna_model::intake::sha256(&amendment);
    pr.post(&amend(5, current), 409, Some("bad-revision"));
    pr.post(&amend(3, [0; 32]), 409, Some("bad-supersedes"));
    let text = s0.body.to_text();
    for (from, to, code) in [
        ("election: ", "election: x-", "wrong-election"),
        ("contest: assembly", "contest: senate", "unknown-contest"),
        (
            &format!("station: {}", s0.id)[..],
            "station: PS-9999999",
            "unknown-station",
        ),
        ("invalid: ", "spoiled: ", "bad-count"),
        ("votes: AP ", "votes: ZZ ", "bad-list"),
    ] {
        assert!(text.contains(from), "{from:?} not in {text}");
        pr.post(&signed(&s0, &text.replacen(from, to, 1)), 422, Some(code));
    }
    let r = pr.post(&vec![b'a'; 70_000], 413, Some("too-large"));
    assert_eq!(r.json()["error"]["field"], "body");

    // 2. A slow body holds no intake permit (--max-inflight 1): while it trickles, another
    //    submission is answered, and the slow one 408 once the body timeout passes. More
    //    submissions at once than the bound are answered 503 with Retry-After.
    let mut slow = TcpStream::connect(&server.addr).unwrap();
    write!(
        slow,
        "POST /v1/protocols HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\nConnection: close\r\n\r\n0123456789"
    )
    .unwrap();
    slow.flush().unwrap();
    let r = post_note(&server.addr, b"x\n");
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let r = read_response(&mut slow);
    pr.check("post", "/v1/protocols", "/v1/protocols", &r, 408);
    assert_eq!(error_code(&r), "body-timeout");
    let overloaded = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..500 {
                    if overloaded.lock().unwrap().is_some() {
                        return;
                    }
                    let r = post_note(&server.addr, b"x\n");
                    if r.status == 503 {
                        *overloaded.lock().unwrap() = Some(r);
                        return;
                    }
                    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
                }
            });
        }
    });
    let r = overloaded
        .into_inner()
        .unwrap()
        .expect("8 senders at once against --max-inflight 1 were never answered 503");
    pr.check("post", "/v1/protocols", "/v1/protocols", &r, 503);
    assert_eq!(error_code(&r), "overloaded");
    assert_eq!(r.header("retry-after"), Some("1"));

    // 3. Proofs, health and this document.
    server.wait_bundle(size);
    let r = pr.get(
        "/v1/proof/{index}",
        &format!("/v1/proof/{amendment_index}"),
        200,
    );
    let proof = r.json();
    assert_eq!(proof["tree_size"], size);
    assert_eq!(
        proof["entry_sha256"],
        hex(&urna_model::intake::sha256(&amendment))
    );
    pr.get("/v1/proof/{index}", "/v1/proof/0", 200);
    for bad in ["abc", "01", "-1", "18446744073709551616", "1.5"] {
        let r = pr.get("/v1/proof/{index}", &format!("/v1/proof/{bad}"), 400);
        assert_eq!(error_code(&r), "bad-index");
    }
    let r = pr.get("/v1/proof/{index}", &format!("/v1/proof/{size}"), 404);
    assert_eq!(error_code(&r), "not-in-checkpoint");
    let r = pr.get("/healthz", "/healthz", 200);
    assert!(r.json()["bundle_size"].as_u64().unwrap() >= size);
    let r = pr.get("/v1/openapi.json", "/v1/openapi.json", 200);
    assert_eq!(r.body, DOC.as_bytes(), "the server serves another document");

    // 4. The bundle's files, and what is not in it.
    let r = pr.get("/checkpoint", "/checkpoint", 200);
    assert!(
        String::from_utf8(r.body)
            .unwrap()
            .contains(&format!("\n{size}\n"))
    );
    let partial = size % 256;
    for (template, path, want) in [
        ("/tile/{L}/{N}", "/tile/0/000".to_owned(), 200),
        ("/tile/{L}/{N}", "/tile/0/001".to_owned(), 404),
        ("/tile/{L}/{N}", "/tile/0/x001/234".to_owned(), 404),
        ("/tile/{L}/{N}", "/tile/0/x000".to_owned(), 404),
        ("/tile/{L}/{N}", "/tile/64/000".to_owned(), 404),
        ("/tile/{L}/{N}", "/tile/0/0".to_owned(), 404),
        (
            "/tile/{L}/{N}.p/{W}",
            format!("/tile/0/001.p/{partial}"),
            200,
        ),
        ("/tile/{L}/{N}.p/{W}", "/tile/1/000.p/1".to_owned(), 200),
        ("/tile/{L}/{N}.p/{W}", "/tile/0/000.p/45".to_owned(), 404),
        ("/tile/{L}/{N}.p/{W}", "/tile/0/001.p/0".to_owned(), 404),
        ("/tile/{L}/{N}.p/{W}", "/tile/0/001.p/256".to_owned(), 404),
        ("/tile/entries/{N}", "/tile/entries/000".to_owned(), 200),
        ("/tile/entries/{N}", "/tile/entries/001".to_owned(), 404),
        (
            "/tile/entries/{N}.p/{W}",
            format!("/tile/entries/001.p/{partial}"),
            200,
        ),
        (
            "/tile/entries/{N}.p/{W}",
            "/tile/entries/001.p/7".to_owned(),
            404,
        ),
    ] {
        let r = pr.get(template, &path, want);
        if want == 200 {
            assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        }
    }
    let r = pr.get("/tile/{L}/{N}", "/tile/0/x000", 404);
    assert_eq!(error_code(&r), "bad-tile-path");
    let r = pr.get("/tile/{L}/{N}", "/tile/0/x001/234", 404);
    assert_eq!(error_code(&r), "not-found");

    let election = pr.get("/v1/election.json", "/v1/election.json", 200).json();
    let results = pr.get("/v1/results.json", "/v1/results.json", 200).json();
    assert_eq!(results["checkpoint"]["size"], size);
    // The contest's whole seat allocation, where results.json says it is, agreeing with the
    // table there.
    let seats = &results["contests"][0]["seats"];
    let explanation = seats["explanation"]
        .as_str()
        .unwrap_or_else(|| panic!("the simulated contest allocates seats: {seats}"));
    let allocation = pr
        .get("/v1/seats/{contest}.json", &format!("/{explanation}"), 200)
        .json();
    assert_eq!(allocation["house_seats"], seats["house_seats"]);
    let lists = seats["lists"].as_array().unwrap();
    assert!(!lists.is_empty(), "{seats}");
    for l in lists {
        let list = l["list"].as_str().unwrap();
        assert_eq!(allocation["seats"][list], l["seats"], "{list}");
    }
    pr.get(
        "/v1/seats/{contest}.json",
        "/v1/seats/no-such-contest.json",
        404,
    );
    let quarantine = pr.get("/v1/quarantine.json", "/v1/quarantine.json", 200);
    assert!(quarantine.json()["contests"].is_array());
    let unit_file = election["units"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|u| u["file"].as_str())
        .unwrap()
        .to_owned();
    // A file name may hold a literal `%`, which the URL encodes again.
    let url = format!("/{}", unit_file.replace('%', "%25"));
    assert!(unit_file.ends_with(".json.gz"), "{unit_file}");
    let unit = unit_json(&doc, &pr.get("/v1/units/{unit}.json.gz", &url, 200));
    assert_eq!(unit["format"], "urna/unit/v2");
    pr.get(
        "/v1/units/{unit}.json.gz",
        "/v1/units/no-such-unit.json.gz",
        404,
    );
    let summary = pr.get("/v1/summary.json", "/v1/summary.json", 200).json();
    assert_eq!(summary["format"], "urna/summary/v1");
    assert!(summary["contests"][0].get("units").is_none(), "{summary}");
    let area_file = election["units"][0]["area"].as_str().unwrap().to_owned();
    let area = pr
        .get(
            "/v1/areas/{unit}.json",
            &format!("/{}", area_file.replace('%', "%25")),
            200,
        )
        .json();
    assert_eq!(area["format"], "urna/area/v1");
    assert_eq!(area["checkpoint"]["size"], summary["checkpoint"]["size"]);
    pr.get("/v1/areas/{unit}.json", "/v1/areas/no-such-unit.json", 404);
    let stations = pr.get("/csv/stations.csv.gz", "/csv/stations.csv.gz", 200);
    assert!(crate::gunzip(&stations.body).starts_with(b"contest,station,unit,status,"));
    pr.get("/csv/units.csv", "/csv/units.csv", 200);
    let prefs = pr.get("/csv/preferences.csv", "/csv/preferences.csv", 200);
    assert!(
        prefs
            .body
            .starts_with(b"contest,station,unit,list,candidate,votes\n")
    );
    assert!(summary["contests"][0]["national"]["preferences"].is_object());
    for f in election["definition"]["files"].as_array().unwrap() {
        let sha = f["sha256"].as_str().unwrap();
        let r = pr.get("/blob/sha256/{hex}", &format!("/blob/sha256/{sha}"), 200);
        assert_eq!(hex(&urna_model::intake::sha256(&r.body)), sha);
    }
    pr.get(
        "/blob/sha256/{hex}",
        &format!("/blob/sha256/{}", "0".repeat(64)),
        404,
    );
    let readme = pr.get("/README.txt", "/README.txt", 200);
    assert!(!readme.body.is_empty());

    // The results page and what it reads.
    let page = pr.get("/", "/", 200);
    assert_eq!(page.body, urna_tally::public::WEB_FILES[0].1);
    for (path, _) in &urna_tally::public::WEB_FILES[1..] {
        pr.get("/web/{file}", &format!("/{path}"), 200);
    }
    pr.get("/web/{file}", "/web/nothing.js", 404);
    let station = &sim.station(0).id;
    let shard = election["station_index"]["path"].as_str().unwrap().replace(
        "{shard}",
        &format!("{:02x}", urna_model::intake::sha256(station.as_bytes())[0]),
    );
    let index = pr
        .get("/v1/stations/{shard}.json", &format!("/{shard}"), 200)
        .json();
    let entry = index["stations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == station.as_str())
        .unwrap_or_else(|| panic!("{station} is not in {shard}: {index}"));
    // The index names the unit; v1/election.json names the unit's file.
    let file = election["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == entry["unit"])
        .and_then(|u| u["file"].as_str())
        .unwrap()
        .to_owned();
    let unit = unit_json(
        &doc,
        &pr.get(
            "/v1/units/{unit}.json.gz",
            &format!("/{}", file.replace('%', "%25")),
            200,
        ),
    );
    assert_eq!(unit["unit"]["id"], entry["unit"]);
    pr.get("/v1/stations/{shard}.json", "/v1/stations/0g.json", 404);
    let keys = pr.get("/v1/keys.json", "/v1/keys.json", 200).json();
    assert_eq!(keys["witnesses"][0]["name"], "agency");
    let report = pr
        .get(
            "/cdf/election-report.json",
            "/cdf/election-report.json",
            200,
        )
        .json();
    assert_eq!(report["Format"], "precinct-level");

    // Outside every operation: a missing path is the documented 404 not-found.
    for path in [
        "/nope",
        "/v1/nothing.json",
        "/../secrets/log.key",
        "/.hidden",
    ] {
        let r = raw(
            &server.addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        pr.component(path, &r, 404, "NotFound");
        assert_eq!(error_code(&r), "not-found", "{path}");
    }

    // 5. Metrics, on their own listener only.
    let metrics = server.metrics.clone().unwrap();
    let r = get(&metrics, "/metrics");
    pr.addr.clone_from(&metrics);
    pr.check("get", "/metrics", "/metrics", &r, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("urna_intake_total"));
    pr.addr.clone_from(&server.addr);
    let r = get(&server.addr, "/metrics");
    pr.component("/metrics on the API listener", &r, 404, "NotFound");

    assert!(server.stop().success());

    // 6. Before anything is published: the bundle's files and proofs answer 503. `init`
    //    publishes the genesis checkpoint at once unless witnesses are configured, so here one
    //    (unreachable) witness is, and the genesis checkpoint awaits its cosignature.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let witness_key = run(
        &[
            "witness",
            "keygen",
            "--name",
            "absent",
            "--out",
            p(&dir.path().join("absent.key")),
        ],
        0,
    );
    std::fs::write(
        empty.join("witnesses.toml"),
        format!(
            "quorum = 1\n\n[[witness]]\nname = \"absent\"\nurl = \"http://127.0.0.1:9\"\nkey = \"{}\"\n",
            witness_key.trim()
        ),
    )
    .unwrap();
    init(&dir.path().join("sim"), &empty);
    assert!(!empty.join("log/checkpoint").exists());
    let server = Server::start(&empty, &[]);
    pr.addr.clone_from(&server.addr);
    for (template, path) in [
        ("/checkpoint", "/checkpoint"),
        ("/v1/results.json", "/v1/results.json"),
        ("/tile/{L}/{N}", "/tile/0/000"),
        ("/v1/proof/{index}", "/v1/proof/0"),
    ] {
        let r = pr.get(template, path, 503);
        assert_eq!(error_code(&r), "not-published");
        assert_eq!(r.header("retry-after"), Some("1"));
    }
    pr.get("/healthz", "/healthz", 200);
    assert!(server.stop().success());

    // Every operation of the document was exercised, each with a success.
    for (path, method) in operations(&doc) {
        let seen = pr
            .seen
            .get(&(path.clone(), method.clone()))
            .unwrap_or_else(|| panic!("{method} {path} was never requested"));
        assert!(
            seen.iter().any(|s| (200..300).contains(s)),
            "{method} {path}: no success among {seen:?}"
        );
    }
}
