//! `urna audit start | seed | sample --key | count | verdict`: an audit recorded in the log.
//! Each command computes its step from what the log already holds (the audited results, the
//! logged seed, the logged counts), signs it as an `urna/audit/v1` note with the authority key
//! given, and has it stored and sequenced into the transparency log, whose intake checks it
//! again. Two ways to store it:
//!
//! - without `--to`, into the data directory itself (the store has one writer: not while
//!   `urna serve` runs on it);
//! - with `--to URL --log-key VKEY`, through the running `urna serve` that holds the data
//!   directory: the step is computed from the directory **read-only** (its definition and
//!   committed entries, as `urna decide` reads them), then sent like any note to
//!   `POST URL/v1/protocols`, whose intake replays the audit trail and refuses a step that
//!   does not follow (409 `audit-does-not-follow`); the receipt is verified against the log
//!   key. A copy of the directory that lags behind the server computes a step the server
//!   refuses, so nothing read locally has to be trusted.
//! - with `--store URL --definition FILE --to URL --log-key VKEY`, on PostgreSQL: the step is
//!   computed from the database **read-only** (its definition digest checked against the
//!   file and the genesis, its entries up to the latest checkpoint the log key signed, which
//!   they must hash to: rows edited behind the log are refused, naming the entry) and sent to
//!   one of its nodes, as above.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use urna_audit::trail::{ContestAudit, LogView, Plan, Trail};
use urna_model::audit::{AuditBody, AuditStep, Decision, format_limit, format_risk, is_audit};
use urna_model::definition::{ContestIdx, Election};
use urna_model::note::{NoteSigner, NoteVerifier};
use urna_model::protocol::hex;
use urna_server::submit::{SubmitClient, SubmitError, SubmitOptions};
use urna_store::audit::AuditRefusal;
use urna_store::reader::EntryReader;
use urna_store::{DEFINITION_FILE, Store};
use urna_tally::public::Replay;

/// Options of every logged step.
#[derive(clap::Args)]
pub(crate) struct LogArgs {
    /// Data directory (read-only with --to).
    #[arg(long, required_unless_present = "store", conflicts_with = "store")]
    pub(crate) data: Option<PathBuf>,
    /// A PostgreSQL store (`postgres://…`) instead of a data directory, read only: the step
    /// goes to one of its nodes (--to).
    #[arg(long, value_name = "URL", requires_all = ["definition", "to"])]
    pub(crate) store: Option<String>,
    /// With --store: the election definition the store was initialised with.
    #[arg(long, value_name = "FILE", requires = "store")]
    pub(crate) definition: Option<PathBuf>,
    /// Key file of an authority whose scope is the whole election (`urna keys generate`; the
    /// central commission's).
    #[arg(long)]
    pub(crate) key: PathBuf,
    /// The audited contest (default: the first).
    #[arg(long)]
    pub(crate) contest: Option<String>,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
}

/// Where to send a step instead of writing it into the data directory.
#[derive(clap::Args, Default)]
pub(crate) struct ServerArgs {
    /// Send the signed step to this running `urna serve` (its base URL, e.g.
    /// `https://results.example`); the data directory is then only read.
    #[arg(long, requires = "log_key")]
    pub(crate) to: Option<String>,
    /// With --to: the log's verifier key (`urna log key --data DIR`); only receipts it signed
    /// are accepted.
    #[arg(long, requires = "to")]
    pub(crate) log_key: Option<String>,
    /// With an https:// --to: the PEM file of the CA its certificate must chain to; without
    /// it, Mozilla's roots.
    #[arg(long, requires = "to", value_name = "FILE")]
    pub(crate) ca_cert: Option<PathBuf>,
    /// With an https:// --to: a pinned public key, `sha256/<base64>` (`urna keys pin --cert
    /// FILE` prints it); repeat for a backup key. The server's certificate must have one of
    /// them; without --ca-cert the pin alone is checked, so a self-signed certificate serves.
    #[arg(long = "pin", requires = "to", value_name = "sha256/BASE64")]
    pub(crate) pins: Vec<urna_server::pin::SpkiPin>,
}

/// Where the steps are read from and stored.
enum Backend {
    /// The data directory, written through its store.
    Store(Box<Store>),
    /// A running server, with the data directory read.
    Server(Box<Remote>),
}

/// A running server and the data directory it holds, read.
struct Remote {
    log: DirLog,
    client: SubmitClient,
}

