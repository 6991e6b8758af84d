//! `urna keys revoke`: writes an authority's revocation of a station's key (lost or stolen) as
//! an `urna/revocation/v1` note, with the key that signs for the station from now on or none.
//! Send it like any note: `urna submit` to a running server, or `urna ingest` into a data
//! directory. A new key for the station comes from `urna keys generate <station> --out FILE`.
//! On PostgreSQL (`--store URL --definition FILE`) the key the station holds now comes from the
//! revocations in the database.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use urna_model::definition::Election;
use urna_model::intake::{StationKeys, bind_revocation_unverified};
use urna_model::note::{NoteSigner, NoteVerifier};
use urna_model::revocation::{RevocationBody, StationKey};
use urna_store::DEFINITION_FILE;
use urna_store::reader::EntryReader;

/// Arguments of `urna keys revoke`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("replacement").required(true).args(["replacement_key", "no_replacement"])))]
pub(crate) struct RevokeArgs {
    /// Data directory (its definition, and its log to find the key the station holds now).
    #[arg(long, required_unless_present = "store", conflicts_with = "store")]
    data: Option<PathBuf>,
    /// A PostgreSQL store (`postgres://…`) instead of a data directory: its revocations give
    /// the key the station holds now.
    #[arg(long, value_name = "URL", requires = "definition")]
    store: Option<String>,
    /// With --store: the election definition the store was initialised with.
    #[arg(long, value_name = "FILE", requires = "store")]
    definition: Option<PathBuf>,
    /// The station whose key is lost or stolen.
    #[arg(long)]
    station: String,
    /// The authority's key file (`urna keys generate`): an authority of the definition whose
    /// scope covers the station.
    #[arg(long, value_name = "FILE")]
    authority_key: PathBuf,
    /// The station's new key: a file holding its public verifier key (what `urna keys
    /// generate <station>` prints) or its private key file. Named after the station.
    #[arg(long, value_name = "FILE")]
    replacement_key: Option<PathBuf>,
    /// Give the station no key for now (its notes then need an authority's signature).
    #[arg(long)]
    no_replacement: bool,
    /// Why, in words (at most 1000 bytes, one line).
    #[arg(long)]
    reason: String,
    /// Write the signed note here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs `urna keys revoke`.
pub(crate) fn run(args: &RevokeArgs) -> Result<ExitCode> {
    let e = match (&args.data, &args.definition) {
        (Some(data), _) => Election::load(&data.join(DEFINITION_FILE))
            .with_context(|| format!("{}: not an urna data directory", data.display()))?,
        (None, Some(definition)) => Election::load(definition)
            .with_context(|| format!("--definition {}", definition.display()))?,
        (None, None) => bail!("--data or --store (with --definition): the election's log"),
    };
    crate::decide_cmd::check_reason(&args.reason)?;
    let station = e.station(&args.station).with_context(|| {
        format!(
            "--station {:?}: not a station of this election",
            args.station
        )
    })?;
    let signer =
        crate::decide_cmd::authority_over(&e, station, &args.authority_key, "--authority-key")?;
    let keys = match (&args.data, &args.store) {
        (Some(data), _) => logged_keys(data, &e)?,
        (None, Some(url)) => {
            if !crate::pg_cmd::is_url(url) {
                bail!("--store {url:?}: not a PostgreSQL URL (a data directory: --data)");
            }
            let mut client = urna_pg::connect(url).context("--store: connecting to PostgreSQL")?;
            urna_pg::station_keys(&mut client, &e).context("--store")?
        }
        (None, None) => bail!("--data or --store (with --definition): the election's log"),
    };
    let revokes = keys.current(&e, station).with_context(|| {
        format!(
            "--station {}: its key was revoked with no replacement already; there is no key to revoke",
            args.station
        )
    })?;
    let replacement = match &args.replacement_key {
        Some(path) => Some(replacement_key(path, &args.station)?),
        None => None,
    };
    if replacement == Some(revokes) {
        bail!("--replacement-key: it is the key being revoked");
    }
    let body = RevocationBody {
        election: e.id,
        station: args.station.clone(),
        revokes,
        replacement,
        reason: args.reason.clone(),
    };
    let note = signer.sign_text(&body.to_text()).to_bytes();
    match &args.out {
        Some(path) => {
            std::fs::write(path, &note).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "revocation of station {}'s key {} written to {}",
                args.station,
                revokes.key_id,
                path.display()
            );
        }
        None => std::io::stdout().write_all(&note)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The station keys as the revocations in the data directory's log left them.
fn logged_keys(data: &Path, e: &Election) -> Result<StationKeys> {
    let reader = EntryReader::open(data)?;
    let len = reader.len()?;
    let mut keys = StationKeys::new();
    reader.for_each(
        1,
        len,
        |index, note| -> Result<(), urna_store::StoreError> {
            if urna_tally::public::is_revocation(note)
                && let Ok(r) = bind_revocation_unverified(e, note)
            {
                // Stored by intake, so admitted; one that is not is left for `urna verify`.
                let _ = keys.admit(e, index, &r);
            }
            Ok(())
        },
    )?;
    Ok(keys)
}

/// The replacement key in `path`: a verifier key line, or a private key file.
fn replacement_key(path: &Path, station: &str) -> Result<StationKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let text = text.trim();
    let verifier = match NoteVerifier::from_vkey(text) {
        Ok(v) => v,
        Err(_) => NoteSigner::from_skey(text)
            .map(|s| s.verifier())
            .with_context(|| {
                format!(
                    "--replacement-key {}: neither a verifier key nor a private key",
                    path.display()
                )
            })?,
    };
    if verifier.name() != station {
        bail!(
            "--replacement-key: the key is named {:?}; a station's key is named after the station ({station})",
            verifier.name()
        );
    }
    Ok(StationKey {
        key_id: verifier.key_id(),
        public_key: verifier.verifying_key().to_bytes(),
    })
}
