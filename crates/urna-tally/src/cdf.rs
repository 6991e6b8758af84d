//! NIST SP 1500-100 v2 Election Results Common Data Format, JSON: the election's results as an
//! `ElectionReport`, computed from the log's replay like every other published file.
//!
//! Spec: NIST SP 1500-100 Rev. 2, *Election Results Common Data Format Specification*, and its
//! JSON schema `NIST_V2_election_results_reporting.json` (JSON Schema draft-04; a copy is in
//! `shared/data/nist_err_v2_schema/`, and CI validates an export against it). Property names,
//! `@type` values and enumeration values are the schema's, character for character.
//!
//! [`write_cdf`] streams the report into any writer (a million stations are written without
//! building the document in memory: every large array is serialised straight from the replay);
//! [`render_cdf`] returns it as bytes. The output is compact JSON followed by one newline, and a
//! pure function of the definition, the replay, the checkpoint and `generated`: the same inputs
//! give the same bytes. Compact, because a precinct-level report of a million stations is
//! hundreds of megabytes, and indentation would nearly double it.
//!
//! # Mapping
//!
//! | urna | CDF |
//! |---|---|
//! | the export | `ElectionReport`, `Format` `precinct-level`, `SequenceStart` = `SequenceEnd` = 1, `VendorApplicationId` `urna <version>`, `GeneratedDate` as the caller gives it |
//! | the commission | `Issuer`: the name of the authority whose scope is the whole country (the first unit), else the log's origin `urna/<election id>`; `IssuerAbbreviation`: the id of the country unit (the schema's example is a state code) |
//! | the log checkpoint (when given) | `ElectionReport.ExternalIdentifier`s of `Type` `other`: `urna-log-origin`, `urna-log-size`, `urna-log-root-hash` |
//! | the election | `Election`, `Type` `general`, `StartDate` = `EndDate` = the definition's `date`, `ElectionScopeId` the country unit; `ExternalIdentifier`s `urna-election-id` and `urna-definition-sha256` |
//! | a unit (country, district, municipality…) | `ReportingUnit` `ru-<unit id>`; `Type` its level when the level is a `ReportingUnitType` value (`country`, `municipality`…), else `other` with `OtherType` the level (e.g. `district`); `ComposingGpUnitIds` its child units, then its stations |
//! | a polling station | `ReportingUnit` `ps-<station id>`, `Type` `precinct` (a station has its own register and protocol: the unit NIST counts in), `Name` its id; `ExternalIdentifier` `urna-entry` = `sha256:<hex>` of its current log entry (with `Label` the contest id when there are several contests), which ties each precinct's numbers to a signed note in the log |
//! | a list of kind `party` / `coalition` / `other` | `Party` / `Coalition` / `Party` with `IsRecognizedParty` false, `@id` `par-<list id>`, `Abbreviation` the list id; lists on the official ballot are recognised (`true`) |
//! | a contest | `PartyContest` `pc-<contest id>`, `VoteVariation` `proportional`, `ElectionDistrictId` the country unit (urna contests are national) |
//! | a list on a contest's ballot | `PartySelection` `po-<contest id>~<list id>` (`~` is not allowed in urna ids, so the id is unambiguous), `SequenceOrder` its ballot position |
//! | votes of a list | `VoteCounts` `Type` `total`: one per unit (all of them, in definition order), then one per **counted** station |
//! | seats (when the contest names a rule set) | one `VoteCounts` `Type` `seats` per list at the country unit: the allocation of [`crate::seats::contest_seats`] from the same tally (a projection while results are partial), as `v1/results.json` shows it |
//! | counts `ballots-cast`, `invalid` | `Election.BallotCounts` (`Type` `total`) per unit and per counted station: `BallotsCast`, and `BallotsRejected` for the invalid ballots (cast, then found valid for no list); `ReportingUnit.VotersParticipated` = ballots cast |
//! | registered voters | `ReportingUnit.VotersRegistered`: the register of the definition (all stations of the unit, reported or not) |
//! | reporting progress | `TotalSubUnits` / `SubUnitsReported`: stations below a unit / those counted in every contest; on a `PartyContest`: stations / stations counted in it |
//! | station, unit, contest, election status | `CountStatus` `Type` `total`: `completed` when every station in it is counted, `not-processed` when none has reported, `in-process` otherwise |
//! | overall status | `Status` `unofficial-complete` when every station is counted in every contest, else `unofficial-partial` |
//! | a candidate of a list on an open-list ballot | `Election.Candidate` `can-<list id>~<number>` (`~<unit id>` appended for a candidate standing in one unit only): `BallotName` its name, `PartyId` its list; `PreElectionStatus` `withdrawn` when withdrawn; `PersonId` when its gender is known |
//! | a candidate's gender | `ElectionReport.Person` `per-…` (same suffix): `FullName` its name, `Gender` `female` / `male` |
//! | a candidate on an open-list contest's ballot | `CandidateSelection` `cs-<contest id>~<list id>~<number>[~<unit id>]` in the contest's `PartyContest`, after its `PartySelection`s (lists in ballot order, each list's candidates by number); `CandidateIds` the candidate, `SequenceOrder` its ballot number within the list |
//! | preference votes of a candidate | its selection's `VoteCounts` `Type` `total`: one per unit it stands in (zero included), then one per counted station whose protocol gives it votes |
//!
//! # Open lists
//!
//! A contest with `preferences` (open lists) has candidates and preference votes; a closed-list
//! contest has neither, and a report without open-list contests is byte for byte what it was
//! before candidates existed (no `Candidate`, no `Person`, the same `Notes`). The encoding,
//! element by element of the schema:
//!
//! - **One `PartyContest`, with `CandidateSelection`s beside its `PartySelection`s.** The JSON
//!   schema's `PartyContest.ContestSelection` admits `PartySelection`, `BallotMeasureSelection`
//!   and `CandidateSelection` items, so this is a valid `PartyContest`. It is the faithful
//!   form: the voter chooses a list and may then mark candidates of that list on the same
//!   ballot, counted on the same protocol, and the preference votes only rank the list's
//!   candidates for the seats the list wins (the `seats` counts stay on the
//!   `PartySelection`s). A separate `CandidateContest` would claim a contest of its own, with
//!   `VotesAllowed` and `NumberElected` in which candidates of all lists compete, which is
//!   not what happens (and `VotesAllowed` has no value for `marks = "all"`).
//! - **Preference votes are not list votes.** A `CandidateSelection`'s counts are marks for a
//!   candidate (a ballot may carry up to `marks` of them, or none), so summing all of a
//!   contest's selections would double-count: the list votes are the `PartySelection`s'.
//!   The `@type` tells them apart, and [`NOTES_PREFERENCES`] (appended to the `Notes`) says so.
//! - **`Candidate` in `Election.Candidate`**, as the XSD documents it ("Election includes
//!   Candidate"; "Candidate uses the Party association to reference the candidate's political
//!   party"): `PartyId` is the list's `Party` or `Coalition`. Every candidate of a list on an
//!   open-list ballot is there, withdrawn ones included; each is referenced by a
//!   `CandidateSelection`, as NIST's Schematron rules require of every `Candidate`
//!   (`resources/err_v2/err_v2.sch` of NIST's CDF test method, in
//!   `shared/data/nist_cdf_test_method/`). A list on
//!   an open-list ballot and on a closed-list one has one `Candidate` per candidate, and
//!   `CandidateSelection`s in the open contest only.
//! - **Withdrawn.** `CandidatePreElectionStatus` `withdrawn` ("for candidates who have
//!   withdrawn from the contest"): urna's withdrawn candidates left after the ballots were
//!   printed, before election day, so the pre-election status is the one that holds;
//!   `PostElectionStatus` is a result, which urna does not certify.
//! - **Gender.** `Candidate` has no gender; `Person` has `Gender` (a free string) and
//!   `Candidate.PersonId` points to it, so a candidate whose gender the definition records
//!   gets a `Person` with its `FullName` and `Gender` (`female` or `male`, the definition's
//!   `f` and `m` spelled out). A candidate without gender has no `Person`.
//! - **`SequenceOrder`.** The schema documents it as the "order in which the candidate is
//!   listed on the ballot": the candidate's ballot number within its list (the list is the
//!   `Candidate`'s `PartyId`).
//! - **Where counts are.** Like the list votes, a candidate's `VoteCounts` go down to the
//!   polling stations, `Type` `total` as for the list votes. A unit has one for every
//!   candidate standing in it, zero included: every candidate of the whole contest at every
//!   unit, a candidate standing in one unit (an electoral district) at that unit, the units
//!   above it and those below it. A counted station has one for each candidate its signed
//!   protocol gives votes to: a protocol writes no line for a candidate without votes (an
//!   empty box on paper), so a station counted in the contest without a candidate's
//!   `VoteCounts` gave that candidate none. Writing the zeros would make the report grow as
//!   stations × candidates (2,500 stations and 1,000 candidates would be 2.5 million counts,
//!   most of them zero) where this way it grows with the protocols' preference lines. A
//!   unit's count is still the sum of its stations' (CI checks it). Quarantined stations
//!   have none, as for the list votes.
//!
//! # Choices
//!
//! - **Quarantined stations** (the current protocol breaks an arithmetic rule) are stored and
//!   logged but not counted, so their numbers are in no total. In the report such a station is
//!   a `ReportingUnit` with `CountStatus` `in-process` and its `urna-entry` identifier, and has
//!   no `VoteCounts` and no `BallotCounts`: every count in the report is one that urna counted,
//!   and a unit's counts are exactly the sums of its counted stations'. The quarantined
//!   protocol, with each rule it breaks, is in the bundle's `v1/quarantine.json`. Stations that
//!   have not reported have `not-processed` and no counts either.
//! - **Invalid ballots are not `OtherCounts`.** `Overvotes` and `Undervotes` are contest
//!   properties of a ballot; a protocol's `invalid` count says only that a ballot was valid
//!   for no list (blank, over-marked, spoiled), not why. `BallotsRejected` ("number of ballots
//!   rejected") is the honest field; `OtherCounts` is not used.
//! - **Ballot counts with several contests.** CDF counts ballots (and participation) per
//!   election, urna per contest protocol. With one contest they coincide; with several,
//!   `BallotCounts` and `VotersParticipated` are left out rather than taken from one contest.
//! - **Status.** urna has no certification step yet, so it never writes `certified`,
//!   `recount` or `correction`; the report of a log is never `pre-election` either.
//! - **Language.** The definition does not say which language its names are in, so every
//!   `LanguageString` is `und` (BCP 47: undetermined).
//! - **Dates.** The schema requires `StartDate` and `EndDate`; a definition without `date` is
//!   an error ([`CdfError::NoDate`]). `GeneratedDate` must match the schema's pattern: whole
//!   seconds and a zone ([`rfc3339_utc`] makes one from a Unix time).
//!
//! # In the public bundle
//!
//! The bundle carries the report at [`BUNDLE_PATH`] (`cdf/election-report.json`), the same
//! bytes `urna export cdf` writes at that checkpoint ([`render_bundle_report`]), with
//! `GeneratedDate` the time of the newest cosignature on the checkpoint by a witness of the
//! commission's `witnesses.toml`, so the same checkpoint always gives the same file. Policy:
//! - `urna publish` always writes it;
//! - `urna serve` writes it when the election has at most `--cdf-max-stations` stations
//!   (default 50,000, which covers Albania, Kosovo, Montenegro, North Macedonia and Bosnia and
//!   Herzegovina); a million stations cost about 7.6 s and 1.35 GB per generation, too much to
//!   redo at every checkpoint (`urna export cdf` makes it on demand);
//! - it is never written for an election without `date` (the schema needs one), nor for a
//!   checkpoint without a witness cosignature (nothing would fix `GeneratedDate`).
//!
//! A verifier that finds the file recomputes it byte for byte, taking `GeneratedDate` from the
//! published file but requiring it to be the time of a cosignature on the checkpoint that
//! verifies under a witness key it trusts. A bundle without the file is fine.
//!
//! Out of scope: reading the log and choosing `generated` (the caller: `urna export cdf` uses
//! the newest witness cosignature of the published checkpoint), XML, candidate contests and
//! ballot styles (urna's contests are party lists on one national ballot), and the candidates
//! a list's seats go to (`PostElectionStatus`: urna certifies no result; the bundle's
//! `v1/seats/` files carry the projected candidate allocation).

