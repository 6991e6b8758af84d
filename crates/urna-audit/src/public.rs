//! `v1/audit.json`: every audit in the log as the results page shows it and as any verifier
//! recomputes it byte for byte from the log (`urna publish` writes it, `urna verify` compares
//! it). Derived from the [`Trail`] alone: parameters, seed, each round's sample with each
//! station's reported and hand-counted votes, the current risk overall and per assertion,
//! and the verdicts. Risks are written as the notes write them (six digits, rounded up).
//!
//! Whether each audit still covers the results: the results the whole published log gives
//! are compared with the audited ones (`current`: the stations whose counted results changed
//! after the audited checkpoint, and whether the seats are still the audited seats), and
//! whether the audit's rules are the contest's (`audits_contest_seats`: an audit under other
//! rules, say one seat of `generic`, confirms that outcome, not the contest's seats).
//!
//! For the results page (`web/audit.js`) it also names the contest's lists (the columns of
//! the reported and counted votes), each note's signer (the authority key's name), each
//! assertion's parts (so the page can say it in its own languages), and for each sampled
//! station the draw numbers that picked it so far: a station drawn twice counts twice in the
//! risk, so its multiplicity is shown.

use std::collections::BTreeMap;

use serde::Serialize;
use urna_model::audit::{AuditStep, Decision, format_limit, format_risk, risk_micros};
use urna_model::definition::Election;
use urna_model::protocol::hex;
use urna_tally::public::Replay;

use crate::Verdict;
use crate::assertions::AssertionKind;
use crate::trail::{ContestAudit, Trail};

/// Path of the file in a bundle.
pub const AUDIT_JSON: &str = "v1/audit.json";

/// Format name written in the file.
pub const FORMAT: &str = "urna/audit-report/v1";

#[derive(Serialize)]
struct Doc<'a> {
    format: &'static str,
    audits: Vec<AuditDoc<'a>>,
    /// Audit entries that do not follow, left out of the audits.
    refused: Vec<Entry<&'a str>>,
}

#[derive(Serialize)]
struct AuditDoc<'a> {
    contest: &'a str,
    /// List ids of the contest in ballot order: the columns of `reported` and `counted`
    /// (then invalid ballots).
    lists: Vec<&'a str>,
    entry: u64,
    signer: &'a str,
    checkpoint_size: u64,
    checkpoint_root: String,
    rules: String,
    seats: Option<u32>,
    /// The seat rules the definition names for the contest (none if it names none).
    definition_rules: Option<&'a str>,
    definition_seats: Option<u32>,
    /// Whether `rules` and `seats` are the definition's: only then does the audit speak of
    /// the contest's seats.
    audits_contest_seats: bool,
    /// The results of the whole published log against the audited ones.
    current: CurrentDoc<'a>,
    /// The entry of the contest's next audit's start, if one superseded this one.
    superseded_by: Option<u64>,
    method: &'static str,
    risk_limit: String,
    rounds_planned: u32,
    rounds_possible: u32,
    stations: usize,
    quarantined: usize,
    ballots: u64,
    first_round_draws: u64,
    seed: Option<SeedDoc<'a>>,
    /// `awaiting-seed`, `counting`, `escalate` (after a verdict), `risk-limit-met`,
    /// `full-hand-count`.
    status: &'static str,
    risk: String,
    assertions: Vec<AssertionDoc<'a>>,
    samples: Vec<SampleDoc<'a>>,
    verdicts: Vec<VerdictDoc<'a>>,
}

#[derive(Serialize)]
struct CurrentDoc<'a> {
    /// Entries of the log the results are replayed from (the published checkpoint).
    log_size: u64,
    /// Whether no station's counted results changed after the audited checkpoint.
    covers_current_results: bool,
    /// How many stations' counted results changed after it (amendments, decisions,
    /// revocations, new stations).
    changed_stations: usize,
    /// Their ids, in station order.
    changed: Vec<&'a str>,
    /// Whether the seats the audit's rules give on the results now are the audited seats.
    seats_as_audited: bool,
}

