//! `urna desk`: the counting-centre desk (double entry of paper protocols), its accounts and
//! its audit trail. A thin wrapper over `urna_desk`; the logic and its tests live there.

use std::io::{BufRead as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use urna_desk::Desk;
use urna_desk::accounts::{self, AccountAction};
use urna_desk::db::{self, Role};
use urna_model::note::{NoteSigner, NoteVerifier};
use urna_server::submit::{SubmitClient, SubmitOptions};

/// `urna desk` arguments: serve the desk, or manage its accounts and audit trail.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct DeskArgs {
    #[command(subcommand)]
    command: Option<DeskCommand>,
    /// Data directory (`urna init`); the desk keeps `desk.sqlite` in it.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The centre: the id of the unit (municipality, district…) whose stations it keys.
    #[arg(long)]
    centre: Option<String>,
    /// The centre's authority key file (`urna keys generate`): an authority of the election
    /// definition whose scope covers the centre. Signs every protocol the desk agrees on.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Audit hand counts: the key file of an authority whose scope is the whole election (the
    /// central commission's). With it, typists key the hand counts of the stations of the
    /// centre that a logged audit sample drew, twice; equal counts are signed with this key as
    /// `urna/audit/v1` count notes, logged with `urna audit count --from-desk`.
    #[arg(long, value_name = "FILE")]
    audit_key: Option<PathBuf>,
    /// Address of the desk's pages and API (port 0 picks a free port). On the centre's LAN
    /// give --tls-cert and --tls-key: the session cookie is `Secure`, and plain HTTP is served
    /// on loopback only.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    #[command(flatten)]
    tls: crate::serve_cmd::TlsArgs,
    /// `urna serve` to deliver signed protocols to (`http://host:port`). Without it they are
    /// kept, signed, in desk.sqlite until the desk is started with it.
    #[arg(long, requires = "log_key")]
    submit_to: Option<String>,
    /// The log's verifier key (`urna log key --data DIR`): only receipts it signed count.
    #[arg(long)]
    log_key: Option<String>,
    /// For an https:// --submit-to: the PEM file of the CA its certificate must chain to.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// For an https:// --submit-to: a pinned public key, `sha256/<base64>` (`urna keys pin --cert
    /// FILE` prints it); repeat for a backup key. The server's certificate must have one of
    /// them; without --ca-cert the pin alone is checked, so a self-signed certificate serves.
    #[arg(long = "pin", value_name = "sha256/BASE64")]
    pins: Vec<urna_server::pin::SpkiPin>,
    /// How often to deliver signed protocols, in milliseconds.
    #[arg(long, default_value_t = 500)]
    deliver_ms: u64,
}

