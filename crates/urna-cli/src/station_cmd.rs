//! `urna station`: polling-station mode of the desk, for one station's board, offline. A thin
//! wrapper over `urna_desk::station`; the logic and its tests live there.

use std::io::{BufRead as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use urna_desk::Desk;

/// `urna station` arguments: serve the entry screens for one station, or set its board up.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct StationArgs {
    #[command(subcommand)]
    command: Option<StationCommand>,
    /// The station's data directory (`urna station init`): its accounts and entries.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The election definition (`election.toml`, the stations file beside it).
    #[arg(long)]
    definition: Option<PathBuf>,
    /// The station's id in the stations file.
    #[arg(long)]
    station: Option<String>,
    /// The station's own key file: signs every protocol the board agrees on.
    #[arg(long)]
    key: Option<PathBuf>,
    /// The store-and-forward queue signed protocols go to, the directory
    /// `urna submit --queue` sends (default DATA/queue).
    #[arg(long)]
    queue: Option<PathBuf>,
    /// `urna serve` to deliver the queue to in the background (`https://…`, or `http://` on
    /// loopback). Without it the queue waits for `urna submit --queue DIR --to URL`.
    #[arg(long, requires = "log_key")]
    to: Option<String>,
    /// The log's verifier key (`urna log key --data DIR`): only receipts it signed count.
    #[arg(long)]
    log_key: Option<String>,
    /// For an https:// --to: the PEM file of the CA its certificate must chain to.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// For an https:// --to: a pinned public key, `sha256/<base64>` (`urna keys pin --cert
    /// FILE` prints it); repeat for a backup key. The server's certificate must have one of
    /// them; without --ca-cert the pin alone is checked, so a self-signed certificate serves.
    #[arg(long = "pin", value_name = "sha256/BASE64")]
    pins: Vec<urna_server::pin::SpkiPin>,
    /// Address of the entry screens (plain HTTP, loopback only; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8091")]
    listen: SocketAddr,
    /// How often to deliver the queue, in milliseconds (doubling, up to a minute, while the
    /// server cannot be reached).
    #[arg(long, default_value_t = 1000)]
    deliver_ms: u64,
}

#[derive(clap::Subcommand)]
enum StationCommand {
    /// Create the station's data directory with the board's two accounts. Their passwords
    /// are read from standard input, one line each: the chair's, then the member's (at least
    /// 12 characters; no change is forced at the first login).
    Init {
        /// The station's data directory (created if missing).
        #[arg(long)]
        data: PathBuf,
        /// The chair's account name (letters, digits, `.`, `_`, `-`).
        #[arg(long)]
        chair: String,
        /// The second member's account name.
        #[arg(long)]
        member: String,
    },
}

/// Runs `urna station`.
pub(crate) fn run(args: StationArgs) -> Result<ExitCode> {
    match args.command {
        Some(StationCommand::Init {
            data,
            chair,
            member,
        }) => {
            let mut lines = std::io::stdin().lock().lines();
            let mut password = |who: &str| -> Result<String> {
                lines
                    .next()
                    .transpose()
                    .with_context(|| format!("reading the {who}'s password from standard input"))?
                    .ok_or_else(|| {
                        anyhow!("standard input: no line for the {who}'s password (one line each: chair, member)")
                    })
            };
            // As `urna desk user add` reads one: the line without its ending.
            let chair_password = password("chair")?.trim_end_matches('\r').to_owned();
            let member_password = password("member")?.trim_end_matches('\r').to_owned();
            urna_desk::station::init(
                &data,
                (&chair, &chair_password),
                (&member, &member_password),
            )?;
            out!(
                "station board in {}: chair {chair}, member {member}",
                data.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        None => serve(&args),
    }
}

/// Refuses plain `http://` to a server that is not on loopback.
fn check_to(url: &str) -> Result<()> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Ok(());
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("--to {url:?}: plain HTTP only to a server on loopback; use https://");
    }
    Ok(())
}

fn serve(args: &StationArgs) -> Result<ExitCode> {
    let (Some(data), Some(definition), Some(station), Some(key)) =
        (&args.data, &args.definition, &args.station, &args.key)
    else {
        bail!(
            "urna station needs --data DIR --definition FILE --station ID --key FILE (or: urna station init)"
        );
    };
    let signer = crate::desk_cmd::read_key(key)?;
    let queue = args.queue.clone().unwrap_or_else(|| data.join("queue"));
    if let Some(url) = &args.to {
        check_to(url)?;
    }
    let client = crate::desk_cmd::submit_client(
        args.to.as_deref(),
        args.log_key.as_deref(),
        args.ca_cert.as_ref(),
        &args.pins,
        "--to",
    )?;
    let desk = Arc::new(Desk::open_station(
        data,
        definition,
        station,
        signer,
        queue.clone(),
    )?);
    urna_server::tls::check_listen(args.listen, None).context("urna station: --listen")?;
    let listener =
        TcpListener::bind(args.listen).with_context(|| format!("binding {}", args.listen))?;
    let to = args.to.clone();
    urna_desk::run(
        desk,
        listener,
        client,
        Duration::from_millis(args.deliver_ms.max(10)),
        None,
        crate::desk_cmd::shutdown("urna station"),
        |addr| {
            println!("urna station: listening on http://{addr}");
            match &to {
                Some(url) => println!(
                    "urna station: signed protocols go to the queue {} and on to {url}",
                    queue.display()
                ),
                None => println!(
                    "urna station: no --to: signed protocols wait in the queue {} for urna submit --queue",
                    queue.display()
                ),
            }
            let _ = std::io::stdout().flush();
        },
    )?;
    eprintln!("urna station: stopped");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::check_to;

    #[test]
    fn plain_http_is_refused_outside_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:8080/",
            "http://[::1]:8080",
            "https://results.example",
        ] {
            assert!(check_to(ok).is_ok(), "{ok}");
        }
        for bad in ["http://10.0.0.1:8080", "http://results.example/x"] {
            let e = check_to(bad).unwrap_err().to_string();
            assert!(e.contains("--to") && e.contains("loopback"), "{e}");
        }
    }
}