#[derive(Serialize)]
struct Entry<T> {
    entry: u64,
    value: T,
}

#[derive(Serialize)]
struct SeedDoc<'a> {
    entry: u64,
    value: &'a str,
    signer: &'a str,
}

#[derive(Serialize)]
struct AssertionDoc<'a> {
    assertion: String,
    /// The parts of `assertion`: `kind` (`seat`, `above_threshold`, `below_threshold`) and
    /// its lists, district or scope, seat numbers or share.
    #[serde(flatten)]
    what: &'a AssertionKind,
    margin: String,
    diluted_margin: String,
    risk: String,
}

#[derive(Serialize)]
struct SampleDoc<'a> {
    round: u32,
    entry: u64,
    signer: &'a str,
    draws: [u64; 2],
    stations: Vec<StationDoc<'a>>,
}

#[derive(Serialize)]
struct StationDoc<'a> {
    id: &'a str,
    district: &'a str,
    /// Every draw number up to the last logged sample that picked the station, ascending:
    /// its multiplicity in the risk is their number.
    draws: Vec<u64>,
    /// Reported votes per list of the contest in ballot order, then invalid ballots.
    reported: Vec<u64>,
    /// The hand count, same order, once logged.
    counted: Option<Vec<u64>>,
    count_entry: Option<u64>,
    count_signer: Option<&'a str>,
}

#[derive(Serialize)]
struct VerdictDoc<'a> {
    round: u32,
    entry: u64,
    signer: &'a str,
    draws: u64,
    risk: String,
    verdict: &'static str,
}

/// The file's bytes (pretty JSON ending in a newline), for a log whose entries replay to
/// `now` (the published checkpoint's results).
///
/// # Errors
/// Only if JSON serialisation fails (it does not for these types).
pub fn render(e: &Election, trail: &Trail, now: &Replay) -> Result<Vec<u8>, serde_json::Error> {
    let doc = Doc {
        format: FORMAT,
        audits: trail
            .audits
            .iter()
            .map(|a| audit_doc(e, a, now, trail.superseded_by(a)))
            .collect(),
        refused: trail
            .refused
            .iter()
            .map(|(entry, why)| Entry {
                entry: *entry,
                value: why.as_str(),
            })
            .collect(),
    };
    let mut out = serde_json::to_vec_pretty(&doc)?;
    out.push(b'\n');
    Ok(out)
}

