//! The automatic checks: what urna can answer about a deployment from its own files.
//!
//! Every check reads only: files of the data directory (the definition, `witnesses.toml`, the
//! log's checkpoints and key, `secrets/`), backups under a directory the operator names, the
//! command lines of a serve configuration (a systemd unit or a shell script), and SQLite
//! databases opened read-only (`urna.sqlite` for the definition the log was made with,
//! `desk.sqlite` for the audit trail). None takes the store's writer lock, so checks run
//! beside a running `urna serve`.
//!
//! A check answers [`Outcome::Pass`], [`Outcome::Fail`] or [`Outcome::Unknown`] (it had
//! nothing to look at, e.g. no backup directory was named), always with the evidence it saw:
//! one line, written into the assessment and its signed note.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use urna_model::definition::Election;
use urna_model::note::NoteSigner;
use urna_server::publish::read_policy;
use urna_server::tls::{Tls, check_listen};
use urna_store::backup::{Backup, BackupInfo};
use urna_store::log::{LATEST_CHECKPOINT_FILE, LOG_DIR, LOG_KEY_FILE};
use urna_store::reader::EntryReader;
use urna_store::{DEFINITION_FILE, WITNESSES_FILE};

pub use crate::controls::CheckId;
use crate::controls::hex;

/// What a check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The control holds, as far as the files show.
    Pass,
    /// The control does not hold; the evidence says why.
    Fail,
    /// Nothing to check (e.g. no backup directory named); the evidence says what is missing.
    Unknown,
}

impl Outcome {
    /// `pass`, `fail`, `unknown`.
    #[must_use]
    pub fn word(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// A check's answer and the evidence it saw (one line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Which check.
    pub check: CheckId,
    /// Its answer.
    pub outcome: Outcome,
    /// What it saw, one line.
    pub evidence: String,
}

/// What the checks read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// The data directory (`urna init`).
    pub data: PathBuf,
    /// The directory holding the backups (`urna backup --out DIR/<name>`), if any.
    pub backups: Option<PathBuf>,
    /// A file holding the servers' command lines (a systemd unit or a shell script), if any.
    pub serve_config: Option<PathBuf>,
    /// The directory holding the desk's `desk.sqlite` (default: the data directory).
    pub desk: Option<PathBuf>,
}

impl Inputs {
    /// Inputs of a data directory alone.
    #[must_use]
    pub fn new(data: impl Into<PathBuf>) -> Self {
        Self {
            data: data.into(),
            backups: None,
            serve_config: None,
            desk: None,
        }
    }
}

