//! [`verify`] against bundles built in memory from a simulated election, as an honest
//! publisher writes them, then damaged the way an attacker or a broken mirror would.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;

use urna_model::definition::Election;
use urna_model::genesis::Genesis;
use urna_model::note::{Note, NoteSigner};
use urna_sim::{SimConfig, Simulation};
use urna_tally::public::{self, DefinitionFiles, Replay};
use urna_tlog::cosignature::CosignatureSigner;
use urna_tlog::storage::MemoryStore;
use urna_tlog::tile::{TileKind, encode_entries, hash_tile_bytes, tiles_for_size};
use urna_tlog::{Checkpoint, Hash, Tree, TreeSize, leaf_hash};

use super::*;

/// A bundle in memory.
#[derive(Clone)]
struct MemSource {
    files: BTreeMap<String, Vec<u8>>,
    /// Replaces `checkpoint` after the first fetch of it, as a live server would.
    next_checkpoint: Option<Vec<u8>>,
    checkpoint_fetches: std::sync::Arc<AtomicU64>,
    /// Whether [`Source::walk`] lists the files (a directory), or not (a web server).
    listable: bool,
}

impl Source for MemSource {
    fn describe(&self) -> String {
        "memory".into()
    }

    fn fetch(&self, path: &str) -> Result<Option<Vec<u8>>, SourceError> {
        if path == "checkpoint"
            && self.checkpoint_fetches.fetch_add(1, Ordering::Relaxed) > 0
            && let Some(next) = &self.next_checkpoint
        {
            return Ok(Some(next.clone()));
        }
        Ok(self.files.get(path).cloned())
    }

    fn concurrency(&self) -> usize {
        2
    }

    fn walk(&self) -> Result<Option<Vec<String>>, SourceError> {
        Ok(self.listable.then(|| self.files.keys().cloned().collect()))
    }
}

struct Fixture {
    sim: Simulation,
    toml: String,
    csv: String,
    election: Election,
    log: NoteSigner,
    witness: CosignatureSigner,
    /// Genesis, protocols, amendments: in intake order.
    entries: Vec<Vec<u8>>,
}

const STATIONS: u32 = 300;

/// The scan of the first station's paper protocol, which its protocol names.
const SCAN: &[u8] = b"%PDF-1.7\nthe paper protocol of the first station\n";

/// When the fixture's witness cosigns (Unix seconds): the CDF export's GeneratedDate.
const COSIGNED_AT: u64 = 1_800_000_000;

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let sim = Simulation::new(SimConfig {
            stations: STATIONS,
            districts: 3,
            error_rate_per_10k: 2000,
            ..SimConfig::default()
        });
        let toml = sim.definition_toml();
        let mut csv = format!("{}\n", urna_sim::STATIONS_HEADER);
        let mut protocols = Vec::new();
        let mut amendments = Vec::new();
        for i in 0..STATIONS {
            let s = sim.station(i);
            csv.push_str(&sim.station_row(&s));
            csv.push('\n');
            // The first station's protocol names the scan of its paper protocol.
            let p = if i == 0 {
                let mut body = s.body.clone();
                body.scan = Some(sha256(SCAN));
                s.signer.sign_text(&body.to_text()).to_bytes()
            } else {
                sim.protocol_note(&s)
            };
            if sim.is_amended(&s) {
                amendments.push(sim.amendment_note(&s, &p).unwrap());
            }
            protocols.push(p);
        }
        let election = Election::from_texts("election.toml", &toml, "stations.csv", &csv).unwrap();
        let log = NoteSigner::from_seed(&election.log_origin(), &[9; 32]).unwrap();
        let genesis = log
            .sign_text(
                &Genesis::of(&election, toml.as_bytes(), csv.as_bytes())
                    .unwrap()
                    .to_text(),
            )
            .to_bytes();
        let mut entries = vec![genesis];
        entries.extend(protocols);
        assert!(!amendments.is_empty());
        entries.extend(amendments);
        Fixture {
            sim,
            toml,
            csv,
            election,
            log,
            witness: CosignatureSigner::from_seed("agency", &[4; 32]).unwrap(),
            entries,
        }
    })
}

impl Fixture {
    fn trust(&self) -> Trust {
        Trust::new(
            &self.log.verifier().to_vkey(),
            &[self.witness.verifier().to_vkey()],
            None,
        )
        .unwrap()
    }

    /// The bundle an honest publisher writes for `entries`.
    fn bundle(&self, entries: &[Vec<u8>]) -> MemSource {
        self.bundle_signed(entries, &self.log)
    }

    /// As [`Fixture::bundle`], its checkpoint signed by `log` (a log that rotated its key).
    fn bundle_signed(&self, entries: &[Vec<u8>], log: &NoteSigner) -> MemSource {
        let size = entries.len() as u64;
        let mut tree = Tree::new();
        let mut store = MemoryStore::new();
        let mut finished = Vec::new();
        for e in entries {
            finished.clear();
            tree.append(leaf_hash(e), &mut finished).unwrap();
            store.extend(&finished).unwrap();
        }
        let mut files = BTreeMap::new();
        for tile in tiles_for_size(TreeSize(size)) {
            let bytes = match tile.kind() {
                TileKind::Entries => {
                    let first = (tile.index() * 256) as usize;
                    encode_entries(&entries[first..first + usize::from(tile.width())]).unwrap()
                }
                TileKind::Hash(_) => hash_tile_bytes(&store, &tile).unwrap(),
            };
            files.insert(tile.path(), bytes);
        }
        let cp = self.checkpoint_by(log, size, tree.root());
        let defs = DefinitionFiles::new(&self.election, self.toml.as_bytes(), self.csv.as_bytes())
            .unwrap();
        for (sha, text) in [(defs.election_toml, &self.toml), (defs.stations, &self.csv)] {
            files.insert(
                format!("blob/sha256/{}", urna_model::protocol::hex(&sha)),
                text.as_bytes().to_vec(),
            );
        }
        files.insert(blob_path(&sha256(SCAN)), SCAN.to_vec());
        let mut replay = Replay::new(&self.election).unwrap();
        for (i, e) in entries.iter().enumerate() {
            match replay.apply(&self.election, i as u64, e) {
                // A forged last rotation (the tests' only kind) is rendered as its forger
                // would: as an entry that changes no result (which a rotation is).
                Err(_) if urna_model::rotation::is_rotation(e) && i + 1 == entries.len() => {
                    replay.apply_audit(i as u64).unwrap();
                }
                r => r.unwrap(),
            }
        }
        for (path, bytes) in public::render(&self.election, &defs, &replay, &cp).unwrap() {
            // As the bundle writer publishes them: some files only as their gzip.
            if public::gz_only(&path) {
                files.insert(public::published_path(&path).into_owned(), gzip(&bytes));
            } else {
                files.insert(path, bytes);
            }
        }
        for (path, bytes) in urna_forensics::bundle::render(&self.election, &replay).unwrap() {
            files.insert(path, bytes);
        }
        files.insert(
            public::KEYS_JSON.into(),
            serde_json::to_vec_pretty(&serde_json::json!({
                "format": "urna/keys/v1",
                "log": {"origin": self.election.log_origin(), "key": self.log.verifier().to_vkey()},
                "witnesses": [{"name": "agency", "key": self.witness.verifier().to_vkey()}],
                "quorum": 1,
            }))
            .unwrap(),
        );
        let info = public::checked_checkpoint(&self.election, &replay, &cp).unwrap();
        let generated = urna_tally::cdf::rfc3339_utc(COSIGNED_AT).unwrap();
        files.insert(
            urna_tally::cdf::BUNDLE_PATH.into(),
            urna_tally::cdf::render_bundle_report(&self.election, &replay, &info, &generated)
                .unwrap(),
        );
        files.insert("checkpoint".into(), cp);
        MemSource {
            files,
            next_checkpoint: None,
            checkpoint_fetches: std::sync::Arc::default(),
            listable: true,
        }
    }

