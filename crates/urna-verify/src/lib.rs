//! The independent verifier of an urna election: from a public bundle (a directory or a web
//! server), with trust given explicitly, it re-checks the log and recomputes every number.
//!
//! It depends on `urna-model`, `urna-tlog`, `urna-tally`, `urna-audit`, the pure statistics
//! of `urna-forensics` and the HTTPS client trust of `urna-pin` only, never on the
//! commission's storage or server code, so what it checks does not lean on what it checks.
//!
//! What [`verify`] checks, in order:
//! 1. **Checkpoint** (C2SP tlog-checkpoint, <https://c2sp.org/tlog-checkpoint>): well formed,
//!    of the trusted log (its key's name is the origin), signed by the log key; cosigned
//!    (C2SP tlog-cosignature, <https://c2sp.org/tlog-cosignature>) by at least `quorum`
//!    distinct trusted witnesses. Lines by unknown keys are ignored but named; lines by
//!    witnesses that only the bundle's own `v1/keys.json` names are checked against the keys
//!    it gives and reported as such, never counted toward the quorum (whoever publishes the
//!    bundle writes that file). With no witness keys given the quorum is 0: the verification
//!    then vouches for what the log key signed, and the report says the quorum went unchecked.
//!    A log that rotated its key (`urna/key-rotation/v1` entries, each signed by both keys it
//!    names) signs a checkpoint with the key of its size: the trusted key may be any key of
//!    the chain, which is followed once the entries are read (`rotation`); a checkpoint signed
//!    by the other key of a rotation is [`Kind::CheckpointKeyRotated`]. A checkpoint signed
//!    neither by the trusted key nor by a key that the rotations `v1/keys.json` lists hand
//!    over to from it (each rotation's entry fetched and checked to be signed by both keys)
//!    claims a size and root nothing vouches for: the log is then not read at all.
//! 2. **Definition**: entry 0 is the `urna/genesis/v1` note, signed by the log key; the two
//!    definition files are fetched by the SHA-256 it names (`blob/sha256/<hex>`), hashed,
//!    loaded, and checked against it.
//! 3. **Log** (C2SP tlog-tiles, <https://c2sp.org/tlog-tiles>; RFC 6962 / RFC 9162 §2.1):
//!    every entry bundle fetched, every entry hashed into the Merkle tree, the root compared
//!    with the checkpoint's, every published hash tile compared with the recomputed hashes.
//! 4. **Entries**: every station signature (and, for amendments, the authority's
//!    co-signature) checked exactly as intake does, strictly, on every core; every
//!    entry replayed in index order ([`urna_tally::public::Replay`]), so a note out of its
//!    station's sequence is named.
//!    Every `urna/audit/v1` entry is re-checked as intake checks it: signed by an authority
//!    over the whole election, and following the audit before it: the results at its
//!    checkpoint replayed again, the assertions, the sample from the seed and the verdict from
//!    the hand counts recomputed (`urna-audit`'s trail).
//! 5. **Results**: every derived file recomputed ([`urna_tally::public::render`], and the
//!    statistical screens [`urna_forensics::bundle::render`]) and compared
//!    byte for byte with the published one; a difference is named by JSON path or CSV line and
//!    column, with the station or unit. The unit files and `csv/stations.csv` are published
//!    only as their gzip ([`urna_tally::public::gz_only`]): `<file>.gz` is read, inflated (one
//!    gzip member, nothing after it, never past the recomputed length) and compared the same
//!    way; a plain copy beside it is a file nothing accounts for.
//! 6. **History** (optional): the log extends the checkpoint verified by an earlier run
//!    ([`State`]), so a rollback or a fork shows.
//! 7. **Keys and export**: `v1/keys.json` must be present and name the trusted log key, and
//!    give each witness that the trust set also names that witness's trusted key; if the
//!    bundle has the NIST CDF export `cdf/election-report.json`, it is recomputed byte for
//!    byte, its `GeneratedDate` taken from the file but required to be the time of a verified
//!    witness cosignature on the checkpoint (by a trusted witness, or by one `v1/keys.json`
//!    names, reported as such); absent is fine.
//! 8. **Scans and extra files**: every scan a signed protocol or amendment names
//!    (`scan: sha256:<hex>`) is fetched from `blob/sha256/<hex>` and hashed (missing or other
//!    bytes: a discrepancy naming the file and the entry), from a directory and over HTTP
//!    alike. From a source that can list its files (a directory, [`Source::walk`]) every file
//!    of the bundle must be accounted for: a derived file recomputed in step 5, one of the files
//!    checked on their own (`checkpoint`, `v1/keys.json`, the CDF export, `v1/audit.json`), a
//!    tile at a C2SP tile path, a blob the definition or a signed note names (a scan named
//!    by a signed note the shared tiles hold past the checkpoint counts too, if its bytes
//!    hash to its name; otherwise [`Kind::BlobUnnamed`]), or the precompressed
//!    copy `<file>.gz` of such a file, if it decompresses to exactly that file's bytes
//!    (otherwise [`Kind::GzMismatch`]); anything else is [`Kind::FileUnexpected`]. Over
//!    HTTP every derived file is asked for as it is (`Accept-Encoding: identity`) and again as a
//!    browser asks for it (`Accept-Encoding: gzip`): what arrives then, decoded, must be the same
//!    file, or it is a [`Kind::GzMismatch`] (a server with precompressed copies sends browsers
//!    the copy, never the file). A web server cannot be listed, so over HTTP only what the log
//!    and the definition name is fetched, and the report says so (`files_listed` is `None`);
//!    what the server answers at the bundle's root (the page visitors see) must be `index.html`.
//!
//! Everything that does not check out is a [`Discrepancy`] in the [`Report`], and the
//! verification goes on, so one run lists everything it can. [`VerifyError`] is kept for a
//! verification that could not run (an unreachable server, an unreadable disk, no
//! checkpoint at all).
//!
//! ```no_run
//! use urna_verify::{Trust, source, verify};
//!
//! let trust = Trust::new("urna/al-2025-assembly+1a2b3c4d+AQ…", &[], None)?;
//! let bundle = source::open("public/current")?;
//! let report = verify(bundle.as_ref(), &trust, None, &|_| {})?;
//! print!("{}", report.summary());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A bundle is read from a directory or over `http://` or `https://` (rustls, Mozilla's roots
//! built in, or a CA file of the user's: see [`source`]); the transport is never trusted.
//!
//! Out of scope: finding the keys to trust (they come from the commission and the witnesses, out of band), and
//! judging the election itself (plausibility screens, audits).

mod audit;
pub mod bench;
mod checkpoint;
pub mod diff;
mod log;
mod published_keys;
mod render;
pub mod report;
mod rotation;
pub mod source;
pub mod state;
pub mod trust;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::Instant;

use urna_model::definition::{ContestIdx, Election, ListKind};
use urna_model::genesis::Genesis;
use urna_model::intake::sha256;
use urna_model::note::Note;
use urna_model::protocol::hex;
use urna_tally::public::{self, DefinitionFiles, Replay, bind_entry};
use urna_tlog::storage::root_at;
use urna_tlog::tile::{Tile, TileKind, decode_hash_tile, hash_tile_bytes, tiles_for_size};

pub use crate::report::{Discrepancy, Kind, Report};
pub use crate::source::{DirSource, HttpSource, Source, SourceError, TlsRoots};
pub use crate::state::State;
pub use crate::trust::{Trust, TrustError, TrustFile};
pub use urna_pin::SpkiPin;

use crate::log::{Counter, entry_tile_path, fetch_tile};
use crate::report::{ContestTotals, Counts, SeatTotals, SinceReport, Timings, WitnessReport};

