//! What a verification found: the [`Report`], its JSON form (`urna verify --json`) and its
//! human summary.
//!
//! The JSON form, abridged (`format` is [`REPORT_FORMAT`]; fields named with `?` appear only
//! when known):
//!
//! ```json
//! {
//!   "format": "urna/verify-report/v1",
//!   "verified": false,
//!   "source": "/srv/urna/public/gen/00000000000000000305.1",
//!   "checkpoint": {"origin": "urna/sim-2025-assembly", "size": 305, "root_hash": "0Fwg…=",
//!                  "log_signature": true, "note": "urna/sim-2025-assembly\n305\n…"},
//!   "witnesses": {"quorum": 2, "trusted": 2,
//!                 "cosigned": [{"name": "cyber-security-agency", "key_id": "c1603798",
//!                               "timestamp": 1795000000, "time": "2026-11-18T…Z"}],
//!                 "missing": ["observer-mission"],
//!                 "unknown": [{"name": "evil-witness", "key_id": "0a1b2c3d"}],
//!                 "unpinned": [{"name": "data-protection", "key_id": "5e2c0a11",
//!                               "timestamp": 1795000004, "time": "2026-11-18T…Z"}]},
//!   "counts": {"entries": 305, "entries_verified": 304, "entries_skipped": 0, "protocols": 300,
//!              "amendments": 4, "stations": 300, "stations_reporting": 300,
//!              "stations_counted": 297, "stations_quarantined": 3, "tiles": 6,
//!              "bytes": 208320, "files_compared": 19, "files_identical": 19},
//!   "since": {"old_size": 200, "old_root_hash": "…", "consistent": true},
//!   "cdf": {"generated": "2026-11-18T…Z", "witness": "cyber-security-agency", "pinned": true},
//!   "totals": [{"contest": "assembly", "counted": 297, "quarantined": 3, "stations": 300,
//!               "votes": [["AP", 39382], …],
//!               "seats": {"rules": "albania", "lists": [["AP", 74], …], "error": null}}],
//!   "discrepancies": [{"kind": "witness-quorum", "file?": "checkpoint", "index?": 7,
//!                      "station?": "PS-0000007", "field?": "votes AP", "expected?": "212",
//!                      "found?": "250", "message": "…"}],
//!   "timings": {"checkpoint_ms": 3, "log_ms": 40, "files_ms": 12, "total_ms": 56}
//! }
//! ```
//!
//! `witnesses.quorum` 0 means the witness quorum was not part of what `verified` covers (no
//! witness keys were given); `witnesses.unpinned` lists cosignatures that verify under keys
//! only the bundle's own `v1/keys.json` names, never counted toward the quorum.
//!
//! `kind` is one of the [`Kind`] names (`checkpoint-signature`, `witness-quorum`, `entry`,
//! `root-mismatch`, `hash-tile`, `file-mismatch`, `rollback`, `fork`, …).

use std::fmt::Write as _;

use urna_model::definition::is_hidden_control;

use serde::Serialize;

/// The `format` of a JSON report.
pub const REPORT_FORMAT: &str = "urna/verify-report/v1";

/// Discrepancies shown in the human summary; the JSON report lists every one.
pub const SUMMARY_DISCREPANCIES: usize = 25;

/// The result of one verification.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always [`REPORT_FORMAT`].
    pub format: &'static str,
    /// True iff no discrepancy was found.
    pub verified: bool,
    /// The directory or URL verified.
    pub source: String,
    /// The checkpoint verified against.
    pub checkpoint: Option<CheckpointReport>,
    /// Cosignatures: who cosigned, who did not, who is unknown.
    pub witnesses: WitnessReport,
    /// What was checked, in numbers.
    pub counts: Counts,
    /// The comparison with the state file of an earlier run (`--since`).
    pub since: Option<SinceReport>,
    /// Whose cosignature time the NIST CDF export's `GeneratedDate` is, if the bundle has the
    /// export and the date is the time of a verified cosignature.
    pub cdf: Option<CdfDate>,
    /// National totals recomputed from the log, per contest.
    pub totals: Vec<ContestTotals>,
    /// Everything that does not check out, in the order found.
    pub discrepancies: Vec<Discrepancy>,
    /// Time spent, in milliseconds.
    pub timings: Timings,
}

