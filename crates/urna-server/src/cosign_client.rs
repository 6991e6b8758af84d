//! The log side of C2SP tlog-witness (<https://c2sp.org/tlog-witness>): ask every configured
//! witness to cosign a new checkpoint, verify each cosignature against the witness's
//! configured key, and assemble the cosigned checkpoint once a quorum (k of n) is reached.
//!
//! Blocking on purpose: the sequencer that calls this is synchronous code, and one request per
//! witness per checkpoint needs no async runtime. Witnesses are asked in parallel on scoped
//! threads with a per-request timeout; a witness that is down, slow, or answers wrongly only
//! counts as failed.
//!
//! The HTTP client is `ureq`: blocking, rustls for TLS, no compression, no proxy. It reuses
//! `http`/`httparse`, which the server side already builds; a `hyper` client would need
//! `hyper-util`'s connection pool, a runtime per call, and body plumbing for the same one
//! POST. Each witness gets its own client, since each may pin its own keys.
//!
//! The witness list is a small TOML file ([`WitnessPolicy::from_toml`]):
//!
//! ```toml
//! quorum = 2
//!
//! [[witness]]
//! name = "cyber-agency"
//! url = "http://127.0.0.1:7001"
//! key = "cert.example/w1+1a2b3c4d+BASE64..."
//! ```
//!
//! A witness at an `https://` URL is checked against Mozilla's roots, or against the CA
//! certificates of `ca_cert = "FILE"` (PEM; relative to the policy file's directory) when
//! the partner institutions share a CA of their own, and against its own pinned keys when
//! its table lists `pins = ["sha256/…"]` ([`crate::pin`]: with pins and no `ca_cert`, the
//! pin alone, so a witness may serve a self-signed certificate). Plain `http://` is
//! accepted only for a witness on loopback.
//!
//! Out of scope: retries beyond the one the spec's 409 invites, remembering witness
//! sizes across restarts (the caller keeps `last_size`).

use std::collections::{BTreeMap, BTreeSet};
use std::thread;
use std::time::Duration;

use serde::Deserialize;
use urna_model::note::Note;
use urna_tlog::{Checkpoint, CosignatureVerifier, Hash};

use crate::witness::CONTENT_TYPE_TLOG_SIZE;

/// The largest response body read from a witness.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// How much of an error body is quoted in a failure reason.
const MAX_REASON_QUOTE: usize = 200;

/// One witness the log asks for cosignatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessEndpoint {
    /// A label for reports and for `last_size` (unique within a policy).
    pub name: String,
    /// The witness's submission prefix, e.g. `http://127.0.0.1:7001`; requests go to
    /// `<url>/add-checkpoint`.
    pub url: String,
    /// The witness's cosignature verifier key.
    pub verifier: CosignatureVerifier,
    /// Keys its TLS certificate may have (`https://` only); empty: no pinning.
    pub pins: Vec<crate::pin::SpkiPin>,
}

/// The witnesses of a log and how many cosignatures a checkpoint needs before publication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessPolicy {
    /// The witnesses.
    pub witnesses: Vec<WitnessEndpoint>,
    /// Cosignatures needed (k of n).
    pub quorum: usize,
    /// CA certificates (PEM file) that `https://` witnesses' certificates must chain to;
    /// `None`: Mozilla's roots. A relative path is resolved by [`crate::publish::read_policy`]
    /// against the policy file's directory.
    pub ca_cert: Option<std::path::PathBuf>,
}

