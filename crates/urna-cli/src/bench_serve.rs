//! `urna bench serve`: signed submissions over HTTP to a real `urna serve` process, and public
//! reads from it and from nginx serving the same bundle directory, with the references
//! measured in the same run on the same cores.
//!
//! What is measured, and how:
//! - **Intake.** Every protocol of a synthetic election is POSTed exactly once to
//!   `/v1/protocols` over `--connections` keep-alive HTTP/1.1 connections, driven by one
//!   client thread (a current-thread tokio runtime and a small HTTP/1.1 client, so the load
//!   generator never takes more than one core). Wall time runs from the first request to the
//!   last receipt; a note's latency runs from its first send to its receipt, so a `503` waited
//!   out as its `Retry-After` says (then sent again) counts in it.
//! - **Receipts.** A sample of the answers is checked: the receipt's signature by the log key
//!   (`urna log key`), its index, and that it names the SHA-256 of the note sent.
//! - **Reference for intake.** The same note pack through bulk `urna ingest` into a second,
//!   fresh data directory, timed as a whole process (so it includes opening the store).
//! - **Reads.** Once the bundle covers every entry, two fixed mixes of bundle files for
//!   `--read-seconds` each: small files (checkpoint, unit files, hash and entry tiles) and
//!   the whole-election documents (results, quarantine list, election, units CSV), each
//!   against `urna serve` and then against nginx serving `BUNDLE/current`, with the same
//!   client, connections and mix; then both mixes again with `Accept-Encoding: gzip`, which
//!   both servers answer from the bundle's precompressed `.gz` copies (`urna serve` by
//!   itself, nginx with `gzip_static on`), neither compressing per request. Every answer must
//!   be `200` with the length of the file (or of its copy); a warm-up pass before each run
//!   compares the bytes with the files.
//! - **Bundle bytes.** The live generation's own files (tiles and blobs are shared by every
//!   generation and not counted), and how much of it the `.gz` copies are.
//!
//! The client, `urna serve` and nginx share the machine's cores; nothing is pinned unless
//! the caller runs the whole benchmark under `taskset`.

