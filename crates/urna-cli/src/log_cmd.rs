//! `urna log …` and `urna status`: the transparency log as an operator and a station see it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use urna_model::note::NoteVerifier;
use urna_model::protocol::hex;
use urna_server::publish;
use urna_store::{Store, StoreError, log};

use crate::reading::Reading;
use urna_tlog::hash::{LeafIndex, TreeSize, leaf_hash};
use urna_tlog::proof::{verify_consistency, verify_inclusion};

/// `urna log` subcommands.
#[derive(Subcommand)]
pub(crate) enum LogCommand {
    /// Print the published checkpoint (signed by the log, cosigned by the witnesses).
    Checkpoint {
        /// Data directory.
        #[arg(long)]
        data: std::path::PathBuf,
    },
    /// Inclusion proof of a station's current protocol, or of an entry by index, against the
    /// published checkpoint; checked before it is printed.
    Prove {
        /// Data directory.
        #[arg(long)]
        data: std::path::PathBuf,
        /// A station id, or an entry index.
        target: String,
    },
    /// Print the log's verifier key (`name+id+key`): what stations pin to check their receipts
    /// (`urna submit --log-key`), and what witnesses and verifiers trust.
    Key {
        /// Data directory.
        #[arg(long)]
        data: std::path::PathBuf,
    },
    /// Ask the witnesses in `witnesses.toml` (with a PostgreSQL --store, the policy in the
    /// database) to cosign the latest checkpoint, and publish it once the quorum has cosigned.
    /// Exit code 1 if the quorum was not reached.
    Publish {
        /// Data directory.
        #[arg(long, required_unless_present = "store", conflicts_with = "store")]
        data: Option<std::path::PathBuf>,
        /// A PostgreSQL store (`postgres://…`): one publication round, taking turns with the
        /// nodes' own.
        #[arg(long, value_name = "URL", requires = "log_key")]
        store: Option<String>,
        /// With --store: the log's private key file (its verifier checks the checkpoints).
        #[arg(long, value_name = "FILE")]
        log_key: Option<std::path::PathBuf>,
    },
    /// Change the witness policy of a PostgreSQL store while its nodes run (add, remove or
    /// re-key a witness, change the quorum): FILE is checked as `urna init --witnesses` checks
    /// it, stored between two publication rounds, and what changed is printed. The checkpoint
    /// published now stays published, checked against the policy that cosigned it, until the
    /// nodes' next round publishes one the new policy's quorum cosigned. With a data
    /// directory, edit DIR/witnesses.toml instead (read again at each round).
    Witnesses {
        /// The PostgreSQL store (`postgres://…`).
        #[arg(long, value_name = "URL")]
        store: String,
        /// The new policy (the witnesses.toml format; a relative `ca_cert` is resolved against
        /// the file's directory, and every node must have that file there).
        #[arg(long, value_name = "FILE")]
        witnesses: std::path::PathBuf,
    },
    /// Generate a new log key (named after the log's origin, as `urna init` makes it) into a
    /// new file (mode 0600), for `urna log rotate`; prints its verifier key.
    NewKey {
        /// Data directory.
        #[arg(long)]
        data: std::path::PathBuf,
        /// The file to write the private key to (refused if it exists).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Rotate the log's signing key: log an `urna/key-rotation/v1` signed by the current and
    /// the new key; every later checkpoint and receipt is signed by the new key. The server
    /// must be stopped; with witnesses, the last checkpoint of the current key must be
    /// published first (this command tries), and the witnesses given the new key too.
    Rotate {
        /// Data directory.
        #[arg(long)]
        data: std::path::PathBuf,
        /// The new private key (from `urna log new-key`).
        #[arg(long)]
        new_key: std::path::PathBuf,
        /// Why, in words (the note's `reason:`).
        #[arg(long, default_value = "scheduled key rotation")]
        reason: String,
    },
    /// Consistency proof from an earlier tree size to the published checkpoint.
    Consistency {
        /// Data directory.
        #[arg(long)]
        data: std::path::PathBuf,
        /// The earlier size (e.g. of a checkpoint you saw before).
        old_size: u64,
    },
}

/// Runs `urna log …`.
pub(crate) fn run(cmd: LogCommand) -> Result<ExitCode> {
    match cmd {
        LogCommand::Key { data } => {
            out!("{}", log::PublicLog::open(&data)?.vkey());
        }
        LogCommand::NewKey { data, out } => {
            let origin = log::PublicLog::open(&data)?.origin().to_owned();
            let signer = log::generate_log_key(&origin)?;
            urna_store::write_secret(&out, &signer.to_skey())?;
            out!("{}", signer.verifier().to_vkey());
        }
        LogCommand::Rotate {
            data,
            new_key,
            reason,
        } => return rotate(&data, &new_key, &reason),
        LogCommand::Checkpoint { data } => {
            let reading = Reading::open(&data)?;
            let (published, _) = published(&reading)?;
            outp!("{}", String::from_utf8_lossy(&published));
            let signed = log::read_latest(&data)?
                .as_deref()
                .and_then(log::checkpoint_size)
                .unwrap_or(0);
            let size = log::checkpoint_size(&published).unwrap_or(0);
            if signed > size {
                eprintln!(
                    "urna: note: the log has signed a checkpoint of {signed} entries that is not yet cosigned by enough witnesses"
                );
            }
        }
        LogCommand::Prove { data, target } => {
            let store = Reading::open(&data)?;
            let (note, cp) = published(&store)?;
            let entry = match target.parse::<u64>() {
                Ok(i) => store.entry(i)?.with_context(|| format!("no entry {i}"))?,
                Err(_) => store
                    .current_entry_of(&target)?
                    .with_context(|| format!("station {target:?} has no stored protocol"))?,
            };
            if entry.index >= cp.size.0 {
                bail!(
                    "entry {} is not yet in the published checkpoint ({} entries); try again after the next checkpoint",
                    entry.index,
                    cp.size.0
                );
            }
            let proof = store.inclusion_proof(entry.index, cp.size.0)?;
            let leaf = leaf_hash(&entry.note);
            verify_inclusion(LeafIndex(entry.index), cp.size, &leaf, &proof, &cp.root)
                .context("the proof does not verify against the published checkpoint")?;
            if entry.index == 0 {
                out!("entry-kind: genesis (urna/genesis/v1: the definition the log commits to)");
            } else if urna_model::rotation::is_rotation(&entry.note) {
                out!("entry-kind: key-rotation (urna/key-rotation/v1: the log's key handed over)");
            } else {
                out!("station: {}", entry.station);
                out!("revision: {}", entry.revision);
            }
            out!("index: {}", entry.index);
            out!("entry: sha256:{}", hex(&entry.hash));
            out!("leaf: {}", leaf.to_base64());
            out!("tree-size: {}", cp.size.0);
            out!("root: {}", cp.root.to_base64());
            for h in &proof {
                out!("proof: {}", h.to_base64());
            }
            out!(
                "\nchecked: the entry is leaf {} of the published checkpoint below\n",
                entry.index
            );
            outp!("{}", String::from_utf8_lossy(&note));
        }
        LogCommand::Publish {
            data,
            store,
            log_key,
        } => {
            let outcome = match (data, store, log_key) {
                (_, Some(url), Some(key)) => {
                    if !crate::pg_cmd::is_url(&url) {
                        bail!("--store {url:?}: not a PostgreSQL URL (a data directory: --data)");
                    }
                    let skey = std::fs::read_to_string(&key).with_context(|| {
                        format!("--log-key {}: reading the log's private key", key.display())
                    })?;
                    let signer = urna_model::note::NoteSigner::from_skey(skey.trim())
                        .with_context(|| {
                            format!("--log-key {}: not a signed-note private key", key.display())
                        })?;
                    let mut client =
                        urna_pg::connect(&url).context("--store: connecting to PostgreSQL")?;
                    publish::publish_pg(&mut client, &signer.verifier())?
                }
                (Some(data), _, _) => {
                    let store = open(&data)?;
                    publish::publish(&urna_store::log::PublicLog::open(store.dir())?)?
                }
                _ => bail!("--data or --store (with --log-key): the log to publish"),
            };
            out!("{outcome}");
            if matches!(outcome, publish::Published::Lagging { .. }) {
                return Ok(ExitCode::from(1));
            }
        }
        LogCommand::Witnesses { store, witnesses } => {
            return change_pg_witnesses(&store, &witnesses);
        }
        LogCommand::Consistency { data, old_size } => {
            let store = Reading::open(&data)?;
            let (_, cp) = published(&store)?;
            if old_size > cp.size.0 {
                bail!(
                    "old size {old_size} is larger than the published checkpoint ({})",
                    cp.size.0
                );
            }
            // Every tree extends the empty one: its proof is empty.
            let proof = if old_size == 0 {
                Vec::new()
            } else {
                store.consistency_proof(old_size, cp.size.0)?
            };
            let old_root = store.log_root(old_size, cp.size.0)?;
            if old_size > 0 {
                verify_consistency(TreeSize(old_size), cp.size, &old_root, &cp.root, &proof)
                    .context("the consistency proof does not verify")?;
            }
            out!("old-size: {old_size}");
            out!("old-root: {}", old_root.to_base64());
            out!("new-size: {}", cp.size.0);
            out!("new-root: {}", cp.root.to_base64());
            for h in &proof {
                out!("proof: {}", h.to_base64());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `urna log rotate`: publish what the current key signed, log the rotation, publish again.
fn rotate(data: &Path, new_key: &Path, reason: &str) -> Result<ExitCode> {
    let skey = std::fs::read_to_string(new_key)
        .with_context(|| format!("reading the new log key {}", new_key.display()))?;
    let new = urna_model::note::NoteSigner::from_skey(skey.trim())
        .with_context(|| format!("{}: not a signed-note private key", new_key.display()))?;
    let mut store = open(data)?;
    // A checkpoint of the current key that the witnesses have not cosigned could never be
    // published after the rotation (the log publishes only its current key's checkpoints).
    let before = publish::publish(&log::PublicLog::open(data)?)?;
    if let publish::Published::Lagging { size, .. } = &before {
        bail!(
            "the checkpoint of {size} entries signed by the current key is not cosigned by enough witnesses ({before}); get it published (`urna log publish`) before rotating the key"
        );
    }
    let old = store.log_vkey();
    let index = store.rotate_log_key(new, reason)?;
    out!("rotation: entry {index}");
    out!("old: {old}");
    out!("new: {}", store.log_vkey());
    drop(store);
    match publish::publish(&log::PublicLog::open(data)?)? {
        publish::Published::Lagging { .. } => {
            eprintln!(
                "urna: note: the witnesses have not cosigned the first checkpoint of the new key; give each witness the new key too (`urna witness serve --log ORIGIN=OLD --log ORIGIN=NEW`) and run `urna log publish`"
            );
        }
        publish::Published::NoWitnesses | publish::Published::UpToDate(_) => {}
        other => out!("{other}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `urna status`. It opens the store as a writer, which rebuilds and checks the database
/// against the log; while another process holds the data directory (`urna serve`), it says so
/// and shows what a reader sees instead, without that check.
pub(crate) fn status(data: &Path) -> Result<ExitCode> {
    let view = match Store::open(data) {
        Ok(store) => {
            let (size, signed) = store.log_sizes();
            StatusView {
                name: store.election().name.clone(),
                id: store.election().id.clone(),
                entries: store.len(),
                size,
                signed,
                origin: store.log_origin().to_owned(),
                vkey: store.log_vkey(),
            }
        }
        Err(err @ StoreError::InUse { .. }) => {
            out!(
                "note:       {err}; what follows is read from its files, without rebuilding the database against the log"
            );
            read_only_status(data)?
        }
        Err(err) => return Err(err).with_context(|| format!("opening {}", data.display())),
    };
    let StatusView {
        name,
        id,
        entries,
        size,
        signed,
        origin,
        vkey,
    } = view;
    let published = log::read_published(data)?
        .as_deref()
        .and_then(log::checkpoint_size);
    out!("election:   {name} ({id})");
    out!(
        "entries:    {entries} stored (entry 0, the genesis, and {} notes)",
        entries.saturating_sub(1)
    );
    out!("log:        {origin} ({size} leaves, last signed checkpoint {signed})");
    out!("log key:    {vkey}");
    match published {
        Some(p) if p == signed => out!("published:  checkpoint of {p} entries (up to date)"),
        Some(p) => out!(
            "published:  checkpoint of {p} entries — LAGGING by {} entries: witnesses have not cosigned the latest checkpoint",
            signed - p
        ),
        None => out!("published:  none yet"),
    }
    if let Some(policy) = publish::read_policy(data)? {
        let sizes = publish::witness_sizes(data).unwrap_or_default();
        out!(
            "witnesses:  quorum {} of {}",
            policy.quorum,
            policy.witnesses.len()
        );
        for w in &policy.witnesses {
            out!(
                "  {:<20} {:<28} last cosigned {}",
                w.name,
                w.url,
                sizes
                    .get(&w.name)
                    .map_or_else(|| "never".to_owned(), |s| format!("size {s}"))
            );
        }
    } else {
        out!("witnesses:  none configured: checkpoints are published without cosignatures");
    }
    Ok(ExitCode::SUCCESS)
}

/// What `urna status` shows of the store.
struct StatusView {
    name: String,
    id: String,
    entries: u64,
    size: u64,
    signed: u64,
    origin: String,
    vkey: String,
}

/// The status as a reader sees it, for a data directory another process holds: the entries
/// committed, the last signed checkpoint (its size is the log's leaves as far as they are
/// signed), the log's key.
fn read_only_status(data: &Path) -> Result<StatusView> {
    let election = urna_model::definition::Election::load(&data.join(urna_store::DEFINITION_FILE))?;
    let entries = urna_store::reader::EntryReader::open(data)?.len()?;
    let signed = log::read_latest(data)?
        .as_deref()
        .and_then(log::checkpoint_size)
        .unwrap_or(0);
    let public = log::PublicLog::open(data)?;
    Ok(StatusView {
        name: election.name.clone(),
        id: election.id,
        entries,
        size: signed,
        signed,
        origin: public.origin().to_owned(),
        vkey: public.vkey(),
    })
}

fn open(data: &Path) -> Result<Store> {
    Store::open(data).with_context(|| format!("opening {}", data.display()))
}

/// The published checkpoint note and its parsed, signature-checked content.
fn published(store: &Reading) -> Result<(Vec<u8>, urna_tlog::Checkpoint)> {
    let note = log::read_published(store.dir())?
        .context("no checkpoint is published yet: ingest something, and get it cosigned if witnesses are configured")?;
    let verifier = NoteVerifier::from_vkey(&store.log_vkey())?;
    let current = urna_tlog::checkpoint::open(&note, store.log_origin(), &verifier);
    let (cp, _) = match current {
        Ok(opened) => opened,
        // Right after `urna log rotate`, until the witnesses cosign the new key's first
        // checkpoint, the published one is the old key's, of exactly the entries before the
        // rotation (`urna log rotate` refuses while the witnesses lag).
        Err(err) => log::checkpoint_size(&note)
            .and_then(|size| store.entry(size).ok().flatten())
            .and_then(|e| urna_model::rotation::RotationBody::check(&e.note).ok())
            .and_then(|r| r.old.verifier(&r.origin).ok())
            .and_then(|old| urna_tlog::checkpoint::open(&note, store.log_origin(), &old).ok())
            .ok_or(err)
            .context("the published checkpoint does not verify with the log key")?,
    };
    Ok((note, cp))
}

/// `urna log witnesses --store URL --witnesses FILE`: checks FILE fully, then replaces the
/// store's policy ([`urna_pg::witnesses::change_policy`]) and prints what changed.
fn change_pg_witnesses(url: &str, file: &Path) -> Result<ExitCode> {
    if !crate::pg_cmd::is_url(url) {
        bail!(
            "--store {url:?}: not a PostgreSQL URL (a data directory's policy is DIR/witnesses.toml: edit it in place)"
        );
    }
    // Checked before the database is touched: a bad field changes nothing.
    let new = publish::read_policy_file(file).context("--witnesses")?;
    let parsed_new = urna_server::WitnessPolicy::from_toml(&new.toml)?;
    let mut client = urna_pg::connect(url).context("--store: connecting to PostgreSQL")?;
    let Some(current) = urna_pg::witnesses::policy(&mut client).context("--store")? else {
        bail!(
            "--store: this store has no witness policy (it publishes the sequencer's own checkpoints); a policy is given at init (`urna init --store … --witnesses FILE`)"
        );
    };
    if current == new {
        out!(
            "the policy in force is the same as {}: nothing changed",
            file.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let old = urna_pg::witnesses::change_policy(&mut client, &new).context("--store")?;
    let parsed_old = urna_server::WitnessPolicy::from_toml(&old.toml).map_err(|e| {
        anyhow::anyhow!("PostgreSQL table `witness_policy` (the policy replaced): {e}")
    })?;
    out!(
        "witness policy changed: {} of {} witnesses ({})",
        parsed_new.quorum,
        parsed_new.witnesses.len(),
        names(&parsed_new)
    );
    for line in policy_changes(
        &parsed_old,
        old.ca_cert.as_deref(),
        &parsed_new,
        new.ca_cert.as_deref(),
    ) {
        out!("  {line}");
    }
    out!(
        "the checkpoint published now stays published under the policy before until the nodes' next round publishes one this policy's quorum cosigned (`urna status --store` shows it)"
    );
    Ok(ExitCode::SUCCESS)
}

fn names(p: &urna_server::WitnessPolicy) -> String {
    p.witnesses
        .iter()
        .map(|w| w.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What changed from `old` to `new`, one line each: the quorum, witnesses added and removed,
/// and for a witness in both (by name) its key, URL and pins; the CA file.
fn policy_changes(
    old: &urna_server::WitnessPolicy,
    old_ca: Option<&str>,
    new: &urna_server::WitnessPolicy,
    new_ca: Option<&str>,
) -> Vec<String> {
    let mut lines = Vec::new();
    if old.quorum != new.quorum {
        lines.push(format!("quorum: {} -> {}", old.quorum, new.quorum));
    }
    let by_name = |p: &urna_server::WitnessPolicy, name: &str| {
        p.witnesses.iter().find(|w| w.name == name).cloned()
    };
    for w in &old.witnesses {
        match by_name(new, &w.name) {
            None => lines.push(format!("removed witness {} ({})", w.name, w.url)),
            Some(n) => {
                if n.verifier != w.verifier {
                    lines.push(format!(
                        "re-keyed witness {}: {} -> {} (its cosignatures by the old key no longer count)",
                        w.name,
                        w.verifier.to_vkey(),
                        n.verifier.to_vkey()
                    ));
                }
                if n.url != w.url {
                    lines.push(format!("witness {}: url {} -> {}", w.name, w.url, n.url));
                }
                if n.pins != w.pins {
                    let pins = |p: &[urna_server::pin::SpkiPin]| {
                        p.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    lines.push(format!(
                        "witness {}: pins [{}] -> [{}]",
                        w.name,
                        pins(&w.pins),
                        pins(&n.pins)
                    ));
                }
            }
        }
    }
    for w in &new.witnesses {
        if by_name(old, &w.name).is_none() {
            lines.push(format!(
                "added witness {} ({}, key {})",
                w.name,
                w.url,
                w.verifier.to_vkey()
            ));
        }
    }
    if old_ca != new_ca {
        lines.push(format!(
            "ca_cert: {} -> {}",
            old_ca.unwrap_or("(Mozilla's roots)"),
            new_ca.unwrap_or("(Mozilla's roots)")
        ));
    }
    if lines.is_empty() {
        lines.push("the same witnesses, keys and quorum (the file's text differs)".into());
    }
    lines
}
