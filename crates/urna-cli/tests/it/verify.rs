//! `urna verify` end to end, on bundles the real binary writes: a clean bundle verifies from
//! its directory and over HTTP from `urna serve`; then each test damages a fresh bundle one
//! way, as an attacker without the log key (or a broken mirror) could, and the verifier must
//! exit 1 naming what it found. Exit code 2 is kept for a verification that could not run.

use std::path::{Path, PathBuf};
use std::process::Output;

use urna_model::note::{Note, NoteSigner};
use urna_model::pack::{PackReader, write_note};
use urna_tlog::cosignature::CosignatureSigner;
use urna_tlog::tile::{Tile, TileKind, decode_entries, encode_entries, tiles_for_size};
use urna_tlog::{Checkpoint, TreeSize};

use crate::nginx::{Nginx, TlsSite, find_nginx};
use crate::server::Server;
use crate::{init, p, run, urna};

/// A whole election written by `urna demo`: protocols, quarantined ones, amendments, two
/// witnesses (quorum 2), and its bundle. The bundle is copied out, so a test can damage it
/// without touching the data directory's log (bundle tiles are hard links to it).
struct Demo {
    dir: tempfile::TempDir,
    store: PathBuf,
    /// The bundle root (`current` inside it is the live generation).
    bundle: PathBuf,
    log_key: String,
}

impl Demo {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("demo");
        run(
            &[
                "demo",
                "--data",
                p(&data),
                "--stations",
                "300",
                "--no-serve",
            ],
            0,
        );
        let store = data.join("store");
        let bundle = dir.path().join("bundle");
        copy_tree(&store.join("public"), &bundle);
        let log_key = run(&["log", "key", "--data", p(&store)], 0)
            .trim()
            .to_owned();
        Self {
            dir,
            store,
            bundle,
            log_key,
        }
    }

    fn current(&self) -> PathBuf {
        self.bundle.join("current")
    }

    /// `urna verify LOCATION --log-key K --trust store/witnesses.toml EXTRA…`.
    fn verify(&self, location: &str, extra: &[&str]) -> Output {
        urna()
            .args(["verify", location, "--log-key", &self.log_key, "--trust"])
            .arg(self.store.join("witnesses.toml"))
            .args(extra)
            .output()
            .unwrap()
    }

    /// Verifies the bundle, expects exit 1, and returns the output and the JSON report.
    fn tampered(&self) -> (String, serde_json::Value) {
        let json = self.dir.path().join("report.json");
        let o = self.verify(p(&self.bundle), &["--json", p(&json)]);
        let text = text(&o);
        assert_eq!(o.status.code(), Some(1), "{text}");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        assert_eq!(report["verified"], false);
        (text, report)
    }
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// `cp -a`: symlinks kept as they are (the bundle's are relative), files copied (not linked).
fn copy_tree(from: &Path, to: &Path) {
    let st = std::process::Command::new("cp")
        .args(["-a", p(from), p(to)])
        .status()
        .unwrap();
    assert!(st.success());
}

/// Replaces a file (never writing through a hard link).
fn replace(path: &Path, bytes: &[u8]) {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, bytes).unwrap();
}

fn checkpoint_size(current: &Path) -> u64 {
    let note = Note::parse(&std::fs::read(current.join("checkpoint")).unwrap()).unwrap();
    Checkpoint::parse_text(note.text()).unwrap().size.0
}

/// Every entry of the live generation, in index order.
fn entries(current: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for t in tiles_for_size(TreeSize(checkpoint_size(current))) {
        if t.kind() == TileKind::Entries {
            let bytes = std::fs::read(current.join(t.path())).unwrap();
            out.extend(
                decode_entries(&bytes, t.width())
                    .unwrap()
                    .into_iter()
                    .map(<[u8]>::to_vec),
            );
        }
    }
    out
}

/// Writes `entries` into the entry bundles of the checkpoint's size, as an attacker who
/// edits the log's files would: bundle `n` holds entries `256n…`, whatever is left of them.
fn write_entries(current: &Path, entries: &[Vec<u8>]) {
    for t in tiles_for_size(TreeSize(checkpoint_size(current))) {
        if t.kind() != TileKind::Entries {
            continue;
        }
        let first = (t.index() * 256) as usize;
        let end = (first + usize::from(t.width())).min(entries.len());
        replace(
            &current.join(t.path()),
            &encode_entries(&entries[first..end]).unwrap(),
        );
    }
}

fn station_of(entry: &[u8]) -> String {
    String::from_utf8_lossy(entry)
        .lines()
        .find_map(|l| l.strip_prefix("station: "))
        .unwrap()
        .to_owned()
}

/// The index of the first amendment, and of its station's protocol.
fn amended(entries: &[Vec<u8>]) -> (usize, usize, String) {
    let a = entries
        .iter()
        .position(|e| e.starts_with(b"urna/amendment/v1\n"))
        .unwrap();
    let station = station_of(&entries[a]);
    let protocol = entries
        .iter()
        .position(|e| e.starts_with(b"urna/protocol/v1\n") && station_of(e) == station)
        .unwrap();
    (a, protocol, station)
}

fn discrepancy<'a>(report: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    report["discrepancies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {report:#}"))
}