use std::fmt::Write as _;
use std::io::{self, BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use urna_model::intake::sha256;
use urna_model::note::{Note, NoteVerifier};
use urna_model::pack::PackReader;
use urna_model::protocol::hex;
use urna_model::receipt::Receipt;
use urna_sim::{SimConfig, Simulation};
use urna_tlog::TreeSize;
use urna_tlog::tile::{TileKind, tiles_for_size};

/// Submissions per second `urna serve` should sustain.
const TARGET_INTAKE_RATE: f64 = 10_000.0;
/// Public reads of `urna serve` as a share of nginx's on the same files.
const TARGET_READ_RATIO: f64 = 0.9;
/// Receipts checked at most one in this many notes (more often for small elections).
const RECEIPT_SAMPLE_EVERY: usize = 1000;
/// Attempts to get one note answered (503s and dropped connections included).
const MAX_ATTEMPTS: u32 = 50;
/// Longest response head accepted.
const MAX_HEAD: usize = 64 << 10;
/// Largest response body kept in memory.
const MAX_BODY: usize = 16 << 20;
/// Longest wait for the bundle to cover every entry after intake.
const BUNDLE_WAIT: Duration = Duration::from_secs(900);

/// `urna bench serve` arguments.
#[derive(clap::Args)]
pub(crate) struct BenchServeArgs {
    /// Number of stations: protocols posted, one per station.
    #[arg(long, default_value_t = 200_000)]
    stations: u32,
    /// Keep-alive HTTP/1.1 connections of the load generator (one client thread).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of each read run (against urna serve, then against nginx).
    #[arg(long, default_value_t = 5.0)]
    read_seconds: f64,
    /// Work directory; must be empty or absent (default: a temporary directory, removed).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Worker threads of the server's HTTP runtime (TOKIO_WORKER_THREADS); default one per
    /// core.
    #[arg(long)]
    server_threads: Option<usize>,
    /// Print the figures as one JSON document on stdout (progress still goes to stderr).
    #[arg(long)]
    json: bool,
}

/// Runs the benchmark.
pub(crate) fn run(args: &BenchServeArgs) -> Result<ExitCode> {
    if args.stations == 0 {
        bail!("--stations must be at least 1");
    }
    if !(1..=4096).contains(&args.connections) {
        bail!("--connections must be between 1 and 4096");
    }
    if !(args.read_seconds.is_finite() && args.read_seconds > 0.0 && args.read_seconds <= 3600.0) {
        bail!("--read-seconds must be more than 0 and at most 3600");
    }
    if args.server_threads == Some(0) {
        bail!("--server-threads must be at least 1");
    }
    let work = crate::bench::WorkDir::new(args.dir.as_deref())?;
    let dir = work.path();
    let exe = std::env::current_exe().context("locating the urna binary")?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let n = args.stations;
    let read_for = Duration::from_secs_f64(args.read_seconds);
    let mut problems: Vec<String> = Vec::new();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    progress(&format!(
        "urna bench serve: {n} stations, {} connections, {cores} cores, work dir {}",
        args.connections,
        dir.display()
    ));

    // Prepare (not measured): the election, its notes in memory, two fresh data directories.
    let t = Instant::now();
    let source = dir.join("source");
    let sim = Simulation::new(SimConfig {
        stations: n,
        ..SimConfig::default()
    });
    crate::write_sim(&sim, &source)?;
    let pack = source.join("protocols.notes");
    let notes: Vec<Vec<u8>> = PackReader::new(BufReader::with_capacity(
        1 << 20,
        std::fs::File::open(&pack).with_context(|| format!("opening {}", pack.display()))?,
    ))
    .collect::<io::Result<_>>()
    .with_context(|| format!("reading {}", pack.display()))?;
    let note_bytes: usize = notes.iter().map(Vec::len).sum();
    let definition = source.join("election.toml");
    let data = dir.join("data");
    let bulk = dir.join("bulk");
    for d in [&data, &bulk] {
        urna_store::Store::init(d, &definition)
            .with_context(|| format!("initialising {}", d.display()))?;
    }
    let vkey = run_urna(&exe, &["log", "key", "--data", path_arg(&data)?])?;
    let verifier = NoteVerifier::from_vkey(vkey.trim())
        .with_context(|| format!("the log key printed by `urna log key`: {vkey:?}"))?;
    let prepare_s = t.elapsed().as_secs_f64();
    progress(&format!(
        "prepared {} signed protocols ({} bytes on average) in {prepare_s:.1} s",
        notes.len(),
        note_bytes / notes.len().max(1)
    ));

    // Reference: the same pack through bulk `urna ingest`, before the server runs.
    progress("reference: urna ingest of the same notes into a fresh data directory");
    let children_cpu_before = cpu_seconds("self", true);
    let t = Instant::now();
    let ingest = Command::new(&exe)
        .args(["ingest", "--data", path_arg(&bulk)?, path_arg(&pack)?])
        .stdin(Stdio::null())
        .output()
        .context("running urna ingest")?;
    let bulk_s = t.elapsed().as_secs_f64();
    let bulk_cpu = cpu_seconds("self", true)
        .zip(children_cpu_before)
        .map(|(a, b)| a - b);
    let bulk_report = String::from_utf8_lossy(&ingest.stderr)
        .lines()
        .rfind(|l| l.contains("notes read"))
        .unwrap_or_default()
        .to_owned();
    if !ingest.status.success() {
        bail!(
            "urna ingest failed ({}): {}",
            ingest.status,
            String::from_utf8_lossy(&ingest.stderr)
        );
    }
    let bulk_rate = notes.len() as f64 / bulk_s;

    // The server.
    let mut server = ServeProcess::start(&exe, dir, &data, args.server_threads)?;
    let addr = server.addr;
    progress(&format!(
        "urna serve listening on http://{addr}, bundle {}",
        server.current.display()
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let notes = Arc::new(notes);

    // Intake.
    progress(&format!(
        "intake: posting {} notes over {} connections",
        notes.len(),
        args.connections
    ));
    let sample_every = RECEIPT_SAMPLE_EVERY.min((notes.len() / 20).max(1));
    let serve_cpu_0 = cpu_seconds(&server.pid(), false);
    let self_cpu_0 = cpu_seconds("self", false);
    let intake = runtime.block_on(intake(
        addr,
        Arc::clone(&notes),
        args.connections,
        sample_every,
    ))?;
    let last_receipt = Instant::now();
    let serve_cpu_intake = delta(cpu_seconds(&server.pid(), false), serve_cpu_0);
    let client_cpu_intake = delta(cpu_seconds("self", false), self_cpu_0);
    let wall_s = intake.wall.as_secs_f64();
    let rate = notes.len() as f64 / wall_s;
    let mut latencies = intake.latencies_us.clone();
    latencies.sort_unstable();
    let lat_ms = |p: f64| percentile(&latencies, p) as f64 / 1000.0;
    let (p50, p99, max) = (
        lat_ms(0.50),
        lat_ms(0.99),
        latencies.last().copied().unwrap_or(0) as f64 / 1000.0,
    );
    if intake.created != notes.len() as u64 {
        problems.push(format!(
            "intake: {} of {} notes answered 201 (every note is new, so all should be)",
            intake.created,
            notes.len()
        ));
    }

    // Receipts of the sample.
    let mut verified = 0usize;
    for (i, body) in &intake.samples {
        match check_receipt(&verifier, &notes[*i], body) {
            Ok(()) => verified += 1,
            Err(e) => problems.push(format!("receipt of note {i}: {e:#}")),
        }
    }

    // The bundle catches up.
    progress("waiting until the bundle covers every entry");
    // Entry 0 is the genesis, written by init.
    let entries = intake.created + 1;
    let bundle_size = runtime.block_on(wait_bundle(addr, entries, &mut server))?;
    let publish_lag_s = last_receipt.elapsed().as_secs_f64();
    if bundle_size != entries {
        problems.push(format!(
            "the bundle covers {bundle_size} entries, not the genesis and the {} stored",
            intake.created
        ));
    }

    let generation = generation_bytes(&server.current)
        .with_context(|| format!("measuring {}", server.current.display()))?;

    // Reads: each mix against urna serve, then against nginx on the same directory.
    let nginx = match find_nginx() {
        None => {
            progress("nginx not found: install it (apt-get install nginx) to compare");
            None
        }
        Some(bin) => Some(Nginx::start(&bin, &dir.join("nginx"), &server.current)?),
    };
    let mut mixes = Vec::new();
    for (name, targets) in read_mixes(&server.current, bundle_size)? {
        progress(&format!(
            "reads of {name}: {} s against urna serve",
            args.read_seconds
        ));
        let serve = read_run(
            &runtime,
            addr,
            &targets,
            &server.current,
            args.connections,
            read_for,
            &server.pid(),
        )?;
        problems.extend(serve.problems(&format!("urna serve, {name}")));
        let nginx_stats = match &nginx {
            None => None,
            Some(nginx) => {
                progress(&format!(
                    "reads of {name}: {} s against {} on http://{}",
                    args.read_seconds, nginx.version, nginx.addr
                ));
                let stats = read_run(
                    &runtime,
                    nginx.addr,
                    &targets,
                    &server.current,
                    args.connections,
                    read_for,
                    &nginx.pid_with_workers(),
                )?;
                problems.extend(stats.problems(&format!("nginx, {name}")));
                Some(stats)
            }
        };
        mixes.push(MixResult {
            name,
            targets,
            serve,
            nginx: nginx_stats,
        });
    }
    let nginx_version = nginx.as_ref().map(|n| n.version.clone());
    drop(nginx);

    // Stop the server as an operator would.
    let (stop_status, stop_line) = server.stop()?;
    if !stop_status.success() {
        problems.push(format!("urna serve exited with {stop_status} on SIGTERM"));
    }

    let report = json!({
        "command": command,
        "machine": { "cores": cores, "load_generator_threads": 1,
                     "server_http_threads": args.server_threads },
        "stations": n,
        "connections": args.connections,
        "prepare_seconds": prepare_s,
        "note_bytes_mean": note_bytes / notes.len().max(1),
        "intake": {
            "notes": notes.len(),
            "wall_seconds": wall_s,
            "per_second": rate,
            "target_per_second": TARGET_INTAKE_RATE,
            "ratio_to_bulk_ingest": rate / bulk_rate,
            "latency_ms": { "p50": p50, "p99": p99, "max": max },
            "answers": {
                "201": intake.created,
                "quarantined": intake.quarantined,
                "200": intake.duplicates,
                "4xx": intake.client_errors,
                "5xx_other": intake.server_errors,
                "503_retried": intake.overloaded,
            },
            "reconnects": intake.reconnects,
            "cpu_seconds": { "urna_serve": serve_cpu_intake, "load_generator": client_cpu_intake },
            "receipts": { "sampled": intake.samples.len(), "verified": verified,
                          "sample_every": sample_every },
        },
        "reference_bulk_ingest": {
            "wall_seconds": bulk_s,
            "per_second": bulk_rate,
            "cpu_seconds": bulk_cpu,
            "report": bulk_report,
        },
        "publish": { "bundle_size": bundle_size, "seconds_after_last_receipt": publish_lag_s },
        "generation": {
            "files": generation.files,
            "bytes": generation.bytes,
            "gz_files": generation.gz_files,
            "gz_bytes": generation.gz_bytes,
        },
        "reads": {
            "seconds_per_run": args.read_seconds,
            "nginx_version": nginx_version,
            "target_ratio": TARGET_READ_RATIO,
            "mixes": mixes.iter().map(MixResult::to_json).collect::<Vec<_>>(),
        },
        "serve_exit": stop_status.to_string(),
        "problems": problems,
    });
    if args.json {
        out!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let met = |ok: bool| if ok { "met" } else { "NOT met" };
        out!(
            "urna bench serve: {n} stations, {} keep-alive connections from 1 client thread, {cores} cores shared by client, server and nginx (not pinned); server HTTP threads: {}",
            args.connections,
            args.server_threads
                .map_or_else(|| "one per core".to_owned(), |t| t.to_string())
        );
        out!("command:   {command}");
        out!(
            "prepare:   generated and signed {} protocols ({} bytes on average) in {prepare_s:.1} s (not part of the figures below)",
            notes.len(),
            note_bytes / notes.len().max(1)
        );
        out!(
            "reference: urna ingest of the same notes into a fresh data directory: {bulk_s:.2} s as a whole process = {bulk_rate:.0} notes/s{}",
            bulk_cpu.map_or_else(String::new, |c| format!(" ({c:.1} CPU-s)"))
        );
        if !bulk_report.is_empty() {
            out!("           {bulk_report}");
        }
        out!(
            "intake:    {} POST /v1/protocols in {wall_s:.2} s = {rate:.0} submissions/s = {:.2}× bulk ingest; target ≥ {TARGET_INTAKE_RATE:.0}/s {}",
            notes.len(),
            rate / bulk_rate,
            met(rate >= TARGET_INTAKE_RATE)
        );
        out!("latency:   first send to receipt p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms");
        out!(
            "answers:   201 ×{} ({} quarantined), 200 duplicate ×{}, 4xx ×{}, other 5xx ×{}; 503 overloaded ×{} (each waited out and sent again); reconnects {}",
            intake.created,
            intake.quarantined,
            intake.duplicates,
            intake.client_errors,
            intake.server_errors,
            intake.overloaded,
            intake.reconnects
        );
        out!(
            "cpu:       during intake urna serve {}, load generator {}",
            cores_used(serve_cpu_intake, wall_s),
            cores_used(client_cpu_intake, wall_s)
        );
        out!(
            "receipts:  {verified} of {} sampled (every {sample_every}th note) verified: log-key signature, index, SHA-256 of the note sent",
            intake.samples.len()
        );
        out!(
            "publish:   the bundle covered all {bundle_size} entries {publish_lag_s:.2} s after the last receipt"
        );
        out!(
            "bundle:    the live generation holds {} files, {:.1} MB, of which {} precompressed .gz copies, {:.1} MB ({:.0} %); tiles and blobs not counted",
            generation.files,
            generation.bytes as f64 / 1e6,
            generation.gz_files,
            generation.gz_bytes as f64 / 1e6,
            100.0 * generation.gz_bytes as f64 / (generation.bytes.max(1)) as f64
        );
        for m in &mixes {
            out!(
                "read mix:  {}: {} files, {:.1} KB on average, requested round-robin by every connection: {}",
                m.name,
                m.targets.len(),
                m.mean_kb(),
                describe_mix(&m.targets)
            );
            out!("reads:     urna serve  {}", m.serve.line());
            match (&m.nginx, &nginx_version) {
                (Some(r), Some(version)) => {
                    out!("reads:     {version:<11} {}", r.line());
                    let ratio = m.serve.rate() / r.rate();
                    out!(
                        "reads:     {}: urna serve / nginx = {ratio:.2}; target ≥ {TARGET_READ_RATIO} {}",
                        m.name,
                        met(ratio >= TARGET_READ_RATIO)
                    );
                }
                _ => out!(
                    "reads:     nginx not found: install it (apt-get install nginx) to compare"
                ),
            }
        }
        out!("stop:      urna serve on SIGTERM: {stop_status}; {stop_line}");
        for p in &problems {
            out!("PROBLEM:   {p}");
        }
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Files and bytes of a generation directory, symbolic links (`tile`, `blob`) not followed.
#[derive(Default)]
struct GenerationBytes {
    files: u64,
    bytes: u64,
    gz_files: u64,
    gz_bytes: u64,
}

fn generation_bytes(dir: &Path) -> io::Result<GenerationBytes> {
    let mut sum = GenerationBytes::default();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let meta = std::fs::symlink_metadata(entry.path())?;
            if meta.is_dir() {
                todo.push(entry.path());
            } else if meta.is_file() {
                sum.files += 1;
                sum.bytes += meta.len();
                if entry.file_name().to_string_lossy().ends_with(".gz") {
                    sum.gz_files += 1;
                    sum.gz_bytes += meta.len();
                }
            }
        }
    }
    Ok(sum)
}

/// A progress line on stderr (stdout holds the figures, or the JSON).
fn progress(line: &str) {
    eprintln!("bench serve: {line}");
}

fn path_arg(p: &Path) -> Result<&str> {
    p.to_str()
        .with_context(|| format!("{} is not valid UTF-8", p.display()))
}

/// Runs `urna ARGS…` to completion and returns its stdout.
fn run_urna(exe: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running urna {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "urna {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The value at quantile `q` of sorted values.
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn delta(after: Option<f64>, before: Option<f64>) -> Option<f64> {
    Some(after? - before?)
}

fn cores_used(cpu: Option<f64>, wall_s: f64) -> String {
    cpu.map_or_else(
        || "unknown".to_owned(),
        |c| format!("{c:.1} CPU-s = {:.2} cores", c / wall_s),
    )
}

/// CPU time (user + system) of a process in seconds from `/proc/<pid>/stat`, or with
/// `children` the time of its waited-for children. Assumes Linux's 100 ticks per second.
fn cpu_seconds(pid: &str, children: bool) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let (u, s) = if children { (13, 14) } else { (11, 12) };
    let ticks: u64 = fields.get(u)?.parse::<u64>().ok()? + fields.get(s)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Checks one intake answer: a receipt signed by the log key, for this note at this index.
fn check_receipt(verifier: &NoteVerifier, note: &[u8], body: &[u8]) -> Result<()> {
    let v: Value = serde_json::from_slice(body).context("the answer is not JSON")?;
    let text = v["receipt"].as_str().context("no receipt in the answer")?;
    let receipt_note = Note::parse(text.as_bytes()).context("the receipt is not a signed note")?;
    verifier
        .verify(&receipt_note)
        .map_err(|e| anyhow!("the receipt's signature does not verify with the log key: {e}"))?;
    let receipt = Receipt::parse(receipt_note.text()).context("the receipt's body")?;
    if receipt.log != verifier.name() {
        bail!(
            "the receipt is of log {:?}, not {:?}",
            receipt.log,
            verifier.name()
        );
    }
    let hash = sha256(note);
    if receipt.entry != hash {
        bail!("the receipt names another entry than the note sent");
    }
    if v["entry"].as_str() != Some(format!("sha256:{}", hex(&hash)).as_str()) {
        bail!("the answer's entry is not the SHA-256 of the note sent");
    }
    if v["index"].as_u64() != Some(receipt.index) {
        bail!(
            "the answer's index {} differs from the receipt's {}",
            v["index"],
            receipt.index
        );
    }
    if !matches!(v["status"].as_str(), Some("accepted" | "quarantined")) {
        bail!("status {} for a new note", v["status"]);
    }
    Ok(())
}

/// A running `urna serve`; stopped with SIGTERM (then SIGKILL) when dropped.
struct ServeProcess {
    child: Proc,
    addr: SocketAddr,
    current: PathBuf,
    log: PathBuf,
}

impl ServeProcess {
    fn start(exe: &Path, dir: &Path, data: &Path, threads: Option<usize>) -> Result<Self> {
        let log = dir.join("serve.log");
        let mut cmd = Command::new(exe);
        cmd.args([
            "serve",
            "--data",
            path_arg(data)?,
            "--listen",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?,
        );
        if let Some(t) = threads {
            cmd.env("TOKIO_WORKER_THREADS", t.to_string());
        }
        let mut child = Proc(cmd.spawn().context("starting urna serve")?);
        let stdout = child.0.stdout.take().context("urna serve's stdout")?;
        let mut lines = BufReader::new(stdout);
        let (mut addr, mut current) = (None, None);
        while addr.is_none() || current.is_none() {
            let mut line = String::new();
            if lines.read_line(&mut line)? == 0 {
                let _ = child.0.wait();
                bail!(
                    "urna serve exited before listening: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            let line = line.trim();
            if let Some(u) = line.strip_prefix("urna serve: listening on http://") {
                addr = Some(
                    u.parse::<SocketAddr>()
                        .with_context(|| format!("urna serve's address {u:?}"))?,
                );
            } else if let Some(b) = line.strip_prefix("urna serve: public bundle in ") {
                current = Some(PathBuf::from(b));
            }
        }
        // Keep reading, so the server never blocks on a full pipe.
        std::thread::spawn(move || io::copy(&mut lines, &mut io::sink()));
        Ok(Self {
            child,
            addr: addr.context("no address")?,
            current: current.context("no bundle")?,
            log,
        })
    }

    fn pid(&self) -> String {
        self.child.0.id().to_string()
    }

    /// SIGTERM, then waits for the exit; returns the status and the server's last line.
    fn stop(mut self) -> Result<(ExitStatus, String)> {
        let status = self.child.terminate(Duration::from_secs(300))?;
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let last = log
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("(nothing on stderr)")
            .to_owned();
        Ok((status, last))
    }
}

/// A child process that is sent SIGTERM (then SIGKILL) when dropped, so that nginx's master
/// takes its workers with it.
struct Proc(Child);

impl Proc {
    /// SIGTERM, waits up to `grace`, then SIGKILL.
    fn terminate(&mut self, grace: Duration) -> Result<ExitStatus> {
        if let Some(status) = self.0.try_wait()? {
            return Ok(status);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let t = Instant::now();
        while t.elapsed() < grace {
            if let Some(status) = self.0.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        Ok(self.0.wait()?)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.terminate(Duration::from_secs(10));
    }
}

/// nginx serving a bundle's `current` directory from its own prefix directory.
struct Nginx {
    child: Proc,
    addr: SocketAddr,
    version: String,
}

impl Nginx {
    fn start(bin: &Path, prefix: &Path, current: &Path) -> Result<Self> {
        std::fs::create_dir_all(prefix)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let conf = prefix.join("nginx.conf");
        std::fs::write(&conf, nginx_config(prefix, current, port))?;
        let error_log = prefix.join("error.log");
        let version = Command::new(bin)
            .arg("-v")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
            .and_then(|v| v.strip_prefix("nginx version: ").map(str::to_owned))
            .unwrap_or_else(|| "nginx".to_owned());
        let child = Command::new(bin)
            .arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(&error_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(prefix.join("stderr.log"))?)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut child = Proc(child);
        let t = Instant::now();
        loop {
            if let Some(status) = child.0.try_wait()? {
                bail!(
                    "nginx exited ({status}) before listening: {}{}",
                    std::fs::read_to_string(prefix.join("stderr.log")).unwrap_or_default(),
                    std::fs::read_to_string(&error_log).unwrap_or_default()
                );
            }
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if t.elapsed() > Duration::from_secs(20) {
                bail!("nginx did not listen on {addr} within 20 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self {
            child,
            addr,
            version,
        })
    }

    /// The master's pid and its workers', for CPU accounting.
    fn pid_with_workers(&self) -> String {
        let pid = self.child.0.id();
        let workers =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        std::iter::once(pid.to_string())
            .chain(workers.split_whitespace().map(str::to_owned))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `nginx` on PATH, or where Debian puts it.
fn find_nginx() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("nginx"))
            .find(|c| c.is_file())
    });
    on_path.or_else(|| {
        ["/usr/sbin/nginx", "/usr/local/sbin/nginx"]
            .iter()
            .map(PathBuf::from)
            .find(|c| c.is_file())
    })
}

/// A path quoted for nginx's configuration language.
fn nginx_quote(p: &Path) -> String {
    let s = p.to_string_lossy();
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A self-contained nginx configuration serving `root` on `127.0.0.1:port`, every file it
/// writes inside `prefix`.
fn nginx_config(prefix: &Path, root: &Path, port: u16) -> String {
    use std::os::unix::fs::MetadataExt as _;
    let q = |name: &str| nginx_quote(&prefix.join(name));
    // Run as root (CI), nginx would start its workers as `nobody`, who cannot read a
    // private temporary directory; keep them as the invoking user.
    let root_user = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let mut c = String::new();
    let _ = write!(
        c,
        "# nginx serving the same bundle directory as urna serve, for comparison.\n\
         daemon off;\n\
         master_process on;\n\
         worker_processes auto;\n\
         {user}\
         pid {pid};\n\
         error_log {error_log} warn;\n\
         events {{\n    worker_connections 4096;\n}}\n\
         http {{\n\
         \x20   access_log off;\n\
         \x20   sendfile on;\n\
         \x20   tcp_nopush on;\n\
         \x20   tcp_nodelay on;\n\
         \x20   keepalive_requests 100000;\n\
         \x20   keepalive_timeout 75s;\n\
         \x20   gzip_static on;\n\
         \x20   gzip_vary on;\n\
         \x20   types {{\n        application/json json;\n        text/csv csv;\n        text/html html;\n        text/javascript js;\n        text/css css;\n        application/gzip gz;\n    }}\n\
         \x20   default_type text/plain;\n\
         \x20   client_body_temp_path {cb};\n\
         \x20   proxy_temp_path {pt};\n\
         \x20   fastcgi_temp_path {ft};\n\
         \x20   uwsgi_temp_path {ut};\n\
         \x20   scgi_temp_path {st};\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port};\n\
         \x20       root {root};\n\
         \x20       index index.html;\n\
         \x20   }}\n\
         }}\n",
        user = if root_user { "user root root;\n" } else { "" },
        pid = q("nginx.pid"),
        error_log = q("error.log"),
        cb = q("client_body_temp"),
        pt = q("proxy_temp"),
        ft = q("fastcgi_temp"),
        ut = q("uwsgi_temp"),
        st = q("scgi_temp"),
        root = nginx_quote(root),
    );
    c
}

// ---------------------------------------------------------------------------------------
// The load generator: a small HTTP/1.1 client on a current-thread runtime.

/// One response.
struct Resp {
    status: u16,
    retry_after: Option<u64>,
    close: bool,
    /// The body, when asked to keep it.
    body: Vec<u8>,
    body_len: u64,
}

/// A keep-alive HTTP/1.1 connection with its read buffer.
struct Conn {
    addr: SocketAddr,
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

impl Conn {
    async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            addr,
            stream,
            buf: vec![0; 64 << 10],
            start: 0,
            end: 0,
        })
    }

    /// A new connection to the same address (a few tries).
    async fn reconnect(&mut self) -> io::Result<()> {
        let mut last = io::Error::other("no attempt");
        for k in 1..=5u64 {
            match Self::connect(self.addr).await {
                Ok(c) => {
                    *self = c;
                    return Ok(());
                }
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100 * k)).await;
        }
        Err(last)
    }

    /// Sends one request and reads its response.
    async fn exchange(&mut self, request: &[u8], keep_body: bool) -> io::Result<Resp> {
        if self.start != self.end {
            return Err(invalid("bytes after the previous response"));
        }
        let mut rest = request;
        while !rest.is_empty() {
            self.stream.writable().await?;
            match self.stream.try_write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        self.read_response(keep_body).await
    }

    /// Reads more bytes into the buffer (making room first).
    async fn fill(&mut self) -> io::Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < MAX_BODY + MAX_HEAD {
                let grown = (self.buf.len() * 2).min(MAX_BODY + MAX_HEAD);
                self.buf.resize(grown, 0);
            } else {
                return Err(invalid("response too large"));
            }
        }
        loop {
            self.stream.readable().await?;
            match self.stream.try_read(&mut self.buf[self.end..]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }

    async fn read_response(&mut self, keep_body: bool) -> io::Result<Resp> {
        let head_end = loop {
            if let Some(p) = self.buf[self.start..self.end]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
            {
                break self.start + p + 4;
            }
            if self.end - self.start > MAX_HEAD {
                return Err(invalid("response head too long"));
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buf[self.start..head_end])
            .map_err(|_| invalid("response head is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid("no status line"))?;
        let (mut len, mut retry_after, mut close) = (None, None, false);
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                len = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| invalid("bad Content-Length"))?,
                );
            } else if name.eq_ignore_ascii_case("retry-after") {
                retry_after = value.parse().ok();
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(invalid("chunked responses are not supported"));
            }
        }
        self.start = head_end;
        let body_len = match len {
            Some(n) => n,
            None if status == 204 || status == 304 => 0,
            None => return Err(invalid("response without Content-Length")),
        };
        let mut body = Vec::new();
        if keep_body {
            let n = usize::try_from(body_len)
                .ok()
                .filter(|&n| n <= MAX_BODY)
                .ok_or_else(|| invalid("response body too large"))?;
            while self.end - self.start < n {
                self.fill().await?;
            }
            body = self.buf[self.start..self.start + n].to_vec();
            self.start += n;
        } else {
            let mut left = body_len;
            loop {
                let take = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(self.end - self.start);
                self.start += take;
                left -= take as u64;
                if left == 0 {
                    break;
                }
                self.fill().await?;
            }
        }
        Ok(Resp {
            status,
            retry_after,
            close,
            body,
            body_len,
        })
    }
}

/// What the intake run saw.
#[derive(Default)]
struct IntakeStats {
    wall: Duration,
    /// Microseconds from a note's first send to its final answer.
    latencies_us: Vec<u64>,
    created: u64,
    quarantined: u64,
    duplicates: u64,
    client_errors: u64,
    server_errors: u64,
    overloaded: u64,
    reconnects: u64,
    /// (note number, answer body) of the sampled notes.
    samples: Vec<(usize, Vec<u8>)>,
}

impl IntakeStats {
    fn merge(&mut self, o: Self) {
        self.latencies_us.extend(o.latencies_us);
        self.created += o.created;
        self.quarantined += o.quarantined;
        self.duplicates += o.duplicates;
        self.client_errors += o.client_errors;
        self.server_errors += o.server_errors;
        self.overloaded += o.overloaded;
        self.reconnects += o.reconnects;
        self.samples.extend(o.samples);
    }
}

/// Posts every note once over `connections` connections; each connection takes the next
/// note as soon as its previous one is answered.
async fn intake(
    addr: SocketAddr,
    notes: Arc<Vec<Vec<u8>>>,
    connections: usize,
    sample_every: usize,
) -> Result<IntakeStats> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(
            Conn::connect(addr)
                .await
                .with_context(|| format!("connecting to {addr}"))?,
        );
    }
    let start = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|conn| {
            tokio::spawn(intake_connection(
                conn,
                Arc::clone(&notes),
                Arc::clone(&next),
                sample_every,
            ))
        })
        .collect();
    let mut total = IntakeStats::default();
    for t in tasks {
        total.merge(t.await.context("a load-generator task failed")??);
    }
    total.wall = start.elapsed();
    Ok(total)
}

async fn intake_connection(
    mut conn: Conn,
    notes: Arc<Vec<Vec<u8>>>,
    next: Arc<AtomicUsize>,
    sample_every: usize,
) -> Result<IntakeStats> {
    let mut st = IntakeStats::default();
    let host = conn.addr.to_string();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(note) = notes.get(i) else {
            return Ok(st);
        };
        let mut request = format!(
            "POST /v1/protocols HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
            note.len()
        )
        .into_bytes();
        request.extend_from_slice(note);
        let first = Instant::now();
        let mut attempts = 0;
        let resp = loop {
            attempts += 1;
            if attempts > MAX_ATTEMPTS {
                bail!("note {i}: no answer after {MAX_ATTEMPTS} attempts");
            }
            match conn.exchange(&request, true).await {
                Ok(r) => {
                    if r.close {
                        conn.reconnect().await.context("reconnecting")?;
                    }
                    if r.status != 503 {
                        break r;
                    }
                    st.overloaded += 1;
                    let wait = r.retry_after.unwrap_or(1).min(30);
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                }
                Err(_) => {
                    // The server closed the connection or it broke before an answer; nothing
                    // was acknowledged, so send again (a stored note comes back as 200).
                    st.reconnects += 1;
                    conn.reconnect().await.context("reconnecting")?;
                }
            }
        };
        st.latencies_us
            .push(u64::try_from(first.elapsed().as_micros()).unwrap_or(u64::MAX));
        match resp.status {
            201 => {
                st.created += 1;
                if resp
                    .body
                    .get(..40)
                    .is_some_and(|b| b.windows(13).any(|w| w == b"\"quarantined\""))
                {
                    st.quarantined += 1;
                }
            }
            200 => st.duplicates += 1,
            400..=499 => st.client_errors += 1,
            _ => st.server_errors += 1,
        }
        if i.is_multiple_of(sample_every) {
            st.samples.push((i, resp.body));
        }
    }
}

/// Polls `/healthz` until the bundle covers `size` entries; returns the size it covers.
async fn wait_bundle(addr: SocketAddr, size: u64, server: &mut ServeProcess) -> Result<u64> {
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
    let mut conn = Conn::connect(addr).await?;
    let t = Instant::now();
    loop {
        if let Some(status) = server.child.0.try_wait()? {
            bail!(
                "urna serve exited ({status}): {}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
        }
        let Ok(r) = conn.exchange(&request, true).await else {
            conn.reconnect().await?;
            continue;
        };
        if r.close {
            conn.reconnect().await?;
        }
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let covered = v["bundle_size"].as_u64().unwrap_or(0);
        if r.status == 200 && covered >= size {
            return Ok(covered);
        }
        if t.elapsed() > BUNDLE_WAIT {
            bail!(
                "the bundle covers {covered} of {size} entries after {} s",
                BUNDLE_WAIT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One file of the read mix.
struct ReadTarget {
    /// Path relative to `current`.
    rel: String,
    /// URL path.
    url: String,
    /// The request says `Accept-Encoding: gzip`.
    gzip: bool,
    /// The file whose bytes the answer must carry, relative to `current`: `rel`, or its
    /// precompressed copy `rel.gz` when the request accepts gzip and the bundle has one.
    body_rel: String,
    /// Length of the answer's body.
    len: u64,
}

/// The read mixes, both spread over the election and the log, each asked for twice: as they
/// are, and with `Accept-Encoding: gzip` (the bundle's precompressed `.gz` copies, which
/// `urna serve` and nginx's `gzip_static` both send; neither compresses per request):
/// - small files, what verifiers, monitors and result pages fetch most: the checkpoint
///   (twice), up to 8 unit files, up to 8 full level-0 hash tiles, up to 2 tiles of higher
///   levels and up to 4 entry tiles;
/// - whole-election documents, which grow with the election: `v1/results.json`,
///   `v1/quarantine.json`, `v1/election.json` and `csv/units.csv`.
fn read_mixes(current: &Path, size: u64) -> Result<Vec<(&'static str, Vec<ReadTarget>)>> {
    let mut small: Vec<String> = vec!["checkpoint".to_owned(), "checkpoint".to_owned()];
    let units_dir = current.join("v1/units");
    let mut units: Vec<String> = std::fs::read_dir(&units_dir)
        .with_context(|| format!("listing {}", units_dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    units.sort();
    small.extend(
        spread(&units, 8)
            .into_iter()
            .map(|u| format!("v1/units/{u}")),
    );
    let tiles = tiles_for_size(TreeSize(size));
    let paths = |keep: &dyn Fn(TileKind) -> bool| -> Vec<String> {
        tiles
            .iter()
            .filter(|t| keep(t.kind()))
            .map(urna_tlog::Tile::path)
            .collect()
    };
    small.extend(spread(&paths(&|k| k == TileKind::Hash(0)), 8));
    small.extend(spread(
        &paths(&|k| matches!(k, TileKind::Hash(l) if l > 0)),
        2,
    ));
    small.extend(spread(&paths(&|k| k == TileKind::Entries), 4));
    let documents: Vec<String> = [
        "v1/results.json",
        "v1/quarantine.json",
        "v1/election.json",
        "csv/units.csv",
    ]
    .map(str::to_owned)
    .to_vec();
    let targets = |rels: &[String], gzip: bool| -> Result<Vec<ReadTarget>> {
        rels.iter()
            .map(|rel| {
                let gz = format!("{rel}.gz");
                let body_rel = if gzip && current.join(&gz).is_file() {
                    gz
                } else {
                    rel.clone()
                };
                let meta = std::fs::metadata(current.join(&body_rel))
                    .with_context(|| format!("the bundle has no {body_rel}"))?;
                Ok(ReadTarget {
                    url: url_path(rel),
                    gzip,
                    len: meta.len(),
                    body_rel,
                    rel: rel.clone(),
                })
            })
            .collect()
    };
    Ok(vec![
        ("small files", targets(&small, false)?),
        ("election documents", targets(&documents, false)?),
        ("small files, gzip accepted", targets(&small, true)?),
        (
            "election documents, gzip accepted",
            targets(&documents, true)?,
        ),
    ])
}

/// One read mix and what both servers did with it.
struct MixResult {
    name: &'static str,
    targets: Vec<ReadTarget>,
    serve: ReadStats,
    nginx: Option<ReadStats>,
}

impl MixResult {
    fn mean_kb(&self) -> f64 {
        let bytes: u64 = self.targets.iter().map(|t| t.len).sum();
        bytes as f64 / self.targets.len().max(1) as f64 / 1000.0
    }

    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "files": self.targets.iter().map(|t| json!({"path": t.url, "bytes": t.len})).collect::<Vec<_>>(),
            "urna_serve": self.serve.to_json(),
            "nginx": self.nginx.as_ref().map(ReadStats::to_json),
            "ratio_serve_to_nginx": self.nginx.as_ref().map(|r| self.serve.rate() / r.rate()),
        })
    }
}

/// Up to `k` items spread evenly over `items`.
fn spread(items: &[String], k: usize) -> Vec<String> {
    if items.len() <= k {
        return items.to_vec();
    }
    (0..k).map(|i| items[i * items.len() / k].clone()).collect()
}

/// `/rel`, every byte but unreserved ones and `/` percent-encoded (a unit file name may hold
/// a literal `%`).
fn url_path(rel: &str) -> String {
    let mut s = String::with_capacity(rel.len() + 1);
    s.push('/');
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-' | b'~') {
            s.push(char::from(b));
        } else {
            let _ = write!(s, "%{b:02X}");
        }
    }
    s
}

fn describe_mix(mix: &[ReadTarget]) -> String {
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for t in mix {
        let kind = if t.rel.starts_with("v1/units/") {
            "unit files".to_owned()
        } else if t.rel.starts_with("tile/entries/") {
            "entry tiles".to_owned()
        } else if t.rel.starts_with("tile/0/") {
            "level-0 hash tiles".to_owned()
        } else if t.rel.starts_with("tile/") {
            "higher hash tiles".to_owned()
        } else {
            t.rel.clone()
        };
        let kind = if t.body_rel == t.rel {
            kind
        } else {
            format!("{kind} (.gz)")
        };
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((kind, 1)),
        }
    }
    kinds
        .iter()
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a read run saw.
#[derive(Default)]
struct ReadStats {
    wall: Duration,
    requests: u64,
    bytes: u64,
    latencies_us: Vec<u64>,
    /// Answers that were not `200` with the file's length.
    wrong: u64,
    first_wrong: Option<String>,
    reconnects: u64,
    cpu_seconds: Option<f64>,
    /// CPU time of the load generator (this process) in the timed run.
    client_cpu_seconds: Option<f64>,
}

impl ReadStats {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64()
    }

    fn merge(&mut self, o: Self) {
        self.requests += o.requests;
        self.bytes += o.bytes;
        self.latencies_us.extend(o.latencies_us);
        self.wrong += o.wrong;
        if self.first_wrong.is_none() {
            self.first_wrong = o.first_wrong;
        }
        self.reconnects += o.reconnects;
    }

    fn percentiles_ms(&self) -> (f64, f64) {
        let mut l = self.latencies_us.clone();
        l.sort_unstable();
        (
            percentile(&l, 0.50) as f64 / 1000.0,
            percentile(&l, 0.99) as f64 / 1000.0,
        )
    }

    fn line(&self) -> String {
        let (p50, p99) = self.percentiles_ms();
        let secs = self.wall.as_secs_f64();
        format!(
            "{:.0} requests/s, {:.0} MB/s; latency p50 {p50:.2} ms, p99 {p99:.2} ms ({} requests in {secs:.2} s; wrong answers {}, reconnects {}; server {}, load generator {})",
            self.rate(),
            self.bytes as f64 / secs / 1e6,
            self.requests,
            self.wrong,
            self.reconnects,
            cores_used(self.cpu_seconds, secs),
            cores_used(self.client_cpu_seconds, secs)
        )
    }

    fn to_json(&self) -> Value {
        let (p50, p99) = self.percentiles_ms();
        json!({
            "requests": self.requests,
            "seconds": self.wall.as_secs_f64(),
            "per_second": self.rate(),
            "bytes_per_second": self.bytes as f64 / self.wall.as_secs_f64(),
            "latency_ms": { "p50": p50, "p99": p99 },
            "wrong_answers": self.wrong,
            "reconnects": self.reconnects,
            "server_cpu_seconds": self.cpu_seconds,
            "load_generator_cpu_seconds": self.client_cpu_seconds,
        })
    }

    fn problems(&self, who: &str) -> Vec<String> {
        let mut p = Vec::new();
        if self.wrong > 0 {
            p.push(format!(
                "{who}: {} wrong answers while reading, the first: {}",
                self.wrong,
                self.first_wrong.as_deref().unwrap_or("?")
            ));
        }
        if self.requests == 0 {
            p.push(format!("{who}: no read was answered"));
        }
        p
    }
}

/// One warm-up pass over the mix (comparing every body with the file), then the timed run;
/// `pids` are the server's processes, comma-separated, for CPU accounting.
fn read_run(
    runtime: &tokio::runtime::Runtime,
    addr: SocketAddr,
    mix: &[ReadTarget],
    current: &Path,
    connections: usize,
    duration: Duration,
    pids: &str,
) -> Result<ReadStats> {
    let requests: Arc<Vec<(Vec<u8>, u64, String)>> = Arc::new(
        mix.iter()
            .map(|t| {
                (
                    format!(
                        "GET {} HTTP/1.1\r\nHost: {addr}\r\n{}\r\n",
                        t.url,
                        if t.gzip {
                            "Accept-Encoding: gzip\r\n"
                        } else {
                            ""
                        }
                    )
                    .into_bytes(),
                    t.len,
                    t.url.clone(),
                )
            })
            .collect(),
    );
    runtime.block_on(async {
        let mut conn = Conn::connect(addr).await?;
        for ((request, _, url), t) in requests.iter().zip(mix) {
            let r = conn.exchange(request, true).await?;
            let file = std::fs::read(current.join(&t.body_rel))?;
            if r.status != 200 || r.body != file {
                bail!(
                    "GET {url} on {addr}: status {} with {} bytes; the bundle file has {} bytes",
                    r.status,
                    r.body.len(),
                    file.len()
                );
            }
            if r.close {
                conn.reconnect().await?;
            }
        }
        Ok(())
    })?;
    let cpu = |pids: &str| -> Option<f64> {
        pids.split(',')
            .map(|p| cpu_seconds(p, false))
            .sum::<Option<f64>>()
    };
    let cpu_0 = cpu(pids);
    let client_0 = cpu_seconds("self", false);
    let mut stats = runtime.block_on(async {
        let mut conns = Vec::with_capacity(connections);
        for _ in 0..connections {
            conns.push(Conn::connect(addr).await?);
        }
        let start = Instant::now();
        let deadline = start + duration;
        let tasks: Vec<_> = conns
            .into_iter()
            .enumerate()
            .map(|(k, conn)| {
                tokio::spawn(read_connection(conn, Arc::clone(&requests), k, deadline))
            })
            .collect();
        let mut total = ReadStats::default();
        for t in tasks {
            total.merge(t.await.context("a load-generator task failed")??);
        }
        total.wall = start.elapsed();
        anyhow::Ok(total)
    })?;
    stats.cpu_seconds = delta(cpu(pids), cpu_0);
    stats.client_cpu_seconds = delta(cpu_seconds("self", false), client_0);
    Ok(stats)
}

async fn read_connection(
    mut conn: Conn,
    requests: Arc<Vec<(Vec<u8>, u64, String)>>,
    offset: usize,
    deadline: Instant,
) -> Result<ReadStats> {
    let mut st = ReadStats::default();
    let mut j = offset;
    while Instant::now() < deadline {
        let (request, len, url) = &requests[j % requests.len()];
        j += 1;
        let t = Instant::now();
        match conn.exchange(request, false).await {
            Ok(r) => {
                st.requests += 1;
                st.bytes += r.body_len;
                st.latencies_us
                    .push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                if r.status != 200 || r.body_len != *len {
                    st.wrong += 1;
                    st.first_wrong.get_or_insert_with(|| {
                        format!("GET {url}: status {} with {} bytes", r.status, r.body_len)
                    });
                }
                if r.close {
                    conn.reconnect().await?;
                }
            }
            Err(_) => {
                st.reconnects += 1;
                conn.reconnect().await?;
            }
        }
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_paths_encode_odd_bytes() {
        for (rel, url, why) in [
            ("checkpoint", "/checkpoint", "plain"),
            ("tile/0/x001/234.p/7", "/tile/0/x001/234.p/7", "tile path"),
            (
                "v1/units/AL%2F01.json",
                "/v1/units/AL%252F01.json",
                "literal %",
            ),
            ("a b", "/a%20b", "space"),
        ] {
            assert_eq!(url_path(rel), url, "{why}");
        }
    }

    #[test]
    fn percentiles_of_sorted_values() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 51);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn spread_picks_evenly() {
        let items: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        assert_eq!(spread(&items, 3), ["0", "3", "6"]);
        assert_eq!(spread(&items[..2], 3), ["0", "1"]);
    }

    #[test]
    fn nginx_config_keeps_everything_in_its_prefix() {
        let c = nginx_config(
            Path::new("/w/nginx"),
            Path::new("/w/data/public/current"),
            8123,
        );
        assert!(c.contains("listen 127.0.0.1:8123;"));
        assert!(c.contains("root \"/w/data/public/current\";"));
        assert!(c.contains("pid \"/w/nginx/nginx.pid\";"));
        assert!(c.contains("client_body_temp_path \"/w/nginx/client_body_temp\";"));
        assert!(c.contains("keepalive_requests 100000;"));
    }
}
