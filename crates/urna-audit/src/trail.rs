//! The audit as the log records it: a sequence of `urna/audit/v1` notes per contest
//! (`urna_model::audit`), each admitted only if it follows from the ones before it and from
//! the audited results. The same code runs at intake (the commission's store refuses a note
//! that does not follow) and in every verifier (`urna verify` replays the notes of the log).
//!
//! The rules, per contest:
//! - **start**: its `checkpoint:` names the first `size` entries of the log, all before the
//!   start note, and their Merkle root; the results replayed from them are the audited
//!   outcome. A contest's next audit is admitted only when some station's counted results at
//!   its checkpoint differ from those the previous audit audited ([`Reported::changed`]):
//!   the previous audit then no longer covers the results, and the steps that follow belong
//!   to the new one. The same results are never audited twice (no second seed to pick
//!   from). The rule set must be a built-in one; the number and digest of the assertions
//!   ([`assertions_digest`]) must be what the rule set gives on those results; risk limit
//!   and rounds must be usable.
//! - **seed**: one, after the start and before any sample.
//! - **sample**: round `k` comes after the seed (`k = 1`) or after round `k − 1`'s verdict
//!   `escalate`; its draws and stations must be exactly what the consistent sampler gives from
//!   the seed ([`ContestAudit::sample_step`]); a round that would need as many draws as there
//!   are stations is not run (the verdict is then a full hand count).
//! - **count**: of a station some logged sample drew, once.
//! - **verdict**: for the last sampled round (or round 0 before any sample, when no sample
//!   can confirm the outcome); every station that round drew must have its count, and the
//!   draws, risk, risk per assertion and decision must be what the counts give
//!   ([`ContestAudit::verdict_step`]). After `risk-limit-met` or `full-hand-count` the audit
//!   is over and takes no more notes.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};
use urna_model::audit::{AuditNote, AuditStep, Decision, Micros, risk_micros};
use urna_model::definition::{ContestIdx, Election, StationIdx};
use urna_model::protocol::hex;
use urna_tally::public::Replay;
use urna_tally::seats::RuleSet;

use crate::batch::kaplan_markov;
use crate::reported::Reported;
use crate::{AuditError, BatchAudit, Outcome, Verdict, assertions};

/// What the trail needs of the log: roots and replayed results of its prefixes.
pub trait LogView {
    /// The Merkle root of the log's first `size` entries; `None` if it holds fewer.
    fn root(&self, size: u64) -> Option<[u8; 32]>;
    /// The results replayed from the log's first `size` entries.
    ///
    /// # Errors
    /// Why they cannot be replayed, as text.
    fn replay(&self, size: u64) -> Result<Replay, String>;
}

/// Why an audit note does not follow: the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {rule}")]
pub struct TrailError {
    /// The body's field.
    pub field: &'static str,
    /// The rule it breaks, with the expected value where there is one.
    pub rule: String,
}

fn refuse(field: &'static str, rule: impl Into<String>) -> TrailError {
    TrailError {
        field,
        rule: rule.into(),
    }
}

/// A logged sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleRecord {
    /// Log index of the note.
    pub index: u64,
    /// Round.
    pub round: u32,
    /// First and last draw.
    pub draws: (u64, u64),
    /// Batches (stations) the round added, in draw order.
    pub batches: Vec<usize>,
    /// Name of the authority key that signed the note.
    pub signer: String,
}

/// A logged hand count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountRecord {
    /// Log index of the note.
    pub index: u64,
    /// Per list of the contest in ballot order, then invalid.
    pub hand: Vec<u64>,
    /// Name of the authority key that signed the note.
    pub signer: String,
}

/// A logged verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictRecord {
    /// Log index of the note.
    pub index: u64,
    /// The step as logged.
    pub step: AuditStep,
    /// Name of the authority key that signed the note.
    pub signer: String,
}

/// One contest's audit, as far as the log has it.
#[derive(Debug, Clone)]
pub struct ContestAudit {
    /// The contest.
    pub contest: ContestIdx,
    /// Log index of the start note.
    pub start_index: u64,
    /// The start step as logged.
    pub start: AuditStep,
    /// Name of the authority key that signed the start note.
    pub start_signer: String,
    /// The audited results.
    pub reported: Reported,
    /// The assertions.
    pub outcome: Outcome,
    /// Error bounds and rounds.
    pub audit: BatchAudit,
    /// The seed and the index of its note.
    pub seed: Option<(String, u64)>,
    /// Name of the authority key that signed the seed note.
    pub seed_signer: String,
    /// Samples, by round.
    pub samples: Vec<SampleRecord>,
    /// Hand counts, by batch.
    pub counts: BTreeMap<usize, CountRecord>,
    /// Verdicts, by round.
    pub verdicts: Vec<VerdictRecord>,
}

