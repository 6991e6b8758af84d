//! `urna incident`: incident sharing between institutions. A thin wrapper over
//! `urna_incident` (notes, sealing, the log, the views) and `urna_server`'s cosignature client
//! (the witnesses).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use urna_incident::body::{Details, Status, Tlp, UtcTime, hex, parse_sha256};
use urna_incident::compose::{self, Draft};
use urna_incident::config::IncidentsConfig;
use urna_incident::log::{CONFIG_FILE, IncidentLog, LOG_DIR, read_config};
use urna_incident::seal::{Identity, open};
use urna_incident::timeline::{
    Shown, public_html, public_summary, shown, timeline_json, timeline_text,
};
use urna_model::note::{NoteSigner, NoteVerifier};
use urna_tlog::Clock as _;

/// What incident sharing is, shown by `urna incident --help`.
const ABOUT: &str = "\
Institutions that guard an election (the commission, the national CERT, the data-protection
authority, observers) report security incidents to each other as signed `urna/incident/v1`
notes in a shared incident log: its own log with its own origin, cosigned by the same
witnesses as the results log (each witness runs `urna witness serve --log` once per log).

Reports and updates carry a TLP 2.0 level. TLP:CLEAR details are in the note in the clear;
TLP:GREEN, AMBER and RED details are sealed with age (X25519) to the recipients named (GREEN
without --to: every institution of the config) and to the reporter, so the log stays public
while their content does not. Partners acknowledge reports with `urna incident ack`.

Who may write: the institutions listed in DIR/incidents.toml, each with its Ed25519 key
(`urna incident keygen`) and its age key. See docs/incidents.md.

Exit codes: 0 success; 1 the note was logged but the witnesses did not reach their quorum
(`urna incident cosign` asks again), or `decrypt` could not open an entry; 2 usage, input, key
or I/O error, or a note refused by the rules (the message names the rule).";

/// Report, acknowledge and follow security incidents in a witnessed incident log.
#[derive(Args)]
#[command(after_long_help = ABOUT, subcommand_required = true)]
pub(crate) struct IncidentArgs {
    #[command(subcommand)]
    command: IncidentCommand,
}

