//! A station key revoked end to end with the real binary: two stations lose their keys before
//! they report; `urna keys generate` makes their new keys and `urna keys revoke` signs the
//! revocations with the commission's key; `urna ingest` stores them; then one station reports
//! with its new key (counted) and the other with its lost key (refused, `key-revoked`: nothing
//! of it is stored). The published bundle lists the revocations and `urna verify` replays them
//! to the same verdicts.

use std::path::Path;

use urna_model::definition::Election;
use urna_model::intake::check;
use urna_model::note::{Note, NoteSigner};
use urna_model::pack::PackReader;

use crate::{init, p, run};

fn notes(path: &Path) -> Vec<Vec<u8>> {
    PackReader::new(std::fs::File::open(path).unwrap())
        .map(Result::unwrap)
        .collect()
}

/// The station's entry in its unit file of the published bundle.
fn station_doc(bundle: &Path, e: &Election, id: &str) -> serde_json::Value {
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
}

#[test]
fn a_revoked_key_is_refused_its_replacement_counted_and_the_bundle_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (src, data) = (d.join("src"), d.join("data"));
    run(&["sim", "--out", p(&src), "--stations", "40"], 0);
    init(&src, &data);
    let e = Election::load(&src.join("election.toml")).unwrap();
    // Two stations whose protocols hold no error: `lost` and `stolen` report only after
    // their keys are revoked; every other station reports first.
    let protocols = notes(&src.join("protocols.notes"));
    let clean: Vec<usize> = (0..protocols.len())
        .filter(|&i| !check(&e, &protocols[i]).unwrap().is_quarantined())
        .collect();
    let (lost, stolen) = (clean[0], clean[1]);
    let id = |i: usize| {
        let s = check(&e, &protocols[i]).unwrap().station;
        e.stations[s.0 as usize].id.clone()
    };
    let (lost_id, stolen_id) = (id(lost), id(stolen));
    let first = d.join("first");
    std::fs::create_dir_all(&first).unwrap();
    for (i, n) in protocols.iter().enumerate() {
        if i != lost && i != stolen {
            std::fs::write(first.join(format!("{i:04}.note")), n).unwrap();
        }
    }
    run(&["ingest", "--data", p(&data), "--strict", p(&first)], 0);

    // New keys for both stations; the revocations name the keys the stations hold now.
    let new_key = |station: &str, name: &str| {
        let key = d.join(format!("{name}.key"));
        let vkey = run(&["keys", "generate", station, "--out", p(&key)], 0);
        let public = d.join(format!("{name}.pub"));
        std::fs::write(&public, vkey.trim()).unwrap();
        (key, public)
    };
    let (lost_key, lost_pub) = new_key(&lost_id, "lost-new");
    let (_, stolen_pub) = new_key(&stolen_id, "stolen-new");
    let authority = src.join("secrets/central-commission.key");
    let revoke = |station: &str, replacement: &Path, out: &Path, code| {
        run(
            &[
                "keys",
                "revoke",
                "--data",
                p(&data),
                "--station",
                station,
                "--authority-key",
                p(&authority),
                "--replacement-key",
                p(replacement),
                "--reason",
                "The board's tablet was stolen from the counting room",
                "--out",
                p(out),
            ],
            code,
        )
    };
    let (rev_lost, rev_stolen) = (d.join("rev-lost.note"), d.join("rev-stolen.note"));
    revoke(&lost_id, &lost_pub, &rev_lost, 0);
    revoke(&stolen_id, &stolen_pub, &rev_stolen, 0);
    // A replacement named after another station is refused, naming the option.
    let err = revoke(&lost_id, &stolen_pub, &d.join("bad.note"), 2);
    assert!(
        err.contains("--replacement-key") && err.contains("named after the station"),
        "{err}"
    );
    let acks = run(
        &[
            "ingest",
            "--data",
            p(&data),
            "--print-acks",
            "--strict",
            p(&rev_lost),
            p(&rev_stolen),
        ],
        0,
    );
    assert_eq!(
        acks.lines()
            .filter(|l| l.starts_with("ack ") && l.contains(" accepted "))
            .count(),
        2,
        "{acks}"
    );
    // Sent again: duplicates, nothing stored.
    let again = run(
        &["ingest", "--data", p(&data), "--print-acks", p(&rev_lost)],
        0,
    );
    assert!(again.lines().any(|l| l.starts_with("dup ")), "{again}");
    // The next revocation of `stolen` names its replacement, the key it holds now.
    let next = d.join("rev-stolen-2.note");
    revoke(&stolen_id, &lost_pub, &next, 2);
    run(
        &[
            "keys",
            "revoke",
            "--data",
            p(&data),
            "--station",
            &stolen_id,
            "--authority-key",
            p(&authority),
            "--no-replacement",
            "--reason",
            "Checked",
            "--out",
            p(&next),
        ],
        0,
    );
    let text = String::from_utf8(std::fs::read(&next).unwrap()).unwrap();
    let stolen_vkey = std::fs::read_to_string(&stolen_pub).unwrap();
    assert!(
        text.contains(&format!(
            "revokes: {}\nreplacement: none\n",
            stolen_vkey.trim()
        )),
        "{text}"
    );

    // `lost` reports with its new key, `stolen` with its lost one.
    let signer = NoteSigner::from_skey(std::fs::read_to_string(&lost_key).unwrap().trim()).unwrap();
    let text = Note::parse(&protocols[lost]).unwrap().text().to_owned();
    let by_new = d.join("lost-by-new.note");
    std::fs::write(&by_new, signer.sign_text(&text).to_bytes()).unwrap();
    let by_old = d.join("stolen-by-old.note");
    std::fs::write(&by_old, &protocols[stolen]).unwrap();
    let acks = run(
        &[
            "ingest",
            "--data",
            p(&data),
            "--print-acks",
            "--strict",
            p(&by_new),
            p(&by_old),
        ],
        1,
    );
    let verdict = |station: &str| {
        acks.lines()
            .find(|l| l.starts_with("ack ") && l.contains(&format!(" {station} ")))
            .unwrap_or_else(|| panic!("no ack for {station}: {acks}"))
            .split(' ')
            .nth(3)
            .unwrap()
            .to_owned()
    };
    assert_eq!(verdict(&lost_id), "accepted", "{acks}");
    assert!(
        acks.lines()
            .any(|l| l.contains("key-revoked") && l.contains(&stolen_id)),
        "{acks}"
    );

    // Published and verified: the replay reaches the store's verdicts.
    let bundle = d.join("bundle");
    run(&["publish", "--data", p(&data), "--out", p(&bundle)], 0);
    let log_key = run(&["log", "key", "--data", p(&data)], 0)
        .trim()
        .to_owned();
    let out = run(&["verify", p(&bundle), "--log-key", &log_key], 0);
    assert!(
        out.contains("2 station key revocations replayed") && out.contains("VERIFIED"),
        "{out}"
    );
    let l = station_doc(&bundle, &e, &lost_id);
    assert_eq!(l["status"], "accepted", "{l}");
    assert_eq!(
        l["revocations"][0]["replacement"].as_str(),
        Some(std::fs::read_to_string(&lost_pub).unwrap().trim()),
        "{l}"
    );
    assert!(
        l["revocations"][0]["index"].as_u64() < l["current"]["index"].as_u64(),
        "{l}"
    );
    let s = station_doc(&bundle, &e, &stolen_id);
    assert!(s.get("current").is_none_or(|c| c.is_null()), "{s}");
    // The tally counts `lost` and has nothing of `stolen`, as the store's own tally.
    let tally = run(&["tally", "--data", p(&data), "--json"], 0);
    let doc: serde_json::Value = serde_json::from_str(&tally).unwrap();
    let quarantine = doc["quarantine"].as_array().unwrap();
    let of = |id: &str| quarantine.iter().find(|q| q["station"] == id);
    assert!(of(&stolen_id).is_none(), "{tally}");
    assert!(of(&lost_id).is_none(), "{tally}");
    let nation = &doc["units"][0];
    assert_eq!(nation["stations"], 40, "{tally}");
    // Every station reported but `stolen`, whose only note was refused.
    assert_eq!(
        nation["counted"].as_u64().unwrap() + quarantine.len() as u64,
        39,
        "{tally}"
    );
}

