//! `urna serve` and `urna publish`: the commission's HTTP service and its static bundle.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use urna_server::bundle::BundleWriter;
use urna_server::conn::{FileBudget, FileLimit, SERVE_FILES};
use urna_server::pg_serve::{PgServeConfig, run_pg};
use urna_server::serve::{Bound, ServeConfig, run};
use urna_server::tls::{self, Tls};
use urna_store::IngestOptions;

/// `urna serve` arguments.
#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Data directory (`urna init`).
    #[arg(long, required_unless_present = "store", conflicts_with = "store")]
    data: Option<PathBuf>,
    /// The store: a PostgreSQL database (`postgres://…` or `host=… dbname=…`, initialised
    /// by `urna init --store`) to run one of several nodes on, or a data directory (as --data).
    #[arg(long, value_name = "URL|DIR")]
    store: Option<String>,
    /// With a PostgreSQL --store: the election definition it was initialised from.
    #[arg(long)]
    definition: Option<PathBuf>,
    /// With a PostgreSQL --store: the log's private key file (`urna init --store --log-key`).
    #[arg(long, value_name = "FILE")]
    log_key: Option<PathBuf>,
    /// With a PostgreSQL --store: this node's name, unique among the database's nodes
    /// (default: the host name and the port).
    #[arg(long)]
    node: Option<String>,
    /// With a PostgreSQL --store: the sequencer's lease in milliseconds; when the sequencing
    /// node stops renewing it for this long, another node takes over.
    #[arg(long, default_value_t = 3000)]
    lease_ms: u64,
    /// With a PostgreSQL --store: most notes in one intake transaction. While one batch
    /// commits, the next one already waiting is checked; smaller batches answer sooner, larger
    /// ones take more per commit.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    batch: u64,
    /// Address of the intake and public API (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Address of the Prometheus metrics (`/metrics`); off unless given. A PostgreSQL node
    /// adds `urna_node_sequencing`, `urna_node_database_up` and `urna_node_info`.
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// Bundle root the public side serves and the publisher writes (default DATA/public;
    /// with a PostgreSQL --store, none unless given: each node keeps its own bundle current
    /// with the published checkpoint and serves it).
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Most submissions in flight; past it the answer is 503 with Retry-After.
    #[arg(long, default_value_t = 4096)]
    max_inflight: usize,
    /// Longest time to receive a request body, in milliseconds (then 408).
    #[arg(long, default_value_t = 10_000)]
    body_timeout_ms: u64,
    /// Longest time to receive a request's headers, and longest idle time of a kept-alive
    /// connection, in milliseconds; then the connection is closed.
    #[arg(long, default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// Most client connections open at once; more wait in the listen backlog until one
    /// closes. Default: from the open-file limit (raised to the hard limit at start),
    /// (limit − 256) / 2, at most 16384: each connection can hold 2 files, and 256 stay for
    /// the store, the log's tiles and the publisher.
    #[arg(long)]
    max_connections: Option<usize>,
    /// Longest time between signed checkpoints while notes arrive, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    checkpoint_ms: u64,
    /// How often to ask the witnesses and publish a new bundle generation, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    publish_ms: u64,
    /// Put the NIST CDF export (cdf/election-report.json) in every bundle generation only
    /// for elections of at most this many stations: at a million stations it costs seconds
    /// and more than a gigabyte per generation (`urna publish` and `urna export cdf` always
    /// make it).
    #[arg(long, default_value_t = urna_server::bundle::DEFAULT_CDF_MAX_STATIONS)]
    cdf_max_stations: usize,
    #[command(flatten)]
    tls: TlsArgs,
}