/// The checkpoint.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointReport {
    /// The log's origin.
    pub origin: String,
    /// Entries it covers.
    pub size: u64,
    /// Root hash (base64) it states.
    pub root_hash: String,
    /// Whether the log key's signature verified.
    pub log_signature: bool,
    /// The whole note.
    pub note: String,
}

/// The witnesses' cosignatures on the checkpoint.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WitnessReport {
    /// Valid cosignatures required.
    pub quorum: usize,
    /// Trusted witnesses.
    pub trusted: usize,
    /// Trusted witnesses whose cosignature verified.
    pub cosigned: Vec<Cosigner>,
    /// Trusted witnesses without a (valid) cosignature.
    pub missing: Vec<String>,
    /// Signature lines from keys neither trusted nor named by the bundle's `v1/keys.json`
    /// (ignored, as C2SP requires, but named).
    pub unknown: Vec<UnknownSigner>,
    /// Cosignatures by witnesses that only the bundle's own `v1/keys.json` names (not the
    /// trust given), verified under the keys it gives. Listed for information and never
    /// counted toward the quorum: whoever publishes the bundle chooses that list, so it is no
    /// independent assurance.
    pub unpinned: Vec<Cosigner>,
}

/// A witness that cosigned.
#[derive(Debug, Clone, Serialize)]
pub struct Cosigner {
    /// Its name.
    pub name: String,
    /// Its key ID (hex).
    pub key_id: String,
    /// The cosignature's time (Unix seconds).
    pub timestamp: u64,
    /// The same, as an RFC 3339 UTC time.
    pub time: String,
}

/// The `GeneratedDate` of `cdf/election-report.json` and the cosignature it is the time of.
#[derive(Debug, Clone, Serialize)]
pub struct CdfDate {
    /// The `GeneratedDate`.
    pub generated: String,
    /// The witness whose cosignature on the checkpoint has that time.
    pub witness: String,
    /// Whether that witness is one the trust given names (false: only the bundle's own
    /// `v1/keys.json` names it).
    pub pinned: bool,
}

/// A signature line by a key the verifier does not trust.
#[derive(Debug, Clone, Serialize)]
pub struct UnknownSigner {
    /// The name on the line.
    pub name: String,
    /// The key ID on the line (hex).
    pub key_id: String,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde passes a reference
fn no_decisions(n: &u64) -> bool {
    *n == 0
}

/// What was checked, in numbers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// Log entries (the checkpoint's size).
    pub entries: u64,
    /// Entries whose signatures were checked and that were replayed.
    pub entries_verified: u64,
    /// Entries that could not be read or replayed (the totals then leave them out).
    pub entries_skipped: u64,
    /// Protocols (revision 1) among them.
    pub protocols: u64,
    /// Amendments among them.
    pub amendments: u64,
    /// The commission's decisions (`urna/decision/v1`) among them; not written when none.
    #[serde(skip_serializing_if = "no_decisions")]
    pub decisions: u64,
    /// Station key revocations (`urna/revocation/v1`) among them; not written when none.
    #[serde(skip_serializing_if = "no_decisions")]
    pub revocations: u64,
    /// Polling stations in the definition.
    pub stations: u64,
    /// Station results reported (summed over contests).
    pub stations_reporting: u64,
    /// … of which counted.
    pub stations_counted: u64,
    /// … of which quarantined.
    pub stations_quarantined: u64,
    /// Tiles fetched (entry bundles and hash tiles).
    pub tiles: u64,
    /// Bytes fetched.
    pub bytes: u64,
    /// Derived files recomputed and compared byte for byte.
    pub files_compared: u64,
    /// … of which identical.
    pub files_identical: u64,
    /// Scans of paper protocols named by signed notes, fetched and hashed.
    pub scans: u64,
    /// Files found by listing the whole bundle, each accounted for or reported; `null` when
    /// the source cannot be listed (a web server) or the derived files were not compared.
    pub files_listed: Option<u64>,
}