/// Through a running server: `urna keys revoke` reads the log the server writes, `urna submit`
/// sends the revocation and a protocol signed with the replacement key, each answered with a
/// receipt for its own note, and a protocol under the lost key is refused.
#[test]
fn a_revocation_submitted_to_a_running_server_is_followed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (src, data) = (d.join("src"), d.join("data"));
    run(&["sim", "--out", p(&src), "--stations", "6"], 0);
    init(&src, &data);
    let e = Election::load(&src.join("election.toml")).unwrap();
    let protocols = notes(&src.join("protocols.notes"));
    let clean: Vec<usize> = (0..protocols.len())
        .filter(|&i| !check(&e, &protocols[i]).unwrap().is_quarantined())
        .collect();
    let (a, b) = (clean[0], clean[1]);
    let id = |i: usize| {
        let s = check(&e, &protocols[i]).unwrap().station;
        e.stations[s.0 as usize].id.clone()
    };
    let server = crate::server::Server::start(&data, &["--publish-ms", "100"]);
    let vkey = run(&["log", "key", "--data", p(&data)], 0)
        .trim()
        .to_owned();
    let authority = src.join("secrets/central-commission.key");
    let mut sent = Vec::new();
    for (i, name) in [(a, "a"), (b, "b")] {
        let key = d.join(format!("{name}.key"));
        let public = d.join(format!("{name}.pub"));
        let line = run(&["keys", "generate", &id(i), "--out", p(&key)], 0);
        std::fs::write(&public, line.trim()).unwrap();
        let rev = d.join(format!("rev-{name}.note"));
        run(
            &[
                "keys",
                "revoke",
                "--data",
                p(&data),
                "--station",
                &id(i),
                "--authority-key",
                p(&authority),
                "--replacement-key",
                p(&key),
                "--reason",
                "Lost on the way to the polling station",
                "--out",
                p(&rev),
            ],
            0,
        );
        sent.push(rev);
        if i == a {
            let signer =
                NoteSigner::from_skey(std::fs::read_to_string(&key).unwrap().trim()).unwrap();
            let text = Note::parse(&protocols[i]).unwrap().text().to_owned();
            let note = d.join("a-new.note");
            std::fs::write(&note, signer.sign_text(&text).to_bytes()).unwrap();
            sent.push(note);
        }
    }
    let mut args = vec!["submit", "--to", &server.url, "--log-key", &vkey];
    args.extend(sent.iter().map(|s| p(s)));
    let out = run(&args, 0);
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("stored ")).collect();
    assert_eq!(lines.len(), 3, "{out}");
    for (line, note) in lines.iter().zip(&sent) {
        let hash = urna_model::intake::sha256(&std::fs::read(note).unwrap());
        assert!(
            line.ends_with(&format!("sha256:{}", urna_model::protocol::hex(&hash))),
            "{line}"
        );
    }
    let verdicts: Vec<&str> = lines.iter().map(|l| l.split(' ').nth(2).unwrap()).collect();
    assert_eq!(verdicts, ["accepted", "accepted", "accepted"], "{out}");
    // A protocol under `b`'s lost key is refused (403), never stored.
    let old = d.join("b-old.note");
    std::fs::write(&old, &protocols[b]).unwrap();
    let out = run(
        &["submit", "--to", &server.url, "--log-key", &vkey, p(&old)],
        1,
    );
    assert!(out.contains("refused key-revoked"), "{out}");
    // The results page checks the note of `a` against the key it held when it was logged:
    // the replacement its revocation gave.
    if let Some(tools) = crate::web::Tools::find(
        "a_revocation_submitted_to_a_running_server_is_followed_at_once",
        false,
    ) {
        // Genesis, two revocations and one protocol.
        server.wait_bundle(4);
        let browser = crate::web::Browser::start(&tools, (1280, 1000));
        let (state, text, _) = browser.verify_station(&server.url, &id(a));
        assert_eq!(state, "verified", "{text}");
    }
    assert!(server.stop().success());
}
