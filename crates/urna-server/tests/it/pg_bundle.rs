//! The bundle of a PostgreSQL store is the bundle of a data directory: the same notes stored
//! on both engines under the same log key, sequenced into the same checkpoint, publish
//! generations that are equal file for file, tile for tile, byte for byte.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use urna_model::note::NoteSigner;
use urna_pg::{PgSequencer, PgStore};
use urna_server::bundle::BundleWriter;
use urna_server::pg_bundle::PgSource;
use urna_sim::{SimConfig, Simulation};
use urna_store::{IngestOptions, Store, SystemClock, log};
use urna_testkit::pg::PgServer;

/// Every file under `dir` (symlinks not followed), by its path relative to `dir`.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            if t.is_dir() {
                walk(root, &e.path(), out);
            } else if t.is_symlink() {
                let target = std::fs::read_link(e.path()).unwrap();
                out.insert(rel, target.display().to_string().into_bytes());
            } else {
                out.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn a_postgresql_store_publishes_the_same_bundle_as_a_data_directory_with_the_same_notes() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulation::new(SimConfig {
        stations: 300,
        districts: 3,
        error_rate_per_10k: 1500,
        ..SimConfig::default()
    });
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let definition = src.join("election.toml");
    std::fs::write(&definition, sim.definition_toml()).unwrap();
    let mut csv = format!("{}\n", urna_sim::STATIONS_HEADER);
    let mut notes = Vec::new();
    let mut amendments = Vec::new();
    for i in 0..300 {
        let s = sim.station(i);
        csv.push_str(&sim.station_row(&s));
        csv.push('\n');
        let note = sim.protocol_note(&s);
        amendments.extend(sim.amendment_note(&s, &note));
        notes.push(note);
    }
    assert!(!amendments.is_empty());
    notes.extend(amendments);
    std::fs::write(src.join("stations.csv"), csv).unwrap();

    // The same notes on both engines, under the data directory's log key.
    let data = dir.path().join("data");
    let mut lite = Store::init(&data, &definition).unwrap();
    let skey = std::fs::read_to_string(data.join(log::LOG_KEY_FILE)).unwrap();
    let signer = NoteSigner::from_skey(skey.trim()).unwrap();
    let opts = IngestOptions {
        chunk: 16,
        commit_every: 64,
        ..IngestOptions::default()
    };
    let report = lite
        .ingest(notes.iter().cloned().map(Ok), &opts, &SystemClock, |_| {})
        .unwrap();
    assert_eq!(report.rejected, 0);
    drop(lite);
    let url = server.database("bundle");
    let mut pg = PgStore::init(&url, &definition, signer.clone()).unwrap();
    for batch in notes.chunks(50) {
        pg.ingest(batch, &SystemClock).unwrap();
    }
    let mut seq = PgSequencer::acquire(&url, signer.clone(), "node-a", Duration::from_secs(30))
        .unwrap()
        .expect("the lease is free");
    let checkpoint = seq.step().unwrap().expect("entries to sequence");
    assert_eq!(
        log::read_published(&data).unwrap(),
        Some(checkpoint),
        "the data directory published the checkpoint the sequencer signed"
    );

    let from_dir = dir.path().join("from-dir");
    let info_dir = BundleWriter::open(&data, &from_dir)
        .unwrap()
        .update()
        .unwrap()
        .unwrap();
    let from_pg = dir.path().join("from-pg");
    let source = PgSource::open(&url, &definition, signer).unwrap();
    let mut writer = BundleWriter::with_source(Box::new(source), &from_pg).unwrap();
    let info_pg = writer.update().unwrap().unwrap();
    assert_eq!(info_pg.size, info_dir.size);
    assert_eq!(info_pg.files_written, info_dir.files_written);
    assert_eq!(info_pg.tiles_linked, info_dir.tiles_linked);
    let (a, b) = (tree(&from_dir), tree(&from_pg));
    assert!(
        a.keys().any(|k| k.starts_with("tile/entries/")),
        "{:?}",
        a.keys()
    );
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (path, bytes) in &a {
        assert!(b[path] == *bytes, "{path} differs");
    }
    // Nothing new: nothing to do.
    assert_eq!(writer.update().unwrap(), None);
}