/// Why the checks could not run at all (every other problem is a finding).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The data directory has no readable, valid election definition.
    #[error("{path}: not an urna data directory: {reason}")]
    NotDataDir {
        /// The definition's path.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Runs every check on `inputs`.
///
/// # Errors
/// [`CheckError::NotDataDir`] if the definition cannot be loaded; every other problem is a
/// [`Finding`] with [`Outcome::Fail`] or [`Outcome::Unknown`].
pub fn run_all(inputs: &Inputs) -> Result<Vec<Finding>, CheckError> {
    let definition = inputs.data.join(DEFINITION_FILE);
    let election = Election::load(&definition).map_err(|e| CheckError::NotDataDir {
        path: definition.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(CheckId::ALL
        .into_iter()
        .map(|check| {
            let (outcome, evidence) = match check {
                CheckId::StationKeys => station_keys(&election),
                CheckId::AuthorityKeys => authority_keys(&election),
                CheckId::LogIntegrity => log_integrity(&inputs.data, &election),
                CheckId::WitnessQuorum => witness_quorum(&inputs.data),
                CheckId::WitnessTls => witness_tls(&inputs.data),
                CheckId::ServeTls => serve_tls(inputs.serve_config.as_deref()),
                CheckId::Backups => backups(inputs.backups.as_deref(), &election),
                CheckId::KeyCustody => key_custody(&inputs.data),
                CheckId::BackupsWithoutKeys => backups_without_keys(inputs.backups.as_deref()),
                CheckId::AuditTrail => audit_trail(inputs.desk.as_deref().unwrap_or(&inputs.data)),
            };
            Finding {
                check,
                outcome,
                evidence: shorten(&one_line(&evidence), crate::note::MAX_EVIDENCE_BYTES),
            }
        })
        .collect())
}

type Answer = (Outcome, String);

fn station_keys(e: &Election) -> Answer {
    let mut by_key: BTreeMap<[u8; 32], Vec<&str>> = BTreeMap::new();
    for s in &e.stations {
        by_key.entry(s.public_key).or_default().push(&s.id);
    }
    let shared: Vec<String> = by_key
        .values()
        .filter(|ids| ids.len() > 1)
        .map(|ids| ids.join(" and "))
        .collect();
    if e.stations.is_empty() {
        return (Outcome::Fail, "the definition lists no stations".into());
    }
    if shared.is_empty() {
        (
            Outcome::Pass,
            format!(
                "{}, {}, each named after its station",
                count(e.stations.len(), "station"),
                count(by_key.len(), "distinct key")
            ),
        )
    } else {
        (
            Outcome::Fail,
            format!(
                "{} stations but {} distinct keys; sharing a key: {}",
                e.stations.len(),
                by_key.len(),
                shared.join("; ")
            ),
        )
    }
}

fn authority_keys(e: &Election) -> Answer {
    if e.authorities.is_empty() {
        return (
            Outcome::Fail,
            "the definition names no authorities: nobody can decide on a quarantined protocol or key a paper one at a counting centre".into(),
        );
    }
    let station_keys: BTreeSet<[u8; 32]> = e.stations.iter().map(|s| s.public_key).collect();
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    let mut described = Vec::new();
    for a in &e.authorities {
        let key = a.key.verifying_key().to_bytes();
        if station_keys.contains(&key) {
            problems.push(format!("{} uses a station's key", a.name));
        }
        if !seen.insert(key) {
            problems.push(format!("{} shares its key with another authority", a.name));
        }
        let scope = e
            .units
            .get(a.scope.0 as usize)
            .map_or("?", |u| u.id.as_str());
        let whole = e
            .units
            .get(a.scope.0 as usize)
            .is_some_and(|u| u.parent.is_none());
        described.push(if whole {
            format!("{} (key {}, the whole election)", a.name, a.key.name())
        } else {
            format!("{} (key {}, unit {scope})", a.name, a.key.name())
        });
    }
    if described.len() > LISTED {
        let more = described.len() - LISTED;
        described.truncate(LISTED);
        described.push(format!("and {more} more"));
    }
    if problems.is_empty() {
        (
            Outcome::Pass,
            format!(
                "{}, keys distinct from each other and from the stations': {}",
                count(e.authorities.len(), "authority"),
                described.join(", ")
            ),
        )
    } else {
        (Outcome::Fail, problems.join("; "))
    }
}

fn log_integrity(data: &Path, e: &Election) -> Answer {
    let mut seen = Vec::new();
    let key_path = data.join(LOG_KEY_FILE);
    let verifier = match std::fs::read_to_string(&key_path) {
        Ok(text) => match NoteSigner::from_skey(text.trim()) {
            Ok(s) => s.verifier(),
            Err(err) => return (Outcome::Fail, format!("{LOG_KEY_FILE}: {err}")),
        },
        Err(err) => {
            return (
                Outcome::Unknown,
                format!("{LOG_KEY_FILE} not readable ({err}); run the check where the log key is"),
            );
        }
    };
    seen.push(format!("log key {}", verifier.to_vkey()));
    for (file, what) in [
        (PathBuf::from(LATEST_CHECKPOINT_FILE), "signed"),
        (Path::new(LOG_DIR).join("checkpoint"), "published"),
    ] {
        let path = data.join(&file);
        match std::fs::read(&path) {
            Ok(bytes) => match urna_tlog::checkpoint::open(&bytes, verifier.name(), &verifier) {
                Ok((cp, _)) => seen.push(format!(
                    "{what} checkpoint of {} entries verifies",
                    cp.size.0
                )),
                Err(err) => {
                    return (Outcome::Fail, format!("{}: {err}", file.display()));
                }
            },
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && what == "published" => {
                seen.push("no checkpoint published yet".into());
            }
            Err(err) => return (Outcome::Fail, format!("{}: {err}", file.display())),
        }
    }
    let recorded = EntryReader::open(data).and_then(|r| r.definition_sha256());
    match recorded {
        Ok(sha) if sha == hex(&e.digest) => {
            seen.push(format!(
                "the log was made for this definition (sha256:{sha})"
            ));
            (Outcome::Pass, seen.join("; "))
        }
        Ok(sha) => (
            Outcome::Fail,
            format!(
                "the log was made for definition sha256:{sha}, but {DEFINITION_FILE} and its stations file are sha256:{}",
                hex(&e.digest)
            ),
        ),
        Err(err) => (Outcome::Fail, format!("urna.sqlite: {err}")),
    }
}

fn witness_quorum(data: &Path) -> Answer {
    let policy = match read_policy(data) {
        Ok(Some(p)) => p,
        Ok(None) => {
            return (
                Outcome::Fail,
                format!("no {WITNESSES_FILE}: checkpoints are published without any witness"),
            );
        }
        Err(err) => return (Outcome::Fail, err.to_string()),
    };
    let mut per_host: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut loopback = Vec::new();
    for w in &policy.witnesses {
        let host = url_host(&w.url);
        if is_loopback_host(&host) {
            loopback.push(w.name.as_str());
        } else {
            per_host.entry(host).or_default().push(&w.name);
        }
    }
    let largest = per_host.values().map(Vec::len).max().unwrap_or(0);
    let hosts: Vec<String> = per_host
        .iter()
        .map(|(h, names)| format!("{h} ({})", names.join(", ")))
        .collect();
    let mut evidence = format!(
        "quorum {} of {} witnesses; hosts: {}",
        policy.quorum,
        policy.witnesses.len(),
        if hosts.is_empty() {
            "none".to_owned()
        } else {
            hosts.join(", ")
        }
    );
    if !loopback.is_empty() {
        evidence.push_str(&format!(
            "; on this machine (loopback): {}",
            loopback.join(", ")
        ));
    }
    // A quorum must need at least two hosts other than the log's own machine: the loopback
    // witnesses and the busiest single host together must fall short of it.
    if policy.quorum >= 2 && loopback.len() + largest < policy.quorum {
        (Outcome::Pass, evidence)
    } else {
        evidence.push_str(&format!(
            "; the quorum can be reached by {} without a second institution's host",
            if loopback.is_empty() {
                "one host".to_owned()
            } else {
                "this machine and one host".to_owned()
            }
        ));
        (Outcome::Fail, evidence)
    }
}

fn witness_tls(data: &Path) -> Answer {
    match read_policy(data) {
        Ok(Some(p)) => {
            let plain: Vec<&str> = p
                .witnesses
                .iter()
                .filter(|w| !w.url.starts_with("https://"))
                .map(|w| w.name.as_str())
                .collect();
            if plain.is_empty() {
                (
                    Outcome::Pass,
                    format!(
                        "all {} witnesses over https://{}",
                        p.witnesses.len(),
                        p.ca_cert
                            .as_ref()
                            .map(|c| format!(", certificates checked against {}", c.display()))
                            .unwrap_or_default()
                    ),
                )
            } else {
                (
                    Outcome::Fail,
                    format!("plain http:// to {}", plain.join(", ")),
                )
            }
        }
        Ok(None) => (Outcome::Unknown, format!("no {WITNESSES_FILE}")),
        Err(err) => (Outcome::Fail, err.to_string()),
    }
}

/// The servers whose command lines carry `--listen` and `--tls-*`: the words after `urna`.
const SERVERS: [(&[&str], &str); 3] = [
    (&["serve"], "127.0.0.1:8080"),
    (&["witness", "serve"], "127.0.0.1:0"),
    (&["desk"], "127.0.0.1:8090"),
];

fn serve_tls(config: Option<&Path>) -> Answer {
    let Some(config) = config else {
        return (
            Outcome::Unknown,
            "no serve configuration named (--serve-config: the systemd unit or script with the urna serve command line)".into(),
        );
    };
    let text = match std::fs::read_to_string(config) {
        Ok(t) => t,
        Err(err) => return (Outcome::Fail, format!("{}: {err}", config.display())),
    };
    let base = config.parent().unwrap_or(Path::new("."));
    let commands = server_commands(&text);
    if commands.is_empty() {
        return (
            Outcome::Unknown,
            format!(
                "{}: no urna serve, urna witness serve or urna desk command line",
                config.display()
            ),
        );
    }
    let mut seen = Vec::new();
    let mut failed = Vec::new();
    for c in &commands {
        let resolve = |p: &str| {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            }
        };
        let listen = c.flag("--listen").unwrap_or(c.default_listen);
        let addr: SocketAddr = match listen.parse() {
            Ok(a) => a,
            Err(_) => {
                failed.push(format!(
                    "urna {}: --listen {listen:?} is not an address",
                    c.name
                ));
                continue;
            }
        };
        let cert = c.flag("--tls-cert").map(resolve);
        let key = c.flag("--tls-key").map(resolve);
        match Tls::from_args(cert.as_deref(), key.as_deref())
            .and_then(|tls| check_listen(addr, tls.as_ref()).map(|()| tls))
        {
            Ok(Some(tls)) => seen.push(format!(
                "urna {} on {addr}: HTTPS, {} loads",
                c.name,
                tls.cert.display()
            )),
            Ok(None) => seen.push(format!(
                "urna {} on {addr}: plain HTTP on loopback only",
                c.name
            )),
            Err(err) => failed.push(format!("urna {}: {err}", c.name)),
        }
    }
    if failed.is_empty() {
        (Outcome::Pass, seen.join("; "))
    } else {
        (Outcome::Fail, failed.join("; "))
    }
}

/// One server command line found in a configuration file.
struct ServerCommand {
    name: String,
    default_listen: &'static str,
    args: Vec<String>,
}

impl ServerCommand {
    /// The value of `--flag VALUE` or `--flag=VALUE`, the last one given.
    fn flag(&self, flag: &str) -> Option<&str> {
        let mut found = None;
        let mut words = self.args.iter();
        while let Some(w) = words.next() {
            if w == flag {
                found = words.next().map(String::as_str);
            } else if let Some(v) = w.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
                found = Some(v);
            }
        }
        found
    }
}

/// The urna server command lines in a systemd unit or shell script: lines joined at a
/// trailing backslash, split into words (quotes removed), each `urna` word followed by a
/// server's subcommand starting one command that runs to the end of the line or a `;`, `&&`,
/// `||`, `|` or `&`.
fn server_commands(text: &str) -> Vec<ServerCommand> {
    let joined = text.replace("\\\r\n", " ").replace("\\\n", " ");
    let mut out = Vec::new();
    for line in joined.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let words: Vec<String> = line
            .split_whitespace()
            .map(|w| w.trim_matches(|c| c == '"' || c == '\''))
            .map(str::to_owned)
            .collect();
        for (i, w) in words.iter().enumerate() {
            let program = w.rsplit(['/', '=']).next().unwrap_or(w);
            if program != "urna" {
                continue;
            }
            let rest = &words[i + 1..];
            for (sub, default_listen) in SERVERS {
                if rest.len() >= sub.len() && rest.iter().zip(sub.iter()).all(|(a, b)| a == b) {
                    let args: Vec<String> = rest[sub.len()..]
                        .iter()
                        .take_while(|a| !matches!(a.as_str(), ";" | "&&" | "||" | "|" | "&"))
                        .cloned()
                        .collect();
                    out.push(ServerCommand {
                        name: sub.join(" "),
                        default_listen,
                        args,
                    });
                    break;
                }
            }
        }
    }
    out
}