use std::fmt;
use std::io::Write;

use serde::Serialize;
use serde::ser::{SerializeSeq as _, Serializer};
use urna_model::definition::{
    CandidateIdx, ContestIdx, Election, Gender, ListKind, StationIdx, UnitIdx,
};
use urna_model::intake::Submission;
use urna_model::protocol::hex;

use crate::public::{CheckpointInfo, Replay};
use crate::seats;

/// `VendorApplicationId`: `urna <version>`.
pub const VENDOR_APPLICATION_ID: &str = concat!("urna ", env!("CARGO_PKG_VERSION"));

/// Language of every `LanguageString`: BCP 47 `und` (undetermined), since the definition does
/// not say which language its names are in.
pub const LANGUAGE: &str = "und";

/// `@id` prefix of a unit's `ReportingUnit`.
pub const UNIT_PREFIX: &str = "ru-";
/// `@id` prefix of a polling station's `ReportingUnit`.
pub const STATION_PREFIX: &str = "ps-";
/// `@id` prefix of a list's `Party` or `Coalition`.
pub const PARTY_PREFIX: &str = "par-";
/// `@id` prefix of a contest's `PartyContest`.
pub const CONTEST_PREFIX: &str = "pc-";
/// `@id` prefix of a `PartySelection`: `po-<contest id>~<list id>`.
pub const SELECTION_PREFIX: &str = "po-";

/// `@id` prefix of a candidate's `Candidate`: `can-<list id>~<number>`, and
/// `can-<list id>~<number>~<unit id>` for a candidate standing in one unit only.
pub const CANDIDATE_PREFIX: &str = "can-";
/// `@id` prefix of a candidate's `Person` (only for a candidate whose gender is known), with the
/// same suffix as its `Candidate`.
pub const PERSON_PREFIX: &str = "per-";
/// `@id` prefix of a `CandidateSelection`: `cs-<contest id>~<list id>~<number>`, with
/// `~<unit id>` for a candidate standing in one unit only.
pub const CANDIDATE_SELECTION_PREFIX: &str = "cs-";

/// The report's `Notes`: how to read it.
pub const NOTES: &str = "Results of the signed polling-station protocols in the election's \
transparency log, computed by urna from the log's entries. Counts are of counted protocols \
only: a polling station (ReportingUnit of Type precinct) whose current protocol is quarantined \
because it breaks an arithmetic rule is reported (CountStatus in-process) but not counted, and \
has no VoteCounts or BallotCounts; its protocol and the rules it breaks are published in the \
bundle's v1/quarantine.json. Every unit's counts are the sums of its counted stations'. \
BallotsRejected are invalid ballots (cast, valid for no list). VoteCounts of Type seats are the \
seat allocation of the contest's rule set from the same counts. The urna-entry identifier of a \
station is the SHA-256 of its current log entry. Ids: ru-<unit>, ps-<station>, par-<list>, \
pc-<contest>, po-<contest>~<list>.";

/// Added to [`NOTES`] when a contest has open lists (preference votes).
pub const NOTES_PREFERENCES: &str = "Open lists: a PartyContest whose voters may also mark \
candidates of the list they vote for has, after its PartySelections, one CandidateSelection per \
candidate (SequenceOrder: the candidate's ballot number within its list; the Candidate's PartyId \
is its list). Their VoteCounts are preference votes: marks for a candidate, not ballots, so they \
are not part of the list votes and must not be added to them. A unit has the preference votes of \
every candidate standing in it, zero included; a counted station has those its signed protocol \
states, which names only candidates with at least one vote: a station counted in the contest \
without a candidate's VoteCounts gave that candidate none. A withdrawn candidate (still on the \
ballot) has PreElectionStatus withdrawn; Person gives a candidate's gender where the definition \
records it. Ids: can-<list>~<number>[~<unit>], per-<list>~<number>[~<unit>], \
cs-<contest>~<list>~<number>[~<unit>].";

/// Why the report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CdfError {
    /// The definition names no election date, which the schema requires.
    #[error(
        "the election definition names no date ([election] date = \"YYYY-MM-DD\"): NIST SP 1500-100 requires Election.StartDate and EndDate"
    )]
    NoDate,
    /// The definition's date is not a calendar date.
    #[error("election date {0:?} is not a calendar date YYYY-MM-DD")]
    BadDate(String),
    /// `generated` does not match the schema's `DateTimeWithZone`.
    #[error(
        "generated time {0:?} is not a date-time YYYY-MM-DDTHH:MM:SS with Z or ±HH:MM (whole seconds, as the schema's DateTimeWithZone requires)"
    )]
    BadGenerated(String),
    /// The checkpoint given is not the one the replay stopped at.
    #[error("the checkpoint covers {checkpoint} entries but {replayed} were replayed")]
    NotAtCheckpoint {
        /// Size in the checkpoint.
        checkpoint: u64,
        /// Entries replayed.
        replayed: u64,
    },
    /// The checkpoint given is of another log.
    #[error("checkpoint origin {got:?} is not this election's log {expected:?}")]
    WrongOrigin {
        /// Origin in the checkpoint.
        got: String,
        /// `urna/<election id>`.
        expected: String,
    },
    /// The writer failed (disk full, closed pipe…).
    #[error("writing the report: {0}")]
    Write(#[source] std::io::Error),
}

/// Path of the report in the public bundle.
pub const BUNDLE_PATH: &str = "cdf/election-report.json";

/// The report as the bundle carries it at [`BUNDLE_PATH`]: [`write_cdf`] with the checkpoint's
/// identifiers, into a `Vec` (the bytes `urna export cdf` writes at that checkpoint).
///
/// # Errors
/// As [`write_cdf`].
pub fn render_bundle_report(
    e: &Election,
    replay: &Replay,
    checkpoint: &CheckpointInfo,
    generated: &str,
) -> Result<Vec<u8>, CdfError> {
    write_cdf(e, replay, generated, Some(checkpoint), Vec::new())
}

/// The `GeneratedDate` of a published report, read without parsing the whole document (it may
/// be hundreds of megabytes): the string value of the top-level `"GeneratedDate"` key.
/// `None` if there is none. (In JSON text, `"GeneratedDate":"` cannot occur inside a string,
/// whose quotes are escaped, and the report has this key once, at the top.)
///
/// ```
/// use urna_tally::cdf::published_generated_date;
/// let doc = br#"{"Format":"precinct-level","GeneratedDate":"2025-05-11T19:00:00Z","Issuer":"x"}"#;
/// assert_eq!(published_generated_date(doc), Some("2025-05-11T19:00:00Z"));
/// assert_eq!(published_generated_date(b"{}"), None);
/// ```
pub fn published_generated_date(report: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"GeneratedDate\":\"";
    let at = report.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = &report[at..];
    let end = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
    if rest[end] != b'"' {
        return None;
    }
    std::str::from_utf8(&rest[..end]).ok()
}

/// The report as bytes: [`write_cdf`] into a `Vec`, without checkpoint identifiers.
///
/// # Errors
/// As [`write_cdf`].
pub fn render_cdf(e: &Election, replay: &Replay, generated: &str) -> Result<Vec<u8>, CdfError> {
    write_cdf(e, replay, generated, None, Vec::new())
}

