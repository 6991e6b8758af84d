use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use urna_sim::{SimConfig, Simulation};
use urna_store::Store;
use urna_tlog::Clock;

use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    data: PathBuf,
}

/// A real data directory, made as `urna init` makes it, from a synthetic election.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let sim = Simulation::new(SimConfig {
        stations: 6,
        ..SimConfig::default()
    });
    let files = sim.write_files(&root.join("sim"), &|_| {}).unwrap();
    let data = root.join("data");
    drop(Store::init(&data, &files[0]).unwrap());
    Fixture {
        _dir: dir,
        root,
        data,
    }
}

fn finding(inputs: &Inputs, check: CheckId) -> Finding {
    run_all(inputs)
        .unwrap()
        .into_iter()
        .find(|f| f.check == check)
        .unwrap()
}

struct Fixed;
impl Clock for Fixed {
    fn now_ms(&self) -> u64 {
        1_765_000_000_000
    }
}

#[test]
fn a_fresh_data_directory_passes_its_key_and_log_checks() {
    let f = fixture();
    let inputs = Inputs::new(&f.data);
    for check in [
        CheckId::StationKeys,
        CheckId::AuthorityKeys,
        CheckId::LogIntegrity,
        CheckId::KeyCustody,
    ] {
        let x = finding(&inputs, check);
        assert_eq!(x.outcome, Outcome::Pass, "{check:?}: {}", x.evidence);
    }
    assert!(
        finding(&inputs, CheckId::StationKeys)
            .evidence
            .starts_with("6 stations, 6 distinct keys")
    );
    // Nothing named: unknown, saying what is missing; no witnesses: fail.
    for check in [
        CheckId::Backups,
        CheckId::ServeTls,
        CheckId::AuditTrail,
        CheckId::WitnessTls,
    ] {
        assert_eq!(
            finding(&inputs, check).outcome,
            Outcome::Unknown,
            "{check:?}"
        );
    }
    let w = finding(&inputs, CheckId::WitnessQuorum);
    assert_eq!(w.outcome, Outcome::Fail);
    assert!(w.evidence.contains("no witnesses.toml"), "{}", w.evidence);
}

#[test]
fn checks_leave_the_data_directory_unchanged_and_run_beside_a_writer() {
    let f = fixture();
    let before = listing(&f.data);
    // The store holds its writer lock while open, as `urna serve` does.
    let store = Store::open(&f.data).unwrap();
    let x = finding(&Inputs::new(&f.data), CheckId::LogIntegrity);
    assert_eq!(x.outcome, Outcome::Pass, "{}", x.evidence);
    drop(store);
    assert_eq!(before, listing(&f.data));
}

fn listing(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let m = e.metadata().unwrap();
        if m.is_file() && !e.file_name().to_string_lossy().starts_with("urna.sqlite") {
            out.push((e.path(), m.len()));
        }
    }
    out.sort();
    out
}

#[test]
fn a_definition_changed_after_init_fails_the_log_check() {
    let f = fixture();
    let def = f.data.join(DEFINITION_FILE);
    let text = std::fs::read_to_string(&def).unwrap();
    std::fs::write(&def, text.replacen("Synthetic", "Changed", 1)).unwrap();
    let x = finding(&Inputs::new(&f.data), CheckId::LogIntegrity);
    assert_eq!(x.outcome, Outcome::Fail, "{}", x.evidence);
    assert!(
        x.evidence.contains("the log was made for definition"),
        "{}",
        x.evidence
    );
}

#[test]
fn a_tampered_checkpoint_fails_the_log_check() {
    let f = fixture();
    let cp = f.data.join(LATEST_CHECKPOINT_FILE);
    let text = std::fs::read_to_string(&cp).unwrap();
    std::fs::write(&cp, text.replacen("\n1\n", "\n2\n", 1)).unwrap();
    let x = finding(&Inputs::new(&f.data), CheckId::LogIntegrity);
    assert_eq!(x.outcome, Outcome::Fail, "{}", x.evidence);
}

#[test]
fn a_key_readable_by_others_fails_key_custody() {
    let f = fixture();
    let key = f.data.join(LOG_KEY_FILE);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let x = finding(&Inputs::new(&f.data), CheckId::KeyCustody);
    assert_eq!(x.outcome, Outcome::Fail);
    assert!(
        x.evidence.contains("log.key has mode 0644"),
        "{}",
        x.evidence
    );
}

fn witnesses(f: &Fixture, quorum: usize, urls: &[&str]) {
    let mut s = format!("quorum = {quorum}\n");
    for (i, url) in urls.iter().enumerate() {
        let seed = [u8::try_from(i).unwrap() + 1; 32];
        let vkey = urna_tlog::cosignature::CosignatureSigner::from_seed(&format!("w{i}"), &seed)
            .unwrap()
            .verifier()
            .to_vkey();
        s.push_str(&format!(
            "[[witness]]\nname = \"w{i}\"\nurl = \"{url}\"\nkey = \"{vkey}\"\n"
        ));
    }
    std::fs::write(f.data.join(WITNESSES_FILE), s).unwrap();
}