/// The stage a [`Progress`] report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Fetching and checking the log's entries (`done` and `total` count entries).
    Log,
    /// Fetching and comparing the derived files (`done` and `total` count files).
    Files,
}

/// How far a verification has come. Reported from any of the verification's threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The stage.
    pub stage: Stage,
    /// Done so far.
    pub done: u64,
    /// Out of.
    pub total: u64,
}

/// Why a verification could not run. This says nothing about the bundle's honesty: the
/// outcome is unknown (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The source could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// There is no checkpoint: nothing is claimed, so nothing can be verified.
    #[error("{location}: no checkpoint: this is not an urna bundle, or not its root")]
    NoCheckpoint {
        /// The directory or URL.
        location: String,
    },
    /// The state file is of another log.
    #[error("the state file is of log {state:?}, but the log key given is of {trusted:?}")]
    StateOrigin {
        /// Origin in the state file.
        state: String,
        /// Origin of the trusted log key.
        trusted: String,
    },
    /// A new generation was published while the old one was being verified (a live server,
    /// or a live bundle directory whose generation was removed).
    #[error(
        "the bundle moved on from the checkpoint of {from} entries ({}) while it was being verified; run again, or mirror it and verify the copy",
        match to {
            Some(n) => format!("it now publishes one of {n} entries"),
            None => "its checkpoint is gone".to_owned(),
        }
    )]
    BundleChanged {
        /// Size of the checkpoint verified.
        from: u64,
        /// Size of the checkpoint now published, if there is one.
        to: Option<u64>,
    },
}

/// Refused entries whose altered field is looked up in the published unit files.
const MAX_EXPLAINED: usize = 50;