/// Writes the `ElectionReport` of `replay` to `out` (compact JSON and a newline) and returns
/// the writer. `generated` is the `GeneratedDate` (e.g. from [`rfc3339_utc`]); `checkpoint`,
/// when given, must be the one the replay stopped at, and is quoted as the report's
/// `ExternalIdentifier`s. Many small writes are made: give a buffered writer.
///
/// # Errors
/// [`CdfError::NoDate`] or [`CdfError::BadDate`] for the definition's date,
/// [`CdfError::BadGenerated`], [`CdfError::NotAtCheckpoint`] or [`CdfError::WrongOrigin`]
/// (nothing is written then), or [`CdfError::Write`] if the writer fails.
///
/// # Panics
/// If `replay` was made for another election than `e`.
pub fn write_cdf<W: Write>(
    e: &Election,
    replay: &Replay,
    generated: &str,
    checkpoint: Option<&CheckpointInfo>,
    mut out: W,
) -> Result<W, CdfError> {
    let date = e.date.as_deref().ok_or(CdfError::NoDate)?;
    if !is_date(date) {
        return Err(CdfError::BadDate(date.to_owned()));
    }
    if !is_date_time(generated) {
        return Err(CdfError::BadGenerated(generated.to_owned()));
    }
    if let Some(cp) = checkpoint {
        let expected = e.log_origin();
        if cp.origin != expected {
            return Err(CdfError::WrongOrigin {
                got: cp.origin.clone(),
                expected,
            });
        }
        if cp.size != replay.applied() {
            return Err(CdfError::NotAtCheckpoint {
                checkpoint: cp.size,
                replayed: replay.applied(),
            });
        }
    }
    let ctx = Ctx::new(e, replay);
    let issuer = e
        .authorities
        .iter()
        .find(|a| a.scope == ROOT)
        .map_or_else(|| e.log_origin(), |a| a.name.clone());
    let size = checkpoint.map(|cp| cp.size.to_string());
    let digest = hex(&e.digest);
    let mut report_ids = Vec::new();
    if let (Some(cp), Some(size)) = (checkpoint, &size) {
        report_ids = vec![
            external("urna-log-origin", Value::Str(&cp.origin)),
            external("urna-log-size", Value::Str(size)),
            external("urna-log-root-hash", Value::Str(&cp.root_hash)),
        ];
    }
    let root = &e.units[0];
    let doc = ReportDoc {
        kind: "ElectionResults.ElectionReport",
        election: [ElectionDoc {
            kind: "ElectionResults.Election",
            ballot_counts: ctx.ballots.map(|_| BallotCountsSeq(&ctx)),
            candidate: ctx.candidates(),
            contest: ctx.contests(),
            count_status: count_status(ctx.below[0].status()),
            election_scope_id: Id(UNIT_PREFIX, &root.id),
            end_date: date,
            external_identifier: vec![
                external("urna-election-id", Value::Str(&e.id)),
                external("urna-definition-sha256", Value::Str(&digest)),
            ],
            name: text(&e.name),
            start_date: date,
            election_type: "general",
        }],
        external_identifier: report_ids,
        format: "precinct-level",
        generated_date: generated,
        gp_unit: GpUnits(&ctx),
        issuer: &issuer,
        issuer_abbreviation: &root.id,
        notes: Notes {
            preferences: ctx.open_lists(),
        },
        party: ctx.parties(),
        person: ctx.persons(),
        sequence_end: 1,
        sequence_start: 1,
        status: if ctx.below[0].complete == ctx.below[0].stations {
            "unofficial-complete"
        } else {
            "unofficial-partial"
        },
        vendor_application_id: VENDOR_APPLICATION_ID,
    };
    serde_json::to_writer(&mut out, &doc).map_err(|err| CdfError::Write(err.into()))?;
    out.write_all(b"\n").map_err(CdfError::Write)?;
    Ok(out)
}

/// A Unix time as an RFC 3339 UTC date-time in whole seconds (`2025-05-11T19:00:00Z`), the
/// form the schema's `DateTimeWithZone` accepts; `None` after 9999-12-31T23:59:59Z.
///
/// ```
/// use urna_tally::cdf::rfc3339_utc;
/// assert_eq!(rfc3339_utc(0).as_deref(), Some("1970-01-01T00:00:00Z"));
/// assert_eq!(rfc3339_utc(1_746_990_000).as_deref(), Some("2025-05-11T19:00:00Z"));
/// ```
pub fn rfc3339_utc(unix_seconds: u64) -> Option<String> {
    let (days, secs) = (unix_seconds / 86_400, unix_seconds % 86_400);
    // Days since 1970-01-01 to a civil date (H. Hinnant, "chrono-Compatible Low-Level Date
    // Algorithms", days_from_civil inverse), in unsigned arithmetic: the epoch is day 719,468
    // of the proleptic Gregorian era starting 0000-03-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year <= 9999).then(|| {
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    })
}

// ---------------------------------------------------------------------------------------------
// What the documents are made from.

/// The country: the first unit of every definition.
const ROOT: UnitIdx = UnitIdx(0);

/// `ReportingUnitType` values a unit's level is used as when it names one (`other` excluded:
/// a level that is none of these is written as `other` with `OtherType`).
const REPORTING_UNIT_TYPES: [&str; 28] = [
    "ballot-batch",
    "ballot-style-area",
    "borough",
    "city",
    "city-council",
    "combined-precinct",
    "congressional",
    "country",
    "county",
    "county-council",
    "drop-box",
    "judicial",
    "municipality",
    "polling-place",
    "precinct",
    "school",
    "special",
    "split-precinct",
    "state",
    "state-house",
    "state-senate",
    "town",
    "township",
    "utility",
    "village",
    "vote-center",
    "ward",
    "water",
];

/// A station's state over all contests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Counted in every contest.
    Complete,
    /// Reported in some contest, but not counted in every one.
    Partial,
    /// Reported in no contest.
    None,
}

/// Stations below a unit and how far they are.
#[derive(Debug, Clone, Copy, Default)]
struct Below {
    stations: u64,
    /// Counted in every contest.
    complete: u64,
    /// Reported in at least one contest.
    reported: u64,
}

impl Below {
    fn status(self) -> &'static str {
        if self.complete == self.stations {
            "completed"
        } else if self.reported == 0 {
            "not-processed"
        } else {
            "in-process"
        }
    }
}

/// Positions of `ballots-cast` and `invalid` in the election's counts.
#[derive(Debug, Clone, Copy)]
struct Ballots {
    cast: Option<usize>,
    invalid: Option<usize>,
}

/// Everything the lazily serialised arrays read.
struct Ctx<'a> {
    e: &'a Election,
    replay: &'a Replay,
    contests: Vec<ContestIdx>,
    /// Child units of every unit, in definition order.
    children: Vec<Vec<UnitIdx>>,
    /// Per unit.
    below: Vec<Below>,
    /// Per station.
    progress: Vec<Progress>,
    /// Set when the election has one contest and names `ballots-cast` or `invalid`.
    ballots: Option<Ballots>,
    /// Per contest: the counted stations' preference votes by candidate (`None` for a
    /// closed-list contest).
    preferences: Vec<Option<StationPreferences>>,
    /// The candidates of every list on an open-list contest's ballot, in definition order.
    candidates: Vec<CandidateIdx>,
}

/// The counted stations' preference votes of one contest, by candidate: the entries of
/// candidate `c` are `entries[offsets[c]..offsets[c + 1]]`, in station order. Built in one
/// pass over the protocols, so that each candidate's station counts are written without
/// searching every station's protocol (its size is that of the protocols' preference lines).
struct StationPreferences {
    offsets: Vec<usize>,
    entries: Vec<(StationIdx, u64)>,
}

impl StationPreferences {
    fn new(e: &Election, replay: &Replay, c: ContestIdx) -> Self {
        let counted = || {
            (0..e.stations.len()).filter_map(move |i| {
                let s = station_idx(i);
                replay
                    .station(c, s)
                    .filter(|state| state.is_counted())
                    .map(|state| (s, state.current()))
            })
        };
        let mut offsets = vec![0usize; e.candidates.len() + 1];
        for (_, sub) in counted() {
            for &(cand, _) in &sub.preferences {
                offsets[cand.0 as usize + 1] += 1;
            }
        }
        for i in 1..offsets.len() {
            offsets[i] += offsets[i - 1];
        }
        let mut next = offsets.clone();
        let mut entries = vec![(StationIdx(0), 0); offsets[e.candidates.len()]];
        for (s, sub) in counted() {
            for &(cand, votes) in &sub.preferences {
                let at = &mut next[cand.0 as usize];
                entries[*at] = (s, votes);
                *at += 1;
            }
        }
        Self { offsets, entries }
    }

    fn of(&self, c: CandidateIdx) -> &[(StationIdx, u64)] {
        let i = c.0 as usize;
        &self.entries[self.offsets[i]..self.offsets[i + 1]]
    }
}

impl<'a> Ctx<'a> {
    fn new(e: &'a Election, replay: &'a Replay) -> Self {
        let contests: Vec<ContestIdx> = (0..e.contests.len())
            .filter_map(|c| u16::try_from(c).ok().map(ContestIdx))
            .collect();
        let mut children = vec![Vec::new(); e.units.len()];
        for (i, u) in e.units.iter().enumerate() {
            if let (Some(p), Ok(i)) = (u.parent, u32::try_from(i)) {
                children[p.0 as usize].push(UnitIdx(i));
            }
        }
        let mut below = vec![Below::default(); e.units.len()];
        let mut progress = Vec::with_capacity(e.stations.len());
        for (i, st) in e.stations.iter().enumerate() {
            let s = station_idx(i);
            let (mut counted, mut reported) = (0, 0);
            for &c in &contests {
                if let Some(state) = replay.station(c, s) {
                    reported += 1;
                    counted += usize::from(state.is_counted());
                }
            }
            let p = if counted == contests.len() {
                Progress::Complete
            } else if reported == 0 {
                Progress::None
            } else {
                Progress::Partial
            };
            progress.push(p);
            for u in e.ancestry(st.unit) {
                let b = &mut below[u.0 as usize];
                b.stations += 1;
                b.complete += u64::from(p == Progress::Complete);
                b.reported += u64::from(p != Progress::None);
            }
        }
        let ballots = Some(Ballots {
            cast: e.count_position("ballots-cast"),
            invalid: e.count_position("invalid"),
        })
        .filter(|b| contests.len() == 1 && (b.cast.is_some() || b.invalid.is_some()));
        let preferences: Vec<Option<StationPreferences>> = contests
            .iter()
            .map(|&c| {
                e.contests[c.0 as usize]
                    .preferences
                    .map(|_| StationPreferences::new(e, replay, c))
            })
            .collect();
        let mut on_open_ballot = vec![false; e.lists.len()];
        for contest in e.contests.iter().filter(|c| c.preferences.is_some()) {
            for &l in &contest.lists {
                on_open_ballot[l] = true;
            }
        }
        let candidates = (0..e.candidates.len())
            .filter(|&i| on_open_ballot[e.candidates[i].list])
            .map(candidate_idx)
            .collect();
        Self {
            e,
            replay,
            contests,
            children,
            below,
            progress,
            ballots,
            preferences,
            candidates,
        }
    }

