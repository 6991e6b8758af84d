//! `urna init --store postgres://…` and `urna status --store postgres://…`: the PostgreSQL
//! engine chosen by URL (crate `urna-pg`, design in docs/ARCHITECTURE.md §5.1).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use urna_model::definition::Election;
use urna_model::note::NoteSigner;
use urna_model::protocol::hex;

/// Whether a `--store` value names a PostgreSQL database (a `postgres://` or `postgresql://`
/// URL, or a `key=value` connection string) rather than a SQLite data directory.
pub(crate) fn is_url(store: &str) -> bool {
    store.starts_with("postgres://")
        || store.starts_with("postgresql://")
        || store.split_whitespace().any(|w| {
            w.split_once('=')
                .is_some_and(|(k, _)| matches!(k, "host" | "dbname" | "user" | "port"))
        })
}

/// The log key of a PostgreSQL store: read from `path`, or, with `create`, generated for the
/// election of `definition` and written there (mode 0600) when the file does not exist.
pub(crate) fn log_key(path: &Path, definition: &Path, create: bool) -> Result<NoteSigner> {
    if create && !path.exists() {
        let election = Election::load(definition)
            .with_context(|| format!("reading {}", definition.display()))?;
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        let origin = election.log_origin();
        let signer = NoteSigner::from_seed(&origin, &seed)
            .with_context(|| format!("log origin {origin:?}"))?;
        urna_store::write_secret(path, &signer.to_skey())?;
        return Ok(signer);
    }
    let skey = std::fs::read_to_string(path).with_context(|| {
        format!(
            "--log-key {}: reading the log's private key",
            path.display()
        )
    })?;
    NoteSigner::from_skey(skey.trim()).with_context(|| {
        format!(
            "--log-key {}: not a signed-note private key",
            path.display()
        )
    })
}

