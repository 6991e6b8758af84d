//! The public bundle, as one ordered story over a real data directory: publish, grow
//! incrementally, reopen, refuse a forked bundle; and readers that never see a missing or
//! partial file while generations are swapped under them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use urna_model::definition::ContestIdx;
use urna_model::note::Note;
use urna_server::bundle::{BundleError, BundleWriter};
use urna_sim::{SimConfig, Simulation};
use urna_store::{IngestOptions, Store, SystemClock, log};
use urna_tally::public::{DefinitionFiles, Replay, render};
use urna_tlog::tile::{TileKind, decode_entries, tiles_for_size};
use urna_tlog::{Checkpoint, TileDir, TileHashReader, TreeSize};

/// Entry 0 of every log is the genesis `Store::init` writes and publishes a checkpoint of.
const GENESIS: u64 = 1;

/// A data directory over a simulated election, with the notes still to ingest.
struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    data: PathBuf,
    store: Store,
    protocols: Vec<Vec<u8>>,
    amendments: Vec<Vec<u8>>,
}

fn setup(stations: u32) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulation::new(SimConfig {
        stations,
        districts: 3,
        error_rate_per_10k: 2000,
        ..SimConfig::default()
    });
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("election.toml"), sim.definition_toml()).unwrap();
    let mut csv = format!("{}\n", urna_sim::STATIONS_HEADER);
    let (mut protocols, mut amendments) = (Vec::new(), Vec::new());
    for i in 0..stations {
        let s = sim.station(i);
        csv.push_str(&sim.station_row(&s));
        csv.push('\n');
        let note = sim.protocol_note(&s);
        if sim.is_amended(&s) {
            amendments.push(sim.amendment_note(&s, &note).unwrap());
        }
        protocols.push(note);
    }
    std::fs::write(src.join("stations.csv"), csv).unwrap();
    let data = dir.path().join("data");
    let store = Store::init(&data, &src.join("election.toml")).unwrap();
    Setup {
        root: dir.path().to_owned(),
        _dir: dir,
        data,
        store,
        protocols,
        amendments,
    }
}

fn ingest(store: &mut Store, notes: &[Vec<u8>]) {
    let opts = IngestOptions {
        chunk: 32,
        commit_every: 64,
        ..IngestOptions::default()
    };
    let report = store
        .ingest(notes.iter().cloned().map(Ok), &opts, &SystemClock, |_| {})
        .unwrap();
    assert_eq!(report.rejected, 0);
}