fn audit_doc<'a>(
    e: &'a Election,
    a: &'a ContestAudit,
    now: &Replay,
    superseded_by: Option<u64>,
) -> AuditDoc<'a> {
    let (size, root, rules, seats, risk_limit, rounds) = match &a.start {
        AuditStep::Start {
            size,
            root,
            rules,
            seats,
            risk_limit,
            rounds,
            ..
        } => (
            *size,
            hex(root),
            rules.clone(),
            *seats,
            *risk_limit,
            *rounds,
        ),
        _ => (0, String::new(), String::new(), None, 0, 0),
    };
    let ev = a.evaluate();
    let input = &a.reported.input;
    let contest = &e.contests[a.contest.0 as usize];
    let status = match (a.finished(), a.verdicts.last(), &a.seed) {
        (Some(Decision::RiskLimitMet), ..) => "risk-limit-met",
        (Some(_), ..) => "full-hand-count",
        (None, _, None) => "awaiting-seed",
        (None, Some(v), _) if v.index > a.samples.last().map_or(0, |s| s.index) => "escalate",
        (None, ..) => "counting",
    };
    let reported_row = |b: usize| -> Vec<u64> {
        let batch = &input.batches[b];
        // Back from the audit's classes to the contest's lists: a list of kind `other` gets
        // the pooled `other` class only when it is the contest's one such list.
        let others = a.reported.list_class.iter().filter(|c| c.is_none()).count();
        let mut row: Vec<u64> = a
            .reported
            .list_class
            .iter()
            .map(|c| match c {
                Some(k) => batch.votes[*k],
                None if others == 1 => batch.other,
                None => 0,
            })
            .collect();
        row.push(input.classes(batch).last().copied().unwrap_or(0));
        row
    };
    // Draw numbers per station, up to the last logged sample's last draw.
    let mut picked: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    if let (Some((seed, _)), Some(last)) = (&a.seed, a.samples.last()) {
        for d in a.audit.draws(seed, last.draws.1) {
            picked.entry(d.batch).or_default().push(d.number);
        }
    }
    let coverage = a.coverage(e, now);
    let current = CurrentDoc {
        log_size: now.applied(),
        covers_current_results: coverage.covers(),
        changed_stations: coverage.changed.len(),
        changed: coverage
            .changed
            .iter()
            .map(|s| e.stations[s.0 as usize].id.as_str())
            .collect(),
        seats_as_audited: coverage.seats_as_audited,
    };
    AuditDoc {
        contest: &contest.id,
        lists: contest
            .lists
            .iter()
            .map(|&l| e.lists[l].id.as_str())
            .collect(),
        entry: a.start_index,
        signer: &a.start_signer,
        checkpoint_size: size,
        checkpoint_root: root,
        rules,
        seats,
        definition_rules: contest.seats.as_ref().map(|c| c.rules.as_str()),
        definition_seats: contest.seats.as_ref().and_then(|c| c.house),
        audits_contest_seats: a.audits_contest_seats(e),
        current,
        superseded_by,
        method: urna_model::audit::METHOD,
        risk_limit: format_limit(risk_limit),
        rounds_planned: rounds,
        rounds_possible: a.rounds_possible(),
        stations: input.batches.len(),
        quarantined: a.reported.quarantined,
        ballots: input.batches.iter().map(|b| b.ballots).sum(),
        first_round_draws: a.audit.first_round_draws(),
        seed: a.seed.as_ref().map(|(s, i)| SeedDoc {
            entry: *i,
            value: s.as_str(),
            signer: &a.seed_signer,
        }),
        status,
        risk: format_risk(risk_micros(match ev.report.verdict {
            Verdict::FullHandCount { .. } if ev.report.draws == 0 => 1.0,
            _ => ev.report.risk,
        })),
        assertions: a
            .outcome
            .assertions
            .iter()
            .zip(&ev.assertion_risks)
            .map(|(x, &r)| AssertionDoc {
                assertion: x.describe(),
                what: &x.kind,
                margin: x.margin.to_string(),
                diluted_margin: format!("{:.6}", x.diluted_margin),
                risk: format_risk(risk_micros(r)),
            })
            .collect(),
        samples: a
            .samples
            .iter()
            .map(|s| SampleDoc {
                round: s.round,
                entry: s.index,
                signer: &s.signer,
                draws: [s.draws.0, s.draws.1],
                stations: s
                    .batches
                    .iter()
                    .map(|&b| StationDoc {
                        id: &input.batches[b].id,
                        district: input.districts[input.batches[b].district].id.0.as_str(),
                        draws: picked.get(&b).cloned().unwrap_or_default(),
                        reported: reported_row(b),
                        counted: a.counts.get(&b).map(|c| c.hand.clone()),
                        count_entry: a.counts.get(&b).map(|c| c.index),
                        count_signer: a.counts.get(&b).map(|c| c.signer.as_str()),
                    })
                    .collect(),
            })
            .collect(),
        verdicts: a
            .verdicts
            .iter()
            .filter_map(|v| match &v.step {
                AuditStep::Verdict {
                    round,
                    draws,
                    risk,
                    decision,
                    ..
                } => Some(VerdictDoc {
                    round: *round,
                    entry: v.index,
                    signer: &v.signer,
                    draws: *draws,
                    risk: format_risk(*risk),
                    verdict: decision.as_str(),
                }),
                _ => None,
            })
            .collect(),
    }
}