struct Session {
    backend: Backend,
    signer: NoteSigner,
    contest: ContestIdx,
}

impl Session {
    fn open(args: &LogArgs) -> Result<Self> {
        let backend = match (&args.server.to, &args.data) {
            (None, Some(data)) => Backend::Store(Box::new(
                Store::open(data).with_context(|| format!("opening {}", data.display()))?,
            )),
            (None, None) => bail!("--store: steps go to one of its nodes: give --to and --log-key"),
            (Some(to), data) => {
                let vkey = args.server.log_key.as_deref().unwrap_or_default();
                let log_key = NoteVerifier::from_vkey(vkey)
                    .map_err(|e| anyhow!("--log-key {vkey:?}: {e}"))?;
                let options = SubmitOptions {
                    timeout: Duration::from_secs(30),
                    ca_cert: args.server.ca_cert.clone(),
                    pins: args.server.pins.clone(),
                    ..SubmitOptions::default()
                };
                let client = SubmitClient::new(to, log_key.clone(), options)
                    .map_err(|e| anyhow!("--{}: {}", e.field.replace('_', "-"), e.rule))?;
                let log = match (data, &args.store, &args.definition) {
                    (Some(data), _, _) => {
                        let election =
                            Election::load(&data.join(DEFINITION_FILE)).with_context(|| {
                                format!("{}: not an urna data directory", data.display())
                            })?;
                        DirLog::read(data, election, &log_key)?
                    }
                    (None, Some(url), Some(definition)) => {
                        let election = Election::load(definition)
                            .with_context(|| format!("--definition {}", definition.display()))?;
                        DirLog::read_pg(url, election, &log_key)?
                    }
                    _ => bail!("--data, or --store with --definition: the election's log"),
                };
                Backend::Server(Box::new(Remote { log, client }))
            }
        };
        let skey = std::fs::read_to_string(&args.key)
            .with_context(|| format!("--key: reading {}", args.key.display()))?;
        let signer = NoteSigner::from_skey(skey.trim())
            .with_context(|| format!("--key {}", args.key.display()))?;
        let mut s = Self {
            backend,
            signer,
            contest: ContestIdx(0),
        };
        if let Some(id) = &args.contest {
            s.contest = s
                .election()
                .contest(id)
                .with_context(|| format!("--contest {id}: not a contest of this election"))?;
        }
        Ok(s)
    }

    fn election(&self) -> &Election {
        match &self.backend {
            Backend::Store(store) => store.election(),
            Backend::Server(r) => &r.log.election,
        }
    }

    /// Entries in the log.
    fn len(&self) -> u64 {
        match &self.backend {
            Backend::Store(store) => store.len(),
            Backend::Server(r) => r.log.notes.len() as u64,
        }
    }

    /// The log as the audit trail sees it.
    fn view(&self) -> Box<dyn LogView + '_> {
        match &self.backend {
            Backend::Store(store) => Box::new(StoreView(store)),
            Backend::Server(r) => Box::new(&r.log),
        }
    }

    fn audit(&self) -> Result<ContestAudit> {
        let trail = match &self.backend {
            Backend::Store(store) => store.audit_trail()?,
            Backend::Server(r) => r.log.trail(),
        };
        trail.audit(self.contest).cloned().with_context(|| {
            format!(
                "contest {} has no audit yet: run `urna audit start` first",
                self.election().contests[self.contest.0 as usize].id
            )
        })
    }

    /// Signs the step and stores it; returns its log index.
    fn log(&mut self, step: AuditStep) -> Result<u64> {
        let e = self.election();
        let body = AuditBody {
            election: e.id.clone(),
            contest: e.contests[self.contest.0 as usize].id.clone(),
            step,
        };
        let note = self.signer.sign_text(&body.to_text()).to_bytes();
        self.append(note, body.step.kind())
    }

    /// Appends a signed audit note of kind `kind`: into the store, or through the server.
    fn append(&mut self, note: Vec<u8>, kind: &str) -> Result<u64> {
        match &mut self.backend {
            Backend::Store(store) => match store.append_audit(&note) {
                Ok(index) => Ok(index),
                Err(AuditRefusal::Store(err)) => Err(err.into()),
                Err(refusal) => bail!("the {kind} note was refused: {refusal}"),
            },
            Backend::Server(r) => match r.client.submit(&note) {
                Ok(stored) => {
                    // What the next step of this run reads, as the server now holds it.
                    let notes = &mut r.log.notes;
                    notes.truncate(usize::try_from(stored.index).unwrap_or(usize::MAX));
                    if notes.len() as u64 == stored.index {
                        notes.push(note);
                    }
                    Ok(stored.index)
                }
                Err(SubmitError::Refused {
                    status,
                    code,
                    message,
                    ..
                }) => bail!(
                    "the {kind} note was refused by {} ({status} {code}): {message}",
                    r.client.endpoint()
                ),
                Err(err) => Err(anyhow!(err))
                    .with_context(|| format!("sending the {kind} note to {}", r.client.endpoint())),
            },
        }
    }
}