/// Verifies the bundle `source` against `trust` (and, with `since`, against the checkpoint an
/// earlier run verified). `progress` is called, from the verification's threads, as the work
/// advances.
///
/// # Errors
/// [`VerifyError`] if the verification could not run; everything wrong with the bundle is a
/// [`Discrepancy`] in the report instead.
pub fn verify(
    source: &dyn Source,
    trust: &Trust,
    since: Option<&State>,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Report, VerifyError> {
    let started = Instant::now();
    if let Some(s) = since.filter(|s| s.origin != trust.origin()) {
        return Err(VerifyError::StateOrigin {
            state: s.origin.clone(),
            trusted: trust.origin().to_owned(),
        });
    }
    let mut found: Vec<Discrepancy> = Vec::new();
    let mut report = Report {
        format: report::REPORT_FORMAT,
        verified: false,
        source: source.describe(),
        checkpoint: None,
        witnesses: WitnessReport::default(),
        counts: Counts::default(),
        since: None,
        cdf: None,
        totals: Vec::new(),
        discrepancies: Vec::new(),
        timings: Timings::default(),
    };
    let fetched = Counter::default();

    // 1. The checkpoint.
    let cp_bytes =
        source
            .fetch(checkpoint::CHECKPOINT)?
            .ok_or_else(|| VerifyError::NoCheckpoint {
                location: source.describe(),
            })?;
    let Some(cp) = checkpoint::check(&cp_bytes, trust, &mut report.witnesses, &mut found) else {
        return Ok(finish(report, found, started));
    };
    report.checkpoint = Some(cp.report.clone());
    let listed = published_keys::check_keys(source, trust, &mut found)?;
    checkpoint::check_listed(&cp_bytes, &listed, &mut report.witnesses, &mut found);
    let size = cp.checkpoint.size.0;
    report.counts.entries = size;
    // A checkpoint no trusted key vouches for claims a size and a root that whoever wrote it
    // chose: the log is not read for them (a mirror could claim 2^40 entries and make up
    // every bundle), only the rotations that could hand the trusted key over to its signer.
    if !cp.report.log_signature {
        let published_rotations = published_keys::listed_rotations(source)?;
        if !rotation::vouched(
            source,
            trust,
            &cp,
            &published_rotations,
            &fetched,
            &mut found,
        )? {
            rotation::settle(
                trust,
                &cp,
                None,
                &[],
                &published_rotations,
                &mut report,
                &mut found,
            );
            found.push(
                Discrepancy::new(
                    Kind::NotRecomputed,
                    format!(
                        "the log was not read: the checkpoint is signed neither by the trusted log key nor by a key a rotation from it hands over to, so its size ({size} entries) and root vouch for nothing"
                    ),
                )
                .file(checkpoint::CHECKPOINT),
            );
            return Ok(finish(report, found, started));
        }
    }

    // 2. The definition, from the genesis.
    let definition = establish_definition(source, trust, size, &fetched, &mut found)?;
    if let Some(d) = &definition {
        report.counts.stations = d.election.stations.len() as u64;
    }
    report.timings.checkpoint_ms = millis(started);

    // 3 and 4. The log: tree, tiles, signatures, replay.
    let t = Instant::now();
    let (election, replay, genesis_rotated) = match definition {
        Some(d) => (
            Some((d.election, d.files)),
            Some(d.replay),
            d.genesis_rotated,
        ),
        None => (None, None, None),
    };
    let mut log = log::run(
        source,
        size,
        election.as_ref().map(|(e, _)| e),
        replay,
        &fetched,
        progress,
        &mut found,
    )?;
    report.timings.log_ms = millis(t);
    // The log's keys: the checkpoint (and the genesis) by the key the rotations give.
    let published_rotations = published_keys::listed_rotations(source)?;
    rotation::settle(
        trust,
        &cp,
        genesis_rotated.as_ref(),
        &log.rotations,
        &published_rotations,
        &mut report,
        &mut found,
    );
    let listed: Vec<(u64, String, String)> = log
        .rotations
        .iter()
        .map(|(i, r)| (*i, r.old.to_vkey(&r.origin), r.new.to_vkey(&r.origin)))
        .collect();
    let published = published_rotations;
    if published != listed {
        found.push(
            Discrepancy::new(
                Kind::Keys,
                format!(
                    "{}: lists key rotations {published:?}, but the log holds {listed:?}",
                    urna_tally::public::KEYS_JSON
                ),
            )
            .file(urna_tally::public::KEYS_JSON)
            .field("log.rotations"),
        );
    }
    report.counts.entries_verified = log.applied;
    report.counts.entries_skipped = log.skipped;
    report.counts.protocols = log.protocols;
    report.counts.amendments = log.amendments;
    report.counts.decisions = log.decisions;
    report.counts.revocations = log.revocations;
    match (&log.root, &log.store) {
        (Some(root), Some(store)) => {
            if *root != cp.checkpoint.root {
                found.push(
                    Discrepancy::new(
                        Kind::RootMismatch,
                        format!(
                            "the {size} entries hash to root {}, but the checkpoint says {}: these are not the entries the log signed",
                            root.to_base64(),
                            cp.checkpoint.root.to_base64()
                        ),
                    )
                    .file(checkpoint::CHECKPOINT)
                    .values(cp.checkpoint.root.to_base64(), root.to_base64()),
                );
            }
            compare_upper_hash_tiles(source, size, store, &fetched, &mut found)?;
        }
        _ => found.push(Discrepancy::new(
            Kind::RootMismatch,
            format!(
                "the root cannot be recomputed: {} of the {size} entries cannot be read",
                log.unreadable
            ),
        )),
    }

    // 6. History (before the derived files, whose comparison may end the run).
    if let Some(old) = since {
        report.since = Some(check_since(old, size, log.store.as_ref(), &mut found));
    }

    if let (Some((e, _)), Some(r)) = (&election, &log.replay) {
        summarise_replay(e, r, &mut report);
        explain_refusals(source, e, &log.refused, &mut found)?;
    }

    // 4c. Scans: every scan a signed note names, fetched and hashed.
    let scans_checked = check_scans(source, &log.scans, &mut found)?;
    report.counts.scans = log.scans.len() as u64;

    // 4b. Audits: every urna/audit/v1 entry re-checked against the log it audits, and
    // `v1/audit.json` recomputed from them.
    let audit_trail = match &election {
        Some((e, _)) if !log.audits.is_empty() => Some(audit::check(
            source,
            e,
            log.store.as_ref(),
            size,
            &log.audits,
            &fetched,
            &mut found,
        )),
        _ => None,
    };

    // The tree's hashes (64 bytes an entry) are not needed past the audits: free them before
    // the derived files are rendered, the verification's largest moment.
    log.store = None;

    // 5. The derived files.
    let complete = log.skipped == 0 && log.replay.is_some();
    match (&election, &log.replay) {
        (Some((e, files)), Some(r)) if complete => {
            let t = Instant::now();
            match public::checked_checkpoint(e, r, &cp_bytes) {
                Ok(info) => {
                    let before = found.len();
                    let inputs = render::Inputs {
                        election: e,
                        files,
                        replay: r,
                        checkpoint: &info,
                    };
                    let compared = render::render_and_compare(source, &inputs, progress)?;
                    report.counts.files_compared = compared.compared;
                    report.counts.files_identical = compared.identical;
                    found.extend(compared.found);
                    let named = Named {
                        election: e,
                        files,
                        scans: &scans_checked,
                        size,
                    };
                    report.counts.files_listed =
                        unexpected_files(source, &compared.paths, &named, &mut found)?;
                    // What a web server answers at its root is the page its visitors see: it
                    // must be the bundle's index.html, that is the page urna renders (the
                    // bundle's own copy is compared with it above).
                    let index = public::WEB_FILES
                        .iter()
                        .find(|(path, _)| *path == public::INDEX_HTML)
                        .map_or(&[][..], |(_, bytes)| *bytes);
                    if source.root_equals(index)? == Some(false) {
                        found.push(
                            Discrepancy::new(
                                Kind::FileMismatch,
                                "/: the page the server answers at the bundle's root is not its index.html",
                            )
                            .file("/"),
                        );
                    }
                    let before_cdf = found.len();
                    if published_keys::check_cdf(
                        source,
                        e,
                        r,
                        &info,
                        &report.witnesses,
                        &mut report.cdf,
                        &mut found,
                    )? {
                        report.counts.files_compared += 1;
                        if found.len() == before_cdf {
                            report.counts.files_identical += 1;
                        }
                    }
                    if found.len() > before {
                        moved_on(source, &cp_bytes, size, before, &mut found)?;
                    }
                }
                Err(err) => found.push(Discrepancy::new(
                    Kind::NotRecomputed,
                    format!("the derived files cannot be recomputed: {err}"),
                )),
            }
            report.timings.files_ms = millis(t);
        }
        _ => found.push(Discrepancy::new(
            Kind::NotRecomputed,
            if election.is_none() {
                "the derived files were not recomputed: without the definition the entries cannot be read".to_owned()
            } else {
                format!(
                    "the derived files were not compared: {} of the {size} entries could not be replayed, so the published results cannot be recomputed from this log",
                    log.skipped
                )
            },
        )),
    }
    if let Some((e, _)) = &election
        && let Some(identical) = audit::compare_file(
            source,
            e,
            audit_trail.as_ref(),
            log.replay.as_ref().filter(|_| complete),
            &mut found,
        )?
    {
        report.counts.files_compared += 1;
        report.counts.files_identical += u64::from(identical);
    }
    report.counts.tiles = fetched.tiles.load(Ordering::Relaxed);
    report.counts.bytes = fetched.bytes.load(Ordering::Relaxed);
    let report = finish(report, found, started);
    // Freeing a million stations' replay and tree takes about half a second; let a thread do
    // it while the caller prints the report (if none can be started, it is done here).
    let _ = std::thread::Builder::new().spawn(move || drop((log, election)));
    Ok(report)
}

fn finish(mut report: Report, found: Vec<Discrepancy>, started: Instant) -> Report {
    report.verified = found.is_empty();
    report.discrepancies = found;
    report.timings.total_ms = millis(started);
    report
}

fn millis(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The election the genesis commits to, its files, and the replay after entry 0.
pub(crate) struct Definition {
    pub(crate) election: Election,
    pub(crate) files: DefinitionFiles,
    pub(crate) replay: Replay,
    /// The genesis, if it is signed by another key of the trusted log than the trusted one
    /// (left for the key rotations to settle).
    pub(crate) genesis_rotated: Option<Note>,
}

/// Reads entry 0, checks that it is the genesis signed by the log key, fetches the two
/// definition files by the hashes it names and loads them. `None` (with discrepancies) if
/// that fails; a missing or malformed first entry bundle is reported by the log check.
pub(crate) fn establish_definition(
    source: &dyn Source,
    trust: &Trust,
    size: u64,
    fetched: &Counter,
    found: &mut Vec<Discrepancy>,
) -> Result<Option<Definition>, SourceError> {
    let genesis_error = |message: String| {
        Discrepancy::new(Kind::Genesis, format!("entry 0: {message}"))
            .file(entry_tile_path(0))
            .index(0)
    };
    if size == 0 {
        found.push(genesis_error(
            "the log is empty; its first entry must be the genesis naming the definition".into(),
        ));
        return Ok(None);
    }
    let width = u16::try_from(size.min(256)).unwrap_or(256);
    let Ok(tile) = Tile::entries(0, width) else {
        return Ok(None);
    };
    let Some((bytes, from_width)) = fetch_tile(source, &tile, fetched)? else {
        return Ok(None);
    };
    let Some(entry0) = log::decode_lenient(&bytes, usize::from(from_width))
        .0
        .first()
        .map(|e| e.to_vec())
    else {
        return Ok(None);
    };
    let note = match Note::parse(&entry0) {
        Ok(n) => n,
        Err(e) => {
            found.push(genesis_error(format!("not a signed note: {e}")));
            return Ok(None);
        }
    };
    // Signed by another key of the same log: the log's key rotations may name it as the key
    // the trusted one replaced; settled once they are read (`rotation::settle`).
    let genesis_rotated = trust.log.verify(&note).is_err()
        && note
            .signatures()
            .iter()
            .any(|s| s.name == trust.log.name() && s.key_id != trust.log.key_id());
    if genesis_rotated {
    } else if let Err(e) = trust.log.verify(&note) {
        found.push(genesis_error(format!(
            "{e}: the genesis is not signed by the log key, so it vouches for no definition"
        )));
    }
    let genesis = match Genesis::parse(note.text()) {
        Ok(g) => g,
        Err(e) => {
            found.push(genesis_error(format!("not an urna/genesis/v1 note: {e}")));
            return Ok(None);
        }
    };
    if genesis.log != trust.origin() {
        found.push(
            genesis_error(format!(
                "names log {:?}, not the trusted log {:?}",
                genesis.log,
                trust.origin()
            ))
            .field("log")
            .values(trust.origin(), genesis.log.clone()),
        );
    }
    let mut texts = Vec::new();
    for (name, sha) in [
        ("election.toml", genesis.election_toml),
        (genesis.stations_file.as_str(), genesis.stations),
    ] {
        let path = format!("blob/sha256/{}", hex(&sha));
        let Some(blob) = source.fetch(&path)? else {
            found.push(
                Discrepancy::new(
                    Kind::BlobMissing,
                    format!("{path}: missing; the genesis names it as the definition's {name}"),
                )
                .file(path),
            );
            return Ok(None);
        };
        let got = sha256(&blob);
        if got != sha {
            found.push(
                Discrepancy::new(
                    Kind::BlobMismatch,
                    format!("{path}: its bytes hash to sha256:{}, not to the name the genesis gives {name}", hex(&got)),
                )
                .file(path)
                .values(hex(&sha), hex(&got)),
            );
            return Ok(None);
        }
        found.extend(served_encoded(source, &path, &blob)?);
        match String::from_utf8(blob) {
            Ok(t) => texts.push(t),
            Err(_) => {
                found.push(
                    Discrepancy::new(
                        Kind::Definition,
                        format!("{path} ({name}) is not UTF-8 text"),
                    )
                    .file(path),
                );
                return Ok(None);
            }
        }
    }
    let (toml_text, stations_text) = (&texts[0], &texts[1]);
    let election = match Election::from_texts(
        "election.toml",
        toml_text,
        &genesis.stations_file,
        stations_text,
    ) {
        Ok(e) => e,
        Err(e) => {
            found.push(Discrepancy::new(
                Kind::Definition,
                format!("the definition the genesis names does not load: {e}"),
            ));
            return Ok(None);
        }
    };
    let definition_error = |message: String| Discrepancy::new(Kind::Definition, message);
    let mut files =
        match DefinitionFiles::new(&election, toml_text.as_bytes(), stations_text.as_bytes()) {
            Ok(f) => f,
            Err(e) => {
                found.push(definition_error(e.to_string()));
                return Ok(None);
            }
        };
    // The texts are loaded and hashed: a million stations' file is a hundred megabytes or
    // more, not to be held beside the replay that is made next.
    drop(texts);
    // The unit shapes the definition names by SHA-256, published as a blob like the files.
    if let Some(shapes) = &election.shapes {
        let path = format!("blob/sha256/{}", hex(&shapes.sha256));
        let Some(blob) = source.fetch(&path)? else {
            found.push(
                Discrepancy::new(
                    Kind::BlobMissing,
                    format!(
                        "{path}: missing; the definition names it as its unit shapes {}",
                        shapes.file
                    ),
                )
                .file(path),
            );
            return Ok(None);
        };
        if sha256(&blob) == shapes.sha256 {
            found.extend(served_encoded(source, &path, &blob)?);
        }
        files = match files.with_shapes(&election, blob) {
            Ok(f) => f,
            Err(e) => {
                found.push(Discrepancy::new(Kind::BlobMismatch, format!("{path}: {e}")).file(path));
                return Ok(None);
            }
        };
    }
    let mut replay = match Replay::new(&election) {
        Ok(r) => r,
        Err(e) => {
            found.push(definition_error(e.to_string()));
            return Ok(None);
        }
    };
    if let Err(e) = replay.apply_genesis(&election, &entry0) {
        let text = e.to_string();
        found.push(genesis_error(
            text.strip_prefix("entry 0: ").unwrap_or(&text).to_owned(),
        ));
        return Ok(None);
    }
    Ok(Some(Definition {
        election,
        files,
        replay,
        genesis_rotated: genesis_rotated.then_some(note),
    }))
}

/// Compares the hash tiles above level 0 with the tree recomputed from the entries.
fn compare_upper_hash_tiles(
    source: &dyn Source,
    size: u64,
    store: &urna_tlog::MemoryStore,
    fetched: &Counter,
    found: &mut Vec<Discrepancy>,
) -> Result<(), SourceError> {
    for tile in tiles_for_size(urna_tlog::TreeSize(size)) {
        let TileKind::Hash(level) = tile.kind() else {
            continue;
        };
        if level == 0 {
            continue;
        }
        let expected = hash_tile_bytes(store, &tile)
            .ok()
            .and_then(|b| decode_hash_tile(&b, tile.width()).ok())
            .unwrap_or_default();
        match fetch_tile(source, &tile, fetched)? {
            None => found.push(
                Discrepancy::new(
                    Kind::TileMissing,
                    format!("{}: missing, but the checkpoint needs it", tile.path()),
                )
                .file(tile.path()),
            ),
            Some((bytes, from_width)) => {
                found.extend(log::compare_hashes(
                    &tile,
                    &bytes,
                    from_width,
                    &expected,
                    |i| tile.index() * 256 + i as u64,
                ));
            }
        }
    }
    Ok(())
}

/// Checks that this log extends the checkpoint of an earlier run.
fn check_since(
    old: &State,
    size: u64,
    store: Option<&urna_tlog::MemoryStore>,
    found: &mut Vec<Discrepancy>,
) -> SinceReport {
    let mut report = SinceReport {
        old_size: old.size,
        old_root_hash: old.root_hash.clone(),
        consistent: false,
    };
    if size < old.size {
        found.push(
            Discrepancy::new(
                Kind::Rollback,
                format!(
                    "rollback: the checkpoint covers {size} entries, fewer than the {} of the checkpoint verified before (root {}): the log went back, or this is an older copy",
                    old.size, old.root_hash
                ),
            )
            .file(checkpoint::CHECKPOINT)
            .field("size")
            .values(format!("at least {}", old.size), size.to_string()),
        );
        return report;
    }
    let Some(store) = store else {
        return report;
    };
    let Ok(old_root) = old.root() else {
        return report;
    };
    match root_at(store, urna_tlog::TreeSize(old.size)) {
        Ok(root) if root == old_root => report.consistent = true,
        Ok(root) => found.push(
            Discrepancy::new(
                Kind::Fork,
                format!(
                    "fork: the first {} entries of this log hash to {}, but the checkpoint verified before says {}: the log rewrote its history",
                    old.size,
                    root.to_base64(),
                    old.root_hash
                ),
            )
            .values(old.root_hash.clone(), root.to_base64()),
        ),
        Err(e) => found.push(Discrepancy::new(
            Kind::Fork,
            format!("fork check: the root at {} cannot be recomputed: {e}", old.size),
        )),
    }
    report
}

/// Station counts and national totals from the replay.
fn summarise_replay(e: &Election, r: &Replay, report: &mut Report) {
    for (c, contest) in e.contests.iter().enumerate() {
        let Ok(ci) = u16::try_from(c).map(ContestIdx) else {
            continue;
        };
        let Some(national) = r.tally(ci).units.first() else {
            continue;
        };
        report.counts.stations_counted += national.counted;
        report.counts.stations_quarantined += national.quarantined;
        report.counts.stations_reporting += national.counted + national.quarantined;
        report.totals.push(ContestTotals {
            contest: contest.id.clone(),
            counted: national.counted,
            quarantined: national.quarantined,
            stations: national.stations,
            votes: contest
                .lists
                .iter()
                .zip(&national.votes)
                .map(|(&l, &v)| (e.lists[l].id.clone(), v))
                .collect(),
            seats: contest.seats.as_ref().map(|config| {
                match urna_tally::seats::contest_seats(e, r.tally(ci)) {
                    Some(Ok((rules, a))) => SeatTotals {
                        rules: rules.id,
                        lists: contest
                            .lists
                            .iter()
                            .filter(|&&l| e.lists[l].kind != ListKind::Other)
                            .map(|&l| (e.lists[l].id.clone(), a.seats_of(&e.lists[l].id).0))
                            .collect(),
                        error: None,
                    },
                    Some(Err(err)) => SeatTotals {
                        rules: config.rules.clone(),
                        lists: Vec::new(),
                        error: Some(err.to_string()),
                    },
                    None => SeatTotals {
                        rules: config.rules.clone(),
                        lists: Vec::new(),
                        error: Some("no rule set".into()),
                    },
                }
            }),
        });
    }
}

/// Most bytes a unit file is inflated to when it explains a refused entry: some 130,000
/// stations' worth (a unit file holds about 500 bytes a station), far above any real unit's
/// file, and a bound on what a mirror serving a small gzip that inflates without end can make
/// the verifier hold. Past it the refusal stands, unexplained. Parsed, such a document takes
/// many times its size (twenty for `[0,0,…]`), so only one is held at a time.
const MAX_EXPLAINING_BYTES: u64 = 64 << 20;

/// A unit file, inflated (at most [`MAX_EXPLAINING_BYTES`]) and parsed; `None` if it is
/// missing, larger, or not gzip of JSON. Read as it arrives: the gzip is never held whole.
fn unit_document(
    source: &dyn Source,
    path: &str,
) -> Result<Option<serde_json::Value>, SourceError> {
    let Some(reader) = source.reader(path)? else {
        return Ok(None);
    };
    let mut json = Vec::new();
    let gz = flate2::read::GzDecoder::new(reader);
    if std::io::Read::read_to_end(
        &mut std::io::Read::take(gz, MAX_EXPLAINING_BYTES + 1),
        &mut json,
    )
    .is_err()
        || json.len() as u64 > MAX_EXPLAINING_BYTES
    {
        return Ok(None);
    }
    Ok(serde_json::from_slice(&json).ok())
}

/// For entries refused because a signature does not verify, names the field that differs
/// from what the published unit file shows for the same entry: the signature was made over
/// other numbers than the entry now holds. The entries are taken unit by unit, each unit file
/// read once and dropped before the next.
fn explain_refusals(
    source: &dyn Source,
    e: &Election,
    refused: &[log::Refused],
    found: &mut [Discrepancy],
) -> Result<(), SourceError> {
    let mut work = Vec::new();
    for r in refused.iter().take(MAX_EXPLAINED).filter(|r| r.altered) {
        let Ok(sub) = bind_entry(e, r.index, &r.bytes) else {
            continue;
        };
        let station = &e.stations[sub.station.0 as usize];
        let path = public::unit_published_path(&e.units[station.unit.0 as usize].id);
        work.push((path, r, sub));
    }
    work.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.index.cmp(&b.1.index)));
    let mut held: Option<(String, Option<serde_json::Value>)> = None;
    for (path, r, sub) in work {
        if held.as_ref().is_none_or(|(p, _)| *p != path) {
            // The document before is freed before the next is read.
            drop(held.take());
            held = Some((path.clone(), unit_document(source, &path)?));
        }
        let Some((_, Some(doc))) = &held else {
            continue;
        };
        let station = &e.stations[sub.station.0 as usize];
        let published = doc["contests"][usize::from(sub.contest.0)]["stations"]
            .as_array()
            .and_then(|list| list.iter().find(|s| s["id"] == station.id.as_str()))
            .map(|s| &s["current"])
            .filter(|cur| cur["index"] == r.index);
        let Some(cur) = published else {
            continue;
        };
        let counts = e
            .counts
            .iter()
            .zip(&sub.counts)
            .map(|(name, v)| (name.clone(), cur["counts"][name].as_u64(), *v));
        let lists = &e.contests[usize::from(sub.contest.0)].lists;
        let votes = lists.iter().zip(&sub.votes).map(|(&l, v)| {
            let id = &e.lists[l].id;
            (format!("votes {id}"), cur["votes"][id].as_u64(), *v)
        });
        // Open lists: each candidate's preference votes, by list then ballot number; a
        // candidate the published entry does not show has none there.
        let open = e.contests[usize::from(sub.contest.0)].preferences.is_some();
        let mut preferences: Vec<(String, Option<u64>, u64)> = Vec::new();
        for &l in lists.iter().filter(|_| open) {
            let id = &e.lists[l].id;
            let mut numbers: BTreeMap<u32, (Option<u64>, u64)> = BTreeMap::new();
            for (ci, v) in &sub.preferences {
                let c = &e.candidates[ci.0 as usize];
                if c.list == l {
                    numbers.entry(c.number).or_insert((Some(0), 0)).1 += v;
                }
            }
            if let Some(shown) = cur["preferences"][id].as_object() {
                for (n, v) in shown {
                    if let Ok(n) = n.parse::<u32>() {
                        numbers.entry(n).or_insert((Some(0), 0)).0 = v.as_u64();
                    }
                }
            }
            preferences.extend(
                numbers
                    .into_iter()
                    .map(|(n, (was, now))| (format!("preferences {id} {n}"), was, now)),
            );
        }
        let Some((field, was, now)) = counts
            .chain(votes)
            .chain(preferences)
            .find(|(_, was, now)| *was != Some(*now))
        else {
            continue;
        };
        let was = was.map_or_else(|| "nothing".to_owned(), |v| v.to_string());
        if let Some(d) = found.get_mut(r.discrepancy) {
            d.message.push_str(&format!(
                "; its `{field}` is {now}, but the published {path} shows {was} for this entry: the entry was changed after it was signed"
            ));
            d.field = Some(field);
            d.expected = Some(was);
            d.found = Some(now.to_string());
        }
    }
    Ok(())
}