    fn checkpoint(&self, size: u64, root: Hash) -> Vec<u8> {
        self.checkpoint_by(&self.log, size, root)
    }

    fn checkpoint_by(&self, log: &NoteSigner, size: u64, root: Hash) -> Vec<u8> {
        let cp = Checkpoint::new(self.election.log_origin(), TreeSize(size), root);
        let mut note = cp.sign(log).unwrap();
        note.add_signature(self.witness.cosign_at(note.text(), COSIGNED_AT).unwrap());
        note.to_bytes()
    }
}

fn run(source: &MemSource, since: Option<&State>) -> Report {
    verify(source, &fixture().trust(), since, &|_| {}).unwrap()
}

fn kinds(r: &Report) -> Vec<Kind> {
    r.discrepancies.iter().map(|d| d.kind).collect()
}

/// Rewrites the entry bundle holding entry `index` with `entries` (all of the log's).
fn rewrite_entry_tile(source: &mut MemSource, entries: &[Vec<u8>], index: usize) {
    let n = index / 256;
    let end = (n * 256 + 256).min(entries.len());
    let width = end - n * 256;
    let path = urna_tlog::tile::Tile::entries(n as u64, width as u16)
        .unwrap()
        .path();
    source
        .files
        .insert(path, encode_entries(&entries[n * 256..end]).unwrap());
}

#[test]
fn an_honest_bundle_verifies() {
    let f = fixture();
    let r = run(&f.bundle(&f.entries), None);
    assert!(r.verified, "{}", r.summary());
    assert_eq!(r.counts.entries, f.entries.len() as u64);
    assert_eq!(r.counts.entries_verified, f.entries.len() as u64 - 1);
    assert!(r.counts.amendments > 0 && r.counts.stations_quarantined > 0);
    assert_eq!(r.counts.files_compared, r.counts.files_identical);
    assert_eq!(r.witnesses.cosigned.len(), 1);
    assert!(r.witnesses.unpinned.is_empty());
    let cdf = r.cdf.as_ref().unwrap();
    assert!(cdf.pinned && cdf.witness == "agency", "{cdf:?}");
    assert!(
        r.summary()
            .contains("\nVERIFIED: the log, its checkpoint and every published result check out\n")
    );
    assert_eq!(r.counts.scans, 1);
    assert_eq!(
        r.counts.files_listed,
        Some(f.bundle(&f.entries).files.len() as u64)
    );
}

#[test]
fn a_deleted_or_replaced_scan_is_named_with_its_entry() {
    let f = fixture();
    let honest = f.bundle(&f.entries);
    let path = blob_path(&sha256(SCAN));
    let station = f.sim.station(0).id;
    // Deleted: a directory and a web server alike (the scan is fetched by the name the note
    // gives, not found by listing).
    for listable in [true, false] {
        let mut source = honest.clone();
        source.listable = listable;
        source.files.remove(&path);
        let r = run(&source, None);
        assert_eq!(kinds(&r), [Kind::BlobMissing], "{}", r.summary());
        let d = &r.discrepancies[0];
        assert_eq!(
            (d.file.as_deref(), d.index, d.station.as_deref()),
            (Some(path.as_str()), Some(1), Some(station.as_str()))
        );
        assert!(
            d.message.contains(&format!(
                "{path}: missing; entry 1 (station {station}) names it as the scan of its paper protocol"
            )),
            "{}",
            d.message
        );
    }
    // Replaced by other bytes under the same name.
    let mut source = honest;
    source
        .files
        .insert(path.clone(), b"%PDF-1.7\nanother paper".to_vec());
    let r = run(&source, None);
    assert_eq!(kinds(&r), [Kind::BlobMismatch], "{}", r.summary());
    let d = &r.discrepancies[0];
    assert_eq!((d.file.as_deref(), d.index), (Some(path.as_str()), Some(1)));
    assert_eq!(d.expected.as_deref(), Some(hex(&sha256(SCAN)).as_str()));
    assert!(d.message.contains("the scan was replaced"), "{}", d.message);
}