/// The comparison with an earlier run's state.
#[derive(Debug, Clone, Serialize)]
pub struct SinceReport {
    /// Size of the earlier checkpoint.
    pub old_size: u64,
    /// Its root (base64).
    pub old_root_hash: String,
    /// Whether the log now extends it.
    pub consistent: bool,
}

/// National totals of one contest, recomputed from the log.
#[derive(Debug, Clone, Serialize)]
pub struct ContestTotals {
    /// The contest's id.
    pub contest: String,
    /// Stations counted.
    pub counted: u64,
    /// Stations quarantined.
    pub quarantined: u64,
    /// Stations in the contest.
    pub stations: u64,
    /// Votes per list, in ballot order.
    pub votes: Vec<(String, u64)>,
    /// The seats, if the definition names a rule set for the contest.
    pub seats: Option<SeatTotals>,
}

/// Seats of one contest, recomputed from the tally under the definition's rule set.
#[derive(Debug, Clone, Serialize)]
pub struct SeatTotals {
    /// The rule set's id.
    pub rules: String,
    /// Seats per list, in ballot order; empty if the seats cannot be allocated (`error`).
    pub lists: Vec<(String, u32)>,
    /// Why the seats cannot be allocated yet.
    pub error: Option<String>,
}

/// Time spent, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// Checkpoint, cosignatures, genesis and definition.
    pub checkpoint_ms: u64,
    /// Fetching the tiles, hashing the tree, checking signatures and replaying (overlapped).
    pub log_ms: u64,
    /// Recomputing the derived files and comparing them (overlapped).
    pub files_ms: u64,
    /// Everything.
    pub total_ms: u64,
}

/// What kind of discrepancy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The checkpoint is not a well-formed checkpoint note.
    CheckpointMalformed,
    /// The checkpoint is of another log than the one trusted.
    CheckpointOrigin,
    /// The log key's signature on the checkpoint is missing or wrong.
    CheckpointSignature,
    /// The checkpoint is signed by one of the log's keys, but not by the one the log's key
    /// rotations say signs a checkpoint of its size: the new key before the rotation entry is
    /// in the tree, or the old key after.
    CheckpointKeyRotated,
    /// An `urna/key-rotation/v1` entry is malformed, not signed by both keys it names, or
    /// does not hand over the key the log held (the trusted key, or the previous rotation's).
    KeyRotation,
    /// A trusted witness's cosignature does not verify.
    CosignatureInvalid,
    /// Fewer valid cosignatures than the quorum.
    WitnessQuorum,
    /// A tile the checkpoint needs is missing.
    TileMissing,
    /// A tile is not a well-formed tile of its width.
    TileMalformed,
    /// A hash tile differs from the hashes recomputed from the entries.
    HashTile,
    /// The entries do not hash to the checkpoint's root.
    RootMismatch,
    /// Entry 0 is not a genesis the log key signed for a loadable definition.
    Genesis,
    /// A definition file named by the genesis is missing.
    BlobMissing,
    /// A definition file does not hash to what the genesis names.
    BlobMismatch,
    /// The definition files do not make a valid election definition.
    Definition,
    /// An entry is refused: malformed, not this election's, a bad signature, or out of
    /// sequence for its station.
    Entry,
    /// The derived files could not be recomputed.
    NotRecomputed,
    /// A derived file is missing.
    FileMissing,
    /// A derived file differs from the one recomputed.
    FileMismatch,
    /// A file the recomputation does not produce.
    FileUnexpected,
    /// A blob (`blob/sha256/<hex>`, its bytes hashing to its name) that nothing names: not a
    /// definition file, not the unit shapes, not a scan a signed note of the log names, nor
    /// one named by a signed note the shared tiles hold after the checkpoint (the next
    /// generation's, published before it goes live).
    BlobUnnamed,
    /// A precompressed copy `<file>.gz` does not decompress (RFC 1952 gzip) to exactly its
    /// file's bytes.
    GzMismatch,
    /// The checkpoint is older than the one verified before (`--since`).
    Rollback,
    /// The log does not extend the one verified before (`--since`).
    Fork,
    /// `v1/keys.json` is missing, or names other keys than the ones trusted.
    Keys,
    /// An `urna/audit/v1` entry is not signed by an authority over the election, or does not
    /// follow from the audit before it (a sample not drawn from the seed, a verdict the counts
    /// do not give).
    Audit,
}