/// Fetches every scan in `scans` (`blob/sha256/<hex>`, on `source.concurrency()` threads) and
/// checks that its bytes hash to the name the signed note gives: a missing scan or one with
/// other bytes is a discrepancy naming the file and the entry. Returns the blob paths checked.
///
/// # Errors
/// [`SourceError`] if the source fails.
fn check_scans(
    source: &dyn Source,
    scans: &BTreeMap<[u8; 32], (u64, String)>,
    found: &mut Vec<Discrepancy>,
) -> Result<BTreeSet<String>, SourceError> {
    let list: Vec<(&[u8; 32], &(u64, String))> = scans.iter().collect();
    let threads = source.concurrency().clamp(1, list.len().max(1));
    let chunk = list.len().div_ceil(threads).max(1);
    let outcomes: Vec<Result<Vec<Option<Discrepancy>>, SourceError>> = std::thread::scope(|s| {
        let handles: Vec<_> = list
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(sha, (index, station))| check_scan(source, sha, *index, station))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(SourceError::Unsupported(
                        "a scan check thread panicked".into(),
                    ))
                })
            })
            .collect()
    });
    for outcome in outcomes {
        found.extend(outcome?.into_iter().flatten());
    }
    Ok(scans.keys().map(blob_path).collect())
}

/// One scan named by entry `index` of `station`: `None` if it is published with the bytes the
/// note names.
fn check_scan(
    source: &dyn Source,
    sha: &[u8; 32],
    index: u64,
    station: &str,
) -> Result<Option<Discrepancy>, SourceError> {
    let path = blob_path(sha);
    let named = format!(
        "entry {index} (station {station}) names it as the scan of its paper protocol (`scan: sha256:{}`)",
        hex(sha)
    );
    // A scan is at most MAX_SCAN bytes (intake refuses larger): read one byte past it at
    // most, never a mirror's gigabyte on each of the fetching threads.
    let most = urna_model::scan::MAX_SCAN;
    let read = match source.reader(&path)? {
        None => None,
        Some(reader) => {
            let mut bytes = Vec::new();
            let mut limited = std::io::Read::take(reader, most as u64 + 1);
            std::io::Read::read_to_end(&mut limited, &mut bytes).map_err(|e| SourceError::Io {
                path: format!("{}/{path}", source.describe()).into(),
                source: e,
            })?;
            Some(bytes)
        }
    };
    let discrepancy = match read {
        None => Discrepancy::new(Kind::BlobMissing, format!("{path}: missing; {named}")),
        Some(bytes) if bytes.len() > most => Discrepancy::new(
            Kind::BlobMismatch,
            format!("{path}: larger than {most} bytes, the most a scan can be, but {named}"),
        )
        .values(hex(sha), format!("more than {most} bytes")),
        Some(bytes) => {
            let got = sha256(&bytes);
            if got == *sha {
                // As a browser is sent it, too (a web server's precompressed copy).
                return Ok(served_encoded(source, &path, &bytes)?.map(|d| {
                    d.index(index)
                        .station(Some(station.to_owned()))
                        .field("scan")
                }));
            }
            Discrepancy::new(
                Kind::BlobMismatch,
                format!(
                    "{path}: its {} bytes hash to {}, but {named}: the scan was replaced",
                    bytes.len(),
                    hex(&got)
                ),
            )
            .values(hex(sha), hex(&got))
        }
    };
    Ok(Some(
        discrepancy
            .file(path)
            .index(index)
            .station(Some(station.to_owned()))
            .field("scan"),
    ))
}