/// A scan is at most [`urna_model::scan::MAX_SCAN`] bytes (intake refuses larger): a mirror
/// that answers a scan's name with more is named by that bound, read no further than one byte
/// past it (a gigabyte a scan, fetched several at once, was held whole to be hashed).
#[test]
fn a_scan_larger_than_any_scan_is_refused_by_its_size() {
    let f = fixture();
    let mut source = f.bundle(&f.entries);
    let path = blob_path(&sha256(SCAN));
    source
        .files
        .insert(path.clone(), vec![b'%'; urna_model::scan::MAX_SCAN + 1]);
    let r = run(&source, None);
    assert_eq!(kinds(&r), [Kind::BlobMismatch], "{}", r.summary());
    let d = &r.discrepancies[0];
    assert_eq!((d.file.as_deref(), d.index), (Some(path.as_str()), Some(1)));
    assert!(
        d.message.contains(&format!(
            "{path}: larger than {} bytes, the most a scan can be, but entry 1",
            urna_model::scan::MAX_SCAN
        )),
        "{}",
        d.message
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn a_gz_copy_must_decompress_to_exactly_its_file() {
    let f = fixture();
    let honest = f.bundle(&f.entries);
    let results = honest.files["v1/results.json"].clone();
    let election = honest.files["v1/election.json"].clone();

    // Good copies (of a derived file and of a file checked on its own) are accounted for.
    let mut source = f.bundle(&f.entries);
    source
        .files
        .insert("v1/results.json.gz".into(), gzip(&results));
    source
        .files
        .insert("v1/election.json.gz".into(), gzip(&election));
    let r = run(&source, None);
    assert!(r.verified, "{}", r.summary());
    assert_eq!(r.counts.files_listed, Some(honest.files.len() as u64 + 2));

    // Altered copies are named; a copy without its file is unexpected.
    let mut other = results.clone();
    let last = other.len() - 2;
    other[last] ^= 1;
    let mut trailing = gzip(&results);
    trailing.extend_from_slice(b"<script>");
    let cases: [(&str, Vec<u8>, Kind, &str); 6] = [
        (
            "v1/results.json.gz",
            gzip(&other),
            Kind::GzMismatch,
            "differ from",
        ),
        (
            "v1/results.json.gz",
            gzip(&[results.as_slice(), b" "].concat()),
            Kind::GzMismatch,
            "inflates to more than",
        ),
        (
            "v1/results.json.gz",
            gzip(&results[..results.len() - 1]),
            Kind::GzMismatch,
            "differ from",
        ),
        (
            "v1/results.json.gz",
            results.clone(),
            Kind::GzMismatch,
            "not a gzip stream",
        ),
        (
            "v1/results.json.gz",
            trailing,
            Kind::GzMismatch,
            "bytes follow",
        ),
        (
            "v1/orphan.json.gz",
            gzip(&results),
            Kind::FileUnexpected,
            "no such file",
        ),
    ];
    for (path, bytes, kind, says) in cases {
        let mut source = f.bundle(&f.entries);
        source.files.insert(path.into(), bytes);
        let r = run(&source, None);
        assert_eq!(kinds(&r), [kind], "{says}: {}", r.summary());
        let d = &r.discrepancies[0];
        assert_eq!(d.file.as_deref(), Some(path));
        assert!(d.message.contains(says), "{says}: {}", d.message);
    }
    assert_eq!(Kind::GzMismatch.as_str(), "gz-mismatch");
}

#[test]
fn every_file_nothing_accounts_for_is_unexpected() {
    let f = fixture();
    let honest = f.bundle(&f.entries);
    let extra = [
        "v1/areas/X.json",
        "csv/evil.csv",
        "web/evil.js",
        "evil.html",
        "v1/nothing.json.gz",
        "csv/evil.csv.gz",
        "tile/0/evil",
        "blob/sha256/evil.html",
        "blob/evil",
    ];
    let mut source = honest;
    for path in extra {
        source
            .files
            .insert(path.into(), b"<script>alert(1)</script>".to_vec());
    }
    // A content-addressed blob nothing names is unexpected even if its bytes hash to its
    // name; one whose bytes do not is a mismatch.
    let kept = b"a scan nothing names".as_slice();
    let unnamed = blob_path(&sha256(kept));
    source.files.insert(unnamed.clone(), kept.to_vec());
    let forged = blob_path(&sha256(b"the name"));
    source.files.insert(forged.clone(), b"other bytes".to_vec());
    // A tile of a larger tree (the tile directory is shared by the generations) is fine.
    source
        .files
        .insert("tile/entries/x001/000".into(), Vec::new());
    let r = run(&source, None);
    let mut unexpected: Vec<&str> = r
        .discrepancies
        .iter()
        .filter(|d| d.kind == Kind::FileUnexpected)
        .filter_map(|d| d.file.as_deref())
        .collect();
    unexpected.sort_unstable();
    let mut want = extra.to_vec();
    want.sort_unstable();
    assert_eq!(unexpected, want, "{}", r.summary());
    let mismatched: Vec<&str> = r
        .discrepancies
        .iter()
        .filter(|d| d.kind == Kind::BlobMismatch)
        .filter_map(|d| d.file.as_deref())
        .collect();
    assert_eq!(mismatched, [forged.as_str()], "{}", r.summary());
    let named_by_nothing: Vec<&str> = r
        .discrepancies
        .iter()
        .filter(|d| d.kind == Kind::BlobUnnamed)
        .filter_map(|d| d.file.as_deref())
        .collect();
    assert_eq!(named_by_nothing, [unnamed.as_str()], "{}", r.summary());
    assert_eq!(r.discrepancies.len(), extra.len() + 2, "{}", r.summary());
    assert!(
        r.summary()
            .contains("evil.html: published, but the log and the definition yield no such file"),
        "{}",
        r.summary()
    );

    // A web server cannot list its files: nothing is looked for beyond what is named, and the
    // report says so.
    source.listable = false;
    let r = run(&source, None);
    assert!(r.verified, "{}", r.summary());
    assert_eq!(r.counts.files_listed, None);
    assert!(
        r.summary()
            .contains("files beyond those named were not looked for")
    );
}

/// A live bundle: the next generation's tiles and scans are in the shared `tile/` and `blob/`
/// before its checkpoint goes live. A scan named by a signed note in those tiles is accounted
/// for; a blob named only by a note whose signature fails, or by nothing, is not.
#[test]
fn a_scan_of_the_next_generation_is_accounted_for_and_nothing_else() {
    let f = fixture();
    let mut source = f.bundle(&f.entries);
    let station = f.sim.station(7);
    let later_scan = b"%PDF-1.7\nthe next generation's paper\n".as_slice();
    let forged_scan = b"%PDF-1.7\nnamed only by a forged note\n".as_slice();
    let mut body = station.body.clone();
    body.scan = Some(sha256(later_scan));
    let signed = station.signer.sign_text(&body.to_text()).to_bytes();
    body.scan = Some(sha256(forged_scan));
    let forged = f
        .sim
        .station(8)
        .signer
        .sign_text(&body.to_text())
        .to_bytes();
    let mut next = f.entries.clone();
    next.push(signed);
    next.push(forged);
    // The next generation's entry bundle, at its own (wider or next) tile path.
    rewrite_entry_tile(&mut source, &next, next.len() - 1);
    if (next.len() - 1).is_multiple_of(256) {
        rewrite_entry_tile(&mut source, &next, next.len() - 2);
    }
    source
        .files
        .insert(blob_path(&sha256(later_scan)), later_scan.to_vec());
    let r = run(&source, None);
    assert!(r.verified, "{}", r.summary());

    source
        .files
        .insert(blob_path(&sha256(forged_scan)), forged_scan.to_vec());
    let r = run(&source, None);
    assert_eq!(kinds(&r), [Kind::BlobUnnamed], "{}", r.summary());
    let d = &r.discrepancies[0];
    assert_eq!(
        d.file.as_deref(),
        Some(blob_path(&sha256(forged_scan)).as_str())
    );
    assert!(
        d.message
            .contains("neither the definition nor a signed note of the log"),
        "{}",
        d.message
    );
    assert!(r.summary().contains("blob-unnamed"), "{}", r.summary());
}

/// Only the log key pinned: the witness named by the bundle's keys.json is checked against
/// the key the file gives and reported as not pinned; it never makes a quorum.
fn log_key_only() -> Trust {
    Trust::new(&fixture().log.verifier().to_vkey(), &[], None).unwrap()
}

#[test]
fn with_only_the_log_key_an_honest_bundle_verifies_and_says_the_quorum_went_unchecked() {
    let f = fixture();
    let r = verify(&f.bundle(&f.entries), &log_key_only(), None, &|_| {}).unwrap();
    let summary = r.summary();
    assert!(r.verified, "{summary}");
    assert_eq!((r.witnesses.quorum, r.witnesses.trusted), (0, 0));
    assert!(r.witnesses.cosigned.is_empty() && r.witnesses.unknown.is_empty());
    let names: Vec<&str> = r
        .witnesses
        .unpinned
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["agency"]);
    assert_eq!(r.witnesses.unpinned[0].timestamp, COSIGNED_AT);
    // The CDF date is a cosignature time of that witness, and said to be only that.
    let cdf = r.cdf.as_ref().unwrap();
    assert!(!cdf.pinned && cdf.witness == "agency", "{cdf:?}");
    for want in [
        "none pinned by you (no --witness or --trust): the witness quorum was not checked",
        "cosigned by 1 witness named by the bundle itself, not pinned by you: agency at ",
        "(a witness named by the bundle itself, not pinned by you)",
        "\nVERIFIED against the log key only: ",
        "witnesses not pinned: pass --trust FILE or --witness KEY to check the witness quorum",
    ] {
        assert!(summary.contains(want), "{want:?} in:\n{summary}");
    }
    let json: serde_json::Value = serde_json::from_slice(&r.to_json()).unwrap();
    assert_eq!(json["verified"], true);
    assert_eq!(json["witnesses"]["unpinned"][0]["name"], "agency");
    assert_eq!(json["cdf"]["pinned"], false);
}

#[test]
fn with_only_the_log_key_a_keys_file_that_does_not_match_the_cosignatures_is_caught() {
    let f = fixture();
    let honest = f.bundle(&f.entries);
    let real = f.witness.verifier().to_vkey();
    let text = String::from_utf8(honest.files[public::KEYS_JSON].clone()).unwrap();

    // Another key under the witness's name: the checkpoint's line is by another key id.
    let other = CosignatureSigner::from_seed("agency", &[40; 32])
        .unwrap()
        .verifier()
        .to_vkey();
    let mut source = honest.clone();
    source.files.insert(
        public::KEYS_JSON.into(),
        text.replace(&real, &other).into_bytes(),
    );
    let r = verify(&source, &log_key_only(), None, &|_| {}).unwrap();
    // The CDF date is then the time of no verified cosignature either.
    assert_eq!(
        kinds(&r),
        [Kind::Keys, Kind::FileMismatch],
        "{}",
        r.summary()
    );
    let d = &r.discrepancies[0];
    assert_eq!(d.field.as_deref(), Some("witnesses[0].key"));
    assert_eq!(d.found.as_deref(), Some(other.as_str()));
    assert!(
        d.message.contains("lists witness `agency` with key id ")
            && d.message
                .contains("but the checkpoint's cosignature from `agency` is by key id"),
        "{}",
        d.message
    );
    assert!(r.witnesses.unpinned.is_empty());
    assert!(r.summary().ends_with("NOT VERIFIED\n"));

    // Not a key at all.
    let mut source = honest.clone();
    source.files.insert(
        public::KEYS_JSON.into(),
        text.replace(&real, "agency+nope").into_bytes(),
    );
    let r = verify(&source, &log_key_only(), None, &|_| {}).unwrap();
    assert_eq!(
        kinds(&r),
        [Kind::Keys, Kind::FileMismatch],
        "{}",
        r.summary()
    );
    assert!(
        r.discrepancies[0]
            .message
            .contains("is not a cosignature/v1 verifier key"),
        "{}",
        r.summary()
    );

    // The right key id, but a line that does not verify under it (a cosignature of another
    // checkpoint pasted under this one).
    let mut source = honest;
    let cp = String::from_utf8(source.files["checkpoint"].clone()).unwrap();
    let note = Note::parse(cp.as_bytes()).unwrap();
    let foreign = f
        .witness
        .cosign_at(&note.text().replacen('\n', "\n1", 1), COSIGNED_AT)
        .unwrap();
    let line = urna_tlog::cosignature::signature_line(&foreign);
    let ours = cp
        .lines()
        .find(|l| l.starts_with("\u{2014} agency "))
        .unwrap();
    source.files.insert(
        "checkpoint".into(),
        cp.replace(&format!("{ours}\n"), &line).into_bytes(),
    );
    let r = verify(&source, &log_key_only(), None, &|_| {}).unwrap();
    assert!(
        kinds(&r).contains(&Kind::CosignatureInvalid),
        "{}",
        r.summary()
    );
    // Without a verified cosignature, the CDF date is the time of none.
    let cdf = r
        .discrepancies
        .iter()
        .find(|d| d.field.as_deref() == Some("GeneratedDate"))
        .unwrap_or_else(|| panic!("{}", r.summary()));
    assert!(
        cdf.message.contains(
            "by a witness you pinned: none; by a witness named only by v1/keys.json: none"
        ),
        "{}",
        cdf.message
    );
}

#[test]
fn the_render_jobs_give_exactly_what_render_gives() {
    let f = fixture();
    let defs = DefinitionFiles::new(&f.election, f.toml.as_bytes(), f.csv.as_bytes()).unwrap();
    let mut replay = Replay::new(&f.election).unwrap();
    for (i, e) in f.entries.iter().enumerate() {
        replay.apply(&f.election, i as u64, e).unwrap();
    }
    let cp_bytes = f.checkpoint(f.entries.len() as u64, Hash([1; 32]));
    let cp = public::checked_checkpoint(&f.election, &replay, &cp_bytes).unwrap();
    let mut expected = public::render(&f.election, &defs, &replay, &cp_bytes).unwrap();
    expected.extend(urna_forensics::bundle::render(&f.election, &replay).unwrap());
    assert_eq!(
        render::render_all(&f.election, &defs, &replay, &cp).unwrap(),
        expected
    );
}

#[test]
fn an_altered_entry_is_named_with_its_station_and_field() {
    let f = fixture();
    let mut source = f.bundle(&f.entries);
    let index = 7;
    let text = String::from_utf8(f.entries[index].clone()).unwrap();
    let line = text.lines().find(|l| l.starts_with("votes: ")).unwrap();
    let (list, n) = line["votes: ".len()..].split_once(' ').unwrap();
    let more = n.parse::<u64>().unwrap() + 50;
    let mut entries = f.entries.clone();
    entries[index] = text
        .replacen(line, &format!("votes: {list} {more}"), 1)
        .into_bytes();
    rewrite_entry_tile(&mut source, &entries, index);
    let r = run(&source, None);
    assert!(!r.verified);
    let station = f.sim.station(index as u32 - 1).id;
    let d = r
        .discrepancies
        .iter()
        .find(|d| d.kind == Kind::Entry)
        .unwrap();
    assert_eq!(d.index, Some(index as u64));
    assert_eq!(d.station.as_deref(), Some(station.as_str()));
    assert_eq!(d.field.as_deref(), Some(format!("votes {list}").as_str()));
    assert_eq!(
        (d.expected.as_deref(), d.found.as_deref()),
        (Some(n), Some(more.to_string().as_str()))
    );
    assert!(d.message.contains("does not verify"), "{}", d.message);
    let k = kinds(&r);
    for want in [Kind::HashTile, Kind::RootMismatch, Kind::NotRecomputed] {
        assert!(k.contains(&want), "{want:?} in {k:?}");
    }
    let tile = r
        .discrepancies
        .iter()
        .find(|d| d.kind == Kind::HashTile)
        .unwrap();
    assert_eq!(tile.index, Some(index as u64));
}

#[test]
fn an_amendment_moved_before_its_protocol_is_named() {
    let f = fixture();
    let amendment = f.entries.len() - 1;
    let note = Note::parse(&f.entries[amendment]).unwrap();
    let station = note
        .text()
        .lines()
        .find_map(|l| l.strip_prefix("station: "))
        .unwrap()
        .to_owned();
    let protocol = (1..f.entries.len())
        .find(|&i| {
            String::from_utf8_lossy(&f.entries[i]).contains(&format!("station: {station}\n"))
        })
        .unwrap();
    let mut entries = f.entries.clone();
    entries.swap(protocol, amendment);
    let mut source = f.bundle(&f.entries);
    rewrite_entry_tile(&mut source, &entries, protocol);
    rewrite_entry_tile(&mut source, &entries, amendment);
    let r = run(&source, None);
    let d = r
        .discrepancies
        .iter()
        .find(|d| d.kind == Kind::Entry)
        .unwrap();
    assert_eq!(d.index, Some(protocol as u64));
    assert_eq!(d.station.as_deref(), Some(station.as_str()));
    assert_eq!(d.field.as_deref(), Some("supersedes"));
    assert!(
        d.message.contains("nothing to amend") || d.message.contains("no entry to amend"),
        "{}",
        d.message
    );
    assert!(kinds(&r).contains(&Kind::RootMismatch));
}

#[test]
fn missing_tiles_and_files_are_discrepancies() {
    let f = fixture();
    let honest = f.bundle(&f.entries);
    let mut s = honest.clone();
    s.files.remove("v1/quarantine.json");
    assert_eq!(kinds(&run(&s, None)), [Kind::FileMissing]);

    let mut s = honest.clone();
    s.files.remove("tile/0/000");
    assert_eq!(kinds(&run(&s, None)), [Kind::TileMissing]);

    // A partial tile may be replaced by the full one; a missing one means unreadable entries.
    let mut s = honest.clone();
    let last = s
        .files
        .keys()
        .find(|k| k.starts_with("tile/entries/") && k.contains(".p/"))
        .unwrap()
        .clone();
    s.files.remove(&last);
    let r = run(&s, None);
    let k = kinds(&r);
    assert!(
        k.starts_with(&[Kind::TileMissing]) && k.contains(&Kind::RootMismatch),
        "{k:?}"
    );
    assert!(k.contains(&Kind::NotRecomputed), "{k:?}");

    let mut s = honest.clone();
    let blob = s
        .files
        .keys()
        .find(|k| k.starts_with("blob/"))
        .unwrap()
        .clone();
    s.files.insert(blob, b"tampered".to_vec());
    let k = kinds(&run(&s, None));
    assert!(k.starts_with(&[Kind::BlobMismatch]), "{k:?}");

    let mut s = honest;
    let results = String::from_utf8(s.files["v1/results.json"].clone()).unwrap();
    s.files.insert(
        "v1/results.json".into(),
        results
            .replacen("\"votes_total\": ", "\"votes_total\": 1", 1)
            .into_bytes(),
    );
    let r = run(&s, None);
    let [d] = r.discrepancies.as_slice() else {
        panic!("{:?}", r.discrepancies)
    };
    assert_eq!(d.kind, Kind::FileMismatch);
    assert_eq!(d.field.as_deref(), Some("contests[0].national.votes_total"));
}

#[test]
fn since_tells_growth_from_rollback_and_fork() {
    let f = fixture();
    let short = &f.entries[..200];
    let old = run(&f.bundle(short), None);
    assert!(old.verified, "{}", old.summary());
    let cp = old.checkpoint.unwrap();
    let state = State::new(
        &cp.origin,
        cp.size,
        &Hash::from_base64(&cp.root_hash).unwrap(),
        &cp.note,
    );

    let grown = run(&f.bundle(&f.entries), Some(&state));
    assert!(grown.verified, "{}", grown.summary());
    assert!(grown.since.unwrap().consistent);

    let newer = State::new(&cp.origin, 250, &Hash([5; 32]), "");
    let back = run(&f.bundle(short), Some(&newer));
    assert_eq!(kinds(&back), [Kind::Rollback]);
    assert!(back.discrepancies[0].message.contains("fewer than the 250"));

    let forked = State::new(&cp.origin, 150, &Hash([5; 32]), "");
    let fork = run(&f.bundle(short), Some(&forked));
    assert_eq!(kinds(&fork), [Kind::Fork]);

    let other = State::new("urna/other", 1, &Hash([5; 32]), "");
    assert!(matches!(
        verify(&f.bundle(short), &f.trust(), Some(&other), &|_| {}),
        Err(VerifyError::StateOrigin { .. })
    ));
}

#[test]
fn a_bundle_replaced_while_verified_could_not_be_verified() {
    let f = fixture();
    let old = f.bundle(&f.entries[..200]);
    let new = f.bundle(&f.entries);
    // Checkpoint and tiles of the old generation, derived files of the new one.
    let mut mixed = new.clone();
    for (k, v) in &old.files {
        if k == "checkpoint" || k.starts_with("tile/") {
            mixed.files.insert(k.clone(), v.clone());
        }
    }
    mixed.next_checkpoint = Some(new.files["checkpoint"].clone());
    assert!(matches!(
        verify(&mixed, &f.trust(), None, &|_| {}),
        Err(VerifyError::BundleChanged { from: 200, .. })
    ));
}

#[test]
fn a_checkpoint_claiming_far_more_entries_than_published_is_not_read_forever() {
    let f = fixture();
    let mut s = f.bundle(&f.entries);
    let claimed = f.entries.len() as u64 + 400_000;
    s.files
        .insert("checkpoint".into(), f.checkpoint(claimed, Hash([3; 32])));
    let r = run(&s, None);
    let gave_up = r
        .discrepancies
        .iter()
        .find(|d| d.message.starts_with("gave up after 1024 missing"))
        .unwrap_or_else(|| panic!("{}", r.summary()));
    assert_eq!(gave_up.kind, Kind::TileMissing);
    assert!(r.discrepancies.len() < 1100, "{}", r.discrepancies.len());
}

#[test]
fn the_cdf_export_is_recomputed_and_its_date_must_be_a_cosignature_time() {
    let f = fixture();
    let honest = f.bundle(&f.entries);
    let path = urna_tally::cdf::BUNDLE_PATH;
    let r = run(&honest, None);
    assert!(r.verified, "{}", r.summary());

    // Absent: fine.
    let mut source = honest.clone();
    source.files.remove(path);
    let r = run(&source, None);
    assert!(r.verified, "{}", r.summary());
    assert_eq!(
        r.counts.files_compared + 1,
        run(&honest, None).counts.files_compared
    );

    // Another GeneratedDate than a trusted cosignature's time.
    let mut source = honest.clone();
    let good = urna_tally::cdf::rfc3339_utc(COSIGNED_AT).unwrap();
    let other = urna_tally::cdf::rfc3339_utc(COSIGNED_AT + 60).unwrap();
    let text = String::from_utf8(source.files[path].clone()).unwrap();
    source
        .files
        .insert(path.into(), text.replacen(&good, &other, 1).into_bytes());
    let r = run(&source, None);
    let d = r
        .discrepancies
        .iter()
        .find(|d| d.file.as_deref() == Some(path))
        .unwrap_or_else(|| panic!("{}", r.summary()));
    assert_eq!(d.field.as_deref(), Some("GeneratedDate"));
    assert_eq!(d.found.as_deref(), Some(other.as_str()));

    // A changed number: named by JSON path.
    let mut source = honest;
    let mut bytes = source.files[path].clone();
    let at = bytes
        .windows(b"\"VotersRegistered\":".len())
        .position(|w| w == b"\"VotersRegistered\":")
        .unwrap()
        + b"\"VotersRegistered\":".len();
    bytes[at] = if bytes[at] == b'9' { b'8' } else { b'9' };
    source.files.insert(path.into(), bytes);
    let r = run(&source, None);
    assert_eq!(kinds(&r), [Kind::FileMismatch], "{}", r.summary());
}

#[test]
fn the_keys_file_must_be_there_and_name_the_trusted_keys() {
    let f = fixture();
    let mut source = f.bundle(&f.entries);
    source.files.remove(public::KEYS_JSON);
    let r = run(&source, None);
    assert_eq!(kinds(&r), [Kind::Keys], "{}", r.summary());
    assert_eq!(r.discrepancies[0].file.as_deref(), Some(public::KEYS_JSON));

    let mut source = f.bundle(&f.entries);
    let other = NoteSigner::from_seed(&f.election.log_origin(), &[10; 32])
        .unwrap()
        .verifier()
        .to_vkey();
    let text = String::from_utf8(source.files[public::KEYS_JSON].clone()).unwrap();
    let trusted = f.log.verifier().to_vkey();
    source.files.insert(
        public::KEYS_JSON.into(),
        text.replace(&trusted, &other).into_bytes(),
    );
    let r = run(&source, None);
    assert_eq!(kinds(&r), [Kind::Keys], "{}", r.summary());
    let d = &r.discrepancies[0];
    assert_eq!(d.field.as_deref(), Some("log.key"));
    assert_eq!(
        (d.expected.as_deref(), d.found.as_deref()),
        (Some(trusted.as_str()), Some(other.as_str()))
    );
}

#[test]
fn a_station_index_shard_is_checked_like_every_derived_file() {
    let f = fixture();
    let mut source = f.bundle(&f.entries);
    let s = f.sim.station(5).id;
    let path = public::station_index_path(public::station_shard(&s));
    let text = String::from_utf8(source.files[&path].clone()).unwrap();
    assert!(text.contains(&format!("\"id\":\"{s}\"")), "{text}");
    source.files.insert(
        path.clone(),
        text.replacen("\"unit\":\"", "\"unit\":\"X", 1).into_bytes(),
    );
    source
        .files
        .insert("v1/stations/extra.json".into(), b"{}".to_vec());
    let r = run(&source, None);
    assert!(!r.verified);
    assert!(
        r.discrepancies
            .iter()
            .any(|d| d.kind == Kind::FileMismatch && d.file.as_deref() == Some(path.as_str())),
        "{}",
        r.summary()
    );
    // 256 shards, every one of them written.
    let shards = source
        .files
        .keys()
        .filter(|k| k.starts_with("v1/stations/") && *k != "v1/stations/extra.json")
        .count();
    assert_eq!(shards, public::STATION_SHARDS);
}

/// A log that rotated its key after its protocols: the rotation entry, the checkpoint by the
/// new key, `v1/keys.json` naming the new key and the rotation. `rotation` is the entry to
/// log (honest: signed by both keys); `cp_key` signs the checkpoint.
fn rotated_bundle(rotation: Vec<u8>, cp_key: &NoteSigner, new: &NoteSigner) -> (MemSource, u64) {
    rotated_history(fixture().entries.clone(), rotation, cp_key, new)
}

/// [`rotated_bundle`] after the given history (`entries`, from the genesis on).
fn rotated_history(
    mut entries: Vec<Vec<u8>>,
    rotation: Vec<u8>,
    cp_key: &NoteSigner,
    new: &NoteSigner,
) -> (MemSource, u64) {
    let f = fixture();
    let index = entries.len() as u64;
    entries.push(rotation);
    let mut source = f.bundle_signed(&entries, cp_key);
    source.files.insert(
        public::KEYS_JSON.into(),
        serde_json::to_vec_pretty(&serde_json::json!({
            "format": "urna/keys/v1",
            "log": {
                "origin": f.election.log_origin(),
                "key": new.verifier().to_vkey(),
                "rotations": [{
                    "index": index,
                    "old": f.log.verifier().to_vkey(),
                    "new": new.verifier().to_vkey(),
                }],
            },
            "witnesses": [{"name": "agency", "key": f.witness.verifier().to_vkey()}],
            "quorum": 1,
        }))
        .unwrap(),
    );
    (source, index)
}

/// The RFC 6962 root of `entries`, as a rotation after them names it.
fn root_of(entries: &[Vec<u8>]) -> [u8; 32] {
    let mut tree = urna_tlog::Tree::new();
    let mut finished = Vec::new();
    for e in entries {
        tree.append(urna_tlog::hash::leaf_hash(e), &mut finished)
            .unwrap();
    }
    tree.root().0
}

/// The rotation from the fixture's log key to `new`, after the fixture's entries.
fn honest_rotation(f: &Fixture, new: &NoteSigner, reason: &str) -> Vec<u8> {
    use urna_model::rotation::RotationBody;
    let size = f.entries.len() as u64;
    RotationBody::sign(&f.log, new, size, &root_of(&f.entries), reason).unwrap()
}

#[test]
fn a_rotated_log_verifies_by_the_old_key_and_refuses_a_checkpoint_out_of_turn() {
    use urna_model::rotation::RotationBody;
    let f = fixture();
    let new = NoteSigner::from_seed(&f.election.log_origin(), &[10; 32]).unwrap();
    let honest = honest_rotation(f, &new, "scheduled");

    // Trusting the old key: the chain is followed to the new key's checkpoint.
    let (source, _) = rotated_bundle(honest.clone(), &new, &new);
    let r = run(&source, None);
    assert!(r.verified, "{}", r.summary());
    assert!(r.checkpoint.as_ref().unwrap().log_signature);
    // Trusting the new key alone: the same bundle.
    let trust_new = Trust::new(
        &new.verifier().to_vkey(),
        &[f.witness.verifier().to_vkey()],
        None,
    )
    .unwrap();
    let r = verify(&source, &trust_new, None, &|_| {}).unwrap();
    assert!(r.verified, "{}", r.summary());

    // The checkpoint that includes the rotation signed by the old key.
    let (source, _) = rotated_bundle(honest, &f.log, &new);
    let r = run(&source, None);
    assert_eq!(kinds(&r), [Kind::CheckpointKeyRotated], "{}", r.summary());

    // The new key signing a checkpoint whose tree does not include its rotation (the
    // rotation listed in v1/keys.json at the index it will have).
    let mut early = f.bundle_signed(&f.entries, &new);
    let (listed, _) = rotated_bundle(honest_rotation(f, &new, "scheduled"), &new, &new);
    early.files.insert(
        public::KEYS_JSON.into(),
        listed.files[public::KEYS_JSON].clone(),
    );
    let r = run(&early, None);
    assert!(
        kinds(&r).contains(&Kind::CheckpointKeyRotated),
        "{}",
        r.summary()
    );

    // A rotation signed by the new key alone (what whoever holds only the new key can make).
    let text = RotationBody::check(&honest_rotation(f, &new, "forged"))
        .unwrap()
        .to_text();
    let forged = new.sign_text(&text).to_bytes();
    let (source, index) = rotated_bundle(forged, &new, &new);
    let r = run(&source, None);
    let k = kinds(&r);
    assert!(k.contains(&Kind::KeyRotation), "{}", r.summary());
    assert!(k.contains(&Kind::CheckpointSignature), "{}", r.summary());
    let d = r
        .discrepancies
        .iter()
        .find(|d| d.kind == Kind::KeyRotation)
        .unwrap();
    assert_eq!(d.index, Some(index));
    assert!(d.message.contains("old key"), "{}", d.message);
}

/// The attack the rotation's `size` and `root` close: whoever holds only the new key rewrites
/// the history before the rotation (protocols dropped, or reordered), logs the same rotation
/// note again (both its signatures still verify) and signs the checkpoint with the new key.
/// Trusting the old key, the bundle is not verified: the rotation names another tree.
#[test]
fn a_history_rewritten_under_the_new_key_with_the_rotation_reused_is_not_verified() {
    let f = fixture();
    assert!(f.entries.len() >= 4, "the fixture has a few protocols");
    let new = NoteSigner::from_seed(&f.election.log_origin(), &[10; 32]).unwrap();
    let honest = honest_rotation(f, &new, "scheduled");
    // Protocols dropped: the rotation's `size` is no longer its index.
    let mut dropped = f.entries.clone();
    dropped.remove(1);
    // Two protocols swapped: the same size, another root.
    let mut swapped = f.entries.clone();
    swapped.swap(1, 2);
    for (history, field) in [(dropped, "field `size`"), (swapped, "field `root`")] {
        let (source, index) = rotated_history(history, honest.clone(), &new, &new);
        let r = run(&source, None);
        assert!(!r.verified, "{}", r.summary());
        let d = r
            .discrepancies
            .iter()
            .find(|d| d.kind == Kind::KeyRotation)
            .unwrap_or_else(|| panic!("no key-rotation discrepancy: {}", r.summary()));
        assert_eq!(d.index, Some(index));
        assert!(d.message.contains(field), "{field:?} not in {}", d.message);
    }
}

/// A rotation back to a key the log retired is refused by the replay.
#[test]
fn a_rotation_back_to_a_retired_key_is_not_verified() {
    use urna_model::rotation::RotationBody;
    let f = fixture();
    let new = NoteSigner::from_seed(&f.election.log_origin(), &[10; 32]).unwrap();
    let mut entries = f.entries.clone();
    entries.push(honest_rotation(f, &new, "scheduled"));
    let back = RotationBody::sign(
        &new,
        &f.log,
        entries.len() as u64,
        &root_of(&entries),
        "back",
    )
    .unwrap();
    let (source, index) = rotated_history(entries, back, &f.log, &f.log);
    let r = run(&source, None);
    assert!(!r.verified, "{}", r.summary());
    let d = r
        .discrepancies
        .iter()
        .find(|d| d.kind == Kind::KeyRotation && d.index == Some(index))
        .unwrap_or_else(|| panic!("no key-rotation discrepancy: {}", r.summary()));
    assert!(d.message.contains("retired"), "{}", d.message);
}

#[test]
fn stations_csv_compared_as_it_is_rendered_still_names_every_difference() {
    let f = fixture();
    let honest = f.bundle(&f.entries);
    let gz = "csv/stations.csv.gz";
    let csv = gunzip(&honest.files[gz]);
    // The plain file is not published: only its gzip is.
    assert!(!honest.files.contains_key(public::STATIONS_CSV));
    // A changed digit in the last row, the file cut short, a row added, the file gone.
    let mut changed = csv.clone();
    let at = changed.len() - 2;
    changed[at] = if changed[at] == b'7' { b'8' } else { b'7' };
    let cases: [(Option<Vec<u8>>, Kind); 4] = [
        (Some(changed), Kind::FileMismatch),
        (Some(csv[..csv.len() - 10].to_vec()), Kind::FileMismatch),
        (
            Some([csv.as_slice(), b"x,y\n".as_slice()].concat()),
            Kind::FileMismatch,
        ),
        (None, Kind::FileMissing),
    ];
    for (bytes, kind) in cases {
        let mut source = f.bundle(&f.entries);
        match bytes {
            Some(b) => source.files.insert(gz.into(), gzip(&b)),
            None => source.files.remove(gz),
        };
        let r = run(&source, None);
        assert!(!r.verified);
        assert!(
            r.discrepancies
                .iter()
                .any(|d| d.kind == kind && d.file.as_deref() == Some(gz)),
            "{kind:?}: {}",
            r.summary()
        );
    }
    // The right bytes, but plain under the .gz name, or with bytes after the gzip stream.
    for (bytes, says) in [
        (csv.clone(), "not a gzip stream"),
        ([gzip(&csv), b"x".to_vec()].concat(), "bytes follow"),
    ] {
        let mut source = f.bundle(&f.entries);
        source.files.insert(gz.into(), bytes);
        let r = run(&source, None);
        let [d] = r.discrepancies.as_slice() else {
            panic!("{says}: {}", r.summary())
        };
        assert_eq!((d.kind, d.file.as_deref()), (Kind::FileMismatch, Some(gz)));
        assert!(d.message.contains(says), "{says}: {}", d.message);
    }
}

fn gunzip(gz: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut out).unwrap();
    out
}

