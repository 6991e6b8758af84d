//! The live public side of `urna serve --store postgres://…` end to end, with the real binary
//! and a real PostgreSQL: two nodes, each with its own `--bundle` directory, take a simulated
//! election's protocols and amendments (all sent to one of them); both keep their bundle
//! current with the database's published checkpoint and serve it, so both answer
//! `GET /v1/results.json` with the results of every entry once it is published, and
//! `urna verify http://node/` says VERIFIED for each.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::pg_cluster::{Cluster, free_addr, init_store, sim};
use crate::server::get;
use crate::{p, run, urna};
use urna_testkit::pg::PgServer;

/// The `checkpoint.size` of a node's `v1/results.json`, or `None` if it serves none yet.
fn results_size(addr: &str) -> Option<(u64, Vec<u8>)> {
    let r = get(addr, "/v1/results.json");
    if r.status != 200 {
        return None;
    }
    let doc: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    Some((doc["checkpoint"]["size"].as_u64().unwrap(), r.body))
}

#[test]
fn every_pg_node_with_a_bundle_serves_the_published_results_and_urna_verify_accepts_each() {
    let Some(pg) = PgServer::start() else { return };
    let url = pg.database("live");
    let dir = tempfile::tempdir().unwrap();
    let src = sim(dir.path(), "200", &["--error-rate", "500"]);
    let definition = src.join("election.toml");
    let key = dir.path().join("log.key");
    let (_, signer) = init_store(&url, &definition, &key, &[]);
    let vkey = signer.verifier().to_vkey();
    let cluster = Cluster {
        url: url.clone(),
        definition,
        key,
    };
    let log = Arc::new(Mutex::new(String::new()));
    let (addr_a, addr_b) = (free_addr(), free_addr());
    let (bundle_a, bundle_b) = (dir.path().join("bundle-a"), dir.path().join("bundle-b"));
    let mut node_a = cluster.start_with(
        "node-a",
        addr_a,
        Arc::clone(&log),
        &["--bundle", p(&bundle_a), "--publish-ms", "100"],
    );
    let mut node_b = cluster.start_with(
        "node-b",
        addr_b,
        Arc::clone(&log),
        &["--bundle", p(&bundle_b), "--publish-ms", "100"],
    );
    let (a, b) = (addr_a.to_string(), addr_b.to_string());
    // Intake still answers on the same paths beside the bundle.
    assert_eq!(get(&a, "/healthz").status, 200);
    assert_eq!(get(&b, "/v1/status").status, 200);
    // The OpenAPI document and the proofs' route beside the bundle's files, not shadowed by
    // them; a method no path takes is refused with the SQLite server's JSON body.
    let doc = get(&a, "/v1/openapi.json");
    assert_eq!(doc.status, 200);
    assert_eq!(doc.body, urna_server::serve::OPENAPI.as_bytes());
    assert_eq!(
        get(&b, "/v1/proof/abc").json()["error"]["code"],
        "bad-index"
    );
    let req = format!(
        "DELETE /v1/results.json HTTP/1.1\r\nHost: {a}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let r = crate::server::raw(&a, req.as_bytes());
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["error"]["code"], "method-not-allowed");

    for pack in ["protocols.notes", "amendments.notes"] {
        let out = run(
            &[
                "submit",
                "--to",
                &format!("http://{a}"),
                "--log-key",
                &vkey,
                "--queue",
                p(&dir.path().join("queue")),
                p(&src.join(pack)),
            ],
            0,
        );
        assert!(out.contains(", 0 refused"), "{out}");
    }
    // Every entry signed and published (no witness policy: the sequencer's checkpoint).
    let mut admin = urna_pg::connect(&url).unwrap();
    let t = Instant::now();
    let entries = loop {
        let c = urna_pg::nodes::cluster(&mut admin).unwrap();
        if c.entries > 1 && c.signed == c.entries {
            break c.entries;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the sequencer signed {} of {} entries in a minute:\n{}",
            c.signed,
            c.entries,
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(entries > 200, "{entries} entries");

    // Both nodes, the one that took the notes and the other, serve results of every entry.
    let mut served = Vec::new();
    for addr in [&a, &b] {
        let t = Instant::now();
        let body = loop {
            match results_size(addr) {
                Some((size, body)) if size == entries => break body,
                _ => {}
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "{addr} served no results of {entries} entries in a minute: {:?}\n{}",
                results_size(addr).map(|(s, _)| s),
                log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        served.push(body);
        let page = get(addr, "/");
        assert_eq!(page.status, 200);
        assert!(String::from_utf8_lossy(&page.body).contains("<html"));
        let checkpoint = get(addr, "/checkpoint");
        assert_eq!(checkpoint.status, 200);
        assert!(String::from_utf8_lossy(&checkpoint.body).contains(&format!("\n{entries}\n")));
    }
    assert_eq!(served[0], served[1], "both nodes serve the same results");
    // The bundle on disk is what the node serves.
    assert_eq!(
        std::fs::read(bundle_b.join("current/v1/results.json")).unwrap(),
        served[1]
    );

    // The independent verifier checks each node over HTTP.
    for addr in [&a, &b] {
        let o = urna()
            .args(["verify", &format!("http://{addr}/"), "--log-key", &vkey])
            .output()
            .unwrap();
        let out =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{addr}: {out}");
        assert!(out.contains("\nVERIFIED"), "{addr}: {out}");
        assert!(out.contains(&format!("{entries} entries")), "{addr}: {out}");
    }

    // A node started again on its bundle keeps the live generation and serves it at once.
    node_b.stop();
    let mut node_b = cluster.start_with(
        "node-b",
        addr_b,
        Arc::clone(&log),
        &["--bundle", p(&bundle_b), "--publish-ms", "100"],
    );
    assert_eq!(results_size(&b).map(|(s, _)| s), Some(entries));
    node_b.stop();
    node_a.stop();
}