/// `blob/sha256/<hex>`: where the bundle keeps a file by the SHA-256 of its bytes.
fn blob_path(sha: &[u8; 32]) -> String {
    format!("{BLOB_DIR}{}", hex(sha))
}

/// Every file of the bundle that nothing accounts for, if the source can list its directories
/// (a directory can, a web server cannot: then `Ok(None)`, and only the files the log and the
/// definition name were fetched). Returns the number of files listed.
///
/// A file is accounted for if it is:
/// - a derived file the recomputation produced (`produced`: results, units, seats, station
///   index, areas, CSVs, forensics, README, the web assets), or one of the files checked on
///   their own: `checkpoint`, `v1/keys.json`, `cdf/election-report.json`, `v1/audit.json`;
/// - a tile under `tile/` at a path C2SP tlog-tiles gives (the bundle's tile directory is
///   shared by its generations, so it may hold tiles of a larger tree, and partial tiles of
///   smaller ones);
/// - a blob `blob/sha256/<hex>` named by the definition (its two files, its unit shapes) or by
///   a signed note of the log (its scan, checked already), or, if its bytes hash to its name, a
///   scan named by a signed note after the checkpoint ([`later_scans`]): a live bundle's `blob/`
///   is shared by its generations, and the next generation's scans land there, with its tiles,
///   before it goes live. A blob nothing names is [`Kind::BlobUnnamed`].
///
/// A precompressed copy `<file>.gz` beside a file accounted for is accounted for too if it
/// decompresses to exactly that file's bytes (otherwise [`Kind::GzMismatch`]): a web server
/// sends it to a client that accepts gzip in place of the file. A `.gz` without its file is
/// unexpected.
///
/// Anything else is [`Kind::FileUnexpected`]: a web server would serve it beside the
/// results under the bundle's name.
///
/// # Errors
/// [`SourceError`] if the source fails.
fn unexpected_files(
    source: &dyn Source,
    produced: &[String],
    named: &Named<'_>,
    found: &mut Vec<Discrepancy>,
) -> Result<Option<u64>, SourceError> {
    let Some(files) = source.walk()? else {
        return Ok(None);
    };
    let produced: BTreeSet<&str> = produced.iter().map(String::as_str).collect();
    let fixed = [
        checkpoint::CHECKPOINT,
        public::KEYS_JSON,
        urna_tally::cdf::BUNDLE_PATH,
        urna_audit::public::AUDIT_JSON,
    ];
    let listed: BTreeSet<&str> = files.iter().map(String::as_str).collect();
    let accounted = |path: &str| {
        produced.contains(path)
            || fixed.contains(&path)
            || (path.starts_with("tile/") && Tile::parse_path(path).is_ok())
            || path.strip_prefix(BLOB_DIR).is_some_and(is_sha256_hex)
    };
    let mut unnamed = Vec::new();
    for path in &files {
        if let Some(file) = path.strip_suffix(GZ_SUFFIX)
            && listed.contains(file)
            && accounted(file)
        {
            found.extend(gz_copy(source, path, file)?);
            continue;
        }
        if produced.contains(path.as_str()) || fixed.contains(&path.as_str()) {
            continue;
        }
        if path.starts_with("tile/") && Tile::parse_path(path).is_ok() {
            continue;
        }
        if let Some(name) = path.strip_prefix(BLOB_DIR)
            && is_sha256_hex(name)
        {
            if !named.by_definition_or_log(path) {
                match unnamed_blob(source, path, name) {
                    Some(d) => found.push(d),
                    None => unnamed.push(path.as_str()),
                }
            }
            continue;
        }
        found.push(
            Discrepancy::new(
                Kind::FileUnexpected,
                format!("{path}: published, but the log and the definition yield no such file"),
            )
            .file(path.as_str()),
        );
    }
    if !unnamed.is_empty() {
        let later = later_scans(source, named, &files)?;
        for path in unnamed {
            if !later.contains(path) {
                found.push(
                    Discrepancy::new(
                        Kind::BlobUnnamed,
                        format!(
                            "{path}: published, but neither the definition nor a signed note of \
                             the log (up to its checkpoint or in the tiles after it) names it"
                        ),
                    )
                    .file(path),
                );
            }
        }
    }
    Ok(Some(files.len() as u64))
}