/// `--tls-cert` and `--tls-key`: HTTPS for a server. Without them it serves plain HTTP, and
/// only on loopback.
#[derive(clap::Args)]
pub(crate) struct TlsArgs {
    /// Certificate chain to serve HTTPS with (PEM, leaf first); with --tls-key. Without both,
    /// plain HTTP, and only on loopback addresses.
    #[arg(long, value_name = "PEM")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM")]
    pub(crate) tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// Loads the pair and checks every address against it: plain HTTP only on loopback.
    pub(crate) fn load(&self, who: &str, listen: &[SocketAddr]) -> Result<Option<Tls>> {
        let tls = Tls::from_args(self.tls_cert.as_deref(), self.tls_key.as_deref())
            .with_context(|| format!("{who}: TLS"))?;
        for &a in listen {
            tls::check_listen(a, tls.as_ref()).with_context(|| who.to_owned())?;
        }
        match &tls {
            Some(t) => eprintln!("{who}: HTTPS with the certificate {}", t.cert.display()),
            None => {
                eprintln!("{who}: plain HTTP on loopback only (--tls-cert and --tls-key for HTTPS)")
            }
        }
        Ok(tls)
    }
}

/// `urna publish` arguments.
#[derive(clap::Args)]
pub(crate) struct PublishArgs {
    /// Data directory.
    #[arg(long, required_unless_present = "store", conflicts_with = "store")]
    data: Option<PathBuf>,
    /// The store: a PostgreSQL database (`postgres://…` or `host=… dbname=…`, initialised by
    /// `urna init --store`), every row of which is checked first, or a data directory (as
    /// --data).
    #[arg(long, value_name = "URL|DIR")]
    store: Option<String>,
    /// With a PostgreSQL --store: the election definition it was initialised from.
    #[arg(long)]
    definition: Option<PathBuf>,
    /// With a PostgreSQL --store: the log's private key file (`urna init --store --log-key`);
    /// the store is opened and checked with it, as a node opens it.
    #[arg(long, value_name = "FILE")]
    log_key: Option<PathBuf>,
    /// Bundle root to write (created if missing; serve `OUT/current`).
    #[arg(long)]
    out: PathBuf,
}

