//! `urna backup` and `urna restore`: a consistent copy of a data directory taken while
//! `urna serve` runs on it, and its restore into a new directory, checked against the newest
//! checkpoint the log signed and the witnesses cosigned (`urna_store::backup`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use urna_server::WitnessPolicy;
use urna_store::backup::{self, Backup, BackupError, GivenCheckpoint, WitnessQuorum};
use urna_store::{SystemClock, WITNESSES_FILE};
use urna_verify::source::{self, TlsRoots};

/// Arguments of `urna backup`.
#[derive(clap::Args)]
pub(crate) struct BackupArgs {
    /// Data directory to back up (`urna serve` may be running on it).
    #[arg(long)]
    data: PathBuf,
    /// Directory to write the backup to; must be new or empty.
    #[arg(long)]
    out: PathBuf,
    /// Also copy the private keys (`DATA/secrets/`, the log key among them). Whoever holds
    /// such a backup can sign as the log: keep it offline and apart from ordinary copies.
    #[arg(long)]
    with_secrets: bool,
}

/// Arguments of `urna restore`.
///
/// Exit codes: 0 restored; 1 refused (a file of the backup changed, a rollback, a fork, a
/// checkpoint without the witnesses' quorum, a stored note that does not check); 2 usage or
/// I/O error.
#[derive(clap::Args)]
pub(crate) struct RestoreArgs {
    /// The backup directory (`urna backup --out`).
    #[arg(long)]
    from: PathBuf,
    /// The new data directory; must be new or empty (nothing is written into it unless the
    /// restore passes every check).
    #[arg(long)]
    data: PathBuf,
    /// Directory holding the log's private key `log.key` (and any other keys of
    /// `DATA/secrets/`), when the backup was taken without `--with-secrets`.
    #[arg(long)]
    secrets: Option<PathBuf>,
    /// A checkpoint file of this log (e.g. the last one the witnesses cosigned, kept apart from
    /// the backups); repeatable. The newest given is compared with the restored log.
    #[arg(long = "checkpoint")]
    checkpoints: Vec<PathBuf>,
    /// Where to read a checkpoint of this log: the URL of a running `urna serve` or of a mirror
    /// of the bundle, a bundle directory, or a data directory; repeatable.
    #[arg(long = "checkpoint-from")]
    checkpoint_from: Vec<String>,
    /// CA certificates (PEM) for `https://` sources of `--checkpoint-from`.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// The commission's witness policy (`witnesses.toml`, kept apart from the backups): the
    /// cosignatures a given checkpoint must carry. Without it, the backup's own copy is used,
    /// which whoever could edit the backup could also have removed.
    #[arg(long, value_name = "FILE")]
    witnesses: Option<PathBuf>,
}

/// Runs `urna backup`.
pub(crate) fn run_backup(args: &BackupArgs) -> Result<ExitCode> {
    if args.with_secrets {
        eprintln!(
            "urna backup: WARNING: --with-secrets copies the log's PRIVATE key into {}; whoever holds this backup can sign checkpoints and receipts as the log. Keep it offline, encrypted, and apart from ordinary backups.",
            args.out.display()
        );
    }
    let s = backup::backup(&args.data, &args.out, args.with_secrets, &SystemClock)
        .with_context(|| format!("backing up {}", args.data.display()))?;
    let i = &s.info;
    out!(
        "backed up {} ({}) to {}: {} entries, root {}, database {} bytes; signed checkpoint {}, published checkpoint {}; {} files{}",
        args.data.display(),
        i.election,
        args.out.display(),
        i.log_size,
        i.root_hash,
        s.db_bytes,
        i.signed_size,
        i.published_size,
        i.files.len(),
        if i.with_secrets {
            ", private keys INCLUDED"
        } else {
            ", no private keys"
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `urna restore`.
pub(crate) fn run_restore(args: &RestoreArgs) -> Result<ExitCode> {
    match restore(args) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            if e.downcast_ref::<BackupError>()
                .is_some_and(BackupError::is_refusal)
            {
                eprintln!("urna restore: refused: {}", crate::chain_text(&e));
                return Ok(ExitCode::from(1));
            }
            Err(e)
        }
    }
}

fn restore(args: &RestoreArgs) -> Result<()> {
    let backup = Backup::open(&args.from)
        .with_context(|| format!("checking the backup {}", args.from.display()))?;
    let quorum = match &args.witnesses {
        Some(file) => Some(
            witness_quorum(file)?
                .with_context(|| format!("--witnesses {}: no such file", file.display()))?,
        ),
        None => witness_quorum(&backup.data_dir().join(WITNESSES_FILE))?,
    };
    let mut given = Vec::new();
    for path in &args.checkpoints {
        let note =
            std::fs::read(path).with_context(|| format!("--checkpoint {}", path.display()))?;
        given.push(GivenCheckpoint {
            source: path.display().to_string(),
            note,
        });
    }
    let roots = match &args.ca_cert {
        Some(path) => TlsRoots::from_pem_file(path)?,
        None => TlsRoots::Builtin,
    };
    for location in &args.checkpoint_from {
        given.push(fetch_checkpoint(location, &roots)?);
    }
    if given.is_empty() {
        eprintln!(
            "urna restore: warning: no --checkpoint or --checkpoint-from given; the log is checked only against the backup's own checkpoints, so a backup older than what the witnesses cosigned since would not be noticed here (the witnesses would still refuse to cosign it)"
        );
    }
    let r = backup
        .restore(&args.data, args.secrets.as_deref(), &given, quorum.as_ref())
        .with_context(|| format!("restoring {}", args.from.display()))?;
    out!(
        "restored {} into {}: {} entries, every note checked, root {}",
        args.from.display(),
        args.data.display(),
        r.log_size,
        r.root_hash
    );
    if let Some((source, size)) = &r.checked_against {
        out!("  consistent with checkpoint {source} ({size} entries): no rollback, no fork");
    }
    if let Some(size) = r.published_size {
        out!("  published checkpoint: {size} entries");
    }
    Ok(())
}

/// The witnesses and quorum of the policy file `path` (a `witnesses.toml`), if it exists.
fn witness_quorum(path: &Path) -> Result<Option<WitnessQuorum>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| path.display().to_string()),
    };
    let policy = WitnessPolicy::from_toml(&text).with_context(|| format!("{}", path.display()))?;
    Ok(Some(WitnessQuorum {
        witnesses: policy
            .witnesses
            .into_iter()
            .map(|w| (w.name, w.verifier))
            .collect(),
        quorum: policy.quorum,
    }))
}

/// The checkpoint at `location`: a data directory's published `log/checkpoint`, or a
/// bundle's (a directory or URL; a running `urna serve` serves its bundle's).
fn fetch_checkpoint(location: &str, roots: &TlsRoots) -> Result<GivenCheckpoint> {
    let dir = Path::new(location);
    if dir.join(urna_store::DB_FILE).is_file() {
        let note = urna_store::log::read_published(dir)?.with_context(|| {
            format!("--checkpoint-from {location}: the data directory has no published checkpoint (log/checkpoint)")
        })?;
        return Ok(GivenCheckpoint {
            source: format!("{location}/log/checkpoint"),
            note,
        });
    }
    let src = source::open_with(location, roots)
        .with_context(|| format!("--checkpoint-from {location}"))?;
    let note = src
        .fetch("checkpoint")
        .with_context(|| format!("--checkpoint-from {location}"))?
        .with_context(|| format!("--checkpoint-from {location}: no checkpoint there"))?;
    Ok(GivenCheckpoint {
        source: src.describe(),
        note,
    })
}
