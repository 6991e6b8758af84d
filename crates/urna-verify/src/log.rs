//! The log: every entry bundle fetched, every entry hashed into the RFC 6962 tree and checked
//! against the published level-0 hash tiles, every station and authority signature checked
//! (strictly, one by one, on all threads), and every entry replayed in index order.
//!
//! Work is cut into units of [`TILES_PER_UNIT`] entry bundles. Worker threads take units in
//! order from a shared counter, fetch, hash and check them; the calling thread takes the
//! results back in index order, grows the tree and applies the submissions to the
//! [`Replay`], so checking runs on every core while applying stays sequential.
//!
//! A bad entry is skipped and reported, and the replay goes on with the next one, so one run
//! lists every bad entry. Once an entry is skipped the replay no longer stands for the log, so
//! the derived files are not compared (the caller reports why).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use urna_model::definition::Election;
use urna_model::intake::{Rejection, Submission, check_batch, check_keyed};
use urna_model::note::{Note, SignatureError};
use urna_model::rotation::RotationBody;
use urna_tally::public::{Replay, ReplayError};
use urna_tlog::storage::MemoryStore;
use urna_tlog::tile::{TILE_WIDTH, Tile, decode_hash_tile};
use urna_tlog::{Hash, Tree, leaf_hash};

use crate::report::{Discrepancy, Kind};
use crate::source::{Source, SourceError};
use crate::{Progress, Stage};

/// Entry bundles missing or unreadable after which the log is not read further: a checkpoint
/// may claim far more entries than the bundle holds, and each missing one would otherwise be
/// asked for and reported.
pub(crate) const MAX_MISSING_BUNDLES: u64 = 1024;

/// Entry bundles per unit of work: 1,024 entries, enough to keep every thread busy between
/// the ordered replays.
pub(crate) const TILES_PER_UNIT: u64 = 4;

/// Entries refused, kept with their bytes to explain them afterwards.
pub(crate) struct Refused {
    /// Log index.
    pub(crate) index: u64,
    /// The entry.
    pub(crate) bytes: Vec<u8>,
    /// Position of its discrepancy in the list.
    pub(crate) discrepancy: usize,
    /// Whether a signature present under the right key fails: the signed text was changed.
    pub(crate) altered: bool,
}

/// What the log yielded.
pub(crate) struct LogOutcome {
    /// Every complete-subtree hash of the tree, if every entry could be read.
    pub(crate) store: Option<MemoryStore>,
    /// The tree's root, if every entry could be read.
    pub(crate) root: Option<Hash>,
    /// The replay, if there is a definition; it stands for the log only if `skipped` is 0.
    pub(crate) replay: Option<Replay>,
    /// Entries that could not be read (missing or malformed tiles).
    pub(crate) unreadable: u64,
    /// Entries skipped by the replay.
    pub(crate) skipped: u64,
    /// Entries verified and applied.
    pub(crate) applied: u64,
    /// Protocols (revision 1) applied.
    pub(crate) protocols: u64,
    /// Amendments applied.
    pub(crate) amendments: u64,
    pub(crate) decisions: u64,
    /// Station key revocations applied.
    pub(crate) revocations: u64,
    /// Entries refused at the signature or binding check.
    pub(crate) refused: Vec<Refused>,
    /// The `urna/audit/v1` entries, with their index, for the audit re-check.
    pub(crate) audits: Vec<(u64, Vec<u8>)>,
    /// The `urna/key-rotation/v1` entries signed by both keys they name, with their index,
    /// in log order (whether they chain from the trusted key: `crate::rotation::settle`).
    pub(crate) rotations: Vec<(u64, RotationBody)>,
    /// The scans that signed protocols and amendments name (`scan: sha256:<hex>`), each with
    /// the first entry naming it: index and station.
    pub(crate) scans: BTreeMap<[u8; 32], (u64, String)>,
}

/// One entry bundle's result.
struct TileResult {
    /// Index of its first entry.
    first: u64,
    /// Entries it should hold.
    width: u64,
    /// The entries read: all `width` of them, or fewer if the bundle is missing or cut short.
    entries: Vec<EntryResult>,
    /// What is wrong with it or its hash tile.
    found: Vec<Discrepancy>,
}

struct EntryResult {
    leaf: Hash,
    /// The check's verdict; `None` for entry 0 or without a definition.
    checked: Option<Result<Submission, Rejection>>,
    /// The bytes, kept for refused entries and for notes of stations whose key a revocation
    /// may have changed (the replay judges those again by the keys as of their index).
    bytes: Option<Vec<u8>>,
}

