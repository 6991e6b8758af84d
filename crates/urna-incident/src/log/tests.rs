use urna_model::note::{Note, NoteSigner};

use super::*;
use crate::body::{Details, Status, Tlp, UtcTime};
use crate::compose::{Draft, ack, report, update};
use crate::seal::{Identity, open};

/// Three institutions with their signing keys and age identities, and an initialised log.
struct Fixture {
    dir: tempfile::TempDir,
    keys: Vec<(NoteSigner, Identity)>,
}

const IDS: [&str; 3] = ["cert.example", "cec.example", "dpa.example"];

impl Fixture {
    fn new() -> Self {
        let keys: Vec<(NoteSigner, Identity)> = IDS
            .iter()
            .zip(1u8..)
            .map(|(id, seed)| {
                (
                    NoteSigner::from_seed(id, &[seed; 32]).unwrap(),
                    Identity::generate(),
                )
            })
            .collect();
        let mut config = String::from("origin = \"cec.example/incidents\"\n");
        for (signer, age) in &keys {
            config.push_str(&format!(
                "\n[[institution]]\nid = \"{}\"\nname = \"{} (test)\"\nkey = \"{}\"\nage = \"{}\"\n",
                signer.name(),
                signer.name(),
                signer.verifier().to_vkey(),
                age.recipient()
            ));
        }
        let dir = tempfile::tempdir().unwrap();
        IncidentLog::init(dir.path(), &config).unwrap();
        Self { dir, keys }
    }

    fn log(&self) -> IncidentLog {
        IncidentLog::open(self.dir.path()).unwrap()
    }

    fn signer(&self, i: usize) -> &NoteSigner {
        &self.keys[i].0
    }

    fn identity(&self, i: usize) -> &Identity {
        &self.keys[i].1
    }
}

fn draft(tlp: Tlp, to: &[&str]) -> Draft {
    Draft {
        tlp,
        status: Status::Open,
        recipients: to.iter().map(|s| (*s).to_owned()).collect(),
        details: Details {
            systems: vec!["desk at the Tirana counting centre".into()],
            indicators: vec!["ipv4 198.51.100.23".into()],
            summary: "Phishing mails to typists asking for their passwords.".into(),
        },
    }
}

const T0: UtcTime = UtcTime(1_796_533_453);

fn sealed_blob(log: &IncidentLog, index: usize) -> Vec<u8> {
    match &log.entries()[index].body.notice.as_ref().unwrap().content {
        Content::Sealed(b) => b.clone(),
        Content::Clear(_) => panic!("entry {index} is not sealed"),
    }
}

#[test]
fn an_amber_report_is_unreadable_without_a_recipient_key_and_readable_with_it() {
    let f = Fixture::new();
    let mut log = f.log();
    let note = report(
        log.config(),
        f.signer(0),
        T0,
        &draft(Tlp::Amber, &["cec.example"]),
    )
    .unwrap();
    assert!(
        !String::from_utf8_lossy(&note).contains("Phishing"),
        "the details are in the note in the clear"
    );
    log.append(&[note]).unwrap();
    drop(log);
    let log = f.log();
    let blob = sealed_blob(&log, 0);
    // The recipient and the reporter can read it; the third institution cannot.
    assert_eq!(
        open(&blob, f.identity(1)).unwrap(),
        draft(Tlp::Amber, &[]).details
    );
    assert_eq!(
        open(&blob, f.identity(0)).unwrap(),
        draft(Tlp::Amber, &[]).details
    );
    assert!(open(&blob, f.identity(2)).is_err());
    // Nor can anyone from the tiles on disk.
    for entry in walk(&f.dir.path().join(LOG_DIR)) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("Phishing"),
            "{}",
            entry.display()
        );
    }
    let text = crate::timeline::timeline_text(&log, Some(f.identity(2)));
    assert!(
        text.contains("sealed to cert.example, cec.example"),
        "{text}"
    );
    assert!(!text.contains("Phishing"), "{text}");
    let text = crate::timeline::timeline_text(&log, Some(f.identity(1)));
    assert!(text.contains("summary: Phishing mails"), "{text}");
    let public = crate::timeline::public_summary(&log).to_string();
    assert!(
        !public.contains("Phishing") && public.contains("\"tlp\":\"amber\""),
        "{public}"
    );
}

