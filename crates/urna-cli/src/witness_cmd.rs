//! `urna witness`: create a witness key and run a C2SP tlog-witness. A thin wrapper over
//! `urna_server`'s witness; the logic and its tests live there.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use urna_server::{StateFile, WitnessKey, WitnessService, parse_log_arg, run_witness_until_signal};

/// What a witness is, shown by `urna witness --help`.
const ROLES: &str = "\
A witness is an institution independent of the election commission that co-signs the
commission's transparency-log checkpoints: for example the national cyber-security agency,
the data-protection authority, observer groups, or the parties. Each runs `urna witness serve`
with its own key and its own state file.

What a witness promises: it never co-signs two inconsistent histories of a log. Before it
co-signs a checkpoint it checks the log's signature and a consistency proof from the last
checkpoint it co-signed, and it records the new checkpoint on disk before answering. So it
refuses a rollback (a smaller tree), a fork (a different tree of the same or a larger size),
and a split view (a different history shown to someone else), even after a crash or restart.
The public accepts a checkpoint only with enough witness co-signatures (k of n), so the log
operator cannot rewrite, drop or hide results without the witnesses noticing.

Protocol: C2SP tlog-witness, POST /add-checkpoint (https://c2sp.org/tlog-witness).
Keep the state file: a witness that lost it could be made to co-sign a fork.

Exit codes: 0 success (serve: stopped by SIGINT or SIGTERM); 2 usage, key, state or I/O error.";

/// Create a witness key and run a transparency-log witness (C2SP tlog-witness).
#[derive(Args)]
#[command(after_long_help = ROLES, subcommand_required = true)]
pub(crate) struct WitnessArgs {
    #[command(subcommand)]
    command: WitnessCommand,
}

#[derive(Subcommand)]
enum WitnessCommand {
    /// Create a new witness key file and print its public (verifier) key for logs to configure.
    Keygen {
        /// The witness's key name, conventionally a URL-like name such as `cert.example/w1`.
        #[arg(long)]
        name: String,
        /// Where to write the private key file (must not exist; created readable by its owner
        /// only). Format: `PRIVATE+KEY+<name>+<key id>+base64(0x04 ‖ seed)`.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the public (verifier) key of a witness key file.
    Vkey {
        /// The private key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Run the witness: serve POST /add-checkpoint until SIGINT or SIGTERM.
    ///
    /// The first line on standard output is `listening on http://ADDRESS:PORT` (`https://`
    /// with --tls-cert and --tls-key).
    Serve {
        /// The witness's private key file (from `urna witness keygen`).
        #[arg(long)]
        key: PathBuf,
        /// The witness's state file: the latest checkpoint co-signed per log, rewritten
        /// atomically before every co-signature. Locked (`STATE.lock` beside it) while the
        /// witness runs: a second witness on the same file does not start.
        #[arg(long)]
        state: PathBuf,
        /// Create an empty state file if it does not exist. Only for a new witness: without
        /// this flag a missing state file is an error, so a witness that lost its state never
        /// silently starts over.
        #[arg(long)]
        init_state: bool,
        /// A log to witness, as ORIGIN=VKEY: the log's checkpoint origin line and its signed-note
        /// verifier key. Repeat for several logs or several keys of one log.
        #[arg(long = "log", value_name = "ORIGIN=VKEY", required = true)]
        logs: Vec<String>,
        /// Address to listen on. Port 0 picks a free port (printed on the first line).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Longest time to receive a request's headers, and longest idle time of a kept-alive
        /// connection, in milliseconds; then the connection is closed.
        #[arg(long, default_value_t = 10_000)]
        header_timeout_ms: u64,
        /// Most client connections open at once; more wait in the listen backlog until one
        /// closes. Default: from the open-file limit (raised to the hard limit at start),
        /// limit − 64, at most 4096.
        #[arg(long)]
        max_connections: Option<usize>,
        /// Most connections open at once from one client address (an IPv6 address counted by
        /// its /64); one more is answered 503 (over plain HTTP) and closed, so one address cannot hold the
        /// slots the log's requests need. Default: a quarter of --max-connections, at least 1.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        max_connections_per_address: Option<u64>,
        #[command(flatten)]
        tls: crate::serve_cmd::TlsArgs,
    },
}

/// Runs `urna witness`.
pub(crate) fn run(args: WitnessArgs) -> Result<ExitCode> {
    match args.command {
        WitnessCommand::Keygen { name, out } => {
            let key = WitnessKey::generate(&name)?;
            key.write_new(&out)
                .with_context(|| format!("writing witness key file {}", out.display()))?;
            println!("{}", key.verifier().to_vkey());
            Ok(ExitCode::SUCCESS)
        }
        WitnessCommand::Vkey { key } => {
            println!("{}", WitnessKey::read(&key)?.verifier().to_vkey());
            Ok(ExitCode::SUCCESS)
        }
        WitnessCommand::Serve {
            key,
            state,
            init_state,
            logs,
            listen,
            header_timeout_ms,
            max_connections,
            max_connections_per_address,
            tls,
        } => {
            let (limit, max_connections) = crate::serve_cmd::connection_bound(
                "urna witness serve",
                urna_server::conn::WITNESS_FILES,
                max_connections,
            );
            let per_address = max_connections_per_address
                .map_or((max_connections / 4).max(1), |n| {
                    usize::try_from(n).unwrap_or(usize::MAX)
                });
            let limits = urna_server::ConnLimits {
                max_connections,
                header_timeout: Duration::from_millis(header_timeout_ms.max(1)),
                per_address: Some(per_address),
            };
            let key = WitnessKey::read(&key)?;
            let logs = logs
                .iter()
                .map(|a| parse_log_arg(a))
                .collect::<Result<Vec<_>, _>>()?;
            let n_logs = logs.len();
            let service = WitnessService::open_with_wall_clock(
                &key,
                logs,
                StateFile::new(&state),
                init_state,
            )
            .context("opening the witness state (--init-state is only for a new witness)")?;
            let tls = tls.load("urna witness serve", &[listen])?;
            let scheme = urna_server::tls::scheme(tls.as_ref());
            run_witness_until_signal(listen, service, limits, tls, |addr| {
                println!("listening on {scheme}://{addr}");
                eprintln!(
                    "witness {} following {n_logs} log key(s), state in {}",
                    key.verifier().to_vkey(),
                    state.display()
                );
                // Not on standard output: its first line is the address, as documented.
                eprintln!(
                    "open-file limit {limit}; at most {max_connections} connections at once, {per_address} from one address"
                );
            })
            .context("running the witness")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
