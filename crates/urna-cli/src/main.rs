//! `urna`: tamper-evident, publicly verifiable election results.
//!
//! Exit codes: 0 success; 1 the command ran but found a problem it reports (e.g. `ingest` of a
//! note that was rejected when `--strict` is given); 2 usage, input or I/O error.

/// `println!` that returns an error instead of panicking when stdout is closed (e.g. piped
/// into `head`); `main` turns a broken pipe into a clean exit.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*).map_err(crate::stdout_error)?
    }};
}

/// `print!` counterpart of [`out!`].
macro_rules! outp {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout(), $($arg)*).map_err(crate::stdout_error)?
    }};
}

/// Standard output was closed by its reader (`urna … | head`): the command ends quietly.
/// Only a write to standard output becomes this; a broken pipe anywhere else (a socket the
/// other side closed) is an error like any other.
#[derive(Debug)]
struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// The error of a write to standard output.
fn stdout_error(e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        anyhow::Error::new(StdoutClosed)
    } else {
        e.into()
    }
}

mod albania;
mod albania_rows;
mod albania_shapes;
mod assess_cmd;
mod audit_cmd;
mod audit_log_cmd;
mod backup_cmd;
mod bench;
mod bench_all;
mod bench_audit;
mod bench_desk;
mod bench_forensics;
mod bench_pg;
mod bench_serve;
mod decide_cmd;
mod demo_desk;
mod desk_cmd;
mod export_cmd;
mod forensics_cmd;
mod incident_cmd;
mod keys_cmd;
mod log_cmd;
mod pg_cmd;
mod reading;
mod report;
mod revoke_cmd;
mod seats;
mod serve_cmd;
mod station_cmd;
mod submit_cmd;
mod verify_cmd;
mod witness_cmd;

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use urna_model::intake::Verdict;
use urna_model::pack::{PACK_EXTENSION, PackReader, write_note};
use urna_model::protocol::hex;
use urna_sim::{Fraud, FraudKind, SimConfig, Simulation};
use urna_store::{IngestOptions, IngestReport, Outcome, Store, SystemClock};