#[test]
fn a_clean_bundle_verifies_from_its_directory_and_over_http() {
    let d = Demo::new();
    let o = d.verify(p(&d.bundle), &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("2 of 2 required cosigned: cyber-security-agency at ")
            && out.contains(", observer-mission at "),
        "{out}"
    );
    assert!(out.contains("VERIFIED"), "{out}");
    assert!(
        out.contains("300 in the definition; 300 reporting"),
        "{out}"
    );

    // The recomputed totals and seats are the published ones (the files are compared byte
    // for byte; here they are read back from the machine report too).
    let o = d.verify(p(&d.current()), &["--json", "-"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.current().join("v1/results.json")).unwrap())
            .unwrap();
    let contest = &results["contests"][0];
    let totals = &report["totals"][0];
    for pair in totals["votes"].as_array().unwrap() {
        let (list, votes) = (pair[0].as_str().unwrap(), &pair[1]);
        assert_eq!(&contest["national"]["votes"][list], votes, "{list}");
    }
    let seats: Vec<(String, u64)> = contest["seats"]["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["list"].as_str().unwrap().to_owned(),
                l["seats"].as_u64().unwrap(),
            )
        })
        .collect();
    let recomputed: Vec<(String, u64)> = totals["seats"]["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l[0].as_str().unwrap().to_owned(), l[1].as_u64().unwrap()))
        .collect();
    assert_eq!(recomputed, seats);
    assert_eq!(seats.iter().map(|s| s.1).sum::<u64>(), 140);
    assert_eq!(
        report["counts"]["files_compared"],
        report["counts"]["files_identical"]
    );

    // Over HTTP from the commission's own server, which serves the same bundle.
    let server = Server::start(&d.store, &[]);
    let o = d.verify(&server.url, &["--json", "-"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let over_http: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(over_http["totals"], report["totals"]);
    assert_eq!(
        over_http["counts"]["files_identical"],
        report["counts"]["files_identical"]
    );
    drop(server);
}

/// Adds `votes` to the first list's count in entry `index` of the bundle at `current`, as an
/// attacker without the station's key can: the entries after the change, the list, the count
/// before and after.
fn add_votes(current: &Path, index: usize, votes: u64) -> (Vec<Vec<u8>>, String, String, u64) {
    let mut all = entries(current);
    let text = String::from_utf8(all[index].clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("votes: "))
        .unwrap()
        .to_owned();
    let (list, n) = line["votes: ".len()..].split_once(' ').unwrap();
    let more = n.parse::<u64>().unwrap() + votes;
    all[index] = text
        .replacen(&line, &format!("votes: {list} {more}"), 1)
        .into_bytes();
    write_entries(current, &all);
    (all, list.to_owned(), n.to_owned(), more)
}

#[test]
fn an_altered_vote_count_in_an_entry_is_caught() {
    let d = Demo::new();
    let current = d.current();
    let index = 5;
    let (all, list, n, more) = add_votes(&current, index, 100);

    let (out, report) = d.tampered();
    let station = station_of(&all[index]);
    assert!(
        out.contains(&format!(
            "[entry] entry {index}: station {station}: signature by key {station}+"
        )) && out.contains(&format!(
            "its `votes {list}` is {more}, but the published v1/units/"
        )),
        "{out}"
    );
    let e = discrepancy(&report, "entry");
    assert_eq!(e["index"], index as u64);
    assert_eq!(e["station"], station.as_str());
    assert_eq!(e["field"], format!("votes {list}").as_str());
    assert_eq!(
        (e["expected"].as_str(), e["found"].as_str()),
        (Some(n.as_str()), Some(more.to_string().as_str()))
    );
    // The log no longer hashes to the signed root, and the hash tile names the entry.
    assert!(out.contains("[root-mismatch]"), "{out}");
    assert_eq!(discrepancy(&report, "hash-tile")["index"], index as u64);
}

/// A gzip stream of `gib` GiB of zeros in a few MiB: one megabyte of zeros deflated and
/// sync-flushed (so that it ends on a byte), repeated, then an empty final block and a
/// trailer that does not match (a decoder holds everything before it finds out).
fn gzip_bomb(gib: usize) -> Vec<u8> {
    let mut deflate = flate2::Compress::new(flate2::Compression::best(), false);
    let mut block = Vec::with_capacity(1 << 20);
    deflate
        .compress_vec(&vec![0; 1 << 20], &mut block, flate2::FlushCompress::Sync)
        .unwrap();
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    for _ in 0..gib << 10 {
        gz.extend_from_slice(&block);
    }
    gz.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    gz.extend_from_slice(&[0; 8]);
    gz
}

/// A hostile mirror serving an altered entry and, for the unit file the verifier reads to
/// explain it, a gzip of a few MiB that inflates to 4 GiB: the verifier reports the altered
/// entry (exit 1) holding less than 1 GiB, where it used to inflate the whole stream (a
/// larger one would have taken every byte of an observer's memory).
#[test]
fn a_unit_file_that_inflates_without_end_cannot_exhaust_the_verifier() {
    let d = Demo::new();
    let current = d.current();
    let index = 5;
    let (all, ..) = add_votes(&current, index, 100);
    let bomb = gzip_bomb(4);
    let units = current.join("v1/units");
    let mut replaced = 0;
    for f in std::fs::read_dir(&units).unwrap() {
        let path = f.unwrap().path();
        if path.to_string_lossy().ends_with(".json.gz") {
            replace(&path, &bomb);
            replaced += 1;
        }
    }
    assert!(replaced > 0, "no unit files in {}", units.display());

    let log = d.dir.path().join("verify.out");
    let mut child = urna()
        .args(["verify", p(&d.bundle), "--log-key", &d.log_key, "--trust"])
        .arg(d.store.join("witnesses.toml"))
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The child's peak resident memory (VmHWM, a high-water mark), read until it exits.
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let status = loop {
        if let Some(hwm) = std::fs::read_to_string(&status_file).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        }) {
            peak_kib = peak_kib.max(hwm);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let out = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        peak_kib < 1 << 20,
        "urna verify held {peak_kib} KiB at its peak; a unit file is inflated to at most 64 MiB"
    );
    let station = station_of(&all[index]);
    assert!(
        out.contains(&format!("[entry] entry {index}: station {station}:")),
        "{out}"
    );
}

#[test]
fn files_added_anywhere_in_the_bundle_are_caught() {
    let d = Demo::new();
    let current = d.current();
    let added = [
        "v1/areas/X.json",
        "csv/evil.csv",
        "web/evil.js",
        "evil.html",
    ];
    for path in added {
        let full = current.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, b"<script>alert(1)</script>").unwrap();
    }

    let (out, report) = d.tampered();
    for path in added {
        assert!(
            out.contains(&format!(
                "{path}: published, but the log and the definition yield no such file"
            )),
            "{path}: {out}"
        );
    }
    let mut named: Vec<&str> = report["discrepancies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["kind"], "file-unexpected", "{d}");
            d["file"].as_str().unwrap()
        })
        .collect();
    named.sort_unstable();
    let mut want = added.to_vec();
    want.sort_unstable();
    assert_eq!(named, want);
    assert!(report["counts"]["files_listed"].as_u64().unwrap() > 300);
}

#[test]
fn a_gz_copy_other_than_its_file_or_without_one_is_caught() {
    let d = Demo::new();
    let current = d.current();
    // `urna publish` wrote precompressed copies; a clean bundle with them verifies (above).
    for has in ["v1/results.json.gz", "v1/election.json.gz", "index.html.gz"] {
        assert!(current.join(has).is_file(), "the bundle has no {has}");
    }
    // A valid gzip stream of another file in place of results.json's copy, and a copy
    // whose file is not there.
    let other = std::fs::read(current.join("v1/election.json.gz")).unwrap();
    replace(&current.join("v1/results.json.gz"), &other);
    std::fs::write(current.join("v1/orphan.json.gz"), &other).unwrap();

    let (out, report) = d.tampered();
    assert!(
        out.contains("v1/results.json.gz: it inflates to")
            && out.contains("a web server would send it in place of v1/results.json"),
        "{out}"
    );
    assert_eq!(
        discrepancy(&report, "gz-mismatch")["file"],
        "v1/results.json.gz"
    );
    assert_eq!(
        discrepancy(&report, "file-unexpected")["file"],
        "v1/orphan.json.gz"
    );
    assert_eq!(report["discrepancies"].as_array().unwrap().len(), 2);
}

#[test]
fn a_removed_entry_is_caught() {
    let d = Demo::new();
    let current = d.current();
    let mut all = entries(&current);
    let (amendment, protocol, station) = amended(&all);
    all.remove(protocol);
    write_entries(&current, &all);

    let (out, report) = d.tampered();
    // Every later entry moved down by one: the amendment now has nothing to amend.
    assert!(
        out.contains(&format!(
            "entry {}: station {station}: an amendment, but the station has no entry to amend",
            amendment - 1
        )),
        "{out}"
    );
    assert_eq!(discrepancy(&report, "hash-tile")["index"], protocol as u64);
    // The last entry bundle lacks an entry.
    assert!(out.contains("cut short"), "{out}");
}

#[test]
fn an_amendment_swapped_before_its_protocol_is_caught() {
    let d = Demo::new();
    let current = d.current();
    let mut all = entries(&current);
    let (amendment, protocol, station) = amended(&all);
    all.swap(protocol, amendment);
    write_entries(&current, &all);

    let (out, report) = d.tampered();
    assert!(
        out.contains(&format!(
            "entry {protocol}: station {station}: an amendment, but the station has no entry to amend"
        )),
        "{out}"
    );
    let e = discrepancy(&report, "entry");
    assert_eq!(
        (e["index"].as_u64(), e["field"].as_str()),
        (Some(protocol as u64), Some("supersedes"))
    );
    assert!(out.contains("[root-mismatch]"), "{out}");
}