#[test]
fn green_without_recipients_is_sealed_to_the_whole_community() {
    let f = Fixture::new();
    let mut log = f.log();
    let note = report(log.config(), f.signer(1), T0, &draft(Tlp::Green, &[])).unwrap();
    log.append(&[note]).unwrap();
    let n = log.entries()[0].body.notice.clone().unwrap();
    assert_eq!(n.recipients, vec!["cert.example", "dpa.example"]);
    let blob = sealed_blob(&log, 0);
    for i in 0..3 {
        open(&blob, f.identity(i)).unwrap();
    }
    assert!(open(&blob, &Identity::generate()).is_err());
}

#[test]
fn a_forged_or_altered_incident_note_is_refused() {
    let f = Fixture::new();
    let mut log = f.log();
    let good = report(log.config(), f.signer(0), T0, &draft(Tlp::Clear, &[])).unwrap();
    let text = String::from_utf8(good.clone()).unwrap();

    // Altered after signing: the status changed.
    let altered = text
        .replacen("status: open", "status: resolved", 1)
        .into_bytes();
    // Forged: a note naming cert.example, signed by a key of the same name that is not its key.
    let impostor = NoteSigner::from_seed("cert.example", &[99; 32]).unwrap();
    let forged = impostor
        .sign_text(Note::parse(&good).unwrap().text())
        .to_bytes();
    // Signed by another institution of the config.
    let other = f
        .signer(2)
        .sign_text(Note::parse(&good).unwrap().text())
        .to_bytes();
    // A second signature line added.
    let mut twice = Note::parse(&good).unwrap();
    twice.sign(f.signer(1));
    let twice = twice.to_bytes();
    // A flipped bit in the signature.
    let mut flipped = good.clone();
    let at = flipped.len() - 5;
    flipped[at] ^= 0x01;
    // Bytes before or after the note.
    let trailing = [good.as_slice(), b"\n"].concat();

    for (bytes, what) in [
        (altered, "altered"),
        (forged, "forged"),
        (other, "signed by another institution"),
        (twice, "two signatures"),
        (flipped, "flipped bit"),
    ] {
        let err = log.append(&[bytes]).unwrap_err();
        assert!(
            matches!(
                err,
                LogError::Entry {
                    index: 0,
                    error: EntryError::Signature(_) | EntryError::Note(_)
                }
            ),
            "{what}: {err}"
        );
    }
    assert!(log.append(&[trailing]).is_err());
    assert_eq!(log.size(), 0, "a refused note must leave the log untouched");
    log.append(std::slice::from_ref(&good)).unwrap();
    let err = log.append(&[good]).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::Entry {
                error: EntryError::Duplicate(0),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_note_changed_on_disk_stops_the_open() {
    let f = Fixture::new();
    let mut log = f.log();
    let note = report(log.config(), f.signer(0), T0, &draft(Tlp::Clear, &[])).unwrap();
    log.append(&[note]).unwrap();
    drop(log);
    let bundle = f.dir.path().join("log/tile/entries/000.p/1");
    let bytes = std::fs::read(&bundle).unwrap();
    let text = String::from_utf8_lossy(&bytes).replace("status: open", "status: shut");
    std::fs::write(&bundle, text.as_bytes()).unwrap();
    let err = IncidentLog::open(f.dir.path()).unwrap_err().to_string();
    assert!(err.starts_with("entry 0: "), "{err}");
}

#[test]
fn an_append_that_crashed_before_its_checkpoint_does_not_block_the_next() {
    let f = Fixture::new();
    let mut log = f.log();
    let cfg = log.config().clone();
    log.append(&[report(&cfg, f.signer(0), T0, &draft(Tlp::Clear, &[])).unwrap()])
        .unwrap();
    drop(log);
    // A crashed append left the tiles of size 2 (another note), but no checkpoint for them.
    let lost = report(&cfg, f.signer(1), T0, &draft(Tlp::Clear, &[])).unwrap();
    let bundle = f.dir.path().join("log/tile/entries/000.p/2");
    let first = std::fs::read(f.dir.path().join("log/tile/entries/000.p/1")).unwrap();
    std::fs::write(&bundle, [first.as_slice(), &[0, 0]].concat()).unwrap();
    let mut log = f.log();
    assert_eq!(log.size(), 1);
    log.append(&[lost]).unwrap();
    drop(log);
    assert_eq!(f.log().size(), 2);
}

#[test]
fn updates_and_acks_follow_the_rules() {
    let f = Fixture::new();
    let mut log = f.log();
    let cfg = log.config().clone();
    let r = report(&cfg, f.signer(0), T0, &draft(Tlp::Amber, &["cec.example"])).unwrap();
    log.append(&[r]).unwrap();
    let id = log.entries()[0].hash;
    let later = UtcTime(T0.0 + 60);

    let refusals = [
        (
            update(
                &cfg,
                f.signer(1),
                id,
                later,
                &draft(Tlp::Amber, &["cert.example"]),
            )
            .unwrap(),
            "only the reporter",
        ),
        (
            ack(&cfg, f.signer(0), id, later).unwrap(),
            "cannot acknowledge it",
        ),
        (
            ack(&cfg, f.signer(2), id, later).unwrap(),
            "not a recipient",
        ),
        (
            ack(&cfg, f.signer(1), id, UtcTime(T0.0 - 1)).unwrap(),
            "before the report",
        ),
        (
            ack(&cfg, f.signer(1), [7; 32], later).unwrap(),
            "not a report earlier in the log",
        ),
    ];
    for (note, want) in refusals {
        let err = log.append(&[note]).unwrap_err().to_string();
        assert!(err.contains(want), "got {err}, want {want}");
    }
    log.append(&[ack(&cfg, f.signer(1), id, later).unwrap()])
        .unwrap();
    let err = log
        .append(&[ack(&cfg, f.signer(1), id, later).unwrap()])
        .unwrap_err();
    assert!(err.to_string().contains("already"), "{err}");
    // The reporter widens the circle and contains the incident; now dpa may acknowledge.
    let mut widened = draft(Tlp::Amber, &["cec.example", "dpa.example"]);
    widened.status = Status::Contained;
    log.append(&[update(&cfg, f.signer(0), id, later, &widened).unwrap()])
        .unwrap();
    log.append(&[ack(&cfg, f.signer(2), id, later).unwrap()])
        .unwrap();
    drop(log);
    let log = f.log();
    let state = &log.incidents()[&id];
    assert_eq!((state.status, state.tlp), (Status::Contained, Tlp::Amber));
    assert_eq!(state.updates, vec![2]);
    assert_eq!(state.acks, vec![1, 3]);
}

#[test]
fn checkpoints_match_the_tree_and_proofs_connect_them() {
    let f = Fixture::new();
    let mut log = f.log();
    let cfg = log.config().clone();
    let mut sizes = vec![];
    for i in 0..5u64 {
        let note = report(
            &cfg,
            f.signer(0),
            UtcTime(T0.0 + i),
            &draft(Tlp::Clear, &[]),
        )
        .unwrap();
        log.append(&[note]).unwrap();
        let (cp, _) =
            urna_tlog::checkpoint::open(log.checkpoint(), &cfg.origin, log.log_key()).unwrap();
        sizes.push((cp.size, cp.root));
    }
    let (new_size, new_root) = sizes[4];
    for &(size, root) in &sizes[..4] {
        let proof = log.consistency_proof(size.0, new_size.0).unwrap();
        urna_tlog::proof::verify_consistency(size, new_size, &root, &new_root, &proof).unwrap();
    }
    assert!(log.consistency_proof(1, 6).is_err());
    // A second writer is refused while the first holds the log.
    assert!(matches!(
        IncidentLog::open(f.dir.path()),
        Err(LogError::Locked(_))
    ));
}

#[test]
fn config_errors_name_the_field() {
    let f = Fixture::new();
    let text = std::fs::read_to_string(f.dir.path().join(CONFIG_FILE)).unwrap();
    let cases = [
        (text.replacen("origin = ", "origins = ", 1), "unknown field"),
        (
            text.replacen("id = \"cec.example\"", "id = \"cec example\"", 1),
            "institution[2].id",
        ),
        (
            text.replacen("id = \"cec.example\"", "id = \"cec.other\"", 1),
            "institution[2].key: the key is named",
        ),
        (
            text.replacen("age = \"age1", "age = \"age2", 1),
            "institution[1].age: not an age X25519 recipient",
        ),
        (
            "origin = \"o\"\n".to_owned(),
            "at least one [[institution]]",
        ),
    ];
    for (t, want) in cases {
        let err = crate::config::IncidentsConfig::from_toml(&t)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "got {err}, want {want}");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