fn backups(dir: Option<&Path>, e: &Election) -> Answer {
    let Some(dir) = dir else {
        return (
            Outcome::Unknown,
            "no backup directory named (--backups DIR, where urna backup --out writes)".into(),
        );
    };
    let found = match backup_dirs(dir) {
        Ok(f) => f,
        Err(err) => return (Outcome::Fail, format!("{}: {err}", dir.display())),
    };
    let mut intact: Vec<BackupInfo> = Vec::new();
    let mut broken = Vec::new();
    let mut other = 0usize;
    for d in &found {
        match Backup::open(d) {
            Ok(b) if b.info().election == e.id => intact.push(b.info().clone()),
            Ok(_) => other += 1,
            Err(err) => broken.push(format!("{}: {err}", name_of(d))),
        }
    }
    if !broken.is_empty() {
        return (
            Outcome::Fail,
            format!(
                "{} not matching its manifest: {}",
                count(broken.len(), "backup"),
                broken.join("; ")
            ),
        );
    }
    let Some(newest) = intact.iter().max_by_key(|i| i.created_ms) else {
        return (
            Outcome::Fail,
            format!(
                "no backup of election {} under {}{}",
                e.id,
                dir.display(),
                if other > 0 {
                    format!(" ({other} of other elections)")
                } else {
                    String::new()
                }
            ),
        );
    };
    (
        Outcome::Pass,
        format!(
            "{} of {} under {}, each matching its manifest; the newest, taken {}, holds {}",
            count(intact.len(), "backup"),
            e.id,
            dir.display(),
            utc_from_ms(newest.created_ms),
            count(
                usize::try_from(newest.log_size).unwrap_or(usize::MAX),
                "log entry"
            )
        ),
    )
}

