//! `urna bench all`: every step of the chain at one size, each measured against the reference
//! its own benchmark measures in the same run, in one table. Each step runs as a child process
//! of this binary (`urna sim`, `urna bench ingest`, `urna init` + `urna ingest`, `urna publish`,
//! `urna bench verify`, `urna bench serve --json`), so its figures are the ones an operator
//! gets from the same command, and its peak memory is its own. `urna sim`'s reference is
//! measured here: deriving the stations' keys and signing their protocols, nothing else.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;
use urna_model::note::NoteSigner;
use urna_sim::{SimConfig, Simulation};

/// `urna bench all` options.
#[derive(clap::Args)]
pub(crate) struct BenchAllArgs {
    /// Stations of the simulated election every step runs on.
    #[arg(long, default_value_t = 100_000)]
    stations: u32,
    /// Seconds each read mix of `urna bench serve` runs against urna serve and nginx.
    #[arg(long, default_value_t = 3.0)]
    read_seconds: f64,
    /// Work directory (kept); a temporary one otherwise.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// What one child process did.
struct Run {
    stdout: String,
    /// What it said on stderr (`urna ingest` reports its counts there).
    stderr: String,
    seconds: f64,
    /// Peak resident memory (`VmHWM`, read every 50 ms while it ran), in bytes.
    peak_rss: Option<u64>,
}

/// Runs this binary with `args`, failing with its stderr if it fails.
fn urna(args: &[&str]) -> Result<Run> {
    let exe = std::env::current_exe().context("the path of this binary")?;
    let started = Instant::now();
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("urna {}", args.join(" ")))?;
    let pid = child.id();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out = std::thread::spawn(move || read_all(stdout));
    let err = std::thread::spawn(move || read_all(stderr));
    let mut peak = None;
    let status = loop {
        if let Some(hwm) = vm_hwm(pid) {
            peak = Some(hwm);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let seconds = started.elapsed().as_secs_f64();
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if !status.success() {
        bail!(
            "urna {} exited with {status}:\n{stdout}\n{stderr}",
            args.join(" ")
        );
    }
    Ok(Run {
        stdout,
        stderr,
        seconds,
        peak_rss: peak,
    })
}

fn read_all(pipe: Option<impl std::io::Read>) -> String {
    let mut s = String::new();
    if let Some(mut p) = pipe {
        let _ = p.read_to_string(&mut s);
    }
    s
}

/// A process's peak resident memory so far, from `/proc/<pid>/status`.
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The number just before `suffix` on the first line starting with `prefix`, e.g. the `0.41`
/// of `ingest: … = 0.41× batch verify`.
fn figure_before(text: &str, prefix: &str, suffix: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with(prefix))?;
    let at = line.find(suffix)?;
    let head = &line[..at];
    let start = head
        .rfind(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or(0, |i| i + 1);
    head[start..].parse().ok()
}

/// Bytes of the files under `dir`, each inode once (generations hard-link what they share):
/// their apparent size (`du --apparent-size`) and the space allocated to them (`du`: a small
/// file takes a whole block); symbolic links are not followed.
fn tree_bytes(dir: &Path, seen: &mut HashSet<(u64, u64)>) -> Result<(u64, u64)> {
    let (mut apparent, mut allocated) = (0, 0);
    for entry in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let entry = entry?;
        let meta = std::fs::symlink_metadata(entry.path())?;
        if meta.is_dir() {
            let (a, b) = tree_bytes(&entry.path(), seen)?;
            apparent += a;
            allocated += b;
        } else if meta.is_file() && seen.insert((meta.dev(), meta.ino())) {
            apparent += meta.len();
            // st_blocks counts 512-byte units (POSIX), whatever the file system's block size.
            allocated += meta.blocks() * 512;
        }
    }
    Ok((apparent, allocated))
}

fn mb(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1e6)
}