/// A node's bundle (`urna serve --store … --bundle`): the writer over
/// [`PgSource::after_open`] replays the log once, then each generation reads only the entries
/// the new checkpoint added, and ends with the same files as a bundle written from scratch.
#[test]
fn a_node_bundle_reads_only_the_entries_each_new_checkpoint_adds() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulation::new(SimConfig {
        stations: 120,
        districts: 2,
        ..SimConfig::default()
    });
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let definition = src.join("election.toml");
    std::fs::write(&definition, sim.definition_toml()).unwrap();
    let mut csv = format!("{}\n", urna_sim::STATIONS_HEADER);
    let mut notes = Vec::new();
    for i in 0..120 {
        let s = sim.station(i);
        csv.push_str(&sim.station_row(&s));
        csv.push('\n');
        notes.push(sim.protocol_note(&s));
    }
    std::fs::write(src.join("stations.csv"), csv).unwrap();
    let origin = urna_model::definition::Election::load(&definition)
        .unwrap()
        .log_origin();
    let signer = NoteSigner::from_seed(&origin, &[7; 32]).unwrap();
    let url = server.database("node_bundle");
    let mut pg = PgStore::init(&url, &definition, signer.clone()).unwrap();
    let mut seq = PgSequencer::acquire(&url, signer.clone(), "node-a", Duration::from_secs(30))
        .unwrap()
        .expect("the lease is free");

    pg.ingest(&notes[..70], &SystemClock).unwrap();
    seq.step().unwrap().expect("entries to sequence");
    let live = dir.path().join("live");
    let source = PgSource::after_open(&url, &definition, &signer.verifier()).unwrap();
    let mut writer = BundleWriter::with_source(Box::new(source), &live).unwrap();
    let first = writer.update().unwrap().unwrap();
    assert_eq!((first.size, first.entries_replayed), (71, 71));

    pg.ingest(&notes[70..], &SystemClock).unwrap();
    seq.step().unwrap().expect("entries to sequence");
    let second = writer.update().unwrap().unwrap();
    assert_eq!(
        (second.size, second.entries_replayed),
        (121, 50),
        "only the entries the checkpoint added are read"
    );
    assert!(second.files_linked > 0, "unchanged files are linked");
    assert_eq!(writer.update().unwrap(), None);

    // The same files as a bundle written at once from the whole log.
    let fresh = dir.path().join("fresh");
    let source = PgSource::open(&url, &definition, signer).unwrap();
    BundleWriter::with_source(Box::new(source), &fresh)
        .unwrap()
        .update()
        .unwrap()
        .unwrap();
    let (a, b) = (tree(&live.join("current")), tree(&fresh.join("current")));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (path, bytes) in &a {
        assert!(b[path] == *bytes, "{path} differs");
    }
}

/// Regression: with a witness policy the bundle published whatever note table `published`
/// held once it was the log's and hashed to the entries, cosigned or not. A row set to the
/// sequencer's own checkpoint (which anyone with the database has) gave a bundle whose
/// checkpoint no witness ever saw; it is refused, and the one the quorum cosigned is written.
#[test]
fn a_postgresql_bundle_with_witnesses_publishes_only_a_checkpoint_their_quorum_cosigned() {
    use urna_tlog::cosignature::CosignatureSigner;
    let Some(server) = PgServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulation::new(SimConfig {
        stations: 20,
        districts: 2,
        ..SimConfig::default()
    });
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let definition = src.join("election.toml");
    std::fs::write(&definition, sim.definition_toml()).unwrap();
    let mut csv = format!("{}\n", urna_sim::STATIONS_HEADER);
    let mut notes = Vec::new();
    for i in 0..20 {
        let s = sim.station(i);
        csv.push_str(&sim.station_row(&s));
        csv.push('\n');
        notes.push(sim.protocol_note(&s));
    }
    std::fs::write(src.join("stations.csv"), csv).unwrap();
    // The log key a data directory would make.
    let data = dir.path().join("data");
    drop(Store::init(&data, &definition).unwrap());
    let skey = std::fs::read_to_string(data.join(log::LOG_KEY_FILE)).unwrap();
    let signer = NoteSigner::from_skey(skey.trim()).unwrap();

    let witness = CosignatureSigner::from_seed("witness-a", &[5; 32]).unwrap();
    let policy = urna_pg::witnesses::StoredPolicy {
        toml: format!(
            "quorum = 1\n[[witness]]\nname = \"witness-a\"\nurl = \"http://127.0.0.1:1/\"\nkey = \"{}\"\n",
            witness.verifier().to_vkey()
        ),
        ca_cert: None,
    };
    let url = server.database("bundle_cosigned");
    let mut pg =
        PgStore::init_with_witnesses(&url, &definition, signer.clone(), Some(&policy)).unwrap();
    pg.ingest(&notes, &SystemClock).unwrap();
    let mut seq = PgSequencer::acquire(&url, signer.clone(), "node-a", Duration::from_secs(30))
        .unwrap()
        .expect("the lease is free");
    let checkpoint = seq.step().unwrap().expect("entries to sequence");
    let size = log::checkpoint_size(&checkpoint).unwrap();
    let mut admin = urna_pg::connect(&url).unwrap();
    let set_published = |admin: &mut postgres::Client, note: &[u8]| {
        admin
            .execute(
                "UPDATE published SET size = $1, checkpoint = $2",
                &[&i64::try_from(size).unwrap(), &note],
            )
            .unwrap();
    };

    // The sequencer's checkpoint, which no witness cosigned, written in as the published one.
    set_published(&mut admin, &checkpoint);
    let out = dir.path().join("bundle");
    let err = PgSource::open(&url, &definition, signer.clone())
        .map_err(|e| e.to_string())
        .and_then(|source| {
            BundleWriter::with_source(Box::new(source), &out)
                .and_then(|mut w| w.update())
                .map_err(|e| e.to_string())
        })
        .expect_err("a checkpoint no witness cosigned is not published");
    assert!(err.contains("cosign"), "{err}");
    assert_eq!(
        std::fs::read_dir(out.join("gen")).map_or(0, Iterator::count),
        0,
        "no generation written"
    );

    // Cosigned by the quorum: published.
    let mut note = urna_model::note::Note::parse(&checkpoint).unwrap();
    note.add_signature(witness.cosign_at(note.text(), 1_700_000_000).unwrap());
    set_published(&mut admin, &note.to_bytes());
    let source = PgSource::open(&url, &definition, signer).unwrap();
    let info = BundleWriter::with_source(Box::new(source), &out)
        .unwrap()
        .update()
        .unwrap()
        .unwrap();
    assert_eq!(info.size, size);
    assert_eq!(
        std::fs::read(info.generation_dir.join("checkpoint")).unwrap(),
        note.to_bytes()
    );
}