/// What names blobs: the definition (its files and unit shapes) and the signed notes of the
/// verified log (their scans), up to the checkpoint of `size` entries.
struct Named<'a> {
    election: &'a Election,
    files: &'a DefinitionFiles,
    /// Paths of the scans the log's notes name (fetched and hashed already).
    scans: &'a BTreeSet<String>,
    size: u64,
}

impl Named<'_> {
    fn by_definition_or_log(&self, path: &str) -> bool {
        let definition = [
            Some(self.files.election_toml),
            Some(self.files.stations),
            self.election.shapes.as_ref().map(|s| s.sha256),
        ];
        self.scans.contains(path)
            || definition
                .iter()
                .flatten()
                .any(|sha| blob_path(sha) == path)
    }
}

/// The paths of the scans named by notes past the checkpoint: each entry bundle listed
/// (`tile/entries/…`, the widest one published for each index) that holds entries at or after
/// `named.size` is read, and every such entry checked as intake checks it (its signatures
/// against the definition's keys, [`urna_model::intake::check_batch`]); the scan of each that
/// checks out is named. The tree these tiles belong to is not verified here, only that a
/// station or authority signed a note naming the blob.
///
/// # Errors
/// [`SourceError`] if the source fails.
fn later_scans(
    source: &dyn Source,
    named: &Named<'_>,
    listed: &[String],
) -> Result<BTreeSet<String>, SourceError> {
    let width = u64::from(urna_tlog::tile::TILE_WIDTH);
    let mut widest: BTreeMap<u64, u16> = BTreeMap::new();
    for path in listed.iter().filter(|p| p.starts_with("tile/entries/")) {
        let Ok(tile) = Tile::parse_path(path) else {
            continue;
        };
        if tile.kind() == TileKind::Entries
            && tile.index() * width + u64::from(tile.width()) > named.size
        {
            let w = widest.entry(tile.index()).or_default();
            *w = (*w).max(tile.width());
        }
    }
    let mut later = BTreeSet::new();
    for (index, w) in widest {
        let Ok(tile) = Tile::entries(index, w) else {
            continue;
        };
        let Some(bytes) = source.fetch(&tile.path())? else {
            continue;
        };
        let (entries, _) = log::decode_lenient(&bytes, usize::from(w));
        let first = index * width;
        let after: Vec<&[u8]> = entries
            .into_iter()
            .enumerate()
            .filter(|&(i, _)| first + i as u64 >= named.size)
            .map(|(_, e)| e)
            .collect();
        for checked in urna_model::intake::check_batch(named.election, &after) {
            if let Ok(sub) = checked
                && let Some(scan) = sub.scan
            {
                later.insert(blob_path(&scan));
            }
        }
    }
    Ok(later)
}