pub(crate) fn run(args: &BenchAllArgs) -> Result<ExitCode> {
    let work = crate::bench::WorkDir::new(args.dir.as_deref())?;
    let dir = work.path();
    let n = args.stations.to_string();
    let src = dir.join("sim");
    let data = dir.join("data");
    let bundle = dir.join("bundle");
    for d in [&src, &data, &bundle] {
        if d.exists() {
            bail!("{} exists; give an empty --dir", d.display());
        }
    }
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    out!(
        "urna bench all: {} stations, {cores} cores, work dir {}",
        args.stations,
        dir.display()
    );
    let mut rows: Vec<[String; 4]> = Vec::new();

    let sim = urna(&["sim", "--out", &s(&src), "--stations", &n])?;
    let floor = signing_floor(args.stations)?;
    let sim_rate = f64::from(args.stations) / sim.seconds;
    rows.push([
        "urna sim".into(),
        format!(
            "{:.1} s = {:.2}×, peak RSS {}",
            sim.seconds,
            sim_rate / floor,
            rss(sim.peak_rss)
        ),
        format!("key derivation + signing alone, {floor:.0}/s"),
        "1M in ≤ 20 s".into(),
    ]);

    let ingest = urna(&["bench", "ingest", "--stations", &n])?;
    let ratio = figure_before(&ingest.stdout, "ingest:", "× batch verify")
        .context("no ingest ratio in `urna bench ingest`'s output")?;
    let strict = figure_before(
        &ingest.stdout,
        "ingest:",
        "× single verify with key decompression",
    )
    .context("no strict ratio in `urna bench ingest`'s output")?;
    rows.push([
        "intake (urna bench ingest)".into(),
        format!("{ratio:.2}× ({strict:.2}× one by one)"),
        "batch Ed25519 verify (one by one, keys decoded)".into(),
        "≥ 0.7×".into(),
    ]);

    urna(&[
        "init",
        "--definition",
        &s(&src.join("election.toml")),
        "--data",
        &s(&data),
    ])?;
    urna(&[
        "ingest",
        "--data",
        &s(&data),
        &s(&src.join("protocols.notes")),
    ])?;
    let publish = urna(&["publish", "--data", &s(&data), "--out", &s(&bundle)])?;
    let mut seen = HashSet::new();
    let (bundle_bytes, bundle_allocated) = tree_bytes(&bundle, &mut seen)?;
    let units = bundle.join("current/v1/units");
    let units_bytes = if units.exists() {
        tree_bytes(&units, &mut HashSet::new())?.0
    } else {
        0
    };
    rows.push([
        "urna publish".into(),
        format!(
            "{:.1} s, peak RSS {}; bundle {} ({} allocated; v1/units {})",
            publish.seconds,
            rss(publish.peak_rss),
            mb(bundle_bytes),
            mb(bundle_allocated),
            mb(units_bytes)
        ),
        "—".into(),
        "RSS ≤ 1.5 GB, bundle ≤ 1 GB at 1M".into(),
    ]);

    // The amendments (2 % of the stations, as `urna sim` makes them), then the next
    // generation: only what they changed is written, the rest is linked.
    let amended = urna(&[
        "ingest",
        "--data",
        &s(&data),
        &s(&src.join("amendments.notes")),
    ])?;
    let amendments = amended
        .stderr
        .lines()
        .find_map(|l| figure_before(l, "", " notes read"))
        .context("no note count in `urna ingest`'s output")?;
    let next = urna(&["publish", "--data", &s(&data), "--out", &s(&bundle)])?;
    let files = figure_before(&next.stdout, "wrote ", " files (")
        .context("no file count in `urna publish`'s output")?;
    let bytes = figure_before(&next.stdout, "wrote ", " bytes)")
        .context("no byte count in `urna publish`'s output")?;
    rows.push([
        "urna publish, next generation".into(),
        format!(
            "{:.1} s after {amendments:.0} amendments: wrote {files:.0} files, {}",
            next.seconds,
            mb(bytes as u64)
        ),
        "—".into(),
        "only what changed".into(),
    ]);

    let key = urna(&["log", "key", "--data", &s(&data)])?.stdout;
    let verify = urna(&[
        "bench",
        "verify",
        &s(&bundle.join("current")),
        "--log-key",
        key.trim(),
    ])?;
    let ratio = figure_before(&verify.stdout, "ratio:", " of the raw batch")
        .context("no ratio in `urna bench verify`'s output")?;
    let strict = figure_before(&verify.stdout, "ratio:", " of the strict one-by-one")
        .context("no strict ratio in `urna bench verify`'s output")?;
    rows.push([
        "urna verify (urna bench verify)".into(),
        format!(
            "{ratio:.2}× ({strict:.2}× one by one), peak RSS {}",
            rss(verify.peak_rss)
        ),
        "batch Ed25519 verify (one by one, keys decoded)".into(),
        "≥ 0.7×, RSS ≤ 1 GB at 1M".into(),
    ]);

    let serve = urna(&[
        "bench",
        "serve",
        "--stations",
        &n,
        "--read-seconds",
        &args.read_seconds.to_string(),
        "--json",
    ])?;
    let report: Value =
        serde_json::from_str(&serve.stdout).context("`urna bench serve --json`'s report")?;
    let intake = &report["intake"];
    rows.push([
        "HTTP intake (urna bench serve)".into(),
        format!(
            "{:.0}/s = {:.2}×, p99 {:.1} ms",
            intake["per_second"].as_f64().unwrap_or(0.0),
            intake["ratio_to_bulk_ingest"].as_f64().unwrap_or(0.0),
            intake["latency_ms"]["p99"].as_f64().unwrap_or(0.0)
        ),
        "bulk ingest".into(),
        "≥ 10,000/s, p99 ≤ 100 ms".into(),
    ]);
    for mix in report["reads"]["mixes"].as_array().into_iter().flatten() {
        let ratio = mix["ratio_serve_to_nginx"].as_f64();
        rows.push([
            format!("reads: {}", mix["name"].as_str().unwrap_or("?")),
            ratio.map_or_else(|| "nginx not found".into(), |r| format!("{r:.2}×")),
            "nginx, same bundle".into(),
            "≥ 0.9×".into(),
        ]);
    }

    let widths: Vec<usize> = (0..4)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let header = ["step", "figure", "reference (same run)", "target"];
    let line = |r: &[&str]| {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{c:<w$}", w = w.max(c.chars().count())))
            .collect();
        format!("| {} |", cells.join(" | "))
    };
    out!();
    out!("{}", line(&header));
    out!(
        "|{}|",
        widths
            .iter()
            .zip(header)
            .map(|(&w, h)| "-".repeat(w.max(h.chars().count()) + 2))
            .collect::<Vec<_>>()
            .join("|")
    );
    for r in &rows {
        out!("{}", line(&[&r[0], &r[1], &r[2], &r[3]]));
    }
    Ok(ExitCode::SUCCESS)
}