/// The committed entries of a data directory, read without opening its store (a running
/// server holds it), as the audit trail sees a log.
struct DirLog {
    notes: Vec<Vec<u8>>,
    election: Election,
}

impl DirLog {
    /// Every committed entry of the data directory `data`, covered by a checkpoint or not
    /// (what `urna audit status` prints from, with no log key to check them by).
    fn read_unsigned(data: &Path, election: Election) -> Result<Self> {
        let reader = entry_reader(data, &election)?;
        let notes = reader.read(0, reader.len()?)?;
        Ok(Self { notes, election })
    }

    /// The entries of the data directory `data` that the log's latest checkpoint
    /// (`log-latest.checkpoint`, signed by `log_key`) covers, checked as [`DirLog::read_pg`]
    /// checks a PostgreSQL store's: the database edited behind the log is refused.
    fn read(data: &Path, election: Election, log_key: &NoteVerifier) -> Result<Self> {
        let reader = entry_reader(data, &election)?;
        let what = format!("--data {}", data.display());
        let (checkpoint, stored) = signed_cover(
            &what,
            urna_store::log::LATEST_CHECKPOINT_FILE,
            &election,
            log_key,
            || {
                let latest = urna_store::log::read_latest(data)?;
                Ok((latest, reader.len()?))
            },
        )?;
        let size = checkpoint.size.0;
        if size > stored {
            bail!(
                "{what}: the log signed a checkpoint of {size} entries but the store holds {stored}: entries were dropped from the database outside urna"
            );
        }
        let notes = reader.read(0, size)?;
        let log = Self { notes, election };
        if (&log).root(size) != Some(checkpoint.root.0) {
            bail!(
                "{what}: the {size} stored entries do not hash to the root of the checkpoint the log signed at {size} entries: the database was edited outside urna; no step is computed from it"
            );
        }
        log.check_genesis().context(what)?;
        Ok(log)
    }

    /// The entries of the PostgreSQL store at `url` that the log's latest checkpoint covers,
    /// whose definition must be `election`'s (read only: a node holds the store). The
    /// checkpoint must be signed by `log_key`, and the entries as read must hash to its root:
    /// a step is computed only from what the log signed, never from rows edited behind it (a
    /// note changed, an entry dropped, the genesis of another definition). Entries committed
    /// but not yet in a checkpoint are waited for (a node signs one at least every
    /// `--checkpoint-ms`), up to [`COVER_WAIT`].
    fn read_pg(url: &str, election: Election, log_key: &NoteVerifier) -> Result<Self> {
        if !crate::pg_cmd::is_url(url) {
            bail!("--store {url:?}: not a PostgreSQL URL (a data directory: --data)");
        }
        let mut reader =
            urna_pg::PgReader::connect(url).context("--store: connecting to PostgreSQL")?;
        let recorded = reader
            .meta("definition_sha256")
            .context("--store")?
            .context("--store: no urna store in this database (`urna init --store` first)")?;
        if recorded != hex(&election.digest) {
            bail!(
                "--definition: not the definition the store was initialised with (sha256:{recorded} then, sha256:{} now)",
                hex(&election.digest)
            );
        }
        let (checkpoint, stored) = signed_cover(
            "--store",
            "the checkpoint in table `sequencer`",
            &election,
            log_key,
            || {
                let latest = reader.checkpoint().context("--store")?;
                Ok((latest, reader.entries().context("--store")?))
            },
        )?;
        let size = checkpoint.size.0;
        if size > stored {
            bail!(
                "--store: the log signed a checkpoint of {size} entries but table `intake_head` counts {stored}: entries were dropped from the database outside urna"
            );
        }
        let notes = reader.notes(0, size).context("--store")?;
        let log = Self { notes, election };
        if (&log).root(size) != Some(checkpoint.root.0) {
            let first = first_unsigned(&mut reader, &log.notes).map_or_else(String::new, |i| {
                format!(" (entry {i} is not the one the log signed)")
            });
            bail!(
                "--store: the {size} entries in table `entries` do not hash to the root of the checkpoint the log signed at {size} entries{first}: the database was edited outside urna; no step is computed from it"
            );
        }
        log.check_genesis().context("--store")?;
        Ok(log)
    }