/// A unit file, published only as its gzip, is refused when it is altered, missing, holds a
/// station twice, is not gzip, or is published plain beside (or instead of) its gzip.
#[test]
fn a_unit_file_altered_missing_or_with_a_station_twice_is_refused() {
    let f = fixture();
    let honest = f.bundle(&f.entries);
    let (path, gz_bytes) = honest
        .files
        .iter()
        .find(|(p, _)| p.starts_with("v1/units/"))
        .map(|(p, b)| (p.clone(), b.clone()))
        .unwrap();
    assert!(path.ends_with(".json.gz"), "{path}");
    let plain = path.strip_suffix(".gz").unwrap().to_owned();
    assert!(!honest.files.contains_key(&plain));
    let json = String::from_utf8(gunzip(&gz_bytes)).unwrap();
    // The stations of the first contest, as the compact JSON lists them: `{"id":…},{"id":…}`.
    let start = json.find("\"stations\":[{\"id\":").unwrap() + "\"stations\":[".len();
    let next = |from: usize| from + 1 + json[from + 1..].find(",{\"id\":").unwrap();
    let (second, third) = (next(start), next(next(start)));
    let first_station = &json[start..second];
    let first: String = first_station["{\"id\":\"".len()..]
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    // A station's vote changed (the JSON stays valid).
    let votes = start + json[start..].find("\"votes\":{\"").unwrap() + "\"votes\":{\"".len();
    let list: String = json[votes..].split('"').next().unwrap().to_owned();
    let number = votes + list.len() + 2;
    let digits = json[number..].find(|c: char| !c.is_ascii_digit()).unwrap();
    let v: u64 = json[number..number + digits].parse().unwrap();
    let altered = format!("{}{}{}", &json[..number], v + 1, &json[number + digits..]);
    // The first station listed a second time, in place of the second.
    let twice = format!("{},{}{}", &json[..second], &first_station, &json[third..]);
    // The first station listed a second time, beside itself.
    let added = format!("{},{}{}", &json[..second], &first_station, &json[second..]);
    let compact = |s: &String| s.as_bytes().to_vec();
    let cases: [(&str, Option<Vec<u8>>, Kind); 4] = [
        (
            "altered",
            Some(gzip(&compact(&altered))),
            Kind::FileMismatch,
        ),
        ("missing", None, Kind::FileMissing),
        (
            "a station twice",
            Some(gzip(&compact(&twice))),
            Kind::FileMismatch,
        ),
        (
            "a station added again",
            Some(gzip(&compact(&added))),
            Kind::FileMismatch,
        ),
    ];
    for (what, bytes, kind) in cases {
        let mut source = f.bundle(&f.entries);
        match bytes {
            Some(b) => source.files.insert(path.clone(), b),
            None => source.files.remove(&path),
        };
        let r = run(&source, None);
        assert!(!r.verified, "{what}");
        let [d] = r.discrepancies.as_slice() else {
            panic!("{what}: {}", r.summary())
        };
        assert_eq!(d.kind, kind, "{what}: {}", d.message);
        assert_eq!(d.file.as_deref(), Some(path.as_str()), "{what}");
        if what == "altered" {
            assert_eq!(d.station.as_deref(), Some(first.as_str()), "{what}: {d:?}");
            assert!(
                d.field
                    .as_deref()
                    .is_some_and(|f| f.ends_with(&format!("votes.{list}"))),
                "{what}: {:?}",
                d.field
            );
        }
    }
    // The plain file beside its gzip is not what the bundle publishes; in place of it, the
    // gzip is missing too.
    let mut beside = f.bundle(&f.entries);
    beside
        .files
        .insert(plain.clone(), json.clone().into_bytes());
    let r = run(&beside, None);
    assert_eq!(kinds(&r), [Kind::FileUnexpected], "{}", r.summary());
    let mut instead = f.bundle(&f.entries);
    instead.files.remove(&path);
    instead.files.insert(plain, json.into_bytes());
    let mut k = kinds(&run(&instead, None));
    k.sort_by_key(|k| k.as_str());
    assert_eq!(k, [Kind::FileMissing, Kind::FileUnexpected]);
}