fn published(data: &Path) -> Vec<u8> {
    log::read_published(data).unwrap().unwrap()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Checks everything a generation promises against the data directory as it is now.
fn check_generation(out: &Path, s: &mut Setup) {
    let current = out.join("current");
    let note = published(&s.data);
    assert_eq!(std::fs::read(current.join("checkpoint")).unwrap(), note);
    let cp = Checkpoint::parse_text(Note::parse(&note).unwrap().text()).unwrap();
    let size = cp.size;

    // results.json quotes exactly this checkpoint.
    let results = json(&current.join("v1/results.json"));
    assert_eq!(
        results["checkpoint"]["note"].as_str().unwrap().as_bytes(),
        note
    );
    assert_eq!(results["checkpoint"]["size"], size.0);
    assert_eq!(results["checkpoint"]["root_hash"], cp.root.to_base64());

    // Every tile of the checkpoint is there, and the hash tiles give its root.
    for tile in tiles_for_size(size) {
        assert!(current.join(tile.path()).is_file(), "{}", tile.path());
    }
    let tiles = TileDir::open(&current).unwrap();
    let root = urna_tlog::storage::root_at(&TileHashReader::new(&tiles, size), size).unwrap();
    assert_eq!(root, cp.root);

    // The entry bundles hold the stored notes, in order.
    let entries = s.store.entries().unwrap();
    let mut from_tiles = Vec::new();
    for tile in tiles_for_size(size) {
        if tile.kind() == TileKind::Entries {
            let bytes = std::fs::read(current.join(tile.path())).unwrap();
            let notes = decode_entries(&bytes, tile.width()).unwrap();
            from_tiles.extend(notes.into_iter().map(<[u8]>::to_vec));
        }
    }
    let stored: Vec<Vec<u8>> = entries
        .into_iter()
        .take(size.0 as usize)
        .map(|e| e.note)
        .collect();
    assert_eq!(from_tiles, stored);

    // The national totals are the store's.
    let report = s.store.tally(ContestIdx(0)).unwrap();
    let nat = &report.tally().units[0];
    let national = &results["contests"][0]["national"];
    let e = s.store.election();
    assert_eq!(national["stations"]["counted"], nat.counted);
    assert_eq!(national["stations"]["quarantined"], nat.quarantined);
    assert_eq!(national["registered_counted"], nat.registered_counted);
    for (k, name) in e.counts.iter().enumerate() {
        assert_eq!(national["counts"][name], nat.counts[k], "{name}");
    }
    for (k, &l) in e.contests[0].lists.iter().enumerate() {
        assert_eq!(national["votes"][&e.lists[l].id], nat.votes[k]);
    }
    let quarantine = json(&current.join("v1/quarantine.json"));
    assert_eq!(
        quarantine["contests"][0]["stations"]
            .as_array()
            .unwrap()
            .len(),
        report.quarantined.len()
    );

    // Every derived file is exactly what a verifier computes from the entries and the
    // definition with `urna_tally::public::render`.
    let e = s.store.election().clone();
    let mut replay = Replay::new(&e).unwrap();
    for (i, note) in stored.iter().enumerate() {
        replay.apply_verified(&e, i as u64, note).unwrap();
    }
    let files = DefinitionFiles::new(
        &e,
        &std::fs::read(s.data.join("election.toml")).unwrap(),
        &std::fs::read(s.data.join(&e.stations_file)).unwrap(),
    )
    .unwrap();
    for (path, bytes) in render(&e, &files, &replay, &note).unwrap() {
        // The files that grow with the stations are published only as their gzip.
        let published = if urna_tally::public::gz_only(&path) {
            assert!(!current.join(&path).exists(), "{path} published plain too");
            gunzip(&std::fs::read(current.join(format!("{path}.gz"))).unwrap())
        } else {
            std::fs::read(current.join(&path)).unwrap()
        };
        assert!(
            published == bytes,
            "{path} differs from the verifier's rendering"
        );
    }

    // The definition blobs are there under their SHA-256.
    let election = json(&current.join("v1/election.json"));
    for f in election["definition"]["files"].as_array().unwrap() {
        let bytes = std::fs::read(current.join(f["path"].as_str().unwrap())).unwrap();
        assert_eq!(
            urna_model::protocol::hex(&urna_model::intake::sha256(&bytes)),
            f["sha256"].as_str().unwrap()
        );
    }
}

fn gunzip(gz: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut out).unwrap();
    out
}

/// Publishes the published checkpoint again with one more signature, as a new witness
/// cosignature would.
fn cosign(s: &mut Setup, witness: u8) {
    let mut note = Note::parse(&published(&s.data)).unwrap();
    let key = urna_model::note::NoteSigner::from_seed(
        &format!("witness.example/w{witness}"),
        &[witness; 32],
    )
    .unwrap();
    note.sign(&key);
    s.store.publish_checkpoint(&note.to_bytes()).unwrap();
}