/// Whether an audit still covers the results as they are now ([`ContestAudit::coverage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// Stations whose counted results changed after the audited checkpoint (amendments,
    /// decisions, revocations, new stations), in station order.
    pub changed: Vec<StationIdx>,
    /// Whether the seats the audit's rules give on the results now are the audited seats.
    pub seats_as_audited: bool,
}

impl Coverage {
    /// Whether the audit covers the results now: no counted result changed after its
    /// checkpoint.
    pub fn covers(&self) -> bool {
        self.changed.is_empty()
    }
}

/// Every audit in a log, in the order of their start notes.
#[derive(Debug, Clone, Default)]
pub struct Trail {
    /// The audits.
    pub audits: Vec<ContestAudit>,
    /// Audit entries of the log that do not follow (only a log that bypassed intake holds
    /// any): index and why, in log order. They are left out of the audit.
    pub refused: Vec<(u64, String)>,
}

/// SHA-256 over the assertions, one line each: `describe()`, a space, the margin, a newline.
/// A start note commits to it, so a verifier sees the same assertions were audited.
pub fn assertions_digest(outcome: &Outcome) -> [u8; 32] {
    let mut h = Sha256::new();
    for a in &outcome.assertions {
        h.update(format!("{} {}\n", a.describe(), a.margin).as_bytes());
    }
    h.finalize().into()
}

/// The parameters of an audit to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Entries of the log audited.
    pub size: u64,
    /// Built-in rule set.
    pub rules: String,
    /// Seats, for a rule set that names no districts.
    pub seats: Option<u32>,
    /// Risk limit, millionths.
    pub risk_limit: Micros,
    /// Rounds before a full hand count.
    pub rounds: u32,
}

/// What an audit's counts give so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The report of the batch audit.
    pub report: crate::RiskReport,
    /// Risk per assertion after the draws evaluated (1 for an assertion with no margin).
    pub assertion_risks: Vec<f64>,
}

impl ContestAudit {
    /// Sets up an audit from a plan: the results at `plan.size`, the assertions, the bounds.
    /// Returns it with the start step a note must carry.
    ///
    /// # Errors
    /// [`TrailError`] naming the start note's field.
    pub fn plan(
        e: &Election,
        contest: ContestIdx,
        plan: &Plan,
        log: &dyn LogView,
    ) -> Result<Self, TrailError> {
        if plan.risk_limit == 0 || plan.risk_limit > urna_model::audit::MAX_RISK_LIMIT {
            return Err(refuse("risk-limit", urna_model::audit::RISK_LIMIT_RULE));
        }
        if plan.size == 0 {
            return Err(refuse(
                "checkpoint",
                "the audited log holds at least the genesis",
            ));
        }
        let root = log.root(plan.size).ok_or_else(|| {
            refuse(
                "checkpoint",
                format!(
                    "the log does not hold {} entries before this note",
                    plan.size
                ),
            )
        })?;
        let rules =
            RuleSet::builtin(&plan.rules).map_err(|err| refuse("rules", err.to_string()))?;
        let replay = log.replay(plan.size).map_err(|err| {
            refuse(
                "checkpoint",
                format!("the results cannot be replayed: {err}"),
            )
        })?;
        let reported = Reported::new(e, contest, rules, plan.seats, &replay).map_err(|err| {
            let field = match &err {
                AuditError::Input { field, .. } if field == "seats" => "seats",
                _ => "rules",
            };
            refuse(field, err.to_string())
        })?;
        let outcome = assertions::assertions(&reported.rules, &reported.input)
            .map_err(|err| refuse("rules", err.to_string()))?;
        let audit = BatchAudit::new(
            &outcome,
            &reported.input,
            f64::from(plan.risk_limit) / 1e6,
            plan.rounds,
        )
        .map_err(|err| refuse("risk-limit", err.to_string()))?;
        let start = AuditStep::Start {
            size: plan.size,
            root,
            rules: plan.rules.clone(),
            seats: plan.seats,
            risk_limit: plan.risk_limit,
            rounds: plan.rounds,
            assertions: u32::try_from(outcome.assertions.len()).unwrap_or(u32::MAX),
            digest: assertions_digest(&outcome),
        };
        Ok(Self {
            contest,
            start_index: 0,
            start,
            start_signer: String::new(),
            reported,
            outcome,
            audit,
            seed: None,
            seed_signer: String::new(),
            samples: Vec::new(),
            counts: BTreeMap::new(),
            verdicts: Vec::new(),
        })
    }