/// Runs `urna serve` until SIGINT or SIGTERM.
pub(crate) fn serve(args: ServeArgs) -> Result<ExitCode> {
    let data = match (&args.data, &args.store) {
        (_, Some(url)) if crate::pg_cmd::is_url(url) => return serve_pg(&args),
        (Some(d), _) => d.clone(),
        (None, Some(dir)) => PathBuf::from(dir),
        (None, None) => anyhow::bail!("--data or --store: the store to serve"),
    };
    let (limit, max_connections) =
        connection_bound("urna serve", SERVE_FILES, args.max_connections);
    let mut config = ServeConfig::new(&data);
    if let Some(b) = args.bundle {
        config.bundle = b;
    }
    config.max_inflight = args.max_inflight;
    config.body_timeout = Duration::from_millis(args.body_timeout_ms);
    config.header_timeout = Duration::from_millis(args.header_timeout_ms.max(1));
    config.max_connections = max_connections;
    config.publish_every = Duration::from_millis(args.publish_ms.max(10));
    config.cdf_max_stations = Some(args.cdf_max_stations);
    config.ingest = IngestOptions {
        sequence_every: Duration::from_millis(args.checkpoint_ms.max(1)),
        ..IngestOptions::default()
    };
    let listen: Vec<SocketAddr> = std::iter::once(args.listen)
        .chain(args.metrics_listen)
        .collect();
    config.tls = args.tls.load("urna serve", &listen)?;
    let scheme = tls::scheme(config.tls.as_ref());
    let api = TcpListener::bind(args.listen).with_context(|| format!("binding {}", args.listen))?;
    let metrics = args
        .metrics_listen
        .map(|a| TcpListener::bind(a).with_context(|| format!("binding {a}")))
        .transpose()?;
    let bundle = config.bundle.clone();
    run_until_signal(&config, api, metrics, |bound: Bound| {
        println!("urna serve: listening on {scheme}://{}", bound.api);
        if let Some(m) = bound.metrics {
            println!("urna serve: metrics on {scheme}://{m}/metrics");
        }
        println!(
            "urna serve: public bundle in {}",
            bundle.join("current").display()
        );
        println!(
            "urna serve: open-file limit {limit}; at most {max_connections} connections at once"
        );
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `urna serve --store postgres://…`: one node of several on one database.
fn serve_pg(args: &ServeArgs) -> Result<ExitCode> {
    let url = args.store.clone().unwrap_or_default();
    let (Some(definition), Some(key)) = (args.definition.clone(), args.log_key.clone()) else {
        anyhow::bail!(
            "--definition and --log-key: required with a PostgreSQL --store (the definition it was initialised from, and the log's private key file)"
        );
    };
    let signer = crate::pg_cmd::log_key(&key, &definition, false)?;
    let (limit, max_connections) =
        connection_bound("urna serve", SERVE_FILES, args.max_connections);
    let api = TcpListener::bind(args.listen).with_context(|| format!("binding {}", args.listen))?;
    let port = api.local_addr()?.port();
    let node = match args.node.clone() {
        Some(n) if !n.trim().is_empty() && n.len() <= 64 => n,
        Some(n) => anyhow::bail!("--node {n:?}: a node name is 1 to 64 characters"),
        None => format!(
            "{}:{}",
            std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "node".into()),
            port
        ),
    };
    let mut config = PgServeConfig::new(&url, definition, signer, &node);
    config.max_inflight = args.max_inflight;
    config.body_timeout = Duration::from_millis(args.body_timeout_ms);
    config.header_timeout = Duration::from_millis(args.header_timeout_ms.max(1));
    config.max_connections = max_connections;
    config.checkpoint_every = Duration::from_millis(args.checkpoint_ms.max(1));
    config.lease = Duration::from_millis(args.lease_ms.max(100));
    config.batch = usize::try_from(args.batch).unwrap_or(500);
    let listen: Vec<SocketAddr> = std::iter::once(args.listen)
        .chain(args.metrics_listen)
        .collect();
    config.tls = args.tls.load("urna serve", &listen)?;
    let metrics = args
        .metrics_listen
        .map(|a| TcpListener::bind(a).with_context(|| format!("binding {a}")))
        .transpose()?;
    config.bundle.clone_from(&args.bundle);
    config.publish_every = Duration::from_millis(args.publish_ms.max(10));
    config.cdf_max_stations = Some(args.cdf_max_stations);
    let scheme = tls::scheme(config.tls.as_ref());
    let bundle = config.bundle.clone();
    let shutdown = async {
        match urna_server::shutdown_signal() {
            Ok(signal) => signal.await,
            Err(e) => {
                eprintln!("urna serve: cannot install signal handlers ({e}); stop with SIGKILL");
                std::future::pending::<()>().await;
            }
        }
    };
    let summary = run_pg(&config, api, metrics, shutdown, |bound: Bound| {
        println!("urna serve: listening on {scheme}://{}", bound.api);
        if let Some(m) = bound.metrics {
            println!("urna serve: metrics on {scheme}://{m}/metrics");
        }
        match &bundle {
            Some(b) => println!(
                "urna serve: node {node} on PostgreSQL; public bundle in {}",
                b.join("current").display()
            ),
            None => println!(
                "urna serve: node {node} on PostgreSQL; no --bundle: serving the checkpoint and tiles only (publish a bundle with `urna publish --store`)"
            ),
        }
        println!(
            "urna serve: open-file limit {limit}; at most {max_connections} connections at once"
        );
    })
    .context("serving the PostgreSQL store (--store)")?;
    eprintln!(
        "urna serve: stopped; {} stored, {} duplicates, {} refused; bundle covers {} entries",
        summary.stored, summary.duplicates, summary.rejected, summary.bundle_size
    );
    Ok(ExitCode::SUCCESS)
}

/// Raises the open-file limit to the hard limit and picks the connection bound: `flag` if
/// given (with a warning if the limit may not cover it), else the most `budget` allows.
pub(crate) fn connection_bound(
    who: &str,
    budget: FileBudget,
    flag: Option<usize>,
) -> (FileLimit, usize) {
    let limit = urna_server::raise_open_file_limit().unwrap_or_else(|e| {
        eprintln!("{who}: cannot raise the open-file limit ({e}); keeping it");
        urna_server::conn::open_file_limit()
    });
    let Some(bound) = flag else {
        return (limit, budget.max_connections(limit.soft));
    };
    let needed = budget.files_needed(bound);
    if needed > limit.soft {
        eprintln!(
            "{who}: warning: --max-connections {bound} may need {needed} open files ({} per \
             connection and {} besides), more than the limit of {}: raise it (ulimit -n) or \
             lower the bound",
            budget.per_connection, budget.reserve, limit.soft
        );
    }
    (limit, bound.max(1))
}

/// Serves `config` on the listeners given until SIGINT or SIGTERM, then prints what the run
/// did: `urna serve`, and `urna demo` once its election is published.
pub(crate) fn run_until_signal(
    config: &ServeConfig,
    api: TcpListener,
    metrics: Option<TcpListener>,
    on_bound: impl FnOnce(Bound),
) -> Result<()> {
    let shutdown = async {
        match urna_server::shutdown_signal() {
            Ok(signal) => signal.await,
            Err(e) => {
                eprintln!("urna serve: cannot install signal handlers ({e}); stop with SIGKILL");
                std::future::pending::<()>().await;
            }
        }
    };
    let summary = run(config, api, metrics, shutdown, on_bound)
        .with_context(|| format!("serving {}", config.data.display()))?;
    eprintln!(
        "urna serve: stopped; {} stored, {} duplicates, {} refused; bundle covers {} entries",
        summary.stored, summary.duplicates, summary.rejected, summary.bundle_size
    );
    Ok(())
}

/// Runs `urna publish`: writes a bundle generation for the published checkpoint.
pub(crate) fn publish(args: &PublishArgs) -> Result<ExitCode> {
    let mut writer = match (&args.data, &args.store) {
        (_, Some(url)) if crate::pg_cmd::is_url(url) => {
            let (Some(definition), Some(key)) = (&args.definition, &args.log_key) else {
                anyhow::bail!(
                    "--definition and --log-key: required with a PostgreSQL --store (the definition it was initialised from, and the log's private key file)"
                );
            };
            let signer = crate::pg_cmd::log_key(key, definition, false)?;
            let source = urna_server::pg_bundle::PgSource::open(url, definition, signer)
                .context("opening the PostgreSQL store (--store)")?;
            BundleWriter::with_source(Box::new(source), &args.out)
        }
        _ if args.definition.is_some() || args.log_key.is_some() => anyhow::bail!(
            "--definition and --log-key: only with a PostgreSQL --store (a data directory holds its definition and key)"
        ),
        (Some(dir), _) => BundleWriter::open(dir, &args.out),
        (None, Some(dir)) => BundleWriter::open(Path::new(dir), &args.out),
        (None, None) => anyhow::bail!("--data or --store: the store to publish"),
    }
    .with_context(|| format!("opening bundle {}", args.out.display()))?;
    writer.set_cdf_max_stations(None);
    match writer.update()? {
        Some(info) => {
            out!(
                "published the checkpoint of {} entries to {} (serve {})",
                info.size,
                info.generation_dir.display(),
                args.out.join("current").display()
            );
            out!(
                "wrote {} files ({} bytes), linked {} unchanged from the previous generation",
                info.files_written,
                info.bytes_written,
                info.files_linked
            );
            if let Some(why) = info.cdf_skipped {
                out!("no {}: {why}", urna_tally::cdf::BUNDLE_PATH);
            }
            match info.forensics {
                Some(took) => out!(
                    "statistical screens ({}): computed in {:.2} s",
                    urna_forensics::bundle::FORENSICS_JSON,
                    took.as_secs_f64()
                ),
                None => out!(
                    "statistical screens ({}): no station reported since the last generation, reused",
                    urna_forensics::bundle::FORENSICS_JSON
                ),
            }
        }
        None => out!(
            "{} is up to date with the published checkpoint (or nothing is published yet: see `urna status`)",
            args.out.join("current").display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}