/// Why a witness policy file was refused. The message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Not TOML of the expected shape (unknown or missing field, wrong type).
    #[error("witness policy: {0}")]
    Toml(String),
    /// A field has a value that breaks a rule.
    #[error("witness policy: {field}: {reason}")]
    Invalid {
        /// The field, e.g. `witness[2].key`.
        field: String,
        /// The rule broken.
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    quorum: usize,
    ca_cert: Option<std::path::PathBuf>,
    #[serde(default)]
    witness: Vec<EndpointFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointFile {
    name: String,
    url: String,
    key: String,
    #[serde(default)]
    pins: Vec<String>,
}

impl WitnessPolicy {
    /// Reads a policy from TOML: `quorum = k` and one `[[witness]]` table per witness with
    /// `name`, `url` (`https://host:port`, or `http://` on loopback), `key` (the witness's
    /// cosignature verifier key) and optionally `pins` (its TLS keys, `sha256/…`).
    ///
    /// # Errors
    /// [`PolicyError`] naming the field: unknown or missing fields, a key that is not a
    /// `cosignature/v1` verifier key, a URL that is neither `https://` nor `http://` on
    /// loopback, a pin that is not `sha256/<base64>`, duplicate names or keys,
    /// or a quorum of 0 or above the number of witnesses.
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        let file: PolicyFile =
            toml::from_str(text).map_err(|e| PolicyError::Toml(e.to_string()))?;
        let invalid = |field: String, reason: String| PolicyError::Invalid { field, reason };
        let mut names = BTreeSet::new();
        let mut keys = BTreeSet::new();
        let mut witnesses = Vec::with_capacity(file.witness.len());
        for (i, w) in file.witness.into_iter().enumerate() {
            let at = |f: &str| format!("witness[{}].{f}", i + 1);
            if w.name.is_empty() {
                return Err(invalid(at("name"), "must not be empty".into()));
            }
            if !names.insert(w.name.clone()) {
                return Err(invalid(at("name"), format!("duplicate name {:?}", w.name)));
            }
            let https = w.url.starts_with("https://");
            match w.url.strip_prefix("http://") {
                Some(rest) if !urna_pin::is_loopback_authority(rest) => {
                    return Err(invalid(
                        at("url"),
                        "plain http:// only for a witness on loopback (127.0.0.1, ::1, \
                         localhost); use https://"
                            .into(),
                    ));
                }
                None if !https => {
                    return Err(invalid(
                        at("url"),
                        "must start with https:// or http://".into(),
                    ));
                }
                _ => {}
            }
            let pins = w
                .pins
                .iter()
                .map(|p| {
                    crate::pin::SpkiPin::parse(p).map_err(|e| invalid(at("pins"), e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if !pins.is_empty() && !https {
                return Err(invalid(at("pins"), "only for an https:// witness".into()));
            }
            let verifier = CosignatureVerifier::from_vkey(&w.key)
                .map_err(|e| invalid(at("key"), e.to_string()))?;
            if !keys.insert(verifier.to_vkey()) {
                return Err(invalid(at("key"), "the same key is listed twice".into()));
            }
            witnesses.push(WitnessEndpoint {
                name: w.name,
                url: w.url.trim_end_matches('/').to_owned(),
                verifier,
                pins,
            });
        }
        if file.quorum == 0 {
            return Err(invalid(
                "quorum".into(),
                "must be at least 1 (a checkpoint needs a witness)".into(),
            ));
        }
        if file.quorum > witnesses.len() {
            return Err(invalid(
                "quorum".into(),
                format!(
                    "{} is more than the {} witnesses listed",
                    file.quorum,
                    witnesses.len()
                ),
            ));
        }
        Ok(Self {
            witnesses,
            quorum: file.quorum,
            ca_cert: file.ca_cert,
        })
    }
}

/// The outcome of asking the witnesses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CosignReport {
    /// The checkpoint note with every valid cosignature appended, if at least `quorum`
    /// witnesses cosigned; `None` otherwise (publish nothing new).
    pub cosigned_note: Option<Vec<u8>>,
    /// Witnesses whose cosignature verified, in policy order.
    pub got: Vec<String>,
    /// Witnesses that did not cosign, with the reason (HTTP status and body, or the
    /// transport or verification error), in policy order.
    pub failed: Vec<(String, String)>,
}

/// What one request to one witness came to.
enum Reply {
    /// 200 with a cosignature that verified.
    Cosigned(urna_model::note::NoteSignature),
    /// 409 with `text/x.tlog.size`: the witness's size.
    Conflict(u64),
    /// Anything else.
    Failed(String),
}

/// Asks every witness in `policy` to cosign `checkpoint_note` (the log-signed checkpoint
/// bytes) and returns the cosigned note if a quorum verified.
///
/// `last_size[name]` is the size each witness last cosigned (0 if absent); it is updated to
/// the checkpoint's size for each witness that cosigns, and to the size a witness reports in
/// a 409, after which that witness is asked once more with a proof from that size. A recorded
/// size beyond the checkpoint's (an edited sizes file or table) is asked from 0, so that the
/// witness's 409 says what it holds; only a size the witness reports beyond it is refused.
/// `proof(old, new)` returns the consistency proof between two sizes of the log; it is called
/// on the calling thread only. `timeout` bounds each HTTP request.
///
/// Every cosignature is verified against the configured key before it counts; signatures by
/// other keys in a response are ignored, as the spec requires.
pub fn collect_cosignatures(
    policy: &WitnessPolicy,
    checkpoint_note: &[u8],
    last_size: &mut BTreeMap<String, u64>,
    proof: &dyn Fn(u64, u64) -> Result<Vec<Hash>, String>,
    timeout: Duration,
) -> CosignReport {
    let mut report = CosignReport::default();
    let parsed = Note::parse(checkpoint_note)
        .map_err(|e| e.to_string())
        .and_then(|n| {
            Checkpoint::parse_text(n.text())
                .map(|c| (n, c))
                .map_err(|e| e.to_string())
        });
    let (mut note, checkpoint) = match parsed {
        Ok(p) => p,
        Err(e) => {
            report.failed = policy
                .witnesses
                .iter()
                .map(|w| (w.name.clone(), format!("not a checkpoint note: {e}")))
                .collect();
            return report;
        }
    };
    let size = checkpoint.size.0;
    // One agent per witness: each may pin its own keys.
    let mut agents = Vec::with_capacity(policy.witnesses.len());
    for w in &policy.witnesses {
        match agent(timeout, policy.ca_cert.as_deref(), &w.pins) {
            Ok(a) => agents.push(a),
            Err(e) => {
                report.failed = policy
                    .witnesses
                    .iter()
                    .map(|w| (w.name.clone(), e.to_string()))
                    .collect();
                return report;
            }
        }
    }

    // Results by witness index; `None` while a witness is still to be asked.
    let mut outcome: Vec<Option<Result<urna_model::note::NoteSignature, String>>> =
        vec![None; policy.witnesses.len()];
    let mut proofs: BTreeMap<u64, Result<Vec<Hash>, String>> = BTreeMap::new();
    let mut proof_from = |old: u64| -> Result<Vec<Hash>, String> {
        if old == 0 || old == size {
            return Ok(Vec::new());
        }
        proofs
            .entry(old)
            .or_insert_with(|| proof(old, size).map_err(|e| format!("no proof {old}→{size}: {e}")))
            .clone()
    };

    // Round 1 asks from the recorded sizes; round 2 re-asks the witnesses that answered 409
    // with their size. The proofs are made here, between rounds, on this thread.
    let mut asks: Vec<(usize, u64)> = policy
        .witnesses
        .iter()
        .enumerate()
        .map(|(i, w)| (i, last_size.get(&w.name).copied().unwrap_or(0)))
        .collect();
    for round in 1..=2 {
        let mut requests = Vec::new();
        for &(i, recorded) in &asks {
            let mut old = recorded;
            if old > size {
                // The size the witness itself reported (a 409) is beyond this checkpoint:
                // it holds a larger tree, and is not asked again.
                if round == 2 {
                    outcome[i] = Some(Err(format!(
                        "the witness has cosigned size {old}, beyond this checkpoint's size {size}"
                    )));
                    continue;
                }
                // Only the recorded size is (a sizes file or table edited, or another log's):
                // asked from 0, the witness answers 409 with what it holds.
                old = 0;
            }
            match proof_from(old) {
                Ok(p) => requests.push((i, request_body(old, &p, checkpoint_note))),
                Err(e) => outcome[i] = Some(Err(e)),
            }
        }
        let replies = ask_all(&agents, policy, &note, &requests);
        asks.clear();
        for (i, reply) in replies {
            let w = &policy.witnesses[i];
            match reply {
                Reply::Cosigned(sig) => {
                    last_size.insert(w.name.clone(), size);
                    outcome[i] = Some(Ok(sig));
                }
                Reply::Conflict(current) => {
                    last_size.insert(w.name.clone(), current);
                    if round == 1 {
                        asks.push((i, current));
                    } else {
                        outcome[i] = Some(Err(format!(
                            "409 again: the witness now reports size {current}"
                        )));
                    }
                }
                Reply::Failed(reason) => outcome[i] = Some(Err(reason)),
            }
        }
        if asks.is_empty() {
            break;
        }
    }

    let mut signatures = Vec::new();
    for (w, result) in policy.witnesses.iter().zip(outcome) {
        match result {
            Some(Ok(sig)) => {
                report.got.push(w.name.clone());
                signatures.push(sig);
            }
            Some(Err(reason)) => report.failed.push((w.name.clone(), reason)),
            None => report
                .failed
                .push((w.name.clone(), "not asked (internal error)".into())),
        }
    }
    if report.got.len() >= policy.quorum {
        for sig in signatures {
            note.add_signature(sig);
        }
        report.cosigned_note = Some(note.to_bytes());
    }
    report
}

fn agent(
    timeout: Duration,
    ca_cert: Option<&std::path::Path>,
    pins: &[crate::pin::SpkiPin],
) -> Result<ureq::Agent, crate::submit::ConfigError> {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None);
    crate::pin::agent(config, &crate::pin::ServerTrust { ca_cert, pins }).map_err(Into::into)
}

fn request_body(old: u64, proof: &[Hash], checkpoint_note: &[u8]) -> Vec<u8> {
    let mut body = format!("old {old}\n").into_bytes();
    for h in proof {
        body.extend_from_slice(h.to_base64().as_bytes());
        body.push(b'\n');
    }
    body.push(b'\n');
    body.extend_from_slice(checkpoint_note);
    body
}

/// Sends each request on its own thread; returns the replies by witness index.
fn ask_all(
    agents: &[ureq::Agent],
    policy: &WitnessPolicy,
    note: &Note,
    requests: &[(usize, Vec<u8>)],
) -> Vec<(usize, Reply)> {
    thread::scope(|scope| {
        let handles: Vec<_> = requests
            .iter()
            .map(|(i, body)| {
                let (w, agent) = (&policy.witnesses[*i], &agents[*i]);
                (*i, scope.spawn(move || ask(agent, w, note, body)))
            })
            .collect();
        handles
            .into_iter()
            .map(|(i, h)| {
                let reply = h
                    .join()
                    .unwrap_or_else(|_| Reply::Failed("the request thread panicked".into()));
                (i, reply)
            })
            .collect()
    })
}

fn ask(agent: &ureq::Agent, w: &WitnessEndpoint, note: &Note, body: &[u8]) -> Reply {
    let url = format!("{}/add-checkpoint", w.url);
    let mut resp = match agent.post(&url).send(body) {
        Ok(r) => r,
        Err(e) => return Reply::Failed(format!("request to {url} failed: {e}")),
    };
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = match resp
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_vec()
    {
        Ok(b) => b,
        Err(e) => return Reply::Failed(format!("{status}: cannot read the response: {e}")),
    };
    match status {
        200 => match verify_response(w, note, &bytes) {
            Ok(sig) => Reply::Cosigned(sig),
            Err(e) => Reply::Failed(format!("200 with no valid cosignature: {e}")),
        },
        409 if content_type.trim() == CONTENT_TYPE_TLOG_SIZE => {
            match std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.strip_suffix('\n'))
                .and_then(parse_size)
            {
                Some(n) => Reply::Conflict(n),
                None => Reply::Failed(format!("409 with a malformed size: {}", quote(&bytes))),
            }
        }
        _ => Reply::Failed(format!("{status}: {}", quote(&bytes))),
    }
}

/// Parses a response body as signature lines on the checkpoint text and returns this
/// witness's cosignature if it verifies.
fn verify_response(
    w: &WitnessEndpoint,
    note: &Note,
    body: &[u8],
) -> Result<urna_model::note::NoteSignature, String> {
    let mut bytes = note.text().as_bytes().to_vec();
    bytes.push(b'\n');
    bytes.extend_from_slice(body);
    let response = Note::parse(&bytes).map_err(|e| format!("malformed signature lines: {e}"))?;
    w.verifier.verify(&response).map_err(|e| e.to_string())?;
    response
        .signature_by(w.verifier.name(), w.verifier.key_id())
        .cloned()
        .ok_or_else(|| "no cosignature by the configured key".into())
}

/// A decimal size without leading zeros.
fn parse_size(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

fn quote(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim();
    match s.char_indices().nth(MAX_REASON_QUOTE) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::witness_key::WitnessKey;

    fn vkey(seed: u8) -> String {
        WitnessKey::from_seed(&format!("w{seed}"), [seed; 32])
            .unwrap()
            .verifier()
            .to_vkey()
    }

    fn policy_text(quorum: usize, n: u8) -> String {
        let mut s = format!("quorum = {quorum}\n");
        for i in 1..=n {
            s.push_str(&format!(
                "\n[[witness]]\nname = \"w{i}\"\nurl = \"http://127.0.0.1:{}/\"\nkey = \"{}\"\n",
                7000 + u16::from(i),
                vkey(i)
            ));
        }
        s
    }

    const PIN: &str = "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

    #[test]
    fn policy_reads_pins_of_an_https_witness() {
        let text = policy_text(1, 2)
            .replace("http://127.0.0.1:7002", "https://witness.example")
            .replace(
                &format!("key = \"{}\"", vkey(2)),
                &format!("key = \"{}\"\npins = [\"{PIN}\"]", vkey(2)),
            );
        let p = WitnessPolicy::from_toml(&text).unwrap();
        assert!(p.witnesses[0].pins.is_empty());
        assert_eq!(p.witnesses[1].pins[0].to_string(), PIN);
    }

    #[test]
    fn policy_reads_and_trims_urls() {
        let p = WitnessPolicy::from_toml(&policy_text(2, 3)).unwrap();
        assert_eq!(p.quorum, 2);
        assert_eq!(p.witnesses.len(), 3);
        assert_eq!(p.witnesses[0].url, "http://127.0.0.1:7001");
        assert_eq!(p.witnesses[2].verifier.to_vkey(), vkey(3));
    }

    #[test]
    fn policy_errors_name_the_field() {
        let cases: Vec<(String, &str)> = vec![
            (policy_text(0, 2), "quorum"),
            (policy_text(3, 2), "quorum"),
            (policy_text(1, 2).replace("w2\"", "w1\""), "witness[2].name"),
            (
                policy_text(1, 2).replace("http://127.0.0.1:7002", "ftp://x"),
                "witness[2].url",
            ),
            (
                policy_text(1, 2).replace(&vkey(2), &vkey(1)),
                "witness[2].key",
            ),
            (
                policy_text(1, 2).replace(&vkey(1), "nope"),
                "witness[1].key",
            ),
            (policy_text(1, 1).replace("quorum", "quorom"), "quorom"),
            (format!("{}extra = 1\n", policy_text(1, 1)), "extra"),
            (policy_text(1, 1).replace("url = ", "uri = "), "uri"),
            (
                policy_text(1, 2).replace("http://127.0.0.1:7002", "http://witness.example"),
                "witness[2].url: plain http:// only for a witness on loopback",
            ),
            (
                policy_text(1, 1).replace("key = ", "pins = [\"sha1/AAAA\"]\nkey = "),
                "witness[1].pins: pin \"sha1/AAAA\": must start with sha256/",
            ),
            (
                policy_text(1, 1).replace("key = ", &format!("pins = [\"{PIN}\"]\nkey = ")),
                "witness[1].pins: only for an https:// witness",
            ),
        ];
        for (text, field) in cases {
            let err = WitnessPolicy::from_toml(&text).unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn sizes_and_quotes() {
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size("120"), Some(120));
        for bad in ["", "01", "+1", "1 ", "x"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
        assert_eq!(quote(&[b'a'; 300]).chars().count(), MAX_REASON_QUOTE + 1);
        assert_eq!(quote(b" short\n"), "short");
    }

    #[test]
    fn responses_verify_only_with_the_configured_key_and_text() {
        use urna_tlog::cosignature::signature_line;
        let key = WitnessKey::from_seed("w1", [1; 32]).unwrap();
        let w = WitnessEndpoint {
            name: "w1".into(),
            url: "http://127.0.0.1:1".into(),
            pins: Vec::new(),
            verifier: key.verifier(),
        };
        let text = "urna.test/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let note = Note::parse(format!("{text}\n\u{2014} log AAAAAAAA\n").as_bytes()).unwrap();
        let good = signature_line(&key.signer().cosign_at(text, 5).unwrap());
        let sig = verify_response(&w, &note, good.as_bytes()).unwrap();
        assert_eq!(sig.key_id, key.verifier().key_id());
        // Unknown keys in the response are ignored; ours is still found.
        let other = WitnessKey::from_seed("w9", [9; 32]).unwrap();
        let both = format!(
            "{}{good}",
            signature_line(&other.signer().cosign_at(text, 5).unwrap())
        );
        assert!(verify_response(&w, &note, both.as_bytes()).is_ok());
        // Right name and key ID, but signed over another checkpoint: refused.
        let elsewhere = signature_line(
            &key.signer()
                .cosign_at(&text.replace("\n3\n", "\n4\n"), 5)
                .unwrap(),
        );
        let err = verify_response(&w, &note, elsewhere.as_bytes()).unwrap_err();
        assert!(err.contains("does not verify"), "{err}");
        // Only another key's cosignature, or no signature lines at all: refused.
        let only_other = signature_line(&other.signer().cosign_at(text, 5).unwrap());
        assert!(verify_response(&w, &note, only_other.as_bytes()).is_err());
        assert!(verify_response(&w, &note, b"").is_err());
        assert!(verify_response(&w, &note, b"hello\n").is_err());
    }

    #[test]
    fn a_non_checkpoint_fails_every_witness_without_asking() {
        let p = WitnessPolicy::from_toml(&policy_text(1, 2)).unwrap();
        let mut last = BTreeMap::new();
        let r = collect_cosignatures(
            &p,
            b"not a note",
            &mut last,
            &|_, _| Ok(Vec::new()),
            Duration::from_secs(1),
        );
        assert_eq!(r.cosigned_note, None);
        assert!(r.got.is_empty());
        assert_eq!(r.failed.len(), 2);
        assert!(r.failed[0].1.contains("not a checkpoint note"));
        assert!(last.is_empty());
    }
}