impl Kind {
    /// The kebab-case name used in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CheckpointMalformed => "checkpoint-malformed",
            Self::CheckpointOrigin => "checkpoint-origin",
            Self::CheckpointSignature => "checkpoint-signature",
            Self::CheckpointKeyRotated => "checkpoint-key-rotated",
            Self::KeyRotation => "key-rotation",
            Self::CosignatureInvalid => "cosignature-invalid",
            Self::WitnessQuorum => "witness-quorum",
            Self::TileMissing => "tile-missing",
            Self::TileMalformed => "tile-malformed",
            Self::HashTile => "hash-tile",
            Self::RootMismatch => "root-mismatch",
            Self::Genesis => "genesis",
            Self::BlobMissing => "blob-missing",
            Self::BlobMismatch => "blob-mismatch",
            Self::Definition => "definition",
            Self::Entry => "entry",
            Self::NotRecomputed => "not-recomputed",
            Self::FileMissing => "file-missing",
            Self::FileMismatch => "file-mismatch",
            Self::FileUnexpected => "file-unexpected",
            Self::BlobUnnamed => "blob-unnamed",
            Self::GzMismatch => "gz-mismatch",
            Self::Rollback => "rollback",
            Self::Fork => "fork",
            Self::Keys => "keys",
            Self::Audit => "audit",
        }
    }
}

/// One thing that does not check out, with everything it can name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discrepancy {
    /// What kind.
    pub kind: Kind,
    /// The bundle file (or tile) concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The log entry concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// The polling station concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub station: Option<String>,
    /// The field: a JSON path (`contests[0].national.votes.PS`), a CSV column, a protocol
    /// field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What the verifier expected (recomputed, or what the signed part says).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What the bundle holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    /// The whole finding in one sentence.
    pub message: String,
}

impl Discrepancy {
    /// A discrepancy with only a kind and a message; add the rest with the builder methods.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            file: None,
            index: None,
            station: None,
            field: None,
            expected: None,
            found: None,
            message: message.into(),
        }
    }

    /// Names the file.
    #[must_use]
    pub fn file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    /// Names the entry.
    #[must_use]
    pub fn index(mut self, index: u64) -> Self {
        self.index = Some(index);
        self
    }

    /// Names the station.
    #[must_use]
    pub fn station(mut self, station: Option<String>) -> Self {
        self.station = station;
        self
    }

    /// Names the field.
    #[must_use]
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Gives what was expected and what was found.
    #[must_use]
    pub fn values(mut self, expected: impl Into<String>, found: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self.found = Some(found.into());
        self
    }
}

/// Appends one line of the summary to `$s`, every control character and bidirectional
/// override in it escaped (`\u{1b}`), line breaks too: the summary quotes what a bundle holds
/// (file names, a checkpoint's origin, a mirror's answers), and a raw escape sequence or line
/// break in it would reach the observer's terminal, which a mirror could then clear or write a
/// line of its own on.
macro_rules! shown {
    ($s:expr, $($fmt:tt)*) => {
        push_shown(&mut $s, &format!($($fmt)*))
    };
}

fn push_shown(s: &mut String, line: &str) {
    for c in line.chars() {
        if is_hidden_control(c) {
            let _ = write!(s, "{}", c.escape_unicode());
        } else {
            s.push(c);
        }
    }
    s.push('\n');
}

