//! `urna keys`: signed-note keys for stations and institutions, and the pin of a server's
//! TLS key for clients (`--pin`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use urna_model::keys::{KeyList, KeyManifest};
use urna_model::note::{Note, NoteSigner, NoteVerifier};
use urna_server::pin::SpkiPin;

/// `urna keys` subcommands.
#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Generate an Ed25519 key: writes the private key to a file (mode 0600) and prints the
    /// public verifier key for the election definition.
    Generate {
        /// Key name (a station id, or an institution's name without spaces).
        name: String,
        /// Where to write the private key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the pin of a server's TLS key, `sha256/<base64>`: the SHA-256 of the
    /// certificate's SubjectPublicKeyInfo (HPKP's pin-sha256, curl's --pinnedpubkey
    /// sha256//), for clients' `--pin` and a witness's `pins` in witnesses.toml.
    Pin {
        /// The server's certificate (PEM); in a chain file, the first certificate (the leaf).
        #[arg(long, value_name = "FILE.pem")]
        cert: PathBuf,
    },
    /// Make a key for every station of a definition that has none: one private key file per
    /// station (`DIR/keys/<station>.key`, mode 0600) for printing and provisioning, the
    /// definition's stations file with every key filled in (DIR/stations.csv), and the list
    /// of public keys (DIR/station-keys.txt) with its manifest signed by an authority
    /// (DIR/station-keys.note, `urna/keys/v1`). Never overwrites a file.
    #[command(after_long_help = STATIONS_HELP)]
    Stations(StationsArgs),
    /// Revoke a station's lost or stolen key: writes an `urna/revocation/v1` note signed with
    /// an authority key, naming the key the station holds now (from the data directory's log)
    /// and its replacement (`urna keys generate <station> --out FILE` makes one) or none.
    /// Submit it like any note (`urna submit`, `urna ingest`): from its log index on, a note
    /// signed with the revoked key is refused (`key-revoked`) and one signed with the
    /// replacement is the station's.
    Revoke(crate::revoke_cmd::RevokeArgs),
    /// Check a key manifest: signed by the authority, matching its key list, and (with
    /// --definition) matching every station key of the definition. Exit codes: 0 verified;
    /// 1 refused (the reason on stderr); 2 usage, input or I/O error.
    Verify {
        /// The signed manifest (`station-keys.note`).
        #[arg(long)]
        manifest: PathBuf,
        /// The key list it names (`station-keys.txt`).
        #[arg(long)]
        list: PathBuf,
        /// The verifier key of the authority that signed it.
        #[arg(long, value_name = "VKEY")]
        authority: String,
        /// An election definition whose stations must have exactly the listed keys.
        #[arg(long, value_name = "election.toml")]
        definition: Option<PathBuf>,
    },
}

/// How `urna keys stations` is used, shown by its `--help`.
const STATIONS_HELP: &str = "\
A station whose key column is empty gets a new key; a station that has a key keeps it (its
key is listed, no private key is written). Nothing is written if any output file exists
already. Then copy DIR/stations.csv over the definition's stations file (before `urna init`:
the genesis commits to it), hand each station its DIR/keys/<station>.key, and keep the
private keys nowhere else. `urna keys verify --manifest DIR/station-keys.note --list
DIR/station-keys.txt --authority VKEY --definition election.toml` checks a definition
against the signed list.

Exit codes: 0 done; 2 usage, input or I/O error (nothing written).";

/// `urna keys stations` arguments.
#[derive(clap::Args)]
pub(crate) struct StationsArgs {
    /// The election definition; its stations file may leave the `key` column empty.
    #[arg(long, value_name = "election.toml")]
    definition: PathBuf,
    /// Output directory (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The private key of an authority of the definition, to sign the manifest.
    #[arg(long, value_name = "KEY")]
    sign_with: PathBuf,
}

