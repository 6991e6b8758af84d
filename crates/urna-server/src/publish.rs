//! Publishing the log's checkpoints once the witnesses have cosigned them: the log side of
//! C2SP tlog-witness, run after each intake and by `urna log publish`.
//!
//! It reads the data directory's `witnesses.toml` (the policy: k of n witnesses), asks them to
//! cosign the latest checkpoint the log signed ([`collect_cosignatures`]), remembers the size
//! each one last cosigned (`witness-sizes.json`, so the next request carries the right
//! consistency proof), and publishes the cosigned checkpoint on quorum. Without a policy the
//! store publishes every checkpoint as it signs it.
//!
//! A PostgreSQL store ([`publish_pg`]) does the same with the same [`collect_cosignatures`]:
//! the policy, the sizes and the published checkpoint are rows of the database
//! ([`urna_pg::witnesses`]), the consistency proofs come from its `tiles` table.

use std::collections::BTreeMap;
use std::path::Path;

use urna_store::log::PublicLog;
use urna_store::{StoreError, log};
use urna_tlog::tiledir::write_file_atomic;

use crate::cosign_client::{PolicyError, WitnessPolicy, collect_cosignatures};

/// What [`publish`] did.
pub enum Published {
    /// No witnesses are configured: checkpoints are published as the log signs them.
    NoWitnesses,
    /// The latest checkpoint was already published.
    UpToDate(u64),
    /// The quorum cosigned; the checkpoint of this size is published.
    Cosigned {
        /// Tree size.
        size: u64,
        /// Witnesses that cosigned.
        by: Vec<String>,
        /// Witnesses that did not, with why.
        failed: Vec<(String, String)>,
    },
    /// Too few witnesses cosigned; the published checkpoint lags.
    Lagging {
        /// Size of the checkpoint that was refused publication.
        size: u64,
        /// Cosignatures needed.
        quorum: usize,
        /// Witnesses that cosigned.
        by: Vec<String>,
        /// Witnesses that did not, with why.
        failed: Vec<(String, String)>,
    },
}

impl std::fmt::Display for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let failures = |f: &mut std::fmt::Formatter<'_>, failed: &[(String, String)]| {
            failed
                .iter()
                .try_for_each(|(w, why)| write!(f, "\n  witness {w} did not cosign: {why}"))
        };
        match self {
            Self::NoWitnesses => write!(
                f,
                "no witnesses configured: checkpoints are published as signed"
            ),
            Self::UpToDate(size) => {
                write!(f, "the published checkpoint ({size} entries) is up to date")
            }
            Self::Cosigned { size, by, failed } => {
                write!(
                    f,
                    "published the checkpoint of {size} entries, cosigned by {}",
                    by.join(", ")
                )?;
                failures(f, failed)
            }
            Self::Lagging {
                size,
                quorum,
                by,
                failed,
            } => {
                write!(
                    f,
                    "NOT published: the checkpoint of {size} entries has {} of the {quorum} cosignatures it needs; the published checkpoint lags",
                    by.len()
                )?;
                failures(f, failed)
            }
        }
    }
}

/// File in the data directory with the size each witness last cosigned.
pub const WITNESS_SIZES_FILE: &str = "witness-sizes.json";

/// Why publishing could not be attempted.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// `witnesses.toml` is invalid.
    #[error("{path}: {source}")]
    Policy {
        /// The file.
        path: String,
        /// What is wrong, naming the field.
        source: PolicyError,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The witness-sizes file is not the JSON it should be.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: String,
        /// Cause.
        source: serde_json::Error,
    },
    /// The store failed or refused the checkpoint.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The PostgreSQL store failed or refused the checkpoint.
    #[error(transparent)]
    Pg(#[from] urna_pg::PgError),
    /// The published checkpoint lacks its witness policy's quorum of cosignatures.
    #[error("PostgreSQL table `published`, checkpoint: {0}: the database was edited outside urna")]
    Uncosigned(String),
}