impl Report {
    /// The JSON report, pretty-printed, with a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain structs of strings and integers cannot fail.
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// The human summary: what was checked, then every discrepancy (the first
    /// [`SUMMARY_DISCREPANCIES`]), then the verdict.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        shown!(s, "urna verify: {}", self.source);
        if let Some(cp) = &self.checkpoint {
            shown!(
                s,
                "  checkpoint   {} size {} root {} ({})",
                cp.origin,
                cp.size,
                cp.root_hash,
                if cp.log_signature {
                    "signed by the log key"
                } else {
                    "NOT signed by the log key"
                }
            );
        }
        let w = &self.witnesses;
        let at = |list: &[Cosigner]| -> String {
            list.iter()
                .map(|c| format!("{} at {}", c.name, c.time))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if w.trusted == 0 {
            shown!(
                s,
                "  witnesses    none pinned by you (no --witness or --trust): the witness quorum was not checked"
            );
        } else {
            let cosigned = at(&w.cosigned);
            shown!(
                s,
                "  witnesses    {} of {} required cosigned{}",
                w.cosigned.len(),
                w.quorum,
                if cosigned.is_empty() {
                    String::new()
                } else {
                    format!(": {cosigned}")
                },
            );
        }
        if !w.unpinned.is_empty() {
            let n = w.unpinned.len();
            shown!(
                s,
                "               {}cosigned by {n} witness{} named by the bundle itself, not pinned by you: {} (checked against the keys in v1/keys.json, which the bundle's publisher writes: no independent assurance)",
                if w.trusted == 0 { "" } else { "also " },
                if n == 1 { "" } else { "es" },
                at(&w.unpinned)
            );
        }
        for u in &w.unknown {
            shown!(
                s,
                "               ignored: a line from `{}` (key id {}), not a trusted witness{}",
                u.name,
                u.key_id,
                if w.trusted == 0 {
                    " nor one v1/keys.json names"
                } else {
                    ""
                }
            );
        }
        let c = &self.counts;
        shown!(
            s,
            "  log          {} entries: {} tiles, {} bytes; {} entries' signatures checked and replayed ({} protocols, {} amendments)",
            c.entries,
            c.tiles,
            c.bytes,
            c.entries_verified,
            c.protocols,
            c.amendments
        );
        if c.decisions > 0 {
            shown!(
                s,
                "               {} decisions of the commission replayed: each signed by an authority over its station, on the station's current entry",
                c.decisions
            );
        }
        if c.revocations > 0 {
            shown!(
                s,
                "               {} station key revocations replayed: each signed by an authority over its station; later notes judged by the keys they left",
                c.revocations
            );
        }
        shown!(
            s,
            "  stations     {} in the definition; {} reporting: {} counted, {} quarantined",
            c.stations,
            c.stations_reporting,
            c.stations_counted,
            c.stations_quarantined
        );
        shown!(
            s,
            "  files        {} derived files recomputed, {} identical byte for byte",
            c.files_compared,
            c.files_identical
        );
        if c.scans > 0 {
            shown!(
                s,
                "               {} scans of paper protocols named by signed notes, fetched and hashed",
                c.scans
            );
        }
        match c.files_listed {
            Some(n) => {
                shown!(
                    s,
                    "               {n} files in the bundle, each accounted for by the log, the definition or the publisher's fixed set, or reported"
                );
            }
            None => {
                shown!(
                    s,
                    "               the bundle's files were not listed (a web server cannot list them, or the derived files were not compared): files beyond those named were not looked for"
                );
            }
        }
        if let Some(d) = &self.cdf {
            shown!(
                s,
                "  cdf          GeneratedDate {} is the time of {}'s cosignature{}",
                d.generated,
                d.witness,
                if d.pinned {
                    ""
                } else {
                    " (a witness named by the bundle itself, not pinned by you)"
                }
            );
        }
        if let Some(since) = &self.since {
            shown!(
                s,
                "  since        earlier checkpoint of size {}: {}",
                since.old_size,
                if since.consistent {
                    "the log extends it"
                } else {
                    "NOT extended by this log"
                }
            );
        }
        for t in &self.totals {
            let total: u64 = t.votes.iter().map(|(_, v)| v).sum();
            let lists: Vec<String> = t.votes.iter().map(|(l, v)| format!("{l} {v}")).collect();
            shown!(
                s,
                "  totals       {}: {} of {} stations counted, {} votes: {}{}",
                t.contest,
                t.counted,
                t.stations,
                total,
                lists.join(", "),
                if c.entries_skipped > 0 {
                    format!(" (without the {} entries skipped)", c.entries_skipped)
                } else {
                    String::new()
                }
            );
            match &t.seats {
                Some(SeatTotals {
                    rules,
                    error: None,
                    lists,
                    ..
                }) => {
                    let seats: Vec<String> =
                        lists.iter().map(|(l, n)| format!("{l} {n}")).collect();
                    shown!(
                        s,
                        "  seats        {} ({rules}): {}",
                        t.contest,
                        seats.join(", ")
                    );
                }
                Some(SeatTotals {
                    rules,
                    error: Some(e),
                    ..
                }) => {
                    shown!(
                        s,
                        "  seats        {} ({rules}): not allocated: {e}",
                        t.contest
                    );
                }
                None => {}
            }
        }
        shown!(
            s,
            "  time         {:.1} s (log {:.1} s, derived files {:.1} s)",
            ms(self.timings.total_ms),
            ms(self.timings.log_ms),
            ms(self.timings.files_ms)
        );
        if self.verified {
            shown!(s, "{}", self.verdict());
        } else {
            let n = self.discrepancies.len();
            shown!(s, "{n} discrepanc{}:", if n == 1 { "y" } else { "ies" });
            for d in self.discrepancies.iter().take(SUMMARY_DISCREPANCIES) {
                shown!(s, "  - [{}] {}", d.kind.as_str(), d.message);
            }
            if n > SUMMARY_DISCREPANCIES {
                shown!(
                    s,
                    "  … and {} more (--json FILE lists every one)",
                    n - SUMMARY_DISCREPANCIES
                );
            }
            shown!(s, "NOT VERIFIED");
        }
        s
    }
}