    /// The station's current submission in `c` if it is counted there.
    fn counted(&self, c: ContestIdx, s: StationIdx) -> Option<&'a Submission> {
        self.replay
            .station(c, s)
            .filter(|state| state.is_counted())
            .map(|state| state.current())
    }

    fn contests(&self) -> Vec<ContestDoc<'_>> {
        let e = self.e;
        self.contests
            .iter()
            .zip(1u64..)
            .map(|(&c, order)| {
                let contest = &e.contests[c.0 as usize];
                let national = &self.replay.tally(c).units[0];
                // Seats per ballot position, when the contest names a rule set and seats can
                // be allocated from the counts so far.
                let seats: Vec<Option<u32>> = match seats::contest_seats(e, self.replay.tally(c)) {
                    Some(Ok((_, allocation))) => contest
                        .lists
                        .iter()
                        .map(|&l| {
                            let list = &e.lists[l];
                            (list.kind != ListKind::Other).then(|| allocation.seats_of(&list.id).0)
                        })
                        .collect(),
                    _ => vec![None; contest.lists.len()],
                };
                ContestDoc {
                    id: Id(CONTEST_PREFIX, &contest.id),
                    kind: "ElectionResults.PartyContest",
                    contest_selection: contest
                        .lists
                        .iter()
                        .zip(&seats)
                        .enumerate()
                        .map(|(position, (&l, &seats))| {
                            Selection::Party(SelectionDoc {
                                id: SelectionId(&contest.id, &e.lists[l].id),
                                kind: "ElectionResults.PartySelection",
                                party_ids: [Id(PARTY_PREFIX, &e.lists[l].id)],
                                sequence_order: position as u64 + 1,
                                vote_counts: VoteCountsSeq {
                                    ctx: self,
                                    contest: c,
                                    position,
                                    seats,
                                },
                            })
                        })
                        .chain(self.candidate_selections(c))
                        .collect(),
                    count_status: count_status(if national.counted == national.stations {
                        "completed"
                    } else if national.counted + national.quarantined == 0 {
                        "not-processed"
                    } else {
                        "in-process"
                    }),
                    election_district_id: Id(UNIT_PREFIX, &e.units[0].id),
                    name: &contest.name,
                    sequence_order: order,
                    sub_units_reported: national.counted,
                    total_sub_units: national.stations,
                    vote_variation: "proportional",
                }
            })
            .collect()
    }

    /// Whether a contest has open lists: the report then has candidates and the
    /// [`NOTES_PREFERENCES`].
    fn open_lists(&self) -> bool {
        self.preferences.iter().any(Option::is_some)
    }

    /// `Election.Candidate`: the candidates of every list on an open-list ballot.
    fn candidates(&self) -> Vec<CandidateDoc<'_>> {
        let e = self.e;
        self.candidates
            .iter()
            .map(|&c| {
                let cand = &e.candidates[c.0 as usize];
                CandidateDoc {
                    id: CandidateId::new(CANDIDATE_PREFIX, e, c),
                    kind: "ElectionResults.Candidate",
                    ballot_name: text(&cand.name),
                    party_id: Id(PARTY_PREFIX, &e.lists[cand.list].id),
                    person_id: cand.gender.map(|_| CandidateId::new(PERSON_PREFIX, e, c)),
                    pre_election_status: cand.withdrawn.then_some("withdrawn"),
                }
            })
            .collect()
    }

    /// `ElectionReport.Person`: the candidates whose gender the definition records.
    fn persons(&self) -> Vec<PersonDoc<'_>> {
        let e = self.e;
        self.candidates
            .iter()
            .filter_map(|&c| {
                let cand = &e.candidates[c.0 as usize];
                Some(PersonDoc {
                    id: CandidateId::new(PERSON_PREFIX, e, c),
                    kind: "ElectionResults.Person",
                    full_name: text(&cand.name),
                    gender: match cand.gender? {
                        Gender::Female => "female",
                        Gender::Male => "male",
                    },
                })
            })
            .collect()
    }

    /// A contest's `CandidateSelection`s: the candidates of its lists, in ballot order (list
    /// position, then ballot number); none for a closed-list contest.
    fn candidate_selections(&self, c: ContestIdx) -> impl Iterator<Item = Selection<'_>> {
        let e = self.e;
        let contest = &e.contests[c.0 as usize];
        let stations = self.preferences[c.0 as usize].as_ref();
        stations.into_iter().flat_map(move |stations| {
            contest.lists.iter().flat_map(move |&l| {
                e.lists[l].candidates.iter().map(move |&cand| {
                    let id = CandidateId::new(CANDIDATE_PREFIX, e, cand);
                    Selection::Candidate(CandidateSelectionDoc {
                        id: CandidateId {
                            prefix: CANDIDATE_SELECTION_PREFIX,
                            contest: Some(&contest.id),
                            ..id
                        },
                        kind: "ElectionResults.CandidateSelection",
                        candidate_ids: [id],
                        sequence_order: id.number,
                        vote_counts: PreferenceCountsSeq {
                            ctx: self,
                            contest: c,
                            candidate: cand,
                            stations: stations.of(cand),
                        },
                    })
                })
            })
        })
    }

    fn parties(&self) -> Vec<PartyDoc<'_>> {
        let e = self.e;
        e.lists
            .iter()
            .enumerate()
            .map(|(l, list)| {
                let coalition = list.kind == ListKind::Coalition;
                PartyDoc {
                    id: Id(PARTY_PREFIX, &list.id),
                    kind: if coalition {
                        "ElectionResults.Coalition"
                    } else {
                        "ElectionResults.Party"
                    },
                    abbreviation: text(&list.id),
                    contest_ids: coalition.then(|| {
                        e.contests
                            .iter()
                            .filter(|c| c.lists.contains(&l))
                            .map(|c| Id(CONTEST_PREFIX, &c.id))
                            .collect()
                    }),
                    is_recognized_party: matches!(list.kind, ListKind::Party | ListKind::Coalition),
                    name: text(&list.name),
                }
            })
            .collect()
    }
}

fn station_idx(i: usize) -> StationIdx {
    // Definitions hold at most u32::MAX stations (checked at load).
    StationIdx(u32::try_from(i).unwrap_or(u32::MAX))
}

fn candidate_idx(i: usize) -> CandidateIdx {
    // Definitions hold at most u32::MAX candidates (checked at load).
    CandidateIdx(u32::try_from(i).unwrap_or(u32::MAX))
}

fn unit_idx(i: usize) -> UnitIdx {
    // Definitions hold at most u32::MAX units (checked at load).
    UnitIdx(u32::try_from(i).unwrap_or(u32::MAX))
}

fn count_status(status: &'static str) -> [CountStatusDoc; 1] {
    [CountStatusDoc {
        kind: "ElectionResults.CountStatus",
        status,
        count_type: "total",
    }]
}

fn text(content: &str) -> Text<'_> {
    Text {
        kind: "ElectionResults.InternationalizedText",
        text: [LanguageString {
            kind: "ElectionResults.LanguageString",
            content,
            language: LANGUAGE,
        }],
    }
}

fn external<'a>(other_type: &'static str, value: Value<'a>) -> ExternalId<'a> {
    ExternalId {
        kind: "ElectionResults.ExternalIdentifier",
        label: None,
        other_type,
        id_type: "other",
        value,
    }
}

/// `YYYY-MM-DD`, a real calendar date.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(year), Some(month), Some(day)) =
        (number(&b[0..4]), number(&b[5..7]), number(&b[8..10]))
    else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// `YYYY-MM-DDTHH:MM:SS` then `Z` or `±HH:MM`, within the ranges of the schema's
/// `DateTimeWithZone` pattern (hours 00–23 or 24:00:00, offsets up to ±14:00).
fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 || !s.is_ascii() || !is_date(&s[..10]) || b[10] != b'T' {
        return false;
    }
    let two = |at: usize| number(&b[at..at + 2]);
    let (Some(h), Some(m), Some(sec)) = (two(11), two(14), two(17)) else {
        return false;
    };
    let time = b[13] == b':'
        && b[16] == b':'
        && ((h < 24 && m < 60 && sec < 60) || (h == 24 && m == 0 && sec == 0));
    let zone = match &b[19..] {
        [b'Z'] => true,
        [b'+' | b'-', _, _, b':', _, _] => matches!(
            (two(20), two(23)),
            (Some(zh), Some(zm)) if (zh < 14 && zm < 60) || (zh == 14 && zm == 0)
        ),
        _ => false,
    };
    time && zone
}

/// ASCII digits as a number.
fn number(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
    })
}

// ---------------------------------------------------------------------------------------------
// Document shapes. Field order here is the order in the file; names are the schema's.

/// An `@id`: a prefix and an urna id, written without building a `String`.
#[derive(Clone, Copy)]
struct Id<'a>(&'static str, &'a str);

impl Serialize for Id<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}{}", self.0, self.1))
    }
}

/// A `PartySelection`'s `@id`: `po-<contest>~<list>`.
struct SelectionId<'a>(&'a str, &'a str);

impl Serialize for SelectionId<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{SELECTION_PREFIX}{}~{}", self.0, self.1))
    }
}

/// The `@id` of a candidate's `Candidate`, `Person` or (with a contest) `CandidateSelection`:
/// `<prefix>[<contest>~]<list>~<number>[~<unit>]`.
#[derive(Clone, Copy)]
struct CandidateId<'a> {
    prefix: &'static str,
    contest: Option<&'a str>,
    list: &'a str,
    number: u32,
    unit: Option<&'a str>,
}

impl<'a> CandidateId<'a> {
    fn new(prefix: &'static str, e: &'a Election, c: CandidateIdx) -> Self {
        let cand = &e.candidates[c.0 as usize];
        Self {
            prefix,
            contest: None,
            list: &e.lists[cand.list].id,
            number: cand.number,
            unit: cand.unit.map(|u| e.units[u.0 as usize].id.as_str()),
        }
    }
}

impl fmt::Display for CandidateId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix)?;
        if let Some(contest) = self.contest {
            write!(f, "{contest}~")?;
        }
        write!(f, "{}~{}", self.list, self.number)?;
        if let Some(unit) = self.unit {
            write!(f, "~{unit}")?;
        }
        Ok(())
    }
}

impl Serialize for CandidateId<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The report's `Notes`: [`NOTES`], and [`NOTES_PREFERENCES`] when a contest has open lists.
struct Notes {
    preferences: bool,
}

impl Serialize for Notes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.preferences {
            s.collect_str(&format_args!("{NOTES} {NOTES_PREFERENCES}"))
        } else {
            s.serialize_str(NOTES)
        }
    }
}

/// `sha256:<hex>` of a log entry.
struct EntryRef<'a>(&'a [u8; 32]);