/// Runs `urna keys …`.
pub(crate) fn run(command: KeysCommand) -> Result<ExitCode> {
    match command {
        KeysCommand::Generate { name, out } => {
            let mut seed = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
            let signer = NoteSigner::from_seed(&name, &seed)?;
            urna_store::write_secret(&out, &signer.to_skey())?;
            out!("{}", signer.verifier().to_vkey());
        }
        KeysCommand::Pin { cert } => {
            let pem =
                std::fs::read(&cert).with_context(|| format!("reading {}", cert.display()))?;
            let pins =
                SpkiPin::of_pem(&pem).map_err(|e| anyhow!("--cert {}: {e}", cert.display()))?;
            out!("{}", pins[0]);
        }
        KeysCommand::Stations(args) => stations(&args)?,
        KeysCommand::Revoke(args) => return crate::revoke_cmd::run(&args),
        KeysCommand::Verify {
            manifest,
            list,
            authority,
            definition,
        } => return verify(&manifest, &list, &authority, definition.as_deref()),
    }
    Ok(ExitCode::SUCCESS)
}

/// What the definition's `election.toml` says that `urna keys stations` needs, read before
/// the stations have keys (a full load needs every key).
struct DefinitionHead {
    election: String,
    stations_file: PathBuf,
    authority_keys: Vec<String>,
}

fn definition_head(path: &Path) -> Result<DefinitionHead> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: toml::Table =
        toml::from_str(&text).with_context(|| format!("{}: not TOML", path.display()))?;
    let string = |table: &str, key: &str| -> Result<String> {
        value
            .get(table)
            .and_then(|t| t.get(key))
            .and_then(toml::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("{}: `{table}.{key}` is missing", path.display()))
    };
    let election = string("election", "id")?;
    let file = string("stations", "file")?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let authority_keys = value
        .get("authorities")
        .and_then(toml::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.get("key").and_then(toml::Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(DefinitionHead {
        election,
        stations_file: dir.join(file),
        authority_keys,
    })
}

/// One row of the stations file, with the key it will have.
struct Row {
    record: csv::StringRecord,
    line: u64,
    /// A new key, when the row had none.
    new: Option<NoteSigner>,
}

/// `urna keys stations`.
fn stations(args: &StationsArgs) -> Result<()> {
    let head = definition_head(&args.definition)?;
    let signer = crate::desk_cmd::read_key(&args.sign_with)
        .with_context(|| format!("--sign-with {}", args.sign_with.display()))?;
    let vkey = signer.verifier().to_vkey();
    if !head.authority_keys.contains(&vkey) {
        bail!(
            "--sign-with {}: key {vkey} is not the key of an [[authorities]] entry of {}",
            args.sign_with.display(),
            args.definition.display()
        );
    }
    let file = &head.stations_file;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(file)
        .with_context(|| format!("reading {}", file.display()))?;
    let header = reader
        .headers()
        .with_context(|| format!("{}: line 1", file.display()))?
        .clone();
    let first: Vec<&str> = header.iter().take(4).collect();
    if first != ["id", "unit", "registered", "key"] {
        bail!(
            "{}: line 1: field `header`: must start with {}",
            file.display(),
            urna_model::definition::STATIONS_HEADER
        );
    }
    let mut rows = Vec::new();
    let mut list = KeyList::default();
    let mut ids = BTreeSet::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("reading {}", file.display()))?;
        let line = record.position().map_or(0, csv::Position::line);
        let at = |field: &str, rule: String| {
            anyhow!("{}: line {line}: field `{field}`: {rule}", file.display())
        };
        let id = record.get(0).unwrap_or_default().to_owned();
        urna_model::protocol::check_id(&id).map_err(|r| at("id", r.to_owned()))?;
        if !ids.insert(id.clone()) {
            return Err(at("id", format!("duplicate station id {id:?}")));
        }
        let key = record.get(3).unwrap_or_default();
        let (verifier, new) = if key.is_empty() {
            let mut seed = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
            let s = NoteSigner::from_seed(&id, &seed).map_err(|e| at("id", e.to_string()))?;
            (s.verifier(), Some(s))
        } else {
            let v = NoteVerifier::from_vkey(key).map_err(|e| at("key", e.to_string()))?;
            if v.name() != id {
                return Err(at(
                    "key",
                    format!("key name {:?} must equal the station id {id:?}", v.name()),
                ));
            }
            (v, None)
        };
        list.keys.insert(id, verifier);
        rows.push(Row { record, line, new });
    }

    // Nothing is written if anything would be overwritten.
    let keys_dir = args.out.join("keys");
    let outputs = [
        args.out.join("stations.csv"),
        args.out.join(LIST_FILE),
        args.out.join(MANIFEST_FILE),
    ];
    let mut taken: Vec<PathBuf> = outputs.iter().filter(|p| p.exists()).cloned().collect();
    for row in &rows {
        if let Some(s) = &row.new {
            let path = keys_dir.join(format!("{}.key", s.name()));
            if path.exists() {
                taken.push(path);
            }
        }
    }
    if let Some(first) = taken.first() {
        bail!(
            "{} exists already{}: keys are never overwritten; choose another --out",
            first.display(),
            match taken.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            }
        );
    }

    std::fs::create_dir_all(&keys_dir)
        .with_context(|| format!("creating {}", keys_dir.display()))?;
    let mut generated = 0u64;
    for row in &rows {
        if let Some(s) = &row.new {
            urna_store::write_secret(&keys_dir.join(format!("{}.key", s.name())), &s.to_skey())
                .with_context(|| format!("station of line {}", row.line))?;
            generated += 1;
        }
    }
    let mut csv_out = Vec::new();
    {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(&mut csv_out);
        w.write_record(&header)?;
        for row in &rows {
            let mut fields: Vec<String> = row.record.iter().map(str::to_owned).collect();
            if let Some(s) = &row.new {
                fields[3] = s.verifier().to_vkey();
            }
            w.write_record(&fields)?;
        }
        w.flush()?;
    }
    let note = signer.sign_text(&list.manifest(&head.election).to_text());
    for (path, bytes) in outputs
        .iter()
        .zip([csv_out, list.to_text().into_bytes(), note.to_bytes()])
    {
        write_new(path, &bytes)?;
    }
    out!(
        "urna keys stations: {generated} new station keys in {} (mode 0600), {} kept; {} with every key; manifest {} of {} keys signed by {}",
        keys_dir.display(),
        rows.len() as u64 - generated,
        outputs[0].display(),
        outputs[2].display(),
        list.keys.len(),
        signer.name()
    );
    Ok(())
}

