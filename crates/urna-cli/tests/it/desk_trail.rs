//! The desk's audit trail edited behind its back: someone with the file drops the triggers
//! that keep `desk.sqlite`'s `audit` table append-only, rewrites or removes lines (who signed,
//! who logged in), and puts the triggers back. `urna desk` must notice at its next start, and
//! `urna desk audit-export` must not publish the edited trail as if it were whole.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::desk::{Browser, add_user, spawn_listening};
use crate::{init, p, run, urna};

fn desk_command(data: &Path, key: &Path) -> std::process::Command {
    let mut command = urna();
    command.args([
        "desk",
        "--data",
        p(data),
        "--centre",
        "SIM",
        "--key",
        p(key),
        "--listen",
        "127.0.0.1:0",
    ]);
    command
}

/// Runs the desk over `data` and returns its stderr once it has stopped by itself; panics if
/// it is still running (listening) after 30 s.
fn desk_must_refuse(data: &Path, key: &Path) -> String {
    let mut child = desk_command(data, key)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            assert!(!status.success(), "{err}");
            return err;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("urna desk started over an edited audit trail");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    let out = std::process::Command::new("cp")
        .args(["-a", p(from), p(to)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn an_audit_trail_edited_in_desk_sqlite_is_noticed_at_start_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    run(&["sim", "--out", p(&src), "--stations", "3"], 0);
    init(&src, &data);
    let key = src.join("secrets/central-commission.key");
    for name in ["ana", "besa"] {
        add_user(&data, name, "typist", "first-password-1");
    }
    let station = std::fs::read_to_string(src.join("stations.csv"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    {
        let desk = spawn_listening(desk_command(&data, &key), "urna desk: listening on http://");
        let mut ana = Browser::login(&desk.addr, "ana");
        let mut besa = Browser::login(&desk.addr, "besa");
        assert_eq!(ana.key(&station)["protocol"], json!("entering"));
        assert_eq!(besa.key(&station)["protocol"], json!("signed"));
    }
    // Untouched, the desk starts again and the export is whole.
    {
        let _desk = spawn_listening(desk_command(&data, &key), "urna desk: listening on http://");
    }
    let whole = run(&["desk", "audit-export", "--data", p(&data)], 0);
    assert!(whole.contains("\"signed\""), "{whole}");

    let tampers: [(&str, &str); 3] = [
        (
            "the signature credited to other typists",
            "UPDATE audit SET detail = replace(detail, 'besa', 'cim') WHERE action = 'signed'",
        ),
        (
            "a login removed",
            "DELETE FROM audit WHERE seq = (SELECT MIN(seq) FROM audit WHERE action = 'login')",
        ),
        (
            "the last lines cut off",
            "DELETE FROM audit WHERE seq >= (SELECT seq FROM audit WHERE action = 'signed')",
        ),
    ];
    for (i, (what, sql)) in tampers.iter().enumerate() {
        let copy = dir.path().join(format!("tampered-{i}"));
        copy_dir(&data, &copy);
        {
            let conn = rusqlite::Connection::open(copy.join("desk.sqlite")).unwrap();
            conn.execute_batch(&format!(
                "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; {sql};"
            ))
            .unwrap();
            assert!(conn.changes() > 0, "{what}: nothing changed");
        }
        let err = desk_must_refuse(&copy, &key);
        assert!(err.contains("audit trail"), "{what}: {err}");
        let out = urna()
            .args(["desk", "audit-export", "--data", p(&copy)])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: exported as whole");
        assert!(stderr.contains("audit trail"), "{what}: {stderr}");
    }
}