/// Tamper-evident, publicly verifiable election results.
///
/// Exit codes: 0 success; 1 a check failed (e.g. `ingest --strict` with a rejected note);
/// 2 usage, input or I/O error.
#[derive(Parser)]
#[command(name = "urna", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a whole synthetic election: generate, sign, ingest, quarantine, amend, tally.
    Demo {
        /// Data directory to (re)create.
        #[arg(long, default_value = "urna-demo")]
        data: PathBuf,
        /// Number of polling stations.
        #[arg(long, default_value_t = 5_200)]
        stations: u32,
        /// Seed of the simulation.
        #[arg(long, default_value_t = 2025)]
        seed: u64,
        /// Seat rule set for the printed seat table, instead of the one the definition names
        /// (its districts must match the simulated ones).
        #[arg(long)]
        rules: Option<String>,
        /// Address to serve the results page and intake on once the demo is verified (the
        /// same service as `urna serve`), until Ctrl-C.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// End after the verification instead of serving (prints the `urna serve` command
        /// that serves the results page).
        #[arg(long)]
        no_serve: bool,
        /// Open lists: every list has candidates and protocols carry their preference votes
        /// (`preferences:` lines); protocols with preference errors are quarantined.
        #[arg(long)]
        open_lists: bool,
        /// Also serve a counting-centre desk (`urna desk`) for one municipality on this
        /// loopback address, delivering to the demo's server; its accounts are printed.
        #[arg(long)]
        desk: Option<std::net::SocketAddr>,
    },
    /// Generate a synthetic election: definition, signed protocols, amendments, attacks.
    Sim {
        /// Output directory (must not exist or be empty).
        #[arg(long)]
        out: PathBuf,
        /// Number of polling stations.
        #[arg(long, default_value_t = 5_200)]
        stations: u32,
        /// Number of districts.
        #[arg(long, default_value_t = 12)]
        districts: u32,
        /// Protocols with an injected arithmetic error, per ten thousand (with open lists, as
        /// many again get a preference error).
        #[arg(long, default_value_t = 200)]
        error_rate: u32,
        /// Seed of the simulation.
        #[arg(long, default_value_t = 2025)]
        seed: u64,
        /// Candidates per list who draw preference votes: open lists with `preferences:` lines
        /// (0: closed lists). Each list has at least as many candidates as the seats it runs
        /// for (its own in each district with the twelve Albanian districts), so the seat
        /// rules can name the elected.
        #[arg(long, default_value_t = 0)]
        candidates: u32,
        /// Most candidates a voter may mark within a list, for open lists.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
        marks: u32,
        /// Ballot stuffing at this share of stations (0–1): 30–80 % of their non-voters
        /// added as ballots for the first list (to measure the forensic screens' power).
        #[arg(long, value_parser = share, conflicts_with_all = ["rounding", "moving"])]
        stuffing: Option<u32>,
        /// Rounded turnouts at this share of stations (0–1): ballots cast moved to the
        /// count of the next multiple of 5 %, the difference given to the first list.
        #[arg(long, value_parser = share, conflicts_with = "moving")]
        rounding: Option<u32>,
        /// A counting centre moving votes, in municipalities holding about this share of
        /// stations (0–1): 30 % of the second list's votes counted for the first.
        #[arg(long, value_parser = share)]
        moving: Option<u32>,
    },
    /// Create a data directory (SQLite), or a PostgreSQL store with --store, from an election
    /// definition.
    Init {
        /// The election definition (election.toml; its stations file sits beside it).
        #[arg(long)]
        definition: PathBuf,
        /// Data directory to create.
        #[arg(long, required_unless_present = "store", conflicts_with = "store")]
        data: Option<PathBuf>,
        /// The store: an empty PostgreSQL database (`postgres://…`, `postgresql://…` or
        /// `host=… dbname=…`) for several `urna serve --store` nodes, or a data directory to
        /// create (as --data).
        #[arg(long, value_name = "URL|DIR")]
        store: Option<String>,
        /// With a PostgreSQL --store: the log's private key file, created (mode 0600) if
        /// missing; every `urna serve --store` node reads it.
        #[arg(long, value_name = "FILE")]
        log_key: Option<PathBuf>,
        /// With a PostgreSQL --store: the witness policy (`quorum = k`, `[[witness]]` tables,
        /// as a data directory's witnesses.toml), kept in the database so that every node
        /// cosigns and publishes under it. A data directory reads DATA/witnesses.toml instead.
        #[arg(long, value_name = "FILE")]
        witnesses: Option<PathBuf>,
    },
    /// Ingest signed notes: note files, note packs (.notes) or directories of them.
    Ingest {
        /// Data directory.
        #[arg(long)]
        data: PathBuf,
        /// Print one line per note once it is durable: `ack <position> <index> <verdict>
        /// <station> sha256:<hash>`, `dup …` or `reject <position> <code> <message>`.
        #[arg(long)]
        print_acks: bool,
        /// Exit with code 1 if any note was rejected.
        #[arg(long)]
        strict: bool,
        /// Write a signed `urna/receipt/v1` for every stored note to this note pack.
        #[arg(long)]
        receipts: Option<PathBuf>,
        /// Longest time between signed checkpoints while notes arrive, in milliseconds.
        #[arg(long, default_value_t = 1000)]
        checkpoint_ms: u64,
        /// Most entries between two signed checkpoints.
        #[arg(long, default_value_t = 1 << 18)]
        checkpoint_entries: usize,
        /// Note files, note packs or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Print totals, turnout, reporting progress and the quarantine list.
    Tally {
        /// Data directory.
        #[arg(long)]
        data: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Manage signed-note keys.
    Keys {
        #[command(subcommand)]
        command: keys_cmd::KeysCommand,
    },
    /// Import a real election's per-station results.
    Import {
        /// Format of the file: `albania-2021` (CEC per-station CSV).
        #[arg(long)]
        format: String,
        /// The CSV file.
        #[arg(long)]
        csv: PathBuf,
        /// Data directory to create.
        #[arg(long)]
        data: PathBuf,
        /// The districts' ESRI shapefile (`.shp`, with its `.dbf` and `.prj` beside it), e.g.
        /// `Albania2013_prefectures.shp`: converted to GeoJSON for the results page's map.
        #[arg(long)]
        shapes: Option<PathBuf>,
    },
    /// Allocate seats from a vote file or a data directory's current tally, and explain them.
    ///
    /// Exit codes: 0 allocated; 1 the allocation cannot be made (e.g. no list passes the
    /// threshold); 2 bad usage or input, with the field named.
    Seats {
        /// A built-in rule set (see --list-rules) or a rule-set TOML file. With --data it
        /// defaults to the rule set the election definition names.
        #[arg(long)]
        rules: Option<String>,
        /// A vote file (TOML: lists, and votes per district).
        #[arg(long, conflicts_with = "data")]
        votes: Option<PathBuf>,
        /// A data directory: allocate from its current tally (first contest).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Seats to fill, for rule sets that name no districts (e.g. `generic`) with --data.
        #[arg(long)]
        seats: Option<u32>,
        /// The published seed for draws by lot (overrides the vote file and the rule set).
        #[arg(long)]
        seed: Option<String>,
        /// Show the full quotient table, thresholds, tie-breaks and marginal-seat margins.
        #[arg(long)]
        explain: bool,
        /// Print the whole allocation and its explanation as JSON.
        #[arg(long)]
        json: bool,
        /// DISTRICT=VOTERS: could a repeat vote by the VOTERS of a district's invalidated
        /// stations change the seats (Albania's Electoral Code art. 161)? Give the votes
        /// without those stations, and every list on the district's ballot with a row there
        /// (`0` if it has no votes); the answer re-ranks every quotient, thresholds included.
        #[arg(long, value_name = "DISTRICT=VOTERS")]
        repeat_vote: Option<String>,
        /// List the built-in rule sets.
        #[arg(long)]
        list_rules: bool,
        /// Print a built-in rule set's TOML (a starting point for your own).
        #[arg(long)]
        show_rules: Option<String>,
    },
    /// The transparency log: checkpoint, inclusion and consistency proofs.
    Log {
        #[command(subcommand)]
        command: log_cmd::LogCommand,
    },
    /// Run a transparency-log witness, or create its key (see `urna witness --help` for the roles).
    Witness(witness_cmd::WitnessArgs),
    /// Share security incidents between institutions: signed notes in a witnessed incident
    /// log, sealed with age above TLP:CLEAR (see `urna incident --help`).
    Incident(incident_cmd::IncidentArgs),
    /// Serve intake over HTTP (`POST /v1/protocols`) and the public bundle, publishing
    /// continuously; stops cleanly on SIGINT or SIGTERM.
    ///
    /// With `--store postgres://…` (and --definition, --log-key, --node) it runs one of several
    /// nodes on one PostgreSQL database: intake with receipts after commit, the sequencer
    /// (one node at a time holds the lease; another takes over within seconds when it dies),
    /// the witnesses' cosignatures (with a policy set at `urna init --store … --witnesses`,
    /// the sequencing node publishes each checkpoint once the quorum cosigned it),
    /// `GET /checkpoint` (the published one), `/tile/…`, `/v1/proof/…` (on every node, from
    /// the database's tiles) and `/v1/status`, and metrics with `--metrics-listen` (with
    /// whether the node sequences); with `--bundle DIR` each node keeps its own bundle current
    /// with the published checkpoint and serves it (the results page, `v1/*.json`), scans and
    /// audit notes taken as on SQLite. On that engine the witness policy cannot be changed
    /// after init.
    #[command(long_about)]
    Serve(serve_cmd::ServeArgs),
    /// Write the static public bundle for the published checkpoint (serve `OUT/current`).
    ///
    /// With `--store postgres://…` (and --definition, --log-key) it checks every row of the
    /// PostgreSQL store as a node does at open, then writes the same bundle from the
    /// published checkpoint (cosigned by the witnesses' quorum with a policy, named with it in
    /// `v1/keys.json`; else the sequencer's last signed one, quorum 0), the entries and the
    /// tiles in the database.
    #[command(long_about)]
    Publish(serve_cmd::PublishArgs),
    /// Send signed notes to `urna serve`, with retries and a store-and-forward queue;
    /// verifies every receipt.
    Submit(submit_cmd::SubmitArgs),
    /// The counting-centre desk: paper protocols keyed twice, compared, resolved, signed
    /// with the centre's authority key and delivered to `urna serve`; `user add`,
    /// `audit-export`.
    Desk(desk_cmd::DeskArgs),
    /// Polling-station mode: the desk's entry screens for one station, keyed by its chair
    /// and a second member, signed with the station's own key into the `urna submit` queue;
    /// `init` sets the board up.
    Station(station_cmd::StationArgs),
    /// Sign a commission's decision on a station's current entry (`accept`, `recount`,
    /// `annul`) as an `urna/decision/v1` note, to send with `urna submit` or `urna ingest`.
    Decide(decide_cmd::DecideArgs),
    /// Re-verify a published election from its bundle (a directory or a URL), trusting only
    /// the keys given: log, witnesses, quorum.
    Verify(verify_cmd::VerifyArgs),
    /// Export results: NIST SP 1500-100 v2 JSON (`cdf`), CSV per station and per unit (`csv`;
    /// open lists also per station and candidate).
    Export(export_cmd::ExportArgs),
    /// Statistical screens of the published results (election forensics): digit tests,
    /// integer percentages, turnout × share fingerprints, station outliers, quarantine and
    /// amendment concentration; a terminal summary and an HTML/SVG report folder.
    ///
    /// A flag is a reason to look, not proof. Exit codes: 0 screened (whatever the flags);
    /// 2 bad usage or input, with the field named.
    Forensics(forensics_cmd::ForensicsArgs),
    /// A consistent copy of a data directory, taken while `urna serve` runs on it: the
    /// database snapshot, the definition, the checkpoints, the log's public key, a manifest.
    Backup(backup_cmd::BackupArgs),
    /// Restore a backup into a new data directory: the manifest checked, every note replayed,
    /// the log compared with the newest checkpoint given; a rollback or a fork is refused.
    ///
    /// Exit codes: 0 restored; 1 refused; 2 usage or I/O error.
    Restore(backup_cmd::RestoreArgs),
    /// The standards self-assessment (NIST IR 8310, EU Compendium): urna's own checks of a
    /// data directory, the operator's answers with evidence, a note the commission signs and
    /// partner agencies co-sign, and a report (HTML and PDF) in the four languages.
    #[command(subcommand)]
    Assess(assess_cmd::AssessCommand),
    /// Where the data directory stands: entries, log size, published checkpoint and its lag;
    /// with a PostgreSQL --store: the nodes, which one sequences, and each one's intake rate.
    Status {
        /// Data directory.
        #[arg(long, required_unless_present = "store", conflicts_with = "store")]
        data: Option<PathBuf>,
        /// The store: a PostgreSQL database (`postgres://…` or `host=… dbname=…`) or a data
        /// directory (as --data).
        #[arg(long, value_name = "URL|DIR")]
        store: Option<String>,
    },
    /// Risk-limiting audit of the seat outcome: assertions, the sample to hand count from a
    /// public seed, and the measured risk from the hand counts; `start`, `seed`, `sample --key`,
    /// `count` and `verdict` record the audit as signed notes in the log.
    Audit {
        #[command(subcommand)]
        command: audit_cmd::AuditCommand,
    },
    /// Benchmarks; report throughput as ratios to references measured in the same run.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Every step of the chain at one size (sim, intake, publish, verify, HTTP intake and
    /// reads), each against the reference its benchmark measures in the same run, in one table.
    All(bench_all::BenchAllArgs),
    /// Every forensic screen over a simulated election (runtime and the Monte Carlo's
    /// share); with --power, each screen's detection rate on simulations with injected fraud
    /// at a 5 % false-alarm rate on clean ones.
    Forensics(bench_forensics::BenchForensicsArgs),
    /// Simulated typists keying every protocol of a counting centre twice over HTTP against a
    /// real `urna desk`: p50/p99 of a saved line and of a whole entry, none lost or duplicated.
    Desk(bench_desk::BenchDeskArgs),
    /// Simulated audits: on correct outcomes they should stop early; on outcomes with a seat
    /// flipped by altered protocols they must go to a full hand count (exit code 1 when they do
    /// so less often than 1 − risk limit).
    Audit(bench_audit::BenchAuditArgs),
    /// Signed submissions over HTTP to a real `urna serve`, and public reads from it and from
    /// nginx serving the same bundle.
    Serve(bench_serve::BenchServeArgs),
    /// `urna verify` on a bundle, against raw Ed25519 batch verification of the same
    /// signatures on the same threads (the reference measured in the same run).
    Verify {
        /// The bundle: a directory or an http:// URL.
        bundle: String,
        /// The log's public key (`urna log key --data DIR`).
        #[arg(long)]
        log_key: String,
        /// A trust file or the commission's witnesses.toml (witness keys and quorum).
        #[arg(long)]
        trust: Option<PathBuf>,
    },
    /// Signed protocols through verify + parse + validate + durable store + tally.
    Ingest {
        /// Number of stations.
        #[arg(long, default_value_t = 1_000_000)]
        stations: u32,
        /// Work directory (default: a temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Candidates per list: the same stations are also ingested with open lists (voters
        /// marking up to 5 candidates), and both rates are reported.
        #[arg(long, default_value_t = 0)]
        candidates: u32,
        /// Measure the PostgreSQL engine instead, in this empty database (`postgres://…` or
        /// `host=… user=… dbname=…`): its rate with 1, 2 and 3 intake nodes against the SQLite
        /// store's on the same protocols, in the same run.
        #[arg(long, value_name = "URL")]
        store: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            if e.downcast_ref::<StdoutClosed>().is_some() {
                return ExitCode::SUCCESS;
            }
            eprintln!(
                "urna: error: {}",
                urna_model::definition::escape_controls(&chain_text(&e))
            );
            ExitCode::from(2)
        }
    }
}