fn generations(out: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(out.join("gen"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn current_generation(out: &Path) -> String {
    std::fs::read_link(out.join("current"))
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

/// All files of a generation below `v1/` and `csv/`, with their bytes.
fn derived_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("v1"), dir.join("csv")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_owned(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// Every `.gz` of generation `dir` inflates to its file, which exists; every text file of at
/// least 1 KiB has one (the sim's JSON shrinks well over a tenth); a copy of a file reused
/// from generation `before` is the same inode as that generation's copy (linked with it).
fn check_gz_copies(dir: &Path, before: &Path) {
    use std::io::Read as _;
    use std::os::unix::fs::MetadataExt as _;
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() {
                files.push(
                    e.path()
                        .strip_prefix(dir)
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
    }
    let (mut copies, mut linked) = (0, 0);
    for rel in &files {
        let bytes = std::fs::read(dir.join(rel)).unwrap();
        if let Some(file) = rel
            .strip_suffix(".gz")
            .filter(|f| !urna_tally::public::gz_only(f))
        {
            let original = std::fs::read(dir.join(file)).unwrap();
            let mut inflated = Vec::new();
            flate2::read::GzDecoder::new(bytes.as_slice())
                .read_to_end(&mut inflated)
                .unwrap();
            assert!(inflated == original, "{rel} does not inflate to {file}");
            copies += 1;
            let same = |a: &Path, b: &Path| {
                let (a, b) = (std::fs::metadata(a).unwrap(), std::fs::metadata(b).unwrap());
                (a.dev(), a.ino()) == (b.dev(), b.ino())
            };
            if before.join(file).exists() && same(&dir.join(file), &before.join(file)) {
                assert!(same(&dir.join(rel), &before.join(rel)), "{rel} not linked");
                linked += 1;
            }
        } else if let Some(file) = rel.strip_suffix(".gz") {
            // Published only as its gzip: no plain file beside it.
            assert!(
                !files.contains(&file.to_owned()),
                "{file} published plain too"
            );
            gunzip(&bytes);
        } else if urna_server::gzip::compressible(rel)
            && bytes.len() >= urna_server::gzip::MIN_BYTES
            && rel.ends_with(".json")
        {
            assert!(files.contains(&format!("{rel}.gz")), "{rel} has no copy");
        }
    }
    assert!(
        copies > 10 && linked > 0,
        "{copies} copies, {linked} linked"
    );
}

#[test]
fn bundle_story_publish_grow_reopen_and_refuse_a_fork() {
    let mut s = setup(300);
    let out = s.root.join("bundle");
    let protocols = s.protocols.clone();
    let amendments = s.amendments.clone();
    assert!(!amendments.is_empty());

    // 1. Only the genesis is published (by `init`): a generation of it alone, then nothing
    //    to do.
    let mut writer = BundleWriter::open(&s.data, &out).unwrap();
    let info = writer.update().unwrap().unwrap();
    assert_eq!((info.size, info.entries_replayed), (GENESIS, GENESIS));
    check_generation(&out, &mut s);
    let genesis = current_generation(&out);
    assert_eq!(out.join("gen").join(&genesis), info.generation_dir);
    assert_eq!(
        writer.update().unwrap(),
        None,
        "same checkpoint, no new generation"
    );

    // 2. The first 200 protocols: one generation, consistent with the store; only the new
    //    entries are replayed.
    ingest(&mut s.store, &protocols[..200]);
    let info = writer.update().unwrap().unwrap();
    assert_eq!(info.size, GENESIS + 200);
    assert_eq!(info.entries_replayed, 200);
    assert!(info.tiles_linked > 0);
    assert_eq!(info.generations_removed, 0);
    check_generation(&out, &mut s);
    let first = current_generation(&out);
    assert_eq!(out.join("gen").join(&first), info.generation_dir);
    assert_eq!(generations(&out), vec![genesis, first.clone()]);
    assert_eq!(
        writer.update().unwrap(),
        None,
        "same checkpoint, no new generation"
    );

    // 3. The rest and the amendments: only the new entries are replayed, `current` moves,
    //    the first generation is kept for its readers (only the newest two are kept).
    ingest(&mut s.store, &protocols[200..]);
    ingest(&mut s.store, &amendments);
    let total = GENESIS + (protocols.len() + amendments.len()) as u64;
    let info = writer.update().unwrap().unwrap();
    assert_eq!(info.size, total);
    assert_eq!(info.entries_replayed, total - (GENESIS + 200));
    assert_eq!(info.generations_removed, 1);
    check_generation(&out, &mut s);
    let second = current_generation(&out);
    assert_ne!(first, second);
    assert_eq!(generations(&out), vec![first, second.clone()]);

    // 4. A checkpoint of the same size with one more signature (a new cosignature): a new
    //    generation with nothing to replay, whose unchanged files are linked, not rewritten;
    //    only the newest two generations are kept.
    cosign(&mut s, 1);
    let info = writer.update().unwrap().unwrap();
    assert_eq!((info.size, info.entries_replayed), (total, 0));
    assert_eq!(
        info.files_written, 3,
        "the checkpoint, and results.json and summary.json, which quote it"
    );
    assert!(info.files_linked > 0);
    assert_eq!(info.generations_removed, 1);
    check_generation(&out, &mut s);
    let third = current_generation(&out);
    assert_eq!(generations(&out), vec![second.clone(), third.clone()]);
    check_gz_copies(
        &out.join("gen").join(&third),
        &out.join("gen").join(&second),
    );
    assert!(info.gz_copies > 10, "{info:?}");

    // 5. The same checkpoint rendered from scratch into another bundle gives the same files:
    //    incremental rendering changes nothing.
    let fresh = s.root.join("fresh");
    let mut other = BundleWriter::open(&s.data, &fresh).unwrap();
    other.update().unwrap().unwrap();
    assert_eq!(
        derived_files(&fresh.join("current")),
        derived_files(&out.join("current"))
    );

    // 6. A writer reopened over the bundle keeps it: nothing new, nothing to do. At the next
    //    checkpoint it replays from the start and checks every tile it already has.
    drop(writer);
    let mut writer = BundleWriter::open(&s.data, &out).unwrap();
    assert_eq!(writer.live_size(), Some(total));
    assert_eq!(writer.update().unwrap(), None);
    cosign(&mut s, 2);
    let info = writer.update().unwrap().unwrap();
    assert_eq!((info.size, info.entries_replayed), (total, total));
    assert_eq!(info.tiles_linked, 0, "the tiles were all there");
    assert_eq!(
        info.files_written, 3,
        "after a reopen too, only the checkpoint, results.json and summary.json are new"
    );
    check_generation(&out, &mut s);
    let fourth = current_generation(&out);
    assert_eq!(generations(&out), vec![third, fourth]);

    // 7. A bundle holding a tile of another history is refused, and left as it was.
    let forked = s.root.join("forked");
    let tile = tiles_for_size(TreeSize(total))
        .into_iter()
        .find(|t| t.kind() == TileKind::Hash(0))
        .unwrap();
    let path = forked.join(tile.path());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, vec![0u8; usize::from(tile.width()) * 32]).unwrap();
    let mut writer = BundleWriter::open(&s.data, &forked).unwrap();
    let err = writer.update().unwrap_err();
    assert!(matches!(err, BundleError::ForkedTile { .. }), "{err}");
    assert!(!forked.join("current").exists());

    // 8. A full level-0 tile edited in the data directory (replaced, so the bundles' hard
    //    links keep the genuine one): the root is computed from the tile above it, so only the
    //    check of each tile against its parent's hash sees it; refused, nothing published.
    assert!(total > 256, "the log has a full level-0 tile");
    let tile = s.data.join(log::LOG_DIR).join("tile/0/000");
    let mut bytes = std::fs::read(&tile).unwrap();
    bytes[100] ^= 1;
    std::fs::remove_file(&tile).unwrap();
    std::fs::write(&tile, &bytes).unwrap();
    let edited = s.root.join("edited");
    let mut writer = BundleWriter::open(&s.data, &edited).unwrap();
    let err = writer.update().unwrap_err();
    assert!(
        matches!(err, BundleError::TilesRootMismatch { .. })
            && err
                .to_string()
                .contains("tile/0/000 does not hash to its hash in tile/1/000.p/"),
        "{err}"
    );
    assert!(!edited.join("current").exists());
}

/// A generation written by a new writer (a later `urna publish`) over a bundle an earlier one
/// wrote rewrites only the files whose bytes changed: the unit files of stations no amendment
/// touched are hard links to the previous generation's, and the bytes written are counted.
#[test]
fn a_reopened_writer_links_every_file_whose_bytes_did_not_change() {
    let mut s = setup(300);
    let out = s.root.join("bundle");
    let protocols = s.protocols.clone();
    let amendment = s.amendments[0].clone();
    ingest(&mut s.store, &protocols);
    let first = BundleWriter::open(&s.data, &out)
        .unwrap()
        .update()
        .unwrap()
        .unwrap();
    assert_eq!(first.files_linked, 0, "nothing to link from");
    let before = current_generation(&out);

    // One amendment: one station, so one unit file, changes.
    ingest(&mut s.store, std::slice::from_ref(&amendment));
    let info = BundleWriter::open(&s.data, &out)
        .unwrap()
        .update()
        .unwrap()
        .unwrap();
    check_generation(&out, &mut s);
    let after = current_generation(&out);
    let station = Note::parse(&amendment).unwrap();
    let station = station
        .text()
        .lines()
        .find_map(|l| l.strip_prefix("station: "))
        .unwrap()
        .to_owned();
    let e = s.store.election();
    let unit = &e.units[e
        .stations
        .iter()
        .find(|st| st.id == station)
        .unwrap()
        .unit
        .0 as usize];
    let changed = format!("v1/units/{}.json.gz", unit.id);
    let (old, new) = (out.join("gen").join(&before), out.join("gen").join(&after));
    let mut units = 0;
    for entry in std::fs::read_dir(new.join("v1/units")).unwrap() {
        let rel = format!("v1/units/{}", entry.unwrap().file_name().to_str().unwrap());
        let same = same_inode(&old.join(&rel), &new.join(&rel));
        // Unit files are published only as their gzip; the changed unit's alone is new.
        assert!(rel.ends_with(".json.gz"), "{rel}");
        assert_eq!(same, rel != changed, "{rel}");
        units += 1;
    }
    assert!(units > 2, "{units} unit files");
    for rel in ["v1/election.json", "v1/stations/00.json", "index.html"] {
        assert!(same_inode(&old.join(rel), &new.join(rel)), "{rel}");
    }
    assert_eq!(info.files_written + info.files_linked, first.files_written);
    assert!(info.files_written < first.files_written / 4, "{info:?}");
    // The files written are the generation's files with one link, and their bytes are counted.
    let (mut files, mut bytes) = (0, 0);
    let mut stack = vec![new.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() && std::os::unix::fs::MetadataExt::nlink(&meta) == 1 {
                // Every byte written counts, precompressed copies too; a copy is no file of
                // its own, a file published only as its gzip is.
                let rel = entry
                    .path()
                    .strip_prefix(&new)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                let copy = rel
                    .strip_suffix(".gz")
                    .is_some_and(|f| !urna_tally::public::gz_only(f));
                files += usize::from(!copy);
                bytes += meta.len();
            }
        }
    }
    assert_eq!((info.files_written, info.bytes_written), (files, bytes));
    assert!(info.bytes_written < first.bytes_written, "{info:?}");
}

fn same_inode(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let (a, b) = (std::fs::metadata(a).unwrap(), std::fs::metadata(b).unwrap());
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

/// Readers of `current/…` see whole files of one generation while new generations go live:
/// by path, every read succeeds; through an opened generation directory, the checkpoint and
/// results read together belong together (unless that generation was retired meanwhile, two
/// swaps later).
#[test]
fn readers_never_see_a_missing_or_partial_file() {
    let mut s = setup(120);
    let out = s.root.join("bundle");
    let mut writer = BundleWriter::open(&s.data, &out).unwrap();
    let notes = s.protocols.clone();
    ingest(&mut s.store, &notes[..5]);
    writer.update().unwrap().unwrap();

    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let (mut reads, mut together) = (0u64, 0u64);
            let current = out.join("current");
            while !done.load(Ordering::SeqCst) {
                // By path: always present, always whole.
                let cp = std::fs::read(current.join("checkpoint")).unwrap();
                assert!(log::checkpoint_size(&cp).is_some(), "whole checkpoint");
                let results = std::fs::read(current.join("v1/results.json")).unwrap();
                let _: serde_json::Value = serde_json::from_slice(&results).unwrap();
                reads += 1;

                // Through the directory `current` resolved to, files of one generation.
                let dir = std::fs::File::open(&current).unwrap();
                let via = PathBuf::from(format!(
                    "/proc/self/fd/{}",
                    std::os::fd::AsRawFd::as_raw_fd(&dir)
                ));
                let pair = (
                    std::fs::read(via.join("checkpoint")),
                    std::fs::read(via.join("v1/results.json")),
                );
                match pair {
                    (Ok(cp), Ok(results)) => {
                        let results: serde_json::Value = serde_json::from_slice(&results).unwrap();
                        assert_eq!(
                            results["checkpoint"]["note"].as_str().unwrap().as_bytes(),
                            cp
                        );
                        together += 1;
                    }
                    _ => {
                        // Only a generation deleted after two newer ones went live may vanish.
                        let gen_dir = std::fs::read_link(&via).unwrap();
                        assert!(
                            !gen_dir.exists(),
                            "{} vanished while live",
                            gen_dir.display()
                        );
                    }
                }
            }
            (reads, together)
        });
        for chunk in notes[5..].chunks(5) {
            ingest(&mut s.store, chunk);
            writer.update().unwrap().unwrap();
        }
        done.store(true, Ordering::SeqCst);
        let (reads, together) = reader.join().unwrap();
        assert!(reads > 0 && together > 0);
    });
    check_generation(&out, &mut s);
    assert_eq!(generations(&out).len(), 2);
}

#[test]
fn a_definition_changed_after_init_is_refused() {
    let s = setup(5);
    let definition = s.data.join("election.toml");
    let mut text = std::fs::read_to_string(&definition).unwrap();
    text.push_str("# edited after init\n");
    std::fs::write(&definition, text).unwrap();
    let err = BundleWriter::open(&s.data, &s.root.join("bundle")).unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::Store(urna_store::StoreError::DefinitionChanged { .. })
        ),
        "{err}"
    );
}