/// The witness policy of a data directory, if it has one.
///
/// # Errors
/// [`PublishError::Policy`] or [`PublishError::Io`].
pub fn read_policy(data: &Path) -> Result<Option<WitnessPolicy>, PublishError> {
    let path = data.join(urna_store::WITNESSES_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let mut policy = WitnessPolicy::from_toml(&text).map_err(|source| PublishError::Policy {
        path: path.display().to_string(),
        source,
    })?;
    if let Some(ca) = &mut policy.ca_cert {
        if ca.is_relative() {
            *ca = data.join(&*ca);
        }
        // Checked now, so that a bad file stops the start, not every later cosigning.
        urna_pin::ca_certificates(ca).map_err(|e| PublishError::Policy {
            path: path.display().to_string(),
            source: PolicyError::Invalid {
                field: "ca_cert".into(),
                reason: e.rule,
            },
        })?;
    }
    Ok(Some(policy))
}

/// The newest time (Unix seconds) at which a witness of `policy` cosigned `checkpoint` (a
/// signed note), with the witness's name; `None` if no cosignature on it verifies under a key
/// of the policy. This is the CDF export's `GeneratedDate`, in the bundle and in
/// `urna export cdf` alike.
pub fn newest_cosignature(
    policy: Option<&WitnessPolicy>,
    checkpoint: &[u8],
) -> Option<(u64, String)> {
    let note = urna_model::note::Note::parse(checkpoint).ok()?;
    policy
        .iter()
        .flat_map(|p| &p.witnesses)
        .filter_map(|w| w.verifier.verify(&note).ok().map(|t| (t, w.name.clone())))
        .max_by_key(|(t, _)| *t)
}

/// The size each witness last cosigned for this log (empty before the first publication).
///
/// # Errors
/// [`PublishError::Io`] or [`PublishError::Json`].
pub fn witness_sizes(data: &Path) -> Result<BTreeMap<String, u64>, PublishError> {
    let path = data.join(WITNESS_SIZES_FILE);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|source| PublishError::Json {
            path: path.display().to_string(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(io_err(&path)(e)),
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> PublishError + '_ {
    move |source| PublishError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Asks the witnesses in the data directory's `witnesses.toml` to cosign the latest checkpoint
/// the log signed, and publishes it once the quorum has cosigned.
///
/// # Errors
/// [`PublishError`]: an unreadable policy or sizes file, or the store refusing to publish.
pub fn publish(public: &PublicLog) -> Result<Published, PublishError> {
    let data = public.dir();
    let Some(policy) = read_policy(data)? else {
        return Ok(Published::NoWitnesses);
    };
    let Some(latest) = log::read_latest(data)? else {
        return Ok(Published::UpToDate(0));
    };
    let size = log::checkpoint_size(&latest).unwrap_or(0);
    let published = log::read_published(data)?
        .as_deref()
        .and_then(log::checkpoint_size);
    if published == Some(size) {
        return Ok(Published::UpToDate(size));
    }
    let sizes_path = data.join(WITNESS_SIZES_FILE);
    let mut last_size = witness_sizes(data)?;
    let proof = |old: u64, new: u64| {
        public
            .consistency_proof(old, new)
            .map_err(|e| e.to_string())
    };
    let report = collect_cosignatures(
        &policy,
        &latest,
        &mut last_size,
        &proof,
        std::time::Duration::from_secs(10),
    );
    let json = serde_json::to_vec_pretty(&last_size).map_err(|e| PublishError::Json {
        path: sizes_path.display().to_string(),
        source: e,
    })?;
    write_file_atomic(&sizes_path, &json).map_err(io_err(&sizes_path))?;
    match report.cosigned_note {
        Some(note) => {
            public.publish(&note)?;
            Ok(Published::Cosigned {
                size,
                by: report.got,
                failed: report.failed,
            })
        }
        None => Ok(Published::Lagging {
            size,
            quorum: policy.quorum,
            by: report.got,
            failed: report.failed,
        }),
    }
}

/// Reads a witness policy file for a PostgreSQL store (`urna init --store … --witnesses FILE`):
/// checked as a data directory's `witnesses.toml` is, its `ca_cert` resolved against the
/// file's directory and checked, and returned as the database keeps it.
///
/// # Errors
/// [`PublishError::Policy`] or [`PublishError::Io`].
pub fn read_policy_file(path: &Path) -> Result<urna_pg::witnesses::StoredPolicy, PublishError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let policy = parse_stored(&text, None).map_err(|source| PublishError::Policy {
        path: path.display().to_string(),
        source,
    })?;
    let ca_cert = match policy.ca_cert {
        Some(ca) => {
            let ca = std::path::absolute(dir.join(ca)).map_err(io_err(path))?;
            urna_pin::ca_certificates(&ca).map_err(|e| PublishError::Policy {
                path: path.display().to_string(),
                source: PolicyError::Invalid {
                    field: "ca_cert".into(),
                    reason: e.rule,
                },
            })?;
            Some(ca.display().to_string())
        }
        None => None,
    };
    Ok(urna_pg::witnesses::StoredPolicy {
        toml: text,
        ca_cert,
    })
}

/// The policy of a PostgreSQL store as stored (its `ca_cert` the absolute path kept beside it).
fn parse_stored(toml: &str, ca_cert: Option<&str>) -> Result<WitnessPolicy, PolicyError> {
    let mut policy = WitnessPolicy::from_toml(toml)?;
    if let Some(ca) = ca_cert {
        policy.ca_cert = Some(ca.into());
    }
    Ok(policy)
}

/// The witness policy of a PostgreSQL store, if one was set.
///
/// # Errors
/// [`PublishError::Pg`], or [`PublishError::Policy`] if the stored text is not a valid policy
/// (edited outside urna).
pub fn pg_policy(reader: &mut urna_pg::PgReader) -> Result<Option<WitnessPolicy>, PublishError> {
    let Some(stored) = reader.witness_policy()? else {
        return Ok(None);
    };
    parse_stored(&stored.toml, stored.ca_cert.as_deref())
        .map(Some)
        .map_err(|source| PublishError::Policy {
            path: "PostgreSQL table `witness_policy`".into(),
            source,
        })
}

/// Why `checkpoint` (a signed note) is not cosigned by `policy`'s quorum, if it is not:
/// distinct witnesses of the policy with a cosignature that verifies, counted once each.
pub fn quorum_missing(policy: &WitnessPolicy, checkpoint: &[u8]) -> Option<String> {
    let note = match urna_model::note::Note::parse(checkpoint) {
        Ok(n) => n,
        Err(e) => return Some(format!("not a signed note: {e}")),
    };
    let by: std::collections::BTreeSet<&str> = policy
        .witnesses
        .iter()
        .filter(|w| w.verifier.verify(&note).is_ok())
        .map(|w| w.name.as_str())
        .collect();
    (by.len() < policy.quorum).then(|| {
        format!(
            "cosigned by {} of the witness policy's witnesses, but its quorum is {}",
            by.len(),
            policy.quorum
        )
    })
}

/// The checkpoint a PostgreSQL store publishes ([`urna_pg::PgReader::published_checkpoint`]),
/// checked against its witness policy: with one, table `published` is only ever written with
/// a note its quorum cosigned, so anything else there was written outside urna and no witness
/// saw it. What `GET /checkpoint` of a node and the bundle (`urna publish --store`) give.
///
/// The policy it is checked against is the one that cosigned it
/// ([`urna_pg::witnesses::published_under`]): the policy in force, except for the note
/// published when the policy was last changed (`urna log witnesses --store`), which stays
/// published under the policy before until a round under the new one replaces it, as a data
/// directory's `log/checkpoint` stays when its `witnesses.toml` is edited. Any other note is
/// checked against the policy in force, so one cosigned by a witness's replaced key is refused.
///
/// # Errors
/// [`PublishError::Pg`], [`PublishError::Policy`] for an invalid stored policy,
/// [`PublishError::Uncosigned`].
pub fn pg_published(reader: &mut urna_pg::PgReader) -> Result<Option<Vec<u8>>, PublishError> {
    Ok(pg_published_under(reader)?.map(|(note, _)| note))
}

/// A published checkpoint and the witness policy whose quorum cosigned it (`None`: no policy,
/// the sequencer's own checkpoint).
pub type CosignedUnder = (Vec<u8>, Option<WitnessPolicy>);

/// [`pg_published`] with the policy whose quorum cosigned the note (`None`: no policy, the
/// sequencer's own checkpoint), read together: what a bundle's `v1/keys.json` names beside it.
///
/// # Errors
/// As [`pg_published`].
pub fn pg_published_under(
    reader: &mut urna_pg::PgReader,
) -> Result<Option<CosignedUnder>, PublishError> {
    let Some(under) = reader.published_under()? else {
        // Nothing cosigned yet, or no policy: the sequencer's checkpoint then.
        return Ok(reader.published_checkpoint()?.map(|note| (note, None)));
    };
    let policy =
        parse_stored(&under.policy.toml, under.policy.ca_cert.as_deref()).map_err(|source| {
            PublishError::Policy {
                path: if under.current {
                    "PostgreSQL table `witness_policy`".into()
                } else {
                    "PostgreSQL table `witness_policy`, column `previous_policy`".into()
                },
                source,
            }
        })?;
    if let Some(why) = quorum_missing(&policy, &under.checkpoint) {
        let whose = if under.current {
            "in force"
        } else {
            "before the last change (the one this note was published under)"
        };
        return Err(PublishError::Uncosigned(format!(
            "{why} (the policy {whose})"
        )));
    }
    Ok(Some((under.checkpoint, Some(policy))))
}

/// Asks the witnesses of a PostgreSQL store's policy to cosign the latest checkpoint its
/// sequencer signed, and publishes it (table `published`) once the quorum has cosigned: the
/// same round as [`publish`], one at a time across every node of the database, on `client`
/// (a connection of its own). `verifier` is the log key's.
///
/// # Errors
/// [`PublishError`]: the database failing, or an invalid stored policy.
pub fn publish_pg(
    client: &mut postgres::Client,
    verifier: &urna_model::note::NoteVerifier,
) -> Result<Published, PublishError> {
    // A policy changed between the read and the round's lock: read it again (a change is rare,
    // so two in a row are rarer still; a third answers "up to date" and the next round goes on).
    for _ in 0..3 {
        if let Some(done) = publish_pg_once(client, verifier)? {
            return Ok(done);
        }
    }
    let size = urna_pg::witnesses::published(client)?
        .as_deref()
        .and_then(log::checkpoint_size)
        .unwrap_or(0);
    Ok(Published::UpToDate(size))
}

/// One round of [`publish_pg`] under the policy read now; `None` if it changed before the
/// round's lock.
fn publish_pg_once(
    client: &mut postgres::Client,
    verifier: &urna_model::note::NoteVerifier,
) -> Result<Option<Published>, PublishError> {
    let Some(stored) = urna_pg::witnesses::policy(client)? else {
        return Ok(Some(Published::NoWitnesses));
    };
    let policy = parse_stored(&stored.toml, stored.ca_cert.as_deref()).map_err(|source| {
        PublishError::Policy {
            path: "PostgreSQL table `witness_policy`".into(),
            source,
        }
    })?;
    let mut report = None;
    let round = urna_pg::witnesses::publish_round_under(
        client,
        verifier.name(),
        verifier,
        Some(&stored),
        &|note: &[u8]| quorum_missing(&policy, note).is_none(),
        Box::new(
            |latest: &[u8],
             last_size: &mut BTreeMap<String, u64>,
             proof: &dyn Fn(u64, u64) -> Result<Vec<urna_tlog::Hash>, String>| {
                let r = collect_cosignatures(
                    &policy,
                    latest,
                    last_size,
                    proof,
                    std::time::Duration::from_secs(10),
                );
                let note = r.cosigned_note.clone();
                report = Some(r);
                note
            },
        ),
    )?;
    use urna_pg::witnesses::Round;
    Ok(Some(match (round, report) {
        (Round::PolicyChanged, _) => return Ok(None),
        (Round::NoPolicy, _) => Published::NoWitnesses,
        (Round::NothingSigned, _) => Published::UpToDate(0),
        (Round::UpToDate(size), _) => Published::UpToDate(size),
        (Round::Asked { size, published }, report) => {
            let report = report.unwrap_or_default();
            if published {
                Published::Cosigned {
                    size,
                    by: report.got,
                    failed: report.failed,
                }
            } else {
                Published::Lagging {
                    size,
                    quorum: policy.quorum,
                    by: report.got,
                    failed: report.failed,
                }
            }
        }
    }))
}