impl Report {
    /// The verdict line of a verification without discrepancies: it says whether the
    /// witness quorum was part of what was checked.
    fn verdict(&self) -> String {
        let w = &self.witnesses;
        if w.quorum > 0 {
            return "VERIFIED: the log, its checkpoint and every published result check out"
                .to_owned();
        }
        let why = if w.trusted == 0 {
            "witnesses not pinned: pass --trust FILE or --witness KEY to check the witness quorum"
        } else {
            "a quorum of 0 was asked, so no witness cosignature was required"
        };
        format!(
            "VERIFIED against the log key only: the log, its checkpoint and every published result check out; {why} (without a quorum of witnesses you pinned, a log showing other readers another history would go unnoticed)"
        )
    }
}

fn ms(v: u64) -> f64 {
    v as f64 / 1000.0
}

/// RFC 3339 UTC time of a Unix time (the same conversion as the CDF export's), or the bare
/// number of seconds past 9999-12-31.
pub fn rfc3339(unix: u64) -> String {
    urna_tally::cdf::rfc3339_utc(unix).unwrap_or_else(|| format!("{unix} (Unix seconds)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times_are_written_as_rfc3339() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_679_315_147, "2023-03-20T12:25:47Z"),
            (4_107_542_399, "2100-02-28T23:59:59Z"),
        ];
        for (t, want) in cases {
            assert_eq!(rfc3339(t), want);
        }
    }

    #[test]
    fn discrepancies_serialise_with_only_what_they_name() {
        let d = Discrepancy::new(Kind::FileMismatch, "m")
            .file("v1/results.json")
            .field("contests[0].national.votes.PS")
            .values("1", "2");
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "kind": "file-mismatch",
                "file": "v1/results.json",
                "field": "contests[0].national.votes.PS",
                "expected": "1",
                "found": "2",
                "message": "m",
            })
        );
        assert_eq!(
            serde_json::to_value(Kind::CheckpointSignature).unwrap(),
            Kind::CheckpointSignature.as_str()
        );
    }
}