#[derive(Subcommand)]
enum IncidentCommand {
    /// Create an institution's keys: an Ed25519 signing key and an age identity; print the
    /// `[[institution]]` table for incidents.toml.
    Keygen {
        /// The institution's id (letters, digits, `.`, `-`, `_`), e.g. `cert.example`.
        #[arg(long)]
        id: String,
        /// The institution's name, for people.
        #[arg(long)]
        name: String,
        /// Directory to write `<id>.key` (signing key) and `<id>.age` (age identity) into,
        /// both readable by their owner only.
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Create an incident log directory from an incidents config; prints the log key and the
    /// `--log ORIGIN=VKEY` argument witnesses need.
    Init {
        /// Directory to create (must not exist or be empty).
        #[arg(long)]
        dir: PathBuf,
        /// The incidents config (origin and institutions; copied into the directory).
        #[arg(long)]
        config: PathBuf,
    },
    /// Report a new incident.
    Report {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        notice: NoticeArgs,
    },
    /// Update an incident you reported: its status, TLP, recipients and details.
    Update {
        #[command(flatten)]
        target: Target,
        /// The incident: `sha256:<hex>` of its report (as `urna incident log` shows it).
        #[arg(long)]
        incident: String,
        #[command(flatten)]
        notice: NoticeArgs,
    },
    /// Acknowledge another institution's incident.
    Ack {
        #[command(flatten)]
        target: Target,
        /// The incident: `sha256:<hex>` of its report.
        #[arg(long)]
        incident: String,
    },
    /// Append notes signed elsewhere (`report/update/ack --out`) to the log.
    Append {
        /// The incident log directory.
        #[arg(long)]
        dir: PathBuf,
        /// Note files.
        #[arg(required = true)]
        notes: Vec<PathBuf>,
    },
    /// Ask the witnesses (DIR/witnesses.toml) to cosign the current checkpoint again.
    Cosign {
        /// The incident log directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// The timeline: every incident with its notes, sealed details opened where --identity
    /// is a recipient. Checks every note and the checkpoint first.
    #[command(visible_alias = "timeline")]
    Log {
        #[command(flatten)]
        source: Source,
        /// An age identity file (`<id>.age`) to open sealed details with.
        #[arg(long)]
        identity: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the sealed details an identity can open: one entry (--entry) or all.
    Decrypt {
        #[command(flatten)]
        source: Source,
        /// The age identity file (`<id>.age`).
        #[arg(long)]
        identity: PathBuf,
        /// Only this entry (its index in the log); exit 1 if the identity cannot open it.
        #[arg(long)]
        entry: Option<u64>,
    },
    /// Write the public summary: OUT/index.html (a static page), OUT/incidents.json, the
    /// config's public keys (OUT/incidents.toml) and a copy of the log (OUT/log/). Details
    /// only of TLP:CLEAR notes; of others who, when, TLP and status.
    Publish {
        /// The incident log directory.
        #[arg(long)]
        dir: PathBuf,
        /// Output directory (created; files in it are replaced).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Where a note goes: appended to a log directory, or written to a file.
#[derive(Args)]
struct Target {
    /// The incident log directory: its config is used, and the note is appended to its log
    /// (then the witnesses are asked to cosign). With --out, only its config is read.
    #[arg(long, required_unless_present = "config")]
    dir: Option<PathBuf>,
    /// The incidents config, to sign a note without the log directory (needs --out).
    #[arg(long, requires = "out", conflicts_with = "dir")]
    config: Option<PathBuf>,
    /// Write the signed note to this file instead of appending it (the log operator runs
    /// `urna incident append`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The institution's signing key file (`<id>.key`).
    #[arg(long)]
    key: PathBuf,
}

/// What a report or update says.
#[derive(Args)]
struct NoticeArgs {
    /// TLP 2.0 level: clear (public), green (community), amber or red (named recipients).
    #[arg(long, value_enum)]
    tlp: TlpArg,
    /// Where the handling stands.
    #[arg(long, value_enum, default_value = "open")]
    status: StatusArg,
    /// A recipient institution id (repeat). Required for amber and red; for green, default
    /// every other institution.
    #[arg(long = "to", value_name = "ID")]
    to: Vec<String>,
    /// A system affected (repeat).
    #[arg(long = "system", value_name = "TEXT")]
    systems: Vec<String>,
    /// An indicator of compromise, e.g. `ipv4 203.0.113.7` (repeat).
    #[arg(long = "indicator", value_name = "TEXT")]
    indicators: Vec<String>,
    /// What happened, in one line.
    #[arg(long)]
    summary: String,
}

/// Where to read a log from.
#[derive(Args)]
struct Source {
    /// The incident log directory, or a published copy (`urna incident publish --out`).
    #[arg(long)]
    dir: PathBuf,
    /// The log's public key, for a directory without the log key (a published copy).
    #[arg(long)]
    log_key: Option<String>,
    /// The witnesses and quorum the checkpoint must have (the witnesses.toml format); default
    /// DIR/witnesses.toml if there is one. `log` exits with code 1 if the quorum is missing.
    #[arg(long)]
    witnesses: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum TlpArg {
    Clear,
    Green,
    Amber,
    Red,
}

#[derive(Clone, Copy, ValueEnum)]
enum StatusArg {
    Open,
    Contained,
    Resolved,
    Withdrawn,
}

/// How long one witness request may take.
const WITNESS_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `urna incident`.
pub(crate) fn run(args: IncidentArgs) -> Result<ExitCode> {
    match args.command {
        IncidentCommand::Keygen { id, name, out_dir } => keygen(&id, &name, &out_dir),
        IncidentCommand::Init { dir, config } => {
            let text = std::fs::read_to_string(&config)
                .with_context(|| format!("reading {}", config.display()))?;
            let key = IncidentLog::init(&dir, &text)
                .with_context(|| format!("creating the incident log {}", dir.display()))?;
            let origin = IncidentsConfig::from_toml(&text)?.origin;
            out!("log key: {}", key.to_vkey());
            out!("witnesses follow it with: --log {origin}={}", key.to_vkey());
            Ok(ExitCode::SUCCESS)
        }
        IncidentCommand::Report { target, notice } => {
            let draft = notice.draft();
            sign_and_deliver(&target, |config, signer, now| {
                Ok(compose::report(config, signer, now, &draft)?)
            })
        }
        IncidentCommand::Update {
            target,
            incident,
            notice,
        } => {
            let incident = incident_id(&incident)?;
            let draft = notice.draft();
            sign_and_deliver(&target, |config, signer, now| {
                Ok(compose::update(config, signer, incident, now, &draft)?)
            })
        }
        IncidentCommand::Ack { target, incident } => {
            let incident = incident_id(&incident)?;
            sign_and_deliver(&target, |config, signer, now| {
                Ok(compose::ack(config, signer, incident, now)?)
            })
        }
        IncidentCommand::Append { dir, notes } => {
            let notes = notes
                .iter()
                .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
                .collect::<Result<Vec<_>>>()?;
            let mut log = open_log(&dir)?;
            append_and_cosign(&dir, &mut log, &notes)
        }
        IncidentCommand::Cosign { dir } => {
            let mut log = open_log(&dir)?;
            Ok(cosign(&dir, &mut log)?)
        }
        IncidentCommand::Log {
            source,
            identity,
            json,
        } => {
            let log = source.open()?;
            let identity = identity.as_deref().map(read_identity).transpose()?;
            if json {
                out!(
                    "{}",
                    serde_json::to_string_pretty(&timeline_json(&log, identity.as_ref()))?
                );
                return Ok(ExitCode::SUCCESS);
            }
            let (line, quorum) = checkpoint_line(&source, &log)?;
            out!("{line}");
            outp!("{}", timeline_text(&log, identity.as_ref()));
            if !quorum {
                eprintln!("urna: the checkpoint lacks its witness quorum");
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        IncidentCommand::Decrypt {
            source,
            identity,
            entry,
        } => decrypt(&source, &identity, entry),
        IncidentCommand::Publish { dir, out } => publish(&dir, &out),
    }
}

impl NoticeArgs {
    fn draft(&self) -> Draft {
        Draft {
            tlp: match self.tlp {
                TlpArg::Clear => Tlp::Clear,
                TlpArg::Green => Tlp::Green,
                TlpArg::Amber => Tlp::Amber,
                TlpArg::Red => Tlp::Red,
            },
            status: match self.status {
                StatusArg::Open => Status::Open,
                StatusArg::Contained => Status::Contained,
                StatusArg::Resolved => Status::Resolved,
                StatusArg::Withdrawn => Status::Withdrawn,
            },
            recipients: self.to.clone(),
            details: Details {
                systems: self.systems.clone(),
                indicators: self.indicators.clone(),
                summary: self.summary.clone(),
            },
        }
    }
}

impl Source {
    fn open(&self) -> Result<IncidentLog> {
        let key = self
            .log_key
            .as_deref()
            .map(|k| NoteVerifier::from_vkey(k).context("--log-key"))
            .transpose()?;
        IncidentLog::open_read_only(&self.dir, key)
            .with_context(|| format!("reading the incident log {}", self.dir.display()))
    }
}

fn keygen(id: &str, name: &str, out_dir: &Path) -> Result<ExitCode> {
    urna_incident::body::check_id(id).map_err(|rule| anyhow::anyhow!("--id: {rule}"))?;
    let file = id.replace('/', "_");
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    let signer = NoteSigner::from_seed(id, &seed)?;
    let identity = Identity::generate();
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let key_path = out_dir.join(format!("{file}.key"));
    let age_path = out_dir.join(format!("{file}.age"));
    urna_incident::log::write_secret(&key_path, &signer.to_skey())?;
    urna_incident::log::write_secret(&age_path, identity.to_file_text().trim_end())?;
    out!("\n[[institution]]");
    out!("id = {id:?}");
    out!("name = {name:?}");
    out!("key = {:?}", signer.verifier().to_vkey());
    out!("age = {:?}", identity.recipient());
    eprintln!(
        "wrote {} (signing key) and {} (age identity); keep both secret",
        key_path.display(),
        age_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Signs a note with the target's key and either writes it to `--out` or appends it.
fn sign_and_deliver(
    target: &Target,
    make: impl FnOnce(&IncidentsConfig, &NoteSigner, UtcTime) -> Result<Vec<u8>>,
) -> Result<ExitCode> {
    let skey = std::fs::read_to_string(&target.key)
        .with_context(|| format!("reading the key file {}", target.key.display()))?;
    let signer = NoteSigner::from_skey(skey.trim())
        .with_context(|| format!("the key file {}", target.key.display()))?;
    let config_path = match (&target.config, &target.dir) {
        (Some(c), _) => c.clone(),
        (None, Some(d)) => d.join(CONFIG_FILE),
        (None, None) => bail!("give --dir or --config"),
    };
    let config = read_config(&config_path)?;
    let now = UtcTime(urna_tlog::SystemClock.now());
    let note = make(&config, &signer, now)?;
    if let Some(out) = &target.out {
        std::fs::write(out, &note).with_context(|| format!("writing {}", out.display()))?;
        out!("wrote {} ({} bytes)", out.display(), note.len());
        return Ok(ExitCode::SUCCESS);
    }
    let Some(dir) = &target.dir else {
        bail!("--config needs --out: without the log directory the note cannot be appended");
    };
    let mut log = open_log(dir)?;
    append_and_cosign(dir, &mut log, &[note])
}

fn open_log(dir: &Path) -> Result<IncidentLog> {
    IncidentLog::open(dir).with_context(|| format!("opening the incident log {}", dir.display()))
}

fn append_and_cosign(dir: &Path, log: &mut IncidentLog, notes: &[Vec<u8>]) -> Result<ExitCode> {
    let range = log
        .append(notes)
        .context("the incident log refused the note")?;
    for i in range {
        let e = &log.entries()[usize::try_from(i)?];
        let mut line = format!(
            "logged entry {i}: {} by {} sha256:{}",
            e.body.kind,
            e.body.institution,
            hex(&e.hash)
        );
        if let Some(n) = &e.body.notice {
            line.push_str(&format!(" {} {}", n.tlp, n.status));
        }
        out!("{line}");
    }
    cosign(dir, log)
}

/// Asks the witnesses of `DIR/witnesses.toml` to cosign the current checkpoint and installs
/// the cosigned one at a quorum. Exit code 1 if the quorum was missed.
fn cosign(dir: &Path, log: &mut IncidentLog) -> Result<ExitCode> {
    let Some(policy) = urna_server::publish::read_policy(dir)? else {
        out!(
            "checkpoint: size {}, signed by the log key; no witnesses configured ({} absent)",
            log.size(),
            dir.join(urna_incident::log::WITNESSES_FILE).display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let note = log.log_signed_checkpoint();
    // Each witness's last size is learnt from its 409 answer: the client asks again from it.
    let mut last_size = BTreeMap::new();
    let report = urna_server::collect_cosignatures(
        &policy,
        &note,
        &mut last_size,
        &|old, new| log.consistency_proof(old, new),
        WITNESS_TIMEOUT,
    );
    for (name, reason) in &report.failed {
        eprintln!("witness {name}: {reason}");
    }
    match &report.cosigned_note {
        Some(cosigned) => {
            log.install_cosigned(cosigned)?;
            out!(
                "checkpoint: size {}, cosigned by {} ({} of {}, quorum {})",
                log.size(),
                report.got.join(", "),
                report.got.len(),
                policy.witnesses.len(),
                policy.quorum
            );
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!(
                "urna: the checkpoint of size {} has {} of the {} cosignatures it needs; \
                 run `urna incident cosign --dir {}` once the witnesses are back",
                log.size(),
                report.got.len(),
                policy.quorum,
                dir.display()
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// Which witnesses of the policy (`--witnesses`, else `DIR/witnesses.toml`) cosigned the
/// log's current checkpoint, and whether they make its quorum (true without a policy).
fn checkpoint_line(source: &Source, log: &IncidentLog) -> Result<(String, bool)> {
    let head = format!(
        "incident log {}: {} entries",
        log.config().origin,
        log.size()
    );
    let policy = match &source.witnesses {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(
                urna_server::WitnessPolicy::from_toml(&text)
                    .with_context(|| format!("{}", path.display()))?,
            )
        }
        None => urna_server::publish::read_policy(&source.dir)?,
    };
    let Some(policy) = policy else {
        return Ok((format!("{head}; checkpoint signed by the log key"), true));
    };
    let note = urna_model::note::Note::parse(log.checkpoint())?;
    let got: Vec<&str> = policy
        .witnesses
        .iter()
        .filter(|w| w.verifier.verify(&note).is_ok())
        .map(|w| w.name.as_str())
        .collect();
    let reached = got.len() >= policy.quorum;
    let quorum = if reached {
        "quorum reached"
    } else {
        "QUORUM MISSING"
    };
    let line = format!(
        "{head}; checkpoint cosigned by {} of {} witnesses ({}), {quorum} (k = {})",
        got.len(),
        policy.witnesses.len(),
        got.join(", "),
        policy.quorum
    );
    Ok((line, reached))
}

fn decrypt(source: &Source, identity: &Path, entry: Option<u64>) -> Result<ExitCode> {
    let log = source.open()?;
    let identity = read_identity(identity)?;
    let mut opened = 0usize;
    for e in log.entries() {
        if entry.is_some_and(|want| want != e.index) || !e.is_sealed() {
            continue;
        }
        match shown(e, Some(&identity)) {
            Shown::Opened(d) => {
                opened += 1;
                out!(
                    "#{} {} by {} at {}, incident sha256:{}",
                    e.index,
                    e.body.kind,
                    e.body.institution,
                    e.body.time,
                    hex(&e.body.incident.unwrap_or(e.hash))
                );
                outp!("{}", d.to_text());
            }
            _ if entry.is_some() => {
                let blob = match e.body.notice.as_ref().map(|n| &n.content) {
                    Some(urna_incident::body::Content::Sealed(b)) => b.as_slice(),
                    _ => &[],
                };
                let why = open(blob, &identity)
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                eprintln!("urna: entry {}: {why}", e.index);
                return Ok(ExitCode::from(1));
            }
            _ => {}
        }
    }
    match entry {
        Some(i) if opened == 0 => {
            eprintln!("urna: entry {i} is not a sealed note of this log");
            Ok(ExitCode::from(1))
        }
        _ => {
            if entry.is_none() {
                eprintln!(
                    "opened {opened} sealed note(s) with {}",
                    identity.recipient()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn publish(dir: &Path, out: &Path) -> Result<ExitCode> {
    let log = IncidentLog::open_read_only(dir, None)
        .with_context(|| format!("reading the incident log {}", dir.display()))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let write = |name: &str, bytes: &[u8]| -> Result<()> {
        let path = out.join(name);
        urna_tlog::tiledir::write_file_atomic(&path, bytes)
            .with_context(|| format!("writing {}", path.display()))
    };
    write("index.html", public_html(&log).as_bytes())?;
    let mut json = serde_json::to_string_pretty(&public_summary(&log))?;
    json.push('\n');
    write("incidents.json", json.as_bytes())?;
    // The config holds only public keys; readers check the log against it.
    let config = std::fs::read(dir.join(CONFIG_FILE))?;
    write(CONFIG_FILE, &config)?;
    copy_tree(&dir.join(LOG_DIR), &out.join(LOG_DIR))?;
    out!(
        "published {} entries of {} to {} (index.html, incidents.json, log/); log key {}",
        log.size(),
        log.config().origin,
        out.display(),
        log.log_key().to_vkey()
    );
    Ok(ExitCode::SUCCESS)
}

/// Copies a tile directory (the checkpoint last, so a reader of the copy never sees a
/// checkpoint without its tiles). Temporary files (`.name.tmp-…`) are skipped.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fn walk(from: &Path, to: &Path, last: &mut Vec<(PathBuf, PathBuf)>) -> Result<()> {
        std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
        for e in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
            let e = e?;
            let name = e.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let (src, dst) = (e.path(), to.join(&name));
            if e.file_type()?.is_dir() {
                walk(&src, &dst, last)?;
            } else if name == urna_tlog::tiledir::CHECKPOINT_FILE {
                last.push((src, dst));
            } else {
                let bytes = std::fs::read(&src)?;
                urna_tlog::tiledir::write_file_atomic(&dst, &bytes)
                    .with_context(|| format!("writing {}", dst.display()))?;
            }
        }
        Ok(())
    }
    let mut last = Vec::new();
    walk(from, to, &mut last)?;
    for (src, dst) in last {
        let bytes = std::fs::read(&src)?;
        urna_tlog::tiledir::write_file_atomic(&dst, &bytes)
            .with_context(|| format!("writing {}", dst.display()))?;
    }
    Ok(())
}

fn read_identity(path: &Path) -> Result<Identity> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the identity file {}", path.display()))?;
    Identity::parse(&text).with_context(|| format!("the identity file {}", path.display()))
}

fn incident_id(s: &str) -> Result<[u8; 32]> {
    parse_sha256(s).map_err(|rule| anyhow::anyhow!("--incident {s:?}: {rule}"))
}