impl fmt::Display for EntryRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// The value of an `ExternalIdentifier` (always a JSON string).
enum Value<'a> {
    Str(&'a str),
    Entry(&'a [u8; 32]),
}

impl Serialize for Value<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Str(v) => s.serialize_str(v),
            Self::Entry(hash) => s.collect_str(&EntryRef(hash)),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReportDoc<'a> {
    #[serde(rename = "@type")]
    kind: &'static str,
    election: [ElectionDoc<'a>; 1],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_identifier: Vec<ExternalId<'a>>,
    format: &'static str,
    generated_date: &'a str,
    gp_unit: GpUnits<'a>,
    issuer: &'a str,
    issuer_abbreviation: &'a str,
    notes: Notes,
    party: Vec<PartyDoc<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    person: Vec<PersonDoc<'a>>,
    sequence_end: u32,
    sequence_start: u32,
    status: &'static str,
    vendor_application_id: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ElectionDoc<'a> {
    #[serde(rename = "@type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ballot_counts: Option<BallotCountsSeq<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    candidate: Vec<CandidateDoc<'a>>,
    contest: Vec<ContestDoc<'a>>,
    count_status: [CountStatusDoc; 1],
    election_scope_id: Id<'a>,
    end_date: &'a str,
    external_identifier: Vec<ExternalId<'a>>,
    name: Text<'a>,
    start_date: &'a str,
    #[serde(rename = "Type")]
    election_type: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ExternalId<'a> {
    #[serde(rename = "@type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<&'a str>,
    other_type: &'static str,
    #[serde(rename = "Type")]
    id_type: &'static str,
    value: Value<'a>,
}

#[derive(Serialize)]
struct Text<'a> {
    #[serde(rename = "@type")]
    kind: &'static str,
    #[serde(rename = "Text")]
    text: [LanguageString<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct LanguageString<'a> {
    #[serde(rename = "@type")]
    kind: &'static str,
    content: &'a str,
    language: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CountStatusDoc {
    #[serde(rename = "@type")]
    kind: &'static str,
    status: &'static str,
    #[serde(rename = "Type")]
    count_type: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PartyDoc<'a> {
    #[serde(rename = "@id")]
    id: Id<'a>,
    #[serde(rename = "@type")]
    kind: &'static str,
    abbreviation: Text<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contest_ids: Option<Vec<Id<'a>>>,
    is_recognized_party: bool,
    name: Text<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ContestDoc<'a> {
    #[serde(rename = "@id")]
    id: Id<'a>,
    #[serde(rename = "@type")]
    kind: &'static str,
    contest_selection: Vec<Selection<'a>>,
    count_status: [CountStatusDoc; 1],
    election_district_id: Id<'a>,
    name: &'a str,
    sequence_order: u64,
    sub_units_reported: u64,
    total_sub_units: u64,
    vote_variation: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SelectionDoc<'a> {
    #[serde(rename = "@id")]
    id: SelectionId<'a>,
    #[serde(rename = "@type")]
    kind: &'static str,
    party_ids: [Id<'a>; 1],
    sequence_order: u64,
    vote_counts: VoteCountsSeq<'a>,
}

/// A contest's selections: its lists, then (open lists) its candidates.
#[derive(Serialize)]
#[serde(untagged)]
enum Selection<'a> {
    Party(SelectionDoc<'a>),
    Candidate(CandidateSelectionDoc<'a>),
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CandidateSelectionDoc<'a> {
    #[serde(rename = "@id")]
    id: CandidateId<'a>,
    #[serde(rename = "@type")]
    kind: &'static str,
    candidate_ids: [CandidateId<'a>; 1],
    sequence_order: u32,
    vote_counts: PreferenceCountsSeq<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CandidateDoc<'a> {
    #[serde(rename = "@id")]
    id: CandidateId<'a>,
    #[serde(rename = "@type")]
    kind: &'static str,
    ballot_name: Text<'a>,
    party_id: Id<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    person_id: Option<CandidateId<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pre_election_status: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PersonDoc<'a> {
    #[serde(rename = "@id")]
    id: CandidateId<'a>,
    #[serde(rename = "@type")]
    kind: &'static str,
    full_name: Text<'a>,
    gender: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct VoteCountsDoc<'a> {
    #[serde(rename = "@type")]
    kind: &'static str,
    count: u64,
    gp_unit_id: Id<'a>,
    #[serde(rename = "Type")]
    count_type: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BallotCountsDoc<'a> {
    #[serde(rename = "@type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ballots_cast: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ballots_rejected: Option<u64>,
    gp_unit_id: Id<'a>,
    #[serde(rename = "Type")]
    count_type: &'static str,
}

/// A unit's or a station's `ReportingUnit`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReportingUnitDoc<'a> {
    #[serde(rename = "@id")]
    id: Id<'a>,
    #[serde(rename = "@type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    composing_gp_unit_ids: Option<Composing<'a>>,
    count_status: [CountStatusDoc; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    external_identifier: Option<StationEntries<'a>>,
    name: Text<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    other_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_units_reported: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_sub_units: Option<u64>,
    #[serde(rename = "Type")]
    unit_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    voters_participated: Option<u64>,
    voters_registered: u64,
}

/// `GpUnit`: every unit in definition order, then every station in definition order.
struct GpUnits<'a>(&'a Ctx<'a>);

impl Serialize for GpUnits<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ctx = self.0;
        let e = ctx.e;
        let first = ctx.contests.first().copied();
        let mut seq = s.serialize_seq(Some(e.units.len() + e.stations.len()))?;
        for (i, u) in e.units.iter().enumerate() {
            let unit = unit_idx(i);
            let totals = first.map(|c| ctx.replay.tally(c).unit(unit));
            let (unit_type, other_type) = if REPORTING_UNIT_TYPES.contains(&u.level.as_str()) {
                (u.level.as_str(), None)
            } else {
                ("other", Some(u.level.as_str()))
            };
            let below = ctx.below[i];
            let composing = !ctx.children[i].is_empty() || !ctx.replay.stations_in(unit).is_empty();
            seq.serialize_element(&ReportingUnitDoc {
                id: Id(UNIT_PREFIX, &u.id),
                kind: "ElectionResults.ReportingUnit",
                composing_gp_unit_ids: composing.then_some(Composing { ctx, unit }),
                count_status: count_status(below.status()),
                external_identifier: None,
                name: text(&u.name),
                other_type,
                sub_units_reported: Some(below.complete),
                total_sub_units: Some(below.stations),
                unit_type,
                voters_participated: ctx
                    .ballots
                    .and_then(|b| b.cast)
                    .and_then(|k| totals.map(|t| t.counts[k])),
                voters_registered: totals.map_or(0, |t| t.registered),
            })?;
        }
        for (i, st) in e.stations.iter().enumerate() {
            let station = station_idx(i);
            let reported = ctx.progress[i] != Progress::None;
            seq.serialize_element(&ReportingUnitDoc {
                id: Id(STATION_PREFIX, &st.id),
                kind: "ElectionResults.ReportingUnit",
                composing_gp_unit_ids: None,
                count_status: count_status(match ctx.progress[i] {
                    Progress::Complete => "completed",
                    Progress::Partial => "in-process",
                    Progress::None => "not-processed",
                }),
                external_identifier: reported.then_some(StationEntries { ctx, station }),
                name: text(&st.id),
                other_type: None,
                sub_units_reported: None,
                total_sub_units: None,
                unit_type: "precinct",
                voters_participated: ctx.ballots.and_then(|b| b.cast).and_then(|k| {
                    first
                        .and_then(|c| ctx.counted(c, station))
                        .map(|sub| sub.counts[k])
                }),
                voters_registered: st.registered,
            })?;
        }
        seq.end()
    }
}

/// `ComposingGpUnitIds` of a unit: its child units, then its stations.
struct Composing<'a> {
    ctx: &'a Ctx<'a>,
    unit: UnitIdx,
}

impl Serialize for Composing<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (e, u) = (self.ctx.e, self.unit.0 as usize);
        let units = self.ctx.children[u]
            .iter()
            .map(|c| Id(UNIT_PREFIX, &e.units[c.0 as usize].id));
        let stations = self
            .ctx
            .replay
            .stations_in(self.unit)
            .iter()
            .map(|st| Id(STATION_PREFIX, &e.stations[st.0 as usize].id));
        s.collect_seq(units.chain(stations))
    }
}

/// A station's `ExternalIdentifier`s: its current entry in every contest it reported in.
struct StationEntries<'a> {
    ctx: &'a Ctx<'a>,
    station: StationIdx,
}

impl Serialize for StationEntries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ctx = self.ctx;
        let several = ctx.contests.len() > 1;
        s.collect_seq(ctx.contests.iter().filter_map(|&c| {
            let state = ctx.replay.station(c, self.station)?;
            Some(ExternalId {
                label: several.then(|| ctx.e.contests[c.0 as usize].id.as_str()),
                ..external("urna-entry", Value::Entry(&state.current().hash))
            })
        }))
    }
}

/// A selection's `VoteCounts`: every unit, every counted station, and the seats.
struct VoteCountsSeq<'a> {
    ctx: &'a Ctx<'a>,
    contest: ContestIdx,
    /// Ballot position of the list.
    position: usize,
    seats: Option<u32>,
}

impl Serialize for VoteCountsSeq<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ctx = self.ctx;
        let e = ctx.e;
        let doc = |count, gp_unit_id, count_type| VoteCountsDoc {
            kind: "ElectionResults.VoteCounts",
            count,
            gp_unit_id,
            count_type,
        };
        let mut seq = s.serialize_seq(None)?;
        for (u, t) in e.units.iter().zip(&ctx.replay.tally(self.contest).units) {
            seq.serialize_element(&doc(
                t.votes[self.position],
                Id(UNIT_PREFIX, &u.id),
                "total",
            ))?;
        }
        for (i, st) in e.stations.iter().enumerate() {
            if let Some(sub) = ctx.counted(self.contest, station_idx(i)) {
                seq.serialize_element(&doc(
                    sub.votes[self.position],
                    Id(STATION_PREFIX, &st.id),
                    "total",
                ))?;
            }
        }
        if let Some(seats) = self.seats {
            seq.serialize_element(&doc(
                u64::from(seats),
                Id(UNIT_PREFIX, &e.units[0].id),
                "seats",
            ))?;
        }
        seq.end()
    }
}

/// A `CandidateSelection`'s `VoteCounts`: every unit the candidate stands in (all units for a
/// candidate of the whole contest; for one standing in a unit only, that unit, the units above
/// it and those below it), zero included, then every counted station whose protocol gives the
/// candidate preference votes.
struct PreferenceCountsSeq<'a> {
    ctx: &'a Ctx<'a>,
    contest: ContestIdx,
    candidate: CandidateIdx,
    /// The counted stations' votes for the candidate, in station order.
    stations: &'a [(StationIdx, u64)],
}

