//! `urna audit`: risk-limiting audit of the seat outcome from a data directory's current
//! protocols (assertions, the sample to hand count, the measured risk). The mathematics lives in
//! `urna-audit`; this file reads the store and the hand-count file.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{ArgGroup, Subcommand};
use urna_audit::polling::{self, Bravo};
use urna_audit::reported::Reported;
use urna_audit::{AuditInput, BatchAudit, Outcome, Verdict, assertions, sampler};
use urna_model::definition::ContestIdx;
use urna_model::definition::Election;
use urna_model::protocol::hex;
use urna_store::DEFINITION_FILE;
use urna_store::reader::EntryReader;
use urna_tally::public::Replay;
use urna_tally::seats::{self, RuleSet};

/// The `urna audit` subcommands.
#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// The assertions whose truth implies the reported seats, with their margins.
    #[command(group(ArgGroup::new("source").required(true).args(["data"])))]
    Assertions {
        #[command(flatten)]
        common: Common,
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
        /// Add sample sizes in ballots, for where a ballot manifest exists: ballot polling
        /// (BRAVO, Wald's average) and ballot-level comparison with no discrepancy, per
        /// assertion over its scope.
        #[arg(long)]
        estimates: bool,
    },
    /// The stations to hand count in a round, drawn from the public seed. With `--key`, the
    /// next round of the audit in the log, drawn from the logged seed, signed and logged.
    #[command(group(ArgGroup::new("source").required(true).args(["data", "store"])))]
    Sample {
        #[command(flatten)]
        common: Common,
        /// The seed from the public dice roll: at least 20 decimal digits (not with --key).
        #[arg(long, required_unless_present = "key", conflicts_with = "key")]
        seed: Option<String>,
        /// The round (1 for the first sample; later rounds add stations).
        #[arg(long, default_value_t = 1)]
        round: u32,
        /// Log the next round's sample of the audit in the log, signed with this authority key.
        #[arg(long)]
        key: Option<PathBuf>,
        /// With --key: the audited contest (default: the first).
        #[arg(long, requires = "key")]
        contest: Option<String>,
        /// With --key: a PostgreSQL store (`postgres://…`) instead of --data, read only: the
        /// sample is drawn from the entries its signed checkpoint covers and goes to one of its
        /// nodes (--to).
        #[arg(long, value_name = "URL", requires_all = ["key", "definition", "to"])]
        store: Option<String>,
        /// With --store: the election definition the store was initialised with.
        #[arg(long, value_name = "FILE", requires = "store")]
        definition: Option<PathBuf>,
        /// With --key: send the step to a running server (see `urna audit start --help`).
        #[command(flatten)]
        server: crate::audit_log_cmd::ServerArgs,
    },
    /// Start an audit in the log: the results audited (every entry so far), the rule set, the
    /// risk limit and rounds, and the assertions' digest, as a signed `urna/audit/v1` note.
    Start {
        #[command(flatten)]
        log: crate::audit_log_cmd::LogArgs,
        /// A built-in rule set (default: the one the definition names).
        #[arg(long)]
        rules: Option<String>,
        /// Seats to fill, for rule sets that name no districts.
        #[arg(long)]
        seats: Option<u32>,
        /// The risk limit α, at most 0.1 (10 %): a larger one is refused in the log.
        #[arg(long, default_value_t = 0.05)]
        risk_limit: f64,
        /// Rounds before a full hand count.
        #[arg(long, default_value_t = 4)]
        rounds: u32,
    },
    /// Log the seed rolled in public (at least 20 decimal digits), before any sample.
    Seed {
        #[command(flatten)]
        log: crate::audit_log_cmd::LogArgs,
        /// The digits, as read aloud at the ceremony.
        #[arg(long)]
        seed: String,
    },
    /// Log the hand counts of sampled stations: a CSV with `station`, every list id and
    /// `invalid`; one signed note per station not yet counted. Or the counts a counting
    /// centre's desk keyed twice and signed (`--from-desk`).
    #[command(group(clap::ArgGroup::new("source").required(true).args(["counts", "from_desk"])))]
    Count {
        #[command(flatten)]
        log: crate::audit_log_cmd::LogArgs,
        /// The hand-count file.
        #[arg(
            long,
            required_unless_present = "from_desk",
            conflicts_with = "from_desk"
        )]
        counts: Option<PathBuf>,
        /// Instead of a file: the counts keyed twice and signed at a counting centre's desk
        /// (`urna desk --audit-key`), read from its database (`DATA/desk.sqlite`, or a copy).
        /// Each note keeps the desk's audit-key signature; --key signs nothing here.
        #[arg(long, value_name = "DESK_SQLITE")]
        from_desk: Option<PathBuf>,
    },
    /// Log the verdict the logged counts give for the last sampled round.
    ///
    /// Exit codes: 0 risk limit met or escalate; 1 full hand count; 2 bad usage or input.
    Verdict {
        #[command(flatten)]
        log: crate::audit_log_cmd::LogArgs,
    },
    /// The contest's audit as the log has it (the last one started), and whether it still
    /// covers the results: which stations' counted results changed after its checkpoint
    /// (amendments, decisions, revocations, new stations) and whether the seats are still the
    /// audited ones. Reads the data directory read-only (works while `urna serve` runs).
    /// Exit codes: 0 the audit covers the current results; 1 it does not (start a new audit).
    Status {
        /// Data directory.
        #[arg(long)]
        data: PathBuf,
        /// Contest id (default: the first contest).
        #[arg(long)]
        contest: Option<String>,
    },
    /// The measured risk from hand counts, and whether to stop, count more or count everything.
    ///
    /// Exit codes: 0 the risk limit is met, or more stations must be counted (listed);
    /// 1 a full hand count is needed; 2 bad usage or input.
    #[command(group(ArgGroup::new("source").required(true).args(["data"])))]
    Risk {
        #[command(flatten)]
        common: Common,
        /// The seed from the public dice roll.
        #[arg(long)]
        seed: String,
        /// Hand counts: CSV with a `station` column, one column per list id and `invalid`
        /// (invalid and blank ballots).
        #[arg(long)]
        counts: PathBuf,
    },
}

