//! What a newcomer meets first at the command line: why notes were rejected, errors said once,
//! and `urna submit` to a server that is not there.

use std::net::TcpListener;
use std::path::Path;

use urna_model::pack::{PackReader, write_note};
use urna_sim::{SimConfig, Simulation};

use crate::{init, p, run, urna};

const STATIONS: u32 = 30;

/// Runs `urna ARGS`; returns (exit code, stdout, stderr).
fn output(args: &[&str]) -> (i32, String, String) {
    let out = urna().args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `urna sim` of [`STATIONS`] stations into `dir/sim`.
fn sim(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("sim");
    run(
        &["sim", "--out", p(&src), "--stations", &STATIONS.to_string()],
        0,
    );
    src
}

/// A port on loopback that nothing listens on.
fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn ingest_says_why_notes_were_rejected_and_strict_says_why_it_fails() {
    let dir = tempfile::tempdir().unwrap();
    let src = sim(dir.path());
    let data = dir.path().join("data");
    init(&src, &data);
    // A pack: a genuine protocol, a forgery (station B's numbers under station A's key), and
    // another genuine protocol; then a directory of 24 files that are not signed notes.
    let protocols: Vec<Vec<u8>> =
        PackReader::new(std::fs::File::open(src.join("protocols.notes")).unwrap())
            .map(Result::unwrap)
            .collect();
    let forged = Simulation::new(SimConfig {
        stations: STATIONS,
        ..SimConfig::default()
    })
    .attacks()
    .remove(0)
    .1;
    let mixed = dir.path().join("mixed.notes");
    let mut pack = std::fs::File::create(&mixed).unwrap();
    for note in [&protocols[0], &forged, &protocols[1]] {
        write_note(&mut pack, note).unwrap();
    }
    drop(pack);
    let junk = dir.path().join("junk");
    std::fs::create_dir(&junk).unwrap();
    for i in 0..24 {
        std::fs::write(
            junk.join(format!("junk-{i:02}.note")),
            "not a signed note\n",
        )
        .unwrap();
    }

    // Without --print-acks: each of the first 20 rejections with its file, note and reason,
    // then the rest counted, on stderr; stdout stays empty.
    let (code, stdout, stderr) = output(&["ingest", "--data", p(&data), p(&mixed), p(&junk)]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("urna: rejected "))
        .collect();
    assert_eq!(said.len(), 20, "{stderr}");
    let first = format!("urna: rejected {}: note 2: ", mixed.display());
    assert!(
        said[0].starts_with(&first) && said[0].ends_with(" (bad-signature)"),
        "{stderr}"
    );
    assert!(
        said[1].starts_with(&format!(
            "urna: rejected {}: ",
            junk.join("junk-00.note").display()
        )) && said[1].ends_with(" (malformed-note)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("urna: … and 5 more rejected (25 notes rejected in all;"),
        "{stderr}"
    );
    assert!(stderr.contains("27 notes read: "), "{stderr}");

    // --strict fails, and says why: how many, and the first with its reason.
    let (code, stdout, stderr) = output(&[
        "ingest",
        "--strict",
        "--data",
        p(&data),
        p(&mixed),
        p(&junk),
    ]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let strict = stderr
        .lines()
        .find(|l| l.starts_with("urna: ingest --strict: "))
        .unwrap_or_else(|| panic!("no --strict line:\n{stderr}"));
    assert!(
        strict.starts_with(&format!(
            "urna: ingest --strict: 25 notes rejected (first: {}: note 2: ",
            mixed.display()
        )) && strict.ends_with(" (bad-signature))"),
        "{strict}"
    );
}

#[test]
fn ingest_reads_subdirectories_and_strict_fails_when_nothing_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let src = sim(dir.path());
    let data = dir.path().join("data");
    init(&src, &data);
    // A directory whose notes are all one level down, as a courier's USB stick may hold them.
    let protocols: Vec<Vec<u8>> =
        PackReader::new(std::fs::File::open(src.join("protocols.notes")).unwrap())
            .map(Result::unwrap)
            .collect();
    let inbox = dir.path().join("inbox");
    for (i, note) in protocols.iter().take(3).enumerate() {
        let sub = inbox.join(format!("district-{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("protocol.note"), note).unwrap();
    }
    let (code, stdout, stderr) = output(&["ingest", "--strict", "--data", p(&data), p(&inbox)]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stderr.contains("3 notes read: "), "{stderr}");

    // An entry that is neither a file nor a directory is named, not passed over.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("nothing-here")).unwrap();
    std::os::unix::fs::symlink(&inbox, empty.join("link")).unwrap();
    let (code, stdout, stderr) = output(&["ingest", "--data", p(&data), p(&empty)]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "urna: skipped {}: not a note file or a directory",
            empty.join("link").display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("0 notes read: "), "{stderr}");
    // With --strict, reading nothing is a failure.
    let (code, stdout, stderr) = output(&["ingest", "--strict", "--data", p(&data), p(&empty)]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("urna: ingest --strict: no note was read from the paths given"),
        "{stderr}"
    );
}

#[test]
fn init_without_its_definition_says_the_os_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let definition = dir.path().join("nowhere").join("election.toml");
    let (code, stdout, stderr) = output(&[
        "init",
        "--definition",
        p(&definition),
        "--data",
        p(&dir.path().join("data")),
    ]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&definition.display().to_string()),
        "{stderr}"
    );
    assert_eq!(stderr.matches("(os error 2)").count(), 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn seats_with_an_unknown_rule_set_lists_the_built_in_ones_once() {
    let (code, stdout, stderr) = output(&["seats", "--rules", "nosuch", "--votes", "votes.toml"]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stderr.contains("--rules"), "{stderr}");
    assert!(stderr.contains("`nosuch`"), "{stderr}");
    // Each built-in name once, as a word of its own (`albania` and `albania-2021` are two).
    let named = |text: &str, name: &str| {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| *w == name)
            .count()
    };
    for name in ["albania", "albania-2021", "generic"] {
        assert_eq!(named(&stderr, name), 1, "{name}: {stderr}");
    }
    let (code, _, stderr) = output(&["seats", "--show-rules", "nosuch"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--show-rules"), "{stderr}");
    assert_eq!(named(&stderr, "albania"), 1, "{stderr}");
}

/// `urna seats --repeat-vote DISTRICT=VOTERS` (Albania's art. 161) on the real binary: a
/// repeat vote by 4,300 voters in Berat could move a Tirana seat through the national
/// threshold; by 4,200 it could not; a malformed argument is refused naming the flag.
#[test]
fn seats_answer_whether_a_repeat_vote_could_change_them() {
    let dir = tempfile::tempdir().unwrap();
    let votes = dir.path().join("votes.toml");
    let mut text = String::from("[lists.PS]\n[lists.PD]\n[lists.X]\n");
    for d in [
        "Berat",
        "Diber",
        "Durres",
        "Elbasan",
        "Fier",
        "Gjirokaster",
        "Korce",
        "Kukes",
        "Lezhe",
        "Shkoder",
        "Vlore",
    ] {
        text.push_str(&format!(
            "[districts.{d}]\nvotes = {{ PS = 60000, PD = 42800, X = 0 }}\n"
        ));
    }
    text.push_str("[districts.Tirane]\nvotes = { PS = 200000, PD = 150000, X = 15000 }\n");
    std::fs::write(&votes, text).unwrap();
    let ask = |arg: &str| {
        output(&[
            "seats",
            "--rules",
            "albania",
            "--votes",
            votes.to_str().unwrap(),
            "--repeat-vote",
            arg,
        ])
    };
    let (code, stdout, stderr) = ask("Berat=4300");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("4201 new votes for PD move them")
            && stdout.contains("district Tirane: X 1 -> 0 seat(s)"),
        "{stdout}"
    );
    let (code, stdout, stderr) = ask("Berat=4200");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("cannot change the seats"), "{stdout}");
    let (code, _, stderr) = ask("Berat");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--repeat-vote") && stderr.contains("DISTRICT=VOTERS"),
        "{stderr}"
    );
}

#[test]
fn submit_to_a_dead_server_says_so_once_not_once_per_note() {
    let dir = tempfile::tempdir().unwrap();
    let src = sim(dir.path());
    let vkey = run(
        &[
            "keys",
            "generate",
            "log.example",
            "--out",
            p(&dir.path().join("log.key")),
        ],
        0,
    );
    let url = format!("http://127.0.0.1:{}", dead_port());
    let (code, stdout, stderr) = output(&[
        "submit",
        "--to",
        &url,
        "--log-key",
        vkey.trim(),
        "--attempts",
        "1",
        p(&src.join("protocols.notes")),
    ]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(
        lines[0].starts_with(&format!("urna submit: cannot reach {url}/v1/protocols: "))
            && lines[0].contains("(os error ")
            && lines[0].ends_with("(1 attempt)"),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with(&format!("urna submit: {STATIONS} notes not sent "))
            && lines[1].contains("--queue DIR"),
        "{stderr}"
    );
    assert_eq!(
        lines[2],
        format!("urna submit: 0 stored, 0 duplicates, 0 refused, {STATIONS} unsent")
    );
}

/// `urna sim` of many stations runs a while: on a terminal it shows a progress bar (here a
/// pseudo-terminal made by util-linux `script`, Debian's essential bsdutils), and none when
/// stderr is a pipe.
#[test]
fn sim_shows_its_progress_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let on_tty = dir.path().join("tty");
    let command = format!(
        "'{}' sim --out '{}' --stations 500",
        env!("CARGO_BIN_EXE_urna"),
        on_tty.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("util-linux `script` runs urna on a pseudo-terminal");
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{tty}");
    assert!(tty.contains("signing protocols ["), "{tty}");
    assert!(
        tty.contains("wrote a synthetic election of 500 stations"),
        "{tty}"
    );
    let (code, stdout, stderr) = output(&[
        "sim",
        "--out",
        p(&dir.path().join("piped")),
        "--stations",
        "500",
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}