impl Serialize for PreferenceCountsSeq<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.ctx.e;
        let c = self.candidate.0 as usize;
        let home = e.candidates[c].unit;
        let doc = |count, gp_unit_id| VoteCountsDoc {
            kind: "ElectionResults.VoteCounts",
            count,
            gp_unit_id,
            count_type: "total",
        };
        let mut seq = s.serialize_seq(None)?;
        for (i, (u, t)) in e
            .units
            .iter()
            .zip(&self.ctx.replay.tally(self.contest).units)
            .enumerate()
        {
            let unit = unit_idx(i);
            let stands = home.is_none_or(|h| e.unit_within(unit, h) || e.unit_within(h, unit));
            if stands {
                seq.serialize_element(&doc(t.preferences[c], Id(UNIT_PREFIX, &u.id)))?;
            }
        }
        for &(st, votes) in self.stations {
            seq.serialize_element(&doc(
                votes,
                Id(STATION_PREFIX, &e.stations[st.0 as usize].id),
            ))?;
        }
        seq.end()
    }
}

/// `Election.BallotCounts`: every unit, then every counted station (one contest only).
struct BallotCountsSeq<'a>(&'a Ctx<'a>);

impl Serialize for BallotCountsSeq<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ctx = self.0;
        let e = ctx.e;
        let (Some(b), Some(&c)) = (ctx.ballots, ctx.contests.first()) else {
            return s.collect_seq(std::iter::empty::<()>());
        };
        let doc = |counts: &[u64], gp_unit_id| BallotCountsDoc {
            kind: "ElectionResults.BallotCounts",
            ballots_cast: b.cast.map(|k| counts[k]),
            ballots_rejected: b.invalid.map(|k| counts[k]),
            gp_unit_id,
            count_type: "total",
        };
        let mut seq = s.serialize_seq(None)?;
        for (u, t) in e.units.iter().zip(&ctx.replay.tally(c).units) {
            seq.serialize_element(&doc(&t.counts, Id(UNIT_PREFIX, &u.id)))?;
        }
        for (i, st) in e.stations.iter().enumerate() {
            if let Some(sub) = ctx.counted(c, station_idx(i)) {
                seq.serialize_element(&doc(&sub.counts, Id(STATION_PREFIX, &st.id)))?;
            }
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::Value as Json;
    use urna_model::definition::STATIONS_HEADER;
    use urna_model::genesis::Genesis;
    use urna_model::note::NoteSigner;
    use urna_sim::{SimConfig, Simulation};

    use super::*;

    const GENERATED: &str = "2025-05-11T21:00:00Z";

    /// A simulated election with its whole log: genesis, protocols (30 % with an arithmetic
    /// error), amendments for half of those.
    struct Fixture {
        election: Election,
        log: Vec<Vec<u8>>,
        /// Entries up to and including the last protocol (before any amendment).
        protocols_end: usize,
    }

    fn fixture(stations: u32, error_rate_per_10k: u32) -> Fixture {
        open_fixture(stations, error_rate_per_10k, 0)
    }

    /// As [`fixture`], with `candidates` per list (open lists, three marks) when above 0.
    fn open_fixture(stations: u32, error_rate_per_10k: u32, candidates: u32) -> Fixture {
        let sim = Simulation::new(SimConfig {
            stations,
            districts: 3,
            error_rate_per_10k,
            candidates,
            marks: 3,
            ..SimConfig::default()
        });
        let toml = sim.definition_toml();
        let mut csv = format!("{STATIONS_HEADER}\n");
        let mut protocols = Vec::new();
        let mut amendments = Vec::new();
        for i in 0..stations {
            let s = sim.station(i);
            csv.push_str(&sim.station_row(&s));
            csv.push('\n');
            let protocol = sim.protocol_note(&s);
            if sim.is_amended(&s) {
                amendments.push(sim.amendment_note(&s, &protocol).unwrap());
            }
            protocols.push(protocol);
        }
        let election = Election::from_texts("election.toml", &toml, "stations.csv", &csv).unwrap();
        let genesis = NoteSigner::from_seed(&election.log_origin(), &[9; 32])
            .unwrap()
            .sign_text(
                &Genesis::of(&election, toml.as_bytes(), csv.as_bytes())
                    .unwrap()
                    .to_text(),
            )
            .to_bytes();
        let mut log = vec![genesis];
        log.extend(protocols);
        let protocols_end = log.len();
        log.extend(amendments);
        Fixture {
            election,
            log,
            protocols_end,
        }
    }

    fn replay(e: &Election, log: &[Vec<u8>]) -> Replay {
        let mut r = Replay::new(e).unwrap();
        for (i, note) in log.iter().enumerate() {
            r.apply(e, i as u64, note).unwrap();
        }
        r
    }

    fn report(e: &Election, r: &Replay) -> Json {
        serde_json::from_slice(&render_cdf(e, r, GENERATED).unwrap()).unwrap()
    }

    fn gp_units(doc: &Json) -> BTreeMap<String, &Json> {
        doc["GpUnit"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["@id"].as_str().unwrap().to_owned(), g))
            .collect()
    }

    /// GpUnit id → count, for one selection's VoteCounts of a type.
    fn counts(selection: &Json, count_type: &str) -> BTreeMap<String, u64> {
        selection["VoteCounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["Type"] == count_type)
            .map(|v| {
                (
                    v["GpUnitId"].as_str().unwrap().to_owned(),
                    v["Count"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    /// The stations below a GpUnit, through ComposingGpUnitIds.
    fn stations_below(units: &BTreeMap<String, &Json>, id: &str, out: &mut Vec<String>) {
        if id.starts_with(STATION_PREFIX) {
            out.push(id.to_owned());
            return;
        }
        for child in units[id]["ComposingGpUnitIds"]
            .as_array()
            .into_iter()
            .flatten()
        {
            stations_below(units, child.as_str().unwrap(), out);
        }
    }

    #[test]
    fn report_is_byte_identical_for_the_same_input() {
        let f = fixture(60, 3000);
        let e = &f.election;
        let a = render_cdf(e, &replay(e, &f.log), GENERATED).unwrap();
        let b = render_cdf(e, &replay(e, &f.log), GENERATED).unwrap();
        assert_eq!(a, b);
        assert!(a.ends_with(b"}\n"));
        let c = write_cdf(e, &replay(e, &f.log), GENERATED, None, Vec::new()).unwrap();
        assert_eq!(a, c);
    }

    #[test]
    fn station_counts_sum_to_unit_and_national_totals() {
        let f = fixture(60, 3000);
        let e = &f.election;
        let r = replay(e, &f.log);
        let doc = report(e, &r);
        let units = gp_units(&doc);
        let contest = &doc["Election"][0]["Contest"][0];
        let national = &r.tally(ContestIdx(0)).units[0];
        assert_eq!(contest["@type"], "ElectionResults.PartyContest");
        assert_eq!(contest["SubUnitsReported"], national.counted);
        assert_eq!(contest["TotalSubUnits"], national.stations);
        let selections = contest["ContestSelection"].as_array().unwrap();
        assert_eq!(selections.len(), e.contests[0].lists.len());
        for (position, selection) in selections.iter().enumerate() {
            let counts = counts(selection, "total");
            let root = format!("{UNIT_PREFIX}{}", e.units[0].id);
            assert_eq!(counts[&root], national.votes[position]);
            for u in &e.units {
                let id = format!("{UNIT_PREFIX}{}", u.id);
                let mut below = Vec::new();
                stations_below(&units, &id, &mut below);
                let sum: u64 = below.iter().filter_map(|s| counts.get(s)).sum();
                assert_eq!(counts[&id], sum, "unit {id}, list {position}");
            }
        }
        // Ballot counts too: the country's are the sums of the stations'.
        let ballots = doc["Election"][0]["BallotCounts"].as_array().unwrap();
        let cast = e.count_position("ballots-cast").unwrap();
        let stations_cast: u64 = ballots
            .iter()
            .filter(|b| b["GpUnitId"].as_str().unwrap().starts_with(STATION_PREFIX))
            .map(|b| b["BallotsCast"].as_u64().unwrap())
            .sum();
        assert_eq!(ballots[0]["BallotsCast"], national.counts[cast]);
        assert_eq!(stations_cast, national.counts[cast]);
    }

    #[test]
    fn every_reference_resolves_and_ids_are_unique() {
        let f = fixture(60, 3000);
        let e = &f.election;
        let doc = report(e, &replay(e, &f.log));
        let mut ids = BTreeSet::new();
        let mut refs = Vec::new();
        collect_ids(&doc, &mut ids, &mut refs);
        for r in &refs {
            assert!(ids.contains(r), "{r} is referenced but not defined");
        }
        let units = gp_units(&doc);
        assert_eq!(units.len(), e.units.len() + e.stations.len());
        for st in &e.stations {
            let g = units[&format!("{STATION_PREFIX}{}", st.id)];
            assert_eq!(g["Type"], "precinct");
            assert_eq!(g["VotersRegistered"], st.registered);
        }
        // Every station is in exactly one leaf unit's ComposingGpUnitIds.
        let mut composed = Vec::new();
        for g in units.values() {
            for c in g["ComposingGpUnitIds"].as_array().into_iter().flatten() {
                composed.push(c.as_str().unwrap());
            }
        }
        let stations: Vec<_> = composed
            .iter()
            .filter(|c| c.starts_with(STATION_PREFIX))
            .collect();
        assert_eq!(stations.len(), e.stations.len());
        assert_eq!(
            stations.iter().collect::<BTreeSet<_>>().len(),
            e.stations.len()
        );
    }

    /// Every `@id` defined (each once) and every id referenced.
    fn collect_ids(v: &Json, ids: &mut BTreeSet<String>, refs: &mut Vec<String>) {
        match v {
            Json::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("@id", Json::String(id)) => {
                            assert!(ids.insert(id.clone()), "@id {id} twice");
                        }
                        (
                            "GpUnitId" | "ElectionScopeId" | "ElectionDistrictId" | "PartyId"
                            | "PersonId",
                            Json::String(r),
                        ) => {
                            refs.push(r.clone());
                        }
                        (
                            "ComposingGpUnitIds" | "PartyIds" | "ContestIds" | "CandidateIds",
                            Json::Array(a),
                        ) => {
                            refs.extend(a.iter().map(|r| r.as_str().unwrap().to_owned()));
                        }
                        _ => collect_ids(v, ids, refs),
                    }
                }
            }
            Json::Array(a) => a.iter().for_each(|v| collect_ids(v, ids, refs)),
            _ => {}
        }
    }

    #[test]
    fn quarantined_station_is_in_process_with_its_entry_and_without_counts() {
        let f = fixture(60, 3000);
        let e = &f.election;
        let r = replay(e, &f.log);
        let quarantined: Vec<_> = r.quarantined(ContestIdx(0)).collect();
        assert!(
            !quarantined.is_empty(),
            "the fixture quarantines some stations"
        );
        let doc = report(e, &r);
        let units = gp_units(&doc);
        let selections = doc["Election"][0]["Contest"][0]["ContestSelection"]
            .as_array()
            .unwrap();
        let ballots = doc["Election"][0]["BallotCounts"].as_array().unwrap();
        for (s, state) in quarantined {
            let id = format!("{STATION_PREFIX}{}", e.stations[s.0 as usize].id);
            let g = units[&id];
            assert_eq!(g["CountStatus"][0]["Status"], "in-process");
            assert_eq!(g["ExternalIdentifier"][0]["OtherType"], "urna-entry");
            assert_eq!(
                g["ExternalIdentifier"][0]["Value"],
                EntryRef(&state.latest().entry).to_string()
            );
            assert!(g.get("VotersParticipated").is_none());
            for sel in selections {
                assert!(!counts(sel, "total").contains_key(&id), "{id} has votes");
            }
            assert!(ballots.iter().all(|b| b["GpUnitId"] != id.as_str()));
        }
        assert_eq!(doc["Status"], "unofficial-partial");
        assert_eq!(doc["Election"][0]["CountStatus"][0]["Status"], "in-process");
    }

    #[test]
    fn status_follows_reporting_progress() {
        // Nothing reported: the genesis only.
        let f = fixture(20, 0);
        let e = &f.election;
        let doc = report(e, &replay(e, &f.log[..1]));
        assert_eq!(doc["Status"], "unofficial-partial");
        assert_eq!(
            doc["Election"][0]["CountStatus"][0]["Status"],
            "not-processed"
        );
        let units = gp_units(&doc);
        assert!(
            units
                .values()
                .all(|g| g["CountStatus"][0]["Status"] == "not-processed")
        );
        assert!(
            units
                .values()
                .all(|g| g.get("ExternalIdentifier").is_none())
        );
        // Half reported.
        let doc = report(e, &replay(e, &f.log[..11]));
        assert_eq!(doc["Status"], "unofficial-partial");
        let root = &gp_units(&doc)[&format!("{UNIT_PREFIX}{}", e.units[0].id)];
        assert_eq!(root["CountStatus"][0]["Status"], "in-process");
        assert_eq!(root["SubUnitsReported"], 10);
        assert_eq!(root["TotalSubUnits"], 20);
        // Every station counted.
        assert_eq!(f.protocols_end, f.log.len(), "no error, no amendment");
        let doc = report(e, &replay(e, &f.log));
        assert_eq!(doc["Status"], "unofficial-complete");
        assert!(
            gp_units(&doc)
                .values()
                .all(|g| g["CountStatus"][0]["Status"] == "completed")
        );
        // The contest names a rule set (generic, 100 seats): the seats are there, at the
        // country.
        let seats: u64 = doc["Election"][0]["Contest"][0]["ContestSelection"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| counts(s, "seats").into_values())
            .sum();
        assert_eq!(seats, 100);
    }

    #[test]
    fn checkpoint_is_quoted_and_must_be_the_replays() {
        let f = fixture(20, 0);
        let e = &f.election;
        let r = replay(e, &f.log);
        let cp = CheckpointInfo {
            origin: e.log_origin(),
            size: f.log.len() as u64,
            root_hash: "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=".into(),
            note: String::new(),
        };
        let out = write_cdf(e, &r, GENERATED, Some(&cp), Vec::new()).unwrap();
        let doc: Json = serde_json::from_slice(&out).unwrap();
        let ids: Vec<(&str, &str)> = doc["ExternalIdentifier"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["OtherType"].as_str().unwrap(),
                    x["Value"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            ids,
            [
                ("urna-log-origin", cp.origin.as_str()),
                ("urna-log-size", "21"),
                ("urna-log-root-hash", cp.root_hash.as_str()),
            ]
        );
        let short = CheckpointInfo {
            size: 20,
            ..cp.clone()
        };
        assert!(matches!(
            write_cdf(e, &r, GENERATED, Some(&short), Vec::new()),
            Err(CdfError::NotAtCheckpoint {
                checkpoint: 20,
                replayed: 21
            })
        ));
        let other = CheckpointInfo {
            origin: "urna/other".into(),
            ..cp
        };
        assert!(matches!(
            write_cdf(e, &r, GENERATED, Some(&other), Vec::new()),
            Err(CdfError::WrongOrigin { .. })
        ));
    }

    /// A hand-written definition: a coalition, an `other` list, a custom level, two contests.
    fn small_election(date: Option<&str>) -> Election {
        let date = date
            .map(|d| format!("date = \"{d}\"\n"))
            .unwrap_or_default();
        let toml = format!(
            "[election]\nid = \"t\"\nname = \"T\"\n{date}[stations]\nfile = \"s.csv\"\n\
             [[contests]]\nid = \"c1\"\nname = \"C1\"\nlists = [\"A\", \"K\", \"O\"]\n\
             [[contests]]\nid = \"c2\"\nname = \"C2\"\nlists = [\"A\"]\n\
             [[lists]]\nid = \"A\"\nname = \"Party A\"\n\
             [[lists]]\nid = \"K\"\nname = \"Coalition K\"\nkind = \"coalition\"\n\
             [[lists]]\nid = \"O\"\nname = \"Independents\"\nkind = \"other\"\n\
             [[units]]\nid = \"X\"\nname = \"Xland\"\n\
             [[units]]\nid = \"D1\"\nname = \"D one\"\nparent = \"X\"\n\
             [[units]]\nid = \"R1\"\nname = \"R one\"\nparent = \"D1\"\nlevel = \"region\"\n"
        );
        let mut csv = format!("{STATIONS_HEADER}\n");
        for i in 0..3u8 {
            let id = format!("S{i}");
            let key = NoteSigner::from_seed(&id, &[i + 1; 32])
                .unwrap()
                .verifier()
                .to_vkey();
            csv.push_str(&format!("{id},R1,{},{key}\n", 100 + u64::from(i)));
        }
        Election::from_texts("e.toml", &toml, "s.csv", &csv).unwrap()
    }

    #[test]
    fn lists_and_units_map_to_the_schema_types() {
        let e = small_election(Some("2024-02-29"));
        let doc = report(&e, &Replay::new(&e).unwrap());
        let parties: BTreeMap<&str, &Json> = doc["Party"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["@id"].as_str().unwrap(), p))
            .collect();
        assert_eq!(parties["par-A"]["@type"], "ElectionResults.Party");
        assert_eq!(parties["par-A"]["IsRecognizedParty"], true);
        assert_eq!(parties["par-K"]["@type"], "ElectionResults.Coalition");
        assert_eq!(parties["par-K"]["ContestIds"], serde_json::json!(["pc-c1"]));
        assert_eq!(parties["par-O"]["@type"], "ElectionResults.Party");
        assert_eq!(parties["par-O"]["IsRecognizedParty"], false);
        assert_eq!(
            parties["par-A"]["Name"]["Text"][0],
            serde_json::json!({"@type": "ElectionResults.LanguageString", "Content": "Party A", "Language": "und"})
        );
        let units = gp_units(&doc);
        assert_eq!(units["ru-X"]["Type"], "country");
        assert_eq!(units["ru-D1"]["Type"], "other");
        assert_eq!(units["ru-D1"]["OtherType"], "district");
        assert_eq!(units["ru-R1"]["OtherType"], "region");
        assert_eq!(
            units["ru-R1"]["ComposingGpUnitIds"],
            serde_json::json!(["ps-S0", "ps-S1", "ps-S2"])
        );
        assert_eq!(units["ru-X"]["VotersRegistered"], 303);
        let election = &doc["Election"][0];
        assert_eq!(election["StartDate"], "2024-02-29");
        assert_eq!(election["Type"], "general");
        assert_eq!(election["ElectionScopeId"], "ru-X");
        assert_eq!(doc["IssuerAbbreviation"], "X");
        assert_eq!(doc["Issuer"], "urna/t");
        assert_eq!(doc["VendorApplicationId"], VENDOR_APPLICATION_ID);
        let contests = election["Contest"].as_array().unwrap();
        assert_eq!(contests.len(), 2);
        assert_eq!(
            contests[0]["ContestSelection"][1]["@id"], "po-c1~K",
            "selection ids name contest and list"
        );
        // Two contests: ballots are counted per contest, so no election-wide BallotCounts.
        assert!(election.get("BallotCounts").is_none());
        assert!(units["ru-X"].get("VotersParticipated").is_none());
    }

    #[test]
    fn dates_must_be_what_the_schema_accepts() {
        let r = |e: &Election| render_cdf(e, &Replay::new(e).unwrap(), GENERATED);
        assert!(matches!(r(&small_election(None)), Err(CdfError::NoDate)));
        for bad in [
            "2025-02-29",
            "2025-13-01",
            "25-01-01",
            "2025-1-1",
            "11 May 2025",
        ] {
            assert!(
                matches!(r(&small_election(Some(bad))), Err(CdfError::BadDate(_))),
                "{bad}"
            );
        }
        let e = small_election(Some("2025-05-11"));
        let cases = [
            ("2025-05-11T21:00:00Z", true, "UTC"),
            ("2025-05-11T23:59:59+02:00", true, "offset"),
            (
                "2025-05-11T24:00:00-14:00",
                true,
                "end of day, largest offset",
            ),
            ("2025-05-11T21:00:00.5Z", false, "fractional seconds"),
            ("2025-05-11T21:00:00", false, "no zone"),
            ("2025-05-11 21:00:00Z", false, "space"),
            ("2025-05-11T25:00:00Z", false, "hour 25"),
            ("2025-05-11T21:00:60Z", false, "leap second"),
            ("2025-05-11T21:00:00+14:30", false, "offset beyond 14:00"),
            ("2025-02-30T21:00:00Z", false, "no such day"),
            ("2025-05-11T21:00:00Ż", false, "not ASCII"),
        ];
        for (generated, ok, what) in cases {
            let got = render_cdf(&e, &Replay::new(&e).unwrap(), generated);
            match got {
                Ok(_) => assert!(ok, "{what}: {generated} accepted"),
                Err(CdfError::BadGenerated(_)) => assert!(!ok, "{what}: {generated} refused"),
                Err(other) => panic!("{what}: {other}"),
            }
        }
    }

    #[test]
    fn rfc3339_utc_gives_known_dates() {
        let cases = [
            (0, Some("1970-01-01T00:00:00Z")),
            (951_782_400, Some("2000-02-29T00:00:00Z")),
            (1_746_990_000, Some("2025-05-11T19:00:00Z")),
            (4_107_542_399, Some("2100-02-28T23:59:59Z")),
            (253_402_300_799, Some("9999-12-31T23:59:59Z")),
            (253_402_300_800, None),
            (u64::MAX, None),
        ];
        for (t, want) in cases {
            let got = rfc3339_utc(t);
            assert_eq!(got.as_deref(), want, "{t}");
            if let Some(got) = got {
                assert!(is_date_time(&got), "{got}");
            }
        }
    }

    /// GpUnit id → count, for one selection's VoteCounts of a type, refusing a GpUnit twice.
    fn unique_counts(selection: &Json) -> BTreeMap<String, u64> {
        let all = selection["VoteCounts"].as_array().unwrap();
        let counts = counts(selection, "total");
        assert_eq!(counts.len(), all.len(), "{}", selection["@id"]);
        counts
    }

    #[test]
    fn closed_lists_have_no_candidates() {
        let f = fixture(20, 0);
        let e = &f.election;
        let doc = report(e, &replay(e, &f.log));
        assert!(doc["Election"][0].get("Candidate").is_none());
        assert!(doc.get("Person").is_none());
        assert_eq!(doc["Notes"], NOTES);
        let selections = doc["Election"][0]["Contest"][0]["ContestSelection"]
            .as_array()
            .unwrap();
        assert!(
            selections
                .iter()
                .all(|s| s["@type"] == "ElectionResults.PartySelection")
        );
    }

    #[test]
    fn open_list_preference_votes_are_the_protocols_at_every_unit_and_station() {
        // 30 % arithmetic or preference errors, half amended: quarantined stations too.
        let f = open_fixture(60, 3000, 4);
        let e = &f.election;
        let r = replay(e, &f.log);
        let c = ContestIdx(0);
        assert!(r.quarantined(c).next().is_some());
        let doc = report(e, &r);
        let election = &doc["Election"][0];
        assert_eq!(doc["Notes"], format!("{NOTES} {NOTES_PREFERENCES}"));

        // Every candidate, with its list and gender.
        let candidates = election["Candidate"].as_array().unwrap();
        assert_eq!(candidates.len(), e.candidates.len());
        // The sim gives each list a whole house of candidates, 4 of whom draw votes.
        assert!(e.lists.iter().all(|l| l.candidates.len() >= 4));
        let persons: BTreeMap<&str, &Json> = doc["Person"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["@id"].as_str().unwrap(), p))
            .collect();
        for (doc, cand) in candidates.iter().zip(&e.candidates) {
            let list = &e.lists[cand.list].id;
            let suffix = format!("{list}~{}", cand.number);
            assert_eq!(doc["@id"], format!("{CANDIDATE_PREFIX}{suffix}"));
            assert_eq!(doc["BallotName"]["Text"][0]["Content"], cand.name.as_str());
            assert_eq!(doc["PartyId"], format!("{PARTY_PREFIX}{list}"));
            let person = persons[format!("{PERSON_PREFIX}{suffix}").as_str()];
            assert_eq!(doc["PersonId"], person["@id"]);
            let gender = match cand.gender.unwrap() {
                Gender::Female => "female",
                Gender::Male => "male",
            };
            assert_eq!(person["Gender"], gender);
            assert!(doc.get("PreElectionStatus").is_none());
        }

        // The contest's selections: its lists, then their candidates in ballot order.
        let selections = election["Contest"][0]["ContestSelection"]
            .as_array()
            .unwrap();
        let lists = e.contests[0].lists.len();
        assert_eq!(selections.len(), lists + e.candidates.len());
        let tally = r.tally(c);
        let units = gp_units(&doc);
        let mut ballot_order = Vec::new();
        for &l in &e.contests[0].lists {
            ballot_order.extend(e.lists[l].candidates.iter().copied());
        }
        for (sel, &cand) in selections[lists..].iter().zip(&ballot_order) {
            let candidate = &e.candidates[cand.0 as usize];
            let list = &e.lists[candidate.list].id;
            assert_eq!(sel["@type"], "ElectionResults.CandidateSelection");
            assert_eq!(
                sel["@id"],
                format!(
                    "{CANDIDATE_SELECTION_PREFIX}{}~{list}~{}",
                    e.contests[0].id, candidate.number
                )
            );
            assert_eq!(
                sel["CandidateIds"],
                serde_json::json!([format!("{CANDIDATE_PREFIX}{list}~{}", candidate.number)])
            );
            assert_eq!(sel["SequenceOrder"], candidate.number);
            let counts = unique_counts(sel);
            // Every unit, zero included: the tally's sums.
            for (u, t) in e.units.iter().zip(&tally.units) {
                let id = format!("{UNIT_PREFIX}{}", u.id);
                assert_eq!(counts[&id], t.preferences[cand.0 as usize], "{id}");
                let mut below = Vec::new();
                stations_below(&units, &id, &mut below);
                let sum: u64 = below.iter().filter_map(|s| counts.get(s)).sum();
                assert_eq!(counts[&id], sum, "unit {id}, candidate {}", sel["@id"]);
            }
            // Every counted station whose protocol names the candidate, with its number; no
            // other station.
            for (i, st) in e.stations.iter().enumerate() {
                let id = format!("{STATION_PREFIX}{}", st.id);
                let stated = r
                    .station(c, station_idx(i))
                    .filter(|state| state.is_counted())
                    .and_then(|state| {
                        state
                            .current()
                            .preferences
                            .iter()
                            .find(|(x, _)| *x == cand)
                            .map(|&(_, v)| v)
                    });
                assert_eq!(counts.get(&id).copied(), stated, "{id}, {}", sel["@id"]);
            }
        }
        let national: u64 = tally.units[0].preferences.iter().sum();
        assert!(national > 0);
    }

    /// A definition with an open-list contest and a closed one: a withdrawn candidate, one
    /// standing in one district only, one without gender.
    fn open_election() -> Election {
        let toml = "[election]\nid = \"t\"\nname = \"T\"\ndate = \"2025-05-11\"\n\
             [stations]\nfile = \"s.csv\"\n\
             [[contests]]\nid = \"c1\"\nname = \"C1\"\nlists = [\"A\", \"B\"]\n\
             preferences = { marks = 1 }\n\
             [[contests]]\nid = \"c2\"\nname = \"C2\"\nlists = [\"A\"]\n\
             [[lists]]\nid = \"A\"\nname = \"Party A\"\n\
             [[lists.candidates]]\nnumber = 1\nname = \"Ana\"\ngender = \"f\"\n\
             [[lists.candidates]]\nnumber = 2\nname = \"Bo\"\nwithdrawn = true\n\
             [[lists.candidates]]\nnumber = 3\nname = \"Cem\"\ngender = \"m\"\nunit = \"D2\"\n\
             [[lists]]\nid = \"B\"\nname = \"Party B\"\n\
             [[units]]\nid = \"X\"\nname = \"Xland\"\n\
             [[units]]\nid = \"D1\"\nname = \"D one\"\nparent = \"X\"\n\
             [[units]]\nid = \"D2\"\nname = \"D two\"\nparent = \"X\"\n\
             [[units]]\nid = \"M2\"\nname = \"M two\"\nparent = \"D2\"\nlevel = \"municipality\"\n";
        let mut csv = format!("{STATIONS_HEADER}\n");
        for (i, unit) in [(1u8, "D1"), (2, "M2")] {
            let id = format!("S{i}");
            let key = NoteSigner::from_seed(&id, &[i; 32])
                .unwrap()
                .verifier()
                .to_vkey();
            csv.push_str(&format!("{id},{unit},100,{key}\n"));
        }
        Election::from_texts("e.toml", toml, "s.csv", &csv).unwrap()
    }

    #[test]
    fn candidates_carry_status_gender_and_where_they_stand() {
        let e = open_election();
        let doc = report(&e, &Replay::new(&e).unwrap());
        let election = &doc["Election"][0];
        let candidates = election["Candidate"].as_array().unwrap();
        let ids: Vec<&str> = candidates
            .iter()
            .map(|c| c["@id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["can-A~1", "can-A~2", "can-A~3~D2"]);
        assert_eq!(candidates[0]["PersonId"], "per-A~1");
        assert!(candidates[0].get("PreElectionStatus").is_none());
        assert_eq!(candidates[1]["PreElectionStatus"], "withdrawn");
        assert!(
            candidates[1].get("PersonId").is_none(),
            "no gender, no Person"
        );
        assert_eq!(candidates[2]["PersonId"], "per-A~3~D2");
        let persons: Vec<(&str, &str)> = doc["Person"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["@id"].as_str().unwrap(), p["Gender"].as_str().unwrap()))
            .collect();
        assert_eq!(persons, [("per-A~1", "female"), ("per-A~3~D2", "male")]);
        // The open contest has the candidates, the closed one none (though list A is on
        // both ballots).
        let contests = election["Contest"].as_array().unwrap();
        let selections: Vec<&str> = contests[0]["ContestSelection"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["@id"].as_str().unwrap())
            .collect();
        assert_eq!(
            selections,
            [
                "po-c1~A",
                "po-c1~B",
                "cs-c1~A~1",
                "cs-c1~A~2",
                "cs-c1~A~3~D2"
            ]
        );
        assert_eq!(contests[1]["ContestSelection"].as_array().unwrap().len(), 1);
        // A candidate of the whole contest has counts at every unit; one of D2 at D2, the
        // units above it and below it only. No station has counted yet.
        let at = |i: usize| -> Vec<String> {
            unique_counts(&contests[0]["ContestSelection"][i])
                .into_keys()
                .collect()
        };
        assert_eq!(at(2), ["ru-D1", "ru-D2", "ru-M2", "ru-X"]);
        assert_eq!(at(4), ["ru-D2", "ru-M2", "ru-X"]);
        let mut ids = BTreeSet::new();
        let mut refs = Vec::new();
        collect_ids(&doc, &mut ids, &mut refs);
        for r in &refs {
            assert!(ids.contains(r), "{r} is referenced but not defined");
        }
    }
}
