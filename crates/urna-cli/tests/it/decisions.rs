//! The commission's decisions end to end with the real binary: `urna decide` signs an
//! accept and a recount for quarantined stations, `urna ingest` stores them with the
//! recount's amendment, and the published bundle verifies with each step in the stations'
//! history; a decision on another entry than the current one is refused. The results page
//! shows each step of the stations' history, in two languages, in headless Chromium; a
//! decision altered in a copied bundle is named by `urna verify`.

use std::collections::HashMap;
use std::path::Path;

use urna_model::definition::Election;
use urna_model::intake::{check, sha256};
use urna_model::note::Note;
use urna_model::pack::PackReader;
use urna_model::protocol::{BodyKind, ProtocolBody};

use crate::server::Server;
use crate::web::{Browser, Tools};
use crate::{init, p, run};

fn notes(path: &Path) -> Vec<Vec<u8>> {
    PackReader::new(std::fs::File::open(path).unwrap())
        .map(Result::unwrap)
        .collect()
}

/// A simulated election whose protocols are stored, then an accept for one quarantined
/// station and a recount with its amendment for another.
struct Decided {
    dir: tempfile::TempDir,
    data: std::path::PathBuf,
    e: Election,
    accepted: String,
    recounted: String,
    protocol: Vec<u8>,
    decide: Box<Decide>,
}

/// `urna decide` for (station, decision, out file, more arguments, expected exit code).
type Decide = dyn Fn(&str, &str, &Path, &[&str], i32) -> String;

fn decided() -> Decided {
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    run(&["sim", "--out", p(&src), "--stations", "300"], 0);
    init(&src, &data);
    run(
        &[
            "ingest",
            "--data",
            p(&data),
            p(&src.join("protocols.notes")),
        ],
        0,
    );
    let e = Election::load(&src.join("election.toml")).unwrap();
    // Each quarantined protocol, with its amendment when the simulation wrote one.
    let mut amendment_of: HashMap<[u8; 32], Vec<u8>> = HashMap::new();
    for a in notes(&src.join("amendments.notes")) {
        let body = ProtocolBody::parse(Note::parse(&a).unwrap().text()).unwrap();
        if let BodyKind::Amendment { supersedes, .. } = body.kind {
            amendment_of.insert(supersedes, a);
        }
    }
    let quarantined: Vec<(String, Vec<u8>)> = notes(&src.join("protocols.notes"))
        .into_iter()
        .filter_map(|n| {
            let s = check(&e, &n).unwrap();
            s.is_quarantined()
                .then(|| (e.stations[s.station.0 as usize].id.clone(), n))
        })
        .collect();
    let (accepted, _) = quarantined
        .iter()
        .find(|(_, n)| !amendment_of.contains_key(&sha256(n)))
        .expect("a quarantined station without amendment");
    let (recounted, protocol) = quarantined
        .iter()
        .find(|(_, n)| amendment_of.contains_key(&sha256(n)))
        .expect("a quarantined station with an amendment");
    let key = src.join("secrets/central-commission.key");
    let data_dir = data.clone();
    let decide = move |station: &str, decision: &str, out: &Path, extra: &[&str], code| {
        let mut args = vec![
            "decide",
            "--data",
            p(&data_dir),
            "--key",
            p(&key),
            "--station",
            station,
            "--decision",
            decision,
            "--reason",
            "The commission compared the paper protocol",
            "--out",
            p(out),
        ];
        args.extend_from_slice(extra);
        run(&args, code)
    };
    let accept = dir.path().join("accept.note");
    let recount = dir.path().join("recount.note");
    decide(accepted, "accept", &accept, &[], 0);
    decide(recounted, "recount", &recount, &[], 0);
    let err = decide(accepted, "void", &accept, &[], 2);
    assert!(
        err.contains("--decision \"void\": must be accept, recount or annul"),
        "{err}"
    );
    // The recount's result: the amendment superseding the quarantined protocol.
    let amended = dir.path().join("amendment.note");
    std::fs::write(&amended, &amendment_of[&sha256(protocol)]).unwrap();
    let acks = run(
        &[
            "ingest",
            "--data",
            p(&data),
            "--print-acks",
            "--strict",
            p(&accept),
            p(&recount),
            p(&amended),
        ],
        0,
    );
    assert_eq!(
        acks.lines().filter(|l| l.starts_with("ack ")).count(),
        3,
        "{acks}"
    );
    Decided {
        accepted: accepted.clone(),
        recounted: recounted.clone(),
        protocol: protocol.clone(),
        dir,
        data,
        e,
        decide: Box::new(decide),
    }
}