fn backups_without_keys(dir: Option<&Path>) -> Answer {
    let Some(dir) = dir else {
        return (
            Outcome::Unknown,
            "no backup directory named (--backups DIR)".into(),
        );
    };
    let found = match backup_dirs(dir) {
        Ok(f) => f,
        Err(err) => return (Outcome::Fail, format!("{}: {err}", dir.display())),
    };
    if found.is_empty() {
        return (
            Outcome::Unknown,
            format!("no backups under {}", dir.display()),
        );
    }
    let mut with_keys = Vec::new();
    for d in &found {
        let declared = std::fs::read_to_string(d.join("backup.toml"))
            .ok()
            .and_then(|t| toml::from_str::<BackupInfo>(&t).ok())
            .is_some_and(|i| i.with_secrets);
        if declared || d.join("data").join("secrets").exists() {
            with_keys.push(name_of(d));
        }
    }
    if with_keys.is_empty() {
        (
            Outcome::Pass,
            format!(
                "{} under {}, none holding private keys",
                count(found.len(), "backup"),
                dir.display()
            ),
        )
    } else {
        (
            Outcome::Fail,
            format!(
                "private keys (--with-secrets) in {}: keep such a copy offline, apart from the routine backups",
                with_keys.join(", ")
            ),
        )
    }
}