    /// Entry 0 must be the genesis of this definition: a definition swapped with its digest in
    /// the store's metadata is refused here, naming the genesis, not later as an audit that is
    /// missing.
    fn check_genesis(&self) -> Result<()> {
        let e = &self.election;
        let genesis = self
            .notes
            .first()
            .context("the log holds no genesis entry")?;
        Replay::new(e)
            .map_err(|err| anyhow!("{err}"))?
            .apply(e, 0, genesis)
            .map_err(|err| anyhow!("{err}"))?;
        Ok(())
    }

    /// Every audit in the log, its entries replayed in order.
    fn trail(&self) -> Trail {
        let e = &self.election;
        let mut trail = Trail::default();
        for (index, note) in (0..).zip(&self.notes) {
            if index > 0 && is_audit(note) {
                // The server's intake admitted each of them; one that does not follow is left
                // out of the trail, as every verifier leaves it out.
                let _ = trail.replay(e, index, note, &self);
            }
        }
        trail
    }
}

impl LogView for &DirLog {
    fn root(&self, size: u64) -> Option<[u8; 32]> {
        let notes = self.notes.get(..usize::try_from(size).ok()?)?;
        let mut tree = urna_tlog::tree::Tree::new();
        let mut finished = Vec::new();
        for note in notes {
            finished.clear();
            tree.append(urna_tlog::hash::leaf_hash(note), &mut finished)
                .ok()?;
        }
        Some(tree.root().0)
    }

    fn replay(&self, size: u64) -> Result<Replay, String> {
        let e = &self.election;
        let mut replay = Replay::new(e).map_err(|err| err.to_string())?;
        let n = usize::try_from(size).map_err(|err| err.to_string())?;
        let notes = self
            .notes
            .get(..n)
            .ok_or_else(|| format!("the log holds {} entries, not {size}", self.notes.len()))?;
        for (index, note) in (0..).zip(notes) {
            replay
                .apply(e, index, note)
                .map_err(|err| err.to_string())?;
        }
        Ok(replay)
    }
}

/// The entries of the data directory `data`, read without opening its store (a running server
/// holds it), whose definition must be `election`'s.
fn entry_reader(data: &Path, election: &Election) -> Result<EntryReader> {
    let reader = EntryReader::open(data)?;
    let recorded = reader.definition_sha256()?;
    if recorded != hex(&election.digest) {
        bail!(
            "{}: the definition file changed after `urna init` (sha256:{recorded} then, sha256:{} now)",
            data.display(),
            hex(&election.digest)
        );
    }
    Ok(reader)
}

/// How long a step from `--store` or `--data … --to` waits for the log to sign a checkpoint over every stored
/// entry (a node signs one at least every `--checkpoint-ms`, 1 s by default).
const COVER_WAIT: Duration = Duration::from_secs(10);