#[derive(clap::Subcommand)]
enum DeskCommand {
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Write the audit trail (every action: who, what, when) as JSON lines.
    AuditExport {
        /// Data directory (a counting centre's, or a polling station's).
        #[arg(long)]
        data: PathBuf,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(clap::Subcommand)]
enum UserCommand {
    /// Add an account. Its first password is read from standard input (one line, at least
    /// 12 characters); the account must change it at first login.
    Add {
        /// Data directory.
        #[arg(long)]
        data: PathBuf,
        /// Account name (letters, digits, `.`, `_`, `-`).
        #[arg(long)]
        name: String,
        /// typist, coordinator or administrator.
        #[arg(long)]
        role: String,
    },
    /// Lift a lock-out (failed logins) at once.
    Unlock(AccountArgs),
    /// Give a new first password, read from standard input (one line, at least 12
    /// characters), to be changed at the next login. Ends the account's sessions.
    Reset(AccountArgs),
    /// Refuse every login of the account and end its sessions, until enabled.
    Disable(AccountArgs),
    /// Allow a disabled account to log in again.
    Enable(AccountArgs),
}

#[derive(clap::Args)]
struct AccountArgs {
    /// Data directory.
    #[arg(long)]
    data: PathBuf,
    /// Account name.
    #[arg(long)]
    name: String,
}

fn require_dir(data: &Path) -> Result<()> {
    if !data.join(urna_store::DEFINITION_FILE).exists() {
        bail!(
            "--data {}: no {} there; run `urna init` first",
            data.display(),
            urna_store::DEFINITION_FILE
        );
    }
    Ok(())
}

/// Runs `urna desk`.
pub(crate) fn run(args: DeskArgs) -> Result<ExitCode> {
    match args.command {
        Some(DeskCommand::User {
            command: UserCommand::Add { data, name, role },
        }) => {
            require_dir(&data)?;
            let role = Role::parse(&role)?;
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("reading the first password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']);
            let conn = db::open(&data)?;
            db::add_user(&conn, &name, role, password, "urna desk user add")?;
            out!(
                "added {} {name}; the password must be changed at first login",
                role.as_str()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(DeskCommand::User { command }) => manage(command),
        Some(DeskCommand::AuditExport { data, out }) => {
            // A counting centre's data directory, or a polling station's (`urna station`).
            if !data.join(db::DESK_DB).is_file() {
                require_dir(&data)?;
            }
            let conn = db::open(&data)?;
            let n = match out {
                Some(path) => {
                    let mut f = std::io::BufWriter::new(
                        std::fs::File::create(&path)
                            .with_context(|| format!("creating {}", path.display()))?,
                    );
                    let n = db::export_audit(&conn, &mut f)?;
                    f.into_inner()
                        .map_err(std::io::IntoInnerError::into_error)?
                        .sync_all()?;
                    n
                }
                None => db::export_audit(&conn, &mut std::io::stdout().lock())?,
            };
            eprintln!("urna desk: {n} audit lines exported");
            Ok(ExitCode::SUCCESS)
        }
        None => serve(&args),
    }
}

/// `urna desk user unlock|reset|disable|enable`.
fn manage(command: UserCommand) -> Result<ExitCode> {
    let (args, action) = match command {
        UserCommand::Add { .. } => bail!("urna desk user add is handled apart"),
        UserCommand::Unlock(a) => (a, AccountAction::Unlock),
        UserCommand::Disable(a) => (a, AccountAction::Disable),
        UserCommand::Enable(a) => (a, AccountAction::Enable),
        UserCommand::Reset(a) => {
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("reading the new first password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']).to_owned();
            (a, AccountAction::Reset(password))
        }
    };
    require_dir(&args.data)?;
    let mut conn = db::open(&args.data)?;
    let by = format!("urna desk user {}", action.as_str());
    let ended = accounts::manage(&mut conn, &args.name, &action, &by)?;
    let done = match action {
        AccountAction::Unlock => "unlocked",
        AccountAction::Reset(_) => "reset; the new password must be changed at the next login",
        AccountAction::Disable => "disabled",
        AccountAction::Enable => "enabled",
    };
    out!("{} {done} ({ended} session(s) ended)", args.name);
    Ok(ExitCode::SUCCESS)
}

fn serve(args: &DeskArgs) -> Result<ExitCode> {
    let (Some(data), Some(centre), Some(key)) = (&args.data, &args.centre, &args.key) else {
        bail!(
            "urna desk needs --data DIR --centre ID --key FILE (or a subcommand: user, audit-export)"
        );
    };
    require_dir(data)?;
    let mut desk = Desk::open(data, centre, read_key(key)?)?;
    if let Some(path) = &args.audit_key {
        let audit = read_key(path).context("--audit-key")?;
        desk = desk.with_audit_key(data, audit)?;
    }
    let desk = Arc::new(desk);
    let client = submit_client(
        args.submit_to.as_deref(),
        args.log_key.as_deref(),
        args.ca_cert.as_ref(),
        &args.pins,
        "--submit-to",
    )?;
    let delivering = client.is_some();
    let tls = args.tls.load("urna desk", &[args.listen])?;
    let scheme = urna_server::tls::scheme(tls.as_ref());
    let listener =
        TcpListener::bind(args.listen).with_context(|| format!("binding {}", args.listen))?;
    // As `urna serve` does: the connection bound follows the raised open-file limit.
    if let Err(e) = urna_server::raise_open_file_limit() {
        eprintln!("urna desk: cannot raise the open-file limit ({e}); keeping the current one");
    }
    urna_desk::run(
        desk,
        listener,
        client,
        Duration::from_millis(args.deliver_ms.max(10)),
        tls,
        shutdown("urna desk"),
        |addr| {
            println!("urna desk: listening on {scheme}://{addr}");
            if !delivering {
                println!("urna desk: no --submit-to: signed protocols stay in desk.sqlite");
            }
            let _ = std::io::stdout().flush();
        },
    )?;
    eprintln!("urna desk: stopped");
    Ok(ExitCode::SUCCESS)
}

/// A signing key from its file (`urna keys generate`).
pub(crate) fn read_key(key: &Path) -> Result<NoteSigner> {
    let skey =
        std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
    NoteSigner::from_skey(skey.trim())
        .with_context(|| format!("--key {}: not a private key", key.display()))
}

/// The client delivering to `urna serve` at `url` (the flag `flag`), when one is given.
pub(crate) fn submit_client(
    url: Option<&str>,
    log_key: Option<&str>,
    ca_cert: Option<&PathBuf>,
    pins: &[urna_server::pin::SpkiPin],
    flag: &'static str,
) -> Result<Option<SubmitClient>> {
    let (Some(url), Some(log_key)) = (url, log_key) else {
        return Ok(None);
    };
    let log = NoteVerifier::from_vkey(log_key).context("--log-key")?;
    let options = SubmitOptions {
        ca_cert: ca_cert.cloned(),
        pins: pins.to_vec(),
        ..SubmitOptions::default()
    };
    Ok(Some(SubmitClient::new(url, log, options).context(flag)?))
}

/// Completes on SIGINT or SIGTERM; installed on first poll, inside the server's runtime.
pub(crate) async fn shutdown(who: &'static str) {
    match urna_server::shutdown_signal() {
        Ok(signal) => signal.await,
        Err(e) => {
            eprintln!("{who}: cannot install signal handlers ({e}); stop with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}