fn key_custody(data: &Path) -> Answer {
    let secrets = data.join("secrets");
    let entries = match std::fs::read_dir(&secrets) {
        Ok(e) => e,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return (
                Outcome::Unknown,
                "no secrets/ in the data directory (keys kept elsewhere)".into(),
            );
        }
        Err(err) => return (Outcome::Fail, format!("secrets/: {err}")),
    };
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    let mut names: Vec<(String, u32)> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        match entry.metadata() {
            Ok(m) if m.is_file() => names.push((name, m.permissions().mode() & 0o7777)),
            Ok(_) => {}
            Err(err) => bad.push(format!("{name}: {err}")),
        }
    }
    names.sort();
    for (name, mode) in names {
        if mode & 0o077 == 0 {
            ok.push(format!("{name} {mode:04o}"));
        } else {
            bad.push(format!(
                "{name} has mode {mode:04o} (group or others may read it; chmod 600)"
            ));
        }
    }
    let dir_mode = std::fs::metadata(&secrets).map_or(0, |m| m.permissions().mode() & 0o7777);
    if dir_mode & 0o022 != 0 {
        bad.push(format!(
            "secrets/ has mode {dir_mode:04o} (others may replace a key; chmod 700)"
        ));
    }
    if ok.is_empty() && bad.is_empty() {
        return (Outcome::Unknown, "secrets/ holds no files".into());
    }
    if bad.is_empty() {
        (
            Outcome::Pass,
            format!("secrets/ (mode {dir_mode:04o}): {}", ok.join(", ")),
        )
    } else {
        (Outcome::Fail, bad.join("; "))
    }
}