/// Fetches, hashes, checks and replays the `size` entries of the log. `replay` is the replay
/// after the genesis (entry 0), if the definition could be established.
///
/// # Errors
/// [`SourceError`] if the source fails (not for missing tiles: those are discrepancies).
pub(crate) fn run(
    source: &dyn Source,
    size: u64,
    election: Option<&Election>,
    mut replay: Option<Replay>,
    fetched: &Counter,
    progress: &(dyn Fn(Progress) + Sync),
    found: &mut Vec<Discrepancy>,
) -> Result<LogOutcome, SourceError> {
    let bundles = size.div_ceil(u64::from(TILE_WIDTH));
    let units = bundles.div_ceil(TILES_PER_UNIT);
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let missing = AtomicU64::new(0);
    let threads = source.concurrency().max(1);
    let mut out = LogOutcome {
        store: Some(MemoryStore::new()),
        root: None,
        replay: None,
        unreadable: 0,
        skipped: 0,
        applied: 0,
        protocols: 0,
        amendments: 0,
        decisions: 0,
        revocations: 0,
        refused: Vec::new(),
        audits: Vec::new(),
        rotations: Vec::new(),
        scans: BTreeMap::new(),
    };
    let mut tree = Tree::new();
    let result = std::thread::scope(|s| -> Result<(), SourceError> {
        let (tx, rx) = mpsc::channel::<(u64, Result<Vec<TileResult>, SourceError>)>();
        for _ in 0..threads.min(usize::try_from(units).unwrap_or(usize::MAX)) {
            let tx = tx.clone();
            let (next, stop, missing) = (&next, &stop, &missing);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed)
                    && missing.load(Ordering::Relaxed) < MAX_MISSING_BUNDLES
                {
                    let unit = next.fetch_add(1, Ordering::Relaxed);
                    if unit >= units {
                        break;
                    }
                    let r = work_unit(source, size, election, unit, fetched);
                    if let Ok(tiles) = &r {
                        let lost = tiles.iter().filter(|t| t.entries.is_empty()).count();
                        missing.fetch_add(lost as u64, Ordering::Relaxed);
                    }
                    if tx.send((unit, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut pending: BTreeMap<u64, Vec<TileResult>> = BTreeMap::new();
        let mut want = 0;
        let mut finished = Vec::new();
        let mut done = 0;
        for (unit, r) in rx {
            match r {
                Ok(v) => {
                    pending.insert(unit, v);
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
            while let Some(results) = pending.remove(&want) {
                want += 1;
                for t in results {
                    done += t.width;
                    found.extend(t.found);
                    let unread = t.width - t.entries.len() as u64;
                    for (index, e) in (t.first..).zip(t.entries) {
                        // A rotation names the tree before it: its root, while the tree is whole.
                        let before = (out.store.is_some()
                            && e.bytes
                                .as_deref()
                                .is_some_and(urna_model::rotation::is_rotation))
                        .then(|| tree.root().0);
                        if let Some(store) = out.store.as_mut() {
                            finished.clear();
                            // The tree holds far fewer than 2^64 − 1 leaves.
                            let _ = tree.append(e.leaf, &mut finished);
                            let _ = store.extend(&finished);
                        }
                        if let (Some(el), Some(checked)) = (election, e.checked) {
                            let entry = Checked {
                                index,
                                checked,
                                bytes: e.bytes,
                                before,
                            };
                            apply(el, &mut replay, &mut out, entry, found);
                        }
                    }
                    if unread > 0 {
                        // From here on the tree has a hole: no root, no tiles to compare.
                        out.unreadable += unread;
                        out.skipped += unread;
                        out.store = None;
                    }
                }
                progress(Progress {
                    stage: Stage::Log,
                    done,
                    total: size,
                });
            }
        }
        if done < size {
            // The workers gave up (too many bundles missing): the rest is unread.
            found.push(Discrepancy::new(
                Kind::TileMissing,
                format!(
                    "gave up after {MAX_MISSING_BUNDLES} missing or unreadable entry bundles: entries {done}..{size} were not read"
                ),
            ));
            out.unreadable += size - done;
            out.skipped += size - done;
            out.store = None;
        }
        Ok(())
    });
    result?;
    if out.store.is_some() {
        out.root = Some(tree.root());
    }
    out.replay = replay;
    Ok(out)
}

/// Counts the tiles fetched and their bytes.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    pub(crate) tiles: AtomicU64,
    pub(crate) bytes: AtomicU64,
}

impl Counter {
    pub(crate) fn add(&self, bytes: &[u8]) {
        self.tiles.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
    }
}

/// An entry after its check, on its way to the replay.
struct Checked {
    index: u64,
    checked: Result<Submission, Rejection>,
    bytes: Option<Vec<u8>>,
    /// For a rotation entry, the root of the entries before it (`None` once the tree has a
    /// hole, which is reported on its own).
    before: Option<[u8; 32]>,
}

/// Applies one checked entry; a refused or out-of-sequence entry is reported and skipped.
fn apply(
    e: &Election,
    replay: &mut Option<Replay>,
    out: &mut LogOutcome,
    entry: Checked,
    found: &mut Vec<Discrepancy>,
) {
    let index = entry.index;
    let bytes = entry.bytes.as_deref().unwrap_or_default();
    // A log key rotation: both signatures checked, the chain of keys kept for the checkpoint.
    if urna_model::rotation::is_rotation(bytes) {
        let at = index - out.skipped;
        // The rotation's `size` and `root` must name the tree it follows, or its old key's
        // signature vouches for another history (one rewritten under the new key alone).
        if let Some(root) = entry.before
            && let Ok(body) = RotationBody::parse_note(bytes)
            && let Err(problem) = body.check_follows(index, &root)
        {
            found.push(
                Discrepancy::new(Kind::KeyRotation, format!("entry {index}: {problem}"))
                    .file(entry_tile_path(index))
                    .index(index),
            );
            out.skipped += 1;
            return;
        }
        let applied = match replay.as_mut() {
            Some(r) => r.apply_rotation(at, bytes, true).map(|()| {
                r.rotations()
                    .last()
                    .map(|(_, b)| b.clone())
                    .unwrap_or_else(|| unreachable!("a rotation was just applied"))
            }),
            None => RotationBody::check(bytes).map_err(|e| ReplayError::Rotation {
                index: at,
                problem: e.to_string(),
            }),
        };
        match applied {
            Ok(body) => {
                out.applied += 1;
                out.rotations.push((index, body));
            }
            Err(err) => {
                let text = err.to_string();
                let problem = text.strip_prefix(&format!("entry {at}: ")).unwrap_or(&text);
                found.push(
                    Discrepancy::new(Kind::KeyRotation, format!("entry {index}: {problem}"))
                        .file(entry_tile_path(index))
                        .index(index),
                );
                out.skipped += 1;
            }
        }
        return;
    }
    // A revocation is checked on its own (its authority signature) and admitted into the
    // replay's station keys at its index, as intake admits it.
    if urna_tally::public::is_revocation(bytes) {
        let Some(r) = replay.as_mut() else {
            out.skipped += 1;
            return;
        };
        match r.apply_revocation(e, index - out.skipped, bytes, true) {
            Ok(()) => {
                out.applied += 1;
                out.revocations += 1;
            }
            Err(ReplayError::Entry { source, .. }) => {
                out.refused.push(Refused {
                    index,
                    bytes: bytes.to_vec(),
                    discrepancy: found.len(),
                    altered: matches!(source, Rejection::AuthoritySignature { .. }),
                });
                found.push(refusal(e, index, &source, bytes));
                out.skipped += 1;
            }
            Err(err) => {
                found.push(out_of_sequence(&err, index - out.skipped, index, None));
                out.skipped += 1;
            }
        }
        return;
    }
    // Checked by the definition's keys: a note of a station a revocation touched (and a
    // refusal, once any key was revoked) is checked again by the keys as of its index.
    let checked = match (replay.as_ref(), entry.checked) {
        (Some(r), Ok(sub)) if sub.decision.is_none() && r.keys().touches(sub.station) => {
            check_keyed(e, r.keys(), bytes)
        }
        (Some(r), Err(_)) if !r.keys().is_empty() && !urna_model::audit::is_audit(bytes) => {
            check_keyed(e, r.keys(), bytes)
        }
        (_, checked) => checked,
    };
    match checked {
        // An audit note does not bind as a protocol: it changes no result, and the audit
        // re-check (`crate::audit`) checks its signature and its place in the audit.
        Err(_)
            if entry
                .bytes
                .as_deref()
                .is_some_and(urna_model::audit::is_audit) =>
        {
            if let Some(r) = replay.as_mut()
                && r.apply_audit(index - out.skipped).is_ok()
            {
                out.applied += 1;
            }
            out.audits.push((index, entry.bytes.unwrap_or_default()));
        }
        Err(rejection) => {
            let bytes = entry.bytes.unwrap_or_default();
            out.refused.push(Refused {
                index,
                bytes: bytes.clone(),
                discrepancy: found.len(),
                altered: matches!(
                    rejection,
                    Rejection::StationSignature {
                        source: SignatureError::Invalid { .. },
                        ..
                    } | Rejection::AuthoritySignature { .. }
                ),
            });
            found.push(refusal(e, index, &rejection, &bytes));
            out.skipped += 1;
        }
        Ok(sub) => {
            let Some(r) = replay.as_mut() else {
                out.skipped += 1;
                return;
            };
            let amendment = sub.supersedes.is_some();
            let decision = sub.decision.is_some();
            let station = e.stations.get(sub.station.0 as usize).map(|s| s.id.clone());
            // A scan named by a note whose signatures verified must be published with it,
            // whatever the replay then makes of the note.
            if let Some(scan) = sub.scan {
                out.scans
                    .entry(scan)
                    .or_insert_with(|| (index, station.clone().unwrap_or_default()));
            }
            // Skipped entries are left out of the replay, so it numbers the rest without
            // them; messages use the log's own index.
            match r.apply_submission(e, index - out.skipped, sub) {
                Ok(()) => {
                    out.applied += 1;
                    if decision {
                        out.decisions += 1;
                    } else if amendment {
                        out.amendments += 1;
                    } else {
                        out.protocols += 1;
                    }
                }
                Err(err) => {
                    found.push(out_of_sequence(&err, index - out.skipped, index, station));
                    out.skipped += 1;
                    if matches!(err, ReplayError::Tally { .. }) {
                        // The replay is unusable after an overflow (impossible within the
                        // protocol's limits); stop applying.
                        *replay = None;
                    }
                }
            }
        }
    }
}

/// The discrepancy for an entry refused by the intake check.
pub(crate) fn refusal(e: &Election, index: u64, r: &Rejection, bytes: &[u8]) -> Discrepancy {
    let station = rejection_station(r).or_else(|| station_line(bytes));
    let mut message = format!("entry {index}: {r}");
    if let Rejection::StationSignature {
        station: st,
        source: SignatureError::Missing { .. },
    } = r
    {
        let signers: Vec<String> = Note::parse(bytes)
            .map(|n| {
                n.signatures()
                    .iter()
                    .map(|s| format!("`{}` (key id {})", s.name, s.key_id))
                    .collect()
            })
            .unwrap_or_default();
        if !signers.is_empty() {
            message.push_str(&format!(
                "; it is signed by {} instead, which is not the key the definition gives station {st}",
                signers.join(", ")
            ));
        }
    }
    let _ = e;
    let mut d = Discrepancy::new(Kind::Entry, message)
        .file(entry_tile_path(index))
        .index(index)
        .station(station);
    if let Some(f) = r.field() {
        d = d.field(f);
    }
    d
}

/// The discrepancy for an entry that does not follow its station's history (replay error).
fn out_of_sequence(
    err: &ReplayError,
    replay_index: u64,
    index: u64,
    station: Option<String>,
) -> Discrepancy {
    let text = err.to_string();
    let rest = text
        .strip_prefix(&format!("entry {replay_index}: "))
        .unwrap_or(&text);
    let field = match err {
        ReplayError::FirstRevision { .. }
        | ReplayError::NotAnAmendment { .. }
        | ReplayError::RevisionGap { .. } => Some("revision"),
        ReplayError::NothingToAmend { .. } | ReplayError::SupersedesMismatch { .. } => {
            Some("supersedes")
        }
        _ => None,
    };
    let mut d = Discrepancy::new(Kind::Entry, format!("entry {index}: {rest}"))
        .file(entry_tile_path(index))
        .index(index)
        .station(station);
    if let Some(f) = field {
        d = d.field(f);
    }
    d
}

/// The station a rejection names, if any.
fn rejection_station(r: &Rejection) -> Option<String> {
    match r {
        Rejection::UnknownCount { station, .. }
        | Rejection::MissingCount { station, .. }
        | Rejection::UnknownList { station, .. }
        | Rejection::MissingList { station, .. }
        | Rejection::StationSignature { station, .. }
        | Rejection::StationKey { station }
        | Rejection::MissingAuthority { station }
        | Rejection::AuthoritySignature { station, .. } => Some(station.clone()),
        Rejection::UnknownStation { got, .. } => Some(got.clone()),
        _ => None,
    }
}

/// The `station:` line of a note, read loosely (for notes too broken to parse).
fn station_line(bytes: &[u8]) -> Option<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .find_map(|l| l.strip_prefix("station: "))
        .map(|s| s.chars().take(64).collect())
}

/// The path of the entry bundle holding entry `index`, at full width.
pub(crate) fn entry_tile_path(index: u64) -> String {
    Tile::entries(index / u64::from(TILE_WIDTH), TILE_WIDTH)
        .map(|t| t.path())
        .unwrap_or_default()
}

/// Fetches, decodes, hashes and checks the entry bundles of one unit of work.
fn work_unit(
    source: &dyn Source,
    size: u64,
    election: Option<&Election>,
    unit: u64,
    fetched: &Counter,
) -> Result<Vec<TileResult>, SourceError> {
    let width = u64::from(TILE_WIDTH);
    let bundles = size.div_ceil(width);
    let first_bundle = unit * TILES_PER_UNIT;
    let mut results = Vec::new();
    let mut notes: Vec<(usize, usize, Vec<u8>)> = Vec::new();
    for n in first_bundle..(first_bundle + TILES_PER_UNIT).min(bundles) {
        let first = n * width;
        let w = (size - first).min(width);
        let mut found = Vec::new();
        let list = read_entries(source, n, w, fetched, &mut found)?;
        let leaves: Vec<Hash> = list.iter().map(|e| leaf_hash(e)).collect();
        if !list.is_empty() {
            compare_level0(source, n, w, &leaves, fetched, &mut found)?;
        }
        let k = results.len();
        let mut entries = Vec::with_capacity(list.len());
        for (i, (bytes, leaf)) in list.into_iter().zip(leaves).enumerate() {
            if first + i as u64 != 0 && election.is_some() {
                notes.push((k, i, bytes));
            }
            entries.push(EntryResult {
                leaf,
                checked: None,
                bytes: None,
            });
        }
        results.push(TileResult {
            first,
            width: w,
            entries,
            found,
        });
    }
    if let Some(e) = election {
        let refs: Vec<&[u8]> = notes.iter().map(|(_, _, b)| b.as_slice()).collect();
        let checked = check_batch(e, &refs);
        for ((k, i, bytes), c) in notes.into_iter().zip(checked) {
            if let Some(entry) = results[k].entries.get_mut(i) {
                // Checked by the definition's keys; kept to judge again once a revocation
                // changed them (revocations are few: the bytes of the rest are dropped then).
                entry.bytes = Some(bytes);
                entry.checked = Some(c);
            }
        }
    }
    Ok(results)
}

/// Reads entry bundle `n`, which should hold `width` entries (from the full bundle if the
/// partial one is gone, as C2SP tlog-tiles allows). A bundle cut short yields the entries
/// before the cut; a missing one none; either with a discrepancy.
pub(crate) fn read_entries(
    source: &dyn Source,
    n: u64,
    width: u64,
    fetched: &Counter,
    found: &mut Vec<Discrepancy>,
) -> Result<Vec<Vec<u8>>, SourceError> {
    // width ≤ 256 by construction.
    let Ok(tile) = Tile::entries(n, width as u16) else {
        return Ok(Vec::new());
    };
    let first = n * u64::from(TILE_WIDTH);
    let Some((bytes, from_width)) = fetch_tile(source, &tile, fetched)? else {
        found.push(
            Discrepancy::new(
                Kind::TileMissing,
                format!(
                    "{}: missing, but the checkpoint covers entries {first}..={}",
                    tile.path(),
                    first + width - 1
                ),
            )
            .file(tile.path()),
        );
        return Ok(Vec::new());
    };
    let (list, trailing) = decode_lenient(&bytes, usize::from(from_width));
    let list: Vec<Vec<u8>> = list
        .into_iter()
        .take(width as usize)
        .map(<[u8]>::to_vec)
        .collect();
    let got = list.len() as u64;
    if got < width {
        found.push(
            Discrepancy::new(
                Kind::TileMalformed,
                format!(
                    "{}: cut short: it holds {got} whole entries of {width}, so entries {}..={} cannot be read",
                    tile.path(),
                    first + got,
                    first + width - 1
                ),
            )
            .file(tile.path())
            .index(first + got)
            .values(width.to_string(), got.to_string()),
        );
    } else if trailing {
        found.push(
            Discrepancy::new(
                Kind::TileMalformed,
                format!(
                    "{}: holds bytes after its {from_width} entries",
                    tile.path()
                ),
            )
            .file(tile.path()),
        );
    }
    Ok(list)
}

/// Splits an entry bundle (C2SP tlog-tiles: each entry prefixed by its length as a
/// big-endian `u16`) into at most `width` entries, stopping where it is cut short. Also says
/// whether bytes follow the last entry.
pub(crate) fn decode_lenient(bytes: &[u8], width: usize) -> (Vec<&[u8]>, bool) {
    let mut out = Vec::with_capacity(width);
    let mut rest = bytes;
    while out.len() < width {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            break;
        };
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            break;
        }
        let (entry, tail) = tail.split_at(len);
        out.push(entry);
        rest = tail;
    }
    let trailing = out.len() == width && !rest.is_empty();
    (out, trailing)
}

/// Checks level-0 hash tile `n` against the leaf hashes of its entries.
fn compare_level0(
    source: &dyn Source,
    n: u64,
    width: u64,
    leaves: &[Hash],
    fetched: &Counter,
    found: &mut Vec<Discrepancy>,
) -> Result<(), SourceError> {
    let Ok(tile) = Tile::hash(0, n, width as u16) else {
        return Ok(());
    };
    match fetch_tile(source, &tile, fetched)? {
        None => found.push(
            Discrepancy::new(
                Kind::TileMissing,
                format!("{}: missing, but the checkpoint needs it", tile.path()),
            )
            .file(tile.path()),
        ),
        Some((bytes, from_width)) => {
            found.extend(compare_hashes(&tile, &bytes, from_width, leaves, |i| {
                n * u64::from(TILE_WIDTH) + i as u64
            }));
        }
    }
    Ok(())
}

/// Compares a published hash tile with the hashes recomputed; at most one discrepancy per
/// tile, naming the first differing hash and how many differ. `node` names the tree index of
/// the i-th hash (for level 0, the entry index).
pub(crate) fn compare_hashes(
    tile: &Tile,
    bytes: &[u8],
    from_width: u16,
    expected: &[Hash],
    node: impl Fn(usize) -> u64,
) -> Option<Discrepancy> {
    let published = match decode_hash_tile(bytes, from_width) {
        Ok(h) => h,
        Err(e) => {
            return Some(
                Discrepancy::new(Kind::TileMalformed, format!("{}: {e}", tile.path()))
                    .file(tile.path()),
            );
        }
    };
    let differ: Vec<usize> = expected
        .iter()
        .enumerate()
        .filter(|(i, h)| published.get(*i) != Some(*h))
        .map(|(i, _)| i)
        .collect();
    let &first = differ.first()?;
    let level0 = matches!(tile.kind(), urna_tlog::tile::TileKind::Hash(0));
    let what = if level0 {
        format!("the leaf hash of entry {}", node(first))
    } else {
        format!("hash {first} (tree node {})", node(first))
    };
    let more = if differ.len() > 1 {
        format!(
            " ({} of its {} hashes differ)",
            differ.len(),
            expected.len()
        )
    } else {
        String::new()
    };
    let mut d = Discrepancy::new(
        Kind::HashTile,
        format!(
            "{}: {what} is {}, but the entries give {}{more}",
            tile.path(),
            published
                .get(first)
                .map_or_else(|| "absent".to_owned(), Hash::to_base64),
            expected[first].to_base64()
        ),
    )
    .file(tile.path())
    .values(
        expected[first].to_base64(),
        published
            .get(first)
            .map_or_else(|| "absent".to_owned(), Hash::to_base64),
    );
    if level0 {
        d = d.index(node(first));
    }
    Some(d)
}

/// Fetches a tile, or the full tile in its place if a partial one is gone (C2SP tlog-tiles
/// lets logs delete partial tiles once the full one exists). Returns the bytes and the width
/// they were published at.
pub(crate) fn fetch_tile(
    source: &dyn Source,
    tile: &Tile,
    fetched: &Counter,
) -> Result<Option<(Vec<u8>, u16)>, SourceError> {
    if let Some(b) = source.fetch(&tile.path())? {
        fetched.add(&b);
        return Ok(Some((b, tile.width())));
    }
    if tile.is_partial()
        && let Some(b) = source.fetch(&tile.full().path())?
    {
        fetched.add(&b);
        return Ok(Some((b, TILE_WIDTH)));
    }
    Ok(None)
}