#[test]
fn a_gz_copy_larger_than_a_piece_is_compared_piece_by_piece() {
    let file: Vec<u8> = (0..crate::GZ_CHUNK * 3 + 17)
        .map(|i| b"0123456789,\n"[(i * 7 + i / 13) % 12])
        .collect();
    let boundary = file[..crate::GZ_CHUNK * 2].to_vec();
    let mut changed = file.clone();
    changed[crate::GZ_CHUNK + 5] ^= 1;
    let mut longer = file.clone();
    longer.extend_from_slice(&file[..crate::GZ_CHUNK]);
    let cases: [(&[u8], &[u8], Option<&str>); 5] = [
        (&file, &file, None),
        (&boundary, &boundary, None),
        (&file, &changed, Some("differ from")),
        (&file, &longer, Some("inflates to more than")),
        (&file, &file[..crate::GZ_CHUNK * 2], Some("differ from")),
    ];
    for (published, copy, says) in cases {
        let mut source = MemSource {
            files: BTreeMap::new(),
            next_checkpoint: None,
            checkpoint_fetches: Default::default(),
            listable: true,
        };
        source.files.insert("csv/a.csv".into(), published.to_vec());
        source.files.insert("csv/a.csv.gz".into(), gzip(copy));
        let d = crate::gz_copy(&source, "csv/a.csv.gz", "csv/a.csv").unwrap();
        match says {
            None => assert!(d.is_none(), "{d:?}"),
            Some(says) => {
                let d = d.unwrap();
                assert_eq!(d.kind, Kind::GzMismatch);
                assert!(d.message.contains(says), "{says}: {}", d.message);
            }
        }
    }
}