fn audit_trail(dir: &Path) -> Answer {
    let path = dir.join(urna_desk::db::DESK_DB);
    if !path.exists() {
        return (
            Outcome::Unknown,
            format!(
                "no {} in {} (no desk here; name the counting centre's data directory with --desk)",
                urna_desk::db::DESK_DB,
                dir.display()
            ),
        );
    }
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let result = rusqlite::Connection::open_with_flags(&path, flags).and_then(|conn| {
        let objects: BTreeSet<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")?
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        let rows: Option<i64> = if objects.contains("audit") {
            Some(conn.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))?)
        } else {
            None
        };
        // The hash chain, where the trail has one (a desk opened since trails were chained):
        // triggers stop an `UPDATE`, not someone who drops them and puts them back.
        let chain = if rows.is_some() && conn.prepare("SELECT chain FROM audit LIMIT 0").is_ok() {
            Some(urna_desk::db::check_audit_chain(&conn).map_err(|e| e.to_string()))
        } else {
            None
        };
        Ok((objects, rows, chain))
    });
    match result {
        Err(err) => (Outcome::Fail, format!("{}: {err}", path.display())),
        Ok((_, None, _)) => (
            Outcome::Fail,
            format!("{}: no audit table", urna_desk::db::DESK_DB),
        ),
        Ok((_, Some(_), Some(Err(err)))) => (
            Outcome::Fail,
            format!("{}: reading its audit trail: {err}", path.display()),
        ),
        Ok((_, Some(_), Some(Ok(Err(broken))))) => (Outcome::Fail, broken.to_string()),
        Ok((objects, Some(rows), chain)) => {
            let missing: Vec<&str> = ["audit_no_update", "audit_no_delete"]
                .into_iter()
                .filter(|t| !objects.contains(*t))
                .collect();
            if missing.is_empty() {
                (
                    Outcome::Pass,
                    format!(
                        "{}: audit trail of {}; updates and deletes refused by the triggers audit_no_update and audit_no_delete; {}",
                        urna_desk::db::DESK_DB,
                        count(usize::try_from(rows).unwrap_or(0), "action"),
                        if chain.is_some() {
                            "its hash chain holds from the first chained line to the last line numbered"
                        } else {
                            "no hash chain (written before trails were chained; the desk adds one when it next starts)"
                        }
                    ),
                )
            } else {
                (
                    Outcome::Fail,
                    format!(
                        "{}: audit trail of {}, but the trigger {} that keeps it append-only is missing",
                        urna_desk::db::DESK_DB,
                        count(usize::try_from(rows).unwrap_or(0), "action"),
                        missing.join(" and ")
                    ),
                )
            }
        }
    }
}

/// Subdirectories of `dir` holding a `backup.toml`, sorted.
fn backup_dirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("backup.toml").is_file())
        .collect();
    out.sort();
    Ok(out)
}

fn name_of(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The host of an `http(s)://host[:port]/…` URL, lower-case, without brackets or port.
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    host.to_ascii_lowercase()
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `1 station`, `2 stations`, `1 authority`, `3 authorities`, `2 log entries`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        return format!("1 {noun}");
    }
    let plural = match noun.strip_suffix('y') {
        Some(stem) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{stem}ies"),
        _ => format!("{noun}s"),
    };
    format!("{n} {plural}")
}

/// At most this many items of a list are named in evidence; the rest are counted.
const LISTED: usize = 5;

/// `s` cut at a character boundary to at most `max` bytes, ending in ` …` when cut, so that
/// evidence always fits its note line (and is cut the same way when signing checks again).
fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max.saturating_sub(" …".len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} …", s[..end].trim_end())
}

/// Control characters and runs of white space become one space: evidence is one line.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time in milliseconds (proleptic Gregorian, UTC).
pub(crate) fn utc_from_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day): H. Hinnant's `civil_from_days`.
pub(crate) fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests;