/// A share of stations from 0 to 1, per ten thousand.
fn share(s: &str) -> Result<u32, String> {
    let x: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number from 0 to 1"))?;
    if !(0.0..=1.0).contains(&x) {
        return Err(format!("{s} is not a share of stations from 0 to 1"));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let per_10k = (x * 10_000.0).round() as u32;
    Ok(per_10k)
}

/// An error and its causes joined by ": ", each said once. Many errors print their source in
/// their own message and also return it as their source (`{path}: {source}`); a cause whose
/// text an outer message already holds is skipped. The message may quote what a file or a server
/// sent, so `main` escapes its control characters before it reaches the terminal.
fn chain_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        if msg.is_empty() || text.contains(&msg) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&msg);
    }
    text
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Demo {
            data,
            stations,
            seed,
            rules,
            listen,
            no_serve,
            open_lists,
            desk,
        } => demo(
            &data,
            stations,
            seed,
            rules.as_deref(),
            listen,
            !no_serve,
            open_lists,
            desk,
        ),
        Command::Sim {
            out,
            stations,
            districts,
            error_rate,
            seed,
            candidates,
            marks,
            stuffing,
            rounding,
            moving,
        } => {
            let mut sim = Simulation::new(SimConfig {
                seed,
                stations,
                districts,
                error_rate_per_10k: error_rate,
                candidates,
                marks,
            });
            let fraud = [
                (FraudKind::Stuffing, stuffing),
                (FraudKind::Rounding, rounding),
                (FraudKind::Moving, moving),
            ];
            if let Some((kind, Some(rate_per_10k))) = fraud.into_iter().find(|f| f.1.is_some()) {
                sim = sim.with_fraud(Fraud { kind, rate_per_10k });
            }
            let files = write_sim(&sim, &out)?;
            out!(
                "wrote a synthetic election of {stations} stations to {}",
                out.display()
            );
            for f in files {
                out!("  {}", f.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => serve_cmd::serve(args),
        Command::Publish(args) => serve_cmd::publish(&args),
        Command::Submit(args) => submit_cmd::run(args),
        Command::Desk(args) => desk_cmd::run(args),
        Command::Station(args) => station_cmd::run(args),
        Command::Decide(args) => decide_cmd::run(&args),
        Command::Verify(args) => verify_cmd::run(args),
        Command::Export(args) => export_cmd::run(args),
        Command::Forensics(args) => forensics_cmd::run(&args),
        Command::Backup(args) => backup_cmd::run_backup(&args),
        Command::Restore(args) => backup_cmd::run_restore(&args),
        Command::Assess(command) => assess_cmd::run(command),
        Command::Init {
            definition,
            data,
            store,
            log_key,
            witnesses,
        } => {
            // Before any store is created: a name with a line break or an escape sequence
            // would reach every operator's terminal raw.
            if let Ok(text) = std::fs::read_to_string(&definition) {
                urna_model::definition::check_new_text(&definition.display().to_string(), &text)?;
            }
            let data = match (data, store) {
                (_, Some(url)) if pg_cmd::is_url(&url) => {
                    return pg_cmd::init(
                        &url,
                        &definition,
                        log_key.as_deref(),
                        witnesses.as_deref(),
                    );
                }
                (Some(d), _) => d,
                (None, Some(dir)) => PathBuf::from(dir),
                (None, None) => bail!("--data or --store: where to create the store"),
            };
            if log_key.is_some() {
                bail!(
                    "--log-key: only with a PostgreSQL --store (a data directory keeps its log key in secrets/log.key)"
                );
            }
            if witnesses.is_some() {
                bail!(
                    "--witnesses: only with a PostgreSQL --store (a data directory reads its policy from DATA/witnesses.toml)"
                );
            }
            let store = Store::init(&data, &definition)
                .with_context(|| format!("initialising {}", data.display()))?;
            let e = store.election();
            out!(
                "initialised {} for {} ({}): {} stations, {} units, {} lists, {} rules; definition sha256:{}",
                data.display(),
                e.name,
                e.id,
                e.stations.len(),
                e.units.len(),
                e.lists.len(),
                e.rules.len(),
                hex(&e.digest)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest {
            data,
            print_acks,
            strict,
            receipts,
            checkpoint_ms,
            checkpoint_entries,
            paths,
        } => {
            let mut store =
                Store::open(&data).with_context(|| format!("opening {}", data.display()))?;
            let options = IngestOptions {
                sequence_every: std::time::Duration::from_millis(checkpoint_ms),
                sequence_max_entries: checkpoint_entries,
                ..IngestOptions::default()
            };
            let (report, first_rejected) = ingest_paths_with(
                &mut store,
                &paths,
                print_acks,
                !print_acks,
                receipts.as_deref(),
                &options,
            )?;
            eprintln!("{}", report::ingest_line(&report));
            // With witnesses configured, get the new checkpoint cosigned and published now.
            match urna_server::publish::publish(&urna_store::log::PublicLog::open(store.dir())?)? {
                urna_server::publish::Published::NoWitnesses
                | urna_server::publish::Published::UpToDate(_) => {}
                other => eprintln!("{other}"),
            }
            if strict && report.rejected > 0 {
                eprintln!(
                    "urna: ingest --strict: {} rejected (first: {})",
                    notes_count(report.rejected),
                    first_rejected.as_deref().unwrap_or("unknown")
                );
                return Ok(ExitCode::from(1));
            }
            if strict && report.read == 0 {
                eprintln!("urna: ingest --strict: no note was read from the paths given");
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Tally { data, json } => {
            let mut reading = reading::Reading::open(&data)?;
            let reports = reading.tallies()?;
            let mut out = std::io::stdout().lock();
            for r in &reports {
                if json {
                    report::write_json(&mut out, reading.election(), r)?;
                } else {
                    report::write_summary(&mut out, reading.election(), r)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys { command } => keys_cmd::run(command),
        Command::Import {
            format,
            csv,
            data,
            shapes,
        } => {
            if format != "albania-2021" {
                bail!("unknown --format {format:?}; supported: albania-2021");
            }
            albania::import(&csv, &data, shapes.as_deref())
        }
        Command::Bench {
            command:
                BenchCommand::Ingest {
                    stations,
                    dir,
                    candidates,
                    store,
                },
        } => match store {
            Some(url) => bench_pg::ingest(&url, stations, dir.as_deref()),
            None => bench::ingest(stations, dir.as_deref(), candidates),
        },
        Command::Bench {
            command: BenchCommand::Serve(args),
        } => bench_serve::run(&args),
        Command::Bench {
            command: BenchCommand::All(args),
        } => bench_all::run(&args),
        Command::Bench {
            command: BenchCommand::Forensics(args),
        } => bench_forensics::run(&args),
        Command::Bench {
            command: BenchCommand::Desk(args),
        } => bench_desk::run(&args),
        Command::Bench {
            command: BenchCommand::Audit(args),
        } => bench_audit::run(&args),
        Command::Audit { command } => audit_cmd::run(command),
        Command::Bench {
            command:
                BenchCommand::Verify {
                    bundle,
                    log_key,
                    trust,
                },
        } => {
            let file = trust
                .as_deref()
                .map(urna_verify::TrustFile::load)
                .transpose()?;
            let trust = urna_verify::Trust::from_parts(file.as_ref(), Some(&log_key), &[], None)?;
            let source = urna_verify::source::open(&bundle)?;
            outp!(
                "{}",
                urna_verify::bench::run(source.as_ref(), &trust)?.summary()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Log { command } => log_cmd::run(command),
        Command::Status { data, store } => match (data, store) {
            (_, Some(url)) if pg_cmd::is_url(&url) => pg_cmd::status(&url),
            (Some(d), _) => log_cmd::status(&d),
            (None, Some(dir)) => log_cmd::status(Path::new(&dir)),
            (None, None) => bail!("--data or --store: the store to describe"),
        },
        Command::Witness(args) => witness_cmd::run(args),
        Command::Incident(args) => incident_cmd::run(args),
        Command::Seats {
            rules,
            votes,
            data,
            seats,
            seed,
            explain,
            json,
            repeat_vote,
            list_rules,
            show_rules,
        } => seats::run(
            rules.as_deref(),
            votes.as_deref(),
            data.as_deref(),
            seats,
            seed,
            explain,
            json,
            repeat_vote.as_deref(),
            list_rules,
            show_rules.as_deref(),
        ),
    }
}

/// `urna demo`; with `serve`, it then serves the results page and intake on `listen` until
/// Ctrl-C, else it says how to.
#[allow(clippy::too_many_arguments)] // one per `urna demo` option
fn demo(
    data: &Path,
    stations: u32,
    seed: u64,
    rules: Option<&str>,
    listen: std::net::SocketAddr,
    serve: bool,
    open_lists: bool,
    desk: Option<std::net::SocketAddr>,
) -> Result<ExitCode> {
    let chosen = rules.map(seats::load_rules).transpose()?;
    // Take the address first: a demo of minutes should not fail at its very end. The demo
    // serves plain HTTP, so on loopback only, like `urna serve` without a certificate.
    if serve && !listen.ip().is_loopback() {
        bail!(
            "--listen {listen}: the demo serves plain HTTP, so on loopback only (127.0.0.1, ::1); \
             for HTTPS on another address, run `urna serve --data DIR/store --listen {listen} \
             --tls-cert FILE --tls-key FILE` after `urna demo --no-serve`"
        );
    }
    let listener = serve
        .then(|| {
            std::net::TcpListener::bind(listen).map_err(|e| {
                anyhow::anyhow!(
                    "cannot serve the results page on {listen} (--listen): {e}; choose another address with --listen ADDR, or pass --no-serve"
                )
            })
        })
        .transpose()?;
    if desk.is_some() && !serve {
        bail!("--desk: the desk delivers to the demo's server; leave out --no-serve");
    }
    let desk_listener = desk.map(demo_desk::bind).transpose()?;
    let marker = data.join(".urna-demo");
    if data.exists() {
        if !marker.exists() {
            bail!(
                "{} exists and was not made by `urna demo`; choose another --data",
                data.display()
            );
        }
        std::fs::remove_dir_all(data)
            .with_context(|| format!("removing old demo {}", data.display()))?;
    }
    let (candidates, marks) = if open_lists {
        (DEMO_CANDIDATES, DEMO_MARKS)
    } else {
        (0, 1)
    };
    let sim = Simulation::new(SimConfig {
        seed,
        stations,
        candidates,
        marks,
        ..SimConfig::default()
    });
    let source = data.join("source");
    out!(
        "1. Generating a synthetic election of {stations} polling stations (seed {seed}); every protocol signed with its station's Ed25519 key"
    );
    if open_lists {
        out!(
            "   Open lists: {candidates} candidates per list, each voter marking up to {marks}; protocols carry every candidate's preference votes"
        );
    }
    write_sim(&sim, &source)?;
    std::fs::write(&marker, "made by urna demo\n")?;
    out!("2. Initialising the data directory {}", data.display());
    let store_dir = data.join("store");
    let mut store = Store::init(&store_dir, &source.join("election.toml"))?;
    out!(
        "   Starting two witnesses (a cyber-security agency and an observer group) that must cosign every published checkpoint"
    );
    let witnesses = start_demo_witnesses(data, &store)?;
    // With a desk, one municipality's protocols are keyed there instead.
    let centre = desk_listener
        .as_ref()
        .and_then(|_| demo_desk::choose_centre(&sim));
    let (protocols, amendments) = match &centre {
        Some(c) => {
            let (packs, left_out) = demo_desk::packs_without(&source, store.election(), c)?;
            out!(
                "   {left_out} notes of municipality {c} are left out: its paper protocols are keyed at the desk"
            );
            (packs[0].clone(), packs[1].clone())
        }
        None => (
            source.join("protocols.notes"),
            source.join("amendments.notes"),
        ),
    };
    out!("3. Ingesting the signed protocols (verify signature, parse, validate, store durably)");
    let r1 = ingest_paths(&mut store, &[protocols], false, true)?;
    out!("   {}", report::ingest_line(&r1));
    if open_lists {
        print_preference_quarantine(&sim, &mut store)?;
    }
    out!(
        "4. Ingesting amendments for the quarantined stations, co-signed by the central commission"
    );
    let r2 = ingest_paths(&mut store, &[amendments], false, true)?;
    out!("   {}", report::ingest_line(&r2));
    out!("5. Submitting forged, altered and replayed notes; each must be refused:");
    let attacks = sim.attacks();
    for (what, bytes) in attacks {
        let mut line = String::new();
        store.ingest(
            std::iter::once(Ok(bytes)),
            &IngestOptions::default(),
            &SystemClock,
            |ack| {
                line = match ack.outcome {
                    Outcome::Rejected(r) => format!("refused ({}): {r}", r.code()),
                    other => format!("NOT REFUSED: {other:?}"),
                }
            },
        )?;
        out!("   - {what}: {line}");
    }
    out!("6. Transparency log: every stored note is a leaf; the witnesses cosign the checkpoint");
    out!(
        "   {}",
        urna_server::publish::publish(&urna_store::log::PublicLog::open(store.dir())?)?
    );
    if let Some(cp) = urna_store::log::read_published(&store_dir)? {
        out!();
        for line in String::from_utf8_lossy(&cp).lines() {
            if line.is_empty() {
                out!();
            } else {
                out!("   {line}");
            }
        }
    }
    out!("\n7. Tally from the stored notes\n");
    let contest = urna_model::definition::ContestIdx(0);
    let r = store.tally(contest)?;
    // Five candidates a list: the demo shows the shape; `urna tally` lists every one.
    report::write_summary_with(&mut std::io::stdout().lock(), store.election(), &r, Some(5))?;
    let allocation = match &chosen {
        Some(rule_set) => {
            let input = urna_tally::seats::VoteInput::from_tally(
                store.election(),
                r.tally(),
                rule_set,
                None,
            )?;
            urna_tally::seats::allocate(rule_set, &input)?
        }
        None => match urna_tally::seats::contest_seats(store.election(), r.tally()) {
            Some(seats) => seats?.1,
            None => bail!("the demo's definition names no seat rules"),
        },
    };
    out!(
        "\n8. Seats under rule set `{}` ({})\n",
        allocation.rule_set,
        allocation.title
    );
    seats::print_allocation(&allocation, false, false)?;
    out!(
        "   (explain every seat: urna seats --data {}{} --explain)",
        store_dir.display(),
        rules.map(|r| format!(" --rules {r}")).unwrap_or_default()
    );
    let bundle = store_dir.join("public");
    let mut writer = urna_server::bundle::BundleWriter::open(&store_dir, &bundle)?;
    writer.update()?;
    out!(
        "\n9. Public bundle (static files any web server, mirror or CDN can serve): {}",
        bundle.join("current").display()
    );
    out!(
        "   serve it, and take intake over HTTP: urna serve --data {}",
        store_dir.display()
    );
    // 10. What anyone can do with the bundle: trust only the log key and the witnesses' keys,
    // and recompute everything.
    let log_key = store.log_vkey();
    let witnesses_toml = store_dir.join(urna_store::WITNESSES_FILE);
    out!(
        "\n10. Anyone re-verifies the whole election from the bundle, trusting only the log key and the witnesses' keys:"
    );
    out!(
        "   urna verify {} --log-key {log_key} --trust {}\n",
        bundle.display(),
        witnesses_toml.display()
    );
    let trust = urna_verify::Trust::from_parts(
        Some(&urna_verify::TrustFile::load(&witnesses_toml)?),
        Some(&log_key),
        &[],
        None,
    )?;
    let source = urna_verify::DirSource::open(&bundle)?;
    let report = urna_verify::verify(&source, &trust, None, &|_| {})?;
    for line in report.summary().lines() {
        out!("   {line}");
    }
    out!(
        "\nData directory: {} (try `urna tally --data {}`)",
        store_dir.display(),
        store_dir.display()
    );
    if !report.verified {
        return Ok(ExitCode::from(1));
    }
    let Some(listener) = listener else {
        out!(
            "\nResults page: http://{listen}/ once you run\n   urna serve --data {} --listen {listen}",
            store_dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    // `urna serve` opens the store itself; the witnesses stay up to cosign what it takes in.
    drop(store);
    let mut centre_desk = match (desk_listener, &centre) {
        (Some(l), Some(c)) => Some(demo_desk::prepare(&store_dir, &data.join("source"), c, l)?),
        (Some(_), None) => {
            eprintln!(
                "urna demo: the desk is not started: it needs a municipality that is not a whole district and that the demo's attacks leave alone (--stations 2100 or more)"
            );
            None
        }
        _ => None,
    };
    let mut desk_thread = None;
    // As `urna serve` does: the default connection bound follows the raised limit.
    let _ = urna_server::raise_open_file_limit();
    let config = urna_server::serve::ServeConfig::new(&store_dir);
    serve_cmd::run_until_signal(&config, listener, None, |bound| {
        let line = "=".repeat(72);
        println!("\n{line}");
        println!("  Results page: http://{}/", bound.api);
        println!(
            "  The same service as `urna serve --data {}`: the public bundle, and intake at",
            store_dir.display()
        );
        println!(
            "  POST http://{}/v1/protocols. Stop with Ctrl-C.",
            bound.api
        );
        println!("{line}");
        if let Some(d) = centre_desk.take() {
            match d.start(bound.api, &log_key) {
                Ok(t) => desk_thread = Some(t),
                Err(e) => eprintln!("urna demo: the desk did not start: {e:#}"),
            }
        }
    })?;
    if let Some(t) = desk_thread {
        let _ = t.join();
    }
    drop(witnesses);
    Ok(ExitCode::SUCCESS)
}

/// Candidates per list in `urna demo --open-lists`: about as many as the largest Albanian
/// district elects (Tirana, 37 seats in 2021).
const DEMO_CANDIDATES: u32 = 40;
/// Candidates a voter may mark in `urna demo --open-lists`, as in Kosovo (Law 08/L-228 on
/// General Elections, Art. 110.4: one to ten of the voted list).
const DEMO_MARKS: u32 = 10;

/// The demo's open-list line after the first intake: the preference errors the simulation
/// wrote into protocols, and which of them the rules quarantined, by rule.
fn print_preference_quarantine(sim: &Simulation, store: &mut Store) -> Result<()> {
    use urna_model::rules::Severity;
    let injected: Vec<urna_sim::PreferenceError> = (0..sim.config().stations)
        .filter_map(|i| sim.station(i).preference_error)
        .collect();
    let moved = injected
        .iter()
        .filter(|k| **k == urna_sim::PreferenceError::Moved)
        .count();
    let r = store.tally(urna_model::definition::ContestIdx(0))?;
    let mut by_rule: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    let mut stations = 0u64;
    for (_, sub) in &r.quarantined {
        let mut any = false;
        for v in &sub.violations {
            if v.severity == Severity::Error && v.rule.starts_with("preference") {
                *by_rule.entry(v.rule.as_str()).or_default() += 1;
                any = true;
            }
        }
        stations += u64::from(any);
    }
    out!(
        "   Preference errors written into {} protocols: {stations} quarantined by the preference rules ({}); {moved} moved votes between candidates of one list, which no rule can see (the list's totals still add up)",
        injected.len(),
        if by_rule.is_empty() {
            "none".to_owned()
        } else {
            by_rule
                .iter()
                .map(|(rule, n)| format!("{rule}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    Ok(())
}

/// Witness processes started by the demo; killed when dropped.
struct DemoWitnesses(Vec<std::process::Child>);

impl Drop for DemoWitnesses {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts two `urna witness serve` processes on loopback for the demo's log and writes the
/// store's `witnesses.toml` (quorum 2 of 2).
fn start_demo_witnesses(data: &Path, store: &Store) -> Result<DemoWitnesses> {
    use std::io::BufRead as _;
    let exe = std::env::current_exe().context("locating the urna binary")?;
    let dir = data.join("witnesses");
    std::fs::create_dir_all(&dir)?;
    let mut children = DemoWitnesses(Vec::new());
    let mut policy =
        String::from("# Written by urna demo: the witnesses it started.\nquorum = 2\n");
    for name in ["cyber-security-agency", "observer-mission"] {
        let key = urna_server::witness_key::WitnessKey::generate(name)?;
        let key_path = dir.join(format!("{name}.key"));
        key.write_new(&key_path)?;
        let mut child = std::process::Command::new(&exe)
            .args([
                "witness",
                "serve",
                "--init-state",
                "--listen",
                "127.0.0.1:0",
            ])
            .arg("--key")
            .arg(&key_path)
            .arg("--state")
            .arg(dir.join(format!("{name}.state")))
            .arg("--log")
            .arg(format!("{}={}", store.log_origin(), store.log_vkey()))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting a witness")?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            std::io::BufReader::new(stdout).read_line(&mut line)?;
        }
        children.0.push(child);
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .with_context(|| format!("witness {name} did not start: {line:?}"))?
            .to_owned();
        out!("   - witness {name} at {url}");
        policy.push_str(&format!(
            "\n[[witness]]\nname = \"{name}\"\nurl = \"{url}\"\nkey = \"{}\"\n",
            key.verifier().to_vkey()
        ));
    }
    std::fs::write(store.dir().join(urna_store::WITNESSES_FILE), policy)?;
    Ok(children)
}

/// Writes a simulation into `out` (which must be empty or absent), with a progress bar, and
/// the central commission's key under `secrets/`; returns the files written.
fn write_sim(sim: &Simulation, out: &Path) -> Result<Vec<PathBuf>> {
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        bail!("{} is not empty", out.display());
    }
    let pb = progress(u64::from(sim.config().stations), "signing protocols");
    let mut files = sim
        .write_files(out, &|n| pb.inc(n))
        .with_context(|| format!("writing the simulation to {}", out.display()))?;
    pb.finish_and_clear();
    let key = out.join("secrets").join("central-commission.key");
    urna_store::write_secret(&key, &sim.authority().to_skey())?;
    files.push(key);
    Ok(files)
}

/// Ingests note files, packs and directories of them, in the order given (directories sorted).
/// Rejections are said on stderr, as in [`ingest_paths_with`].
pub(crate) fn ingest_paths(
    store: &mut Store,
    paths: &[PathBuf],
    print_acks: bool,
    show_progress: bool,
) -> Result<IngestReport> {
    ingest_paths_with(
        store,
        paths,
        print_acks,
        show_progress,
        None,
        &IngestOptions::default(),
    )
    .map(|(report, _)| report)
}

/// "1 note" or "N notes".
fn notes_count(n: u64) -> String {
    format!("{n} note{}", if n == 1 { "" } else { "s" })
}

/// Rejected notes said one by one on stderr, before the count of the rest.
const REJECTIONS_SHOWN: usize = 20;

/// Where each input file's notes start in the stream of notes, to name a note by its file
/// and, in a pack, its number.
#[derive(Default)]
struct Origins(Vec<Origin>);

struct Origin {
    /// Position (0-based, in the whole input) of the file's first note.
    first: u64,
    path: PathBuf,
    is_pack: bool,
}

impl Origins {
    /// `FILE` or `PACK: note N` (1-based) for the note at `position` of the whole input.
    fn name(&self, position: u64) -> String {
        let i = self.0.partition_point(|o| o.first <= position);
        match i.checked_sub(1).and_then(|i| self.0.get(i)) {
            Some(o) if o.is_pack => {
                format!("{}: note {}", o.path.display(), position - o.first + 1)
            }
            Some(o) => o.path.display().to_string(),
            None => format!("note {}", position + 1),
        }
    }
}

/// The files named on a command line, with each directory replaced by the files under it
/// (recursively, sorted by name), in the order given. An entry that is neither a file nor a
/// directory (a FIFO, a socket, a link to a directory) is named on stderr as skipped, never
/// passed over in silence.
pub(crate) fn note_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            dir_files(p, &mut files)?;
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}

/// The files under `dir`, depth first, each directory's entries sorted by name.
fn dir_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e.with_context(|| format!("reading {}", dir.display()))?;
        let kind = e
            .file_type()
            .with_context(|| format!("reading {}", e.path().display()))?;
        entries.push((e.path(), kind));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, kind) in entries {
        if kind.is_dir() {
            dir_files(&path, files)?;
        } else if path.is_file() {
            // A file, or a link to one.
            files.push(path);
        } else {
            eprintln!(
                "urna: skipped {}: not a note file or a directory",
                path.display()
            );
        }
    }
    Ok(())
}

/// [`ingest_paths`], optionally writing a signed receipt for every stored note. Says why
/// each of the first [`REJECTIONS_SHOWN`] rejected notes was rejected on stderr, naming its
/// file (and number in a pack), then how many more were; returns the report and the first
/// rejection so said.
pub(crate) fn ingest_paths_with(
    store: &mut Store,
    paths: &[PathBuf],
    print_acks: bool,
    show_progress: bool,
    receipts: Option<&Path>,
    options: &IngestOptions,
) -> Result<(IngestReport, Option<String>)> {
    let files = note_files(paths)?;
    let total: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let pb = if show_progress {
        progress(total, "ingesting")
    } else {
        ProgressBar::hidden()
    };
    let pb2 = pb.clone();
    let origins = Arc::new(Mutex::new(Origins::default()));
    let origins2 = Arc::clone(&origins);
    // Notes handed to the store so far; only the reading thread touches it.
    let read2 = Arc::new(AtomicU64::new(0));
    let read3 = Arc::clone(&read2);
    let notes = files
        .into_iter()
        .flat_map(
            move |f| -> Box<dyn Iterator<Item = std::io::Result<Vec<u8>>> + Send> {
                let is_pack = f.extension().is_some_and(|e| e == PACK_EXTENSION);
                origins2
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
                    .push(Origin {
                        first: read2.load(Ordering::Relaxed),
                        path: f.clone(),
                        is_pack,
                    });
                let pb = pb2.clone();
                match File::open(&f) {
                    Err(e) => Box::new(std::iter::once(Err(std::io::Error::new(
                        e.kind(),
                        format!("{}: {e}", f.display()),
                    )))),
                    Ok(file) if is_pack => Box::new(
                        PackReader::new(BufReader::with_capacity(1 << 20, file)).inspect(
                            move |n| {
                                if let Ok(n) = n {
                                    pb.inc(n.len() as u64 + 2);
                                }
                            },
                        ),
                    ),
                    Ok(_) => Box::new(std::iter::once(
                        std::fs::read(&f).inspect(|n| pb.inc(n.len() as u64)),
                    )),
                }
            },
        )
        .inspect(move |_| {
            read3.fetch_add(1, Ordering::Relaxed);
        });
    let mut out = std::io::stdout().lock();
    let mut write_err = None;
    let mut stored: Vec<(u64, [u8; 32], u64)> = Vec::new();
    let mut rejections: Vec<String> = Vec::new();
    let report = store.ingest(notes, options, &SystemClock, |ack| {
        if let (Some(_), Outcome::Stored { index, .. }, Some(hash)) =
            (receipts, ack.outcome, ack.hash)
        {
            stored.push((*index, hash, urna_store::Clock::now_ms(&SystemClock)));
        }
        if let Outcome::Rejected(r) = ack.outcome
            && rejections.len() < REJECTIONS_SHOWN
        {
            // The reader named the note's file before handing the note on.
            let name = origins
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .name(ack.position);
            rejections.push(format!("{name}: {r} ({})", r.code()));
        }
        if !print_acks || write_err.is_some() {
            return;
        }
        let line = match ack.outcome {
            Outcome::Stored { index, verdict } => format!(
                "ack {} {index} {} {} sha256:{}",
                ack.position,
                if *verdict == Verdict::Quarantined {
                    "quarantined"
                } else {
                    "accepted"
                },
                ack.station.unwrap_or_default(),
                ack.hash.map(|h| hex(&h)).unwrap_or_default()
            ),
            Outcome::Duplicate { .. } => format!(
                "dup {} sha256:{}",
                ack.position,
                ack.hash.map(|h| hex(&h)).unwrap_or_default()
            ),
            Outcome::Rejected(r) => format!("reject {} {} {r}", ack.position, r.code()),
        };
        if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            write_err = Some(e);
        }
    })?;
    pb.finish_and_clear();
    for r in &rejections {
        eprintln!("urna: rejected {r}");
    }
    let unsaid = report.rejected.saturating_sub(rejections.len() as u64);
    if unsaid > 0 {
        eprintln!(
            "urna: … and {unsaid} more rejected ({} rejected in all; --print-acks lists every one)",
            notes_count(report.rejected)
        );
    }
    if let Some(e) = write_err {
        return Err(e.into());
    }
    if let Some(path) = receipts {
        let mut w = BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        );
        for (index, hash, time) in stored {
            write_note(&mut w, &store.receipt(index, &hash, time))?;
        }
        w.into_inner()?.sync_all()?;
    }
    Ok((report, rejections.into_iter().next()))
}

pub(crate) fn progress(len: u64, what: &'static str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:>18} [{bar:40}] {percent:>3}% {elapsed_precise} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(what);
    pb
}

#[cfg(test)]
mod tests {
    use super::chain_text;

    /// An error that prints its source and also returns it, as `#[error("{path}: {source}")]`.
    #[derive(Debug)]
    struct WithPath {
        path: String,
        source: std::io::Error,
    }

    impl std::fmt::Display for WithPath {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}: {}", self.path, self.source)
        }
    }

    impl std::error::Error for WithPath {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn chain_text_says_each_cause_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let cases: [(anyhow::Error, &str, &str); 3] = [
            (
                anyhow::Error::new(WithPath {
                    path: "e.toml".into(),
                    source: io(),
                })
                .context("initialising d"),
                "initialising d: e.toml: no such file",
                "a source the message already prints",
            ),
            (
                anyhow::Error::new(io()).context("reading e.toml"),
                "reading e.toml: no such file",
                "a plain chain stays whole",
            ),
            (
                anyhow::anyhow!("no built-in rule set named `x`").context("--rules"),
                "--rules: no built-in rule set named `x`",
                "context over a message",
            ),
        ];
        for (e, want, what) in cases {
            assert_eq!(chain_text(&e), want, "{what}");
        }
    }
}