/// A precompressed copy `gz` of `file`: `None` if it is one RFC 1952 gzip member that
/// decompresses to exactly the file's bytes, with nothing after it. The copy is inflated and
/// compared with the file a piece at a time ([`GZ_CHUNK`]), never holding either (the largest
/// derived files of a million stations are hundreds of megabytes), and inflation stops a
/// piece past the file's end, so a copy that inflates without bound costs nothing.
///
/// # Errors
/// [`SourceError`] if the source fails.
fn gz_copy(source: &dyn Source, gz: &str, file: &str) -> Result<Option<Discrepancy>, SourceError> {
    use std::io::BufRead as _;
    let (Some(copy), Some(mut bytes)) = (source.reader(gz)?, source.reader(file)?) else {
        return Ok(Some(
            Discrepancy::new(
                Kind::GzMismatch,
                format!("{gz}: listed, but it or {file} cannot be read"),
            )
            .file(gz),
        ));
    };
    let io = |source| SourceError::Io {
        path: file.into(),
        source,
    };
    let mut decoder = flate2::bufread::GzDecoder::new(std::io::BufReader::new(copy));
    let (mut inflated, mut published) = (vec![0; GZ_CHUNK], vec![0; GZ_CHUNK]);
    let (mut inflated_len, mut file_len) = (0u64, 0u64);
    let (mut same, mut inflated_done, mut file_done) = (true, false, false);
    let problem = loop {
        let n = if inflated_done {
            0
        } else {
            match fill(&mut decoder, &mut inflated) {
                Ok(n) => n,
                Err(e) => break Some(format!("not a gzip stream: {e}")),
            }
        };
        let m = if file_done {
            0
        } else {
            fill(&mut bytes, &mut published).map_err(io)?
        };
        inflated_done |= n < GZ_CHUNK;
        file_done |= m < GZ_CHUNK;
        same &= inflated[..n] == published[..m];
        inflated_len += n as u64;
        file_len += m as u64;
        if file_done && inflated_len > file_len {
            break Some(format!(
                "it inflates to more than the {file_len} bytes of {file}"
            ));
        }
        if inflated_done && file_done {
            break (!same).then(|| {
                format!(
                    "it inflates to {inflated_len} bytes that differ from the {file_len} of {file}"
                )
            });
        }
    };
    let problem = match problem {
        Some(p) => p,
        None => match decoder.into_inner().fill_buf() {
            Ok([]) => return Ok(None),
            Ok(_) => "bytes follow its gzip stream".to_owned(),
            Err(e) => {
                return Err(SourceError::Io {
                    path: gz.into(),
                    source: e,
                });
            }
        },
    };
    Ok(Some(
        Discrepancy::new(
            Kind::GzMismatch,
            format!(
                "{gz}: {problem}; a web server would send it in place of {file} to clients \
                 that accept gzip"
            ),
        )
        .file(gz),
    ))
}

/// Bytes of a precompressed copy and of its file compared at a time.
const GZ_CHUNK: usize = 1 << 16;