    /// Whether the audit still covers the results replayed in `now` (the same log, later):
    /// which stations' counted results changed after the audited checkpoint, and whether the
    /// seats its rules give now are the audited ones. A verdict speaks only of the audited
    /// results; once any changed, it does not confirm the results as they are.
    pub fn coverage(&self, e: &Election, now: &Replay) -> Coverage {
        let seats = match &self.start {
            AuditStep::Start { seats, .. } => *seats,
            _ => None,
        };
        match Reported::new(e, self.contest, self.reported.rules.clone(), seats, now) {
            Ok(current) => Coverage {
                changed: self.reported.changed(&current),
                seats_as_audited: assertions::assertions(&current.rules, &current.input)
                    .is_ok_and(|o| o.seats == self.outcome.seats),
            },
            Err(_) => Coverage {
                changed: self.reported.stations.clone(),
                seats_as_audited: false,
            },
        }
    }

    /// Whether the audit's rule set and seats are the ones the definition names for the
    /// contest (`seats = { rules = …, house = … }`): only then does a verdict speak of the
    /// contest's seats. An audit under other rules (say `generic` with one seat, "which list
    /// came first", where the contest's seats cannot be audited short of a full hand count)
    /// confirms that outcome only.
    pub fn audits_contest_seats(&self, e: &Election) -> bool {
        let Some(cfg) = &e.contests[self.contest.0 as usize].seats else {
            return false;
        };
        let AuditStep::Start { rules, seats, .. } = &self.start else {
            return false;
        };
        *rules == cfg.rules
            && (!self.reported.rules.districts.is_empty() || seats.or(cfg.house) == cfg.house)
    }

    /// The decision that ended the audit, if it ended.
    pub fn finished(&self) -> Option<Decision> {
        match self.verdicts.last().map(|v| &v.step) {
            Some(AuditStep::Verdict { decision, .. }) if *decision != Decision::Escalate => {
                Some(*decision)
            }
            _ => None,
        }
    }

    /// Rounds that can run before counting everything is as cheap.
    pub fn rounds_possible(&self) -> u32 {
        if self.audit.unconfirmable.is_empty() {
            self.audit.rounds_within(self.reported.input.batches.len())
        } else {
            0
        }
    }

    /// The sample step of round `round`, from the logged seed.
    ///
    /// # Errors
    /// [`TrailError`] if no seed is logged or the round cannot run.
    pub fn sample_step(&self, round: u32) -> Result<AuditStep, TrailError> {
        let (seed, _) = self.seed.as_ref().ok_or_else(|| {
            refuse(
                "kind",
                "no seed is logged yet: the seed comes before any sample",
            )
        })?;
        let possible = self.rounds_possible();
        if round == 0 || round > possible {
            return Err(refuse(
                "round",
                if possible == 0 {
                    "no sample can confirm this outcome (no margin, or the first round needs as many draws as there are stations): the verdict is a full hand count (round 0)".to_owned()
                } else {
                    format!("rounds run from 1 to {possible} for this audit")
                },
            ));
        }
        let before = if round == 1 {
            0
        } else {
            self.audit.draws_by_round(round - 1)
        };
        let upto = self.audit.draws_by_round(round);
        let draws = self.audit.draws(seed, upto);
        let earlier: BTreeSet<usize> = draws
            .iter()
            .filter(|d| d.number <= before)
            .map(|d| d.batch)
            .collect();
        let mut stations = Vec::new();
        let mut seen = BTreeSet::new();
        for d in draws.iter().filter(|d| d.number > before) {
            if !earlier.contains(&d.batch) && seen.insert(d.batch) {
                stations.push(self.reported.input.batches[d.batch].id.clone());
            }
        }
        Ok(AuditStep::Sample {
            round,
            first: before + 1,
            last: upto,
            stations,
        })
    }