#[test]
fn witness_quorum_needs_two_hosts_beyond_this_machine() {
    let f = fixture();
    let inputs = Inputs::new(&f.data);
    let cases: [(usize, &[&str], Outcome, &str); 5] = [
        (
            2,
            &["https://a.example", "https://b.example:8443/w"],
            Outcome::Pass,
            "two institutions",
        ),
        (
            1,
            &["https://a.example", "https://b.example"],
            Outcome::Fail,
            "quorum of one",
        ),
        (
            2,
            &["https://a.example", "https://a.example:444"],
            Outcome::Fail,
            "one host twice",
        ),
        (
            2,
            &["http://127.0.0.1:7380", "https://b.example"],
            Outcome::Fail,
            "loopback and one host",
        ),
        (
            3,
            &["http://[::1]:1", "https://b.example", "https://c.example"],
            Outcome::Pass,
            "a quorum of 3 needs both other hosts",
        ),
    ];
    for (quorum, urls, expected, why) in cases {
        witnesses(&f, quorum, urls);
        let x = finding(&inputs, CheckId::WitnessQuorum);
        assert_eq!(x.outcome, expected, "{why}: {}", x.evidence);
    }
    // Plain http:// is allowed only to a witness on loopback, and is still no TLS.
    witnesses(&f, 2, &["https://a.example", "http://127.0.0.1:7380"]);
    let x = finding(&inputs, CheckId::WitnessTls);
    assert_eq!(x.outcome, Outcome::Fail);
    assert!(x.evidence.contains("http:// to w1"), "{}", x.evidence);
    // Off loopback the policy itself is refused, and the check says why.
    witnesses(&f, 2, &["https://a.example", "http://b.example"]);
    let x = finding(&inputs, CheckId::WitnessTls);
    assert_eq!(x.outcome, Outcome::Fail);
    assert!(
        x.evidence.contains("only for a witness on loopback"),
        "{}",
        x.evidence
    );
}

#[test]
fn serve_config_command_lines_are_found_in_units_and_scripts() {
    let unit = "[Service]\nExecStart=/usr/local/bin/urna serve --data /srv/d \\\n  --listen 0.0.0.0:443 --tls-cert=c.pem --tls-key k.pem\n# urna serve --listen 0.0.0.0:80\n";
    let cmds = server_commands(unit);
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0].name, "serve");
    assert_eq!(cmds[0].flag("--listen"), Some("0.0.0.0:443"));
    assert_eq!(cmds[0].flag("--tls-cert"), Some("c.pem"));
    assert_eq!(cmds[0].flag("--tls-key"), Some("k.pem"));
    let script = "urna witness serve --key w.key --listen '10.0.0.2:7380' && urna desk --data x\n";
    let cmds = server_commands(script);
    assert_eq!(
        cmds.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["witness serve", "desk"]
    );
    assert_eq!(cmds[0].flag("--listen"), Some("10.0.0.2:7380"));
    assert_eq!(cmds[1].flag("--listen"), None);
}

#[test]
fn serve_tls_fails_plain_http_beyond_loopback_and_a_missing_certificate() {
    let f = fixture();
    let config = f.root.join("urna.service");
    let mut inputs = Inputs::new(&f.data);
    inputs.serve_config = Some(config.clone());
    std::fs::write(
        &config,
        "ExecStart=urna serve --data d --listen 127.0.0.1:8080\n",
    )
    .unwrap();
    assert_eq!(finding(&inputs, CheckId::ServeTls).outcome, Outcome::Pass);
    std::fs::write(
        &config,
        "ExecStart=urna serve --data d --listen 0.0.0.0:80\n",
    )
    .unwrap();
    let x = finding(&inputs, CheckId::ServeTls);
    assert_eq!(x.outcome, Outcome::Fail);
    assert!(
        x.evidence.contains("plain HTTP is served on loopback only"),
        "{}",
        x.evidence
    );
    std::fs::write(
        &config,
        "urna serve --listen 0.0.0.0:443 --tls-cert none.pem --tls-key none.key\n",
    )
    .unwrap();
    let x = finding(&inputs, CheckId::ServeTls);
    assert_eq!(x.outcome, Outcome::Fail);
    assert!(x.evidence.contains("none.pem"), "{}", x.evidence);
    std::fs::write(&config, "echo hello\n").unwrap();
    assert_eq!(
        finding(&inputs, CheckId::ServeTls).outcome,
        Outcome::Unknown
    );
}

