//! `urna export`: results in exchange formats (NIST SP 1500-100 v2 JSON, CSV), always at the
//! data directory's published checkpoint, so an export holds exactly the published results.
//!
//! Both verbs replay the entries the published checkpoint covers, from entry 0 (the genesis),
//! and check that they hash to the checkpoint's root (RFC 6962) before anything is written.
//! Output files are written to a temporary file beside them and renamed into place, so a
//! failed export never leaves a half-written file.

use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use tempfile::NamedTempFile;
use urna_model::definition::Election;
use urna_model::note::Note;
use urna_model::protocol::hex;
use urna_store::reader::EntryReader;
use urna_store::{DEFINITION_FILE, log};
use urna_tally::cdf::{self, CdfError};
use urna_tally::public::{self, CheckpointInfo, Replay, ReplayError};
use urna_tlog::{Checkpoint, Clock as _, SystemClock, Tree, leaf_hash};

/// `urna export` arguments.
#[derive(clap::Args)]
pub(crate) struct ExportArgs {
    #[command(subcommand)]
    command: ExportCommand,
}

#[derive(clap::Subcommand)]
enum ExportCommand {
    /// NIST SP 1500-100 v2 Election Results Common Data Format, JSON: one ElectionReport with
    /// precinct-level detail (every unit and every polling station).
    ///
    /// The results are those of the published checkpoint (DIR/log/checkpoint): exactly the
    /// entries it covers are replayed, and checked against its root hash. GeneratedDate is
    /// the newest timestamp among the checkpoint's witness cosignatures that verify with a
    /// key in DIR/witnesses.toml, so exporting the same checkpoint again gives the same bytes;
    /// if the checkpoint carries no such cosignature (no witnesses), it is the current time.
    ///
    /// Exit codes: 0 written; 2 not a data directory, nothing published yet, the output
    /// cannot be written, or the log does not match its checkpoint.
    Cdf {
        /// Data directory.
        #[arg(long)]
        data: PathBuf,
        /// Output file, or `-` for standard output.
        #[arg(long, default_value = "-")]
        out: PathBuf,
    },
    /// CSV per station and per unit: OUT/stations.csv and OUT/units.csv, byte for byte the
    /// public bundle's csv/units.csv and what its csv/stations.csv.gz inflates to, at the published checkpoint.
    ///
    /// Exit codes: 0 written; 2 not a data directory, nothing published yet, the output
    /// cannot be written, or the log does not match its checkpoint.
    Csv {
        /// Data directory.
        #[arg(long)]
        data: PathBuf,
        /// Output directory (created if missing; existing files of the same names are
        /// replaced).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs `urna export`.
pub(crate) fn run(args: ExportArgs) -> Result<ExitCode> {
    match args.command {
        ExportCommand::Cdf { data, out } => export_cdf(&data, &out),
        ExportCommand::Csv { data, out } => export_csv(&data, &out),
    }
}

fn export_cdf(data: &Path, out: &Path) -> Result<ExitCode> {
    let to_stdout = out.as_os_str() == "-";
    // Fail on an unwritable output before spending a replay on it.
    let file = if to_stdout {
        None
    } else {
        Some(OutputFile::create(out)?)
    };
    let p = Published::open(data)?;
    let (generated, source) = generated_date(data, &p.checkpoint.note)?;
    let write = |w: &mut dyn Write| -> Result<()> {
        let w = cdf::write_cdf(
            &p.election,
            &p.replay,
            &generated,
            Some(&p.checkpoint),
            BufWriter::with_capacity(1 << 20, w),
        )
        .map_err(write_error)?;
        w.into_inner()
            .map_err(|e| e.into_error())?
            .flush()
            .map_err(anyhow::Error::from)
    };
    let summary = format!(
        "NIST SP 1500-100 v2 ElectionReport of the published checkpoint ({} entries); GeneratedDate {generated} ({source})",
        p.checkpoint.size
    );
    match file {
        None => {
            write(&mut std::io::stdout().lock())?;
            eprintln!("urna export cdf: {summary}");
        }
        Some(mut file) => {
            write(file.tmp.as_file_mut()).with_context(|| format!("writing {}", out.display()))?;
            let bytes = file.commit()?;
            out!("wrote {} ({bytes} bytes): {summary}", out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn export_csv(data: &Path, out: &Path) -> Result<ExitCode> {
    fs::create_dir_all(out)
        .with_context(|| format!("cannot create directory {}", out.display()))?;
    let p = Published::open(data)?;
    let mut names = vec![
        ("stations.csv", public::STATIONS_CSV),
        ("units.csv", public::UNITS_CSV),
    ];
    let mut rendered = vec![
        public::render_stations_csv(&p.election, &p.replay)?,
        public::render_units_csv(&p.election, &p.replay)?,
    ];
    // Open lists: the preference votes too, as the bundle has them.
    if let Some(csv) = public::render_preferences_csv(&p.election, &p.replay)? {
        names.push(("preferences.csv", public::PREFERENCES_CSV));
        rendered.push(csv);
    }
    let mut files = names
        .iter()
        .map(|(name, _)| OutputFile::create(&out.join(name)))
        .collect::<Result<Vec<_>>>()?;
    for ((file, bytes), (name, _)) in files.iter_mut().zip(&rendered).zip(&names) {
        file.tmp
            .as_file_mut()
            .write_all(bytes)
            .with_context(|| format!("writing {}", out.join(name).display()))?;
    }
    for (file, (name, bundle_path)) in files.into_iter().zip(&names) {
        let bytes = file.commit()?;
        out!(
            "wrote {} ({bytes} bytes): the bundle's {bundle_path} at the published checkpoint ({} entries)",
            out.join(name).display(),
            p.checkpoint.size
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A writer error, as the I/O error it is when it is one, so `main` can treat a closed pipe as
/// a clean exit.
fn write_error(err: CdfError) -> anyhow::Error {
    match err {
        CdfError::Write(io) => anyhow::Error::from(io),
        other => anyhow::Error::from(other),
    }
}

/// The data directory's results at its published checkpoint.
pub(crate) struct Published {
    pub(crate) election: Election,
    pub(crate) replay: Replay,
    checkpoint: CheckpointInfo,
}

impl Published {
    /// Loads the definition, reads the published checkpoint and replays exactly the entries it
    /// covers, checking that they hash to its root.
    pub(crate) fn open(data: &Path) -> Result<Self> {
        let reader = EntryReader::open(data)?;
        let definition = data.join(DEFINITION_FILE);
        let election = Election::load(&definition)
            .with_context(|| format!("loading {}", definition.display()))?;
        let recorded = reader.definition_sha256()?;
        if recorded != hex(&election.digest) {
            bail!(
                "{} was changed after `urna init` (SHA-256 {} now, {recorded} recorded): the entries must be read with the definition they were stored under",
                definition.display(),
                hex(&election.digest)
            );
        }
        let checkpoint_path = data.join(log::LOG_DIR).join("checkpoint");
        let Some(note) = log::read_published(data)? else {
            bail!(
                "nothing published yet in {}: there is no {} (ingest protocols first; with witnesses, a checkpoint is published once they cosign it: see `urna status`)",
                data.display(),
                checkpoint_path.display()
            );
        };
        let bad = |reason: String| anyhow::anyhow!("{}: {reason}", checkpoint_path.display());
        let parsed = Note::parse(&note).map_err(|e| bad(e.to_string()))?;
        let checkpoint = Checkpoint::parse_text(parsed.text()).map_err(|e| bad(e.to_string()))?;
        let size = checkpoint.size.0;
        let stored = reader.len()?;
        if stored < size {
            bail!(
                "{} covers {size} entries, but {} holds {stored}: database and log disagree",
                checkpoint_path.display(),
                reader.path().display()
            );
        }
        let (replay, tree) = replay_to(&election, &reader, size)?;
        if tree.root() != checkpoint.root {
            bail!(
                "the first {size} entries in {} hash to root {}, but {} says {}: database and log disagree",
                reader.path().display(),
                tree.root().to_base64(),
                checkpoint_path.display(),
                checkpoint.root.to_base64()
            );
        }
        let checkpoint = public::checked_checkpoint(&election, &replay, &note)
            .map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            election,
            replay,
            checkpoint,
        })
    }
}

/// Entries read from the database and bound per round.
const REPLAY_CHUNK: u64 = 4096;

/// Replays entries `[0, size)` and hashes them into a tree: entry 0 (the genesis) with
/// [`Replay::apply`], the protocols and amendments bound to the definition on every core and
/// applied in order.
fn replay_to(e: &Election, reader: &EntryReader, size: u64) -> Result<(Replay, Tree)> {
    let mut replay = Replay::new(e).map_err(|source| ReplayError::Tally { index: 0, source })?;
    let mut tree = Tree::new();
    let mut finished = Vec::new();
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    while replay.applied() < size {
        let from = replay.applied();
        let to = from.saturating_add(REPLAY_CHUNK).min(size);
        let notes = reader.read(from, to)?;
        let mut rest = &notes[..];
        if from == 0
            && let Some((genesis, after)) = notes.split_first()
        {
            replay.apply(e, 0, genesis)?;
            rest = after;
        }
        let first = replay.applied();
        for ((index, sub), note) in (first..)
            .zip(public::bind_parallel(e, first, rest, threads))
            .zip(rest)
        {
            replay.apply_bound(e, index, note, sub)?;
        }
        for note in &notes {
            finished.clear();
            tree.append(leaf_hash(note), &mut finished)
                .context("hashing the entries")?;
        }
    }
    Ok((replay, tree))
}

/// The report's GeneratedDate and where it came from: the newest verified witness
/// cosignature on the checkpoint, else the current time.
fn generated_date(data: &Path, checkpoint: &str) -> Result<(String, String)> {
    let policy = urna_server::publish::read_policy(data)?;
    Note::parse(checkpoint.as_bytes()).map_err(|e| anyhow::anyhow!("published checkpoint: {e}"))?;
    // The same rule as the bundle's cdf/election-report.json, so both give the same bytes.
    let newest = urna_server::publish::newest_cosignature(policy.as_ref(), checkpoint.as_bytes());
    let (time, source) = match newest {
        Some((t, name)) => (t, format!("the newest witness cosignature, by {name}")),
        None => (
            SystemClock.now(),
            "the current time: the checkpoint carries no witness cosignature".to_owned(),
        ),
    };
    let generated = cdf::rfc3339_utc(time)
        .with_context(|| format!("timestamp {time} is after the year 9999"))?;
    Ok((generated, source))
}

/// An output file being written: a temporary file in the same directory, renamed over the
/// destination once complete.
struct OutputFile {
    path: PathBuf,
    tmp: NamedTempFile,
}

impl OutputFile {
    fn create(path: &Path) -> Result<Self> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            bail!(
                "cannot write {}: {} is not a directory",
                path.display(),
                dir.display()
            );
        }
        let tmp = tempfile::Builder::new()
            .prefix(".urna-export-")
            .tempfile_in(dir)
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot write {}: cannot create a file in {}: {}",
                    path.display(),
                    dir.display(),
                    e.kind()
                )
            })?;
        Ok(Self {
            path: path.to_owned(),
            tmp,
        })
    }

    /// Makes the file durable and readable by all (an export is public), then renames it
    /// into place. Returns its size.
    fn commit(self) -> Result<u64> {
        let path = self.path;
        let f = self.tmp.as_file();
        f.sync_all()
            .and_then(|()| f.set_permissions(fs::Permissions::from_mode(0o644)))
            .with_context(|| format!("writing {}", path.display()))?;
        let bytes = f.metadata().map(|m| m.len()).unwrap_or(0);
        self.tmp
            .persist(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(bytes)
    }
}