    /// What the logged counts give: the batch audit's report and the risk per assertion.
    pub fn evaluate(&self) -> Evaluation {
        let seed = self.seed.as_ref().map_or("", |(s, _)| s.as_str());
        let input = &self.reported.input;
        let counted = |b: usize| self.counts.get(&b).map(|c| self.reported.classes(&c.hand));
        let report = self.audit.evaluate(&self.outcome, input, seed, &counted);
        let draws = self.audit.draws(seed, report.draws);
        let assertion_risks = self
            .outcome
            .assertions
            .iter()
            .map(|a| {
                if a.margin <= 0 {
                    return 1.0;
                }
                let taints: Vec<f64> = draws
                    .iter()
                    .map(|d| {
                        let b = &input.batches[d.batch];
                        let u = self.audit.bounds[d.batch];
                        if u <= 0.0 || a.scope.is_some_and(|s| s != b.district) {
                            return 0.0;
                        }
                        let hand = counted(d.batch).unwrap_or_default();
                        let e = a.total(b.district, &input.classes(b)) - a.total(b.district, &hand);
                        #[allow(clippy::cast_precision_loss)]
                        let e = e as f64 / a.margin as f64;
                        e / u
                    })
                    .collect();
                kaplan_markov(self.audit.total_bound, &taints)
            })
            .collect();
        Evaluation {
            report,
            assertion_risks,
        }
    }

    /// The verdict step for round `round` that the logged counts give.
    ///
    /// # Errors
    /// [`TrailError`] if that round's stations are not all counted, or the round is not the
    /// one a verdict is due for.
    pub fn verdict_step(&self, round: u32) -> Result<AuditStep, TrailError> {
        let due = u32::try_from(self.samples.len()).unwrap_or(u32::MAX);
        if round != due {
            return Err(refuse(
                "round",
                format!("a verdict is due for round {due} (the last sampled round), not {round}"),
            ));
        }
        if self.verdicts.len() > self.samples.len()
            || (round > 0 && self.verdicts.len() == self.samples.len())
        {
            return Err(refuse(
                "round",
                format!("round {round} already has its verdict"),
            ));
        }
        if round == 0 && self.rounds_possible() > 0 {
            return Err(refuse(
                "round",
                "a sample can confirm this outcome: log the seed and round 1's sample first",
            ));
        }
        let ev = self.evaluate();
        let r = &ev.report;
        let decision = match &r.verdict {
            Verdict::RiskLimitMet => Decision::RiskLimitMet,
            Verdict::FullHandCount { .. } => Decision::FullHandCount,
            Verdict::CountMore {
                round: next,
                batches,
            } => {
                if r.round < round {
                    let names: Vec<&str> = batches
                        .iter()
                        .map(|&b| self.reported.input.batches[b].id.as_str())
                        .collect();
                    return Err(refuse(
                        "round",
                        format!(
                            "round {next}'s sample is not fully counted: no count for {}",
                            names.join(", ")
                        ),
                    ));
                }
                Decision::Escalate
            }
        };
        Ok(AuditStep::Verdict {
            round,
            draws: r.draws,
            risk: risk_micros(r.risk),
            assertion_risks: ev.assertion_risks.iter().map(|&p| risk_micros(p)).collect(),
            decision,
        })
    }
}

impl Trail {
    /// Replays an audit entry of a log: its signer checked (`urna_model::audit::check`), then
    /// [`Trail::admit`]. An entry that is refused is recorded in [`Trail::refused`] and left
    /// out, and the refusal returned, so that publishing and verifying a log give the same
    /// trail whatever it holds.
    ///
    /// # Errors
    /// The refusal, as text naming the kind, the field and the rule.
    pub fn replay(
        &mut self,
        e: &Election,
        index: u64,
        bytes: &[u8],
        log: &dyn LogView,
    ) -> Result<(), String> {
        let outcome = match urna_model::audit::check(e, bytes) {
            Err(err) => Err(format!("audit note: {err}")),
            Ok(note) => self
                .admit(e, index, &note, log)
                .map_err(|err| format!("audit {} note: {err}", note.body.step.kind())),
        };
        if let Err(problem) = &outcome {
            self.refused.push((index, problem.clone()));
        }
        outcome
    }

    /// The audit of a contest, if one was started: the last one started.
    pub fn audit(&self, contest: ContestIdx) -> Option<&ContestAudit> {
        self.audits.iter().rev().find(|a| a.contest == contest)
    }