/// The latest checkpoint the log signed, verified under `log_key`, once it covers every entry
/// stored when this began: a step is computed only from entries a signed checkpoint covers
/// (the step before it included), waited for up to [`COVER_WAIT`]; later entries need not
/// be covered, so a log taking notes all the time is no reason to wait longer. `read` gives
/// the checkpoint (`file` names it in refusals), then the entries stored, read in that order
/// so that an honest store holds every entry its checkpoint covers. The checkpoint, and the
/// entries stored when it was read.
///
/// # Errors
/// A checkpoint the key did not sign, none at all, or entries still uncovered after the wait.
fn signed_cover(
    what: &str,
    file: &str,
    election: &Election,
    log_key: &NoteVerifier,
    mut read: impl FnMut() -> Result<(Option<Vec<u8>>, u64)>,
) -> Result<(urna_tlog::checkpoint::Checkpoint, u64)> {
    let origin = election.log_origin();
    let waited = std::time::Instant::now();
    let (_, wanted) = read()?;
    loop {
        let (note, stored) = read()?;
        let signed = match note {
            None => None,
            Some(note) => Some(
                urna_tlog::checkpoint::open(&note, &origin, log_key)
                    .map_err(|e| {
                        anyhow!(
                            "{what}: {file} is not a checkpoint the log key signed ({e}): the store was edited outside urna, or --log-key is not this log's"
                        )
                    })?
                    .0,
            ),
        };
        let size = signed.as_ref().map_or(0, |c| c.size.0);
        if size >= wanted {
            let signed =
                signed.with_context(|| format!("{what}: the log has signed no checkpoint yet"))?;
            return Ok((signed, stored));
        }
        if waited.elapsed() >= COVER_WAIT {
            bail!(
                "{what}: entries {size} to {} are stored but in no checkpoint the log signed (after {} s): a step is computed only from entries a signed checkpoint covers; is the log's server running and sequencing?",
                wanted - 1,
                COVER_WAIT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The first of `notes` whose leaf hash is not the one level 0 of the log's hash tiles (table
/// `tiles`) holds at its index: which entry an edit changed, named in the refusal. `None` if
/// the tiles cannot say (edited too, or not stored).
fn first_unsigned(reader: &mut urna_pg::PgReader, notes: &[Vec<u8>]) -> Option<u64> {
    const WIDTH: usize = urna_tlog::tile::TILE_WIDTH as usize;
    for (t, part) in (0u64..).zip(notes.chunks(WIDTH)) {
        let width = u16::try_from(part.len()).ok()?;
        let tile = urna_tlog::tile::Tile::hash(0, t, width).ok()?;
        let bytes = reader.tile(&tile.path()).ok()??;
        let hashes = urna_tlog::tile::decode_hash_tile(&bytes, width).ok()?;
        for (i, (note, signed)) in (t * WIDTH as u64..).zip(part.iter().zip(&hashes)) {
            if urna_tlog::hash::leaf_hash(note) != *signed {
                return Some(i);
            }
        }
    }
    None
}

/// `urna audit start`.
pub(crate) fn start(
    args: &LogArgs,
    rules: Option<&str>,
    seats: Option<u32>,
    risk_limit: f64,
    rounds: u32,
) -> Result<ExitCode> {
    let mut s = Session::open(args)?;
    let e = s.election();
    let contest = &e.contests[s.contest.0 as usize];
    let rules = match rules {
        Some(r) if r.contains('/') || r.ends_with(".toml") => {
            bail!("--rules {r}: a logged audit names a built-in rule set, which every verifier has")
        }
        Some(r) => r.to_owned(),
        None => contest
            .seats
            .as_ref()
            .map(|c| c.rules.clone())
            .with_context(|| {
                format!(
                    "the definition names no seat rules for contest {:?}; give --rules",
                    contest.id
                )
            })?,
    };
    let micros = (risk_limit * 1e6).round();
    if !(1.0..=f64::from(urna_model::audit::MAX_RISK_LIMIT)).contains(&micros) {
        bail!(
            "--risk-limit {risk_limit}: {}",
            urna_model::audit::RISK_LIMIT_RULE
        );
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let micros = micros as u32;
    let plan = Plan {
        size: s.len(),
        rules,
        seats,
        risk_limit: micros,
        rounds,
    };
    let audit = ContestAudit::plan(e, s.contest, &plan, &*s.view())
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    let stations = audit.reported.input.batches.len();
    let quarantined = audit.reported.quarantined;
    let assertions = audit.outcome.assertions.len();
    let first = audit.audit.first_round_draws();
    let rounds_possible = audit.rounds_possible();
    let other_rules = not_the_contest(s.election(), &audit);
    let index = s.log(audit.start)?;
    out!(
        "entry {index}: audit of contest {} started over the first {} entries (rule set {}, risk limit {}, {rounds} rounds)",
        s.election().contests[s.contest.0 as usize].id,
        plan.size,
        plan.rules,
        format_limit(micros)
    );
    out!(
        "{stations} stations in the reported results ({quarantined} quarantined are not); {assertions} assertions; round 1 needs {first} draws"
    );
    if let Some(why) = other_rules.strip_prefix("; ") {
        out!(
            "note: this audit confirms the outcome of rule set {} only: {why}",
            plan.rules
        );
    }
    if rounds_possible == 0 {
        out!(
            "no sample can confirm this outcome: log `urna audit verdict` (round 0) for a full hand count"
        );
    } else {
        out!("next: roll the seed in public and log it with `urna audit seed`");
    }
    Ok(ExitCode::SUCCESS)
}

/// `urna audit seed`.
pub(crate) fn seed(args: &LogArgs, seed: &str) -> Result<ExitCode> {
    urna_audit::sampler::check_seed(seed)?;
    let mut s = Session::open(args)?;
    s.audit()?;
    let index = s.log(AuditStep::Seed {
        seed: seed.to_owned(),
    })?;
    out!("entry {index}: seed {seed} logged; next: `urna audit sample`");
    Ok(ExitCode::SUCCESS)
}

/// `urna audit sample --key`: the next round's sample from the logged seed.
pub(crate) fn sample(args: &LogArgs) -> Result<ExitCode> {
    let mut s = Session::open(args)?;
    let audit = s.audit()?;
    let round = u32::try_from(audit.samples.len()).unwrap_or(u32::MAX) + 1;
    let step = audit
        .sample_step(round)
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    let index = s.log(step.clone())?;
    if let AuditStep::Sample {
        first,
        last,
        stations,
        ..
    } = &step
    {
        out!(
            "entry {index}: round {round}: draws {first}-{last}; {} new station(s) to hand count",
            stations.len()
        );
        for st in stations {
            out!("{st}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `urna audit count`: one count note per row of the file, for sampled stations not yet counted.
pub(crate) fn count(args: &LogArgs, counts: &Path) -> Result<ExitCode> {
    let mut s = Session::open(args)?;
    let audit = s.audit()?;
    let e = s.election();
    let lists: Vec<String> = e.contests[s.contest.0 as usize]
        .lists
        .iter()
        .map(|&l| e.lists[l].id.clone())
        .collect();
    let rows = read_counts(counts, &lists)?;
    let sampled: HashMap<&str, bool> = audit
        .samples
        .iter()
        .flat_map(|r| &r.batches)
        .map(|&b| {
            (
                audit.reported.input.batches[b].id.as_str(),
                audit.counts.contains_key(&b),
            )
        })
        .collect();
    let mut steps = Vec::new();
    let mut skipped = 0;
    for (station, hand) in rows {
        match sampled.get(station.as_str()) {
            None => bail!(
                "--counts {}: station {station} is not in any logged sample",
                counts.display()
            ),
            Some(true) => skipped += 1,
            Some(false) => {
                let invalid = hand[lists.len()];
                steps.push(AuditStep::Count {
                    station,
                    votes: lists.iter().cloned().zip(hand).collect(),
                    invalid,
                });
            }
        }
    }
    for step in steps {
        let station = match &step {
            AuditStep::Count { station, .. } => station.clone(),
            _ => String::new(),
        };
        let index = s.log(step)?;
        out!("entry {index}: hand count of {station} logged");
    }
    if skipped > 0 {
        out!("{skipped} station(s) already counted in the log were left as logged");
    }
    Ok(ExitCode::SUCCESS)
}

/// `urna audit count --from-desk`: the desk's signed counts of sampled stations not yet
/// counted, appended as they are (each keeps the desk's audit-key signature; intake checks it
/// and that the station was sampled, as for any count).
pub(crate) fn count_from_desk(args: &LogArgs, desk_db: &Path) -> Result<ExitCode> {
    if !desk_db.is_file() {
        bail!(
            "--from-desk {}: no such file (the desk keeps desk.sqlite in its --data directory)",
            desk_db.display()
        );
    }
    let mut s = Session::open(args)?;
    let audit = s.audit()?;
    let contest = s.election().contests[s.contest.0 as usize].id.clone();
    let notes = urna_desk::desk::audit::signed_counts(desk_db)
        .with_context(|| format!("--from-desk {}", desk_db.display()))?;
    let counted: HashMap<&str, u64> = audit
        .counts
        .iter()
        .map(|(&b, c)| (audit.reported.input.batches[b].id.as_str(), c.index))
        .collect();
    let (mut logged, mut skipped, mut refused) = (0, 0, 0);
    for (c, station, note) in notes {
        if c != contest {
            continue;
        }
        if let Some(index) = counted.get(station.as_str()) {
            out!(
                "{station}: already counted in the log at entry {index}; the desk's count was left out"
            );
            skipped += 1;
            continue;
        }
        // One count refused does not hold back the others: each is said, and the exit code
        // tells that some were.
        match s.append(note, "count") {
            Ok(index) => {
                out!("entry {index}: hand count of {station} keyed twice at the desk logged");
                logged += 1;
            }
            Err(err) => {
                eprintln!(
                    "urna: --from-desk {}: the count of {station} was not logged: {err:#}",
                    desk_db.display()
                );
                refused += 1;
            }
        }
    }
    out!("{logged} count(s) from the desk logged, {skipped} left out, {refused} not logged");
    Ok(if refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `urna audit verdict`: what the logged counts give for the last sampled round.
pub(crate) fn verdict(args: &LogArgs) -> Result<ExitCode> {
    let mut s = Session::open(args)?;
    let audit = s.audit()?;
    let round = u32::try_from(audit.samples.len()).unwrap_or(u32::MAX);
    let step = audit
        .verdict_step(round)
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    let index = s.log(step.clone())?;
    let AuditStep::Verdict {
        draws,
        risk,
        decision,
        ..
    } = step
    else {
        bail!("internal: a verdict step");
    };
    out!(
        "entry {index}: round {round}: {draws} draws evaluated; risk {} (limit {})",
        format_risk(risk),
        audit.audit.risk_limit
    );
    let e = s.election();
    let now = s.view().replay(s.len()).map_err(|err| anyhow!("{err}"))?;
    let what = audited_outcome(e, &audit);
    let code = match decision {
        Decision::RiskLimitMet => {
            out!(
                "verdict: risk limit met: {what} stands{}",
                not_the_contest(e, &audit)
            );
            ExitCode::SUCCESS
        }
        Decision::Escalate => {
            out!(
                "verdict: escalate: log round {}'s sample with `urna audit sample`",
                round + 1
            );
            ExitCode::SUCCESS
        }
        Decision::FullHandCount => {
            out!("verdict: full hand count");
            ExitCode::from(1)
        }
    };
    print_coverage(e, &audit, &now)?;
    Ok(code)
}

/// What an audit confirms: the reported seats, or the outcome of the rules it was run under.
fn audited_outcome(e: &Election, audit: &ContestAudit) -> String {
    if audit.audits_contest_seats(e) {
        return "the reported seats".to_owned();
    }
    match &audit.start {
        AuditStep::Start {
            rules,
            seats: Some(n),
            ..
        } => format!("the outcome audited (rule set {rules}, {n} seat(s))"),
        AuditStep::Start { rules, .. } => format!("the outcome audited (rule set {rules})"),
        _ => "the outcome audited".to_owned(),
    }
}

/// For an audit under rules other than the definition's: that it does not confirm the
/// contest's seats.
fn not_the_contest(e: &Election, audit: &ContestAudit) -> String {
    if audit.audits_contest_seats(e) {
        return String::new();
    }
    let contest = &e.contests[audit.contest.0 as usize];
    match &contest.seats {
        Some(cfg) => format!(
            "; it does not confirm the seats of contest {} (the definition's rule set is {}{})",
            contest.id,
            cfg.rules,
            cfg.house.map_or(String::new(), |h| format!(", {h} seats"))
        ),
        None => format!(
            "; the definition names no seat rules for contest {}, so no seats of it are confirmed",
            contest.id
        ),
    }
}

/// Whether the audit still covers the results as they are now; if not, what changed and what
/// to do.
fn print_coverage(e: &Election, audit: &ContestAudit, now: &Replay) -> Result<()> {
    let cov = audit.coverage(e, now);
    let size = match &audit.start {
        AuditStep::Start { size, .. } => *size,
        _ => 0,
    };
    if cov.covers() {
        out!(
            "coverage: the results now ({} entries) are the audited results ({size} entries)",
            now.applied()
        );
        return Ok(());
    }
    let names: Vec<&str> = cov
        .changed
        .iter()
        .take(10)
        .map(|s| e.stations[s.0 as usize].id.as_str())
        .collect();
    let more = cov.changed.len().saturating_sub(names.len());
    out!(
        "coverage: NOT COVERED: {} station(s) changed after the audited checkpoint ({size} entries): {}{}; the seats now are {}the audited seats",
        cov.changed.len(),
        names.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        },
        if cov.seats_as_audited { "" } else { "NOT " }
    );
    out!(
        "coverage: this audit does not cover the current results ({} entries): start a new audit of them (`urna audit start`)",
        now.applied()
    );
    Ok(())
}

/// `urna audit status`: the contest's audit as the log has it, and whether it still covers
/// the results. Reads the data directory without opening its store (works while `urna serve`
/// holds it). Exit 0 if the audit covers the current results, 1 if not.
pub(crate) fn status(data: &Path, contest: Option<&str>) -> Result<ExitCode> {
    let election = Election::load(&data.join(DEFINITION_FILE))
        .with_context(|| format!("{}: not an urna data directory", data.display()))?;
    let contest = match contest {
        Some(id) => election
            .contest(id)
            .with_context(|| format!("--contest {id}: not a contest of this election"))?,
        None => ContestIdx(0),
    };
    let log = DirLog::read_unsigned(data, election)?;
    let e = &log.election;
    let trail = log.trail();
    let audit = trail.audit(contest).with_context(|| {
        format!(
            "contest {} has no audit yet: run `urna audit start` first",
            e.contests[contest.0 as usize].id
        )
    })?;
    let now = (&log)
        .replay(log.notes.len() as u64)
        .map_err(|err| anyhow!("{err}"))?;
    if let AuditStep::Start {
        size,
        rules,
        seats,
        risk_limit,
        ..
    } = &audit.start
    {
        out!(
            "audit of contest {} started at entry {}: checkpoint {size} entries, rule set {rules}{}, risk limit {}",
            e.contests[contest.0 as usize].id,
            audit.start_index,
            seats.map_or(String::new(), |n| format!(", {n} seat(s)")),
            urna_model::audit::format_limit(*risk_limit)
        );
    }
    let what = audited_outcome(e, audit);
    match (audit.finished(), audit.verdicts.last()) {
        (Some(Decision::RiskLimitMet), Some(v)) => out!(
            "status: risk limit met at entry {}: {what} stands{}",
            v.index,
            not_the_contest(e, audit)
        ),
        (Some(d), Some(v)) => out!("status: ended with {} at entry {}", d.as_str(), v.index),
        _ if audit.seed.is_none() => out!("status: awaiting the seed"),
        _ => out!(
            "status: counting ({} round(s) sampled, {} station(s) counted){}",
            audit.samples.len(),
            audit.counts.len(),
            not_the_contest(e, audit)
        ),
    }
    print_coverage(e, audit, &now)?;
    Ok(if audit.coverage(e, &now).covers() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The store as the audit trail sees the log.
struct StoreView<'a>(&'a Store);

impl urna_audit::trail::LogView for StoreView<'_> {
    fn root(&self, size: u64) -> Option<[u8; 32]> {
        if size > self.0.len() {
            return None;
        }
        self.0.log_root(size).ok().map(|h| h.0)
    }

    fn replay(&self, size: u64) -> Result<urna_tally::public::Replay, String> {
        self.0.replay_upto(size).map_err(|e| e.to_string())
    }
}

/// Reads a hand-count CSV (`station`, every list id, `invalid`): station → votes per list in
/// ballot order, then invalid.
fn read_counts(path: &Path, lists: &[String]) -> Result<Vec<(String, Vec<u64>)>> {
    let mut rdr = csv::Reader::from_path(path)
        .with_context(|| format!("--counts: reading {}", path.display()))?;
    let headers = rdr.headers()?.clone();
    let col = |name: &str| -> Result<usize> {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .with_context(|| {
                format!(
                    "--counts {}: no column `{name}` (need station, every list id and invalid)",
                    path.display()
                )
            })
    };
    let station_col = col("station")?;
    let mut cols: Vec<(usize, &str)> = lists
        .iter()
        .map(|l| Ok((col(l)?, l.as_str())))
        .collect::<Result<_>>()?;
    cols.push((col("invalid")?, "invalid"));
    let mut out: Vec<(String, Vec<u64>)> = Vec::new();
    for (line, rec) in rdr.records().enumerate() {
        let row = line + 2;
        let rec = rec.with_context(|| format!("--counts {}: row {row}", path.display()))?;
        let station = rec.get(station_col).unwrap_or("").trim().to_owned();
        let mut hand = Vec::with_capacity(cols.len());
        for (c, name) in &cols {
            let text = rec.get(*c).unwrap_or("").trim();
            hand.push(urna_model::protocol::parse_count(text).map_err(|rule| {
                anyhow::anyhow!(
                    "--counts {} row {row} column `{name}`: `{text}` {rule}",
                    path.display()
                )
            })?);
        }
        if out.iter().any(|(s, _)| *s == station) {
            bail!(
                "--counts {}: station `{station}` appears twice",
                path.display()
            );
        }
        out.push((station, hand));
    }
    Ok(out)
}