/// Reads until `buf` is full or the reader ends; returns the bytes read.
pub(crate) fn fill(reader: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut at = 0;
    while at < buf.len() {
        match reader.read(&mut buf[at..]) {
            Ok(0) => break,
            Ok(n) => at += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(at)
}

/// Suffix of a precompressed copy of a bundle file.
const GZ_SUFFIX: &str = ".gz";

/// A blob the definition and the verified log do not name: `None` if its bytes hash to its
/// name (whether anything names it is [`later_scans`]' to say).
fn unnamed_blob(source: &dyn Source, path: &str, name: &str) -> Option<Discrepancy> {
    let problem = match source.fetch(path) {
        Ok(Some(bytes)) if hex(&sha256(&bytes)) == name => return None,
        Ok(Some(bytes)) => format!(
            "its {} bytes hash to {}, not to its name",
            bytes.len(),
            hex(&sha256(&bytes))
        ),
        Ok(None) => "listed, but it cannot be read".to_owned(),
        Err(e) => format!("cannot be read: {e}"),
    };
    Some(
        Discrepancy::new(
            Kind::BlobMismatch,
            format!("{path}: {problem}; a blob is named by the SHA-256 of its bytes"),
        )
        .file(path),
    )
}

/// Whether `name` is 64 lower-case hexadecimal digits, as [`hex`] writes a SHA-256.
fn is_sha256_hex(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Directory of the bundle's content-addressed files.
const BLOB_DIR: &str = "blob/sha256/";

/// What a browser is sent for the file at `path` (a web server's precompressed copy, see
/// [`Source::encoded_reader`]) compared with `expected`: a [`Kind::GzMismatch`] if it decodes
/// to other bytes.
pub(crate) fn served_encoded(
    source: &dyn Source,
    path: &str,
    expected: &[u8],
) -> Result<Option<Discrepancy>, SourceError> {
    let Some(served) = source.encoded_reader(path)? else {
        return Ok(None);
    };
    // At most one byte more than the file; a body that cannot be decoded is not the file.
    let mut served = std::io::Read::take(served, expected.len() as u64 + 1);
    let same = source::same_bytes(&mut served, expected).unwrap_or(false);
    if same {
        return Ok(None);
    }
    Ok(Some(
        Discrepancy::new(
            Kind::GzMismatch,
            format!(
                "{path}: asked for as a browser asks (Accept-Encoding: gzip), the server \
                 sends other bytes than the {} bytes the file must hold, and every reader's \
                 browser is sent those",
                expected.len()
            ),
        )
        .file(path),
    ))
}

/// Compares a derived file with the recomputed bytes: piece by piece first
/// ([`Source::equals`]), so an identical file is never held in memory; only a file that
/// differs is fetched whole, to name where. An identical file is compared again as a
/// browser is sent it ([`served_encoded`]).
pub(crate) fn compare_file(
    source: &dyn Source,
    path: &str,
    expected: &[u8],
) -> Result<Option<Discrepancy>, SourceError> {
    if public::gz_only(path) {
        return compare_gz_only(source, path, expected);
    }
    let published = match source.equals(path, expected)? {
        Some(true) => return served_encoded(source, path, expected),
        Some(false) => match read_to_explain(source, path, expected.len())? {
            Explained::Read(bytes) => Some(bytes),
            Explained::TooLarge(most) => {
                return Ok(Some(
                    Discrepancy::new(
                        Kind::FileMismatch,
                        format!(
                            "{path}: more than {most} bytes, the {} bytes it is recomputed as and 1 MiB; not read further",
                            expected.len()
                        ),
                    )
                    .file(path)
                    .values(
                        format!("{} bytes", expected.len()),
                        format!("more than {most} bytes"),
                    ),
                ));
            }
            Explained::Missing => None,
        },
        None => None,
    };
    let Some(published) = published else {
        return Ok(Some(
            Discrepancy::new(
                Kind::FileMissing,
                format!(
                    "{path}: missing; it is recomputed from the log as {} bytes",
                    expected.len()
                ),
            )
            .file(path),
        ));
    };
    Ok(compare_bytes(path, expected, &published))
}

/// Bytes past its recomputed length read of a derived file that differs, to name where: a
/// few added members or lines are named; a file larger still is refused by its size alone,
/// never held or parsed (parsed, a gigabyte of `[0,0,…]` takes some twenty gigabytes).
pub(crate) const MAX_EXPLAINED_EXTRA: usize = 1 << 20;

/// A derived file that differs, read to name where.
enum Explained {
    /// Its bytes.
    Read(Vec<u8>),
    /// Larger than this many bytes, not read further.
    TooLarge(usize),
    /// Gone since it was compared.
    Missing,
}

/// Reads the file at `path`, which differs from the `len` bytes it is recomputed as, up to
/// [`MAX_EXPLAINED_EXTRA`] bytes past `len`.
fn read_to_explain(source: &dyn Source, path: &str, len: usize) -> Result<Explained, SourceError> {
    let most = len.saturating_add(MAX_EXPLAINED_EXTRA);
    let Some(reader) = source.reader(path)? else {
        return Ok(Explained::Missing);
    };
    let mut bytes = Vec::new();
    let mut limited = std::io::Read::take(reader, most as u64 + 1);
    std::io::Read::read_to_end(&mut limited, &mut bytes).map_err(|e| SourceError::Io {
        path: format!("{}/{path}", source.describe()).into(),
        source: e,
    })?;
    Ok(if bytes.len() > most {
        Explained::TooLarge(most)
    } else {
        Explained::Read(bytes)
    })
}

/// Compares a derived file published only as its gzip ([`public::gz_only`]: `<path>.gz`,
/// one RFC 1952 member with nothing after it) with the recomputed bytes: what it inflates to
/// must be exactly those bytes. Inflation stops one byte past them, so a copy that inflates
/// without bound costs nothing. A difference is named as for a plain file (by JSON path or CSV
/// line, with the station or unit), against the `.gz` file.
pub(crate) fn compare_gz_only(
    source: &dyn Source,
    path: &str,
    expected: &[u8],
) -> Result<Option<Discrepancy>, SourceError> {
    let gz = public::published_path(path).into_owned();
    let Some(reader) = source.reader(&gz)? else {
        return Ok(Some(
            Discrepancy::new(
                Kind::FileMissing,
                format!(
                    "{gz}: missing; it is the gzip of {path}, recomputed from the log as {} bytes",
                    expected.len()
                ),
            )
            .file(gz),
        ));
    };
    let inflated = match inflate_one_member(reader, expected.len()) {
        Ok(Ok(inflated)) => inflated,
        Ok(Err(problem)) => {
            return Ok(Some(
                Discrepancy::new(
                    Kind::FileMismatch,
                    format!("{gz}: {problem}; it must be the gzip of {path} as recomputed"),
                )
                .file(gz),
            ));
        }
        Err(e) => {
            return Err(SourceError::Io {
                path: gz.into(),
                source: e,
            });
        }
    };
    // Named by the plain file's kind (JSON path or CSV line), against the `.gz` published.
    if let Some(d) = compare_bytes(path, expected, &inflated) {
        let mut d = d.file(gz.clone());
        d.message = format!("{gz} (inflated){}", d.message.trim_start_matches(path));
        return Ok(Some(d));
    }
    served_gz_only(source, &gz, expected)
}

/// Inflates one RFC 1952 member from `reader`, at most one byte past `len`: the inflated
/// bytes, or what is wrong (not a gzip stream, bytes after it). The outer error is the
/// reader's, after the member was read.
fn inflate_one_member(
    reader: impl std::io::Read,
    len: usize,
) -> std::io::Result<Result<Vec<u8>, String>> {
    use std::io::{BufRead as _, Read as _};
    let mut decoder = flate2::bufread::GzDecoder::new(std::io::BufReader::new(reader));
    let mut inflated = Vec::with_capacity(len);
    match (&mut decoder)
        .take(len as u64 + 1)
        .read_to_end(&mut inflated)
    {
        Err(e) => Ok(Err(format!("not a gzip stream: {e}"))),
        Ok(_) if inflated.len() > len => Ok(Ok(inflated)),
        Ok(_) => match decoder.into_inner().fill_buf()? {
            [] => Ok(Ok(inflated)),
            _ => Ok(Err("bytes follow its gzip stream".to_owned())),
        },
    }
}

/// A gzip-only file `gz` as a browser is sent it ([`Source::encoded_reader`]) and as the
/// results page reads it (`web/verify.js`): a body that begins with gzip's magic bytes is
/// inflated (one member, nothing after it), any other is taken as inflated already by the
/// server. Either way it must be `expected`: a server that sends browsers another `.gz`
/// than the one the verifier read is a [`Kind::GzMismatch`].
fn served_gz_only(
    source: &dyn Source,
    gz: &str,
    expected: &[u8],
) -> Result<Option<Discrepancy>, SourceError> {
    use std::io::Read as _;
    let Some(mut served) = source.encoded_reader(gz)? else {
        return Ok(None);
    };
    let mut magic = [0u8; 2];
    let mut got = 0;
    let mut same = loop {
        match served.read(&mut magic[got..]) {
            Ok(0) => break None,
            Ok(n) => {
                got += n;
                if got == magic.len() {
                    break None;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break Some(false),
        }
    };
    if same.is_none() {
        let body = (&magic[..got]).chain(served);
        same = Some(if magic[..got] == [0x1f, 0x8b] {
            matches!(inflate_one_member(body, expected.len()), Ok(Ok(b)) if b == expected)
        } else {
            // At most one byte more than the file; a body that cannot be read is not the file.
            let mut body = body.take(expected.len() as u64 + 1);
            source::same_bytes(&mut body, expected).unwrap_or(false)
        });
    }
    if same == Some(true) {
        return Ok(None);
    }
    Ok(Some(
        Discrepancy::new(
            Kind::GzMismatch,
            format!(
                "{gz}: asked for as a browser asks (Accept-Encoding: gzip), the server sends \
                 what the results page reads as other bytes than the {} bytes the file must \
                 hold inflated, and every reader's browser is sent those",
                expected.len()
            ),
        )
        .file(gz),
    ))
}

/// Compares a derived file's published bytes with the recomputed ones.
pub(crate) fn compare_bytes(path: &str, expected: &[u8], published: &[u8]) -> Option<Discrepancy> {
    let d = diff::first_difference(path, expected, published)?;
    let within = match (&d.station, &d.unit) {
        (Some(s), _) => format!(" (station {s})"),
        (None, Some(u)) => format!(" (unit {u})"),
        (None, None) => String::new(),
    };
    Some(
        Discrepancy::new(
            Kind::FileMismatch,
            format!(
                "{path}: {}{within}: recomputed {}, published {}",
                d.field, d.expected, d.found
            ),
        )
        .file(path)
        .field(d.field)
        .values(d.expected, d.found)
        .station(d.station),
    )
}

/// After derived files differed: if the published checkpoint changed meanwhile (a live
/// server published a new generation), the differences may be the newer generation's, not
/// tampering. Then the verification could not run, unless the log itself was found wrong.
fn moved_on(
    source: &dyn Source,
    cp_bytes: &[u8],
    size: u64,
    before: usize,
    found: &mut Vec<Discrepancy>,
) -> Result<(), VerifyError> {
    let now = source.fetch(checkpoint::CHECKPOINT)?;
    if now.as_deref() == Some(cp_bytes) {
        return Ok(());
    }
    let to = now.and_then(|now| {
        Note::parse(&now)
            .ok()
            .and_then(|n| urna_tlog::Checkpoint::parse_text(n.text()).ok())
            .map(|c| c.size.0)
    });
    if before == 0 {
        return Err(VerifyError::BundleChanged { from: size, to });
    }
    found.truncate(before);
    found.push(Discrepancy::new(
        Kind::NotRecomputed,
        format!(
            "the derived files were not compared: the bundle moved on from its checkpoint ({}) while it was being verified",
            to.map_or_else(|| "now gone".to_owned(), |n| format!("now one of {n} entries"))
        ),
    ));
    Ok(())
}

#[cfg(test)]
mod tests;