#[test]
fn a_quarantined_station_is_accepted_another_recounted_and_the_bundle_verifies() {
    let Decided {
        dir,
        data,
        e,
        accepted,
        recounted,
        protocol,
        decide,
    } = decided();
    let (accepted, recounted, protocol) = (&accepted, &recounted, &protocol);
    let bundle = dir.path().join("bundle");
    // A decision on the superseded protocol is refused, naming the field.
    let stale = dir.path().join("stale.note");
    let hash = format!("sha256:{}", urna_model::protocol::hex(&sha256(protocol)));
    decide(recounted, "annul", &stale, &["--decides", &hash], 0);
    let refused = run(
        &[
            "ingest",
            "--data",
            p(&data),
            "--print-acks",
            "--strict",
            p(&stale),
        ],
        1,
    );
    assert!(refused.contains("bad-decides"), "{refused}");

    run(&["publish", "--data", p(&data), "--out", p(&bundle)], 0);
    let log_key = run(&["log", "key", "--data", p(&data)], 0)
        .trim()
        .to_owned();
    let out = run(&["verify", p(&bundle), "--log-key", &log_key], 0);
    assert!(
        out.contains("2 decisions of the commission replayed") && out.contains("VERIFIED"),
        "{out}"
    );
    // Each station's history in its unit file: protocol, quarantine, decision, amendment.
    let station_doc = |id: &str| {
        let st = &e.stations[e.station(id).unwrap().0 as usize];
        let unit = &e.units[st.unit.0 as usize].id;
        let doc = crate::unit_file(&bundle.join("current"), unit);
        doc["contests"][0]["stations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()
            .clone()
    };
    let a = station_doc(accepted);
    assert_eq!(a["status"], "accepted", "{a}");
    assert_eq!(a["history"][0]["status"], "quarantined");
    assert_eq!(a["decisions"][0]["decision"], "accept");
    let r = station_doc(recounted);
    assert_eq!(r["history"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(r["decisions"][0]["decision"], "recount");
    assert_eq!(r["decisions"][0]["decides"], r["history"][0]["entry"]);
    assert!(r["decisions"][0]["index"].as_u64() < r["history"][1]["index"].as_u64());
}

#[test]
fn the_results_page_shows_each_step_of_a_recounted_station_in_two_languages() {
    let Some(tools) = Tools::find(
        "the_results_page_shows_each_step_of_a_recounted_station",
        false,
    ) else {
        return;
    };
    let d = decided();
    let server = Server::start(&d.data, &["--publish-ms", "100"]);
    // Genesis, 300 protocols, the two decisions and the amendment.
    server.wait_bundle(304);
    let b = Browser::start(&tools, (1280, 1000));
    for (lang, word) in [("en", "recount ordered"), ("sq", "urdhëruar rinumërim")] {
        b.goto(&format!(
            "{}/?lang={lang}#/station/{}",
            server.url, d.recounted
        ));
        let steps = b.wait_for(
            &format!("{lang}: the recounted station's history with its decision"),
            "const items = [...document.querySelectorAll('ol.history > li')]; \
             if (!items.some((li) => li.dataset.testid === 'decision')) return null; \
             return items.map((li) => [li.dataset.decision || 'revision', li.textContent.trim()]);",
            &[],
        );
        let steps = steps.as_array().unwrap();
        let kinds: Vec<&str> = steps.iter().map(|s| s[0].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["revision", "recount", "revision"],
            "{lang}: {steps:?}"
        );
        let text = steps[1][1].as_str().unwrap();
        assert!(
            text.contains(word) && text.contains("The commission compared the paper protocol"),
            "{lang}: {text}"
        );
    }
    drop(b);
    assert!(server.stop().success());
}

/// The log's entries in a bundle generation, and a writer that puts altered ones back, as an
/// attacker editing the files would (the tiles are replaced, never written through).
fn bundle_entries(current: &Path) -> Vec<Vec<u8>> {
    use urna_tlog::tile::{TileKind, decode_entries, tiles_for_size};
    let mut out = Vec::new();
    for t in tiles_for_size(urna_tlog::TreeSize(checkpoint_size(current))) {
        if t.kind() == TileKind::Entries {
            let bytes = std::fs::read(current.join(t.path())).unwrap();
            out.extend(
                decode_entries(&bytes, t.width())
                    .unwrap()
                    .into_iter()
                    .map(<[u8]>::to_vec),
            );
        }
    }
    out
}

fn checkpoint_size(current: &Path) -> u64 {
    let note = Note::parse(&std::fs::read(current.join("checkpoint")).unwrap()).unwrap();
    urna_tlog::Checkpoint::parse_text(note.text())
        .unwrap()
        .size
        .0
}

fn write_bundle_entries(current: &Path, entries: &[Vec<u8>]) {
    use urna_tlog::tile::{TileKind, encode_entries, tiles_for_size};
    for t in tiles_for_size(urna_tlog::TreeSize(checkpoint_size(current))) {
        if t.kind() != TileKind::Entries {
            continue;
        }
        let first = (t.index() * 256) as usize;
        let end = (first + usize::from(t.width())).min(entries.len());
        let path = current.join(t.path());
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, encode_entries(&entries[first..end]).unwrap()).unwrap();
    }
}

#[test]
fn a_decision_altered_in_the_bundle_is_caught() {
    let Decided {
        dir,
        data,
        recounted,
        ..
    } = decided();
    let published = dir.path().join("published");
    run(&["publish", "--data", p(&data), "--out", p(&published)], 0);
    let copy = dir.path().join("copy");
    let st = std::process::Command::new("cp")
        .args(["-a", p(&published), p(&copy)])
        .status()
        .unwrap();
    assert!(st.success());
    let current = copy.join("current");
    let mut all = bundle_entries(&current);
    let index = all
        .iter()
        .position(|n| {
            n.starts_with(b"urna/decision/v1\n")
                && String::from_utf8_lossy(n).contains("decision: recount")
        })
        .unwrap();
    // The recount turned into an acceptance, the authority's signature left as it was.
    let text = String::from_utf8(all[index].clone()).unwrap();
    all[index] = text
        .replace("decision: recount", "decision: accept")
        .into_bytes();
    write_bundle_entries(&current, &all);
    let log_key = run(&["log", "key", "--data", p(&data)], 0)
        .trim()
        .to_owned();
    let out = run(&["verify", p(&copy), "--log-key", &log_key], 1);
    assert!(
        out.contains(&format!(
            "entry {index}: station {recounted}: signature by key"
        )) && out.contains("does not verify"),
        "{out}"
    );
    // Nothing of the published results is taken on trust from a log that does not replay.
    assert!(
        out.contains("[not-recomputed]") && out.contains("NOT VERIFIED"),
        "{out}"
    );
}