/// Options every audit subcommand takes.
#[derive(clap::Args)]
pub(crate) struct Common {
    /// Data directory (its current accepted protocols are the reported results).
    #[arg(long)]
    data: Option<PathBuf>,
    /// A built-in rule set or a rule-set file (default: the one the definition names).
    #[arg(long)]
    rules: Option<String>,
    /// Seats to fill, for rule sets that name no districts.
    #[arg(long)]
    seats: Option<u32>,
    /// The risk limit α: the largest chance that a wrong outcome passes the audit.
    #[arg(long, default_value_t = 0.05)]
    risk_limit: f64,
    /// Rounds before a full hand count (round r draws n₁·2^(r−1) in all).
    #[arg(long, default_value_t = 4)]
    rounds: u32,
}

/// Runs `urna audit …`.
pub(crate) fn run(command: AuditCommand) -> Result<ExitCode> {
    match command {
        AuditCommand::Assertions {
            common,
            json,
            estimates,
        } => {
            let l = Loaded::open(&common)?;
            let outcome = assertions::assertions(&l.rules, &l.input)?;
            if json {
                out!("{}", serde_json::to_string_pretty(&outcome)?);
            } else {
                print_assertions(&l, &outcome, estimates.then_some(common.risk_limit))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Start {
            log,
            rules,
            seats,
            risk_limit,
            rounds,
        } => crate::audit_log_cmd::start(&log, rules.as_deref(), seats, risk_limit, rounds),
        AuditCommand::Seed { log, seed } => crate::audit_log_cmd::seed(&log, &seed),
        AuditCommand::Count {
            log,
            counts,
            from_desk,
        } => match (counts, from_desk) {
            (_, Some(desk)) => crate::audit_log_cmd::count_from_desk(&log, &desk),
            (Some(counts), None) => crate::audit_log_cmd::count(&log, &counts),
            (None, None) => {
                anyhow::bail!("urna audit count needs --counts FILE or --from-desk FILE")
            }
        },
        AuditCommand::Verdict { log } => crate::audit_log_cmd::verdict(&log),
        AuditCommand::Status { data, contest } => {
            crate::audit_log_cmd::status(&data, contest.as_deref())
        }
        AuditCommand::Sample {
            common,
            key: Some(key),
            contest,
            store,
            definition,
            server,
            ..
        } => crate::audit_log_cmd::sample(&crate::audit_log_cmd::LogArgs {
            data: common.data,
            store,
            definition,
            key,
            contest,
            server,
        }),
        AuditCommand::Sample {
            common,
            seed,
            round,
            server,
            ..
        } => {
            if server.to.is_some() {
                bail!("--to: only a logged sample (with --key) is sent to a server");
            }
            let seed = seed.unwrap_or_default();
            sampler::check_seed(&seed)?;
            if round == 0 || round > common.rounds {
                bail!(
                    "--round {round}: rounds run from 1 to --rounds ({})",
                    common.rounds
                );
            }
            let l = Loaded::open(&common)?;
            let outcome = assertions::assertions(&l.rules, &l.input)?;
            let audit = BatchAudit::new(&outcome, &l.input, common.risk_limit, common.rounds)?;
            l.header(&audit)?;
            if !audit.unconfirmable.is_empty() {
                out!(
                    "no sample can confirm this outcome (no margin): {}\nverdict: full hand count",
                    audit.unconfirmable.join("; ")
                );
                return Ok(ExitCode::from(1));
            }
            if round > audit.rounds_within(l.input.batches.len()) {
                out!(
                    "round {round} would need {} draws in all, at least the {} stations\nverdict: full hand count",
                    audit.draws_by_round(round),
                    l.input.batches.len()
                );
                return Ok(ExitCode::from(1));
            }
            let before = if round == 1 {
                0
            } else {
                audit.draws_by_round(round - 1)
            };
            let upto = audit.draws_by_round(round);
            let draws = audit.draws(&seed, upto);
            let earlier: std::collections::BTreeSet<usize> = draws
                .iter()
                .filter(|d| d.number <= before)
                .map(|d| d.batch)
                .collect();
            let mut new: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
            let mut order = Vec::new();
            for d in draws.iter().filter(|d| d.number > before) {
                if earlier.contains(&d.batch) {
                    continue;
                }
                if !new.contains_key(&d.batch) {
                    order.push(d.batch);
                }
                new.entry(d.batch).or_default().push(d.number);
            }
            out!(
                "round {round}: draws {}..{upto} of seed {seed}; {} new station(s) to hand count",
                before + 1,
                order.len()
            );
            out!("{:<16} {:<20} draws", "station", "district");
            for i in order {
                let b = &l.input.batches[i];
                let nums: Vec<String> = new[&i].iter().map(u64::to_string).collect();
                out!(
                    "{:<16} {:<20} {}",
                    b.id,
                    l.input.districts[b.district].id.as_str(),
                    nums.join(",")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Risk {
            common,
            seed,
            counts,
        } => {
            sampler::check_seed(&seed)?;
            let l = Loaded::open(&common)?;
            let outcome = assertions::assertions(&l.rules, &l.input)?;
            let audit = BatchAudit::new(&outcome, &l.input, common.risk_limit, common.rounds)?;
            let hand = l.read_counts(&counts)?;
            let report = audit.evaluate(&outcome, &l.input, &seed, &|i| hand.get(&i).cloned());
            l.header(&audit)?;
            out!(
                "hand counts: {} station(s) in {}; evaluated {} draw(s) over {} station(s) (rounds complete: {})",
                hand.len(),
                counts.display(),
                report.draws,
                report.stations,
                report.round
            );
            out!(
                "measured risk: {:.6} (limit {})",
                report.risk,
                common.risk_limit
            );
            match report.verdict {
                Verdict::RiskLimitMet if l.own_rules => {
                    out!("verdict: risk limit met: the reported seats stand");
                    Ok(ExitCode::SUCCESS)
                }
                Verdict::RiskLimitMet => {
                    out!(
                        "verdict: risk limit met: the outcome of rule set {} stands; these are not the contest's seat rules as the definition names them, so its seats are not confirmed",
                        l.rules.id
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Verdict::CountMore { round, batches } => {
                    out!(
                        "verdict: escalate: hand count round {round}'s stations first ({}):",
                        batches.len()
                    );
                    for i in batches {
                        let b = &l.input.batches[i];
                        out!("  {} ({})", b.id, l.input.districts[b.district].id);
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Verdict::FullHandCount { reason } => {
                    out!("verdict: full hand count: {reason}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

/// The definition of a data directory and every committed entry replayed, read without
/// opening its store (the directory's one writer may hold it).
fn read_only_replay(dir: &Path) -> Result<(Election, Replay)> {
    let reader = EntryReader::open(dir)?;
    let definition = dir.join(DEFINITION_FILE);
    let election =
        Election::load(&definition).with_context(|| format!("loading {}", definition.display()))?;
    let recorded = reader.definition_sha256()?;
    if recorded != hex(&election.digest) {
        bail!(
            "{} was changed after `urna init` (SHA-256 {} now, {recorded} recorded)",
            definition.display(),
            hex(&election.digest)
        );
    }
    let mut replay =
        Replay::new(&election).with_context(|| format!("replaying {}", dir.display()))?;
    let size = reader.len()?;
    reader.for_each(0, size, |index, note| -> Result<()> {
        replay
            .apply(&election, index, note)
            .with_context(|| format!("{}: entry {index}", dir.display()))
    })?;
    Ok((election, replay))
}

/// The reported results of a data directory in the audit's terms.
struct Loaded {
    rules: RuleSet,
    input: AuditInput,
    /// Every list of the contest (id, whether it is an `other` list), in definition order.
    columns: Vec<(String, bool)>,
    quarantined: usize,
    /// Whether the rule set and seats are the contest's, as the definition names them: only
    /// then does a met risk limit confirm the contest's seats.
    own_rules: bool,
}

impl Loaded {
    fn open(common: &Common) -> Result<Self> {
        let dir = common
            .data
            .as_deref()
            .context("--data: the data directory whose results are audited")?;
        // Read-only: these commands print, they write nothing, so they also run while
        // `urna serve` holds the directory.
        let (election, replay) = read_only_replay(dir)?;
        let e = &election;
        let contest = &e.contests[0];
        let rules = match &common.rules {
            Some(r) => crate::seats::load_rules(r)?,
            None => seats::contest_rules(e, ContestIdx(0))?.with_context(|| {
                format!(
                    "the definition names no seat rules for contest {:?}; give --rules",
                    contest.id
                )
            })?,
        };
        // --seats only where the rule set names no districts (otherwise it fixes the seats).
        let seats = if rules.districts.is_empty() {
            let house = common
                .seats
                .or_else(|| contest.seats.as_ref().and_then(|c| c.house))
                .with_context(|| {
                    format!("rule set {:?} names no districts: give --seats", rules.id)
                })?;
            Some(house)
        } else {
            None
        };
        let own_rules = contest.seats.as_ref().is_some_and(|c| {
            common.rules.as_deref().is_none_or(|r| r == c.rules)
                && (!rules.districts.is_empty() || seats == c.house)
        });
        let reported = Reported::new(e, ContestIdx(0), rules, seats, &replay)?;
        let columns = contest
            .lists
            .iter()
            .zip(&reported.list_class)
            .map(|(&l, class)| (e.lists[l].id.clone(), class.is_none()))
            .collect();
        Ok(Self {
            rules: reported.rules,
            input: reported.input,
            columns,
            quarantined: reported.quarantined,
            own_rules,
        })
    }

    fn header(&self, audit: &BatchAudit) -> Result<()> {
        let ballots: u64 = self.input.batches.iter().map(|b| b.ballots).sum();
        out!(
            "audit of rule set {}: {} stations, {ballots} ballots ({} quarantined stations are not in the reported results)",
            self.rules.id,
            self.input.batches.len(),
            self.quarantined
        );
        out!(
            "total error bound U = {:.2}; risk limit {}; round 1 draws {}, up to {} by round {}",
            audit.total_bound,
            audit.risk_limit,
            audit.first_round_draws(),
            audit.draws_by_round(audit.max_rounds),
            audit.max_rounds
        );
        Ok(())
    }

    /// Reads a hand-count CSV: station → ballot classes (lists, `other`, invalid).
    fn read_counts(&self, path: &Path) -> Result<HashMap<usize, Vec<u64>>> {
        let mut rdr = csv::Reader::from_path(path)
            .with_context(|| format!("--counts: reading {}", path.display()))?;
        let headers = rdr.headers()?.clone();
        let col =
            |name: &str| -> Result<usize> {
                headers.iter().position(|h| h.trim() == name).with_context(|| {
                format!(
                    "--counts {}: no column `{name}` (need station, every list id and invalid)",
                    path.display()
                )
            })
            };
        let station_col = col("station")?;
        let list_cols: Vec<(usize, bool)> = self
            .columns
            .iter()
            .map(|(id, other)| Ok((col(id)?, *other)))
            .collect::<Result<_>>()?;
        let invalid_col = col("invalid")?;
        let index: HashMap<&str, usize> = self
            .input
            .batches
            .iter()
            .enumerate()
            .map(|(i, b)| (b.id.as_str(), i))
            .collect();
        let mut out = HashMap::new();
        for (line, rec) in rdr.records().enumerate() {
            let rec =
                rec.with_context(|| format!("--counts {}: row {}", path.display(), line + 2))?;
            let station = rec.get(station_col).unwrap_or("").trim();
            let &i = index.get(station).with_context(|| {
                format!(
                    "--counts {} row {}: station `{station}` is not a counted station of the reported results",
                    path.display(),
                    line + 2
                )
            })?;
            let num = |c: usize, what: &str| -> Result<u64> {
                let text = rec.get(c).unwrap_or("").trim();
                text.parse::<u64>().with_context(|| {
                    format!(
                        "--counts {} row {} column `{what}`: `{text}` is not a count",
                        path.display(),
                        line + 2
                    )
                })
            };
            let mut classes = Vec::new();
            let mut other = 0u64;
            for ((c, is_other), (id, _)) in list_cols.iter().zip(&self.columns) {
                let v = num(*c, id)?;
                if *is_other {
                    other = other.checked_add(v).with_context(|| {
                        format!(
                            "--counts {} row {}: the votes for no list add up past {}",
                            path.display(),
                            line + 2,
                            u64::MAX
                        )
                    })?;
                } else {
                    classes.push(v);
                }
            }
            classes.push(other);
            classes.push(num(invalid_col, "invalid")?);
            if out.insert(i, classes).is_some() {
                bail!(
                    "--counts {}: station `{station}` appears twice",
                    path.display()
                );
            }
        }
        Ok(out)
    }
}

fn print_assertions(l: &Loaded, o: &Outcome, estimates: Option<f64>) -> Result<()> {
    let ballots: u64 = l.input.batches.iter().map(|b| b.ballots).sum();
    out!(
        "rule set {}: {} stations, {ballots} ballots, {} districts ({} quarantined stations are not in the reported results)",
        o.rule_set,
        l.input.batches.len(),
        l.input.districts.len(),
        l.quarantined
    );
    out!(
        "{} assertions; margins in weighted votes (seat divisors ×10, threshold shares as whole fractions); the audit is as hard as the smallest diluted margin",
        o.assertions.len()
    );
    let extra = if estimates.is_some() {
        format!(" {:>12} {:>12}", "polling", "comparison")
    } else {
        String::new()
    };
    out!(
        "{:>4}  {:<48} {:>14} {:>10}{extra}",
        "#",
        "assertion",
        "margin",
        "diluted"
    );
    for (i, a) in o.assertions.iter().enumerate() {
        let extra = match estimates {
            Some(alpha) => {
                let classes = l.input.scope_classes(a.scope);
                let polling = Bravo::new(a, &classes)
                    .map(|b| b.wald_asn(&classes, alpha))
                    .filter(|n| n.is_finite())
                    .map_or("-".to_owned(), |n| ballots_or_all(n, a.ballots));
                let comparison = polling::comparison_draws(a, alpha)
                    .map_or("-".to_owned(), |n| ballots_or_all(n as f64, a.ballots));
                format!(" {polling:>12} {comparison:>12}")
            }
            None => String::new(),
        };
        out!(
            "{:>4}  {:<48} {:>14} {:>9.4}%{extra}",
            i + 1,
            a.describe(),
            a.margin,
            a.diluted_margin * 100.0
        );
    }
    if let Some(min) = o
        .assertions
        .iter()
        .min_by(|a, b| a.diluted_margin.total_cmp(&b.diluted_margin))
    {
        out!(
            "smallest diluted margin: {:.4}% ({})",
            min.diluted_margin * 100.0,
            min.describe()
        );
    }
    Ok(())
}

/// A sample size in ballots, or `all` when it reaches the ballots in scope.
#[allow(clippy::cast_precision_loss)]
fn ballots_or_all(n: f64, ballots: u64) -> String {
    if n >= ballots as f64 {
        "all".to_owned()
    } else {
        format!("{:.0}", n.ceil())
    }
}
