//! `kill -9` during a bulk ingest: nothing acknowledged is lost, nothing is counted twice.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::{init, p, run, urna};

/// Entry 0 of every log is the genesis `urna init` writes; protocols follow it.
const GENESIS: u64 = 1;

#[test]
fn kill_9_during_bulk_ingest_loses_nothing_acknowledged() {
    const STATIONS: usize = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let data = dir.path().join("data");
    run(
        &["sim", "--out", p(&src), "--stations", &STATIONS.to_string()],
        0,
    );
    init(&src, &data);
    let pack = src.join("protocols.notes");

    // 1. Start a bulk ingest and kill it with SIGKILL once acknowledgments are flowing.
    let mut child = urna()
        .args(["ingest", "--data", p(&data), "--print-acks", p(&pack)])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked: HashSet<String> = HashSet::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(hash) = line.strip_prefix("ack ").and_then(|l| l.split(' ').nth(4)) {
            acked.insert(hash.to_owned());
        }
        if acked.len() >= 2_000 {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    // Whatever it printed before dying was acknowledged too.
    for line in lines {
        let Ok(line) = line else { break };
        if let Some(hash) = line.strip_prefix("ack ").and_then(|l| l.split(' ').nth(4)) {
            acked.insert(hash.to_owned());
        }
    }
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the ingest must have been killed mid-way"
    );
    assert!(
        acked.len() < STATIONS,
        "killed too late to prove anything: {} acks",
        acked.len()
    );

    // 2. Restart the same ingest: what was committed comes back as duplicates.
    let out = run(&["ingest", "--data", p(&data), "--print-acks", p(&pack)], 0);
    let dups: HashSet<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("dup "))
        .filter_map(|l| l.split(' ').nth(1))
        .collect();
    let new: usize = out.lines().filter(|l| l.starts_with("ack ")).count();
    for h in &acked {
        assert!(dups.contains(h.as_str()), "acknowledged {h} was lost");
    }
    assert_eq!(dups.len() + new, STATIONS);

    // 3. The store holds every station exactly once.
    let json: serde_json::Value =
        serde_json::from_str(&run(&["tally", "--data", p(&data), "--json"], 0)).unwrap();
    let nat = &json["units"][0];
    assert_eq!(
        nat["counted"].as_u64().unwrap() + nat["quarantined"].as_u64().unwrap(),
        STATIONS as u64
    );
    let store = urna_store::Store::open(&data).unwrap();
    let entries_total = GENESIS + STATIONS as u64;
    assert_eq!(store.len(), entries_total);
    let entries = store.entries().unwrap();
    let (genesis, protocols) = entries.split_at(GENESIS as usize);
    assert_eq!((genesis[0].index, genesis[0].station.as_str()), (0, ""));
    assert_eq!(protocols.len(), STATIONS);
    let stations: HashSet<&str> = protocols.iter().map(|e| e.station.as_str()).collect();
    assert_eq!(stations.len(), STATIONS);

    // 4. The log covers every stored entry, including those committed just before the kill.
    assert_eq!(store.log_sizes(), (entries_total, entries_total));
    drop(store);
    let status = run(&["status", "--data", p(&data)], 0);
    assert!(
        status.contains(&format!(
            "checkpoint of {entries_total} entries (up to date)"
        )),
        "{status}"
    );
    let last = (entries_total - 1).to_string();
    assert!(run(&["log", "prove", "--data", p(&data), &last], 0).contains("checked:"));
}