#[test]
fn a_protocol_signed_with_another_key_under_the_stations_name_is_refused() {
    let d = Demo::new();
    let current = d.current();
    let mut all = entries(&current);
    let index = 9;
    let station = station_of(&all[index]);
    let note = Note::parse(&all[index]).unwrap();
    let forger = NoteSigner::from_seed(&station, &[42; 32]).unwrap();
    all[index] = forger.sign_text(note.text()).to_bytes();
    write_entries(&current, &all);

    let (out, report) = d.tampered();
    assert!(
        out.contains(&format!(
            "entry {index}: station {station}: no signature by key {station}+"
        )) && out.contains(&format!(
            "it is signed by `{station}` (key id {}) instead, which is not the key the definition gives station {station}",
            forger.key_id()
        )),
        "{out}"
    );
    let e = discrepancy(&report, "entry");
    assert_eq!(
        (e["index"].as_u64(), e["field"].as_str()),
        (Some(index as u64), Some("signature"))
    );
}

#[test]
fn a_changed_number_in_the_published_results_is_caught() {
    let d = Demo::new();
    let path = d.current().join("v1/results.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let results: serde_json::Value = serde_json::from_str(&text).unwrap();
    let national = &results["contests"][0]["national"]["votes"];
    let (list, votes) = national.as_object().unwrap().iter().next().unwrap();
    let votes = votes.as_u64().unwrap();
    // The first `"AP": n` after "national" is the national vote count.
    let at = text.find("\"national\"").unwrap();
    let (head, tail) = text.split_at(at);
    let changed = tail.replacen(
        &format!("\"{list}\": {votes},"),
        &format!("\"{list}\": {},", votes + 1),
        1,
    );
    replace(&path, format!("{head}{changed}").as_bytes());

    let (out, report) = d.tampered();
    assert!(
        out.contains(&format!(
            "v1/results.json: contests[0].national.votes.{list}: recomputed {votes}, published {}",
            votes + 1
        )),
        "{out}"
    );
    let e = discrepancy(&report, "file-mismatch");
    assert_eq!(e["file"], "v1/results.json");
    assert_eq!(
        e["field"],
        format!("contests[0].national.votes.{list}").as_str()
    );
    // Its precompressed copy still holds the published numbers: a browser sent the copy
    // would see other results than the file, so it is named too.
    assert_eq!(
        discrepancy(&report, "gz-mismatch")["file"],
        "v1/results.json.gz"
    );
    assert_eq!(
        report["discrepancies"].as_array().unwrap().len(),
        2,
        "{report:#}"
    );
}

#[test]
fn a_cosignature_by_an_unknown_witness_does_not_count() {
    let d = Demo::new();
    let path = d.current().join("checkpoint");
    let note = std::fs::read_to_string(&path).unwrap();
    let parsed = Note::parse(note.as_bytes()).unwrap();
    let evil = CosignatureSigner::from_seed("evil-witness", &[7; 32]).unwrap();
    let sig = evil.cosign_at(parsed.text(), 1_800_000_000).unwrap();
    let line = urna_tlog::cosignature::signature_line(&sig);
    let observer = note
        .lines()
        .find(|l| l.starts_with("\u{2014} observer-mission "))
        .unwrap();
    replace(
        &path,
        note.replace(&format!("{observer}\n"), &line).as_bytes(),
    );

    let (out, report) = d.tampered();
    let want = format!(
        "1 of 2 required witness cosignatures; the line from `evil-witness` (key id {}) is not a trusted witness; no valid cosignature from `observer-mission`",
        evil.key_id()
    );
    assert!(out.contains(&want), "{out}");
    assert_eq!(discrepancy(&report, "witness-quorum")["found"], "1");
    assert_eq!(report["witnesses"]["unknown"][0]["name"], "evil-witness");
    // With a quorum of 1, the unknown line is named but the checkpoint stands; the results
    // quote the original checkpoint note, so they now differ from it in that quote only.
    let o = d.verify(p(&d.bundle), &["--quorum", "1"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("ignored: a line from `evil-witness`")
            && !t.contains("[witness-quorum]")
            && t.contains("v1/results.json: checkpoint.note: "),
        "{t}"
    );
}

/// `urna sim` + `init` + `ingest` + `publish` twice, without witnesses: the bundle's `gen/`
/// keeps the older generation.
struct TwoGenerations {
    dir: tempfile::TempDir,
    src: PathBuf,
    data: PathBuf,
    bundle: PathBuf,
    log_key: String,
    /// Sizes of the two generations.
    sizes: (u64, u64),
}

fn pack_subset(src: &Path, out: &Path, keep: impl Fn(usize) -> bool) {
    let mut w = std::fs::File::create(out).unwrap();
    for (i, n) in PackReader::new(std::fs::File::open(src).unwrap()).enumerate() {
        if keep(i) {
            write_note(&mut w, &n.unwrap()).unwrap();
        }
    }
}

impl TwoGenerations {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let data = dir.path().join("data");
        let bundle = dir.path().join("bundle");
        run(
            &[
                "sim",
                "--out",
                p(&src),
                "--stations",
                "300",
                "--error-rate",
                "500",
            ],
            0,
        );
        init(&src, &data);
        let first = dir.path().join("first.notes");
        let rest = dir.path().join("rest.notes");
        let all = src.join("protocols.notes");
        pack_subset(&all, &first, |i| i < 150);
        pack_subset(&all, &rest, |i| i >= 150);
        run(&["ingest", "--data", p(&data), p(&first)], 0);
        run(&["publish", "--data", p(&data), "--out", p(&bundle)], 0);
        let s1 = checkpoint_size(&bundle.join("current"));
        run(
            &[
                "ingest",
                "--data",
                p(&data),
                p(&rest),
                p(&src.join("amendments.notes")),
            ],
            0,
        );
        run(&["publish", "--data", p(&data), "--out", p(&bundle)], 0);
        let s2 = checkpoint_size(&bundle.join("current"));
        let log_key = run(&["log", "key", "--data", p(&data)], 0)
            .trim()
            .to_owned();
        Self {
            dir,
            src,
            data,
            bundle,
            log_key,
            sizes: (s1, s2),
        }
    }

    fn verify(&self, location: &Path, extra: &[&str]) -> Output {
        urna()
            .args(["verify", p(location), "--log-key", &self.log_key])
            .args(extra)
            .output()
            .unwrap()
    }

    /// The older generation's directory.
    fn older(&self) -> PathBuf {
        let live = std::fs::read_link(self.bundle.join("current")).unwrap();
        let live = live.file_name().unwrap().to_owned();
        std::fs::read_dir(self.bundle.join("gen"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|g| g.file_name().unwrap() != live)
            .unwrap()
    }
}

#[test]
fn a_rolled_back_bundle_is_caught_with_since() {
    let g = TwoGenerations::new();
    let (old, new) = g.sizes;
    assert!(old < new);
    let state = g.dir.path().join("verified.json");

    // The older generation verifies on its own, and the state file records it.
    let o = g.verify(&g.older(), &["--since", p(&state)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // The log grew: the newer generation extends it.
    let o = g.verify(&g.bundle, &["--since", p(&state)]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains(&format!(
            "earlier checkpoint of size {old}: the log extends it"
        )),
        "{t}"
    );
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(saved["size"], new);

    // Now someone serves the older generation again.
    let o = g.verify(&g.older(), &["--since", p(&state)]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!(
            "[rollback] rollback: the checkpoint covers {old} entries, fewer than the {new} of the checkpoint verified before"
        )),
        "{t}"
    );
    // A failed verification leaves the state as it was.
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(kept, saved);
}

#[test]
fn a_blob_nothing_names_is_caught_even_if_it_hashes_to_its_name() {
    let g = TwoGenerations::new();
    // Both generations verify: the older one beside the newer one's tiles in the shared tile/.
    for dir in [g.bundle.clone(), g.older()] {
        let o = g.verify(&dir, &[]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    // Someone drops a file into the shared blob/ under the SHA-256 of its own bytes: every web
    // server of the bundle would serve it as part of it, yet no definition or signed note
    // names it.
    let bytes = b"%PDF-1.7\nnot the paper of any station\n";
    let name = urna_model::protocol::hex(&urna_model::intake::sha256(bytes));
    std::fs::write(g.bundle.join("blob/sha256").join(&name), bytes).unwrap();
    for dir in [g.bundle.clone(), g.older()] {
        let o = g.verify(&dir, &[]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{t}");
        assert!(
            t.contains(&format!(
                "[blob-unnamed] blob/sha256/{name}: published, but neither the definition nor a signed note of the log"
            )),
            "{t}"
        );
    }
}

#[test]
fn results_computed_under_another_seat_rule_set_are_caught() {
    let g = TwoGenerations::new();
    // The same protocols under a definition that names another rule set.
    let src2 = g.dir.path().join("src2");
    copy_tree(&g.src, &src2);
    let toml = std::fs::read_to_string(src2.join("election.toml")).unwrap();
    assert!(toml.contains("seats = { rules = \"albania\" }"));
    replace(
        &src2.join("election.toml"),
        toml.replace(
            "seats = { rules = \"albania\" }",
            "seats = { rules = \"generic\", house = 140 }",
        )
        .as_bytes(),
    );
    let data2 = g.dir.path().join("data2");
    let bundle2 = g.dir.path().join("bundle2");
    init(&src2, &data2);
    run(
        &[
            "ingest",
            "--data",
            p(&data2),
            p(&src2.join("protocols.notes")),
            p(&src2.join("amendments.notes")),
        ],
        0,
    );
    run(&["publish", "--data", p(&data2), "--out", p(&bundle2)], 0);
    let ours = g.bundle.join("current");
    let theirs = bundle2.join("current");
    assert_eq!(checkpoint_size(&ours), checkpoint_size(&theirs));

    // The published seats are replaced by those of the other rule set.
    let results = std::fs::read_to_string(ours.join("v1/results.json")).unwrap();
    let other = std::fs::read_to_string(theirs.join("v1/results.json")).unwrap();
    let spliced = format!(
        "{}{}{}",
        &results[..seats_span(&results).0],
        &other[seats_span(&other).0..seats_span(&other).1],
        &results[seats_span(&results).1..]
    );
    let ours_file = ours.join("v1/results.json");
    replace(&ours_file, spliced.as_bytes());
    replace(
        &ours.join("v1/seats/assembly.json"),
        &std::fs::read(theirs.join("v1/seats/assembly.json")).unwrap(),
    );

    let o = g.verify(&g.bundle, &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains(
            "v1/results.json: contests[0].seats.rules: recomputed \"albania\", published \"generic\""
        ) && t.contains("v1/seats/assembly.json: "),
        "{t}"
    );
    let _ = &g.data;
}

/// The byte range of the first contest's `"seats": {…}` member in a results file.
fn seats_span(text: &str) -> (usize, usize) {
    let start = text.find("\"seats\": {").unwrap();
    let open = start + "\"seats\": ".len();
    let mut depth = 0;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text[open..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '{' if !in_string => depth += 1,
            '}' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    return (start, open + i + 1);
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced seats object")
}

#[test]
fn missing_pieces_are_discrepancies_and_unreachable_sources_could_not_run() {
    let g = TwoGenerations::new();
    let current = g.bundle.join("current");

    // Could not run: exit 2, and nothing said about the bundle.
    let empty = g.dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let json = g.dir.path().join("r.json");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![p(&empty).into()], "not a bundle"),
        (vec!["http://127.0.0.1:1".into()], "http://127.0.0.1:1"),
        (vec!["https://127.0.0.1:1".into()], "https://127.0.0.1:1"),
        (
            vec!["ftp://results.example/bundle".into()],
            "unsupported scheme",
        ),
    ];
    for (args, want) in cases {
        let o = urna()
            .arg("verify")
            .args(&args)
            .args(["--log-key", &g.log_key, "--json", p(&json)])
            .output()
            .unwrap();
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {t}");
        assert!(t.contains(want), "{args:?}: {t}");
        let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        assert_eq!(r["verified"], false);
        assert!(r["error"].as_str().unwrap().contains(want), "{r}");
    }
    let o = urna()
        .args(["verify", p(&g.bundle), "--log-key", "urna/x+00000000+AQ"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = urna().args(["verify", p(&g.bundle)]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no log key"), "{}", text(&o));
    let help = run(&["verify", "--help"], 0);
    assert!(
        help.contains("Exit codes:") && help.contains("could not run"),
        "{help}"
    );

    // A bundle that lacks what its checkpoint needs is a discrepancy: exit 1.
    let tile = current.join(Tile::hash(0, 0, 256).unwrap().path());
    std::fs::remove_file(&tile).unwrap();
    let units = std::fs::read_dir(current.join("v1/units"))
        .unwrap()
        .map(Result::unwrap)
        .next()
        .unwrap();
    // Published only as its gzip.
    assert!(units.file_name().to_string_lossy().ends_with(".json.gz"));
    std::fs::remove_file(units.path()).unwrap();
    let o = g.verify(&g.bundle, &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("[tile-missing] tile/0/000: missing, but the checkpoint needs it")
            && t.contains(&format!(
                "[file-missing] v1/units/{}: missing",
                units.file_name().to_string_lossy()
            )),
        "{t}"
    );
}

#[test]
fn a_keys_file_naming_another_log_key_is_caught() {
    let d = Demo::new();
    let path = d.current().join("v1/keys.json");
    let mut keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(keys["log"]["key"], d.log_key.as_str(), "{keys}");
    let origin = keys["log"]["origin"].as_str().unwrap().to_owned();
    let other = NoteSigner::from_seed(&origin, &[42; 32])
        .unwrap()
        .verifier()
        .to_vkey();
    keys["log"]["key"] = other.as_str().into();
    replace(&path, &serde_json::to_vec_pretty(&keys).unwrap());

    let (out, report) = d.tampered();
    assert!(out.contains("v1/keys.json"), "{out}");
    let k = discrepancy(&report, "keys");
    assert_eq!(k["file"], "v1/keys.json");
    assert_eq!(k["field"], "log.key");
    assert_eq!(
        (k["expected"].as_str(), k["found"].as_str()),
        (Some(d.log_key.as_str()), Some(other.as_str()))
    );
    assert_eq!(
        report["discrepancies"].as_array().unwrap().len(),
        1,
        "{out}"
    );
}

#[test]
fn with_only_the_log_key_a_genuine_bundle_verifies_and_says_the_quorum_was_not_checked() {
    let d = Demo::new();
    let only_log_key = |location: &Path| {
        urna()
            .args(["verify", p(location), "--log-key", &d.log_key])
            .output()
            .unwrap()
    };
    let o = only_log_key(&d.bundle);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    for want in [
        "witnesses    none pinned by you (no --witness or --trust): the witness quorum was not checked",
        "cosigned by 2 witnesses named by the bundle itself, not pinned by you: cyber-security-agency at ",
        ", observer-mission at ",
        "(a witness named by the bundle itself, not pinned by you)",
        "\nVERIFIED against the log key only: the log, its checkpoint and every published result check out; witnesses not pinned: pass --trust FILE or --witness KEY to check the witness quorum",
    ] {
        assert!(out.contains(want), "{want:?} in:\n{out}");
    }
    assert!(
        !out.contains("carries none") && !out.contains("ignored"),
        "{out}"
    );
    let help = run(&["verify", "--help"], 0);
    assert!(
        help.contains("Witnesses named only by the bundle's own"),
        "{help}"
    );

    // The bundle's keys.json gives another key for a witness that cosigned: caught, exit 1.
    let path = d.current().join("v1/keys.json");
    let mut keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let (i, w) = keys["witnesses"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .find(|(_, w)| w["name"] == "cyber-security-agency")
        .unwrap();
    let real = w["key"].as_str().unwrap().to_owned();
    let other = CosignatureSigner::from_seed("cyber-security-agency", &[42; 32])
        .unwrap()
        .verifier()
        .to_vkey();
    keys["witnesses"][i]["key"] = other.as_str().into();
    replace(&path, &serde_json::to_vec_pretty(&keys).unwrap());
    let o = only_log_key(&d.bundle);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(
            "[keys] v1/keys.json: lists witness `cyber-security-agency` with key id "
        ) && out.contains(
            "but the checkpoint's cosignature from `cyber-security-agency` is by key id "
        ) && out.contains("cosigned by 1 witness named by the bundle itself, not pinned by you: observer-mission at ")
            && out.ends_with("NOT VERIFIED\n"),
        "{out}"
    );
    // With the witnesses pinned, the same file is caught against the pinned key.
    let (out, report) = d.tampered();
    let k = discrepancy(&report, "keys");
    assert_eq!(k["field"], format!("witnesses[{i}].key").as_str(), "{out}");
    assert_eq!(
        (k["expected"].as_str(), k["found"].as_str()),
        (Some(real.as_str()), Some(other.as_str()))
    );
}

/// A CA of the test's own, and a server certificate it issues for `names` (host names or IP
/// addresses), as PEM: (CA certificate, server certificate, server key).
pub(crate) struct TestCa {
    pub(crate) cert_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub(crate) fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert_pem = params.self_signed(&key).unwrap().pem();
        Self {
            cert_pem,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// Writes `<stem>.pem` and `<stem>.key` for a server certificate naming `names`.
    pub(crate) fn issue(&self, dir: &Path, stem: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, stem);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (cert_path, key_path) = (
            dir.join(format!("{stem}.pem")),
            dir.join(format!("{stem}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }
}

/// A bundle served by nginx over HTTPS with a certificate from the commission's own CA:
/// verified with that CA given; refused, with the reason, without it, by a server whose
/// certificate names another host, and with a CA file that holds no certificate.
#[test]
fn a_bundle_over_https_verifies_with_the_commissions_ca_and_bad_certificates_are_refused() {
    let Some(bin) = find_nginx() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "nginx is not installed: .ci/run must install it (apt-get install -y nginx) for this test"
        );
        eprintln!(
            "\n*** SKIPPED a_bundle_over_https_verifies_with_the_commissions_ca_and_bad_certificates_are_refused: \
             nginx is not installed (apt-get install nginx); CI runs it ***\n"
        );
        return;
    };
    let d = Demo::new();
    let tls = d.dir.path().join("tls");
    std::fs::create_dir(&tls).unwrap();
    let ca = TestCa::new("Election commission test CA");
    let ca_pem = tls.join("ca.pem");
    std::fs::write(&ca_pem, &ca.cert_pem).unwrap();
    let (good_cert, good_key) = ca.issue(&tls, "results", &["127.0.0.1"]);
    let (other_cert, other_key) = ca.issue(&tls, "elsewhere", &["results.example"]);
    let nginx = Nginx::start_with_tls(
        &bin,
        &d.dir.path().join("nginx"),
        &d.current(),
        &[
            TlsSite {
                cert: &good_cert,
                key: &good_key,
            },
            TlsSite {
                cert: &other_cert,
                key: &other_key,
            },
        ],
    );
    let good = format!("https://{}", nginx.tls_addrs[0]);
    let other_name = format!("https://{}", nginx.tls_addrs[1]);

    // 1. With the commission's CA: verified, exactly as from the directory.
    let o = d.verify(&good, &["--ca-cert", p(&ca_pem), "--json", "-"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let over_https: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(over_https["source"], good.as_str());
    let o = d.verify(p(&d.current()), &["--json", "-"]);
    let from_dir: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(over_https["totals"], from_dir["totals"]);
    assert_eq!(
        over_https["counts"]["files_identical"],
        from_dir["counts"]["files_identical"]
    );
    assert!(text(&o).contains("VERIFIED"), "{}", text(&o));

    // 2. Without it: the built-in roots do not know this CA. Could not run: exit 2.
    let o = d.verify(&good, &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains(&format!("{good}/checkpoint: TLS: the server's certificate is not issued by a CA in the built-in Mozilla root certificates (unknown issuer): if the bundle is served with the commission's own CA, pass its certificate with --ca-cert FILE (PEM)")),
        "{t}"
    );

    // 3. A certificate from the right CA for another host name.
    let o = d.verify(&other_name, &["--ca-cert", p(&ca_pem)]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains(&format!(
            "{other_name}/checkpoint: TLS: the server's certificate is not valid for 127.0.0.1: it is for results.example; this is not the server the URL names, or it is misconfigured"
        )),
        "{t}"
    );

    // 4. A CA file that is no CA file, and one given for a plain location.
    let o = d.verify(&good, &["--ca-cert", p(&good_key)]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("no certificate in it"), "{t}");
    let o = d.verify(p(&d.bundle), &["--ca-cert", p(&ca_pem)]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("not an https:// URL"), "{t}");
    let help = run(&["verify", "--help"], 0);
    assert!(
        help.contains("--ca-cert <FILE>") && help.contains("https://"),
        "{help}"
    );
    drop(nginx);
}

/// An open-list election (`urna sim --candidates 5`) ingested and published without
/// witnesses, copied out like [`Demo`]'s; verified with the log key alone.
struct OpenLists {
    dir: tempfile::TempDir,
    bundle: PathBuf,
    log_key: String,
}

impl OpenLists {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (src, data) = (dir.path().join("sim"), dir.path().join("data"));
        run(
            &[
                "sim",
                "--out",
                p(&src),
                "--stations",
                "120",
                "--candidates",
                "5",
                "--marks",
                "2",
            ],
            0,
        );
        init(&src, &data);
        run(
            &[
                "ingest",
                "--data",
                p(&data),
                p(&src.join("protocols.notes")),
            ],
            0,
        );
        let published = dir.path().join("published");
        run(&["publish", "--data", p(&data), "--out", p(&published)], 0);
        let bundle = dir.path().join("bundle");
        copy_tree(&published, &bundle);
        let log_key = run(&["log", "key", "--data", p(&data)], 0)
            .trim()
            .to_owned();
        Self {
            dir,
            bundle,
            log_key,
        }
    }

    fn current(&self) -> PathBuf {
        self.bundle.join("current")
    }

    /// Verifies with the log key, expects exit 1, returns the output and the JSON report.
    fn tampered(&self) -> (String, serde_json::Value) {
        let json = self.dir.path().join("report.json");
        let o = urna()
            .args(["verify", p(&self.bundle), "--log-key", &self.log_key])
            .args(["--json", p(&json)])
            .output()
            .unwrap();
        let text = text(&o);
        assert_eq!(o.status.code(), Some(1), "{text}");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        assert_eq!(report["verified"], false);
        (text, report)
    }
}

/// Moves one preference vote from one candidate to the next of the same list in the
/// `"preferences"` object `prefs` (parsed), which `text` (indented or compact JSON) writes
/// first after byte `from`. Returns the new text, the list and the two (number, votes) as they were.
fn move_one_vote(
    text: &str,
    from: usize,
    prefs: &serde_json::Value,
) -> (String, String, [(String, u64); 2]) {
    let (list, numbers) = prefs
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, n)| n.as_object().unwrap().len() >= 2)
        .unwrap();
    let mut it = numbers.as_object().unwrap().iter();
    let mut next = || {
        let (n, v) = it.next().unwrap();
        (n.clone(), v.as_u64().unwrap())
    };
    let ((n1, v1), (n2, v2)) = (next(), next());
    // Indented (results.json) or compact (the unit files).
    let sep = if text[from..].contains("\"preferences\": {") {
        ": "
    } else {
        ":"
    };
    let at = from
        + text[from..]
            .find(&format!("\"preferences\"{sep}{{"))
            .unwrap();
    let at = at + text[at..].find(&format!("\"{list}\"{sep}{{")).unwrap();
    let (head, tail) = text.split_at(at);
    let tail = tail
        .replacen(
            &format!("\"{n1}\"{sep}{v1},"),
            &format!("\"{n1}\"{sep}{},", v1 - 1),
            1,
        )
        .replacen(
            &format!("\"{n2}\"{sep}{v2}"),
            &format!("\"{n2}\"{sep}{}", v2 + 1),
            1,
        );
    (format!("{head}{tail}"), list.clone(), [(n1, v1), (n2, v2)])
}

#[test]
fn a_preference_vote_moved_between_two_candidates_in_published_files_is_caught() {
    let d = OpenLists::new();
    // The national totals of results.json, and a station's current entry in a unit file.
    let results = d.current().join("v1/results.json");
    let text = std::fs::read_to_string(&results).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let (moved, list, votes) = move_one_vote(
        &text,
        text.find("\"national\"").unwrap(),
        &doc["contests"][0]["national"]["preferences"],
    );
    replace(&results, moved.as_bytes());
    let election: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.current().join("v1/election.json")).unwrap())
            .unwrap();
    let unit_file = election["units"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|u| u["file"].as_str())
        .unwrap()
        .to_owned();
    // Published only as its gzip.
    let unit = d.current().join(&unit_file);
    let utext = String::from_utf8(crate::gunzip(&std::fs::read(&unit).unwrap())).unwrap();
    let udoc: serde_json::Value = serde_json::from_str(&utext).unwrap();
    let (umoved, ulist, uvotes) = move_one_vote(
        &utext,
        utext.find("\"current\"").unwrap(),
        &udoc["contests"][0]["stations"][0]["current"]["preferences"],
    );
    replace(&unit, &crate::gzip(umoved.as_bytes()));

    let (out, report) = d.tampered();
    let [(n1, v1), _] = &votes;
    assert!(
        out.contains(&format!(
            "v1/results.json: contests[0].national.preferences.{list}.{n1}: recomputed {v1}, published {}",
            v1 - 1
        )),
        "{out}"
    );
    let [(u1, w1), _] = &uvotes;
    assert!(
        out.contains(&format!(
            "{unit_file} (inflated): contests[0].stations[0].current.preferences.{ulist}.{u1} (station PS-0000001): recomputed {w1}, published {}",
            w1 - 1
        )),
        "{out}"
    );
    let files: Vec<&serde_json::Value> = report["discrepancies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "file-mismatch")
        .collect();
    assert!(
        files.iter().any(|d| d["file"] == "v1/results.json"
            && d["field"] == format!("contests[0].national.preferences.{list}.{n1}").as_str()),
        "{report:#}"
    );
    assert!(
        files.iter().any(|d| d["file"] == unit_file.as_str()),
        "{report:#}"
    );
}

#[test]
fn a_preference_vote_moved_inside_a_signed_entry_is_caught() {
    let d = OpenLists::new();
    let current = d.current();
    let mut all = entries(&current);
    // An accepted protocol with two candidates of one list.
    let index = 3;
    let text = String::from_utf8(all[index].clone()).unwrap();
    // A list's line with at least two candidates: `preferences: <list> <n1>:<v1> <n2>:<v2> …`.
    let line = text
        .lines()
        .find(|l| l.starts_with("preferences: ") && l.split(' ').count() >= 4)
        .unwrap();
    let f: Vec<&str> = line.split(' ').collect();
    let pair = |p: &str| {
        let (n, v) = p.split_once(':').unwrap();
        (n.to_owned(), v.parse::<u64>().unwrap())
    };
    let list = f[1].to_owned();
    let ((n1, v1), (n2, v2)) = (pair(f[2]), pair(f[3]));
    let moved = format!("preferences: {list} {n1}:{} {n2}:{}", v1 - 1, v2 + 1);
    let moved = f[4..].iter().fold(moved, |s, p| s + " " + p);
    all[index] = text
        .replacen(&format!("{line}\n"), &format!("{moved}\n"), 1)
        .into_bytes();
    assert_ne!(all[index], text.as_bytes());
    write_entries(&current, &all);

    let (out, report) = d.tampered();
    let station = station_of(&all[index]);
    assert!(
        out.contains(&format!(
            "[entry] entry {index}: station {station}: signature by key {station}+"
        )) && out.contains(&format!(
            "its `preferences {list} {n1}` is {}, but the published v1/units/",
            v1 - 1
        )),
        "{out}"
    );
    let e = discrepancy(&report, "entry");
    assert_eq!(e["index"], index as u64);
    assert_eq!(e["station"], station.as_str());
    assert_eq!(e["field"], format!("preferences {list} {n1}").as_str());
    assert_eq!(
        (e["expected"].as_str(), e["found"].as_str()),
        (
            Some(v1.to_string().as_str()),
            Some((v1 - 1).to_string().as_str())
        )
    );
}

/// What [`web_server`] answers for a path.
enum Answer {
    /// `200` with these bytes.
    File(Vec<u8>),
    /// `302` to this location.
    Redirect(String),
    /// `404`.
    Missing,
}

/// A small web server on loopback (HTTP/1.1, one request per connection) that answers each
/// request's path with `answer`; its address.
fn web_server(answer: impl Fn(&str) -> Answer + Send + Sync + 'static) -> std::net::SocketAddr {
    use std::io::{BufRead as _, BufReader, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let answer = std::sync::Arc::clone(&answer);
            std::thread::spawn(move || {
                let mut line = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                // The rest of the head.
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
                let (head, body) = match answer(&path) {
                    Answer::File(b) => (
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            b.len()
                        ),
                        b,
                    ),
                    Answer::Redirect(to) => (
                        format!(
                            "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        ),
                        Vec::new(),
                    ),
                    Answer::Missing => (
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_owned(),
                        Vec::new(),
                    ),
                };
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            });
        }
    });
    addr
}

/// A web server that answers its root with a page of its own while serving the bundle's
/// `index.html` intact: what visitors see is not what the bundle holds. Served here by a
/// small file server (HTTP/1.1, one request per connection) over the bundle's directory.
#[test]
fn a_root_page_other_than_the_bundles_index_is_caught_over_http() {
    let d = Demo::new();
    let root = d.current();
    let addr = web_server(move |path| {
        if path == "/" {
            return Answer::File(
                b"<!doctype html><title>Results</title><h1>Party X wins 140 of 140 seats</h1>"
                    .to_vec(),
            );
        }
        let rel = path.trim_start_matches('/').replace("%2F", "/");
        std::fs::read(root.join(rel)).map_or(Answer::Missing, Answer::File)
    });
    let json = d.dir.path().join("root.json");
    let o = d.verify(&format!("http://{addr}"), &["--json", p(&json)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    // The one discrepancy: every file of the bundle was served as it is.
    assert_eq!(
        report["discrepancies"].as_array().unwrap().len(),
        1,
        "{report:#}"
    );
    let d = discrepancy(&report, "file-mismatch");
    assert_eq!(d["file"], "/", "{report}");
}

/// A mirror writes its own checkpoint, signed by a key it made under the log's name, that
/// claims 2^40 entries, and answers every entry bundle such a log would have (here: every
/// tile path resolves, by links, to a genuine bundle). The checkpoint is not signed by the
/// trusted key and no key rotation the bundle lists hands over to its key, so its size vouches
/// for nothing: the verifier says so and reads no further, instead of reading entries for as
/// long as the mirror makes them up, keeping each refused one.
#[test]
fn a_checkpoint_no_trusted_key_signed_cannot_make_the_verifier_read_without_end() {
    let d = Demo::new();
    let current = d.current();
    let note = Note::parse(&std::fs::read(current.join("checkpoint")).unwrap()).unwrap();
    let genuine = Checkpoint::parse_text(note.text()).unwrap();
    let forger = NoteSigner::from_seed(&genuine.origin, &[9; 32]).unwrap();
    let claimed = Checkpoint::new(genuine.origin.clone(), TreeSize(1 << 40), genuine.root);
    replace(
        &current.join("checkpoint"),
        &claimed.sign(&forger).unwrap().to_bytes(),
    );
    let entries_dir = std::fs::canonicalize(current.join("tile/entries")).unwrap();
    for n in 0..1000 {
        let _ = std::os::unix::fs::symlink(".", entries_dir.join(format!("x{n:03}")));
        let _ = std::os::unix::fs::symlink("000", entries_dir.join(format!("{n:03}")));
    }

    let json = d.dir.path().join("report.json");
    let mut child = urna()
        .args(["verify", p(&d.bundle), "--log-key", &d.log_key, "--trust"])
        .arg(d.store.join("witnesses.toml"))
        .args(["--json", p(&json)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("verify was still reading the forged log of 2^40 entries after 30 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let out = child.wait_with_output().unwrap();
    let t = text(&out);
    assert_eq!(status.code(), Some(1), "{t}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(
        discrepancy(&report, "checkpoint-signature")["file"],
        "checkpoint",
        "{t}"
    );
    let d = discrepancy(&report, "not-recomputed");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("the log was not read: the checkpoint is signed neither by the trusted log key nor by a key a rotation from it hands over to, so its size (1099511627776 entries)"),
        "{t}"
    );
    assert_eq!(report["counts"]["entries_verified"], 0, "{t}");
}

/// A mirror answers `v1/results.json` with 16 MiB of `[0,0,…]`, far more than the file it is
/// recomputed as: parsed to name where it differs, each such file would take some twenty times
/// its size in memory (a gigabyte answer, the most a file may be, tens of gigabytes). The
/// difference is named by the size alone, the file read no further than that takes.
#[test]
fn a_derived_file_far_larger_than_recomputed_is_refused_by_its_size_unparsed() {
    let d = Demo::new();
    let path = d.current().join("v1/results.json");
    let recomputed = std::fs::metadata(&path).unwrap().len();
    let mut zeros = b"[".to_vec();
    zeros.extend(b"0,".repeat(8 << 20));
    zeros.extend(b"0]");
    replace(&path, &zeros);
    let (out, report) = d.tampered();
    let mismatch = report["discrepancies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "file-mismatch" && x["file"] == "v1/results.json")
        .unwrap_or_else(|| panic!("{out}"));
    let message = mismatch["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "v1/results.json: more than {} bytes, the {recomputed} bytes it is recomputed as and 1 MiB; not read further",
            recomputed + (1 << 20)
        )),
        "{message}"
    );
}

/// The peak resident memory (VmHWM) of a running `urna verify`, read until it exits: its
/// exit status, output and peak in KiB.
fn run_measured(d: &Demo) -> (std::process::ExitStatus, String, u64) {
    let log = d.dir.path().join("verify.out");
    let mut child = urna()
        .args(["verify", p(&d.bundle), "--log-key", &d.log_key, "--trust"])
        .arg(d.store.join("witnesses.toml"))
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let status = loop {
        if let Some(hwm) = std::fs::read_to_string(&status_file).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        }) {
            peak_kib = peak_kib.max(hwm);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    (status, std::fs::read_to_string(&log).unwrap(), peak_kib)
}

/// A mirror alters an entry of every station it can and answers three unit files, read to
/// explain those refusals, with a small gzip of 40 MiB of `[0,0,…]` each: parsed, one such
/// document takes some 700 MiB. They are read one unit at a time, never kept side by side
/// (each was kept until the end: with fifty units, tens of gigabytes).
#[test]
fn unit_files_read_to_explain_refusals_are_not_held_together() {
    let d = Demo::new();
    let current = d.current();
    let mut all = entries(&current);
    let mut altered = 0;
    for entry in all
        .iter_mut()
        .filter(|e| e.starts_with(b"urna/protocol/v1\n"))
    {
        let text = String::from_utf8(entry.clone()).unwrap();
        let line = text.lines().find(|l| l.starts_with("votes: ")).unwrap();
        let (list, n) = line["votes: ".len()..].split_once(' ').unwrap();
        let more = n.parse::<u64>().unwrap() + 1;
        *entry = text
            .replacen(line, &format!("votes: {list} {more}"), 1)
            .into_bytes();
        altered += 1;
        if altered == 50 {
            break;
        }
    }
    write_entries(&current, &all);
    let mut zeros = b"[".to_vec();
    zeros.extend(b"0,".repeat(20 << 20));
    zeros.extend(b"0]");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &zeros).unwrap();
    let gz = gz.finish().unwrap();
    drop(zeros);
    let mut units: Vec<PathBuf> = std::fs::read_dir(current.join("v1/units"))
        .unwrap()
        .map(|f| f.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
        .collect();
    units.sort();
    assert!(units.len() >= 3, "{units:?}");
    for path in &units[..3] {
        replace(path, &gz);
    }

    let (status, out, peak_kib) = run_measured(&d);
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("[entry] entry "), "{out}");
    assert!(
        peak_kib < 1 << 20,
        "urna verify held {peak_kib} KiB at its peak; unit files are read one at a time"
    );
}

/// A bundle directory from a hostile mirror (an archive unpacked as it came) links its
/// `README.txt` to a file of the observer's outside it: the verifier used to read it and quote
/// its first line in the report (the observer's own environment, with
/// `/proc/self/environ`), a report observers publish. A link that leaves the bundle (other
/// than to the `tile` and `blob` directories every generation shares) is not read: the
/// verification stops naming the file and the rule, quoting nothing of what it points to.
#[test]
fn a_link_out_of_a_bundle_directory_is_not_read_or_quoted() {
    let d = Demo::new();
    let secret = d.dir.path().join("observer-notes.txt");
    std::fs::write(&secret, "TOKEN=s3cr3t-of-the-observer\n").unwrap();
    let readme = d.current().join("README.txt");
    std::fs::remove_file(&readme).unwrap();
    std::os::unix::fs::symlink(&secret, &readme).unwrap();

    let json = d.dir.path().join("report.json");
    let o = d.verify(p(&d.bundle), &["--json", p(&json)]);
    let t = text(&o);
    let report = std::fs::read_to_string(&json).unwrap();
    assert!(
        !t.contains("s3cr3t") && !report.contains("s3cr3t"),
        "{t}\n{report}"
    );
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("README.txt: a link out of the bundle: not read (a bundle's files lie inside it; links may lead only to its shared tile and blob directories)"),
        "{t}"
    );
}

/// The NIST CDF export, padded by a mirror with 16 MiB of `[0,0,…]` (its GeneratedDate kept,
/// so that it is recomputed): far larger than recomputed, it is named by its size, not parsed
/// to name where it differs (a gigabyte of it took some twenty gigabytes parsed).
#[test]
fn a_cdf_export_far_larger_than_recomputed_is_refused_by_its_size_unparsed() {
    let d = Demo::new();
    let path = d.current().join("cdf/election-report.json");
    let genuine = std::fs::read(&path).unwrap();
    let recomputed = genuine.len();
    let mut padded = b"{\"pad\":[".to_vec();
    padded.extend(b"0,".repeat(8 << 20));
    padded.extend(b"0],");
    padded.extend(&genuine[1..]);
    replace(&path, &padded);
    let (out, report) = d.tampered();
    let mismatch = report["discrepancies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "file-mismatch" && x["file"] == "cdf/election-report.json")
        .unwrap_or_else(|| panic!("{out}"));
    let message = mismatch["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "cdf/election-report.json: {} bytes, more than the {recomputed} bytes it is recomputed as and 1 MiB; not parsed to name where it differs",
            padded.len()
        )),
        "{message}"
    );
}

/// One unit file, read to explain a refused entry, answered with a small gzip of 100 MiB of
/// `[0,0,…]`: parsed, it took some 1.8 GB. A unit file is inflated to 64 MiB at most (some
/// 130,000 stations' worth, far beyond any real unit); past it the refusal stands
/// unexplained, and the verifier stays well under a gigabyte.
#[test]
fn a_unit_file_of_a_hundred_mebibytes_is_not_parsed_to_explain_a_refusal() {
    let d = Demo::new();
    let current = d.current();
    let index = 5;
    add_votes(&current, index, 100);
    let mut zeros = b"[".to_vec();
    zeros.extend(b"0,".repeat(50 << 20));
    zeros.extend(b"0]");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &zeros).unwrap();
    let gz = gz.finish().unwrap();
    drop(zeros);
    for f in std::fs::read_dir(current.join("v1/units")).unwrap() {
        let path = f.unwrap().path();
        if path.to_string_lossy().ends_with(".json.gz") {
            replace(&path, &gz);
        }
    }
    let (status, out, peak_kib) = run_measured(&d);
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains(&format!("[entry] entry {index}: ")), "{out}");
    assert!(
        peak_kib < 1 << 20,
        "urna verify held {peak_kib} KiB at its peak; a unit file is inflated to 64 MiB at most"
    );
}

/// A `v1/audit.json` in a bundle whose log holds no audit is a file nothing accounts for,
/// whatever its size: a sparse file of a gigabyte and a byte is named as such, not read whole
/// only to find that it is there (which held a gigabyte, then stopped the run as unreadable).
#[test]
fn an_audit_file_without_an_audit_is_named_unread_whatever_its_size() {
    let d = Demo::new();
    let path = d.current().join("v1/audit.json");
    let _ = std::fs::remove_file(&path);
    std::fs::File::create(&path)
        .unwrap()
        .set_len((1 << 30) + 1)
        .unwrap();
    let (out, report) = d.tampered();
    let unexpected = discrepancy(&report, "file-unexpected");
    assert_eq!(unexpected["file"], "v1/audit.json", "{out}");
    assert!(
        out.contains("v1/audit.json: published, but the log holds no audit"),
        "{out}"
    );
}

/// A hostile mirror's bundle directory holds a file whose name carries a terminal escape
/// sequence and a line break: `urna verify` printed the name raw in the discrepancy it
/// reports, so the mirror could clear the observer's screen and print a line of its own
/// ("VERIFIED") below. Every line of the summary shows such characters escaped, and the
/// discrepancy is still reported with the file's name.
#[test]
fn a_file_name_with_escape_sequences_is_reported_escaped() {
    let d = Demo::new();
    let name = "notes\u{1b}[2J\u{1b}[H\nVERIFIED\u{202e}.txt";
    std::fs::write(d.current().join(name), b"x").unwrap();
    let o = d.verify(p(&d.bundle), &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(!t.contains('\u{1b}') && !t.contains('\u{202e}'), "{t:?}");
    assert!(
        !t.lines().any(|l| l.trim() == "VERIFIED"),
        "a line of the mirror's own: {t:?}"
    );
    assert!(
        t.contains(r"notes\u{1b}[2J\u{1b}[H\u{a}VERIFIED\u{202e}.txt: published, but the log and the definition yield no such file"),
        "{t}"
    );
}

/// An error quotes what it was given (a location, a file's or a server's words); its control
/// characters are escaped before it reaches the terminal, as the summary's are.
#[test]
fn an_error_quoting_escape_sequences_shows_them_escaped() {
    let d = Demo::new();
    let place = d.dir.path().join("no-bundle\u{1b}[2J\u{1b}[H");
    let o = d.verify(p(&place), &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(!t.contains('\u{1b}'), "{t:?}");
    assert!(t.contains(r"no-bundle\u{1b}[2J\u{1b}[H"), "{t}");
}

/// A mirror that answers `README.txt` with a redirect to another host (here `localhost`, a
/// name other than the `127.0.0.1` the verifier was given; in the field a machine on the
/// observer's network or a cloud's metadata address), and every other file with a redirect
/// on its own host. The redirects on its own host are followed and the bundle verifies; the
/// one to another host is not: that host is never asked, nothing it holds reaches the report,
/// and the verification stops naming the file and where the mirror pointed.
#[test]
fn a_redirect_to_another_host_is_not_followed() {
    use std::io::Write as _;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let d = Demo::new();
    let root = d.current();

    // The other host: counts the requests it gets, and would answer with a secret.
    let secret = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let secret_port = secret.local_addr().unwrap().port();
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    std::thread::spawn(move || {
        for stream in secret.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let body = "TOKEN=s3cr3t-of-the-observers-network\n";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });

    let elsewhere = Arc::new(AtomicBool::new(false));
    let send_elsewhere = Arc::clone(&elsewhere);
    let addr = web_server(move |path| match path.strip_prefix("/r/") {
        None if send_elsewhere.load(Ordering::SeqCst) && path == "/README.txt" => {
            Answer::Redirect(format!("http://localhost:{secret_port}/environ"))
        }
        // On its own host, relative to the request.
        None if path == "/" => Answer::Redirect("r/".into()),
        None => Answer::Redirect(format!("/r{path}")),
        Some(rel) => {
            let rel = rel.replace("%2F", "/");
            let rel = if rel.is_empty() { "index.html" } else { &rel };
            std::fs::read(root.join(rel)).map_or(Answer::Missing, Answer::File)
        }
    });

    let url = format!("http://{addr}");
    let o = d.verify(&url, &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("VERIFIED"), "{t}");

    elsewhere.store(true, Ordering::SeqCst);
    let json = d.dir.path().join("report.json");
    let o = d.verify(&url, &["--json", p(&json)]);
    let t = text(&o);
    let report = std::fs::read_to_string(&json).unwrap_or_default();
    assert_eq!(asked.load(Ordering::SeqCst), 0, "{t}");
    assert!(
        !t.contains("s3cr3t") && !report.contains("s3cr3t"),
        "{t}\n{report}"
    );
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("README.txt")
            && t.contains(&format!(
                "HTTP 302 to http://localhost:{secret_port}/environ, another host than 127.0.0.1: not followed"
            )),
        "{t}"
    );
}