/// `urna init --store URL --definition D --log-key FILE`.
pub(crate) fn init(
    url: &str,
    definition: &Path,
    key: Option<&Path>,
    witnesses: Option<&Path>,
) -> Result<ExitCode> {
    let Some(key) = key else {
        bail!(
            "--log-key: required with a PostgreSQL --store (the log's private key file, created if missing; every `urna serve --store` node reads it)"
        );
    };
    // Checked before anything is created, as a data directory's init does: the seat rules
    // every contest names, and a bad policy, leave the database empty.
    let election =
        Election::load(definition).with_context(|| format!("reading {}", definition.display()))?;
    urna_tally::seats::check_definition(&election)
        .with_context(|| format!("{}: seat rules", definition.display()))?;
    let policy = witnesses
        .map(urna_server::publish::read_policy_file)
        .transpose()
        .context("--witnesses")?;
    let signer = log_key(key, definition, true)?;
    let vkey = signer.verifier().to_vkey();
    let store = urna_pg::PgStore::init_with_witnesses(url, definition, signer, policy.as_ref())
        .with_context(|| "initialising the PostgreSQL store (--store)")?;
    let e = store.election();
    out!(
        "initialised the PostgreSQL store for {} ({}): {} stations, {} units, {} lists, {} rules; definition sha256:{}",
        e.name,
        e.id,
        e.stations.len(),
        e.units.len(),
        e.lists.len(),
        e.rules.len(),
        hex(&e.digest)
    );
    out!("log key:    {vkey}");
    out!(
        "secret key: {} (give it to every `urna serve --store` node)",
        key.display()
    );
    if let Some(p) = &policy {
        let parsed = urna_server::WitnessPolicy::from_toml(&p.toml)?;
        out!(
            "witnesses:  {} of {} ({}); a checkpoint is published once they cosign it",
            parsed.quorum,
            parsed.witnesses.len(),
            parsed
                .witnesses
                .iter()
                .map(|w| w.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `urna status --store URL`: entries, the signed log, the sequencer and every node.
pub(crate) fn status(url: &str) -> Result<ExitCode> {
    let mut client = urna_pg::connect(url).context("--store: connecting to PostgreSQL")?;
    let c = urna_pg::nodes::cluster(&mut client).context("--store")?;
    out!("election:   {}", c.election);
    out!(
        "entries:    {} stored (entry 0, the genesis, and {} notes)",
        c.entries,
        c.entries.saturating_sub(1)
    );
    out!(
        "log:        last signed checkpoint {} ({} entries not yet sequenced)",
        c.signed,
        c.entries.saturating_sub(c.signed)
    );
    match c.published {
        Some(published) => {
            if published >= c.signed {
                out!("published:  checkpoint {published}, cosigned by the witnesses (up to date)");
            } else {
                out!(
                    "published:  checkpoint {published}, cosigned by the witnesses: LAGGING by {} entries (a witness down or the quorum missing; see the sequencing node's log, or `urna log publish --store`)",
                    c.signed - published
                );
            }
        }
        None => out!("published:  the sequencer's checkpoint (no witness policy)"),
    }
    if c.holder.is_empty() {
        out!("sequencer:  none yet");
    } else if c.lease_left_s >= 0.0 {
        out!(
            "sequencer:  {} (epoch {}, lease {:.1} s left)",
            c.holder,
            c.epoch,
            c.lease_left_s
        );
    } else if !c.lease_left_s.is_finite() {
        out!(
            "sequencer:  none: {} gave its lease (epoch {}) up; the next node to try takes over",
            c.holder,
            c.epoch
        );
    } else {
        out!(
            "sequencer:  none: {}'s lease (epoch {}) expired {:.1} s ago; the next node to try takes over",
            c.holder,
            c.epoch,
            -c.lease_left_s
        );
    }
    out!(
        "nodes:      {} ({} heard from in the last 5 s)",
        c.nodes.len(),
        c.nodes.iter().filter(|n| n.seen_ago_s < 5.0).count()
    );
    out!(
        "  {:<16} {:<22} {:>9} {:>10} {:>9} {:>8}  role",
        "node",
        "listen",
        "seen ago",
        "intake",
        "notes/s",
        "up"
    );
    for n in &c.nodes {
        let role = if n.sequencing && n.name == c.holder && c.lease_left_s >= 0.0 {
            "sequencer"
        } else if n.seen_ago_s >= 5.0 {
            "silent"
        } else {
            "intake"
        };
        out!(
            "  {:<16} {:<22} {:>8.1}s {:>10} {:>9.1} {:>7.0}s  {role}",
            n.name,
            n.listen,
            n.seen_ago_s,
            n.intake,
            n.rate,
            n.up_s
        );
    }
    // The witness policy in force: the quorum, each witness's name, key and URL, and whether
    // the published checkpoint is still the one cosigned under the policy before the last
    // change (`urna log witnesses --store`).
    let Some(stored) = urna_pg::witnesses::policy(&mut client).context("--store")? else {
        return Ok(ExitCode::SUCCESS);
    };
    let policy = urna_server::WitnessPolicy::from_toml(&stored.toml)
        .map_err(|e| anyhow::anyhow!("PostgreSQL table `witness_policy`: {e}"))?;
    out!(
        "witnesses:  {} of {} cosign each published checkpoint{}",
        policy.quorum,
        policy.witnesses.len(),
        stored
            .ca_cert
            .as_deref()
            .map(|ca| format!(" (CA file {ca})"))
            .unwrap_or_default()
    );
    for w in &policy.witnesses {
        out!("  {:<16} {}  {}", w.name, w.verifier.to_vkey(), w.url);
    }
    if let Some(under) = urna_pg::witnesses::published_under(&mut client).context("--store")?
        && !under.current
    {
        out!(
            "  the published checkpoint was cosigned under the policy before the last change; the next round under this one replaces it"
        );
    }
    Ok(ExitCode::SUCCESS)
}