/// Stations a second that deriving each station's key and signing its protocol take alone on
/// every core, with nothing else a simulation does: the floor `urna sim` cannot beat with this
/// Ed25519 code (two fixed-base scalar multiplications and two point compressions a station).
/// Measured on up to 100,000 stations of the same simulation (the rate does not depend on how
/// many).
fn signing_floor(stations: u32) -> Result<f64> {
    let sim = Simulation::new(SimConfig {
        stations,
        ..SimConfig::default()
    });
    let text = sim.station(0).body.to_text();
    let n = stations.clamp(1, 100_000);
    let threads = std::thread::available_parallelism().map_or(2, |t| t.get() as u32);
    let started = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let text = &text;
                s.spawn(move || {
                    let mut signed = 0usize;
                    for i in (t..n).step_by(threads as usize) {
                        let mut seed = [0u8; 32];
                        seed[..4].copy_from_slice(&i.to_be_bytes());
                        let id = format!("PS-{:07}", i + 1);
                        let signer = NoteSigner::from_seed(&id, &seed)?;
                        signed += signer.sign_text(text).to_bytes().len();
                    }
                    Ok::<usize, anyhow::Error>(signed)
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a signing thread panicked"))??;
        }
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(f64::from(n) / started.elapsed().as_secs_f64())
}

fn rss(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "unknown".into(), mb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_read_from_the_benches_lines() {
        let ingest = "ingest:    1000 protocols in 0.50 s = 2000 protocols/s = 0.41× batch verify, 0.52× batch verify with key decompression, 0.60× single verify, 0.81× single verify with key decompression";
        assert_eq!(
            figure_before(ingest, "ingest:", "× batch verify"),
            Some(0.41)
        );
        assert_eq!(
            figure_before(ingest, "ingest:", "× single verify with key decompression"),
            Some(0.81)
        );
        let verify = "verify: 5 entries\nratio: 0.33 of the raw batch-verification rate (0.40 of the rate with key decompression, 0.77 of the strict one-by-one rate)";
        assert_eq!(
            figure_before(verify, "ratio:", " of the raw batch"),
            Some(0.33)
        );
        assert_eq!(
            figure_before(verify, "ratio:", " of the strict one-by-one"),
            Some(0.77)
        );
        assert_eq!(figure_before(verify, "nothing:", "x"), None);
        let publish = "published the checkpoint of 9 entries to b/gen/x (serve b/current)\nwrote 707 files (75078406 bytes), linked 1948 unchanged from the previous generation";
        assert_eq!(figure_before(publish, "wrote ", " files ("), Some(707.0));
        assert_eq!(
            figure_before(publish, "wrote ", " bytes)"),
            Some(75_078_406.0)
        );
        let ingest = "1000 notes read: 1000 accepted, 0 quarantined";
        assert_eq!(figure_before(ingest, "", " notes read"), Some(1000.0));
    }
}
