//! End-to-end tests that run the real `urna` binary.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::panic)]

mod albania;
mod assess;
mod audit;
mod audit_tamper;
mod backup;
mod backup_tamper;
mod cli;
mod crash;
mod decisions;
mod demo;
mod desk;
mod desk_audit;
mod desk_trail;
mod export;
mod forensics;
mod forensics_bundle;
mod import_hostile;
mod incident;
mod keys;
mod log_story;
mod map;
mod names_hostile;
mod nginx;
mod official_seats;
mod open_lists;
mod openapi;
mod pg_audit;
mod pg_cluster;
mod pg_node;
mod pg_policy;
mod pg_publish;
mod pg_revocations;
mod pg_serve_bundle;
mod pg_witness;
mod revocations;
mod seats_hostile;
mod serve;
pub mod server;
mod station;
mod submit;
mod tamper;
mod tls;
mod verify;
pub mod web;
mod web_audit;
mod web_forensics;
mod web_map;
mod witness_attack;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The compiled `urna` binary.
pub fn urna() -> Command {
    Command::new(env!("CARGO_BIN_EXE_urna"))
}

/// Runs `urna` with arguments; panics with its output unless it exits with `code`.
pub fn run(args: &[&str], code: i32) -> String {
    let out: Output = urna().args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "urna {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout + &stderr
}

/// `urna init` of a data directory from a simulation written to `src` by `urna sim`.
pub fn init(src: &Path, data: &Path) {
    run(
        &[
            "init",
            "--definition",
            p(&src.join("election.toml")),
            "--data",
            p(data),
        ],
        0,
    );
}

/// `../shared/data/<rel>` from the project root.
pub fn shared_data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel)
}

/// A path as a command-line argument.
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The inflated bytes of a file the bundle publishes only gzip-compressed.
pub fn gunzip(gz: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut out).unwrap();
    out
}

/// `bytes` gzip-compressed, as a tampered copy of a gzip-only file.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut e, bytes).unwrap();
    e.finish().unwrap()
}

/// A unit's file in the generation `current`: `v1/units/<unit>.json.gz`, inflated and parsed.
pub fn unit_file(current: &Path, unit: &str) -> serde_json::Value {
    let path = current.join(urna_tally::public::unit_published_path(unit));
    let gz = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&gunzip(&gz)).unwrap()
}