    /// The log index of the start of the audit that superseded `audit` (the contest's next
    /// one), if any.
    pub fn superseded_by(&self, audit: &ContestAudit) -> Option<u64> {
        self.audits
            .iter()
            .find(|a| a.contest == audit.contest && a.start_index > audit.start_index)
            .map(|a| a.start_index)
    }

    /// Admits the audit note at log index `index` (its signer already checked by
    /// `urna_model::audit::check`), or says which field does not follow and why.
    ///
    /// # Errors
    /// [`TrailError`].
    pub fn admit(
        &mut self,
        e: &Election,
        index: u64,
        note: &AuditNote,
        log: &dyn LogView,
    ) -> Result<(), TrailError> {
        let contest_id = &e.contests[note.contest.0 as usize].id;
        let pos = self.audits.iter().rposition(|a| a.contest == note.contest);
        if let AuditStep::Start {
            size,
            root,
            rules,
            seats,
            risk_limit,
            rounds,
            ..
        } = &note.body.step
        {
            if *size > index {
                return Err(refuse(
                    "checkpoint",
                    format!(
                        "the audited entries must precede this note (entry {index}), not {size}"
                    ),
                ));
            }
            let plan = Plan {
                size: *size,
                rules: rules.clone(),
                seats: *seats,
                risk_limit: *risk_limit,
                rounds: *rounds,
            };
            let mut audit = ContestAudit::plan(e, note.contest, &plan, log)?;
            if let Some(a) = pos.map(|p| &self.audits[p])
                && a.reported.changed(&audit.reported).is_empty()
            {
                return Err(refuse(
                    "kind",
                    format!(
                        "contest {contest_id} already has an audit of these results, started at entry {}: a new audit is admitted only when counted results changed after its checkpoint ({} entries)",
                        a.start_index,
                        match &a.start {
                            AuditStep::Start { size, .. } => *size,
                            _ => 0,
                        }
                    ),
                ));
            }
            if let (
                AuditStep::Start {
                    root: want_root,
                    assertions: want_n,
                    digest: want_digest,
                    ..
                },
                AuditStep::Start {
                    assertions: n,
                    digest,
                    ..
                },
            ) = (&audit.start, &note.body.step)
            {
                if want_root != root {
                    return Err(refuse(
                        "checkpoint",
                        format!(
                            "root {} is not the log's root at {size} entries ({})",
                            hex(root),
                            hex(want_root)
                        ),
                    ));
                }
                if (want_n, want_digest) != (n, digest) {
                    return Err(refuse(
                        "assertions",
                        format!(
                            "the rule set gives {want_n} assertions with digest sha256:{} on the audited results; the note says {n}, sha256:{}",
                            hex(want_digest),
                            hex(digest)
                        ),
                    ));
                }
            }
            audit.start = note.body.step.clone();
            audit.start_index = index;
            audit.start_signer.clone_from(&note.signer);
            self.audits.push(audit);
            return Ok(());
        }
        let Some(p) = pos else {
            return Err(refuse(
                "kind",
                format!("contest {contest_id} has no audit: a start note comes first"),
            ));
        };
        let a = &mut self.audits[p];
        if let Some(d) = a.finished() {
            return Err(refuse(
                "kind",
                format!(
                    "the audit of contest {contest_id} ended with {} at entry {}",
                    d.as_str(),
                    a.verdicts.last().map_or(0, |v| v.index)
                ),
            ));
        }
        match &note.body.step {
            AuditStep::Start { .. } => Ok(()),
            AuditStep::Seed { seed } => {
                if let Some((_, at)) = &a.seed {
                    return Err(refuse(
                        "kind",
                        format!("the seed is already logged at entry {at}; an audit has one seed"),
                    ));
                }
                crate::sampler::check_seed(seed).map_err(|err| refuse("seed", err.to_string()))?;
                a.seed = Some((seed.clone(), index));
                a.seed_signer.clone_from(&note.signer);
                Ok(())
            }
            AuditStep::Sample {
                round,
                first,
                last,
                stations,
            } => {
                let next = u32::try_from(a.samples.len()).unwrap_or(u32::MAX) + 1;
                if *round != next {
                    return Err(refuse("round", format!("the next sample is round {next}")));
                }
                if next > 1 {
                    let escalated = matches!(
                        a.verdicts.get(a.samples.len() - 1).map(|v| &v.step),
                        Some(AuditStep::Verdict {
                            decision: Decision::Escalate,
                            ..
                        })
                    );
                    if !escalated {
                        return Err(refuse(
                            "round",
                            format!(
                                "round {next} follows round {}'s verdict `escalate`, which is not logged",
                                next - 1
                            ),
                        ));
                    }
                }
                let AuditStep::Sample {
                    first: f,
                    last: l,
                    stations: s,
                    ..
                } = a.sample_step(*round)?
                else {
                    return Err(refuse("kind", "internal: a sample step"));
                };
                if (*first, *last) != (f, l) {
                    return Err(refuse(
                        "draws",
                        format!("round {round} is draws {f}-{l}, not {first}-{last}"),
                    ));
                }
                if *stations != s {
                    let at = stations.iter().zip(&s).position(|(x, y)| x != y);
                    let what = match at {
                        Some(i) => format!(
                            "station {} of the round is {}, not {}",
                            i + 1,
                            s[i],
                            stations[i]
                        ),
                        None => format!("{} stations, not {}", s.len(), stations.len()),
                    };
                    return Err(refuse(
                        "stations",
                        format!("this is not the sample the seed gives: {what}"),
                    ));
                }
                let batches = s
                    .iter()
                    .filter_map(|id| a.reported.input.batches.iter().position(|b| &b.id == id))
                    .collect();
                a.samples.push(SampleRecord {
                    index,
                    round: *round,
                    draws: (f, l),
                    batches,
                    signer: note.signer.clone(),
                });
                Ok(())
            }
            AuditStep::Count { station, .. } => {
                let (s, hand) = note
                    .count
                    .as_ref()
                    .ok_or_else(|| refuse("station", "a count names a station"))?;
                let batch = a
                    .reported
                    .batch_of(*s)
                    .filter(|b| a.samples.iter().any(|r| r.batches.contains(b)))
                    .ok_or_else(|| {
                        refuse(
                            "station",
                            format!("{station} is not in any logged sample of this audit"),
                        )
                    })?;
                if let Some(c) = a.counts.get(&batch) {
                    return Err(refuse(
                        "station",
                        format!("{station} is already counted at entry {}", c.index),
                    ));
                }
                a.counts.insert(
                    batch,
                    CountRecord {
                        index,
                        hand: hand.clone(),
                        signer: note.signer.clone(),
                    },
                );
                Ok(())
            }
            AuditStep::Verdict {
                round,
                draws,
                risk,
                assertion_risks,
                decision,
            } => {
                let AuditStep::Verdict {
                    draws: want_draws,
                    risk: want_risk,
                    assertion_risks: want_risks,
                    decision: want_decision,
                    ..
                } = a.verdict_step(*round)?
                else {
                    return Err(refuse("kind", "internal: a verdict step"));
                };
                let fmt = urna_model::audit::format_risk;
                if *decision != want_decision {
                    return Err(refuse(
                        "verdict",
                        format!(
                            "the counts give {}, not {}",
                            want_decision.as_str(),
                            decision.as_str()
                        ),
                    ));
                }
                if *draws != want_draws {
                    return Err(refuse(
                        "draws",
                        format!("the counts evaluate {want_draws} draws, not {draws}"),
                    ));
                }
                if *risk != want_risk {
                    return Err(refuse(
                        "risk",
                        format!("the counts give {}, not {}", fmt(want_risk), fmt(*risk)),
                    ));
                }
                if *assertion_risks != want_risks {
                    let i = assertion_risks
                        .iter()
                        .zip(&want_risks)
                        .position(|(x, y)| x != y)
                        .unwrap_or(assertion_risks.len().min(want_risks.len()));
                    return Err(refuse(
                        "assertion-risk",
                        format!(
                            "{} risks expected; assertion {} ({}) has risk {}, not {}",
                            want_risks.len(),
                            i + 1,
                            a.outcome
                                .assertions
                                .get(i)
                                .map_or(String::new(), crate::Assertion::describe),
                            want_risks.get(i).map_or("none".into(), |&r| fmt(r)),
                            assertion_risks.get(i).map_or("none".into(), |&r| fmt(r))
                        ),
                    ));
                }
                a.verdicts.push(VerdictRecord {
                    index,
                    step: note.body.step.clone(),
                    signer: note.signer.clone(),
                });
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests;
