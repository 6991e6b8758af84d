//! A real PostgreSQL server for one test: `initdb` into a temporary directory, `pg_ctl start`
//! on a unix socket there (no TCP port), stopped and removed on drop; it can be restarted
//! (crashed and started again) in between. As root, the server runs as `nobody` (initdb
//! refuses root).
//!
//! Without PostgreSQL's binaries the tests are skipped with a loud message, unless `CI` is set:
//! CI must run them (`.ci/run` installs the Debian package).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running server; `url_of()` connects to one of its databases as `urna`.
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
}

fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Runs a PostgreSQL program, as `nobody` when we are root.
fn run(bin: &Path, program: &str, args: &[&str]) {
    let exe = bin.join(program);
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--"]).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    let out = cmd.args(args).output().expect("run a PostgreSQL program");
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PgServer {
    /// Starts a server, or `None` (after a loud message) if PostgreSQL is not installed and
    /// `CI` is not set.
    ///
    /// # Panics
    /// If a PostgreSQL program fails, or `CI` is set and PostgreSQL is not installed.
    #[must_use]
    pub fn start() -> Option<Self> {
        let Some(bin) = bin_dir() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb): the PostgreSQL tests must run in CI"
            );
            eprintln!(
                "\n!!! SKIPPED: PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb); \
                 install the Debian package `postgresql` to run the PostgreSQL end-to-end tests !!!\n"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("temporary directory");
        if is_root() {
            let out = Command::new("chown")
                .args(["-R", "nobody"])
                .arg(dir.path())
                .output()
                .expect("chown");
            assert!(out.status.success(), "chown nobody failed");
        }
        let data = dir.path().join("data");
        run(
            &bin,
            "initdb",
            &[
                "-D",
                data.to_str().expect("utf-8"),
                "-U",
                "urna",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let server = Self { dir, bin };
        server.pg_start();
        Some(server)
    }

    fn pg_start(&self) {
        let data = self.dir.path().join("data");
        let socket = self.dir.path().to_str().expect("utf-8 temp path");
        let options = format!("-k {socket} -c listen_addresses='' -c fsync=off");
        let log = self.dir.path().join("server.log");
        run(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                data.to_str().expect("utf-8"),
                "-l",
                log.to_str().expect("utf-8"),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    /// Crashes the server (`pg_ctl stop -m immediate`: no shutdown checkpoint, every
    /// connection cut), waits `down`, and starts it again (crash recovery).
    pub fn restart(&self, down: std::time::Duration) {
        let data = self.dir.path().join("data");
        run(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                data.to_str().expect("utf-8"),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        std::thread::sleep(down);
        self.pg_start();
    }

    /// A connection string to database `db`.
    pub fn url_of(&self, db: &str) -> String {
        format!("host={} user=urna dbname={db}", self.dir.path().display())
    }

    /// Creates an empty database and returns its connection string.
    pub fn database(&self, name: &str) -> String {
        let mut admin = postgres::Client::connect(&self.url_of("postgres"), postgres::NoTls)
            .expect("connect to the test server");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        self.url_of(name)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        if let Some(data) = data.to_str() {
            run(
                &self.bin,
                "pg_ctl",
                &["-D", data, "-m", "immediate", "-w", "stop"],
            );
        }
    }
}