#[test]
fn backups_are_checked_against_their_manifests_and_for_keys() {
    let f = fixture();
    let dir = f.root.join("backups");
    std::fs::create_dir(&dir).unwrap();
    let mut inputs = Inputs::new(&f.data);
    inputs.backups = Some(dir.clone());
    assert_eq!(
        finding(&inputs, CheckId::Backups).outcome,
        Outcome::Fail,
        "none yet"
    );
    urna_store::backup::backup(&f.data, &dir.join("one"), false, &Fixed).unwrap();
    let x = finding(&inputs, CheckId::Backups);
    assert_eq!(x.outcome, Outcome::Pass, "{}", x.evidence);
    assert!(
        x.evidence.contains("2025-12-06T05:46:40Z"),
        "{}",
        x.evidence
    );
    assert_eq!(
        finding(&inputs, CheckId::BackupsWithoutKeys).outcome,
        Outcome::Pass
    );
    // A backup with the private keys among the routine ones.
    urna_store::backup::backup(&f.data, &dir.join("two"), true, &Fixed).unwrap();
    let x = finding(&inputs, CheckId::BackupsWithoutKeys);
    assert_eq!(x.outcome, Outcome::Fail);
    assert!(x.evidence.contains("two"), "{}", x.evidence);
    // A changed file breaks the manifest.
    std::fs::write(dir.join("one/data/stations.csv"), "changed").unwrap();
    let x = finding(&inputs, CheckId::Backups);
    assert_eq!(x.outcome, Outcome::Fail);
    assert!(x.evidence.contains("one"), "{}", x.evidence);
}

#[test]
fn the_desk_audit_trail_is_found_with_its_append_only_triggers() {
    let f = fixture();
    let mut inputs = Inputs::new(&f.data);
    inputs.desk = Some(f.root.join("centre"));
    std::fs::create_dir(f.root.join("centre")).unwrap();
    let db = f.root.join("centre").join(urna_desk::db::DESK_DB);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE audit (seq INTEGER PRIMARY KEY, at_ms INTEGER, actor TEXT, action TEXT, subject TEXT, detail TEXT); INSERT INTO audit VALUES (1, 0, 'a', 'login', '', '');").unwrap();
    let x = finding(&inputs, CheckId::AuditTrail);
    assert_eq!(x.outcome, Outcome::Fail);
    assert!(
        x.evidence.contains("audit_no_update and audit_no_delete"),
        "{}",
        x.evidence
    );
    conn.execute_batch("CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'x'); END; CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'x'); END;").unwrap();
    let x = finding(&inputs, CheckId::AuditTrail);
    assert_eq!(x.outcome, Outcome::Pass, "{}", x.evidence);
    assert!(
        x.evidence.contains("audit trail of 1 action;") && x.evidence.contains("no hash chain"),
        "{}",
        x.evidence
    );
}

#[test]
fn a_desk_audit_trail_edited_behind_its_triggers_fails_the_check() {
    let f = fixture();
    let mut inputs = Inputs::new(&f.data);
    let centre = f.root.join("centre");
    std::fs::create_dir(&centre).unwrap();
    inputs.desk = Some(centre.clone());
    let conn = urna_desk::db::open(&centre).unwrap();
    for (actor, action) in [("ty1", "login"), ("ty1", "entered"), ("co1", "signed")] {
        urna_desk::db::audit(&conn, actor, action, "AL-001", "").unwrap();
    }
    let x = finding(&inputs, CheckId::AuditTrail);
    assert_eq!(x.outcome, Outcome::Pass, "{}", x.evidence);
    assert!(x.evidence.contains("hash chain holds"), "{}", x.evidence);
    // The triggers dropped, a line rewritten to name another typist, the triggers put back:
    // they are all there, and the chain shows the edit.
    conn.execute_batch(
        "DROP TRIGGER audit_no_update; \
         UPDATE audit SET actor = 'ty2' WHERE action = 'entered'; \
         CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'x'); END;",
    )
    .unwrap();
    let x = finding(&inputs, CheckId::AuditTrail);
    assert_eq!(x.outcome, Outcome::Fail, "{}", x.evidence);
    assert!(
        x.evidence.contains("line 2 (entered by ty2)"),
        "{}",
        x.evidence
    );
}

#[test]
fn dates_come_from_days_since_the_epoch() {
    assert_eq!(utc_from_ms(0), "1970-01-01T00:00:00Z");
    assert_eq!(utc_from_ms(951_782_400_000), "2000-02-29T00:00:00Z");
    assert_eq!(utc_from_ms(1_765_000_000_000), "2025-12-06T05:46:40Z");
}

#[test]
fn a_directory_without_a_definition_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let e = run_all(&Inputs::new(dir.path())).unwrap_err().to_string();
    assert!(
        e.contains("election.toml") && e.contains("not an urna data directory"),
        "{e}"
    );
}

#[test]
fn counts_read_as_english() {
    for (n, noun, expected) in [
        (1, "station", "1 station"),
        (2, "station", "2 stations"),
        (3, "authority", "3 authorities"),
        (2, "log entry", "2 log entries"),
        (0, "backup", "0 backups"),
        (2, "key", "2 keys"),
    ] {
        assert_eq!(count(n, noun), expected);
    }
}

#[test]
fn long_evidence_is_cut_to_fit_its_note_line() {
    let long = "ш".repeat(800);
    let cut = shorten(&long, crate::note::MAX_EVIDENCE_BYTES);
    assert!(
        cut.len() <= crate::note::MAX_EVIDENCE_BYTES,
        "{}",
        cut.len()
    );
    assert!(cut.ends_with(" …"));
    assert!(crate::note::check_evidence(&cut).is_ok());
    assert_eq!(shorten("short", 1000), "short");
}