/// `urna keys verify`.
fn verify(
    manifest: &Path,
    list: &Path,
    authority: &str,
    definition: Option<&Path>,
) -> Result<ExitCode> {
    let authority = NoteVerifier::from_vkey(authority)
        .map_err(|e| anyhow!("--authority {authority:?}: {e}"))?;
    let bytes =
        std::fs::read(manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let note = Note::parse(&bytes).map_err(|e| anyhow!("{}: {e}", manifest.display()))?;
    let m = KeyManifest::parse(note.text()).map_err(|e| anyhow!("{}: {e}", manifest.display()))?;
    let text =
        std::fs::read_to_string(list).with_context(|| format!("reading {}", list.display()))?;
    let keys = KeyList::parse(&text).map_err(|e| anyhow!("{}: {e}", list.display()))?;
    let election = match definition {
        Some(def) => Some(
            urna_model::definition::Election::load(def)
                .with_context(|| format!("loading {}", def.display()))?,
        ),
        None => None,
    };
    // Everything read; what follows are the checks, each a refusal (exit 1), not an error.
    let refused = |why: String| -> Result<ExitCode> {
        eprintln!("urna keys verify: REFUSED: {why}");
        Ok(ExitCode::from(1))
    };
    if let Err(e) = authority.verify(&note) {
        return refused(format!(
            "{}: not signed by {}: {e}",
            manifest.display(),
            authority.name()
        ));
    }
    if let Err(e) = keys.verify_manifest(&m) {
        return refused(format!("{}: {e}", list.display()));
    }
    if let (Some(def), Some(election)) = (definition, &election) {
        if election.id != m.election {
            return refused(format!(
                "{}: election {:?}, but the manifest is for {:?}",
                def.display(),
                election.id,
                m.election
            ));
        }
        if let Err(e) = keys.verify_stations(&election.stations) {
            return refused(format!("{}: {e}", def.display()));
        }
    }
    out!(
        "urna keys verify: {} keys for {} signed by {}{}",
        m.stations,
        m.election,
        authority.name(),
        if definition.is_some() {
            ", the definition's stations have exactly these keys"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes a file that must not exist yet, durably.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// The key list's file name in `urna keys stations --out DIR`.
const LIST_FILE: &str = "station-keys.txt";
/// The signed manifest's file name.
const MANIFEST_FILE: &str = "station-keys.note";
